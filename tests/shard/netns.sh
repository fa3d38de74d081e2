# netns.sh: simulated LAN hosts for the sharding tests (issue 15), on top
# of the integration harness (tests/integration/lib.sh, sourced here).
#
#	. "$(dirname "${BASH_SOURCE[0]}")/netns.sh" || exit 2
#	test_begin 120
#	lan_up 4 100mbit            # hosts 1..4, each link at 100 Mbit/s
#	lan_server 1; lan_server 2; lan_server 3   # a tasq-server on each
#	lan_exec 4 "$TASQ_CLIENT_BIN" --server "${LAN_URL[1]}" ...
#	test_end                    # then the EXIT trap removes the LAN
#
# What lan_up N RATE makes (shared/containers/RECIPE.md, section 3):
#   - a "switch": the namespace $LAN-sw with a bridge br0;
#   - hosts 1..N: namespaces $LAN-hI, each with lo and eth0 =
#     $LAN_NET.I/24, cabled to the switch's port pI (a veth pair);
#   - with RATE (tc syntax: 100mbit, 20mbit; "" or "none": unlimited):
#     a tbf qdisc on both ends of each cable, eth0 (what the host sends)
#     and pI (what it receives), so that each host's link carries at
#     most RATE each way, as a NIC would;
#   - in the root namespace the route "unreachable $LAN_NET.0/24": an
#     address of the LAN used by mistake from outside fails at once
#     instead of leaving the machine.
# $LAN is tqsPID and $LAN_NET a 10.201.X subnet of this run, so that runs
# (and deploy.container_lan's tq-* LAN) do not meet. Every name, cable
# and the route go away on exit, after the processes (the EXIT trap runs
# lan_down, then the harness's clean-up); lan_down is idempotent.
#
# Needs root, ip (iproute2) and tc; lan_require exits 77 (skipped)
# without them. Nothing here sends a packet outside the namespaces: the
# servers listen on their host's LAN address, and the clients and
# workers must run on LAN hosts too (lan_exec, lan_spawn).

# shellcheck source-path=SCRIPTDIR source=../integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" || exit 2

LAN=tqs$$
LAN_NET=10.201.$(($$ % 250 + 1))
LAN_HOSTS=0
LAN_ROUTE=0
LAN_URL=()  # LAN_URL[I]: the URL of host I's server (lan_server)
LAN_SPID=() # LAN_SPID[I]: its pid

# lan_require: exits 77 (skip) unless root with ip and tc.
lan_require() {
	if [ "$(id -u)" != 0 ]; then
		log "SKIP: network namespaces need root"
		exit 77
	fi
	local c
	for c in ip tc; do
		command -v "$c" >/dev/null || {
			log "SKIP: $c not found (iproute2)"
			exit 77
		}
	done
	if ! ip netns add "$LAN-probe" 2>"$T/netns.err"; then
		log "SKIP: cannot make a network namespace: $(cat "$T/netns.err")"
		exit 77
	fi
	ip netns del "$LAN-probe"
}

# lan_addr I: host I's address.
lan_addr() { echo "$LAN_NET.$1"; }

# lan_ns I: host I's namespace.
lan_ns() { echo "$LAN-h$1"; }

# lan_exec I CMD [ARGS...]: runs CMD on host I (in the foreground).
lan_exec() {
	local i=$1
	shift
	ip netns exec "$(lan_ns "$i")" "$@"
}

# lan_spawn I LOG CMD [ARGS...]: spawn (lib.sh) of CMD on host I: its own
# process group, recorded, logging to $T/LOG; $SPAWNED_PID is its pid.
# CMD's command line must name $T (the harness signals only those).
lan_spawn() {
	local i=$1 logf=$2
	shift 2
	spawn "$logf" ip netns exec "$(lan_ns "$i")" "$@"
}

# lan_rate I RATE: sets (or, with "" or none, removes) the limit of host
# I's link, both ways.
lan_rate() {
	local i=$1 rate=${2:-none} dev ns
	for dev in "$(lan_ns "$i"):eth0" "$LAN-sw:p$i"; do
		ns=${dev%%:*}
		ip -n "$ns" link set "${dev#*:}" up
		tc -n "$ns" qdisc del dev "${dev#*:}" root 2>/dev/null
		[ "$rate" = none ] && continue
		# burst: a few ms at the rate and at least 64 KB, so that
		# segmentation offload's large packets pass; latency bounds
		# the queue.
		tc -n "$ns" qdisc add dev "${dev#*:}" root tbf rate "$rate" \
		    burst 256kb latency 100ms ||
		    fail "tc tbf $rate on ${dev} failed"
	done
}

# lan_up N [RATE]: the switch and hosts 1..N (see the top of the file).
lan_up() {
	local n=$1 rate=${2:-none} i ns
	lan_require
	ip route add unreachable "$LAN_NET.0/24" ||
	    fail "cannot add the guard route for $LAN_NET.0/24"
	LAN_ROUTE=1
	ip netns add "$LAN-sw" || fail "ip netns add $LAN-sw failed"
	ip -n "$LAN-sw" link set lo up
	ip -n "$LAN-sw" link add br0 type bridge
	ip -n "$LAN-sw" link set br0 up
	for ((i = 1; i <= n; i++)); do
		ns=$(lan_ns "$i")
		ip netns add "$ns" || fail "ip netns add $ns failed"
		LAN_HOSTS=$i
		ip -n "$ns" link set lo up
		ip link add "p$i" netns "$LAN-sw" type veth peer name eth0 \
		    netns "$ns" || fail "cannot cable host $i"
		ip -n "$LAN-sw" link set "p$i" master br0 up
		ip -n "$ns" addr add "$(lan_addr "$i")/24" dev eth0
		ip -n "$ns" link set eth0 up
		lan_rate "$i" "$rate"
	done
	log "LAN $LAN: $n hosts $LAN_NET.1-$n, links ${rate}"
}

# lan_down: removes the hosts, the switch (and so every cable) and the
# guard route. Idempotent; processes should be stopped first.
lan_down() {
	local i
	for ((i = LAN_HOSTS; i >= 1; i--)); do
		ip netns del "$(lan_ns "$i")" 2>/dev/null
	done
	LAN_HOSTS=0
	ip netns del "$LAN-sw" 2>/dev/null
	if [ "$LAN_ROUTE" = 1 ]; then
		ip route del unreachable "$LAN_NET.0/24" 2>/dev/null
		LAN_ROUTE=0
	fi
}

_lan_server_up() {
	[ -s "$1" ] && return 0
	pid_alive "$2" || return 0
	return 1
}

# lan_server I [ARGS...]: a tasq-server on host I, on its LAN address and
# a free port (port 0 and --ready-file), with $KEY and log
# $T/server-I.log; waits for the ready file and a Health from host I.
# Sets LAN_URL[I] and LAN_SPID[I] (and EXPECT_EXIT: exit 0 on SIGTERM).
lan_server() {
	local i=$1 ready=$T/server-$1.ready
	shift
	rm -f "$ready"
	lan_spawn "$i" "server-$i.log" "$TASQ_SERVER_BIN" \
	    --listen "tcp://$(lan_addr "$i"):0" --key-file "$KEY" \
	    --ready-file "$ready" --log-level info "$@"
	LAN_SPID[i]=$SPAWNED_PID
	wait_until 15 _lan_server_up "$ready" "$SPAWNED_PID" ||
	    fail "server on host $i wrote no ready file"
	pid_alive "$SPAWNED_PID" || fail "server on host $i exited at start"
	LAN_URL[i]=$(cat "$ready")
	lan_exec "$i" timeout -k 5 $((20 * FACTOR)) "$TASQ_CLIENT_BIN" \
	    --server "${LAN_URL[i]}" --key-file "$KEY" \
	    health --wait "$((10 * FACTOR))s" --quiet ||
	    fail "server on host $i (${LAN_URL[i]}) not serving"
	EXPECT_EXIT+=("$SPAWNED_PID:0")
	log "host $i: server $SPAWNED_PID on ${LAN_URL[i]}"
}

# The EXIT trap: the processes first (their namespaces go with them),
# then the LAN, then the harness's own clean-up with the test's status.
_lan_exit() {
	local rc=$?
	trap - EXIT
	pkill -TERM -P "$$" 2>/dev/null
	harness_stop_groups "${PIDS[@]}"
	lan_down
	(exit "$rc")
	_cleanup
}
trap _lan_exit EXIT
