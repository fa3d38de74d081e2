# detach_results: jobs you can leave and come back to (issue 13). A
# detached `tasq submit --detach` of 1,000,000 square tasks (divided by
# TASQ_TEST_SCALE) on host A prints its job id once the server, journaling
# with --fsync always, has the whole input; the client is then killed
# with SIGKILL. No worker runs yet: `tasq status --json` and `tasq jobs`
# show the job running with the right counts (and no_worker). Then the
# workers start, and `tasq results JOB --wait` on host B
# prints every result once, right and in input order, and so does a
# second `tasq results`; after a SIGKILL and restart of the server on the
# same data directory, a third. Once the job's result TTL has passed
# (found by polling `tasq status`, no sleep), `tasq results` answers
# NOT_FOUND saying the job expired, and `tasq jobs` no longer lists it.
#
# Hosts are network namespaces on one bridge, as in partition.sh
# (shared/containers/RECIPE.md section 3):
#   $NS-1  10.200.0.1  tasq-server and the workers
#   $NS-2  10.200.0.2  host A: the detached submit
#   $NS-3  10.200.0.3  host B: status, jobs and results
# When network namespaces cannot be made, every process runs in the root
# namespace on 127.0.0.1 instead (logged), so that the rest still runs.
. "$(dirname "$0")/lib.sh"
test_begin 180

N=$(scaled 1000000)
TTL_S=$((8 * FACTOR))

NS=tqd$$
SW=$NS-sw
if command -v ip >/dev/null && ip netns add "$SW" 2>/dev/null; then
	at_exit "ip netns del $SW"
	if ! ip route show type unreachable | grep >/dev/null -c '10.200.0.0/24'; then
		ip route add unreachable 10.200.0.0/24 ||
		    fail "cannot add the unreachable route"
		at_exit "ip netns list | grep -v '^$NS-' | grep >/dev/null -c '^tq' ||
		    ip route del unreachable 10.200.0.0/24"
	fi
	ip -n "$SW" link set lo up
	ip -n "$SW" link add br0 type bridge
	ip -n "$SW" link set br0 up
	for i in 1 2 3; do
		ip netns add "$NS-$i" || fail "cannot add namespace $NS-$i"
		at_exit "ip netns del $NS-$i"
		ip -n "$NS-$i" link set lo up
		ip link add "p$i" netns "$SW" type veth peer name eth0 \
		    netns "$NS-$i" || fail "cannot add the veth pair of host $i"
		ip -n "$SW" link set "p$i" master br0 up
		ip -n "$NS-$i" addr add "10.200.0.$i/24" dev eth0
		ip -n "$NS-$i" link set eth0 up
	done
	if ip route get 10.200.0.1 >/dev/null 2>&1; then
		fail "10.200.0.1 is routable from the root namespace"
	fi
	# shellcheck disable=SC2034 # used by lib.sh
	SERVER_NETNS=$NS-1
	# shellcheck disable=SC2034 # used by lib.sh
	LISTEN=tcp://10.200.0.1:0
	WORKER_NS=$NS-1
	HOST_A=$NS-2
	HOST_B=$NS-3
	CLIENT_NETNS=$NS-3 # start_server's health check
	log "hosts: server $NS-1, submit on $NS-2, results on $NS-3"
else
	WORKER_NS=
	HOST_A=
	HOST_B=
	log "network namespaces cannot be made here: every host on loopback"
fi

# on HOST ARGS...: the client on a host (a namespace, or "").
on() {
	local h=$1
	shift
	CLIENT_NETNS=$h client "$@"
}

start_server --data-dir "$T/data" --fsync always

# The reference: i*i for i = 1..N, one a line.
awk -v n="$N" 'BEGIN { for (i = 1; i <= n; i++) printf "%.0f\n", i * i }' \
    >"$T/want"

CLIENT_NETNS=$HOST_A start_submit submit --detach --range "1:$N" \
    --result-ttl "${TTL_S}s"
SUB=$SPAWNED_PID
id_printed() { grep -Eq '^[0-9a-f]{16}$' "$T/submit.out"; }
poll_until 60 "the detached submit to print its job id" id_printed
kill_spawned "$SUB"
JOB=$(head -n 1 "$T/submit.out")
log "job $JOB; the submitting client killed"

# status_field NAME: a field of `tasq status --json` on host B.
status_json() { on "$HOST_B" status --json "$JOB" 2>/dev/null; }
st=$(status_json) || fail "status of $JOB failed"
[ "$(json_num "$st" submitted)" = "$N" ] ||
    fail "status: submitted is not $N once the id is printed: $st"
grep -q '"detached":true' <<<"$st" || fail "status: not detached: $st"
# No worker yet: the job waits, and says so.
grep -q '"state":"running"' <<<"$st" || fail "status: not running: $st"
[ "$(json_num "$st" completed)" = 0 ] || fail "status: completed: $st"
grep -q '"no_worker":true' <<<"$st" || fail "status: no_worker: $st"
log "before any worker: $st"
# tasq jobs lists it, with its counts.
on "$HOST_B" jobs >"$T/jobs.out" || fail "tasq jobs failed"
grep -Eq "^$JOB +default +square +running +$N +0 +0 " "$T/jobs.out" ||
    fail "tasq jobs: $(cat "$T/jobs.out")"
on "$HOST_B" jobs --json >"$T/jobs.json" || fail "tasq jobs --json failed"
grep -q "\"job\":\"$JOB\"" "$T/jobs.json" ||
    fail "tasq jobs --json: $(cat "$T/jobs.json")"

# Every result, once, in order, from another host, while it runs.
WORKER_NETNS=$WORKER_NS start_workers workers -j 2
on "$HOST_B" results --wait "$JOB" >"$T/r1" 2>"$T/r1.err" ||
    fail "results --wait: $(cat "$T/r1.err")"
cmp -s "$T/want" "$T/r1" || fail "results --wait are not i*i for 1..$N"
st=$(status_json) || fail "status of $JOB failed after it finished"
grep -q '"state":"done"' <<<"$st" || fail "status after: not done: $st"
[ "$(json_num "$st" completed)" = "$N" ] && [ "$(json_num "$st" failed)" = 0 ] ||
    fail "status after: counts: $st"
on "$HOST_B" wait "$JOB" >/dev/null || fail "tasq wait: exit $?"

# As often as asked.
on "$HOST_B" results "$JOB" >"$T/r2" 2>"$T/r2.err" ||
    fail "results again: $(cat "$T/r2.err")"
cmp -s "$T/want" "$T/r2" || fail "results again differ"

# A SIGKILL and restart of the server: the journal has them.
kill_server KILL
restart_server
on "$HOST_B" results "$JOB" >"$T/r3" 2>"$T/r3.err" ||
    fail "results after a restart: $(cat "$T/r3.err")"
cmp -s "$T/want" "$T/r3" || fail "results after a restart differ"
log "every result once and in order, three times (one after a restart)"

# The TTL: poll status until the job is gone (bounded), then Results
# says it expired.
gone() { ! on "$HOST_B" status "$JOB" >/dev/null 2>&1; }
poll_until $((TTL_S / FACTOR + 30)) "the results of $JOB to expire" gone
on "$HOST_B" results "$JOB" >"$T/r4" 2>"$T/r4.err"
rc=$?
((rc == 1)) || fail "results after the TTL: exit $rc, want 1"
grep -q 'NOT_FOUND: job expired' "$T/r4.err" ||
    fail "results after the TTL: $(cat "$T/r4.err")"
[ ! -s "$T/r4" ] || fail "results after the TTL printed something"
on "$HOST_B" jobs >"$T/jobs2.out" || fail "tasq jobs failed"
! grep -q "^$JOB" "$T/jobs2.out" || fail "tasq jobs lists the expired job"
log "ok: after the TTL, NOT_FOUND: $(cat "$T/r4.err")"
