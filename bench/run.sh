#!/usr/bin/env bash
# bench/run.sh: tasq's benchmark suite (issue #4, docs/PERFORMANCE.md).
#
# Builds what it needs, starts servers and workers on loopback ports that
# the kernel picks, and prints a table of figures and their ratios to the
# baseline (a raw nng relay of the same shape, bench/relay.c) measured in
# this same run. Benchmarks only print: nothing here asserts on timing.
# The exit status is 1 only when a program failed or printed something
# that does not parse.
#
#   bench/run.sh            full run (about 3-5 minutes on 2 CPUs)
#   bench/run.sh --short    smaller sizes, one repetition (under 2 minutes)
#   bench/run.sh --smoke    tiny sizes: checks that everything runs and
#                           parses (the bench.smoke CTest test)
# Options: --build-dir DIR (default: build-bench next to this directory,
# or $TASQ_BENCH_BUILD), --no-build (use the binaries as they are),
# --keep (keep the work directory with every program's output).
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
mode=full
build_dir=${TASQ_BENCH_BUILD:-$top/build-bench}
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
	--build-dir)
		[ $# -ge 2 ] || { usage >&2; exit 2; }
		build_dir=$2
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

# Sizes per mode. T: tasks of one W1 run; REPS: repetitions of every
# throughput figure (the median is reported).
case $mode in
full)
	T=5000000 REPS=5 W2_REPS=3 RTT_N=2000 RTT_WARM=200
	MEM_N="1000 100000 1000000 10000000"
	SWEEP_T=5000000 SWEEP_J="1 2 4 8" SWEEP_C="1 2 4 8 16" SWEEP_CT=1000000
	BM_TASKS=20000
	;;
short)
	T=1000000 REPS=1 W2_REPS=1 RTT_N=1000 RTT_WARM=100
	MEM_N="1000 100000 1000000"
	SWEEP_T=500000 SWEEP_J="1 2 4 8" SWEEP_C="1 2 4 8 16" SWEEP_CT=250000
	BM_TASKS=5000
	;;
smoke)
	T=20000 REPS=1 W2_REPS=1 RTT_N=50 RTT_WARM=10
	MEM_N="1000 10000"
	SWEEP_T=20000 SWEEP_J="1 2" SWEEP_C="1 2" SWEEP_CT=10000
	BM_TASKS=200
	;;
esac

. "$(dirname "$0")/lib.sh" || exit 1

if [ $do_build -eq 1 ]; then
	note "building in $build_dir"
	if [ ! -f "$build_dir/CMakeCache.txt" ]; then
		cmake -S "$top" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release \
		    >/dev/null || exit 1
	fi
	cmake --build "$build_dir" -j"$(nproc)" --target tasq-server \
	    tasq-worker tasq tasq-bench-relay tasq-bench-w2 >/dev/null ||
	    exit 1
fi
server=$build_dir/server/tasq-server
worker=$build_dir/worker/tasq-worker
client=$build_dir/client/tasq
relay=$build_dir/bench/tasq-bench-relay
w2=$build_dir/bench/tasq-bench-w2
for b in "$server" "$worker" "$client" "$relay" "$w2"; do
	[ -x "$b" ] || { echo "bench: $b is missing (build it)" >&2; exit 1; }
done

bench_begin tasq-bench

key=$work/key
(umask 077 && head -c 32 /dev/urandom | base64 >"$key")

# A CA and a server certificate for the DNS name localhost (Debian's nng
# uses mbedTLS, which checks DNS names only).
tls=$work/tls
mkdir -p "$tls"
(
	cd "$tls" &&
	    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-nodes -days 2 -subj /CN=tasq-bench-ca -keyout ca.key \
		-out ca.pem &&
	    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-subj /CN=localhost -keyout server.key -out server.csr &&
	    printf '%s\n' subjectAltName=DNS:localhost basicConstraints=CA:FALSE \
		extendedKeyUsage=serverAuth >ext &&
	    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key \
		-CAcreateserial -days 2 -extfile ext -out server.pem
) >"$work/openssl.log" 2>&1 || {
	echo "bench: cannot make certificates:" >&2
	cat "$work/openssl.log" >&2
	exit 1
}

# ---- figures -------------------------------------------------------------
declare -A fig   # name -> value ("" when the measurement failed)
failures=0


# set_fig NAME VALUE: records a figure; a value that is not a number
# counts as a failure.
set_fig() {
	fig[$1]=$2
	if ! isnum "$2"; then
		echo "bench: $1: no figure (got '$2')" >&2
		fig[$1]=""
		failures=$((failures + 1))
	fi
}


# ---- tasq servers and workers --------------------------------------------
SERVER_PID=
WORKER_PID=
CARGS=()
SERVER_URL= # the URL the last start_server listens on (127.0.0.1)

# start_server tcp|tls [server options...]
start_server() {
	local kind=$1 i rf=$work/ready.$RANDOM$RANDOM
	shift
	local listen=tcp://127.0.0.1:0 targs=()
	if [ "$kind" = tls ]; then
		listen="tls+tcp://127.0.0.1:0"
		targs=(--tls-cert "$tls/server.pem" --tls-key "$tls/server.key")
	fi
	"$server" --listen "$listen" --key-file "$key" --ready-file "$rf" \
	    --log-level warn "${targs[@]}" "$@" 2>>"$work/server.log" &
	SERVER_PID=$!
	pids+=("$SERVER_PID")
	for ((i = 0; i < 200; i++)); do
		[ -s "$rf" ] && break
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.05
	done
	if [ ! -s "$rf" ]; then
		echo "bench: tasq-server did not start:" >&2
		tail -5 "$work/server.log" >&2
		return 1
	fi
	local url
	url=$(cat "$rf")
	SERVER_URL=$url
	CARGS=(--key-file "$key")
	if [ "$kind" = tls ]; then
		CARGS+=(--server "${url/127.0.0.1/localhost}" --tls-ca "$tls/ca.pem")
	else
		CARGS+=(--server "$url")
	fi
	"$client" "${CARGS[@]}" health --wait 10s >/dev/null
}

stop_server() {
	[ -n "$SERVER_PID" ] && stop "$SERVER_PID"
	SERVER_PID=
}

stats_json() {
	"$client" "${CARGS[@]}" stats --json 2>/dev/null
}

# start_workers N [worker options]: a tasq-worker supervisor with N
# processes, waiting (bounded) until the server lists all N as connected.
start_workers() {
	local n=$1 i c
	shift
	"$worker" "${CARGS[@]}" -j "$n" --drain-timeout 2s --log-level warn \
	    "$@" 2>>"$work/worker.log" &
	WORKER_PID=$!
	pids+=("$WORKER_PID")
	for ((i = 0; i < 200; i++)); do
		c=$(stats_json | grep -o '"connected":true' | wc -l)
		[ "$c" -ge "$n" ] && return 0
		sleep 0.05
	done
	echo "bench: only $c of $n workers connected" >&2
	return 1
}

stop_workers() {
	[ -n "$WORKER_PID" ] && stop "$WORKER_PID"
	WORKER_PID=
}

# w1 TASKS [submit options]: one tasq submit; prints its summary line.
w1() {
	local n=$1 out
	shift
	out=$("$client" "${CARGS[@]}" submit --range "1:$n" --summary \
	    --timeout 300s "$@" 2>>"$work/client.log")
	if [ "$(kv "$out" ok)" != "$n" ]; then
		echo "bench: tasq submit failed: $out" >&2
		tail -3 "$work/client.log" >&2
		return 1
	fi
	echo "$out"
}

# ---- measurements ----------------------------------------------------------
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
t_start=$(date +%s)

# cpu_s PID...: CPU seconds (user + system) the processes have used.
cpu_s() {
	local p t=0 v
	for p in "$@"; do
		v=$(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" \
		    2>/dev/null) || v=0
		t=$((t + ${v:-0}))
	done
	awk -v t=$t -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.3f", t / hz }'
}

sum() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", a + b }'; }

# Samples accumulate per figure name: vals[NAME] holds the values of the
# repetitions (the median is reported), cpu[NAME.part] the CPU time per
# task summed over repetitions, ncpu[NAME] how many repetitions.
declare -A vals cpu ncpu
# A failed run adds "x", so that the runs of two figures taken in turns
# stay paired.
add_val() { vals[$1]="${vals[$1]:-} ${2:-x}"; }
add_cpu() { # NAME part us-per-task
	isnum "$3" || return 0
	cpu[$1.$2]=$(sum "${cpu[$1.$2]:-0}" "$3")
}
# finish NAME [PART...]: the median of NAME's values and its mean CPU time
# per task, in total and per part.
finish() {
	local name=$1 part tot=0 n=${ncpu[$1]:-0}
	shift
	set_fig "$name" "$(median <<<"${vals[$name]:-}")"
	[ "$n" -gt 0 ] || return 0
	for part in "$@"; do
		fig[$name.cpu.$part]=$(awk -v v="${cpu[$name.$part]:-0}" -v n="$n" \
		    'BEGIN { printf "%.3f", v / n }')
		tot=$(sum "$tot" "${fig[$name.cpu.$part]}")
	done
	fig[$name.cpu]=$(awk -v v="$tot" 'BEGIN { printf "%.3f", v }')
}

# relay_tput NAME transport: one W1 run of the relay.
relay_tput() {
	local out
	out=$(timeout 300 "$relay" tput --transport "$2" --tls-dir "$tls" \
	    --tasks "$T" 2>>"$work/relay.log") || out=""
	note "relay W1 $2: $out"
	add_val "$1" "$(kv "$out" rate)"
	isnum "$(kv "$out" cpu_us)" || return 0
	add_cpu "$1" cl "$(kv "$out" cpu_client_us)"
	add_cpu "$1" rl "$(kv "$out" cpu_relay_us)"
	add_cpu "$1" wk "$(kv "$out" cpu_workers_us)"
	ncpu[$1]=$((${ncpu[$1]:-0} + 1))
}

# relay_rtt NAME transport pattern: one W2 run of the relay.
relay_rtt() {
	local out
	out=$(timeout 300 "$relay" rtt --transport "$2" --tls-dir "$tls" \
	    --pattern "$3" --rounds "$RTT_N" --warmup "$RTT_WARM" \
	    2>>"$work/relay.log") || out=""
	note "relay W2 $2 $3: $out"
	add_val "$1.p50" "$(kv "$out" p50_us)"
	add_val "$1.p99" "$(kv "$out" p99_us)"
}

# tasq_warm: an untimed run of T tasks once per server, as the relay
# warms up too: a fresh server faults in some 35 MB over its first few
# million tasks and runs up to a third slower meanwhile.
tasq_warm() {
	w1 "$T" "$@" >/dev/null
}

# tasq_w1 NAME [submit options]: one W1 run against the server and
# workers running now, with the CPU time per task of the client, the
# server and the worker processes.
tasq_w1() {
	local name=$1 out wk s0 s1 w0 w1c per
	shift
	wk=$(pgrep -P "$WORKER_PID" | tr '\n' ' ')
	s0=$(cpu_s "$SERVER_PID")
	# shellcheck disable=SC2086
	w0=$(cpu_s "$WORKER_PID" $wk)
	TIMEFORMAT='%U %S'
	{ time w1 "$T" "$@" >"$work/w1.out" 2>"$work/w1.err"; } \
	    2>"$work/w1.time"
	cat "$work/w1.err" >&2
	out=$(cat "$work/w1.out")
	s1=$(cpu_s "$SERVER_PID")
	# shellcheck disable=SC2086
	w1c=$(cpu_s "$WORKER_PID" $wk)
	note "tasq W1 $name: $out"
	add_val "$name" "$(kv "$out" rate)"
	isnum "$(kv "$out" rate)" || return 0
	per=$(awk -v t="$T" 'BEGIN { print 1e6 / t }')
	add_cpu "$name" cl "$(awk -v p="$per" '{ print ($1 + $2) * p }' "$work/w1.time")"
	add_cpu "$name" sv "$(awk -v a="$s0" -v b="$s1" -v p="$per" 'BEGIN { print (b - a) * p }')"
	add_cpu "$name" wk "$(awk -v a="$w0" -v b="$w1c" -v p="$per" 'BEGIN { print (b - a) * p }')"
	ncpu[$name]=$((${ncpu[$name]:-0} + 1))
}

# tasq_rtt NAME [MODE]: one W2 run against the server and workers running
# now; MODE (tasq-bench-w2 --mode) one (default: the Fetch carries the
# Submit, as tasq submit sends a one-batch job) or parked (a Fetch waits
# while a Submit goes: two requests a round).
tasq_rtt() {
	local out
	out=$(timeout 300 "$w2" "${CARGS[@]}" --rounds "$RTT_N" \
	    --warmup "$RTT_WARM" --mode "${2:-one}" 2>>"$work/client.log") ||
	    out=""
	note "tasq W2: $out"
	add_val "$1.p50" "$(kv "$out" p50_us)"
	add_val "$1.p99" "$(kv "$out" p99_us)"
}

bm_rtt() {
	local out
	out=$(timeout 600 python3 "$top/bench/basemanager.py" rtt \
	    --rounds "$RTT_N" --warmup "$RTT_WARM" 2>>"$work/python.log") ||
	    out=""
	note "BaseManager W2: $out"
	add_val bm.w2.p50 "$(kv "$out" p50_us)"
	add_val bm.w2.p99 "$(kv "$out" p99_us)"
}

have_python=0
command -v python3 >/dev/null 2>&1 && have_python=1

note "mode $mode: T=$T, $REPS repetition(s); load average $load_start"

# W1 and W2, tasq and its baseline taking turns, so that a change in the
# machine's load over the run hits both alike. The tasq server and its
# workers stay up, idle, while the relay runs.
for kind in tcp tls; do
	if start_server $kind && start_workers 2 && tasq_warm; then
		for ((r = 0; r < REPS; r++)); do
			relay_tput relay.w1.$kind $kind
			tasq_w1 tasq.w1.$kind
		done
		for ((r = 0; r < W2_REPS; r++)); do
			relay_rtt relay.w2.$kind $kind pipeline
			tasq_rtt tasq.w2.$kind
			if [ $kind = tcp ]; then
				relay_rtt relay.w2req.tcp tcp reqrep
				tasq_rtt tasq.w2parked.tcp parked
				[ $have_python -eq 1 ] && bm_rtt
			fi
		done
	else
		failures=$((failures + 1))
	fi
	stop_workers
	stop_server
	finish relay.w1.$kind cl rl wk
	finish tasq.w1.$kind cl sv wk
	for f in relay.w2.$kind tasq.w2.$kind; do
		finish $f.p50
		finish $f.p99
	done
done
finish relay.w2req.tcp.p50
finish relay.w2req.tcp.p99
finish tasq.w2parked.tcp.p50
if [ $have_python -eq 1 ]; then
	finish bm.w2.p50
	finish bm.w2.p99
fi

# The relay's shape exactly: 1000 tasks per message, both ways.
if start_server tcp && start_workers 2 --batch-size 1000 &&
    tasq_warm --batch-size 1000; then
	for ((r = 0; r < REPS; r++)); do
		relay_tput relay.w1b.tcp tcp
		tasq_w1 tasq.w1b1000.tcp --batch-size 1000
	done
else
	failures=$((failures + 1))
fi
stop_workers
stop_server
finish tasq.w1b1000.tcp cl sv wk

# W1 with the journal, when this server has one (--data-dir).
journal=0
if "$server" --help 2>/dev/null | grep >/dev/null -c -- '--data-dir'; then
	journal=1
	mkdir -p "$work/journal"
	if start_server tcp --data-dir "$work/journal" && start_workers 2 &&
	    tasq_warm; then
		for ((r = 0; r < REPS; r++)); do
			relay_tput relay.w1j.tcp tcp
			tasq_w1 tasq.w1journal.tcp
		done
	else
		failures=$((failures + 1))
	fi
	stop_workers
	stop_server
	finish tasq.w1journal.tcp cl sv wk
fi

# Memory per queued task: a fresh server, no workers, N tasks submitted
# and left queued; the server's VmRSS before and after.
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
for n in $MEM_N; do
	if ! start_server tcp --max-tasks $((n + 1000000)); then
		failures=$((failures + 1))
		continue
	fi
	rss0=$(rss_kb "$SERVER_PID")
	"$client" "${CARGS[@]}" submit --range "1:$n" --window $((n + 1)) \
	    --summary >/dev/null 2>>"$work/client.log" &
	cpid=$!
	pids+=("$cpid")
	ready=0
	for ((i = 0; i < 3000; i++)); do # at most about 5 minutes
		ready=$(stats_json |
		    sed -n 's/.*"name":"default","ready":\([0-9]*\).*/\1/p')
		[ "${ready:-0}" -ge "$n" ] && break
		kill -0 "$cpid" 2>/dev/null || break
		sleep 0.1
	done
	rss1=$(rss_kb "$SERVER_PID")
	stop "$cpid"
	stop_server
	if [ "${ready:-0}" -ge "$n" ]; then
		bpt=$(awk -v a="$rss0" -v b="$rss1" -v n="$n" \
		    'BEGIN { printf "%.1f", (b - a) * 1024 / n }')
		note "memory: N=$n VmRSS ${rss0} kB -> ${rss1} kB: $bpt bytes/task"
		set_fig "mem.$n" "$bpt"
		fig[mem.$n.rss0]=$rss0
		fig[mem.$n.rss1]=$rss1
	else
		set_fig "mem.$n" "only ${ready:-0} of $n queued"
	fi
done

# Scaling with worker processes: a server with tasq-worker -j J for each
# J, all started first (idle ones cost next to nothing), then measured in
# turns, so that load that comes and goes hits every J alike.
declare -A sw_url sw_spid sw_wpid sw_rates
for j in $SWEEP_J; do
	if start_server tcp && start_workers "$j" && tasq_warm; then
		sw_url[$j]=$SERVER_URL
		sw_spid[$j]=$SERVER_PID
		sw_wpid[$j]=$WORKER_PID
	else
		failures=$((failures + 1))
		stop_workers
		stop_server
	fi
done
for ((r = 0; r < REPS; r++)); do
	for j in $SWEEP_J; do
		[ -n "${sw_url[$j]:-}" ] || continue
		CARGS=(--key-file "$key" --server "${sw_url[$j]}")
		out=$(w1 "$SWEEP_T") || out=""
		note "workers -j $j: $out"
		sw_rates[$j]="${sw_rates[$j]:-} $(kv "$out" rate)"
	done
done
for j in $SWEEP_J; do
	[ -n "${sw_url[$j]:-}" ] || continue
	set_fig "sweep.j$j" "$(median <<<"${sw_rates[$j]}")"
	WORKER_PID=${sw_wpid[$j]} && stop_workers
	SERVER_PID=${sw_spid[$j]} && stop_server
done

# Scaling with concurrent clients: 2 worker processes, C clients of
# SWEEP_CT tasks each (enough that starting a client process, some 30 ms,
# hardly counts). Total = all tasks / the wall time from starting the
# first client to the end of the last; per client: each one's own rate;
# fairness: Jain's index of the per-client rates (1 = equal shares).
if start_server tcp && start_workers 2 && tasq_warm; then
	for c in $SWEEP_C; do
		totals="" jains="" mins="" maxs="" shares=""
		each=$SWEEP_CT
		for ((r = 0; r < REPS; r++)); do
			cp=()
			t0=$(date +%s%N)
			for ((k = 0; k < c; k++)); do
				w1 "$each" >"$work/c.$k" &
				cp+=($!)
			done
			ok=1
			for p in "${cp[@]}"; do
				wait "$p" || ok=0
			done
			t1=$(date +%s%N)
			[ $ok -eq 1 ] || continue
			line=$(for ((k = 0; k < c; k++)); do
				kv "$(cat "$work/c.$k")" rate
			done | awk -v n=$((each * c)) -v ns=$((t1 - t0)) '
			    { s += $1; q += $1 * $1; v[NR] = $1
			      if (NR == 1 || $1 < lo) lo = $1
			      if ($1 > hi) hi = $1 }
			    END { printf "%.0f %.3f %.0f %.0f %.3f\n",
			      n / (ns / 1e9), s * s / (NR * q), lo, hi,
			      lo * NR / s }')
			note "clients $c: total/jain/min/max/min-share $line"
			read -r tot jain lo hi share <<<"$line"
			totals="$totals $tot" jains="$jains $jain"
			mins="$mins $lo" maxs="$maxs $hi" shares="$shares $share"
		done
		set_fig "sweep.c$c" "$(median <<<"$totals")"
		set_fig "sweep.c$c.jain" "$(median <<<"$jains")"
		set_fig "sweep.c$c.min" "$(median <<<"$mins")"
		set_fig "sweep.c$c.max" "$(median <<<"$maxs")"
		set_fig "sweep.c$c.share" "$(median <<<"$shares")"
	done
else
	failures=$((failures + 1))
fi
stop_workers
stop_server

# The seed's pattern, for reference (its W2 ran with tasq's above).
if [ $have_python -eq 1 ]; then
	out=$(timeout 600 python3 "$top/bench/basemanager.py" tput \
	    --tasks "$BM_TASKS" 2>>"$work/python.log") || out=""
	note "BaseManager W1: $out"
	set_fig bm.w1 "$(kv "$out" rate)"
fi

load_end=$(cut -d' ' -f1-3 /proc/loadavg)
t_end=$(date +%s)

# ---- the table -------------------------------------------------------------
# paired A B: the median over runs of A's value / B's value in the same
# turn (A and B measured alternately): a change of load during the run
# then shifts both sides of each ratio alike.
paired() {
	local -a pa pb
	local i
	read -r -a pa <<<"${vals[$1]:-}"
	read -r -a pb <<<"${vals[$2]:-}"
	for ((i = 0; i < ${#pa[@]} && i < ${#pb[@]}; i++)); do
		isnum "${pa[i]}" && isnum "${pb[i]}" &&
		    awk -v x="${pa[i]}" -v y="${pb[i]}" 'BEGIN { if (y > 0) print x / y }'
	done | median | awk '{ printf "%.2f", $1 }'
}

# ratio A B: A / B with 2 decimals, or "-" when either is missing.
ratio() {
	local a=${fig[$1]:-} b=${fig[$2]:-}
	if isnum "$a" && isnum "$b" && [ "$(awk -v b="$b" 'BEGIN { print (b > 0) }')" = 1 ]; then
		awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }'
	else
		echo "-"
	fi
}

# verdict VALUE OP GOAL: met / NOT met / -
verdict() {
	if ! isnum "$1"; then
		echo "-"
		return
	fi
	awk -v v="$1" -v g="$3" -v op="$2" 'BEGIN {
		ok = (op == ">=") ? v >= g : (op == "<=") ? v <= g : v < g
		print ok ? "met" : "NOT met" }'
}

row() { printf '  %-46s %14s  %s\n' "$1" "${fig[$2]:--}" "$3"; }

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
nngv=$(dpkg-query -W -f='${Version}' libnng1 2>/dev/null || echo unknown)
rev=$(git -C "$top" log -1 --format='%h (%cd)' --date=short 2>/dev/null || echo unknown)
dirty=$(git -C "$top" status --porcelain -- server lib worker client 2>/dev/null |
    grep >/dev/null -c . && echo " + uncommitted changes" || true)

echo
echo "tasq benchmarks ($mode): $(date -u '+%Y-%m-%d %H:%M UTC'), $((t_end - t_start)) s"
echo "  machine: $(nproc) CPUs ($cpu_model), $mem, Linux $(uname -r), nng $nngv"
echo "  tasq: $rev$dirty; load average at start $load_start, at end $load_end"
echo "  W1: $T tasks, 2 worker processes, median of $REPS runs; W2: $RTT_N round trips after $RTT_WARM, median of $W2_REPS runs"
[ "$mode" = full ] || echo "  ($mode sizes: the figures are not meaningful as results)"
echo
echo "FIGURES"
row "relay W1 tcp, 1000/msg" relay.w1.tcp "tasks/s"
row "relay W1 tls, 1000/msg" relay.w1.tls "tasks/s"
row "tasq W1 tcp (defaults: 16384/batch)" tasq.w1.tcp "tasks/s"
row "tasq W1 tcp (1000/batch, client and workers)" tasq.w1b1000.tcp "tasks/s"
row "tasq W1 tls" tasq.w1.tls "tasks/s"
if [ $journal -eq 1 ]; then
	row "tasq W1 tcp with journal (--data-dir)" tasq.w1journal.tcp "tasks/s"
else
	printf '  %-46s %14s  %s\n' "tasq W1 tcp with journal" "n/a" "(this server has no journal)"
fi
cpurow() { # label fig parts-text
	printf '  %-46s %14s  %s\n' "$1" "${fig[$2.cpu]:--}" "$3"
}
rparts() { echo "us (client ${fig[$1.cpu.cl]:--}, relay ${fig[$1.cpu.rl]:--}, workers ${fig[$1.cpu.wk]:--})"; }
tparts() { echo "us (client ${fig[$1.cpu.cl]:--}, server ${fig[$1.cpu.sv]:--}, workers ${fig[$1.cpu.wk]:--})"; }
cpurow "CPU per task, relay W1 tcp" relay.w1.tcp "$(rparts relay.w1.tcp)"
cpurow "CPU per task, tasq W1 tcp" tasq.w1.tcp "$(tparts tasq.w1.tcp)"
cpurow "CPU per task, tasq W1 tcp 1000/batch" tasq.w1b1000.tcp "$(tparts tasq.w1b1000.tcp)"
cpurow "CPU per task, relay W1 tls" relay.w1.tls "$(rparts relay.w1.tls)"
cpurow "CPU per task, tasq W1 tls" tasq.w1.tls "$(tparts tasq.w1.tls)"
if [ $journal -eq 1 ]; then
	cpurow "CPU per task, tasq W1 tcp with journal" tasq.w1journal.tcp "$(tparts tasq.w1journal.tcp)"
fi
row "relay W2 tcp push/pull p50" relay.w2.tcp.p50 "us"
row "relay W2 tcp push/pull p99" relay.w2.tcp.p99 "us"
row "relay W2 tcp req/rep p50" relay.w2req.tcp.p50 "us"
row "relay W2 tcp req/rep p99" relay.w2req.tcp.p99 "us"
row "relay W2 tls push/pull p50" relay.w2.tls.p50 "us"
row "tasq W2 tcp p50" tasq.w2.tcp.p50 "us"
row "tasq W2 tcp p99" tasq.w2.tcp.p99 "us"
row "tasq W2 tcp p50, --mode parked" tasq.w2parked.tcp.p50 "us"
row "tasq W2 tls p50" tasq.w2.tls.p50 "us"
row "tasq W2 tls p99" tasq.w2.tls.p99 "us"
for n in $MEM_N; do
	row "memory per queued task, N=$n" "mem.$n" \
	    "bytes/task (VmRSS ${fig[mem.$n.rss0]:-?} -> ${fig[mem.$n.rss1]:-?} kB)"
done
for j in $SWEEP_J; do
	row "tasq W1 tcp, tasq-worker -j $j" "sweep.j$j" "tasks/s ($SWEEP_T tasks)"
done
for c in $SWEEP_C; do
	row "tasq W1 tcp, $c clients x $SWEEP_CT tasks, total" "sweep.c$c" \
	    "tasks/s; per client ${fig[sweep.c$c.min]:-?}..${fig[sweep.c$c.max]:-?}, Jain ${fig[sweep.c$c.jain]:-?}"
done
if [ $have_python -eq 1 ]; then
	row "BaseManager W1 (one item per op, 2 workers)" bm.w1 "tasks/s ($BM_TASKS tasks)"
	row "BaseManager W2 p50" bm.w2.p50 "us"
	row "BaseManager W2 p99" bm.w2.p99 "us"
else
	printf '  %-46s %14s\n' "BaseManager (no python3 here)" "n/a"
fi

# Ratios and the goals of issue 4.
maxn=${MEM_N##* }
first_j=${SWEEP_J%% *} last_j=${SWEEP_J##* }
first_c=${SWEEP_C%% *} last_c=${SWEEP_C##* }
fig[r.tcp]=$(paired tasq.w1.tcp relay.w1.tcp)
fig[r.tls]=$(paired tasq.w1.tls relay.w1.tls)
fig[r.w2]=$(paired tasq.w2.tcp.p50 relay.w2.tcp.p50)
fig[r.w2req]=$(paired tasq.w2.tcp.p50 relay.w2req.tcp.p50)
fig[r.w2park]=$(paired tasq.w2parked.tcp.p50 relay.w2.tcp.p50)
fig[r.w2tls]=$(paired tasq.w2.tls.p50 relay.w2.tls.p50)
fig[r.w2bm]=$(paired tasq.w2.tcp.p50 bm.w2.p50)
fig[r.tcp1000]=$(paired tasq.w1b1000.tcp relay.w1b.tcp)
fig[r.journal]=$(paired tasq.w1journal.tcp relay.w1j.tcp)
fig[r.cputcp]=$(ratio tasq.w1.tcp.cpu relay.w1.tcp.cpu)
fig[r.cputls]=$(ratio tasq.w1.tls.cpu relay.w1.tls.cpu)
fig[r.w1bm]=$(ratio tasq.w1.tcp bm.w1)
fig[r.j]=$(ratio "sweep.j$last_j" "sweep.j$first_j")
fig[r.c]=$(ratio "sweep.c$last_c" "sweep.c$first_c")
# Flatness: bytes/task at the largest N over bytes/task at the smallest
# N >= 100000 (below that the page granularity of RSS dominates); above
# 1 the cost per task grows with N.
fig[r.memflat]=$(for n in $MEM_N; do
	[ "$n" -ge 100000 ] && echo "${fig[mem.$n]:-}"
done | awk '{ v[NR] = $1 } END {
    if (NR >= 2 && v[1] > 0 && v[NR] != "") printf "%.2f", v[NR] / v[1]
    else print "-" }')
# The worst step of each sweep (a fall shows as a value below 1).
worst_step() { # prefix list
	local prev="" x w="-"
	for x in $2; do
		if [ -n "$prev" ]; then
			local s
			s=$(ratio "$1$x" "$1$prev")
			if isnum "$s" && { [ "$w" = - ] || awk -v a="$s" -v b="$w" 'BEGIN { exit !(a < b) }'; }; then
				w=$s
			fi
		fi
		prev=$x
	done
	echo "$w"
}
fig[r.jstep]=$(worst_step sweep.j "$SWEEP_J")
fig[r.cstep]=$(worst_step sweep.c "$SWEEP_C")

goal() { # label figure op goal-value goal-text
	printf '  %-46s %8s  %-16s %s\n' "$1" "${fig[$2]:--}" "$5" \
	    "$(verdict "${fig[$2]:-}" "$3" "$4")"
}
info() { printf '  %-46s %8s\n' "$1" "${fig[$2]:--}"; }

echo
printf '%-48s %8s  %-16s %s\n' "RATIOS (to the baseline of this run)" value goal verdict
echo "  (W1, W2: the median of the ratios of runs taken in turns, tasq and"
echo "  baseline alternating; CPU: of the means)"
goal "tasq W1 tcp / relay W1 tcp" r.tcp ">=" 0.5 ">= 0.50"
info "  same, tasq at --batch-size 1000" r.tcp1000
goal "tasq W1 tls / relay W1 tls" r.tls ">=" 0.5 ">= 0.50"
info "CPU per task, tasq W1 tcp / relay W1 tcp" r.cputcp
info "CPU per task, tasq W1 tls / relay W1 tls" r.cputls
if [ $journal -eq 1 ]; then
	goal "tasq W1 with journal / relay W1 tcp" r.journal ">=" 0.333 ">= 0.33"
else
	printf '  %-46s %8s  %-16s %s\n' "tasq W1 with journal / relay W1 tcp" "n/a" ">= 0.33" "- (no journal yet)"
fi
goal "tasq W2 p50 / relay W2 p50 (push/pull)" r.w2 "<=" 1.25 "<= 1.25"
info "  same, against the req/rep relay" r.w2req
info "  same, over tls" r.w2tls
info "  same, tasq-bench-w2 --mode parked" r.w2park
if [ $have_python -eq 1 ]; then
	goal "tasq W2 p50 / BaseManager W2 p50" r.w2bm "<" 1 "< 1"
	info "tasq W1 tcp / BaseManager W1" r.w1bm
fi
goal "memory per queued task at N=$maxn (bytes)" "mem.$maxn" "<=" 40 "<= 40"
goal "  flat: bytes/task at N=$maxn / at N=1e5" r.memflat "<=" 1.25 "<= 1.25 (flat)"
goal "W1, workers -j $last_j / -j $first_j" r.j ">=" 1 ">= 1 (no fall)"
goal "  worst step of the worker sweep" r.jstep ">=" 1 ">= 1 (no fall)"
goal "W1 total, $last_c clients / $first_c client" r.c ">=" 1 ">= 1 (no fall)"
goal "  worst step of the client sweep" r.cstep ">=" 1 ">= 1 (no fall)"
goal "fairness at $last_c clients (Jain index)" "sweep.c$last_c.jain" ">=" 0.9 ">= 0.90"
info "  slowest client's share x $last_c (1 = equal)" "sweep.c$last_c.share"

if [ $failures -gt 0 ]; then
	echo
	echo "bench: $failures measurement(s) failed; see the messages above" >&2
	keep=1
	exit 1
fi
exit 0
