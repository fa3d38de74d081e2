"""tasq.Executor: the concurrent.futures.Executor interface over tasq.

The "function" of submit and map is a task type, a string ("square",
"sha256", or any type your workers serve): no code travels over the
network, only payloads, which the workers' handlers compute.

    with tasq.Executor("tcp://10.0.0.5:7070", key_file="key") as ex:
        squares = list(ex.map("square", range(10**6), chunksize=10**4))
        f = ex.submit("sha256", b"abc")
        print(f.result())
"""

import concurrent.futures
import threading

from .client import Client

__all__ = ["Executor"]

DEFAULT_CHUNKSIZE = 10000


class Executor(concurrent.futures.Executor):
    """A concurrent.futures.Executor whose functions are tasq task types.

    Executor(server=None, key_file=None, *, client=None, max_workers=4,
    **options): the arguments of tasq.Client (or an existing client,
    which the executor then does not close). max_workers bounds the jobs
    in flight for submit() (each submit is a job of one task, run on a
    thread of the executor's; the blocking calls release the GIL).
    """

    def __init__(self, server=None, key_file=None, *, client=None,
                 max_workers=4, **options):
        if client is None:
            client = Client(server, key_file=key_file, **options)
            self._own = True
        else:
            self._own = False
        self._client = client
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="tasq-executor")
        self._lock = threading.Lock()
        self._shutdown = False

    @property
    def client(self):
        return self._client

    def _check_open(self):
        if self._shutdown:
            raise RuntimeError("cannot schedule new tasks after shutdown")

    def submit(self, fn, /, *args, **kwargs):
        """A Future of the result of one task of type fn with payload
        args[0] (the task's error raises tasq.TaskError from result())."""
        if not isinstance(fn, str):
            raise TypeError("tasq.Executor runs task types (str), not "
                            "callables: no code travels")
        if len(args) != 1 or kwargs:
            raise TypeError("a task has exactly one payload")
        with self._lock:
            self._check_open()
            return self._pool.submit(self._one, fn, args[0])

    def _one(self, task_type, payload):
        return self._client.map(task_type, (payload,))[0]

    def map(self, fn, *iterables, timeout=None, chunksize=None):
        """The results of fn (a task type) over the payloads of iterables
        (one), in input order, as an iterator: one job, submitted in
        batches of chunksize (default 10,000). The first failed task
        raises tasq.TaskError when its result is reached; a result not
        there within timeout seconds (from this call) raises
        TimeoutError."""
        if not isinstance(fn, str):
            raise TypeError("tasq.Executor runs task types (str), not "
                            "callables: no code travels")
        if len(iterables) != 1:
            raise TypeError("a task has exactly one payload: pass one "
                            "iterable")
        if chunksize is None or chunksize < 1:
            chunksize = DEFAULT_CHUNKSIZE
        with self._lock:
            self._check_open()
        return self._client.imap(fn, iterables[0], chunksize=chunksize,
                                 timeout=timeout)

    def shutdown(self, wait=True, *, cancel_futures=False):
        with self._lock:
            self._shutdown = True
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)
        if self._own and wait:
            self._client.close()
