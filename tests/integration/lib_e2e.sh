# lib_e2e.sh: add-on to lib.sh for the end-to-end tests of broker rules
# (source it after lib.sh). It drives a tasq_raw session (cmd_session in
# tests/harness/tasq_raw.c): one long-lived process, one connection, that
# plays a worker or a client step by step, so that a test can make it
# misbehave on purpose (hold a lease until it expires, drop its
# connection, hand in a result twice) and read every reply.
#
#	rs_start                      start the session against $URL
#	rs lease default 100 0        one command; its summary line is in
#	                              $RS_LAST, every line in RS_LINES
#	[ "$(rs_field accepted)" = 5 ] || fail ...
#
# Every command is answered within 30 s x FACTOR (plus the wait it asks
# for) or the test fails; the session writes what it was told and what it
# answered to $T/session.log, which a failure prints.

RS_IN=
RS_OUT=
RS_PID=
RS_LAST=
RS_LINES=()

# rs_start: starts the session; it dies with the test (spawned like every
# other process, in a group of its own).
rs_start() {
	rm -f "$T/rs.in" "$T/rs.out"
	mkfifo "$T/rs.in" "$T/rs.out" || fail "mkfifo"
	setsid "$TASQ_RAW_BIN" "$URL" session --key-file "$KEY" \
	    --timeout $((10000 * FACTOR)) <"$T/rs.in" >"$T/rs.out" \
	    2>>"$T/session-stderr.log" &
	RS_PID=$!
	PIDS+=("$RS_PID")
	echo "$RS_PID" >>"$T/pids"
	# Read-write opens of a FIFO do not block (Linux), whatever the
	# order in which the two sides get there.
	exec {RS_IN}<>"$T/rs.in" {RS_OUT}<>"$T/rs.out"
	log "tasq_raw session $RS_PID"
}

# rs CMD [ARGS...]: sends one command and reads its answer: RS_LINES gets
# its lines, RS_LAST the summary (the last). A command whose wait (the
# last argument of lease and fetch) is long gets that much more time.
rs() {
	local line secs=$((30 * FACTOR)) wait_ms=0
	case $1 in lease | fetch) wait_ms=${*: -1} ;; esac
	secs=$((secs + wait_ms / 1000 + 1))
	RS_LINES=()
	RS_LAST=
	echo "> $*" >>"$T/session.log"
	echo "$*" >&"$RS_IN" || fail "tasq_raw session is gone (at: $*)"
	while :; do
		if ! IFS= read -r -t "$secs" line <&"$RS_OUT"; then
			pid_alive "$RS_PID" ||
			    fail "tasq_raw session died (at: $*)"
			fail "tasq_raw session: no answer to '$*' in $secs s"
		fi
		echo "$line" >>"$T/session.log"
		[ "$line" = . ] && break
		RS_LINES+=("$line")
	done
	[ "${#RS_LINES[@]}" -gt 0 ] || fail "tasq_raw session: empty answer to '$*'"
	RS_LAST=${RS_LINES[${#RS_LINES[@]} - 1]}
}

# rs_field KEY [LINE]: the value of KEY=... in LINE (default $RS_LAST).
rs_field() {
	local w line=${2:-$RS_LAST}
	for w in $line; do
		case $w in "$1="*)
			echo "${w#*=}"
			return 0
			;;
		esac
	done
	return 1
}

# rs_ok CMD [ARGS...]: rs, and the reply's status must be OK.
rs_ok() {
	local c="$*"
	rs "$@"
	[ "${#c}" -le 60 ] || c="${c:0:60}..."
	[ "$(rs_field status)" = OK ] || fail "'$c' answered: $RS_LAST"
}

# rs_want KEY VALUE [WHAT]: a field of the last summary line.
rs_want() {
	local got
	got=$(rs_field "$1") || got='(none)'
	[ "$got" = "$2" ] ||
	    fail "${3:+$3: }$1=$got, want $2 (reply: $RS_LAST)"
}

# rs_tasks: the "task ..." lines of the last answer, one a line.
rs_tasks() {
	local l
	for l in "${RS_LINES[@]}"; do
		case $l in task\ *) echo "$l" ;; esac
	done
}

# stats_json: the server's stats as one line of JSON (tasq stats --json).
stats_json() {
	CLIENT_TIMEOUT=30 client stats --json 2>/dev/null
}

# queue_json QUEUE FIELD [JSON]: a number of QUEUE's entry in stats --json
# ("ready", "leased", "results", "jobs", "dead", ...); empty if no such
# queue.
queue_json() {
	local s=${3:-$(stats_json)} q
	s=${s#*\"queues\":}
	s=${s%%\"workers\":*}
	q=$(grep -o "{\"name\":\"$1\",[^}]*}" <<<"$s" | head -n 1)
	q=$(grep -o "\"$2\":[0-9]*" <<<"$q" | head -n 1)
	echo "${q#*:}"
}

# counter_json NAME [JSON]: a counter from stats --json.
counter_json() {
	local s=${2:-$(stats_json)} v
	v=$(grep -o "\"$1\":[0-9]*" <<<"${s#*\"counters\":}" | head -n 1)
	echo "${v#*:}"
}

# want_counter NAME VALUE [WHY]: the server's counter NAME is VALUE now.
want_counter() {
	local v
	v=$(counter "$1") || fail "stats failed"
	[ "$v" = "$2" ] || fail "$1 is $v, want $2${3:+ ($3)}"
}

# want_queue QUEUE FIELD VALUE [WHY] [JSON]: QUEUE's FIELD in stats --json.
want_queue() {
	local v
	v=$(queue_json "$1" "$2" "${5:-}")
	[ "$v" = "$3" ] ||
	    fail "queue $1: $2 is ${v:-(none)}, want $3${4:+ ($4)}"
}
