#include "heartbeat.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/protocol/pipeline0/pull.h>
#include <nng/supplemental/util/platform.h>

#include "clock.h"
#include "conn_end.h"
#include "err.h"
#include "idmap.h"
#include "log.h"
#include "sockclose.h"

struct tasq_heartbeat {
	nng_socket           sock;
	bool                 sock_open;
	nng_listener         listener;
	nng_aio             *aio;
	tasq_broker         *broker;
	tasq_stats          *stats;
	tasq_replay         *replay;
	const tasq_keyring  *keys;
	char                *url; // with the bound port
	uint32_t             max_conns;
	nng_mtx             *pmtx;  // guards pipes
	nng_cv              *pcv;   // with pmtx: a connection ended
	tasq_idmap           pipes; // admitted connections (id -> h)
	atomic_bool          closing;
	atomic_bool          quiesced; // the receive loop has ended
	atomic_uint_fast64_t last_warn_ms;
	bool                 stopped;
	bool                 stuck; // its close was given up (h leaks)
	// The broker's answer for ids it does not know; only the receive
	// callback uses it (one at a time).
	uint64_t unknown[TASQ_WIRE_MAX_BATCHES];
};

int
tasq_heartbeat_default_url(const char *listen, char *buf, size_t len)
{
	const char   *colon, *end;
	char         *stop;
	unsigned long port;
	int           n;

	if (strncmp(listen, "ipc://", 6) == 0) {
		n = snprintf(buf, len, "%s.hb", listen);
		return (
		    n < 0 || (size_t) n >= len ? TASQ_EINVALID_ARGUMENT : 0);
	}
	// The port is what follows the last ':' (after any "[v6]" host).
	if ((colon = strrchr(listen, ':')) == NULL ||
	    (end = strchr(listen, ']')) > colon || colon[1] == '\0' ||
	    strstr(listen, "://") == NULL ||
	    colon < strstr(listen, "://") + 3) {
		return (TASQ_EINVALID_ARGUMENT);
	}
	port = strtoul(colon + 1, &stop, 10);
	if (*stop != '\0' || port >= 65535 || colon[1] < '0' ||
	    colon[1] > '9') {
		return (TASQ_EINVALID_ARGUMENT);
	}
	n = snprintf(buf, len, "%.*s:%lu", (int) (colon - listen), listen,
	    port == 0 ? 0 : port + 1);
	return (n < 0 || (size_t) n >= len ? TASQ_EINVALID_ARGUMENT : 0);
}

int
tasq_heartbeat_check(const tasq_keyring *keys, tasq_replay *replay,
    const uint8_t *buf, size_t len, uint64_t now_ms, tasq_req *req,
    int *counter, const char **why)
{
	tasq_env_hdr   h;
	const uint8_t *body;
	int            rv;

	*why = NULL;
	if ((rv = tasq_auth_open(keys, buf, len, &h, &body)) != 0) {
		if (rv == TASQ_EINVALID_ARGUMENT) {
			*counter = TASQ_CTR_MALFORMED;
			*why     = "not a tasq envelope";
		} else {
			*counter = TASQ_CTR_AUTH_FAILURES;
			*why     = "authentication failed (wrong key?)";
			rv       = TASQ_EUNAUTHENTICATED;
		}
		return (rv);
	}
	if (h.kind != TASQ_ENV_REQUEST || h.method != TASQ_M_EXTEND) {
		*counter = TASQ_CTR_BAD_REQUESTS;
		*why     = "not an Extend request";
		return (TASQ_EINVALID_ARGUMENT);
	}
	// Only now, with the tag verified, may the sender take a place in
	// the replay table.
	if ((rv = tasq_replay_check(replay, h.sender_id, h.seq, h.timestamp_ms,
	         now_ms, why)) != 0) {
		*counter = rv == TASQ_ERESOURCE_EXHAUSTED
		    ? TASQ_CTR_RESOURCE_EXHAUSTED
		    : TASQ_CTR_REPLAYS;
		return (rv);
	}
	if ((rv = tasq_wire_decode_req(
	         TASQ_M_EXTEND, body, h.body_len, req, why)) != 0) {
		*counter = rv == TASQ_ERESOURCE_EXHAUSTED
		    ? TASQ_CTR_RESOURCE_EXHAUSTED
		    : TASQ_CTR_BAD_REQUESTS;
		return (rv == TASQ_ERESOURCE_EXHAUSTED
		        ? rv
		        : TASQ_EINVALID_ARGUMENT);
	}
	return (0);
}

// Peer-triggered warnings at most once a second (a flood of garbage must
// not flood the log).
static bool
warn_ok(tasq_heartbeat *h)
{
	uint64_t now  = nng_clock();
	uint64_t last = atomic_load(&h->last_warn_ms);

	return (now >= last + 1000 &&
	    atomic_compare_exchange_strong(&h->last_warn_ms, &last, now));
}

static void
handle(tasq_heartbeat *h, nng_msg *m)
{
	tasq_req    req;
	const char *why;
	int         ctr = 0, rv;
	size_t      nunknown;
	uint32_t    lease_ms;

	rv = tasq_heartbeat_check(h->keys, h->replay, nng_msg_body(m),
	    nng_msg_len(m), tasq_clock_stamp_ms(), &req, &ctr, &why);
	if (rv != 0) {
		tasq_stats_add(h->stats, ctr, 1);
		tasq_stats_add(h->stats, TASQ_CTR_HEARTBEATS_REFUSED, 1);
		if (warn_ok(h)) {
			tasq_warn("refused a heartbeat from connection %u: %s",
			    (unsigned) nng_pipe_id(nng_msg_get_pipe(m)),
			    why != NULL ? why : tasq_strerror(rv));
		}
		return;
	}
	tasq_broker_extend(h->broker, req.u.extend.worker_id, req.u.extend.n,
	    req.u.extend.lease_ids, tasq_clock_mono_ms(), h->unknown,
	    &nunknown, &lease_ms);
	tasq_stats_add(h->stats, TASQ_CTR_HEARTBEATS_RECEIVED, 1);
	if (nunknown > 0) {
		// Finished or expired meanwhile: normal, the worker learns it
		// when it hands the results in.
		tasq_debug("heartbeat: %zu of %zu lease(s) unknown", nunknown,
		    req.u.extend.n);
	}
	tasq_wire_req_fini(&req);
}

static void
recv_cb(void *arg)
{
	tasq_heartbeat *h  = arg;
	int             rv = nng_aio_result(h->aio);

	if (rv == 0) {
		nng_msg *m = nng_aio_get_msg(h->aio);
		nng_aio_set_msg(h->aio, NULL);
		if (!atomic_load(&h->closing)) {
			handle(h, m);
		}
		nng_msg_free(m);
	} else if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
		return;
	}
	// While closing it goes on receiving, and drops what arrives, so
	// that every connection has a read outstanding and sees its end
	// (tasq_heartbeat_stop).
	if (!atomic_load(&h->quiesced)) {
		nng_recv_aio(h->sock, h->aio);
	}
}

// Admission at ADD_PRE: at most max_conns connections, recorded before
// the peer can send a byte. nng reports REM_POST for every pipe it
// reported at ADD_PRE, refused ones included: only recorded ones count.
static void
pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	tasq_heartbeat *h  = arg;
	uint64_t        id = (uint64_t) nng_pipe_id(p);
	bool            in = false;
	size_t          n;

	if (ev == NNG_PIPE_EV_ADD_PRE) {
		nng_mtx_lock(h->pmtx);
		n = h->pipes.count;
		if (!atomic_load(&h->closing) && n < h->max_conns) {
			in = tasq_idmap_put(&h->pipes, id, h) == 0;
		}
		nng_mtx_unlock(h->pmtx);
		if (in) {
			return;
		}
		if (!atomic_load(&h->closing) && n >= h->max_conns) {
			tasq_stats_add(h->stats, TASQ_CTR_REFUSED, 1);
			if (warn_ok(h)) {
				tasq_warn("heartbeat port: refusing a "
				          "connection (%zu open)",
				    n);
			}
		}
		nng_pipe_close(p);
		return;
	}
	if (ev == NNG_PIPE_EV_REM_POST) {
		nng_mtx_lock(h->pmtx);
		tasq_idmap_del(&h->pipes, id);
		nng_cv_wake(h->pcv);
		nng_mtx_unlock(h->pmtx);
	}
}

int
tasq_heartbeat_start(tasq_heartbeat **hp, const tasq_heartbeat_conf *conf,
    tasq_broker *b, tasq_replay *replay, char *err, size_t errlen)
{
	tasq_heartbeat *h;
	int             rv;
	int             port = 0;

	if ((h = calloc(1, sizeof(*h))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NNG_ENOMEM);
	}
	h->broker    = b;
	h->stats     = conf->stats;
	h->replay    = replay;
	h->keys      = conf->keys;
	h->max_conns = conf->max_conns > 0 ? conf->max_conns : 1024;
	tasq_idmap_init(&h->pipes);
	atomic_init(&h->closing, false);
	atomic_init(&h->quiesced, false);
	atomic_init(&h->last_warn_ms, 0);
	if ((rv = nng_mtx_alloc(&h->pmtx)) != 0 ||
	    (rv = nng_cv_alloc(&h->pcv, h->pmtx)) != 0 ||
	    (rv = nng_aio_alloc(&h->aio, recv_cb, h)) != 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if ((rv = nng_pull0_open(&h->sock)) != 0) {
		snprintf(err, errlen, "cannot open the heartbeat socket: %s",
		    nng_strerror(rv));
		goto fail;
	}
	h->sock_open = true;
	// Nothing larger than a heartbeat is read, and only a few wait.
	if ((rv = nng_socket_set_size(
	         h->sock, NNG_OPT_RECVMAXSZ, TASQ_HEARTBEAT_MAX_BYTES)) != 0 ||
	    (rv = nng_socket_set_int(
	         h->sock, NNG_OPT_RECVBUF, TASQ_HEARTBEAT_RECVBUF)) != 0 ||
	    (rv = nng_pipe_notify(h->sock, NNG_PIPE_EV_ADD_PRE, pipe_cb, h)) !=
	        0 ||
	    (rv = nng_pipe_notify(
	         h->sock, NNG_PIPE_EV_REM_POST, pipe_cb, h)) != 0) {
		snprintf(err, errlen,
		    "cannot configure the heartbeat socket: %s",
		    nng_strerror(rv));
		goto fail;
	}
	if ((rv = nng_listener_create(&h->listener, h->sock, conf->url)) !=
	    0) {
		snprintf(err, errlen, "invalid heartbeat address %s: %s",
		    conf->url, nng_strerror(rv));
		goto fail;
	}
	if (conf->tls != NULL &&
	    (rv = nng_listener_set_ptr(
	         h->listener, NNG_OPT_TLS_CONFIG, conf->tls)) != 0) {
		snprintf(err, errlen, "heartbeat TLS: %s", nng_strerror(rv));
		goto fail;
	}
	if ((rv = nng_listener_start(h->listener, 0)) != 0) {
		snprintf(err, errlen,
		    "cannot listen for heartbeats on %s: %s "
		    "(--heartbeat-listen URL or none)",
		    conf->url, nng_strerror(rv));
		goto fail;
	}
	(void) nng_listener_get_int(
	    h->listener, NNG_OPT_TCP_BOUND_PORT, &port);
	// The address with the port really bound in place of port 0.
	{
		size_t ulen = strlen(conf->url);
		if ((h->url = malloc(ulen + 8)) == NULL) {
			rv = NNG_ENOMEM;
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		if (port > 0 && ulen > 2 &&
		    strcmp(conf->url + ulen - 2, ":0") == 0) {
			snprintf(h->url, ulen + 8, "%.*s:%d", (int) (ulen - 2),
			    conf->url, port);
		} else {
			snprintf(h->url, ulen + 8, "%s", conf->url);
		}
	}
	nng_recv_aio(h->sock, h->aio);
	*hp = h;
	return (0);
fail:
	tasq_heartbeat_free(h);
	return (rv);
}

uint32_t
tasq_heartbeat_bound_port(tasq_heartbeat *h)
{
	int port = 0;

	if (h == NULL ||
	    nng_listener_get_int(h->listener, NNG_OPT_TCP_BOUND_PORT, &port) !=
	        0) {
		return (0);
	}
	return ((uint32_t) port);
}

const char *
tasq_heartbeat_url(tasq_heartbeat *h)
{
	return (h->url);
}

void
tasq_heartbeat_close(tasq_heartbeat *h)
{
	if (h == NULL) {
		return;
	}
	atomic_store(&h->closing, true);
}

// How long the drain over TLS waits for the next connection to end.
#define HB_QUIET_MS 500

// Ends the connections from below and waits, at most until `until`, for
// nng to have closed them all: the drain of server/rpc.c, for the same
// nng 1.5.2 defect. nng_close closes every connection from above, and a
// connection whose transport has just read a frame header when that
// happens never finishes its receive (the next read is refused without
// a completion): PULL's pipe close then waits for it in nng's reaper,
// and nng_close with it, forever. A connection whose socket is shut down
// for reading fails its read instead, and nng closes it from that
// receive callback, which has no such window. The receive loop is still
// running (recv_cb), so that a pipe PULL had parked with a message reads
// again and sees its end too.
static void
drain(tasq_heartbeat *h, nng_time until)
{
	const char *path = NULL;
	bool        tls  = strncmp(h->url, "tls+", 4) == 0;
	nng_time    quiet;
	size_t      left;
	int         n;

	if (strncmp(h->url, "ipc://", 6) == 0) {
		path = h->url + 6;
	}
	n     = tasq_conn_end((int) tasq_heartbeat_bound_port(h), path);
	quiet = nng_clock() + HB_QUIET_MS;
	nng_mtx_lock(h->pmtx);
	left = h->pipes.count;
	while (h->pipes.count > 0) {
		// Over TLS, as in rpc.c, a connection can lose its socket's
		// end in nng 1.5.2: once none has ended for HB_QUIET_MS,
		// nothing arrives on the rest.
		nng_time t  = tls && quiet < until ? quiet : until;
		bool     to = nng_cv_until(h->pcv, t) == NNG_ETIMEDOUT;
		if (h->pipes.count < left) {
			left  = h->pipes.count;
			quiet = nng_clock() + HB_QUIET_MS;
		} else if (to) {
			break;
		}
	}
	if (h->pipes.count > 0) {
		tasq_debug("shutdown: %zu of %d heartbeat connection(s) "
		           "still open",
		    h->pipes.count, n);
	}
	nng_mtx_unlock(h->pmtx);
}

// A heartbeat layer whose socket would not close: kept reachable for the
// stuck thread (and so that LeakSanitizer does not report it).
static tasq_heartbeat *hb_abandoned;

bool
tasq_heartbeat_abandoned(void)
{
	return (hb_abandoned != NULL);
}

int
tasq_heartbeat_stop(tasq_heartbeat *h)
{
	nng_time until;

	if (h == NULL || h->stopped) {
		return (h != NULL && h->stuck ? TASQ_EDEADLINE_EXCEEDED : 0);
	}
	tasq_heartbeat_close(h);
	h->stopped = true;
	until      = nng_clock() + tasq_sock_close_ms(TASQ_HEARTBEAT_CLOSE_MS);
	if (h->sock_open && h->url != NULL) {
		drain(h, until);
	}
	atomic_store(&h->quiesced, true);
	if (h->aio != NULL) {
		nng_aio_stop(h->aio); // waits for the callback
	}
	if (!h->sock_open) {
		return (0);
	}
	h->sock_open = false;
	if (!tasq_sock_close(h->sock, NULL, NULL)) {
		h->stuck = true;
		tasq_warn("shutdown: the heartbeat socket did not close "
		          "(nng 1.5.2); leaving it");
		hb_abandoned = h;
		return (TASQ_EDEADLINE_EXCEEDED);
	}
	return (0);
}

void
tasq_heartbeat_free(tasq_heartbeat *h)
{
	if (h == NULL) {
		return;
	}
	(void) tasq_heartbeat_stop(h);
	if (h->stuck) {
		return; // nng may still call into h
	}
	if (h->aio != NULL) {
		nng_aio_free(h->aio);
	}
	if (h->pcv != NULL) {
		nng_cv_free(h->pcv);
	}
	if (h->pmtx != NULL) {
		nng_mtx_free(h->pmtx);
	}
	tasq_idmap_fini(&h->pipes);
	free(h->url);
	free(h);
}
