// tasq-server: hosts the task and result queues.
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "auth.h"
#include "broker.h"
#include "chan.h"
#include "clock.h"
#include "err.h"
#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "opt.h"
#include "replay.h"
#include "rpc.h"
#include "service.h"
#include "tls.h"
#include "watchdog.h"

static volatile sig_atomic_t stop_signal;

static void
on_signal(int sig)
{
	stop_signal = sig;
}

static struct {
	char    *listen;
	char    *key_file;
	char    *tls_cert;
	char    *tls_key;
	char    *tls_client_ca;
	char    *tls_engine;
	char    *tls_min;
	char    *tls_max;
	char    *log_level;
	char    *log_format;
	char    *ready_file;
	char    *data_dir;
	char    *fsync;
	uint64_t fsync_interval_ms;
	uint64_t compact_bytes;
	bool     recover_truncate;
	uint64_t watchdog_ms;
	uint64_t idle_ms;
	char    *metrics_listen;
	uint64_t max_inflight;
	uint64_t lease_ms;
	uint64_t max_attempts;
	uint64_t max_tasks;
	uint64_t max_batch;
	uint64_t max_msg;
	uint64_t max_queues;
	uint64_t max_jobs;
	uint64_t max_workers;
	uint64_t max_conns;
	uint64_t max_unauth;
	uint64_t auth_ms;
	uint64_t job_ttl_ms;
	uint64_t contexts;
	uint64_t max_wait_ms;
	uint64_t skew_ms;
} cfg;

static const tasq_opt server_opts[] = {
	{ "listen", 'l', TASQ_OPT_STR, "TASQ_LISTEN", "tcp://0.0.0.0:7070",
	    "URL", "address to serve on (tcp://, tls+tcp://, ipc://)",
	    &cfg.listen, 0, 0, false },
	{ "key-file", 'k', TASQ_OPT_STR, "TASQ_KEY_FILE", NULL, "FILE",
	    "shared key file, mode 0600 (or the key in TASQ_KEY)",
	    &cfg.key_file, 0, 0, false },
	{ "tls-cert", 0, TASQ_OPT_STR, "TASQ_TLS_CERT", NULL, "FILE",
	    "server certificate (PEM) for tls+tcp://", &cfg.tls_cert, 0, 0,
	    false },
	{ "tls-key", 0, TASQ_OPT_STR, "TASQ_TLS_KEY", NULL, "FILE",
	    "private key of --tls-cert (PEM)", &cfg.tls_key, 0, 0, false },
	{ "tls-client-ca", 0, TASQ_OPT_STR, "TASQ_TLS_CLIENT_CA", NULL, "FILE",
	    "require peer certificates signed by this CA", &cfg.tls_client_ca,
	    0, 0, false },
	{ "tls-engine", 0, TASQ_OPT_STR, "TASQ_TLS_ENGINE", "openssl", "NAME",
	    "TLS engine: openssl (TLS 1.3) or builtin (nng's mbedTLS)",
	    &cfg.tls_engine, 0, 0, false },
	{ "tls-min-version", 0, TASQ_OPT_STR, NULL, "1.2", "V",
	    "lowest TLS version: 1.2 or 1.3", &cfg.tls_min, 0, 0, false },
	{ "tls-max-version", 0, TASQ_OPT_STR, NULL, "1.3", "V",
	    "highest TLS version: 1.2 or 1.3", &cfg.tls_max, 0, 0, false },
	{ "lease", 0, TASQ_OPT_MS, "TASQ_LEASE", "30s", "DURATION",
	    "how long a worker holds tasks before they are redelivered",
	    &cfg.lease_ms, 100, 86400000, false },
	{ "max-attempts", 0, TASQ_OPT_U64, NULL, "5", "N",
	    "deliveries of a task before it is dead-lettered",
	    &cfg.max_attempts, 1, 1000, false },
	{ "max-tasks", 0, TASQ_OPT_U64, NULL, "20000000", "N",
	    "tasks held at once (queued, leased, results not fetched)",
	    &cfg.max_tasks, 1, 1000000000, false },
	{ "max-batch", 0, TASQ_OPT_U64, NULL, "65536", "N",
	    "tasks in one submit", &cfg.max_batch, 1, 1048576, false },
	{ "max-message", 0, TASQ_OPT_SIZE, NULL, "4MiB", "SIZE",
	    "largest message accepted", &cfg.max_msg, 1024, 1073741824,
	    false },
	{ "max-queues", 0, TASQ_OPT_U64, NULL, "64", "N", "named queues",
	    &cfg.max_queues, 1, 65536, false },
	{ "max-jobs", 0, TASQ_OPT_U64, NULL, "4096", "N",
	    "jobs (client submissions) at once", &cfg.max_jobs, 1, 1000000,
	    false },
	{ "max-workers", 0, TASQ_OPT_U64, NULL, "4096", "N",
	    "worker processes known at once", &cfg.max_workers, 1, 1000000,
	    false },
	{ "max-connections", 0, TASQ_OPT_U64, NULL, "1024", "N",
	    "open connections", &cfg.max_conns, 1, 1000000, false },
	{ "max-unauthenticated", 0, TASQ_OPT_U64, NULL, "32", "N",
	    "open connections that have not yet sent an authenticated "
	    "request (each may hold a --max-message frame)",
	    &cfg.max_unauth, 1, 1000000, false },
	{ "auth-timeout", 0, TASQ_OPT_MS, NULL, "10s", "DURATION",
	    "close a connection that sends no authenticated request this "
	    "long after it was accepted",
	    &cfg.auth_ms, 1000, 3600000, false },
	{ "idle-timeout", 0, TASQ_OPT_MS, NULL, "2m", "DURATION",
	    "close connections that complete no request for this long",
	    &cfg.idle_ms, 1000, 86400000, false },
	{ "max-inflight", 0, TASQ_OPT_U64, NULL, "64", "N",
	    "requests in flight on one connection", &cfg.max_inflight, 1,
	    65536, false },
	{ "job-ttl", 0, TASQ_OPT_MS, NULL, "10m", "DURATION",
	    "a job whose client stays away this long is dropped",
	    &cfg.job_ttl_ms, 1000, 30 * 86400000ULL, false },
	{ "contexts", 0, TASQ_OPT_U64, NULL, "256", "N",
	    "requests served at once (long-polls included)", &cfg.contexts, 4,
	    65536, false },
	{ "max-wait", 0, TASQ_OPT_MS, NULL, "30s", "DURATION",
	    "longest long-poll", &cfg.max_wait_ms, 0, 3600000, false },
	{ "clock-skew", 0, TASQ_OPT_MS, NULL, "5m", "DURATION",
	    "accepted clock difference to peers (replay protection)",
	    &cfg.skew_ms, 1000, 86400000, false },
	{ "log-format", 0, TASQ_OPT_STR, "TASQ_LOG_FORMAT", "text", "FMT",
	    "log lines as text or json", &cfg.log_format, 0, 0, false },
	{ "log-level", 0, TASQ_OPT_STR, "TASQ_LOG_LEVEL", "info", "LEVEL",
	    "error, warn, info or debug", &cfg.log_level, 0, 0, false },
	{ "data-dir", 'd', TASQ_OPT_STR, "TASQ_DATA_DIR", NULL, "DIR",
	    "keep a crash-safe journal here (nothing survives a restart "
	    "without it)",
	    &cfg.data_dir, 0, 0, false },
	{ "fsync", 0, TASQ_OPT_STR, NULL, "always", "MODE",
	    "always: reply only once on disk (group commit); batch: sync "
	    "every --fsync-interval; never: leave it to the OS",
	    &cfg.fsync, 0, 0, false },
	{ "fsync-interval", 0, TASQ_OPT_MS, NULL, "50ms", "DURATION",
	    "sync interval of --fsync batch (the most it can lose)",
	    &cfg.fsync_interval_ms, 1, 60000, false },
	{ "compact-bytes", 0, TASQ_OPT_SIZE, NULL, "64MiB", "SIZE",
	    "compact the journal once it grows past this (and past twice "
	    "the live state)",
	    &cfg.compact_bytes, 65536, 1ULL << 40, false },
	{ "recover-truncate", 0, TASQ_OPT_BOOL, NULL, NULL, NULL,
	    "on a corrupt journal, keep the records before the damage and "
	    "drop the rest (loses data: read the error first)",
	    &cfg.recover_truncate, 0, 0, false },
	{ "watchdog-interval", 0, TASQ_OPT_MS, NULL, "2s", "DURATION",
	    "probe our own listener this often and replace it if it stops "
	    "accepting (0: off)",
	    &cfg.watchdog_ms, 0, 3600000, false },
	{ "metrics-listen", 0, TASQ_OPT_STR, "TASQ_METRICS_LISTEN", NULL,
	    "URL",
	    "serve /metrics (Prometheus), /healthz, /api/stats and a "
	    "dashboard at http://HOST:PORT",
	    &cfg.metrics_listen, 0, 0, false },
	{ "ready-file", 0, TASQ_OPT_STR, NULL, NULL, "FILE",
	    "once serving, write the URL (with the real port) to FILE",
	    &cfg.ready_file, 0, 0, false },
	TASQ_OPT_END,
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

static const char usage[] =
    "Usage: tasq-server [options]\n"
    "Hosts tasq's task and result queues for workers and clients.\n";

int
main(int argc, char **argv)
{
	const tasq_opt *const tables[] = { server_opts, NULL };
	tasq_opt_ctx          oc       = { 0 };
	tasq_keyring         *keys     = NULL;
	tasq_broker          *broker   = NULL;
	tasq_service         *svc      = NULL;
	tasq_replay          *replay   = NULL;
	tasq_rpc             *rpc      = NULL;
	tasq_journal         *journal  = NULL;
	tasq_watchdog        *watchdog = NULL;
	tasq_metrics         *metrics  = NULL;
	tasq_fsync_mode       fmode    = TASQ_FSYNC_ALWAYS;
	nng_tls_config       *tls      = NULL;
	char                  err[512];
	char                **args;
	int                   level, rv, status = 1;
	struct sigaction      sa;

	tasq_log_init("tasq-server");
	if ((args = calloc((size_t) argc + 1, sizeof(*args))) == NULL) {
		return (1);
	}
	oc.prog         = "tasq-server";
	oc.usage        = usage;
	oc.version      = TASQ_VERSION;
	oc.tables       = tables;
	oc.args         = args;
	oc.allow_config = true;
	if ((rv = tasq_opt_parse(&oc, argc - 1, argv + 1)) != TASQ_OPT_OK) {
		status = rv == TASQ_OPT_EXIT_OK ? 0 : 2;
		goto out;
	}
	status = 2;
	if (oc.nargs > 0) {
		fprintf(stderr, "tasq-server: unexpected argument '%s'\n",
		    args[0]);
		goto out;
	}
	if ((level = tasq_log_level_parse(cfg.log_level)) < 0) {
		fprintf(stderr,
		    "tasq-server: --log-level: '%s' is not error, "
		    "warn, info or debug\n",
		    cfg.log_level);
		goto out;
	}
	tasq_log_set_level(level);
	if (tasq_log_format_parse(cfg.log_format) != 0) {
		fprintf(stderr, "%s: --log-format is text or json\n", argv[0]);
		goto out;
	}
	// nng's threads (made at its first use) start with SIGTERM and
	// SIGINT blocked, so that the handler always runs on this thread.
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	if (tasq_keyring_setup(cfg.key_file, &keys, err, sizeof(err)) != 0) {
		fprintf(stderr, "tasq-server: %s\n", err);
		goto out;
	}
	if (tasq_tls_setup(cfg.tls_engine, cfg.tls_min, cfg.tls_max, err,
	        sizeof(err)) != 0) {
		fprintf(stderr, "tasq-server: %s\n", err);
		goto out;
	}
	if (tasq_url_is_tls(cfg.listen) &&
	    tasq_tls_server_config(cfg.tls_cert, cfg.tls_key,
	        cfg.tls_client_ca, &tls, err, sizeof(err)) != 0) {
		fprintf(stderr, "tasq-server: %s\n", err);
		goto out;
	}
	if (strcmp(cfg.fsync, "always") == 0) {
		fmode = TASQ_FSYNC_ALWAYS;
	} else if (strcmp(cfg.fsync, "batch") == 0) {
		fmode = TASQ_FSYNC_BATCH;
	} else if (strcmp(cfg.fsync, "never") == 0) {
		fmode = TASQ_FSYNC_NEVER;
	} else {
		fprintf(stderr,
		    "tasq-server: --fsync: '%s' is not always, "
		    "batch or never\n",
		    cfg.fsync);
		goto out;
	}
	if (oc.check_config) {
		printf("configuration ok\n");
		status = 0;
		goto out;
	}
	status              = 1;
	tasq_broker_conf bc = {
		.max_tasks    = cfg.max_tasks,
		.max_batch    = (uint32_t) cfg.max_batch,
		.max_queues   = (uint32_t) cfg.max_queues,
		.max_jobs     = (uint32_t) cfg.max_jobs,
		.max_workers  = (uint32_t) cfg.max_workers,
		.lease_ms     = (uint32_t) cfg.lease_ms,
		.max_attempts = (uint32_t) cfg.max_attempts,
		.job_ttl_ms   = cfg.job_ttl_ms,
		.max_fetch    = 65536,
		.max_lease    = 65536,
		.seq_base     = tasq_random64() & 0xffffffff00000000ULL,
	};
	tasq_service_conf sc = { .max_wait_ms = (uint32_t) cfg.max_wait_ms };
	tasq_rpc_conf     rc = {
		    .url           = cfg.listen,
		    .tls           = tls,
		    .keys          = keys,
		    .max_msg_bytes = cfg.max_msg,
		    .contexts      = (uint32_t) cfg.contexts,
		    .max_conns     = (uint32_t) cfg.max_conns,
		    .max_inflight  = (uint32_t) cfg.max_inflight,
		    .max_unauth    = (uint32_t) cfg.max_unauth,
		    .auth_ms       = cfg.auth_ms,
	};
	if ((rv = tasq_broker_alloc(&broker, &bc, tasq_rpc_wake)) != 0 ||
	    (rv = tasq_service_alloc(&svc, broker, &sc)) != 0 ||
	    (rv = tasq_replay_alloc(&replay, 65536, cfg.skew_ms,
	         tasq_clock_stamp_ms(), 2000)) != 0) {
		tasq_err("cannot start: %s", tasq_strerror(rv));
		goto out;
	}
	if (cfg.data_dir != NULL) {
		tasq_journal_conf jc = {
			.dir              = cfg.data_dir,
			.mode             = fmode,
			.batch_ms         = (uint32_t) cfg.fsync_interval_ms,
			.compact_bytes    = cfg.compact_bytes,
			.truncate_corrupt = cfg.recover_truncate,
		};
		uint64_t recs, bytes;
		nng_time t0 = nng_clock();
		if (tasq_journal_open(&journal, &jc, err, sizeof(err)) != 0) {
			tasq_err("%s", err);
			goto out;
		}
		if (tasq_broker_recover(broker, journal, err, sizeof(err),
		        &recs, &bytes) != 0) {
			tasq_err("recovery failed: %s", err);
			goto out;
		}
		if (tasq_journal_start(journal, err, sizeof(err)) != 0) {
			tasq_err("%s", err);
			goto out;
		}
		tasq_info(
		    "recovered %llu records (%llu journal bytes) from %s "
		    "in %llu ms; fsync %s",
		    (unsigned long long) recs, (unsigned long long) bytes,
		    cfg.data_dir, (unsigned long long) (nng_clock() - t0),
		    cfg.fsync);
	}
	rc.journal = journal;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	rv = tasq_rpc_start(&rpc, &rc, svc, broker, replay, err, sizeof(err));
	pthread_sigmask(SIG_UNBLOCK, &sigs, NULL);
	if (rv != 0) {
		tasq_err("%s", err);
		goto out;
	}
	tasq_info("tasq-server %s serving on %s (port %d), %d key(s), "
	          "lease %llums",
	    TASQ_VERSION, cfg.listen, tasq_rpc_bound_port(rpc),
	    tasq_keyring_count(keys), (unsigned long long) cfg.lease_ms);
	if (cfg.ready_file != NULL &&
	    write_ready_file(
	        cfg.ready_file, cfg.listen, tasq_rpc_bound_port(rpc)) != 0) {
		tasq_log_errno(
		    TASQ_LOG_ERROR, "cannot write %s", cfg.ready_file);
		goto out;
	}
	if (cfg.metrics_listen != NULL &&
	    tasq_metrics_start(&metrics, cfg.metrics_listen, broker, rpc,
	        journal, err, sizeof(err)) != 0) {
		tasq_err("%s", err);
		goto out;
	}
	if (cfg.watchdog_ms > 0) {
		char local[1024];
		if (tasq_rpc_local_url(rpc, local, sizeof(local)) != 0 ||
		    (rv = tasq_watchdog_start(&watchdog, local, keys, rpc,
		         broker, (uint32_t) cfg.watchdog_ms)) != 0) {
			tasq_err("cannot start the watchdog");
			goto out;
		}
	}
	// The one timer: lease expiry, job expiry, replay-table pruning.
	for (unsigned tick = 0; stop_signal == 0; tick++) {
		nng_msleep(100);
		tasq_broker_tick(broker, tasq_clock_mono_ms());
		if (tick % 10 == 0) {
			(void) tasq_rpc_reap(rpc, cfg.idle_ms);
		}
		if (journal != NULL && tick % 10 == 0) {
			(void) tasq_broker_compact(broker);
		}
		if (tick % 100 == 0) {
			tasq_replay_gc(replay, tasq_clock_stamp_ms());
		}
	}
	tasq_info("signal %d: shutting down", (int) stop_signal);
	status = 0;
out:
	tasq_metrics_stop(metrics);
	tasq_watchdog_stop(watchdog);
	tasq_rpc_close(rpc);
	tasq_journal_close(journal); // flushes and syncs what is left
	tasq_rpc_free(rpc);
	tasq_replay_free(replay);
	tasq_service_free(svc);
	tasq_broker_free(broker);
	if (tls != NULL) {
		nng_tls_config_free(tls);
	}
	tasq_keyring_free(keys);
	tasq_opt_free(tables);
	free(args);
	return (status);
}
