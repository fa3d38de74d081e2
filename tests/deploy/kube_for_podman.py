#!/usr/bin/env python3
"""Rewrites deploy/kubernetes manifests into what `podman play kube` of
podman 4.3.1 (Debian bookworm) can run, and says on stderr what it changed.

podman 4.3.1 plays Pod, Deployment, PersistentVolumeClaim, ConfigMap and
Secret documents; it ignores Service and StatefulSet documents without a
word, and:
  - a Service has no counterpart: containers on a podman network find a pod
    by its name (dnsname plugin), so the server runs as a Pod named after
    its Service;
  - a StatefulSet becomes that Pod, and its volumeClaimTemplates a
    PersistentVolumeClaim (a podman named volume);
  - a secret volume crashes play kube (nil pointer in VolumeFromSecret),
    so each becomes a hostPath of a directory holding the same files
    (--secret-dir DIR/SECRETNAME/KEY, only the listed items if any);
  - env valueFrom.secretKeyRef works only with a podman secret that holds
    JSON {"KEY": "<base64>"}; a `kind: Secret` document is stored as YAML
    and then refused ("secret ... is not valid JSON"), so the caller makes
    the podman secret, named PREFIX-NAME;
  - readinessProbe is ignored; livenessProbe becomes the container's
    health check.
Every name gets PREFIX- (several runs can share the machine), the image
is replaced and every pod gets the label given.

usage: kube_for_podman.py --prefix P --image IMG --label K=V
                          --secret-dir DIR MANIFEST... > out.yaml
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
    ap.add_argument("manifests", nargs="+")
    a = ap.parse_args()
    lk, lv = a.label.split("=", 1)

    docs = []
    for m in a.manifests:
        with open(m) as f:
            docs += [d for d in yaml.safe_load_all(f) if d]
    services = [d["metadata"]["name"] for d in docs if d["kind"] == "Service"]

    def pname(n):
        return "%s-%s" % (a.prefix, n)

    def fix_env_value(v):
        for s in services:
            v = v.replace("//%s:" % s, "//%s:" % pname(s))
        return v

    def fix_pod_spec(spec, owner):
        for c in spec.get("containers", []):
            c["image"] = a.image
            for e in c.get("env", []):
                if "value" in e:
                    e["value"] = fix_env_value(e["value"])
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    ref["name"] = pname(ref["name"])
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
        if kind == "Service":
            note("Service %s dropped: the server pod is named %s instead" %
                 (name, pname(name)))
        elif kind == "StatefulSet":
            spec = d["spec"]
            tmpl = copy.deepcopy(spec["template"])
            pod_name = pname(spec.get("serviceName", name))
            meta = tmpl.setdefault("metadata", {})
            meta["name"] = pod_name
            meta.setdefault("labels", {})[lk] = lv
            pspec = tmpl["spec"]
            fix_pod_spec(pspec, pod_name)
            for vct in spec.get("volumeClaimTemplates", []):
                claim = pname(vct["metadata"]["name"])
                out.append({
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": {"name": claim, "labels": {lk: lv}},
                    "spec": vct["spec"],
                })
                pspec.setdefault("volumes", []).append({
                    "name": vct["metadata"]["name"],
                    "persistentVolumeClaim": {"claimName": claim},
                })
                note("volumeClaimTemplate %s -> PersistentVolumeClaim %s" %
                     (vct["metadata"]["name"], claim))
            out.append({"apiVersion": "v1", "kind": "Pod",
                        "metadata": meta, "spec": pspec})
            note("StatefulSet %s -> Pod %s" % (name, pod_name))
        elif kind == "Deployment":
            d = copy.deepcopy(d)
            d["metadata"]["name"] = pname(name)
            d["metadata"].setdefault("labels", {})[lk] = lv
            tmpl = d["spec"]["template"]
            tmpl.setdefault("metadata", {}).setdefault("labels", {})[lk] = lv
            fix_pod_spec(tmpl["spec"], pname(name))
            out.append(d)
            note("Deployment %s -> %s, %d replicas" %
                 (name, pname(name), d["spec"].get("replicas", 1)))
        else:
            note("%s %s left out" % (kind, name))
    yaml.safe_dump_all(out, sys.stdout, sort_keys=False)


if __name__ == "__main__":
    main()
