"""tasq.Worker: Python functions as handlers of task types.

    import hashlib, tasq

    def sha256(payload):                # bytes in
        return hashlib.sha256(payload).hexdigest()   # str/bytes out

    tasq.Worker("tcp://10.0.0.5:7070", key_file="key").serve({
        "square": lambda n: n * n,      # ints in and out (tasq.INT64)
        "sha256": sha256,
    })

The worker leases batches of tasks of the given types from the server
(libtasq's worker side keeps the leases alive with heartbeats while the
handlers run), calls the handler once per task with the decoded payload,
and completes the batch with the encoded results. A task the process
holds when it dies (even kill -9) goes back to the queue when its
connection drops, and another worker computes it: nothing is lost, and
the server keeps the first result of each task only.

What a handler's outcome becomes (docs/PROTOCOL.md 8.2, retry policy):
- a return value: the result, encoded by the type's codec (an int for
  INT64 types; bytes or str for the others; None is an empty result);
- raise tasq.TaskError(code, message): that code (final codes such as
  tasq.INVALID_ARGUMENT are not retried, others are);
- OverflowError (a result that does not fit the codec, e.g. a square over
  64 bits): OUT_OF_RANGE, as the built-in square; ValueError, TypeError
  or UnicodeError: INVALID_ARGUMENT; both final;
- any other exception: UNKNOWN, which the server retries (up to the
  job's max attempts), with "ExceptionType: message" as the error.
"""

import signal
import threading

from . import _lib
from ._codec import codec_for, _column
from ._errors import (TaskError, INVALID_ARGUMENT, OUT_OF_RANGE, UNKNOWN)

__all__ = ["Worker"]

MAX_ERROR_BYTES = 1024


def _error_text(msg):
    b = msg.replace("\0", " ").encode("utf-8", "replace")
    if len(b) > MAX_ERROR_BYTES:
        b = b[:MAX_ERROR_BYTES].decode("utf-8", "ignore").encode("utf-8")
    return b


def _outcome_of(exc):
    if isinstance(exc, TaskError):
        return exc.code, exc.message or exc.name
    if isinstance(exc, OverflowError):
        code = OUT_OF_RANGE
    elif isinstance(exc, (ValueError, TypeError)):
        code = INVALID_ARGUMENT
    else:
        code = UNKNOWN
    return code, "%s: %s" % (type(exc).__name__, exc)


class Worker:
    """A worker process serving task types with Python functions.

    Worker(server=None, key_file=None, *, queue=None, batch_size=None,
    codecs=None, config=None, env=True, **options): the connection as
    for tasq.Client; queue: the queue to serve (default "default");
    batch_size: most tasks leased at once (default: the library's);
    codecs: {type: codec} as for tasq.Client.
    """

    def __init__(self, server=None, key_file=None, *, queue=None,
                 batch_size=None, codecs=None, config=None, env=True,
                 **options):
        opts = dict(options)
        opts["server"] = server
        opts["key_file"] = key_file
        self.queue = queue
        self.batch_size = batch_size
        self.codecs = dict(codecs or {})
        self._session = _lib.Session(opts, config=config, env=env)
        self._stop = threading.Event()
        self._serve = None
        self.tasks_done = 0

    def stop(self):
        """Asks serve() to return after the batch in hand (from any
        thread or a signal handler)."""
        self._stop.set()
        s = self._serve
        if s is not None:
            s.stop()

    def close(self):
        self.stop()
        self._session.close()
        self._session.free()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def serve(self, handlers, *, max_tasks=None, signals=True):
        """Serves the task types of handlers ({type: function}) until
        stop(), SIGTERM or SIGINT (signals=True, in the main thread:
        the batch in hand is finished and completed first, as
        tasq-worker drains), or max_tasks tasks are done."""
        if not handlers:
            raise ValueError("serve needs at least one handler")
        for t, fn in handlers.items():
            if not callable(fn):
                raise TypeError("the handler of %r is not callable" % t)
        codecs = {t: codec_for(t, self.codecs) for t in handlers}
        old = {}
        if signals and threading.current_thread() is \
                threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                old[sig] = signal.signal(sig, lambda *a: self.stop())
        serve = _lib.Serve(self._session, list(handlers), queue=self.queue,
                           batch_size=self.batch_size)
        self._serve = serve
        try:
            while not self._stop.is_set():
                limit = None
                if max_tasks is not None:
                    limit = max_tasks - self.tasks_done
                    if limit <= 0:
                        break
                lease = serve.lease(limit)
                if lease is None:  # nothing within the wait, or backoff
                    continue
                try:
                    self._run(lease, handlers[lease.type],
                              codecs[lease.type])
                finally:
                    lease.free()  # only if not handed back: released
        finally:
            self._serve = None
            serve.free()  # sends the results handed back
            for sig, h in old.items():
                signal.signal(sig, h)

    def _run(self, lease, fn, codec):
        """Runs fn over the lease's tasks and hands the lease back."""
        width, data, lengths = lease.column()
        try:
            values = codec.decode_column(width, data, lengths, lease.n)
        except Exception:
            values = None  # decoded one by one below, failing the bad ones
        out = [None] * lease.n
        complete = True
        off = 0
        cancelled = lease.cancelled
        for i in range(lease.n):
            ln = width or (lengths[i] if lengths else 0)
            item_off, off = off, off + ln
            if cancelled(i):
                # The job was cancelled: no result (the task is given
                # back, and the server drops it).
                complete = False
                continue
            try:
                if values is not None:
                    v = values[i]
                else:
                    v = codec.decode(data[item_off:item_off + ln])
                r = fn(v)
                if r is None:
                    r = b""
                elif not isinstance(r, bytes):
                    r = codec.encode(r)
                out[i] = r
            except Exception as e:
                complete = False
                code, msg = _outcome_of(e)
                out[i] = (code, _error_text(msg))
        if complete:
            lease.put_all(*_column(out))
        else:
            for i, r in enumerate(out):
                if r is None:
                    continue
                if isinstance(r, bytes):
                    lease.put(i, r)
                else:
                    lease.fail(i, r[0], r[1])
        lease.done()
        self.tasks_done += lease.n
