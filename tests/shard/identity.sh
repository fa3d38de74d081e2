# shard.identity: the server identity of issue 15 through the real
# binaries on loopback. With --data-dir, Health (tests/deploy/
# identity_probe.py), /api/stats and the start-up log all show the
# identity in <data-dir>/identity, and a restart on that directory keeps
# it (while server_id changes); without one, every process has its own;
# a malformed identity file stops the server at start (exit 1, the file
# named in the error) and is left as it was.
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" || exit 2
test_begin 60
command -v curl >/dev/null || fail "curl is needed"
probe=$(dirname "${BASH_SOURCE[0]}")/../deploy/identity_probe.py

# health_id: "IDENTITY SERVER_ID" of the server at $URL.
health_id() {
	python3 "$probe" --key-file "$KEY" "$URL" >"$T/probe" ||
	    fail "identity_probe: $(cat "$T/probe")"
	sed -E 's/.* identity=([0-9a-f]{16}) server_id=([0-9a-f]{16}) .*/\1 \2/' "$T/probe"
}

data=$T/data
start_server --data-dir "$data" --metrics-listen http://127.0.0.1:0
read -r id1 sid1 < <(health_id)
file=$(cat "$data/identity")
log "identity $id1, server_id $sid1, $data/identity $file"
[ "$id1" = "$file" ] || fail "Health says $id1, the file $file"
[ "$id1" != 0000000000000000 ] || fail "identity 0"
[ "$(wc -c <"$data/identity")" = 17 ] || fail "the file is not 17 bytes"
api=$(curl -sf "$METRICS_URL/api/stats") || fail "GET /api/stats failed"
python3 -c 'import json, sys; s = json.loads(sys.argv[1]); assert s["identity"] == sys.argv[2], s["identity"]; assert "queues" in s and "version" in s' \
    "$api" "$id1" || fail "/api/stats has not identity $id1: ${api:0:200}"
# The tool shows it too: tasq health --json, tasq stats (a line of its
# own) and tasq stats --json.
CLIENT_TIMEOUT=30 client health --json >"$T/h.json" || fail "tasq health --json"
grep -q "\"identity\":\"$id1\"" "$T/h.json" ||
    fail "tasq health --json has not identity $id1: $(cat "$T/h.json")"
CLIENT_TIMEOUT=30 client stats >"$T/s.txt" || fail "tasq stats"
grep -qx "identity $id1 (shard tag ${id1:0:4})" "$T/s.txt" ||
    fail "tasq stats has not identity $id1: $(head -n 3 "$T/s.txt")"
CLIENT_TIMEOUT=30 client stats --json >"$T/s.json" || fail "tasq stats --json"
python3 -c 'import json, sys; assert json.load(open(sys.argv[1]))["identity"] == sys.argv[2]' \
    "$T/s.json" "$id1" || fail "tasq stats --json has not identity $id1"
grep -q "server identity $id1 (shard tag ${id1:0:4})" "$T/server.log" ||
    fail "the log does not name the identity"
stop "$SERVER_PID"

LISTEN=$SERVER_URL start_server --data-dir "$data"
read -r id2 sid2 < <(health_id)
log "after a restart: identity $id2, server_id $sid2"
[ "$id2" = "$id1" ] || fail "the identity changed across a restart ($id1 -> $id2)"
[ "$sid2" != "$sid1" ] || fail "server_id did not change across a restart"
stop "$SERVER_PID"

start_server
read -r id3 _ < <(health_id)
stop "$SERVER_PID"
start_server
read -r id4 _ < <(health_id)
stop "$SERVER_PID"
log "without --data-dir: $id3, then $id4"
[ "$id3" != "$id4" ] && [ "$id3" != "$id1" ] ||
    fail "without --data-dir the identities repeat ($id1 $id3 $id4)"

printf '0123456789ABCDEF\n' >"$data/identity"
timeout -k 5 $((20 * FACTOR)) "$TASQ_SERVER_BIN" --listen tcp://127.0.0.1:0 \
    --key-file "$KEY" --data-dir "$data" >"$T/bad.log" 2>&1
rc=$?
log "with a malformed identity file: exit $rc: $(tail -1 "$T/bad.log")"
[ "$rc" = 1 ] || fail "a malformed identity file: exit $rc, want 1"
grep -q "$data/identity is malformed" "$T/bad.log" || fail "the error does not name the file"
[ "$(cat "$data/identity")" = 0123456789ABCDEF ] || fail "the malformed file was changed"
test_end
