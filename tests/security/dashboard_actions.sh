# dashboard_actions: the job list's actions on --metrics-listen (POST
# /api/jobs/ID/retry and /cancel, docs/PROTOCOL.md 15) are taken only
# from a request signed with the shared key, once. A detached job of 2
# tasks of type flaky dies (--max-attempts 1, its worker stopped): GET
# /api/jobs lists it (running with a worker while leased; then done, 2
# failed, 2 dead letters). Then each of
# these is refused with 401 and a body that says why, and changes
# nothing (the letters stay, no job is added): no Authorization header,
# a malformed one, a key the server does not have, a flipped bit of the
# signature, a signature of another path (cancel sent as retry), a
# body the signature did not cover, a timestamp older than --clock-skew.
# A good request retries the letters as a new job (200, retried 2), which
# a working worker completes ("tasq results" prints alpha, beta); the
# same request sent again is refused as a replay (401) and adds nothing;
# auth_failures and auth_replays count the refusals. Cancel likewise: a
# signed cancel drops a job's queued tasks (state cancelled), unsigned
# or replayed it changes nothing, a done job answers 409; a task running
# on a worker stops (h-cancel's worker side) and its lease ends. Unknown
# actions and jobs are 404, GET of an action 405; the listener stays
# where it was bound.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 90
command -v curl >/dev/null || fail "curl is needed"

lease_ms=$((1000 * FACTOR))
start_server main --max-attempts 1 --lease "${lease_ms}ms" \
    --metrics-listen http://127.0.0.1:0
M=$METRICS_URL
mport=$MPORT
wait_until 10 curl -sf -o /dev/null "$M/healthz" ||
    fail "no /healthz at $M: $(tail -n 5 "$SERVER_LOG")"
W=("$PYTHON" "$HERE/webactions.py" "$M" "$KEY")

# jobs_py EXPR: evaluates EXPR over /api/jobs (j: the reply, job: our
# job's entry or None) and prints it; fails when GET fails.
jobs_py() {
	"${W[@]}" get /api/jobs | "$PYTHON" -c '
import json, sys
j = json.load(sys.stdin)
job = next((x for x in j["jobs"] if x["job"] == sys.argv[2]), None)
print(eval(sys.argv[1]))' "$1" "${JOB:-}"
}
stats_py() {
	"${W[@]}" get /api/stats | "$PYTHON" -c '
import json, sys
s = json.load(sys.stdin)
print(eval(sys.argv[1]))' "$1"
}

# Two tasks leased by a worker that then stops: their leases expire and,
# at their last attempt, they are dead-lettered; the job is done.
start_worker -j 1 --type flaky=exec-each:'sleep 60'
w=$SPAWNED_PID
JOB=$(client submit --detach --type flaky alpha beta 2>"$T/sub.err") ||
    fail "submit --detach: $(cat "$T/sub.err")"
[[ $JOB =~ ^[0-9a-f]{16}$ ]] || fail "submit --detach printed '$JOB'"
leased() {
	[ "$(stats_py 'sum(q["leased"] for q in s["queues"])')" = 2 ]
}
leased1() { [ "$(stats_py 'sum(q["leased"] for q in s["queues"])')" = 1 ]; }
leased0() { [ "$(stats_py 'sum(q["leased"] for q in s["queues"])')" = 0 ]; }
wait_until 20 leased || fail "the tasks were not leased"
# Its worker serves it: no_worker is false (the broker's clock, not the
# wall clock, says whether a worker is alive).
[ "$(jobs_py '(job["state"], job["no_worker"], job["workers"])')" = \
    "('running', False, 0)" ] || fail "/api/jobs while leased: $(jobs_py job)"
kill -STOP -- "-$w"
dead2() { [ "$(jobs_py 'job and (job["state"], job["dead"])')" = "('done', 2)" ]; }
wait_until 30 dead2 || fail "job $JOB did not die: $(jobs_py job)"
kill -KILL -- "-$w"
log "/api/jobs: $(jobs_py job)"
[ "$(jobs_py '(job["submitted"], job["completed"], job["failed"], job["queue"], job["type"], job["detached"])')" = \
    "(2, 2, 2, 'default', 'flaky', True)" ] ||
    fail "/api/jobs: our job is $(jobs_py job)"

R=/api/jobs/$JOB/retry
af0=$(stats_py 's["counters"]["auth_failures"]')
ar0=$(stats_py 's["counters"]["auth_replays"]')
# refuse NAME WANT-STATUS PATTERN ARGS...: a POST answered WANT-STATUS
# with a body matching PATTERN, after which nothing changed.
refuse() {
	local name=$1 want=$2 pat=$3 out
	shift 3
	out=$("${W[@]}" post "$@") || fail "$name: webactions.py failed"
	log "$name: $out"
	[ "${out%% *}" = "$want" ] || fail "$name: HTTP ${out%% *}, want $want: $out"
	grep -Eq -- "$pat" <<<"$out" || fail "$name: body does not match /$pat/: $out"
	[ "$(jobs_py '(j["total"], job["dead"])')" = "(1, 2)" ] ||
	    fail "$name changed something: $(jobs_py j)"
}
new_key "$T/other.key"
refuse no_auth 401 'no Authorization header' "$R" --no-auth
code=$(curl -s -o "$T/bad.out" -w '%{http_code}' -X POST \
    -H 'Authorization: Basic YWRtaW46YWRtaW4=' "$M$R")
[ "$code" = 401 ] && grep -q 'malformed Authorization' "$T/bad.out" ||
    fail "a Basic header: HTTP $code $(cat "$T/bad.out")"
log "malformed: $code $(cat "$T/bad.out")"
refuse wrong_key 401 'unknown key id' "$R" --key-of "$T/other.key"
refuse bad_sig 401 'bad signature' "$R" --tamper
refuse other_path 401 'bad signature' "$R" --sign-path "/api/jobs/$JOB/cancel"
refuse unsigned_body 401 'bad signature' "$R" --body x --sign-body ''
refuse stale 401 'clock|window|old' "$R" --skew-ms -400000
refuse future 401 'clock|window|old|future' "$R" --skew-ms 400000
af1=$(stats_py 's["counters"]["auth_failures"]')
ar1=$(stats_py 's["counters"]["auth_replays"]')
((af1 >= af0 + 6)) || fail "auth_failures $af0 -> $af1, want +6 at least"
((ar1 >= ar0 + 2)) || fail "auth_replays $ar0 -> $ar1, want +2 at least"
log "auth_failures $af0 -> $af1, auth_replays $ar0 -> $ar1"

# The good one, kept to be sent again.
out=$("${W[@]}" post "$R" --save "$T/good.json")
log "retry: $out"
[[ $out == "200 "* ]] || fail "a signed retry: $out"
NEW=$("$PYTHON" -c 'import json, sys; r = json.loads(sys.argv[1].split(" ", 1)[1])
assert r["retried"] == 2 and r["job"] == sys.argv[2], r
print(r["new_job"])' "$out" "$JOB") || fail "the retry's answer: $out"
[ "$(jobs_py 'job["dead"]')" = 0 ] || fail "letters left: $(jobs_py job)"
[ "$("${W[@]}" get /api/dead | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["total"])')" = 0 ] ||
    fail "/api/dead still has letters"
# Replayed as captured: refused, and nothing is submitted again.
out=$("${W[@]}" post "$R" --replay "$T/good.json")
log "replayed: $out"
[[ $out == "401 "* ]] || fail "a replayed retry: $out"
[ "$(jobs_py 'j["total"]')" = 2 ] || fail "jobs after the replay: $(jobs_py j)"
ar2=$(stats_py 's["counters"]["auth_replays"]')
((ar2 > ar1)) || fail "auth_replays did not count the replay ($ar1 -> $ar2)"
# Signed, but nothing to retry any more; and actions that do not exist.
refuse_nothing=$("${W[@]}" post "$R")
[[ $refuse_nothing == "404 "*"no dead letter"* ]] ||
    fail "a retry of a job without letters: $refuse_nothing"
out=$("${W[@]}" post "/api/jobs/$JOB/explode")
[[ $out == "404 "* ]] || fail "an unknown action: $out"
code=$(curl -s -o /dev/null -w '%{http_code}' "$M$R")
[ "$code" = 405 ] || fail "GET of an action: HTTP $code, want 405"

# The new job runs on a worker whose flaky handler works.
start_worker -j 1 --type flaky=exec-each:cat
client results --wait "$NEW" >"$T/results.out" 2>"$T/results.err" ||
    fail "results of $NEW: $(cat "$T/results.err")"
printf 'alpha\nbeta\n' | cmp -s - "$T/results.out" ||
    fail "results of the retried job: $(cat "$T/results.out")"
log "retried as job $NEW: $(tr '\n' ' ' <"$T/results.out")"

# Cancel, the same: a job of a type no worker serves, refused unsigned
# and replayed, cancelled once signed (its 3 queued tasks dropped, as the
# Cancel RPC does); a done job cannot be cancelled, an unknown one is 404.
JOB=$(client submit --detach --type nap n1 n2 n3 2>"$T/sub.err") ||
    fail "submit --detach: $(cat "$T/sub.err")"
C=/api/jobs/$JOB/cancel
out=$("${W[@]}" post "$C" --no-auth)
[[ $out == "401 "* ]] && [ "$(jobs_py 'job["state"]')" = running ] ||
    fail "an unsigned cancel: $out; $(jobs_py job)"
out=$("${W[@]}" post "$C" --save "$T/cancel.json")
log "cancel: $out"
[[ $out == "200 "*'"dropped":3,"running":0,"state":"cancelled"'* ]] ||
    fail "a signed cancel: $out"
[ "$(jobs_py '(job["state"], job["submitted"], job["completed"])')" = \
    "('cancelled', 3, 0)" ] || fail "/api/jobs after cancel: $(jobs_py job)"
out=$("${W[@]}" post "$C" --replay "$T/cancel.json")
[[ $out == "401 "*replayed* ]] || fail "a replayed cancel: $out"
out=$("${W[@]}" post "/api/jobs/$NEW/cancel")
[[ $out == "409 "*FAILED_PRECONDITION* ]] || fail "cancel of a done job: $out"
out=$("${W[@]}" post /api/jobs/00000000000000ff/cancel)
[[ $out == "404 "*NOT_FOUND* ]] || fail "cancel of no job: $out"

# A cancel that reaches running work: a task of type slow running on a
# worker (sleep 60) is told to stop; its lease ends within seconds, not
# a minute, and the worker takes other work.
start_worker -j 1 --type slow=exec-each:'sleep 60' --cancel-grace 1s
sw=$SPAWNED_PID
# sleeping: the handler's sleep runs in the worker's process group.
sleeping() { ps -o comm= -g "$sw" | grep >/dev/null -cx sleep; }
JOB=$(client submit --detach --type slow s1 2>"$T/sub.err") ||
    fail "submit --detach: $(cat "$T/sub.err")"
wait_until 20 leased1 || fail "the slow task was not leased"
wait_until 20 sleeping || fail "the slow task's handler did not start"
out=$("${W[@]}" post "/api/jobs/$JOB/cancel")
log "cancel of a running task: $out"
[[ $out == "200 "*'"dropped":0,"running":1,"state":"cancelled"'* ]] ||
    fail "a signed cancel of a running task: $out"
wait_until 15 leased0 || fail "the cancelled task still holds its lease"
awake() { ! sleeping; }
wait_until 15 awake || fail "the cancelled task's handler still runs"
log "the running task's handler stopped"

# Where the listener is bound: 127.0.0.1 only, as asked.
ss -Htln "sport = :$mport" 2>/dev/null | grep >/dev/null -c "127.0.0.1:$mport" ||
    ! command -v ss >/dev/null || fail "the metrics listener is not on 127.0.0.1"
for page in / /api/jobs /metrics; do
	curl -sf "$M$page" | grep >/dev/null -cF "$(cat "$KEY")" && fail "$page shows the key"
done
test_end
