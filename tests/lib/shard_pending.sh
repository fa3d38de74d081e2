#!/usr/bin/env bash
# lib.shard_pending: a session on three servers where one is slow to be
# reached or gone (issue 15).
# 1. Placement waits for a member whose first probe has not ended (it is
#    not known down; rendezvous needs its identity): shard_pending.c,
#    with the third server stopped (SIGSTOP) while the program's session
#    learns of it; the program resumes it once its placement waits.
# 2. A server killed (-9: nothing listens, a dial is refused at once) is
#    known down at once: `tasq submit` to the list with --connect-timeout
#    600s completes (a session that waited the connect timeout for it
#    would be killed by the 60 s bound of `run`, and the test fails).
# 3. A server that accepts connections and answers nothing (SIGSTOP)
#    costs only the calls that need it: `tasq stats` (the first server
#    of the list) with --connect-timeout 600s completes.
# TASQ_TEST_SHARD_PENDING is the program (CMake sets it).
# shellcheck source-path=SCRIPTDIR source=../fault/lib.sh
. "$(dirname "$0")/../fault/lib.sh"
test_begin 120
prog=${TASQ_TEST_SHARD_PENDING:?the shard_pending program}

declare -a PID
start_n() { # start_n I LISTEN [ATTEMPTS]
	LISTEN=$2 START_ATTEMPTS=${3:-1} start_server --data-dir "$T/data$1"
	PID[$1]=$SERVER_PID
}
start_n 1 tcp://127.0.0.1:0
PORT=${URL##*:}
start_n 2 "tcp://127.0.0.2:$PORT" 20
start_n 3 "tcp://127.0.0.3:$PORT" 20
LIST="tcp://127.0.0.1:$PORT,tcp://127.0.0.2:$PORT,tcp://127.0.0.3:$PORT"
# A stopped server must be able to stop at the end.
at_exit "kill -CONT ${PID[3]} 2>/dev/null || true"
log "servers ${PID[*]} on 127.0.0.{1,2,3}:$PORT"

# 1. The pending member.
run 90 "$prog" "$KEY" "$PORT" "${PID[3]}" >"$T/prog.out" 2>"$T/prog.err" ||
    fail "shard_pending failed: $(tail -n 8 "$T/prog.err") $(cat "$T/prog.out")"
cat "$T/prog.out"

# 2. One server killed: a submit through the list does not wait for it.
kill -KILL "${PID[2]}"
wait_pid "${PID[2]}" 20 2>/dev/null || fail "server 2 does not exit"
URL=$LIST client --connect-timeout 600s submit --detach 1 2 3 \
    >"$T/sub.out" 2>"$T/sub.err" ||
    fail "submit with server 2 killed (status $?): $(cat "$T/sub.err")"
id=$(cat "$T/sub.out")
[[ $id =~ ^[0-9a-f]{16}$ ]] || fail "the detached submit printed '$id'"
URL=$LIST client --connect-timeout 600s status "$id" >"$T/st.out" 2>&1 ||
    fail "status $id with server 2 killed: $(cat "$T/st.out")"
log "submit and status with server 2 killed: job $id"

# 3. Server 3 answers nothing: stats (server 1's) does not wait for it.
kill -STOP "${PID[3]}"
URL=$LIST client --connect-timeout 600s stats >"$T/stats.out" 2>&1 ||
    fail "stats with server 3 stopped: $(cat "$T/stats.out")"
kill -CONT "${PID[3]}"
log "ok"
