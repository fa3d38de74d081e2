# monitoring: deploy/prometheus/tasq-alerts.yml and deploy/grafana/tasq.json
# name only metrics that a live server has: a server with --data-dir (the
# journal's metrics) and --metrics-listen runs a small job on a worker,
# then monitoring_check.py reads /metrics, the rule file (YAML, the rule
# file's structure, the alerts deploy/README.md lists) and the dashboard
# (JSON, panels with targets, one charting tasq_queue_latency_seconds by
# queue), and finds every tasq_* name of their expressions among the
# samples. The checker must fail on a /metrics without one of those names
# and on a dashboard without latency per queue (the check can fail). Tasks that fail in a
# second queue show as that queue's failed and retried, in stats --json
# and /metrics, and as its worker's in stats --json (and their rates in
# /api/rates).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 60
command -v curl >/dev/null || fail "curl is needed"
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
check=$top/tests/integration/monitoring_check.py
rules=$top/deploy/prometheus/tasq-alerts.yml
dash=$top/deploy/grafana/tasq.json

# Port 0: the ready file names the port the kernel picked.
start_server --data-dir "$T/data" --metrics-listen http://127.0.0.1:0
M=$METRICS_URL
wait_until 10 curl -sf -o /dev/null "$M/healthz" ||
    fail "no /healthz at $M"
start_workers -j 1
client submit --range 1:100 >"$T/run.out" 2>"$T/run.err" ||
    fail "submit: $(cat "$T/run.err")"
check_squares "$T/run.out" 1 100

# Failures per queue: in queue "other", a handler that fails every
# attempt (exit 1) under --max-attempts 2: each of 2 tasks is retried
# once, then dead-lettered (2 failed, 2 retried); "default" has neither.
start_workers -j 1 --queue other --type bad=exec-each:'echo boom >&2; false'
client submit --queue other --type bad --max-attempts 2 \
    --timeout "$((30 * FACTOR))s" p1 p2 >"$T/bad.out" 2>"$T/bad.err"
rc=$?
[ "$rc" = 3 ] || fail "failing tasks: exit $rc, want 3: $(cat "$T/bad.err")"
client stats --json >"$T/stats.json" || fail "tasq stats --json failed"
python3 -c 'import json, sys
s = json.load(open(sys.argv[1]))
q = {x["name"]: (x["failed"], x["retried"]) for x in s["queues"]}
assert q["other"] == (2, 2) and q["default"] == (0, 0), q
c = s["counters"]
assert (c["tasks_failed"], c["tasks_retried"]) == (2, 2), c' "$T/stats.json" ||
    fail "stats --json, queues failed/retried: $(cat "$T/stats.json")"
# Per worker: the failing worker handed in all of them, the other none.
python3 -c 'import json, sys
s = json.load(open(sys.argv[1]))
w = {}
for x in s["workers"]:
    f, r, d = w.get(x["queue"], (0, 0, 0))
    w[x["queue"]] = (f + x["failed"], r + x["retried"], d + x["completed"])
assert w["other"] == (2, 2, 2) and w["default"] == (0, 0, 100), w' \
    "$T/stats.json" ||
    fail "stats --json, workers failed/retried: $(cat "$T/stats.json")"
# Rates come from two samples of the server's history (one a second):
# wait until they cover the workers.
rates_have_workers() {
	curl -sf "$M/api/rates" >"$T/rates.json" &&
	    python3 -c 'import json, sys
sys.exit(0 if json.load(open(sys.argv[1]))["workers"] else 1)' "$T/rates.json"
}
wait_until 20 rates_have_workers ||
    fail "/api/rates lists no worker: $(cat "$T/rates.json")"
python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
assert r["workers"], r
for x in r["workers"]:
    assert x["fail_rate"] >= 0 and x["retry_rate"] >= 0, x' "$T/rates.json" ||
    fail "/api/rates, workers fail_rate/retry_rate: $(cat "$T/rates.json")"
log "per worker: other's failed 2, retried 2, default's none (stats --json)"
curl -sf "$M/metrics" >"$T/metrics.txt" || fail "GET /metrics failed"
for want in 'tasq_queue_tasks_failed_total{queue="other"} 2' \
    'tasq_queue_tasks_retried_total{queue="other"} 2' \
    'tasq_queue_tasks_failed_total{queue="default"} 0' \
    'tasq_queue_tasks_retried_total{queue="default"} 0' \
    '# TYPE tasq_queue_tasks_failed_total counter' \
    '# TYPE tasq_queue_tasks_retried_total counter'; do
	grep -qxF "$want" "$T/metrics.txt" ||
	    fail "no '$want' in /metrics: $(grep queue_tasks "$T/metrics.txt")"
done
log "per queue: other failed 2, retried 2 (stats --json and /metrics)"
grep -q '^tasq_queue_latency_seconds{queue="default"} ' "$T/metrics.txt" ||
    fail "no tasq_queue_latency_seconds of the default queue in /metrics"

python3 "$check" "$T/metrics.txt" "$rules" "$dash" >"$T/check.out" \
    2>"$T/check.err" || fail "$(cat "$T/check.out" "$T/check.err")"
log "$(cat "$T/check.out")"

# The check can fail: without the latency gauge, or with a rule file
# that is not a rule file.
grep -v '^tasq_queue_latency_seconds' "$T/metrics.txt" >"$T/less.txt"
if python3 "$check" "$T/less.txt" "$rules" "$dash" >/dev/null \
    2>"$T/less.err"; then
	fail "monitoring_check passed without tasq_queue_latency_seconds"
fi
grep -q 'tasq_queue_latency_seconds is not in /metrics' "$T/less.err" ||
    fail "monitoring_check did not name the missing metric: $(cat "$T/less.err")"
printf 'groups:\n  - name: x\n    rules:\n      - alert: A\n' >"$T/bad.yml"
if python3 "$check" "$T/metrics.txt" "$T/bad.yml" "$dash" >/dev/null \
    2>"$T/bad.err"; then
	fail "monitoring_check passed a rule without expr"
fi
grep -q 'A: no expr' "$T/bad.err" || fail "bad.yml: $(cat "$T/bad.err")"
# Nor a Grafana dashboard without queue latency per queue.
python3 - "$dash" "$T/nolat.json" <<'EOF' || fail "cannot write nolat.json"
import json, sys
d = json.load(open(sys.argv[1]))
for p in d["panels"]:
    for t in p.get("targets", []):
        if "tasq_queue_latency_seconds" in t.get("expr", ""):
            t["expr"] = "max(tasq_queue_latency_seconds)"
            t["legendFormat"] = "latency"
json.dump(d, open(sys.argv[2], "w"))
EOF
if python3 "$check" "$T/metrics.txt" "$rules" "$T/nolat.json" >/dev/null \
    2>"$T/nolat.err"; then
	fail "monitoring_check passed a dashboard without latency per queue"
fi
grep -q 'no panel of queue latency per queue' "$T/nolat.err" ||
    fail "nolat.json: $(cat "$T/nolat.err")"
log "the checker refuses a /metrics without the latency gauge, a rule" \
    "without expr and a dashboard without latency per queue"
test_end
