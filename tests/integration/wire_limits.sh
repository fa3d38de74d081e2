# wire_limits: the server checks a request's body before decoding it
# (docs/PROTOCOL.md sections 8 and 8.1; issue 11, items 3 and 4), on the
# real binaries:
# - strings are checked on their full length: a queue "a\0zzz" or a
#   worker name with a NUL, bytes that are not UTF-8 or an overlong form
#   is refused with INVALID_ARGUMENT (not cut at the NUL, not kept for
#   StatsReply), and stats still decode afterwards;
# - 8 signed 4 MB Leases of 2,000,000 empty result batches at once are
#   refused with INVALID_ARGUMENT while the server's peak RSS grows by
#   less than 160 MB (it grew by over 1 GB when the count was checked only
#   after protobuf-c had unpacked them), and the server keeps serving.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 90

start_server
start_workers -j 1
assert_serving "start"

# --- strings -------------------------------------------------------------------
before=$(counter requests_invalid) || fail "stats failed"
for k in 0 1 2 3; do
	raw badstring "$k" --key-file "$KEY" >"$T/bad$k.out" 2>"$T/bad$k.err" ||
	    fail "badstring $k: no reply: $(cat "$T/bad$k.err")"
	grep -qx 'status=INVALID_ARGUMENT' "$T/bad$k.out" ||
	    fail "badstring $k: want INVALID_ARGUMENT, got $(cat "$T/bad$k.out")"
done
after=$(counter requests_invalid) || fail "stats failed"
[ "$after" -ge $((before + 4)) ] ||
    fail "requests_invalid went from $before to $after, want +4"
# No queue "a" was made and no worker was registered.
CLIENT_TIMEOUT=30 client stats --json >"$T/stats.json" 2>"$T/stats.err" ||
    fail "stats after bad strings: $(cat "$T/stats.err")"
! grep -q '"name": *"a"' "$T/stats.json" ||
    fail "queue \"a\" exists: $(cat "$T/stats.json")"
assert_serving "bad strings"

# --- 2,000,000 empty result batches, 8 at once --------------------------------
hwm() { awk '$1 == "VmHWM:" { print $2 }' "/proc/$SERVER_PID/status"; }
hwm0=$(hwm)
[ -n "$hwm0" ] || fail "cannot read the server's VmHWM"
pids=()
for i in 1 2 3 4 5 6 7 8; do
	raw leaseflood 2000000 --key-file "$KEY" --timeout $((30000 * FACTOR)) \
	    >"$T/flood$i.out" 2>"$T/flood$i.err" &
	pids+=($!)
done
for i in 1 2 3 4 5 6 7 8; do
	wait "${pids[$((i - 1))]}" ||
	    fail "leaseflood $i: no reply: $(cat "$T/flood$i.out" "$T/flood$i.err")"
	grep -qx 'status=INVALID_ARGUMENT' "$T/flood$i.out" ||
	    fail "leaseflood $i: want INVALID_ARGUMENT, got $(cat "$T/flood$i.out")"
done
hwm1=$(hwm)
grown=$(((hwm1 - hwm0) / 1024))
log "peak RSS $((hwm0 / 1024)) MB before, $((hwm1 / 1024)) MB after 8 floods"
[ "$grown" -lt 160 ] ||
    fail "8 floods of 4 MB grew the server's peak RSS by $grown MB"
assert_serving "lease floods"

test_end
