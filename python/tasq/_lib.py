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


def _declare_client(lib):
    """The client side (tasq_job_*): declared once tasq.h has it."""


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
    _fn(lib, "tasq_lease_cancelled", ctypes.c_bool, vp)
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

    def free(self):
        h, self.handle = self.handle, None
        if h is not None:
            self._lib.tasq_session_free(h)

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
        if h is not None:
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

    def cancelled(self):
        return bool(self._lib.tasq_lease_cancelled(self.handle))

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
           "Serve", "Lease", "LibraryNotFound", "Error"]
