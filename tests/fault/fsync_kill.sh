# fsync_kill: every --fsync mode (always, batch, never) survives kill -9
# of the server. A killed process leaves the page cache intact, so no mode
# may lose a Submit or a Complete it acknowledged: the server acknowledges
# only after write(2). For each mode a client submits a job in small
# batches while two workers run it, the server is killed with SIGKILL 8
# times at random moments and restarted on the same port and data
# directory, and the client must print every result exactly once, in
# order, and exit 0 within a bounded time (a lost acknowledged batch left
# it waiting for ever).
. "$(dirname "$0")/lib.sh"
test_begin 240

N=$(scaled 1000000)
KILLS=8
WB=$((100 / SCALE > 10 ? 100 / SCALE : 10))

for mode in always batch never; do
	rm -rf "$T/data"
	LISTEN=tcp://127.0.0.1:0 start_server --data-dir "$T/data" \
	    --fsync "$mode" --fsync-interval 200ms --compact-bytes 1MiB
	start_workers "workers.$mode" -j 2 --batch-size "$WB"
	WORKERS=$SPAWNED_PID
	start_submit "squares.$mode" --range "1:$N" --batch-size 250 \
	    --window 20000
	CLIENT=$SPAWNED_PID
	kills=0
	while ((kills < KILLS)) && alive "$CLIENT"; do
		# A random moment 0.1-0.8 s into this server's life.
		at=$(($(now_ms) + $(rand_ms 100 800) * FACTOR))
		while alive "$CLIENT" && (($(now_ms) < at)); do
			sleep 0.02
		done
		alive "$CLIENT" || break
		kill_server KILL
		kills=$((kills + 1))
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
	check_squares "$T/squares.$mode.out" "$N" ||
	    fail "$mode: results are not exactly once, right and in order"
	((kills >= KILLS / 2)) ||
	    fail "$mode: only $kills kills landed during the job"
	log "$mode: $N results exactly once over $kills kills"
	kill_spawned "$WORKERS"
	kill_server KILL

done
log "ok"
