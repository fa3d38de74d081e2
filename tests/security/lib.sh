# lib.sh: the harness of tasq's security tests (tests/security/*.sh).
#
#	. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
#	test_begin 60                  # budget in seconds (x FACTOR)
#	start_server main --max-inflight 2
#	start_worker -j 1
#	assert_serving "after the refusal"
#	test_end                       # SIGTERM everything, check exits
#
# What a test gets:
#   $T           a private temporary directory, removed at exit (kept
#                with TASQ_TEST_KEEP=1)
#   $KEY         a fresh 0600 key file in $T
#   $URL, $PORT  the last server's URL (as clients dial it) and port
#   $SERVER_PID  the last server; $SERVER_LOG its log
#   $FACTOR      TASQ_TEST_TIMEOUT_FACTOR: every deadline is scaled by it
#   "${PEER[@]}" peer.py: hand-made and hostile peers
#
# Every process goes through spawn: its own process group (setsid), its
# pid recorded; the EXIT trap TERMs every recorded group, KILLs what is
# left after a bounded wait, prints the logs on failure and removes $T.
# Nothing is ever killed by name: other people's tasq processes run on
# the same machine. Loopback only, port 0 (--metrics-listen too: the
# ready file names its port), and no sleep as synchronisation:
# wait_until polls a condition under a deadline. A watchdog ends a test
# that overruns its budget, with logs, before CTest would kill it.
#
# Binaries: TASQ_SERVER_BIN, TASQ_WORKER_BIN, TASQ_CLIENT_BIN (CMake sets
# them) or TASQ_BIN_DIR, a build directory:
#	TASQ_BIN_DIR=build bash tests/security/tls13.sh
#
# What every suite shares (binaries, environment, process groups, bounded
# polling, check_squares) is tests/harness/lib.sh; this file keeps what is
# the security tests' own.

set -u -o pipefail
export LC_ALL=C
# shellcheck source-path=SCRIPTDIR source=../harness/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../harness/lib.sh" || exit 2
harness_trace

TEST_NAME=$(basename "$0" .sh)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
harness_factor
harness_bins TASQ_SERVER_BIN TASQ_WORKER_BIN TASQ_CLIENT_BIN
for _p in python3 openssl; do
	command -v "$_p" >/dev/null || {
		echo "$TEST_NAME: $_p is needed" >&2
		exit 2
	}
done
unset _p

# Only the TASQ_* settings a test sets on purpose reach the programs.
harness_scrub_env 'TASQ_*_BIN' TASQ_BIN_DIR 'TASQ_TEST_*' TASQ_SANITIZE

# The interpreter itself, once: a version-manager shim in PATH can cost a
# second per start. The standard library is all peer.py needs.
if [ -x /usr/bin/python3 ]; then
	PYTHON=/usr/bin/python3
else
	PYTHON=$(python3 -c 'import sys; print(sys.executable)') || exit 2
fi

harness_scratch tasq-sec
KEY=$T/key
# "${PEER[@]}" ARGS...: peer.py, hand-made and hostile peers (its usage
# says what they do). A command, not a function: "${PEER[@]}" ... & gives
# the peer's own pid in $!.
# shellcheck disable=SC2034 # used by the tests
PEER=("$PYTHON" "$HERE/peer.py")
URL=
PORT=
SERVER_PID=
SERVER_LOG=
SPAWNED_PID=
PIDS=()          # every process group we started
SERVERS=()       # "pid:name" of every server, checked by test_end
CLIENT_OPTS=()   # extra options of every client call (TLS)
WORKER_OPTS=()   # extra options of every worker (TLS)
CLIENT_KEY=      # key file of client calls (default $KEY)
LAUNCHER=()      # a command that runs every server, worker and client
                 # call (valgrind.sh: valgrind and its options)
WATCHDOG_PID=
_nworkers=0

# wait_until SECONDS CMD [ARGS...]: polls CMD every 50 ms until it
# succeeds (0) or SECONDS x FACTOR have passed (1).
wait_until() {
	local secs=$1
	shift
	harness_poll $((secs * FACTOR)) "$@"
}

_gone() { ! pid_alive "$1"; }

# spawn LOG CMD [ARGS...]: CMD in a process group of its own, output to
# $T/LOG; $SPAWNED_PID is its pid (= its pgid).
spawn() {
	harness_spawn "$T/$1" "$T/$1" "${@:2}"
	SPAWNED_PID=$HARNESS_SPAWNED
}

_none_alive() { ! _any_alive "$@"; }
_kill_group() { harness_signal_group "$1" "$2"; }
_any_alive() { harness_group_alive "$@"; }

_cleanup() {
	local rc=$? f
	trap - EXIT INT TERM HUP
	[ -n "$WATCHDOG_PID" ] && _kill_group KILL "$WATCHDOG_PID"
	if [ "$rc" -ne 0 ] || [ "$_failed" -ne 0 ]; then
		[ -s "$T/watchdog.log" ] && cat "$T/watchdog.log" >&2
		for f in "$T"/*.log; do
			[ -f "$f" ] || continue
			echo "----- ${f##*/} (last 30 lines) -----" >&2
			tail -n 30 "$f" >&2
		done
		harness_crash_report "$T"/*.log >&2
	fi
	# Our own background children (clients, peers), then every group.
	pkill -TERM -P "$$" 2>/dev/null
	harness_stop_groups "${PIDS[@]}"
	wait 2>/dev/null
	if [ "${TASQ_TEST_KEEP:-0}" = 1 ]; then
		log "kept $T"
	else
		rm -rf "$T"
	fi
	[ "$rc" -eq 0 ] && [ "$_failed" -eq 0 ] && log "PASS (${SECONDS}s)"
	exit "$rc"
}
trap _cleanup EXIT
trap 'fail "interrupted by a signal"' INT TERM HUP

# test_begin BUDGET: the test must end within BUDGET x FACTOR seconds
# (CMake passes TASQ_TEST_BUDGET, already scaled). Makes $KEY.
test_begin() {
	local budget=${TASQ_TEST_BUDGET:-$(($1 * FACTOR))}
	new_key "$KEY"
	harness_watchdog "$budget" TERM "$T/watchdog.log"
	WATCHDOG_PID=$HARNESS_WATCHDOG_PID
	log "start (budget ${budget}s, factor $FACTOR, dir $T)"
}

# new_key FILE: 48 random bytes, hex, mode 0600.
new_key() { harness_new_key "$1"; }

# client ARGS...: tasq against $URL with $CLIENT_KEY (default $KEY) and
# CLIENT_OPTS, bounded by CLIENT_TIMEOUT (default 60) x FACTOR seconds.
client() {
	timeout -k 5 $((${CLIENT_TIMEOUT:-60} * FACTOR)) "${LAUNCHER[@]}" \
	    "$TASQ_CLIENT_BIN" --server "$URL" --key-file "${CLIENT_KEY:-$KEY}" \
	    "${CLIENT_OPTS[@]}" "$@"
}

_ready() { [ -s "$1" ] || ! pid_alive "$SERVER_PID"; }

# start_server NAME [ARGS...]: tasq-server on $LISTEN (default
# tcp://127.0.0.1:0) with $SERVER_KEY (default $KEY), log $T/NAME.log;
# waits for the ready file, then a health RPC (with CLIENT_OPTS). Sets
# SERVER_PID, SERVER_LOG, URL (127.0.0.1 replaced by $CLIENT_HOST when
# set), PORT, and METRICS_URL and MPORT: with --metrics-listen
# http://127.0.0.1:0, the URL and port the ready file's second line
# names (the port the kernel picked); else empty.
start_server() {
	local name=$1 ready=$T/$1.ready
	shift
	rm -f "$ready"
	spawn "$name.log" "${LAUNCHER[@]}" "$TASQ_SERVER_BIN" \
	    --listen "${LISTEN:-tcp://127.0.0.1:0}" \
	    --key-file "${SERVER_KEY:-$KEY}" --ready-file "$ready" "$@"
	SERVER_PID=$SPAWNED_PID
	SERVER_LOG=$T/$name.log
	wait_until 15 _ready "$ready" ||
	    fail "server $name wrote no ready file in $((15 * FACTOR)) s"
	pid_alive "$SERVER_PID" ||
	    fail "server $name exited at start: $(cat "$SERVER_LOG")"
	URL=$(sed -n 1p "$ready")
	PORT=${URL##*:}
	METRICS_URL=$(sed -n 2p "$ready")
	MPORT=${METRICS_URL##*:}
	if [ -n "${CLIENT_HOST:-}" ]; then
		URL=${URL/127.0.0.1/$CLIENT_HOST}
	fi
	client health --wait "$((10 * FACTOR))s" --quiet ||
	    fail "server $name at $URL is not serving"
	SERVERS+=("$SERVER_PID:$name")
	log "server $name (pid $SERVER_PID) serving on $URL"
}

# start_worker ARGS...: a tasq-worker supervisor for $URL with $KEY and
# WORKER_OPTS (log worker-N.log). Give -j.
start_worker() {
	_nworkers=$((_nworkers + 1))
	spawn "worker-$_nworkers.log" "${LAUNCHER[@]}" "$TASQ_WORKER_BIN" \
	    --server "$URL" \
	    --key-file "$KEY" "${WORKER_OPTS[@]}" "$@"
}

# assert_serving [WHAT]: the server answers health, and a small submit
# comes back right (needs a worker).
assert_serving() {
	local out=$T/serving.out what=${1:+ after $1}
	pid_alive "$SERVER_PID" || fail "the server is gone$what"
	CLIENT_TIMEOUT=20 client --connect-timeout 5s health --quiet \
	    2>"$T/serving.err" ||
	    fail "the server is not serving$what: $(cat "$T/serving.err")"
	CLIENT_TIMEOUT=30 client submit 3 -4 12345 >"$out" \
	    2>"$T/serving.err" ||
	    fail "a small submit failed$what: $(cat "$T/serving.err")"
	printf '3 9\n-4 16\n12345 152399025\n' | cmp -s - "$out" ||
	    fail "a small submit gave wrong results$what: $(cat "$out")"
}

# check_squares FILE FIRST LAST: from tests/harness/lib.sh.

# counter NAME: a server counter from tasq stats --json.
counter() {
	CLIENT_TIMEOUT=20 client stats --json 2>/dev/null | "$PYTHON" -c '
import json, sys
print(json.load(sys.stdin)["counters"][sys.argv[1]])' "$1"
}

# refused RC NAME PATTERN CMD...: CMD exits RC within its timeout and its
# stderr matches PATTERN (grep -Ei); the message is printed.
refused() {
	local want=$1 name=$2 pat=$3 rc=0
	shift 3
	"$@" >"$T/$name.out" 2>"$T/$name.err" || rc=$?
	log "$name: exit $rc: $(tr '\n' ' ' <"$T/$name.err")"
	[ "$rc" = "$want" ] ||
	    fail "$name: exit $rc, want $want: $(cat "$T/$name.err")"
	grep -Eqi -- "$pat" "$T/$name.err" ||
	    fail "$name: stderr does not match /$pat/: $(cat "$T/$name.err")"
}

# rss_kb PID: resident set size in KiB.
rss_kb() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# s_client ARGS...: openssl s_client to 127.0.0.1:$PORT, bounded. Its
# stdin is a valid SP handshake (REQ), so that the TLS session it opens
# and closes is an ordinary, complete one (see tls_close_notify.sh for
# what a close before the SP bytes does).
s_client() {
	printf '\0SP\0\0\x30\0\0' | timeout -k 2 $((10 * FACTOR)) \
	    openssl s_client -connect "127.0.0.1:$PORT" "$@" 2>&1
}

# stop_server PID NAME [SECONDS]: SIGTERM; it must exit 0 within SECONDS
# (default 15) x FACTOR.
stop_server() {
	local pid=$1 name=$2 rc
	kill -TERM "$pid" 2>/dev/null
	wait_until "${3:-15}" _gone "$pid" ||
	    fail "server $name (pid $pid) still running $((${3:-15} * FACTOR)) s after SIGTERM"
	wait "$pid"
	rc=$?
	[ "$rc" = 0 ] || fail "server $name exited $rc on SIGTERM, want 0"
}

# test_end: stops every server still running (each must exit 0 on
# SIGTERM) after the workers; the trap does the rest.
test_end() {
	local s p others=()
	for p in "${PIDS[@]}"; do
		case " ${SERVERS[*]} " in *" $p:"*) continue ;; esac
		others+=("$p")
		_kill_group TERM "$p"
	done
	# Workers drain (hand back what they hold) while the server is up.
	wait_until 20 _none_alive "${others[@]}" ||
	    log "some workers or peers did not exit in $((20 * FACTOR)) s"
	for s in "${SERVERS[@]}"; do
		pid_alive "${s%%:*}" && stop_server "${s%%:*}" "${s#*:}"
	done
	return 0
}
