# kill_worker: kill -9 of a worker process while it holds tasks (the
# supervisor replaces it, its leases come back when its connection
# drops), then kill -9 of the whole supervisor (its worker processes must
# die with it: no orphans); a new worker finishes the job, and the client
# prints every result exactly once.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 120

# Not scaled down: the job must outlast the kills, and its length comes
# from --task-delay, not from the build.
n=20000
start_server
start_workers -j 2 --task-delay 2ms --batch-size 100
sup=$SPAWNED_PID

client submit --range "1:$n" >"$T/out" 2>"$T/client.log" &
pclient=$!

wait_until 30 counter_ge tasks_completed $((n / 40)) ||
    fail "no progress: $(counter tasks_completed) tasks completed"
two_children() { [ "$(worker_children "$sup" | wc -l)" = 2 ]; }
wait_until 10 two_children || fail "supervisor $sup has no 2 workers"
victim=$(worker_children "$sup" | head -n 1)
log "kill -9 worker process $victim"
kill -9 "$victim"

# The supervisor notices and starts a replacement; the server takes the
# victim's leases back when its connection closes.
replaced() {
	local kids
	kids=$(worker_children "$sup")
	[ "$(echo "$kids" | grep -c .)" = 2 ] && ! echo "$kids" | grep >/dev/null -cx "$victim"
}
wait_until 15 replaced || fail "worker $victim was not replaced"
wait_until 10 counter_ge leases_disconnected 1 ||
    fail "the killed worker's leases were not taken back"
kill -0 "$pclient" 2>/dev/null ||
    fail "the job ended before the supervisor was killed (make it longer)"

kids=$(worker_children "$sup")
log "kill -9 supervisor $sup (workers: ${kids//$'\n'/ })"
kill -9 "$sup"
all_gone() {
	local k
	for k in $kids; do
		pid_alive "$k" && return 1
	done
	return 0
}
wait_until 10 all_gone ||
    fail "worker processes outlived their supervisor: $(for k in $kids; do pid_alive "$k" && echo "$k"; done)"

kill -0 "$pclient" 2>/dev/null ||
    fail "the job ended with no workers (make it longer)"
start_workers -j 2
expect_exit "$SPAWNED_PID" 0
wait_exit "$pclient" 60 || fail "client did not finish with a new worker"
[ "$EXIT_STATUS" = 0 ] || fail "client exited $EXIT_STATUS: $(cat "$T/client.log")"
check_squares "$T/out" 1 "$n"

redelivered=$(counter tasks_redelivered)
[ "${redelivered:-0}" -gt 0 ] || fail "tasks_redelivered is ${redelivered:-?}"
log "tasks_redelivered $redelivered, leases_disconnected $(counter leases_disconnected)"
[ "$(counter tasks_completed)" = "$n" ] || fail "tasks_completed != $n"

test_end
