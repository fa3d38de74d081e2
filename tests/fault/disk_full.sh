# disk_full: the data directory on a 2 MiB tmpfs that is then filled up.
#  - submissions fail with RESOURCE_EXHAUSTED (the journal cannot be
#    written) and the client says so;
#  - the server keeps answering health and stats;
#  - once space is freed, journal writes succeed again by themselves and
#    new submissions are accepted;
#  - nothing acknowledged is lost: after a SIGKILL and a restart every
#    acknowledged task is still queued, and the waiting clients get all
#    their results exactly once;
#  - a server whose journal cannot be written still stops on SIGTERM.
# Skipped (77) when a tmpfs cannot be mounted (not root, no CAP_SYS_ADMIN).
. "$(dirname "$0")/lib.sh"
test_begin 120

MNT=$T/mnt
mkdir "$MNT"
mount -t tmpfs -o size=2m tmpfs "$MNT" 2>/dev/null ||
    skip "cannot mount a tmpfs here"
at_exit "umount -l '$MNT'"
problems=()

# fill: fills the tmpfs (dd stops at ENOSPC).
fill() {
	dd if=/dev/zero of="$MNT/filler" bs=4k status=none 2>/dev/null
	(($(df --output=avail -B1 "$MNT" | tail -n 1) == 0)) ||
	    fail "the tmpfs is not full"
}

start_server --data-dir "$MNT/data" --fsync always
start_submit job1 --range 1:2000 --batch-size 500
JOB1=$SPAWNED_PID
poll_until 30 "job 1 queued" stat_is ready 2000

fill
log "disk full"
# A submission now: its batches cannot be journaled. The client gives up
# at its --timeout and must say why.
client --request-timeout 2s submit --range 1:20000 --batch-size 5000 \
    --timeout 5s >/dev/null 2>"$T/job2.err"
st=$?
((st != 0)) || fail "a submission succeeded on a full disk"
# Either a write found no room, or the reserve (room for a snapshot)
# could not grow first and new tasks were refused before any write.
grep -qE "journal write failed: No space left on device|is nearly full" \
    "$SERVER_LOG" || fail "the server did not log the full disk"
log "job 2 on a full disk: exit $st: $(head -c 300 "$T/job2.err")"
if ! grep -qE "RESOURCE_EXHAUSTED|UNAVAILABLE|journal|disk|space" \
    "$T/job2.err"; then
	problems+=("on a full disk the client reports only \"$(head -c 200 \
	    "$T/job2.err")\", not why (RESOURCE_EXHAUSTED: the journal \
cannot be written); the reason shows only with --log-level debug")
fi
# The status itself reaches the client (visible at debug level).
client --request-timeout 2s --log-level debug submit --range 1:100 \
    --timeout 2s >/dev/null 2>"$T/job3.err"
grep -q "RESOURCE_EXHAUSTED: the journal cannot be written" "$T/job3.err" ||
    fail "submissions on a full disk do not get RESOURCE_EXHAUSTED:" \
    "$(head -c 300 "$T/job3.err")"
client --request-timeout 2s health >/dev/null ||
    fail "health fails while the disk is full"
[ -n "$(stats_json)" ] || fail "stats fails while the disk is full"
log "full disk: RESOURCE_EXHAUSTED for submissions; health and stats served"

rm -f "$MNT/filler"
poll_until 15 "journal writes to succeed again" grep -qE \
    "journal writes succeed again|room for a snapshot again" "$SERVER_LOG"
before=$(stat_num ready)
start_submit job4 --range 1:1000 --batch-size 500
JOB4=$SPAWNED_PID
poll_until 30 "job 4 queued after space was freed" \
    stat_is ready $((before + 1000))
acked=$((before + 1000))
log "space freed: new submissions accepted; $acked tasks queued"

kill_server KILL
restart_server
[ "$(stat_num ready)" = "$acked" ] ||
    fail "after a SIGKILL and restart ready is $(stat_num ready), not $acked"
start_workers workers -j 2
# job_done PID NAME N: the waiting client NAME got all N results.
job_done() {
	wait_pid "$1" 60 || fail "$2 did not finish"
	((WAIT_STATUS == 0)) || fail "$2 exited with $WAIT_STATUS"
	check_squares "$T/$2.out" "$3" || fail "$2: wrong results"
}
job_done "$JOB1" job1 2000
job_done "$JOB4" job4 1000
log "after the restart: nothing acknowledged lost; jobs 1 and 4 complete"
kill_spawned "$SPAWNED_PID"

# SIGTERM while the journal cannot be written.
fill
client --request-timeout 1s submit --range 1:20000 --batch-size 5000 \
    --timeout 2s >/dev/null 2>&1
poll_until 10 "the journal to fail again" \
    test "$(grep -cE "journal write failed|is nearly full" "$SERVER_LOG")" -ge 1
kill -TERM "$SERVER_PID"
if ! wait_pid "$SERVER_PID" 15; then
	problems+=("on SIGTERM while its journal cannot be written the \
server does not exit in $(secs 15) s (the journal writer retries its \
failed write forever and tasq_journal_close waits for it)")
	kill_server KILL
else
	log "SIGTERM with a full disk: server exited with $WAIT_STATUS"
fi

if ((${#problems[@]} > 0)); then
	for p in "${problems[@]}"; do
		log "problem: $p"
	done
	fail "${#problems[@]} problem(s) on a full disk"
fi
log "ok"
