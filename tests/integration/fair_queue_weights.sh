# fair_queue_weights: a worker of several queues takes them in turn by
# weight (tasq-worker --queue a:3,b:1; issue 13, PROTOCOL.md 11.1).
#
# Queues wa and wb each get a job of 50,000 tasks, wholly queued before
# the worker starts: tasq-worker -j 2 --queue wa:3,wb:1 (1 ms a task,
# leases of 10, so that little is in hand at any time). Once 4,000 tasks
# are done, one Stats snapshot (taken under the server's lock) must show
# wa:wb at 75:25 within 5 points, both with tasks left. The worker's
# configuration file must take the same value.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
. "$(dirname "${BASH_SOURCE[0]}")/lib_e2e.sh" || exit 2
test_begin 120

n=50000
start_server
spawn_client "$T/a.out" "$T/a.err" submit --queue wa --range "1:$n"
spawn_client "$T/b.out" "$T/b.err" submit --queue wb --range "1:$n"
_queued() { [ "$(queue_json "$1" submitted)" = "$n" ]; }
wait_until 60 _queued wa || fail "queue wa was not filled"
wait_until 60 _queued wb || fail "queue wb was not filled"

# A bad weight is a configuration error (exit 2), in a file as on the
# command line.
printf 'queue = wa:0,wb\n' >"$T/bad.conf"
"$TASQ_WORKER_BIN" --config "$T/bad.conf" --key-file "$KEY" \
    --check-config >"$T/bad.out" 2>&1
[ $? -eq 2 ] || fail "--queue wa:0,wb was accepted: $(cat "$T/bad.out")"
printf 'queue = wa:3,wb:1\n' >"$T/worker.conf"
"$TASQ_WORKER_BIN" --config "$T/worker.conf" --key-file "$KEY" \
    --check-config >"$T/good.out" 2>&1 ||
    fail "queue = wa:3,wb:1 refused: $(cat "$T/good.out")"

start_workers -j 2 --config "$T/worker.conf" --batch-size 10 \
    --task-delay 1ms
_done() {
	S=$(stats_json)
	[ $(($(queue_json wa completed "$S") + $(queue_json wb completed "$S"))) -ge 4000 ]
}
wait_until 90 _done || fail "4000 tasks were not done: $(stats_json)"
a=$(queue_json wa completed "$S")
b=$(queue_json wb completed "$S")
log "completed: wa $a, wb $b"
[ "$a" -lt "$n" ] && [ "$b" -lt "$n" ] || fail "a queue ran out of tasks"
pct=$((100 * a / (a + b)))
[ "$pct" -ge 70 ] && [ "$pct" -le 80 ] ||
    fail "--queue wa:3,wb:1 did $a:$b ($pct % of wa), want 75:25 within 5 points"
test_end
