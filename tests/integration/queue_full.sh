# queue_full: a server that holds at most 2,000 tasks (--max-tasks)
# answers RESOURCE_EXHAUSTED to a client submitting 50,000 in batches of
# 500; the client backs off and retries, and still gets every result
# exactly once, in order. Then the same for jobs of one batch, which
# travel inside their first Fetch: with the workers stopped, one job
# holds 1,500 tasks and a second of 1,000 is refused until the first is
# done once workers return. (max_tasks_batch.sh: a batch that can never
# fit.)
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 120

n=$((50000 / SCALE))
start_server --max-tasks 2000
# The submit starts before the workers, so that the server is full for
# certain (n tasks > --max-tasks, nobody draining): with workers already
# there, whether a batch is ever refused depended on who was faster (a
# TSan run once finished without a refusal).
spawn_client "$T/out" "$T/client.log" submit --range "1:$n" --batch-size 500
c=$SPAWNED_PID
refused() { counter_ge requests_resource_exhausted 1; }
wait_until 30 refused || fail "the full server never refused a batch"
start_workers -j 2 --batch-size 200
WORKERS=$SPAWNED_PID
expect_exit "$WORKERS" 0
wait_exit "$c" 120 || fail "the submit did not finish"
[ "$EXIT_STATUS" = 0 ] ||
    fail "submit exited $EXIT_STATUS: $(cat "$T/client.log")"
check_squares "$T/out" 1 "$n"

exhausted=$(counter requests_resource_exhausted)
[ "${exhausted:-0}" -gt 0 ] ||
    fail "requests_resource_exhausted is ${exhausted:-?}, want > 0"
[ "$(counter tasks_submitted)" = "$n" ] ||
    fail "tasks_submitted $(counter tasks_submitted), want $n"
[ "$(counter tasks_completed)" = "$n" ] || fail "tasks_completed != $n"
log "requests_resource_exhausted $exhausted"

# --- jobs of one batch (the batch rides on the first Fetch) -------------
stop "$WORKERS"
spawn_client "$T/a.out" "$T/a.err" submit --range 1:1500
a=$SPAWNED_PID
a_queued() { [ "$(queue_field default 2)" = 1500 ]; }
wait_until 30 a_queued || fail "job A's 1500 tasks never queued"
before=$(counter requests_resource_exhausted)
spawn_client "$T/b.out" "$T/b.err" submit --range 1:1000
b=$SPAWNED_PID
b_refused() { counter_ge requests_resource_exhausted $((before + 1)); }
wait_until 30 b_refused || fail "job B was never refused"
pid_alive "$b" || fail "job B's client gave up: $(cat "$T/b.err")"
start_workers -j 2 --batch-size 200
WORKERS=$SPAWNED_PID
wait_exit "$a" 60 || fail "job A did not finish"
[ "$EXIT_STATUS" = 0 ] || fail "job A exited $EXIT_STATUS: $(cat "$T/a.err")"
wait_exit "$b" 60 || fail "job B did not finish"
[ "$EXIT_STATUS" = 0 ] || fail "job B exited $EXIT_STATUS: $(cat "$T/b.err")"
check_squares "$T/a.out" 1 1500
check_squares "$T/b.out" 1 1000
grep -q 'submit: .*retrying' "$T/b.err" ||
    fail "job B's client did not say why it waited: $(cat "$T/b.err")"
refused=$(($(counter requests_resource_exhausted) - before))
log "one-batch jobs: B refused $refused time(s) while A held the server," \
    "then both right"

test_end
