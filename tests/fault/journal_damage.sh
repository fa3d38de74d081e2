# journal_damage: a data directory with queued tasks (no workers; the
# server killed with SIGKILL), then damaged copies of it:
#  a) the journal cut in the middle of its last record (a torn write):
#     the server starts, warns about the torn record, truncates the file
#     there, and holds every task but the torn batch; a worker then
#     completes exactly those;
#  b) one byte flipped in a record in the middle: the server refuses to
#     start, exiting non-zero, and its error names the file, the offset
#     of the damaged record and --recover-truncate; with
#     --recover-truncate it starts with the batches before the damage;
#  c) an empty (0-byte) journal file: the server starts, empty;
#  d) a zero-filled tail (space allocated, never written): the server
#     starts, warns, and keeps every task;
#  e) one byte flipped in the length field of a record in the middle (so
#     that it points past the end of the file): still damage in the
#     middle, with acknowledged records after it, so the server must
#     refuse to start as in b), not take it for a torn tail.
# Problems are collected, so that one failing case does not hide the
# others; the test fails at the end if there were any.
. "$(dirname "$0")/lib.sh"
test_begin 120

N=1000
BATCH=100
JNAME=journal-0000000000000000.log
problems=()

# records FILE: "offset length" of every record (length: of type and
# payload, as in the 4-byte big-endian length field).
records() {
	local f=$1 off=16 size len
	size=$(stat -c %s "$f")
	while ((off + 8 <= size)); do
		len=$(od -An -tu1 -j "$off" -N 4 "$f" |
		    awk '{ print (($1 * 256 + $2) * 256 + $3) * 256 + $4 }')
		echo "$off $len"
		off=$((off + 8 + len))
	done
}

# flip FILE OFFSET: inverts the bits of one byte.
flip() {
	local b
	b=$(od -An -tu1 -j "$2" -N 1 "$1" | tr -d ' ')
	printf '%b' "\\$(printf '%03o' $((b ^ 255)))" |
	    dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# ---- the data directory ----------------------------------------------------

start_server --data-dir "$T/data"
start_submit queued --range "1:$N" --batch-size "$BATCH"
QUEUED=$SPAWNED_PID
poll_until 30 "$N ready tasks" stat_is ready "$N"
kill_server KILL
kill_spawned "$QUEUED"
cp -a "$T/data" "$T/pristine"
rm -f "$T/pristine/lock"
mapfile -t recs < <(records "$T/pristine/$JNAME")
((${#recs[@]} == N / BATCH)) ||
    fail "expected $((N / BATCH)) records, found ${#recs[@]}"
log "journal of ${#recs[@]} records, $(stat -c %s "$T/pristine/$JNAME") bytes"

# fresh NAME: a copy of the pristine data directory.
fresh() {
	rm -rf "${T:?}/$1"
	cp -a "$T/pristine" "$T/$1"
}

# ---- a) torn last record ----------------------------------------------------

fresh torn
read -r last_off last_len <<<"${recs[-1]}"
truncate -s $((last_off + 8 + last_len / 2)) "$T/torn/$JNAME"
LISTEN='' start_server --data-dir "$T/torn"
grep -q "torn record at offset $last_off" "$SERVER_LOG" ||
    fail "no warning about the torn record at offset $last_off"
size=$(stat -c %s "$T/torn/$JNAME")
((size == last_off)) || fail "torn journal is $size bytes, not $last_off"
want=$((N - BATCH))
[ "$(stat_num ready)" = "$want" ] ||
    fail "after the torn tail: ready $(stat_num ready), expected $want"
[ "$(stat_num jobs)" = 1 ] || fail "the job is gone"
start_workers w_torn -j 1
poll_until 30 "$want results" stat_is results "$want"
s=$(stats_json)
if [ "$(json_num "$s" ready)" != 0 ] || [ "$(json_num "$s" leased)" != 0 ] ||
    [ "$(json_num "$s" tasks_completed)" != "$want" ]; then
	fail "inconsistent counts after the torn tail: $s"
fi
kill_spawned "$SPAWNED_PID"
kill_server TERM
log "a) torn tail: started, truncated at $last_off, $want tasks done"

# ---- b) a flipped byte in the middle ----------------------------------------

fresh flipped
mid=$((${#recs[@]} / 2))
read -r mid_off mid_len <<<"${recs[mid]}"
flip "$T/flipped/$JNAME" $((mid_off + 8 + mid_len / 2))
before=$(stat -c %s "$T/flipped/$JNAME")
spawn refused "$TASQ_SERVER_BIN" --listen tcp://127.0.0.1:0 \
    --key-file "$KEY" --data-dir "$T/flipped"
wait_pid "$SPAWNED_PID" 15 ||
    fail "the server did not stop on a corrupt journal in $(secs 15) s"
((WAIT_STATUS != 0)) || fail "the server exited 0 on a corrupt journal"
err=$(cat "$T/refused.err")
for want in "$T/flipped/$JNAME" "offset $mid_off" "--recover-truncate"; do
	grep -qF -- "$want" <<<"$err" || fail "the error lacks '$want': $err"
done
(($(stat -c %s "$T/flipped/$JNAME") == before)) ||
    fail "the server changed the corrupt journal without --recover-truncate"
log "b) corrupt middle: refused (exit $WAIT_STATUS):" \
    "$(grep -o 'error: .*' "$T/refused.err" | cut -c1-160)..."
LISTEN='' start_server --data-dir "$T/flipped" --recover-truncate
grep -q "corrupt record at offset $mid_off" "$SERVER_LOG" ||
    fail "no warning about truncating at offset $mid_off"
want=$((mid * BATCH))
[ "$(stat_num ready)" = "$want" ] ||
    fail "with --recover-truncate: ready $(stat_num ready), expected $want"
kill_server TERM
log "b) --recover-truncate: started with the $want tasks before the damage"

# ---- c) an empty journal ----------------------------------------------------

mkdir "$T/empty"
: >"$T/empty/$JNAME"
LISTEN='' start_server --data-dir "$T/empty"
[ "$(stat_num ready)" = "" ] || [ "$(stat_num ready)" = 0 ] ||
    fail "an empty journal produced tasks"
client submit --range 1:10 --timeout 1s >/dev/null 2>&1 # queues 10 more
kill_server KILL
LISTEN='' start_server --data-dir "$T/empty"
[ "$(stat_num ready)" = 10 ] ||
    fail "tasks queued after an empty journal were not kept"
kill_server TERM
log "c) empty journal: started; later records kept"

# ---- d) a zero-filled tail --------------------------------------------------

fresh zeros
size=$(stat -c %s "$T/zeros/$JNAME")
head -c 4096 /dev/zero >>"$T/zeros/$JNAME"
LISTEN='' start_server --data-dir "$T/zeros"
grep -q "torn record at offset $size" "$SERVER_LOG" ||
    fail "no warning about the zero-filled tail at $size"
[ "$(stat_num ready)" = "$N" ] || fail "zero tail: ready $(stat_num ready)"
kill_server TERM
log "d) zero-filled tail: started with all $N tasks"

# ---- e) a flipped length byte in the middle ---------------------------------

fresh length
flip "$T/length/$JNAME" "$mid_off" # the high byte of the record's length
spawn refused2 "$TASQ_SERVER_BIN" --listen tcp://127.0.0.1:0 \
    --key-file "$KEY" --data-dir "$T/length" --ready-file "$T/length.ready"
REFUSED2=$SPAWNED_PID
exited_or_ready() {
	! alive "$REFUSED2" || [ -s "$T/length.ready" ]
}
poll_until 15 "the server to exit or serve" exited_or_ready
if alive "$REFUSED2"; then
	problems+=("e) a corrupt length field in record $((mid + 1)) of \
${#recs[@]} (offset $mid_off) was taken for a torn tail: the server \
started and cut the journal to $(stat -c %s "$T/length/$JNAME") bytes, \
dropping $((${#recs[@]} - mid)) acknowledged batches (the damaged one \
and every one after it): \
$(grep -o 'warn: .*' "$T/refused2.err" | head -n 1)")
	kill_spawned "$REFUSED2"
else
	wait_pid "$REFUSED2" 5
	grep -qF "offset $mid_off" "$T/refused2.err" ||
	    problems+=("e) refused, but without the offset: \
$(cat "$T/refused2.err")")
	log "e) corrupt length in the middle: refused"
fi

for p in "${problems[@]}"; do
	log "problem: $p"
done
((${#problems[@]} == 0)) || fail "${#problems[@]} problem(s)"
log "ok"
