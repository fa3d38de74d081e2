# three_clients: clients submitting at once, each with its own input
# (two ranges, a list on stdin, a file, numbers as arguments), get exactly
# their own results, in their own input order, once.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 120

a=$((200000 / SCALE))
b=$((200000 / SCALE))
m=$((30000 / SCALE))
start_server
start_workers -j 2

# A list with negatives, zero, repeats and the largest squares that fit.
awk -v m="$m" 'BEGIN {
	srand(42)
	for (i = 0; i < m; i++) {
		v = int(rand() * 100000001) - 50000000
		print v
		if (i % 1000 == 0) print v   # a repeat
	}
	print "0"; print "3037000499"; print "-3037000499"; print "1"
}' >"$T/list.in"
# A file with a comment and a blank line, which submit skips.
{ echo "# squares"; seq -2000 7 2000; echo; echo "  42"; } >"$T/file.in"
grep -v -e '^#' -e '^$' "$T/file.in" | tr -d ' ' >"$T/file.want.in"
echo "9 -9 2147483648 -1" | tr ' ' '\n' >"$T/args.in"

client submit --range "1:$a" >"$T/a.out" 2>"$T/a.log" &
pa=$!
client submit --range "500000:$((500000 + b))" >"$T/b.out" 2>"$T/b.log" &
pb=$!
client submit - <"$T/list.in" >"$T/c.out" 2>"$T/c.log" &
pc=$!
client submit --file "$T/file.in" >"$T/d.out" 2>"$T/d.log" &
pd=$!
client submit 9 -9 2147483648 -1 >"$T/e.out" 2>"$T/e.log" &
pe=$!
for p in "$pa:a" "$pb:b" "$pc:c" "$pd:d" "$pe:e"; do
	wait "${p%%:*}" || fail "client ${p##*:} exited $?: $(cat "$T/${p##*:}.log")"
done

check_squares "$T/a.out" 1 "$a"
check_squares "$T/b.out" 500000 "$((500000 + b))"
check_output "$T/c.out" "$T/list.in"
check_output "$T/d.out" "$T/file.want.in"
check_output "$T/e.out" "$T/args.in"

total=$((a + b + 1 + $(wc -l <"$T/list.in") + $(wc -l <"$T/file.want.in") + 4))
[ "$(counter tasks_completed)" = "$total" ] ||
    fail "tasks_completed $(counter tasks_completed), want $total"
[ "$(counter results_rejected)" = 0 ] || fail "results were rejected"

test_end
