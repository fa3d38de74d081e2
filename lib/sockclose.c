#include "sockclose.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"

// One close under way. The waiter frees it when the close ended in time;
// the closer, when the waiter gave up (it is on the abandoned list until
// then, so that it stays reachable).
struct closing {
	nng_socket sock;
	void (*fini)(void *);
	void           *arg;
	pthread_mutex_t mtx;
	pthread_cond_t  cv;
	bool            done;      // guarded by mtx
	bool            abandoned; // guarded by mtx
	struct closing *next;      // on abandoned_list, under list_mtx
};

// Lock order: closing.mtx, then list_mtx.
static pthread_mutex_t list_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct closing *abandoned_list;
static atomic_uint     nabandoned;

static void
closing_free(struct closing *k)
{
	pthread_cond_destroy(&k->cv);
	pthread_mutex_destroy(&k->mtx);
	free(k);
}

// The close itself and what follows it, wherever it runs.
static void
close_fini(nng_socket sock, void (*fini)(void *), void *arg)
{
	nng_close(sock);
	if (fini != NULL) {
		fini(arg);
	}
}

static void *
closer_main(void *arg)
{
	struct closing *k = arg;
	bool            abandoned;

	close_fini(k->sock, k->fini, k->arg);
	pthread_mutex_lock(&k->mtx);
	k->done   = true;
	abandoned = k->abandoned;
	if (abandoned) {
		struct closing **pp;
		pthread_mutex_lock(&list_mtx);
		for (pp = &abandoned_list; *pp != NULL; pp = &(*pp)->next) {
			if (*pp == k) {
				*pp = k->next;
				break;
			}
		}
		pthread_mutex_unlock(&list_mtx);
	}
	pthread_cond_signal(&k->cv);
	pthread_mutex_unlock(&k->mtx);
	if (abandoned) {
		closing_free(k);
	}
	return (NULL);
}

bool
tasq_sock_close(nng_socket sock, void (*fini)(void *), void *arg)
{
	struct closing    *k;
	pthread_attr_t     attr;
	pthread_condattr_t ca;
	pthread_t          t;
	struct timespec    until;
	unsigned           ms;
	int                rv = 0;

	if ((k = calloc(1, sizeof(*k))) == NULL) {
		goto inline_close;
	}
	k->sock = sock;
	k->fini = fini;
	k->arg  = arg;
	pthread_mutex_init(&k->mtx, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&k->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_attr_init(&attr) != 0) {
		closing_free(k);
		goto inline_close;
	}
	(void) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rv = pthread_create(&t, &attr, closer_main, k);
	pthread_attr_destroy(&attr);
	if (rv != 0) {
		closing_free(k);
		goto inline_close;
	}
	ms = tasq_sock_close_ms(TASQ_SOCK_CLOSE_MS);
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long) (ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&k->mtx);
	while (!k->done && rv != ETIMEDOUT) {
		rv = pthread_cond_timedwait(&k->cv, &k->mtx, &until);
	}
	if (k->done) {
		pthread_mutex_unlock(&k->mtx);
		closing_free(k);
		return (true);
	}
	k->abandoned = true;
	pthread_mutex_lock(&list_mtx);
	k->next        = abandoned_list;
	abandoned_list = k;
	pthread_mutex_unlock(&list_mtx);
	pthread_mutex_unlock(&k->mtx);
	atomic_fetch_add(&nabandoned, 1);
	tasq_warn("a connection's close did not end in %u ms (nng 1.5.2's "
	          "TLS close defect): given up",
	    ms);
	return (false);

inline_close:
	close_fini(sock, fini, arg);
	return (true);
}

unsigned
tasq_sock_abandoned(void)
{
	return (atomic_load(&nabandoned));
}

unsigned
tasq_sock_close_ms(unsigned normal_ms)
{
	return (atomic_load(&nabandoned) != 0 ? TASQ_SOCK_CLOSE_STUCK_MS
	                                      : normal_ms);
}
