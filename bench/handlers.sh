#!/usr/bin/env bash
# bench/handlers.sh: benchmarks of the worker's handlers (issue 12,
# docs/HANDLERS.md), each printed with its baseline's absolute rate,
# measured in the same run. Nothing here asserts on timing; the exit
# status is 1 only when a program failed.
#
#   exec:       a trivial child (echo) on batches of 16384 8-byte tasks,
#               through the handler alone (tasq-bench-handlers); goal
#               >= 1 M tasks/s. Beside it: builtin:square on the same
#               batches (no pipe, no child), itself beside the per-task
#               loop run.c had before handlers (goal: ratio >= 1).
#   exec-each:  `exec-each:true` with 2 at once against
#               `xargs -P 2 -n 1 sh -c true` over the same number of tasks
#               (both start /bin/sh -c true per task); goal: ratio >= 1.
#   plugin:     tasq end to end (server, tasq-worker -j 2, client) with a
#               plugin that echoes 64-byte payloads, against the raw nng
#               relay moving 64-byte items (tasq-bench-relay --item-bytes
#               64); goal: ratio >= 0.5.
#
#   bench/handlers.sh [--smoke] [--build-dir DIR]   (default: build)
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build
smoke=0
while [ $# -gt 0 ]; do
	case $1 in
	--smoke) smoke=1 ;;
	--build-dir)
		build=$2
		shift
		;;
	*)
		sed -n '2,/^set -uo/p' "$0" | sed -e '/^set -uo/d' -e 's/^# \{0,1\}//' >&2
		exit 2
		;;
	esac
	shift
done
if [ $smoke = 1 ]; then
	EXEC_T=200000 EACH_T=50 PLUGIN_T=100000
else
	EXEC_T=20000000 EACH_T=2000 PLUGIN_T=2000000
fi
bh=$build/bench/tasq-bench-handlers
relay=$build/bench/tasq-bench-relay
child=$build/worker/handler_test_child
plugin=$build/worker/handler_test_plugin_echo.so
server=$build/server/tasq-server
worker=$build/worker/tasq-worker
client=$build/client/tasq
for b in "$bh" "$relay" "$child" "$plugin" "$server" "$worker" "$client"; do
	[ -e "$b" ] || { echo "handlers.sh: $b missing (build first)" >&2; exit 1; }
done
. "$(dirname "$0")/lib.sh" || exit 1
bench_begin tasq-bench-handlers
status=0
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a > 0) printf("%.2f", a / b); else print "-" }'; }
row() { printf '%-44s %14s   baseline %-34s %14s   ratio %s\n' "$1" "$2" "$3" "$4" "$(ratio "$2" "$4")"; }

# --- exec: trivial child ------------------------------------------------------
out=$("$bh" exec "$child" "$EXEC_T" 16384) || status=1
exec_rate=$(echo "$out" | awk '/name=exec.trivial/ { print }' | tr ' ' '\n' | sed -n 's/^rate=//p')
sq_rate=$(echo "$out" | awk '/name=builtin.square/ { print }' | tr ' ' '\n' | sed -n 's/^rate=//p')
old_rate=$(echo "$out" | awk '/name=square.before_handlers/ { print }' | tr ' ' '\n' | sed -n 's/^rate=//p')

# --- exec-each vs xargs -P 2 --------------------------------------------------
out=$("$bh" each true "$EACH_T" 2) || status=1
each_rate=$(kv "$out" rate)
t0=$(date +%s%N)
seq "$EACH_T" | xargs -P 2 -n 1 sh -c true || status=1
t1=$(date +%s%N)
xargs_rate=$(awk -v n="$EACH_T" -v ns=$((t1 - t0)) 'BEGIN { printf("%.1f", n / (ns / 1e9)) }')

# --- plugin on 64-byte payloads vs the relay ----------------------------------
head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/key"
chmod 600 "$work/key"
awk -v n="$PLUGIN_T" 'BEGIN { for (i = 1; i <= n; i++) printf("%064d\n", i) }' >"$work/in64"
"$server" --listen tcp://127.0.0.1:0 --key-file "$work/key" \
    --ready-file "$work/ready" --log-level warn 2>"$work/server.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/ready" ] && break; sleep 0.1; done
url=$(cat "$work/ready")
"$worker" --server "$url" --key-file "$work/key" -j 2 --log-level warn \
    --type "echo=plugin:$plugin" 2>"$work/worker.log" &
pids+=($!)
"$client" --server "$url" --key-file "$work/key" health --wait 10s --quiet || status=1
# Once untimed (connections, buffers), then timed.
"$client" --server "$url" --key-file "$work/key" submit --type echo \
    --file "$work/in64" --summary >/dev/null || status=1
t0=$(date +%s%N)
"$client" --server "$url" --key-file "$work/key" submit --type echo \
    --file "$work/in64" --summary >"$work/plugin.out" || status=1
t1=$(date +%s%N)
plugin_rate=$(awk -v n="$PLUGIN_T" -v ns=$((t1 - t0)) 'BEGIN { printf("%.0f", n / (ns / 1e9)) }')
out=$("$relay" tput --tasks "$PLUGIN_T" --item-bytes 64) || status=1
relay_rate=$(kv "$out" rate)

echo "# handlers (tasks/s; ratio = figure / baseline, same run)"
row "exec: trivial child, 16384/batch" "$exec_rate" "builtin:square, same batches" "$sq_rate"
row "builtin:square, 16384/batch" "$sq_rate" "the loop before handlers" "$old_rate"
row "exec-each:true, 2 at once" "$each_rate" "xargs -P 2 -n 1 sh -c true" "$xargs_rate"
row "plugin echo, 64-byte payloads, end to end" "$plugin_rate" "relay, 64-byte items" "$relay_rate"
exit $status
