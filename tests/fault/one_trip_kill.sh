# one_trip_kill: a job small enough for one batch travels inside its first
# Fetch (FetchRequest.submit, docs/PROTOCOL.md 9.6). The server, with
# --data-dir and --fsync always, is killed with SIGKILL twice:
#
#  1. while job 1's carrying Fetch is parked (no workers yet): the batch
#     must be recovered from the journal, the client must send the same
#     request again by itself and be answered duplicate = true, and the
#     queue must count the job's tasks once (submitted N, not 2N);
#  2. while job 2's tasks are being worked on and its client's Fetch,
#     plain by now, is parked waiting for results.
#
# Each time the client must exit 0 with every result exactly once, right
# and in input order. No sleep synchronises: stats, the client's log and
# the server's ready file are polled under deadlines.
. "$(dirname "$0")/lib.sh"
test_begin 120

N=$(scaled 5000) # well under the client's default --batch-size (16384)
M=$(scaled 5000)
# Slow workers and small leases: job 2's results come in many deliveries,
# its client's Fetch mostly parked between them, for about 10 s times
# FACTOR (the delay grows with SCALE as the task count shrinks), so that
# the kill lands well inside it even when every stats call is slow (a CI
# dry run at load 10 saw 2.5 s of it pass between two stats calls).
DELAY=$((4 * SCALE * FACTOR < 40 ? 4 * SCALE * FACTOR : 40))ms
# No compaction in this test (it writes well under 1 MiB): a compaction
# drops closed jobs, and with them what the replay adds to `submitted`.
start_server --data-dir "$T/data" --fsync always --compact-bytes 1GiB

# retry_line NAME: the client's first "retrying" warning, if any. It is
# the first one the client printed (they are rate-limited to one in 5 s,
# the first always shown), and names the request that failed: "submit"
# for a Fetch that carried the batch, "fetch" for a plain one.
retry_line() {
	grep -m 1 -E 'warn: [a-z]+: .*; retrying' "$T/$1.err"
}

# read_counts: S_READY, S_SUB, S_DONE (the queue's ready, submitted and
# completed) and S_DUP (submits_duplicate), from one stats snapshot.
read_counts() {
	local s
	s=$(stats_json)
	S_READY=$(json_num "$s" ready)
	S_SUB=$(json_num "$s" submitted)
	S_DONE=$(json_num "$s" completed)
	S_DUP=$(json_num "$s" submits_duplicate)
}

# ---- kill 1: the carrying Fetch is parked, no worker serves the queue ---

# The server applies the carried batch, then parks the Fetch for the
# client's --poll-wait before it answers and the client goes on with
# plain Fetches: the kill must come inside that wait. 20 s (the server's
# --max-wait is 30 s) leaves room for slow stats calls (a sanitizer
# build); the kill follows the readiness poll at once.
start_submit job1 --range "1:$N" --poll-wait 20s
CLIENT=$SPAWNED_PID
poll_until 20 "job 1's $N tasks ready" stat_is ready "$N"
alive "$CLIENT" || fail "job 1's client exited before the kill"
kill_server KILL
log "kill 1: server killed with job 1's $N tasks ready and its Fetch parked"
poll_until 20 "job 1's client to notice the kill" retry_line job1
line=$(retry_line job1)
case $line in
*'warn: submit: '*) ;;
*) fail "kill 1 came after the carrying Fetch was answered (the" \
    "client's first retry was not of the batch): $line" ;;
esac
log "kill 1: the client retries its carrying Fetch: ${line#*warn: }"

restart_server
rec=$(grep -o 'recovered [0-9]* records ([0-9]* journal bytes)' \
    "$SERVER_LOG")
log "kill 1: $rec"
# Exactly one record, job 1's SUBMIT, and at least its N 8-byte values.
if ! [[ $rec =~ ^recovered\ 1\ records\ \(([0-9]+)\  ]] ||
    ((BASH_REMATCH[1] < 8 * N)); then
	fail "kill 1: the restarted server did not recover job 1's batch" \
	    "(${rec:-no recovery line})"
fi

# The client sends its carrying Fetch again, byte for byte; the server
# already has the batch from its journal and must answer it as a
# duplicate. Still no worker: nothing moves but that resent batch. (At
# least one duplicate: a resend whose reply were lost would add another,
# harmlessly.)
resend_seen() {
	read_counts
	[ -n "$S_DUP" ] && [ -n "$S_SUB" ] && ((S_DUP > 0 || S_SUB != N))
}
poll_until 20 "job 1's resent batch to reach the server" resend_seen
((S_DUP >= 1 && S_SUB == N && S_READY == N)) ||
    fail "kill 1: after the resend: submits_duplicate $S_DUP (want 1+)," \
    "submitted $S_SUB, ready $S_READY (want $N each)"
log "kill 1: resent batch answered as a duplicate; ready $S_READY," \
    "submitted $S_SUB"

start_workers workers -j 2 --batch-size 50 --task-delay "$DELAY"
wait_pid "$CLIENT" 60 || fail "job 1's client did not finish in $(secs 60) s"
((WAIT_STATUS == 0)) || fail "job 1's client exited with $WAIT_STATUS"
check_squares "$T/job1.out" "$N" ||
    fail "job 1: results are not exactly once, right and in order"

# Stats after a restart count what the journal replays (QueueStats in
# proto/tasq.proto): the replayed SUBMIT record adds N to `submitted`, and
# the resent batch, a duplicate, adds nothing. So exactly N; a batch
# enqueued twice would make it 2N. (A batch lost by the kill and then
# taken anew would also give N: the recovery line and submits_duplicate
# above rule that out.) `completed` is N too: no result existed before
# the kill, every one was recorded by this server, once.
read_counts
if [ "$S_SUB" != "$N" ] || [ "$S_DONE" != "$N" ]; then
	fail "job 1: the queue counts submitted ${S_SUB:-?}, completed" \
	    "${S_DONE:-?}; want $N each"
fi
log "job 1: $N results exactly once; queue submitted $S_SUB, completed" \
    "$S_DONE, submits_duplicate $S_DUP"

# ---- kill 2: workers running, the client's plain Fetch parked -----------

start_submit job2 --range "1:$M"
CLIENT=$SPAWNED_PID
# Some of job 2's results already produced (so the carrying Fetch was
# answered long ago: it returns with the first results), most still to
# come.
# The poll's own snapshot is the one checked: no stats call between it
# and the kill.
job2_started() {
	c=$(stat_num completed)
	[ -n "$c" ] && ((c >= N + M / 5))
}
c=
poll_until 30 "a fifth of job 2's results" job2_started
alive "$CLIENT" || fail "job 2 ended before the kill: nothing was tested"
((c < N + M)) || fail "job 2 was done before the kill (completed $c)"
kill_server KILL
log "kill 2: server killed with $((c - N)) of job 2's $M results produced"
poll_until 20 "job 2's client to notice the kill" retry_line job2
line=$(retry_line job2)
case $line in
*'warn: fetch: '*) ;;
*) fail "kill 2: the client's first retry was not a plain Fetch: $line" ;;
esac
log "kill 2: the client retries its plain Fetch: ${line#*warn: }"

restart_server
log "kill 2: $(grep -o 'recovered .*' "$SERVER_LOG")"
wait_pid "$CLIENT" 60 || fail "job 2's client did not finish in $(secs 60) s"
((WAIT_STATUS == 0)) || fail "job 2's client exited with $WAIT_STATUS"
check_squares "$T/job2.out" "$M" ||
    fail "job 2: results are not exactly once, right and in order"

# This server replayed the whole journal (no compaction): job 1's SUBMIT
# (N), its results and close, then job 2's SUBMIT (M) and the results
# recorded before the kill; the rest of job 2's results are new, each
# counted on its first result only. So submitted N + M and completed
# N + M exactly, and no duplicate submit: job 2's client sent no batch
# after its first Fetch was answered.
read_counts
if [ "$S_SUB" != $((N + M)) ] || [ "$S_DONE" != $((N + M)) ] ||
    [ "$S_DUP" != 0 ]; then
	fail "job 2: the queue counts submitted ${S_SUB:-?}, completed" \
	    "${S_DONE:-?}, submits_duplicate ${S_DUP:-?}; want $((N + M))," \
	    "$((N + M)), 0"
fi
log "ok: both jobs' results exactly once over two kills; queue submitted" \
    "$S_SUB, completed $S_DONE (results_duplicate since the last restart:" \
    "$(stat_num results_duplicate))"
