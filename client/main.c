// tasq: the command-line client.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "commonopt.h"
#include "crash.h"
#include "log.h"

static tasq_commonopt_cfg common;
static tasq_client        client = { .common = &common };

const tasq_opt tasq_client_opts[] = {
	{ "server", 's', TASQ_OPT_URLS, "TASQ_SERVER", "tcp://127.0.0.1:7070",
	    "URL",
	    "the server's address, or several servers': URL,URL,... or a "
	    "name with several addresses (jobs are spread over them)",
	    &client.server, 0, 0, false },
	{ "resolve-interval", 0, TASQ_OPT_MS, NULL, "30s", "DURATION",
	    "several servers: how often names are looked up again",
	    &client.resolve_ms, 100, 86400000, false },
	TASQ_COMMONOPT_KEY(&common),
	TASQ_COMMONOPT_TLS_DIALER(&common),
	{ "request-timeout", 0, TASQ_OPT_MS, NULL, "10s", "DURATION",
	    "deadline of one request", &client.timeout_ms, 10, 3600000,
	    false },
	{ "connect-timeout", 0, TASQ_OPT_MS, NULL, "5s", "DURATION",
	    "how long to try to reach the server", &client.connect_timeout_ms,
	    0, 3600000, false },
	{ "max-message", 0, TASQ_OPT_SIZE, NULL, "64MiB", "SIZE",
	    "largest reply accepted", &client.max_msg, 1024, 1073741824,
	    false },
	TASQ_COMMONOPT_LOG_LEVEL(&common, "warn"),
	TASQ_OPT_END,
};

static const char main_usage[] =
    "Usage: tasq [options] COMMAND [command options]\n"
    "Commands:\n"
    "  submit   submit tasks and print their results, or with --detach\n"
    "           their job id (tasq submit --help for its options)\n"
    "  stats    show queues, workers and counters (--json)\n"
    "  health   exit 0 when the server is serving (--wait DURATION)\n"
    "  dead     list, show, retry or purge dead letters\n"
    "           (tasq dead --help)\n"
    "  jobs     list the jobs the server holds (--json)\n"
    "  status   show one job: tasq status JOB (--json)\n"
    "  results  print a detached job's results, in input order:\n"
    "           tasq results JOB [--wait]\n"
    "  wait     wait until a job is done: tasq wait JOB\n"
    "  cancel   cancel a job, stopping its running tasks: tasq cancel JOB\n"
    "Exit status: 0 ok, 1 failure, 2 usage or input error,\n"
    "3 some tasks have error results.\n";

static int
opts_put(tasq_opts *o, const char *name, const char *value)
{
	return (value == NULL ? 0 : tasq_opts_set(o, name, value));
}

static int
opts_put_ms(tasq_opts *o, const char *name, uint64_t ms)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%llums", (unsigned long long) ms);
	return (tasq_opts_set(o, name, buf));
}

int
tasq_client_session(tasq_client *c, tasq_session **sp)
{
	tasq_opts  *o = NULL;
	const char *key, *kf;
	char        buf[32];
	int         rv;

	if (c->session != NULL) {
		*sp = c->session;
		return (0);
	}
	// The tool parsed its flags and environment already; the library
	// gets the result, so that both read them the same way.
	// An empty key-file is none: the key is then TASQ_KEY's (lib/auth.c).
	kf  = c->common->key_file != NULL && c->common->key_file[0] != '\0'
	     ? c->common->key_file
	     : NULL;
	key = kf == NULL ? getenv("TASQ_KEY") : NULL;
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long) c->max_msg);
	if ((rv = tasq_opts_alloc(&o)) != 0 ||
	    (rv = opts_put(o, "server", c->server)) != 0 ||
	    (rv = opts_put(o, "key-file", kf)) != 0 ||
	    (rv = opts_put(o, "key", key)) != 0 ||
	    (rv = opts_put(o, "tls-ca", c->common->tls_ca)) != 0 ||
	    (rv = opts_put(o, "tls-cert", c->common->tls_cert)) != 0 ||
	    (rv = opts_put(o, "tls-key", c->common->tls_key)) != 0 ||
	    (rv = opts_put(
	         o, "tls-server-name", c->common->tls_server_name)) != 0 ||
	    (rv = opts_put(o, "tls-engine", c->common->tls_engine)) != 0 ||
	    (rv = opts_put(o, "tls-min-version", c->common->tls_min)) != 0 ||
	    (rv = opts_put(o, "tls-max-version", c->common->tls_max)) != 0 ||
	    (rv = opts_put_ms(o, "request-timeout", c->timeout_ms)) != 0 ||
	    (rv = opts_put_ms(o, "resolve-interval", c->resolve_ms)) != 0 ||
	    (rv = opts_put_ms(o, "connect-timeout", c->connect_timeout_ms)) !=
	        0 ||
	    (rv = tasq_opts_set(o, "max-message", buf)) != 0) {
		fprintf(stderr, "tasq: %s\n", tasq_errmsg());
		tasq_opts_free(o);
		return (TASQ_EXIT_USAGE);
	}
	rv = tasq_session_open(&c->session, o);
	tasq_opts_free(o);
	if (rv != 0) {
		fprintf(stderr, "tasq: %s\n", tasq_errmsg());
		// The configuration's fault (exit 2, as before the tool was on
		// the library): a bad option, or a key or TLS file missing or
		// unsafe, which the library reports as not found or permission
		// denied (lib/auth.c); not reaching the server, or it refusing
		// the key, is a runtime failure.
		return (rv == TASQ_EINVALID_ARGUMENT ||
		            rv == TASQ_ENOT_FOUND ||
		            rv == TASQ_EPERMISSION_DENIED
		        ? TASQ_EXIT_USAGE
		        : TASQ_EXIT_FAIL);
	}
	// The library quiets the process's log when it opens its first
	// session; the tool's messages follow its own --log-level.
	tasq_log_init("tasq");
	tasq_log_set_level(c->common->log_level != NULL
	        ? tasq_log_level_parse(c->common->log_level)
	        : TASQ_LOG_INFO);
	*sp = c->session;
	return (0);
}

bool
tasq_client_valid_name(const char *s)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++) {
		char c = s[n];
		if (n >= 64 ||
		    !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		        c == '-')) {
			return (false);
		}
	}
	return (n > 0);
}

void
tasq_client_sleep_ms(uint32_t ms)
{
	struct timespec ts = { (time_t) (ms / 1000),
		(long) (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

int
tasq_client_format(const char *format, bool json, bool *jsonp)
{
	if (format == NULL) {
		*jsonp = json;
		return (0);
	}
	if (strcmp(format, "json") == 0 || strcmp(format, "jsonl") == 0) {
		*jsonp = true;
		return (0);
	}
	if (strcmp(format, "text") == 0 && !json) {
		*jsonp = false;
		return (0);
	}
	if (strcmp(format, "text") == 0) {
		fprintf(stderr, "tasq: --json and --format text disagree\n");
	} else {
		fprintf(stderr,
		    "tasq: --format: '%.40s' is not text, json or jsonl\n",
		    format);
	}
	return (TASQ_EXIT_USAGE);
}

int
tasq_client_parse(const tasq_opt *sub, const char *usage, int argc,
    char **argv, char ***argsp, int *nargsp)
{
	const tasq_opt *const tables[] = { sub, tasq_client_opts, NULL };
	tasq_opt_ctx          oc       = { 0 };
	char                **args;
	int                   rv;

	if ((args = calloc((size_t) argc + 1, sizeof(*args))) == NULL) {
		return (TASQ_EXIT_FAIL);
	}
	oc.prog    = "tasq";
	oc.usage   = usage;
	oc.version = TASQ_VERSION;
	oc.tables  = tables;
	oc.args    = args;
	if ((rv = tasq_opt_parse(&oc, argc, argv)) != TASQ_OPT_OK) {
		free(args);
		return (rv == TASQ_OPT_EXIT_OK ? 0 : TASQ_EXIT_USAGE);
	}
	*argsp  = args;
	*nargsp = oc.nargs;
	return (-1);
}

int
main(int argc, char **argv)
{
	const tasq_opt *const tables[] = { tasq_client_opts, NULL };
	tasq_opt_ctx          oc       = { 0 };
	char                **args;
	int                   rv, i;

	tasq_log_init("tasq");
	tasq_crash_init();
	signal(SIGPIPE, SIG_IGN);
	// Global options stop at the first word that is not an option.
	for (i = 1; i < argc; i++) {
		if (argv[i][0] != '-') {
			break;
		}
		// Options with a separate value skip it.
		for (const tasq_opt *o = tasq_client_opts; o->name; o++) {
			if (o->type != TASQ_OPT_BOOL &&
			    ((strncmp(argv[i], "--", 2) == 0 &&
			         strcmp(argv[i] + 2, o->name) == 0) ||
			        (o->shortopt && argv[i][1] == o->shortopt &&
			            argv[i][2] == '\0'))) {
				i++;
				break;
			}
		}
	}
	if (i >= argc) {
		// No command: only --help and --version make sense.
		if ((args = calloc((size_t) argc + 1, sizeof(*args))) ==
		    NULL) {
			return (TASQ_EXIT_FAIL);
		}
		oc.prog    = "tasq";
		oc.usage   = main_usage;
		oc.version = TASQ_VERSION;
		oc.tables  = tables;
		oc.args    = args;
		rv         = tasq_opt_parse(&oc, argc - 1, argv + 1);
		free(args);
		tasq_opt_free(tables);
		if (rv == TASQ_OPT_EXIT_OK) {
			return (0);
		}
		if (rv == TASQ_OPT_OK) {
			fprintf(stderr,
			    "tasq: no command given (submit, stats, "
			    "health, dead, jobs, status, results, wait, "
			    "cancel; see --help)\n");
		}
		return (TASQ_EXIT_USAGE);
	}
	// The command parses the global options wherever they stand, so
	// hand it everything but the program and command names.
	const char *cmd      = argv[i];
	char      **sub_argv = calloc((size_t) argc + 1, sizeof(*sub_argv));
	int         sub_argc = 0;
	if (sub_argv == NULL) {
		return (TASQ_EXIT_FAIL);
	}
	for (int k = 1; k < argc; k++) {
		if (k != i) {
			sub_argv[sub_argc++] = argv[k];
		}
	}
	if (strcmp(cmd, "submit") == 0) {
		rv = tasq_cmd_submit(&client, sub_argc, sub_argv);
	} else if (strcmp(cmd, "stats") == 0) {
		rv = tasq_cmd_stats(&client, sub_argc, sub_argv);
	} else if (strcmp(cmd, "health") == 0) {
		rv = tasq_cmd_health(&client, sub_argc, sub_argv);
	} else if (strcmp(cmd, "dead") == 0) {
		rv = tasq_cmd_dead(&client, sub_argc, sub_argv);
	} else if (strcmp(cmd, "jobs") == 0) {
		rv = tasq_cmd_jobs(&client, sub_argc, sub_argv);
	} else if (strcmp(cmd, "status") == 0) {
		rv = tasq_cmd_status(&client, sub_argc, sub_argv);
	} else if (strcmp(cmd, "results") == 0) {
		rv = tasq_cmd_results(&client, sub_argc, sub_argv);
	} else if (strcmp(cmd, "wait") == 0) {
		rv = tasq_cmd_wait(&client, sub_argc, sub_argv);
	} else if (strcmp(cmd, "cancel") == 0) {
		rv = tasq_cmd_cancel(&client, sub_argc, sub_argv);
	} else {
		fprintf(stderr,
		    "tasq: unknown command '%.60s' (submit, stats, "
		    "health, dead, jobs, status, results, wait, cancel)\n",
		    cmd);
		rv = TASQ_EXIT_USAGE;
	}
	free(sub_argv);
	if (client.session != NULL) {
		tasq_session_close(client.session);
		tasq_session_free(client.session);
	}
	tasq_opt_free(tables);
	return (rv);
}
