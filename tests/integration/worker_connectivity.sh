# worker_connectivity: a worker says when it cannot reach the server, when
# it connects, loses and regains it, and why, once per change (not once
# per retry, and with -j 2 once, from worker process 0, at info level).
# (a) A worker started before its server logs "unreachable" once while it
#     retries (counted after several retries, logged at debug), then
#     "connected" when the server comes up on that port.
# (b) The server stopped: "lost the server"; started again on the same
#     port: "regained the server after N s (server restarted: new server
#     id ...)", and tasks are computed again.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 90

# count PATTERN FILE: lines of FILE matching the extended regex.
count() { grep -c -E "$1" "$2"; }
count_ge() { [ "$(count "$1" "$2")" -ge "$3" ]; }

# A free port: the server's first run picks one; the worker is pointed at
# it while nothing listens there, then the server comes back on it.
start_server
port=${SERVER_URL##*:}
stop "$SERVER_PID"
[ "$EXIT_STATUS" = 0 ] || fail "server exited $EXIT_STATUS on SIGTERM"
LISTEN=tcp://127.0.0.1:$port
URL=tcp://127.0.0.1:$port
w=$T/worker-1.log

# (a) Started before the server.
start_workers -j 2 --log-level debug
wait_until 15 grep -q -E "info: server $URL unreachable: .*; retrying" "$w" ||
    fail "no 'server $URL unreachable' line at info level"
# Readiness for counting: both processes retried several times since.
wait_until 30 count_ge "debug: .*$URL.*retrying" "$w" 8 ||
    fail "the worker processes do not log their retries at debug level"
n=$(count "info: server $URL unreachable" "$w")
[ "$n" = 1 ] || fail "$n 'unreachable' lines at info level, want 1"
start_server
wait_until 15 grep -q -E "info: connected to $URL \(server id [0-9a-f]+\)" \
    "$w" || fail "no 'connected to $URL' line once the server is up"
wait_until 15 grep -q -E "debug: connected to $URL" "$w" ||
    fail "worker process 1 does not log its connection at debug level"
n=$(count "info: connected to" "$w")
[ "$n" = 1 ] || fail "$n 'connected' lines at info level, want 1"
assert_serving "the server came up after the worker"

# (b) The server goes away and comes back on the same port.
stop "$SERVER_PID"
[ "$EXIT_STATUS" = 0 ] || fail "server exited $EXIT_STATUS on SIGTERM"
wait_until 15 grep -q -E "warn: lost the server $URL: " "$w" ||
    fail "no 'lost the server' line after the server stopped"
start_server
wait_until 30 grep -q -E \
    "info: regained the server $URL after [0-9]+ s \(server restarted: new server id [0-9a-f]+, was [0-9a-f]+\)" \
    "$w" || fail "no 'regained the server ... (server restarted' line"
assert_serving "the server restarted under the worker"
n=$(count "warn: lost the server" "$w")
[ "$n" = 1 ] || fail "$n 'lost' lines at warn level, want 1"
test_end
