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
			tasq_broker_queue_remove(b, q);
		}
	}
}

void
tasq_broker_ready_push(struct queue *q, struct range *r, bool front)
{
	struct range *at = front ? &q->ready : q->ready.prev;
	r->prev          = at;
	r->next          = at->next;
	at->next->prev   = r;
	at->next         = r;
	q->nready += r->len;
}

void
tasq_broker_ready_unlink(struct queue *q, struct range *r)
{
	r->prev->next = r->next;
	r->next->prev = r->prev;
	q->nready -= r->len;
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
						tasq_broker_ready_push(
						    q, run, false);
						break;
					}
					run->chunk   = c;
					run->off     = start;
					run->len     = i - start;
					run->attempt = r->attempt;
					c->refs++;
					tasq_broker_ready_push(q, run, false);
				}
			}
			if (r != NULL) {
				tasq_broker_chunk_unref(b, c);
				free(r);
			}
		}
	}
}

void
tasq_broker_range_free(tasq_broker *b, struct range *r)
{
	tasq_broker_chunk_unref(b, r->chunk);
	free(r);
}

// Drops leading ranges whose tasks are all done (results that came in
// late for requeued tasks) so that an empty lease is never made.
bool
tasq_broker_ready_trim(tasq_broker *b, struct queue *q)
{
	while (q->ready.next != &q->ready) {
		struct range *r = q->ready.next;
		if (tasq_broker_range_undone(r) > 0) {
			return (true);
		}
		tasq_broker_ready_unlink(q, r);
		tasq_broker_range_free(b, r);
	}
	return (false);
}

void
tasq_broker_ready_drop_job(
    tasq_broker *b, struct queue *q, const struct job *j)
{
	for (struct range *r = q->ready.next, *nr; r != &q->ready; r = nr) {
		nr = r->next;
		if (r->chunk->job == j) {
			tasq_broker_ready_unlink(q, r);
			tasq_broker_range_free(b, r);
		}
	}
}
