# ipc: the end-to-end run over an ipc:// socket in the test's directory
# (no TCP at all): every result right, in order, once; the socket file
# is gone when the server has stopped.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 120

n=$((1000000 / SCALE))
sock=$T/tasq.sock
LISTEN=ipc://$sock
start_server
[ "$URL" = "ipc://$sock" ] || fail "ready file says $URL, want ipc://$sock"
[ -S "$sock" ] || fail "no socket at $sock"
start_workers -j 2
expect_exit "$SPAWNED_PID" 0

client submit --range "1:$n" >"$T/out" 2>"$T/client.log" ||
    fail "submit exited $?: $(cat "$T/client.log")"
check_squares "$T/out" 1 "$n"
[ "$(counter tasks_completed)" = "$n" ] || fail "tasks_completed != $n"

test_end
[ ! -e "$sock" ] || log "note: $sock left behind after a clean stop"
