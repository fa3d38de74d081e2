# crash_report: a program that dies of a fault says so (lib/crash.h). A
# real server under a little load gets SIGSEGV: its log must hold the
# report (the signal, the stack one frame a line, its end), the frames
# must resolve to functions with addr2line (harness_crash_report), and
# the process must still die of the signal (status 139), as without the
# report. The same for the worker supervisor and for SIGABRT (134). In a
# sanitizer build the report is not installed (the sanitizers report
# faults themselves): the test skips.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 60

if ldd "$TASQ_SERVER_BIN" 2>/dev/null | grep >/dev/null -cE 'lib(a|t)san'; then
	echo "SKIP: a sanitizer build (the sanitizers report faults)"
	exit 77
fi
command -v addr2line >/dev/null || {
	[ -n "${TASQ_TESTS_REQUIRED:-}" ] && fail "addr2line (binutils) is needed"
	echo "SKIP: addr2line not found"
	exit 77
}

# died_of PID STATUS WHAT: PID ends (bounded) with STATUS.
died_of() {
	wait_exit "$1" 20 || fail "$3 did not die of its signal"
	[ "$EXIT_STATUS" = "$2" ] ||
	    fail "$3 exited $EXIT_STATUS, want $2 (death by the signal)"
}

# report_ok LOG PROG SIGNAME: the report is whole and symbolizes.
report_ok() {
	local out=$T/report.${1##*/}
	grep -qE "^$2\[[0-9]+\] crash: signal [0-9]+ \($3\), address 0x[0-9a-f]+" "$1" ||
	    fail "no crash report in ${1##*/}: $(tail -n 5 "$1")"
	grep -qE "^$2\[[0-9]+\] crash: end of the report" "$1" ||
	    fail "the report in ${1##*/} has no end"
	grep -qE "$2\(\+0x[0-9a-f]+\)\[0x[0-9a-f]+\]" "$1" ||
	    fail "the report in ${1##*/} has no frame of $2"
	harness_crash_report "$1" >"$out"
	# A frame of the program's own, beyond the handler's, resolves to a
	# function of tasq's source.
	local own
	own=$(grep -v '/lib/crash\.c:' "$out" | grep -m 1 -E \
	    '^    = [a-z_][a-z0-9_]* at .*/(server|worker|lib|client)/[a-z_0-9]+\.c:[0-9]+') ||
	    fail "no frame of ${1##*/}'s report resolves to tasq's source: $(cat "$out")"
	log "${1##*/}: $(grep -c '^    = ' "$out") frames symbolized, e.g.$own"
}

start_server
start_workers -j 2
sup=$SPAWNED_PID
client submit --range 1:20000 >/dev/null || fail "submit failed"

kill -SEGV "$SERVER_PID"
died_of "$SERVER_PID" 139 "the server"
report_ok "$T/server.log" tasq-server SIGSEGV
EXPECT_EXIT=() # the server is gone on purpose

kill -ABRT "$sup"
died_of "$sup" 134 "the worker supervisor"
report_ok "$T/worker-1.log" tasq-worker SIGABRT

test_end
log "ok"
