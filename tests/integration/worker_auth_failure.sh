# worker_auth_failure: a worker the server refuses says so once, clearly
# (what to check: the key file, the CA), then backs off exponentially
# (1 s, 2 s, 4 s ... 60 s) instead of retrying every 2 s; with
# --exit-on-auth-failure it exits with status 4 after the first refusal.
# (c) A wrong key: one error line naming the key file; the server's
#     auth_failures counter grows 4 in no less than 5 s.
# (d) TLS with a CA that did not sign the server's certificate: one error
#     line naming the CA file, retries backed off, and status 4 with the
#     option.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 120

count() { grep -c -E "$1" "$2"; }
count_ge() { [ "$(count "$1" "$2")" -ge "$3" ]; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
command -v openssl >/dev/null || fail "openssl is needed"

# (c) A wrong key.
start_server
harness_new_key "$T/wrong.key"
spawn bad-key.log "$TASQ_WORKER_BIN" --server "$URL" \
    --key-file "$T/wrong.key" -j 1 --log-level debug
bad=$SPAWNED_PID
w=$T/bad-key.log
wait_until 15 grep -q -E "error: .*refused.*$T/wrong.key" "$w" ||
    fail "no error line naming the key file"
grep -q -E "error: .*refused.*UNAUTHENTICATED" "$w" ||
    fail "the error line does not give the server's answer"
# t0 before c0 is read, so that a slow tasq stats can only lengthen dt;
# the first call of each of the two lease threads is refused at once.
t0=$(now_ms)
wait_until 15 counter_ge auth_failures 2 ||
    fail "auth_failures did not reach 2 (one per lease thread)"
c0=$(counter auth_failures) || fail "tasq stats failed"
# Backed off 1 s, 2 s, 4 s: 3 more refusals take 7 s (every 2 s from two
# lease threads: 3 s).
wait_until 60 counter_ge auth_failures $((c0 + 3)) ||
    fail "auth_failures did not grow by 3 in 60 s: no retries"
dt=$(($(now_ms) - t0))
log "3 more refusals in $dt ms"
[ "$dt" -ge 5000 ] || fail "3 refusals in $dt ms: no backoff"
n=$(count 'error:' "$w")
[ "$n" = 1 ] || fail "$n error lines, want 1"
grep -q -E 'info: connected' "$w" && fail "a refused worker says connected"
stop "$bad"
[ "$EXIT_STATUS" = 0 ] || fail "worker exited $EXIT_STATUS on SIGTERM"

spawn bad-key-exit.log "$TASQ_WORKER_BIN" --server "$URL" \
    --key-file "$T/wrong.key" -j 2 --exit-on-auth-failure
wait_exit "$SPAWNED_PID" 20 || fail "--exit-on-auth-failure: still running"
[ "$EXIT_STATUS" = 4 ] || fail "--exit-on-auth-failure: exit $EXIT_STATUS, want 4"
n=$(count 'error: server .* refused this worker' "$T/bad-key-exit.log")
[ "$n" = 1 ] || fail "--exit-on-auth-failure: $n refusal lines, want 1"
stop "$SERVER_PID"

# (d) TLS: a CA that did not sign the server's certificate.
tls_localhost
LISTEN=tls+tcp://127.0.0.1:0
CLIENT_HOST=localhost
CLIENT_OPTS=(--tls-ca "$T/ca.pem")
start_server --tls-cert "$T/server.pem" --tls-key "$T/server.key"
URL=$scheme://localhost:${SERVER_URL##*:}
spawn bad-ca.log "$TASQ_WORKER_BIN" --server "$URL" --key-file "$KEY" \
    --tls-ca "$T/other.pem" -j 2 --log-level debug
bad=$SPAWNED_PID
w=$T/bad-ca.log
wait_until 15 grep -q -E "error: .*TLS.*$T/other.pem" "$w" ||
    fail "no error line naming the CA file"
# Readiness: two retries (debug), or a third error line (no backoff).
retried() {
	count_ge "debug: .*TLS.*retrying in" "$w" 4 || count_ge 'error:' "$w" 3
}
wait_until 30 retried || fail "the worker does not retry its TLS handshake"
n=$(count 'error:' "$w")
[ "$n" = 1 ] || fail "$n error lines, want 1"
stop "$bad"
[ "$EXIT_STATUS" = 0 ] || fail "worker exited $EXIT_STATUS on SIGTERM"

spawn bad-ca-exit.log "$TASQ_WORKER_BIN" --server "$URL" --key-file "$KEY" \
    --tls-ca "$T/other.pem" -j 1 --exit-on-auth-failure
wait_exit "$SPAWNED_PID" 20 || fail "--exit-on-auth-failure: still running"
[ "$EXIT_STATUS" = 4 ] || fail "--exit-on-auth-failure: exit $EXIT_STATUS, want 4"
test_end
