// ticker: timed callbacks on one thread of the session's (api_int.h,
// "tickers"). The queue is kept in order of due time (a new tick is
// almost always the latest: it is inserted from the tail); the thread
// sleeps until the head is due, and its wake-up time (t->wake) only
// moves earlier when a tick is armed, so that arming a tick due after it
// costs no wake-up, and a tick stopped before it is due is dropped from
// the queue without waking the thread (it wakes at its time, finds
// nothing due and sleeps again until the new head).
#include <stdint.h>
#include <string.h>

#include "api_int.h"

#define NEVER UINT64_MAX

int
tasq_api_ticker_init(tasq_api_ticker *t)
{
	int rv;

	memset(t, 0, sizeof(*t));
	t->wake = NEVER;
	if ((rv = nng_mtx_alloc(&t->mtx)) != 0) {
		return (rv);
	}
	if ((rv = nng_cv_alloc(&t->cv, t->mtx)) != 0) {
		nng_mtx_free(t->mtx);
		t->mtx = NULL;
		return (rv);
	}
	return (0);
}

static void
unlink_tick(tasq_api_ticker *t, tasq_api_tick *k)
{
	if (k->prev != NULL) {
		k->prev->next = k->next;
	} else {
		t->head = k->next;
	}
	if (k->next != NULL) {
		k->next->prev = k->prev;
	} else {
		t->tail = k->prev;
	}
	k->prev = k->next = NULL;
	k->queued         = false;
}

static void
ticker_run(void *arg)
{
	tasq_api_ticker *t = arg;

	nng_mtx_lock(t->mtx);
	while (!t->stop) {
		tasq_api_tick *k   = t->head;
		nng_time       now = nng_clock();

		if (k != NULL && k->when <= now) {
			unlink_tick(t, k);
			t->firing = k;
			nng_mtx_unlock(t->mtx);
			k->fn(k->arg);
			nng_mtx_lock(t->mtx);
			t->firing = NULL;
			nng_cv_wake(t->cv); // tasq_api_tick_stop
			continue;
		}
		t->wake = k != NULL ? k->when : NEVER;
		if (k != NULL) {
			(void) nng_cv_until(t->cv, k->when);
		} else {
			nng_cv_wait(t->cv);
		}
	}
	nng_mtx_unlock(t->mtx);
}

int
tasq_api_tick_at(tasq_api_ticker *t, tasq_api_tick *k, nng_time when,
    void (*fn)(void *), void *arg)
{
	tasq_api_tick *p;
	int            rv;

	nng_mtx_lock(t->mtx);
	if (t->thr == NULL) {
		if ((rv = nng_thread_create(&t->thr, ticker_run, t)) != 0) {
			t->thr = NULL;
			nng_mtx_unlock(t->mtx);
			return (rv);
		}
	}
	if (k->queued) {
		unlink_tick(t, k);
	}
	k->when = when;
	k->fn   = fn;
	k->arg  = arg;
	for (p = t->tail; p != NULL && p->when > when; p = p->prev) {
	}
	k->prev = p;
	k->next = p != NULL ? p->next : t->head;
	if (k->next != NULL) {
		k->next->prev = k;
	} else {
		t->tail = k;
	}
	if (p != NULL) {
		p->next = k;
	} else {
		t->head = k;
	}
	k->queued = true;
	if (when < t->wake) {
		t->wake = when;
		nng_cv_wake(t->cv);
	}
	nng_mtx_unlock(t->mtx);
	return (0);
}

void
tasq_api_tick_stop(tasq_api_ticker *t, tasq_api_tick *k)
{
	if (t->mtx == NULL) {
		return;
	}
	nng_mtx_lock(t->mtx);
	if (k->queued) {
		unlink_tick(t, k);
	}
	while (t->firing == k) {
		nng_cv_wait(t->cv);
	}
	nng_mtx_unlock(t->mtx);
}

void
tasq_api_ticker_fini(tasq_api_ticker *t)
{
	if (t->mtx == NULL) {
		return;
	}
	nng_mtx_lock(t->mtx);
	t->stop = true;
	nng_cv_wake(t->cv);
	nng_mtx_unlock(t->mtx);
	if (t->thr != NULL) {
		nng_thread_destroy(t->thr);
	}
	nng_cv_free(t->cv);
	nng_mtx_free(t->mtx);
	t->mtx = NULL;
}
