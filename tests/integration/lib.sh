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

set -u -o pipefail
export LC_ALL=C
if [ "${TASQ_TEST_TRACE:-0}" = 1 ]; then
	# Every command with a timestamp, to see where the time goes.
	PS4='+ $(date +%H:%M:%S.%3N) '
	set -x
fi

TEST_NAME=$(basename "$0" .sh)
FACTOR=${TASQ_TEST_TIMEOUT_FACTOR:-${TASQ_TEST_CONFIGURED_FACTOR:-1}}
SCALE=${TASQ_TEST_SCALE:-1}
case $FACTOR in '' | *[!0-9]* | 0) FACTOR=1 ;; esac
case $SCALE in '' | *[!0-9]* | 0) SCALE=1 ;; esac

if [ -n "${TASQ_BIN_DIR:-}" ]; then
	: "${TASQ_SERVER_BIN:=$TASQ_BIN_DIR/server/tasq-server}"
	: "${TASQ_WORKER_BIN:=$TASQ_BIN_DIR/worker/tasq-worker}"
	: "${TASQ_CLIENT_BIN:=$TASQ_BIN_DIR/client/tasq}"
	: "${TASQ_RAW_BIN:=$TASQ_BIN_DIR/tests/harness/tasq_raw}"
fi
for _b in TASQ_SERVER_BIN TASQ_WORKER_BIN TASQ_CLIENT_BIN TASQ_RAW_BIN; do
	if [ -z "${!_b:-}" ] || [ ! -x "${!_b}" ]; then
		echo "$TEST_NAME: $_b is not set to an executable" \
		    "(set it or TASQ_BIN_DIR)" >&2
		exit 2
	fi
done
unset _b

# The programs read TASQ_* settings from the environment: only what a
# test sets on purpose may reach them.
for _v in $(compgen -e); do
	case $_v in
	TASQ_*_BIN | TASQ_BIN_DIR | TASQ_TEST_*) ;;
	TASQ_*) unset "$_v" ;;
	esac
done
unset _v

T=$(mktemp -d "${TMPDIR:-/tmp}/tasq-it-$TEST_NAME.XXXXXX") || exit 2
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

log() {
	printf '%s %s: %s\n' "$(date +%H:%M:%S.%3N)" "$TEST_NAME" "$*" >&2
}

# dump_logs: the tail of every log, for a failure report.
dump_logs() {
	local f
	for f in "$T"/*.log; do
		[ -f "$f" ] || continue
		echo "----- ${f##*/} (last 40 lines) -----" >&2
		tail -n 40 "$f" >&2
	done
}

# fail MSG: the test fails; the EXIT trap cleans up. Call it from the
# test's own shell, not from inside $(...).
fail() {
	log "FAIL: $*"
	_failed=1
	exit 1
}
_failed=0

# pid_alive PID: the process exists and is not a zombie.
pid_alive() {
	local st
	read -r st 2>/dev/null <"/proc/$1/stat" || return 1
	st=${st##*) }
	[ -n "$st" ] && [ "${st%% *}" != Z ] && [ "${st%% *}" != X ]
}

now_ms() {
	if [ -n "${EPOCHREALTIME:-}" ]; then
		local t=${EPOCHREALTIME/[.,]/}
		echo $((t / 1000))
	else
		date +%s%3N
	fi
}

# wait_until SECONDS CMD [ARGS...]: polls CMD every 50 ms until it
# succeeds (0) or SECONDS x FACTOR have passed (1).
wait_until() {
	local secs=$1
	shift
	local deadline=$(($(now_ms) + secs * FACTOR * 1000))
	while :; do
		"$@" && return 0
		[ "$(now_ms)" -ge "$deadline" ] && return 1
		sleep 0.05
	done
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
	local logf=$T/$1
	shift
	setsid "$@" </dev/null >>"$logf" 2>&1 &
	SPAWNED_PID=$!
	PIDS+=("$SPAWNED_PID")
	echo "$SPAWNED_PID" >>"$T/pids"
}

# _ours PID: a live process of this test (its command line names $T).
_ours() {
	local cmd
	pid_alive "$1" || return 1
	cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
	[[ $cmd == *"$T"* ]]
}

# _members PGID: the group leader and every process of its group.
_members() {
	echo "$1"
	pgrep -g "$1" 2>/dev/null
}

# _kill_group SIG PGID: signals the group's processes that are ours.
_kill_group() {
	local p
	for p in $(_members "$2" | sort -u); do
		_ours "$p" && kill "-$1" "$p" 2>/dev/null
	done
	return 0
}

_any_alive() {
	local g p
	for g in "$@"; do
		for p in $(_members "$g" | sort -u); do
			_ours "$p" && return 0
		done
	done
	return 1
}

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
	# which passes the signal on), then every recorded group.
	pkill -TERM -P "$$" 2>/dev/null
	for p in "${PIDS[@]}"; do
		_kill_group TERM "$p"
	done
	# Polled, bounded: whatever has not gone in 5 s is killed.
	local deadline=$(($(now_ms) + 5000))
	while _any_alive "${PIDS[@]}" && [ "$(now_ms)" -lt "$deadline" ]; do
		sleep 0.05
	done
	for p in "${PIDS[@]}"; do
		_kill_group KILL "$p"
	done
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
	head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$KEY"
	chmod 600 "$KEY"
	# The watchdog: on expiry, TERM this shell and its foreground
	# child (whose end lets the trap run), then the trap cleans up.
	# shellcheck disable=SC2016 # expanded by the watchdog's shell
	setsid bash -c 'sleep "$1" || exit 0
		echo "WATCHDOG: budget of $1 s exceeded" >"$3"
		kill -TERM "$2"; pkill -TERM -P "$2"' \
	    watchdog "$budget" "$$" "$T/watchdog.msg" \
	    </dev/null >/dev/null 2>&1 &
	WATCHDOG_PID=$!
	disown "$WATCHDOG_PID" # no "Killed" notice when the trap ends it
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
# (SERVER_URL with 127.0.0.1 replaced by $CLIENT_HOST when that is set).
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
	SERVER_URL=$(cat "$ready")
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
# (READY 2, LEASED 3, RESULTS 4, JOBS 5, DEAD 6, SUBMITTED 7, COMPLETED 8).
queue_field() {
	CLIENT_TIMEOUT=30 client stats 2>/dev/null | awk -v q="$1" -v c="$2" '
	    /^QUEUE/ { inq = 1; next } /^$/ { inq = 0 }
	    inq && $1 == q { print $c; exit }'
}

# check_squares FILE FIRST LAST: FILE has exactly LAST-FIRST+1 lines and
# line i is "n n*n" for n = FIRST+i-1: every result, once, in order.
# (awk's doubles are exact below 2^53: |n| up to 9.4e7.)
check_squares() {
	local file=$1 first=$2 last=$3
	[ -f "$file" ] || fail "check_squares: no file $file"
	awk -v first="$first" -v last="$last" '
	    {
		n = first + NR - 1
		if ($0 !~ /^-?[0-9]+ -?[0-9]+$/ || $1 != n || $2 != n * n) {
			if (bad++ < 5)
				printf("line %d: want \"%.0f %.0f\", got \"%s\"\n",
				    NR, n, n * n, $0)
		}
	    }
	    END {
		want = last - first + 1
		if (NR != want) {
			printf("%d lines, want %d\n", NR, want)
			bad++
		}
		exit(bad > 0)
	    }' "$file" >&2 ||
	    fail "check_squares $file $first:$last: wrong results (above)"
}

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
