# conn_flood: a connection flood must not cost established peers
# anything. A worker (with a task delay, so that it holds leases for a
# while) and a client running a job are connected first; then a peer
# opens --max-connections + EXTRA idle SP connections and holds them,
# while the watchdog probes every 200 ms. The new connections over the
# limit are refused and counted (connections_refused, read from
# /metrics: no new tasq connection is possible meanwhile), the watchdog
# runs five rounds and does not take "full" for "dead"
# (listener_restarts stays 0), the
# worker's leases are never ended by a disconnection
# (leases_disconnected stays 0) and the job completes with every result.
# In tasq at 06c7a38 the watchdog's probe was refused, it replaced the
# listener, and that closed every connection, the worker's included.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 120
MAX=32
EXTRA=16
N=3000

# metric NAME: a sample of /metrics (no curl needed).
metric() {
	"$PYTHON" - "$METRICS_URL/metrics" "$1" <<'EOF'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
    for line in r.read().decode().splitlines():
        f = line.split()
        if len(f) == 2 and f[0] == sys.argv[2]:
            print(f[1])
            sys.exit(0)
sys.exit(1)
EOF
}
metric_ge() {
	local v
	v=$(metric "$1") || return 1
	[ "${v%.*}" -ge "$2" ]
}
# The watchdog has had five rounds while the server was full (it does
# not probe a full server: debug log), or has replaced the listener.
probes_seen() {
	[ "$(grep -c 'watchdog: the server is full' "$SERVER_LOG")" -ge 5 ] ||
	    metric_ge tasq_listener_restarts_total 1
}

start_server main --max-connections "$MAX" --max-unauthenticated "$MAX" \
    --auth-timeout 60s --watchdog-interval 200ms --log-level debug \
    --metrics-listen http://127.0.0.1:0
wait_until 10 metric tasq_connections >/dev/null || fail "no /metrics"
start_worker -j 1 --batch-size 50 --task-delay 2ms

client submit --batch-size 500 --range "1:$N" >"$T/job.out" 2>"$T/job.err" &
job=$!
# The worker holds a lease before the flood starts.
wait_until 30 metric_ge tasq_tasks_leased_total 1 ||
    fail "the worker leased nothing"

"${PEER[@]}" hold "$PORT" $((MAX + EXTRA)) --sp --secs $((60 * FACTOR)) \
    >"$T/flood.log" 2>&1 &
flood=$!
wait_until 30 grep -q '^open' "$T/flood.log" ||
    fail "the flood did not connect: $(cat "$T/flood.log")"
open=$(metric tasq_connections)
log "flood open: $(head -n 1 "$T/flood.log"); tasq_connections $open"
[ "$open" -le "$MAX" ] || fail "$open connections open, max $MAX"
wait_until 30 probes_seen ||
    fail "the watchdog did not run in $((30 * FACTOR)) s while full"

refused=$(metric tasq_connections_refused_total)
restarts=$(metric tasq_listener_restarts_total)
lost=$(metric tasq_leases_disconnected_total)
log "during the flood: connections_refused $refused," \
    "listener_restarts $restarts, leases_disconnected $lost"
[ "${restarts%.*}" = 0 ] ||
    fail "the watchdog replaced the listener $restarts time(s) while full"
[ "${lost%.*}" = 0 ] ||
    fail "$lost lease(s) ended by a disconnection during the flood"
((${refused%.*} >= EXTRA)) || fail "connections_refused $refused < $EXTRA"
grep -q '^closed' "$T/flood.log" && [ "$(grep -c . "$T/flood.log")" -gt 1 ] &&
    log "(server closed: $(tail -n 1 "$T/flood.log"))"

# The job runs to its end while the flood is held.
wait_until 60 _gone "$job" || fail "the job did not finish in $((60 * FACTOR)) s"
wait "$job" || fail "the job failed: $(cat "$T/job.err")"
check_squares "$T/job.out" 1 "$N"
pid_alive "$flood" || fail "the flood ended before the job: $(cat "$T/flood.log")"
lost=$(metric tasq_leases_disconnected_total)
restarts=$(metric tasq_listener_restarts_total)
[ "${lost%.*}" = 0 ] || fail "leases_disconnected $lost after the job"
[ "${restarts%.*}" = 0 ] || fail "listener_restarts $restarts after the job"
kill -TERM "$flood" 2>/dev/null
wait "$flood"

# Once the flood has gone, new connections are served again.
assert_serving "the flood"
test_end
