#!/usr/bin/env bash
# cancel: Client.cancel of a detached job no worker serves, and
# Job.cancel of a job a Python worker (tasq.Worker, 2 ms a task) is
# running: state cancelled, results short, the worker serves on
# (tests/python/check.py cancel).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 90

start_server
spawn_py pyworker.log "$CHECK" worker --type square --server "$URL" \
    --key-file "$KEY" --delay-ms 2 --batch-size 200
expect_exit "$SPAWNED_PID" 0
py "$CHECK" cancel --server "$URL" --key-file "$KEY" ||
    fail "check.py cancel failed"

test_end
