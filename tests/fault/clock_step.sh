# clock_step: the server's wall clock is stepped while jobs run, and
# leases and --job-ttl do not notice, because they run on the monotonic
# clock (lib/clock.h). The step comes from the test-only hook
# TASQ_TEST_WALL_OFFSET_FILE, which adds the file's number of
# milliseconds to the server's wall clock; the server logs each new value,
# which is how the test knows the step was taken.
#
# 1. Forward by 60 s, more than --lease 2s and --job-ttl 3s (and inside
#    --clock-skew, so that the peers are not refused): no lease expires,
#    no job is dropped, the client prints every result once and exits 0.
# 2. Backward by 120 s while a frozen worker (SIGSTOP) holds a lease: the
#    lease still expires after about 2 s and another worker finishes the
#    job. On the wall clock, expiry would wait for the 120 s to pass again.
#    The server's message stamps do not go back (tasq_clock_stamp_ms), so
#    it does not refuse its peers, or its own watchdog, as "older than
#    this server's start".
. "$(dirname "$0")/lib.sh"
test_begin 120

OFFSET=$T/wall_offset
echo 0 >"$OFFSET"
TASQ_TEST_WALL_OFFSET_FILE=$OFFSET start_server --lease 2s --job-ttl 3s

# step MS: sets the server's wall clock MS ms off the real one and waits
# until the server says it took it (it reads the file again on a request
# of ours if nothing else asks it the time).
step() {
	echo "$1" >"$OFFSET"
	poll_until 10 "the server to take the wall clock step $1 ms" \
	    _step_taken "$1"
	log "server wall clock stepped to $1 ms off"
}
_step_taken() {
	stats_json >/dev/null
	grep -q "wall clock offset by $1 ms" "$SERVER_LOG"
}

# ---- 1: forward ------------------------------------------------------------
N=$(scaled 4000)
start_workers workers1 -j 2 --batch-size 50 --task-delay 5ms
W1=$SPAWNED_PID
start_submit job1 --range "1:$N" --batch-size 500
C1=$SPAWNED_PID
poll_until 30 "a quarter of job 1 to complete" \
    stat_ge tasks_completed $((N / 4))
step 60000
done_at_step=$(stat_num tasks_completed)
wait_pid "$C1" 60 || fail "job 1: the client did not finish in $(secs 60) s"
((WAIT_STATUS == 0)) ||
    fail "job 1: the client exited $WAIT_STATUS after a forward step" \
        "(jobs_expired $(stat_num jobs_expired))"
check_squares "$T/job1.out" "$N" || fail "job 1: results not exactly once"
((done_at_step < N)) ||
    fail "job 1 was complete before the step was taken (too fast a run)"
[ "$(stat_num leases_expired)" = 0 ] ||
    fail "job 1: $(stat_num leases_expired) lease(s) expired on the step"
[ "$(stat_num jobs_expired)" = 0 ] ||
    fail "job 1: $(stat_num jobs_expired) job(s) dropped on the step"
log "job 1: $N results once after a +60 s step at $done_at_step done;" \
    "no lease expired, no job dropped"
kill_group "$W1" TERM
wait_pid "$W1" 30 || fail "workers 1 did not drain"

# ---- 2: backward -----------------------------------------------------------
M=$(scaled 2000)
start_submit job2 --range "1:$M" --batch-size 500
C2=$SPAWNED_PID
poll_until 30 "job 2 to be submitted" stat_ge tasks_submitted $((N + M))
start_workers workerA -j 1 --batch-size 20 --pipeline 1 --task-delay 50ms
A=$SPAWNED_PID
# The queue's "leased": tasks under a lease now (A is the only worker).
poll_until 30 "worker A to hold tasks" stat_ge leased 1
kill_group "$A" STOP
log "worker A frozen holding $(stat_num leased) tasks"
step -120000
poll_until 15 "worker A's lease to expire after a -120 s step" \
    stat_ge leases_expired 1
start_workers workersB -j 2 --batch-size 50
wait_pid "$C2" 60 || fail "job 2: the client did not finish in $(secs 60) s"
((WAIT_STATUS == 0)) || fail "job 2: the client exited $WAIT_STATUS"
check_squares "$T/job2.out" "$M" || fail "job 2: results not exactly once"
[ "$(stat_num jobs_expired)" = 0 ] || fail "job 2 was dropped"
# A server whose clock went back before its own start must not refuse its
# peers (or its watchdog's probe) as older than that start.
[ "$(stat_num listener_restarts)" = 0 ] ||
    fail "the listener was replaced $(stat_num listener_restarts) times"
[ "$(stat_num leases_disconnected)" = 0 ] ||
    fail "$(stat_num leases_disconnected) lease(s) ended by a disconnection"
[ "$(stat_num auth_replays)" = 0 ] ||
    fail "$(stat_num auth_replays) request(s) refused for their stamp"
kill_group "$A" CONT
log "ok: leases and job TTLs ignore wall clock steps of +60 s and -120 s"
