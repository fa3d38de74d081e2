# dead_retry: tasq dead end to end. Two tasks of type "flaky" are
# leased by a worker that is then stopped (SIGSTOP), so their leases
# expire; with --max-attempts 1 that was their last attempt and they land
# in the dead-letter queue with their payload, type and attempts, and the
# client gets an error for each (exit 3). tasq dead list / show / --json
# show them; then a worker whose handler for "flaky" works (exec-each:cat)
# comes, and tasq dead retry --all runs them again as a new job, prints
# "ID result" for each and purges them; purge ID and purge --all forget
# letters made the same way. Then a handler that fails every attempt
# (exec-each printing to stderr and exiting 1) under the job's retry
# policy (--max-attempts 2): its letter holds attempts 2 and the error.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 120

lease_ms=$((1000 * FACTOR))
start_server --max-attempts 1 --lease "${lease_ms}ms"

# dead_letters PAYLOADS...: submits them as type flaky to a worker that
# takes them and stops, so that they die; the client reports each as an
# error. The worker is killed afterwards.
dead_letters() {
	local n=$# w c
	start_workers -j 1 --type flaky=exec-each:'sleep 60'
	w=$SPAWNED_PID
	spawn_client "$T/sub.out" "$T/sub.err" submit --type flaky "$@"
	c=$SPAWNED_PID
	leased() { [ "$(queue_field default 3)" = "$n" ]; }
	wait_until 20 leased || fail "the tasks were not leased"
	kill -STOP -- "-$w"
	wait_exit "$c" 30 || fail "the client did not finish once its tasks died"
	[ "$EXIT_STATUS" = 3 ] ||
	    fail "dead tasks: client exit $EXIT_STATUS, want 3: $(cat "$T/sub.err")"
	[ "$(grep -c '^error: ' "$T/sub.out")" = "$n" ] ||
	    fail "dead tasks: client printed $(cat "$T/sub.out")"
	kill -KILL -- "-$w"
	wait "$w" 2>/dev/null
}

dead_letters alpha 'be ta'
client dead list >"$T/list.out" || fail "dead list failed"
log "dead list: $(cat "$T/list.out")"
[ "$(awk 'NR > 1' "$T/list.out" | wc -l)" = 2 ] ||
    fail "want 2 dead letters: $(cat "$T/list.out")"
awk 'NR > 1 && !($3 == "default" && $4 == "flaky" && $5 == 1) { bad = 1 }
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
assert len(ls) == 2 and all(l["type"] == "flaky" and l["attempts"] == 1
    for l in ls), ls' "$T/list.json" || fail "dead list --json: $(cat "$T/list.json")"
client dead show --json "$id1" | grep >/dev/null -c '"payload":"alpha"' ||
    fail "dead show --json: no payload"
client dead show 999999 2>/dev/null && fail "show of no letter succeeded"

# A handler that works, then retry: results printed, letters gone.
start_workers -j 1 --type flaky=exec-each:cat
good=$SPAWNED_PID
client dead retry --all >"$T/retry.out" 2>"$T/retry.err" ||
    fail "dead retry: $(cat "$T/retry.err")"
printf '%s\n' "$id1 alpha" "$id2 be ta" | cmp -s - "$T/retry.out" ||
    fail "dead retry printed: $(cat "$T/retry.out")"
client dead list >"$T/list2.out" || fail "dead list failed"
[ "$(awk 'NR > 1' "$T/list2.out" | wc -l)" = 0 ] ||
    fail "retried letters not purged: $(cat "$T/list2.out")"

# Purge by id and --all.
stop "$good"
dead_letters x y z
ids=$(client dead list | awk 'NR > 1 { print $1 }')
[ "$(echo "$ids" | wc -l)" = 3 ] || fail "want 3 new dead letters: $ids"
client dead purge "$(echo "$ids" | head -n 1)" | grep >/dev/null -cx 'purged 1' ||
    fail "purge of one id"
client dead purge --all | grep >/dev/null -cx 'purged 2' || fail "purge --all"
[ "$(client dead list | wc -l)" = 1 ] || fail "letters left after purge --all"

# A handler that fails every attempt (the job's retry policy: 2): the
# task is dead-lettered with its payload and the handler's error, and
# retried once the type's handler works.
start_workers -j 1 --type bad=exec-each:'echo boom >&2; false'
badw=$SPAWNED_PID
client submit --type bad --max-attempts 2 --timeout "$((30 * FACTOR))s" \
    payload-1 >"$T/bad.out" 2>"$T/bad.err"
rc=$?
[ "$rc" = 3 ] || fail "a failing handler: exit $rc, want 3: $(cat "$T/bad.err")"
grep -q '^error: .*boom' "$T/bad.out" ||
    fail "a failing handler: printed $(cat "$T/bad.out")"
client dead list --json >"$T/bad.json" || fail "dead list --json failed"
python3 -c 'import json, sys
ls = [json.loads(l) for l in open(sys.argv[1])]
assert len(ls) == 1 and ls[0]["type"] == "bad" and ls[0]["attempts"] == 2 \
    and "boom" in ls[0]["error"], ls' "$T/bad.json" ||
    fail "the failed task's letter: $(cat "$T/bad.json")"
stop "$badw"
start_workers -j 1 --type bad=exec-each:'tr a-z A-Z'
id=$(python3 -c 'import json, sys; print(json.loads(open(sys.argv[1]).readline())["id"])' "$T/bad.json")
[ "$(client dead retry "$id")" = "$id PAYLOAD-1" ] || fail "retry of $id"
[ "$(client dead list | wc -l)" = 1 ] || fail "letter $id not purged"
test_end
