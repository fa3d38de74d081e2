# libw_lib.sh: what the worker-side library tests (tests/lib/libw_*.sh)
# add to the integration harness (tests/integration/lib.sh, sourced
# first): starting tests/lib/libw_worker.c against the test's server.
# shellcheck shell=bash

: "${TASQ_LIBW_BIN:?TASQ_LIBW_BIN (tests/lib/libw_worker) is set by CMake}"
[ -x "$TASQ_LIBW_BIN" ] || fail "TASQ_LIBW_BIN=$TASQ_LIBW_BIN is not executable"
_nlibw=0

# start_libw MODE [ARGS...]: libw_worker MODE ARGS with the test's server
# and key (the environment, as the tools read it), in a process group of
# its own, log libw-N.log; waits (bounded) until it printed "serving".
# $SPAWNED_PID is it. $T ends its command line: the harness only signals
# processes that name $T.
start_libw() {
	_nlibw=$((_nlibw + 1))
	local log=libw-$_nlibw.log
	spawn "$log" env TASQ_SERVER="$URL" TASQ_KEY_FILE="$KEY" \
	    "$TASQ_LIBW_BIN" "$@" "$T"
	LIBW_LOG=$T/$log
	wait_until 20 grep -q '^serving$' "$LIBW_LOG" ||
	    fail "libw_worker $* did not start: $(tail -n 5 "$LIBW_LOG")"
	log "libw_worker $SPAWNED_PID: $*"
}
