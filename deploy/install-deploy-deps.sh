#!/usr/bin/env bash
# Installs what the deployment recipes and their tests (ctest -L deploy)
# need on Debian bookworm, beyond deploy/install-deps.sh: podman with the
# runc runtime, catatonit (the pause process of pods), iptables, debootstrap
# (to make a base image when no registry is reachable), podman-compose, the
# dnsname CNI plugin (containers on a podman network find each other by
# name), iproute2 (network namespaces as LAN hosts) and fuse-overlayfs
# (podman's storage where /var/lib/containers is itself on overlayfs, as
# inside a container; tests/deploy/lib.sh picks it). Run as root (or
# through sudo). Safe to run again.
#
# usage: install-deploy-deps.sh [--list]   (--list: print the packages,
#                                           one a line; install nothing)
set -euo pipefail
pkgs=(
	podman runc catatonit iptables debootstrap
	podman-compose golang-github-containernetworking-plugin-dnsname
	iproute2 openssl ca-certificates python3-yaml
	fuse-overlayfs # storage where /var/lib/containers is on overlayfs
)
if [ "${1:-}" = --list ]; then
	printf '%s\n' "${pkgs[@]}"
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
echo "tasq: deployment dependencies installed"
echo "      use CONTAINERS_CONF=$(cd "$(dirname "$0")" && pwd)/containers.conf" \
	"where crun or podman's default rlimits fail (see deploy/README.md)"
