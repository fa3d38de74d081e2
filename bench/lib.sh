# bench/lib.sh: what the benchmark scripts share (sourced by run.sh,
# fair.sh and handlers.sh): messages, a work directory with its cleanup,
# bounded stops, and the small parsers of the programs' key=value lines.
#
#   bench_begin PREFIX   makes $work ($TMPDIR/PREFIX.XXXXXX) and pids=(),
#                        and on exit stops every pid in pids and removes
#                        $work (kept when keep=1)

note() { echo "# $*" >&2; }

bench_begin() {
	work=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX") || exit 1
	pids=()
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
}

bench_cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null
	done
	if [ "${keep:-0}" -eq 1 ]; then
		echo "# work directory kept: $work" >&2
	else
		rm -rf "$work"
	fi
}

# stop PID: SIGTERM, then wait (bounded: SIGKILL after 10 s); PID leaves
# pids.
stop() {
	local p=$1 i
	kill -TERM "$p" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	local keep_pids=()
	for i in "${pids[@]}"; do
		[ "$i" != "$p" ] && keep_pids+=("$i")
	done
	pids=("${keep_pids[@]}")
}

# kv LINE KEY: the value of KEY=... in LINE.
kv() {
	awk -v k="$2" '{ for (i = 1; i <= NF; i++) {
		n = index($i, "="); if (n && substr($i, 1, n - 1) == k) {
		print substr($i, n + 1); exit } } }' <<<"$1"
}

isnum() { [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]]; }

# median: the median of the numbers on stdin (words that are not numbers
# are left out).
median() {
	tr ' ' '\n' | grep -E '^[0-9.]+$' | sort -g |
	    awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}
