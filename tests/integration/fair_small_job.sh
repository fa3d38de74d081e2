# fair_small_job: a small job submitted behind a big one on the same queue
# is not starved (issue 13, PROTOCOL.md 11.1).
#
# A job of 1,000,000 tasks is wholly queued first (no worker yet), then a
# job of 1,000 tasks; then two slow-ish worker processes start (1 ms a
# task, leases of 100). First in, first out, the small job would finish
# only after the whole big one (about 500 s here); with the rotation it
# is served from the first leases on. When the small client has all its
# results, the big job must still have most of its tasks (more than
# 900,000 of them queued or leased): a count, not a time.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
. "$(dirname "${BASH_SOURCE[0]}")/lib_e2e.sh" || exit 2
test_begin 120

big=1000000
start_server
spawn_client "$T/big.out" "$T/big.err" submit --summary --range "1:$big"
_queued() { [ "$(queue_json default submitted)" = "$1" ]; }
wait_until 60 _queued "$big" ||
    fail "the big job was not queued: submitted $(queue_json default submitted)"
spawn_client "$T/small.out" "$T/small.err" submit --range 1:1000
small=$SPAWNED_PID
wait_until 30 _queued $((big + 1000)) ||
    fail "the small job was not queued: submitted $(queue_json default submitted)"
start_workers -j 2 --batch-size 100 --task-delay 1ms
wait_exit "$small" 60 ||
    fail "the small job did not finish in $((60 * FACTOR)) s: done $(wc -l <"$T/small.out") of 1000"
[ "$EXIT_STATUS" -eq 0 ] || fail "the small client failed: $(cat "$T/small.err")"
s=$(stats_json)
left=$(($(queue_json default ready "$s") + $(queue_json default leased "$s")))
log "the small job finished with $left of the big job's $big tasks left"
[ "$left" -gt 900000 ] ||
    fail "the small job finished when the big one had $left of $big tasks left, want more than 900000"
check_squares "$T/small.out" 1 1000
test_end
