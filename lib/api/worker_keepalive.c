#include "worker_keepalive.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/supplemental/util/platform.h>

#include "err.h"
#include "log.h"
#include "rand.h"
#include "sockclose.h"
#include "tls.h"
#include "wire.h"

// How long a failed Health call waits before the next one, and one that
// named no heartbeat port (the server may be starting: it sets the port
// once its RPC port serves; or it runs without one).
#define DISCOVER_RETRY_MS 5000
#define DISCOVER_NONE_MS 30000

struct tasq_keepalive {
	tasq_keepalive_conf conf;
	bool                disabled; // --heartbeat none
	bool                fixed;    // --heartbeat URL
	bool                known;    // the port is known for server_id
	uint64_t            server_id;
	nng_time            next_discover;
	char                url[512]; // "" while there is no socket
	nng_socket          sock;
	nng_tls_config     *tls;
	atomic_int          npipes; // connections of sock (pipe callbacks)
	atomic_bool         lost;   // a connection of sock ended
	uint64_t            sender_id;
	uint64_t            seq;
	uint32_t            drop_every; // test hook (TASQ_TEST_HB_DROP)
	uint64_t            beats;
};

int
tasq_keepalive_url(const char *server, uint32_t port, char *buf, size_t len)
{
	const char *colon, *host = strstr(server, "://");
	int         n;

	if (host == NULL || strncmp(server, "ipc://", 6) == 0 || port == 0 ||
	    port > 65535) {
		return (TASQ_EINVALID_ARGUMENT);
	}
	host += 3;
	// The port follows the last ':' that is not inside "[v6]".
	colon = strrchr(host, ':');
	if (colon != NULL && strchr(colon, ']') != NULL) {
		colon = NULL;
	}
	if (colon == NULL) {
		colon = host + strlen(host);
	}
	if (colon == host) {
		return (TASQ_EINVALID_ARGUMENT);
	}
	n = snprintf(buf, len, "%.*s:%u", (int) (colon - server), server,
	    (unsigned) port);
	return (n < 0 || (size_t) n >= len ? TASQ_EINVALID_ARGUMENT : 0);
}

static void
pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	tasq_keepalive *k = arg;

	(void) p;
	if (ev == NNG_PIPE_EV_ADD_PRE) {
		atomic_fetch_add(&k->npipes, 1);
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		atomic_fetch_sub(&k->npipes, 1);
		atomic_store(&k->lost, true);
	}
}

static void
sock_close(tasq_keepalive *k)
{
	bool closed = true;

	if (k->url[0] != '\0') {
		// Returns once every pipe callback of sock has run, or gives
		// up (lib/sockclose.h): then its TLS configuration stays
		// with it.
		closed    = tasq_sock_close(k->sock, NULL, NULL);
		k->url[0] = '\0';
		atomic_store(&k->npipes, 0);
		atomic_store(&k->lost, false);
	}
	if (k->tls != NULL) {
		if (closed) {
			nng_tls_config_free(k->tls);
		}
		k->tls = NULL;
	}
}

// Opens the PUSH socket and starts dialling url in the background.
static int
sock_open(tasq_keepalive *k, const char *url, char *err, size_t errlen)
{
	const tasq_keepalive_conf *c = &k->conf;
	nng_dialer                 d;
	int                        rv;

	sock_close(k);
	if ((rv = nng_push0_open(&k->sock)) != 0) {
		snprintf(
		    err, errlen, "heartbeat socket: %s", nng_strerror(rv));
		return (rv);
	}
	// A beat that cannot go at once is not queued: the RPC takes it.
	(void) nng_socket_set_int(k->sock, NNG_OPT_SENDBUF, 4);
	(void) nng_socket_set_ms(k->sock, NNG_OPT_RECONNMINT, 50);
	(void) nng_socket_set_ms(k->sock, NNG_OPT_RECONNMAXT, 2000);
	(void) nng_pipe_notify(k->sock, NNG_PIPE_EV_ADD_PRE, pipe_cb, k);
	(void) nng_pipe_notify(k->sock, NNG_PIPE_EV_REM_POST, pipe_cb, k);
	if ((rv = nng_dialer_create(&d, k->sock, url)) != 0) {
		snprintf(err, errlen, "invalid heartbeat address %s: %s", url,
		    nng_strerror(rv));
		goto fail;
	}
	if (tasq_url_is_tls(url)) {
		const char *name = c->tls_server_name;
		nng_url    *u    = NULL;
		if (name == NULL && nng_url_parse(&u, url) == 0) {
			name = u->u_hostname;
		}
		rv = tasq_tls_client_config(c->tls_ca, name, c->tls_cert,
		    c->tls_key, &k->tls, err, errlen);
		if (u != NULL) {
			nng_url_free(u);
		}
		if (rv != 0 ||
		    (rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, k->tls)) !=
		        0) {
			goto fail;
		}
	}
	if ((rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK)) != 0) {
		snprintf(
		    err, errlen, "cannot dial %s: %s", url, nng_strerror(rv));
		goto fail;
	}
	snprintf(k->url, sizeof(k->url), "%s", url);
	return (0);
fail:
	if (tasq_sock_close(k->sock, NULL, NULL) && k->tls != NULL) {
		nng_tls_config_free(k->tls);
	}
	k->tls = NULL;
	return (rv != 0 ? rv : TASQ_EINVALID_ARGUMENT);
}

// Asks Health for the heartbeat port (again when the server changed) and
// (re)dials it; port 0 or a failure leaves the RPC in use.
static void
discover(tasq_keepalive *k)
{
	tasq_req req;
	tasq_rep rep;
	char     err[256], url[512];
	uint32_t port;
	int      rv;

	if (k->known && tasq_chan_server_id(k->conf.chan) == k->server_id) {
		return;
	}
	if (nng_clock() < k->next_discover) {
		return;
	}
	memset(&req, 0, sizeof(req));
	req.method = TASQ_M_HEALTH;
	if ((rv = tasq_chan_call(k->conf.chan, &req, k->conf.timeout_ms, &rep,
	         err, sizeof(err))) != 0) {
		k->next_discover = nng_clock() + DISCOVER_RETRY_MS;
		tasq_debug(
		    "heartbeat: no health reply (%s); using Extend", err);
		return;
	}
	port = rep.u.health.heartbeat_port;
	tasq_wire_rep_fini(&rep);
	k->known     = true;
	k->server_id = tasq_chan_server_id(k->conf.chan);
	if (port == 0 ||
	    tasq_keepalive_url(k->conf.server, port, url, sizeof(url)) != 0) {
		if (k->url[0] != '\0' || k->next_discover == 0) {
			tasq_info("heartbeats: the server has no heartbeat "
			          "port%s; leases are extended by RPC",
			    port != 0 ? " reachable from this URL" : "");
		}
		sock_close(k);
		k->known         = false;
		k->next_discover = nng_clock() + DISCOVER_NONE_MS;
		return;
	}
	if (strcmp(url, k->url) == 0) {
		return;
	}
	if (sock_open(k, url, err, sizeof(err)) != 0) {
		tasq_warn("heartbeats: %s; leases are extended by RPC", err);
		return;
	}
	tasq_info("heartbeats to %s", url);
}

int
tasq_keepalive_open(tasq_keepalive **kp, const tasq_keepalive_conf *conf,
    char *err, size_t errlen)
{
	tasq_keepalive *k;
	const char     *drop = getenv("TASQ_TEST_HB_DROP");
	int             rv;

	if ((k = calloc(1, sizeof(*k))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NNG_ENOMEM);
	}
	k->conf = *conf;
	atomic_init(&k->npipes, 0);
	atomic_init(&k->lost, false);
	k->sender_id = tasq_random64();
	// A random start, as the RPC channel's: a heartbeat captured from an
	// earlier process can never be fresh.
	k->seq = tasq_random64() >> 2;
	if (drop != NULL && strtoul(drop, NULL, 10) >= 2) {
		k->drop_every = (uint32_t) strtoul(drop, NULL, 10);
		tasq_warn(
		    "test hook: dropping one heartbeat in %u", k->drop_every);
	}
	if (conf->heartbeat != NULL && strcmp(conf->heartbeat, "none") == 0) {
		k->disabled = true;
	} else if (conf->heartbeat != NULL) {
		k->fixed = true;
		if ((rv = sock_open(k, conf->heartbeat, err, errlen)) != 0) {
			free(k);
			return (TASQ_EINVALID_ARGUMENT);
		}
		tasq_info("heartbeats to %s", conf->heartbeat);
	} else {
		discover(k);
	}
	*kp = k;
	return (0);
}

uint32_t
tasq_keepalive_period_ms(tasq_keepalive *k, uint32_t lease_ms)
{
	return (k->url[0] != '\0' ? lease_ms / 4 : lease_ms / 3);
}

// Pushes one heartbeat; false when the socket did not take it.
static bool
push(tasq_keepalive *k, const uint64_t *ids, size_t n)
{
	tasq_req req;
	nng_msg *m;
	int      rv;

	if (k->url[0] == '\0') {
		return (false);
	}
	if (atomic_load(&k->lost)) {
		// nng 1.5.2's PUSH can keep a connection that ended in its
		// list of ready ones, if the end raced with a send completing,
		// and the next send then uses it after it was freed (upstream
		// issue 1653, fixed in 1.6.0). A socket that lost a connection
		// is replaced before anything is sent on it again; this beat
		// goes by RPC.
		char url[sizeof(k->url)], err[256];
		snprintf(url, sizeof(url), "%s", k->url);
		if (sock_open(k, url, err, sizeof(err)) != 0) {
			tasq_warn(
			    "heartbeats: %s; leases are extended by RPC", err);
		}
		return (false);
	}
	if (atomic_load(&k->npipes) <= 0) {
		return (false);
	}
	memset(&req, 0, sizeof(req));
	req.method             = TASQ_M_EXTEND;
	req.u.extend.worker_id = k->conf.worker_id;
	req.u.extend.n         = n;
	req.u.extend.lease_ids = (uint64_t *) ids;
	if ((rv = tasq_chan_seal(
	         k->conf.chan, &req, k->sender_id, ++k->seq, 0, &m)) != 0) {
		tasq_debug("heartbeat: cannot sign: %s", tasq_strerror(rv));
		return (false);
	}
	k->beats++;
	if (k->drop_every > 0 && k->beats % k->drop_every == 0) {
		// The test hook: lost on the way, as far as anyone can tell.
		tasq_debug("test hook: dropped heartbeat %llu",
		    (unsigned long long) k->beats);
		nng_msg_free(m);
		return (true);
	}
	// Never blocks: a full or lost connection gives the beat to the
	// RPC, which has a reply to tell it went through.
	if ((rv = nng_sendmsg(k->sock, m, NNG_FLAG_NONBLOCK)) != 0) {
		nng_msg_free(m);
		tasq_debug("heartbeat not sent: %s", nng_strerror(rv));
		return (false);
	}
	return (true);
}

bool
tasq_keepalive_beat(tasq_keepalive *k, const uint64_t *ids, size_t n)
{
	return (tasq_keepalive_beat_ask(k, ids, n, false, NULL, NULL));
}

bool
tasq_keepalive_beat_ask(tasq_keepalive *k, const uint64_t *ids, size_t n,
    bool ask, uint64_t *cancelled, size_t *ncancelled)
{
	tasq_req req;
	tasq_rep rep;
	char     err[256];

	if (ncancelled != NULL) {
		*ncancelled = 0;
	}
	if (n == 0) {
		return (false);
	}
	if (n > TASQ_KEEPALIVE_MAX_IDS) {
		n = TASQ_KEEPALIVE_MAX_IDS;
	}
	if (!k->disabled && !k->fixed) {
		discover(k);
	}
	bool pushed = !k->disabled && push(k, ids, n);
	if (pushed && !ask) {
		return (true);
	}
	memset(&req, 0, sizeof(req));
	req.method             = TASQ_M_EXTEND;
	req.u.extend.worker_id = k->conf.worker_id;
	req.u.extend.n         = n;
	req.u.extend.lease_ids = (uint64_t *) ids;
	if (tasq_chan_call(k->conf.chan, &req, k->conf.timeout_ms, &rep, err,
	        sizeof(err)) == 0) {
		if (ncancelled != NULL) {
			size_t m = rep.u.extend.ncancelled < n
			    ? rep.u.extend.ncancelled
			    : n;
			if (m > 0) {
				memcpy(cancelled, rep.u.extend.cancelled,
				    m * sizeof(*cancelled));
			}
			*ncancelled = m;
		}
		tasq_wire_rep_fini(&rep);
	} else {
		tasq_debug("cannot extend leases: %s", err);
	}
	return (pushed);
}

void
tasq_keepalive_close(tasq_keepalive *k)
{
	if (k == NULL) {
		return;
	}
	sock_close(k);
	free(k);
}
