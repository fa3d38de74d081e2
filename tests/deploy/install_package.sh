#!/usr/bin/env bash
# deploy.install_package: cmake --install puts the programs, man pages,
# systemd units (naming the installed programs), the example configuration,
# gen-certs.sh and the shell completions in place; systemd-analyze accepts
# the units (when it is there); cpack makes a .deb that depends on
# libnng1, libprotobuf-c1 and libssl3 and holds the same files under /usr.
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
	for c in gzip man systemd-analyze; do
		command -v "$c" >/dev/null ||
			fail "$c not found (deploy/install-deps.sh installs it)"
	done
fi
expected="bin/tasq
bin/tasq-server
bin/tasq-worker
lib/systemd/system/tasq-server.service
lib/systemd/system/tasq-worker@.service
share/bash-completion/completions/tasq
share/bash-completion/completions/tasq-server
share/bash-completion/completions/tasq-worker
share/doc/tasq/changelog.Debian.gz
share/doc/tasq/copyright
share/doc/tasq/examples/tasq-server.conf.example
share/man/man1/tasq-worker.1.gz
share/man/man1/tasq.1.gz
share/man/man5/tasq.conf.5.gz
share/man/man8/tasq-server.8.gz
share/tasq/gen-certs.sh
share/zsh/vendor-completions/_tasq
share/zsh/vendor-completions/_tasq-server
share/zsh/vendor-completions/_tasq-worker"

echo "== cmake --install --prefix $work/p"
cmake --install "$build" --prefix "$work/p" >"$work/install.log"
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
head -1 "$cr" | grep -qx \
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
if command -v dpkg-parsechangelog >/dev/null && command -v gzip >/dev/null; then
	gzip -dc "$work/p/share/doc/tasq/changelog.Debian.gz" >"$work/changelog"
	v=$(dpkg-parsechangelog -l "$work/changelog" -S Version)
	want=$(sed -n 's/^project(tasq VERSION \([0-9.]*\).*/\1/p' "$top/CMakeLists.txt")
	[ "$v" = "$want" ] || fail "changelog's version $v is not the project's $want"
fi
grep -h '^ExecStart=' "$work/p/lib/systemd/system/"* | sed 's/^/  /'
grep -q "^ExecStart=$work/p/bin/tasq-server " \
	"$work/p/lib/systemd/system/tasq-server.service" ||
	fail "the server unit does not start the installed program"
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

echo "== cpack -G DEB"
(cd "$work" && cpack --config "$build/CPackConfig.cmake" -G DEB -B "$work/pkg") \
	>"$work/cpack.log" 2>&1 || { cat "$work/cpack.log"; fail "cpack failed"; }
deb=$(ls "$work"/pkg/*.deb)
echo "  $(basename "$deb")"
dpkg-deb -f "$deb" Package Version Architecture Depends | sed 's/^/  /'
dpkg-deb -f "$deb" Depends | grep -q 'libnng1, libprotobuf-c1, libssl3' ||
	fail "Depends is wrong"
files=$(dpkg-deb -c "$deb" | awk '{print $NF}' | grep -v '/$' | sed 's|^\./usr/||' | sort)
[ "$files" = "$expected" ] || {
	diff <(echo "$expected") <(echo "$files") || true
	fail "the package's files differ (< expected, > in the .deb)"
}
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/lib/systemd/system/tasq-server.service |
	grep -q '^ExecStart=/usr/bin/tasq-server ' || fail "the packaged unit does not start /usr/bin/tasq-server"
echo "deploy.install_package passed"
