# fair_priority: jobs sharing a queue get leased tasks in the ratio of
# their priorities (issue 13, PROTOCOL.md 11.1).
#
# Two clients submit a job each to queue fq, with tasq submit --priority 7
# and --priority 3, 20,000 tasks each; no worker runs until both are
# wholly queued. Then a tasq_raw session plays the worker: 100 leases of
# 100 tasks, 10,000 tasks in all, both jobs with tasks left throughout.
# The values tell the jobs apart (1..20000 and 100001..120000); the first
# job must have 70 % of the leased tasks, within 5 points. This counts
# what the server handed out, so it does not depend on timing.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
. "$(dirname "${BASH_SOURCE[0]}")/lib_e2e.sh" || exit 2
test_begin 90

n=20000
start_server --lease 10m
spawn_client "$T/a.out" "$T/a.err" submit --queue fq --priority 7 \
    --range "1:$n"
spawn_client "$T/b.out" "$T/b.err" submit --queue fq --priority 3 \
    --range "100001:$((100000 + n))"
_all_queued() { [ "$(queue_json fq submitted)" = $((2 * n)) ]; }
wait_until 60 _all_queued ||
    fail "the two jobs were not queued: submitted $(queue_json fq submitted)"

rs_start
a=0 b=0
for ((i = 0; i < 100; i++)); do
	rs_ok lease fq 100 0
	rs_want tasks 100 "lease $i"
	while read -r v; do
		if [ "$v" -le "$n" ]; then
			a=$((a + 1))
		else
			b=$((b + 1))
		fi
	done < <(rs_tasks | sed -E 's/.* value=(-?[0-9]+).*/\1/')
done
log "leased: priority 7: $a, priority 3: $b"
[ $((a + b)) -eq 10000 ] || fail "leased $((a + b)) tasks, want 10000"
[ "$a" -lt "$n" ] && [ "$b" -lt "$n" ] || fail "a job ran out of tasks"
# 70 % within 5 points: 6500..7500 of 10000.
[ "$a" -ge 6500 ] && [ "$a" -le 7500 ] ||
    fail "priorities 7 and 3 got $a:$b of 10000 leased tasks, want 70:30 within 5 points"
test_end
