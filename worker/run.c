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

#include "blobs.h"
#include "chan.h"
#include "conn.h"
#include "err.h"
#include "handler.h"
#include "keepalive.h"
#include "log.h"
#include "rand.h"
#include "tls.h"
#include "wire.h"

struct thr;

struct worker {
	const tasq_worker_conf *conf;
	volatile sig_atomic_t  *stop;     // read by the main thread only
	atomic_bool             draining; // set from *stop for the others
	tasq_chan              *chan;
	tasq_conn              *conn; // the link's state and its log lines
	uint64_t                id;
	char                    name[TASQ_WIRE_MAX_NAME + 1];
	nng_mtx                *mtx;  // guards held[], held_rep[], held_ms[]
	uint64_t               *held; // lease ids in hand, per thread
	// The Lease reply of each held lease (its batches' jobs, for a
	// cancel) and when it came (nng_clock: a lease held longer than a
	// beat period makes the heartbeat ask for cancels).
	const tasq_rep **held_rep;
	uint64_t        *held_ms;
	struct thr      *thr; // the lease threads (conf->pipeline)
	atomic_uint      lease_ms;
	tasq_keepalive  *ka; // heartbeats (worker/keepalive.h)
};

// Result columns for the batches of one lease reply: ids, and per batch
// the handler's results (hres[i], kept until the next request is sent).
struct results {
	size_t             nbatches;
	tasq_result_batch *batches;
	uint64_t          *ids;
	size_t             cap;
	tasq_hres         *hres;
	size_t             nhres;
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
	for (size_t i = 0; i < r->nhres; i++) {
		tasq_hres_fini(&r->hres[i]);
	}
	free(r->hres);
	memset(r, 0, sizeof(*r));
}

static int
results_reserve(struct results *r, size_t nb, size_t ntasks)
{
	if (nb > r->nhres) {
		tasq_hres *h = realloc(r->hres, nb * sizeof(*h));
		if (h == NULL) {
			return (NNG_ENOMEM);
		}
		for (size_t i = r->nhres; i < nb; i++) {
			tasq_hres_init(&h[i]);
		}
		r->hres  = h;
		r->nhres = nb;
	}
	if (ntasks > r->cap || nb > r->cap) {
		size_t cap = ntasks > nb ? ntasks : nb;
		free(r->batches);
		free(r->ids);
		r->batches = calloc(cap, sizeof(*r->batches));
		r->ids     = calloc(cap, sizeof(*r->ids));
		if (r->batches == NULL || r->ids == NULL) {
			free(r->batches);
			free(r->ids);
			r->batches = NULL;
			r->ids     = NULL;
			r->cap     = 0;
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

// Jobs of one lease that a cancel reached (docs/PROTOCOL.md 9.15): a
// lease holds batches of at most this many jobs (the server's limit is
// lower); a lease of more is only partly stopped.
#define CANCEL_JOBS 32

// What a lease thread runs: its handlers (one per type of the
// configuration) and, for the watchdog, the task it is on.
struct thr {
	struct worker *w;
	uint32_t       slot;
	nng_thread    *thread;
	tasq_handler **handlers;
	tasq_cancel    cancel;        // the running batch's (handler.h)
	nng_mtx       *mtx;           // guards the fields below (watchdog)
	tasq_hres     *busy;          // results being made, NULL when idle
	bool           in_process;    // the busy handler is builtin or plugin
	const tasq_task_batch *batch; // the batch being computed
	uint64_t               since_ms; // when busy last made progress
	size_t                 seen;     // busy->done at since_ms
	// Cancels: the lease in hand, and of it the jobs cancelled (set by
	// cancel_leases); whether the running batch was cancelled.
	uint64_t lease_id;
	size_t   ncjobs;
	uint64_t cjobs[CANCEL_JOBS];
	bool     batch_cancelled;
};

static bool
job_cancelled(const struct thr *t, uint64_t job)
{
	for (size_t i = 0; i < t->ncjobs; i++) {
		if (t->cjobs[i] == job) {
			return (true);
		}
	}
	return (false);
}

// Marks t busy with batch tb (results into h), or idle (h NULL). Starting
// a batch returns whether its job is cancelled already (it is then not
// run); ending one, whether it was cancelled while it ran.
static bool
thr_busy(struct thr *t, tasq_hres *h, const tasq_task_batch *tb, bool inproc)
{
	bool cancelled;

	nng_mtx_lock(t->mtx);
	cancelled = tb != NULL ? t->ncjobs > 0 && job_cancelled(t, tb->job_id)
	                       : t->batch_cancelled;
	t->batch_cancelled = false;
	if (tasq_cancel_is_set(&t->cancel)) {
		tasq_cancel_clear(&t->cancel); // a flag is one batch's
	}
	t->busy       = cancelled ? NULL : h;
	t->batch      = cancelled ? NULL : tb;
	t->in_process = inproc;
	t->since_ms   = nng_clock();
	t->seen       = 0;
	nng_mtx_unlock(t->mtx);
	return (cancelled);
}

// Runs one batch through its handler into h. With --task-delay (testing)
// it goes one task at a time, and stops when a drain begins: returns the
// number of tasks left unfinished. *cancelled: the batch's job was
// cancelled (before or while it ran): its results are not handed in.
static size_t
run_batch(
    struct thr *t, const tasq_task_batch *tb, tasq_hres *h, bool *cancelled)
{
	struct worker     *w  = t->w;
	tasq_handler      *hd = NULL;
	tasq_handler_batch in = {
		.n       = tb->n,
		.width   = tb->payloads.width,
		.lens    = tb->payloads.lens,
		.data    = tb->payloads.data,
		.size    = tb->payloads.size,
		.type    = tb->type,
		.attempt = tb->attempt,
	};

	*cancelled = false;
	tasq_cancel_attach(&in, &t->cancel);

	for (size_t i = 0; i < w->conf->ntypes; i++) {
		if (strcmp(w->conf->types[i], tb->type) == 0) {
			hd = t->handlers[i];
		}
	}
	if (tasq_hres_begin(h, tb->n) != 0) {
		return (tb->n); // no memory: released, to be retried
	}
	if (hd == NULL) {
		// Never asked for (a broker bug): failed, to be retried.
		char msg[160];
		snprintf(msg, sizeof(msg),
		    "this worker has no handler for type '%.64s'", tb->type);
		tasq_hres_fail_rest(
		    h, (uint32_t) tasq_err_code(TASQ_EUNIMPLEMENTED), msg);
		return (0);
	}
	if (thr_busy(t, h, tb, tasq_handler_in_process(hd))) {
		*cancelled = true; // cancelled before it started
		h->n       = 0;
		return (0);
	}
	if (w->conf->task_delay_ms == 0) {
		if (tasq_handler_run(hd, &in, h) != 0) {
			tasq_hres_fail_rest(h,
			    (uint32_t) tasq_err_code(TASQ_ERESOURCE_EXHAUSTED),
			    "out of memory");
		}
		*cancelled = thr_busy(t, NULL, NULL, false);
		return (0);
	}
	// One task at a time (--task-delay): a drain stops between tasks.
	tasq_hres       one;
	tasq_blobs_iter it;
	tasq_hres_init(&one);
	tasq_blobs_iter_init(&it, &tb->payloads);
	for (size_t j = 0; j < tb->n; j++) {
		const uint8_t *p;
		size_t         len;
		uint32_t       len32;
		tasq_blobs     col;
		uint32_t      *codes;
		const char   **errs;
		if (atomic_load(&w->draining) ||
		    tasq_cancel_is_set(&t->cancel)) {
			break;
		}
		sleep_ms(w->conf->task_delay_ms);
		tasq_blobs_next(&it, &p, &len);
		len32   = (uint32_t) len;
		in.n    = 1;
		in.data = p;
		in.size = len;
		in.lens = in.width != 0 ? NULL : &len32;
		if (tasq_handler_run(hd, &in, &one) != 0) {
			break;
		}
		tasq_hres_view(&one, &col, &codes, &errs);
		if (codes != NULL) {
			(void) tasq_hres_fail(h, h->k, codes[0], errs[0]);
		} else {
			(void) tasq_hres_put(h, col.data, col.size);
		}
	}
	tasq_hres_fini(&one);
	if ((*cancelled = thr_busy(t, NULL, NULL, false))) {
		h->n = 0;
		return (0);
	}
	h->n = h->k; // a drain may have cut the batch short
	return (tb->n - h->k);
}

// Whether results can go back as legacy values: 8 bytes each (or none,
// for a failed task).
static bool
legacy_fits(const tasq_blobs *col, size_t n)
{
	if (col->width != 0) {
		return (col->width == 8);
	}
	for (size_t i = 0; i < n; i++) {
		if (col->lens[i] != 0 && col->lens[i] != 8) {
			return (false);
		}
	}
	return (true);
}

// Computes every batch of rep into r. Returns the number of tasks left
// unfinished because a drain began (their leases are then released).
// *ncancelled: batches of cancelled jobs (handed in without results).
static size_t
compute(
    struct thr *t, const tasq_rep *rep, struct results *r, size_t *ncancelled)
{
	size_t total = 0, k = 0, left = 0;

	*ncancelled = 0;
	for (size_t i = 0; i < rep->u.lease.nbatches; i++) {
		total += rep->u.lease.batches[i].n;
	}
	if (results_reserve(r, rep->u.lease.nbatches, total) != 0) {
		return (total);
	}
	r->nbatches = rep->u.lease.nbatches;
	for (size_t i = 0; i < rep->u.lease.nbatches; i++) {
		const tasq_task_batch *tb = &rep->u.lease.batches[i];
		tasq_result_batch     *rb = &r->batches[i];
		tasq_hres             *h  = &r->hres[i];

		memset(rb, 0, sizeof(*rb));
		rb->lease_id = tb->lease_id;
		rb->job_id   = tb->job_id;
		rb->ids      = r->ids + k;
		bool gone    = false;
		left += run_batch(t, tb, h, &gone);
		*ncancelled += gone;
		rb->n = gone ? 0 : h->k;
		if (gone) {
			tasq_hres_begin(h, 0); // nothing to view
		}
		memcpy(rb->ids, tb->ids, rb->n * sizeof(*rb->ids));
		tasq_hres_view(h, &rb->results, &rb->codes, &rb->errors);
		// A batch that came as legacy values (a server that sends
		// square tasks so) goes back the same way.
		rb->legacy = tb->legacy && legacy_fits(&rb->results, rb->n);
		// Runs back only to a server that sent them (one that reads
		// them: PROTOCOL.md 8.4).
		rb->id_runs = tb->id_runs;
		k += tb->n;
	}
	return (left);
}

// What result k of rb adds to a request, at most (varints at their
// longest, the message with its tag and length).
static size_t
result_cost(const tasq_result_batch *rb, size_t k)
{
	size_t len =
	    rb->results.width != 0 ? rb->results.width : rb->results.lens[k];
	size_t el = rb->errors != NULL ? strlen(rb->errors[k]) + 3 : 0;

	return (len + el + 24);
}

// The bytes r's results take in a request, at most (with the request's
// own fields and envelope).
static size_t
results_cost(const struct results *r)
{
	size_t size = 1024;

	for (size_t i = 0; i < r->nbatches; i++) {
		size += 64;
		for (size_t k = 0; k < r->batches[i].n; k++) {
			size += result_cost(&r->batches[i], k);
		}
	}
	return (size);
}

// Tasks [from, from + n) of rb as a batch of their own (pointing into rb).
static tasq_result_batch
sub_batch(const tasq_result_batch *rb, size_t from, size_t n)
{
	tasq_result_batch sb  = *rb;
	size_t            off = 0, size = 0;

	sb.n      = n;
	sb.ids    = rb->ids + from;
	sb.codes  = rb->codes != NULL ? rb->codes + from : NULL;
	sb.errors = rb->errors != NULL ? rb->errors + from : NULL;
	if (rb->results.width != 0) {
		off  = from * rb->results.width;
		size = n * rb->results.width;
	} else {
		for (size_t k = 0; k < from; k++) {
			off += rb->results.lens[k];
		}
		for (size_t k = from; k < from + n; k++) {
			size += rb->results.lens[k];
		}
		sb.results.lens = rb->results.lens + from;
	}
	sb.results.data = rb->results.data + off;
	sb.results.size = size;
	return (sb);
}

// Hands r's results in with Complete requests of at most max_req_bytes
// each (at least one result each: the least max_req_bytes, 2 MiB, holds
// any result, at most 1 MiB, and its message). Returns 0 when all were
// taken, else the error of the failed call (err): the results then stay
// in r, to go again (the server drops those it already has).
static int
hand_in(struct worker *w, struct results *r, char *err, size_t errlen)
{
	tasq_result_batch *part;
	size_t             bi = 0, k = 0;
	tasq_req           req;
	tasq_rep           rep;
	int                rv = 0;

	if ((part = calloc(r->nbatches + 1, sizeof(*part))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NNG_ENOMEM);
	}
	while (bi < r->nbatches && rv == 0) {
		size_t np = 0, cost = 1024;
		// One request: as many results as fit, in order.
		while (bi < r->nbatches) {
			const tasq_result_batch *rb   = &r->batches[bi];
			size_t                   from = k;
			cost += 64;
			while (k < rb->n) {
				size_t c = result_cost(rb, k);
				if (cost + c > w->conf->max_req_bytes &&
				    (np > 0 || k > from)) {
					break;
				}
				cost += c;
				k++;
			}
			if (k > from) {
				part[np++] = sub_batch(rb, from, k - from);
			}
			if (k < rb->n) {
				break; // full
			}
			bi++;
			k = 0;
		}
		if (np == 0) {
			break;
		}
		memset(&req, 0, sizeof(req));
		req.method               = TASQ_M_COMPLETE;
		req.u.complete.worker_id = w->id;
		req.u.complete.nresults  = np;
		req.u.complete.results   = part;
		if ((rv = tasq_chan_call(w->chan, &req, w->conf->timeout_ms,
		         &rep, err, errlen)) == 0) {
			tasq_wire_rep_fini(&rep);
		}
	}
	free(part);
	if (rv == 0) {
		results_clear(r);
	}
	return (rv);
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

// Notes the lease in hand of thread t (lease_id 0: none; rep its Lease
// reply, borrowed until the next call) for the heartbeat and cancels.
static void
hold(struct worker *w, struct thr *t, uint64_t lease_id, const tasq_rep *rep)
{
	nng_mtx_lock(w->mtx);
	w->held[t->slot]     = lease_id;
	w->held_rep[t->slot] = rep;
	w->held_ms[t->slot]  = nng_clock();
	nng_mtx_unlock(w->mtx);
	nng_mtx_lock(t->mtx);
	t->lease_id = lease_id;
	t->ncjobs   = 0;
	nng_mtx_unlock(t->mtx);
}

// Whether job is cancelled, as far as JobStatus says (gone counts too:
// its results would be refused as well). Unknown (no answer): false.
static bool
job_status_cancelled(struct worker *w, uint64_t job)
{
	tasq_req req;
	tasq_rep rep;
	char     err[256];
	bool     c;
	int      rv;

	memset(&req, 0, sizeof(req));
	req.method              = TASQ_M_JOB_STATUS;
	req.u.job_status.job_id = job;
	if ((rv = tasq_chan_call(w->chan, &req, w->conf->timeout_ms, &rep, err,
	         sizeof(err))) != 0) {
		if (rv == TASQ_ENOT_FOUND) {
			return (true);
		}
		tasq_warn("cancel: cannot ask for the status of job %016llx: "
		          "%s; it goes on",
		    (unsigned long long) job, err);
		return (false);
	}
	c = rep.u.job_status.job.state == TASQ_JOB_CANCELLED;
	tasq_wire_rep_fini(&rep);
	return (c);
}

// Stops the work of the leases ids (n) that a cancel reached (a Lease or
// Extend reply said so; docs/PROTOCOL.md 9.15): for each one a thread
// holds, the jobs of its batches that are cancelled (all of them when the
// lease holds one job; else JobStatus tells) are noted for the thread,
// which skips their batches, and the running batch's cancel is set when
// it is one of them. Ids no thread holds (any more) are ignored. Called
// by any thread; may make RPCs.
static void
cancel_leases(struct worker *w, const uint64_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t jobs[CANCEL_JOBS];
		size_t   njobs = 0, ncan = 0;
		uint32_t slot = UINT32_MAX;
		bool     can[CANCEL_JOBS];

		nng_mtx_lock(w->mtx);
		for (uint32_t s = 0; s < w->conf->pipeline; s++) {
			if (w->held[s] == ids[i] && w->held_rep[s] != NULL) {
				slot = s;
				break;
			}
		}
		if (slot != UINT32_MAX) {
			const tasq_rep *rep = w->held_rep[slot];
			for (size_t b = 0; b < rep->u.lease.nbatches; b++) {
				uint64_t j = rep->u.lease.batches[b].job_id;
				size_t   k = 0;
				while (k < njobs && jobs[k] != j) {
					k++;
				}
				if (k == njobs && njobs < CANCEL_JOBS) {
					jobs[njobs++] = j;
				}
			}
		}
		nng_mtx_unlock(w->mtx);
		if (njobs == 0) {
			continue; // not ours (any more)
		}
		for (size_t k = 0; k < njobs; k++) {
			can[k] =
			    njobs == 1 || job_status_cancelled(w, jobs[k]);
			ncan += can[k];
		}
		struct thr *t = &w->thr[slot];
		nng_mtx_lock(t->mtx);
		if (t->lease_id == ids[i]) {
			for (size_t k = 0; k < njobs; k++) {
				if (can[k] && !job_cancelled(t, jobs[k]) &&
				    t->ncjobs < CANCEL_JOBS) {
					t->cjobs[t->ncjobs++] = jobs[k];
				}
			}
			if (t->batch != NULL && !t->batch_cancelled &&
			    job_cancelled(t, t->batch->job_id)) {
				t->batch_cancelled = true;
				tasq_cancel_set(&t->cancel);
			}
		}
		nng_mtx_unlock(t->mtx);
		if (ncan > 0) {
			tasq_info("lease %llx: %zu job(s) cancelled; stopping "
			          "their tasks",
			    (unsigned long long) ids[i], ncan);
		}
	}
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

	while (r->nbatches > 0 && nng_clock() < until) {
		if (hand_in(w, r, err, sizeof(err)) == 0) {
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
		uint32_t pause = tasq_conn_wait_ms(w->conn);
		if (pause > 0) {
			// Refused: one thread tries at a time, backing off.
			sleep_ms(pause < 200 ? pause : 200);
			continue;
		}
		int rv = 0;
		// Results too large for one request with the lease go
		// ahead on their own, in as many requests as they need.
		if (res.nbatches > 0 &&
		    results_cost(&res) > w->conf->max_req_bytes) {
			rv = hand_in(w, &res, err, sizeof(err));
		}
		memset(&req, 0, sizeof(req));
		req.method              = TASQ_M_LEASE;
		req.u.lease.queue       = w->conf->queue;
		req.u.lease.worker_id   = w->id;
		req.u.lease.worker_name = w->name;
		req.u.lease.max_tasks   = w->conf->batch;
		req.u.lease.wait_ms     = w->conf->wait_ms;
		req.u.lease.nresults    = res.nbatches;
		req.u.lease.results     = res.batches;
		req.u.lease.ntypes      = w->conf->ntypes;
		req.u.lease.types       = (const char **) w->conf->types;
		req.u.lease.id_runs     = true;
		req.u.lease.nqueues     = w->conf->nqueues;
		for (size_t i = 0; i < w->conf->nqueues; i++) {
			req.u.lease.queues[i] = w->conf->queues[i];
		}
		if (rv == 0) {
			rv = tasq_chan_call(w->chan, &req,
			    w->conf->wait_ms + w->conf->timeout_ms, &rep, err,
			    sizeof(err));
		}
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
				tasq_debug(
				    "no answer from the server; redialing");
			}
			// Told once per change (conn.h); with
			// --exit-on-auth-failure a refusal ends the process
			// here: there is nothing it could hand in.
			if (tasq_conn_call_failed(w->conn, rv, err)) {
				_exit(TASQ_WORKER_EXIT_AUTH);
			}
			sleep_ms(backoff);
			continue;
		}
		tasq_conn_call_ok(w->conn, tasq_chan_server_id(w->chan));
		backoff = 0;
		fails   = 0;
		results_clear(&res);
		if (rep.u.lease.lease_ms != 0) {
			atomic_store(&w->lease_ms, rep.u.lease.lease_ms);
		}
		if (rep.u.lease.ncancelled > 0) {
			// Other threads' leases (this one's ended with the
			// results this request carried).
			cancel_leases(
			    w, rep.u.lease.cancelled, rep.u.lease.ncancelled);
		}
		if (rep.u.lease.nbatches > 0) {
			size_t ncan;
			hold(w, t, rep.u.lease.batches[0].lease_id, &rep);
			// Batches of cancelled jobs go back empty: that ends
			// the lease on the server once the rest is in.
			if (compute(t, &rep, &res, &ncan) > 0) {
				release[0] = rep.u.lease.batches[0].lease_id;
				nrelease   = 1;
			}
			hold(w, t, 0, NULL);
		}
		tasq_wire_rep_fini(&rep);
	}
	flush(w, &res, release, nrelease);
	results_free(&res);
}

// One beat for the leases in hand. While one has been held for longer
// than a beat period (a long batch), the beat is the Extend RPC, whose
// reply names the leases a cancel reached: so a running handler hears
// of a cancel within about two periods, and short batches cost nothing.
static void
heartbeat(struct worker *w, uint32_t nthreads, uint32_t period_ms)
{
	uint64_t ids[64], cancelled[64];
	size_t   n = 0, ncancelled = 0;
	bool     ask = false;
	uint64_t now = nng_clock();

	nng_mtx_lock(w->mtx);
	for (uint32_t i = 0; i < nthreads && n < 64; i++) {
		if (w->held[i] != 0) {
			ids[n++] = w->held[i];
			ask |= now - w->held_ms[i] >= period_ms;
		}
	}
	nng_mtx_unlock(w->mtx);
	(void) tasq_keepalive_beat_ask(
	    w->ka, ids, n, ask, cancelled, &ncancelled);
	if (ncancelled > 0) {
		cancel_leases(w, cancelled, ncancelled);
	}
}

// The watchdog of --task-timeout for handlers that run on the lease
// threads (builtin, plugin): a task that makes no progress for that long
// cannot be stopped from outside, so the process ends. First it fails
// that one task with DEADLINE_EXCEEDED (best effort, one Complete); the
// supervisor starts a new process and the rest of the batch comes back
// when its lease expires. exec and exec-each handlers time their
// children out themselves.
struct watchdog {
	struct worker *w;
	struct thr    *thr;
	nng_thread    *thread;
};

static void
watchdog_fire(struct worker *w, uint64_t job_id, uint64_t lease_id,
    uint64_t task_id, size_t k, bool known)
{
	char        msg[200], err[256];
	uint32_t    code = (uint32_t) tasq_err_code(TASQ_EDEADLINE_EXCEEDED);
	const char *errs[1]    = { msg };
	tasq_result_batch rb   = { .lease_id = lease_id,
		  .job_id                    = job_id,
		  .n                         = 1,
		  .ids                       = &task_id,
		  .codes                     = &code,
		  .errors                    = errs };
	uint8_t           none = 0;
	tasq_req          req;
	tasq_rep          rep;

	rb.results.data = &none;
	rb.results.lens = (uint32_t[]) { 0 };
	snprintf(msg, sizeof(msg),
	    "ran over --task-timeout (%u ms) in an in-process handler: "
	    "worker process restarted",
	    (unsigned) w->conf->task_timeout_ms);
	tasq_err(
	    "task %zu of job %llu: %s", k, (unsigned long long) job_id, msg);
	if (!known) {
		_exit(TASQ_WORKER_EXIT_TIMEOUT); // which task is not known
	}
	memset(&req, 0, sizeof(req));
	req.method               = TASQ_M_COMPLETE;
	req.u.complete.worker_id = w->id;
	req.u.complete.nresults  = 1;
	req.u.complete.results   = &rb;
	if (tasq_chan_call(w->chan, &req, w->conf->timeout_ms, &rep, err,
	        sizeof(err)) == 0) {
		tasq_wire_rep_fini(&rep);
	}
	_exit(TASQ_WORKER_EXIT_TIMEOUT);
}

static void
watchdog_loop(void *arg)
{
	struct watchdog *d      = arg;
	struct worker   *w      = d->w;
	uint32_t         period = w->conf->task_timeout_ms / 4;

	period = period < 10 ? 10 : period > 250 ? 250 : period;
	while (!atomic_load(&w->draining)) {
		nng_msleep(period);
		for (uint32_t i = 0; i < w->conf->pipeline; i++) {
			struct thr *t   = &d->thr[i];
			uint64_t    job = 0, lease = 0, task = 0;
			size_t      k    = 0;
			bool        fire = false, known = false;
			nng_mtx_lock(t->mtx);
			if (t->busy != NULL && t->in_process) {
				size_t done = atomic_load_explicit(
				    &t->busy->done, memory_order_relaxed);
				nng_time now = nng_clock();
				if (done != t->seen) {
					t->seen     = done;
					t->since_ms = now;
				} else if (now - t->since_ms >=
				    w->conf->task_timeout_ms) {
					// With put_fixed every result is
					// there from the start: which task
					// hangs is not known (done == n).
					fire  = true;
					k     = done;
					job   = t->batch->job_id;
					lease = t->batch->lease_id;
					known = done < t->batch->n;
					task = known ? t->batch->ids[done] : 0;
				}
			}
			nng_mtx_unlock(t->mtx);
			if (fire) {
				watchdog_fire(w, job, lease, task, k, known);
			}
		}
	}
}

// Opens the handlers of every type for one lease thread.
static int
thr_open(struct thr *t, const tasq_worker_conf *conf)
{
	tasq_handler_opts o = {
		.task_timeout_ms = conf->task_timeout_ms,
		.each_parallel   = conf->each_parallel,
		.cancel_grace_ms = conf->cancel_grace_ms,
	};
	char err[512];

	tasq_cancel_init(&t->cancel);
	if (nng_mtx_alloc(&t->mtx) != 0 ||
	    (t->handlers = calloc(conf->ntypes, sizeof(*t->handlers))) ==
	        NULL) {
		tasq_err("out of memory");
		return (1);
	}
	for (size_t i = 0; i < conf->ntypes; i++) {
		if (tasq_handler_open(&t->handlers[i], conf->types[i],
		        conf->handlers[i], &o, err, sizeof(err)) != 0) {
			tasq_err("--type %s=%s: %s", conf->types[i],
			    conf->handlers[i], err);
			return (TASQ_WORKER_EXIT_CONFIG);
		}
	}
	return (0);
}

static void
thr_close(struct thr *t, const tasq_worker_conf *conf)
{
	for (size_t i = 0; t->handlers != NULL && i < conf->ntypes; i++) {
		tasq_handler_free(t->handlers[i]);
	}
	free(t->handlers);
	if (t->mtx != NULL) {
		nng_mtx_free(t->mtx);
		tasq_cancel_fini(&t->cancel); // made with the mutex
	}
}

static void
thr_close_all(struct thr *thr, const tasq_worker_conf *conf)
{
	for (uint32_t i = 0; i < conf->pipeline; i++) {
		thr_close(&thr[i], conf);
	}
	free(thr);
}

int
tasq_worker_run(const tasq_worker_conf *conf, volatile sig_atomic_t *stop)
{
	struct watchdog dog = { 0 };
	struct worker   w;
	struct thr     *thr;
	tasq_chan_opts  co;
	char            err[512], host[48];
	int             rv;

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
	// Handlers first: a plugin that cannot load is a configuration
	// error, told before any connection is made.
	if ((thr = calloc(conf->pipeline, sizeof(*thr))) == NULL) {
		tasq_err("out of memory");
		return (1);
	}
	for (uint32_t i = 0; i < conf->pipeline; i++) {
		if ((rv = thr_open(&thr[i], conf)) != 0) {
			thr_close_all(thr, conf); // calloc'ed: closes unopened
			return (rv);
		}
	}
	tasq_conn_conf cc = {
		.url                  = conf->server,
		.key_file             = conf->key_file,
		.tls_ca               = conf->tls_ca,
		.tls_server_name      = conf->tls_server_name,
		.quiet                = conf->slot != 0,
		.exit_on_auth_failure = conf->exit_on_auth_failure,
	};
	if (tasq_conn_alloc(&w.conn, &cc) != 0) {
		tasq_err("out of memory");
		thr_close_all(thr, conf);
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
	co.conn_cb            = tasq_conn_pipe_cb;
	co.conn_arg           = w.conn;
	// Workers outlive server restarts, an unreachable server and a
	// name that does not resolve yet: keep dialing, with backoff (a
	// long one for what an operator must fix); conn tells each kind of
	// failure once.
	while ((rv = tasq_chan_open(&w.chan, &co, err, sizeof(err))) != 0) {
		uint32_t pause = 0;
		bool     quit = tasq_conn_dial_failed(w.conn, rv, err, &pause);
		for (uint32_t t = 0; t < pause && *stop == 0 && !quit;
		     t += 100) {
			sleep_ms(100);
		}
		if (*stop != 0 || quit) {
			thr_close_all(thr, conf);
			tasq_conn_free(w.conn);
			return (quit ? TASQ_WORKER_EXIT_AUTH : 0);
		}
	}
	tasq_debug("worker %s dialed %s (queue %s)", w.name, conf->server,
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
		thr_close_all(thr, conf);
		return (1);
	}
	if (nng_mtx_alloc(&w.mtx) != 0 ||
	    (w.held = calloc(conf->pipeline, sizeof(*w.held))) == NULL ||
	    (w.held_rep = calloc(conf->pipeline, sizeof(*w.held_rep))) ==
	        NULL ||
	    (w.held_ms = calloc(conf->pipeline, sizeof(*w.held_ms))) == NULL) {
		tasq_err("out of memory");
		return (1);
	}
	w.thr = thr;
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
	if (conf->task_timeout_ms > 0) {
		dog.w   = &w;
		dog.thr = thr;
		if (nng_thread_create(&dog.thread, watchdog_loop, &dog) != 0) {
			tasq_err("cannot start the --task-timeout watchdog");
			atomic_store(&w.draining, true);
		}
	}
	signals_block(false);
	// This thread beats the heart: leases of slow batches are extended
	// several times per lease (tasq_keepalive_period_ms) so that a lost
	// beat or two do no harm.
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
			heartbeat(&w, conf->pipeline,
			    tasq_keepalive_period_ms(
			        w.ka, atomic_load(&w.lease_ms)));
		}
	}
	atomic_store(&w.draining, true);
	for (uint32_t i = 0; i < conf->pipeline; i++) {
		if (thr[i].thread != NULL) {
			nng_thread_destroy(thr[i].thread); // joins
		}
	}
	if (dog.thread != NULL) {
		nng_thread_destroy(dog.thread);
	}
	thr_close_all(thr, conf);
	thr = NULL;
	tasq_info("worker %s drained", w.name);
	tasq_keepalive_close(w.ka);
	tasq_conn_close(w.conn);
	tasq_chan_close(w.chan);
	tasq_conn_free(w.conn);
	free(w.held);
	free(w.held_rep);
	free(w.held_ms);
	nng_mtx_free(w.mtx);
	return (0);
}
