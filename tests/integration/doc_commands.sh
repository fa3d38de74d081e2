# doc_commands: every shell block of README.md and deploy/README.md is
# either run here, literally, or marked skipped with a reason, so that the
# commands the docs show cannot drift from the programs (HACKING.md,
# "Commands in the docs", explains the markers). doc_blocks.py extracts
# the blocks; the blocks of each file run in order, with bash -e, in a
# scratch environment of their own (doc_env.sh): private mount, network
# and PID namespaces (with a /proc of their own, which LeakSanitizer
# reads in sanitizer builds) with only a loopback interface that also carries
# 10.0.0.5 (tasq.lan), and a scratch /etc. The fixed ports the docs
# use are free there by construction. Skipped (77) where namespaces
# cannot be made.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 240

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../.." && pwd)
docs=(README.md deploy/README.md)

command -v python3 >/dev/null || fail "python3 is needed"
command -v unshare >/dev/null || { log "SKIP: no unshare"; exit 77; }
ns=(unshare --mount --net --pid --fork --kill-child --mount-proc)
[ "$(id -u)" = 0 ] || ns=(unshare --user --map-root-user --mount --net --pid
	--fork --kill-child --mount-proc)
if ! "${ns[@]}" true 2>"$T/unshare.log"; then
	log "SKIP: cannot make namespaces: $(cat "$T/unshare.log")"
	exit 77
fi

mkdir -p "$T/bin" "$T/clone"
ln -s "$(realpath "$TASQ_SERVER_BIN")" "$T/bin/tasq-server"
ln -s "$(realpath "$TASQ_WORKER_BIN")" "$T/bin/tasq-worker"
ln -s "$(realpath "$TASQ_CLIENT_BIN")" "$T/bin/tasq"
# A clone to run from: the tree's entries, read-only in spirit (what the
# blocks write in the working directory lands in $T/clone).
for e in "$src"/*; do
	ln -s "$e" "$T/clone/${e##*/}"
done

nrun=0
nskip=0
i=0
for d in "${docs[@]}"; do
	i=$((i + 1))
	python3 "$here/doc_blocks.py" "$T/blocks-$i" "$src/$d" \
	    >"$T/blocks-$i.txt" 2>"$T/blocks-$i.err" ||
	    fail "$d: $(cat "$T/blocks-$i.err")"
	scripts=()
	while read -r kind where rest; do
		if [ "$kind" = skip ]; then
			log "skipped ${where#"$src/"}: $rest"
			nskip=$((nskip + 1))
		else
			scripts+=("$rest")
			nrun=$((nrun + 1))
		fi
	done <"$T/blocks-$i.txt"
	[ "${#scripts[@]}" -gt 0 ] || continue
	mkdir -p "$T/env-$i"
	DOC_BLOCK_TIMEOUT=$((120 * FACTOR)) timeout -k 10 $((200 * FACTOR)) \
	    "${ns[@]}" bash "$here/doc_env.sh" "$T/env-$i" "$T/bin" \
	    "$T/clone" "${scripts[@]}" 2>"$T/doc_env-$i.log"
	st=$?
	if [ "$st" = 77 ]; then
		log "SKIP: $(cat "$T/doc_env-$i.log")"
		exit 77
	fi
	if [ "$st" != 0 ]; then
		for s in "${scripts[@]}"; do
			[ -f "$s.err" ] || continue
			echo "----- $(head -n 1 "$s") -----" >&2
			cat "$s" >&2
			echo "----- its stdout (last 10 lines) and stderr -----" >&2
			tail -n 10 "$s.out" >&2
			tail -n 30 "$s.err" >&2
		done
		fail "$d: a block failed (exit $st): $(tail -n 1 "$T/doc_env-$i.log")"
	fi
done
[ "$nrun" -gt 0 ] || fail "no block ran"
log "$nrun blocks ran, $nskip skipped with their reasons"
test_end
