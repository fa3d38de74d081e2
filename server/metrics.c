#include "metrics.h"

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
#include "statsfmt.h"

struct tasq_metrics {
	nng_http_server *srv;
	tasq_broker     *broker;
	tasq_rpc        *rpc;
	tasq_journal    *journal;
	nng_time         started;
};

static void
put_metric(FILE *f, const char *name, const char *type, const char *help,
    unsigned long long v)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name,
	    type, name, v);
}

// tasq_queue_tasks_{submitted,completed}_total{queue="..."}: per-queue
// counterparts of tasq_tasks_{submitted,completed}_total, their sums over
// the queues. Like those, they start again when the server restarts.
static void
put_queue_counter(FILE *f, const tasq_rep *st, bool completed)
{
	const char *what = completed ? "completed" : "submitted";

	fprintf(f,
	    "# HELP tasq_queue_tasks_%s_total %s From 0 at each server "
	    "start; with --data-dir the journal records replayed then count "
	    "again.\n# TYPE tasq_queue_tasks_%s_total counter\n",
	    what,
	    completed ? "Tasks of the queue given their first result, errors "
	                "and dead letters included."
	              : "Tasks newly enqueued in the queue; a batch "
	                "submitted again is not counted twice.",
	    what);
	for (size_t i = 0; i < st->u.stats.nqueues; i++) {
		const tasq_queue_stats *q = &st->u.stats.queues[i];
		fprintf(f, "tasq_queue_tasks_%s_total{queue=\"%s\"} %llu\n",
		    what, q->name,
		    (unsigned long long) (completed ? q->completed
		                                    : q->submitted));
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
		// The Stats counters in their order (broker.h); a name that
		// ends in _total already keeps it.
		for (size_t i = 0; i < st.u.stats.ncounters; i++) {
			const tasq_counter *c = &st.u.stats.counters[i];
			const char *help = tasq_broker_counter_help((int) i);
			size_t      n    = strlen(c->name);
			const char *sfx =
			    n >= 6 && strcmp(c->name + n - 6, "_total") == 0
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
		put_queue_counter(f, &st, false);
		put_queue_counter(f, &st, true);
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
	tasq_stats_json(&st, f);
	tasq_broker_stats_fini(&st);
	if (fclose(f) != 0) {
		free(buf);
		reply(aio, 500, "text/plain", "out of memory\n", 14);
		return;
	}
	reply(aio, 200, "application/json", buf, len);
	free(buf);
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

int
tasq_metrics_start(tasq_metrics **mp, const char *url, tasq_broker *b,
    tasq_rpc *rpc, tasq_journal *j, char *err, size_t errlen)
{
	tasq_metrics     *m;
	nng_url          *u = NULL;
	nng_http_handler *h;
	int               rv;

	if ((m = calloc(1, sizeof(*m))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NNG_ENOMEM);
	}
	m->broker  = b;
	m->rpc     = rpc;
	m->journal = j;
	m->started = nng_clock();
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
	free(m);
	return (rv);
}

void
tasq_metrics_stop(tasq_metrics *m)
{
	if (m == NULL) {
		return;
	}
	nng_http_server_stop(m->srv);
	nng_http_server_release(m->srv);
	free(m);
}
