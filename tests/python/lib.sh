#!/usr/bin/env bash
# lib.sh: the harness of the Python package's tests (python/, issue 14).
# It is tests/integration/lib.sh (the real tasq-server and workers on
# loopback, port 0 and a ready file, process groups, a watchdog), plus:
#
#   $PY           the interpreter under test (TASQ_TEST_PYTHON, default
#                 Debian's /usr/bin/python3)
#   TASQ_LIBRARY  the libtasq.so.1 of this build (CMake passes it as
#                 TASQ_TEST_LIBRARY: the harness scrubs every other TASQ_*)
#   PYTHONPATH    the package's source directory (TASQ_TEST_PYTHON_DIR),
#                 so that `import tasq` is the one of this tree
#   py ARGS...    $PY under a timeout (PY_TIMEOUT seconds x FACTOR,
#                 default 120)
#   spawn_py LOG ARGS...  $PY in a process group of its own, recorded
#                 and reaped like every other process of the test; its
#                 command line names $T (give it --key-file "$KEY")
#   $SRC          the source tree
#   PYENV         the command prefix of every Python process: in a
#                 sanitizer build, the sanitizer's runtime preloaded
#                 (TASQ_TEST_PRELOAD, from CMake) with leak checks off
#                 (last in ASAN_OPTIONS, so that it wins over the CI's
#                 detect_leaks=1: the interpreter's own allocations at
#                 exit are not ours; the library's are checked by lib.*)
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" || exit 2

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY=${TASQ_TEST_PYTHON:-/usr/bin/python3}
: "${TASQ_TEST_LIBRARY:?set by CMake (the libtasq.so.1 to test)}"
export TASQ_LIBRARY=$TASQ_TEST_LIBRARY
export PYTHONPATH=${TASQ_TEST_PYTHON_DIR:-$SRC/python}
export PYTHONDONTWRITEBYTECODE=1
# Python's own buffering would hide a failing script's last lines.
export PYTHONUNBUFFERED=1
export TASQ_TEST_TIMEOUT_FACTOR=$FACTOR
# shellcheck disable=SC2034 # the tests use it
CHECK=$SRC/tests/python/check.py

if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 9))' 2>/dev/null
then
	log "SKIP: $PY is not Python 3.9 or later"
	exit 77
fi

PYENV=(env)
if [ -n "${TASQ_TEST_PRELOAD:-}" ]; then
	PYENV=(env "LD_PRELOAD=$TASQ_TEST_PRELOAD"
	    "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0")
fi

py() {
	timeout -k 5 $((${PY_TIMEOUT:-120} * FACTOR)) "${PYENV[@]}" "$PY" "$@"
}

spawn_py() {
	local logf=$1
	shift
	spawn "$logf" "${PYENV[@]}" "$PY" "$@"
}
