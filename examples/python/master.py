#!/usr/bin/env python3
"""master.py: the seed's BaseManager master, ported to tasq.

The seed (a multiprocessing tutorial) shares a task queue and a result
queue through a BaseManager on port 3333 with authkey b'hahahaha', puts
100 random numbers in the task queue and reads 100 results. With tasq the
server holds the queues; the master submits the numbers as one job of
type "square" and reads the results, in input order.

    tasq-server --listen tcp://0.0.0.0:7070 --key-file key &
    python3 worker.py --server tcp://HOST:7070 --key-file key &
    python3 master.py --server tcp://HOST:7070 --key-file key

--server and --key-file default to TASQ_SERVER and TASQ_KEY_FILE.
"""
import argparse
import random

import tasq


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", help="tasq server URL (TASQ_SERVER)")
    ap.add_argument("--key-file", help="shared key file (TASQ_KEY_FILE)")
    ap.add_argument("-n", type=int, default=100, help="number of tasks")
    ap.add_argument("--seed", type=int, help="random seed")
    args = ap.parse_args()
    rng = random.Random(args.seed)

    # 1-5. The queues live on the server: connect to it with the key.
    with tasq.Client(args.server, key_file=args.key_file) as client:
        # 6. Put the tasks in: 100 numbers, as one job.
        numbers = [rng.randint(10, 500) for _ in range(args.n)]
        for n in numbers:
            print("任务列表加入数据:" + str(n))
        job = client.submit("square", numbers)
        # 7. Read the results: every one exactly once, in input order.
        for n, res in zip(numbers, job.results()):
            print("执行结果:%d**2=%d" % (n, res))
    # 8. Nothing to shut down: the server and the workers keep serving.


if __name__ == "__main__":
    main()
