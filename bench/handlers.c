// tasq-bench-handlers: the worker's handlers on their own, without the
// network (bench/handlers.sh runs it).
//
//   tasq-bench-handlers exec CHILD TASKS BATCH
//       exec:CHILD (a trivial child: handler_test_child echo) on batches
//       of BATCH 8-byte payloads, then builtin:square on the same batches
//       (the baseline: no pipe, no child)
//       and the worker's loop before handlers (tasq_compute_square per
//       task into values and codes columns, as run.c did), for square's
//       "no slower than before"
//   tasq-bench-handlers each CMD TASKS JOBS
//       exec-each:CMD with JOBS at once, TASKS tasks of 8 bytes
//
// Prints "name=... rate=TASKS_PER_S" lines; asserts nothing on timing.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compute.h"
#include "err.h"
#include "handler.h"

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double) ts.tv_sec + (double) ts.tv_nsec / 1e9);
}

// Runs spec over tasks tasks in batches; returns tasks per second, or -1.
static double
rate(const char *spec, const tasq_handler_opts *o, size_t tasks, size_t batch)
{
	tasq_handler      *h;
	tasq_hres          out;
	char               err[512];
	int64_t           *v = malloc(batch * sizeof(*v));
	tasq_handler_batch b = { .width = 8, .type = "bench", .attempt = 1 };
	double             t0, t1;
	size_t             done = 0;

	if (v == NULL ||
	    tasq_handler_open(&h, "bench", spec, o, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", spec, err);
		free(v);
		return (-1);
	}
	for (size_t i = 0; i < batch; i++) {
		v[i] = (int64_t) i + 1;
	}
	b.data = (const uint8_t *) v;
	tasq_hres_init(&out);
	// One untimed batch: the child started, the buffers grown.
	b.n    = batch < tasks ? batch : tasks;
	b.size = b.n * 8;
	(void) tasq_handler_run(h, &b, &out);
	t0 = now_s();
	while (done < tasks) {
		b.n    = tasks - done < batch ? tasks - done : batch;
		b.size = b.n * 8;
		if (tasq_handler_run(h, &b, &out) != 0 || out.any_code) {
			fprintf(stderr, "%s: a batch failed\n", spec);
			break;
		}
		done += b.n;
	}
	t1 = now_s();
	tasq_hres_fini(&out);
	tasq_handler_free(h);
	free(v);
	return (done == tasks ? (double) tasks / (t1 - t0) : -1);
}

// The computation of run.c before handlers: per task, the checked square
// into a values column and its code into a codes column.
static double
old_loop_rate(size_t tasks, size_t batch)
{
	int64_t *v  = malloc(batch * sizeof(*v)),
	        *r  = malloc(batch * sizeof(*r));
	uint32_t *c = malloc(batch * sizeof(*c));
	double    t0, t1;
	size_t    done = 0;
	uint64_t  sink = 0;

	if (v == NULL || r == NULL || c == NULL) {
		return (-1);
	}
	for (size_t i = 0; i < batch; i++) {
		v[i] = (int64_t) i + 1;
	}
	t0 = now_s();
	while (done < tasks) {
		size_t n = tasks - done < batch ? tasks - done : batch;
		for (size_t i = 0; i < n; i++) {
			int64_t x  = 0;
			int     rv = tasq_compute_square(v[i], &x);
			r[i]       = x;
			c[i]       = (uint32_t) tasq_err_code(rv);
		}
		sink += (uint64_t) r[n - 1] + c[0];
		done += n;
	}
	t1 = now_s();
	free(v);
	free(r);
	free(c);
	return (sink == 0 ? -1 : (double) tasks / (t1 - t0));
}

int
main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "exec") == 0) {
		char              spec[4096];
		size_t            n     = strtoull(argv[3], NULL, 10);
		size_t            batch = strtoull(argv[4], NULL, 10);
		tasq_handler_opts o     = { 0 };
		snprintf(spec, sizeof(spec), "exec:%s echo", argv[2]);
		double e = rate(spec, &o, n, batch);
		double s = rate("builtin:square", &o, n, batch);
		double l = old_loop_rate(n, batch);
		printf("name=exec.trivial tasks=%zu batch=%zu rate=%.0f\n", n,
		    batch, e);
		printf("name=builtin.square tasks=%zu batch=%zu rate=%.0f\n",
		    n, batch, s);
		printf("name=square.before_handlers tasks=%zu batch=%zu "
		       "rate=%.0f\n",
		    n, batch, l);
		return (e < 0 || s < 0 || l < 0);
	}
	if (argc == 5 && strcmp(argv[1], "each") == 0) {
		char              spec[4096];
		size_t            n = strtoull(argv[3], NULL, 10);
		tasq_handler_opts o = { .each_parallel = (uint32_t) strtoul(
			                    argv[4], NULL, 10) };
		snprintf(spec, sizeof(spec), "exec-each:%s", argv[2]);
		double e = rate(spec, &o, n, n);
		printf("name=exec-each tasks=%zu jobs=%u rate=%.1f\n", n,
		    (unsigned) o.each_parallel, e);
		return (e < 0);
	}
	fprintf(stderr,
	    "usage: tasq-bench-handlers exec CHILD TASKS BATCH | "
	    "each CMD TASKS JOBS\n");
	return (2);
}
