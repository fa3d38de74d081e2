// broker_stats: the Stats snapshot (the counters are server/stats.h's).
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "broker_state.h"
#include "err.h"

int
tasq_broker_stats(tasq_broker *b, uint64_t now_ms, tasq_rep *rep)
{
	size_t nq, nw, nd, nt = 0, sz, pos = 0;
	char  *mem;
	void  *v;

	memset(rep, 0, sizeof(*rep));
	rep->method = TASQ_M_STATS;
	nng_mtx_lock(b->mtx);
	nq = b->nqueues;
	nw = b->workers.count;
	nd = b->dead_n < DEAD_RING ? b->dead_n : DEAD_RING;
	for (size_t i = 0; i < nq; i++) {
		nt += b->queues[i]->nlanes;
	}
	sz = nq * (sizeof(tasq_queue_stats) + TASQ_WIRE_MAX_NAME + 1) +
	    nw * (sizeof(tasq_worker_stats) + 2 * (TASQ_WIRE_MAX_NAME + 1)) +
	    TASQ_CTR_COUNT * sizeof(tasq_counter) + nd * 16 +
	    nt * (sizeof(tasq_type_stats) + TASQ_WIRE_MAX_NAME + 1) + 1;
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
	rep->u.stats.types = (void *) mem;
	mem += nt * sizeof(tasq_type_stats);
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
		s->failed    = q->failed;
		s->retried   = q->retried;
	}
	rep->u.stats.nqueues = nq;
	// One row per type of each queue with tasks or serving workers:
	// what waits, and who serves it.
	nt = 0;
	for (size_t i = 0; i < nq; i++) {
		struct queue *q = b->queues[i];
		for (size_t l = 0; l < q->nlanes; l++) {
			struct lane     *ln = q->lanes[l];
			tasq_type_stats *s  = &rep->u.stats.types[nt];
			s->ready            = ln->nready + ln->ndelayed;
			s->leased           = ln->nleased;
			s->workers          = tasq_broker_type_workers(
			             b, q->name, ln->type, now_ms);
			if (s->ready == 0 && s->leased == 0 &&
			    s->workers == 0) {
				continue;
			}
			memcpy(mem, ln->type, sizeof(ln->type));
			s->type = mem;
			mem += TASQ_WIRE_MAX_NAME + 1;
			s->queue = rep->u.stats.queues[i].name;
			nt++;
		}
	}
	rep->u.stats.ntypes = nt;
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
		s->failed        = w->failed;
		s->retried       = w->retried;
		s->idle_ms   = now_ms > w->last_ms ? now_ms - w->last_ms : 0;
		s->connected = w->connected;
	}
	rep->u.stats.nworkers = nw;
	for (size_t i = 0; i < nd; i++) {
		size_t k                 = (b->dead_n - nd + i) % DEAD_RING;
		rep->u.stats.dead[2 * i] = b->dead[k][0];
		rep->u.stats.dead[2 * i + 1] = b->dead[k][1];
	}
	rep->u.stats.ndead      = nd;
	rep->u.stats.dead_total = tasq_broker_dead_count(b);
	// Read with the lock held, so that the counters the broker
	// increments under it agree with the queues' (tasks_completed is
	// the sum of their completed).
	rep->u.stats.ncounters =
	    tasq_stats_snapshot(b->stats, rep->u.stats.counters);
	nng_mtx_unlock(b->mtx);
	return (0);
}

void
tasq_broker_stats_fini(tasq_rep *rep)
{
	free(rep->mem_);
	rep->mem_ = NULL;
}

uint64_t
tasq_broker_queue_age_ms(tasq_broker *b, const char *queue, uint64_t now_ms)
{
	uint64_t oldest = UINT64_MAX;

	nng_mtx_lock(b->mtx);
	for (size_t i = 0; i < b->nqueues; i++) {
		struct queue *q = b->queues[i];
		if (strcmp(q->name, queue) != 0) {
			continue;
		}
		// Only the head of each job of each lane: what is leased
		// next.
		for (size_t l = 0; l < q->nlanes; l++) {
			uint64_t o = tasq_broker_lane_oldest_ms(q->lanes[l]);
			if (o < oldest) {
				oldest = o;
			}
		}
		break;
	}
	nng_mtx_unlock(b->mtx);
	return (oldest == UINT64_MAX || oldest > now_ms ? 0 : now_ms - oldest);
}
