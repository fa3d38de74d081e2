# handler_big: results too big for the wire. A result over 1 MiB (the
# per-task limit, PROTOCOL.md 8.2) fails its task at once with the final
# code OUT_OF_RANGE and a message that says so, and is not retried
# (exec-each: printing 2 MiB runs once, though the job allows 3
# attempts). Results that are each within the limit but together over
# the server's --max-message (8 of 1,000,000 bytes against 4 MiB) are
# handed in over several requests: every one arrives, none is lost, the
# worker never sends the same oversized request again and again.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 120

start_server --max-message 4MiB
start_workers -j 1 --batch-size 16 \
    --type big="exec-each:cat >/dev/null; echo run >>$T/calls; head -c 2097152 /dev/zero" \
    --type wide="exec-each:cat >/dev/null; head -c 1000000 /dev/zero | tr '\\0' y"

client submit --type big --max-attempts 3 --timeout "$((30 * FACTOR))s" \
    one >"$T/big.out" 2>"$T/big.err"
rc=$?
[ "$rc" = 3 ] || fail "a 2 MiB result: exit $rc, want 3: $(cat "$T/big.err")"
grep -q '^error: OUT_OF_RANGE .*more than the 1 MiB limit' "$T/big.out" ||
    fail "a 2 MiB result: printed $(head -c 300 "$T/big.out")"
[ "$(wc -l <"$T/calls")" = 1 ] ||
    fail "a 2 MiB result was retried: $(wc -l <"$T/calls") runs"

client submit --type wide --timeout "$((60 * FACTOR))s" a b c d e f g h \
    >"$T/wide.out" 2>"$T/wide.err" ||
    fail "8 results of 1,000,000 bytes: exit $?: $(cat "$T/wide.err")"
awk 'length($0) != 1000000 || $0 !~ /^y+$/ { bad = 1 } END { exit bad || NR != 8 }' \
    "$T/wide.out" || fail "8 results of 1,000,000 bytes: $(wc -lc <"$T/wide.out")"
test_end
