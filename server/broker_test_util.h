// broker_test_util: helpers shared by the broker's unit tests (square
// tasks as int64 columns; the legacy shape of the tests before typed
// tasks).
#ifndef TASQ_BROKER_TEST_UTIL_H
#define TASQ_BROKER_TEST_UTIL_H

#include <stdint.h>
#include <string.h>

#include "blobs.h"
#include "broker.h"

// A width-8 column viewing n int64s (square payloads or results).
static inline tasq_blobs
test_col_i64(const int64_t *v, size_t n)
{
	tasq_blobs b = { 8, NULL, (uint8_t *) (uintptr_t) v, n * 8 };
	return (b);
}

// Item i of a column of int64s; an empty item (a failed task) is 0.
static inline int64_t
test_i64(const tasq_blobs *b, size_t i)
{
	tasq_blobs_iter it;
	const uint8_t  *p   = NULL;
	size_t          len = 0;

	if (b->width == 8) {
		return (tasq_blobs_i64(b, i));
	}
	tasq_blobs_iter_init(&it, b);
	for (size_t k = 0; k <= i; k++) {
		tasq_blobs_next(&it, &p, &len);
	}
	return (len == 8 ? tasq_i64_le_get(p) : 0);
}

// Submits n square tasks (values), as a legacy client does.
static inline int
test_submit_i64(tasq_broker *b, const char *queue, uint64_t job,
    uint64_t first, size_t n, const int64_t *values, uint64_t now,
    uint32_t *acc, bool *dup, const char **why)
{
	tasq_submit_req req;

	memset(&req, 0, sizeof(req));
	req.queue       = queue;
	req.job_id      = job;
	req.first_index = first;
	req.n           = n;
	req.type        = TASQ_TYPE_SQUARE;
	req.payloads    = test_col_i64(values, n);
	req.legacy      = true;
	return (tasq_broker_submit(b, &req, now, acc, dup, why));
}

// A result batch of square results (vals; codes NULL: all OK).
static inline tasq_result_batch
test_rb(uint64_t lease, uint64_t job, size_t n, uint64_t *ids,
    const int64_t *vals, uint32_t *codes)
{
	tasq_result_batch rb;

	memset(&rb, 0, sizeof(rb));
	rb.lease_id = lease;
	rb.job_id   = job;
	rb.n        = n;
	rb.ids      = ids;
	rb.codes    = codes;
	rb.results  = test_col_i64(vals, n);
	rb.legacy   = true;
	return (rb);
}

#endif
