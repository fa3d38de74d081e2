# fsync_kill: every --fsync mode (always, batch, never) survives kill -9
# of the server. A killed process leaves the page cache intact, so no mode
# may lose a Submit or a Complete it acknowledged: the server acknowledges
# only after write(2). For each mode a client submits a job in small
# batches while two workers run it, the server is killed with SIGKILL 8
# times at random moments and restarted on the same port and data
# directory, and the client must print every result exactly once, in
# order, and exit 0 within a bounded time (a lost acknowledged batch left
# it waiting for ever).
# Then a machine crash under --fsync never, at its worst: the data
# directory is lost with the process (3 times). The client sees a new
# server id and sends again every batch whose results it lacks, so it
# still gets every result exactly once.
. "$(dirname "$0")/lib.sh"
test_begin 300

N=$(scaled 2000000)
KILLS=8
WB=$((100 / SCALE > 10 ? 100 / SCALE : 10))

# run_job MODE KILLS LOSE: one job under --fsync MODE with KILLS server kills;
# LOSE=1 removes the data directory after each kill.
run_job() {
	local mode=$1 want=$2 lose=$3 name="squares.$1.$3" kills=0 at
	rm -rf "$T/data"
	start_server --data-dir "$T/data" --fsync "$mode" \
	    --fsync-interval 200ms --compact-bytes 1MiB
	start_workers "workers.$mode.$lose" -j 2 --batch-size "$WB"
	WORKERS=$SPAWNED_PID
	start_submit "$name" --range "1:$N" --batch-size 250 \
	    --window 20000
	CLIENT=$SPAWNED_PID
	while ((kills < want)) && alive "$CLIENT"; do
		# A random moment 0.1-0.8 s into this server's life.
		at=$(($(now_ms) + $(rand_ms 100 800) * FACTOR))
		while alive "$CLIENT" && (($(now_ms) < at)); do
			sleep 0.02
		done
		alive "$CLIENT" || break
		kill_server KILL
		kills=$((kills + 1))
		if ((lose)); then
			rm -rf "$T/data"
		fi
		restart_server
		log "$mode: kill $kills: $(grep -o 'recovered [0-9]* records' \
		    "$SERVER_LOG")"
	done
	if ! wait_pid "$CLIENT" 90; then
		fail "$mode: the client did not finish in $(secs 90) s after" \
		    "$kills kills (submitted $(stat_num submitted)," \
		    "ready $(stat_num ready), leased $(stat_num leased))"
	fi
	((WAIT_STATUS == 0)) ||
	    fail "$mode: the client exited with $WAIT_STATUS"
	check_squares "$T/$name.out" "$N" ||
	    fail "$mode: results are not exactly once, right and in order"
	((kills >= (want + 1) / 2)) ||
	    fail "$mode: only $kills kills landed during the job"
	log "$mode: $N results exactly once over $kills kills" \
	    "$( ((lose)) && echo "(data directory lost each time)")"
	kill_spawned "$WORKERS"
	kill_server KILL
}

run_job always "$KILLS" 0
run_job batch "$KILLS" 0
run_job never "$KILLS" 0
run_job never 3 1
log "ok"
