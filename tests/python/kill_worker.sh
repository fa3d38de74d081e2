#!/usr/bin/env bash
# kill_worker: kill -9 of a Python worker (tasq.Worker) while it holds
# tasks: its leases come back when its connection drops, another Python
# worker finishes the job, and the client prints every result exactly
# once, in order; the server completed each task once.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 120

# Not scaled: the job must outlast the kill; its length comes from the
# handler's delay (0.5 ms a task, batches of 100).
n=20000
start_server
pyworker() {
	spawn_py "pyworker-$1.log" "$CHECK" worker --type square \
	    --server "$URL" --key-file "$KEY" --delay-ms 0.5 --batch-size 100
}
pyworker 1
w1=$SPAWNED_PID
pyworker 2
w2=$SPAWNED_PID

client submit --range "1:$n" >"$T/out" 2>"$T/client.log" &
pclient=$!

wait_until 30 counter_ge tasks_completed $((n / 10)) ||
    fail "no progress: $(counter tasks_completed) tasks completed"
# It holds a lease now or within a batch (the queue is far from empty).
leased() { [ "$(queue_field default 3)" -gt 0 ] 2>/dev/null; }
wait_until 10 leased || fail "no task under lease"
log "kill -9 python worker $w1"
kill -9 "$w1"
wait_until 10 counter_ge leases_disconnected 1 ||
    fail "the killed worker's leases were not taken back"
kill -0 "$pclient" 2>/dev/null ||
    fail "the job ended before the kill took effect (make it longer)"
pyworker 3

wait_exit "$pclient" 60 || fail "client did not finish"
[ "$EXIT_STATUS" = 0 ] || fail "client exited $EXIT_STATUS: $(cat "$T/client.log")"
check_squares "$T/out" 1 "$n"

redelivered=$(counter tasks_redelivered)
[ "${redelivered:-0}" -gt 0 ] || fail "tasks_redelivered is ${redelivered:-?}"
completed=$(counter tasks_completed)
[ "$completed" = "$n" ] || fail "tasks_completed is $completed, not $n"
log "tasks_redelivered $redelivered, tasks_completed $completed"
expect_exit "$w2" 0
expect_exit "$SPAWNED_PID" 0

test_end
