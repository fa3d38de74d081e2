# worker_shards: one tasq-worker -j 2 given three servers
# (--server URL1,URL2,URL3) serves them all (issue 15, "Workers lease
# from every server"; docs/LIBRARY.md "Several servers", the worker side):
#
#  1. a job submitted directly to each server (`tasq --server URLk
#     submit`) is drained, every result right, once, in order, with
#     batches that run longer than the servers' --lease: each server's
#     leases are kept alive by heartbeats sent to it (none expires);
#  2. kill -9 of server 3 while its job runs: the jobs of servers 1 and 2
#     finish; server 3 restarted with its --data-dir on the same port:
#     its job (whose client retries) finishes, every result exactly once.
#
# Free ports come from each server's --ready-file; nothing sleeps to
# synchronise (stats and exits are polled under deadlines).
. "$(dirname "$0")/lib.sh"
test_begin 150

declare -a SURL SPID
nsrv=0

# srv_start K [LISTEN]: server K with its own data dir, on LISTEN
# (default a free port); waits for its ready file and a health answer.
# Retried (bounded) when it exits at once: a port briefly held after a
# kill.
srv_start() {
	local k=$1 listen=${2:-tcp://127.0.0.1:0} ready attempt
	for ((attempt = 1; attempt <= 20; attempt++)); do
		nsrv=$((nsrv + 1))
		ready=$T/srv$k.$nsrv.ready
		spawn "srv$k.$nsrv.log" "$TASQ_SERVER_BIN" --listen "$listen" \
		    --key-file "$KEY" --ready-file "$ready" \
		    --data-dir "$T/data$k" --lease 1s --log-level info
		SPID[k]=$SPAWNED_PID
		PIDS+=("$SPAWNED_PID")
		wait_until 15 _srv_ready "$ready" "${SPID[k]}" ||
		    fail "server $k wrote no ready file"
		[ -s "$ready" ] && break
		wait "${SPID[k]}" 2>/dev/null
	done
	[ -s "$ready" ] || fail "server $k does not start on $listen"
	SURL[k]=$(cat "$ready")
	URL=${SURL[k]} client health --wait "$((10 * FACTOR))s" --quiet ||
	    fail "server $k at ${SURL[k]} not serving"
	log "server $k (pid ${SPID[k]}) on ${SURL[k]}"
}
_srv_ready() { [ -s "$1" ] || ! pid_alive "$2"; }

# count K NAME: server K's counter NAME (tasq stats).
count() {
	URL=${SURL[$1]} counter "$2"
}

# completed K: the tasks server K's default queue has completed.
completed() {
	URL=${SURL[$1]} CLIENT_TIMEOUT=20 client stats 2>/dev/null | awk '
	    /^QUEUE/ { inq = 1; next } /^$/ { inq = 0 }
	    inq && $1 == "default" { print $8; exit }'
}
completed_ge() {
	local v
	v=$(completed "$1") || return 1
	[ -n "$v" ] && [ "$v" -ge "$2" ]
}

# submit K NAME ARGS...: `tasq --server URLk submit ARGS` in the
# background, output in $T/NAME.out; CPID[K] its pid.
declare -a CPID
submit() {
	local k=$1 name=$2
	shift 2
	URL=${SURL[k]} spawn_client "$T/$name.out" "$T/$name.err" \
	    submit "$@"
	CPID[k]=$SPAWNED_PID
}

# finished PID NAME FIRST LAST: the client exits 0 (bounded) with every
# result once, right and in order.
finished() {
	wait_exit "$1" 60 || fail "$2: client still running"
	((EXIT_STATUS == 0)) ||
	    fail "$2: client exited $EXIT_STATUS: $(tail -n 3 "$T/$2.err")"
	check_squares "$T/$2.out" "$3" "$4"
	log "$2: $(($4 - $3 + 1)) results exactly once, in order"
}

for k in 1 2 3; do
	srv_start "$k"
done
all="${SURL[1]},${SURL[2]},${SURL[3]}"

# worker NAME DELAY: one tasq-worker -j 2 for the three servers.
worker() {
	spawn "$1.log" "$TASQ_WORKER_BIN" --server "$all" --key-file "$KEY" \
	    -j 2 --batch-size 20 --task-delay "$2" --wait 1s --log-level info
	WORKER=$SPAWNED_PID
	PIDS+=("$WORKER")
	log "worker $WORKER for $all, $2 a task"
}

# ---- 1: a job on each server, drained by the one worker ----------------
# A batch takes 1.5 s, the lease is 1 s: only heartbeats keep it.
worker worker1 75ms
N=60
for k in 1 2 3; do
	submit "$k" "a$k" --range "$((k * 1000 + 1)):$((k * 1000 + N))"
done
for k in 1 2 3; do
	finished "${CPID[k]}" "a$k" "$((k * 1000 + 1))" "$((k * 1000 + N))"
done
for k in 1 2 3; do
	v=$(completed "$k")
	[ "$v" = "$N" ] ||
	    fail "server $k completed ${v:-?} tasks, want $N (exactly once)"
	e=$(count "$k" leases_expired)
	h=$(count "$k" heartbeats_received)
	[ "$e" = 0 ] && [ "${h:-0}" -gt 0 ] ||
	    fail "server $k: leases_expired ${e:-?} (want 0)," \
	    "heartbeats_received ${h:-?} (want some)"
	log "server $k: $N completed, $h heartbeats, no lease expired"
done
stop "$WORKER"

# Slow tasks and small batches: a job takes seconds, so that the kill
# lands while server 3's job runs.
worker worker2 2ms

# ---- 2: kill -9 of server 3 while its job runs ---------------------------
M=2000
for k in 1 2 3; do
	submit "$k" "b$k" --range "1:$M"
done
# Server 3's job is under way (and far from done: M x 2 ms of work).
wait_until 30 completed_ge 3 $((N + 100)) ||
    fail "server 3's second job does not start"
v=$(completed 3)
((v < N + M)) || fail "server 3's job finished before the kill ($v)"
kill -KILL "${SPID[3]}"
wait "${SPID[3]}" 2>/dev/null
log "server 3 killed with $((v - N)) of its $M tasks done"
pid_alive "$WORKER" || fail "the worker exited"
finished "${CPID[1]}" b1 1 "$M"
finished "${CPID[2]}" b2 1 "$M"
pid_alive "${CPID[3]}" || fail "server 3's client gave up while it was down"

# Back on its port with its data: its job finishes, exactly once.
srv_start 3 "${SURL[3]}"
finished "${CPID[3]}" b3 1 "$M"
pid_alive "$WORKER" || fail "the worker exited"
grep -q 'error' "$T/worker2.log" &&
    log "worker errors (allowed while server 3 was down):" \
        "$(grep -c error "$T/worker2.log")"

test_end
