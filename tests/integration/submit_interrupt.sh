# submit_interrupt: Ctrl-C (SIGINT) or SIGTERM of an attached `tasq
# submit` cancels its job (issue 13) with Cancel, which stops the tasks
# running too (then CloseJob): the client says so and exits 128 + the
# signal, and no job is left behind (`tasq jobs` empty, no task ready),
# whether it was waiting for a worker or its tasks were running. With
# --detach-on-interrupt the job is left running, detached: the client
# prints its id and how to read its results, and `tasq results --wait`
# prints every one of them in input order.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 90

start_server

listed() { client jobs 2>/dev/null | grep -Eq '^[0-9a-f]{16} '; }
no_jobs() {
	client jobs >"$T/jobs.out" 2>/dev/null &&
	    ! grep -Eq '^[0-9a-f]{16} ' "$T/jobs.out"
}
ready_tasks() { client stats --json | grep -o '"ready":[0-9]*' | head -n 1; }

# (a) No worker yet: the job waits; SIGINT cancels it.
spawn_client "$T/a.out" "$T/a.err" submit --range 1:200000
A=$SPAWNED_PID
wait_until 20 listed || fail "(a) the job was never listed"
kill -INT "$A"
wait_exit "$A" 20 || fail "(a) the client did not end after SIGINT"
((EXIT_STATUS == 130)) || fail "(a) exit $EXIT_STATUS, want 130: $(cat "$T/a.err")"
grep -Eq 'interrupted: job [0-9a-f]{16} cancelled' "$T/a.err" ||
    fail "(a) stderr: $(cat "$T/a.err")"
wait_until 10 no_jobs || fail "(a) a job is left: $(cat "$T/jobs.out")"
[ "$(ready_tasks)" = '"ready":0' ] || fail "(a) tasks left: $(ready_tasks)"

# (b) Tasks running (a handler that takes its time): SIGTERM cancels the
# job; the results that come in after are refused, and nothing stays.
start_workers -j 2 --batch-size 20 --type slow=exec-each:"sleep 0.05; cat"
seq 1 5000 >"$T/in"
spawn_client "$T/b.out" "$T/b.err" submit --type slow --file "$T/in"
B=$SPAWNED_PID
some_out() { [ -s "$T/b.out" ]; }
wait_until 30 some_out || fail "(b) no result printed: $(cat "$T/b.err")"
kill -TERM "$B"
wait_exit "$B" 20 || fail "(b) the client did not end after SIGTERM"
((EXIT_STATUS == 143)) || fail "(b) exit $EXIT_STATUS, want 143: $(cat "$T/b.err")"
grep -Eq 'terminated: job [0-9a-f]{16} cancelled \([0-9]+ queued tasks dropped, [0-9]+ running tasks told to stop\)' "$T/b.err" ||
    fail "(b) stderr: $(cat "$T/b.err")"
wait_until 10 no_jobs || fail "(b) a job is left: $(cat "$T/jobs.out")"
(($(wc -l <"$T/b.out") < 5000)) || fail "(b) every task ran: nothing was cancelled"
v=$(counter tasks_redelivered) || fail "no stats"
((v == 0)) || fail "(b) tasks_redelivered is $v, want 0"

# (c) --detach-on-interrupt: SIGINT leaves the job running, detached.
# 600 tasks: every one of them runs (a process each) before the check,
# which 5000 did not always do within the budget on a loaded machine.
seq 1 600 >"$T/in.c"
spawn_client "$T/c.out" "$T/c.err" submit --detach-on-interrupt --type slow \
    --file "$T/in.c"
C=$SPAWNED_PID
some_c() { [ -s "$T/c.out" ]; }
wait_until 30 some_c || fail "(c) no result printed: $(cat "$T/c.err")"
kill -INT "$C"
wait_exit "$C" 20 || fail "(c) the client did not end after SIGINT"
((EXIT_STATUS == 130)) || fail "(c) exit $EXIT_STATUS, want 130: $(cat "$T/c.err")"
grep -Eq 'interrupted: job [0-9a-f]{16} left running, detached, with 600 tasks; its results .*: tasq results --wait [0-9a-f]{16}' "$T/c.err" ||
    fail "(c) stderr: $(cat "$T/c.err")"
CJ=$(grep -Eo 'job [0-9a-f]{16} left' "$T/c.err" | cut -d' ' -f2)
(($(wc -l <"$T/c.out") < 600)) || fail "(c) every result came before the interrupt"
client jobs | grep -Eq "^$CJ +default +slow +(running|done) +600 " ||
    fail "(c) the job is not listed as running: $(client jobs)"
client results --wait "$CJ" >"$T/c.res" || fail "(c) tasq results failed"
cmp -s "$T/in.c" "$T/c.res" || fail "(c) results differ from the input: $(diff "$T/in.c" "$T/c.res" | head -3)"
client status --json "$CJ" | grep >/dev/null -c '"state":"done".*"detached":true' ||
    fail "(c) status: $(client status --json "$CJ")"
# (d) An attached submit whose job someone else cancels: it prints what
# it had, says so, exits 1 and leaves no job behind.
spawn_client "$T/d.out" "$T/d.err" submit --type slow --file "$T/in"
D=$SPAWNED_PID
some_d() { [ -s "$T/d.out" ]; }
wait_until 30 some_d || fail "(d) no result printed: $(cat "$T/d.err")"
DJ=$(client jobs | awk '$4 == "open" { print $1; exit }')
[ -n "$DJ" ] || fail "(d) the attached job is not listed: $(client jobs)"
client cancel "$DJ" >/dev/null || fail "(d) tasq cancel failed"
wait_exit "$D" 20 || fail "(d) the client did not end after the cancel"
((EXIT_STATUS == 1)) || fail "(d) exit $EXIT_STATUS, want 1: $(cat "$T/d.err")"
grep -Eq "job $DJ was cancelled \(tasq cancel\): [0-9]+ results printed" "$T/d.err" ||
    fail "(d) stderr: $(cat "$T/d.err")"
d_gone() {
	client jobs >"$T/jobs.out" 2>/dev/null && ! grep -q "^$DJ " "$T/jobs.out"
}
wait_until 10 d_gone || fail "(d) the job is left: $(cat "$T/jobs.out")"

# With --detach too: refused.
client submit --detach --detach-on-interrupt 1 >/dev/null 2>&1
rc=$?
((rc == 2)) || fail "--detach with --detach-on-interrupt: exit $rc, want 2"

test_end
