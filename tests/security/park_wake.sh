# park_wake: no wake of a parked long-poll is lost (server/rpc.c parks
# and wakes a conversation with no nng call under its mutex: a wake can
# come before, while or after its sleep starts). Three queues, each with
# one worker that has one long-poll of WAIT s in flight (--pipeline 1),
# and three clients, one per queue, each running ROUNDS one-task jobs
# back to back with fetches of WAIT s (--poll-wait). Every job needs two
# wakes: the worker's parked Lease (the task arrives) and the client's
# parked Fetch (its result arrives); a lost one costs WAIT s, so every
# job must end within LIMIT s (< WAIT), and the whole run within its
# budget. Then the server must still stop cleanly. A regression guard:
# the windows it covers are short, so a fault there is caught only
# sometimes.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 150
ROUNDS=40
LIMIT=$((8 * FACTOR))
WAIT=$((10 * FACTOR))
((WAIT > 60)) && WAIT=60

start_server main --max-wait 30s
for q in a b c; do
	start_worker -j 1 --pipeline 1 --wait "${WAIT}s" --queue "$q"
done

# rounds Q: ROUNDS jobs on queue Q; stops at the first slow or failed one.
rounds() {
	local q=$1 i v t0 dt
	for ((i = 1; i <= ROUNDS; i++)); do
		v=$((i * 7 + ${#q}))
		t0=$(now_ms)
		timeout -k 2 "$LIMIT" "$TASQ_CLIENT_BIN" --server "$URL" \
		    --key-file "$KEY" submit --queue "$q" --poll-wait "${WAIT}s" \
		    "$v" >"$T/$q.out" 2>"$T/$q.err" || {
			echo "queue $q round $i: failed or slower than" \
			    "$LIMIT s: $(cat "$T/$q.err")"
			return 1
		}
		dt=$(($(now_ms) - t0))
		[ "$(cat "$T/$q.out")" = "$v $((v * v))" ] || {
			echo "queue $q round $i: wrong result $(cat "$T/$q.out")"
			return 1
		}
		echo "$q $i $dt"
	done
}
pids=()
for q in a b c; do
	rounds "$q" >"$T/rounds-$q.log" 2>&1 &
	pids+=($!)
done
for p in "${pids[@]}"; do
	wait "$p" || fail "$(tail -n 1 "$T"/rounds-*.log | grep round)"
done
slowest=$(cat "$T"/rounds-*.log | sort -k3 -n | tail -n 1)
log "$((3 * ROUNDS)) jobs, each with two woken long-polls; slowest:" \
    "$slowest ms"
test_end
