# lease_extend: a worker slower than --lease keeps its tasks by extending
# its leases (the tasq worker's heartbeat sends Extend every lease/3):
# nothing expires, nothing is redelivered, every result comes once, on
# time. The worker is fresh, so its first beat must follow the lease
# length the server told it, not its own default.
#
# --task-delay makes each batch take 2.5 leases (5 tasks of half a lease
# each); both of the worker's pipelined leases are in hand at once.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
. "$(dirname "${BASH_SOURCE[0]}")/lib_e2e.sh" || exit 2
test_begin 60

lease_ms=$((2000 * FACTOR))
start_server --lease "${lease_ms}ms"
start_workers -j 1 --batch-size 5 --task-delay "$((lease_ms / 2))ms"
expect_exit "$SPAWNED_PID" 0

t0=$(now_ms)
client submit --range 1:10 >"$T/out" 2>"$T/client.log" ||
    fail "client failed: $(cat "$T/client.log")"
took=$(($(now_ms) - t0))
check_squares "$T/out" 1 10
log "10 tasks in $took ms with a lease of $lease_ms ms"
[ "$took" -ge $((2 * lease_ms)) ] ||
    fail "the job took $took ms: the tasks were not slower than the lease"
s=$(stats_json)
for c in leases_expired tasks_redelivered results_duplicate results_late \
    leases_disconnected; do
	[ "$(counter_json "$c" "$s")" = 0 ] ||
	    fail "$c is $(counter_json "$c" "$s"), want 0: a lease was not extended"
done
[ "$(counter_json tasks_leased "$s")" = 10 ] ||
    fail "tasks_leased $(counter_json tasks_leased "$s"), want 10 (no redelivery)"
[ "$(counter_json tasks_completed "$s")" = 10 ] || fail "tasks_completed != 10"

test_end
