"""Payload encoding: how Python values travel as task payloads and results.

A task's payload and result are bytes on the wire (docs/PROTOCOL.md 8.2).
A codec turns Python values into those bytes and back, per task type:

- INT64, the codec of the built-in type "square": an int travels as 8
  bytes, a signed 64-bit integer in little-endian two's complement, as
  the built-in handler expects; its result comes back as an int. An int
  outside the 64-bit range cannot be encoded (OverflowError).
- BYTES, the codec of every other type unless told otherwise: bytes,
  bytearray and memoryview travel as they are, str as UTF-8; results are
  bytes (the built-in "sha256" gives the 64 hex characters of the digest,
  as bytes).

Pass codecs={"mytype": tasq.INT64} to Client, Executor or Worker to use
another codec for a type. A codec encodes a whole chunk at once (a
column: fixed width, or lengths) because per-item work dominates in
Python.
"""

import struct

__all__ = ["Codec", "Int64Codec", "BytesCodec", "INT64", "BYTES",
           "codec_for"]


class Codec:
    """Turns Python values into payload bytes and result bytes back.

    encode_column(items) -> (width, data, lengths): a list of items as one
    column, either width > 0 and data of len(items) * width bytes, or
    width 0 and lengths (one per item) of the items laid one after the
    other in data.
    decode(b) -> value: one result (or, in a worker, one payload).
    decode_column(width, data, lengths, n) -> list: n results at once.
    encode(value) -> bytes: one result (worker side) or one payload.
    """

    def encode(self, value):
        raise NotImplementedError

    def decode(self, data):
        raise NotImplementedError

    def encode_column(self, items):
        parts = [self.encode(v) for v in items]
        return _column(parts)

    def decode_column(self, width, data, lengths, n):
        data = bytes(data)
        if width:
            return [self.decode(data[i * width:(i + 1) * width])
                    for i in range(n)]
        out = []
        off = 0
        for ln in lengths:
            out.append(self.decode(data[off:off + ln]))
            off += ln
        return out


def _column(parts):
    """(width, data, lengths) for a list of bytes objects."""
    if parts:
        w = len(parts[0])
        if w > 0 and all(len(p) == w for p in parts):
            return w, b"".join(parts), None
    return 0, b"".join(parts), [len(p) for p in parts]


class Int64Codec(Codec):
    """int <-> 8 bytes, signed 64-bit little-endian (the type "square")."""

    _one = struct.Struct("<q")

    def encode(self, value):
        try:
            return self._one.pack(_as_int(value))
        except struct.error:
            raise OverflowError(
                "%r does not fit a signed 64-bit integer" % (value,)) \
                from None

    def decode(self, data):
        if len(data) != 8:
            raise ValueError("an int64 payload is 8 bytes, not %d"
                             % len(data))
        return self._one.unpack(data)[0]

    def encode_column(self, items):
        items = [_as_int(v) for v in items]
        try:
            return 8, struct.pack("<%dq" % len(items), *items), None
        except struct.error:
            bad = next(v for v in items if not -2**63 <= v < 2**63)
            raise OverflowError(
                "%r does not fit a signed 64-bit integer" % (bad,)) \
                from None

    def decode_column(self, width, data, lengths, n):
        if n == 0:
            return []
        if width == 8 and len(data) == 8 * n:
            return list(struct.unpack("<%dq" % n, data))
        return super().decode_column(width, data, lengths, n)


def _as_int(value):
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError("an int64 payload is an int, not %s"
                        % type(value).__name__)
    return value.__index__()


class BytesCodec(Codec):
    """bytes-like as they are, str as UTF-8; results as bytes."""

    def encode(self, value):
        if isinstance(value, bytes):
            return value
        if isinstance(value, str):
            return value.encode("utf-8")
        if isinstance(value, (bytearray, memoryview)):
            return bytes(value)
        raise TypeError("a payload is bytes or str, not %s (use a codec "
                        "such as tasq.INT64 for ints)"
                        % type(value).__name__)

    def decode(self, data):
        return bytes(data)


INT64 = Int64Codec()
BYTES = BytesCodec()

_DEFAULTS = {"square": INT64, "": INT64}


def codec_for(task_type, codecs=None):
    """The codec of task_type: codecs[task_type], else the default."""
    if codecs and task_type in codecs:
        return codecs[task_type]
    return _DEFAULTS.get(task_type, BYTES)
