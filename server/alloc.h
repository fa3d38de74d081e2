// alloc: the server core's heap allocator, with a test hook that makes
// the Nth allocation fail (as SQLite's and nng's tests do), so that a
// unit test can fail every allocation of an operation in turn and check
// that the operation is all-or-nothing.
//
// broker.c, persist.c and idmap.c allocate through these; what they
// return is freed with free(3). Thread-safe: the hook's counter is
// atomic; in production (hook disarmed) it costs one relaxed load.
#ifndef TASQ_ALLOC_H
#define TASQ_ALLOC_H

#include <stddef.h>
#include <stdint.h>

// tasq_alloc, tasq_calloc, tasq_realloc behave as malloc, calloc and
// realloc (returns new memory, free with free(3)), except that the
// failing call armed by tasq_alloc_fail_at returns NULL (tasq_realloc
// then leaves its argument as it was).
void *tasq_alloc(size_t size);
void *tasq_calloc(size_t n, size_t size);
void *tasq_realloc(void *p, size_t size);

// Test hook: tasq_alloc_fail_at(n) makes the nth allocation from now
// fail (n = 1: the next one), and every later one succeed; 0 disarms.
void tasq_alloc_fail_at(uint64_t n);

// tasq_alloc_calls returns the number of allocations since the last
// tasq_alloc_fail_at; tasq_alloc_failed whether the armed one failed.
uint64_t tasq_alloc_calls(void);
int      tasq_alloc_failed(void);

#endif
