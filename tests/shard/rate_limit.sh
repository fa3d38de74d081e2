# shard.rate_limit: the simulated LAN of netns.sh limits a host's link as
# the sharding benchmarks need (issue 15: one server network-bound). A
# server on host 1, a client on host 2 and a worker on host 3 run a job
# of large payloads (type sha256) twice: with no limit, then with host 1's
# link at RATE (tc tbf, both ways). Every payload crosses host 1's link
# twice (client -> server, server -> worker), once each way, so the job
# cannot take less than BYTES*8/RATE. Checks: the limited run's
# throughput through the server stays under the link's rate (within the
# tbf burst), the unlimited run was faster than the link (so the limit is
# what binds), and both jobs' results are complete and right.
. "$(dirname "${BASH_SOURCE[0]}")/netns.sh" || exit 2
test_begin 180

rate_mbit=40
n=$((320 / SCALE))
((n >= 32)) || n=32
len=32768 # bytes per payload (hex text)

lan_up 3
lan_server 1
lan_spawn 3 worker.log "$TASQ_WORKER_BIN" --server "${LAN_URL[1]}" \
    --key-file "$KEY" -j 2 --type sha256=builtin:sha256
python3 - "$T/payloads" "$n" "$len" <<'PY' || fail "cannot write the payloads"
import hashlib, os, sys
path, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path, "w") as f, open(path + ".want", "w") as w:
    for i in range(n):
        p = os.urandom(size // 2).hex()
        f.write(p + "\n")
        w.write(hashlib.sha256(p.encode()).hexdigest() + "\n")
PY
bytes=$(python3 -c "print($n * $len)")

# run NAME: the job from host 2; sets MBIT (payload Mbit/s through the
# server) and MS; checks every result.
run() {
	local t0 t1
	t0=$(date +%s%N)
	lan_exec 2 timeout -k 5 $((120 * FACTOR)) "$TASQ_CLIENT_BIN" \
	    --server "${LAN_URL[1]}" --key-file "$KEY" submit --type sha256 \
	    --file "$T/payloads" >"$T/out.$1" 2>"$T/client.$1.log" ||
	    fail "the $1 job failed: $(tail -3 "$T/client.$1.log")"
	t1=$(date +%s%N)
	MS=$(((t1 - t0) / 1000000))
	cmp -s "$T/out.$1" "$T/payloads.want" ||
	    fail "the $1 job's results are not the payloads' digests in order"
	MBIT=$(python3 -c "print('%.1f' % ($bytes * 8 / 1e6 / ($MS / 1000)))")
	log "$1: $n payloads of $len bytes ($bytes bytes) in $MS ms: $MBIT Mbit/s"
}

run unlimited
free_mbit=$MBIT
lan_rate 1 "${rate_mbit}mbit"
log "host 1's link limited to $rate_mbit Mbit/s both ways"
run limited
lim_mbit=$MBIT
lim_ms=$MS

# The floor: the payloads at the link's rate, less what the bucket lets
# through at once (256 KB per direction).
floor_ms=$(python3 -c "print(int(($bytes - 262144) * 8 / ($rate_mbit * 1e6) * 1000))")
((lim_ms >= floor_ms)) ||
    fail "the limited job took $lim_ms ms, less than the link allows ($floor_ms ms): the limit does not bind"
python3 -c "import sys; sys.exit(0 if $free_mbit > 1.5 * $rate_mbit else 1)" ||
    fail "unlimited, the job ran at only $free_mbit Mbit/s: too slow to show a $rate_mbit Mbit/s limit"
log "limited $lim_mbit Mbit/s <= link $rate_mbit Mbit/s < unlimited $free_mbit Mbit/s"
test_end
