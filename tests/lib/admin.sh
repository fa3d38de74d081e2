#!/usr/bin/env bash
# lib.admin: libtasq's "Operating a server" (tests/lib/admin_test.c:
# health, stats, jobs, dead letters, and status, wait, results and cancel
# of any job by id) against a real server and worker on loopback.
# TASQ_TEST_LIB_ADMIN is the test program (CMake sets it).
# shellcheck source-path=SCRIPTDIR source=../integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" || exit 2
test_begin 120
prog=${TASQ_TEST_LIB_ADMIN:?the admin_test program}

start_server
start_workers -j 2 --queue adm1,adm2,adm3,adm4 --type square=builtin:square \
    --type "fail=exec-each:echo boom >&2; exit 3"
export TASQ_TEST_URL=$URL TASQ_TEST_KEY=$KEY

timeout -k 5 $((100 * FACTOR)) "$prog" "$@" >"$T/admin_test.log" 2>&1 ||
    { cat "$T/admin_test.log"; fail "admin_test failed"; }
cat "$T/admin_test.log"
grep -q ' 0 failed$' "$T/admin_test.log" || fail "admin_test: no summary"
test_end
log "ok"
