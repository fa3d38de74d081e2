#!/usr/bin/env bash
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
#   prefix    libtasq installed by cmake --install into a prefix of the
#             test's (TASQ_TEST_BUILD_DIR), pip run with PKG_CONFIG_PATH
#             to it: the package records `pkg-config --variable=libdir
#             tasq` and loads the library from there
# Each installed package then squares numbers through a real server.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 180

# A copy of the package's source: nothing is written into the tree.
if ! { mkdir "$T/src" && cp -r "$PYTHONPATH/." "$T/src/" &&
    rm -rf "$T/src/tasq/__pycache__" "$T/src/tasq/_installed.py"; }; then
	fail "cannot copy python/"
fi

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

# pip_in VENV [VAR=VALUE...] -- PIP-ARGS...: pip install in VENV, offline,
# without this test's PYTHONPATH and TASQ_LIBRARY (only the VARs given).
pip_in() {
	local venv=$1 vars=()
	shift
	while [ "$1" != -- ]; do
		vars+=("$1")
		shift
	done
	shift
	timeout -k 5 $((120 * FACTOR)) "${OFFLINE[@]}" env -u PYTHONPATH \
	    -u TASQ_LIBRARY PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
	    "${vars[@]}" "$venv/bin/python" -m pip install "${NOINDEX[@]}" "$@"
}

start_server
start_workers -j 1

# smoke VENV [VAR=VALUE...]: the venv's tasq, from outside the source
# tree, without PYTHONPATH, squares 1..1000 through the server.
smoke() {
	local venv=$1
	shift
	(cd "$T" && timeout -k 5 $((60 * FACTOR)) "${PYENV[@]}" env -u PYTHONPATH \
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
pip_in "$T/plain" TASQ_LIBRARY="$TASQ_TEST_LIBRARY" -- "$T/src" \
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
pip_in "$T/system" -- --no-build-isolation "$T/src" \
    >"$T/pip-system.log" 2>&1 ||
    fail "pip install (system venv) failed: $(tail -n 15 "$T/pip-system.log")"
smoke "$T/system" TASQ_LIBRARY="$TASQ_TEST_LIBRARY" \
    >"$T/smoke-system.out" 2>&1 ||
    fail "system venv: $(tail -n 15 "$T/smoke-system.out")"
# Nothing recorded (no TASQ_LIBRARY, no pkg-config tasq at build): without
# TASQ_LIBRARY at run time the library is not found, and the error says
# what to do.
if (cd "$T" && timeout 60 env -u PYTHONPATH -u TASQ_LIBRARY \
    PKG_CONFIG_PATH= "$T/system/bin/python" -c \
    'import tasq; tasq.library_path()') >"$T/notfound.out" 2>&1; then
	log "note: a libtasq is installed on this machine: $(cat "$T/notfound.out")"
else
	grep -q "set TASQ_LIBRARY" "$T/notfound.out" ||
	    fail "system venv without a library: $(tail -n 5 "$T/notfound.out")"
fi
log "$(cat "$T/smoke-system.out")"

if [ -n "${TASQ_TEST_BUILD_DIR:-}" ] && command -v pkg-config >/dev/null
then
	log "libtasq installed in a prefix, found by pkg-config at install"
	cmake --install "$TASQ_TEST_BUILD_DIR" --prefix "$T/prefix" \
	    >"$T/cmake-install.log" 2>&1 ||
	    fail "cmake --install failed: $(tail -n 5 "$T/cmake-install.log")"
	pc=$(find "$T/prefix" -name tasq.pc -printf '%h\n' | head -n 1)
	[ -n "$pc" ] || fail "cmake --install installed no tasq.pc"
	"$PY" -m venv "$T/prefixed" || fail "python3 -m venv failed"
	pip_in "$T/prefixed" PKG_CONFIG_PATH="$pc" -- "$T/src" \
	    >"$T/pip-prefixed.log" 2>&1 ||
	    fail "pip install (prefix) failed: $(tail -n 15 "$T/pip-prefixed.log")"
	smoke "$T/prefixed" >"$T/smoke-prefixed.out" 2>&1 ||
	    fail "prefix: $(tail -n 15 "$T/smoke-prefixed.out")"
	grep -q "^ok .* $T/prefix/.*/libtasq.so.1 " "$T/smoke-prefixed.out" ||
	    fail "prefix: not the installed library: $(cat "$T/smoke-prefixed.out")"
	log "$(cat "$T/smoke-prefixed.out")"
else
	log "no TASQ_TEST_BUILD_DIR or pkg-config: the prefix case is skipped"
fi

# Uninstalling leaves nothing of the package behind.
timeout 60 "$T/plain/bin/python" -m pip uninstall -y tasq \
    >"$T/uninstall.log" 2>&1 || fail "pip uninstall failed"
[ -z "$(find "$T/plain/lib" -path '*site-packages/tasq*')" ] ||
    fail "pip uninstall left files: $(find "$T/plain/lib" -path '*site-packages/tasq*')"

test_end
