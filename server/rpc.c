#include "rpc.h"

#include <dirent.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/util/platform.h>

#include "clock.h"
#include "conn_end.h"
#include "idmap.h"
#include "err.h"
#include "log.h"
#include "sockclose.h"

#define NBUCKETS 14
static const double bucket_le[NBUCKETS] = { 0.0001, 0.00025, 0.0005, 0.001,
	0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5 };

enum conv_state { C_RECV, C_SEND, C_PARKED, C_SYNC };

struct conv {
	tasq_rpc       *rpc;
	nng_ctx         ctx;
	nng_aio        *aio;
	nng_mtx        *mtx; // guards the park flags and synced
	enum conv_state state;
	// Park flags (C_PARKED; see conv_armed). No nng call is made with
	// mtx held: whoever flips a flag under it makes the call after.
	bool         arming;   // the parker is starting the sleep
	bool         sleeping; // the sleep runs and nobody is cancelling it
	bool         waking;   // someone is in nng_aio_cancel for this park
	bool         fired;    // the sleep ended while arming or waking
	bool         wake_pending; // a wake the parker must act on
	tasq_waiter  waiter;
	tasq_env_hdr hdr;
	tasq_req     req;
	bool         have_req;
	tasq_service_call call;
	nng_msg          *synced; // reply held until the journal is durable
	uint32_t          pipe;   // counted in flight on this connection
	uint64_t          t0_us;  // when the request arrived
};

struct tasq_rpc {
	nng_socket           sock;
	nng_listener         listener;
	tasq_service        *svc;
	tasq_broker         *broker;
	tasq_stats          *stats;
	tasq_replay         *replay;
	const tasq_keyring  *keys;
	tasq_journal        *journal;
	char                *url;
	nng_tls_config      *tls;
	nng_mtx             *lmtx; // guards listener (the watchdog swaps it)
	uint64_t             server_id;
	struct conv         *convs;
	uint32_t             nconvs;
	uint32_t             ncap;
	uint32_t             max_conns;
	uint32_t             max_unauth; // connections not yet authenticated
	uint64_t             auth_ms;    // deadline of their first request
	atomic_uint_fast64_t accepts; // connections the listener handed over
	atomic_int           nunauth; // changed under pmtx
	atomic_uint_fast64_t seq;
	atomic_int           npipes;
	atomic_int           nrecv; // conversations waiting for a request
	atomic_bool          closing;
	bool                 stopped;  // tasq_rpc_stop has run
	nng_mtx             *cmtx;     // with ccv: tasq_rpc_stop waits for the
	nng_cv              *ccv;      // connections to end; guards these:
	bool                 quiesced; // pipe events no longer reach us
	int                  in_pipe_cb; // pipe events being handled
	bool                 sock_stuck; // its close was given up (r leaks)
	atomic_uint_fast64_t last_warn_ms;
	// Connections: last time each made progress and its requests in
	// flight, so that stalled ones can be closed and none can take
	// every conversation.
	nng_mtx   *pmtx;
	tasq_idmap pipes;
	uint32_t   max_inflight;
	uint32_t   test_unpark_delay_ms; // see conv_unparked
	// Reply latency (receive to send, long-polls included) per method,
	// and replies per status code.
	atomic_uint_fast64_t hist[TASQ_M_COUNT][NBUCKETS + 1];
	atomic_uint_fast64_t hist_sum_us[TASQ_M_COUNT];
	atomic_uint_fast64_t by_status[TASQ_CODE_MAX + 1];
};

struct pipe_info {
	nng_pipe p;
	uint64_t since_ms; // when it was admitted
	uint64_t last_ms;
	uint32_t inflight;
	bool     authed; // a request of it passed tasq_auth_open and replay
};

static uint64_t
mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000);
}

static void
observe(tasq_rpc *r, unsigned method, int code, uint64_t t0_us)
{
	uint64_t us = t0_us ? mono_us() - t0_us : 0;
	double   s  = (double) us / 1e6;
	int      b  = 0;

	if (code >= 0 && code <= TASQ_CODE_MAX) {
		atomic_fetch_add(&r->by_status[code], 1);
	}
	if (method >= TASQ_M_COUNT) {
		return;
	}
	while (b < NBUCKETS && s > bucket_le[b]) {
		b++;
	}
	atomic_fetch_add(&r->hist[method][b], 1);
	atomic_fetch_add(&r->hist_sum_us[method], us);
}

static void conv_cb(void *arg);

// Peer-triggered warnings are rate-limited to one a second so that a
// flood of garbage cannot flood the log.
static bool
warn_ok(tasq_rpc *r)
{
	uint64_t now  = nng_clock();
	uint64_t last = atomic_load(&r->last_warn_ms);

	return (now >= last + 1000 &&
	    atomic_compare_exchange_strong(&r->last_warn_ms, &last, now));
}

// Ends the in-flight count of c's request on its connection.
static void
pipe_done(struct conv *c)
{
	tasq_rpc         *r = c->rpc;
	struct pipe_info *pi;

	if (c->pipe == 0) {
		return;
	}
	nng_mtx_lock(r->pmtx);
	if ((pi = tasq_idmap_get(&r->pipes, c->pipe)) != NULL &&
	    pi->inflight > 0) {
		pi->inflight--;
		pi->last_ms = nng_clock();
	}
	nng_mtx_unlock(r->pmtx);
	c->pipe = 0;
}

// Counts an authenticated request on its connection (which is from then
// on authenticated); false when the connection has max_inflight already.
static bool
pipe_start(struct conv *c, uint32_t pipe)
{
	tasq_rpc         *r  = c->rpc;
	bool              ok = true;
	struct pipe_info *pi;

	nng_mtx_lock(r->pmtx);
	if ((pi = tasq_idmap_get(&r->pipes, pipe)) != NULL) {
		pi->last_ms = nng_clock();
		if (!pi->authed) {
			pi->authed = true;
			atomic_fetch_sub(&r->nunauth, 1);
		}
		if (pi->inflight >= r->max_inflight) {
			ok = false;
		} else {
			pi->inflight++;
			c->pipe = pipe;
		}
	}
	nng_mtx_unlock(r->pmtx);
	return (ok);
}

static bool
pipe_alive(tasq_rpc *r, uint32_t pipe)
{
	bool alive;

	nng_mtx_lock(r->pmtx);
	alive = tasq_idmap_get(&r->pipes, pipe) != NULL;
	nng_mtx_unlock(r->pmtx);
	return (alive);
}

static void
conv_recv(struct conv *c)
{
	pipe_done(c);
	if (c->have_req) {
		tasq_wire_req_fini(&c->req);
		c->have_req = false;
	}
	c->state = C_RECV;
	atomic_fetch_add(&c->rpc->nrecv, 1);
	nng_ctx_recv(c->ctx, c->aio);
}

// Sends body (a message from tasq_wire_encode_*) as the reply to c->hdr.
static void
conv_send(struct conv *c, nng_msg *m, int code, bool sign)
{
	tasq_rpc    *r = c->rpc;
	tasq_env_hdr h;
	int          rv;

	memset(&h, 0, sizeof(h));
	h.kind         = TASQ_ENV_REPLY;
	h.key_id       = c->hdr.key_id; // answer with the request's key
	h.sender_id    = r->server_id;
	h.seq          = atomic_fetch_add(&r->seq, 1) + 1;
	h.timestamp_ms = tasq_clock_stamp_ms();
	h.reply_to     = c->hdr.seq;
	h.method       = c->hdr.method;
	h.status       = (uint16_t) code;
	observe(r, c->hdr.method, code, c->t0_us);
	if ((rv = tasq_auth_seal(sign ? r->keys : NULL, &h, m)) != 0) {
		nng_msg_free(m);
		tasq_warn("cannot sign reply: %s", tasq_strerror(rv));
		conv_recv(c);
		return;
	}
	c->state = C_SEND;
	nng_aio_set_msg(c->aio, m);
	nng_ctx_send(c->ctx, c->aio);
}

static void
conv_error(struct conv *c, int rv, const char *why, bool sign)
{
	nng_msg *m;
	int      code = tasq_err_code(rv);

	if (tasq_wire_encode_status(code, why ? why : tasq_strerror(rv), &m) !=
	    0) {
		// Out of memory: no reply; the caller's deadline covers it.
		conv_recv(c);
		return;
	}
	conv_send(c, m, code, sign);
}

// The journal's callback: the records behind c's reply are on disk. The
// lock publishes c->synced (set by conv_reply) and orders this with
// tasq_rpc_close's barrier; the reply is signed and sent after it.
static void
conv_synced(void *arg, int rv)
{
	struct conv *c = arg;
	nng_msg     *m;
	bool         closing;

	nng_mtx_lock(c->mtx);
	m         = c->synced;
	c->synced = NULL;
	closing   = atomic_load(&c->rpc->closing);
	nng_mtx_unlock(c->mtx);
	if (closing) {
		// Shutting down: no replies; back to draining requests.
		nng_msg_free(m);
		conv_recv(c);
		return;
	}
	if (rv != 0) {
		nng_msg_free(m);
		conv_error(c, rv, "the journal could not be written", true);
		return;
	}
	conv_send(c, m, 0, true);
}

// Whether the reply to this call acknowledges state that the journal must
// hold first: written (--fsync batch, never) or on disk (--fsync always),
// as tasq_journal_wait decides.
static bool
needs_sync(const tasq_service_call *call)
{
	switch (call->req->method) {
	case TASQ_M_SUBMIT:
	case TASQ_M_COMPLETE:
	case TASQ_M_CLOSE_JOB:
	case TASQ_M_CANCEL: // its reply says it is cancelled for good
		return (true);
	case TASQ_M_LEASE:
		return (call->req->u.lease.nresults > 0);
	case TASQ_M_FETCH:
		return (call->req->u.fetch.has_submit);
	default:
		return (false);
	}
}

static void
conv_reply(struct conv *c, nng_msg *reply)
{
	tasq_journal *j = c->rpc->journal;
	int           rv;

	if (j != NULL && needs_sync(&c->call)) {
		nng_mtx_lock(c->mtx);
		c->state  = C_SYNC;
		c->synced = reply;
		rv = tasq_journal_wait(j, tasq_journal_lsn(j), conv_synced, c);
		if (rv == 0) {
			nng_mtx_unlock(c->mtx);
			return;
		}
		c->synced = NULL;
		nng_mtx_unlock(c->mtx);
		if (rv != 1) {
			nng_msg_free(reply);
			conv_error(
			    c, rv, "the journal could not be written", true);
			return;
		}
	}
	conv_send(c, reply, 0, true);
}

static void conv_run(struct conv *c);

// A park ends (its sleep ran out or was cancelled by a wake): take the
// waiter off the broker and run the call again, unless whoever asked is
// gone: leasing to a closed connection would only strand tasks until
// their lease ran out.
static void
conv_unparked(struct conv *c)
{
	tasq_rpc *r = c->rpc;

	nng_mtx_lock(c->mtx);
	c->wake_pending = false;
	nng_mtx_unlock(c->mtx);
	(void) tasq_broker_unpark(r->broker, &c->waiter);
	// Shutting down, or whoever asked is gone: back to draining
	// requests (no reply while closing).
	if (atomic_load(&r->closing) || !pipe_alive(r, c->call.pipe_id)) {
		conv_recv(c);
		return;
	}
	if (r->test_unpark_delay_ms > 0) {
		// Test hook (tests/security/lease_pipe_race.sh): widen the
		// window between the check above and the call, in which the
		// connection can go. Never set outside tests.
		tasq_info("test hook: holding a woken call of connection %u "
		          "for %u ms",
		    c->call.pipe_id, r->test_unpark_delay_ms);
		nng_msleep(r->test_unpark_delay_ms);
	}
	conv_run(c);
}

// Cancels c's sleep; the caller has set c->waking under the lock. The
// sleep's callback, if it comes while we are inside nng_aio_cancel, only
// sets fired; then we end the park here. Without waking, a cancel made
// after the lock is dropped could hit the conversation's next operation
// (its reply) instead of the sleep.
static void
conv_cancel(struct conv *c)
{
	bool fired;

	nng_aio_cancel(c->aio);
	nng_mtx_lock(c->mtx);
	c->waking = false;
	fired     = c->fired;
	c->fired  = false;
	nng_mtx_unlock(c->mtx);
	if (fired) {
		conv_unparked(c);
	}
}

// The parker has started the sleep (nng_sleep_aio, with no lock held): if
// it already ended, end the park; if a wake came meanwhile (it found no
// sleep to cancel), cancel it now; otherwise a wake may cancel it from
// now on.
static void
conv_armed(struct conv *c)
{
	bool fired, cancel;

	nng_mtx_lock(c->mtx);
	c->arming = false;
	fired     = c->fired;
	c->fired  = false;
	cancel    = !fired && c->wake_pending;
	if (cancel) {
		c->wake_pending = false;
		c->waking       = true;
	} else if (!fired) {
		c->sleeping = true;
	}
	nng_mtx_unlock(c->mtx);
	if (fired) {
		conv_unparked(c);
	} else if (cancel) {
		conv_cancel(c);
	}
}

static void
conv_run(struct conv *c)
{
	tasq_rpc   *r     = c->rpc;
	nng_msg    *reply = NULL;
	const char *why;
	bool        parked;
	int         rv;

	for (;;) {
		rv = tasq_service_handle(
		    r->svc, &c->call, &c->waiter, &reply, &parked, &why);
		if (rv != 0) {
			if (rv == TASQ_ERESOURCE_EXHAUSTED && why == NULL) {
				why = "server limit reached; retry later";
			}
			conv_error(c, rv, why, true);
			return;
		}
		if (!parked) {
			// The connection may have closed while the lease was
			// made, and its removal (pipe_cb) may have returned
			// the connection's leases just before this one: the
			// record goes before tasq_broker_pipe_gone runs, so a
			// lease made after that call is seen here, and
			// returned.
			if (c->call.req->method == TASQ_M_LEASE &&
			    !pipe_alive(r, c->call.pipe_id)) {
				tasq_broker_pipe_gone(r->broker,
				    c->call.pipe_id, tasq_clock_mono_ms());
			}
			conv_reply(c, reply);
			return;
		}
		nng_mtx_lock(c->mtx);
		if (c->wake_pending) {
			c->wake_pending = false;
			nng_mtx_unlock(c->mtx);
			(void) tasq_broker_unpark(r->broker, &c->waiter);
			continue;
		}
		if (atomic_load(&r->closing)) {
			// Shutting down: no long-poll outlives the close.
			nng_mtx_unlock(c->mtx);
			(void) tasq_broker_unpark(r->broker, &c->waiter);
			conv_recv(c);
			return;
		}
		c->state  = C_PARKED;
		c->arming = true;
		c->fired  = false;
		nng_mtx_unlock(c->mtx);
		nng_time now = nng_clock();
		nng_sleep_aio(c->call.park_until > now
		        ? (nng_duration) (c->call.park_until - now)
		        : 0,
		    c->aio);
		conv_armed(c);
		return;
	}
}

void
tasq_rpc_wake(tasq_waiter *w)
{
	struct conv *c =
	    (struct conv *) ((char *) w - offsetof(struct conv, waiter));
	bool cancel;

	nng_mtx_lock(c->mtx);
	cancel = c->sleeping;
	if (cancel) {
		c->sleeping = false;
		c->waking   = true;
	} else {
		// Not asleep (yet): the parker, or the next park, acts on it.
		c->wake_pending = true;
	}
	nng_mtx_unlock(c->mtx);
	if (cancel) {
		conv_cancel(c);
	}
}

static void
conv_request(struct conv *c, nng_msg *m)
{
	tasq_rpc      *r = c->rpc;
	const uint8_t *body;
	const char    *why  = NULL;
	uint32_t       pipe = (uint32_t) nng_pipe_id(nng_msg_get_pipe(m));
	int            rv;

	tasq_stats_add(r->stats, TASQ_CTR_REQUESTS, 1);
	c->t0_us = mono_us();
	memset(&c->hdr, 0, sizeof(c->hdr));

	rv = tasq_auth_open(
	    r->keys, nng_msg_body(m), nng_msg_len(m), &c->hdr, &body);
	if (rv != 0) {
		bool malformed = rv == TASQ_EINVALID_ARGUMENT;
		tasq_stats_add(r->stats,
		    malformed ? TASQ_CTR_MALFORMED : TASQ_CTR_AUTH_FAILURES,
		    1);
		if (warn_ok(r)) {
			tasq_warn("rejected a message on connection %u: %s",
			    pipe,
			    malformed ? "not a tasq envelope"
			              : "authentication failed (wrong key?)");
		}
		nng_msg_free(m);
		if (malformed) {
			// Nothing in it can be trusted to echo.
			memset(&c->hdr, 0, sizeof(c->hdr));
		}
		conv_error(c,
		    malformed ? TASQ_EINVALID_ARGUMENT : TASQ_EUNAUTHENTICATED,
		    malformed ? "malformed envelope"
		              : "message authentication failed",
		    false);
		return;
	}
	if (c->hdr.kind != TASQ_ENV_REQUEST) {
		nng_msg_free(m);
		tasq_stats_add(r->stats, TASQ_CTR_MALFORMED, 1);
		conv_error(c, TASQ_EINVALID_ARGUMENT, "not a request", true);
		return;
	}
	rv = tasq_replay_check(r->replay, c->hdr.sender_id, c->hdr.seq,
	    c->hdr.timestamp_ms, tasq_clock_stamp_ms(), &why);
	if (rv != 0) {
		nng_msg_free(m);
		// A full sender table is a limit, not a replay.
		tasq_stats_add(r->stats,
		    rv == TASQ_ERESOURCE_EXHAUSTED
		        ? TASQ_CTR_RESOURCE_EXHAUSTED
		        : TASQ_CTR_REPLAYS,
		    1);
		if (warn_ok(r)) {
			tasq_warn("rejected a message on connection %u: %s",
			    pipe, why);
		}
		conv_error(c, rv, why, true);
		return;
	}
	// Counted only once authenticated, so that the refusal can be a
	// signed reply the caller recognises (and retries).
	if (!pipe_start(c, pipe)) {
		nng_msg_free(m);
		tasq_stats_add(r->stats, TASQ_CTR_RESOURCE_EXHAUSTED, 1);
		conv_error(c, TASQ_ERESOURCE_EXHAUSTED,
		    "too many requests in flight on this connection", true);
		return;
	}
	rv = tasq_wire_decode_req(
	    c->hdr.method, body, c->hdr.body_len, &c->req, &why);
	nng_msg_free(m); // the decoded request owns copies of what it needs
	if (rv != 0) {
		int ctr = rv == TASQ_EUNIMPLEMENTED ? TASQ_CTR_UNKNOWN_METHOD
		                                    : TASQ_CTR_BAD_REQUESTS;
		if (rv == TASQ_ERESOURCE_EXHAUSTED) { // wire.h's decode total
			ctr = TASQ_CTR_RESOURCE_EXHAUSTED;
		}
		tasq_stats_add(r->stats, ctr, 1);
		tasq_debug("bad request (method %u): %s", c->hdr.method, why);
		conv_error(c, rv, why, true);
		return;
	}
	c->have_req = true;
	memset(&c->call, 0, sizeof(c->call));
	c->call.req         = &c->req;
	c->call.pipe_id     = pipe;
	c->call.deadline_ms = c->hdr.deadline_ms;
	nng_mtx_lock(c->mtx);
	c->wake_pending = false;
	nng_mtx_unlock(c->mtx);
	conv_run(c);
}

static void
conv_cb(void *arg)
{
	struct conv *c  = arg;
	tasq_rpc    *r  = c->rpc;
	int          rv = nng_aio_result(c->aio);

	switch (c->state) {
	case C_RECV:
		atomic_fetch_sub(&r->nrecv, 1);
		if (rv != 0) {
			if (rv == NNG_ECLOSED) {
				return;
			}
			conv_recv(c);
			return;
		}
		if (atomic_load(&r->closing)) {
			// Draining (see tasq_rpc_close): keep every connection
			// read, so that each sees its end, but serve nothing.
			nng_msg_free(nng_aio_get_msg(c->aio));
			nng_aio_set_msg(c->aio, NULL);
			conv_recv(c);
			return;
		}
		conv_request(c, nng_aio_get_msg(c->aio));
		return;
	case C_PARKED:
		nng_mtx_lock(c->mtx);
		if (c->arming || c->waking) {
			// The parker or a waker is inside its nng call: it
			// ends the park when it comes out (conv_armed,
			// conv_cancel).
			c->fired = true;
			nng_mtx_unlock(c->mtx);
			return;
		}
		c->sleeping = false;
		nng_mtx_unlock(c->mtx);
		conv_unparked(c);
		return;
	case C_SYNC: // not an aio state: conv_synced moves on
		return;
	case C_SEND:
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(c->aio));
			nng_aio_set_msg(c->aio, NULL);
			if (rv == NNG_ECLOSED) {
				return;
			}
		}
		conv_recv(c);
		return;
	}
}

// Admission happens at NNG_PIPE_EV_ADD_PRE, under pmtx, so that the
// limits hold however many connections arrive at once, and the record is
// made before the peer can send a byte (nng starts reading a pipe after
// this event): every admitted pipe has a record from its first request
// to its NNG_PIPE_EV_REM_POST, which nng delivers for every pipe it
// reported at ADD_PRE (refused ones included; those have no record).
static void
pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	tasq_rpc *r = arg;

	if (ev == NNG_PIPE_EV_ADD_PRE) {
		struct pipe_info    *pi = calloc(1, sizeof(*pi));
		int                  n, u;
		enum tasq_counter_id why = TASQ_CTR_REFUSED;
		bool                 in  = false;

		// Proof for the watchdog that the listener accepts.
		atomic_fetch_add(&r->accepts, 1);
		nng_mtx_lock(r->pmtx);
		n = atomic_load(&r->npipes);
		u = atomic_load(&r->nunauth);
		if ((uint32_t) n >= r->max_conns) {
			why = TASQ_CTR_REFUSED;
		} else if ((uint32_t) u >= r->max_unauth) {
			why = TASQ_CTR_UNAUTH_REFUSED;
		} else if (pi != NULL) {
			pi->p        = p;
			pi->since_ms = nng_clock();
			pi->last_ms  = pi->since_ms;
			in           = tasq_idmap_put(&r->pipes,
			                   (uint64_t) nng_pipe_id(p), pi) == 0;
			if (in) {
				atomic_fetch_add(&r->npipes, 1);
				atomic_fetch_add(&r->nunauth, 1);
			}
		}
		nng_mtx_unlock(r->pmtx);
		if (in) {
			tasq_stats_add(r->stats, TASQ_CTR_CONNECTIONS, 1);
			return;
		}
		free(pi);
		if ((uint32_t) n < r->max_conns &&
		    (uint32_t) u < r->max_unauth) {
			nng_pipe_close(p); // out of memory: cannot track it
			return;
		}
		if (why == TASQ_CTR_UNAUTH_REFUSED) {
			tasq_stats_add(r->stats, why, 1);
			if (warn_ok(r)) {
				tasq_warn("refusing connection: %d not yet "
				          "authenticated, max-unauthenticated "
				          "is %u",
				    u, r->max_unauth);
			}
		} else {
			tasq_stats_add(r->stats, TASQ_CTR_REFUSED, 1);
			if (warn_ok(r)) {
				tasq_warn("refusing connection: %d open, "
				          "max-connections is %u",
				    n, r->max_conns);
			}
		}
		nng_pipe_close(p); // refused before it is added
		return;
	}
	if (ev == NNG_PIPE_EV_REM_POST) {
		struct pipe_info *pi;
		bool              authed;
		nng_mtx_lock(r->pmtx);
		pi = tasq_idmap_get(&r->pipes, (uint64_t) nng_pipe_id(p));
		if (pi != NULL) {
			tasq_idmap_del(&r->pipes, (uint64_t) nng_pipe_id(p));
			atomic_fetch_sub(&r->npipes, 1);
			if (!pi->authed) {
				atomic_fetch_sub(&r->nunauth, 1);
			}
		}
		nng_mtx_unlock(r->pmtx);
		if (pi == NULL) {
			return;
		}
		authed = pi->authed;
		free(pi);
		tasq_stats_add(r->stats, TASQ_CTR_DISCONNECTIONS, 1);
		if (!authed) {
			// Nothing can be tied to it: the broker only sees
			// requests that passed pipe_start, which marks it.
			return;
		}
		// After the record is gone (see conv_run).
		tasq_broker_pipe_gone(r->broker, (uint32_t) nng_pipe_id(p),
		    tasq_clock_mono_ms());
	}
}

// Raises the soft limit on file descriptors to what max_conns needs
// (plus room for the journal, TLS files and the watchdog), within the
// hard limit: out of descriptors, the listener can neither accept nor
// refuse, and --max-connections would never be the limit that binds.
static void
raise_nofile(uint32_t max_conns)
{
	struct rlimit rl;
	rlim_t        want = (rlim_t) max_conns + 256;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want) {
		return;
	}
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
		want = rl.rlim_max;
	}
	if (want > rl.rlim_cur) {
		rl.rlim_cur = want;
		(void) setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur < (rlim_t) max_conns + 256) {
		tasq_warn(
		    "only %llu file descriptors (hard limit): fewer than "
		    "--max-connections %u needs",
		    (unsigned long long) rl.rlim_cur, max_conns);
	}
}

int
tasq_rpc_start(tasq_rpc **rp, const tasq_rpc_conf *conf, tasq_service *svc,
    tasq_broker *b, tasq_replay *replay, char *err, size_t errlen)
{
	tasq_rpc *r;
	int       rv;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NNG_ENOMEM);
	}
	r->svc       = svc;
	r->broker    = b;
	r->stats     = conf->stats;
	r->replay    = replay;
	r->keys      = conf->keys;
	r->journal   = conf->journal;
	r->server_id = tasq_service_server_id(svc);
	r->max_conns = conf->max_conns;
	r->max_unauth =
	    conf->max_unauth > 0 ? conf->max_unauth : conf->max_conns;
	r->auth_ms      = conf->auth_ms;
	r->max_inflight = conf->max_inflight;
	if (getenv("TASQ_TEST_UNPARK_DELAY_MS") != NULL) {
		r->test_unpark_delay_ms = (uint32_t) strtoul(
		    getenv("TASQ_TEST_UNPARK_DELAY_MS"), NULL, 10);
	}
	tasq_idmap_init(&r->pipes);
	raise_nofile(r->max_conns);
	if ((rv = nng_mtx_alloc(&r->pmtx)) != 0) {
		free(r);
		snprintf(err, errlen, "out of memory");
		return (rv);
	}
	if ((rv = nng_mtx_alloc(&r->cmtx)) != 0 ||
	    (rv = nng_cv_alloc(&r->ccv, r->cmtx)) != 0) {
		if (r->cmtx != NULL) {
			nng_mtx_free(r->cmtx);
		}
		nng_mtx_free(r->pmtx);
		free(r);
		snprintf(err, errlen, "out of memory");
		return (rv);
	}
	atomic_init(&r->seq, 0);
	atomic_init(&r->npipes, 0);
	atomic_init(&r->nunauth, 0);
	atomic_init(&r->accepts, 0);
	atomic_init(&r->nrecv, 0);
	atomic_init(&r->closing, false);
	atomic_init(&r->last_warn_ms, 0);
	if ((rv = nng_rep0_open(&r->sock)) != 0) {
		snprintf(
		    err, errlen, "cannot open socket: %s", nng_strerror(rv));
		tasq_rpc_free(r);
		return (rv);
	}
	if ((rv = nng_socket_set_size(
	         r->sock, NNG_OPT_RECVMAXSZ, conf->max_msg_bytes)) != 0 ||
	    (rv = nng_pipe_notify(r->sock, NNG_PIPE_EV_ADD_PRE, pipe_cb, r)) !=
	        0 ||
	    (rv = nng_pipe_notify(
	         r->sock, NNG_PIPE_EV_REM_POST, pipe_cb, r)) != 0) {
		snprintf(err, errlen, "cannot configure socket: %s",
		    nng_strerror(rv));
		goto fail;
	}
	if ((r->convs = calloc(conf->contexts, sizeof(*r->convs))) == NULL) {
		rv = NNG_ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	r->ncap = conf->contexts;
	for (uint32_t i = 0; i < conf->contexts; i++) {
		struct conv *c = &r->convs[i];
		c->rpc         = r;
		if ((rv = nng_mtx_alloc(&c->mtx)) != 0 ||
		    (rv = nng_aio_alloc(&c->aio, conv_cb, c)) != 0 ||
		    (rv = nng_ctx_open(&c->ctx, r->sock)) != 0) {
			snprintf(err, errlen, "cannot create context: %s",
			    nng_strerror(rv));
			goto fail;
		}
		r->nconvs++;
	}
	if ((r->url = strdup(conf->url)) == NULL ||
	    (rv = nng_mtx_alloc(&r->lmtx)) != 0) {
		rv = NNG_ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	r->tls = conf->tls;
	if ((rv = nng_listener_create(&r->listener, r->sock, conf->url)) !=
	    0) {
		snprintf(err, errlen, "invalid listen address %s: %s",
		    conf->url, nng_strerror(rv));
		goto fail;
	}
	if (conf->tls != NULL &&
	    (rv = nng_listener_set_ptr(
	         r->listener, NNG_OPT_TLS_CONFIG, conf->tls)) != 0) {
		snprintf(err, errlen, "TLS: %s", nng_strerror(rv));
		goto fail;
	}
	if ((rv = nng_listener_start(r->listener, 0)) != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", conf->url,
		    nng_strerror(rv));
		goto fail;
	}
	// Pin the port chosen for port 0, so that a new listener (the
	// watchdog's) takes the same one.
	int    port = tasq_rpc_bound_port(r);
	size_t ulen = strlen(r->url);
	if (port > 0 && ulen > 2 && strcmp(r->url + ulen - 2, ":0") == 0) {
		char *u = malloc(ulen + 8);
		if (u != NULL) {
			snprintf(u, ulen + 8, "%.*s:%d", (int) (ulen - 2),
			    r->url, port);
			free(r->url);
			r->url = u;
		}
	}
	for (uint32_t i = 0; i < r->nconvs; i++) {
		conv_recv(&r->convs[i]);
	}
	*rp = r;
	return (0);
fail:
	tasq_rpc_free(r);
	return (rv);
}

int
tasq_rpc_receiving(tasq_rpc *r)
{
	return (atomic_load(&r->nrecv));
}

uint64_t
tasq_rpc_accepts(tasq_rpc *r)
{
	return (atomic_load(&r->accepts));
}

// nng's counters of the listener's completed accepts (listener.c in
// 1.5.2: "accept" for a connection handed over, one per error class
// otherwise). "canceled" is left out: after ECANCELED nng stops
// accepting (bug 1518). ECLOSED, the bug's other error, is counted in
// "other" with errors after which nng goes on: the watchdog can so take a
// listener that has just stopped for alive once (see watchdog.h).
static const char *const accept_stats[] = { "accept", "disconnect", "timeout",
	"proto", "auth", "oom", "other" };
#define NSTATS (sizeof(accept_stats) / sizeof(accept_stats[0]))

uint64_t
tasq_rpc_listener_events(tasq_rpc *r)
{
	nng_stat    *all, *l, *s;
	nng_listener lst;
	uint64_t     n = 0;

	nng_mtx_lock(r->lmtx);
	lst = r->listener;
	nng_mtx_unlock(r->lmtx);
	if (nng_stats_get(&all) != 0) {
		return (0);
	}
	if ((l = nng_stat_find_listener(all, lst)) != NULL) {
		for (s = nng_stat_child(l); s != NULL; s = nng_stat_next(s)) {
			if (nng_stat_type(s) != NNG_STAT_COUNTER) {
				continue;
			}
			for (size_t i = 0; i < NSTATS; i++) {
				if (strcmp(nng_stat_name(s),
				        accept_stats[i]) == 0) {
					n += nng_stat_value(s);
				}
			}
		}
	}
	nng_stats_free(all);
	return (n);
}

bool
tasq_rpc_full(tasq_rpc *r)
{
	return ((uint32_t) atomic_load(&r->npipes) >= r->max_conns ||
	    (uint32_t) atomic_load(&r->nunauth) >= r->max_unauth);
}

int
tasq_rpc_relisten(tasq_rpc *r)
{
	nng_listener l;
	int          rv;

	nng_mtx_lock(r->lmtx);
	// The old listener must go first: the new one takes its address.
	(void) nng_listener_close(r->listener);
	if ((rv = nng_listener_create(&l, r->sock, r->url)) == 0 &&
	    (r->tls == NULL ||
	        (rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, r->tls)) ==
	            0) &&
	    (rv = nng_listener_start(l, 0)) == 0) {
		r->listener = l;
	}
	nng_mtx_unlock(r->lmtx);
	return (rv);
}

void
tasq_rpc_metrics(tasq_rpc *r, FILE *f)
{
	fprintf(f,
	    "# HELP tasq_rpc_duration_seconds Time from a request's "
	    "arrival to its reply (long-polls included).\n"
	    "# TYPE tasq_rpc_duration_seconds histogram\n");
	for (int m = 0; m < TASQ_M_COUNT; m++) {
		const char *name = tasq_wire_method_name(m);
		uint64_t    cum  = 0;
		for (int b = 0; b <= NBUCKETS; b++) {
			cum += atomic_load(&r->hist[m][b]);
			if (b < NBUCKETS) {
				fprintf(f,
				    "tasq_rpc_duration_seconds_bucket{method="
				    "\"%s\","
				    "le=\"%g\"} %llu\n",
				    name, bucket_le[b],
				    (unsigned long long) cum);
			} else {
				fprintf(f,
				    "tasq_rpc_duration_seconds_bucket{method="
				    "\"%s\","
				    "le=\"+Inf\"} %llu\n",
				    name, (unsigned long long) cum);
			}
		}
		fprintf(f,
		    "tasq_rpc_duration_seconds_sum{method=\"%s\"} %.6f\n",
		    name, (double) atomic_load(&r->hist_sum_us[m]) / 1e6);
		fprintf(f,
		    "tasq_rpc_duration_seconds_count{method=\"%s\"} %llu\n",
		    name, (unsigned long long) cum);
	}
	fprintf(f,
	    "# HELP tasq_rpc_replies_total Replies sent, by status.\n"
	    "# TYPE tasq_rpc_replies_total counter\n");
	for (int c = 0; c <= TASQ_CODE_MAX; c++) {
		fprintf(f, "tasq_rpc_replies_total{code=\"%s\"} %llu\n",
		    tasq_err_name(c),
		    (unsigned long long) atomic_load(&r->by_status[c]));
	}
	fprintf(f,
	    "# HELP tasq_connections Open connections.\n"
	    "# TYPE tasq_connections gauge\ntasq_connections %d\n",
	    atomic_load(&r->npipes));
	fprintf(f,
	    "# HELP tasq_connections_unauthenticated Open connections that "
	    "have not yet sent an authenticated request.\n"
	    "# TYPE tasq_connections_unauthenticated gauge\n"
	    "tasq_connections_unauthenticated %d\n",
	    atomic_load(&r->nunauth));
}

int
tasq_rpc_reap(tasq_rpc *r, uint64_t idle_ms)
{
	nng_pipe *victims = NULL;
	size_t    n = 0, nauth = 0, pos = 0;
	void     *v;
	uint64_t  now = nng_clock();

	// While closing, connections end from below only (see
	// tasq_rpc_close): the timer may still run once after the close.
	if (atomic_load(&r->closing)) {
		return (0);
	}
	nng_mtx_lock(r->pmtx);
	if (r->pipes.count > 0 &&
	    (victims = malloc(r->pipes.count * sizeof(*victims))) != NULL) {
		// Those past the authentication deadline first (victims
		// [0, nauth)), then the idle ones.
		while ((v = tasq_idmap_next(&r->pipes, &pos)) != NULL) {
			struct pipe_info *pi = v;
			if (!pi->authed && r->auth_ms > 0 &&
			    now >= pi->since_ms + r->auth_ms) {
				victims[n++] = pi->p;
			}
		}
		nauth = n;
		pos   = 0;
		while ((v = tasq_idmap_next(&r->pipes, &pos)) != NULL) {
			struct pipe_info *pi = v;
			if ((pi->authed || r->auth_ms == 0 ||
			        now < pi->since_ms + r->auth_ms) &&
			    pi->inflight == 0 && now > pi->last_ms + idle_ms) {
				victims[n++] = pi->p;
			}
		}
	}
	nng_mtx_unlock(r->pmtx);
	// Closed outside the lock: the pipe callback takes it.
	for (size_t i = 0; i < n; i++) {
		(void) nng_pipe_close(victims[i]);
	}
	free(victims);
	if (nauth > 0) {
		tasq_stats_add(r->stats, TASQ_CTR_AUTH_TIMEOUT, nauth);
		// Debug only: an idle peer's REQ socket redials after
		// --idle-timeout and, sending nothing, is closed again here.
		tasq_debug(
		    "closed %zu connection(s) that sent no authenticated "
		    "request in %llu ms",
		    nauth, (unsigned long long) r->auth_ms);
	}
	if (n > nauth) {
		tasq_stats_add(r->stats, TASQ_CTR_IDLE_CLOSED, n - nauth);
		tasq_info("closed %zu connection(s) idle for over %llu ms",
		    n - nauth, (unsigned long long) idle_ms);
	}
	return ((int) n);
}

int
tasq_rpc_local_url(tasq_rpc *r, char *buf, size_t len)
{
	static const struct {
		const char *any, *local;
	} map[]       = { { "://0.0.0.0:", "://127.0.0.1:" },
		      { "://*:", "://127.0.0.1:" }, { "://:", "://127.0.0.1:" },
		      { "://[::]:", "://[::1]:" } };
	const char *u = r->url;

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		const char *at = strstr(u, map[i].any);
		if (at != NULL) {
			int n = snprintf(buf, len, "%.*s%s%s", (int) (at - u),
			    u, map[i].local, at + strlen(map[i].any));
			return (n < 0 || (size_t) n >= len ? NNG_EINVAL : 0);
		}
	}
	int n = snprintf(buf, len, "%s", u);
	return (n < 0 || (size_t) n >= len ? NNG_EINVAL : 0);
}

int
tasq_rpc_bound_port(tasq_rpc *r)
{
	int port = 0;

	if (nng_listener_get_int(r->listener, NNG_OPT_TCP_BOUND_PORT, &port) !=
	    0) {
		return (0);
	}
	return (port);
}

// Shutdown (tasq_rpc_close, tasq_rpc_stop, tasq_rpc_free).
//
// nng 1.5.2 must never close a connection itself while bytes of a
// message are arriving on it: if the close lands between the transport's
// read of a frame header and its callback, the callback's next read is
// refused without a completion, the REP pipe's receive never finishes,
// and nng's single reaper thread, and with it nng_close, waits for it
// forever (upstream issue 1813, fixed in nng 1.8.0 by aborting such
// operations in nni_aio_stop). Under load every connection is in that
// state often, so closing the socket hung the server on SIGTERM.
//
// So connections are ended from below instead: shutdown(2) on their
// sockets makes every read fail, and nng closes each pipe from its own
// receive callback, the path that has no such window. Meanwhile the
// conversations keep receiving (and drop what they receive), so that
// every connection has a read outstanding to see its end. Only once the
// connections are gone are the conversations stopped and the socket
// closed.
//
// Only the receiving half is shut down (SHUT_RD). Shutting down the
// sending half too made every write on the connection fail (EPIPE, or
// the poller's hang-up failing a pending one) while its reader was still
// taking the requests the peer had already sent, and a failed write
// closes the pipe from the send side (rep0_pipe_send_cb): that is a
// close from above, racing the reader's next frame: the window above,
// which grows with the delay of nng's callbacks on a loaded machine (the
// likely cause of a rare "socket did not close" over plain TCP). With
// SHUT_RD writes go on until the reader sees the end of its stream and
// closes the pipe, which also ends the writes.

// How long the drain waits for the next connection to end before it
// takes the rest for quiet (see tasq_rpc_stop).
#define QUIET_MS 500

// Shuts down, at the socket level, every connection accepted on our
// address (server/conn_end.h). Returns how many.
static int
rpc_end_connections(tasq_rpc *r)
{
	const char *path = NULL;

	if (strncmp(r->url, "ipc://", 6) == 0) {
		path = r->url + 6;
	}
	return (tasq_conn_end(tasq_rpc_bound_port(r), path));
}

// While closing, a new connection is refused before it starts.
static void
rpc_closing_add_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void) ev;
	(void) arg;
	nng_pipe_close(p);
}

// While closing, a connection's end also wakes tasq_rpc_stop; once it is
// quiesced, pipe events are ignored (the broker, and the journal behind
// it, are no longer to be touched from here).
static void
rpc_closing_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	tasq_rpc *r = arg;

	nng_mtx_lock(r->cmtx);
	if (r->quiesced) {
		nng_mtx_unlock(r->cmtx);
		return;
	}
	r->in_pipe_cb++;
	nng_mtx_unlock(r->cmtx);
	pipe_cb(p, ev, r);
	nng_mtx_lock(r->cmtx);
	r->in_pipe_cb--;
	nng_cv_wake(r->ccv);
	nng_mtx_unlock(r->cmtx);
}

// An RPC layer whose socket would not close (see tasq_rpc_stop).
static tasq_rpc *rpc_abandoned;

bool
tasq_rpc_abandoned(void)
{
	return (rpc_abandoned != NULL);
}

void
tasq_rpc_close(tasq_rpc *r)
{
	if (r == NULL || atomic_exchange(&r->closing, true)) {
		return;
	}
	if (r->cmtx == NULL) {
		return; // start failed before the socket was set up
	}
	// New connections are refused before they start: closing the
	// listener now would close the established ones (see above).
	(void) nng_pipe_notify(
	    r->sock, NNG_PIPE_EV_ADD_PRE, rpc_closing_add_cb, r);
	(void) nng_pipe_notify(
	    r->sock, NNG_PIPE_EV_ADD_POST, rpc_closing_pipe_cb, r);
	(void) nng_pipe_notify(
	    r->sock, NNG_PIPE_EV_REM_POST, rpc_closing_pipe_cb, r);
	// Long-polls end now; their conversations go back to receiving.
	for (uint32_t i = 0; i < r->nconvs; i++) {
		tasq_rpc_wake(&r->convs[i].waiter);
	}
	if (r->url != NULL) {
		int n = rpc_end_connections(r);
		tasq_debug("shutdown: ended %d connection(s)", n);
	}
}

int
tasq_rpc_stop(tasq_rpc *r, uint32_t drain_ms)
{
	int rv = 0;

	if (r == NULL || r->stopped) {
		return (0);
	}
	tasq_rpc_close(r);
	r->stopped = true;
	if (r->cmtx != NULL) {
		// Woken by each connection's end (pipe_cb's record, made at
		// ADD_PRE, goes at REM_POST, which nng reports for every pipe
		// it reported at ADD_PRE). Over TLS it stops waiting once no
		// connection has ended for QUIET_MS: nng 1.5.2's TLS layer
		// does not always pass its socket's end up (a read started
		// after a failed write waits forever), and such a connection
		// is quiet for good. Over TCP and IPC every connection ends
		// from below, so it waits for all (bounded by drain_ms): a
		// connection that is only late (its callbacks delayed on a
		// loaded machine) may have a frame's read completed and its
		// callback not yet run, and nng_close would then hit the
		// window described above.
		nng_time until = nng_clock() + drain_ms;
		nng_time quiet = nng_clock() + QUIET_MS;
		bool     tls   = r->tls != NULL;
		int      left  = atomic_load(&r->npipes);
		while (left > 0 && nng_clock() < until &&
		    (!tls || nng_clock() < quiet)) {
			nng_time slice = nng_clock() + 100;
			nng_mtx_lock(r->cmtx);
			if (atomic_load(&r->npipes) > 0) {
				(void) nng_cv_until(
				    r->ccv, slice < until ? slice : until);
			}
			nng_mtx_unlock(r->cmtx);
			if (atomic_load(&r->npipes) != left) {
				left  = atomic_load(&r->npipes);
				quiet = nng_clock() + QUIET_MS;
			}
		}
		if (left > 0 && nng_clock() >= until) {
			tasq_warn(
			    "shutdown: %d connection(s) still open after "
			    "%u ms; closing them",
			    left, drain_ms);
			rv = TASQ_EDEADLINE_EXCEEDED;
		} else if (left > 0) {
			tasq_info("shutdown: %d connection(s) did not end "
			          "(quiet for %d ms); closing them",
			    left, QUIET_MS);
		}
	}
	// Every aio is stopped before any context closes: a callback may
	// start another operation, which a stopped aio refuses.
	for (uint32_t i = 0; i < r->ncap; i++) {
		if (r->convs != NULL && r->convs[i].aio != NULL) {
			nng_aio_stop(r->convs[i].aio);
		}
	}
	for (uint32_t i = 0; i < r->nconvs; i++) {
		(void) nng_ctx_close(r->convs[i].ctx);
	}
	if (r->cmtx == NULL) {
		nng_close(r->sock);
		return (rv);
	}
	// From here pipe events do not reach the broker: a connection's end
	// would return its leases, which can dead-letter, which appends to
	// the journal. Nothing is lost by it: the process is ending, and the
	// leased tasks are in the journal, not done, so they are delivered
	// again after a restart.
	nng_mtx_lock(r->cmtx);
	r->quiesced = true;
	while (r->in_pipe_cb > 0) {
		nng_cv_wait(r->ccv);
	}
	nng_mtx_unlock(r->cmtx);
	// The socket last, bounded (lib/sockclose.h): nng 1.5.2 can still
	// hang in it, over TLS (its TLS layer drops a connection's end in
	// ways the drain above cannot always make up for). Then r is left
	// allocated, for the stuck thread, and the process ends without it.
	if (!tasq_sock_close(r->sock, NULL, NULL)) {
		r->sock_stuck = true;
		tasq_warn("shutdown: the socket did not close (nng 1.5.2); "
		          "leaving it");
		// Abandoned on purpose, for the stuck thread: a root keeps it
		// (and what hangs off it) reachable, so that LeakSanitizer
		// does not report it at exit.
		rpc_abandoned = r;
		return (TASQ_EDEADLINE_EXCEEDED);
	}
	return (rv);
}

void
tasq_rpc_free(tasq_rpc *r)
{
	if (r == NULL) {
		return;
	}
	(void) tasq_rpc_stop(r, 0);
	if (r->sock_stuck) {
		return; // nng may still call into r
	}
	// The conversation being built when start failed counts too.
	uint32_t n = r->convs != NULL ? r->nconvs + 1 : 0;
	if (n > r->ncap) {
		n = r->ncap;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct conv *c = &r->convs[i];
		if (c->mtx != NULL) {
			(void) tasq_broker_unpark(r->broker, &c->waiter);
		}
		if (c->have_req) {
			tasq_wire_req_fini(&c->req);
		}
		if (c->aio != NULL) {
			nng_aio_free(c->aio);
		}
		if (c->synced != NULL) {
			nng_msg_free(c->synced);
		}
		if (c->mtx != NULL) {
			nng_mtx_free(c->mtx);
		}
	}
	free(r->convs);
	free(r->url);
	if (r->lmtx != NULL) {
		nng_mtx_free(r->lmtx);
	}
	{
		size_t pos = 0;
		void  *v;
		while ((v = tasq_idmap_next(&r->pipes, &pos)) != NULL) {
			free(v);
		}
		tasq_idmap_fini(&r->pipes);
	}
	if (r->ccv != NULL) {
		nng_cv_free(r->ccv);
	}
	if (r->cmtx != NULL) {
		nng_mtx_free(r->cmtx);
	}
	nng_mtx_free(r->pmtx);
	free(r);
}
