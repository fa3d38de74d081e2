# lib.sh: the harness of tasq's fault-injection tests; every test in
# tests/fault sources it. It is separate from tests/integration/lib.sh on
# purpose: these tests kill, cut off and starve the processes they start,
# and need restarts on the same port and data directory.
#
#	. "$(dirname "$0")/lib.sh"
#	test_begin 120                      # budget in seconds (scaled)
#	start_server --data-dir "$T/data"   # port 0, ready file, health
#	start_workers w1 -j 2
#	kill_server; restart_server         # same URL, same arguments
#	check_squares "$T/out" 1000         # "i i*i" for i = 1..1000, in order
#
# What a test gets:
#   $T            a private temporary directory (removed at exit unless
#                 TASQ_TEST_KEEP=1)
#   $KEY          a fresh 0600 key file
#   $URL          the server's URL as its ready file names it (real port)
#   $SERVER_PID   the running server (a process group of its own)
#   $SERVER_LOG   its stderr
#   $SPAWNED_PID  the last process started by spawn / start_workers
#   $FACTOR       TASQ_TEST_TIMEOUT_FACTOR (default 1): every time bound is
#                 multiplied by it (sanitizer builds set 3 or 6)
#   $SCALE        TASQ_TEST_SCALE (default 1): task counts are divided by
#                 it (scaled N gives N / SCALE, at least 1)
#
# Every process goes through spawn, which gives it a process group of its
# own (setsid) and records it. The EXIT trap sends TERM to every recorded
# group, then KILL after a bounded wait, reaps them, runs the cleanups a
# test registered with at_exit (network namespaces, mounts) in reverse
# order, prints the tail of every log when the test failed, and removes
# $T. A budget timer (test_begin) ends a hung test with its logs before
# CTest's TIMEOUT would kill it blindly. No fixed ports; no sleep used as
# synchronisation: poll_until polls a condition under a deadline.
#
# Binaries: TASQ_SERVER_BIN, TASQ_WORKER_BIN, TASQ_CLIENT_BIN (CMake sets
# them), or TASQ_BIN_DIR, a build directory to find them in:
#	TASQ_BIN_DIR=build-fault bash tests/fault/server_kill.sh
#
# What every suite shares (binaries, environment, process groups, bounded
# polling) is tests/harness/lib.sh; this file keeps what is the fault
# tests' own. Its check_squares takes FILE N (1..N), unlike the shared one.

set -u -o pipefail
export LC_ALL=C
# shellcheck source-path=SCRIPTDIR source=../harness/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../harness/lib.sh" || exit 2

TEST_NAME=$(basename "$0" .sh)
harness_factor
harness_bins TASQ_SERVER_BIN TASQ_WORKER_BIN TASQ_CLIENT_BIN
# Settings meant for a user's own server must not leak into the tests.
harness_scrub_env 'TASQ_*_BIN' TASQ_BIN_DIR 'TASQ_TEST_*'

umask 077
harness_scratch tasq-fault
KEY=$T/key
harness_new_key "$KEY"

URL=
SERVER_PID=
SERVER_LOG=
SERVER_ARGS=()
SERVER_NETNS= # run the server inside this network namespace
CLIENT_NETNS= # run client calls inside this network namespace
SPAWNED_PID=
PIDS=()     # process groups we started (each pid is its group's id)
CLEANUPS=() # commands to run at exit, last registered first
_fg_pid=    # the foreground command being waited for
_timer_pid=
_nserver=0
_failed=0

# ---- messages -------------------------------------------------------------
# log and fail: tests/harness/lib.sh.

skip() {
	log "SKIP: $*"
	exit 77
}

# ---- time and scale -------------------------------------------------------

# secs S: S seconds scaled by FACTOR.
secs() {
	echo $(($1 * FACTOR))
}

# scaled N: N divided by SCALE, at least 1.
scaled() {
	local n=$(($1 / SCALE))
	echo $((n > 0 ? n : 1))
}

# rand_ms LO HI: a random number of milliseconds in [LO, HI].
rand_ms() {
	echo $(($1 + (RANDOM * 32768 + RANDOM) % ($2 - $1 + 1)))
}

# poll_until S WHAT CMD...: runs CMD every 50 ms until it succeeds; fails
# the test naming WHAT after S seconds (scaled).
poll_until() {
	local s=$1 what=$2
	shift 2
	harness_poll "$(secs "$s")" "$@" ||
	    fail "timed out after $(secs "$s") s waiting for $what"
}

# pause_ms MS: lets MS milliseconds pass while the processes under test
# run. Used only to pick a random fault time, never to wait for a state.
pause_ms() {
	sleep "$(awk -v m="$1" 'BEGIN { printf "%.3f", m / 1000 }')"
}

# ---- processes ------------------------------------------------------------

# alive PID: the process exists and is not a zombie.
alive() {
	pid_alive "$1"
}
_dead() { ! pid_alive "$1"; }

# spawn NAME CMD...: starts CMD in the background in a process group of
# its own, stdout to $T/NAME.out and stderr to $T/NAME.err; sets
# SPAWNED_PID (also the group's id).
spawn() {
	local name=$1
	shift
	: >"$T/$name.out"
	: >"$T/$name.err"
	harness_spawn "$T/$name.out" "$T/$name.err" "$@"
	SPAWNED_PID=$HARNESS_SPAWNED
}

# wait_pid PID S: waits at most S seconds (scaled) for our child PID to
# exit and sets WAIT_STATUS; returns 1 if it still runs.
wait_pid() {
	local pid=$1
	harness_poll "$(secs "$2")" _dead "$pid" || return 1
	wait "$pid" 2>/dev/null
	WAIT_STATUS=$?
	_forget "$pid"
	return 0
}

# _forget PID: PID was reaped; its number may now be reused by a process
# that is not ours, so the exit trap must not signal it.
_forget() {
	local i
	for i in "${!PIDS[@]}"; do
		if [ "${PIDS[i]}" = "$1" ]; then
			unset "PIDS[i]"
		fi
	done
}

# kill_group PID [SIGNAL]: signals every process of PID's group.
kill_group() {
	kill -"${2:-KILL}" -- -"$1" 2>/dev/null
}

# run S CMD...: runs CMD in a process group of its own, with stdout and
# stderr as the caller's, and waits at most S seconds (scaled); then
# kills it and returns 124. Returns CMD's status otherwise.
run() {
	local s=$1 st
	shift
	setsid "$@" &
	_fg_pid=$!
	if ! wait_pid "$_fg_pid" "$s"; then
		log "$(basename "$1") did not finish in $(secs "$s") s; killed"
		{
			kill_group "$_fg_pid"
			wait "$_fg_pid"
		} 2>/dev/null
		_fg_pid=
		return 124
	fi
	st=$WAIT_STATUS
	_fg_pid=
	return "$st"
}

# at_exit CMD: registers a cleanup command (a string for eval).
at_exit() {
	CLEANUPS+=("$1")
}

# test_begin S: ends the test (as a failure, with logs) if it is still
# running after S seconds (scaled; TASQ_TEST_BUDGET from CMake wins).
test_begin() {
	local s=${TASQ_TEST_BUDGET:-$(secs "$1")}
	harness_watchdog "$s" USR1
	_timer_pid=$HARNESS_WATCHDOG_PID
	log "budget ${s} s, factor $FACTOR, scale $SCALE, dir $T"
}

_on_budget() {
	_timer_pid=
	fail "budget exhausted: the test hung"
}

# _stop_groups PID...: TERM to each group, then KILL to those still
# there after 5 s.
_stop_groups() {
	harness_stop_groups "$@"
}

_cleanup() {
	local st=$? pid
	trap - EXIT INT TERM USR1
	if ((st != 0 && st != 77)); then
		_failed=1
	fi
	if [ -n "$_timer_pid" ]; then
		kill_group "$_timer_pid"
		wait "$_timer_pid" 2>/dev/null
	fi
	# Only groups whose leader is still our child: a number that was
	# reaped behind our back may belong to someone else by now.
	local ours=()
	for pid in "${PIDS[@]}" $_fg_pid; do
		if [ "$(awk '{ print $4 }' "/proc/$pid/stat" 2>/dev/null)" = $$ ]
		then
			ours+=("$pid")
		fi
	done
	# Redirected: bash reports children killed by a signal on stderr.
	# The server goes last, so that draining workers can still hand in
	# and release what they hold (a worker whose server is gone waits
	# for its requests' deadlines instead).
	local first=() last=()
	for pid in "${ours[@]}"; do
		if [ "$pid" = "$SERVER_PID" ]; then
			last+=("$pid")
		else
			first+=("$pid")
		fi
	done
	{
		_stop_groups "${first[@]}"
		_stop_groups "${last[@]}"
		for pid in "${ours[@]}"; do
			wait "$pid"
		done
	} 2>/dev/null
	local i
	for ((i = ${#CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${CLEANUPS[i]}" || log "cleanup failed: ${CLEANUPS[i]}"
	done
	if ((_failed)); then
		local f
		for f in "$T"/*.err "$T"/*.out; do
			[ -s "$f" ] || continue
			# Result files are long and say little; logs are .err.
			case $f in *.out) (($(stat -c %s "$f") < 4096)) ||
			    continue ;;
			esac
			echo "----- tail of $(basename "$f")" >&2
			tail -n 15 "$f" | cut -c1-300 >&2
		done
		harness_crash_report "$T"/*.err >&2
	fi
	if [ "${TASQ_TEST_KEEP:-0}" = 1 ]; then
		log "kept $T"
	else
		rm -rf "$T"
	fi
	exit "$st"
}
trap _cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
trap _on_budget USR1

# ---- tasq -----------------------------------------------------------------

_ns() {
	if [ -n "$1" ]; then
		echo "ip netns exec $1"
	fi
}

# client ARGS...: the tasq client against $URL (inside $CLIENT_NETNS if
# set), bounded by 60 s (scaled).
client() {
	# shellcheck disable=SC2046
	run 60 $(_ns "$CLIENT_NETNS") "$TASQ_CLIENT_BIN" --server "$URL" \
	    --key-file "$KEY" "$@"
}

# stats_json: the server's stats as one line of JSON (empty on failure).
stats_json() {
	client --request-timeout 2s stats --json 2>/dev/null
}

# json_num JSON NAME: the first number named NAME in JSON.
json_num() {
	local v
	v=$(grep -o "\"$2\":[0-9]*" <<<"$1" | head -n 1)
	echo "${v#*:}"
}

# stat_num NAME: a number from a fresh stats call (a counter, or a field
# of the first queue such as ready, leased, results); empty on failure.
stat_num() {
	json_num "$(stats_json)" "$1"
}

# stat_is NAME VALUE: for poll_until.
stat_is() {
	[ "$(stat_num "$1")" = "$2" ]
}

# stat_ge NAME VALUE
stat_ge() {
	local v
	v=$(stat_num "$1")
	[ -n "$v" ] && ((v >= $2))
}

_ready_or_dead() {
	[ -s "$1" ] && return 0
	if ! alive "$SERVER_PID"; then
		wait "$SERVER_PID" 2>/dev/null
		return 2
	fi
	return 1
}

# start_server ARGS...: starts tasq-server on $LISTEN (default
# tcp://127.0.0.1:0) with $KEY and ARGS, waits for its ready file (the
# real URL) and a health answer. Sets SERVER_PID, SERVER_LOG, URL and
# SERVER_ARGS. START_ATTEMPTS (default 1) retries a server that exits
# during start-up (a port briefly held after a kill).
start_server() {
	local ready attempt rv deadline
	SERVER_ARGS=("$@")
	for ((attempt = 1; attempt <= ${START_ATTEMPTS:-1}; attempt++)); do
		_nserver=$((_nserver + 1))
		ready=$T/server.$_nserver.ready
		# shellcheck disable=SC2046
		spawn "server.$_nserver" $(_ns "$SERVER_NETNS") \
		    "$TASQ_SERVER_BIN" --listen "${LISTEN:-tcp://127.0.0.1:0}" \
		    --key-file "$KEY" --ready-file "$ready" "$@"
		SERVER_PID=$SPAWNED_PID
		SERVER_LOG=$T/server.$_nserver.err
		deadline=$(($(now_ms) + $(secs 20) * 1000))
		while :; do
			_ready_or_dead "$ready"
			rv=$?
			((rv == 1)) || break
			if (($(now_ms) > deadline)); then
				fail "server $_nserver wrote no ready file" \
				    "in $(secs 20) s"
			fi
			sleep 0.05
		done
		((rv == 0)) && break
		log "server $_nserver exited during start-up:" \
		    "$(tail -n 1 "$SERVER_LOG")"
	done
	((rv == 0)) || fail "the server did not start"
	# The ready file's first line is the URL; with --metrics-listen
	# the second is the metrics URL with its bound port.
	URL=$(sed -n 1p "$ready")
	METRICS_URL=$(sed -n 2p "$ready")
	client health --wait "$(secs 10)s" >/dev/null ||
	    fail "server $_nserver at $URL does not answer health"
}

# restart_server [ARGS...]: a new server on the same URL (port) with the
# previous arguments (or ARGS); clients and workers find it by themselves.
restart_server() {
	if (($# > 0)); then
		SERVER_ARGS=("$@")
	fi
	LISTEN=$URL START_ATTEMPTS=${START_ATTEMPTS:-20} \
	    start_server "${SERVER_ARGS[@]}"
}

# kill_server [SIGNAL]: signals the server (KILL by default) and reaps it
# (quietly: bash would report the signal).
kill_server() {
	kill -"${1:-KILL}" "$SERVER_PID" 2>/dev/null
	wait_pid "$SERVER_PID" 20 2>/dev/null ||
	    fail "server $SERVER_PID does not exit"
}

# kill_spawned PID: kills the process group PID with SIGKILL and reaps it.
kill_spawned() {
	kill_group "$1" KILL
	wait_pid "$1" 20 2>/dev/null || fail "process $1 does not exit"
}

# start_workers NAME ARGS...: a tasq-worker supervisor against $URL
# (inside $WORKER_NETNS if set); sets SPAWNED_PID.
start_workers() {
	local name=$1
	shift
	# shellcheck disable=SC2046
	spawn "$name" $(_ns "${WORKER_NETNS:-}") "$TASQ_WORKER_BIN" \
	    --server "$URL" --key-file "$KEY" "$@"
}

# start_submit NAME ARGS...: a background `tasq submit ARGS` against $URL
# (its results in $T/NAME.out); sets SPAWNED_PID.
start_submit() {
	local name=$1
	shift
	# shellcheck disable=SC2046
	spawn "$name" $(_ns "$CLIENT_NETNS") "$TASQ_CLIENT_BIN" \
	    --server "$URL" --key-file "$KEY" --request-timeout 2s \
	    submit "$@"
}

# check_squares FILE N: FILE is exactly "i i*i" for i = 1..N, in order:
# every result once, correct, none missing, none repeated.
check_squares() {
	awk -v n="$2" '
	NF != 2 || $1 != NR || $2 != $1 * $1 {
		if (bad++ < 5)
			printf "line %d: \"%s\"\n", NR, $0 > "/dev/stderr"
	}
	END {
		if (NR != n)
			printf "%d lines, expected %d\n", NR, n > "/dev/stderr"
		exit (bad > 0 || NR != n)
	}' "$1"
}

# count_results FILE N: prints "lost duplicates wrong" for a result file
# of `tasq submit --range 1:N`, in any order.
count_results() {
	awk -v n="$2" '
	{
		if (NF != 2 || $1 < 1 || $1 > n || $2 != $1 * $1)
			wrong++
		else if (seen[$1]++)
			dup++
	}
	END {
		got = 0
		for (k in seen)
			got++
		printf "%d %d %d\n", n - got, dup + 0, wrong + 0
	}' "$1"
}
