# retry_kill: a task's attempts survive a kill -9 of the server (issue
# 12). A job with --max-attempts 3 whose exec: handler fails every task
# (UNAVAILABLE) and writes down the attempt of each batch it gets; its
# third delivery hangs until the test says go. The server, journaling
# with --fsync always, is killed with SIGKILL while attempt 3 is in the
# handler (attempts 1 and 2 failed and were journaled), the worker too;
# after the restart the task must come as attempt 3 (the delivery the
# crash cut short does not count), fail once more and be dead-lettered
# with attempts 3: the handler sees "pre 1, pre 2, pre 3, post 3", never
# a count started again from 1.
. "$(dirname "$0")/lib.sh"
test_begin 120

cat >"$T/flaky.py" <<'PY'
import os, struct, sys, time
inp, out = sys.stdin.buffer, sys.stdout.buffer
log, go = sys.argv[1], sys.argv[2]

def readn(n):
    b = b""
    while len(b) < n:
        c = inp.read(n - len(b))
        if not c:
            sys.exit(0)
        b += c
    return b

while True:
    magic, n, seq, attempt, flags = struct.unpack("<4sIQII", readn(24))
    for _ in range(n):
        readn(struct.unpack("<I", readn(4))[0])
    phase = "post" if os.path.exists(go) else "pre"
    with open(log, "a") as f:
        f.write("%s %d\n" % (phase, attempt))
    if phase == "pre" and attempt >= 3:
        # Hangs (bounded) until the server has been killed.
        for _ in range(1200):
            if os.path.exists(go):
                break
            time.sleep(0.05)
    msg = b"boom"
    out.write(struct.pack("<4sIQ", b"TQR1", n, seq) +
              n * (struct.pack("<II", 14, len(msg)) + msg))
    out.flush()
PY
handler="flaky=exec:python3 $T/flaky.py $T/attempts $T/go"

start_server --data-dir "$T/data" --fsync always
start_workers w1 -j 1 --type "$handler"
W1=$SPAWNED_PID
start_submit sub --type flaky --max-attempts 3 payload-1
CLIENT=$SPAWNED_PID
poll_until 30 "attempt 3 in the handler" grep -qsx 'pre 3' "$T/attempts"
kill_server KILL
kill_spawned "$W1"
printf 'pre %s\n' 1 2 3 | cmp -s - "$T/attempts" ||
    fail "before the kill the handler saw: $(tr '\n' ' ' <"$T/attempts")"
log "server killed with attempt 3 in the handler; restarting on $URL"
restart_server
: >"$T/go"
start_workers w2 -j 1 --type "$handler"
wait_pid "$CLIENT" 60 || fail "the client did not finish in $(secs 60) s"
((WAIT_STATUS == 3)) ||
    fail "client exit $WAIT_STATUS, want 3 (a task failed)"
grep -q '^error: .*boom' "$T/sub.out" ||
    fail "the client printed: $(cat "$T/sub.out")"
printf '%s\n' 'pre 1' 'pre 2' 'pre 3' 'post 3' | cmp -s - "$T/attempts" ||
    fail "attempts seen by the handler: $(tr '\n' ' ' <"$T/attempts")" \
        "(want pre 1, pre 2, pre 3, post 3)"
client dead list --json >"$T/dead.json" || fail "dead list failed"
python3 -c 'import json, sys
ls = [json.loads(l) for l in open(sys.argv[1])]
assert len(ls) == 1 and ls[0]["attempts"] == 3 and "boom" in ls[0]["error"], ls
' "$T/dead.json" || fail "the dead letter: $(cat "$T/dead.json")"
log "ok: attempt 3 after the restart, dead-lettered with attempts 3"
