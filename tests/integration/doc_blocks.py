#!/usr/bin/env python3
"""doc_blocks.py: the shell blocks of Markdown files, as doc_commands.sh runs
them (HACKING.md, "Commands in the docs", explains the marking).

Every fenced block whose info string is sh, bash, shell or console must
follow a marker, an HTML comment on the line before it (blank lines
allowed between):

    <!-- doctest: run -->
    <!-- doctest: skip REASON (which may go on over
    more lines) -->
    <!-- doctest: run
    COMMANDS that stand in for the steps before the block that do not
    run here (started in the background, for instance)
    -->

usage: doc_blocks.py OUTDIR FILE...

For each FILE it writes OUTDIR/N.sh (N counting from 1 in the order of
the files) with the block of each run marker (its stand-in commands
first), in the order they come, and prints one line per block:
"run FILE:LINE OUTDIR/N.sh" or "skip FILE:LINE REASON". Exits 1 with a
message naming FILE:LINE when a block has no marker, a skip no reason or
a marker no block.
"""
import os
import re
import sys

SHELLS = {"sh", "bash", "shell", "console"}
MARKER = re.compile(r"^\s*<!--\s*doctest:\s*(run|skip)\b(.*?)(-->)?\s*$")


def blocks(path):
    """Yields (line, kind, reason_or_setup, body) for each shell block."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    i = 0
    marker = None  # (line, kind, text)
    while i < len(lines):
        line = lines[i]
        m = MARKER.match(line)
        if m:
            if marker is not None:
                raise SystemExit(f"{path}:{marker[0]}: a marker without a block")
            kind, rest, closed = m.group(1), m.group(2).strip(), m.group(3)
            start = i + 1
            extra = []
            if not closed:
                i += 1
                while i < len(lines) and not lines[i].rstrip().endswith("-->"):
                    extra.append(lines[i])
                    i += 1
                if i == len(lines):
                    raise SystemExit(f"{path}:{start}: marker never closed")
                last = lines[i].rstrip()[:-3]
                if last.strip():
                    extra.append(last)
            if kind == "skip":
                reason = " ".join([rest] + [e.strip() for e in extra]).strip()
                if not reason:
                    raise SystemExit(f"{path}:{start}: skip without a reason")
                marker = (start, kind, reason)
            else:
                if rest:
                    raise SystemExit(
                        f"{path}:{start}: 'run' takes no words, only "
                        "stand-in commands on the lines after it")
                marker = (start, kind, "\n".join(extra))
            i += 1
            continue
        fence = re.match(r"^(\s*)(```+|~~~+)\s*([\w+-]*)", line)
        if fence:
            indent, ticks, info = fence.groups()
            start = i + 1
            body = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(ticks):
                body.append(lines[i][len(indent):] if
                            lines[i].startswith(indent) else lines[i])
                i += 1
            i += 1
            if info in SHELLS:
                if marker is None:
                    raise SystemExit(
                        f"{path}:{start}: a shell block without a doctest "
                        "marker (see HACKING.md, Commands in the docs)")
                yield start, marker[1], marker[2], "\n".join(body)
            elif marker is not None:
                raise SystemExit(
                    f"{path}:{marker[0]}: a marker before a block that is "
                    "not sh, bash, shell or console")
            marker = None
            continue
        if line.strip() and marker is not None:
            raise SystemExit(f"{path}:{marker[0]}: a marker without a block")
        i += 1
    if marker is not None:
        raise SystemExit(f"{path}:{marker[0]}: a marker without a block")


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    n = 0
    for path in sys.argv[2:]:
        for line, kind, text, body in blocks(path):
            where = f"{path}:{line}"
            if kind == "skip":
                print(f"skip {where} {text}")
                continue
            n += 1
            script = os.path.join(out, f"{n}.sh")
            with open(script, "w", encoding="utf-8") as f:
                f.write(f"# {where}\n")
                if text:
                    f.write(f"# stand-in commands of the marker\n{text}\n")
                    f.write("# the block\n")
                f.write(body + "\n")
            print(f"run {where} {script}")


if __name__ == "__main__":
    main()
