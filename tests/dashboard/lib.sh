# lib.sh: what the dashboard tests (dashboard.sh, servers.sh) share, on
# top of tests/harness/lib.sh (sourced here): the skip without Chromium,
# the scratch directory, process groups stopped at exit, bounded polls.
#
#	. "$(dirname "$0")/lib.sh" || exit 2
#	TEST_NAME=dashboard
#	dash_begin 'TASQ_DASHBOARD_*'     # skips (77), or goes on
#	spawn server.log "$server" ...    # $spawned: its pid (= its pgid)
#	wait_until 15 CMD...              # CMD polled for 15 s x factor
#
# What a test gets: $here (this directory, where the .mjs and
# node_modules are), $factor (TASQ_TEST_TIMEOUT_FACTOR), $out (the
# screenshots' directory: $TASQ_ARTIFACT_DIR, else ./artifacts, made by
# dash_begin), $T (the scratch directory, removed at exit unless
# TASQ_TEST_KEEP=1; each *.log in it is shown when the test fails).
set -euo pipefail
export LC_ALL=C
# shellcheck source-path=SCRIPTDIR source=../harness/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../harness/lib.sh" || exit 2

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
harness_factor
factor=$FACTOR
out=${TASQ_ARTIFACT_DIR:-$PWD/artifacts}
T=
pids=()

# log, fail, now_ms, pid_alive: tests/harness/lib.sh.

# skip WHY: exits 77, or 1 with TASQ_TESTS_REQUIRED=1 (CI), where a
# missing tool fails instead.
skip() {
	echo "SKIP: $* (deploy/install-dashboard-test-deps.sh installs it)"
	[ "${TASQ_TESTS_REQUIRED:-}" = 1 ] && exit 1
	exit 77
}

# wait_until SECONDS CMD...: polls CMD every 50 ms for SECONDS x factor.
wait_until() {
	local secs=$1
	shift
	harness_poll $((secs * factor)) "$@"
}

# spawn LOG CMD...: CMD in a process group of its own, output to $T/LOG;
# $spawned is its pid (= its pgid).
spawned=
spawn() {
	harness_spawn "$T/$1" "$T/$1" "${@:2}"
	spawned=$HARNESS_SPAWNED
	pids+=("$spawned")
}

# Only the groups we started: TERM, a bounded wait, then KILL.
_dash_cleanup() {
	local rc=$? f
	trap - EXIT INT TERM HUP
	if [ "$rc" -ne 0 ] || [ "$_failed" -ne 0 ]; then
		for f in "$T"/*.log; do
			[ -f "$f" ] || continue
			echo "----- ${f##*/} (last 40 lines) -----" >&2
			tail -n 40 "$f" >&2
		done
	fi
	HARNESS_STOP_SECS=$((5 * factor)) harness_stop_groups "${pids[@]}"
	wait 2>/dev/null || true
	if [ "${TASQ_TEST_KEEP:-0}" = 1 ]; then
		log "kept $T"
	else
		rm -rf "$T"
	fi
	[ "$rc" -eq 0 ] && [ "$_failed" -eq 0 ] && log "PASS (${SECONDS}s)"
	exit "$rc"
}

# dash_begin [KEEP...]: skips without /usr/bin/chromium, node or
# playwright-core; scrubs the TASQ_* settings but TASQ_ARTIFACT_DIR,
# TASQ_TEST_* and the KEEP patterns; makes $T (tasq-$TEST_NAME.XXXXXX),
# $out and the exit trap.
dash_begin() {
	[ -x /usr/bin/chromium ] || skip "no /usr/bin/chromium"
	command -v node >/dev/null || skip "no node"
	[ -f "$here/node_modules/playwright-core/package.json" ] ||
		skip "no playwright-core in $here/node_modules"
	# Only the TASQ_* settings meant for this test reach the programs.
	harness_scrub_env TASQ_ARTIFACT_DIR 'TASQ_TEST_*' "$@"
	harness_scratch tasq
	trap _dash_cleanup EXIT
	trap 'fail "interrupted by a signal"' INT TERM HUP
	mkdir -p "$out"
}
