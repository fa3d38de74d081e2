#!/usr/bin/env bash
# deploy.dashboard_servers: the dashboard's Servers table (--peers,
# server/dashboard.h) in headless Chromium (servers.mjs): server A
# serves the page and knows A and B (--peers); the page shows the
# cluster's sum and each server up with its identity, then B down with
# the reason once it is killed, while the page keeps answering.
# usage: servers.sh TASQ-SERVER TASQ
# Screenshots (dashboard-servers.png) go to $TASQ_ARTIFACT_DIR, else
# ./artifacts. Exits 77 (skipped) without /usr/bin/chromium, node or
# node_modules (1 with TASQ_TESTS_REQUIRED=1), as dashboard.sh.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh" || exit 2
TEST_NAME=dashboard_servers
if [ $# -ne 2 ]; then
	echo "usage: $0 TASQ-SERVER TASQ" >&2
	exit 2
fi
server=$1 client=$2
dash_begin
rm -f "$out"/dashboard-servers*.png
harness_new_key "$T/key"
free_port() {
	node -e 'const s = require("net").createServer();
s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'
}
# up NAME: NAME's ready file is written (or it died).
up() { [ -s "$T/$1.ready" ] || ! pid_alive "$2"; }
# start NAME LISTEN ARGS...: a server with a data dir; $spawned its pid.
start() {
	local name=$1 listen=$2
	shift 2
	spawn "$name.log" "$server" --listen "$listen" --key-file "$T/key" \
		--data-dir "$T/$name.data" --ready-file "$T/$name.ready" "$@"
	wait_until 15 up "$name" "$spawned" || fail "$name: no ready file"
	pid_alive "$spawned" || fail "$name exited at start"
}
cl() { # cl URL ARGS...: the tool against URL
	local u=$1
	shift
	timeout -k 5 $((30 * factor)) "$client" --server "$u" \
		--key-file "$T/key" "$@"
}

start b tcp://127.0.0.1:0
b_pid=$spawned
b_url=$(cat "$T/b.ready")
# A's own address goes into its --peers: its port is picked first; the
# metrics port is the kernel's (the ready file's second line).
pa=$(free_port)
a_url=tcp://127.0.0.1:$pa
start a "$a_url" --metrics-listen "http://127.0.0.1:0" \
	--peers "$a_url,$b_url" --peers-refresh 300ms
mport=$(sed -n 2p "$T/a.ready")
mport=${mport##*:}
[ -n "$mport" ] || fail "A's ready file names no metrics port"
cl "$a_url" health --wait "$((10 * factor))s" --quiet || fail "no server A"
cl "$a_url" submit --detach --queue dq 1 >/dev/null || fail "submit to A"
cl "$b_url" submit --detach --queue dq 1 2 >/dev/null || fail "submit to B"
log "A on $a_url (page on port $mport), B on $b_url"

setsid node "$here/servers.mjs" "http://127.0.0.1:$mport" "$out" "$T" \
	"$(cat "$T/a.data/identity")" "$(cat "$T/b.data/identity")" \
	</dev/null >&2 &
node_pid=$!
pids+=("$node_pid")
seen() { [ -e "$T/seen" ] || ! pid_alive "$node_pid"; }
wait_until 60 seen || fail "the page did not show the cluster"
if [ -e "$T/seen" ]; then
	kill -KILL "$b_pid"
	wait "$b_pid" 2>/dev/null || true
	log "B killed"
	: >"$T/killed"
fi
rc=0
wait "$node_pid" || rc=$?
[ "$rc" -eq 0 ] || fail "servers.mjs exited $rc (above)"
echo "screenshot: $out/dashboard-servers.png"
