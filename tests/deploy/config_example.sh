#!/usr/bin/env bash
# deploy.config_example: deploy/tasq-server.conf.example is a valid
# configuration as it stands and with every commented-out setting turned
# on, and it lists every setting of tasq-server --help; the same for
# deploy/tasq-worker.conf.example and tasq-worker (the package's
# /etc/tasq/tasq-server.conf and /etc/tasq/worker-main.conf).
# usage: config_example.sh TASQ-SERVER TASQ-WORKER
set -euo pipefail
server=$1
worker=$2
top=$(cd "$(dirname "$0")/../.." && pwd)
example=$top/deploy/tasq-server.conf.example
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

head -c 32 /dev/urandom | base64 | tr -d '\n' >"$work/key"
chmod 600 "$work/key"

echo "== as it stands (its key-file replaced by a flag, which takes precedence)"
"$server" --config "$example" --key-file "$work/key" --check-config

echo "== every setting on, TLS files from deploy/gen-certs.sh"
"$top/deploy/gen-certs.sh" -o "$work/tls" -d 2 localhost 127.0.0.1 >/dev/null
sed -E -e 's/^#([a-z][a-z0-9-]* )/\1/' \
	-e "s|^key-file .*|key-file $work/key|" \
	-e "s|^listen .*|listen tls+tcp://127.0.0.1:0|" \
	-e "s|^tls-cert .*|tls-cert $work/tls/server.pem|" \
	-e "s|^tls-key .*|tls-key $work/tls/server.key|" \
	-e "s|^tls-client-ca .*|tls-client-ca $work/tls/ca.pem|" \
	-e "s|^data-dir .*|data-dir $work/data|" \
	-e "s|^ready-file .*|ready-file $work/url|" \
	"$example" >"$work/all.conf"
grep -c '^[a-z]' "$work/all.conf" | sed 's/$/ settings on/'
"$server" --config "$work/all.conf" --check-config

# every_setting PROGRAM EXAMPLE: EXAMPLE names every setting of PROGRAM --help
every_setting() {
	local o missing=
	for o in $("$1" --help | sed -nE 's/^ +(-[a-z], )?--([a-z0-9-]+).*/\2/p'); do
		case $o in config | check-config | help | version) continue ;; esac
		grep -Eq "^#?$o( |$)" "$2" || missing="$missing $o"
	done
	if [ -n "$missing" ]; then
		echo "FAIL: not in $2:$missing"
		exit 1
	fi
	echo "every setting is there"
}
echo "== the example names every setting of --help"
every_setting "$server" "$example"

wexample=$top/deploy/tasq-worker.conf.example
echo "== worker: as it stands (its key-file replaced by a flag)"
"$worker" --config "$wexample" --key-file "$work/key" --check-config
echo "== worker: every setting on, TLS files from deploy/gen-certs.sh"
"$top/deploy/gen-certs.sh" -o "$work/tls" -d 2 -c w1 >/dev/null
# (tasq-worker --check-config opens the TLS files: they must exist)
ls "$work/tls/ca.pem" "$work/tls/client-w1.pem" "$work/tls/client-w1.key" >/dev/null
sed -E -e 's/^#([a-z][a-z0-9-]* )/\1/' \
	-e "s|^key-file .*|key-file $work/key|" \
	-e "s|^server .*|server tls+tcp://localhost:7070|" \
	-e "s|^tls-ca .*|tls-ca $work/tls/ca.pem|" \
	-e "s|^tls-server-name .*|tls-server-name localhost|" \
	-e "s|^tls-cert .*|tls-cert $work/tls/client-w1.pem|" \
	-e "s|^tls-key .*|tls-key $work/tls/client-w1.key|" \
	"$wexample" >"$work/worker-all.conf"
grep -c '^[a-z]' "$work/worker-all.conf" | sed 's/$/ settings on/'
"$worker" --config "$work/worker-all.conf" --check-config
echo "== worker: the example names every setting of --help"
every_setting "$worker" "$wexample"
