// Unit tests of the broker's sharing of a queue: the lane's rotation of
// jobs by priority (broker_queue.c) and workers of several queues by
// weight (broker.c), driven with a fake clock.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "broker_int.h"
#include "broker_state.h"
#include "broker_test_util.h"
#include "err.h"
#include "tasq_test.h"

#define T0 UINT64_C(1000000)
#define LEASE_MS 1000
#define RETRY_CODE (TASQ_EUNAVAILABLE - TASQ_ERR_BASE)

static int wakes;

static void
wake_cb(tasq_waiter *w)
{
	(void) w;
	wakes++;
}

static tasq_broker *
broker_new(void)
{
	tasq_broker_conf c = { .max_tasks = 100000,
		.max_batch                = 10000,
		.max_queues               = 8,
		.max_jobs                 = 16,
		.max_workers              = 8,
		.lease_ms                 = LEASE_MS,
		.max_attempts             = 3,
		.job_ttl_ms               = 600000,
		.max_fetch                = 1000,
		.max_lease                = 1000,
		.queue_idle_ms            = 600000 };
	tasq_broker     *b = NULL;

	wakes = 0;
	ASSERT_OK(tasq_broker_alloc(&b, &c, wake_cb));
	return (b);
}

// Submits tasks first..first+n-1 of job (square, value = id) at priority
// (0: the default), with a retry backoff of backoff_ms (0: none given).
static void
submit_prio(tasq_broker *b, const char *q, uint64_t job, uint64_t first,
    size_t n, uint32_t priority, uint32_t backoff_ms)
{
	int64_t        *v = malloc(n * sizeof(*v) + 1);
	tasq_submit_req req;
	const char     *why = NULL;
	uint32_t        acc = 0;
	bool            dup = true;

	ASSERT_NOT_NULL(v);
	for (size_t i = 0; i < n; i++) {
		v[i] = (int64_t) (first + i);
	}
	memset(&req, 0, sizeof(req));
	req.queue       = q;
	req.job_id      = job;
	req.first_index = first;
	req.n           = n;
	req.type        = TASQ_TYPE_SQUARE;
	req.payloads    = test_col_i64(v, n);
	req.legacy      = true;
	req.priority    = priority;
	if (backoff_ms != 0) {
		req.has_retry        = true;
		req.retry.backoff_ms = backoff_ms;
	}
	ASSERT_OK(tasq_broker_submit(b, &req, T0, &acc, &dup, &why));
	ASSERT_EQ(acc, n);
	ASSERT_FALSE(dup);
	free(v);
}

// A lease of worker over one queue (qs NULL) or several; counts its tasks
// per job into per (job ids 1..8) and returns how many it got.
static size_t
lease_count(tasq_broker *b, const char *q, const tasq_queue_weight *qs,
    size_t nqs, uint64_t worker, uint32_t max, uint64_t now, size_t per[9],
    tasq_lease_out *keep)
{
	tasq_lease_out o;
	bool           parked = true;
	size_t         n      = 0;

	ASSERT_OK(tasq_broker_lease_queues(b, q, qs, nqs, worker, "w", NULL, 0,
	    (uint32_t) worker, max, now, &o, NULL, &parked));
	ASSERT_FALSE(parked);
	for (size_t i = 0; i < o.nbatches; i++) {
		ASSERT_LT(o.batches[i].job_id, 9);
		if (per != NULL) {
			per[o.batches[i].job_id] += o.batches[i].n;
		}
		n += o.batches[i].n;
	}
	if (keep != NULL) {
		*keep = o;
	} else {
		tasq_broker_lease_fini(&o);
	}
	return (n);
}

// Completes every task of o (OK, or code for all when not 0).
static void
complete_all(tasq_broker *b, uint64_t worker, tasq_lease_out *o, uint32_t code)
{
	for (size_t i = 0; i < o->nbatches; i++) {
		const tasq_task_batch *t    = &o->batches[i];
		int64_t               *vals = calloc(t->n + 1, sizeof(*vals));
		uint32_t         *codes     = calloc(t->n + 1, sizeof(*codes));
		tasq_result_batch rb;
		tasq_complete_rep r;
		ASSERT_NOT_NULL(vals);
		ASSERT_NOT_NULL(codes);
		for (size_t k = 0; k < t->n; k++) {
			int64_t x = test_i64(&t->payloads, k);
			vals[k]   = code ? 0 : x * x;
			codes[k]  = code;
		}
		rb = test_rb(t->lease_id, t->job_id, t->n, t->ids, vals,
		    code ? codes : NULL);
		ASSERT_OK(tasq_broker_complete(b, worker, 1, &rb, T0, &r));
		ASSERT_EQ(r.accepted, t->n);
		free(vals);
		free(codes);
	}
	tasq_broker_lease_fini(o);
}

TEST(priorities_split_leased_tasks)
{
	tasq_broker *b      = broker_new();
	size_t       per[9] = { 0 };

	submit_prio(b, "q", 1, 0, 5000, 7, 0);
	submit_prio(b, "q", 2, 0, 5000, 3, 0);
	// 200 leases of 10: 2,000 tasks, both jobs with tasks left.
	for (int i = 0; i < 200; i++) {
		ASSERT_EQ(
		    lease_count(b, "q", NULL, 0, 1, 10, T0, per, NULL), 10);
	}
	// 70:30, to a lease.
	ASSERT_LE(per[1], 1400 + 10);
	ASSERT_GE(per[1], 1400 - 10);
	ASSERT_EQ(per[1] + per[2], 2000);
	tasq_broker_free(b);
}

// Passes wrap around after 2^64 (a lane that leased 2^40 tasks at
// priority 1): the split holds across the wrap.
TEST(priorities_hold_when_passes_wrap)
{
	tasq_broker *b      = broker_new();
	size_t       per[9] = { 0 };
	struct job  *j1, *j2;

	submit_prio(b, "q", 1, 0, 5000, 7, 0);
	submit_prio(b, "q", 2, 0, 5000, 3, 0);
	j1 = tasq_broker_job_find(b, 1);
	j2 = tasq_broker_job_find(b, 2);
	ASSERT_NOT_NULL(j1);
	ASSERT_NOT_NULL(j2);
	// 100 tasks of priority 1 before the wrap.
	j1->pass = j2->pass = j1->lane->vtime =
	    UINT64_MAX - 100 * TASQ_STRIDE_ONE;
	for (int i = 0; i < 200; i++) {
		ASSERT_EQ(
		    lease_count(b, "q", NULL, 0, 1, 10, T0, per, NULL), 10);
	}
	ASSERT_LE(per[1], 1400 + 10);
	ASSERT_GE(per[1], 1400 - 10);
	tasq_broker_free(b);
}

TEST(equal_priorities_take_turns)
{
	tasq_broker *b      = broker_new();
	size_t       per[9] = { 0 };

	submit_prio(b, "q", 1, 0, 1000, 0, 0);
	submit_prio(b, "q", 2, 0, 1000, 10, 0); // 10 is the default
	submit_prio(b, "q", 3, 0, 1000, 0, 0);
	for (int i = 0; i < 30; i++) {
		ASSERT_EQ(
		    lease_count(b, "q", NULL, 0, 1, 10, T0, per, NULL), 10);
		// Never more than one lease apart.
		for (int j = 1; j <= 3; j++) {
			for (int k = 1; k <= 3; k++) {
				ASSERT_LE(per[j], per[k] + 10);
			}
		}
	}
	ASSERT_EQ(per[1], 100);
	ASSERT_EQ(per[2], 100);
	ASSERT_EQ(per[3], 100);
	tasq_broker_free(b);
}

TEST(a_small_job_is_not_starved_behind_a_big_one)
{
	tasq_broker *b      = broker_new();
	size_t       per[9] = { 0 };

	submit_prio(b, "q", 1, 0, 9000, 0, 0);
	for (int i = 0; i < 5; i++) {
		ASSERT_EQ(
		    lease_count(b, "q", NULL, 0, 1, 100, T0, per, NULL), 100);
	}
	// The small job goes first in the next lease, which the big one
	// fills (one batch each).
	submit_prio(b, "q", 2, 0, 30, 0, 0);
	memset(per, 0, sizeof(per));
	ASSERT_EQ(lease_count(b, "q", NULL, 0, 1, 100, T0, per, NULL), 100);
	ASSERT_EQ(per[2], 30);
	ASSERT_EQ(per[1], 70);
	tasq_broker_free(b);
}

TEST(a_job_without_ready_tasks_is_skipped_and_earns_no_credit)
{
	tasq_broker   *b      = broker_new();
	size_t         per[9] = { 0 };
	tasq_lease_out held;

	submit_prio(b, "q", 1, 0, 50, 0, 0);
	submit_prio(b, "q", 2, 0, 5000, 0, 0);
	// Worker 1 holds all of job 1 (50), and some of job 2.
	ASSERT_EQ(lease_count(b, "q", NULL, 0, 1, 100, T0, per, &held), 100);
	ASSERT_EQ(per[1], 50);
	// Job 1 has nothing ready: every lease is job 2's.
	memset(per, 0, sizeof(per));
	for (int i = 0; i < 20; i++) {
		ASSERT_EQ(
		    lease_count(b, "q", NULL, 0, 2, 10, T0, per, NULL), 10);
	}
	ASSERT_EQ(per[2], 200);
	// The lease expires: job 1's 50 tasks are ready again. It joins at
	// the lane's time: it goes first, but takes turns with job 2 instead
	// of making up for the 200 tasks job 2 had meanwhile.
	tasq_broker_tick(b, T0 + LEASE_MS + 1);
	memset(per, 0, sizeof(per));
	for (int i = 0; i < 6; i++) {
		ASSERT_EQ(lease_count(b, "q", NULL, 0, 2, 10,
		              T0 + LEASE_MS + 1, per, NULL),
		    10);
	}
	ASSERT_EQ(per[1], 30);
	ASSERT_EQ(per[2], 30);
	tasq_broker_lease_fini(&held);
	tasq_broker_free(b);
}

TEST(a_finished_job_leaves_the_rotation)
{
	tasq_broker   *b      = broker_new();
	size_t         per[9] = { 0 };
	tasq_lease_out o;
	uint64_t       dropped;

	submit_prio(b, "q", 1, 0, 20, 0, 0);
	submit_prio(b, "q", 2, 0, 1000, 0, 0);
	submit_prio(b, "q", 3, 0, 1000, 0, 0);
	ASSERT_EQ(lease_count(b, "q", NULL, 0, 1, 20, T0, per, &o), 20);
	ASSERT_EQ(per[1], 20);
	complete_all(b, 1, &o, 0);
	// Job 1 is done (and closed): jobs 2 and 3 share every lease.
	ASSERT_OK(tasq_broker_close_job(b, 1, T0, &dropped));
	// Job 3 closed with tasks ready: it leaves the rotation too.
	memset(per, 0, sizeof(per));
	for (int i = 0; i < 10; i++) {
		ASSERT_EQ(
		    lease_count(b, "q", NULL, 0, 1, 10, T0, per, NULL), 10);
	}
	ASSERT_EQ(per[2], 50);
	ASSERT_EQ(per[3], 50);
	ASSERT_OK(tasq_broker_close_job(b, 3, T0, &dropped));
	memset(per, 0, sizeof(per));
	for (int i = 0; i < 10; i++) {
		ASSERT_EQ(
		    lease_count(b, "q", NULL, 0, 1, 10, T0, per, NULL), 10);
	}
	ASSERT_EQ(per[2], 100);
	tasq_broker_free(b);
}

TEST(retries_come_back_into_the_rotation)
{
	tasq_broker   *b      = broker_new();
	size_t         per[9] = { 0 };
	tasq_lease_out o;

	submit_prio(b, "q", 1, 0, 10, 0, 100); // backoff 100 ms
	submit_prio(b, "q", 2, 0, 5000, 0, 0);
	ASSERT_EQ(lease_count(b, "q", NULL, 0, 1, 10, T0, per, &o), 10);
	ASSERT_EQ(per[1], 10);
	// All 10 fail: they wait out their backoff, out of the rotation.
	complete_all(b, 1, &o, RETRY_CODE);
	memset(per, 0, sizeof(per));
	for (int i = 0; i < 5; i++) {
		ASSERT_EQ(
		    lease_count(b, "q", NULL, 0, 1, 10, T0, per, NULL), 10);
	}
	ASSERT_EQ(per[2], 50);
	// Due: job 1 is back, served first, its tasks at attempt 2.
	tasq_broker_tick(b, T0 + 100);
	ASSERT_EQ(lease_count(b, "q", NULL, 0, 1, 10, T0 + 100, NULL, &o), 10);
	ASSERT_EQ(o.batches[0].job_id, 1);
	ASSERT_EQ(o.batches[0].attempt, 2);
	tasq_broker_lease_fini(&o);
	tasq_broker_free(b);
}

TEST(a_worker_of_several_queues_takes_them_by_weight)
{
	tasq_broker            *b      = broker_new();
	size_t                  per[9] = { 0 };
	const tasq_queue_weight qs[]   = { { "a", 3 }, { "b", 1 } };

	submit_prio(b, "a", 1, 0, 5000, 0, 0);
	submit_prio(b, "b", 2, 0, 5000, 0, 0);
	for (int i = 0; i < 100; i++) {
		ASSERT_EQ(
		    lease_count(b, "a", qs, 2, 1, 10, T0, per, NULL), 10);
	}
	ASSERT_LE(per[1], 750 + 10);
	ASSERT_GE(per[1], 750 - 10);
	ASSERT_EQ(per[1] + per[2], 1000);
	// One queue empty: the other has every lease.
	submit_prio(b, "c", 3, 0, 100, 0, 0);
	const tasq_queue_weight qc[] = { { "c", 1 }, { "d", 5 } };
	memset(per, 0, sizeof(per));
	for (int i = 0; i < 10; i++) {
		ASSERT_EQ(
		    lease_count(b, "c", qc, 2, 2, 10, T0, per, NULL), 10);
	}
	ASSERT_EQ(per[3], 100);
	tasq_broker_free(b);
}

TEST(a_worker_of_several_queues_parks_and_wakes)
{
	tasq_broker            *b    = broker_new();
	const tasq_queue_weight qs[] = { { "a", 1 }, { "b", 1 } };
	tasq_waiter             w;
	tasq_lease_out          o;
	bool                    parked = false;

	memset(&w, 0, sizeof(w));
	ASSERT_OK(tasq_broker_lease_queues(
	    b, "a", qs, 2, 1, "w", NULL, 0, 1, 10, T0, &o, &w, &parked));
	ASSERT_TRUE(parked);
	tasq_broker_lease_fini(&o);
	// Work in its second queue wakes it.
	submit_prio(b, "b", 2, 0, 5, 0, 0);
	ASSERT_EQ(wakes, 1);
	ASSERT_TRUE(w.woken);
	ASSERT_EQ(lease_count(b, "a", qs, 2, 1, 10, T0, NULL, NULL), 5);
	// It counts as a worker of both queues.
	ASSERT_EQ(tasq_broker_type_workers(b, "b", TASQ_TYPE_SQUARE, T0), 1);
	tasq_broker_free(b);
}

TASQ_TEST_MAIN()
