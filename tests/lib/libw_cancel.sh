#!/usr/bin/env bash
# libw_cancel: a job cancelled while a worker on libtasq's worker side
# holds its tasks: the library hears of it (the Extend request its thread
# makes for leases held longer than a heartbeat interval: heartbeats have
# no reply), tasq_lease_cancelled turns true, and tasq_serve_run calls
# the handler for none of the remaining tasks: it gives them back. The
# worker then serves the next job right, and no lease expired.
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" || exit 2
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib_e2e.sh" || exit 2
. "$(dirname "${BASH_SOURCE[0]}")/libw_lib.sh" || exit 2
test_begin 90
: "${TASQ_LIBW_CANCEL_BIN:?set by CMake}"

# Two batches of 100 tasks of 20 ms each: 2 s each, on the worker's two
# threads, with a lease of 1 s (the thread polls every 250 ms for leases
# held longer than that); all times x FACTOR, so that the cancel comes
# mid-batch on a slow build too. Not scaled down.
n=200
lease_ms=$((1000 * FACTOR))
start_server --lease "${lease_ms}ms"
TASQ_TEST_BATCH=100 start_libw square $((20 * FACTOR))
pid=$SPAWNED_PID
job=$(client submit --detach --range "1:$n" 2>"$T/client.log") ||
    fail "submit --detach failed: $(cat "$T/client.log")"
log "job $job"
held() { [ "$(queue_field default 3)" = "$n" ]; }
wait_until 10 held || fail "the worker does not hold the job's $n tasks"
timeout $((10 * FACTOR)) "$TASQ_LIBW_CANCEL_BIN" "$URL" "$KEY" "$job" \
    >"$T/cancel.out" 2>"$T/cancel.log" ||
    fail "cancel failed: $(cat "$T/cancel.log")"
log "cancel: $(cat "$T/cancel.out")"
grep -q 'running=[1-9]' "$T/cancel.out" ||
    fail "the cancel found no task under lease: $(cat "$T/cancel.out")"

# The worker gives the rest back at once: nothing stays leased long
# before the 2 s a batch takes.
t0=$(now_ms)
idle() { [ "$(queue_field default 3)" = 0 ]; }
wait_until 10 idle || fail "the cancelled tasks stay leased"
log "leases handed back $(($(now_ms) - t0)) ms after the cancel"

client submit --range 1:10 >"$T/out" 2>"$T/client2.log" ||
    fail "the next job failed: $(cat "$T/client2.log")"
check_squares "$T/out" 1 10
stop "$pid" 20
[ "$EXIT_STATUS" = 0 ] || fail "libw_worker exited $EXIT_STATUS"
computed=$(sed -n 's/^libw_worker: computed //p' "$LIBW_LOG")
log "handler calls: $computed (the cancelled job has $n tasks, the next 10)"
if [ -z "$computed" ] || [ "$computed" -ge $((n / 2 + 10)) ]; then
	fail "the handler ran for ${computed:-?} tasks: the cancel did not stop it"
fi
s=$(stats_json)
[ "$(counter_json leases_expired "$s")" = 0 ] ||
    fail "leases_expired $(counter_json leases_expired "$s"), want 0"
test_end
