#!/usr/bin/env bash
# seed: the seed's program ported to tasq (examples/python): two Python
# workers that take 50 tasks each, as the seed's did, and the master that
# puts 100 random numbers in and reads 100 squares back, in input order.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 90
ex=$SRC/examples/python

start_server
spawn_py worker-a.log "$ex/worker.py" --server "$URL" --key-file "$KEY" \
    --tasks 50
wa=$SPAWNED_PID
spawn_py worker-b.log "$ex/worker.py" --server "$URL" --key-file "$KEY" \
    --tasks 50
wb=$SPAWNED_PID

py "$ex/master.py" --server "$URL" --key-file "$KEY" --seed 7 \
    >"$T/master.out" 2>"$T/master.err" ||
    fail "master.py failed: $(tail -n 5 "$T/master.err")"

# 100 numbers in, then 100 results "n**2=m", the same numbers in order.
grep '^任务列表加入数据:' "$T/master.out" | sed 's/^[^:]*://' >"$T/in"
grep '^执行结果:' "$T/master.out" | sed 's/^[^:]*://' >"$T/res"
[ "$(wc -l <"$T/in")" = 100 ] || fail "master put $(wc -l <"$T/in") tasks"
awk -F'[*=]+' '{ if ($2 != 2 || $3 != $1 * $1) { print "bad: " $0; exit 1 } }
    END { if (NR != 100) { print NR " results"; exit 1 } }' "$T/res" >"$T/bad" ||
    fail "master's results: $(cat "$T/bad")"
sed 's/\*\*.*//' "$T/res" | cmp -s - "$T/in" ||
    fail "results are not in input order"

# Each worker stops by itself after its 50 tasks.
for w in "$wa" "$wb"; do
	wait_exit "$w" 20 || fail "worker $w did not stop after 50 tasks"
	[ "$EXIT_STATUS" = 0 ] || fail "worker $w exited $EXIT_STATUS"
done
for l in worker-a worker-b; do
	[ "$(grep -c '^执行任务' "$T/$l.log")" = 50 ] ||
	    fail "$l ran $(grep -c '^执行任务' "$T/$l.log") tasks, not 50"
	grep -q '工作主机执行任务结束' "$T/$l.log" || fail "$l did not finish"
done

test_end
