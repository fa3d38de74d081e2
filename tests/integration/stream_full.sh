# stream_full: a streaming client acknowledges its last delivery of
# results even when it has printed everything sent so far and waits for
# more input. The server holds at most 1,000 tasks (--max-tasks), which
# counts results not yet acknowledged: the first 1,000 lines are computed
# and printed, then (a gate, as in stream_input) 1,000 more come in one
# batch, which the server can take only once every earlier result is
# acknowledged. A client that stopped fetching when it had nothing in
# flight would leave the last delivery unacknowledged and wait for ever
# (RESOURCE_EXHAUSTED, retried).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 90

start_server --max-tasks 1000
start_workers -j 1 --batch-size 1000
assert_serving "start"

mkfifo "$T/gate" "$T/out.fifo"
(
	seq 1 1000
	read -r _ <"$T/gate"
	seq 1001 2000
) | client submit --batch-size 1000 --linger 50ms - >"$T/out.fifo" \
    2>"$T/client.err" &
exec {outfd}<"$T/out.fifo"
for ((i = 1; i <= 1000; i++)); do
	read -r -t $((20 * FACTOR)) line <&"$outfd" ||
	    fail "result $i of the first half not printed: $(cat "$T/client.err")"
	echo "$line" >>"$T/out"
done
echo go >"$T/gate"
timeout $((30 * FACTOR)) cat <&"$outfd" >>"$T/out"
exec {outfd}<&-
wait_exit $! 10 || fail "the client did not exit"
[ "$EXIT_STATUS" = 0 ] || fail "client exit $EXIT_STATUS: $(cat "$T/client.err")"
check_squares "$T/out" 1 2000
test_end
