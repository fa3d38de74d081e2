# heartbeat_sigstop: heartbeats keep a slow worker's leases, but not a
# stopped one's. A worker process that holds a lease is SIGSTOPped (its
# connections stay open, so only the lease deadline can take the tasks
# back): its lease expires, its tasks are delivered to another worker,
# and the job completes with every result exactly once. When the stopped
# worker resumes, its late results are dropped as duplicates.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
. "$(dirname "${BASH_SOURCE[0]}")/lib_e2e.sh" || exit 2
. "$(dirname "${BASH_SOURCE[0]}")/lib_hb.sh" || exit 2
test_begin 90

lease_ms=$((2000 * FACTOR))
n=6
start_server --lease "${lease_ms}ms"
HB=$(hb_url)
[ -n "$HB" ] || fail "the server logged no heartbeat address"
# The slow worker takes the whole job in one lease (n tasks of a lease
# each) and beats while it works.
start_workers -j 1 --pipeline 1 --batch-size "$n" \
    --task-delay "${lease_ms}ms" --heartbeat "$HB"
slow=$SPAWNED_PID
client submit --range "1:$n" >"$T/out" 2>"$T/client.log" &
pclient=$!

wait_until 15 counter_ge tasks_leased "$n" || fail "the job was not leased"
# Beating: a lease's worth of heartbeats, and the lease still held.
wait_until 15 counter_ge heartbeats_received 4 ||
    fail "no heartbeats: $(counter heartbeats_received)"
[ "$(counter leases_expired)" = 0 ] || fail "a lease expired while beating"
victim=$(worker_children "$slow" | head -n 1)
[ -n "$victim" ] || fail "no worker process under $slow"
log "SIGSTOP worker process $victim"
kill -STOP "$victim"
stopped_at=$(now_ms)

wait_until 20 counter_ge leases_expired 1 ||
    fail "the stopped worker's lease did not expire"
took=$(($(now_ms) - stopped_at))
log "lease expired $took ms after SIGSTOP (lease $lease_ms ms)"
[ "$(counter leases_disconnected)" = 0 ] ||
    fail "the lease came back by disconnection, not by expiry"
kill -0 "$pclient" 2>/dev/null || fail "the job ended without the tasks"

start_workers -j 1
expect_exit "$SPAWNED_PID" 0
wait_exit "$pclient" 60 || fail "client did not finish with a new worker"
[ "$EXIT_STATUS" = 0 ] || fail "client exited $EXIT_STATUS: $(cat "$T/client.log")"
check_squares "$T/out" 1 "$n"
redelivered=$(counter tasks_redelivered)
[ "${redelivered:-0}" -ge 1 ] || fail "nothing was redelivered"

# Resumed, it finishes its stale batch: the results are late or
# duplicates, never a second answer (the client already has them all).
kill -CONT "$victim"
expect_exit "$slow" 0
test_end
