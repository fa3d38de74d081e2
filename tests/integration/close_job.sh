# close_job: CloseJob end to end.
#
# 1. tasq submit closes its job before it exits: the moment a client has
#    exited 0, stats --json shows no job and no result left in its queue
#    (the close is a synchronous call, so no waiting; a client that did
#    not close would leave them until --job-ttl). Both ways a job travels:
#    one batch carried by the first Fetch, and batches from the submitter
#    thread.
# 2. CloseJob of a job that has tasks queued, leased, completed but not
#    fetched, and in a delivery (a tasq_raw session plays worker and
#    client): `dropped` counts all but the delivery, which the close's
#    ack_seq acknowledges (PROTOCOL.md 9.7); nothing stays queued;
#    the worker that hands in the leased tasks afterwards is told they are
#    rejected, and that ends its lease; the server then holds nothing for
#    the job, which --max-tasks shows: a job of exactly max-tasks tasks
#    is accepted next. No lease expires and nothing is redelivered.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
. "$(dirname "${BASH_SOURCE[0]}")/lib_e2e.sh" || exit 2
test_begin 60

max=300
# The lease is long: nothing in this test may end by expiry.
start_server --max-tasks "$max" --lease 10m
start_workers -j 1
expect_exit "$SPAWNED_PID" 0

# 1. The client closes its job.
client submit --range 1:200 >"$T/out1" 2>"$T/client1.log" ||
    fail "client 1 failed: $(cat "$T/client1.log")"
s=$(stats_json)
want_queue default jobs 0 "right after a one-batch client exited" "$s"
want_queue default results 0 "right after a one-batch client exited" "$s"
check_squares "$T/out1" 1 200
client submit --batch-size 50 --range 1:250 >"$T/out2" 2>"$T/client2.log" ||
    fail "client 2 failed: $(cat "$T/client2.log")"
s=$(stats_json)
want_queue default jobs 0 "right after a many-batch client exited" "$s"
want_queue default results 0 "right after a many-batch client exited" "$s"
want_queue default ready 0 "" "$s"
want_queue default leased 0 "" "$s"
check_squares "$T/out2" 1 250

# 2. CloseJob of a job with tasks in every state (queue cq has no
# worker but the session).
rs_start
rs_ok submit cq 100 0 $(seq 1 100)
rs_ok submit cq 100 100 $(seq 101 200)
rs_ok lease cq 50 0
rs_want tasks 50
rs_ok complete
rs_want accepted 50
rs_ok fetch 100 20 0 # a delivery of 20, never acknowledged
rs_want n 20
rs_ok lease cq 30 0
rs_want tasks 30
s=$(stats_json)
want_queue cq ready 120 "before CloseJob" "$s"
want_queue cq leased 30 "before CloseJob" "$s"
want_queue cq results 50 "before CloseJob" "$s"
rs_ok close 100
rs_want dropped 180 "120 queued + 30 leased + 30 results (the delivery of 20 is acknowledged by the close)"
s=$(stats_json)
want_queue cq ready 0 "after CloseJob" "$s"
want_queue cq results 0 "after CloseJob" "$s"
want_queue cq jobs 0 "after CloseJob" "$s"
rs_ok lease cq 100 0
rs_want tasks 0 "a lease after CloseJob"

# The worker hands in the 30 tasks it still holds.
rs_ok complete
rs_want rejected 30 "results for a closed job"
rs_want accepted 0
rs_want late 0
want_queue cq leased 0 "the closed job's lease was completed"

# The server holds nothing for the closed job: a full max-tasks job fits.
rs_ok submit cq 200 0 $(seq 1 "$max")
rs_want accepted "$max" "a job of max-tasks tasks after CloseJob"
rs_ok close 200
rs_want dropped "$max"
s=$(stats_json)
want_queue cq ready 0 "" "$s"
want_queue cq leased 0 "" "$s"
want_queue cq results 0 "" "$s"
want_queue cq jobs 0 "" "$s"
[ "$(counter_json leases_expired "$s")" = 0 ] || fail "a lease expired"
[ "$(counter_json tasks_redelivered "$s")" = 0 ] || fail "tasks were redelivered"
[ "$(counter_json results_rejected "$s")" = 30 ] ||
    fail "results_rejected $(counter_json results_rejected "$s"), want 30"

test_end
