# recovery_time: how long a restart takes with 1,000,000 queued tasks
# (divided by TASQ_TEST_SCALE). A benchmark that prints and never
# asserts on time: tasks are queued with no worker running, the server is
# killed with SIGKILL, started again on the same data directory, and the
# figure comes from its log line "recovered R records (B journal bytes)
# from DIR in T ms". Done twice: replaying the journal alone, and (with a
# small --compact-bytes) replaying a snapshot plus the journal after it.
# Correctness is asserted: every task is queued again after each restart.
. "$(dirname "$0")/lib.sh"
test_begin 150

N=$(scaled 1000000)

have_snapshot() {
	compgen -G "$1/snapshot-*.snap" >/dev/null
}

# measure NAME ARGS...: queue N tasks on a fresh data directory with
# ARGS, kill, restart, and print the recovery figure.
measure() {
	local name=$1 t0 line
	shift
	LISTEN='' start_server --data-dir "$T/$name" "$@"
	t0=$(now_ms)
	start_submit "queue-$name" --range "1:$N"
	poll_until 120 "$N queued tasks" stat_is ready "$N"
	log "$name: $N tasks queued in $(($(now_ms) - t0)) ms"
	kill_spawned "$SPAWNED_PID"
	# Compaction runs on the server's timer: wait for the one asked for.
	if [ "$name" = snapshot ]; then
		poll_until 60 "a snapshot" have_snapshot "$T/$name"
	fi
	kill_server KILL
	t0=$(now_ms)
	restart_server
	line=$(grep -o 'recovered .* ms' "$SERVER_LOG")
	[ "$(stat_num ready)" = "$N" ] ||
	    fail "$name: after the restart ready is $(stat_num ready), not $N"
	log "$name: restart to serving in $(($(now_ms) - t0)) ms (with" \
	    "health checks); data dir $(du -sh "$T/$name" | cut -f1)"
	echo "recovery_time $name: tasks=$N $line"
	kill_server TERM
}

measure journal --compact-bytes 1GiB
measure snapshot --compact-bytes $((N * 4)) # half the journal SUBMITs make
