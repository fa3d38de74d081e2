#!/usr/bin/env python3
"""exec_sha256.py: an exec: handler for tasq-worker in Python (standard
library only). Every task's result is the hex SHA-256 of its payload.

    tasq-worker --type sha256=exec:'python3 /path/to/exec_sha256.py'

The framing (docs/HANDLERS.md): the worker writes a batch,
"TQB1" u32 n u64 seq, then n times u32 len + payload; the handler answers
"TQR1" u32 n u64 seq, then n times u32 status, u32 len, bytes (the result
for status 0, else an error message). Little-endian throughout.
"""
import hashlib
import struct
import sys


def read_exact(f, n):
    b = f.read(n)
    if len(b) != n:
        raise EOFError
    return b


def main():
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            head = read_exact(inp, 16)
        except EOFError:
            return 0  # the worker closed our stdin: exit
        magic, n, seq = struct.unpack("<4sIQ", head)
        if magic != b"TQB1":
            sys.stderr.write("exec_sha256.py: not a batch header\n")
            return 1
        parts = [struct.pack("<4sIQ", b"TQR1", n, seq)]
        for _ in range(n):
            (length,) = struct.unpack("<I", read_exact(inp, 4))
            payload = read_exact(inp, length)
            digest = hashlib.sha256(payload).hexdigest().encode()
            parts.append(struct.pack("<II", 0, len(digest)))
            parts.append(digest)
        out.write(b"".join(parts))
        out.flush()


if __name__ == "__main__":
    sys.exit(main())
