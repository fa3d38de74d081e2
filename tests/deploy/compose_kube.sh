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
# kube: podman 4.3.1 cannot run the manifests unchanged (no StatefulSet,
#   no Service, secret volumes crash it): kube_for_podman.py rewrites them
#   and prints what it changed. The server pod is named after the Service,
#   so the workers reach it by that name; a batch through `podman exec`
#   (kubectl exec in a cluster), health check, SIGTERM drain, teardown.
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
compose_file=$deploy_top/deploy/compose.yaml
kube_dir=$deploy_top/deploy/kubernetes

cleanup() {
	local rc=$?
	set +e
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
		for c in $(podman ps -a --filter "label=tasq-test=$RUN_ID" --format '{{.Names}}'); do
			echo "--- last log lines of $c"
			podman logs --tail 15 "$c" 2>&1
		done
	fi
	if [ -n "$WORK" ] && [ -f "$WORK/compose.env" ]; then
		(set -a && . "$WORK/compose.env" && cd "$WORK" &&
			podman-compose -p "$PROJECT" -f "$compose_file" down -t 1 \
				>/dev/null 2>&1)
	fi
	if [ -n "$WORK" ] && [ -f "$WORK/kube.yaml" ]; then
		podman play kube --down "$WORK/kube.yaml" >/dev/null 2>&1
	fi
	deploy_cleanup
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# stop_and_check CONTAINER...: podman stop (SIGTERM); each must exit 0.
stop_and_check() {
	local t c code bad=0
	for c in "$@"; do
		t=$(date +%s%N)
		podman_q stop -t 75 "$c" >/dev/null
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

# ------------------------------------------------------------------ kube
step "kube: the manifests as they are"
podman play kube --network none "$kube_dir/server.yaml" 2>&1 | grep -v 'level=error' | sed 's/^/  /' || true
n=$(podman pod ps -q --filter name=tasq-server | wc -l)
echo "pods from server.yaml unchanged: $n (podman 4.3.1 knows neither StatefulSet nor Service)"
podman play kube --down "$kube_dir/server.yaml" >/dev/null 2>&1 || true

step "kube: secrets and manifests for podman play kube"
ksec=$WORK/kube-secrets
svc=$RUN_ID-tasq-server # the server pod, named after the Service
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
"$py" "$(dirname "$0")/kube_for_podman.py" --prefix "$RUN_ID" \
	--image "$IMAGE" --label "tasq-test=$RUN_ID" --secret-dir "$ksec" \
	"$kube_dir/server.yaml" "$kube_dir/workers.yaml" >"$WORK/kube.yaml"

step "kube: podman play kube"
podman network create "$RUN_ID-kube" >/dev/null
t=$(date +%s%N)
podman_q play kube --network "$RUN_ID-kube" "$WORK/kube.yaml" \
	>"$WORK/kube-up.log" 2>&1 || { cat "$WORK/kube-up.log"; fail "play kube failed"; }
echo "played in $(elapsed_since "$t") s"
podman ps --filter "label=tasq-test=$RUN_ID" \
	--format '{{.Names}}\t{{.Status}}' | sort | tee "$WORK/ps"
[ "$(grep -c 'Up' "$WORK/ps")" = 4 ] ||
	fail "expected 4 running tasq containers (server + 3 workers)"
server=$svc-server
podman exec "$server" tasq health --wait 30s || fail "server not serving"
if ! podman_q healthcheck run "$server"; then
	fail "health check failed"
fi
echo "livenessProbe (as health check): healthy"
podman exec "$server" sh -c 'ls -ld /var/lib/tasq; touch /x 2>&1 | head -1'

step "kube: batches through podman exec $server (kubectl exec tasq-server-0 in a cluster)"
batch "$server"
podman exec "$server" tasq stats | sed -n '/^WORKER/,/^$/p' | tee "$WORK/stats"
[ "$(grep -Ec ' yes( |$)' "$WORK/stats")" = 6 ] ||
	fail "expected 6 connected worker processes (3 replicas x 2)"

step "kube: SIGTERM drains the workers and stops the server"
stop_and_check "$RUN_ID-tasq-worker-pod-0-worker" \
	"$RUN_ID-tasq-worker-pod-1-worker" "$RUN_ID-tasq-worker-pod-2-worker" \
	"$server"
t=$(date +%s%N)
podman_q play kube --down "$WORK/kube.yaml" >/dev/null 2>&1
rm -f "$WORK/kube.yaml"
echo "play kube --down in $(elapsed_since "$t") s"

step "deploy.compose_kube passed"
