"""tasq: Python client, executor and worker for the tasq task queue.

A thin layer over libtasq (ctypes; no compiled part):

- tasq.Client(server, key_file=...): submit, map, imap, submit_async,
  status, results, cancel;
- tasq.Executor(server, key_file=...): concurrent.futures.Executor whose
  "functions" are task types (no code travels);
- tasq.Worker(server, key_file=...).serve({"square": fn, ...}): Python
  functions as handlers;
- payload codecs: tasq.INT64 ("square": 8-byte little-endian int64),
  tasq.BYTES (bytes, and str as UTF-8: every other type by default);
- tasq.Error / tasq.TaskError with .code (tasq.NOT_FOUND, ...).

docs/PYTHON.md (and python/README.md) is the guide.
"""

from ._version import __version__
from ._errors import Error, TaskError, CODES, code_name
from ._errors import (OK, CANCELLED, UNKNOWN, INVALID_ARGUMENT,
                      DEADLINE_EXCEEDED, NOT_FOUND, ALREADY_EXISTS,
                      PERMISSION_DENIED, RESOURCE_EXHAUSTED,
                      FAILED_PRECONDITION, ABORTED, OUT_OF_RANGE,
                      UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS,
                      UNAUTHENTICATED)
from ._codec import Codec, Int64Codec, BytesCodec, INT64, BYTES
from ._lib import LibraryNotFound, library_path, version as library_version
from .client import Client, Job, JobStatus
from .executor import Executor
from .worker import Worker

__all__ = [
    "__version__", "Client", "Job", "JobStatus", "Executor", "Worker",
    "Error", "TaskError", "LibraryNotFound", "Codec", "Int64Codec",
    "BytesCodec", "INT64", "BYTES", "CODES", "code_name", "library_path",
    "library_version",
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
    "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED",
]
