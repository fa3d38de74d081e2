// broker_int: the internal APIs of the broker's modules, shared by
// server/broker*.c and persist.c. Nothing else includes it.
//
//   broker.c        the broker object, its mutex, waiters and the public
//                   operations of broker.h (which call the modules)
//   broker_queue.c  queues and their ready lists of task ranges
//   broker_job.c    jobs: batches (ivals), chunks of tasks, results,
//                   deliveries (fetch/ack), close
//   broker_lease.c  leases and workers: taking tasks, ending leases
//                   (redelivery, dead letters)
//   broker_stats.c  the Stats snapshot (the counters' names and values
//                   are server/stats.h's)
//   persist.c       journal records, replay and snapshots, through the
//                   functions below only (the layouts are in
//                   broker_state.h, which it does not include)
//
// Every function here expects the broker's mutex held. The types are
// opaque outside broker*.c.
#ifndef TASQ_BROKER_INT_H
#define TASQ_BROKER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker.h"
#include "journal.h"

// The attempts of tasks [first, first + len) of a job: what a TRIES
// journal record holds for each of its ranges (24 bytes, as written).
typedef struct tasq_tries {
	uint64_t first;
	uint32_t len;
	uint32_t attempts;      // deliveries that ended without a result
	uint64_t not_before_ms; // wall clock: a retry's backoff; 0: none
} tasq_tries;
_Static_assert(sizeof(tasq_tries) == 24, "a TRIES entry is 24 bytes");

// A range's attempts and its job (tasq_broker_tries_list).
typedef struct tasq_tries_item {
	uint64_t   job;
	tasq_tries t;
} tasq_tries_item;

struct queue;
struct lane;
struct job;
struct chunk;
struct range;
struct lease;
struct worker;

// ---- broker.c ------------------------------------------------------------

// tasq_broker_count adds n to counter in the broker's registry: the
// broker's own events only (server/stats.h says whose each counter is).
void tasq_broker_count(tasq_broker *b, int counter, uint64_t n);

// tasq_broker_wake_all wakes the waiters of the chain wake (taken with
// wlist_take under the lock), after the lock is released.
void tasq_broker_wake_all(tasq_broker *b, tasq_waiter *wake);

// tasq_broker_journal_rec returns the journal that state changes are
// recorded in: NULL without --data-dir and while recovering.
tasq_journal *tasq_broker_journal_rec(tasq_broker *b);

// tasq_broker_submit_locked is the body of a submit; it also replays
// SUBMIT records (wake NULL). Errors as tasq_broker_submit.
int tasq_broker_submit_locked(tasq_broker *b, const tasq_submit_req *req,
    uint64_t now_ms, uint32_t *accepted, bool *dup, const char **why,
    tasq_waiter **wake);

// ---- broker_queue.c: queues and ready lists --------------------------------

// A task's cost to its job's pass at priority 1 (the lane's rotation,
// broker_state.h): priority p pays TASQ_STRIDE_ONE / p.
#define TASQ_STRIDE_ONE ((uint64_t) 1 << 24)

// Whether pass a comes before pass b. Passes only grow and wrap around
// after 2^64 (2^40 tasks at priority 1): compared as a distance, they
// stay in order as long as the live ones are within 2^63 of each other.
static inline bool
tasq_pass_before(uint64_t a, uint64_t b)
{
	return ((int64_t) (a - b) < 0);
}

// tasq_broker_queue_find returns the queue name, or NULL.
struct queue *tasq_broker_queue_find(tasq_broker *b, const char *name);

// tasq_broker_queue_get finds the queue name or creates it (*created).
// Errors: TASQ_ERESOURCE_EXHAUSTED (max_queues, except while
// recovering), NNG_ENOMEM.
int tasq_broker_queue_get(
    tasq_broker *b, const char *name, struct queue **qp, bool *created);
// tasq_broker_queue_remove frees q, which must be unused (just created).
void tasq_broker_queue_remove(tasq_broker *b, struct queue *q);
// tasq_broker_queue_free frees q, its lanes and their ranges (not the
// ranges' chunks): tasq_broker_free.
void tasq_broker_queue_free(struct queue *q);
// Removes queues that nothing has used for conf.queue_idle_ms (with
// force, at once): no job, task, result, lease or parked worker.
void tasq_broker_queue_gc(tasq_broker *b, uint64_t now_ms, bool force);
// Rebuilds every ready list to cover unfinished tasks only (after
// recovery, whose replayed results finish tasks in place).
void tasq_broker_ready_normalize(tasq_broker *b);
// tasq_broker_lane_get finds q's lane of type or makes it (it lives as
// long as q). Errors: NNG_ENOMEM.
int tasq_broker_lane_get(struct queue *q, const char *type, struct lane **lp);
// tasq_broker_lane_find returns q's lane of type, or NULL.
struct lane *tasq_broker_lane_find(const struct queue *q, const char *type);
// Links r into its job's ready list in lane ln, at the head (front) or
// the tail; a job that had none joins ln's rotation. _unlink takes r out
// (a job left without ready ranges leaves the rotation).
void tasq_broker_ready_push(struct lane *ln, struct range *r, bool front);
void tasq_broker_ready_unlink(struct lane *ln, struct range *r);
// Drops the head ranges of the job ln leases from next while their tasks
// are all done; returns whether a range with an unfinished task remains.
bool tasq_broker_ready_trim(tasq_broker *b, struct lane *ln);
// Records the attempts of t's tasks of job j while recovering (a TRIES
// record; the later of two wins); ready_normalize gives them to the
// ranges it makes. Errors: TASQ_EDATA_LOSS (not tasks of one chunk of
// j), NNG_ENOMEM.
int tasq_broker_tries_restore(struct job *j, const tasq_tries *t);
// Drops every ready range of job j from its lane.
void tasq_broker_ready_drop_job(tasq_broker *b, struct job *j);
// The job of ln's rotation a lease takes from next (the lowest pass, the
// first in the ring among equals), leaving out the nskip jobs of skip;
// NULL when none has ready ranges.
struct job *tasq_broker_lane_pick(
    const struct lane *ln, struct job *const *skip, size_t nskip);
// Charges j (just picked) for ntasks leased: ln's virtual time becomes
// j's pass, which grows by ntasks strides.
void tasq_broker_lane_charge(struct lane *ln, struct job *j, uint64_t ntasks);
// The submit time of the oldest head range of ln's jobs (UINT64_MAX: none).
uint64_t tasq_broker_lane_oldest_ms(const struct lane *ln);
// The tasks of r without a result (0 when its job is closed).
uint32_t tasq_broker_range_undone(const struct range *r);
void     tasq_broker_range_free(tasq_broker *b, struct range *r);

// ---- broker_job.c: jobs, chunks, results -------------------------------

// tasq_broker_job_find returns the open job id, or NULL.
struct job *tasq_broker_job_find(tasq_broker *b, uint64_t id);
// tasq_broker_job_create makes job id of q. Errors:
// TASQ_ERESOURCE_EXHAUSTED (max_jobs), NNG_ENOMEM.
// type (never NULL), legacy and retry (NULL: defaults) are the job's for
// its life.
int tasq_broker_job_create(tasq_broker *b, uint64_t id, struct queue *q,
    const char *type, bool legacy, const tasq_retry *retry, uint64_t now_ms,
    struct job **jp);
// Undoes tasq_broker_job_create of a job still without chunks.
void tasq_broker_job_unmake(tasq_broker *b, struct job *j);
// Frees j and its columns, not its chunks (tasq_broker_free).
void tasq_broker_job_free(struct job *j);
// Ends a job: drops its ready ranges, results and delivery; its chunks
// go when their leases end. Returns the tasks and results dropped.
uint64_t tasq_broker_job_close(
    tasq_broker *b, struct job *j, tasq_waiter **wake);
// Cancels j (PROTOCOL.md 9.15; the CANCEL record is the caller's): drops
// its ready and delayed ranges, marks the leases holding its unfinished
// tasks cancelled (their workers are told), seals it, sets its done time
// to wall_ms (when not done), wakes its waiters and frees its chunks
// without leases. Returns the queued tasks dropped; *running gets its
// unfinished tasks under lease. A no-op (0) for a cancelled job.
uint64_t tasq_broker_job_cancel(tasq_broker *b, struct job *j,
    uint64_t wall_ms, uint32_t *running, tasq_waiter **wake);
// The unfinished tasks of j (cancelled or not) under lease.
uint32_t    tasq_broker_job_running(tasq_broker *b, const struct job *j);
uint64_t    tasq_broker_job_id(const struct job *j);
const char *tasq_broker_job_queue(const struct job *j);
const char *tasq_broker_job_type(const struct job *j);
// Whether j has tasks without a result.
bool tasq_broker_job_waiting(const struct job *j);
// Sets up a new job's (empty) ready list, out of the rotation, at the
// default priority.
void tasq_broker_job_ready_init(struct job *j);
// A job's priority (1..TASQ_WIRE_MAX_PRIORITY; _set takes 0 as the
// default) and its share of its lane: set it before the job has tasks.
uint32_t tasq_broker_job_priority(const struct job *j);
void     tasq_broker_job_priority_set(struct job *j, uint32_t priority);
// tasq_broker_job_counts_set restores the job's counters (snapshot).
void tasq_broker_job_counts_set(
    struct job *j, uint64_t submitted, uint64_t completed);

// The batches a job was given ([lo, hi), never merged). _check returns
// 1 if [lo, hi) is exactly an earlier batch, -1 if it overlaps one, 0
// if it is new. _reserve makes room for one, after which _insert cannot
// fail; _add is both (NNG_ENOMEM).
int  tasq_broker_ivals_check(const struct job *j, uint64_t lo, uint64_t hi);
bool tasq_broker_ivals_contains(const struct job *j, uint64_t id);
int  tasq_broker_ivals_reserve(struct job *j);
void tasq_broker_ivals_insert(struct job *j, uint64_t lo, uint64_t hi);
int  tasq_broker_ivals_add(struct job *j, uint64_t lo, uint64_t hi);

// A chunk and its first range, allocated before a submit is journaled
// (_prepare, NNG_ENOMEM), so that adding them afterwards (_commit) cannot
// fail. _prep_fini frees what was not committed. done (NULL: none) marks
// tasks that already have a result (snapshot).
struct chunk_prep {
	struct chunk *c;
	struct range *r;
};
int tasq_broker_chunk_prepare(
    struct job *j, size_t n, const tasq_blobs *payloads, struct chunk_prep *p);
void tasq_broker_chunk_commit(tasq_broker *b, struct job *j,
    struct chunk_prep *p, uint64_t first, size_t n, const tasq_blobs *payloads,
    const uint64_t *done);
void tasq_broker_chunk_prep_fini(struct chunk_prep *p);
void tasq_broker_chunk_free_mem(struct chunk *c);
int  tasq_broker_chunk_add(tasq_broker *b, struct job *j, uint64_t first,
     size_t n, const tasq_blobs *payloads, const uint64_t *done);

struct chunk *tasq_broker_chunk_of(const struct job *j, uint64_t id);
// As tasq_broker_chunk_of, trying *hint (then updated) first.
struct chunk *tasq_broker_chunk_of_hint(
    const struct job *j, uint64_t id, struct chunk **hint);
void tasq_broker_chunk_unref(tasq_broker *b, struct chunk *c);

// Makes room for more results of bytes bytes in all (and for error
// messages, with errs) in j, so that as many task_finish calls cannot
// fail. Errors: NNG_ENOMEM (j unchanged but for its capacity).
int tasq_broker_results_reserve(
    struct job *j, size_t more, size_t bytes, bool errs);
// Records the first result of task off in c: len bytes at res, code, and
// err (taken: allocated with tasq_alloc, NULL for none). Returns false if
// it could not be stored (out of memory; err freed): the task then stays
// undone.
bool tasq_broker_task_finish(tasq_broker *b, struct chunk *c, uint32_t off,
    const uint8_t *res, uint32_t len, uint32_t code, char *err,
    tasq_waiter **wake);
// The payload of task off of c (borrowed).
void tasq_broker_task_payload(
    const struct chunk *c, uint32_t off, const uint8_t **p, uint32_t *len);
// tasq_broker_result_apply records the result of task id of j unless it
// has one (or its chunk is gone): a replayed RESULTS record. Borrows res
// and err (NULL or "": none). NNG_ENOMEM.
int tasq_broker_result_apply(tasq_broker *b, struct job *j, uint64_t id,
    const uint8_t *res, uint32_t len, uint32_t code, const char *err);
// tasq_broker_result_restore appends a result that exists (its chunk
// says done) to j's list: a snapshot's PENDING record. NNG_ENOMEM.
int tasq_broker_result_restore(tasq_broker *b, struct job *j, uint64_t id,
    const uint8_t *res, uint32_t len, uint32_t code, const char *err);
// tasq_broker_results_drop forgets the first n undelivered results of j
// (a replayed ACK). Errors: TASQ_EDATA_LOSS (fewer than n).
int tasq_broker_results_drop(tasq_broker *b, struct job *j, size_t n);

// tasq_broker_job_fetch makes or repeats j's delivery (ack_seq
// acknowledges the current one) and copies it into out (nothing when
// there is none). All or nothing. Errors: NNG_ENOMEM.
int tasq_broker_job_fetch(tasq_broker *b, struct job *j, uint64_t ack_seq,
    uint32_t max, tasq_fetch_out *out);
// Results of the current delivery when ack_seq names it, else 0.
uint64_t tasq_broker_job_acked(const struct job *j, uint64_t ack_seq);

// Read-only views of a job for snapshots (valid until the state changes).
typedef struct tasq_job_view {
	const char *queue;
	const char *type;
	bool        legacy;
	tasq_retry  retry;
	uint64_t    id;
	uint64_t    submitted, completed;
	size_t      nivals;
	size_t      nchunks;
	bool        cancelled;    // a CANCEL record follows
	uint64_t    done_wall_ms; // its time
} tasq_job_view;

typedef struct tasq_chunk_view {
	uint64_t        first;
	uint32_t        n;
	uint32_t        width; // > 0: fixed; 0: offs has n + 1 offsets
	const uint32_t *offs;
	const uint8_t  *data;
	size_t          size;
	const uint64_t *done; // (n + 63) / 64 words
} tasq_chunk_view;

typedef struct tasq_results_view {
	size_t             n;
	const uint64_t    *ids;
	const uint32_t    *codes;
	const uint32_t    *lens;
	const char *const *errs; // NULL: none
	const uint8_t     *data; // size bytes, the results in order
	size_t             size;
} tasq_results_view;

void tasq_broker_job_view(const struct job *j, tasq_job_view *v);
void tasq_broker_job_ival(
    const struct job *j, size_t i, uint64_t *lo, uint64_t *hi);
void tasq_broker_job_chunk(const struct job *j, size_t i, tasq_chunk_view *v);
// The unacknowledged delivery (delivered) or the undelivered results.
void tasq_broker_job_results(
    const struct job *j, bool delivered, tasq_results_view *v);
// tasq_broker_job_next walks the open jobs (*pos starts at 0).
struct job *tasq_broker_job_next(tasq_broker *b, size_t *pos);

// ---- broker_dead.c: dead letters -------------------------------------------

typedef struct tasq_dead_view {
	uint64_t       id; // 0: the next (tasq_broker_dead_add)
	uint64_t       job, task;
	const char    *queue, *type;
	const uint8_t *payload;
	uint32_t       len;
	uint32_t       attempts, code;
	const char    *error; // NULL or "": none
	uint64_t       time_ms;
} tasq_dead_view;

struct dead;
// tasq_broker_dead_new copies v into a new dead letter (NULL: out of
// memory); tasq_broker_dead_free frees one not added.
struct dead *tasq_broker_dead_new(const tasq_dead_view *v);
void         tasq_broker_dead_free(struct dead *d);
void         tasq_broker_dead_view(const struct dead *d, tasq_dead_view *v);
// Makes room for more letters, so that as many _adds cannot fail.
int      tasq_broker_dead_reserve(tasq_broker *b, size_t more);
uint64_t tasq_broker_dead_next_id(tasq_broker *b);
// Adds d (taken; its id set, or the next), dropping the oldest at
// --max-dead.
void tasq_broker_dead_add(tasq_broker *b, struct dead *d);
// Forgets the letters listed in ids, or with all those of queue (NULL or
// "": all); returns how many.
uint64_t tasq_broker_dead_remove(tasq_broker *b, const uint64_t *ids, size_t n,
    bool all, const char *queue);
size_t   tasq_broker_dead_count(const tasq_broker *b);
const struct dead *tasq_broker_dead_get(const tasq_broker *b, size_t i);
int  tasq_broker_dead_list_locked(tasq_broker *b, const char *queue,
     uint64_t after_id, uint32_t max, bool payloads, tasq_rep *rep);
void tasq_broker_dead_fini(tasq_broker *b);

// ---- broker_lease.c: leases and workers ----------------------------------

// Finds or registers worker id (*created) and notes that it was seen.
// Errors: TASQ_ERESOURCE_EXHAUSTED (max_workers), NNG_ENOMEM.
int tasq_broker_worker_touch(tasq_broker *b, uint64_t id, const char *name,
    const char *queue, const char *const *types, size_t ntypes, uint32_t pipe,
    uint64_t now_ms, struct worker **wp, bool *created);
// tasq_broker_worker_queues sets the queues w serves in turn (n 0: its
// one queue); an unchanged list keeps its passes. qs borrowed; weights
// 0 taken as 1. Errors: NNG_ENOMEM (w unchanged).
int tasq_broker_worker_queues(
    tasq_broker *b, struct worker *w, const tasq_queue_weight *qs, size_t n);
// The connected workers of queue that serve type and leased, parked or
// handed in results within the last lease time.
uint32_t tasq_broker_type_workers(const tasq_broker *b, const char *queue,
    const char *type, uint64_t now_ms);
// The connected workers (of any queue) that leased, parked or handed in
// results within the last lease time.
uint32_t tasq_broker_workers_connected(const tasq_broker *b, uint64_t now_ms);
void     tasq_broker_worker_forget(tasq_broker *b, struct worker *w);
// tasq_broker_lease_take leases up to max ready tasks of q (whose head
// range has an unfinished task) to wk over pipe and fills out. Errors:
// NNG_ENOMEM (nothing changed).
int tasq_broker_lease_take(tasq_broker *b, struct lane *ln, struct worker *wk,
    uint32_t pipe, uint32_t max, bool legacy, uint64_t now_ms,
    tasq_lease_out *out);
// Ends l. With counts (expiry, lost connection), the attempt counts and
// ranges past max_attempts are dead-lettered: that needs memory, so it
// may fail (NNG_ENOMEM) and then l is left as it was. Without counts, it
// cannot fail. wake NULL: freeing the broker.
int tasq_broker_lease_end(
    tasq_broker *b, struct lease *l, bool counts, tasq_waiter **wake);
bool tasq_broker_lease_finished(const struct lease *l);
// tasq_broker_lease_retry takes task off of c out of lease l into a range
// of its own (*r1, and *r2 for the rest when it was in the middle: each
// set NULL when used), ready after the job's backoff for the attempt;
// not_before_ms is that time on the wall clock, as journaled
// (tasq_broker_retry_not_before).
void tasq_broker_lease_retry(tasq_broker *b, struct lease *l, struct chunk *c,
    uint32_t off, uint64_t now_ms, uint64_t not_before_ms, struct range **r1,
    struct range **r2, tasq_waiter **wake);
// When a retry after attempt of a task of j is due, on the wall clock.
uint64_t tasq_broker_retry_not_before(
    const tasq_broker *b, const struct job *j, uint32_t attempt);
// The wall clock of b (conf.wall_ms, or lib/clock.h).
uint64_t tasq_broker_wall_ms(const tasq_broker *b);
// tasq_broker_range_delay puts range d (its nb_ms and attempt set; in no
// list) in the delayed list until its wall time nb_ms, or makes it ready
// when that has passed (recovery).
void tasq_broker_range_delay(tasq_broker *b, struct range *d);
// tasq_broker_tries_list returns the ranges whose tasks have attempts
// behind them (ready, delayed, or leased: the deliveries before the
// lease's), for a snapshot: *items (free it) and *n. Errors: NNG_ENOMEM.
int tasq_broker_tries_list(tasq_broker *b, tasq_tries_item **items, size_t *n);
// Makes the retries due by now_ms ready.
void tasq_broker_delayed_due(
    tasq_broker *b, uint64_t now_ms, tasq_waiter **wake);
// Drops the retries of job j (closing it).
void tasq_broker_delayed_drop_job(tasq_broker *b, const struct job *j);
// The deliveries after which a task of j is given up.
uint32_t tasq_broker_max_attempts(const tasq_broker *b, const struct job *j);
// tasq_broker_dead_of makes the dead letter of task off of c (its id
// taken now). NULL: out of memory.
struct dead *tasq_broker_dead_of(tasq_broker *b, const struct chunk *c,
    uint32_t off, uint32_t attempts, uint32_t code, const char *err,
    const uint8_t *res, uint32_t reslen);
// tasq_broker_task_bury finishes task off of c with its last result
// (err taken) and adds its dead letter d (taken), recording the letter;
// room made by the caller (results_reserve, dead_reserve).
void tasq_broker_task_bury(tasq_broker *b, struct chunk *c, uint32_t off,
    const uint8_t *res, uint32_t len, uint32_t code, char *err, struct dead *d,
    tasq_waiter **wake);

// ---- broker_jobs.c: the job registry ---------------------------------------

// What a job is beyond its tasks (the JOB record): detached (keep), input
// complete (sealed), its result TTL, wall-clock times (created, done: 0
// not yet), failed results (has_failed: set), host (NULL: none).
typedef struct tasq_job_meta {
	bool        keep, sealed;
	uint64_t    result_ttl_ms;
	uint64_t    created_wall_ms, done_wall_ms;
	uint64_t    failed;
	bool        has_failed;
	const char *host;
} tasq_job_meta;

void tasq_broker_job_meta(const struct job *j, tasq_job_meta *m);
// Sets j's meta (host copied). Errors: NNG_ENOMEM (nothing changed).
int tasq_broker_job_meta_set(
    tasq_broker *b, struct job *j, const tasq_job_meta *m);
// The meta of req's new job (j NULL) or of j after req; returns whether
// it is worth a JOB record (new: detached or last; j: sealed now).
bool tasq_broker_job_meta_of(tasq_broker *b, const struct job *j,
    const tasq_submit_req *req, tasq_job_meta *m);
// Marks j done (its done time) when sealed and every task has a result.
void tasq_broker_job_check_done(tasq_broker *b, struct job *j);
// Expired detached jobs, remembered for Results' NOT_FOUND message.
void   tasq_broker_expired_add(tasq_broker *b, uint64_t id);
bool   tasq_broker_expired_has(const tasq_broker *b, uint64_t id);
size_t tasq_broker_expired_list(const tasq_broker *b, const uint64_t **ids);
// Records, closes and remembers the detached jobs past their result TTL.
void tasq_broker_jobs_expire(tasq_broker *b, tasq_waiter **wake);

// ---- persist.c: journal records of state changes ---------------------------
// No-ops without a journal or while recovering. They return 0 or the
// journal's error.
int tasq_persist_submit(tasq_broker *b, const tasq_submit_req *req);
// Results of job: n ids, u8 codes, lens and their bytes in data, errs
// (NULL: none; entries NULL or "" for none) with ebuf, room for
// tasq_persist_errs_size(n, errs) bytes. Allocates nothing: what a
// caller has prepared before it journals cannot then fail for want of
// memory.
int    tasq_persist_results(tasq_broker *b, uint64_t job, size_t n,
       const uint64_t *ids, const uint8_t *codes, const uint32_t *lens,
       const uint8_t *data, const char *const *errs, uint8_t *ebuf);
size_t tasq_persist_errs_size(size_t n, const char *const *errs);
int    tasq_persist_ack(tasq_broker *b, uint64_t job, size_t n);
// The attempts of n ranges of job (t: borrowed; allocates nothing).
int tasq_persist_tries(
    tasq_broker *b, uint64_t job, size_t n, const tasq_tries *t);
// tasq_persist_snap_tries appends the TRIES records of every range with
// attempts to buf (after the jobs' records).
int tasq_persist_snap_tries(
    tasq_broker *b, uint8_t **buf, size_t *len, size_t *cap);
// A dead letter (v->id set).
int tasq_persist_dead(tasq_broker *b, const tasq_dead_view *v);
int tasq_persist_dead_purge(tasq_broker *b, const uint64_t *ids, size_t n,
    bool all, const char *queue);
// tasq_persist_snap_dead appends the dead letters' records to buf.
int tasq_persist_snap_dead(
    tasq_broker *b, uint8_t **buf, size_t *len, size_t *cap);
int tasq_persist_close(tasq_broker *b, uint64_t job);
// A CANCEL record: job cancelled at wall_ms (wall clock).
int tasq_persist_cancel(tasq_broker *b, uint64_t job, uint64_t wall_ms);
// A JOB record of j (its header and meta); EXPIRED of n job ids.
int tasq_persist_job(tasq_broker *b, const struct job *j);
int tasq_persist_expired(tasq_broker *b, const uint64_t *ids, size_t n);
// tasq_persist_snap_expired appends the remembered expired ids to buf.
int tasq_persist_snap_expired(
    tasq_broker *b, uint8_t **buf, size_t *len, size_t *cap);
// The priority of job (after its first SUBMIT record).
int tasq_persist_priority(tasq_broker *b, uint64_t job, uint32_t priority);
// tasq_persist_replay applies the journal's snapshot and records
// (tasq_journal_recover) to the broker, which is recovering.
int tasq_persist_replay(tasq_broker *b, tasq_journal *j, uint64_t *records,
    uint64_t *bytes, char *err, size_t errlen);
// tasq_persist_snap_job appends j's snapshot records to buf.
int tasq_persist_snap_job(
    struct job *j, uint8_t **buf, size_t *len, size_t *cap);

#endif
