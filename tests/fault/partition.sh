# partition: a worker host cut off the network while it holds tasks, then
# healed. LAN hosts are network namespaces on one bridge, as in
# shared/containers/RECIPE.md section 3, with names of this test's own:
#   $NS-1  10.200.0.1  tasq-server --lease 2s
#   $NS-2  10.200.0.2  worker host A (the one cut off)
#   $NS-3  10.200.0.3  worker host B
#   $NS-4  10.200.0.4  the client
#   $NS-sw            the switch: bridge br0, host i's cable is port pi
# and the route "unreachable 10.200.0.0/24" in the root namespace, so that
# nothing from these tests leaves the machine. Workers run with
# --task-delay, so that A holds leased tasks when its port goes down.
# While A is cut off its leases must expire (leases_expired > 0), B must
# finish the run and the client must get every result exactly once. When
# the port comes back up, A must work again (its workers complete tasks
# of a new job). Skipped (77) when network namespaces cannot be made.
. "$(dirname "$0")/lib.sh"
test_begin 150

command -v ip >/dev/null || skip "no ip(8)"
NS=tqf$$
SW=$NS-sw
if ! ip netns add "$SW" 2>/dev/null; then
	skip "ip netns add is not permitted here"
fi
at_exit "ip netns del $SW"

# The unreachable route, unless someone's is in place already; removed at
# exit only if we added it and no other tq* namespaces still exist.
if ! ip route show type unreachable | grep >/dev/null -c '10.200.0.0/24'; then
	ip route add unreachable 10.200.0.0/24 ||
	    fail "cannot add the unreachable route"
	at_exit "ip netns list | grep -v '^$NS-' | grep >/dev/null -c '^tq' ||
	    ip route del unreachable 10.200.0.0/24"
fi
ip -n "$SW" link set lo up
ip -n "$SW" link add br0 type bridge
ip -n "$SW" link set br0 up
for i in 1 2 3 4; do
	ip netns add "$NS-$i" || fail "cannot add namespace $NS-$i"
	at_exit "ip netns del $NS-$i"
	ip -n "$NS-$i" link set lo up
	ip link add "p$i" netns "$SW" type veth peer name eth0 netns "$NS-$i" ||
	    fail "cannot add the veth pair of host $i"
	ip -n "$SW" link set "p$i" master br0 up
	ip -n "$NS-$i" addr add "10.200.0.$i/24" dev eth0
	ip -n "$NS-$i" link set eth0 up
done
# Nothing of ours is reachable from the root namespace.
if ip route get 10.200.0.1 >/dev/null 2>&1; then
	fail "10.200.0.1 is routable from the root namespace"
fi

# shellcheck disable=SC2034 # used by lib.sh
SERVER_NETNS=$NS-1 CLIENT_NETNS=$NS-4
LISTEN=tcp://10.200.0.1:0 start_server --lease 2s
# Host A is slow (a lease of 50 takes it 1 s), so that the tasks it holds
# when it is cut off are still unfinished then, however late the cut.
WORKER_NETNS=$NS-2 start_workers hostA -j 2 --batch-size 50 --task-delay 20ms
SUPA=$SPAWNED_PID
WORKER_NETNS=$NS-3 start_workers hostB -j 2 --batch-size 50 --task-delay 1ms

# a_sum FIELD: FIELD summed over host A's worker processes in stats.
a_sum() {
	local s pids
	s=$(stats_json)
	pids=$(pgrep -P "$SUPA" | paste -sd'|')
	[ -n "$s" ] && [ -n "$pids" ] || return 1
	grep -o '{"id":"[0-9a-f]*","name":"[^"]*/\('"${pids//|/\\|}"'\)/[^}]*}' \
	    <<<"$s" | grep -o "\"$1\":[0-9]*" |
	    awk -F: '{ n += $2 } END { print n + 0 }'
}
a_holds_tasks() {
	local n
	n=$(a_sum tasks_in_hand) && ((n > 0))
}

# At least 10,000 tasks, however scaled: the run must outlast the first
# stats poll of a_holds_tasks, which a sanitizer build makes slow.
N=$(scaled 20000)
((N >= 10000)) || N=10000
start_submit squares --range "1:$N" --batch-size 1000
CLIENT=$SPAWNED_PID
poll_until 30 "host A to hold leased tasks" a_holds_tasks
held=$(a_sum tasks_in_hand)
ip -n "$SW" link set p2 down || fail "cannot cut host A"
log "host A cut off holding $held tasks"

wait_pid "$CLIENT" 90 ||
    fail "the run did not finish in $(secs 90) s with host A cut off"
((WAIT_STATUS == 0)) || fail "the client exited with $WAIT_STATUS"
check_squares "$T/squares.out" "$N" ||
    fail "results are not exactly once, right and in order"
expired=$(stat_num leases_expired)
((expired > 0)) || fail "no lease expired while host A was cut off"
log "run of $N done while A was cut off; leases_expired=$expired"

a_done=$(a_sum completed)
ip -n "$SW" link set p2 up || fail "cannot heal host A"
log "host A back (its workers have completed $a_done tasks)"
a_progressed() {
	local n
	n=$(a_sum completed) && ((n > a_done))
}
# New work until A's workers take part again (a bounded number of jobs).
deadline=$(($(now_ms) + $(secs 60) * 1000))
jobs=0
until a_progressed; do
	(($(now_ms) < deadline)) ||
	    fail "host A did no work in $(secs 60) s after the heal"
	jobs=$((jobs + 1))
	client --request-timeout 2s submit --range 1:2000 >"$T/after.out" ||
	    fail "job $jobs after the heal failed"
	check_squares "$T/after.out" 2000 || fail "job $jobs: wrong results"
done
log "host A completed $(($(a_sum completed) - a_done)) more tasks after" \
    "the heal ($jobs job(s)); results_late=$(stat_num results_late)"
log "ok"
