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


def _fn(lib, name, restype, *argtypes):
    f = getattr(lib, name)
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
    """The worker side (<tasq/worker.h>): declared once it exists."""


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


__all__ = ["load", "library_path", "version", "check", "Session",
           "LibraryNotFound", "Error"]
