#!/usr/bin/env bash
# libw_shard: a serve handle on a session over two servers hands each
# lease back to the server it came from (docs/LIBRARY.md "Several
# servers: leasing from each"): tests/lib/libw_shard.c leases by hand and
# ends its leases by tasq_lease_complete, _complete_aio, _done (the
# thread's flush or the next Lease) and _release, leasing by
# tasq_serve_lease and _aio. A job submitted to each server directly
# finishes, every result once and in order, and no lease expires on
# either (a Release sent to the wrong server would leave its lease to
# expire).
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" || exit 2
test_begin 90
: "${TASQ_LIBW_SHARD_BIN:?set by CMake}"

n=200
start_server --lease 20s
u1=$URL
LISTEN= start_server --lease 20s
u2=$URL
URL=$u1 spawn_client "$T/j1.out" "$T/j1.err" submit --range "1:$n"
c1=$SPAWNED_PID
URL=$u2 spawn_client "$T/j2.out" "$T/j2.err" submit --range "1001:$((1000 + n))"
c2=$SPAWNED_PID
timeout $((60 * FACTOR)) env TASQ_SERVER="$u1,$u2" TASQ_KEY_FILE="$KEY" \
    "$TASQ_LIBW_SHARD_BIN" $((2 * n)) >"$T/shard.out" 2>"$T/shard.log" ||
    fail "libw_shard failed: $(tail -n 5 "$T/shard.log")"
log "libw_shard: $(cat "$T/shard.out")"
for c in "$c1:j1:1:$n" "$c2:j2:1001:$((1000 + n))"; do
	IFS=: read -r pid name first last <<<"$c"
	wait_exit "$pid" 30 || fail "$name: its client is still running"
	((EXIT_STATUS == 0)) || fail "$name: client exited $EXIT_STATUS"
	check_squares "$T/$name.out" "$first" "$last"
done
for u in "$u1" "$u2"; do
	e=$(URL=$u counter leases_expired)
	[ "$e" = 0 ] || fail "$u: leases_expired ${e:-?}, want 0"
done
test_end
