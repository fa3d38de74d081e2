#include "alloc.h"

#include <stdatomic.h>
#include <stdlib.h>

static atomic_uint_fast64_t fail_at; // 0: disarmed
static atomic_uint_fast64_t calls;
static atomic_int           failed;

void
tasq_alloc_fail_at(uint64_t n)
{
	atomic_store(&calls, 0);
	atomic_store(&failed, 0);
	atomic_store(&fail_at, n);
}

uint64_t
tasq_alloc_calls(void)
{
	return (atomic_load(&calls));
}

int
tasq_alloc_failed(void)
{
	return (atomic_load(&failed));
}

// Whether this allocation is the one to fail. Counting only while armed
// keeps the production path to one relaxed load.
static int
should_fail(void)
{
	uint64_t at = atomic_load_explicit(&fail_at, memory_order_relaxed);

	if (at == 0) {
		return (0);
	}
	if (atomic_fetch_add(&calls, 1) + 1 != at) {
		return (0);
	}
	atomic_store(&failed, 1);
	return (1);
}

void *
tasq_alloc(size_t size)
{
	return (should_fail() ? NULL : malloc(size));
}

void *
tasq_calloc(size_t n, size_t size)
{
	return (should_fail() ? NULL : calloc(n, size));
}

void *
tasq_realloc(void *p, size_t size)
{
	return (should_fail() ? NULL : realloc(p, size));
}
