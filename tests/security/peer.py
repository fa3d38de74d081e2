#!/usr/bin/env python3
"""peer.py: hostile and hand-made peers for tasq's security tests.

Standard-library Python only; loopback only. Written from docs/PROTOCOL.md
(sections 2-6): the SP handshake, 64-bit length framing, the REQ request
id and the signed envelope.

    peer.py hold PORT N [--sp] [--frame LEN] [--payload K] [--secs S]
        Opens N TCP connections one after the other. With --sp each one
        sends the REQ handshake and reads the server's 8 bytes; with
        --frame it then sends a frame header announcing LEN bytes and K
        bytes of payload (default 0) and stops. Prints "open N" once all
        are set up, then "closed K" each time more have been closed by
        the server ("closed K after T s", T counted from "open"), and
        ends when all are closed or after S seconds (default 30). Exit 0.
    peer.py tls-hold PORT N none|half [--secs S]
        The same for TLS handshakes that stall: "none" sends nothing,
        "half" sends a record header announcing 512 bytes and 20 of them.
    peer.py tls-notify PORT CAFILE
        Completes a TLS handshake (verifying CAFILE), then sends
        close_notify before any SP byte and closes.
    peer.py wrong-proto PORT
        Sends an SP handshake for PUSH (0x0050) instead of REQ; prints
        what the server sent and whether it then closed. Exit 0 when the
        server answered its 8 bytes and closed within 5 s.
    peer.py bigframe PORT LEN
        SP handshake, then a frame header announcing LEN bytes and 64 KiB
        of them. Exit 0 when the server closes the connection within 5 s
        without replying, 1 otherwise.
    peer.py inflight PORT KEYFILE N [--wait-ms W]
        On one connection, sends N signed Lease long-polls (on an empty
        queue, wait W ms, default 3000) back to back without waiting,
        then reads every reply (up to W + 5 s). Prints one line per reply,
        "reply N status=NAME signed=0|1 after=MS", and "summary ok=A
        exhausted=B other=C missing=D". Exit 0 when every request got a
        reply.
"""

import argparse
import hashlib
import hmac
import os
import select
import socket
import ssl
import struct
import sys
import time

SP_REQ = b"\x00SP\x00\x00\x30\x00\x00"
SP_REP = b"\x00SP\x00\x00\x31\x00\x00"
SP_PUSH = b"\x00SP\x00\x00\x50\x00\x00"

CODES = {0: "OK", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED",
         5: "NOT_FOUND", 8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION",
         12: "UNIMPLEMENTED", 13: "INTERNAL", 14: "UNAVAILABLE",
         16: "UNAUTHENTICATED"}

HDR = struct.Struct(">2sBBIQQQQHHII")  # 52 bytes, PROTOCOL.md section 3


def out(*a):
    print(*a, flush=True)


def connect(port, timeout=5.0):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            raise EOFError("closed after %d of %d bytes" % (len(buf), n))
        buf += d
    return buf


def watch_closed(socks, secs):
    """Reports server-side closes until all are closed or secs passed."""
    open_ = {s.fileno(): s for s in socks}
    closed = 0
    t0 = time.monotonic()
    deadline = t0 + secs
    while open_ and time.monotonic() < deadline:
        r, _, _ = select.select(list(open_), [], [], 0.2)
        more = 0
        for fd in r:
            s = open_[fd]
            try:
                d = s.recv(65536)
            except (ConnectionError, OSError):
                d = b""
            if not d:
                del open_[fd]
                s.close()
                more += 1
        if more:
            closed += more
            out("closed %d after %.1f s" % (closed, time.monotonic() - t0))
    for s in open_.values():
        s.close()


def cmd_hold(a):
    socks = []
    for _ in range(a.n):
        s = connect(a.port)
        if a.sp:
            s.sendall(SP_REQ)
            try:
                recv_exact(s, 8)
            except (EOFError, OSError):
                pass  # refused at once: counted by watch_closed
        if a.frame is not None:
            try:
                s.sendall(struct.pack(">Q", a.frame) + b"\xa5" * a.payload)
            except OSError:
                pass
        socks.append(s)
    out("open %d" % len(socks))
    watch_closed(socks, a.secs)


def cmd_tls_hold(a):
    socks = []
    for _ in range(a.n):
        s = connect(a.port)
        if a.mode == "half":
            # A handshake record announcing 512 bytes; only 20 follow.
            s.sendall(bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01,
                             0xfc, 0x03, 0x03]) + b"\x00" * 9)
        socks.append(s)
    out("open %d" % len(socks))
    watch_closed(socks, a.secs)


def cmd_tls_notify(a):
    ctx = ssl.create_default_context(cafile=a.cafile)
    ctx.check_hostname = False
    raw = connect(a.port)
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    out("handshake %s %s" % (s.version(), s.cipher()[0]))
    try:
        s.unwrap()  # close_notify; the server may answer with its own
    except (ssl.SSLError, OSError) as e:
        out("unwrap: %s" % e)
    raw.close()


def cmd_wrong_proto(a):
    s = connect(a.port)
    s.sendall(SP_PUSH)
    got = b""
    s.settimeout(5)
    try:
        while True:
            d = s.recv(64)
            if not d:
                break
            got += d
    except socket.timeout:
        out("server sent %s and did not close in 5 s" % got.hex())
        return 1
    except OSError as e:
        out("server sent %s, then %s" % (got.hex(), e))
        return 0 if got == SP_REP else 1
    out("server sent %s, then closed" % got.hex())
    return 0 if got == SP_REP else 1


def cmd_bigframe(a):
    s = connect(a.port)
    s.sendall(SP_REQ)
    if recv_exact(s, 8) != SP_REP:
        out("unexpected server handshake")
        return 1
    try:
        s.sendall(struct.pack(">Q", a.len) + b"\x00" * 65536)
    except OSError as e:
        out("send: %s (closed while sending)" % e)
        return 0
    s.settimeout(5)
    try:
        d = s.recv(64)
    except socket.timeout:
        out("still open 5 s after a %d-byte frame header" % a.len)
        return 1
    except OSError as e:
        out("closed (%s)" % e)
        return 0
    if d:
        out("server replied %d bytes to an oversized frame" % len(d))
        return 1
    out("closed by the server")
    return 0


# ---- signed requests (PROTOCOL.md sections 3-5) ----------------------------

def load_key(path):
    with open(path, "rb") as f:
        return f.read(1026).rstrip(b" \t\r\n")


def key_id(key):
    return struct.unpack(">I", hashlib.sha256(b"tasq-key-id\0" + key)
                         .digest()[:4])[0]


def varint(v):
    b = bytearray()
    while True:
        x = v & 0x7f
        v >>= 7
        if v:
            b.append(x | 0x80)
        else:
            b.append(x)
            return bytes(b)


def f_varint(num, v):
    return varint(num << 3) + varint(v)


def f_bytes(num, b):
    return varint((num << 3) | 2) + varint(len(b)) + b


def envelope(key, sender, seq, method, body, deadline_ms):
    h = HDR.pack(b"TQ", 1, 1, key_id(key), sender, seq,
                 int(time.time() * 1000), 0, method, 0, deadline_ms,
                 len(body))
    return h + body + hmac.new(key, h + body, hashlib.sha256).digest()


def cmd_inflight(a):
    key = load_key(a.keyfile)
    sender = int.from_bytes(os.urandom(8), "big") | 1
    seq = (int.from_bytes(os.urandom(7), "big") >> 2) + 1
    s = connect(a.port)
    s.sendall(SP_REQ)
    if recv_exact(s, 8) != SP_REP:
        out("unexpected server handshake")
        return 1
    lease = (f_bytes(1, b"security-inflight") + f_varint(2, sender) +
             f_bytes(3, b"inflight-probe") + f_varint(4, 1) +
             f_varint(5, a.wait_ms))
    t0 = time.monotonic()
    ids = {}
    frames = b""
    for i in range(a.n):
        rid = 0x80000000 | (0x1000 + i)
        env = envelope(key, sender, seq + i, 2, lease, a.wait_ms + 5000)
        payload = struct.pack(">I", rid) + env
        frames += struct.pack(">Q", len(payload)) + payload
        ids[rid] = i
    s.sendall(frames)  # all of them before reading any reply
    counts = {"ok": 0, "exhausted": 0, "other": 0}
    s.settimeout(0.5)
    deadline = t0 + a.wait_ms / 1000.0 + 5
    while ids and time.monotonic() < deadline:
        try:
            n = struct.unpack(">Q", recv_exact(s, 8))[0]
            p = recv_exact(s, n)
        except socket.timeout:
            continue
        except (EOFError, OSError) as e:
            out("connection ended: %s" % e)
            break
        rid = struct.unpack(">I", p[:4])[0]
        env = p[4:]
        if rid not in ids or len(env) < 84:
            out("stray reply, id %08x, %d bytes" % (rid, len(env)))
            continue
        f = HDR.unpack(env[:52])
        status = f[9]
        signed = 1 if f[3] != 0 else 0
        name = CODES.get(status, str(status))
        out("reply %d status=%s signed=%d after=%d" % (
            ids.pop(rid), name, signed, (time.monotonic() - t0) * 1000))
        if status == 0:
            counts["ok"] += 1
        elif status == 8:
            counts["exhausted"] += 1
        else:
            counts["other"] += 1
    out("summary ok=%d exhausted=%d other=%d missing=%d" % (
        counts["ok"], counts["exhausted"], counts["other"], len(ids)))
    return 0 if not ids else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("hold")
    h.add_argument("port", type=int)
    h.add_argument("n", type=int)
    h.add_argument("--sp", action="store_true")
    h.add_argument("--frame", type=int)
    h.add_argument("--payload", type=int, default=0)
    h.add_argument("--secs", type=float, default=30)
    t = sub.add_parser("tls-hold")
    t.add_argument("port", type=int)
    t.add_argument("n", type=int)
    t.add_argument("mode", choices=["none", "half"])
    t.add_argument("--secs", type=float, default=30)
    n = sub.add_parser("tls-notify")
    n.add_argument("port", type=int)
    n.add_argument("cafile")
    w = sub.add_parser("wrong-proto")
    w.add_argument("port", type=int)
    b = sub.add_parser("bigframe")
    b.add_argument("port", type=int)
    b.add_argument("len", type=int)
    i = sub.add_parser("inflight")
    i.add_argument("port", type=int)
    i.add_argument("keyfile")
    i.add_argument("n", type=int)
    i.add_argument("--wait-ms", type=int, default=3000)
    a = p.parse_args()
    fn = {"hold": cmd_hold, "tls-hold": cmd_tls_hold,
          "tls-notify": cmd_tls_notify, "wrong-proto": cmd_wrong_proto,
          "bigframe": cmd_bigframe, "inflight": cmd_inflight}[a.cmd]
    sys.exit(fn(a) or 0)


if __name__ == "__main__":
    main()
