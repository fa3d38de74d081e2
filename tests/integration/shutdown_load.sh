# shutdown_load: SIGTERM to the server under load, many times. Each round
# starts a server with --data-dir (the fsync mode rotates through always,
# batch and never), a supervisor of 4 worker processes and 8 clients
# submitting, waits until tasks are flowing (a different amount each
# round, so the signal lands at different moments), then sends SIGTERM:
# the server must exit 0 within its documented shutdown bound (10 s, see
# tasq-server(8), SIGNALS) and say so in its log. The last round's data
# directory must then open again without a torn record (the journal was
# flushed and closed, not cut off).
#
# TASQ_TEST_SHUTDOWN_ROUNDS overrides the number of rounds (default 16).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 240

rounds=${TASQ_TEST_SHUTDOWN_ROUNDS:-16}
case $rounds in '' | *[!0-9]* | 0) rounds=16 ;; esac
# The server's own deadline (tasq-server(8)), plus a second for the
# process to be reaped, scaled for slow builds.
bound=11
modes=(always batch never)
n=$((400000 / SCALE))

# backtrace PID: every thread's stack of a hung process, into the log.
backtrace() {
	command -v gdb >/dev/null || return 0
	timeout 60 gdb -p "$1" -batch -ex 'thread apply all bt' \
	    >"$T/hung-$1.log" 2>&1
}

for ((r = 1; r <= rounds; r++)); do
	mode=${modes[r % 3]}
	data=$T/data-$r
	start_server --data-dir "$data" --fsync "$mode" --lease 5s
	srv=$SERVER_PID
	start_workers -j 4 --batch-size 256
	sup=$SPAWNED_PID
	clients=()
	for ((c = 1; c <= 8; c++)); do
		spawn_client "$T/out-$r-$c" "$T/client-$r-$c.log" \
		    submit --summary --batch-size 4096 \
		    --range "$((c * n + 1)):$((c * n + n))"
		clients+=("$SPAWNED_PID")
	done
	want=$((1000 * (r % 4 + 1)))
	wait_until 30 counter_ge tasks_completed "$want" ||
	    fail "round $r: no load: $(counter tasks_completed) tasks completed"
	log "round $r ($mode): SIGTERM to server $srv" \
	    "($(counter tasks_completed) completed)"
	t0=$(now_ms)
	kill -TERM "$srv"
	if ! wait_exit "$srv" "$bound"; then
		backtrace "$srv"
		fail "round $r: server did not exit within $((bound * FACTOR)) s" \
		    "of SIGTERM (stacks in hung-$srv.log)"
	fi
	ms=$(($(now_ms) - t0))
	[ "$EXIT_STATUS" = 0 ] ||
	    fail "round $r: server exited $EXIT_STATUS after SIGTERM, want 0"
	grep -q 'shutting down' "$T/server.log" ||
	    fail "round $r: the server did not log its shutdown"
	# Connections cut by nng_close instead of ended from below risk
	# nng 1.5.2's hang (server/rpc.c): the drain must not time out.
	grep -q 'still open after' "$T/server.log" &&
	    fail "round $r: connections did not end before the socket closed"
	# test_end checks only the logs still named *.log.
	grep -E 'ERROR: AddressSanitizer|runtime error:|WARNING: ThreadSanitizer|ERROR: LeakSanitizer' \
	    "$T/server.log" >/dev/null &&
	    fail "round $r: a sanitizer reported an error (server.log)"
	log "round $r: server exited 0 in $ms ms"
	# The load is not under test: end it at once.
	for p in "$sup" "${clients[@]}"; do
		_kill_group KILL "$p"
	done
	for p in "$sup" "${clients[@]}"; do
		wait "$p" 2>/dev/null
	done
	mv "$T/server.log" "$T/server-$r.log.old"
done

# The journal of the last round was flushed and closed, not torn.
start_server --data-dir "$data"
grep -E 'torn|truncating|without a complete header' "$T/server.log" &&
    fail "the journal was not closed cleanly at the last SIGTERM"
grep -q 'recovered' "$T/server.log" || fail "the restart recovered nothing"
test_end
