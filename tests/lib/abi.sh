#!/usr/bin/env bash
# lib.abi: libtasq as a program outside the tree sees it. cmake --install
# of this build into a temporary prefix; then, with PKG_CONFIG_PATH to it:
#   - the installed files: include/tasq/tasq.h, libtasq.so.1 (SONAME),
#     libtasq.so, libtasq.a, lib/pkgconfig/tasq.pc;
#   - nm -D --defined-only libtasq.so lists only tasq_* symbols, and
#     exactly the functions the installed headers declare (TASQ_API):
#     the internal modules' tasq_* names are not exported;
#   - the header alone compiles as C11 (-Wall -Wextra -Werror) and C++;
#   - examples/c/submit.c, built with cc $(pkg-config --cflags --libs
#     tasq) (and once statically from libtasq.a), streams 1,000,000
#     tasks through a real server and worker and gets every result in
#     input order (the sum of squares checks the values).
# TASQ_TEST_BUILD_DIR is the build to install, TASQ_TEST_SOURCE_DIR the
# tree, TASQ_TEST_VERSION the project's version, TASQ_TEST_CFLAGS what a sanitizer build adds (CMake sets them).
# shellcheck source-path=SCRIPTDIR source=../integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" || exit 2
test_begin 300
build=${TASQ_TEST_BUILD_DIR:?the build directory}
src=${TASQ_TEST_SOURCE_DIR:?the source directory}
read -r -a cflags <<<"${TASQ_TEST_CFLAGS:-}"
prefix=$T/prefix
cc=${CC:-cc}

cmake --install "$build" --prefix "$prefix" >"$T/install.log" 2>&1 ||
    { cat "$T/install.log"; fail "cmake --install failed"; }
libdir=$(find "$prefix" -name libtasq.so.1 -printf '%h\n' | head -n 1)
[ -n "$libdir" ] || fail "no libtasq.so.1 installed"
for f in "$prefix/include/tasq/tasq.h" "$libdir/libtasq.so" \
    "$libdir/libtasq.a" "$libdir/pkgconfig/tasq.pc"; do
	[ -e "$f" ] || fail "not installed: ${f#"$prefix"/}"
done
# (outputs taken whole: grep -q at the end of a pipe could fail it under
# pipefail, its writer killed by SIGPIPE)
grep -q 'SONAME.*\[libtasq\.so\.1\]' <<<"$(readelf -d "$libdir/libtasq.so.1")" ||
    fail "libtasq.so.1 has no SONAME libtasq.so.1"

# Only tasq_* is exported.
nm -D --defined-only "$libdir/libtasq.so" | awk '{ print $NF }' |
    sort >"$T/exported"
[ -s "$T/exported" ] || fail "nm -D shows nothing"
if grep -v '^tasq_' "$T/exported" >"$T/foreign"; then
	fail "exported symbols not named tasq_*: $(head -n 20 "$T/foreign" | tr '\n' ' ')"
fi
# ... and every function of the installed headers is exported.
sed -nE 's/^TASQ_API[^(]*[ *](tasq_[a-z_0-9]+)\(.*/\1/p' \
    "$prefix"/include/tasq/*.h | sort -u >"$T/declared"
[ -s "$T/declared" ] || fail "no TASQ_API declaration found"
missing=$(comm -23 "$T/declared" "$T/exported")
[ -z "$missing" ] || fail "declared but not exported: $missing"
# ... and nothing else: the internal modules' tasq_* names stay hidden.
extra=$(comm -13 "$T/declared" "$T/exported" | head -n 20 | tr '\n' ' ')
[ -z "$extra" ] || fail "exported but not in the public headers: $extra"
log "$(wc -l <"$T/exported") symbols exported, all tasq_*"

export PKG_CONFIG_PATH=$libdir/pkgconfig
pkg-config --exists tasq || fail "pkg-config does not find tasq"
[ "$(pkg-config --modversion tasq)" = "${TASQ_TEST_VERSION:?}" ] ||
    fail "tasq.pc's version is not the project's"
read -r -a pc_cflags <<<"$(pkg-config --cflags tasq)"
read -r -a pc_libs <<<"$(pkg-config --libs tasq)"

# The header on its own, strictly, in C and C++.
printf '#include <tasq/tasq.h>\nint main(void) { return tasq_version()[0] == 0; }\n' >"$T/hdr.c"
"$cc" -std=c11 -Wall -Wextra -Wstrict-prototypes -Werror "${cflags[@]}" \
    "${pc_cflags[@]}" "$T/hdr.c" -o "$T/hdr" "${pc_libs[@]}" ||
    fail "the header does not compile cleanly as C11"
if command -v c++ >/dev/null; then
	c++ -x c++ -fsyntax-only -Wall -Werror "${pc_cflags[@]}" "$T/hdr.c" ||
	    fail "the header does not compile as C++"
fi

# The example, dynamically and statically linked.
"$cc" -Wall -Wextra -Werror "${cflags[@]}" "$src/examples/c/submit.c" \
    -o "$T/submit" "${pc_cflags[@]}" "${pc_libs[@]}" ||
    fail "examples/c/submit.c does not build through pkg-config"
read -r -a static_libs <<<"$(pkg-config --static --libs tasq | sed 's/-ltasq//')"
"$cc" -Wall "${cflags[@]}" "${pc_cflags[@]}" "$src/examples/c/submit.c" \
    "$libdir/libtasq.a" "${static_libs[@]}" -o "$T/submit-static" ||
    fail "examples/c/submit.c does not link with libtasq.a"
grep -q 'libtasq\.so\.1 =>' <<<"$(ldd "$T/submit")" ||
    fail "the example does not use libtasq.so.1"
if grep -q libtasq <<<"$(ldd "$T/submit-static")"; then
	fail "the static example needs libtasq.so"
fi

start_server
start_workers -j 2
n=$((1000000 / SCALE))
# (n - 1) n (2n - 1) is about 2e18 for a million: within bash's 64 bits.
want=$(((n - 1) * n * (2 * n - 1) / 6))
export TASQ_SERVER=$URL TASQ_KEY_FILE=$KEY
out=$(LD_LIBRARY_PATH=$libdir timeout -k 5 $((120 * FACTOR)) "$T/submit" "$n" 2>"$T/submit.err") ||
    { cat "$T/submit.err"; fail "the example failed"; }
[ "$out" = "$n in order, sum of squares $want" ] ||
    fail "the example said '$out', want $n in order, sum $want"
log "dynamic: $out"
out=$(timeout -k 5 $((120 * FACTOR)) "$T/submit-static" 1000 2>"$T/submit.err") ||
    { cat "$T/submit.err"; fail "the static example failed"; }
[ "$out" = "1000 in order, sum of squares 332833500" ] ||
    fail "the static example said '$out'"
# An error comes back as a code and a message, not a crash.
if TASQ_KEY_FILE=$T/nokey LD_LIBRARY_PATH=$libdir "$T/submit" 10 \
    >/dev/null 2>"$T/err"; then
	fail "the example ran without a key"
fi
grep -q '^[A-Z_]*: cannot open key file' "$T/err" ||
    fail "no key: $(cat "$T/err")"
unset TASQ_SERVER TASQ_KEY_FILE
test_end
log "ok"
