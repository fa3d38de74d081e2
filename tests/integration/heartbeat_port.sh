# heartbeat_port: the heartbeat port takes only signed, fresh Extend
# requests. Garbage, unsigned, wrong-key, replayed, stale, other-method
# and undecodable messages pushed at it are refused one by one and
# counted (heartbeats_refused, and messages_malformed, auth_failures,
# auth_replays or requests_invalid by cause); valid ones are counted in
# heartbeats_received; and the server keeps serving heartbeats, RPCs and
# jobs throughout. Messages come from tests/harness/tasq_hbpush.c, which
# waits for the server to have counted each one.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
. "$(dirname "${BASH_SOURCE[0]}")/lib_hb.sh" || exit 2
test_begin 90

start_server
[ -n "$(hb_url)" ] || fail "the server logged no heartbeat address"
log "heartbeat port: $(hb_url)"

declare -A before
snap() {
	local c
	for c in heartbeats_received heartbeats_refused messages_malformed \
	    auth_failures auth_replays requests_invalid; do
		before[$c]=$(counter "$c") || fail "stats failed"
	done
}
# grew NAME N: the counter grew by exactly N since snap.
grew() {
	local now
	now=$(counter "$1") || fail "stats failed"
	[ $((now - before[$1])) = "$2" ] ||
	    fail "$1 grew by $((now - before[$1])), want $2 (after $kind)"
}
# push KIND N [SEED]: tasq_hbpush sends N messages of KIND and waits
# until the server counted them; its report is in $out.
push() {
	kind=$1
	out=$(hbpush "$1" "$2" ${3:+--seed "$3"}) ||
	    fail "hbpush $1 $2: $out (the server did not count them all)"
	log "$1 x $2: $out"
}

snap
push valid 5
[ "$out" = "received=5 refused=0" ] || fail "valid: $out"
grew heartbeats_received 5
grew heartbeats_refused 0

snap
push garbage 300 7
grew heartbeats_received 0
grew heartbeats_refused 300
# Random bytes are not envelopes; the few with the magic that happen to
# parse fail their tag.
m=$(($(counter messages_malformed) - before[messages_malformed]))
a=$(($(counter auth_failures) - before[auth_failures]))
[ $((m + a)) = 300 ] || fail "garbage: malformed $m + auth failures $a != 300"

for k in unsigned wrongkey; do
	snap
	push "$k" 10
	grew heartbeats_refused 10
	grew auth_failures 10
	grew heartbeats_received 0
done

snap
push replay 10
grew heartbeats_received 1
grew heartbeats_refused 9
grew auth_replays 9

snap
push stale 5
grew heartbeats_refused 5
grew auth_replays 5

for k in method badbody; do
	snap
	push "$k" 5
	grew heartbeats_refused 5
	grew requests_invalid 5
	grew heartbeats_received 0
done

# Still taking heartbeats, and serving.
snap
push valid 3
grew heartbeats_received 3
pid_alive "$SERVER_PID" || fail "the server died"
start_workers -j 1
assert_serving "the refused heartbeats"
test_end
