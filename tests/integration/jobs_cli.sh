# jobs_cli: the job commands of issue 13 end to end. An attached
# `tasq submit` is in `tasq jobs` (state open, its host) while it waits
# for a worker, `tasq results` refuses it (not detached), and it ends as
# before (every result, exit 0; gone from the list). A detached job with
# failing tasks: `tasq wait` exits 3, `tasq results` prints the errors in
# place and exits 3, --json gives one object per result. A detached job
# no worker serves: `tasq results` without --wait prints nothing and
# exits 1 (not done), `tasq status` says no worker serves it. A bad job
# id exits 2; an unknown one exits 1, NOT_FOUND "unknown or expired".
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 90

start_server
host=$(hostname)

# An attached submit with no worker yet: it is listed while it waits.
spawn_client "$T/att.out" "$T/att.err" submit --range 1:300
ATT=$SPAWNED_PID
listed() {
	client jobs >"$T/jobs.out" 2>/dev/null &&
	    grep -Eq "^[0-9a-f]{16} +default +square +open +300 +0 +0 .* $host\$" \
	        "$T/jobs.out"
}
wait_until 20 listed || fail "attached job not listed: $(cat "$T/jobs.out")"
JOB=$(awk 'NR == 2 { print $1 }' "$T/jobs.out")
client status --json "$JOB" >"$T/st.json" || fail "status $JOB failed"
grep -q '"detached":false' "$T/st.json" || fail "status: $(cat "$T/st.json")"
client results "$JOB" >/dev/null 2>"$T/res.err"
rc=$?
((rc == 1)) || fail "results of an attached job: exit $rc, want 1"
grep -q 'FAILED_PRECONDITION.*not detached' "$T/res.err" ||
    fail "results of an attached job: $(cat "$T/res.err")"

start_workers -j 2 --type square=builtin:square --type no=exec-each:false
wait_exit "$ATT" 60 || fail "the attached submit did not finish"
((EXIT_STATUS == 0)) || fail "attached submit: exit $EXIT_STATUS: $(cat "$T/att.err")"
check_squares "$T/att.out" 1 300
gone() { client jobs 2>/dev/null | grep >/dev/null -c "^$JOB" && return 1 || return 0; }
wait_until 10 gone || fail "the attached job is still listed after its end"

# A detached job with failures: wait and results exit 3.
FJ=$(client submit --detach --type no --max-attempts 1 a b c) ||
    fail "detached submit failed"
client wait "$FJ" >"$T/wait.out"
rc=$?
((rc == 3)) || fail "tasq wait of a job with failures: exit $rc, want 3"
grep -q "tasks 3 submitted, 3 done, 3 failed" "$T/wait.out" ||
    fail "wait output: $(cat "$T/wait.out")"
client results "$FJ" >"$T/fail.out"
rc=$?
((rc == 3)) || fail "results of a job with failures: exit $rc, want 3"
[ "$(grep -c '^error: ' "$T/fail.out")" = 3 ] ||
    fail "results with failures: $(cat "$T/fail.out")"
client results --json "$FJ" >"$T/fail.json"
[ "$(grep -c '^{"index":[0-2],"code":"[A-Z_]*","error":' "$T/fail.json")" = 3 ] ||
    fail "results --json: $(cat "$T/fail.json")"

# A detached job of a type no worker serves: not done.
NJ=$(client submit --detach --type nobody x y) || fail "detached submit failed"
client results "$NJ" >"$T/nw.out" 2>"$T/nw.err"
rc=$?
((rc == 1)) || fail "results of a job not done: exit $rc, want 1"
[ ! -s "$T/nw.out" ] || fail "results of a job not done printed $(cat "$T/nw.out")"
grep -q 'not done yet' "$T/nw.err" || fail "results not done: $(cat "$T/nw.err")"
no_worker_said() {
	client status "$NJ" >"$T/nw.st" && grep -q 'no connected worker' "$T/nw.st"
}
wait_until 10 no_worker_said || fail "status: $(cat "$T/nw.st")"
client status --json "$NJ" | grep >/dev/null -c '"state":"running","submitted":2,"completed":0' ||
    fail "status --json of a job not done"

# Job ids.
client status nothex >/dev/null 2>&1
rc=$?
((rc == 2)) || fail "a bad job id: exit $rc, want 2"
client status 0123456789abcdef >/dev/null 2>"$T/unk.err"
rc=$?
((rc == 1)) || fail "an unknown job: exit $rc, want 1"
grep -q 'NOT_FOUND: unknown or expired' "$T/unk.err" ||
    fail "an unknown job: $(cat "$T/unk.err")"
test_end
