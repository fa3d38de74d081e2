// broker_job: jobs, their batches (ivals), chunks of tasks, results and
// deliveries.
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "broker_state.h"
#include "err.h"

static void
errs_free(char **errs, size_t from, size_t n)
{
	if (errs != NULL) {
		for (size_t i = from; i < from + n; i++) {
			free(errs[i]);
		}
	}
}

void
tasq_broker_job_free(struct job *j)
{
	errs_free(j->r_errs, j->r_head, j->r_len);
	errs_free(j->d_errs, 0, j->d_n);
	free(j->chunks);
	free(j->ivals);
	free(j->r_ids);
	free(j->r_codes);
	free(j->r_lens);
	free(j->r_errs);
	free(j->r_data);
	free(j->d_ids);
	free(j->d_codes);
	free(j->d_lens);
	free(j->d_errs);
	free(j->d_data);
	free(j->host);
	free(j->k_pos);
	free(j->k_off);
	free(j);
}

void
tasq_broker_chunk_free_mem(struct chunk *c)
{
	if (c != NULL) {
		free(c->offs);
		free(c->data);
		free(c->done);
		free(c->r_tries);
		free(c->r_nb);
		free(c);
	}
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
	b->held_bytes -= c->size;
	tasq_broker_chunk_free_mem(c);
	if (j->closed && j->nchunks == 0) {
		job_forget(b, j);
	}
}

void
tasq_broker_chunk_unref(tasq_broker *b, struct chunk *c)
{
	if (--c->refs == 0 &&
	    (c->remaining == 0 || c->job->closed || c->job->cancelled)) {
		chunk_free(b, c);
	}
}

// Grows one column of the result list to ncap entries of size bytes.
static int
col_grow(void *colp, size_t ncap, size_t size)
{
	void **col = colp;
	void  *p   = tasq_realloc(*col, ncap * size);

	if (p == NULL) {
		return (NNG_ENOMEM);
	}
	*col = p;
	return (0);
}

int
tasq_broker_results_reserve(
    struct job *j, size_t more, size_t bytes, bool errs)
{
	size_t ncap;

	bool need = j->r_head + j->r_len + more > j->r_cap;

	// Slide the undelivered results to the front before growing, and
	// keep room for half as many again, so that sliding costs
	// amortised O(1) per result.
	if (need && j->r_head > 0) {
		memmove(j->r_ids, j->r_ids + j->r_head,
		    j->r_len * sizeof(*j->r_ids));
		memmove(j->r_codes, j->r_codes + j->r_head,
		    j->r_len * sizeof(*j->r_codes));
		memmove(j->r_lens, j->r_lens + j->r_head,
		    j->r_len * sizeof(*j->r_lens));
		if (j->r_errs != NULL) {
			memmove(j->r_errs, j->r_errs + j->r_head,
			    j->r_len * sizeof(*j->r_errs));
		}
		j->r_head = 0;
		need      = j->r_len + more + j->r_len / 2 > j->r_cap;
	}
	if (need || (errs && j->r_errs == NULL)) {
		ncap = need ? (j->r_len + more) * 2 : j->r_cap;
		if (col_grow(&j->r_ids, ncap, sizeof(*j->r_ids)) != 0 ||
		    col_grow(&j->r_codes, ncap, sizeof(*j->r_codes)) != 0 ||
		    col_grow(&j->r_lens, ncap, sizeof(*j->r_lens)) != 0) {
			return (NNG_ENOMEM);
		}
		if (errs || j->r_errs != NULL) {
			// Entries are set by every task_finish; the ones
			// before (when the column is new) have none.
			bool fresh = j->r_errs == NULL;
			if (col_grow(&j->r_errs, ncap, sizeof(char *)) != 0) {
				return (NNG_ENOMEM);
			}
			if (fresh) {
				memset(j->r_errs, 0, ncap * sizeof(char *));
			}
		}
		j->r_cap = ncap;
	}
	// The bytes, the same way.
	need = j->r_dhead + j->r_dlen + bytes > j->r_dcap;
	if (need && j->r_dhead > 0) {
		memmove(j->r_data, j->r_data + j->r_dhead, j->r_dlen);
		j->r_dhead = 0;
		need       = j->r_dlen + bytes + j->r_dlen / 2 > j->r_dcap;
	}
	if (need) {
		ncap = (j->r_dlen + bytes) * 2 + 64;
		if (col_grow(&j->r_data, ncap, 1) != 0) {
			return (NNG_ENOMEM);
		}
		j->r_dcap = ncap;
	}
	return (0);
}

// Records the first result of task off in c (len bytes at res, code, and
// err: taken, NULL for none). Returns false if the result could not be
// stored (out of memory; err is then freed): the task stays undone.
bool
tasq_broker_task_finish(tasq_broker *b, struct chunk *c, uint32_t off,
    const uint8_t *res, uint32_t len, uint32_t code, char *err,
    tasq_waiter **wake)
{
	struct job *j = c->job;
	size_t      at;

	if (tasq_broker_results_reserve(j, 1, len, err != NULL) != 0) {
		free(err);
		return (false);
	}
	c->done[off / 64] |= 1ULL << (off % 64);
	c->remaining--;
	at             = j->r_head + j->r_len++;
	j->r_ids[at]   = c->first + off;
	j->r_codes[at] = code;
	j->r_lens[at]  = len;
	if (j->r_errs != NULL) {
		j->r_errs[at] = err;
	}
	if (len == 8) {
		memcpy(j->r_data + j->r_dhead + j->r_dlen, res, 8);
	} else if (len > 0) {
		memcpy(j->r_data + j->r_dhead + j->r_dlen, res, len);
	}
	j->r_dlen += len;
	b->held_bytes += len;
	j->completed++;
	// The task moves from the chunk to the result list: held is
	// unchanged until the client acknowledges the result.
	j->q->nresults++;
	j->q->completed++;
	tasq_broker_count(b, TASQ_CTR_COMPLETED, 1);
	if (code != 0) {
		tasq_broker_count(b, TASQ_CTR_FAILED, 1);
		j->failed++;
		j->q->failed++;
	}
	tasq_broker_job_check_done(b, j);
	wlist_take(&j->waiters, wake);
	return (true);
}

// The payload of task off of c.
void
tasq_broker_task_payload(
    const struct chunk *c, uint32_t off, const uint8_t **p, uint32_t *len)
{
	if (c->width > 0) {
		*p   = c->data + (size_t) off * c->width;
		*len = c->width;
	} else {
		*p   = c->data + c->offs[off];
		*len = c->offs[off + 1] - c->offs[off];
	}
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
    const char *type, bool legacy, const tasq_retry *retry, uint64_t now_ms,
    struct job **jp)
{
	struct job  *j;
	struct lane *ln;
	int          rv;

	if (b->jobs.count >= b->conf.max_jobs && !b->recovering) {
		return (TASQ_ERESOURCE_EXHAUSTED);
	}
	// A lane made here stays with the queue (freed with it).
	if ((rv = tasq_broker_lane_get(q, type, &ln)) != 0) {
		return (rv);
	}
	if ((j = tasq_calloc(1, sizeof(*j))) == NULL) {
		return (NNG_ENOMEM);
	}
	j->id       = id;
	j->q        = q;
	j->lane     = ln;
	j->legacy   = legacy;
	j->seq_next = b->conf.seq_base + 1;
	j->last_ms  = now_ms;
	// Its age (JobInfo); a JOB record replayed later sets the original.
	j->created_wall_ms = tasq_broker_wall_ms(b);
	if (retry != NULL) {
		j->retry = *retry;
	}
	wlist_init(&j->waiters);
	tasq_broker_job_ready_init(j);
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
	tasq_broker_chunk_free_mem(p->c);
	free(p->r);
	p->c = NULL;
	p->r = NULL;
}

int
tasq_broker_chunk_prepare(
    struct job *j, size_t n, const tasq_blobs *payloads, struct chunk_prep *p)
{
	size_t words = (n + 63) / 64;

	p->c = NULL;
	p->r = NULL;
	if ((p->c = tasq_calloc(1, sizeof(*p->c))) == NULL ||
	    (p->c->data = tasq_alloc(payloads->size + 1)) == NULL ||
	    (payloads->width == 0 &&
	        (p->c->offs = tasq_alloc((n + 1) * sizeof(uint32_t))) ==
	            NULL) ||
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
    uint64_t first, size_t n, const tasq_blobs *payloads, const uint64_t *done)
{
	struct chunk *c = p->c;
	struct range *r = p->r;
	bool          found;
	size_t        at, words = (n + 63) / 64;
	uint32_t      undone = (uint32_t) n;

	// The fixed-width column (square: width 8) is one memcpy.
	memcpy(c->data, payloads->data, payloads->size);
	c->width = payloads->width;
	c->size  = payloads->size;
	if (c->width == 0) {
		uint32_t off = 0;
		for (size_t i = 0; i < n; i++) {
			c->offs[i] = off;
			off += payloads->lens[i];
		}
		c->offs[n] = off;
	}
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
	c->enq_ms    = j->last_ms; // the submit's time
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
	tasq_broker_ready_push(j->lane, r, false);
	b->held += undone;
	b->held_bytes += c->size;
	p->c = NULL;
	p->r = NULL;
}

int
tasq_broker_chunk_add(tasq_broker *b, struct job *j, uint64_t first, size_t n,
    const tasq_blobs *payloads, const uint64_t *done)
{
	struct chunk_prep p;
	int               rv;

	if ((rv = tasq_broker_chunk_prepare(j, n, payloads, &p)) != 0) {
		return (rv);
	}
	tasq_broker_chunk_commit(b, j, &p, first, n, payloads, done);
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
	b->held_bytes -= j->d_size;
	j->q->nresults -= j->d_n;
	errs_free(j->d_errs, 0, j->d_n);
	free(j->d_ids);
	free(j->d_codes);
	free(j->d_lens);
	free(j->d_errs);
	free(j->d_data);
	j->d_ids   = NULL;
	j->d_codes = NULL;
	j->d_lens  = NULL;
	j->d_errs  = NULL;
	j->d_data  = NULL;
	j->d_size  = 0;
	j->d_n     = 0;
	j->d_seq   = 0;
}

// The tasks of r without a result, whatever its job's state.
static uint32_t
range_open(const struct range *r)
{
	const struct chunk *c = r->chunk;
	uint32_t            n = 0;

	for (uint32_t i = r->off; i < r->off + r->len; i++) {
		n += !((c->done[i / 64] >> (i % 64)) & 1);
	}
	return (n);
}

// The tasks of j without a result in the ranges of l.
static uint32_t
lease_open_of(const struct lease *l, const struct job *j)
{
	uint32_t n = 0;

	for (const struct range *r = l->ranges; r != NULL; r = r->next) {
		if (r->chunk->job == j) {
			n += range_open(r);
		}
	}
	return (n);
}

uint32_t
tasq_broker_job_running(tasq_broker *b, const struct job *j)
{
	size_t   pos = 0;
	void    *v;
	uint32_t n = 0;

	while ((v = tasq_idmap_next(&b->leases, &pos)) != NULL) {
		n += lease_open_of(v, j);
	}
	return (n);
}

uint64_t
tasq_broker_job_cancel(tasq_broker *b, struct job *j, uint64_t wall_ms,
    uint32_t *running, tasq_waiter **wake)
{
	uint64_t dropped = 0;
	size_t   pos     = 0;
	void    *v;

	*running = 0;
	if (j->closed || j->cancelled) {
		return (0);
	}
	for (struct range *r = j->ready.next; r != &j->ready; r = r->next) {
		dropped += tasq_broker_range_undone(r);
	}
	for (struct range *d = b->delayed; d != NULL; d = d->next) {
		if (d->chunk->job == j) {
			dropped += tasq_broker_range_undone(d);
		}
	}
	// The ready ranges go while the job still counts them as undone.
	tasq_broker_ready_drop_job(b, j);
	tasq_broker_delayed_drop_job(b, j);
	while ((v = tasq_idmap_next(&b->leases, &pos)) != NULL) {
		struct lease *l   = v;
		uint32_t      n   = 0;
		bool          has = false;
		for (const struct range *r = l->ranges; r != NULL;
		     r                     = r->next) {
			if (r->chunk->job == j) {
				has = true;
				n += range_open(r);
			}
		}
		*running += n;
		// A lease whose tasks of j all have results needs no word.
		if (has && n > 0 && !l->cancelled) {
			l->cancelled = true;
			if (l->w != NULL) {
				l->w->ncancel++;
			}
		}
	}
	j->cancelled = true;
	j->sealed    = true;
	if (j->done_wall_ms == 0) {
		j->done_wall_ms = wall_ms;
	}
	wlist_take(&j->waiters, wake);
	// Chunks without leases go now (their payloads are of no more
	// use), the rest when their leases end (tasq_broker_chunk_unref).
	for (size_t i = j->nchunks; i > 0; i--) {
		struct chunk *c = j->chunks[i - 1];
		if (c->refs == 0) {
			chunk_free(b, c);
		}
	}
	return (dropped);
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
	tasq_broker_ready_drop_job(b, j);
	tasq_broker_delayed_drop_job(b, j);
	j->closed = true;
	dropped += j->r_len + j->d_n;
	b->held -= j->r_len;
	b->held_bytes -= j->r_dlen;
	q->nresults -= j->r_len;
	errs_free(j->r_errs, j->r_head, j->r_len);
	j->r_len  = 0;
	j->r_head = 0;
	j->r_dlen = 0;
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

static size_t
sum_lens(const uint32_t *lens, size_t n)
{
	size_t s = 0;

	for (size_t i = 0; i < n; i++) {
		s += lens[i];
	}
	return (s);
}

// Bytes of the n messages (with their NULs) of errs, 0 without.
static size_t
sum_errs(char *const *errs, size_t n)
{
	size_t s = 0;

	for (size_t i = 0; errs != NULL && i < n; i++) {
		s += errs[i] != NULL ? strlen(errs[i]) + 1 : 0;
	}
	return (s);
}

// Copies the current delivery of j into out (mem: room for it).
static void
delivery_show(const struct job *j, char *mem, tasq_fetch_out *out)
{
	size_t n     = j->d_n;
	bool   codes = false, same = true;
	char  *s;

	out->mem_    = mem;
	out->seq     = j->d_seq;
	out->n       = n;
	out->ids     = (void *) mem;
	out->codes   = (void *) (mem + n * 8);
	uint32_t *ln = (void *) (mem + n * 12);
	out->errors  = (void *) (mem + n * 16);
	s            = mem + n * 24 + j->d_size;
	memcpy(out->ids, j->d_ids, n * sizeof(uint64_t));
	memcpy(out->codes, j->d_codes, n * sizeof(uint32_t));
	memcpy(ln, j->d_lens, n * sizeof(uint32_t));
	memcpy(mem + n * 24, j->d_data, j->d_size);
	for (size_t i = 0; i < n; i++) {
		codes |= j->d_codes[i] != 0;
		same &= j->d_lens[i] == j->d_lens[0];
	}
	if (!codes) {
		out->codes = NULL;
	}
	if (j->d_errs == NULL) {
		out->errors = NULL;
	} else {
		for (size_t i = 0; i < n; i++) {
			out->errors[i] = NULL;
			if (j->d_errs[i] != NULL) {
				size_t l = strlen(j->d_errs[i]) + 1;
				memcpy(s, j->d_errs[i], l);
				out->errors[i] = s;
				s += l;
			}
		}
	}
	out->results.data = (uint8_t *) mem + n * 24;
	out->results.size = j->d_size;
	if (n > 0 && same && j->d_lens[0] > 0) {
		out->results.width = j->d_lens[0];
		out->results.lens  = NULL;
	} else {
		out->results.width = 0;
		out->results.lens  = ln;
	}
}

// All or nothing: the next delivery and the reply's copy are allocated
// before the acknowledgement is journaled.
int
tasq_broker_job_fetch(tasq_broker *b, struct job *j, uint64_t ack_seq,
    uint32_t max, tasq_fetch_out *out)
{
	char     *mem      = NULL;
	uint64_t *nd_ids   = NULL;
	uint32_t *nd_codes = NULL;
	uint32_t *nd_lens  = NULL;
	char    **nd_errs  = NULL;
	uint8_t  *nd_data  = NULL;
	size_t    n = 0, shown, bytes = 0, ebytes = 0, sz;
	bool      ack;
	int       rv = 0;

	ack = j->d_seq != 0 && ack_seq == j->d_seq;
	if (j->keep) {
		// A detached job's results stay for Results (broker_jobs.c).
		out->submitted = j->submitted;
		out->completed = j->completed;
		out->legacy    = j->legacy;
		return (0);
	}
	if ((ack || j->d_seq == 0) && j->r_len > 0) {
		// A new delivery from the head of the result list.
		n        = j->r_len < max ? j->r_len : max;
		bytes    = sum_lens(j->r_lens + j->r_head, n);
		ebytes   = j->r_errs ? sum_errs(j->r_errs + j->r_head, n) : 0;
		nd_ids   = tasq_alloc(n * sizeof(*nd_ids));
		nd_codes = tasq_alloc(n * sizeof(*nd_codes));
		nd_lens  = tasq_alloc(n * sizeof(*nd_lens));
		nd_data  = tasq_alloc(bytes + 1);
		if (j->r_errs != NULL) {
			nd_errs = tasq_alloc(n * sizeof(*nd_errs));
		}
	}
	// The reply shows the new delivery, or the old one when the ack
	// cannot be journaled: room for either.
	shown = n > j->d_n ? n : j->d_n;
	sz    = bytes > j->d_size ? bytes : j->d_size;
	{
		size_t e = sum_errs(j->d_errs, j->d_n);
		sz += ebytes > e ? ebytes : e;
	}
	if (shown > 0) {
		mem = tasq_alloc(shown * 24 + sz + 1);
	}
	if ((n > 0 &&
	        (nd_ids == NULL || nd_codes == NULL || nd_lens == NULL ||
	            nd_data == NULL ||
	            (j->r_errs != NULL && nd_errs == NULL))) ||
	    (shown > 0 && mem == NULL)) {
		rv = NNG_ENOMEM;
		goto out;
	}
	// Nothing below runs out of memory.
	if (ack && tasq_persist_ack(b, j->id, j->d_n) == 0) {
		delivery_drop(b, j);
	}
	if (j->d_seq == 0 && n > 0) {
		size_t h = j->r_head;
		memcpy(nd_ids, j->r_ids + h, n * sizeof(uint64_t));
		memcpy(nd_codes, j->r_codes + h, n * sizeof(uint32_t));
		memcpy(nd_lens, j->r_lens + h, n * sizeof(uint32_t));
		if (bytes > 0) { // r_data is NULL while every result is empty
			memcpy(nd_data, j->r_data + j->r_dhead, bytes);
		}
		if (nd_errs != NULL) {
			// The messages move to the delivery.
			memcpy(nd_errs, j->r_errs + h, n * sizeof(char *));
		}
		j->d_ids   = nd_ids;
		j->d_codes = nd_codes;
		j->d_lens  = nd_lens;
		j->d_errs  = nd_errs;
		j->d_data  = nd_data;
		j->d_size  = bytes;
		nd_ids     = NULL;
		nd_codes   = NULL;
		nd_lens    = NULL;
		nd_errs    = NULL;
		nd_data    = NULL;
		j->r_head += n;
		j->r_len -= n;
		j->r_dhead += bytes;
		j->r_dlen -= bytes;
		if (j->r_len == 0) {
			j->r_head  = 0;
			j->r_dhead = 0;
		}
		j->d_n   = n;
		j->d_seq = j->seq_next++;
	}
	out->submitted = j->submitted;
	out->completed = j->completed;
	out->legacy    = j->legacy;
	if (j->d_seq != 0) {
		delivery_show(j, mem, out);
		mem = NULL;
	}
out:
	free(mem);
	free(nd_ids);
	free(nd_codes);
	free(nd_lens);
	free(nd_errs);
	free(nd_data);
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
	v->queue        = j->q->name;
	v->type         = j->lane->type;
	v->legacy       = j->legacy;
	v->retry        = j->retry;
	v->id           = j->id;
	v->submitted    = j->submitted;
	v->completed    = j->completed;
	v->nivals       = j->nivals;
	v->nchunks      = j->nchunks;
	v->cancelled    = j->cancelled;
	v->done_wall_ms = j->done_wall_ms;
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

	v->first = c->first;
	v->n     = c->n;
	v->done  = c->done;
	// The column as it came: fixed width, or lengths from the offsets
	// (which the caller turns into lens itself: see persist.c).
	v->width = c->width;
	v->offs  = c->offs;
	v->data  = c->data;
	v->size  = c->size;
}

void
tasq_broker_job_results(
    const struct job *j, bool delivered, tasq_results_view *v)
{
	if (delivered) {
		v->n     = j->d_n;
		v->ids   = j->d_ids;
		v->codes = j->d_codes;
		v->lens  = j->d_lens;
		v->errs  = (const char *const *) j->d_errs;
		v->data  = j->d_data;
		v->size  = j->d_size;
	} else {
		v->n     = j->r_len;
		v->ids   = j->r_ids + j->r_head;
		v->codes = j->r_codes + j->r_head;
		v->lens  = j->r_lens + j->r_head;
		v->errs  = j->r_errs != NULL
		     ? (const char *const *) j->r_errs + j->r_head
		     : NULL;
		v->data  = j->r_data != NULL ? j->r_data + j->r_dhead : NULL;
		v->size  = j->r_dlen;
	}
}

static int
err_dup(const char *err, char **out)
{
	*out = NULL;
	if (err != NULL && err[0] != '\0') {
		size_t l = strlen(err) + 1;
		if ((*out = tasq_alloc(l)) == NULL) {
			return (NNG_ENOMEM);
		}
		memcpy(*out, err, l);
	}
	return (0);
}

int
tasq_broker_result_apply(tasq_broker *b, struct job *j, uint64_t id,
    const uint8_t *res, uint32_t len, uint32_t code, const char *err)
{
	struct chunk *c = tasq_broker_chunk_of(j, id);
	uint32_t      off;
	char         *e;

	if (c == NULL) {
		return (0); // finished before, chunk gone
	}
	off = (uint32_t) (id - c->first);
	if (tasq_broker_task_done(c, off)) {
		return (0);
	}
	if (err_dup(err, &e) != 0 ||
	    !tasq_broker_task_finish(b, c, off, res, len, code, e, NULL)) {
		return (NNG_ENOMEM);
	}
	return (0);
}

int
tasq_broker_result_restore(tasq_broker *b, struct job *j, uint64_t id,
    const uint8_t *res, uint32_t len, uint32_t code, const char *err)
{
	size_t at;
	char  *e;

	if (err_dup(err, &e) != 0) {
		return (NNG_ENOMEM);
	}
	if (tasq_broker_results_reserve(j, 1, len, e != NULL) != 0) {
		free(e);
		return (NNG_ENOMEM);
	}
	at             = j->r_head + j->r_len++;
	j->r_ids[at]   = id;
	j->r_codes[at] = code;
	j->r_lens[at]  = len;
	if (j->r_errs != NULL) {
		j->r_errs[at] = e;
	}
	if (len > 0) {
		memcpy(j->r_data + j->r_dhead + j->r_dlen, res, len);
	}
	j->r_dlen += len;
	b->held_bytes += len;
	j->q->nresults++;
	b->held++;
	return (0);
}

int
tasq_broker_results_drop(tasq_broker *b, struct job *j, size_t n)
{
	size_t bytes;

	if (n > j->r_len) {
		return (TASQ_EDATA_LOSS);
	}
	bytes = sum_lens(j->r_lens + j->r_head, n);
	errs_free(j->r_errs, j->r_head, n);
	j->r_head += n;
	j->r_len -= n;
	j->r_dhead += bytes;
	j->r_dlen -= bytes;
	if (j->r_len == 0) {
		j->r_head  = 0;
		j->r_dhead = 0;
	}
	b->held -= n;
	b->held_bytes -= bytes;
	j->q->nresults -= n;
	return (0);
}

bool
tasq_broker_job_waiting(const struct job *j)
{
	return (j->completed < j->submitted && !j->cancelled);
}

const char *
tasq_broker_job_queue(const struct job *j)
{
	return (j->q->name);
}

const char *
tasq_broker_job_type(const struct job *j)
{
	return (j->lane->type);
}
