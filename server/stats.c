// stats: the registry of the server's counters (see stats.h).
#include "stats.h"

#include <stdatomic.h>
#include <stdlib.h>

#include <nng/nng.h>

#include "alloc.h"

struct tasq_stats {
	// Relaxed increments and loads: each counter stands alone. Where
	// two numbers must agree (tasks_completed and the queues' totals),
	// the broker's mutex orders them, not these atomics.
	atomic_uint_fast64_t ctr[TASQ_CTR_COUNT];
};

static const char *const names[] = {
#define TASQ_CTR_NAME(id, name, help) name,
	TASQ_COUNTER_MAP(TASQ_CTR_NAME)
#undef TASQ_CTR_NAME
};

static const char *const helps[] = {
#define TASQ_CTR_HELP(id, name, help) help,
	TASQ_COUNTER_MAP(TASQ_CTR_HELP)
#undef TASQ_CTR_HELP
};

int
tasq_stats_alloc(tasq_stats **sp)
{
	tasq_stats *s;

	if ((s = tasq_calloc(1, sizeof(*s))) == NULL) {
		return (NNG_ENOMEM);
	}
	for (int i = 0; i < TASQ_CTR_COUNT; i++) {
		atomic_init(&s->ctr[i], 0);
	}
	*sp = s;
	return (0);
}

void
tasq_stats_free(tasq_stats *s)
{
	free(s);
}

void
tasq_stats_add(tasq_stats *s, int counter, uint64_t n)
{
	atomic_fetch_add_explicit(&s->ctr[counter], n, memory_order_relaxed);
}

uint64_t
tasq_stats_get(const tasq_stats *s, int counter)
{
	return (atomic_load_explicit(
	    (atomic_uint_fast64_t *) &s->ctr[counter], memory_order_relaxed));
}

const char *
tasq_stats_name(int counter)
{
	return (
	    counter >= 0 && counter < TASQ_CTR_COUNT ? names[counter] : NULL);
}

const char *
tasq_stats_help(int counter)
{
	return (
	    counter >= 0 && counter < TASQ_CTR_COUNT ? helps[counter] : NULL);
}

size_t
tasq_stats_snapshot(const tasq_stats *s, tasq_counter *out)
{
	for (int i = 0; i < TASQ_CTR_COUNT; i++) {
		out[i].name  = names[i];
		out[i].value = tasq_stats_get(s, i);
	}
	return (TASQ_CTR_COUNT);
}
