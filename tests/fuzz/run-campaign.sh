#!/usr/bin/env bash
# run-campaign.sh SECONDS [TARGET...]: builds the libFuzzer targets with
# clang in build-fuzz/ (-DTASQ_FUZZ=ON) and fuzzes each one for SECONDS,
# at most TASQ_FUZZ_JOBS (default 2) at a time. Prints, per target, the
# inputs executed, exec/s and the crash files found, with the sanitizer's
# one-line summary of each distinct crash.
#
# Each target reads its committed seeds (tests/fuzz/corpus/<target>/, never
# written) and grows a working corpus in build-fuzz/campaign/<target>/
# corpus/, kept between campaigns. Crash files go to
# build-fuzz/campaign/<target>/artifacts/; minimise one with
#   build-fuzz/tests/fuzz/<target> -minimize_crash=1 -runs=10000 FILE
# and commit it as tests/fuzz/corpus/<target>/crash-<sha1>.
#
# When a target crashes before its time is up (a committed crash seed that
# is not fixed yet, or a new crash), the rest of its time runs in
# libFuzzer's fork mode with -ignore_crashes=1, so that one bug does not
# end the search for others.
#
# Environment: TASQ_FUZZ_BUILD (build directory), TASQ_FUZZ_JOBS,
# TASQ_FUZZ_ARGS (more libFuzzer flags); the targets' own variables
# (TASQ_FUZZ_AVOID, TASQ_FUZZ_RESET_EVERY: see fuzz_service.c) pass through.
set -euo pipefail

all_targets=(fuzz_envelope fuzz_wire_req fuzz_wire_rep fuzz_conf fuzz_service
	fuzz_journal)

usage() {
	echo "usage: $0 SECONDS [TARGET...]  (targets: ${all_targets[*]})" >&2
	exit 2
}

[[ $# -ge 1 && $1 =~ ^[0-9]+$ && $1 -gt 0 ]] || usage
secs=$1
shift
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
	[[ " ${all_targets[*]} " == *" $t "* ]] || usage
done

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${TASQ_FUZZ_BUILD:-$root/build-fuzz}
jobs=${TASQ_FUZZ_JOBS:-2}
extra=${TASQ_FUZZ_ARGS:-}
out=$build/campaign

mkdir -p "$out"
if ! cmake -S "$root" -B "$build" -DTASQ_FUZZ=ON -DCMAKE_C_COMPILER=clang \
	>"$out/build.log" 2>&1 ||
	! cmake --build "$build" -j"$jobs" --target "${targets[@]}" \
		>>"$out/build.log" 2>&1; then
	cat "$out/build.log" >&2
	echo "$0: build failed" >&2
	exit 1
fi

# The last "#N" line libFuzzer printed (fork mode has no final stats).
last_count() {
	grep -aoE '^#[0-9]+' "$1" 2>/dev/null | tail -n 1 | tr -d '#' || true
}

# run TARGET: fuzzes it for secs seconds; writes $out/TARGET/summary.
run() {
	local t=$1 d=$out/$1 bin=$build/tests/fuzz/$1
	local seeds=$root/tests/fuzz/corpus/$1
	local start left rc n1 n2
	mkdir -p "$d/corpus" "$d/artifacts"
	rm -f "$d"/fuzz.log "$d"/fork.log "$d"/summary
	start=$(date +%s)
	set +e
	# shellcheck disable=SC2086 # TASQ_FUZZ_ARGS is a list of flags
	(cd "$d" && "$bin" -max_total_time="$secs" -max_len=65536 \
		-timeout=20 -print_final_stats=1 \
		-artifact_prefix="$d/artifacts/" $extra \
		"$d/corpus" "$seeds") >"$d/fuzz.log" 2>&1
	rc=$?
	set -e
	n1=$(sed -n 's/^stat::number_of_executed_units: *//p' "$d/fuzz.log" |
		tail -n 1)
	[[ -n $n1 ]] || n1=$(last_count "$d/fuzz.log")
	n2=0
	left=$((secs - ($(date +%s) - start)))
	if [[ $rc -ne 0 && $left -gt 2 ]]; then
		set +e
		# shellcheck disable=SC2086
		(cd "$d" && "$bin" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 \
			-ignore_ooms=1 -max_total_time="$left" -max_len=65536 \
			-timeout=20 -artifact_prefix="$d/artifacts/" $extra \
			"$d/corpus" "$seeds") >"$d/fork.log" 2>&1
		set -e
		n2=$(last_count "$d/fork.log")
	fi
	echo "${n1:-0} ${n2:-0} $rc" >"$d/summary"
}

running=0
for t in "${targets[@]}"; do
	if [[ $running -ge $jobs ]]; then
		wait -n || true
		running=$((running - 1))
	fi
	echo "fuzzing $t for ${secs}s ..."
	run "$t" &
	running=$((running + 1))
done
wait || true

echo
printf '%-15s %12s %9s %8s\n' target executions exec/s crashes
status=0
for t in "${targets[@]}"; do
	d=$out/$t
	read -r n1 n2 _ <"$d/summary" || { n1=0 n2=0; }
	total=$((n1 + n2))
	shopt -s nullglob
	crashes=("$d"/artifacts/{crash,leak,timeout,oom}-*)
	shopt -u nullglob
	printf '%-15s %12d %9d %8d%s\n' "$t" "$total" $((total / secs)) \
		"${#crashes[@]}" "$([[ $n2 -gt 0 ]] && echo '  (fork mode after a crash)')"
	[[ ${#crashes[@]} -eq 0 ]] || status=1
done
for t in "${targets[@]}"; do
	d=$out/$t
	shopt -s nullglob
	crashes=("$d"/artifacts/{crash,leak,timeout,oom}-*)
	shopt -u nullglob
	[[ ${#crashes[@]} -gt 0 ]] || continue
	echo
	echo "$t: ${#crashes[@]} crash file(s) in $d/artifacts/"
	# Replay up to 50 of them to group them by what went wrong.
	for f in "${crashes[@]:0:50}"; do
		why=$("$build/tests/fuzz/$t" -runs=1 "$f" 2>&1 || true)
		why=$(grep -aE -m 1 'SUMMARY:|check failed|ERROR: libFuzzer' \
			<<<"$why" || echo "(does not reproduce alone)")
		echo "$why	$(basename "$f")"
	done | sort | awk -F'\t' '{ n[$1]++; if (!($1 in f)) f[$1] = $2 }
		END { for (k in n) printf "  %4d x %s\n         e.g. %s\n", n[k], k, f[k] }'
done
exit $status
