# dead_retry: tasq dead end to end. Tasks of a type whose handler always
# fails (exec-each:false) land in the dead-letter queue after the job's
# --max-attempts with their payload, type, attempts and error; tasq dead
# list / show / --json show them; after the handler is replaced by one
# that works (a worker with exec-each:cat for the same type), tasq dead
# retry runs them again as a new job, prints their results and purges
# them; purge ID and purge --all forget letters.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 120

start_server --max-attempts 5
start_workers -j 1 --type flaky=exec-each:false --type square=builtin:square
bad=$SPAWNED_PID
assert_serving "start"

client submit --timeout "$((30 * FACTOR))s" --type flaky --max-attempts 2 alpha 'be ta' >"$T/sub.out" \
    2>"$T/sub.err"
rc=$?
[ "$rc" = 3 ] || fail "failing tasks: exit $rc, want 3: $(cat "$T/sub.err")"
[ "$(grep -c '^error: ' "$T/sub.out")" = 2 ] ||
    fail "failing tasks: $(cat "$T/sub.out")"

client dead list >"$T/list.out" || fail "dead list failed"
log "dead list: $(cat "$T/list.out")"
[ "$(awk 'NR > 1' "$T/list.out" | wc -l)" = 2 ] ||
    fail "want 2 dead letters: $(cat "$T/list.out")"
awk 'NR > 1 && !($3 == "default" && $4 == "flaky" && $5 == 2) { bad = 1 }
    END { exit bad }' "$T/list.out" ||
    fail "dead list: queue, type or attempts wrong: $(cat "$T/list.out")"
id1=$(awk 'NR == 2 { print $1 }' "$T/list.out")
id2=$(awk 'NR == 3 { print $1 }' "$T/list.out")
client dead show "$id2" >"$T/show.out" || fail "dead show failed"
grep -q '^type: *flaky$' "$T/show.out" && grep -qx 'be ta' "$T/show.out" ||
    fail "dead show: $(cat "$T/show.out")"
client dead list --json >"$T/list.json" || fail "dead list --json failed"
python3 -c 'import json, sys
ls = [json.loads(l) for l in open(sys.argv[1])]
assert len(ls) == 2 and all(l["type"] == "flaky" and l["attempts"] == 2
    for l in ls), ls' "$T/list.json" || fail "dead list --json: $(cat "$T/list.json")"
client dead show --json "$id1" | grep -q '"payload":"alpha"' ||
    fail "dead show --json: no payload"
client dead show 999999 2>/dev/null && fail "show of no letter succeeded"

# Replace the failing handler, then retry: results printed, letters gone.
stop "$bad"
start_workers -j 1 --type flaky=exec-each:cat
client dead retry --all >"$T/retry.out" 2>"$T/retry.err" ||
    fail "dead retry: $(cat "$T/retry.err")"
printf '%s\n' "$id1 alpha" "$id2 be ta" | cmp -s - "$T/retry.out" ||
    fail "dead retry printed: $(cat "$T/retry.out")"
client dead list >"$T/list2.out" || fail "dead list failed"
[ "$(awk 'NR > 1' "$T/list2.out" | wc -l)" = 0 ] ||
    fail "retried letters not purged: $(cat "$T/list2.out")"

# Purge by id and --all.
stop "$SPAWNED_PID"
start_workers -j 1 --type flaky=exec-each:false
client submit --timeout "$((30 * FACTOR))s" --type flaky --max-attempts 1 x y z >/dev/null 2>&1
ids=$(client dead list | awk 'NR > 1 { print $1 }')
[ "$(echo "$ids" | wc -l)" = 3 ] || fail "want 3 new dead letters: $ids"
client dead purge "$(echo "$ids" | head -n 1)" | grep -qx 'purged 1' ||
    fail "purge of one id"
client dead purge --all | grep -qx 'purged 2' || fail "purge --all"
[ "$(client dead list | wc -l)" = 1 ] || fail "letters left after purge --all"
test_end
