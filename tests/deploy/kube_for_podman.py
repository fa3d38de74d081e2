#!/usr/bin/env python3
"""Rewrites deploy/kubernetes manifests into what `podman play kube` of
podman 4.3.1 (Debian bookworm) can run, and says on stderr what it changed.

podman 4.3.1 plays Pod, Deployment, PersistentVolumeClaim, ConfigMap and
Secret documents; it ignores Service and StatefulSet documents without a
word, and:
  - a Service has no counterpart: containers on a podman network find a pod
    by its name (dnsname plugin), and the headless Service's name becomes
    a network alias (PREFIX-SERVICE) that the caller gives the
    StatefulSet's pods (`podman play kube --network NET:alias=NAME`), so
    that it resolves to every server pod's address, as in Kubernetes;
  - a StatefulSet of N replicas becomes N Pods PREFIX-NAME-0 .. -N-1,
    and its volumeClaimTemplates a PersistentVolumeClaim per pod
    (PREFIX-CLAIM-NAME-I, a podman named volume), as Kubernetes names
    them; --replicas overrides N;
  - a Job becomes a Pod PREFIX-NAME (restartPolicy Never) that runs once;
  - a secret volume crashes play kube (nil pointer in VolumeFromSecret),
    so each becomes a hostPath of a directory holding the same files
    (--secret-dir DIR/SECRETNAME/KEY, only the listed items if any);
  - env valueFrom.secretKeyRef works only with a podman secret that holds
    JSON {"KEY": "<base64>"}; a `kind: Secret` document is stored as YAML
    and then refused ("secret ... is not valid JSON"), so the caller makes
    the podman secret, named PREFIX-NAME;
  - readinessProbe is ignored; livenessProbe becomes the container's
    health check;
  - a containerPort is published on the host (as if hostPort were set),
    so that a second replica fails to start ("address already in use"):
    ports are dropped (in Kubernetes they are informational).
Every name gets PREFIX- (several runs can share the machine), the image
is replaced and every pod gets the label given.

--kinds KIND,... keeps only the documents of those kinds (as written in
the manifests), so that the StatefulSet's pods can be played with the
Service's alias and the rest without it.

--from-ordinal I leaves out the StatefulSet's pods (and claims) below I:
`kubectl scale statefulset/NAME --replicas N+1` adds pod N alone, and the
caller plays it beside the running ones (--replicas N+1 --from-ordinal N).

--append-arg NAME=ARG (repeatable) appends ARG to the command of every
container of the document NAME (as written in the manifests). Not a
translation for podman: a setting of the caller's (the deploy test
shortens the workers' --resolve-interval, 30 s in a cluster, so that a
shard added in a test is found in seconds), said on stderr like the rest.

usage: kube_for_podman.py --prefix P --image IMG --label K=V
                          --secret-dir DIR [--replicas N] [--from-ordinal I]
                          [--kinds K,...] [--append-arg NAME=ARG]...
                          MANIFEST... > out.yaml
"""
import argparse
import copy
import os
import shutil
import sys

import yaml


def note(msg):
    print("kube_for_podman: " + msg, file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--label", required=True)
    ap.add_argument("--secret-dir", required=True)
    ap.add_argument("--replicas", type=int,
                    help="replicas of every StatefulSet (default: theirs)")
    ap.add_argument("--from-ordinal", type=int, default=0,
                    help="only the StatefulSet pods from this ordinal on")
    ap.add_argument("--kinds", help="only these kinds, comma-separated")
    ap.add_argument("--append-arg", action="append", default=[],
                    metavar="NAME=ARG",
                    help="append ARG to the command of document NAME's "
                         "containers")
    ap.add_argument("manifests", nargs="+")
    a = ap.parse_args()
    lk, lv = a.label.split("=", 1)

    docs = []
    for m in a.manifests:
        with open(m) as f:
            docs += [d for d in yaml.safe_load_all(f) if d]
    services = [d["metadata"]["name"] for d in docs if d["kind"] == "Service"]
    kinds = set(a.kinds.split(",")) if a.kinds else None
    extra = {}
    for na in a.append_arg:
        n, arg = na.split("=", 1)
        extra.setdefault(n, []).append(arg)

    def pname(n):
        return "%s-%s" % (a.prefix, n)

    def fix_env_value(v):
        for s in services:
            v = v.replace("//%s:" % s, "//%s:" % pname(s))
        return v

    def fix_pod_spec(spec, owner, doc):
        for c in spec.get("containers", []):
            c["image"] = a.image
            if extra.get(doc):
                c["command"] = c.get("command", []) + extra[doc]
                note("%s/%s: %s appended to the command (the caller's "
                     "setting)" % (owner, c["name"], " ".join(extra[doc])))
            for e in c.get("env", []):
                if "value" in e:
                    e["value"] = fix_env_value(e["value"])
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    ref["name"] = pname(ref["name"])
            if c.pop("ports", None):
                note("%s/%s: ports dropped (podman would publish each "
                     "containerPort on the host, which the replicas "
                     "cannot share; pods reach each other by name)" %
                     (owner, c["name"]))
            if "readinessProbe" in c:
                note("%s/%s: readinessProbe is ignored by podman" %
                     (owner, c["name"]))
        for v in spec.get("volumes", []):
            sec = v.get("secret")
            if not sec:
                continue
            src = os.path.join(a.secret_dir, sec["secretName"])
            items = sec.get("items")
            if items:
                dst = os.path.join(a.secret_dir,
                                   "%s-%s-%s" % (sec["secretName"], owner,
                                                 v["name"]))
                os.makedirs(dst, exist_ok=True)
                st = os.stat(src)
                for it in items:
                    p = os.path.join(dst, it["path"])
                    shutil.copy2(os.path.join(src, it["key"]), p)
                    os.chown(p, st.st_uid, st.st_gid)
                os.chmod(dst, 0o755)
                src = dst
            del v["secret"]
            v["hostPath"] = {"path": src, "type": "Directory"}
            note("%s: secret volume %s -> hostPath %s" %
                 (owner, v["name"], src))

    out = []
    for d in docs:
        kind = d["kind"]
        name = d["metadata"]["name"]
        if kinds is not None and kind not in kinds:
            continue
        if kind == "Service":
            note("Service %s dropped: its pods get the network alias %s "
                 "(clusterIP %s)" % (name, pname(name),
                                     d["spec"].get("clusterIP", "auto")))
        elif kind == "StatefulSet":
            spec = d["spec"]
            n = a.replicas if a.replicas is not None else spec.get(
                "replicas", 1)
            for i in range(a.from_ordinal, n):
                tmpl = copy.deepcopy(spec["template"])
                pod_name = "%s-%d" % (pname(name), i)
                meta = tmpl.setdefault("metadata", {})
                meta["name"] = pod_name
                meta.setdefault("labels", {})[lk] = lv
                pspec = tmpl["spec"]
                fix_pod_spec(pspec, pod_name, name)
                for vct in spec.get("volumeClaimTemplates", []):
                    vname = vct["metadata"]["name"]
                    claim = pname("%s-%s-%d" % (vname, name, i))
                    out.append({
                        "apiVersion": "v1",
                        "kind": "PersistentVolumeClaim",
                        "metadata": {"name": claim, "labels": {lk: lv}},
                        "spec": copy.deepcopy(vct["spec"]),
                    })
                    pspec.setdefault("volumes", []).append({
                        "name": vname,
                        "persistentVolumeClaim": {"claimName": claim},
                    })
                    note("volumeClaimTemplate %s -> PersistentVolumeClaim "
                         "%s" % (vname, claim))
                out.append({"apiVersion": "v1", "kind": "Pod",
                            "metadata": meta, "spec": pspec})
            note("StatefulSet %s -> Pods %s-%d..%d (%d replicas%s)" %
                 (name, pname(name), a.from_ordinal, n - 1, n,
                  ", those below %d left out" % a.from_ordinal
                  if a.from_ordinal else ""))
        elif kind == "Job":
            tmpl = copy.deepcopy(d["spec"]["template"])
            meta = tmpl.setdefault("metadata", {})
            meta["name"] = pname(name)
            meta.setdefault("labels", {})[lk] = lv
            pspec = tmpl["spec"]
            pspec["restartPolicy"] = "Never"
            fix_pod_spec(pspec, pname(name), name)
            out.append({"apiVersion": "v1", "kind": "Pod",
                        "metadata": meta, "spec": pspec})
            note("Job %s -> Pod %s (runs once)" % (name, pname(name)))
        elif kind == "Deployment":
            d = copy.deepcopy(d)
            d["metadata"]["name"] = pname(name)
            d["metadata"].setdefault("labels", {})[lk] = lv
            tmpl = d["spec"]["template"]
            tmpl.setdefault("metadata", {}).setdefault("labels", {})[lk] = lv
            fix_pod_spec(tmpl["spec"], pname(name), name)
            out.append(d)
            note("Deployment %s -> %s, %d replicas" %
                 (name, pname(name), d["spec"].get("replicas", 1)))
        else:
            note("%s %s left out" % (kind, name))
    yaml.safe_dump_all(out, sys.stdout, sort_keys=False)


if __name__ == "__main__":
    main()
