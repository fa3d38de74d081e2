#!/usr/bin/env python3
"""worker.py: the seed's BaseManager worker, ported to tasq.

The seed's worker connects to the master's BaseManager, takes 50 numbers
from the task queue, squares them and puts "n**2=m" in the result queue.
Here a tasq.Worker serves the task type "square" with a Python function:
the server leases it batches of numbers, the results go back to the
job's submitter, and a task this process holds when it dies is given to
another worker.

    python3 worker.py --server tcp://HOST:7070 --key-file key [--tasks 50]

Without --tasks it serves until SIGINT or SIGTERM.
"""
import argparse

import tasq


def square(n):
    print("执行任务 %d**2 = " % n, flush=True)
    return n * n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", help="tasq server URL (TASQ_SERVER)")
    ap.add_argument("--key-file", help="shared key file (TASQ_KEY_FILE)")
    ap.add_argument("--tasks", type=int, default=None,
                    help="stop after this many tasks (default: serve on)")
    args = ap.parse_args()

    # 1-4. Connect to the server; 5. serve the tasks of type "square".
    worker = tasq.Worker(args.server, key_file=args.key_file)
    worker.serve({"square": square}, max_tasks=args.tasks)
    print("工作主机执行任务结束.....")


if __name__ == "__main__":
    main()
