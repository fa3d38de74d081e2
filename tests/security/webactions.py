#!/usr/bin/env python3
"""webactions: signs and sends the dashboard's action requests (POST
/api/jobs/ID/retry and /cancel, docs/PROTOCOL.md 15) to a metrics listener,
for tests/security/dashboard_actions.sh. Standard library only.

    webactions.py URL KEYFILE post PATH [--skew-ms N] [--key-of FILE]
                  [--tamper] [--sign-path P] [--sender HEX] [--seq N]
                  [--save FILE | --replay FILE] [--no-auth] [--body B]
                  [--sign-body B]
    webactions.py URL KEYFILE get PATH

post prints "STATUS BODY" on one line; get prints the body. --key-of signs
with another key file's key (its id too); --tamper flips a bit of the
signature; --sign-path signs another path than the one sent; --skew-ms
moves the timestamp; --save writes the request's headers to FILE and
--replay sends the saved headers again, unchanged; --body is what is
sent, --sign-body what is signed (default: the same).
"""
import argparse
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.request

SCHEME = "TASQ-HMAC-SHA256"


def read_key(path):
    with open(path, "rb") as f:
        return f.read().rstrip(b" \t\r\n")


def key_id(key):
    return hashlib.sha256(b"tasq-key-id\0" + key).hexdigest()[:8]


def sign(key, method, target, sender, seq, ts, body=b""):
    kid = key_id(key)
    canon = "\n".join([SCHEME, method, target, kid, "%016x" % sender,
                       str(seq), str(ts), hashlib.sha256(body).hexdigest()])
    sig = hmac.new(key, canon.encode(), hashlib.sha256).hexdigest()
    return "%s key=%s,sender=%016x,seq=%d,ts=%d,sig=%s" % (
        SCHEME, kid, sender, seq, ts, sig)


def send(url, method, path, headers, body=b""):
    req = urllib.request.Request(url + path, data=body if method == "POST"
                                 else None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("keyfile")
    ap.add_argument("op", choices=["post", "get"])
    ap.add_argument("path")
    ap.add_argument("--skew-ms", type=int, default=0)
    ap.add_argument("--key-of")
    ap.add_argument("--tamper", action="store_true")
    ap.add_argument("--sign-path")
    ap.add_argument("--sender")
    ap.add_argument("--seq", type=int, default=1)
    ap.add_argument("--save")
    ap.add_argument("--replay")
    ap.add_argument("--no-auth", action="store_true")
    ap.add_argument("--body", default="")
    ap.add_argument("--sign-body")
    a = ap.parse_args()
    if a.op == "get":
        st, body = send(a.url, "GET", a.path, {})
        if st != 200:
            sys.exit("GET %s: HTTP %d %s" % (a.path, st, body))
        sys.stdout.write(body)
        return
    body = a.body.encode()
    if a.replay:
        with open(a.replay) as f:
            headers = json.load(f)
    elif a.no_auth:
        headers = {}
    else:
        key = read_key(a.key_of or a.keyfile)
        sender = int(a.sender, 16) if a.sender else \
            int.from_bytes(os.urandom(8), "big") | 1
        ts = int(time.time() * 1000) + a.skew_ms
        signed = body if a.sign_body is None else a.sign_body.encode()
        h = sign(key, "POST", a.sign_path or a.path, sender, a.seq, ts,
                 signed)
        if a.tamper:
            last = h[-1]
            h = h[:-1] + ("0" if last != "0" else "1")
        headers = {"Authorization": h}
    if a.save:
        with open(a.save, "w") as f:
            json.dump(headers, f)
    st, text = send(a.url, "POST", a.path, headers, body)
    print("%d %s" % (st, text.strip().replace("\n", " ")))


if __name__ == "__main__":
    main()
