# watchdog_mtls: the listener watchdog (server/watchdog.h) under mutual
# TLS. The server requires client certificates (--tls-client-ca) and
# probes its own listener every 200 ms (--watchdog-interval); its probe
# presents no client certificate (the server's own certificate is
# serverAuth only and signed by another CA than the clients'), so the
# listener refuses it at the TLS handshake. That refusal comes from a
# listener that took the connection, so it must not be taken for a dead
# one: over CYCLES watchdog cycles (counted in the server's debug log,
# one "watchdog:" line for each cycle whose probe failed) listener_restarts
# stays 0, a worker with a certificate that works on a job all along
# keeps its connection (no lease returned for a closed connection, no
# connection accepted but the stats calls') and the job comes back right.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 60

CYCLES=8
# The server's TLS engine (the probe's too): TASQ_TEST_TLS_ENGINE, default
# openssl (TLS 1.3: the refusal comes after the client's Finished);
# builtin is nng's mbedTLS (TLS 1.2: the refusal ends the handshake).
engine=${TASQ_TEST_TLS_ENGINE:-openssl}

mkca ca
mkca clientca
mkcert server ca localhost DNS:localhost,IP:127.0.0.1 serverAuth
mkcert alice clientca alice "" clientAuth

LISTEN=tls+tcp://127.0.0.1:0
CLIENT_OPTS=(--tls-ca "$T/ca.pem" --tls-cert "$T/alice.pem"
    --tls-key "$T/alice.key")
WORKER_OPTS=("${CLIENT_OPTS[@]}")
start_server --tls-cert "$T/server.pem" --tls-key "$T/server.key" \
    --tls-client-ca "$T/clientca.pem" --watchdog-interval 200ms \
    --log-level debug --tls-engine "$engine"
start_workers -j 1 --pipeline 1 --batch-size 5 --task-delay 20ms
expect_exit "$SPAWNED_PID" 0

# A job that keeps a task leased to the worker through the cycles.
n=400
spawn_client "$T/out" "$T/client.err" submit --range "1:$n"
client_pid=$SPAWNED_PID
working() { counter_ge tasks_leased 1; }
wait_until 20 working || fail "the worker leased no task"
acc0=$(counter connections_accepted) || fail "stats failed"

cycles() { grep -c 'watchdog:' "$T/server.log"; }
enough() { [ "$(cycles)" -ge "$1" ]; }
c0=$(cycles)
wait_until 20 enough $((c0 + CYCLES)) ||
    fail "fewer than $CYCLES watchdog cycles logged in $((20 * FACTOR)) s"
log "$(($(cycles) - c0)) watchdog cycles with a refused probe"

# This call's connection is the only one since acc0's (a dropped worker
# or client would have connected again).
acc1=$(counter connections_accepted) || fail "stats failed"
restarts=$(counter listener_restarts) || fail "stats failed"
dropped=$(counter leases_disconnected) || fail "stats failed"
[ "$restarts" = 0 ] || fail "listener_restarts is $restarts, want 0:" \
    "$(grep -m 3 'watchdog:' "$T/server.log")"
[ "$dropped" = 0 ] ||
    fail "leases_disconnected is $dropped: the worker's connection dropped"
[ "$acc1" = $((acc0 + 1)) ] ||
    fail "connections_accepted went from $acc0 to $acc1, want $((acc0 + 1))"

wait_exit "$client_pid" 60 || fail "the job did not finish"
[ "$EXIT_STATUS" = 0 ] ||
    fail "submit exited $EXIT_STATUS: $(cat "$T/client.err")"
check_squares "$T/out" 1 "$n"
assert_serving "the watchdog cycles"
test_end
