// tasq health: exit 0 when the server answers an authenticated Health
// request and says it is serving. --wait retries until then, which is what
// scripts and tests use as a readiness check.
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "clock.h"
#include "textfmt.h"

static struct {
	uint64_t wait_ms;
	bool     quiet;
	bool     json;
	char    *format;
} hopt;

static const tasq_opt health_opts[] = {
	{ "wait", 'w', TASQ_OPT_MS, NULL, "0", "DURATION",
	    "keep trying this long for the server to be serving",
	    &hopt.wait_ms, 0, 3600000, false },
	{ "quiet", 0, TASQ_OPT_BOOL, NULL, NULL, NULL, "print nothing",
	    &hopt.quiet, 0, 0, false },
	{ "json", 0, TASQ_OPT_BOOL, NULL, NULL, NULL,
	    "print JSON (--format json)", &hopt.json, 0, 0, false },
	{ "format", 0, TASQ_OPT_STR, NULL, NULL, "FMT",
	    "text, json or jsonl (one JSON object a line: the same here)",
	    &hopt.format, 0, 0, false },
	TASQ_OPT_END,
};

static const char usage[] =
    "Usage: tasq [options] health [--wait DURATION] [--quiet] "
    "[--json | --format FMT]\n"
    "Exits 0 when the server is serving, 1 when not; prints\n"
    "'serving: server VERSION, up 8m 34s' or one JSON object (uptime_ms),\n"
    "also when the server cannot be reached.\n";

// Prints the outcome once: the last reply (if any) and why not serving.
static void
print_health(bool json, const tasq_health *rep, const char *why)
{
	char up[32];

	if (hopt.quiet) {
		return;
	}
	if (json) {
		printf("{\"serving\":%s",
		    rep != NULL && rep->serving ? "true" : "false");
		if (rep != NULL) {
			printf(",\"version\":");
			tasq_json_str(stdout, rep->version);
			printf(",\"uptime_ms\":%" PRIu64, rep->uptime_ms);
			if (rep->identity != 0) {
				printf(",\"identity\":\"%016" PRIx64 "\"",
				    rep->identity);
			}
		}
		if (why != NULL) {
			printf(",\"error\":");
			tasq_json_str(stdout, why);
		}
		printf("}\n");
	} else if (rep != NULL) {
		printf("%s: server %s, up %s\n",
		    rep->serving ? "serving" : "not serving", rep->version,
		    tasq_fmt_duration(up, sizeof(up), rep->uptime_ms));
	}
	if (why != NULL) {
		fprintf(stderr, "tasq: not serving: %s\n", why);
	}
}

int
tasq_cmd_health(tasq_client *c, int argc, char **argv)
{
	const tasq_opt *const tables[] = { health_opts, NULL };
	char                **args     = NULL;
	int                   nargs, rv;
	tasq_session         *s;
	tasq_health           h        = TASQ_HEALTH_INIT;
	char                  err[512] = "";
	uint64_t              until;
	bool                  json, have = false;

	if ((rv = tasq_client_parse(
	         health_opts, usage, argc, argv, &args, &nargs)) >= 0) {
		goto out;
	}
	if (nargs > 0) {
		fprintf(stderr, "tasq: health takes no arguments\n");
		rv = TASQ_EXIT_USAGE;
		goto out;
	}
	if ((rv = tasq_client_format(hopt.format, hopt.json, &json)) != 0) {
		goto out;
	}
	until = tasq_clock_mono_ms() + hopt.wait_ms;
	if (hopt.wait_ms > c->connect_timeout_ms) {
		c->connect_timeout_ms = hopt.wait_ms;
	}
	// Waiting, each request may take a second at most.
	if (hopt.wait_ms > 0 && c->timeout_ms > 1000) {
		c->timeout_ms = 1000;
	}
	if ((rv = tasq_client_session(c, &s)) != 0) {
		if (rv == TASQ_EXIT_FAIL && json && !hopt.quiet) {
			// tasq_client_session said why on stderr.
			printf("{\"serving\":false,\"error\":"
			       "\"cannot reach the server\"}\n");
		}
		goto out;
	}
	for (;;) {
		have = false;
		rv   = tasq_server_health(&h, s);
		if (rv == 0) {
			have = true;
			if (h.serving) {
				print_health(json, &h, NULL);
				goto out;
			}
		} else {
			snprintf(err, sizeof(err), "%s", tasq_errmsg());
		}
		// An authentication failure will not fix itself.
		if (rv == TASQ_EUNAUTHENTICATED ||
		    tasq_clock_mono_ms() >= until) {
			break;
		}
		tasq_client_sleep_ms(50);
	}
	print_health(json, have ? &h : NULL,
	    have         ? "server says it is not serving"
	        : err[0] ? err
	                 : "no answer");
	rv = TASQ_EXIT_FAIL;
out:
	free(args);
	tasq_opt_free(tables);
	return (rv);
}
