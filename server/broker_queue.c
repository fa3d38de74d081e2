// broker_queue: named queues and their ready lists of task ranges.
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "broker_state.h"
#include "err.h"

static void ring_leave(struct lane *ln, struct job *j);

struct queue *
tasq_broker_queue_find(tasq_broker *b, const char *name)
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
	if ((*qp = tasq_broker_queue_find(b, name)) != NULL) {
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
	wlist_init(&q->waiters);
	q->any                  = &b->mwaiters;
	b->queues[b->nqueues++] = q;
	*qp                     = q;
	*created                = true;
	return (0);
}

static bool
queue_unused(const struct queue *q)
{
	for (size_t i = 0; i < q->nlanes; i++) {
		if (q->lanes[i]->rjobs != NULL || q->lanes[i]->ndelayed > 0) {
			return (false);
		}
	}
	return (q->njobs == 0 && q->nready == 0 && q->nleased == 0 &&
	    q->nresults == 0 && q->waiters.head.next == &q->waiters.head);
}

void
tasq_broker_queue_remove(tasq_broker *b, struct queue *q)
{
	for (size_t i = 0; i < b->nqueues; i++) {
		if (b->queues[i] == q) {
			memmove(&b->queues[i], &b->queues[i + 1],
			    (b->nqueues - i - 1) * sizeof(*b->queues));
			b->nqueues--;
			break;
		}
	}
	tasq_broker_queue_free(q);
}

void
tasq_broker_queue_free(struct queue *q)
{
	for (size_t i = 0; i < q->nlanes; i++) {
		struct lane *ln = q->lanes[i];
		// The jobs outlive their queue here (tasq_broker_free).
		while (ln->rjobs != NULL) {
			struct job *j = ln->rjobs;
			while (j->ready.next != &j->ready) {
				struct range *r = j->ready.next;
				j->ready.next   = r->next;
				free(r);
			}
			j->ready.prev = &j->ready;
			ring_leave(ln, j);
		}
		free(ln);
	}
	free(q->lanes);
	free(q);
}

struct lane *
tasq_broker_lane_find(const struct queue *q, const char *type)
{
	for (size_t i = 0; i < q->nlanes; i++) {
		if (strcmp(q->lanes[i]->type, type) == 0) {
			return (q->lanes[i]);
		}
	}
	return (NULL);
}

int
tasq_broker_lane_get(struct queue *q, const char *type, struct lane **lp)
{
	struct lane *ln;

	if ((*lp = tasq_broker_lane_find(q, type)) != NULL) {
		return (0);
	}
	if (q->nlanes == q->caplanes) {
		size_t        ncap = q->caplanes ? q->caplanes * 2 : 2;
		struct lane **nl = tasq_realloc(q->lanes, ncap * sizeof(*nl));
		if (nl == NULL) {
			return (NNG_ENOMEM);
		}
		q->lanes    = nl;
		q->caplanes = ncap;
	}
	if ((ln = tasq_calloc(1, sizeof(*ln))) == NULL) {
		return (NNG_ENOMEM);
	}
	ln->q = q;
	strncpy(ln->type, type, TASQ_WIRE_MAX_NAME);
	q->lanes[q->nlanes++] = ln;
	*lp                   = ln;
	return (0);
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
			tasq_broker_queue_remove(b, q);
		}
	}
}

// ---- the rotation of a lane's jobs ----------------------------------------
//
// Stride scheduling: each job with ready tasks is in its lane's ring with
// a pass; a lease starts with the job of the lowest pass (the first in
// ring order among equals) and each task it takes adds
// TASQ_STRIDE_ONE / priority to that job's pass. Two jobs that both keep
// tasks ready thus get leased tasks in the ratio of their priorities,
// and a job that joins (or comes back: a retry, an expired lease) starts
// at the lane's virtual time, the pass of the job last leased from: it
// is served next, but earns no credit for the time it had nothing ready.
// With one job the ring is that job alone, and a lease costs what it
// did before: one pick of one job.

static void
ring_join(struct lane *ln, struct job *j)
{
	if (tasq_pass_before(j->pass, ln->vtime)) {
		j->pass = ln->vtime;
	}
	if (ln->rjobs == NULL) {
		j->rnext = j->rprev = j;
		ln->rjobs           = j;
		return;
	}
	// At the end of the ring: after the jobs already waiting, among
	// equal passes.
	j->rnext                = ln->rjobs;
	j->rprev                = ln->rjobs->rprev;
	ln->rjobs->rprev->rnext = j;
	ln->rjobs->rprev        = j;
}

static void
ring_leave(struct lane *ln, struct job *j)
{
	if (j->rnext == j) {
		ln->rjobs = NULL;
	} else {
		if (ln->rjobs == j) {
			ln->rjobs = j->rnext;
		}
		j->rnext->rprev = j->rprev;
		j->rprev->rnext = j->rnext;
	}
	j->rnext = j->rprev = NULL;
}

struct job *
tasq_broker_lane_pick(
    const struct lane *ln, struct job *const *skip, size_t nskip)
{
	struct job *best = NULL, *j = ln->rjobs;

	if (j == NULL) {
		return (NULL);
	}
	do {
		bool skipped = false;
		for (size_t i = 0; i < nskip && !skipped; i++) {
			skipped = skip[i] == j;
		}
		if (!skipped &&
		    (best == NULL || tasq_pass_before(j->pass, best->pass))) {
			best = j;
		}
		j = j->rnext;
	} while (j != ln->rjobs);
	return (best);
}

void
tasq_broker_lane_charge(struct lane *ln, struct job *j, uint64_t ntasks)
{
	ln->vtime = j->pass;
	j->pass += ntasks * (TASQ_STRIDE_ONE / j->priority);
}

void
tasq_broker_job_ready_init(struct job *j)
{
	j->ready.next = j->ready.prev = &j->ready;
	j->priority                   = TASQ_PRIORITY_DEFAULT;
}

uint32_t
tasq_broker_job_priority(const struct job *j)
{
	return (j->priority);
}

void
tasq_broker_job_priority_set(struct job *j, uint32_t priority)
{
	if (priority == 0) {
		priority = TASQ_PRIORITY_DEFAULT;
	}
	if (priority > TASQ_WIRE_MAX_PRIORITY) {
		priority = TASQ_WIRE_MAX_PRIORITY;
	}
	j->priority = priority;
}

void
tasq_broker_ready_push(struct lane *ln, struct range *r, bool front)
{
	struct job   *j  = r->chunk->job;
	struct range *at = front ? &j->ready : j->ready.prev;

	if (j->rnext == NULL) {
		ring_join(ln, j);
	}
	r->prev        = at;
	r->next        = at->next;
	at->next->prev = r;
	at->next       = r;
	j->nready += r->len;
	ln->nready += r->len;
	ln->q->nready += r->len;
}

void
tasq_broker_ready_unlink(struct lane *ln, struct range *r)
{
	struct job *j = r->chunk->job;

	r->prev->next = r->next;
	r->next->prev = r->prev;
	j->nready -= r->len;
	ln->nready -= r->len;
	ln->q->nready -= r->len;
	if (j->ready.next == &j->ready) {
		ring_leave(ln, j);
	}
}

uint64_t
tasq_broker_lane_oldest_ms(const struct lane *ln)
{
	uint64_t          oldest = UINT64_MAX;
	const struct job *j      = ln->rjobs;

	if (j == NULL) {
		return (oldest);
	}
	do {
		const struct range *r = j->ready.next;
		if (r != &j->ready && r->chunk->enq_ms < oldest) {
			oldest = r->chunk->enq_ms;
		}
		j = j->rnext;
	} while (j != ln->rjobs);
	return (oldest);
}

uint32_t
tasq_broker_range_undone(const struct range *r)
{
	uint32_t undone = 0;

	if (!r->chunk->job->closed) {
		for (uint32_t i = r->off; i < r->off + r->len; i++) {
			undone += !tasq_broker_task_done(r->chunk, i);
		}
	}
	return (undone);
}

int
tasq_broker_tries_restore(struct job *j, const tasq_tries *t)
{
	struct chunk *c = tasq_broker_chunk_of(j, t->first);
	uint32_t      off;

	if (t->len == 0) {
		return (TASQ_EDATA_LOSS);
	}
	if (c == NULL) {
		return (0); // its tasks are finished and gone
	}
	off = (uint32_t) (t->first - c->first);
	if (t->len > c->n - off) {
		return (TASQ_EDATA_LOSS);
	}
	if ((c->r_tries == NULL &&
	        (c->r_tries = tasq_calloc(c->n, sizeof(*c->r_tries))) ==
	            NULL) ||
	    (c->r_nb == NULL &&
	        (c->r_nb = tasq_calloc(c->n, sizeof(*c->r_nb))) == NULL)) {
		return (NNG_ENOMEM);
	}
	for (uint32_t i = off; i < off + t->len; i++) {
		c->r_tries[i] = t->attempts;
		c->r_nb[i]    = t->not_before_ms;
	}
	return (0);
}

// Whether tasks a and b of c have the same recorded attempts.
static bool
same_tries(const struct chunk *c, uint32_t a, uint32_t b)
{
	return (c->r_tries == NULL ||
	    (c->r_tries[a] == c->r_tries[b] && c->r_nb[a] == c->r_nb[b]));
}

void
tasq_broker_ready_normalize(tasq_broker *b)
{
	uint64_t    wall = tasq_broker_wall_ms(b);
	size_t      pos  = 0;
	struct job *j;

	while ((j = tasq_broker_job_next(b, &pos)) != NULL) {
		struct lane  *ln = j->lane;
		struct range  old;
		struct range *r, *nr;

		if (j->ready.next == &j->ready) {
			continue;
		}
		// Detach the list, then put back one range per run of
		// unfinished tasks.
		old            = j->ready;
		old.next->prev = &old;
		old.prev->next = &old;
		j->ready.next = j->ready.prev = &j->ready;
		ln->nready -= j->nready;
		ln->q->nready -= j->nready;
		j->nready = 0;
		ring_leave(ln, j);
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
				// A run also ends where the attempts
				// recorded for its tasks change.
				while (i < end &&
				    !tasq_broker_task_done(c, i) &&
				    same_tries(c, start, i)) {
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
						tasq_broker_ready_push(
						    ln, run, false);
						break;
					}
					run->chunk   = c;
					run->off     = start;
					run->len     = i - start;
					run->attempt = r->attempt;
					if (c->r_tries != NULL) {
						run->attempt =
						    c->r_tries[start];
						run->nb_ms = c->r_nb[start];
					}
					c->refs++;
					if (run->nb_ms > wall) {
						// Its backoff is not over.
						tasq_broker_range_delay(
						    b, run);
					} else {
						tasq_broker_ready_push(
						    ln, run, false);
					}
				}
			}
			if (r != NULL) {
				tasq_broker_chunk_unref(b, c);
				free(r);
			}
		}
	}
	// The recorded attempts are in the ranges now.
	pos = 0;
	while ((j = tasq_idmap_next(&b->jobs, &pos)) != NULL) {
		for (size_t i = 0; i < j->nchunks; i++) {
			free(j->chunks[i]->r_tries);
			free(j->chunks[i]->r_nb);
			j->chunks[i]->r_tries = NULL;
			j->chunks[i]->r_nb    = NULL;
		}
	}
}

void
tasq_broker_range_free(tasq_broker *b, struct range *r)
{
	tasq_broker_chunk_unref(b, r->chunk);
	free(r);
}

bool
tasq_broker_ready_trim(tasq_broker *b, struct lane *ln)
{
	struct job *j;

	// The job a lease would start with, until its head range has an
	// unfinished task (a job left empty leaves the ring).
	while ((j = tasq_broker_lane_pick(ln, NULL, 0)) != NULL) {
		struct range *r = j->ready.next;
		if (tasq_broker_range_undone(r) > 0) {
			return (true);
		}
		tasq_broker_ready_unlink(ln, r);
		tasq_broker_range_free(b, r);
	}
	return (false);
}

void
tasq_broker_ready_drop_job(tasq_broker *b, struct job *j)
{
	struct lane *ln = j->lane;

	while (j->ready.next != &j->ready) {
		struct range *r = j->ready.next;
		tasq_broker_ready_unlink(ln, r);
		tasq_broker_range_free(b, r);
	}
}
