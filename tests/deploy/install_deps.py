#!/usr/bin/env python3
"""deploy.install_deps: deploy/install-deps.sh --tests installs every
program the tests run.

Reads every test script (tests/**/*.sh, *.py, *.mjs, the CMakeLists.txt
that register tests, bench/run.sh, tests/run-all.sh, .ci/run and the
deploy/ scripts the tests call) and collects the programs they run: the
first word of every shell command (after wrappers such as timeout,
setsid, xargs, env, ip netns exec, sh -c and trap), the arguments of
`command -v`, every bare word given to a shell function that runs its
arguments ("$@"), the programs a Python script runs or looks for
(subprocess argv literals, shutil.which), the modules it imports, and
CMake's find_program and COMMAND. Commands run inside a container (the
arguments of podman, chroot) are the image's business and are left out.

Each such program must be either a shell builtin or function, one of
tasq's own programs, or come from a Debian package that
`deploy/install-deps.sh --tests --list` names or that every Debian has
(Priority: required, which is what debootstrap --variant=minbase
installs). The package is found with dpkg -S on the program this machine
runs, and its dependencies with dpkg-query; OPTIONAL below names the
programs that are deliberately not installed, with the reason.

usage: install_deps.py [TOP]     (default: the tree this file is in)
Exits 0 when every program is covered; 1 when one comes from a package
that is not installed; 77 (skipped) where there is no dpkg (not Debian),
or where some programs are not installed here, so that their packages
cannot be looked up (deploy/install-deps.sh --tests has not been run): 1
then with TASQ_TESTS_REQUIRED=1, as in CI. TASQ_DEPS_DUMP=1 lists every
program found, with where.
"""

import glob
import os
import re
import shutil
import subprocess
import sys

# Programs the tests use when present and that deploy/install-deps.sh
# deliberately does not install, with the reason.
OPTIONAL = {
    # "name": "why it is not installed",
}

# tasq's own programs and the test helpers the build makes.
OWN = re.compile(r"^(tasq|tasq-server|tasq-worker|tasq_raw|tasq-bench-\w+|"
                 r"\w+_test|\w+_replay|fuzz_\w+)$")

# tasq's own Python modules: the package in python/ and its build backend
# (python/_build/tasq_build.py).
OWN_MODULES = {"tasq", "tasq_build"}

BUILTINS = set("""
    . : [ [[ ]] alias bg bind break builtin caller cd command compgen
    complete compopt continue declare dirs disown echo enable eval exec exit
    export false fc fg getopts hash help history jobs kill let local logout
    mapfile popd printf pushd pwd read readarray readonly return set shift
    shopt source suspend test times trap true type typeset ulimit umask
    unalias unset wait
    if then else elif fi case esac for select while until do done in
    function time ! { } coproc
""".split())

KEYWORDS = {"if", "then", "else", "elif", "do", "while", "until", "for",
            "!", "time", "{"}

# Wrappers: NAME -> how many leading words (after its options) are not
# the command it runs. Options (-x, --x) are skipped; OPTARG lists the
# options that take a separate value.
WRAPPERS = {
    "exec": 0, "nohup": 0, "sudo": 0, "builtin": 0, "nice": 0,
    "setsid": 0, "stdbuf": 0, "env": 0, "xargs": 0, "time": 0,
    "timeout": 1, "setarch": 1, "flock": 1, "eatmydata": 0, "unshare": 0,
    "taskset": 1, "ionice": 0, "watch": 0, "valgrind": 0, "strace": 0,
    "catchsegv": 0, "gdb": 0, "chronic": 0,
}
OPTARG = {
    "nice": {"-n"}, "timeout": {"-k", "-s", "--kill-after", "--signal"},
    "xargs": {"-I", "-n", "-P", "-d", "-L", "-s", "-a", "-E"},
    "env": {"-u", "-C", "-S"}, "sudo": {"-u", "-g"}, "ionice": {"-c", "-n"},
    "stdbuf": {"-i", "-o", "-e"}, "flock": {"-w", "-E"},
    "setarch": set(), "unshare": {"--propagation"}, "taskset": set(),
    "valgrind": set(), "strace": {"-o", "-e", "-p"},
}
# Their arguments run elsewhere (in a container or another root).
ELSEWHERE = {"podman", "podman_q", "podman-compose", "docker", "chroot",
             "kubectl", "systemd-nspawn", "nsenter"}


class Found:
    def __init__(self):
        self.commands = {}      # name -> first "file:line"
        self.functions = set()  # shell functions defined anywhere
        self.runners = set()    # functions that run their arguments
        self.loose = {}         # bare words given to runners
        self.modules = {}       # python module -> first "file:line"

    def add(self, table, name, where):
        table.setdefault(name, where)


# --- a small shell lexer ----------------------------------------------------

OPS = ["&&", "||", ";;&", ";;", ";&", "|&", ">>", "<<<", "<<-", "<<",
       "&>>", "&>", ">&", "<&", "<>", ">|", "(", ")", ";", "&", "|", "<",
       ">", "\n"]


class Word:
    def __init__(self, text, plain, line):
        self.text = text        # with the quotes removed
        self.plain = plain      # no quoting and no expansion at all
        self.line = line


def skip_balanced(s, i, open_, close):
    """s[i] is just past an opening; returns the index past the match."""
    depth = 1
    while i < len(s) and depth:
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if c == "'" and open_ == "(":
            j = s.find("'", i + 1)
            i = len(s) if j < 0 else j + 1
            continue
        if c == '"':
            i = skip_dquote(s, i + 1, None, 0)
            continue
        if c == open_:
            depth += 1
        elif c == close:
            depth -= 1
        i += 1
    return i


def skip_dquote(s, i, subs, line):
    """s[i] is just past a ". Collects $(...) and `...` into subs."""
    while i < len(s):
        c = s[i]
        if c == "\\":
            i += 2
        elif c == '"':
            return i + 1
        elif s.startswith("$((", i):
            i = skip_balanced(s, i + 3, "(", ")") + 1
        elif s.startswith("$(", i):
            j = skip_balanced(s, i + 2, "(", ")")
            if subs is not None:
                subs.append((s[i + 2:j - 1], line))
            i = j
        elif s.startswith("${", i):
            i = skip_balanced(s, i + 2, "{", "}")
        elif c == "`":
            j = s.find("`", i + 1)
            j = len(s) if j < 0 else j
            if subs is not None:
                subs.append((s[i + 1:j], line))
            i = j + 1
        else:
            i += 1
    return i


def lex(s, line0=1):
    """Tokens of shell text: Word or operator strings, and the texts of
    command substitutions (parsed on their own)."""
    toks, subs = [], []
    i, line = 0, line0
    heredocs = []
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\n":
            toks.append("\n")
            line += 1
            i += 1
            for delim, strip in heredocs:   # skip the bodies
                while i < n:
                    j = s.find("\n", i)
                    j = n if j < 0 else j
                    body = s[i:j]
                    i = j + 1
                    line += 1
                    if (body.lstrip("\t") if strip else body) == delim:
                        break
            heredocs = []
            continue
        if c in " \t":
            i += 1
            continue
        if c == "\\" and s.startswith("\\\n", i):
            i += 2
            line += 1
            continue
        if c == "#":
            j = s.find("\n", i)
            i = n if j < 0 else j
            continue
        if s.startswith("((", i) and (
                not toks or toks[-1] in ("\n", ";", "&&", "||", "(", "|")
                or (isinstance(toks[-1], Word) and toks[-1].plain and
                    toks[-1].text in KEYWORDS)):
            i = skip_balanced(s, i + 2, "(", ")") + 1   # arithmetic
            continue
        if s.startswith("[[", i) and re.match(r"\[\[\s", s[i:]):
            j = s.find(" ]]", i)        # a test: no commands but $(...)
            j = n if j < 0 else j + 3
            skip_dquote(s[i:j] + '"', 0, subs, line)
            line += s.count("\n", i, j)
            toks.append(Word("[[", True, line))
            i = j
            continue
        op = next((o for o in OPS if s.startswith(o, i) and o != "\n"), None)
        if c in "<>" and s.startswith("(", i + 1):   # <(...) >(...)
            j = skip_balanced(s, i + 2, "(", ")")
            subs.append((s[i + 2:j - 1], line))
            toks.append(Word("", False, line))
            i = j
            continue
        if op:
            toks.append(op)
            i += len(op)
            if op in ("<<", "<<-"):
                m = re.match(r"\s*(['\"]?)([\w.-]+)\1", s[i:])
                if m:
                    heredocs.append((m.group(2), op == "<<-"))
                    toks.append(Word(m.group(2), False, line))
                    i += m.end()
            continue
        # a word
        start, text, plain = i, [], True
        while i < n and s[i] not in " \t\n;&|()<>":
            c = s[i]
            if c == "\\":
                text.append(s[i + 1:i + 2])
                plain = False
                i += 2
            elif c == "'":
                j = s.find("'", i + 1)
                j = n if j < 0 else j
                text.append(s[i + 1:j])
                plain = False
                i = j + 1
            elif c == '"':
                j = skip_dquote(s, i + 1, subs, line)
                text.append(s[i + 1:j - 1])
                plain = False
                i = j
            elif s.startswith("$((", i):
                i = skip_balanced(s, i + 3, "(", ")") + 1
                plain = False
            elif s.startswith("$(", i):
                j = skip_balanced(s, i + 2, "(", ")")
                subs.append((s[i + 2:j - 1], line))
                plain = False
                i = j
            elif s.startswith("${", i):
                i = skip_balanced(s, i + 2, "{", "}")
                plain = False
            elif c == "`":
                j = s.find("`", i + 1)
                j = n if j < 0 else j
                subs.append((s[i + 1:j], line))
                plain = False
                i = j + 1
            elif c == "$":
                plain = False
                text.append(c)
                i += 1
            elif c == "=" and re.fullmatch(r"[A-Za-z_]\w*\+?", s[start:i]) \
                    and s.startswith("=(", i):
                i = skip_balanced(s, i + 2, "(", ")")   # NAME=( array )
                text.append("=()")
            else:
                text.append(c)
                i += 1
        line += s.count("\n", start, i)
        if plain and (s[start:i].isdigit() or
                      re.fullmatch(r"\{[A-Za-z_]\w*\}", s[start:i])) \
                and i < n and s[i] in "<>":
            continue    # 2>&1, {fd}<>file: a file descriptor, not a word
        toks.append(Word("".join(text), plain, line))
    return toks, subs


def commands(toks):
    """Splits tokens into simple commands (lists of Words); skips case
    words and patterns and the word lists of for."""
    cmd, out = [], []
    case = None     # None, "word" (after case), "in", "pattern"
    skip_to_do = False
    for t in toks:
        if case == "word":
            case = "in" if isinstance(t, Word) else case
            continue
        if case == "in":
            if isinstance(t, Word) and t.plain and t.text == "in":
                case = "pattern"
            continue
        if case == "pattern":
            if isinstance(t, Word) and t.plain and t.text == "esac":
                case = None
            elif t == ")":
                case = None     # the commands of this branch follow
            continue
        if isinstance(t, str):
            if t in ("<", ">", ">>", "<<<", "&>", "&>>", ">&", "<&", "<>",
                     ">|", "<<", "<<-"):
                cmd.append(t)    # the next word is a redirection target
                continue
            if t in (";;", ";&", ";;&"):
                case = "pattern"
            if t in ("\n", ";") and skip_to_do:
                skip_to_do = False
            if cmd:
                out.append(cmd)
            cmd = []
            continue
        if skip_to_do:
            continue
        if not cmd and t.plain and t.text in ("for", "select"):
            skip_to_do = True
            continue
        if not cmd and t.plain and t.text == "case":
            case = "word"
            continue
        cmd.append(t)
    if cmd:
        out.append(cmd)
    return out


def strip_cmd(cmd):
    """Drops keywords, assignments and redirections from the front; returns
    the words left."""
    words, redir = [], False
    for w in cmd:
        if isinstance(w, str):
            redir = True
            continue
        if redir:
            redir = False
            continue
        if not words:
            if w.plain and w.text in ("if", "then", "else", "elif", "do",
                                      "while", "until", "!", "{", "}", "time",
                                      "fi", "done", "esac", "function"):
                continue
            if re.match(r"^[A-Za-z_]\w*(\[[^]]*\])?\+?=", w.text):
                continue        # NAME=value, NAME[key]=value
        words.append(w)
    return words


def scan_shell(text, where, found, depth=0):
    toks, subs = lex(text)
    for cmd in commands(toks):
        # function definitions: NAME ( ) { ... }
        if (len(cmd) >= 3 and isinstance(cmd[0], Word) and cmd[1] == "("
                and cmd[2] == ")"):
            continue
        words = strip_cmd(cmd)
        use_words(words, where, found, depth)
    for sub, line in subs:
        scan_shell(sub, (where[0], where[1] + line - 1), found, depth + 1)


def use_words(words, where, found, depth):
    while words:
        w = words[0]
        loc = "%s:%d" % (where[0], where[1] + w.line - 1)
        if not w.text or "$" in w.text or "`" in w.text:
            return      # a command held in a variable: $TASQ_CLIENT_BIN
        name = w.text
        if "/" in name:
            if re.match(r"^/(usr/)?s?bin/[\w.+-]+$", name):
                name = os.path.basename(name)
            else:
                return  # a script of the tree or a built program
        args = words[1:]
        if name in ELSEWHERE:
            found.add(found.commands, name, loc)
            return
        if name == "command" and args and args[0].text in ("-v", "-V"):
            for a in args[1:]:
                if a.text and "$" not in a.text and "/" not in a.text:
                    found.add(found.commands, a.text, loc)
            return
        if name in ("sh", "bash", "dash") and len(args) >= 2 and \
                args[0].text == "-c":
            found.add(found.commands, name, loc)
            if depth < 5:
                scan_shell(args[1].text, (where[0], where[1] + w.line - 1),
                           found, depth + 1)
            return
        if name in ("trap", "eval"):
            if args and depth < 5:
                scan_shell(args[0].text, (where[0], where[1] + w.line - 1),
                           found, depth + 1)
            return
        if name == "ip" and len(args) >= 3 and args[0].text == "netns" \
                and args[1].text == "exec":
            found.add(found.commands, name, loc)
            words = args[3:]
            continue
        if name in BUILTINS and name not in ("exec", "time", "command"):
            return
        if name in ("exec", "time", "command") or name in WRAPPERS:
            if name not in BUILTINS:
                found.add(found.commands, name, loc)
            rest = list(args)
            while rest and rest[0].text.startswith("-") and \
                    rest[0].text != "--":
                opt = rest.pop(0).text
                if opt in OPTARG.get(name, set()) and rest:
                    rest.pop(0)
            if rest and rest[0].text == "--":
                rest.pop(0)
            if name == "env":
                while rest and re.match(r"^[A-Za-z_]\w*=", rest[0].text):
                    rest.pop(0)
            rest = rest[WRAPPERS.get(name, 0):]
            words = rest
            continue
        if name.startswith("-") or re.fullmatch(r"[\d.]+", name):
            return
        found.add(found.commands, name, loc)
        # Bare words given to a function that runs its arguments: the
        # runner's name is known only after every file is read, so keep
        # them per called name.
        for a in args:
            if a.plain and re.fullmatch(r"[a-z][\w.+-]*", a.text):
                found.loose.setdefault(name, {}).setdefault(a.text, loc)
        return


def shell_functions(text, found):
    for m in re.finditer(r"(?m)^\s*(?:function\s+)?([A-Za-z_][\w-]*)\s*\(\)"
                         r"\s*\{?", text):
        found.functions.add(m.group(1))
    # runners: a function whose body runs "$@" (or "${@:2}") as a command
    for m in re.finditer(r"(?ms)^\s*(?:function\s+)?([A-Za-z_][\w-]*)\s*\(\)"
                         r"\s*\{(.*?)^\}", text):
        body = m.group(2)
        if re.search(r"(^|[;&|({]|then|do|!|until|while|if)\s*(exec\s+|"
                     r"setsid\s+|timeout\s+(-k\s+\S+\s+)?\S+\s+)?"
                     r"\"\$(@|\{@:\d+\})\"", body, re.M):
            found.runners.add(m.group(1))


# --- Python, JavaScript, CMake ---------------------------------------------

def scan_python(text, path, found):
    stdlib = getattr(sys, "stdlib_module_names", None)
    for ln, line in enumerate(text.splitlines(), 1):
        loc = "%s:%d" % (path, ln)
        m = re.match(r"\s*(?:import|from)\s+([\w]+)", line)
        if m and stdlib is not None and m.group(1) not in stdlib:
            found.add(found.modules, m.group(1), loc)
        for m in re.finditer(r"shutil\.which\(\s*[\"']([\w.+-]+)[\"']", line):
            found.add(found.commands, m.group(1), loc)
        for m in re.finditer(r"(?:subprocess\.\w+|Popen|check_output|"
                             r"check_call)\(\s*\[\s*[\"']([\w./+-]+)[\"']",
                             line):
            found.add(found.commands, os.path.basename(m.group(1)), loc)


def scan_js(text, path, found):
    for ln, line in enumerate(text.splitlines(), 1):
        for m in re.finditer(r"executablePath:\s*'([^']+)'", line):
            found.add(found.commands, os.path.basename(m.group(1)),
                      "%s:%d" % (path, ln))
        for m in re.finditer(r"(?:spawn|execFile)(?:Sync)?\(\s*'([^']+)'",
                             line):
            found.add(found.commands, os.path.basename(m.group(1)),
                      "%s:%d" % (path, ln))


def scan_cmake(text, path, found):
    text = re.sub(r"(?m)#.*$", "", text)
    for m in re.finditer(r"find_program\(\s*\w+\s+([\w.+-]+)", text):
        ln = text.count("\n", 0, m.start()) + 1
        found.add(found.commands, m.group(1), "%s:%d" % (path, ln))
    for m in re.finditer(r"COMMAND\s+([A-Za-z][\w.+-]*)\b", text):
        ln = text.count("\n", 0, m.start()) + 1
        found.add(found.commands, m.group(1), "%s:%d" % (path, ln))
    if re.search(r"Python3_EXECUTABLE", text):
        found.add(found.commands, "python3", path)


# --- packages ---------------------------------------------------------------

SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def candidates(cmd):
    """The paths dpkg may know the program cmd by: the one in PATH, or
    where that is not Debian's (a pyenv shim, /usr/local), the system's
    own; with and without /usr (merged /usr: dpkg knows /bin/sh)."""
    out = []
    for p in (shutil.which(cmd, path=os.environ.get("PATH", "") + ":" +
                           SYSTEM_PATH), shutil.which(cmd, path=SYSTEM_PATH)):
        if not p:
            continue
        for q in (p, os.path.realpath(p)):
            out += [q, q[4:] if q.startswith("/usr/") else "/usr" + q]
    return out


def owners(paths):
    """{path: package} for the paths dpkg knows, in one call."""
    if not paths:
        return {}
    r = subprocess.run(["dpkg", "-S"] + sorted(set(paths)),
                       capture_output=True, text=True)
    own = {}
    for line in r.stdout.splitlines():
        pkg, _, f = line.partition(": ")
        if not pkg.startswith("diversion by"):
            own.setdefault(f, pkg.split(",")[0].split(":")[0].strip())
    return own


def packages():
    """{package: (priority, [dependencies])} of what is installed here."""
    r = subprocess.run(["dpkg-query", "-W", "-f",
                        "${Package}\t${Priority}\t${Depends}, "
                        "${Pre-Depends}\t${Provides}\n"],
                       capture_output=True, text=True)
    pk, provided = {}, {}
    for line in r.stdout.splitlines():
        name, prio, deps, prov = (line.split("\t") + ["", "", ""])[:4]
        names = [d.strip().split(" ")[0].split(":")[0]
                 for d in re.split(r"[,|]", deps)]
        pk[name] = (prio, [d for d in names if d])
        for v in re.split(r",", prov):
            v = v.strip().split(" ")[0]
            if v:
                provided.setdefault(v, []).append(name)
    for v, names in provided.items():     # a virtual package: its providers
        if v not in pk:
            pk[v] = ("", names)
    return pk


def closure(listed, pk):
    """The listed packages and everything they depend on (Depends,
    Pre-Depends): apt installs those with them."""
    seen, todo = set(), list(listed)
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.add(p)
            todo += pk.get(p, ("", []))[1]
    return seen


def python_module_files(mods):
    """{module: file} of the modules Debian's python3 imports."""
    py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") \
        else sys.executable     # Debian's, where its modules are
    out = {}
    for m in mods:
        r = subprocess.run([py, "-c", "import %s; print(%s.__file__)"
                            % (m, m)], capture_output=True, text=True)
        if r.returncode == 0:
            out[m] = r.stdout.strip()
    return out


def collect(top):
    pats = ["tests/**/*.sh", "tests/**/*.py", "tests/**/*.mjs",
            "tests/**/CMakeLists.txt", "tests/run-all.sh", "bench/*.sh",
            "bench/*.py", "bench/CMakeLists.txt", ".ci/run", "deploy/*.sh",
            "CMakeLists.txt", "cmake/*.cmake"]
    files = sorted({f for p in pats
                    for f in glob.glob(os.path.join(top, p), recursive=True)
                    if "node_modules" not in f})
    found = Found()
    shell = []
    for f in files:
        rel = os.path.relpath(f, top)
        with open(f, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
        if f.endswith(".py"):
            scan_python(text, rel, found)
        elif f.endswith(".mjs"):
            scan_js(text, rel, found)
        elif f.endswith((".txt", ".cmake")):
            scan_cmake(text, rel, found)
        else:
            shell_functions(text, found)
            shell.append((rel, text))
    for rel, text in shell:
        scan_shell(text, (rel, 1), found)
    for fn in found.runners:
        for word, loc in found.loose.get(fn, {}).items():
            if shutil.which(word, path=os.environ.get("PATH", "") + ":" +
                            SYSTEM_PATH) or word in OPTIONAL:
                found.add(found.commands, word, loc)
    cmds = {c: loc for c, loc in found.commands.items()
            if c not in found.functions and c not in BUILTINS and
            not OWN.match(c)}
    mods = {m: loc for m, loc in found.modules.items()
            if not os.path.exists(os.path.join(top, os.path.dirname(
                loc.split(":")[0]), m + ".py"))    # the tests' own modules
            and m not in OWN_MODULES}
    return files, cmds, mods


def main():
    top = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                          os.path.join(os.path.dirname(__file__), "..", ".."))
    if not shutil.which("dpkg"):
        print("SKIP: no dpkg: this check knows Debian's packages only")
        return 77
    r = subprocess.run(["bash", os.path.join(top, "deploy/install-deps.sh"),
                        "--tests", "--list"], capture_output=True, text=True)
    if r.returncode != 0 or not r.stdout.split():
        print("FAIL: deploy/install-deps.sh --tests --list: " + r.stderr)
        return 1
    listed = set(r.stdout.split())
    files, cmds, mods = collect(top)
    if os.environ.get("TASQ_DEPS_DUMP"):
        for c, loc in sorted(cmds.items()):
            print("command %-20s %s" % (c, loc))

    pk = packages()
    covered = closure(listed, pk)
    paths = {c: candidates(c) for c in cmds if c not in OPTIONAL}
    modfiles = python_module_files(mods)
    own = owners([p for ps in paths.values() for p in ps] +
                 [q for f in modfiles.values()
                  for q in (f, os.path.dirname(f))])

    def verdict(what, loc, pkg):
        if pkg in listed:
            table.append((what, pkg, "listed"))
        elif pkg in covered:
            table.append((what, pkg, "a dependency of a listed package"))
        elif pk.get(pkg, ("",))[0] == "required":
            table.append((what, pkg, "required (in every Debian)"))
        else:
            errors.append("%s (at %s) comes from the package %s, which "
                          "deploy/install-deps.sh --tests does not install"
                          % (what, loc, pkg))

    errors, missing, table = [], [], []
    for c, loc in sorted(cmds.items()):
        if c in OPTIONAL:
            table.append((c, "-", "optional: " + OPTIONAL[c]))
        elif not paths[c]:
            missing.append("%s (at %s)" % (c, loc))
        else:
            pkg = next((own[p] for p in paths[c] if p in own), None)
            if pkg is None:
                errors.append("%s (at %s) is %s, which no Debian package "
                              "installs" % (c, loc, paths[c][0]))
            else:
                verdict(c, loc, pkg)
    for m, loc in sorted(mods.items()):
        f = modfiles.get(m)
        if not f:
            missing.append("the python3 module %s (at %s)" % (m, loc))
            continue
        pkg = own.get(f) or own.get(os.path.dirname(f))
        if pkg is None:
            errors.append("the python3 module %s (at %s) is %s, which no "
                          "Debian package installs" % (m, loc, f))
        else:
            verdict("python3 -c 'import %s'" % m, loc, pkg)

    for what, pkg, why in table:
        print("  %-24s %-24s %s" % (what, pkg, why))
    for e in errors:
        print("FAIL: " + e)
    if missing:
        print("not installed here, so their packages cannot be checked "
              "(deploy/install-deps.sh --tests installs what the tests "
              "need; a new program needs its package there):\n  " +
              "\n  ".join(missing))
    if errors:
        return 1
    if missing:
        if os.environ.get("TASQ_TESTS_REQUIRED") == "1":
            print("FAIL: programs missing (TASQ_TESTS_REQUIRED=1)")
            return 1
        print("SKIP: programs missing")
        return 77
    print("%d programs and modules that %d files of tests run: each one "
          "installed by deploy/install-deps.sh --tests or in every Debian"
          % (len(table), len(files)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
