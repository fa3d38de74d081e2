# half_frames: peers that have not authenticated cannot hold more memory
# than docs/SECURITY.md states: --max-unauthenticated x --max-message
# (here 16 x 4 MiB = 64 MiB), however many connect, and each such
# connection is closed --auth-timeout (here 3 s) after it was accepted,
# plus at most the 1 s of the reaper's tick.
# A worker and a client running a job are connected first. Then STALLS
# connections each announce a frame of --max-message minus 64 bytes and
# send HALF of it (2 MiB, which nng writes into the frame's buffer) and
# stop. Checked: the server's peak resident memory (VmHWM) grows by less
# than the bound; the connections over the limit are refused
# (connections_refused_unauthenticated), the others are closed within
# the deadline (connections_auth_timeout); the job completes with every
# result and no lease is lost (leases_disconnected 0).
# In tasq at 06c7a38 the 100 frames held about 200 MiB until
# --idle-timeout (2 min). Sanitizer runtimes fill what they allocate, so
# there (TASQ_SANITIZE set) the growth is printed, not checked.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 120
MAX=$((4 * 1024 * 1024))
UNAUTH=16
AUTH_S=3
STALLS=100
N=3000

hwm_kb() {
	awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"
}
start_server main --max-message "$MAX" --max-unauthenticated "$UNAUTH" \
    --auth-timeout "${AUTH_S}s" --idle-timeout 2m
start_worker -j 1 --batch-size 50 --task-delay 2ms
client submit --batch-size 500 --range "1:$N" >"$T/job.out" 2>"$T/job.err" &
job=$!
leased() { [ "$(counter tasks_leased)" -ge 1 ]; }
wait_until 30 leased || fail "the worker leased nothing"
refused0=$(counter connections_refused_unauthenticated) || fail "stats"
hwm0=$(hwm_kb "$SERVER_PID")

"${PEER[@]}" hold "$PORT" "$STALLS" --sp --frame $((MAX - 64)) \
    --payload $((MAX / 2)) --secs $((30 * FACTOR)) >"$T/stalls.log" 2>&1 &
stalls=$!
wait_until 30 grep -q "^open $STALLS" "$T/stalls.log" ||
    fail "the stalling peer did not connect: $(cat "$T/stalls.log")"
hwm1=$(hwm_kb "$SERVER_PID")
grow=$(((hwm1 - hwm0) / 1024))
log "VmHWM before ${hwm0} KiB, with $STALLS half frames ${hwm1} KiB" \
    "(+$grow MiB; bound $((UNAUTH * MAX / 1048576)) MiB)"
if [ -n "${TASQ_SANITIZE:-}" ]; then
	log "sanitizer build ($TASQ_SANITIZE): memory growth not checked"
else
	((hwm1 - hwm0 < UNAUTH * MAX / 1024)) ||
	    fail "VmHWM grew by $grow MiB for $STALLS half frames, more" \
	    "than --max-unauthenticated x --max-message"
fi

# Every one closed within the deadline (counted from "open", which is
# after the last was accepted).
wait_until $((AUTH_S + 10)) grep -q "^closed $STALLS after" "$T/stalls.log" ||
    fail "half frames still open $((AUTH_S + 10)) s later:" \
    "$(tail -n 1 "$T/stalls.log")"
last=$(awk '/^closed/ { t = $4 } END { print int(t) }' "$T/stalls.log")
log "all $STALLS closed, the last after $last s"
((last <= (AUTH_S + 2) * FACTOR)) ||
    fail "the last half frame was closed after $last s, deadline" \
    "$AUTH_S s + 1 s"
wait "$stalls"

wait_until 60 _gone "$job" || fail "the job did not finish"
wait "$job" || fail "the job failed: $(cat "$T/job.err")"
check_squares "$T/job.out" 1 "$N"
refused=$(($(counter connections_refused_unauthenticated) - refused0))
timedout=$(counter connections_auth_timeout)
lost=$(counter leases_disconnected)
log "connections_refused_unauthenticated +$refused," \
    "connections_auth_timeout $timedout, leases_disconnected $lost"
((refused + timedout >= STALLS)) ||
    fail "refused $refused + timed out $timedout < $STALLS"
((timedout >= 1 && timedout <= STALLS)) ||
    fail "connections_auth_timeout $timedout"
[ "$lost" = 0 ] || fail "leases_disconnected $lost"
assert_serving "the half frames"
test_end
