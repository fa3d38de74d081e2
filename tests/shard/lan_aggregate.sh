# shard.lan_aggregate: three servers on three rate-limited LAN hosts carry
# about three times what one carries, through sharding (issue 15's
# check): the clients and the workers are given the server LIST and the
# library places each job (rendezvous on the servers' identities) and
# leases from every server. Hosts 1-3 each run a server, their links at
# RATE both ways (netns.sh, tc tbf); hosts 4-6 run the clients and hosts
# 7-9 a worker each (sha256, -j 2, --server LIST), on unlimited links.
# The clients are closed loops: C loops each submit a job of M payloads
# of 32 KiB and wait for its results, then the next. One server: the
# loops use server 1's URL alone, J jobs each. Three servers: the loops
# use the list, 3J jobs each (three times the bytes); with C = 12 loops
# in flight a server is seldom without a job, so placement by job
# averages out. Checks: every job's results right and in order (exactly
# once), the one-server run network-bound (under the link's rate), and
# the aggregate >= 2.5 x the one-server throughput, measured in the same
# run.
# Open (label open-bug, 2026-12-06): it measures 1.94x (12 loops of 8
# payloads: jobs spread 229/200/219) and 2.13x (12 loops of 32: jobs
# spread 99/72/45 of 216, four standard deviations from even), so the
# placement of short-lived tool sessions on loaded servers is skewed;
# and each job pays a session open (three dials and Health probes).
. "$(dirname "${BASH_SOURCE[0]}")/netns.sh" || exit 2
test_begin 300

rate_mbit=40
loops=12
m=32
len=32768
jobs1=$((6 / SCALE))
((jobs1 >= 2)) || jobs1=2

lan_up 9 "${rate_mbit}mbit"
for i in 4 5 6 7 8 9; do lan_rate "$i" none; done
for i in 1 2 3; do
	lan_server "$i"
done
LIST="${LAN_URL[1]},${LAN_URL[2]},${LAN_URL[3]}"
for i in 1 2 3; do
	lan_spawn $((i + 6)) "worker-$i.log" "$TASQ_WORKER_BIN" \
	    --server "$LIST" --key-file "$KEY" -j 2 \
	    --type sha256=builtin:sha256
done
python3 - "$T/payloads" "$m" "$len" <<'PY' || fail "cannot write the payloads"
import hashlib, os, sys
path, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path, "w") as f, open(path + ".want", "w") as w:
    for i in range(n):
        p = os.urandom(size // 2).hex()
        f.write(p + "\n")
        w.write(hashlib.sha256(p.encode()).hexdigest() + "\n")
PY
mbit() { python3 -c "print('%.1f' % ($1 * 8 / 1e6 / ($2 / 1000)))"; }

# loop K SERVER NJOBS: client loop K (on host 4-6) runs NJOBS jobs one
# after the other against SERVER, each checked; exits non-zero on the
# first failure, naming it in $T/loop-K.err.
cat >"$T/loop.sh" <<'SH'
k=$1 server=$2 njobs=$3 T=$4 client=$5 key=$6 tmo=$7
for j in $(seq 1 "$njobs"); do
	timeout -k 5 "$tmo" "$client" --server "$server" --key-file "$key" \
	    submit --type sha256 --file "$T/payloads" >"$T/out.$k" 2>"$T/loop-$k.log" || {
		echo "job $j: exit $?: $(tail -2 "$T/loop-$k.log")" >"$T/loop-$k.err"
		exit 1
	}
	cmp -s "$T/out.$k" "$T/payloads.want" || {
		echo "job $j: results not the digests in order" >"$T/loop-$k.err"
		exit 1
	}
done
SH
run_loops() { # run_loops SERVER NJOBS NAME: all loops at once; sets RUN_MS
	local server=$1 njobs=$2 name=$3 t0 pids=() k
	t0=$(date +%s%N)
	for k in $(seq 1 "$loops"); do
		lan_exec $((k % 3 + 4)) bash "$T/loop.sh" "$k" "$server" "$njobs" \
		    "$T" "$TASQ_CLIENT_BIN" "$KEY" $((120 * FACTOR)) &
		pids+=($!)
	done
	for k in $(seq 1 "$loops"); do
		wait "${pids[k - 1]}" ||
		    fail "$name: client loop $k: $(cat "$T/loop-$k.err" 2>/dev/null)"
	done
	RUN_MS=$((($(date +%s%N) - t0) / 1000000))
}

# Warm-up: a job through the list, so every server and worker is up.
lan_exec 4 timeout -k 5 $((60 * FACTOR)) "$TASQ_CLIENT_BIN" \
    --server "$LIST" --key-file "$KEY" submit --type sha256 --summary a b c \
    >"$T/warm" 2>&1 || fail "the warm-up job failed: $(cat "$T/warm")"

bytes1=$((loops * jobs1 * m * len))
run_loops "${LAN_URL[1]}" "$jobs1" "one server"
one_ms=$RUN_MS
one=$(mbit "$bytes1" "$one_ms")
log "one server: $((loops * jobs1)) jobs, $bytes1 bytes in $one_ms ms: $one Mbit/s (link $rate_mbit)"
python3 -c "import sys; sys.exit(0 if $one <= $rate_mbit else 1)" ||
    fail "one server ran at $one Mbit/s, over its $rate_mbit Mbit/s link"

run_loops "$LIST" $((3 * jobs1)) "three servers"
three_ms=$RUN_MS
three=$(mbit $((3 * bytes1)) "$three_ms")
ratio=$(python3 -c "print('%.2f' % ($three / $one))")
# How the jobs spread: each server's completed tasks (stats --all).
lan_exec 4 "$TASQ_CLIENT_BIN" --server "$LIST" --key-file "$KEY" stats --all \
    >"$T/all.txt" 2>&1 || fail "stats --all: $(cat "$T/all.txt")"
log "three servers: $((3 * loops * jobs1)) jobs, $((3 * bytes1)) bytes in $three_ms ms: $three Mbit/s, ${ratio}x one (one server: $one Mbit/s)"
log "per server (QUEUE ... COMPLETED): $(awk '/^== /{s=$2} /^default /{if (s) print s, $8}' "$T/all.txt" | tr '\n' ' ')"
python3 -c "import sys; sys.exit(0 if $ratio >= 2.5 else 1)" ||
    fail "three servers gave ${ratio}x one server's throughput, want >= 2.5x"
test_end
