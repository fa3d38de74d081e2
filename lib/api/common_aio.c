// common_aio: tasq_aio, the asynchronous operation of the public API, in
// nng's style: a provider begins an operation, registers how to cancel
// it and finishes it once; the callback then runs on an nng thread
// (never inside the provider's or a canceller's call), and waiters wake
// once it has returned.
//
// Timeouts (tasq_aio_set_timeout) are one thread's of the process: a
// list of the operations that have a deadline, kept in deadline order
// (short: one entry per aio in flight). The thread aborts an operation
// whose deadline passed as tasq_aio_cancel would, outside its lock;
// finish takes the entry out, and tasq_aio_free waits until the thread
// is not firing at the aio it frees. (An nng timer per aio would have
// to be waited for before it could be armed again, and that wait, in a
// callback that starts the next operation, could starve nng's taskq.)
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"

struct tasq_aio {
	nng_mtx *mtx;
	nng_cv  *cv;
	void (*cb)(void *);
	void *arg;
	// The callback's dispatcher (nng_sleep_aio(0): nng's taskq runs
	// it).
	nng_aio *cbaio;
	int32_t  timeout_ms;
	// The timer's entry (guarded by the timer's lock, tmr below).
	bool             tmo_on;
	nng_time         tmo_at;
	uint64_t         tmo_gen;
	struct tasq_aio *tmo_next;
	// An operation: busy from begin until its callback has returned
	// (or, without a callback, until finish); finished once finish
	// was called (first wins). gen tells one operation's timer from
	// the next's.
	bool               busy, finished, in_cb;
	uint64_t           gen;
	tasq_api_cancel_fn cancel;
	void              *cancel_arg;
	int                result;
	char               msg[512];
};

static void
aio_cb(void *arg)
{
	tasq_aio *aio = arg;

	nng_mtx_lock(aio->mtx);
	aio->busy  = false;
	aio->in_cb = true;
	nng_mtx_unlock(aio->mtx);
	if (aio->cb != NULL) {
		aio->cb(aio->arg);
	}
	nng_mtx_lock(aio->mtx);
	aio->in_cb = false;
	nng_cv_wake(aio->cv);
	nng_mtx_unlock(aio->mtx);
}

static void
abort_op(tasq_aio *aio, uint64_t gen, int rv)
{
	tasq_api_cancel_fn fn;
	void              *arg;

	nng_mtx_lock(aio->mtx);
	if (!aio->busy || aio->finished || aio->gen != gen) {
		nng_mtx_unlock(aio->mtx);
		return;
	}
	fn          = aio->cancel;
	arg         = aio->cancel_arg;
	aio->cancel = NULL;
	nng_mtx_unlock(aio->mtx);
	if (fn != NULL) {
		fn(aio, arg, rv);
	}
}

static struct {
	pthread_mutex_t mtx;
	pthread_cond_t  cv;
	bool            started;
	tasq_aio       *list;   // by tmo_at
	tasq_aio       *firing; // being aborted, outside the lock
} tmr = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, NULL,
	NULL };

static void *
timer_main(void *arg)
{
	(void) arg;
	pthread_mutex_lock(&tmr.mtx);
	for (;;) {
		tasq_aio *aio = tmr.list;
		nng_time  now = nng_clock();
		if (aio == NULL) {
			pthread_cond_wait(&tmr.cv, &tmr.mtx);
			continue;
		}
		if (aio->tmo_at > now) {
			struct timespec ts;
			uint64_t        ms = aio->tmo_at - now;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += (time_t) (ms / 1000);
			ts.tv_nsec += (long) (ms % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			(void) pthread_cond_timedwait(&tmr.cv, &tmr.mtx, &ts);
			continue;
		}
		tmr.list     = aio->tmo_next;
		aio->tmo_on  = false;
		tmr.firing   = aio;
		uint64_t gen = aio->tmo_gen;
		pthread_mutex_unlock(&tmr.mtx);
		abort_op(aio, gen, TASQ_EDEADLINE_EXCEEDED);
		pthread_mutex_lock(&tmr.mtx);
		tmr.firing = NULL;
		pthread_cond_broadcast(&tmr.cv);
	}
	return (NULL);
}

// Arms aio's timeout for operation gen. Fails only when the thread
// cannot start (then the operation has no deadline).
static int
timer_add(tasq_aio *aio, uint64_t gen, int32_t ms)
{
	tasq_aio **pp;
	pthread_t  t;

	pthread_mutex_lock(&tmr.mtx);
	if (!tmr.started) {
		if (pthread_create(&t, NULL, timer_main, NULL) != 0) {
			pthread_mutex_unlock(&tmr.mtx);
			return (TASQ_ERESOURCE_EXHAUSTED);
		}
		pthread_detach(t);
		tmr.started = true;
	}
	if (aio->tmo_on) {
		// A late entry of the previous operation (armed after it
		// finished): replaced.
		for (pp = &tmr.list; *pp != NULL; pp = &(*pp)->tmo_next) {
			if (*pp == aio) {
				*pp = aio->tmo_next;
				break;
			}
		}
	}
	aio->tmo_at  = nng_clock() + (nng_time) ms;
	aio->tmo_gen = gen;
	aio->tmo_on  = true;
	for (pp = &tmr.list; *pp != NULL && (*pp)->tmo_at <= aio->tmo_at;
	     pp = &(*pp)->tmo_next) {
	}
	aio->tmo_next = *pp;
	*pp           = aio;
	pthread_cond_broadcast(&tmr.cv);
	pthread_mutex_unlock(&tmr.mtx);
	return (0);
}

// Disarms aio's timeout; wait: also until the thread is not aborting
// it (tasq_aio_free).
static void
timer_remove(tasq_aio *aio, bool wait)
{
	pthread_mutex_lock(&tmr.mtx);
	if (aio->tmo_on) {
		for (tasq_aio **pp = &tmr.list; *pp != NULL;
		     pp            = &(*pp)->tmo_next) {
			if (*pp == aio) {
				*pp = aio->tmo_next;
				break;
			}
		}
		aio->tmo_on = false;
	}
	while (wait && tmr.firing == aio) {
		pthread_cond_wait(&tmr.cv, &tmr.mtx);
	}
	pthread_mutex_unlock(&tmr.mtx);
}

TASQ_API int
tasq_aio_alloc(tasq_aio **aiop, void (*cb)(void *), void *arg)
{
	tasq_aio *aio;

	tasq_api_clear();
	if (aiop == NULL) {
		return (tasq_api_fail(
		    TASQ_EINVALID_ARGUMENT, "tasq_aio_alloc: aiop is NULL"));
	}
	if ((aio = calloc(1, sizeof(*aio))) == NULL) {
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	aio->cb         = cb;
	aio->arg        = arg;
	aio->timeout_ms = -1;
	if (nng_mtx_alloc(&aio->mtx) != 0 ||
	    nng_cv_alloc(&aio->cv, aio->mtx) != 0 ||
	    nng_aio_alloc(&aio->cbaio, aio_cb, aio) != 0) {
		tasq_aio_free(aio);
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	*aiop = aio;
	return (0);
}

TASQ_API void
tasq_aio_free(tasq_aio *aio)
{
	if (aio == NULL) {
		return;
	}
	if (aio->mtx != NULL && aio->cv != NULL && aio->cbaio != NULL) {
		tasq_aio_stop(aio);
	}
	timer_remove(aio, true);
	if (aio->cbaio != NULL) {
		nng_aio_free(aio->cbaio);
	}
	if (aio->cv != NULL) {
		nng_cv_free(aio->cv);
	}
	if (aio->mtx != NULL) {
		nng_mtx_free(aio->mtx);
	}
	free(aio);
}

TASQ_API void
tasq_aio_cancel(tasq_aio *aio)
{
	uint64_t gen;

	if (aio == NULL) {
		return;
	}
	nng_mtx_lock(aio->mtx);
	gen = aio->gen;
	nng_mtx_unlock(aio->mtx);
	abort_op(aio, gen, TASQ_ECANCELLED);
}

TASQ_API void
tasq_aio_wait(tasq_aio *aio)
{
	if (aio == NULL) {
		return;
	}
	nng_mtx_lock(aio->mtx);
	while (aio->busy || aio->in_cb) {
		nng_cv_wait(aio->cv);
	}
	nng_mtx_unlock(aio->mtx);
}

TASQ_API void
tasq_aio_stop(tasq_aio *aio)
{
	tasq_aio_cancel(aio);
	tasq_aio_wait(aio);
}

TASQ_API bool
tasq_aio_busy(tasq_aio *aio)
{
	bool busy;

	if (aio == NULL) {
		return (false);
	}
	nng_mtx_lock(aio->mtx);
	busy = aio->busy && !aio->finished;
	nng_mtx_unlock(aio->mtx);
	return (busy);
}

TASQ_API void
tasq_aio_set_timeout(tasq_aio *aio, int32_t timeout_ms)
{
	if (aio == NULL) {
		return;
	}
	nng_mtx_lock(aio->mtx);
	aio->timeout_ms = timeout_ms < 0 ? -1 : timeout_ms;
	nng_mtx_unlock(aio->mtx);
}

TASQ_API int
tasq_aio_result(tasq_aio *aio)
{
	int rv;

	if (aio == NULL) {
		return (TASQ_EINVALID_ARGUMENT);
	}
	nng_mtx_lock(aio->mtx);
	rv = aio->result;
	nng_mtx_unlock(aio->mtx);
	return (rv);
}

TASQ_API const char *
tasq_aio_errmsg(tasq_aio *aio)
{
	// Written only while the operation runs; read after it completed.
	return (aio != NULL ? aio->msg : "");
}

int
tasq_api_aio_begin(tasq_aio *aio)
{
	if (aio == NULL) {
		return (
		    tasq_api_fail(TASQ_EINVALID_ARGUMENT, "the aio is NULL"));
	}
	nng_mtx_lock(aio->mtx);
	if (aio->busy) {
		nng_mtx_unlock(aio->mtx);
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "the aio has an operation in flight"));
	}
	aio->busy     = true;
	aio->finished = false;
	aio->cancel   = NULL;
	aio->gen++;
	nng_mtx_unlock(aio->mtx);
	return (0);
}

void
tasq_api_aio_defer(tasq_aio *aio, tasq_api_cancel_fn fn, void *arg)
{
	int32_t  timeout;
	uint64_t gen;
	bool     arm;

	nng_mtx_lock(aio->mtx);
	timeout = aio->timeout_ms;
	gen     = aio->gen;
	arm     = !aio->finished && timeout >= 0 && fn != NULL;
	if (!aio->finished) {
		aio->cancel     = fn;
		aio->cancel_arg = arg;
	}
	nng_mtx_unlock(aio->mtx);
	// (A timeout that cannot be armed leaves the operation without a
	// deadline; the thread's start is what could fail.)
	if (arm) {
		(void) timer_add(aio, gen, timeout);
	}
}

bool
tasq_api_aio_finish(tasq_aio *aio, int rv, const char *msg)
{
	nng_mtx_lock(aio->mtx);
	if (!aio->busy || aio->finished) {
		nng_mtx_unlock(aio->mtx);
		return (false);
	}
	aio->finished = true;
	aio->cancel   = NULL;
	aio->result   = tasq_api_err(rv);
	snprintf(aio->msg, sizeof(aio->msg), "%s",
	    rv != 0 && msg != NULL ? msg : "");
	nng_mtx_unlock(aio->mtx);
	timer_remove(aio, false);
	// The callback runs on nng's taskq, never on the finisher's
	// thread (which may hold a provider's lock). An aio without one
	// completes here (only its lock is taken, after the provider's):
	// a trip through nng's expire thread and taskq per operation cost
	// a waiting program (tasq submit) a tenth of its CPU.
	if (aio->cb == NULL) {
		aio_cb(aio);
		return (true);
	}
	nng_sleep_aio(0, aio->cbaio);
	return (true);
}

int
tasq_api_aio_run(int (*start)(tasq_aio *, void *), void *arg)
{
	tasq_aio *aio;
	int       rv;

	if ((rv = tasq_aio_alloc(&aio, NULL, NULL)) != 0) {
		return (rv);
	}
	if ((rv = start(aio, arg)) == 0) {
		tasq_aio_wait(aio);
		rv = aio->result;
		tasq_api_set_msg(aio->msg);
	}
	tasq_aio_free(aio);
	return (rv);
}
