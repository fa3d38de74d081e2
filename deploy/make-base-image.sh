#!/usr/bin/env bash
# Makes the image localhost/debian:bookworm from a Debian mirror with
# debootstrap, for machines that cannot reach a container registry (the
# Containerfiles build FROM it; elsewhere use docker.io/debian:bookworm).
# Does nothing if the image exists. Needs root, debootstrap and podman.
#
# usage: make-base-image.sh [WORKDIR]        (default: a fresh mktemp -d)
# env:   TASQ_BASE_IMAGE (default localhost/debian:bookworm),
#        TASQ_MIRROR (default: the mirror apt already uses),
#        TASQ_SECURITY_MIRROR (default: TASQ_MIRROR followed by -security)
set -euo pipefail
image=${TASQ_BASE_IMAGE:-localhost/debian:bookworm}
if podman image exists "$image"; then
	echo "make-base-image: $image exists"
	exit 0
fi
mirror=${TASQ_MIRROR:-}
if [ -z "$mirror" ]; then
	# deb822 sources first, then the one-line format
	mirror=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' \
		/etc/apt/sources.list.d/*.sources 2>/dev/null || true)
fi
if [ -z "$mirror" ] && [ -r /etc/apt/sources.list ]; then
	mirror=$(awk '$1 == "deb" && $2 !~ /security/ {print $2; exit}' \
		/etc/apt/sources.list)
fi
mirror=${mirror:-http://deb.debian.org/debian}
work=${1:-}
own_work=0
if [ -z "$work" ]; then
	work=$(mktemp -d /tmp/tasq-base.XXXXXX)
	own_work=1
fi
mkdir -p "$work"
rootfs=$work/rootfs
cleanup() {
	rm -rf "$rootfs"
	if [ "$own_work" = 1 ]; then rm -rf "$work"; fi
}
trap cleanup EXIT
rm -rf "$rootfs"
echo "make-base-image: debootstrap bookworm from $mirror (about 1-3 min)"
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
	{ tail -20 "$work/debootstrap.log" >&2; exit 1; }
# The sources of Debian's official image: updates and security too
# (debootstrap writes only the release itself).
rm -f "$rootfs/etc/apt/sources.list"
cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${TASQ_SECURITY_MIRROR:-${mirror%/}-security}
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | podman import --quiet --change 'CMD ["/bin/bash"]' - "$image" >/dev/null
echo "make-base-image: imported $image"
