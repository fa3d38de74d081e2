#!/usr/bin/env bash
# lib.tls: libtasq over tls+tcp://. The server presents a certificate for
# localhost from a CA made here (tests/harness/lib.sh's tls_localhost);
# client_test's sessions set the tls-ca option and run batches, streams
# and callbacks over TLS; a session trusting another CA is refused with
# UNAUTHENTICATED, one with no CA with INVALID_ARGUMENT.
# TASQ_TEST_LIB_CLIENT is the test program (CMake sets it).
# shellcheck source-path=SCRIPTDIR source=../integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" || exit 2
test_begin 120
prog=${TASQ_TEST_LIB_CLIENT:?the client_test program}

tls_localhost
LISTEN=tls+tcp://127.0.0.1:0
CLIENT_HOST=localhost
CLIENT_OPTS=(--tls-ca "$T/ca.pem")
WORKER_OPTS=(--tls-ca "$T/ca.pem")
start_server --tls-cert "$T/server.pem" --tls-key "$T/server.key"
URL=$scheme://localhost:${SERVER_URL##*:}
start_workers -j 2
log "library sessions dial $URL"

TASQ_TEST_URL=$URL TASQ_TEST_KEY=$KEY TASQ_TEST_TLS_CA=$T/ca.pem \
    TASQ_TEST_TLS_OTHER_CA=$T/other.pem \
    timeout -k 5 $((100 * FACTOR)) "$prog" ping batch_in_order \
    stream_window result_callback tls_wrong_ca >"$T/client_test.log" 2>&1 ||
    { cat "$T/client_test.log"; fail "client_test over TLS failed"; }
cat "$T/client_test.log"
grep -q '^5 passed, 0 failed$' "$T/client_test.log" ||
    fail "client_test over TLS: not the 5 tests"
test_end
log "ok"
