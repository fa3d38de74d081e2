#include "statsfmt.h"

#include <inttypes.h>

// Names come from the server: escape them for JSON.
static void
json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char) *s;
		if (ch == '"' || ch == '\\') {
			fprintf(f, "\\%c", ch);
		} else if (ch < 0x20) {
			fprintf(f, "\\u%04x", ch);
		} else {
			fputc(ch, f);
		}
	}
	fputc('"', f);
}

void
tasq_stats_json(const tasq_rep *rep, FILE *f)
{
	fprintf(f, "{\"version\":");
	json_str(f, rep->u.stats.version);
	fprintf(f, ",\"uptime_ms\":%" PRIu64 ",\"queues\":[",
	    rep->u.stats.uptime_ms);
	for (size_t i = 0; i < rep->u.stats.nqueues; i++) {
		const tasq_queue_stats *q = &rep->u.stats.queues[i];
		fprintf(f, "%s{\"name\":", i ? "," : "");
		json_str(f, q->name);
		fprintf(f,
		    ",\"ready\":%" PRIu64 ",\"leased\":%" PRIu64
		    ",\"results\":%" PRIu64 ",\"jobs\":%" PRIu64
		    ",\"dead\":%" PRIu64 ",\"submitted\":%" PRIu64
		    ",\"completed\":%" PRIu64 "}",
		    q->ready, q->leased, q->results, q->jobs, q->dead,
		    q->submitted, q->completed);
	}
	fprintf(f, "],\"workers\":[");
	for (size_t i = 0; i < rep->u.stats.nworkers; i++) {
		const tasq_worker_stats *w = &rep->u.stats.workers[i];
		fprintf(f,
		    "%s{\"id\":\"%016" PRIx64 "\",\"name\":", i ? "," : "",
		    w->worker_id);
		json_str(f, w->name);
		fprintf(f, ",\"queue\":");
		json_str(f, w->queue);
		fprintf(f,
		    ",\"leases\":%" PRIu64 ",\"tasks_in_hand\":%" PRIu64
		    ",\"completed\":%" PRIu64 ",\"idle_ms\":%" PRIu64
		    ",\"connected\":%s}",
		    w->leases, w->tasks_in_hand, w->completed, w->idle_ms,
		    w->connected ? "true" : "false");
	}
	fprintf(f, "],\"counters\":{");
	for (size_t i = 0; i < rep->u.stats.ncounters; i++) {
		fprintf(f, "%s", i ? "," : "");
		json_str(f, rep->u.stats.counters[i].name);
		fprintf(f, ":%" PRIu64, rep->u.stats.counters[i].value);
	}
	fprintf(f, "},\"dead_letters\":[");
	for (size_t i = 0; i < rep->u.stats.ndead; i++) {
		fprintf(f,
		    "%s{\"job\":\"%016" PRIx64 "\",\"task\":%" PRIu64 "}",
		    i ? "," : "", rep->u.stats.dead[2 * i],
		    rep->u.stats.dead[2 * i + 1]);
	}
	fprintf(f, "]}\n");
}
