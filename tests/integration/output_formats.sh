# output_formats: what tasq health and tasq stats print for scripts.
# Every --format each one takes is honoured (text, json, jsonl; --json is
# --format json) and any other is refused with exit 2; durations read the
# same in both (up 8m 34s), with raw milliseconds in JSON; health prints
# JSON even when the server cannot be reached; and stats prints how many
# dead letters there are, never one line per dead letter (tasq dead lists
# them), in text and in JSON.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
. "$(dirname "${BASH_SOURCE[0]}")/lib_e2e.sh" || exit 2
test_begin 90

command -v python3 >/dev/null || fail "python3 is needed to check JSON"
ndead=200
lease_ms=$((300 * FACTOR))
start_server --max-attempts 1 --lease "${lease_ms}ms"

# One human form of a duration: "850ms", "34s", "8m 34s", "2h 5m", "3d 4h".
human='([0-9]+ms|[0-9]+s|[0-9]+m [0-9]+s|[0-9]+h [0-9]+m|[0-9]+d [0-9]+h)'

# json_check FILE PYTHON-EXPR: FILE is one JSON object on one line, and
# the expression (over it as j) is true.
json_check() {
	python3 - "$1" "$2" <<'PY' || fail "$1: $2 does not hold: $(cat "$1")"
import json, sys
text = open(sys.argv[1]).read()
assert text.endswith("\n") and text.count("\n") == 1, "not one line"
j = json.loads(text)
assert eval("(" + sys.argv[2] + ")"), sys.argv[2]
PY
}

# health: text, then every JSON spelling.
client health >"$T/h.txt" 2>"$T/h.err" || fail "health: $(cat "$T/h.err")"
grep -qE "^serving: server [^ ]+, up $human\$" "$T/h.txt" ||
    fail "health text: $(cat "$T/h.txt")"
client health --format text >"$T/h2.txt" || fail "health --format text"
grep -qE "^serving: server [^ ]+, up $human\$" "$T/h2.txt" ||
    fail "health --format text: $(cat "$T/h2.txt")"
for f in --json "--format json" "--format jsonl"; do
	# shellcheck disable=SC2086 # two words on purpose
	client health $f >"$T/h.json" 2>"$T/h.err" ||
	    fail "health $f: $(cat "$T/h.err")"
	json_check "$T/h.json" 'j["serving"] is True and
	    isinstance(j["uptime_ms"], int) and j["uptime_ms"] >= 0 and
	    j["version"] != ""'
done
client health --quiet --json >"$T/hq.json" || fail "health --quiet --json"
[ ! -s "$T/hq.json" ] || fail "health --quiet printed: $(cat "$T/hq.json")"

# A server that is not there: exit 1 and still one JSON line on stdout.
timeout -k 5 $((30 * FACTOR)) "$TASQ_CLIENT_BIN" --server "ipc://$T/nobody" \
    --key-file "$KEY" --connect-timeout 200ms --request-timeout 200ms \
    health --json >"$T/hd.json" 2>"$T/hd.err"
[ $? = 1 ] || fail "health of no server: want exit 1: $(cat "$T/hd.err")"
json_check "$T/hd.json" 'j["serving"] is False and j["error"] != ""'

# Dead letters: every task of a job leased once and never handed in.
rs_start
spawn_client "$T/out" "$T/client.log" submit --range "1:$ndead"
pclient=$SPAWNED_PID
wait_until 20 counter_ge tasks_submitted "$ndead" ||
    fail "the client did not submit"
rs_ok lease default "$ndead" 0
rs_want tasks "$ndead" "the one lease"
rs_ok forget
wait_exit "$pclient" 30 || fail "the client did not get its dead letters"
[ "$EXIT_STATUS" = 3 ] || fail "client exited $EXIT_STATUS, want 3"
wait_until 10 counter_ge tasks_dead_lettered "$ndead" ||
    fail "not $ndead dead letters"

client stats >"$T/s.txt" 2>"$T/s.err" || fail "stats: $(cat "$T/s.err")"
grep -qE "^server [^ ]+, up $human\$" "$T/s.txt" ||
    fail "stats: not a human uptime: $(head -n 1 "$T/s.txt")"
grep -qE "^dead letters: $ndead\b" "$T/s.txt" ||
    fail "stats: no dead letter count of $ndead: $(cat "$T/s.txt")"
if grep -qE '^ *job [0-9a-f]{16} task' "$T/s.txt"; then
	fail "stats lists dead letters one per line"
fi
lines=$(wc -l <"$T/s.txt")
[ "$lines" -lt 60 ] || fail "stats printed $lines lines"
# Worker idle times are durations like the uptime.
if grep -q 'IDLE-MS' "$T/s.txt"; then
	fail "stats: a raw millisecond column: $(grep IDLE "$T/s.txt")"
fi
client stats --format text >"$T/s2.txt" || fail "stats --format text"
grep -qE "^dead letters: $ndead\b" "$T/s2.txt" ||
    fail "stats --format text: $(cat "$T/s2.txt")"
for f in --json "--format json" "--format jsonl"; do
	# shellcheck disable=SC2086 # two words on purpose
	client stats $f >"$T/s.json" 2>"$T/s.err" ||
	    fail "stats $f: $(cat "$T/s.err")"
	json_check "$T/s.json" "j['dead_total'] == $ndead and
	    'dead_letters' not in j and isinstance(j['uptime_ms'], int) and
	    j['queues'][0]['dead'] == $ndead and
	    j['counters']['tasks_dead_lettered'] == $ndead"
done

# submit --summary in every format: key=value text, a csv header and row,
# one JSON object for jsonl (and --json); results too with --json.
start_workers -j 1
client submit --summary 1 2 3 >"$T/sum.txt" || fail "submit --summary"
grep -qE '^tasks=3 ok=3 failed=0 sum=14 seconds=' "$T/sum.txt" ||
    fail "submit --summary (text): $(cat "$T/sum.txt")"
client submit --summary --format csv 1 2 3 >"$T/sum.csv" ||
    fail "submit --summary --format csv"
[ "$(head -n 1 "$T/sum.csv")" = "tasks,ok,failed,refused,sum,seconds,rate" ] &&
    sed -n 2p "$T/sum.csv" | grep >/dev/null -cE '^3,3,0,0,14,' ||
    fail "submit --summary --format csv: $(cat "$T/sum.csv")"
for f in --json "--format jsonl"; do
	# shellcheck disable=SC2086 # two words on purpose
	client submit --summary $f 1 2 3 >"$T/sum.json" 2>"$T/sum.err" ||
	    fail "submit --summary $f: $(cat "$T/sum.err")"
	json_check "$T/sum.json" "j['tasks'] == 3 and j['ok'] == 3 and
	    j['failed'] == 0 and j['sum'] == 14 and j['refused'] == 0"
done
client submit --json 5 >"$T/one.json" 2>"$T/one.err" ||
    fail "submit --json: $(cat "$T/one.err")"
json_check "$T/one.json" "j['input'] == 5 and j['result'] == 25"
client submit --json --format csv 5 >"$T/bad.out" 2>"$T/bad.err"
[ $? = 2 ] || fail "submit --json --format csv: not refused"

# A format a command does not have is refused, not ignored.
for cmd in health stats; do
	for f in "--format csv" "--format yaml" "--json --format text"; do
		# shellcheck disable=SC2086 # words on purpose
		client "$cmd" $f >"$T/bad.out" 2>"$T/bad.err"
		st=$?
		[ "$st" = 2 ] || fail "$cmd $f: exit $st, want 2"
		grep -q -- "--format" "$T/bad.err" ||
		    fail "$cmd $f: $(cat "$T/bad.err")"
		[ ! -s "$T/bad.out" ] || fail "$cmd $f printed: $(cat "$T/bad.out")"
	done
done
test_end
