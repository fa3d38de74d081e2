#include "server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "clock.h"
#include "err.h"
#include "identity.h"
#include "log.h"
#include "metrics.h"
#include "replay.h"
#include "watchdog.h"

// The timer's period: lease expiry is this precise.
#define TICK_MS 100

struct tasq_server {
	tasq_server_conf conf;
	tasq_stats      *stats; // the counters of every part below
	tasq_broker     *broker;
	tasq_service    *svc;
	tasq_replay     *replay;
	tasq_journal    *journal;
	tasq_rpc        *rpc;
	tasq_heartbeat  *heartbeat;
	tasq_metrics    *metrics;
	tasq_watchdog   *watchdog;
	nng_thread      *timer;
	nng_mtx         *mtx; // guards closing, for the timer's wait
	nng_cv          *cv;
	bool             closing;
	bool             stopped;
	int              stop_rv;
	uint64_t         identity; // HealthReply.identity (identity.h)
};

// Writes the URL being served, with the bound port in place of port 0,
// to path (through a rename, so readers never see half a line).
static int
write_ready_file(const char *path, const char *url, int port)
{
	char        tmp[4096], line[1024];
	FILE       *f;
	const char *colon = strrchr(url, ':');

	if (port > 0 && colon != NULL && strncmp(url, "ipc", 3) != 0) {
		snprintf(line, sizeof(line), "%.*s:%d\n", (int) (colon - url),
		    url, port);
	} else {
		snprintf(line, sizeof(line), "%s\n", url);
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((f = fopen(tmp, "we")) == NULL) {
		return (-1);
	}
	if (fputs(line, f) < 0 || fclose(f) != 0) {
		return (-1);
	}
	return (rename(tmp, path));
}

// The one timer: lease expiry, job expiry, idle connections, compaction
// and replay-table pruning. It sleeps on the server's condition variable,
// so tasq_server_close ends it at once.
static void
timer_main(void *arg)
{
	tasq_server *s    = arg;
	nng_time     next = nng_clock() + TICK_MS;

	for (unsigned tick = 0;; tick++) {
		nng_mtx_lock(s->mtx);
		while (!s->closing && nng_clock() < next) {
			(void) nng_cv_until(s->cv, next);
		}
		bool closing = s->closing;
		nng_mtx_unlock(s->mtx);
		if (closing) {
			return;
		}
		next += TICK_MS;
		tasq_broker_tick(s->broker, tasq_clock_mono_ms());
		if (tick % 10 == 0) {
			(void) tasq_rpc_reap(s->rpc, s->conf.idle_ms);
			tasq_metrics_sample(s->metrics, tasq_clock_mono_ms());
		}
		if (s->journal != NULL && tick % 10 == 0) {
			(void) tasq_broker_compact(s->broker);
		}
		if (tick % 100 == 0) {
			tasq_replay_gc(s->replay, tasq_clock_stamp_ms());
		}
	}
}

int
tasq_server_alloc(
    tasq_server **sp, const tasq_server_conf *conf, char *err, size_t errlen)
{
	tasq_server *s;
	int          rv;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NNG_ENOMEM);
	}
	s->conf = *conf;
	// One registry for the broker, the RPC layer, the heartbeat port
	// and the watchdog: each counts its own events in it.
	if ((rv = tasq_stats_alloc(&s->stats)) != 0) {
		snprintf(err, errlen, "cannot start: %s", tasq_strerror(rv));
		free(s);
		return (rv);
	}
	s->conf.broker.stats = s->stats;
	s->conf.rpc.stats    = s->stats;
	if ((rv = nng_mtx_alloc(&s->mtx)) != 0 ||
	    (rv = nng_cv_alloc(&s->cv, s->mtx)) != 0 ||
	    (rv = tasq_broker_alloc(
	         &s->broker, &s->conf.broker, tasq_rpc_wake)) != 0 ||
	    (rv = tasq_service_alloc(&s->svc, s->broker, &conf->service)) !=
	        0 ||
	    (rv = tasq_replay_alloc(&s->replay, 65536, conf->skew_ms,
	         tasq_clock_stamp_ms(), 2000)) != 0) {
		snprintf(err, errlen, "cannot start: %s", tasq_strerror(rv));
		tasq_server_free(s);
		return (rv);
	}
	if (conf->data_dir != NULL) {
		tasq_journal_conf jc = {
			.dir              = conf->data_dir,
			.mode             = conf->fsync,
			.batch_ms         = conf->fsync_interval_ms,
			.compact_bytes    = conf->compact_bytes,
			.truncate_corrupt = conf->recover_truncate,
		};
		uint64_t recs, bytes;
		nng_time t0 = nng_clock();
		char     why[512];
		if ((rv = tasq_journal_open(&s->journal, &jc, err, errlen)) !=
		    0) {
			tasq_server_free(s);
			return (rv != 0 ? rv : TASQ_EINTERNAL);
		}
		// Under the journal's lock: one server per directory.
		if ((rv = tasq_identity_load(
		         conf->data_dir, &s->identity, err, errlen)) != 0) {
			tasq_server_free(s);
			return (rv);
		}
		if ((rv = tasq_broker_recover(s->broker, s->journal, why,
		         sizeof(why), &recs, &bytes)) != 0) {
			snprintf(err, errlen, "recovery failed: %s", why);
			tasq_server_free(s);
			return (rv);
		}
		if ((rv = tasq_journal_start(s->journal, err, errlen)) != 0) {
			tasq_server_free(s);
			return (rv);
		}
		tasq_info(
		    "recovered %llu records (%llu journal bytes) from %s "
		    "in %llu ms; fsync %s",
		    (unsigned long long) recs, (unsigned long long) bytes,
		    conf->data_dir, (unsigned long long) (nng_clock() - t0),
		    conf->fsync_name);
	}
	if (s->journal == NULL &&
	    (rv = tasq_identity_new(&s->identity, err, errlen)) != 0) {
		tasq_server_free(s);
		return (rv);
	}
	tasq_service_set_identity(s->svc, s->identity);
	tasq_info("server identity %016llx (shard tag %04x)",
	    (unsigned long long) s->identity, (unsigned) (s->identity >> 48));
	s->conf.rpc.journal = s->journal;
	*sp                 = s;
	return (0);
}

int
tasq_server_start(tasq_server *s, char *err, size_t errlen)
{
	int rv;

	if ((rv = tasq_rpc_start(&s->rpc, &s->conf.rpc, s->svc, s->broker,
	         s->replay, err, errlen)) != 0) {
		s->rpc = NULL;
		return (rv);
	}
	tasq_info("tasq-server %s serving on %s (port %d), %d key(s), "
	          "lease %llums",
	    TASQ_VERSION, s->conf.rpc.url, tasq_rpc_bound_port(s->rpc),
	    tasq_keyring_count(s->conf.rpc.keys),
	    (unsigned long long) s->conf.broker.lease_ms);
	// After the RPC port: a second server on the same address fails on
	// that first (tests/fault/ipc_relisten.sh). Health says 0 until the
	// port is set; a worker asking meanwhile asks again later.
	if (s->conf.heartbeat_listen != NULL) {
		tasq_heartbeat_conf hc = { .url = s->conf.heartbeat_listen,
			.tls                    = s->conf.rpc.tls,
			.keys                   = s->conf.rpc.keys,
			.stats                  = s->stats,
			.max_conns              = s->conf.rpc.max_conns };
		if ((rv = tasq_heartbeat_start(&s->heartbeat, &hc, s->broker,
		         s->replay, err, errlen)) != 0) {
			s->heartbeat = NULL;
			if (!s->conf.heartbeat_derived) {
				return (rv);
			}
			// Only the default address: serve without it (workers
			// extend leases by RPC) rather than not at all.
			tasq_warn("%s; serving without a heartbeat port", err);
			err[0] = '\0';
		}
	}
	if (s->heartbeat != NULL) {
		tasq_service_set_heartbeat_port(
		    s->svc, tasq_heartbeat_bound_port(s->heartbeat));
		tasq_info("heartbeats on %s (port %u)",
		    tasq_heartbeat_url(s->heartbeat),
		    tasq_heartbeat_bound_port(s->heartbeat));
	}
	tasq_metrics_auth ma = { .keys = s->conf.rpc.keys,
		.replay                = s->replay,
		.stats                 = s->stats };
	if (s->conf.metrics_listen != NULL &&
	    (rv = tasq_metrics_start(&s->metrics, s->conf.metrics_listen,
	         s->broker, s->rpc, s->journal, s->identity, &ma, err,
	         errlen)) != 0) {
		s->metrics = NULL;
		return (rv);
	}
	if (s->metrics != NULL && s->conf.peers != NULL &&
	    (rv = tasq_metrics_peers(
	         s->metrics, s->conf.peers, err, errlen)) != 0) {
		return (rv);
	}
	if (s->conf.watchdog_ms > 0) {
		char local[1024];
		if ((rv = tasq_rpc_local_url(s->rpc, local, sizeof(local))) !=
		        0 ||
		    (rv = tasq_watchdog_start(&s->watchdog, local,
		         s->conf.rpc.keys, s->rpc, s->stats,
		         s->conf.watchdog_ms)) != 0) {
			s->watchdog = NULL;
			snprintf(err, errlen, "cannot start the watchdog: %s",
			    tasq_strerror(rv));
			return (rv);
		}
	}
	if ((rv = nng_thread_create(&s->timer, timer_main, s)) != 0) {
		s->timer = NULL;
		snprintf(err, errlen, "cannot start the timer: %s",
		    nng_strerror(rv));
		return (rv);
	}
	// Last: whoever waits for the ready file may use everything above.
	if (s->conf.ready_file != NULL &&
	    write_ready_file(s->conf.ready_file, s->conf.rpc.url,
	        tasq_rpc_bound_port(s->rpc)) != 0) {
		snprintf(err, errlen, "cannot write %s: %s",
		    s->conf.ready_file, strerror(errno));
		return (TASQ_EINTERNAL);
	}
	return (0);
}

void
tasq_server_close(tasq_server *s)
{
	if (s == NULL) {
		return;
	}
	nng_mtx_lock(s->mtx);
	if (s->closing) {
		nng_mtx_unlock(s->mtx);
		return;
	}
	s->closing = true;
	nng_cv_wake(s->cv);
	nng_mtx_unlock(s->mtx);
	// The watchdog first: it could replace the listener, which in
	// nng 1.5.2 closes every connection (see rpc.c).
	tasq_watchdog_stop(s->watchdog);
	s->watchdog = NULL;
	tasq_heartbeat_close(s->heartbeat);
	tasq_rpc_close(s->rpc);
}

int
tasq_server_stop(tasq_server *s)
{
	if (s == NULL || s->stopped) {
		return (s == NULL ? 0 : s->stop_rv);
	}
	tasq_server_close(s);
	s->stopped = true;
	if (s->timer != NULL) {
		nng_thread_destroy(s->timer); // joins it
		s->timer = NULL;
	}
	tasq_metrics_stop(s->metrics);
	s->metrics = NULL;
	// After this no request is served and no pipe callback runs: only
	// the journal's callbacks can still reach the RPC layer, and nothing
	// appends to the journal any more.
	s->stop_rv = tasq_rpc_stop(s->rpc, TASQ_SERVER_DRAIN_MS);
	if (tasq_heartbeat_stop(s->heartbeat) != 0 && s->stop_rv == 0) {
		s->stop_rv = TASQ_EDEADLINE_EXCEEDED;
	}
	tasq_journal_close(s->journal); // flushes and syncs what is left
	s->journal = NULL;
	return (s->stop_rv);
}

void
tasq_server_free(tasq_server *s)
{
	if (s == NULL) {
		return;
	}
	if (s->mtx != NULL && s->cv != NULL) {
		(void) tasq_server_stop(s);
	}
	tasq_rpc_free(s->rpc);
	tasq_heartbeat_free(s->heartbeat);
	tasq_replay_free(s->replay);
	tasq_service_free(s->svc);
	tasq_broker_free(s->broker);
	tasq_stats_free(s->stats); // last: everything above counts in it
	if (s->cv != NULL) {
		nng_cv_free(s->cv);
	}
	if (s->mtx != NULL) {
		nng_mtx_free(s->mtx);
	}
	free(s);
}
