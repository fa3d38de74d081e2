#!/usr/bin/env bash
# Installs everything tasq needs to build, run and test on Debian bookworm.
# Run as root (or through sudo). Safe to run again.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
	build-essential cmake pkg-config ca-certificates \
	libnng-dev libprotobuf-c-dev protobuf-c-compiler libssl-dev openssl \
	clang libclang-rt-14-dev clang-format python3 procps iproute2 \
	>/dev/null
echo "tasq: dependencies installed"
