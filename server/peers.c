#include "peers.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

// err.h before the public header (api_int.h's order): both declare enum
// tasq_err.
#include "api/api_int.h"
#include "clock.h"
#include "err.h"
#include "log.h"
#include "statsfmt.h"
#include "textfmt.h"

struct tasq_peers {
	char         *list; // --peers
	tasq_opts    *opts;
	uint32_t      refresh_ms;
	nng_thread   *thr;
	nng_mtx      *mtx;
	nng_cv       *cv;
	bool          stopping; // guarded by mtx
	tasq_session *s;        // the thread's; mtx guards the pointer
	char         *doc;      // the last answer (mtx)
	uint64_t      doc_ms;   // when it came (monotonic; mtx)
	char          err[512]; // why the last round failed ("": not)
	bool          warned;   // a failure is logged once a streak
};

static void
peers_free(tasq_peers *p)
{
	if (p == NULL) {
		return;
	}
	if (p->cv != NULL) {
		nng_cv_free(p->cv);
	}
	if (p->mtx != NULL) {
		nng_mtx_free(p->mtx);
	}
	tasq_opts_free(p->opts);
	free(p->doc);
	free(p->list);
	free(p);
}

// One round: the session opened if it is not (its open waits up to
// connect-timeout), then every peer's Stats.
static void
peers_round(tasq_peers *p)
{
	tasq_session *s   = NULL;
	char         *doc = NULL;
	char          why[sizeof(p->err)];
	int           rv;

	nng_mtx_lock(p->mtx);
	s = p->s;
	nng_mtx_unlock(p->mtx);
	if (s == NULL) {
		if ((rv = tasq_session_open(&s, p->opts)) != 0) {
			snprintf(why, sizeof(why), "%s", tasq_errmsg());
			s = NULL;
		} else {
			nng_mtx_lock(p->mtx);
			if (p->stopping) {
				nng_mtx_unlock(p->mtx);
				tasq_session_free(s);
				return;
			}
			p->s = s;
			nng_mtx_unlock(p->mtx);
		}
	}
	if (s != NULL &&
	    (rv = tasq_server_stats(
	         &doc, s, TASQ_STATS_JSON | TASQ_STATS_ALL)) != 0) {
		snprintf(why, sizeof(why), "%s", tasq_errmsg());
		doc = NULL;
	}
	nng_mtx_lock(p->mtx);
	if (doc != NULL) {
		free(p->doc);
		p->doc    = doc;
		p->doc_ms = tasq_clock_mono_ms();
		p->err[0] = '\0';
	} else if (!p->stopping) {
		snprintf(p->err, sizeof(p->err), "%s", why);
	}
	nng_mtx_unlock(p->mtx);
	if (doc == NULL && !p->warned) {
		tasq_warn("--peers %s: %s", p->list, why);
		p->warned = true;
	} else if (doc != NULL) {
		p->warned = false;
	}
}

static void
peers_main(void *arg)
{
	tasq_peers *p = arg;

	nng_mtx_lock(p->mtx);
	while (!p->stopping) {
		nng_time until;
		nng_mtx_unlock(p->mtx);
		peers_round(p);
		until = nng_clock() + p->refresh_ms;
		nng_mtx_lock(p->mtx);
		while (!p->stopping &&
		    nng_cv_until(p->cv, until) != NNG_ETIMEDOUT) {
		}
	}
	nng_mtx_unlock(p->mtx);
}

static int
set(tasq_opts *o, const char *name, const char *v, char *err, size_t errlen)
{
	int rv;

	if (v == NULL) {
		return (0);
	}
	if ((rv = tasq_opts_set(o, name, v)) != 0) {
		snprintf(err, errlen, "--peers: %s", tasq_errmsg());
	}
	return (rv);
}

int
tasq_peers_start(
    tasq_peers **pp, const tasq_peers_conf *c, char *err, size_t errlen)
{
	tasq_peers *p;
	char        ms[32];
	bool        tls = strstr(c->peers, "tls+") != NULL;
	int         rv;

	*pp = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->list = strdup(c->peers)) == NULL ||
	    nng_mtx_alloc(&p->mtx) != 0 || nng_cv_alloc(&p->cv, p->mtx) != 0) {
		snprintf(err, errlen, "out of memory");
		peers_free(p);
		return (NNG_ENOMEM);
	}
	p->refresh_ms = c->refresh_ms;
	snprintf(ms, sizeof(ms), "%" PRIu32 "ms", c->refresh_ms);
	// The server logs on its own: a session must not rename it (or
	// quieten it) as the library does for a program of its own.
	tasq_api_log_keep();
	if ((rv = tasq_opts_alloc(&p->opts)) != 0 ||
	    (rv = set(p->opts, "server", c->peers, err, errlen)) != 0 ||
	    (rv = set(p->opts, "request-timeout", ms, err, errlen)) != 0 ||
	    (rv = set(p->opts, "connect-timeout", ms, err, errlen)) != 0 ||
	    (rv = set(p->opts, c->key_file != NULL ? "key-file" : "key",
	         c->key_file != NULL ? c->key_file : c->key, err, errlen)) !=
	        0 ||
	    (tls &&
	        ((rv = set(p->opts, "tls-ca", c->tls_ca, err, errlen)) != 0 ||
	            (rv = set(p->opts, "tls-server-name", c->tls_server_name,
	                 err, errlen)) != 0 ||
	            (rv = set(p->opts, "tls-cert", c->tls_cert, err,
	                 errlen)) != 0 ||
	            (rv = set(p->opts, "tls-key", c->tls_key, err, errlen)) !=
	                0 ||
	            (rv = set(p->opts, "tls-engine", c->tls_engine, err,
	                 errlen)) != 0 ||
	            (rv = set(p->opts, "tls-min-version", c->tls_min, err,
	                 errlen)) != 0 ||
	            (rv = set(p->opts, "tls-max-version", c->tls_max, err,
	                 errlen)) != 0))) {
		if (rv == TASQ_ERESOURCE_EXHAUSTED) {
			snprintf(err, errlen, "out of memory");
		}
		peers_free(p);
		return (rv == TASQ_ERESOURCE_EXHAUSTED
		        ? NNG_ENOMEM
		        : TASQ_EINVALID_ARGUMENT);
	}
	if (tls && c->tls_ca == NULL) {
		snprintf(err, errlen,
		    "--peers %s: tls+tcp:// peers need --tls-ca (the CA "
		    "that signed their certificates)",
		    c->peers);
		peers_free(p);
		return (TASQ_EINVALID_ARGUMENT);
	}
	if ((rv = nng_thread_create(&p->thr, peers_main, p)) != 0) {
		snprintf(err, errlen, "--peers: %s", nng_strerror(rv));
		peers_free(p);
		return (rv);
	}
	tasq_info("dashboard: asking the servers of --peers %s every %" PRIu32
	          " ms",
	    c->peers, c->refresh_ms);
	*pp = p;
	return (0);
}

void
tasq_peers_stop(tasq_peers *p)
{
	if (p == NULL) {
		return;
	}
	nng_mtx_lock(p->mtx);
	p->stopping = true;
	nng_cv_wake(p->cv);
	if (p->s != NULL) {
		// Aborts the request under way (any thread may close).
		tasq_session_close(p->s);
	}
	nng_mtx_unlock(p->mtx);
	nng_thread_destroy(p->thr); // joins
	tasq_session_free(p->s);
	p->s = NULL;
	peers_free(p);
}

void
tasq_peers_json(tasq_peers *p, uint64_t now_ms, FILE *f)
{
	fputs("{\"peers\":", f);
	tasq_json_str(f, p->list);
	fprintf(f, ",\"refresh_ms\":%" PRIu32, p->refresh_ms);
	nng_mtx_lock(p->mtx);
	if (p->err[0] != '\0') {
		fputs(",\"error\":", f);
		tasq_json_str(f, p->err);
	}
	if (p->doc != NULL) {
		// The document is one object ending in "}\n": its members
		// follow ours.
		const char *d   = strchr(p->doc, '{');
		size_t      len = d != NULL ? strlen(d) : 0;
		while (len > 0 && d[len - 1] != '}') {
			len--;
		}
		if (len > 2) {
			fprintf(f, ",\"age_ms\":%" PRIu64 ",",
			    now_ms > p->doc_ms ? now_ms - p->doc_ms : 0);
			fwrite(d + 1, 1, len - 2, f);
		}
	}
	nng_mtx_unlock(p->mtx);
	fputc('}', f);
}
