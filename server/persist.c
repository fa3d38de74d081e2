// persist: the broker's side of the journal: one record per state change,
// the replay of those records at start-up, and snapshots for compaction.
// It works through the module APIs of broker_int.h only.
//
// Payloads (integers little-endian, the hosts' order, so that id and
// fixed-width columns are copied as they are; journal.h frames each
// record). A column is: u32 width; width 0: u32 lens[n]; then the bytes.
// A job header is: u8 qlen, queue, u8 tlen, type, u8 flags (1: legacy,
// 2: has retry), u32 max_attempts, u32 backoff_ms, u32 backoff_max_ms.
//   SUBMIT2  job header, u64 job, u64 first, u32 n, column (payloads)
//   RESULTS2 u64 job, u32 n, u64 ids[n], u8 codes[n], column (results),
//            u8 has_errors; with errors n x (u16 len, bytes)
//   RUN      u64 job, u64 first, u32 n, n x 8 bytes: results of the tasks
//            first, first + 1, ..., all OK and 8 bytes long (square)
//   ACK      u64 job, u32 n           (results dropped from the list head)
//   CLOSE    u64 job
//   IVALS2   job header, u64 job, u64 submitted, u64 completed, u32 n,
//            n x (u64 lo, u64 hi)     (snapshot: a job and its batches)
//   CHUNK2   u64 job, u64 first, u32 n, column, u64 done[(n+63)/64]
//   PENDING2 as RESULTS2              (snapshot: results not yet dropped)
// The records of before typed tasks are replayed as jobs of type square
// submitted legacy: SUBMIT (u8 qlen, queue, u64 job, u64 first, u32 n,
// i64 values[n]), RESULTS and PENDING (u64 job, u32 n, u64 ids[n], i64
// values[n], u8 codes[n]), IVALS (as IVALS2 without type, flags and
// retry) and CHUNK (u64 job, u64 first, u32 n, i64 values[n], done).
//   DEAD     u64 id, u64 job, u64 task, u8 qlen, queue, u8 tlen, type,
//            u32 attempts, u32 code, u64 time_ms, u32 len, payload,
//            u16 elen, error        (a dead letter; snapshots too)
//   DPURGE   u8 all, u8 qlen, queue (qlen 0: all queues), u32 n,
//            u64 ids[n]
//   TRIES    u64 job, u32 n, n x (u64 first, u32 len, u32 attempts,
//            u64 not_before_ms): tasks first .. first + len - 1 have had
//            attempts deliveries that ended without a result (a failure
//            to retry, an expired lease, a lost connection); a retry's
//            backoff ends at not_before_ms on the wall clock (0: none).
//            The later record of a task wins; snapshots have one per
//            range with attempts (a leased one's less its own delivery).
//   JOB      job header, u64 job, u8 flags (1: detached, 2: input
//            complete), u64 result_ttl_ms, u64 created_ms, u64 done_ms
//            (wall clock; 0: not done), u64 failed, u8 hlen, host
//            (written after the SUBMIT2 of a job's first batch when it
//            is detached or ends the input, and when a later
//            request ends the input; in snapshots after IVALS2. A JOB of
//            an unknown job makes it: an empty input)
//   EXPIRED  u32 n, u64 ids[n]   (detached jobs whose results expired:
//            closed, and remembered; snapshots hold those remembered)
//   PRIO     u64 job, u32 priority (1..100: the job's share of its
//            queue; after the job's first SUBMIT2, and after its IVALS2
//            in snapshots; a job without one has the default)
//   CANCEL   u64 job, u64 time_ms (the job was cancelled then, wall
//            clock: its done time unless it had one; in snapshots after
//            the job's other records. A CANCEL of an unknown job is
//            ignored)
// Leases are not recorded: after a restart every unfinished task is
// ready (or waits out its backoff), with the attempts of its TRIES.
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "blobs.h"
#include "broker_int.h"
#include "clock.h"
#include "err.h"
#include "log.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the journal format assumes a little-endian host"
#endif

#define FLAG_LEGACY 1
#define FLAG_RETRY 2

static int
append(tasq_broker *b, int type, struct iovec *iov, int n)
{
	tasq_journal *j = tasq_broker_journal_rec(b);
	uint64_t      lsn;

	if (j == NULL) {
		return (0);
	}
	return (tasq_journal_append(j, type, iov, n, &lsn));
}

// The fixed part of a job header, after queue and type.
struct jhdr {
	uint8_t  flags;
	uint32_t retry[3];
} __attribute__((packed));

static void
jhdr_make(struct jhdr *h, bool legacy, const tasq_retry *r)
{
	memset(h, 0, sizeof(*h));
	h->flags = legacy ? FLAG_LEGACY : 0;
	if (r != NULL) {
		h->flags |= FLAG_RETRY;
		h->retry[0] = r->max_attempts;
		h->retry[1] = r->backoff_ms;
		h->retry[2] = r->backoff_max_ms;
	}
}

int
tasq_persist_submit(tasq_broker *b, const tasq_submit_req *req)
{
	const char  *type  = req->type && req->type[0] ? req->type : "square";
	uint8_t      qlen  = (uint8_t) strlen(req->queue);
	uint8_t      tlen  = (uint8_t) strlen(type);
	uint32_t     n32   = (uint32_t) req->n;
	uint32_t     width = req->payloads.width;
	struct jhdr  h;
	struct iovec iov[] = {
		{ &qlen, 1 },
		{ (void *) req->queue, qlen },
		{ &tlen, 1 },
		{ (void *) type, tlen },
		{ &h, sizeof(h) },
		{ (void *) &req->job_id, 8 },
		{ (void *) &req->first_index, 8 },
		{ &n32, 4 },
		{ &width, 4 },
		{ req->payloads.lens, width == 0 ? req->n * 4 : 0 },
		{ req->payloads.data, req->payloads.size },
	};

	jhdr_make(&h, req->legacy, req->has_retry ? &req->retry : NULL);
	return (append(b, TASQ_REC_SUBMIT2, iov, 11));
}

size_t
tasq_persist_errs_size(size_t n, const char *const *errs)
{
	size_t esize = 0;

	for (size_t i = 0; errs != NULL && i < n; i++) {
		size_t l = errs[i] ? strlen(errs[i]) : 0;
		esize += 2 + (l > UINT16_MAX ? UINT16_MAX : l);
	}
	return (esize);
}

// Frames (framebuf) or appends a RESULTS2/PENDING2 record. With errs,
// ebuf has room for their tasq_persist_errs_size bytes; NULL: it is
// allocated here (NNG_ENOMEM).
static int
results_rec(tasq_broker *b, int type, uint64_t job, size_t n,
    const uint64_t *ids, const uint8_t *codes, const uint32_t *lens,
    const uint8_t *data, const char *const *errs, uint8_t *ebuf,
    uint8_t **framebuf, size_t *len, size_t *cap)
{
	uint32_t n32 = (uint32_t) n, width = n > 0 ? lens[0] : 0;
	size_t   size = 0, esize = tasq_persist_errs_size(n, errs);
	uint8_t  has = errs != NULL, *mine = NULL;
	int      rv;

	for (size_t i = 0; i < n; i++) {
		size += lens[i];
		width = lens[i] == width ? width : 0;
	}
	if (has && ebuf == NULL &&
	    (ebuf = mine = tasq_alloc(esize + 1)) == NULL) {
		return (NNG_ENOMEM);
	}
	for (size_t i = 0, at = 0; has && i < n; i++) {
		size_t   l   = errs[i] ? strlen(errs[i]) : 0;
		uint16_t l16 = (uint16_t) (l > UINT16_MAX ? UINT16_MAX : l);
		memcpy(ebuf + at, &l16, 2);
		if (l16 > 0) {
			memcpy(ebuf + at + 2, errs[i], l16);
		}
		at += 2 + l16;
	}
	struct iovec iov[] = {
		{ &job, 8 },
		{ &n32, 4 },
		{ (void *) ids, n * 8 },
		{ (void *) codes, n },
		{ &width, 4 },
		{ (void *) lens, width == 0 ? n * 4 : 0 },
		{ (void *) data, size },
		{ &has, 1 },
		{ ebuf, esize },
	};
	if (framebuf != NULL) {
		rv = tasq_journal_frame(framebuf, len, cap, type, iov, 9);
	} else {
		rv = append(b, type, iov, 9);
	}
	free(mine);
	return (rv);
}

// Results of consecutive tasks, all OK and 8 bytes (a worker's whole
// lease of square tasks, the common case), go as a RUN record: 8 bytes
// per task instead of 21.
int
tasq_persist_results(tasq_broker *b, uint64_t job, size_t n,
    const uint64_t *ids, const uint8_t *codes, const uint32_t *lens,
    const uint8_t *data, const char *const *errs, uint8_t *ebuf)
{
	bool run = errs == NULL;

	if (tasq_broker_journal_rec(b) == NULL || n == 0) {
		return (0);
	}
	for (size_t i = 0; i < n && run; i++) {
		run = codes[i] == 0 && lens[i] == 8 && ids[i] - ids[0] == i;
	}
	if (run) {
		uint32_t     n32   = (uint32_t) n;
		struct iovec iov[] = {
			{ &job, 8 },
			{ (void *) &ids[0], 8 },
			{ &n32, 4 },
			{ (void *) data, n * 8 },
		};
		return (append(b, TASQ_REC_RUN, iov, 4));
	}
	return (results_rec(b, TASQ_REC_RESULTS2, job, n, ids, codes, lens,
	    data, errs, ebuf, NULL, NULL, NULL));
}

int
tasq_persist_ack(tasq_broker *b, uint64_t job, size_t n)
{
	uint32_t     n32   = (uint32_t) n;
	struct iovec iov[] = { { &job, 8 }, { &n32, 4 } };
	return (append(b, TASQ_REC_ACK, iov, 2));
}

// Frames (framebuf) or appends a TRIES record.
static int
tries_rec(tasq_broker *b, uint64_t job, size_t n, const tasq_tries *t,
    uint8_t **framebuf, size_t *len, size_t *cap)
{
	uint32_t     n32   = (uint32_t) n;
	struct iovec iov[] = {
		{ &job, 8 },
		{ &n32, 4 },
		{ (void *) t, n * sizeof(*t) },
	};
	if (framebuf != NULL) {
		return (tasq_journal_frame(
		    framebuf, len, cap, TASQ_REC_TRIES, iov, 3));
	}
	return (append(b, TASQ_REC_TRIES, iov, 3));
}

int
tasq_persist_tries(tasq_broker *b, uint64_t job, size_t n, const tasq_tries *t)
{
	if (n == 0) {
		return (0);
	}
	return (tries_rec(b, job, n, t, NULL, NULL, NULL));
}

int
tasq_persist_snap_tries(
    tasq_broker *b, uint8_t **buf, size_t *len, size_t *cap)
{
	tasq_tries_item *it;
	size_t           n;
	int              rv;

	if ((rv = tasq_broker_tries_list(b, &it, &n)) != 0) {
		return (rv);
	}
	for (size_t i = 0; i < n && rv == 0; i++) {
		rv = tries_rec(NULL, it[i].job, 1, &it[i].t, buf, len, cap);
	}
	free(it);
	return (rv);
}

// Frames (framebuf) or appends a DEAD record.
static int
dead_rec(tasq_broker *b, const tasq_dead_view *v, uint8_t **framebuf,
    size_t *len, size_t *cap)
{
	uint8_t  qlen = (uint8_t) strlen(v->queue);
	uint8_t  tlen = (uint8_t) strlen(v->type);
	size_t   el   = v->error ? strlen(v->error) : 0;
	uint16_t el16 =
	    (uint16_t) (el > TASQ_WIRE_MAX_TEXT ? TASQ_WIRE_MAX_TEXT : el);
	struct iovec iov[] = {
		{ (void *) &v->id, 8 },
		{ (void *) &v->job, 8 },
		{ (void *) &v->task, 8 },
		{ &qlen, 1 },
		{ (void *) v->queue, qlen },
		{ &tlen, 1 },
		{ (void *) v->type, tlen },
		{ (void *) &v->attempts, 4 },
		{ (void *) &v->code, 4 },
		{ (void *) &v->time_ms, 8 },
		{ (void *) &v->len, 4 },
		{ (void *) v->payload, v->len },
		{ &el16, 2 },
		{ (void *) v->error, el16 },
	};
	if (framebuf != NULL) {
		return (tasq_journal_frame(
		    framebuf, len, cap, TASQ_REC_DEAD, iov, 14));
	}
	return (append(b, TASQ_REC_DEAD, iov, 14));
}

int
tasq_persist_dead(tasq_broker *b, const tasq_dead_view *v)
{
	return (dead_rec(b, v, NULL, NULL, NULL));
}

int
tasq_persist_dead_purge(
    tasq_broker *b, const uint64_t *ids, size_t n, bool all, const char *queue)
{
	uint8_t      a     = all;
	uint8_t      qlen  = queue ? (uint8_t) strlen(queue) : 0;
	uint32_t     n32   = (uint32_t) n;
	struct iovec iov[] = {
		{ &a, 1 },
		{ &qlen, 1 },
		{ (void *) queue, qlen },
		{ &n32, 4 },
		{ (void *) ids, n * 8 },
	};
	return (append(b, TASQ_REC_DPURGE, iov, 5));
}

int
tasq_persist_snap_dead(tasq_broker *b, uint8_t **buf, size_t *len, size_t *cap)
{
	int rv = 0;

	for (size_t i = 0; i < tasq_broker_dead_count(b) && rv == 0; i++) {
		tasq_dead_view v;
		tasq_broker_dead_view(tasq_broker_dead_get(b, i), &v);
		rv = dead_rec(NULL, &v, buf, len, cap);
	}
	return (rv);
}

#define JFLAG_KEEP 1
#define JFLAG_SEALED 2

// Frames (framebuf) or appends the JOB record of j.
static int
job_rec(tasq_broker *b, const struct job *j, uint8_t **framebuf, size_t *len,
    size_t *cap)
{
	tasq_job_view v;
	tasq_job_meta m;
	struct jhdr   h;
	uint8_t       qlen, tlen, hlen, fl;

	tasq_broker_job_view(j, &v);
	tasq_broker_job_meta(j, &m);
	qlen = (uint8_t) strlen(v.queue);
	tlen = (uint8_t) strlen(v.type);
	hlen = (uint8_t) (m.host != NULL ? strlen(m.host) : 0);
	fl   = (m.keep ? JFLAG_KEEP : 0) | (m.sealed ? JFLAG_SEALED : 0);
	jhdr_make(&h, v.legacy, &v.retry);
	struct iovec iov[] = {
		{ &qlen, 1 },
		{ (void *) v.queue, qlen },
		{ &tlen, 1 },
		{ (void *) v.type, tlen },
		{ &h, sizeof(h) },
		{ &v.id, 8 },
		{ &fl, 1 },
		{ &m.result_ttl_ms, 8 },
		{ &m.created_wall_ms, 8 },
		{ &m.done_wall_ms, 8 },
		{ &m.failed, 8 },
		{ &hlen, 1 },
		{ (void *) m.host, hlen },
	};
	if (framebuf != NULL) {
		return (tasq_journal_frame(
		    framebuf, len, cap, TASQ_REC_JOB, iov, 13));
	}
	return (append(b, TASQ_REC_JOB, iov, 13));
}

int
tasq_persist_job(tasq_broker *b, const struct job *j)
{
	return (job_rec(b, j, NULL, NULL, NULL));
}

int
tasq_persist_expired(tasq_broker *b, const uint64_t *ids, size_t n)
{
	uint32_t     n32   = (uint32_t) n;
	struct iovec iov[] = { { &n32, 4 }, { (void *) ids, n * 8 } };
	return (append(b, TASQ_REC_EXPIRED, iov, 2));
}

int
tasq_persist_snap_expired(
    tasq_broker *b, uint8_t **buf, size_t *len, size_t *cap)
{
	const uint64_t *ids;
	size_t          n = tasq_broker_expired_list(b, &ids);
	uint32_t        n32;

	if (n == 0) {
		return (0);
	}
	n32                = (uint32_t) n;
	struct iovec iov[] = { { &n32, 4 }, { (void *) ids, n * 8 } };
	return (tasq_journal_frame(buf, len, cap, TASQ_REC_EXPIRED, iov, 2));
}

int
tasq_persist_priority(tasq_broker *b, uint64_t job, uint32_t priority)
{
	struct iovec iov[] = { { &job, 8 }, { &priority, 4 } };
	return (append(b, TASQ_REC_PRIO, iov, 2));
}

int
tasq_persist_cancel(tasq_broker *b, uint64_t job, uint64_t wall_ms)
{
	struct iovec iov[] = { { &job, 8 }, { &wall_ms, 8 } };
	return (append(b, TASQ_REC_CANCEL, iov, 2));
}

int
tasq_persist_close(tasq_broker *b, uint64_t job)
{
	struct iovec iov[] = { { &job, 8 } };
	return (append(b, TASQ_REC_CLOSE, iov, 1));
}

// ---- replay -----------------------------------------------------------

// A cursor over a payload; every read is bounds-checked, since a record
// can have a valid checksum and still be nonsense (a bug, or a hand).
struct cur {
	const uint8_t *p;
	size_t         left;
	bool           bad;
};

static const void *
take(struct cur *c, size_t n)
{
	const void *p = c->p;
	if (c->bad || n > c->left) {
		c->bad = true;
		return (NULL);
	}
	c->p += n;
	c->left -= n;
	return (p);
}

static uint64_t
take64(struct cur *c)
{
	uint64_t    v = 0;
	const void *p = take(c, 8);
	if (p != NULL) {
		memcpy(&v, p, 8);
	}
	return (v);
}

static uint32_t
take32(struct cur *c)
{
	uint32_t    v = 0;
	const void *p = take(c, 4);
	if (p != NULL) {
		memcpy(&v, p, 4);
	}
	return (v);
}

static bool
take_name(struct cur *c, char *name)
{
	const uint8_t *nlen = take(c, 1);
	const char    *q;

	if (nlen == NULL || *nlen == 0 || *nlen > TASQ_WIRE_MAX_NAME ||
	    (q = take(c, *nlen)) == NULL) {
		c->bad = true;
		return (false);
	}
	memcpy(name, q, *nlen);
	name[*nlen] = '\0';
	return (tasq_wire_valid_name(name));
}

// A job header (queue, type, flags, retry) of a typed record.
struct jinfo {
	char       queue[TASQ_WIRE_MAX_NAME + 1];
	char       type[TASQ_WIRE_MAX_NAME + 1];
	bool       legacy;
	bool       has_retry;
	tasq_retry retry;
};

static bool
take_jhdr(struct cur *c, struct jinfo *ji)
{
	struct jhdr h;
	const void *p;

	if (!take_name(c, ji->queue) || !take_name(c, ji->type) ||
	    (p = take(c, sizeof(h))) == NULL) {
		return (false);
	}
	memcpy(&h, p, sizeof(h));
	ji->legacy               = (h.flags & FLAG_LEGACY) != 0;
	ji->has_retry            = (h.flags & FLAG_RETRY) != 0;
	ji->retry.max_attempts   = h.retry[0];
	ji->retry.backoff_ms     = h.retry[1];
	ji->retry.backoff_max_ms = h.retry[2];
	return (true);
}

// The header of a record from before typed tasks: square, legacy.
static bool
take_jhdr_old(struct cur *c, struct jinfo *ji)
{
	memset(ji, 0, sizeof(*ji));
	strcpy(ji->type, TASQ_TYPE_SQUARE);
	ji->legacy = true;
	return (take_name(c, ji->queue));
}

// A column of n items (a view into the record: lens copied, since the
// record is unaligned). *lens is allocated for width 0 (free it).
static bool
take_col(struct cur *c, size_t n, tasq_blobs *col, uint32_t **lens)
{
	const void *p;
	size_t      size = 0;

	*lens      = NULL;
	col->width = take32(c);
	col->lens  = NULL;
	if (c->bad) {
		return (false);
	}
	if (col->width == 0) {
		if (n > c->left / 4 || (p = take(c, n * 4)) == NULL) {
			c->bad = true;
			return (false);
		}
		if ((*lens = tasq_alloc(n * 4 + 1)) == NULL) {
			return (false); // out of memory, not bad
		}
		memcpy(*lens, p, n * 4);
		for (size_t i = 0; i < n; i++) {
			size += (*lens)[i];
		}
		col->lens = *lens;
	} else {
		if (n > c->left / col->width) {
			c->bad = true;
			return (false);
		}
		size = n * col->width;
	}
	if ((p = take(c, size)) == NULL) {
		return (false);
	}
	col->data = (uint8_t *) p;
	col->size = size;
	return (true);
}

// The open job id, made (with its queue) when ji is not NULL and it
// does not exist. *jp is NULL for an unknown job without ji (closed jobs
// are gone by then: in replay no lease holds their chunks).
// Errors: NNG_ENOMEM.
static int
job_for(tasq_broker *b, uint64_t id, const struct jinfo *ji, struct job **jp)
{
	struct queue *q;
	bool          created;
	int           rv;

	if ((*jp = tasq_broker_job_find(b, id)) != NULL) {
		return (0);
	}
	if (ji == NULL || id == 0) {
		return (0);
	}
	if ((rv = tasq_broker_queue_get(b, ji->queue, &q, &created)) != 0) {
		return (rv);
	}
	return (tasq_broker_job_create(b, id, q, ji->type, ji->legacy,
	    ji->has_retry ? &ji->retry : NULL, tasq_clock_mono_ms(), jp));
}

// Copies n u64/i64 from an unaligned payload.
static void *
copy_col(struct cur *c, size_t n, size_t size)
{
	const void *p;
	void       *out;

	if (n > c->left / size || (p = take(c, n * size)) == NULL) {
		c->bad = true;
		return (NULL);
	}
	if ((out = tasq_alloc(n * size + 1)) != NULL) {
		memcpy(out, p, n * size);
	}
	return (out);
}

// Applies n results (ids, codes, the results column res, errors in the
// record's form at errp: NULL for none) to job.
static int
apply_cols(tasq_broker *b, uint64_t job, uint32_t n, const uint64_t *ids,
    const uint8_t *codes, const tasq_blobs *res, struct cur *errc,
    bool pending)
{
	struct job     *j;
	tasq_blobs_iter it;
	char            err[TASQ_WIRE_MAX_TEXT + 1];
	int             rv = 0;

	(void) job_for(b, job, NULL, &j); // cannot fail without a header
	if (j == NULL) {
		// Closed before, or its snapshot had none: the record is
		// read to its end all the same (its messages).
		for (uint32_t i = 0; errc != NULL && i < n; i++) {
			uint16_t    l16 = 0;
			const void *q   = take(errc, 2);
			if (q == NULL) {
				return (TASQ_EDATA_LOSS);
			}
			memcpy(&l16, q, 2);
			if (take(errc, l16) == NULL) {
				return (TASQ_EDATA_LOSS);
			}
		}
		return (0);
	}
	tasq_blobs_iter_init(&it, res);
	for (uint32_t i = 0; i < n && rv == 0; i++) {
		const uint8_t *p;
		size_t         len;

		tasq_blobs_next(&it, &p, &len);
		err[0] = '\0';
		if (errc != NULL) {
			uint16_t    l16 = 0;
			const void *q   = take(errc, 2);
			if (q != NULL) {
				memcpy(&l16, q, 2);
			}
			if (l16 > TASQ_WIRE_MAX_TEXT ||
			    (q = take(errc, l16)) == NULL) {
				return (TASQ_EDATA_LOSS);
			}
			memcpy(err, q, l16);
			err[l16] = '\0';
		}
		if (codes[i] > TASQ_CODE_MAX || len > UINT32_MAX) {
			return (TASQ_EDATA_LOSS);
		}
		// A snapshot's result exists (its chunk says done); a
		// record's finishes its task unless it has a result.
		rv = pending ? tasq_broker_result_restore(b, j, ids[i], p,
		                   (uint32_t) len, codes[i], err)
		             : tasq_broker_result_apply(b, j, ids[i], p,
		                   (uint32_t) len, codes[i], err);
	}
	return (rv);
}

// RESULTS and PENDING from before typed tasks: 8-byte results.
static int
apply_results_old(tasq_broker *b, struct cur *c, bool pending)
{
	uint64_t       job = take64(c);
	uint32_t       n   = take32(c);
	uint64_t      *ids;
	const uint8_t *vals, *codes;
	int            rv = 0;

	if (c->bad || n > c->left / 17) {
		return (TASQ_EDATA_LOSS);
	}
	ids   = copy_col(c, n, 8);
	vals  = take(c, (size_t) n * 8);
	codes = take(c, n);
	if (ids == NULL || vals == NULL || codes == NULL || c->left != 0) {
		rv = c->bad || c->left != 0 ? TASQ_EDATA_LOSS : NNG_ENOMEM;
	} else {
		tasq_blobs res = { 8, NULL, (uint8_t *) vals, (size_t) n * 8 };
		rv = apply_cols(b, job, n, ids, codes, &res, NULL, pending);
	}
	free(ids);
	return (rv);
}

static int
apply_results(tasq_broker *b, struct cur *c, bool pending)
{
	uint64_t       job = take64(c);
	uint32_t       n   = take32(c);
	uint64_t      *ids;
	uint32_t      *lens = NULL;
	const uint8_t *codes, *has;
	tasq_blobs     res;
	int            rv;

	if (c->bad || n > c->left / 9) {
		return (TASQ_EDATA_LOSS);
	}
	if ((ids = copy_col(c, n, 8)) == NULL) {
		return (c->bad ? TASQ_EDATA_LOSS : NNG_ENOMEM);
	}
	codes = take(c, n);
	if (codes == NULL || !take_col(c, n, &res, &lens) ||
	    (has = take(c, 1)) == NULL) {
		rv = c->bad ? TASQ_EDATA_LOSS : NNG_ENOMEM;
	} else {
		rv = apply_cols(
		    b, job, n, ids, codes, &res, *has ? c : NULL, pending);
		if (rv == 0 && c->left != 0) {
			rv = TASQ_EDATA_LOSS;
		}
	}
	free(ids);
	free(lens);
	return (rv);
}

// A RUN record: n results, OK, 8 bytes each, of the tasks first, first
// + 1, ...
static int
apply_run(tasq_broker *b, struct cur *c)
{
	uint64_t       job   = take64(c);
	uint64_t       first = take64(c);
	uint32_t       n     = take32(c);
	uint64_t      *ids;
	uint8_t       *codes;
	const uint8_t *vals;
	int            rv;

	if (c->bad || n == 0 || c->left != (size_t) n * 8 ||
	    first > UINT64_MAX - n) {
		return (TASQ_EDATA_LOSS);
	}
	vals  = take(c, (size_t) n * 8);
	ids   = tasq_alloc((size_t) n * sizeof(*ids));
	codes = tasq_calloc(n, 1);
	if (ids == NULL || codes == NULL) {
		rv = NNG_ENOMEM;
	} else {
		tasq_blobs res = { 8, NULL, (uint8_t *) vals, (size_t) n * 8 };
		for (uint32_t i = 0; i < n; i++) {
			ids[i] = first + i;
		}
		rv = apply_cols(b, job, n, ids, codes, &res, NULL, false);
	}
	free(ids);
	free(codes);
	return (rv);
}

static int
apply_submit(tasq_broker *b, struct cur *c, bool typed)
{
	struct jinfo    ji;
	tasq_submit_req req;
	uint32_t       *lens = NULL;
	uint32_t        acc;
	bool            dup;
	const char     *why;
	int             rv;

	memset(&req, 0, sizeof(req));
	if (!(typed ? take_jhdr(c, &ji) : take_jhdr_old(c, &ji))) {
		return (TASQ_EDATA_LOSS);
	}
	req.queue       = ji.queue;
	req.type        = ji.type;
	req.legacy      = ji.legacy;
	req.has_retry   = ji.has_retry;
	req.retry       = ji.retry;
	req.job_id      = take64(c);
	req.first_index = take64(c);
	req.n           = take32(c);
	if (c->bad || req.n == 0 || req.first_index > UINT64_MAX - req.n) {
		return (TASQ_EDATA_LOSS);
	}
	if (typed) {
		if (!take_col(c, req.n, &req.payloads, &lens)) {
			return (c->bad ? TASQ_EDATA_LOSS : NNG_ENOMEM);
		}
	} else {
		req.payloads.width = 8;
		req.payloads.size  = req.n * 8;
		if (c->left != req.payloads.size) {
			return (TASQ_EDATA_LOSS);
		}
		req.payloads.data = (uint8_t *) take(c, req.payloads.size);
	}
	if (c->left != 0) {
		free(lens);
		return (TASQ_EDATA_LOSS);
	}
	rv = tasq_broker_submit_locked(
	    b, &req, tasq_clock_mono_ms(), &acc, &dup, &why, NULL);
	free(lens);
	return (rv);
}

static int
apply_ivals(tasq_broker *b, struct cur *c, bool typed)
{
	struct jinfo ji;
	struct job  *j;
	int          rv;

	if (!(typed ? take_jhdr(c, &ji) : take_jhdr_old(c, &ji))) {
		return (TASQ_EDATA_LOSS);
	}
	uint64_t job       = take64(c);
	uint64_t submitted = take64(c);
	uint64_t completed = take64(c);
	uint32_t n         = take32(c);
	if (c->bad || c->left != (size_t) n * 16) {
		return (TASQ_EDATA_LOSS);
	}
	if ((rv = job_for(b, job, &ji, &j)) != 0) {
		return (rv);
	}
	if (j == NULL) {
		return (TASQ_EDATA_LOSS);
	}
	for (uint32_t i = 0; i < n; i++) {
		uint64_t lo = take64(c), hi = take64(c);
		if (hi <= lo) {
			return (TASQ_EDATA_LOSS);
		}
		if ((rv = tasq_broker_ivals_add(j, lo, hi)) != 0) {
			return (rv);
		}
	}
	tasq_broker_job_counts_set(j, submitted, completed);
	return (0);
}

static int
apply_chunk(tasq_broker *b, struct cur *c, bool typed)
{
	uint64_t    job   = take64(c);
	uint64_t    first = take64(c);
	uint32_t    n     = take32(c);
	size_t      words = ((size_t) n + 63) / 64;
	uint32_t   *lens  = NULL;
	uint64_t   *done;
	tasq_blobs  col;
	struct job *j;
	int         rv;

	if (c->bad || n == 0) {
		return (TASQ_EDATA_LOSS);
	}
	(void) job_for(b, job, NULL, &j);
	if (j == NULL) {
		return (TASQ_EDATA_LOSS);
	}
	if (typed) {
		if (!take_col(c, n, &col, &lens)) {
			return (c->bad ? TASQ_EDATA_LOSS : NNG_ENOMEM);
		}
	} else {
		col = (tasq_blobs) { 8, NULL, NULL, (size_t) n * 8 };
		if ((col.data = (uint8_t *) take(c, col.size)) == NULL) {
			return (TASQ_EDATA_LOSS);
		}
	}
	if (c->left != words * 8) {
		free(lens);
		return (TASQ_EDATA_LOSS);
	}
	done = copy_col(c, words, 8);
	rv   = done ? tasq_broker_chunk_add(b, j, first, n, &col, done)
	            : NNG_ENOMEM;
	free(done);
	free(lens);
	return (rv);
}

static int
apply_tries(tasq_broker *b, struct cur *c)
{
	uint64_t    job = take64(c);
	uint32_t    n   = take32(c);
	struct job *j;
	int         rv = 0;

	if (c->bad || c->left != (size_t) n * sizeof(tasq_tries)) {
		return (TASQ_EDATA_LOSS);
	}
	(void) job_for(b, job, NULL, &j);
	for (uint32_t i = 0; i < n && rv == 0 && j != NULL; i++) {
		tasq_tries t;
		memcpy(&t, take(c, sizeof(t)), sizeof(t));
		if (t.first > UINT64_MAX - t.len) {
			return (TASQ_EDATA_LOSS);
		}
		rv = tasq_broker_tries_restore(j, &t);
	}
	return (rv);
}

static int
apply_dead(tasq_broker *b, struct cur *c)
{
	tasq_dead_view v;
	char           queue[TASQ_WIRE_MAX_NAME + 1];
	char           type[TASQ_WIRE_MAX_NAME + 1];
	char           err[TASQ_WIRE_MAX_TEXT + 1];
	const void    *p;
	uint16_t       el = 0;
	struct dead   *d;

	memset(&v, 0, sizeof(v));
	v.id   = take64(c);
	v.job  = take64(c);
	v.task = take64(c);
	if (!take_name(c, queue) || !take_name(c, type)) {
		return (TASQ_EDATA_LOSS);
	}
	v.queue    = queue;
	v.type     = type;
	v.attempts = take32(c);
	v.code     = take32(c);
	v.time_ms  = take64(c);
	v.len      = take32(c);
	if (c->bad || v.id == 0 || v.code > TASQ_CODE_MAX ||
	    (v.payload = take(c, v.len)) == NULL || (p = take(c, 2)) == NULL) {
		return (TASQ_EDATA_LOSS);
	}
	memcpy(&el, p, 2);
	if (el > TASQ_WIRE_MAX_TEXT || (p = take(c, el)) == NULL ||
	    c->left != 0) {
		return (TASQ_EDATA_LOSS);
	}
	memcpy(err, p, el);
	err[el] = '\0';
	v.error = err;
	if (tasq_broker_dead_reserve(b, 1) != 0 ||
	    (d = tasq_broker_dead_new(&v)) == NULL) {
		return (NNG_ENOMEM);
	}
	tasq_broker_dead_add(b, d);
	return (0);
}

static int
apply_dead_purge(tasq_broker *b, struct cur *c)
{
	char           queue[TASQ_WIRE_MAX_NAME + 1] = "";
	const uint8_t *all                           = take(c, 1);
	const uint8_t *qlen                          = take(c, 1);
	uint32_t       n;
	uint64_t      *ids;

	if (all == NULL || qlen == NULL) {
		return (TASQ_EDATA_LOSS);
	}
	if (*qlen > 0) {
		// take_name reads the length again.
		c->p--;
		c->left++;
		if (!take_name(c, queue)) {
			return (TASQ_EDATA_LOSS);
		}
	}
	n = take32(c);
	if (c->bad || c->left != (size_t) n * 8) {
		return (TASQ_EDATA_LOSS);
	}
	if ((ids = copy_col(c, n, 8)) == NULL) {
		return (NNG_ENOMEM);
	}
	(void) tasq_broker_dead_remove(b, ids, n, *all != 0, queue);
	free(ids);
	return (0);
}

static int
apply_job(tasq_broker *b, struct cur *c)
{
	struct jinfo   ji;
	tasq_job_meta  m;
	struct job    *j;
	const uint8_t *fl, *hl;
	const char    *h = NULL;
	char           host[TASQ_WIRE_MAX_HOST + 1];
	uint64_t       id;
	int            rv;

	memset(&m, 0, sizeof(m));
	if (!take_jhdr(c, &ji)) {
		return (c->bad ? TASQ_EDATA_LOSS : NNG_ENOMEM);
	}
	id                = take64(c);
	fl                = take(c, 1);
	m.result_ttl_ms   = take64(c);
	m.created_wall_ms = take64(c);
	m.done_wall_ms    = take64(c);
	m.failed          = take64(c);
	m.has_failed      = true;
	hl                = take(c, 1);
	if (hl != NULL && *hl > 0) {
		h = take(c, *hl);
	}
	if (c->bad || c->left != 0 || id == 0) {
		return (TASQ_EDATA_LOSS);
	}
	if (h != NULL) {
		memcpy(host, h, *hl);
		host[*hl] = '\0';
		m.host    = host;
	}
	m.keep   = (*fl & JFLAG_KEEP) != 0;
	m.sealed = (*fl & JFLAG_SEALED) != 0;
	if ((rv = job_for(b, id, &ji, &j)) != 0) {
		return (rv);
	}
	return (tasq_broker_job_meta_set(b, j, &m));
}

static int
apply_expired(tasq_broker *b, struct cur *c)
{
	uint32_t    n   = take32(c);
	uint64_t   *ids = copy_col(c, n, 8);
	struct job *j;

	if (ids == NULL || c->bad || c->left != 0) {
		free(ids);
		return (c->bad || c->left != 0 ? TASQ_EDATA_LOSS : NNG_ENOMEM);
	}
	for (uint32_t i = 0; i < n; i++) {
		(void) job_for(b, ids[i], NULL, &j);
		if (j != NULL) {
			(void) tasq_broker_job_close(b, j, NULL);
		}
		tasq_broker_expired_add(b, ids[i]);
	}
	free(ids);
	return (0);
}

static int
apply(void *arg, int type, const uint8_t *p, size_t len)
{
	tasq_broker *b = arg;
	struct cur   c = { p, len, false };
	struct job  *j;

	switch (type) {
	case TASQ_REC_SUBMIT:
	case TASQ_REC_SUBMIT2:
		return (apply_submit(b, &c, type == TASQ_REC_SUBMIT2));
	case TASQ_REC_RESULTS:
	case TASQ_REC_PENDING:
		return (apply_results_old(b, &c, type == TASQ_REC_PENDING));
	case TASQ_REC_RESULTS2:
	case TASQ_REC_PENDING2:
		return (apply_results(b, &c, type == TASQ_REC_PENDING2));
	case TASQ_REC_RUN:
		return (apply_run(b, &c));
	case TASQ_REC_ACK: {
		uint64_t job = take64(&c);
		uint32_t n   = take32(&c);
		if (c.bad || c.left != 0) {
			return (TASQ_EDATA_LOSS);
		}
		(void) job_for(b, job, NULL, &j);
		if (j == NULL) {
			return (0);
		}
		return (tasq_broker_results_drop(b, j, n));
	}
	case TASQ_REC_CLOSE: {
		uint64_t job = take64(&c);
		if (c.bad || c.left != 0) {
			return (TASQ_EDATA_LOSS);
		}
		(void) job_for(b, job, NULL, &j);
		if (j != NULL) {
			(void) tasq_broker_job_close(b, j, NULL);
		}
		return (0);
	}
	case TASQ_REC_IVALS:
	case TASQ_REC_IVALS2:
		return (apply_ivals(b, &c, type == TASQ_REC_IVALS2));
	case TASQ_REC_CHUNK:
	case TASQ_REC_CHUNK2:
		return (apply_chunk(b, &c, type == TASQ_REC_CHUNK2));
	case TASQ_REC_DEAD:
		return (apply_dead(b, &c));
	case TASQ_REC_DPURGE:
		return (apply_dead_purge(b, &c));
	case TASQ_REC_TRIES:
		return (apply_tries(b, &c));
	case TASQ_REC_JOB:
		return (apply_job(b, &c));
	case TASQ_REC_EXPIRED:
		return (apply_expired(b, &c));
	case TASQ_REC_PRIO: {
		uint64_t job = take64(&c);
		uint32_t pr  = take32(&c);
		if (c.bad || c.left != 0 || pr == 0 ||
		    pr > TASQ_WIRE_MAX_PRIORITY) {
			return (TASQ_EDATA_LOSS);
		}
		(void) job_for(b, job, NULL, &j);
		if (j != NULL) {
			tasq_broker_job_priority_set(j, pr);
		}
		return (0);
	}
	case TASQ_REC_CANCEL: {
		uint64_t job  = take64(&c);
		uint64_t wall = take64(&c);
		uint32_t running;
		if (c.bad || c.left != 0) {
			return (TASQ_EDATA_LOSS);
		}
		(void) job_for(b, job, NULL, &j);
		if (j != NULL) {
			(void) tasq_broker_job_cancel(
			    b, j, wall, &running, NULL);
		}
		return (0);
	}
	default:
		return (TASQ_EDATA_LOSS);
	}
}

int
tasq_persist_replay(tasq_broker *b, tasq_journal *j, uint64_t *records,
    uint64_t *bytes, char *err, size_t errlen)
{
	return (
	    tasq_journal_recover(j, apply, b, records, bytes, err, errlen));
}

// ---- snapshot -----------------------------------------------------------

int
tasq_persist_snap_job(struct job *j, uint8_t **buf, size_t *len, size_t *cap)
{
	tasq_job_view     v;
	tasq_results_view res;
	uint8_t           qlen, tlen;
	uint32_t          n32;
	uint64_t         *iv;
	struct jhdr       h;
	int               rv;

	tasq_broker_job_view(j, &v);
	qlen = (uint8_t) strlen(v.queue);
	tlen = (uint8_t) strlen(v.type);
	n32  = (uint32_t) v.nivals;
	jhdr_make(&h, v.legacy, &v.retry);
	if ((iv = tasq_alloc(v.nivals * 16 + 1)) == NULL) {
		return (NNG_ENOMEM);
	}
	for (size_t i = 0; i < v.nivals; i++) {
		tasq_broker_job_ival(j, i, &iv[2 * i], &iv[2 * i + 1]);
	}
	struct iovec iov[] = {
		{ &qlen, 1 },
		{ (void *) v.queue, qlen },
		{ &tlen, 1 },
		{ (void *) v.type, tlen },
		{ &h, sizeof(h) },
		{ &v.id, 8 },
		{ &v.submitted, 8 },
		{ &v.completed, 8 },
		{ &n32, 4 },
		{ iv, v.nivals * 16 },
	};
	rv = tasq_journal_frame(buf, len, cap, TASQ_REC_IVALS2, iov, 10);
	free(iv);
	if (rv == 0) {
		rv = job_rec(NULL, j, buf, len, cap);
	}
	uint32_t pr = tasq_broker_job_priority(j);
	if (rv == 0 && pr != TASQ_PRIORITY_DEFAULT) {
		struct iovec pi[] = { { &v.id, 8 }, { &pr, 4 } };
		rv = tasq_journal_frame(buf, len, cap, TASQ_REC_PRIO, pi, 2);
	}
	for (size_t i = 0; i < v.nchunks && rv == 0; i++) {
		tasq_chunk_view c;
		uint32_t       *lens = NULL;
		tasq_broker_job_chunk(j, i, &c);
		if (c.width == 0) {
			if ((lens = tasq_alloc((size_t) c.n * 4 + 1)) ==
			    NULL) {
				rv = NNG_ENOMEM;
				break;
			}
			for (uint32_t k = 0; k < c.n; k++) {
				lens[k] = c.offs[k + 1] - c.offs[k];
			}
		}
		uint32_t     n    = c.n;
		struct iovec ci[] = {
			{ &v.id, 8 },
			{ &c.first, 8 },
			{ &n, 4 },
			{ &c.width, 4 },
			{ lens, c.width == 0 ? (size_t) n * 4 : 0 },
			{ (void *) c.data, c.size },
			{ (void *) c.done, ((size_t) n + 63) / 64 * 8 },
		};
		rv = tasq_journal_frame(buf, len, cap, TASQ_REC_CHUNK2, ci, 7);
		free(lens);
	}
	// The unacknowledged delivery comes first: it was the list's head.
	for (int d = 1; d >= 0 && rv == 0; d--) {
		uint8_t *c8;
		tasq_broker_job_results(j, d == 1, &res);
		if (res.n == 0) {
			continue;
		}
		if ((c8 = tasq_alloc(res.n + 1)) == NULL) {
			rv = NNG_ENOMEM;
			break;
		}
		for (size_t i = 0; i < res.n; i++) {
			c8[i] = (uint8_t) res.codes[i];
		}
		rv = results_rec(NULL, TASQ_REC_PENDING2, v.id, res.n, res.ids,
		    c8, res.lens, res.data, res.errs, NULL, buf, len, cap);
		free(c8);
	}
	if (rv == 0 && v.cancelled) {
		struct iovec ki[] = { { &v.id, 8 }, { &v.done_wall_ms, 8 } };
		rv = tasq_journal_frame(buf, len, cap, TASQ_REC_CANCEL, ki, 2);
	}
	return (rv);
}
