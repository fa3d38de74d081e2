// tasq stats: queues, workers and counters, as text or JSON.
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

static struct {
	bool  all;
	bool  json;
	char *format;
} topt;

static const tasq_opt stats_opts[] = {
	{ "all", 0, TASQ_OPT_BOOL, NULL, NULL, NULL,
	    "every server of --server (a list, or a name with several "
	    "addresses) and their sum",
	    &topt.all, 0, 0, false },
	{ "json", 0, TASQ_OPT_BOOL, NULL, NULL, NULL,
	    "print JSON (--format json)", &topt.json, 0, 0, false },
	{ "format", 0, TASQ_OPT_STR, NULL, NULL, "FMT",
	    "text, json or jsonl (one JSON object a line: the same here)",
	    &topt.format, 0, 0, false },
	TASQ_OPT_END,
};

static const char usage[] =
    "Usage: tasq [options] stats [--all] [--json | --format FMT]\n"
    "Shows the server's queues, workers, task types (and the workers\n"
    "serving each), counters and how many dead letters it holds (tasq\n"
    "dead lists them). JSON has durations in\n"
    "milliseconds (uptime_ms, idle_ms). --all: every server of\n"
    "--server, each under its address, after their sum.\n";

int
tasq_cmd_stats(tasq_client *c, int argc, char **argv)
{
	const tasq_opt *const tables[] = { stats_opts, NULL };
	char                **args     = NULL;
	int                   nargs, rv;
	tasq_session         *s;
	char                 *doc = NULL;
	bool                  json;

	if ((rv = tasq_client_parse(
	         stats_opts, usage, argc, argv, &args, &nargs)) >= 0) {
		goto out;
	}
	if (nargs > 0) {
		fprintf(stderr, "tasq: stats takes no arguments\n");
		rv = TASQ_EXIT_USAGE;
		goto out;
	}
	if ((rv = tasq_client_format(topt.format, topt.json, &json)) != 0) {
		goto out;
	}
	if ((rv = tasq_client_session(c, &s)) != 0) {
		goto out;
	}
	// The library formats the report (the same tables and JSON).
	if (tasq_server_stats(&doc, s,
	        (json ? TASQ_STATS_JSON : TASQ_STATS_TEXT) |
	            (topt.all ? TASQ_STATS_ALL : 0)) != 0) {
		fprintf(stderr, "tasq: stats failed: %s\n", tasq_errmsg());
		rv = TASQ_EXIT_FAIL;
		goto out;
	}
	fputs(doc, stdout);
	tasq_free(doc);
	rv = 0;
out:
	free(args);
	tasq_opt_free(tables);
	return (rv);
}
