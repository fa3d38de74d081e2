#!/usr/bin/env bash
# lib.lib_man: every function include/tasq/tasq.h declares (the common
# part and the client side) has a man page in docs/man (section 3): a
# page of its own that names it in its NAME section, or a
# ".so man3/OTHER.3" link to a page that does; every function such a
# page names is declared; groff formats each page without a warning
# (skipped when groff is missing). (tests/lib/libw_man.sh does the same
# for include/tasq/worker.h.)
set -u -o pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
hdr=$top/include/tasq/tasq.h
man=$top/docs/man
bad=0
say() { echo "lib_man: $*" >&2; bad=1; }

names_of() {
	awk '/^\.SH NAME/ { on = 1; next } on && /^\./ { exit }
	    on { print }' "$1" | tr '\n' ' ' | sed 's/ \\- .*//; s/,/ /g'
}

funcs=$(grep -oE '^TASQ_API [^(]*[ *]tasq_[a-z_0-9]+\(' "$hdr" |
    grep -oE 'tasq_[a-z_0-9]+\($' | tr -d '(' | sort -u)
[ "$(echo "$funcs" | wc -w)" -ge 40 ] ||
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
for page in "$man"/tasq_version.3 "$man"/tasq_err*.3 "$man"/tasq_opts_*.3 \
    "$man"/tasq_session_*.3 "$man"/tasq_aio_*.3 "$man"/tasq_job_*.3; do
	[[ $(head -n 1 "$page") == .so\ * ]] && continue
	for n in $(names_of "$page"); do
		grep -qx "$n" <<<"$funcs" ||
		    say "${page##*/} names $n, which tasq.h does not declare"
	done
	if command -v groff >/dev/null; then
		out=$(LC_ALL=C.UTF-8 groff -man -ww -z -Tutf8 "$page" 2>&1)
		[ -z "$out" ] || say "${page##*/}: groff: $out"
	fi
done
[ "$bad" = 0 ] && echo "lib_man: $(echo "$funcs" | wc -w) functions, every one documented"
exit "$bad"
