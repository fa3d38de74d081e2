# heartbeat_tls: the heartbeat port uses --listen's TLS configuration. The
# server serves tls+tcp:// with a certificate from a CA made here; a
# worker that dials tls+tcp://localhost:PORT with --tls-ca finds the
# heartbeat port from Health and dials it over TLS on the same host (the
# certificate checked against the name): a handler of two leases keeps its
# lease with heartbeats, none refused, nothing expired.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
. "$(dirname "${BASH_SOURCE[0]}")/lib_e2e.sh" || exit 2
. "$(dirname "${BASH_SOURCE[0]}")/lib_hb.sh" || exit 2
test_begin 60

tls_localhost

lease_ms=$((1500 * FACTOR))
LISTEN=tls+tcp://127.0.0.1:0
CLIENT_HOST=localhost
CLIENT_OPTS=(--tls-ca "$T/ca.pem")
WORKER_OPTS=(--tls-ca "$T/ca.pem")
start_server --tls-cert "$T/server.pem" --tls-key "$T/server.key" \
    --lease "${lease_ms}ms"
URL=$scheme://localhost:${SERVER_URL##*:}
hb=$(hb_url)
case $hb in tls+tcp://127.0.0.1:[1-9]*) ;; *) fail "heartbeat port: '$hb'" ;; esac
# localhost is a name, so a server set (of one here; lib/api/servers.c):
# the worker dials each member's heartbeat port at its address, with
# the name for the certificate (SNI), once it holds a lease.
want=$scheme://localhost:${hb##*:}
want_addr=$scheme://127.0.0.1:${hb##*:}
start_workers -j 1 --pipeline 1 --batch-size 2 --task-delay "${lease_ms}ms"
expect_exit "$SPAWNED_PID" 0

client submit --range 1:2 >"$T/out" 2>"$T/client.log" ||
    fail "client failed: $(cat "$T/client.log")"
check_squares "$T/out" 1 2
found() {
	sed -n 's/.*heartbeats to //p' "$T/worker-1.log" |
	    grep >/dev/null -cxF -e "$want" -e "$want_addr"
}
wait_until 10 found || fail "the worker did not dial $want or $want_addr"
s=$(stats_json)
got=$(counter_json heartbeats_received "$s")
log "heartbeats_received $got over TLS"
[ "${got:-0}" -ge 3 ] || fail "heartbeats_received ${got:-none}, want >= 3"
for c in leases_expired heartbeats_refused auth_failures; do
	[ "$(counter_json "$c" "$s")" = 0 ] ||
	    fail "$c is $(counter_json "$c" "$s"), want 0"
done
test_end
