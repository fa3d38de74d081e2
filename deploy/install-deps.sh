#!/usr/bin/env bash
# Installs everything tasq needs to build, run and test on Debian bookworm.
# Run as root (or through sudo). Safe to run again.
#
#   install-deps.sh           build and run (compilers, nng, protobuf-c,
#                             OpenSSL, the sanitizer runtimes)
#   install-deps.sh --tests   also what the deployment and browser tests
#                             need: podman and friends
#                             (install-deploy-deps.sh), Chromium and
#                             playwright-core (install-dashboard-test-deps.sh)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tests=
case ${1:-} in
"") ;;
--tests) tests=1 ;;
*)
	echo "usage: $0 [--tests]" >&2
	exit 2
	;;
esac
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
if [ -n "$tests" ]; then
	bash "$here/install-deploy-deps.sh"
	bash "$here/install-dashboard-test-deps.sh"
fi
