# worker_types: a worker serves several task types given by its
# configuration file (one "type" line each, all taken) or by TASQ_TYPE
# (one type per line); the command line's --type options replace the
# file's and the environment's (as every flag beats them).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 90

start_server
abc=ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad

# served TYPE PAYLOAD WANT: a job of TYPE gives WANT.
served() {
	local got
	got=$(client submit --type "$1" --timeout "$((20 * FACTOR))s" "$2") ||
	    fail "type $1: submit failed"
	[ "$got" = "$3" ] || fail "type $1: got '$got', want '$3'"
}

# 1. The configuration file only: two type lines, both served.
cat >"$T/worker.conf" <<CONF
server $URL
key-file $KEY
jobs 1
type up=exec-each:tr a-z A-Z
type hash=builtin:sha256
CONF
spawn worker-conf.log "$TASQ_WORKER_BIN" --config "$T/worker.conf"
w=$SPAWNED_PID
expect_exit "$w" 0
served up hello HELLO
served hash abc "$abc"
stop "$w"

# 2. TASQ_TYPE: one type per line.
TASQ_TYPE=$'low=exec-each:tr A-Z a-z\nhash2=builtin:sha256' \
    spawn worker-env.log "$TASQ_WORKER_BIN" --server "$URL" \
    --key-file "$KEY" -j 1
w=$SPAWNED_PID
expect_exit "$w" 0
served low HeLLo hello
served hash2 abc "$abc"
stop "$w"

# 3. --type replaces the file's types: only rev is served, not up.
spawn worker-flag.log "$TASQ_WORKER_BIN" --config "$T/worker.conf" \
    --type rev=exec-each:rev
w=$SPAWNED_PID
expect_exit "$w" 0
served rev abc cba
client submit --type up --no-worker-warn 200ms \
    --timeout "$((3 * FACTOR))s" hello >"$T/up.out" 2>"$T/up.err"
rc=$?
[ "$rc" = 1 ] || fail "type up with --type rev: exit $rc, want 1 (no worker)"
grep -q 'no worker serves queue default, type up' "$T/up.err" ||
    fail "type up: $(cat "$T/up.err")"
stop "$w"
test_end
