#!/usr/bin/env bash
# deploy.config_example: deploy/tasq-server.conf.example is a valid
# configuration as it stands and with every commented-out setting turned
# on, and it lists every setting of tasq-server --help.
# usage: config_example.sh TASQ-SERVER
set -euo pipefail
server=$1
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

echo "== the example names every setting of --help"
missing=
for o in $("$server" --help | sed -nE 's/^ +(-[a-z], )?--([a-z0-9-]+).*/\2/p'); do
	case $o in config | check-config | help | version) continue ;; esac
	grep -Eq "^#?$o( |$)" "$example" || missing="$missing $o"
done
if [ -n "$missing" ]; then
	echo "FAIL: not in $example:$missing"
	exit 1
fi
echo "every setting is there"
