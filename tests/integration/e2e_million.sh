# e2e_million: a million tasks (--range 1:1000000, divided by
# TASQ_TEST_SCALE) through a server and two worker processes: every
# result is right, in input order, exactly once; the server's counters
# agree, and so do the default queue's submitted and completed in tasq
# stats; server and workers exit 0 on SIGTERM.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 120

n=$((1000000 / SCALE))
start_server
start_workers -j 2
sup=$SPAWNED_PID
expect_exit "$sup" 0

t0=$(now_ms)
client submit --range "1:$n" >"$T/out" 2>"$T/client.log" ||
    fail "submit exited $?"
log "$n tasks in $(($(now_ms) - t0)) ms"
check_squares "$T/out" 1 "$n"

[ "$(counter tasks_submitted)" = "$n" ] || fail "tasks_submitted != $n"
[ "$(counter tasks_completed)" = "$n" ] || fail "tasks_completed != $n"
[ "$(counter results_rejected)" = 0 ] || fail "results were rejected"
[ "$(counter tasks_failed)" = 0 ] || fail "tasks failed"
[ "$(queue_field default 7)" = "$n" ] ||
    fail "queue default: SUBMITTED $(queue_field default 7), want $n"
[ "$(queue_field default 8)" = "$n" ] ||
    fail "queue default: COMPLETED $(queue_field default 8), want $n"
# Both worker processes took part.
[ "$(worker_children "$sup" | wc -l)" = 2 ] || fail "want 2 worker processes"

# --summary agrees with the sum of the squares, n(n+1)(2n+1)/6.
client submit --summary --range "1:$n" >"$T/summary" ||
    fail "submit --summary exited $?"
# (n(n+1)/2 is exact first; the product stays below 2^63 for n = 10^6.)
# shellcheck disable=SC2017
want_sum=$((n * (n + 1) / 2 * (2 * n + 1) / 3))
grep -q "^tasks=$n ok=$n failed=0 sum=$want_sum " "$T/summary" ||
    fail "summary: $(cat "$T/summary"), want sum=$want_sum"

test_end
