// broker_int: the broker's private layout, shared by broker.c (state and
// operations), broker_stats.c and persist.c (journal records, recovery,
// snapshots). Nothing outside server/broker*.c and persist.c includes it.
// Every function here expects the broker's mutex held.
#ifndef TASQ_BROKER_INT_H
#define TASQ_BROKER_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "broker.h"
#include "idmap.h"
#include "journal.h"

#define DEAD_RING 1024 // dead letters remembered for stats

struct range {
	struct range *next, *prev;
	struct chunk *chunk;
	uint32_t      off, len;
	uint32_t      attempt; // deliveries so far
};

struct chunk {
	struct job *job;
	uint64_t    first;
	uint32_t    n;
	uint32_t    remaining; // tasks without a result
	uint32_t    refs;      // ranges pointing here
	int64_t    *values;
	uint64_t   *done; // one bit per task
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
	struct chunk **chunks; // sorted by first
	size_t         nchunks, capchunks;
	struct ival   *ivals; // submitted batches, sorted by lo
	size_t         nivals, capivals;
	// Results not yet delivered: columns with a head offset.
	uint64_t *r_ids;
	int64_t  *r_vals;
	uint32_t *r_codes;
	size_t    r_head, r_len, r_cap;
	// The last delivery, kept until acknowledged.
	uint64_t     d_seq;
	uint64_t    *d_ids;
	int64_t     *d_vals;
	uint32_t    *d_codes;
	size_t       d_n;
	uint64_t     seq_next;
	uint64_t     submitted, completed;
	uint64_t     last_ms;
	bool         closed;
	struct wlist waiters;
};

struct queue {
	char         name[TASQ_WIRE_MAX_NAME + 1];
	struct range ready; // sentinel of the ready list
	uint64_t     nready, nleased, nresults, njobs, ndead;
	// Cumulative, counted where tasks_submitted and tasks_completed are
	// (so also for records replayed at start-up): tasks newly enqueued,
	// and tasks given their first result (errors and dead letters too).
	uint64_t     submitted, completed;
	uint64_t     last_ms; // last submit, lease or result: see queue_gc
	struct wlist waiters;
};

struct lease {
	uint64_t       id;
	struct worker *w;
	uint32_t       pipe;
	uint64_t       deadline;
	struct queue  *q;
	struct range  *ranges; // singly linked through next
	uint32_t       ntasks;
};

struct worker {
	uint64_t id;
	char     name[TASQ_WIRE_MAX_NAME + 1];
	char     queue[TASQ_WIRE_MAX_NAME + 1];
	uint32_t pipe;
	bool     connected;
	uint64_t last_ms;
	uint64_t leases, in_hand, completed;
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
	uint64_t         dead[DEAD_RING][2];
	size_t           dead_n;
	atomic_uint_fast64_t counters[TASQ_CTR_COUNT];
	tasq_journal        *journal;    // NULL without --data-dir
	bool                 recovering; // replaying: limits off, no records
};

// tasq_broker_queue_get finds the queue name or creates it (*created).
// Errors: TASQ_ERESOURCE_EXHAUSTED (max_queues, except while
// recovering), NNG_ENOMEM.
int tasq_broker_queue_get(
    tasq_broker *b, const char *name, struct queue **qp, bool *created);
// tasq_broker_job_create makes job id of q. Errors:
// TASQ_ERESOURCE_EXHAUSTED (max_jobs), NNG_ENOMEM.
int tasq_broker_job_create(tasq_broker *b, uint64_t id, struct queue *q,
    uint64_t now_ms, struct job **jp);
struct chunk *tasq_broker_chunk_of(const struct job *j, uint64_t id);
bool          tasq_broker_task_done(const struct chunk *c, uint32_t off);
bool tasq_broker_task_finish(tasq_broker *b, struct chunk *c, uint32_t off,
    int64_t value, uint32_t code, tasq_waiter **wake);
// Makes room for more results in j, so that as many task_finish calls
// cannot fail. Errors: NNG_ENOMEM (j unchanged but for its capacity).
int      tasq_broker_results_reserve(struct job *j, size_t more);
int      tasq_broker_ivals_add(struct job *j, uint64_t lo, uint64_t hi);
int      tasq_broker_chunk_add(tasq_broker *b, struct job *j, uint64_t first,
         size_t n, const int64_t *values, const uint64_t *done);
uint64_t tasq_broker_job_close(
    tasq_broker *b, struct job *j, tasq_waiter **wake);
int tasq_broker_submit_locked(tasq_broker *b, const char *queue,
    uint64_t job_id, uint64_t first, size_t n, const int64_t *values,
    uint64_t now_ms, uint32_t *accepted, bool *dup, const char **why,
    tasq_waiter **wake);
// Removes queues that nothing has used for conf.queue_idle_ms (with
// force, at once): no job, task, result, lease or parked worker.
void tasq_broker_queue_gc(tasq_broker *b, uint64_t now_ms, bool force);
// Rebuilds every ready list to cover unfinished tasks only (after
// recovery, whose replayed results finish tasks in place).
void tasq_broker_ready_normalize(tasq_broker *b);
void tasq_broker_results_drop(tasq_broker *b, struct job *j, size_t n);

// persist.c: journal records of state changes (no-ops without a journal
// or while recovering). They return 0 or the journal's error.
int tasq_persist_submit(tasq_broker *b, const char *queue, uint64_t job,
    uint64_t first, size_t n, const int64_t *values);
// Allocates nothing: what a caller has prepared before it journals cannot
// then fail for want of memory.
int tasq_persist_results(tasq_broker *b, uint64_t job, size_t n,
    const uint64_t *ids, const int64_t *values, const uint8_t *codes);
int tasq_persist_ack(tasq_broker *b, uint64_t job, size_t n);
int tasq_persist_close(tasq_broker *b, uint64_t job);

#endif
