#!/usr/bin/env bash
# deploy.dashboard: the dashboard that tasq-server serves at / of
# --metrics-listen (server/dashboard.h), in headless Chromium driven by
# playwright-core (dashboard.mjs): the page loads, shows live numbers
# while a batch runs on 2 workers, and ends at the batch's total; it shows
# failures, retries (in total, per queue and per worker, with their
# rates) and dead letters (reason, payload) of real jobs, a
# queue's latency, per-queue and per-worker rates, and after a reload the
# server's history in the chart; after a server restart (SIGKILL, a new
# one on the same ports) it follows the new server and never shows a
# negative rate.
# usage: dashboard.sh TASQ-SERVER TASQ-WORKER TASQ TASQ-RAW
#
# Before the page loads: a job of 3 squares of which 2 overflow
# (OUT_OF_RANGE: 2 failed tasks); a tasq_raw session (tests/harness) that
# fails a job of 2 tasks of type "send" in queue "mail" twice (2 retries,
# then 2 dead letters with the reason "connection-refused"), and submits
# a task of type "report" to queue "idle", which no worker serves (its
# latency grows); a detached job of queue "slow" left 1 of its 4 tasks
# done. On the job list, the page's retry and cancel buttons refuse to act
# without the key (no request sent), a wrong key is refused by the server
# (401) and forgotten, and with the key retry re-queues the mail job's
# dead letters and cancel cancels the slow job.
#
# Screenshots go to $TASQ_ARTIFACT_DIR, else ./artifacts (CTest runs it
# in the build directory): dashboard.png while the batch runs,
# dashboard-done.png after it (dashboard-failed.png on a failure).
# Exits 77 (skipped) without /usr/bin/chromium, node or node_modules
# (1 with TASQ_TESTS_REQUIRED=1): deploy/install-dashboard-test-deps.sh
# installs them.
# TASQ_DASHBOARD_TASKS: the batch (default 30000 tasks; the workers sleep
# 1 ms a task, which makes it last about 10 s). TASQ_TEST_KEEP=1 keeps the
# scratch directory; TASQ_TEST_TIMEOUT_FACTOR scales the deadlines.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh" || exit 2
TEST_NAME=dashboard
if [ $# -ne 4 ]; then
	echo "usage: $0 TASQ-SERVER TASQ-WORKER TASQ TASQ-RAW" >&2
	exit 2
fi
server=$1 worker=$2 client=$3 raw=$4
tasks=${TASQ_DASHBOARD_TASKS:-30000}

for b in "$server" "$worker" "$client" "$raw"; do
	if [ ! -x "$b" ]; then
		echo "dashboard: $b is not an executable" >&2
		exit 2
	fi
done
# (lib.sh: the skip without chromium, $T, the exit trap, spawn and
# wait_until.)
dash_begin 'TASQ_DASHBOARD_*'
rm -f "$out"/dashboard*.png
harness_new_key "$T/key"

# Port 0 for both: the ready file names the RPC URL, then the metrics URL.
spawn server.log "$server" --listen tcp://127.0.0.1:0 --key-file "$T/key" \
	--ready-file "$T/ready" --metrics-listen http://127.0.0.1:0 \
	--log-level info
server_pid=$spawned
server_up() { [ -s "$T/ready" ] || ! pid_alive "$server_pid"; }
wait_until 15 server_up || fail "no ready file in $((15 * factor)) s"
pid_alive "$server_pid" || fail "the server exited at start"
url=$(sed -n 1p "$T/ready")
murl=$(sed -n 2p "$T/ready")
mport=${murl##*:}
timeout -k 5 $((30 * factor)) "$client" --server "$url" --key-file "$T/key" \
	health --wait "$((10 * factor))s" --quiet || fail "no server at $url"
log "server $server_pid on $url, dashboard on http://127.0.0.1:$mport/"

# 1 ms a task and small leases: a batch that takes seconds, results
# flowing all along.
spawn worker.log "$worker" --server "$url" --key-file "$T/key" -j 2 \
	-b 100 --task-delay 1ms
worker_pid=$spawned

# Failures: 2 of 3 squares overflow (a final error, no retry).
rc=0
timeout -k 5 $((30 * factor)) "$client" --server "$url" --key-file "$T/key" \
	submit --summary 5000000000 6000000000 3 >"$T/fail.out" \
	2>"$T/fail.log" || rc=$?
grep -q "^tasks=3 ok=1 failed=2 " "$T/fail.out" ||
	fail "the overflow job (exit $rc): $(cat "$T/fail.out" "$T/fail.log")"
# Retries and dead letters: a session that fails its tasks twice (max 2
# attempts, no backoff), and a task nobody serves. Each command is
# answered before the next is read; the session ends at the end of its
# input.
printf '%s\n' 'tsubmit mail 78 0 send 2 0 alice@example.com bob@example.com' \
	'tlease mail 100 0 send' 'tcomplete fail 13 smtp-451-try-later' \
	'tlease mail 100 0 send' 'tcomplete fail 14 connection-refused' \
	'tsubmit idle 79 0 report 1 0 monthly' |
	timeout -k 5 $((30 * factor)) "$raw" "$url" session \
		--key-file "$T/key" --timeout $((10000 * factor)) \
		>"$T/session.out" 2>"$T/session.log" ||
	fail "tasq_raw session: $(cat "$T/session.out" "$T/session.log")"
[ "$(grep -c '^tcomplete status=OK accepted=2 ' "$T/session.out")" = 2 ] ||
	fail "the session's failures were not accepted: $(cat "$T/session.out")"

# The job list: a detached job of 4 tasks of type "nap" in queue
# "slow", of which a session leases and completes one (1 of 4 done: 25 %,
# running, no worker left for the rest); dashboard.mjs reads its id from
# $T/slowjob and the key from $T/key.
slow=$(timeout -k 5 $((30 * factor)) "$client" --server "$url" \
	--key-file "$T/key" submit --detach --queue slow --type nap \
	n1 n2 n3 n4 2>"$T/slow.log") || fail "submit --detach: $(cat "$T/slow.log")"
[[ $slow =~ ^[0-9a-f]{16}$ ]] || fail "submit --detach printed '$slow'"
printf '%s\n' 'tlease slow 1 0 nap' 'tcomplete' |
	timeout -k 5 $((30 * factor)) "$raw" "$url" session \
		--key-file "$T/key" --timeout $((10000 * factor)) \
		>"$T/slow.out" 2>>"$T/slow.log" ||
	fail "the slow session: $(cat "$T/slow.out" "$T/slow.log")"
grep -q '^tcomplete status=OK accepted=1 ' "$T/slow.out" ||
	fail "the slow session completed nothing: $(cat "$T/slow.out")"
echo "$slow" >"$T/slowjob"

# Its lines go straight to our stderr, in order with ours.
setsid node "$here/dashboard.mjs" "http://127.0.0.1:$mport" "$tasks" 2 \
	"$out" "$T" </dev/null >&2 &
node_pid=$!
pids+=("$node_pid")
page_up() { [ -e "$T/loaded" ] || ! pid_alive "$node_pid"; }
wait_until 60 page_up || fail "the page did not load in $((60 * factor)) s"
[ -e "$T/loaded" ] || fail "dashboard.mjs ended before the page loaded"

log "page loaded; submitting 1:$tasks in the background"
timeout -k 5 $((120 * factor)) "$client" --server "$url" \
	--key-file "$T/key" submit --summary --range "1:$tasks" \
	>"$T/submit.out" 2>"$T/submit.log" &
submit_pid=$!
rc=0
wait "$submit_pid" || rc=$?
[ "$rc" -eq 0 ] || fail "submit exited $rc: $(cat "$T/submit.log")"
log "submit: $(cat "$T/submit.out")"
grep -q "^tasks=$tasks ok=$tasks failed=0 " "$T/submit.out" ||
	fail "submit's summary is not $tasks ok"
: >"$T/done"

# The page asks for a server restart (its counters start again): a new
# server on the same ports, which the workers reconnect to.
restart_asked() { [ -e "$T/restart" ] || ! pid_alive "$node_pid"; }
wait_until 60 restart_asked || fail "the page did not ask for the restart"
if [ -e "$T/restart" ]; then
	kill -KILL "$server_pid"
	wait "$server_pid" 2>/dev/null || true
	rm -f "$T/ready"
	spawn server2.log "$server" --listen "$url" --key-file "$T/key" \
		--ready-file "$T/ready" --metrics-listen "http://127.0.0.1:$mport" \
		--log-level info
	server_pid=$spawned
	wait_until 15 server_up || fail "no ready file from the new server"
	pid_alive "$server_pid" || fail "the new server exited at start"
	log "server killed and started again as $server_pid on $url"
	: >"$T/restarted"
fi

rc=0
wait "$node_pid" || rc=$?
[ "$rc" -eq 0 ] || fail "dashboard.mjs exited $rc (above)"

# Workers drain first, then the server must exit 0.
stopped() { ! pid_alive "$1"; }
kill -TERM "$worker_pid"
wait_until 30 stopped "$worker_pid" || fail "the workers ignored SIGTERM"
kill -TERM "$server_pid"
wait_until 30 stopped "$server_pid" || fail "the server ignored SIGTERM"
rc=0
wait "$server_pid" || rc=$?
[ "$rc" -eq 0 ] || fail "the server exited $rc on SIGTERM"

echo "screenshot: $out/dashboard.png"
echo "screenshot: $out/dashboard-done.png"
