#!/usr/bin/env bash
# gen-completions.sh OUTDIR TASQ-SERVER TASQ-WORKER TASQ: writes the bash
# and zsh completions of the three programs, generated from their own
# --help (and, for tasq, from its list of commands and each command's
# --help), so that they cannot drift from the option tables:
#
#   OUTDIR/bash/tasq-server  tasq-worker  tasq    (bash-completion names)
#   OUTDIR/zsh/_tasq-server  _tasq-worker  _tasq  (zsh #compdef files)
#
# What an option's value completes to comes from its --help line: FILE
# completes file names, DIR directories, and a help text that is a list
# of choices ("error, warn, info or debug", "TLS engine: openssl (TLS 1.3)
# or builtin", "always: ...; batch: ...; never: ...") completes those;
# any other value (URL, N, DURATION, ...) completes nothing.
# The build runs this (cmake/Completions.cmake); tests/integration/
# completions.sh checks the result.
set -euo pipefail
out=$1
server=$2
worker=$3
client=$4
export LC_ALL=C

# help PROG [ARGS...]: PROG ARGS --help. A ThreadSanitizer build may
# refuse to start with address space layout randomisation on: then again
# without it.
help() {
	local text
	text=$("$@" --help </dev/null 2>/dev/null) ||
	    text=$(setarch "$(uname -m)" -R "$@" --help </dev/null) || {
		echo "gen-completions.sh: $* --help failed" >&2
		return 1
	}
	[[ $text == *Options:* ]] || {
		echo "gen-completions.sh: $* --help lists no options" >&2
		return 1
	}
	printf '%s\n' "$text"
}

# spec HELP: one line per option of the --help text HELP:
# "LONG SHORT KIND DESCRIPTION" with SHORT "-" when there is none and
# KIND one of flag, file, dir, any, words:A,B,C.
spec() {
	local line long short meta text kind w
	while IFS= read -r line; do
		[[ $line =~ ^\ \ (-([A-Za-z0-9]),\ )?\ *--([a-z0-9-]+)(\ ([A-Z][A-Z:]*))?\ +(.*)$ ]] ||
		    continue
		short=-
		[ -z "${BASH_REMATCH[2]}" ] || short=-${BASH_REMATCH[2]}
		long=--${BASH_REMATCH[3]}
		meta=${BASH_REMATCH[5]}
		text=${BASH_REMATCH[6]}
		# Without "(default: ...)" and "[env ...]".
		text=${text% \[env *\]}
		text=${text% (default: *)}
		case $meta in
		'') kind=flag ;;
		FILE) kind='file' ;;
		DIR) kind='dir' ;;
		*) kind=any ;;
		esac
		if [ "$kind" = any ] && w=$(choices "$text"); then
			kind=words:$w
		fi
		printf '%s %s %s %s\n' "$long" "$short" "$kind" "$text"
	done <<<"$1"
}

# choices TEXT: the comma-separated words TEXT offers as choices.
choices() {
	local t=$1 w=() part
	# Parenthesised remarks go.
	while [[ $t =~ ^(.*)\ \([^\)]*\)(.*)$ ]]; do
		t=${BASH_REMATCH[1]}${BASH_REMATCH[2]}
	done
	# "always: ...; batch: ...; never: ..."
	if [[ $t == *';'* ]]; then
		IFS=';' read -ra parts <<<"$t"
		for part in "${parts[@]}"; do
			part=${part# }
			[[ $part =~ ^([a-z0-9.]+):\  ]] || return 1
			w+=("${BASH_REMATCH[1]}")
		done
	else
		t=${t##*: } # "TLS engine: openssl or builtin"
		t=${t##* as } # "log lines as text or json"
		[[ $t =~ ^(([a-z0-9.]+,\ )*[a-z0-9.]+)\ or\ ([a-z0-9.]+)$ ]] ||
		    return 1
		IFS=', ' read -ra w <<<"${BASH_REMATCH[1]}"
		w+=("${BASH_REMATCH[3]}")
	fi
	local IFS=,
	echo "${w[*]}"
}

# commands HELP: the commands a --help text lists under "Commands:".
commands() {
	awk '
		/^Commands:/ { on = 1; next }
		on && /^  [a-z]+  / { print $1; next }
		on && !/^   / { on = 0 }' <<<"$1"
}

mkdir -p "$out/bash" "$out/zsh"

# --- bash -----------------------------------------------------------------
# squote TEXT: TEXT made safe inside single quotes.
squote() {
	local q="'\\''"
	printf '%s' "${1//\'/$q}"
}

# One interpreter of the specs, shared by the three files (each defines it:
# a file may be loaded alone). Words are split at blanks from COMP_LINE,
# not COMP_WORDS, which bash also splits at ':' and '=' (tcp://h:1).
bash_common() {
	cat <<'EOF'
# _tasq_kind SPEC OPT: prints OPT's kind (flag, file, dir, any,
# words:A,B); returns 1 when SPEC has no such option.
_tasq_kind() {
	local long short kind desc
	while read -r long short kind desc; do
		if [ "$2" = "$long" ] || [ "$2" = "$short" ]; then
			echo "$kind"
			return 0
		fi
	done <<<"$1"
	return 1
}
# _tasq_value SPEC PREV CUR: completes the value of option PREV; returns
# 1 when PREV is not an option that takes one.
_tasq_value() {
	local kind w
	kind=$(_tasq_kind "$1" "$2") || return 1
	case $kind in
	flag) return 1 ;;
	file) compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -f -- "$3") ;;
	dir) compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -d -- "$3") ;;
	words:*) w=${kind#words:}
		mapfile -t COMPREPLY < <(compgen -W "${w//,/ }" -- "$3") ;;
	*) COMPREPLY=() ;;
	esac
	return 0
}
# _tasq_opts SPEC CUR: the options of SPEC that start with CUR.
_tasq_opts() {
	local long short kind desc words=
	while read -r long short kind desc; do
		words+=" $long"
		[ "$short" = - ] || words+=" $short"
	done <<<"$1"
	mapfile -t COMPREPLY < <(compgen -W "$words" -- "$2")
}
# _tasq_words: words (split at blanks), cword, cur and prev of the line
# up to the cursor; --opt=value gives prev --opt and cur value.
_tasq_words() {
	local line=${COMP_LINE:0:COMP_POINT}
	read -ra words <<<"$line"
	[[ $line == *[[:space:]] || ${#words[@]} = 0 ]] && words+=("")
	cword=$((${#words[@]} - 1))
	cur=${words[cword]}
	prev=
	((cword > 0)) && prev=${words[cword - 1]}
	if [[ $cur == --*=* ]]; then
		prev=${cur%%=*}
		cur=${cur#*=}
	fi
}
EOF
}

# bash_single PROG BIN: the file of a program without commands.
bash_single() {
	local prog=$1 ht=$2 fn # ht: its --help text
	fn=_${prog//-/_}
	{
		echo "# bash completion for $prog: generated from '$prog --help'"
		echo "# by cmake/gen-completions.sh; do not edit."
		bash_common
		echo "${fn}_spec='$(squote "$(spec "$ht")")'"
		cat <<EOF
$fn() {
	local cur prev cword words
	_tasq_words
	COMPREPLY=()
	_tasq_value "\$${fn}_spec" "\$prev" "\$cur" && return 0
	[[ \$cur == -* ]] && _tasq_opts "\$${fn}_spec" "\$cur"
	return 0
}
complete -F $fn $prog
EOF
	} >"$out/bash/$prog"
}

bash_tasq() {
	local ht=$1 c cmds
	cmds=$(commands "$ht" | tr '\n' ' ')
	cmds=${cmds% }
	{
		echo "# bash completion for tasq: generated from 'tasq --help' and"
		echo "# 'tasq COMMAND --help' by cmake/gen-completions.sh; do not edit."
		bash_common
		echo "_tasq_commands='$cmds'"
		echo "_tasq_spec_='$(squote "$(spec "$ht")")'"
		for c in $cmds; do
			echo "_tasq_spec_${c//-/_}='$(squote "$(spec "${help_cmd[$c]}")")'"
		done
		cat <<'EOF'
_tasq() {
	local cur prev cword words cmd= i w kind spec
	_tasq_words
	# The command is the first word that is neither an option nor the
	# value of one.
	for ((i = 1; i < cword; i++)); do
		w=${words[i]}
		if [[ $w == -* ]]; then
			[[ $w == *=* ]] && continue
			kind=$(_tasq_kind "$_tasq_spec_" "$w") || continue
			[ "$kind" = flag ] || i=$((i + 1))
			continue
		fi
		cmd=$w
		break
	done
	COMPREPLY=()
	spec=_tasq_spec_${cmd//-/_}
	spec=${!spec-$_tasq_spec_}
	_tasq_value "$spec" "$prev" "$cur" && return 0
	if [[ $cur == -* ]]; then
		_tasq_opts "$spec" "$cur"
	elif [ -z "$cmd" ]; then
		mapfile -t COMPREPLY < <(compgen -W "$_tasq_commands" -- "$cur")
	fi
	return 0
}
complete -F _tasq tasq
EOF
	} >"$out/bash/tasq"
}

# --- zsh ------------------------------------------------------------------
# zsh_args SPEC-LINES: one _arguments spec per option, one a line.
zsh_args() {
	local long short kind desc action
	while read -r long short kind desc; do
		# Characters _arguments gives a meaning to go.
		desc=${desc//[\[\]:\'\\\`\$]/ }
		case $kind in
		flag) action= ;;
		file) action=":file:_files" ;;
		dir) action=":directory:_files -/" ;;
		words:*) action=":value:(${kind#words:})"
			action=${action//,/ } ;;
		*) action=":value: " ;;
		esac
		if [ "$short" = - ]; then
			printf "\t'%s[%s]%s' \\\\\n" "$long" "$desc" "$action"
		else
			printf "\t'(%s %s)'{%s,%s}'[%s]%s' \\\\\n" "$short" "$long" \
			    "$short" "$long" "$desc" "$action"
		fi
	done
}

zsh_single() {
	local prog=$1 ht=$2
	{
		echo "#compdef $prog"
		echo "# zsh completion for $prog: generated from '$prog --help'"
		echo "# by cmake/gen-completions.sh; do not edit."
		echo "_arguments -s -S \\"
		spec "$ht" | zsh_args
		echo "	&& return 0"
		echo "return 1"
	} >"$out/zsh/_$prog"
}

zsh_tasq() {
	local ht=$1 c cmds
	cmds=$(commands "$ht")
	{
		echo "#compdef tasq"
		echo "# zsh completion for tasq: generated from 'tasq --help' and"
		echo "# 'tasq COMMAND --help' by cmake/gen-completions.sh; do not edit."
		echo "local curcontext=\$curcontext state line ret=1"
		echo "typeset -A opt_args"
		echo "_arguments -C -s \\"
		spec "$ht" | zsh_args
		echo "	'1:command:->command' \\"
		echo "	'*::argument:->argument' && ret=0"
		echo "case \$state in"
		echo "command)"
		echo "	local -a cmds"
		echo "	cmds=("
		awk '
			/^Commands:/ { on = 1; next }
			on && /^  [a-z]+  / {
				d = $0; sub(/^  [a-z]+ +/, "", d)
				gsub(/[\[\]:\047\\`$]/, " ", d)
				printf "\t\t\047%s:%s\047\n", $1, d; next }
			on && !/^   / { on = 0 }' <<<"$ht"
		echo "	)"
		echo "	_describe -t commands 'tasq command' cmds && ret=0"
		echo "	;;"
		echo "argument)"
		echo "	curcontext=\${curcontext%:*:*}:tasq-\$words[1]:"
		echo "	case \$words[1] in"
		for c in $cmds; do
			echo "	$c)"
			echo "		_arguments -s -S \\"
			spec "${help_cmd[$c]}" | zsh_args | sed 's/^/\t/'
			echo "			'*:argument: ' && ret=0"
			echo "		;;"
		done
		echo "	esac"
		echo "	;;"
		echo "esac"
		echo "return ret"
	} >"$out/zsh/_tasq"
}

# Every --help first, so that a program that fails stops the build.
help_server=$(help "$server")
help_worker=$(help "$worker")
help_client=$(help "$client")
declare -A help_cmd
for c in $(commands "$help_client"); do
	help_cmd[$c]=$(help "$client" "$c")
done
[ "${#help_cmd[@]}" -gt 0 ] || {
	echo "gen-completions.sh: $client --help lists no commands" >&2
	exit 1
}

bash_single tasq-server "$help_server"
bash_single tasq-worker "$help_worker"
bash_tasq "$help_client"
zsh_single tasq-server "$help_server"
zsh_single tasq-worker "$help_worker"
zsh_tasq "$help_client"
