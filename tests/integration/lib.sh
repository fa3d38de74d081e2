# lib.sh: the harness of tasq's integration tests; every test sources it.
#
#	. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
#	test_begin 60                 # budget in seconds (scaled, see below)
#	start_server --lease 1s       # port 0, ready file, then a health RPC
#	start_workers -j 2
#	client submit --range 1:1000 >"$T/out" || fail "submit failed"
#	check_squares "$T/out" 1 1000
#	test_end                      # stops everything, checks exit codes
#
# What it gives a test:
#   $T            a private temporary directory (removed at exit, kept
#                 when TASQ_TEST_KEEP=1)
#   $KEY          a fresh 0600 key file in $T
#   $URL          the server's URL as clients should dial it
#   $SERVER_PID   the server (its own process group)
#   $SPAWNED_PID  the last process started by spawn/start_workers
#   $FACTOR       TASQ_TEST_TIMEOUT_FACTOR (3 under sanitizers): every
#                 deadline below is multiplied by it
#   $SCALE        TASQ_TEST_SCALE: big workloads are divided by it
#
# Every process a test starts goes through spawn, which gives it a process
# group of its own (setsid) and records it; the EXIT trap kills every
# recorded group (TERM, then KILL after a bounded wait), prints the tail of
# every log on failure and removes $T. It only signals processes whose
# command line names $T (all of ours do: --key-file $T/key), so a pid
# reused by someone else's process is never hit. A watchdog ends the test when its
# budget runs out, so a hang fails with logs instead of a CTest kill that
# would leave processes behind. No fixed ports, loopback only, and no
# sleep used as synchronisation: wait_until polls a condition under a
# deadline.
#
# Binaries: TASQ_SERVER_BIN, TASQ_WORKER_BIN, TASQ_CLIENT_BIN, TASQ_RAW_BIN
# (CMake sets them), or TASQ_BIN_DIR, a build directory to find them in:
#	TASQ_BIN_DIR=build bash tests/integration/e2e_million.sh
# TASQ_TEST_KEEP=1 keeps $T; TASQ_TEST_TRACE=1 traces with timestamps.
#
# What every suite shares (binaries, environment, process groups, bounded
# polling, check_squares) is tests/harness/lib.sh; this file keeps what is
# the integration tests' own.

set -u -o pipefail
export LC_ALL=C
# shellcheck source-path=SCRIPTDIR source=../harness/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../harness/lib.sh" || exit 2
harness_trace

TEST_NAME=$(basename "$0" .sh)
harness_factor
harness_bins TASQ_SERVER_BIN TASQ_WORKER_BIN TASQ_CLIENT_BIN TASQ_RAW_BIN
harness_scrub_env 'TASQ_*_BIN' TASQ_BIN_DIR 'TASQ_TEST_*'
harness_scratch tasq-it
KEY=$T/key
URL=
SERVER_PID=
SERVER_URL=
SPAWNED_PID=
PIDS=()          # every process group we started
EXPECT_EXIT=()   # "pid:status" to check in test_end
CLIENT_OPTS=()   # extra global options of every client call (TLS)
WORKER_OPTS=()   # extra options of every worker (TLS)
WATCHDOG_PID=
_nworkers=0
# Signal only processes whose command line names $T (_ours).
HARNESS_STRICT=1

# dump_logs: the tail of every log, for a failure report.
dump_logs() {
	local f
	for f in "$T"/*.log; do
		[ -f "$f" ] || continue
		echo "----- ${f##*/} (last 40 lines) -----" >&2
		tail -n 40 "$f" >&2
	done
	harness_crash_report "$T"/*.log >&2
}

# wait_until SECONDS CMD [ARGS...]: polls CMD every 50 ms until it
# succeeds (0) or SECONDS x FACTOR have passed (1).
wait_until() {
	local secs=$1
	shift
	harness_poll $((secs * FACTOR)) "$@"
}

# wait_exit PID SECONDS: waits for a child of this shell to exit within
# SECONDS x FACTOR; then its exit status is in $EXIT_STATUS. Returns 1 if
# it is still running.
EXIT_STATUS=
wait_exit() {
	local pid=$1 secs=$2
	wait_until "$secs" _not_running "$pid" || return 1
	wait "$pid"
	EXIT_STATUS=$?
	return 0
}
_not_running() { ! kill -0 "$1" 2>/dev/null; }

# spawn LOG CMD [ARGS...]: starts CMD in a process group of its own with
# stdout and stderr to $T/LOG; $SPAWNED_PID is its pid (= its pgid).
spawn() {
	harness_spawn "$T/$1" "$T/$1" "${@:2}"
	SPAWNED_PID=$HARNESS_SPAWNED
	echo "$SPAWNED_PID" >>"$T/pids"
}

# _ours PID: a live process of this test (its command line names $T).
_ours() {
	local cmd
	pid_alive "$1" || return 1
	cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
	[[ $cmd == *"$T"* ]]
}
harness_ours() { _ours "$1"; }

# _members PGID: the leader and every process of its group.
_members() { harness_members "$1"; }

# _kill_group SIG PGID: signals the group's processes that are ours.
_kill_group() { harness_signal_group "$1" "$2"; }

_any_alive() { harness_group_alive "$@"; }

_cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	# The watchdog and its sleep (which does not name $T).
	if [ -n "$WATCHDOG_PID" ] && _ours "$WATCHDOG_PID"; then
		kill -KILL -- "-$WATCHDOG_PID" 2>/dev/null
	fi
	if [ "$rc" -ne 0 ] || [ "$_failed" -ne 0 ]; then
		[ -s "$T/watchdog.msg" ] && cat "$T/watchdog.msg" >&2
		dump_logs
	fi
	# Clients run in the background by the test (each under timeout,
	# which passes the signal on), then every recorded group: TERM,
	# at most 5 s (polled), KILL.
	pkill -TERM -P "$$" 2>/dev/null
	harness_stop_groups "${PIDS[@]}"
	wait 2>/dev/null
	if [ "${TASQ_TEST_KEEP:-0}" = 1 ]; then
		log "kept $T"
	else
		rm -rf "$T"
	fi
	if [ "$rc" -eq 0 ] && [ "$_failed" -eq 0 ]; then
		log "PASS (${SECONDS}s)"
	fi
	exit "$rc"
}
trap _cleanup EXIT
trap 'fail "interrupted by a signal"' INT TERM HUP

# test_begin BUDGET: the whole test must end within BUDGET seconds
# (x FACTOR; CMake passes TASQ_TEST_BUDGET, already scaled). Also makes
# the key file.
test_begin() {
	local budget=$(($1 * FACTOR))
	if [ -n "${TASQ_TEST_BUDGET:-}" ]; then
		budget=$TASQ_TEST_BUDGET
	fi
	harness_new_key "$KEY"
	# The watchdog: on expiry, TERM this shell and its foreground
	# child (whose end lets the trap run), then the trap cleans up.
	harness_watchdog "$budget" TERM "$T/watchdog.msg"
	WATCHDOG_PID=$HARNESS_WATCHDOG_PID
	log "start (budget ${budget}s, factor $FACTOR, scale $SCALE, dir $T)"
}

# client ARGS...: the tasq client against $URL with $KEY, bounded by
# CLIENT_TIMEOUT seconds (default 120) x FACTOR; returns its exit status.
client() {
	timeout -k 5 $((${CLIENT_TIMEOUT:-120} * FACTOR)) "$TASQ_CLIENT_BIN" \
	    --server "$URL" --key-file "$KEY" "${CLIENT_OPTS[@]}" "$@"
}

# spawn_client OUT ERR ARGS...: the client in the background as a process
# of its own (no timeout(1) between, so that a test can signal it);
# $SPAWNED_PID is its pid. The watchdog and the EXIT trap bound it.
spawn_client() {
	local out=$1 err=$2
	shift 2
	setsid "$TASQ_CLIENT_BIN" --server "$URL" --key-file "$KEY" \
	    "${CLIENT_OPTS[@]}" "$@" </dev/null >"$out" 2>"$err" &
	SPAWNED_PID=$!
	PIDS+=("$SPAWNED_PID")
	echo "$SPAWNED_PID" >>"$T/pids"
}

# raw ARGS...: tasq_raw against $URL (see tests/harness/tasq_raw.c).
raw() {
	timeout -k 5 $((60 * FACTOR)) "$TASQ_RAW_BIN" "$URL" "$@"
}

_ready_file_written() { [ -s "$1" ]; }

# start_server [ARGS...]: tasq-server on $LISTEN (default
# tcp://127.0.0.1:0) with $KEY; waits for the ready file (the real URL)
# and then for a health RPC. Sets SERVER_PID, SERVER_URL and URL
# (SERVER_URL with 127.0.0.1 replaced by $CLIENT_HOST when that is set),
# and METRICS_URL: with --metrics-listen http://127.0.0.1:0, the ready
# file's second line, the port the kernel picked (no free port picked
# beforehand, which another process could take first); else empty.
# shellcheck disable=SC2120 # arguments are optional
start_server() {
	local ready=$T/server.ready
	rm -f "$ready"
	spawn server.log "$TASQ_SERVER_BIN" --listen \
	    "${LISTEN:-tcp://127.0.0.1:0}" --key-file "$KEY" \
	    --ready-file "$ready" --log-level info "$@"
	SERVER_PID=$SPAWNED_PID
	if ! wait_until 15 _server_up "$ready"; then
		fail "server wrote no ready file in $((15 * FACTOR)) s"
	fi
	pid_alive "$SERVER_PID" || fail "server exited at start"
	SERVER_URL=$(sed -n 1p "$ready")
	METRICS_URL=$(sed -n 2p "$ready")
	URL=$SERVER_URL
	if [ -n "${CLIENT_HOST:-}" ]; then
		URL=${SERVER_URL/127.0.0.1/$CLIENT_HOST}
	fi
	client health --wait "$((10 * FACTOR))s" --quiet ||
	    fail "server at $URL not serving"
	EXPECT_EXIT+=("$SERVER_PID:0")
	log "server $SERVER_PID serving on $SERVER_URL"
}
_server_up() {
	_ready_file_written "$1" && return 0
	# Stop waiting at once if the server died.
	pid_alive "$SERVER_PID" || return 0
	return 1
}

# start_workers ARGS...: a tasq-worker supervisor for $URL (log
# worker-N.log); $SPAWNED_PID is the supervisor. Give -j.
start_workers() {
	_nworkers=$((_nworkers + 1))
	spawn "worker-$_nworkers.log" "$TASQ_WORKER_BIN" --server "$URL" \
	    --key-file "$KEY" "${WORKER_OPTS[@]}" "$@"
	log "worker supervisor $SPAWNED_PID: $*"
}

# expect_exit PID STATUS: test_end checks that PID ended with STATUS when
# it sent it SIGTERM (the default for the server is 0).
expect_exit() {
	EXPECT_EXIT+=("$1:$2")
}

# worker_children SUPERVISOR: the pids of its worker processes.
worker_children() {
	pgrep -P "$1" 2>/dev/null
}

# counter NAME: the value of a server counter (tasq stats); empty and
# status 1 when stats fails.
counter() {
	local v
	v=$(CLIENT_TIMEOUT=30 client stats 2>/dev/null |
	    awk -v n="$1" '$1 == n { print $2; exit }')
	[ -n "$v" ] || return 1
	echo "$v"
}

# counter_ge NAME VALUE: the counter is at least VALUE.
counter_ge() {
	local v
	v=$(counter "$1") || return 1
	[ "$v" -ge "$2" ]
}

# queue_field NAME COLUMN: a column of a queue's line in tasq stats
# (READY 2, LEASED 3, RESULTS 4, JOBS 5, DEAD 6, SUBMITTED 7, COMPLETED 8,
# FAILED 9, RETRIED 10).
queue_field() {
	CLIENT_TIMEOUT=30 client stats 2>/dev/null | awk -v q="$1" -v c="$2" '
	    /^QUEUE/ { inq = 1; next } /^$/ { inq = 0 }
	    inq && $1 == q { print $c; exit }'
}

# check_squares FILE FIRST LAST: from tests/harness/lib.sh.

# expect_squares INPUT: the output tasq submit must print for INPUT (one
# integer a line), errors reduced to "n error: CODE". Exact in 64 bits:
# awk computes squares below 2^53, bash (64-bit) the few larger ones.
expect_squares() {
	local n big=$T/.big.$$
	: >"$big"
	awk '{ v = $1 < 0 ? -$1 : $1; if (v > 94906265) print $1 }' "$1" |
	    while IFS= read -r n; do
		if [ "${n#-}" -gt 3037000499 ]; then
			echo "$n error: OUT_OF_RANGE"
		else
			echo "$n $((n * n))"
		fi
	    done >"$big"
	awk -v big="$big" '
	    BEGIN { while ((getline l < big) > 0) { split(l, f, " ")
		    sub(/^[^ ]* /, "", l); sq[f[1]] = l } }
	    { v = $1 < 0 ? -$1 : $1
	      if (v > 94906265) print $1 " " sq[$1]
	      else printf("%s %.0f\n", $1, $1 * $1) }' "$1"
	rm -f "$big"
}

# check_output OUT INPUT: OUT is exactly what INPUT should produce.
check_output() {
	local out=$1 input=$2
	expect_squares "$input" >"$out.want"
	sed -E 's/^(-?[0-9]+) error: ([A-Z_]+) .*/\1 error: \2/' "$out" \
	    >"$out.got"
	if ! cmp -s "$out.want" "$out.got"; then
		diff "$out.want" "$out.got" | head -n 20 >&2
		fail "$out: results differ from the expected ones (above)"
	fi
}

# assert_serving: the server answers a health check and a small job is
# computed right (needs workers).
assert_serving() {
	local out=$T/serving.out
	pid_alive "$SERVER_PID" || fail "server is gone${1:+ after $1}"
	CLIENT_TIMEOUT=30 client health --quiet ||
	    fail "server not healthy${1:+ after $1}"
	CLIENT_TIMEOUT=30 client submit 3 -4 0 12345 >"$out" ||
	    fail "small submit failed${1:+ after $1}"
	printf '3 9\n-4 16\n0 0\n12345 152399025\n' | cmp -s - "$out" ||
	    fail "small submit gave wrong results${1:+ after $1}: $(cat "$out")"
}

# stop PID [SECONDS]: SIGTERM and wait (bounded) for it to exit; its
# status is in $EXIT_STATUS.
stop() {
	kill -TERM "$1" 2>/dev/null
	wait_exit "$1" "${2:-20}" || fail "pid $1 did not exit on SIGTERM"
}

# test_end: stops every process still running with SIGTERM, checks the
# exit status of the server (0) and of anything given to expect_exit, and
# that no log holds a sanitizer report.
test_end() {
	local e pid want p i
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		p=${PIDS[i]}
		kill -0 "$p" 2>/dev/null || continue
		stop "$p" 30
		for e in "${EXPECT_EXIT[@]}"; do
			pid=${e%%:*}
			want=${e##*:}
			if [ "$pid" = "$p" ] && [ "$EXIT_STATUS" != "$want" ]; then
				fail "pid $p exited $EXIT_STATUS on SIGTERM, want $want"
			fi
		done
	done
	if grep -l -E 'ERROR: AddressSanitizer|runtime error:|WARNING: ThreadSanitizer|ERROR: LeakSanitizer' \
	    "$T"/*.log >/dev/null 2>&1; then
		fail "a sanitizer reported an error (see the logs)"
	fi
}
