# tls13: the server on tls+tcp:// (default engine, OpenSSL) with a
# certificate whose SAN holds DNS:localhost and IP:127.0.0.1. A worker
# and a client dialling tls+tcp://127.0.0.1:PORT (the IP is verified
# against the IP SAN) and a client dialling tls+tcp://localhost:PORT (DNS
# name) each get 20,000 tasks back right. openssl s_client negotiates
# TLSv1.3 (the line with the cipher is printed); TLS 1.0 and 1.1 are
# refused, so is TLS 1.2 with a non-forward-secret CBC suite
# (AES128-SHA), while TLS 1.2 with ECDHE-ECDSA-AES128-GCM-SHA256 is
# accepted (the default minimum is 1.2). The server serves after each.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 90
N=20000

mkca ca
mkcert server ca localhost DNS:localhost,IP:127.0.0.1 serverAuth

LISTEN=tls+tcp://127.0.0.1:0
CLIENT_OPTS=(--tls-ca "$T/ca.pem")
WORKER_OPTS=(--tls-ca "$T/ca.pem")
start_server main --tls-cert "$T/server.pem" --tls-key "$T/server.key"
start_worker -j 2

# By IP: verified against IP:127.0.0.1 (no --tls-server-name).
client submit --range "1:$N" >"$T/ip.out" 2>"$T/ip.err" ||
    fail "submit over tls+tcp://127.0.0.1 exited $?: $(cat "$T/ip.err")"
check_squares "$T/ip.out" 1 "$N"
log "$N tasks over $URL (IP SAN)"

# By name. nng dials the first address of a name; where localhost is ::1
# first, tls+tcp4:// keeps to the IPv4 loopback the server listens on.
scheme=tls+tcp
first=$(getent ahosts localhost 2>/dev/null | awk '{ print $1; exit }')
[ "$first" = 127.0.0.1 ] || scheme=tls+tcp4
ip_url=$URL
URL=$scheme://localhost:$PORT
client submit --range "$((N + 1)):$((2 * N))" >"$T/dns.out" \
    2>"$T/dns.err" || fail "submit over $URL exited $?: $(cat "$T/dns.err")"
check_squares "$T/dns.out" $((N + 1)) $((2 * N))
log "$N tasks over $URL (DNS SAN)"
URL=$ip_url

# What an ordinary TLS client negotiates.
s_client -CAfile "$T/ca.pem" -verify_return_error >"$T/s13.txt"
line=$(grep -a '^New, ' "$T/s13.txt")
log "s_client: $line"
echo "s_client default: $line"
case $line in
*TLSv1.3*) ;;
*) fail "s_client did not negotiate TLSv1.3: $(head -c 2000 "$T/s13.txt")" ;;
esac
grep -aq 'Verification: OK' "$T/s13.txt" || fail "s_client: chain not verified"
assert_serving "an s_client session"

# old_refused NAME ARGS...: s_client with ARGS gets no session.
old_refused() {
	local name=$1
	shift
	s_client -CAfile "$T/ca.pem" "$@" >"$T/$name.txt"
	line=$(grep -a '^New, ' "$T/$name.txt")
	log "s_client $*: $line; $(grep -a -o 'alert [a-z ]*' "$T/$name.txt" | head -n 1)"
	case $line in
	"New, (NONE), Cipher is (NONE)"*) ;;
	*) fail "s_client $* was not refused: $line" ;;
	esac
}
old_refused tls10 -tls1
old_refused tls11 -tls1_1
old_refused weak12 -tls1_2 -cipher AES128-SHA
assert_serving "refused s_client handshakes"

s_client -CAfile "$T/ca.pem" -verify_return_error -tls1_2 \
    -cipher ECDHE-ECDSA-AES128-GCM-SHA256 >"$T/s12.txt"
line=$(grep -a '^New, ' "$T/s12.txt")
log "s_client -tls1_2: $line"
echo "s_client -tls1_2: $line"
[ "$line" = "New, TLSv1.2, Cipher is ECDHE-ECDSA-AES128-GCM-SHA256" ] ||
    fail "TLS 1.2 with ECDHE-ECDSA-AES128-GCM-SHA256 not accepted: $line"
assert_serving "a TLS 1.2 s_client session"

test_end
