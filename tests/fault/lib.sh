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

set -u -o pipefail
export LC_ALL=C

TEST_NAME=$(basename "$0" .sh)
FACTOR=${TASQ_TEST_TIMEOUT_FACTOR:-1}
SCALE=${TASQ_TEST_SCALE:-1}
case $FACTOR in '' | *[!0-9]* | 0) FACTOR=1 ;; esac
case $SCALE in '' | *[!0-9]* | 0) SCALE=1 ;; esac

if [ -n "${TASQ_BIN_DIR:-}" ]; then
	: "${TASQ_SERVER_BIN:=$TASQ_BIN_DIR/server/tasq-server}"
	: "${TASQ_WORKER_BIN:=$TASQ_BIN_DIR/worker/tasq-worker}"
	: "${TASQ_CLIENT_BIN:=$TASQ_BIN_DIR/client/tasq}"
fi
for _b in TASQ_SERVER_BIN TASQ_WORKER_BIN TASQ_CLIENT_BIN; do
	if [ -z "${!_b:-}" ] || [ ! -x "${!_b}" ]; then
		echo "$TEST_NAME: $_b is not set to an executable" \
		    "(set it or TASQ_BIN_DIR)" >&2
		exit 2
	fi
done
unset _b
# Settings meant for a user's own server must not leak into the tests.
for _v in $(compgen -e); do
	case $_v in
	TASQ_*_BIN | TASQ_BIN_DIR | TASQ_TEST_*) ;;
	TASQ_*) unset "$_v" ;;
	esac
done
unset _v

umask 077
T=$(mktemp -d "${TMPDIR:-/tmp}/tasq-fault-$TEST_NAME.XXXXXX") || exit 2
KEY=$T/key
head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$KEY"
chmod 600 "$KEY"

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

log() {
	printf '%s %s: %s\n' "$(date +%H:%M:%S.%3N)" "$TEST_NAME" "$*" >&2
}

fail() {
	log "FAIL: $*"
	_failed=1
	exit 1
}

skip() {
	log "SKIP: $*"
	exit 77
}

# ---- time and scale -------------------------------------------------------

now_ms() {
	date +%s%3N
}

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
	local s=$1 what=$2 deadline
	shift 2
	deadline=$(($(now_ms) + $(secs "$s") * 1000))
	until "$@"; do
		if (($(now_ms) > deadline)); then
			fail "timed out after $(secs "$s") s waiting for $what"
		fi
		sleep 0.05
	done
}

# pause_ms MS: lets MS milliseconds pass while the processes under test
# run. Used only to pick a random fault time, never to wait for a state.
pause_ms() {
	sleep "$(awk -v m="$1" 'BEGIN { printf "%.3f", m / 1000 }')"
}

# ---- processes ------------------------------------------------------------

# alive PID: the process exists and is not a zombie.
alive() {
	local st
	kill -0 "$1" 2>/dev/null || return 1
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ "$st" != Z ]
}

# spawn NAME CMD...: starts CMD in the background in a process group of
# its own, stdout to $T/NAME.out and stderr to $T/NAME.err; sets
# SPAWNED_PID (also the group's id).
spawn() {
	local name=$1
	shift
	# Without job control a background child is not a group leader, so
	# setsid(1) makes it one without forking: $! is the command itself.
	setsid "$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null &
	SPAWNED_PID=$!
	PIDS+=("$SPAWNED_PID")
}

# wait_pid PID S: waits at most S seconds (scaled) for our child PID to
# exit and sets WAIT_STATUS; returns 1 if it still runs.
wait_pid() {
	local pid=$1 deadline=$(($(now_ms) + $(secs "$2") * 1000))
	while alive "$pid"; do
		if (($(now_ms) > deadline)); then
			return 1
		fi
		sleep 0.05
	done
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
	# shellcheck disable=SC2016 # expanded by the inner bash
	setsid bash -c 'sleep "$1"; kill -USR1 "$2"' budget "$s" $$ \
	    </dev/null >/dev/null 2>&1 &
	_timer_pid=$!
	log "budget ${s} s, factor $FACTOR, scale $SCALE, dir $T"
}

_on_budget() {
	_timer_pid=
	fail "budget exhausted: the test hung"
}

# _stop_groups PID...: TERM to each group, then KILL to those still
# there after 5 s.
_stop_groups() {
	local pid deadline
	(($# > 0)) || return 0
	for pid in "$@"; do
		kill_group "$pid" TERM
	done
	deadline=$(($(now_ms) + 5000))
	for pid in "$@"; do
		while kill -0 -- -"$pid" 2>/dev/null &&
		    (($(now_ms) < deadline)); do
			sleep 0.05
		done
		kill_group "$pid" KILL
	done
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
	URL=$(cat "$ready")
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
