// Unit tests of server/broker_stats: a queue's latency
// (tasq_broker_queue_age_ms) is the age of the task leased next, from
// its submit, on the broker's clock.
#include <string.h>

#include "broker.h"
#include "broker_test_util.h"
#include "tasq_test.h"

#define T0 1000000

static void
wake_cb(tasq_waiter *w)
{
	(void) w;
}

static tasq_broker *
broker_new(void)
{
	tasq_broker_conf c = { .max_tasks = 1000,
		.max_batch                = 100,
		.max_queues               = 3,
		.max_jobs                 = 8,
		.max_workers              = 4,
		.lease_ms                 = 5000,
		.max_attempts             = 3,
		.job_ttl_ms               = 600000,
		.max_fetch                = 50,
		.max_lease                = 20 };
	tasq_broker     *b = NULL;

	ASSERT_OK(tasq_broker_alloc(&b, &c, wake_cb));
	return (b);
}

static void
submit_at(tasq_broker *b, const char *q, uint64_t job, uint64_t first,
    size_t n, uint64_t now)
{
	int64_t     v[16] = { 0 };
	uint32_t    acc   = 0;
	bool        dup   = false;
	const char *why   = NULL;

	ASSERT_OK(
	    test_submit_i64(b, q, job, first, n, v, now, &acc, &dup, &why));
	ASSERT_EQ(acc, n);
}

static uint32_t
lease_n(tasq_broker *b, const char *q, uint32_t max, uint64_t now)
{
	tasq_lease_out lo;
	bool           parked = false;
	uint32_t       n      = 0;

	memset(&lo, 0, sizeof(lo));
	ASSERT_OK(tasq_broker_lease(
	    b, q, 11, "w", NULL, 0, 1, max, now, &lo, NULL, &parked));
	for (size_t i = 0; i < lo.nbatches; i++) {
		n += (uint32_t) lo.batches[i].n;
	}
	tasq_broker_lease_fini(&lo);
	return (n);
}

TEST(queue_age)
{
	tasq_broker *b = broker_new();

	ASSERT_EQ(tasq_broker_queue_age_ms(b, "q", T0), 0); // no queue
	submit_at(b, "q", 7, 0, 4, T0);
	submit_at(b, "q", 8, 0, 4, T0 + 3000);
	submit_at(b, "r", 9, 0, 2, T0 + 3000);
	ASSERT_EQ(tasq_broker_queue_age_ms(b, "q", T0 + 5000), 5000);
	ASSERT_EQ(tasq_broker_queue_age_ms(b, "r", T0 + 5000), 2000);
	ASSERT_EQ(tasq_broker_queue_age_ms(b, "nope", T0 + 5000), 0);
	// The first batch leased, the second is next: submitted at +3 s.
	ASSERT_EQ(lease_n(b, "q", 4, T0 + 6000), 4);
	ASSERT_EQ(tasq_broker_queue_age_ms(b, "q", T0 + 6000), 3000);
	// Part of a batch leased: the rest keeps its age.
	ASSERT_EQ(lease_n(b, "q", 2, T0 + 7000), 2);
	ASSERT_EQ(tasq_broker_queue_age_ms(b, "q", T0 + 7000), 4000);
	ASSERT_EQ(lease_n(b, "q", 10, T0 + 8000), 2);
	ASSERT_EQ(tasq_broker_queue_age_ms(b, "q", T0 + 9000), 0);
	// A clock behind the submit is no negative age.
	ASSERT_EQ(tasq_broker_queue_age_ms(b, "r", T0), 0);
	tasq_broker_free(b);
}

TASQ_TEST_MAIN()
