# tls_close_notify: a peer that completes a TLS handshake and then closes
# the session properly (close_notify) before sending the SP header, as
# `openssl s_client </dev/null`, a TLS health probe or a load balancer's
# check does, must not stop the server from accepting: after each of
# three such peers a good client is served within 5 s (connect timeout),
# with the default engine (OpenSSL) and with the builtin one (mbedTLS).
# On failure the test says how long the server took to serve again and
# whether its watchdog had to replace the listener (listener_restarts).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 90

mkca ca
mkcert server ca localhost DNS:localhost,IP:127.0.0.1 serverAuth
LISTEN=tls+tcp://127.0.0.1:0
CLIENT_HOST=localhost

for engine in openssl builtin; do
	CLIENT_OPTS=(--tls-ca "$T/ca.pem" --tls-engine "$engine")
	start_server "$engine" --tls-cert "$T/server.pem" \
	    --tls-key "$T/server.key" --tls-engine "$engine"
	for i in 1 2 3; do
		"${PEER[@]}" tls-notify "$PORT" "$T/ca.pem" >"$T/notify.out" 2>&1 ||
		    fail "$engine: the TLS peer failed: $(cat "$T/notify.out")"
		t0=$(now_ms)
		if ! CLIENT_TIMEOUT=20 client --connect-timeout 5s health \
		    >/dev/null 2>"$T/after.err"; then
			err=$(cat "$T/after.err")
			CLIENT_TIMEOUT=60 client health --wait 40s --quiet
			fail "$engine: after a TLS session closed before the SP" \
			    "header (close_notify; peer $i), the server did not" \
			    "serve for $(($(now_ms) - t0)) ms ($err);" \
			    "listener_restarts=$(counter listener_restarts)"
		fi
	done
	log "$engine: served after 3 sessions closed with close_notify"
	stop_server "$SERVER_PID" "$engine"
done

test_end
