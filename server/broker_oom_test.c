// Unit test of the broker under allocation failure: every allocation of
// every operation of a job's life (submit, lease, complete, expiry and
// dead-lettering, fetch, recovery, close) is failed in turn, N = 1, 2, ...
// until the operation no longer reaches its Nth allocation. After each
// injected failure the operation is retried as a client or worker would,
// and the run goes on to the end. Every run must then equal the run
// without failures: the results the client holds, the broker's counters
// and queues, the journal's bytes, and the state recovered from them.
// An operation that is not all-or-nothing shows as a lost or duplicated
// task, a counter off by some, or a journal record too many.
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "broker.h"
#include "broker_test_util.h"
#include "err.h"
#include "journal.h"
#include "tasq_test.h"
#include "tasq_scratch.h"

#define T0 UINT64_C(1000000)
#define LEASE_MS 1000
#define NTASKS 200
#define ABORTED_CODE (TASQ_EABORTED - TASQ_ERR_BASE)
#define OOR_CODE (TASQ_EOUT_OF_RANGE - TASQ_ERR_BASE)  // final: not retried
#define INTERNAL_CODE (TASQ_EINTERNAL - TASQ_ERR_BASE) // retried
#define JOB 7
#define WORKER 3

// The typed variant (issue 12): payloads and results as variable-width
// columns (lengths given, though all 8), and the results of leases 2 and
// 3 with an error message on every tenth: the paths of columns with
// offsets, of RESULTS2 records and of messages.
static bool varcols;

// Dead letters are stamped with this, so that runs journal the same.
static uint64_t
fixed_wall_ms(void)
{
	return (UINT64_C(1700000000000));
}

static void
wake_cb(tasq_waiter *w)
{
	(void) w;
}

// What one run leaves: the client's results, the counters and queue of
// the live broker, the journal's bytes and the recovered state.
struct digest {
	int64_t  value[NTASKS];
	uint32_t code[NTASKS];
	uint32_t seen[NTASKS];
	uint64_t counters[TASQ_CTR_COUNT];
	uint64_t
	    queue[7]; // ready leased results jobs dead submitted completed
	uint64_t nqueues, nworkers, ndead;
	uint64_t rec_counters[TASQ_CTR_COUNT];
	uint64_t rec_queue[7];
	uint64_t rec_nqueues;
	uint64_t dropped;
	uint64_t odd;    // replies unlike the run without failures
	uint64_t failed; // operations that failed when retried
	size_t   journal_len;
	uint8_t *journal;
};

struct run {
	char          dir[256];
	tasq_journal *j;
	tasq_broker  *b;
	uint64_t      gen;        // server starts: the high bits of fetch seqs
	uint32_t      max_queues; // 0: 2
	uint64_t      now;
	uint64_t      ack;
	uint64_t      lease_ids[4];
	uint64_t     *ids[4]; // tasks of each lease
	size_t        nids[4];
	struct digest d;
};

static tasq_broker *
broker_new(struct run *r, int *rvp)
{
	tasq_broker_conf c = { .max_tasks = 10000,
		.max_batch                = 100,
		.max_queues               = r->max_queues ? r->max_queues : 2,
		.max_jobs                 = 4,
		.max_workers              = 4,
		.lease_ms                 = LEASE_MS,
		.wall_ms                  = fixed_wall_ms,
		.max_attempts             = 1,
		.job_ttl_ms               = 3600000,
		.max_fetch                = 1000,
		.max_lease                = 50,
		.seq_base                 = r->gen << 32 };
	tasq_broker     *b = NULL;

	*rvp = tasq_broker_alloc(&b, &c, wake_cb);
	return (b);
}

static void
journal_open(struct run *r)
{
	tasq_journal_conf c = {
		.dir  = r->dir,
		.mode = TASQ_FSYNC_ALWAYS, // so that journal_drain can wait
		.batch_ms      = 10,
		.compact_bytes = 1ULL << 30,
	};
	char err[512];

	ASSERT_OK(tasq_journal_open(&r->j, &c, err, sizeof(err)));
}

// A server start: a new broker recovered from the journal. On failure
// nothing is left running, as when tasq-server exits.
static int
start(struct run *r)
{
	uint64_t recs, bytes;
	char     err[512];
	int      rv;

	r->gen++;
	journal_open(r);
	if ((r->b = broker_new(r, &rv)) == NULL) {
		tasq_journal_close(r->j);
		r->j = NULL;
		return (rv);
	}
	if ((rv = tasq_broker_recover(
	         r->b, r->j, err, sizeof(err), &recs, &bytes)) != 0) {
		tasq_broker_free(r->b);
		tasq_journal_close(r->j);
		r->b = NULL;
		r->j = NULL;
		return (rv);
	}
	ASSERT_OK(tasq_journal_start(r->j, err, sizeof(err)));
	return (0);
}

static pthread_mutex_t drain_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  drain_cv  = PTHREAD_COND_INITIALIZER;
static bool            drained;

static void
drained_cb(void *arg, int rv)
{
	(void) arg;
	(void) rv;
	pthread_mutex_lock(&drain_mtx);
	drained = true;
	pthread_cond_signal(&drain_cv);
	pthread_mutex_unlock(&drain_mtx);
}

// Waits until the journal's writer has written everything, so that the
// close does not meet it mid-write: journal.c reads its closing flag
// there without the lock (a race TSan reports; not this test's subject).
static void
journal_drain(tasq_journal *j)
{
	drained = false;
	int rv  = tasq_journal_wait(j, tasq_journal_lsn(j), drained_cb, NULL);
	if (rv != 0) {
		ASSERT_EQ(rv, 1); // written already
		return;
	}
	pthread_mutex_lock(&drain_mtx);
	while (!drained) {
		pthread_cond_wait(&drain_cv, &drain_mtx);
	}
	pthread_mutex_unlock(&drain_mtx);
}

static void
stop(struct run *r)
{
	if (r->j != NULL) {
		journal_drain(r->j);
	}
	tasq_journal_close(r->j);
	tasq_broker_free(r->b);
	r->j = NULL;
	r->b = NULL;
}

static int
op_submit(struct run *r, uint64_t first)
{
	int64_t     v[100];
	uint32_t    acc;
	bool        dup;
	const char *why;
	int         rv;

	for (size_t i = 0; i < 100; i++) {
		v[i] = (int64_t) (first + i) * 3 - 250;
	}
	if (varcols) {
		static uint32_t lens[100];
		tasq_submit_req req;
		for (size_t i = 0; i < 100; i++) {
			lens[i] = 8;
		}
		memset(&req, 0, sizeof(req));
		req.queue          = "q";
		req.type           = "sq8";
		req.job_id         = JOB;
		req.first_index    = first;
		req.n              = 100;
		req.payloads       = test_col_i64(v, 100);
		req.payloads.width = 0;
		req.payloads.lens  = lens;
		rv = tasq_broker_submit(r->b, &req, r->now, &acc, &dup, &why);
	} else {
		rv = test_submit_i64(
		    r->b, "q", JOB, first, 100, v, r->now, &acc, &dup, &why);
	}
	// A retry after a refusal must not be taken for a duplicate: the
	// refused batch was never there.
	r->d.odd += rv == 0 && (dup || acc != 100);
	return (rv);
}

static int
op_lease(struct run *r, int k)
{
	tasq_lease_out o;
	bool           parked;
	int            rv;

	static const char *const types[] = { "sq8" };

	rv = tasq_broker_lease(r->b, "q", WORKER, "w", varcols ? types : NULL,
	    varcols ? 1 : 0, 1, 50, r->now, &o, NULL, &parked);
	if (rv != 0) {
		return (rv);
	}
	// Tasks lost before show here as a short lease.
	if (parked || o.nbatches != 1 || o.batches[0].n != 50 ||
	    o.batches[0].attempt != 1) {
		r->d.odd++;
	}
	if (o.nbatches > 0) {
		r->lease_ids[k] = o.batches[0].lease_id;
		r->nids[k]      = o.batches[0].n;
		free(r->ids[k]);
		r->ids[k] = malloc(r->nids[k] * sizeof(uint64_t) + 1);
		ASSERT_NOT_NULL(r->ids[k]);
		memcpy(r->ids[k], o.batches[0].ids,
		    r->nids[k] * sizeof(uint64_t));
	}
	tasq_broker_lease_fini(&o);
	return (0);
}

// Completes the leases k0..k1 (one batch each) in one request.
static int
op_complete(struct run *r, int k0, int k1)
{
	tasq_result_batch  rb[4];
	tasq_complete_rep  rep;
	int64_t            vals[4][50];
	static uint32_t    lens[50];
	static uint32_t    codes[4][50];
	static const char *errs[4][50];
	int                rv;

	for (int k = k0; k <= k1; k++) {
		for (size_t i = 0; i < r->nids[k]; i++) {
			int64_t x  = (int64_t) r->ids[k][i] * 3 - 250;
			vals[k][i] = x * x;
		}
		rb[k - k0] = test_rb(r->lease_ids[k], JOB, r->nids[k],
		    r->ids[k], vals[k], NULL);
		if (varcols) {
			for (size_t i = 0; i < 50; i++) {
				lens[i] = 8;
			}
			rb[k - k0].results.width = 0;
			rb[k - k0].results.lens  = lens;
		}
		if (varcols && k >= 2) {
			for (size_t i = 0; i < r->nids[k]; i++) {
				// A tenth fail for good (OUT_OF_RANGE), a
				// tenth with a code that is retried, but
				// max_attempts is 1 here: dead letters.
				uint64_t m   = r->ids[k][i] % 10;
				bool     bad = m == 0 || m == 5;
				codes[k][i]  = m == 5 ? OOR_CODE
				     : m == 0         ? INTERNAL_CODE
				                      : 0;
				errs[k][i]   = bad ? "a tenth fails" : NULL;
			}
			rb[k - k0].codes  = codes[k];
			rb[k - k0].errors = errs[k];
		}
	}
	rv = tasq_broker_complete(
	    r->b, WORKER, (size_t) (k1 - k0 + 1), rb, r->now, &rep);
	r->d.odd += rv == 0 &&
	    (rep.accepted != 50 * (uint32_t) (k1 - k0 + 1) ||
	        rep.duplicates != 0 || rep.rejected != 0);
	return (rv);
}

// Leases what failed for now in complete 2+3 (none without varcols) and
// completes it.
static int
op_retries(struct run *r)
{
	static const char *const types[] = { "sq8" };
	tasq_lease_out           o;
	tasq_complete_rep        rep;
	tasq_result_batch        rb[50]; // a batch has a task at least
	int64_t                  vals[50];
	bool                     parked;
	int                      rv;
	size_t                   at = 0;

	rv = tasq_broker_lease(r->b, "q", WORKER, "w", varcols ? types : NULL,
	    varcols ? 1 : 0, 1, 50, r->now, &o, NULL, &parked);
	if (rv != 0) {
		return (rv);
	}
	r->d.odd += o.nbatches > 0 && !varcols;
	for (size_t i = 0; i < o.nbatches; i++) {
		const tasq_task_batch *tb = &o.batches[i];
		rb[i]                     = test_rb(
		                        tb->lease_id, JOB, tb->n, tb->ids, vals + at, NULL);
		for (size_t k = 0; k < tb->n; k++, at++) {
			int64_t x = (int64_t) tb->ids[k] * 3 - 250;
			r->d.odd += tb->attempt != 2;
			vals[at] = x * x;
		}
	}
	if (o.nbatches > 0) {
		rv = tasq_broker_complete(
		    r->b, WORKER, o.nbatches, rb, r->now, &rep);
		r->d.odd += rv == 0 && rep.accepted != at;
	}
	tasq_broker_lease_fini(&o);
	return (rv);
}

static int
op_fetch(struct run *r)
{
	tasq_fetch_out o;
	bool           parked;
	int            rv;

	rv =
	    tasq_broker_fetch(r->b, JOB, r->ack, 0, r->now, &o, NULL, &parked);
	if (rv != 0) {
		return (rv);
	}
	for (size_t i = 0; i < o.n; i++) {
		uint64_t id = o.ids[i];
		if (id >= NTASKS) {
			r->d.odd++;
			continue;
		}
		r->d.seen[id]++;
		r->d.value[id] = test_i64(&o.results, i);
		r->d.code[id]  = o.codes != NULL ? o.codes[i] : 0;
	}
	if (o.seq != 0) {
		r->ack = o.seq;
	}
	tasq_broker_fetch_fini(&o);
	return (0);
}

static int
op_close(struct run *r)
{
	return (tasq_broker_close_job(r->b, JOB, r->now, &r->d.dropped));
}

enum op {
	OP_SUBMIT_0,
	OP_SUBMIT_100,
	OP_LEASE_0,
	OP_COMPLETE_0,
	OP_FETCH_1,
	OP_LEASE_1,
	OP_EXPIRE_1, // tick: lease 1 expires, its tasks are dead-lettered
	OP_LEASE_2,
	OP_LEASE_3,
	OP_COMPLETE_23,
	OP_RETRIES, // what was retried leased again (none: max_attempts 1)
	OP_FETCH_2,
	OP_RESTART,
	OP_FETCH_3,
	OP_FETCH_4,
	OP_CLOSE,
	OP_COUNT
};

static const char *const op_names[] = { "submit [0,100)", "submit [100,200)",
	"lease 0", "complete 0", "fetch 1", "lease 1", "expire lease 1",
	"lease 2", "lease 3", "complete 2+3", "retries", "fetch 2",
	"restart (recovery)", "fetch 3", "fetch 4", "close" };

static int
op_run(struct run *r, int op)
{
	switch (op) {
	case OP_SUBMIT_0:
		return (op_submit(r, 0));
	case OP_SUBMIT_100:
		return (op_submit(r, 100));
	case OP_LEASE_0:
		return (op_lease(r, 0));
	case OP_COMPLETE_0:
		return (op_complete(r, 0, 0));
	case OP_LEASE_1:
		return (op_lease(r, 1));
	case OP_EXPIRE_1:
		r->now = T0 + LEASE_MS + 1;
		tasq_broker_tick(r->b, r->now);
		return (0);
	case OP_LEASE_2:
		return (op_lease(r, 2));
	case OP_LEASE_3:
		return (op_lease(r, 3));
	case OP_RETRIES:
		return (op_retries(r));
	case OP_COMPLETE_23:
		return (op_complete(r, 2, 3));
	case OP_FETCH_1:
	case OP_FETCH_2:
	case OP_FETCH_3:
	case OP_FETCH_4:
		return (op_fetch(r));
	case OP_RESTART:
		stop(r);
		return (start(r));
	case OP_CLOSE:
		return (op_close(r));
	default:
		FAIL("no such op");
		return (-1);
	}
}

static void
read_journal(struct run *r)
{
	char  path[600];
	FILE *f;
	long  len;

	snprintf(path, sizeof(path), "%s/journal-%016x.log", r->dir, 0);
	ASSERT_NOT_NULL(f = fopen(path, "rb"));
	ASSERT_OK(fseek(f, 0, SEEK_END));
	ASSERT_GE(len = ftell(f), 0);
	rewind(f);
	r->d.journal_len = (size_t) len;
	ASSERT_NOT_NULL(r->d.journal = malloc((size_t) len + 1));
	ASSERT_EQ(fread(r->d.journal, 1, (size_t) len, f), (size_t) len);
	fclose(f);
}

static void
take_stats(tasq_broker *b, uint64_t *counters, uint64_t *queue,
    uint64_t *nqueues, uint64_t *nworkers, uint64_t *ndead)
{
	tasq_rep rep;

	ASSERT_OK(tasq_broker_stats(b, T0, &rep));
	for (size_t i = 0; i < rep.u.stats.ncounters; i++) {
		counters[i] = rep.u.stats.counters[i].value;
	}
	*nqueues = rep.u.stats.nqueues;
	if (rep.u.stats.nqueues > 0) {
		tasq_queue_stats *q = &rep.u.stats.queues[0];
		queue[0]            = q->ready;
		queue[1]            = q->leased;
		queue[2]            = q->results;
		queue[3]            = q->jobs;
		queue[4]            = q->dead;
		queue[5]            = q->submitted;
		queue[6]            = q->completed;
	}
	if (nworkers != NULL) {
		*nworkers = rep.u.stats.nworkers;
		*ndead    = rep.u.stats.ndead;
	}
	tasq_broker_stats_fini(&rep);
}

// One run; with fail_op >= 0, the fail_n-th allocation of operation
// fail_op fails. Returns whether that allocation was reached.
static bool
run_once(struct run *r, int fail_op, uint64_t fail_n)
{
	bool reached = false;
	int  rv;

	memset(r, 0, sizeof(*r));
	tasq_scratch_mem_dir(r->dir, sizeof(r->dir));
	r->now = T0;
	ASSERT_OK(start(r));
	for (int op = 0; op < OP_COUNT; op++) {
		if (op == fail_op) {
			tasq_alloc_fail_at(fail_n);
		}
		rv = op_run(r, op);
		if (op == fail_op) {
			reached = tasq_alloc_failed();
			tasq_alloc_fail_at(0);
			if (!reached) {
				ASSERT_OK(rv);
			}
			if (reached) {
				// The client or worker retries; a tick
				// comes again.
				rv = op_run(r, op);
			}
		}
		if (rv != 0) {
			fprintf(stderr, "op \"%s\" failed (%s)\n",
			    op_names[op], tasq_strerror(rv));
			r->d.failed++;
			if (r->b == NULL) {
				ASSERT_OK(start(r));
			}
		}
	}
	take_stats(r->b, r->d.counters, r->d.queue, &r->d.nqueues,
	    &r->d.nworkers, &r->d.ndead);
	stop(r);
	read_journal(r);
	r->gen = 100; // the recovered state does not depend on seq numbers
	ASSERT_OK(start(r));
	take_stats(r->b, r->d.rec_counters, r->d.rec_queue, &r->d.rec_nqueues,
	    NULL, NULL);
	stop(r);
	for (int k = 0; k < 4; k++) {
		free(r->ids[k]);
	}
	tasq_scratch_rm(r->dir);
	return (reached);
}

#define SAME(field)                                                           \
	do {                                                                  \
		if (memcmp(&a->field, &b->field, sizeof(a->field)) != 0) {    \
			fprintf(stderr, "differs: %s\n", #field);             \
			return (false);                                       \
		}                                                             \
	} while (0)

static bool
same(const struct digest *a, const struct digest *b)
{
	SAME(seen);
	SAME(value);
	SAME(code);
	SAME(counters);
	SAME(queue);
	SAME(nqueues);
	SAME(nworkers);
	SAME(ndead);
	SAME(rec_counters);
	SAME(rec_queue);
	SAME(rec_nqueues);
	SAME(dropped);
	SAME(odd);
	SAME(failed);
	SAME(journal_len);
	if (memcmp(a->journal, b->journal, a->journal_len) != 0) {
		fprintf(stderr, "differs: journal bytes\n");
		return (false);
	}
	return (true);
}

static void
print_counters(const struct digest *d)
{
	fprintf(stderr,
	    "  submitted %llu completed %llu dead %llu dup-submits %llu; "
	    "queue ready %llu leased %llu results %llu jobs %llu; "
	    "journal %zu bytes\n",
	    (unsigned long long) d->counters[TASQ_CTR_SUBMITTED],
	    (unsigned long long) d->counters[TASQ_CTR_COMPLETED],
	    (unsigned long long) d->counters[TASQ_CTR_DEAD_LETTERED],
	    (unsigned long long) d->counters[TASQ_CTR_DUPLICATE_SUBMITS],
	    (unsigned long long) d->queue[0], (unsigned long long) d->queue[1],
	    (unsigned long long) d->queue[2], (unsigned long long) d->queue[3],
	    d->journal_len);
}

TEST(reference_run_collects_every_result)
{
	struct run r;
	size_t     aborted = 0;

	ASSERT_FALSE(run_once(&r, -1, 0));
	for (uint64_t id = 0; id < NTASKS; id++) {
		int64_t x = (int64_t) id * 3 - 250;
		ASSERT_GE(r.d.seen[id], 1);
		if (id >= 50 && id < 100) {
			ASSERT_EQ(r.d.code[id], ABORTED_CODE);
			aborted++;
		} else {
			ASSERT_EQ(r.d.code[id], 0);
			ASSERT_EQ(r.d.value[id], x * x);
		}
	}
	ASSERT_EQ(aborted, 50);
	ASSERT_EQ(r.d.counters[TASQ_CTR_SUBMITTED], NTASKS);
	ASSERT_EQ(r.d.counters[TASQ_CTR_COMPLETED], NTASKS);
	ASSERT_EQ(r.d.odd, 0);
	ASSERT_EQ(r.d.failed, 0);
	ASSERT_EQ(r.d.dropped, 0);
	ASSERT_EQ(r.d.queue[0] + r.d.queue[1] + r.d.queue[2], 0);
	free(r.d.journal);
}

static void every_allocation(void);

TEST(every_allocation_of_every_operation_fails_in_turn)
{
	varcols = false;
	every_allocation();
}

TEST(every_allocation_fails_in_turn_with_variable_columns_and_errors)
{
	struct run r;

	varcols = true;
	ASSERT_FALSE(run_once(&r, -1, 0));
	for (uint64_t id = 0; id < NTASKS; id++) {
		bool oor = id >= 100 && id % 10 == 5;
		bool dl  = id >= 100 && id % 10 == 0;
		ASSERT_EQ(r.d.code[id],
		    id >= 50 && id < 100 ? ABORTED_CODE
		        : oor            ? OOR_CODE
		        : dl             ? INTERNAL_CODE
		                         : 0u);
	}
	free(r.d.journal);
	every_allocation();
	varcols = false;
}

static void
every_allocation(void)
{
	static struct run ref, r;
	int               bad = 0, trials = 0;

	ASSERT_FALSE(run_once(&ref, -1, 0));
	for (int op = 0; op < OP_COUNT; op++) {
		for (uint64_t n = 1; n < 1000; n++) {
			bool reached = run_once(&r, op, n);
			trials++;
			if (!same(&ref.d, &r.d)) {
				size_t lost = 0;
				for (int id = 0; id < NTASKS; id++) {
					lost += r.d.seen[id] == 0;
				}
				fprintf(stderr,
				    "op \"%s\", allocation %llu failed: "
				    "%zu of %d tasks lost\n",
				    op_names[op], (unsigned long long) n, lost,
				    NTASKS);
				fprintf(stderr, " expected:");
				print_counters(&ref.d);
				fprintf(stderr, " got:     ");
				print_counters(&r.d);
				bad++;
			}
			free(r.d.journal);
			if (!reached) {
				fprintf(stderr, "%-20s %3llu allocations\n",
				    op_names[op], (unsigned long long) n - 1);
				break;
			}
		}
	}
	fprintf(stderr, "%d runs, %d differ from the run without failures\n",
	    trials, bad);
	free(ref.d.journal);
	ASSERT_EQ(bad, 0);
}

// ---- removed queues and the journal ----------------------------------------
// (Not about allocation, but it needs the same journal fixture.) Queues
// are not journaled: recovery makes each again from the jobs that name
// it. A journal written while idle queues came and went may name more
// queues than --max-queues: recovery must still succeed, and leave only
// the queues that hold something.

static size_t
queue_count(tasq_broker *b, const char *name, uint64_t *ready)
{
	tasq_rep rep;
	size_t   n;

	ASSERT_OK(tasq_broker_stats(b, T0, &rep));
	n = rep.u.stats.nqueues;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(rep.u.stats.queues[i].name, name) == 0) {
			*ready = rep.u.stats.queues[i].ready;
		}
	}
	tasq_broker_stats_fini(&rep);
	return (n);
}

TEST(removed_queues_replay_within_max_queues)
{
	static struct run r;
	const char *const names[] = { "a", "b", "c" };
	uint64_t          dropped, ready = 0;
	int64_t           v[10] = { 0 };
	uint32_t          acc;
	bool              dup;
	const char       *why;

	memset(&r, 0, sizeof(r));
	r.max_queues = 1;
	tasq_scratch_mem_dir(r.dir, sizeof(r.dir));
	r.now = T0;
	ASSERT_OK(start(&r));
	// Queues a and b each hold a job that ends; c keeps one.
	for (uint64_t i = 0; i < 3; i++) {
		ASSERT_OK(test_submit_i64(
		    r.b, names[i], 10 + i, 0, 10, v, r.now, &acc, &dup, &why));
		ASSERT_EQ(acc, 10);
		if (i < 2) {
			ASSERT_OK(tasq_broker_close_job(
			    r.b, 10 + i, r.now, &dropped));
			r.now += 60000; // the default grace period
			tasq_broker_tick(r.b, r.now);
		}
	}
	ASSERT_EQ(queue_count(r.b, "c", &ready), 1);
	stop(&r);
	ASSERT_OK(start(&r));
	ASSERT_EQ(queue_count(r.b, "c", &ready), 1);
	ASSERT_EQ(ready, 10);
	// And the recovered server keeps its limit.
	ASSERT_RV(
	    test_submit_i64(r.b, "a", 20, 0, 10, v, r.now, &acc, &dup, &why),
	    TASQ_EFAILED_PRECONDITION);
	stop(&r);
	tasq_scratch_rm(r.dir);
}

// A closed connection's leases go back at once; when that cannot be
// done for want of memory, they must go back at the next tick, not only
// when they would have expired. (The fallback walked the lease map from
// where the walk of the worker map had stopped, and so marked nothing.)
TEST(leases_of_a_closed_connection_return_at_the_next_tick_under_oom)
{
	static struct run r;
	tasq_broker      *b;
	tasq_lease_out    o;
	tasq_rep          rep;
	int64_t           v[10] = { 0 };
	uint32_t          acc;
	bool              dup, parked;
	const char       *why;
	int               rv;

	memset(&r, 0, sizeof(r));
	ASSERT_NOT_NULL(b = broker_new(&r, &rv));
	ASSERT_OK(
	    test_submit_i64(b, "q", JOB, 0, 10, v, T0, &acc, &dup, &why));
	ASSERT_OK(tasq_broker_lease(
	    b, "q", WORKER, "w", NULL, 0, 5, 10, T0, &o, NULL, &parked));
	ASSERT_EQ(o.nbatches, 1);
	tasq_broker_lease_fini(&o);
	tasq_alloc_fail_at(1);
	tasq_broker_pipe_gone(b, 5, T0 + 1);
	ASSERT_TRUE(tasq_alloc_failed());
	tasq_alloc_fail_at(0);
	ASSERT_EQ(tasq_broker_counter(b, TASQ_CTR_LEASES_DISCONNECTED), 0);
	tasq_broker_tick(b, T0 + 2); // long before the lease's deadline
	ASSERT_OK(tasq_broker_stats(b, T0 + 2, &rep));
	ASSERT_EQ(rep.u.stats.nqueues, 1);
	ASSERT_EQ(rep.u.stats.queues[0].leased, 0);
	// max_attempts is 1 here: back, and dead-lettered at once.
	ASSERT_EQ(rep.u.stats.queues[0].dead, 10);
	ASSERT_EQ(tasq_broker_counter(b, TASQ_CTR_LEASES_EXPIRED), 1);
	tasq_broker_stats_fini(&rep);
	tasq_broker_free(b);
}

// ---- a retry under allocation failure
// --------------------------------------- A Complete whose middle result fails
// with a retried code: the task is split out of its lease into a range of its
// own. Every allocation of it fails in turn; after each failure nothing has
// changed (the same Complete then succeeds), and the task comes back as
// attempt 2.
TEST(retry_split_is_all_or_nothing)
{
	for (uint64_t n = 1; n < 200; n++) {
		tasq_broker_conf         c        = { .max_tasks = 100,
			               .max_batch                = 10,
			               .max_queues               = 2,
			               .max_jobs                 = 2,
			               .max_workers              = 2,
			               .lease_ms                 = LEASE_MS,
			               .max_attempts             = 3,
			               .job_ttl_ms               = 60000,
			               .max_fetch                = 10,
			               .max_lease                = 10 };
		static const char *const types[]  = { "t" };
		static uint32_t          lens[3]  = { 1, 1, 1 };
		uint32_t                 codes[3] = { 0, INTERNAL_CODE, 0 };
		const char              *errs[3]  = { NULL, "again", NULL };
		tasq_broker             *b        = NULL;
		tasq_submit_req          req;
		tasq_lease_out           o;
		tasq_result_batch        rb;
		tasq_complete_rep        rep;
		tasq_fetch_out           fo;
		uint32_t                 acc;
		bool                     dup, parked, reached;
		const char              *why;
		int                      rv;

		ASSERT_OK(tasq_broker_alloc(&b, &c, wake_cb));
		memset(&req, 0, sizeof(req));
		req.queue    = "q";
		req.type     = "t";
		req.job_id   = JOB;
		req.n        = 3;
		req.payloads = (tasq_blobs) { 0, lens, (uint8_t *) "abc", 3 };
		ASSERT_OK(tasq_broker_submit(b, &req, T0, &acc, &dup, &why));
		ASSERT_OK(tasq_broker_lease(b, "q", WORKER, "w", types, 1, 1,
		    10, T0, &o, NULL, &parked));
		ASSERT_EQ(o.nbatches, 1);
		memset(&rb, 0, sizeof(rb));
		rb.lease_id = o.batches[0].lease_id;
		rb.job_id   = JOB;
		rb.n        = 3;
		rb.ids      = o.batches[0].ids;
		rb.codes    = codes;
		rb.errors   = errs;
		rb.results  = (tasq_blobs) { 0, (uint32_t[]) { 1, 0, 1 },
			 (uint8_t *) "AC", 2 };
		tasq_alloc_fail_at(n);
		rv      = tasq_broker_complete(b, WORKER, 1, &rb, T0, &rep);
		reached = tasq_alloc_failed();
		tasq_alloc_fail_at(0);
		if (rv != 0) {
			// Nothing happened: the same request now works.
			ASSERT_TRUE(reached);
			ASSERT_EQ(tasq_broker_counter(b, TASQ_CTR_RETRIED), 0);
			ASSERT_OK(
			    tasq_broker_complete(b, WORKER, 1, &rb, T0, &rep));
		}
		ASSERT_EQ(rep.accepted, 3);
		ASSERT_EQ(tasq_broker_counter(b, TASQ_CTR_RETRIED), 1);
		tasq_broker_lease_fini(&o);
		ASSERT_OK(tasq_broker_lease(b, "q", WORKER, "w", types, 1, 1,
		    10, T0, &o, NULL, &parked));
		ASSERT_EQ(o.nbatches, 1);
		ASSERT_EQ(o.batches[0].n, 1);
		ASSERT_EQ(o.batches[0].ids[0], 1);
		ASSERT_EQ(o.batches[0].attempt, 2);
		tasq_broker_lease_fini(&o);
		ASSERT_OK(
		    tasq_broker_fetch(b, JOB, 0, 0, T0, &fo, NULL, &parked));
		ASSERT_EQ(fo.n, 2);
		tasq_broker_fetch_fini(&fo);
		tasq_broker_free(b);
		if (!reached) {
			fprintf(stderr,
			    "complete with a retry: %llu allocations\n",
			    (unsigned long long) n - 1);
			break;
		}
	}
}

TASQ_TEST_MAIN()
