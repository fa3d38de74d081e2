// broker_state: the layout of the broker's state, for server/broker*.c
// only (persist.c works through broker_int.h). Lock order and threads:
// see broker.h; everything here is changed with the broker's mutex held.
#ifndef TASQ_BROKER_STATE_H
#define TASQ_BROKER_STATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "broker.h"
#include "broker_int.h"
#include "idmap.h"
#include "journal.h"

#define DEAD_RING 1024     // dead letters remembered for stats
#define EXPIRED_RING 16384 // ids of detached jobs whose results expired

struct range {
	struct range *next, *prev;
	struct chunk *chunk;
	uint32_t      off, len;
	uint32_t      attempt; // deliveries so far
	uint64_t      due;     // delayed (a retry's backoff): ready then
	uint64_t      nb_ms;   // the same as wall time, as journaled (0: none)
};

// A dead letter: a task given up after its job's last attempt.
struct dead {
	uint64_t id, job, task;
	char     queue[TASQ_WIRE_MAX_NAME + 1];
	char     type[TASQ_WIRE_MAX_NAME + 1];
	uint8_t *payload;
	uint32_t len;
	uint32_t attempts, code;
	char    *error; // NULL: none
	uint64_t time_ms;
};

struct chunk {
	struct job *job;
	uint64_t    first;
	uint64_t    enq_ms; // submitted then: the age of its ready tasks
	uint32_t    n;
	uint32_t    remaining; // tasks without a result
	uint32_t    refs;      // ranges pointing here
	// The payloads, a column: width > 0, task i at data + i * width
	// (square: the int64s as they came); width 0, task i is
	// data[offs[i], offs[i + 1]).
	uint32_t  width;
	uint32_t *offs; // width 0: n + 1 entries
	uint8_t  *data;
	size_t    size; // bytes in data
	uint64_t *done; // one bit per task
	// Recovering only (TRIES records, then ready_normalize): each
	// task's attempts and not-before wall time; NULL: none recorded.
	uint32_t *r_tries;
	uint64_t *r_nb;
};

// A type's ready tasks in a queue: the queue's ready list is one lane per
// type, so that a worker is leased only tasks of types it serves. Each job
// keeps its own ready ranges; the lane shares its leases among the jobs
// with ready tasks by stride scheduling (broker_queue.c: the job of the
// lowest pass goes first, and each task leased adds TASQ_STRIDE_ONE /
// its priority to its job's pass).
struct lane {
	struct queue *q;
	char          type[TASQ_WIRE_MAX_NAME + 1];
	struct job   *rjobs; // the jobs with ready ranges, a ring (NULL: none)
	uint64_t      vtime; // the pass of the last job leased from
	uint64_t      nready, nleased;
	uint64_t      ndelayed; // tasks waiting out a retry's backoff
};

struct ival {
	uint64_t lo, hi; // [lo, hi)
};

struct wlist {
	tasq_waiter head; // sentinel
};

struct job {
	uint64_t       id;
	struct queue  *q;
	struct lane   *lane;   // the job's type in q
	bool           legacy; // submitted legacy: results go as values
	tasq_retry     retry;  // from the first batch
	struct chunk **chunks; // sorted by first
	size_t         nchunks, capchunks;
	struct ival   *ivals; // submitted batches, sorted by lo
	size_t         nivals, capivals;
	// Results not yet delivered: columns with a head offset, their
	// bytes in r_data from r_dhead (r_dlen bytes, r_dcap room), and
	// error messages (r_errs: NULL until a result has one).
	uint64_t *r_ids;
	uint32_t *r_codes;
	uint32_t *r_lens;
	char    **r_errs;
	size_t    r_head, r_len, r_cap;
	uint8_t  *r_data;
	size_t    r_dhead, r_dlen, r_dcap;
	// The last delivery, kept until acknowledged.
	uint64_t     d_seq;
	uint64_t    *d_ids;
	uint32_t    *d_codes;
	uint32_t    *d_lens;
	char       **d_errs; // NULL: none
	uint8_t     *d_data;
	size_t       d_size;
	size_t       d_n;
	uint64_t     seq_next;
	uint64_t     submitted, completed;
	uint64_t     last_ms;
	bool         closed;
	bool         cancelled; // tasq_broker_job_cancel (broker_int.h)
	struct wlist waiters;
	// The job registry (broker_jobs.c, PROTOCOL.md 9.11-9.14). A
	// detached (keep) job's results stay in the r_ columns, never
	// delivered, until result_ttl_ms after it is done (sealed: its
	// input is complete, and every task has a result); k_pos lists the
	// first k_n of them by task id (k_off: each one's byte offset).
	bool      keep, sealed;
	uint64_t  result_ttl_ms;
	uint64_t  created_wall_ms, done_wall_ms; // wall clock; 0: not done
	uint64_t  failed;
	char     *host; // NULL: not given
	uint32_t *k_pos;
	uint64_t *k_off;
	size_t    k_n, k_offn;

	// Its place in the lane's rotation (broker_queue.c): its ready
	// ranges (sentinel), its ring links while it has some, its pass.
	struct range ready;
	uint64_t     nready;
	struct job  *rnext, *rprev;
	uint64_t     pass;
	uint32_t     priority; // 1..TASQ_WIRE_MAX_PRIORITY
};

struct queue {
	char          name[TASQ_WIRE_MAX_NAME + 1];
	struct lane **lanes; // in order of creation, freed with the queue
	size_t        nlanes, caplanes;
	size_t        lane_next; // where the next Lease starts looking
	uint64_t      nready, nleased, nresults, njobs, ndead;
	// Cumulative, counted where tasks_submitted and tasks_completed are
	// (so also for records replayed at start-up): tasks newly enqueued,
	// and tasks given their first result (errors and dead letters too).
	uint64_t submitted, completed;
	// Cumulative, counted where tasks_failed and tasks_retried are:
	// first results with an error code (dead letters too), and failed
	// results set aside for a retry (replayed TRIES records add none).
	uint64_t     failed, retried;
	uint64_t     last_ms; // last submit, lease or result: see queue_gc
	struct wlist waiters;

	struct wlist *any; // the broker's waiters on several queues
};

struct lease {
	uint64_t       id;
	struct worker *w;
	uint32_t       pipe;
	uint64_t       deadline;
	struct queue  *q;
	struct lane   *lane;
	struct range  *ranges; // singly linked through next
	uint32_t       ntasks;
	// It holds tasks of a cancelled job: its worker is told (LeaseReply
	// and ExtendReply .cancelled) until it ends; counted in w->ncancel.
	// told: listed in a reply once (a Lease then parks again).
	bool cancelled, told;
};

struct worker {
	uint64_t id;
	char     name[TASQ_WIRE_MAX_NAME + 1];
	char     queue[TASQ_WIRE_MAX_NAME + 1];
	uint32_t pipe;
	bool     connected;
	uint64_t last_ms;
	uint64_t leases, in_hand, completed;
	// Cumulative, of the results it handed in: first results with an
	// error code (dead letters of a failed last attempt too) and failures
	// set aside for a retry; expired leases are not counted here.
	uint64_t failed, retried;
	char    *types; // served: names and their NULs, then a NUL
	// Several queues served in weighted turn (NULL: queue alone), each
	// with its pass (stride scheduling, as jobs in a lane).
	struct wqueue *qs;
	size_t         nqs;
	uint64_t       qvtime;
	// Its leases marked cancelled: a Lease reply lists them while > 0.
	uint32_t ncancel;
};

struct wqueue {
	char     name[TASQ_WIRE_MAX_NAME + 1];
	uint32_t weight;
	uint64_t pass;
};

struct tasq_broker {
	nng_mtx         *mtx;
	tasq_broker_conf conf;
	tasq_wake_cb     wake;
	struct queue   **queues; // in order of creation
	size_t           nqueues, capqueues;
	tasq_idmap       jobs;
	tasq_idmap       leases;
	tasq_idmap       workers;
	uint64_t         lease_next;
	uint64_t         held; // tasks in chunks + undelivered/unacked results
	uint64_t         held_bytes; // their payload and result bytes
	uint64_t         dead[DEAD_RING][2];
	size_t           dead_n;
	// Dead letters (DeadList), oldest first: a ring of dl_cap.
	struct dead **dl;
	size_t        dl_head, dl_count, dl_cap;
	uint64_t      dl_next; // the next one's id
	// Workers parked on several queues: woken by any queue's news.
	struct wlist mwaiters;
	// Ranges of failed tasks waiting out their backoff, by due time
	// (singly linked through next).
	struct range *delayed;
	tasq_stats   *stats;      // conf.stats, or own_stats
	tasq_stats   *own_stats;  // NULL when conf.stats was given
	tasq_journal *journal;    // NULL without --data-dir
	bool          recovering; // replaying: limits off, no records
	// The last EXPIRED_RING detached jobs whose results expired, so
	// that Results can say so (broker_jobs.c).
	uint64_t expired[EXPIRED_RING];
	size_t   exp_next, exp_n;
};

// What a failed result may need, allocated for each (spare_prepare)
// before anything is journaled: the dead letter of its last attempt, or
// the two ranges of a retry (the task's own, and the rest of its range
// when it was in the middle).
struct spare {
	struct dead  *d;
	struct range *r1, *r2;
};

// Scratch columns of the results of one batch that are news (complete).
struct rscratch {
	struct spare **sp;     // of each news (bury: its letter)
	uint32_t      *tries;  // of each news: its attempts (bury)
	tasq_tries    *rtries; // of each retry: its attempts (TRIES record)
	bool          *bury;
	uint64_t      *rids; // retries: task ids, their spares
	struct spare **rsp;
	size_t         nretry;
	uint64_t      *ids;
	uint8_t       *codes;
	uint32_t      *lens;
	const char   **errs; // borrowed from the request
	char         **owned;
	uint8_t       *ebuf; // a record's messages (tasq_persist_errs_size)
	uint8_t       *data;
	const uint8_t *bytes; // data, or the batch's own column
	size_t         n;
	bool           anyerr;
};

// Sorts the results of one batch rb of job j (live: the lease, if the
// sender holds it; owned: the batch's message copies; spares: its spares,
// NULL without failures) into s, counting the rest in out.
void tasq_broker_result_sort(tasq_broker *b, struct job *j,
    const tasq_result_batch *rb, const struct lease *live, char **owned,
    struct spare *spares, struct rscratch *s, tasq_complete_rep *out);
// Prepares spares[k] for result k of res that may be retried or buried.
// Errors: NNG_ENOMEM.
int  tasq_broker_spare_prepare(tasq_broker *b, size_t nres,
     const tasq_result_batch *res, struct spare *spares);
void tasq_broker_spare_fini(struct spare *spares, size_t n);

// ---- waiters (broker.c, broker_queue.c, broker_job.c) ----------------------

static inline void
wlist_init(struct wlist *l)
{
	l->head.next = l->head.prev = &l->head;
}

static inline void
wlist_park(struct wlist *l, tasq_waiter *w)
{
	w->woken      = false;
	w->list       = l;
	w->prev       = l->head.prev;
	w->next       = &l->head;
	w->prev->next = w;
	l->head.prev  = w;
}

static inline void
waiter_unlink(tasq_waiter *w)
{
	w->prev->next = w->next;
	w->next->prev = w->prev;
	w->next = w->prev = NULL;
	w->list           = NULL;
}

// Moves every waiter of l to the wake list (a singly linked chain through
// next, woken after the lock is dropped).
static inline void
wlist_take(struct wlist *l, tasq_waiter **wake)
{
	if (wake == NULL) {
		return; // recovering: nobody waits yet
	}
	while (l->head.next != &l->head) {
		tasq_waiter *w = l->head.next;
		waiter_unlink(w);
		w->woken = true;
		w->next  = *wake;
		*wake    = w;
	}
}

// Whether task off of c has its result (or its job is closed or
// cancelled). Inline: the lease and ready-list scans call it several
// times a task.
static inline bool
tasq_broker_task_done(const struct chunk *c, uint32_t off)
{
	return (c->job->closed || c->job->cancelled ||
	    (c->done[off / 64] >> (off % 64)) & 1);
}

// Wakes the workers waiting for q's tasks: its own and those parked on
// several queues (they look again and park again when nothing is theirs).
static inline void
queue_wake(struct queue *q, tasq_waiter **wake)
{
	wlist_take(&q->waiters, wake);
	if (q->any != NULL) {
		wlist_take(q->any, wake);
	}
}

#endif
