// Unit tests of server/broker, driven with a fake clock: every time is an
// explicit now_ms, so expiry is tested without sleeping.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "broker_test_util.h"
#include "err.h"
#include "tasq_test.h"

#define T0 UINT64_C(1000000) // the fake clock's start
#define LEASE_MS 1000
#define TTL_MS 60000
#define QUEUE_IDLE_MS (10 * TTL_MS)
#define ABORTED_CODE (TASQ_EABORTED - TASQ_ERR_BASE)
#define COUNTER(b, id) tasq_broker_counter(b, TASQ_CTR_##id)

static int          wakes;
static tasq_waiter *last_woken;

static void
wake_cb(tasq_waiter *w)
{
	wakes++;
	last_woken = w;
}

// A broker with small limits; ttl_ms 0 keeps the default job ttl.
static tasq_broker *
broker_new(uint64_t ttl_ms)
{
	tasq_broker_conf c = { .max_tasks = 1000,
		.max_batch                = 100,
		.max_queues               = 3,
		.max_jobs                 = 8,
		.max_workers              = 4,
		.lease_ms                 = LEASE_MS,
		.max_attempts             = 3,
		.job_ttl_ms               = ttl_ms ? ttl_ms : TTL_MS,
		.max_fetch                = 50,
		.max_lease                = 20,
		.queue_idle_ms            = QUEUE_IDLE_MS };
	tasq_broker     *b = NULL;

	wakes      = 0;
	last_woken = NULL;
	ASSERT_OK(tasq_broker_alloc(&b, &c, wake_cb));
	ASSERT_NOT_NULL(b);
	return (b);
}

// Each task's value names its job and id, so a misplaced one shows.
static int64_t
value_of(uint64_t job, uint64_t id)
{
	int64_t v = (int64_t) (job * 1000 + id);
	return (id % 2 ? -v : v);
}

// Submits; *dup (if not NULL) gets the duplicate flag. Returns the rv, or
// on success the number of tasks accepted.
static int
submit(tasq_broker *b, const char *q, uint64_t job, uint64_t first, size_t n,
    uint64_t now, bool *dupp)
{
	int64_t    *v   = malloc(n * sizeof(*v) + 1);
	const char *why = NULL;
	uint32_t    acc = 99;
	bool        dup;
	int         rv;

	ASSERT_NOT_NULL(v);
	for (size_t i = 0; i < n; i++) {
		v[i] = value_of(job, first + i);
	}
	rv = test_submit_i64(b, q, job, first, n, v, now, &acc, &dup, &why);
	free(v);
	if (rv != 0) {
		ASSERT_NOT_NULL(why);
		ASSERT_EQ(acc, 0);
		return (rv);
	}
	ASSERT_EQ(acc, dup ? 0 : n);
	if (dupp != NULL) {
		*dupp = dup;
	}
	return ((int) acc);
}

static void
submit_ok(tasq_broker *b, const char *q, uint64_t job, uint64_t first,
    size_t n, uint64_t now)
{
	bool dup = true;

	ASSERT_EQ(submit(b, q, job, first, n, now, &dup), n);
	ASSERT_FALSE(dup);
}

// Leases without parking; every task must carry its own value.
static tasq_lease_out
lease(tasq_broker *b, const char *q, uint64_t worker, uint32_t pipe,
    uint32_t max, uint64_t now)
{
	tasq_lease_out o;
	bool           parked = true;

	ASSERT_OK(tasq_broker_lease(
	    b, q, worker, "w", NULL, 0, pipe, max, now, &o, NULL, &parked));
	ASSERT_FALSE(parked);
	ASSERT_EQ(o.lease_ms, LEASE_MS);
	for (size_t i = 0; i < o.nbatches; i++) {
		const tasq_task_batch *t = &o.batches[i];
		ASSERT_NE(t->lease_id, 0);
		ASSERT_EQ(t->lease_id, o.batches[0].lease_id);
		for (size_t k = 0; k < t->n; k++) {
			ASSERT_EQ(test_i64(&t->payloads, k),
			    value_of(t->job_id, t->ids[k]));
		}
	}
	return (o);
}

// Checks that batch i of o holds ids first..first+n-1 of job.
static void
expect_batch(const tasq_lease_out *o, size_t i, uint64_t job, uint64_t first,
    size_t n, uint32_t attempt)
{
	ASSERT_LT(i, o->nbatches);
	ASSERT_EQ(o->batches[i].job_id, job);
	ASSERT_EQ(o->batches[i].attempt, attempt);
	ASSERT_EQ(o->batches[i].n, n);
	for (size_t k = 0; k < n; k++) {
		ASSERT_EQ(o->batches[i].ids[k], first + k);
	}
}

// Leases exactly the one batch expected, lets go of the output and
// returns the lease id.
static uint64_t
lease_one(tasq_broker *b, const char *q, uint64_t worker, uint32_t pipe,
    uint32_t max, uint64_t now, uint64_t job, uint64_t first, size_t n,
    uint32_t attempt)
{
	tasq_lease_out o = lease(b, q, worker, pipe, max, now);
	uint64_t       id;

	ASSERT_EQ(o.nbatches, 1);
	expect_batch(&o, 0, job, first, n, attempt);
	id = o.batches[0].lease_id;
	tasq_broker_lease_fini(&o);
	return (id);
}

// A lease on an empty queue: no tasks, and w parked (when not NULL).
static void
lease_none(tasq_broker *b, const char *q, uint64_t worker, tasq_waiter *w,
    uint64_t now)
{
	tasq_lease_out o;
	bool           parked = false;

	ASSERT_OK(tasq_broker_lease(
	    b, q, worker, "w", NULL, 0, 1, 10, now, &o, w, &parked));
	ASSERT_EQ(parked, w != NULL);
	ASSERT_EQ(o.nbatches, 0);
	tasq_broker_lease_fini(&o);
}

// Hands in results for every task of o: the square of its value, or
// code (then value 0) when code is not 0. Checks the outcome counts.
static void
complete(tasq_broker *b, uint64_t worker, const tasq_lease_out *o,
    uint32_t code, uint64_t now, uint32_t accepted, uint32_t dups,
    uint32_t late, uint32_t rejected)
{
	tasq_result_batch rb[4];
	int64_t           vals[4][64];
	uint32_t          codes[64];
	tasq_complete_rep r;

	ASSERT_LE(o->nbatches, 4);
	for (size_t i = 0; i < o->nbatches; i++) {
		const tasq_task_batch *t = &o->batches[i];
		ASSERT_LE(t->n, 64);
		for (size_t k = 0; k < t->n; k++) {
			vals[i][k] = code ? 0
			                  : test_i64(&t->payloads, k) *
			        test_i64(&t->payloads, k);
			codes[k]   = code;
		}
		rb[i] = test_rb(t->lease_id, t->job_id, t->n, t->ids, vals[i],
		    code ? codes : NULL);
	}
	tasq_broker_complete(b, worker, o->nbatches, rb, now, &r);
	ASSERT_EQ(r.accepted, accepted);
	ASSERT_EQ(r.duplicates, dups);
	ASSERT_EQ(r.late, late);
	ASSERT_EQ(r.rejected, rejected);
}

// Worker 11 leases up to max tasks and completes them on time.
static void
lease_and_complete(tasq_broker *b, const char *q, uint32_t max, uint64_t now)
{
	tasq_lease_out o = lease(b, q, 11, 1, max, now);
	uint32_t       n = 0;

	for (size_t i = 0; i < o.nbatches; i++) {
		n += (uint32_t) o.batches[i].n;
	}
	complete(b, 11, &o, 0, now, n, 0, 0, 0);
	tasq_broker_lease_fini(&o);
}

static tasq_fetch_out
fetch(tasq_broker *b, uint64_t job, uint64_t ack, uint32_t max, uint64_t now)
{
	tasq_fetch_out o;
	bool           parked = true;

	ASSERT_OK(tasq_broker_fetch(b, job, ack, max, now, &o, NULL, &parked));
	ASSERT_FALSE(parked);
	return (o);
}

// The error of a fetch that must fail.
static int
fetch_rv(tasq_broker *b, uint64_t job)
{
	tasq_fetch_out o;
	bool           parked;
	int            rv;

	rv = tasq_broker_fetch(b, job, 0, 0, T0, &o, NULL, &parked);
	if (rv == 0) {
		tasq_broker_fetch_fini(&o);
	}
	return (rv);
}

// Fetches and expects delivery seq of ids first.. with squared values.
static void
fetch_squares(tasq_broker *b, uint64_t job, uint64_t ack, uint32_t max,
    uint64_t now, uint64_t seq, uint64_t first, size_t n)
{
	tasq_fetch_out o = fetch(b, job, ack, max, now);

	ASSERT_EQ(o.seq, seq);
	ASSERT_EQ(o.n, n);
	ASSERT_NULL(o.codes);
	for (size_t k = 0; k < n; k++) {
		int64_t v = value_of(job, first + k);
		ASSERT_EQ(o.ids[k], first + k);
		ASSERT_EQ(test_i64(&o.results, k), v * v);
	}
	tasq_broker_fetch_fini(&o);
}

static void
expect_queue(tasq_broker *b, const char *q, uint64_t ready, uint64_t leased,
    uint64_t results, uint64_t jobs, uint64_t dead)
{
	tasq_rep                rep;
	const tasq_queue_stats *s = NULL;

	ASSERT_OK(tasq_broker_stats(b, T0, &rep));
	for (size_t i = 0; i < rep.u.stats.nqueues; i++) {
		if (strcmp(rep.u.stats.queues[i].name, q) == 0) {
			s = &rep.u.stats.queues[i];
		}
	}
	ASSERT_NOT_NULL(s);
	ASSERT_EQ(s->ready, ready);
	ASSERT_EQ(s->leased, leased);
	ASSERT_EQ(s->results, results);
	ASSERT_EQ(s->jobs, jobs);
	ASSERT_EQ(s->dead, dead);
	tasq_broker_stats_fini(&rep);
}

// ---- the happy path and submit -------------------------------------------

TEST(submit_lease_complete_fetch_ack)
{
	tasq_broker   *b = broker_new(0);
	tasq_lease_out lo;
	tasq_fetch_out fo;

	submit_ok(b, "q", 7, 100, 5, T0);
	expect_queue(b, "q", 5, 0, 0, 1, 0);
	lo = lease(b, "q", 11, 1, 10, T0 + 1);
	ASSERT_EQ(lo.nbatches, 1);
	expect_batch(&lo, 0, 7, 100, 5, 1);
	expect_queue(b, "q", 0, 5, 0, 1, 0);
	complete(b, 11, &lo, 0, T0 + 2, 5, 0, 0, 0);
	tasq_broker_lease_fini(&lo);
	expect_queue(b, "q", 0, 0, 5, 1, 0);
	fo = fetch(b, 7, 0, 0, T0 + 3);
	ASSERT_EQ(fo.submitted, 5);
	ASSERT_EQ(fo.completed, 5);
	tasq_broker_fetch_fini(&fo);
	fetch_squares(b, 7, 0, 0, T0 + 3, 1, 100, 5);
	fetch_squares(b, 7, 1, 0, T0 + 4, 0, 0, 0);
	expect_queue(b, "q", 0, 0, 0, 1, 0);
	ASSERT_EQ(COUNTER(b, SUBMITTED), 5);
	ASSERT_EQ(COUNTER(b, LEASED), 5);
	ASSERT_EQ(COUNTER(b, COMPLETED), 5);
	ASSERT_EQ(COUNTER(b, FAILED), 0);
	ASSERT_EQ(COUNTER(b, REDELIVERED), 0);
	tasq_broker_free(b);
	tasq_broker_free(NULL);
}

TEST(duplicate_submit_and_overlaps)
{
	tasq_broker   *b = broker_new(0);
	tasq_lease_out lo;
	bool           dup = false;

	submit_ok(b, "q", 7, 0, 5, T0);
	ASSERT_EQ(submit(b, "q", 7, 0, 5, T0, &dup), 0);
	ASSERT_TRUE(dup);
	ASSERT_EQ(COUNTER(b, DUPLICATE_SUBMITS), 1);
	submit_ok(b, "q", 7, 5, 5, T0); // touches, does not overlap
	ASSERT_RV(submit(b, "q", 7, 9, 3, T0, NULL), TASQ_EINVALID_ARGUMENT);
	ASSERT_EQ(submit(b, "q", 7, 20, 5, T0 + 1, NULL), 5);
	ASSERT_RV(submit(b, "q", 7, 0, 30, T0, NULL), TASQ_EINVALID_ARGUMENT);
	ASSERT_RV(
	    submit(b, "other", 7, 40, 5, T0, NULL), TASQ_EINVALID_ARGUMENT);
	expect_queue(b, "q", 15, 0, 0, 1, 0);
	// Each batch once: one task batch per submitted range.
	lo = lease(b, "q", 11, 1, 20, T0);
	ASSERT_EQ(lo.nbatches, 3);
	expect_batch(&lo, 0, 7, 0, 5, 1);
	expect_batch(&lo, 1, 7, 5, 5, 1);
	expect_batch(&lo, 2, 7, 20, 5, 1);
	tasq_broker_lease_fini(&lo);
	lease_none(b, "q", 11, NULL, T0);
	ASSERT_EQ(COUNTER(b, SUBMITTED), 15);
	tasq_broker_free(b);
}

// Only the same (first, n) is a duplicate (proto/tasq.proto, Submit); a
// batch across two earlier ones overlaps part of each.
TEST(batch_across_two_batches_is_not_a_duplicate)
{
	tasq_broker *b   = broker_new(0);
	bool         dup = false;

	submit_ok(b, "q", 7, 0, 5, T0);
	submit_ok(b, "q", 7, 5, 5, T0);
	ASSERT_RV(submit(b, "q", 7, 3, 5, T0, &dup), TASQ_EINVALID_ARGUMENT);
	ASSERT_FALSE(dup);
	tasq_broker_free(b);
}

TEST(batch_size_and_task_limits)
{
	tasq_broker   *b = broker_new(0);
	tasq_fetch_out fo;
	bool           dup;

	ASSERT_RV(submit(b, "q", 7, 0, 0, T0, NULL), TASQ_EINVALID_ARGUMENT);
	// Too large a batch can never succeed: not a retry-later error.
	ASSERT_RV(submit(b, "q", 7, 0, 101, T0, NULL), TASQ_EINVALID_ARGUMENT);
	for (uint64_t i = 0; i < 10; i++) {
		submit_ok(b, "q", 7, i * 100, 100, T0);
	}
	ASSERT_EQ(COUNTER(b, RESOURCE_EXHAUSTED), 0);
	ASSERT_RV(submit(b, "q", 8, 0, 1, T0, NULL), TASQ_ERESOURCE_EXHAUSTED);
	ASSERT_EQ(COUNTER(b, RESOURCE_EXHAUSTED), 1);
	// A duplicate is still answered when full.
	ASSERT_EQ(submit(b, "q", 7, 0, 100, T0, &dup), 0);
	ASSERT_TRUE(dup);
	// Results count until their client acknowledges them.
	lease_and_complete(b, "q", 20, T0);
	ASSERT_RV(submit(b, "q", 8, 0, 1, T0, NULL), TASQ_ERESOURCE_EXHAUSTED);
	fo = fetch(b, 7, 0, 0, T0);
	ASSERT_EQ(fo.n, 20);
	tasq_broker_fetch_fini(&fo);
	ASSERT_RV(submit(b, "q", 8, 0, 1, T0, NULL), TASQ_ERESOURCE_EXHAUSTED);
	fetch_squares(b, 7, 1, 0, T0, 0, 0, 0);
	submit_ok(b, "q", 8, 0, 20, T0);
	ASSERT_RV(
	    submit(b, "q", 8, 20, 1, T0, NULL), TASQ_ERESOURCE_EXHAUSTED);
	ASSERT_EQ(COUNTER(b, RESOURCE_EXHAUSTED), 4);
	tasq_broker_free(b);
}

TEST(queue_job_and_worker_limits)
{
	tasq_broker   *b = broker_new(0);
	tasq_lease_out lo;
	bool           parked;

	submit_ok(b, "a", 1, 0, 1, T0);
	submit_ok(b, "b", 2, 0, 1, T0);
	submit_ok(b, "c", 3, 0, 1, T0);
	// Permanent for the client (it cannot pick another queue): not
	// RESOURCE_EXHAUSTED, which clients retry.
	ASSERT_RV(
	    submit(b, "d", 4, 0, 1, T0, NULL), TASQ_EFAILED_PRECONDITION);
	for (uint64_t j = 4; j <= 8; j++) {
		submit_ok(b, "a", j, 0, 1, T0);
	}
	ASSERT_RV(submit(b, "a", 9, 0, 1, T0, NULL), TASQ_ERESOURCE_EXHAUSTED);
	ASSERT_EQ(COUNTER(b, RESOURCE_EXHAUSTED), 2);
	for (uint64_t w = 1; w <= 4; w++) {
		lease_one(b, "a", w, 1, 1, T0, w == 1 ? 1 : w + 2, 0, 1, 1);
	}
	ASSERT_RV(tasq_broker_lease(
	              b, "a", 5, "w5", NULL, 0, 1, 1, T0, &lo, NULL, &parked),
	    TASQ_ERESOURCE_EXHAUSTED);
	tasq_broker_free(b);
}

// ---- lease ---------------------------------------------------------------

TEST(lease_respects_max_and_order)
{
	tasq_broker   *b = broker_new(0);
	tasq_lease_out lo;
	bool           parked = true;

	submit_ok(b, "q", 7, 0, 50, T0);
	submit_ok(b, "q", 8, 0, 3, T0);
	lease_one(b, "q", 11, 1, 7, T0, 7, 0, 7, 1);
	// Across jobs: one batch per range; job 8, not served yet, goes
	// first (the lane's rotation), then job 7 fills the lease.
	lo = lease(b, "q", 11, 1, 1000, T0); // max_lease is 20
	ASSERT_EQ(lo.nbatches, 2);
	expect_batch(&lo, 0, 8, 0, 3, 1);
	expect_batch(&lo, 1, 7, 7, 17, 1);
	tasq_broker_lease_fini(&lo);
	expect_queue(b, "q", 26, 27, 0, 2, 0);
	lease_one(b, "q", 12, 2, 20, T0, 7, 24, 20, 1);
	lease_one(b, "q", 12, 2, 20, T0, 7, 44, 6, 1);
	// max 0 asks for nothing and does not park.
	ASSERT_OK(tasq_broker_lease(
	    b, "q", 11, "w", NULL, 0, 1, 0, T0, &lo, NULL, &parked));
	ASSERT_FALSE(parked);
	ASSERT_EQ(lo.nbatches, 0);
	tasq_broker_lease_fini(&lo);
	ASSERT_EQ(COUNTER(b, LEASED), 53);
	tasq_broker_free(b);
}

// Adaptive batching: idle workers of a queue share a short queue; a
// worker alone (or with the others busy) gets what it asks for.
TEST(lease_shares_a_short_queue_among_idle_workers)
{
	tasq_broker_conf c = { .max_tasks = 100000,
		.max_batch                = 10000,
		.max_queues               = 3,
		.max_jobs                 = 8,
		.max_workers              = 8,
		.lease_ms                 = LEASE_MS,
		.max_attempts             = 3,
		.job_ttl_ms               = TTL_MS,
		.max_fetch                = 50,
		.max_lease                = 5000 };
	tasq_broker     *b = NULL;
	tasq_lease_out   lo[3], o;
	bool             parked;

	ASSERT_OK(tasq_broker_alloc(&b, &c, wake_cb));
	// Workers 11, 12, 13 on q, 14 on another queue (max 0: only seen).
	for (uint64_t w = 11; w <= 14; w++) {
		ASSERT_OK(tasq_broker_lease(b, w == 14 ? "other" : "q", w, "w",
		    NULL, 0, (uint32_t) w, 0, T0, &o, NULL, &parked));
		tasq_broker_lease_fini(&o);
	}
	// 900 tasks, three idle workers: 300 each, in order.
	submit_ok(b, "q", 7, 0, 900, T0);
	for (uint64_t w = 11; w <= 13; w++) {
		lo[w - 11] = lease(b, "q", w, (uint32_t) w, 5000, T0);
		ASSERT_EQ(lo[w - 11].nbatches, 1);
		expect_batch(&lo[w - 11], 0, 7, (w - 11) * 300, 300, 1);
	}
	// Everyone busy: the one who asks gets all it asks for.
	submit_ok(b, "q", 8, 0, 900, T0);
	o = lease(b, "q", 11, 11, 5000, T0);
	expect_batch(&o, 0, 8, 0, 900, 1);
	tasq_broker_lease_fini(&o);
	// 13 done (idle again), 12 gone (its 300 tasks ready again).
	{
		const tasq_task_batch *t = &lo[2].batches[0];
		int64_t                v[300];
		tasq_result_batch      rb =
		    test_rb(t->lease_id, t->job_id, t->n, t->ids, v, NULL);
		tasq_complete_rep r;
		for (size_t i = 0; i < t->n; i++) {
			v[i] = test_i64(&t->payloads, i) *
			    test_i64(&t->payloads, i);
		}
		ASSERT_OK(tasq_broker_complete(b, 13, 1, &rb, T0, &r));
		ASSERT_EQ(r.accepted, 300);
	}
	tasq_broker_pipe_gone(b, 12, T0);
	submit_ok(b, "q", 9, 0, 100, T0);
	// 400 ready; 11 (busy, but asking) and 13 (idle): 200. Job 9
	// joined the rotation last, at its time: it goes first.
	o = lease(b, "q", 11, 11, 5000, T0);
	ASSERT_EQ(o.nbatches, 2);
	expect_batch(&o, 0, 9, 0, 100, 1);
	expect_batch(&o, 1, 7, 300, 100, 2);
	tasq_broker_lease_fini(&o);
	// 11 busy: 13 gets the 200 left.
	o = lease(b, "q", 13, 13, 5000, T0);
	ASSERT_EQ(o.nbatches, 1);
	expect_batch(&o, 0, 7, 400, 200, 2);
	tasq_broker_lease_fini(&o);
	// Three idle workers of r, 200 tasks: a share is never below 128.
	for (uint64_t w = 21; w <= 23; w++) {
		ASSERT_OK(tasq_broker_lease(b, "r", w, "w", NULL, 0,
		    (uint32_t) w, 0, T0, &o, NULL, &parked));
		tasq_broker_lease_fini(&o);
	}
	submit_ok(b, "r", 10, 0, 200, T0);
	o = lease(b, "r", 21, 21, 5000, T0);
	expect_batch(&o, 0, 10, 0, 128, 1);
	tasq_broker_lease_fini(&o);
	o = lease(b, "r", 22, 22, 5000, T0);
	expect_batch(&o, 0, 10, 128, 72, 1);
	tasq_broker_lease_fini(&o);
	for (size_t i = 0; i < 3; i++) {
		tasq_broker_lease_fini(&lo[i]);
	}
	tasq_broker_free(b);
}

TEST(lease_expiry_requeues_with_next_attempt)
{
	tasq_broker   *b = broker_new(0);
	tasq_lease_out lo;
	tasq_waiter    w = { 0 };

	submit_ok(b, "q", 7, 0, 4, T0);
	lease_one(b, "q", 11, 1, 3, T0, 7, 0, 3, 1);
	lease_one(b, "q", 11, 1, 3, T0 + 10, 7, 3, 1, 1);
	lease_none(b, "q", 12, &w, T0 + 10);
	tasq_broker_tick(b, T0 + LEASE_MS - 1);
	expect_queue(b, "q", 0, 4, 0, 1, 0);
	ASSERT_EQ(COUNTER(b, LEASES_EXPIRED), 0);
	ASSERT_EQ(wakes, 0);
	tasq_broker_tick(b, T0 + LEASE_MS);
	expect_queue(b, "q", 3, 1, 0, 1, 0);
	ASSERT_EQ(COUNTER(b, LEASES_EXPIRED), 1);
	ASSERT_EQ(COUNTER(b, REDELIVERED), 3);
	// A parked worker learns of the returned tasks.
	ASSERT_EQ(wakes, 1);
	ASSERT_PTR_EQ(last_woken, &w);
	ASSERT_TRUE(tasq_broker_unpark(b, &w));
	// Back at the head of the queue, one attempt further.
	tasq_broker_tick(b, T0 + LEASE_MS + 10);
	lo = lease(b, "q", 12, 2, 5, T0 + LEASE_MS + 10);
	ASSERT_EQ(lo.nbatches, 2);
	expect_batch(&lo, 0, 7, 3, 1, 2);
	expect_batch(&lo, 1, 7, 0, 3, 2);
	tasq_broker_lease_fini(&lo);
	tasq_broker_free(b);
}

TEST(pipe_gone_requeues_at_once)
{
	tasq_broker   *b = broker_new(0);
	tasq_lease_out other;
	tasq_rep       rep;

	submit_ok(b, "q", 7, 0, 4, T0);
	lease_one(b, "q", 11, 5, 2, T0, 7, 0, 2, 1);
	other = lease(b, "q", 12, 6, 2, T0);
	tasq_broker_pipe_gone(b, 5, T0 + 1);
	ASSERT_EQ(COUNTER(b, LEASES_DISCONNECTED), 1);
	ASSERT_EQ(COUNTER(b, REDELIVERED), 2);
	expect_queue(b, "q", 2, 2, 0, 1, 0);
	ASSERT_OK(tasq_broker_stats(b, T0 + 1, &rep));
	ASSERT_EQ(rep.u.stats.nworkers, 2);
	for (size_t i = 0; i < 2; i++) {
		const tasq_worker_stats *w = &rep.u.stats.workers[i];
		ASSERT_EQ(w->connected, w->worker_id == 12);
		ASSERT_EQ(w->tasks_in_hand, w->worker_id == 12 ? 2 : 0);
	}
	tasq_broker_stats_fini(&rep);
	lease_one(b, "q", 13, 7, 10, T0 + 2, 7, 0, 2, 2);
	// The other worker's lease is untouched and still completes.
	complete(b, 12, &other, 0, T0 + 3, 2, 0, 0, 0);
	tasq_broker_lease_fini(&other);
	tasq_broker_free(b);
}

// ---- dead letters, late, duplicate and failed results --------------------

TEST(dead_letter_after_max_attempts)
{
	tasq_broker   *b = broker_new(0);
	tasq_fetch_out fo;
	tasq_rep       rep;
	uint64_t       t = T0;
	tasq_waiter    w = { 0 };

	submit_ok(b, "q", 7, 40, 3, t);
	for (uint32_t attempt = 1; attempt <= 3; attempt++) {
		lease_one(b, "q", 11, 1, 10, t, 7, 40, 3, attempt);
		t += LEASE_MS;
		tasq_broker_tick(b, t);
	}
	ASSERT_EQ(COUNTER(b, LEASES_EXPIRED), 3);
	ASSERT_EQ(COUNTER(b, REDELIVERED), 6);
	ASSERT_EQ(COUNTER(b, DEAD_LETTERED), 3);
	expect_queue(b, "q", 0, 0, 3, 1, 3);
	lease_none(b, "q", 11, &w, t);
	ASSERT_FALSE(tasq_broker_unpark(b, &w));

	fo = fetch(b, 7, 0, 0, t);
	ASSERT_EQ(fo.n, 3);
	ASSERT_NOT_NULL(fo.codes);
	for (size_t k = 0; k < 3; k++) {
		ASSERT_EQ(fo.ids[k], 40 + k);
		ASSERT_EQ(fo.codes[k], ABORTED_CODE);
		ASSERT_EQ(test_i64(&fo.results, k), 0);
	}
	ASSERT_EQ(fo.completed, 3);
	tasq_broker_fetch_fini(&fo);
	ASSERT_OK(tasq_broker_stats(b, t, &rep));
	ASSERT_EQ(rep.u.stats.ndead, 3);
	for (size_t k = 0; k < 3; k++) {
		ASSERT_EQ(rep.u.stats.dead[2 * k], 7);
		ASSERT_EQ(rep.u.stats.dead[2 * k + 1], 40 + k);
	}
	tasq_broker_stats_fini(&rep);
	tasq_broker_free(b);
}

TEST(late_result_accepted_redelivery_is_duplicate)
{
	tasq_broker   *b = broker_new(0);
	tasq_lease_out first, second;
	uint64_t       unknown[1];
	size_t         nunknown;
	uint32_t       lease_ms;
	tasq_waiter    w = { 0 };

	submit_ok(b, "q", 7, 0, 3, T0);
	first = lease(b, "q", 11, 1, 10, T0);
	tasq_broker_tick(b, T0 + LEASE_MS);
	second = lease(b, "q", 12, 2, 10, T0 + LEASE_MS);
	expect_batch(&second, 0, 7, 0, 3, 2);
	// The slow first worker finishes after all: late, but kept.
	complete(b, 11, &first, 0, T0 + 1001, 0, 0, 3, 0);
	tasq_broker_lease_fini(&first);
	ASSERT_EQ(COUNTER(b, LATE_RESULTS), 3);
	// The redelivery's results are duplicates and end its lease.
	complete(b, 12, &second, 0, T0 + 1002, 0, 3, 0, 0);
	ASSERT_EQ(COUNTER(b, DUPLICATE_RESULTS), 3);
	tasq_broker_extend(b, 12, 1, &second.batches[0].lease_id, T0 + 1003,
	    unknown, &nunknown, &lease_ms);
	ASSERT_EQ(nunknown, 1);
	tasq_broker_lease_fini(&second);
	expect_queue(b, "q", 0, 0, 3, 1, 0);
	fetch_squares(b, 7, 0, 0, T0 + 1004, 1, 0, 3);

	// Late results that come before the redelivery: the requeued tasks
	// are done and are not handed out again.
	submit_ok(b, "q", 8, 0, 2, T0 + 2000);
	first = lease(b, "q", 11, 1, 10, T0 + 2000);
	tasq_broker_tick(b, T0 + 3000);
	complete(b, 11, &first, 0, T0 + 3000, 0, 0, 2, 0);
	tasq_broker_lease_fini(&first);
	lease_none(b, "q", 12, &w, T0 + 3000);
	ASSERT_FALSE(tasq_broker_unpark(b, &w));
	expect_queue(b, "q", 0, 0, 5, 2, 0);
	tasq_broker_free(b);
}

TEST(second_result_is_duplicate_and_delivered_once)
{
	tasq_broker      *b = broker_new(0);
	tasq_lease_out    lo;
	tasq_fetch_out    fo;
	tasq_result_batch rb;
	tasq_complete_rep rep;
	int64_t           vals[3] = { 1, 2, 3 };

	submit_ok(b, "q", 7, 0, 3, T0);
	lo = lease(b, "q", 11, 1, 10, T0);
	// Two of three: the lease stays; repeating them is a duplicate.
	rb = test_rb(
	    lo.batches[0].lease_id, 7, 2, lo.batches[0].ids, vals, NULL);
	tasq_broker_complete(b, 11, 1, &rb, T0, &rep);
	ASSERT_EQ(rep.accepted, 2);
	vals[0] = 100;
	tasq_broker_complete(b, 11, 1, &rb, T0, &rep);
	ASSERT_EQ(rep.accepted, 0);
	ASSERT_EQ(rep.duplicates, 2);
	complete(b, 11, &lo, 0, T0, 1, 2, 0, 0);
	expect_queue(b, "q", 0, 0, 3, 1, 0);
	// Once the chunk is finished and gone, still a duplicate.
	complete(b, 11, &lo, 0, T0, 0, 3, 0, 0);
	tasq_broker_lease_fini(&lo);
	ASSERT_EQ(COUNTER(b, DUPLICATE_RESULTS), 7);
	fo = fetch(b, 7, 0, 0, T0);
	ASSERT_EQ(fo.n, 3);
	ASSERT_EQ(test_i64(&fo.results, 0), 1); // the first result wins
	ASSERT_EQ(test_i64(&fo.results, 1), 2);
	ASSERT_EQ(test_i64(&fo.results, 2), value_of(7, 2) * value_of(7, 2));
	tasq_broker_fetch_fini(&fo);
	tasq_broker_free(b);
}

TEST(failed_and_rejected_results)
{
	tasq_broker      *b = broker_new(0);
	tasq_lease_out    lo;
	tasq_fetch_out    fo;
	tasq_complete_rep rep;
	uint64_t          ids[2]  = { 5, 6 };
	int64_t           vals[2] = { 0, 0 };
	tasq_result_batch rb[2]   = { test_rb(1, 99, 2, ids, vals, NULL),
		  test_rb(1, 7, 2, ids, vals, NULL) };

	submit_ok(b, "q", 7, 0, 2, T0);
	// Job 99 does not exist; ids 5 and 6 are outside job 7.
	tasq_broker_complete(b, 11, 2, rb, T0, &rep);
	ASSERT_EQ(rep.rejected, 4);
	ASSERT_EQ(COUNTER(b, REJECTED_RESULTS), 4);
	expect_queue(b, "q", 2, 0, 0, 1, 0);
	// A task that failed (OUT_OF_RANGE) reaches its client as such.
	lo = lease(b, "q", 11, 1, 10, T0);
	complete(b, 11, &lo, 11, T0, 2, 0, 0, 0);
	tasq_broker_lease_fini(&lo);
	fo = fetch(b, 7, 0, 0, T0);
	ASSERT_EQ(fo.n, 2);
	ASSERT_NOT_NULL(fo.codes);
	ASSERT_EQ(fo.codes[0], 11);
	ASSERT_EQ(fo.codes[1], 11);
	ASSERT_EQ(test_i64(&fo.results, 1), 0);
	tasq_broker_fetch_fini(&fo);
	ASSERT_EQ(COUNTER(b, FAILED), 2);
	tasq_broker_free(b);
}

// ---- fetch, close, ttl ---------------------------------------------------

TEST(fetch_resends_until_acknowledged)
{
	tasq_broker *b = broker_new(0);

	submit_ok(b, "q", 7, 0, 5, T0);
	lease_and_complete(b, "q", 10, T0);
	fetch_squares(b, 7, 0, 3, T0, 1, 0, 3);
	// Lost reply: the same delivery again, and for a wrong ack too.
	fetch_squares(b, 7, 0, 3, T0, 1, 0, 3);
	fetch_squares(b, 7, 5, 3, T0, 1, 0, 3);
	expect_queue(b, "q", 0, 0, 5, 1, 0);
	fetch_squares(b, 7, 1, 3, T0, 2, 3, 2);
	expect_queue(b, "q", 0, 0, 2, 1, 0);
	fetch_squares(b, 7, 2, 3, T0, 0, 0, 0);
	// A repeated ack of a forgotten delivery changes nothing.
	fetch_squares(b, 7, 2, 3, T0, 0, 0, 0);
	expect_queue(b, "q", 0, 0, 0, 1, 0);
	tasq_broker_free(b);
}

// Results keep arriving while earlier ones are fetched in uneven slices:
// the result list must grow and slide with part of it consumed.
TEST(results_interleaved_with_fetches)
{
	tasq_broker *b    = broker_new(0);
	uint64_t     next = 0, seq = 0;
	unsigned     r = 1;

	submit_ok(b, "q", 7, 0, 100, T0);
	submit_ok(b, "q", 7, 100, 100, T0);
	for (int round = 0; next < 200; round++) {
		tasq_fetch_out fo;
		ASSERT_LT(round, 1000);
		r = r * 1103515245u + 12345u;
		lease_and_complete(b, "q", 1 + (r >> 16) % 12, T0);
		fo = fetch(b, 7, seq, 1 + (r >> 8) % 13, T0);
		for (size_t k = 0; k < fo.n; k++, next++) {
			ASSERT_EQ(fo.ids[k], next);
			ASSERT_EQ(test_i64(&fo.results, k),
			    value_of(7, next) * value_of(7, next));
		}
		seq = fo.seq;
		tasq_broker_fetch_fini(&fo);
	}
	fetch_squares(b, 7, seq, 0, T0, 0, 0, 0); // the last ack
	expect_queue(b, "q", 0, 0, 0, 1, 0);
	tasq_broker_free(b);
}

TEST(close_job_after_results_then_not_found)
{
	tasq_broker *b       = broker_new(0);
	uint64_t     dropped = 99;

	submit_ok(b, "q", 7, 0, 5, T0);
	lease_and_complete(b, "q", 10, T0);
	fetch_squares(b, 7, 0, 3, T0, 1, 0, 3); // 3 delivered, 2 waiting
	ASSERT_OK(tasq_broker_close_job(b, 7, T0, &dropped));
	ASSERT_EQ(dropped, 5);
	expect_queue(b, "q", 0, 0, 0, 0, 0);
	ASSERT_RV(fetch_rv(b, 7), TASQ_ENOT_FOUND);
	ASSERT_RV(tasq_broker_close_job(b, 7, T0, &dropped), TASQ_ENOT_FOUND);
	ASSERT_EQ(dropped, 0);
	ASSERT_RV(
	    tasq_broker_close_job(b, 12345, T0, &dropped), TASQ_ENOT_FOUND);
	// Its room is free again.
	for (uint64_t i = 0; i < 10; i++) {
		submit_ok(b, "q", 8, i * 100, 100, T0);
	}
	tasq_broker_free(b);
}

TEST(close_job_with_leased_tasks)
{
	tasq_broker   *b = broker_new(0);
	tasq_lease_out lo;
	tasq_fetch_out fo;
	tasq_waiter    w       = { 0 };
	uint64_t       dropped = 0;
	bool           parked;

	submit_ok(b, "q", 7, 0, 3, T0);
	lo = lease(b, "q", 11, 1, 10, T0);
	ASSERT_OK(tasq_broker_fetch(b, 7, 0, 0, T0, &fo, &w, &parked));
	ASSERT_TRUE(parked);
	tasq_broker_fetch_fini(&fo);
	ASSERT_OK(tasq_broker_close_job(b, 7, T0, &dropped));
	ASSERT_EQ(dropped, 3);
	ASSERT_EQ(wakes, 1); // the client's long poll ends
	ASSERT_TRUE(tasq_broker_unpark(b, &w));
	ASSERT_RV(fetch_rv(b, 7), TASQ_ENOT_FOUND);
	// The worker's results have nowhere to go.
	complete(b, 11, &lo, 0, T0, 0, 0, 0, 3);
	tasq_broker_lease_fini(&lo);
	tasq_broker_tick(b, T0 + LEASE_MS);
	expect_queue(b, "q", 0, 0, 0, 0, 0);
	tasq_broker_free(b);
}

// The plain case: a client gives up before any worker started.
TEST(close_job_with_ready_tasks)
{
	tasq_broker *b       = broker_new(0);
	uint64_t     dropped = 0;

	submit_ok(b, "q", 7, 0, 5, T0);
	submit_ok(b, "q", 8, 0, 2, T0);
	ASSERT_OK(tasq_broker_close_job(b, 7, T0, &dropped));
	ASSERT_EQ(dropped, 5);
	expect_queue(b, "q", 2, 0, 0, 1, 0);
	ASSERT_RV(fetch_rv(b, 7), TASQ_ENOT_FOUND);
	lease_one(b, "q", 11, 1, 10, T0, 8, 0, 2, 1);
	tasq_broker_free(b);
}

TEST(job_ttl_expiry_via_tick)
{
	tasq_broker *b = broker_new(0);
	uint64_t     t = T0 + TTL_MS;

	submit_ok(b, "q", 7, 0, 3, T0);
	lease_and_complete(b, "q", 10, T0 + 10);
	// A fetch is client activity: it restarts the job's clock.
	fetch_squares(b, 7, 0, 1, t, 1, 0, 1);
	tasq_broker_tick(b, t + TTL_MS);
	ASSERT_EQ(COUNTER(b, JOBS_EXPIRED), 0);
	expect_queue(b, "q", 0, 0, 3, 1, 0);
	tasq_broker_tick(b, t + TTL_MS + 1);
	ASSERT_EQ(COUNTER(b, JOBS_EXPIRED), 1);
	expect_queue(b, "q", 0, 0, 0, 0, 0);
	ASSERT_RV(fetch_rv(b, 7), TASQ_ENOT_FOUND);
	tasq_broker_free(b);
}

TEST(job_ttl_expiry_with_ready_tasks)
{
	tasq_broker *b = broker_new(0);

	submit_ok(b, "q", 7, 0, 3, T0);
	tasq_broker_tick(b, T0 + TTL_MS + 1);
	ASSERT_EQ(COUNTER(b, JOBS_EXPIRED), 1);
	expect_queue(b, "q", 0, 0, 0, 0, 0);
	tasq_broker_free(b);
}

// ---- extend, release -----------------------------------------------------

TEST(extend_keeps_lease_alive)
{
	tasq_broker   *b = broker_new(0);
	tasq_lease_out lo;
	uint64_t       ids[3], unknown[3];
	size_t         nunknown = 99;
	uint32_t       lease_ms = 0;

	submit_ok(b, "q", 7, 0, 3, T0);
	lo     = lease(b, "q", 11, 1, 10, T0);
	ids[0] = lo.batches[0].lease_id;
	ids[1] = 424242;
	ids[2] = ids[0];
	tasq_broker_extend(
	    b, 11, 3, ids, T0 + 900, unknown, &nunknown, &lease_ms);
	ASSERT_EQ(lease_ms, LEASE_MS);
	ASSERT_EQ(nunknown, 1);
	ASSERT_EQ(unknown[0], 424242);
	// Another worker cannot extend it.
	tasq_broker_extend(
	    b, 12, 1, ids, T0 + 900, unknown, &nunknown, &lease_ms);
	ASSERT_EQ(nunknown, 1);
	ASSERT_EQ(unknown[0], ids[0]);
	tasq_broker_tick(b, T0 + LEASE_MS);
	tasq_broker_tick(b, T0 + 900 + LEASE_MS - 1);
	ASSERT_EQ(COUNTER(b, LEASES_EXPIRED), 0);
	complete(b, 11, &lo, 0, T0 + 1500, 3, 0, 0, 0);
	tasq_broker_lease_fini(&lo);
	tasq_broker_free(b);
}

TEST(release_does_not_raise_attempt)
{
	tasq_broker *b = broker_new(0);
	uint64_t     id;

	submit_ok(b, "q", 7, 0, 4, T0);
	// More releases than max_attempts: never dead-lettered.
	for (int i = 0; i < 5; i++) {
		id = lease_one(b, "q", 11, 1, 10, T0, 7, 0, 4, 1);
		ASSERT_EQ(tasq_broker_release(b, 12, 1, &id, T0), 0);
		ASSERT_EQ(tasq_broker_release(b, 11, 1, &id, T0), 4);
		ASSERT_EQ(tasq_broker_release(b, 11, 1, &id, T0), 0);
		expect_queue(b, "q", 4, 0, 0, 1, 0);
	}
	ASSERT_EQ(COUNTER(b, DEAD_LETTERED), 0);
	// An expiry after releases still counts from the first attempt.
	lease_one(b, "q", 11, 1, 10, T0, 7, 0, 4, 1);
	tasq_broker_tick(b, T0 + LEASE_MS);
	lease_one(b, "q", 11, 1, 10, T0 + LEASE_MS, 7, 0, 4, 2);
	tasq_broker_free(b);
}

// ---- waiters -------------------------------------------------------------

TEST(parked_lease_woken_by_submit)
{
	tasq_broker   *b = broker_new(0);
	tasq_lease_out lo;
	tasq_waiter    w = { 0 };

	// Unparked before anything arrives: never woken.
	lease_none(b, "q", 11, &w, T0);
	ASSERT_FALSE(tasq_broker_unpark(b, &w));
	ASSERT_NULL(w.list);
	submit_ok(b, "q", 6, 0, 1, T0);
	ASSERT_EQ(wakes, 0);
	lease_one(b, "q", 11, 1, 10, T0, 6, 0, 1, 1);

	lease_none(b, "q", 11, &w, T0);
	submit_ok(b, "other", 7, 0, 1, T0); // another queue: no wake
	ASSERT_EQ(wakes, 0);
	submit_ok(b, "q", 8, 0, 2, T0);
	ASSERT_EQ(wakes, 1);
	ASSERT_PTR_EQ(last_woken, &w);
	ASSERT_TRUE(w.woken);
	submit_ok(b, "q", 8, 2, 2, T0); // woken once only
	ASSERT_EQ(wakes, 1);
	ASSERT_TRUE(tasq_broker_unpark(b, &w));
	ASSERT_FALSE(tasq_broker_unpark(b, &w));
	lo = lease(b, "q", 11, 1, 10, T0);
	ASSERT_EQ(lo.nbatches, 2);
	expect_batch(&lo, 1, 8, 2, 2, 1);
	tasq_broker_lease_fini(&lo);
	tasq_broker_free(b);
}

TEST(parked_fetch_woken_by_complete)
{
	tasq_broker   *b = broker_new(0);
	tasq_lease_out lo;
	tasq_fetch_out fo;
	tasq_waiter    w      = { 0 };
	bool           parked = false;

	submit_ok(b, "q", 7, 0, 2, T0);
	lo = lease(b, "q", 11, 1, 10, T0);
	ASSERT_OK(tasq_broker_fetch(b, 7, 0, 0, T0, &fo, &w, &parked));
	ASSERT_TRUE(parked);
	ASSERT_EQ(fo.n, 0);
	ASSERT_EQ(fo.submitted, 2);
	ASSERT_EQ(fo.completed, 0);
	tasq_broker_fetch_fini(&fo);
	// Unparked in time, a waiter is not woken; parked, it is.
	ASSERT_FALSE(tasq_broker_unpark(b, &w));
	ASSERT_OK(tasq_broker_fetch(b, 7, 0, 0, T0, &fo, &w, &parked));
	tasq_broker_fetch_fini(&fo);
	ASSERT_EQ(wakes, 0);
	complete(b, 11, &lo, 0, T0, 2, 0, 0, 0);
	tasq_broker_lease_fini(&lo);
	ASSERT_EQ(wakes, 1);
	ASSERT_PTR_EQ(last_woken, &w);
	ASSERT_TRUE(tasq_broker_unpark(b, &w));
	fetch_squares(b, 7, 0, 0, T0, 1, 0, 2);
	tasq_broker_free(b);
}

// ---- stats, workers ------------------------------------------------------

TEST(stats_snapshot)
{
	tasq_broker             *b = broker_new(0);
	tasq_lease_out           lo;
	tasq_rep                 rep;
	const tasq_worker_stats *w;
	bool                     parked;

	submit_ok(b, "alpha", 7, 0, 5, T0);
	submit_ok(b, "beta", 8, 0, 1, T0);
	ASSERT_OK(tasq_broker_lease(b, "alpha", 11, "host:1", NULL, 0, 3, 2,
	    T0 + 10, &lo, NULL, &parked));
	tasq_broker_lease_fini(&lo);
	expect_queue(b, "alpha", 3, 2, 0, 1, 0);
	expect_queue(b, "beta", 1, 0, 0, 1, 0);
	ASSERT_OK(tasq_broker_stats(b, T0 + 110, &rep));
	ASSERT_EQ(rep.method, TASQ_M_STATS);
	ASSERT_EQ(rep.u.stats.nworkers, 1);
	w = &rep.u.stats.workers[0];
	ASSERT_EQ(w->worker_id, 11);
	ASSERT_STR_EQ(w->name, "host:1");
	ASSERT_STR_EQ(w->queue, "alpha");
	ASSERT_EQ(w->leases, 1);
	ASSERT_EQ(w->tasks_in_hand, 2);
	ASSERT_EQ(w->completed, 0);
	ASSERT_EQ(w->idle_ms, 100);
	ASSERT_TRUE(w->connected);
	// Counters are listed in enum order, by name (those the RPC layer
	// counts: stats_test.c, broker_counts_into_registry).
	ASSERT_EQ(rep.u.stats.ncounters, TASQ_CTR_COUNT);
	ASSERT_STR_EQ(
	    rep.u.stats.counters[TASQ_CTR_REQUESTS].name, "requests_total");
	ASSERT_EQ(rep.u.stats.counters[TASQ_CTR_SUBMITTED].value, 6);
	tasq_broker_stats_fini(&rep);
	tasq_broker_free(b);
}

// Per-queue submitted and completed: only newly enqueued tasks, and first
// results of any kind; over all queues they add up to the global counters.
static void
expect_counts(tasq_broker *b, uint64_t a_sub, uint64_t a_done, uint64_t b_sub,
    uint64_t b_done)
{
	tasq_rep rep;
	uint64_t want[2][2] = { { a_sub, a_done }, { b_sub, b_done } };

	ASSERT_OK(tasq_broker_stats(b, T0, &rep));
	ASSERT_EQ(rep.u.stats.nqueues, 2);
	for (size_t i = 0; i < 2; i++) {
		const tasq_queue_stats *q = &rep.u.stats.queues[i];
		ASSERT_STR_EQ(q->name, i ? "beta" : "alpha");
		ASSERT_EQ(q->submitted, want[i][0]);
		ASSERT_EQ(q->completed, want[i][1]);
	}
	ASSERT_EQ(
	    rep.u.stats.counters[TASQ_CTR_SUBMITTED].value, a_sub + b_sub);
	ASSERT_EQ(
	    rep.u.stats.counters[TASQ_CTR_COMPLETED].value, a_done + b_done);
	tasq_broker_stats_fini(&rep);
}

TEST(queue_submitted_and_completed)
{
	tasq_broker   *b = broker_new(0);
	tasq_lease_out lo;
	bool           dup = false;
	uint64_t       t   = T0, dropped;

	submit_ok(b, "alpha", 7, 0, 5, t);
	ASSERT_EQ(submit(b, "alpha", 7, 0, 5, t, &dup), 0); // a retry
	ASSERT_TRUE(dup);
	submit_ok(b, "alpha", 9, 0, 3, t);
	submit_ok(b, "beta", 8, 0, 4, t);
	// Refused batches count nowhere.
	ASSERT_RV(
	    submit(b, "alpha", 7, 3, 4, t, NULL), TASQ_EINVALID_ARGUMENT);
	ASSERT_RV(submit(b, "beta", 7, 9, 1, t, NULL), TASQ_EINVALID_ARGUMENT);
	expect_counts(b, 8, 0, 4, 0);

	// OK results, then the same results again (duplicates).
	lo = lease(b, "alpha", 11, 1, 5, t);
	expect_batch(&lo, 0, 7, 0, 5, 1);
	complete(b, 11, &lo, 0, t, 5, 0, 0, 0);
	complete(b, 11, &lo, 0, t, 0, 5, 0, 0);
	tasq_broker_lease_fini(&lo);
	expect_counts(b, 8, 5, 4, 0);
	// Error results count as completed (and failed).
	lo = lease(b, "alpha", 11, 1, 5, t);
	expect_batch(&lo, 0, 9, 0, 3, 1);
	complete(b, 11, &lo, 11, t, 3, 0, 0, 0);
	tasq_broker_lease_fini(&lo);
	expect_counts(b, 8, 8, 4, 0);
	// So do dead letters, given their ABORTED result on the last expiry.
	for (uint32_t attempt = 1; attempt <= 3; attempt++) {
		lease_one(b, "beta", 12, 2, 10, t, 8, 0, 4, attempt);
		expect_counts(b, 8, 8, 4, 0);
		t += LEASE_MS;
		tasq_broker_tick(b, t);
	}
	expect_queue(b, "beta", 0, 0, 4, 1, 4);
	expect_counts(b, 8, 8, 4, 4);
	ASSERT_EQ(COUNTER(b, FAILED), 7);
	ASSERT_EQ(COUNTER(b, DEAD_LETTERED), 4);

	// A retry after the fact, fetching and closing change nothing.
	ASSERT_EQ(submit(b, "alpha", 7, 0, 5, t, &dup), 0);
	ASSERT_TRUE(dup);
	fetch_squares(b, 7, 0, 0, t, 1, 0, 5);
	ASSERT_OK(tasq_broker_close_job(b, 7, t, &dropped));
	ASSERT_OK(tasq_broker_close_job(b, 8, t, &dropped));
	expect_counts(b, 8, 8, 4, 4);
	ASSERT_EQ(COUNTER(b, DUPLICATE_SUBMITS), 2);
	tasq_broker_free(b);
}

// ---- idle queues -----------------------------------------------------------

static size_t
nqueues(tasq_broker *b)
{
	tasq_rep rep;
	size_t   n;

	ASSERT_OK(tasq_broker_stats(b, T0, &rep));
	n = rep.u.stats.nqueues;
	tasq_broker_stats_fini(&rep);
	return (n);
}

// A job's whole life in queue q at time t: submit, work, fetch, close.
static void
job_life(tasq_broker *b, const char *q, uint64_t job, uint64_t t)
{
	uint64_t dropped = 99;

	submit_ok(b, q, job, 0, 2, t);
	lease_and_complete(b, q, 10, t);
	fetch_squares(b, job, 0, 0, t, 1, 0, 2);
	ASSERT_OK(tasq_broker_close_job_ack(b, job, 1, t, &dropped));
	ASSERT_EQ(dropped, 0);
}

TEST(idle_queue_goes_after_the_grace_period_and_comes_back)
{
	tasq_broker *b = broker_new(10 * QUEUE_IDLE_MS); // jobs stay
	uint64_t     t = T0 + 10;

	job_life(b, "a", 1, t);
	expect_queue(b, "a", 0, 0, 0, 0, 0);
	tasq_broker_tick(b, t + QUEUE_IDLE_MS - 1);
	ASSERT_EQ(nqueues(b), 1); // within the grace period
	tasq_broker_tick(b, t + QUEUE_IDLE_MS);
	ASSERT_EQ(nqueues(b), 0);
	// Its place is free: three other queues fit under max_queues 3.
	t += QUEUE_IDLE_MS;
	submit_ok(b, "b", 2, 0, 1, t);
	submit_ok(b, "c", 3, 0, 1, t);
	submit_ok(b, "d", 4, 0, 1, t);
	ASSERT_RV(submit(b, "a", 5, 0, 1, t, NULL), TASQ_EFAILED_PRECONDITION);
	// And a removed queue is made again by the next submit that names
	// it (here once d is gone).
	uint64_t dropped;
	ASSERT_OK(tasq_broker_close_job(b, 4, t, &dropped));
	tasq_broker_tick(b, t + QUEUE_IDLE_MS);
	ASSERT_EQ(nqueues(b), 2); // b and c hold jobs
	job_life(b, "a", 5, t + QUEUE_IDLE_MS);
	ASSERT_EQ(nqueues(b), 3);
	tasq_broker_free(b);
}

TEST(queue_in_use_stays)
{
	tasq_broker   *b = broker_new(10 * QUEUE_IDLE_MS);
	tasq_waiter    w;
	tasq_lease_out o;
	uint64_t       t = T0 + 3 * QUEUE_IDLE_MS;

	memset(&w, 0, sizeof(w));
	// A worker waits on w: its queue stays however long it waits.
	lease_none(b, "w", 1, &w, T0);
	// A job with a task ready, and one with a task leased.
	submit_ok(b, "r", 2, 0, 1, T0);
	submit_ok(b, "l", 3, 0, 1, T0);
	o = lease(b, "l", 4, 2, 1, T0);
	ASSERT_EQ(o.nbatches, 1);
	// The lease keeps being extended; nothing else happens for long.
	for (uint64_t now = T0; now <= t; now += LEASE_MS / 2) {
		uint64_t unknown[1];
		size_t   nunknown;
		uint32_t lease_ms;
		tasq_broker_extend(b, 4, 1, &o.batches[0].lease_id, now,
		    unknown, &nunknown, &lease_ms);
		ASSERT_EQ(nunknown, 0);
		tasq_broker_tick(b, now);
	}
	ASSERT_EQ(nqueues(b), 3);
	expect_queue(b, "w", 0, 0, 0, 0, 0);
	expect_queue(b, "r", 1, 0, 0, 1, 0);
	expect_queue(b, "l", 0, 1, 0, 1, 0);
	// Once the worker stops waiting, its queue goes after the grace
	// period, counted from its last lease.
	ASSERT_FALSE(tasq_broker_unpark(b, &w));
	tasq_broker_tick(b, t);
	ASSERT_EQ(nqueues(b), 2);
	tasq_broker_lease_fini(&o);
	tasq_broker_free(b);
}

// ---- typed tasks (issue 12) --------------------------------------------

// Submits n tasks of type to job (payload i: "p<first + i>" repeated
// i % 3 + 1 times, so that lengths differ). Returns the rv.
static int
submit_typed(tasq_broker *b, const char *q, const char *type, uint64_t job,
    uint64_t first, size_t n, uint64_t now, const char **why)
{
	static uint8_t  data[4096];
	static uint32_t lens[100];
	tasq_submit_req req;
	size_t          size = 0;
	uint32_t        acc;
	bool            dup;

	ASSERT_LE(n, 100);
	for (size_t i = 0; i < n; i++) {
		char one[32];
		int l = snprintf(one, sizeof(one), "p%zu", (size_t) first + i);
		lens[i] = 0;
		for (size_t k = 0; k < i % 3 + 1; k++) {
			memcpy(data + size, one, (size_t) l);
			size += (size_t) l;
			lens[i] += (uint32_t) l;
		}
	}
	memset(&req, 0, sizeof(req));
	req.queue       = q;
	req.type        = type;
	req.job_id      = job;
	req.first_index = first;
	req.n           = n;
	req.payloads    = (tasq_blobs) { 0, lens, data, size };
	return (tasq_broker_submit(b, &req, now, &acc, &dup, why));
}

static tasq_lease_out
lease_types(tasq_broker *b, const char *q, uint64_t worker,
    const char *const *types, size_t ntypes, uint32_t max, uint64_t now)
{
	tasq_lease_out o;
	bool           parked;

	ASSERT_OK(tasq_broker_lease(
	    b, q, worker, "w", types, ntypes, 1, max, now, &o, NULL, &parked));
	return (o);
}

TEST(typed_tasks_go_only_to_workers_of_their_type)
{
	tasq_broker             *b      = broker_new(0);
	static const char *const sha[]  = { "sha256" };
	static const char *const both[] = { "other", "sha256" };
	const char              *why    = NULL;
	tasq_lease_out           o;

	ASSERT_OK(submit_typed(b, "q", "sha256", 7, 0, 5, T0, &why));
	submit_ok(b, "q", 8, 0, 3, T0); // square, legacy
	// A legacy worker (no types) gets the square tasks only.
	o = lease(b, "q", 11, 1, 20, T0);
	ASSERT_EQ(o.nbatches, 1);
	ASSERT_EQ(o.batches[0].job_id, 8);
	ASSERT_EQ(o.batches[0].n, 3);
	ASSERT_TRUE(o.batches[0].legacy);
	ASSERT_STR_EQ(o.batches[0].type, "square");
	ASSERT_EQ(o.batches[0].payloads.width, 8);
	ASSERT_EQ(test_i64(&o.batches[0].payloads, 2), value_of(8, 2));
	tasq_broker_lease_fini(&o);
	o = lease(b, "q", 11, 1, 20, T0);
	ASSERT_EQ(o.nbatches, 0); // sha256 is not for it
	tasq_broker_lease_fini(&o);
	// A worker of sha256 gets them, payloads as they came.
	o = lease_types(b, "q", 12, sha, 1, 20, T0);
	ASSERT_EQ(o.nbatches, 1);
	ASSERT_FALSE(o.batches[0].legacy);
	ASSERT_STR_EQ(o.batches[0].type, "sha256");
	ASSERT_EQ(o.batches[0].n, 5);
	ASSERT_EQ(o.batches[0].payloads.width, 0);
	ASSERT_EQ(o.batches[0].payloads.lens[0], 2);
	ASSERT_EQ(o.batches[0].payloads.lens[2], 6);
	ASSERT_EQ(o.batches[0].payloads.size, 2 + 4 + 6 + 2 + 4);
	ASSERT_EQ(
	    memcmp(o.batches[0].payloads.data, "p0p1p1p2p2p2p3p4p4", 18), 0);
	tasq_broker_lease_fini(&o);
	// Nothing left for a worker of both types.
	o = lease_types(b, "q", 13, both, 2, 20, T0);
	ASSERT_EQ(o.nbatches, 0);
	tasq_broker_lease_fini(&o);
	// A later batch of another type is refused.
	ASSERT_RV(submit_typed(b, "q", "other", 7, 5, 1, T0, &why),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_NOT_NULL(strstr(why, "type"));
	tasq_broker_free(b);
}

TEST(typed_lease_takes_a_partly_done_range_around_its_holes)
{
	tasq_broker             *b     = broker_new(0);
	static const char *const sha[] = { "sha256" };
	const char              *why   = NULL;
	tasq_lease_out           o;
	tasq_complete_rep        r;
	uint64_t                 ids[1] = { 1 };
	uint32_t                 len1   = 1;
	tasq_result_batch        rb;

	ASSERT_OK(submit_typed(b, "q", "sha256", 7, 0, 4, T0, &why));
	o = lease_types(b, "q", 12, sha, 1, 20, T0);
	memset(&rb, 0, sizeof(rb));
	rb.lease_id = o.batches[0].lease_id;
	rb.job_id   = 7;
	rb.n        = 1;
	rb.ids      = ids;
	rb.results  = (tasq_blobs) { 0, &len1, (uint8_t *) "x", 1 };
	ASSERT_OK(tasq_broker_complete(b, 12, 1, &rb, T0, &r));
	ASSERT_EQ(r.accepted, 1);
	tasq_broker_lease_fini(&o);
	// The lease expires: tasks 0, 2, 3 come back without task 1.
	tasq_broker_tick(b, T0 + LEASE_MS + 1);
	o = lease_types(b, "q", 12, sha, 1, 20, T0 + LEASE_MS + 1);
	ASSERT_EQ(o.nbatches, 1);
	ASSERT_EQ(o.batches[0].n, 3);
	ASSERT_EQ(o.batches[0].ids[1], 2);
	ASSERT_EQ(o.batches[0].payloads.lens[1], 6);
	ASSERT_EQ(o.batches[0].payloads.size, 2 + 6 + 2);
	ASSERT_EQ(memcmp(o.batches[0].payloads.data, "p0p2p2p2p3", 10), 0);
	tasq_broker_lease_fini(&o);
	tasq_broker_free(b);
}

TEST(results_with_bytes_codes_and_errors_are_fetched_as_given)
{
	tasq_broker             *b       = broker_new(0);
	static const char *const sha[]   = { "sha256" };
	const char              *why     = NULL;
	const char              *errs[3] = { NULL, "boom: it failed", "" };
	// OUT_OF_RANGE: final (not retried)
	uint32_t       codes[3] = { 0, TASQ_EOUT_OF_RANGE - TASQ_ERR_BASE, 0 };
	uint32_t       lens[3]  = { 3, 0, 5 };
	tasq_lease_out o;
	tasq_complete_rep r;
	tasq_result_batch rb;
	tasq_fetch_out    fo;
	bool              parked;

	ASSERT_OK(submit_typed(b, "q", "sha256", 7, 0, 3, T0, &why));
	o = lease_types(b, "q", 12, sha, 1, 20, T0);
	memset(&rb, 0, sizeof(rb));
	rb.lease_id = o.batches[0].lease_id;
	rb.job_id   = 7;
	rb.n        = 3;
	rb.ids      = o.batches[0].ids;
	rb.codes    = codes;
	rb.errors   = errs;
	rb.results  = (tasq_blobs) { 0, lens, (uint8_t *) "abcvwxyz", 8 };
	ASSERT_OK(tasq_broker_complete(b, 12, 1, &rb, T0, &r));
	ASSERT_EQ(r.accepted, 3);
	tasq_broker_lease_fini(&o);
	ASSERT_OK(tasq_broker_fetch(b, 7, 0, 0, T0, &fo, NULL, &parked));
	ASSERT_EQ(fo.n, 3);
	ASSERT_FALSE(fo.legacy);
	ASSERT_EQ(fo.results.width, 0);
	ASSERT_EQ(fo.results.lens[0], 3);
	ASSERT_EQ(fo.results.lens[1], 0);
	ASSERT_EQ(fo.results.size, 8);
	ASSERT_EQ(memcmp(fo.results.data, "abcvwxyz", 8), 0);
	ASSERT_NOT_NULL(fo.codes);
	ASSERT_EQ(fo.codes[1], TASQ_EOUT_OF_RANGE - TASQ_ERR_BASE);
	ASSERT_NOT_NULL(fo.errors);
	ASSERT_NULL(fo.errors[0]);
	ASSERT_STR_EQ(fo.errors[1], "boom: it failed");
	ASSERT_NULL(fo.errors[2]);
	ASSERT_EQ(COUNTER(b, FAILED), 1);
	tasq_broker_fetch_fini(&fo);
	// Acknowledged: gone, nothing more to fetch.
	ASSERT_OK(tasq_broker_fetch(b, 7, fo.seq, 0, T0, &fo, NULL, &parked));
	ASSERT_EQ(fo.n, 0);
	tasq_broker_fetch_fini(&fo);
	tasq_broker_free(b);
}

TEST(payload_bytes_bound_refuses_then_admits_after_ack)
{
	tasq_broker_conf c   = { .max_tasks = 1000,
		  .max_payload_bytes        = 100,
		  .max_batch                = 100,
		  .max_queues               = 3,
		  .max_jobs                 = 8,
		  .max_workers              = 4,
		  .lease_ms                 = LEASE_MS,
		  .max_attempts             = 3,
		  .job_ttl_ms               = TTL_MS,
		  .max_fetch                = 50,
		  .max_lease                = 20 };
	tasq_broker     *b   = NULL;
	const char      *why = NULL;
	int64_t          v[13];
	uint32_t         acc;
	bool             dup;

	ASSERT_OK(tasq_broker_alloc(&b, &c, wake_cb));
	for (size_t i = 0; i < 13; i++) {
		v[i] = value_of(1, i);
	}
	// 13 x 8 bytes is more than the whole bound: never admissible.
	ASSERT_RV(test_submit_i64(b, "q", 1, 0, 13, v, T0, &acc, &dup, &why),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_OK(test_submit_i64(b, "q", 1, 0, 10, v, T0, &acc, &dup, &why));
	ASSERT_RV(test_submit_i64(b, "q", 2, 0, 3, v, T0, &acc, &dup, &why),
	    TASQ_ERESOURCE_EXHAUSTED);
	ASSERT_NOT_NULL(strstr(why, "max-payload-bytes"));
	// Done and acknowledged: the bytes are free again.
	{
		tasq_lease_out o = lease(b, "q", 11, 1, 20, T0);
		tasq_fetch_out fo;
		bool           parked;
		complete(b, 11, &o, 0, T0, 10, 0, 0, 0);
		tasq_broker_lease_fini(&o);
		ASSERT_OK(
		    tasq_broker_fetch(b, 1, 0, 0, T0, &fo, NULL, &parked));
		ASSERT_EQ(fo.n, 10);
		tasq_broker_fetch_fini(&fo);
		ASSERT_OK(tasq_broker_fetch(
		    b, 1, fo.seq, 0, T0, &fo, NULL, &parked));
		tasq_broker_fetch_fini(&fo);
	}
	ASSERT_OK(test_submit_i64(b, "q", 2, 0, 3, v, T0, &acc, &dup, &why));
	tasq_broker_free(b);
}

// Runs job of n tasks on queue q through max_attempts expiries.
static uint64_t
expire_all(tasq_broker *b, const char *q, uint64_t job, size_t n, uint64_t t)
{
	submit_ok(b, q, job, 0, n, t);
	for (uint32_t attempt = 1; attempt <= 3; attempt++) {
		tasq_lease_out o = lease(b, q, 11, 1, 10, t);
		ASSERT_EQ(o.nbatches, 1);
		tasq_broker_lease_fini(&o);
		t += LEASE_MS;
		tasq_broker_tick(b, t);
	}
	return (t);
}

TEST(dead_letters_listed_with_payload_attempts_error_and_time)
{
	tasq_broker   *b = broker_new(0);
	tasq_fetch_out fo;
	tasq_rep       rep;
	uint64_t       t = expire_all(b, "q", 7, 2, T0), purged;

	// The client gets the code and the message.
	fo = fetch(b, 7, 0, 0, t);
	ASSERT_EQ(fo.n, 2);
	ASSERT_NOT_NULL(fo.errors);
	ASSERT_STR_CONTAINS(fo.errors[0], "3 attempts");
	tasq_broker_fetch_fini(&fo);
	ASSERT_OK(tasq_broker_dead_list(b, NULL, 0, 0, true, &rep));
	ASSERT_EQ(rep.u.dead_list.n, 2);
	ASSERT_EQ(rep.u.dead_list.total, 2);
	for (size_t k = 0; k < 2; k++) {
		const tasq_dead_letter *d = &rep.u.dead_list.letters[k];
		ASSERT_EQ(d->id, k + 1);
		ASSERT_EQ(d->job_id, 7);
		ASSERT_EQ(d->task_id, k);
		ASSERT_STR_EQ(d->queue, "q");
		ASSERT_STR_EQ(d->type, "square");
		ASSERT_EQ(d->payload_len, 8);
		ASSERT_EQ(d->payload_size, 8);
		ASSERT_EQ(tasq_i64_le_get(d->payload), value_of(7, k));
		ASSERT_EQ(d->attempts, 3);
		ASSERT_EQ(d->code, ABORTED_CODE);
		ASSERT_STR_CONTAINS(d->error, "lease expired");
		ASSERT_GT(d->time_ms, UINT64_C(1600000000000));
	}
	tasq_broker_stats_fini(&rep);
	// Without payloads, after an id, of another queue.
	ASSERT_OK(tasq_broker_dead_list(b, "q", 1, 0, false, &rep));
	ASSERT_EQ(rep.u.dead_list.n, 1);
	ASSERT_EQ(rep.u.dead_list.letters[0].id, 2);
	ASSERT_EQ(rep.u.dead_list.letters[0].payload_size, 0);
	ASSERT_EQ(rep.u.dead_list.letters[0].payload_len, 8);
	tasq_broker_stats_fini(&rep);
	ASSERT_OK(tasq_broker_dead_list(b, "other", 0, 0, false, &rep));
	ASSERT_EQ(rep.u.dead_list.n, 0);
	ASSERT_EQ(rep.u.dead_list.total, 0);
	tasq_broker_stats_fini(&rep);
	// Purge one by id, then the rest of the queue.
	ASSERT_OK(tasq_broker_dead_purge(
	    b, (uint64_t[]) { 1, 99 }, 2, false, NULL, &purged));
	ASSERT_EQ(purged, 1);
	ASSERT_OK(tasq_broker_stats(b, t, &rep));
	ASSERT_EQ(rep.u.stats.dead_total, 1);
	tasq_broker_stats_fini(&rep);
	ASSERT_OK(tasq_broker_dead_purge(b, NULL, 0, true, "other", &purged));
	ASSERT_EQ(purged, 0);
	ASSERT_OK(tasq_broker_dead_purge(b, NULL, 0, true, "q", &purged));
	ASSERT_EQ(purged, 1);
	ASSERT_OK(tasq_broker_dead_list(b, NULL, 0, 0, false, &rep));
	ASSERT_EQ(rep.u.dead_list.total, 0);
	tasq_broker_stats_fini(&rep);
	tasq_broker_free(b);
}

TEST(max_dead_drops_the_oldest_and_counts_them)
{
	tasq_broker_conf c = { .max_tasks = 1000,
		.max_batch                = 100,
		.max_queues               = 3,
		.max_jobs                 = 8,
		.max_workers              = 4,
		.lease_ms                 = LEASE_MS,
		.max_attempts             = 3,
		.max_dead                 = 3,
		.job_ttl_ms               = TTL_MS,
		.max_fetch                = 50,
		.max_lease                = 20 };
	tasq_broker     *b = NULL;
	tasq_rep         rep;

	ASSERT_OK(tasq_broker_alloc(&b, &c, wake_cb));
	(void) expire_all(b, "q", 7, 5, T0);
	ASSERT_EQ(COUNTER(b, DEAD_LETTERED), 5);
	ASSERT_EQ(COUNTER(b, DEAD_DROPPED), 2);
	ASSERT_OK(tasq_broker_dead_list(b, NULL, 0, 0, false, &rep));
	ASSERT_EQ(rep.u.dead_list.n, 3);
	ASSERT_EQ(rep.u.dead_list.letters[0].task_id, 2);
	ASSERT_EQ(rep.u.dead_list.letters[2].task_id, 4);
	tasq_broker_stats_fini(&rep);
	tasq_broker_free(b);
}

// Hands in the results of o's one batch: task fail fails with INTERNAL
// and "flaky", the others succeed with "ok".
static tasq_complete_rep
complete_failing_by(tasq_broker *b, uint64_t worker, const tasq_lease_out *o,
    uint64_t fail, uint64_t now)
{
	static uint32_t    codes[8], lens[8];
	static const char *errs[8];
	tasq_result_batch  rb;
	tasq_complete_rep  r;
	static uint8_t     data[16];
	size_t             size = 0;

	ASSERT_EQ(o->nbatches, 1);
	ASSERT_LE(o->batches[0].n, 8);
	memset(&rb, 0, sizeof(rb));
	for (size_t i = 0; i < o->batches[0].n; i++) {
		bool bad = o->batches[0].ids[i] == fail;
		codes[i] = bad ? TASQ_EINTERNAL - TASQ_ERR_BASE : 0;
		errs[i]  = bad ? "flaky" : NULL;
		lens[i]  = bad ? 0 : 2;
		if (!bad) {
			memcpy(data + size, "ok", 2);
			size += 2;
		}
	}
	rb.lease_id = o->batches[0].lease_id;
	rb.job_id   = o->batches[0].job_id;
	rb.n        = o->batches[0].n;
	rb.ids      = o->batches[0].ids;
	rb.codes    = codes;
	rb.errors   = errs;
	rb.results  = (tasq_blobs) { 0, lens, data, size };
	ASSERT_OK(tasq_broker_complete(b, worker, 1, &rb, now, &r));
	return (r);
}

// The same, handed in by worker 12.
static tasq_complete_rep
complete_failing(
    tasq_broker *b, const tasq_lease_out *o, uint64_t fail, uint64_t now)
{
	return (complete_failing_by(b, 12, o, fail, now));
}

TEST(failed_task_retried_with_backoff_then_dead_lettered)
{
	tasq_broker             *b       = broker_new(0);
	static const char *const sha[]   = { "sha256" };
	static uint32_t          lens[3] = { 1, 1, 1 };
	tasq_submit_req          req;
	tasq_lease_out           o;
	tasq_complete_rep        r;
	tasq_fetch_out           fo;
	tasq_rep                 rep;
	uint32_t                 acc;
	bool                     dup;
	const char              *why;
	uint64_t                 t = T0;

	memset(&req, 0, sizeof(req));
	req.queue     = "q";
	req.type      = "sha256";
	req.job_id    = 7;
	req.n         = 3;
	req.payloads  = (tasq_blobs) { 0, lens, (uint8_t *) "abc", 3 };
	req.has_retry = true;
	req.retry     = (tasq_retry) { 3, 100, 150 };
	ASSERT_OK(tasq_broker_submit(b, &req, t, &acc, &dup, &why));
	o = lease_types(b, "q", 12, sha, 1, 20, t);
	ASSERT_EQ(o.batches[0].n, 3);
	r = complete_failing(b, &o, 1, t); // the middle one: a split
	tasq_broker_lease_fini(&o);
	ASSERT_EQ(r.accepted, 3);
	ASSERT_EQ(COUNTER(b, RETRIED), 1);
	// Waits out 100 ms, then comes back as attempt 2.
	tasq_broker_tick(b, t + 99);
	o = lease_types(b, "q", 12, sha, 1, 20, t + 99);
	ASSERT_EQ(o.nbatches, 0);
	tasq_broker_lease_fini(&o);
	t += 100;
	tasq_broker_tick(b, t);
	o = lease_types(b, "q", 12, sha, 1, 20, t);
	ASSERT_EQ(o.nbatches, 1);
	ASSERT_EQ(o.batches[0].n, 1);
	ASSERT_EQ(o.batches[0].ids[0], 1);
	ASSERT_EQ(o.batches[0].attempt, 2);
	ASSERT_EQ(o.batches[0].payloads.data[0], 'b');
	r = complete_failing(b, &o, 1, t);
	tasq_broker_lease_fini(&o);
	// 200 ms, at most 150.
	tasq_broker_tick(b, t + 149);
	o = lease_types(b, "q", 12, sha, 1, 20, t + 149);
	ASSERT_EQ(o.nbatches, 0);
	tasq_broker_lease_fini(&o);
	t += 150;
	tasq_broker_tick(b, t);
	o = lease_types(b, "q", 12, sha, 1, 20, t);
	ASSERT_EQ(o.batches[0].attempt, 3);
	r = complete_failing(b, &o, 1, t); // the last attempt
	tasq_broker_lease_fini(&o);
	ASSERT_EQ(COUNTER(b, RETRIED), 2);
	ASSERT_EQ(COUNTER(b, DEAD_LETTERED), 1);
	// The client has exactly one result per task, the last failure's.
	fo = fetch(b, 7, 0, 0, t);
	ASSERT_EQ(fo.n, 3);
	ASSERT_EQ(fo.ids[2], 1);
	ASSERT_EQ(fo.codes[2], TASQ_EINTERNAL - TASQ_ERR_BASE);
	ASSERT_STR_EQ(fo.errors[2], "flaky");
	tasq_broker_fetch_fini(&fo);
	ASSERT_OK(tasq_broker_dead_list(b, NULL, 0, 0, true, &rep));
	ASSERT_EQ(rep.u.dead_list.n, 1);
	ASSERT_EQ(rep.u.dead_list.letters[0].task_id, 1);
	ASSERT_EQ(rep.u.dead_list.letters[0].attempts, 3);
	ASSERT_EQ(
	    rep.u.dead_list.letters[0].code, TASQ_EINTERNAL - TASQ_ERR_BASE);
	ASSERT_STR_EQ(rep.u.dead_list.letters[0].error, "flaky");
	ASSERT_EQ(rep.u.dead_list.letters[0].payload[0], 'b');
	tasq_broker_stats_fini(&rep);
	tasq_broker_free(b);
}

// The queue row of rep named q.
static const tasq_queue_stats *
queue_row(const tasq_rep *rep, const char *q)
{
	for (size_t i = 0; i < rep->u.stats.nqueues; i++) {
		if (strcmp(rep->u.stats.queues[i].name, q) == 0) {
			return (&rep->u.stats.queues[i]);
		}
	}
	return (NULL);
}

static void
expect_failed_retried(tasq_broker *b, const char *q, uint64_t completed,
    uint64_t failed, uint64_t retried)
{
	tasq_rep                rep;
	const tasq_queue_stats *s;

	ASSERT_OK(tasq_broker_stats(b, T0, &rep));
	ASSERT_NOT_NULL(s = queue_row(&rep, q));
	ASSERT_EQ(s->completed, completed);
	ASSERT_EQ(s->failed, failed);
	ASSERT_EQ(s->retried, retried);
	tasq_broker_stats_fini(&rep);
}

// Each queue counts its own failures (final error results and dead
// letters, as tasks_failed) and retries (as tasks_retried); their sums
// are the counters.
TEST(queue_failed_and_retried_counted_per_queue)
{
	tasq_broker             *b       = broker_new(0);
	static const char *const sha[]   = { "sha256" };
	static uint32_t          lens[3] = { 1, 1, 1 };
	tasq_submit_req          req;
	tasq_lease_out           o;
	tasq_complete_rep        r;
	uint32_t                 acc;
	bool                     dup;
	const char              *why;
	uint32_t                 n;
	uint32_t codes[3] = { TASQ_EINVALID_ARGUMENT - TASQ_ERR_BASE, 0, 0 };
	uint32_t rlens[3] = { 0, 2, 2 };
	tasq_result_batch rb;
	uint64_t          t = T0;

	// q: a job with a retry policy whose task 1 fails every attempt.
	memset(&req, 0, sizeof(req));
	req.queue     = "q";
	req.type      = "sha256";
	req.job_id    = 7;
	req.n         = 3;
	req.payloads  = (tasq_blobs) { 0, lens, (uint8_t *) "abc", 3 };
	req.has_retry = true;
	req.retry     = (tasq_retry) { 3, 100, 100 };
	ASSERT_OK(tasq_broker_submit(b, &req, t, &acc, &dup, &why));
	// r: the same without one.
	req.queue     = "r";
	req.job_id    = 8;
	req.has_retry = false;
	ASSERT_OK(tasq_broker_submit(b, &req, t, &acc, &dup, &why));
	expect_failed_retried(b, "q", 0, 0, 0);
	expect_failed_retried(b, "r", 0, 0, 0);

	// r: task 0 fails with a final code (no retry), the others succeed.
	o = lease_types(b, "r", 12, sha, 1, 20, t);
	ASSERT_EQ(o.nbatches, 1);
	ASSERT_EQ(o.batches[0].n, 3);
	memset(&rb, 0, sizeof(rb));
	rb.lease_id = o.batches[0].lease_id;
	rb.job_id   = o.batches[0].job_id;
	rb.n        = 3;
	rb.ids      = o.batches[0].ids;
	rb.codes    = codes;
	rb.results  = (tasq_blobs) { 0, rlens, (uint8_t *) "okok", 4 };
	ASSERT_OK(tasq_broker_complete(b, 12, 1, &rb, t, &r));
	tasq_broker_lease_fini(&o);
	ASSERT_EQ(r.accepted, 3);
	expect_failed_retried(b, "r", 3, 1, 0);
	expect_failed_retried(b, "q", 0, 0, 0);

	for (uint32_t attempt = 1; attempt <= 3; attempt++) {
		tasq_broker_tick(b, t);
		o = lease_types(b, "q", 12, sha, 1, 20, t);
		ASSERT_EQ(o.nbatches, 1);
		ASSERT_EQ(o.batches[0].attempt, attempt);
		n = (uint32_t) o.batches[0].n;
		r = complete_failing(b, &o, 1, t);
		tasq_broker_lease_fini(&o);
		ASSERT_EQ(r.accepted, n);
		t += 100;
	}
	// Two retries, then the last attempt's dead letter: one failure.
	ASSERT_EQ(COUNTER(b, DEAD_LETTERED), 1);
	expect_failed_retried(b, "q", 3, 1, 2);
	expect_failed_retried(b, "r", 3, 1, 0);
	ASSERT_EQ(COUNTER(b, FAILED), 2);
	ASSERT_EQ(COUNTER(b, RETRIED), 2);

	// A dead letter of expired leases (ABORTED) is a failure of r.
	submit_ok(b, "r", 9, 0, 1, t);
	for (uint32_t attempt = 1; attempt <= 3; attempt++) {
		lease_one(b, "r", 11, 1, 10, t, 9, 0, 1, attempt);
		t += LEASE_MS;
		tasq_broker_tick(b, t);
	}
	expect_failed_retried(b, "r", 4, 2, 0);
	expect_failed_retried(b, "q", 3, 1, 2);
	ASSERT_EQ(COUNTER(b, FAILED), 3);
	tasq_broker_free(b);
}

static void
expect_worker(tasq_broker *b, uint64_t id, uint64_t now, uint64_t completed,
    uint64_t failed, uint64_t retried)
{
	tasq_rep                 rep;
	const tasq_worker_stats *w = NULL;

	ASSERT_OK(tasq_broker_stats(b, now, &rep));
	for (size_t i = 0; i < rep.u.stats.nworkers; i++) {
		if (rep.u.stats.workers[i].worker_id == id) {
			w = &rep.u.stats.workers[i];
		}
	}
	ASSERT_NOT_NULL(w);
	ASSERT_EQ(w->completed, completed);
	ASSERT_EQ(w->failed, failed);
	ASSERT_EQ(w->retried, retried);
	tasq_broker_stats_fini(&rep);
}

// Each worker counts the failures (final ones, a failed last attempt's
// dead letter too) and the retries of the results it handed in; a dead
// letter of expired leases is no worker's result.
TEST(worker_failed_and_retried_counted_per_worker)
{
	tasq_broker             *b       = broker_new(0);
	static const char *const sha[]   = { "sha256" };
	static uint32_t          lens[3] = { 1, 1, 1 };
	tasq_submit_req          req;
	tasq_lease_out           o;
	tasq_complete_rep        r;
	uint32_t                 acc;
	bool                     dup;
	const char              *why;
	uint64_t                 t = T0;
	// Per attempt, worker 12's completed, failed and retried after it.
	static const uint64_t want[3][3] = { { 2, 0, 1 }, { 2, 0, 2 },
		{ 3, 1, 2 } };

	// q: a job with a retry policy whose task 1 fails every attempt;
	// r: the same without one, whose tasks all succeed.
	memset(&req, 0, sizeof(req));
	req.queue     = "q";
	req.type      = "sha256";
	req.job_id    = 7;
	req.n         = 3;
	req.payloads  = (tasq_blobs) { 0, lens, (uint8_t *) "abc", 3 };
	req.has_retry = true;
	req.retry     = (tasq_retry) { 3, 100, 100 };
	ASSERT_OK(tasq_broker_submit(b, &req, t, &acc, &dup, &why));
	req.queue     = "r";
	req.job_id    = 8;
	req.has_retry = false;
	ASSERT_OK(tasq_broker_submit(b, &req, t, &acc, &dup, &why));

	// Worker 13 hands in OKs only.
	o = lease_types(b, "r", 13, sha, 1, 20, t);
	ASSERT_EQ(o.nbatches, 1);
	ASSERT_EQ(o.batches[0].n, 3);
	r = complete_failing_by(b, 13, &o, UINT64_MAX, t);
	tasq_broker_lease_fini(&o);
	ASSERT_EQ(r.accepted, 3);
	expect_worker(b, 13, t, 3, 0, 0);

	// Worker 12: two failures retried, then the last attempt's.
	for (uint32_t attempt = 1; attempt <= 3; attempt++) {
		tasq_broker_tick(b, t);
		o = lease_types(b, "q", 12, sha, 1, 20, t);
		ASSERT_EQ(o.nbatches, 1);
		ASSERT_EQ(o.batches[0].attempt, attempt);
		r = complete_failing(b, &o, 1, t);
		tasq_broker_lease_fini(&o);
		expect_worker(b, 12, t, want[attempt - 1][0],
		    want[attempt - 1][1], want[attempt - 1][2]);
		expect_worker(b, 13, t, 3, 0, 0);
		t += 100;
	}
	ASSERT_EQ(COUNTER(b, DEAD_LETTERED), 1);
	ASSERT_EQ(COUNTER(b, FAILED), 1);
	ASSERT_EQ(COUNTER(b, RETRIED), 2);

	// Worker 13's leases expire until the task is dead-lettered
	// (ABORTED): a failure of the queue, not of the worker.
	submit_ok(b, "r", 9, 0, 1, t);
	for (uint32_t attempt = 1; attempt <= 3; attempt++) {
		lease_one(b, "r", 13, 1, 10, t, 9, 0, 1, attempt);
		t += LEASE_MS;
		tasq_broker_tick(b, t);
	}
	ASSERT_EQ(COUNTER(b, FAILED), 2);
	expect_failed_retried(b, "r", 4, 1, 0);
	expect_worker(b, 13, t, 3, 0, 0);
	expect_worker(b, 12, t, 3, 1, 2);
	tasq_broker_free(b);
}

static const tasq_type_stats *
type_row(const tasq_rep *rep, const char *queue, const char *type)
{
	for (size_t i = 0; i < rep->u.stats.ntypes; i++) {
		const tasq_type_stats *s = &rep->u.stats.types[i];
		if (strcmp(s->queue, queue) == 0 &&
		    strcmp(s->type, type) == 0) {
			return (s);
		}
	}
	return (NULL);
}

TEST(type_stats_and_no_worker)
{
	tasq_broker             *b     = broker_new(0);
	static const char *const sha[] = { "sha256" };
	const char              *why   = NULL;
	const tasq_type_stats   *s;
	tasq_fetch_out           fo;
	tasq_lease_out           o;
	tasq_rep                 rep;
	bool                     parked;

	ASSERT_OK(submit_typed(b, "q", "sha256", 7, 0, 5, T0, &why));
	submit_ok(b, "q", 8, 0, 2, T0);
	ASSERT_OK(tasq_broker_fetch(b, 7, 0, 0, T0, &fo, NULL, &parked));
	ASSERT_TRUE(fo.no_worker);
	tasq_broker_fetch_fini(&fo);
	// A legacy worker serves square only.
	o = lease(b, "q", 11, 1, 1, T0);
	tasq_broker_lease_fini(&o);
	ASSERT_OK(tasq_broker_fetch(b, 7, 0, 0, T0, &fo, NULL, &parked));
	ASSERT_TRUE(fo.no_worker);
	tasq_broker_fetch_fini(&fo);
	ASSERT_OK(tasq_broker_fetch(b, 8, 0, 0, T0, &fo, NULL, &parked));
	ASSERT_FALSE(fo.no_worker);
	tasq_broker_fetch_fini(&fo);
	ASSERT_OK(tasq_broker_stats(b, T0, &rep));
	ASSERT_EQ(rep.u.stats.ntypes, 2);
	ASSERT_NOT_NULL(s = type_row(&rep, "q", "sha256"));
	ASSERT_EQ(s->ready, 5);
	ASSERT_EQ(s->workers, 0);
	ASSERT_NOT_NULL(s = type_row(&rep, "q", "square"));
	ASSERT_EQ(s->ready, 1);
	ASSERT_EQ(s->leased, 1);
	ASSERT_EQ(s->workers, 1);
	tasq_broker_stats_fini(&rep);
	// A worker of sha256 comes: served while it is seen.
	o = lease_types(b, "q", 12, sha, 1, 2, T0);
	tasq_broker_lease_fini(&o);
	ASSERT_OK(tasq_broker_fetch(b, 7, 0, 0, T0, &fo, NULL, &parked));
	ASSERT_FALSE(fo.no_worker);
	tasq_broker_fetch_fini(&fo);
	ASSERT_OK(tasq_broker_stats(b, T0, &rep));
	ASSERT_NOT_NULL(s = type_row(&rep, "q", "sha256"));
	ASSERT_EQ(s->ready, 3);
	ASSERT_EQ(s->leased, 2);
	ASSERT_EQ(s->workers, 1);
	tasq_broker_stats_fini(&rep);
	// Not seen for a lease time: gone as far as the client knows.
	ASSERT_OK(tasq_broker_fetch(
	    b, 7, 0, 0, T0 + LEASE_MS + 1, &fo, NULL, &parked));
	ASSERT_TRUE(fo.no_worker);
	tasq_broker_fetch_fini(&fo);
	tasq_broker_free(b);
}

// A legacy client takes its results as values: an OK result of another
// length could not be sent to it, and is refused (the task stays out).
TEST(result_of_a_legacy_job_must_be_8_bytes)
{
	tasq_broker      *b = broker_new(0);
	tasq_lease_out    o;
	tasq_result_batch rb;
	tasq_complete_rep r;
	uint32_t          len = 3;

	submit_ok(b, "q", 7, 0, 1, T0);
	o = lease(b, "q", 11, 1, 10, T0);
	memset(&rb, 0, sizeof(rb));
	rb.lease_id = o.batches[0].lease_id;
	rb.job_id   = 7;
	rb.n        = 1;
	rb.ids      = o.batches[0].ids;
	rb.results  = (tasq_blobs) { 0, &len, (uint8_t *) "abc", 3 };
	ASSERT_OK(tasq_broker_complete(b, 11, 1, &rb, T0, &r));
	ASSERT_EQ(r.rejected, 1);
	ASSERT_EQ(r.accepted, 0);
	ASSERT_EQ(COUNTER(b, COMPLETED), 0);
	tasq_broker_lease_fini(&o);
	tasq_broker_free(b);
}

// A worker of two types is not kept on the first while it has tasks:
// successive leases take the queue's types in turn.
TEST(lease_takes_a_workers_types_in_turn)
{
	tasq_broker             *b       = broker_new(0);
	static const char *const both[]  = { "a.t", "b.t" };
	const char              *why     = NULL;
	int                      seen[2] = { 0, 0 };

	ASSERT_OK(submit_typed(b, "q", "a.t", 7, 0, 20, T0, &why));
	ASSERT_OK(submit_typed(b, "q", "b.t", 8, 0, 20, T0, &why));
	for (int i = 0; i < 4; i++) {
		tasq_lease_out o = lease_types(b, "q", 12, both, 2, 2, T0);
		ASSERT_EQ(o.nbatches, 1);
		seen[o.batches[0].job_id == 8]++;
		tasq_broker_lease_fini(&o);
	}
	ASSERT_EQ(seen[0], 2);
	ASSERT_EQ(seen[1], 2);
	tasq_broker_free(b);
}

TASQ_TEST_MAIN()
