# soak (label slow; `ctest -L slow`): about three minutes
# (TASQ_TEST_SOAK_SECONDS) of jobs run back to back while, at random moments,
# the server is killed with SIGKILL and restarted on the same port and
# data directory, worker processes are killed with SIGKILL, or a whole
# worker supervisor is killed and started again. Every job's output is
# checked: each of its tasks exactly once with the right result. Ends
# with one tally line:
#	tasks=N kills_server=K kills_worker=W lost=0 duplicates=0
# and fails unless lost, duplicates and wrong results are all 0.
. "$(dirname "$0")/lib.sh"
SECONDS_WANTED=${TASQ_TEST_SOAK_SECONDS:-180}
test_begin $((SECONDS_WANTED + 180))

JOB_N=$(scaled 200000)
tasks=0 lost=0 dups=0 wrong=0 jobs=0 failed_jobs=0
kills_server=0 kills_worker=0

# Small leases, fewer under TASQ_TEST_SCALE: runs last several seconds.
WB=$((100 / SCALE > 10 ? 100 / SCALE : 10))

start_server --data-dir "$T/data" --fsync always --compact-bytes 4MiB
start_workers sup1 -j 2 --batch-size "$WB"
SUP1=$SPAWNED_PID
start_workers sup2 -j 2 --batch-size "$WB"
SUP2=$SPAWNED_PID
nsup=2

# A job takes seconds; one that has not finished after JOB_TIMEOUT
# waits for results the server no longer has: the client gives up and
# says how many it got ("timed out with X of N results").
JOB_TIMEOUT=$(secs 60)

new_job() {
	jobs=$((jobs + 1))
	start_submit "job" --range "1:$JOB_N" --batch-size 1000 \
	    --timeout "${JOB_TIMEOUT}s"
	CLIENT=$SPAWNED_PID
}

# tally S: counts the results of the job whose client exited with S.
# A client that timed out printed only the complete prefix of its
# results; what it never received is lost.
tally() {
	local l d w got
	if (($1 != 0)); then
		failed_jobs=$((failed_jobs + 1))
		log "job $jobs: client exited with $1:" \
		    "$(tail -n 1 "$T/job.err")"
		cp "$T/job.err" "$T/bad-job-$jobs.err"
		cp -a "$T/data" "$T/bad-job-$jobs.data"
	fi
	read -r l d w < <(count_results "$T/job.out" "$JOB_N")
	got=$(sed -n 's/.*timed out with \([0-9]*\) of [0-9]* results.*/\1/p' \
	    "$T/job.err")
	if [ -n "$got" ]; then
		l=$((JOB_N - got))
	fi
	tasks=$((tasks + JOB_N))
	lost=$((lost + l))
	dups=$((dups + d))
	wrong=$((wrong + w))
	if ((l + d + w > 0)); then
		cp "$T/job.out" "$T/bad-job-$jobs.txt"
		log "job $jobs: lost $l, duplicates $d, wrong $w"
	fi
}

new_job
end=$(($(now_ms) + SECONDS_WANTED * 1000))
while (($(now_ms) < end)); do
	at=$(($(now_ms) + $(rand_ms 500 3000)))
	while (($(now_ms) < at)); do
		if ! alive "$CLIENT"; then
			wait_pid "$CLIENT" 5 || fail "cannot reap the client"
			tally "$WAIT_STATUS"
			new_job
		fi
		sleep 0.05
	done
	r=$((RANDOM % 6))
	if ((r < 2)); then
		kill_server KILL
		kills_server=$((kills_server + 1))
		restart_server
	elif ((r < 5)); then
		kids=()
		for k in $(pgrep -P "$SUP1") $(pgrep -P "$SUP2"); do
			alive "$k" && kids+=("$k")
		done
		if ((${#kids[@]} > 0)) &&
		    kill -KILL "${kids[RANDOM % ${#kids[@]}]}" 2>/dev/null; then
			kills_worker=$((kills_worker + 1))
		fi
	else
		# A whole supervisor and its workers, then a new one.
		kill_spawned "$SUP2"
		kills_worker=$((kills_worker + 1))
		nsup=$((nsup + 1))
		start_workers "sup$nsup" -j 2 --batch-size "$WB"
		SUP2=$SPAWNED_PID
	fi
done
# No more faults: the last job must finish.
wait_pid "$CLIENT" $((60 + 30)) || fail "the last job did not end"
tally "$WAIT_STATUS"

log "$jobs jobs of $JOB_N tasks, $failed_jobs failed, wrong results: $wrong"
echo "tasks=$tasks kills_server=$kills_server kills_worker=$kills_worker" \
    "lost=$lost duplicates=$dups"
((lost == 0 && dups == 0 && wrong == 0 && failed_jobs == 0)) ||
    fail "lost=$lost duplicates=$dups wrong=$wrong failed_jobs=$failed_jobs"
