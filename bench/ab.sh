#!/usr/bin/env bash
# bench/ab.sh: W1 of two builds in turns, beside the relay (docs/
# PERFORMANCE.md, "Typed tasks"): for each turn, a fresh tasq-server and
# tasq-worker -j 2 of build A, a warm-up, `tasq submit --range 1:N
# --summary`; the same for build B; then the raw nng relay (of B) moving
# N int64 tasks. Prints each turn's rates, the medians and the ratios,
# with the load average before and after. Nothing is asserted.
#
#   bench/ab.sh [--tasks N] [--turns K] BUILD_A BUILD_B
set -uo pipefail

n=5000000 turns=5
while [ $# -gt 2 ]; do
	case $1 in
	--tasks) n=$2; shift 2 ;;
	--turns) turns=$2; shift 2 ;;
	*) sed -n '2,/^set -uo/p' "$0" | sed -e '/^set -uo/d' -e 's/^# \{0,1\}//' >&2; exit 2 ;;
	esac
done
[ $# -eq 2 ] || { sed -n '2,/^set -uo/p' "$0" | sed -e '/^set -uo/d' -e 's/^# \{0,1\}//' >&2; exit 2; }
a=$1 b=$2
. "$(dirname "$0")/lib.sh" || exit 1
for d in "$a" "$b"; do
	for p in server/tasq-server worker/tasq-worker client/tasq; do
		[ -x "$d/$p" ] || { echo "ab.sh: $d/$p is missing" >&2; exit 1; }
	done
done
[ -x "$b/bench/tasq-bench-relay" ] || { echo "ab.sh: $b/bench/tasq-bench-relay is missing" >&2; exit 1; }
bench_begin tasq-ab
key=$work/key
(umask 077 && head -c 32 /dev/urandom | base64 >"$key")
mkdir -p "$work/tls"

# w1 BUILD: one W1 run of BUILD; prints its rate (tasks/s) or nothing.
w1() {
	local d=$1 rf=$work/ready.$RANDOM url sp wp i c
	"$d/server/tasq-server" --listen tcp://127.0.0.1:0 --key-file "$key" \
	    --ready-file "$rf" --log-level warn 2>>"$work/server.log" &
	sp=$!
	pids+=("$sp")
	for ((i = 0; i < 200; i++)); do
		[ -s "$rf" ] && break
		sleep 0.05
	done
	url=$(cat "$rf" 2>/dev/null) || { stop "$sp"; return; }
	local cl=("$d/client/tasq" --server "$url" --key-file "$key")
	"$d/worker/tasq-worker" --server "$url" --key-file "$key" -j 2 \
	    --log-level warn 2>>"$work/worker.log" &
	wp=$!
	pids+=("$wp")
	for ((i = 0; i < 200; i++)); do
		c=$("${cl[@]}" stats --json 2>/dev/null | grep -o '"connected":true' | wc -l)
		[ "$c" -ge 2 ] && break
		sleep 0.05
	done
	"${cl[@]}" submit --range 1:500000 --summary >/dev/null 2>&1
	kv "$("${cl[@]}" submit --range "1:$n" --summary 2>>"$work/client.log")" rate
	stop "$wp"
	stop "$sp"
}

note "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
ra=() rb=() rr=()
printf '%-6s %14s %14s %14s %8s %8s\n' turn A B relay B/A B/relay
for ((t = 1; t <= turns; t++)); do
	x=$(w1 "$a")
	y=$(w1 "$b")
	z=$(kv "$("$b/bench/tasq-bench-relay" tput --transport tcp \
	    --tls-dir "$work/tls" --tasks "$n" 2>>"$work/relay.log")" rate)
	ra+=("$x") rb+=("$y") rr+=("$z")
	printf '%-6s %14s %14s %14s %8s %8s\n' "$t" "${x:--}" "${y:--}" \
	    "${z:--}" "$(awk -v p="$y" -v q="$x" 'BEGIN { if (q > 0) printf "%.2f", p / q; else print "-" }')" \
	    "$(awk -v p="$y" -v q="$z" 'BEGIN { if (q > 0) printf "%.2f", p / q; else print "-" }')"
done
ma=$(echo "${ra[*]}" | median) mb=$(echo "${rb[*]}" | median) mr=$(echo "${rr[*]}" | median)
printf '%-6s %14s %14s %14s\n' median "${ma:--}" "${mb:--}" "${mr:--}"
note "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
note "a quiet machine gives the relay 20 M/s or more: below that, the baseline is not healthy"
