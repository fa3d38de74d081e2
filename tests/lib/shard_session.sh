#!/usr/bin/env bash
# lib.shard_session: a session on three servers (issue 15), through the
# library's internal routing API (lib/api/api_int.h, "several servers").
# Three tasq-servers with data dirs listen on 127.0.0.1:P, 127.0.0.2:P and
# 127.0.0.3:P (P: the first one's port 0; the same port on three loopback
# addresses, so that one name can stand for the three). shard_session
# (shard_session.c) checks identities, placement, lookup by id, the list
# reordered and a name with three addresses; on its "kill" the second
# server gets SIGKILL, on its "restart" it comes back with its data dir.
# TASQ_TEST_SHARD_SESSION is the program (CMake sets it).
# shellcheck source-path=SCRIPTDIR source=../fault/lib.sh
. "$(dirname "$0")/../fault/lib.sh"
test_begin 120
prog=${TASQ_TEST_SHARD_SESSION:?the shard_session program}

declare -a PID DATA
start_n() { # start_n I LISTEN
	DATA[$1]=$T/data$1
	LISTEN=$2 START_ATTEMPTS=${3:-1} start_server --data-dir "${DATA[$1]}"
	PID[$1]=$SERVER_PID
}
start_n 1 tcp://127.0.0.1:0
PORT=${URL##*:}
start_n 2 "tcp://127.0.0.2:$PORT" 20
start_n 3 "tcp://127.0.0.3:$PORT" 20
log "servers ${PID[*]} on 127.0.0.{1,2,3}:$PORT"

mkfifo "$T/gate1" "$T/gate2"
spawn prog "$prog" "$KEY" "$PORT" "tcp://127.0.0.2:$PORT" \
    "$T/gate1" "$T/gate2"
P=$SPAWNED_PID
said() { grep -qx "$1" "$T/prog.out" || _dead "$P"; }

poll_until 60 "the program's kill" said kill
alive "$P" || fail "the program ended: $(tail -n 5 "$T/prog.err")"
kill -KILL "${PID[2]}"
wait_pid "${PID[2]}" 20 || fail "server 2 does not exit"
log "server 2 killed"
echo go >"$T/gate1"

poll_until 60 "the program's restart" said restart
alive "$P" || fail "the program ended: $(tail -n 5 "$T/prog.err")"
start_n 2 "tcp://127.0.0.2:$PORT" 20
log "server 2 back: $SERVER_PID"
echo go >"$T/gate2"

wait_pid "$P" 90 || fail "the program did not finish"
((WAIT_STATUS == 0)) || fail "shard_session exited with $WAIT_STATUS:" \
    "$(tail -n 20 "$T/prog.err")"
cat "$T/prog.out"
log "ok"
