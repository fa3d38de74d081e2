# metrics: --metrics-listen http://127.0.0.1:PORT. /healthz answers 200
# "ok"; after 1,000 tasks /metrics has tasq_tasks_completed_total >= 1000,
# tasq_queue_tasks_{submitted,completed}_total{queue="default"} exactly
# 1000 (counters, with HELP), and tasq_rpc_duration_seconds_bucket lines;
# 25 tasks on a queue no worker serves count as submitted there, not
# completed; tasq_rpc_replies_total{code="UNAUTHENTICATED"} grows when a
# client with a wrong key is refused; /api/stats is valid JSON whose
# counters agree (auth_failures) and whose queues' submitted and completed
# add up to tasks_submitted and tasks_completed; an unknown path is 404;
# no key shows in any page.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 60
command -v curl >/dev/null || fail "curl is needed"

# Port 0: the ready file names the port the kernel picked.
start_server main --metrics-listen http://127.0.0.1:0
M=$METRICS_URL
wait_until 10 curl -sf -o /dev/null "$M/healthz" ||
    fail "no /healthz at $M: $(tail -n 5 "$SERVER_LOG")"
start_worker -j 1

code=$(curl -s -o "$T/healthz" -w '%{http_code}' "$M/healthz")
if [ "$code" != 200 ] || [ "$(cat "$T/healthz")" != ok ]; then
	fail "/healthz: HTTP $code, body '$(cat "$T/healthz")'"
fi
log "/healthz: $code $(cat "$T/healthz")"

# In batches of 250, so that it goes by Submit (a job of one batch goes
# in its first Fetch).
client submit --batch-size 250 --range 1:1000 >"$T/run.out" 2>"$T/run.err" ||
    fail "submit: $(cat "$T/run.err")"
check_squares "$T/run.out" 1 1000

# metric NAME: the value of the sample NAME (with its labels) in /metrics.
metric() {
	curl -sf "$M/metrics" | awk -v n="$1" '$1 == n { print $2; f = 1 }
	    END { exit !f }'
}
curl -sf "$M/metrics" >"$T/metrics.txt" || fail "GET /metrics failed"
done_n=$(metric tasq_tasks_completed_total) ||
    fail "no tasq_tasks_completed_total in /metrics"
((done_n >= 1000)) || fail "tasq_tasks_completed_total is $done_n, want >= 1000"
for m in Submit Fetch Lease; do
	grep -q "^tasq_rpc_duration_seconds_bucket{method=\"$m\",le=\"+Inf\"} [1-9]" \
	    "$T/metrics.txt" || fail "no $m latency histogram in /metrics"
done
grep -q '^tasq_rpc_duration_seconds_bucket{method="Submit",le="+Inf"} 4$' \
    "$T/metrics.txt" || fail "want 4 Submit requests (1000 tasks in 250s)"
log "/metrics: tasq_tasks_completed_total $done_n," \
    "$(grep -c '^tasq_rpc_duration_seconds_bucket' "$T/metrics.txt") histogram buckets"

# Every metric family has its # HELP and # TYPE lines before its samples,
# and no name says _total twice.
bad=$(awk '
	/^# HELP / { help[$3] = 1; next }
	/^# TYPE / { type[$3] = 1; next }
	/^#/ { next }
	{
		n = $1; sub(/\{.*/, "", n)
		f = n
		if (!(f in type)) sub(/_(bucket|sum|count)$/, "", f)
		if (!(f in help) || !(f in type)) print "no HELP/TYPE: " n
		if (n ~ /_total_total/) print "double _total: " n
	}' "$T/metrics.txt" | sort -u)
[ -z "$bad" ] || fail "metric families without HELP or TYPE, or misnamed:
$bad"
grep -q '^tasq_requests_total [1-9]' "$T/metrics.txt" ||
    fail "no tasq_requests_total in /metrics"
log "/metrics: every family has HELP and TYPE"

# Per queue: nothing but the batch above ran on the default queue yet.
for what in submitted completed; do
	name=tasq_queue_tasks_${what}_total
	grep -qx "# TYPE $name counter" "$T/metrics.txt" ||
	    fail "no '# TYPE $name counter' in /metrics"
	grep -q "^# HELP $name ." "$T/metrics.txt" || fail "no HELP for $name"
	v=$(metric "$name{queue=\"default\"}") || fail "no $name for default"
	[ "$v" = 1000 ] || fail "$name{queue=\"default\"} is $v, want 1000"
done
# A queue without workers: submitted, never completed.
CLIENT_TIMEOUT=30 client submit --queue parked --timeout 2s --range 1:25 \
    >/dev/null 2>"$T/parked.err" && fail "a submit to no worker succeeded"
Q='{queue="parked"}'
v=$(metric "tasq_queue_tasks_submitted_total$Q") && [ "$v" = 25 ] ||
    fail "tasq_queue_tasks_submitted_total$Q is '$v', want 25"
v=$(metric "tasq_queue_tasks_completed_total$Q") && [ "$v" = 0 ] ||
    fail "tasq_queue_tasks_completed_total$Q is '$v', want 0"
log "/metrics: per queue submitted/completed default 1000/1000, parked 25/0"

U='tasq_rpc_replies_total{code="UNAUTHENTICATED"}'
un0=$(metric "$U") || fail "no $U in /metrics"
new_key "$T/wrong.key"
refused 1 wrong_key 'authenticat' timeout $((30 * FACTOR)) \
    "$TASQ_CLIENT_BIN" --server "$URL" --key-file "$T/wrong.key" health
un1=$(metric "$U")
log "$U $un0 -> $un1"
((un1 > un0)) || fail "$U did not grow after a wrong key ($un0 -> $un1)"
assert_serving "a wrong-key client"

curl -sf "$M/api/stats" >"$T/stats.json" || fail "GET /api/stats failed"
"$PYTHON" - "$T/stats.json" <<'EOF' || fail "/api/stats is not the JSON we want"
import json, sys
s = json.load(open(sys.argv[1]))
c = s["counters"]
assert c["auth_failures"] >= 1, c
assert c["tasks_completed"] >= 1000, c
q = {x["name"]: x for x in s["queues"]}
assert q["parked"]["submitted"] == 25 and q["parked"]["completed"] == 0, q
d = q["default"]  # the batch, and assert_serving's since
assert d["submitted"] >= 1000 and d["completed"] == d["submitted"], q
assert sum(x["submitted"] for x in q.values()) == c["tasks_submitted"], s
assert sum(x["completed"] for x in q.values()) == c["tasks_completed"], s
print("api/stats: valid JSON, %d counters, auth_failures=%d, queues %s"
      % (len(c), c["auth_failures"], ", ".join(
          "%s %d/%d" % (n, x["submitted"], x["completed"])
          for n, x in sorted(q.items()))), file=sys.stderr)
EOF

code=$(curl -s -o /dev/null -w '%{http_code}' "$M/no/such/page")
[ "$code" = 404 ] || fail "an unknown path answered HTTP $code, want 404"
for page in / /metrics /api/stats /healthz; do
	curl -sf "$M$page" | grep >/dev/null -cF "$(cat "$KEY")" &&
	    fail "$page shows the key"
done
assert_serving "the metrics checks"

test_end
