#!/usr/bin/env bash
# bench/fair.sh: what sharing a queue between jobs costs and gives
# (issue 13, PROTOCOL.md 11.1). Prints, measured in this one run:
#
#   big job alone / relay   tasq submit --range 1:T --summary (one job,
#                           2 worker processes) against the raw nng relay
#                           of the same shape (bench/relay.c), tasks/s,
#                           taken in turns, medians of REPS runs. With
#                           --baseline DIR, the same W1 against DIR's
#                           tasq-server too (e.g. a build of main), and
#                           this server / baseline server: the "no more
#                           than 5 % slower" check, in one run.
#   small behind big        seconds of a 1,000-task job submitted while a
#                           T-task job runs on the same queue, over its
#                           seconds alone (the issue asks for at most 2).
#
# Benchmarks only print; nothing here asserts on timing. Run it on a
# quiet machine (it prints the load average at start and end).
#
#   bench/fair.sh [--short|--smoke] [--build-dir DIR] [--no-build]
#                 [--baseline DIR] [--keep]
# --build-dir: this tree's Release build (default: build-bench next to
# this directory, or $TASQ_BENCH_BUILD); --baseline: another build
# directory whose server/tasq-server is measured alike (its client and
# workers are this build's).
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
mode=full
build_dir=${TASQ_BENCH_BUILD:-$top/build-bench}
baseline=
do_build=1
keep=0

usage() {
	sed -n '2,/^set -uo/p' "$0" | sed -e '/^set -uo/d' -e 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
	case $1 in
	--full) mode=full ;;
	--short) mode=short ;;
	--smoke) mode=smoke ;;
	--build-dir | --baseline)
		[ $# -ge 2 ] || { usage >&2; exit 2; }
		if [ "$1" = --build-dir ]; then build_dir=$2; else baseline=$2; fi
		shift
		;;
	--no-build) do_build=0 ;;
	--keep) keep=1 ;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		usage >&2
		exit 2
		;;
	esac
	shift
done

case $mode in
full) T=10000000 REPS=5 SMALL_REPS=3 ;;
short) T=1000000 REPS=3 SMALL_REPS=2 ;;
smoke) T=20000 REPS=1 SMALL_REPS=1 ;;
esac
SMALL=1000

. "$(dirname "$0")/lib.sh" || exit 1

if [ $do_build -eq 1 ]; then
	note "building in $build_dir"
	if [ ! -f "$build_dir/CMakeCache.txt" ]; then
		cmake -S "$top" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release \
		    >/dev/null || exit 1
	fi
	cmake --build "$build_dir" -j"$(nproc)" --target tasq-server \
	    tasq-worker tasq tasq-bench-relay >/dev/null || exit 1
fi
server=$build_dir/server/tasq-server
worker=$build_dir/worker/tasq-worker
client=$build_dir/client/tasq
relay=$build_dir/bench/tasq-bench-relay
base_server=
[ -n "$baseline" ] && base_server=$baseline/server/tasq-server
for b in "$server" "$worker" "$client" "$relay" $base_server; do
	[ -x "$b" ] || { echo "bench: $b is missing (build it)" >&2; exit 1; }
done

bench_begin tasq-fair
SERVER_PID=
WORKER_PID=
CARGS=()

key=$work/key
(umask 077 && head -c 32 /dev/urandom | base64 >"$key")
# The relay's tls transport is not measured, but it wants the directory.
mkdir -p "$work/tls"

ratio() {
	if isnum "${1:-}" && isnum "${2:-}" && [ "$2" != 0 ]; then
		awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'
	else
		echo -
	fi
}
now_s() { date +%s.%N; }
failures=0

# start_server BINARY: on a port the kernel picks; sets CARGS.
start_server() {
	local rf=$work/ready.$RANDOM$RANDOM i
	"$1" --listen tcp://127.0.0.1:0 --key-file "$key" --ready-file "$rf" \
	    --log-level warn 2>>"$work/server.log" &
	SERVER_PID=$!
	pids+=("$SERVER_PID")
	for ((i = 0; i < 200; i++)); do
		[ -s "$rf" ] && break
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.05
	done
	[ -s "$rf" ] || { echo "bench: $1 did not start" >&2; return 1; }
	CARGS=(--key-file "$key" --server "$(cat "$rf")")
	"$client" "${CARGS[@]}" health --wait 10s >/dev/null
}

# start_workers N: a supervisor of N processes, waiting (bounded) until
# the server lists them as connected.
start_workers() {
	local n=$1 i c=0
	"$worker" "${CARGS[@]}" -j "$n" --drain-timeout 2s --log-level warn \
	    2>>"$work/worker.log" &
	WORKER_PID=$!
	pids+=("$WORKER_PID")
	for ((i = 0; i < 200; i++)); do
		c=$("$client" "${CARGS[@]}" stats --json 2>/dev/null |
		    grep -o '"connected":true' | wc -l)
		[ "$c" -ge "$n" ] && return 0
		sleep 0.05
	done
	echo "bench: only $c of $n workers connected" >&2
	return 1
}

stop_all() {
	[ -n "$WORKER_PID" ] && stop "$WORKER_PID"
	[ -n "$SERVER_PID" ] && stop "$SERVER_PID"
	WORKER_PID= SERVER_PID=
}

# w1 N [submit options]: one job of N tasks; prints its rate (tasks/s).
w1() {
	local n=$1 out
	shift
	out=$("$client" "${CARGS[@]}" submit --range "1:$n" --summary \
	    --timeout 300s "$@" 2>>"$work/client.log")
	if [ "$(kv "$out" ok)" != "$n" ]; then
		echo "bench: tasq submit failed: $out" >&2
		return 1
	fi
	kv "$out" rate
}

declare -A vals
add_val() { vals[$1]="${vals[$1]:-} ${2:-x}"; }

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
t_start=$(date +%s)
note "mode $mode: T=$T, $REPS repetition(s); load average $load_start"

# 1. The big job alone, against the relay and (with --baseline) against
# the baseline server, in turns. Each server runs its own warm-up job.
srv_list=("this:$server")
[ -n "$base_server" ] && srv_list+=("base:$base_server")
for ((r = 0; r < REPS; r++)); do
	out=$(timeout 300 "$relay" tput --transport tcp --tls-dir "$work/tls" \
	    --tasks "$T" 2>>"$work/relay.log") || out=""
	note "relay W1: $out"
	add_val relay "$(kv "$out" rate)"
	for s in "${srv_list[@]}"; do
		name=${s%%:*}
		if start_server "${s#*:}" && start_workers 2 &&
		    w1 "$T" >/dev/null; then
			v=$(w1 "$T") || v=x
			note "tasq W1 ($name server): $v tasks/s"
			add_val "$name" "$v"
		else
			add_val "$name" x
			failures=$((failures + 1))
		fi
		stop_all
	done
done

# 2. A small job alone, and behind a running big job on the same queue.
if start_server "$server" && start_workers 2; then
	w1 "$T" >/dev/null # warm-up
	for ((r = 0; r < SMALL_REPS; r++)); do
		t0=$(now_s)
		w1 "$SMALL" >/dev/null || failures=$((failures + 1))
		add_val small.alone "$(awk -v a="$t0" -v b="$(now_s)" 'BEGIN { print b - a }')"
		"$client" "${CARGS[@]}" submit --range "1:$T" --summary \
		    --timeout 300s >"$work/big.out" 2>>"$work/client.log" &
		big=$!
		pids+=("$big")
		# Until a quarter of the big job is done: it is running.
		for ((i = 0; i < 6000; i++)); do
			c=$("$client" "${CARGS[@]}" stats --json 2>/dev/null |
			    grep -o '"completed":[0-9]*' | head -1 | cut -d: -f2)
			[ "${c:-0}" -ge $((T / 4)) ] && break
			sleep 0.05
		done
		t0=$(now_s)
		w1 "$SMALL" >/dev/null || failures=$((failures + 1))
		t1=$(now_s)
		kill -0 "$big" 2>/dev/null || note "the big job ended before the small one (T too small)"
		add_val small.behind "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
		wait "$big"
	done
else
	failures=$((failures + 1))
fi
stop_all

load_end=$(cut -d' ' -f1-3 /proc/loadavg)
med() { echo "${vals[$1]:-}" | median; }
relay_rate=$(med relay)
this_rate=$(med this)
base_rate=$(med base)
alone=$(med small.alone)
behind=$(med small.behind)

echo "tasq fair-share bench ($mode): $(date -u '+%Y-%m-%d %H:%M UTC'), $(($(date +%s) - t_start)) s"
echo "  load average: $load_start at start, $load_end at end; T=$T, medians of $REPS"
printf '  %-44s %12s  %s\n' "relay W1 tcp" "${relay_rate:--}" "tasks/s"
printf '  %-44s %12s  %s\n' "tasq W1 tcp, one big job (this server)" "${this_rate:--}" "tasks/s"
printf '  %-44s %12s  %s\n' "  / relay" "$(ratio "$this_rate" "$relay_rate")" ""
if [ -n "$base_server" ]; then
	printf '  %-44s %12s  %s\n' "tasq W1 tcp, one big job (baseline server)" "${base_rate:--}" "tasks/s ($base_server)"
	printf '  %-44s %12s  %s\n' "  / relay" "$(ratio "$base_rate" "$relay_rate")" ""
	printf '  %-44s %12s  %s\n' "this server / baseline server" "$(ratio "$this_rate" "$base_rate")" "(>= 0.95: within 5 %)"
fi
printf '  %-44s %12s  %s\n' "small job ($SMALL tasks) alone" "${alone:--}" "s"
printf '  %-44s %12s  %s\n' "small job behind a running $T-task job" "${behind:--}" "s"
printf '  %-44s %12s  %s\n' "  behind / alone" "$(ratio "$behind" "$alone")" "(the issue: at most 2)"
[ $failures -eq 0 ] || { echo "bench: $failures measurement(s) failed" >&2; exit 1; }
exit 0
