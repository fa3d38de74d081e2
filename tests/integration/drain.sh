# drain: SIGTERM to the worker supervisor mid-run, with tasks in flight
# (--task-delay): it exits 0 within a bounded time, its worker processes
# with it, and hands back what it did not finish (nothing stays leased,
# no lease has to expire); a fresh worker finishes the job, every result
# exactly once.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 120

# Not scaled down: the job must outlast the drain, and its length comes
# from --task-delay, not from the build.
n=20000
start_server
start_workers -j 2 --task-delay 2ms --batch-size 100
sup=$SPAWNED_PID

client submit --range "1:$n" >"$T/out" 2>"$T/client.log" &
pclient=$!

wait_until 30 counter_ge tasks_completed $((n / 20)) ||
    fail "no progress: $(counter tasks_completed) tasks completed"
kids=$(worker_children "$sup")
[ "$(echo "$kids" | grep -c .)" = 2 ] || fail "want 2 worker processes: $kids"
leased=$(queue_field default 3)
log "SIGTERM to supervisor $sup ($(counter tasks_completed) done, $leased leased)"
t0=$(now_ms)
kill -TERM "$sup"
wait_exit "$sup" 15 || fail "supervisor did not exit within $((15 * FACTOR)) s of SIGTERM"
[ "$EXIT_STATUS" = 0 ] || fail "supervisor exited $EXIT_STATUS after SIGTERM, want 0"
log "drained in $(($(now_ms) - t0)) ms"
for k in $kids; do
	pid_alive "$k" && fail "worker process $k outlived the drain"
done
[ "$(grep -c 'drained' "$T/worker-1.log")" -ge 2 ] ||
    fail "not every worker process reported a drain"

# Whatever the workers held came back at once: nothing is left leased.
nothing_leased() { [ "$(queue_field default 3)" = 0 ]; }
wait_until 5 nothing_leased ||
    fail "$(queue_field default 3) tasks still leased after the drain"
kill -0 "$pclient" 2>/dev/null ||
    fail "the job ended before the drain (make it longer)"

start_workers -j 2
expect_exit "$SPAWNED_PID" 0
wait_exit "$pclient" 30 || fail "the fresh worker did not finish the job"
[ "$EXIT_STATUS" = 0 ] || fail "client exited $EXIT_STATUS: $(cat "$T/client.log")"
check_squares "$T/out" 1 "$n"
[ "$(counter tasks_completed)" = "$n" ] || fail "tasks_completed != $n"
[ "$(counter leases_expired)" = 0 ] ||
    fail "leases expired: the drain did not hand its tasks back"

test_end
