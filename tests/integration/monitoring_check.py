#!/usr/bin/env python3
"""monitoring_check: the Prometheus alert rules and the Grafana dashboard
of deploy/ against a live server's /metrics (integration.monitoring).

    monitoring_check.py METRICS-TEXT ALERTS-YAML GRAFANA-JSON

Checks that the rule file is YAML with Prometheus's rule-file structure
(groups: name, rules: alert or record, expr, for, labels, annotations),
that the alerts an operator needs are there, that the dashboard is JSON
with panels and targets and charts what an operator needs (queue
latency per queue), and that every tasq_* metric their expressions
name is a sample in the metrics text. Prints what it checked; exits 1
with every problem listed."""
import json
import re
import sys

import yaml

NAME = re.compile(r"\btasq_[A-Za-z0-9_:]*")
DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
# The alerts deploy/README.md promises: an expression must name these.
WANTED = {
    "server down": "tasq_uptime_seconds",
    "journal failed": "tasq_journal_write_error",
    "queue latency high": "tasq_queue_latency_seconds",
    "workers absent": "tasq_workers_connected",
    "dead letters growing": "tasq_tasks_dead_lettered_total",
}

# The charts of the Grafana dashboard an operator needs (issue 13: queue
# latency, per queue): a panel target whose expr names the metric and
# keeps the label (by (LABEL), or {{LABEL}} in its legend).
WANTED_PANELS = {
    "queue latency per queue": ("tasq_queue_latency_seconds", "queue"),
}


def sample_names(text):
    names = set()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def balanced(expr):
    depth = {"(": 0, "[": 0, "{": 0}
    close = {")": "(", "]": "[", "}": "{"}
    for c in re.sub(r'"[^"]*"', '""', expr):
        if c in depth:
            depth[c] += 1
        elif c in close:
            depth[close[c]] -= 1
            if depth[close[c]] < 0:
                return False
    return all(v == 0 for v in depth.values())


def check_rules(doc, problems):
    exprs = []
    if not isinstance(doc, dict) or not isinstance(doc.get("groups"), list):
        problems.append("rules: no top-level 'groups' list")
        return exprs
    seen = set()
    for g in doc["groups"]:
        if not isinstance(g, dict) or not isinstance(g.get("name"), str):
            problems.append(f"rules: a group without a name: {g!r}")
            continue
        if not isinstance(g.get("rules"), list) or not g["rules"]:
            problems.append(f"rules: group {g['name']} has no rules")
            continue
        for r in g["rules"]:
            what = r.get("alert") or r.get("record") if isinstance(r, dict) else None
            if not isinstance(what, str):
                problems.append(f"rules: a rule with neither alert nor record: {r!r}")
                continue
            extra = set(r) - {"alert", "record", "expr", "for", "keep_firing_for",
                              "labels", "annotations"}
            if extra:
                problems.append(f"rules: {what}: unknown keys {sorted(extra)}")
            if what in seen:
                problems.append(f"rules: {what} twice")
            seen.add(what)
            expr = r.get("expr")
            if not isinstance(expr, str) or not expr.strip():
                problems.append(f"rules: {what}: no expr")
                continue
            if not balanced(expr):
                problems.append(f"rules: {what}: unbalanced brackets in {expr!r}")
            if "for" in r and not DURATION.match(str(r["for"])):
                problems.append(f"rules: {what}: 'for' is not a duration: {r['for']!r}")
            if "alert" in r:
                labels = r.get("labels", {})
                ann = r.get("annotations", {})
                if not isinstance(labels, dict) or "severity" not in labels:
                    problems.append(f"rules: {what}: no severity label")
                if not isinstance(ann, dict) or not ann.get("summary"):
                    problems.append(f"rules: {what}: no summary annotation")
            exprs.append((f"alert {what}", expr))
    for purpose, metric in WANTED.items():
        if not any(metric in NAME.findall(e) for _, e in exprs):
            problems.append(f"rules: no alert for {purpose} (on {metric})")
    return exprs


def check_dashboard(doc, problems):
    exprs = []
    panels = doc.get("panels") if isinstance(doc, dict) else None
    if not isinstance(panels, list) or not panels:
        problems.append("dashboard: no panels")
        return exprs
    ids = set()
    for p in panels:
        title = p.get("title", "?")
        if p.get("id") in ids:
            problems.append(f"dashboard: panel id {p.get('id')} twice")
        ids.add(p.get("id"))
        if not isinstance(p.get("gridPos"), dict):
            problems.append(f"dashboard: panel {title}: no gridPos")
        targets = p.get("targets")
        if not isinstance(targets, list) or not targets:
            problems.append(f"dashboard: panel {title}: no targets")
            continue
        for t in targets:
            e = t.get("expr", "")
            if not e or not balanced(e):
                problems.append(f"dashboard: panel {title}: bad expr {e!r}")
            exprs.append((f"panel {title}", e))
    for purpose, (metric, label) in WANTED_PANELS.items():
        if not any(metric in t.get("expr", "") and
                   (re.search(r"\bby\s*\(\s*%s\s*\)" % label, t["expr"]) or
                    "{{%s}}" % label in t.get("legendFormat", ""))
                   for p in panels for t in p.get("targets") or []):
            problems.append(f"dashboard: no panel of {purpose} ({metric} "
                            f"by {label})")
    for v in doc.get("templating", {}).get("list", []):
        exprs.append((f"variable {v.get('name')}", str(v.get("query", ""))))
    return exprs


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        names = sample_names(f.read())
    problems = []
    try:
        with open(argv[2]) as f:
            rules = yaml.safe_load(f)
    except yaml.YAMLError as e:
        problems.append(f"rules: not YAML: {e}")
        rules = None
    try:
        with open(argv[3]) as f:
            dash = json.load(f)
    except ValueError as e:
        problems.append(f"dashboard: not JSON: {e}")
        dash = None
    exprs = check_rules(rules, problems) + check_dashboard(dash, problems)
    used = set()
    for where, e in exprs:
        for m in NAME.findall(e):
            used.add(m)
            if m not in names:
                problems.append(f"{where}: {m} is not in /metrics")
    print(f"monitoring_check: {len(exprs)} expressions, {len(used)} tasq metrics "
          f"named, {len(names)} sample names in /metrics")
    for p in problems:
        print(f"  {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
