# supervisor_signal: SIGTERM to the worker supervisor is never lost. Many
# rounds of: start tasq-worker -j 2 against a server, send SIGTERM at a
# different moment each round (as soon as it says it is supervising, or
# once both worker processes are connected), and require the supervisor
# to drain and exit 0 within a bound, its worker processes gone with it.
#
# The supervisor once checked a flag and then blocked in waitpid(2): a
# signal arriving between the two was seen only when some child died. The
# window is a few instructions wide, so the test widens it with the
# test-only TASQ_TEST_SUPERVISOR_DELAY_US (a pause just before the
# supervisor blocks waiting for its next event; see worker/main.c) and
# cycles it through several lengths.
#
# TASQ_TEST_SUPERVISOR_ROUNDS overrides the number of rounds (default 24).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 180

rounds=${TASQ_TEST_SUPERVISOR_ROUNDS:-24}
case $rounds in '' | *[!0-9]* | 0) rounds=24 ;; esac
delays=(0 1000 20000 300000)
# Idle workers drain in one long-poll (--wait) plus their goodbye.
bound=8

start_server

_supervising() { grep -q 'supervising' "$1"; }
# Worker process 0 says it connected at info level, the others at debug.
_connected() { [ "$(grep -c 'connected to' "$1")" -ge 2 ]; }

for ((r = 1; r <= rounds; r++)); do
	delay=${delays[r % ${#delays[@]}]}
	log_n=$((_nworkers + 1))
	TASQ_TEST_SUPERVISOR_DELAY_US=$delay start_workers -j 2 --wait 200ms \
	    --log-level debug
	sup=$SPAWNED_PID
	wlog=$T/worker-$log_n.log
	if ((r % 2)); then
		moment="on start"
		wait_until 10 _supervising "$wlog" ||
		    fail "round $r: the supervisor did not start"
	else
		moment="once connected"
		wait_until 10 _connected "$wlog" ||
		    fail "round $r: the worker processes did not connect"
	fi
	kids=$(worker_children "$sup")
	t0=$(now_ms)
	kill -TERM "$sup"
	wait_exit "$sup" "$bound" ||
	    fail "round $r (delay ${delay} us, $moment): the supervisor" \
	        "did not exit within $((bound * FACTOR)) s of SIGTERM"
	[ "$EXIT_STATUS" = 0 ] ||
	    fail "round $r: the supervisor exited $EXIT_STATUS, want 0"
	for k in $kids; do
		pid_alive "$k" && fail "round $r: worker process $k outlived it"
	done
	log "round $r (delay ${delay} us, $moment): drained in" \
	    "$(($(now_ms) - t0)) ms"
done
CLIENT_TIMEOUT=30 client health --quiet || fail "server not healthy"
test_end
