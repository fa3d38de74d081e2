# typed_submit: tasq submit --type with payloads of other types than
# square, end to end with real workers: lines of stdin and arguments as
# payloads (sha256 against sha256sum), -0 items holding newlines,
# --format jsonl with text results (JSON strings) and binary ones (base64
# with "base64":true), a failing handler's error in place, and a line over
# the 1 MiB payload limit refused alone (exit 2, its line named, index
# counted).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 90

start_server
start_workers -j 1 --type square=builtin:square --type sha256=builtin:sha256 \
    --type up=exec-each:'tr a-z A-Z' --type bin=exec-each:'printf "\377"'
assert_serving "start"

# Lines of stdin: one digest per line, in order.
printf 'abc\nhello\n\nlast' >"$T/in.txt"
client submit --type sha256 - <"$T/in.txt" >"$T/sha.out" 2>"$T/sha.err" ||
    fail "sha256: $(cat "$T/sha.err")"
for l in abc hello '' last; do printf '%s' "$l" | sha256sum | cut -d' ' -f1; done |
    cmp -s - "$T/sha.out" || fail "sha256 of lines: $(cat "$T/sha.out")"
# Arguments.
[ "$(client submit --type up 'a b' c)" = $'A B\nC' ] || fail "arguments"

# -0: items may hold newlines; jsonl shows them.
printf 'x\ny\0z\0' | client submit --type up -0 --format jsonl - \
    >"$T/nul.out" || fail "-0 jsonl failed"
printf '%s\n' '{"index":0,"code":"OK","error":"","result":"X\nY"}' \
    '{"index":1,"code":"OK","error":"","result":"Z"}' |
    cmp -s - "$T/nul.out" || fail "-0 jsonl: $(cat "$T/nul.out")"

# A binary result: base64.
client submit --type bin --format jsonl q >"$T/bin.out" || fail "bin failed"
[ "$(cat "$T/bin.out")" = '{"index":0,"code":"OK","error":"","result":"/w==","base64":true}' ] ||
    fail "binary result: $(cat "$T/bin.out")"

# A line over 1 MiB is refused alone; its index still counts.
{
	echo one
	head -c 1100000 /dev/zero | tr '\0' a
	echo
	echo three
} >"$T/long.in"
client submit --type up --format jsonl --file "$T/long.in" >"$T/long.out" \
    2>"$T/long.err"
rc=$?
[ "$rc" = 2 ] || fail "a long line: exit $rc, want 2"
grep -q 'long\.in:2: is longer than 1 MiB' "$T/long.err" ||
    fail "a long line: stderr $(cat "$T/long.err")"
{
	echo '{"index":0,"code":"OK","error":"","result":"ONE"}'
	echo "{\"index\":1,\"code\":\"INVALID_ARGUMENT\",\"error\":\"$T/long.in:2: is longer than 1 MiB\",\"result\":\"\"}"
	echo '{"index":2,"code":"OK","error":"","result":"THREE"}'
} >"$T/long.want"
cmp "$T/long.want" "$T/long.out" >&2 || fail "a long line: $(cat "$T/long.out")"
test_end
