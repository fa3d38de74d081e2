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
#
# Side by side: a suite's server tests run one at a time (the CTest lock
# tasq_integration) and spend most of their time waiting on leases,
# heartbeats, back-offs and restarts (the plain suite kept 2 cores 23%
# busy), so the suites run in three lanes at once, each its own build and
# ctest: plain then deploy (in the plain build; its ctest in
# tests/deploy, apart from plain's); asan; tsan. The plain lane ends
# first (about 23 minutes against 26 for asan in CI's runs), so deploy
# (4-5 minutes) goes after it rather than after asan. The sanitizer builds
# run niced, so that the plain build comes first. Each suite's output
# goes to $root/logs/NAME.log and is printed whole when the suite ends.
# TASQ_SERIAL=1 runs the suites one after another instead.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
root=${TASQ_BUILD_ROOT:-$top/build-ci}
jobs=$(nproc)
suites=${TASQ_SUITES:-"plain deploy asan tsan"}
logs=$root/logs
mkdir -p "$logs"
rm -f "$logs"/*.log "$logs"/*.failed "$logs"/*.built

for s in $suites; do
	case $s in
	plain | deploy | asan | tsan) ;;
	*)
		echo "unknown suite $s" >&2
		exit 2
		;;
	esac
done

# run_suite NAME "CMAKE ARGS" LAUNCHER CTEST-SELECTION...
# (in $root/NAME, or $root/$SUITE_DIR; the build under $BUILD_NICE;
# ctest in its subdirectory $TEST_SUBDIR when set, which keeps its own
# Testing/ beside another suite's ctest in the same build)
run_suite() {
	local name=$1 cmake_args=$2 launcher=$3
	shift 3
	local dir=$root/${SUITE_DIR:-$name}
	local t0=$SECONDS
	echo "=== suite $name: configure and build"
	# shellcheck disable=SC2086
	if [ -e "$logs/${SUITE_DIR:-$name}.built" ]; then
		echo "=== suite $name: built already"
	elif ! nice -n "${BUILD_NICE:-0}" cmake -S "$top" -B "$dir" \
	    -DTASQ_WERROR=ON $cmake_args >/dev/null ||
	    ! nice -n "${BUILD_NICE:-0}" cmake --build "$dir" -j"$jobs" \
	    >/dev/null; then
		echo "=== suite $name: the build failed"
		: >"$logs/$name.failed"
		return 0
	fi
	: >"$logs/${SUITE_DIR:-$name}.built"
	echo "=== suite $name: built in $((SECONDS - t0)) s; ctest $*"
	# shellcheck disable=SC2086
	if ! $launcher ctest --test-dir "$dir${TEST_SUBDIR:+/$TEST_SUBDIR}" \
	    --output-on-failure --no-tests=error "$@" \
	    ${TASQ_CTEST_ARGS:-}; then
		: >"$logs/$name.failed"
	fi
	echo "=== suite $name: $((SECONDS - t0)) s"
}

tsan_tests='^(unit\.|fuzz\.|lib\.|integration\.(e2e_million|three_clients|kill_worker|drain|lease_expiry|queue_full|shutdown_load|supervisor_signal|typed_submit|handler_exec_kill|heartbeat_sigstop)$)'
[ -n "${TASQ_TSAN_FULL:-}" ] && tsan_tests='^(unit|fuzz|lib|integration|compat)\.'

suite() {
	case $1 in
	plain)
		# Tests that start servers hold the RESOURCE_LOCK
		# tasq_integration, so -j runs only the others beside them.
		run_suite plain "-DCMAKE_BUILD_TYPE=RelWithDebInfo" "" \
		    -j"$jobs" -LE 'slow|valgrind|open-bug'
		;;
	deploy)
		# Reuses the plain build (built here if it is missing): waits
		# for the plain lane to build it.
		case " $suites " in *" plain "*)
			while [ ! -e "$logs/plain.built" ] &&
			    [ ! -e "$logs/plain.failed" ]; do
				sleep 5
			done
			;;
		esac
		SUITE_DIR=plain TEST_SUBDIR=tests/deploy run_suite deploy \
		    "-DCMAKE_BUILD_TYPE=RelWithDebInfo" "" \
		    -R '^deploy\.(container_lan|compose_kube|debian_package)$'
		;;
	asan)
		# -j as in plain: the lock keeps the server tests one at a
		# time; the unit and fuzz tests run beside them.
		(
			export TASQ_TEST_TIMEOUT_FACTOR=3 TASQ_TEST_SCALE=4
			export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
			export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
			run_suite asan \
			    "-DCMAKE_BUILD_TYPE=Debug -DTASQ_SANITIZE=address,undefined" \
			    "" -j"$jobs" \
			    -R '^(unit|fuzz|integration|compat|lib|python)\.' \
			    -LE 'slow|valgrind|open-bug'
		)
		;;
	tsan)
		# TSan wants a fixed address layout on kernels with large
		# mmap randomisation; setarch -R gives it one.
		(
			export TASQ_TEST_TIMEOUT_FACTOR=6 TASQ_TEST_SCALE=10
			export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
			run_suite tsan \
			    "-DCMAKE_BUILD_TYPE=Debug -DTASQ_SANITIZE=thread" \
			    "setarch $(uname -m) -R" -j"$jobs" -R "$tsan_tests" \
			    -LE 'slow|valgrind|open-bug'
		)
		;;
	esac
}

# lane NICE SUITE...: the suites that were asked for, one after another,
# each into its own log, printed whole (one lane at a time) when it ends.
lane() {
	local nice=$1 s
	shift
	for s in "$@"; do
		case " $suites " in *" $s "*) ;; *) continue ;; esac
		BUILD_NICE=$nice suite "$s" >"$logs/$s.log" 2>&1 ||
		    : >"$logs/$s.failed"
		{
			flock 9
			cat "$logs/$s.log"
			echo "=== suite $s ended at $((SECONDS - t0)) s"
		} 9>"$logs/.print.lock"
	done
}

t0=$SECONDS
if [ -n "${TASQ_SERIAL:-}" ]; then
	for s in $suites; do
		suite "$s" 2>&1 | tee "$logs/$s.log"
	done
else
	echo "=== lanes: plain then deploy, asan, tsan (logs in $logs)"
	lane 0 plain deploy &
	lane_pids=($!)
	lane 10 asan &
	lane_pids+=($!)
	lane 10 tsan &
	lane_pids+=($!)
	for p in "${lane_pids[@]}"; do
		wait "$p" || true
	done
fi
failed=""
for s in $suites; do
	[ -f "$logs/$s.failed" ] && failed="$failed $s"
done
# digest SUITE: each test that failed in the suite's ctest, with the end
# of its output (from ctest's LastTest.log). Printed last, so that a page
# that keeps only a log's head and tail still says why.
digest() {
	local dir=$root/$1 t tmp
	[ "$1" = deploy ] && dir=$root/plain/tests/deploy
	tmp=$dir/Testing/Temporary
	[ -s "$tmp/LastTestsFailed.log" ] || return 0
	while IFS= read -r t; do
		t=${t#*:}
		awk -v t="$t" '/ Testing: / && $NF == t { on = 1; next }
		    on && /^<end of output>/ { exit }
		    on' "$tmp/LastTest.log" | cut -c1-400 >"$tmp/digest.out"
		echo "--- $1: $t: its failure lines"
		grep -E 'FAIL|WATCHDOG|ERROR: |runtime error|ASSERT|not ok|SUMMARY: |\] (error|warn|crash): ' \
		    "$tmp/digest.out" | head -n 20
		echo "--- $1: $t: the end of its output"
		tail -n 25 "$tmp/digest.out"
	done <"$tmp/LastTestsFailed.log"
}

echo "=== all suites: $((SECONDS - t0)) s"
if [ -n "$failed" ]; then
	for s in $failed; do
		digest "$s"
	done
	echo "FAILED suites:$failed"
	exit 1
fi
echo "all suites passed: $suites"
