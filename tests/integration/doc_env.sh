# doc_env.sh SCRATCH BIN CLONE SCRIPT...: runs as the first process of new
# mount, network and PID namespaces (doc_commands.sh starts it with
# unshare) and runs each SCRIPT, a shell block of the docs, in order, with
# bash -e -o pipefail, in the small LAN the docs talk about:
#   - the loopback interface up, with 10.0.0.5 on it too (the server's
#     address in the docs) and tasq.lan naming it in /etc/hosts;
#   - /etc is a tmpfs with the machine's entries bound back in (the docs
#     write /etc/tasq), so the machine's own /etc is never touched;
#   - BIN (tasq, tasq-server, tasq-worker of this build) first in PATH,
#     HOME in SCRATCH, the working directory CLONE (the docs run from a
#     clone: deploy/gen-certs.sh).
# Nothing leaves the namespace: it has no interface but its loopback.
# When this script ends, the kernel kills every process the blocks left
# in the background (the PID namespace ends with its first process).
# Exit status: 0, 1 when a block failed (SCRIPT.err says why), 77 when
# the namespace cannot be set up here.
set -u
scratch=$1 bin=$2 clone=$3
shift 3
say() { printf 'doc_env: %s\n' "$*" >&2; }

if ! ip link set lo up || ! ip addr add 10.0.0.5/32 dev lo; then
	say "cannot set up the loopback interface"
	exit 77
fi
mkdir -p "$scratch/etc.orig" "$scratch/home" || exit 1
# A tmpfs on /etc with the machine's entries bound back in, one by one:
# the docs can then create /etc/tasq (in the tmpfs), and /etc/hosts is a
# copy that names tasq.lan. (An overlay would do as root, but not in a
# user namespace, where the machine's /etc belongs to nobody.)
etc_setup() {
	local e n
	mount --bind /etc "$scratch/etc.orig" || return 1
	mount -t tmpfs tmpfs /etc || return 1
	for e in "$scratch/etc.orig"/* "$scratch/etc.orig"/.[!.]*; do
		[ -e "$e" ] || [ -L "$e" ] || continue
		n=/etc/${e##*/}
		if [ "$n" = /etc/hosts ]; then
			cp "$e" "$n" || return 1
		elif [ -L "$e" ]; then
			cp -P "$e" "$n" || return 1
		elif [ -d "$e" ]; then
			mkdir "$n" && mount --bind "$e" "$n" || return 1
		else
			: >"$n" && mount --bind "$e" "$n" || return 1
		fi
	done
	printf '10.0.0.5 tasq.lan\n' >>/etc/hosts
}
if ! etc_setup; then
	say "cannot lay a scratch /etc over the machine's"
	exit 77
fi
export PATH=$bin:$PATH HOME=$scratch/home
cd "$clone" || exit 1
for s in "$@"; do
	say "running $(head -n 1 "$s" | cut -c3-)"
	timeout -k 5 "${DOC_BLOCK_TIMEOUT:-120}" bash -e -o pipefail "$s" \
	    </dev/null >"$s.out" 2>"$s.err"
	st=$?
	if [ "$st" != 0 ]; then
		say "FAILED (exit $st): $(head -n 1 "$s" | cut -c3-)"
		exit 1
	fi
done
exit 0
