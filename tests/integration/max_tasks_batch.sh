# max_tasks_batch: a submit batch larger than the server's --max-tasks can
# never fit, however long the client waits. The client must get a
# definite refusal and exit non-zero, not be told RESOURCE_EXHAUSTED
# ("retry later") and retry for ever; the server serves on. (The default
# --batch-size 4096 against --max-tasks 2000 is the same case.)
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 60

start_server --max-tasks 2000
start_workers -j 1
expect_exit "$SPAWNED_PID" 0

rc=0
CLIENT_TIMEOUT=10 client --log-level info submit --range 1:3000 \
    --batch-size 3000 >"$T/big.out" 2>"$T/big.log" || rc=$?
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
	fail "3000 tasks in one batch against --max-tasks 2000: the client was still retrying after $((10 * FACTOR)) s (RESOURCE_EXHAUSTED for a batch that can never fit)"
fi
[ "$rc" != 0 ] || fail "3000 tasks in one batch over --max-tasks 2000 succeeded"
[ -s "$T/big.log" ] || fail "the client exited $rc without saying why"
grep -q "max-tasks" "$T/big.log" ||
    fail "the refusal does not give the server's reason: $(cat "$T/big.log")"
# The library sends a refused square batch again as values (an old
# server's refusal looks the same); this server is not one.
if grep -q "old server" "$T/big.log"; then
	fail "a refusal for --max-tasks was reported as an old server's: $(cat "$T/big.log")"
fi
log "refused with exit $rc: $(cat "$T/big.log")"
assert_serving "a batch over --max-tasks"

test_end
