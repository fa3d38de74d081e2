#!/usr/bin/env bash
# lib.shard_grow: a session and a worker opened on one name while it
# resolves to one server find the second server once the name lists it
# (issue 15: a StatefulSet scaled up from one replica, or its other pods
# ready after the workers started). Two tasq-servers on 127.0.0.1:P and
# 127.0.0.2:P (the same port, so that one name can stand for both);
# shard_grow (shard_grow.c) injects the name's addresses.
# TASQ_TEST_SHARD_GROW is the program (CMake sets it).
# shellcheck source-path=SCRIPTDIR source=../fault/lib.sh
. "$(dirname "$0")/../fault/lib.sh"
test_begin 60
prog=${TASQ_TEST_SHARD_GROW:?the shard_grow program}

LISTEN=tcp://127.0.0.1:0 start_server --data-dir "$T/data1"
PORT=${URL##*:}
LISTEN="tcp://127.0.0.2:$PORT" START_ATTEMPTS=20 start_server \
    --data-dir "$T/data2"
log "servers on 127.0.0.{1,2}:$PORT"

spawn prog "$prog" "$KEY" "$PORT"
P=$SPAWNED_PID
wait_pid "$P" 50 || fail "the program did not finish"
cat "$T/prog.out"
((WAIT_STATUS == 0)) || fail "shard_grow exited with $WAIT_STATUS:" \
    "$(tail -n 20 "$T/prog.err")"
log "ok"
