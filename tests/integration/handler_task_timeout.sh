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
first=$(worker_children "$sup")

client submit --max-attempts 1 $(seq 1 10) >"$T/out" 2>"$T/client.log" ||
    [ $? = 3 ] || fail "submit failed (want exit 3: some tasks failed): $(cat "$T/client.log")"
sed -E 's/^(-?[0-9]+) error: ([A-Z_]+) .*/\1 error: \2/' "$T/out" >"$T/got"
printf '%s\n' 1 4 9 16 25 36 "error" 64 81 100 |
    awk '{ if ($1 == "error") print "7 error: DEADLINE_EXCEEDED";
	   else printf("%d %s\n", NR, $1) }' >"$T/want"
cmp "$T/got" "$T/want" || { diff "$T/want" "$T/got" >&2; fail "square results"; }
grep -q "ran over --task-timeout" "$T/out" ||
    fail "the timed-out task's message does not say why: $(grep '^7 ' "$T/out")"
grep -q "exited with 3; restarting" "$T"/worker-1.log ||
    fail "the worker process did not exit 3 after the timeout"
[ "$(worker_children "$sup")" != "$first" ] || fail "no new worker process"

client submit --max-attempts 1 --type slow a b >"$T/out2" 2>"$T/client2.log" ||
    [ $? = 3 ] || fail "submit failed (want exit 3: some tasks failed): $(cat "$T/client2.log")"
[ "$(grep -c '^error: DEADLINE_EXCEEDED .*--task-timeout' "$T/out2")" = 2 ] ||
    fail "exec-each tasks not timed out: $(cat "$T/out2")"

test_end
