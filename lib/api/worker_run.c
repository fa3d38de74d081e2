// worker_run: tasq_serve_run, the convenience loop of include/tasq/
// worker.h: lease, run the batch through the handler of its type, hand
// the results back with the next Lease (tasq_lease_done), on nthreads
// threads so that the network and the computation overlap, as
// tasq-worker's lease threads do (worker/serve.c), until tasq_serve_stop.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "worker_int.h"

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000
#define DRAIN_MS 10000 // how long results may take to go at the end

struct run {
	struct tasq_serve        *w;
	const tasq_serve_handler *h;
	size_t                    nh;
	nng_mtx                  *mtx;
	int                       rv;       // the first permanent error
	char                      msg[512]; // and its message
};

// Errors worth another Lease after a pause: no answer, a lost
// connection, a server that is full or cannot journal now.
static bool
transient(int rv)
{
	switch (rv) {
	case TASQ_EDEADLINE_EXCEEDED:
	case TASQ_EUNAVAILABLE:
	case TASQ_ERESOURCE_EXHAUSTED:
	case TASQ_EABORTED:
	case TASQ_EINTERNAL:
	case NNG_ENOMEM:
	case NNG_ETIMEDOUT:
	case NNG_ECONNREFUSED:
	case NNG_ECONNRESET:
	case NNG_ECONNSHUT:
	case NNG_ECONNABORTED:
	case NNG_EUNREACHABLE:
	case NNG_EAGAIN:
	case NNG_ESTATE:
	case NNG_ECANCELED:
		return (true);
	default:
		return (false);
	}
}

// The code a handler's return value fails a task with: TASQ_E* or 1..16
// as is, anything else UNKNOWN (retried).
static int
code_of(int r)
{
	if ((r > 0 && r <= TASQ_CODE_MAX) ||
	    (r > TASQ_ERR_BASE && r <= TASQ_ERR_BASE + TASQ_CODE_MAX)) {
		return (r);
	}
	return (TASQ_EUNKNOWN);
}

static void
run_lease(struct run *r, tasq_lease *l)
{
	const tasq_serve_handler *h    = NULL;
	const char               *type = tasq_lease_type(l);
	size_t                    n    = tasq_lease_count(l);

	for (size_t i = 0; i < r->nh; i++) {
		if (strcmp(r->h[i].type, type) == 0) {
			h = &r->h[i];
			break;
		}
	}
	if (h == NULL) {
		// Never asked for (a broker bug): failed, to be retried.
		for (size_t i = 0; i < n; i++) {
			(void) tasq_lease_fail(l, i, TASQ_EUNIMPLEMENTED,
			    "this worker has no handler for the type");
		}
		tasq_lease_done(l);
		return;
	}
	if (h->batch_fn != NULL) {
		int rv = h->batch_fn(h->arg, l);
		if (rv != 0) {
			for (size_t i = 0; i < n; i++) {
				if (!l->rset[i]) {
					(void) tasq_lease_fail(
					    l, i, code_of(rv), NULL);
				}
			}
		}
		tasq_lease_done(l);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		size_t      len;
		const void *p = tasq_lease_payload(l, i, &len);
		int         rv;
		if (atomic_load(&r->w->stop)) {
			break;
		}
		// A cancelled job's tasks are given back, not computed
		// (their results would be refused).
		if (tasq_lease_cancelled(l, i)) {
			continue;
		}
		rv = h->task_fn(h->arg, l, i, p, len);
		if (rv != 0 && (l->codes == NULL || l->codes[i] == 0)) {
			(void) tasq_lease_fail(l, i, code_of(rv), NULL);
		} else if (!l->rset[i]) {
			(void) tasq_lease_put(l, i, NULL, 0);
		}
	}
	// Tasks left without a result (stopped, cancelled) are released
	// once the others' results are in (tasq_lease_done).
	tasq_lease_done(l);
}

static void
sleep_stop(struct tasq_serve *w, uint32_t ms)
{
	for (uint32_t t = 0; t < ms && !atomic_load(&w->stop); t += 50) {
		nng_msleep(ms - t < 50 ? ms - t : 50);
	}
}

static void
run_loop(void *arg)
{
	struct run        *r       = arg;
	struct tasq_serve *w       = r->w;
	uint32_t           backoff = 0;
	bool               retry_refusal;

	nng_mtx_lock(w->mtx);
	retry_refusal = w->refusal_retry;
	nng_mtx_unlock(w->mtx);

	while (!atomic_load(&w->stop)) {
		tasq_lease *l = NULL;
		int         rv;
		if ((rv = tasq_serve_lease(&l, w)) != 0) {
			if (!transient(rv) &&
			    !(rv == TASQ_EUNAUTHENTICATED && retry_refusal)) {
				nng_mtx_lock(r->mtx);
				if (r->rv == 0) {
					r->rv = rv;
					snprintf(r->msg, sizeof(r->msg), "%s",
					    tasq_errmsg());
				}
				nng_mtx_unlock(r->mtx);
				atomic_store(&w->stop, true);
				break;
			}
			backoff = backoff != 0 ? backoff * 2 : BACKOFF_MIN_MS;
			backoff = backoff < BACKOFF_MAX_MS ? backoff
			                                   : BACKOFF_MAX_MS;
			// (The lease call redials after failures in a row;
			// a refusal's backoff is the handle's.)
			sleep_stop(w, backoff);
			continue;
		}
		backoff = 0;
		if (l != NULL) {
			run_lease(r, l);
		}
	}
}

TASQ_API int
tasq_serve_run(tasq_serve *w, const tasq_serve_handler *handlers, size_t n,
    uint32_t nthreads)
{
	struct run   r;
	nng_thread **thr;
	nng_time     until;
	int          rv;

	if (w == NULL || handlers == NULL || n == 0 || nthreads == 0 ||
	    nthreads > 256) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_serve_run: no handler, or nthreads not 1 to 256"));
	}
	for (size_t i = 0; i < n; i++) {
		if (handlers[i].type == NULL ||
		    (handlers[i].task_fn == NULL) ==
		        (handlers[i].batch_fn == NULL)) {
			return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
			    "handler %zu: a type and one of task_fn and "
			    "batch_fn are needed",
			    i));
		}
		rv = tasq_serve_add_type(w, handlers[i].type);
		if (rv != 0 && rv != TASQ_EALREADY_EXISTS) {
			return (rv);
		}
	}
	memset(&r, 0, sizeof(r));
	r.w  = w;
	r.h  = handlers;
	r.nh = n;
	if (nng_mtx_alloc(&r.mtx) != 0) {
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	if ((thr = calloc(nthreads, sizeof(*thr))) == NULL) {
		nng_mtx_free(r.mtx);
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	for (uint32_t i = 1; i < nthreads; i++) {
		if ((rv = nng_thread_create(&thr[i], run_loop, &r)) != 0) {
			r.rv = rv;
			atomic_store(&w->stop, true);
			break;
		}
	}
	if (!atomic_load(&w->stop)) {
		run_loop(&r); // the caller's thread is the first loop
	}
	for (uint32_t i = 1; i < nthreads; i++) {
		if (thr[i] != NULL) {
			nng_thread_destroy(thr[i]); // joins
		}
	}
	free(thr);
	// The last results go now, by Complete (a few tries, bounded).
	until = nng_clock() + DRAIN_MS;
	while ((rv = tasq_serve_flush(w)) != 0 && nng_clock() < until) {
		nng_msleep(200);
	}
	if (r.rv == 0 && rv != 0) {
		r.rv = rv;
		snprintf(r.msg, sizeof(r.msg), "%s", tasq_errmsg());
	}
	nng_mtx_free(r.mtx);
	return (r.rv != 0 ? tasq_api_fail(r.rv, "%s", r.msg) : 0);
}
