# handler_task_timeout: --task-timeout fails a task that runs too long
# with DEADLINE_EXCEEDED. A plugin task that never ends: the worker
# process reports it and exits (status 3), the supervisor starts a new
# one and the other tasks of the batch are computed after their lease
# expires. An exec-each command that sleeps: killed. Every other task
# completes, each printed once.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 90
: "${TASQ_TEST_PLUGIN_SQUARE_HANG:?set by CMake}"

start_server --lease 2s
start_workers -j 1 --task-timeout 500ms \
    --type "square=plugin:$TASQ_TEST_PLUGIN_SQUARE_HANG" \
    --type "slow=exec-each:sleep 30"
sup=$SPAWNED_PID
one_child() { [ -n "$(worker_children "$sup")" ]; }
wait_until 10 one_child || fail "the supervisor started no worker"
first=$(worker_children "$sup")

# Alone, with one attempt: the client gets the DEADLINE_EXCEEDED.
client submit --max-attempts 1 7 >"$T/out" 2>"$T/client.log" ||
    [ $? = 3 ] || fail "submit failed (want exit 3: some tasks failed): $(cat "$T/client.log")"
grep -q "^7 error: DEADLINE_EXCEEDED ran over --task-timeout" "$T/out" ||
    fail "task 7 did not time out: $(cat "$T/out")"
# The supervisor logs the exit when it reaps the process, which may come
# after the client has its result.
exits() { [ "$(grep -c "exited with 3; restarting" "$T"/worker-1.log)" -ge "$1" ]; }
wait_until 10 exits 1 ||
    fail "the worker process did not exit 3 after the timeout"
replaced() {
	local k
	k=$(worker_children "$sup")
	[ -n "$k" ] && [ "$k" != "$first" ]
}
wait_until 15 replaced || fail "no new worker process"

# In a batch, with retries: the worker process ends again; the other
# tasks come back when its lease expires, 7 on its retry (attempt 2,
# which the plugin finishes), and every result is right.
client submit $(seq 1 10) >"$T/out1" 2>"$T/client1.log" ||
    fail "submit failed: $(cat "$T/client1.log")"
seq 1 10 | awk '{ print $1, $1 * $1 }' | cmp - "$T/out1" ||
    fail "wrong results: $(cat "$T/out1")"
wait_until 10 exits 2 ||
    fail "the worker process did not exit 3 a second time"
[ "$(grep -c "exited with 3; restarting" "$T"/worker-1.log)" = 2 ] ||
    fail "the worker process exited 3 more than twice"

client submit --max-attempts 1 --type slow a b >"$T/out2" 2>"$T/client2.log" ||
    [ $? = 3 ] || fail "submit failed (want exit 3: some tasks failed): $(cat "$T/client2.log")"
[ "$(grep -c '^error: DEADLINE_EXCEEDED .*--task-timeout' "$T/out2")" = 2 ] ||
    fail "exec-each tasks not timed out: $(cat "$T/out2")"

test_end
