// admin: libtasq's "Operating a server" (include/tasq/tasq.h): health,
// stats, the job list, dead letters, and status, wait, results and
// cancel of any job by its id, on a session. What the tasq tool's
// subcommands other than submit do, so that the tool makes no request
// of its own.
//
// Replies are handed out without copying where the caller gets a
// structure the library allocates: a private wrapper keeps the decoded
// reply (tasq_rep) beside the public structure, whose strings and
// payloads point into it, and the structure's _free releases both.
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "statsfmt.h"
#include "wire.h"

// ---- helpers --------------------------------------------------------------

void
tasq_api_status_from_info(tasq_job_status *st, const tasq_job_info *ji)
{
	size_t size = st->size;

	memset(st, 0, sizeof(*st));
	st->size          = size;
	st->job_id        = ji->job_id;
	st->state         = ji->state;
	st->submitted     = ji->submitted;
	st->completed     = ji->completed;
	st->failed        = ji->failed;
	st->age_ms        = ji->age_ms;
	st->detached      = ji->detached;
	st->result_ttl_ms = ji->result_ttl_ms;
	st->expires_in_ms = ji->expires_in_ms;
	st->no_worker     = ji->no_worker;
	st->workers       = ji->workers;
	snprintf(st->queue, sizeof(st->queue), "%s",
	    ji->queue != NULL ? ji->queue : "");
	snprintf(st->type, sizeof(st->type), "%s",
	    ji->type != NULL ? ji->type : "");
	snprintf(st->host, sizeof(st->host), "%s",
	    ji->host != NULL ? ji->host : "");
}

static bool
status_ok(const tasq_job_status *st)
{
	return (st == NULL || st->size >= sizeof(*st));
}

static int
status_size_fail(const char *fn, const tasq_job_status *st)
{
	return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
	    "%s: tasq_job_status.size is %zu, not %zu: initialise it with "
	    "TASQ_JOB_STATUS_INIT",
	    fn, st->size, sizeof(*st)));
}

static bool
queue_ok(const char *queue)
{
	return (queue == NULL || tasq_wire_valid_name(queue));
}

static int
queue_fail(const char *fn)
{
	return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
	    "%s: a queue name is 1-64 characters of [A-Za-z0-9._-]", fn));
}

// A failure that a dropped connection explains: the session dials
// afresh (nng 1.5.2 can leave a dialer that no longer retries after a
// peer dropped a connection mid-handshake, lib/chan.h; the redial is
// rate-limited there, so a run of failures costs one).
static void
maybe_redial(tasq_session *s, int rv)
{
	// Several servers: the session's prober redials the member a call
	// marked down (lib/api/servers.c).
	if (!tasq_api_sharded(s) &&
	    (rv == TASQ_EUNAVAILABLE || rv == TASQ_EDEADLINE_EXCEEDED)) {
		(void) tasq_chan_redial(s->chan);
	}
}

// job_call is tasq_api_call to the server that holds job_id: with
// several servers the member its id's tag names (PROTOCOL.md 16.4), with
// one the server (no extra round trip).
static int
job_call(tasq_session *s, uint64_t job_id, const tasq_req *req,
    uint32_t timeout_ms, tasq_rep *rep, char *err, size_t errlen)
{
	uint32_t m;
	int      rv;

	// With one server both calls are what tasq_api_call is (member 1,
	// no round trip to find it).
	if ((rv = tasq_api_job_member(s, job_id, &m, err, errlen)) != 0) {
		return (rv);
	}
	return (tasq_api_call_member(s, m, req, timeout_ms, rep, err, errlen));
}

// ---- health
// -----------------------------------------------------------------

TASQ_API int
tasq_server_health(tasq_health *h, tasq_session *s)
{
	tasq_req req;
	tasq_rep rep;
	char     err[512];
	size_t   size;
	int      rv;

	tasq_api_clear();
	if (h == NULL || s == NULL) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_server_health: h or s is NULL"));
	}
	if (h->size < sizeof(*h)) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_health.size is %zu, not %zu: initialise it with "
		    "TASQ_HEALTH_INIT",
		    h->size, sizeof(*h)));
	}
	memset(&req, 0, sizeof(req));
	req.method = TASQ_M_HEALTH;
	if ((rv = tasq_api_call(
	         s, &req, s->timeout_ms, &rep, err, sizeof(err))) != 0) {
		maybe_redial(s, rv);
		return (tasq_api_fail(rv, "%s", err));
	}
	size = h->size;
	memset(h, 0, sizeof(*h));
	h->size      = size;
	h->serving   = rep.u.health.serving;
	h->uptime_ms = rep.u.health.uptime_ms;
	h->server_id = rep.u.health.server_id;
	h->identity  = rep.u.health.identity; // 0: a server from before
	snprintf(h->version, sizeof(h->version), "%s",
	    rep.u.health.version != NULL ? rep.u.health.version : "");
	tasq_wire_rep_fini(&rep);
	return (0);
}

// ---- stats
// ------------------------------------------------------------------

// The queue table's header and one row (tasq stats, and the TOTAL of
// tasq stats --all).
static void
queue_head(FILE *f)
{
	fprintf(f, "%-20s %10s %10s %10s %6s %8s %12s %12s %10s %10s\n",
	    "QUEUE", "READY", "LEASED", "RESULTS", "JOBS", "DEAD", "SUBMITTED",
	    "COMPLETED", "FAILED", "RETRIED");
}

static void
queue_row(FILE *f, const char *name, const tasq_queue_stats *q)
{
	fprintf(f,
	    "%-20s %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %6" PRIu64
	    " %8" PRIu64 " %12" PRIu64 " %12" PRIu64 " %10" PRIu64
	    " %10" PRIu64 "\n",
	    name, q->ready, q->leased, q->results, q->jobs, q->dead,
	    q->submitted, q->completed, q->failed, q->retried);
}

// The text tasq stats prints (the tables; FAILED and RETRIED last:
// scripts read the columns before them by position).
static void
stats_text(const tasq_rep *rep, FILE *f)
{
	char d[32];

	fprintf(f, "server %s, up %s\n", rep->u.stats.version,
	    tasq_fmt_duration(d, sizeof(d), rep->u.stats.uptime_ms));
	if (rep->u.stats.identity !=
	    0) { // its own line: scripts read the first
		fprintf(f,
		    "identity %016" PRIx64 " (shard tag %04" PRIx64 ")\n",
		    rep->u.stats.identity, rep->u.stats.identity >> 48);
	}
	fputc('\n', f);
	queue_head(f);
	for (size_t i = 0; i < rep->u.stats.nqueues; i++) {
		const tasq_queue_stats *q = &rep->u.stats.queues[i];
		queue_row(f, q->name, q);
	}
	fprintf(f, "\n%-32s %-12s %6s %8s %12s %9s %9s %10s %10s\n", "WORKER",
	    "QUEUE", "LEASES", "IN-HAND", "COMPLETED", "IDLE", "CONNECTED",
	    "FAILED", "RETRIED");
	for (size_t i = 0; i < rep->u.stats.nworkers; i++) {
		const tasq_worker_stats *w = &rep->u.stats.workers[i];
		fprintf(f,
		    "%-32s %-12s %6" PRIu64 " %8" PRIu64 " %12" PRIu64
		    " %9s %-9s %10" PRIu64 " %10" PRIu64 "\n",
		    w->name, w->queue, w->leases, w->tasks_in_hand,
		    w->completed, tasq_fmt_duration(d, sizeof(d), w->idle_ms),
		    w->connected ? "yes" : "no", w->failed, w->retried);
	}
	// Task types: a type with tasks and no worker waits for one.
	fprintf(f, "\n%-20s %-24s %10s %10s %8s\n", "QUEUE", "TYPE", "READY",
	    "LEASED", "WORKERS");
	for (size_t i = 0; i < rep->u.stats.ntypes; i++) {
		const tasq_type_stats *t = &rep->u.stats.types[i];
		fprintf(f,
		    "%-20s %-24s %10" PRIu64 " %10" PRIu64 " %8" PRIu32 "%s\n",
		    t->queue, t->type, t->ready, t->leased, t->workers,
		    t->workers == 0 && t->ready > 0 ? "  no worker serves it"
		                                    : "");
	}
	fprintf(f, "\nCOUNTERS\n");
	for (size_t i = 0; i < rep->u.stats.ncounters; i++) {
		fprintf(f, "  %-36s %" PRIu64 "\n",
		    rep->u.stats.counters[i].name,
		    rep->u.stats.counters[i].value);
	}
	// A count: the letters themselves are tasq dead's to list.
	fprintf(f, "\ndead letters: %" PRIu64 "%s\n",
	    tasq_stats_dead_total(rep),
	    tasq_stats_dead_total(rep) > 0 ? " (tasq dead lists them)" : "");
}

// ---- stats of every server (TASQ_STATS_ALL)

#define ALL_MAX TASQ_SHARD_MAX_MEMBERS

struct all_one {
	tasq_shard_member m;
	int               rv; // of its Stats call
	char              err[256];
	tasq_rep          rep; // when rv is 0
};

// One line of the total: a queue's counts summed over the servers.
struct all_queue {
	const char      *name; // points into a reply
	tasq_queue_stats sum;
};

static void
all_sum(struct all_one *one, size_t n, struct all_queue **qp, size_t *nqp,
    uint64_t *workersp, uint64_t *deadp)
{
	struct all_queue *q  = NULL;
	size_t            nq = 0, cap = 0;

	*workersp = *deadp = 0;
	for (size_t i = 0; i < n; i++) {
		if (one[i].rv != 0) {
			continue;
		}
		const tasq_rep *r = &one[i].rep;
		*workersp += r->u.stats.nworkers;
		*deadp += tasq_stats_dead_total(r);
		for (size_t k = 0; k < r->u.stats.nqueues; k++) {
			const tasq_queue_stats *qs = &r->u.stats.queues[k];
			size_t                  j;
			for (j = 0; j < nq && strcmp(q[j].name, qs->name) != 0;
			     j++) {
			}
			if (j == nq) {
				if (nq == cap) {
					cap = cap ? 2 * cap : 8;
					void *nqv =
					    realloc(q, cap * sizeof(*q));
					if (nqv == NULL) {
						continue; // the total misses
						          // it
					}
					q = nqv;
				}
				memset(&q[nq], 0, sizeof(q[nq]));
				q[nq].name = qs->name;
				nq++;
			}
			q[j].sum.ready += qs->ready;
			q[j].sum.leased += qs->leased;
			q[j].sum.results += qs->results;
			q[j].sum.jobs += qs->jobs;
			q[j].sum.dead += qs->dead;
			q[j].sum.submitted += qs->submitted;
			q[j].sum.completed += qs->completed;
			q[j].sum.failed += qs->failed;
			q[j].sum.retried += qs->retried;
		}
	}
	*qp  = q;
	*nqp = nq;
}

static void
all_text(struct all_one *one, size_t n, FILE *f)
{
	struct all_queue *q;
	size_t            nq, up = 0;
	uint64_t          workers, dead;

	for (size_t i = 0; i < n; i++) {
		up += one[i].rv == 0;
	}
	all_sum(one, n, &q, &nq, &workers, &dead);
	fprintf(f, "servers: %zu, %zu answered\n", n, up);
	fprintf(f, "\nTOTAL\n");
	queue_head(f);
	for (size_t j = 0; j < nq; j++) {
		queue_row(f, q[j].name, &q[j].sum);
	}
	fprintf(f, "workers: %" PRIu64 ", dead letters: %" PRIu64 "\n",
	    workers, dead);
	free(q);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "\n== %s", one[i].m.url);
		if (one[i].m.identity != 0) {
			fprintf(f, " (identity %016" PRIx64 ")",
			    one[i].m.identity);
		}
		if (one[i].rv != 0) {
			fprintf(f, ": no answer: %s\n", one[i].err);
			continue;
		}
		fprintf(f, "\n");
		stats_text(&one[i].rep, f);
	}
}

// One server's object as tasq stats --json prints it, without its
// closing newline.
static void
all_stats_json(const tasq_rep *rep, FILE *f)
{
	char  *buf = NULL;
	size_t len = 0;
	FILE  *m;

	if ((m = open_memstream(&buf, &len)) == NULL) {
		fputs("null", f);
		return;
	}
	tasq_stats_json_write(rep, 0, m);
	if (fclose(m) != 0 || buf == NULL) {
		free(buf);
		fputs("null", f);
		return;
	}
	while (len > 0 && buf[len - 1] == '\n') {
		len--;
	}
	fwrite(buf, 1, len, f);
	free(buf);
}

static void
all_json(struct all_one *one, size_t n, FILE *f)
{
	struct all_queue *q;
	size_t            nq;
	uint64_t          workers, dead;

	fprintf(f, "{\"servers\":[");
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%s{\"url\":", i ? "," : "");
		tasq_json_str(f, one[i].m.url);
		if (one[i].m.identity != 0) {
			// As the stats' own (known of a server down too, once
			// probed).
			fprintf(f, ",\"identity\":\"%016" PRIx64 "\"",
			    one[i].m.identity);
		}
		if (one[i].rv != 0) {
			fprintf(f, ",\"up\":false,\"error\":");
			tasq_json_str(f, one[i].err);
			fputc('}', f);
			continue;
		}
		fprintf(f, ",\"up\":true,\"stats\":");
		all_stats_json(&one[i].rep, f);
		fputc('}', f);
	}
	all_sum(one, n, &q, &nq, &workers, &dead);
	fprintf(f, "],\"total\":{\"queues\":[");
	for (size_t j = 0; j < nq; j++) {
		fputs(j ? "," : "", f);
		tasq_stats_queue_json(q[j].name, &q[j].sum, f);
	}
	fprintf(f, "],\"workers\":%" PRIu64 ",\"dead_total\":%" PRIu64 "}}\n",
	    workers, dead);
	free(q);
}

// Every server of the session (each once: aliases skipped), asked in
// turn; a server that does not answer is shown as such. Fails only when
// none answers.
static int
stats_all(char **docp, tasq_session *s, int format)
{
	tasq_shard_member *ms;
	struct all_one    *one;
	size_t             nm, n = 0, up = 0;
	char              *doc = NULL;
	size_t             len = 0;
	FILE              *f;
	tasq_req           req;
	char               last[600] = "";

	if ((ms = calloc(ALL_MAX, sizeof(*ms))) == NULL ||
	    (one = calloc(ALL_MAX, sizeof(*one))) == NULL) {
		free(ms);
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	nm = tasq_api_members(s, ms, ALL_MAX);
	nm = nm > ALL_MAX ? ALL_MAX : nm;
	memset(&req, 0, sizeof(req));
	req.method = TASQ_M_STATS;
	for (size_t i = 0; i < nm; i++) {
		if (ms[i].alias_of != 0) {
			continue;
		}
		one[n].m = ms[i];
		one[n].rv =
		    tasq_api_call_member(s, ms[i].num, &req, s->timeout_ms,
		        &one[n].rep, one[n].err, sizeof(one[n].err));
		if (one[n].rv == 0) {
			up++;
		} else {
			snprintf(last, sizeof(last), "%s: %s", ms[i].url,
			    one[n].err);
		}
		n++;
	}
	free(ms);
	if (up == 0) {
		free(one);
		return (tasq_api_fail(TASQ_EUNAVAILABLE,
		    "no server answered (%zu): %s", n, last));
	}
	if ((f = open_memstream(&doc, &len)) != NULL) {
		if (format == TASQ_STATS_JSON) {
			all_json(one, n, f);
		} else {
			all_text(one, n, f);
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (one[i].rv == 0) {
			tasq_wire_rep_fini(&one[i].rep);
		}
	}
	free(one);
	if (f == NULL || ferror(f) || fclose(f) != 0 || doc == NULL) {
		free(doc);
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	*docp = doc;
	return (0);
}

TASQ_API int
tasq_server_stats(char **docp, tasq_session *s, int format)
{
	tasq_req req;
	tasq_rep rep;
	char     err[512];
	char    *doc = NULL;
	size_t   len = 0;
	FILE    *f;
	int      rv;

	tasq_api_clear();
	if (docp == NULL || s == NULL) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_server_stats: docp or s is NULL"));
	}
	if ((format & ~TASQ_STATS_ALL) != TASQ_STATS_TEXT &&
	    (format & ~TASQ_STATS_ALL) != TASQ_STATS_JSON) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_server_stats: format %d is neither TASQ_STATS_TEXT "
		    "nor TASQ_STATS_JSON (with TASQ_STATS_ALL or not)",
		    format));
	}
	if ((format & TASQ_STATS_ALL) != 0) {
		return (stats_all(docp, s, format & ~TASQ_STATS_ALL));
	}
	memset(&req, 0, sizeof(req));
	req.method = TASQ_M_STATS;
	if ((rv = tasq_api_call(
	         s, &req, s->timeout_ms, &rep, err, sizeof(err))) != 0) {
		maybe_redial(s, rv);
		return (tasq_api_fail(rv, "%s", err));
	}
	if ((f = open_memstream(&doc, &len)) == NULL) {
		tasq_wire_rep_fini(&rep);
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	if (format == TASQ_STATS_JSON) {
		tasq_stats_json_write(&rep, 0, f);
	} else {
		stats_text(&rep, f);
	}
	tasq_wire_rep_fini(&rep);
	if (ferror(f) || fclose(f) != 0 || doc == NULL) {
		free(doc);
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	*docp = doc;
	return (0);
}

TASQ_API void
tasq_free(void *p)
{
	free(p);
}

// ---- several servers: each once, in tag order
// -----------------------------------------------------------------

// The servers of s, each once (aliases skipped), ordered by tag (then
// number): new (*msp, *np; free with free()). With one server: member
// 1. Errors: TASQ_ERESOURCE_EXHAUSTED.
static int
servers_by_tag(tasq_session *s, tasq_shard_member **msp, size_t *np)
{
	tasq_shard_member *ms;
	size_t             nm, n = 0;

	if ((ms = calloc(ALL_MAX, sizeof(*ms))) == NULL) {
		return (TASQ_ERESOURCE_EXHAUSTED);
	}
	nm = tasq_api_members(s, ms, ALL_MAX);
	nm = nm > ALL_MAX ? ALL_MAX : nm;
	for (size_t i = 0; i < nm; i++) {
		if (ms[i].alias_of == 0) {
			ms[n++] = ms[i];
		}
	}
	// Insertion sort: a few members.
	for (size_t i = 1; i < n; i++) {
		tasq_shard_member m = ms[i];
		size_t            j = i;
		while (j > 0 &&
		    ((ms[j - 1].identity >> 48) > (m.identity >> 48) ||
		        ((ms[j - 1].identity >> 48) == (m.identity >> 48) &&
		            ms[j - 1].num > m.num))) {
			ms[j] = ms[j - 1];
			j--;
		}
		ms[j] = m;
	}
	*msp = ms;
	*np  = n;
	return (0);
}

// Appends "URL: why" to the message of the servers that did not answer
// (*missp: new, or grown; free with free()). Out of memory: unchanged.
static void
missing_add(char **missp, const char *url, const char *why)
{
	size_t have = *missp != NULL ? strlen(*missp) : 0;
	size_t need = have + strlen(url) + strlen(why) + 5;
	char  *m    = realloc(*missp, need);

	if (m == NULL) {
		return;
	}
	snprintf(
	    m + have, need - have, "%s%s: %s", have > 0 ? "; " : "", url, why);
	*missp = m;
}

// ---- job list
// -----------------------------------------------------------------

// The public list and what it owns.
struct job_list {
	tasq_job_list pub; // first
	char         *missing;
};

// Several servers: every server's list, one after the other (their job
// ids name them: the tag); a server that does not answer is named in
// missing, and the list fails only when none answers.
static int
jobs_all(struct job_list *l, tasq_session *s, const tasq_req *req)
{
	tasq_shard_member *ms;
	size_t             n, up = 0, cap = 0;
	char               err[512], last[1024] = "";
	int                rv;

	if (servers_by_tag(s, &ms, &n) != 0) {
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	for (size_t i = 0; i < n; i++) {
		tasq_rep rep;
		if ((rv = tasq_api_call_member(s, ms[i].num, req,
		         s->timeout_ms, &rep, err, sizeof(err))) != 0) {
			missing_add(&l->missing, ms[i].url, err);
			snprintf(last, sizeof(last), "%s: %s", ms[i].url, err);
			continue;
		}
		up++;
		size_t k = rep.u.job_list.n;
		if (l->pub.n + k + 1 > cap) {
			size_t           c = 2 * (l->pub.n + k + 1);
			tasq_job_status *j =
			    realloc(l->pub.jobs, c * sizeof(*j));
			if (j == NULL) {
				tasq_wire_rep_fini(&rep);
				free(ms);
				return (tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED,
				    "out of memory"));
			}
			l->pub.jobs = j;
			cap         = c;
		}
		for (size_t x = 0; x < k; x++) {
			tasq_job_status *st = &l->pub.jobs[l->pub.n++];
			memset(st, 0, sizeof(*st));
			st->size = sizeof(*st);
			tasq_api_status_from_info(st, &rep.u.job_list.jobs[x]);
		}
		l->pub.total += rep.u.job_list.total;
		tasq_wire_rep_fini(&rep);
	}
	free(ms);
	if (up == 0) {
		return (tasq_api_fail(TASQ_EUNAVAILABLE,
		    "no server answered (%zu): %s", n, last));
	}
	l->pub.missing = l->missing;
	return (0);
}

TASQ_API int
tasq_server_jobs(
    tasq_job_list **lp, tasq_session *s, const char *queue, uint32_t max)
{
	tasq_req         req;
	tasq_rep         rep;
	char             err[512];
	struct job_list *jl;
	tasq_job_list   *l;
	int              rv;

	tasq_api_clear();
	if (lp == NULL || s == NULL) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_server_jobs: lp or s is NULL"));
	}
	if (!queue_ok(queue)) {
		return (queue_fail("tasq_server_jobs"));
	}
	memset(&req, 0, sizeof(req));
	req.method           = TASQ_M_JOB_LIST;
	req.u.job_list.queue = queue != NULL ? queue : "";
	req.u.job_list.max   = max == 0 ? 1000 : max;
	if (tasq_api_sharded(s)) {
		if ((jl = calloc(1, sizeof(*jl))) == NULL) {
			return (tasq_api_fail(
			    TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
		}
		if ((rv = jobs_all(jl, s, &req)) != 0) {
			tasq_job_list_free(&jl->pub);
			return (rv);
		}
		*lp = &jl->pub;
		return (0);
	}
	if ((rv = tasq_api_call(
	         s, &req, s->timeout_ms, &rep, err, sizeof(err))) != 0) {
		maybe_redial(s, rv);
		return (tasq_api_fail(rv, "%s", err));
	}
	size_t n = rep.u.job_list.n;
	if ((jl = calloc(1, sizeof(*jl))) == NULL ||
	    (jl->pub.jobs = calloc(n + 1, sizeof(*jl->pub.jobs))) == NULL) {
		free(jl);
		tasq_wire_rep_fini(&rep);
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	l = &jl->pub;
	for (size_t i = 0; i < n; i++) {
		l->jobs[i].size = sizeof(l->jobs[i]);
		tasq_api_status_from_info(
		    &l->jobs[i], &rep.u.job_list.jobs[i]);
	}
	l->n     = n;
	l->total = rep.u.job_list.total;
	tasq_wire_rep_fini(&rep);
	*lp = l;
	return (0);
}

TASQ_API void
tasq_job_list_free(tasq_job_list *l)
{
	struct job_list *jl = (struct job_list *) l;

	if (jl != NULL) {
		free(jl->pub.jobs);
		free(jl->missing);
		free(jl);
	}
}

// ---- status by id
// -------------------------------------------------------------

// One JobStatus; the message names the job, as tasq status prints it.
static int
status_call(tasq_job_status *st, tasq_session *s, uint64_t id)
{
	tasq_req req;
	tasq_rep rep;
	char     err[512];
	int      rv;

	memset(&req, 0, sizeof(req));
	req.method              = TASQ_M_JOB_STATUS;
	req.u.job_status.job_id = id;
	if ((rv = job_call(
	         s, id, &req, s->timeout_ms, &rep, err, sizeof(err))) != 0) {
		maybe_redial(s, rv);
		return (tasq_api_fail(rv, "job %016" PRIx64 ": %s", id, err));
	}
	tasq_api_status_from_info(st, &rep.u.job_status.job);
	tasq_wire_rep_fini(&rep);
	return (0);
}

TASQ_API int
tasq_job_status_id(tasq_job_status *st, tasq_session *s, uint64_t job_id)
{
	tasq_api_clear();
	if (st == NULL || s == NULL || job_id == 0) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_job_status_id: st or s is NULL, or job_id 0"));
	}
	if (!status_ok(st)) {
		return (status_size_fail("tasq_job_status_id", st));
	}
	return (status_call(st, s, job_id));
}

// ---- wait by id
// -----------------------------------------------------------------
//
// A wait is a loop of status requests with pauses, on a thread of its
// own (detached: it holds the session, which tasq_session_free waits
// for). Its cancel may come at any time, even after the wait finished
// (the aio hands the cancel function out before calling it), so the
// waits in flight are in one list under one lock, and the cancel finds
// its wait there by the aio or not at all (as the session's requests,
// lib/api/session.c).

struct wait_op {
	tasq_session    *s;
	uint64_t         id;
	tasq_job_status *st; // the caller's (may be NULL)
	tasq_aio        *aio;
	bool             cancelled; // the cancel finished the aio
	struct wait_op  *next;
};

static pthread_mutex_t wait_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  wait_cv  = PTHREAD_COND_INITIALIZER;
static struct wait_op *waits;

static void
wait_unlink(struct wait_op *op)
{
	for (struct wait_op **pp = &waits; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == op) {
			*pp = op->next;
			return;
		}
	}
}

static void
wait_cancel(tasq_aio *aio, void *arg, int rv)
{
	struct wait_op *op;

	(void) arg;
	pthread_mutex_lock(&wait_mtx);
	for (op = waits; op != NULL; op = op->next) {
		if (op->aio == aio && !op->cancelled) {
			break;
		}
	}
	if (op == NULL) {
		pthread_mutex_unlock(&wait_mtx);
		return;
	}
	op->cancelled = true;
	pthread_cond_broadcast(&wait_cv);
	pthread_mutex_unlock(&wait_mtx);
	(void) tasq_api_aio_finish(aio, rv,
	    rv == TASQ_EDEADLINE_EXCEEDED ? "the aio's timeout expired"
	                                  : "cancelled");
}

static void *
wait_main(void *arg)
{
	struct wait_op *op    = arg;
	uint32_t        pause = 20;
	tasq_job_status st    = TASQ_JOB_STATUS_INIT;
	int             rv;

	for (;;) {
		rv = status_call(&st, op->s, op->id);
		if (rv == 0 && st.state != TASQ_JOB_STATE_DONE &&
		    st.state != TASQ_JOB_STATE_CANCELLED) {
			// Not yet: pause (a cancel wakes it), then ask again.
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += (long) pause * 1000000L;
			ts.tv_sec += ts.tv_nsec / 1000000000L;
			ts.tv_nsec %= 1000000000L;
			pthread_mutex_lock(&wait_mtx);
			while (!op->cancelled &&
			    pthread_cond_timedwait(&wait_cv, &wait_mtx, &ts) ==
			        0) {
			}
			bool stop = op->cancelled;
			pthread_mutex_unlock(&wait_mtx);
			if (stop) {
				break;
			}
			// Status is cheap; the pause grows to half a second.
			pause = pause * 2 > 500 ? 500 : pause * 2;
			continue;
		}
		if (rv == 0 && st.state == TASQ_JOB_STATE_CANCELLED) {
			rv = TASQ_ECANCELLED;
			tasq_api_fail(
			    rv, "job %016" PRIx64 " was cancelled", op->id);
		}
		break;
	}
	pthread_mutex_lock(&wait_mtx);
	bool finish = !op->cancelled;
	if (finish && op->st != NULL && (rv == 0 || rv == TASQ_ECANCELLED)) {
		size_t size  = op->st->size;
		*op->st      = st;
		op->st->size = size;
	}
	wait_unlink(op);
	pthread_mutex_unlock(&wait_mtx);
	if (finish) {
		(void) tasq_api_aio_finish(
		    op->aio, rv, rv != 0 ? tasq_errmsg() : "");
	}
	tasq_api_session_release(op->s);
	free(op);
	return (NULL);
}

TASQ_API int
tasq_job_wait_id_aio(
    tasq_job_status *st, tasq_session *s, uint64_t job_id, tasq_aio *aio)
{
	struct wait_op *op;
	pthread_attr_t  attr;
	pthread_t       thr;
	int             rv;

	tasq_api_clear();
	if (s == NULL || aio == NULL || job_id == 0) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_job_wait_id: s or aio is NULL, or job_id 0"));
	}
	if (!status_ok(st)) {
		return (status_size_fail("tasq_job_wait_id", st));
	}
	if ((op = calloc(1, sizeof(*op))) == NULL) {
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	op->s   = s;
	op->id  = job_id;
	op->st  = st;
	op->aio = aio;
	if ((rv = tasq_api_session_hold(s)) != 0) {
		free(op);
		return (tasq_api_fail(rv, "the session is closed"));
	}
	if ((rv = tasq_api_aio_begin(aio)) != 0) {
		tasq_api_session_release(s);
		free(op);
		return (rv);
	}
	pthread_mutex_lock(&wait_mtx);
	op->next = waits;
	waits    = op;
	pthread_mutex_unlock(&wait_mtx);
	tasq_api_aio_defer(aio, wait_cancel, NULL);
	if (pthread_attr_init(&attr) != 0 ||
	    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) != 0 ||
	    pthread_create(&thr, &attr, wait_main, op) != 0) {
		pthread_mutex_lock(&wait_mtx);
		bool finish = !op->cancelled;
		wait_unlink(op);
		pthread_mutex_unlock(&wait_mtx);
		if (finish) {
			(void) tasq_api_aio_finish(aio,
			    TASQ_ERESOURCE_EXHAUSTED, "cannot start a thread");
		}
		tasq_api_session_release(s);
		free(op);
	}
	(void) pthread_attr_destroy(&attr);
	return (0);
}

struct wait_args {
	tasq_job_status *st;
	tasq_session    *s;
	uint64_t         id;
};

static int
wait_start(tasq_aio *aio, void *arg)
{
	struct wait_args *a = arg;
	return (tasq_job_wait_id_aio(a->st, a->s, a->id, aio));
}

TASQ_API int
tasq_job_wait_id(tasq_job_status *st, tasq_session *s, uint64_t job_id)
{
	struct wait_args a = { st, s, job_id };

	tasq_api_clear();
	if (s == NULL || job_id == 0) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_job_wait_id: s is NULL, or job_id 0"));
	}
	return (tasq_api_aio_run(wait_start, &a));
}

// ---- cancel by id
// ---------------------------------------------------------------

TASQ_API int
tasq_job_cancel_id(tasq_job_status *st, uint64_t *droppedp, uint32_t *runningp,
    tasq_session *s, uint64_t job_id)
{
	tasq_req req;
	tasq_rep rep;
	char     err[512];
	int      rv;

	tasq_api_clear();
	if (s == NULL || job_id == 0) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_job_cancel_id: s is NULL, or job_id 0"));
	}
	if (!status_ok(st)) {
		return (status_size_fail("tasq_job_cancel_id", st));
	}
	memset(&req, 0, sizeof(req));
	req.method          = TASQ_M_CANCEL;
	req.u.cancel.job_id = job_id;
	if ((rv = job_call(s, job_id, &req, s->timeout_ms, &rep, err,
	         sizeof(err))) != 0) {
		maybe_redial(s, rv);
		return (tasq_api_fail(rv, "%s", err));
	}
	if (droppedp != NULL) {
		*droppedp = rep.u.cancel.dropped;
	}
	if (runningp != NULL) {
		*runningp = rep.u.cancel.running;
	}
	if (st != NULL && rep.u.cancel.has_job) {
		tasq_api_status_from_info(st, &rep.u.cancel.job);
	} else if (st != NULL) {
		size_t size = st->size;
		memset(st, 0, sizeof(*st));
		st->size = size;
	}
	tasq_wire_rep_fini(&rep);
	return (0);
}

// ---- results by id
// ----------------------------------------------------------------

struct results_page {
	tasq_results pub; // first: a tasq_results * is a results_page *
	tasq_rep     rep; // what pub's pointers point into
	bool         have_rep;
};

TASQ_API void
tasq_results_free(tasq_results *r)
{
	struct results_page *p = (struct results_page *) r;

	if (p == NULL) {
		return;
	}
	if (p->have_rep) {
		tasq_wire_rep_fini(&p->rep);
	}
	free(p->pub.results);
	free(p);
}

// Builds the page from the reply (taken: released on failure too).
static int
results_page_make(tasq_results **rp, tasq_rep *rep)
{
	struct results_page *p;
	const tasq_blobs    *col = &rep->u.results.results;
	size_t               n = rep->u.results.n, off = 0;

	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->pub.results = calloc(n + 1, sizeof(tasq_result))) == NULL) {
		free(p);
		tasq_wire_rep_fini(rep);
		return (TASQ_ERESOURCE_EXHAUSTED);
	}
	p->rep          = *rep;
	p->have_rep     = true;
	rep             = &p->rep;
	p->pub.job.size = sizeof(p->pub.job);
	tasq_api_status_from_info(&p->pub.job, &rep->u.results.job);
	p->pub.has_job    = rep->u.results.has_job;
	p->pub.next_index = rep->u.results.next_index;
	p->pub.n          = n;
	for (size_t i = 0; i < n; i++) {
		tasq_result *r = &p->pub.results[i];
		uint32_t     code =
                    rep->u.results.codes != NULL ? rep->u.results.codes[i] : 0;
		size_t len = col->width ? col->width : col->lens[i];
		r->index   = rep->u.results.ids[i];
		r->code    = code != 0 ? tasq_err_from_code((int) code) : 0;
		r->data    = len > 0 ? col->data + off : NULL;
		r->len     = len;
		off += len;
		r->error = code != 0 && rep->u.results.errors != NULL &&
		        rep->u.results.errors[i] != NULL
		    ? rep->u.results.errors[i]
		    : "";
	}
	*rp = &p->pub;
	return (0);
}

struct results_op {
	tasq_req       req;
	tasq_session  *s;
	tasq_results **rp;
};

static int
results_done(
    void *arg, int rv, tasq_rep *rep, char *err, size_t errlen, bool deliver)
{
	struct results_op *op = arg;

	if (rv == 0 && deliver) {
		if ((rv = results_page_make(op->rp, rep)) != 0) {
			snprintf(err, errlen, "out of memory");
		}
	} else if (rv == 0) {
		tasq_wire_rep_fini(rep);
	} else {
		maybe_redial(op->s, rv);
	}
	free(op);
	return (rv);
}

static int
results_args_check(tasq_results **rp, tasq_session *s, uint64_t job_id)
{
	if (rp == NULL || s == NULL || job_id == 0) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_job_results_id: rp or s is NULL, or job_id 0"));
	}
	return (0);
}

TASQ_API int
tasq_job_results_id_aio(tasq_results **rp, tasq_session *s, uint64_t job_id,
    uint64_t from_index, uint32_t max, uint32_t wait_ms, tasq_aio *aio)
{
	struct results_op *op;
	uint32_t           m;
	char               err[512];
	int                rv;

	tasq_api_clear();
	if ((rv = results_args_check(rp, s, job_id)) != 0) {
		return (rv);
	}
	if (aio == NULL) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_job_results_id_aio: aio is NULL"));
	}
	if ((op = calloc(1, sizeof(*op))) == NULL) {
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	op->s                        = s;
	op->rp                       = rp;
	op->req.method               = TASQ_M_RESULTS;
	op->req.u.results.job_id     = job_id;
	op->req.u.results.from_index = from_index;
	op->req.u.results.max        = max == 0 ? 65536 : max;
	op->req.u.results.wait_ms    = wait_ms;
	if ((rv = tasq_api_job_member(s, job_id, &m, err, sizeof(err))) != 0) {
		free(op);
		return (tasq_api_fail(rv, "%s", err));
	}
	if ((rv = tasq_api_call_member_aio(s, m, &op->req,
	         s->timeout_ms + wait_ms, aio, results_done, op)) != 0) {
		free(op);
	}
	return (rv);
}

TASQ_API int
tasq_job_results_id(tasq_results **rp, tasq_session *s, uint64_t job_id,
    uint64_t from_index, uint32_t max, uint32_t wait_ms)
{
	tasq_req req;
	tasq_rep rep;
	char     err[512];
	int      rv;

	tasq_api_clear();
	if ((rv = results_args_check(rp, s, job_id)) != 0) {
		return (rv);
	}
	memset(&req, 0, sizeof(req));
	req.method               = TASQ_M_RESULTS;
	req.u.results.job_id     = job_id;
	req.u.results.from_index = from_index;
	req.u.results.max        = max == 0 ? 65536 : max;
	req.u.results.wait_ms    = wait_ms;
	if ((rv = job_call(s, job_id, &req, s->timeout_ms + wait_ms, &rep, err,
	         sizeof(err))) != 0) {
		maybe_redial(s, rv);
		return (tasq_api_fail(rv, "%s", err));
	}
	if ((rv = results_page_make(rp, &rep)) != 0) {
		return (tasq_api_fail(rv, "out of memory"));
	}
	return (0);
}

// ---- dead letters
// -------------------------------------------------------------------

struct dead_page {
	tasq_dead_list pub; // first
	tasq_rep       rep;
	char          *missing;
};

// Several servers: the letters' ids the library shows are the server's
// tag << 48 | the server's own id (as job ids: an id names its server),
// and the ids' order is (tag, id). Letter ids stay far below 2^48.
#define DEAD_TAG(id) ((id) >> 48)
#define DEAD_OWN(id) ((id) &TASQ_SHARD_R_MASK)

// The servers for dead letters (servers_by_tag), refused when two that
// were probed share a tag (their letters' ids could not be told apart).
static int
dead_servers(tasq_session *s, tasq_shard_member **msp, size_t *np)
{
	tasq_shard_member *ms;
	size_t             n;

	if (servers_by_tag(s, &ms, &n) != 0) {
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	for (size_t i = 0; i < n; i++) {
		for (size_t j = i + 1; j < n; j++) {
			if (ms[i].probed && ms[j].probed &&
			    ms[i].identity >> 48 == ms[j].identity >> 48) {
				int rv = tasq_api_fail(
				    TASQ_EFAILED_PRECONDITION,
				    "servers %s and %s share the tag %04x: "
				    "their dead letters' ids cannot be told "
				    "apart; ask each alone (--server URL)",
				    ms[i].url, ms[j].url,
				    (unsigned) (ms[i].identity >> 48));
				free(ms);
				return (rv);
			}
		}
	}
	*msp = ms;
	*np  = n;
	return (0);
}

// Several servers: the first non-empty page at or after after_id in
// (tag, id) order: servers are asked in tag order from after_id's tag
// on, skipping those with no letter past it. A server that does not
// answer (or was never reached: its tag is unknown) is named in
// p->missing and skipped; fails only when none answers.
static int
dead_get_all(struct dead_page *p, tasq_session *s, tasq_req *req,
    uint64_t after_id, uint64_t *tagp)
{
	tasq_shard_member *ms;
	size_t             n, up                = 0;
	char               err[512], last[1024] = "";
	int                rv;

	if ((rv = dead_servers(s, &ms, &n)) != 0) {
		return (rv);
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t tag = ms[i].identity >> 48;
		if (!ms[i].probed) {
			missing_add(&p->missing, ms[i].url,
			    ms[i].err[0] != '\0' ? ms[i].err
			                         : "not reached yet");
			snprintf(
			    last, sizeof(last), "%s: not reached", ms[i].url);
			continue;
		}
		if (tag < DEAD_TAG(after_id)) {
			up++; // done with it
			continue;
		}
		req->u.dead_list.after_id =
		    tag == DEAD_TAG(after_id) ? DEAD_OWN(after_id) : 0;
		if ((rv = tasq_api_call_member(s, ms[i].num, req,
		         s->timeout_ms, &p->rep, err, sizeof(err))) != 0) {
			missing_add(&p->missing, ms[i].url, err);
			snprintf(last, sizeof(last), "%s: %s", ms[i].url, err);
			continue;
		}
		up++;
		p->pub.total += p->rep.u.dead_list.total;
		if (p->rep.u.dead_list.n > 0) {
			*tagp = tag;
			free(ms);
			return (0);
		}
		tasq_wire_rep_fini(&p->rep);
		memset(&p->rep, 0, sizeof(p->rep));
	}
	free(ms);
	if (up == 0) {
		return (tasq_api_fail(TASQ_EUNAVAILABLE,
		    "no server answered (%zu): %s", n, last));
	}
	return (0); // no more letters (p->rep empty)
}

TASQ_API int
tasq_dead_get(tasq_dead_list **lp, tasq_session *s, const char *queue,
    uint64_t after_id, uint32_t max, bool payloads)
{
	struct dead_page *p;
	tasq_req          req;
	char              err[512];
	uint64_t          tag = 0;
	int               rv;

	tasq_api_clear();
	if (lp == NULL || s == NULL) {
		return (tasq_api_fail(
		    TASQ_EINVALID_ARGUMENT, "tasq_dead_get: lp or s is NULL"));
	}
	if (!queue_ok(queue)) {
		return (queue_fail("tasq_dead_get"));
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	memset(&req, 0, sizeof(req));
	req.method               = TASQ_M_DEAD_LIST;
	req.u.dead_list.queue    = queue != NULL ? queue : "";
	req.u.dead_list.after_id = after_id;
	req.u.dead_list.max      = max;
	req.u.dead_list.payloads = payloads;
	if (tasq_api_sharded(s)) {
		if ((rv = dead_get_all(p, s, &req, after_id, &tag)) != 0) {
			tasq_wire_rep_fini(&p->rep);
			free(p->missing);
			free(p);
			return (rv);
		}
	} else if ((rv = tasq_api_call(s, &req, s->timeout_ms, &p->rep, err,
	                sizeof(err))) != 0) {
		free(p);
		maybe_redial(s, rv);
		return (tasq_api_fail(rv, "%s", err));
	}
	size_t n = p->rep.u.dead_list.n;
	if ((p->pub.letters = calloc(n + 1, sizeof(tasq_dead_entry))) ==
	    NULL) {
		tasq_wire_rep_fini(&p->rep);
		free(p->missing);
		free(p);
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	for (size_t i = 0; i < n; i++) {
		const tasq_dead_letter *d = &p->rep.u.dead_list.letters[i];
		tasq_dead_entry        *e = &p->pub.letters[i];
		e->id                     = tag << 48 | d->id;
		e->job_id                 = d->job_id;
		e->task_id                = d->task_id;
		e->queue                  = d->queue != NULL ? d->queue : "";
		e->type                   = d->type != NULL ? d->type : "";
		e->attempts               = d->attempts;
		e->code = d->code != 0 ? tasq_err_from_code((int) d->code) : 0;
		e->error        = d->error != NULL ? d->error : "";
		e->time_ms      = d->time_ms;
		e->payload_len  = d->payload_len;
		e->payload      = d->payload_size > 0 ? d->payload : NULL;
		e->payload_size = d->payload_size;
	}
	p->pub.n = n;
	if (!tasq_api_sharded(s)) {
		p->pub.total = p->rep.u.dead_list.total;
	}
	p->pub.missing = p->missing;
	*lp            = &p->pub;
	return (0);
}

TASQ_API void
tasq_dead_list_free(tasq_dead_list *l)
{
	struct dead_page *p = (struct dead_page *) l;

	if (p == NULL) {
		return;
	}
	tasq_wire_rep_fini(&p->rep);
	free(p->pub.letters);
	free(p->missing);
	free(p);
}

// Several servers: purge on every one (all) or each id on the server
// its tag names. A server that does not answer fails the call after the
// others are purged (*purgedp counts what was), naming it.
static int
dead_purge_all(uint64_t *purgedp, tasq_session *s, tasq_req *req,
    const uint64_t *ids, size_t n, bool all)
{
	tasq_shard_member *ms;
	size_t             nm;
	uint64_t          *own     = NULL;
	char              *missing = NULL;
	char               err[512];
	bool               unreached = false;
	int                rv;

	*purgedp = 0;
	if ((rv = dead_servers(s, &ms, &nm)) != 0) {
		return (rv);
	}
	if (n > 0 && (own = calloc(n, sizeof(*own))) == NULL) {
		free(ms);
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	for (size_t i = 0; i < nm; i++) {
		uint64_t tag = ms[i].identity >> 48;
		tasq_rep rep;
		size_t   k = 0;
		if (!ms[i].probed) {
			unreached = true;
			if (all) {
				missing_add(&missing, ms[i].url,
				    ms[i].err[0] != '\0' ? ms[i].err
				                         : "not reached yet");
			}
			continue;
		}
		for (size_t j = 0; j < n; j++) {
			if (DEAD_TAG(ids[j]) == tag) {
				own[k++] = DEAD_OWN(ids[j]);
			}
		}
		if (!all && k == 0) {
			continue;
		}
		req->u.dead_purge.ids = own;
		req->u.dead_purge.n   = k;
		if ((rv = tasq_api_call_member(s, ms[i].num, req,
		         s->timeout_ms, &rep, err, sizeof(err))) != 0) {
			missing_add(&missing, ms[i].url, err);
			continue;
		}
		*purgedp += rep.u.dead_purge.purged;
		tasq_wire_rep_fini(&rep);
	}
	if (!all && unreached) {
		// An id whose tag is no reached server's may be an unreached
		// one's.
		for (size_t j = 0; j < n; j++) {
			bool found = false;
			for (size_t i = 0; i < nm && !found; i++) {
				found = ms[i].probed &&
				    ms[i].identity >> 48 == DEAD_TAG(ids[j]);
			}
			if (!found) {
				missing_add(&missing, "a server not reached",
				    "its tag is not known yet");
				break;
			}
		}
	}
	free(ms);
	free(own);
	if (missing != NULL) {
		rv = tasq_api_fail(TASQ_EUNAVAILABLE,
		    "purged %" PRIu64 " on the servers that answered; not "
		    "on: %s",
		    *purgedp, missing);
		free(missing);
		return (rv);
	}
	return (0);
}

TASQ_API int
tasq_dead_purge(uint64_t *purgedp, tasq_session *s, const char *queue,
    const uint64_t *ids, size_t n, bool all)
{
	tasq_req req;
	tasq_rep rep;
	char     err[512];
	int      rv;

	tasq_api_clear();
	if (s == NULL || (ids == NULL && n > 0)) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_dead_purge: s is NULL, or ids NULL with n > 0"));
	}
	if (!queue_ok(queue)) {
		return (queue_fail("tasq_dead_purge"));
	}
	memset(&req, 0, sizeof(req));
	req.method             = TASQ_M_DEAD_PURGE;
	req.u.dead_purge.ids   = (uint64_t *) ids;
	req.u.dead_purge.n     = n;
	req.u.dead_purge.all   = all;
	req.u.dead_purge.queue = queue != NULL ? queue : "";
	if (tasq_api_sharded(s)) {
		uint64_t purged = 0;
		rv = dead_purge_all(&purged, s, &req, ids, n, all);
		if (purgedp != NULL) {
			*purgedp = purged;
		}
		return (rv);
	}
	if ((rv = tasq_api_call(
	         s, &req, s->timeout_ms, &rep, err, sizeof(err))) != 0) {
		maybe_redial(s, rv);
		return (tasq_api_fail(rv, "%s", err));
	}
	if (purgedp != NULL) {
		*purgedp = rep.u.dead_purge.purged;
	}
	tasq_wire_rep_fini(&rep);
	return (0);
}
