#!/usr/bin/env python3
"""Checks a sharded batch (deploy/kubernetes/client-job.yaml's script) from
its log and from `tasq stats --all --json` before and after it.

The log holds, for each of --jobs jobs in submission order, a line
"job ID" and that job's results, one a line in input order: job k
(from 0) is the squares of k*T+1 .. k*T+T (--tasks T). Checked:
  - every job is there once, with distinct ids, and each result is right,
    present exactly once and in its place;
  - each job's id names a shard of the stats (its top 16 bits are the
    shard tag, the top 16 bits of the server's identity: docs/PROTOCOL.md
    section 16), exactly one;
  - on each shard, the tasks submitted and completed since the "before"
    stats grew by T times the jobs placed there (every task ran there
    once: nothing went elsewhere or twice), and so did its queue's jobs;
  - at least --min-shards shards got jobs; --want-identity ID: that shard
    got at least one (a shard added by scaling up);
  - --workers N: every shard lists at least N connected worker processes
    (the workers lease from all of them).
Prints one line per shard (identity, jobs, tasks) and exits 1 on the
first failed check, saying which.

usage: shard_batch_check.py --log FILE --jobs N --tasks T --before JSON
                            --after JSON [--min-shards K]
                            [--want-identity ID] [--workers N]
"""
import argparse
import json
import sys


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def shards(path):
    """identity -> (url, default queue's submitted, completed, jobs,
    connected workers) of each server that answered."""
    with open(path) as f:
        doc = json.load(f)
    out = {}
    for s in doc.get("servers", []):
        if not s.get("up"):
            fail("%s: server %s did not answer" % (path, s.get("url")))
        st = s["stats"]
        q = [q for q in st.get("queues", []) if q["name"] == "default"]
        q = q[0] if q else {"submitted": 0, "completed": 0, "jobs": 0}
        w = sum(1 for w in st.get("workers", []) if w.get("connected"))
        out[st["identity"]] = (s["url"], q["submitted"], q["completed"],
                               q["jobs"], w)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", required=True)
    ap.add_argument("--jobs", type=int, required=True)
    ap.add_argument("--tasks", type=int, required=True)
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", required=True)
    ap.add_argument("--min-shards", type=int, default=1)
    ap.add_argument("--want-identity")
    ap.add_argument("--workers", type=int, default=0)
    a = ap.parse_args()

    jobs = []  # [job id, [results]]
    with open(a.log) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("job "):
                jobs.append([line[4:], []])
            elif line.startswith("batch: "):
                continue
            elif jobs:
                jobs[-1][1].append(line)
            else:
                fail("log: '%s' before the first job" % line)
    if len(jobs) != a.jobs:
        fail("log: %d jobs, want %d" % (len(jobs), a.jobs))
    if len({j for j, _ in jobs}) != a.jobs:
        fail("log: job ids repeat")
    for k, (jid, res) in enumerate(jobs):
        want = [str(i * i) for i in range(k * a.tasks + 1,
                                          k * a.tasks + a.tasks + 1)]
        if res != want:
            bad = next((i for i in range(min(len(res), len(want)))
                        if res[i] != want[i]), min(len(res), len(want)))
            fail("job %d (%s): %d results, want %d; first difference at "
                 "result %d: %r, want %r" %
                 (k, jid, len(res), len(want), bad,
                  res[bad] if bad < len(res) else None,
                  want[bad] if bad < len(want) else None))
    print("log: %d jobs of %d results each, every result right, once, in "
          "order" % (a.jobs, a.tasks))

    before = shards(a.before)
    after = shards(a.after)
    if a.want_identity and a.want_identity not in after:
        fail("shard %s is not in the stats" % a.want_identity)
    placed = {i: 0 for i in after}
    for jid, _ in jobs:
        tag = jid[:4]
        on = [i for i in after if i[:4] == tag]
        if len(on) != 1:
            fail("job %s: %d shards have its tag %s" % (jid, len(on), tag))
        placed[on[0]] += 1
    used = 0
    for ident in sorted(after, key=lambda i: after[i][0]):
        url, sub, comp, nj, w = after[ident]
        _, sub0, comp0, nj0, _ = before.get(ident, (url, 0, 0, 0, 0))
        n = placed[ident]
        used += n > 0
        print("  %s (identity %s): %2d jobs, tasks submitted +%d, "
              "completed +%d, jobs +%d; %d workers connected" %
              (url, ident, n, sub - sub0, comp - comp0, nj - nj0, w))
        if sub - sub0 != n * a.tasks or comp - comp0 != n * a.tasks:
            fail("shard %s: submitted +%d, completed +%d, want +%d each "
                 "(%d jobs of %d)" % (ident, sub - sub0, comp - comp0,
                                      n * a.tasks, n, a.tasks))
        if nj - nj0 != n:
            fail("shard %s holds %d more jobs, want %d" %
                 (ident, nj - nj0, n))
        if w < a.workers:
            fail("shard %s: %d workers connected, want %d" %
                 (ident, w, a.workers))
    print("jobs on %d of %d shards" % (used, len(after)))
    if used < a.min_shards:
        fail("jobs on %d shards, want at least %d" % (used, a.min_shards))
    if a.want_identity and placed[a.want_identity] == 0:
        fail("no job on shard %s" % a.want_identity)


if __name__ == "__main__":
    main()
