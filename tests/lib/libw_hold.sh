#!/usr/bin/env bash
# libw_hold: a worker on libtasq's worker side that holds its batch three
# times the lease time before completing it keeps the lease: the
# library's thread renews it, by heartbeats on the server's heartbeat
# port (heartbeats_received grows), then, with the heartbeat channel
# turned off (tasq_serve_set_heartbeat "none"), by Extend requests.
# Either way leases_expired, tasks_redelivered and results_late stay 0.
# Last, the same by hand with the aio forms (tasq_serve_lease_aio,
# tasq_lease_complete_aio), holding nothing.
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" || exit 2
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib_e2e.sh" || exit 2
. "$(dirname "${BASH_SOURCE[0]}")/libw_lib.sh" || exit 2
test_begin 90

lease_ms=$((1000 * FACTOR))
start_server --lease "${lease_ms}ms"

# run_hold FIRST LAST [none]: a libw_worker holding each batch 3 leases
# computes FIRST..LAST (one batch); it is stopped after.
run_hold() {
	local first=$1 last=$2 t0 took
	TASQ_TEST_BATCH=$((last - first + 1)) start_libw hold \
	    $((3 * lease_ms)) "${3:-hb}"
	local pid=$SPAWNED_PID
	t0=$(now_ms)
	client submit --range "$first:$last" >"$T/out.$first" \
	    2>"$T/client.$first.log" ||
	    fail "client failed: $(cat "$T/client.$first.log")"
	took=$(($(now_ms) - t0))
	check_squares "$T/out.$first" "$first" "$last"
	[ "$took" -ge $((3 * lease_ms)) ] ||
	    fail "the job took $took ms: the batch was not held 3 leases"
	grep -q "leased $((last - first + 1)) tasks" "$LIBW_LOG" ||
	    fail "the tasks did not come in one lease: $(cat "$LIBW_LOG")"
	stop "$pid" 20
	[ "$EXIT_STATUS" = 0 ] || fail "libw_worker exited $EXIT_STATUS"
	log "${3:-heartbeats}: $((last - first + 1)) tasks in $took ms (lease $lease_ms ms)"
}

run_hold 1 3
s=$(stats_json)
for c in leases_expired tasks_redelivered results_late heartbeats_refused; do
	[ "$(counter_json "$c" "$s")" = 0 ] ||
	    fail "heartbeats: $c is $(counter_json "$c" "$s"), want 0"
done
hb=$(counter_json heartbeats_received "$s")
# A beat every lease/4 for 3 leases: 8 or so; some slack.
[ "${hb:-0}" -ge 6 ] ||
    fail "heartbeats_received ${hb:-none}, want >= 6: the lease was not kept by heartbeats"

run_hold 4 6 none
s=$(stats_json)
for c in leases_expired tasks_redelivered results_late; do
	[ "$(counter_json "$c" "$s")" = 0 ] ||
	    fail "Extend: $c is $(counter_json "$c" "$s"), want 0"
done
[ "$(counter_json heartbeats_received "$s")" = "$hb" ] ||
    fail "heartbeats came with the heartbeat channel off"
[ "$(counter_json tasks_leased "$s")" = 6 ] ||
    fail "tasks_leased $(counter_json tasks_leased "$s"), want 6"

start_libw async
apid=$SPAWNED_PID
client submit --range 7:2006 >"$T/out.async" 2>"$T/client.async.log" ||
    fail "client (aio worker) failed: $(cat "$T/client.async.log")"
check_squares "$T/out.async" 7 2006
stop "$apid" 20
[ "$EXIT_STATUS" = 0 ] || fail "libw_worker async exited $EXIT_STATUS"
test_end
