# handler_exec_kill: kill -9 of an exec: child in the middle of a job
# (tasq-worker --type echo=exec:...). The worker reaps and restarts the
# child and fails the tasks it had not answered with UNAVAILABLE; the
# server retries them (attempt 2) and the client prints every result
# exactly once, in input order.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 120
: "${TASQ_TEST_HANDLER_CHILD:?set by CMake: worker/handler_test_child}"

n=20000
awk -v n="$n" 'BEGIN { for (i = 1; i <= n; i++) printf("task-%d\n", i) }' \
    >"$T/in"
start_server
# The child takes 1 ms a task, so that a kill finds it in the middle of
# a batch; it logs "attempt<TAB>payload" for every task it reads.
start_workers -j 2 --batch-size 100 \
    --type "echo=exec:$TASQ_TEST_HANDLER_CHILD echo-log $T/attempts 1000"
sup=$SPAWNED_PID

client submit --type echo --file "$T/in" >"$T/out" 2>"$T/client.log" &
pclient=$!
wait_until 30 counter_ge tasks_completed $((n / 20)) ||
    fail "no progress: $(counter tasks_completed) tasks completed"
# The child itself, not the /bin/sh -c that started it.
children() { pgrep -f "^$TASQ_TEST_HANDLER_CHILD echo-log $T/attempts 1000"; }
victim=$(children | head -n 1)
[ -n "$victim" ] || fail "no exec child found"
log "kill -9 exec child $victim"
kill -9 "$victim"
wait_until 15 grep -q "exec child exited" "$T"/worker-1.log ||
    fail "the worker did not report the killed child"
restarted() { [ "$(children | grep -cvx "$victim")" -ge 4 ]; }
wait_until 15 restarted || fail "the killed child was not restarted"
kill -0 "$pclient" 2>/dev/null ||
    fail "the job ended before the kill (make it longer)"

wait_exit "$pclient" 90 || fail "client did not finish"
[ "$EXIT_STATUS" = 0 ] || fail "client exited $EXIT_STATUS: $(cat "$T/client.log")"
cmp "$T/out" "$T/in" ||
    fail "output differs from the input (echo): lost, repeated or moved"
retried=$(awk -F '\t' '$1 == 2' "$T/attempts" | wc -l)
[ "$retried" -gt 0 ] || fail "no task came back as attempt 2"
log "$retried task(s) retried as attempt 2"

test_end
