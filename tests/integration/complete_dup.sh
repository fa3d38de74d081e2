# complete_dup: a Complete batch that names the same task twice ([x, x])
# finishes it once: the reply counts 1 accepted and 1 duplicate, and the
# job's client gets exactly one result for it.
#
# The worker is a tasq_raw session (the tasq worker never repeats an id).
# First with the real client, whose output and the server's counters must
# show each task once; then with the session as the client too, since
# tasq submit would hide a second result for an id (it drops results it
# has seen): its Fetch must deliver one result per task.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
. "$(dirname "${BASH_SOURCE[0]}")/lib_e2e.sh" || exit 2
test_begin 60

start_server
rs_start

# 1. The real client; every id of every batch named twice.
spawn_client "$T/out" "$T/client.log" submit --range 1:5
pclient=$SPAWNED_PID
wait_until 20 counter_ge tasks_submitted 5 || fail "the client did not submit"
rs_ok lease default 100 0
rs_want tasks 5 "lease of the client's job"
rs_ok complete dup
rs_want accepted 5 "complete [x, x, y, y, ...] of 5 tasks"
rs_want duplicates 5 "complete [x, x, y, y, ...] of 5 tasks"
rs_want late 0
rs_want rejected 0
wait_exit "$pclient" 30 || fail "the client did not finish"
[ "$EXIT_STATUS" = 0 ] || fail "client exited $EXIT_STATUS: $(cat "$T/client.log")"
check_squares "$T/out" 1 5
want_counter tasks_completed 5 "each task finished once"
want_counter results_duplicate 5

# 2. One batch [x, x] of a one-task job, and what its client receives.
rs_ok submit dupq 42 0 11
rs_want accepted 1
rs_ok lease dupq 10 0
rs_want tasks 1
rs_ok complete dup
rs_want accepted 1 "complete [x, x]"
rs_want duplicates 1 "complete [x, x]"
rs_ok fetch 42 100 0
rs_want n 1 "results delivered for a one-task job"
rs_want completed 1 "the job's completed count"
[ "${RS_LINES[0]}" = "result id=0 value=121 code=OK" ] ||
    fail "want the one result 'id=0 value=121', got: ${RS_LINES[0]}"
rs_ok fetch 42 100 0 # acknowledges the delivery
rs_want n 0 "a second result for the same task"
rs_ok close 42
rs_want dropped 0
want_queue dupq results 0
want_queue dupq jobs 0
want_counter tasks_completed 6
want_counter results_duplicate 6

test_end
