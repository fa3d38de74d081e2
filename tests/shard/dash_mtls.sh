# shard.dash_mtls: the dashboard across servers (--peers) under mutual
# TLS, with the certificates deploy/gen-certs.sh makes. Every server
# listens on tls+tcp:// and requires client certificates signed by the
# CA (--tls-client-ca); a server shows its peers its own --tls-cert, or
# the certificate of --peers-tls-cert.
# - Three servers; server 1 knows all three (--peers, itself included):
#   /api/stats's cluster shows all three up (a server certificate of
#   gen-certs.sh is good for client authentication too).
# - Dashboards whose own listener asks for no client certificate, each
#   with --peers ITSELF,SERVER2 (itself: a peer that takes any client):
#   one that presents no client certificate, one that presents a client
#   certificate of another CA, one that presents a certificate for
#   server authentication only (what gen-certs.sh made before): each
#   shows server 2 down, the server having refused its client
#   certificate, and itself up; it and server 2 keep serving. One given a client certificate of the CA
#   (TASQ_PEERS_TLS_CERT, TASQ_PEERS_TLS_KEY) shows all three up.
# shellcheck source-path=SCRIPTDIR source=cluster.sh
. "$(dirname "$0")/cluster.sh" || exit 2
test_begin 90
command -v openssl >/dev/null || skip "openssl is needed"

top=$(cd "$(dirname "$0")/../.." && pwd)
"$top/deploy/gen-certs.sh" -o "$T/tls" -c dash localhost 127.0.0.1 \
    >"$T/gen.out" 2>&1 || fail "gen-certs.sh: $(cat "$T/gen.out")"
"$top/deploy/gen-certs.sh" -o "$T/other" -c intruder >"$T/gen2.out" 2>&1 ||
    fail "gen-certs.sh (another CA): $(cat "$T/gen2.out")"
# A server certificate for server authentication only, of the same CA.
mkcert serveronly tls/ca localhost DNS:localhost,IP:127.0.0.1 serverAuth

# The harness's client (health checks) shows a client certificate of
# the CA; every server below is given its own --tls-cert and --tls-key,
# which win over these variables.
export TASQ_TLS_CA=$T/tls/ca.pem TASQ_TLS_CERT=$T/tls/client-dash.pem \
    TASQ_TLS_KEY=$T/tls/client-dash.key
CERT=(--tls-cert "$T/tls/server.pem" --tls-key "$T/tls/server.key")
MTLS=("${CERT[@]}" --tls-client-ca "$T/tls/ca.pem")

# start_dash I ARGS...: server I with a dashboard and --peers
# ITSELF,PEERS (PEERS: the rest of the list); its own address is in the
# list, so its port is chosen first (free_port).
start_dash() {
	local i=$1 p
	shift
	p=$(free_port)
	start_n "$i" "tls+tcp://127.0.0.1:$p" --metrics-listen \
	    "http://127.0.0.1:0" --peers "tls+tcp://127.0.0.1:$p,$PEERS" \
	    --peers-refresh 300ms "$@"
	[ -n "${MPORT[$i]}" ] || fail "server $i's ready file names no metrics port"
}

LISTEN_TLS=tls+tcp://127.0.0.1:0
start_n 2 "$LISTEN_TLS" "${MTLS[@]}"
start_n 3 "$LISTEN_TLS" "${MTLS[@]}"
PEERS="${URLS[2]},${URLS[3]}" start_dash 1 "${MTLS[@]}"
log "servers ${PID[*]}: ${URLS[*]}; dashboard of server 1 on port ${MPORT[1]}"

# cluster_is I URL=up|down...: /api/stats of server I has a cluster of
# exactly these servers in these states, each one down with the reason
# the TLS handshake gives: the server refused our client certificate.
# (python's asserts go to $T/assert.)
cluster_is() {
	local i=$1
	shift
	curl -sf --max-time "$(secs 2)" \
	    "http://127.0.0.1:${MPORT[$i]}/api/stats" >"$T/stats$i.json" \
	    2>/dev/null || return 1
	python3 - "$T/stats$i.json" "$@" <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))
want = dict(a.rsplit("=", 1) for a in sys.argv[2:])
c = d["cluster"]
by = {x["url"]: x for x in c.get("servers", [])}
assert sorted(by) == sorted(want), (sorted(by), c.get("error"))
for url, state in want.items():
    s = by[url]
    assert s["up"] == (state == "up"), (url, s)
    if state == "down":
        assert re.search(r"TLS handshake .*refused (our|this|the lack of a) client certificate",
                         s.get("error", "")), (url, s)
PY
} 2>"$T/assert"

# expect I WHAT URL=STATE...: polls server I's cluster until it is so.
expect() {
	local i=$1 what=$2
	shift 2
	harness_poll "$(secs 20)" cluster_is "$i" "$@" ||
	    fail "server $i ($what): /api/stats has not $*: $(tail -n 1 "$T/assert"): $(head -c 800 "$T/stats$i.json")"
	log "server $i ($what): $*"
}

# down_reason I URL: the reason server I's cluster gives for URL.
down_reason() {
	python3 -c 'import json, sys
for s in json.load(open(sys.argv[1]))["cluster"]["servers"]:
    if s["url"] == sys.argv[2]:
        print(s.get("error"))' "$T/stats$1.json" "$2"
}

expect 1 "the server certificate as client certificate" \
    "${URLS[1]}=up" "${URLS[2]}=up" "${URLS[3]}=up"

# Dashboards that show server 2 no certificate, or a wrong one. Their
# own listeners take any client (no --tls-client-ca).
PEERS=${URLS[2]} start_dash 4 "${CERT[@]}"
PEERS=${URLS[2]} start_dash 5 "${CERT[@]}" \
    --peers-tls-cert "$T/other/client-intruder.pem" \
    --peers-tls-key "$T/other/client-intruder.key"
PEERS=${URLS[2]} start_dash 6 "${CERT[@]}" \
    --peers-tls-cert "$T/serveronly.pem" --peers-tls-key "$T/serveronly.key"
expect 4 "no client certificate" "${URLS[4]}=up" "${URLS[2]}=down"
log "  server 2: $(down_reason 4 "${URLS[2]}")"
expect 5 "a client certificate of another CA" "${URLS[5]}=up" \
    "${URLS[2]}=down"
log "  server 2: $(down_reason 5 "${URLS[2]}")"
expect 6 "a certificate for server authentication only" "${URLS[6]}=up" \
    "${URLS[2]}=down"
log "  server 2: $(down_reason 6 "${URLS[2]}")"

# A client certificate of the CA for the peers only, from the
# environment, on a server that itself asks for none.
TASQ_PEERS_TLS_CERT=$T/tls/client-dash.pem \
    TASQ_PEERS_TLS_KEY=$T/tls/client-dash.key \
    PEERS="${URLS[2]},${URLS[3]}" start_dash 7 "${CERT[@]}"
expect 7 "TASQ_PEERS_TLS_CERT, a client certificate" "${URLS[7]}=up" \
    "${URLS[2]}=up" "${URLS[3]}=up"

# The refusals cost nobody anything: every server still serves, and
# server 1 still sees all three.
for i in 1 2 3 4 5 6 7; do
	alive "${PID[$i]}" || fail "server $i exited"
	URL=${URLS[$i]} client health --wait "$(secs 5)s" >/dev/null ||
	    fail "server $i does not answer health"
done
expect 1 "after the refusals" "${URLS[1]}=up" "${URLS[2]}=up" \
    "${URLS[3]}=up"
log "ok"
