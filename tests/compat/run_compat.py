#!/usr/bin/env python3
"""Runs the compat tests: peers written from docs/PROTOCOL.md against real
tasq programs.

--mode python (compat.python): runs py_client.py against a real
tasq-server and one tasq-worker. Starts tasq-server on tcp://127.0.0.1:0
with a fresh key and --ready-file, starts tasq-worker -j 1 on the compat
queue, runs the client (which begins with a Health RPC, retried until the
server answers) and checks that the server is still running afterwards.

--mode old-server (compat.old_server): runs the real `tasq submit` against
old_server.py, a fake server that predates FetchRequest.submit (field 5),
once per way it answers a Fetch of a job it has not seen (NOT_FOUND, as
an older tasq-server does; or a reply without field 7). Each
`submit 3 4 5` and `submit --range 1:2000` must print every result right
and exit 0, and the server's log must show that the client first sent its
batch in a Fetch (field 5) and then by Submit.

Every process started here is stopped on the way out, whatever happened
(SIGTERM, then SIGKILL of its process group), and every wait is bounded.
Timeouts are multiplied by TASQ_TEST_TIMEOUT_FACTOR (for sanitizer
builds).

Exit status: 0 pass, 1 fail (the client's, or the harness's own); 77
(skip) for a Python older than 3.6.
"""

import argparse
import os
import re
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


def wait_ready(path, server, timeout, name="tasq-server"):
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if server.poll() is not None:
            raise RuntimeError("%s exited with status %d"
                               % (name, server.returncode))
        try:
            with open(path) as f:
                url = f.read().strip()
            if url:
                return url
        except FileNotFoundError:
            pass
        time.sleep(0.02)  # polling a file, bounded by `until`
    raise RuntimeError("no ready file after %.0f s" % timeout)


def run_python(args, work, key):
    """compat.python: py_client.py against tasq-server and tasq-worker."""
    ready = os.path.join(work, "ready")
    server = worker = None
    status = 1
    try:
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
                 "--results-timeout", str(60 * FACTOR), "--jobs"],
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
    return status


# `tasq submit` arguments and the exact output expected; both jobs fit in
# one batch (--batch-size 16384), so the client tries field 5 first.
OLD_SERVER_CASES = [
    (["3", "4", "5"], "3 9\n4 16\n5 25\n"),
    (["--range", "1:2000"],
     "".join("%d %d\n" % (i, i * i) for i in range(1, 2001))),
]


def old_server_counts(logpath):
    """The running totals old_server.py logs: Fetches that carried a
    Submit (field 5), and Submits."""
    with open(logpath, encoding="utf-8", errors="replace") as f:
        text = f.read()
    return tuple(int((re.findall(r"\b%s=(\d+)" % name, text) or ["0"])[-1])
                 for name in ("fetches_with_submit", "submits"))


def first_difference(got, want):
    g, w = got.splitlines(), want.splitlines()
    for i, (a, b) in enumerate(zip(g, w)):
        if a != b:
            return "line %d is %r, want %r" % (i + 1, a, b)
    return "%d lines, want %d" % (len(g), len(w))


def run_old_server_variant(args, work, key, unknown_job):
    """The cases against one old_server.py; 0 when all passed."""
    ready = os.path.join(work, "ready." + unknown_job)
    logpath = os.path.join(work, "old_server.%s.log" % unknown_job)
    server = None
    failed = 0
    try:
        server = start([sys.executable, args.old_server, "--key-file", key,
                        "--ready-file", ready, "--unknown-job", unknown_job,
                        "--lifetime", str(300 * FACTOR)], logpath)
        url = wait_ready(ready, server, 10 * FACTOR, "old_server.py")
        log("old server (unknown jobs: %s) is listening on %s"
            % (unknown_job, url))
        for argv, want in OLD_SERVER_CASES:
            what = "tasq submit %s" % " ".join(argv)
            before = old_server_counts(logpath)
            try:
                r = subprocess.run(
                    [args.tasq, "--server", url, "--key-file", key,
                     "submit", "--timeout", "%ds" % (30 * FACTOR)] + argv,
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, timeout=40 * FACTOR)
            except subprocess.TimeoutExpired:
                log("FAIL %s: did not finish in %.0f s"
                    % (what, 40 * FACTOR))
                failed += 1
                continue
            after = old_server_counts(logpath)
            tried, submits = after[0] - before[0], after[1] - before[1]
            out = r.stdout.decode("utf-8", "replace")
            good = (r.returncode == 0 and out == want and tried >= 1 and
                    submits >= 1)
            log("%s %s: exit %d, %s; %d Fetch(es) carried the batch "
                "(field 5), then %d Submit(s)" %
                ("ok  " if good else "FAIL", what, r.returncode,
                 "output right" if out == want else
                 "output wrong: " + first_difference(out, want),
                 tried, submits))
            if not good:
                failed += 1
                print(r.stderr.decode("utf-8", "replace"), end="",
                      flush=True)
        if server.poll() is not None:
            log("FAIL: old_server.py died during the run (status %d)"
                % server.returncode)
            failed += 1
    except (OSError, RuntimeError) as e:
        log("FAIL: %s" % e)
        failed += 1
    finally:
        sst = stop(server, "old_server.py", 10 * FACTOR)
        log("exit status: old_server.py %s" % sst)
        if failed:
            show(logpath, os.path.basename(logpath))
    return 1 if failed else 0


def run_old_server(args, work, key):
    """compat.old_server: the tasq client falls back to Submit."""
    status = 0
    for unknown_job in ("not-found", "empty"):
        status |= run_old_server_variant(args, work, key, unknown_job)
    return status


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=("python", "old-server"),
                    default="python")
    ap.add_argument("--server", help="tasq-server binary (python)")
    ap.add_argument("--worker", help="tasq-worker binary (python)")
    ap.add_argument("--client", help="py_client.py (python)")
    ap.add_argument("--tasq", help="tasq client binary (old-server)")
    ap.add_argument("--old-server", help="old_server.py (old-server)")
    ap.add_argument("--workdir", default=None,
                    help="where to make the scratch directory")
    args = ap.parse_args()
    need = {"python": ("server", "worker", "client"),
            "old-server": ("tasq", "old_server")}[args.mode]
    missing = ["--" + n.replace("_", "-") for n in need
               if getattr(args, n) is None]
    if missing:
        ap.error("--mode %s needs %s" % (args.mode, ", ".join(missing)))

    if args.workdir:
        os.makedirs(args.workdir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="tasq-compat.", dir=args.workdir)
    key = os.path.join(work, "key")
    status = 1
    try:
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
        if args.mode == "python":
            status = run_python(args, work, key)
        else:
            status = run_old_server(args, work, key)
    except OSError as e:
        log("FAIL: %s" % e)
        status = 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log("PASS" if status == 0 else "FAIL")
    return status


if __name__ == "__main__":
    sys.exit(main())
