# valgrind: the server, one worker (supervisor and its forked worker
# process) and the clients, each under valgrind memcheck
# (--leak-check=full --errors-for-leak-kinds=definite
# --error-exitcode=99), run 2,000 tasks; then everything stops (SIGTERM
# for the server and the worker). Fails on any memcheck error or
# definite leak in any of the processes (one log per process, printed
# on failure), or on an exit status of 99. Slow: label valgrind only.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
command -v valgrind >/dev/null || { echo "valgrind is needed" >&2; exit 2; }
FACTOR=$((FACTOR * 5)) # every program runs 20-50 times slower
test_begin 84          # x 5
N=2000

LAUNCHER=(valgrind --leak-check=full --errors-for-leak-kinds=definite
    --error-exitcode=99 --num-callers=30 --log-file="$T/vg-%p.vg")
start_server main
start_worker -j 1
worker=$SPAWNED_PID
client submit --range "1:$N" >"$T/out" 2>"$T/client.err"
rc=$?
[ "$rc" = 0 ] || fail "submit under valgrind exited $rc: $(cat "$T/client.err")"
check_squares "$T/out" 1 "$N"
client stats >/dev/null 2>&1 || fail "stats under valgrind failed"
log "$N tasks right under valgrind"

kill -TERM "$worker"
wait_until 60 _gone "$worker" || fail "the worker did not drain on SIGTERM"
wait "$worker"
rc=$?
[ "$rc" = 0 ] || fail "the worker supervisor exited $rc (99: memcheck errors)"
stop_server "$SERVER_PID" main 60
SERVERS=()

bad=0
n=0
for f in "$T"/vg-*.vg; do
	n=$((n + 1))
	prog=$(sed -n 's/^==[0-9]*== Command: \([^ ]*\).*/\1/p' "$f" |
	    head -n 1)
	errs=$(sed -n 's/^==[0-9]*== ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' \
	    "$f" | tail -n 1)
	def=$(sed -n 's/^==[0-9]*==    definitely lost: \([0-9,]*\) bytes.*/\1/p' \
	    "$f" | tail -n 1)
	log "${prog##*/} (${f##*/}): ${errs:-?} errors, definitely lost ${def:-0} bytes"
	if [ -z "$errs" ]; then
		log "${f##*/}: no ERROR SUMMARY (the process did not end normally)"
		bad=1
	elif [ "$errs" != 0 ] || { [ -n "$def" ] && [ "$def" != 0 ]; }; then
		cat "$f" >&2
		bad=1
	fi
done
((n >= 4)) || fail "only $n valgrind logs (want server, supervisor, worker, clients)"
((bad == 0)) || fail "memcheck found errors or definite leaks (above)"
log "$n processes clean under memcheck"
test_end
