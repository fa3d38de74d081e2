# heartbeat_drop: heartbeats lost on the way (the worker's test hook
# TASQ_TEST_HB_DROP=2 drops one in two after signing it, as a lossy
# network would; the worker does not fall back to the RPC for those) do
# not expire leases: a beat goes every lease/4, so one lost beat leaves
# the next in time. A handler of three leases finishes with
# leases_expired 0, and both kinds of beat happened.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
. "$(dirname "${BASH_SOURCE[0]}")/lib_e2e.sh" || exit 2
. "$(dirname "${BASH_SOURCE[0]}")/lib_hb.sh" || exit 2
test_begin 60

lease_ms=$((2000 * FACTOR))
start_server --lease "${lease_ms}ms"
HB=$(hb_url)
[ -n "$HB" ] || fail "the server logged no heartbeat address"
export TASQ_TEST_HB_DROP=2
start_workers -j 1 --pipeline 1 --batch-size 3 --log-level debug \
    --task-delay "${lease_ms}ms" --heartbeat "$HB"
expect_exit "$SPAWNED_PID" 0
unset TASQ_TEST_HB_DROP

client submit --range 1:3 >"$T/out" 2>"$T/client.log" ||
    fail "client failed: $(cat "$T/client.log")"
check_squares "$T/out" 1 3
grep -q 'test hook: dropping one heartbeat in 2' "$T/worker-1.log" ||
    fail "the worker did not take the test hook"
dropped=$(grep -c 'test hook: dropped heartbeat' "$T/worker-1.log")
s=$(stats_json)
got=$(counter_json heartbeats_received "$s")
log "heartbeats dropped $dropped, received $got"
[ "$dropped" -ge 3 ] || fail "only $dropped heartbeats dropped"
[ "${got:-0}" -ge 3 ] || fail "heartbeats_received ${got:-none}"
for c in leases_expired tasks_redelivered results_late heartbeats_refused; do
	[ "$(counter_json "$c" "$s")" = 0 ] ||
	    fail "$c is $(counter_json "$c" "$s"), want 0 (lost heartbeats" \
	    "expired a lease)"
done

test_end
