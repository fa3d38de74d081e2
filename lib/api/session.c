// session: tasq_session, a connection to a server (or several: see
// lib/api/servers.c) for the public API:
// the keyring and channel built from tasq_opts, one-shot requests run
// asynchronously on a few threads of the session's, and the close that
// reaches every operation and job of it.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "commonopt.h"
#include "log.h"
#include "tls.h"

// A request in the session's queue or on a runner thread.
struct tasq_api_op {
	tasq_session       *s;
	const tasq_req     *req;
	uint32_t            timeout_ms;
	tasq_aio           *aio; // NULL once completed from outside
	tasq_api_done_fn    done;
	void               *arg;
	uint32_t            member; // TASQ_API_MEMBER_ANY: the default
	bool                running, in_done;
	struct tasq_api_op *next; // queue or running list
};

// ---- process-wide: the TLS engine and the library's logging ---------------

static pthread_mutex_t proc_mtx = PTHREAD_MUTEX_INITIALIZER;
static bool            proc_tls_set;
static char            proc_tls[3][16]; // engine, min, max

static bool proc_log_done; // the logging is set up (or kept)

static void
proc_log_setup(void)
{
	const char *lvl;

	pthread_mutex_lock(&proc_mtx);
	if (!proc_log_done) {
		proc_log_done = true;
		tasq_log_init("libtasq");
		// Quiet unless asked: a library does not chat on stderr.
		lvl = getenv("TASQ_LOG_LEVEL");
		tasq_log_set_level(
		    lvl != NULL && tasq_log_level_parse(lvl) >= 0
		        ? tasq_log_level_parse(lvl)
		        : TASQ_LOG_ERROR);
	}
	pthread_mutex_unlock(&proc_mtx);
}

void
tasq_api_log_keep(void)
{
	pthread_mutex_lock(&proc_mtx);
	proc_log_done = true;
	pthread_mutex_unlock(&proc_mtx);
}

static int
proc_tls_setup(const tasq_opts *o, char *err, size_t errlen)
{
	const char *e   = o->val[TASQ_API_OPT_TLS_ENGINE];
	const char *min = o->val[TASQ_API_OPT_TLS_MIN];
	const char *max = o->val[TASQ_API_OPT_TLS_MAX];
	int         rv  = 0;

	pthread_mutex_lock(&proc_mtx);
	if (proc_tls_set) {
		if (strcmp(proc_tls[0], e) != 0 ||
		    strcmp(proc_tls[1], min) != 0 ||
		    strcmp(proc_tls[2], max) != 0) {
			snprintf(err, errlen,
			    "the TLS engine and versions are chosen once per "
			    "process (%s, %s..%s), not %s, %s..%s",
			    proc_tls[0], proc_tls[1], proc_tls[2], e, min,
			    max);
			rv = TASQ_EINVALID_ARGUMENT;
		}
	} else if ((rv = tasq_tls_setup(e, min, max, err, errlen)) == 0) {
		proc_tls_set = true;
		snprintf(proc_tls[0], sizeof(proc_tls[0]), "%s", e);
		snprintf(proc_tls[1], sizeof(proc_tls[1]), "%s", min);
		snprintf(proc_tls[2], sizeof(proc_tls[2]), "%s", max);
	}
	pthread_mutex_unlock(&proc_mtx);
	return (rv);
}

// ---- opening ------------------------------------------------------------

// A key is its bytes without trailing white space, as lib/auth.c reads
// key files and TASQ_KEY.
static int
key_ring(const tasq_opts *o, tasq_keyring **krp, char *err, size_t errlen)
{
	const char *kf  = o->val[TASQ_API_OPT_KEY_FILE];
	const char *key = o->val[TASQ_API_OPT_KEY];
	size_t      len;
	int         rv;

	if (kf != NULL && kf[0] != '\0') {
		return (tasq_keyring_setup(kf, krp, err, errlen));
	}
	if (key == NULL || key[0] == '\0') {
		snprintf(err, errlen,
		    "no shared key: set key-file (TASQ_KEY_FILE) or key "
		    "(TASQ_KEY)");
		return (TASQ_EINVALID_ARGUMENT);
	}
	len = strlen(key);
	while (len > 0 &&
	    (key[len - 1] == '\n' || key[len - 1] == '\r' ||
	        key[len - 1] == ' ' || key[len - 1] == '\t')) {
		len--;
	}
	if ((rv = tasq_keyring_alloc(krp)) != 0) {
		snprintf(err, errlen, "out of memory");
		return (rv);
	}
	if ((rv = tasq_keyring_add(*krp, (const uint8_t *) key, len, NULL)) !=
	    0) {
		tasq_keyring_free(*krp);
		*krp = NULL;
		snprintf(err, errlen, "the key must hold %d to %d bytes",
		    TASQ_KEY_MIN, TASQ_KEY_MAX);
		return (TASQ_EINVALID_ARGUMENT);
	}
	return (0);
}

static void session_destroy(tasq_session *s);

TASQ_API int
tasq_session_open(tasq_session **sp, const tasq_opts *opts)
{
	return (tasq_api_session_open_with(sp, opts, NULL));
}

int
tasq_api_session_open_with(
    tasq_session **sp, const tasq_opts *opts, const tasq_shard_opts *so)
{
	tasq_session      *s;
	tasq_opts         *env = NULL;
	tasq_chan_opts     co;
	tasq_commonopt_cfg cc;
	char               err[512];
	const char        *url;
	int                rv;

	tasq_api_clear();
	if (sp == NULL) {
		return (tasq_api_fail(
		    TASQ_EINVALID_ARGUMENT, "tasq_session_open: sp is NULL"));
	}
	proc_log_setup();
	if (opts == NULL) {
		if ((rv = tasq_opts_alloc(&env)) != 0 ||
		    (rv = tasq_opts_load_env(env)) != 0) {
			tasq_opts_free(env);
			return (rv);
		}
		opts = env;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		tasq_opts_free(env);
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	rv = tasq_api_opts_copy(&s->opts, opts);
	tasq_opts_free(env);
	if (rv != 0 || nng_mtx_alloc(&s->mtx) != 0 ||
	    nng_cv_alloc(&s->cv, s->mtx) != 0 ||
	    tasq_api_ticker_init(&s->lingers) != 0 ||
	    tasq_api_ticker_init(&s->closer) != 0) {
		session_destroy(s);
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	opts = s->opts;
	url  = opts->val[TASQ_API_OPT_SERVER];
	s->timeout_ms =
	    (uint32_t) tasq_api_opts_u64(opts, TASQ_API_OPT_REQUEST_TIMEOUT);
	s->connect_timeout_ms =
	    (uint32_t) tasq_api_opts_u64(opts, TASQ_API_OPT_CONNECT_TIMEOUT);
	// The tools' checks of the TLS settings (files given and readable).
	memset(&cc, 0, sizeof(cc));
	cc.tls_ca          = opts->val[TASQ_API_OPT_TLS_CA];
	cc.tls_cert        = opts->val[TASQ_API_OPT_TLS_CERT];
	cc.tls_key         = opts->val[TASQ_API_OPT_TLS_KEY];
	cc.tls_server_name = opts->val[TASQ_API_OPT_TLS_SERVER_NAME];
	cc.tls_engine      = opts->val[TASQ_API_OPT_TLS_ENGINE];
	cc.tls_min         = opts->val[TASQ_API_OPT_TLS_MIN];
	cc.tls_max         = opts->val[TASQ_API_OPT_TLS_MAX];
	if ((rv = tasq_commonopt_check(&cc, TASQ_COMMONOPT_DIALER,
	         tasq_url_is_tls(url) != 0, err, sizeof(err))) != 0 ||
	    (rv = key_ring(opts, &s->keys, err, sizeof(err))) != 0 ||
	    (tasq_url_is_tls(url) &&
	        (rv = proc_tls_setup(opts, err, sizeof(err))) != 0)) {
		session_destroy(s);
		return (tasq_api_fail(rv, "%s", err));
	}
	memset(&co, 0, sizeof(co));
	co.url                = url;
	co.keys               = s->keys;
	co.tls_ca             = cc.tls_ca;
	co.tls_server_name    = cc.tls_server_name;
	co.tls_cert           = cc.tls_cert;
	co.tls_key            = cc.tls_key;
	co.connect_timeout_ms = s->connect_timeout_ms;
	co.max_msg_bytes =
	    (size_t) tasq_api_opts_u64(opts, TASQ_API_OPT_MAX_MESSAGE);
	// Several servers (a list, or a name with several addresses): the
	// set dials them; one server is dialed below, as it always was.
	if ((rv = tasq_api_servers_open(
	         s, url, &co, so, &s->servers, err, sizeof(err))) != 0) {
		session_destroy(s);
		return (tasq_api_fail(rv, "%s", err));
	}
	if (s->servers != NULL) {
		s->chan = tasq_api_servers_first_chan(s->servers);
		*sp     = s;
		return (0);
	}
	if ((rv = tasq_chan_open(&s->chan, &co, err, sizeof(err))) != 0) {
		session_destroy(s);
		// Not reached in time, refused, unreachable: the server is
		// not available; a verification failure is the key's kind.
		if (rv == NNG_EPEERAUTH || rv == NNG_ECRYPTO) {
			rv = TASQ_EUNAUTHENTICATED;
		} else if (rv != TASQ_EINVALID_ARGUMENT &&
		    rv != NNG_EADDRINVAL && rv != NNG_ENOMEM) {
			rv = TASQ_EUNAVAILABLE;
		}
		return (tasq_api_fail(rv, "%s", err));
	}
	*sp = s;
	return (0);
}

// ---- holds, closers, close and free -----------------------------------

int
tasq_api_session_hold(tasq_session *s)
{
	nng_mtx_lock(s->mtx);
	if (s->closed) {
		nng_mtx_unlock(s->mtx);
		return (
		    tasq_api_fail(TASQ_EUNAVAILABLE, "the session is closed"));
	}
	s->holds++;
	nng_mtx_unlock(s->mtx);
	return (0);
}

void
tasq_api_session_release(tasq_session *s)
{
	nng_mtx_lock(s->mtx);
	if (--s->holds == 0) {
		nng_cv_wake(s->cv);
	}
	nng_mtx_unlock(s->mtx);
}

void
tasq_api_session_add_closer(tasq_session *s, tasq_api_closer *c)
{
	nng_mtx_lock(s->mtx);
	c->next    = s->closers;
	s->closers = c;
	nng_mtx_unlock(s->mtx);
}

void
tasq_api_session_remove_closer(tasq_session *s, tasq_api_closer *c)
{
	nng_mtx_lock(s->mtx);
	for (tasq_api_closer **pp = &s->closers; *pp != NULL;
	     pp                   = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	nng_mtx_unlock(s->mtx);
}

// Completes op's aio from outside the runner (cancel, close): the op
// stays where it is and is cleaned up by whoever holds it. s->mtx held;
// returns the aio to finish once it is released (or NULL).
static tasq_aio *
op_detach(struct tasq_api_op *op)
{
	tasq_aio *aio;

	if (op->in_done) {
		return (NULL); // its done is writing the outputs: let it
	}
	aio     = op->aio;
	op->aio = NULL;
	return (aio);
}

// Ends an op that was taken (0 returned) but will not be sent: its aio
// (if it still has one) finishes with rv and msg, done runs, and its hold
// on the session goes. s->mtx not held.
static void
op_end(tasq_session *s, struct tasq_api_op *op, int rv, const char *msg)
{
	if (op->aio != NULL) {
		(void) tasq_api_aio_finish(op->aio, rv, msg);
	}
	(void) op->done(op->arg, rv, NULL, NULL, 0, false);
	tasq_api_session_release(s);
	free(op);
}

TASQ_API void
tasq_session_close(tasq_session *s)
{
	struct tasq_api_op *queued, *op;
	tasq_aio           *aios[64];
	size_t              naios = 0;
	tasq_api_closer    *c;

	if (s == NULL) {
		return;
	}
	nng_mtx_lock(s->mtx);
	if (s->closed) {
		nng_mtx_unlock(s->mtx);
		return;
	}
	s->closed   = true;
	queued      = s->ops_head;
	s->ops_head = s->ops_tail = NULL;
	for (op = s->running; op != NULL; op = op->next) {
		tasq_aio *aio = op_detach(op);
		if (aio != NULL && naios < 64) {
			aios[naios++] = aio;
		} else if (aio != NULL) {
			op->aio = aio; // (more than 64 at once: they end
			               // with their request)
		}
	}
	c = s->closers;
	nng_cv_wake(s->cv);
	nng_mtx_unlock(s->mtx);
	for (size_t i = 0; i < naios; i++) {
		(void) tasq_api_aio_finish(
		    aios[i], TASQ_ECANCELLED, "the session was closed");
	}
	while ((op = queued) != NULL) {
		queued = op->next;
		op_end(s, op, TASQ_ECANCELLED, "the session was closed");
	}
	// Closers are not removed while the session is closing: their
	// owners free them only after their own close (tasq_job_free).
	for (; c != NULL; c = c->next) {
		c->fn(c->arg);
	}
}

static void
session_destroy(tasq_session *s)
{
	// No job is left (each held the session): no tick is queued.
	tasq_api_ticker_fini(&s->lingers);
	tasq_api_ticker_fini(&s->closer);
	free(s->closes);
	if (s->servers != NULL) {
		tasq_api_servers_free(s->servers); // s->chan is one of them
	} else {
		tasq_chan_close(s->chan);
	}
	tasq_keyring_free(s->keys);
	tasq_opts_free(s->opts);
	if (s->cv != NULL) {
		nng_cv_free(s->cv);
	}
	if (s->mtx != NULL) {
		nng_mtx_free(s->mtx);
	}
	free(s);
}

TASQ_API void
tasq_session_free(tasq_session *s)
{
	if (s == NULL) {
		return;
	}
	// The jobs freed lately whose CloseJob no Fetch took go now, while
	// the session is open; a job not freed yet closes its own.
	tasq_api_closes_flush(s, true);
	tasq_session_close(s);
	nng_mtx_lock(s->mtx);
	while (s->holds > 0) {
		nng_cv_wait(s->cv);
	}
	nng_mtx_unlock(s->mtx);
	// Runners leave once the session is closed and the queue empty.
	for (unsigned i = 0; i < s->nrunners; i++) {
		nng_thread_destroy(s->runners[i]);
	}
	session_destroy(s);
}

// ---- requests -------------------------------------------------------------

int
tasq_api_call(tasq_session *s, const tasq_req *req, uint32_t timeout_ms,
    tasq_rep *rep, char *err, size_t errlen)
{
	int rv;

	if ((rv = tasq_api_session_hold(s)) != 0) {
		snprintf(err, errlen, "the session is closed");
		return (rv);
	}
	if (s->servers == NULL) {
		rv = tasq_api_err(tasq_chan_call(
		    s->chan, req, timeout_ms, rep, err, errlen));
	} else {
		rv = tasq_api_servers_call(
		    s, TASQ_API_MEMBER_ANY, req, timeout_ms, rep, err, errlen);
	}
	tasq_api_session_release(s);
	return (rv);
}

int
tasq_api_call_member(tasq_session *s, uint32_t member, const tasq_req *req,
    uint32_t timeout_ms, tasq_rep *rep, char *err, size_t errlen)
{
	int rv;

	if ((rv = tasq_api_session_hold(s)) != 0) {
		snprintf(err, errlen, "the session is closed");
		return (rv);
	}
	rv = tasq_api_servers_call(
	    s, member, req, timeout_ms, rep, err, errlen);
	tasq_api_session_release(s);
	return (rv);
}

static void
runner(void *arg)
{
	tasq_session *s = arg;

	nng_mtx_lock(s->mtx);
	for (;;) {
		struct tasq_api_op *op;
		tasq_rep            rep;
		char                err[512] = "";
		int                 rv;
		tasq_aio           *aio;

		while (s->ops_head == NULL && !s->closed) {
			s->idle_runners++;
			nng_cv_wait(s->cv);
			s->idle_runners--;
		}
		if ((op = s->ops_head) == NULL) {
			break; // closed, and nothing left
		}
		if ((s->ops_head = op->next) == NULL) {
			s->ops_tail = NULL;
		}
		op->running = true;
		op->next    = s->running;
		s->running  = op;
		nng_mtx_unlock(s->mtx);

		memset(&rep, 0, sizeof(rep));
		if (s->servers == NULL && op->member == TASQ_API_MEMBER_ANY) {
			rv = tasq_api_err(tasq_chan_call(s->chan, op->req,
			    op->timeout_ms, &rep, err, sizeof(err)));
		} else {
			rv = tasq_api_servers_call(s, op->member, op->req,
			    op->timeout_ms, &rep, err, sizeof(err));
		}

		nng_mtx_lock(s->mtx);
		for (struct tasq_api_op **pp = &s->running; *pp != NULL;
		     pp                      = &(*pp)->next) {
			if (*pp == op) {
				*pp = op->next;
				break;
			}
		}
		aio         = op->aio;
		op->in_done = aio != NULL;
		nng_mtx_unlock(s->mtx);
		rv = op->done(op->arg, rv, rv == 0 ? &rep : NULL, err,
		    sizeof(err), aio != NULL);
		if (aio != NULL) {
			(void) tasq_api_aio_finish(aio, rv, err);
		}
		free(op);
		tasq_api_session_release(s);
		nng_mtx_lock(s->mtx);
	}
	nng_mtx_unlock(s->mtx);
}

// The op of aio still queued or running (not yet in its done, where the
// runner has taken it off both lists and may free it at any time), or
// NULL. The cancel's argument is the session, not the op, which may be
// gone by the time a cancel runs.
static struct tasq_api_op *
op_find(tasq_session *s, tasq_aio *aio)
{
	for (struct tasq_api_op *q = s->ops_head; q != NULL; q = q->next) {
		if (q->aio == aio) {
			return (q);
		}
	}
	for (struct tasq_api_op *q = s->running; q != NULL; q = q->next) {
		if (q->aio == aio) {
			return (q);
		}
	}
	return (NULL);
}

static void
op_cancel(tasq_aio *aio, void *arg, int rv)
{
	tasq_session       *s = arg;
	struct tasq_api_op *op;
	bool                queued = false;

	nng_mtx_lock(s->mtx);
	if ((op = op_find(s, aio)) == NULL) {
		nng_mtx_unlock(s->mtx);
		return;
	}
	if (!op->running) {
		// Still queued: take it out, it will not be sent.
		struct tasq_api_op *prev = NULL;
		for (struct tasq_api_op *q = s->ops_head; q != NULL;
		     prev = q, q = q->next) {
			if (q == op) {
				if (prev != NULL) {
					prev->next = op->next;
				} else {
					s->ops_head = op->next;
				}
				if (s->ops_tail == op) {
					s->ops_tail = prev;
				}
				break;
			}
		}
		queued = true;
	}
	op->aio = NULL;
	nng_mtx_unlock(s->mtx);
	(void) tasq_api_aio_finish(aio, rv,
	    rv == TASQ_EDEADLINE_EXCEEDED ? "the aio's timeout expired"
	                                  : "cancelled");
	if (queued) {
		(void) op->done(op->arg, rv, NULL, NULL, 0, false);
		free(op);
		tasq_api_session_release(s);
	}
}

int
tasq_api_call_aio(tasq_session *s, const tasq_req *req, uint32_t timeout_ms,
    tasq_aio *aio, tasq_api_done_fn done, void *arg)
{
	return (tasq_api_call_member_aio(
	    s, TASQ_API_MEMBER_ANY, req, timeout_ms, aio, done, arg));
}

int
tasq_api_call_member_aio(tasq_session *s, uint32_t member, const tasq_req *req,
    uint32_t timeout_ms, tasq_aio *aio, tasq_api_done_fn done, void *arg)
{
	struct tasq_api_op *op;
	int                 rv;

	if ((op = calloc(1, sizeof(*op))) == NULL) {
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	op->s          = s;
	op->member     = member;
	op->req        = req;
	op->timeout_ms = timeout_ms;
	op->aio        = aio;
	op->done       = done;
	op->arg        = arg;
	if ((rv = tasq_api_session_hold(s)) != 0) {
		free(op);
		return (rv);
	}
	if ((rv = tasq_api_aio_begin(aio)) != 0) {
		free(op);
		tasq_api_session_release(s);
		return (rv);
	}
	nng_mtx_lock(s->mtx);
	if (s->closed) {
		// Closed since the hold, its queue already ended (and its
		// runners may be gone): ended here as the close ends one.
		nng_mtx_unlock(s->mtx);
		op_end(s, op, TASQ_ECANCELLED, "the session was closed");
		return (0);
	}
	if (s->idle_runners == 0 && s->nrunners < TASQ_API_MAX_RUNNERS) {
		if (nng_thread_create(&s->runners[s->nrunners], runner, s) ==
		    0) {
			s->nrunners++;
		} else if (s->nrunners == 0) {
			nng_mtx_unlock(s->mtx);
			op_end(s, op, TASQ_ERESOURCE_EXHAUSTED,
			    "cannot start a thread");
			return (0);
		}
	}
	if (s->ops_tail != NULL) {
		s->ops_tail->next = op;
	} else {
		s->ops_head = op;
	}
	s->ops_tail = op;
	nng_cv_wake1(s->cv);
	// Under the lock, so that the op cannot be done with before its
	// cancel is known (the lock order is the session's, then the
	// aio's).
	tasq_api_aio_defer(aio, op_cancel, s);
	nng_mtx_unlock(s->mtx);
	return (0);
}

// ---- ping -----------------------------------------------------------------

TASQ_API int
tasq_session_ping(tasq_session *s)
{
	tasq_req req;
	tasq_rep rep;
	char     err[512];
	int      rv;

	tasq_api_clear();
	if (s == NULL) {
		return (tasq_api_fail(
		    TASQ_EINVALID_ARGUMENT, "tasq_session_ping: s is NULL"));
	}
	memset(&req, 0, sizeof(req));
	req.method = TASQ_M_HEALTH;
	if ((rv = tasq_api_call(
	         s, &req, s->timeout_ms, &rep, err, sizeof(err))) != 0) {
		return (tasq_api_fail(rv, "%s", err));
	}
	rv = rep.u.health.serving ? 0 : TASQ_EUNAVAILABLE;
	tasq_wire_rep_fini(&rep);
	return (rv != 0 ? tasq_api_fail(rv, "the server is not serving") : 0);
}
