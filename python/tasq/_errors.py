"""Errors: every failure is a tasq.Error carrying a tasq status code.

The codes are the wire's (docs/PROTOCOL.md section 12, gRPC canonical
codes): a failed call of the library and a failed task use the same
numbers, and the same names the tasq tools print.
"""

ERR_BASE = 0x4000

# The codes (tasq.NOT_FOUND == 5, ...) and their names.
OK = 0
CANCELLED = 1
UNKNOWN = 2
INVALID_ARGUMENT = 3
DEADLINE_EXCEEDED = 4
NOT_FOUND = 5
ALREADY_EXISTS = 6
PERMISSION_DENIED = 7
RESOURCE_EXHAUSTED = 8
FAILED_PRECONDITION = 9
ABORTED = 10
OUT_OF_RANGE = 11
UNIMPLEMENTED = 12
INTERNAL = 13
UNAVAILABLE = 14
DATA_LOSS = 15
UNAUTHENTICATED = 16

CODES = {v: k for k, v in list(globals().items())
         if k.isupper() and isinstance(v, int) and k != "ERR_BASE"}


def code_name(code):
    return CODES.get(code, "UNKNOWN")


class Error(Exception):
    """A call failed: .code (an int, e.g. tasq.NOT_FOUND), .name
    ("NOT_FOUND") and .message (the library's detail)."""

    def __init__(self, code, message=""):
        self.code = code
        self.name = code_name(code)
        self.message = message
        super().__init__("%s: %s" % (self.name, message) if message
                         else self.name)


class TaskError(Error):
    """A task failed: its code, the worker's message, and its index in
    the job's input (0-based)."""

    def __init__(self, code, message="", index=None):
        super().__init__(code, message)
        self.index = index
        if index is not None:
            self.args = ("task %d: %s" % (index, self.args[0]),)


def error_from_rv(rv, message=""):
    code = rv - ERR_BASE if ERR_BASE < rv <= ERR_BASE + 16 else 2
    return Error(code, message)
