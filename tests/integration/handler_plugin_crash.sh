# handler_plugin_crash: a plugin handler that segfaults in the middle of
# a job (tasq-worker --type square=plugin:...). The crash kills only its
# worker process; the supervisor starts a new one, the server takes the
# crashed batch's leases back and delivers those tasks again (attempt 2),
# and the client prints every result exactly once, in order.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 120
: "${TASQ_TEST_PLUGIN_SQUARE_CRASH:?set by CMake: the test plugin}"

n=20000
dir=$T/plugin
mkdir -p "$dir"
start_server --lease 2s
start_workers -j 2 --batch-size 100 --task-delay 1ms \
    --type "square=plugin:$TASQ_TEST_PLUGIN_SQUARE_CRASH $dir"
sup=$SPAWNED_PID

client submit --range "1:$n" >"$T/out" 2>"$T/client.log" &
pclient=$!
wait_until 30 counter_ge tasks_completed $((n / 20)) ||
    fail "no progress: $(counter tasks_completed) tasks completed"
kids_before=$(worker_children "$sup" | sort | tr '\n' ' ')
log "arming the crash (workers: $kids_before)"
: >"$dir/armed"
wait_until 15 test -e "$dir/crashed" || fail "the plugin did not crash"
kill -0 "$pclient" 2>/dev/null ||
    fail "the job ended before the crash (make it longer)"
replaced() {
	[ "$(worker_children "$sup" | wc -l)" = 2 ] &&
	    [ "$(worker_children "$sup" | sort | tr '\n' ' ')" != "$kids_before" ]
}
wait_until 15 replaced || fail "the crashed worker process was not replaced"
grep -q "killed by signal 11" "$T"/worker-1.log ||
    fail "the supervisor did not report the segfault"

wait_exit "$pclient" 90 || fail "client did not finish"
[ "$EXIT_STATUS" = 0 ] || fail "client exited $EXIT_STATUS: $(cat "$T/client.log")"
check_squares "$T/out" 1 "$n"

# The crashed batch was logged (attempt 1) before the crash; its tasks
# came back as attempt 2 (with those of any other batch the crashed
# process held but had not started).
first=$(cat "$dir/crashed")
retried=$(awk -F '\t' '$1 == 2' "$dir/attempts" | wc -l)
[ "$retried" -gt 0 ] || fail "no task was delivered a second time"
grep -qx "1	$first" "$dir/attempts" ||
    fail "the crashed batch (task $first) was not logged as attempt 1"
grep -qx "2	$first" "$dir/attempts" ||
    fail "task $first of the crashed batch did not come back as attempt 2"
log "$retried tasks retried as attempt 2, the crashed batch's among them"
[ "$(counter tasks_completed)" = "$n" ] || fail "tasks_completed != $n"

test_end
