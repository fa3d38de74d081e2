# cancel_plugin: a plugin of handler ABI version 2 sees the cancel flag
# (docs/HANDLERS.md 5.1). The test plugin (worker/handler_test_plugin.c,
# TEST_CANCEL) writes DIR/started, then polls in->cancelled for up to a
# minute and writes DIR/seen-cancel when it is set. One task, two lease
# threads: while one thread runs the task, the other waits in a Lease;
# the cancel wakes that Lease, whose reply names the first thread's lease
# (LeaseReply.cancelled), so the plugin sees the flag long before the
# first heartbeat of the 60 s lease would have asked (15 s). The job ends
# cancelled with no redelivery; the worker process is not restarted.
# Then a lease that holds batches of two jobs (a and b, of one task each):
# cancelling a stops a's batch only (the worker asks JobStatus which job
# it was), b's batch runs next; cancelling b then stops that one.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
: "${TASQ_TEST_PLUGIN_CANCEL:?set by CMake: the test plugin}"
test_begin 90

mkdir -p "$T/p"
start_server --lease 60s
start_workers -j 1 --pipeline 2 --batch-size 1 \
    --type "slow=plugin:$TASQ_TEST_PLUGIN_CANCEL $T/p"
SUP=$SPAWNED_PID
started() { [ -s "$T/p/started" ]; }
seen() { [ -s "$T/p/seen-cancel" ]; }

JOB=$(client submit --detach --type slow x) || fail "detached submit failed"
wait_until 20 started || fail "the plugin never started the task"
w0=$(worker_children "$SUP")
t0=$(date +%s%N)
client cancel "$JOB" >"$T/cancel.out" 2>"$T/cancel.err" ||
    fail "cancel failed: $(cat "$T/cancel.err")"
grep -q "1 running task told to stop" "$T/cancel.out" ||
    fail "cancel said: $(cat "$T/cancel.out")"
wait_until 10 seen || fail "the plugin never saw the cancel flag"
ms=$((($(date +%s%N) - t0) / 1000000))
log "the plugin saw the flag ${ms} ms after the cancel"
((ms < 5000 * FACTOR)) ||
    fail "the plugin saw the flag only after ${ms} ms (the heartbeat's, not the Lease reply's)"
[ "$(cat "$T/p/seen-cancel")" = x ] || fail "seen-cancel: $(cat "$T/p/seen-cancel")"
[ "$(cat "$T/p/started")" = x ] || fail "the task ran again: $(cat "$T/p/started")"

client status --json "$JOB" | grep >/dev/null -c '"state":"cancelled","submitted":1,"completed":0' ||
    fail "status: $(client status --json "$JOB")"
v=$(counter tasks_redelivered) || fail "no stats"
((v == 0)) || fail "tasks_redelivered is $v, want 0"
[ "$(worker_children "$SUP")" = "$w0" ] || fail "the worker process was restarted"
# The lease ends once its empty result batch is in: nothing leased.
nothing_leased() { [ "$(queue_field default 3)" = 0 ]; }
wait_until 10 nothing_leased || fail "the cancelled lease is still held"

# Two jobs in one lease: submitted before their worker starts.
mkdir -p "$T/q"
JA=$(client submit --detach --queue two --type slow2 a) || fail "submit a"
JB=$(client submit --detach --queue two --type slow2 b) || fail "submit b"
start_workers -j 1 --pipeline 2 --batch-size 4 --queue two \
    --type "slow2=plugin:$TASQ_TEST_PLUGIN_CANCEL $T/q"
started_is() { [ "$(cat "$T/q/started" 2>/dev/null)" = "$1" ]; }
seen_is() { [ "$(cat "$T/q/seen-cancel" 2>/dev/null)" = "$1" ]; }
wait_until 20 started_is a || fail "a never started: $(cat "$T/q/started")"
client cancel "$JA" >/dev/null || fail "cancel a failed"
wait_until 10 seen_is a || fail "a's batch did not stop: $(cat "$T/q/seen-cancel")"
wait_until 10 started_is ab || fail "b's batch did not run after a's cancel"
client cancel "$JB" >/dev/null || fail "cancel b failed"
wait_until 10 seen_is ab || fail "b's batch did not stop: $(cat "$T/q/seen-cancel")"
# Both in one lease: the same lease id, named once for each job.
lines=$(grep -Eo 'lease [0-9a-f]+: 1 job\(s\) cancelled' "$T/worker-2.log" |
    sort | uniq -c | awk '{ print $1 }')
[ "$lines" = 2 ] || fail "not one lease of two jobs: $(grep cancelled "$T/worker-2.log")"
client status --json "$JB" | grep >/dev/null -c '"state":"cancelled"' || fail "b is not cancelled"
v=$(counter tasks_redelivered) || fail "no stats"
((v == 0)) || fail "tasks_redelivered is $v, want 0"

test_end
