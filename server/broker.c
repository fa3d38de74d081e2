// broker: the broker object, its mutex and waiters, and the public
// operations of broker.h, which lock, call the modules of broker_int.h
// and wake waiters after unlocking.
#include "broker.h"

#include <assert.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "alloc.h"
#include "blobs.h"
#include "broker_state.h"
#include "err.h"
#include "log.h"

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

void
tasq_broker_wake_all(tasq_broker *b, tasq_waiter *wake)
{
	wake_all(b, wake);
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
	tasq_stats_add(b->stats, counter, n);
}

uint64_t
tasq_broker_counter(tasq_broker *b, int counter)
{
	return (tasq_stats_get(b->stats, counter));
}

tasq_journal *
tasq_broker_journal_rec(tasq_broker *b)
{
	return (b->recovering ? NULL : b->journal);
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
	if (b->conf.max_payload_bytes == 0) {
		b->conf.max_payload_bytes = (uint64_t) 1 << 30;
	}
	b->wake = wake;
	if ((b->stats = conf->stats) == NULL) {
		if ((rv = tasq_stats_alloc(&b->own_stats)) != 0) {
			nng_mtx_free(b->mtx);
			free(b);
			return (rv);
		}
		b->stats = b->own_stats;
	}
	tasq_idmap_init(&b->jobs);
	tasq_idmap_init(&b->leases);
	tasq_idmap_init(&b->workers);
	wlist_init(&b->mwaiters);
	b->lease_next = 1;
	b->dl_next    = 1;
	*bp           = b;
	return (0);
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
		tasq_broker_queue_free(b->queues[i]);
	}
	// Chunks are reachable from their jobs; closed jobs still alive
	// hold their chunks too, but only until their leases end, and all
	// leases were freed above, so walk live jobs only.
	pos = 0;
	while ((v = tasq_idmap_next(&b->jobs, &pos)) != NULL) {
		struct job *j = v;
		for (size_t i = 0; i < j->nchunks; i++) {
			tasq_broker_chunk_free_mem(j->chunks[i]);
		}
		tasq_broker_job_free(j);
	}
	pos = 0;
	while ((v = tasq_idmap_next(&b->workers, &pos)) != NULL) {
		struct worker *w = v;
		free(w->types);
		free(w->qs);
		free(w);
	}
	while (b->delayed != NULL) {
		struct range *d = b->delayed;
		b->delayed      = d->next;
		free(d);
	}
	tasq_broker_dead_fini(b);
	tasq_idmap_fini(&b->jobs);
	tasq_idmap_fini(&b->leases);
	tasq_idmap_fini(&b->workers);
	free(b->queues);
	tasq_stats_free(b->own_stats);
	nng_mtx_free(b->mtx);
	free(b);
}

// ---- submit ----------------------------------------------------------------

// Ends the input of j (with last; else nothing), recorded in a JOB record.
static int
job_seal(tasq_broker *b, struct job *j, bool last, const char **why)
{
	int rv;

	if (!last || j->sealed) {
		return (0);
	}
	j->sealed = true;
	if ((rv = tasq_persist_job(b, j)) != 0) {
		j->sealed = false;
		*why      = "the journal cannot be written (disk full or I/O "
		            "error); retry later";
		return (rv);
	}
	tasq_broker_job_check_done(b, j);
	return (0);
}

int
tasq_broker_submit_locked(tasq_broker *b, const tasq_submit_req *req,
    uint64_t now_ms, uint32_t *accepted, bool *dup, const char **why,
    tasq_waiter **wake)
{
	const char       *queue = req->queue;
	const char       *type  = req->type;
	uint64_t          first = req->first_index;
	size_t            n     = req->n;
	struct queue     *q     = NULL;
	struct job       *j     = NULL;
	bool              new_q = false, new_j = false;
	struct chunk_prep cp = { NULL, NULL };
	tasq_job_meta     m;
	bool              meta = false, seal = false;
	int               rv;

	*accepted = 0;
	*dup      = false;
	if (type == NULL || type[0] == '\0') {
		type = TASQ_TYPE_SQUARE;
	}
	if ((n == 0 && !req->last) ||
	    (n > b->conf.max_batch && !b->recovering)) {
		*why = "batch is empty or larger than the server's max-batch";
		return (TASQ_EINVALID_ARGUMENT);
	}
	j = tasq_idmap_get(&b->jobs, req->job_id);
	if (j != NULL && j->closed) {
		*why = "job was closed";
		return (TASQ_EFAILED_PRECONDITION);
	}
	if (j != NULL && j->cancelled) {
		*why = "job was cancelled";
		return (TASQ_EFAILED_PRECONDITION);
	}
	if (j != NULL && strcmp(j->q->name, queue) != 0) {
		*why = "job belongs to another queue";
		return (TASQ_EINVALID_ARGUMENT);
	}
	if (j != NULL && strcmp(j->lane->type, type) != 0) {
		*why = "job has another type (one type per job)";
		return (TASQ_EINVALID_ARGUMENT);
	}
	if (j != NULL) {
		int k      = tasq_broker_ivals_check(j, first, first + n);
		j->last_ms = now_ms;
		if (k > 0 || n == 0) {
			if (n > 0) {
				*dup = true;
				tasq_broker_count(
				    b, TASQ_CTR_DUPLICATE_SUBMITS, 1);
			}
			// The input may end with a batch sent again.
			return (job_seal(b, j, req->last, why));
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
	if (req->payloads.size > b->conf.max_payload_bytes && !b->recovering) {
		*why = "batch is larger than the server's max-payload-bytes; "
		       "use a smaller --batch-size";
		return (TASQ_EINVALID_ARGUMENT);
	}
	if (b->held + n > b->conf.max_tasks && !b->recovering) {
		*why = "server holds max-tasks tasks; retry later";
		tasq_broker_count(b, TASQ_CTR_RESOURCE_EXHAUSTED, 1);
		return (TASQ_ERESOURCE_EXHAUSTED);
	}
	if (b->held_bytes + req->payloads.size > b->conf.max_payload_bytes &&
	    !b->recovering) {
		*why = "server holds max-payload-bytes of payloads and "
		       "results; retry later";
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
		if ((rv = tasq_broker_job_create(b, req->job_id, q, type,
		         req->legacy, req->has_retry ? &req->retry : NULL,
		         now_ms, &j)) == TASQ_ERESOURCE_EXHAUSTED) {
			*why = "too many jobs; retry later";
			tasq_broker_count(b, TASQ_CTR_RESOURCE_EXHAUSTED, 1);
			goto fail;
		}
		if (rv != 0) {
			goto nomem;
		}
		new_j = true;
		tasq_broker_job_priority_set(j, req->priority);
		meta = tasq_broker_job_meta_of(b, NULL, req, &m);
		if (tasq_broker_job_meta_set(b, j, &m) != 0) {
			goto nomem;
		}
		if (n == 0) {
			// An empty input: a job that is done at once.
			if ((rv = tasq_persist_job(b, j)) != 0) {
				*why = "the journal cannot be written (disk "
				       "full or I/O error); retry later";
				goto fail;
			}
			tasq_broker_job_check_done(b, j);
			return (0);
		}
	} else if (req->last && !j->sealed) {
		seal = true;
	}
	if ((rv = tasq_broker_ivals_reserve(j)) != 0 ||
	    (rv = tasq_broker_chunk_prepare(j, n, &req->payloads, &cp)) != 0) {
		goto nomem;
	}
	if ((rv = tasq_persist_submit(b, req)) != 0) {
		*why = "the journal cannot be written (disk full or I/O "
		       "error); retry later";
		goto fail;
	}
	// The job's priority after its first SUBMIT (replay makes the job
	// from that). Should this record be lost, the job keeps its priority
	// until a restart, and then has the default.
	if (new_j && req->priority != 0) {
		(void) tasq_persist_priority(b, req->job_id, j->priority);
	}
	// Nothing below can fail.
	tasq_broker_ivals_insert(j, first, first + n);
	tasq_broker_chunk_commit(b, j, &cp, first, n, &req->payloads, NULL);
	j->submitted += n;
	q->submitted += n;
	q->last_ms = now_ms;
	*accepted  = (uint32_t) n;
	tasq_broker_count(b, TASQ_CTR_SUBMITTED, n);
	queue_wake(q, wake);
	if (seal) {
		return (job_seal(b, j, true, why));
	}
	if (meta && (rv = tasq_persist_job(b, j)) != 0) {
		// The tasks are in: a retry is a duplicate, and records
		// the job's meta then (job_seal), if it ends the input.
		*why = "the journal cannot be written (disk full or I/O "
		       "error); retry later";
		return (rv);
	}
	return (0);
nomem:
	*why = "out of memory; retry later";
	rv   = NNG_ENOMEM;
fail:
	tasq_broker_chunk_prep_fini(&cp);
	if (new_j) {
		tasq_broker_job_unmake(b, j);
	}
	if (new_q) {
		tasq_broker_queue_remove(b, q);
	}
	return (rv);
}

int
tasq_broker_submit(tasq_broker *b, const tasq_submit_req *req, uint64_t now_ms,
    uint32_t *accepted, bool *dup, const char **why)
{
	tasq_waiter *wake = NULL;
	int          rv;

	nng_mtx_lock(b->mtx);
	rv = tasq_broker_submit_locked(
	    b, req, now_ms, accepted, dup, why, &wake);
	nng_mtx_unlock(b->mtx);
	wake_all(b, wake);
	return (rv);
}

// ---- lease -----------------------------------------------------------------

// The leases of wk marked cancelled (of ids when n > 0, else all of
// them) into out (room for max), marked told; returns whether one had not
// been told before.
static bool
cancelled_of(tasq_broker *b, struct worker *wk, const uint64_t *ids, size_t n,
    uint64_t *out, size_t max, size_t *nout)
{
	bool   fresh = false;
	size_t pos   = 0;
	void  *v;

	*nout = 0;
	for (size_t i = 0; i < n && *nout < max; i++) {
		struct lease *l = tasq_idmap_get(&b->leases, ids[i]);
		if (l != NULL && l->w == wk && l->cancelled) {
			fresh |= !l->told;
			l->told        = true;
			out[(*nout)++] = l->id;
		}
	}
	while (n == 0 && *nout < max &&
	    (v = tasq_idmap_next(&b->leases, &pos)) != NULL) {
		struct lease *l = v;
		if (l->w == wk && l->cancelled) {
			fresh |= !l->told;
			l->told        = true;
			out[(*nout)++] = l->id;
		}
	}
	return (fresh);
}

// The first lane of q of a type the worker serves with an unfinished
// task, from the one after the lane of the queue's last lease, so that a
// worker of several types takes them in turn; NULL: none.
static struct lane *
lane_ready(
    tasq_broker *b, struct queue *q, const char *const *types, size_t ntypes)
{
	for (size_t i = 0; i < q->nlanes; i++) {
		size_t at = (q->lane_next + i) % q->nlanes;
		for (size_t k = 0; k < ntypes; k++) {
			if (strcmp(q->lanes[at]->type, types[k]) == 0 &&
			    tasq_broker_ready_trim(b, q->lanes[at])) {
				q->lane_next = at + 1;
				return (q->lanes[at]);
			}
		}
	}
	return (NULL);
}

// A worker of several queues: the lane to lease from, of the queue of the
// lowest pass with tasks ready for it (*wqp); queues it finds nothing in
// catch up with its virtual time (no credit for an empty queue). NULL:
// nothing ready anywhere.
static struct lane *
lane_of_queues(tasq_broker *b, struct worker *wk, const char *const *types,
    size_t ntypes, uint64_t now_ms, struct wqueue **wqp)
{
	bool tried[TASQ_WIRE_MAX_QUEUES] = { false };

	for (size_t n = 0; n < wk->nqs; n++) {
		struct wqueue *wq = NULL;
		struct queue  *q;
		struct lane   *ln;
		size_t         at = 0;
		for (size_t i = 0; i < wk->nqs; i++) {
			if (!tried[i] &&
			    (wq == NULL ||
			        tasq_pass_before(wk->qs[i].pass, wq->pass))) {
				wq = &wk->qs[i];
				at = i;
			}
		}
		tried[at] = true;
		if ((q = tasq_broker_queue_find(b, wq->name)) != NULL &&
		    (ln = lane_ready(b, q, types, ntypes)) != NULL) {
			q->last_ms = now_ms;
			*wqp       = wq;
			return (ln);
		}
		if (tasq_pass_before(wq->pass, wk->qvtime)) {
			wq->pass = wk->qvtime;
		}
	}
	return (NULL);
}

int
tasq_broker_lease(tasq_broker *b, const char *queue, uint64_t worker_id,
    const char *worker_name, const char *const *types, size_t ntypes,
    uint32_t pipe_id, uint32_t max, uint64_t now_ms, tasq_lease_out *out,
    tasq_waiter *w, bool *parked)
{
	return (tasq_broker_lease_queues(b, queue, NULL, 0, worker_id,
	    worker_name, types, ntypes, pipe_id, max, now_ms, out, w, parked));
}

int
tasq_broker_lease_queues(tasq_broker *b, const char *queue,
    const tasq_queue_weight *queues, size_t nqueues, uint64_t worker_id,
    const char *worker_name, const char *const *types, size_t ntypes,
    uint32_t pipe_id, uint32_t max, uint64_t now_ms, tasq_lease_out *out,
    tasq_waiter *w, bool *parked)
{
	static const char *const legacy_types[] = { TASQ_TYPE_SQUARE };
	struct queue            *q              = NULL;
	struct worker           *wk;
	struct wqueue           *wq    = NULL;
	struct lane             *ln    = NULL;
	bool                     new_w = false, new_q = false;
	bool                     legacy = ntypes == 0;
	int                      rv     = 0;

	// Not the cancelled array: ncancelled says what it holds.
	memset(out, 0, offsetof(tasq_lease_out, cancelled));
	out->lease_ms = b->conf.lease_ms;
	*parked       = false;
	if (legacy) {
		types  = legacy_types;
		ntypes = 1;
	}
	if (max > b->conf.max_lease) {
		max = b->conf.max_lease;
	}
	nng_mtx_lock(b->mtx);
	if ((rv = tasq_broker_worker_touch(b, worker_id, worker_name, queue,
	         legacy ? NULL : types, legacy ? 0 : ntypes, pipe_id, now_ms,
	         &wk, &new_w)) != 0) {
		goto out;
	}
	if ((rv = tasq_broker_worker_queues(b, wk, queues, nqueues)) != 0) {
		goto fail;
	}
	// Leases of this worker that a cancel reached (rare: a branch on
	// the fast path). One not told before answers at once, unparked.
	if (wk->ncancel > 0 &&
	    cancelled_of(b, wk, NULL, 0, out->cancelled,
	        TASQ_WIRE_MAX_CANCELLED, &out->ncancelled)) {
		w = NULL;
	}
	if (max == 0) {
		goto out;
	}
	if (wk->nqs > 0) {
		// Several queues: they are not made here (a lease of one
		// makes its queue to park on; these park on the broker).
		if ((ln = lane_of_queues(b, wk, types, ntypes, now_ms, &wq)) ==
		    NULL) {
			if (w != NULL) {
				wlist_park(&b->mwaiters, w);
				*parked = true;
			}
			goto out;
		}
	} else {
		if ((rv = tasq_broker_queue_get(b, queue, &q, &new_q)) != 0) {
			goto fail;
		}
		q->last_ms = now_ms;
		if ((ln = lane_ready(b, q, types, ntypes)) == NULL) {
			if (w != NULL) {
				wlist_park(&q->waiters, w);
				*parked = true;
			}
			goto out;
		}
	}
	if ((rv = tasq_broker_lease_take(
	         b, ln, wk, pipe_id, max, legacy, now_ms, out)) == 0) {
		if (wq != NULL) {
			uint64_t n = 0;
			for (size_t i = 0; i < out->nbatches; i++) {
				n += out->batches[i].n;
			}
			wk->qvtime = wq->pass;
			wq->pass += n * (TASQ_STRIDE_ONE / wq->weight);
		}
		goto out;
	}
fail:
	if (new_q) {
		tasq_broker_queue_remove(b, q);
	}
	if (new_w) {
		tasq_broker_worker_forget(b, wk);
	}
out:
	nng_mtx_unlock(b->mtx);
	return (rv);
}

// ---- complete
// ----------------------------------------------------------------

// All or nothing as far as memory goes: the scratch columns and room in
// every job's result list are allocated before the first batch is
// journaled, so that a journaled result is always recorded. (If the
// journal fails at a later batch, or there is no memory for a batch's
// error messages, the earlier batches stand, in memory as in the
// journal, and the retry finds them duplicates.)
int
tasq_broker_complete(tasq_broker *b, uint64_t worker_id, size_t nres,
    const tasq_result_batch *res, uint64_t now_ms, tasq_complete_rep *out)
{
	tasq_waiter    *wake = NULL;
	struct worker  *wk;
	struct rscratch s;
	char          **copies = NULL; // of every message, in request order
	size_t          cap = 0, total = 0, bytes = 0, maxbytes = 0, at0;
	size_t          esz, emax = 0;
	bool            errs = false, fails = false;
	struct spare   *spares = NULL;
	int             rv     = 0;

	memset(out, 0, sizeof(*out));
	memset(&s, 0, sizeof(s));
	for (size_t bi = 0; bi < nres; bi++) {
		cap = res[bi].n > cap ? res[bi].n : cap;
		total += res[bi].n;
		bytes += res[bi].results.size;
		maxbytes = res[bi].results.size > maxbytes
		    ? res[bi].results.size
		    : maxbytes;
		errs |= res[bi].errors != NULL;
		fails |= res[bi].codes != NULL;
	}
	nng_mtx_lock(b->mtx);
	if (cap > 0 &&
	    ((s.ids = tasq_alloc(cap * sizeof(*s.ids))) == NULL ||
	        (s.codes = tasq_alloc(cap)) == NULL ||
	        (s.lens = tasq_alloc(cap * sizeof(*s.lens))) == NULL ||
	        (s.errs = tasq_alloc(cap * sizeof(*s.errs))) == NULL ||
	        (s.owned = tasq_alloc(cap * sizeof(*s.owned))) == NULL ||
	        (s.sp = tasq_alloc(cap * sizeof(*s.sp))) == NULL ||
	        (s.tries = tasq_alloc(cap * sizeof(*s.tries))) == NULL ||
	        (s.bury = tasq_alloc(cap * sizeof(*s.bury))) == NULL ||
	        (s.rids = tasq_alloc(cap * sizeof(*s.rids))) == NULL ||
	        (s.rsp = tasq_alloc(cap * sizeof(*s.rsp))) == NULL ||
	        (s.rtries = tasq_alloc(cap * sizeof(*s.rtries))) == NULL ||
	        (s.data = tasq_alloc(maxbytes + 1)) == NULL)) {
		rv = NNG_ENOMEM;
		goto out;
	}
	// Every message is copied before anything is journaled, so that a
	// request is all or nothing.
	if (errs && (copies = tasq_calloc(total, sizeof(*copies))) == NULL) {
		rv = NNG_ENOMEM;
		goto out;
	}
	at0 = 0;
	for (size_t bi = 0; bi < nres && errs; bi++) {
		for (size_t i = 0; res[bi].errors != NULL && i < res[bi].n;
		     i++) {
			const char *e  = res[bi].errors[i];
			size_t      el = e != NULL ? strlen(e) + 1 : 0;
			if (el > 1 &&
			    (copies[at0 + i] = tasq_alloc(el)) == NULL) {
				rv = NNG_ENOMEM;
				goto out;
			}
			if (el > 1) {
				memcpy(copies[at0 + i], e, el);
			}
		}
		// Room for the messages of the batch's record.
		esz = tasq_persist_errs_size(
		    res[bi].n, (const char *const *) res[bi].errors);
		emax = esz > emax ? esz : emax;
		at0 += res[bi].n;
	}
	if (errs && (s.ebuf = tasq_alloc(emax + 1)) == NULL) {
		rv = NNG_ENOMEM;
		goto out;
	}
	// Failures that may be retried or buried: their ranges and letters.
	if (fails &&
	    ((spares = tasq_calloc(total, sizeof(*spares))) == NULL ||
	        (rv = tasq_broker_spare_prepare(b, nres, res, spares)) != 0)) {
		rv = NNG_ENOMEM;
		goto out;
	}
	// Room for every result of the request in each job it names (more
	// than each needs when it names several: harmless).
	for (size_t bi = 0; bi < nres; bi++) {
		struct job *j = tasq_idmap_get(&b->jobs, res[bi].job_id);
		if (j != NULL && !j->closed &&
		    (rv = tasq_broker_results_reserve(
		         j, total, bytes, errs)) != 0) {
			goto out;
		}
	}
	// Nothing below runs out of memory.
	wk = tasq_idmap_get(&b->workers, worker_id);
	if (wk != NULL) {
		wk->last_ms = now_ms;
	}
	at0 = 0;
	for (size_t bi = 0; bi < nres && rv == 0; bi++) {
		const tasq_result_batch *rb = &res[bi];
		struct job   *j    = tasq_idmap_get(&b->jobs, rb->job_id);
		struct lease *l    = tasq_idmap_get(&b->leases, rb->lease_id);
		struct chunk *hint = NULL;
		size_t        at   = 0;
		char        **own  = copies != NULL ? copies + at0 : NULL;
		bool          live;

		// A result counts as on time only if it comes from the
		// worker that holds the lease now.
		live = l != NULL && l->w != NULL && l->w->id == worker_id;
		at0 += rb->n;
		if (j == NULL || j->closed || j->cancelled) {
			out->rejected += (uint32_t) rb->n;
			tasq_broker_count(b, TASQ_CTR_REJECTED_RESULTS, rb->n);
			// Tasks of a closed job count as done: a lease left
			// with nothing else ends now, not when it expires.
			if (l != NULL && tasq_broker_lease_finished(l)) {
				tasq_broker_lease_end(b, l, false, &wake);
			}
			continue;
		}
		// First the results that are news, which are journaled
		// before they change anything.
		tasq_broker_result_sort(b, j, rb, live ? l : NULL, own,
		    spares != NULL ? spares + at0 - rb->n : NULL, &s, out);
		// The retries' attempts first: a journal failing after
		// them leaves attempts that were made, nothing more.
		if (s.nretry > 0) {
			rv = tasq_persist_tries(b, j->id, s.nretry, s.rtries);
		}
		if (rv == 0 && s.n > 0) {
			rv = tasq_persist_results(b, j->id, s.n, s.ids,
			    s.codes, s.lens, s.bytes, s.anyerr ? s.errs : NULL,
			    s.ebuf);
		}
		if (rv != 0) {
			for (size_t i = 0; i < s.n; i++) {
				free(s.owned[i]);
			}
			break;
		}
		for (size_t i = 0; i < s.n; i++) {
			struct chunk *c =
			    tasq_broker_chunk_of_hint(j, s.ids[i], &hint);
			uint32_t       off = (uint32_t) (s.ids[i] - c->first);
			const uint8_t *p   = s.bytes + at;
			bool           ok;
			at += s.lens[i];
			if (tasq_broker_task_done(c, off)) {
				// The same id twice in one batch.
				free(s.owned[i]);
				out->duplicates++;
				tasq_broker_count(
				    b, TASQ_CTR_DUPLICATE_RESULTS, 1);
				continue;
			}
			if (s.bury[i]) {
				// The last attempt failed: a dead letter.
				struct dead *d = s.sp[i]->d;
				s.sp[i]->d     = NULL;
				d->attempts    = s.tries[i];
				tasq_broker_task_bury(b, c, off, p, s.lens[i],
				    s.codes[i], s.owned[i], d, &wake);
			} else {
				ok = tasq_broker_task_finish(b, c, off, p,
				    s.lens[i], s.codes[i], s.owned[i], &wake);
				assert(ok); // room reserved above
				(void) ok;
			}
			if (wk != NULL) {
				wk->completed++;
				wk->failed += s.codes[i] != 0;
			}
			if (live) {
				out->accepted++;
			} else {
				out->late++;
				tasq_broker_count(b, TASQ_CTR_LATE_RESULTS, 1);
			}
		}
		// Failures to try again: out of the lease, back after their
		// backoff (their attempts and backoff journaled above).
		for (size_t i = 0; i < s.nretry; i++) {
			struct chunk *c =
			    tasq_broker_chunk_of_hint(j, s.rids[i], &hint);
			tasq_broker_lease_retry(b, l, c,
			    (uint32_t) (s.rids[i] - c->first), now_ms,
			    s.rtries[i].not_before_ms, &s.rsp[i]->r1,
			    &s.rsp[i]->r2, &wake);
			out->accepted++;
			tasq_broker_count(b, TASQ_CTR_RETRIED, 1);
			j->q->retried++;
			if (wk != NULL) {
				wk->retried++;
			}
		}
		j->last_ms    = now_ms;
		j->q->last_ms = now_ms;
		if (l != NULL && tasq_broker_lease_finished(l)) {
			(void) tasq_broker_lease_end(b, l, false, &wake);
		}
	}
out:
	nng_mtx_unlock(b->mtx);
	wake_all(b, wake);
	free(s.ids);
	free(s.codes);
	free(s.lens);
	free(s.errs);
	free(s.owned);
	free(s.sp);
	free(s.tries);
	free(s.bury);
	free(s.rids);
	free(s.rsp);
	free(s.rtries);
	tasq_broker_spare_fini(spares, total);
	free(s.ebuf);
	free(s.data);
	for (size_t i = 0; copies != NULL && i < total; i++) {
		free(copies[i]);
	}
	free(copies);
	return (rv);
}

// ---- extend, release
// -----------------------------------------------------------

void
tasq_broker_extend(tasq_broker *b, uint64_t worker_id, size_t n,
    const uint64_t *ids, uint64_t now_ms, uint64_t *unknown, size_t *nunknown,
    uint32_t *lease_ms)
{
	tasq_broker_extend_cancelled(b, worker_id, n, ids, now_ms, unknown,
	    nunknown, NULL, NULL, lease_ms);
}

void
tasq_broker_extend_cancelled(tasq_broker *b, uint64_t worker_id, size_t n,
    const uint64_t *ids, uint64_t now_ms, uint64_t *unknown, size_t *nunknown,
    uint64_t *cancelled, size_t *ncancelled, uint32_t *lease_ms)
{
	struct worker *wk = NULL;

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
		wk            = l->w;
	}
	if (ncancelled != NULL) {
		*ncancelled = 0;
		if (wk != NULL && wk->ncancel > 0) {
			(void) cancelled_of(
			    b, wk, ids, n, cancelled, n, ncancelled);
		}
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
		(void) tasq_broker_lease_end(b, l, false, &wake);
	}
	nng_mtx_unlock(b->mtx);
	wake_all(b, wake);
	return (released);
}

// ---- fetch, close
// ----------------------------------------------------------------

int
tasq_broker_fetch(tasq_broker *b, uint64_t job_id, uint64_t ack_seq,
    uint32_t max, uint64_t now_ms, tasq_fetch_out *out, tasq_waiter *w,
    bool *parked)
{
	struct job *j;
	int         rv = 0;

	memset(out, 0, sizeof(*out));
	*parked = false;
	if (max == 0 || max > b->conf.max_fetch) {
		max = b->conf.max_fetch;
	}
	nng_mtx_lock(b->mtx);
	if ((j = tasq_broker_job_find(b, job_id)) == NULL) {
		rv = TASQ_ENOT_FOUND;
		goto out;
	}
	j->last_ms = now_ms;
	// Unfinished tasks that no worker would take: the client is told.
	out->no_worker = tasq_broker_job_waiting(j) &&
	    tasq_broker_type_workers(b, tasq_broker_job_queue(j),
	        tasq_broker_job_type(j), now_ms) == 0;
	out->workers =
	    out->no_worker ? tasq_broker_workers_connected(b, now_ms) : 0;
	if ((rv = tasq_broker_job_fetch(b, j, ack_seq, max, out)) == 0 &&
	    out->seq == 0) {
		if (j->cancelled) {
			// Every result it will have was delivered.
			tasq_broker_fetch_fini(out);
			rv = TASQ_ECANCELLED;
		} else if (w != NULL) {
			wlist_park(&j->waiters, w);
			*parked = true;
		}
	}
out:
	nng_mtx_unlock(b->mtx);
	return (rv);
}

void
tasq_broker_fetch_fini(tasq_fetch_out *out)
{
	free(out->mem_);
	out->mem_ = NULL;
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
		uint64_t acked = tasq_broker_job_acked(j, ack_seq);
		*dropped       = tasq_broker_job_close(b, j, &wake) - acked;
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
			if (tasq_broker_lease_end(b, gone[i], true, &wake) !=
			    0) {
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
			if (tasq_broker_lease_end(b, list[i], true, &wake) !=
			    0) {
				continue; // out of memory: next tick
			}
			tasq_broker_count(b, TASQ_CTR_LEASES_EXPIRED, 1);
		}
		k   = 0;
		pos = 0;
		while ((v = tasq_idmap_next(&b->jobs, &pos)) != NULL) {
			struct job *j = v;
			// A detached job with all its input is not
			// abandoned: it lives until its results expire.
			if (!j->closed && !(j->keep && j->sealed) &&
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
			tasq_broker_worker_forget(b, list[i]);
		}
		free(list);
	}
	tasq_broker_jobs_expire(b, &wake);
	tasq_broker_delayed_due(b, now_ms, &wake);
	tasq_broker_queue_gc(b, now_ms, false);
	nng_mtx_unlock(b->mtx);
	wake_all(b, wake);
}

// ---- recovery and compaction ------------------------------------------

int
tasq_broker_recover(tasq_broker *b, tasq_journal *j, char *err, size_t errlen,
    uint64_t *records, uint64_t *bytes)
{
	int rv;

	nng_mtx_lock(b->mtx);
	b->recovering = true;
	rv            = tasq_persist_replay(b, j, records, bytes, err, errlen);
	tasq_broker_ready_normalize(b);
	{
		// Jobs whose last result came in the journal's tail: done
		// now (their result TTL counts from the restart).
		size_t      pos = 0;
		struct job *jb;
		while ((jb = tasq_broker_job_next(b, &pos)) != NULL) {
			tasq_broker_job_check_done(b, jb);
		}
	}
	// Queues of closed jobs only: gone, and within --max-queues again.
	tasq_broker_queue_gc(b, 0, true);
	b->recovering = false;
	b->journal    = j;
	nng_mtx_unlock(b->mtx);
	return (rv);
}

int
tasq_broker_compact(tasq_broker *b)
{
	uint8_t    *buf = NULL;
	size_t      len = 0, cap = 0, pos = 0;
	struct job *j;
	int         rv = 0;

	if (b->journal == NULL || !tasq_journal_needs_compact(b->journal)) {
		return (0);
	}
	// Built and handed over under the lock, so that the snapshot and
	// the records after it meet exactly.
	nng_mtx_lock(b->mtx);
	while (rv == 0 && (j = tasq_broker_job_next(b, &pos)) != NULL) {
		rv = tasq_persist_snap_job(j, &buf, &len, &cap);
	}
	if (rv == 0) {
		rv = tasq_persist_snap_tries(b, &buf, &len, &cap);
	}
	if (rv == 0) {
		rv = tasq_persist_snap_dead(b, &buf, &len, &cap);
	}
	if (rv == 0) {
		rv = tasq_persist_snap_expired(b, &buf, &len, &cap);
	}
	if (rv == 0) {
		rv  = tasq_journal_rotate(b->journal, buf, len);
		buf = NULL;
	}
	nng_mtx_unlock(b->mtx);
	free(buf);
	if (rv != 0) {
		tasq_warn("compaction skipped: %s", tasq_strerror(rv));
	}
	return (rv);
}

// ---- dead letters ----------------------------------------------------------

int
tasq_broker_dead_list(tasq_broker *b, const char *queue, uint64_t after_id,
    uint32_t max, bool payloads, tasq_rep *rep)
{
	int rv;

	nng_mtx_lock(b->mtx);
	rv = tasq_broker_dead_list_locked(
	    b, queue, after_id, max, payloads, rep);
	nng_mtx_unlock(b->mtx);
	return (rv);
}

int
tasq_broker_dead_purge(tasq_broker *b, const uint64_t *ids, size_t n, bool all,
    const char *queue, uint64_t *purged)
{
	int rv;

	*purged = 0;
	nng_mtx_lock(b->mtx);
	if ((rv = tasq_persist_dead_purge(b, ids, n, all, queue)) == 0) {
		*purged = tasq_broker_dead_remove(b, ids, n, all, queue);
	}
	nng_mtx_unlock(b->mtx);
	return (rv);
}
