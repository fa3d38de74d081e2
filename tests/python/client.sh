#!/usr/bin/env bash
# client: tasq.Client against the real server and built-in workers:
# map (square, sha256) in input order, submit, submit_async, a failed
# task as TaskError, status and results of a detached job
# (tests/python/check.py client).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 120

start_server
start_workers -j 2 --type square=builtin:square --type sha256=builtin:sha256
py "$CHECK" client --server "$URL" --key-file "$KEY" ||
    fail "check.py client failed"

test_end
