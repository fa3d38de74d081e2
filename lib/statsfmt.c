#include "statsfmt.h"

#include <inttypes.h>

// Names come from the server: escape them for JSON.
void
tasq_json_str(FILE *f, const char *s)
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

char *
tasq_fmt_duration(char *buf, size_t len, uint64_t ms)
{
	static const struct {
		const char *name;
		uint64_t    ms;
	} unit[] = { { "d", 86400000 }, { "h", 3600000 }, { "m", 60000 },
		{ "s", 1000 } };
	size_t i;

	if (ms < 1000) {
		snprintf(buf, len, "%" PRIu64 "ms", ms);
		return (buf);
	}
	for (i = 0; ms < unit[i].ms; i++) {
	}
	if (i == 3) {
		snprintf(buf, len, "%" PRIu64 "s", ms / 1000);
	} else {
		snprintf(buf, len, "%" PRIu64 "%s %" PRIu64 "%s",
		    ms / unit[i].ms, unit[i].name,
		    ms % unit[i].ms / unit[i + 1].ms, unit[i + 1].name);
	}
	return (buf);
}

uint64_t
tasq_stats_dead_total(const tasq_rep *rep)
{
	uint64_t n = 0;

	if (rep->u.stats.dead_total != 0) {
		return (rep->u.stats.dead_total);
	}
	for (size_t i = 0; i < rep->u.stats.nqueues; i++) {
		n += rep->u.stats.queues[i].dead;
	}
	return (n);
}

void
tasq_stats_json(const tasq_rep *rep, FILE *f)
{
	tasq_stats_json_write(rep, TASQ_STATS_JSON_DEAD_PAIRS, f);
}

void
tasq_stats_queue_json(const char *name, const tasq_queue_stats *q, FILE *f)
{
	fprintf(f, "{\"name\":");
	tasq_json_str(f, name);
	fprintf(f,
	    ",\"ready\":%" PRIu64 ",\"leased\":%" PRIu64
	    ",\"results\":%" PRIu64 ",\"jobs\":%" PRIu64 ",\"dead\":%" PRIu64
	    ",\"submitted\":%" PRIu64 ",\"completed\":%" PRIu64
	    ",\"failed\":%" PRIu64 ",\"retried\":%" PRIu64 "}",
	    q->ready, q->leased, q->results, q->jobs, q->dead, q->submitted,
	    q->completed, q->failed, q->retried);
}

void
tasq_stats_json_write(const tasq_rep *rep, int flags, FILE *f)
{
	// The identity as 16 hex digits in a string (as workers' ids are:
	// JavaScript numbers lose 64-bit precision); absent from a server
	// from before identities.
	fputc('{', f);
	if (rep->u.stats.identity != 0) {
		fprintf(f, "\"identity\":\"%016" PRIx64 "\",",
		    rep->u.stats.identity);
	}
	fprintf(f, "\"version\":");
	tasq_json_str(f, rep->u.stats.version);
	fprintf(f, ",\"uptime_ms\":%" PRIu64 ",\"queues\":[",
	    rep->u.stats.uptime_ms);
	for (size_t i = 0; i < rep->u.stats.nqueues; i++) {
		const tasq_queue_stats *q = &rep->u.stats.queues[i];
		fputs(i ? "," : "", f);
		tasq_stats_queue_json(q->name, q, f);
	}
	fprintf(f, "],\"workers\":[");
	for (size_t i = 0; i < rep->u.stats.nworkers; i++) {
		const tasq_worker_stats *w = &rep->u.stats.workers[i];
		fprintf(f,
		    "%s{\"id\":\"%016" PRIx64 "\",\"name\":", i ? "," : "",
		    w->worker_id);
		tasq_json_str(f, w->name);
		fprintf(f, ",\"queue\":");
		tasq_json_str(f, w->queue);
		fprintf(f,
		    ",\"leases\":%" PRIu64 ",\"tasks_in_hand\":%" PRIu64
		    ",\"completed\":%" PRIu64 ",\"idle_ms\":%" PRIu64
		    ",\"connected\":%s,\"failed\":%" PRIu64
		    ",\"retried\":%" PRIu64 "}",
		    w->leases, w->tasks_in_hand, w->completed, w->idle_ms,
		    w->connected ? "true" : "false", w->failed, w->retried);
	}
	fprintf(f, "],\"types\":[");
	for (size_t i = 0; i < rep->u.stats.ntypes; i++) {
		const tasq_type_stats *t = &rep->u.stats.types[i];
		fprintf(f, "%s{\"queue\":", i ? "," : "");
		tasq_json_str(f, t->queue);
		fprintf(f, ",\"type\":");
		tasq_json_str(f, t->type);
		fprintf(f,
		    ",\"ready\":%" PRIu64 ",\"leased\":%" PRIu64
		    ",\"workers\":%" PRIu32 "}",
		    t->ready, t->leased, t->workers);
	}
	fprintf(f, "],\"counters\":{");
	for (size_t i = 0; i < rep->u.stats.ncounters; i++) {
		fprintf(f, "%s", i ? "," : "");
		tasq_json_str(f, rep->u.stats.counters[i].name);
		fprintf(f, ":%" PRIu64, rep->u.stats.counters[i].value);
	}
	fprintf(f, "},\"dead_total\":%" PRIu64, tasq_stats_dead_total(rep));
	if ((flags & TASQ_STATS_JSON_DEAD_PAIRS) == 0) {
		fprintf(f, "}\n");
		return;
	}
	fprintf(f, ",\"dead_letters\":[");
	for (size_t i = 0; i < rep->u.stats.ndead; i++) {
		fprintf(f,
		    "%s{\"job\":\"%016" PRIx64 "\",\"task\":%" PRIu64 "}",
		    i ? "," : "", rep->u.stats.dead[2 * i],
		    rep->u.stats.dead[2 * i + 1]);
	}
	fprintf(f, "]}\n");
}
