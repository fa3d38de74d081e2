// Unit tests of server/broker_jobs: detached jobs keep their results by
// task index (Results, readable again and again, in id order), the end
// of a job's input (last), JobStatus and JobList, and the result TTL,
// with a fake monotonic clock (now_ms) and a fake wall clock.
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
#define RESULT_TTL_MS 5000

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
broker_new(uint64_t max_tasks)
{
	tasq_broker_conf c = { .max_tasks = max_tasks,
		.max_batch                = 100,
		.max_queues               = 3,
		.max_jobs                 = 8,
		.max_workers              = 4,
		.lease_ms                 = LEASE_MS,
		.max_attempts             = 3,
		.job_ttl_ms               = JOB_TTL_MS,
		.result_ttl_ms            = 3600000,
		.max_fetch                = 50,
		.max_lease                = 100,
		.wall_ms                  = wall_ms };
	tasq_broker     *b = NULL;

	ASSERT_OK(tasq_broker_alloc(&b, &c, wake_cb));
	return (b);
}

// Submits tasks first..first+n-1 of a detached job (value = id + 1);
// last ends its input. Returns the rv.
static int
submit_detached(tasq_broker *b, uint64_t job, uint64_t first, size_t n,
    bool last, uint64_t ttl_ms)
{
	int64_t        *v = malloc(n * 8 + 8);
	tasq_submit_req req;
	const char     *why = NULL;
	uint32_t        acc;
	bool            dup;
	int             rv;

	ASSERT_NOT_NULL(v);
	for (size_t i = 0; i < n; i++) {
		v[i] = (int64_t) (first + i + 1);
	}
	memset(&req, 0, sizeof(req));
	req.queue         = "q";
	req.job_id        = job;
	req.first_index   = first;
	req.n             = n;
	req.type          = TASQ_TYPE_SQUARE;
	req.payloads      = test_col_i64(v, n);
	req.detach        = true;
	req.result_ttl_ms = ttl_ms;
	req.host          = "host-a";
	req.last          = last;
	rv                = tasq_broker_submit(b, &req, T0, &acc, &dup, &why);
	free(v);
	return (rv);
}

// Leases up to max tasks (one batch) and returns them.
static tasq_lease_out
lease(tasq_broker *b, uint32_t max)
{
	tasq_lease_out o;
	bool           parked = true;

	ASSERT_OK(tasq_broker_lease(
	    b, "q", 7, "w", NULL, 0, 1, max, T0, &o, NULL, &parked));
	ASSERT_FALSE(parked);
	return (o);
}

// Completes the tasks of batch t whose ids are listed (squares; code for
// ids in fail_id, with message "bad").
static void
complete_ids(tasq_broker *b, const tasq_task_batch *t, const uint64_t *ids,
    size_t n, uint64_t fail_id)
{
	int64_t           vals[128];
	uint32_t          codes[128];
	const char       *errs[128];
	tasq_result_batch rb;
	tasq_complete_rep r;
	bool              fails = false;

	ASSERT_LE(n, 128);
	for (size_t i = 0; i < n; i++) {
		int64_t x = (int64_t) ids[i] + 1;
		vals[i]   = ids[i] == fail_id ? 0 : x * x;
		codes[i]  = ids[i] == fail_id
		     ? TASQ_EINVALID_ARGUMENT - TASQ_ERR_BASE
		     : 0;
		errs[i]   = ids[i] == fail_id ? "bad" : "";
		fails |= ids[i] == fail_id;
	}
	rb        = test_rb(t->lease_id, t->job_id, n, (uint64_t *) ids, vals,
            fails ? codes : NULL);
	rb.errors = fails ? errs : NULL;
	ASSERT_OK(tasq_broker_complete(b, 7, 1, &rb, T0, &r));
	ASSERT_EQ(r.accepted, n);
}

// Results of job from, at most max; checks they are ids from.. in order
// with squares, and returns how many came and the next index.
static size_t
results(tasq_broker *b, uint64_t job, uint64_t from, uint32_t max,
    uint64_t *next, int *state)
{
	tasq_results_out o;
	bool             parked = true;
	const char      *why    = NULL;
	size_t           n;

	ASSERT_OK(tasq_broker_results(
	    b, job, from, max, T0, &o, NULL, &parked, &why));
	ASSERT_FALSE(parked);
	for (size_t i = 0; i < o.n; i++) {
		int64_t x = (int64_t) (from + i) + 1;
		ASSERT_EQ(o.ids[i], from + i);
		if (o.codes == NULL || o.codes[i] == 0) {
			ASSERT_EQ(test_i64(&o.results, i), x * x);
		}
	}
	n      = o.n;
	*next  = o.next_index;
	*state = o.job.info.state;
	tasq_broker_results_fini(&o);
	return (n);
}

TEST(detached_results_come_by_index_in_order_again_and_again)
{
	tasq_broker   *b = broker_new(1000);
	tasq_lease_out o;
	uint64_t       ids[20], next;
	int            state;

	ASSERT_OK(submit_detached(b, 5, 0, 10, false, RESULT_TTL_MS));
	ASSERT_OK(submit_detached(b, 5, 10, 10, true, RESULT_TTL_MS));
	o = lease(b, 100);
	ASSERT_EQ(o.nbatches, 2);
	// Results come back out of order: the last ten first, backwards.
	for (size_t i = 0; i < 10; i++) {
		ids[i] = 19 - i;
	}
	complete_ids(b, &o.batches[1], ids, 10, UINT64_MAX);
	// Nothing from 0 yet: the reader stops at the first task without
	// a result.
	ASSERT_EQ(results(b, 5, 0, 50, &next, &state), 0);
	ASSERT_EQ(next, 0);
	ASSERT_EQ(state, TASQ_JOB_RUNNING);
	ASSERT_EQ(results(b, 5, 10, 50, &next, &state), 10);
	ASSERT_EQ(next, 20);
	ids[0] = 3, ids[1] = 0, ids[2] = 1, ids[3] = 2;
	complete_ids(b, &o.batches[0], ids, 4, UINT64_MAX);
	ASSERT_EQ(results(b, 5, 0, 50, &next, &state), 4);
	ASSERT_EQ(next, 4);
	for (size_t i = 0; i < 6; i++) {
		ids[i] = 4 + i;
	}
	complete_ids(b, &o.batches[0], ids, 6, UINT64_MAX);
	tasq_broker_lease_fini(&o);
	// Done: every result, in pages, from the start, as often as asked.
	for (int round = 0; round < 3; round++) {
		ASSERT_EQ(results(b, 5, 0, 7, &next, &state), 7);
		ASSERT_EQ(next, 7);
		ASSERT_EQ(state, TASQ_JOB_DONE);
		ASSERT_EQ(results(b, 5, 7, 0, &next, &state), 13);
		ASSERT_EQ(next, 20);
		ASSERT_EQ(results(b, 5, 20, 0, &next, &state), 0);
	}
	// Fetch never hands a detached job's results out (they would be
	// dropped by its acknowledgement).
	tasq_fetch_out f;
	bool           parked;
	ASSERT_OK(tasq_broker_fetch(b, 5, 0, 0, T0, &f, NULL, &parked));
	ASSERT_EQ(f.n, 0);
	ASSERT_EQ(f.completed, 20);
	tasq_broker_fetch_fini(&f);
	ASSERT_EQ(results(b, 5, 0, 0, &next, &state), 20);
	tasq_broker_free(b);
}

TEST(results_of_gaps_and_failures_and_parking)
{
	tasq_broker     *b = broker_new(1000);
	tasq_lease_out   o;
	tasq_results_out r;
	tasq_waiter      w;
	uint64_t         ids[4], next;
	const char      *why = NULL;
	bool             parked;
	int              state;

	memset(&w, 0, sizeof(w));
	// Two batches with a gap of ids between them.
	ASSERT_OK(submit_detached(b, 6, 100, 2, false, 0));
	ASSERT_OK(submit_detached(b, 6, 200, 2, true, 0));
	o = lease(b, 100);
	// Nothing yet: with a waiter the call parks.
	ASSERT_OK(tasq_broker_results(b, 6, 0, 0, T0, &r, &w, &parked, &why));
	ASSERT_TRUE(parked);
	ASSERT_EQ(r.n, 0);
	ASSERT_EQ(r.next_index, 100); // the first task id
	tasq_broker_results_fini(&r);
	ASSERT_FALSE(tasq_broker_unpark(b, &w));
	ids[0] = 100, ids[1] = 101;
	complete_ids(b, &o.batches[0], ids, 2, 101);
	ids[0] = 200, ids[1] = 201;
	complete_ids(b, &o.batches[1], ids, 2, UINT64_MAX);
	tasq_broker_lease_fini(&o);
	ASSERT_OK(tasq_broker_results(b, 6, 0, 0, T0, &r, &w, &parked, &why));
	ASSERT_FALSE(parked);
	ASSERT_EQ(r.n, 4);
	ASSERT_EQ(r.ids[0], 100);
	ASSERT_EQ(r.ids[1], 101);
	ASSERT_EQ(r.ids[2], 200); // over the gap
	ASSERT_EQ(r.ids[3], 201);
	ASSERT_NOT_NULL(r.codes);
	ASSERT_EQ(r.codes[1], TASQ_EINVALID_ARGUMENT - TASQ_ERR_BASE);
	ASSERT_NOT_NULL(r.errors);
	ASSERT_STR_EQ(r.errors[1], "bad");
	ASSERT_NULL(r.errors[0]);
	ASSERT_EQ(r.next_index, 202);
	ASSERT_EQ(r.job.info.failed, 1);
	ASSERT_EQ(r.job.info.state, TASQ_JOB_DONE);
	tasq_broker_results_fini(&r);
	ASSERT_EQ(results(b, 6, 202, 0, &next, &state), 0);
	ASSERT_EQ(next, 202);
	tasq_broker_free(b);
}

TEST(status_list_and_the_result_ttl)
{
	tasq_broker      *b = broker_new(1000);
	tasq_lease_out    o;
	tasq_job_info_buf ib;
	tasq_results_out  r;
	tasq_rep          rep;
	uint64_t          ids[3] = { 0, 1, 2 };
	const char       *why    = NULL;
	bool              parked;

	ASSERT_OK(submit_detached(b, 9, 0, 3, false, RESULT_TTL_MS));
	ASSERT_OK(tasq_broker_job_status(b, 9, T0, &ib, &why));
	ASSERT_EQ(ib.info.state, TASQ_JOB_OPEN);
	ASSERT_TRUE(ib.info.detached);
	ASSERT_STR_EQ(ib.info.host, "host-a");
	ASSERT_STR_EQ(ib.info.queue, "q");
	ASSERT_EQ(ib.info.submitted, 3);
	ASSERT_TRUE(ib.info.no_worker);
	// The input ends with a request that carries no tasks.
	ASSERT_OK(submit_detached(b, 9, 3, 0, true, 0));
	ASSERT_OK(tasq_broker_job_status(b, 9, T0, &ib, &why));
	ASSERT_EQ(ib.info.state, TASQ_JOB_RUNNING);
	// A detached job with all its input is not abandoned at --job-ttl.
	tasq_broker_tick(b, T0 + 2 * JOB_TTL_MS);
	ASSERT_OK(tasq_broker_job_status(b, 9, T0, &ib, &why));
	o = lease(b, 100);
	complete_ids(b, &o.batches[0], ids, 3, UINT64_MAX);
	tasq_broker_lease_fini(&o);
	wall += 1000;
	ASSERT_OK(tasq_broker_job_status(b, 9, T0, &ib, &why));
	ASSERT_EQ(ib.info.state, TASQ_JOB_DONE);
	ASSERT_EQ(ib.info.completed, 3);
	ASSERT_EQ(ib.info.expires_in_ms, RESULT_TTL_MS - 1000);
	ASSERT_EQ(ib.info.age_ms, 1000);
	ASSERT_OK(tasq_broker_job_list(b, "", 0, T0, &rep));
	ASSERT_EQ(rep.u.job_list.n, 1);
	ASSERT_EQ(rep.u.job_list.total, 1);
	ASSERT_EQ(rep.u.job_list.jobs[0].job_id, 9);
	tasq_broker_stats_fini(&rep);
	ASSERT_OK(tasq_broker_job_list(b, "other", 0, T0, &rep));
	ASSERT_EQ(rep.u.job_list.n, 0);
	tasq_broker_stats_fini(&rep);
	// Not yet: a tick just before the TTL keeps it.
	wall += RESULT_TTL_MS - 1001;
	tasq_broker_tick(b, T0 + 3 * JOB_TTL_MS);
	ASSERT_OK(tasq_broker_job_status(b, 9, T0, &ib, &why));
	wall += 1;
	tasq_broker_tick(b, T0 + 3 * JOB_TTL_MS);
	ASSERT_RV(
	    tasq_broker_job_status(b, 9, T0, &ib, &why), TASQ_ENOT_FOUND);
	ASSERT_STR_CONTAINS(why, "expired");
	ASSERT_RV(tasq_broker_results(b, 9, 0, 0, T0, &r, NULL, &parked, &why),
	    TASQ_ENOT_FOUND);
	ASSERT_STR_CONTAINS(why, "job expired");
	// An id never seen: unknown or expired.
	ASSERT_RV(
	    tasq_broker_results(b, 77, 0, 0, T0, &r, NULL, &parked, &why),
	    TASQ_ENOT_FOUND);
	ASSERT_STR_CONTAINS(why, "unknown or expired");
	ASSERT_OK(tasq_broker_job_list(b, NULL, 0, T0, &rep));
	ASSERT_EQ(rep.u.job_list.n, 0);
	tasq_broker_stats_fini(&rep);
	tasq_broker_free(b);
}

TEST(an_empty_input_is_done_at_once_and_attached_jobs_refuse_results)
{
	tasq_broker      *b = broker_new(1000);
	tasq_job_info_buf ib;
	tasq_results_out  r;
	const char       *why = NULL;
	bool              parked;
	int64_t           v = 3;
	uint32_t          acc;
	bool              dup;
	uint64_t          next;
	int               state;

	ASSERT_OK(submit_detached(b, 4, 0, 0, true, 0));
	ASSERT_OK(tasq_broker_job_status(b, 4, T0, &ib, &why));
	ASSERT_EQ(ib.info.state, TASQ_JOB_DONE);
	ASSERT_EQ(ib.info.submitted, 0);
	ASSERT_EQ(ib.info.result_ttl_ms, 3600000); // the server's default
	ASSERT_EQ(results(b, 4, 0, 0, &next, &state), 0);
	ASSERT_EQ(state, TASQ_JOB_DONE);
	// An attached job: status yes, Results no.
	ASSERT_OK(test_submit_i64(b, "q", 8, 0, 1, &v, T0, &acc, &dup, &why));
	ASSERT_OK(tasq_broker_job_status(b, 8, T0, &ib, &why));
	ASSERT_FALSE(ib.info.detached);
	ASSERT_EQ(ib.info.state, TASQ_JOB_OPEN);
	ASSERT_RV(tasq_broker_results(b, 8, 0, 0, T0, &r, NULL, &parked, &why),
	    TASQ_EFAILED_PRECONDITION);
	tasq_broker_free(b);
}

TEST(kept_results_count_against_max_tasks_until_they_expire)
{
	tasq_broker   *b = broker_new(10);
	tasq_lease_out o;
	uint64_t       ids[10];
	int64_t        v = 1;
	uint32_t       acc;
	bool           dup;
	const char    *why = NULL;

	for (size_t i = 0; i < 10; i++) {
		ids[i] = i;
	}
	ASSERT_OK(submit_detached(b, 3, 0, 10, true, RESULT_TTL_MS));
	o = lease(b, 100);
	complete_ids(b, &o.batches[0], ids, 10, UINT64_MAX);
	tasq_broker_lease_fini(&o);
	// Ten results held: no room for one more task.
	ASSERT_RV(test_submit_i64(b, "q", 12, 0, 1, &v, T0, &acc, &dup, &why),
	    TASQ_ERESOURCE_EXHAUSTED);
	wall += RESULT_TTL_MS;
	tasq_broker_tick(b, T0);
	ASSERT_OK(test_submit_i64(b, "q", 12, 0, 1, &v, T0, &acc, &dup, &why));
	tasq_broker_free(b);
}

TEST(a_results_reply_holds_at_most_4_mib_of_results)
{
	tasq_broker      *b = broker_new(1000);
	tasq_lease_out    o;
	tasq_results_out  r;
	tasq_result_batch rb;
	tasq_complete_rep cr;
	uint64_t          ids[6] = { 0, 1, 2, 3, 4, 5 };
	uint32_t          lens[6];
	uint8_t          *big = calloc(6, 1 << 20);
	const char       *why = NULL;
	bool              parked;

	ASSERT_NOT_NULL(big);
	ASSERT_OK(submit_detached(b, 2, 0, 6, true, 0));
	o = lease(b, 100);
	for (size_t i = 0; i < 6; i++) {
		lens[i] = i == 0 ? 100 : 1 << 20;
	}
	memset(&rb, 0, sizeof(rb));
	rb.lease_id = o.batches[0].lease_id;
	rb.job_id   = 2;
	rb.n        = 6;
	rb.ids      = ids;
	rb.results  = (tasq_blobs) { 0, lens, big, 100 + 5 * (1 << 20) };
	ASSERT_OK(tasq_broker_complete(b, 7, 1, &rb, T0, &cr));
	ASSERT_EQ(cr.accepted, 6);
	tasq_broker_lease_fini(&o);
	// 100 bytes and three of 1 MiB: a fourth would pass 4 MiB.
	ASSERT_OK(
	    tasq_broker_results(b, 2, 0, 0, T0, &r, NULL, &parked, &why));
	ASSERT_EQ(r.n, 4);
	ASSERT_EQ(r.next_index, 4);
	tasq_broker_results_fini(&r);
	ASSERT_OK(
	    tasq_broker_results(b, 2, 4, 0, T0, &r, NULL, &parked, &why));
	ASSERT_EQ(r.n, 2);
	ASSERT_EQ(r.results.size, 2 << 20);
	tasq_broker_results_fini(&r);
	free(big);
	tasq_broker_free(b);
}

TASQ_TEST_MAIN()
