# tls_stall_closed: peers that stop in the TLS handshake must not hold a
# socket (and its TLS state) forever. SECURITY.md: "Connections that
# complete no request for --idle-timeout ... are closed, so a peer that
# stops in the middle of a frame cannot hold memory"; on plain TCP nng
# closes a peer that does not finish the SP handshake within 10 s. With
# --idle-timeout 2s, 10 peers that send nothing and 10 that send half a
# ClientHello must be closed within 15 s, on tls+tcp:// as 10 silent
# peers are on tcp:// (checked side by side, for comparison).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 60
mkca ca
mkcert server ca localhost DNS:localhost,IP:127.0.0.1 serverAuth

start_server plain --idle-timeout 2s
plain_port=$PORT
LISTEN=tls+tcp://127.0.0.1:0
CLIENT_OPTS=(--tls-ca "$T/ca.pem")
start_server tls --idle-timeout 2s --tls-cert "$T/server.pem" \
    --tls-key "$T/server.key"

secs=$((15 * FACTOR))
"${PEER[@]}" hold "$plain_port" 10 --secs "$secs" >"$T/plain.out" 2>&1 &
p1=$!
"${PEER[@]}" tls-hold "$PORT" 10 none --secs "$secs" >"$T/tls-none.out" 2>&1 &
p2=$!
"${PEER[@]}" tls-hold "$PORT" 10 half --secs "$secs" >"$T/tls-half.out" 2>&1 &
p3=$!
wait "$p1" "$p2" "$p3" # each ends when all its peers are closed, or at $secs
for f in plain tls-none tls-half; do
	log "$f: $(head -n 1 "$T/$f.out"), then: $(tail -n 1 "$T/$f.out")"
done
grep -q '^closed 10 after' "$T/plain.out" ||
    fail "tcp://: silent peers not closed in $secs s: $(tail -n 1 "$T/plain.out")"
for f in tls-none tls-half; do
	grep -q '^closed 10 after' "$T/$f.out" ||
	    fail "tls+tcp://: $f peers stalled in the TLS handshake were" \
	    "not closed in $secs s with --idle-timeout 2s (tcp:// ones" \
	    "were): $(tail -n 1 "$T/$f.out")"
done
test_end
