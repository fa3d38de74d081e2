# completions: the bash and zsh completions that the build generates from
# the programs' --help (cmake/gen-completions.sh) name every option of
# tasq-server, tasq-worker, tasq and each tasq command, and every command;
# they complete option names, commands and the values of options with
# choices or files, typed as a user would (bash: the completion function
# on COMP_LINE; zsh: TAB in an interactive zsh, complete_zsh.zsh); and
# cmake --install puts them where bash-completion and zsh look.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 2
test_begin 60

build=$(cd "$(dirname "$TASQ_CLIENT_BIN")/.." && pwd)
comp=$build/completions
for f in bash/tasq bash/tasq-server bash/tasq-worker zsh/_tasq \
    zsh/_tasq-server zsh/_tasq-worker; do
	[ -s "$comp/$f" ] || fail "no $comp/$f (the build makes it)"
done

# options HELP-TEXT: every --long and -s of a --help text, one a line.
options() {
	grep -oE '^  (-[A-Za-z0-9], )? *--[a-z0-9-]+' <<<"$1" |
	    grep -oE -- '-[A-Za-z0-9]\b|--[a-z0-9-]+'
}

# has FILE WORD WHAT: FILE names WORD as a word of its own.
has() {
	grep -qE -- "(^|[^a-z0-9-])$2([^a-z0-9-]|\$)" "$1" ||
	    fail "$1 lacks $2 ($3)"
}

n=0
for p in "$TASQ_SERVER_BIN:tasq-server" "$TASQ_WORKER_BIN:tasq-worker"; do
	bin=${p%%:*} name=${p#*:}
	for o in $(options "$("$bin" --help)"); do
		has "$comp/bash/$name" "$o" "$name $o"
		has "$comp/zsh/_$name" "$o" "$name $o"
		n=$((n + 1))
	done
done
cmds=$("$TASQ_CLIENT_BIN" --help |
    awk '/^Commands:/ { on = 1; next } on && /^  [a-z]+  / { print $1 }')
[ -n "$cmds" ] || fail "tasq --help lists no commands"
for c in "" $cmds; do
	# shellcheck disable=SC2086 # no command: no word
	for o in $(options "$("$TASQ_CLIENT_BIN" $c --help)"); do
		has "$comp/bash/tasq" "$o" "tasq $c $o"
		has "$comp/zsh/_tasq" "$o" "tasq $c $o"
		n=$((n + 1))
	done
	[ -z "$c" ] && continue
	has "$comp/bash/tasq" "$c" "command $c"
	has "$comp/zsh/_tasq" "$c" "command $c"
done
log "$n options of 3 programs and their commands in both"

# bash: the completion function on a line typed up to its end.
bash_complete() {
	local file=$1 fn=$2 line=$3
	bash -c '. "$1"; COMP_LINE=$3; COMP_POINT=${#3}; COMPREPLY=()
		"$2"; [ ${#COMPREPLY[@]} = 0 ] || printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' \
	    bash "$file" "$fn" "$line"
}
mkdir -p "$T/dir.d"
: >"$T/file.key"
cases=(
	"tasq-server|tasq-server --log-|--log-format --log-level "
	"tasq-server|tasq-server --log-level |debug error info warn "
	"tasq-server|tasq-server --fsync=b|batch "
	"tasq-server|tasq-server --tls-engine |builtin openssl "
	"tasq-server|tasq-server -d $T/dir|$T/dir.d "
	"tasq-server|tasq-server --listen tcp://127.0.0.1:1 --max-att|--max-attempts "
	"tasq-worker|tasq-worker --key-file $T/file.|$T/file.key "
	"tasq-worker|tasq-worker --tls-min-version |1.2 1.3 "
	"tasq|tasq |cancel dead health jobs results stats status submit wait "
	"tasq|tasq --server tcp://127.0.0.1:7070 -k $T/file.key su|submit "
	"tasq|tasq --server tcp://127.0.0.1:7070 stats --fo|--format "
	"tasq|tasq stats --format j|json jsonl "
	"tasq|tasq submit --format |csv jsonl text "
	"tasq|tasq health --w|--wait "
	"tasq|tasq --sum|"
)
for c in "${cases[@]}"; do
	IFS='|' read -r prog line want <<<"$c"
	fn=_${prog//-/_}
	got=$(bash_complete "$comp/bash/$prog" "$fn" "$line")
	[ "$got" = "$want" ] || fail "bash: '$line<TAB>' gave '$got', want '$want'"
done
log "${#cases[@]} bash completions right"

# zsh, when there is one: TAB in an interactive shell.
if command -v zsh >/dev/null; then
	zcases=(
		"tasq-server --log-level |debug error info warn "
		"tasq su|submit "
		"tasq stats --for|--format "
		"tasq --server tcp://127.0.0.1:1 submit --format |csv jsonl text "
		"tasq-worker --tls-min-version |1.2 1.3 "
		"tasq-server --fsync |always batch never "
	)
	lines=()
	for c in "${zcases[@]}"; do
		lines+=("${c%%|*}")
	done
	timeout -k 5 $((30 * FACTOR)) zsh "$(dirname "${BASH_SOURCE[0]}")/complete_zsh.zsh" \
	    "$comp/zsh" "$T/zsh.out" "${lines[@]}" >/dev/null 2>"$T/zsh.log" ||
	    fail "zsh completion driver failed: $(cat "$T/zsh.log")"
	i=0
	for c in "${zcases[@]}"; do
		i=$((i + 1))
		got=$(sed -n "${i}p" "$T/zsh.out")
		# zsh may add an empty match from other sources; compare words.
		got=$(tr ' ' '\n' <<<"$got" | grep . | sort -u | tr '\n' ' ')
		[ "$got" = "${c#*|}" ] ||
		    fail "zsh: '${c%%|*}<TAB>' gave '$got', want '${c#*|}'"
	done
	log "${#zcases[@]} zsh completions right"
else
	log "no zsh here: only the zsh file's content was checked"
fi

# cmake --install puts them where bash-completion and zsh look.
DESTDIR=$T/inst timeout -k 5 $((60 * FACTOR)) cmake --install "$build" \
    --prefix /usr >"$T/install.log" 2>&1 ||
    fail "cmake --install failed: $(tail -n 5 "$T/install.log")"
for f in bash-completion/completions/tasq \
    bash-completion/completions/tasq-server \
    bash-completion/completions/tasq-worker zsh/vendor-completions/_tasq \
    zsh/vendor-completions/_tasq-server zsh/vendor-completions/_tasq-worker; do
	[ -s "$T/inst/usr/share/$f" ] || fail "not installed: /usr/share/$f"
done
test_end
