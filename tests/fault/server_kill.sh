# server_kill: a 1,000,000-task run (divided by TASQ_TEST_SCALE) with two
# worker processes while the server, journaling with --fsync always, is
# killed with SIGKILL at three random moments and restarted each time on
# the same port and data directory. The client and the workers reconnect
# by themselves; the client must print every result exactly once, right,
# and in input order. Small compaction threshold, so that kills can also
# land in or around a snapshot.
. "$(dirname "$0")/lib.sh"
test_begin 150

N=$(scaled 1000000)
KILLS=3
MAX_RUNS=3
# Small leases (fewer under TASQ_TEST_SCALE, to keep a run several
# seconds long on a slower build) so that the kills land inside the run.
WB=$((100 / SCALE > 10 ? 100 / SCALE : 10))

start_server --data-dir "$T/data" --fsync always --compact-bytes 4MiB
start_workers workers -j 2 --batch-size "$WB"

# If a run ends before the three kills, another run takes the rest.
kills=0
for ((run = 1; run <= MAX_RUNS && kills < KILLS; run++)); do
	start_submit "squares$run" --range "1:$N" --batch-size 1000
	CLIENT=$SPAWNED_PID
	while ((kills < KILLS)); do
		# A random moment 0.2-1.5 s into this server's life.
		at=$(($(now_ms) + $(rand_ms 200 1500) * FACTOR))
		while alive "$CLIENT" && (($(now_ms) < at)); do
			sleep 0.02
		done
		alive "$CLIENT" || break
		kill_server KILL
		kills=$((kills + 1))
		log "run $run, kill $kills: server killed; restarting on $URL"
		restart_server
		log "kill $kills: $(grep -o 'recovered .*' "$SERVER_LOG")"
	done
	wait_pid "$CLIENT" 120 ||
	    fail "run $run: the client did not finish in $(secs 120) s"
	((WAIT_STATUS == 0)) ||
	    fail "run $run: the client exited with $WAIT_STATUS"
	check_squares "$T/squares$run.out" "$N" ||
	    fail "run $run: results are not exactly once, right and in order"
	log "run $run: $N results exactly once, $kills kill(s) so far"
done
((kills == KILLS)) || fail "only $kills kills landed in $MAX_RUNS runs"
log "ok: every result exactly once over $kills server kills" \
    "(results_duplicate since the last restart:" \
    "$(stat_num results_duplicate))"
