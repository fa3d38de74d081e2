#!/usr/bin/env python3
"""Runs py_client.py against a real tasq-server and one tasq-worker.

Starts tasq-server on tcp://127.0.0.1:0 with a fresh key and --ready-file,
starts tasq-worker -j 1 on the compat queue, runs the client (which begins
with a Health RPC, retried until the server answers) and checks that the
server is still running afterwards. Every process started here is stopped
on the way out, whatever happened (SIGTERM, then SIGKILL of its process
group), and every wait is bounded. Timeouts are multiplied by
TASQ_TEST_TIMEOUT_FACTOR (for sanitizer builds).

Exit status: the client's (0 pass, 1 fail); 1 when the harness itself
fails; 77 (skip) for a Python older than 3.6.
"""

import argparse
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

if sys.version_info < (3, 6):
    print("SKIP: Python 3.6 or later needed")
    sys.exit(77)

FACTOR = float(os.environ.get("TASQ_TEST_TIMEOUT_FACTOR", "1") or "1")


def log(msg):
    print("run_compat: %s" % msg, flush=True)


def start(argv, logpath):
    f = open(logpath, "wb")
    try:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=f,
                             stderr=subprocess.STDOUT,
                             start_new_session=True)
    finally:
        f.close()
    log("started pid %d: %s" % (p.pid, " ".join(argv)))
    return p


def stop(p, name, grace):
    """SIGTERM the process group, wait up to grace seconds, then SIGKILL.
    Returns the exit status (negative: killed by that signal)."""
    if p is None:
        return None
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            log("%s did not stop in %.0f s: SIGKILL" % (name, grace))
    # The group may hold children (the worker's processes) even when the
    # leader is gone.
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        log("%s (pid %d) could not be reaped" % (name, p.pid))
    return p.returncode


def show(path, name):
    try:
        with open(path, "rb") as f:
            data = f.read()[-4000:]
    except OSError:
        return
    print("----- %s (last 4000 bytes) -----" % name)
    print(data.decode("utf-8", "replace"), end="")
    print("----- end of %s -----" % name, flush=True)


def wait_ready(path, server, timeout):
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if server.poll() is not None:
            raise RuntimeError("tasq-server exited with status %d"
                               % server.returncode)
        try:
            with open(path) as f:
                url = f.read().strip()
            if url:
                return url
        except FileNotFoundError:
            pass
        time.sleep(0.02)  # polling a file, bounded by `until`
    raise RuntimeError("no ready file after %.0f s" % timeout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True, help="tasq-server binary")
    ap.add_argument("--worker", required=True, help="tasq-worker binary")
    ap.add_argument("--client", required=True, help="py_client.py")
    ap.add_argument("--workdir", default=None,
                    help="where to make the scratch directory")
    args = ap.parse_args()

    if args.workdir:
        os.makedirs(args.workdir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="tasq-compat.", dir=args.workdir)
    key = os.path.join(work, "key")
    ready = os.path.join(work, "ready")
    server = worker = None
    status = 1
    try:
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")

        server = start([args.server, "--listen", "tcp://127.0.0.1:0",
                        "--key-file", key, "--ready-file", ready,
                        "--log-level", "info"],
                       os.path.join(work, "server.log"))
        url = wait_ready(ready, server, 10 * FACTOR)
        log("server is listening on %s" % url)

        worker = start([args.worker, "--server", url, "--key-file", key,
                        "--jobs", "1", "--queue", "compat", "--wait", "1s",
                        "--log-level", "info"],
                       os.path.join(work, "worker.log"))

        try:
            r = subprocess.run(
                [sys.executable, args.client, "--url", url, "--key-file",
                 key, "--queue", "compat", "--timeout", str(10 * FACTOR),
                 "--results-timeout", str(60 * FACTOR)],
                stdin=subprocess.DEVNULL, timeout=180 * FACTOR)
            status = r.returncode
        except subprocess.TimeoutExpired:
            log("py_client.py did not finish in %.0f s" % (180 * FACTOR))
            status = 1

        if server.poll() is not None:
            log("FAIL: tasq-server died during the run (status %d)"
                % server.returncode)
            status = 1
        if worker.poll() is not None:
            log("FAIL: tasq-worker died during the run (status %d)"
                % worker.returncode)
            status = 1
    except (OSError, RuntimeError) as e:
        log("FAIL: %s" % e)
        status = 1
    finally:
        wst = stop(worker, "tasq-worker", 15 * FACTOR)
        sst = stop(server, "tasq-server", 10 * FACTOR)
        log("exit status: worker %s, server %s" % (wst, sst))
        if status != 0:
            show(os.path.join(work, "server.log"), "server.log")
            show(os.path.join(work, "worker.log"), "worker.log")
        shutil.rmtree(work, ignore_errors=True)
    log("PASS" if status == 0 else "FAIL")
    return status


if __name__ == "__main__":
    sys.exit(main())
