// tasq-worker: a supervisor of N worker processes (the seed's
// multiprocessing.Pool). It restarts a worker that dies, forwards SIGTERM
// so that workers drain, and its workers die with it: each asks the
// kernel for SIGKILL when its parent goes (PR_SET_PDEATHSIG), so even a
// kill -9 of the supervisor leaves no orphan.
//
// The supervisor takes SIGTERM, SIGINT and SIGCHLD from a signalfd,
// blocked from the start: a signal that arrives while it is busy waits in
// the descriptor instead of being lost before a blocking wait (it once
// checked a flag and then blocked in waitpid(2), and a SIGTERM between
// the two went unseen until some child died).
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "commonopt.h"
#include "handler.h"
#include "crash.h"
#include "log.h"
#include "opt.h"
#include "serve.h"

// What the server takes (docs/PROTOCOL.md): names of types and queues,
// queues a worker serves at once, a queue's weight.
#define NAME_MAX_LEN 64
#define MAX_QUEUES 16
#define MAX_WEIGHT 100

// A type or queue name: 1 to 64 characters of [A-Za-z0-9._-].
static bool
valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > NAME_MAX_LEN) {
		return (false);
	}
	return (strspn(s,
	            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	            "0123456789._-") == n);
}

struct queue_weight {
	const char *name;
	uint32_t    weight;
};

static volatile sig_atomic_t stop_signal;

static void
on_signal(int sig)
{
	stop_signal = sig;
}

static struct {
	char    *server;
	char    *queue;
	uint64_t task_timeout_ms;
	uint64_t cancel_grace_ms;
	uint64_t each_parallel;
	uint64_t procs;
	uint64_t batch;
	uint64_t pipeline;
	uint64_t wait_ms;
	uint64_t timeout_ms;
	uint64_t task_delay_ms;
	uint64_t max_msg;
	uint64_t max_req;
	uint64_t drain_ms;
	uint64_t resolve_ms;
	char    *heartbeat;
	bool     exit_on_auth_failure;

	tasq_commonopt_cfg common; // key, TLS, log (lib/commonopt.h)
} cfg;
static tasq_opt_list cfg_types; // --type, or the file's, or TASQ_TYPE's

static const tasq_opt worker_opts[] = {
	{ "server", 's', TASQ_OPT_URLS, "TASQ_SERVER", "tcp://127.0.0.1:7070",
	    "URL",
	    "the server's address, or several servers': URL,URL,... or a "
	    "name with several addresses (tasks are leased from each in "
	    "turn)",
	    &cfg.server, 0, 0, false },
	{ "resolve-interval", 0, TASQ_OPT_MS, NULL, "30s", "DURATION",
	    "several servers: look the names of --server up again this often "
	    "(servers added behind a name are served)",
	    &cfg.resolve_ms, 100, 86400000, false },
	TASQ_COMMONOPT_KEY(&cfg.common),
	{ "jobs", 'j', TASQ_OPT_U64, "TASQ_WORKERS", "1", "N",
	    "worker processes to run", &cfg.procs, 1, 1024, false },
	{ "queue", 'q', TASQ_OPT_STR, "TASQ_QUEUE", "default", "NAME[:W],...",
	    "queue to work on, or several taken in turn by weight W (1-100, "
	    "default 1)",
	    &cfg.queue, 0, 0, false },
	{ "batch-size", 'b', TASQ_OPT_U64, NULL, "16384", "N",
	    "most tasks leased at once", &cfg.batch, 1, 65536, false },
	{ "pipeline", 0, TASQ_OPT_U64, NULL, "2", "N",
	    "leases in flight per process", &cfg.pipeline, 1, 64, false },
	{ "wait", 0, TASQ_OPT_MS, NULL, "1s", "DURATION",
	    "long-poll for tasks", &cfg.wait_ms, 0, 60000, false },
	{ "timeout", 0, TASQ_OPT_MS, NULL, "10s", "DURATION",
	    "deadline of one request", &cfg.timeout_ms, 100, 3600000, false },
	{ "drain-timeout", 0, TASQ_OPT_MS, NULL, "60s", "DURATION",
	    "after SIGTERM, how long workers may take before SIGKILL",
	    &cfg.drain_ms, 100, 3600000, false },
	TASQ_COMMONOPT_TLS_DIALER(&cfg.common),
	{ "max-message", 0, TASQ_OPT_SIZE, NULL, "16MiB", "SIZE",
	    "largest reply accepted", &cfg.max_msg, 1024, 1073741824, false },
	{ "max-request", 0, TASQ_OPT_SIZE, NULL, "4MiB", "SIZE",
	    "results go in requests of at most this (the server's "
	    "--max-message or less); more go in several",
	    &cfg.max_req, 2097152, 1073741824, false },
	{ "type", 't', TASQ_OPT_LIST, "TASQ_TYPE", NULL, "NAME=HANDLER",
	    "serve task type NAME with HANDLER: builtin:square, "
	    "builtin:sha256, exec:CMD, exec-each:CMD or plugin:LIB.so "
	    "(repeatable; default square=builtin:square)",
	    &cfg_types, 0, 0, false },
	{ "task-timeout", 0, TASQ_OPT_MS, NULL, "0", "DURATION",
	    "fail a task its handler runs longer than this with "
	    "DEADLINE_EXCEEDED (0: no limit)",
	    &cfg.task_timeout_ms, 0, 86400000, false },
	{ "cancel-grace", 0, TASQ_OPT_MS, NULL, "2s", "DURATION",
	    "when a job is cancelled, how long its exec and exec-each "
	    "children have after SIGTERM before SIGKILL",
	    &cfg.cancel_grace_ms, 1, 3600000, false },
	{ "exec-each-jobs", 0, TASQ_OPT_U64, NULL, "4", "N",
	    "exec-each: commands run at once per lease in flight",
	    &cfg.each_parallel, 1, 1024, false },
	{ "heartbeat", 0, TASQ_OPT_STR, "TASQ_HEARTBEAT", NULL, "URL",
	    "push lease heartbeats here (default: the port the server's "
	    "health reply names, on --server's host; none: Extend RPC only)",
	    &cfg.heartbeat, 0, 0, false },
	{ "task-delay", 0, TASQ_OPT_MS, NULL, "0", "DURATION",
	    "extra time per task (testing and demos)", &cfg.task_delay_ms, 0,
	    60000, false },
	{ "exit-on-auth-failure", 0, TASQ_OPT_BOOL,
	    "TASQ_EXIT_ON_AUTH_FAILURE", NULL, NULL,
	    "exit with status 4 when the server refuses the key or its TLS "
	    "certificate is not trusted, instead of retrying with backoff",
	    &cfg.exit_on_auth_failure, 0, 0, false },
	TASQ_COMMONOPT_LOG(&cfg.common, "info"),
	TASQ_OPT_END,
};

static const char usage[] =
    "Usage: tasq-worker [options]\n"
    "Runs -j N worker processes that take tasks of the types given with\n"
    "--type from a tasq server, run each batch through the type's handler\n"
    "(docs/HANDLERS.md) and return the results. SIGTERM drains: tasks in\n"
    "hand are finished or handed back, then the workers and the\n"
    "supervisor exit 0.\n";

// --type NAME=HANDLER, repeatable (a TASQ_OPT_LIST: every --type, or
// else every type line of the configuration file, or else the lines of
// TASQ_TYPE; lib/opt.h).
#define MAX_TYPES 64
static const char *type_names[MAX_TYPES];
static const char *type_handlers[MAX_TYPES];
static char       *type_mem[MAX_TYPES];

// Splits and checks the types (exit status 2 on error).
// --queue: NAME, or NAME[:W],... (at most TASQ_WIRE_MAX_QUEUES, each
// once). Splits spec in place into queues[] (names point into spec); *n
// is how many. Returns 0, or -1 with a message on stderr.
static int
queues_parse(char *spec, struct queue_weight *queues, size_t *n)
{
	char *save = NULL, *tok;

	*n = 0;
	for (tok = strtok_r(spec, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		char         *colon = strchr(tok, ':');
		unsigned long w     = 1;
		if (colon != NULL) {
			char *end = NULL;
			*colon    = '\0';
			errno     = 0;
			w         = strtoul(colon + 1, &end, 10);
			if (colon[1] < '0' || colon[1] > '9' || *end != '\0' ||
			    errno != 0 || w < 1 || w > MAX_WEIGHT) {
				fprintf(stderr,
				    "tasq-worker: --queue: the weight of '%s' "
				    "must be 1-100\n",
				    tok);
				return (-1);
			}
		}
		if (!valid_name(tok)) {
			fprintf(stderr,
			    "tasq-worker: --queue must be 1-64 characters "
			    "of [A-Za-z0-9._-], or NAME:WEIGHT,... of "
			    "those\n");
			return (-1);
		}
		for (size_t i = 0; i < *n; i++) {
			if (strcmp(queues[i].name, tok) == 0) {
				fprintf(stderr,
				    "tasq-worker: --queue names '%s' twice\n",
				    tok);
				return (-1);
			}
		}
		if (*n == MAX_QUEUES) {
			fprintf(stderr,
			    "tasq-worker: --queue: at most %d queues\n",
			    MAX_QUEUES);
			return (-1);
		}
		queues[*n].name   = tok;
		queues[*n].weight = (uint32_t) w;
		(*n)++;
	}
	if (*n == 0) {
		fprintf(stderr, "tasq-worker: --queue names no queue\n");
		return (-1);
	}
	return (0);
}

static int
types_setup(size_t *np)
{
	static const char *const def[]     = { "square=builtin:square" };
	const char *const       *type_arg  = (const char *const *) cfg_types.v;
	size_t                   ntype_arg = cfg_types.n;
	char                     err[512];
	size_t                   n = 0;

	if (ntype_arg == 0) {
		type_arg  = def;
		ntype_arg = 1;
	}
	if (ntype_arg > MAX_TYPES) {
		fprintf(stderr, "tasq-worker: at most %d --type\n", MAX_TYPES);
		return (-1);
	}
	for (size_t i = 0; i < ntype_arg; i++) {
		char *eq, *t = strdup(type_arg[i]);
		if (t == NULL) {
			return (-1);
		}
		type_mem[i] = t;
		if ((eq = strchr(t, '=')) == NULL) {
			fprintf(stderr,
			    "tasq-worker: --type '%s' is not NAME=HANDLER\n",
			    type_arg[i]);
			return (-1);
		}
		*eq = '\0';
		if (!valid_name(t)) {
			fprintf(stderr,
			    "tasq-worker: --type: the name '%s' must be 1-64 "
			    "characters of [A-Za-z0-9._-]\n",
			    t);
			return (-1);
		}
		if (!tasq_handler_spec_check(eq + 1, err, sizeof(err))) {
			fprintf(
			    stderr, "tasq-worker: --type %s: %s\n", t, err);
			return (-1);
		}
		for (size_t j = 0; j < n; j++) {
			if (strcmp(type_names[j], t) == 0) {
				fprintf(stderr,
				    "tasq-worker: --type %s given twice\n", t);
				return (-1);
			}
		}
		type_names[n]    = t;
		type_handlers[n] = eq + 1;
		n++;
	}
	*np = n;
	return (0);
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000);
}

// The supervisor's signals (blocked in it, read from its signalfd).
static sigset_t sup_sigs;

static pid_t
spawn(const tasq_worker_conf *wc, uint32_t slot, pid_t parent, int sfd)
{
	pid_t pid = fork();

	if (pid != 0) {
		return (pid); // parent, or -1
	}
	// Child. The parent may already be gone between fork and prctl;
	// checking getppid afterwards closes that window.
	(void) prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent) {
		_exit(1);
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	// A signal sent since the fork is delivered now, to the handler.
	close(sfd);
	sigprocmask(SIG_UNBLOCK, &sup_sigs, NULL);
	tasq_worker_conf c = *wc;
	c.slot             = slot;
	_exit(tasq_worker_run(&c, &stop_signal));
}

// Per slot: the worker's pid (0: none, -1: its fork failed), when it
// started, its quick failures in a row, and when to start it (0: not
// due). Statics: forked workers inherit them still reachable, not leaked.
static pid_t    *pids;
static bool      config_error; // a worker exited TASQ_WORKER_EXIT_CONFIG
static bool      auth_error;   // a worker exited TASQ_WORKER_EXIT_AUTH
static uint64_t *started;
static uint32_t *fails;
static uint64_t *due;

// Reaps every worker that ended and schedules its restart: at once, or
// after 1, 2, ... 5 s for one that keeps dying within 2 s of starting.
static void
reap(uint32_t n)
{
	int   st;
	pid_t pid;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (uint32_t i = 0; i < n; i++) {
			if (pids[i] != pid) {
				continue;
			}
			if (WIFEXITED(st) && WEXITSTATUS(st) == 1 &&
			    fails[i] > 5) {
				tasq_warn("worker %u keeps failing", i);
			}
			if (WIFEXITED(st) &&
			    WEXITSTATUS(st) == TASQ_WORKER_EXIT_CONFIG) {
				// Its handlers cannot be set up (a bad
				// plugin, ...): no restart will help.
				tasq_err("worker %u cannot run its handlers; "
				         "stopping",
				    i);
				pids[i]      = 0;
				config_error = true;
				continue;
			}
			if (WIFEXITED(st) &&
			    WEXITSTATUS(st) == TASQ_WORKER_EXIT_AUTH) {
				// Refused by the server, which the worker
				// told: an orchestrator is to see it.
				tasq_log(auth_error ? TASQ_LOG_DEBUG
				                    : TASQ_LOG_ERROR,
				    "worker %u was refused by the server "
				    "(--exit-on-auth-failure); stopping with "
				    "status %d",
				    i, TASQ_WORKER_EXIT_AUTH);
				pids[i]    = 0;
				auth_error = true;
				continue;
			}
			tasq_warn("worker %u (pid %d) %s %d; restarting", i,
			    (int) pid,
			    WIFSIGNALED(st) ? "killed by signal"
			                    : "exited with",
			    WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
			uint64_t now = mono_ms();
			fails[i] = now - started[i] < 2000 ? fails[i] + 1 : 0;
			due[i]   = now + 1000 * (fails[i] < 5 ? fails[i] : 5);
			pids[i]  = 0;
		}
	}
}

// Test-only (TASQ_TEST_SUPERVISOR_DELAY_US, tests/integration/
// supervisor_signal.sh): a pause just before the supervisor blocks, where
// a flag-checking loop would lose a signal.
static void
test_delay(void)
{
	const char *us = getenv("TASQ_TEST_SUPERVISOR_DELAY_US");

	if (us != NULL && atol(us) > 0) {
		struct timespec ts = { .tv_sec = atol(us) / 1000000,
			.tv_nsec               = (atol(us) % 1000000) * 1000 };
		nanosleep(&ts, NULL);
	}
}

// One turn of the supervisor: reap, start what is due, then wait for the
// next signal (SIGCHLD included) or restart. Returns the signal, or
// SIGCHLD when only a restart came due.
static int
supervise(const tasq_worker_conf *wc, uint32_t n, int sfd, pid_t self)
{
	uint64_t now  = mono_ms();
	int      wait = -1;

	reap(n);
	if (config_error || auth_error) {
		return (SIGTERM); // stop the others too
	}
	for (uint32_t i = 0; i < n; i++) {
		if (pids[i] > 0 || due[i] == 0) {
			continue;
		}
		if (due[i] > now) {
			uint64_t d = due[i] - now;
			wait =
			    wait < 0 || d < (uint64_t) wait ? (int) d : wait;
			continue;
		}
		started[i] = now;
		due[i]     = 0;
		if ((pids[i] = spawn(wc, i, self, sfd)) < 0) {
			tasq_log_errno(TASQ_LOG_ERROR, "fork");
			due[i] = now + 1000; // try again shortly
			wait   = wait < 0 || wait > 1000 ? 1000 : wait;
		}
	}
	test_delay();
	struct pollfd p = { .fd = sfd, .events = POLLIN };
	if (poll(&p, 1, wait) <= 0) {
		return (SIGCHLD); // a restart is due (or EINTR)
	}
	struct signalfd_siginfo si;
	if (read(sfd, &si, sizeof(si)) != (ssize_t) sizeof(si)) {
		return (SIGCHLD);
	}
	return ((int) si.ssi_signo);
}

// Forwards SIGTERM to every worker and waits up to --drain-timeout for
// them; SIGKILLs the late ones. Returns 0, or -1 when it had to.
static int
drain(uint32_t n, int sfd)
{
	uint64_t until = mono_ms() + cfg.drain_ms;
	int      st;
	pid_t    pid;

	for (uint32_t i = 0; i < n; i++) {
		if (pids[i] > 0) {
			kill(pids[i], SIGTERM);
		}
	}
	for (;;) {
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		}
		if (pid < 0 && errno == ECHILD) {
			return (0);
		}
		uint64_t now = mono_ms();
		if (now >= until) {
			break;
		}
		// Woken by the next SIGCHLD; further SIGTERMs change nothing.
		struct pollfd p = { .fd = sfd, .events = POLLIN };
		if (poll(&p, 1, (int) (until - now)) > 0) {
			struct signalfd_siginfo si;
			(void) !read(sfd, &si, sizeof(si));
		}
	}
	tasq_warn("workers did not drain in time; killing them");
	for (uint32_t i = 0; i < n; i++) {
		if (pids[i] > 0) {
			kill(pids[i], SIGKILL);
		}
	}
	while (waitpid(-1, NULL, 0) > 0) {
	}
	return (-1);
}

int
main(int argc, char **argv)
{
	const tasq_opt *const tables[] = { worker_opts, NULL };
	tasq_opt_ctx          oc       = { 0 };
	tasq_keyring         *keys     = NULL;
	char                  err[512];
	char                **args;
	int                   flags, rv, status = 2, sfd = -1, sig;
	size_t                ntypes = 0;
	struct queue_weight   queues[MAX_QUEUES];
	const char           *qnames[MAX_QUEUES];
	uint32_t              qweights[MAX_QUEUES];
	size_t                nqueues = 0;
	char                 *qspec   = NULL;
	pid_t                 self    = getpid();

	tasq_log_init("tasq-worker");
	tasq_crash_init();
	if ((args = calloc((size_t) argc + 1, sizeof(*args))) == NULL) {
		return (1);
	}
	oc.prog         = "tasq-worker";
	oc.usage        = usage;
	oc.version      = TASQ_VERSION;
	oc.tables       = tables;
	oc.args         = args;
	oc.allow_config = true;
	if ((rv = tasq_opt_parse(&oc, argc - 1, argv + 1)) != TASQ_OPT_OK) {
		status = rv == TASQ_OPT_EXIT_OK ? 0 : 2;
		goto out;
	}
	if (oc.nargs > 0) {
		fprintf(stderr, "tasq-worker: unexpected argument '%s'\n",
		    args[0]);
		goto out;
	}
	// Split in a copy of its own (the names point into it for the
	// process's life).
	if ((qspec = strdup(cfg.queue)) == NULL ||
	    queues_parse(qspec, queues, &nqueues) != 0) {
		goto out;
	}
	if (types_setup(&ntypes) != 0) {
		goto out;
	}
	// The engine is only checked here: each worker process selects it
	// (tasq_worker_run), since nng must not start before the fork.
	flags = TASQ_COMMONOPT_NO_ENGINE;
	if (strncmp(cfg.server, "tls+", 4) == 0 ||
	    (cfg.heartbeat != NULL &&
	        strncmp(cfg.heartbeat, "tls+", 4) == 0)) {
		flags |= TASQ_COMMONOPT_TLS;
	}
	if (tasq_commonopt_setup(&cfg.common, TASQ_COMMONOPT_DIALER, flags,
	        &keys, NULL, err, sizeof(err)) != 0) {
		fprintf(stderr, "tasq-worker: %s\n", err);
		goto out;
	}
	if (oc.check_config) {
		printf("configuration ok\n");
		status = 0;
		goto out;
	}
	for (size_t i = 0; i < nqueues; i++) {
		qnames[i]   = queues[i].name;
		qweights[i] = queues[i].weight;
	}
	// The keys were only checked here: each worker process's session
	// reads them again (from the same file, or TASQ_KEY).
	tasq_worker_conf wc = {
		.server          = cfg.server,
		.queue           = queues[0].name,
		.nqueues         = nqueues,
		.queue_names     = qnames,
		.queue_weights   = qweights,
		.key_env         = getenv("TASQ_KEY"),
		.log_level       = cfg.common.log_level,
		.log_format      = cfg.common.log_format,
		.tls_ca          = cfg.common.tls_ca,
		.tls_server_name = cfg.common.tls_server_name,
		.tls_cert        = cfg.common.tls_cert,
		.tls_key         = cfg.common.tls_key,
		.batch           = (uint32_t) cfg.batch,
		.pipeline        = (uint32_t) cfg.pipeline,
		.wait_ms         = (uint32_t) cfg.wait_ms,
		.timeout_ms      = (uint32_t) cfg.timeout_ms,
		.task_delay_ms   = (uint32_t) cfg.task_delay_ms,
		.max_msg_bytes   = cfg.max_msg,
		.max_req_bytes   = cfg.max_req,
		.tls_engine      = cfg.common.tls_engine,
		.tls_min         = cfg.common.tls_min,
		.tls_max         = cfg.common.tls_max,
		.ntypes          = ntypes,
		.types           = type_names,
		.handlers        = type_handlers,
		.task_timeout_ms = (uint32_t) cfg.task_timeout_ms,
		.cancel_grace_ms = (uint32_t) cfg.cancel_grace_ms,
		.each_parallel   = (uint32_t) cfg.each_parallel,
		.heartbeat       = cfg.heartbeat,
		.resolve_ms      = cfg.resolve_ms,
	};
	// Only in messages: which key file to check when refused.
	wc.key_file             = cfg.common.key_file;
	wc.exit_on_auth_failure = cfg.exit_on_auth_failure;
	uint32_t n              = (uint32_t) cfg.procs;
	pids                    = calloc(n, sizeof(*pids));
	started                 = calloc(n, sizeof(*started));
	fails                   = calloc(n, sizeof(*fails));
	due                     = calloc(n, sizeof(*due));
	if (pids == NULL || started == NULL || fails == NULL || due == NULL) {
		status = 1;
		goto out;
	}
	// Blocked before the first fork: from here on the signals wait in
	// sfd (the children unblock them for themselves).
	sigemptyset(&sup_sigs);
	sigaddset(&sup_sigs, SIGTERM);
	sigaddset(&sup_sigs, SIGINT);
	sigaddset(&sup_sigs, SIGCHLD);
	sigprocmask(SIG_BLOCK, &sup_sigs, NULL);
	if ((sfd = signalfd(-1, &sup_sigs, SFD_CLOEXEC)) < 0) {
		tasq_log_errno(TASQ_LOG_ERROR, "signalfd");
		status = 1;
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		due[i] = mono_ms(); // start now
	}
	tasq_info("supervising %u worker process(es) for %s", n, cfg.server);
	status = 0;
	while ((sig = supervise(&wc, n, sfd, self)) == SIGCHLD &&
	    !config_error && !auth_error) {
	}
	// Drain: forward the signal, wait for the workers, SIGKILL the late.
	tasq_info("signal %d: draining %u worker process(es)", sig, n);
	if (drain(n, sfd) != 0) {
		status = 1;
	}
	if (config_error) {
		status = 2;
	} else if (auth_error) {
		status = TASQ_WORKER_EXIT_AUTH;
	}
	tasq_info("stopped");
out:
	if (sfd >= 0) {
		close(sfd);
	}
	free(pids);
	free(started);
	free(fails);
	free(due);
	free(qspec);
	for (size_t i = 0; i < MAX_TYPES; i++) {
		free(type_mem[i]);
	}
	tasq_keyring_free(keys);
	tasq_opt_free(tables);
	free(args);
	return (status);
}
