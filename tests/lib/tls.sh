#!/usr/bin/env bash
# lib.tls: libtasq over tls+tcp://. The server presents a certificate for
# localhost from a CA made here (tests/harness/lib.sh's tls_localhost);
# client_test's sessions set the tls-ca option and run batches, streams
# and callbacks over TLS; a session trusting another CA is refused with
# UNAUTHENTICATED, one with no CA with INVALID_ARGUMENT. Then the
# refusals (another CA, another name, no client certificate for servers
# started with --tls-client-ca) give UNAUTHENTICATED and a TLS message
# on every open, whether the session dials one IP address, a host name
# (a server set of one) or a list of two addresses (a set of two): a
# second server, and two that require client certificates, are started
# for the lists.
# TASQ_TEST_LIB_CLIENT is the test program (CMake sets it).
# shellcheck source-path=SCRIPTDIR source=../integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" || exit 2
test_begin 120
prog=${TASQ_TEST_LIB_CLIENT:?the client_test program}

tls_localhost
mkca clientca
mkcert alice clientca alice "" clientAuth
LISTEN=tls+tcp://127.0.0.1:0
CLIENT_HOST=localhost
CLIENT_OPTS=(--tls-ca "$T/ca.pem")
WORKER_OPTS=(--tls-ca "$T/ca.pem")
tls_server=(--tls-cert "$T/server.pem" --tls-key "$T/server.key")
# The servers of the lists, then the one the sessions below use.
start_server "${tls_server[@]}"
b=${SERVER_URL##*:}
CLIENT_OPTS=(--tls-ca "$T/ca.pem" --tls-cert "$T/alice.pem"
    --tls-key "$T/alice.key")
start_server "${tls_server[@]}" --tls-client-ca "$T/clientca.pem"
c=${SERVER_URL##*:}
start_server "${tls_server[@]}" --tls-client-ca "$T/clientca.pem"
d=${SERVER_URL##*:}
CLIENT_OPTS=(--tls-ca "$T/ca.pem")
start_server "${tls_server[@]}"
a=${SERVER_URL##*:}
URL=$scheme://localhost:$a
start_workers -j 2
log "library sessions dial $URL"

TASQ_TEST_URL=$URL TASQ_TEST_KEY=$KEY TASQ_TEST_TLS_CA=$T/ca.pem \
    TASQ_TEST_TLS_OTHER_CA=$T/other.pem \
    TASQ_TEST_TLS_IP=tls+tcp://127.0.0.1:$a \
    TASQ_TEST_TLS_LIST=tls+tcp://127.0.0.1:$a,tls+tcp://127.0.0.1:$b \
    TASQ_TEST_MTLS_NAME=$scheme://localhost:$c \
    TASQ_TEST_MTLS_LIST=tls+tcp://127.0.0.1:$c,tls+tcp://127.0.0.1:$d \
    TASQ_TEST_TLS_CLIENT_CERT=$T/alice.pem \
    TASQ_TEST_TLS_CLIENT_KEY=$T/alice.key \
    timeout -k 5 $((100 * FACTOR)) "$prog" ping batch_in_order \
    stream_window result_callback tls_wrong_ca tls_set_ \
    >"$T/client_test.log" 2>&1 ||
    { cat "$T/client_test.log"; fail "client_test over TLS failed"; }
cat "$T/client_test.log"
grep -q '^9 passed, 0 failed$' "$T/client_test.log" ||
    fail "client_test over TLS: not the 9 tests"
test_end
log "ok"
