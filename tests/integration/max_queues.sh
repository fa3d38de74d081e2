# max_queues: a refusal that waiting cannot cure fails at once. With
# --max-queues 1 and a worker on queue a, a submit to queue b is refused
# ("too many queues", FAILED_PRECONDITION): the client must exit non-zero
# with the server's message straight away, not retry until --timeout.
# Queue a, which the worker uses, stays; the server serves on.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 60

start_server --max-queues 1
start_workers -j 1 --queue a
expect_exit "$SPAWNED_PID" 0

CLIENT_TIMEOUT=30 client submit --queue a --range 1:10 >"$T/a.out" \
    2>"$T/a.log" || fail "submit to queue a failed: $(cat "$T/a.log")"
seq 1 10 >"$T/a.in"
check_output "$T/a.out" "$T/a.in"

t0=$(now_ms)
rc=0
# No --timeout: before the fix the client retried for ever (until
# timeout(1) ended it).
CLIENT_TIMEOUT=20 client submit --queue b --range 1:10 >"$T/b.out" \
    2>"$T/b.log" || rc=$?
took=$(($(now_ms) - t0))
log "submit to queue b: exit $rc after ${took} ms: $(cat "$T/b.log")"
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
	fail "submit to a second queue over --max-queues 1 was still retrying after $((20 * FACTOR)) s"
fi
[ "$rc" = 1 ] || fail "submit over --max-queues exited $rc, want 1"
grep -q 'too many queues' "$T/b.log" ||
    fail "the client did not print the server's message: $(cat "$T/b.log")"
grep -q 'retrying' "$T/b.log" &&
    fail "the client retried a permanent refusal: $(cat "$T/b.log")"
[ "$took" -lt $((5000 * FACTOR)) ] ||
    fail "the refusal took ${took} ms: not a fast failure"

# Queue a is still there and works (the default queue would be a second
# one, so no assert_serving here).
CLIENT_TIMEOUT=30 client health --quiet || fail "server not healthy"
CLIENT_TIMEOUT=30 client submit --queue a --range 11:20 >"$T/a2.out" \
    2>"$T/a2.log" || fail "second submit to queue a failed: $(cat "$T/a2.log")"
seq 11 20 >"$T/a2.in"
check_output "$T/a2.out" "$T/a2.in"

test_end
