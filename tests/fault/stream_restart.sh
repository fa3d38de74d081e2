# stream_restart: tasq submit reading a stream keeps exactly-once,
# in-order output across server restarts. The input (1..N, N = 200,000
# divided by TASQ_TEST_SCALE) comes through a fifo in two halves with a
# gate between them; the server (--data-dir) is killed with SIGKILL while the first
# half is in flight and again while the client waits at the gate with
# input still open, restarted on the same port and data directory each
# time without its journal, as after a machine crash at its worst: the
# first time the client must send again every batch whose results it
# lacks; the second time it has every result of what it sent, and the
# job, unknown to the new server (NOT_FOUND), comes back with its next
# batch. Then the rest of the input flows. Every result must be printed
# once, right and in input order.
. "$(dirname "$0")/lib.sh"
test_begin 150

N=$(scaled 200000)
HALF=$((N / 2))
start_server --data-dir "$T/data" --fsync never
start_workers workers -j 2 --batch-size 100

mkfifo "$T/in" "$T/gate" "$T/gate.end"
# The client's stdin: a fifo that a holder keeps open for writing until
# the end (a fifo reads as ended when its last writer closes), and that
# the producer writes the first half, then after the gate the second.
spawn holder bash -c 'exec 3>"$1"; read -r _ <"$2"' holder "$T/in" \
    "$T/gate.end"
spawn stream bash -c 'exec "$1" --server "$2" --key-file "$3" \
    --request-timeout 2s --log-level info submit --batch-size 500 \
    --linger 5ms - <"$4"' \
    stream "$TASQ_CLIENT_BIN" "$URL" "$KEY" "$T/in"
CLIENT=$SPAWNED_PID
spawn producer bash -c 'seq 1 "$1" >"$3"; read -r _ <"$4"; seq $(($1 + 1)) "$2" >"$3"' \
    producer "$HALF" "$N" "$T/in" "$T/gate"
PRODUCER=$SPAWNED_PID

lines() { wc -l <"$T/stream.out"; }
lines_ge() { (($(lines) >= $1)); }
# Kill 1: some results are out, the first half is still in flight.
poll_until 60 "results of the first half" lines_ge $((HALF / 10))
kill_server KILL
rm -rf "$T/data" # a machine crash at its worst: the journal is lost
log "kill 1 at $(lines) results, journal lost; restarting"
restart_server
# Kill 2: the first half is done; the client waits for more input.
poll_until 60 "the first half's results" lines_ge "$HALF"
kill_server KILL
rm -rf "$T/data"
log "kill 2 at $(lines) results, input still open, journal lost; restarting"
restart_server
# The client finds the job gone with nothing of it missing (or dies of
# it: then the check below fails) before the rest of the input comes.
gone() {
	grep -q 'does not have the job' "$T/stream.err" || ! alive "$CLIENT"
}
poll_until 60 "the client to find the job gone" gone
alive "$CLIENT" || fail "the client died after the restart:" \
    "$(grep -v retrying "$T/stream.err" | tail -c 300)"
echo go >"$T/gate"
wait_pid "$PRODUCER" 60 || fail "the producer did not finish"
echo end >"$T/gate.end"
wait_pid "$CLIENT" 120 || fail "the client did not finish"
((WAIT_STATUS == 0)) || fail "the client exited with $WAIT_STATUS:" \
    "$(tail -c 300 "$T/stream.err")"
check_squares "$T/stream.out" "$N" ||
    fail "results are not exactly once, right and in order"
log "ok: $N streamed results exactly once, in order, over 2 kills"
