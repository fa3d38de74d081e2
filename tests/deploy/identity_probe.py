#!/usr/bin/env python3
"""identity_probe: asks each server a signed Health and prints its identity
(HealthReply.identity, field 6, fixed64; docs/PROTOCOL.md section 16).

    identity_probe.py --key-file K [--tls-ca CA] [--tls-server-name NAME]
                      [--timeout S] URL...

One line per URL: "URL identity=HEX16 server_id=HEX16 serving=true|false".
Exit status 0 when every server answered, 1 when one did not (its line
says why), 2 on a usage error. Speaks the protocol through
tests/compat/py_client.py (standard-library Python), so it needs nothing
of the build and runs on a host that only reaches the servers.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "compat"))
import py_client  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--key-file", required=True)
    p.add_argument("--tls-ca")
    p.add_argument("--tls-server-name")
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("urls", nargs="+")
    a = p.parse_args()
    try:
        key = py_client.load_key(a.key_file)
    except (OSError, ValueError) as e:
        print("identity_probe: key: %s" % e, file=sys.stderr)
        return 2
    rc = 0
    for url in a.urls:
        sp = None
        try:
            sp = py_client.SPReq(url, a.timeout, a.tls_ca, a.tls_server_name)
            c = py_client.Client(sp, key)
            f = c.call(py_client.M_HEALTH, b"", retries=3)
            print("%s identity=%016x server_id=%016x serving=%s" %
                  (url, py_client.pb_int(f, 6), py_client.pb_int(f, 3),
                   "true" if py_client.pb_int(f, 1) else "false"),
                  flush=True)
        except (OSError, ValueError, py_client.TransportError,
                py_client.ProtocolError, py_client.RpcError) as e:
            print("%s error=%s: %s" % (url, type(e).__name__, e), flush=True)
            rc = 1
        finally:
            if sp is not None:
                sp.close()
    return rc


if __name__ == "__main__":
    sys.exit(main())
