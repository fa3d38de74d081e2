#!/usr/bin/env python3
"""The seed's pattern, for reference: multiprocessing BaseManager.

A manager process serves a task queue and a result queue over TCP with an
authkey; worker processes connect to it and, one item per queue
operation, get a number, square it and put the result, as in the seed
(docs/PERFORMANCE.md). Two measurements:

  tput  put N tasks, then get N results (the seed's order); tasks/s from
        the first put to the last get
  rtt   put one task, get its result, repeat; round-trip percentiles

Prints one line of key=value pairs, like the C benchmarks.
"""
import argparse
import multiprocessing
import os
import queue
import sys
import time
from multiprocessing.managers import BaseManager

_TASKS = queue.Queue()
_RESULTS = queue.Queue()


def _task_queue():
    return _TASKS


def _result_queue():
    return _RESULTS


class QueueManager(BaseManager):
    pass


# Module-level callables, not lambdas: they must survive any start method.
QueueManager.register("get_task_queue", callable=_task_queue)
QueueManager.register("get_result_queue", callable=_result_queue)


def worker(address, authkey):
    m = QueueManager(address=address, authkey=authkey)
    m.connect()
    tasks, results = m.get_task_queue(), m.get_result_queue()
    while True:
        n = tasks.get()
        if n is None:
            return
        results.put(n * n)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=("tput", "rtt"))
    ap.add_argument("--tasks", type=int, default=20000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=200)
    a = ap.parse_args()

    authkey = os.urandom(16)
    mgr = QueueManager(address=("127.0.0.1", 0), authkey=authkey)
    mgr.start()
    procs = [
        multiprocessing.Process(target=worker, args=(mgr.address, authkey))
        for _ in range(a.workers)
    ]
    for p in procs:
        p.start()
    tasks, results = mgr.get_task_queue(), mgr.get_result_queue()
    # Warm-up: every worker connected and serving before timing.
    for i in range(max(a.warmup, 10 * a.workers)):
        tasks.put(i)
    for i in range(max(a.warmup, 10 * a.workers)):
        results.get()

    if a.mode == "tput":
        t0 = time.perf_counter()
        for i in range(1, a.tasks + 1):
            tasks.put(i)
        total = 0
        for _ in range(a.tasks):
            total += results.get()
        secs = time.perf_counter() - t0
        want = sum(i * i for i in range(1, a.tasks + 1))
        print("basemanager mode=tput workers=%d tasks=%d seconds=%.3f "
              "rate=%.0f ok=%d" % (a.workers, a.tasks, secs,
                                   a.tasks / secs, total == want))
        status = 0 if total == want else 1
    else:
        lat = []
        for i in range(1, a.rounds + 1):
            t0 = time.perf_counter()
            tasks.put(i)
            r = results.get()
            lat.append(time.perf_counter() - t0)
            if r != i * i:
                print("basemanager: wrong result", file=sys.stderr)
                status = 1
                break
        else:
            status = 0
        lat.sort()
        n = len(lat)
        print("basemanager mode=rtt workers=%d n=%d p50_us=%.1f p99_us=%.1f "
              "mean_us=%.1f min_us=%.1f max_us=%.1f" % (
                  a.workers, n, lat[(n - 1) // 2] * 1e6,
                  lat[(n - 1) * 99 // 100] * 1e6, sum(lat) / n * 1e6,
                  lat[0] * 1e6, lat[-1] * 1e6))

    for _ in procs:
        tasks.put(None)
    for p in procs:
        p.join(10)
        if p.is_alive():
            p.terminate()
    mgr.shutdown()
    return status


if __name__ == "__main__":
    sys.exit(main())
