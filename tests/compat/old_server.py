#!/usr/bin/env python3
"""A fake older tasq-server in standard-library Python, written from
docs/PROTOCOL.md: it predates FetchRequest.submit (field 5), so a peer can
be shown to fall back to Submit when a Fetch's carried batch is ignored.

It speaks the real protocol: nng's SP REP v0 over TCP (the 8-byte
handshake, 64-bit length framing, the REQ request id echoed with its
route, section 2), the envelope, key id and HMAC tag (sections 3-4),
sequence/timestamp checks (section 5), the request checks and unsigned or
signed error replies of section 6, and signed replies a client can verify
(section 7). It reuses py_client.py's envelope and protobuf helpers.

Methods: Health; Submit (batch identity, overlap and queue checks of 9.1;
it squares the values itself, so no worker is needed: a square that does
not fit in int64 is an OUT_OF_RANGE result); Fetch (deliveries with seq
and ack_seq, long-polls bounded as in section 10; field 5 is ignored, and
counted); CloseJob. Every other method number is UNIMPLEMENTED.

--unknown-job says how a Fetch of a job it has not seen is answered:
"not-found" (NOT_FOUND, what a real older server does) or "empty" (a
reply without results and without field 7, the other answer section 9.6
lists for a server that does not know field 5; a real one gives it only
for a job it has seen, so this mode exists to drive a client's second
fallback path).

Log lines on stdout, flushed as they happen; a Fetch that carried a
Submit is logged with "fetches_with_submit=N" and a Submit with
"submits=N" (running totals), before the request is answered.

Usage:
  old_server.py --key-file KEY --ready-file FILE [--unknown-job MODE]
                [--lifetime SECONDS]

It listens on tcp://127.0.0.1 with a port the kernel picks, writes that
URL to the ready file (atomically) and serves until SIGTERM or SIGINT, or
until --lifetime has passed (a guard against being orphaned).
"""

import argparse
import hashlib
import hmac
import os
import re
import secrets
import signal
import socket
import struct
import sys
import threading
import time
import traceback

# The helpers live beside this file; importing them must not write a
# __pycache__ into the source tree.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import py_client as pc  # noqa: E402

MAX_MESSAGE = 4 << 20   # --max-message default (section 2.3)
MAX_BATCH = 65536       # --max-batch default (section 8)
MAX_WAIT_MS = 30000     # --max-wait default (section 10)
CLOCK_SKEW_MS = 300000  # --clock-skew default (section 5)
REPLAY_WINDOW = 256     # section 5
MAX_RESULTS = 65536     # per delivery (section 9.6)
INT64_MAX = (1 << 63) - 1
QUEUE_RE = re.compile(rb"\A[A-Za-z0-9._-]{1,64}\Z")
VERSION = "0.0.9-old"
INTERNAL = 13  # not in py_client's short list of codes


def log(msg):
    print("old_server: %s" % msg, flush=True)


def uint(f, num):
    """A scalar field of a decoded body; one of the wrong wire type is bad
    input, not a crash."""
    v = pc.pb_int(f, num)
    if not isinstance(v, int):
        raise ValueError("field %d is not a varint" % num)
    return v


def status_body(code, text):
    """A tasq.v1.Status: code = 1, message = 2."""
    return pc.f_varint(1, code) + pc.f_bytes(2, text.encode())


class Refused(Exception):
    """A request refused with a signed error reply."""

    def __init__(self, code, text):
        super().__init__(text)
        self.code = code
        self.text = text


class Job:
    def __init__(self, queue):
        self.queue = queue
        self.batches = {}   # first_index -> len(values)
        self.waiting = []   # results not yet delivered: (id, value, code)
        self.delivery = None  # (seq, ids, values, codes) until acknowledged
        self.submitted = 0
        self.completed = 0


class State:
    """Everything the server knows, under one lock; the condition wakes
    parked Fetches when results arrive or a job is closed."""

    def __init__(self, unknown_job):
        self.cond = threading.Condition()
        self.jobs = {}
        self.senders = {}  # sender_id -> (highest seq, set of seen seqs)
        self.unknown_job = unknown_job
        self.start_ms = pc.now_ms()
        self.seq_base = secrets.randbits(32) << 32  # random per start
        self.next_delivery = 0
        self.reply_seq = 0
        self.fetches_with_submit = 0
        self.submits = 0

    # Section 5: a seq above the highest, or unseen within 256 below it.
    def fresh(self, sender_id, seq, ts_ms):
        with self.cond:
            if sender_id not in self.senders:
                if ts_ms < self.start_ms - 2000:
                    return ("message older than this server's start (a "
                            "replay, or a clock far behind)")
                self.senders[sender_id] = (seq, {seq})
                return None
            high, seen = self.senders[sender_id]
            if seq > high:
                seen = {s for s in seen if s > seq - REPLAY_WINDOW}
                seen.add(seq)
                self.senders[sender_id] = (seq, seen)
                return None
            if high - seq >= REPLAY_WINDOW:
                return "sequence number too old"
            if seq in seen:
                return "replayed message"
            seen.add(seq)
            return None

    def next_reply_seq(self):
        with self.cond:
            self.reply_seq += 1
            return self.reply_seq

    # Submit (section 9.1) ----------------------------------------------

    def submit(self, f):
        queue = f.get(1, [b""])[-1]
        if not isinstance(queue, bytes) or not QUEUE_RE.match(queue):
            raise Refused(pc.INVALID_ARGUMENT, "queue name must be 1-64 "
                          "characters of [A-Za-z0-9._-]")
        job_id = uint(f, 2)
        first = uint(f, 3)
        values = pc.pb_repeated(f, 4, signed=True)
        if job_id == 0:
            raise Refused(pc.INVALID_ARGUMENT, "job_id must not be 0")
        if not 1 <= len(values) <= MAX_BATCH:
            raise Refused(pc.INVALID_ARGUMENT,
                          "a batch holds 1 to %d values" % MAX_BATCH)
        if first + len(values) > pc.U64:
            raise Refused(pc.INVALID_ARGUMENT, "task ids overflow")
        n = len(values)
        with self.cond:
            job = self.jobs.get(job_id)
            if job is not None and job.queue != queue:
                raise Refused(pc.INVALID_ARGUMENT,
                              "the job belongs to another queue")
            if job is not None and job.batches.get(first) == n:
                accepted, duplicate = 0, True
            else:
                if job is not None:
                    for a, m in job.batches.items():
                        if a < first + n and first < a + m:
                            raise Refused(pc.INVALID_ARGUMENT, "batch "
                                          "overlaps part of an earlier "
                                          "batch")
                else:
                    job = self.jobs[job_id] = Job(queue)
                job.batches[first] = n
                for i, v in enumerate(values):
                    sq = v * v
                    job.waiting.append((first + i, sq, 0) if sq <= INT64_MAX
                                       else (first + i, 0, pc.OUT_OF_RANGE))
                job.submitted += n
                job.completed += n  # no workers: done at once
                self.cond.notify_all()
                accepted, duplicate = n, False
            self.submits += 1
            count = self.submits
        log("Submit of job %016x ids %d..%d: %s (submits=%d)" %
            (job_id, first, first + n - 1,
             "duplicate" if duplicate else "accepted %d" % accepted, count))
        return pc.f_varint(1, accepted) + pc.f_varint(2, int(duplicate))

    # Fetch (section 9.6, without field 5) -------------------------------

    def fetch(self, f, deadline_ms):
        job_id = uint(f, 1)
        ack = uint(f, 2)
        max_results = uint(f, 3)
        wait_ms = min(uint(f, 4), MAX_WAIT_MS)
        if job_id == 0:
            raise Refused(pc.INVALID_ARGUMENT, "job_id must not be 0")
        if 5 in f:
            # This server predates FetchRequest.submit: an unknown field.
            with self.cond:
                self.fetches_with_submit += 1
                count = self.fetches_with_submit
            log("Fetch of job %016x carried a Submit (field 5); ignored "
                "(fetches_with_submit=%d)" % (job_id, count))
        if max_results == 0 or max_results > MAX_RESULTS:
            max_results = MAX_RESULTS
        if deadline_ms:  # section 10
            cap = deadline_ms - deadline_ms // 5
            if cap > 50:
                cap -= 20
            wait_ms = min(wait_ms, cap)
        until = time.monotonic() + wait_ms / 1000.0
        with self.cond:
            job = self.jobs.get(job_id)
            if job is None:
                if self.unknown_job == "empty":
                    return b""
                raise Refused(pc.NOT_FOUND, "no such job (finished, closed "
                              "or expired)")
            if job.delivery is not None and ack == job.delivery[0]:
                job.delivery = None
            while True:
                if job.delivery is None and job.waiting:
                    take = job.waiting[:max_results]
                    del job.waiting[:max_results]
                    self.next_delivery += 1
                    job.delivery = (self.seq_base | self.next_delivery,
                                    [t[0] for t in take],
                                    [t[1] for t in take],
                                    [t[2] for t in take])
                left = until - time.monotonic()
                if job.delivery is not None or left <= 0:
                    break
                self.cond.wait(left)
                if self.jobs.get(job_id) is not job:
                    raise Refused(pc.NOT_FOUND, "no such job (finished, "
                                  "closed or expired)")
            body = b""
            if job.delivery is not None:
                seq, ids, values, codes = job.delivery
                body = (pc.f_varint(1, seq) + pc.f_packed(2, ids) +
                        pc.f_packed(3, values, signed=True) +
                        (pc.f_packed(4, codes) if any(codes) else b""))
            return (body + pc.f_varint(5, job.submitted) +
                    pc.f_varint(6, job.completed))

    # CloseJob (section 9.7) ----------------------------------------------

    def close_job(self, f):
        job_id = uint(f, 1)
        with self.cond:
            job = self.jobs.pop(job_id, None)
            if job is None:
                raise Refused(pc.NOT_FOUND, "no such job")
            dropped = len(job.waiting)
            if job.delivery is not None:
                dropped += len(job.delivery[1])
            self.cond.notify_all()
        log("CloseJob of job %016x: dropped %d" % (job_id, dropped))
        return pc.f_varint(1, dropped)


class Server:
    def __init__(self, keys, state):
        self.keys = {pc.key_id_of(k): k for k in keys}
        self.sign_key = keys[0]
        self.sign_key_id = pc.key_id_of(keys[0])
        self.state = state
        self.server_id = secrets.randbits(64) or 1
        self.started = time.monotonic()

    def reply(self, signed, reply_to, method, status, body):
        key, key_id = (self.sign_key, self.sign_key_id) if signed else \
            (None, 0)
        return pc.seal(key, key_id, pc.KIND_REPLY, self.server_id,
                       self.state.next_reply_seq(), pc.now_ms(), reply_to,
                       method, status, 0, body)

    def error(self, signed, reply_to, method, code, text):
        return self.reply(signed, reply_to, method, code,
                          status_body(code, text))

    def handle(self, env):
        """One request envelope in, one reply envelope out (section 6)."""
        try:
            h = pc.parse_envelope(env)
        except pc.ProtocolError:
            return self.error(False, 0, 0, pc.INVALID_ARGUMENT,
                              "malformed envelope")
        seq, method = h["seq"], h["method"]
        key = self.keys.get(h["key_id"])
        if key is None or not hmac.compare_digest(
                hmac.new(key, env[:pc.HDR.size + h["body_len"]],
                         hashlib.sha256).digest(), h["tag"]):
            return self.error(False, seq, method, pc.UNAUTHENTICATED,
                              "message authentication failed")
        if h["kind"] != pc.KIND_REQUEST:
            return self.error(True, seq, method, pc.INVALID_ARGUMENT,
                              "not a request")
        if abs(pc.now_ms() - h["timestamp_ms"]) > CLOCK_SKEW_MS:
            return self.error(True, seq, method, pc.UNAUTHENTICATED,
                              "timestamp outside the accepted clock skew")
        why = self.state.fresh(h["sender_id"], seq, h["timestamp_ms"])
        if why is not None:
            return self.error(True, seq, method, pc.UNAUTHENTICATED, why)
        if method not in (pc.M_HEALTH, pc.M_SUBMIT, pc.M_FETCH,
                          pc.M_CLOSE_JOB):
            return self.error(True, seq, method, pc.UNIMPLEMENTED,
                              "unknown method")
        try:
            f = pc.pb_fields(h["body"])
        except ValueError:
            return self.error(True, seq, method, pc.INVALID_ARGUMENT,
                              "request body is not a valid protobuf "
                              "message")
        try:
            if method == pc.M_HEALTH:
                up = int((time.monotonic() - self.started) * 1000)
                body = (pc.f_varint(1, 1) + pc.f_bytes(2, VERSION.encode())
                        + pc.f_varint(3, self.server_id) +
                        pc.f_varint(4, up))
            elif method == pc.M_SUBMIT:
                body = self.state.submit(f)
            elif method == pc.M_FETCH:
                body = self.state.fetch(f, h["deadline_ms"])
            else:
                body = self.state.close_job(f)
        except (Refused, ValueError) as e:
            code = e.code if isinstance(e, Refused) else pc.INVALID_ARGUMENT
            return self.error(True, seq, method, code, str(e))
        except Exception:  # a bug here: say so, and still answer
            log("internal error:\n%s" % traceback.format_exc())
            return self.error(True, seq, method, INTERNAL, "internal error")
        return self.reply(True, seq, method, pc.OK, body)


class Conn:
    """One connection: a reader thread, and a thread per request, since a
    parked Fetch must not hold up the requests behind it (section 2.4)."""

    def __init__(self, sock, server):
        self.sock = sock
        self.server = server
        self.wlock = threading.Lock()

    def recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            d = self.sock.recv(n - len(buf))
            if not d:
                raise EOFError
            buf += d
        return bytes(buf)

    def run(self):
        try:
            self.sock.sendall(pc.SP_HELLO_REP)  # ours first (section 2.2)
            if self.recv_exact(8) != pc.SP_HELLO_REQ:
                return
            while True:
                (n,) = struct.unpack(">Q", self.recv_exact(8))
                if n > MAX_MESSAGE:
                    return  # closed without a reply (section 2.3)
                payload = self.recv_exact(n)
                threading.Thread(target=self.serve, args=(payload,),
                                 daemon=True).start()
        except (OSError, EOFError):
            pass
        finally:
            self.sock.close()

    def serve(self, payload):
        # The route: 4-byte words up to the first with the high bit set,
        # echoed in front of the reply (section 2.4).
        pos = 0
        while True:
            if pos + 4 > len(payload):
                return  # no request id: dropped, as nng's REP does
            (word,) = struct.unpack(">I", payload[pos:pos + 4])
            pos += 4
            if word & 0x80000000:
                break
        out = self.server.handle(payload[pos:])
        msg = payload[:pos] + out
        try:
            with self.wlock:
                self.sock.sendall(struct.pack(">Q", len(msg)) + msg)
        except OSError:
            pass  # the client went away


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--key-file", required=True,
                    help="shared key file(s), comma-separated; the first "
                    "signs")
    ap.add_argument("--ready-file", required=True,
                    help="where to write the URL once listening")
    ap.add_argument("--unknown-job", choices=("not-found", "empty"),
                    default="not-found")
    ap.add_argument("--lifetime", type=float, default=600.0,
                    help="exit after this many seconds")
    args = ap.parse_args()
    try:
        keys = [pc.load_key(p) for p in args.key_file.split(",")]
    except (OSError, ValueError) as e:
        print("old_server: key: %s" % e, file=sys.stderr)
        return 2

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, args.lifetime)

    state = State(args.unknown_job)
    server = Server(keys, state)
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(64)
        url = "tcp://127.0.0.1:%d" % lsock.getsockname()[1]
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(url + "\n")
        os.replace(tmp, args.ready_file)
        log("listening on %s (server_id %016x, unknown jobs: %s)" %
            (url, server.server_id, args.unknown_job))
        while True:
            sock, _ = lsock.accept()
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=Conn(sock, server).run,
                             daemon=True).start()
    finally:
        lsock.close()
        log("stopping: fetches_with_submit=%d submits=%d" %
            (state.fetches_with_submit, state.submits))


if __name__ == "__main__":
    sys.exit(main())
