# handler_sha256: every handler kind computes the SHA-256 of 1,000,000
# 64-byte records (tasq submit --type sha256), and the output is
# byte-identical to a local reference, in input order: builtin:sha256,
# exec: with the C example, exec: with the Python example, plugin: with
# the C example, and exec-each: (a process per task: 3,000 records, or
# TASQ_TEST_EACH_RECORDS: 10,000 took over the client's 120 s on a loaded
# CI machine, about 16 ms a task; the whole million by hand takes about
# 20 min).
# TASQ_TEST_SCALE divides the counts.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 600
: "${TASQ_TEST_EXEC_SHA256:?set by CMake}" "${TASQ_TEST_PLUGIN_SHA256:?}"
: "${TASQ_TEST_EXAMPLES_DIR:?}"

n=$((1000000 / SCALE))
n_each=${TASQ_TEST_EACH_RECORDS:-$((3000 / SCALE))}
# Distinct printable 64-byte records, one a line.
awk -v n="$n" 'BEGIN { for (i = 1; i <= n; i++) printf("rec%061d\n", i) }' \
    >"$T/records"
head -n "$n_each" "$T/records" >"$T/records.each"
python3 - "$T/records" "$T/ref" <<'PY' || fail "reference failed"
import hashlib, sys
with open(sys.argv[1], "rb") as f, open(sys.argv[2], "wb") as o:
    for line in f:
        o.write(hashlib.sha256(line.rstrip(b"\n")).hexdigest().encode() + b"\n")
PY
head -n "$n_each" "$T/ref" >"$T/ref.each"

start_server

# run_kind NAME HANDLER RECORDS REF: a worker serving sha256 with HANDLER
# computes RECORDS; the output must be REF exactly.
run_kind() {
	local name=$1 handler=$2 records=$3 ref=$4 t0 t1
	start_workers -j 2 --type "sha256=$handler"
	local sup=$SPAWNED_PID
	t0=$(now_ms)
	client submit --type sha256 --file "$records" >"$T/out.$name" \
	    2>"$T/client.$name.log" ||
	    fail "$name: submit exited $?: $(tail -n 5 "$T/client.$name.log")"
	t1=$(now_ms)
	if ! cmp "$T/out.$name" "$ref"; then
		diff "$T/out.$name" "$ref" | head -n 10 >&2
		fail "$name: output differs from the reference"
	fi
	log "$name: $(wc -l <"$ref") records in $((t1 - t0)) ms, identical"
	stop "$sup" 30
	[ "$EXIT_STATUS" = 0 ] || fail "$name: worker exited $EXIT_STATUS"
}

run_kind builtin builtin:sha256 "$T/records" "$T/ref"
run_kind exec-c "exec:$TASQ_TEST_EXEC_SHA256" "$T/records" "$T/ref"
run_kind exec-py "exec:python3 $TASQ_TEST_EXAMPLES_DIR/exec_sha256.py" \
    "$T/records" "$T/ref"
run_kind plugin "plugin:$TASQ_TEST_PLUGIN_SHA256" "$T/records" "$T/ref"
run_kind exec-each "exec-each:sha256sum | head -c 64" "$T/records.each" \
    "$T/ref.each"

test_end
