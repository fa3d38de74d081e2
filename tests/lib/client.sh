#!/usr/bin/env bash
# lib.client: libtasq's client side (tests/lib/client_test.c) against a
# real server and worker on loopback: results in input order, streams,
# callbacks, the asynchronous forms, errors; and a detached job submitted
# by one process and read, in order, by another; and against a server from
# before typed tasks (tests/compat/old_server.py), a job freed while its
# sender tells event_cb of the fallback to values.
# TASQ_TEST_LIB_CLIENT is the test program (CMake sets it).
# shellcheck source-path=SCRIPTDIR source=../integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" || exit 2
test_begin 240
prog=${TASQ_TEST_LIB_CLIENT:?the client_test program}

start_server
start_workers -j 2 --type square=builtin:square \
    --type sha256=builtin:sha256 \
    --type "fail=exec-each:echo boom >&2; exit 3"
export TASQ_TEST_URL=$URL TASQ_TEST_KEY=$KEY

timeout -k 5 $((200 * FACTOR)) "$prog" "$@" >"$T/client_test.log" 2>&1 ||
    { cat "$T/client_test.log"; fail "client_test failed"; }
cat "$T/client_test.log"
grep -q ' 0 failed$' "$T/client_test.log" || fail "client_test: no summary"

if [ $# -eq 0 ]; then
	# A server from before typed tasks (tests/compat/old_server.py):
	# the fallback to values is told, and a job freed while its sender
	# tells it does not hang.
	spawn old_server.log python3 \
	    "$TASQ_TEST_SOURCE_DIR/tests/compat/old_server.py" \
	    --key-file "$KEY" --ready-file "$T/old.ready" \
	    --lifetime $((200 * FACTOR))
	wait_until 15 _ready_file_written "$T/old.ready" ||
	    fail "old_server.py wrote no ready file"
	old_url=$(sed -n 1p "$T/old.ready")
	TASQ_TEST_URL=$old_url timeout -k 5 $((100 * FACTOR)) "$prog" \
	    --old-server-free >"$T/old_free.log" 2>&1 ||
	    { cat "$T/old_free.log"; fail "old-server-free failed"; }
	cat "$T/old_free.log"
	grep -q 'round 2: freed during event_cb' "$T/old_free.log" ||
	    fail "old-server-free: $(cat "$T/old_free.log")"

	id=$(timeout -k 5 $((60 * FACTOR)) "$prog" --detach-submit) ||
	    fail "detached submit failed"
	log "detached job $id"
	[[ $id =~ ^[0-9a-f]{16}$ ]] || fail "job id '$id'"
	# The tool sees it too, as the library left it.
	client status "$id" >"$T/status" || fail "tasq status $id"
	timeout -k 5 $((60 * FACTOR)) "$prog" --detach-attach "$id" >"$T/attach" ||
	    { cat "$T/attach"; fail "attach failed"; }
	grep -q 'attached: 5000 results in order, twice' "$T/attach" ||
	    fail "attach: $(cat "$T/attach")"
fi
test_end
log "ok"
