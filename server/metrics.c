#include "metrics.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <nng/supplemental/util/platform.h>

#include "clock.h"
#include "dashboard.h"
#include "err.h"
#include "history.h"
#include "log.h"
#include "peers.h"
#include "statsfmt.h"
#include "webapi.h"
#include "webauth.h"

// The history: one sample a second for 10 minutes.
#define SAMPLE_MS 1000
#define HISTORY_SAMPLES 600

// What one sample remembers of a queue or a worker until the next: its
// cumulative count, and the rate and latency derived from the last two.
struct rate {
	char     name[TASQ_WIRE_MAX_NAME + 1]; // queue
	uint64_t id;                           // worker
	uint64_t completed, submitted, failed, retried;
	double   rate, submit_rate, fail_rate, retry_rate;
	uint64_t age_ms;
};

struct tasq_metrics {
	nng_http_server  *srv;
	tasq_broker      *broker;
	tasq_rpc         *rpc;
	tasq_journal     *journal;
	uint64_t          identity; // the server's (identity.h)
	nng_time          started;
	tasq_history     *history;
	tasq_metrics_auth auth;
	nng_mtx          *action_mtx; // one action on jobs at a time
	tasq_peers       *peers;      // --peers (NULL: none); ours
	// Written by tasq_metrics_sample (the server's timer), read by the
	// HTTP handlers: guarded by mtx.
	nng_mtx            *mtx;
	uint64_t            last_mono; // 0: no sample yet
	uint64_t            last_ctr[TASQ_CTR_COUNT];
	struct rate        *queues, *workers;
	size_t              nqueues, nworkers;
	tasq_history_sample now; // the last sample
};

static void
put_metric(FILE *f, const char *name, const char *type, const char *help,
    unsigned long long v)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name,
	    type, name, v);
}

// tasq_queue_tasks_{submitted,completed,failed,retried}_total{queue=
// "..."}: per-queue counterparts of tasq_tasks_{...}_total, their sums
// over the queues. Like those, they start again when the server restarts.
enum { QC_SUBMITTED, QC_COMPLETED, QC_FAILED, QC_RETRIED };

static void
put_queue_counter(FILE *f, const tasq_rep *st, int which)
{
	// What each counts, then how a server start changes it.
	static const char *const what[] = { "submitted", "completed", "failed",
		"retried" };
	static const char *const help[] = {
		"Tasks newly enqueued in the queue; a batch submitted again "
		"is not counted twice.",
		"Tasks of the queue given their first result, errors and dead "
		"letters included.",
		"Tasks of the queue completed with an error code, dead "
		"letters included.",
		"Failed results of the queue set aside for a retry of their "
		"task.",
	};
	static const char *const replay = "From 0 at each server start; "
	                                  "with --data-dir the journal "
	                                  "records replayed then count again.";

	fprintf(f,
	    "# HELP tasq_queue_tasks_%s_total %s %s\n"
	    "# TYPE tasq_queue_tasks_%s_total counter\n",
	    what[which], help[which],
	    which == QC_RETRIED ? "From 0 at each server start (retries are "
	                          "not replayed from the journal)."
	                        : replay,
	    what[which]);
	for (size_t i = 0; i < st->u.stats.nqueues; i++) {
		const tasq_queue_stats *q = &st->u.stats.queues[i];
		uint64_t v = which == QC_SUBMITTED ? q->submitted
		    : which == QC_COMPLETED        ? q->completed
		    : which == QC_FAILED           ? q->failed
		                                   : q->retried;
		fprintf(f, "tasq_queue_tasks_%s_total{queue=\"%s\"} %llu\n",
		    what[which], q->name, (unsigned long long) v);
	}
}

char *
tasq_metrics_text(tasq_metrics *m, size_t *len)
{
	char    *buf = NULL;
	FILE    *f;
	tasq_rep st;
	size_t   connected = 0;

	if ((f = open_memstream(&buf, len)) == NULL) {
		return (NULL);
	}
	if (tasq_broker_stats(m->broker, tasq_clock_mono_ms(), &st) == 0) {
		// The Stats counters in their order (server/stats.h); a name
		// that ends in _total already keeps it.
		for (size_t i = 0; i < st.u.stats.ncounters; i++) {
			const tasq_counter *c    = &st.u.stats.counters[i];
			const char         *help = tasq_stats_help((int) i);
			size_t              n    = strlen(c->name);
			const char         *sfx;

			sfx = n >= 6 && strcmp(c->name + n - 6, "_total") == 0
			    ? ""
			    : "_total";
			fprintf(f,
			    "# HELP tasq_%s%s %s\n# TYPE tasq_%s%s counter\n"
			    "tasq_%s%s %llu\n",
			    c->name, sfx, help != NULL ? help : "A counter.",
			    c->name, sfx, c->name, sfx,
			    (unsigned long long) c->value);
		}
		// The gauges of each queue: name, help, and where the value
		// is.
		static const struct {
			const char *name, *help;
			size_t      off;
		} qg[] = {
			{ "ready", "Tasks waiting for a worker.",
			    offsetof(tasq_queue_stats, ready) },
			{ "leased",
			    "Tasks leased to workers, not yet answered.",
			    offsetof(tasq_queue_stats, leased) },
			{ "results",
			    "Results produced, not yet acknowledged by their "
			    "client.",
			    offsetof(tasq_queue_stats, results) },
			{ "jobs", "Open jobs.",
			    offsetof(tasq_queue_stats, jobs) },
			{ "dead_letters",
			    "Tasks of the queue dead-lettered (given up after "
			    "--max-attempts deliveries) since the server "
			    "started.",
			    offsetof(tasq_queue_stats, dead) },
		};
		for (size_t k = 0; k < sizeof(qg) / sizeof(qg[0]); k++) {
			fprintf(f, "# HELP tasq_queue_%s %s\n", qg[k].name,
			    qg[k].help);
			fprintf(f, "# TYPE tasq_queue_%s gauge\n", qg[k].name);
			for (size_t i = 0; i < st.u.stats.nqueues; i++) {
				const tasq_queue_stats *q =
				    &st.u.stats.queues[i];
				uint64_t v;
				memcpy(&v, (const char *) q + qg[k].off,
				    sizeof(v));
				fprintf(f,
				    "tasq_queue_%s{queue=\"%s\"} %llu\n",
				    qg[k].name, q->name,
				    (unsigned long long) v);
			}
		}
		// Asked of the broker now, not from the last sample: a
		// scrape sees the latency of this moment.
		fputs("# HELP tasq_queue_latency_seconds Age of the task "
		      "leased next in the queue (the oldest ready one), 0 "
		      "when none is ready.\n"
		      "# TYPE tasq_queue_latency_seconds gauge\n",
		    f);
		for (size_t i = 0; i < st.u.stats.nqueues; i++) {
			const char *qn = st.u.stats.queues[i].name;
			fprintf(f,
			    "tasq_queue_latency_seconds{queue=\"%s\"} %.3f\n",
			    qn,
			    (double) tasq_broker_queue_age_ms(
			        m->broker, qn, tasq_clock_mono_ms()) /
			        1000);
		}
		put_queue_counter(f, &st, QC_SUBMITTED);
		put_queue_counter(f, &st, QC_COMPLETED);
		put_queue_counter(f, &st, QC_FAILED);
		put_queue_counter(f, &st, QC_RETRIED);
		for (size_t i = 0; i < st.u.stats.nworkers; i++) {
			connected += st.u.stats.workers[i].connected;
		}
		put_metric(f, "tasq_workers_connected", "gauge",
		    "Worker processes with an open connection.", connected);
		tasq_broker_stats_fini(&st);
	}
	put_metric(f, "tasq_uptime_seconds", "gauge",
	    "Seconds since the server started.",
	    (nng_clock() - m->started) / 1000);
	tasq_rpc_metrics(m->rpc, f);
	if (m->journal != NULL) {
		tasq_journal_stats js;
		tasq_journal_get_stats(m->journal, &js);
		put_metric(f, "tasq_journal_bytes", "gauge",
		    "Journal bytes since the last snapshot.", js.bytes);
		put_metric(f, "tasq_journal_snapshot_bytes", "gauge",
		    "Size of the last snapshot.", js.snapshot_bytes);
		put_metric(f, "tasq_journal_fsyncs_total", "counter",
		    "Journal syncs.", js.syncs);
		fprintf(f,
		    "# HELP tasq_journal_fsync_seconds Time spent in "
		    "fdatasync.\n"
		    "# TYPE tasq_journal_fsync_seconds summary\n"
		    "tasq_journal_fsync_seconds_sum %.6f\n"
		    "tasq_journal_fsync_seconds_count %llu\n"
		    "# HELP tasq_journal_fsync_max_seconds Longest "
		    "fdatasync.\n"
		    "# TYPE tasq_journal_fsync_max_seconds gauge\n"
		    "tasq_journal_fsync_max_seconds %.6f\n",
		    (double) js.sync_us_total / 1e6,
		    (unsigned long long) js.syncs,
		    (double) js.sync_us_max / 1e6);
		put_metric(f, "tasq_journal_compactions_total", "counter",
		    "Snapshots written.", js.compactions);
		put_metric(f, "tasq_journal_write_error", "gauge",
		    "1 while the journal cannot be written.",
		    tasq_journal_error(m->journal) != 0);
	}
	if (fclose(f) != 0) {
		free(buf);
		return (NULL);
	}
	return (buf);
}

static int
rate_by_name(const void *a, const void *b)
{
	return (strcmp(
	    ((const struct rate *) a)->name, ((const struct rate *) b)->name));
}

static int
rate_by_id(const void *a, const void *b)
{
	uint64_t x = ((const struct rate *) a)->id;
	uint64_t y = ((const struct rate *) b)->id;
	return (x < y ? -1 : x > y);
}

// The rate of a count that went from was to now in secs (a count that
// went down, after a restart, gives 0).
static double
per_sec(uint64_t was, uint64_t now, double secs)
{
	return (secs > 0 && now > was ? (double) (now - was) / secs : 0.0);
}

void
tasq_metrics_sample(tasq_metrics *m, uint64_t now_ms)
{
	tasq_rep            st;
	tasq_history_sample hs;
	struct rate        *nq = NULL, *nw = NULL, *oq, *ow;
	size_t              qn, wn;
	uint64_t            ctr[TASQ_CTR_COUNT] = { 0 };
	double              secs;

	if (m == NULL || tasq_broker_stats(m->broker, now_ms, &st) != 0) {
		return;
	}
	qn = st.u.stats.nqueues;
	wn = st.u.stats.nworkers;
	if ((nq = calloc(qn + 1, sizeof(*nq))) == NULL ||
	    (nw = calloc(wn + 1, sizeof(*nw))) == NULL) {
		free(nq);
		tasq_broker_stats_fini(&st);
		return; // out of memory: this second is missing
	}
	memset(&hs, 0, sizeof(hs));
	hs.wall_ms = tasq_clock_stamp_ms();
	for (size_t i = 0; i < st.u.stats.ncounters && i < TASQ_CTR_COUNT;
	     i++) {
		ctr[i] = st.u.stats.counters[i].value;
	}
	for (size_t i = 0; i < qn; i++) {
		const tasq_queue_stats *q = &st.u.stats.queues[i];
		snprintf(nq[i].name, sizeof(nq[i].name), "%s", q->name);
		nq[i].completed = q->completed;
		nq[i].submitted = q->submitted;
		nq[i].failed    = q->failed;
		nq[i].retried   = q->retried;
		// The broker's lock, not ours: taken before mtx.
		nq[i].age_ms =
		    tasq_broker_queue_age_ms(m->broker, q->name, now_ms);
		hs.v[TASQ_HIST_READY] += (double) q->ready;
		hs.v[TASQ_HIST_LEASED] += (double) q->leased;
		if ((double) nq[i].age_ms > hs.v[TASQ_HIST_LATENCY]) {
			hs.v[TASQ_HIST_LATENCY] = (double) nq[i].age_ms;
		}
	}
	for (size_t i = 0; i < wn; i++) {
		nw[i].id        = st.u.stats.workers[i].worker_id;
		nw[i].completed = st.u.stats.workers[i].completed;
		nw[i].failed    = st.u.stats.workers[i].failed;
		nw[i].retried   = st.u.stats.workers[i].retried;
		hs.v[TASQ_HIST_WORKERS] += st.u.stats.workers[i].connected;
	}
	tasq_broker_stats_fini(&st);
	qsort(nq, qn, sizeof(*nq), rate_by_name);
	qsort(nw, wn, sizeof(*nw), rate_by_id);

	nng_mtx_lock(m->mtx);
	secs                      = m->last_mono != 0 && now_ms > m->last_mono
	                         ? (double) (now_ms - m->last_mono) / 1000
	                         : 0;
	hs.v[TASQ_HIST_COMPLETED] = per_sec(
	    m->last_ctr[TASQ_CTR_COMPLETED], ctr[TASQ_CTR_COMPLETED], secs);
	hs.v[TASQ_HIST_FAILED] =
	    per_sec(m->last_ctr[TASQ_CTR_FAILED], ctr[TASQ_CTR_FAILED], secs);
	hs.v[TASQ_HIST_RETRIED] = per_sec(
	    m->last_ctr[TASQ_CTR_RETRIED], ctr[TASQ_CTR_RETRIED], secs);
	hs.v[TASQ_HIST_DEAD] = per_sec(m->last_ctr[TASQ_CTR_DEAD_LETTERED],
	    ctr[TASQ_CTR_DEAD_LETTERED], secs);
	hs.v[TASQ_HIST_SUBMITTED] = per_sec(
	    m->last_ctr[TASQ_CTR_SUBMITTED], ctr[TASQ_CTR_SUBMITTED], secs);
	for (size_t i = 0; i < qn; i++) {
		struct rate *o = m->queues == NULL
		    ? NULL
		    : bsearch(&nq[i], m->queues, m->nqueues, sizeof(nq[i]),
		          rate_by_name);
		if (o != NULL) {
			nq[i].rate =
			    per_sec(o->completed, nq[i].completed, secs);
			nq[i].submit_rate =
			    per_sec(o->submitted, nq[i].submitted, secs);
			nq[i].fail_rate =
			    per_sec(o->failed, nq[i].failed, secs);
			nq[i].retry_rate =
			    per_sec(o->retried, nq[i].retried, secs);
		}
	}
	for (size_t i = 0; i < wn; i++) {
		struct rate *o = m->workers == NULL
		    ? NULL
		    : bsearch(&nw[i], m->workers, m->nworkers, sizeof(nw[i]),
		          rate_by_id);
		if (o != NULL) {
			nw[i].rate =
			    per_sec(o->completed, nw[i].completed, secs);
			nw[i].fail_rate =
			    per_sec(o->failed, nw[i].failed, secs);
			nw[i].retry_rate =
			    per_sec(o->retried, nw[i].retried, secs);
		}
	}
	oq          = m->queues;
	ow          = m->workers;
	m->queues   = nq;
	m->workers  = nw;
	m->nqueues  = qn;
	m->nworkers = wn;
	memcpy(m->last_ctr, ctr, sizeof(ctr));
	m->last_mono = now_ms;
	m->now       = hs;
	nng_mtx_unlock(m->mtx);
	free(oq);
	free(ow);
	// The first sample is only the base of the next one's rates.
	if (secs > 0) {
		tasq_history_add(m->history, &hs);
	}
}

static void
reply(nng_aio *aio, uint16_t status, const char *type, const char *body,
    size_t len)
{
	nng_http_res *res;
	int           rv;

	if ((rv = nng_http_res_alloc(&res)) != 0) {
		nng_aio_finish(aio, rv);
		return;
	}
	if ((rv = nng_http_res_set_status(res, status)) != 0 ||
	    (rv = nng_http_res_set_header(res, "Content-Type", type)) != 0 ||
	    (rv = nng_http_res_set_header(res, "Cache-Control", "no-store")) !=
	        0 ||
	    (rv = nng_http_res_copy_data(res, body, len)) != 0) {
		nng_http_res_free(res);
		nng_aio_finish(aio, rv);
		return;
	}
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
}

static tasq_metrics *
metrics_of(nng_aio *aio)
{
	return (nng_http_handler_get_data(nng_aio_get_input(aio, 1)));
}

static void
metrics_cb(nng_aio *aio)
{
	size_t len;
	char  *text = tasq_metrics_text(metrics_of(aio), &len);

	if (text == NULL) {
		reply(aio, 500, "text/plain", "out of memory\n", 14);
		return;
	}
	reply(aio, 200, "text/plain; version=0.0.4", text, len);
	free(text);
}

static void
health_cb(nng_aio *aio)
{
	tasq_metrics *m = metrics_of(aio);

	if (m->journal != NULL && tasq_journal_error(m->journal) != 0) {
		reply(aio, 503, "text/plain", "journal failing\n", 16);
		return;
	}
	reply(aio, 200, "text/plain", "ok\n", 3);
}

static void
stats_cb(nng_aio *aio)
{
	tasq_metrics *m = metrics_of(aio);
	tasq_peers   *peers;
	tasq_rep      st;
	char         *buf = NULL;
	size_t        len = 0;
	FILE         *f;

	if (tasq_broker_stats(m->broker, tasq_clock_mono_ms(), &st) != 0 ||
	    (f = open_memstream(&buf, &len)) == NULL) {
		reply(aio, 500, "text/plain", "out of memory\n", 14);
		return;
	}
	st.u.stats.version   = TASQ_VERSION;
	st.u.stats.uptime_ms = nng_clock() - m->started;
	st.u.stats.identity  = m->identity;
	tasq_stats_json(&st, f);
	tasq_broker_stats_fini(&st);
	nng_mtx_lock(m->mtx);
	peers = m->peers;
	nng_mtx_unlock(m->mtx);
	if (peers != NULL && fflush(f) == 0) {
		// The object gains "cluster" (the peers' last answer, which
		// the peers' thread keeps fresh: nothing waits for a peer
		// here) before its closing brace.
		while (len > 0 && buf[len - 1] != '}') {
			len--;
		}
		if (len > 0 && fseeko(f, (off_t) len - 1, SEEK_SET) == 0) {
			fputs(",\"cluster\":", f);
			tasq_peers_json(peers, tasq_clock_mono_ms(), f);
			fputs("}\n", f);
		}
	}
	if (fclose(f) != 0) {
		free(buf);
		reply(aio, 500, "text/plain", "out of memory\n", 14);
		return;
	}
	reply(aio, 200, "application/json", buf, len);
	free(buf);
}

// Replies with what fill wrote to a memory stream, as JSON.
static void
reply_json(nng_aio *aio, tasq_metrics *m, int (*fill)(tasq_metrics *, FILE *))
{
	char  *buf = NULL;
	size_t len = 0;
	FILE  *f;
	int    rv;

	if ((f = open_memstream(&buf, &len)) == NULL) {
		reply(aio, 500, "text/plain", "out of memory\n", 14);
		return;
	}
	rv = fill(m, f);
	if (fclose(f) != 0 || rv != 0) {
		free(buf);
		reply(aio, 500, "text/plain", "out of memory\n", 14);
		return;
	}
	reply(aio, 200, "application/json", buf, len);
	free(buf);
}

static int
history_fill(tasq_metrics *m, FILE *f)
{
	return (tasq_history_json(m->history, SAMPLE_MS, f));
}

// /api/rates: per queue and per worker rates over the last sample
// (tasks/s), the queues' latency, and the types of each queue.
static int
rates_fill(tasq_metrics *m, FILE *f)
{
	tasq_rep st;

	fputs("{\"queues\":[", f);
	nng_mtx_lock(m->mtx);
	for (size_t i = 0; i < m->nqueues; i++) {
		const struct rate *r = &m->queues[i];
		fprintf(f, "%s{\"name\":", i ? "," : "");
		tasq_json_str(f, r->name);
		fprintf(f,
		    ",\"rate\":%.1f,\"submit_rate\":%.1f,\"latency_ms\":%llu"
		    ",\"fail_rate\":%.1f,\"retry_rate\":%.1f}",
		    r->rate, r->submit_rate, (unsigned long long) r->age_ms,
		    r->fail_rate, r->retry_rate);
	}
	fputs("],\"workers\":[", f);
	for (size_t i = 0; i < m->nworkers; i++) {
		fprintf(f,
		    "%s{\"id\":\"%016llx\",\"rate\":%.1f"
		    ",\"fail_rate\":%.1f,\"retry_rate\":%.1f}",
		    i ? "," : "", (unsigned long long) m->workers[i].id,
		    m->workers[i].rate, m->workers[i].fail_rate,
		    m->workers[i].retry_rate);
	}
	// The totals of the same sample, so that a page shows them with
	// the rows above.
	fputs("],\"now\":{", f);
	for (int k = 0; k < TASQ_HISTORY_NFIELDS; k++) {
		fprintf(f, "%s\"%s\":%.1f", k ? "," : "",
		    tasq_history_field_name(k), m->now.v[k]);
	}
	fputc('}', f);
	nng_mtx_unlock(m->mtx);
	fputs(",\"types\":[", f);
	if (tasq_broker_stats(m->broker, tasq_clock_mono_ms(), &st) == 0) {
		for (size_t i = 0; i < st.u.stats.ntypes; i++) {
			const tasq_type_stats *t = &st.u.stats.types[i];
			fprintf(f, "%s{\"queue\":", i ? "," : "");
			tasq_json_str(f, t->queue);
			fputs(",\"type\":", f);
			tasq_json_str(f, t->type);
			fprintf(f,
			    ",\"ready\":%llu,\"leased\":%llu,\"workers\":%u}",
			    (unsigned long long) t->ready,
			    (unsigned long long) t->leased, t->workers);
		}
		tasq_broker_stats_fini(&st);
	}
	fputs("]}\n", f);
	return (0);
}

// A payload as the page shows it: a square's int64, printable text as
// text, anything else as hex; at most PREVIEW bytes of it.
#define PREVIEW 48

static void
preview_json(FILE *f, const tasq_dead_letter *d)
{
	char   buf[2 * PREVIEW + 8];
	size_t n    = d->payload_size < PREVIEW ? d->payload_size : PREVIEW;
	bool   text = n > 0;

	if (d->payload == NULL || d->payload_size == 0) {
		fputs("\"\"", f);
		return;
	}
	if ((d->type == NULL || d->type[0] == '\0' ||
	        strcmp(d->type, "square") == 0) &&
	    d->payload_size == 8) {
		uint64_t u = 0;
		for (int i = 7; i >= 0; i--) {
			u = (u << 8) | d->payload[i];
		}
		fprintf(f, "\"%lld\"", (long long) u);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		text = text && d->payload[i] >= 0x20 && d->payload[i] < 0x7f;
	}
	if (text) {
		memcpy(buf, d->payload, n);
		buf[n] = '\0';
	} else {
		for (size_t i = 0; i < n; i++) {
			snprintf(buf + 2 * i, 3, "%02x", d->payload[i]);
		}
		buf[2 * n] = '\0';
	}
	fputc('"', f);
	if (!text) {
		fputs("0x", f);
	}
	// Text holds only printable ASCII: quote and backslash are all
	// that JSON needs escaped.
	for (const char *p = buf; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\') {
			fputc('\\', f);
		}
		fputc(*p, f);
	}
	fprintf(f, "%s\"", d->payload_len > n ? "\\u2026" : "");
}

// /api/dead: the newest DEAD_SHOWN dead letters, newest first, with
// reason, age and payload preview.
#define DEAD_PAGE 4096
#define DEAD_SHOWN 50

static int
dead_fill(tasq_metrics *m, FILE *f)
{
	tasq_rep rep;
	uint64_t now = tasq_clock_wall_ms(), after = 0, total = 0;
	int      rv;

	// The list runs oldest first: page through it without payloads
	// (bounded: each page moves past DEAD_PAGE letters), keeping the
	// last DEAD_SHOWN + 1 ids in a ring; the oldest of those is the one
	// before the newest DEAD_SHOWN, which are then listed with payloads.
	uint64_t ring[DEAD_SHOWN + 1];
	size_t   nring = 0;
	for (uint64_t seen = 0;;) {
		size_t n;
		if ((rv = tasq_broker_dead_list(m->broker, NULL, after,
		         DEAD_PAGE, false, &rep)) != 0) {
			return (rv);
		}
		n     = rep.u.dead_list.n;
		total = rep.u.dead_list.total;
		seen += n;
		for (size_t i = 0; i < n; i++) {
			ring[nring++ % (DEAD_SHOWN + 1)] =
			    rep.u.dead_list.letters[i].id;
		}
		if (n > 0) {
			after = rep.u.dead_list.letters[n - 1].id;
		}
		tasq_broker_stats_fini(&rep);
		if (n < DEAD_PAGE || seen >= total) {
			break;
		}
	}
	after = nring > DEAD_SHOWN ? ring[nring % (DEAD_SHOWN + 1)] : 0;
	if ((rv = tasq_broker_dead_list(
	         m->broker, NULL, after, DEAD_SHOWN, true, &rep)) != 0) {
		return (rv);
	}
	fprintf(f, "{\"total\":%llu,\"now_ms\":%llu,\"letters\":[",
	    (unsigned long long) total, (unsigned long long) now);
	for (size_t i = rep.u.dead_list.n; i > 0; i--) {
		const tasq_dead_letter *d = &rep.u.dead_list.letters[i - 1];
		fprintf(f,
		    "%s{\"id\":%llu,\"job\":\"%016llx\",\"task\":%llu,"
		    "\"queue\":",
		    i < rep.u.dead_list.n ? "," : "",
		    (unsigned long long) d->id, (unsigned long long) d->job_id,
		    (unsigned long long) d->task_id);
		tasq_json_str(f, d->queue != NULL ? d->queue : "");
		fputs(",\"type\":", f);
		tasq_json_str(
		    f, d->type != NULL && d->type[0] ? d->type : "square");
		fprintf(f,
		    ",\"attempts\":%u,\"code\":%u,\"code_name\":", d->attempts,
		    d->code);
		tasq_json_str(f, tasq_err_name((int) d->code));
		fputs(",\"error\":", f);
		tasq_json_str(f,
		    d->error != NULL && d->error[0] != '\0'
		        ? d->error
		        : tasq_strerror(tasq_err_from_code((int) d->code)));
		fprintf(f,
		    ",\"time_ms\":%llu,\"age_ms\":%llu,\"payload_len\":%u,"
		    "\"payload\":",
		    (unsigned long long) d->time_ms,
		    (unsigned long long) (now > d->time_ms ? now - d->time_ms
		                                           : 0),
		    d->payload_len);
		preview_json(f, d);
		fputc('}', f);
	}
	fputs("]}\n", f);
	tasq_broker_stats_fini(&rep);
	return (0);
}

static void
history_cb(nng_aio *aio)
{
	reply_json(aio, metrics_of(aio), history_fill);
}

static void
rates_cb(nng_aio *aio)
{
	reply_json(aio, metrics_of(aio), rates_fill);
}

static void
dead_cb(nng_aio *aio)
{
	reply_json(aio, metrics_of(aio), dead_fill);
}

static int
jobs_fill(tasq_metrics *m, FILE *f)
{
	return (tasq_webapi_jobs_json(
	    m->broker, tasq_clock_mono_ms(), tasq_clock_stamp_ms(), f));
}

static void
jobs_cb(nng_aio *aio)
{
	reply_json(aio, metrics_of(aio), jobs_fill);
}

// An action's answer: {"error":why,"code":NAME} with status, or the
// caller's JSON with 200.
static void
reply_error(nng_aio *aio, uint16_t status, int rv, const char *why)
{
	char  *buf = NULL;
	size_t len = 0;
	FILE  *f;

	if ((f = open_memstream(&buf, &len)) == NULL) {
		reply(aio, 500, "text/plain", "out of memory\n", 14);
		return;
	}
	fputs("{\"error\":", f);
	tasq_json_str(f, why);
	fputs(",\"code\":", f);
	tasq_json_str(f, tasq_err_name(tasq_err_code(rv)));
	fputs("}\n", f);
	if (fclose(f) != 0) {
		free(buf);
		reply(aio, 500, "text/plain", "out of memory\n", 14);
		return;
	}
	reply(aio, status, "application/json", buf, len);
	free(buf);
}

// The HTTP status of an action's refusal by the broker.
static uint16_t
action_status(int rv)
{
	switch (rv) {
	case TASQ_ENOT_FOUND:
		return (404);
	case TASQ_EINVALID_ARGUMENT:
	case TASQ_EFAILED_PRECONDITION:
		return (409);
	case TASQ_ERESOURCE_EXHAUSTED:
	case NNG_ENOMEM:
		return (503);
	default:
		return (500);
	}
}

// POST /api/jobs/ID/ACTION: checked first (server/webauth.h), then done
// under action_mtx. A refusal changes nothing and says why in its body.
static void
action_cb(nng_aio *aio)
{
	tasq_metrics    *m   = metrics_of(aio);
	nng_http_req    *req = nng_aio_get_input(aio, 0);
	tasq_webauth_req wr;
	const char      *why = NULL;
	bool             replayed;
	uint64_t         job, a = 0, b = 0;
	int              action, rv;
	void            *body;
	size_t           blen;
	char             out[160];

	if (m->auth.keys == NULL || tasq_keyring_count(m->auth.keys) == 0) {
		reply_error(aio, 403, TASQ_EPERMISSION_DENIED,
		    "actions are off: the server has no shared key");
		return;
	}
	nng_http_req_get_data(req, &body, &blen);
	wr.method        = nng_http_req_get_method(req);
	wr.target        = nng_http_req_get_uri(req);
	wr.body          = body;
	wr.body_len      = blen;
	wr.authorization = nng_http_req_get_header(req, "Authorization");
	rv = tasq_webauth_check(m->auth.keys, m->auth.replay, &wr,
	    tasq_clock_stamp_ms(), &replayed, &why);
	if (rv != 0) {
		if (m->auth.stats != NULL && rv == TASQ_EUNAUTHENTICATED) {
			tasq_stats_add(m->auth.stats,
			    replayed ? TASQ_CTR_REPLAYS
			             : TASQ_CTR_AUTH_FAILURES,
			    1);
		}
		reply_error(aio, rv == TASQ_EUNAUTHENTICATED ? 401 : 503, rv,
		    why != NULL ? why : tasq_strerror(rv));
		return;
	}
	if (!tasq_webapi_parse_action(wr.target, &job, &action)) {
		reply_error(aio, 404, TASQ_ENOT_FOUND,
		    "no such action: POST /api/jobs/ID/retry or "
		    "/api/jobs/ID/cancel (ID: 16 hex digits)");
		return;
	}
	nng_mtx_lock(m->action_mtx);
	switch (action) {
	case TASQ_WEBAPI_RETRY:
		rv = tasq_webapi_retry(
		    m->broker, job, tasq_clock_mono_ms(), &a, &b, &why);
		if (rv == 0) {
			snprintf(out, sizeof(out),
			    "{\"job\":\"%016llx\",\"retried\":%llu,"
			    "\"new_job\":\"%016llx\"}\n",
			    (unsigned long long) job, (unsigned long long) b,
			    (unsigned long long) a);
			tasq_info("dashboard: retried %llu dead letter(s) of "
			          "job %016llx as job %016llx",
			    (unsigned long long) b, (unsigned long long) job,
			    (unsigned long long) a);
		}
		break;
	case TASQ_WEBAPI_CANCEL: {
		uint32_t    running = 0;
		const char *state   = "";
		rv = tasq_webapi_cancel(m->broker, job, tasq_clock_mono_ms(),
		    &a, &running, &state, &why);
		if (rv == 0) {
			snprintf(out, sizeof(out),
			    "{\"job\":\"%016llx\",\"dropped\":%llu,"
			    "\"running\":%u,\"state\":\"%s\"}\n",
			    (unsigned long long) job, (unsigned long long) a,
			    running, state);
			tasq_info("dashboard: cancelled job %016llx (%llu "
			          "queued task(s) dropped, %u running)",
			    (unsigned long long) job, (unsigned long long) a,
			    running);
		}
		break;
	}
	default:
		rv  = TASQ_EUNIMPLEMENTED;
		why = "no such action";
		break;
	}
	nng_mtx_unlock(m->action_mtx);
	if (rv != 0) {
		reply_error(aio, action_status(rv), rv,
		    why != NULL ? why : tasq_strerror(rv));
		return;
	}
	reply(aio, 200, "application/json", out, strlen(out));
}

static int
add(tasq_metrics *m, const char *path, void (*cb)(nng_aio *))
{
	nng_http_handler *h;
	int               rv;

	if ((rv = nng_http_handler_alloc(&h, path, cb)) != 0) {
		return (rv);
	}
	if ((rv = nng_http_handler_set_data(h, m, NULL)) != 0 ||
	    (rv = nng_http_handler_set_method(h, "GET")) != 0 ||
	    (rv = nng_http_server_add_handler(m->srv, h)) != 0) {
		nng_http_handler_free(h);
	}
	return (rv);
}

// POST under /api/jobs/ (a tree): the actions. A body is signed but
// none is needed: at most 4 KiB is read.
static int
add_action(tasq_metrics *m)
{
	nng_http_handler *h;
	int               rv;

	if ((rv = nng_http_handler_alloc(&h, "/api/jobs", action_cb)) != 0) {
		return (rv);
	}
	if ((rv = nng_http_handler_set_data(h, m, NULL)) != 0 ||
	    (rv = nng_http_handler_set_method(h, "POST")) != 0 ||
	    (rv = nng_http_handler_set_tree(h)) != 0 ||
	    (rv = nng_http_handler_collect_body(h, true, 4096)) != 0 ||
	    (rv = nng_http_server_add_handler(m->srv, h)) != 0) {
		nng_http_handler_free(h);
	}
	return (rv);
}

static void
metrics_free(tasq_metrics *m)
{
	if (m->mtx != NULL) {
		nng_mtx_free(m->mtx);
	}
	if (m->action_mtx != NULL) {
		nng_mtx_free(m->action_mtx);
	}
	tasq_peers_stop(m->peers);
	tasq_history_free(m->history);
	free(m->queues);
	free(m->workers);
	free(m);
}

int
tasq_metrics_start(tasq_metrics **mp, const char *url, tasq_broker *b,
    tasq_rpc *rpc, tasq_journal *j, uint64_t identity,
    const tasq_metrics_auth *auth, char *err, size_t errlen)
{
	tasq_metrics     *m;
	nng_url          *u = NULL;
	nng_http_handler *h;
	int               rv;

	if ((m = calloc(1, sizeof(*m))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NNG_ENOMEM);
	}
	m->broker   = b;
	m->rpc      = rpc;
	m->journal  = j;
	m->identity = identity;
	m->started  = nng_clock();
	if (auth != NULL) {
		m->auth = *auth;
	}
	if ((rv = nng_mtx_alloc(&m->mtx)) != 0 ||
	    (rv = nng_mtx_alloc(&m->action_mtx)) != 0 ||
	    (rv = tasq_history_alloc(&m->history, HISTORY_SAMPLES)) != 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if ((rv = nng_url_parse(&u, url)) != 0 ||
	    strcmp(u->u_scheme, "http") != 0) {
		snprintf(err, errlen,
		    "--metrics-listen needs http://HOST:PORT, "
		    "not %s",
		    url);
		rv = rv ? rv : NNG_EINVAL;
		goto fail;
	}
	if ((rv = nng_http_server_hold(&m->srv, u)) != 0) {
		snprintf(err, errlen, "metrics server %s: %s", url,
		    nng_strerror(rv));
		goto fail;
	}
	if ((rv = add(m, "/metrics", metrics_cb)) != 0 ||
	    (rv = add(m, "/healthz", health_cb)) != 0 ||
	    (rv = add(m, "/api/stats", stats_cb)) != 0 ||
	    (rv = add(m, "/api/history", history_cb)) != 0 ||
	    (rv = add(m, "/api/rates", rates_cb)) != 0 ||
	    (rv = add(m, "/api/dead", dead_cb)) != 0 ||
	    (rv = add(m, "/api/jobs", jobs_cb)) != 0 ||
	    (rv = add_action(m)) != 0 ||
	    (rv = nng_http_handler_alloc_static(&h, "/", tasq_dashboard_html,
	         sizeof(tasq_dashboard_html) - 1,
	         "text/html; charset=utf-8")) != 0 ||
	    (rv = nng_http_server_add_handler(m->srv, h)) != 0) {
		snprintf(err, errlen, "metrics server: %s", nng_strerror(rv));
		goto fail;
	}
	if ((rv = nng_http_server_start(m->srv)) != 0) {
		snprintf(err, errlen, "cannot serve metrics on %s: %s", url,
		    nng_strerror(rv));
		goto fail;
	}
	nng_url_free(u);
	*mp = m;
	return (0);
fail:
	if (u != NULL) {
		nng_url_free(u);
	}
	if (m->srv != NULL) {
		nng_http_server_release(m->srv);
	}
	metrics_free(m);
	return (rv);
}

int
tasq_metrics_peers(
    tasq_metrics *m, const tasq_peers_conf *conf, char *err, size_t errlen)
{
	tasq_peers *p;
	int         rv;

	if ((rv = tasq_peers_start(&p, conf, err, errlen)) != 0) {
		return (rv);
	}
	// The handlers read the pointer under mtx: they run already.
	nng_mtx_lock(m->mtx);
	m->peers = p;
	nng_mtx_unlock(m->mtx);
	return (0);
}

void
tasq_metrics_stop(tasq_metrics *m)
{
	if (m == NULL) {
		return;
	}
	nng_http_server_stop(m->srv);
	nng_http_server_release(m->srv);
	metrics_free(m);
}
