# heartbeat_restart: a worker follows its server's heartbeat port across
# a restart. The new server (same RPC address, a new heartbeat port) has
# a new id, so the worker asks Health again and dials the new port; the
# old heartbeat socket, whose connection the old server closed, is
# replaced rather than sent on again (nng 1.5.2, upstream issue 1653).
# A job of two leases' length then keeps its lease by heartbeats on the
# new server: heartbeats_received grows there and nothing expires.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
. "$(dirname "${BASH_SOURCE[0]}")/lib_e2e.sh" || exit 2
. "$(dirname "${BASH_SOURCE[0]}")/lib_hb.sh" || exit 2
test_begin 90

lease_ms=$((1500 * FACTOR))
start_server --lease "${lease_ms}ms"
hb1=$(hb_url)
[ -n "$hb1" ] || fail "the server logged no heartbeat address"
start_workers -j 1 --pipeline 1 --batch-size 2 --task-delay "${lease_ms}ms"
sup=$SPAWNED_PID
dialled() { grep -q "heartbeats to $1\$" "$T/worker-1.log"; }
wait_until 10 dialled "$hb1" || fail "the worker did not dial $hb1"
client submit --range 1:2 >"$T/out1" 2>"$T/client.log" ||
    fail "first job failed: $(cat "$T/client.log")"
check_squares "$T/out1" 1 2
[ "$(counter heartbeats_received)" -ge 2 ] ||
    fail "no heartbeats on the first server"

first=$SERVER_PID
stop "$first"
[ "$EXIT_STATUS" = 0 ] || fail "the first server exited $EXIT_STATUS"
mv "$T/server.log" "$T/server-1.log"
LISTEN=$SERVER_URL start_server --lease "${lease_ms}ms" \
    --heartbeat-listen tcp://127.0.0.1:0
hb2=$(hb_url)
[ -n "$hb2" ] && [ "$hb2" != "$hb1" ] || fail "heartbeat port '$hb2'"
log "new heartbeat port $hb2 (was $hb1)"

client submit --range 1:2 >"$T/out2" 2>"$T/client.log" ||
    fail "second job failed: $(cat "$T/client.log")"
check_squares "$T/out2" 1 2
dialled "$hb2" || fail "the worker did not dial the new port $hb2"
s=$(stats_json)
got=$(counter_json heartbeats_received "$s")
log "heartbeats_received $got on the new server"
[ "${got:-0}" -ge 2 ] || fail "heartbeats_received ${got:-none} on the new server"
[ "$(counter_json leases_expired "$s")" = 0 ] || fail "a lease expired"
pid_alive "$(worker_children "$sup" | head -n 1)" ||
    fail "the worker process died"
grep -q "; restarting" "$T/worker-1.log" &&
    fail "a worker process ended: $(grep -m1 '; restarting' "$T/worker-1.log")"
# The workers before the server they drain to (test_end stops in the
# reverse order of starting, which is the second server first).
stop "$sup"
[ "$EXIT_STATUS" = 0 ] || fail "the worker supervisor exited $EXIT_STATUS"
test_end
