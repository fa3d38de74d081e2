# listener_storm: hundreds of TCP connections to the server that are
# closed at once, or after part of the SP header, or after a whole SP
# header and garbage, from several shells at the same time (bash
# /dev/tcp). Then a good client must be served: health, a run of 10,000
# tasks exactly once, and stats. The watchdog (--watchdog-interval 500ms)
# is on, as in production; if it had to replace the listener, stats says
# so and that is reported, not failed.
. "$(dirname "$0")/lib.sh"
test_begin 90

STORMERS=4
PER=150

start_server --watchdog-interval 500ms
PORT=${URL##*:}
start_workers workers -j 2

storm() {
	local i
	for ((i = 0; i < PER; i++)); do
		exec 3<>"/dev/tcp/127.0.0.1/$PORT" || continue
		case $((i % 4)) in
		1) printf '\0SP' >&3 ;;                   # part of the header
		2) printf '\0SP\0\0\x31' >&3 ;;           # all but one byte
		3) printf '\0SP\0\0\x31\0\0garbage' >&3 ;; # header, then junk
		esac
		exec 3>&- 3<&-
	done
}
for ((s = 1; s <= STORMERS; s++)); do
	spawn "storm$s" bash -c "PORT=$PORT PER=$PER; $(declare -f storm); storm"
	storms+=("$SPAWNED_PID")
done
for pid in "${storms[@]}"; do
	wait_pid "$pid" 60 || fail "a storm shell did not finish"
done
log "storm done: $((STORMERS * PER)) aborted connections"

client --connect-timeout 5s health --wait "$(secs 20)s" >/dev/null ||
    fail "health fails after the storm"
N=$(scaled 10000)
client --request-timeout 2s submit --range "1:$N" >"$T/squares.out" ||
    fail "a good client was not served after the storm"
check_squares "$T/squares.out" "$N" || fail "wrong results after the storm"
s=$(stats_json)
[ -n "$s" ] || fail "stats fails after the storm"
log "connections_accepted=$(json_num "$s" connections_accepted)" \
    "messages_malformed=$(json_num "$s" messages_malformed)" \
    "listener_restarts=$(json_num "$s" listener_restarts)"
log "ok: served after $((STORMERS * PER)) aborted connections"
