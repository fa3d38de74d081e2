#include "webapi.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "rand.h"
#include "statsfmt.h"

// Dead letters read per DeadList page (without payloads; with payloads
// the broker stops a page at 2 MiB).
#define DEAD_PAGE 1000
// Tasks per Submit of a retry; halved while the server's --max-batch
// refuses it.
#define RETRY_BATCH 1000
// Ids per purge (one journal record each).
#define PURGE_BATCH 1000

static const char *
state_name(int s)
{
	switch (s) {
	case TASQ_JOB_OPEN:
		return ("open");
	case TASQ_JOB_RUNNING:
		return ("running");
	case TASQ_JOB_DONE:
		return ("done");
	case TASQ_JOB_CANCELLED:
		return ("cancelled");
	default:
		return ("unknown");
	}
}

struct jobdead {
	uint64_t job, dead;
};

static int
jobdead_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct jobdead *) a)->job;
	uint64_t y = ((const struct jobdead *) b)->job;
	return (x < y ? -1 : x > y);
}

// Counts the dead letters of the jobs in jd (n, sorted by job).
static int
count_dead(tasq_broker *b, struct jobdead *jd, size_t n)
{
	uint64_t after = 0;
	tasq_rep rep;
	int      rv;

	for (;;) {
		size_t k;
		if ((rv = tasq_broker_dead_list(
		         b, NULL, after, DEAD_PAGE, false, &rep)) != 0) {
			return (rv);
		}
		k = rep.u.dead_list.n;
		for (size_t i = 0; i < k; i++) {
			struct jobdead key = {
				rep.u.dead_list.letters[i].job_id, 0
			};
			struct jobdead *hit =
			    bsearch(&key, jd, n, sizeof(*jd), jobdead_cmp);
			if (hit != NULL) {
				hit->dead++;
			}
		}
		if (k > 0) {
			after = rep.u.dead_list.letters[k - 1].id;
		}
		tasq_broker_stats_fini(&rep);
		if (k < DEAD_PAGE) {
			return (0);
		}
	}
}

int
tasq_webapi_jobs_json(
    tasq_broker *b, uint64_t now_ms, uint64_t stamp_ms, FILE *f)
{
	tasq_rep        rep;
	struct jobdead *jd = NULL;
	size_t          n;
	int             rv;

	if ((rv = tasq_broker_job_list(
	         b, NULL, TASQ_WEBAPI_MAX_JOBS, now_ms, &rep)) != 0) {
		return (rv);
	}
	n = rep.u.job_list.n;
	if ((jd = calloc(n + 1, sizeof(*jd))) == NULL) {
		tasq_broker_stats_fini(&rep);
		return (NNG_ENOMEM);
	}
	for (size_t i = 0; i < n; i++) {
		jd[i].job = rep.u.job_list.jobs[i].job_id;
	}
	qsort(jd, n, sizeof(*jd), jobdead_cmp);
	if ((rv = count_dead(b, jd, n)) != 0) {
		free(jd);
		tasq_broker_stats_fini(&rep);
		return (rv);
	}
	fprintf(f, "{\"now_ms\":%" PRIu64 ",\"total\":%" PRIu64 ",\"jobs\":[",
	    stamp_ms, (uint64_t) rep.u.job_list.total);
	for (size_t i = 0; i < n; i++) {
		const tasq_job_info *j   = &rep.u.job_list.jobs[i];
		struct jobdead       key = { j->job_id, 0 };
		struct jobdead      *d =
		    bsearch(&key, jd, n, sizeof(*jd), jobdead_cmp);
		fprintf(f,
		    "%s{\"job\":\"%016" PRIx64 "\",\"queue\":", i ? "," : "",
		    j->job_id);
		tasq_json_str(f, j->queue);
		fputs(",\"type\":", f);
		tasq_json_str(f, j->type);
		fprintf(f,
		    ",\"state\":\"%s\",\"submitted\":%" PRIu64
		    ",\"completed\":%" PRIu64 ",\"failed\":%" PRIu64
		    ",\"age_ms\":%" PRIu64 ",\"host\":",
		    state_name(j->state), j->submitted, j->completed,
		    j->failed, j->age_ms);
		tasq_json_str(f, j->host != NULL ? j->host : "");
		fprintf(f,
		    ",\"detached\":%s,\"result_ttl_ms\":%" PRIu64
		    ",\"expires_in_ms\":%" PRIu64
		    ",\"no_worker\":%s,\"workers\":%" PRIu32
		    ",\"dead\":%" PRIu64 "}",
		    j->detached ? "true" : "false", j->result_ttl_ms,
		    j->expires_in_ms, j->no_worker ? "true" : "false",
		    j->workers, d != NULL ? d->dead : 0);
	}
	fputs("]}\n", f);
	free(jd);
	tasq_broker_stats_fini(&rep);
	return (0);
}

bool
tasq_webapi_parse_action(const char *target, uint64_t *job_id, int *action)
{
	static const char pfx[] = "/api/jobs/";
	const char       *p;
	uint64_t          v = 0;

	if (strncmp(target, pfx, sizeof(pfx) - 1) != 0) {
		return (false);
	}
	p = target + sizeof(pfx) - 1;
	for (int i = 0; i < 16; i++, p++) {
		int d;
		if (*p >= '0' && *p <= '9') {
			d = *p - '0';
		} else if (*p >= 'a' && *p <= 'f') {
			d = *p - 'a' + 10;
		} else {
			return (false);
		}
		v = v << 4 | (uint64_t) d;
	}
	if (v == 0 || *p++ != '/') {
		return (false);
	}
	if (strcmp(p, "retry") == 0) {
		*action = TASQ_WEBAPI_RETRY;
	} else if (strcmp(p, "cancel") == 0) {
		*action = TASQ_WEBAPI_CANCEL;
	} else {
		return (false);
	}
	*job_id = v;
	return (true);
}

// The letters of one job being retried: ids, and their payloads as one
// column (lens and data).
struct letters {
	char      queue[TASQ_WIRE_MAX_NAME + 1];
	char      type[TASQ_WIRE_MAX_NAME + 1];
	size_t    n, cap;
	uint64_t *ids;
	uint32_t *lens;
	uint8_t  *data;
	size_t    size, dcap;
};

static void
letters_fini(struct letters *l)
{
	free(l->ids);
	free(l->lens);
	free(l->data);
}

static int
letters_add(struct letters *l, const tasq_dead_letter *d)
{
	if (l->n == l->cap) {
		size_t    cap = l->cap ? 2 * l->cap : 64;
		uint64_t *ids = realloc(l->ids, cap * sizeof(*ids));
		if (ids == NULL) {
			return (NNG_ENOMEM);
		}
		l->ids         = ids;
		uint32_t *lens = realloc(l->lens, cap * sizeof(*lens));
		if (lens == NULL) {
			return (NNG_ENOMEM);
		}
		l->lens = lens;
		l->cap  = cap;
	}
	if (l->size + d->payload_size + 1 > l->dcap) {
		size_t   cap  = 2 * (l->size + d->payload_size + 1) + 1024;
		uint8_t *data = realloc(l->data, cap);
		if (data == NULL) {
			return (NNG_ENOMEM);
		}
		l->data = data;
		l->dcap = cap;
	}
	if (l->n == 0) {
		snprintf(l->queue, sizeof(l->queue), "%s", d->queue);
		snprintf(l->type, sizeof(l->type), "%s",
		    d->type != NULL && d->type[0] != '\0' ? d->type
		                                          : TASQ_TYPE_SQUARE);
	}
	if (d->payload_size > 0) {
		memcpy(l->data + l->size, d->payload, d->payload_size);
	}
	l->ids[l->n]  = d->id;
	l->lens[l->n] = (uint32_t) d->payload_size;
	l->size += d->payload_size;
	l->n++;
	return (0);
}

// Collects the dead letters of job with their payloads, oldest first.
static int
letters_of(tasq_broker *b, uint64_t job, struct letters *l)
{
	uint64_t after = 0;
	tasq_rep rep;
	int      rv;

	for (;;) {
		size_t k;
		if ((rv = tasq_broker_dead_list(
		         b, NULL, after, DEAD_PAGE, true, &rep)) != 0) {
			return (rv);
		}
		k = rep.u.dead_list.n;
		for (size_t i = 0; i < k && rv == 0; i++) {
			const tasq_dead_letter *d =
			    &rep.u.dead_list.letters[i];
			// A page holds whole payloads (the broker ends it
			// before one that does not fit).
			if (d->job_id == job) {
				rv = letters_add(l, d);
			}
		}
		if (k > 0) {
			after = rep.u.dead_list.letters[k - 1].id;
		}
		tasq_broker_stats_fini(&rep);
		if (rv != 0 || k == 0) {
			return (rv);
		}
	}
}

int
tasq_webapi_retry(tasq_broker *b, uint64_t job_id, uint64_t now_ms,
    uint64_t *new_job, uint64_t *retried, const char **why)
{
	struct letters l;
	uint64_t       job  = tasq_random64();
	size_t         done = 0, off = 0, batch = RETRY_BATCH;
	int64_t       *vals = NULL;
	bool           square;
	int            rv;

	memset(&l, 0, sizeof(l));
	*retried = 0;
	*new_job = 0;
	if ((rv = letters_of(b, job_id, &l)) != 0) {
		*why = "out of memory";
		goto out;
	}
	if (l.n == 0) {
		*why = "the server holds no dead letter of this job";
		rv   = TASQ_ENOT_FOUND;
		goto out;
	}
	square = strcmp(l.type, TASQ_TYPE_SQUARE) == 0;
	if (square && (vals = calloc(l.n, sizeof(*vals))) == NULL) {
		*why = "out of memory";
		rv   = NNG_ENOMEM;
		goto out;
	}
	for (size_t i = 0, o = 0; square && i < l.n; o += l.lens[i], i++) {
		if (l.lens[i] != 8) {
			*why =
			    "a square dead letter without an 8-byte payload";
			rv = TASQ_EINVALID_ARGUMENT;
			goto out;
		}
		memcpy(&vals[i], l.data + o, 8);
	}
	while (done < l.n) {
		tasq_submit_req req;
		uint32_t        accepted;
		bool            dup;
		size_t          n    = l.n - done < batch ? l.n - done : batch;
		size_t          size = 0;

		for (size_t i = 0; i < n; i++) {
			size += l.lens[done + i];
		}
		memset(&req, 0, sizeof(req));
		req.queue       = l.queue;
		req.job_id      = job;
		req.first_index = done;
		req.n           = n;
		req.type        = l.type;
		req.detach      = true;
		req.host        = "dashboard";
		req.last        = done + n == l.n;
		if (square) {
			req.payloads.width = 8;
			req.payloads.data  = (uint8_t *) (vals + done);
			req.payloads.size  = n * 8;
		} else {
			req.payloads.lens = l.lens + done;
			req.payloads.data = l.data + off;
			req.payloads.size = size;
		}
		rv = tasq_broker_submit(b, &req, now_ms, &accepted, &dup, why);
		if (rv == TASQ_EINVALID_ARGUMENT && batch > 1 && done == 0) {
			batch /= 2; // the server's --max-batch is smaller
			continue;
		}
		if (rv != 0) {
			// A job begun and not ended: abandoned, it ends after
			// --job-ttl; the letters stay.
			goto out;
		}
		done += n;
		off += size;
	}
	*new_job = job;
	for (size_t i = 0; i < l.n; i += PURGE_BATCH) {
		uint64_t purged = 0;
		size_t   n = l.n - i < PURGE_BATCH ? l.n - i : PURGE_BATCH;
		if ((rv = tasq_broker_dead_purge(
		         b, l.ids + i, n, false, NULL, &purged)) != 0) {
			*why =
			    "the letters were submitted again but could not "
			    "all be purged";
			goto out;
		}
		*retried += purged;
	}
out:
	free(vals);
	letters_fini(&l);
	return (rv);
}

int
tasq_webapi_cancel(tasq_broker *b, uint64_t job_id, uint64_t now_ms,
    uint64_t *dropped, uint32_t *running, const char **state, const char **why)
{
	tasq_job_info_buf ib;
	int               rv;

	*dropped = 0;
	*running = 0;
	if ((rv = tasq_broker_cancel(
	         b, job_id, now_ms, dropped, running, &ib, why)) != 0) {
		return (rv);
	}
	*state = state_name(ib.info.state);
	return (0);
}
