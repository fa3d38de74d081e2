#!/usr/bin/env bash
# executor: tasq.Executor (the concurrent.futures interface, task types
# as functions) against the real server and built-in workers: map in
# input order, submit, a failed task, shutdown
# (tests/python/check.py executor).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 120

start_server
start_workers -j 2 --type square=builtin:square --type sha256=builtin:sha256
py "$CHECK" executor --server "$URL" --key-file "$KEY" ||
    fail "check.py executor failed"

test_end
