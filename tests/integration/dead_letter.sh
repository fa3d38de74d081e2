# dead_letter: --max-attempts end to end. The worker is a tasq_raw session
# that computes every task but one (value 30), which it never hands in:
# that task is delivered exactly max-attempts (3) times, with attempts
# 1, 2, 3 — its leases end once by expiry, once by the connection
# closing, once by expiry again, and each counts — and is then
# dead-lettered: the client (the real one) gets ABORTED for it and every
# other result right, and nothing is delivered again.
#
# Then Release: a task released four times (more than max-attempts) is
# delivered each time as attempt 1 and is not dead-lettered; its result
# is then accepted as usual.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
. "$(dirname "${BASH_SOURCE[0]}")/lib_e2e.sh" || exit 2
test_begin 90

lease_ms=$((1000 * FACTOR))
wait_ms=$((10 * lease_ms)) # long-polls for a task coming back
start_server --max-attempts 3 --lease "${lease_ms}ms"
rs_start

# delivered VALUE ATTEMPT WHAT: the last lease gave exactly one task, of
# VALUE, as ATTEMPT.
delivered() {
	local t
	t=$(rs_tasks)
	if [ "$(rs_field tasks)" != 1 ] ||
	    [ "$(rs_field value "$t")" != "$1" ] ||
	    [ "$(rs_field attempt "$t")" != "$2" ]; then
		fail "$3: want value $1 as attempt $2, got: ${t:-no task}"
	fi
}

spawn_client "$T/out" "$T/client.log" submit 10 20 30 40 50
pclient=$SPAWNED_PID
wait_until 20 counter_ge tasks_submitted 5 || fail "the client did not submit"

rs_ok lease default 100 0
rs_want tasks 5 "first lease"
[ "$(rs_tasks | grep -c ' attempt=1$')" = 5 ] || fail "first lease: not all attempt 1"
rs_ok complete skip=30
rs_want accepted 4

# Attempt 1 ends by expiry.
rs_ok lease default 100 "$wait_ms"
delivered 30 2 "after the first lease expired"
want_counter leases_expired 1

# Attempt 2 ends with its connection.
rs_ok reconnect
rs_ok lease default 100 "$wait_ms"
delivered 30 3 "after the connection of the second lease closed"
want_counter leases_disconnected 1

# Attempt 3 expires: the last one.
rs_ok forget
dead_or_again() {
	! kill -0 "$pclient" 2>/dev/null || counter_ge tasks_redelivered 3
}
wait_until 30 dead_or_again || fail "the third lease of task 30 never ended"
kill -0 "$pclient" 2>/dev/null &&
    fail "task 30 was delivered again after 3 attempts, not dead-lettered" \
        "(tasks_redelivered $(counter tasks_redelivered))"
wait_exit "$pclient" 5 || fail "client did not exit"
[ "$EXIT_STATUS" = 3 ] ||
    fail "client exited $EXIT_STATUS, want 3 (a task failed): $(cat "$T/client.log")"
sed -E 's/^(-?[0-9]+) error: ([A-Z_]+) .*/\1 error: \2/' "$T/out" >"$T/out.got"
printf '10 100\n20 400\n30 error: ABORTED\n40 1600\n50 2500\n' >"$T/out.want"
cmp -s "$T/out.want" "$T/out.got" ||
    fail "client output: $(cat "$T/out"), want $(cat "$T/out.want")"
rs_ok lease default 100 0
rs_want tasks 0 "a lease after the dead letter"
s=$(stats_json)
for c in tasks_dead_lettered:1 leases_expired:2 leases_disconnected:1 \
    tasks_redelivered:2 tasks_leased:7 tasks_completed:5 tasks_failed:1; do
	[ "$(counter_json "${c%%:*}" "$s")" = "${c#*:}" ] ||
	    fail "${c%%:*} is $(counter_json "${c%%:*}" "$s"), want ${c#*:}"
done
want_queue default dead 1 "" "$s"
want_queue default jobs 0 "" "$s"

# Release does not count as an attempt.
spawn_client "$T/out2" "$T/client2.log" submit 7
pclient=$SPAWNED_PID
for i in 1 2 3 4; do
	rs_ok lease default 100 "$wait_ms"
	delivered 7 1 "delivery $i of a task released $((i - 1)) times"
	rs_ok release
	rs_want released 1
done
rs_ok lease default 100 "$wait_ms"
delivered 7 1 "delivery 5 of a task released 4 times"
rs_ok complete
rs_want accepted 1
wait_exit "$pclient" 30 || fail "client 2 did not finish"
[ "$EXIT_STATUS" = 0 ] || fail "client 2 exited $EXIT_STATUS: $(cat "$T/client2.log")"
[ "$(cat "$T/out2")" = "7 49" ] || fail "client 2 printed: $(cat "$T/out2")"
want_counter tasks_dead_lettered 1 "a released task was dead-lettered"
want_counter tasks_redelivered 6
want_counter leases_expired 2

test_end
