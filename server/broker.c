#include "broker.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "alloc.h"
#include "broker_int.h"
#include "err.h"

static const char *const counter_names[] = {
#define TASQ_CTR_NAME(id, name, help) name,
	TASQ_COUNTER_MAP(TASQ_CTR_NAME)
#undef TASQ_CTR_NAME
};

static const char *const counter_helps[] = {
#define TASQ_CTR_HELP(id, name, help) help,
	TASQ_COUNTER_MAP(TASQ_CTR_HELP)
#undef TASQ_CTR_HELP
};

const char *
tasq_broker_counter_help(int counter)
{
	return (counter >= 0 && counter < TASQ_CTR_COUNT
	        ? counter_helps[counter]
	        : NULL);
}

// ---- waiters -------------------------------------------------------------

static void
wlist_init(struct wlist *l)
{
	l->head.next = l->head.prev = &l->head;
}

static void
wlist_park(struct wlist *l, tasq_waiter *w)
{
	w->woken      = false;
	w->list       = l;
	w->prev       = l->head.prev;
	w->next       = &l->head;
	w->prev->next = w;
	l->head.prev  = w;
}

static void
waiter_unlink(tasq_waiter *w)
{
	w->prev->next = w->next;
	w->next->prev = w->prev;
	w->next = w->prev = NULL;
	w->list           = NULL;
}

// Moves every waiter of l to the wake list (a singly linked chain through
// next, woken after the lock is dropped).
static void
wlist_take(struct wlist *l, tasq_waiter **wake)
{
	if (wake == NULL) {
		return; // recovering: nobody waits yet
	}
	while (l->head.next != &l->head) {
		tasq_waiter *w = l->head.next;
		waiter_unlink(w);
		w->woken = true;
		w->next  = *wake;
		*wake    = w;
	}
}

static void
wake_all(tasq_broker *b, tasq_waiter *wake)
{
	while (wake != NULL) {
		tasq_waiter *w = wake;
		wake           = w->next;
		w->next        = NULL;
		b->wake(w);
	}
}

bool
tasq_broker_unpark(tasq_broker *b, tasq_waiter *w)
{
	bool woken;

	nng_mtx_lock(b->mtx);
	if (w->list != NULL) {
		waiter_unlink(w);
	}
	woken    = w->woken;
	w->woken = false;
	nng_mtx_unlock(b->mtx);
	return (woken);
}

// ---- counters ------------------------------------------------------------

bool
tasq_broker_journal_failed(tasq_broker *b)
{
	// b->journal is set once, by recovery, before serving starts.
	return (b->journal != NULL && tasq_journal_failed(b->journal));
}

void
tasq_broker_count(tasq_broker *b, int counter, uint64_t n)
{
	atomic_fetch_add(&b->counters[counter], n);
}

uint64_t
tasq_broker_counter(tasq_broker *b, int counter)
{
	return (atomic_load(&b->counters[counter]));
}

// ---- allocation ----------------------------------------------------------

int
tasq_broker_alloc(
    tasq_broker **bp, const tasq_broker_conf *conf, tasq_wake_cb wake)
{
	tasq_broker *b;
	int          rv;

	if ((b = tasq_calloc(1, sizeof(*b))) == NULL) {
		return (NNG_ENOMEM);
	}
	if ((rv = nng_mtx_alloc(&b->mtx)) != 0) {
		free(b);
		return (rv);
	}
	b->conf = *conf;
	if (b->conf.queue_idle_ms == 0) {
		b->conf.queue_idle_ms = 60000;
	}
	b->wake = wake;
	tasq_idmap_init(&b->jobs);
	tasq_idmap_init(&b->leases);
	tasq_idmap_init(&b->workers);
	for (int i = 0; i < TASQ_CTR_COUNT; i++) {
		atomic_init(&b->counters[i], 0);
	}
	b->lease_next = 1;
	*bp           = b;
	return (0);
}

static void chunk_unref(tasq_broker *b, struct chunk *c);

static void
job_free(struct job *j)
{
	free(j->chunks);
	free(j->ivals);
	free(j->r_ids);
	free(j->r_vals);
	free(j->r_codes);
	free(j->d_ids);
	free(j->d_vals);
	free(j->d_codes);
	free(j);
}

void
tasq_broker_free(tasq_broker *b)
{
	size_t pos;
	void  *v;

	if (b == NULL) {
		return;
	}
	pos = 0;
	while ((v = tasq_idmap_next(&b->leases, &pos)) != NULL) {
		struct lease *l = v;
		while (l->ranges != NULL) {
			struct range *r = l->ranges;
			l->ranges       = r->next;
			free(r);
		}
		free(l);
	}
	for (size_t i = 0; i < b->nqueues; i++) {
		struct queue *q = b->queues[i];
		while (q->ready.next != &q->ready) {
			struct range *r = q->ready.next;
			q->ready.next   = r->next;
			free(r);
		}
		free(q);
	}
	// Chunks are reachable from their jobs; closed jobs still alive
	// hold their chunks too, but only until their leases end, and all
	// leases were freed above, so walk live jobs only.
	pos = 0;
	while ((v = tasq_idmap_next(&b->jobs, &pos)) != NULL) {
		struct job *j = v;
		for (size_t i = 0; i < j->nchunks; i++) {
			free(j->chunks[i]->values);
			free(j->chunks[i]->done);
			free(j->chunks[i]);
		}
		job_free(j);
	}
	pos = 0;
	while ((v = tasq_idmap_next(&b->workers, &pos)) != NULL) {
		free(v);
	}
	tasq_idmap_fini(&b->jobs);
	tasq_idmap_fini(&b->leases);
	tasq_idmap_fini(&b->workers);
	free(b->queues);
	nng_mtx_free(b->mtx);
	free(b);
}

// ---- queues, jobs, chunks --------------------------------------------------

static struct queue *
queue_find(tasq_broker *b, const char *name)
{
	for (size_t i = 0; i < b->nqueues; i++) {
		if (strcmp(b->queues[i]->name, name) == 0) {
			return (b->queues[i]);
		}
	}
	return (NULL);
}

int
tasq_broker_queue_get(
    tasq_broker *b, const char *name, struct queue **qp, bool *created)
{
	struct queue *q;

	*created = false;
	if ((*qp = queue_find(b, name)) != NULL) {
		return (0);
	}
	// Replaying a journal may meet more queues than the limit: queues
	// that were removed since. The excess goes at the end of recovery.
	if (b->nqueues >= b->conf.max_queues && !b->recovering) {
		return (TASQ_ERESOURCE_EXHAUSTED);
	}
	if (b->nqueues == b->capqueues) {
		size_t         ncap = b->capqueues ? b->capqueues * 2 : 8;
		struct queue **nq =
		    tasq_realloc(b->queues, ncap * sizeof(*nq));
		if (nq == NULL) {
			return (NNG_ENOMEM);
		}
		b->queues    = nq;
		b->capqueues = ncap;
	}
	if ((q = tasq_calloc(1, sizeof(*q))) == NULL) {
		return (NNG_ENOMEM);
	}
	strncpy(q->name, name, TASQ_WIRE_MAX_NAME);
	q->ready.next = q->ready.prev = &q->ready;
	wlist_init(&q->waiters);
	b->queues[b->nqueues++] = q;
	*qp                     = q;
	*created                = true;
	return (0);
}

static bool
queue_unused(const struct queue *q)
{
	return (q->njobs == 0 && q->nready == 0 && q->nleased == 0 &&
	    q->nresults == 0 && q->ready.next == &q->ready &&
	    q->waiters.head.next == &q->waiters.head);
}

// Removes q, which must be unused (nothing points to it then: jobs,
// ranges, leases and waiters all count in queue_unused).
static void
queue_remove(tasq_broker *b, struct queue *q)
{
	for (size_t i = 0; i < b->nqueues; i++) {
		if (b->queues[i] == q) {
			memmove(&b->queues[i], &b->queues[i + 1],
			    (b->nqueues - i - 1) * sizeof(*b->queues));
			b->nqueues--;
			break;
		}
	}
	free(q);
}

// Queues are not journaled: each exists because a job, a worker or a
// result refers to it, and recovery makes it again from those. So one
// that nothing uses can go at any time, in memory only, and comes back
// when a submit or a lease names it.
void
tasq_broker_queue_gc(tasq_broker *b, uint64_t now_ms, bool force)
{
	for (size_t i = b->nqueues; i > 0; i--) {
		struct queue *q = b->queues[i - 1];
		if (queue_unused(q) &&
		    (force || now_ms >= q->last_ms + b->conf.queue_idle_ms)) {
			queue_remove(b, q);
		}
	}
}

bool
tasq_broker_task_done(const struct chunk *c, uint32_t off)
{
	return (c->job->closed || (c->done[off / 64] >> (off % 64)) & 1);
}

static void
ready_push(struct queue *q, struct range *r, bool front)
{
	struct range *at = front ? &q->ready : q->ready.prev;
	r->prev          = at;
	r->next          = at->next;
	at->next->prev   = r;
	at->next         = r;
	q->nready += r->len;
}

static void
ready_unlink(struct queue *q, struct range *r)
{
	r->prev->next = r->next;
	r->next->prev = r->prev;
	q->nready -= r->len;
}

static size_t
chunk_index(const struct job *j, uint64_t id, bool *found)
{
	size_t lo = 0, hi = j->nchunks;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (j->chunks[mid]->first <= id) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	// lo is the first chunk with first > id
	*found =
	    lo > 0 && id - j->chunks[lo - 1]->first < j->chunks[lo - 1]->n;
	return (lo);
}

struct chunk *
tasq_broker_chunk_of(const struct job *j, uint64_t id)
{
	bool   found;
	size_t i = chunk_index(j, id, &found);
	return (found ? j->chunks[i - 1] : NULL);
}

static void
job_forget(tasq_broker *b, struct job *j)
{
	// The job leaves the map once closed and chunkless; lookups by id
	// then fail, which is what a closed job should do.
	tasq_idmap_del(&b->jobs, j->id);
	job_free(j);
}

static void
chunk_free(tasq_broker *b, struct chunk *c)
{
	struct job *j = c->job;
	bool        found;
	size_t      i = chunk_index(j, c->first, &found);

	if (found && j->chunks[i - 1] == c) {
		memmove(&j->chunks[i - 1], &j->chunks[i],
		    (j->nchunks - i) * sizeof(*j->chunks));
		j->nchunks--;
	}
	b->held -= c->remaining;
	free(c->values);
	free(c->done);
	free(c);
	if (j->closed && j->nchunks == 0) {
		job_forget(b, j);
	}
}

static void
chunk_unref(tasq_broker *b, struct chunk *c)
{
	if (--c->refs == 0 && (c->remaining == 0 || c->job->closed)) {
		chunk_free(b, c);
	}
}

int
tasq_broker_results_reserve(struct job *j, size_t more)
{
	size_t    ncap;
	uint64_t *ids;
	int64_t  *vals;
	uint32_t *codes;

	if (j->r_head + j->r_len + more <= j->r_cap) {
		return (0);
	}
	// Slide the undelivered results to the front before growing.
	if (j->r_head > 0) {
		memmove(j->r_ids, j->r_ids + j->r_head,
		    j->r_len * sizeof(*j->r_ids));
		memmove(j->r_vals, j->r_vals + j->r_head,
		    j->r_len * sizeof(*j->r_vals));
		memmove(j->r_codes, j->r_codes + j->r_head,
		    j->r_len * sizeof(*j->r_codes));
		j->r_head = 0;
		// Keep room for half as many again, so that sliding costs
		// amortised O(1) per result.
		if (j->r_len + more + j->r_len / 2 <= j->r_cap) {
			return (0);
		}
	}
	ncap = (j->r_len + more) * 2;
	if ((ids = tasq_realloc(j->r_ids, ncap * sizeof(*ids))) == NULL) {
		return (NNG_ENOMEM);
	}
	j->r_ids = ids;
	if ((vals = tasq_realloc(j->r_vals, ncap * sizeof(*vals))) == NULL) {
		return (NNG_ENOMEM);
	}
	j->r_vals = vals;
	if ((codes = tasq_realloc(j->r_codes, ncap * sizeof(*codes))) ==
	    NULL) {
		return (NNG_ENOMEM);
	}
	j->r_codes = codes;
	j->r_cap   = ncap;
	return (0);
}

// Records the first result of task off in c. Returns false if the result
// could not be stored (out of memory): the task then stays undone and
// will be redelivered.
bool
tasq_broker_task_finish(tasq_broker *b, struct chunk *c, uint32_t off,
    int64_t value, uint32_t code, tasq_waiter **wake)
{
	struct job *j = c->job;
	size_t      at;

	if (tasq_broker_results_reserve(j, 1) != 0) {
		return (false);
	}
	c->done[off / 64] |= 1ULL << (off % 64);
	c->remaining--;
	at             = j->r_head + j->r_len++;
	j->r_ids[at]   = c->first + off;
	j->r_vals[at]  = value;
	j->r_codes[at] = code;
	j->completed++;
	// The task moves from the chunk to the result list: held is
	// unchanged until the client acknowledges the result.
	j->q->nresults++;
	j->q->completed++;
	tasq_broker_count(b, TASQ_CTR_COMPLETED, 1);
	if (code != 0) {
		tasq_broker_count(b, TASQ_CTR_FAILED, 1);
	}
	wlist_take(&j->waiters, wake);
	return (true);
}

// What dead-lettering the ranges of a lease needs, allocated before
// anything changes so that, once a dead letter is journaled, recording
// it cannot fail (dl_prepare; release with dl_fini).
struct dl_scratch {
	uint64_t *ids;
	int64_t  *vals; // zeros
	uint8_t  *codes;
};

static void
dl_fini(struct dl_scratch *s)
{
	free(s->ids);
	free(s->vals);
	free(s->codes);
	memset(s, 0, sizeof(*s));
}

static uint32_t
range_undone(const struct range *r)
{
	uint32_t undone = 0;

	if (!r->chunk->job->closed) {
		for (uint32_t i = r->off; i < r->off + r->len; i++) {
			undone += !tasq_broker_task_done(r->chunk, i);
		}
	}
	return (undone);
}

static bool
range_dies(const tasq_broker *b, const struct range *r)
{
	return (r->attempt >= b->conf.max_attempts && range_undone(r) > 0);
}

// Prepares the dead letters that ending l (counting the attempt) makes:
// scratch columns for its longest range and room for all of them in the
// result lists of their jobs. Errors: NNG_ENOMEM (nothing changed).
static int
dl_prepare(tasq_broker *b, const struct lease *l, struct dl_scratch *s)
{
	size_t len = 0, total = 0;

	memset(s, 0, sizeof(*s));
	for (const struct range *r = l->ranges; r != NULL; r = r->next) {
		if (range_dies(b, r)) {
			len = r->len > len ? r->len : len;
			total += range_undone(r);
		}
	}
	if (len == 0) {
		return (0);
	}
	s->ids   = tasq_alloc(len * sizeof(*s->ids));
	s->vals  = tasq_calloc(len, sizeof(*s->vals));
	s->codes = tasq_alloc(len);
	if (s->ids == NULL || s->vals == NULL || s->codes == NULL) {
		dl_fini(s);
		return (NNG_ENOMEM);
	}
	// More room than each job needs (total counts all jobs): harmless.
	for (const struct range *r = l->ranges; r != NULL; r = r->next) {
		if (range_dies(b, r) &&
		    tasq_broker_results_reserve(r->chunk->job, total) != 0) {
			dl_fini(s);
			return (NNG_ENOMEM);
		}
	}
	return (0);
}

// Gives the unfinished tasks of r an ABORTED result, with s prepared by
// dl_prepare. Returns false when that cannot be journaled (the range then
// goes back to the queue).
static bool
dead_letter(
    tasq_broker *b, struct range *r, struct dl_scratch *s, tasq_waiter **wake)
{
	struct chunk *c    = r->chunk;
	uint32_t      code = TASQ_EABORTED - TASQ_ERR_BASE;
	size_t        n    = 0;

	for (uint32_t i = r->off; i < r->off + r->len; i++) {
		if (!tasq_broker_task_done(c, i)) {
			s->ids[n]     = c->first + i;
			s->codes[n++] = (uint8_t) code;
		}
	}
	if (tasq_persist_results(
	        b, c->job->id, n, s->ids, s->vals, s->codes) != 0) {
		return (false);
	}
	for (size_t k = 0; k < n; k++) {
		uint32_t i  = (uint32_t) (s->ids[k] - c->first);
		bool     ok = tasq_broker_task_finish(b, c, i, 0, code, wake);
		// dl_prepare made the room.
		assert(ok);
		(void) ok;
		b->dead[b->dead_n % DEAD_RING][0] = c->job->id;
		b->dead[b->dead_n % DEAD_RING][1] = s->ids[k];
		b->dead_n++;
		c->job->q->ndead++;
		tasq_broker_count(b, TASQ_CTR_DEAD_LETTERED, 1);
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
	uint32_t      undone = range_undone(r);

	if (undone == 0) {
		chunk_unref(b, c);
		free(r);
		return;
	}
	if (counts && r->attempt >= b->conf.max_attempts &&
	    dead_letter(b, r, s, wake)) {
		chunk_unref(b, c);
		free(r);
		return;
	}
	if (!counts && r->attempt > 0) {
		r->attempt--;
	}
	tasq_broker_count(b, TASQ_CTR_REDELIVERED, undone);
	ready_push(q, r, true);
	wlist_take(&q->waiters, wake);
}

// Ends l. With counts (expiry, lost connection), the attempt counts and
// ranges past max_attempts are dead-lettered: that needs memory, so it
// may fail (NNG_ENOMEM) and then l is left as it was. Without counts, it
// cannot fail.
static int
lease_end(tasq_broker *b, struct lease *l, bool counts, tasq_waiter **wake)
{
	struct dl_scratch s;

	memset(&s, 0, sizeof(s));
	if (counts && wake != NULL && dl_prepare(b, l, &s) != 0) {
		return (NNG_ENOMEM);
	}
	tasq_idmap_del(&b->leases, l->id);
	l->q->nleased -= l->ntasks;
	if (l->w != NULL) {
		l->w->leases--;
		l->w->in_hand -= l->ntasks;
	}
	while (l->ranges != NULL) {
		struct range *r = l->ranges;
		l->ranges       = r->next;
		if (wake != NULL) {
			range_return(b, r, counts, &s, wake);
		} else {
			chunk_unref(b, r->chunk);
			free(r);
		}
	}
	free(l);
	dl_fini(&s);
	return (0);
}

// Finds or registers worker id (*created) and notes that it was seen.
// Errors: TASQ_ERESOURCE_EXHAUSTED (max_workers), NNG_ENOMEM.
static int
worker_touch(tasq_broker *b, uint64_t id, const char *name, const char *queue,
    uint32_t pipe, uint64_t now_ms, struct worker **wp, bool *created)
{
	struct worker *w = tasq_idmap_get(&b->workers, id);

	*created = false;
	if (w == NULL) {
		if (b->workers.count >= b->conf.max_workers) {
			return (TASQ_ERESOURCE_EXHAUSTED);
		}
		if ((w = tasq_calloc(1, sizeof(*w))) == NULL) {
			return (NNG_ENOMEM);
		}
		w->id = id;
		if (tasq_idmap_put(&b->workers, id, w) != 0) {
			free(w);
			return (NNG_ENOMEM);
		}
		*created = true;
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

static void
worker_forget(tasq_broker *b, struct worker *w)
{
	tasq_idmap_del(&b->workers, w->id);
	free(w);
}

// ---- submit ----------------------------------------------------------------

// The batches a job was given, sorted by first id and never merged: a
// batch is a duplicate only if the very same [lo, hi) came before.
static size_t
ivals_find(const struct job *j, uint64_t id)
{
	size_t lo = 0, hi = j->nivals;

	while (lo < hi) { // first interval with lo > id
		size_t mid = (lo + hi) / 2;
		if (j->ivals[mid].lo <= id) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return (lo);
}

// Returns 1 if [lo,hi) is exactly an earlier batch, -1 if it overlaps
// one, 0 if it is new.
static int
ivals_check(const struct job *j, uint64_t lo, uint64_t hi)
{
	size_t i = ivals_find(j, lo);

	if (i > 0) {
		const struct ival *v = &j->ivals[i - 1];
		if (v->lo == lo && v->hi == hi) {
			return (1);
		}
		if (v->hi > lo) {
			return (-1);
		}
	}
	if (i < j->nivals && j->ivals[i].lo < hi) {
		return (-1);
	}
	return (0);
}

// Whether id belongs to a batch of the job.
static bool
ivals_contains(const struct job *j, uint64_t id)
{
	size_t i = ivals_find(j, id);
	return (i > 0 && id < j->ivals[i - 1].hi);
}

static int
ivals_reserve(struct job *j)
{
	if (j->nivals == j->capivals) {
		size_t       ncap = j->capivals ? j->capivals * 2 : 4;
		struct ival *nv   = tasq_realloc(j->ivals, ncap * sizeof(*nv));
		if (nv == NULL) {
			return (NNG_ENOMEM);
		}
		j->ivals    = nv;
		j->capivals = ncap;
	}
	return (0);
}

// With room reserved: cannot fail.
static void
ivals_insert(struct job *j, uint64_t lo, uint64_t hi)
{
	size_t i = ivals_find(j, lo);

	memmove(&j->ivals[i + 1], &j->ivals[i],
	    (j->nivals - i) * sizeof(*j->ivals));
	j->ivals[i].lo = lo;
	j->ivals[i].hi = hi;
	j->nivals++;
}

int
tasq_broker_ivals_add(struct job *j, uint64_t lo, uint64_t hi)
{
	int rv;

	if ((rv = ivals_reserve(j)) != 0) {
		return (rv);
	}
	ivals_insert(j, lo, hi);
	return (0);
}

int
tasq_broker_job_create(tasq_broker *b, uint64_t id, struct queue *q,
    uint64_t now_ms, struct job **jp)
{
	struct job *j;

	if (b->jobs.count >= b->conf.max_jobs && !b->recovering) {
		return (TASQ_ERESOURCE_EXHAUSTED);
	}
	if ((j = tasq_calloc(1, sizeof(*j))) == NULL) {
		return (NNG_ENOMEM);
	}
	j->id       = id;
	j->q        = q;
	j->seq_next = b->conf.seq_base + 1;
	j->last_ms  = now_ms;
	wlist_init(&j->waiters);
	if (tasq_idmap_put(&b->jobs, id, j) != 0) {
		free(j);
		return (NNG_ENOMEM);
	}
	q->njobs++;
	*jp = j;
	return (0);
}

// Undoes tasq_broker_job_create of a job still without chunks.
static void
job_unmake(tasq_broker *b, struct job *j)
{
	j->q->njobs--;
	tasq_idmap_del(&b->jobs, j->id);
	job_free(j);
}

// A chunk and its first range, allocated before a submit is journaled
// (chunk_prepare), so that adding them afterwards (chunk_commit) cannot
// fail. chunk_prep_fini frees what was not committed.
struct chunk_prep {
	struct chunk *c;
	struct range *r;
};

static void
chunk_prep_fini(struct chunk_prep *p)
{
	if (p->c != NULL) {
		free(p->c->values);
		free(p->c->done);
		free(p->c);
	}
	free(p->r);
	p->c = NULL;
	p->r = NULL;
}

static int
chunk_prepare(struct job *j, size_t n, struct chunk_prep *p)
{
	size_t words = (n + 63) / 64;

	p->c = NULL;
	p->r = NULL;
	if ((p->c = tasq_calloc(1, sizeof(*p->c))) == NULL ||
	    (p->c->values = tasq_alloc(n * sizeof(int64_t))) == NULL ||
	    (p->c->done = tasq_calloc(words, sizeof(uint64_t))) == NULL ||
	    (p->r = tasq_calloc(1, sizeof(*p->r))) == NULL) {
		goto fail;
	}
	if (j->nchunks == j->capchunks) {
		size_t         ncap = j->capchunks ? j->capchunks * 2 : 8;
		struct chunk **nc =
		    tasq_realloc(j->chunks, ncap * sizeof(*nc));
		if (nc == NULL) {
			goto fail;
		}
		j->chunks    = nc;
		j->capchunks = ncap;
	}
	return (0);
fail:
	chunk_prep_fini(p);
	return (NNG_ENOMEM);
}

static void
chunk_commit(tasq_broker *b, struct job *j, struct chunk_prep *p,
    uint64_t first, size_t n, const int64_t *values, const uint64_t *done)
{
	struct chunk *c = p->c;
	struct range *r = p->r;
	bool          found;
	size_t        at, words = (n + 63) / 64;
	uint32_t      undone = (uint32_t) n;

	memcpy(c->values, values, n * sizeof(*values));
	if (done != NULL) {
		memcpy(c->done, done, words * sizeof(uint64_t));
		if (n % 64 != 0) {
			c->done[words - 1] &= (1ULL << (n % 64)) - 1;
		}
		for (size_t i = 0; i < words; i++) {
			undone -= (uint32_t) __builtin_popcountll(c->done[i]);
		}
	}
	c->job       = j;
	c->first     = first;
	c->n         = (uint32_t) n;
	c->remaining = undone;
	c->refs      = 1;
	at           = chunk_index(j, first, &found);
	memmove(&j->chunks[at + 1], &j->chunks[at],
	    (j->nchunks - at) * sizeof(*j->chunks));
	j->chunks[at] = c;
	j->nchunks++;
	r->chunk = c;
	r->off   = 0;
	r->len   = (uint32_t) n;
	ready_push(j->q, r, false);
	b->held += undone;
	p->c = NULL;
	p->r = NULL;
}

int
tasq_broker_chunk_add(tasq_broker *b, struct job *j, uint64_t first, size_t n,
    const int64_t *values, const uint64_t *done)
{
	struct chunk_prep p;
	int               rv;

	if ((rv = chunk_prepare(j, n, &p)) != 0) {
		return (rv);
	}
	chunk_commit(b, j, &p, first, n, values, done);
	return (0);
}

// The body of a submit, with the lock held; also replays SUBMIT records.
// All or nothing: everything it needs is allocated before the batch is
// journaled, and a refusal undoes the queue and job it made for it, so
// that the retry of a refused batch is not taken for a duplicate.
int
tasq_broker_submit_locked(tasq_broker *b, const char *queue, uint64_t job_id,
    uint64_t first, size_t n, const int64_t *values, uint64_t now_ms,
    uint32_t *accepted, bool *dup, const char **why, tasq_waiter **wake)
{
	struct queue     *q     = NULL;
	struct job       *j     = NULL;
	bool              new_q = false, new_j = false;
	struct chunk_prep cp = { NULL, NULL };
	int               rv;

	*accepted = 0;
	*dup      = false;
	if (n == 0 || (n > b->conf.max_batch && !b->recovering)) {
		*why = "batch is empty or larger than the server's max-batch";
		return (TASQ_EINVALID_ARGUMENT);
	}
	j = tasq_idmap_get(&b->jobs, job_id);
	if (j != NULL && j->closed) {
		*why = "job was closed";
		return (TASQ_EFAILED_PRECONDITION);
	}
	if (j != NULL && strcmp(j->q->name, queue) != 0) {
		*why = "job belongs to another queue";
		return (TASQ_EINVALID_ARGUMENT);
	}
	if (j != NULL) {
		int k      = ivals_check(j, first, first + n);
		j->last_ms = now_ms;
		if (k > 0) {
			*dup = true;
			tasq_broker_count(b, TASQ_CTR_DUPLICATE_SUBMITS, 1);
			return (0);
		}
		if (k < 0) {
			*why = "batch overlaps part of an earlier batch";
			return (TASQ_EINVALID_ARGUMENT);
		}
	}
	if (n > b->conf.max_tasks && !b->recovering) {
		*why = "batch is larger than the server's max-tasks; use a "
		       "smaller --batch-size";
		return (TASQ_EINVALID_ARGUMENT);
	}
	if (b->held + n > b->conf.max_tasks && !b->recovering) {
		*why = "server holds max-tasks tasks; retry later";
		tasq_broker_count(b, TASQ_CTR_RESOURCE_EXHAUSTED, 1);
		return (TASQ_ERESOURCE_EXHAUSTED);
	}
	if (j != NULL) {
		q = j->q;
	} else if ((rv = tasq_broker_queue_get(b, queue, &q, &new_q)) != 0) {
		if (rv == TASQ_ERESOURCE_EXHAUSTED) {
			// Permanent for this client: it cannot choose
			// another queue, and waiting helps only if another
			// queue happens to go idle (docs/PROTOCOL.md 12).
			*why = "too many queues (the server's --max-queues); "
			       "use an existing queue";
			tasq_broker_count(b, TASQ_CTR_RESOURCE_EXHAUSTED, 1);
			return (TASQ_EFAILED_PRECONDITION);
		}
		goto nomem;
	}
	if (j == NULL) {
		if ((rv = tasq_broker_job_create(b, job_id, q, now_ms, &j)) ==
		    TASQ_ERESOURCE_EXHAUSTED) {
			*why = "too many jobs; retry later";
			tasq_broker_count(b, TASQ_CTR_RESOURCE_EXHAUSTED, 1);
			goto fail;
		}
		if (rv != 0) {
			goto nomem;
		}
		new_j = true;
	}
	if ((rv = ivals_reserve(j)) != 0 ||
	    (rv = chunk_prepare(j, n, &cp)) != 0) {
		goto nomem;
	}
	if ((rv = tasq_persist_submit(b, q->name, job_id, first, n, values)) !=
	    0) {
		*why = "the journal cannot be written (disk full or I/O "
		       "error); retry later";
		goto fail;
	}
	// Nothing below can fail.
	ivals_insert(j, first, first + n);
	chunk_commit(b, j, &cp, first, n, values, NULL);
	j->submitted += n;
	q->submitted += n;
	q->last_ms = now_ms;
	*accepted  = (uint32_t) n;
	tasq_broker_count(b, TASQ_CTR_SUBMITTED, n);
	wlist_take(&q->waiters, wake);
	return (0);
nomem:
	*why = "out of memory; retry later";
	rv   = NNG_ENOMEM;
fail:
	chunk_prep_fini(&cp);
	if (new_j) {
		job_unmake(b, j);
	}
	if (new_q) {
		queue_remove(b, q);
	}
	return (rv);
}

int
tasq_broker_submit(tasq_broker *b, const char *queue, uint64_t job_id,
    uint64_t first, size_t n, const int64_t *values, uint64_t now_ms,
    uint32_t *accepted, bool *dup, const char **why)
{
	tasq_waiter *wake = NULL;
	int          rv;

	nng_mtx_lock(b->mtx);
	rv = tasq_broker_submit_locked(b, queue, job_id, first, n, values,
	    now_ms, accepted, dup, why, &wake);
	nng_mtx_unlock(b->mtx);
	wake_all(b, wake);
	return (rv);
}

void
tasq_broker_ready_normalize(tasq_broker *b)
{
	for (size_t qi = 0; qi < b->nqueues; qi++) {
		struct queue *q   = b->queues[qi];
		struct range  old = q->ready;
		struct range *r, *nr;

		if (q->ready.next == &q->ready) {
			continue;
		}
		// Detach the list, then put back one range per run of
		// unfinished tasks.
		old.next->prev = &old;
		old.prev->next = &old;
		q->ready.next = q->ready.prev = &q->ready;
		q->nready                     = 0;
		for (r = old.next; r != &old; r = nr) {
			struct chunk *c = r->chunk;
			uint32_t      i = r->off, end = r->off + r->len;
			nr = r->next;
			while (i < end) {
				while (
				    i < end && tasq_broker_task_done(c, i)) {
					i++;
				}
				uint32_t start = i;
				while (
				    i < end && !tasq_broker_task_done(c, i)) {
					i++;
				}
				if (i > start) {
					struct range *run =
					    tasq_calloc(1, sizeof(*run));
					if (run == NULL) {
						// Keep the whole range
						// instead.
						start      = r->off;
						i          = end;
						run        = r;
						r          = NULL;
						run->chunk = c;
						run->off   = start;
						run->len   = end - start;
						ready_push(q, run, false);
						break;
					}
					run->chunk   = c;
					run->off     = start;
					run->len     = i - start;
					run->attempt = r->attempt;
					c->refs++;
					ready_push(q, run, false);
				}
			}
			if (r != NULL) {
				chunk_unref(b, c);
				free(r);
			}
		}
	}
}

void
tasq_broker_results_drop(tasq_broker *b, struct job *j, size_t n)
{
	j->r_head += n;
	j->r_len -= n;
	if (j->r_len == 0) {
		j->r_head = 0;
	}
	b->held -= n;
	j->q->nresults -= n;
}

// ---- lease -----------------------------------------------------------------

// Adaptive batching (locked): a worker asks for up to max tasks, which
// under load is what it gets (large batches: fewer messages per task).
// When idle workers of the same queue are waiting too, a queue shorter
// than that is shared: the asking worker gets its part of the ready tasks
// (never fewer than LEASE_MIN_SHARE), so that a small job is spread over
// the workers instead of going whole to the first that asks.
#define LEASE_MIN_SHARE 128

static uint32_t
lease_share(tasq_broker *b, const struct queue *q, const struct worker *self,
    uint32_t max)
{
	uint64_t       nw  = 1, share;
	size_t         pos = 0;
	struct worker *w;

	// A queue of a batch or more goes in whole batches: splitting it
	// would only make more messages.
	if (q->nready >= max) {
		return (max);
	}
	while ((w = tasq_idmap_next(&b->workers, &pos)) != NULL) {
		nw += w != self && w->connected && w->in_hand == 0 &&
		    strcmp(w->queue, q->name) == 0;
	}
	share = (q->nready + nw - 1) / nw;
	if (share < LEASE_MIN_SHARE) {
		share = LEASE_MIN_SHARE;
	}
	return (share < max ? (uint32_t) share : max);
}

int
tasq_broker_lease(tasq_broker *b, const char *queue, uint64_t worker_id,
    const char *worker_name, uint32_t pipe_id, uint32_t max, uint64_t now_ms,
    tasq_lease_out *out, tasq_waiter *w, bool *parked)
{
	struct queue  *q;
	struct worker *wk;
	struct lease  *l    = NULL;
	struct range  *rest = NULL, *r;
	struct range **tail;
	size_t         nb = 0, ntasks = 0;
	bool           new_w = false, new_q = false, split = false;
	char          *mem = NULL;
	int            rv  = 0;

	memset(out, 0, sizeof(*out));
	out->lease_ms = b->conf.lease_ms;
	*parked       = false;
	if (max > b->conf.max_lease) {
		max = b->conf.max_lease;
	}
	nng_mtx_lock(b->mtx);
	if ((rv = worker_touch(b, worker_id, worker_name, queue, pipe_id,
	         now_ms, &wk, &new_w)) != 0) {
		goto out;
	}
	if (max == 0) {
		goto out;
	}
	if ((rv = tasq_broker_queue_get(b, queue, &q, &new_q)) != 0) {
		goto fail;
	}
	q->last_ms = now_ms;
	// Drop leading ranges whose tasks are all done (results that came
	// in late for requeued tasks) so that an empty lease is never made.
	while (q->ready.next != &q->ready) {
		r = q->ready.next;
		if (range_undone(r) > 0) {
			break;
		}
		ready_unlink(q, r);
		chunk_unref(b, r->chunk);
		free(r);
	}
	if (q->ready.next == &q->ready) {
		if (w != NULL) {
			wlist_park(&q->waiters, w);
			*parked = true;
		}
		goto out;
	}
	max = lease_share(b, q, wk, max);
	// First count what the lease takes (ranges, tasks, whether the last
	// range splits) and allocate for it; only then change anything, so
	// that running out of memory leaves the queue as it was.
	r = q->ready.next;
	while (ntasks < max && r != &q->ready && nb < TASQ_WIRE_MAX_BATCHES) {
		uint32_t take = 0, undone = 0;
		while (take < r->len && ntasks + undone < max) {
			undone +=
			    !tasq_broker_task_done(r->chunk, r->off + take);
			take++;
		}
		split = take < r->len;
		ntasks += undone;
		nb++;
		r = r->next;
	}
	if ((l = tasq_calloc(1, sizeof(*l))) == NULL ||
	    (split && (rest = tasq_calloc(1, sizeof(*rest))) == NULL) ||
	    (mem = tasq_alloc(nb * sizeof(tasq_task_batch) +
	         ntasks * (sizeof(uint64_t) + sizeof(int64_t)) + 1)) == NULL ||
	    tasq_idmap_reserve(&b->leases, 1) != 0) {
		rv = NNG_ENOMEM;
		goto fail;
	}
	// Nothing below can fail.
	l->id       = b->lease_next++;
	l->w        = wk;
	l->pipe     = pipe_id;
	l->q        = q;
	l->deadline = now_ms + b->conf.lease_ms;
	l->ntasks   = (uint32_t) ntasks;
	tail        = &l->ranges;
	// The same walk again (the ready list is as it was), taking now.
	for (size_t i = 0, got = 0; i < nb; i++) {
		uint32_t take = 0, undone = 0;
		r = q->ready.next;
		while (take < r->len && got + undone < max) {
			undone +=
			    !tasq_broker_task_done(r->chunk, r->off + take);
			take++;
		}
		got += undone;
		ready_unlink(q, r);
		if (take < r->len) {
			*rest = *r;
			rest->off += take;
			rest->len -= take;
			r->len = take;
			r->chunk->refs++;
			ready_push(q, rest, true);
			rest = NULL;
		}
		r->attempt++;
		r->next = NULL;
		*tail   = r;
		tail    = &r->next;
	}
	(void) tasq_idmap_put(&b->leases, l->id, l);
	out->mem_     = mem;
	out->batches  = (void *) mem;
	out->nbatches = nb;
	{
		uint64_t *ids  = (void *) (mem + nb * sizeof(tasq_task_batch));
		int64_t  *vals = (void *) (ids + ntasks);
		size_t    k    = 0;
		size_t    bi   = 0;
		for (r = l->ranges; r != NULL; r = r->next) {
			tasq_task_batch *tb = &out->batches[bi++];
			struct chunk    *c  = r->chunk;
			tb->lease_id        = l->id;
			tb->job_id          = c->job->id;
			tb->attempt         = r->attempt;
			tb->ids             = ids + k;
			tb->values          = vals + k;
			tb->n               = 0;
			for (uint32_t i = r->off; i < r->off + r->len; i++) {
				if (tasq_broker_task_done(c, i)) {
					continue;
				}
				ids[k]  = c->first + i;
				vals[k] = c->values[i];
				k++;
				tb->n++;
			}
		}
	}
	q->nleased += ntasks;
	wk->leases++;
	wk->in_hand += ntasks;
	tasq_broker_count(b, TASQ_CTR_LEASED, ntasks);
	goto out;
fail:
	free(l);
	free(rest);
	free(mem);
	if (new_q) {
		queue_remove(b, q);
	}
	if (new_w) {
		worker_forget(b, wk);
	}
out:
	nng_mtx_unlock(b->mtx);
	return (rv);
}

void
tasq_broker_lease_fini(tasq_lease_out *out)
{
	free(out->mem_);
	out->mem_ = NULL;
}

// ---- complete
// ----------------------------------------------------------------

static bool
lease_finished(const struct lease *l)
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

// Results of a batch come from one chunk, or a few in a row: try the
// chunk of the previous id before searching.
static struct chunk *
chunk_of_hint(const struct job *j, uint64_t id, struct chunk **hint)
{
	struct chunk *c = *hint;

	if (c == NULL || id < c->first || id - c->first >= c->n) {
		c     = tasq_broker_chunk_of(j, id);
		*hint = c;
	}
	return (c);
}

// Sorts the results of one batch (locked, changing nothing): those that
// are news go to ids/vals/codes (*nnew of them), the rest are counted in
// out as duplicates or rejected.
static void
complete_sort(tasq_broker *b, struct job *j, const tasq_result_batch *rb,
    uint64_t *ids, int64_t *vals, uint8_t *codes, size_t *nnew,
    tasq_complete_rep *out)
{
	struct chunk *hint = NULL;

	*nnew = 0;
	for (size_t i = 0; i < rb->n; i++) {
		uint64_t      id   = rb->ids[i];
		struct chunk *c    = chunk_of_hint(j, id, &hint);
		uint32_t      code = rb->codes ? rb->codes[i] : 0;

		if (c == NULL) {
			// Finished and freed, or never submitted.
			if (ivals_contains(j, id)) {
				out->duplicates++;
				tasq_broker_count(
				    b, TASQ_CTR_DUPLICATE_RESULTS, 1);
			} else {
				out->rejected++;
				tasq_broker_count(
				    b, TASQ_CTR_REJECTED_RESULTS, 1);
			}
			continue;
		}
		if (tasq_broker_task_done(c, (uint32_t) (id - c->first))) {
			out->duplicates++;
			tasq_broker_count(b, TASQ_CTR_DUPLICATE_RESULTS, 1);
			continue;
		}
		ids[*nnew]   = id;
		vals[*nnew]  = code ? 0 : rb->values[i];
		codes[*nnew] = (uint8_t) code;
		(*nnew)++;
	}
}

// All or nothing as far as memory goes: the scratch columns and room in
// every job's result list are allocated before the first batch is
// journaled, so that a journaled result is always recorded. (If the
// journal fails at a later batch, the earlier ones stand, in memory as
// in the journal, and the retry finds them duplicates.)
int
tasq_broker_complete(tasq_broker *b, uint64_t worker_id, size_t nres,
    const tasq_result_batch *res, uint64_t now_ms, tasq_complete_rep *out)
{
	tasq_waiter   *wake = NULL;
	struct worker *wk;
	uint64_t      *ids   = NULL;
	int64_t       *vals  = NULL;
	uint8_t       *codes = NULL;
	size_t         cap = 0, total = 0;
	int            rv = 0;

	memset(out, 0, sizeof(*out));
	for (size_t bi = 0; bi < nres; bi++) {
		cap = res[bi].n > cap ? res[bi].n : cap;
		total += res[bi].n;
	}
	nng_mtx_lock(b->mtx);
	if (cap > 0 &&
	    ((ids = tasq_alloc(cap * sizeof(*ids))) == NULL ||
	        (vals = tasq_alloc(cap * sizeof(*vals))) == NULL ||
	        (codes = tasq_alloc(cap)) == NULL)) {
		rv = NNG_ENOMEM;
		goto out;
	}
	// Room for every result of the request in each job it names (more
	// than each needs when it names several: harmless).
	for (size_t bi = 0; bi < nres; bi++) {
		struct job *j = tasq_idmap_get(&b->jobs, res[bi].job_id);
		if (j != NULL && !j->closed &&
		    (rv = tasq_broker_results_reserve(j, total)) != 0) {
			goto out;
		}
	}
	// Nothing below runs out of memory.
	wk = tasq_idmap_get(&b->workers, worker_id);
	if (wk != NULL) {
		wk->last_ms = now_ms;
	}
	for (size_t bi = 0; bi < nres && rv == 0; bi++) {
		const tasq_result_batch *rb = &res[bi];
		struct job   *j    = tasq_idmap_get(&b->jobs, rb->job_id);
		struct lease *l    = tasq_idmap_get(&b->leases, rb->lease_id);
		struct chunk *hint = NULL;
		size_t        nnew = 0;
		bool          live;

		// A result counts as on time only if it comes from the
		// worker that holds the lease now.
		live = l != NULL && l->w != NULL && l->w->id == worker_id;
		if (j == NULL || j->closed) {
			out->rejected += (uint32_t) rb->n;
			tasq_broker_count(b, TASQ_CTR_REJECTED_RESULTS, rb->n);
			// Tasks of a closed job count as done: a lease left
			// with nothing else ends now, not when it expires.
			if (l != NULL && lease_finished(l)) {
				lease_end(b, l, false, &wake);
			}
			continue;
		}
		// First the results that are news, which are journaled
		// before they change anything.
		complete_sort(b, j, rb, ids, vals, codes, &nnew, out);
		if (nnew > 0 &&
		    (rv = tasq_persist_results(
		         b, j->id, nnew, ids, vals, codes)) != 0) {
			break;
		}
		for (size_t i = 0; i < nnew; i++) {
			struct chunk *c   = chunk_of_hint(j, ids[i], &hint);
			uint32_t      off = (uint32_t) (ids[i] - c->first);
			bool          ok;
			if (tasq_broker_task_done(c, off)) {
				// The same id twice in one batch.
				out->duplicates++;
				tasq_broker_count(
				    b, TASQ_CTR_DUPLICATE_RESULTS, 1);
				continue;
			}
			ok = tasq_broker_task_finish(
			    b, c, off, vals[i], codes[i], &wake);
			assert(ok); // room reserved above
			(void) ok;
			if (wk != NULL) {
				wk->completed++;
			}
			if (live) {
				out->accepted++;
			} else {
				out->late++;
				tasq_broker_count(b, TASQ_CTR_LATE_RESULTS, 1);
			}
		}
		j->last_ms    = now_ms;
		j->q->last_ms = now_ms;
		if (l != NULL && lease_finished(l)) {
			(void) lease_end(b, l, false, &wake);
		}
	}
out:
	nng_mtx_unlock(b->mtx);
	wake_all(b, wake);
	free(ids);
	free(vals);
	free(codes);
	return (rv);
}

// ---- extend, release
// -----------------------------------------------------------

void
tasq_broker_extend(tasq_broker *b, uint64_t worker_id, size_t n,
    const uint64_t *ids, uint64_t now_ms, uint64_t *unknown, size_t *nunknown,
    uint32_t *lease_ms)
{
	nng_mtx_lock(b->mtx);
	*nunknown = 0;
	*lease_ms = b->conf.lease_ms;
	for (size_t i = 0; i < n; i++) {
		struct lease *l = tasq_idmap_get(&b->leases, ids[i]);
		if (l == NULL || l->w == NULL || l->w->id != worker_id) {
			unknown[(*nunknown)++] = ids[i];
			continue;
		}
		l->deadline   = now_ms + b->conf.lease_ms;
		l->w->last_ms = now_ms;
	}
	nng_mtx_unlock(b->mtx);
}

uint32_t
tasq_broker_release(tasq_broker *b, uint64_t worker_id, size_t n,
    const uint64_t *ids, uint64_t now_ms)
{
	tasq_waiter *wake     = NULL;
	uint32_t     released = 0;

	(void) now_ms;
	nng_mtx_lock(b->mtx);
	for (size_t i = 0; i < n; i++) {
		struct lease *l = tasq_idmap_get(&b->leases, ids[i]);
		if (l == NULL || l->w == NULL || l->w->id != worker_id) {
			continue;
		}
		released += l->ntasks;
		(void) lease_end(b, l, false, &wake);
	}
	nng_mtx_unlock(b->mtx);
	wake_all(b, wake);
	return (released);
}

// ---- fetch, close
// ----------------------------------------------------------------

static void
delivery_drop(tasq_broker *b, struct job *j)
{
	b->held -= j->d_n;
	j->q->nresults -= j->d_n;
	free(j->d_ids);
	free(j->d_vals);
	free(j->d_codes);
	j->d_ids   = NULL;
	j->d_vals  = NULL;
	j->d_codes = NULL;
	j->d_n     = 0;
	j->d_seq   = 0;
}

// All or nothing: the next delivery and the reply's copy are allocated
// before the acknowledgement is journaled.
int
tasq_broker_fetch(tasq_broker *b, uint64_t job_id, uint64_t ack_seq,
    uint32_t max, uint64_t now_ms, tasq_fetch_out *out, tasq_waiter *w,
    bool *parked)
{
	struct job *j;
	char       *mem      = NULL;
	uint64_t   *nd_ids   = NULL;
	int64_t    *nd_vals  = NULL;
	uint32_t   *nd_codes = NULL;
	size_t      n        = 0, shown;
	bool        ack, errs = false;
	int         rv = 0;

	memset(out, 0, sizeof(*out));
	*parked = false;
	if (max == 0 || max > b->conf.max_fetch) {
		max = b->conf.max_fetch;
	}
	nng_mtx_lock(b->mtx);
	if ((j = tasq_idmap_get(&b->jobs, job_id)) == NULL || j->closed) {
		rv = TASQ_ENOT_FOUND;
		goto out;
	}
	j->last_ms = now_ms;
	ack        = j->d_seq != 0 && ack_seq == j->d_seq;
	if ((ack || j->d_seq == 0) && j->r_len > 0) {
		// A new delivery from the head of the result list.
		n        = j->r_len < max ? j->r_len : max;
		nd_ids   = tasq_alloc(n * sizeof(*nd_ids));
		nd_vals  = tasq_alloc(n * sizeof(*nd_vals));
		nd_codes = tasq_alloc(n * sizeof(*nd_codes));
	}
	// The reply shows the new delivery, or the old one when the ack
	// cannot be journaled: room for either, codes included.
	shown = n > j->d_n ? n : j->d_n;
	if (shown > 0) {
		mem = tasq_alloc(shown *
		        (sizeof(uint64_t) + sizeof(int64_t) +
		            sizeof(uint32_t)) +
		    1);
	}
	if ((n > 0 &&
	        (nd_ids == NULL || nd_vals == NULL || nd_codes == NULL)) ||
	    (shown > 0 && mem == NULL)) {
		rv = NNG_ENOMEM;
		goto out;
	}
	// Nothing below runs out of memory.
	if (ack && tasq_persist_ack(b, j->id, j->d_n) == 0) {
		delivery_drop(b, j);
	}
	if (j->d_seq == 0 && n > 0) {
		memcpy(nd_ids, j->r_ids + j->r_head, n * sizeof(uint64_t));
		memcpy(nd_vals, j->r_vals + j->r_head, n * sizeof(int64_t));
		memcpy(nd_codes, j->r_codes + j->r_head, n * sizeof(uint32_t));
		j->d_ids   = nd_ids;
		j->d_vals  = nd_vals;
		j->d_codes = nd_codes;
		nd_ids     = NULL;
		nd_vals    = NULL;
		nd_codes   = NULL;
		j->r_head += n;
		j->r_len -= n;
		if (j->r_len == 0) {
			j->r_head = 0;
		}
		j->d_n   = n;
		j->d_seq = j->seq_next++;
	}
	out->submitted = j->submitted;
	out->completed = j->completed;
	if (j->d_seq == 0) {
		if (w != NULL) {
			wlist_park(&j->waiters, w);
			*parked = true;
		}
		goto out;
	}
	n = j->d_n;
	for (size_t i = 0; i < n && !errs; i++) {
		errs = j->d_codes[i] != 0;
	}
	out->mem_   = mem;
	mem         = NULL;
	out->seq    = j->d_seq;
	out->n      = n;
	out->ids    = (void *) out->mem_;
	out->values = (void *) ((char *) out->mem_ + n * sizeof(uint64_t));
	memcpy(out->ids, j->d_ids, n * sizeof(uint64_t));
	memcpy(out->values, j->d_vals, n * sizeof(int64_t));
	if (errs) {
		out->codes = (void *) ((char *) out->mem_ + n * 16);
		memcpy(out->codes, j->d_codes, n * sizeof(uint32_t));
	}
out:
	nng_mtx_unlock(b->mtx);
	free(mem);
	free(nd_ids);
	free(nd_vals);
	free(nd_codes);
	return (rv);
}

void
tasq_broker_fetch_fini(tasq_fetch_out *out)
{
	free(out->mem_);
	out->mem_ = NULL;
}

// Ends a job (locked): drops its ready ranges, results and delivery; its
// chunks go when their leases end.
uint64_t
tasq_broker_job_close(tasq_broker *b, struct job *j, tasq_waiter **wake)
{
	struct queue *q       = j->q;
	uint64_t      dropped = 0;

	// Drop the ready ranges first, while the job is still open, so that
	// freeing their chunks cannot free the job under our feet.
	for (struct range *r = q->ready.next, *nr; r != &q->ready; r = nr) {
		nr = r->next;
		if (r->chunk->job == j) {
			ready_unlink(q, r);
			chunk_unref(b, r->chunk);
			free(r);
		}
	}
	j->closed = true;
	dropped += j->r_len + j->d_n;
	b->held -= j->r_len;
	q->nresults -= j->r_len;
	j->r_len = 0;
	delivery_drop(b, j);
	q->njobs--;
	wlist_take(&j->waiters, wake);
	// Chunks without leases go now; the rest when their leases end.
	for (size_t i = j->nchunks; i > 0; i--) {
		struct chunk *c = j->chunks[i - 1];
		dropped += c->remaining;
		if (c->refs == 0) {
			bool last = j->nchunks == 1;
			chunk_free(b, c); // frees j too when it was the last
			if (last) {
				return (dropped);
			}
		}
	}
	if (j->nchunks == 0) {
		job_forget(b, j);
	}
	return (dropped);
}

int
tasq_broker_close_job(
    tasq_broker *b, uint64_t job_id, uint64_t now_ms, uint64_t *dropped)
{
	return (tasq_broker_close_job_ack(b, job_id, 0, now_ms, dropped));
}

int
tasq_broker_close_job_ack(tasq_broker *b, uint64_t job_id, uint64_t ack_seq,
    uint64_t now_ms, uint64_t *dropped)
{
	struct job  *j;
	tasq_waiter *wake = NULL;
	int          rv   = 0;

	(void) now_ms;
	*dropped = 0;
	nng_mtx_lock(b->mtx);
	if ((j = tasq_idmap_get(&b->jobs, job_id)) == NULL || j->closed) {
		rv = TASQ_ENOT_FOUND;
	} else if ((rv = tasq_persist_close(b, job_id)) == 0) {
		// The close acknowledges the current delivery when it names
		// it: the client has those results, so they are not lost.
		// (The CLOSE record drops them on replay either way.)
		uint64_t acked =
		    j->d_seq != 0 && ack_seq == j->d_seq ? j->d_n : 0;
		*dropped = tasq_broker_job_close(b, j, &wake) - acked;
	}
	nng_mtx_unlock(b->mtx);
	wake_all(b, wake);
	return (rv);
}

// ---- connections and time
// ------------------------------------------------------

void
tasq_broker_pipe_gone(tasq_broker *b, uint32_t pipe_id, uint64_t now_ms)
{
	tasq_waiter   *wake  = NULL;
	struct lease **gone  = NULL;
	size_t         ngone = 0, pos = 0;
	void          *v;

	(void) now_ms;
	nng_mtx_lock(b->mtx);
	while ((v = tasq_idmap_next(&b->workers, &pos)) != NULL) {
		struct worker *w = v;
		if (w->pipe == pipe_id) {
			w->connected = false;
		}
	}
	if (b->leases.count > 0 &&
	    (gone = tasq_alloc(b->leases.count * sizeof(*gone))) != NULL) {
		pos = 0;
		while ((v = tasq_idmap_next(&b->leases, &pos)) != NULL) {
			struct lease *l = v;
			if (l->pipe == pipe_id) {
				gone[ngone++] = l;
			}
		}
		for (size_t i = 0; i < ngone; i++) {
			if (lease_end(b, gone[i], true, &wake) != 0) {
				// Out of memory: expiry returns it.
				gone[i]->deadline = 0;
				continue;
			}
			tasq_broker_count(b, TASQ_CTR_LEASES_DISCONNECTED, 1);
		}
	} else if (b->leases.count > 0) {
		// Out of memory: expiry will return these leases instead
		// (a walk of its own: pos is where the workers' ended).
		pos = 0;
		while ((v = tasq_idmap_next(&b->leases, &pos)) != NULL) {
			struct lease *l = v;
			if (l->pipe == pipe_id) {
				l->deadline = 0;
			}
		}
	}
	free(gone);
	nng_mtx_unlock(b->mtx);
	wake_all(b, wake);
}

void
tasq_broker_tick(tasq_broker *b, uint64_t now_ms)
{
	tasq_waiter *wake = NULL;
	size_t       pos, n;
	void        *v;
	void       **list;

	nng_mtx_lock(b->mtx);
	n    = b->leases.count + b->jobs.count + b->workers.count;
	list = n ? tasq_alloc(n * sizeof(*list)) : NULL;
	if (list != NULL) {
		size_t k = 0;
		pos      = 0;
		while ((v = tasq_idmap_next(&b->leases, &pos)) != NULL) {
			struct lease *l = v;
			if (l->deadline <= now_ms) {
				list[k++] = l;
			}
		}
		for (size_t i = 0; i < k; i++) {
			if (lease_end(b, list[i], true, &wake) != 0) {
				continue; // out of memory: next tick
			}
			tasq_broker_count(b, TASQ_CTR_LEASES_EXPIRED, 1);
		}
		k   = 0;
		pos = 0;
		while ((v = tasq_idmap_next(&b->jobs, &pos)) != NULL) {
			struct job *j = v;
			if (!j->closed &&
			    now_ms > j->last_ms + b->conf.job_ttl_ms) {
				list[k++] = j;
			}
		}
		for (size_t i = 0; i < k; i++) {
			struct job *j = list[i];
			if (tasq_persist_close(b, j->id) != 0) {
				continue; // journal failing: next tick
			}
			tasq_broker_count(b, TASQ_CTR_JOBS_EXPIRED, 1);
			(void) tasq_broker_job_close(b, j, &wake);
		}
		k   = 0;
		pos = 0;
		while ((v = tasq_idmap_next(&b->workers, &pos)) != NULL) {
			struct worker *w = v;
			if (w->leases == 0 && now_ms > w->last_ms + 300000) {
				list[k++] = w;
			}
		}
		for (size_t i = 0; i < k; i++) {
			worker_forget(b, list[i]);
		}
		free(list);
	}
	tasq_broker_queue_gc(b, now_ms, false);
	nng_mtx_unlock(b->mtx);
	wake_all(b, wake);
}

// ---- stats
// -------------------------------------------------------------------

int
tasq_broker_stats(tasq_broker *b, uint64_t now_ms, tasq_rep *rep)
{
	size_t nq, nw, nd, sz, pos = 0;
	char  *mem;
	void  *v;

	memset(rep, 0, sizeof(*rep));
	rep->method = TASQ_M_STATS;
	nng_mtx_lock(b->mtx);
	nq = b->nqueues;
	nw = b->workers.count;
	nd = b->dead_n < DEAD_RING ? b->dead_n : DEAD_RING;
	sz = nq * (sizeof(tasq_queue_stats) + TASQ_WIRE_MAX_NAME + 1) +
	    nw * (sizeof(tasq_worker_stats) + 2 * (TASQ_WIRE_MAX_NAME + 1)) +
	    TASQ_CTR_COUNT * sizeof(tasq_counter) + nd * 16 + 1;
	if ((mem = tasq_calloc(1, sz)) == NULL) {
		nng_mtx_unlock(b->mtx);
		return (NNG_ENOMEM);
	}
	rep->mem_           = mem;
	rep->u.stats.queues = (void *) mem;
	mem += nq * sizeof(tasq_queue_stats);
	rep->u.stats.workers = (void *) mem;
	mem += nw * sizeof(tasq_worker_stats);
	rep->u.stats.counters = (void *) mem;
	mem += TASQ_CTR_COUNT * sizeof(tasq_counter);
	rep->u.stats.dead = (void *) mem;
	mem += nd * 16;
	for (size_t i = 0; i < nq; i++) {
		struct queue     *q = b->queues[i];
		tasq_queue_stats *s = &rep->u.stats.queues[i];
		memcpy(mem, q->name, sizeof(q->name));
		s->name = mem;
		mem += TASQ_WIRE_MAX_NAME + 1;
		s->ready     = q->nready;
		s->leased    = q->nleased;
		s->results   = q->nresults;
		s->jobs      = q->njobs;
		s->dead      = q->ndead;
		s->submitted = q->submitted;
		s->completed = q->completed;
	}
	rep->u.stats.nqueues = nq;
	for (size_t i = 0; (v = tasq_idmap_next(&b->workers, &pos)) != NULL;
	     i++) {
		struct worker     *w = v;
		tasq_worker_stats *s = &rep->u.stats.workers[i];
		memcpy(mem, w->name, sizeof(w->name));
		s->name = mem;
		mem += TASQ_WIRE_MAX_NAME + 1;
		memcpy(mem, w->queue, sizeof(w->queue));
		s->queue = mem;
		mem += TASQ_WIRE_MAX_NAME + 1;
		s->worker_id     = w->id;
		s->leases        = w->leases;
		s->tasks_in_hand = w->in_hand;
		s->completed     = w->completed;
		s->idle_ms   = now_ms > w->last_ms ? now_ms - w->last_ms : 0;
		s->connected = w->connected;
	}
	rep->u.stats.nworkers = nw;
	for (size_t i = 0; i < nd; i++) {
		size_t k                 = (b->dead_n - nd + i) % DEAD_RING;
		rep->u.stats.dead[2 * i] = b->dead[k][0];
		rep->u.stats.dead[2 * i + 1] = b->dead[k][1];
	}
	rep->u.stats.ndead = nd;
	// Read with the lock held, so that the broker's own counters agree
	// with the queues' (tasks_completed is the sum of their completed).
	for (int i = 0; i < TASQ_CTR_COUNT; i++) {
		rep->u.stats.counters[i].name  = counter_names[i];
		rep->u.stats.counters[i].value = tasq_broker_counter(b, i);
	}
	rep->u.stats.ncounters = TASQ_CTR_COUNT;
	nng_mtx_unlock(b->mtx);
	return (0);
}

void
tasq_broker_stats_fini(tasq_rep *rep)
{
	free(rep->mem_);
	rep->mem_ = NULL;
}
