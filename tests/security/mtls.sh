# mtls: the server requires client certificates (--tls-client-ca
# clientca.pem). A worker and a client whose certificates clientca signed
# run 2,000 tasks; a client without a certificate, and one whose
# certificate another CA signed (the same CA that signed the server,
# which the server does not accept for clients), are refused with exit 1
# and a TLS message (printed); the server serves on after each. The
# shared key is right in every case: the certificate alone decides.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 60

mkca ca
mkca clientca
mkcert server ca localhost DNS:localhost,IP:127.0.0.1 serverAuth
mkcert alice clientca alice "" clientAuth
mkcert mallory ca mallory "" clientAuth

LISTEN=tls+tcp://127.0.0.1:0
good=(--tls-ca "$T/ca.pem" --tls-cert "$T/alice.pem" --tls-key "$T/alice.key")
CLIENT_OPTS=("${good[@]}")
WORKER_OPTS=("${good[@]}")
start_server main --tls-cert "$T/server.pem" --tls-key "$T/server.key" \
    --tls-client-ca "$T/clientca.pem"
start_worker -j 1
client submit --range 1:2000 >"$T/good.out" 2>"$T/good.err" ||
    fail "client with a clientca certificate: $(cat "$T/good.err")"
check_squares "$T/good.out" 1 2000

# bad_client NAME ARGS...: the client with ARGS (TLS options) is refused.
bad_client() {
	local name=$1
	shift
	refused 1 "$name" 'TLS' timeout $((30 * FACTOR)) "$TASQ_CLIENT_BIN" \
	    --server "$URL" --key-file "$KEY" --connect-timeout 3s "$@" health
	assert_serving "$name"
}
bad_client no_cert --tls-ca "$T/ca.pem"
bad_client other_ca_cert --tls-ca "$T/ca.pem" --tls-cert "$T/mallory.pem" \
    --tls-key "$T/mallory.key"
# And a submit, which must not get as far as queueing anything.
sub0=$(counter tasks_submitted) || fail "stats failed"
refused 1 no_cert_submit 'TLS' timeout $((30 * FACTOR)) "$TASQ_CLIENT_BIN" \
    --server "$URL" --key-file "$KEY" --connect-timeout 3s \
    --tls-ca "$T/ca.pem" submit 1 2 3
sub1=$(counter tasks_submitted) || fail "stats failed"
[ "$sub1" = "$sub0" ] ||
    fail "tasks_submitted went from $sub0 to $sub1 without a certificate"

test_end
