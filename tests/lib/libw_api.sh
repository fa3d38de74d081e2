#!/usr/bin/env bash
# libw_api: the worker side's calls one by one against a real server
# (libw_worker api: the errors of bad arguments, a lease without a type,
# a lease's accessors, results put, replaced and failed, a message that
# is not UTF-8, a lease released by tasq_lease_release and by
# tasq_lease_free, each time back at once and not counted as an
# attempt, then handed back with tasq_lease_done and tasq_serve_flush),
# then what the job's client reads: 1 and 4, the third failed with the
# handler's final code and its message cleaned ('?' for the byte that is
# not UTF-8), 16 and 25.
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" || exit 2
. "$(dirname "${BASH_SOURCE[0]}")/libw_lib.sh" || exit 2
test_begin 60

start_server
job=$(client submit --detach 1 2 3 4 5 2>"$T/client.log") ||
    fail "submit --detach failed: $(cat "$T/client.log")"
start_libw api "$job"
pid=$SPAWNED_PID
wait_exit "$pid" 30 || fail "libw_worker api did not end"
[ "$EXIT_STATUS" = 0 ] || fail "libw_worker api failed: $(cat "$LIBW_LOG")"
client results "$job" --wait --timeout "$((10 * FACTOR))s" >"$T/out" \
    2>"$T/results.log"
st=$?
[ "$st" = 3 ] || fail "tasq results exited $st, want 3 (a task failed): $(cat "$T/results.log")"
printf '1\n4\nerror: INVALID_ARGUMENT three: no?\n16\n25\n' >"$T/want"
if ! cmp -s "$T/want" "$T/out"; then
	diff "$T/want" "$T/out" >&2
	fail "the job's results are not what libw_worker put"
fi
test_end
