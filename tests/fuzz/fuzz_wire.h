// fuzz_wire: checks the two wire targets (fuzz_wire_req, fuzz_wire_rep)
// share on the typed-task columns. Include after fuzz.h.
#ifndef TASQ_FUZZ_WIRE_H
#define TASQ_FUZZ_WIRE_H

#include "blobs.h"
#include "fuzz.h"
#include "wire.h"

// Checks that a decoded column of n items is well formed and came back
// equal (same form, same bytes) to the one encoded.
static inline void
fuzz_same_blobs(const tasq_blobs *a, const tasq_blobs *b, size_t n)
{
	FUZZ_CHECK(tasq_blobs_check(a, n, TASQ_WIRE_MAX_PAYLOAD) == 0);
	FUZZ_CHECK(a->width == b->width && a->size == b->size);
	FUZZ_CHECK((a->lens == NULL) == (b->lens == NULL));
	if (a->size > 0) {
		FUZZ_CHECK(memcmp(a->data, b->data, a->size) == 0);
	}
	if (a->lens != NULL && n > 0) {
		FUZZ_CHECK(
		    memcmp(a->lens, b->lens, n * sizeof(uint32_t)) == 0);
	}
}

// Checks that errors (none, or n messages) came back the same: a list of
// empty messages travels as no list.
static inline void
fuzz_same_errors(const char **a, const char **b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *x = a != NULL && a[i] != NULL ? a[i] : "";
		const char *y = b != NULL && b[i] != NULL ? b[i] : "";
		FUZZ_CHECK(strcmp(x, y) == 0);
		FUZZ_CHECK(strlen(x) <= TASQ_WIRE_MAX_TEXT);
	}
}

#endif
