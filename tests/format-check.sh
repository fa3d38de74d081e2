#!/usr/bin/env bash
# Fails when a C source or header is not formatted per .clang-format, or
# when a test script pipes into grep -q: the harnesses run under pipefail,
# and grep -q's exit at its first match can kill the writer with SIGPIPE,
# failing the pipe although the line was there (a CI dry run saw
# integration.typed_dead fail so). `cmd | grep >/dev/null -c PATTERN`
# reads everything; `grep -q PATTERN <<<"$out"` pipes nothing.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
bad=0
for f in $(git ls-files '*.c' '*.h' 2>/dev/null || find lib server worker client tests bench -name '*.[ch]'); do
	if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
		echo "not formatted: $f (run clang-format -i $f)"
		bad=1
	fi
done
# A pipe into grep -q, on one line or after a line that ends with |.
piped=$(git ls-files 'tests/*.sh' 'deploy/*.sh' 'bench/*.sh' 2>/dev/null |
	xargs -r awk '
	    /^[ \t]*#/ { prev = ""; next }
	    /\|[ \t]*grep -q/ { print FILENAME ":" FNR ": " $0 }
	    prev ~ /\|[ \t]*\\?$/ && /^[ \t]*grep -q/ {
		    print FILENAME ":" FNR ": " $0
	    }
	    { prev = $0 }')
if [ -n "$piped" ]; then
	echo "a pipe into grep -q (under pipefail, grep's early exit can fail it;"
	echo "use grep >/dev/null -c):"
	echo "$piped"
	bad=1
fi
exit $bad
