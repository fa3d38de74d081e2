# no_worker: a job whose (queue, type) no connected worker serves says so
# on its client's stderr (FetchReply.no_worker, after --no-worker-warn),
# naming the queue and the type and how many workers are connected (none
# of them for it), and keeps waiting: with --timeout it
# gives up (exit 1); without, it completes once a worker for the type
# comes, with the right result.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 90

start_server
start_workers -j 1 # square only
assert_serving "start"

# With --timeout: the note, then exit 1.
client submit --type sha256 --no-worker-warn 200ms --timeout "$((3 * FACTOR))s" \
    abc >"$T/t.out" 2>"$T/t.err"
rc=$?
[ "$rc" = 1 ] || fail "no worker, --timeout: exit $rc, want 1: $(cat "$T/t.err")"
grep -q 'no worker serves queue default, type sha256 (1 worker connected, none for it); waiting' "$T/t.err" ||
    fail "no worker: stderr does not say so: $(cat "$T/t.err")"

# Without: it waits, and finishes once a worker serves the type.
spawn_client "$T/w.out" "$T/w.err" submit --type sha256 --queue q2 \
    --no-worker-warn 200ms abc
pclient=$SPAWNED_PID
said() { grep -q 'no worker serves queue q2, type sha256' "$T/w.err"; }
wait_until 20 said || fail "the waiting client did not say so: $(cat "$T/w.err")"
pid_alive "$pclient" || fail "the client did not keep waiting"
# tasq status says the same of the job.
client jobs >"$T/jobs.out" 2>&1 || fail "jobs: $(cat "$T/jobs.out")"
JOB=$(awk '$2 == "q2" { print $1 }' "$T/jobs.out")
[ -n "$JOB" ] || fail "the waiting job is not listed: $(cat "$T/jobs.out")"
client status "$JOB" >"$T/status.out" 2>&1
grep -q 'no connected worker serves queue q2, type sha256 (1 worker connected, none for it)' \
    "$T/status.out" || fail "status: $(cat "$T/status.out")"
client status --json "$JOB" | grep >/dev/null -c '"no_worker":true,"workers":1' ||
    fail "status --json: $(client status --json "$JOB")"
# tasq stats names the type that no worker serves, as text and as JSON.
client stats >"$T/stats.out" 2>&1 || fail "stats: $(cat "$T/stats.out")"
grep -qE '^q2 +sha256 +1 +0 +0  no worker serves it$' "$T/stats.out" ||
    fail "stats does not show q2/sha256 without a worker: $(cat "$T/stats.out")"
client stats --json >"$T/stats.json" 2>&1 || fail "stats --json failed"
python3 - "$T/stats.json" <<'PY' || fail "stats --json: no q2/sha256 row with 0 workers"
import json, sys
s = json.load(open(sys.argv[1]))
rows = [t for t in s["types"] if t["queue"] == "q2" and t["type"] == "sha256"]
sys.exit(0 if rows and rows[0]["workers"] == 0 and rows[0]["ready"] == 1 else 1)
PY
start_workers -j 1 --queue q2 --type sha256=builtin:sha256
wait_exit "$pclient" 30 || fail "the client did not finish once a worker came"
[ "$EXIT_STATUS" = 0 ] || fail "client exit $EXIT_STATUS: $(cat "$T/w.err")"
want=$(printf abc | sha256sum | cut -d' ' -f1)
[ "$(cat "$T/w.out")" = "$want" ] || fail "sha256 of abc: $(cat "$T/w.out")"
test_end
