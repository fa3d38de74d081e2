// Unit tests of server/stats: the registry's names, help texts and order
// are the Stats reply's and /metrics' (a rename or a reorder would show
// on the wire), counts from many threads add up (run it under TSan too:
// the build with -DTASQ_SANITIZE=thread), and the broker counts into the
// registry it is given, whose every counter its Stats snapshot lists.
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "broker.h"
#include "broker_test_util.h"
#include "stats.h"
#include "tasq_test.h"

// What clients, dashboards and alert rules read: never reorder or rename.
static const char *const wire_names[] = { "tasks_submitted", "tasks_leased",
	"tasks_completed", "tasks_failed", "tasks_redelivered",
	"tasks_dead_lettered", "dead_letters_dropped", "tasks_retried",
	"results_duplicate", "results_late", "results_rejected",
	"submits_duplicate", "leases_expired", "leases_disconnected",
	"jobs_expired", "requests_resource_exhausted", "requests_total",
	"requests_invalid", "requests_unknown_method", "auth_failures",
	"auth_replays", "messages_malformed", "connections_accepted",
	"connections_closed", "listener_restarts", "connections_idle_closed",
	"connections_refused", "connections_refused_unauthenticated",
	"connections_auth_timeout", "heartbeats_received",
	"heartbeats_refused" };

TEST(names_in_wire_order)
{
	size_t n = sizeof(wire_names) / sizeof(wire_names[0]);

	ASSERT_EQ(TASQ_CTR_COUNT, n);
	for (size_t i = 0; i < n; i++) {
		ASSERT_STR_EQ(tasq_stats_name((int) i), wire_names[i]);
	}
	ASSERT_STR_EQ(
	    tasq_stats_name(TASQ_CTR_AUTH_FAILURES), "auth_failures");
	ASSERT_STR_EQ(tasq_stats_name(TASQ_CTR_HEARTBEATS_RECEIVED),
	    "heartbeats_received");
	ASSERT_NULL(tasq_stats_name(-1));
	ASSERT_NULL(tasq_stats_name(TASQ_CTR_COUNT));
}

TEST(helps_are_sentences)
{
	for (int i = 0; i < TASQ_CTR_COUNT; i++) {
		const char *h = tasq_stats_help(i);
		ASSERT_NOT_NULL(h);
		ASSERT_GT(strlen(h), 10);
		ASSERT_EQ(h[strlen(h) - 1], '.');
	}
	// Two that /metrics shows verbatim (tests/security/metrics.sh).
	ASSERT_STR_EQ(
	    tasq_stats_help(TASQ_CTR_REQUESTS), "Requests received.");
	ASSERT_STR_EQ(tasq_stats_help(TASQ_CTR_LISTENER_RESTARTS),
	    "Listeners replaced by the watchdog.");
	ASSERT_NULL(tasq_stats_help(-1));
	ASSERT_NULL(tasq_stats_help(TASQ_CTR_COUNT));
}

TEST(add_get_snapshot)
{
	tasq_stats  *s;
	tasq_counter out[TASQ_CTR_COUNT];

	ASSERT_OK(tasq_stats_alloc(&s));
	for (int i = 0; i < TASQ_CTR_COUNT; i++) {
		ASSERT_EQ(tasq_stats_get(s, i), 0);
	}
	tasq_stats_add(s, TASQ_CTR_REQUESTS, 41);
	tasq_stats_add(s, TASQ_CTR_REQUESTS, 1);
	tasq_stats_add(s, TASQ_CTR_HEARTBEATS_REFUSED, 3);
	tasq_stats_add(s, TASQ_CTR_SUBMITTED, 0);
	ASSERT_EQ(tasq_stats_get(s, TASQ_CTR_REQUESTS), 42);
	ASSERT_EQ(tasq_stats_get(s, TASQ_CTR_HEARTBEATS_REFUSED), 3);
	ASSERT_EQ(tasq_stats_snapshot(s, out), TASQ_CTR_COUNT);
	for (int i = 0; i < TASQ_CTR_COUNT; i++) {
		ASSERT_STR_EQ(out[i].name, wire_names[i]);
		ASSERT_EQ(out[i].value,
		    i == TASQ_CTR_REQUESTS                 ? 42
		        : i == TASQ_CTR_HEARTBEATS_REFUSED ? 3
		                                           : 0);
	}
	tasq_stats_free(s);
	tasq_stats_free(NULL);
}

// Adders on several threads, as the RPC layer's conversations, the
// heartbeat port and the broker count at once: nothing is lost.
#define NTHREADS 4
#define NADDS 20000

struct adder {
	tasq_stats *s;
	int         counter;
};

static void
adder_main(void *arg)
{
	struct adder *a = arg;

	for (int i = 0; i < NADDS; i++) {
		tasq_stats_add(a->s, a->counter, 1);
		tasq_stats_add(a->s, TASQ_CTR_REQUESTS, 2);
		(void) tasq_stats_get(a->s, TASQ_CTR_CONNECTIONS);
	}
}

TEST(concurrent_adds)
{
	tasq_stats  *s;
	nng_thread  *t[NTHREADS];
	struct adder a[NTHREADS];
	tasq_counter out[TASQ_CTR_COUNT];

	ASSERT_OK(tasq_stats_alloc(&s));
	for (int i = 0; i < NTHREADS; i++) {
		a[i].s = s;
		a[i].counter =
		    i % 2 ? TASQ_CTR_CONNECTIONS : TASQ_CTR_COMPLETED;
		ASSERT_OK(nng_thread_create(&t[i], adder_main, &a[i]));
	}
	// A reader meanwhile (the Stats reply, /metrics).
	for (int k = 0; k < 100; k++) {
		(void) tasq_stats_snapshot(s, out);
	}
	for (int i = 0; i < NTHREADS; i++) {
		nng_thread_destroy(t[i]);
	}
	ASSERT_EQ(tasq_stats_get(s, TASQ_CTR_REQUESTS),
	    (uint64_t) 2 * NTHREADS * NADDS);
	ASSERT_EQ(tasq_stats_get(s, TASQ_CTR_CONNECTIONS),
	    (uint64_t) NTHREADS / 2 * NADDS);
	ASSERT_EQ(tasq_stats_get(s, TASQ_CTR_COMPLETED),
	    (uint64_t) NTHREADS / 2 * NADDS);
	tasq_stats_free(s);
}

static void
wake_cb(tasq_waiter *w)
{
	(void) w;
}

static tasq_broker *
broker_with(tasq_stats *s)
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
		.max_lease                = 20,
		.stats                    = s };
	tasq_broker     *b = NULL;

	ASSERT_OK(tasq_broker_alloc(&b, &c, wake_cb));
	return (b);
}

static void
submit(tasq_broker *b, uint64_t job, size_t n)
{
	int64_t     v[8] = { 0 };
	uint32_t    acc  = 0;
	bool        dup  = false;
	const char *why  = NULL;

	ASSERT_OK(
	    test_submit_i64(b, "q", job, 0, n, v, 1000, &acc, &dup, &why));
	ASSERT_EQ(acc, n);
}

// The broker counts its events into the server's registry; the Stats
// snapshot lists every counter of it, those the transport counts too
// (this assertion was broker_test's stats_snapshot, which counted
// requests_total through the broker).
TEST(broker_counts_into_registry)
{
	tasq_stats  *s;
	tasq_broker *b;
	tasq_rep     rep;

	ASSERT_OK(tasq_stats_alloc(&s));
	b = broker_with(s);
	submit(b, 7, 5);
	ASSERT_EQ(tasq_stats_get(s, TASQ_CTR_SUBMITTED), 5);
	ASSERT_EQ(tasq_broker_counter(b, TASQ_CTR_SUBMITTED), 5);
	// Counted by the RPC layer and the heartbeat port, not the broker.
	tasq_stats_add(s, TASQ_CTR_REQUESTS, 42);
	tasq_stats_add(s, TASQ_CTR_HEARTBEATS_RECEIVED, 2);
	ASSERT_EQ(tasq_broker_counter(b, TASQ_CTR_REQUESTS), 42);
	ASSERT_OK(tasq_broker_stats(b, 1000, &rep));
	ASSERT_EQ(rep.u.stats.ncounters, TASQ_CTR_COUNT);
	for (int i = 0; i < TASQ_CTR_COUNT; i++) {
		ASSERT_STR_EQ(rep.u.stats.counters[i].name, wire_names[i]);
		ASSERT_EQ(rep.u.stats.counters[i].value, tasq_stats_get(s, i));
	}
	ASSERT_EQ(rep.u.stats.counters[TASQ_CTR_REQUESTS].value, 42);
	ASSERT_EQ(rep.u.stats.counters[TASQ_CTR_HEARTBEATS_RECEIVED].value, 2);
	tasq_broker_stats_fini(&rep);
	tasq_broker_free(b);
	// Borrowed: still the caller's after the broker is gone.
	ASSERT_EQ(tasq_stats_get(s, TASQ_CTR_SUBMITTED), 5);
	tasq_stats_free(s);
}

// Two brokers without a registry each count in one of their own.
TEST(broker_own_registry)
{
	tasq_broker *a = broker_with(NULL), *b = broker_with(NULL);

	submit(a, 7, 3);
	submit(b, 8, 2);
	ASSERT_EQ(tasq_broker_counter(a, TASQ_CTR_SUBMITTED), 3);
	ASSERT_EQ(tasq_broker_counter(b, TASQ_CTR_SUBMITTED), 2);
	tasq_broker_free(a);
	tasq_broker_free(b);
}

TASQ_TEST_MAIN()
