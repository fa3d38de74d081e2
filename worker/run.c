#include "run.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "chan.h"
#include "compute.h"
#include "err.h"
#include "keepalive.h"
#include "log.h"
#include "tls.h"
#include "wire.h"

struct worker {
	const tasq_worker_conf *conf;
	volatile sig_atomic_t  *stop;     // read by the main thread only
	atomic_bool             draining; // set from *stop for the others
	tasq_chan              *chan;
	uint64_t                id;
	char                    name[TASQ_WIRE_MAX_NAME + 1];
	nng_mtx                *mtx;  // guards held[]
	uint64_t               *held; // lease ids in hand, per thread
	atomic_uint             lease_ms;
	tasq_keepalive         *ka; // heartbeats (worker/keepalive.h)
};

// Result columns for the batches of one lease reply.
struct results {
	size_t             nbatches;
	tasq_result_batch *batches;
	uint64_t          *ids;
	int64_t           *values;
	uint32_t          *codes;
	size_t             cap;
};

static void
results_clear(struct results *r)
{
	r->nbatches = 0;
}

static void
results_free(struct results *r)
{
	free(r->batches);
	free(r->ids);
	free(r->values);
	free(r->codes);
	memset(r, 0, sizeof(*r));
}

static int
results_reserve(struct results *r, size_t nb, size_t ntasks)
{
	if (ntasks > r->cap || nb > r->cap) {
		size_t cap = ntasks > nb ? ntasks : nb;
		free(r->batches);
		free(r->ids);
		free(r->values);
		free(r->codes);
		r->batches = calloc(cap, sizeof(*r->batches));
		r->ids     = calloc(cap, sizeof(*r->ids));
		r->values  = calloc(cap, sizeof(*r->values));
		r->codes   = calloc(cap, sizeof(*r->codes));
		if (r->batches == NULL || r->ids == NULL ||
		    r->values == NULL || r->codes == NULL) {
			results_free(r);
			return (NNG_ENOMEM);
		}
		r->cap = cap;
	}
	return (0);
}

static void
sleep_ms(uint32_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
		.tv_nsec               = (long) (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL); // a signal cuts it short, which is what we want
}

// Computes every batch of rep into r. Returns the number of tasks left
// unfinished because a drain began (their leases are then released).
static size_t
compute(struct worker *w, const tasq_rep *rep, struct results *r)
{
	size_t total = 0, k = 0, left = 0;

	for (size_t i = 0; i < rep->u.lease.nbatches; i++) {
		total += rep->u.lease.batches[i].n;
	}
	if (results_reserve(r, rep->u.lease.nbatches, total) != 0) {
		return (total);
	}
	r->nbatches = rep->u.lease.nbatches;
	for (size_t i = 0; i < rep->u.lease.nbatches; i++) {
		const tasq_task_batch *tb   = &rep->u.lease.batches[i];
		tasq_result_batch     *rb   = &r->batches[i];
		bool                   errs = false;

		rb->lease_id = tb->lease_id;
		rb->job_id   = tb->job_id;
		rb->ids      = r->ids + k;
		rb->values   = r->values + k;
		rb->codes    = r->codes + k;
		rb->n        = 0;
		for (size_t j = 0; j < tb->n; j++) {
			int64_t v = 0;
			int     rv;
			if (atomic_load(&w->draining) &&
			    w->conf->task_delay_ms > 0) {
				left += tb->n - j;
				break;
			}
			if (w->conf->task_delay_ms > 0) {
				sleep_ms(w->conf->task_delay_ms);
			}
			rv = tasq_compute_square(tb->values[j], &v);
			rb->ids[rb->n]    = tb->ids[j];
			rb->values[rb->n] = v;
			rb->codes[rb->n]  = (uint32_t) tasq_err_code(rv);
			errs |= rv != 0;
			rb->n++;
		}
		if (!errs) {
			rb->codes = NULL;
		}
		k += tb->n;
	}
	return (left);
}

static void
signals_block(bool block)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

static void
hold(struct worker *w, uint32_t slot, uint64_t lease_id)
{
	nng_mtx_lock(w->mtx);
	w->held[slot] = lease_id;
	nng_mtx_unlock(w->mtx);
}

// Sends results that must not be lost to a drain, retrying for a while.
static void
flush(struct worker *w, struct results *r, const uint64_t *release,
    size_t nrelease)
{
	tasq_req req;
	tasq_rep rep;
	char     err[256];
	nng_time until = nng_clock() + 10000;

	memset(&req, 0, sizeof(req));
	req.method               = TASQ_M_COMPLETE;
	req.u.complete.worker_id = w->id;
	req.u.complete.nresults  = r->nbatches;
	req.u.complete.results   = r->batches;
	while (r->nbatches > 0 && nng_clock() < until) {
		if (tasq_chan_call(w->chan, &req, w->conf->timeout_ms, &rep,
		        err, sizeof(err)) == 0) {
			tasq_wire_rep_fini(&rep);
			results_clear(r);
			break;
		}
		tasq_warn("cannot hand in results: %s; retrying", err);
		nng_msleep(200);
	}
	if (nrelease > 0) {
		memset(&req, 0, sizeof(req));
		req.method              = TASQ_M_RELEASE;
		req.u.release.worker_id = w->id;
		req.u.release.n         = nrelease;
		req.u.release.lease_ids = (uint64_t *) release;
		if (tasq_chan_call(w->chan, &req, w->conf->timeout_ms, &rep,
		        err, sizeof(err)) == 0) {
			tasq_wire_rep_fini(&rep);
		} else {
			tasq_warn(
			    "cannot release leases (they will expire): %s",
			    err);
		}
	}
}

struct thr {
	struct worker *w;
	uint32_t       slot;
	nng_thread    *thread;
};

static void
lease_loop(void *arg)
{
	struct thr    *t   = arg;
	struct worker *w   = t->w;
	struct results res = { 0 };
	tasq_req       req;
	tasq_rep       rep;
	char           err[256];
	uint32_t       backoff = 0, fails = 0;
	uint64_t       release[TASQ_WIRE_MAX_BATCHES];
	size_t         nrelease = 0;

	while (!atomic_load(&w->draining)) {
		memset(&req, 0, sizeof(req));
		req.method              = TASQ_M_LEASE;
		req.u.lease.queue       = w->conf->queue;
		req.u.lease.worker_id   = w->id;
		req.u.lease.worker_name = w->name;
		req.u.lease.max_tasks   = w->conf->batch;
		req.u.lease.wait_ms     = w->conf->wait_ms;
		req.u.lease.nresults    = res.nbatches;
		req.u.lease.results     = res.batches;
		int rv                  = tasq_chan_call(w->chan, &req,
		                     w->conf->wait_ms + w->conf->timeout_ms, &rep, err,
		                     sizeof(err));
		if (rv != 0) {
			// Results stay in res and go again with the next
			// request: the server drops any it already has.
			backoff = backoff ? backoff * 2 : 50;
			if (backoff > 2000) {
				backoff = 2000;
			}
			// A dialer can stop retrying after a handshake cut
			// short (nng issue 1518): start a fresh one.
			if (++fails % 4 == 0 && tasq_chan_redial(w->chan)) {
				tasq_info(
				    "no answer from the server; redialing");
			}
			if (rv == TASQ_EUNAUTHENTICATED ||
			    rv == TASQ_EPERMISSION_DENIED ||
			    rv == TASQ_EINVALID_ARGUMENT) {
				tasq_err(
				    "server refused this worker: %s", err);
				backoff = 2000;
			} else {
				tasq_debug("lease failed: %s", err);
			}
			sleep_ms(backoff);
			continue;
		}
		backoff = 0;
		fails   = 0;
		results_clear(&res);
		if (rep.u.lease.lease_ms != 0) {
			atomic_store(&w->lease_ms, rep.u.lease.lease_ms);
		}
		if (rep.u.lease.nbatches > 0) {
			hold(w, t->slot, rep.u.lease.batches[0].lease_id);
			if (compute(w, &rep, &res) > 0) {
				release[0] = rep.u.lease.batches[0].lease_id;
				nrelease   = 1;
			}
			hold(w, t->slot, 0);
		}
		tasq_wire_rep_fini(&rep);
	}
	flush(w, &res, release, nrelease);
	results_free(&res);
}

static void
heartbeat(struct worker *w, uint32_t nthreads)
{
	uint64_t ids[64];
	size_t   n = 0;

	nng_mtx_lock(w->mtx);
	for (uint32_t i = 0; i < nthreads && n < 64; i++) {
		if (w->held[i] != 0) {
			ids[n++] = w->held[i];
		}
	}
	nng_mtx_unlock(w->mtx);
	(void) tasq_keepalive_beat(w->ka, ids, n);
}

int
tasq_worker_run(const tasq_worker_conf *conf, volatile sig_atomic_t *stop)
{
	struct worker  w;
	struct thr    *thr;
	tasq_chan_opts co;
	char           err[512], host[48];
	uint32_t       backoff = 100;
	int            rv;

	memset(&w, 0, sizeof(w));
	w.conf = conf;
	w.stop = stop;
	w.id   = tasq_random64();
	atomic_init(&w.lease_ms, 30000);
	atomic_init(&w.draining, false);
	if (gethostname(host, sizeof(host)) != 0) {
		strcpy(host, "unknown");
	}
	host[sizeof(host) - 1] = '\0';
	snprintf(w.name, sizeof(w.name), "%s/%d/%u", host, (int) getpid(),
	    (unsigned) conf->slot);
	// Signals are handled on this thread only: nng's threads (made at
	// its first use) and ours start with them blocked.
	signals_block(true);
	rv = tasq_tls_setup(
	    conf->tls_engine, conf->tls_min, conf->tls_max, err, sizeof(err));
	signals_block(false);
	if (rv != 0) {
		tasq_err("%s", err);
		return (1);
	}
	memset(&co, 0, sizeof(co));
	co.url                = conf->server;
	co.keys               = conf->keys;
	co.tls_ca             = conf->tls_ca;
	co.tls_server_name    = conf->tls_server_name;
	co.tls_cert           = conf->tls_cert;
	co.tls_key            = conf->tls_key;
	co.connect_timeout_ms = 0;
	co.max_msg_bytes      = conf->max_msg_bytes;
	// Workers outlive server restarts: keep dialing, with backoff.
	while ((rv = tasq_chan_open(&w.chan, &co, err, sizeof(err))) != 0) {
		if (*stop != 0) {
			return (0);
		}
		if (rv == NNG_ECRYPTO || rv == NNG_EPEERAUTH ||
		    rv == TASQ_EINVALID_ARGUMENT || rv == NNG_EADDRINVAL) {
			tasq_err("%s", err);
			if (rv != NNG_ECRYPTO && rv != NNG_EPEERAUTH) {
				return (1);
			}
		} else {
			tasq_debug("%s; retrying", err);
		}
		sleep_ms(backoff);
		backoff = backoff < 2000 ? backoff * 2 : 2000;
	}
	tasq_info("worker %s connected to %s (queue %s)", w.name, conf->server,
	    conf->queue);
	tasq_keepalive_conf kc = { .server = conf->server,
		.heartbeat                 = conf->heartbeat,
		.keys                      = conf->keys,
		.tls_ca                    = conf->tls_ca,
		.tls_server_name           = conf->tls_server_name,
		.tls_cert                  = conf->tls_cert,
		.tls_key                   = conf->tls_key,
		.chan                      = w.chan,
		.worker_id                 = w.id,
		.timeout_ms                = conf->timeout_ms };
	if (tasq_keepalive_open(&w.ka, &kc, err, sizeof(err)) != 0) {
		tasq_err("%s", err);
		return (1);
	}
	if (nng_mtx_alloc(&w.mtx) != 0 ||
	    (w.held = calloc(conf->pipeline, sizeof(*w.held))) == NULL ||
	    (thr = calloc(conf->pipeline, sizeof(*thr))) == NULL) {
		tasq_err("out of memory");
		return (1);
	}
	signals_block(true);
	for (uint32_t i = 0; i < conf->pipeline; i++) {
		thr[i].w    = &w;
		thr[i].slot = i;
		if ((rv = nng_thread_create(
		         &thr[i].thread, lease_loop, &thr[i])) != 0) {
			tasq_err("cannot start thread: %s", nng_strerror(rv));
			atomic_store(&w.draining, true);
			break;
		}
	}
	signals_block(false);
	// This thread beats the heart: leases of slow batches are extended
	// at a third of their length so that one lost beat does no harm.
	while (*stop == 0 && !atomic_load(&w.draining)) {
		// The period is read again at every step: a fresh worker
		// learns the lease length from its first Lease reply, and a
		// lease shorter than the default must not wait that long.
		for (uint32_t t = 0; t < tasq_keepalive_period_ms(
		                             w.ka, atomic_load(&w.lease_ms)) &&
		     *stop == 0;
		     t += 100) {
			sleep_ms(100);
		}
		if (*stop == 0) {
			heartbeat(&w, conf->pipeline);
		}
	}
	atomic_store(&w.draining, true);
	for (uint32_t i = 0; i < conf->pipeline; i++) {
		if (thr[i].thread != NULL) {
			nng_thread_destroy(thr[i].thread); // joins
		}
	}
	tasq_info("worker %s drained", w.name);
	tasq_keepalive_close(w.ka);
	tasq_chan_close(w.chan);
	free(thr);
	free(w.held);
	nng_mtx_free(w.mtx);
	return (0);
}
