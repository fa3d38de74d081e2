# complete_zsh.zsh COMPDIR OUT LINE...: types each LINE and a TAB into an
# interactive zsh (zsh -f -i under zsh/zpty) whose fpath starts with
# COMPDIR, and writes to OUT one line per LINE: the matches the completion
# offered (sorted, blank-separated). A compadd wrapper records the matches;
# ^X, typed after the TAB, writes them out and clears the line. Each line
# is waited for at most 5 s (100 polls of the output file). Used by
# completions.sh.
zmodload zsh/zpty || exit 2
dir=$1 out=$2
shift 2
: >$out
zpty z zsh -f -i
zpty -w z "PS1='> '; fpath=($dir \$fpath); autoload -Uz compinit; compinit -u -D"
zpty -w z "compadd() { local -a m; builtin compadd -O m \"\$@\"; print -r -- \"\${(j: :)m}\" >>$out.tmp; builtin compadd \"\$@\" }"
zpty -w z "done_() { print -r -- \"\$(tr ' ' '\\n' <$out.tmp 2>/dev/null | sort -u | tr '\\n' ' ')\" >>$out; rm -f $out.tmp; BUFFER=; }; zle -N done_; bindkey '^X' done_"
n=0
for line in "$@"; do
	n=$((n + 1))
	zpty -w -n z "$line"$'\t'$'\x18'
	for ((i = 0; i < 100; i++)); do
		zpty -r -t z l 2>/dev/null # drain the terminal
		[ $(wc -l <$out) -ge $n ] && break
		sleep 0.05
	done
	[ $(wc -l <$out) -ge $n ] || { print -u2 "no answer to: $line"; exit 1 }
done
zpty -d z
