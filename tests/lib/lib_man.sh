#!/usr/bin/env bash
# lib_man.sh NAME HEADER MIN PREFIX...: every function HEADER
# (include/tasq/HEADER) declares has a man page in docs/man (section 3):
# a page of its own that names it in its NAME section, or a
# ".so man3/OTHER.3" link to a page that does; every function a page
# whose name starts with one of the PREFIXes names is declared; groff
# formats each such page without a warning (skipped when groff is
# missing); HEADER declares at least MIN functions. lib.lib_man runs it
# for tasq.h (the common part and the client side), lib.libw_man for
# worker.h.
set -u -o pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
name=$1 hdr=$top/include/tasq/$2 min=$3
shift 3
man=$top/docs/man
bad=0
say() { echo "$name: $*" >&2; bad=1; }

names_of() {
	awk '/^\.SH NAME/ { on = 1; next } on && /^\./ { exit }
	    on { print }' "$1" | tr '\n' ' ' | sed 's/ \\- .*//; s/,/ /g'
}

funcs=$(grep -oE '^TASQ_API [^(]*[ *]tasq_[a-z_0-9]+\(' "$hdr" |
    grep -oE 'tasq_[a-z_0-9]+\($' | tr -d '(' | sort -u)
[ "$(echo "$funcs" | wc -w)" -ge "$min" ] ||
    say "found only $(echo "$funcs" | wc -w) functions in $hdr"
for f in $funcs; do
	page=$man/$f.3
	if [ ! -f "$page" ]; then
		say "$f: no page $page"
		continue
	fi
	target=$page
	if [[ $(head -n 1 "$page") == .so\ * ]]; then
		target=$man/$(head -n 1 "$page" | sed 's/^\.so man3\///')
		[ -f "$target" ] || { say "$f: $page links to a missing page"; continue; }
	fi
	# (here-strings, not pipes into grep -q: under pipefail the
	# writer's SIGPIPE would fail the check when grep exits first)
	grep -qx "$f" <<<"$(names_of "$target" | tr ' ' '\n')" ||
	    say "$f: not named in the NAME section of ${target##*/}"
done
pages=()
for prefix in "$@"; do
	pages+=("$man/$prefix"*.3)
done
for page in "${pages[@]}"; do
	[[ $(head -n 1 "$page") == .so\ * ]] && continue
	for n in $(names_of "$page"); do
		grep -qx "$n" <<<"$funcs" ||
		    say "${page##*/} names $n, which ${hdr##*/} does not declare"
	done
	if command -v groff >/dev/null; then
		out=$(LC_ALL=C.UTF-8 groff -man -ww -z -Tutf8 "$page" 2>&1)
		[ -z "$out" ] || say "${page##*/}: groff: $out"
	fi
done
[ "$bad" = 0 ] && echo "$name: $(echo "$funcs" | wc -w) functions, every one documented"
exit "$bad"
