# shard.silent: the programs end within their bounds while a server of
# theirs is a loopback port that never answers a dial (the loopback
# stand-in of an address that drops packets; shard.vanished does it with
# real drops between LAN hosts, as root). The port is a listener whose
# accept queue (backlog 0) one connection, never accepted, fills: the
# kernel drops every SYN that follows, so a dial toward it gets no answer
# at all, and nng 1.5.2's blocking dial would wait minutes (the kernel's
# SYN retries) whatever connect-timeout says.
#  1. tasq --connect-timeout 2s health toward it fails by that timeout
#     ("Timed out", exit 1);
#  2. tasq --server A,SILENT health answers from A and exits 0 while the
#     session's probe of SILENT still dials; stats --all shows SILENT
#     down;
#  3. a server with --peers A,SILENT exits 0 on SIGTERM (within its 10 s
#     shutdown limit, else exit 1) while its probe of SILENT dials;
#  4. a worker given A,SILENT serves A's job, then drains and exits 0 on
#     SIGTERM (within --drain-timeout, else 1) while it dials SILENT;
#  5. so does a worker given SILENT alone (its dial loop: each session
#     open's one attempt ends within 5 s).
# A dial "under way" is a connect to the port in SYN_SENT (ss). The
# clients run under CLIENT_TIMEOUT (30 s): a hang ends there, exit 124.
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" || exit 2
test_begin 120
command -v ss >/dev/null || fail "ss (iproute2) is needed"

# The silent port: a process of ours (its command line names $T) that
# holds the listener and its one connection until SIGTERM.
spawn silent.log python3 -c '
import os, signal, socket, sys
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen(0)
port = l.getsockname()[1]
c = socket.socket()
c.connect(("127.0.0.1", port))
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write("%d\n" % port)
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
signal.sigwait([signal.SIGTERM, signal.SIGINT])
' "$T/silent.port"
wait_until 10 _ready_file_written "$T/silent.port" ||
    fail "the silent port was not made: $(cat "$T/silent.log")"
SP=$(cat "$T/silent.port")
SILENT=tcp://127.0.0.1:$SP
log "silent port $SP"

# dialing: a connect to the silent port is under way (SYN_SENT).
dialing() {
	[ -n "$(ss -Htn state syn-sent "( dport = :$SP )" 2>/dev/null)" ]
}

# 1. One server, silent: the dial ends by connect-timeout.
URL=$SILENT CLIENT_TIMEOUT=30 client --connect-timeout 2s health \
    >"$T/h1.out" 2>"$T/h1.err"
rc=$?
[ "$rc" = 1 ] && grep -q 'Timed out' "$T/h1.err" ||
    fail "health toward the silent port: exit $rc (want 1, Timed out): $(cat "$T/h1.err")"
log "1: health toward the silent port: exit 1: $(cat "$T/h1.err")"

start_server
A=$URL
LIST="$A,$SILENT"

# 2. A list with a silent member: the tool answers and exits.
URL=$LIST CLIENT_TIMEOUT=30 client --connect-timeout 5s health --quiet \
    2>"$T/h2.err" ||
    fail "health --server A,SILENT: exit $?: $(cat "$T/h2.err")"
URL=$LIST CLIENT_TIMEOUT=30 client --connect-timeout 2s stats --all \
    >"$T/all.out" 2>&1 || fail "stats --all: $(cat "$T/all.out")"
grep -q "$SILENT" "$T/all.out" ||
    fail "stats --all does not name the silent member: $(cat "$T/all.out")"
log "2: health and stats --all with a silent member exit 0"

# term0 PID NAME: SIGTERM; it must exit 0 (its own bound ends it with 1).
term0() {
	local t0
	t0=$(now_ms)
	kill -TERM "$1"
	wait_exit "$1" 60 || fail "$2 ($1) did not exit on SIGTERM"
	log "$2 exited $EXIT_STATUS, $(($(now_ms) - t0)) ms after SIGTERM"
	[ "$EXIT_STATUS" = 0 ] ||
	    fail "$2 exited $EXIT_STATUS on SIGTERM, want 0: $(tail -n 3 "$T/$3")"
}

# 3. A server with --peers A,SILENT.
spawn peers.log "$TASQ_SERVER_BIN" --listen tcp://127.0.0.1:0 \
    --key-file "$KEY" --ready-file "$T/peers.ready" --log-level info \
    --metrics-listen http://127.0.0.1:0 --peers "$LIST" \
    --peers-refresh 300ms
PPID2=$SPAWNED_PID
wait_until 15 _ready_file_written "$T/peers.ready" ||
    fail "the --peers server wrote no ready file"
mport=$(sed -n 2p "$T/peers.ready")
mport=${mport##*:}
a_up() {
	curl -sf --max-time 2 "http://127.0.0.1:$mport/api/stats" \
	    >"$T/stats.json" &&
	    python3 -c 'import json, sys
c = json.load(open(sys.argv[1]))["cluster"]
assert [s for s in c["servers"] if s.get("up")], c' "$T/stats.json" 2>/dev/null
}
wait_until 20 a_up || fail "the --peers server never saw A up: $(head -c 400 "$T/stats.json")"
wait_until 20 dialing || fail "the --peers server does not dial the silent port"
log "3: the --peers server sees A up and dials the silent port"
term0 "$PPID2" "the --peers server" peers.log

# 4. A worker given A,SILENT.
URL=$LIST start_workers -j 1 --drain-timeout 15s
WPID=$SPAWNED_PID
URL=$A CLIENT_TIMEOUT=60 client submit 2 3 >"$T/sub.out" 2>"$T/sub.err" ||
    fail "a job on A: $(cat "$T/sub.err")"
printf '2 4\n3 9\n' | cmp -s - "$T/sub.out" ||
    fail "a job on A gave $(cat "$T/sub.out")"
wait_until 20 dialing || fail "the worker does not dial the silent port"
log "4: the worker served A's job and dials the silent port"
term0 "$WPID" "the worker" worker-1.log

# 5. A worker whose one server is silent: its dial loop stops.
URL=$SILENT start_workers -j 1 --drain-timeout 15s
WPID=$SPAWNED_PID
wait_until 20 dialing || fail "the worker does not dial the silent port"
log "5: a worker of the silent server alone dials it"
term0 "$WPID" "the lone worker" worker-2.log
test_end
