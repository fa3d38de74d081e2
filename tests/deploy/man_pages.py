#!/usr/bin/env python3
"""deploy.man_pages: the manual pages in docs/man say what --help says.

For each program, every option of its --help (and, for tasq, of each
command's --help) must have an entry (.TP) in the page that shows the
default and the environment variable --help shows, and every option entry
in the page must exist in --help. groff must format each page without a
warning (skipped when groff is missing).

usage: man_pages.py MANDIR TASQ-SERVER TASQ-WORKER TASQ
"""
import os
import re
import shutil
import subprocess
import sys

HELP_LINE = re.compile(
    r"^\s+(?:-\w, )?--(?P<name>[a-z0-9-]+)(?: (?P<meta>[A-Z][A-Z:]*))?"
    r"\s+(?P<text>.*)$")


def help_options(argv):
    out = subprocess.run(argv + ["--help"], capture_output=True, text=True,
                         check=True).stdout
    opts = {}
    for line in out.splitlines():
        m = HELP_LINE.match(line)
        if not m:
            continue
        text = m.group("text")
        d = re.search(r"\(default: ([^)]*)\)", text)
        e = re.search(r"\[env (\w+)\]", text)
        opts[m.group("name")] = (d.group(1) if d else None,
                                 e.group(1) if e else None)
    return opts


def plain(s):
    s = re.sub(r"\\f[BIRP]", "", s)
    s = s.replace("\\-", "-").replace("\\&", "").replace("\\e", "\\")
    s = re.sub(r'^\.(BR|BI|IR|RB|RI|IB|B|I)\s+', "", s)
    return s.replace('"', "")


def man_entries(path):
    """name -> text of the .TP entry whose tag names --name."""
    lines = open(path).read().splitlines()
    entries = {}
    i = 0
    while i < len(lines):
        if lines[i].startswith(".TP") and i + 1 < len(lines):
            tag = plain(lines[i + 1])
            body = []
            j = i + 2
            while j < len(lines) and not re.match(r"\.(TP|SH|SS|PP|IP)\b",
                                                  lines[j]):
                if not lines[j].startswith('.\\"'):
                    body.append(plain(lines[j]))
                j += 1
            m = re.search(r"--([a-z0-9-]+)", tag)
            if m and m.group(1) not in entries:
                entries[m.group(1)] = " ".join(body)
            i = j
        else:
            i += 1
    return entries


def check(page, opts, errors):
    entries = man_entries(page)
    name = os.path.basename(page)
    for opt, (default, env) in sorted(opts.items()):
        body = entries.get(opt)
        if body is None:
            errors.append("%s: --%s (in --help) is not documented" %
                          (name, opt))
            continue
        body = re.sub(r"\s+", " ", body)
        if default is not None and "default: %s" % default not in body:
            errors.append("%s: --%s: --help says (default: %s)" %
                          (name, opt, default))
        if env is not None and env not in body:
            errors.append("%s: --%s: --help names %s" % (name, opt, env))
    for opt in sorted(set(entries) - set(opts)):
        errors.append("%s: --%s is documented but not in --help" %
                      (name, opt))
    return len(opts)


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    mandir, server, worker, client = sys.argv[1:]
    errors = []
    n = check(os.path.join(mandir, "tasq-server.8"), help_options([server]),
              errors)
    n += check(os.path.join(mandir, "tasq-worker.1"), help_options([worker]),
               errors)
    copts = help_options([client])
    # Commands in the page's order: an option's first entry in the page
    # documents the first command that has it.
    for cmd in ("submit", "jobs", "status", "results", "wait", "stats",
                "dead", "health"):
        for k, v in help_options([client, cmd]).items():
            copts.setdefault(k, v)
    n += check(os.path.join(mandir, "tasq.1"), copts, errors)
    groff = shutil.which("groff")
    pages = sorted(f for f in os.listdir(mandir) if re.search(r"\.\d$", f))
    # A ".so man3/OTHER.3" page is an alias of another (libtasq's section
    # 3): man(1) follows it from the installed tree; here the target must
    # exist, and is formatted as a page of its own.
    links = set()
    for p in pages:
        with open(os.path.join(mandir, p)) as f:
            first = f.readline()
        if first.startswith(".so "):
            links.add(p)
            target = first.split()[1].split("/")[-1]
            if target not in pages:
                errors.append("%s: links to %s, which is not in %s" %
                              (p, target, mandir))
    if groff:
        for p in pages:
            if p in links:
                continue
            r = subprocess.run([groff, "-man", "-Tutf8", "-ww", "-z",
                                os.path.join(mandir, p)],
                               capture_output=True, text=True)
            if r.returncode != 0 or r.stderr.strip():
                errors.append("%s: groff: %s" % (p, r.stderr.strip()))
    elif os.environ.get("TASQ_TESTS_REQUIRED") == "1":
        errors.append("groff not found (deploy/install-deps.sh installs "
                      "groff-base)")
    else:
        print("groff not found: formatting not checked")
    for e in errors:
        print("FAIL: " + e)
    if errors:
        return 1
    print("%d options of tasq-server, tasq-worker and tasq documented as "
          "--help says; %s formatted by groff" %
          (n, ", ".join(pages) if groff else "pages not"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
