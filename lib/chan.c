#include "chan.h"

#include <stdatomic.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>

#include "clock.h"
#include "err.h"
#include "rand.h"
#include "sockclose.h"
#include "tls.h"
#include "tls_ossl.h"

struct tasq_chan {
	nng_socket           sock;
	nng_dialer           dialer;
	const tasq_keyring  *keys;
	char                *url;
	nng_tls_config      *tls; // held for redials
	nng_mtx             *mtx; // guards dialer and last_redial
	nng_time             last_redial;
	uint64_t             sender_id;
	atomic_uint_fast64_t seq;
	// The server's stamp clock minus our monotonic clock, learned from
	// every authenticated reply: requests are stamped with the server's
	// time, whatever our own clock says (docs/PROTOCOL.md section 5).
	atomic_int_fast64_t  offset_ms;
	atomic_uint_fast64_t server_id; // of the last verified reply
	void (*conn_cb)(void *, bool);  // tasq_chan_opts.conn_cb
	void *conn_arg;
	// tasq_chan_set_conn_cb's callback (under watch_mtx, also while
	// it runs).
	void (*watch_cb)(void *, bool);
	void *watch_arg;
	bool  watching; // its notifications are registered
};

// Guards every chan's watch_cb (connections come and go rarely).
static pthread_mutex_t watch_mtx = PTHREAD_MUTEX_INITIALIZER;

// ---- bounded blocking dials --------------------------------------------
//
// nng 1.5.2's blocking dial (nng_dialer_start without NNG_FLAG_NONBLOCK)
// has no deadline: toward an address that drops packets it waits for the
// kernel's TCP connect timeout (about two minutes). Its only way out is a
// close of the dialer, which aborts the connect, and the dial returns
// NNG_ECLOSED. So each blocking dial has a timer that closes its dialer
// at the attempt's limit, and a canceller (tasq_chan_cancel_fire) makes
// that timer close it at once.
//
// A close must not land in the instant between nng_dialer_start's lookup
// of the dialer and the transport's start of the connect: a connect whose
// aio was closed before it began is never completed, and the blocking
// dial would wait forever (nng 1.5.2, core/dialer.c and the transports'
// ep_connect). That instant is a few microseconds of the dialing
// thread's own work; a dialer is therefore never closed before it has
// dialed for DIAL_GUARD_MS, by far longer than that.
#define DIAL_GUARD_MS 1000

// A blocking dial under way (dial_once), on the dialing thread's stack.
struct dial {
	nng_dialer        d;
	tasq_chan_cancel *cn;    // or NULL
	nng_time          t0;    // when it started
	nng_time          until; // its limit
	nng_aio          *tmo;   // its timer (dial_timer_cb)
	bool              done;  // nng_dialer_start returned: d stays
	int               cut;   // 0, or why d was closed
	struct dial      *next;  // in cn's list
};

struct tasq_chan_cancel {
	bool         fired;
	struct dial *dials; // under way with it
};

// Guards every struct dial and tasq_chan_cancel. Held only around
// nng_dialer_close, nng_sleep_aio and nng_aio_cancel, which complete
// their aios on nng's threads, never on the caller's.
static pthread_mutex_t dial_mtx = PTHREAD_MUTEX_INITIALIZER;

int
tasq_chan_cancel_alloc(tasq_chan_cancel **cnp)
{
	if ((*cnp = calloc(1, sizeof(**cnp))) == NULL) {
		return (NNG_ENOMEM);
	}
	return (0);
}

void
tasq_chan_cancel_fire(tasq_chan_cancel *cn)
{
	if (cn == NULL) {
		return;
	}
	pthread_mutex_lock(&dial_mtx);
	cn->fired = true;
	for (struct dial *dl = cn->dials; dl != NULL; dl = dl->next) {
		// Its callback runs (on an nng thread) and closes the dialer,
		// or waits out the guard first.
		nng_aio_cancel(dl->tmo);
	}
	pthread_mutex_unlock(&dial_mtx);
}

void
tasq_chan_cancel_free(tasq_chan_cancel *cn)
{
	// Every dial with it has returned (its users joined their threads).
	free(cn);
}

// The timer of a blocking dial: expired (its limit), cancelled (its
// canceller fired, or the dial returned and dial_once stops it).
static void
dial_timer_cb(void *arg)
{
	struct dial *dl  = arg;
	nng_time     now = nng_clock();
	bool         fired;

	pthread_mutex_lock(&dial_mtx);
	if (dl->done || dl->cut != 0) {
		pthread_mutex_unlock(&dial_mtx);
		return;
	}
	fired = dl->cn != NULL && dl->cn->fired;
	if (now >= dl->t0 + DIAL_GUARD_MS && (fired || now >= dl->until)) {
		dl->cut = fired ? NNG_ECANCELED : NNG_ETIMEDOUT;
		(void) nng_dialer_close(dl->d);
	} else {
		nng_time next = fired || dl->until < dl->t0 + DIAL_GUARD_MS
		    ? dl->t0 + DIAL_GUARD_MS
		    : dl->until;
		nng_sleep_aio((nng_duration) (next - now), dl->tmo);
	}
	pthread_mutex_unlock(&dial_mtx);
}

// One blocking dial of c's dialer, for at most limit_ms (DIAL_GUARD_MS at
// least) and until cn fires. Returns nng_dialer_start's result, or
// NNG_ETIMEDOUT or NNG_ECANCELED when the dialer was closed for either;
// *cutp then says so (the next attempt needs a new dialer).
static int
dial_once(tasq_chan *c, tasq_chan_cancel *cn, uint32_t limit_ms, bool *cutp)
{
	struct dial dl;
	int         rv;

	*cutp = false;
	memset(&dl, 0, sizeof(dl));
	dl.d     = c->dialer;
	dl.cn    = cn;
	dl.t0    = nng_clock();
	dl.until = dl.t0 + limit_ms;
	if ((rv = nng_aio_alloc(&dl.tmo, dial_timer_cb, &dl)) != 0) {
		return (rv);
	}
	pthread_mutex_lock(&dial_mtx);
	if (cn != NULL && cn->fired) {
		pthread_mutex_unlock(&dial_mtx);
		nng_aio_free(dl.tmo);
		return (NNG_ECANCELED);
	}
	if (cn != NULL) {
		dl.next   = cn->dials;
		cn->dials = &dl;
	}
	nng_sleep_aio(
	    (nng_duration) (limit_ms > DIAL_GUARD_MS ? limit_ms
	                                             : DIAL_GUARD_MS),
	    dl.tmo);
	pthread_mutex_unlock(&dial_mtx);

	rv = nng_dialer_start(dl.d, 0);

	pthread_mutex_lock(&dial_mtx);
	dl.done = true;
	if (cn != NULL) {
		for (struct dial **pp = &cn->dials; *pp != NULL;
		     pp               = &(*pp)->next) {
			if (*pp == &dl) {
				*pp = dl.next;
				break;
			}
		}
	}
	pthread_mutex_unlock(&dial_mtx);
	nng_aio_stop(dl.tmo); // its callback, if running, has returned
	nng_aio_free(dl.tmo);
	// Closed by us: whatever the dial returned (NNG_ECLOSED, or a
	// connection the close ends), this is why.
	*cutp = dl.cut != 0;
	return (dl.cut != 0 ? dl.cut : rv);
}

// A new dialer of c (its TLS config set), replacing none: the caller
// keeps or closes the old one.
static int
dialer_new(tasq_chan *c, nng_dialer *dp)
{
	int rv;

	if ((rv = nng_dialer_create(dp, c->sock, c->url)) != 0) {
		return (rv);
	}
	if (c->tls != NULL &&
	    (rv = nng_dialer_set_ptr(*dp, NNG_OPT_TLS_CONFIG, c->tls)) != 0) {
		(void) nng_dialer_close(*dp);
		return (rv);
	}
	return (0);
}

static void
chan_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	tasq_chan *c = arg;

	(void) p;
	if (c->conn_cb != NULL) {
		c->conn_cb(c->conn_arg, ev == NNG_PIPE_EV_ADD_POST);
	}
	pthread_mutex_lock(&watch_mtx);
	if (c->watch_cb != NULL) {
		c->watch_cb(c->watch_arg, ev == NNG_PIPE_EV_ADD_POST);
	}
	pthread_mutex_unlock(&watch_mtx);
}

// What follows the socket's close (tasq_sock_close's fini).
static void
chan_fini(void *arg)
{
	tasq_chan *c = arg;

	if (c->tls != NULL) {
		nng_tls_config_free(c->tls);
	}
	nng_mtx_free(c->mtx);
	free(c->url);
	free(c);
}

// Whether a handshake's reason (tasq_tls_last_error) is the server's
// alert about our certificate: none given to a server that requires one
// ("certificate required"), or one it does not take ("bad certificate",
// "unsupported certificate" for one without client authentication,
// "unknown ca"), or its close that overtook the alert (lib/tls_ossl.c,
// refused_quietly). The client's own verdicts on the server's
// certificate say "verify failed" instead.
static bool
refused_cert(const char *why)
{
	return ((strstr(why, "alert") != NULL &&
	            (strstr(why, "certificate") != NULL ||
	                strstr(why, "unknown ca") != NULL)) ||
	    strstr(why, "refused the certificate") != NULL ||
	    strstr(why, "client certificate") != NULL);
}

int
tasq_chan_open(
    tasq_chan **cp, const tasq_chan_opts *o, char *err, size_t errlen)
{
	tasq_chan      *c;
	nng_tls_config *tls = NULL;
	nng_time        until;
	unsigned        gen;
	int             rv;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NNG_ENOMEM);
	}
	c->keys      = o->keys;
	c->sender_id = tasq_random64();
	if ((c->url = strdup(o->url)) == NULL || nng_mtx_alloc(&c->mtx) != 0) {
		free(c->url);
		free(c);
		snprintf(err, errlen, "out of memory");
		return (NNG_ENOMEM);
	}
	// Sequence numbers start at a random point so that a reply captured
	// from an earlier process can never match one of ours (replies are
	// bound to the request's seq).
	atomic_init(&c->seq, tasq_random64() >> 2);
	// Until the server's first reply, our own clock is our best guess.
	atomic_init(&c->offset_ms,
	    (int64_t) (tasq_clock_stamp_ms() - tasq_clock_mono_ms()));
	atomic_init(&c->server_id, 0);
	if ((rv = nng_req0_open(&c->sock)) != 0) {
		snprintf(
		    err, errlen, "cannot open socket: %s", nng_strerror(rv));
		nng_mtx_free(c->mtx);
		free(c->url);
		free(c);
		return (rv);
	}
	// Replies are bounded like requests; a peer cannot make us reserve
	// more than max_msg_bytes.
	(void) nng_socket_set_size(
	    c->sock, NNG_OPT_RECVMAXSZ, o->max_msg_bytes);
	// Application-level retries re-sign each attempt; an nng resend of
	// the same bytes would be rejected as a replay anyway.
	(void) nng_socket_set_ms(
	    c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	(void) nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 50);
	(void) nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 2000);
	if (o->conn_cb != NULL) {
		c->conn_cb  = o->conn_cb;
		c->conn_arg = o->conn_arg;
		(void) nng_pipe_notify(
		    c->sock, NNG_PIPE_EV_ADD_POST, chan_pipe_cb, c);
		(void) nng_pipe_notify(
		    c->sock, NNG_PIPE_EV_REM_POST, chan_pipe_cb, c);
	}
	if ((rv = nng_dialer_create(&c->dialer, c->sock, o->url)) != 0) {
		snprintf(err, errlen, "invalid server address %s: %s", o->url,
		    nng_strerror(rv));
		goto fail;
	}
	if (tasq_url_is_tls(o->url)) {
		const char *name = o->tls_server_name;
		nng_url    *u    = NULL;
		if (name == NULL && nng_url_parse(&u, o->url) == 0) {
			name = u->u_hostname;
		}
		rv = o->tls_insecure
		    ? tasq_tls_insecure_config(&tls, err, errlen)
		    : tasq_tls_client_config(o->tls_ca, name, o->tls_cert,
		          o->tls_key, &tls, err, errlen);
		if (u != NULL) {
			nng_url_free(u);
		}
		if (rv != 0) {
			goto fail;
		}
		rv = nng_dialer_set_ptr(c->dialer, NNG_OPT_TLS_CONFIG, tls);
		c->tls = tls;
		if (rv != 0) {
			snprintf(err, errlen, "TLS: %s", nng_strerror(rv));
			goto fail;
		}
	}
	// A blocking first dial reports TLS and address errors, which a
	// background dial would only retry silently. Each attempt is bounded
	// (dial_once): by what is left of connect_timeout_ms, else by
	// dial_timeout_ms (TASQ_CHAN_DIAL_MS by default).
	until = nng_clock() + o->connect_timeout_ms;
	for (;;) {
		uint32_t limit = o->dial_timeout_ms != 0 ? o->dial_timeout_ms
		                                         : TASQ_CHAN_DIAL_MS;
		bool     cut;
		if (o->connect_timeout_ms != 0) {
			nng_time now  = nng_clock();
			uint64_t left = now < until ? until - now : 0;
			if (o->dial_timeout_ms == 0 || left < limit) {
				limit = (uint32_t) left;
			}
		}
		gen = tasq_tls_last_error_gen();
		if (o->dial_uncut) {
			rv  = nng_dialer_start(c->dialer, 0);
			cut = false;
		} else {
			rv = dial_once(c, o->cancel, limit, &cut);
		}
		if (rv == 0) {
			break;
		}
		if (rv == NNG_ECANCELED) {
			snprintf(err, errlen, "cannot connect to %s: %s",
			    o->url, "the dial was cancelled");
			goto fail;
		}
		if (rv == NNG_ECONNSHUT && tasq_url_is_tls(o->url) &&
		    tasq_tls_last_error_gen() != gen) {
			// The server's close may have overtaken its alert
			// (lib/tls_ossl.c, note_refusal): the engine says.
			char why[256];
			tasq_tls_last_error(why, sizeof(why));
			if (refused_cert(why)) {
				rv = NNG_ECRYPTO;
			}
		}
		if (rv == NNG_ECRYPTO || rv == NNG_EPEERAUTH) {
			char why[256];
			tasq_tls_last_error(why, sizeof(why));
			snprintf(err, errlen,
			    "TLS handshake with %s failed: %s%s%s (%s)",
			    o->url, nng_strerror(rv), why[0] ? ": " : "", why,
			    refused_cert(why)
			        ? "the server refused our client certificate: "
			          "check --tls-cert, a certificate for client "
			          "authentication that the CA of its "
			          "--tls-client-ca signed"
			        : "check --tls-ca and the server "
			          "certificate's "
			          "names");
			goto fail;
		}
		if (rv == NNG_EADDRINVAL || rv == NNG_EINVAL ||
		    rv == NNG_ENOTSUP || nng_clock() >= until) {
			snprintf(err, errlen, "cannot connect to %s: %s",
			    o->url, nng_strerror(rv));
			goto fail;
		}
		if (cut) {
			// dial_once closed the dialer: the next attempt's.
			if ((rv = dialer_new(c, &c->dialer)) != 0) {
				snprintf(err, errlen,
				    "cannot connect to %s: %s", o->url,
				    nng_strerror(rv));
				goto fail;
			}
			continue;
		}
		nng_msleep(100);
	}
	*cp = c;
	return (0);
fail:
	(void) tasq_sock_close(c->sock, chan_fini, c);
	return (rv != 0 ? rv : TASQ_EINVALID_ARGUMENT);
}

void
tasq_chan_set_conn_cb(tasq_chan *c, void (*cb)(void *, bool), void *arg)
{
	bool reg;

	pthread_mutex_lock(&watch_mtx);
	c->watch_cb  = cb;
	c->watch_arg = arg;
	reg          = cb != NULL && !c->watching && c->conn_cb == NULL;
	c->watching |= reg;
	pthread_mutex_unlock(&watch_mtx);
	if (reg) {
		(void) nng_pipe_notify(
		    c->sock, NNG_PIPE_EV_ADD_POST, chan_pipe_cb, c);
		(void) nng_pipe_notify(
		    c->sock, NNG_PIPE_EV_REM_POST, chan_pipe_cb, c);
	}
}

void
tasq_chan_close(tasq_chan *c)
{
	if (c == NULL) {
		return;
	}
	// With a limit: nng 1.5.2 can leave a TLS close waiting forever
	// (lib/sockclose.h). A chan given up stays allocated, for its
	// socket's callbacks, and is freed if the close ever ends.
	(void) tasq_sock_close(c->sock, chan_fini, c);
}

bool
tasq_chan_redial(tasq_chan *c)
{
	nng_dialer d;
	nng_time   now = nng_clock();

	nng_mtx_lock(c->mtx);
	if (now < c->last_redial + 2000) {
		nng_mtx_unlock(c->mtx);
		return (false);
	}
	c->last_redial = now;
	if (dialer_new(c, &d) != 0) {
		nng_mtx_unlock(c->mtx);
		return (false);
	}
	if (nng_dialer_start(d, NNG_FLAG_NONBLOCK) != 0) {
		(void) nng_dialer_close(d);
		nng_mtx_unlock(c->mtx);
		return (false);
	}
	// The new dialer is running; only now let the old one go.
	(void) nng_dialer_close(c->dialer);
	c->dialer = d;
	nng_mtx_unlock(c->mtx);
	return (true);
}

uint64_t
tasq_chan_sender_id(const tasq_chan *c)
{
	return (c->sender_id);
}

uint64_t
tasq_chan_server_id(tasq_chan *c)
{
	return (atomic_load(&c->server_id));
}

// A call in flight: its request is sent, its reply not yet read.
struct tasq_call {
	tasq_chan      *c;
	const tasq_req *req;
	uint32_t        timeout_ms;
	nng_ctx         ctx;
	nng_aio        *aio;
	uint64_t        seq;
};

static int
neterr(int rv, uint32_t timeout_ms, char *err, size_t errlen)
{
	if (rv == NNG_ETIMEDOUT) {
		snprintf(err, errlen, "no reply from server within %u ms",
		    (unsigned) timeout_ms);
		return (TASQ_EDEADLINE_EXCEEDED);
	}
	snprintf(err, errlen, "%s", nng_strerror(rv));
	return (rv);
}

static void
call_free(tasq_call *call)
{
	nng_ctx_close(call->ctx);
	nng_aio_free(call->aio);
	free(call);
}

// The server's stamp clock as far as we know it (see offset_ms).
static uint64_t
server_now_ms(tasq_chan *c)
{
	return (tasq_clock_mono_ms() + (uint64_t) atomic_load(&c->offset_ms));
}

int
tasq_chan_seal(tasq_chan *c, const tasq_req *req, uint64_t sender_id,
    uint64_t seq, uint32_t deadline_ms, nng_msg **msgp)
{
	tasq_env_hdr h;
	nng_msg     *m;
	int          rv;

	if ((rv = tasq_wire_encode_req(req, &m)) != 0) {
		return (rv);
	}
	memset(&h, 0, sizeof(h));
	h.kind         = TASQ_ENV_REQUEST;
	h.sender_id    = sender_id;
	h.seq          = seq;
	h.timestamp_ms = server_now_ms(c);
	h.method       = (uint16_t) req->method;
	h.deadline_ms  = deadline_ms;
	if ((rv = tasq_auth_seal(c->keys, &h, m)) != 0) {
		nng_msg_free(m);
		return (rv);
	}
	*msgp = m;
	return (0);
}

// Signs and sends the request, then starts receiving its reply.
static int
send_req(tasq_call *call, char *err, size_t errlen)
{
	tasq_chan *c   = call->c;
	uint64_t   seq = atomic_fetch_add(&c->seq, 1) + 1;
	nng_msg   *m;
	int        rv;

	if ((rv = tasq_chan_seal(c, call->req, c->sender_id, seq,
	         call->timeout_ms, &m)) != 0) {
		snprintf(err, errlen, "cannot encode or sign request: %s",
		    tasq_strerror(rv));
		return (rv);
	}
	call->seq = seq;
	nng_aio_set_timeout(call->aio, (nng_duration) call->timeout_ms);
	nng_aio_set_msg(call->aio, m);
	nng_ctx_send(call->ctx, call->aio);
	nng_aio_wait(call->aio);
	if ((rv = nng_aio_result(call->aio)) != 0) {
		nng_msg_free(m); // a failed send leaves the message with us
		return (neterr(rv, call->timeout_ms, err, errlen));
	}
	nng_ctx_recv(call->ctx, call->aio);
	return (0);
}

// Waits for the reply of the request sent last.
static int
recv_rep(tasq_call *call, nng_msg **replyp, char *err, size_t errlen)
{
	int rv;

	nng_aio_wait(call->aio);
	if ((rv = nng_aio_result(call->aio)) != 0) {
		return (neterr(rv, call->timeout_ms, err, errlen));
	}
	*replyp = nng_aio_get_msg(call->aio);
	return (0);
}

int
tasq_chan_call_start(tasq_chan *c, const tasq_req *req, uint32_t timeout_ms,
    tasq_call **callp, char *err, size_t errlen)
{
	tasq_call *call;
	int        rv;

	err[0] = '\0';
	if ((call = calloc(1, sizeof(*call))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NNG_ENOMEM);
	}
	call->c          = c;
	call->req        = req;
	call->timeout_ms = timeout_ms;
	if ((rv = nng_aio_alloc(&call->aio, NULL, NULL)) != 0) {
		free(call);
		snprintf(err, errlen, "%s", nng_strerror(rv));
		return (rv);
	}
	if ((rv = nng_ctx_open(&call->ctx, c->sock)) != 0) {
		nng_aio_free(call->aio);
		free(call);
		snprintf(err, errlen, "%s", nng_strerror(rv));
		return (rv);
	}
	if ((rv = send_req(call, err, errlen)) != 0) {
		call_free(call);
		return (rv);
	}
	*callp = call;
	return (0);
}

int
tasq_chan_call_finish(tasq_call *call, tasq_rep *rep, char *err, size_t errlen)
{
	tasq_chan      *c   = call->c;
	const tasq_req *req = call->req;
	nng_msg        *m   = NULL;
	tasq_env_hdr    h;
	const uint8_t  *body;
	const char     *why = NULL;
	int             rv  = 0;

	// A request whose stamp or seq the server refused (signed) is sent
	// again as a new one: new seq, stamped with the server's time.
	for (int tries = 0; tries < 3; tries++) {
		if (m != NULL) {
			nng_msg_free(m);
			m = NULL;
		}
		if (tries > 0 && (rv = send_req(call, err, errlen)) != 0) {
			break;
		}
		if ((rv = recv_rep(call, &m, err, errlen)) != 0) {
			break;
		}
		rv = tasq_auth_open(
		    c->keys, nng_msg_body(m), nng_msg_len(m), &h, &body);
		if (rv == TASQ_EUNAUTHENTICATED && h.key_id == 0 &&
		    h.kind == TASQ_ENV_REPLY && h.reply_to == call->seq) {
			// An unsigned error: the server could not verify us.
			int  code = 0;
			char text[200];
			if (tasq_wire_decode_status(
			        body = (uint8_t *) nng_msg_body(m) +
			            TASQ_ENV_HDR_LEN,
			        h.body_len, &code, text, sizeof(text)) == 0 &&
			    code != 0) {
				snprintf(err, errlen,
				    "server refused the request: %s: %s",
				    tasq_err_name(code), text);
				rv = tasq_err_from_code(code);
			} else {
				snprintf(err, errlen,
				    "reply failed authentication");
			}
			break;
		}
		if (rv != 0) {
			snprintf(err, errlen,
			    "reply failed authentication (wrong key?)");
			break;
		}
		if (h.kind != TASQ_ENV_REPLY || h.reply_to != call->seq ||
		    h.method != req->method) {
			snprintf(err, errlen, "reply does not match request");
			rv = TASQ_EUNAUTHENTICATED;
			break;
		}
		// Signed by the server and bound to our request: its stamp is
		// the server's time now, or a little earlier (the reply took a
		// while to reach us), so that our stamps never run ahead of
		// it.
		atomic_store(&c->offset_ms,
		    (int64_t) (h.timestamp_ms - tasq_clock_mono_ms()));
		atomic_store(&c->server_id, h.sender_id);
		if (h.status != 0) {
			int  code      = 0;
			char text[200] = "";
			(void) tasq_wire_decode_status(
			    body, h.body_len, &code, text, sizeof(text));
			rv = tasq_err_from_code(h.status);
			snprintf(err, errlen, "%s: %s",
			    tasq_err_name(h.status), text);
			if (rv == TASQ_EUNAUTHENTICATED) {
				// A signed refusal of our stamp or seq: stale
				// (the server restarted, or our clock is far
				// off) or replayed (nng re-sent the bytes). A
				// new request with the time just learned cures
				// all of these; rv stays if this was the last.
				continue;
			}
			break;
		}
		rv = tasq_wire_decode_rep(
		    req->method, body, h.body_len, rep, &why);
		if (rv != 0) {
			snprintf(err, errlen, "malformed reply: %s", why);
		}
		break;
	}
	if (m != NULL) {
		nng_msg_free(m);
	}
	call_free(call);
	return (rv);
}

int
tasq_chan_call(tasq_chan *c, const tasq_req *req, uint32_t timeout_ms,
    tasq_rep *rep, char *err, size_t errlen)
{
	tasq_call *call;
	int        rv;

	if ((rv = tasq_chan_call_start(
	         c, req, timeout_ms, &call, err, errlen)) != 0) {
		return (rv);
	}
	return (tasq_chan_call_finish(call, rep, err, errlen));
}
