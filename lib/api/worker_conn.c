#include "worker_conn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "clock.h"
#include "err.h"
#include "log.h"

// Every line goes through say: to the conf's log function, else to
// lib/log.h.
static void say(const struct tasq_conn *c, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define AUTH_BACKOFF_MIN_MS 1000
#define AUTH_BACKOFF_MAX_MS 60000
#define DIAL_BACKOFF_MIN_MS 100
#define DIAL_BACKOFF_MAX_MS 2000

enum conn_state {
	CONN_CONNECTING, // never had a verified reply
	CONN_CONNECTED,
	CONN_LOST,    // had one; the connection went or calls time out
	CONN_REFUSED, // the server (or its TLS) refuses our credentials
};

// What a dial failure is, for telling it once: the same kind again is
// only logged at debug level.
enum dial_kind {
	DIAL_NONE,
	DIAL_NETWORK, // refused, timed out, reset: the server is down
	DIAL_ADDRESS, // a host that does not resolve, an unusable address,
	              // a file of the TLS settings that cannot be used
	DIAL_TLS,     // the handshake failed: CA, server name, certificate
};

struct tasq_conn {
	tasq_conn_conf  cc;
	nng_mtx        *mtx; // guards everything below
	enum conn_state state;
	enum dial_kind  dial_kind;   // of the last dial failure logged
	uint32_t        dial_wait;   // the next dial pause
	uint64_t        since_ms;    // unreachable, lost or refused since
	uint64_t        server_id;   // of the last verified reply
	uint32_t        auth_wait;   // the next refusal backoff
	uint64_t        retry_at_ms; // while refused: the next attempt
	bool            probing;     // a thread is making that attempt
	int             pipes;       // connections up
	int             answered;    // the last error status told, or 0
	bool            closing;
	bool            told;   // a refusal's line is out
	bool            linked; // the last connection event was up
};

int
tasq_conn_alloc(tasq_conn **cp, const tasq_conn_conf *cc)
{
	tasq_conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		return (NNG_ENOMEM);
	}
	if (nng_mtx_alloc(&c->mtx) != 0) {
		free(c);
		return (NNG_ENOMEM);
	}
	c->cc        = *cc;
	c->state     = CONN_CONNECTING;
	c->linked    = true; // unknown: as if up
	c->dial_wait = DIAL_BACKOFF_MIN_MS;
	c->since_ms  = tasq_clock_mono_ms();
	*cp          = c;
	return (0);
}

void
tasq_conn_free(tasq_conn *c)
{
	if (c == NULL) {
		return;
	}
	nng_mtx_free(c->mtx);
	free(c);
}

static void
say(const struct tasq_conn *c, int level, const char *fmt, ...)
{
	char    line[1024];
	va_list ap;

	if (c->cc.log == NULL) {
		if (!tasq_log_enabled(level)) {
			return;
		}
	}
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (c->cc.log != NULL) {
		c->cc.log(c->cc.log_arg, level, line);
	} else {
		tasq_log(level, "%s", line);
	}
}

// Levels: worker process 0 tells, the others only at debug level.
static int
lvl(const tasq_conn *c, int level)
{
	return (c->cc.quiet ? TASQ_LOG_DEBUG : level);
}

static unsigned
secs(uint64_t since_ms)
{
	return ((unsigned) ((tasq_clock_mono_ms() - since_ms + 500) / 1000));
}

static bool
is_auth(int rv)
{
	return (rv == TASQ_EUNAUTHENTICATED || rv == TASQ_EPERMISSION_DENIED);
}

// Whether the server answered with an error status (the server is
// there): a TASQ_E* code other than the deadline, which chan also
// returns when no reply came in time.
static bool
is_answer(int rv)
{
	return (rv > TASQ_ERR_BASE && rv <= TASQ_EUNAUTHENTICATED &&
	    rv != TASQ_EDEADLINE_EXCEEDED);
}

// With --exit-on-auth-failure, only the first worker process ends the
// worker on a refusal: the others (quiet) tell theirs at debug level
// only, and one of them exiting first ended the worker with status 4 and
// no error line. The first process is refused too (same key, same
// server), and says why.
static bool
exits(const tasq_conn *c)
{
	return (c->cc.exit_on_auth_failure && !c->cc.quiet);
}

bool
tasq_conn_dial_failed(tasq_conn *c, int rv, const char *err, uint32_t *wait_ms)
{
	enum dial_kind kind;
	bool           tell;
	uint32_t       wait;

	if (rv == NNG_ECRYPTO || rv == NNG_EPEERAUTH) {
		kind = DIAL_TLS;
	} else if (rv == NNG_ECONNREFUSED || rv == NNG_ETIMEDOUT ||
	    rv == NNG_ECONNRESET || rv == NNG_ECONNSHUT ||
	    rv == NNG_ECONNABORTED || rv == NNG_EUNREACHABLE ||
	    rv == NNG_ECLOSED || rv == NNG_EAGAIN) {
		kind = DIAL_NETWORK;
	} else {
		kind = DIAL_ADDRESS; // or a TLS file that cannot be read
	}
	nng_mtx_lock(c->mtx);
	if (kind == DIAL_NETWORK && c->dial_kind == DIAL_TLS) {
		// A refused handshake is now and then seen as a connection
		// shut down: still the same refusal, with its backoff.
		kind = DIAL_TLS;
	}
	tell = kind != c->dial_kind;
	if (tell) {
		// A new kind of failure starts its own backoff: the
		// network's short one (the server may come back any moment),
		// or a long one for what an operator must fix.
		c->dial_kind = kind;
		c->dial_wait = kind == DIAL_NETWORK ? DIAL_BACKOFF_MIN_MS
		                                    : AUTH_BACKOFF_MIN_MS;
	}
	wait         = c->dial_wait;
	c->dial_wait = kind == DIAL_NETWORK
	    ? (wait * 2 < DIAL_BACKOFF_MAX_MS ? wait * 2 : DIAL_BACKOFF_MAX_MS)
	    : (wait * 2 < AUTH_BACKOFF_MAX_MS ? wait * 2
	                                      : AUTH_BACKOFF_MAX_MS);
	if (kind == DIAL_TLS) {
		c->state = CONN_REFUSED;
	}
	nng_mtx_unlock(c->mtx);
	*wait_ms = wait;
	if (!tell) {
		say(c, TASQ_LOG_DEBUG, "%s; retrying in %u ms", err,
		    (unsigned) wait);
		return (false);
	}
	switch (kind) {
	case DIAL_TLS:
		// err already says to check --tls-ca and the names: say
		// which file and which name this worker used.
		say(c, lvl(c, TASQ_LOG_ERROR),
		    "%s; CA file: %s; server name expected: %s; %s", err,
		    c->cc.tls_ca != NULL ? c->cc.tls_ca : "none",
		    c->cc.tls_server_name != NULL ? c->cc.tls_server_name
		                                  : "the URL's host",
		    exits(c) ? "exiting (--exit-on-auth-failure)"
		             : "retrying with backoff up to 60 s");
		break;
	case DIAL_ADDRESS:
		// Also what the TLS settings' files make fail (err says).
		say(c, lvl(c, TASQ_LOG_ERROR),
		    "%s%s; retrying with backoff up to 60 s", err,
		    rv == NNG_EADDRINVAL ? " (a host name that does not "
		                           "resolve?): check the host name "
		                           "and port"
		                         : "");
		break;
	default:
		say(c, lvl(c, TASQ_LOG_INFO),
		    "server %s unreachable: %s; retrying every %u s",
		    c->cc.url, err, (unsigned) DIAL_BACKOFF_MAX_MS / 1000);
		break;
	}
	say(c, TASQ_LOG_DEBUG, "%s; retrying in %u ms", err, (unsigned) wait);
	return (kind == DIAL_TLS && exits(c));
}

void
tasq_conn_pipe_cb(void *arg, bool up)
{
	tasq_conn *c    = arg;
	bool       lost = false;

	nng_mtx_lock(c->mtx);
	c->pipes += up ? 1 : -1;
	c->linked = up;
	if (!up && c->pipes <= 0 && !c->closing &&
	    c->state == CONN_CONNECTED) {
		c->state    = CONN_LOST;
		c->since_ms = tasq_clock_mono_ms();
		lost        = true;
	}
	nng_mtx_unlock(c->mtx);
	if (lost) {
		say(c, lvl(c, TASQ_LOG_WARN),
		    "lost the server %s: connection closed; reconnecting",
		    c->cc.url);
	} else {
		say(c, TASQ_LOG_DEBUG, "connection to %s %s", c->cc.url,
		    up ? "up" : "down");
	}
}

void
tasq_conn_call_ok(tasq_conn *c, uint64_t server_id)
{
	enum conn_state was;
	uint64_t        old_id, since;

	nng_mtx_lock(c->mtx);
	was    = c->state;
	old_id = c->server_id;
	since  = c->since_ms;
	if (was == CONN_CONNECTED && old_id == server_id) {
		nng_mtx_unlock(c->mtx); // the common case: nothing to tell
		return;
	}
	c->state     = CONN_CONNECTED;
	c->server_id = server_id;
	c->auth_wait = 0;
	c->answered  = 0;
	c->probing   = false;
	c->dial_kind = DIAL_NONE;
	nng_mtx_unlock(c->mtx);
	switch (was) {
	case CONN_CONNECTING:
		say(c, lvl(c, TASQ_LOG_INFO),
		    "connected to %s (server id %016llx) after %u s",
		    c->cc.url, (unsigned long long) server_id, secs(since));
		break;
	case CONN_REFUSED:
		say(c, lvl(c, TASQ_LOG_INFO),
		    "connected to %s (server id %016llx): the server accepts "
		    "this worker now",
		    c->cc.url, (unsigned long long) server_id);
		break;
	case CONN_LOST:
		if (old_id == server_id) {
			say(c, lvl(c, TASQ_LOG_INFO),
			    "regained the server %s after %u s (same server "
			    "id %016llx)",
			    c->cc.url, secs(since),
			    (unsigned long long) server_id);
		} else {
			say(c, lvl(c, TASQ_LOG_INFO),
			    "regained the server %s after %u s (server "
			    "restarted: new server id %016llx, was %016llx)",
			    c->cc.url, secs(since),
			    (unsigned long long) server_id,
			    (unsigned long long) old_id);
		}
		break;
	case CONN_CONNECTED:
		say(c, lvl(c, TASQ_LOG_INFO),
		    "server %s restarted: new server id %016llx, was %016llx",
		    c->cc.url, (unsigned long long) server_id,
		    (unsigned long long) old_id);
		break;
	}
}

bool
tasq_conn_call_failed(tasq_conn *c, int rv, const char *err)
{
	uint64_t now  = tasq_clock_mono_ms();
	bool     tell = false, lost = false;
	uint32_t wait = 0;

	nng_mtx_lock(c->mtx);
	if (is_auth(rv)) {
		if (c->state != CONN_REFUSED) {
			tell        = true;
			c->state    = CONN_REFUSED;
			c->since_ms = now;
		}
		// Calls already in flight when the first refusal came do
		// not count as attempts of the backoff.
		if (tell || c->probing) {
			wait = c->auth_wait == 0 ? AUTH_BACKOFF_MIN_MS
			                         : c->auth_wait * 2;
			wait = wait > AUTH_BACKOFF_MAX_MS ? AUTH_BACKOFF_MAX_MS
			                                  : wait;
			c->auth_wait   = wait;
			c->retry_at_ms = now + wait;
			c->probing     = false;
		}
	} else if (is_answer(rv)) {
		// Not a link problem: told once per status, at warn level.
		tell        = rv != c->answered;
		c->answered = rv;
	} else if (c->state == CONN_REFUSED && c->probing) {
		// The attempt ended otherwise: the next one as planned.
		c->retry_at_ms = now + c->auth_wait;
		c->probing     = false;
	} else if (c->state == CONN_CONNECTED && !c->closing) {
		c->state    = CONN_LOST;
		c->since_ms = now;
		lost        = true;
	}
	nng_mtx_unlock(c->mtx);
	if (tell && !is_auth(rv)) {
		say(c, lvl(c, TASQ_LOG_WARN),
		    "server %s refused a lease request: %s; retrying",
		    c->cc.url, err);
		return (false);
	}
	if (tell) {
		char key[300];
		if (c->cc.key_file != NULL) {
			snprintf(key, sizeof(key),
			    "the key file %s (--key-file)", c->cc.key_file);
		} else {
			snprintf(key, sizeof(key), "the key in TASQ_KEY");
		}
		say(c, lvl(c, TASQ_LOG_ERROR),
		    "server %s refused this worker: %s; check that %s holds "
		    "the server's key; %s",
		    c->cc.url, err, key,
		    exits(c) ? "exiting (--exit-on-auth-failure)"
		             : "retrying with backoff up to 60 s");
		nng_mtx_lock(c->mtx);
		c->told = true;
		nng_mtx_unlock(c->mtx);
		return (exits(c));
	}
	if (is_auth(rv) && exits(c)) {
		// Another thread tells this refusal: its line first (the
		// caller may end the process), bounded.
		for (int i = 0; i < 400; i++) {
			bool told;
			nng_mtx_lock(c->mtx);
			told = c->told;
			nng_mtx_unlock(c->mtx);
			if (told) {
				break;
			}
			nng_msleep(5);
		}
	}
	if (lost) {
		say(c, lvl(c, TASQ_LOG_WARN),
		    "lost the server %s: %s; reconnecting", c->cc.url, err);
		return (false);
	}
	if (wait != 0) {
		say(c, TASQ_LOG_DEBUG,
		    "server %s refused this worker again: %s; next "
		    "attempt in %u s",
		    c->cc.url, err, (unsigned) wait / 1000);
	} else {
		say(c, TASQ_LOG_DEBUG, "call to %s failed: %s", c->cc.url,
		    err);
	}
	// With --exit-on-auth-failure only the call that told the refusal
	// ends the process: another thread's refusal, seen while that one
	// had not logged yet, must not exit before the error line is out.
	return (false);
}

uint32_t
tasq_conn_wait_ms(tasq_conn *c)
{
	uint64_t now  = tasq_clock_mono_ms();
	uint32_t wait = 0;

	nng_mtx_lock(c->mtx);
	if (c->state == CONN_REFUSED && c->auth_wait != 0) {
		if (c->probing) {
			wait = 100; // until the attempt's outcome
		} else if (now < c->retry_at_ms) {
			wait = (uint32_t) (c->retry_at_ms - now);
		} else {
			// This thread makes the attempt; the others wait
			// for its outcome (which sets the next time).
			c->probing = true;
		}
	}
	nng_mtx_unlock(c->mtx);
	return (wait);
}

bool
tasq_conn_linked(tasq_conn *c)
{
	bool up;

	nng_mtx_lock(c->mtx);
	up = c->linked;
	nng_mtx_unlock(c->mtx);
	return (up);
}

void
tasq_conn_set_exit(tasq_conn *c, bool exit_on_auth_failure)
{
	nng_mtx_lock(c->mtx);
	c->cc.exit_on_auth_failure = exit_on_auth_failure;
	nng_mtx_unlock(c->mtx);
}

void
tasq_conn_close(tasq_conn *c)
{
	nng_mtx_lock(c->mtx);
	c->closing = true;
	nng_mtx_unlock(c->mtx);
}
