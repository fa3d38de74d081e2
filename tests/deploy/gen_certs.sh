#!/usr/bin/env bash
# deploy.gen_certs: deploy/gen-certs.sh makes a CA, a server certificate
# with the names and addresses asked for, and client certificates, with
# private keys readable by their owner only, and tasq uses them: a server
# on 127.0.0.1 that requires client certificates, a worker and a client
# that verify it by IP address (OpenSSL engine) and by DNS name (nng's
# mbedTLS engine). Runs on loopback, port 0.
# usage: gen_certs.sh TASQ-SERVER TASQ-WORKER TASQ
set -euo pipefail
server=$1 worker=$2 client=$3
top=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*"
	for f in "$work"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -5 "$f"; }; done
	exit 1
}

echo "== gen-certs.sh"
"$top/deploy/gen-certs.sh" -o "$work/tls" -c worker -c ops \
	tasq.test localhost 127.0.0.1 ::1
for f in ca.key server.key client-worker.key client-ops.key; do
	[ "$(stat -c %a "$work/tls/$f")" = 600 ] || fail "$f is not mode 600"
done
san=$(openssl x509 -in "$work/tls/server.pem" -noout -ext subjectAltName | tail -1)
echo "server SAN:$san"
case $san in *DNS:tasq.test*DNS:localhost*"IP Address:127.0.0.1"*) ;;
*) fail "SAN lacks a name" ;; esac
openssl verify -CAfile "$work/tls/ca.pem" "$work/tls/server.pem" \
	"$work/tls/client-worker.pem" "$work/tls/client-ops.pem"
openssl x509 -in "$work/tls/client-ops.pem" -noout -ext extendedKeyUsage |
	grep >/dev/null -c 'Client Authentication' || fail "client-ops.pem is not for clients"
# A server shows its certificate to its --peers under mutual TLS.
eku=$(openssl x509 -in "$work/tls/server.pem" -noout -ext extendedKeyUsage)
case $eku in *"Server Authentication"*"Client Authentication"*) ;;
*) fail "server.pem is not for servers and clients: $eku" ;; esac

echo "== a later run adds a client with the same CA, and overwrites nothing"
ca_before=$(openssl x509 -in "$work/tls/ca.pem" -noout -fingerprint)
"$top/deploy/gen-certs.sh" -o "$work/tls" -c late >/dev/null
[ "$ca_before" = "$(openssl x509 -in "$work/tls/ca.pem" -noout -fingerprint)" ] ||
	fail "the CA changed"
openssl verify -CAfile "$work/tls/ca.pem" "$work/tls/client-late.pem" >/dev/null
if "$top/deploy/gen-certs.sh" -o "$work/tls" tasq.test >/dev/null 2>&1; then
	fail "server.pem was overwritten"
fi

echo "== tasq with these certificates (mutual TLS)"
head -c 32 /dev/urandom | base64 | tr -d '\n' >"$work/key"
chmod 600 "$work/key"
export TASQ_KEY_FILE=$work/key TASQ_TLS_CA=$work/tls/ca.pem
"$server" --listen tls+tcp://127.0.0.1:0 --tls-cert "$work/tls/server.pem" \
	--tls-key "$work/tls/server.key" --tls-client-ca "$work/tls/ca.pem" \
	--ready-file "$work/url" 2>"$work/server.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/url" ] && break; sleep 0.05; done
[ -s "$work/url" ] || fail "server did not start"
url=$(cat "$work/url")
ops=(--tls-cert "$work/tls/client-ops.pem" --tls-key "$work/tls/client-ops.key")
"$client" --server "$url" "${ops[@]}" health --wait 10s ||
	fail "health by IP address (OpenSSL engine)"
"$client" --server "$url" "${ops[@]}" --tls-engine builtin \
	--tls-server-name tasq.test health || fail "health by DNS name (mbedTLS engine)"
if "$client" --server "$url" --connect-timeout 2s health 2>/dev/null; then
	fail "a client without a certificate got in"
fi
"$worker" --server "$url" --tls-cert "$work/tls/client-worker.pem" \
	--tls-key "$work/tls/client-worker.key" -j 2 2>"$work/worker.log" &
pids+=($!)
out=$("$client" --server "$url" "${ops[@]}" submit --timeout 60s 3 4 5 | tr '\n' ' ')
[ "$out" = "3 9 4 16 5 25 " ] || fail "submit printed '$out'"
echo "submit 3 4 5 through TLS: $out"
echo "deploy.gen_certs passed"
