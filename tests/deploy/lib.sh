# Shared by the container tests of tests/deploy (sourced, not run).
#
# They need root and podman and skip (exit 77) without them. Everything they
# start carries the label tasq-test=$RUN_ID and a name starting with $RUN_ID
# (unique per run), and is removed by deploy_cleanup, which each test
# calls from its EXIT trap. They never touch containers, networks or
# processes they did not start.
#
# Environment:
#   CONTAINERS_CONF         podman settings (default: deploy/containers.conf,
#                           which the project's CI machine needs)
#   TASQ_DEPLOY_VARIANT     image recipe: "full" (deploy/Containerfile,
#                           compiled in a build stage; default) or
#                           "prebuilt" (compiled on the host, then
#                           deploy/Containerfile.prebuilt)
#   TASQ_DEPLOY_IMAGE       image tag to build and use
#                           (default localhost/tasq:test; kept afterwards, with
#                           its build stage as TAG-build, so that the next run
#                           reuses their layers; older untagged images with the
#                           label tasq-test-image=1 are pruned)
#   TASQ_DEPLOY_KEEP=1      keep the scratch directory
#   TASQ_TESTS_REQUIRED=1   fail instead of skipping when root, podman or
#                           a tool is missing (set by .ci/run)
#   CONTAINERS_STORAGE_CONF podman's storage (default: podman's own, except
#                           where its graphroot is on overlayfs, as inside
#                           a container: then storage-fuse-overlayfs.conf
#                           or storage-vfs.conf beside this file, see
#                           deploy_storage)
#
# What every suite shares (tests/harness/lib.sh: check_squares, polling,
# process groups) comes first; this file keeps what is the container
# tests' own, its fail included (plain "FAIL: ..." lines).
# shellcheck shell=bash

# shellcheck source-path=SCRIPTDIR source=../harness/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../harness/lib.sh" || exit 2
deploy_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUN_ID=tqd$$
IMAGE=${TASQ_DEPLOY_IMAGE:-localhost/tasq:test}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$deploy_top/deploy/containers.conf}
WORK=
T0=$(date +%s%N)

# step TEXT: a heading with the seconds since the start.
step() {
	local ms=$((($(date +%s%N) - T0) / 1000000))
	printf '\n=== [%4d.%ds] %s\n' $((ms / 1000)) $(((ms % 1000) / 100)) "$*"
}

# elapsed_since NS: seconds since the date +%s%N value NS, one decimal.
elapsed_since() {
	local ms=$((($(date +%s%N) - $1) / 1000000))
	printf '%d.%d' $((ms / 1000)) $(((ms % 1000) / 100))
}

fail() {
	deploy_fail_msg=$*
	echo "FAIL: $*" >&2
	exit 1
}

# deploy_require CMD...: skip (77) unless root and every command is there.
deploy_skip=77
[ "${TASQ_TESTS_REQUIRED:-}" = 1 ] && deploy_skip=1

deploy_require() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "SKIP: needs root (podman as root, network namespaces)"
		exit $deploy_skip
	fi
	for c in podman "$@"; do
		if ! command -v "$c" >/dev/null 2>&1; then
			echo "SKIP: $c not found (deploy/install-deploy-deps.sh installs it)"
			exit $deploy_skip
		fi
	done
	deploy_storage
	WORK=$(mktemp -d "/tmp/$RUN_ID.XXXXXX")
	chmod 755 "$WORK"
}

# deploy_storage: where podman's graphroot is on overlayfs (these tests
# running inside a container whose root is overlayfs), the kernel refuses
# podman's overlay driver ("'overlay' is not supported over overlayfs").
# Then use fuse-overlayfs (the same in user space) where it and /dev/fuse
# work, else vfs (any file system; a full copy of every layer). Each has a
# graphroot of its own. A CONTAINERS_STORAGE_CONF already set is kept.
deploy_storage() {
	local conf graphroot driver d fs
	[ -n "${CONTAINERS_STORAGE_CONF:-}" ] && return 0
	for conf in /etc/containers/storage.conf \
		/usr/share/containers/storage.conf ""; do
		[ -r "$conf" ] && break
	done
	if [ -n "$conf" ]; then
		graphroot=$(sed -n 's/^[[:space:]]*graphroot[[:space:]]*=[[:space:]]*"\(.*\)".*/\1/p' "$conf" | head -1)
		driver=$(sed -n 's/^[[:space:]]*driver[[:space:]]*=[[:space:]]*"\(.*\)".*/\1/p' "$conf" | head -1)
	fi
	graphroot=${graphroot:-/var/lib/containers/storage}
	case ${driver:-overlay} in overlay) ;; *) return 0 ;; esac
	d=$graphroot
	while [ ! -d "$d" ]; do d=$(dirname "$d"); done
	fs=$(stat -f -c %T "$d")
	[ "$fs" = overlayfs ] || return 0
	local why="$graphroot is on overlayfs, where the kernel refuses podman's overlay driver" nofuse=
	if [ ! -x /usr/bin/fuse-overlayfs ]; then # storage-fuse-overlayfs.conf's
		nofuse="fuse-overlayfs is not installed"
	elif [ ! -c /dev/fuse ]; then
		nofuse="there is no /dev/fuse"
	elif ! (: <>/dev/fuse) 2>/dev/null; then
		nofuse="/dev/fuse cannot be opened"
	fi
	if [ -z "$nofuse" ]; then
		export CONTAINERS_STORAGE_CONF=$deploy_top/tests/deploy/storage-fuse-overlayfs.conf
		echo "storage: $why; using fuse-overlayfs ($CONTAINERS_STORAGE_CONF)"
	else
		export CONTAINERS_STORAGE_CONF=$deploy_top/tests/deploy/storage-vfs.conf
		echo "storage: $why, and $nofuse; using vfs" \
			"($CONTAINERS_STORAGE_CONF: slower, a full copy of every layer)"
	fi
}

# podman_q ARGS...: podman with the harmless noise of this machine removed
# (no systemd, so health-check timers cannot be set up: podman logs an
# error and carries on; "podman healthcheck run" still works).
podman_q() {
	podman "$@" 2> >(grep -v 'unable to get systemd connection' >&2)
}

# rm_labelled: remove every container and pod labelled by this run. Twice:
# a container whose conmon died needs a second rm -f (see
# shared/containers/RECIPE.md).
rm_labelled() {
	local _
	for _ in 1 2; do
		podman ps -aq --filter "label=tasq-test=$RUN_ID" |
			xargs -r podman rm -f -t 0 >/dev/null 2>&1 || true
	done
	podman pod ps -q --filter "label=tasq-test=$RUN_ID" |
		xargs -r podman pod rm -f >/dev/null 2>&1 || true
}

# deploy_cleanup: the generic part of every test's EXIT trap.
deploy_cleanup() {
	rm_labelled
	local v s
	for v in $(podman volume ls -q 2>/dev/null | grep "^$RUN_ID" || true); do
		podman volume rm -f "$v" >/dev/null 2>&1 || true
	done
	for s in $(podman secret ls --format '{{.Name}}' 2>/dev/null |
		grep "^$RUN_ID" || true); do
		podman secret rm "$s" >/dev/null 2>&1 || true
	done
	for n in $(podman network ls --format '{{.Name}}' 2>/dev/null |
		grep "^$RUN_ID" || true); do
		podman network rm -f "$n" >/dev/null 2>&1 || true
	done
	if [ -n "$WORK" ] && [ "${TASQ_DEPLOY_KEEP:-0}" != 1 ]; then
		rm -rf "$WORK"
	elif [ -n "$WORK" ]; then
		echo "kept $WORK"
	fi
}

# build_base_image: localhost/debian:bookworm, made once with debootstrap.
build_base_image() {
	local t
	t=$(date +%s%N)
	if podman image exists localhost/debian:bookworm; then
		echo "base image localhost/debian:bookworm exists"
		return 0
	fi
	command -v debootstrap >/dev/null ||
		fail "no base image and no debootstrap (deploy/install-deploy-deps.sh)"
	"$deploy_top/deploy/make-base-image.sh" ||
		fail "cannot make the base image"
	echo "base image built in $(elapsed_since "$t") s"
}

# build_tasq_image: $IMAGE from deploy/Containerfile (or the prebuilt
# variant), retried once: its apt-get steps need Debian's mirror.
build_tasq_image() {
	local variant=${TASQ_DEPLOY_VARIANT:-full} t try log=$WORK/image-build.log
	t=$(date +%s%N)
	if [ "$variant" = prebuilt ]; then
		local bd=$WORK/build
		cmake -S "$deploy_top" -B "$bd" -DCMAKE_BUILD_TYPE=Release \
			-DBUILD_TESTING=OFF >"$WORK/cmake.log" 2>&1 &&
			cmake --build "$bd" -j"$(nproc)" --target tasq-server \
				tasq-worker tasq >>"$WORK/cmake.log" 2>&1 ||
			{ tail -30 "$WORK/cmake.log"; fail "host build failed"; }
		echo "host build (Release, 3 programs) in $(elapsed_since "$t") s"
		t=$(date +%s%N)
	fi
	# Every image (both stages) gets the label tasq-test-image=1, so that
	# the ones an earlier run left behind can be found and pruned.
	local b=(podman build --format docker --label tasq-test-image=1)
	for try in 1 2; do
		if [ "$variant" = prebuilt ]; then
			"${b[@]}" -f "$deploy_top/deploy/Containerfile.prebuilt" \
				-t "$IMAGE" "$WORK/build" >"$log" 2>&1 && break
		else
			"${b[@]}" -f "$deploy_top/deploy/Containerfile" \
				-t "$IMAGE" "$deploy_top" >"$log" 2>&1 && break
		fi
		tail -20 "$log"
		[ "$try" = 2 ] && fail "podman build ($variant) failed twice"
		echo "podman build failed; once more"
	done
	echo "image $IMAGE ($variant variant) built in $(elapsed_since "$t") s" \
		"($(grep -c 'Using cache' "$log" || true) cached steps)"
	if [ "$variant" != prebuilt ]; then
		# name the build stage (all cached), which keeps it as the next
		# run's cache, then drop the untagged images of earlier runs
		"${b[@]}" --target build -f "$deploy_top/deploy/Containerfile" \
			-t "$IMAGE-build" "$deploy_top" >/dev/null 2>&1 || true
	fi
	podman image prune -f --filter label=tasq-test-image=1 >/dev/null 2>&1 || true
	podman image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' "$IMAGE"
	# the HEALTHCHECK must have survived (it needs --format docker)
	podman image inspect --format '{{.Config.Healthcheck.Test}}' "$IMAGE" |
		grep >/dev/null -c 'tasq health' || fail "the image has no HEALTHCHECK"
}

# make_secrets DIR NAME...: a shared key (no trailing newline) and, with
# deploy/gen-certs.sh, a CA and a server certificate for the names given.
make_secrets() {
	local dir=$1
	shift
	mkdir -p "$dir"
	head -c 32 /dev/urandom | base64 | tr -d '\n' >"$dir/key"
	chmod 600 "$dir/key"
	"$deploy_top/deploy/gen-certs.sh" -o "$dir" -d 2 "$@" >"$WORK/gen-certs.log" ||
		{ cat "$WORK/gen-certs.log"; fail "gen-certs.sh failed"; }
}

# check_summary LINE N: LINE is the --summary of 1..N, every task ok and
# the sum of the squares right.
check_summary() {
	local line=$1 n=$2 want
	want=$(python3 -c "n=$n; print(n*(n+1)*(2*n+1)//6 % 2**64)")
	case $line in
	"tasks=$n ok=$n failed=0 sum=$want "*) ;;
	*) fail "summary '$line', expected tasks=$n ok=$n failed=0 sum=$want" ;;
	esac
}

# check_squares FILE A B: FILE holds "i i*i" for i = A..B, in order
# (tests/harness/lib.sh).
