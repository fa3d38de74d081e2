#!/usr/bin/env bash
# deploy.container_lan: tasq's image on a simulated LAN.
#
# Builds the base image if missing (debootstrap), the tasq image from
# deploy/Containerfile (TASQ_DEPLOY_VARIANT=prebuilt: Containerfile.prebuilt),
# makes 4 LAN hosts (network namespaces on one bridge, 10.200.0.1-4), runs
# the server container on host 1 (TLS, journal on a volume, key and
# certificates as podman secrets) and a worker container (2 processes)
# on each of hosts 2-4, then the client in a container on host 2: a batch
# with every result checked, a summary of a larger one, stats. It checks the
# image's HEALTHCHECK and that SIGTERM (podman stop) drains the workers and
# stops the server with exit status 0. Needs root and podman; skips
# (77) without them. See tests/deploy/lib.sh for the environment.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

deploy_require ip openssl python3
NET=10.200.0
NS=$RUN_ID # namespaces $NS-sw (the switch) and $NS-h1..4
route_added=0

lan_down() {
	local n
	for n in $(ip netns list | awk -v p="$NS-" 'index($1, p) == 1 {print $1}'); do
		ip netns del "$n" 2>/dev/null || true
	done
	if [ "$route_added" = 1 ]; then
		ip route del unreachable "$NET.0/24" 2>/dev/null || true
	fi
}
cleanup() {
	local rc=$?
	set +e
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
		for c in $(podman ps -a --filter "label=tasq-test=$RUN_ID" --format '{{.Names}}'); do
			echo "--- last log lines of $c"
			podman logs --tail 15 "$c" 2>&1
		done
	fi
	deploy_cleanup
	lan_down
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "podman"
podman --version
podman info --format '{{.Host.OCIRuntime.Name}} {{.Host.CgroupManager}} cgroups {{.Host.CgroupsVersion}} {{.Store.GraphDriverName}} {{.Host.NetworkBackend}}'

step "base image"
build_base_image

step "tasq image (${TASQ_DEPLOY_VARIANT:-full})"
build_tasq_image

step "LAN: hosts $NS-h1..4 = $NET.1-4 on a bridge in $NS-sw"
# The root namespace must never send to the LAN's addresses (they would go
# out to the default gateway): an unreachable route for the whole subnet.
if ! ip route show type unreachable | grep >/dev/null -c "^unreachable $NET.0/24"; then
	ip route add unreachable "$NET.0/24"
	route_added=1
fi
ip netns add "$NS-sw"
ip -n "$NS-sw" link set lo up
ip -n "$NS-sw" link add br0 type bridge
ip -n "$NS-sw" link set br0 up
for i in 1 2 3 4; do
	ip netns add "$NS-h$i"
	ip -n "$NS-h$i" link set lo up
	ip link add "p$i" netns "$NS-sw" type veth peer name eth0 netns "$NS-h$i"
	ip -n "$NS-sw" link set "p$i" master br0 up
	ip -n "$NS-h$i" addr add "$NET.$i/24" dev eth0
	ip -n "$NS-h$i" link set eth0 up
done
ip netns list | grep "^$NS-" | sort
echo "from the root namespace: ip route get $NET.1: $(ip route get "$NET.1" 2>&1 | head -1)"

step "secrets: shared key, CA and server certificate (deploy/gen-certs.sh)"
make_secrets "$WORK/secrets" tasq.lan "$NET.1"
openssl x509 -in "$WORK/secrets/server.pem" -noout -ext subjectAltName | tail -1
# podman secrets, handed to the image's user (uid 10001) with mode 0400:
# tasq refuses a key file that group or others can read.
for s in key:key ca:ca.pem cert:server.pem tlskey:server.key; do
	podman secret create "$RUN_ID-${s%%:*}" "$WORK/secrets/${s#*:}" >/dev/null
done
sec() { # sec NAME TARGET
	echo "--secret=$RUN_ID-$1,target=$2,uid=10001,gid=10001,mode=0400"
}

# run_on HOST NAME PODMAN-ARGS... -- COMMAND...: a container whose network
# is LAN host HOST; the server is known as tasq.lan.
run_on() {
	local h=$1 name=$2
	shift 2
	podman_q run --name "$RUN_ID-$name" --label "tasq-test=$RUN_ID" \
		--network "ns:/run/netns/$NS-h$h" --add-host "tasq.lan:$NET.1" \
		--hostname "$name" "$@"
}
URL=tls+tcp://tasq.lan:7070

step "server container on host 1"
run_on 1 server -d -v "$RUN_ID-data:/var/lib/tasq" \
	"$(sec key tasq-key)" "$(sec ca ca.pem)" "$(sec cert server.pem)" \
	"$(sec tlskey server.key)" \
	-e TASQ_LISTEN=tls+tcp://0.0.0.0:7070 \
	-e TASQ_KEY_FILE=/run/secrets/tasq-key \
	-e TASQ_TLS_CERT=/run/secrets/server.pem \
	-e TASQ_TLS_KEY=/run/secrets/server.key \
	-e TASQ_SERVER=$URL -e TASQ_TLS_CA=/run/secrets/ca.pem \
	"$IMAGE" tasq-server >/dev/null
t=$(date +%s%N)
podman exec "$RUN_ID-server" tasq health --wait 30s ||
	fail "the server did not come up"
echo "serving after $(elapsed_since "$t") s"
if ! podman_q healthcheck run "$RUN_ID-server"; then
	fail "the image's HEALTHCHECK says unhealthy"
fi
echo "HEALTHCHECK: healthy"

step "worker containers on hosts 2-4 (2 worker processes each)"
for i in 2 3 4; do
	run_on "$i" "worker$i" -d "$(sec key tasq-key)" "$(sec ca ca.pem)" \
		-e TASQ_SERVER=$URL -e TASQ_KEY_FILE=/run/secrets/tasq-key \
		-e TASQ_TLS_CA=/run/secrets/ca.pem -e TASQ_WORKERS=2 \
		"$IMAGE" tasq-worker >/dev/null
done
podman ps --filter "label=tasq-test=$RUN_ID" --format '{{.Names}}\t{{.Status}}\t{{.Command}}'
for i in 1 2 3 4; do
	ip -n "$NS-h$i" -4 -o addr show eth0 | awk -v h="$NS-h$i" '{print h ": " $4}'
done

# client CMD...: the client in a container on host 2.
client() {
	podman_q run --rm -i --name "$RUN_ID-client" --label "tasq-test=$RUN_ID" \
		--network "ns:/run/netns/$NS-h2" --add-host "tasq.lan:$NET.1" \
		"$(sec key tasq-key)" "$(sec ca ca.pem)" \
		-e TASQ_SERVER=$URL -e TASQ_KEY_FILE=/run/secrets/tasq-key \
		-e TASQ_TLS_CA=/run/secrets/ca.pem "$IMAGE" tasq "$@"
}

step "client on host 2: tasq submit 3 4 5"
client submit 3 4 5 | tee "$WORK/small.out"
[ "$(cat "$WORK/small.out")" = "$(printf '3 9\n4 16\n5 25')" ] ||
	fail "wrong results for 3 4 5"

step "client on host 2: tasq submit --range 1:20000, every result checked"
t=$(date +%s%N)
client submit --range 1:20000 >"$WORK/range.out"
echo "$(wc -l <"$WORK/range.out") results in $(elapsed_since "$t") s; first and last:"
head -2 "$WORK/range.out"
tail -2 "$WORK/range.out"
check_squares "$WORK/range.out" 1 20000
echo "all 20000 results are right, in input order"

step "client on host 2: tasq submit --range 1:1000000 --summary"
summary=$(client submit --range 1:1000000 --summary)
echo "$summary"
check_summary "$summary" 1000000

step "an overflowing task gets an error result (exit status 3)"
set +e
client submit 4000000000 >"$WORK/err.out"
rc=$?
set -e
cat "$WORK/err.out"
if [ "$rc" != 3 ] || ! grep -q '^4000000000 error: OUT_OF_RANGE' "$WORK/err.out"; then
	fail "expected OUT_OF_RANGE and exit 3, got exit $rc"
fi

step "tasq stats"
client stats

step "podman stop (SIGTERM) drains the workers, then stops the server"
t=$(date +%s%N)
podman_q stop -t 75 "$RUN_ID-worker2" "$RUN_ID-worker3" "$RUN_ID-worker4" >/dev/null
podman_q stop -t 30 "$RUN_ID-server" >/dev/null
echo "stopped in $(elapsed_since "$t") s"
codes=
for c in worker2 worker3 worker4 server; do
	code=$(podman inspect --format '{{.State.ExitCode}}' "$RUN_ID-$c")
	echo "$c exit status $code"
	codes+=$code
done
[ "$codes" = 0000 ] || fail "a container did not exit 0 on SIGTERM"
podman logs --tail 3 "$RUN_ID-worker3" 2>&1 | sed 's/^/worker3| /'
podman logs --tail 3 "$RUN_ID-server" 2>&1 | sed 's/^/server| /'

step "deploy.container_lan passed"
