// tasq-bench-w2: workload W2 of docs/PERFORMANCE.md against a real
// tasq-server and its workers: submit one task, wait for its result,
// repeat; prints round-trip percentiles.
//
// One round is what client/submit.c does for a job that fits in one
// batch: a Fetch long-poll that carries the Submit of the task
// (FetchRequest.submit), so the task goes and its result comes back in
// one round trip, the reply leaving as soon as a worker hands the result
// in. The client keeps one job for all rounds and numbers the tasks 0, 1,
// 2, ...; each Fetch acknowledges the previous delivery, so the server
// holds nothing between rounds. The job is closed at the end.
//
// For comparison, --mode parked sends a plain Fetch long-poll first
// (tasq_chan_call_start) and the Submit while it waits (two requests and
// two replies a round, as client/submit.c does for larger jobs), and
// --mode sequential submits, then fetches once the Submit's reply is
// back (two more hops on the round's path).
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>

#include "auth.h"
#include "blobs.h"
#include "chan.h"
#include "commonopt.h"
#include "err.h"
#include "opt.h"
#include "rand.h"
#include "wire.h"

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
	    "one (a Fetch carrying the Submit), parked (a Fetch waiting "
	    "while a Submit goes) or sequential (Submit, then Fetch)",
	    &cfg.mode, 0, 0, false },
	TASQ_OPT_END,
};

// square_col makes buf (8 bytes) the one-item square column of v.
static tasq_blobs
square_col(uint8_t *buf, int64_t v)
{
	tasq_blobs col = { .width = 8, .data = buf, .size = 8 };

	tasq_i64_le_put(buf, v);
	return (col);
}

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

struct round {
	tasq_chan *chan;
	uint64_t   job_id;
	uint64_t   ack; // the last delivery, acknowledged by the next fetch
};

static int
submit_one(struct round *r, uint64_t id, int64_t value)
{
	tasq_req req;
	tasq_rep rep;
	uint8_t  vbuf[8];
	char     err[512];
	int      rv;

	memset(&req, 0, sizeof(req));
	req.method               = TASQ_M_SUBMIT;
	req.u.submit.queue       = cfg.queue;
	req.u.submit.job_id      = r->job_id;
	req.u.submit.first_index = id;
	req.u.submit.n           = 1;
	req.u.submit.type        = TASQ_TYPE_SQUARE;
	req.u.submit.payloads    = square_col(vbuf, value);
	if ((rv = tasq_chan_call(r->chan, &req, (uint32_t) cfg.timeout_ms,
	         &rep, err, sizeof(err))) != 0) {
		fprintf(stderr, "tasq-bench-w2: submit: %s\n", err);
		return (rv);
	}
	tasq_wire_rep_fini(&rep);
	return (0);
}

// One task. M_ONE: the first Fetch carries the Submit. M_PARKED: a Fetch
// long-poll is sent first and waits at the server while the Submit goes.
// M_SEQUENTIAL (and round 0 of M_PARKED, which makes the job): the
// Submit's reply comes first. A Fetch that comes back without the result
// is sent again, plain.
static int
one(struct round *r, uint64_t id, int64_t value, int how, int64_t *result)
{
	uint64_t until     = now_ns() + cfg.timeout_ms * 1000000ULL;
	bool     submitted = false;
	uint8_t  vbuf[8];
	char     err[512];
	int      rv;

	if (how == M_SEQUENTIAL) {
		if ((rv = submit_one(r, id, value)) != 0) {
			return (rv);
		}
		submitted = true;
	}

	while (now_ns() < until) {
		tasq_req   req;
		tasq_rep   rep;
		tasq_call *call;
		bool       found = false;

		memset(&req, 0, sizeof(req));
		req.method              = TASQ_M_FETCH;
		req.u.fetch.job_id      = r->job_id;
		req.u.fetch.ack_seq     = r->ack;
		req.u.fetch.max_results = 64;
		req.u.fetch.wait_ms     = 1000;
		if (how == M_ONE && !submitted) {
			req.u.fetch.has_submit         = true;
			req.u.fetch.submit.queue       = cfg.queue;
			req.u.fetch.submit.job_id      = r->job_id;
			req.u.fetch.submit.first_index = id;
			req.u.fetch.submit.n           = 1;
			req.u.fetch.submit.type        = TASQ_TYPE_SQUARE;
			req.u.fetch.submit.payloads = square_col(vbuf, value);
		}
		if ((rv = tasq_chan_call_start(
		         r->chan, &req, 2000, &call, err, sizeof(err))) != 0) {
			fprintf(stderr, "tasq-bench-w2: fetch: %s\n", err);
			return (rv);
		}
		if (!submitted && how == M_PARKED) {
			if ((rv = submit_one(r, id, value)) != 0) {
				(void) tasq_chan_call_finish(
				    call, &rep, err, sizeof(err));
				return (rv);
			}
		}
		if ((rv = tasq_chan_call_finish(
		         call, &rep, err, sizeof(err))) != 0) {
			// A Fetch carrying the Submit may be sent again as
			// it is: the server takes the same batch only once.
			fprintf(stderr, "tasq-bench-w2: fetch: %s\n", err);
			return (rv);
		}
		if (how == M_ONE && !submitted && !rep.u.fetch.has_submit) {
			fprintf(stderr,
			    "tasq-bench-w2: the server ignored "
			    "the submit in a fetch (too old?)\n");
			tasq_wire_rep_fini(&rep);
			return (TASQ_EUNIMPLEMENTED);
		}
		submitted = true;
		if (rep.u.fetch.seq != 0) {
			r->ack = rep.u.fetch.seq;
		}
		for (size_t i = 0; i < rep.u.fetch.n; i++) {
			if (rep.u.fetch.ids[i] == id) {
				*result =
				    rep.u.fetch.results.size >= 8 * (i + 1)
				    ? tasq_blobs_i64(&rep.u.fetch.results, i)
				    : 0;
				found = true;
			}
		}
		tasq_wire_rep_fini(&rep);
		if (found) {
			return (0);
		}
	}
	fprintf(stderr, "tasq-bench-w2: no result for task %" PRIu64 "\n", id);
	return (TASQ_EDEADLINE_EXCEEDED);
}

int
main(int argc, char **argv)
{
	const tasq_opt *const tables[] = { w2_opts, NULL };
	tasq_opt_ctx          oc       = { 0 };
	tasq_keyring         *keys     = NULL;
	tasq_chan_opts        co;
	struct round          r    = { 0 };
	uint64_t             *lat  = NULL;
	uint64_t              sum  = 0;
	char                **args = NULL;
	char                  err[512];
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
	if (oc.nargs != 0 || !tasq_wire_valid_name(cfg.queue) ||
	    mode == NMODES) {
		fputs(usage, stderr);
		status = 2;
		goto out;
	}
	// No --tls-engine here: nng's own, as the relay baseline uses.
	if (tasq_commonopt_setup(&cfg.common, TASQ_COMMONOPT_DIALER,
	        strncmp(cfg.server, "tls+tcp", 7) == 0 ? TASQ_COMMONOPT_TLS
	                                               : 0,
	        &keys, NULL, err, sizeof(err)) != 0) {
		fprintf(stderr, "tasq-bench-w2: %s\n", err);
		status = 2;
		goto out;
	}
	memset(&co, 0, sizeof(co));
	co.url                = cfg.server;
	co.keys               = keys;
	co.tls_ca             = cfg.common.tls_ca;
	co.tls_server_name    = cfg.common.tls_server_name;
	co.connect_timeout_ms = 5000;
	co.max_msg_bytes      = 1 << 20;
	if (tasq_chan_open(&r.chan, &co, err, sizeof(err)) != 0) {
		fprintf(stderr, "tasq-bench-w2: %s\n", err);
		goto out;
	}
	r.job_id = tasq_random64();
	if ((lat = calloc(cfg.rounds, sizeof(*lat))) == NULL) {
		fprintf(stderr, "tasq-bench-w2: out of memory\n");
		goto out;
	}
	for (uint64_t i = 0; i < cfg.warmup + cfg.rounds; i++) {
		int64_t  v = (int64_t) i + 1, res = 0;
		uint64_t t0 = now_ns(), t1;
		// Round 0 makes the job that later rounds' fetches wait on.
		if ((rv = one(&r, i, v,
		         mode == M_PARKED && i == 0 ? M_SEQUENTIAL : mode,
		         &res)) != 0) {
			goto out;
		}
		t1 = now_ns();
		if (res != v * v) {
			fprintf(stderr, "tasq-bench-w2: wrong result\n");
			goto out;
		}
		if (i >= cfg.warmup) {
			lat[i - cfg.warmup] = t1 - t0;
			sum += t1 - t0;
		}
	}
	{
		tasq_req req;
		tasq_rep rep;
		memset(&req, 0, sizeof(req));
		req.method              = TASQ_M_CLOSE_JOB;
		req.u.close_job.job_id  = r.job_id;
		req.u.close_job.ack_seq = r.ack;
		if (tasq_chan_call(r.chan, &req, (uint32_t) cfg.timeout_ms,
		        &rep, err, sizeof(err)) == 0) {
			tasq_wire_rep_fini(&rep);
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
	tasq_chan_close(r.chan);
	tasq_keyring_free(keys);
	tasq_opt_free(tables);
	free(args);
	return (status);
}
