#!/usr/bin/env python3
"""A tasq client in standard-library Python, written from docs/PROTOCOL.md.

It shares no code with tasq: the SP handshake and REQ framing, the tasq
envelope, the HMAC-SHA256 tag and the protobuf encoding are all done by
hand here, so that a run against a real tasq-server shows that the
document is enough to write a compatible client.

What a run does (each step checks the reply's tag, kind, reply_to and
method, then its fields):

  1. Health (method 0).
  2. Submit (method 1) of a few integers in two batches, then the first
     batch again: the server must call it a duplicate.
  3. Fetch (method 6) until every result has arrived, acknowledging each
     delivery with ack_seq; checks every result (the worker squares the
     input; squares that overflow int64 come back as OUT_OF_RANGE). Then
     Stats (method 8): the queue's submitted and completed grew by the
     job's tasks, the duplicate batch not counted, and the queues add up
     to the counters tasks_submitted and tasks_completed.
  4. Two requests in flight on one connection, answered out of order.
  5. CloseJob (method 7); a Fetch of the closed job is NOT_FOUND.
  6. A Fetch that carries its job's Submit (FetchRequest.submit, field 5):
     a new job of one batch goes in the first Fetch, whose reply says in
     field 7 that it was accepted; every result comes back right. The same
     batch in a Fetch again is a duplicate (Stats counts it once). A
     carried Submit for another job, or with a bad queue name, fails the
     whole request (INVALID_ARGUMENT) and creates no job. Replies to plain
     Fetches (here and in step 3) have no field 7.
  7. The failure replies of PROTOCOL.md section 6: a request signed with an
     unknown key and bytes that are no envelope (unsigned replies), a
     replayed request, a stale timestamp, an unknown method and an invalid
     queue name (signed replies).
  8. With --typed (a server and worker that run typed tasks, PROTOCOL.md
     8.2): a job of type sha256 whose payloads travel as a Blobs column of
     lengths, and a square job of 8-byte little-endian payloads (width 8);
     every result is checked (the hex digest; the square, or OUT_OF_RANGE
     with an error message), and a Submit with both values and payloads
     is refused.

Usage:
  py_client.py --url tcp://127.0.0.1:7070 --key-file KEY [--queue NAME]
               [--typed]
  py_client.py --check-doc docs/PROTOCOL.md   (verify the worked example)

The key comes from --key-file (the whole file, trailing whitespace removed)
or from the TASQ_KEY environment variable. Exit status: 0 when every check
passed, 1 when one failed, 2 for usage errors.
"""

import argparse
import hashlib
import hmac
import os
import re
import secrets
import socket
import ssl
import struct
import sys
import time

# ---------------------------------------------------------------------------
# Protocol constants (PROTOCOL.md sections 2-4)

SP_HELLO_REQ = b"\x00SP\x00\x00\x30\x00\x00"  # we are REQ v0 (0x0030)
SP_HELLO_REP = b"\x00SP\x00\x00\x31\x00\x00"  # the server is REP v0 (0x0031)

MAGIC = b"TQ"
VERSION = 1
KIND_REQUEST = 1
KIND_REPLY = 2
HDR = struct.Struct(">2sBBIQQQQHHII")  # 52 bytes
TAG_LEN = 32
assert HDR.size == 52

M_HEALTH, M_SUBMIT, M_LEASE, M_COMPLETE, M_EXTEND = 0, 1, 2, 3, 4
M_RELEASE, M_FETCH, M_CLOSE_JOB, M_STATS = 5, 6, 7, 8
M_JOB_LIST, M_JOB_STATUS, M_RESULTS = 11, 12, 13
JOB_STATE_DONE = 2

CODES = [
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
    "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
]
OK, INVALID_ARGUMENT, DEADLINE_EXCEEDED = 0, 3, 4
NOT_FOUND, RESOURCE_EXHAUSTED, ABORTED, OUT_OF_RANGE = 5, 8, 10, 11
UNIMPLEMENTED, UNAVAILABLE, UNAUTHENTICATED = 12, 14, 16
RETRYABLE = (RESOURCE_EXHAUSTED, UNAVAILABLE, DEADLINE_EXCEEDED)

U64 = (1 << 64) - 1


def code_name(c):
    return CODES[c] if 0 <= c < len(CODES) else "UNKNOWN(%d)" % c


# ---------------------------------------------------------------------------
# Protobuf (proto3) by hand: varints, zigzag, packed repeated fields.


def enc_varint(v):
    v &= U64
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def zigzag(v):
    return ((v << 1) ^ (v >> 63)) & U64


def unzigzag(u):
    return (u >> 1) ^ -(u & 1)


def f_varint(num, v):
    """A scalar varint field; proto3 omits zero values."""
    if v == 0:
        return b""
    return enc_varint(num << 3 | 0) + enc_varint(v)


def f_bytes(num, b):
    if not b:
        return b""
    return enc_varint(num << 3 | 2) + enc_varint(len(b)) + b


def f_packed(num, values, signed=False):
    if not values:
        return b""
    body = b"".join(enc_varint(zigzag(v) if signed else v) for v in values)
    return f_bytes(num, body)


def dec_varint(buf, pos):
    v = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("bad varint")
        b = buf[pos]
        pos += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v & U64, pos


def pb_fields(buf):
    """Parses a message into {field number: [raw values]}: ints for varint
    fields, bytes for length-delimited ones (strings, sub-messages and
    packed repeated fields)."""
    out = {}
    pos = 0
    while pos < len(buf):
        key, pos = dec_varint(buf, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, pos = dec_varint(buf, pos)
        elif wt == 2:
            n, pos = dec_varint(buf, pos)
            if pos + n > len(buf):
                raise ValueError("truncated field")
            v = bytes(buf[pos:pos + n])
            pos += n
        elif wt == 1:
            v = int.from_bytes(buf[pos:pos + 8], "little")
            pos += 8
        elif wt == 5:
            v = int.from_bytes(buf[pos:pos + 4], "little")
            pos += 4
        else:
            raise ValueError("wire type %d" % wt)
        out.setdefault(num, []).append(v)
    return out


def pb_int(f, num):
    return f.get(num, [0])[-1]


def pb_str(f, num):
    return f.get(num, [b""])[-1].decode("utf-8", "replace")


def pb_repeated(f, num, signed=False):
    """A repeated scalar field, packed (the usual) or not."""
    vals = []
    for raw in f.get(num, []):
        if isinstance(raw, bytes):
            pos = 0
            while pos < len(raw):
                v, pos = dec_varint(raw, pos)
                vals.append(v)
        else:
            vals.append(raw)
    if signed:
        vals = [unzigzag(v) for v in vals]
    return vals


# ---------------------------------------------------------------------------
# Keys (PROTOCOL.md section 3)


def load_key(path):
    with open(path, "rb") as f:
        key = f.read(1025 + 4096)
    key = key.rstrip(b" \t\r\n")
    if not 16 <= len(key) <= 1024:
        raise ValueError("a key must be 16 to 1024 bytes")
    return key


def key_id_of(key):
    return struct.unpack(">I", hashlib.sha256(b"tasq-key-id\0" + key)
                         .digest()[:4])[0]


# ---------------------------------------------------------------------------
# SP transport: the nng TCP/IPC framing and the REQ v0 request id
# (PROTOCOL.md section 1)


class TransportError(Exception):
    pass


class SPReq:
    def __init__(self, url, timeout, tls_ca=None, tls_server_name=None):
        self.ipc = False
        if url.startswith("tcp://") or url.startswith("tls+tcp://"):
            hostport = url.split("://", 1)[1]
            host, _, port = hostport.rpartition(":")
            host = host.strip("[]")
            s = socket.create_connection((host, int(port)), timeout=timeout)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if url.startswith("tls+tcp://"):
                ctx = ssl.create_default_context(cafile=tls_ca)
                s = ctx.wrap_socket(s, server_hostname=tls_server_name or host)
        elif url.startswith("ipc://"):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(timeout)
            s.connect(url[len("ipc://"):])
            self.ipc = True
        else:
            raise ValueError("unsupported URL %s" % url)
        self.sock = s
        self.sock.settimeout(timeout)
        self.sock.sendall(SP_HELLO_REQ)
        hello = self._recv_exact(8)
        if hello != SP_HELLO_REP:
            raise TransportError("peer is not an SP REP v0 socket: %s"
                                 % hello.hex())

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            try:
                d = self.sock.recv(n - len(buf))
            except socket.timeout:
                raise TransportError("timed out")
            if not d:
                raise TransportError("connection closed by the server")
            buf += d
        return bytes(buf)

    def send_frame(self, payload):
        head = struct.pack(">Q", len(payload))
        if self.ipc:
            head = b"\x01" + head
        self.sock.sendall(head + payload)

    def recv_frame(self, timeout):
        self.sock.settimeout(timeout)
        if self.ipc:
            if self._recv_exact(1) != b"\x01":
                raise TransportError("bad IPC message type")
        (n,) = struct.unpack(">Q", self._recv_exact(8))
        if n > 64 << 20:
            raise TransportError("reply too large")
        return self._recv_exact(n)

    @staticmethod
    def new_request_id():
        return secrets.randbits(31) | 0x80000000

    def send_request(self, rid, body):
        self.send_frame(struct.pack(">I", rid) + body)

    def recv_reply(self, rid, timeout):
        """Returns the body of the reply to request id rid; replies to
        other (abandoned) requests are dropped, as nng's REQ does."""
        until = time.monotonic() + timeout
        while True:
            left = until - time.monotonic()
            if left <= 0:
                raise TransportError("timed out")
            frame = self.recv_frame(left)
            if len(frame) < 4:
                raise TransportError("short SP message")
            (got,) = struct.unpack(">I", frame[:4])
            if got == rid:
                return frame[4:]

    def request(self, body, timeout):
        rid = self.new_request_id()
        self.send_request(rid, body)
        return self.recv_reply(rid, timeout)


# ---------------------------------------------------------------------------
# Envelope (PROTOCOL.md section 2)


class RpcError(Exception):
    def __init__(self, code, message, signed):
        super().__init__("%s: %s%s" % (code_name(code), message,
                                       "" if signed else " (unsigned)"))
        self.code = code
        self.text = message
        self.signed = signed


class ProtocolError(Exception):
    pass


def seal(key, key_id, kind, sender_id, seq, ts_ms, reply_to, method, status,
         deadline_ms, body):
    hdr = HDR.pack(MAGIC, VERSION, kind, key_id, sender_id, seq, ts_ms,
                   reply_to, method, status, deadline_ms, len(body))
    signed = hdr + body
    tag = hmac.new(key, signed, hashlib.sha256).digest() if key_id else \
        bytes(TAG_LEN)
    return signed + tag


def parse_envelope(buf):
    if len(buf) < HDR.size + TAG_LEN:
        raise ProtocolError("envelope shorter than 84 bytes")
    (magic, version, kind, key_id, sender_id, seq, ts_ms, reply_to, method,
     status, deadline_ms, body_len) = HDR.unpack_from(buf)
    if magic != MAGIC or version != VERSION or kind not in (1, 2):
        raise ProtocolError("not a tasq v1 envelope")
    if body_len != len(buf) - HDR.size - TAG_LEN:
        raise ProtocolError("body_len does not match the message length")
    return dict(kind=kind, key_id=key_id, sender_id=sender_id, seq=seq,
                timestamp_ms=ts_ms, reply_to=reply_to, method=method,
                status=status, deadline_ms=deadline_ms, body_len=body_len,
                body=buf[HDR.size:HDR.size + body_len],
                tag=buf[HDR.size + body_len:])


def decode_status(body):
    f = pb_fields(body)
    return pb_int(f, 1), pb_str(f, 2)


def now_ms():
    return int(time.time() * 1000)


def submit_request(queue, job_id, first_index, values):
    """A SubmitRequest body: the body of Submit, or FetchRequest.submit."""
    return (f_bytes(1, queue.encode()) + f_varint(2, job_id) +
            f_varint(3, first_index) + f_packed(4, values, signed=True))


def blobs(items):
    """A Blobs column (PROTOCOL.md 8.2): fixed width when every item has
    the same length above 0, else one length per item."""
    data = b"".join(items)
    if items and len(items[0]) > 0 and \
            all(len(x) == len(items[0]) for x in items):
        return f_varint(1, len(items[0])) + f_bytes(3, data)
    return f_packed(2, [len(x) for x in items]) + f_bytes(3, data)


def dec_blobs(raw, n):
    """The n items of an encoded Blobs column, checked as 8.2 says."""
    f = pb_fields(raw)
    width, lengths = pb_int(f, 1), pb_repeated(f, 2)
    data = f[3][-1] if 3 in f else b""
    if width > 0:
        if lengths or len(data) != n * width:
            raise ProtocolError("Blobs: width does not match the data")
        return [data[i * width:(i + 1) * width] for i in range(n)]
    if len(lengths) != n or sum(lengths) != len(data):
        raise ProtocolError("Blobs: lengths do not match the data")
    out, pos = [], 0
    for ln in lengths:
        out.append(data[pos:pos + ln])
        pos += ln
    return out


def i64le(v):
    return struct.pack("<q", v)


def typed_submit_request(queue, job_id, first_index, task_type, payloads,
                         retry=None):
    """A SubmitRequest of typed tasks: type (5), payloads (6), and the
    job's RetryPolicy (7: max_attempts, backoff_ms, backoff_max_ms)."""
    body = (f_bytes(1, queue.encode()) + f_varint(2, job_id) +
            f_varint(3, first_index) + f_bytes(5, task_type.encode()))
    b = blobs(payloads)
    body += enc_varint(6 << 3 | 2) + enc_varint(len(b)) + b
    if retry is not None:
        r = b"".join(f_varint(i + 1, v) for i, v in enumerate(retry))
        body += enc_varint(7 << 3 | 2) + enc_varint(len(r)) + r
    return body


def submit_reply(f):
    """A decoded SubmitReply (Submit's reply, or FetchReply.submit)."""
    return dict(accepted=pb_int(f, 1), duplicate=bool(pb_int(f, 2)))


class Client:
    def __init__(self, sp, key):
        self.sp = sp
        self.key = key
        self.key_id = key_id_of(key)
        self.sender_id = secrets.randbits(64) or 1
        self.seq = 0
        self.last_request = None  # bytes of the last envelope sent

    def envelope(self, method, body, deadline_ms, seq=None, ts_ms=None,
                 key=None):
        if seq is None:
            self.seq += 1
            seq = self.seq
        k = key if key is not None else self.key
        return seq, seal(k, key_id_of(k), KIND_REQUEST, self.sender_id, seq,
                         now_ms() if ts_ms is None else ts_ms, 0, method, 0,
                         deadline_ms, body)

    def verify(self, raw, seq, method):
        """Checks a reply to request seq of method; returns its header, or
        raises RpcError for a non-OK status."""
        h = parse_envelope(raw)
        if h["key_id"] == 0:
            # Unsigned: only ever an error the server sends to a peer it
            # could not authenticate. Trust nothing in it but report it.
            if h["status"] == 0 or any(h["tag"]):
                raise ProtocolError("unsigned reply that is not an error")
            code, text = decode_status(h["body"])
            raise RpcError(h["status"], text, signed=False)
        if h["key_id"] != self.key_id:
            raise ProtocolError("reply signed with another key")
        want = hmac.new(self.key, raw[:HDR.size + h["body_len"]],
                        hashlib.sha256).digest()
        if not hmac.compare_digest(want, h["tag"]):
            raise ProtocolError("reply tag does not verify")
        if h["kind"] != KIND_REPLY or h["reply_to"] != seq or \
                h["method"] != method:
            raise ProtocolError("reply does not match the request")
        if h["status"] != 0:
            code, text = decode_status(h["body"])
            raise RpcError(h["status"], text, signed=True)
        return h

    def call(self, method, body, timeout_ms=5000, retries=20):
        """One RPC with the retry policy of PROTOCOL.md section 7: a
        retryable status or a lost reply sends the request again, signed
        afresh with a new seq."""
        delay = 0.01
        for attempt in range(retries + 1):
            seq, env = self.envelope(method, body, timeout_ms)
            self.last_request = env
            try:
                raw = self.sp.request(env, timeout_ms / 1000.0)
                h = self.verify(raw, seq, method)
                return pb_fields(h["body"])
            except RpcError as e:
                if e.code not in RETRYABLE or attempt == retries:
                    raise
            except TransportError:
                if attempt == retries:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    # The methods used here ------------------------------------------------

    def health(self):
        f = self.call(M_HEALTH, b"")
        return dict(serving=bool(pb_int(f, 1)), version=pb_str(f, 2),
                    server_id=pb_int(f, 3), uptime_ms=pb_int(f, 4))

    def submit(self, queue, job_id, first_index, values):
        f = self.call(M_SUBMIT, submit_request(queue, job_id, first_index,
                                               values))
        return submit_reply(f)

    def submit_typed(self, queue, job_id, first_index, task_type, payloads,
                     retry=None):
        f = self.call(M_SUBMIT, typed_submit_request(
            queue, job_id, first_index, task_type, payloads, retry))
        return submit_reply(f)

    def fetch(self, job_id, ack_seq, max_results=0, wait_ms=1000,
              submit=None):
        """A Fetch; submit, if given, is an encoded SubmitRequest carried
        in field 5. The reply's field 7 comes back as "submit": None when
        the reply has no field 7, else a SubmitReply dict."""
        body = (f_varint(1, job_id) + f_varint(2, ack_seq) +
                f_varint(3, max_results) + f_varint(4, wait_ms))
        if submit is not None:
            # Not f_bytes: a present field 5 is sent even if it were empty.
            body += enc_varint(5 << 3 | 2) + enc_varint(len(submit)) + submit
        # The deadline must exceed the wait: the server caps its long-poll
        # at 80% of deadline_ms, less 20 ms.
        f = self.call(M_FETCH, body, timeout_ms=wait_ms + 5000)
        ids = pb_repeated(f, 2)
        values = pb_repeated(f, 3, signed=True)
        codes = pb_repeated(f, 4)
        # Typed jobs' results (8.2): a Blobs column and error messages.
        results = dec_blobs(f[8][-1], len(ids)) if 8 in f else None
        errors = [e.decode() for e in f.get(9, [])]
        if (results is None and len(values) != len(ids)) or \
                (results is not None and values) or \
                (codes and len(codes) != len(ids)) or \
                (errors and len(errors) != len(ids)):
            raise ProtocolError("fetch reply columns differ in length")
        carried = None
        if 7 in f:
            carried = submit_reply(pb_fields(f[7][-1]))
        return dict(seq=pb_int(f, 1), ids=ids, values=values,
                    results=results, errors=errors or [""] * len(ids),
                    no_worker=bool(pb_int(f, 10)),
                    codes=codes or [0] * len(ids), submitted=pb_int(f, 5),
                    completed=pb_int(f, 6), submit=carried)

    def stats(self):
        """StatsReply: queues by name (QueueStats fields as a dict; the
        fields this client does not know are skipped) and counters."""
        f = self.call(M_STATS, b"")
        queues = {}
        for raw in f.get(3, []):
            q = pb_fields(raw)
            queues[pb_str(q, 1)] = dict(
                ready=pb_int(q, 2), leased=pb_int(q, 3),
                results=pb_int(q, 4), jobs=pb_int(q, 5), dead=pb_int(q, 6),
                submitted=pb_int(q, 7), completed=pb_int(q, 8))
        counters = {}
        for raw in f.get(5, []):
            c = pb_fields(raw)
            counters[pb_str(c, 1)] = pb_int(c, 2)
        return dict(version=pb_str(f, 1), uptime_ms=pb_int(f, 2),
                    queues=queues, counters=counters)

    def close_job(self, job_id, ack_seq):
        f = self.call(M_CLOSE_JOB, f_varint(1, job_id) + f_varint(2, ack_seq))
        return dict(dropped=pb_int(f, 1))


# ---------------------------------------------------------------------------
# The run


class Check:
    def __init__(self):
        self.failed = 0

    def __call__(self, ok, what):
        print("%s %s" % ("ok  " if ok else "FAIL", what), flush=True)
        if not ok:
            self.failed += 1
        return ok


def expected(v):
    sq = v * v
    if sq > (1 << 63) - 1:
        return OUT_OF_RANGE, 0
    return OK, sq


def raw_exchange(sp, env, timeout=5.0):
    return parse_envelope(sp.request(env, timeout))


def record(check, results, f, n):
    """Keeps the first result of each id in a Fetch reply (a redelivery is
    ignored); an id outside the job's n tasks fails a check."""
    for i, v, code in zip(f["ids"], f["values"], f["codes"]):
        if i >= n:
            check(False, "Fetch returned id %d outside the job" % i)
            continue
        results.setdefault(i, (code, v))


def check_results(check, values, results):
    for i, v in enumerate(values):
        want = expected(v)
        got = results.get(i)
        if got is None:
            continue
        check(got == want, "result of %d: %s %d (want %s %d)" %
              (v, code_name(got[0]), got[1], code_name(want[0]), want[1]))


def expect_error(check, what, fn, want_code, want_text):
    """fn() must fail with a signed want_code whose text has want_text."""
    try:
        fn()
        check(False, "%s was accepted" % what)
    except RpcError as e:
        check(e.signed and e.code == want_code and want_text in e.text,
              "%s: signed %s: %r" % (what, code_name(e.code), e.text))


def run(args, key):
    check = Check()
    sp = SPReq(args.url, args.timeout, args.tls_ca, args.tls_server_name)
    c = Client(sp, key)

    # 1. Health
    h = c.health()
    check(h["serving"] and h["version"] != "",
          "Health: serving, version %s, server_id %016x" %
          (h["version"], h["server_id"]))
    health_env = c.last_request

    # The queue's counts before this run (the server may have served it).
    zero = dict(submitted=0, completed=0)
    q0 = c.stats()["queues"].get(args.queue, zero)

    # 2. Submit, in two batches, then the first again (idempotent)
    values = [0, 1, -2, 3, 12345, -3037000499, 3037000500,
              -(1 << 63), (1 << 63) - 1, 7]
    first, second = values[:6], values[6:]
    job_id = secrets.randbits(64) or 1
    r = c.submit(args.queue, job_id, 0, first)
    check(r == dict(accepted=len(first), duplicate=False),
          "Submit ids 0..%d: %r" % (len(first) - 1, r))
    r = c.submit(args.queue, job_id, len(first), second)
    check(r == dict(accepted=len(second), duplicate=False),
          "Submit ids %d..%d: %r" % (len(first), len(values) - 1, r))
    r = c.submit(args.queue, job_id, 0, first)
    check(r == dict(accepted=0, duplicate=True),
          "Submit of the first batch again is a duplicate: %r" % r)

    # 3. Fetch until every result is in, acknowledging each delivery
    results = {}
    ack = 0
    deliveries = fetches = with_field7 = 0
    until = time.monotonic() + args.results_timeout
    while len(results) < len(values) and time.monotonic() < until:
        f = c.fetch(job_id, ack, wait_ms=1000)
        fetches += 1
        with_field7 += f["submit"] is not None
        if f["seq"] != 0:
            deliveries += 1
            ack = f["seq"]
        record(check, results, f, len(values))
    check(len(results) == len(values),
          "Fetch: %d of %d results in %d deliveries" %
          (len(results), len(values), deliveries))
    check_results(check, values, results)
    check(with_field7 == 0, "replies to plain Fetches have no field 7 "
          "(%d of %d had one)" % (with_field7, fetches))
    # Stats: every task counted once in its queue, and the queues add up.
    s = c.stats()
    q1 = s["queues"].get(args.queue, zero)
    grew = (q1["submitted"] - q0["submitted"],
            q1["completed"] - q0["completed"])
    check(grew == (len(values), len(values)),
          "Stats: queue %s submitted +%d, completed +%d (want +%d each)" %
          ((args.queue,) + grew + (len(values),)))
    sums = tuple(sum(q[k] for q in s["queues"].values())
                 for k in ("submitted", "completed"))
    want = (s["counters"].get("tasks_submitted"),
            s["counters"].get("tasks_completed"))
    check(sums == want, "Stats: queues' submitted, completed %r = "
          "counters tasks_submitted, tasks_completed %r" % (sums, want))

    # The last delivery is re-sent until acknowledged: a Fetch with a stale
    # ack_seq must return it again, unchanged.
    if ack:
        f = c.fetch(job_id, ack - 1 if ack > 1 else 0, wait_ms=0)
        check(f["seq"] == ack,
              "Fetch without acknowledging re-sends delivery %d (got %d)" %
              (ack, f["seq"]))

    # 4. Two requests in flight on one connection: a long-poll Fetch (the
    # job has no results left, so it waits out wait_ms), then a Health.
    # The Health reply must come first; replies are matched by request id.
    seq_f, env_f = c.envelope(M_FETCH, f_varint(1, job_id) +
                              f_varint(2, ack) + f_varint(4, 700), 5000)
    seq_h, env_h = c.envelope(M_HEALTH, b"", 5000)
    rid_f, rid_h = sp.new_request_id(), sp.new_request_id()
    t0 = time.monotonic()
    sp.send_request(rid_f, env_f)
    sp.send_request(rid_h, env_h)
    order = []
    fetch_seq = None
    for _ in range(2):
        frame = sp.recv_frame(5.0)
        (rid,) = struct.unpack(">I", frame[:4])
        if rid == rid_h:
            order.append("Health")
            c.verify(frame[4:], seq_h, M_HEALTH)
        else:
            order.append("Fetch")
            h = c.verify(frame[4:], seq_f, M_FETCH)
            fetch_seq = pb_int(pb_fields(h["body"]), 1)
    waited = time.monotonic() - t0
    check(order == ["Health", "Fetch"] and waited >= 0.5 and fetch_seq == 0,
          "pipelined requests answered as %s; the empty long-poll took "
          "%.2f s" % (order, waited))

    # 5. CloseJob
    # Every result is in and ack names the last delivery: CloseJob
    # acknowledges it, so nothing was dropped (PROTOCOL.md 9.7).
    r = c.close_job(job_id, ack)
    check(r["dropped"] == 0,
          "CloseJob with the last delivery's ack_seq: dropped %d (want 0)"
          % r["dropped"])
    # The same with nothing between the documented loop and CloseJob: the
    # last delivery is acknowledged by the CloseJob alone.
    values4 = list(range(1, 8))
    job4 = secrets.randbits(64) or 1
    c.submit(args.queue, job4, 0, values4)
    results4, ack4 = {}, 0
    until = time.monotonic() + args.results_timeout
    while len(results4) < len(values4) and time.monotonic() < until:
        f = c.fetch(job4, ack4, max_results=65536, wait_ms=1000)
        record(check, results4, f, len(values4))
        if f["seq"] != 0:
            ack4 = f["seq"]
    r = c.close_job(job4, ack4)
    check(len(results4) == len(values4) and r["dropped"] == 0,
          "the loop of PROTOCOL.md 9.6, then CloseJob(ack_seq = last seq): "
          "%d of %d results, dropped %d (want 0)"
          % (len(results4), len(values4), r["dropped"]))
    try:
        c.fetch(job_id, 0, wait_ms=0)
        check(False, "Fetch after CloseJob should be NOT_FOUND")
    except RpcError as e:
        check(e.code == NOT_FOUND and e.signed,
              "Fetch after CloseJob: signed %s" % code_name(e.code))

    # 6. A Fetch that carries its job's Submit (PROTOCOL.md 9.6).
    # (a) A new job of one batch, sent in its first Fetch; the reply's
    # field 7 is the Submit's outcome. Later Fetches of the job are plain.
    q0 = c.stats()["queues"].get(args.queue, zero)
    until = time.monotonic() + args.results_timeout
    values2 = [5, -6, 1 << 31, -3037000500, 0]
    job2 = secrets.randbits(64) or 1
    batch2 = submit_request(args.queue, job2, 0, values2)
    results = {}
    ack = 0
    fetches = with_field7 = 0
    f = c.fetch(job2, ack, wait_ms=1000, submit=batch2)
    check(f["submit"] == dict(accepted=len(values2), duplicate=False),
          "Fetch carrying the Submit of a new job of %d tasks: field 7 %r"
          % (len(values2), f["submit"]))
    trips = 1
    while True:
        if f["seq"] != 0:
            ack = f["seq"]
        record(check, results, f, len(values2))
        if len(results) == len(values2) or time.monotonic() >= until:
            break
        f = c.fetch(job2, ack, wait_ms=1000)
        trips += 1
        fetches += 1
        with_field7 += f["submit"] is not None
    check(len(results) == len(values2),
          "Fetch with Submit: %d of %d results in %d round trip(s)" %
          (len(results), len(values2), trips))
    check_results(check, values2, results)
    check(with_field7 == 0, "replies to the plain Fetches that followed "
          "have no field 7 (%d of %d had one)" % (with_field7, fetches))

    # (b) The same Fetch, the same batch, as a new request (a retry whose
    # reply was lost): a duplicate, nothing new to fetch.
    f = c.fetch(job2, ack, wait_ms=0, submit=batch2)
    check(f["submit"] == dict(accepted=0, duplicate=True) and
          f["seq"] == 0 and not f["ids"],
          "the same Fetch with Submit again: field 7 %r, seq %d, %d "
          "result(s)" % (f["submit"], f["seq"], len(f["ids"])))
    q1 = c.stats()["queues"].get(args.queue, zero)
    grew = (q1["submitted"] - q0["submitted"],
            q1["completed"] - q0["completed"])
    check(grew == (len(values2), len(values2)),
          "Stats: the carried batch counted once: submitted +%d, "
          "completed +%d (want +%d each)" % (grew + (len(values2),)))
    c.close_job(job2, ack)

    # (c) A carried Submit for another job fails the whole request, and
    # neither job comes to exist.
    job3 = secrets.randbits(64) or 1
    other = (job3 + 1) & U64 or 1
    expect_error(check, "Fetch carrying a Submit for another job",
                 lambda: c.fetch(job3, 0, wait_ms=0,
                                 submit=submit_request(args.queue, other, 0,
                                                       [1, 2])),
                 INVALID_ARGUMENT, "same job")
    for j in (job3, other):
        expect_error(check, "plain Fetch of job %016x afterwards" % j,
                     lambda j=j: c.fetch(j, 0, wait_ms=0), NOT_FOUND, "")

    # (d) A carried Submit with an invalid queue name: refused as a Submit
    # would be, and the job does not exist afterwards.
    job4 = secrets.randbits(64) or 1
    expect_error(check, "Fetch carrying a Submit to queue 'no spaces'",
                 lambda: c.fetch(job4, 0, wait_ms=0,
                                 submit=submit_request("no spaces", job4, 0,
                                                       [1, 2])),
                 INVALID_ARGUMENT, "queue name")
    expect_error(check, "plain Fetch of that job afterwards",
                 lambda: c.fetch(job4, 0, wait_ms=0), NOT_FOUND, "")

    # 7. Failure replies
    wrong = b"not-the-server-key-" + secrets.token_hex(8).encode()
    seq, env = c.envelope(M_HEALTH, b"", 5000, key=wrong)
    h = raw_exchange(sp, env)
    st = decode_status(h["body"])
    check(h["key_id"] == 0 and not any(h["tag"]) and
          h["status"] == UNAUTHENTICATED and h["reply_to"] == seq and
          h["method"] == M_HEALTH and st[0] == UNAUTHENTICATED,
          "unknown key: unsigned %s reply to seq %d: %r" %
          (code_name(h["status"]), h["reply_to"], st[1]))

    garbage = b"GARBAGE" * 20
    h = raw_exchange(sp, garbage)
    check(h["key_id"] == 0 and h["status"] == INVALID_ARGUMENT and
          h["reply_to"] == 0,
          "not an envelope: unsigned %s reply, reply_to 0: %r" %
          (code_name(h["status"]), decode_status(h["body"])[1]))

    for what, env, want_code, want_text in [
        ("replayed Health", health_env, UNAUTHENTICATED, "replay"),
        ("timestamp 10 minutes old",
         c.envelope(M_HEALTH, b"", 5000, ts_ms=now_ms() - 600000)[1],
         UNAUTHENTICATED, "clock skew"),
        ("unknown method 42", c.envelope(42, b"", 5000)[1], UNIMPLEMENTED,
         ""),
        ("invalid queue name",
         c.envelope(M_SUBMIT, f_bytes(1, b"no spaces") + f_varint(2, 1) +
                    f_packed(4, [1], signed=True), 5000)[1],
         INVALID_ARGUMENT, "queue name"),
    ]:
        (_, _, _, _, _, seq, _, _, method, _, _, _) = HDR.unpack_from(env)
        try:
            c.verify(sp.request(env, 5.0), seq, method)
            check(False, "%s was accepted" % what)
        except RpcError as e:
            check(e.signed and e.code == want_code and want_text in e.text,
                  "%s: signed %s: %r" % (what, code_name(e.code), e.text))

    if args.typed:
        run_typed(args, c, check)
    if args.jobs:
        run_jobs(args, c, check)

    sp.close()
    print("%s: %d check(s) failed" % ("FAIL" if check.failed else "PASS",
                                       check.failed), flush=True)
    return 1 if check.failed else 0


def fetch_typed(args, c, check, job_id, n):
    """Fetches a typed job's n results: {id: (code, result, error)}."""
    results, ack = {}, 0
    until = time.monotonic() + args.results_timeout
    while len(results) < n and time.monotonic() < until:
        f = c.fetch(job_id, ack, wait_ms=1000)
        if f["seq"] != 0:
            ack = f["seq"]
        if f["ids"] and f["results"] is None:
            check(False, "typed job %x: results came as values" % job_id)
            break
        for i, code, r, e in zip(f["ids"], f["codes"], f["results"] or [],
                                 f["errors"]):
            results.setdefault(i, (code, r, e))
    c.close_job(job_id, ack)
    return results


def run_typed(args, c, check):
    """Step 8: typed jobs (PROTOCOL.md 8.2)."""
    # sha256 of payloads of different lengths (a column of lengths).
    payloads = [b"", b"abc", bytes(range(256)) * 5, b"\x00nul\x00"]
    job_id = secrets.randbits(64) or 1
    r = c.submit_typed(args.queue, job_id, 0, "sha256", payloads,
                       retry=(3, 10, 100))
    check(r == dict(accepted=len(payloads), duplicate=False),
          "Submit of %d sha256 payloads: %r" % (len(payloads), r))
    got = fetch_typed(args, c, check, job_id, len(payloads))
    check(len(got) == len(payloads), "sha256 job: %d of %d results" %
          (len(got), len(payloads)))
    for i, p in enumerate(payloads):
        want = (OK, hashlib.sha256(p).hexdigest().encode(), "")
        check(got.get(i) == want, "sha256 of payload %d: %r" %
              (i, got.get(i)))

    # square: 8-byte little-endian payloads (width 8); an overflow is
    # OUT_OF_RANGE with a message and an empty result.
    values = [3, -4, 3037000500, 0]
    job_id = secrets.randbits(64) or 1
    r = c.submit_typed(args.queue, job_id, 0, "square",
                       [i64le(v) for v in values])
    check(r == dict(accepted=len(values), duplicate=False),
          "Submit of %d square payloads: %r" % (len(values), r))
    got = fetch_typed(args, c, check, job_id, len(values))
    for i, v in enumerate(values):
        code, want = expected(v)
        g = got.get(i)
        ok = g is not None and g[0] == code and (
            g[1] == i64le(want) if code == OK else g[1] == b"" and g[2])
        check(ok, "square of %d: %r" % (v, g))

    # values and payloads in one Submit: INVALID_ARGUMENT.
    body = typed_submit_request(args.queue, secrets.randbits(64) or 1, 0,
                                "square", [i64le(1)])
    expect_error(check, "a Submit with values and payloads",
                 lambda: c.call(M_SUBMIT, body + f_packed(4, [1], True)),
                 INVALID_ARGUMENT, "not both")


def job_info(raw):
    """A decoded JobInfo (PROTOCOL.md 9.12)."""
    f = pb_fields(raw)
    return dict(job_id=pb_int(f, 1), queue=pb_str(f, 2), type=pb_str(f, 3),
                state=pb_int(f, 4), submitted=pb_int(f, 5),
                completed=pb_int(f, 6), failed=pb_int(f, 7),
                host=pb_str(f, 9), detached=bool(pb_int(f, 10)))


def run_jobs(args, c, check):
    """Step 9: a detached job (PROTOCOL.md 9.11-9.14): Submit with
    detach (8), host (10) and last (11); JobStatus until it is done;
    Results in id order from 0, twice; JobList; NOT_FOUND for an unknown
    job."""
    values = [5, -6, 7, 8, 9]
    job_id = secrets.randbits(64) or 1
    body = (typed_submit_request(args.queue, job_id, 0, "square",
                                 [i64le(v) for v in values]) +
            f_varint(8, 1) + f_varint(9, 60000) + f_bytes(10, b"py-host") +
            f_varint(11, 1))
    r = submit_reply(c.call(M_SUBMIT, body))
    check(r == dict(accepted=len(values), duplicate=False),
          "detached Submit with last: %r" % r)
    info, until = None, time.monotonic() + args.results_timeout
    while time.monotonic() < until:
        info = job_info(c.call(M_JOB_STATUS, f_varint(1, job_id))[1][-1])
        if info["state"] == JOB_STATE_DONE:
            break
        time.sleep(0.05)
    check(info is not None and info["state"] == JOB_STATE_DONE and
          info["completed"] == len(values) and info["detached"] and
          info["host"] == "py-host" and info["queue"] == args.queue,
          "JobStatus of the detached job: %r" % info)
    for attempt in (1, 2):
        got, frm = [], 0
        while True:
            f = c.call(M_RESULTS, f_varint(1, job_id) + f_varint(2, frm) +
                       f_varint(4, 1000), timeout_ms=6000)
            ids = pb_repeated(f, 1)
            res = dec_blobs(f[3][-1], len(ids)) if 3 in f else []
            got += list(zip(ids, res))
            frm = pb_int(f, 5)
            if not ids and job_info(f[6][-1])["state"] == JOB_STATE_DONE:
                break
        want = [(i, i64le(v * v)) for i, v in enumerate(values)]
        check(got == want, "Results, read %d: %r" % (attempt, got))
    f = c.call(M_JOB_LIST, f_bytes(1, args.queue.encode()))
    ids = [job_info(raw)["job_id"] for raw in f.get(1, [])]
    check(job_id in ids, "JobList of queue %s lists the job" % args.queue)
    expect_error(check, "JobStatus of an unknown job",
                 lambda: c.call(M_JOB_STATUS,
                                f_varint(1, secrets.randbits(64) | 1)),
                 NOT_FOUND, "unknown or expired")


# ---------------------------------------------------------------------------
# The worked example of PROTOCOL.md: verify that its bytes are real.


def check_doc(path):
    """Finds the worked example in the document (the key and the hex dumps
    of the request and reply frames) and checks key id, framing, tags and
    the decoded fields."""
    text = open(path, encoding="utf-8").read()
    m = re.search(r"<!-- example-key: (\S+) -->", text)
    if not m:
        print("FAIL: no example key marker in %s" % path)
        return 1
    key = m.group(1).encode()
    dumps = re.findall(r"<!-- example-(\w+) -->\s*```[a-z]*\n(.*?)```", text,
                       re.S)
    frames = {}
    for name, block in dumps:
        hexstr = ""
        for line in block.splitlines():
            # "0000  54 51 01 ..." with an optional comment after "|"
            line = line.split("|")[0]
            parts = line.split()
            if len(parts) < 2:
                continue
            hexstr += "".join(parts[1:])
        frames[name] = bytes.fromhex(hexstr)
    check = Check()
    kid = key_id_of(key)
    for name in ("request", "reply"):
        if name not in frames:
            check(False, "example %s dump present" % name)
            continue
        fr = frames[name]
        (n,) = struct.unpack(">Q", fr[:8])
        check(n == len(fr) - 8, "%s: 64-bit length %d matches" % (name, n))
        rid = struct.unpack(">I", fr[8:12])[0]
        check(rid & 0x80000000 != 0, "%s: request id %08x has the high bit"
              % (name, rid))
        env = fr[12:]
        h = parse_envelope(env)
        check(h["key_id"] == kid, "%s: key id %08x" % (name, h["key_id"]))
        tag = hmac.new(key, env[:52 + h["body_len"]], hashlib.sha256).digest()
        check(hmac.compare_digest(tag, h["tag"]), "%s: tag verifies" % name)
        frames[name] = (rid, h)
    if check.failed == 0:
        (rq_id, rq), (rp_id, rp) = frames["request"], frames["reply"]
        check(rq_id == rp_id, "reply echoes request id")
        check(rq["kind"] == 1 and rp["kind"] == 2 and
              rp["reply_to"] == rq["seq"] and rp["method"] == rq["method"]
              == M_HEALTH and rp["status"] == 0, "reply matches request")
        f = pb_fields(rp["body"])
        check(pb_int(f, 1) == 1, "HealthReply.serving is true (version %s)"
              % pb_str(f, 2))
    print("%s: %d check(s) failed" % ("FAIL" if check.failed else "PASS",
                                       check.failed))
    return 1 if check.failed else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", help="server URL (tcp://, ipc://, tls+tcp://)")
    p.add_argument("--key-file", help="shared key file (else TASQ_KEY)")
    p.add_argument("--queue", default="compat")
    p.add_argument("--timeout", type=float, default=10.0,
                   help="connect and per-read timeout, seconds")
    p.add_argument("--results-timeout", type=float, default=60.0,
                   help="how long to wait for all results, seconds")
    p.add_argument("--tls-ca")
    p.add_argument("--tls-server-name")
    p.add_argument("--check-doc", metavar="PROTOCOL_MD")
    p.add_argument("--typed", action="store_true",
                   help="also run typed jobs (step 8: needs a server and "
                   "worker with typed tasks)")
    p.add_argument("--jobs", action="store_true",
                   help="also run a detached job (step 9: needs a server "
                   "with the job registry)")
    args = p.parse_args()
    if args.check_doc:
        return check_doc(args.check_doc)
    if not args.url:
        p.error("--url is required")
    try:
        if args.key_file:
            key = load_key(args.key_file)
        elif os.environ.get("TASQ_KEY"):
            key = os.environ["TASQ_KEY"].encode()
        else:
            p.error("give --key-file or TASQ_KEY")
    except (OSError, ValueError) as e:
        print("py_client: key: %s" % e, file=sys.stderr)
        return 2
    try:
        return run(args, key)
    except (OSError, TransportError, ProtocolError, RpcError,
            ValueError) as e:
        print("FAIL: %s: %s" % (type(e).__name__, e), flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
