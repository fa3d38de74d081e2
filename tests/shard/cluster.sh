# cluster.sh: several tasq-servers on loopback for the tests of the
# dashboard across servers (dash_cluster, dash_mtls), on top of the fault
# harness (tests/fault/lib.sh, sourced here).
#
#	. "$(dirname "$0")/cluster.sh" || exit 2
#	test_begin 90
#	start_n 2 tcp://127.0.0.1:0 --max-attempts 1
#	p=$(free_port)      # a server whose own URL goes into its --peers
#	start_n 1 "tcp://127.0.0.1:$p" --metrics-listen http://127.0.0.1:0 \
#	    --peers "tcp://127.0.0.1:$p,${URLS[2]}"
#
# start_n I sets PID[I], URLS[I] (the real port, from the ready file),
# TAG[I] (the shard tag, the identity's first 4 hex digits) and
# MPORT[I] (the metrics port, empty without --metrics-listen); server I
# keeps its journal in $T/dataI.
# shellcheck source-path=SCRIPTDIR source=../fault/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../fault/lib.sh" || exit 2

# free_port: a port free on 127.0.0.1 now, for a server whose own
# address must be known before it starts (its --peers names it). The
# only port a test picks itself; the others are the kernel's (port 0).
free_port() {
	python3 -c 'import socket; s = socket.socket()
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

declare -a PID URLS TAG MPORT
# start_n I LISTEN ARGS...: server I on LISTEN with ARGS (start_server).
start_n() {
	local i=$1 l=$2
	shift 2
	LISTEN=$l start_server --data-dir "$T/data$i" "$@"
	PID[i]=$SERVER_PID
	URLS[i]=$URL
	TAG[i]=$(head -c 4 "$T/data$i/identity")
	MPORT[i]=${METRICS_URL##*:}
}
