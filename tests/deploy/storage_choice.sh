#!/usr/bin/env bash
# deploy.storage_choice: deploy_storage (tests/deploy/lib.sh) keeps
# podman's own storage on an ordinary file system, and where podman's
# graphroot is on overlayfs (the container tests running inside a
# container) picks fuse-overlayfs, or vfs when fuse-overlayfs or /dev/fuse
# cannot be used, saying why; a CONTAINERS_STORAGE_CONF already set is
# kept. Each case runs in a private mount namespace (unshare -m) in which
# an overlayfs is mounted over the graphroot's parent, and a file without
# the execute bit or a regular file over fuse-overlayfs or /dev/fuse: the
# machine's own mounts and podman's storage are never touched, and podman
# is not run. Needs root, unshare and a kernel with overlayfs; skips (77)
# otherwise (1 with TASQ_TESTS_REQUIRED=1).
# The setups are single-quoted on purpose: the namespace's shell expands them.
# shellcheck disable=SC2016
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
skip() {
	echo "SKIP: $*"
	[ "${TASQ_TESTS_REQUIRED:-}" = 1 ] && exit 1
	exit 77
}
[ "$(id -u)" -eq 0 ] || skip "needs root (mount namespaces)"
command -v unshare >/dev/null || skip "no unshare"
grep -qw overlay /proc/filesystems || skip "the kernel has no overlayfs"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0

# choose SETUP: prints CONTAINERS_STORAGE_CONF as deploy_storage leaves
# it, after the shell commands SETUP ran in a fresh mount namespace.
choose() {
	unshare -m --propagation private bash -c '
		set -eu
		work=$1 here=$2 setup=$3
		# what deploy_storage reads: the graphroot of podman storage.conf
		graphroot=/var/lib/containers/storage
		for conf in /etc/containers/storage.conf \
			/usr/share/containers/storage.conf; do
			[ -r "$conf" ] || continue
			g=$(sed -n "s/^[[:space:]]*graphroot[[:space:]]*=[[:space:]]*\"\(.*\)\".*/\1/p" "$conf" | head -1)
			graphroot=${g:-$graphroot}
			break
		done
		parent=$(dirname "$graphroot")
		eval "$setup"
		deploy_top=$(cd "$here/../.." && pwd)
		# deploy_storage alone, from lib.sh (sourcing all of it would
		# start a run)
		eval "$(sed -n "/^deploy_storage() {/,/^}/p" "$here/lib.sh")"
		deploy_storage >&2
		echo "${CONTAINERS_STORAGE_CONF:-}"
	' choose "$work" "$here" "$1"
}

# overlay over the graphroot's parent, as in a container
# (its layers on a tmpfs: $work may be on overlayfs itself, which cannot be
# an upper layer)
overlay='mkdir -p "$work/t" "$parent"
	mount -t tmpfs tmpfs "$work/t"
	mkdir "$work/t/l" "$work/t/u" "$work/t/w"
	mount -t overlay overlay -o "lowerdir=$work/t/l,upperdir=$work/t/u,workdir=$work/t/w" "$parent"'
: >"$work/plain"
no_fuse_overlayfs='[ ! -e /usr/bin/fuse-overlayfs ] ||
	mount --bind "$work/plain" /usr/bin/fuse-overlayfs'
no_dev_fuse='mount --bind "$work/plain" /dev/fuse 2>/dev/null || true'
have_fuse=0
if [ -x /usr/bin/fuse-overlayfs ] && [ -c /dev/fuse ]; then
	have_fuse=1
fi

expect() { # expect NAME WANT SETUP
	local got
	got=$(choose "$3" 2>"$work/msg") || {
		echo "FAIL: $1: deploy_storage failed: $(cat "$work/msg")"
		fails=$((fails + 1))
		return
	}
	if [ "$got" = "$2" ]; then
		[ -n "$got" ] || got="podman's own storage"
		echo "ok: $1 -> $got $(cat "$work/msg")"
	else
		echo "FAIL: $1: CONTAINERS_STORAGE_CONF '$got', want '$2'" \
			"($(cat "$work/msg"))"
		fails=$((fails + 1))
	fi
}

case $(stat -f -c %T /var/lib 2>/dev/null || echo none) in
overlayfs) echo "note: /var/lib is on overlayfs here: the case of an ordinary file system is not checked" ;;
*) expect "graphroot on $(stat -f -c %T /var/lib)" "" : ;;
esac
if [ "$have_fuse" = 1 ]; then
	expect "graphroot on overlayfs" \
		"$here/storage-fuse-overlayfs.conf" "$overlay"
else
	echo "note: fuse-overlayfs or /dev/fuse missing here: the fuse-overlayfs case is not checked"
fi
expect "graphroot on overlayfs, fuse-overlayfs not installed" \
	"$here/storage-vfs.conf" "$overlay; $no_fuse_overlayfs"
expect "graphroot on overlayfs, no /dev/fuse" \
	"$here/storage-vfs.conf" "$overlay; $no_dev_fuse"
expect "CONTAINERS_STORAGE_CONF set" /etc/mine.conf \
	"$overlay; export CONTAINERS_STORAGE_CONF=/etc/mine.conf"
[ "$fails" = 0 ] || exit 1
echo "deploy.storage_choice passed"
