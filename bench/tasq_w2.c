// tasq-bench-w2: workload W2 of docs/PERFORMANCE.md against a real
// tasq-server and its workers: submit one task, wait for its result,
// repeat; prints round-trip percentiles. A program over libtasq
// (<tasq/tasq.h>): the protocol is the library's.
//
// --mode one (the default): every round is a job of one task, which the
// library sends in one round trip, as tasq submit sends a job that fits
// in one batch: a Fetch long-poll carrying the Submit
// (FetchRequest.submit), made on this thread by tasq_job_next, its reply
// leaving as soon as a worker hands the result in. The job is opened before
// the round's clock starts and freed after it stops.
//
// For comparison, --mode parked keeps one job (a stream) for all rounds:
// each round adds a task and flushes it (the Submit goes while the job's
// Fetch long-poll waits at the server: two requests a round), and
// --mode sequential waits for the Submit's reply (tasq_job_flush) before
// it waits for the result.
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commonopt.h"
#include "opt.h"

#include <tasq/tasq.h>

static struct {
	char    *server;
	char    *queue;
	uint64_t rounds;
	uint64_t warmup;
	uint64_t timeout_ms;
	char    *mode;

	tasq_commonopt_cfg
	    common; // key and TLS verification (lib/commonopt.h)
} cfg;

enum { M_ONE, M_PARKED, M_SEQUENTIAL };
static const char *const mode_names[] = { "one", "parked", "sequential" };
#define NMODES ((int) (sizeof(mode_names) / sizeof(mode_names[0])))
static int mode;

static const tasq_opt w2_opts[] = {
	{ "server", 's', TASQ_OPT_STR, "TASQ_SERVER", "tcp://127.0.0.1:7070",
	    "URL", "the server's address", &cfg.server, 0, 0, false },
	TASQ_COMMONOPT_KEY(&cfg.common),
	TASQ_COMMONOPT_TLS_VERIFY(&cfg.common),
	{ "queue", 'q', TASQ_OPT_STR, "TASQ_QUEUE", "default", "NAME",
	    "queue to submit to", &cfg.queue, 0, 0, false },
	{ "rounds", 'n', TASQ_OPT_U64, NULL, "2000", "N", "timed round trips",
	    &cfg.rounds, 1, 10000000, false },
	{ "warmup", 0, TASQ_OPT_U64, NULL, "200", "N",
	    "untimed round trips first", &cfg.warmup, 0, 10000000, false },
	{ "timeout", 't', TASQ_OPT_MS, NULL, "10s", "DURATION",
	    "give up on a round after this long", &cfg.timeout_ms, 100,
	    3600000, false },
	{ "mode", 0, TASQ_OPT_STR, NULL, "one", "MODE",
	    "one (a job of one task: a Fetch carrying the Submit), parked "
	    "(a stream: a Fetch waiting while a Submit goes) or sequential "
	    "(the Submit's reply, then the result)",
	    &cfg.mode, 0, 0, false },
	TASQ_OPT_END,
};

static const char usage[] =
    "Usage: tasq-bench-w2 [options]\n"
    "Submits one task at a time and waits for its result; prints\n"
    "'tasq mode=rtt n=N p50_us=... p99_us=... mean_us=...'.\n";

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
	return (x < y ? -1 : x > y);
}

static int
fail(const char *what, int rv)
{
	fprintf(stderr, "tasq-bench-w2: %s: %s: %s\n", what, tasq_errname(rv),
	    tasq_errmsg());
	return (rv);
}

// Waits for the next result of job (at most --timeout) into *result.
static int
next_result(tasq_job *job, tasq_aio *aio, int64_t *result)
{
	tasq_result r;
	int         rv;

	if ((rv = tasq_job_next_aio(job, &r, aio)) != 0) {
		return (fail("result", rv));
	}
	tasq_aio_wait(aio);
	if ((rv = tasq_aio_result(aio)) != 0) {
		fprintf(stderr, "tasq-bench-w2: result: %s: %s\n",
		    tasq_errname(rv), tasq_aio_errmsg(aio));
		return (rv);
	}
	*result = 0;
	memcpy(result, r.data, r.len == 8 ? 8 : 0);
	return (r.code);
}

// One round of --mode one: a job of one task, opened before the clock.
static int
one_job(tasq_session *s, tasq_aio *aio, const tasq_job_opts *o, int64_t v,
    int64_t *result, uint64_t *ns)
{
	tasq_job *job;
	uint64_t  t0;
	int       rv;

	if ((rv = tasq_job_open(&job, s, o)) != 0) {
		return (fail("open", rv));
	}
	t0 = now_ns();
	if ((rv = tasq_job_add_column(job, &v, 8, 1)) != 0 ||
	    (rv = tasq_job_finish(job)) != 0) {
		tasq_job_free(job);
		return (fail("submit", rv));
	}
	// The blocking call: the one-trip Fetch goes from this thread (an
	// aio would hand it to the job's threads, two wake-ups more).
	(void) aio;
	tasq_result r;
	if ((rv = tasq_job_next(job, &r)) != 0) {
		tasq_job_free(job);
		return (fail("result", rv));
	}
	*ns     = now_ns() - t0;
	*result = 0;
	memcpy(result, r.data, r.len == 8 ? 8 : 0);
	rv = r.code;
	tasq_job_free(job);
	return (rv);
}

// One round of --mode parked or sequential on the stream job.
static int
stream_round(tasq_job *job, tasq_aio *aio, tasq_aio *faio, int64_t v,
    int64_t *result, uint64_t *ns)
{
	uint64_t t0 = now_ns();
	int      rv;

	if ((rv = tasq_job_add_column(job, &v, 8, 1)) != 0 ||
	    (rv = tasq_job_flush_aio(job, faio)) != 0) {
		return (fail("submit", rv));
	}
	if (mode == M_SEQUENTIAL) {
		tasq_aio_wait(faio);
	}
	rv = next_result(job, aio, result);
	tasq_aio_wait(faio);
	*ns = now_ns() - t0;
	if (rv == 0 && (rv = tasq_aio_result(faio)) != 0) {
		fprintf(stderr, "tasq-bench-w2: submit: %s\n",
		    tasq_aio_errmsg(faio));
	}
	return (rv);
}

static bool
valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64) {
		return (false);
	}
	return (strspn(s,
	            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	            "0123456789._-") == n);
}

int
main(int argc, char **argv)
{
	const tasq_opt *const tables[] = { w2_opts, NULL };
	tasq_opt_ctx          oc       = { 0 };
	tasq_opts            *so       = NULL;
	tasq_session         *s        = NULL;
	tasq_job             *job      = NULL;
	tasq_aio             *aio = NULL, *faio = NULL;
	tasq_job_opts         o    = TASQ_JOB_OPTS_INIT;
	uint64_t             *lat  = NULL;
	uint64_t              sum  = 0;
	char                **args = NULL;
	const char           *key;
	int                   rv, status = 1;

	if ((args = calloc((size_t) argc + 1, sizeof(*args))) == NULL) {
		return (1);
	}
	oc.prog    = "tasq-bench-w2";
	oc.usage   = usage;
	oc.version = TASQ_VERSION;
	oc.tables  = tables;
	oc.args    = args;
	if ((rv = tasq_opt_parse(&oc, argc - 1, argv + 1)) != TASQ_OPT_OK) {
		status = rv == TASQ_OPT_EXIT_OK ? 0 : 2;
		goto out;
	}
	for (mode = 0;
	     mode < NMODES && strcmp(cfg.mode, mode_names[mode]) != 0;
	     mode++) {
	}
	if (oc.nargs != 0 || !valid_name(cfg.queue) || mode == NMODES) {
		fputs(usage, stderr);
		status = 2;
		goto out;
	}
	// No --tls-engine here: nng's own, as the relay baseline uses.
	key = cfg.common.key_file == NULL ? getenv("TASQ_KEY") : NULL;
	if (tasq_opts_alloc(&so) != 0 ||
	    tasq_opts_set(so, "server", cfg.server) != 0 ||
	    (cfg.common.key_file != NULL &&
	        tasq_opts_set(so, "key-file", cfg.common.key_file) != 0) ||
	    (key != NULL && tasq_opts_set(so, "key", key) != 0) ||
	    (cfg.common.tls_ca != NULL &&
	        tasq_opts_set(so, "tls-ca", cfg.common.tls_ca) != 0) ||
	    (cfg.common.tls_server_name != NULL &&
	        tasq_opts_set(
	            so, "tls-server-name", cfg.common.tls_server_name) != 0) ||
	    tasq_opts_set(so, "tls-engine", "builtin") != 0) {
		fprintf(stderr, "tasq-bench-w2: %s\n", tasq_errmsg());
		status = 2;
		goto out;
	}
	if ((rv = tasq_session_open(&s, so)) != 0) {
		fprintf(stderr, "tasq-bench-w2: %s\n", tasq_errmsg());
		status = rv == TASQ_EINVALID_ARGUMENT ? 2 : 1;
		goto out;
	}
	if (tasq_aio_alloc(&aio, NULL, NULL) != 0 ||
	    tasq_aio_alloc(&faio, NULL, NULL) != 0 ||
	    (lat = calloc(cfg.rounds, sizeof(*lat))) == NULL) {
		fprintf(stderr, "tasq-bench-w2: out of memory\n");
		goto out;
	}
	tasq_aio_set_timeout(aio, (int32_t) cfg.timeout_ms);
	tasq_aio_set_timeout(faio, (int32_t) cfg.timeout_ms);
	o.queue = cfg.queue;
	o.type  = "square";
	if (mode != M_ONE) {
		o.linger_ms = 60000; // flushed by hand, every round
		o.window    = 64;
		if ((rv = tasq_job_open(&job, s, &o)) != 0) {
			fail("open", rv);
			goto out;
		}
	}
	for (uint64_t i = 0; i < cfg.warmup + cfg.rounds; i++) {
		int64_t  v = (int64_t) i + 1, res = 0;
		uint64_t ns = 0;
		rv          = mode == M_ONE
		             ? one_job(s, aio, &o, v, &res, &ns)
		             : stream_round(job, aio, faio, v, &res, &ns);
		if (rv != 0) {
			goto out;
		}
		if (res != v * v) {
			fprintf(stderr, "tasq-bench-w2: wrong result\n");
			goto out;
		}
		if (i >= cfg.warmup) {
			lat[i - cfg.warmup] = ns;
			sum += ns;
		}
	}
	qsort(lat, cfg.rounds, sizeof(*lat), cmp_u64);
	printf("tasq mode=rtt round=%s transport=%s n=%" PRIu64
	       " p50_us=%.1f p99_us=%.1f mean_us=%.1f min_us=%.1f "
	       "max_us=%.1f\n",
	    mode_names[mode],
	    strncmp(cfg.server, "tls+tcp", 7) == 0 ? "tls" : "tcp", cfg.rounds,
	    (double) lat[(cfg.rounds - 1) / 2] / 1e3,
	    (double) lat[(cfg.rounds - 1) * 99 / 100] / 1e3,
	    (double) sum / (double) cfg.rounds / 1e3, (double) lat[0] / 1e3,
	    (double) lat[cfg.rounds - 1] / 1e3);
	status = 0;
out:
	free(lat);
	tasq_aio_free(aio);
	tasq_aio_free(faio);
	if (job != NULL) {
		(void) tasq_job_finish(job);
	}
	tasq_job_free(job); // ends the stream job at the server
	tasq_session_free(s);
	tasq_opts_free(so);
	tasq_opt_free(tables);
	free(args);
	return (status);
}
