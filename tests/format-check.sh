#!/usr/bin/env bash
# Fails when a C source or header is not formatted per .clang-format.
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
exit $bad
