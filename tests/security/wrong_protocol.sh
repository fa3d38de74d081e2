# wrong_protocol: a peer that completes the SP handshake as another
# protocol (PUSH, 0x0050, instead of REQ) gets the server's 8 bytes and
# EOF (PROTOCOL.md 2.2), and must leave nothing behind: after five such
# peers, a good client is served at once (health within 5 s and a small
# submit) and the open-connections gauge of /metrics (tasq_connections)
# is not negative.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 60

start_server main --metrics-listen http://127.0.0.1:0
wait_until 10 curl -sf -o /dev/null "$METRICS_URL/healthz" ||
    fail "no metrics listener at $METRICS_URL"
start_worker -j 1
gauge() {
	curl -sf "$METRICS_URL/metrics" |
	    awk '$1 == "tasq_connections" { print $2 }'
}
for i in 1 2 3 4 5; do
	"${PEER[@]}" wrong-proto "$PORT" >"$T/wp.out" 2>&1 ||
	    fail "PUSH peer $i: $(cat "$T/wp.out")"
done
log "5 PUSH peers: $(cat "$T/wp.out"); tasq_connections $(gauge)"
g=$(gauge)
((g >= 0)) || log "tasq_connections is $g after 5 PUSH peers (negative)"
grep -E 'refusing connection: -[0-9]+ open' "$SERVER_LOG" >&2 &&
    log "the server refuses connections because its count went negative"
CLIENT_TIMEOUT=20 client --connect-timeout 5s health >/dev/null \
    2>"$T/after.err" ||
    fail "not serving after 5 PUSH peers: $(cat "$T/after.err")" \
    "(tasq_connections $(gauge))"
assert_serving "PUSH peers"
((g >= 0)) || fail "tasq_connections went negative: $g"
test_end
