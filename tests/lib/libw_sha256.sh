#!/usr/bin/env bash
# libw_sha256: a worker on libtasq's worker side serving "sha256" (a
# batch handler: the lease's payload column in, one fixed-width result
# column out) gives byte-identical output to tasq-worker's
# builtin:sha256, on records of many lengths (empty ones too) submitted
# in small batches, so that leases hold tasks of several Submit batches.
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" || exit 2
. "$(dirname "${BASH_SOURCE[0]}")/libw_lib.sh" || exit 2
test_begin 240

n=$((200000 / SCALE))
# Distinct records of 0 to 199 bytes, one a line.
awk -v n="$n" 'BEGIN { for (i = 1; i <= n; i++) {
	w = (i * 7919) % 200
	if (w == 0) { print ""; continue }
	s = sprintf("%d-", i); while (length(s) < w) s = s "x"
	print substr(s, 1, w) } }' >"$T/records"

start_server
start_workers -j 1 --type sha256=builtin:sha256
sup=$SPAWNED_PID
client submit --type sha256 --batch-size 1000 --file "$T/records" \
    >"$T/out.builtin" 2>"$T/client.builtin.log" ||
    fail "submit to the builtin exited $?: $(tail -n 5 "$T/client.builtin.log")"
stop "$sup" 30
[ "$EXIT_STATUS" = 0 ] || fail "tasq-worker exited $EXIT_STATUS"
[ "$(wc -l <"$T/out.builtin")" = "$n" ] ||
    fail "the builtin gave $(wc -l <"$T/out.builtin") results, want $n"

start_libw sha256
expect_exit "$SPAWNED_PID" 0
client submit --type sha256 --batch-size 1000 --file "$T/records" \
    >"$T/out.lib" 2>"$T/client.lib.log" ||
    fail "submit to libw_worker exited $?: $(tail -n 5 "$T/client.lib.log")"
if ! cmp "$T/out.builtin" "$T/out.lib"; then
	diff "$T/out.builtin" "$T/out.lib" | head -n 10 >&2
	fail "libtasq's sha256 differs from builtin:sha256"
fi
log "$n records: identical"
test_end
