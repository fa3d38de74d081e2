// Squares 0..N-1 in order: cc submit.c $(pkg-config --cflags --libs tasq)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tasq/tasq.h>

static void
on_result(void *arg, const tasq_result *r) // in input order
{
	int64_t *sum = arg, v = 0; // sum[0]: results in order, sum[1]: total
	memcpy(&v, r->data, r->len == 8 ? 8 : 0);
	sum[0] += r->code == 0 && r->index == (uint64_t) sum[0];
	sum[1] += v;
}

int
main(int argc, char **argv)
{
	int64_t       n = argc > 1 ? atoll(argv[1]) : 1000, sum[2] = { 0, 0 };
	tasq_session *s   = NULL;
	tasq_job     *job = NULL;
	tasq_job_opts o = TASQ_JOB_OPTS_INIT; // type square: int64 in and out
	o.result_cb     = on_result;
	o.result_arg    = sum;
	int rv = tasq_session_open(&s, NULL); // TASQ_SERVER, TASQ_KEY_FILE
	if (rv == 0 && (rv = tasq_job_open(&job, s, &o)) == 0) {
		for (int64_t i = 0; i < n && rv == 0; i++) {
			rv = tasq_job_add(job, &i, sizeof(i));
		}
		rv = rv ? rv : (tasq_job_finish(job), tasq_job_wait(job));
	}
	if (rv != 0) // the code's name and what went wrong
		fprintf(stderr, "%s: %s\n", tasq_errname(rv), tasq_errmsg());
	printf("%lld in order, sum of squares %lld\n", (long long) sum[0],
	    (long long) sum[1]);
	tasq_job_free(job);
	tasq_session_free(s);
	return (rv != 0);
}
