#!/usr/bin/env bash
# deploy.compose_kube: deploy/compose.yaml under podman-compose, and
# deploy/kubernetes under `podman play kube`, as far as those tools go.
#
# compose: the file as it is (TLS, key and certificates as file secrets,
#   the journal on a named volume, 3 worker replicas), with the image, the
#   secrets directory and the published port chosen through its variables.
#   A batch through `podman exec` into the server container, another with
#   the host's client through the published port (when TASQ_CLIENT names
#   it), health check, stats, then `stop` (SIGTERM: every container must
#   exit 0) and `down -v`.
# compose shards: deploy/compose.shards.yaml's three servers and two
#   worker replicas naming all three: each server up on a volume of its
#   own, answering Health through its published port with an identity of
#   its own, the one in its volume; the workers connected to all three;
#   the batch of client-job.yaml (40 detached jobs, then each one's
#   results by id) from a client with the list: every result right and
#   there once, each job on the shard its id names, all three shards
#   used, each shard's counters grown by its jobs' tasks
#   (shard_batch_check.py).
# kube: podman 4.3.1 cannot run the manifests unchanged (no StatefulSet,
#   no Service, no Job, secret volumes crash it): kube_for_podman.py
#   rewrites them and prints what it changed. The StatefulSet's pods get
#   the headless Service's name as a network alias, so the workers and
#   the client reach them by that name. The StatefulSet as it is (3
#   replicas) and the workers: three pods, each on its own volume (PVC),
#   the Service's name resolving to the three addresses, each answering
#   Health (identity_probe.py) with an identity of its own; the workers
#   connected to every shard through the name; a batch through `podman
#   exec` into pod 0 (kubectl exec); the client Job (the same batch as
#   compose's, checked the same way); a 4th replica played beside them
#   (kubectl scale --replicas=4): the workers find it by looking the name
#   up again (every second here) and the Job run again puts jobs on it,
#   and whose dashboard (server.yaml's TASQ_PEERS: the Service's name)
#   shows the four; SIGTERM drains the workers; a pod restarted on its
#   volume keeps its identity and its jobs' results; SIGTERM stops the
#   servers; teardown. TASQ_DEPLOY_KUBE_ORDER=workers-first (below).
# Needs root, podman, podman-compose and the dnsname CNI plugin; skips (77)
# without them. See tests/deploy/lib.sh for the environment.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

deploy_require podman-compose openssl python3
# Debian's python3 has python3-yaml (a dependency of podman-compose); one
# earlier on PATH may not.
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3
"$py" -c 'import yaml' 2>/dev/null || {
	echo "SKIP: python3-yaml not found"
	exit "$deploy_skip"
}
if [ ! -x /usr/lib/cni/dnsname ]; then
	echo "SKIP: the dnsname CNI plugin is missing" \
		"(golang-github-containernetworking-plugin-dnsname)"
	exit "$deploy_skip"
fi
PROJECT=$RUN_ID # compose project: containers ${PROJECT}_SERVICE_N
KUBE_FILES=()    # manifests played, for the clean-up
compose_file=$deploy_top/deploy/compose.yaml
kube_dir=$deploy_top/deploy/kubernetes
# TASQ_DEPLOY_KUBE_ORDER=workers-first: the workers' pods start before
# the servers' (deploy.kube_workers_first), as in a cluster
# where `kubectl apply -k` starts both at once and the headless Service
# lists a server only once it is ready: a worker (or a server's --peers)
# whose first look-up of the name finds one address or none must still
# end up with every shard. Otherwise the servers' pods come first: podman
# registers a pod's name when it is created, so every shard resolves by
# the time the workers start.
workers_first=0
[ "${TASQ_DEPLOY_KUBE_ORDER:-}" = workers-first ] && workers_first=1

cleanup() {
	local rc=$?
	set +e
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
		for c in $(podman ps -a --filter "label=tasq-test=$RUN_ID" --format '{{.Names}}'); do
			echo "--- last log lines of $c"
			podman logs --tail 15 "$c" 2>&1
		done
		# Again after the logs: what a CI page that shows the start
		# and the end of the output keeps.
		echo "FAIL (as above): ${deploy_fail_msg:-exit status $rc, a command failed (set -e)}"
	fi
	if [ -n "$WORK" ] && [ -f "$WORK/compose.env" ]; then
		(set -a && . "$WORK/compose.env" && cd "$WORK" &&
			podman-compose -p "$PROJECT" -f "$compose_file" down -t 1 \
				>/dev/null 2>&1)
	fi
	if [ -n "$WORK" ] && [ -f "$WORK/shards.env" ]; then
		(set -a && . "$WORK/shards.env" && cd "$WORK" &&
			podman-compose -p "${RUN_ID}s" -f "$deploy_top/deploy/compose.shards.yaml" \
				down -v -t 1 >/dev/null 2>&1)
		podman network rm -f "${RUN_ID}s_default" >/dev/null 2>&1
	fi
	for f in "${KUBE_FILES[@]}"; do
		podman play kube --down "$f" >/dev/null 2>&1
	done
	deploy_cleanup
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# thread_stacks PID: gdb's stacks of a container's process, with the
# symbols of the image's build stage ($IMAGE-build: the programs before
# `install -s`) where it is there.
thread_stacks() {
	local exe=() b d
	b=$(readlink "/proc/$1/exe" 2>/dev/null) || b=
	b=${b##*/}
	if [ -n "$b" ] && podman create --name "$RUN_ID-syms" "$IMAGE-build" \
		true >/dev/null 2>&1; then
		for d in server worker client; do
			podman cp "$RUN_ID-syms:/build/$d/$b" "$WORK/$b.syms" \
				>/dev/null 2>&1 && exe=("$WORK/$b.syms") && break
		done
		podman rm -f "$RUN_ID-syms" >/dev/null 2>&1
	fi
	timeout 60 gdb "${exe[@]}" -p "$1" -batch -ex 'thread apply all bt' 2>&1 |
		grep -E '^(Thread|#)' | grep -v ' in ?? ()$' | head -n 300
}

# stop_and_check CONTAINER...: SIGTERM; each must exit 0 within 40 s (a
# server's own limit is 10 s, a worker's drain the same). One still
# running then has its threads' stacks printed (gdb from the host) before
# it is killed.
stop_and_check() {
	local t c code pid stopper bad=0
	for c in "$@"; do
		t=$(date +%s%N)
		# (podman stop, not kill: compose's restart policy would
		# start a killed container again.)
		podman_q stop -t 75 "$c" >/dev/null &
		stopper=$!
		if ! timeout 40 podman wait "$c" >/dev/null 2>&1; then
			pid=$(podman inspect --format '{{.State.Pid}}' "$c")
			echo "$c: still running 40 s after SIGTERM; its threads:"
			[ -z "$pid" ] || [ "$pid" = 0 ] || thread_stacks "$pid"
		fi
		wait "$stopper" || true
		code=$(podman inspect --format '{{.State.ExitCode}}' "$c")
		echo "$c: exit status $code after $(elapsed_since "$t") s"
		[ "$code" = 0 ] || bad=1
	done
	[ "$bad" = 0 ] || fail "a container did not exit 0 on SIGTERM"
}

# batch CONTAINER: a checked batch and a summary through podman exec.
batch() {
	local c=$1 s
	podman exec "$c" tasq submit --range 1:20000 >"$WORK/range.out"
	check_squares "$WORK/range.out" 1 20000
	echo "tasq submit --range 1:20000: $(wc -l <"$WORK/range.out") results, all right, in order"
	s=$(podman exec "$c" tasq submit --range 1:500000 --summary)
	echo "tasq submit --range 1:500000 --summary: $s"
	check_summary "$s" 500000
}

step "podman, podman-compose"
podman --version
podman-compose version 2>/dev/null | grep -i 'podman-compose' || true

step "base image"
build_base_image

step "tasq image (${TASQ_DEPLOY_VARIANT:-full})"
build_tasq_image

# ---------------------------------------------------------------- compose
step "compose: secrets (the image's user must own the key: uid 10001)"
csec=$WORK/compose-secrets
make_secrets "$csec" server localhost 127.0.0.1
chown 10001:10001 "$csec/key" "$csec/server.key"
stat -c '  %A %u %n' "$csec"/* | sed "s|$csec/||"
free_port() {
	"$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port=$(free_port)
hbport=$(free_port)
# Both published ports free ones: the heartbeat port's default (7071) may
# be taken on this host.
cat >"$WORK/compose.env" <<EOF
TASQ_IMAGE=$IMAGE
TASQ_SECRETS_DIR=$csec
TASQ_PORT=127.0.0.1:$port
TASQ_HEARTBEAT_PORT=127.0.0.1:$hbport
TASQ_WORKER_REPLICAS=3
TASQ_WORKER_PROCS=2
EOF
sed 's/^/  /' "$WORK/compose.env"

step "compose: podman-compose up -d"
t=$(date +%s%N)
(set -a && . "$WORK/compose.env" && cd "$WORK" &&
	podman-compose -p "$PROJECT" -f "$compose_file" \
		--podman-run-args "--label tasq-test=$RUN_ID" up -d) \
	>"$WORK/compose-up.log" 2>&1 ||
	{ cat "$WORK/compose-up.log"; fail "podman-compose up failed"; }
echo "up in $(elapsed_since "$t") s"
# podman-compose 1.0.3 exits 0 even when a podman run failed: count.
podman ps --filter "label=io.podman.compose.project=$PROJECT" \
	--format '{{.Names}}\t{{.Status}}\t{{.Command}}' | sort | tee "$WORK/ps"
[ "$(grep -c Up "$WORK/ps")" = 4 ] || {
	cat "$WORK/compose-up.log"
	fail "expected 4 running containers (server + 3 workers)"
}
server=${PROJECT}_server_1
podman exec "$server" tasq health --wait 30s || fail "server not serving"
if ! podman_q healthcheck run "$server"; then
	fail "health check failed"
fi
echo "HEALTHCHECK: healthy"

step "compose: batches through podman exec $server"
batch "$server"
if [ -n "${TASQ_CLIENT:-}" ] && [ -x "$TASQ_CLIENT" ]; then
	step "compose: the host's client through the published port 127.0.0.1:$port"
	cp "$csec/key" "$WORK/host-key" && chown 0:0 "$WORK/host-key" &&
		chmod 600 "$WORK/host-key"
	s=$("$TASQ_CLIENT" --server "tls+tcp://127.0.0.1:$port" \
		--key-file "$WORK/host-key" --tls-ca "$csec/ca.pem" \
		submit --range 1:100000 --summary)
	echo "$s"
	check_summary "$s" 100000
fi
echo "podman-compose exec server tasq stats:"
(set -a && . "$WORK/compose.env" && cd "$WORK" &&
	podman-compose -p "$PROJECT" -f "$compose_file" exec server tasq stats) \
	2>/dev/null | tr -d '\r' | sed -n '/^WORKER/,/^$/p' | tee "$WORK/stats"
[ "$(grep -Ec ' yes( |$)' "$WORK/stats")" = 6 ] ||
	fail "expected 6 connected worker processes (3 replicas x 2)"

step "compose: podman-compose stop (SIGTERM), then down -v"
stop_and_check "${PROJECT}_worker_1" "${PROJECT}_worker_2" \
	"${PROJECT}_worker_3" "$server"
t=$(date +%s%N)
(set -a && . "$WORK/compose.env" && cd "$WORK" &&
	podman-compose -p "$PROJECT" -f "$compose_file" down -v -t 1) \
	>"$WORK/compose-down.log" 2>&1 || true
# 1.0.3 leaves the project's network behind
podman network rm -f "${PROJECT}_default" >/dev/null 2>&1 || true
rm -f "$WORK/compose.env"
echo "down in $(elapsed_since "$t") s"
left=$(podman ps -a --filter "label=io.podman.compose.project=$PROJECT" -q | wc -l)
[ "$left" = 0 ] || fail "$left containers left after down"

# ------------------------------------------------------ compose: shards
# The batch of deploy/kubernetes/client-job.yaml (JOBS detached jobs of
# TASKS tasks, then each one's results by its id), taken from the
# manifest, runs against both sets of shards.
job_container() {
	"$py" -c '
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))["spec"]["template"]["spec"]["containers"][0]
if sys.argv[2] == "script":
    print(c["command"][2])
else:
    print([e["value"] for e in c["env"] if e["name"] == sys.argv[2]][0])
' "$kube_dir/client-job.yaml" "$1"
}
jobs=$(job_container JOBS)
tasks=$(job_container TASKS)
batch_script=$(job_container script)

# deploy/compose.shards.yaml: three servers on a fixed list and two
# worker replicas (2 processes each) that name all three: each server up
# on a volume of its own, answering Health through its published port
# with an identity of its own, the one in its volume; then the batch
# from a client in server1's container with the same list.
step "compose: three shards (compose.shards.yaml) and workers serving all three"
shards_file=$deploy_top/deploy/compose.shards.yaml
SPROJECT=${RUN_ID}s
# the certificate names the three services, as the workers dial them
ssec=$WORK/shards-secrets
make_secrets "$ssec" server1 server2 server3 localhost 127.0.0.1
chown 10001:10001 "$ssec/key" "$ssec/server.key"
{
	echo "TASQ_IMAGE=$IMAGE"
	echo "TASQ_SECRETS_DIR=$ssec"
	echo "TASQ_WORKER_REPLICAS=2"
	echo "TASQ_WORKER_PROCS=2"
	for i in 1 2 3; do
		echo "TASQ_PORT$i=$(free_port)"
		echo "TASQ_HB_PORT$i=$(free_port)"
	done
} >"$WORK/shards.env"
sed 's/^/  /' "$WORK/shards.env"
t=$(date +%s%N)
(set -a && . "$WORK/shards.env" && cd "$WORK" &&
	podman-compose -p "$SPROJECT" -f "$shards_file" \
		--podman-run-args "--label tasq-test=$RUN_ID" \
		up -d) >"$WORK/shards-up.log" 2>&1 ||
	{ cat "$WORK/shards-up.log"; fail "podman-compose up (shards) failed"; }
echo "up in $(elapsed_since "$t") s"
podman ps --filter "label=io.podman.compose.project=$SPROJECT" \
	--format '{{.Names}}\t{{.Status}}' | sort | tee "$WORK/ps"
[ "$(grep -c Up "$WORK/ps")" = 5 ] || {
	cat "$WORK/shards-up.log"
	fail "expected 5 running containers (3 servers + 2 workers)"
}
urls=()
inside=() # the list as the workers have it
for i in 1 2 3; do
	c=${SPROJECT}_server${i}_1
	podman exec "$c" tasq health --wait 30s --quiet || fail "$c not serving"
	v=$(podman inspect --format \
		'{{range .Mounts}}{{if eq .Destination "/var/lib/tasq"}}{{.Name}}{{end}}{{end}}' "$c")
	[ "$v" = "${SPROJECT}_tasq-data-$i" ] || fail "$c mounts '$v' at /var/lib/tasq"
	p=$(sed -n "s/^TASQ_PORT$i=//p" "$WORK/shards.env")
	urls+=("tls+tcp://127.0.0.1:$p")
	inside+=("tls+tcp://server$i:$p")
done
cp "$ssec/key" "$WORK/probe-key" && chown 0:0 "$WORK/probe-key" &&
	chmod 600 "$WORK/probe-key"
"$py" "$(dirname "$0")/identity_probe.py" --key-file "$WORK/probe-key" \
	--tls-ca "$ssec/ca.pem" "${urls[@]}" | tee "$WORK/shard-ids" ||
	fail "a shard did not answer Health through its published port"
for i in 1 2 3; do
	id=$(sed -n "${i}s/.* identity=\([0-9a-f]*\) .*/\1/p" "$WORK/shard-ids")
	file=$(podman exec "${SPROJECT}_server${i}_1" cat /var/lib/tasq/identity)
	[ -n "$id" ] && [ "$id" = "$file" ] ||
		fail "server$i: Health says '$id', its volume '$file'"
done
[ "$(sed 's/.* identity=\([0-9a-f]*\) .*/\1/' "$WORK/shard-ids" | sort -u | wc -l)" = 3 ] ||
	fail "the three shards do not have three identities"

# 40 jobs over 3 shards: all three get some (see the kube batch below).
list=$(IFS=,; echo "${inside[*]}")
client=${SPROJECT}_server1_1
sstats() {
	podman exec -e TASQ_SERVER="$list" "$client" tasq stats --all --json >"$1"
}
# sworkers_everywhere: each shard lists the 4 worker processes connected
sworkers_everywhere() {
	sstats "$WORK/sw.json" 2>/dev/null &&
		"$py" -c '
import json, sys
s = json.load(open(sys.argv[1]))["servers"]
sys.exit(0 if len(s) == 3 and all(m["up"] and sum(
    w["connected"] for w in m["stats"]["workers"]) >= 4 for m in s) else 1)
' "$WORK/sw.json"
}
step "compose: the batch ($jobs jobs of $tasks tasks) across the shards"
harness_poll 60 sworkers_everywhere ||
	fail "the 4 worker processes are not connected to each shard"
sstats "$WORK/sbefore.json"
t=$(date +%s%N)
podman exec -e TASQ_SERVER="$list" -e JOBS="$jobs" -e TASKS="$tasks" \
	"$client" sh -ec "$batch_script" >"$WORK/sclient.log" ||
	fail "the batch failed"
echo "batch in $(elapsed_since "$t") s: $(tail -n 1 "$WORK/sclient.log")"
sstats "$WORK/safter.json"
"$py" "$(dirname "$0")/shard_batch_check.py" --log "$WORK/sclient.log" \
	--jobs "$jobs" --tasks "$tasks" --before "$WORK/sbefore.json" \
	--after "$WORK/safter.json" --min-shards 3 --workers 4 ||
	fail "the batch across compose's shards is wrong"
stop_and_check "${SPROJECT}_worker_1" "${SPROJECT}_worker_2" \
	"${SPROJECT}_server1_1" "${SPROJECT}_server2_1" "${SPROJECT}_server3_1"
(set -a && . "$WORK/shards.env" && cd "$WORK" &&
	podman-compose -p "$SPROJECT" -f "$shards_file" down -v -t 1) \
	>"$WORK/shards-down.log" 2>&1 || true
podman network rm -f "${SPROJECT}_default" >/dev/null 2>&1 || true
rm -f "$WORK/shards.env"

# ------------------------------------------------------------------ kube
step "kube: the manifests as they are"
podman play kube --network none "$kube_dir/server.yaml" 2>&1 | grep -v 'level=error' | sed 's/^/  /' || true
n=$(podman pod ps -q --filter name=tasq-server | wc -l)
echo "pods from server.yaml unchanged: $n (podman 4.3.1 knows neither StatefulSet nor Service)"
podman play kube --down "$kube_dir/server.yaml" >/dev/null 2>&1 || true

step "kube: secrets and manifests for podman play kube"
ksec=$WORK/kube-secrets
svc=$RUN_ID-tasq-server # the headless Service: a network alias of the server pods
make_secrets "$WORK/kube-certs" "$svc" localhost 127.0.0.1
mkdir -p "$ksec/tasq-tls"
cp "$WORK/kube-certs/ca.pem" "$ksec/tasq-tls/ca.crt"
cp "$WORK/kube-certs/server.pem" "$ksec/tasq-tls/tls.crt"
cp "$WORK/kube-certs/server.key" "$ksec/tasq-tls/tls.key"
# as Kubernetes mounts them with fsGroup 10001 and defaultMode 0440
chown -R 0:10001 "$ksec/tasq-tls"
chmod 0440 "$ksec/tasq-tls"/*
# the key, as podman 4.3.1's secretKeyRef wants it: JSON of base64 values
printf '{"key":"%s"}' "$(base64 -w0 <"$WORK/kube-certs/key")" |
	podman secret create "$RUN_ID-tasq-key" - >/dev/null
# kube_manifest OUT KIND[,KIND] [ARGS...]: the manifests' documents of
# those kinds, rewritten for podman (server.yaml always goes in: its
# Service's name is rewritten in every URL).
kube_manifest() {
	local out=$1 kinds=$2
	shift 2
	"$py" "$(dirname "$0")/kube_for_podman.py" --prefix "$RUN_ID" \
		--image "$IMAGE" --label "tasq-test=$RUN_ID" --secret-dir "$ksec" \
		--kinds "$kinds" "$@" "$kube_dir/server.yaml" >"$WORK/$out"
	KUBE_FILES+=("$WORK/$out")
}
# kube_play FILE [NETWORK-OPTION]: podman play kube on $RUN_ID-kube.
kube_play() {
	podman_q play kube --network "$RUN_ID-kube${2:-}" "$WORK/$1" \
		>"$WORK/$1.log" 2>&1 || { cat "$WORK/$1.log"; fail "play kube $1 failed"; }
}
# kube_down: play kube --down of every file played, newest first.
kube_down() {
	local i
	for ((i = ${#KUBE_FILES[@]} - 1; i >= 0; i--)); do
		# || true: a pod already removed (the client Job's) fails it
		podman_q play kube --down "${KUBE_FILES[i]}" >/dev/null 2>&1 || true
		rm -f "${KUBE_FILES[i]}"
	done
	KUBE_FILES=()
}
KUBE_FILES=()
kube_manifest shards.yaml StatefulSet
# The workers look the Service's name up again every second (30 s in a
# cluster, the default), so that the shard added below gets workers
# within the test.
kube_manifest workers.yaml Deployment \
	--append-arg tasq-worker=--resolve-interval=1s "$kube_dir/workers.yaml"
kube_manifest client-job.yaml Job "$kube_dir/client-job.yaml"
podman network create "$RUN_ID-kube" >/dev/null

step "kube: the StatefulSet as it is (replicas: 3) and the workers, podman play kube"
t=$(date +%s%N)
if [ "$workers_first" = 1 ]; then
	kube_play workers.yaml
	kube_play shards.yaml ":alias=$svc"
else
	kube_play shards.yaml ":alias=$svc"
	kube_play workers.yaml
fi
echo "played in $(elapsed_since "$t") s"
shards=("$svc-0-server" "$svc-1-server" "$svc-2-server")
workers=("$RUN_ID-tasq-worker-pod-0-worker" "$RUN_ID-tasq-worker-pod-1-worker"
	"$RUN_ID-tasq-worker-pod-2-worker")
podman ps --filter "label=tasq-test=$RUN_ID" \
	--format '{{.Names}}\t{{.Status}}' | sort | tee "$WORK/ps"
[ "$(grep -c 'Up' "$WORK/ps")" = 6 ] ||
	fail "expected 6 running tasq containers (3 servers + 3 workers)"
for c in "${shards[@]}"; do
	podman exec "$c" tasq health --wait 30s --quiet || fail "$c not serving"
done
if ! podman_q healthcheck run "${shards[0]}"; then
	fail "health check failed"
fi
echo "livenessProbe (as health check): healthy"
podman exec "${shards[0]}" sh -c 'ls -ld /var/lib/tasq; touch /x 2>&1 | head -1'

echo "each shard's volume (volumeClaimTemplates: one PVC per replica):"
vols=()
for i in 0 1 2; do
	v=$(podman inspect --format \
		'{{range .Mounts}}{{if eq .Destination "/var/lib/tasq"}}{{.Name}}{{end}}{{end}}' \
		"${shards[i]}")
	echo "  ${shards[i]}: /var/lib/tasq is volume $v"
	[ "$v" = "$RUN_ID-data-tasq-server-$i" ] ||
		fail "${shards[i]} mounts '$v' at /var/lib/tasq, want $RUN_ID-data-tasq-server-$i"
	vols+=("$v")
done

# pod_addr POD: the pod's address on the network.
pod_addr() {
	podman inspect --format \
		'{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' \
		"$(podman pod inspect --format '{{.InfraContainerID}}' "$1")"
}
echo "the Service's name from inside a pod (headless: every shard):"
podman exec "${shards[0]}" getent ahostsv4 "$svc" |
	awk '$2 == "STREAM" { print $1 }' | sort -u >"$WORK/resolved"
sed 's/^/  /' "$WORK/resolved"
addrs=()
for c in "${shards[@]}"; do
	a=$(pod_addr "${c%-server}")
	[ -n "$a" ] || fail "no address for $c"
	addrs+=("$a")
done
printf '%s\n' "${addrs[@]}" | sort -u >"$WORK/addrs"
cmp -s "$WORK/resolved" "$WORK/addrs" || {
	echo "  the pods' addresses:"
	sed 's/^/  /' "$WORK/addrs"
	fail "$svc does not resolve to the three shards' addresses"
}
[ "$(wc -l <"$WORK/addrs")" = 3 ] || fail "the shards do not have 3 distinct addresses"

# probe_shards OUT: Health of each shard (by address, the certificate
# verified against the Service's name), "ADDRESS IDENTITY" lines.
probe_shards() {
	local urls=() a
	for a in "${addrs[@]}"; do urls+=("tls+tcp://$a:7070"); done
	"$py" "$(dirname "$0")/identity_probe.py" --key-file "$WORK/kube-certs/key" \
		--tls-ca "$WORK/kube-certs/ca.pem" --tls-server-name "$svc" \
		"${urls[@]}" | tee "$WORK/probe.raw" ||
		fail "a shard did not answer Health"
	sed -E 's|^tls\+tcp://([^:]*):7070 identity=([0-9a-f]{16}) .*|\1 \2|' \
		"$WORK/probe.raw" >"$1"
}
step "kube: each shard answers Health with an identity of its own"
probe_shards "$WORK/ids1"
ids=()
for i in 0 1 2; do
	id=$(awk -v a="${addrs[i]}" '$1 == a { print $2 }' "$WORK/ids1")
	file=$(podman exec "${shards[i]}" cat /var/lib/tasq/identity)
	echo "  ${shards[i]} (${addrs[i]}): Health identity $id, ${vols[i]}/identity $file"
	[ -n "$id" ] && [ "$id" != 0000000000000000 ] ||
		fail "${shards[i]}: no identity in its Health reply"
	[ "$id" = "$file" ] || fail "${shards[i]}: Health says $id, its volume $file"
	ids+=("$id")
done
[ "$(awk '{ print $2 }' "$WORK/ids1" | sort -u | wc -l)" = 3 ] ||
	fail "the three shards do not have three identities"

# TASQ_PEERS (server.yaml: the Service's name) and TASQ_METRICS_LISTEN:
# dash_cluster ADDRESS ID...: the /api/stats of the pod at ADDRESS
# carries the cluster, those shards up, as its dashboard's Servers table
# shows them (refreshed every 2 s).
dash_cluster() {
	local a=$1
	shift
	"$py" - "http://$a:9090/api/stats" "$WORK/dash.json" "$@" <<'PY'
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
    doc = json.load(r)
json.dump(doc, open(sys.argv[2], "w"))
c = doc.get("cluster") or {}
up = sorted(s["identity"] for s in c.get("servers", []) if s.get("up"))
sys.exit(0 if up == sorted(sys.argv[3:]) else 1)
PY
}
# check_dash POD ID...: dash_cluster within 30 s, the Servers table shown.
check_dash() {
	local pod=$1 a
	shift
	a=$(pod_addr "$pod")
	harness_poll 30 dash_cluster "$a" "$@" 2>/dev/null || {
		"$py" -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1])).get("cluster"))[:3000])' \
			"$WORK/dash.json" 2>/dev/null
		fail "$pod's /api/stats has no cluster of the $# shards up"
	}
	"$py" -c '
import json, sys
c = json.load(open(sys.argv[1]))["cluster"]
for s in c["servers"]:
    q = [q for q in s["stats"]["queues"] if q["name"] == "default"]
    print("  %s (identity %s): up, %d tasks submitted" % (
        s["url"], s["identity"], q[0]["submitted"] if q else 0))
t = [q for q in c["total"]["queues"] if q["name"] == "default"]
print("  total: %d tasks submitted, %d workers" % (
    t[0]["submitted"] if t else 0, c["total"]["workers"]))
' "$WORK/dash.json"
}


# stats_all OUT: `tasq stats --all --json` in a worker pod (kubectl exec
# deploy/tasq-worker -- tasq stats --all): through the Service's name,
# every shard.
stats_all() {
	podman exec "${workers[0]}" tasq stats --all --json >"$1"
}
# workers_everywhere N: stats_all answers for N shards, each with the 6
# worker processes (3 replicas x 2) connected.
workers_everywhere() {
	stats_all "$WORK/wstats.json" 2>/dev/null &&
		"$py" - "$WORK/wstats.json" "$1" 6 <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["servers"]
ok = len(s) == int(sys.argv[2]) and all(
    m["up"] and sum(w["connected"] for w in m["stats"]["workers"])
    >= int(sys.argv[3]) for m in s)
sys.exit(0 if ok else 1)
PY
}
show_workers() {
	"$py" -c '
import json, sys
for m in json.load(open(sys.argv[1]))["servers"]:
    st = m.get("stats")
    if not m["up"] or not st:
        print("  %s: did not answer" % m["url"])
        continue
    print("  %s (identity %s): %d worker processes connected" % (
        m["url"], st["identity"], sum(w["connected"] for w in st["workers"])))
' "$WORK/wstats.json"
}
step "kube: the workers lease from every shard (tasq stats --all in a worker pod)"
harness_poll 60 workers_everywhere 3 || {
	show_workers 2>/dev/null
	fail "the 6 worker processes are not connected to each of the 3 shards"
}
show_workers
# (The cluster view of the dashboards, --peers through the Service's
# name, is checked on pod 3 below, once the 4th shard is up.)

step "kube: batches through podman exec ${shards[0]} (kubectl exec tasq-server-0: that shard)"
batch "${shards[0]}"

# client_job LOG: the client Job, played, waited for and checked: its
# stdout in LOG. Then its pod goes (kubectl delete job/tasq-client).
client_job() {
	local t code c=$RUN_ID-tasq-client-client
	t=$(date +%s%N)
	kube_play client-job.yaml
	code=$(timeout 300 podman wait "$c") ||
		fail "the client Job did not end in 300 s"
	podman logs "$c" >"$1" 2>"$1.err"
	echo "client Job: exit status $code after $(elapsed_since "$t") s: $(tail -n 1 "$1")"
	[ "$code" = 0 ] || { tail -n 20 "$1.err"; fail "the client Job exited $code"; }
	podman_q pod rm -f "$RUN_ID-tasq-client" >/dev/null
}

# 40 jobs placed at random (rendezvous hashing of random ids) over 3
# shards: one shard gets none with probability 3 (2/3)^40 - 3 (1/3)^40 =
# 2.7e-7, so all three are required.
step "kube: the client Job, $jobs jobs of $tasks tasks through the Service's name"
stats_all "$WORK/before1.json"
client_job "$WORK/client1.log"
stats_all "$WORK/after1.json"
"$py" "$(dirname "$0")/shard_batch_check.py" --log "$WORK/client1.log" \
	--jobs "$jobs" --tasks "$tasks" --before "$WORK/before1.json" \
	--after "$WORK/after1.json" --min-shards 3 --workers 6 ||
	fail "the batch across the shards is wrong"

# kubectl scale statefulset/tasq-server --replicas=4: pod 3 with a PVC of
# its own; the Service's name gains its address; the workers find it at
# their next look-up, and new jobs go there too. 40 jobs over 4 shards:
# the new one gets none with probability (3/4)^40 = 1.0e-5.
step "kube: scaling up: a 4th shard (kubectl scale statefulset/tasq-server --replicas=4)"
kube_manifest shard3.yaml StatefulSet --replicas 4 --from-ordinal 3
t=$(date +%s%N)
kube_play shard3.yaml ":alias=$svc"
shards+=("$svc-3-server")
podman exec "${shards[3]}" tasq health --wait 30s --quiet ||
	fail "${shards[3]} not serving"
id3=$(podman exec "${shards[3]}" cat /var/lib/tasq/identity)
echo "  ${shards[3]}: identity $id3, on volume $(podman inspect --format \
	'{{range .Mounts}}{{if eq .Destination "/var/lib/tasq"}}{{.Name}}{{end}}{{end}}' \
	"${shards[3]}")"
harness_poll 60 workers_everywhere 4 || {
	show_workers 2>/dev/null
	fail "the workers did not all connect to the 4th shard in 60 s"
}
echo "the workers serve the 4th shard $(elapsed_since "$t") s after it was played:"
show_workers
# pod 3 started with the other shards' names in place: --peers finds all
# four (pod 0, started before the others' names existed, may not: see
# TASQ_DEPLOY_KUBE_ORDER).
echo "the dashboard of pod 3 (--peers through the Service's name):"
check_dash "$svc-3" "${ids[@]}" "$id3"
stats_all "$WORK/before2.json"
client_job "$WORK/client2.log"
stats_all "$WORK/after2.json"
"$py" "$(dirname "$0")/shard_batch_check.py" --log "$WORK/client2.log" \
	--jobs "$jobs" --tasks "$tasks" --before "$WORK/before2.json" \
	--after "$WORK/after2.json" --min-shards 3 --want-identity "$id3" \
	--workers 6 || fail "the batch across the 4 shards is wrong"

# The workers drain first: a worker whose shard changed address shortly
# before (a pod restarted) was once seen to hang for 60 s after
# "drained", in tasq_serve_free (1 run of 7, load average 20): reported,
# not covered here.
step "kube: SIGTERM drains the workers"
stop_and_check "${workers[@]}"

step "kube: a shard restarted on its volume keeps its identity and its jobs"
id1=${ids[1]}
# a job of the first batch on that shard, and its results
job1=$(awk -v t="${id1:0:4}" '$1 == "job" && substr($2, 1, 4) == t { print $2; exit }' \
	"$WORK/client1.log")
[ -n "$job1" ] || fail "no job of the first batch on ${shards[1]}"
awk -v j="$job1" '$1 == "job" { on = ($2 == j); next } on' "$WORK/client1.log" \
	>"$WORK/job1.before"
podman_q pod stop -t 30 "$svc-1" >/dev/null
podman_q pod start "$svc-1" >/dev/null
podman exec "${shards[1]}" tasq health --wait 30s --quiet ||
	fail "${shards[1]} not serving after its restart"
addrs[1]=$(pod_addr "$svc-1")
probe_shards "$WORK/ids2"
id2=$(awk -v a="${addrs[1]}" '$1 == a { print $2 }' "$WORK/ids2")
echo "  ${shards[1]}: identity $id1 before, ${id2:-none} after"
[ -n "$id1" ] && [ "$id1" = "$id2" ] ||
	fail "${shards[1]} changed identity across its restart"
[ "$(awk '{ print $2 }' "$WORK/ids1" | sort)" = \
	"$(awk '{ print $2 }' "$WORK/ids2" | sort)" ] ||
	fail "the shards' identities changed"
# through the Service's name, from a shard's pod (the workers are gone)
podman exec "${shards[0]}" tasq --server "tls+tcp://$svc:7070" results "$job1" \
	>"$WORK/job1.after" ||
	fail "tasq results $job1 after the restart of its shard failed"
cmp -s "$WORK/job1.before" "$WORK/job1.after" ||
	fail "job $job1's results differ after the restart of its shard"
echo "  job $job1 (on ${shards[1]}): its $(wc -l <"$WORK/job1.after") results the same after the restart"

step "kube: SIGTERM stops the shards"
stop_and_check "${shards[@]}"
t=$(date +%s%N)
kube_down
echo "play kube --down in $(elapsed_since "$t") s"

step "deploy.compose_kube passed"
