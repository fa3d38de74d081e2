# shard.cli: the tasq tool on several servers (issue 15). Three
# tasq-servers with data dirs on loopback; the tool gets them as a list.
# - tasq stats --all shows each server (its address and identity) after
#   their sum, as text and JSON; with one killed, it still answers and
#   names the one that did not, and fails only when none answers.
# - tasq status of a job id whose tag no server has names the tag.
# - jobs submitted through the list spread over the servers, each job's
#   id naming its server (its tag); results come back in order, exactly
#   once; status and results by id find a job from the list; with one
#   server killed, new jobs avoid it and its job's status names it.
# - a list with an empty item is a usage error (exit 2).
# shellcheck source-path=SCRIPTDIR source=../fault/lib.sh
. "$(dirname "$0")/../fault/lib.sh"
test_begin 90

declare -a PID DATA URLS
start_n() { # start_n I LISTEN
	DATA[$1]=$T/data$1
	LISTEN=$2 START_ATTEMPTS=${3:-1} start_server --data-dir "${DATA[$1]}"
	PID[$1]=$SERVER_PID
	URLS[$1]=$URL
}
start_n 1 tcp://127.0.0.1:0
start_n 2 tcp://127.0.0.1:0
start_n 3 tcp://127.0.0.1:0
LIST="${URLS[1]},${URLS[2]},${URLS[3]}"
log "servers ${PID[*]}: $LIST"
ids=()
for i in 1 2 3; do
	ids[i]=$(cat "${DATA[$i]}/identity")
done

# A job on server 1 only, so that the sum has something to add.
URL=${URLS[1]} CLIENT_TIMEOUT=30 client submit --queue q1 --detach 1 2 3 \
    >"$T/sub.out" 2>"$T/sub.err" || fail "submit: $(cat "$T/sub.err")"

URL=$LIST CLIENT_TIMEOUT=30 client stats --all >"$T/all.txt" 2>"$T/all.err" ||
    fail "stats --all: $(cat "$T/all.err")"
grep -qx "servers: 3, 3 answered" "$T/all.txt" ||
    fail "stats --all: $(head -n 3 "$T/all.txt")"
for i in 1 2 3; do
	grep -qx "== ${URLS[$i]} (identity ${ids[i]})" "$T/all.txt" ||
	    fail "stats --all does not show ${URLS[$i]} (${ids[i]}): $(grep '^==' "$T/all.txt")"
done
awk '/^TOTAL/{t=1; next} t && $1 == "q1" { print $2; exit }' "$T/all.txt" |
    grep >/dev/null -cx 3 || fail "the total of q1 is not 3 ready: $(sed -n '/^TOTAL/,/^workers/p' "$T/all.txt")"

URL=$LIST CLIENT_TIMEOUT=30 client stats --all --json >"$T/all.json" ||
    fail "stats --all --json"
python3 - "$T/all.json" "${ids[1]}" "${ids[2]}" "${ids[3]}" <<'PY' || fail "stats --all --json: $(head -c 400 "$T/all.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["servers"]) == 3, d["servers"]
assert all(s["up"] for s in d["servers"])
assert sorted(s["stats"]["identity"] for s in d["servers"]) == sorted(sys.argv[2:5])
q = {x["name"]: x for x in d["total"]["queues"]}
assert q["q1"]["ready"] == 3, q
PY

# One worker per server (each on its own URL), then jobs through the list.
for i in 1 2 3; do
	URL=${URLS[$i]} start_workers "worker$i" -j 1
done
URL=$LIST CLIENT_TIMEOUT=60 client submit --range 1:2000 >"$T/l.out" \
    2>"$T/l.err" || fail "submit through the list: $(cat "$T/l.err")"
check_squares "$T/l.out" 2000
declare -A on
jobs=()
for k in $(seq 1 12); do
	URL=$LIST CLIENT_TIMEOUT=30 client submit --detach --range "1:$((k * 10))" \
	    >"$T/d$k.out" 2>"$T/d$k.err" || fail "detached submit $k: $(cat "$T/d$k.err")"
	id=$(tr -d ' \n' <"$T/d$k.out")
	[[ $id =~ ^[0-9a-f]{16}$ ]] || fail "detached submit $k printed '$id'"
	jobs[k]=$id
	hit=
	for i in 1 2 3; do
		[ "${id:0:4}" = "${ids[i]:0:4}" ] && hit=$i
	done
	[ -n "$hit" ] || fail "job $id: its tag ${id:0:4} is no server's (${ids[*]})"
	on[$hit]=$((${on[$hit]:-0} + 1))
done
log "12 jobs over the servers: 1:${on[1]:-0} 2:${on[2]:-0} 3:${on[3]:-0}"
[ "${#on[@]}" -ge 2 ] || fail "12 jobs all went to one server"
for k in $(seq 1 12); do
	URL=$LIST CLIENT_TIMEOUT=60 client results --wait "${jobs[k]}" \
	    >"$T/r$k.out" 2>"$T/r$k.err" ||
	    fail "results of ${jobs[k]} through the list: $(cat "$T/r$k.err")"
	check_squares "$T/r$k.out" $((k * 10))
done

# An id whose tag no server has: the error names the tag.
tag=0000
for t in 0001 0002 0003 0004; do
	if ! grep -q "^$t" <(printf '%s\n' "${ids[@]:1}"); then
		tag=$t
		break
	fi
done
URL=$LIST CLIENT_TIMEOUT=30 client status "${tag}00000000abcd" \
    >"$T/st.out" 2>"$T/st.err" && fail "status of an unknown tag succeeded"
grep -qi "tag $tag\|tag 0x$tag" "$T/st.err" ||
    fail "status of tag $tag: $(cat "$T/st.err")"

# One server killed: the others still answer, the dead one is named.
kill -KILL "${PID[2]}"
wait_pid "${PID[2]}" 20 || fail "server 2 does not exit"
URL=$LIST CLIENT_TIMEOUT=30 client stats --all >"$T/all2.txt" 2>"$T/all2.err" ||
    fail "stats --all with one server down: $(cat "$T/all2.err")"
grep -qx "servers: 3, 2 answered" "$T/all2.txt" ||
    fail "stats --all, one down: $(head -n 1 "$T/all2.txt")"
grep -q "^== ${URLS[2]}.*: no answer: " "$T/all2.txt" ||
    fail "stats --all does not say ${URLS[2]} did not answer: $(grep '^==' "$T/all2.txt")"
# New jobs avoid it (a detached job each, so nothing waits on workers).
for k in $(seq 1 9); do
	# --connect-timeout 1s: how long a session waits for the server
	# that is down at open (5 s by default), nine times over.
	URL=$LIST CLIENT_TIMEOUT=30 client --connect-timeout 1s submit --detach 5 \
	    >"$T/n$k.out" 2>"$T/n$k.err" || fail "submit with server 2 down: $(cat "$T/n$k.err")"
	id=$(tr -d ' \n' <"$T/n$k.out")
	[ "${id:0:4}" != "${ids[2]:0:4}" ] || fail "job $id went to the server that is down"
done
# A job of the server that is down: its status names that server.
for k in $(seq 1 12); do
	if [ "${jobs[k]:0:4}" = "${ids[2]:0:4}" ]; then
		URL=$LIST CLIENT_TIMEOUT=30 client status "${jobs[k]}" \
		    >"$T/down.out" 2>"$T/down.err" && fail "status of a job on a server that is down succeeded"
		grep -q "${URLS[2]#tcp://}" "$T/down.err" ||
		    fail "status of ${jobs[k]}: does not name ${URLS[2]}: $(cat "$T/down.err")"
		break
	fi
done

# A list with an empty item is a usage error.
URL="${URLS[1]},,${URLS[3]}" CLIENT_TIMEOUT=30 client health \
    >"$T/bad.out" 2>"$T/bad.err"
rc=$?
[ "$rc" = 2 ] || fail "an empty item: exit $rc, want 2: $(cat "$T/bad.err")"
grep -q "empty" "$T/bad.err" || fail "an empty item: $(cat "$T/bad.err")"
log "ok"
