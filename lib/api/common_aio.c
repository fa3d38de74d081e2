// common_aio: tasq_aio, the asynchronous operation of the public API, in
// nng's style: a provider begins an operation, registers how to cancel
// it and finishes it once; the callback then runs on an nng thread
// (never inside the provider's or a canceller's call), and waiters wake
// once it has returned.
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
	// it) and the timeout's timer.
	nng_aio *cbaio;
	nng_aio *timer;
	int32_t  timeout_ms;
	// An operation: busy from begin until its callback has returned
	// (or, without a callback, until finish); finished once finish
	// was called (first wins). gen tells one operation's timer from
	// the next's.
	bool               busy, finished, in_cb;
	uint64_t           gen, timer_gen;
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

static void
timer_cb(void *arg)
{
	tasq_aio *aio = arg;
	uint64_t  gen;

	if (nng_aio_result(aio->timer) != 0) {
		return; // cancelled: the operation ended first
	}
	nng_mtx_lock(aio->mtx);
	gen = aio->timer_gen;
	nng_mtx_unlock(aio->mtx);
	abort_op(aio, gen, TASQ_EDEADLINE_EXCEEDED);
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
	    nng_aio_alloc(&aio->cbaio, aio_cb, aio) != 0 ||
	    nng_aio_alloc(&aio->timer, timer_cb, aio) != 0) {
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
	if (aio->mtx != NULL && aio->cv != NULL && aio->cbaio != NULL &&
	    aio->timer != NULL) {
		tasq_aio_stop(aio);
	}
	if (aio->timer != NULL) {
		nng_aio_free(aio->timer); // stops it first
	}
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
	// The previous operation's timer may still be on its way out.
	nng_aio_wait(aio->timer);
	return (0);
}

void
tasq_api_aio_defer(tasq_aio *aio, tasq_api_cancel_fn fn, void *arg)
{
	int32_t timeout;

	nng_mtx_lock(aio->mtx);
	timeout        = aio->timeout_ms;
	aio->timer_gen = aio->gen;
	if (!aio->finished) {
		aio->cancel     = fn;
		aio->cancel_arg = arg;
	}
	nng_mtx_unlock(aio->mtx);
	if (timeout >= 0 && fn != NULL) {
		nng_sleep_aio(timeout, aio->timer);
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
	nng_aio_cancel(aio->timer);
	// The callback runs on nng's taskq, never on the finisher's
	// thread (which may hold a provider's lock).
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
