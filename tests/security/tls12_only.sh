# tls12_only: a server limited to TLS 1.2 (--tls-max-version 1.2, the
# OpenSSL engine) runs 5,000 tasks for a worker and a client and
# s_client sees TLSv1.2 with an ECDHE AEAD suite; a TLS 1.3-only client
# is refused. Then the same with --tls-engine builtin (nng's mbedTLS) on
# the server, the worker and the client: TLS 1.2 only and no IP SAN
# matching, so they dial the DNS name localhost.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 90
N=5000

mkca ca
mkcert server ca localhost DNS:localhost,IP:127.0.0.1 serverAuth
scheme=tls+tcp
first=$(getent ahosts localhost 2>/dev/null | awk '{ print $1; exit }')
[ "$first" = 127.0.0.1 ] || scheme=tls+tcp4

# run_engine NAME ENGINE: server, worker, client, s_client checks.
run_engine() {
	local name=$1 engine=$2 line
	LISTEN=tls+tcp://127.0.0.1:0
	CLIENT_HOST=localhost
	CLIENT_OPTS=(--tls-ca "$T/ca.pem" --tls-engine "$engine")
	WORKER_OPTS=(--tls-ca "$T/ca.pem" --tls-engine "$engine")
	start_server "$name" --tls-cert "$T/server.pem" \
	    --tls-key "$T/server.key" --tls-engine "$engine" \
	    --tls-max-version 1.2
	URL=$scheme://localhost:$PORT
	start_worker -j 1
	local worker=$SPAWNED_PID
	client submit --range "1:$N" >"$T/$name.out" 2>"$T/$name.err" ||
	    fail "$name: submit exited $?: $(cat "$T/$name.err")"
	check_squares "$T/$name.out" 1 "$N"
	log "$name: $N tasks over $URL"

	s_client -CAfile "$T/ca.pem" -verify_return_error >"$T/$name.s"
	line=$(grep -a '^New, ' "$T/$name.s")
	log "$name: s_client: $line"
	echo "s_client ($name): $line"
	case $line in
	"New, TLSv1.2, Cipher is ECDHE-"*GCM* | \
	    "New, TLSv1.2, Cipher is ECDHE-"*CHACHA20*) ;;
	*) fail "$name: want TLSv1.2 with an ECDHE AEAD suite: $line" ;;
	esac
	s_client -CAfile "$T/ca.pem" -tls1_3 >"$T/$name.s13"
	line=$(grep -a '^New, ' "$T/$name.s13")
	log "$name: s_client -tls1_3: $line"
	case $line in
	"New, (NONE), Cipher is (NONE)"*) ;;
	*) fail "$name: a TLS 1.3-only client was not refused: $line" ;;
	esac
	assert_serving "TLS 1.2 sessions ($name)"
	kill -TERM "$worker"
	wait_until 20 _gone "$worker" || fail "$name: worker did not stop"
	stop_server "$SERVER_PID" "$name"
}

run_engine openssl12 openssl
run_engine builtin builtin

test_end
