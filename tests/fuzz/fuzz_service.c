// fuzz_service: the server's whole request path without the network.
// The input is a sequence of records (fuzz.h: op, length, body): each
// request body is decoded as the RPC layer does and, when valid, handed to
// tasq_service_handle on a real broker with small limits; other records
// move the clock (tasq_broker_tick), close a connection
// (tasq_broker_pipe_gone) or check the broker's counters. No waiter is
// passed, so nothing parks. Every reply must decode as what a client
// expects, and no counter may wrap below zero.
//
// Ops 13 and 14 (fuzz.h) build requests from what earlier replies said
// (the tasks of the last lease, the last delivery of a job); the request
// is still encoded and goes through the decoder like any other.
//
// The broker is freed and made again every TASQ_FUZZ_RESET_EVERY inputs
// (environment; default 1). With 1 an input is the whole history, so a
// crash file reproduces on its own; larger values let state build up
// across inputs (deeper, but a crash may need its predecessors).
// TASQ_FUZZ_VERBOSE=1 prints each record and its outcome (to read a crash
// file). TASQ_FUZZ_AVOID=close keeps every job open (CloseJob records are
// skipped and the clock stays below job-ttl): a way to fuzz past a crash
// on the close path while it is not fixed (it was used so for the
// job_close use-after-free, crash-17c0023e...).
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>

#include "broker.h"
#include "clock.h"
#include "envelope.h"
#include "err.h"
#include "fuzz.h"
#include "service.h"
#include "wire.h"

// Small limits so that every one of them is reached.
static const tasq_broker_conf bconf = {
	.max_tasks    = 10000,
	.max_batch    = 1000,
	.max_queues   = 4,
	.max_jobs     = 16,
	.max_workers  = 8,
	.lease_ms     = 1000,
	.max_attempts = 3,
	.job_ttl_ms   = 10000,
	.max_fetch    = 100,
	.max_lease    = 100,
	.seq_base     = 0, // fetch seqs 1, 2, ...: seeds can acknowledge
};
#define QUEUE_IDLE_MS 60000 // the broker's default (queue_idle_ms 0)
static const tasq_service_conf sconf = { .max_wait_ms = 1000 };

#define SANE (1ULL << 40) // far above any limit, far below a wrapped value

static tasq_broker  *broker;
static tasq_service *svc;
static unsigned long runs;
static bool          env_read;
static unsigned long reset_every = 1;
static bool          verbose;
static bool          avoid_close;
// Whether a tick has gone past the idle queues' grace since the reset:
// removed queues take their counts out of the sums check_broker makes.
static uint64_t reset_ms;
static bool     queues_removed;

// What earlier replies said, for the helper ops. Reset with the broker.
#define MEMO_TASKS 256
static struct memo {
	uint64_t worker_id;
	uint32_t pipe;
	char     queue[TASQ_WIRE_MAX_NAME + 1];
	size_t   n; // tasks of the last lease reply
	uint64_t lease_id[MEMO_TASKS];
	uint64_t job_id[MEMO_TASKS];
	uint64_t id[MEMO_TASKS];
	uint64_t job;       // last job submitted or leased
	uint64_t fetch_seq; // last delivery of job
} memo;

static void
read_env(void)
{
	const char *e;

	env_read = true;
	if ((e = getenv("TASQ_FUZZ_RESET_EVERY")) != NULL && atol(e) > 0) {
		reset_every = (unsigned long) atol(e);
	}
	verbose     = (e = getenv("TASQ_FUZZ_VERBOSE")) != NULL && atoi(e) > 0;
	avoid_close = (e = getenv("TASQ_FUZZ_AVOID")) != NULL &&
	    strstr(e, "close") != NULL;
}

static void
wake_cb(tasq_waiter *w)
{
	(void) w;
	FUZZ_CHECK(!"woke a waiter, but none was ever parked");
}

static void
reset(void)
{
	int rv;

	tasq_service_free(svc);
	tasq_broker_free(broker);
	svc    = NULL;
	broker = NULL;
	memset(&memo, 0, sizeof(memo));
	reset_ms       = tasq_clock_mono_ms();
	queues_removed = false;
	if ((rv = tasq_broker_alloc(&broker, &bconf, wake_cb)) != 0 ||
	    (rv = tasq_service_alloc(&svc, broker, &sconf)) != 0) {
		fprintf(
		    stderr, "fuzz_service: set-up: %s\n", tasq_strerror(rv));
		abort();
	}
}

static void
check_broker(uint64_t now)
{
	tasq_rep rep;
	uint64_t submitted = 0, completed = 0;

	if (tasq_broker_stats(broker, now, &rep) != 0) {
		return; // out of memory
	}
	FUZZ_CHECK(rep.u.stats.nqueues <= bconf.max_queues);
	FUZZ_CHECK(rep.u.stats.nworkers <= bconf.max_workers);
	for (size_t i = 0; i < rep.u.stats.nqueues; i++) {
		const tasq_queue_stats *q = &rep.u.stats.queues[i];
		FUZZ_CHECK(tasq_wire_valid_name(q->name));
		// ready and leased may count tasks already done (a range or
		// lease keeps its length until it goes), so only a wrapped
		// value is wrong; results are held tasks, within max-tasks.
		FUZZ_CHECK(q->ready < SANE);
		FUZZ_CHECK(q->leased < SANE);
		FUZZ_CHECK(q->results <= bconf.max_tasks);
		FUZZ_CHECK(q->jobs <= bconf.max_jobs);
		FUZZ_CHECK(q->dead < SANE);
		// Without a journal every task came in by a Submit, and has
		// at most one first result.
		FUZZ_CHECK(q->completed <= q->submitted);
		submitted += q->submitted;
		completed += q->completed;
	}
	// The queues' counts add up to the broker's (one snapshot, one lock),
	// less those of queues removed when idle (a tick past their grace).
	FUZZ_CHECK(
	    submitted <= rep.u.stats.counters[TASQ_CTR_SUBMITTED].value);
	FUZZ_CHECK(
	    completed <= rep.u.stats.counters[TASQ_CTR_COMPLETED].value);
	if (!queues_removed) {
		FUZZ_CHECK_EQ(
		    submitted, rep.u.stats.counters[TASQ_CTR_SUBMITTED].value);
		FUZZ_CHECK_EQ(
		    completed, rep.u.stats.counters[TASQ_CTR_COMPLETED].value);
	}
	for (size_t i = 0; i < rep.u.stats.nworkers; i++) {
		const tasq_worker_stats *w = &rep.u.stats.workers[i];
		FUZZ_CHECK(w->worker_id != 0);
		FUZZ_CHECK(w->leases < SANE);
		FUZZ_CHECK(w->tasks_in_hand < SANE);
	}
	FUZZ_CHECK(rep.u.stats.ndead <= 1024);
	tasq_broker_stats_fini(&rep);
}

static void
remember(const tasq_req *req, const tasq_rep *rep, uint32_t pipe)
{
	switch (req->method) {
	case TASQ_M_SUBMIT:
		memo.job       = req->u.submit.job_id;
		memo.fetch_seq = 0;
		snprintf(
		    memo.queue, sizeof(memo.queue), "%s", req->u.submit.queue);
		break;
	case TASQ_M_LEASE:
		if (rep->u.lease.nbatches == 0) {
			break;
		}
		memo.worker_id = req->u.lease.worker_id;
		memo.pipe      = pipe;
		snprintf(
		    memo.queue, sizeof(memo.queue), "%s", req->u.lease.queue);
		memo.n = 0;
		for (size_t i = 0; i < rep->u.lease.nbatches; i++) {
			const tasq_task_batch *b = &rep->u.lease.batches[i];
			for (size_t k = 0; k < b->n && memo.n < MEMO_TASKS;
			     k++) {
				memo.lease_id[memo.n] = b->lease_id;
				memo.job_id[memo.n]   = b->job_id;
				memo.id[memo.n]       = b->ids[k];
				memo.n++;
			}
			if (memo.job != b->job_id) {
				memo.job       = b->job_id;
				memo.fetch_seq = 0;
			}
		}
		break;
	case TASQ_M_FETCH:
		if (rep->u.fetch.seq != 0) {
			memo.job       = req->u.fetch.job_id;
			memo.fetch_seq = rep->u.fetch.seq;
		}
		break;
	default:
		break;
	}
}

// A reply must be one that the client's decoder accepts, within the
// limits the request and the server set.
static void
check_reply(const tasq_req *req, nng_msg *m, uint32_t pipe)
{
	tasq_rep    rep;
	const char *why   = NULL;
	size_t      total = 0;
	int         rv;

	FUZZ_CHECK(nng_msg_len(m) >= TASQ_ENV_HDR_LEN);
	rv = tasq_wire_decode_rep(req->method,
	    (const uint8_t *) nng_msg_body(m) + TASQ_ENV_HDR_LEN,
	    nng_msg_len(m) - TASQ_ENV_HDR_LEN, &rep, &why);
	if (rv == TASQ_ERESOURCE_EXHAUSTED) {
		return; // out of memory in the decoder
	}
	if (rv != 0) {
		fprintf(stderr, "reply of method %d does not decode: %s\n",
		    req->method, why);
	}
	FUZZ_CHECK_EQ(rv, 0);
	switch (req->method) {
	case TASQ_M_SUBMIT:
		FUZZ_CHECK(rep.u.submit.accepted <= req->u.submit.n);
		break;
	case TASQ_M_LEASE:
		for (size_t i = 0; i < rep.u.lease.nbatches; i++) {
			total += rep.u.lease.batches[i].n;
			FUZZ_CHECK(rep.u.lease.batches[i].lease_id != 0);
			FUZZ_CHECK(rep.u.lease.batches[i].attempt >= 1);
		}
		FUZZ_CHECK(total <= req->u.lease.max_tasks);
		FUZZ_CHECK(total <= bconf.max_lease);
		break;
	case TASQ_M_EXTEND:
		FUZZ_CHECK(rep.u.extend.n <= req->u.extend.n);
		break;
	case TASQ_M_FETCH:
		// Not bounded by this request's max_results: an unacknowledged
		// delivery is sent again as it was made.
		FUZZ_CHECK(rep.u.fetch.n <= bconf.max_fetch);
		FUZZ_CHECK(rep.u.fetch.completed <= rep.u.fetch.submitted);
		// A carried batch is answered for, and only then; it
		// is in the job.
		FUZZ_CHECK(rep.u.fetch.has_submit == req->u.fetch.has_submit);
		FUZZ_CHECK(!rep.u.fetch.has_submit ||
		    rep.u.fetch.submit.accepted <= req->u.fetch.submit.n);
		FUZZ_CHECK(!rep.u.fetch.has_submit ||
		    (rep.u.fetch.submit.accepted > 0) !=
		        rep.u.fetch.submit.duplicate);
		FUZZ_CHECK(!rep.u.fetch.has_submit ||
		    rep.u.fetch.submitted >= req->u.fetch.submit.n);
		break;
	default:
		break;
	}
	remember(req, &rep, pipe);
	tasq_wire_rep_fini(&rep);
}

static void
request(int method, uint32_t pipe, const uint8_t *body, size_t len)
{
	tasq_req          req;
	tasq_service_call call;
	nng_msg          *reply = NULL;
	const char       *why   = NULL;
	bool              parked;
	int               rv;

	rv = tasq_wire_decode_req(method, body, len, &req, &why);
	if (method < 0 || method >= TASQ_M_COUNT) {
		FUZZ_CHECK_EQ(rv, TASQ_EUNIMPLEMENTED);
	}
	if (rv != 0) {
		FUZZ_CHECK(why != NULL);
		if (verbose) {
			fprintf(stderr, "  method %d: not decoded: %s\n",
			    method, why);
		}
		return;
	}
	memset(&call, 0, sizeof(call));
	call.req     = &req;
	call.pipe_id = pipe;
	rv = tasq_service_handle(svc, &call, NULL, &reply, &parked, &why);
	if (verbose) {
		fprintf(stderr, "  %s pipe %u: %s%s%s (%zu bytes)\n",
		    tasq_wire_method_name(method), pipe, tasq_strerror(rv),
		    why ? ": " : "", why ? why : "",
		    reply ? nng_msg_len(reply) - TASQ_ENV_HDR_LEN : 0);
	}
	FUZZ_CHECK(!parked);
	if (rv == 0) {
		FUZZ_CHECK(reply != NULL);
		check_reply(&req, reply, pipe);
		nng_msg_free(reply);
	} else {
		// An error travels as a status code: it must have one.
		FUZZ_CHECK(reply == NULL);
		FUZZ_CHECK(tasq_err_code(rv) > 0 &&
		    tasq_err_code(rv) <= TASQ_CODE_MAX);
	}
	tasq_wire_req_fini(&req);
}

// Encodes req and runs it through request() like a record's body.
static void
request_of(const tasq_req *req, uint32_t pipe)
{
	nng_msg *m;

	if (tasq_wire_encode_req(req, &m) != 0) {
		return;
	}
	request(req->method, pipe,
	    (const uint8_t *) nng_msg_body(m) + TASQ_ENV_HDR_LEN,
	    nng_msg_len(m) - TASQ_ENV_HDR_LEN);
	nng_msg_free(m);
}

static uint8_t
arg(const uint8_t *body, size_t len, size_t i)
{
	return (i < len ? body[i] : 0);
}

static void
complete_last(const uint8_t *body, size_t len)
{
	tasq_result_batch rb[MEMO_TASKS];
	int64_t           vals[MEMO_TASKS];
	uint32_t          codes[MEMO_TASKS];
	tasq_req          req;
	size_t            n = memo.n, nb = 0;
	uint8_t           fails = arg(body, len, 1);

	if (arg(body, len, 0) != 0 && arg(body, len, 0) < n) {
		n = arg(body, len, 0);
	}
	if (n == 0) {
		return;
	}
	// One batch per run of tasks of the same lease and job; the id
	// columns point into the memo, which is in reply order.
	for (size_t i = 0; i < n; i++) {
		vals[i]  = (int64_t) (memo.id[i] * 7) - 3;
		codes[i] = (fails >> (i % 8)) & 1 ? 13 : 0;
		if (nb == 0 || rb[nb - 1].lease_id != memo.lease_id[i] ||
		    rb[nb - 1].job_id != memo.job_id[i]) {
			memset(&rb[nb], 0, sizeof(rb[nb]));
			rb[nb].lease_id = memo.lease_id[i];
			rb[nb].job_id   = memo.job_id[i];
			rb[nb].ids      = &memo.id[i];
			rb[nb].values   = &vals[i];
			rb[nb].codes    = fails ? &codes[i] : NULL;
			nb++;
		}
		rb[nb - 1].n++;
	}
	memset(&req, 0, sizeof(req));
	if (arg(body, len, 3) & 1) {
		req.method              = TASQ_M_LEASE;
		req.u.lease.queue       = memo.queue;
		req.u.lease.worker_id   = memo.worker_id + arg(body, len, 2);
		req.u.lease.worker_name = "fuzz";
		req.u.lease.max_tasks   = arg(body, len, 4);
		req.u.lease.nresults    = nb;
		req.u.lease.results     = rb;
	} else {
		req.method               = TASQ_M_COMPLETE;
		req.u.complete.worker_id = memo.worker_id + arg(body, len, 2);
		req.u.complete.nresults  = nb;
		req.u.complete.results   = rb;
	}
	request_of(&req, memo.pipe != 0 ? memo.pipe : 1);
}

static void
fetch_ack(const uint8_t *body, size_t len, uint32_t pipe)
{
	tasq_req req;

	if (memo.job == 0) {
		return;
	}
	memset(&req, 0, sizeof(req));
	req.method              = TASQ_M_FETCH;
	req.u.fetch.job_id      = memo.job;
	req.u.fetch.ack_seq     = (arg(body, len, 1) & 1) ? 0 : memo.fetch_seq;
	req.u.fetch.max_results = arg(body, len, 0);
	request_of(&req, pipe);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t base = tasq_clock_mono_ms(), offset = 0;
	size_t   pos = 0;

	if (!env_read) {
		read_env();
	}
	if (broker == NULL || runs++ % reset_every == 0) {
		reset();
	}
	while (size - pos >= 3) {
		uint8_t  op   = data[pos];
		size_t   len  = ((size_t) data[pos + 1] << 8) | data[pos + 2];
		uint32_t pipe = 1 + ((op >> 4) & 7);
		uint8_t *body;
		uint64_t adv = 0;

		pos += 3;
		if (len > size - pos) {
			len = size - pos;
		}
		// An exact-size copy, so that a read past the body is caught
		// rather than landing in the next record.
		if ((body = malloc(len > 0 ? len : 1)) == NULL) {
			break;
		}
		memcpy(body, data + pos, len);
		pos += len;
		switch (op & 0x0f) {
		case TASQ_FUZZ_OP_BADMETHOD:
			request((op & 0x80) ? -1 - (op >> 4) : 9 + (op >> 4),
			    pipe, body, len);
			break;
		case TASQ_FUZZ_OP_TICK:
			for (size_t i = 0; i < len && i < 4; i++) {
				adv = (adv << 8) | body[i];
			}
			offset += adv;
			if (avoid_close && offset >= bconf.job_ttl_ms - 1000) {
				offset = bconf.job_ttl_ms - 1000;
			}
			if (verbose) {
				fprintf(stderr, "  tick +%llu ms\n",
				    (unsigned long long) offset);
			}
			queues_removed = queues_removed ||
			    base + offset >= reset_ms + QUEUE_IDLE_MS;
			tasq_broker_tick(broker, base + offset);
			break;
		case TASQ_FUZZ_OP_PIPE_GONE:
			if (verbose) {
				fprintf(stderr, "  pipe %u gone\n", pipe);
			}
			tasq_broker_pipe_gone(broker, pipe, base + offset);
			break;
		case TASQ_FUZZ_OP_CHECK:
			check_broker(base + offset);
			break;
		case TASQ_FUZZ_OP_COMPLETE_LAST:
			complete_last(body, len);
			break;
		case TASQ_FUZZ_OP_FETCH_ACK:
			fetch_ack(body, len, pipe);
			break;
		default:
			if (avoid_close && (op & 0x0f) == TASQ_M_CLOSE_JOB) {
				break;
			}
			if ((op & 0x0f) < TASQ_M_COUNT) {
				request(op & 0x0f, pipe, body, len);
			}
			break;
		}
		free(body);
	}
	check_broker(base + offset);
	return (0);
}
