# disk_small: the data directory on the smallest tmpfs on which the server
# starts, filled up during a job and then freed.
#  - on a tmpfs too small for its reserve (room for one snapshot) the
#    server does not start, and says how many bytes it needs;
#  - the test finds the smallest size (in 8 KiB steps) at which it starts
#    and runs a job there whose tasks need many times the room: the server
#    refuses new tasks (RESOURCE_EXHAUSTED, the client waits) while the
#    reserve cannot grow, and compacts its way out;
#  - a filler then takes every free byte of the tmpfs, and is removed: the
#    server compacts into its reserve and goes on;
#  - a SIGKILL and restart on the small disk;
# and the client gets every result exactly once and exits 0.
# Skipped (77) when a tmpfs cannot be mounted (not root, no CAP_SYS_ADMIN).
. "$(dirname "$0")/lib.sh"
test_begin 180

MNT=$T/mnt
mkdir "$MNT"
N=$(scaled 40000)

# mount_at KIB: a fresh tmpfs of KIB KiB on $MNT.
mount_at() {
	umount "$MNT" 2>/dev/null
	mount -t tmpfs -o "size=${1}k" tmpfs "$MNT" 2>/dev/null
}
mount_at 32 || skip "cannot mount a tmpfs here"
at_exit "umount -l '$MNT'"

# try_start KIB: whether a server starts with its data directory on a
# KIB KiB tmpfs (it is stopped again). LAST_ERR: its last log line.
try_start() {
	local ready=$T/try.$1.ready deadline
	mount_at "$1" || fail "cannot mount a ${1}k tmpfs"
	spawn "try.$1" "$TASQ_SERVER_BIN" --listen tcp://127.0.0.1:0 \
	    --key-file "$KEY" --ready-file "$ready" --data-dir "$MNT/data"
	local pid=$SPAWNED_PID
	deadline=$(($(now_ms) + $(secs 10) * 1000))
	while [ ! -s "$ready" ] && alive "$pid" && (($(now_ms) < deadline)); do
		sleep 0.02
	done
	if [ -s "$ready" ]; then
		kill_spawned "$pid"
		return 0
	fi
	alive "$pid" && fail "a server on a ${1}k tmpfs neither started" \
	    "nor exited in $(secs 10) s"
	wait_pid "$pid" 5
	LAST_ERR=$(tail -n 1 "$T/try.$1.err")
	return 1
}

size=
for ((kib = 32; kib <= 1024; kib += 8)); do
	if try_start "$kib"; then
		size=$kib
		break
	fi
	case $LAST_ERR in
	*"needs "*" bytes free"*) ;;
	*) fail "on a ${kib}k tmpfs the server did not start and did not say" \
	    "how much room it needs: $LAST_ERR" ;;
	esac
	first_err=${first_err:-$LAST_ERR}
done
[ -n "$size" ] || fail "the server does not start on a 1 MiB tmpfs"
[ -n "${first_err:-}" ] || fail "the server started on a 32k tmpfs:" \
    "the search for the smallest size found nothing"
log "too small: ${first_err#*error: }"
log "the server starts on a ${size}k tmpfs"

mount_at "$size"
start_server --data-dir "$MNT/data" --fsync always
start_workers workers -j 2 --batch-size 50
start_submit job --range "1:$N" --batch-size 500
JOB=$SPAWNED_PID
poll_until 60 "a tenth of the job done" stat_ge completed $((N / 10))

# room_lines: what the server logged about room (full, compacted).
room_lines() {
	grep -cE "nearly full|journal write failed|compact" "$SERVER_LOG"
}
noticed() {
	(($(room_lines) > $1))
}

# Every free byte taken, then given back.
seen=$(room_lines)
dd if=/dev/zero of="$MNT/filler" bs=4k status=none 2>/dev/null
log "disk full at $(stat_num completed) of $N results"
poll_until 20 "the server to notice the full disk" noticed "$seen"
rm -f "$MNT/filler"
log "space freed"

poll_until 60 "half the job done" stat_ge completed $((N / 2))
kill_server KILL
restart_server
log "restarted: $(grep -o 'recovered .*' "$SERVER_LOG")"

wait_pid "$JOB" 120 || fail "the job did not finish in $(secs 120) s" \
    "($(stat_num completed) results; $(tail -n 1 "$SERVER_LOG"))"
((WAIT_STATUS == 0)) || fail "the client exited with $WAIT_STATUS"
check_squares "$T/job.out" "$N" ||
    fail "results are not exactly once, right and in order"
log "ok: $N results exactly once on a ${size}k data directory" \
    "($(grep -c 'journal compacted' "$T"/server.*.err | \
    awk -F: '{ s += $2 } END { print s }') compactions)"
