// worker_lease: the lease handle of include/tasq/worker.h: one leased
// batch of tasks (a LeaseReply: one lease, batches of one type from one
// or more jobs), its tasks seen as one list, and the results the caller
// puts for them. Handing it back (complete, done, release, free) is in
// worker.c, which owns the serve handle's lists.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "blobs.h"
#include "worker_int.h"

// A task's result or message can be at most this (the wire's limits).
#define MAX_RESULT TASQ_WIRE_MAX_PAYLOAD

int
wk_lease_make(struct tasq_serve *w, tasq_rep *rep, struct tasq_lease **lp)
{
	struct tasq_lease *l;
	size_t             n = 0, nb = 0, k = 0;
	bool               same  = true;
	uint32_t           width = 0;

	for (size_t i = 0; i < rep->u.lease.nbatches; i++) {
		if (rep->u.lease.batches[i].n > 0) {
			n += rep->u.lease.batches[i].n;
			nb++;
		}
	}
	if (n == 0) {
		*lp = NULL;
		return (0);
	}
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		return (TASQ_ERESOURCE_EXHAUSTED);
	}
	l->w  = w;
	l->n  = n;
	l->nb = nb;
	atomic_init(&l->told, false);
	l->taken      = nng_clock();
	l->b          = calloc(nb, sizeof(*l->b));
	l->bcancelled = calloc(nb, sizeof(*l->bcancelled));
	l->first      = calloc(nb + 1, sizeof(*l->first));
	// roff and rlen are read only where rset says; the per-task
	// payload index (pptr, plen) is built at its first use
	// (payload_index).
	l->roff = malloc(n * sizeof(*l->roff));
	l->rlen = malloc(n * sizeof(*l->rlen));
	l->rset = calloc(n, sizeof(*l->rset));
	if (l->b == NULL || l->bcancelled == NULL || l->first == NULL ||
	    l->roff == NULL || l->rlen == NULL || l->rset == NULL) {
		wk_lease_destroy(l);
		return (TASQ_ERESOURCE_EXHAUSTED);
	}
	for (size_t i = 0; i < nb; i++) {
		atomic_init(&l->bcancelled[i], false);
	}
	nb = 0;
	for (size_t i = 0; i < rep->u.lease.nbatches; i++) {
		tasq_task_batch *tb = &rep->u.lease.batches[i];
		if (tb->n == 0) {
			continue;
		}
		l->b[nb]       = tb;
		l->first[nb++] = k;
		if (nb == 1) {
			width = tb->payloads.width;
		} else if (tb->payloads.width != width) {
			same = false;
		}
		k += tb->n;
	}
	l->first[nb] = k;
	l->width     = same ? width : 0;
	l->lease_id  = l->b[0]->lease_id;
	l->type      = l->b[0]->type;
	// The lease owns the reply from here (its payloads).
	l->rep = *rep;
	memset(rep, 0, sizeof(*rep));
	*lp = l;
	return (0);
}

void
wk_lease_destroy(struct tasq_lease *l)
{
	if (l == NULL) {
		return;
	}
	if (l->rep.pb_ != NULL || l->rep.mem_ != NULL) {
		tasq_wire_rep_fini(&l->rep);
	}
	if (l->errors != NULL) {
		for (size_t i = 0; i < l->n; i++) {
			free(l->errors[i]);
		}
	}
	free(l->errors);
	free(l->codes);
	free(l->b);
	free(l->bcancelled);
	free(l->first);
	free(l->pptr);
	free(l->plen);
	free(l->cat);
	free(l->catlens);
	free(l->rdata);
	free(l->roff);
	free(l->rlen);
	free(l->rset);
	free(l->sendmem);
	free(l);
}

// Builds the per-task payload index at its first use (a lease's
// handler may never need it: a column of one width).
static int
payload_index(struct tasq_lease *l)
{
	size_t k = 0;

	if (l->pptr != NULL) {
		return (0);
	}
	l->pptr = malloc(l->n * sizeof(*l->pptr));
	l->plen = malloc(l->n * sizeof(*l->plen));
	if (l->pptr == NULL || l->plen == NULL) {
		free(l->pptr);
		free(l->plen);
		l->pptr = NULL;
		l->plen = NULL;
		return (TASQ_ERESOURCE_EXHAUSTED);
	}
	for (size_t b = 0; b < l->nb; b++) {
		const tasq_task_batch *tb  = l->b[b];
		size_t                 off = 0;
		for (size_t j = 0; j < tb->n; j++, k++) {
			uint32_t len = tb->payloads.width != 0
			    ? tb->payloads.width
			    : tb->payloads.lens[j];
			l->pptr[k]   = tb->payloads.data + off;
			l->plen[k]   = len;
			off += len;
		}
	}
	return (0);
}

// The batch that holds task i.
static size_t
batch_of(const struct tasq_lease *l, size_t i)
{
	size_t lo = 0, hi = l->nb;

	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;
		if (l->first[mid] <= i) {
			lo = mid;
		} else {
			hi = mid;
		}
	}
	return (lo);
}

TASQ_API size_t
tasq_lease_count(const tasq_lease *l)
{
	return (l != NULL ? l->n : 0);
}

TASQ_API uint64_t
tasq_lease_id(const tasq_lease *l)
{
	return (l != NULL ? l->lease_id : 0);
}

TASQ_API const char *
tasq_lease_type(const tasq_lease *l)
{
	return (l != NULL ? l->type : NULL);
}

TASQ_API uint32_t
tasq_lease_width(const tasq_lease *l)
{
	return (l != NULL ? l->width : 0);
}

TASQ_API const void *
tasq_lease_payload(const tasq_lease *l, size_t i, size_t *len)
{
	if (l == NULL || i >= l->n ||
	    payload_index((struct tasq_lease *) l) != 0) {
		if (len != NULL) {
			*len = 0;
		}
		return (NULL);
	}
	if (len != NULL) {
		*len = l->plen[i];
	}
	return (l->pptr[i]);
}

TASQ_API int
tasq_lease_payloads(
    const void **data, size_t *size, const uint32_t **lens, tasq_lease *l)
{
	size_t total = 0, off = 0;

	if (l == NULL || data == NULL || size == NULL) {
		return (tasq_api_fail(
		    TASQ_EINVALID_ARGUMENT, "%s: invalid argument", __func__));
	}
	for (size_t i = 0; i < l->nb; i++) {
		total += l->b[i]->payloads.size;
	}
	if (l->width == 0 && payload_index(l) != 0) {
		return (TASQ_ERESOURCE_EXHAUSTED);
	}
	if (l->nb == 1) {
		*data = l->b[0]->payloads.data;
		*size = total;
		if (lens != NULL) {
			*lens = l->width != 0 ? NULL : l->plen;
		}
		return (0);
	}
	// Several batches: one column joined once, kept with the lease.
	if (l->cat == NULL) {
		if ((l->cat = malloc(total > 0 ? total : 1)) == NULL) {
			return (TASQ_ERESOURCE_EXHAUSTED);
		}
		for (size_t i = 0; i < l->nb; i++) {
			memcpy(l->cat + off, l->b[i]->payloads.data,
			    l->b[i]->payloads.size);
			off += l->b[i]->payloads.size;
		}
	}
	*data = l->cat;
	*size = total;
	if (lens != NULL) {
		*lens = l->width != 0 ? NULL : l->plen;
	}
	return (0);
}

TASQ_API uint64_t
tasq_lease_job(const tasq_lease *l, size_t i)
{
	if (l == NULL || i >= l->n) {
		return (0);
	}
	return (l->b[batch_of(l, i)]->job_id);
}

TASQ_API uint64_t
tasq_lease_task(const tasq_lease *l, size_t i)
{
	size_t b;

	if (l == NULL || i >= l->n) {
		return (0);
	}
	b = batch_of(l, i);
	return (l->b[b]->ids[i - l->first[b]]);
}

TASQ_API uint32_t
tasq_lease_attempt(const tasq_lease *l, size_t i)
{
	if (l == NULL || i >= l->n) {
		return (0);
	}
	return (l->b[batch_of(l, i)]->attempt);
}

TASQ_API bool
tasq_lease_cancelled(const tasq_lease *l, size_t i)
{
	tasq_lease *m = (tasq_lease *) l; // atomics: read only

	if (l == NULL || i >= l->n || !atomic_load(&m->told)) {
		return (false);
	}
	return (atomic_load(&m->bcancelled[batch_of(l, i)]));
}

// A task's code as the wire has it: TASQ_E* or 1..16 as is; 0 for
// anything else.
static uint32_t
wire_code(int code)
{
	if (code > TASQ_ERR_BASE && code <= TASQ_ERR_BASE + TASQ_CODE_MAX) {
		return ((uint32_t) (code - TASQ_ERR_BASE));
	}
	if (code > 0 && code <= TASQ_CODE_MAX) {
		return ((uint32_t) code);
	}
	return (0);
}

TASQ_API bool
tasq_lease_code_final(int code)
{
	return (tasq_wire_code_final(wire_code(code)));
}

// Room for len more result bytes.
static int
reserve(struct tasq_lease *l, size_t len)
{
	size_t   cap;
	uint8_t *d;

	if (l->rcap - l->rsize >= len) {
		return (0);
	}
	cap = l->rcap != 0 ? l->rcap : 4096;
	while (cap - l->rsize < len) {
		cap *= 2;
	}
	if ((d = realloc(l->rdata, cap)) == NULL) {
		return (TASQ_ERESOURCE_EXHAUSTED);
	}
	l->rdata = d;
	l->rcap  = cap;
	return (0);
}

// Writes the offsets and lengths a column of one width left unwritten.
static void
materialize(struct tasq_lease *l)
{
	if (!l->lazy) {
		return;
	}
	for (size_t i = 0; i < l->lazyn; i++) {
		l->roff[i] = i * l->colwidth;
		l->rlen[i] = l->colwidth;
	}
	l->lazy = false;
}

static void
clear_failure(struct tasq_lease *l, size_t i)
{
	if (l->codes != NULL) {
		l->codes[i] = 0;
	}
	if (l->errors != NULL) {
		free(l->errors[i]);
		l->errors[i] = NULL;
	}
}

static int
check_open(const struct tasq_lease *l, size_t i)
{
	if (l == NULL || i >= l->n) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "task %zu: no such task in the lease", i));
	}
	return (0);
}

TASQ_API int
tasq_lease_put(tasq_lease *l, size_t i, const void *data, size_t len)
{
	int rv;

	if ((rv = check_open(l, i)) != 0) {
		return (rv);
	}
	if (len > 0 && data == NULL) {
		return (tasq_api_fail(
		    TASQ_EINVALID_ARGUMENT, "%s: invalid argument", __func__));
	}
	if (len > MAX_RESULT) {
		// As the tasq worker does: final, it would be as big again.
		char msg[96];
		snprintf(msg, sizeof(msg),
		    "result is %zu bytes, more than the 1 MiB limit", len);
		return (tasq_lease_fail(l, i, TASQ_EOUT_OF_RANGE, msg));
	}
	if ((rv = reserve(l, len)) != 0) {
		return (rv);
	}
	materialize(l);
	if (len > 0) {
		memcpy(l->rdata + l->rsize, data, len);
	}
	l->roff[i] = l->rsize;
	l->rlen[i] = (uint32_t) len;
	l->rsize += len;
	l->colnext = SIZE_MAX;
	clear_failure(l, i);
	if (!l->rset[i]) {
		l->rset[i] = 1;
		l->nset++;
	}
	return (0);
}

TASQ_API int
tasq_lease_put_all(tasq_lease *l, const void *data, size_t size,
    uint32_t width, const uint32_t *lens)
{
	tasq_blobs col = { .width = width,
		.lens             = (uint32_t *) lens,
		.data             = (uint8_t *) data,
		.size             = size };
	size_t     off = 0;
	int        rv;

	if (l == NULL || (width == 0 && lens == NULL && l->n > 0)) {
		return (tasq_api_fail(
		    TASQ_EINVALID_ARGUMENT, "%s: invalid argument", __func__));
	}
	if (width != 0) {
		col.lens = NULL;
	}
	if (tasq_blobs_check(&col, l->n, MAX_RESULT) != 0) {
		return (tasq_api_fail(
		    TASQ_EINVALID_ARGUMENT, "%s: invalid argument", __func__));
	}
	// One copy of the column; every task points into it.
	free(l->rdata);
	l->rdata = NULL;
	l->rsize = l->rcap = 0;
	if ((rv = reserve(l, size > 0 ? size : 1)) != 0) {
		return (rv);
	}
	if (size > 0) {
		memcpy(l->rdata, data, size);
	}
	l->rsize = size;
	l->lazy  = width != 0; // offsets i * width: written if needed
	l->lazyn = l->n;
	for (size_t i = 0; width == 0 && i < l->n; i++) {
		l->roff[i] = off;
		l->rlen[i] = lens[i];
		off += lens[i];
	}
	memset(l->rset, 1, l->n);
	if (l->codes != NULL || l->errors != NULL) {
		for (size_t i = 0; i < l->n; i++) {
			clear_failure(l, i);
		}
	}
	l->nset     = l->n;
	l->colnext  = l->n;
	l->colbytes = size;
	l->colwidth = width;
	return (0);
}

TASQ_API int
tasq_lease_put_column(tasq_lease *l, size_t first, size_t n, const void *data,
    size_t size, uint32_t width, const uint32_t *lens)
{
	tasq_blobs col = { .width = width,
		.lens             = (uint32_t *) lens,
		.data             = (uint8_t *) data,
		.size             = size };
	size_t     off;
	int        rv;

	if (l == NULL || first > l->n || n > l->n - first ||
	    (width == 0 && lens == NULL && n > 0) ||
	    (size > 0 && data == NULL)) {
		return (tasq_api_fail(
		    TASQ_EINVALID_ARGUMENT, "%s: invalid argument", __func__));
	}
	if (first == 0 && n == l->n) {
		return (tasq_lease_put_all(l, data, size, width, lens));
	}
	if (width != 0) {
		col.lens = NULL;
	}
	if (tasq_blobs_check(&col, n, MAX_RESULT) != 0) {
		return (tasq_api_fail(
		    TASQ_EINVALID_ARGUMENT, "%s: invalid argument", __func__));
	}
	// Appended to the lease's results; the tasks point into them.
	if ((rv = reserve(l, size > 0 ? size : 1)) != 0) {
		return (rv);
	}
	off = l->rsize;
	if (first == l->colnext && off == l->colbytes &&
	    (first == 0 || width == l->colwidth)) {
		l->colnext += n; // still one column in task order
		l->colbytes += size;
		l->colwidth = width;
		if (width != 0 && (first == 0 || l->lazy)) {
			// Tasks of one width from 0 on: offsets unwritten,
			// and these tasks had no result (in order).
			if (size > 0) {
				memcpy(l->rdata + off, data, size);
			}
			l->rsize += size;
			memset(l->rset + first, 1, n);
			l->nset += n;
			l->lazy  = true;
			l->lazyn = l->colnext;
			for (size_t i = 0;
			     (l->codes != NULL || l->errors != NULL) && i < n;
			     i++) {
				clear_failure(l, first + i);
			}
			return (0);
		}
	} else {
		l->colnext = SIZE_MAX;
	}
	materialize(l);
	if (size > 0) {
		memcpy(l->rdata + off, data, size);
	}
	l->rsize += size;
	for (size_t i = 0; i < n; i++) {
		uint32_t len       = width != 0 ? width : lens[i];
		l->roff[first + i] = off;
		l->rlen[first + i] = len;
		off += len;
		clear_failure(l, first + i);
		if (!l->rset[first + i]) {
			l->rset[first + i] = 1;
			l->nset++;
		}
	}
	return (0);
}

// The length of the valid UTF-8 character at s (of len bytes), 0 when
// none starts there (RFC 3629: no overlong forms, no surrogates).
static size_t
utf8_len(const unsigned char *s, size_t len)
{
	unsigned c = s[0], min;
	size_t   k;
	uint32_t cp;

	if (c < 0x80) {
		return (1);
	}
	k   = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
	min = k == 4 ? 0x10000 : k == 3 ? 0x800 : 0x80;
	if (k == 0 || k > len || c > 0xf4) {
		return (0);
	}
	cp = c & (0x7f >> k);
	for (size_t j = 1; j < k; j++) {
		if ((s[j] & 0xc0) != 0x80) {
			return (0);
		}
		cp = cp << 6 | (s[j] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
		return (0);
	}
	return (k);
}

// Copies src into dst (cap bytes with the NUL) as valid UTF-8, what the
// wire takes for a message: a byte that starts no valid character
// becomes '?', and the text is cut at a character boundary.
static void
text_clean(char *dst, size_t cap, const char *src)
{
	const unsigned char *s   = (const unsigned char *) src;
	size_t               len = strlen(src), o = 0;

	for (size_t i = 0; i < len;) {
		size_t k = utf8_len(s + i, len - i);
		if (o + (k != 0 ? k : 1) >= cap) {
			break;
		}
		if (k == 0) {
			dst[o++] = '?';
			i++;
		} else {
			memcpy(dst + o, s + i, k);
			o += k;
			i += k;
		}
	}
	dst[o] = '\0';
}

TASQ_API int
tasq_lease_fail(tasq_lease *l, size_t i, int code_in, const char *msg)
{
	uint32_t    code = wire_code(code_in);
	char        buf[TASQ_WIRE_MAX_TEXT + 1];
	const char *name;
	int         rv;

	if ((rv = check_open(l, i)) != 0) {
		return (rv);
	}
	if (code == 0) {
		return (tasq_api_fail(
		    TASQ_EINVALID_ARGUMENT, "%s: invalid argument", __func__));
	}
	if (l->codes == NULL &&
	    (l->codes = calloc(l->n, sizeof(*l->codes))) == NULL) {
		return (TASQ_ERESOURCE_EXHAUSTED);
	}
	if (l->errors == NULL &&
	    (l->errors = calloc(l->n, sizeof(*l->errors))) == NULL) {
		return (TASQ_ERESOURCE_EXHAUSTED);
	}
	name = msg != NULL ? msg : tasq_err_name((int) code);
	// The wire takes at most 1 KiB of UTF-8 without control characters:
	// cut and cleaned here, as the tasq worker does.
	text_clean(buf, sizeof(buf), name);
	free(l->errors[i]);
	if ((l->errors[i] = strdup(buf)) == NULL) {
		return (TASQ_ERESOURCE_EXHAUSTED);
	}
	materialize(l);
	l->codes[i] = code;
	l->roff[i]  = l->rsize;
	l->rlen[i]  = 0;
	l->colnext  = SIZE_MAX;
	if (!l->rset[i]) {
		l->rset[i] = 1;
		l->nset++;
	}
	return (0);
}

// Whether results can go back as legacy values (8 bytes each, or none).
static bool
legacy_fits(const tasq_blobs *col, size_t n)
{
	if (col->width != 0) {
		return (col->width == 8);
	}
	for (size_t i = 0; i < n; i++) {
		if (col->lens[i] != 0 && col->lens[i] != 8) {
			return (false);
		}
	}
	return (true);
}

int
wk_lease_batches(
    struct tasq_lease *l, tasq_result_batch *out, size_t *nout, bool *partial)
{
	size_t   nids = 0, bytes = 0, k = 0, nres = 0;
	uint8_t *mem, *p;

	free(l->sendmem);
	l->sendmem = NULL;
	*partial   = false;
	*nout      = 0;
	if (l->colnext == l->n && l->codes == NULL) {
		// Every result, in task order, in one column: the request
		// points into it and into the lease's ids.
		for (size_t b = 0; b < l->nb; b++) {
			const tasq_task_batch *tb = l->b[b];
			tasq_result_batch     *rb = &out[b];
			size_t                 i0 = l->first[b];
			size_t                 i1 = l->first[b + 1];
			memset(rb, 0, sizeof(*rb));
			rb->lease_id = tb->lease_id;
			rb->job_id   = tb->job_id;
			rb->n        = i1 - i0;
			rb->ids      = tb->ids;
			size_t o0 = l->lazy ? i0 * l->colwidth : l->roff[i0];
			size_t o1 = i1 >= l->n ? l->colbytes
			    : l->lazy          ? i1 * l->colwidth
			                       : l->roff[i1];
			rb->results.data = l->rdata + o0;
			rb->results.size = o1 - o0;
			if (l->colwidth != 0) {
				rb->results.width = l->colwidth;
			} else {
				rb->results.lens = l->rlen + i0;
			}
			rb->legacy =
			    tb->legacy && legacy_fits(&rb->results, rb->n);
			rb->id_runs = tb->id_runs;
		}
		*nout = l->nb;
		return (0);
	}
	materialize(l);
	// Tasks without a result are released once the rest is in, but
	// those of a cancelled job: their batch goes back empty, which ends
	// it on the server (as tasq-worker always did).
	for (size_t b = 0; b < l->nb && !*partial && l->nset < l->n; b++) {
		if (atomic_load(&l->told) && atomic_load(&l->bcancelled[b])) {
			continue;
		}
		for (size_t i = l->first[b]; i < l->first[b + 1]; i++) {
			if (!l->rset[i]) {
				*partial = true;
				break;
			}
		}
	}
	// One block for the columns the request needs: ids, lens and
	// result bytes of the set tasks, in task order (the results were
	// put in any order), codes and errors.
	for (size_t i = 0; i < l->n; i++) {
		if (l->rset[i]) {
			nids++;
			bytes += l->rlen[i];
		}
	}
	mem = malloc(
	    nids * (sizeof(uint64_t) + 2 * sizeof(uint32_t) + sizeof(char *)) +
	    bytes + 1);
	if (mem == NULL) {
		return (TASQ_ERESOURCE_EXHAUSTED);
	}
	l->sendmem      = mem;
	uint64_t *ids   = (uint64_t *) (void *) mem;
	char    **errs  = (char **) (void *) (ids + nids);
	uint32_t *lens  = (uint32_t *) (void *) (errs + nids);
	uint32_t *codes = lens + nids;
	uint8_t  *data  = (uint8_t *) (codes + nids);
	p               = data;
	for (size_t b = 0; b < l->nb; b++) {
		const tasq_task_batch *tb      = l->b[b];
		tasq_result_batch     *rb      = &out[*nout];
		size_t                 from    = k;
		bool                   anycode = false, anyerr = false;
		uint32_t               w     = 0;
		bool                   same  = true;
		uint8_t               *start = p;

		for (size_t i = l->first[b]; i < l->first[b + 1]; i++) {
			if (!l->rset[i]) {
				continue;
			}
			ids[k]   = tb->ids[i - l->first[b]];
			lens[k]  = l->rlen[i];
			codes[k] = l->codes != NULL ? l->codes[i] : 0;
			errs[k]  = l->errors != NULL ? l->errors[i] : NULL;
			anycode |= codes[k] != 0;
			anyerr |= errs[k] != NULL;
			if (k == from) {
				w = lens[k];
			} else if (lens[k] != w) {
				same = false;
			}
			if (l->rlen[i] > 0) {
				memcpy(p, l->rdata + l->roff[i], l->rlen[i]);
			}
			p += l->rlen[i];
			k++;
		}
		nres += k - from;
		if (k == from &&
		    !(atomic_load(&l->told) &&
		        atomic_load(&l->bcancelled[b]))) {
			continue; // no result in this batch
		}
		memset(rb, 0, sizeof(*rb));
		rb->lease_id     = tb->lease_id;
		rb->job_id       = tb->job_id;
		rb->n            = k - from;
		rb->ids          = ids + from;
		rb->codes        = anycode ? codes + from : NULL;
		rb->errors       = anyerr ? (const char **) errs + from : NULL;
		rb->results.data = start;
		rb->results.size = (size_t) (p - start);
		if (same && w > 0) {
			rb->results.width = w;
		} else {
			rb->results.lens = lens + from;
		}
		// A batch that came as legacy values goes back the same way;
		// runs only to a server that sent them (PROTOCOL.md 8.4).
		rb->legacy  = tb->legacy && legacy_fits(&rb->results, rb->n);
		rb->id_runs = tb->id_runs;
		(*nout)++;
	}
	(void) nres;
	return (0);
}
