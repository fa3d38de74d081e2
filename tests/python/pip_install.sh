# pip_install: `pip install ./python` with Debian's python3, offline (in a
# network namespace with no interface but loopback, where unshare can
# make one; else with --no-index), into temporary venvs:
#   plain     a venv of its own (pip's build isolation: the in-tree
#             backend needs no package), TASQ_LIBRARY given at build
#             time: the installed package finds libtasq by itself
#             (TASQ_LIBRARY, PYTHONPATH unset, another directory)
#   system    a venv with --system-site-packages and
#             --no-build-isolation: finds libtasq through TASQ_LIBRARY at
#             run time
# Each installed package then squares numbers through a real server.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 180

# A copy of the package's source: nothing is written into the tree.
mkdir "$T/src" && cp -r "$PYTHONPATH/." "$T/src/" &&
    rm -rf "$T/src/tasq/__pycache__" "$T/src/tasq/_installed.py" ||
    fail "cannot copy python/"

# offline CMD...: CMD without network (a new network namespace), or as
# is where namespaces cannot be made (pip then gets --no-index).
NOINDEX=()
OFFLINE=()
if unshare -rn true 2>/dev/null; then
	OFFLINE=(unshare -rn)
	log "pip runs in a network namespace of its own (no network)"
else
	NOINDEX=(--no-index)
	log "no network namespace here: pip runs with --no-index"
fi

pip_in() {
	local venv=$1
	shift
	timeout -k 5 $((120 * FACTOR)) "${OFFLINE[@]}" env -u PYTHONPATH \
	    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
	    "$venv/bin/python" -m pip install "${NOINDEX[@]}" "$@"
}

start_server
start_workers -j 1

# smoke VENV [VAR=VALUE...]: the venv's tasq, from outside the source
# tree, without PYTHONPATH, squares 1..1000 through the server.
smoke() {
	local venv=$1
	shift
	(cd "$T" && timeout -k 5 $((60 * FACTOR)) env -u PYTHONPATH \
	    -u TASQ_LIBRARY "$@" "$venv/bin/python" - "$URL" "$KEY" <<'PY'
import os, sys, tasq
assert os.path.dirname(tasq.__file__).startswith(sys.prefix), tasq.__file__
with tasq.Client(sys.argv[1], key_file=sys.argv[2]) as c:
    got = c.map("square", range(1, 1001))
assert got == [n * n for n in range(1, 1001)], got[:5]
print("ok", tasq.__version__, tasq.library_path(), tasq.library_version())
PY
	)
}

log "plain venv"
"$PY" -m venv "$T/plain" || fail "python3 -m venv failed"
TASQ_LIBRARY=$TASQ_TEST_LIBRARY pip_in "$T/plain" "$T/src" \
    >"$T/pip-plain.log" 2>&1 ||
    fail "pip install (plain venv) failed: $(tail -n 15 "$T/pip-plain.log")"
smoke "$T/plain" >"$T/smoke-plain.out" 2>&1 ||
    fail "plain venv: $(tail -n 15 "$T/smoke-plain.out")"
grep -q "^ok .* $TASQ_TEST_LIBRARY " "$T/smoke-plain.out" ||
    fail "plain venv: not the recorded library: $(cat "$T/smoke-plain.out")"
log "$(cat "$T/smoke-plain.out")"

log "venv with system site packages, no build isolation"
"$PY" -m venv --system-site-packages "$T/system" ||
    fail "python3 -m venv --system-site-packages failed"
pip_in "$T/system" --no-build-isolation "$T/src" \
    >"$T/pip-system.log" 2>&1 ||
    fail "pip install (system venv) failed: $(tail -n 15 "$T/pip-system.log")"
smoke "$T/system" TASQ_LIBRARY="$TASQ_TEST_LIBRARY" \
    >"$T/smoke-system.out" 2>&1 ||
    fail "system venv: $(tail -n 15 "$T/smoke-system.out")"
log "$(cat "$T/smoke-system.out")"

# Uninstalling leaves nothing of the package behind.
timeout 60 "$T/plain/bin/python" -m pip uninstall -y tasq \
    >"$T/uninstall.log" 2>&1 || fail "pip uninstall failed"
[ -z "$(find "$T/plain/lib" -path '*site-packages/tasq*')" ] ||
    fail "pip uninstall left files: $(find "$T/plain/lib" -path '*site-packages/tasq*')"

test_end
