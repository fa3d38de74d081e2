// persist: the broker's side of the journal: one record per state change,
// the replay of those records at start-up, and snapshots for compaction.
//
// Payloads (integers little-endian, the hosts' order, so that value and
// id columns are copied as they are; journal.h frames each record):
//   SUBMIT  u8 qlen, queue, u64 job, u64 first, u32 n, i64 values[n]
//   RESULTS u64 job, u32 n, u64 ids[n], i64 values[n], u8 codes[n]
//   ACK     u64 job, u32 n           (results dropped from the list head)
//   CLOSE   u64 job
//   IVALS   u8 qlen, queue, u64 job, u64 submitted, u64 completed, u32 n,
//           n x (u64 lo, u64 hi)     (snapshot: a job and its batches)
//   CHUNK   u64 job, u64 first, u32 n, i64 values[n], u64 done[(n+63)/64]
//   PENDING as RESULTS               (snapshot: results not yet dropped)
// Leases are not recorded: after a restart every unfinished task is ready.
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "broker_int.h"
#include "clock.h"
#include "err.h"
#include "log.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the journal format assumes a little-endian host"
#endif

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

int
tasq_persist_submit(tasq_broker *b, const char *queue, uint64_t job,
    uint64_t first, size_t n, const int64_t *values)
{
	uint8_t      qlen  = (uint8_t) strlen(queue);
	uint32_t     n32   = (uint32_t) n;
	struct iovec iov[] = {
		{ &qlen, 1 },
		{ (void *) queue, qlen },
		{ &job, 8 },
		{ &first, 8 },
		{ &n32, 4 },
		{ (void *) values, n * 8 },
	};
	return (append(b, TASQ_REC_SUBMIT, iov, 6));
}

static int
results_iov(tasq_broker *b, int type, uint64_t job, size_t n,
    const uint64_t *ids, const int64_t *values, const uint32_t *codes,
    uint8_t **framebuf, size_t *len, size_t *cap)
{
	uint32_t n32 = (uint32_t) n;
	uint8_t *c8  = tasq_alloc(n + 1);
	int      rv;

	if (c8 == NULL) {
		return (NNG_ENOMEM);
	}
	for (size_t i = 0; i < n; i++) {
		c8[i] = (uint8_t) codes[i];
	}
	struct iovec iov[] = {
		{ &job, 8 },
		{ &n32, 4 },
		{ (void *) ids, n * 8 },
		{ (void *) values, n * 8 },
		{ c8, n },
	};
	if (framebuf != NULL) {
		rv = tasq_journal_frame(framebuf, len, cap, type, iov, 5);
	} else {
		rv = append(b, type, iov, 5);
	}
	free(c8);
	return (rv);
}

// Results of consecutive tasks, all OK (a worker's whole lease, the
// common case), go as a RUN record: 8 bytes per task instead of 17.
int
tasq_persist_results(tasq_broker *b, uint64_t job, size_t n,
    const uint64_t *ids, const int64_t *values, const uint8_t *codes)
{
	bool run = true;

	if (tasq_broker_journal_rec(b) == NULL || n == 0) {
		return (0);
	}
	for (size_t i = 0; i < n && run; i++) {
		run = codes[i] == 0 && ids[i] - ids[0] == i;
	}
	if (run) {
		uint32_t     n32   = (uint32_t) n;
		struct iovec iov[] = {
			{ &job, 8 },
			{ (void *) &ids[0], 8 },
			{ &n32, 4 },
			{ (void *) values, n * 8 },
		};
		return (append(b, TASQ_REC_RUN, iov, 4));
	}
	uint32_t     n32   = (uint32_t) n;
	struct iovec iov[] = {
		{ &job, 8 },
		{ &n32, 4 },
		{ (void *) ids, n * 8 },
		{ (void *) values, n * 8 },
		{ (void *) codes, n },
	};
	return (append(b, TASQ_REC_RESULTS, iov, 5));
}

int
tasq_persist_ack(tasq_broker *b, uint64_t job, size_t n)
{
	uint32_t     n32   = (uint32_t) n;
	struct iovec iov[] = { { &job, 8 }, { &n32, 4 } };
	return (append(b, TASQ_REC_ACK, iov, 2));
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
take_queue(struct cur *c, char *name)
{
	const uint8_t *qlen = take(c, 1);
	const char    *q;

	if (qlen == NULL || *qlen == 0 || *qlen > TASQ_WIRE_MAX_NAME ||
	    (q = take(c, *qlen)) == NULL) {
		c->bad = true;
		return (false);
	}
	memcpy(name, q, *qlen);
	name[*qlen] = '\0';
	return (tasq_wire_valid_name(name));
}

// The open job id, made (with its queue) when queue is not NULL and it
// does not exist. *jp is NULL for an unknown job without queue (closed
// jobs are gone by then: in replay no lease holds their chunks). Errors:
// NNG_ENOMEM.
static int
job_for(tasq_broker *b, uint64_t id, const char *queue, struct job **jp)
{
	struct queue *q;
	bool          created;
	int           rv;

	if ((*jp = tasq_broker_job_find(b, id)) != NULL) {
		return (0);
	}
	if (queue == NULL || id == 0) {
		return (0);
	}
	if ((rv = tasq_broker_queue_get(b, queue, &q, &created)) != 0) {
		return (rv);
	}
	return (tasq_broker_job_create(b, id, q, tasq_clock_mono_ms(), jp));
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

static int apply_cols(tasq_broker *b, uint64_t job, uint32_t n,
    const uint64_t *ids, const int64_t *vals, const uint8_t *codes,
    bool pending);

static int
apply_results(tasq_broker *b, struct cur *c, bool pending)
{
	uint64_t       job = take64(c);
	uint32_t       n   = take32(c);
	uint64_t      *ids;
	int64_t       *vals;
	const uint8_t *codes;
	int            rv = 0;

	if (c->bad || n > c->left / 17) {
		return (TASQ_EDATA_LOSS);
	}
	ids   = copy_col(c, n, 8);
	vals  = copy_col(c, n, 8);
	codes = take(c, n);
	if (ids == NULL || vals == NULL || codes == NULL || c->left != 0) {
		rv = c->bad || c->left != 0 ? TASQ_EDATA_LOSS : NNG_ENOMEM;
	} else {
		rv = apply_cols(b, job, n, ids, vals, codes, pending);
	}
	free(ids);
	free(vals);
	return (rv);
}

// A RUN record: n results, OK, of the tasks first, first + 1, ...
static int
apply_run(tasq_broker *b, struct cur *c)
{
	uint64_t  job   = take64(c);
	uint64_t  first = take64(c);
	uint32_t  n     = take32(c);
	uint64_t *ids;
	int64_t  *vals;
	uint8_t  *codes;
	int       rv;

	if (c->bad || n == 0 || c->left != (size_t) n * 8 ||
	    first > UINT64_MAX - n) {
		return (TASQ_EDATA_LOSS);
	}
	vals  = copy_col(c, n, 8);
	ids   = tasq_alloc((size_t) n * sizeof(*ids));
	codes = tasq_calloc(n, 1);
	if (vals == NULL || ids == NULL || codes == NULL) {
		rv = NNG_ENOMEM;
	} else {
		for (uint32_t i = 0; i < n; i++) {
			ids[i] = first + i;
		}
		rv = apply_cols(b, job, n, ids, vals, codes, false);
	}
	free(ids);
	free(vals);
	free(codes);
	return (rv);
}

static int
apply_cols(tasq_broker *b, uint64_t job, uint32_t n, const uint64_t *ids,
    const int64_t *vals, const uint8_t *codes, bool pending)
{
	struct job *j;
	int         rv = 0;

	(void) job_for(b, job, NULL, &j); // cannot fail without a queue
	if (j == NULL) {
		return (
		    0); // closed later in the log, or its snapshot had none
	}
	for (uint32_t i = 0; i < n && rv == 0; i++) {
		if (codes[i] > TASQ_CODE_MAX) {
			rv = TASQ_EDATA_LOSS;
			break;
		}
		// A snapshot's result exists (its chunk says done); a
		// record's finishes its task unless it has a result.
		rv = pending ? tasq_broker_result_restore(
		                   b, j, ids[i], vals[i], codes[i])
		             : tasq_broker_result_apply(
		                   b, j, ids[i], vals[i], codes[i]);
	}
	return (rv);
}

static int
apply(void *arg, int type, const uint8_t *p, size_t len)
{
	tasq_broker *b = arg;
	struct cur   c = { p, len, false };
	char         queue[TASQ_WIRE_MAX_NAME + 1];
	struct job  *j;

	switch (type) {
	case TASQ_REC_SUBMIT: {
		if (!take_queue(&c, queue)) {
			return (TASQ_EDATA_LOSS);
		}
		uint64_t job   = take64(&c);
		uint64_t first = take64(&c);
		uint32_t n     = take32(&c);
		if (c.bad || n == 0 || c.left != (size_t) n * 8 ||
		    first > UINT64_MAX - n) {
			return (TASQ_EDATA_LOSS);
		}
		int64_t    *vals = copy_col(&c, n, 8);
		uint32_t    acc;
		bool        dup;
		const char *why;
		int         rv;
		if (vals == NULL) {
			return (NNG_ENOMEM);
		}
		rv = tasq_broker_submit_locked(b, queue, job, first, n, vals,
		    tasq_clock_mono_ms(), &acc, &dup, &why, NULL);
		free(vals);
		return (rv);
	}
	case TASQ_REC_RESULTS:
	case TASQ_REC_PENDING:
		return (apply_results(b, &c, type == TASQ_REC_PENDING));
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
	case TASQ_REC_IVALS: {
		if (!take_queue(&c, queue)) {
			return (TASQ_EDATA_LOSS);
		}
		uint64_t job       = take64(&c);
		uint64_t submitted = take64(&c);
		uint64_t completed = take64(&c);
		uint32_t n         = take32(&c);
		int      rv;
		if (c.bad || c.left != (size_t) n * 16) {
			return (TASQ_EDATA_LOSS);
		}
		if ((rv = job_for(b, job, queue, &j)) != 0) {
			return (rv);
		}
		if (j == NULL) {
			return (TASQ_EDATA_LOSS);
		}
		for (uint32_t i = 0; i < n; i++) {
			uint64_t lo = take64(&c), hi = take64(&c);
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
	case TASQ_REC_CHUNK: {
		uint64_t job   = take64(&c);
		uint64_t first = take64(&c);
		uint32_t n     = take32(&c);
		size_t   words = ((size_t) n + 63) / 64;
		if (c.bad || n == 0 || c.left != (size_t) n * 8 + words * 8) {
			return (TASQ_EDATA_LOSS);
		}
		(void) job_for(b, job, NULL, &j);
		if (j == NULL) {
			return (TASQ_EDATA_LOSS);
		}
		int64_t  *vals = copy_col(&c, n, 8);
		uint64_t *done = copy_col(&c, words, 8);
		int       rv   = (vals && done)
		            ? tasq_broker_chunk_add(b, j, first, n, vals, done)
		            : NNG_ENOMEM;
		free(vals);
		free(done);
		return (rv);
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
	uint8_t           qlen;
	uint32_t          n32;
	uint64_t         *iv;
	int               rv;

	tasq_broker_job_view(j, &v);
	qlen = (uint8_t) strlen(v.queue);
	n32  = (uint32_t) v.nivals;
	if ((iv = tasq_alloc(v.nivals * 16 + 1)) == NULL) {
		return (NNG_ENOMEM);
	}
	for (size_t i = 0; i < v.nivals; i++) {
		tasq_broker_job_ival(j, i, &iv[2 * i], &iv[2 * i + 1]);
	}
	struct iovec iov[] = {
		{ &qlen, 1 },
		{ (void *) v.queue, qlen },
		{ &v.id, 8 },
		{ &v.submitted, 8 },
		{ &v.completed, 8 },
		{ &n32, 4 },
		{ iv, v.nivals * 16 },
	};
	rv = tasq_journal_frame(buf, len, cap, TASQ_REC_IVALS, iov, 7);
	free(iv);
	for (size_t i = 0; i < v.nchunks && rv == 0; i++) {
		tasq_chunk_view c;
		tasq_broker_job_chunk(j, i, &c);
		uint32_t     n    = c.n;
		struct iovec ci[] = {
			{ &v.id, 8 },
			{ &c.first, 8 },
			{ &n, 4 },
			{ (void *) c.values, (size_t) n * 8 },
			{ (void *) c.done, ((size_t) n + 63) / 64 * 8 },
		};
		rv = tasq_journal_frame(buf, len, cap, TASQ_REC_CHUNK, ci, 5);
	}
	// The unacknowledged delivery comes first: it was the list's head.
	for (int d = 1; d >= 0 && rv == 0; d--) {
		tasq_broker_job_results(j, d == 1, &res);
		if (res.n > 0) {
			rv = results_iov(NULL, TASQ_REC_PENDING, v.id, res.n,
			    res.ids, res.values, res.codes, buf, len, cap);
		}
	}
	return (rv);
}
