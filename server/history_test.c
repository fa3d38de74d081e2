// Unit tests of server/history: the ring keeps the newest samples in
// order, its JSON is what the dashboard reads, and a reader copying
// while the timer writes never sees a torn or out-of-order sample (run
// it under TSan: the build with -DTASQ_SANITIZE=thread).
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "history.h"
#include "tasq_test.h"

// Sample number i: every field derived from i, so a torn copy shows.
static tasq_history_sample
sample_of(uint64_t i)
{
	tasq_history_sample s;

	s.wall_ms = 1000 * i;
	for (int k = 0; k < TASQ_HISTORY_NFIELDS; k++) {
		s.v[k] = (double) (i * (uint64_t) (k + 1));
	}
	return (s);
}

static bool
sample_ok(const tasq_history_sample *s)
{
	tasq_history_sample want = sample_of(s->wall_ms / 1000);
	return (memcmp(s, &want, sizeof(want)) == 0);
}

TEST(bad_capacity)
{
	tasq_history *h = NULL;

	ASSERT_RV(tasq_history_alloc(&h, 0), NNG_EINVAL);
	tasq_history_free(NULL);
}

TEST(keeps_newest_in_order)
{
	tasq_history       *h;
	tasq_history_sample out[8];

	ASSERT_OK(tasq_history_alloc(&h, 5));
	ASSERT_EQ(tasq_history_cap(h), 5);
	ASSERT_EQ(tasq_history_copy(h, out, 8), 0);
	for (uint64_t i = 1; i <= 3; i++) {
		tasq_history_sample s = sample_of(i);
		tasq_history_add(h, &s);
	}
	ASSERT_EQ(tasq_history_copy(h, out, 8), 3);
	for (size_t i = 0; i < 3; i++) {
		ASSERT_EQ(out[i].wall_ms, 1000 * (i + 1));
		ASSERT_TRUE(sample_ok(&out[i]));
	}
	// Past the capacity the oldest go: 12 added, 8..12 kept.
	for (uint64_t i = 4; i <= 12; i++) {
		tasq_history_sample s = sample_of(i);
		tasq_history_add(h, &s);
	}
	ASSERT_EQ(tasq_history_copy(h, out, 8), 5);
	for (size_t i = 0; i < 5; i++) {
		ASSERT_EQ(out[i].wall_ms, 1000 * (i + 8));
		ASSERT_TRUE(sample_ok(&out[i]));
	}
	// Fewer asked: the newest ones.
	ASSERT_EQ(tasq_history_copy(h, out, 2), 2);
	ASSERT_EQ(out[0].wall_ms, 11000);
	ASSERT_EQ(out[1].wall_ms, 12000);
	tasq_history_free(h);
}

TEST(json)
{
	tasq_history       *h;
	tasq_history_sample s   = sample_of(2);
	char               *buf = NULL;
	size_t              len = 0;
	FILE               *f;

	ASSERT_OK(tasq_history_alloc(&h, 4));
	ASSERT_NOT_NULL(f = open_memstream(&buf, &len));
	ASSERT_OK(tasq_history_json(h, 1000, f));
	ASSERT_EQ(fclose(f), 0);
	ASSERT_STR_CONTAINS(buf, "\"interval_ms\":1000,");
	ASSERT_STR_CONTAINS(buf, "\"fields\":[\"completed\",\"failed\",");
	ASSERT_STR_CONTAINS(buf, "\"samples\":[]}");
	free(buf);
	buf                   = NULL;
	s.v[TASQ_HIST_FAILED] = 0.0 / 0.0; // NaN is no JSON
	tasq_history_add(h, &s);
	ASSERT_NOT_NULL(f = open_memstream(&buf, &len));
	ASSERT_OK(tasq_history_json(h, 1000, f));
	ASSERT_EQ(fclose(f), 0);
	ASSERT_STR_CONTAINS(buf, "\"samples\":[[2000,2.0,0.0,6.0,8.0,");
	free(buf);
	ASSERT_STR_EQ(
	    tasq_history_field_name(TASQ_HIST_LATENCY), "latency_ms");
	ASSERT_NULL(tasq_history_field_name(TASQ_HISTORY_NFIELDS));
	tasq_history_free(h);
}

// The timer thread writes while HTTP handlers copy.
struct race {
	tasq_history *h;
	atomic_bool   done;
	atomic_int    bad;
	atomic_int    copies;
};

static void
writer(void *arg)
{
	struct race *r = arg;

	for (uint64_t i = 1; i <= 20000; i++) {
		tasq_history_sample s = sample_of(i);
		tasq_history_add(r->h, &s);
	}
	atomic_store(&r->done, true);
}

static void
reader(void *arg)
{
	struct race         *r = arg;
	tasq_history_sample *out;
	size_t               cap = tasq_history_cap(r->h);

	if ((out = calloc(cap, sizeof(*out))) == NULL) {
		atomic_fetch_add(&r->bad, 1);
		return;
	}
	// Bounded: at most 1,000,000 copies, ends once the writer has (one
	// copy at least).
	for (int k = 0; k < 1000000; k++) {
		bool   over = atomic_load(&r->done);
		size_t n    = tasq_history_copy(r->h, out, cap);
		for (size_t i = 0; i < n; i++) {
			if (!sample_ok(&out[i]) ||
			    (i > 0 &&
			        out[i].wall_ms != out[i - 1].wall_ms + 1000)) {
				atomic_fetch_add(&r->bad, 1);
			}
		}
		atomic_fetch_add(&r->copies, 1);
		if (over) {
			break;
		}
	}
	free(out);
}

TEST(concurrent_copy)
{
	struct race r;
	nng_thread *tw, *tr1, *tr2;

	memset(&r, 0, sizeof(r));
	ASSERT_OK(tasq_history_alloc(&r.h, 600));
	ASSERT_OK(nng_thread_create(&tr1, reader, &r));
	ASSERT_OK(nng_thread_create(&tr2, reader, &r));
	ASSERT_OK(nng_thread_create(&tw, writer, &r));
	nng_thread_destroy(tw);
	nng_thread_destroy(tr1);
	nng_thread_destroy(tr2);
	ASSERT_EQ(atomic_load(&r.bad), 0);
	ASSERT_GT(atomic_load(&r.copies), 0);
	tasq_history_sample last;
	ASSERT_EQ(tasq_history_copy(r.h, &last, 1), 1);
	ASSERT_EQ(last.wall_ms, 20000000);
	tasq_history_free(r.h);
}

TASQ_TEST_MAIN()
