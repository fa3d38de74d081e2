# testssl: Debian's testssl.sh, from outside, against the server's
# tls+tcp:// port (default engine, OpenSSL): protocols (-p), forward
# secrecy (-f) and the cipher suites of each protocol (-E). Only TLS 1.2
# and 1.3 may be offered, and only these suites: TLS 1.3's three AEADs,
# and for TLS 1.2 ECDHE-ECDSA with AES-GCM or ChaCha20-Poly1305. The
# server then still serves a client. About 100 s: label slow.
if ! command -v testssl >/dev/null 2>&1; then
	echo "SKIP: testssl not found (apt-get install testssl.sh)"
	exit 77
fi
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 400

mkca ca
mkcert server ca localhost DNS:localhost,IP:127.0.0.1 serverAuth
LISTEN=tls+tcp://127.0.0.1:0
CLIENT_OPTS=(--tls-ca "$T/ca.pem")
WORKER_OPTS=(--tls-ca "$T/ca.pem")
start_server main --tls-cert "$T/server.pem" --tls-key "$T/server.key"

timeout $((300 * FACTOR)) testssl --quiet --color 0 --warnings off \
    --openssl-timeout 10 -p -f -E "127.0.0.1:$PORT" >"$T/testssl.out" 2>&1 ||
    log "testssl exited $? (it counts findings; the checks below decide)"
sed -n '/Testing protocols/,$p' "$T/testssl.out"

for p in SSLv2 SSLv3 "TLS 1" "TLS 1.1"; do
	grep -Eq "^ $p +not offered" "$T/testssl.out" ||
	    fail "$p is not reported 'not offered'"
done
for p in "TLS 1.2" "TLS 1.3"; do
	grep -Eq "^ $p +offered" "$T/testssl.out" ||
	    fail "$p is not reported offered"
done
# The -E table: one line per suite, "hexcode name ...".
awk '/^ x[0-9a-f]+ /{ print $2 }' "$T/testssl.out" | sort >"$T/suites"
cat >"$T/allowed" <<'LIST'
ECDHE-ECDSA-AES128-GCM-SHA256
ECDHE-ECDSA-AES256-GCM-SHA384
ECDHE-ECDSA-CHACHA20-POLY1305
TLS_AES_128_GCM_SHA256
TLS_AES_256_GCM_SHA384
TLS_CHACHA20_POLY1305_SHA256
LIST
[ -s "$T/suites" ] || fail "testssl listed no cipher suites"
extra=$(comm -23 "$T/suites" <(sort "$T/allowed"))
[ -z "$extra" ] || fail "suites offered beyond the policy: $extra"
log "offered: $(tr '\n' ' ' <"$T/suites")"

start_worker -j 1
client submit --range 1:1000 >"$T/out" 2>"$T/err" ||
    fail "submit after testssl exited $?: $(cat "$T/err")"
check_squares "$T/out" 1 1000
test_end
