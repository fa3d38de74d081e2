# heartbeat_long_task: a handler that takes three times the lease keeps
# its lease alive with heartbeats on the server's heartbeat port (push/
# pull, docs/PROTOCOL.md "Heartbeat channel"), not with the Extend RPC:
# the job finishes with leases_expired still 0, nothing redelivered, and
# the server counted heartbeats received and none refused.
#
# The slow handler is --task-delay: a batch of 3 tasks of one lease each.
# The worker finds the heartbeat port by itself (HealthReply's
# heartbeat_port, dialled on --server's host).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
. "$(dirname "${BASH_SOURCE[0]}")/lib_e2e.sh" || exit 2
. "$(dirname "${BASH_SOURCE[0]}")/lib_hb.sh" || exit 2
test_begin 60

lease_ms=$((1000 * FACTOR))
start_server --lease "${lease_ms}ms"
HB=$(hb_url)
[ -n "$HB" ] || fail "the server logged no heartbeat address"
log "heartbeat port: $HB"
start_workers -j 1 --pipeline 1 --batch-size 3 \
    --task-delay "${lease_ms}ms"
expect_exit "$SPAWNED_PID" 0
found() { grep -q "heartbeats to $HB\$" "$T/worker-1.log"; }
wait_until 10 found ||
    fail "the worker did not find the heartbeat port $HB by itself"

t0=$(now_ms)
client submit --range 1:3 >"$T/out" 2>"$T/client.log" ||
    fail "client failed: $(cat "$T/client.log")"
took=$(($(now_ms) - t0))
check_squares "$T/out" 1 3
log "3 tasks in $took ms with a lease of $lease_ms ms"
[ "$took" -ge $((3 * lease_ms)) ] ||
    fail "the job took $took ms: the handler was not 3x the lease"
s=$(stats_json)
for c in leases_expired tasks_redelivered results_late leases_disconnected \
    heartbeats_refused; do
	[ "$(counter_json "$c" "$s")" = 0 ] ||
	    fail "$c is $(counter_json "$c" "$s"), want 0"
done
got=$(counter_json heartbeats_received "$s")
log "heartbeats_received $got"
# A beat every lease/4 over 3 leases: 8 or more (some slack for a slow
# machine), none of them by RPC.
[ "${got:-0}" -ge 6 ] ||
    fail "heartbeats_received ${got:-none}, want >= 6: the leases were" \
    "not kept by the heartbeat channel"
[ "$(counter_json tasks_leased "$s")" = 3 ] ||
    fail "tasks_leased $(counter_json tasks_leased "$s"), want 3"

test_end
