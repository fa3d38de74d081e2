// history: a fixed ring of samples under one mutex. Samples are small
// (about 80 bytes) and copied whole, so a reader never sees half of one.
#include "history.h"

#include <stdlib.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

struct tasq_history {
	nng_mtx             *mtx;
	tasq_history_sample *ring;
	size_t               cap, head, count; // head: the oldest
};

static const char *const field_names[] = {
#define TASQ_HIST_NAME(id, name, help) name,
	TASQ_HISTORY_FIELDS(TASQ_HIST_NAME)
#undef TASQ_HIST_NAME
};

int
tasq_history_alloc(tasq_history **hp, size_t cap)
{
	tasq_history *h;
	int           rv;

	if (cap == 0) {
		return (NNG_EINVAL);
	}
	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (h->ring = calloc(cap, sizeof(*h->ring))) == NULL) {
		tasq_history_free(h);
		return (NNG_ENOMEM);
	}
	if ((rv = nng_mtx_alloc(&h->mtx)) != 0) {
		tasq_history_free(h);
		return (rv);
	}
	h->cap = cap;
	*hp    = h;
	return (0);
}

void
tasq_history_free(tasq_history *h)
{
	if (h == NULL) {
		return;
	}
	if (h->mtx != NULL) {
		nng_mtx_free(h->mtx);
	}
	free(h->ring);
	free(h);
}

void
tasq_history_add(tasq_history *h, const tasq_history_sample *s)
{
	nng_mtx_lock(h->mtx);
	if (h->count < h->cap) {
		h->ring[(h->head + h->count) % h->cap] = *s;
		h->count++;
	} else {
		h->ring[h->head] = *s;
		h->head          = (h->head + 1) % h->cap;
	}
	nng_mtx_unlock(h->mtx);
}

size_t
tasq_history_copy(tasq_history *h, tasq_history_sample *out, size_t max)
{
	size_t n;

	nng_mtx_lock(h->mtx);
	n = h->count < max ? h->count : max;
	for (size_t i = 0; i < n; i++) {
		out[i] = h->ring[(h->head + h->count - n + i) % h->cap];
	}
	nng_mtx_unlock(h->mtx);
	return (n);
}

size_t
tasq_history_cap(const tasq_history *h)
{
	return (h->cap); // fixed at alloc
}

const char *
tasq_history_field_name(int f)
{
	return (f >= 0 && f < TASQ_HISTORY_NFIELDS ? field_names[f] : NULL);
}

int
tasq_history_json(tasq_history *h, uint64_t interval_ms, FILE *f)
{
	tasq_history_sample *s;
	size_t               n;

	// Copied out first: no formatting with the lock held.
	if ((s = malloc(h->cap * sizeof(*s))) == NULL) {
		return (NNG_ENOMEM);
	}
	n = tasq_history_copy(h, s, h->cap);
	fprintf(f, "{\"interval_ms\":%llu,\"fields\":[",
	    (unsigned long long) interval_ms);
	for (int k = 0; k < TASQ_HISTORY_NFIELDS; k++) {
		fprintf(f, "%s\"%s\"", k ? "," : "", field_names[k]);
	}
	fputs("],\"samples\":[", f);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%s[%llu", i ? "," : "",
		    (unsigned long long) s[i].wall_ms);
		for (int k = 0; k < TASQ_HISTORY_NFIELDS; k++) {
			// Rates with one decimal; no NaN or Inf reach JSON.
			double v = s[i].v[k];
			fprintf(f, ",%.1f",
			    v == v && v < 1e300 && v > -1e300 ? v : 0.0);
		}
		fputc(']', f);
	}
	fputs("]}", f);
	free(s);
	return (0);
}
