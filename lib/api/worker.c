// worker: the serve handle of include/tasq/worker.h. It leases batches
// of tasks for the caller (Lease, PROTOCOL.md 9.2), takes their results
// back (with the next Lease, or by Complete, 9.3), releases what the
// caller gives up (Release, 9.5), and keeps every lease the caller holds
// alive on a thread of its own: heartbeats on the server's heartbeat port
// with the Extend RPC as the fallback, as tasq-worker does (the
// keepalive module, worker_keepalive.c). tasq-worker is a program over
// this file (worker/serve.c).
//
// The background thread also sends results that were handed back with
// tasq_lease_done when no Lease takes them within flush_ms, and releases
// the leases freed unfinished. Nothing it does holds serve.mtx across a
// call.
//
// Several servers (a session with a server list, or a name with several
// addresses; docs/LIBRARY.md "Several servers", the worker side): every
// lease carries the member it came from (tasq_lease.member) and all that
// concerns it (its results, Release, Extend, the JobStatus of a cancel,
// its heartbeats on that server's own heartbeat port) goes to that
// member. tasq_serve_lease leases from the members up in turn, from a
// cursor that every call moves on (lease_sharded). With one server
// member is 0 and every path is the one-server one of before.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_int.h"
#include "log.h"
#include "rand.h"
#include "worker_conn.h"
#include "worker_int.h"
#include "worker_keepalive.h"

#define DEFAULT_MAX_TASKS 16384
#define DEFAULT_WAIT_MS 1000
#define DEFAULT_LEASE_MS 30000
#define DEFAULT_FLUSH_MS 100
#define FREE_CALL_MS 2000 // tasq_serve_free's last calls
#define DEFAULT_MAX_REQ ((size_t) 4 << 20)
#define MIN_MAX_REQ ((size_t) 2 << 20)
#define MAX_MAX_REQ ((size_t) 1 << 30)
#define HB_TIMEOUT_MAX_MS 5000 // a Health or Extend call of the thread
#define BEAT_IDS TASQ_KEEPALIVE_MAX_IDS
// Several servers: the longest a Lease waits on one member for tasks
// (the long poll after a round found none; in the round each member is
// asked with no wait), so that tasks on another member wait at most this
// (plus the round trips) for an idle worker.
#define SHARD_WAIT_MS 200

// A call to member (0: the session's server, as with one server).
static int
wcall(struct tasq_serve *w, uint32_t member, const tasq_req *req,
    uint32_t timeout_ms, tasq_rep *rep, char *err, size_t errlen)
{
	if (member == TASQ_API_MEMBER_ANY) {
		return (tasq_api_call(
		    w->session, req, timeout_ms, rep, err, errlen));
	}
	return (tasq_api_call_member(
	    w->session, member, req, timeout_ms, rep, err, errlen));
}

// ---- the held list ---------------------------------------------------------

static void
held_add(struct tasq_serve *w, struct tasq_lease *l)
{
	l->prev = NULL;
	l->next = w->held;
	if (w->held != NULL) {
		w->held->prev = l;
	}
	w->held = l;
	w->nheld++;
}

static void
held_remove(struct tasq_serve *w, struct tasq_lease *l)
{
	if (l->prev != NULL) {
		l->prev->next = l->next;
	} else {
		w->held = l->next;
	}
	if (l->next != NULL) {
		l->next->prev = l->prev;
	}
	l->prev = l->next = NULL;
	w->nheld--;
}

// ---- a set of leases whose results go in one go ------------------------

struct sendset {
	struct tasq_lease **l;
	size_t              nl;
	tasq_result_batch  *rb;
	size_t              nrb;
	uint64_t           *release; // lease ids of partial leases
	size_t              nrelease;
	uint32_t            member; // where they all came from
};

static void
sendset_fini(struct sendset *ss)
{
	free(ss->l);
	free(ss->rb);
	free(ss->release);
	memset(ss, 0, sizeof(*ss));
}

// Moves the deferred leases of member (with one server: all of them)
// into ss. Called with mtx held; allocates (an error leaves them
// deferred).
static int
take_deferred(struct tasq_serve *w, struct sendset *ss, uint32_t member)
{
	struct tasq_lease **pp;
	size_t              n = 0;

	memset(ss, 0, sizeof(*ss));
	ss->member = member;
	for (struct tasq_lease *l = w->dhead; l != NULL; l = l->dnext) {
		n += l->member == member;
	}
	if (n == 0) {
		return (0);
	}
	if ((ss->l = calloc(n, sizeof(*ss->l))) == NULL) {
		return (NNG_ENOMEM);
	}
	pp       = &w->dhead;
	w->dtail = NULL;
	while (*pp != NULL) {
		struct tasq_lease *l = *pp;
		if (l->member != member) {
			w->dtail = l;
			pp       = &l->dnext;
			continue;
		}
		l->state        = WK_SENDING;
		ss->l[ss->nl++] = l;
		*pp             = l->dnext;
		l->dnext        = NULL;
	}
	return (0);
}

// Puts ss's leases back at the head of the deferred list (a request that
// carried them failed): they go again with the next one.
static void
put_back(struct tasq_serve *w, struct sendset *ss)
{
	nng_mtx_lock(w->mtx);
	for (size_t i = ss->nl; i-- > 0;) {
		struct tasq_lease *l = ss->l[i];
		l->state             = WK_DEFERRED;
		l->dnext             = w->dhead;
		w->dhead             = l;
		if (w->dtail == NULL) {
			w->dtail = l;
		}
	}
	nng_mtx_unlock(w->mtx);
	free(ss->l);
	ss->l  = NULL;
	ss->nl = 0;
}

// Builds the result batches of ss's leases (outside mtx: they are the
// library's now). Partial leases are noted for a Release afterwards.
static int
sendset_build(struct sendset *ss)
{
	size_t nb = 0;

	for (size_t i = 0; i < ss->nl; i++) {
		nb += ss->l[i]->nb;
	}
	if (nb == 0) {
		return (0);
	}
	if ((ss->rb = calloc(nb, sizeof(*ss->rb))) == NULL ||
	    (ss->release = calloc(ss->nl, sizeof(*ss->release))) == NULL) {
		return (NNG_ENOMEM);
	}
	for (size_t i = 0; i < ss->nl; i++) {
		size_t got;
		bool   partial;
		int    rv;
		if ((rv = wk_lease_batches(
		         ss->l[i], ss->rb + ss->nrb, &got, &partial)) != 0) {
			return (rv);
		}
		ss->nrb += got;
		if (partial) {
			ss->release[ss->nrelease++] = ss->l[i]->lease_id;
		}
	}
	return (0);
}

static int
release_ids(
    struct tasq_serve *w, uint32_t member, const uint64_t *ids, size_t n)
{
	tasq_req req;
	tasq_rep rep;
	char     err[256];
	int      rv = 0;

	for (size_t off = 0; off < n && rv == 0; off += 1024) {
		memset(&req, 0, sizeof(req));
		req.method              = TASQ_M_RELEASE;
		req.u.release.worker_id = w->id;
		req.u.release.n         = n - off < 1024 ? n - off : 1024;
		req.u.release.lease_ids = (uint64_t *) ids + off;
		if ((rv = wcall(w, member, &req, w->link.timeout_ms, &rep, err,
		         sizeof(err))) == 0) {
			tasq_wire_rep_fini(&rep);
		} else {
			tasq_api_set_msg(err);
		}
	}
	return (rv);
}

// The results were taken: the leases are finished (partial ones
// released, best effort: else they expire) and freed.
static void
sendset_done(struct tasq_serve *w, struct sendset *ss)
{
	if (ss->nrelease > 0) {
		(void) release_ids(w, ss->member, ss->release, ss->nrelease);
	}
	nng_mtx_lock(w->mtx);
	for (size_t i = 0; i < ss->nl; i++) {
		held_remove(w, ss->l[i]);
	}
	nng_mtx_unlock(w->mtx);
	for (size_t i = 0; i < ss->nl; i++) {
		wk_lease_destroy(ss->l[i]);
	}
	sendset_fini(ss);
}

// What result k of rb adds to a request, at most.
static size_t
result_cost(const tasq_result_batch *rb, size_t k)
{
	size_t len =
	    rb->results.width != 0 ? rb->results.width : rb->results.lens[k];
	size_t el = rb->errors != NULL && rb->errors[k] != NULL
	    ? strlen(rb->errors[k]) + 3
	    : 0;

	return (len + el + 24);
}

static size_t
batches_cost(const tasq_result_batch *rb, size_t nrb)
{
	size_t size = 1024;

	for (size_t i = 0; i < nrb; i++) {
		size += 64;
		for (size_t k = 0; k < rb[i].n; k++) {
			size += result_cost(&rb[i], k);
		}
	}
	return (size);
}

// Tasks [from, from + n) of rb as a batch of their own.
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

// Hands rb in with Complete requests of at most max_req_bytes each (at
// least one result each) and TASQ_WIRE_MAX_BATCHES batches. Returns 0 or
// the error of the call that failed (the server drops results it has:
// sending them all again is safe).
static int
hand_in(struct tasq_serve *w, uint32_t member, const tasq_result_batch *rb,
    size_t nrb)
{
	tasq_result_batch *part;
	size_t             bi = 0, k = 0;
	tasq_req           req;
	tasq_rep           rep;
	char               err[256];
	int                rv = 0;

	if (nrb == 0) {
		return (0);
	}
	if ((part = calloc(
	         nrb < TASQ_WIRE_MAX_BATCHES ? nrb : TASQ_WIRE_MAX_BATCHES,
	         sizeof(*part))) == NULL) {
		return (NNG_ENOMEM);
	}
	while (bi < nrb && rv == 0) {
		size_t np = 0, cost = 1024;
		while (bi < nrb && np < TASQ_WIRE_MAX_BATCHES) {
			size_t from = k;
			cost += 64;
			while (k < rb[bi].n) {
				size_t c = result_cost(&rb[bi], k);
				if (cost + c > w->link.max_req_bytes &&
				    (np > 0 || k > from)) {
					break;
				}
				cost += c;
				k++;
			}
			if (k > from) {
				part[np++] =
				    sub_batch(&rb[bi], from, k - from);
			}
			if (k < rb[bi].n) {
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
		if ((rv = wcall(w, member, &req, w->link.timeout_ms, &rep, err,
		         sizeof(err))) == 0) {
			tasq_wire_rep_fini(&rep);
		} else {
			tasq_api_set_msg(err);
		}
	}
	free(part);
	return (rv);
}

// Whether the session's connection is down (the server is gone): calls
// would only time out.
static bool
link_down(struct tasq_serve *w)
{
	// Several servers: each member's state is the session's (a call
	// to a member down fails at once).
	return (!w->sharded && w->conn != NULL && !tasq_conn_linked(w->conn));
}

// Sends the deferred results now, by Complete. Returns 0 (also when
// there were none) or the error (they stay deferred).
static int flush_member(struct tasq_serve *w, uint32_t member);

static int
flush(struct tasq_serve *w)
{
	uint32_t mem[TASQ_SHARD_MAX_MEMBERS];
	size_t   nmem = 0;
	int      rv   = 0;

	nng_mtx_lock(w->mtx);
	if (w->dhead != NULL && link_down(w)) {
		nng_mtx_unlock(w->mtx);
		tasq_api_set_msg("no connection to the server");
		return (TASQ_EUNAVAILABLE);
	}
	// Each member's results to it (one server: member 0, all).
	for (struct tasq_lease *l = w->dhead; l != NULL; l = l->dnext) {
		bool seen = false;
		for (size_t i = 0; i < nmem; i++) {
			seen |= mem[i] == l->member;
		}
		if (!seen && nmem < TASQ_SHARD_MAX_MEMBERS) {
			mem[nmem++] = l->member;
		}
	}
	nng_mtx_unlock(w->mtx);
	for (size_t i = 0; i < nmem; i++) {
		int r = flush_member(w, mem[i]);
		rv    = rv != 0 ? rv : r;
	}
	return (rv);
}

static int
flush_member(struct tasq_serve *w, uint32_t member)
{
	struct sendset ss;
	int            rv;

	nng_mtx_lock(w->mtx);
	rv = take_deferred(w, &ss, member);
	nng_mtx_unlock(w->mtx);
	if (rv != 0 || ss.nl == 0) {
		return (rv);
	}
	if ((rv = sendset_build(&ss)) == 0) {
		rv = hand_in(w, member, ss.rb, ss.nrb);
	}
	if (rv != 0) {
		free(ss.rb);
		free(ss.release);
		ss.rb      = NULL;
		ss.release = NULL;
		ss.nrb = ss.nrelease = 0;
		put_back(w, &ss);
		return (rv);
	}
	sendset_done(w, &ss);
	return (0);
}

// ---- cancelled jobs (docs/PROTOCOL.md 9.15)
// ---------------------------------

// The server told that these leases hold tasks of a cancelled job: a
// lease of one job is marked at once; one of several jobs waits for the
// thread to ask which of them (resolve_jobs).
static void
mark_cancelled(
    struct tasq_serve *w, uint32_t member, const uint64_t *ids, size_t n)
{
	if (n == 0) {
		return;
	}
	nng_mtx_lock(w->mtx);
	for (struct tasq_lease *l = w->held; l != NULL; l = l->next) {
		if (l->member != member) {
			continue; // another server's lease ids
		}
		for (size_t i = 0; i < n; i++) {
			if (ids[i] != l->lease_id) {
				continue;
			}
			if (atomic_load(&l->told)) {
				// Named again: a lease of several jobs may
				// hold another cancelled one now (asked again
				// while some batch is not known cancelled).
				bool all = true;
				for (size_t b = 0; b < l->nb; b++) {
					all &= atomic_load(&l->bcancelled[b]);
				}
				if (l->nb > 1 && l->resolved && !all) {
					l->resolved = false;
					w->resolve  = true;
					nng_cv_wake(w->cv);
				}
				continue;
			}
			w->cancels++;
			if (l->nb == 1) {
				atomic_store(&l->bcancelled[0], true);
				l->resolved = true;
			} else {
				w->resolve = true;
				nng_cv_wake(w->cv);
			}
			atomic_store(&l->told, true);
			if (l->resolved && w->cancel_fn != NULL) {
				w->cancel_fn(w->cancel_arg, l);
			}
		}
	}
	nng_mtx_unlock(w->mtx);
}

// Whether job is cancelled (or gone) as JobStatus says; false when it
// cannot tell.
static bool
job_cancelled(struct tasq_serve *w, uint32_t member, uint64_t job)
{
	tasq_req req;
	tasq_rep rep;
	char     err[256];
	bool     yes;
	int      rv;

	memset(&req, 0, sizeof(req));
	req.method              = TASQ_M_JOB_STATUS;
	req.u.job_status.job_id = job;
	if ((rv = wcall(w, member, &req, w->link.timeout_ms, &rep, err,
	         sizeof(err))) != 0) {
		return (rv == TASQ_ENOT_FOUND);
	}
	yes = rep.u.job_status.job.state == TASQ_JOB_CANCELLED;
	tasq_wire_rep_fini(&rep);
	return (yes);
}

// The thread's part of mark_cancelled: which jobs of the leases of
// several jobs that were told are the cancelled ones. mtx held on entry
// and exit, not across the calls.
static void
resolve_jobs(struct tasq_serve *w)
{
	uint64_t jobs[64], bad[64];
	uint32_t jmem[64], bmem[64];
	size_t   njobs = 0, nbad = 0;

	w->resolve = false;
	for (struct tasq_lease *l = w->held; l != NULL; l = l->next) {
		if (!atomic_load(&l->told) || l->resolved) {
			continue;
		}
		for (size_t b = 0; b < l->nb && njobs < 64; b++) {
			bool seen = false;
			for (size_t k = 0; k < njobs; k++) {
				seen |= jobs[k] == l->b[b]->job_id &&
				    jmem[k] == l->member;
			}
			if (!seen) {
				jmem[njobs]   = l->member;
				jobs[njobs++] = l->b[b]->job_id;
			}
		}
	}
	nng_mtx_unlock(w->mtx);
	for (size_t k = 0; k < njobs; k++) {
		if (job_cancelled(w, jmem[k], jobs[k])) {
			bmem[nbad]  = jmem[k];
			bad[nbad++] = jobs[k];
		}
	}
	nng_mtx_lock(w->mtx);
	for (struct tasq_lease *l = w->held; l != NULL; l = l->next) {
		if (!atomic_load(&l->told) || l->resolved) {
			continue;
		}
		for (size_t b = 0; b < l->nb; b++) {
			for (size_t k = 0; k < nbad; k++) {
				if (l->b[b]->job_id == bad[k] &&
				    l->member == bmem[k]) {
					atomic_store(&l->bcancelled[b], true);
				}
			}
		}
		l->resolved = true;
		if (w->cancel_fn != NULL) {
			w->cancel_fn(w->cancel_arg, l);
		}
	}
}

// Heartbeats have no reply: once per interval, the leases held longer
// than half of one go in an Extend request too (a cancel reaches a
// running handler within 1.5 intervals; batches shorter than half an
// interval never cost a round trip), whose reply names the cancelled
// ones (PROTOCOL.md 9.15, "The worker's duty"). mtx held on entry and
// exit, not across the call.
static void
poll_cancel(struct tasq_serve *w, nng_time interval)
{
	uint64_t ids[1024];
	uint32_t mem[1024], member = 0;
	bool     more;
	nng_time now = nng_clock();
	tasq_req req;
	tasq_rep rep;
	char     err[256];

	if (link_down(w)) {
		return;
	}
	// One Extend per member (one server: one), each with its leases.
	for (size_t m = 0;; m++) {
		size_t n = 0, nm = 0;
		more = false;
		for (struct tasq_lease *l = w->held; l != NULL && n < 1024;
		     l                    = l->next) {
			if (l->state == WK_RELEASE ||
			    now - l->taken < interval / 2) {
				continue;
			}
			if (nm == 0) {
				// The m-th member of those held.
				size_t k = 0;
				for (; k < m && mem[k] != l->member; k++) {
				}
				if (k < m) {
					continue; // asked already
				}
				mem[m] = member = l->member;
				nm              = 1;
			}
			if (l->member == member) {
				ids[n++] = l->lease_id;
			} else {
				more = true;
			}
		}
		if (n == 0) {
			return;
		}
		nng_mtx_unlock(w->mtx);
		memset(&req, 0, sizeof(req));
		req.method             = TASQ_M_EXTEND;
		req.u.extend.worker_id = w->id;
		req.u.extend.n         = n;
		req.u.extend.lease_ids = ids;
		if (wcall(w, member, &req, w->link.timeout_ms, &rep, err,
		        sizeof(err)) == 0) {
			mark_cancelled(w, member, rep.u.extend.cancelled,
			    rep.u.extend.ncancelled);
			tasq_wire_rep_fini(&rep);
		}
		nng_mtx_lock(w->mtx);
		if (!more || m + 1 == 1024 || w->closing) {
			return;
		}
	}
}

// ---- the background thread -----------------------------------------------

// Opens the heartbeat channel (a Health call: outside mtx, which the
// caller holds on entry and exit).
static void
keepalive_open(struct tasq_serve *w)
{
	char                err[256];
	char               *hb = NULL;
	tasq_keepalive     *ka = NULL;
	tasq_keepalive_conf kc = {
		.server          = w->link.url,
		.keys            = w->link.keys,
		.tls_ca          = w->link.tls_ca,
		.tls_server_name = w->link.tls_server_name,
		.tls_cert        = w->link.tls_cert,
		.tls_key         = w->link.tls_key,
		.chan            = w->link.chan,
		.worker_id       = w->id,
		.timeout_ms      = w->link.timeout_ms < HB_TIMEOUT_MAX_MS
		         ? w->link.timeout_ms
		         : HB_TIMEOUT_MAX_MS,
	};

	w->ka_opening = true;
	if (w->heartbeat != NULL) {
		hb = strdup(w->heartbeat);
	}
	nng_mtx_unlock(w->mtx);
	kc.heartbeat = hb;
	if (tasq_keepalive_open(&ka, &kc, err, sizeof(err)) != 0) {
		// Only a heartbeat URL nng refuses: beat by RPC then.
		kc.heartbeat = "none";
		(void) tasq_keepalive_open(&ka, &kc, err, sizeof(err));
	}
	free(hb);
	nng_mtx_lock(w->mtx);
	w->ka = ka;
}

// Releases the leases of list (linked by dnext), each on its member;
// ids has room for them all.
static void
release_list(struct tasq_serve *w, struct tasq_lease *list, uint64_t *ids)
{
	for (struct tasq_lease *first = list; first != NULL;
	     first                    = first->dnext) {
		size_t n    = 0;
		bool   done = false;
		// Each member once: at its first lease in the list.
		for (struct tasq_lease *l = list; l != first; l = l->dnext) {
			done |= l->member == first->member;
		}
		if (done) {
			continue;
		}
		for (struct tasq_lease *l = first; l != NULL; l = l->dnext) {
			if (l->member == first->member) {
				ids[n++] = l->lease_id;
			}
		}
		(void) release_ids(w, first->member, ids, n);
	}
}

static void
bg_release(struct tasq_serve *w)
{
	struct tasq_lease *list = w->rhead, *l;
	uint64_t          *ids;
	size_t             n = 0;

	w->rhead = NULL;
	for (l = list; l != NULL; l = l->dnext) {
		held_remove(w, l);
		n++;
	}
	nng_mtx_unlock(w->mtx);
	if ((ids = calloc(n, sizeof(*ids))) != NULL) {
		release_list(w, list, ids); // else they expire
		free(ids);
	}
	while (list != NULL) {
		l    = list;
		list = l->dnext;
		wk_lease_destroy(l);
	}
	nng_mtx_lock(w->mtx);
}

static void
bg_beat(struct tasq_serve *w)
{
	uint64_t ids[BEAT_IDS];
	size_t   n = 0, skip = 0, total;

	// Every held lease, BEAT_IDS at a time.
	do {
		size_t i = 0;
		n        = 0;
		for (struct tasq_lease *l = w->held; l != NULL; l = l->next) {
			if (l->state == WK_RELEASE) {
				continue;
			}
			if (i++ < skip) {
				continue;
			}
			if (n == BEAT_IDS) {
				break;
			}
			ids[n++] = l->lease_id;
		}
		total = i;
		skip += n;
		w->beats++;
		if (w->ka == NULL) {
			keepalive_open(w);
		}
		nng_mtx_unlock(w->mtx);
		// w->ka is this thread's to use (others only look at it).
		if (n > 0 && w->ka != NULL) {
			(void) tasq_keepalive_beat(w->ka, ids, n);
		}
		nng_mtx_lock(w->mtx);
	} while (n == BEAT_IDS && skip < total && !w->closing);
}

// Several servers: member num's heartbeat state, made (and its chan
// held, its heartbeat port asked with Health) at its first beat; NULL
// when the member cannot be reached now (a later beat tries again). The
// background thread's only; mtx not held.
static struct wk_member *
member_hb(struct tasq_serve *w, uint32_t num)
{
	struct wk_member   *h;
	tasq_shard_member   mi[TASQ_SHARD_MAX_MEMBERS];
	size_t              nm;
	char                err[256];
	tasq_keepalive_conf kc;

	for (size_t i = 0; i < w->nhb; i++) {
		if (w->hb[i].num == num) {
			return (&w->hb[i]);
		}
	}
	if (w->hb == NULL &&
	    (w->hb = calloc(TASQ_SHARD_MAX_MEMBERS, sizeof(*w->hb))) == NULL) {
		return (NULL);
	}
	if (w->nhb == TASQ_SHARD_MAX_MEMBERS) {
		// Members come and go (numbers are never reused): drop
		// one that is no longer the session's.
		return (NULL);
	}
	h = &w->hb[w->nhb];
	nng_mtx_lock(w->mtx);
	w->ka_opening = true; // w->heartbeat is fixed from now on
	nng_mtx_unlock(w->mtx);
	nm = tasq_api_members(w->session, mi, TASQ_SHARD_MAX_MEMBERS);
	for (size_t i = 0; i < nm && i < TASQ_SHARD_MAX_MEMBERS; i++) {
		if (mi[i].num == num) {
			snprintf(h->url, sizeof(h->url), "%s", mi[i].url);
			snprintf(h->host, sizeof(h->host), "%s", mi[i].host);
		}
	}
	if (h->url[0] == '\0' ||
	    tasq_api_member_hold(
	        w->session, num, &h->chan, NULL, err, sizeof(err)) != 0) {
		memset(h, 0, sizeof(*h));
		return (NULL);
	}
	memset(&kc, 0, sizeof(kc));
	kc.server          = h->url;
	kc.heartbeat       = w->heartbeat; // set before the first lease
	kc.keys            = w->link.keys;
	kc.tls_ca          = w->link.tls_ca;
	kc.tls_server_name = w->link.tls_server_name != NULL
	    ? w->link.tls_server_name
	    : (h->host[0] != '\0' ? h->host : NULL);
	kc.tls_cert        = w->link.tls_cert;
	kc.tls_key         = w->link.tls_key;
	kc.chan            = h->chan;
	kc.worker_id       = w->id;
	kc.timeout_ms      = w->link.timeout_ms < HB_TIMEOUT_MAX_MS
	         ? w->link.timeout_ms
	         : HB_TIMEOUT_MAX_MS;
	if (tasq_keepalive_open(&h->ka, &kc, err, sizeof(err)) != 0) {
		kc.heartbeat = "none";
		if (tasq_keepalive_open(&h->ka, &kc, err, sizeof(err)) != 0) {
			tasq_api_member_release(w->session, num);
			memset(h, 0, sizeof(*h));
			return (NULL);
		}
	}
	h->num = num;
	w->nhb++;
	return (h);
}

// bg_beat with several servers: each member's leases to its own
// heartbeat port. mtx held on entry and exit, not across the calls.
static void
bg_beat_sharded(struct tasq_serve *w)
{
	uint64_t *ids;
	uint32_t *mem;
	size_t    n = 0, cap = w->nheld;

	w->beats++;
	if (cap == 0 || (ids = calloc(cap, sizeof(*ids))) == NULL) {
		return;
	}
	if ((mem = calloc(cap, sizeof(*mem))) == NULL) {
		free(ids);
		return;
	}
	for (struct tasq_lease *l = w->held; l != NULL && n < cap;
	     l                    = l->next) {
		if (l->state != WK_RELEASE) {
			mem[n]   = l->member;
			ids[n++] = l->lease_id;
		}
	}
	nng_mtx_unlock(w->mtx);
	for (size_t i = 0; i < n; i++) {
		struct wk_member *h;
		uint64_t          batch[BEAT_IDS];
		size_t            nb   = 0;
		bool              done = false;
		for (size_t k = 0; k < i; k++) {
			done |= mem[k] == mem[i];
		}
		if (done || (h = member_hb(w, mem[i])) == NULL) {
			continue;
		}
		for (size_t k = i; k < n; k++) {
			if (mem[k] != mem[i]) {
				continue;
			}
			batch[nb++] = ids[k];
			if (nb == BEAT_IDS) {
				(void) tasq_keepalive_beat(h->ka, batch, nb);
				nb = 0;
			}
		}
		if (nb > 0) {
			(void) tasq_keepalive_beat(h->ka, batch, nb);
		}
	}
	free(ids);
	free(mem);
	nng_mtx_lock(w->mtx);
}

static uint32_t
beat_period(struct tasq_serve *w)
{
	tasq_keepalive *ka =
	    w->sharded ? (w->nhb > 0 ? w->hb[0].ka : NULL) : w->ka;
	uint32_t p = ka != NULL ? tasq_keepalive_period_ms(ka, w->lease_ms)
	                        : w->lease_ms / 4;

	return (p > 10 ? p : 10);
}

static void
bg_loop(void *arg)
{
	struct tasq_serve *w = arg;
	nng_time           next_beat, retry_flush = 0;

	nng_mtx_lock(w->mtx);
	next_beat = nng_clock() + beat_period(w);
	while (!w->closing) {
		nng_time now = nng_clock(), until;
		w->kick      = false;
		if (w->rhead != NULL) {
			bg_release(w);
			continue;
		}
		if (w->dhead != NULL && now >= retry_flush &&
		    now - w->dhead->since >= w->flush_ms) {
			int rv;
			nng_mtx_unlock(w->mtx);
			rv = flush(w);
			nng_mtx_lock(w->mtx);
			if (rv != 0) {
				retry_flush = nng_clock() + 500;
			}
			continue;
		}
		if (w->nheld == 0 || next_beat > now + beat_period(w)) {
			// The first beat of a new lease comes within a
			// period of its arrival, and a lease time learned
			// shorter (the first lease's) takes effect at once.
			next_beat = now + beat_period(w);
		}
		if (w->resolve) {
			resolve_jobs(w);
			continue;
		}
		if (w->ka_want && w->ka == NULL && !w->ka_opening &&
		    !w->sharded) {
			// The first lease: heartbeats ready before a lease
			// needs them (and the port told at once).
			w->ka_want = false;
			keepalive_open(w);
			continue;
		}
		if (w->nheld > 0 && now >= next_beat) {
			nng_time period = beat_period(w);
			if (w->sharded) {
				bg_beat_sharded(w);
			} else {
				bg_beat(w);
			}
			poll_cancel(w, period);
			next_beat = nng_clock() + beat_period(w);
			continue;
		}
		until = now + 1000;
		if (w->nheld > 0 && next_beat < until) {
			until = next_beat;
		}
		if (w->dhead != NULL) {
			nng_time f = w->dhead->since + w->flush_ms;
			f          = f < retry_flush ? retry_flush : f;
			until      = f < until ? f : until;
		}
		// While leases are held, a look every flush_ms: results
		// handed back need no wake-up of their own (a context switch
		// per batch).
		if (w->nheld > 0 && now + w->flush_ms < until) {
			until = now + w->flush_ms;
		}
		if (!w->kick) {
			(void) nng_cv_until(w->cv, until);
		}
	}
	nng_mtx_unlock(w->mtx);
}

// ---- the public calls ---------------------------------------------------

// What the worker side needs of the session, borrowed from it.
static void
link_get(tasq_session *s, wk_link *link)
{
	const tasq_opts *o = s->opts;

	memset(link, 0, sizeof(*link));
	link->chan            = s->chan;
	link->url             = o->val[TASQ_API_OPT_SERVER];
	link->keys            = s->keys;
	link->tls_ca          = o->val[TASQ_API_OPT_TLS_CA];
	link->tls_server_name = o->val[TASQ_API_OPT_TLS_SERVER_NAME];
	link->tls_cert        = o->val[TASQ_API_OPT_TLS_CERT];
	link->tls_key         = o->val[TASQ_API_OPT_TLS_KEY];
	link->timeout_ms      = s->timeout_ms;
	// As tasq-worker --max-request: under the server's --max-message
	// (4 MiB by default), the rest in several requests.
	link->max_req_bytes = (size_t) 4 << 20;
}

// The session's close: tasq_serve_run returns (its calls fail anyway).
static void
session_closed(void *arg)
{
	tasq_serve_stop(arg);
}

// The link lines (worker_conn.c) go to the caller's log function.
static void
conn_log(void *arg, int level, const char *line)
{
	struct tasq_serve *w = arg;
	tasq_serve_log_fn  fn;
	void              *fa;

	nng_mtx_lock(w->mtx);
	fn = w->log_fn;
	fa = w->log_arg;
	nng_mtx_unlock(w->mtx);
	if (fn != NULL) {
		fn(fa, level, line);
	}
}

static void
conn_make(struct tasq_serve *w, tasq_conn **cp, const tasq_opts *o)
{
	tasq_conn_conf cc = {
		.url             = o->val[TASQ_API_OPT_SERVER],
		.key_file        = o->val[TASQ_API_OPT_KEY_FILE],
		.tls_ca          = o->val[TASQ_API_OPT_TLS_CA],
		.tls_server_name = o->val[TASQ_API_OPT_TLS_SERVER_NAME],
		.log             = conn_log,
		.log_arg         = w,
	};

	nng_mtx_lock(w->mtx);
	cc.exit_on_auth_failure = !w->refusal_retry;
	nng_mtx_unlock(w->mtx);
	if (tasq_conn_alloc(cp, &cc) != 0) {
		*cp = NULL; // no lines then (out of memory)
	}
}

// w takes session s (held by the caller): its link, its close, and its
// connections watched for the link lines (by c, or a new conn).
static void
attach(struct tasq_serve *w, tasq_session *s, tasq_conn *c)
{
	if (c == NULL) {
		conn_make(w, &c, s->opts);
	}
	nng_mtx_lock(w->mtx);
	link_get(s, &w->link);
	w->link.max_req_bytes = w->max_req_bytes;
	w->conn               = c;
	w->session            = s;
	w->sharded            = tasq_api_sharded(s);
	nng_mtx_unlock(w->mtx);
	// Several servers: the members' connections are the session's to
	// watch (a callback here would replace its own).
	if (c != NULL && !w->sharded) {
		tasq_chan_set_conn_cb(s->chan, tasq_conn_pipe_cb, c);
	}
	w->closer.fn  = session_closed;
	w->closer.arg = w;
	tasq_api_session_add_closer(s, &w->closer);
}

TASQ_API int
tasq_serve_alloc(tasq_serve **wp, tasq_session *s)
{
	struct tasq_serve *w;
	char               host[48];
	int                rv;

	tasq_api_clear();
	if (wp == NULL) {
		return (tasq_api_fail(
		    TASQ_EINVALID_ARGUMENT, "tasq_serve_alloc: wp is NULL"));
	}
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	if (s != NULL && (rv = tasq_api_session_hold(s)) != 0) {
		free(w);
		return (tasq_api_fail(rv, "the session is closed"));
	}
	w->max_req_bytes = DEFAULT_MAX_REQ;
	w->id            = tasq_random64();
	w->max_tasks     = DEFAULT_MAX_TASKS;
	w->wait_ms       = DEFAULT_WAIT_MS;
	w->lease_ms      = DEFAULT_LEASE_MS;
	w->flush_ms      = DEFAULT_FLUSH_MS;
	atomic_init(&w->stop, false);
	if (gethostname(host, sizeof(host)) != 0) {
		strcpy(host, "unknown");
	}
	host[sizeof(host) - 1] = '\0';
	snprintf(w->name, sizeof(w->name), "%s/%d/lib", host, (int) getpid());
	if (nng_mtx_alloc(&w->mtx) != 0 || nng_cv_alloc(&w->cv, w->mtx) != 0 ||
	    nng_thread_create(&w->thread, bg_loop, w) != 0) {
		if (w->cv != NULL) {
			nng_cv_free(w->cv);
		}
		if (w->mtx != NULL) {
			nng_mtx_free(w->mtx);
		}
		if (s != NULL) {
			tasq_api_session_release(s);
		}
		free(w);
		return (tasq_api_fail(
		    TASQ_ERESOURCE_EXHAUSTED, "out of memory or threads"));
	}
	atomic_init(&w->fails, 0);
	atomic_init(&w->cursor, 0);
	if (s != NULL) {
		attach(w, s, NULL);
	}
	*wp = w;
	return (0);
}

static int
add_name(tasq_serve *w, char **names, uint32_t *weights, size_t *n, size_t max,
    const char *name, uint32_t weight)
{
	char *copy;
	int   rv = 0;

	if ((copy = strdup(name)) == NULL) {
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	nng_mtx_lock(w->mtx);
	for (size_t i = 0; i < *n; i++) {
		if (strcmp(names[i], name) == 0) {
			rv = TASQ_EALREADY_EXISTS;
		}
	}
	if (rv == 0 && *n == max) {
		rv = TASQ_EOUT_OF_RANGE;
	}
	if (rv == 0) {
		if (weights != NULL) {
			weights[*n] = weight;
		}
		names[(*n)++] = copy;
		copy          = NULL;
	}
	nng_mtx_unlock(w->mtx);
	free(copy);
	if (rv == TASQ_EALREADY_EXISTS) {
		return (tasq_api_fail(rv, "'%s' is there already", name));
	}
	if (rv != 0) {
		return (tasq_api_fail(rv, "at most %zu", max));
	}
	return (0);
}

TASQ_API int
tasq_serve_add_type(tasq_serve *w, const char *type)
{
	tasq_api_clear();
	if (w == NULL || type == NULL || !tasq_wire_valid_name(type)) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "a task type is 1 to 64 characters of [A-Za-z0-9._-]"));
	}
	return (add_name(
	    w, w->types, NULL, &w->ntypes, TASQ_WIRE_MAX_TYPES, type, 0));
}

TASQ_API int
tasq_serve_add_queue(tasq_serve *w, const char *queue, uint32_t weight)
{
	tasq_api_clear();
	if (w == NULL || queue == NULL || !tasq_wire_valid_name(queue)) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "a queue name is 1 to 64 characters of [A-Za-z0-9._-]"));
	}
	if (weight > TASQ_WIRE_MAX_PRIORITY) {
		return (tasq_api_fail(
		    TASQ_EINVALID_ARGUMENT, "a queue's weight is 1 to 100"));
	}
	return (add_name(w, w->qnames, w->qweights, &w->nqueues,
	    TASQ_WIRE_MAX_QUEUES, queue, weight != 0 ? weight : 1));
}

TASQ_API int
tasq_serve_set_batch(tasq_serve *w, uint32_t max_tasks)
{
	tasq_api_clear();
	if (w == NULL || max_tasks == 0 || max_tasks > 65536) {
		return (tasq_api_fail(
		    TASQ_EINVALID_ARGUMENT, "tasks per lease: 1 to 65536"));
	}
	nng_mtx_lock(w->mtx);
	w->max_tasks = max_tasks;
	nng_mtx_unlock(w->mtx);
	return (0);
}

TASQ_API int
tasq_serve_set_wait(tasq_serve *w, uint32_t wait_ms)
{
	tasq_api_clear();
	if (w == NULL || wait_ms > 60000) {
		return (tasq_api_fail(
		    TASQ_EINVALID_ARGUMENT, "the wait is 0 to 60000 ms"));
	}
	nng_mtx_lock(w->mtx);
	w->wait_ms = wait_ms;
	nng_mtx_unlock(w->mtx);
	return (0);
}

TASQ_API int
tasq_serve_set_name(tasq_serve *w, const char *name)
{
	size_t len;

	tasq_api_clear();
	if (w == NULL || name == NULL ||
	    (len = strlen(name)) > TASQ_WIRE_MAX_NAME) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "a worker name is at most 64 bytes"));
	}
	// The wire takes no control characters in a worker name.
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char) name[i];
		if (c < 0x20 || c == 0x7f) {
			return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
			    "a worker name has no control characters"));
		}
	}
	nng_mtx_lock(w->mtx);
	memcpy(w->name, name, len + 1);
	nng_mtx_unlock(w->mtx);
	return (0);
}

TASQ_API int
tasq_serve_set_heartbeat(tasq_serve *w, const char *url)
{
	char *copy = NULL;

	tasq_api_clear();
	if (w == NULL) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT, "w is NULL"));
	}
	if (url != NULL && (copy = strdup(url)) == NULL) {
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	nng_mtx_lock(w->mtx);
	if (w->ka_opening || w->ka != NULL) {
		nng_mtx_unlock(w->mtx);
		free(copy);
		return (tasq_api_fail(TASQ_EFAILED_PRECONDITION,
		    "heartbeats have started: set it before the first lease"));
	}
	free(w->heartbeat);
	w->heartbeat = copy;
	nng_mtx_unlock(w->mtx);
	return (0);
}

TASQ_API int
tasq_serve_set_max_request(tasq_serve *w, size_t max_bytes)
{
	tasq_api_clear();
	if (w == NULL || max_bytes < MIN_MAX_REQ || max_bytes > MAX_MAX_REQ) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "the largest request is 2 MiB to 1 GiB"));
	}
	nng_mtx_lock(w->mtx);
	w->max_req_bytes      = max_bytes;
	w->link.max_req_bytes = max_bytes;
	nng_mtx_unlock(w->mtx);
	return (0);
}

TASQ_API int
tasq_serve_set_log(tasq_serve *w, tasq_serve_log_fn fn, void *arg)
{
	tasq_api_clear();
	if (w == NULL) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT, "w is NULL"));
	}
	nng_mtx_lock(w->mtx);
	w->log_fn  = fn;
	w->log_arg = arg;
	nng_mtx_unlock(w->mtx);
	return (0);
}

TASQ_API int
tasq_serve_set_refusal(tasq_serve *w, bool retry)
{
	tasq_api_clear();
	if (w == NULL) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT, "w is NULL"));
	}
	nng_mtx_lock(w->mtx);
	w->refusal_retry = retry;
	nng_mtx_unlock(w->mtx);
	if (w->conn != NULL) {
		tasq_conn_set_exit(w->conn, !retry);
	}
	return (0);
}

TASQ_API int
tasq_serve_set_cancel_fn(tasq_serve *w, tasq_serve_cancel_fn fn, void *arg)
{
	tasq_api_clear();
	if (w == NULL) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT, "w is NULL"));
	}
	nng_mtx_lock(w->mtx);
	w->cancel_fn  = fn;
	w->cancel_arg = arg;
	nng_mtx_unlock(w->mtx);
	return (0);
}

// A public code back to the kind of failure worker_conn tells apart: a
// status the server answered, or the link (no answer).
static int
conn_code(int rv)
{
	switch (rv) {
	case TASQ_EUNAVAILABLE:
		return (NNG_ECONNSHUT);
	case TASQ_EUNAUTHENTICATED:
		return (NNG_ECRYPTO);
	case TASQ_EINVALID_ARGUMENT:
		return (NNG_EADDRINVAL);
	default:
		return (rv);
	}
}

static void
stop_sleep(struct tasq_serve *w, uint32_t ms)
{
	for (uint32_t t = 0; t < ms && !atomic_load(&w->stop); t += 50) {
		nng_msleep(ms - t < 50 ? ms - t : 50);
	}
}

TASQ_API int
tasq_serve_dial(tasq_serve *w, const tasq_opts *opts)
{
	tasq_opts    *o = NULL, *env = NULL;
	tasq_session *s = NULL;
	tasq_conn    *c = NULL;
	char          msg[512];
	int           rv;

	tasq_api_clear();
	if (w == NULL || w->session != NULL) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_serve_dial: w is NULL or has a session"));
	}
	if (opts == NULL) {
		if ((rv = tasq_opts_alloc(&env)) != 0 ||
		    (rv = tasq_opts_load_env(env)) != 0) {
			tasq_opts_free(env);
			return (rv);
		}
		opts = env;
	}
	// One attempt per open; the pauses are the link's (worker_conn).
	rv = tasq_api_opts_copy(&o, opts);
	tasq_opts_free(env);
	if (rv != 0 || (rv = tasq_opts_set(o, "connect-timeout", "0")) != 0) {
		tasq_opts_free(o);
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	conn_make(w, &c, o);
	for (;;) {
		uint32_t pause = 0;
		bool     quit;
		if (atomic_load(&w->stop)) {
			rv = TASQ_ECANCELLED;
			snprintf(msg, sizeof(msg),
			    "stopped before the server "
			    "was reached");
			break;
		}
		if ((rv = tasq_session_open(&s, o)) == 0) {
			break;
		}
		snprintf(msg, sizeof(msg), "%s", tasq_errmsg());
		if (c == NULL) {
			break;
		}
		// Retried: no server (yet), a refused handshake, an address
		// that does not resolve (yet). Anything else (options the
		// session refuses: no key, a file it cannot read) is the
		// caller's to fix.
		if (rv != TASQ_EUNAVAILABLE && rv != TASQ_EUNAUTHENTICATED &&
		    !(rv == TASQ_EINVALID_ARGUMENT &&
		        (strstr(msg, "cannot connect") != NULL ||
		            strstr(msg, "server address") != NULL))) {
			break;
		}
		quit = tasq_conn_dial_failed(c, conn_code(rv), msg, &pause);
		if (quit) {
			break;
		}
		stop_sleep(w, pause);
	}
	if (rv != 0) {
		tasq_conn_free(c);
		tasq_opts_free(o);
		return (tasq_api_fail(rv, "%s", msg));
	}
	if ((rv = tasq_api_session_hold(s)) != 0) {
		tasq_conn_free(c);
		tasq_opts_free(o);
		tasq_session_free(s);
		return (tasq_api_fail(rv, "the session is closed"));
	}
	w->own      = s;
	w->own_opts = o; // c borrows its strings
	attach(w, s, c);
	return (0);
}

TASQ_API uint32_t
tasq_serve_lease_ms(tasq_serve *w)
{
	uint32_t ms;

	if (w == NULL) {
		return (0);
	}
	nng_mtx_lock(w->mtx);
	ms = w->lease_ms;
	nng_mtx_unlock(w->mtx);
	return (ms);
}

// What one Lease request sends, copied under mtx.
struct lease_call {
	tasq_req       req;
	struct sendset ss;
	const char    *types[TASQ_WIRE_MAX_TYPES];
	char           tbuf[TASQ_WIRE_MAX_TYPES][TASQ_WIRE_MAX_NAME + 1];
	char           qbuf[TASQ_WIRE_MAX_QUEUES][TASQ_WIRE_MAX_NAME + 1];
	char           name[TASQ_WIRE_MAX_NAME + 1];
	uint32_t       wait_ms;
	uint32_t       member;      // where it goes (0: the one server)
	uint32_t       max_wait_ms; // the caller's cap of wait_ms
};

// Builds the request (results of the deferred leases with it, or ahead
// of it by Complete when they do not fit).
static int
lease_prepare(struct tasq_serve *w, struct lease_call *c, bool async)
{
	tasq_req *req = &c->req;
	int       rv;

	memset(req, 0, sizeof(*req));
	nng_mtx_lock(w->mtx);
	if (w->session == NULL) {
		nng_mtx_unlock(w->mtx);
		return (tasq_api_fail(TASQ_EFAILED_PRECONDITION,
		    "the serve handle has no session (tasq_serve_dial)"));
	}
	if (w->ka == NULL && !w->ka_opening && !w->ka_want) {
		w->ka_want = true;
		nng_cv_wake(w->cv);
	}
	if (w->ntypes == 0) {
		nng_mtx_unlock(w->mtx);
		return (tasq_api_fail(TASQ_EFAILED_PRECONDITION,
		    "the serve handle serves no task type "
		    "(tasq_serve_add_type)"));
	}
	req->method              = TASQ_M_LEASE;
	req->u.lease.worker_id   = w->id;
	req->u.lease.max_tasks   = w->max_tasks;
	req->u.lease.wait_ms     = w->wait_ms;
	req->u.lease.id_runs     = true;
	req->u.lease.ntypes      = w->ntypes;
	req->u.lease.types       = c->types;
	req->u.lease.queue       = "default";
	req->u.lease.worker_name = c->name;
	memcpy(c->name, w->name, sizeof(c->name));
	for (size_t i = 0; i < w->ntypes; i++) {
		snprintf(c->tbuf[i], sizeof(c->tbuf[i]), "%s", w->types[i]);
		c->types[i] = c->tbuf[i];
	}
	for (size_t i = 0; i < w->nqueues; i++) {
		snprintf(c->qbuf[i], sizeof(c->qbuf[i]), "%s", w->qnames[i]);
		req->u.lease.queues[i].name   = c->qbuf[i];
		req->u.lease.queues[i].weight = w->qweights[i];
	}
	if (w->nqueues > 0) {
		req->u.lease.queue = c->qbuf[0];
		// One queue goes as queue alone (any server reads it).
		req->u.lease.nqueues = w->nqueues > 1 ? w->nqueues : 0;
	}
	c->wait_ms = w->wait_ms;
	if (c->wait_ms > c->max_wait_ms) {
		c->wait_ms           = c->max_wait_ms;
		req->u.lease.wait_ms = c->max_wait_ms;
	}
	rv = take_deferred(w, &c->ss, c->member);
	nng_mtx_unlock(w->mtx);
	if (rv != 0) {
		memset(&c->ss, 0, sizeof(c->ss)); // they stay deferred
		return (0);
	}
	if ((rv = sendset_build(&c->ss)) != 0) {
		goto fail;
	}
	if (c->ss.nrb > TASQ_WIRE_MAX_BATCHES ||
	    batches_cost(c->ss.rb, c->ss.nrb) > w->link.max_req_bytes) {
		// Too large to ride along: ahead of the Lease, in parts;
		// from an aio start (which must not block) by the thread.
		if (async) {
			rv = 0;
			goto fail;
		}
		if ((rv = hand_in(w, c->member, c->ss.rb, c->ss.nrb)) != 0) {
			goto fail;
		}
		sendset_done(w, &c->ss);
		return (0);
	}
	req->u.lease.nresults = c->ss.nrb;
	req->u.lease.results  = c->ss.rb;
	return (0);
fail:
	free(c->ss.rb);
	free(c->ss.release);
	c->ss.rb      = NULL;
	c->ss.release = NULL;
	c->ss.nrb = c->ss.nrelease = 0;
	put_back(w, &c->ss);
	if (async) {
		nng_mtx_lock(w->mtx);
		nng_cv_wake(w->cv); // the thread flushes them
		nng_mtx_unlock(w->mtx);
	}
	return (rv);
}

// The reply came (rv 0) or not: results taken or put back, the lease (if
// any) made and held.
static int
lease_finish(struct tasq_serve *w, struct lease_call *c, int rv, tasq_rep *rep,
    tasq_lease **lp)
{
	struct tasq_lease *l = NULL;

	*lp = NULL;
	if (rv != 0) {
		if (c->ss.nl > 0) {
			free(c->ss.rb);
			free(c->ss.release);
			c->ss.rb      = NULL;
			c->ss.release = NULL;
			put_back(w, &c->ss);
		}
		return (rv);
	}
	if (c->ss.nl > 0) {
		sendset_done(w, &c->ss);
	}
	if (rep->u.lease.lease_ms != 0) {
		nng_mtx_lock(w->mtx);
		w->lease_ms = rep->u.lease.lease_ms;
		nng_mtx_unlock(w->mtx);
	}
	mark_cancelled(
	    w, c->member, rep->u.lease.cancelled, rep->u.lease.ncancelled);
	if ((rv = wk_lease_make(w, rep, &l)) != 0) {
		// No memory for the handle: hand the lease back at once.
		uint64_t id = rep->u.lease.nbatches > 0
		    ? rep->u.lease.batches[0].lease_id
		    : 0;
		tasq_wire_rep_fini(rep);
		if (id != 0) {
			(void) release_ids(w, c->member, &id, 1);
		}
		return (tasq_api_fail(rv, "out of memory"));
	}
	if (l == NULL) {
		tasq_wire_rep_fini(rep); // no task in time
		return (0);
	}
	l->state  = WK_OPEN;
	l->member = c->member;
	nng_mtx_lock(w->mtx);
	held_add(w, l);
	w->leases++;
	if (w->nheld == 1) {
		nng_cv_wake(w->cv); // schedules its first beat
	}
	nng_mtx_unlock(w->mtx);
	*lp = l;
	return (0);
}

// What a lease call's outcome (rv as tasq_chan_call's) tells of the
// link: the lines of worker_conn, and a fresh dialer after failures in
// a row (nng issue 1518: a dialer can stop retrying after a handshake
// cut short).
static void
link_note(struct tasq_serve *w, int rv, const char *err)
{
	if (rv == 0) {
		atomic_store(&w->fails, 0);
		if (w->conn != NULL) {
			tasq_conn_call_ok(
			    w->conn, tasq_chan_server_id(w->link.chan));
		}
		return;
	}
	if ((atomic_fetch_add(&w->fails, 1) + 1) % 4 == 0) {
		(void) tasq_chan_redial(w->link.chan);
	}
	if (w->conn != NULL) {
		(void) tasq_conn_call_failed(w->conn, rv, err);
	}
}

// With tasq_serve_set_refusal(w, true), while refused: a pause (at most
// 200 ms) and TASQ_EUNAUTHENTICATED until the backoff's next attempt,
// which one caller at a time makes.
static int
refused_wait(struct tasq_serve *w)
{
	uint32_t pause;
	bool     retry;

	nng_mtx_lock(w->mtx);
	retry = w->refusal_retry;
	nng_mtx_unlock(w->mtx);
	if (!retry || w->conn == NULL ||
	    (pause = tasq_conn_wait_ms(w->conn)) == 0) {
		return (0);
	}
	stop_sleep(w, pause < 200 ? pause : 200);
	return (tasq_api_fail(TASQ_EUNAUTHENTICATED,
	    "the server refused this worker; next attempt in %u ms",
	    (unsigned) pause));
}

// link_note with several servers (rv a public code): a refusal is told
// as with one server; a member's transport failure is the session's to
// note (the member is marked down; the others carry on).
static void
shard_note(struct tasq_serve *w, int rv, const char *err)
{
	if (rv == 0) {
		atomic_store(&w->fails, 0);
		if (w->conn != NULL) {
			tasq_conn_call_ok(
			    w->conn, tasq_chan_server_id(w->link.chan));
		}
	} else if ((rv == TASQ_EUNAUTHENTICATED ||
	               rv == TASQ_EPERMISSION_DENIED) &&
	    w->conn != NULL) {
		(void) tasq_conn_call_failed(w->conn, rv, err);
	}
}

// One Lease of c to its member (c prepared); the lease in *lp (NULL:
// none in time). 0, or the call's error with its message set.
static int
lease_member(struct tasq_serve *w, struct lease_call *c, tasq_lease **lp)
{
	tasq_rep rep;
	char     err[256];
	int      rv;

	rv = tasq_api_call_member(w->session, c->member, &c->req,
	    c->wait_ms + w->link.timeout_ms, &rep, err, sizeof(err));
	shard_note(w, rv, err);
	if (rv != 0) {
		tasq_api_set_msg(err);
	}
	return (lease_finish(w, c, rv, &rep, lp));
}

// tasq_serve_lease with several servers: a round over the members up,
// from the next one of the cursor (each call starts one further, so
// members with tasks take turns), each asked with no wait, the first
// lease returned; when none had a task, one long poll of at most
// SHARD_WAIT_MS on the first that answered (with one member up, only
// the long poll, of the handle's wait, as with one server). A member down is
// skipped (the session fails it at once; it is back in the rounds when the
// session sees it up). Errors only when no member answered.
static int
lease_sharded(struct tasq_serve *w, struct lease_call *c, tasq_lease **lp)
{
	tasq_shard_member *ms;
	uint32_t           up[TASQ_SHARD_MAX_MEMBERS], answered = 0;
	size_t             n, nup                               = 0;
	unsigned           start;
	uint32_t           wait;
	int                rv = 0, last = TASQ_EUNAVAILABLE;
	char               msg[512];

	*lp = NULL;
	if ((ms = calloc(TASQ_SHARD_MAX_MEMBERS, sizeof(*ms))) == NULL) {
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	n = tasq_api_members(w->session, ms, TASQ_SHARD_MAX_MEMBERS);
	for (size_t i = 0; i < n && i < TASQ_SHARD_MAX_MEMBERS; i++) {
		if (ms[i].alias_of == 0 && ms[i].state == TASQ_SHARD_UP) {
			up[nup++] = ms[i].num;
		}
	}
	free(ms);
	if (nup == 0) {
		return (tasq_api_fail(TASQ_EUNAVAILABLE, "no server is up"));
	}
	snprintf(msg, sizeof(msg), "no server answered");
	nng_mtx_lock(w->mtx);
	wait = w->wait_ms; // 0 (tasq_serve_set_wait): no long poll
	nng_mtx_unlock(w->mtx);
	start = atomic_fetch_add(&w->cursor, 1);
	for (size_t k = 0; k <= nup && !atomic_load(&w->stop); k++) {
		memset(c, 0, sizeof(*c));
		if (nup == 1 && k == 0) {
			// One member: one long poll of the handle's wait, as
			// with one server (no ask without a wait first).
			c->member      = up[0];
			c->max_wait_ms = UINT32_MAX;
			k              = nup; // no other round
		} else if (k < nup) {
			c->member      = up[(start + k) % nup];
			c->max_wait_ms = 0;
		} else if (answered != 0 && wait != 0) {
			c->member      = answered; // the long poll
			c->max_wait_ms = SHARD_WAIT_MS;
		} else {
			break;
		}
		if ((rv = lease_prepare(w, c, false)) != 0) {
			return (rv); // the handle's settings
		}
		rv = lease_member(w, c, lp);
		if (rv == 0 && *lp != NULL) {
			return (0);
		}
		if (rv == 0) {
			answered = answered != 0 ? answered : c->member;
			continue;
		}
		if (rv == TASQ_EUNAUTHENTICATED ||
		    rv == TASQ_EPERMISSION_DENIED) {
			return (rv); // a refusal: the caller's to handle
		}
		last = rv;
		snprintf(msg, sizeof(msg), "%s", tasq_errmsg());
	}
	if (answered != 0 || atomic_load(&w->stop)) {
		tasq_api_clear();
		return (0);
	}
	return (tasq_api_fail(last, "%s", msg));
}

TASQ_API int
tasq_serve_lease(tasq_lease **lp, tasq_serve *w)
{
	struct lease_call *c;
	tasq_lease        *l = NULL;
	tasq_rep           rep;
	char               err[256];
	bool               sharded;
	int                rv;

	tasq_api_clear();
	if (w == NULL || lp == NULL) {
		return (tasq_api_fail(
		    TASQ_EINVALID_ARGUMENT, "tasq_serve_lease: NULL"));
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	if ((rv = refused_wait(w)) != 0) {
		free(c);
		return (rv);
	}
	nng_mtx_lock(w->mtx);
	sharded = w->session != NULL && w->sharded;
	nng_mtx_unlock(w->mtx);
	if (sharded) {
		rv = lease_sharded(w, c, &l);
		free(c);
		if (rv != 0) {
			return (tasq_api_err(rv));
		}
		*lp = l;
		return (0);
	}
	c->max_wait_ms = UINT32_MAX;
	if ((rv = lease_prepare(w, c, false)) == 0) {
		if ((rv = tasq_api_session_hold(w->session)) == 0) {
			rv = tasq_chan_call(w->link.chan, &c->req,
			    c->wait_ms + w->link.timeout_ms, &rep, err,
			    sizeof(err));
			tasq_api_session_release(w->session);
			link_note(w, rv, err);
			rv = tasq_api_err(rv);
		} else {
			snprintf(err, sizeof(err), "the session is closed");
		}
		if (rv != 0) {
			tasq_api_set_msg(err);
		}
		rv = lease_finish(w, c, rv, &rep, &l);
	}
	free(c);
	if (rv != 0) {
		return (tasq_api_err(rv));
	}
	*lp = l;
	return (0);
}

// An asynchronous lease: its call (lease_call) and where its lease goes.
struct lease_op {
	struct lease_call  c;
	struct tasq_serve *w;
	tasq_lease       **lp;
};

static int
lease_done_cb(
    void *arg, int rv, tasq_rep *rep, char *err, size_t errlen, bool deliver)
{
	struct lease_op *op = arg;
	tasq_lease      *l  = NULL;

	(void) errlen;
	if (op->c.member != TASQ_API_MEMBER_ANY) {
		shard_note(op->w, rv, err);
	} else {
		// rv is a public code here: no answer looks like a lost link.
		link_note(
		    op->w, rv == TASQ_EUNAVAILABLE ? NNG_ECONNSHUT : rv, err);
	}
	rv = lease_finish(op->w, &op->c, rv, rep, &l);
	if (deliver && rv == 0) {
		*op->lp = l;
	} else if (l != NULL) {
		tasq_lease_free(l); // nobody waits for it: released
	}
	free(op);
	return (tasq_api_err(rv));
}

// The next member up in turn (several servers), 0 when none is up;
// *nupp the number up.
static uint32_t
next_member(struct tasq_serve *w, size_t *nupp)
{
	tasq_shard_member *ms;
	uint32_t           up[TASQ_SHARD_MAX_MEMBERS];
	size_t             n, nup = 0;

	if ((ms = calloc(TASQ_SHARD_MAX_MEMBERS, sizeof(*ms))) == NULL) {
		return (0);
	}
	n = tasq_api_members(w->session, ms, TASQ_SHARD_MAX_MEMBERS);
	for (size_t i = 0; i < n && i < TASQ_SHARD_MAX_MEMBERS; i++) {
		if (ms[i].alias_of == 0 && ms[i].state == TASQ_SHARD_UP) {
			up[nup++] = ms[i].num;
		}
	}
	free(ms);
	*nupp = nup;
	return (nup == 0 ? 0 : up[atomic_fetch_add(&w->cursor, 1) % nup]);
}

TASQ_API int
tasq_serve_lease_aio(tasq_lease **lp, tasq_serve *w, tasq_aio *aio)
{
	struct lease_op *op;
	bool             sharded;
	int              rv;

	tasq_api_clear();
	if (w == NULL || lp == NULL || aio == NULL) {
		return (tasq_api_fail(
		    TASQ_EINVALID_ARGUMENT, "tasq_serve_lease_aio: NULL"));
	}
	if ((op = calloc(1, sizeof(*op))) == NULL) {
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	op->w             = w;
	op->lp            = lp;
	op->c.max_wait_ms = UINT32_MAX;
	nng_mtx_lock(w->mtx);
	sharded = w->session != NULL && w->sharded;
	nng_mtx_unlock(w->mtx);
	if (sharded) {
		// One member per call, the next up in turn, with a short
		// wait (the caller's next call asks the next member); with
		// one member up, the handle's wait, as with one server.
		size_t nup = 0;
		if ((op->c.member = next_member(w, &nup)) == 0) {
			free(op);
			return (tasq_api_fail(
			    TASQ_EUNAVAILABLE, "no server is up"));
		}
		if (nup > 1) {
			op->c.max_wait_ms = SHARD_WAIT_MS;
		}
	}
	if ((rv = lease_prepare(w, &op->c, true)) != 0) {
		free(op);
		return (tasq_api_err(rv));
	}
	*lp = NULL;
	if (sharded) {
		rv = tasq_api_call_member_aio(w->session, op->c.member,
		    &op->c.req, op->c.wait_ms + w->link.timeout_ms, aio,
		    lease_done_cb, op);
	} else {
		rv = tasq_api_call_aio(w->session, &op->c.req,
		    op->c.wait_ms + w->link.timeout_ms, aio, lease_done_cb,
		    op);
	}
	if (rv != 0) {
		// Not started: the results that were to go with it stay.
		(void) lease_finish(
		    w, &op->c, rv, NULL, &(tasq_lease *) { 0 });
		free(op);
		return (tasq_api_err(rv));
	}
	return (0);
}

TASQ_API int
tasq_serve_flush(tasq_serve *w)
{
	tasq_api_clear();
	if (w == NULL) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT, "w is NULL"));
	}
	return (tasq_api_err(flush(w)));
}

TASQ_API void
tasq_serve_stop(tasq_serve *w)
{
	if (w != NULL) {
		atomic_store(&w->stop, true); // async-signal-safe: lock-free
	}
}

TASQ_API void
tasq_serve_free(tasq_serve *w)
{
	struct tasq_lease *l;
	uint64_t          *ids;
	size_t             n = 0;

	if (w == NULL) {
		return;
	}
	if (w->session == NULL) {
		// Never had a session: nothing was leased.
		nng_mtx_lock(w->mtx);
		w->closing = true;
		nng_cv_wake(w->cv);
		nng_mtx_unlock(w->mtx);
		nng_thread_destroy(w->thread);
		goto done;
	}
	tasq_api_session_remove_closer(w->session, &w->closer);
	nng_mtx_lock(w->mtx);
	w->closing = true;
	nng_cv_wake(w->cv);
	nng_mtx_unlock(w->mtx);
	nng_thread_destroy(w->thread); // joins
	// Results handed back go in, then every lease still held is
	// released: the caller's handles go with w. One try each, within
	// FREE_CALL_MS (a caller that must not lose results flushed them
	// already, tasq_serve_flush; else the server gives the tasks to
	// another worker when the leases expire).
	if (w->link.timeout_ms > FREE_CALL_MS) {
		w->link.timeout_ms = FREE_CALL_MS;
	}
	(void) flush(w);
	nng_mtx_lock(w->mtx);
	w->rhead = NULL;
	w->dhead = w->dtail = NULL;
	n                   = w->nheld;
	nng_mtx_unlock(w->mtx);
	if (n > 0 && !link_down(w) &&
	    (ids = calloc(n, sizeof(*ids))) != NULL) {
		for (l = w->held; l != NULL; l = l->next) {
			l->dnext = l->next;
		}
		release_list(w, w->held, ids);
		free(ids);
	}
	while ((l = w->held) != NULL) {
		held_remove(w, l);
		wk_lease_destroy(l);
	}
	tasq_keepalive_close(w->ka);
	for (size_t i = 0; i < w->nhb; i++) {
		tasq_keepalive_close(w->hb[i].ka);
		tasq_api_member_release(w->session, w->hb[i].num);
	}
	free(w->hb);
	if (w->conn != NULL) {
		tasq_conn_close(w->conn);
		tasq_chan_set_conn_cb(w->link.chan, NULL, NULL);
		tasq_conn_free(w->conn);
	}
	tasq_api_session_release(w->session);
	tasq_session_free(w->own); // tasq_serve_dial's
	tasq_opts_free(w->own_opts);
done:
	for (size_t i = 0; i < w->ntypes; i++) {
		free(w->types[i]);
	}
	for (size_t i = 0; i < w->nqueues; i++) {
		free(w->qnames[i]);
	}
	free(w->heartbeat);
	nng_cv_free(w->cv);
	nng_mtx_free(w->mtx);
	free(w);
}

// ---- handing a lease back --------------------------------------------------

static void
defer(struct tasq_lease *l)
{
	struct tasq_serve *w = l->w;

	nng_mtx_lock(w->mtx);
	l->state = WK_DEFERRED;
	l->since = nng_clock();
	l->dnext = NULL;
	if (w->dtail != NULL) {
		w->dtail->dnext = l;
	} else {
		w->dhead = l; // flushed by the thread's next look (bg_loop)
	}
	w->dtail = l;
	nng_mtx_unlock(w->mtx);
}

TASQ_API void
tasq_lease_done(tasq_lease *l)
{
	if (l != NULL) {
		defer(l);
	}
}

TASQ_API int
tasq_lease_complete(tasq_lease *l)
{
	struct sendset ss;
	int            rv;

	tasq_api_clear();
	if (l == NULL) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT, "l is NULL"));
	}
	memset(&ss, 0, sizeof(ss));
	if ((ss.l = calloc(1, sizeof(*ss.l))) == NULL) {
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	ss.l[0]   = l;
	ss.nl     = 1;
	ss.member = l->member;
	if ((rv = sendset_build(&ss)) == 0) {
		rv = hand_in(l->w, l->member, ss.rb, ss.nrb);
	}
	if (rv != 0) {
		sendset_fini(&ss);
		return (tasq_api_err(rv)); // l is still the caller's
	}
	sendset_done(l->w, &ss);
	return (0);
}

// An asynchronous Complete: the first request goes by the session's
// aio; the rest (results over one request's size) in its done.
struct complete_op {
	struct sendset     ss;
	struct tasq_serve *w;
	tasq_req           req;
	size_t             first; // result batches in the first request
};

static int
complete_done_cb(
    void *arg, int rv, tasq_rep *rep, char *err, size_t errlen, bool deliver)
{
	struct complete_op *op = arg;

	(void) err;
	(void) errlen;
	(void) deliver;
	if (rv == 0) {
		tasq_wire_rep_fini(rep);
		if (op->first < op->ss.nrb) {
			rv = hand_in(op->w, op->ss.member,
			    op->ss.rb + op->first, op->ss.nrb - op->first);
		}
	}
	if (rv == 0) {
		sendset_done(op->w, &op->ss);
	} else {
		// Kept: they go with the next lease, or the thread's flush.
		defer(op->ss.l[0]);
		sendset_fini(&op->ss);
	}
	free(op);
	return (tasq_api_err(rv));
}

TASQ_API int
tasq_lease_complete_aio(tasq_lease *l, tasq_aio *aio)
{
	struct complete_op *op;
	size_t              cost = 1024, np = 0;
	int                 rv;

	tasq_api_clear();
	if (l == NULL || aio == NULL) {
		return (tasq_api_fail(
		    TASQ_EINVALID_ARGUMENT, "tasq_lease_complete_aio: NULL"));
	}
	if ((op = calloc(1, sizeof(*op))) == NULL ||
	    (op->ss.l = calloc(1, sizeof(*op->ss.l))) == NULL) {
		free(op);
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	op->w         = l->w;
	op->ss.l[0]   = l;
	op->ss.nl     = 1;
	op->ss.member = l->member;
	if ((rv = sendset_build(&op->ss)) != 0) {
		sendset_fini(&op->ss);
		free(op);
		return (tasq_api_fail(rv, "out of memory"));
	}
	// Whole batches while they fit one request (at least one).
	while (np < op->ss.nrb && np < TASQ_WIRE_MAX_BATCHES) {
		size_t c = batches_cost(op->ss.rb + np, 1);
		if (np > 0 && cost + c > l->w->link.max_req_bytes) {
			break;
		}
		if (np == 0 && c > l->w->link.max_req_bytes) {
			break; // one batch in parts: all by hand_in
		}
		cost += c;
		np++;
	}
	op->first                    = np;
	op->req.method               = TASQ_M_COMPLETE;
	op->req.u.complete.worker_id = l->w->id;
	op->req.u.complete.nresults  = np;
	op->req.u.complete.results   = op->ss.rb;
	// A lease without a result: Complete of nothing, then the Release.
	if (l->member != TASQ_API_MEMBER_ANY) {
		rv = tasq_api_call_member_aio(op->w->session, l->member,
		    &op->req, op->w->link.timeout_ms, aio, complete_done_cb,
		    op);
	} else {
		rv = tasq_api_call_aio(op->w->session, &op->req,
		    op->w->link.timeout_ms, aio, complete_done_cb, op);
	}
	if (rv != 0) {
		sendset_fini(&op->ss);
		free(op);
		return (tasq_api_err(rv));
	}
	return (0);
}

TASQ_API int
tasq_lease_release(tasq_lease *l)
{
	struct tasq_serve *w;
	int                rv;

	tasq_api_clear();
	if (l == NULL) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT, "l is NULL"));
	}
	w = l->w;
	if ((rv = release_ids(w, l->member, &l->lease_id, 1)) != 0) {
		return (tasq_api_err(rv));
	}
	nng_mtx_lock(w->mtx);
	held_remove(w, l);
	nng_mtx_unlock(w->mtx);
	wk_lease_destroy(l);
	return (0);
}

TASQ_API void
tasq_lease_free(tasq_lease *l)
{
	struct tasq_serve *w;

	if (l == NULL) {
		return;
	}
	w = l->w;
	nng_mtx_lock(w->mtx);
	l->state = WK_RELEASE;
	l->dnext = w->rhead;
	w->rhead = l;
	w->kick  = true;
	nng_cv_wake(w->cv);
	nng_mtx_unlock(w->mtx);
}
