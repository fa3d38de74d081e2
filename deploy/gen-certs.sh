#!/usr/bin/env bash
# Makes the certificates of a tasq installation with openssl, once:
#   ca.pem, ca.key           a private certificate authority (keep ca.key
#                            offline; only ca.pem goes to the machines)
#   server.pem, server.key   tasq-server's certificate, whose subject
#                            alternative names are the DNS names and IP
#                            addresses given as arguments; good for
#                            client authentication too, since a server
#                            shows it to its --peers as a client when
#                            they require client certificates
#   client-NAME.pem/.key     a client certificate per -c NAME, for a server
#                            run with --tls-client-ca ca.pem
# An existing CA in the directory is reused, so that clients can be added
# later (gen-certs.sh -c NAME, without names); existing files are never
# overwritten. Keys are EC P-256 and mode 0600.
#
# usage: gen-certs.sh [-o DIR] [-d DAYS] [-c CLIENT]... [NAME|IP]...
#   -o DIR     write here (default: ./tasq-certs)
#   -d DAYS    validity of the new certificates (default: 825)
#   -c CLIENT  also make client-CLIENT.pem (repeatable)
# e.g.: gen-certs.sh -o /etc/tasq/tls -c worker -c ops \
#           tasq.lan tasq-server.tasq.svc.cluster.local 10.0.0.5
#
# With Debian's nng (mbedTLS) a client checks a DNS name of the server
# certificate: connect to tls+tcp://tasq.lan:7070 (or give
# --tls-server-name), not to an IP address.
set -euo pipefail
umask 077

usage() {
	sed -n 's/^# \{0,1\}//; /^usage:/,/^$/p' "$0" | sed '/^$/d' >&2
	exit 2
}

dir=./tasq-certs
days=825
clients=()
while getopts "o:d:c:h" opt; do
	case $opt in
	o) dir=$OPTARG ;;
	d) days=$OPTARG ;;
	c) clients+=("$OPTARG") ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
names=("$@")
case $days in '' | *[!0-9]*) usage ;; esac
for c in "${clients[@]}"; do
	case $c in '' | *[!A-Za-z0-9._-]*)
		echo "gen-certs: client name '$c': use letters, digits, . _ -" >&2
		exit 2
		;;
	esac
done
if [ ${#names[@]} -eq 0 ] && [ ${#clients[@]} -eq 0 ]; then
	usage
fi
command -v openssl >/dev/null || {
	echo "gen-certs: openssl not found (apt-get install openssl)" >&2
	exit 1
}

mkdir -p "$dir"
cd "$dir"
wrote=()
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

refuse_existing() {
	for f in "$@"; do
		if [ -e "$f" ]; then
			echo "gen-certs: $dir/$f exists; remove it to make a new one" >&2
			exit 1
		fi
	done
}

# newkey FILE: an EC P-256 private key, readable by its owner only.
newkey() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$1" 2>"$tmp/log" || { cat "$tmp/log" >&2; exit 1; }
	chmod 600 "$1"
}

# sign NAME CN EXTFILE: NAME.key -> NAME.pem, signed by the CA.
sign() {
	openssl req -new -key "$1.key" -subj "/CN=$2" -out "$tmp/$1.csr" \
		2>"$tmp/log" || { cat "$tmp/log" >&2; exit 1; }
	openssl x509 -req -in "$tmp/$1.csr" -CA ca.pem -CAkey ca.key \
		-CAcreateserial -CAserial "$tmp/ca.srl" -days "$days" \
		-sha256 -extfile "$3" -out "$1.pem" 2>"$tmp/log" ||
		{ cat "$tmp/log" >&2; exit 1; }
	chmod 644 "$1.pem"
}

if [ -e ca.pem ] && [ -e ca.key ]; then
	echo "gen-certs: using the existing CA $dir/ca.pem"
else
	refuse_existing ca.pem ca.key
	newkey ca.key
	openssl req -x509 -new -key ca.key -subj "/CN=tasq CA" \
		-days "$((days + 365))" -sha256 \
		-addext basicConstraints=critical,CA:TRUE,pathlen:0 \
		-addext keyUsage=critical,keyCertSign,cRLSign \
		-out ca.pem 2>"$tmp/log" || { cat "$tmp/log" >&2; exit 1; }
	chmod 644 ca.pem
	wrote+=("ca.pem  the CA certificate: --tls-ca on workers and clients, --tls-client-ca on the server")
	wrote+=("ca.key  the CA's private key: keep it offline")
fi

if [ ${#names[@]} -gt 0 ]; then
	refuse_existing server.pem server.key
	san=
	for n in "${names[@]}"; do
		# an IPv4 or IPv6 address, or else a DNS name
		if [[ $n =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ || $n == *:* ]]; then
			san+=${san:+,}IP:$n
		elif [[ $n =~ ^[A-Za-z0-9*]([A-Za-z0-9.*-]*[A-Za-z0-9])?$ ]]; then
			san+=${san:+,}DNS:$n
		else
			echo "gen-certs: '$n' is neither a DNS name nor an IP address" >&2
			exit 2
		fi
	done
	# clientAuth too: under mutual TLS a server dials its --peers with
	# this certificate (tasq-server(8), --peers-tls-cert).
	printf '%s\n' "subjectAltName=$san" "basicConstraints=critical,CA:FALSE" \
		"keyUsage=critical,digitalSignature,keyEncipherment" \
		"extendedKeyUsage=serverAuth,clientAuth" >"$tmp/server.ext"
	newkey server.key
	sign server "${names[0]}" "$tmp/server.ext"
	wrote+=("server.pem  server certificate for $san (server and client authentication): --tls-cert")
	wrote+=("server.key  its private key: --tls-key (readable by the server only)")
fi

for c in "${clients[@]}"; do
	refuse_existing "client-$c.pem" "client-$c.key"
	printf '%s\n' "basicConstraints=critical,CA:FALSE" \
		"keyUsage=critical,digitalSignature" \
		"extendedKeyUsage=clientAuth" >"$tmp/client.ext"
	newkey "client-$c.key"
	sign "client-$c" "$c" "$tmp/client.ext"
	wrote+=("client-$c.pem  client certificate CN=$c: --tls-cert on a worker or client")
	wrote+=("client-$c.key  its private key: --tls-key")
done

echo "gen-certs: wrote in $(pwd):"
for w in "${wrote[@]}"; do
	echo "  $w"
done
if [ ${#names[@]} -gt 0 ]; then
	echo "gen-certs: check with: openssl x509 -in $(pwd)/server.pem -noout -text"
fi
