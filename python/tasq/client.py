"""tasq.Client: submit payloads of a task type, read results in order.

    import tasq
    with tasq.Client("tcp://10.0.0.5:7070", key_file="/etc/tasq/key") as c:
        print(c.map("square", range(10)))            # [0, 1, 4, ...]
        job = c.submit("sha256", [b"abc", "hello"])  # a Job
        for digest in job.results():                 # in input order
            print(digest)

A Client is a session of libtasq (one connection to one server, which
reconnects by itself). It is thread-safe: many threads may submit and
read through one client.
"""

import collections
import concurrent.futures
import itertools
import threading
import time

from . import _lib
from ._codec import codec_for
from ._errors import Error, TaskError

__all__ = ["Client", "Job", "JobStatus", "CancelInfo"]

DEFAULT_CHUNKSIZE = 10000

JobStatus = collections.namedtuple(
    "JobStatus",
    "id queue type state submitted completed failed age detached "
    "host no_worker workers")
JobStatus.__doc__ = """A job's status (tasq status): state is "open",
"running", "done" or "cancelled"; age in seconds; submitted, completed
and failed count tasks."""

CancelInfo = collections.namedtuple("CancelInfo", "dropped running status")
CancelInfo.__doc__ = """What a cancel did: queued tasks dropped, tasks
under lease whose workers were told to stop, and the job's status."""


def _chunks(iterable, n):
    it = iter(iterable)
    while True:
        chunk = list(itertools.islice(it, n))
        if not chunk:
            return
        yield chunk


class Client:
    """A connection to a tasq server, to submit jobs and read results.

    Client(server=None, key_file=None, *, key=None, queue=None,
    config=None, env=True, codecs=None, **options)

    - server: the URL ("tcp://host:7070", "tls+tcp://...", "ipc://...");
      key_file: the shared key's file (or key=, the key itself).
      Unset ones come, as for the tasq tools, from TASQ_SERVER,
      TASQ_KEY_FILE, TASQ_KEY, TASQ_TLS_* and the file TASQ_CONFIG names
      (env=False: not from the environment) or config= (a file of
      "name value" lines).
    - options: any other option of libtasq by name, with "_" for "-":
      tls_ca, tls_cert, tls_key, tls_server_name, request_timeout and
      connect_timeout (seconds, or text such as "30s"), max_message.
    - queue: the queue jobs go to (default "default").
    - codecs: {type: codec} for types whose payloads are not bytes/str
      (tasq.INT64 is already the codec of "square"); see tasq._codec.

    Raises tasq.Error (UNAVAILABLE: the server cannot be reached;
    UNAUTHENTICATED: wrong key; INVALID_ARGUMENT: a bad option).
    """

    def __init__(self, server=None, key_file=None, *, key=None,
                 queue=None, config=None, env=True, codecs=None,
                 **options):
        opts = dict(options)
        opts["server"] = server
        opts["key_file"] = key_file
        opts["key"] = key
        self.queue = queue
        self.codecs = dict(codecs or {})
        self._session = _lib.Session(opts, config=config, env=env)
        self._pool = None
        self._pool_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------

    def close(self):
        """Closes the connection: calls in flight in other threads fail
        with tasq.Error (UNAVAILABLE or CANCELLED). Idempotent."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        self._session.close()
        if pool is not None:
            pool.shutdown(wait=True)
        self._session.free()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def ping(self):
        """Raises tasq.Error unless the server is serving (Health)."""
        self._session.ping()

    def _codec(self, task_type):
        return codec_for(task_type, self.codecs)

    # -- submitting --------------------------------------------------------

    def submit(self, type, payloads, *, detach=False, chunksize=None,
               result_ttl=None):
        """Submits payloads (an iterable) as one job of task type `type`
        and returns its Job once every payload is accepted by the server.
        detach=True keeps the results on the server (for result_ttl
        seconds once done, default the server's) to be read by job id
        from any client: Client.results(job_id). A job that is not
        detached delivers its results once, to this Job."""
        job = self._open(type, detach=detach, result_ttl=result_ttl)
        try:
            job._feed(payloads, chunksize or DEFAULT_CHUNKSIZE)
        except BaseException:
            job.close()
            raise
        return job

    def _open(self, task_type, detach=False, result_ttl=None):
        h = _lib.Job.create(self._session, task_type, queue=self.queue,
                            detach=detach, result_ttl=result_ttl)
        return Job(self, h, task_type)

    def map(self, type, iterable, chunksize=None):
        """The results of task type `type` over the payloads of iterable,
        as a list in input order: one job, sent in batches of chunksize
        (default 10,000) while results come back. A failed task raises
        tasq.TaskError (its code, message and index)."""
        return list(self.imap(type, iterable, chunksize=chunksize))

    def imap(self, type, iterable, chunksize=None, timeout=None):
        """As map, but an iterator: results are yielded as they come, and
        the input is read as it is sent (memory stays bounded by the
        library's window). timeout (seconds from the call) bounds the
        whole job: TimeoutError past it."""
        job = self._open(type)
        feeder = _Feeder(job, iterable, chunksize or DEFAULT_CHUNKSIZE)
        return _imap_results(job, feeder, timeout)

    def submit_async(self, type, payloads, *, chunksize=None):
        """A concurrent.futures.Future of map(type, payloads): its
        result() is the list of results (or raises the first failed
        task's tasq.TaskError). It runs on a thread of the client's."""
        payloads = list(payloads)
        return self._executor().submit(self.map, type, payloads,
                                       chunksize)

    def _executor(self):
        with self._pool_lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(
                    max_workers=8, thread_name_prefix="tasq-client")
            return self._pool

    # -- jobs by id --------------------------------------------------------

    def status(self, job_id):
        """The JobStatus of job job_id (tasq.Error NOT_FOUND: no such
        job, or its results expired)."""
        return _status(_lib.job_status(self._session, job_id))

    def results(self, job_id, *, type=None, return_errors=False):
        """The results of detached job job_id, in input order, as a list,
        waiting until the job is done. Results are not consumed: any
        client may read them again until they expire. type: the task
        type whose codec decodes them (default: the job's)."""
        return list(self.iresults(job_id, type=type,
                                  return_errors=return_errors))

    def iresults(self, job_id, *, type=None, return_errors=False):
        """As results, but an iterator yielding results as they come."""
        job = Job(self, _lib.Job.attach(self._session, job_id), type)
        try:
            yield from job.results(return_errors=return_errors)
        finally:
            job.close()

    def cancel(self, job_id):
        """Cancels job job_id: its queued tasks are dropped and the
        workers running its tasks are told to stop. Returns CancelInfo."""
        dropped, running, st = _lib.job_cancel(self._session, job_id)
        return CancelInfo(dropped, running, _status(st))


def _status(d):
    return JobStatus(**d)


class Job:
    """A submitted job: .id (an int, shown by the tools in hex), .type.

    results() yields its results in input order; a job that is not
    detached delivers each result once (iterate once). Close it (or use
    it as a context manager) to free it early; a job closed before all
    its results were read is abandoned (the server drops it after its
    job TTL) unless it is detached.
    """

    def __init__(self, client, handle, task_type):
        self._client = client
        self._h = handle
        self.id = handle.id
        self.type = task_type or handle.type
        self._codec = client._codec(self.type)
        self._consumed = False

    def __repr__(self):
        return "<tasq.Job %016x %s>" % (self.id, self.type)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        h, self._h = self._h, None
        if h is not None:
            h.free()

    def _feed(self, payloads, chunksize, stop=None):
        for chunk in _chunks(payloads, chunksize):
            if stop is not None and stop.is_set():
                return
            width, data, lengths = self._codec.encode_column(chunk)
            self._h.add(width, data, lengths, len(chunk))
        self._h.end()

    def results(self, *, return_errors=False, timeout=None):
        """Yields each task's result in input order, waiting for them.
        A failed task raises tasq.TaskError, or with return_errors=True
        is yielded as its TaskError. timeout: seconds for the whole
        iteration (TimeoutError past it)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        index = 0
        while True:
            wait_ms = _remaining_ms(deadline)
            chunk = self._h.next(wait_ms)
            if chunk is None:
                return
            if chunk is _lib.TIMEOUT:
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError("tasq job %016x: results not in "
                                       "time" % self.id)
                continue
            for v in _decode_chunk(self._codec, chunk, index,
                                   return_errors):
                yield v
            index += chunk.n

    def wait(self, timeout=None):
        """Waits until every task of the job has a result (for a detached
        job; an attached one: read its results instead)."""
        self._h.wait(timeout)

    def status(self):
        return self._client.status(self.id)

    def cancel(self):
        return self._client.cancel(self.id)


def _remaining_ms(deadline):
    if deadline is None:
        return 1000
    return max(0, min(1000, int((deadline - time.monotonic()) * 1000)))


def _decode_chunk(codec, chunk, index, return_errors):
    """The values of one chunk of results, raising at a failed task."""
    if not chunk.codes:
        return codec.decode_column(chunk.width, chunk.data,
                                   chunk.lengths, chunk.n)
    out = []
    data, off = chunk.data, 0
    for i in range(chunk.n):
        ln = chunk.width if chunk.width else chunk.lengths[i]
        item = data[off:off + ln]
        off += ln
        code = chunk.codes[i]
        if code != 0:
            msg = chunk.errors[i] if chunk.errors else ""
            err = TaskError(code, msg, index + i)
            if not return_errors:
                # The values before it come first.
                for v in out:
                    yield v
                raise err
            out.append(err)
        else:
            out.append(codec.decode(bytes(item)))
    yield from out


class _Feeder(threading.Thread):
    """Sends a job's input on its own thread while results are read."""

    def __init__(self, job, iterable, chunksize):
        super().__init__(name="tasq-feeder", daemon=True)
        self.job = job
        self.iterable = iterable
        self.chunksize = chunksize
        self.error = None
        self.stop = threading.Event()
        self.start()

    def run(self):
        try:
            self.job._feed(self.iterable, self.chunksize, self.stop)
        except BaseException as e:  # re-raised by the reader
            self.error = e
            self.job._h.abort()


def _imap_results(job, feeder, timeout):
    try:
        for v in job.results(timeout=timeout):
            yield v
        feeder.join()
    except Error as e:
        # A feeder's error (a bad payload, a refused batch) explains an
        # aborted job better than the abort does.
        feeder.join(timeout=1)
        if feeder.error is not None:
            raise feeder.error from e
        raise
    finally:
        feeder.stop.set()
        if feeder.is_alive():
            job._h.abort()
            feeder.join()
        job.close()
    if feeder.error is not None:
        raise feeder.error

