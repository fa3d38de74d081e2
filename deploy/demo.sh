#!/usr/bin/env bash
# The main job on one machine: builds tasq, starts a server and a worker
# supervisor with 2 worker processes on loopback, submits 1..1000000 with
# the client, prints the summary and stats, then stops everything.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
bin=$build
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

# A shared key: any 16+ bytes, readable by its owner only.
head -c 32 /dev/urandom | base64 >"$work/key"
chmod 600 "$work/key"
export TASQ_KEY_FILE=$work/key

"$bin/server/tasq-server" --listen tcp://127.0.0.1:0 \
	--ready-file "$work/url" 2>"$work/server.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/url" ] && break; sleep 0.05; done
export TASQ_SERVER=$(cat "$work/url")
"$bin/client/tasq" health --wait 10s

"$bin/worker/tasq-worker" -j 2 2>"$work/worker.log" &
pids+=($!)

echo "== tasq submit 3 4 5"
"$bin/client/tasq" submit 3 4 5
echo "== tasq submit --range 1:1000000 --summary"
"$bin/client/tasq" submit --range 1:1000000 --summary
echo "== tasq stats"
"$bin/client/tasq" stats
