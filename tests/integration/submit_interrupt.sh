# submit_interrupt: Ctrl-C (SIGINT) or SIGTERM of an attached `tasq
# submit` cancels its job (issue 13): the client says so and exits 128 +
# the signal, and no job is left behind (`tasq jobs` empty, no task
# ready), whether it was waiting for a worker or its tasks were running.
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
grep -Eq 'terminated: job [0-9a-f]{16} cancelled' "$T/b.err" ||
    fail "(b) stderr: $(cat "$T/b.err")"
wait_until 10 no_jobs || fail "(b) a job is left: $(cat "$T/jobs.out")"
(($(wc -l <"$T/b.out") < 5000)) || fail "(b) every task ran: nothing was cancelled"

test_end
