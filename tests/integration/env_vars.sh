# env_vars: TASQ_SERVER and TASQ_KEY_FILE stand in for --server and
# --key-file (worker and client), TASQ_KEY for a key file, and a flag
# beats the environment; stats --json is valid JSON whose counters agree
# with the work done.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 60

n=$((20000 / SCALE))
start_server

# Nothing but the environment says where the server is and what the key is.
export TASQ_SERVER=$URL TASQ_KEY_FILE=$KEY
spawn worker-env.log "$TASQ_WORKER_BIN" -j 1
expect_exit "$SPAWNED_PID" 0
timeout 60 "$TASQ_CLIENT_BIN" health --quiet || fail "health via env failed"
timeout 120 "$TASQ_CLIENT_BIN" submit --range "1:$n" >"$T/out" \
    2>"$T/client.log" || fail "submit via env exited $?: $(cat "$T/client.log")"
check_squares "$T/out" 1 "$n"

timeout 60 "$TASQ_CLIENT_BIN" stats --json >"$T/stats.json" 2>"$T/stats.log" ||
    fail "stats --json failed: $(cat "$T/stats.log")"
if command -v python3 >/dev/null; then
	# json.load is the validation (what python3 -m json.tool does).
	python3 - "$T/stats.json" "$n" <<'PY' || fail "stats --json: bad JSON or content"
import json, sys
s = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
c = s["counters"]
assert c["tasks_submitted"] == n, c
assert c["tasks_completed"] == n, c
assert isinstance(s["version"], str) and s["version"], s
assert any(q["name"] == "default" for q in s["queues"]), s["queues"]
assert len(s["workers"]) >= 1 and all(w["connected"] for w in s["workers"]), s["workers"]
PY
else
	log "python3 missing: only a shallow JSON check"
	grep -q "\"tasks_completed\":${n}[,}]" "$T/stats.json" ||
	    fail "stats --json: no tasks_completed $n"
fi

# The key itself in TASQ_KEY (no file at all).
unset TASQ_KEY_FILE
TASQ_KEY=$(cat "$KEY") timeout 60 "$TASQ_CLIENT_BIN" submit 6 -7 \
    >"$T/key.out" 2>"$T/key.log" || fail "TASQ_KEY: exit $?: $(cat "$T/key.log")"
printf '6 36\n-7 49\n' | cmp -s - "$T/key.out" || fail "TASQ_KEY: $(cat "$T/key.out")"

# An empty key file (a unit's --key-file '', TASQ_KEY_FILE=) is none: the
# key is TASQ_KEY's, for the tool and for a worker (here the only one on
# queue q2, so that it must serve the job).
TASQ_KEY=$(cat "$KEY") TASQ_KEY_FILE= spawn worker-q2.log "$TASQ_WORKER_BIN" \
    --server "$URL" --key-file "" --queue q2
TASQ_KEY=$(cat "$KEY") TASQ_KEY_FILE= timeout 60 "$TASQ_CLIENT_BIN" \
    --key-file "" submit --queue q2 8 >"$T/ek.out" 2>"$T/ek.log" ||
    fail "an empty key file and TASQ_KEY: exit $?: $(cat "$T/ek.log") $(tail -3 "$T/worker-q2.log")"
printf '8 64\n' | cmp -s - "$T/ek.out" || fail "an empty key file: $(cat "$T/ek.out")"

# A flag beats the environment: a dead TASQ_SERVER, a good --server.
TASQ_SERVER=ipc://$T/nothing.sock TASQ_KEY_FILE=$KEY timeout 60 \
    "$TASQ_CLIENT_BIN" --server "$URL" health --quiet ||
    fail "--server did not override TASQ_SERVER"
# And the environment is really used: a dead TASQ_SERVER alone fails.
rc=0
TASQ_SERVER=ipc://$T/nothing.sock TASQ_KEY_FILE=$KEY timeout 60 \
    "$TASQ_CLIENT_BIN" --connect-timeout 1s health --quiet 2>/dev/null || rc=$?
[ "$rc" = 1 ] || fail "health against a dead TASQ_SERVER: exit $rc, want 1"

test_end
