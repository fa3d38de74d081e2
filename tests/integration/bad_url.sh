# bad_url: every program that takes an address (tasq --server,
# tasq-worker --server, tasq-server --listen and --metrics-listen, from a
# flag, the environment or a configuration file) refuses a malformed one
# at once with exit status 2 and a message that names the accepted forms
# and, where it is obvious, the fix; never nng's "Not supported" or
# "Invalid argument", and never a retry loop. Nothing is listened on or
# dialled.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 60

FORMS='tcp://HOST:PORT, tls+tcp://HOST:PORT or ipc:///path'
n=0

# refused LOG WANT... -- CMD...: CMD exits 2 within 10 s (x FACTOR) and
# its stderr holds every WANT and none of nng's words.
refused() {
	local logf=$1 want=() w
	shift
	while [ "$1" != -- ]; do
		want+=("$1")
		shift
	done
	shift
	n=$((n + 1))
	logf="$logf-$n.log"
	spawn "$logf" "$@" --key-file "$KEY"
	wait_exit "$SPAWNED_PID" 10 ||
	    fail "$* still runs after 10 s (want exit 2 at once)"
	[ "$EXIT_STATUS" = 2 ] ||
	    fail "$* exited $EXIT_STATUS, want 2: $(cat "$T/$logf")"
	for w in "${want[@]}"; do
		grep -qF -- "$w" "$T/$logf" ||
		    fail "$*: no '$w' in: $(cat "$T/$logf")"
	done
	if grep -qE 'Not supported|Invalid argument|Address invalid' \
	    "$T/$logf"; then
		fail "$*: nng's words: $(cat "$T/$logf")"
	fi
}

for prog in "$TASQ_CLIENT_BIN" "$TASQ_WORKER_BIN"; do
	name=${prog##*/}
	args=()
	[ "$name" = tasq ] && args=(health)
	refused "$name" "--server: 'http://127.0.0.1:22001'" "not HTTP" \
	    "did you mean tcp://127.0.0.1:22001?" "$FORMS" -- \
	    "$prog" --server http://127.0.0.1:22001 "${args[@]}"
	refused "$name" "did you mean tcp://127.0.0.1:22001?" "$FORMS" -- \
	    "$prog" --server 127.0.0.1:22001 "${args[@]}"
	refused "$name" "did you mean tls+tcp://tasq.lan:7070?" -- \
	    "$prog" --server https://tasq.lan:7070/ "${args[@]}"
	refused "$name" "has no port" "$FORMS" -- \
	    "$prog" --server tcp://127.0.0.1 "${args[@]}"
	refused "$name" "port 0" -- \
	    "$prog" --server tcp://127.0.0.1:0 "${args[@]}"
	# The environment is checked the same way.
	refused "$name" "TASQ_SERVER" "did you mean tcp://127.0.0.1:22001?" -- \
	    env TASQ_SERVER=127.0.0.1:22001 "$prog" "${args[@]}"
done

srv=$TASQ_SERVER_BIN
refused server "--listen: '127.0.0.1:22001'" \
    "did you mean tcp://127.0.0.1:22001?" "$FORMS" -- \
    "$srv" --listen 127.0.0.1:22001
refused server "not HTTP" "did you mean tcp://0.0.0.0:7070?" -- \
    "$srv" --listen http://0.0.0.0:7070
refused server "did you mean ipc:///run/tasq.sock?" -- \
    "$srv" --listen /run/tasq.sock
refused server "--metrics-listen" "did you mean http://127.0.0.1:9090?" \
    "http://HOST:PORT" -- \
    "$srv" --listen tcp://127.0.0.1:0 --metrics-listen tcp://127.0.0.1:9090
refused server "--metrics-listen" "did you mean http://127.0.0.1:9090?" -- \
    "$srv" --listen tcp://127.0.0.1:0 --metrics-listen 127.0.0.1:9090
printf 'listen tcp://127.0.0.1\n' >"$T/server.conf"
refused server "server.conf:1" "has no port" -- \
    "$srv" --config "$T/server.conf"
# --check-config says so too, before anything starts.
refused server "did you mean tcp://127.0.0.1:22001?" -- \
    "$srv" --check-config --listen 127.0.0.1:22001

# Good addresses still pass the check.
timeout -k 5 $((30 * FACTOR)) "$srv" --check-config --key-file "$KEY" \
    --listen tcp://127.0.0.1:0 --metrics-listen http://127.0.0.1:0 \
    >"$T/check.log" 2>&1 || fail "good URLs refused: $(cat "$T/check.log")"
log "$n bad addresses refused with their fix"
test_end
