# lease_expiry: with --lease 1s, a worker frozen (SIGSTOP) while holding
# tasks keeps its connection open, so only the lease running out can free
# its tasks: another worker gets them and every task completes exactly
# once. Thawed (SIGCONT), the frozen worker hands in its stale results:
# the server counts them (results_duplicate or results_late) and the
# client prints nothing twice.
#
# The client is frozen too, once it has submitted everything, so that the
# job stays open however slow the machine: stale results for a job its
# client has closed would count as rejected instead. Thawed last, it
# fetches every result, with requests that timed out while it slept.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 120

n=$((20000 / SCALE))
start_server --lease 1s

spawn_client "$T/out" "$T/client.log" submit --range "1:$n"
pclient=$SPAWNED_PID
wait_until 20 counter_ge tasks_submitted "$n" || fail "the client did not submit"
kill -STOP "$pclient"

start_workers -j 1 --task-delay 5ms --batch-size 100
frozen=$SPAWNED_PID
expect_exit "$frozen" 0
# It leases two batches at once (--pipeline 2) and hands in results with
# its next lease: from its first lease on it always holds tasks.
wait_until 20 counter_ge tasks_leased 100 || fail "worker A leased nothing"
log "SIGSTOP to worker A (group $frozen)"
kill -STOP -- "-$frozen"
held=$(($(counter tasks_leased) - $(counter tasks_completed)))
log "worker A holds $held tasks"
[ "$held" -gt 0 ] || fail "worker A holds no tasks"

start_workers -j 2
expect_exit "$SPAWNED_PID" 0
wait_until 30 counter_ge tasks_completed "$n" ||
    fail "only $(counter tasks_completed) of $n tasks completed without worker A"
expired=$(counter leases_expired)
[ "${expired:-0}" -gt 0 ] || fail "leases_expired is ${expired:-?}, want > 0"
[ "$(counter leases_disconnected)" = 0 ] ||
    fail "a connection closed: this test is about expiry, not disconnects"

log "SIGCONT to worker A"
kill -CONT -- "-$frozen"
stale() {
	local d l
	d=$(counter results_duplicate) && l=$(counter results_late) &&
	    [ $((d + l)) -gt 0 ]
}
wait_until 20 stale ||
    fail "the thawed worker's results were not counted as duplicate or late"
[ "$(counter results_rejected)" = 0 ] || fail "results were rejected"
[ "$(counter tasks_completed)" = "$n" ] ||
    fail "tasks_completed $(counter tasks_completed), want $n (each task once)"

log "SIGCONT to the client"
kill -CONT "$pclient"
wait_exit "$pclient" 60 || fail "client did not finish"
[ "$EXIT_STATUS" = 0 ] || fail "client exited $EXIT_STATUS: $(cat "$T/client.log")"
check_squares "$T/out" 1 "$n"
log "leases_expired $(counter leases_expired), results_duplicate" \
    "$(counter results_duplicate), results_late $(counter results_late)"

test_end
