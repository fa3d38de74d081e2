# cancel_running: `tasq cancel` reaches work already running (issue 13).
# 10,000 tasks that each sleep 10 s (an exec-each handler) on 8 worker
# slots (two worker processes of 4 commands each; its first 8 tasks are
# quick); after `tasq cancel`, within two heartbeat periods (a quarter
# of the lease each) no handler process of the job is left, none of its
# tasks was redelivered or dead-lettered, its state is cancelled (jobs,
# status --json), the 8 results it had are readable (tasq results), a
# second cancel is a no-op, cancelling an unknown job or a done one says
# so; a second job on the same queue and type, submitted afterwards,
# finishes with correct results. With --data-dir, across a kill -9 of
# the server, the job stays cancelled with its 8 results.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 120

LEASE_MS=4000
PERIOD_MS=$((LEASE_MS / 4)) # the worker's heartbeat period
mkdir -p "$T/data"
start_server --lease "${LEASE_MS}ms" --data-dir "$T/data"
# A payload "slow" sleeps 10 s; any other x answers "r x".
handler='read x; if [ "$x" = slow ]; then exec sleep 10; fi; echo "r $x"'
start_workers -j 2 --pipeline 1 --batch-size 4 --exec-each-jobs 4 \
    --type "job=exec-each:$handler"
SUP=$SPAWNED_PID

# The handler processes running now: children of the worker processes.
handlers() {
	local w
	for w in $(worker_children "$SUP"); do
		pgrep -P "$w" 2>/dev/null
	done
}
nhandlers() { handlers | wc -l; }
eight_running() { [ "$(nhandlers)" -ge 8 ]; }

{
	seq -f 'f%g' 1 8
	yes slow | head -n 9992
} >"$T/slow.in"
seq -f 'r f%g' 1 8 >"$T/kept.want"
JOB=$(client submit --detach --type job --file "$T/slow.in") ||
    fail "detached submit failed"
log "job $JOB: 8 quick tasks, then 9992 of 10 s"
wait_until 30 eight_running || fail "8 handlers never ran: $(nhandlers)"
before=$(handlers | sort | tr '\n' ' ')

t0=$(date +%s%N)
client cancel "$JOB" >"$T/cancel.out" 2>"$T/cancel.err" ||
    fail "cancel failed: $(cat "$T/cancel.err")"
grep -Eq "^job $JOB cancelled: [0-9]+ queued tasks dropped, 8 running tasks told to stop\$" \
    "$T/cancel.out" || fail "cancel said: $(cat "$T/cancel.out")"
none_running() { [ "$(nhandlers)" -eq 0 ]; }
wait_until 30 none_running || fail "handlers still running: $(nhandlers)"
ms=$((($(date +%s%N) - t0) / 1000000))
log "no handler left ${ms} ms after the cancel (heartbeat period ${PERIOD_MS} ms)"
((ms <= 2 * PERIOD_MS * FACTOR)) ||
    fail "handlers ran ${ms} ms after the cancel, more than two heartbeat periods"
for p in $before; do
	! kill -0 "$p" 2>/dev/null || fail "handler $p still alive"
done
# The worker processes themselves are untouched.
[ "$(worker_children "$SUP" | wc -l)" -eq 2 ] || fail "worker processes changed"
grep -q 'job(s) cancelled' "$T"/worker-1.log ||
    fail "the worker did not say it stopped the job"

# Its state, everywhere; nothing redelivered or dead-lettered.
client status --json "$JOB" >"$T/st.json" || fail "status failed"
grep -q '"state":"cancelled","submitted":10000,"completed":8' "$T/st.json" ||
    fail "status --json: $(cat "$T/st.json")"
client jobs | grep -Eq "^$JOB +default +job +cancelled +10000 +8 +0 " ||
    fail "tasq jobs: $(client jobs)"
# kept_results FILE: tasq results prints the 8 results it had, exit 1.
kept_results() {
	local rc
	client results "$JOB" >"$1" 2>"$1.err"
	rc=$?
	((rc == 1)) && cmp -s "$T/kept.want" "$1" &&
	    grep -q 'was cancelled' "$1.err" ||
	    fail "results of the cancelled job: exit $rc: $(cat "$1" "$1.err")"
}
kept_results "$T/res.out"
client cancel "$JOB" >"$T/again.out" || fail "a second cancel failed"
grep -q "^job $JOB is cancelled" "$T/again.out" ||
    fail "a second cancel said: $(cat "$T/again.out")"
client cancel 0123456789abcdef >/dev/null 2>"$T/unk.err"
rc=$?
((rc == 1)) && grep -q 'NOT_FOUND' "$T/unk.err" ||
    fail "cancel of an unknown job: exit $rc: $(cat "$T/unk.err")"

# A second job on the same queue and type runs normally.
seq 1 200 >"$T/fast.in"
client submit --type job --file "$T/fast.in" >"$T/fast.out" ||
    fail "the second job failed"
sed 's/^/r /' "$T/fast.in" | cmp -s - "$T/fast.out" ||
    fail "the second job's results are wrong: $(head -3 "$T/fast.out")"
DONE=$(client submit --detach --type job --file "$T/fast.in") ||
    fail "a third, detached job failed"
client wait "$DONE" >/dev/null || fail "the third job did not finish"
client cancel "$DONE" >/dev/null 2>"$T/done.err"
rc=$?
((rc == 1)) && grep -q 'FAILED_PRECONDITION.*the job is done' "$T/done.err" ||
    fail "cancel of a done job: exit $rc: $(cat "$T/done.err")"

v=$(counter tasks_redelivered) || fail "no stats"
((v == 0)) || fail "tasks_redelivered is $v, want 0"
v=$(counter tasks_dead_lettered) || fail "no stats"
((v == 0)) || fail "tasks_dead_lettered is $v, want 0"
client dead list >"$T/dead.out" 2>&1
! grep -q "$JOB" "$T/dead.out" || fail "dead letters of the job: $(cat "$T/dead.out")"

# kill -9 and a restart on the same data directory: still cancelled.
kill -KILL "$SERVER_PID"
wait_until 10 _not_running "$SERVER_PID" || fail "the server did not die"
EXPECT_EXIT=() # it died of SIGKILL, as asked
start_server --lease "${LEASE_MS}ms" --data-dir "$T/data"
client status --json "$JOB" >"$T/st2.json" || fail "status after restart failed"
grep -q '"state":"cancelled","submitted":10000,"completed":8' "$T/st2.json" ||
    fail "after a restart: $(cat "$T/st2.json")"
kept_results "$T/res2.out"
sleep_check() { [ "$(queue_field default 2)" = 0 ]; }
wait_until 10 sleep_check || fail "tasks of the job are ready again after a restart"
((nh = $(nhandlers), nh == 0)) || fail "$nh handlers run after the restart"

test_end
