# keys: the shared key. Rotation: a server with --key-file new,old serves
# a client holding the old key and one holding the new key (a worker on
# the new key computes for both). A server with only the new key refuses
# the old-key client: exit 1, stderr says authentication failed, and
# auth_failures grows. A key file of mode 0644 is refused at start with
# exit 2 and a message that names the file and does not contain the key
# (server and client). TASQ_KEY (the key itself in the environment) works
# without --key-file. No key ever appears in a log.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 90

OLD=$T/old.key
NEW=$T/new.key
new_key "$OLD"
new_key "$NEW"
KEY=$NEW # the servers' health checks, the workers, assert_serving

# Rotation: the first key signs, both verify.
SERVER_KEY=$NEW,$OLD start_server rotating
start_worker -j 1
worker=$SPAWNED_PID
for who in old new; do
	f=$T/$who.key
	CLIENT_KEY=$f client submit 3 -4 12345 >"$T/$who.out" \
	    2>"$T/$who.err" ||
	    fail "rotation: the $who-key client was refused: $(cat "$T/$who.err")"
	printf '3 9\n-4 16\n12345 152399025\n' | cmp -s - "$T/$who.out" ||
	    fail "rotation: wrong results for the $who-key client"
	log "rotation: the $who-key client was served"
done
kill -TERM "$worker"
wait_until 20 _gone "$worker" || fail "the worker did not stop"
stop_server "$SERVER_PID" rotating

# Only the new key: the old one is refused.
SERVER_KEY=$NEW start_server new_only
start_worker -j 1
fails0=$(counter auth_failures) || fail "stats failed"
refused 1 old_key 'authenticat' timeout $((30 * FACTOR)) \
    "$TASQ_CLIENT_BIN" --server "$URL" --key-file "$OLD" submit 1 2 3
fails1=$(counter auth_failures) || fail "stats failed"
log "auth_failures $fails0 -> $fails1"
((fails1 > fails0)) || fail "auth_failures did not grow ($fails0 -> $fails1)"
assert_serving "an old-key client"

# TASQ_KEY: the key itself, no file.
TASQ_KEY=$(cat "$NEW") timeout $((30 * FACTOR)) "$TASQ_CLIENT_BIN" \
    --server "$URL" submit 5 6 >"$T/env.out" 2>"$T/env.err" ||
    fail "TASQ_KEY client: $(cat "$T/env.err")"
printf '5 25\n6 36\n' | cmp -s - "$T/env.out" ||
    fail "TASQ_KEY client: wrong results: $(cat "$T/env.out")"
log "TASQ_KEY works without --key-file"
TASQ_KEY=$(cat "$OLD") timeout $((30 * FACTOR)) "$TASQ_CLIENT_BIN" \
    --server "$URL" health >/dev/null 2>&1 &&
    fail "an old key in TASQ_KEY was accepted"

# A key file others can read is refused at start, without showing it.
cp "$NEW" "$T/open.key"
chmod 644 "$T/open.key"
refused 2 open_server "open\\.key" timeout $((15 * FACTOR)) \
    "$TASQ_SERVER_BIN" --listen tcp://127.0.0.1:0 --key-file "$T/open.key"
refused 2 open_client "open\\.key" timeout $((15 * FACTOR)) \
    "$TASQ_CLIENT_BIN" --server "$URL" --key-file "$T/open.key" health
for f in "$T/open_server.err" "$T/open_client.err"; do
	grep -qF "$(cat "$NEW")" "$f" && fail "$f shows the key"
done
# Nor does a key show in any log, a refused key included.
for k in "$NEW" "$OLD"; do
	if grep -lF "$(cat "$k")" "$T"/*.log "$T"/*.err 2>/dev/null; then
		fail "a key appears in the logs above"
	fi
done

test_end
