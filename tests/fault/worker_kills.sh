# worker_kills: a 1,000,000-task run (divided by TASQ_TEST_SCALE) while
# worker processes die with SIGKILL at random moments: children of the
# first supervisor (found with pgrep -P; the supervisor starts new ones),
# and once the whole second supervisor with its children, which is then
# started again. Their leases go back to the queue when their connections
# close; the client must print every result exactly once, right and in
# order, and the server must have seen leases end with the connections.
. "$(dirname "$0")/lib.sh"
test_begin 150

N=$(scaled 1000000)
MAX_KILLS=40

# Small leases, fewer under TASQ_TEST_SCALE: runs last several seconds.
WB=$((100 / SCALE > 10 ? 100 / SCALE : 10))

start_server --data-dir "$T/data" --fsync always
start_workers sup1 -j 2 --batch-size "$WB"
SUP1=$SPAWNED_PID
start_workers sup2 -j 2 --batch-size "$WB"
SUP2=$SPAWNED_PID
start_submit squares --range "1:$N" --batch-size 1000
CLIENT=$SPAWNED_PID

kills=0
sup_restarted=0
while alive "$CLIENT" && ((kills < MAX_KILLS)); do
	at=$(($(now_ms) + $(rand_ms 100 600) * FACTOR))
	while alive "$CLIENT" && (($(now_ms) < at)); do
		sleep 0.02
	done
	alive "$CLIENT" || break
	if ((kills == 4 && !sup_restarted)); then
		# The whole second supervisor, children included.
		kill_spawned "$SUP2"
		log "supervisor 2 ($SUP2) killed with its workers; starting" \
		    "a new one"
		start_workers sup2b -j 2 --batch-size "$WB"
		SUP2=$SPAWNED_PID
		sup_restarted=1
		kills=$((kills + 1))
		continue
	fi
	# Live children only: one just killed stays a zombie until the
	# supervisor, maybe pausing before a restart, reaps it.
	kids=()
	for k in $(pgrep -P "$SUP1"); do
		alive "$k" && kids+=("$k")
	done
	((${#kids[@]} > 0)) || continue # between a death and its restart
	victim=${kids[RANDOM % ${#kids[@]}]}
	if kill -KILL "$victim" 2>/dev/null; then
		kills=$((kills + 1))
		log "kill $kills: worker $victim of supervisor 1"
	fi
done
((kills >= 2)) || fail "only $kills worker kills landed before the end"
((sup_restarted)) || log "the run ended before the supervisor kill"

wait_pid "$CLIENT" 120 || fail "the client did not finish in $(secs 120) s"
((WAIT_STATUS == 0)) || fail "the client exited with $WAIT_STATUS"
check_squares "$T/squares.out" "$N" ||
    fail "results are not exactly once, right and in order"
s=$(stats_json)
disc=$(json_num "$s" leases_disconnected)
redel=$(json_num "$s" tasks_redelivered)
log "kills=$kills leases_disconnected=$disc tasks_redelivered=$redel" \
    "results_duplicate=$(json_num "$s" results_duplicate)"
((disc > 0 && redel > 0)) ||
    fail "no lease was handed back by a killed worker's connection"
log "ok: $N results exactly once after $kills worker kills"
