# shard.vanished: a server with --peers and a worker given a server list
# exit on SIGTERM within their bounds, 0, while one of the session's
# members is an address that drops every packet (a vanished pod's, or a
# restarted pod's new one not yet routed): a dial toward it gets no
# answer at all, and nng 1.5.2's blocking dial has no deadline of its own
# (the kernel gives up after about two minutes). No close or free path of
# the library may wait for such a dial.
#
# LAN hosts (netns.sh); a "vanished" host is one whose INPUT chain drops
# everything (iptables), so that a SYN to it is never answered; its DROP
# rule's packet count tells when a dial toward it is under way.
#  1. the open's probe: server A (host 1) with --peers B,V (server B on
#     host 2, V on host 3, dropping from the start): the peers' session
#     opens with B, the open's probe of V dials on; SIGTERM to A while
#     that dial is under way: A exits 0 within its 10 s shutdown limit
#     (past it, it exits 1).
#  2. the prober's probe: server A2 (host 1) with --peers B,R (R on host
#     4, where nothing listens: refused, down, no channel); then host 4
#     drops everything, and the prober's next probe of R dials; SIGTERM
#     while that dial is under way: exit 0.
#  3. a worker (host 5) given tcp://tq-a.test:PA,tcp://tq-b.test:PB
#     (names in host 5's /etc/hosts: ip netns exec binds
#     /etc/netns/NS/hosts there): it serves a job of each server; then
#     tq-b.test's address moves to host 6, which drops everything (a
#     restarted pod's new address); the worker's next resolution makes it
#     a member and the prober dials it; SIGTERM to the worker while that
#     dial is under way: it drains and exits 0 within --drain-timeout
#     (a worker process still running then is killed, exit 1).
# Needs root, ip, tc and iptables (77, skipped, without them).
. "$(dirname "${BASH_SOURCE[0]}")/netns.sh" || exit 2
test_begin 180
command -v iptables >/dev/null || {
	log "SKIP: iptables not found"
	exit 77
}

HOSTS_DIR=
_vanished_exit() {
	local rc=$?
	[ -n "$HOSTS_DIR" ] && rm -rf "$HOSTS_DIR"
	(exit "$rc")
	_lan_exit
}
trap _vanished_exit EXIT

lan_up 6

# vanish I: host I drops every packet it receives.
vanish() {
	lan_exec "$1" iptables -A INPUT -j DROP ||
	    fail "iptables on host $1 failed"
}
# dropped I: how many packets host I dropped.
dropped() {
	lan_exec "$1" iptables -L INPUT -v -x -n |
	    awk '$3 == "DROP" { n += $1 } END { print n + 0 }'
}
# dropped_gt I N: host I dropped more than N packets.
dropped_gt() { (($(dropped "$1") > $2)); }

# stacks PID NAME: every thread's stack of PID and of its children (a
# worker's processes) into $T/NAME.stacks, for the report of a process
# that does not exit.
stacks() {
	local p
	for p in "$1" $(pgrep -P "$1"); do
		echo "=== pid $p"
		timeout 30 gdb -p "$p" -batch -ex 'thread apply all bt' 2>&1
	done >"$T/$2.stacks"
	log "stacks of $2 ($1): $T/$2.stacks"
	grep -E '^(===|#[0-9]+ .* in (tasq_|nng_|nni_|probe|prober|open_one|mem_|peers_|serve_))' \
	    "$T/$2.stacks" | sed 's/^/    /' | head -n 80 >&2
}

# term_expect PID NAME SECS: SIGTERM to PID; it must exit 0 (its own
# bound ends it with 1 when missed). A process still running after SECS
# has its stacks taken first (a diagnosis, not a check).
term_expect() {
	local pid=$1 name=$2 secs=$3 t0
	t0=$(now_ms)
	kill -TERM "$pid"
	if ! harness_poll "$secs" _not_running "$pid"; then
		stacks "$pid" "$name"
	fi
	wait_exit "$pid" 60 || fail "$name ($pid) did not exit on SIGTERM"
	log "$name exited $EXIT_STATUS, $(($(now_ms) - t0)) ms after SIGTERM"
	[ "$EXIT_STATUS" = 0 ] ||
	    fail "$name exited $EXIT_STATUS on SIGTERM, want 0 (within its bound): $(tail -n 3 "$T/$name.log")"
}

# cluster_up HOST PORT N: /api/stats of the server on host HOST (metrics
# port PORT) shows a cluster with N servers up.
cluster_up() {
	lan_exec "$1" curl -sf --max-time 2 \
	    "http://$(lan_addr "$1"):$2/api/stats" >"$T/stats.json" ||
	    return 1
	python3 - "$T/stats.json" "$3" <<'PY' 2>"$T/assert"
import json, sys
c = json.load(open(sys.argv[1]))["cluster"]
up = [s for s in c.get("servers", []) if s.get("up")]
assert len(up) == int(sys.argv[2]), c
PY
}

# peer_server LOG PEERS: a tasq-server on host 1 with --peers PEERS and a
# dashboard; waits for its ready file. Sets PEER_PID and PEER_MPORT.
peer_server() {
	local logn=$1 peers=$2 ready=$T/$1.ready
	lan_spawn 1 "$logn.log" "$TASQ_SERVER_BIN" \
	    --listen "tcp://$(lan_addr 1):0" --key-file "$KEY" \
	    --ready-file "$ready" --log-level info \
	    --metrics-listen "http://$(lan_addr 1):0" \
	    --peers "$peers" --peers-refresh 300ms
	PEER_PID=$SPAWNED_PID
	wait_until 15 _lan_server_up "$ready" "$PEER_PID" ||
	    fail "$logn wrote no ready file"
	pid_alive "$PEER_PID" || fail "$logn exited at start"
	PEER_MPORT=$(sed -n 2p "$ready")
	PEER_MPORT=${PEER_MPORT##*:}
}

lan_server 2
B=${LAN_URL[2]}

# 1. The open's probe of a member that drops everything.
vanish 3
peer_server peers1 "$B,tcp://$(lan_addr 3):7070"
wait_until 20 cluster_up 1 "$PEER_MPORT" 1 ||
    fail "server A's cluster never showed B up: $(cat "$T/assert")"
wait_until 20 dropped_gt 3 0 || fail "no dial of host 3 was seen"
log "1: the peers' session is open (B up) and dials host 3 (dropped $(dropped 3))"
term_expect "$PEER_PID" peers1 8

# 2. The prober's probe of a member that was refused, then drops.
peer_server peers2 "$B,tcp://$(lan_addr 4):7070"
wait_until 20 cluster_up 1 "$PEER_MPORT" 1 ||
    fail "server A2's cluster never showed B up: $(cat "$T/assert")"
grep -q 'Connection refused' "$T/stats.json" ||
    fail "host 4 is not down as refused: $(cat "$T/stats.json")"
vanish 4
# The member is probed again after its backoff (at most 30 s).
wait_until 40 dropped_gt 4 0 || fail "no new dial of host 4 was seen"
log "2: the prober dials host 4 (dropped $(dropped 4))"
term_expect "$PEER_PID" peers2 8

# 3. A worker whose member's name moves to an address that drops.
lan_server 1
A=${LAN_URL[1]}
pa=${A##*:}
pb=${B##*:}
HOSTS_DIR=/etc/netns/$(lan_ns 5)
mkdir -p "$HOSTS_DIR" || fail "cannot make $HOSTS_DIR"
printf '127.0.0.1 localhost\n%s tq-a.test\n%s tq-b.test\n' \
    "$(lan_addr 1)" "$(lan_addr 2)" >"$HOSTS_DIR/hosts"
LIST="tcp://tq-a.test:$pa,tcp://tq-b.test:$pb"
lan_spawn 5 worker.log "$TASQ_WORKER_BIN" --server "$LIST" \
    --key-file "$KEY" -j 1 --resolve-interval 300ms --drain-timeout 15s \
    --log-level info
WPID=$SPAWNED_PID
for u in "$A" "$B"; do
	lan_exec 5 timeout -k 5 $((60 * FACTOR)) "$TASQ_CLIENT_BIN" \
	    --server "$u" --key-file "$KEY" submit 2 3 >"$T/sub.out" 2>&1 ||
	    fail "a job on $u: $(cat "$T/sub.out")"
	printf '2 4\n3 9\n' | cmp -s - "$T/sub.out" ||
	    fail "a job on $u gave $(cat "$T/sub.out")"
done
log "3: the worker serves both servers through their names"
vanish 6
# In place: the bind mount holds the file, not its name.
printf '127.0.0.1 localhost\n%s tq-a.test\n%s tq-b.test\n' \
    "$(lan_addr 1)" "$(lan_addr 6)" >"$HOSTS_DIR/hosts"
wait_until 30 dropped_gt 6 0 || fail "no dial of tq-b.test's new address"
log "3: tq-b.test is now host 6; the worker dials it (dropped $(dropped 6))"
term_expect "$WPID" worker 25
test_end
