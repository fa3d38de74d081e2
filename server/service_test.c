// Unit tests of server/service: the handlers on a real broker, with the
// requests built in memory (as the RPC layer hands them over after
// decoding) and the replies decoded as a client would.
#define _GNU_SOURCE // nftw, mkdtemp (tasq_scratch.h)
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "broker.h"
#include "clock.h"
#include "envelope.h"
#include "err.h"
#include "journal.h"
#include "service.h"
#include "broker_test_util.h"
#include "tasq_test.h"
#include "tasq_scratch.h"
#include "wire.h"

static int wakes;

static void
wake_cb(tasq_waiter *w)
{
	(void) w;
	wakes++;
}

static tasq_broker  *broker;
static tasq_service *svc;

static void
setup(void)
{
	tasq_broker_conf  bc = { .max_tasks = 1000,
		 .max_batch                 = 100,
		 .max_queues                = 4,
		 .max_jobs                  = 8,
		 .max_workers               = 4,
		 .lease_ms                  = 30000,
		 .max_attempts              = 3,
		 .job_ttl_ms                = 600000,
		 .max_fetch                 = 50,
		 .max_lease                 = 20 };
	tasq_service_conf sc = { .max_wait_ms = 60000 };

	wakes = 0;
	ASSERT_OK(tasq_broker_alloc(&broker, &bc, wake_cb));
	ASSERT_OK(tasq_service_alloc(&svc, broker, &sc));
}

static void
teardown(void)
{
	tasq_service_free(svc);
	tasq_broker_free(broker);
}

// Runs call; on a reply, decodes it into *rep (release with
// tasq_wire_rep_fini).
static int
run(tasq_service_call *call, tasq_waiter *w, bool *parked, tasq_rep *rep,
    const char **why)
{
	nng_msg *m = NULL;
	int      rv;

	rv = tasq_service_handle(svc, call, w, &m, parked, why);
	if (rv != 0 || *parked) {
		ASSERT_NULL(m);
		return (rv);
	}
	ASSERT_NOT_NULL(m);
	rv = tasq_wire_decode_rep(call->req->method,
	    (uint8_t *) nng_msg_body(m) + TASQ_ENV_HDR_LEN,
	    nng_msg_len(m) - TASQ_ENV_HDR_LEN, rep, why);
	nng_msg_free(m);
	ASSERT_OK(rv);
	return (0);
}

// A worker leases what queue has and hands in every square.
static size_t
work_queue(const char *queue)
{
	tasq_lease_out    out;
	tasq_complete_rep done;
	bool              parked;
	size_t            n = 0;

	ASSERT_OK(tasq_broker_lease(broker, queue, 1, "w", NULL, 0, 1, 100,
	    tasq_clock_mono_ms(), &out, NULL, &parked));
	for (size_t i = 0; i < out.nbatches; i++) {
		tasq_task_batch  *t  = &out.batches[i];
		int64_t          *sq = malloc(t->n * sizeof(int64_t) + 1);
		tasq_result_batch r;
		ASSERT_NOT_NULL(sq);
		for (size_t k = 0; k < t->n; k++) {
			int64_t v = test_i64(&t->payloads, k);
			sq[k]     = v * v;
		}
		r = test_rb(t->lease_id, t->job_id, t->n, t->ids, sq, NULL);
		ASSERT_OK(tasq_broker_complete(
		    broker, 1, 1, &r, tasq_clock_mono_ms(), &done));
		ASSERT_EQ(done.accepted, t->n);
		n += t->n;
		free(sq);
	}
	tasq_broker_lease_fini(&out);
	return (n);
}

static tasq_req
fetch_with(
    uint64_t job, const char *queue, uint64_t first, size_t n, int64_t *vals)
{
	tasq_req req = { .method = TASQ_M_FETCH };

	req.u.fetch.job_id      = job;
	req.u.fetch.max_results = 100;
	req.u.fetch.wait_ms     = 30000;
	if (n > 0) {
		req.u.fetch.has_submit         = true;
		req.u.fetch.submit.queue       = queue;
		req.u.fetch.submit.job_id      = job;
		req.u.fetch.submit.first_index = first;
		req.u.fetch.submit.n           = n;
		req.u.fetch.submit.payloads    = test_col_i64(vals, n);
		req.u.fetch.submit.legacy      = true;
	}
	return (req);
}

TEST(fetch_carrying_a_submit_applies_it_once_and_waits_for_results)
{
	int64_t           vals[] = { 3, 4, 5 };
	tasq_req          req    = fetch_with(9, "q", 0, 3, vals);
	tasq_service_call call   = { .req = &req, .pipe_id = 1 };
	tasq_waiter       w;
	tasq_rep          rep;
	const char       *why;
	bool              parked;

	setup();
	memset(&w, 0, sizeof(w));
	// No results yet: the batch is queued and the call waits.
	ASSERT_OK(run(&call, &w, &parked, &rep, &why));
	ASSERT_TRUE(parked);
	ASSERT_TRUE(call.applied);
	ASSERT_EQ(call.submitted.accepted, 3);
	// Its wait ran out (as the RPC layer sees a park deadline): run
	// again, which must not submit again.
	ASSERT_FALSE(tasq_broker_unpark(broker, &w));
	ASSERT_OK(run(&call, &w, &parked, &rep, &why));
	ASSERT_TRUE(parked);
	ASSERT_EQ(call.submitted.accepted, 3);
	ASSERT_FALSE(call.submitted.duplicate);

	// A worker does the three: the parked call is woken.
	ASSERT_EQ(work_queue("q"), 3);
	ASSERT_EQ(wakes, 1);
	ASSERT_EQ(work_queue("q"), 0); // the batch was queued once
	ASSERT_OK(run(&call, &w, &parked, &rep, &why));
	ASSERT_FALSE(parked);
	ASSERT_TRUE(rep.u.fetch.has_submit);
	ASSERT_EQ(rep.u.fetch.submit.accepted, 3);
	ASSERT_FALSE(rep.u.fetch.submit.duplicate);
	ASSERT_EQ(rep.u.fetch.n, 3);
	ASSERT_EQ(rep.u.fetch.submitted, 3);
	ASSERT_EQ(rep.u.fetch.completed, 3);
	uint64_t seq = rep.u.fetch.seq;
	ASSERT_NE(seq, 0);
	for (size_t i = 0; i < 3; i++) {
		uint64_t id = rep.u.fetch.ids[i];
		ASSERT_LT(id, 3);
		ASSERT_EQ(
		    test_i64(&rep.u.fetch.results, i), vals[id] * vals[id]);
	}
	tasq_wire_rep_fini(&rep);

	// The same request again (its reply was lost): a duplicate batch,
	// and the same delivery.
	tasq_service_call again = { .req = &req, .pipe_id = 1 };
	ASSERT_OK(run(&again, &w, &parked, &rep, &why));
	ASSERT_FALSE(parked);
	ASSERT_TRUE(rep.u.fetch.has_submit);
	ASSERT_EQ(rep.u.fetch.submit.accepted, 0);
	ASSERT_TRUE(rep.u.fetch.submit.duplicate);
	ASSERT_EQ(rep.u.fetch.seq, seq);
	ASSERT_EQ(rep.u.fetch.n, 3);
	ASSERT_EQ(rep.u.fetch.submitted, 3);
	tasq_wire_rep_fini(&rep);

	// A plain Fetch acknowledging it: nothing left, no field 7.
	tasq_req          plain = fetch_with(9, NULL, 0, 0, NULL);
	tasq_service_call pc    = { .req = &plain, .pipe_id = 1 };
	plain.u.fetch.ack_seq   = seq;
	ASSERT_OK(run(&pc, NULL, &parked, &rep, &why));
	ASSERT_FALSE(parked);
	ASSERT_FALSE(rep.u.fetch.has_submit);
	ASSERT_EQ(rep.u.fetch.n, 0);
	tasq_wire_rep_fini(&rep);
	teardown();
}

TEST(fetch_carrying_a_refused_submit_fetches_nothing)
{
	int64_t           vals[200] = { 0 };
	tasq_req          req;
	tasq_service_call call;
	tasq_waiter       w;
	tasq_rep          rep;
	const char       *why;
	bool              parked;

	setup();
	memset(&w, 0, sizeof(w));
	// Over --max-batch (100 here): refused, and no job is made.
	req  = fetch_with(11, "q", 0, 101, vals);
	call = (tasq_service_call) { .req = &req, .pipe_id = 1 };
	why  = NULL;
	ASSERT_RV(run(&call, &w, &parked, &rep, &why), TASQ_EINVALID_ARGUMENT);
	ASSERT_NOT_NULL(why);
	ASSERT_FALSE(parked);
	ASSERT_FALSE(call.applied);
	req  = fetch_with(11, NULL, 0, 0, NULL);
	call = (tasq_service_call) { .req = &req, .pipe_id = 1 };
	ASSERT_RV(run(&call, NULL, &parked, &rep, &why), TASQ_ENOT_FOUND);

	// A job of queue q, then a batch of it for queue r: refused; the
	// job keeps what it had.
	req  = fetch_with(12, "q", 0, 2, vals);
	call = (tasq_service_call) { .req = &req, .pipe_id = 1 };
	ASSERT_OK(run(&call, NULL, &parked, &rep, &why));
	ASSERT_EQ(rep.u.fetch.submit.accepted, 2);
	tasq_wire_rep_fini(&rep);
	req  = fetch_with(12, "r", 2, 2, vals);
	call = (tasq_service_call) { .req = &req, .pipe_id = 1 };
	why  = NULL;
	ASSERT_RV(run(&call, &w, &parked, &rep, &why), TASQ_EINVALID_ARGUMENT);
	ASSERT_NOT_NULL(why);
	ASSERT_FALSE(parked);
	req  = fetch_with(12, NULL, 0, 0, NULL);
	call = (tasq_service_call) { .req = &req, .pipe_id = 1 };
	ASSERT_OK(run(&call, NULL, &parked, &rep, &why));
	ASSERT_EQ(rep.u.fetch.submitted, 2);
	tasq_wire_rep_fini(&rep);
	teardown();
}

// Runs the client loop of docs/PROTOCOL.md 9.6 on job (every id below n
// once at least), then its CloseJob with close_ack; returns dropped.
static uint64_t
documented_loop_then_close(uint64_t job, size_t n, bool close_with_ack)
{
	uint8_t    *seen = calloc(n, 1);
	size_t      have = 0;
	uint64_t    ack  = 0;
	tasq_rep    rep;
	const char *why;
	bool        parked;

	ASSERT_NOT_NULL(seen);
	for (int round = 0; have < n; round++) {
		tasq_req          req  = fetch_with(job, NULL, 0, 0, NULL);
		tasq_service_call call = { .req = &req, .pipe_id = 1 };
		ASSERT_LT(round, 1000);
		req.u.fetch.ack_seq     = ack;
		req.u.fetch.max_results = 65536;
		req.u.fetch.wait_ms     = 1000;
		ASSERT_OK(run(&call, NULL, &parked, &rep, &why));
		for (size_t i = 0; i < rep.u.fetch.n; i++) {
			ASSERT_LT(rep.u.fetch.ids[i], n);
			have += !seen[rep.u.fetch.ids[i]];
			seen[rep.u.fetch.ids[i]] = 1;
		}
		if (rep.u.fetch.seq != 0) {
			ack = rep.u.fetch.seq;
		}
		tasq_wire_rep_fini(&rep);
	}
	free(seen);

	tasq_req          close   = { .method = TASQ_M_CLOSE_JOB };
	tasq_service_call call    = { .req = &close, .pipe_id = 1 };
	close.u.close_job.job_id  = job;
	close.u.close_job.ack_seq = close_with_ack ? ack : 0;
	ASSERT_OK(run(&call, NULL, &parked, &rep, &why));
	uint64_t dropped = rep.u.close_job.dropped;
	tasq_wire_rep_fini(&rep);
	return (dropped);
}

static void
submit_range(uint64_t job, const char *queue, size_t n)
{
	int64_t     vals[100];
	tasq_rep    rep;
	const char *why;
	bool        parked;

	for (size_t first = 0; first < n; first += 100) {
		tasq_req          req  = { .method = TASQ_M_SUBMIT };
		tasq_service_call call = { .req = &req, .pipe_id = 1 };
		for (size_t i = 0; i < 100; i++) {
			vals[i] = (int64_t) (first + i);
		}
		req.u.submit.queue       = queue;
		req.u.submit.job_id      = job;
		req.u.submit.first_index = first;
		req.u.submit.n           = 100;
		req.u.submit.payloads    = test_col_i64(vals, 100);
		req.u.submit.legacy      = true;
		ASSERT_OK(run(&call, NULL, &parked, &rep, &why));
		ASSERT_EQ(rep.u.submit.accepted, 100);
		tasq_wire_rep_fini(&rep);
	}
}

// docs/PROTOCOL.md 9.6/9.7: a client that follows the documented loop
// and closes with the ack of its last delivery sees dropped = 0 for a
// job whose every result it collected. A client that closes with
// ack_seq 0 (as the document once said it could) still works: its last
// delivery counts as dropped, as before.
TEST(close_after_the_documented_fetch_loop_drops_nothing)
{
	size_t done = 0;

	setup();
	submit_range(21, "q", 1000);
	for (int i = 0; i < 200 && done < 1000; i++) {
		done += work_queue("q");
	}
	ASSERT_EQ(done, 1000);
	ASSERT_EQ(documented_loop_then_close(21, 1000, true), 0);

	submit_range(22, "q", 100);
	for (int i = 0; i < 200 && done < 1100; i++) {
		done += work_queue("q");
	}
	ASSERT_EQ(done, 1100);
	// max_fetch is 50: the last delivery held 50 results.
	ASSERT_EQ(documented_loop_then_close(22, 100, false), 50);
	teardown();
}

static int
fail_syncs(tasq_journal_op op, const char *path)
{
	(void) path;
	return (op == TASQ_JOURNAL_OP_SYNC ? EIO : 0);
}

static bool
health_serving(void)
{
	tasq_req          req  = { .method = TASQ_M_HEALTH };
	tasq_service_call call = { .req = &req };
	tasq_rep          rep;
	const char       *why;
	bool              parked, serving;

	ASSERT_OK(run(&call, NULL, &parked, &rep, &why));
	serving = rep.u.health.serving;
	tasq_wire_rep_fini(&rep);
	return (serving);
}

// Health tells whether the server takes work: not once its journal has
// failed closed (a failed write or sync, which only a restart clears).
TEST(health_is_not_serving_once_the_journal_failed_closed)
{
	char              dir[256];
	char              err[256];
	tasq_journal     *j;
	uint64_t          recs, bytes;
	uint32_t          acc;
	bool              dup;
	const char       *why;
	int64_t           v  = 7;
	tasq_journal_conf jc = { .dir = dir,
		.mode                 = TASQ_FSYNC_ALWAYS,
		.batch_ms             = 50,
		.compact_bytes        = 1 << 20 };

	tasq_scratch_dir(dir, sizeof(dir));
	setup();
	ASSERT_OK(tasq_journal_open(&j, &jc, err, sizeof(err)));
	ASSERT_OK(
	    tasq_broker_recover(broker, j, err, sizeof(err), &recs, &bytes));
	ASSERT_OK(tasq_journal_start(j, err, sizeof(err)));
	ASSERT_TRUE(health_serving());
	tasq_journal_set_fault(fail_syncs);
	ASSERT_OK(test_submit_i64(
	    broker, "q", 5, 0, 1, &v, tasq_clock_mono_ms(), &acc, &dup, &why));
	for (int i = 0; i < 500 && !tasq_journal_failed(j); i++) {
		nng_msleep(10); // bounded: the writer fails at its first sync
	}
	ASSERT_TRUE(tasq_journal_failed(j));
	ASSERT_FALSE(health_serving());
	tasq_journal_set_fault(NULL);
	tasq_journal_close(j);
	teardown();
	tasq_scratch_rm(dir);
}

// DeadList and DeadPurge (methods 9 and 10) through the handler and the
// wire: the letters of expired tasks, with payloads, then purged.
TEST(dead_list_and_purge_methods)
{
	tasq_req          req;
	tasq_rep          rep;
	tasq_service_call call = { .req = &req, .pipe_id = 1 };
	tasq_lease_out    o;
	int64_t           v[2] = { 11, 12 };
	uint32_t          acc;
	bool              dup, parked;
	const char       *why;
	uint64_t          t = tasq_clock_mono_ms();

	setup();
	ASSERT_OK(
	    test_submit_i64(broker, "dq", 9, 0, 2, v, t, &acc, &dup, &why));
	for (int a = 0; a < 3; a++) {
		ASSERT_OK(tasq_broker_lease(broker, "dq", 1, "w", NULL, 0, 1,
		    10, t, &o, NULL, &parked));
		ASSERT_EQ(o.nbatches, 1);
		tasq_broker_lease_fini(&o);
		t += 30001;
		tasq_broker_tick(broker, t);
	}
	memset(&req, 0, sizeof(req));
	req.method               = TASQ_M_DEAD_LIST;
	req.u.dead_list.queue    = "dq";
	req.u.dead_list.payloads = true;
	ASSERT_OK(run(&call, NULL, &parked, &rep, &why));
	ASSERT_EQ(rep.u.dead_list.n, 2);
	ASSERT_EQ(rep.u.dead_list.total, 2);
	ASSERT_EQ(rep.u.dead_list.letters[1].task_id, 1);
	ASSERT_EQ(rep.u.dead_list.letters[1].attempts, 3);
	ASSERT_EQ(rep.u.dead_list.letters[1].payload_size, 8);
	ASSERT_EQ(tasq_i64_le_get(rep.u.dead_list.letters[1].payload), 12);
	ASSERT_STR_EQ(rep.u.dead_list.letters[1].type, "square");
	ASSERT_STR_CONTAINS(rep.u.dead_list.letters[1].error, "expired");
	tasq_wire_rep_fini(&rep);
	memset(&req, 0, sizeof(req));
	req.method             = TASQ_M_DEAD_PURGE;
	req.u.dead_purge.all   = true;
	req.u.dead_purge.queue = "dq";
	ASSERT_OK(run(&call, NULL, &parked, &rep, &why));
	ASSERT_EQ(rep.u.dead_purge.purged, 2);
	tasq_wire_rep_fini(&rep);
	teardown();
}

// Typed tasks through the handlers and the wire: a Fetch carrying a
// typed Submit says no worker serves the type; a worker of the type
// (Lease with types) gets the payloads and hands in results with a
// message; the Fetch reply has them as a Blobs column (not values:
// legacy is false), with codes and errors. A legacy job's reply is
// marked legacy.
TEST(typed_submit_lease_complete_fetch_through_the_wire)
{
	static uint32_t   lens[2]  = { 2, 3 };
	const char       *types[]  = { "rev" };
	const char       *errs[2]  = { NULL, "no good" };
	uint32_t          rlens[2] = { 2, 0 };
	uint32_t          codes[2] = { 0, TASQ_EOUT_OF_RANGE - TASQ_ERR_BASE };
	tasq_req          req      = fetch_with(21, "tq", 0, 0, NULL), lreq;
	tasq_service_call call     = { .req = &req, .pipe_id = 1 };
	tasq_service_call lcall    = { .req = &lreq, .pipe_id = 2 };
	tasq_result_batch rb;
	tasq_rep          rep, lrep;
	const char       *why;
	bool              parked;

	setup();
	req.u.fetch.has_submit    = true;
	req.u.fetch.wait_ms       = 0;
	req.u.fetch.submit.queue  = "tq";
	req.u.fetch.submit.job_id = 21;
	req.u.fetch.submit.n      = 2;
	req.u.fetch.submit.type   = "rev";
	req.u.fetch.submit.payloads =
	    (tasq_blobs) { 0, lens, (uint8_t *) "abxyz", 5 };
	ASSERT_OK(run(&call, NULL, &parked, &rep, &why));
	ASSERT_FALSE(parked);
	ASSERT_EQ(rep.u.fetch.submit.accepted, 2);
	ASSERT_EQ(rep.u.fetch.n, 0);
	ASSERT_TRUE(rep.u.fetch.no_worker);
	tasq_wire_rep_fini(&rep);

	memset(&lreq, 0, sizeof(lreq));
	lreq.method              = TASQ_M_LEASE;
	lreq.u.lease.queue       = "tq";
	lreq.u.lease.worker_id   = 5;
	lreq.u.lease.worker_name = "w";
	lreq.u.lease.max_tasks   = 10;
	lreq.u.lease.ntypes      = 1;
	lreq.u.lease.types       = types;
	ASSERT_OK(run(&lcall, NULL, &parked, &lrep, &why));
	ASSERT_EQ(lrep.u.lease.nbatches, 1);
	ASSERT_STR_EQ(lrep.u.lease.batches[0].type, "rev");
	ASSERT_FALSE(lrep.u.lease.batches[0].legacy);
	ASSERT_EQ(lrep.u.lease.batches[0].payloads.size, 5);
	ASSERT_MEM_EQ(lrep.u.lease.batches[0].payloads.data, "abxyz", 5);
	memset(&rb, 0, sizeof(rb));
	rb.lease_id = lrep.u.lease.batches[0].lease_id;
	rb.job_id   = 21;
	rb.n        = 2;
	rb.ids      = lrep.u.lease.batches[0].ids;
	rb.codes    = codes;
	rb.errors   = errs;
	rb.results  = (tasq_blobs) { 0, rlens, (uint8_t *) "ba", 2 };
	memset(&lreq, 0, sizeof(lreq));
	lreq.method               = TASQ_M_COMPLETE;
	lreq.u.complete.worker_id = 5;
	lreq.u.complete.nresults  = 1;
	lreq.u.complete.results   = &rb;
	lcall = (tasq_service_call) { .req = &lreq, .pipe_id = 2 };
	ASSERT_OK(run(&lcall, NULL, &parked, &rep, &why));
	ASSERT_EQ(rep.u.complete.accepted, 2);
	tasq_wire_rep_fini(&rep);
	tasq_wire_rep_fini(&lrep);

	req                 = fetch_with(21, NULL, 0, 0, NULL);
	req.u.fetch.wait_ms = 0;
	call = (tasq_service_call) { .req = &req, .pipe_id = 1 };
	ASSERT_OK(run(&call, NULL, &parked, &rep, &why));
	ASSERT_EQ(rep.u.fetch.n, 2);
	ASSERT_FALSE(rep.u.fetch.legacy);
	ASSERT_NULL(rep.u.fetch.values);
	ASSERT_FALSE(rep.u.fetch.no_worker);
	ASSERT_EQ(rep.u.fetch.results.size, 2);
	ASSERT_MEM_EQ(rep.u.fetch.results.data, "ba", 2);
	ASSERT_NOT_NULL(rep.u.fetch.codes);
	ASSERT_EQ(rep.u.fetch.codes[1], TASQ_EOUT_OF_RANGE - TASQ_ERR_BASE);
	ASSERT_NOT_NULL(rep.u.fetch.errors);
	ASSERT_STR_EQ(rep.u.fetch.errors[1], "no good");
	tasq_wire_rep_fini(&rep);

	// A legacy job's reply is marked legacy (values on the wire).
	{
		int64_t v[1]        = { 6 };
		req                 = fetch_with(22, "tq", 0, 1, v);
		req.u.fetch.wait_ms = 0;
		call = (tasq_service_call) { .req = &req, .pipe_id = 1 };
		ASSERT_OK(run(&call, NULL, &parked, &rep, &why));
		tasq_wire_rep_fini(&rep);
		ASSERT_EQ(work_queue("tq"), 1);
		req                 = fetch_with(22, NULL, 0, 0, NULL);
		req.u.fetch.wait_ms = 0;
		call = (tasq_service_call) { .req = &req, .pipe_id = 1 };
		ASSERT_OK(run(&call, NULL, &parked, &rep, &why));
		ASSERT_EQ(rep.u.fetch.n, 1);
		ASSERT_TRUE(rep.u.fetch.legacy);
		ASSERT_EQ(test_i64(&rep.u.fetch.results, 0), 36);
		tasq_wire_rep_fini(&rep);
	}
	teardown();
}

TASQ_TEST_MAIN()
