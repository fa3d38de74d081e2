#!/usr/bin/env bash
# Installs everything tasq needs to build, run and test on Debian bookworm,
# from nothing: a debootstrap --variant=minbase system is enough. Run as
# root (or through sudo). Safe to run again.
#
#   install-deps.sh           build and run (compilers, nng, protobuf-c,
#                             OpenSSL, the sanitizer runtimes) and every
#                             program the ordinary test suite runs
#   install-deps.sh --tests   also what the container, browser and slow
#                             tests need: podman and friends
#                             (install-deploy-deps.sh), Chromium and
#                             playwright-core (install-dashboard-test-deps.sh),
#                             valgrind, testssl.sh and lintian
#   install-deps.sh [--tests] --list
#                             prints the Debian packages, one a line, and
#                             installs nothing
#
# deploy.install_deps (tests/deploy/install_deps.py) checks that every
# program a test runs comes from a package listed here or from one that
# every Debian has (Priority: required): add the package here when a test
# starts using a new program.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tests=
list=
for a in "$@"; do
	case $a in
	--tests) tests=1 ;;
	--list) list=1 ;;
	*)
		echo "usage: $0 [--tests] [--list]" >&2
		exit 2
		;;
	esac
done

# To build tasq and run it.
build=(
	build-essential cmake pkg-config ca-certificates
	libnng-dev libprotobuf-c-dev protobuf-c-compiler libssl-dev openssl
	clang libclang-rt-14-dev
	dpkg-dev  # dpkg-shlibdeps: cpack computes the .deb's dependencies
)
# The programs the ordinary test suite (tests/run-all.sh) runs, beyond
# those of every Debian system.
suite=(
	clang-format          # style.format
	git                   # style.format lists the tracked files
	python3 python3-yaml  # peer.py, the compat tests, kube_for_podman.py
	python3-venv          # python.pip_install: pip install ./python in a venv
	procps                # pgrep, pkill
	iproute2              # ip: network namespaces (fault.partition)
	curl                  # /metrics and /healthz of --metrics-listen
	man-db groff-base     # man, groff: the man pages render
	systemd               # systemd-analyze verify of the units
	gdb                   # stacks of a hung server (shutdown_load)
	zsh                   # the zsh completions complete (completions)
)
# With --tests, for the slow tests (ctest -L 'slow|valgrind'), beyond
# install-deploy-deps.sh and install-dashboard-test-deps.sh.
slow=(
	valgrind    # security.valgrind
	testssl.sh  # security.testssl
	lintian     # deploy.install_package checks the .deb (skipped without)
)

if [ -n "$list" ]; then
	printf '%s\n' "${build[@]}" "${suite[@]}"
	if [ -n "$tests" ]; then
		printf '%s\n' "${slow[@]}"
		bash "$here/install-deploy-deps.sh" --list
		bash "$here/install-dashboard-test-deps.sh" --list
	fi
	exit 0
fi

export DEBIAN_FRONTEND=noninteractive
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
	"${build[@]}" "${suite[@]}" >/dev/null
echo "tasq: dependencies installed"
if [ -n "$tests" ]; then
	$SUDO apt-get install -y -qq --no-install-recommends "${slow[@]}" \
		>/dev/null
	bash "$here/install-deploy-deps.sh"
	bash "$here/install-dashboard-test-deps.sh"
fi
