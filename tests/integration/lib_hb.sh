# lib_hb.sh: add-on to lib.sh for the heartbeat tests (source it after
# lib.sh).
#
#	start_server --lease 2s
#	HB=$(hb_url)                  # the server's heartbeat port
#	start_workers -j 1 --heartbeat "$HB" ...
#	hbpush garbage 50             # tests/harness/tasq_hbpush.c

# hb_url: the heartbeat address the server logged at start ("heartbeats
# on URL (port N)"), with the real port.
hb_url() {
	sed -n 's/.* heartbeats on \([^ ]*\) (port [0-9]*)$/\1/p' \
	    "$T/server.log" | tail -n 1
}

# hbpush KIND N [ARGS...]: tasq_hbpush (built beside tasq_raw) against
# the heartbeat port and $URL; prints "received=R refused=F".
hbpush() {
	local bin
	bin=$(dirname "$TASQ_RAW_BIN")/tasq_hbpush
	[ -x "$bin" ] || fail "no $bin"
	timeout -k 5 $((60 * FACTOR)) "$bin" "$(hb_url)" "$URL" "$@" \
	    --key-file "$KEY" --timeout $((10000 * FACTOR))
}
