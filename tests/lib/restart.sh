#!/usr/bin/env bash
# lib.restart: libtasq's stream keeps exactly-once, in-order results
# across server restarts, as tasq submit does (tests/fault/
# stream_restart.sh). client_test --restart-stream adds 1..N (N =
# 200,000 / TASQ_TEST_SCALE) to one job, the second half only after a
# line comes through a fifo, and prints "i i*i" per result from its
# result_cb. The server (--data-dir, --fsync never) is killed with
# SIGKILL while the first half is in flight and again while the client
# waits at the gate with all its results in and its input open, and
# restarted on the same port each time without its journal (a machine
# crash at its worst): the first time the library must send again every
# batch whose results it lacks; the second time the job, unknown to the
# new server, comes back with the next batch. Every result must come
# once, right and in order.
# TASQ_TEST_LIB_CLIENT is client_test (CMake sets it).
# shellcheck source-path=SCRIPTDIR source=../fault/lib.sh
. "$(dirname "$0")/../fault/lib.sh"
test_begin 150
prog=${TASQ_TEST_LIB_CLIENT:?the client_test program}

N=$(scaled 200000)
HALF=$((N / 2))
start_server --data-dir "$T/data" --fsync never
start_workers workers -j 2 --batch-size 100

mkfifo "$T/gate"
spawn stream env TASQ_TEST_URL="$URL" TASQ_TEST_KEY="$KEY" \
    "$prog" --restart-stream "$N" "$T/gate"
CLIENT=$SPAWNED_PID

lines() { wc -l <"$T/stream.out"; }
lines_ge() { (($(lines) >= $1)); }
poll_until 60 "results of the first half" lines_ge $((HALF / 10))
kill_server KILL
rm -rf "$T/data"
log "kill 1 at $(lines) results, journal lost; restarting"
# shellcheck disable=SC2119 # no arguments: the same ones again
restart_server
poll_until 60 "the first half's results" lines_ge "$HALF"
kill_server KILL
rm -rf "$T/data"
log "kill 2 at $(lines) results, input still open, journal lost; restarting"
# shellcheck disable=SC2119 # no arguments: the same ones again
restart_server
alive "$CLIENT" || fail "the client died: $(tail -c 300 "$T/stream.err")"
echo go >"$T/gate"
wait_pid "$CLIENT" 120 || fail "the client did not finish"
((WAIT_STATUS == 0)) || fail "the client exited with $WAIT_STATUS:" \
    "$(tail -c 300 "$T/stream.err")"
check_squares "$T/stream.out" "$N" ||
    fail "results are not exactly once, right and in order"
log "ok: $N streamed results exactly once, in order, over 2 kills"
