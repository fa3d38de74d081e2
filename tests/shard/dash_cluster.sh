# shard.dash_cluster: the dashboard and the tool across servers (issue
# 15). Three tasq-servers on loopback; server 1 serves the dashboard
# (--metrics-listen) and knows the cluster (--peers, all three).
# - /api/stats on server 1 carries "cluster": every server (url,
#   identity, up) and the sum of the jobs placed on each of the three.
# - tasq jobs --server A,B,C lists the jobs of all three.
# - tasq dead list --server A,B,C lists the dead letters of all three,
#   each id naming its server (its tag); show, purge and retry by those
#   ids reach the right server; purge --all purges on every server.
# - with server 3 killed, /api/stats still answers at once and shows it
#   down with the reason, the sum without it; the page still loads;
#   tasq jobs and dead list still answer, naming it in a warning.
# shellcheck source-path=SCRIPTDIR source=cluster.sh
. "$(dirname "$0")/cluster.sh" || exit 2
test_begin 90

start_n 2 tcp://127.0.0.1:0 --max-attempts 1
start_n 3 tcp://127.0.0.1:0 --max-attempts 1
# Server 1's own address goes into its --peers: a port chosen first.
p1=$(free_port)
LIST="tcp://127.0.0.1:$p1,${URLS[2]},${URLS[3]}"
start_n 1 "tcp://127.0.0.1:$p1" --max-attempts 1 \
    --metrics-listen "http://127.0.0.1:0" --peers "$LIST" \
    --peers-refresh 300ms
mport=${MPORT[1]}
[ -n "$mport" ] || fail "server 1's ready file names no metrics port"
log "servers ${PID[*]}: $LIST, dashboard on port $mport"
ids=("" "$(cat "$T/data1/identity")" "$(cat "$T/data2/identity")" \
    "$(cat "$T/data3/identity")")

# One detached job on each server, of 1, 2 and 3 tasks (queue dq, which
# no worker takes): 6 ready in all.
declare -a JOB
for i in 1 2 3; do
	URL=${URLS[$i]} CLIENT_TIMEOUT=30 client submit --queue dq --detach \
	    $(seq 1 "$i") >"$T/sub$i.out" 2>"$T/sub$i.err" ||
	    fail "submit on server $i: $(cat "$T/sub$i.err")"
	JOB[i]=$(tr -d ' \n' <"$T/sub$i.out")
done
log "jobs ${JOB[*]}"

api() { # api PATH: GET within 2 s (scaled), the body on stdout
	curl -sf --max-time "$(secs 2)" "http://127.0.0.1:$mport$1"
}
# (python's asserts go to $T/assert, shown when a poll gives up)
# cluster_is READY UP... : /api/stats's cluster has the three servers
# (identities ids[1..3]) with these up states, and dq's total ready.
cluster_is() {
	api /api/stats >"$T/stats.json" 2>/dev/null || return 1
	python3 - "$T/stats.json" "$@" "${ids[1]}" "${ids[2]}" "${ids[3]}" \
	    "${URLS[3]}" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
ready, up = int(sys.argv[2]), [x == "up" for x in sys.argv[3:6]]
want_ids, url3 = sys.argv[6:9], sys.argv[9]
c = d["cluster"]
s = c["servers"]
assert len(s) == 3, s
by = {x["identity"]: x for x in s}
assert sorted(by) == sorted(want_ids), (sorted(by), want_ids)
for i, want in zip(want_ids, up):
    assert by[i]["up"] == want, (i, by[i])
    if not want:
        assert by[i]["url"] == url3 and by[i]["error"], by[i]
q = {x["name"]: x for x in c["total"]["queues"]}
assert q.get("dq", {}).get("ready") == ready, c["total"]
assert c["age_ms"] < 10000, c
PY
} 2>"$T/assert"
harness_poll "$(secs 20)" cluster_is 6 up up up ||
    fail "/api/stats: no cluster of 3 up with 6 ready: $(tail -n 1 "$T/assert"): $(head -c 600 "$T/stats.json")"
log "/api/stats: 3 servers up, 6 ready in all"

# The job list of every server.
URL=$LIST CLIENT_TIMEOUT=30 client jobs >"$T/jobs.out" 2>"$T/jobs.err" ||
    fail "jobs --server LIST: $(cat "$T/jobs.err")"
for i in 1 2 3; do
	grep -q "^${JOB[$i]} " "$T/jobs.out" ||
	    fail "jobs --server LIST misses server $i's job ${JOB[$i]}: $(cat "$T/jobs.out")"
done
[ -s "$T/jobs.err" ] && fail "jobs with every server up warned: $(cat "$T/jobs.err")"

# One dead letter on each server: a worker of the list whose handler
# fails, a one-attempt task submitted to each server.
URL=$LIST start_workers worker -j 1 --type bad=exec-each:"test -e $T/fixed && cat"
for i in 1 2 3; do
	URL=${URLS[$i]} CLIENT_TIMEOUT=60 client submit --type bad \
	    --max-attempts 1 "x$i" >"$T/bad$i.out" 2>"$T/bad$i.err"
	rc=$?
	[ "$rc" = 3 ] || fail "a failing task on server $i: exit $rc: $(cat "$T/bad$i.err")"
done
URL=$LIST client dead list >"$T/dead.out" 2>"$T/dead.err" ||
    fail "dead list --server LIST: $(cat "$T/dead.err")"
log "dead list: $(cat "$T/dead.out")"
declare -a LETTER
for i in 1 2 3; do
	# An id names its server: tag << 48 | the server's own id.
	LETTER[i]=$(awk -v t="${TAG[$i]}" 'NR > 1 {
	    if (sprintf("%04x", int($1 / 281474976710656)) == t) print $1 }' \
	    "$T/dead.out")
	[ -n "${LETTER[$i]}" ] ||
	    fail "dead list: no letter of server $i (tag ${TAG[$i]}): $(cat "$T/dead.out")"
done
URL=$LIST client dead show "${LETTER[3]}" >"$T/show.out" ||
    fail "dead show ${LETTER[3]}"
grep -qx 'x3' "$T/show.out" || fail "dead show ${LETTER[3]}: $(cat "$T/show.out")"
URL=$LIST client dead purge "${LETTER[2]}" | grep >/dev/null -cx 'purged 1' ||
    fail "purge ${LETTER[2]} (server 2's)"
[ "$(URL=${URLS[2]} client dead list | wc -l)" = 1 ] ||
    fail "server 2 still holds its letter"
[ "$(URL=${URLS[3]} client dead list | wc -l)" = 2 ] ||
    fail "server 3's letter was purged by server 2's id"
# Retry by id: the handler works now; the letter's payload runs again
# (as a new job, wherever it is placed) and the letter goes from server 1.
: >"$T/fixed"
URL=$LIST CLIENT_TIMEOUT=60 client dead retry "${LETTER[1]}" >"$T/retry.out" \
    2>"$T/retry.err" || fail "dead retry ${LETTER[1]}: $(cat "$T/retry.err")"
[ "$(cat "$T/retry.out")" = "${LETTER[1]} x1" ] ||
    fail "dead retry ${LETTER[1]} printed: $(cat "$T/retry.out")"
[ "$(URL=${URLS[1]} client dead list | wc -l)" = 1 ] ||
    fail "server 1 still holds the retried letter"
URL=$LIST client dead purge --all | grep >/dev/null -cx 'purged 1' ||
    fail "purge --all on the list"
log "dead letters: listed, shown, purged, retried across the servers"
[ "$(URL=$LIST client dead list | wc -l)" = 1 ] || fail "letters left"

# Server 3 killed: the page and /api/stats still answer, at once.
kill -KILL "${PID[3]}"
wait_pid "${PID[3]}" 20 2>/dev/null || fail "server 3 does not exit"
harness_poll "$(secs 20)" cluster_is 3 up up down ||
    fail "/api/stats: server 3 not shown down: $(tail -n 1 "$T/assert"): $(head -c 600 "$T/stats.json")"
log "/api/stats: server 3 down: $(python3 -c 'import json, sys
print([s.get("error") for s in json.load(open(sys.argv[1]))["cluster"]["servers"] if not s["up"]])' "$T/stats.json")"
api / >"$T/page.html" || fail "the page does not load"
grep -q '<title>tasq dashboard</title>' "$T/page.html" || fail "not the page"
URL=$LIST CLIENT_TIMEOUT=30 client jobs >"$T/jobs2.out" 2>"$T/jobs2.err" ||
    fail "jobs with server 3 down failed: $(cat "$T/jobs2.err")"
grep -q "^${JOB[1]} " "$T/jobs2.out" && grep -q "^${JOB[2]} " "$T/jobs2.out" ||
    fail "jobs with server 3 down: $(cat "$T/jobs2.out")"
grep -q "warning: .*${URLS[3]}" "$T/jobs2.err" ||
    fail "jobs does not name the server down: $(cat "$T/jobs2.err")"
URL=$LIST client dead list >/dev/null 2>"$T/dead2.err" ||
    fail "dead list with server 3 down failed: $(cat "$T/dead2.err")"
grep -q "warning: .*${URLS[3]}" "$T/dead2.err" ||
    fail "dead list does not name the server down: $(cat "$T/dead2.err")"
log "ok"
