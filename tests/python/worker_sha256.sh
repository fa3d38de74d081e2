#!/usr/bin/env bash
# worker_sha256: a tasq.Worker serving sha256 with a Python function
# (hashlib) computes the same bytes as the built-in handler: the same
# records submitted with `tasq submit --type sha256` through each give
# byte-identical output, equal to a local reference, in input order.
# Records of 1 to 300 bytes (widths differ: a Blobs column of lengths).
# TASQ_TEST_SCALE divides the count.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 240

n=$((200000 / SCALE))
awk -v n="$n" 'BEGIN { for (i = 1; i <= n; i++) {
	s = sprintf("rec%d-", i); l = 1 + (i * 7919) % 300
	while (length(s) < l) s = s "abcdefghij"
	print substr(s, 1, l) } }' >"$T/records"
py - "$T/records" "$T/ref" <<'PY' || fail "reference failed"
import hashlib, sys
with open(sys.argv[1], "rb") as f, open(sys.argv[2], "wb") as o:
    for line in f:
        o.write(hashlib.sha256(line.rstrip(b"\n")).hexdigest().encode() + b"\n")
PY

start_server

# submit_through NAME: the records through whatever worker serves sha256.
submit_through() {
	client submit --type sha256 --file "$T/records" >"$T/out.$1" \
	    2>"$T/client.$1.log" ||
	    fail "$1: submit exited $?: $(tail -n 5 "$T/client.$1.log")"
	if ! cmp "$T/out.$1" "$T/ref"; then
		diff "$T/out.$1" "$T/ref" | head -n 10 >&2
		fail "$1: output differs from the reference"
	fi
	log "$1: $n records, identical to the reference"
}

start_workers -j 1 --type sha256=builtin:sha256
sup=$SPAWNED_PID
submit_through builtin
stop "$sup" 30
[ "$EXIT_STATUS" = 0 ] || fail "builtin worker exited $EXIT_STATUS"

spawn_py pyworker.log "$CHECK" worker --type sha256 --server "$URL" \
    --key-file "$KEY"
pyw=$SPAWNED_PID
submit_through python
cmp "$T/out.builtin" "$T/out.python" || fail "python and builtin differ"
stop "$pyw" 30
[ "$EXIT_STATUS" = 0 ] || fail "python worker exited $EXIT_STATUS on SIGTERM"
grep -q "stopped" "$T/pyworker.log" || fail "python worker did not drain"

test_end
