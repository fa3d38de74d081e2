// Unit tests of server/idmap: an open-addressing map checked against a
// plain array under random insertions, replacements and deletions.
#include <stdint.h>
#include <stdlib.h>

#include <nng/nng.h>

#include "alloc.h"
#include "idmap.h"
#include "tasq_test.h"

// xorshift64*: reproducible without touching the libc generator.
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return (*s * UINT64_C(2685821657736338717));
}

// The value stored for a key: recognisable and never NULL.
static void *
val_of(size_t i, unsigned gen)
{
	return ((void *) (uintptr_t) (((i + 1) << 8) | gen));
}

// Every key is present with its value or absent, exactly as the model
// says, and count and iteration agree.
static void
check_model(
    const tasq_idmap *m, size_t n, const uint64_t *keys, void *const *vals)
{
	size_t live = 0, seen = 0, pos = 0;

	for (size_t i = 0; i < n; i++) {
		ASSERT_PTR_EQ(tasq_idmap_get(m, keys[i]), vals[i]);
		live += vals[i] != NULL;
	}
	ASSERT_EQ(m->count, live);
	while (tasq_idmap_next(m, &pos) != NULL) {
		seen++;
	}
	ASSERT_EQ(seen, live);
	ASSERT_LE(m->count * 4, m->cap * 3); // load stays under 3/4
}

TEST(empty_map)
{
	tasq_idmap m;
	size_t     pos = 0;

	tasq_idmap_init(&m);
	ASSERT_NULL(tasq_idmap_get(&m, 1));
	ASSERT_NULL(tasq_idmap_get(&m, 0));
	ASSERT_NULL(tasq_idmap_next(&m, &pos));
	tasq_idmap_del(&m, 1);
	tasq_idmap_del(&m, 0);
	ASSERT_EQ(m.count, 0);
	tasq_idmap_fini(&m);
	tasq_idmap_fini(&m); // twice is harmless
}

TEST(zero_id_refused)
{
	tasq_idmap m;
	int        x;

	tasq_idmap_init(&m);
	ASSERT_RV(tasq_idmap_put(&m, 0, &x), NNG_EINVAL);
	ASSERT_EQ(m.count, 0);
	ASSERT_OK(tasq_idmap_put(&m, UINT64_MAX, &x));
	ASSERT_PTR_EQ(tasq_idmap_get(&m, UINT64_MAX), &x);
	ASSERT_NULL(tasq_idmap_get(&m, 0));
	tasq_idmap_fini(&m);
}

TEST(put_replaces)
{
	tasq_idmap m;
	int        a, b;

	tasq_idmap_init(&m);
	ASSERT_OK(tasq_idmap_put(&m, 42, &a));
	ASSERT_OK(tasq_idmap_put(&m, 42, &b));
	ASSERT_EQ(m.count, 1);
	ASSERT_PTR_EQ(tasq_idmap_get(&m, 42), &b);
	tasq_idmap_del(&m, 42);
	ASSERT_EQ(m.count, 0);
	ASSERT_NULL(tasq_idmap_get(&m, 42));
	tasq_idmap_del(&m, 42); // absent: nothing happens
	ASSERT_EQ(m.count, 0);
	tasq_idmap_fini(&m);
}

// Sequential ids, ids that differ only in their high bits, and random
// ids: thousands of operations in random order against the model.
static void
random_ops(int kind, uint64_t seed)
{
	enum { N = 5000, OPS = 60000 };
	uint64_t  *keys = calloc(N, sizeof(*keys));
	void     **vals = calloc(N, sizeof(*vals));
	tasq_idmap m;
	uint64_t   s = seed;

	ASSERT_NOT_NULL(keys);
	ASSERT_NOT_NULL(vals);
	for (size_t i = 0; i < N; i++) {
		switch (kind) {
		case 0:
			keys[i] = i + 1;
			break;
		case 1:
			keys[i] = (uint64_t) (i + 1) << 44;
			break;
		default:
			do {
				keys[i] = rnd(&s);
			} while (keys[i] == 0);
			break;
		}
	}
	tasq_idmap_init(&m);
	for (unsigned op = 0; op < OPS; op++) {
		uint64_t r = rnd(&s);
		size_t   i = (size_t) (r % N);
		// Inserts outnumber deletions early so the map grows, then
		// deletions win so that clusters are taken apart.
		bool del = (r >> 32) % 100 < (op < OPS / 2 ? 30 : 70);
		if (del) {
			tasq_idmap_del(&m, keys[i]);
			vals[i] = NULL;
		} else {
			vals[i] = val_of(i, op & 0xff);
			ASSERT_OK(tasq_idmap_put(&m, keys[i], vals[i]));
		}
		if (op % 5000 == 0) {
			check_model(&m, N, keys, vals);
		}
	}
	check_model(&m, N, keys, vals);
	// Empty it in random order, checking after each step at first.
	for (size_t k = 0; k < N; k++) {
		size_t i = (size_t) (rnd(&s) % N);
		tasq_idmap_del(&m, keys[i]);
		vals[i] = NULL;
		if (k < 200) {
			check_model(&m, N, keys, vals);
		}
	}
	for (size_t i = 0; i < N; i++) {
		tasq_idmap_del(&m, keys[i]);
		vals[i] = NULL;
	}
	check_model(&m, N, keys, vals);
	ASSERT_EQ(m.count, 0);
	tasq_idmap_fini(&m);
	free(keys);
	free(vals);
}

TEST(random_sequential_ids)
{
	random_ops(0, 1);
}

TEST(random_high_bit_ids)
{
	random_ops(1, 2);
}

TEST(random_ids)
{
	random_ops(2, 3);
	random_ops(2, 0x9e3779b97f4a7c15);
}

// A full cluster around the end of the table: deleting from its middle
// must keep every later member reachable (backward shift wraps).
TEST(deletion_inside_wrapping_clusters)
{
	enum { N = 11 }; // fits 16 slots at load < 3/4
	tasq_idmap m;
	uint64_t   keys[N];
	void      *vals[N];

	for (uint64_t base = 1; base < 400; base++) {
		tasq_idmap_init(&m);
		for (size_t i = 0; i < N; i++) {
			keys[i] = base * 1000 + i;
			vals[i] = val_of(i, 1);
			ASSERT_OK(tasq_idmap_put(&m, keys[i], vals[i]));
		}
		ASSERT_EQ(m.cap, 16);
		for (size_t k = 0; k < N; k++) {
			size_t i = (k * 7 + base) % N;
			tasq_idmap_del(&m, keys[i]);
			vals[i] = NULL;
			check_model(&m, N, keys, vals);
		}
		tasq_idmap_fini(&m);
	}
}

TEST(iteration_visits_each_value_once)
{
	enum { N = 1000 };
	tasq_idmap m;
	uint8_t    hits[N] = { 0 };
	size_t     pos     = 0;
	void      *v;

	tasq_idmap_init(&m);
	for (size_t i = 0; i < N; i++) {
		ASSERT_OK(tasq_idmap_put(&m, i * 31 + 7, val_of(i, 0)));
	}
	while ((v = tasq_idmap_next(&m, &pos)) != NULL) {
		size_t i = ((uintptr_t) v >> 8) - 1;
		ASSERT_LT(i, N);
		hits[i]++;
	}
	for (size_t i = 0; i < N; i++) {
		ASSERT_EQ(hits[i], 1);
	}
	tasq_idmap_fini(&m);
}

// After reserve(n), n puts of new ids cannot fail: not even when every
// allocation would.
TEST(reserve_makes_puts_that_cannot_fail)
{
	tasq_idmap m;

	tasq_idmap_init(&m);
	for (uint64_t id = 1; id <= 5; id++) {
		ASSERT_OK(tasq_idmap_put(&m, id, val_of(id, 0)));
	}
	ASSERT_OK(tasq_idmap_reserve(&m, 100));
	tasq_alloc_fail_at(1);
	for (uint64_t id = 6; id <= 105; id++) {
		ASSERT_OK(tasq_idmap_put(&m, id, val_of(id, 0)));
	}
	ASSERT_FALSE(tasq_alloc_failed());
	ASSERT_EQ(tasq_alloc_calls(), 0);
	tasq_alloc_fail_at(0);
	ASSERT_EQ(m.count, 105);
	for (uint64_t id = 1; id <= 105; id++) {
		ASSERT_PTR_EQ(tasq_idmap_get(&m, id), val_of(id, 0));
	}
	// A failed reserve leaves the map as it was.
	tasq_alloc_fail_at(1);
	ASSERT_RV(tasq_idmap_reserve(&m, 1000), NNG_ENOMEM);
	tasq_alloc_fail_at(0);
	ASSERT_EQ(m.count, 105);
	ASSERT_PTR_EQ(tasq_idmap_get(&m, 77), val_of(77, 0));
	tasq_idmap_fini(&m);
}

TASQ_TEST_MAIN()
