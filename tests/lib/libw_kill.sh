#!/usr/bin/env bash
# libw_kill: kill -9 of a process serving with libtasq's worker side
# while it holds tasks: its leases come back (its connection closes), a
# second library worker finishes the job, and the client prints every
# result exactly once, in order; the server counted each task completed
# once.
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" || exit 2
. "$(dirname "${BASH_SOURCE[0]}")/libw_lib.sh" || exit 2
test_begin 120

# Not scaled: the job must outlast the kill; its length comes from the
# per-task delay, not from the build.
n=20000
start_server
TASQ_TEST_BATCH=100 start_libw square 2
victim=$SPAWNED_PID

client submit --range "1:$n" >"$T/out" 2>"$T/client.log" &
pclient=$!
wait_until 30 counter_ge tasks_completed $((n / 40)) ||
    fail "no progress: $(counter tasks_completed) tasks completed"
leased() { [ "$(queue_field default 3)" -gt 0 ]; }
wait_until 10 leased || fail "the library worker holds no task"
log "kill -9 libw_worker $victim (tasks_completed $(counter tasks_completed))"
kill -9 "$victim"
wait_until 10 counter_ge leases_disconnected 1 ||
    fail "the killed worker's leases were not taken back"
kill -0 "$pclient" 2>/dev/null ||
    fail "the job ended before the kill (make it longer)"

start_libw square
expect_exit "$SPAWNED_PID" 0
wait_exit "$pclient" 60 || fail "client did not finish with a new worker"
[ "$EXIT_STATUS" = 0 ] || fail "client exited $EXIT_STATUS: $(cat "$T/client.log")"
check_squares "$T/out" 1 "$n"
[ "$(counter tasks_completed)" = "$n" ] ||
    fail "tasks_completed $(counter tasks_completed), want $n"
log "tasks_redelivered $(counter tasks_redelivered), leases_disconnected $(counter leases_disconnected)"
test_end
