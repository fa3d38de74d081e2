# shard.lan_aggregate: three servers on three rate-limited LAN hosts carry
# about three times what one carries (issue 15's check, before the
# programs shard: here each server has a client and a worker of its own,
# so the test measures the simulated LAN, not placement). Hosts 1-3 each
# run a server, their links at RATE both ways (netns.sh, tc tbf); hosts
# 4-6 a client each and hosts 7-9 a worker each (sha256), on unlimited
# links. One job on server 1 alone gives the one-server throughput; then
# three jobs at once, one per server, the aggregate. Checks: every
# result right and in order, the one-server run network-bound (under the
# link's rate), and the aggregate >= 2.5 x the one-server throughput.
# When clients and workers shard, this is where one client and one set
# of workers over the three servers replace the per-server pairs.
. "$(dirname "${BASH_SOURCE[0]}")/netns.sh" || exit 2
test_begin 240

rate_mbit=40
n=$((320 / SCALE))
((n >= 32)) || n=32
len=32768

lan_up 9 "${rate_mbit}mbit"
for i in 4 5 6 7 8 9; do lan_rate "$i" none; done
for i in 1 2 3; do
	lan_server "$i"
	lan_spawn $((i + 6)) "worker-$i.log" "$TASQ_WORKER_BIN" \
	    --server "${LAN_URL[i]}" --key-file "$KEY" -j 2 \
	    --type sha256=builtin:sha256
done
python3 - "$T/payloads" "$n" "$len" <<'PY' || fail "cannot write the payloads"
import hashlib, os, sys
path, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path, "w") as f, open(path + ".want", "w") as w:
    for i in range(n):
        p = os.urandom(size // 2).hex()
        f.write(p + "\n")
        w.write(hashlib.sha256(p.encode()).hexdigest() + "\n")
PY
bytes=$((n * len))

# job I NAME: a job of the payloads to server I from host I+3, in the
# background; its pid in JOB_PID.
job() {
	lan_exec $(($1 + 3)) timeout -k 5 $((120 * FACTOR)) "$TASQ_CLIENT_BIN" \
	    --server "${LAN_URL[$1]}" --key-file "$KEY" submit --type sha256 \
	    --file "$T/payloads" >"$T/out.$2" 2>"$T/client.$2.log" &
	JOB_PID=$!
}
check_job() {
	cmp -s "$T/out.$1" "$T/payloads.want" ||
	    fail "job $1: the results are not the payloads' digests in order ($(tail -2 "$T/client.$1.log"))"
}
mbit() { python3 -c "print('%.1f' % ($1 * 8 / 1e6 / ($2 / 1000)))"; }

# Warm-up (not measured): every worker connected and leasing.
for i in 1 2 3; do
	lan_exec $((i + 3)) timeout -k 5 $((60 * FACTOR)) "$TASQ_CLIENT_BIN" \
	    --server "${LAN_URL[i]}" --key-file "$KEY" submit --type sha256 \
	    --summary a b c >"$T/warm" 2>&1 ||
	    fail "the warm-up job on server $i failed: $(cat "$T/warm")"
done

t0=$(date +%s%N)
job 1 one
wait "$JOB_PID" || fail "the one-server job failed: $(tail -3 "$T/client.one.log")"
one_ms=$((($(date +%s%N) - t0) / 1000000))
check_job one
one=$(mbit "$bytes" "$one_ms")
log "one server: $bytes bytes in $one_ms ms: $one Mbit/s (link $rate_mbit)"
python3 -c "import sys; sys.exit(0 if $one <= $rate_mbit else 1)" ||
    fail "one server ran at $one Mbit/s, over its $rate_mbit Mbit/s link"

t0=$(date +%s%N)
pids=()
for i in 1 2 3; do
	job "$i" "three-$i"
	pids+=("$JOB_PID")
done
for i in 1 2 3; do
	wait "${pids[i - 1]}" || fail "job three-$i failed: $(tail -3 "$T/client.three-$i.log")"
done
three_ms=$((($(date +%s%N) - t0) / 1000000))
for i in 1 2 3; do check_job "three-$i"; done
three=$(mbit $((3 * bytes)) "$three_ms")
ratio=$(python3 -c "print('%.2f' % ($three / $one))")
log "three servers: $((3 * bytes)) bytes in $three_ms ms: $three Mbit/s, ${ratio}x one"
python3 -c "import sys; sys.exit(0 if $ratio >= 2.5 else 1)" ||
    fail "three servers gave ${ratio}x one server's throughput, want >= 2.5x"
test_end
