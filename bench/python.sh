#!/usr/bin/env bash
# bench/python.sh: the Python package's throughput (issue 14). Prints,
# measured in this one run against the same server and workers:
#
#   python Executor.map   list(Executor.map("square", range(N),
#                         chunksize=C)) through tasq.Executor (libtasq
#                         over ctypes), tasks/s; the list is checked
#   baseline tasq submit  tasq submit --range 1:N --summary (the C client),
#                         tasks/s
#   ratio                 python / baseline
#
# N is 10**6 and C 10**4 (the issue's figure: 500,000 tasks/s or more);
# medians of REPS runs taken in turns, after a warm-up job. Benchmarks
# only print; nothing here asserts on timing. Run it on a quiet machine
# (it prints the load average).
#
#   bench/python.sh [--short|--smoke] [--build-dir DIR] [--no-build]
#                   [--jobs N] [--keep]
# --build-dir: a Release build of this tree (default: build-bench next
# to this directory, or $TASQ_BENCH_BUILD); its lib/libtasq.so.1 is the
# library the package loads (TASQ_LIBRARY), python/ the package
# (PYTHONPATH). --jobs: worker processes (default 2).
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
mode=full
build_dir=${TASQ_BENCH_BUILD:-$top/build-bench}
do_build=1
keep=0
jobs=2

usage() {
	sed -n '2,/^set -uo/p' "$0" | sed -e '/^set -uo/d' -e 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
	case $1 in
	--full) mode=full ;;
	--short) mode=short ;;
	--smoke) mode=smoke ;;
	--build-dir | --jobs)
		[ $# -ge 2 ] || { usage >&2; exit 2; }
		if [ "$1" = --build-dir ]; then build_dir=$2; else jobs=$2; fi
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
full) N=1000000 C=10000 REPS=5 ;;
short) N=1000000 C=10000 REPS=2 ;;
smoke) N=20000 C=1000 REPS=1 ;;
esac

. "$(dirname "$0")/lib.sh" || exit 1

if [ $do_build -eq 1 ]; then
	note "building in $build_dir"
	if [ ! -f "$build_dir/CMakeCache.txt" ]; then
		cmake -S "$top" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release \
		    >/dev/null || exit 1
	fi
	cmake --build "$build_dir" -j"$(nproc)" --target tasq-server \
	    tasq-worker tasq tasq >/dev/null || exit 1
fi
server=$build_dir/server/tasq-server
worker=$build_dir/worker/tasq-worker
client=$build_dir/client/tasq
library=$build_dir/lib/libtasq.so.1
py=${TASQ_BENCH_PYTHON:-/usr/bin/python3}
for b in "$server" "$worker" "$client" "$py"; do
	[ -x "$b" ] || { echo "bench: $b is missing (build it)" >&2; exit 1; }
done
[ -e "$library" ] || { echo "bench: $library is missing (build it)" >&2; exit 1; }

bench_begin tasq-python
# shellcheck disable=SC2154 # bench_begin sets work
key=$work/key
(umask 077 && head -c 32 /dev/urandom | base64 >"$key")

rf=$work/ready
"$server" --listen tcp://127.0.0.1:0 --key-file "$key" --ready-file "$rf" \
    --log-level warn 2>>"$work/server.log" &
pids+=("$!")
for ((i = 0; i < 200; i++)); do
	[ -s "$rf" ] && break
	sleep 0.05
done
[ -s "$rf" ] || { echo "bench: the server did not start" >&2; exit 1; }
url=$(cat "$rf")
CARGS=(--key-file "$key" --server "$url")
"$client" "${CARGS[@]}" health --wait 10s >/dev/null || exit 1
"$worker" "${CARGS[@]}" -j "$jobs" --drain-timeout 2s --log-level warn \
    2>>"$work/worker.log" &
pids+=("$!")

# base N: tasq submit of N tasks; prints its rate (tasks/s).
base() {
	local out
	out=$("$client" "${CARGS[@]}" submit --range "1:$1" --summary \
	    --timeout 300s 2>>"$work/client.log")
	if [ "$(kv "$out" ok)" != "$1" ]; then
		echo "bench: tasq submit failed: $out" >&2
		return 1
	fi
	kv "$out" rate
}

# pymap N C: Executor.map of range(N) with chunksize C; prints its rate.
pymap() {
	TASQ_LIBRARY=$library PYTHONPATH=$top/python timeout 600 "$py" - \
	    "$url" "$key" "$1" "$2" 2>>"$work/python.log" <<'PY'
import sys, time
import tasq
url, key, n, c = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
with tasq.Executor(url, key_file=key) as ex:
    t0 = time.monotonic()
    got = list(ex.map("square", range(n), chunksize=c))
    dt = time.monotonic() - t0
if got != [i * i for i in range(n)]:
    sys.exit("wrong results")
print("%.0f" % (n / dt))
PY
}

note "mode $mode: N=$N chunksize=$C, $REPS repetition(s), $jobs worker" \
    "processes; load average $(cut -d' ' -f1-3 /proc/loadavg)"
base "$C" >/dev/null
pymap "$C" "$C" >/dev/null
prates=() brates=()
failures=0
for ((r = 0; r < REPS; r++)); do
	b=$(base "$N") || { b=x; failures=$((failures + 1)); }
	p=$(pymap "$N" "$C") || { p=x; failures=$((failures + 1)); }
	note "run $r: python $p, baseline $b tasks/s"
	prates+=("$p") brates+=("$b")
done
pm=$(printf '%s\n' "${prates[@]}" | median)
bm=$(printf '%s\n' "${brates[@]}" | median)
ratio=-
if isnum "${pm:-}" && isnum "${bm:-}" && [ "$bm" != 0 ]; then
	ratio=$(awk -v a="$pm" -v b="$bm" 'BEGIN { printf "%.3f", a / b }')
fi
printf '%-24s %12s tasks/s\n' "python Executor.map" "${pm:--}"
printf '%-24s %12s tasks/s\n' "baseline tasq submit" "${bm:--}"
printf '%-24s %12s\n' "ratio" "$ratio"
note "load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$failures" -eq 0 ]
