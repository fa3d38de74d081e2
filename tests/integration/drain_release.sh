# drain_release: a draining worker hands back the leases it holds with
# Release, before it closes its connection. drain.sh sees that nothing
# stays leased after a drain, but a worker that just closed its
# connection would pass it too (the server ends the leases of a closed
# connection). Here the server must have seen Releases: no lease ended
# by disconnection, the unfinished tasks were redelivered, and, since
# --max-attempts is 1, a released lease did not count as an attempt (a
# disconnected one would: its tasks would be dead-lettered).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
. "$(dirname "${BASH_SOURCE[0]}")/lib_e2e.sh" || exit 2
test_begin 120

n=20000
start_server --max-attempts 1
start_workers -j 2 --task-delay 2ms --batch-size 100
sup=$SPAWNED_PID

spawn_client "$T/out" "$T/client.log" submit --range "1:$n"
pclient=$SPAWNED_PID

# Both workers hold leases when the drain begins.
wait_until 30 counter_ge tasks_completed $((n / 20)) ||
    fail "no progress: $(counter tasks_completed) tasks completed"
log "SIGTERM to supervisor $sup ($(queue_field default 3) tasks leased)"
kill -TERM "$sup"
wait_exit "$sup" 15 || fail "supervisor did not exit within $((15 * FACTOR)) s of SIGTERM"
[ "$EXIT_STATUS" = 0 ] || fail "supervisor exited $EXIT_STATUS after SIGTERM, want 0"
kill -0 "$pclient" 2>/dev/null || fail "the job ended before the drain (make it longer)"

s=$(stats_json)
want_queue default leased 0 "after the drain" "$s"
[ "$(counter_json leases_disconnected "$s")" = 0 ] ||
    fail "leases_disconnected is $(counter_json leases_disconnected "$s"):" \
        "the drained workers did not release their leases"
[ "$(counter_json tasks_dead_lettered "$s")" = 0 ] ||
    fail "$(counter_json tasks_dead_lettered "$s") tasks dead-lettered:" \
        "a Release counted as an attempt"
redelivered=$(counter_json tasks_redelivered "$s")
[ "${redelivered:-0}" -gt 0 ] ||
    fail "tasks_redelivered is ${redelivered:-?}: no task was handed back"
log "the drain released $redelivered tasks"

start_workers -j 2
expect_exit "$SPAWNED_PID" 0
wait_exit "$pclient" 30 || fail "the fresh workers did not finish the job"
[ "$EXIT_STATUS" = 0 ] || fail "client exited $EXIT_STATUS: $(cat "$T/client.log")"
check_squares "$T/out" 1 "$n"
s=$(stats_json)
for c in "tasks_completed:$n" leases_expired:0 leases_disconnected:0 \
    tasks_dead_lettered:0 results_duplicate:0 "tasks_redelivered:$redelivered"; do
	[ "$(counter_json "${c%%:*}" "$s")" = "${c#*:}" ] ||
	    fail "${c%%:*} is $(counter_json "${c%%:*}" "$s"), want ${c#*:}"
done

test_end
