#!/usr/bin/env bash
# Installs what the dashboard's browser test (ctest -R deploy.dashboard)
# needs on Debian bookworm, beyond deploy/install-deps.sh: Debian's
# chromium, node and npm (only those missing), then playwright-core as
# pinned by tests/dashboard/package-lock.json (npm ci; it downloads no
# browser). Run as root (or through sudo). Safe to run again.
#
# usage: install-dashboard-test-deps.sh [--list]   (--list: print the
#                                   Debian packages, one a line; install
#                                   nothing)
set -euo pipefail
if [ "${1:-}" = --list ]; then
	printf '%s\n' chromium nodejs npm
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
top=$(cd "$(dirname "$0")/.." && pwd)

pkgs=()
[ -x /usr/bin/chromium ] || pkgs+=(chromium)
command -v node >/dev/null || pkgs+=(nodejs)
command -v npm >/dev/null || pkgs+=(npm)
if [ ${#pkgs[@]} -gt 0 ]; then
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" \
		>/dev/null
fi

# playwright-core 1.5x wants node >= 18.
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 18 ]; then
	echo "tasq: node $(node --version) is too old for playwright-core" >&2
	exit 1
fi

cd "$top/tests/dashboard"
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund \
	--loglevel=error
echo "tasq: dashboard test dependencies installed" \
	"($(/usr/bin/chromium --version 2>/dev/null), node $(node --version))"
