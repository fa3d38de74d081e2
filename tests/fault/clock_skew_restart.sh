# clock_skew_restart: the client and the workers run with their wall
# clocks off the server's (the test-only hook TASQ_TEST_WALL_OFFSET_MS,
# lib/clock.h), and the server, journaling to --data-dir, is killed and
# restarted mid-job. Peers stamp their requests with the server's time as
# its signed replies tell them (docs/PROTOCOL.md section 5), and a signed
# refusal of a stamp teaches them that time before they retry, so:
#
#   - 5 s behind: a restarted server, which refuses a sender it has not
#     seen whose stamp is older than its start, does not refuse them
#     (it did: the client exited with "message older than this server's
#     start");
#   - 10 minutes ahead or behind, beyond --clock-skew (5 minutes): their
#     first request is refused, they learn the server's time from the
#     refusal and carry on.
#
# In every case the client prints every result exactly once, in order, and
# exits 0.
. "$(dirname "$0")/lib.sh"
test_begin 180

N=$(scaled 1000000)

_tenth_or_exit() {
	stat_ge tasks_completed $((N / 10)) || ! alive "$1"
}

# one_case NAME OFFSET_MS: a job whose client and workers are OFFSET_MS
# off, with one server restart in the middle.
one_case() {
	local name=$1 off=$2 c w refused
	start_server --data-dir "$T/data.$name" --fsync always
	TASQ_TEST_WALL_OFFSET_MS=$off start_workers "workers.$name" -j 2 \
	    --batch-size 1000
	w=$SPAWNED_PID
	TASQ_TEST_WALL_OFFSET_MS=$off start_submit "job.$name" \
	    --range "1:$N" --batch-size 1000
	c=$SPAWNED_PID
	poll_until 60 "$name: a tenth of the job to complete" \
	    _tenth_or_exit "$c"
	# The workers stop here, so that the job cannot end before the
	# restart however fast the machine (a 100,000-task job under ASan
	# once did, between the poll and the kill); they go on against the
	# restarted server.
	kill_group "$w" STOP
	# Still running, its job unfinished: it must meet the new server.
	alive "$c" || {
		wait_pid "$c" 1
		fail "$name: the client exited $WAIT_STATUS before the" \
		    "restart: $(tail -n 1 "$T/job.$name.err")"
	}
	refused=$(stat_num auth_replays)
	if ((off > 300000 || off < -300000)); then
		# Beyond the skew, each peer's first stamp was refused.
		((refused > 0)) || fail "$name: no stamp was refused"
	fi
	kill_server KILL
	restart_server
	kill_group "$w" CONT
	log "$name: server restarted mid-job on $URL"
	wait_pid "$c" 120 ||
	    fail "$name: the client did not finish in $(secs 120) s"
	((WAIT_STATUS == 0)) ||
	    fail "$name: the client exited $WAIT_STATUS: $(tail -n 1 \
	        "$T/job.$name.err")"
	check_squares "$T/job.$name.out" "$N" ||
	    fail "$name: results are not exactly once, right and in order"
	log "$name: $N results exactly once; requests refused for their" \
	    "stamp: $refused before the restart, $(stat_num auth_replays)" \
	    "after it"
	kill_group "$w" TERM
	wait_pid "$w" 30 || fail "$name: the workers did not drain"
	kill_server KILL
}

one_case behind5s -5000
one_case ahead10m 600000
one_case behind10m -600000
log "ok: clients and workers 5 s and 10 min off the server's clock" \
    "survive a restart"
