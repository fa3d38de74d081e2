# lease_pipe_race: a lease must never outlive its connection. A woken
# long-poll checks that its connection is still open, then makes the
# lease; if the connection goes in between, its removal (which returns
# the connection's leases) can run before the lease exists, and the
# lease, tied to a closed connection, strands its tasks until --lease
# runs out. The server's test hook TASQ_TEST_UNPARK_DELAY_MS widens that
# window to a second, and the test closes the worker's connection in it
# (SIGKILL to the worker, waiting until the hook has logged): with
# --lease 60s, the tasks must be ready again at once (leased 0,
# leases_disconnected >= 1), and a new worker completes the job long
# before the lease would have run out.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 90
N=100
DELAY_MS=$((1000 * FACTOR))

# queue_json FIELD: a field of the default queue in tasq stats --json.
queue_json() {
	CLIENT_TIMEOUT=20 client stats --json 2>/dev/null | "$PYTHON" -c '
import json, sys
for q in json.load(sys.stdin)["queues"]:
    if q["name"] == "default":
        print(q[sys.argv[1]])
        sys.exit(0)
print(0)' "$1"
}
nworkers() {
	CLIENT_TIMEOUT=20 client stats --json 2>/dev/null | "$PYTHON" -c '
import json, sys; print(len(json.load(sys.stdin)["workers"]))'
}
has_worker() { [ "$(nworkers)" -ge 1 ]; }
returned() {
	[ "$(queue_json leased)" = 0 ] && [ "$(queue_json ready)" = "$N" ]
}

TASQ_TEST_UNPARK_DELAY_MS=$DELAY_MS start_server main --lease 60s
# One long-poll at a time, parked on the empty queue.
start_worker -j 1 --pipeline 1 --wait 30s
w1=$SPAWNED_PID
wait_until 20 has_worker || fail "the worker did not register"

client submit --range "1:$N" >"$T/job.out" 2>"$T/job.err" &
job=$!
wait_until 20 grep -q 'test hook: holding a woken call' "$SERVER_LOG" ||
    fail "the worker's long-poll was not woken"
# Its connection goes while the woken call is held.
_kill_group KILL "$w1"
wait_until 10 _gone "$w1" || fail "the worker did not die"
lost0=$(counter leases_disconnected)
log "worker killed in the window; leases_disconnected $lost0"

# The lease is made a second after the check, for a closed connection
# (tasks_leased counts it): it must be returned at once, not after
# --lease 60s.
made() { [ "$(counter tasks_leased)" -ge 1 ]; }
wait_until $((DELAY_MS / 1000 + 10)) made ||
    fail "the held call made no lease: $(tail -n 5 "$SERVER_LOG")"
wait_until 5 returned ||
    fail "the tasks are still leased (leased $(queue_json leased)," \
    "ready $(queue_json ready)) after the connection closed"
lost=$(counter leases_disconnected)
log "tasks ready again: leased 0, ready $N, leases_disconnected $lost"
((lost >= 1)) || fail "leases_disconnected $lost"

start_worker -j 1
wait_until 30 _gone "$job" || fail "the job did not finish in $((30 * FACTOR)) s"
wait "$job" || fail "the job failed: $(cat "$T/job.err")"
check_squares "$T/job.out" 1 "$N"
test_end
