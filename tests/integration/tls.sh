# tls: the server on tls+tcp:// with a certificate from a CA made here
# (openssl, SAN DNS:localhost); workers and client dial
# tls+tcp://localhost:PORT and verify it with --tls-ca: 100,000 tasks come
# back right. Refused, with TLS named in the message: a client trusting
# another CA, a client expecting another server name, a plain tcp://
# client; a client with no --tls-ca is a usage error. The server serves on
# after each.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 120

n=$((100000 / SCALE))

# A CA, another CA, a server certificate for localhost, and the
# scheme that dials it (tests/harness/lib.sh).
tls_localhost

LISTEN=tls+tcp://127.0.0.1:0
CLIENT_HOST=localhost
CLIENT_OPTS=(--tls-ca "$T/ca.pem")
WORKER_OPTS=(--tls-ca "$T/ca.pem")
start_server --tls-cert "$T/server.pem" --tls-key "$T/server.key"
URL=$scheme://localhost:${SERVER_URL##*:}
log "clients dial $URL"
start_workers -j 2
expect_exit "$SPAWNED_PID" 0

client submit --range "1:$n" >"$T/out" 2>"$T/client.log" ||
    fail "submit over TLS exited $?: $(cat "$T/client.log")"
check_squares "$T/out" 1 "$n"

# refused RC NAME ARGS...: a client with ARGS (instead of the good CA)
# exits RC and says why in a line matching TLS or tls.
refused() {
	local want=$1 name=$2 rc
	shift 2
	timeout 60 "$TASQ_CLIENT_BIN" --server "$URL" --key-file "$KEY" \
	    --connect-timeout 2s "$@" health >"$T/$name.out" 2>"$T/$name.err"
	rc=$?
	[ "$rc" = "$want" ] ||
	    fail "$name: exit $rc, want $want: $(cat "$T/$name.err")"
	grep -qi 'tls' "$T/$name.err" ||
	    fail "$name: the error does not mention TLS: $(cat "$T/$name.err")"
}
refused 1 other_ca --tls-ca "$T/other.pem"
assert_serving "a client trusting another CA"
refused 1 wrong_name --tls-ca "$T/ca.pem" --tls-server-name wrong.example
refused 2 no_ca
assert_serving "TLS refusals"

# A plain TCP client on the TLS port gets nowhere, and does no harm.
rc=0
timeout 60 "$TASQ_CLIENT_BIN" --server "tcp://127.0.0.1:${SERVER_URL##*:}" \
    --key-file "$KEY" --connect-timeout 2s health >"$T/plain.out" \
    2>"$T/plain.err" || rc=$?
[ "$rc" = 1 ] || fail "a plain tcp:// client: exit $rc, want 1"

# A worker that trusts another CA gets no work and says why.
WORKER_OPTS=(--tls-ca "$T/other.pem")
start_workers -j 1
bad_worker=$SPAWNED_PID
expect_exit "$bad_worker" 0
wait_until 20 grep -qi 'tls' "$T/worker-2.log" ||
    fail "a worker with the wrong CA logged no TLS error"
assert_serving "a worker with the wrong CA"

test_end
