// Unit tests of the broker's Cancel (docs/PROTOCOL.md 9.15): queued tasks
// dropped, leases marked and their workers told (Lease and Extend), late
// results refused, no redelivery and no dead letter of a cancelled task,
// the results it had kept (Results skips the tasks that will never have
// one), the answers to a second cancel, an unknown job and a done one,
// and a job sharing a lease with a cancelled one left alone.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "broker_test_util.h"
#include "err.h"
#include "tasq_test.h"

#define T0 UINT64_C(1000000)
#define LEASE_MS 1000
#define JOB_TTL_MS 60000
#define WORKER 7

static uint64_t wall = UINT64_C(1700000000000);

static uint64_t
wall_ms(void)
{
	return (wall);
}

static void
wake_cb(tasq_waiter *w)
{
	(void) w;
}

static tasq_broker *
broker_new(void)
{
	tasq_broker_conf c = { .max_tasks = 10000,
		.max_batch                = 1000,
		.max_queues               = 3,
		.max_jobs                 = 8,
		.max_workers              = 4,
		.lease_ms                 = LEASE_MS,
		.max_attempts             = 1, // an expiry would dead-letter
		.job_ttl_ms               = JOB_TTL_MS,
		.result_ttl_ms            = 5000,
		.max_fetch                = 100,
		.max_lease                = 100,
		.wall_ms                  = wall_ms };
	tasq_broker     *b = NULL;

	ASSERT_OK(tasq_broker_alloc(&b, &c, wake_cb));
	return (b);
}

// Submits tasks 0..n-1 of job (value = id + 1), detached or not, its
// input complete.
static void
submit(tasq_broker *b, uint64_t job, size_t n, bool detach)
{
	int64_t        *v = malloc(n * 8 + 8);
	tasq_submit_req req;
	const char     *why = NULL;
	uint32_t        acc;
	bool            dup;

	ASSERT_NOT_NULL(v);
	for (size_t i = 0; i < n; i++) {
		v[i] = (int64_t) i + 1;
	}
	memset(&req, 0, sizeof(req));
	req.queue       = "q";
	req.job_id      = job;
	req.first_index = 0;
	req.n           = n;
	req.type        = TASQ_TYPE_SQUARE;
	req.payloads    = test_col_i64(v, n);
	req.detach      = detach;
	req.last        = true;
	ASSERT_OK(tasq_broker_submit(b, &req, T0, &acc, &dup, &why));
	ASSERT_EQ(acc, n);
	free(v);
}

static tasq_lease_out
lease(tasq_broker *b, uint32_t max)
{
	tasq_lease_out o;
	bool           parked = true;

	ASSERT_OK(tasq_broker_lease(
	    b, "q", WORKER, "w", NULL, 0, 1, max, T0, &o, NULL, &parked));
	ASSERT_FALSE(parked);
	return (o);
}

// Hands in the results of tasks ids (n) of batch t: squares of id + 1.
static tasq_complete_rep
complete(
    tasq_broker *b, const tasq_task_batch *t, const uint64_t *ids, size_t n)
{
	int64_t           vals[128];
	tasq_result_batch rb;
	tasq_complete_rep r;

	ASSERT_LE(n, 128);
	for (size_t i = 0; i < n; i++) {
		vals[i] = (int64_t) (ids[i] + 1) * (int64_t) (ids[i] + 1);
	}
	rb = test_rb(t->lease_id, t->job_id, n, (uint64_t *) ids, vals, NULL);
	ASSERT_OK(tasq_broker_complete(b, WORKER, 1, &rb, T0, &r));
	return (r);
}

static int
cancel(tasq_broker *b, uint64_t job, uint64_t *dropped, uint32_t *running,
    int *state)
{
	tasq_job_info_buf ib;
	const char       *why = NULL;
	int               rv;

	rv = tasq_broker_cancel(b, job, T0, dropped, running, &ib, &why);
	if (rv == 0) {
		*state = ib.info.state;
	} else {
		ASSERT_NOT_NULL(why);
	}
	return (rv);
}

TEST(cancel_drops_queued_tasks_and_tells_the_lease_holder)
{
	tasq_broker      *b = broker_new();
	tasq_lease_out    o, o2;
	tasq_complete_rep r;
	tasq_results_out  res;
	tasq_job_info_buf ib;
	tasq_waiter       w;
	uint64_t          dropped, unknown[4], cancelled[4], next = 0;
	uint64_t          done[2] = { 0, 3 }, rest[3] = { 1, 2, 4 };
	size_t            nunknown, ncancelled;
	uint32_t          running, lease_ms;
	int               state;
	bool              parked;
	const char       *why = NULL;

	submit(b, 1, 20, true);
	o = lease(b, 5); // tasks 0..4
	ASSERT_EQ(o.nbatches, 1);
	ASSERT_EQ(o.ncancelled, 0);
	r = complete(b, &o.batches[0], done, 2);
	ASSERT_EQ(r.accepted, 2);

	ASSERT_OK(cancel(b, 1, &dropped, &running, &state));
	ASSERT_EQ(dropped, 15);
	ASSERT_EQ(running, 3);
	ASSERT_EQ(state, TASQ_JOB_CANCELLED);

	// The worker hears on its next Lease, which does not park the
	// first time (the first Lease reply after the cancel carries the
	// news)...
	memset(&w, 0, sizeof(w));
	parked = true;
	ASSERT_OK(tasq_broker_lease(
	    b, "q", WORKER, "w", NULL, 0, 1, 5, T0, &o2, &w, &parked));
	ASSERT_FALSE(parked);
	ASSERT_EQ(o2.nbatches, 0);
	ASSERT_EQ(o2.ncancelled, 1);
	ASSERT_EQ(o2.cancelled[0], o.batches[0].lease_id);
	tasq_broker_lease_fini(&o2);
	// ... then says it again, but parks as before...
	ASSERT_OK(tasq_broker_lease(
	    b, "q", WORKER, "w", NULL, 0, 1, 5, T0, &o2, &w, &parked));
	ASSERT_TRUE(parked);
	ASSERT_EQ(o2.ncancelled, 1);
	(void) tasq_broker_unpark(b, &w);
	tasq_broker_lease_fini(&o2);
	// ... and on every Extend of that lease.
	for (int i = 0; i < 2; i++) {
		tasq_broker_extend_cancelled(b, WORKER, 1,
		    &o.batches[0].lease_id, T0, unknown, &nunknown, cancelled,
		    &ncancelled, &lease_ms);
		ASSERT_EQ(nunknown, 0);
		ASSERT_EQ(ncancelled, 1);
		ASSERT_EQ(cancelled[0], o.batches[0].lease_id);
	}

	// Results that come anyway are refused, and end the lease.
	r = complete(b, &o.batches[0], rest, 3);
	ASSERT_EQ(r.accepted, 0);
	ASSERT_EQ(r.late, 0);
	ASSERT_EQ(r.rejected, 3);
	tasq_broker_extend_cancelled(b, WORKER, 1, &o.batches[0].lease_id, T0,
	    unknown, &nunknown, cancelled, &ncancelled, &lease_ms);
	ASSERT_EQ(nunknown, 1);
	ASSERT_EQ(ncancelled, 0);
	tasq_broker_lease_fini(&o);

	// Nothing is leased again, redelivered or dead-lettered.
	o = lease(b, 100);
	ASSERT_EQ(o.nbatches, 0);
	ASSERT_EQ(o.ncancelled, 0);
	tasq_broker_lease_fini(&o);
	tasq_broker_tick(b, T0 + 10 * LEASE_MS);
	ASSERT_EQ(tasq_broker_counter(b, TASQ_CTR_REDELIVERED), 0);
	ASSERT_EQ(tasq_broker_counter(b, TASQ_CTR_DEAD_LETTERED), 0);

	// The results it had stay readable (skipping the tasks that will
	// never have one), as often as asked; nothing waits.
	for (int round = 0; round < 2; round++) {
		parked = true;
		ASSERT_OK(tasq_broker_results(
		    b, 1, 0, 0, T0, &res, &w, &parked, &why));
		ASSERT_FALSE(parked);
		ASSERT_EQ(res.n, 2);
		ASSERT_EQ(res.ids[0], 0);
		ASSERT_EQ(res.ids[1], 3);
		ASSERT_EQ(test_i64(&res.results, 1), 16);
		ASSERT_EQ(res.next_index, 20);
		ASSERT_EQ(res.job.info.state, TASQ_JOB_CANCELLED);
		ASSERT_EQ(res.job.info.completed, 2);
		next = res.next_index;
		tasq_broker_results_fini(&res);
	}
	ASSERT_OK(
	    tasq_broker_results(b, 1, next, 0, T0, &res, &w, &parked, &why));
	ASSERT_FALSE(parked);
	ASSERT_EQ(res.n, 0);
	tasq_broker_results_fini(&res);
	ASSERT_OK(tasq_broker_job_status(b, 1, T0, &ib, &why));
	ASSERT_EQ(ib.info.state, TASQ_JOB_CANCELLED);
	ASSERT_FALSE(ib.info.no_worker);
	// Its results expire with its result TTL, counted from the cancel.
	wall += 4000;
	tasq_broker_tick(b, T0 + 11 * LEASE_MS);
	ASSERT_OK(tasq_broker_job_status(b, 1, T0, &ib, &why));
	wall += 2000;
	tasq_broker_tick(b, T0 + 12 * LEASE_MS);
	ASSERT_EQ(
	    tasq_broker_job_status(b, 1, T0, &ib, &why), TASQ_ENOT_FOUND);
	tasq_broker_free(b);
}

TEST(cancel_answers_twice_unknown_done_and_refuses_submits)
{
	tasq_broker   *b = broker_new();
	tasq_lease_out o;
	uint64_t       dropped, ids[3] = { 0, 1, 2 };
	uint32_t       running, acc;
	int            state;
	bool           dup;
	const char    *why = NULL;
	int64_t        v   = 1;

	ASSERT_EQ(cancel(b, 99, &dropped, &running, &state), TASQ_ENOT_FOUND);
	submit(b, 1, 10, true);
	o = lease(b, 4);
	ASSERT_OK(cancel(b, 1, &dropped, &running, &state));
	ASSERT_EQ(dropped, 6);
	ASSERT_EQ(running, 4);
	// Again: a no-op (a lost reply's retry), saying what is still out.
	ASSERT_OK(cancel(b, 1, &dropped, &running, &state));
	ASSERT_EQ(dropped, 0);
	ASSERT_EQ(running, 4);
	ASSERT_EQ(state, TASQ_JOB_CANCELLED);
	ASSERT_EQ(test_submit_i64(b, "q", 1, 10, 1, &v, T0, &acc, &dup, &why),
	    TASQ_EFAILED_PRECONDITION);
	tasq_broker_lease_fini(&o);

	// A done job has nothing to cancel.
	submit(b, 2, 3, true);
	o = lease(b, 10);
	ASSERT_EQ(o.nbatches, 1);
	ASSERT_EQ(o.batches[0].job_id, 2);
	ASSERT_EQ(complete(b, &o.batches[0], ids, 3).accepted, 3);
	tasq_broker_lease_fini(&o);
	ASSERT_EQ(cancel(b, 2, &dropped, &running, &state),
	    TASQ_EFAILED_PRECONDITION);
	tasq_broker_free(b);
}

TEST(cancelled_lease_expiring_is_no_redelivery_nor_dead_letter)
{
	tasq_broker   *b = broker_new();
	tasq_lease_out o;
	uint64_t       dropped;
	uint32_t       running;
	int            state;

	submit(b, 1, 10, false);
	o = lease(b, 10);
	ASSERT_OK(cancel(b, 1, &dropped, &running, &state));
	ASSERT_EQ(dropped, 0);
	ASSERT_EQ(running, 10);
	// The worker never answers: its lease expires (max_attempts 1
	// would dead-letter a task of a live job).
	tasq_broker_tick(b, T0 + 2 * LEASE_MS);
	ASSERT_EQ(tasq_broker_counter(b, TASQ_CTR_REDELIVERED), 0);
	ASSERT_EQ(tasq_broker_counter(b, TASQ_CTR_DEAD_LETTERED), 0);
	tasq_broker_lease_fini(&o);
	o = lease(b, 10);
	ASSERT_EQ(o.nbatches, 0);
	ASSERT_EQ(o.ncancelled, 0); // the lease is gone: nothing to tell
	tasq_broker_lease_fini(&o);
	tasq_broker_free(b);
}

TEST(cancelled_attached_job_fetch_ends_with_cancelled)
{
	tasq_broker   *b = broker_new();
	tasq_lease_out o;
	tasq_fetch_out f;
	tasq_waiter    w;
	uint64_t       dropped, ids[2] = { 0, 1 };
	uint32_t       running;
	int            state;
	bool           parked;

	submit(b, 1, 10, false);
	o = lease(b, 4);
	ASSERT_EQ(complete(b, &o.batches[0], ids, 2).accepted, 2);
	ASSERT_OK(cancel(b, 1, &dropped, &running, &state));
	ASSERT_EQ(dropped, 6);
	ASSERT_EQ(running, 2);
	// The results it has come first, then CANCELLED instead of a wait.
	memset(&w, 0, sizeof(w));
	ASSERT_OK(tasq_broker_fetch(b, 1, 0, 0, T0, &f, &w, &parked));
	ASSERT_FALSE(parked);
	ASSERT_EQ(f.n, 2);
	uint64_t seq = f.seq;
	tasq_broker_fetch_fini(&f);
	ASSERT_EQ(tasq_broker_fetch(b, 1, seq, 0, T0, &f, &w, &parked),
	    TASQ_ECANCELLED);
	ASSERT_FALSE(parked);
	tasq_broker_lease_fini(&o);
	tasq_broker_free(b);
}

TEST(cancel_leaves_the_other_job_of_a_shared_lease_alone)
{
	tasq_broker      *b = broker_new();
	tasq_lease_out    o;
	tasq_complete_rep r;
	uint64_t          dropped, unknown[2], cancelled[2];
	uint64_t          ids[3] = { 0, 1, 2 };
	size_t            nunknown, ncancelled, ia = 0, ib = 1;
	uint32_t          running, lease_ms;
	int               state;

	submit(b, 1, 3, false);
	submit(b, 2, 3, false);
	o = lease(b, 6); // one lease, a batch of each job
	ASSERT_EQ(o.nbatches, 2);
	ASSERT_EQ(o.batches[0].lease_id, o.batches[1].lease_id);
	if (o.batches[0].job_id != 1) {
		ia = 1;
		ib = 0;
	}
	ASSERT_OK(cancel(b, 1, &dropped, &running, &state));
	ASSERT_EQ(running, 3);
	tasq_broker_extend_cancelled(b, WORKER, 1, &o.batches[0].lease_id, T0,
	    unknown, &nunknown, cancelled, &ncancelled, &lease_ms);
	ASSERT_EQ(ncancelled, 1);
	// The other job's results count; the cancelled one's do not.
	r = complete(b, &o.batches[ib], ids, 3);
	ASSERT_EQ(r.accepted, 3);
	r = complete(b, &o.batches[ia], ids, 3);
	ASSERT_EQ(r.rejected, 3);
	tasq_broker_lease_fini(&o);
	tasq_job_info_buf info;
	const char       *why = NULL;
	ASSERT_OK(tasq_broker_job_status(b, 2, T0, &info, &why));
	ASSERT_EQ(info.info.state, TASQ_JOB_DONE);
	ASSERT_EQ(tasq_broker_counter(b, TASQ_CTR_REDELIVERED), 0);
	tasq_broker_free(b);
}

TASQ_TEST_MAIN()
