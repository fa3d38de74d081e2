#!/usr/bin/env bash
# libw_man: every function include/tasq/worker.h declares has a man page
# in docs/man (section 3): a page of its own that names it, or a
# ".so man3/OTHER.3" link to a page whose NAME section names it; every
# function a page names is declared; groff formats each page without a
# warning (skipped when groff is missing).
set -u -o pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
hdr=$top/include/tasq/worker.h
man=$top/docs/man
bad=0
say() { echo "libw_man: $*" >&2; bad=1; }

# The NAME section's names of a page: the lines after .SH NAME up to the
# next request, before " \- ".
names_of() {
	awk '/^\.SH NAME/ { on = 1; next } on && /^\./ { exit }
	    on { print }' "$1" | tr '\n' ' ' | sed 's/ \\- .*//; s/,/ /g'
}

funcs=$(grep -oE '^TASQ_API [^(]*[ *]tasq_[a-z_0-9]+\(' "$hdr" |
    grep -oE 'tasq_[a-z_0-9]+\($' | tr -d '(' | sort -u)
[ "$(echo "$funcs" | wc -w)" -ge 30 ] ||
    say "found only $(echo "$funcs" | wc -w) functions in $hdr"
for f in $funcs; do
	page=$man/$f.3
	if [ ! -f "$page" ]; then
		say "$f: no page $page"
		continue
	fi
	target=$page
	if head -n 1 "$page" | grep -q '^\.so '; then
		target=$man/$(head -n 1 "$page" | sed 's/^\.so man3\///')
		[ -f "$target" ] || { say "$f: $page links to a missing page"; continue; }
	fi
	names_of "$target" | tr ' ' '\n' | grep -qx "$f" ||
	    say "$f: not named in the NAME section of ${target##*/}"
done
for page in "$man"/tasq_serve_*.3 "$man"/tasq_lease_*.3; do
	head -n 1 "$page" | grep -q '^\.so ' && continue
	for n in $(names_of "$page"); do
		echo "$funcs" | grep -qx "$n" ||
		    say "${page##*/} names $n, which worker.h does not declare"
	done
	if command -v groff >/dev/null; then
		out=$(LC_ALL=C.UTF-8 groff -man -ww -z -Tutf8 "$page" 2>&1)
		[ -z "$out" ] || say "${page##*/}: groff: $out"
	fi
done
[ "$bad" = 0 ] && echo "libw_man: $(echo "$funcs" | wc -w) functions, every one documented"
exit "$bad"
