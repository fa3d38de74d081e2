# stream_input: tasq submit reads its input as a stream.
#
# 1. Results come before the input ends: the producer writes 1..3, then
#    blocks on a gate (a fifo) until the test has read the three results
#    from the client's output (a fifo, each read bounded by a timeout); a
#    client that waited for the end of its input would never print them
#    (the shape of `(seq 1 3; sleep 4; seq 4 5) | tasq submit -`, with
#    the sleep replaced by the gate so that no timing is involved).
# 2. -0 input (NUL-separated), --format jsonl, arguments and --file.
# 3. A long stream (20 million lines / TASQ_TEST_SCALE) with one bad line
#    at line 3,000,001: every other line is computed (the summary's sum
#    is checked), the bad one is refused alone (exit 2, its line named),
#    and the peak memory of the client (ru_maxrss, via python3) and of the
#    server (VmHWM) stay under bounds that do not depend on the length of
#    the input: the client holds at most --window tasks, the server what
#    the window lets in flight (docs/man/tasq.1, submit, "Memory").
#    Measured (plain build): client 57 MiB, server 30 MiB for 20
#    million lines; client 58 MiB, server 41 MiB for 100 million (the manual run:
#    TASQ_TEST_STREAM_LINES=100000000 TASQ_TEST_BUDGET=900).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 240

start_server
start_workers -j 2
assert_serving "start"

# --- 1. results before the end of the input ----------------------------
mkfifo "$T/gate" "$T/out.fifo"
(
	seq 1 3
	read -r _ <"$T/gate"
	seq 4 5
) | client submit --type square - >"$T/out.fifo" 2>"$T/early.err" &
exec {outfd}<"$T/out.fifo"
got=()
for i in 1 2 3; do
	if ! read -r -t $((20 * FACTOR)) line <&"$outfd"; then
		fail "result $i not printed while the input was still open" \
		    "(got: ${got[*]:-nothing}; $(cat "$T/early.err"))"
	fi
	got+=("$line")
done
[ "${got[*]}" = "1 1 2 4 3 9" ] || fail "first results: ${got[*]}"
echo go >"$T/gate"
rest=$(timeout $((20 * FACTOR)) cat <&"$outfd")
exec {outfd}<&-
[ "$rest" = $'4 16\n5 25' ] || fail "last results: $rest"
wait_exit $! 20 || fail "the streaming client did not exit"
[ "$EXIT_STATUS" = 0 ] || fail "streaming client exit $EXIT_STATUS"
log "three results printed before the input ended"

# --- 2. -0, jsonl, arguments, --file ------------------------------------
printf '7\0-2\0 9\n\0' | client submit -0 - >"$T/nul.out" ||
    fail "submit -0 failed"
printf '%s\n' '7 49' '-2 4' '9 81' | cmp -s - "$T/nul.out" ||
    fail "-0: got $(cat "$T/nul.out")"
printf '7\0-2' | client submit -0 --format jsonl - >"$T/nuljson.out" ||
    fail "submit -0 --format jsonl failed"
printf '%s\n' '{"input":7,"result":49}' '{"input":-2,"result":4}' |
    cmp -s - "$T/nuljson.out" || fail "jsonl: got $(cat "$T/nuljson.out")"
# A bad item in -0 input names its item number.
printf '1\0x y\0003\0' | client submit -0 - >"$T/nulbad.out" 2>"$T/nulbad.err"
rc=$?
[ "$rc" = 2 ] || fail "-0 with a bad item: exit $rc, want 2"
grep -q "stdin:2: 'x y' is not a 64-bit integer" "$T/nulbad.err" ||
    fail "-0 bad item: $(cat "$T/nulbad.err")"
printf '%s\n' '1 1' \
    "stdin:2 error: INVALID_ARGUMENT 'x y' is not a 64-bit integer" '3 9' |
    cmp -s - "$T/nulbad.out" || fail "-0 bad item: got $(cat "$T/nulbad.out")"
# A line longer than any integer is refused alone, without being held.
{
	echo 4
	head -c 100000 /dev/zero | tr '\0' 7
	echo
	echo 5
} >"$T/long.in"
client submit --file "$T/long.in" >"$T/long.out" 2>"$T/long.err"
rc=$?
[ "$rc" = 2 ] || fail "a long line: exit $rc, want 2"
grep -q 'long\.in:2 error: INVALID_ARGUMENT' "$T/long.out" &&
    grep -qx '4 16' "$T/long.out" && grep -qx '5 25' "$T/long.out" ||
    fail "a long line: got $(head -c 300 "$T/long.out")"

# --- 3. a long stream, one bad line, bounded memory -----------------------
lines=${TASQ_TEST_STREAM_LINES:-$((20000000 / SCALE))}
bad=3000001
[ "$lines" -ge "$bad" ] || bad=$((lines / 2 + 1))
log "streaming $lines lines (a bad one at $bad)"
# The sum of squares of 1..lines but bad, modulo 2^64 (the summary's).
want_sum=$(python3 -c 'import sys; n, b = int(sys.argv[1]), int(sys.argv[2]);
print((n * (n + 1) * (2 * n + 1) // 6 - b * b) % 2**64)' "$lines" "$bad")
# The client's peak resident memory: ru_maxrss of python3's child.
# shellcheck disable=SC2016 # python, not shell
{
	seq 1 $((bad - 1))
	echo 'not-a-number'
	seq $((bad + 1)) "$lines"
} | timeout -k 5 $((200 * FACTOR)) python3 -c '
import resource, subprocess, sys
rc = subprocess.run(sys.argv[1:]).returncode
print("maxrss_kb=%d" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    file=sys.stderr)
sys.exit(rc)' "$TASQ_CLIENT_BIN" --server "$URL" --key-file "$KEY" \
    submit - --summary >"$T/long-stream.out" 2>"$T/long-stream.err"
rc=$?
[ "$rc" = 2 ] || fail "long stream: exit $rc, want 2 (one line refused):" \
    "$(tail -c 600 "$T/long-stream.err")"
grep -q "stdin:$bad: 'not-a-number' is not a 64-bit integer" \
    "$T/long-stream.err" || fail "long stream: bad line not named:" \
    "$(tail -c 600 "$T/long-stream.err")"
summary=$(cat "$T/long-stream.out")
log "summary: $summary"
case $summary in
"tasks=$((lines - 1)) ok=$((lines - 1)) failed=0 sum=$want_sum "*" refused=1") ;;
*) fail "long stream: summary '$summary', want tasks=$((lines - 1)) sum=$want_sum refused=1" ;;
esac
client_kb=$(sed -n 's/^maxrss_kb=//p' "$T/long-stream.err")
server_kb=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$SERVER_PID/status")
log "peak memory: client ${client_kb} KiB, server ${server_kb} KiB"
# Bounds (docs/man/tasq.1): the client's window (1,000,000 slots of 40
# bytes, untouched pages not counted) plus buffers; the server's tasks in
# flight. Neither grows with the input: 20 or 100 million lines alike.
# Sanitizers multiply memory (shadow, quarantine) as they do time: the
# bounds scale with FACTOR (1 in plain builds).
[ -n "$client_kb" ] && [ "$client_kb" -le $((160 * 1024 * FACTOR)) ] ||
    fail "client peak memory ${client_kb:-?} KiB, over $((160 * FACTOR)) MiB"
[ -n "$server_kb" ] && [ "$server_kb" -le $((512 * 1024 * FACTOR)) ] ||
    fail "server peak memory ${server_kb:-?} KiB, over $((512 * FACTOR)) MiB"
assert_serving "the long stream"
# The clients' stderr went to *.err files, which test_end does not read.
if grep -l -E 'ERROR: AddressSanitizer|runtime error:|WARNING: ThreadSanitizer|ERROR: LeakSanitizer' \
    "$T"/*.err >/dev/null 2>&1; then
	fail "a sanitizer reported an error in a client: $(grep -l -E \
	    'Sanitizer|runtime error:' "$T"/*.err)"
fi
test_end
