// broker_job: jobs, their batches (ivals), chunks of tasks, results and
// deliveries.
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "broker_state.h"
#include "err.h"

void
tasq_broker_job_free(struct job *j)
{
	free(j->chunks);
	free(j->ivals);
	free(j->r_ids);
	free(j->r_vals);
	free(j->r_codes);
	free(j->d_ids);
	free(j->d_vals);
	free(j->d_codes);
	free(j);
}

static void
job_forget(tasq_broker *b, struct job *j)
{
	// The job leaves the map once closed and chunkless; lookups by id
	// then fail, which is what a closed job should do.
	tasq_idmap_del(&b->jobs, j->id);
	tasq_broker_job_free(j);
}

static size_t
chunk_index(const struct job *j, uint64_t id, bool *found)
{
	size_t lo = 0, hi = j->nchunks;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (j->chunks[mid]->first <= id) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	// lo is the first chunk with first > id
	*found =
	    lo > 0 && id - j->chunks[lo - 1]->first < j->chunks[lo - 1]->n;
	return (lo);
}

struct chunk *
tasq_broker_chunk_of(const struct job *j, uint64_t id)
{
	bool   found;
	size_t i = chunk_index(j, id, &found);
	return (found ? j->chunks[i - 1] : NULL);
}

static void
chunk_free(tasq_broker *b, struct chunk *c)
{
	struct job *j = c->job;
	bool        found;
	size_t      i = chunk_index(j, c->first, &found);

	if (found && j->chunks[i - 1] == c) {
		memmove(&j->chunks[i - 1], &j->chunks[i],
		    (j->nchunks - i) * sizeof(*j->chunks));
		j->nchunks--;
	}
	b->held -= c->remaining;
	free(c->values);
	free(c->done);
	free(c);
	if (j->closed && j->nchunks == 0) {
		job_forget(b, j);
	}
}

void
tasq_broker_chunk_unref(tasq_broker *b, struct chunk *c)
{
	if (--c->refs == 0 && (c->remaining == 0 || c->job->closed)) {
		chunk_free(b, c);
	}
}

bool
tasq_broker_task_done(const struct chunk *c, uint32_t off)
{
	return (c->job->closed || (c->done[off / 64] >> (off % 64)) & 1);
}

int
tasq_broker_results_reserve(struct job *j, size_t more)
{
	size_t    ncap;
	uint64_t *ids;
	int64_t  *vals;
	uint32_t *codes;

	if (j->r_head + j->r_len + more <= j->r_cap) {
		return (0);
	}
	// Slide the undelivered results to the front before growing.
	if (j->r_head > 0) {
		memmove(j->r_ids, j->r_ids + j->r_head,
		    j->r_len * sizeof(*j->r_ids));
		memmove(j->r_vals, j->r_vals + j->r_head,
		    j->r_len * sizeof(*j->r_vals));
		memmove(j->r_codes, j->r_codes + j->r_head,
		    j->r_len * sizeof(*j->r_codes));
		j->r_head = 0;
		// Keep room for half as many again, so that sliding costs
		// amortised O(1) per result.
		if (j->r_len + more + j->r_len / 2 <= j->r_cap) {
			return (0);
		}
	}
	ncap = (j->r_len + more) * 2;
	if ((ids = tasq_realloc(j->r_ids, ncap * sizeof(*ids))) == NULL) {
		return (NNG_ENOMEM);
	}
	j->r_ids = ids;
	if ((vals = tasq_realloc(j->r_vals, ncap * sizeof(*vals))) == NULL) {
		return (NNG_ENOMEM);
	}
	j->r_vals = vals;
	if ((codes = tasq_realloc(j->r_codes, ncap * sizeof(*codes))) ==
	    NULL) {
		return (NNG_ENOMEM);
	}
	j->r_codes = codes;
	j->r_cap   = ncap;
	return (0);
}

// Records the first result of task off in c. Returns false if the result
// could not be stored (out of memory): the task then stays undone and
// will be redelivered.
bool
tasq_broker_task_finish(tasq_broker *b, struct chunk *c, uint32_t off,
    int64_t value, uint32_t code, tasq_waiter **wake)
{
	struct job *j = c->job;
	size_t      at;

	if (tasq_broker_results_reserve(j, 1) != 0) {
		return (false);
	}
	c->done[off / 64] |= 1ULL << (off % 64);
	c->remaining--;
	at             = j->r_head + j->r_len++;
	j->r_ids[at]   = c->first + off;
	j->r_vals[at]  = value;
	j->r_codes[at] = code;
	j->completed++;
	// The task moves from the chunk to the result list: held is
	// unchanged until the client acknowledges the result.
	j->q->nresults++;
	j->q->completed++;
	tasq_broker_count(b, TASQ_CTR_COMPLETED, 1);
	if (code != 0) {
		tasq_broker_count(b, TASQ_CTR_FAILED, 1);
	}
	wlist_take(&j->waiters, wake);
	return (true);
}

// The batches a job was given, sorted by first id and never merged: a
// batch is a duplicate only if the very same [lo, hi) came before.
static size_t
ivals_find(const struct job *j, uint64_t id)
{
	size_t lo = 0, hi = j->nivals;

	while (lo < hi) { // first interval with lo > id
		size_t mid = (lo + hi) / 2;
		if (j->ivals[mid].lo <= id) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return (lo);
}

// Returns 1 if [lo,hi) is exactly an earlier batch, -1 if it overlaps
// one, 0 if it is new.
int
tasq_broker_ivals_check(const struct job *j, uint64_t lo, uint64_t hi)
{
	size_t i = ivals_find(j, lo);

	if (i > 0) {
		const struct ival *v = &j->ivals[i - 1];
		if (v->lo == lo && v->hi == hi) {
			return (1);
		}
		if (v->hi > lo) {
			return (-1);
		}
	}
	if (i < j->nivals && j->ivals[i].lo < hi) {
		return (-1);
	}
	return (0);
}

// Whether id belongs to a batch of the job.
bool
tasq_broker_ivals_contains(const struct job *j, uint64_t id)
{
	size_t i = ivals_find(j, id);
	return (i > 0 && id < j->ivals[i - 1].hi);
}

int
tasq_broker_ivals_reserve(struct job *j)
{
	if (j->nivals == j->capivals) {
		size_t       ncap = j->capivals ? j->capivals * 2 : 4;
		struct ival *nv   = tasq_realloc(j->ivals, ncap * sizeof(*nv));
		if (nv == NULL) {
			return (NNG_ENOMEM);
		}
		j->ivals    = nv;
		j->capivals = ncap;
	}
	return (0);
}

// With room reserved: cannot fail.
void
tasq_broker_ivals_insert(struct job *j, uint64_t lo, uint64_t hi)
{
	size_t i = ivals_find(j, lo);

	memmove(&j->ivals[i + 1], &j->ivals[i],
	    (j->nivals - i) * sizeof(*j->ivals));
	j->ivals[i].lo = lo;
	j->ivals[i].hi = hi;
	j->nivals++;
}

int
tasq_broker_ivals_add(struct job *j, uint64_t lo, uint64_t hi)
{
	int rv;

	if ((rv = tasq_broker_ivals_reserve(j)) != 0) {
		return (rv);
	}
	tasq_broker_ivals_insert(j, lo, hi);
	return (0);
}

int
tasq_broker_job_create(tasq_broker *b, uint64_t id, struct queue *q,
    uint64_t now_ms, struct job **jp)
{
	struct job *j;

	if (b->jobs.count >= b->conf.max_jobs && !b->recovering) {
		return (TASQ_ERESOURCE_EXHAUSTED);
	}
	if ((j = tasq_calloc(1, sizeof(*j))) == NULL) {
		return (NNG_ENOMEM);
	}
	j->id       = id;
	j->q        = q;
	j->seq_next = b->conf.seq_base + 1;
	j->last_ms  = now_ms;
	wlist_init(&j->waiters);
	if (tasq_idmap_put(&b->jobs, id, j) != 0) {
		free(j);
		return (NNG_ENOMEM);
	}
	q->njobs++;
	*jp = j;
	return (0);
}

// Undoes tasq_broker_job_create of a job still without chunks.
void
tasq_broker_job_unmake(tasq_broker *b, struct job *j)
{
	j->q->njobs--;
	tasq_idmap_del(&b->jobs, j->id);
	tasq_broker_job_free(j);
}

void
tasq_broker_chunk_prep_fini(struct chunk_prep *p)
{
	if (p->c != NULL) {
		free(p->c->values);
		free(p->c->done);
		free(p->c);
	}
	free(p->r);
	p->c = NULL;
	p->r = NULL;
}

int
tasq_broker_chunk_prepare(struct job *j, size_t n, struct chunk_prep *p)
{
	size_t words = (n + 63) / 64;

	p->c = NULL;
	p->r = NULL;
	if ((p->c = tasq_calloc(1, sizeof(*p->c))) == NULL ||
	    (p->c->values = tasq_alloc(n * sizeof(int64_t))) == NULL ||
	    (p->c->done = tasq_calloc(words, sizeof(uint64_t))) == NULL ||
	    (p->r = tasq_calloc(1, sizeof(*p->r))) == NULL) {
		goto fail;
	}
	if (j->nchunks == j->capchunks) {
		size_t         ncap = j->capchunks ? j->capchunks * 2 : 8;
		struct chunk **nc =
		    tasq_realloc(j->chunks, ncap * sizeof(*nc));
		if (nc == NULL) {
			goto fail;
		}
		j->chunks    = nc;
		j->capchunks = ncap;
	}
	return (0);
fail:
	tasq_broker_chunk_prep_fini(p);
	return (NNG_ENOMEM);
}

void
tasq_broker_chunk_commit(tasq_broker *b, struct job *j, struct chunk_prep *p,
    uint64_t first, size_t n, const int64_t *values, const uint64_t *done)
{
	struct chunk *c = p->c;
	struct range *r = p->r;
	bool          found;
	size_t        at, words = (n + 63) / 64;
	uint32_t      undone = (uint32_t) n;

	memcpy(c->values, values, n * sizeof(*values));
	if (done != NULL) {
		memcpy(c->done, done, words * sizeof(uint64_t));
		if (n % 64 != 0) {
			c->done[words - 1] &= (1ULL << (n % 64)) - 1;
		}
		for (size_t i = 0; i < words; i++) {
			undone -= (uint32_t) __builtin_popcountll(c->done[i]);
		}
	}
	c->job       = j;
	c->first     = first;
	c->n         = (uint32_t) n;
	c->remaining = undone;
	c->refs      = 1;
	at           = chunk_index(j, first, &found);
	memmove(&j->chunks[at + 1], &j->chunks[at],
	    (j->nchunks - at) * sizeof(*j->chunks));
	j->chunks[at] = c;
	j->nchunks++;
	r->chunk = c;
	r->off   = 0;
	r->len   = (uint32_t) n;
	tasq_broker_ready_push(j->q, r, false);
	b->held += undone;
	p->c = NULL;
	p->r = NULL;
}

int
tasq_broker_chunk_add(tasq_broker *b, struct job *j, uint64_t first, size_t n,
    const int64_t *values, const uint64_t *done)
{
	struct chunk_prep p;
	int               rv;

	if ((rv = tasq_broker_chunk_prepare(j, n, &p)) != 0) {
		return (rv);
	}
	tasq_broker_chunk_commit(b, j, &p, first, n, values, done);
	return (0);
}

// Results of a batch come from one chunk, or a few in a row: try the
// chunk of the previous id before searching.
struct chunk *
tasq_broker_chunk_of_hint(
    const struct job *j, uint64_t id, struct chunk **hint)
{
	struct chunk *c = *hint;

	if (c == NULL || id < c->first || id - c->first >= c->n) {
		c     = tasq_broker_chunk_of(j, id);
		*hint = c;
	}
	return (c);
}

static void
delivery_drop(tasq_broker *b, struct job *j)
{
	b->held -= j->d_n;
	j->q->nresults -= j->d_n;
	free(j->d_ids);
	free(j->d_vals);
	free(j->d_codes);
	j->d_ids   = NULL;
	j->d_vals  = NULL;
	j->d_codes = NULL;
	j->d_n     = 0;
	j->d_seq   = 0;
}

// Ends a job (locked): drops its ready ranges, results and delivery; its
// chunks go when their leases end.
uint64_t
tasq_broker_job_close(tasq_broker *b, struct job *j, tasq_waiter **wake)
{
	struct queue *q       = j->q;
	uint64_t      dropped = 0;

	// Drop the ready ranges first, while the job is still open, so that
	// freeing their chunks cannot free the job under our feet.
	tasq_broker_ready_drop_job(b, q, j);
	j->closed = true;
	dropped += j->r_len + j->d_n;
	b->held -= j->r_len;
	q->nresults -= j->r_len;
	j->r_len = 0;
	delivery_drop(b, j);
	q->njobs--;
	wlist_take(&j->waiters, wake);
	// Chunks without leases go now; the rest when their leases end.
	for (size_t i = j->nchunks; i > 0; i--) {
		struct chunk *c = j->chunks[i - 1];
		dropped += c->remaining;
		if (c->refs == 0) {
			bool last = j->nchunks == 1;
			chunk_free(b, c); // frees j too when it was the last
			if (last) {
				return (dropped);
			}
		}
	}
	if (j->nchunks == 0) {
		job_forget(b, j);
	}
	return (dropped);
}

uint64_t
tasq_broker_job_acked(const struct job *j, uint64_t ack_seq)
{
	return (j->d_seq != 0 && ack_seq == j->d_seq ? j->d_n : 0);
}

// All or nothing: the next delivery and the reply's copy are allocated
// before the acknowledgement is journaled.
int
tasq_broker_job_fetch(tasq_broker *b, struct job *j, uint64_t ack_seq,
    uint32_t max, tasq_fetch_out *out)
{
	char     *mem      = NULL;
	uint64_t *nd_ids   = NULL;
	int64_t  *nd_vals  = NULL;
	uint32_t *nd_codes = NULL;
	size_t    n        = 0, shown;
	bool      ack, errs = false;
	int       rv = 0;

	ack = j->d_seq != 0 && ack_seq == j->d_seq;
	if ((ack || j->d_seq == 0) && j->r_len > 0) {
		// A new delivery from the head of the result list.
		n        = j->r_len < max ? j->r_len : max;
		nd_ids   = tasq_alloc(n * sizeof(*nd_ids));
		nd_vals  = tasq_alloc(n * sizeof(*nd_vals));
		nd_codes = tasq_alloc(n * sizeof(*nd_codes));
	}
	// The reply shows the new delivery, or the old one when the ack
	// cannot be journaled: room for either, codes included.
	shown = n > j->d_n ? n : j->d_n;
	if (shown > 0) {
		mem = tasq_alloc(shown *
		        (sizeof(uint64_t) + sizeof(int64_t) +
		            sizeof(uint32_t)) +
		    1);
	}
	if ((n > 0 &&
	        (nd_ids == NULL || nd_vals == NULL || nd_codes == NULL)) ||
	    (shown > 0 && mem == NULL)) {
		rv = NNG_ENOMEM;
		goto out;
	}
	// Nothing below runs out of memory.
	if (ack && tasq_persist_ack(b, j->id, j->d_n) == 0) {
		delivery_drop(b, j);
	}
	if (j->d_seq == 0 && n > 0) {
		memcpy(nd_ids, j->r_ids + j->r_head, n * sizeof(uint64_t));
		memcpy(nd_vals, j->r_vals + j->r_head, n * sizeof(int64_t));
		memcpy(nd_codes, j->r_codes + j->r_head, n * sizeof(uint32_t));
		j->d_ids   = nd_ids;
		j->d_vals  = nd_vals;
		j->d_codes = nd_codes;
		nd_ids     = NULL;
		nd_vals    = NULL;
		nd_codes   = NULL;
		j->r_head += n;
		j->r_len -= n;
		if (j->r_len == 0) {
			j->r_head = 0;
		}
		j->d_n   = n;
		j->d_seq = j->seq_next++;
	}
	out->submitted = j->submitted;
	out->completed = j->completed;
	if (j->d_seq == 0) {
		goto out;
	}
	n = j->d_n;
	for (size_t i = 0; i < n && !errs; i++) {
		errs = j->d_codes[i] != 0;
	}
	out->mem_   = mem;
	mem         = NULL;
	out->seq    = j->d_seq;
	out->n      = n;
	out->ids    = (void *) out->mem_;
	out->values = (void *) ((char *) out->mem_ + n * sizeof(uint64_t));
	memcpy(out->ids, j->d_ids, n * sizeof(uint64_t));
	memcpy(out->values, j->d_vals, n * sizeof(int64_t));
	if (errs) {
		out->codes = (void *) ((char *) out->mem_ + n * 16);
		memcpy(out->codes, j->d_codes, n * sizeof(uint32_t));
	}
out:
	free(mem);
	free(nd_ids);
	free(nd_vals);
	free(nd_codes);
	return (rv);
}

struct job *
tasq_broker_job_find(tasq_broker *b, uint64_t id)
{
	struct job *j = tasq_idmap_get(&b->jobs, id);
	return (j != NULL && !j->closed ? j : NULL);
}

struct job *
tasq_broker_job_next(tasq_broker *b, size_t *pos)
{
	struct job *j;

	while ((j = tasq_idmap_next(&b->jobs, pos)) != NULL) {
		if (!j->closed) {
			return (j);
		}
	}
	return (NULL);
}

uint64_t
tasq_broker_job_id(const struct job *j)
{
	return (j->id);
}

void
tasq_broker_job_counts_set(
    struct job *j, uint64_t submitted, uint64_t completed)
{
	j->submitted = submitted;
	j->completed = completed;
}

void
tasq_broker_job_view(const struct job *j, tasq_job_view *v)
{
	v->queue     = j->q->name;
	v->id        = j->id;
	v->submitted = j->submitted;
	v->completed = j->completed;
	v->nivals    = j->nivals;
	v->nchunks   = j->nchunks;
}

void
tasq_broker_job_ival(const struct job *j, size_t i, uint64_t *lo, uint64_t *hi)
{
	*lo = j->ivals[i].lo;
	*hi = j->ivals[i].hi;
}

void
tasq_broker_job_chunk(const struct job *j, size_t i, tasq_chunk_view *v)
{
	const struct chunk *c = j->chunks[i];

	v->first  = c->first;
	v->n      = c->n;
	v->values = c->values;
	v->done   = c->done;
}

void
tasq_broker_job_results(
    const struct job *j, bool delivered, tasq_results_view *v)
{
	if (delivered) {
		v->n      = j->d_n;
		v->ids    = j->d_ids;
		v->values = j->d_vals;
		v->codes  = j->d_codes;
	} else {
		v->n      = j->r_len;
		v->ids    = j->r_ids + j->r_head;
		v->values = j->r_vals + j->r_head;
		v->codes  = j->r_codes + j->r_head;
	}
}

int
tasq_broker_result_apply(
    tasq_broker *b, struct job *j, uint64_t id, int64_t value, uint32_t code)
{
	struct chunk *c = tasq_broker_chunk_of(j, id);
	uint32_t      off;

	if (c == NULL) {
		return (0); // finished before, chunk gone
	}
	off = (uint32_t) (id - c->first);
	if (!tasq_broker_task_done(c, off) &&
	    !tasq_broker_task_finish(b, c, off, value, code, NULL)) {
		return (NNG_ENOMEM);
	}
	return (0);
}

int
tasq_broker_result_restore(
    tasq_broker *b, struct job *j, uint64_t id, int64_t value, uint32_t code)
{
	size_t at;

	if (tasq_broker_results_reserve(j, 1) != 0) {
		return (NNG_ENOMEM);
	}
	at             = j->r_head + j->r_len++;
	j->r_ids[at]   = id;
	j->r_vals[at]  = value;
	j->r_codes[at] = code;
	j->q->nresults++;
	b->held++;
	return (0);
}

int
tasq_broker_results_drop(tasq_broker *b, struct job *j, size_t n)
{
	if (n > j->r_len) {
		return (TASQ_EDATA_LOSS);
	}
	j->r_head += n;
	j->r_len -= n;
	if (j->r_len == 0) {
		j->r_head = 0;
	}
	b->held -= n;
	j->q->nresults -= n;
	return (0);
}
