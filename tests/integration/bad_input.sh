# bad_input: hostile and mistaken input is refused with the right exit
# status and message, counted by the server, and never stops it: after
# each case the server still serves a good client (health and a small job
# with the right results).
#
# Cases: a wrong key, no key, a key file others can read, a replayed
# message, a stale timestamp, a message signed with an unknown key,
# garbage messages, raw bytes and half-open connections on the TCP port,
# an unknown method, a batch over --max-batch, a message over
# --max-message, bad numbers in the input, an overflowing square, bad
# flags.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 150

start_server --max-batch 1000 --max-message 256KiB
start_workers -j 1
assert_serving "start"

# expect_rc WANT NAME CMD...: CMD exits WANT; its stderr is in $T/NAME.err.
expect_rc() {
	local want=$1 name=$2 rc
	shift 2
	"$@" >"$T/$name.out" 2>"$T/$name.err"
	rc=$?
	[ "$rc" = "$want" ] ||
	    fail "$name: exit $rc, want $want; stderr: $(head -c 600 "$T/$name.err")"
}
# stderr_has NAME REGEX
stderr_has() {
	grep -qiE "$2" "$T/$1.err" ||
	    fail "$1: stderr does not match /$2/: $(head -c 600 "$T/$1.err")"
}
# counter_grew NAME BEFORE: the counter is now above BEFORE.
counter_grew() {
	local v
	v=$(counter "$1") || fail "stats failed"
	[ "$v" -gt "$2" ] || fail "counter $1 is $v, want more than $2"
}

# --- a wrong key -----------------------------------------------------------
head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/other.key"
chmod 600 "$T/other.key"
before=$(counter auth_failures)
expect_rc 1 wrongkey timeout 30 "$TASQ_CLIENT_BIN" --server "$URL" \
    --key-file "$T/other.key" submit 1 2 3
stderr_has wrongkey 'authenticat'
[ ! -s "$T/wrongkey.out" ] || fail "wrong key: results were printed"
expect_rc 1 wrongkey_health timeout 30 "$TASQ_CLIENT_BIN" --server "$URL" \
    --key-file "$T/other.key" health
counter_grew auth_failures "$before"
assert_serving "a wrong key"

# --- no key, and a key file that others can read ----------------------------
expect_rc 2 nokey timeout 30 "$TASQ_CLIENT_BIN" --server "$URL" submit 1 2
stderr_has nokey 'key'
cp "$KEY" "$T/open.key"
chmod 644 "$T/open.key"
expect_rc 2 openkey timeout 30 "$TASQ_CLIENT_BIN" --server "$URL" \
    --key-file "$T/open.key" submit 1 2
stderr_has openkey 'open\.key'
expect_rc 2 openkey_worker timeout 30 "$TASQ_WORKER_BIN" --server "$URL" \
    --key-file "$T/open.key" -j 1
expect_rc 2 openkey_server timeout 30 "$TASQ_SERVER_BIN" \
    --listen tcp://127.0.0.1:0 --key-file "$T/open.key"
expect_rc 2 missingkey timeout 30 "$TASQ_CLIENT_BIN" --server "$URL" \
    --key-file "$T/no-such.key" health
assert_serving "key errors"

# --- replay, stale and foreign signatures -------------------------------------
before=$(counter auth_replays)
raw replay --key-file "$KEY" >"$T/replay.out" 2>"$T/replay.err" ||
    fail "tasq_raw replay: no reply: $(cat "$T/replay.out" "$T/replay.err")"
printf 'status=OK\nstatus=UNAUTHENTICATED\n' | cmp -s - "$T/replay.out" ||
    fail "replay: want OK then UNAUTHENTICATED, got: $(cat "$T/replay.out")"
counter_grew auth_replays "$before"
raw stale --key-file "$KEY" >"$T/stale.out" 2>"$T/stale.err" ||
    fail "tasq_raw stale: no reply"
grep -qx 'status=UNAUTHENTICATED' "$T/stale.out" ||
    fail "a day-old message was not refused: $(cat "$T/stale.out")"
before=$(counter auth_failures)
raw wrongkey --key-file "$KEY" >"$T/foreign.out" 2>"$T/foreign.err" ||
    fail "tasq_raw wrongkey: no reply"
grep -qx 'status=UNAUTHENTICATED' "$T/foreign.out" ||
    fail "a foreign signature was not refused: $(cat "$T/foreign.out")"
counter_grew auth_failures "$before"
assert_serving "replayed and foreign messages"

# --- garbage messages -----------------------------------------------------------
before=$(counter messages_malformed)
raw garbage 300 --key-file "$KEY" >"$T/garbage.out" 2>"$T/garbage.err" ||
    fail "garbage: not every message got a reply: $(tail -n 3 "$T/garbage.out") $(cat "$T/garbage.err")"
grep -qx 'replies=300/300' "$T/garbage.out" || fail "garbage: lost replies"
# A signed random body can decode into a valid request: OK, or NOT_FOUND
# for a Fetch or CloseJob of a job that does not exist (a body of a few
# bytes does so often enough: about one run in twenty saw it).
unexpected=$(grep '^status=' "$T/garbage.out" |
    grep -v -x -E 'status=(INVALID_ARGUMENT|UNAUTHENTICATED|UNIMPLEMENTED|NOT_FOUND|OK)')
[ -z "$unexpected" ] || fail "garbage: unexpected replies: $unexpected"
raw garbage 100 >"$T/garbage2.out" 2>"$T/garbage2.err" ||
    fail "unsigned garbage: not every message got a reply"
unexpected=$(grep '^status=' "$T/garbage2.out" |
    grep -v -x -E 'status=(INVALID_ARGUMENT|UNAUTHENTICATED)')
[ -z "$unexpected" ] || fail "unsigned garbage: unexpected replies: $unexpected"
counter_grew messages_malformed "$before"
assert_serving "garbage messages"

# --- raw bytes and half-open connections on the TCP port ---------------------
hostport=${SERVER_URL#tcp://}
host=${hostport%:*}
port=${hostport##*:}
# send_bytes CMD...: opens a connection, writes CMD's output, closes it.
send_bytes() {
	(
		exec 3<>"/dev/tcp/$host/$port" || exit 1
		"$@" >&3 2>/dev/null
		exec 3>&-
	) 2>/dev/null
	return 0
}
for i in 1 2 3 4 5; do
	send_bytes head -c $((i * 1000)) /dev/urandom
done
# An SP handshake for REQ, then a frame announcing 2^40 bytes.
send_bytes printf '\x00SP\x00\x00\x30\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00abc'
# An SP handshake, then random frames.
send_bytes bash -c 'printf "\x00SP\x00\x00\x30\x00\x00"; head -c 3000 /dev/urandom'
# A REP peer (wrong protocol) and a bad version.
send_bytes printf '\x00SP\x00\x00\x31\x00\x00'
send_bytes printf '\x00SP\x07\x00\x30\x00\x00'
assert_serving "raw bytes"
# Half-open: connections that stay open silent, mid-handshake and
# mid-message while a good client is served.
exec 5<>"/dev/tcp/$host/$port" || fail "cannot connect to $host:$port"
exec 6<>"/dev/tcp/$host/$port" || fail "cannot connect to $host:$port"
exec 7<>"/dev/tcp/$host/$port" || fail "cannot connect to $host:$port"
printf '\x00S' >&6
printf '\x00SP\x00\x00\x30\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x80\x00' >&7
assert_serving "half-open connections"
exec 5>&- 6>&- 7>&-
assert_serving "closing half-open connections"

# --- garbage while a real job runs ----------------------------------------------------
n=$((50000 / SCALE))
raw garbage 1000 --key-file "$KEY" >"$T/garbage3.out" 2>"$T/garbage3.err" &
pgarbage=$!
for i in 1 2 3; do send_bytes head -c 20000 /dev/urandom; done
CLIENT_TIMEOUT=60 client submit --range "1:$n" --batch-size 1000 \
    >"$T/during.out" 2>"$T/during.err" ||
    fail "a job during a garbage flood exited $?: $(cat "$T/during.err")"
check_squares "$T/during.out" 1 "$n"
wait "$pgarbage" || fail "garbage flood: $(tail -n 2 "$T/garbage3.out")"
assert_serving "a garbage flood"

# --- unknown methods ---------------------------------------------------------------
before=$(counter requests_unknown_method)
for m in 15 99 65535; do # 15: the first after Cancel (14)
	raw method "$m" --key-file "$KEY" >"$T/method.out" 2>"$T/method.err" ||
	    fail "method $m: no reply"
	grep -qx 'status=UNIMPLEMENTED' "$T/method.out" ||
	    fail "method $m: want UNIMPLEMENTED, got $(cat "$T/method.out")"
done
counter_grew requests_unknown_method $((before + 2))
assert_serving "unknown methods"

# --- a batch over --max-batch, a message over --max-message ------------------
raw bigsubmit 1001 --key-file "$KEY" >"$T/big.out" 2>"$T/big.err" ||
    fail "bigsubmit 1001: no reply"
grep -qx 'status=INVALID_ARGUMENT' "$T/big.out" ||
    fail "1001 tasks over --max-batch 1000: got $(cat "$T/big.out")"
expect_rc 2 bigbatch client submit --range 1:3000 --batch-size 2000
stderr_has bigbatch 'INVALID_ARGUMENT'
# ~600 KB against --max-message 256KiB: the server drops the connection
# without reading the message into memory; no reply comes.
raw bigsubmit 200000 --key-file "$KEY" --timeout 3000 \
    >"$T/huge.out" 2>"$T/huge.err" &&
    fail "a message over --max-message got a reply: $(cat "$T/huge.out")"
grep -q '^status=NONE' "$T/huge.out" ||
    fail "over --max-message: $(cat "$T/huge.out" "$T/huge.err")"
assert_serving "oversized messages"
# Just under the limits still works.
raw bigsubmit 1000 --key-file "$KEY" >"$T/big.out" 2>"$T/big.err" ||
    fail "bigsubmit 1000: no reply"
grep -qx 'status=OK' "$T/big.out" || fail "1000 tasks: got $(cat "$T/big.out")"

# --- bad input to submit ----------------------------------------------------------
# A bad line is refused alone (exit 2 at the end): the others are
# computed, and it is reported in its place in the output.
expect_rc 2 badline client submit - < <(printf '1\n2\nabc\n4\n')
stderr_has badline 'stdin:3'
printf '%s\n' '1 1' '2 4' \
    "stdin:3 error: INVALID_ARGUMENT 'abc' is not a 64-bit integer" '4 16' |
    cmp -s - "$T/badline.out" || fail "bad line: got $(cat "$T/badline.out")"
printf '5\n\n# comment\n7x\n' >"$T/bad.in"
expect_rc 2 badfile client submit --file "$T/bad.in"
stderr_has badfile 'bad\.in:4'
grep -qx '5 25' "$T/badfile.out" || fail "bad file: $(cat "$T/badfile.out")"
expect_rc 2 badarg client submit 1 x 3
stderr_has badarg 'argument 2'
printf '%s\n' '1 1' \
    "argument 2 error: INVALID_ARGUMENT 'x' is not a 64-bit integer" '3 9' |
    cmp -s - "$T/badarg.out" || fail "bad argument: got $(cat "$T/badarg.out")"
expect_rc 2 toobig client submit 99999999999999999999
expect_rc 2 badrange client submit --range 5:1
expect_rc 2 badrange2 client submit --range 1-5
expect_rc 2 noinput client submit
expect_rc 2 twoinputs client submit --range 1:2 7
expect_rc 2 nofile client submit --file "$T/no-such-file"
# An overflowing square is a task error (exit 3), not a failure.
expect_rc 3 overflow client submit 2 3037000500 -3037000500 3037000499
printf '%s\n' '2 4' '3037000500 error: OUT_OF_RANGE' \
    '-3037000500 error: OUT_OF_RANGE' '3037000499 9223372030926249001' \
    >"$T/overflow.want"
sed -E 's/^(-?[0-9]+ error: [A-Z_]+) .*/\1/' "$T/overflow.out" |
    cmp -s - "$T/overflow.want" ||
    fail "overflow: got $(cat "$T/overflow.out")"
# The ends of the 64-bit range, negatives, and no input at all.
expect_rc 3 extremes client submit --range \
    9223372036854775806:9223372036854775807
[ "$(grep -c '^922337203685477580[67] error: OUT_OF_RANGE ' \
    "$T/extremes.out")" = 2 ] || fail "extremes: $(cat "$T/extremes.out")"
expect_rc 3 minimum client submit -- -9223372036854775808
grep -qx -- '-9223372036854775808 error: OUT_OF_RANGE .*' "$T/minimum.out" ||
    fail "INT64_MIN: $(cat "$T/minimum.out")"
expect_rc 0 negatives client submit --range -3:3
printf '%s\n' '-3 9' '-2 4' '-1 1' '0 0' '1 1' '2 4' '3 9' |
    cmp -s - "$T/negatives.out" || fail "--range -3:3: $(cat "$T/negatives.out")"
expect_rc 0 empty client submit - </dev/null
[ ! -s "$T/empty.out" ] || fail "empty input printed: $(cat "$T/empty.out")"
assert_serving "bad input"

# --- bad flags -------------------------------------------------------------------------
expect_rc 2 flag1 client --bogus health
expect_rc 2 flag2 client submit --range 1:2 --batch-size 0
expect_rc 2 flag3 client submit --range 1:2 --timeout banana
expect_rc 2 flag4 client frobnicate
expect_rc 2 flag5 client health extra-argument
expect_rc 2 flag6 client stats --json --bogus
expect_rc 2 flag7 client --request-timeout 1 health
expect_rc 2 flag8 timeout 30 "$TASQ_SERVER_BIN" --lease banana --key-file "$KEY"
expect_rc 2 flag9 timeout 30 "$TASQ_SERVER_BIN" --max-batch 0 --key-file "$KEY"
expect_rc 2 flag10 timeout 30 "$TASQ_SERVER_BIN" --key-file "$KEY" stray
expect_rc 2 flag11 timeout 30 "$TASQ_WORKER_BIN" --server "$URL" \
    --key-file "$KEY" -j 0
expect_rc 2 flag12 timeout 30 "$TASQ_WORKER_BIN" --server "$URL" \
    --key-file "$KEY" --bogus
expect_rc 2 flag13 timeout 30 "$TASQ_WORKER_BIN" --server "$URL" \
    --key-file "$KEY" --queue 'no spaces'
expect_rc 2 flag14 client submit --queue 'a/b' 1
# The key, TLS and log settings: one check for the three programs
# (lib/commonopt.h), before anything starts, each message naming the flag.
# (A worker used to accept an unreadable --tls-ca and retry it for ever.)
expect_rc 2 flag15 timeout 30 "$TASQ_WORKER_BIN" \
    --server tls+tcp://127.0.0.1:1 --key-file "$KEY" \
    --tls-ca "$T/no-such-ca.pem" -j 1
stderr_has flag15 'tasq-worker: --tls-ca: cannot open .*no-such-ca\.pem'
expect_rc 2 flag16 timeout 30 "$TASQ_WORKER_BIN" --server "$URL" \
    --key-file "$KEY" --tls-engine gnutls
stderr_has flag16 "tasq-worker: --tls-engine: 'gnutls' is not openssl or builtin"
expect_rc 2 flag17 timeout 30 "$TASQ_SERVER_BIN" \
    --listen tcp://127.0.0.1:0 --key-file "$KEY" --tls-min-version 1.3 \
    --tls-max-version 1.2
stderr_has flag17 'tasq-server: --tls-min-version 1.3 is above --tls-max-version 1.2'
expect_rc 2 flag18 client --server tls+tcp://127.0.0.1:1 \
    --tls-ca "$T/no-such-ca.pem" health
stderr_has flag18 'tasq: --tls-ca: cannot open'
expect_rc 2 flag19 client --server tls+tcp://127.0.0.1:1 --tls-ca "$KEY" \
    --tls-cert "$KEY" health
stderr_has flag19 'tasq: --tls-cert without --tls-key'
expect_rc 2 flag20 timeout 30 "$TASQ_WORKER_BIN" --server "$URL" \
    --key-file "$KEY" --log-format xml
stderr_has flag20 '^tasq-worker: --log-format is text or json'
assert_serving "bad flags"

test_end
