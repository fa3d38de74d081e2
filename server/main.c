// tasq-server: hosts the task and result queues. main() is the table of
// contents: options, then the server object (server/server.h) from start
// to a bounded shutdown. Signals are taken synchronously with signalfd:
// they are blocked before any thread starts, so no thread is ever
// interrupted by one and no flag is polled.
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "auth.h"
#include "clock.h"
#include "commonopt.h"
#include "err.h"
#include "heartbeat.h"
#include "crash.h"
#include "log.h"
#include "opt.h"
#include "peers.h"
#include "rand.h"
#include "sockclose.h"
#include "rpc.h"
#include "server.h"
#include "tls.h"

// The longest a shutdown may take from the first SIGTERM or SIGINT to the
// exit (tasq-server(8), SIGNALS). Past it, or at a second signal, the
// server exits 1 at once without closing the journal.
#define SHUTDOWN_MS 10000

static struct {
	char    *listen;
	char    *ready_file;
	char    *data_dir;
	char    *fsync;
	uint64_t fsync_interval_ms;
	uint64_t compact_bytes;
	bool     recover_truncate;
	uint64_t watchdog_ms;
	uint64_t idle_ms;
	char    *metrics_listen;
	char    *heartbeat_listen;
	uint64_t max_inflight;
	uint64_t lease_ms;
	uint64_t max_attempts;
	uint64_t max_tasks;
	uint64_t max_payload_bytes;
	uint64_t max_dead;
	uint64_t max_batch;
	uint64_t max_msg;
	uint64_t max_queues;
	uint64_t max_jobs;
	uint64_t max_workers;
	uint64_t max_conns;
	uint64_t max_unauth;
	uint64_t auth_ms;
	uint64_t job_ttl_ms;
	uint64_t result_ttl_ms;
	uint64_t contexts;
	uint64_t max_wait_ms;
	uint64_t skew_ms;
	char    *peers;
	uint64_t peers_refresh_ms;
	char    *peers_tls_cert; // --peers-tls-cert (NULL: see configure)
	char    *peers_tls_key;

	tasq_commonopt_cfg common; // key, TLS, log (lib/commonopt.h)
} cfg;

static const tasq_opt server_opts[] = {
	{ "listen", 'l', TASQ_OPT_URL, "TASQ_LISTEN", "tcp://0.0.0.0:7070",
	    "URL", "address to serve on (tcp://, tls+tcp://, ipc://)",
	    &cfg.listen, TASQ_URL_LISTEN, 0, false },
	TASQ_COMMONOPT_KEY(&cfg.common),
	TASQ_COMMONOPT_TLS_LISTENER(&cfg.common),
	{ "lease", 0, TASQ_OPT_MS, "TASQ_LEASE", "30s", "DURATION",
	    "how long a worker holds tasks before they are redelivered",
	    &cfg.lease_ms, 100, 86400000, false },
	{ "max-attempts", 0, TASQ_OPT_U64, NULL, "5", "N",
	    "deliveries of a task before it is dead-lettered",
	    &cfg.max_attempts, 1, 1000, false },
	{ "max-tasks", 0, TASQ_OPT_U64, NULL, "20000000", "N",
	    "tasks held at once (queued, leased, results not fetched)",
	    &cfg.max_tasks, 1, 1000000000, false },
	{ "max-payload-bytes", 0, TASQ_OPT_SIZE, NULL, "1GiB", "SIZE",
	    "payload and result bytes held at once (with max-tasks)",
	    &cfg.max_payload_bytes, 1024, (uint64_t) 1 << 40, false },
	{ "max-dead", 0, TASQ_OPT_U64, NULL, "100000", "N",
	    "dead letters kept (the oldest go first)", &cfg.max_dead, 1,
	    100000000, false },
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
	{ "result-ttl", 0, TASQ_OPT_MS, NULL, "1h", "DURATION",
	    "keep a detached job's results this long after it is done, "
	    "unless its client says (tasq submit --result-ttl)",
	    &cfg.result_ttl_ms, 1000, 30 * 86400000ULL, false },
	{ "contexts", 0, TASQ_OPT_U64, NULL, "256", "N",
	    "requests served at once (long-polls included)", &cfg.contexts, 4,
	    65536, false },
	{ "max-wait", 0, TASQ_OPT_MS, NULL, "30s", "DURATION",
	    "longest long-poll", &cfg.max_wait_ms, 0, 3600000, false },
	{ "clock-skew", 0, TASQ_OPT_MS, NULL, "5m", "DURATION",
	    "how far a request's stamp (the server's time as the peer "
	    "learned it) may be from our clock (replay protection)",
	    &cfg.skew_ms, 1000, 86400000, false },
	TASQ_COMMONOPT_LOG(&cfg.common, "info"),
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
	{ "metrics-listen", 0, TASQ_OPT_URL, "TASQ_METRICS_LISTEN", NULL,
	    "URL",
	    "serve /metrics (Prometheus), /healthz, /api/stats and a "
	    "dashboard at http://HOST:PORT",
	    &cfg.metrics_listen, TASQ_URL_HTTP, 0, false },
	{ "heartbeat-listen", 0, TASQ_OPT_STR, "TASQ_HEARTBEAT_LISTEN", NULL,
	    "URL",
	    "take workers' lease heartbeats (push/pull) here (default: "
	    "--listen with port + 1, or path.hb for ipc://; none: off)",
	    &cfg.heartbeat_listen, 0, 0, false },
	{ "ready-file", 0, TASQ_OPT_STR, NULL, NULL, "FILE",
	    "once serving, write the URL (with the real port) to FILE; "
	    "with --metrics-listen, its URL on a second line",
	    &cfg.ready_file, 0, 0, false },
	// The dashboard across servers (h-sdash, issue 15: server/peers.h).
	{ "peers", 0, TASQ_OPT_URLS, "TASQ_PEERS", NULL, "URL",
	    "every server of the cluster, this one included (URL,URL,... "
	    "or a name with several addresses): the dashboard and "
	    "/api/stats sum them and show each (with --metrics-listen)",
	    &cfg.peers, 0, 0, false },
	{ "peers-refresh", 0, TASQ_OPT_MS, "TASQ_PEERS_REFRESH", "2s",
	    "DURATION",
	    "ask the --peers this often (each request bounded by it too)",
	    &cfg.peers_refresh_ms, 200, 60000, false },
	{ "tls-ca", 0, TASQ_OPT_STR, "TASQ_TLS_CA", NULL, "FILE",
	    "CA that signed the certificates of tls+tcp:// --peers",
	    &cfg.common.tls_ca, 0, 0, false },
	{ "tls-server-name", 0, TASQ_OPT_STR, NULL, NULL, "NAME",
	    "name expected in the --peers' certificates (default: URL "
	    "host)",
	    &cfg.common.tls_server_name, 0, 0, false },
	{ "peers-tls-cert", 0, TASQ_OPT_STR, "TASQ_PEERS_TLS_CERT", NULL,
	    "FILE",
	    "client certificate (PEM) shown to tls+tcp:// --peers that "
	    "require one (without it: --tls-cert, with --tls-client-ca)",
	    &cfg.peers_tls_cert, 0, 0, false },
	{ "peers-tls-key", 0, TASQ_OPT_STR, "TASQ_PEERS_TLS_KEY", NULL, "FILE",
	    "private key of --peers-tls-cert (PEM)", &cfg.peers_tls_key, 0, 0,
	    false },
	TASQ_OPT_END,
};

// The heartbeat address in use ("": none).
static char hb_url[1024];

// --peers as the server takes it (server/peers.h).
static tasq_peers_conf peers;

static const char usage[] =
    "Usage: tasq-server [options]\n"
    "Hosts tasq's task and result queues for workers and clients.\n";

// The client certificate that dc (the server's settings, as a dialer's)
// shows the --peers: --peers-tls-cert if given, else the server's own
// --tls-cert when the server requires client certificates itself (its
// peers, alike, will ask for one: a certificate of deploy/gen-certs.sh
// is good for both ends), else none. A certificate for server
// authentication only is refused by peers that require one (their
// refusal is what the dashboard shows): --peers-tls-cert is for such
// certificates, or to show the peers a client identity of its own.
static int
peers_cert(tasq_commonopt_cfg *dc, char *err, size_t errlen)
{
	int rv;

	if ((cfg.peers_tls_cert == NULL) != (cfg.peers_tls_key == NULL)) {
		snprintf(err, errlen,
		    "--%s without --%s: a client certificate needs both",
		    cfg.peers_tls_cert != NULL ? "peers-tls-cert"
		                               : "peers-tls-key",
		    cfg.peers_tls_cert != NULL ? "peers-tls-key"
		                               : "peers-tls-cert");
		return (TASQ_EINVALID_ARGUMENT);
	}
	if (cfg.peers_tls_cert == NULL) {
		if (cfg.common.tls_client_ca == NULL) {
			dc->tls_cert = dc->tls_key = NULL;
		}
		return (0);
	}
	// Checked here, under their own names (tasq_commonopt_check would
	// call them --tls-cert and --tls-key).
	if (strstr(cfg.peers, "tls+") != NULL &&
	    ((rv = tasq_commonopt_readable(
	          "peers-tls-cert", cfg.peers_tls_cert, err, errlen)) != 0 ||
	        (rv = tasq_commonopt_readable(
	             "peers-tls-key", cfg.peers_tls_key, err, errlen)) != 0)) {
		return (rv);
	}
	dc->tls_cert = cfg.peers_tls_cert;
	dc->tls_key  = cfg.peers_tls_key;
	return (0);
}

// Checks the options and turns them into the server's configuration.
// Returns -1 to go on, else the exit status (0 for --help, --version and
// --check-config).
static int
configure(tasq_opt_ctx *oc, int argc, char **argv, tasq_server_conf *sc,
    tasq_keyring **keys, nng_tls_config **tls)
{
	tasq_fsync_mode fmode;
	char            err[512];
	bool            hb_fallback;
	int             flags = 0, rv;

	if ((rv = tasq_opt_parse(oc, argc - 1, argv + 1)) != TASQ_OPT_OK) {
		return (rv == TASQ_OPT_EXIT_OK ? 0 : 2);
	}
	if (oc->nargs > 0) {
		fprintf(stderr, "tasq-server: unexpected argument '%s'\n",
		    oc->args[0]);
		return (2);
	}
	// The heartbeat address first: whether TLS is in use depends on it.
	// Its warning waits for the log level.
	hb_fallback = false;
	if (cfg.heartbeat_listen == NULL) {
		if (tasq_heartbeat_default_url(
		        cfg.listen, hb_url, sizeof(hb_url)) != 0) {
			hb_url[0]   = '\0';
			hb_fallback = true;
		}
	} else if (strcmp(cfg.heartbeat_listen, "none") != 0) {
		snprintf(hb_url, sizeof(hb_url), "%s", cfg.heartbeat_listen);
	}
	if (tasq_url_is_tls(cfg.listen) || tasq_url_is_tls(hb_url)) {
		flags |= TASQ_COMMONOPT_TLS;
	}
	if (tasq_commonopt_setup(&cfg.common, TASQ_COMMONOPT_LISTENER, flags,
	        keys, tls, err, sizeof(err)) != 0) {
		fprintf(stderr, "tasq-server: %s\n", err);
		return (2);
	}
	if (hb_fallback) {
		// The default only: serve without it (RPC extends).
		tasq_warn("no heartbeat address derives from --listen "
		          "%s (give --heartbeat-listen URL); serving "
		          "without a heartbeat port",
		    cfg.listen);
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
		return (2);
	}
	if (cfg.peers != NULL) {
		// tasq-server dials its --peers as a client does: the same
		// checks (--tls-ca given and readable for tls+tcp://, our
		// certificate as a client one).
		tasq_commonopt_cfg dc = cfg.common;
		if (peers_cert(&dc, err, sizeof(err)) != 0) {
			fprintf(stderr, "tasq-server: %s\n", err);
			return (2);
		}
		if (tasq_commonopt_check(&dc, TASQ_COMMONOPT_DIALER,
		        strstr(cfg.peers, "tls+") != NULL, err,
		        sizeof(err)) != 0) {
			fprintf(stderr, "tasq-server: --peers: %s\n", err);
			return (2);
		}
		if (cfg.metrics_listen == NULL) {
			tasq_warn("--peers without --metrics-listen: no "
			          "dashboard shows them");
		}
		peers = (tasq_peers_conf) {
			.peers           = cfg.peers,
			.key_file        = cfg.common.key_file,
			.key             = getenv("TASQ_KEY"),
			.tls_ca          = dc.tls_ca,
			.tls_server_name = dc.tls_server_name,
			.tls_cert        = dc.tls_cert,
			.tls_key         = dc.tls_key,
			.tls_engine      = dc.tls_engine,
			.tls_min         = dc.tls_min,
			.tls_max         = dc.tls_max,
			.refresh_ms      = (uint32_t) cfg.peers_refresh_ms,
		};
	}
	if (cfg.peers == NULL && cfg.peers_tls_cert != NULL) {
		tasq_warn("--peers-tls-cert without --peers: no peer is "
		          "shown it");
	}
	if (oc->check_config) {
		printf("configuration ok\n");
		return (0);
	}
	*sc = (tasq_server_conf) {
		.broker = {
			.max_tasks    = cfg.max_tasks,
			.max_payload_bytes = cfg.max_payload_bytes,
			.max_dead = cfg.max_dead,
			.max_batch    = (uint32_t) cfg.max_batch,
			.max_queues   = (uint32_t) cfg.max_queues,
			.max_jobs     = (uint32_t) cfg.max_jobs,
			.max_workers  = (uint32_t) cfg.max_workers,
			.lease_ms     = (uint32_t) cfg.lease_ms,
			.max_attempts = (uint32_t) cfg.max_attempts,
			.job_ttl_ms   = cfg.job_ttl_ms,
			.result_ttl_ms = cfg.result_ttl_ms,
			.max_fetch    = 65536,
			.max_lease    = 65536,
			.seq_base = tasq_random64() & 0xffffffff00000000ULL,
		},
		.service = { .max_wait_ms = (uint32_t) cfg.max_wait_ms },
		.rpc = {
			.url           = cfg.listen,
			.tls           = *tls,
			.keys          = *keys,
			.max_msg_bytes = cfg.max_msg,
			.contexts      = (uint32_t) cfg.contexts,
			.max_conns     = (uint32_t) cfg.max_conns,
			.max_inflight  = (uint32_t) cfg.max_inflight,
			.max_unauth    = (uint32_t) cfg.max_unauth,
			.auth_ms       = cfg.auth_ms,
		},
		.skew_ms           = cfg.skew_ms,
		.data_dir          = cfg.data_dir,
		.fsync             = fmode,
		.fsync_name        = cfg.fsync,
		.fsync_interval_ms = (uint32_t) cfg.fsync_interval_ms,
		.compact_bytes     = cfg.compact_bytes,
		.recover_truncate  = cfg.recover_truncate,
		.watchdog_ms       = (uint32_t) cfg.watchdog_ms,
		.idle_ms           = cfg.idle_ms,
		.metrics_listen    = cfg.metrics_listen,
		.heartbeat_listen  = hb_url[0] != '\0' ? hb_url : NULL,
		.heartbeat_derived = cfg.heartbeat_listen == NULL,
		.ready_file        = cfg.ready_file,
		.peers             = cfg.peers != NULL ? &peers : NULL,
	};
	return (-1);
}

// Waits for a signal on sfd for at most ms (-1: forever). Returns it, 0
// when the time ran out, or -1 when done_fd (if >= 0) became readable.
static int
next_signal(int sfd, int done_fd, int ms)
{
	nng_time until = ms < 0 ? 0 : nng_clock() + (nng_time) ms;

	for (;;) {
		struct pollfd p[2] = { { .fd = sfd, .events = POLLIN },
			{ .fd = done_fd, .events = POLLIN } };
		int           left = -1;
		if (ms >= 0) {
			nng_time now = nng_clock();
			left         = now >= until ? 0 : (int) (until - now);
		}
		int n = poll(p, done_fd >= 0 ? 2 : 1, left);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n > 0 && done_fd >= 0 && p[1].revents != 0) {
			return (-1);
		}
		if (n <= 0) {
			return (0);
		}
		struct signalfd_siginfo si;
		if (read(sfd, &si, sizeof(si)) == (ssize_t) sizeof(si)) {
			return ((int) si.ssi_signo);
		}
	}
}

struct stopper {
	tasq_server *srv;
	int          done_fd; // eventfd: written once stopped
	int          rv;
};

static void *
stopper_main(void *arg)
{
	struct stopper *st  = arg;
	uint64_t        one = 1;

	st->rv = tasq_server_stop(st->srv);
	(void) !write(st->done_fd, &one, sizeof(one));
	return (NULL);
}

// Stops the server on a thread of its own, so that this one can watch
// the deadline and a second signal. Returns the exit status; does not
// return when the shutdown is cut short.
static int
shutdown_within(tasq_server *srv, int sfd, int ms)
{
	struct stopper st = { .srv = srv, .done_fd = -1 };
	pthread_t      t;
	int            sig;

	// The whole shutdown runs under the deadline, its first steps
	// (tasq_server_close: the watchdog, the listeners) included.
	if ((st.done_fd = eventfd(0, EFD_CLOEXEC)) < 0 ||
	    pthread_create(&t, NULL, stopper_main, &st) != 0) {
		tasq_log_errno(TASQ_LOG_WARN, "shutdown without a deadline");
		(void) tasq_server_stop(srv);
		return (0);
	}
	if ((sig = next_signal(sfd, st.done_fd, ms)) > 0) {
		tasq_err("signal %d again: exiting now, without closing the "
		         "journal",
		    sig);
		// The stopper is abandoned, not leaked (ThreadSanitizer
		// reports an unjoined thread at exit).
		(void) pthread_detach(t);
		_exit(1);
	}
	if (sig == 0) {
		tasq_err("shutdown did not finish in %d s: exiting now, "
		         "without closing the journal",
		    ms / 1000);
		(void) pthread_detach(t);
		_exit(1);
	}
	pthread_join(t, NULL);
	close(st.done_fd);
	return (0);
}

int
main(int argc, char **argv)
{
	const tasq_opt *const tables[] = { server_opts, NULL };
	tasq_opt_ctx          oc       = { 0 };
	tasq_server_conf      sc;
	tasq_keyring         *keys = NULL;
	nng_tls_config       *tls  = NULL;
	tasq_server          *srv  = NULL;
	char                  err[512];
	char                **args;
	sigset_t              sigs;
	int                   sfd = -1, sig, status;

	tasq_log_init("tasq-server");
	tasq_crash_init();
	// Before any thread starts (nng's included): every thread inherits
	// the mask, and the signals are read from sfd only.
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((args = calloc((size_t) argc + 1, sizeof(*args))) == NULL) {
		return (1);
	}
	oc = (tasq_opt_ctx) { .prog = "tasq-server",
		.usage              = usage,
		.version            = TASQ_VERSION,
		.tables             = tables,
		.args               = args,
		.allow_config       = true };
	if ((status = configure(&oc, argc, argv, &sc, &keys, &tls)) >= 0) {
		goto out;
	}
	status = 1;
	if ((sfd = signalfd(-1, &sigs, SFD_CLOEXEC)) < 0) {
		tasq_log_errno(TASQ_LOG_ERROR, "signalfd");
		goto out;
	}
	if (tasq_server_alloc(&srv, &sc, err, sizeof(err)) != 0 ||
	    tasq_server_start(srv, err, sizeof(err)) != 0) {
		tasq_err("%s", err);
		goto out;
	}
	sig = next_signal(sfd, -1, -1);
	tasq_info("signal %d: shutting down (at most %d s)", sig,
	    SHUTDOWN_MS / 1000);
	status = shutdown_within(srv, sfd, SHUTDOWN_MS);
	tasq_info("stopped");
out:
	tasq_server_free(srv);
	if (sfd >= 0) {
		close(sfd);
	}
	if (tls != NULL) {
		nng_tls_config_free(tls);
	}
	tasq_keyring_free(keys);
	tasq_opt_free(tables);
	free(args);
	if (tasq_rpc_abandoned() || tasq_heartbeat_abandoned() ||
	    tasq_sock_abandoned() != 0) {
		// A socket nng 1.5.2 could not close was left behind, with its
		// pipes and TLS state and the nng threads stuck on it: exit
		// handlers (nng's own, LeakSanitizer's) must not run beside
		// them. The journal is closed and the logs written by now.
		fflush(stdout);
		fflush(stderr);
		_exit(status);
	}
	return (status);
}
