// tasq stats: queues, workers and counters, as text or JSON.
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "err.h"
#include "statsfmt.h"

static struct {
	bool  json;
	char *format;
} topt;

static const tasq_opt stats_opts[] = {
	{ "json", 0, TASQ_OPT_BOOL, NULL, NULL, NULL,
	    "print JSON (--format json)", &topt.json, 0, 0, false },
	{ "format", 0, TASQ_OPT_STR, NULL, NULL, "FMT",
	    "text, json or jsonl (one JSON object a line: the same here)",
	    &topt.format, 0, 0, false },
	TASQ_OPT_END,
};

static const char usage[] =
    "Usage: tasq [options] stats [--json | --format FMT]\n"
    "Shows the server's queues, workers, task types (and the workers\n"
    "serving each), counters and how many dead letters it holds (tasq\n"
    "dead lists them). JSON has durations in\n"
    "milliseconds (uptime_ms, idle_ms).\n";

static void
print_text(const tasq_rep *rep)
{
	char d[32];

	printf("server %s, up %s\n", rep->u.stats.version,
	    tasq_fmt_duration(d, sizeof(d), rep->u.stats.uptime_ms));
	// Depth first, then the cumulative counts (since the server started).
	// FAILED and RETRIED last: scripts read the columns before them by
	// position (tests/integration/lib.sh queue_field).
	printf("\n%-20s %10s %10s %10s %6s %8s %12s %12s %10s %10s\n", "QUEUE",
	    "READY", "LEASED", "RESULTS", "JOBS", "DEAD", "SUBMITTED",
	    "COMPLETED", "FAILED", "RETRIED");
	for (size_t i = 0; i < rep->u.stats.nqueues; i++) {
		const tasq_queue_stats *q = &rep->u.stats.queues[i];
		printf("%-20s %10" PRIu64 " %10" PRIu64 " %10" PRIu64
		       " %6" PRIu64 " %8" PRIu64 " %12" PRIu64 " %12" PRIu64
		       " %10" PRIu64 " %10" PRIu64 "\n",
		    q->name, q->ready, q->leased, q->results, q->jobs, q->dead,
		    q->submitted, q->completed, q->failed, q->retried);
	}
	// FAILED and RETRIED last, as in the queue table.
	printf("\n%-32s %-12s %6s %8s %12s %9s %9s %10s %10s\n", "WORKER",
	    "QUEUE", "LEASES", "IN-HAND", "COMPLETED", "IDLE", "CONNECTED",
	    "FAILED", "RETRIED");
	for (size_t i = 0; i < rep->u.stats.nworkers; i++) {
		const tasq_worker_stats *w = &rep->u.stats.workers[i];
		printf("%-32s %-12s %6" PRIu64 " %8" PRIu64 " %12" PRIu64
		       " %9s %-9s %10" PRIu64 " %10" PRIu64 "\n",
		    w->name, w->queue, w->leases, w->tasks_in_hand,
		    w->completed, tasq_fmt_duration(d, sizeof(d), w->idle_ms),
		    w->connected ? "yes" : "no", w->failed, w->retried);
	}
	// Task types: a type with tasks and no worker waits for one.
	printf("\n%-20s %-24s %10s %10s %8s\n", "QUEUE", "TYPE", "READY",
	    "LEASED", "WORKERS");
	for (size_t i = 0; i < rep->u.stats.ntypes; i++) {
		const tasq_type_stats *t = &rep->u.stats.types[i];
		printf("%-20s %-24s %10" PRIu64 " %10" PRIu64 " %8" PRIu32
		       "%s\n",
		    t->queue, t->type, t->ready, t->leased, t->workers,
		    t->workers == 0 && t->ready > 0 ? "  no worker serves it"
		                                    : "");
	}
	printf("\nCOUNTERS\n");
	for (size_t i = 0; i < rep->u.stats.ncounters; i++) {
		printf("  %-36s %" PRIu64 "\n", rep->u.stats.counters[i].name,
		    rep->u.stats.counters[i].value);
	}
	// A count: the letters themselves are tasq dead's to list.
	printf("\ndead letters: %" PRIu64 "%s\n", tasq_stats_dead_total(rep),
	    tasq_stats_dead_total(rep) > 0 ? " (tasq dead lists them)" : "");
}

int
tasq_cmd_stats(tasq_client *c, int argc, char **argv)
{
	const tasq_opt *const tables[] = { stats_opts, NULL };
	char                **args     = NULL;
	int                   nargs, rv;
	tasq_req              req;
	tasq_rep              rep;
	char                  err[512];
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
	if ((rv = tasq_client_connect(c)) != 0) {
		goto out;
	}
	memset(&req, 0, sizeof(req));
	req.method = TASQ_M_STATS;
	if (tasq_chan_call(c->chan, &req, (uint32_t) c->timeout_ms, &rep, err,
	        sizeof(err)) != 0) {
		fprintf(stderr, "tasq: stats failed: %s\n", err);
		rv = TASQ_EXIT_FAIL;
		goto out;
	}
	if (json) {
		tasq_stats_json_write(&rep, 0, stdout);
	} else {
		print_text(&rep);
	}
	tasq_wire_rep_fini(&rep);
	rv = 0;
out:
	free(args);
	tasq_opt_free(tables);
	return (rv);
}
