#!/usr/bin/env bash
# libw_example: examples/c/worker.c, built against the installed library
# (cmake --install into a scratch prefix, pkg-config --cflags --libs tasq
# from there), serves a million tasks (--range 1:1000000, divided by
# TASQ_TEST_SCALE) with the tasq client submitting: every result right,
# in input order, exactly once; the server counted each task completed
# once; the example exits 0 on SIGTERM. Two example processes share the
# work (each on 2 threads).
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" || exit 2
test_begin 300
: "${TASQ_TEST_BUILD_DIR:?set by CMake}" "${TASQ_TEST_SOURCE_DIR:?}"

prefix=$T/prefix
cmake --install "$TASQ_TEST_BUILD_DIR" --prefix "$prefix" \
    >"$T/install.log" 2>&1 || fail "cmake --install: $(tail -n 5 "$T/install.log")"
pc=$(find "$prefix" -name tasq.pc | head -n 1)
[ -n "$pc" ] || fail "no tasq.pc installed under $prefix"
export PKG_CONFIG_PATH=${pc%/*}
libdir=$(pkg-config --variable=libdir tasq) || fail "pkg-config tasq failed"
[ "${libdir#"$prefix"}" != "$libdir" ] || fail "tasq.pc's libdir $libdir is not under $prefix"
# shellcheck disable=SC2046,SC2086 # flags are words
"${CC:-cc}" -std=c11 -Wall -Wextra -Werror ${TASQ_TEST_CFLAGS:-} -o "$T/worker" \
    "$TASQ_TEST_SOURCE_DIR/examples/c/worker.c" \
    $(pkg-config --cflags --libs tasq) -Wl,-rpath,"$libdir" \
    >"$T/cc.log" 2>&1 || fail "the example does not build: $(cat "$T/cc.log")"
[ ! -s "$T/cc.log" ] || fail "the example builds with warnings: $(cat "$T/cc.log")"
# (Not ldd | grep -q: grep's early exit fails the pipe under pipefail.)
deps=$(ldd "$T/worker") || fail "ldd $T/worker failed"
grep -q "$libdir/libtasq.so.1" <<<"$deps" ||
    fail "the example does not use the installed libtasq: $deps"

n=$((1000000 / SCALE))
start_server
for i in 1 2; do
	# The example reads the server and key as the tools do; $T names it
	# for the harness (the example ignores its arguments).
	spawn "example-$i.log" env TASQ_SERVER="$URL" TASQ_KEY_FILE="$KEY" \
	    "$T/worker" "$T"
	expect_exit "$SPAWNED_PID" 0
done

t0=$(now_ms)
client submit --range "1:$n" >"$T/out" 2>"$T/client.log" ||
    fail "submit exited $?: $(tail -n 5 "$T/client.log")"
log "$n tasks in $(($(now_ms) - t0)) ms"
check_squares "$T/out" 1 "$n"
[ "$(counter tasks_completed)" = "$n" ] ||
    fail "tasks_completed $(counter tasks_completed), want $n"
[ "$(counter results_rejected)" = 0 ] || fail "results were rejected"
[ "$(counter tasks_failed)" = 0 ] || fail "tasks failed"
test_end
