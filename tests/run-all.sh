#!/usr/bin/env bash
# The whole test suite, as CI runs it (about 20 minutes on 2 cores):
#   plain  warnings as errors, every CTest label but slow and valgrind:
#          unit, integration (with the fault-injection and security
#          suites), fuzz corpus replay, deploy checks, the dashboard in
#          headless Chromium, bench smoke, style;
#   deploy the container tests, in the plain build: the project's image
#          built from deploy/Containerfile, a server and workers on
#          simulated LAN hosts, compose and Kubernetes manifests, the .deb
#          installed, upgraded and purged in a minimal container (they
#          skip without root or podman: deploy/install-deps.sh --tests);
#   asan   ASan+UBSan: unit, fuzz replay, integration, compat, library and Python tests;
#   tsan   TSan: unit, fuzz replay, library tests and the integration tests that exercise
#          concurrency (TASQ_TSAN_FULL=1 runs all of them, ~10 minutes).
# The fault-injection and security suites run under the sanitizers by
# hand: TASQ_CTEST_ARGS='-R fault' TASQ_SUITES=asan tests/run-all.sh.
# Build directories go under $TASQ_BUILD_ROOT (default ./build-ci);
# TASQ_SUITES picks suites ("plain asan tsan").
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
root=${TASQ_BUILD_ROOT:-$top/build-ci}
jobs=$(nproc)
suites=${TASQ_SUITES:-"plain deploy asan tsan"}
failed=""

# run_suite NAME "CMAKE ARGS" LAUNCHER CTEST-SELECTION...
# (in $root/NAME, or $root/$SUITE_DIR)
run_suite() {
	local name=$1 cmake_args=$2 launcher=$3
	shift 3
	local dir=$root/${SUITE_DIR:-$name}
	local t0=$SECONDS
	echo "=== suite $name: configure and build"
	# shellcheck disable=SC2086
	cmake -S "$top" -B "$dir" -DTASQ_WERROR=ON $cmake_args >/dev/null
	cmake --build "$dir" -j"$jobs" >/dev/null
	echo "=== suite $name: ctest $*"
	# shellcheck disable=SC2086
	if ! $launcher ctest --test-dir "$dir" --output-on-failure "$@" \
	    ${TASQ_CTEST_ARGS:-}; then
		failed="$failed $name"
	fi
	echo "=== suite $name: $((SECONDS - t0)) s"
}

tsan_tests='^(unit\.|fuzz\.|lib\.|integration\.(e2e_million|three_clients|kill_worker|drain|lease_expiry|queue_full|shutdown_load|supervisor_signal|typed_submit|handler_exec_kill|heartbeat_sigstop)$)'
[ -n "${TASQ_TSAN_FULL:-}" ] && tsan_tests='^(unit|fuzz|lib|integration|compat)\.'

for s in $suites; do
	case $s in
	plain)
		# Tests that start servers hold the RESOURCE_LOCK
		# tasq_integration, so -j runs only the others beside them.
		run_suite plain "-DCMAKE_BUILD_TYPE=RelWithDebInfo" "" \
		    -j"$jobs" -LE 'slow|valgrind|open-bug'
		;;
	deploy)
		# Reuses the plain build (configured again if it is missing).
		SUITE_DIR=plain run_suite deploy \
		    "-DCMAKE_BUILD_TYPE=RelWithDebInfo" "" \
		    -R '^deploy\.(container_lan|compose_kube|debian_package)$'
		;;
	asan)
		# -j as in plain: the lock keeps the server tests one at a
		# time; the unit and fuzz tests run beside them.
		(
			failed=""
			export TASQ_TEST_TIMEOUT_FACTOR=3 TASQ_TEST_SCALE=4
			export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
			export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
			run_suite asan \
			    "-DCMAKE_BUILD_TYPE=Debug -DTASQ_SANITIZE=address,undefined" \
			    "" -j"$jobs" \
			    -R '^(unit|fuzz|integration|compat|lib|python)\.' \
			    -LE 'slow|valgrind|open-bug'
			[ -z "$failed" ]
		) || failed="$failed asan"
		;;
	tsan)
		# TSan wants a fixed address layout on kernels with large
		# mmap randomisation; setarch -R gives it one.
		(
			failed=""
			export TASQ_TEST_TIMEOUT_FACTOR=6 TASQ_TEST_SCALE=10
			export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
			run_suite tsan \
			    "-DCMAKE_BUILD_TYPE=Debug -DTASQ_SANITIZE=thread" \
			    "setarch $(uname -m) -R" -j"$jobs" -R "$tsan_tests" \
			    -LE 'slow|valgrind|open-bug'
			[ -z "$failed" ]
		) || failed="$failed tsan"
		;;
	*)
		echo "unknown suite $s" >&2
		exit 2
		;;
	esac
done
if [ -n "$failed" ]; then
	echo "FAILED suites:$failed"
	exit 1
fi
echo "all suites passed: $suites"
