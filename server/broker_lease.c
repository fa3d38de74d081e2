// broker_lease: leases (taking ready tasks, ending leases: redelivery
// and dead letters) and the worker registry.
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "broker_state.h"
#include "clock.h"
#include "err.h"

// What dead-lettering the ranges of a lease needs, allocated before
// anything changes so that, once a dead letter is journaled, recording
// it cannot fail (dl_prepare; release with dl_fini).
struct dl_scratch {
	uint64_t     *ids;
	uint32_t     *lens; // zeros: a dead letter's result is empty
	uint8_t      *codes;
	const char  **errs;
	uint8_t      *ebuf;
	char        **owned; // the messages, one per dying task (total)
	struct dead **dead;  // the letters, one per dying task (total)
	size_t        next, total;
};

static void
dl_fini(struct dl_scratch *s)
{
	for (size_t i = s->next; i < s->total; i++) {
		if (s->owned != NULL) {
			free(s->owned[i]);
		}
		if (s->dead != NULL) {
			tasq_broker_dead_free(s->dead[i]);
		}
	}
	free(s->ids);
	free(s->lens);
	free(s->codes);
	free(s->errs);
	free(s->ebuf);
	free(s->owned);
	free(s->dead);
	memset(s, 0, sizeof(*s));
}

uint64_t
tasq_broker_wall_ms(const tasq_broker *b)
{
	return (b->conf.wall_ms != NULL ? b->conf.wall_ms()
	                                : tasq_clock_wall_ms());
}

uint32_t
tasq_broker_max_attempts(const tasq_broker *b, const struct job *j)
{
	return (j->retry.max_attempts != 0 ? j->retry.max_attempts
	                                   : b->conf.max_attempts);
}

static bool
range_dies(const tasq_broker *b, const struct range *r)
{
	return (r->attempt >= tasq_broker_max_attempts(b, r->chunk->job) &&
	    tasq_broker_range_undone(r) > 0);
}

static char *
str_dup(const char *s)
{
	size_t l = strlen(s) + 1;
	char  *p = tasq_alloc(l);

	if (p != NULL) {
		memcpy(p, s, l);
	}
	return (p);
}

struct dead *
tasq_broker_dead_of(tasq_broker *b, const struct chunk *c, uint32_t off,
    uint32_t attempts, uint32_t code, const char *err, const uint8_t *res,
    uint32_t reslen)
{
	tasq_dead_view v;
	struct dead   *d;

	(void) res;
	(void) reslen;
	memset(&v, 0, sizeof(v));
	v.job   = c->job->id;
	v.task  = c->first + off;
	v.queue = c->job->q->name;
	v.type  = c->job->lane->type;
	tasq_broker_task_payload(c, off, &v.payload, &v.len);
	v.attempts = attempts;
	v.code     = code;
	v.error    = err;
	v.time_ms  = tasq_broker_wall_ms(b);
	d          = tasq_broker_dead_new(&v);
	return (d);
}

void
tasq_broker_task_bury(tasq_broker *b, struct chunk *c, uint32_t off,
    const uint8_t *res, uint32_t len, uint32_t code, char *err, struct dead *d,
    tasq_waiter **wake)
{
	tasq_dead_view v;
	bool           ok;

	// Its id is taken now, when nothing can fail any more.
	d->id      = tasq_broker_dead_next_id(b);
	b->dl_next = d->id + 1;
	tasq_broker_dead_view(d, &v);
	// Recorded after the result: a journal failing now loses the
	// letter, never the result.
	(void) tasq_persist_dead(b, &v);
	ok = tasq_broker_task_finish(b, c, off, res, len, code, err, wake);
	assert(ok); // the caller made the room
	(void) ok;
	tasq_broker_dead_add(b, d);
	b->dead[b->dead_n % DEAD_RING][0] = c->job->id;
	b->dead[b->dead_n % DEAD_RING][1] = c->first + off;
	b->dead_n++;
	c->job->q->ndead++;
	tasq_broker_count(b, TASQ_CTR_DEAD_LETTERED, 1);
}

// Prepares the dead letters that ending l (counting the attempt) makes:
// scratch columns for its longest range, the letters and their messages,
// and room for all of them in the result lists of their jobs. Errors:
// NNG_ENOMEM (nothing changed).
static int
dl_prepare(tasq_broker *b, const struct lease *l, struct dl_scratch *s)
{
	size_t len = 0, total = 0, k = 0;
	char   msg[128];

	memset(s, 0, sizeof(*s));
	for (const struct range *r = l->ranges; r != NULL; r = r->next) {
		if (range_dies(b, r)) {
			len = r->len > len ? r->len : len;
			total += tasq_broker_range_undone(r);
		}
	}
	if (len == 0) {
		return (0);
	}
	s->ids   = tasq_alloc(len * sizeof(*s->ids));
	s->lens  = tasq_calloc(len, sizeof(*s->lens));
	s->codes = tasq_alloc(len);
	s->errs  = tasq_alloc(len * sizeof(*s->errs));
	s->owned = tasq_calloc(total, sizeof(*s->owned));
	s->dead  = tasq_calloc(total, sizeof(*s->dead));
	s->total = total;
	if (s->ids == NULL || s->lens == NULL || s->codes == NULL ||
	    s->errs == NULL || s->owned == NULL || s->dead == NULL ||
	    tasq_broker_dead_reserve(b, total) != 0) {
		goto fail;
	}
	for (const struct range *r = l->ranges; r != NULL; r = r->next) {
		if (!range_dies(b, r)) {
			continue;
		}
		snprintf(msg, sizeof(msg),
		    "no result in %" PRIu32 " attempts (lease expired)",
		    r->attempt);
		for (uint32_t i = r->off; i < r->off + r->len; i++) {
			if (tasq_broker_task_done(r->chunk, i)) {
				continue;
			}
			if ((s->owned[k] = str_dup(msg)) == NULL ||
			    (s->dead[k] = tasq_broker_dead_of(b, r->chunk, i,
			         r->attempt, TASQ_EABORTED - TASQ_ERR_BASE,
			         msg, NULL, 0)) == NULL) {
				goto fail;
			}
			k++;
		}
		// Every message of a range is the same.
		if (s->ebuf == NULL) {
			// (2 + a message of msg's size, at most) each
			if ((s->ebuf = tasq_alloc(len * (2 + sizeof(msg)))) ==
			    NULL) {
				goto fail;
			}
		}
	}
	// More room than each job needs (total counts all jobs): harmless.
	for (const struct range *r = l->ranges; r != NULL; r = r->next) {
		if (range_dies(b, r) &&
		    tasq_broker_results_reserve(
		        r->chunk->job, total, 0, true) != 0) {
			goto fail;
		}
	}
	return (0);
fail:
	dl_fini(s);
	return (NNG_ENOMEM);
}

// Gives the unfinished tasks of r an ABORTED result and a dead letter,
// with s prepared by dl_prepare. Returns false when that cannot be
// journaled (the range then goes back to the queue).
static bool
dead_letter(
    tasq_broker *b, struct range *r, struct dl_scratch *s, tasq_waiter **wake)
{
	struct chunk *c    = r->chunk;
	uint32_t      code = TASQ_EABORTED - TASQ_ERR_BASE;
	size_t        n    = 0;

	for (uint32_t i = r->off; i < r->off + r->len; i++) {
		if (!tasq_broker_task_done(c, i)) {
			s->errs[n]    = s->owned[s->next + n];
			s->ids[n]     = c->first + i;
			s->codes[n++] = (uint8_t) code;
		}
	}
	if (tasq_persist_results(b, c->job->id, n, s->ids, s->codes, s->lens,
	        NULL, s->errs, s->ebuf) != 0) {
		// Not journaled: the range's letters are not needed.
		for (size_t k = 0; k < n; k++, s->next++) {
			free(s->owned[s->next]);
			tasq_broker_dead_free(s->dead[s->next]);
			s->owned[s->next] = NULL;
			s->dead[s->next]  = NULL;
		}
		return (false);
	}
	for (size_t k = 0; k < n; k++) {
		uint32_t i = (uint32_t) (s->ids[k] - c->first);
		tasq_broker_task_bury(b, c, i, NULL, 0, code,
		    s->owned[s->next], s->dead[s->next], wake);
		s->owned[s->next] = NULL;
		s->dead[s->next]  = NULL;
		s->next++;
	}
	return (true);
}

// Puts a leased range back: ready again (at the head, it has waited
// longest), dead-lettered past max_attempts, or dropped with its job.
static void
range_return(tasq_broker *b, struct range *r, bool counts,
    struct dl_scratch *s, tasq_waiter **wake)
{
	struct chunk *c      = r->chunk;
	struct queue *q      = c->job->q;
	uint32_t      undone = tasq_broker_range_undone(r);

	if (undone == 0) {
		tasq_broker_chunk_unref(b, c);
		free(r);
		return;
	}
	if (counts && r->attempt >= tasq_broker_max_attempts(b, c->job) &&
	    dead_letter(b, r, s, wake)) {
		tasq_broker_chunk_unref(b, c);
		free(r);
		return;
	}
	if (!counts && r->attempt > 0) {
		r->attempt--;
	}
	r->nb_ms = 0;
	if (counts && r->attempt > 0) {
		// The attempt counted survives a restart. A journal failing
		// now loses the count, never the tasks.
		tasq_tries t = { c->first + r->off, r->len, r->attempt, 0 };
		(void) tasq_persist_tries(b, c->job->id, 1, &t);
	}
	tasq_broker_count(b, TASQ_CTR_REDELIVERED, undone);
	tasq_broker_ready_push(c->job->lane, r, true);
	queue_wake(q, wake);
}

// Ends l. With counts (expiry, lost connection), the attempt counts and
// ranges past max_attempts are dead-lettered: that needs memory, so it
// may fail (NNG_ENOMEM) and then l is left as it was. Without counts, it
// cannot fail.
int
tasq_broker_lease_end(
    tasq_broker *b, struct lease *l, bool counts, tasq_waiter **wake)
{
	struct dl_scratch s;

	memset(&s, 0, sizeof(s));
	if (counts && wake != NULL && dl_prepare(b, l, &s) != 0) {
		return (NNG_ENOMEM);
	}
	tasq_idmap_del(&b->leases, l->id);
	l->q->nleased -= l->ntasks;
	l->lane->nleased -= l->ntasks;
	if (l->w != NULL) {
		l->w->leases--;
		l->w->in_hand -= l->ntasks;
		l->w->ncancel -= l->cancelled;
	}
	while (l->ranges != NULL) {
		struct range *r = l->ranges;
		l->ranges       = r->next;
		if (wake != NULL) {
			range_return(b, r, counts, &s, wake);
		} else {
			tasq_broker_chunk_unref(b, r->chunk);
			free(r);
		}
	}
	free(l);
	dl_fini(&s);
	return (0);
}

// The types as one string: each name and its NUL, then a NUL (legacy:
// "square").
static size_t
types_len(const char *const *types, size_t ntypes)
{
	size_t len = 1;

	for (size_t i = 0; i < ntypes; i++) {
		len += strlen(types[i]) + 1;
	}
	return (ntypes == 0 ? sizeof(TASQ_TYPE_SQUARE) + 1 : len);
}

static bool
types_same(const char *have, const char *const *types, size_t ntypes)
{
	if (have == NULL) {
		return (false);
	}
	if (ntypes == 0) {
		return (strcmp(have, TASQ_TYPE_SQUARE) == 0 &&
		    have[sizeof(TASQ_TYPE_SQUARE)] == '\0');
	}
	for (size_t i = 0; i < ntypes; i++) {
		if (strcmp(have, types[i]) != 0) {
			return (false);
		}
		have += strlen(have) + 1;
	}
	return (*have == '\0');
}

int
tasq_broker_worker_touch(tasq_broker *b, uint64_t id, const char *name,
    const char *queue, const char *const *types, size_t ntypes, uint32_t pipe,
    uint64_t now_ms, struct worker **wp, bool *created)
{
	struct worker *w  = tasq_idmap_get(&b->workers, id);
	char          *ts = NULL;

	*created = false;
	if (w == NULL && b->workers.count >= b->conf.max_workers) {
		return (TASQ_ERESOURCE_EXHAUSTED);
	}
	if (w == NULL || !types_same(w->types, types, ntypes)) {
		char *p;
		if ((ts = p = tasq_alloc(types_len(types, ntypes))) == NULL) {
			return (NNG_ENOMEM);
		}
		for (size_t i = 0; i < ntypes; i++) {
			strcpy(p, types[i]);
			p += strlen(types[i]) + 1;
		}
		if (ntypes == 0) {
			strcpy(p, TASQ_TYPE_SQUARE);
			p += sizeof(TASQ_TYPE_SQUARE);
		}
		*p = '\0';
	}
	if (w == NULL) {
		if ((w = tasq_calloc(1, sizeof(*w))) == NULL) {
			free(ts);
			return (NNG_ENOMEM);
		}
		w->id = id;
		if (tasq_idmap_put(&b->workers, id, w) != 0) {
			free(ts);
			free(w);
			return (NNG_ENOMEM);
		}
		*created = true;
	}
	if (ts != NULL) {
		free(w->types);
		w->types = ts;
	}
	if (name != NULL) {
		strncpy(w->name, name, TASQ_WIRE_MAX_NAME);
	}
	if (queue != NULL) {
		strncpy(w->queue, queue, TASQ_WIRE_MAX_NAME);
	}
	if (pipe != 0) {
		w->pipe      = pipe;
		w->connected = true;
	}
	w->last_ms = now_ms;
	*wp        = w;
	return (0);
}

// Whether w leases from queue: its one queue or one of its several.
static bool
worker_serves(const struct worker *w, const char *queue)
{
	if (w->nqs == 0) {
		return (strcmp(w->queue, queue) == 0);
	}
	for (size_t i = 0; i < w->nqs; i++) {
		if (strcmp(w->qs[i].name, queue) == 0) {
			return (true);
		}
	}
	return (false);
}

int
tasq_broker_worker_queues(
    tasq_broker *b, struct worker *w, const tasq_queue_weight *qs, size_t n)
{
	struct wqueue *nq;
	bool           same = n == w->nqs;

	(void) b;
	for (size_t i = 0; i < n && same; i++) {
		same = strcmp(w->qs[i].name, qs[i].name) == 0;
	}
	if (same) {
		for (size_t i = 0; i < n; i++) {
			w->qs[i].weight = qs[i].weight ? qs[i].weight : 1;
		}
		return (0);
	}
	if (n == 0) {
		free(w->qs);
		w->qs  = NULL;
		w->nqs = 0;
		return (0);
	}
	if ((nq = tasq_calloc(n, sizeof(*nq))) == NULL) {
		return (NNG_ENOMEM);
	}
	// A new list starts everyone at the worker's virtual time.
	for (size_t i = 0; i < n; i++) {
		strncpy(nq[i].name, qs[i].name, TASQ_WIRE_MAX_NAME);
		nq[i].weight = qs[i].weight ? qs[i].weight : 1;
		nq[i].pass   = w->qvtime;
	}
	free(w->qs);
	w->qs  = nq;
	w->nqs = n;
	return (0);
}

uint32_t
tasq_broker_type_workers(
    const tasq_broker *b, const char *queue, const char *type, uint64_t now_ms)
{
	size_t         pos = 0;
	struct worker *w;
	uint32_t       n = 0;

	while (
	    (w = tasq_idmap_next((tasq_idmap *) &b->workers, &pos)) != NULL) {
		bool serves = false;
		if (!w->connected || !worker_serves(w, queue) ||
		    now_ms > w->last_ms + b->conf.lease_ms ||
		    w->types == NULL) {
			continue;
		}
		for (const char *t = w->types; *t != '\0' && !serves;
		     t += strlen(t) + 1) {
			serves = strcmp(t, type) == 0;
		}
		n += serves;
	}
	return (n);
}

uint32_t
tasq_broker_workers_connected(const tasq_broker *b, uint64_t now_ms)
{
	size_t         pos = 0;
	struct worker *w;
	uint32_t       n = 0;

	while (
	    (w = tasq_idmap_next((tasq_idmap *) &b->workers, &pos)) != NULL) {
		n += w->connected && now_ms <= w->last_ms + b->conf.lease_ms;
	}
	return (n);
}

void
tasq_broker_worker_forget(tasq_broker *b, struct worker *w)
{
	tasq_idmap_del(&b->workers, w->id);
	free(w->types);
	free(w->qs);
	free(w);
}

// Adaptive batching (locked): a worker asks for up to max tasks, which
// under load is what it gets (large batches: fewer messages per task).
// When idle workers of the same queue are waiting too, a queue shorter
// than that is shared: the asking worker gets its part of the ready tasks
// (never fewer than LEASE_MIN_SHARE), so that a small job is spread over
// the workers instead of going whole to the first that asks.
#define LEASE_MIN_SHARE 128

static uint32_t
lease_share(tasq_broker *b, const struct lane *ln, const struct worker *self,
    uint32_t max)
{
	uint64_t       nw  = 1, share;
	size_t         pos = 0;
	struct worker *w;

	// A lane of a batch or more goes in whole batches: splitting it
	// would only make more messages.
	if (ln->nready >= max) {
		return (max);
	}
	while ((w = tasq_idmap_next(&b->workers, &pos)) != NULL) {
		nw += w != self && w->connected && w->in_hand == 0 &&
		    worker_serves(w, ln->q->name);
	}
	share = (ln->nready + nw - 1) / nw;
	if (share < LEASE_MIN_SHARE) {
		share = LEASE_MIN_SHARE;
	}
	return (share < max ? (uint32_t) share : max);
}

// Copies the payloads of the unfinished tasks of r into tb (ids at ids,
// bytes at data, lengths at lens for a variable-width chunk); returns the
// bytes copied. A fixed-width run of unfinished tasks is one memcpy.
static size_t
batch_fill(const struct range *r, tasq_task_batch *tb, uint64_t *ids,
    uint8_t *data, uint32_t *lens)
{
	const struct chunk *c = r->chunk;
	size_t              k = 0, size = 0;
	uint32_t            i = r->off, end = r->off + r->len;

	tb->ids            = ids;
	tb->payloads.data  = data;
	tb->payloads.width = c->width;
	tb->payloads.lens  = c->width > 0 ? NULL : lens;
	while (i < end) {
		uint32_t start;
		while (i < end && tasq_broker_task_done(c, i)) {
			i++;
		}
		for (start = i; i < end && !tasq_broker_task_done(c, i); i++) {
			ids[k++] = c->first + i;
		}
		if (i == start) {
			continue;
		}
		if (c->width > 0) {
			size_t len = (size_t) (i - start) * c->width;
			memcpy(data + size,
			    c->data + (size_t) start * c->width, len);
			size += len;
		} else {
			size_t len = c->offs[i] - c->offs[start];
			memcpy(data + size, c->data + c->offs[start], len);
			for (uint32_t t = start; t < i; t++) {
				lens[k - (i - t)] =
				    c->offs[t + 1] - c->offs[t];
			}
			size += len;
		}
	}
	tb->n             = k;
	tb->payloads.size = size;
	return (size);
}

// The payload bytes of the unfinished tasks of r[off, off + take).
static size_t
range_bytes(const struct range *r, uint32_t take)
{
	const struct chunk *c    = r->chunk;
	size_t              size = 0;

	for (uint32_t i = r->off; i < r->off + take; i++) {
		if (!tasq_broker_task_done(c, i)) {
			size += c->width > 0 ? c->width
			                     : c->offs[i + 1] - c->offs[i];
		}
	}
	return (size);
}

// The jobs one lease may take tasks from: the lane's rotation hands out
// a lease job by job, in pass order, each job's ready ranges in order.
#define LEASE_MAX_JOBS 16

int
tasq_broker_lease_take(tasq_broker *b, struct lane *ln, struct worker *wk,
    uint32_t pipe, uint32_t max, bool legacy, uint64_t now_ms,
    tasq_lease_out *out)
{
	struct lease  *l    = NULL;
	struct range  *rest = NULL, *r;
	struct range **tail;
	size_t         nb = 0, ntasks = 0, bytes = 0, nvar = 0;
	bool           split = false;
	char          *mem   = NULL;
	struct job    *pick[LEASE_MAX_JOBS];
	size_t         pnb[LEASE_MAX_JOBS];
	size_t         np = 0;

	max = lease_share(b, ln, wk, max);
	// First count what the lease takes (jobs, ranges, tasks, bytes,
	// whether the last range splits) and allocate for it; only then
	// change anything, so that running out of memory leaves the lane as
	// it was. Jobs come in the order of their passes: each but the last
	// gives all its ready ranges, so that order does not change as they
	// are charged.
	while (ntasks < max && nb < TASQ_WIRE_MAX_BATCHES &&
	    np < LEASE_MAX_JOBS) {
		struct job *j = tasq_broker_lane_pick(ln, pick, np);
		if (j == NULL) {
			break;
		}
		pick[np] = j;
		pnb[np]  = 0;
		r        = j->ready.next;
		while (ntasks < max && r != &j->ready &&
		    nb < TASQ_WIRE_MAX_BATCHES) {
			uint32_t take = 0, undone = 0;
			while (take < r->len && ntasks + undone < max) {
				undone += !tasq_broker_task_done(
				    r->chunk, r->off + take);
				take++;
			}
			split = take < r->len;
			ntasks += undone;
			bytes += range_bytes(r, take);
			nvar += r->chunk->width == 0 ? undone : 0;
			nb++;
			pnb[np]++;
			r = r->next;
		}
		np++;
	}
	if ((l = tasq_calloc(1, sizeof(*l))) == NULL ||
	    (split && (rest = tasq_calloc(1, sizeof(*rest))) == NULL) ||
	    (mem = tasq_alloc(nb * sizeof(tasq_task_batch) +
	         ntasks * sizeof(uint64_t) + nvar * sizeof(uint32_t) + bytes +
	         1)) == NULL ||
	    tasq_idmap_reserve(&b->leases, 1) != 0) {
		free(l);
		free(rest);
		free(mem);
		return (NNG_ENOMEM);
	}
	// Nothing below can fail.
	l->id       = b->lease_next++;
	l->w        = wk;
	l->pipe     = pipe;
	l->q        = ln->q;
	l->lane     = ln;
	l->deadline = now_ms + b->conf.lease_ms;
	l->ntasks   = (uint32_t) ntasks;
	tail        = &l->ranges;
	// The same walk again (the ready lists are as they were), taking
	// now, and charging each job for what it gave.
	for (size_t pi = 0, got = 0; pi < np; pi++) {
		struct job *j    = pick[pi];
		size_t      from = got;
		for (size_t i = 0; i < pnb[pi]; i++) {
			uint32_t take = 0, undone = 0;
			r = j->ready.next;
			while (take < r->len && got + undone < max) {
				undone += !tasq_broker_task_done(
				    r->chunk, r->off + take);
				take++;
			}
			got += undone;
			tasq_broker_ready_unlink(ln, r);
			if (take < r->len) {
				*rest = *r;
				rest->off += take;
				rest->len -= take;
				r->len = take;
				r->chunk->refs++;
				tasq_broker_ready_push(ln, rest, true);
				rest = NULL;
			}
			r->attempt++;
			r->next = NULL;
			*tail   = r;
			tail    = &r->next;
		}
		tasq_broker_lane_charge(ln, j, got - from);
	}
	(void) tasq_idmap_put(&b->leases, l->id, l);
	out->mem_     = mem;
	out->batches  = (void *) mem;
	out->nbatches = nb;
	{
		uint64_t *ids  = (void *) (mem + nb * sizeof(tasq_task_batch));
		uint32_t *lens = (void *) (ids + ntasks);
		uint8_t  *data = (uint8_t *) (lens + nvar);
		size_t    bi   = 0;
		for (r = l->ranges; r != NULL; r = r->next) {
			tasq_task_batch *tb = &out->batches[bi++];
			memset(tb, 0, sizeof(*tb));
			tb->lease_id = l->id;
			tb->job_id   = r->chunk->job->id;
			tb->attempt  = r->attempt;
			tb->type     = ln->type;
			tb->legacy   = legacy;
			data += batch_fill(r, tb, ids, data, lens);
			ids += tb->n;
			if (r->chunk->width == 0) {
				lens += tb->n;
			}
		}
	}
	ln->q->nleased += ntasks;
	ln->nleased += ntasks;
	wk->leases++;
	wk->in_hand += ntasks;
	tasq_broker_count(b, TASQ_CTR_LEASED, ntasks);
	return (0);
}

bool
tasq_broker_lease_finished(const struct lease *l)
{
	for (const struct range *r = l->ranges; r != NULL; r = r->next) {
		for (uint32_t i = r->off; i < r->off + r->len; i++) {
			if (!tasq_broker_task_done(r->chunk, i)) {
				return (false);
			}
		}
	}
	return (true);
}

void
tasq_broker_lease_fini(tasq_lease_out *out)
{
	free(out->mem_);
	out->mem_ = NULL;
}

// The backoff of a task's n-th retry: backoff_ms * 2^(n - 1), at most
// backoff_max_ms (0: 60000).
static uint64_t
backoff_ms(const struct job *j, uint32_t n)
{
	uint64_t cap =
	    j->retry.backoff_max_ms ? j->retry.backoff_max_ms : 60000;
	uint64_t ms = j->retry.backoff_ms;

	for (uint32_t i = 1; i < n && ms < cap; i++) {
		ms *= 2;
	}
	return (ms < cap ? ms : cap);
}

static void
tries_item(tasq_tries_item *it, const struct range *r, uint32_t attempts)
{
	it->job             = r->chunk->job->id;
	it->t.first         = r->chunk->first + r->off;
	it->t.len           = r->len;
	it->t.attempts      = attempts;
	it->t.not_before_ms = r->nb_ms;
}

// Puts d (a task of its own) in its lane at due: at once, or in the
// broker's delayed list, by due time.
static void
delay(tasq_broker *b, struct range *d, uint64_t now_ms, tasq_waiter **wake)
{
	struct lane   *ln = d->chunk->job->lane;
	struct range **pp = &b->delayed;

	if (d->due <= now_ms) {
		tasq_broker_ready_push(ln, d, true);
		queue_wake(ln->q, wake);
		return;
	}
	while (*pp != NULL && (*pp)->due <= d->due) {
		pp = &(*pp)->next;
	}
	d->next = *pp;
	*pp     = d;
	ln->ndelayed += d->len;
}

uint64_t
tasq_broker_retry_not_before(
    const tasq_broker *b, const struct job *j, uint32_t attempt)
{
	return (tasq_broker_wall_ms(b) + backoff_ms(j, attempt));
}

void
tasq_broker_range_delay(tasq_broker *b, struct range *d)
{
	uint64_t now  = tasq_clock_mono_ms();
	uint64_t wall = tasq_broker_wall_ms(b);

	d->due = d->nb_ms > wall ? now + (d->nb_ms - wall) : now;
	delay(b, d, now, NULL);
}

int
tasq_broker_tries_list(tasq_broker *b, tasq_tries_item **items, size_t *n)
{
	size_t           cap = 0, k = 0;
	tasq_tries_item *it = NULL;
	struct lease    *l;
	size_t           pos;

	*items = NULL;
	*n     = 0;
	// Twice the same walk: count, then fill.
	for (int fill = 0; fill < 2; fill++) {
		// Ready ranges are kept per job (the lane's rotation).
		struct job *j;
		pos = 0;
		while ((j = tasq_idmap_next(&b->jobs, &pos)) != NULL) {
			for (struct range *r = j->ready.next; r != &j->ready;
			     r               = r->next) {
				if (r->attempt > 0) {
					if (fill) {
						tries_item(
						    &it[k], r, r->attempt);
					}
					k++;
				}
			}
		}
		for (struct range *r = b->delayed; r != NULL; r = r->next) {
			if (r->attempt > 0) {
				if (fill) {
					tries_item(&it[k], r, r->attempt);
				}
				k++;
			}
		}
		pos = 0;
		while ((l = tasq_idmap_next(&b->leases, &pos)) != NULL) {
			for (struct range *r = l->ranges; r != NULL;
			     r               = r->next) {
				// The lease's own delivery has not ended.
				if (r->attempt > 1) {
					if (fill) {
						tries_item(
						    &it[k], r, r->attempt - 1);
					}
					k++;
				}
			}
		}
		if (!fill) {
			if ((cap = k) == 0) {
				return (0);
			}
			if ((it = tasq_alloc(cap * sizeof(*it))) == NULL) {
				return (NNG_ENOMEM);
			}
			k = 0;
		}
	}
	assert(k == cap);
	*items = it;
	*n     = k;
	return (0);
}

void
tasq_broker_lease_retry(tasq_broker *b, struct lease *l, struct chunk *c,
    uint32_t off, uint64_t now_ms, uint64_t not_before_ms, struct range **r1,
    struct range **r2, tasq_waiter **wake)
{
	struct range **pp = &l->ranges, *r, *d;

	for (; (r = *pp) != NULL; pp = &r->next) {
		if (r->chunk == c && off >= r->off && off < r->off + r->len) {
			break;
		}
	}
	if (r == NULL) {
		return; // the same task twice in one batch
	}
	d   = *r1;
	*r1 = NULL;
	memset(d, 0, sizeof(*d));
	d->chunk   = c;
	d->off     = off;
	d->len     = 1;
	d->attempt = r->attempt;
	d->due     = now_ms + backoff_ms(c->job, r->attempt);
	d->nb_ms   = not_before_ms;
	c->refs++;
	if (r->len == 1) {
		*pp = r->next;
		tasq_broker_range_free(b, r); // d holds the chunk
	} else if (off == r->off) {
		r->off++;
		r->len--;
	} else if (off == r->off + r->len - 1) {
		r->len--;
	} else {
		struct range *t = *r2;
		*r2             = NULL;
		memset(t, 0, sizeof(*t));
		t->chunk   = c;
		t->off     = off + 1;
		t->len     = r->off + r->len - off - 1;
		t->attempt = r->attempt;
		t->next    = r->next;
		c->refs++;
		r->len  = off - r->off;
		r->next = t;
	}
	l->ntasks--;
	l->q->nleased--;
	l->lane->nleased--;
	if (l->w != NULL) {
		l->w->in_hand--;
	}
	delay(b, d, now_ms, wake);
}

void
tasq_broker_delayed_due(tasq_broker *b, uint64_t now_ms, tasq_waiter **wake)
{
	while (b->delayed != NULL && b->delayed->due <= now_ms) {
		struct range *d  = b->delayed;
		struct lane  *ln = d->chunk->job->lane;
		b->delayed       = d->next;
		ln->ndelayed -= d->len;
		tasq_broker_ready_push(ln, d, true);
		queue_wake(ln->q, wake);
	}
}

void
tasq_broker_delayed_drop_job(tasq_broker *b, const struct job *j)
{
	for (struct range **pp = &b->delayed, *d; (d = *pp) != NULL;) {
		if (d->chunk->job == j) {
			*pp = d->next;
			j->lane->ndelayed -= d->len;
			tasq_broker_range_free(b, d);
		} else {
			pp = &d->next;
		}
	}
}
