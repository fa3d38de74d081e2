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
from ._codec import codec_for, Int64Codec, BytesCodec
from ._errors import Error, TaskError

__all__ = ["Client", "Job", "JobStatus"]

DEFAULT_CHUNKSIZE = 10000

JobStatus = collections.namedtuple(
    "JobStatus",
    "id queue type state submitted completed failed age detached "
    "host no_worker workers")
JobStatus.__doc__ = """A job's status (tasq status): state is "open",
"running", "done" or "cancelled"; age in seconds; submitted, completed
and failed count tasks."""


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
        and returns its Job. A job that is not detached delivers each
        result once, to this Job (job.results()); its input is sent on a
        thread of its own while the results are read, so the iterable may
        be longer than memory. detach=True sends the whole input before
        returning and keeps the results at the server (for result_ttl
        seconds once done, default the server's), to be read by job id
        from any client: Client.results(job_id)."""
        job = self._open(type, detach=detach, result_ttl=result_ttl)
        try:
            if detach:
                job._feed(payloads, chunksize or DEFAULT_CHUNKSIZE)
                job.flush()
            else:
                job._feeder = _Feeder(job, payloads,
                                      chunksize or DEFAULT_CHUNKSIZE)
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
        job = self.submit(type, iterable, chunksize=chunksize)
        return _closing(job, job.results(timeout=timeout))

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
        """The JobStatus of detached job job_id (tasq.Error NOT_FOUND: no
        such job, or its results expired; FAILED_PRECONDITION: the job is
        not detached: ask its Job instead)."""
        h = _lib.Job.attach(self._session, job_id)
        try:
            return _status(h.status())
        finally:
            h.free()

    def results(self, job_id, *, type=None, return_errors=False):
        """The results of detached job job_id, in input order, as a list,
        waiting until the job is done. Results are not consumed: any
        client may read them again until they expire. type: the task
        type whose codec decodes them (default: the job's)."""
        return list(self.iresults(job_id, type=type,
                                  return_errors=return_errors))

    def iresults(self, job_id, *, type=None, return_errors=False):
        """As results, but an iterator yielding results as they come."""
        h = _lib.Job.attach(self._session, job_id)
        if type is None:
            try:
                type = h.status()["type"]
            except BaseException:
                h.free()
                raise
        job = Job(self, h, type)
        try:
            yield from job.results(return_errors=return_errors)
        finally:
            job.close()

    def cancel(self, job_id):
        """Cancels detached job job_id: its queued tasks are dropped and
        the workers running its tasks are told to stop. Returns its
        JobStatus after the cancel."""
        h = _lib.Job.attach(self._session, job_id)
        try:
            h.cancel()
            return _status(h.status())
        finally:
            h.free()


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
        self.type = task_type
        self._codec = client._codec(self.type)
        self._feeder = None

    def __repr__(self):
        return "<tasq.Job %016x %s>" % (self.id, self.type)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Frees the job (a job not detached whose results are not all in
        is abandoned: the server drops its tasks)."""
        f, self._feeder = self._feeder, None
        if f is not None:
            f.stop.set()
            if f.is_alive() and self._h is not None:
                # The feeder may wait for window in tasq_job_add:
                # cancelling the job ends that.
                try:
                    self._h.cancel()
                except Error:
                    pass
            f.join()
        h, self._h = self._h, None
        if h is not None:
            h.free()

    def _feed(self, payloads, chunksize, stop=None):
        for chunk in _chunks(payloads, chunksize):
            if stop is not None and stop.is_set():
                return
            width, data, lengths = self._codec.encode_column(chunk)
            self._h.add_column(width, bytes(data), lengths, len(chunk))
        self._h.finish()

    def results(self, *, return_errors=False, timeout=None):
        """Yields each task's result in input order, waiting for them.
        A failed task raises tasq.TaskError, or with return_errors=True
        is yielded as its TaskError. timeout: seconds for the whole
        iteration (TimeoutError past it). An error sending the input (a
        payload the codec refuses, a batch the server refuses) is raised
        here, after the results of the input sent before it."""
        f = self._feeder
        try:
            for v in self._results(return_errors, timeout):
                if f is not None and f.error is not None:
                    break
                yield v
        except Error as e:
            if f is not None:
                f.join(timeout=1)
                if f.error is not None:
                    raise f.error from e
            raise
        if f is not None:
            f.join()
            if f.error is not None:
                raise f.error

    def _results(self, return_errors, timeout):
        deadline = None if timeout is None else time.monotonic() + timeout
        codec = self._codec
        int64 = isinstance(codec, Int64Codec)
        plain = isinstance(codec, BytesCodec)
        index = 0
        while True:
            tmo = None
            if deadline is not None:
                tmo = max(0, (deadline - time.monotonic()) * 1000)
            try:
                values, done, nfailed = self._h.read(4096, int64=int64,
                                                     timeout_ms=tmo)
            except _lib.TimedOut:
                raise TimeoutError("tasq job %016x: results not in time"
                                   % self.id) from None
            failed = False
            if nfailed or not (int64 or plain):
                values, failed = _decode(codec, values, index,
                                         return_errors)
            yield from values
            if failed:
                return
            index += len(values)
            if done:
                return

    def wait(self, timeout=None):
        """Waits until every task of the job has a result (the server's
        view for a detached job); TimeoutError past timeout seconds."""
        try:
            self._h.wait(None if timeout is None else timeout * 1000)
        except _lib.TimedOut:
            raise TimeoutError("tasq job %016x: not done in time"
                               % self.id) from None

    def flush(self):
        """Waits until the server has the whole input (for a detached
        job: the program may exit then)."""
        self._h.flush()

    def status(self):
        """The job's JobStatus (asks the server)."""
        return _status(self._h.status())

    def cancel(self):
        """Cancels the job (queued tasks dropped, running ones stopped);
        readers of its results get tasq.Error CANCELLED."""
        self._h.cancel()


def _decode(codec, values, index, return_errors):
    """Decodes read values with codec; a Failed becomes a TaskError,
    raised at its place unless return_errors: (values, stop)."""
    out = []
    for i, v in enumerate(values):
        if isinstance(v, _lib.Failed):
            err = TaskError(v.code, v.error, index + i)
            if not return_errors:
                return _Raise(out, err), True
            out.append(err)
        elif isinstance(v, int):
            out.append(v)
        else:
            out.append(codec.decode(v))
    return out, False


class _Raise:
    """Iterates over values, then raises err."""

    def __init__(self, values, err):
        self.values, self.err = values, err

    def __iter__(self):
        yield from self.values
        raise self.err


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
            # The reader waits for results of input that will not come:
            # end the input, so that it sees the end (and this error).
            try:
                self.job._h.finish()
            except Error:
                pass


def _closing(job, it):
    """Iterates it, then closes job (also on an error or a break)."""
    try:
        yield from it
    finally:
        job.close()
