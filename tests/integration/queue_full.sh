# queue_full: a server that holds at most 2,000 tasks (--max-tasks)
# answers RESOURCE_EXHAUSTED to a client submitting 50,000 in batches of
# 500; the client backs off and retries, and still gets every result
# exactly once, in order. (max_tasks_batch.sh: a batch that can never
# fit.)
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 120

n=$((50000 / SCALE))
start_server --max-tasks 2000
start_workers -j 2 --batch-size 200
expect_exit "$SPAWNED_PID" 0

client submit --range "1:$n" --batch-size 500 >"$T/out" 2>"$T/client.log" ||
    fail "submit exited $?: $(cat "$T/client.log")"
check_squares "$T/out" 1 "$n"

exhausted=$(counter requests_resource_exhausted)
[ "${exhausted:-0}" -gt 0 ] ||
    fail "requests_resource_exhausted is ${exhausted:-?}, want > 0"
[ "$(counter tasks_submitted)" = "$n" ] ||
    fail "tasks_submitted $(counter tasks_submitted), want $n"
[ "$(counter tasks_completed)" = "$n" ] || fail "tasks_completed != $n"
log "requests_resource_exhausted $exhausted"

test_end
