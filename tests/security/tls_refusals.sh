# tls_refusals: clients that must not get through, each refused with
# exit 1 and a message that says why (printed): a client trusting
# another CA, a server certificate that expired (validity 2020-01-01 to
# 2020-01-02, made with openssl ca, no clock faking), a name mismatch
# (--tls-server-name wrong.example), plaintext tcp:// to the TLS port.
# Then 20 peers that stall in the TLS handshake (10 send nothing, 10 half
# a ClientHello record) stay connected while a good client is served.
# After every refusal the server serves a good client: health and a
# small submit with the right results.
# TASQ_TEST_TLS_ENGINE=builtin (security.tls_refusals_builtin) runs it all
# with nng's mbedTLS engine on every program: peers dial the DNS name
# (mbedTLS cannot match an IP SAN), and its refusals say only that the
# handshake failed (mbedTLS gives no reason).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 90
ENGINE=${TASQ_TEST_TLS_ENGINE:-openssl}
EOPT=(--tls-engine "$ENGINE")
why_expired='TLS handshake .* failed: .*expired'
why_ca='TLS handshake .* failed: .*(verify|issuer)'
why_name='TLS handshake .* failed: .*hostname mismatch'
host=127.0.0.1
if [ "$ENGINE" = builtin ]; then
	why_expired='TLS handshake .* failed'
	why_ca=$why_expired
	why_name=$why_expired
	host=localhost
	CLIENT_HOST=$host
fi
# nng dials the first address of a name: where localhost is ::1 first,
# tls+tcp4:// keeps to the IPv4 loopback the server listens on.
dial() { # dial URL: URL with $host, and tls+tcp4 where needed
	local u=${1/127.0.0.1/$host}
	[ "$host" = localhost ] &&
	    [ "$(getent ahosts localhost | awk '{ print $1; exit }')" != \
	    127.0.0.1 ] && u=${u/tls+tcp:/tls+tcp4:}
	echo "$u"
}
log "engine $ENGINE"

mkca ca
mkca other
mkcert server ca localhost DNS:localhost,IP:127.0.0.1 serverAuth
mkcert expired ca localhost DNS:localhost,IP:127.0.0.1 serverAuth \
    20200101000000Z 20200102000000Z

LISTEN=tls+tcp://127.0.0.1:0
CLIENT_OPTS=(--tls-ca "$T/ca.pem" "${EOPT[@]}")
WORKER_OPTS=(--tls-ca "$T/ca.pem" "${EOPT[@]}")

# The expired certificate first: a server of its own that nobody can
# reach. (start_server's health check would fail, so by hand.)
spawn expired.log "$TASQ_SERVER_BIN" --listen "$LISTEN" --key-file "$KEY" \
    --ready-file "$T/expired.ready" --tls-cert "$T/expired.pem" \
    --tls-key "$T/expired.key" "${EOPT[@]}"
expired_pid=$SPAWNED_PID
SERVERS+=("$expired_pid:expired")
_exp_ready() { [ -s "$T/expired.ready" ] || ! pid_alive "$expired_pid"; }
wait_until 15 _exp_ready || fail "the expired-certificate server is not up"
pid_alive "$expired_pid" ||
    fail "the server refused its expired certificate at start: $(cat "$T/expired.log")"
expired_url=$(cat "$T/expired.ready")
refused 1 expired "$why_expired" \
    timeout $((30 * FACTOR)) "$TASQ_CLIENT_BIN" \
    --server "$(dial "$expired_url")" --key-file "$KEY" \
    --tls-ca "$T/ca.pem" "${EOPT[@]}" --connect-timeout 3s health

start_server main --tls-cert "$T/server.pem" --tls-key "$T/server.key" \
    "${EOPT[@]}"
URL=$(dial "$URL")
start_worker -j 1
assert_serving "start"

# bad_client NAME PATTERN ARGS...: a client with ARGS (instead of the
# usual TLS options) exits 1 and says PATTERN.
bad_client() {
	local name=$1 pat=$2
	shift 2
	refused 1 "$name" "$pat" timeout $((30 * FACTOR)) \
	    "$TASQ_CLIENT_BIN" --key-file "$KEY" --connect-timeout 3s \
	    "${EOPT[@]}" "$@" health
	assert_serving "$name"
}
bad_client wrong_ca "$why_ca" \
    --server "$URL" --tls-ca "$T/other.pem"
bad_client wrong_name "$why_name" \
    --server "$URL" --tls-ca "$T/ca.pem" --tls-server-name wrong.example
bad_client plaintext 'cannot connect|connection|closed|shut' \
    --server "tcp://127.0.0.1:$PORT"

# Stalled handshakes do not keep others out.
for mode in none half; do
	"${PEER[@]}" tls-hold "$PORT" 10 "$mode" --secs $((60 * FACTOR)) \
	    >"$T/stall-$mode.log" 2>&1 &
done
_stalls_open() {
	grep -q '^open 10' "$T/stall-none.log" &&
	    grep -q '^open 10' "$T/stall-half.log"
}
wait_until 10 _stalls_open || fail "the stalling peers did not connect"
log "20 TLS handshakes stalled (10 silent, 10 half a ClientHello)"
assert_serving "20 stalled TLS handshakes"
client submit --range 1:2000 >"$T/stalled.out" 2>"$T/stalled.err" ||
    fail "submit with stalled handshakes open: $(cat "$T/stalled.err")"
check_squares "$T/stalled.out" 1 2000

test_end
