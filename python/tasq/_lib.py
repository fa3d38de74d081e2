"""ctypes bindings of libtasq (include/tasq/tasq.h, include/tasq/worker.h).

Only this module touches ctypes. The library is loaded on first use
(load()), from the first of:

1. the TASQ_LIBRARY environment variable: a path to libtasq.so.1 (or a
   name the dynamic linker resolves);
2. the location recorded when the package was built and installed
   (tasq/_installed.py: TASQ_LIBRARY or `pkg-config tasq` at build time);
3. ctypes.util.find_library("tasq") (the linker cache: an installed
   libtasq, e.g. Debian's libtasq1);
4. "libtasq.so.1" as is (LD_LIBRARY_PATH and the linker's defaults).

Calls into the library release the GIL (ctypes.CDLL does), so blocking
calls (a submit waiting for the server, a worker waiting for tasks) let
other Python threads run. Every handle is freed by the object that owns
it (close() or the garbage collector).
"""

import ctypes
import ctypes.util
import itertools
import os
import threading

from ._errors import Error, error_from_rv

ERR_BASE = 0x4000

c_int_p = ctypes.POINTER(ctypes.c_int)
c_void_pp = ctypes.POINTER(ctypes.c_void_p)

_lock = threading.Lock()
_lib = None
_path = None


class LibraryNotFound(OSError):
    """libtasq could not be loaded (the message says where it looked)."""


def _candidates():
    env = os.environ.get("TASQ_LIBRARY")
    if env:
        yield env, "TASQ_LIBRARY"
    try:
        from . import _installed
        if _installed.LIBRARY:
            yield _installed.LIBRARY, "the location recorded at install"
    except ImportError:
        pass
    found = ctypes.util.find_library("tasq")
    if found:
        yield found, "ctypes.util.find_library"
    yield "libtasq.so.1", "the dynamic linker's search path"


def load():
    """The loaded libtasq (a ctypes.CDLL with prototypes), loading it once.
    """
    global _lib, _path
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is not None:
            return _lib
        tried = []
        for cand, how in _candidates():
            try:
                lib = ctypes.CDLL(cand)
            except OSError as e:
                tried.append("%s (%s): %s" % (cand, how, e))
                # TASQ_LIBRARY names the one to use: no fallback.
                if how == "TASQ_LIBRARY":
                    break
                continue
            _declare(lib)
            _path = cand
            _lib = lib
            return lib
        raise LibraryNotFound(
            "libtasq not found; set TASQ_LIBRARY to the path of "
            "libtasq.so.1. Tried: " + "; ".join(tried))


def library_path():
    """The path or name libtasq was loaded from (loading it if needed)."""
    load()
    return _path


class _Missing:
    """Stands in for a function this libtasq lacks (an older library):
    calling it raises tasq.Error UNIMPLEMENTED naming it."""

    def __init__(self, name):
        self.name = name

    def __call__(self, *args):
        raise Error(12, "%s: not in this libtasq (%s); upgrade it"
                    % (self.name, _path))


def _fn(lib, name, restype, *argtypes):
    try:
        f = getattr(lib, name)
    except AttributeError:
        # Not cached on the CDLL: set it, so that lib.name finds it.
        setattr(lib, name, _Missing(name))
        return None
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


def _declare(lib):
    vp, cp, ci = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
    _fn(lib, "tasq_version", cp)
    _fn(lib, "tasq_errstr", cp, ci)
    _fn(lib, "tasq_errname", cp, ci)
    _fn(lib, "tasq_errmsg", cp)
    _fn(lib, "tasq_opts_alloc", ci, c_void_pp)
    _fn(lib, "tasq_opts_free", None, vp)
    _fn(lib, "tasq_opts_set", ci, vp, cp, cp)
    _fn(lib, "tasq_opts_load_env", ci, vp)
    _fn(lib, "tasq_opts_load_file", ci, vp, cp)
    _fn(lib, "tasq_session_open", ci, c_void_pp, vp)
    _fn(lib, "tasq_session_close", None, vp)
    _fn(lib, "tasq_session_free", None, vp)
    _fn(lib, "tasq_session_ping", ci, vp)
    _declare_client(lib)
    _declare_worker(lib)


class JobOpts(ctypes.Structure):
    """struct tasq_job_opts."""
    _fields_ = [
        ("size", ctypes.c_size_t),
        ("queue", ctypes.c_char_p),
        ("type", ctypes.c_char_p),
        ("priority", ctypes.c_uint32),
        ("max_attempts", ctypes.c_uint32),
        ("detach", ctypes.c_bool),
        ("result_ttl_ms", ctypes.c_uint64),
        ("batch_size", ctypes.c_uint32),
        ("linger_ms", ctypes.c_uint32),
        ("window", ctypes.c_uint64),
        ("result_cb", ctypes.c_void_p),
        ("result_arg", ctypes.c_void_p),
    ]


class Result(ctypes.Structure):
    """struct tasq_result."""
    _fields_ = [
        ("index", ctypes.c_uint64),
        ("code", ctypes.c_int),
        ("data", ctypes.c_void_p),
        ("len", ctypes.c_size_t),
        ("error", ctypes.c_char_p),
    ]


class JobStatusC(ctypes.Structure):
    """struct tasq_job_status."""
    _fields_ = [
        ("size", ctypes.c_size_t),
        ("job_id", ctypes.c_uint64),
        ("state", ctypes.c_int),
        ("submitted", ctypes.c_uint64),
        ("completed", ctypes.c_uint64),
        ("failed", ctypes.c_uint64),
        ("age_ms", ctypes.c_uint64),
        ("detached", ctypes.c_bool),
        ("result_ttl_ms", ctypes.c_uint64),
        ("expires_in_ms", ctypes.c_uint64),
        ("no_worker", ctypes.c_bool),
        ("workers", ctypes.c_uint32),
        ("queue", ctypes.c_char * 65),
        ("type", ctypes.c_char * 65),
        ("host", ctypes.c_char * 256),
    ]


def _declare_client(lib):
    """The client side (tasq_job_*)."""
    vp, ci = ctypes.c_void_p, ctypes.c_int
    _fn(lib, "tasq_aio_alloc", ci, c_void_pp, vp, vp)
    _fn(lib, "tasq_aio_free", None, vp)
    _fn(lib, "tasq_aio_wait", None, vp)
    _fn(lib, "tasq_aio_result", ci, vp)
    _fn(lib, "tasq_aio_errmsg", ctypes.c_char_p, vp)
    _fn(lib, "tasq_aio_set_timeout", None, vp, ctypes.c_int32)
    _fn(lib, "tasq_aio_cancel", None, vp)
    _fn(lib, "tasq_job_open", ci, c_void_pp, vp, ctypes.POINTER(JobOpts))
    _fn(lib, "tasq_job_add", ci, vp, vp, ctypes.c_size_t)
    _fn(lib, "tasq_job_add_column", ci, vp, vp, ctypes.c_size_t,
        ctypes.c_size_t)
    _fn(lib, "tasq_job_add_many", ci, vp, vp, vp, ctypes.c_size_t)
    _fn(lib, "tasq_job_next_many", ci, vp, vp, ctypes.c_size_t,
        ctypes.POINTER(ctypes.c_size_t))
    _fn(lib, "tasq_job_finish", ci, vp)
    _fn(lib, "tasq_job_id", ctypes.c_uint64, vp)
    _fn(lib, "tasq_job_flush", ci, vp)
    _fn(lib, "tasq_job_next", ci, vp, ctypes.POINTER(Result))
    _fn(lib, "tasq_job_next_aio", ci, vp, ctypes.POINTER(Result), vp)
    _fn(lib, "tasq_job_wait", ci, vp)
    _fn(lib, "tasq_job_wait_aio", ci, vp, vp)
    _fn(lib, "tasq_job_get_status", ci, ctypes.POINTER(JobStatusC), vp)
    _fn(lib, "tasq_job_attach", ci, c_void_pp, vp, ctypes.c_uint64,
        ctypes.POINTER(JobOpts))
    _fn(lib, "tasq_job_cancel", ci, vp)
    _fn(lib, "tasq_job_free", None, vp)


def _declare_worker(lib):
    """The worker side (<tasq/worker.h>)."""
    vp, cp, ci, sz = (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                      ctypes.c_size_t)
    u32 = ctypes.c_uint32
    _fn(lib, "tasq_serve_alloc", ci, c_void_pp, vp)
    _fn(lib, "tasq_serve_free", None, vp)
    _fn(lib, "tasq_serve_add_type", ci, vp, cp)
    _fn(lib, "tasq_serve_add_queue", ci, vp, cp, u32)
    _fn(lib, "tasq_serve_set_batch", ci, vp, u32)
    _fn(lib, "tasq_serve_set_wait", ci, vp, u32)
    _fn(lib, "tasq_serve_set_name", ci, vp, cp)
    _fn(lib, "tasq_serve_lease", ci, c_void_pp, vp)
    _fn(lib, "tasq_serve_flush", ci, vp)
    _fn(lib, "tasq_serve_stop", None, vp)
    _fn(lib, "tasq_lease_count", sz, vp)
    _fn(lib, "tasq_lease_type", cp, vp)
    _fn(lib, "tasq_lease_width", u32, vp)
    _fn(lib, "tasq_lease_payload", vp, vp, sz, ctypes.POINTER(sz))
    _fn(lib, "tasq_lease_payloads", ci, c_void_pp, ctypes.POINTER(sz),
        c_void_pp, vp)
    _fn(lib, "tasq_lease_cancelled", ctypes.c_bool, vp, sz)
    _fn(lib, "tasq_lease_put", ci, vp, sz, cp, sz)
    _fn(lib, "tasq_lease_put_all", ci, vp, cp, sz, u32, vp)
    _fn(lib, "tasq_lease_fail", ci, vp, sz, ci, cp)
    _fn(lib, "tasq_lease_done", None, vp)
    _fn(lib, "tasq_lease_free", None, vp)


def check(rv, what=None):
    """Raises the Error of a library return value (0: nothing)."""
    if rv == 0:
        return
    lib = load()
    msg = lib.tasq_errmsg()
    msg = msg.decode("utf-8", "replace") if msg else ""
    if not msg:
        msg = (lib.tasq_errstr(rv) or b"").decode("utf-8", "replace")
    if what:
        msg = "%s: %s" % (what, msg)
    raise error_from_rv(rv, msg)


def version():
    """The version of the loaded libtasq, "MAJOR.MINOR.PATCH"."""
    return load().tasq_version().decode()


def _opt_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        # Durations in seconds (the tools take "1500ms").
        return "%dms" % round(value * 1000)
    return os.fspath(value)


class Session:
    """A tasq_session: a connection to one server (thread-safe)."""

    def __init__(self, options, config=None, env=True):
        lib = load()
        self._lib = lib
        self.handle = None
        # The handles of the session's jobs and serve handles, with the
        # function that frees each: the library wants them freed before
        # the session, and the garbage collector finalizes objects of a
        # cycle (at exit in particular) in no order. Whoever takes a
        # handle out of here (disown, or free) frees it.
        self._children = {}
        self._clock = threading.Lock()
        opts = ctypes.c_void_p()
        check(lib.tasq_opts_alloc(ctypes.byref(opts)))
        try:
            if env:
                check(lib.tasq_opts_load_env(opts), "environment")
            if config is not None:
                check(lib.tasq_opts_load_file(
                    opts, os.fsencode(config)), "config")
            for name, value in options.items():
                if value is None:
                    continue
                name = name.replace("_", "-")
                check(lib.tasq_opts_set(opts, name.encode(),
                                        os.fsencode(_opt_text(value))),
                      name)
            s = ctypes.c_void_p()
            check(lib.tasq_session_open(ctypes.byref(s), opts))
            self.handle = s
        finally:
            lib.tasq_opts_free(opts)

    def ping(self):
        check(self._lib.tasq_session_ping(self.handle))

    def close(self):
        """Aborts what is in flight (other threads' calls fail)."""
        if self.handle is not None:
            self._lib.tasq_session_close(self.handle)

    def adopt(self, handle, free_fn):
        with self._clock:
            self._children[handle.value] = free_fn

    def disown(self, handle):
        """True when handle was still the session's: the caller frees it.
        """
        with self._clock:
            return self._children.pop(handle.value, None) is not None

    def free(self):
        """Frees what is left of the session's jobs and serve handles,
        then the session."""
        with self._clock:
            children = list(self._children.items())
            self._children.clear()
        for hval, free_fn in children:
            free_fn(hval)
        h, self.handle = self.handle, None
        if h is not None:
            self._lib.tasq_session_free(h)

    def __del__(self):
        try:
            self.free()
        except Exception:
            pass


STATES = {0: "open", 1: "running", 2: "done", 3: "cancelled"}
_END = ERR_BASE + 11       # tasq_job_next: every result was taken
_DEADLINE = ERR_BASE + 4   # an aio's timeout
_c_int64_at = ctypes.c_int64.from_address
_string_at = ctypes.string_at


class Failed:
    """A failed task's result as read: code (1-16), data, error."""
    __slots__ = ("code", "data", "error")

    def __init__(self, code, data, error):
        self.code, self.data, self.error = code, data, error


class TimedOut(Exception):
    """An aio's timeout expired (nothing was taken)."""


class _Aio:
    def __init__(self, lib):
        self._lib = lib
        a = ctypes.c_void_p()
        check(lib.tasq_aio_alloc(ctypes.byref(a), None, None))
        self.handle = a

    def run(self, start, timeout_ms):
        """Starts an operation (start(aio) -> rv) and waits for it."""
        lib = self._lib
        lib.tasq_aio_set_timeout(self.handle, -1 if timeout_ms is None
                                 else max(0, int(timeout_ms)))
        check(start(self.handle))
        lib.tasq_aio_wait(self.handle)
        rv = lib.tasq_aio_result(self.handle)
        if rv == _DEADLINE:
            raise TimedOut()
        if rv != 0:
            msg = (lib.tasq_aio_errmsg(self.handle) or b"").decode(
                "utf-8", "replace")
            if not msg:
                msg = (lib.tasq_errstr(rv) or b"").decode()
            raise error_from_rv(rv, msg)

    def free(self):
        h, self.handle = self.handle, None
        if h is not None:
            self._lib.tasq_aio_free(h)

    def __del__(self):
        try:
            self.free()
        except Exception:
            pass


class Job:
    """A tasq_job (thread-safe; free() must not race with other calls)."""

    def __init__(self, lib, handle, session):
        self._lib = lib
        self.handle = handle
        self._session = session  # outlives the job
        self.id = lib.tasq_job_id(handle)
        self._r = Result()
        self._aio = None
        self._lock = threading.Lock()
        session.adopt(handle, lib.tasq_job_free)

    @classmethod
    def create(cls, session, task_type, queue=None, detach=False,
               result_ttl=None, window=None):
        lib = load()
        o = JobOpts()
        o.size = ctypes.sizeof(JobOpts)
        o.type = task_type.encode()
        o.queue = queue.encode() if queue else None
        o.detach = bool(detach)
        if result_ttl is not None:
            o.result_ttl_ms = max(1, int(result_ttl * 1000))
        if window is not None:
            o.window = int(window)
        h = ctypes.c_void_p()
        check(lib.tasq_job_open(ctypes.byref(h), session.handle,
                                ctypes.byref(o)), task_type)
        return cls(lib, h, session)

    @classmethod
    def attach(cls, session, job_id):
        lib = load()
        h = ctypes.c_void_p()
        check(lib.tasq_job_attach(ctypes.byref(h), session.handle,
                                  int(job_id), None),
              "job %016x" % int(job_id))
        return cls(lib, h, session)

    def add_column(self, width, data, lengths, n):
        """Adds n payloads laid out as a column (see tasq._codec)."""
        if n == 0:
            return
        base = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value
        # One library call for the whole column (the bulk calls take the
        # job's lock once for many); data stays alive meanwhile.
        if width:
            check(self._lib.tasq_job_add_column(self.handle, base, width,
                                                n))
            return
        addrs = (ctypes.c_void_p * n)(*itertools.accumulate(
            itertools.chain((base,), lengths[:-1])))
        lens = (ctypes.c_size_t * n)(*lengths)
        check(self._lib.tasq_job_add_many(self.handle, addrs, lens, n))

    def finish(self):
        check(self._lib.tasq_job_finish(self.handle))

    def flush(self):
        check(self._lib.tasq_job_flush(self.handle))

    def read(self, max_n, int64=False, timeout_ms=None):
        """Up to max_n results in input order: (values, done, failed). A
        value is an int (int64, for 8-byte results), bytes, or a Failed
        (failed counts them). Blocks
        for each result; with timeout_ms, raises TimedOut when the first
        does not come in time (later ones end the read instead)."""
        lib, h, r = self._lib, self.handle, self._r
        out = []
        append = out.append
        failed = 0
        rp = ctypes.byref(r)
        nxt = lib.tasq_job_next
        if timeout_ms is None:
            return self._read_many(max_n, int64)
        for _ in range(max_n):
            if timeout_ms is None:
                rv = nxt(h, rp)
            else:
                if self._aio is None:
                    self._aio = _Aio(lib)
                try:
                    self._aio.run(
                        lambda a: lib.tasq_job_next_aio(h, rp, a),
                        timeout_ms)
                    rv = 0
                except TimedOut:
                    if out:
                        return out, False, failed
                    raise
                except Error as e:
                    rv = ERR_BASE + e.code
                    if rv != _END:
                        raise
            if rv:
                if rv == _END:
                    return out, True, failed
                check(rv)
            code = r.code
            ln = r.len
            if code == 0:
                if int64 and ln == 8:
                    append(_c_int64_at(r.data).value)
                else:
                    append(_string_at(r.data, ln) if ln else b"")
            else:
                failed += 1
                err = r.error
                append(Failed(code - ERR_BASE if code > ERR_BASE else code,
                              _string_at(r.data, ln) if ln else b"",
                              err.decode("utf-8", "replace") if err
                              else ""))
        return out, False, failed

    _MANY = 4096

    def _read_many(self, max_n, int64):
        """read without a timeout: many results a call
        (tasq_job_next_many), each copied before the next call."""
        lib, h = self._lib, self.handle
        if getattr(self, "_rs", None) is None:
            self._rs = (Result * self._MANY)()
        rs = self._rs
        got = ctypes.c_size_t()
        gp = ctypes.byref(got)
        many = lib.tasq_job_next_many
        out = []
        append = out.append
        failed = 0
        while len(out) < max_n:
            rv = many(h, rs, min(self._MANY, max_n - len(out)), gp)
            if rv:
                if rv == _END:
                    return out, True, failed
                check(rv)
            for i in range(got.value):
                r = rs[i]
                code = r.code
                ln = r.len
                if code == 0:
                    if int64 and ln == 8:
                        append(_c_int64_at(r.data).value)
                    else:
                        append(_string_at(r.data, ln) if ln else b"")
                else:
                    failed += 1
                    err = r.error
                    append(Failed(
                        code - ERR_BASE if code > ERR_BASE else code,
                        _string_at(r.data, ln) if ln else b"",
                        err.decode("utf-8", "replace") if err else ""))
        return out, False, failed

    def wait(self, timeout_ms=None):
        if timeout_ms is None:
            check(self._lib.tasq_job_wait(self.handle))
            return
        aio = _Aio(self._lib)
        try:
            aio.run(lambda a: self._lib.tasq_job_wait_aio(self.handle, a),
                    timeout_ms)
        finally:
            aio.free()

    def status(self):
        st = JobStatusC()
        st.size = ctypes.sizeof(JobStatusC)
        check(self._lib.tasq_job_get_status(ctypes.byref(st), self.handle),
              "job %016x" % self.id)
        return {
            "id": st.job_id,
            "queue": st.queue.decode(),
            "type": st.type.decode(),
            "state": STATES.get(st.state, str(st.state)),
            "submitted": st.submitted,
            "completed": st.completed,
            "failed": st.failed,
            "age": st.age_ms / 1000.0,
            "detached": bool(st.detached),
            "host": st.host.decode("utf-8", "replace"),
            "no_worker": bool(st.no_worker),
            "workers": st.workers,
        }

    def cancel(self):
        check(self._lib.tasq_job_cancel(self.handle), "job %016x" % self.id)

    def free(self):
        with self._lock:
            h, self.handle = self.handle, None
        if self._aio is not None:
            self._aio.free()
            self._aio = None
        if h is not None and self._session.disown(h):
            self._lib.tasq_job_free(h)

    def __del__(self):
        try:
            self.free()
        except Exception:
            pass


# Refusals a worker waits out (the tasq-worker tool's backoff: 50 ms
# doubling to 2 s): the server is away, full, or slow to answer.
_TRANSIENT = {ERR_BASE + 14, ERR_BASE + 4, ERR_BASE + 8}


class Serve:
    """A tasq_serve: leases batches of some task types (one thread)."""

    def __init__(self, session, types, queue=None, batch_size=None,
                 name=None):
        lib = load()
        self._lib = lib
        self.handle = None
        w = ctypes.c_void_p()
        check(lib.tasq_serve_alloc(ctypes.byref(w), session.handle))
        self.handle = w
        self._session = session
        session.adopt(w, lib.tasq_serve_free)
        try:
            for t in types:
                check(lib.tasq_serve_add_type(w, t.encode()), t)
            if queue:
                for q in queue.split(","):
                    qn, _, weight = q.partition(":")
                    check(lib.tasq_serve_add_queue(
                        w, qn.encode(), int(weight or 1)), q)
            self.batch = batch_size or 16384
            check(lib.tasq_serve_set_batch(w, self.batch))
            if name:
                check(lib.tasq_serve_set_name(w, name.encode()))
        except BaseException:
            self.free()
            raise
        self._backoff = 0.0
        self._stopped = threading.Event()
        self._set = self.batch

    def lease(self, limit=None):
        """A Lease of at most limit tasks, or None when none came within
        the wait (about 1 s) or the server is away (after a backoff)."""
        want = self.batch if limit is None else max(1, min(limit,
                                                           self.batch))
        if want != self._set:
            check(self._lib.tasq_serve_set_batch(self.handle, want))
            self._set = want
        lp = ctypes.c_void_p()
        rv = self._lib.tasq_serve_lease(ctypes.byref(lp), self.handle)
        if rv in _TRANSIENT:
            self._backoff = min(2.0, max(0.05, self._backoff * 2))
            self._stopped.wait(self._backoff)
            return None
        check(rv)
        self._backoff = 0.0
        if not lp.value:
            return None
        return Lease(self._lib, lp)

    def stop(self):
        """Ends a backoff early (any thread)."""
        self._stopped.set()

    def free(self):
        """Sends the results handed back, releases what is held, frees."""
        h, self.handle = self.handle, None
        if h is not None and self._session.disown(h):
            self._lib.tasq_serve_free(h)

    def __del__(self):
        try:
            self.free()
        except Exception:
            pass


class Lease:
    """A tasq_lease: one batch of tasks of one type (one thread)."""

    def __init__(self, lib, handle):
        self._lib = lib
        self.handle = handle
        self.n = lib.tasq_lease_count(handle)
        self.type = lib.tasq_lease_type(handle).decode()

    def payload(self, i):
        ln = ctypes.c_size_t()
        p = self._lib.tasq_lease_payload(self.handle, i, ctypes.byref(ln))
        return ctypes.string_at(p, ln.value) if ln.value else b""

    def column(self):
        """(width, data, lengths): every payload as one column."""
        data = ctypes.c_void_p()
        size = ctypes.c_size_t()
        lens = ctypes.c_void_p()
        check(self._lib.tasq_lease_payloads(
            ctypes.byref(data), ctypes.byref(size), ctypes.byref(lens),
            self.handle))
        width = self._lib.tasq_lease_width(self.handle)
        raw = ctypes.string_at(data.value, size.value) if size.value else b""
        lengths = None
        if not width and lens.value:
            lengths = list((ctypes.c_uint32 * self.n).from_address(
                lens.value))
        return width, raw, lengths

    def cancelled(self, i):
        """Whether task i's job was cancelled (its result is unwanted)."""
        return bool(self._lib.tasq_lease_cancelled(self.handle, i))

    def put_all(self, width, data, lengths):
        arr = None
        if not width:
            arr = (ctypes.c_uint32 * len(lengths))(*lengths)
        check(self._lib.tasq_lease_put_all(self.handle, data, len(data),
                                           width, arr))

    def put(self, i, data):
        check(self._lib.tasq_lease_put(self.handle, i, data, len(data)))

    def fail(self, i, code, msg):
        check(self._lib.tasq_lease_fail(self.handle, i, code, msg))

    def done(self):
        """Hands the lease back with its results (they go with the next
        lease request, or within 100 ms); tasks without one are released.
        """
        h, self.handle = self.handle, None
        if h is not None:
            self._lib.tasq_lease_done(h)

    def free(self):
        """Frees a lease not handed back: its tasks are released."""
        h, self.handle = self.handle, None
        if h is not None:
            self._lib.tasq_lease_free(h)


__all__ = ["load", "library_path", "version", "check", "Session",
           "Serve", "Lease", "Job", "Failed", "TimedOut", "LibraryNotFound", "Error"]
