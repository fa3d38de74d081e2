// broker_dead: the dead letters (tasks given up after their job's last
// attempt) kept for DeadList, DeadPurge and `tasq dead retry`, oldest
// first, at most conf.max_dead (the oldest go first, counted).
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "broker_state.h"
#include "err.h"

// A DeadList reply's payload bytes at most: a listing with payloads
// stops before it would pass this (the client pages on with after_id).
#define DEAD_LIST_BYTES ((size_t) 2 << 20)

void
tasq_broker_dead_free(struct dead *d)
{
	if (d != NULL) {
		free(d->payload);
		free(d->error);
		free(d);
	}
}

struct dead *
tasq_broker_dead_new(const tasq_dead_view *v)
{
	struct dead *d;

	if ((d = tasq_calloc(1, sizeof(*d))) == NULL ||
	    (d->payload = tasq_alloc((size_t) v->len + 1)) == NULL ||
	    (v->error != NULL && v->error[0] != '\0' &&
	        (d->error = tasq_alloc(strlen(v->error) + 1)) == NULL)) {
		tasq_broker_dead_free(d);
		return (NULL);
	}
	d->id   = v->id;
	d->job  = v->job;
	d->task = v->task;
	strncpy(d->queue, v->queue, TASQ_WIRE_MAX_NAME);
	strncpy(d->type, v->type, TASQ_WIRE_MAX_NAME);
	if (v->len > 0) {
		memcpy(d->payload, v->payload, v->len);
	}
	d->len      = v->len;
	d->attempts = v->attempts;
	d->code     = v->code;
	if (d->error != NULL) {
		strcpy(d->error, v->error);
	}
	d->time_ms = v->time_ms;
	return (d);
}

void
tasq_broker_dead_view(const struct dead *d, tasq_dead_view *v)
{
	v->id       = d->id;
	v->job      = d->job;
	v->task     = d->task;
	v->queue    = d->queue;
	v->type     = d->type;
	v->payload  = d->payload;
	v->len      = d->len;
	v->attempts = d->attempts;
	v->code     = d->code;
	v->error    = d->error;
	v->time_ms  = d->time_ms;
}

static uint64_t
max_dead(const tasq_broker *b)
{
	return (b->conf.max_dead ? b->conf.max_dead : 100000);
}

static struct dead **
dl_at(const tasq_broker *b, size_t i)
{
	return (&b->dl[(b->dl_head + i) % b->dl_cap]);
}

int
tasq_broker_dead_reserve(tasq_broker *b, size_t more)
{
	size_t        ncap;
	struct dead **nd;

	if (b->dl_count + more <= b->dl_cap || b->dl_cap >= max_dead(b)) {
		return (0); // room, or the oldest make room at the limit
	}
	ncap = (b->dl_count + more) * 2;
	ncap = ncap < 16 ? 16 : ncap;
	ncap = ncap > max_dead(b) ? (size_t) max_dead(b) : ncap;
	if ((nd = tasq_alloc(ncap * sizeof(*nd))) == NULL) {
		return (NNG_ENOMEM);
	}
	for (size_t i = 0; i < b->dl_count; i++) {
		nd[i] = *dl_at(b, i);
	}
	free(b->dl);
	b->dl      = nd;
	b->dl_cap  = ncap;
	b->dl_head = 0;
	return (0);
}

uint64_t
tasq_broker_dead_next_id(tasq_broker *b)
{
	return (b->dl_next == 0 ? 1 : b->dl_next);
}

void
tasq_broker_dead_add(tasq_broker *b, struct dead *d)
{
	if (d->id >= tasq_broker_dead_next_id(b)) {
		b->dl_next = d->id + 1;
	}
	if (b->dl_count == b->dl_cap) {
		// At --max-dead (reserve made room otherwise): the oldest
		// goes.
		tasq_broker_dead_free(*dl_at(b, 0));
		b->dl_head = (b->dl_head + 1) % b->dl_cap;
		b->dl_count--;
		tasq_broker_count(b, TASQ_CTR_DEAD_DROPPED, 1);
	}
	*dl_at(b, b->dl_count++) = d;
}

static bool
dead_matches(const struct dead *d, const char *queue)
{
	return (
	    queue == NULL || queue[0] == '\0' || strcmp(d->queue, queue) == 0);
}

size_t
tasq_broker_dead_count(const tasq_broker *b)
{
	return (b->dl_count);
}

const struct dead *
tasq_broker_dead_get(const tasq_broker *b, size_t i)
{
	return (*dl_at(b, i));
}

uint64_t
tasq_broker_dead_remove(
    tasq_broker *b, const uint64_t *ids, size_t n, bool all, const char *queue)
{
	size_t   k      = 0;
	uint64_t purged = 0;

	for (size_t i = 0; i < b->dl_count; i++) {
		struct dead *d    = *dl_at(b, i);
		bool         gone = false;
		if (all) {
			gone = dead_matches(d, queue);
		}
		for (size_t x = 0; x < n && !gone; x++) {
			gone = ids[x] == d->id;
		}
		if (gone) {
			tasq_broker_dead_free(d);
			purged++;
		} else {
			*dl_at(b, k++) = d;
		}
	}
	b->dl_count = k;
	return (purged);
}

int
tasq_broker_dead_list_locked(tasq_broker *b, const char *queue,
    uint64_t after_id, uint32_t max, bool payloads, tasq_rep *rep)
{
	size_t            n = 0, bytes = 0, total = 0, names = 0;
	char             *mem;
	tasq_dead_letter *dl;

	memset(rep, 0, sizeof(*rep));
	rep->method = TASQ_M_DEAD_LIST;
	if (max == 0 || max > 1000) {
		max = 1000;
	}
	// First what the reply holds, then one allocation for it.
	for (size_t i = 0; i < b->dl_count; i++) {
		const struct dead *d = *dl_at(b, i);
		if (!dead_matches(d, queue)) {
			continue;
		}
		total++;
		if (d->id <= after_id || n == max) {
			continue;
		}
		if (payloads && n > 0 && bytes + d->len > DEAD_LIST_BYTES) {
			max = (uint32_t) n; // the client pages on
			continue;
		}
		bytes += payloads ? d->len : 0;
		names += 2 * (TASQ_WIRE_MAX_NAME + 1) +
		    (d->error ? strlen(d->error) + 1 : 0);
		n++;
	}
	if ((mem = tasq_calloc(1, n * sizeof(*dl) + names + bytes + 1)) ==
	    NULL) {
		return (NNG_ENOMEM);
	}
	rep->mem_                = mem;
	rep->u.dead_list.letters = dl = (void *) mem;
	rep->u.dead_list.n            = n;
	rep->u.dead_list.total        = total;
	mem += n * sizeof(*dl);
	for (size_t i = 0, k = 0; i < b->dl_count && k < n; i++) {
		const struct dead *d = *dl_at(b, i);
		if (!dead_matches(d, queue) || d->id <= after_id) {
			continue;
		}
		dl[k].id      = d->id;
		dl[k].job_id  = d->job;
		dl[k].task_id = d->task;
		memcpy(mem, d->queue, sizeof(d->queue));
		dl[k].queue = mem;
		mem += sizeof(d->queue);
		memcpy(mem, d->type, sizeof(d->type));
		dl[k].type = mem;
		mem += sizeof(d->type);
		if (d->error != NULL) {
			size_t l = strlen(d->error) + 1;
			memcpy(mem, d->error, l);
			dl[k].error = mem;
			mem += l;
		}
		dl[k].payload_len = d->len;
		if (payloads) {
			memcpy(mem, d->payload, d->len);
			dl[k].payload      = (const uint8_t *) mem;
			dl[k].payload_size = d->len;
			mem += d->len;
		}
		dl[k].attempts = d->attempts;
		dl[k].code     = d->code;
		dl[k].time_ms  = d->time_ms;
		k++;
	}
	return (0);
}

void
tasq_broker_dead_fini(tasq_broker *b)
{
	for (size_t i = 0; i < b->dl_count; i++) {
		tasq_broker_dead_free(*dl_at(b, i));
	}
	free(b->dl);
	b->dl       = NULL;
	b->dl_count = 0;
	b->dl_cap   = 0;
}
