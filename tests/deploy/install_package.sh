#!/usr/bin/env bash
# deploy.install_package: cmake --install puts the programs, man pages,
# systemd units (naming the installed programs), the example
# configurations, the configurations of /etc/tasq (PREFIX/etc/tasq, and
# /etc/tasq for the prefix /usr), gen-certs.sh and the shell completions in
# place; systemd-analyze accepts the units (when it is there); cpack makes
# a .deb whose dependencies dpkg-shlibdeps computed, with the same files
# under /usr and /etc, its /etc files as conffiles, the maintainer scripts
# of deploy/debian, and no error from lintian (when it is there; its
# warnings are printed). deploy.debian_package installs, upgrades and
# purges it. The library's components (runtime: libtasq.so.1; dev:
# headers, libtasq.so and .a, tasq.pc, man pages of section 3) go to
# packages of their own, libtasq1 and libtasq-dev: their files and
# dependencies are checked here too, and lintian finds no error in them.
# usage: install_package.sh BUILD-DIR
set -euo pipefail
build=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() {
	echo "FAIL: $*"
	exit 1
}
# man and systemd-analyze are optional; in CI (TASQ_TESTS_REQUIRED=1),
# where deploy/install-deps.sh has installed them, they must be there.
if [ "${TASQ_TESTS_REQUIRED:-}" = 1 ]; then
	for c in gzip man systemd-analyze lintian; do
		command -v "$c" >/dev/null ||
			fail "$c not found (deploy/install-deps.sh installs it)"
	done
fi
expected="bin/tasq
bin/tasq-server
bin/tasq-worker
etc/tasq/tasq-server.conf
etc/tasq/worker-main.conf
include/tasq/handler.h
lib/systemd/system/tasq-server.service
lib/systemd/system/tasq-worker@.service
share/bash-completion/completions/tasq
share/bash-completion/completions/tasq-server
share/bash-completion/completions/tasq-worker
share/doc/tasq/changelog.gz
share/doc/tasq/copyright
share/doc/tasq/examples/exec-sha256.c
share/doc/tasq/examples/exec_sha256.py
share/doc/tasq/examples/plugin-sha256.c
share/doc/tasq/examples/tasq-server.conf.example
share/doc/tasq/examples/tasq-worker.conf.example
share/man/man1/tasq-worker.1.gz
share/man/man1/tasq.1.gz
share/man/man5/tasq.conf.5.gz
share/man/man8/tasq-server.8.gz
share/tasq/gen-certs.sh
share/zsh/vendor-completions/_tasq
share/zsh/vendor-completions/_tasq-server
share/zsh/vendor-completions/_tasq-worker"

echo "== cmake --install --prefix $work/p (the programs' component)"
cmake --install "$build" --prefix "$work/p" --component Unspecified \
	>"$work/install.log"
got=$(cd "$work/p" && find . -type f | sed 's|^\./||' | sort)
if ! command -v gzip >/dev/null; then
	expected=${expected//.gz/}
fi
[ "$got" = "$expected" ] || {
	diff <(echo "$expected") <(echo "$got") || true
	fail "installed files differ (< expected, > installed)"
}
echo "$got" | sed 's/^/  /'
# The license, in Debian's machine-readable copyright format, says the
# same as LICENSE; the changelog parses.
cr=$work/p/share/doc/tasq/copyright
head -1 "$cr" | grep >/dev/null -cx \
	'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/' ||
	fail "copyright is not in Debian's machine-readable format"
grep -qx 'License: Expat' "$cr" || fail "copyright names no Expat (MIT) license"
top=$(cd "$(dirname "$0")/../.." && pwd)
grep -qx 'MIT License' "$top/LICENSE" || fail "LICENSE is not the MIT license"
lic() { tr -s ' \n' '  ' | sed 's/ *$//'; }
[ "$(sed -n '/^Permission is hereby granted/,$p' "$top/LICENSE" | lic)" = \
	"$(awk '/^License: Expat$/ { t = ""; next } { t = t $0 "\n" } END { printf "%s", t }' "$cr" |
		sed 's/^ //; s/^\.$//' | lic)" ] ||
	fail "copyright's license text differs from LICENSE"
want=$(sed -n 's/^project(tasq VERSION \([0-9.]*\).*/\1/p' "$top/CMakeLists.txt")
if command -v dpkg-parsechangelog >/dev/null && command -v gzip >/dev/null; then
	gzip -dc "$work/p/share/doc/tasq/changelog.gz" >"$work/changelog"
	v=$(dpkg-parsechangelog -l "$work/changelog" -S Version)
	[ "$v" = "$want" ] || fail "changelog's version $v is not the project's $want"
fi
grep -h '^ExecStart=' "$work/p/lib/systemd/system/"* | sed 's/^/  /'
grep -q "^ExecStart=$work/p/bin/tasq-server " \
	"$work/p/lib/systemd/system/tasq-server.service" ||
	fail "the server unit does not start the installed program"
for f in tasq-server.conf:tasq-server worker-main.conf:tasq-worker; do
	cmp "$work/p/etc/tasq/${f%%:*}" "$top/deploy/${f#*:}.conf.example" ||
		fail "etc/tasq/${f%%:*} is not deploy/${f#*:}.conf.example"
done
echo "== DESTDIR=$work/d cmake --install --prefix /usr: the configurations in /etc"
DESTDIR=$work/d cmake --install "$build" --prefix /usr --component Unspecified \
	>"$work/install-usr.log"
for f in tasq-server.conf worker-main.conf; do
	[ -f "$work/d/etc/tasq/$f" ] || fail "with the prefix /usr, $f is not in /etc/tasq"
done
[ ! -e "$work/d/usr/etc" ] || fail "with the prefix /usr, something went to /usr/etc"
if command -v man >/dev/null; then
	man -l "$work/p/share/man/man8/tasq-server.8.gz" 2>/dev/null | head -2 | sed 's/^/  /'
fi

if command -v systemd-analyze >/dev/null; then
	echo "== systemd-analyze verify and security"
	cp "$work/p/lib/systemd/system/tasq-worker@.service" \
		"$work/p/lib/systemd/system/tasq-worker@main.service"
	for u in tasq-server.service tasq-worker@main.service; do
		MANPATH=$work/p/share/man systemd-analyze verify \
			"$work/p/lib/systemd/system/$u" || fail "systemd-analyze verify $u"
		# exposure 0 (locked down) .. 10 (unprotected)
		MANPATH=$work/p/share/man systemd-analyze security --offline=yes \
			--threshold=25 "$work/p/lib/systemd/system/$u" |
			tail -1 | sed "s/^/  /" ||
			fail "$u is not sandboxed enough"
	done
fi

echo "== cmake --install of the library's components"
for c in runtime dev; do
	cmake --install "$build" --prefix "$work/l" --component "$c" \
		>>"$work/install-lib.log"
done
for f in include/tasq/tasq.h lib/libtasq.so.1 lib/libtasq.so lib/libtasq.a \
	lib/pkgconfig/tasq.pc share/doc/libtasq1/copyright \
	share/doc/libtasq-dev/copyright; do
	[ -e "$work/l/$f" ] || fail "the library's components lack $f"
done
ls "$work"/l/share/man/man3/tasq_job_open.3* >/dev/null ||
	fail "the library's components lack the man pages of section 3"

echo "== cpack -G DEB"
(cd "$work" && cpack --config "$build/CPackConfig.cmake" -G DEB -B "$work/pkg") \
	>"$work/cpack.log" 2>&1 || { cat "$work/cpack.log"; fail "cpack failed"; }
deb=$(ls "$work"/pkg/tasq_*.deb)
libdeb=$(ls "$work"/pkg/libtasq1_*.deb)
devdeb=$(ls "$work"/pkg/libtasq-dev_*.deb)
[ "$(ls "$work"/pkg/*.deb | wc -l)" = 3 ] ||
	fail "cpack made other packages than tasq, libtasq1, libtasq-dev: $(ls "$work"/pkg)"
echo "  $(basename "$deb")"
dpkg-deb -f "$deb" Package Version Architecture Depends | sed 's/^/  /'
# Computed by dpkg-shlibdeps: each with the minimum version its symbols
# need (a hand-written "libssl3" would be wrong on the next Debian).
depends=$(dpkg-deb -f "$deb" Depends)
for p in libc6 libnng1 libprotobuf-c1 libssl3; do
	echo "$depends" | grep -Eq "(^|, )$p \(>= [0-9][^)]*\)(,|$)" ||
		fail "Depends has no '$p (>= VERSION)': not computed by dpkg-shlibdeps?"
done
echo "$depends" | grep -Eq '(^|, )passwd(,|$)' || fail "Depends lacks passwd (useradd)"
[ "$(dpkg-deb -f "$deb" Version)" = "$want" ] ||
	fail "the package's version is not the project's $want"
files=$(dpkg-deb -c "$deb" | awk '{print $NF}' | grep -v '/$' |
	sed 's|^\./usr/||; s|^\./etc/|etc/|' | sort)
[ "$files" = "$expected" ] || {
	diff <(echo "$expected") <(echo "$files") || true
	fail "the package's files differ (< expected, > in the .deb)"
}
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/lib/systemd/system/tasq-server.service |
	grep >/dev/null -c '^ExecStart=/usr/bin/tasq-server ' || fail "the packaged unit does not start /usr/bin/tasq-server"
echo "== libtasq1 and libtasq-dev"
for d in "$libdeb" "$devdeb"; do
	dpkg-deb -f "$d" Package Version Section Depends | sed 's/^/  /'
	[ "$(dpkg-deb -f "$d" Version)" = "$want" ] ||
		fail "$(basename "$d"): the version is not the project's $want"
done
dpkg-deb -f "$libdeb" Depends | grep -Eq '(^|, )libnng1 \(>= ' ||
	fail "libtasq1's Depends is not computed by dpkg-shlibdeps"
[ "$(dpkg-deb -f "$devdeb" Depends)" = "libtasq1 (= $want)" ] ||
	fail "libtasq-dev does not depend on libtasq1 (= $want)"
# (the listings whole: grep -q would end a pipe under pipefail)
libfiles=$(dpkg-deb -c "$libdeb")
devfiles=$(dpkg-deb -c "$devdeb" | awk '{print $6}')
grep -q '/usr/lib/libtasq\.so\.1' <<<"$libfiles" ||
	fail "libtasq1 has no libtasq.so.1"
if grep -Eq '\.so -> |\.a$|\.h$' <<<"$libfiles"; then
	fail "libtasq1 holds development files"
fi
for f in ./usr/include/tasq/tasq.h ./usr/lib/libtasq.a ./usr/lib/libtasq.so \
	./usr/lib/pkgconfig/tasq.pc; do
	grep -qx "$f" <<<"$devfiles" || fail "libtasq-dev has no $f"
done
dpkg-deb -e "$libdeb" "$work/libcontrol"
[ -s "$work/libcontrol/shlibs" ] && [ -s "$work/libcontrol/triggers" ] ||
	fail "libtasq1 has no shlibs or no ldconfig trigger"
if command -v lintian >/dev/null; then
	for d in "$libdeb" "$devdeb"; do
		rc=0
		lintian --tag-display-limit 0 "$d" >"$work/lintian-lib.log" 2>&1 || rc=$?
		sed -n '/^[EW]: /s/^/  /p' "$work/lintian-lib.log"
		! grep -q '^E: ' "$work/lintian-lib.log" ||
			fail "lintian reports errors for $(basename "$d")"
		[ "$rc" = 0 ] || { cat "$work/lintian-lib.log"; fail "lintian failed ($rc)"; }
	done
fi
echo "== control: conffiles and maintainer scripts"
dpkg-deb -e "$deb" "$work/control"
[ "$(cat "$work/control/conffiles")" = "/etc/tasq/tasq-server.conf
/etc/tasq/worker-main.conf" ] || fail "conffiles: $(cat "$work/control/conffiles")"
for s in postinst prerm postrm; do
	[ -x "$work/control/$s" ] || fail "no executable $s in the package"
	cmp "$work/control/$s" "$top/deploy/debian/$s" || fail "$s is not deploy/debian/$s"
	sh -n "$work/control/$s" || fail "$s: syntax error"
done
(cd "$work/control" && stat -c '  %A %n' -- *)
if command -v lintian >/dev/null; then
	echo "== lintian"
	# (exit status: 0, or 1 on an error, E:, or a failure of its own)
	rc=0
	lintian --tag-display-limit 0 "$deb" >"$work/lintian.log" 2>&1 || rc=$?
	sed -n '/^[EW]: /s/^/  /p' "$work/lintian.log"
	! grep -q '^E: ' "$work/lintian.log" || fail "lintian reports errors"
	[ "$rc" = 0 ] || { cat "$work/lintian.log"; fail "lintian failed ($rc)"; }
	echo "  no errors ($(grep -c '^W: ' "$work/lintian.log" || true) warnings)"
fi
echo "deploy.install_package passed"
