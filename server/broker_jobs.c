// broker_jobs: the job registry (docs/PROTOCOL.md 9.11-9.14): what
// JobList and JobStatus show of a job, the results a detached job keeps
// by task index (Results), the end of its input (SubmitRequest.last),
// and the expiry of its results after their TTL.
//
// A detached job's results are the job's result list (the r_ columns of
// broker_job.c), which Fetch never delivers for it: they stay there, in
// the order they came, counted in held and held_bytes like any result
// not yet acknowledged (so bounded by --max-tasks and
// --max-payload-bytes), journaled as any result is, until the job
// expires. Results reads them in task id order through an index (k_pos,
// k_off: 12 bytes a result) built as they come.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "broker_state.h"
#include "clock.h"
#include "err.h"

#define RESULT_TTL_MAX (30 * 86400000ULL)
// Result bytes in one Results reply (at least one result), so that a
// reply of large results stays well within a client's --max-message.
#define RESULTS_MAX_BYTES ((size_t) 4 << 20)

void
tasq_broker_job_meta(const struct job *j, tasq_job_meta *m)
{
	m->keep            = j->keep;
	m->sealed          = j->sealed;
	m->result_ttl_ms   = j->result_ttl_ms;
	m->created_wall_ms = j->created_wall_ms;
	m->done_wall_ms    = j->done_wall_ms;
	m->failed          = j->failed;
	m->has_failed      = true;
	m->host            = j->host;
}

int
tasq_broker_job_meta_set(tasq_broker *b, struct job *j, const tasq_job_meta *m)
{
	if (m->host != NULL && m->host[0] != '\0' &&
	    (j->host == NULL || strcmp(j->host, m->host) != 0)) {
		size_t l = strlen(m->host) + 1;
		char  *h = tasq_alloc(l);
		if (h == NULL) {
			return (NNG_ENOMEM);
		}
		memcpy(h, m->host, l);
		free(j->host);
		j->host = h;
	}
	j->keep          = m->keep;
	j->sealed        = m->sealed;
	j->result_ttl_ms = m->result_ttl_ms;
	if (m->created_wall_ms != 0) {
		j->created_wall_ms = m->created_wall_ms;
	}
	if (m->done_wall_ms != 0) {
		j->done_wall_ms = m->done_wall_ms;
	}
	if (m->has_failed) {
		j->failed = m->failed;
	}
	(void) b;
	return (0);
}

void
tasq_broker_job_check_done(tasq_broker *b, struct job *j)
{
	if (j->sealed && j->done_wall_ms == 0 &&
	    j->completed >= j->submitted) {
		j->done_wall_ms = tasq_broker_wall_ms(b);
	}
}

// The meta of the new job of req, or of req's existing job j after req.
// Returns whether it changed (a JOB record is due).
bool
tasq_broker_job_meta_of(tasq_broker *b, const struct job *j,
    const tasq_submit_req *req, tasq_job_meta *m)
{
	memset(m, 0, sizeof(*m));
	if (j != NULL) {
		tasq_job_meta cur;
		tasq_broker_job_meta(j, &cur);
		m->keep            = cur.keep;
		m->sealed          = cur.sealed || req->last;
		m->result_ttl_ms   = cur.result_ttl_ms;
		m->created_wall_ms = cur.created_wall_ms;
		m->host            = cur.host;
		return (req->last && !cur.sealed);
	}
	m->keep          = req->detach;
	m->sealed        = req->last;
	m->result_ttl_ms = req->result_ttl_ms != 0 ? req->result_ttl_ms
	                                           : b->conf.result_ttl_ms;
	if (m->result_ttl_ms > RESULT_TTL_MAX) {
		m->result_ttl_ms = RESULT_TTL_MAX;
	}
	m->created_wall_ms = tasq_broker_wall_ms(b);
	m->host            = req->host;
	// An attached job's host is not worth a record of its own (its
	// journal stays as it was before the job registry): it is shown
	// until a restart.
	return (req->detach || req->last);
}

// ---- expired ids -----------------------------------------------------------

void
tasq_broker_expired_add(tasq_broker *b, uint64_t id)
{
	b->expired[b->exp_next] = id;
	b->exp_next             = (b->exp_next + 1) % EXPIRED_RING;
	if (b->exp_n < EXPIRED_RING) {
		b->exp_n++;
	}
}

bool
tasq_broker_expired_has(const tasq_broker *b, uint64_t id)
{
	for (size_t i = 0; i < b->exp_n; i++) {
		if (b->expired[i] == id) {
			return (true);
		}
	}
	return (false);
}

size_t
tasq_broker_expired_list(const tasq_broker *b, const uint64_t **ids)
{
	*ids = b->expired;
	return (b->exp_n);
}

// Detached jobs done for longer than their TTL (wall clock): recorded,
// closed and remembered. Locked (tasq_broker_tick).
void
tasq_broker_jobs_expire(tasq_broker *b, tasq_waiter **wake)
{
	uint64_t    now = tasq_broker_wall_ms(b);
	size_t      pos = 0;
	struct job *j;
	uint64_t   *ids = NULL;
	size_t      n   = 0;

	while ((j = tasq_broker_job_next(b, &pos)) != NULL) {
		if (j->keep && j->done_wall_ms != 0 &&
		    now >= j->done_wall_ms + j->result_ttl_ms) {
			n++;
		}
	}
	if (n == 0 || (ids = tasq_alloc(n * sizeof(*ids))) == NULL) {
		return; // none, or out of memory: next tick
	}
	n   = 0;
	pos = 0;
	while ((j = tasq_broker_job_next(b, &pos)) != NULL) {
		if (j->keep && j->done_wall_ms != 0 &&
		    now >= j->done_wall_ms + j->result_ttl_ms) {
			ids[n++] = j->id;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (tasq_persist_expired(b, &ids[i], 1) != 0) {
			break; // journal failing: next tick
		}
		j = tasq_broker_job_find(b, ids[i]);
		(void) tasq_broker_job_close(b, j, wake);
		tasq_broker_expired_add(b, ids[i]);
	}
	free(ids);
}

// ---- job info --------------------------------------------------------------

static void
info_fill(tasq_broker *b, const struct job *j, uint64_t now_ms,
    tasq_job_info_buf *out)
{
	tasq_job_info *in   = &out->info;
	uint64_t       wall = tasq_broker_wall_ms(b);

	memset(out, 0, sizeof(*out));
	snprintf(out->queue, sizeof(out->queue), "%s", j->q->name);
	snprintf(out->type, sizeof(out->type), "%s", j->lane->type);
	snprintf(out->host, sizeof(out->host), "%s", j->host ? j->host : "");
	in->job_id    = j->id;
	in->queue     = out->queue;
	in->type      = out->type;
	in->host      = out->host;
	in->submitted = j->submitted;
	in->completed = j->completed;
	in->failed    = j->failed;
	in->age_ms    = wall > j->created_wall_ms && j->created_wall_ms != 0
	       ? wall - j->created_wall_ms
	       : 0;
	in->detached  = j->keep;
	in->result_ttl_ms = j->keep ? j->result_ttl_ms : 0;
	in->state         = j->cancelled          ? TASQ_JOB_CANCELLED
	            : !j->sealed                  ? TASQ_JOB_OPEN
	            : j->completed < j->submitted ? TASQ_JOB_RUNNING
	                                          : TASQ_JOB_DONE;
	if (j->keep && j->done_wall_ms != 0) {
		uint64_t end      = j->done_wall_ms + j->result_ttl_ms;
		in->expires_in_ms = end > wall ? end - wall : 0;
	}
	in->no_worker = tasq_broker_job_waiting(j) &&
	    tasq_broker_type_workers(b, j->q->name, j->lane->type, now_ms) ==
	        0;
	in->workers =
	    in->no_worker ? tasq_broker_workers_connected(b, now_ms) : 0;
}

static const char *
why_gone(const tasq_broker *b, uint64_t id)
{
	return (tasq_broker_expired_has(b, id)
	        ? "job expired: its results were kept for its result TTL "
	          "and are gone"
	        : "unknown or expired job (never submitted here, closed, "
	          "or expired long ago)");
}

int
tasq_broker_job_status(tasq_broker *b, uint64_t job_id, uint64_t now_ms,
    tasq_job_info_buf *out, const char **why)
{
	struct job *j;
	int         rv = 0;

	nng_mtx_lock(b->mtx);
	if ((j = tasq_broker_job_find(b, job_id)) == NULL) {
		*why = why_gone(b, job_id);
		rv   = TASQ_ENOT_FOUND;
	} else {
		info_fill(b, j, now_ms, out);
	}
	nng_mtx_unlock(b->mtx);
	return (rv);
}

int
tasq_broker_job_list(tasq_broker *b, const char *queue, uint32_t max,
    uint64_t now_ms, tasq_rep *rep)
{
	tasq_job_info_buf *bufs = NULL;
	tasq_job_info     *info = NULL;
	struct job        *j;
	size_t             pos = 0, n = 0, total = 0;

	if (max == 0 || max > TASQ_WIRE_MAX_ROWS) {
		max = max == 0 ? 1000 : TASQ_WIRE_MAX_ROWS;
	}
	memset(&rep->u, 0, sizeof(rep->u));
	rep->method = TASQ_M_JOB_LIST;
	nng_mtx_lock(b->mtx);
	while ((j = tasq_broker_job_next(b, &pos)) != NULL) {
		if (queue == NULL || queue[0] == '\0' ||
		    strcmp(queue, j->q->name) == 0) {
			total++;
		}
	}
	n = total < max ? total : max;
	if (n > 0 &&
	    (info = tasq_alloc(n * (sizeof(*info) + sizeof(*bufs)) + 1)) ==
	        NULL) {
		nng_mtx_unlock(b->mtx);
		return (NNG_ENOMEM);
	}
	bufs = n > 0 ? (void *) (info + n) : NULL; // no arithmetic on NULL
	pos  = 0;
	for (size_t k = 0; k < n && (j = tasq_broker_job_next(b, &pos));) {
		if (queue == NULL || queue[0] == '\0' ||
		    strcmp(queue, j->q->name) == 0) {
			info_fill(b, j, now_ms, &bufs[k]);
			info[k] = bufs[k].info;
			k++;
		}
	}
	nng_mtx_unlock(b->mtx);
	rep->mem_             = info;
	rep->u.job_list.n     = n;
	rep->u.job_list.jobs  = info;
	rep->u.job_list.total = total;
	return (0);
}

// ---- cancel ----------------------------------------------------------------

int
tasq_broker_cancel(tasq_broker *b, uint64_t job_id, uint64_t now_ms,
    uint64_t *dropped, uint32_t *running, tasq_job_info_buf *out,
    const char **why)
{
	tasq_waiter *wake = NULL;
	struct job  *j;
	uint64_t     wall = tasq_broker_wall_ms(b);
	int          rv   = 0;

	*dropped = 0;
	*running = 0;
	nng_mtx_lock(b->mtx);
	if ((j = tasq_broker_job_find(b, job_id)) == NULL) {
		*why = why_gone(b, job_id);
		rv   = TASQ_ENOT_FOUND;
		goto out;
	}
	if (j->cancelled) {
		// Again: a no-op, answered as the first (a lost reply's
		// retry must not fail); running says what is still out.
		*running = tasq_broker_job_running(b, j);
	} else if (j->sealed && j->completed >= j->submitted) {
		*why = "the job is done: every task has its result, there is "
		       "nothing to cancel";
		rv   = TASQ_EFAILED_PRECONDITION;
		goto out;
	} else if ((rv = tasq_persist_cancel(b, job_id, wall)) != 0) {
		*why = "the journal cannot be written (disk full or I/O "
		       "error); retry later";
		goto out;
	} else {
		*dropped = tasq_broker_job_cancel(b, j, wall, running, &wake);
		j->last_ms = now_ms;
		// Parked workers look again: those holding its leases are
		// told at once (tasq_broker_lease_queues).
		queue_wake(j->q, &wake);
	}
	info_fill(b, j, now_ms, out);
out:
	nng_mtx_unlock(b->mtx);
	tasq_broker_wake_all(b, wake);
	return (rv);
}

// ---- results by index
// --------------------------------------------------------

struct kv {
	uint64_t id;
	uint32_t pos;
};

static int
kv_cmp(const void *a, const void *b)
{
	const struct kv *x = a, *y = b;
	return (x->id < y->id ? -1 : x->id > y->id);
}

// Brings j's index up to its result list: offsets of the new results,
// and their positions merged into k_pos in id order. Errors: NNG_ENOMEM.
static int
index_update(struct job *j)
{
	size_t     n = j->r_len, old = j->k_n, add;
	struct kv *kv;
	uint32_t  *np;
	uint64_t  *no;

	if (old == n) {
		return (0);
	}
	add = n - old;
	if ((no = tasq_realloc(j->k_off, (n + 1) * sizeof(*no))) == NULL) {
		return (NNG_ENOMEM);
	}
	j->k_off = no;
	if (j->k_offn == 0) {
		j->k_off[0] = 0;
	}
	for (size_t p = j->k_offn; p < n; p++) {
		j->k_off[p + 1] = j->k_off[p] + j->r_lens[j->r_head + p];
	}
	j->k_offn = n;
	kv        = tasq_alloc(add * sizeof(*kv));
	np        = tasq_alloc(n * sizeof(*np));
	if (kv == NULL || np == NULL) {
		free(kv);
		free(np);
		return (NNG_ENOMEM);
	}
	for (size_t i = 0; i < add; i++) {
		kv[i].pos = (uint32_t) (old + i);
		kv[i].id  = j->r_ids[j->r_head + old + i];
	}
	qsort(kv, add, sizeof(*kv), kv_cmp);
	// Merge the old order with the new.
	size_t a = 0, c = 0, k = 0;
	while (a < old || c < add) {
		if (c == add ||
		    (a < old &&
		        j->r_ids[j->r_head + j->k_pos[a]] <= kv[c].id)) {
			np[k++] = j->k_pos[a++];
		} else {
			np[k++] = kv[c++].pos;
		}
	}
	free(kv);
	free(j->k_pos);
	j->k_pos = np;
	j->k_n   = n;
	return (0);
}

// The first task id of j at or after id (past its last batch: id).
static uint64_t
id_at_or_after(const struct job *j, uint64_t id)
{
	size_t lo = 0, hi = j->nivals;

	while (lo < hi) { // the first batch that ends after id
		size_t mid = (lo + hi) / 2;
		if (j->ivals[mid].hi <= id) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	if (lo == j->nivals) {
		return (id);
	}
	return (id < j->ivals[lo].lo ? j->ivals[lo].lo : id);
}

// Copies the results of j from from (in id order, contiguous: up to the
// first task without one; a cancelled job's tasks without one never get
// it and are skipped) into out, at most max. Locked.
static int
results_take(struct job *j, uint64_t from, uint32_t max, tasq_results_out *out)
{
	size_t    lo = 0, hi, n = 0, bytes = 0, ebytes = 0;
	uint64_t  want;
	int       rv;
	char     *mem, *s;
	bool      codes = false, same = true;
	uint32_t *lens;

	if ((rv = index_update(j)) != 0) {
		return (rv);
	}
	want = id_at_or_after(j, from);
	hi   = j->k_n;
	while (lo < hi) { // the first with id >= want
		size_t mid = (lo + hi) / 2;
		if (j->r_ids[j->r_head + j->k_pos[mid]] < want) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	for (size_t i = lo; i < j->k_n && n < max; i++) {
		size_t p = j->r_head + j->k_pos[i];
		if ((j->r_ids[p] != want && !j->cancelled) ||
		    (n > 0 && bytes + j->r_lens[p] > RESULTS_MAX_BYTES)) {
			break;
		}
		want = j->r_ids[p];
		bytes += j->r_lens[p];
		if (j->r_errs != NULL && j->r_errs[p] != NULL) {
			ebytes += strlen(j->r_errs[p]) + 1;
		}
		n++;
		want = id_at_or_after(j, want + 1);
	}
	if (j->cancelled && lo + n == j->k_n) {
		// Nothing more will come: past the job's last task.
		want = j->nivals > 0 ? j->ivals[j->nivals - 1].hi : 0;
	}
	out->next_index = want;
	out->n          = n;
	if (n == 0) {
		return (0);
	}
	if ((mem = tasq_alloc(n * 24 + bytes + ebytes + 1)) == NULL) {
		return (NNG_ENOMEM);
	}
	out->mem_   = mem;
	out->ids    = (void *) mem;
	out->codes  = (void *) (mem + n * 8);
	lens        = (void *) (mem + n * 12);
	out->errors = (void *) (mem + n * 16);
	uint8_t *d  = (uint8_t *) mem + n * 24;
	s           = (char *) d + bytes;
	bool errs   = false;
	for (size_t i = 0; i < n; i++) {
		size_t p      = j->r_head + j->k_pos[lo + i];
		size_t q      = j->k_pos[lo + i];
		out->ids[i]   = j->r_ids[p];
		out->codes[i] = j->r_codes[p];
		lens[i]       = j->r_lens[p];
		if (lens[i] > 0) {
			memcpy(
			    d, j->r_data + j->r_dhead + j->k_off[q], lens[i]);
		}
		d += lens[i];
		codes |= out->codes[i] != 0;
		same &= lens[i] == lens[0];
		out->errors[i] = NULL;
		if (j->r_errs != NULL && j->r_errs[p] != NULL) {
			size_t l = strlen(j->r_errs[p]) + 1;
			memcpy(s, j->r_errs[p], l);
			out->errors[i] = s;
			s += l;
			errs = true;
		}
	}
	if (!codes) {
		out->codes = NULL;
	}
	if (!errs) {
		out->errors = NULL;
	}
	out->results.data = (uint8_t *) mem + n * 24;
	out->results.size = bytes;
	if (same && lens[0] > 0) {
		out->results.width = lens[0];
		out->results.lens  = NULL;
	} else {
		out->results.width = 0;
		out->results.lens  = lens;
	}
	return (0);
}

int
tasq_broker_results(tasq_broker *b, uint64_t job_id, uint64_t from,
    uint32_t max, uint64_t now_ms, tasq_results_out *out, tasq_waiter *w,
    bool *parked, const char **why)
{
	struct job *j;
	int         rv = 0;

	memset(out, 0, sizeof(*out));
	*parked = false;
	if (max == 0 || max > b->conf.max_fetch) {
		max = b->conf.max_fetch;
	}
	nng_mtx_lock(b->mtx);
	if ((j = tasq_broker_job_find(b, job_id)) == NULL) {
		*why = why_gone(b, job_id);
		rv   = TASQ_ENOT_FOUND;
		goto out;
	}
	if (!j->keep) {
		*why = "the job is not detached: its results go to the tasq "
		       "submit that made it";
		rv   = TASQ_EFAILED_PRECONDITION;
		goto out;
	}
	if ((rv = results_take(j, from, max, out)) != 0) {
		goto out;
	}
	info_fill(b, j, now_ms, &out->job);
	if (out->n == 0 && out->job.info.state != TASQ_JOB_DONE &&
	    !j->cancelled && w != NULL) {
		wlist_park(&j->waiters, w);
		*parked = true;
	}
out:
	nng_mtx_unlock(b->mtx);
	return (rv);
}

void
tasq_broker_results_fini(tasq_results_out *out)
{
	free(out->mem_);
	out->mem_ = NULL;
}
