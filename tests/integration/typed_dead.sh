# typed_dead: typed tasks end to end through the real server (issue 12),
# with a tasq_raw session as worker and client: payloads of a type reach
# only a worker of that type and come back as results; a job whose type
# no worker serves says so (no_worker); a failed task is retried under
# the job's retry policy (attempt 2), then dead-lettered with its payload,
# attempts, code and message, and its client gets that failure; the dead
# letters survive a restart (--data-dir) and are purged.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
. "$(dirname "${BASH_SOURCE[0]}")/lib_e2e.sh" || exit 2
test_begin 90

start_server --data-dir "$T/data"
rs_start

# 1. A job of type "rev" that succeeds; nobody serves rev at first.
rs_ok tsubmit tq 78 0 rev 3 0 one
rs_want accepted 1
rs_ok tfetch 78 100 0
rs_want no_worker 1 "a job whose type no worker serves"
rs_ok lease tq 100 0
rs_want tasks 0 "a legacy worker leased a rev task"
rs_ok tlease tq 100 0 rev
rs_want tasks 1
rs_tasks | grep >/dev/null -c "id=0 type=rev payload=one attempt=1" ||
    fail "want the payload 'one' of type rev: ${RS_LINES[*]}"
rs_ok tcomplete
rs_want accepted 1
rs_ok tfetch 78 100 0
rs_want n 1
[ "${RS_LINES[0]}" = "result id=0 code=OK result=did:one error=" ] ||
    fail "want 'result=did:one', got: ${RS_LINES[0]}"
rs_ok close 78

# 2. Two attempts at most, no backoff: INTERNAL is retried once, then the
# tasks are dead-lettered.
rs_ok tsubmit tq 77 0 rev 2 0 alpha beta gamma
rs_want accepted 3
rs_ok tlease tq 100 0 rev
rs_want tasks 3
rs_ok tcomplete fail 13 first-failure
rs_want accepted 3
rs_ok tlease tq 100 0 rev
rs_want tasks 3 "the failed tasks again"
rs_tasks | grep >/dev/null -c "id=1 type=rev payload=beta attempt=2" ||
    fail "want beta again as attempt 2: ${RS_LINES[*]}"
rs_ok tcomplete fail 13 second-failure
rs_ok tfetch 77 100 0
rs_want n 3 "one result per task"
for l in "${RS_LINES[@]:0:3}"; do
	case $l in
	*"code=INTERNAL result= error=second-failure") ;;
	*) fail "want the last failure as the result, got: $l" ;;
	esac
done
want_counter tasks_retried 3
want_counter tasks_dead_lettered 3
rs_ok dead tq
rs_want n 3
[ "${RS_LINES[1]}" = "dead id=2 job=77 task=1 type=rev payload=beta attempts=2 code=INTERNAL error=second-failure" ] ||
    fail "dead letter of beta: ${RS_LINES[1]}"

# 3. A restart keeps them (journal); then they are purged for good.
stop "$SERVER_PID"
start_server --data-dir "$T/data"
rs_start
rs_ok dead -
rs_want total 3 "dead letters after a restart"
rs_ok purge 1
rs_want purged 1
rs_ok purge all tq
rs_want purged 2
stop "$SERVER_PID"
start_server --data-dir "$T/data"
rs_start
rs_ok dead -
rs_want total 0 "purged dead letters after a restart"

test_end
