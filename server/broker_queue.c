// broker_queue: named queues and their ready lists of task ranges.
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "broker_state.h"
#include "err.h"

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
	wlist_init(&q->waiters);
	b->queues[b->nqueues++] = q;
	*qp                     = q;
	*created                = true;
	return (0);
}

static bool
queue_unused(const struct queue *q)
{
	for (size_t i = 0; i < q->nlanes; i++) {
		if (q->lanes[i]->ready.next != &q->lanes[i]->ready ||
		    q->lanes[i]->ndelayed > 0) {
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
		while (ln->ready.next != &ln->ready) {
			struct range *r = ln->ready.next;
			ln->ready.next  = r->next;
			free(r);
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
	ln->ready.next = ln->ready.prev = &ln->ready;
	q->lanes[q->nlanes++]           = ln;
	*lp                             = ln;
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

void
tasq_broker_ready_push(struct lane *ln, struct range *r, bool front)
{
	struct range *at = front ? &ln->ready : ln->ready.prev;
	r->prev          = at;
	r->next          = at->next;
	at->next->prev   = r;
	at->next         = r;
	ln->nready += r->len;
	ln->q->nready += r->len;
}

void
tasq_broker_ready_unlink(struct lane *ln, struct range *r)
{
	r->prev->next = r->next;
	r->next->prev = r->prev;
	ln->nready -= r->len;
	ln->q->nready -= r->len;
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

	for (size_t qi = 0, li = 0; qi < b->nqueues;) {
		struct queue *q = b->queues[qi];
		struct lane  *ln;
		struct range  old;
		struct range *r, *nr;

		// Every lane of every queue, in turn.
		if (li >= q->nlanes) {
			qi++;
			li = 0;
			continue;
		}
		ln  = q->lanes[li++];
		old = ln->ready;
		if (ln->ready.next == &ln->ready) {
			continue;
		}
		// Detach the list, then put back one range per run of
		// unfinished tasks.
		old.next->prev = &old;
		old.prev->next = &old;
		ln->ready.next = ln->ready.prev = &ln->ready;
		q->nready -= ln->nready;
		ln->nready = 0;
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
	while (ln->ready.next != &ln->ready) {
		struct range *r = ln->ready.next;
		if (tasq_broker_range_undone(r) > 0) {
			return (true);
		}
		tasq_broker_ready_unlink(ln, r);
		tasq_broker_range_free(b, r);
	}
	return (false);
}

void
tasq_broker_ready_drop_job(tasq_broker *b, const struct job *j)
{
	struct lane *ln = j->lane;

	for (struct range *r = ln->ready.next, *nr; r != &ln->ready; r = nr) {
		nr = r->next;
		if (r->chunk->job == j) {
			tasq_broker_ready_unlink(ln, r);
			tasq_broker_range_free(b, r);
		}
	}
}
