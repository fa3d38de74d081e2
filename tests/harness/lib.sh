# lib.sh: what every shell test harness of tasq shares, sourced by the
# lib.sh of each suite (tests/integration, fault, security, deploy) and by
# tests/dashboard/dashboard.sh, which keep only what is theirs:
#
#	. "$(dirname "${BASH_SOURCE[0]}")/../harness/lib.sh" || exit 2
#	harness_trace                     # TASQ_TEST_TRACE=1: set -x, stamped
#	harness_factor                    # FACTOR and SCALE
#	harness_bins TASQ_SERVER_BIN ...  # from TASQ_BIN_DIR; exit 2 if missing
#	harness_scrub_env 'TASQ_*_BIN' 'TASQ_BIN_DIR' 'TASQ_TEST_*'
#	harness_scratch tasq-it           # $T, a private temporary directory
#	harness_watchdog 60 TERM "$T/watchdog.msg"
#
# Sourcing it only defines functions (and HARNESS_STRICT and _failed when
# unset): no option or trap of the caller changes until it calls one, and
# every function works under set -e. It gives:
#   binaries      harness_bins (TASQ_BIN_DIR: a build directory to find
#                 tasq-server, tasq-worker, tasq and tasq_raw in)
#   environment   harness_trace, harness_factor, harness_scrub_env,
#                 harness_scratch, harness_new_key
#   messages      log (stamped, named after $TEST_NAME), fail (sets
#                 _failed, exits 1: from the test's own shell, not $(...))
#   time          now_ms, harness_poll (bounded polling: never a sleep as
#                 synchronisation), harness_watchdog (a test's budget)
#   processes     pid_alive, harness_spawn (a process group of its own,
#                 recorded in PIDS), harness_group_alive,
#                 harness_signal_group, harness_stop_groups (TERM, a
#                 bounded wait, KILL); with HARNESS_STRICT set, only the
#                 members harness_ours accepts are signalled
#   results       check_squares FILE FIRST LAST
#   crashes       harness_crash_report FILE... (lib/crash.h reports,
#                 symbolized with addr2line)
# Nothing is ever killed by name: other people's tasq processes run on
# the same machine.
# shellcheck shell=bash

# harness_trace: with TASQ_TEST_TRACE=1, every command with a timestamp,
# to see where the time goes.
harness_trace() {
	if [ "${TASQ_TEST_TRACE:-0}" = 1 ]; then
		PS4='+ $(date +%H:%M:%S.%3N) '
		set -x
	fi
}

# harness_factor: FACTOR from TASQ_TEST_TIMEOUT_FACTOR (else the factor
# CMake configured, TASQ_TEST_CONFIGURED_FACTOR, else 1), by which every
# time bound is multiplied (sanitizer builds: 3 or 6); SCALE from
# TASQ_TEST_SCALE (default 1), by which big workloads are divided.
harness_factor() {
	FACTOR=${TASQ_TEST_TIMEOUT_FACTOR:-${TASQ_TEST_CONFIGURED_FACTOR:-1}}
	SCALE=${TASQ_TEST_SCALE:-1}
	case $FACTOR in '' | *[!0-9]* | 0) FACTOR=1 ;; esac
	case $SCALE in '' | *[!0-9]* | 0) SCALE=1 ;; esac
}

# harness_bins VAR...: each VAR (TASQ_SERVER_BIN, TASQ_WORKER_BIN,
# TASQ_CLIENT_BIN, TASQ_RAW_BIN), unless set, comes from TASQ_BIN_DIR; an
# unset or not executable one ends the test with status 2.
harness_bins() {
	local b
	if [ -n "${TASQ_BIN_DIR:-}" ]; then
		: "${TASQ_SERVER_BIN:=$TASQ_BIN_DIR/server/tasq-server}"
		: "${TASQ_WORKER_BIN:=$TASQ_BIN_DIR/worker/tasq-worker}"
		: "${TASQ_CLIENT_BIN:=$TASQ_BIN_DIR/client/tasq}"
		: "${TASQ_RAW_BIN:=$TASQ_BIN_DIR/tests/harness/tasq_raw}"
	fi
	for b in "$@"; do
		if [ -z "${!b:-}" ] || [ ! -x "${!b}" ]; then
			echo "${TEST_NAME:-test}: $b is not set to an executable" \
			    "(set it or TASQ_BIN_DIR)" >&2
			exit 2
		fi
	done
}

# harness_scrub_env PATTERN...: unsets every TASQ_* variable of the
# environment but those matching a PATTERN (a glob): the programs read
# TASQ_* settings, and only what a test sets on purpose may reach them.
harness_scrub_env() {
	local v p keep
	for v in $(compgen -e); do
		case $v in TASQ_*) ;; *) continue ;; esac
		keep=
		for p in "$@"; do
			# shellcheck disable=SC2053 # a glob on purpose
			if [[ $v == $p ]]; then
				keep=1
				break
			fi
		done
		[ -n "$keep" ] || unset "$v"
	done
}

# harness_scratch PREFIX: T, a new private directory
# ${TMPDIR:-/tmp}/PREFIX-$TEST_NAME.XXXXXX (exit 2 when it cannot be made).
harness_scratch() {
	T=$(mktemp -d "${TMPDIR:-/tmp}/$1-$TEST_NAME.XXXXXX") || exit 2
}

# harness_new_key FILE: a key of 48 random bytes, in hex, mode 0600 from
# the start.
harness_new_key() {
	(umask 077 && head -c 48 /dev/urandom | od -An -tx1 |
	    tr -d ' \n' >"$1")
	chmod 600 "$1"
}

log() {
	printf '%s %s: %s\n' "$(date +%H:%M:%S.%3N)" "$TEST_NAME" "$*" >&2
}

# fail MSG: the test fails; the EXIT trap cleans up. Call it from the
# test's own shell, not from inside $(...).
fail() {
	log "FAIL: $*"
	_failed=1
	exit 1
}
_failed=${_failed:-0}

now_ms() {
	if [ -n "${EPOCHREALTIME:-}" ]; then
		local t=${EPOCHREALTIME/[.,]/}
		echo $((t / 1000))
	else
		date +%s%3N
	fi
}

# harness_poll SECONDS CMD [ARGS...]: runs CMD every 50 ms until it
# succeeds (0) or SECONDS (already scaled: the caller multiplies) have
# passed (1).
harness_poll() {
	local deadline=$(($(now_ms) + $1 * 1000))
	shift
	while :; do
		"$@" && return 0
		[ "$(now_ms)" -ge "$deadline" ] && return 1
		sleep 0.05
	done
}

# harness_watchdog SECONDS SIGNAL [MSGFILE]: a timer in a process group of
# its own that, after SECONDS, writes "WATCHDOG: budget of SECONDS s
# exceeded" to MSGFILE (if given) and sends SIGNAL to this shell; with
# TERM, also to this shell's children (the foreground command, whose end
# lets the shell's trap run). HARNESS_WATCHDOG_PID is its pid (= pgid);
# end it with harness_signal_group KILL "$HARNESS_WATCHDOG_PID".
harness_watchdog() {
	# shellcheck disable=SC2016 # expanded by the watchdog's shell
	setsid bash -c 'sleep "$1" || exit 0
		[ -z "$4" ] || echo "WATCHDOG: budget of $1 s exceeded" >"$4"
		kill -"$3" "$2"
		[ "$3" != TERM ] || pkill -TERM -P "$2"' \
	    watchdog "$1" "$$" "$2" "${3:-}" </dev/null >/dev/null 2>&1 &
	HARNESS_WATCHDOG_PID=$!
	disown "$HARNESS_WATCHDOG_PID" # no "Killed" notice when it is ended
}

# pid_alive PID: the process exists and is not a zombie.
pid_alive() {
	local st
	read -r st 2>/dev/null <"/proc/$1/stat" || return 1
	st=${st##*) }
	[ -n "$st" ] && [ "${st%% *}" != Z ] && [ "${st%% *}" != X ]
}

# harness_spawn OUT ERR CMD [ARGS...]: CMD in the background in a process
# group of its own (setsid: without job control a background child is
# not a group leader, so setsid makes it one without forking and $! is
# CMD itself), stdin /dev/null, stdout appended to OUT and stderr to ERR
# (the same file for both is fine). HARNESS_SPAWNED is its pid (= its
# pgid), also appended to PIDS.
harness_spawn() {
	local out=$1 err=$2
	shift 2
	if [ "$out" = "$err" ]; then
		setsid "$@" </dev/null >>"$out" 2>&1 &
	else
		setsid "$@" </dev/null >>"$out" 2>>"$err" &
	fi
	HARNESS_SPAWNED=$!
	PIDS+=("$HARNESS_SPAWNED")
}

# HARNESS_STRICT: when set, harness_signal_group and harness_group_alive
# look at each member of a group and only at those harness_ours accepts
# (the integration suite: a process whose command line names $T), so that
# a group id reused by someone else's process is never hit. Otherwise they
# signal and look at the whole group (kill -SIG -- -PGID).
HARNESS_STRICT=${HARNESS_STRICT:-}

# harness_ours PID: whether a process may be signalled (strict mode).
# A suite redefines it; by default, any live process.
harness_ours() {
	pid_alive "$1"
}

# harness_members PGID: the leader and every process of its group.
harness_members() {
	echo "$1"
	pgrep -g "$1" 2>/dev/null
}

# harness_signal_group SIG PGID: signals the group and its leader (also
# when the leader has left it); strict: each member harness_ours accepts.
harness_signal_group() {
	local p
	if [ -z "$HARNESS_STRICT" ]; then
		kill "-$1" -- "-$2" 2>/dev/null || true
		kill "-$1" "$2" 2>/dev/null || true
		return 0
	fi
	for p in $(harness_members "$2" | sort -u); do
		if harness_ours "$p"; then
			kill "-$1" "$p" 2>/dev/null || true
		fi
	done
	return 0
}

# harness_group_alive PGID...: some process of these groups is alive
# (not a zombie; strict: one that harness_ours accepts).
harness_group_alive() {
	local g p
	for g in "$@"; do
		for p in $(harness_members "$g" | sort -u); do
			if [ -n "$HARNESS_STRICT" ]; then
				harness_ours "$p" && return 0
			else
				pid_alive "$p" && return 0
			fi
		done
	done
	return 1
}
_harness_groups_gone() { ! harness_group_alive "$@"; }

# harness_stop_groups PGID...: SIGTERM to each group, then, after at most
# HARNESS_STOP_SECS (default 5) seconds (polled), SIGKILL to whatever is
# left.
harness_stop_groups() {
	local p
	(($# > 0)) || return 0
	for p in "$@"; do
		harness_signal_group TERM "$p"
	done
	harness_poll "${HARNESS_STOP_SECS:-5}" _harness_groups_gone "$@" ||
	    true
	for p in "$@"; do
		harness_signal_group KILL "$p"
	done
	return 0
}

# mkca NAME: a self-signed P-256 CA, $T/NAME.pem and $T/NAME.key.
mkca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
	    -nodes -keyout "$T/$1.key" -out "$T/$1.pem" -days 2 \
	    -subj "/CN=tasq test $1" \
	    -addext basicConstraints=critical,CA:TRUE \
	    -addext keyUsage=critical,keyCertSign,cRLSign \
	    >"$T/openssl.out" 2>&1 || fail "openssl: $(cat "$T/openssl.out")"
	chmod 600 "$T/$1.key"
}

# mkcert NAME CA CN SAN USAGE [START END]: a P-256 certificate signed by
# CA, $T/NAME.pem and $T/NAME.key. USAGE is serverAuth or clientAuth;
# SAN like DNS:localhost,IP:127.0.0.1 (or "" for none). With START and
# END (YYYYMMDDHHMMSSZ) the validity is exactly that (openssl ca), so an
# expired certificate can be made without faking the clock.
mkcert() {
	local name=$1 ca=$2 cn=$3 san=$4 usage=$5 start=${6:-} end=${7:-}
	{
		[ -n "$san" ] && echo "subjectAltName=$san"
		echo "basicConstraints=CA:FALSE"
		echo "keyUsage=critical,digitalSignature"
		echo "extendedKeyUsage=$usage"
	} >"$T/$name.ext"
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$T/$name.key" -out "$T/$name.csr" -subj "/CN=$cn" \
	    >"$T/openssl.out" 2>&1 || fail "openssl: $(cat "$T/openssl.out")"
	chmod 600 "$T/$name.key"
	if [ -z "$start" ]; then
		openssl x509 -req -in "$T/$name.csr" -CA "$T/$ca.pem" \
		    -CAkey "$T/$ca.key" -CAcreateserial -days 2 \
		    -extfile "$T/$name.ext" -out "$T/$name.pem" \
		    >"$T/openssl.out" 2>&1 ||
		    fail "openssl: $(cat "$T/openssl.out")"
		return
	fi
	local d=$T/ca-$name
	mkdir -p "$d" && : >"$d/index.txt" && echo 1000 >"$d/serial"
	{
		printf '[ca]\ndefault_ca = d\n[d]\ndatabase = %s\n' "$d/index.txt"
		printf 'serial = %s\nnew_certs_dir = %s\n' "$d/serial" "$d"
		printf 'default_md = sha256\npolicy = p\nunique_subject = no\n'
		printf '[p]\ncommonName = supplied\n[ext]\n'
		cat "$T/$name.ext"
	} >"$d/ca.cnf"
	openssl ca -batch -config "$d/ca.cnf" -cert "$T/$ca.pem" \
	    -keyfile "$T/$ca.key" -in "$T/$name.csr" -out "$T/$name.pem" \
	    -startdate "$start" -enddate "$end" -extensions ext -notext \
	    >"$T/openssl.out" 2>&1 || fail "openssl ca: $(cat "$T/openssl.out")"
}

# tls_scheme: the scheme with which to dial localhost over TLS: nng
# dials the first address of a name, so where localhost is ::1 first,
# tls+tcp4:// keeps to the IPv4 loopback the servers listen on.
tls_scheme() {
	local first
	first=$(getent ahosts localhost 2>/dev/null | awk '{ print $1; exit }')
	if [ "$first" = 127.0.0.1 ]; then
		echo tls+tcp
	else
		echo tls+tcp4
	fi
}

# tls_localhost: a CA ($T/ca.pem, .key), another CA that signed nothing
# ($T/other.pem) and a server certificate for DNS:localhost signed by the
# first ($T/server.pem, .key); sets scheme (tls_scheme).
tls_localhost() {
	command -v openssl >/dev/null || fail "openssl is needed"
	mkca ca
	mkca other
	mkcert server ca localhost DNS:localhost serverAuth
	scheme=$(tls_scheme)
}

# check_squares FILE FIRST LAST: FILE has exactly LAST-FIRST+1 lines and
# line i is "n n*n" for n = FIRST+i-1: every result, once, in order; else
# the test fails, with the first wrong lines. (awk's doubles are exact
# below 2^53: |n| up to 9.4e7.)
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

# harness_crash_report FILE...: for each log that holds a crash report
# (lib/crash.h: "prog[pid] crash: signal ..." and one frame a line), the
# report with every frame that names only an offset in its binary
# ("/path/tasq-server(+0x2a3f1)[0x...]") followed by the function and
# source line addr2line finds there. Prints nothing for logs without one.
harness_crash_report() {
	local f line bin off sym
	for f in "$@"; do
		[ -f "$f" ] && grep -q '\] crash: signal' "$f" || continue
		echo "----- ${f##*/}: crash report, symbolized -----"
		sed -n '/\] crash: signal/,/\] crash: end of the report/p' "$f" |
		    while IFS= read -r line; do
			echo "$line"
			[[ $line =~ ^(/[^\(]+)\((\+0x[0-9a-f]+)\) ]] || continue
			bin=${BASH_REMATCH[1]}
			off=${BASH_REMATCH[2]#+}
			command -v addr2line >/dev/null || continue
			sym=$(addr2line -f -C -p -e "$bin" "$off" 2>/dev/null)
			[ -n "$sym" ] && echo "    = $sym"
		done
	done
}
