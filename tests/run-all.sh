#!/usr/bin/env bash
# The whole test suite, as CI runs it: a warnings-as-errors build with every
# CTest label (unit, integration, fuzz corpus replay, style) except slow,
# then the same suite under ASan+UBSan and under TSan. Build directories
# go under $TASQ_BUILD_ROOT (default: ./build-ci). TASQ_SUITES picks
# suites ("plain asan tsan").
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
root=${TASQ_BUILD_ROOT:-$top/build-ci}
jobs=$(nproc)
suites=${TASQ_SUITES:-"plain asan tsan"}
failed=""

# run_suite NAME "CMAKE ARGS" "LABELS TO EXCLUDE" [launcher]
run_suite() {
	local name=$1 cmake_args=$2 exclude=$3 launcher=${4:-}
	local dir=$root/$name
	echo "=== suite $name: configure and build"
	# shellcheck disable=SC2086
	cmake -S "$top" -B "$dir" -DTASQ_WERROR=ON $cmake_args >/dev/null
	cmake --build "$dir" -j"$jobs" >/dev/null
	echo "=== suite $name: ctest"
	# shellcheck disable=SC2086
	if ! $launcher ctest --test-dir "$dir" --output-on-failure \
	    -LE "$exclude" ${TASQ_CTEST_ARGS:-}; then
		failed="$failed $name"
	fi
}

for s in $suites; do
	case $s in
	plain)
		run_suite plain "-DCMAKE_BUILD_TYPE=RelWithDebInfo" \
		    "slow|valgrind"
		;;
	asan)
		(
			export TASQ_TEST_TIMEOUT_FACTOR=3 TASQ_TEST_SCALE=4
			export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
			export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
			run_suite asan \
			    "-DCMAKE_BUILD_TYPE=Debug -DTASQ_SANITIZE=address,undefined" \
			    "slow|valgrind|deploy|bench|style"
			[ -z "$failed" ]
		) || failed="$failed asan"
		;;
	tsan)
		# TSan needs a fixed address layout on kernels with large
		# mmap randomisation; setarch -R turns it off for the run.
		(
			export TASQ_TEST_TIMEOUT_FACTOR=6 TASQ_TEST_SCALE=10
			export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
			run_suite tsan "-DCMAKE_BUILD_TYPE=Debug -DTASQ_SANITIZE=thread" \
			    "slow|valgrind|deploy|bench|style" "setarch $(uname -m) -R"
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
