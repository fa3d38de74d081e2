#!/usr/bin/env python3
"""check.py: the Python side of the tests of the tasq package.

Each subcommand is one check against a running tasq-server (the shell
scripts beside this file start it, and the workers, with
tests/integration/lib.sh). Exit 0 when every assertion held, 1 (with a
message naming the first one that did not) otherwise.

  check.py client   --server URL --key-file KEY
      Client.map, submit, submit_async, status, results (detached),
      TaskError for a square that overflows, in input order (needs
      workers serving square and sha256).
  check.py executor --server URL --key-file KEY
      Executor.map and Executor.submit, shutdown, the context manager.
  check.py worker   --server URL --key-file KEY --type T [--delay-ms N]
      a tasq.Worker serving T (square or sha256) with Python functions,
      until SIGTERM; --delay-ms sleeps per task (a job that outlasts a
      kill -9).
  check.py cancel   --server URL --key-file KEY
      Client.cancel of a job no worker serves.
"""

import argparse
import concurrent.futures
import hashlib
import os
import sys
import time

import faulthandler

import tasq


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def expect_eq(got, want, what):
    if got != want:
        g, w = repr(got), repr(want)
        if len(g) > 300:
            g = g[:300] + "..."
        if len(w) > 300:
            w = w[:300] + "..."
        raise AssertionError("%s: got %s, want %s" % (what, g, w))


def first_diff(got, want):
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return "first difference at %d: %r != %r" % (i, g, w)
    return "lengths %d and %d" % (len(got), len(want))


def expect_list(got, want, what):
    got = list(got)
    if got != want:
        raise AssertionError("%s: %s" % (what, first_diff(got, want)))


def sha_hex(b):
    return hashlib.sha256(b).hexdigest().encode()


def check_client(args):
    with tasq.Client(args.server, key_file=args.key_file) as c:
        # map: results in input order, over several chunks, negative
        # numbers included.
        nums = list(range(-500, 20000))
        expect_list(c.map("square", nums, chunksize=1000),
                    [n * n for n in nums], "Client.map square")
        expect_list(c.map("square", iter(nums[:10])),
                    [n * n for n in nums[:10]], "Client.map of an iterator")
        expect_list(c.map("square", []), [], "Client.map of nothing")

        # sha256 of bytes and str: the built-in handler's hex digest.
        items = [b"", b"abc", "héllo", bytes(range(256)) * 5]
        want = [sha_hex(b""), sha_hex(b"abc"), sha_hex("héllo".encode()),
                sha_hex(bytes(range(256)) * 5)]
        expect_list(c.map("sha256", items, chunksize=3), want,
                    "Client.map sha256")

        # A task that fails (the square overflows int64): map raises a
        # TaskError naming its code; results(return_errors=True) puts it
        # in place.
        try:
            c.map("square", [3, 4000000000, 5])
        except tasq.TaskError as e:
            expect_eq(e.code, tasq.OUT_OF_RANGE, "TaskError.code")
            expect_eq(e.index, 1, "TaskError.index")
        else:
            raise AssertionError("an overflowing square did not raise")
        job = c.submit("square", [3, 4000000000, 5])
        res = list(job.results(return_errors=True))
        expect_eq(res[0], 9, "result 0")
        expect(isinstance(res[1], tasq.TaskError), "result 1 is an error")
        expect_eq(res[2], 25, "result 2")

        # An int that does not fit 64 bits never leaves the client.
        try:
            c.map("square", [2 ** 63])
        except OverflowError:
            pass
        else:
            raise AssertionError("2**63 was encoded")

        # Nobody serves "nobody": a timeout ends the wait (and the job).
        t0 = time.monotonic()
        try:
            list(c.imap("nobody", [b"x", b"y"], timeout=0.5))
        except TimeoutError:
            pass
        else:
            raise AssertionError("imap of a type nobody serves returned")
        expect(time.monotonic() - t0 < 10, "the timeout took %.1f s"
               % (time.monotonic() - t0))
        job = c.submit("nobody", [b"x"], detach=True)
        try:
            job.wait(timeout=0.3)
        except TimeoutError:
            pass
        else:
            raise AssertionError("wait of a job nobody serves returned")
        job.cancel()
        job.close()

        # submit_async: a concurrent.futures.Future of the list.
        futs = [c.submit_async("square", range(k * 100, k * 100 + 100))
                for k in range(8)]
        for k, f in enumerate(futs):
            expect(isinstance(f, concurrent.futures.Future),
                   "submit_async returns a Future")
            expect_list(f.result(timeout=60),
                        [n * n for n in range(k * 100, k * 100 + 100)],
                        "submit_async %d" % k)

        # A detached job: status and results by id, from another client.
        job = c.submit("square", range(1000), detach=True)
        expect(job.id > 0, "a job id")
        job.wait(timeout=60)
    with tasq.Client(args.server, key_file=args.key_file) as c2:
        st = c2.status(job.id)
        expect_eq(st.state, "done", "status state")
        expect_eq(st.submitted, 1000, "status submitted")
        expect_eq(st.completed, 1000, "status completed")
        expect_eq(st.failed, 0, "status failed")
        expect_eq(st.type, "square", "status type")
        expect_list(c2.results(job.id), [n * n for n in range(1000)],
                    "results of a detached job")
        # Results are not consumed: read again.
        expect_list(c2.results(job.id, type="square")[:3], [0, 1, 4],
                    "results read again")
        try:
            c2.status(0x7fffffffffff)
        except tasq.Error as e:
            expect_eq(e.code, tasq.NOT_FOUND, "status of no job")
        else:
            raise AssertionError("status of an unknown job did not raise")
    print("client: ok")


def check_executor(args):
    nums = list(range(30000))
    with tasq.Executor(args.server, key_file=args.key_file) as ex:
        expect(isinstance(ex, concurrent.futures.Executor),
               "Executor is a concurrent.futures.Executor")
        expect_list(ex.map("square", nums, chunksize=5000),
                    [n * n for n in nums], "Executor.map chunksize 5000")
        expect_list(ex.map("square", range(50)),
                    [n * n for n in range(50)], "Executor.map default")
        expect_list(ex.map("sha256", [b"a", b"b"]),
                    [sha_hex(b"a"), sha_hex(b"b")], "Executor.map sha256")
        futs = [ex.submit("square", n) for n in range(-20, 20)]
        expect_list([f.result(timeout=60) for f in futs],
                    [n * n for n in range(-20, 20)], "Executor.submit")
        f = ex.submit("square", 4000000000)
        try:
            f.result(timeout=60)
        except tasq.TaskError as e:
            expect_eq(e.code, tasq.OUT_OF_RANGE, "Executor error code")
        else:
            raise AssertionError("Executor.submit overflow did not raise")
        # map with a timeout that is long enough.
        expect_list(ex.map("square", range(10), timeout=60),
                    [n * n for n in range(10)], "Executor.map timeout")
    try:
        ex.submit("square", 1)
    except RuntimeError:
        pass
    else:
        raise AssertionError("submit after shutdown did not raise")
    print("executor: ok")


def check_cancel(args):
    with tasq.Client(args.server, key_file=args.key_file) as c:
        # No worker serves "nobody": the job waits; cancel it by id.
        job = c.submit("nobody", [b"x"] * 100, detach=True)
        st = c.cancel(job.id)
        expect_eq(st.state, "cancelled", "state after Client.cancel")
        expect_eq(c.status(job.id).state, "cancelled", "status later")
        # A job running on a slow Python worker (check.py worker
        # --delay-ms): cancelled through its Job while tasks run; its
        # results stop short, and the worker goes on serving.
        job = c.submit("square", range(4000), detach=True)
        deadline = time.monotonic() + 30
        while job.status().completed == 0:
            expect(time.monotonic() < deadline, "no progress in 30 s")
            time.sleep(0.05)
        job.cancel()
        st = job.status()
        expect_eq(st.state, "cancelled", "state after Job.cancel")
        expect(st.completed < 4000, "cancelled before the end")
        job.close()
        expect_list(c.map("square", range(100)),
                    [n * n for n in range(100)], "served after a cancel")
    print("cancel: ok")


def run_worker(args):
    delay = args.delay_ms / 1000.0

    def square(n):
        if delay:
            time.sleep(delay)
        return n * n

    def sha256(b):
        if delay:
            time.sleep(delay)
        return hashlib.sha256(b).hexdigest()

    handlers = {"square": square, "sha256": sha256}
    w = tasq.Worker(args.server, key_file=args.key_file,
                    batch_size=args.batch_size)
    print("worker %d: serving %s" % (os.getpid(), args.type), flush=True)
    w.serve({t: handlers[t] for t in args.type.split(",")})
    print("worker %d: stopped" % os.getpid(), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["client", "executor", "worker",
                                     "cancel"])
    ap.add_argument("--server", required=True)
    ap.add_argument("--key-file", required=True)
    ap.add_argument("--type", default="square")
    ap.add_argument("--delay-ms", type=float, default=0)
    ap.add_argument("--batch-size", type=int, default=None)
    args = ap.parse_args()
    if args.what != "worker":
        # A hang shows where it is, well before the test's budget ends.
        factor = int(os.environ.get("TASQ_TEST_TIMEOUT_FACTOR", "1") or 1)
        faulthandler.dump_traceback_later(90 * factor, exit=True)
    fn = {"client": check_client, "executor": check_executor,
          "worker": run_worker, "cancel": check_cancel}[args.what]
    try:
        fn(args)
    except AssertionError as e:
        print("%s: FAIL: %s" % (args.what, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
