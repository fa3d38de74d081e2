#!/usr/bin/env bash
# deploy.debian_package: the .deb's life in a minimal Debian container
# (localhost/debian:bookworm, debootstrap --variant=minbase: no systemd).
#
# Packages: cpack of BUILD-DIR (version V1 = the project's), and a rebuild
# from this tree configured with -DTASQ_PACKAGE_VERSION_SUFFIX=+test1 (V2,
# which dpkg orders after V1). Then, in one container:
#   install V1 with apt-get (its dependencies come from Debian's mirror):
#     the system user and group tasq, /etc/tasq 0750 root:tasq (a
#     dpkg-statoverride), /var/lib/tasq 0700 tasq, the conffiles; the
#     installed configurations pass --check-config as the units' users
#     would run (the server as tasq, a worker as another user with the
#     group tasq; without the group /etc/tasq is closed), and a server and
#     a worker started from them compute a batch;
#   a stand-in systemctl (it logs its arguments) and /run/systemd/system,
#     so that the scripts' systemd branches run, with tasq-server.service
#     and tasq-worker@main.service "active";
#   the administrator edits /etc/tasq/tasq-server.conf, enables a unit;
#   upgrade to V2: the edited conffile is kept as it is (no .dpkg-* files),
#     user, modes and the journal unchanged, daemon-reload but no stop or
#     restart (the note names the running units), and the running server
#     (the same process) still answers;
#   remove: the units stopped, the programs gone, /etc/tasq, the journal
#     and the user kept;
#   purge: /etc/tasq (key included), its statoverride, /var/lib/tasq and
#     the enabled unit's link gone; the user and group kept (see
#     deploy/debian/postrm);
#   install again: the existing user is reused.
# Then in a second container, with systemd as process 1 (the units' key
# comes from a drop-in there: see below): V1's units started, the server
# as tasq, a worker as a dynamic user with the group tasq, a batch
# computed; the upgrade to V2 leaves both processes alone and names them;
# remove stops them; purge takes an enabled unit's link.
# lintian (when there) reports no error or warning for V2 either
# (deploy.install_package checks V1).
#
# Needs root and podman (skips, 77, without them: see lib.sh), apt access to
# Debian's mirror from a container (podman's default network), and a few
# minutes (the rebuild).
# usage: debian_package.sh BUILD-DIR
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
build=$(cd "$1" && pwd)

deploy_require cmake cpack dpkg-deb
CTR=$RUN_ID-pkg

cleanup() {
	local rc=$?
	set +e
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -n "$WORK" ]; then
		if [ -s "$WORK/apt.log" ]; then
			echo "--- last lines of $WORK/apt.log"
			tail -15 "$WORK/apt.log"
		fi
		for f in /run/tasq/server.log /run/worker.log /run/systemctl.log; do
			podman exec "$CTR" test -s "$f" 2>/dev/null || continue
			echo "--- last lines of $f (in the container)"
			podman exec "$CTR" tail -15 "$f"
		done
	fi
	deploy_cleanup
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ctr CMD...: run CMD in the container, as root.
ctr() {
	podman exec -e DEBIAN_FRONTEND=noninteractive "$CTR" "$@"
}
# apt VERB ARGS...: apt-get in the container, output to $WORK/apt.log.
apt() {
	echo "+ apt-get $*" >>"$WORK/apt.log"
	ctr apt-get -y -q "$@" >>"$WORK/apt.log" 2>&1 ||
		{ tail -20 "$WORK/apt.log"; fail "apt-get $* failed"; }
}
# expect WHAT GOT WANT
expect() {
	[ "$2" = "$3" ] || fail "$1: '$2', expected '$3'"
	echo "  $1: $2"
}

step "base image"
build_base_image

step "package V1: cpack of $build"
# logs: LOG CMD...: CMD's output to LOG, shown when it fails.
logs() {
	local log=$1
	shift
	"$@" >>"$log" 2>&1 || { tail -20 "$log"; fail "$* failed"; }
}
logs "$WORK/cpack1.log" cpack --config "$build/CPackConfig.cmake" -G DEB -B "$WORK/pkg1"
deb1=$(ls "$WORK"/pkg1/tasq_*.deb) # (libtasq1, libtasq-dev: install_package.sh)
v1=$(dpkg-deb -f "$deb1" Version)
echo "  $(basename "$deb1")"

step "package V2: a rebuild with -DTASQ_PACKAGE_VERSION_SUFFIX=+test1"
t=$(date +%s%N)
logs "$WORK/build2.log" cmake -S "$deploy_top" -B "$WORK/build2" \
	-DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DTASQ_PACKAGE_VERSION_SUFFIX=+test1
logs "$WORK/build2.log" cmake --build "$WORK/build2" -j"$(nproc)"
logs "$WORK/cpack2.log" cpack --config "$WORK/build2/CPackConfig.cmake" -G DEB -B "$WORK/pkg2"
deb2=$(ls "$WORK"/pkg2/tasq_*.deb)
v2=$(dpkg-deb -f "$deb2" Version)
echo "  $(basename "$deb2") in $(elapsed_since "$t") s"
expect "V2" "$v2" "$v1+test1"
dpkg --compare-versions "$v2" gt "$v1" || fail "$v2 is not later than $v1"
if command -v lintian >/dev/null; then
	lintian --tag-display-limit 0 "$deb2" >"$WORK/lintian2.log" 2>&1 || true
	! grep '^[EW]: ' "$WORK/lintian2.log" || fail "lintian reports errors or warnings for V2"
	echo "  lintian: no errors or warnings for V2"
fi
mkdir "$WORK/debs"
cp "$deb1" "$deb2" "$WORK/debs/"
d1=/debs/$(basename "$deb1")
d2=/debs/$(basename "$deb2")

step "container $CTR (localhost/debian:bookworm), apt-get update"
podman_q run -d --init --name "$CTR" --label "tasq-test=$RUN_ID" \
	-v "$WORK/debs:/debs:ro" localhost/debian:bookworm sleep infinity >/dev/null
ctr sh -c 'apt-get update -q >/dev/null 2>&1 || apt-get update -q' >>"$WORK/apt.log" 2>&1 ||
	fail "apt-get update failed twice (Debian's mirror unreachable from a container?)"
ctr sh -c '! command -v systemctl' >/dev/null ||
	fail "the base image has systemctl: not minimal"

step "install V1 ($v1): apt-get install $d1"
apt install "$d1"
expect "status" "$(ctr dpkg-query -W -f '${Status} ${Version}' tasq)" "install ok installed $v1"
grep -E '^Setting up (libnng1|libprotobuf-c1|libssl3)' "$WORK/apt.log" | sed 's/^/  /'
ctr tasq-server --version | sed 's/^/  /'
pw=$(ctr getent passwd tasq) || fail "no user tasq"
IFS=: read -r _ _ uid gid _ home shell <<<"$pw"
[ "$uid" -lt 1000 ] || fail "tasq is not a system user (uid $uid)"
expect "user tasq: home, shell" "$home $shell" "/var/lib/tasq /usr/sbin/nologin"
expect "group tasq" "$(ctr getent group tasq | cut -d: -f3)" "$gid"
expect "/etc/tasq" "$(ctr stat -c '%a %U %G' /etc/tasq)" "750 root tasq"
expect "its statoverride" "$(ctr dpkg-statoverride --list /etc/tasq)" "root tasq 750 /etc/tasq"
expect "/var/lib/tasq" "$(ctr stat -c '%a %U %G' /var/lib/tasq)" "700 tasq tasq"
expect "conffiles" "$(ctr dpkg-query -W -f '${Conffiles}' tasq | awk 'NF { printf "%s ", $1 }')" \
	"/etc/tasq/tasq-server.conf /etc/tasq/worker-main.conf "

step "the installed configurations, as the units' users"
# The key as the administrator makes it, and as systemd's LoadCredential=
# hands it to a service (a copy readable by the service's user only).
ctr sh -c 'umask 077 && head -c 32 /dev/urandom | base64 | tr -d "\n" >/etc/tasq/key &&
	install -d -o tasq -g tasq -m 0700 /run/tasq /run/cred-server &&
	install -o tasq -m 0400 /etc/tasq/key /run/cred-server/key &&
	install -d -o nobody -m 0700 /run/cred-worker &&
	install -o nobody -m 0400 /etc/tasq/key /run/cred-worker/key'
as_server=(setpriv --reuid tasq --regid tasq --init-groups)
as_worker=(setpriv --reuid nobody --regid nogroup --groups tasq) # a DynamicUser
ctr "${as_server[@]}" tasq-server --config /etc/tasq/tasq-server.conf \
	--key-file /run/cred-server/key --check-config
ctr "${as_worker[@]}" tasq-worker --config /etc/tasq/worker-main.conf \
	--key-file /run/cred-worker/key --check-config
if ctr setpriv --reuid nobody --regid nogroup --clear-groups \
	cat /etc/tasq/worker-main.conf >/dev/null 2>&1; then
	fail "a user without the group tasq can read /etc/tasq"
fi
echo "  without the group tasq: /etc/tasq is closed"

step "a server (as tasq, journal in /var/lib/tasq) and a worker from them"
# On loopback, with a port the kernel picks; the rest from the files.
ctr sh -c 'exec "$@" >/run/tasq/server.log 2>&1 </dev/null & echo $! >/run/server.pid' sh \
	"${as_server[@]}" tasq-server --config /etc/tasq/tasq-server.conf \
	--key-file /run/cred-server/key --listen tcp://127.0.0.1:0 --ready-file /run/tasq/url
ctr sh -c 'for i in $(seq 200); do [ -s /run/tasq/url ] && exit 0;
	kill -0 "$(cat /run/server.pid)" || break; sleep 0.05; done
	cat /run/tasq/server.log; exit 1' || fail "the server did not start"
url=$(ctr cat /run/tasq/url)
spid=$(ctr cat /run/server.pid)
ctr sh -c 'exec "$@" >/run/worker.log 2>&1 </dev/null & echo $! >/run/worker.pid' sh \
	"${as_worker[@]}" tasq-worker --config /etc/tasq/worker-main.conf \
	--key-file /run/cred-worker/key --server "$url"
got=$(ctr env TASQ_SERVER="$url" TASQ_KEY_FILE=/etc/tasq/key tasq submit --timeout 60s 3 4 5) ||
	fail "tasq submit failed"
expect "tasq submit 3 4 5" "$(echo "$got" | tr '\n' ' ')" "3 9 4 16 5 25 "
ctr sh -c 'ls /var/lib/tasq | grep >/dev/null -c .' || fail "no journal in /var/lib/tasq"
echo "  journal: $(ctr ls /var/lib/tasq | tr '\n' ' ')"
ctr sh -c 'kill -TERM "$(cat /run/worker.pid)"'

step "systemd's branches: a stand-in systemctl, /run/systemd/system"
# It logs its arguments and lists the server and a worker as active. In
# /usr/bin, where systemd's is: apt runs dpkg with PATH=/usr/sbin:/usr/bin:
# /sbin:/bin (DPkg::Path), and the container has no systemd package.
ctr sh -c 'mkdir -p /run/systemd/system && cat >/usr/bin/systemctl <<"EOF"
#!/bin/sh
echo "systemctl $*" >>/run/systemctl.log
case " $* " in
*" list-units "*) printf "%s\n" "tasq-server.service loaded active running x" \
	"tasq-worker@main.service loaded active running x" ;;
*" --version "*) echo "systemd 252 (252)" ;;
esac
exit 0
EOF
chmod 755 /usr/bin/systemctl'

step "the administrator's changes: a conffile edited, a unit enabled"
ctr sed -i 's/^log-level info$/log-level debug/' /etc/tasq/tasq-server.conf
ctr sh -c 'echo "# edited by deploy.debian_package" >>/etc/tasq/tasq-server.conf'
ctr sh -c 'mkdir -p /etc/systemd/system/multi-user.target.wants &&
	ln -s /usr/lib/systemd/system/tasq-server.service \
	/etc/systemd/system/multi-user.target.wants/tasq-server.service'
edited=$(ctr md5sum /etc/tasq/tasq-server.conf)

step "upgrade to V2 ($v2): apt-get install $d2"
ctr rm -f /run/systemctl.log
apt install "$d2"
expect "status" "$(ctr dpkg-query -W -f '${Status} ${Version}' tasq)" "install ok installed $v2"
expect "the edited conffile" "$(ctr md5sum /etc/tasq/tasq-server.conf)" "$edited"
expect "left over by dpkg" "$(ctr find /etc/tasq -name '*.dpkg-*')" ""
expect "user tasq" "$(ctr getent passwd tasq)" "$pw"
expect "/etc/tasq" "$(ctr stat -c '%a %U %G' /etc/tasq)" "750 root tasq"
ctr test -s /etc/tasq/key || fail "the key is gone"
expect "/var/lib/tasq" "$(ctr stat -c '%a %U %G' /var/lib/tasq)" "700 tasq tasq"
ctr sh -c 'ls /var/lib/tasq | grep >/dev/null -c "^journal-"' || fail "the upgrade lost the journal"
calls=$(ctr cat /run/systemctl.log)
echo "$calls" | sed 's/^/  /'
echo "$calls" | grep >/dev/null -c 'daemon-reload' || fail "no systemctl daemon-reload on upgrade"
! echo "$calls" | grep -Eq ' (stop|restart|try-restart|reload-or-restart|start) ' ||
	fail "the upgrade stopped or restarted units"
grep -q 'tasq: tasq-server.service still runs the programs of tasq' "$WORK/apt.log" ||
	fail "the upgrade does not say that the running server is the old version"
ctr sh -c "kill -0 $spid" || fail "the running server is gone after the upgrade"
ctr env TASQ_SERVER="$url" TASQ_KEY_FILE=/etc/tasq/key tasq health >/dev/null ||
	fail "the running server does not answer after the upgrade"
echo "  the server (pid $spid) still runs and answers"
ctr sh -c 'kill -TERM "$(cat /run/server.pid)"; for i in $(seq 200); do
	kill -0 "$(cat /run/server.pid)" 2>/dev/null || exit 0; sleep 0.05; done; exit 1' ||
	fail "the server did not stop on SIGTERM"

step "remove: apt-get remove tasq"
ctr rm -f /run/systemctl.log
apt remove tasq
expect "status" "$(ctr dpkg-query -W -f '${Status}' tasq)" "deinstall ok config-files"
! ctr test -e /usr/bin/tasq-server || fail "/usr/bin/tasq-server is still there"
expect "the edited conffile" "$(ctr md5sum /etc/tasq/tasq-server.conf)" "$edited"
ctr test -s /etc/tasq/key || fail "remove took the key"
ctr sh -c 'ls /var/lib/tasq | grep >/dev/null -c .' || fail "remove took the journal"
ctr getent passwd tasq >/dev/null || fail "remove took the user"
calls=$(ctr cat /run/systemctl.log)
echo "$calls" | sed 's/^/  /'
echo "$calls" | grep >/dev/null -c ' stop .*tasq-server.service' || fail "remove did not stop tasq-server"
echo "$calls" | grep >/dev/null -c ' stop .*tasq-worker@main.service' || fail "remove did not stop the worker"
echo "$calls" | grep >/dev/null -c 'daemon-reload' || fail "no daemon-reload on remove"

step "purge: apt-get purge tasq"
ctr rm -f /run/systemctl.log
apt purge tasq
expect "status" "$(ctr sh -c "dpkg-query -W -f '\${Status}' tasq 2>/dev/null || echo none")" "none"
for p in /etc/tasq /var/lib/tasq /etc/systemd/system/multi-user.target.wants/tasq-server.service; do
	! ctr test -e "$p" -o -L "$p" || fail "purge left $p"
done
expect "statoverride of /etc/tasq" "$(ctr dpkg-statoverride --list /etc/tasq || true)" ""
ctr grep -q daemon-reload /run/systemctl.log || fail "no daemon-reload on purge"
expect "user tasq (kept)" "$(ctr getent passwd tasq)" "$pw"

step "install again (V2): the existing user is reused"
ctr sh -c 'rm -rf /run/systemd /usr/bin/systemctl'
apt install "$d2"
expect "user tasq" "$(ctr getent passwd tasq)" "$pw"
expect "/etc/tasq" "$(ctr stat -c '%a %U %G' /etc/tasq)" "750 root tasq"
expect "/var/lib/tasq" "$(ctr stat -c '%a %U %G' /var/lib/tasq)" "700 tasq tasq"

podman rm -f -t 0 "$CTR" >/dev/null

step "with systemd as process 1: a container of its own, systemd installed"
# --systemd=always sets up /run, /tmp and the cgroups for it; SYS_ADMIN
# lets systemd set up the units' namespaces (DynamicUser= and the
# sandboxing fail with 226/NAMESPACE without it).
SD=$RUN_ID-sd
podman_q run -d --name "$SD" --label "tasq-test=$RUN_ID" --systemd=always \
	--cap-add SYS_ADMIN -v "$WORK/debs:/debs:ro" localhost/debian:bookworm \
	sh -c 'export DEBIAN_FRONTEND=noninteractive
		{ apt-get update -q || apt-get update -q; } >/apt-sd.log 2>&1 &&
		apt-get install -y -q --no-install-recommends systemd systemd-sysv \
			>>/apt-sd.log 2>&1 && exec /lib/systemd/systemd
		cat /apt-sd.log; exit 1' >/dev/null
sd() {
	podman exec -e DEBIAN_FRONTEND=noninteractive "$SD" "$@"
}
t=$(date +%s%N)
state=
for _ in $(seq 600); do
	state=$(sd systemctl is-system-running 2>/dev/null) || true
	case $state in running | degraded) break ;; esac
	[ "$(podman inspect -f '{{.State.Running}}' "$SD")" = true ] ||
		{ podman logs --tail 20 "$SD"; fail "the systemd container stopped"; }
	sleep 0.5
done
case $state in running | degraded) ;; *) fail "systemd is not up after 300 s: '$state'" ;; esac
echo "  systemd $state after $(elapsed_since "$t") s"

step "with systemd: install V1, start tasq-server and tasq-worker@main"
echo "+ apt-get install $d1 (systemd)" >>"$WORK/apt.log"
sd apt-get install -y -q "$d1" >>"$WORK/apt.log" 2>&1 || fail "apt-get install (systemd)"
# The units take the key as a systemd credential (LoadCredential=). In
# this container systemd cannot deliver it: with SYS_ADMIN the credential
# directory stays empty and closed to the service (even to root), without
# it the file comes with an ACL (mode 0440), which tasq refuses. So here
# a drop-in hands the key over as TASQ_KEY instead (--key-file "" makes the
# programs use it); the rest of each unit is as installed.
sd sh -c 'umask 077 && head -c 32 /dev/urandom | base64 | tr -d "\n" >/etc/tasq/key &&
	printf "TASQ_KEY=%s\n" "$(cat /etc/tasq/key)" >/etc/tasq/key.env &&
	for u in tasq-server tasq-worker@; do
		mkdir -p /etc/systemd/system/$u.service.d
		{ printf "[Service]\nLoadCredential=\nEnvironmentFile=/etc/tasq/key.env\n"
		  printf "ExecStartPre=\nExecStart=\n"
		  sed -n "/^ExecStart/s|--key-file %d/key|--key-file \"\"|p" \
			/usr/lib/systemd/system/$u.service
		} >/etc/systemd/system/$u.service.d/test-key.conf
	done &&
	umask 022 && sed -i "s|^listen .*|listen tcp://127.0.0.1:7070|" /etc/tasq/tasq-server.conf &&
	systemctl daemon-reload'
sd systemctl start tasq-server tasq-worker@main ||
	{ sd journalctl -u tasq-server -u tasq-worker@main --no-pager | tail -20; fail "the units do not start"; }
pids=$(sd systemctl show -p MainPID --value tasq-server tasq-worker@main | tr '\n' ' ')
read -r spid wpid <<<"$pids"
expect "tasq-server runs as" "$(sd stat -c %U "/proc/$spid")" "tasq"
tgid=$(sd getent group tasq | cut -d: -f3)
wst=$(sd grep -E '^(Uid|Groups):' "/proc/$wpid/status" | awk '{ print $2, $3 }' | tr '\n' ' ')
wuid=${wst%% *}
[ "$wuid" -ge 61184 ] && [ "$wuid" -le 65519 ] ||
	fail "tasq-worker@main is not a dynamic user: $wst"
case " $wst " in *" $tgid "*) ;; *) fail "tasq-worker@main lacks the group tasq: $wst" ;; esac
echo "  tasq-worker@main runs as the dynamic user $wuid with the group tasq ($tgid)"
got=$(sd env TASQ_SERVER=tcp://127.0.0.1:7070 TASQ_KEY_FILE=/etc/tasq/key \
	tasq submit --timeout 60s 3 4 5) || {
	sd journalctl -u tasq-server -u tasq-worker@main --no-pager | tail -30
	fail "tasq submit (systemd) failed"
}
expect "tasq submit 3 4 5" "$(echo "$got" | tr '\n' ' ')" "3 9 4 16 5 25 "
sd systemctl enable tasq-server 2>/dev/null

step "with systemd: upgrade to V2, the running units left alone"
echo "+ apt-get install $d2 (systemd)" >>"$WORK/apt.log"
sd apt-get install -y -q "$d2" >"$WORK/apt-sd-upgrade.log" 2>&1 ||
	{ cat "$WORK/apt-sd-upgrade.log"; fail "apt-get install (systemd) V2"; }
grep '^tasq: ' "$WORK/apt-sd-upgrade.log" | sed 's/^/  /'
grep -q '^tasq: tasq-worker@main.service still runs' "$WORK/apt-sd-upgrade.log" ||
	fail "the upgrade does not name the running worker"
expect "main processes (server, worker)" \
	"$(sd systemctl show -p MainPID --value tasq-server tasq-worker@main | tr '\n' ' ')" "$pids"

step "with systemd: remove stops the units, purge takes the enabled link"
echo "+ apt-get remove (systemd)" >>"$WORK/apt.log"
sd apt-get remove -y -q tasq >>"$WORK/apt.log" 2>&1 || fail "apt-get remove (systemd)"
expect "units" "$(sd systemctl is-active tasq-server tasq-worker@main | tr '\n' ' ')" "inactive inactive "
sd apt-get purge -y -q tasq >>"$WORK/apt.log" 2>&1 || fail "apt-get purge (systemd)"
for p in /etc/tasq /var/lib/tasq /etc/systemd/system/multi-user.target.wants/tasq-server.service; do
	! sd test -e "$p" -o -L "$p" || fail "purge left $p"
done
echo "  purged"

step "done"
echo "deploy.debian_package passed"
