// broker: tasq's state: named queues of task ranges, jobs (one client
// submission each) with their results, leases held by workers, and the
// worker registry. It does no I/O: the RPC layer (server/service.c) calls
// it with decoded requests and the current time, which keeps it testable
// (broker_test.c drives it with a fake clock).
//
// Model. A task is (type, payload bytes); a job has one type, fixed by
// its first batch, with its retry policy. A Submit adds a chunk (the
// tasks of one request: their payloads as one column) to its job and a
// range covering it to the tail of its type's lane in the job's queue.
// Lease takes tasks from the head ranges of a lane the worker serves into
// a lease owned by the worker and its connection (pipe). A task is done
// when its first result (bytes, code, message) arrives: one bit per task
// in its chunk, so later results for it (a redelivery, a late worker) are
// counted as duplicates and dropped; a failure that is not final
// (tasq_wire_code_final) sends the task back after the job's backoff
// instead, until its last attempt. Results wait in their job until the
// job's client fetches and then acknowledges them. A lease that expires,
// or whose pipe closes, puts its unfinished tasks back at the head of
// their lane with the attempt count raised; past the job's max attempts
// they are dead-lettered: they get an ABORTED result so that their client
// is not left waiting, and a dead letter (DeadList) keeps their payload.
//
// Failure: every operation is all or nothing, in memory and in the
// journal. It allocates what it needs first, then journals, then changes
// state in steps that cannot fail; an operation refused (out of memory
// included) leaves no trace, so that its retry is not taken for a
// duplicate. broker_oom_test.c fails each allocation in turn.
//
// Threads: every function is thread-safe (one mutex per broker, held only
// while state changes; never across a call out). Waiters are woken by
// calling the wake callback after the mutex is released.
#ifndef TASQ_BROKER_H
#define TASQ_BROKER_H

#include <stdbool.h>
#include <stdint.h>

#include "journal.h"
#include "stats.h"
#include "wire.h"

typedef struct tasq_broker tasq_broker;

typedef struct tasq_broker_conf {
	uint64_t max_tasks; // tasks held: ready + leased + unfetched results
	// Payload and result bytes held by those tasks (0: 1 GiB).
	uint64_t max_payload_bytes;
	uint32_t max_batch; // tasks in one submit
	uint32_t max_queues;
	uint32_t max_jobs;
	uint32_t max_workers;
	uint32_t lease_ms;
	uint32_t max_attempts;     // deliveries before a task is dead-lettered
	uint64_t max_dead;         // dead letters kept (0: 100000)
	uint64_t (*wall_ms)(void); // a dead letter's time (NULL: the clock)
	uint64_t job_ttl_ms; // a job untouched by its client this long ends
	uint32_t max_fetch;  // results in one fetch reply
	uint32_t max_lease;  // tasks in one lease
	uint64_t seq_base;   // high bits of fetch delivery numbers: random
	                     // per server start, so that an acknowledgement
	                     // from before a restart matches nothing

	// A queue that no job, task, result, lease or waiting worker has
	// used for this long is removed (0: 60 s); see docs/PROTOCOL.md 12.
	uint64_t queue_idle_ms;

	// Where the broker counts its events (server/stats.h), borrowed
	// until tasq_broker_free; NULL: a registry of its own (tests).
	tasq_stats *stats;
	// A detached job's results are kept this long after it is done
	// when its client does not say (SubmitRequest.result_ttl_ms).
	uint64_t result_ttl_ms;
} tasq_broker_conf;

// A waiter is embedded in the caller's long-poll state. The broker links
// it into a queue (Lease) or a job (Fetch) when there is nothing to
// return, and calls wake(w) once, after unlinking it, when there may be.
typedef struct tasq_waiter {
	struct tasq_waiter *next, *prev;
	void               *list; // private
	bool                woken;
} tasq_waiter;

typedef void (*tasq_wake_cb)(tasq_waiter *w);

// tasq_broker_alloc returns a new broker (free with tasq_broker_free).
// wake is called on the thread that made work available. Errors:
// NNG_ENOMEM.
int tasq_broker_alloc(
    tasq_broker **bp, const tasq_broker_conf *conf, tasq_wake_cb wake);
void tasq_broker_free(tasq_broker *b);

// tasq_broker_journal_failed says whether the journal failed closed (see
// tasq_journal_failed): the server then takes no new work until it is
// restarted. False without a journal.
bool tasq_broker_journal_failed(tasq_broker *b);

// tasq_broker_counter returns counter's value in the broker's registry
// (conf.stats, or its own).
uint64_t tasq_broker_counter(tasq_broker *b, int counter);

// tasq_broker_submit enqueues the req->n tasks of req (ids first_index..
// of job_id in queue), of req->type (NULL or "": square) with
// req->payloads (a column of n items, checked by the caller: the wire
// decoder). The job's first batch fixes its type, its retry policy and
// whether it is legacy (results fetched as values). Borrows req. A batch
// already submitted is accepted again as a duplicate (*dup = true) and
// not enqueued twice. Errors, with *why: TASQ_EINVALID_ARGUMENT (batch
// too large, overlaps part of an earlier one, job of another queue or
// type), TASQ_EFAILED_PRECONDITION (job closed; too many queues:
// permanent for the caller), TASQ_ERESOURCE_EXHAUSTED (max-tasks,
// max-payload-bytes, too many jobs: retry later), NNG_ENOMEM (retry
// later), the journal's error.
int tasq_broker_submit(tasq_broker *b, const tasq_submit_req *req,
    uint64_t now_ms, uint32_t *accepted, bool *dup, const char **why);

// The result of a lease: batches and the arrays they point into, owned by
// the struct (release with tasq_broker_lease_fini).
typedef struct tasq_lease_out {
	size_t           nbatches;
	tasq_task_batch *batches;
	uint32_t         lease_ms;
	void            *mem_;
	// Leases of the worker that hold tasks of a cancelled job
	// (LeaseReply.cancelled, PROTOCOL.md 9.15).
	size_t   ncancelled;
	uint64_t cancelled[TASQ_WIRE_MAX_CANCELLED];
} tasq_lease_out;

// tasq_broker_lease leases up to max tasks of queue to worker_id over
// pipe_id, of one of the ntypes types (borrowed); ntypes 0 is a legacy
// worker: square tasks only, in batches marked legacy. The tasks of one
// lease are of one type: of the queue's types the worker serves with
// ready tasks, the first after the type of the queue's last lease. When none
// are ready and w is not NULL, w is parked on the queue and *parked set.
// Within a type, the jobs with ready tasks take turns by priority (stride
// scheduling over the tasks leased, docs/PROTOCOL.md 11.1); one lease may
// hold batches of several jobs, one per range.
// out->cancelled lists the worker's leases that hold tasks of a cancelled
// job (at most TASQ_WIRE_MAX_CANCELLED); while one of them has not been
// listed before, the call does not park (the worker hears at once).
// Errors: TASQ_ERESOURCE_EXHAUSTED (too many workers or queues), NNG_ENOMEM.
int tasq_broker_lease(tasq_broker *b, const char *queue, uint64_t worker_id,
    const char *worker_name, const char *const *types, size_t ntypes,
    uint32_t pipe_id, uint32_t max, uint64_t now_ms, tasq_lease_out *out,
    tasq_waiter *w, bool *parked);
// tasq_broker_lease_queues is tasq_broker_lease for a worker that may
// serve several queues (nqueues > 0: queues, borrowed, with their
// weights; queue is then only the name stats show). The queues take turns
// by weight (stride scheduling over the tasks leased, docs/PROTOCOL.md
// 11.1): each lease comes from the queue of the lowest pass with ready
// tasks of the worker's types; a worker that finds none is parked on
// the broker, woken by news in any queue. nqueues 0 is tasq_broker_lease.
// Errors as tasq_broker_lease.
int  tasq_broker_lease_queues(tasq_broker *b, const char *queue,
     const tasq_queue_weight *queues, size_t nqueues, uint64_t worker_id,
     const char *worker_name, const char *const *types, size_t ntypes,
     uint32_t pipe_id, uint32_t max, uint64_t now_ms, tasq_lease_out *out,
     tasq_waiter *w, bool *parked);
void tasq_broker_lease_fini(tasq_lease_out *out);

// tasq_broker_complete records results (each batch's results column,
// codes and errors; checked by the caller); out counts what happened to
// them. Errors: the journal's (results not recorded: send them again
// later), NNG_ENOMEM.
int tasq_broker_complete(tasq_broker *b, uint64_t worker_id, size_t nres,
    const tasq_result_batch *res, uint64_t now_ms, tasq_complete_rep *out);

// tasq_broker_extend renews leases of worker_id; ids that are not live
// leases of it are copied to unknown (room for n) and counted in *nunknown.
void tasq_broker_extend(tasq_broker *b, uint64_t worker_id, size_t n,
    const uint64_t *ids, uint64_t now_ms, uint64_t *unknown, size_t *nunknown,
    uint32_t *lease_ms);

// tasq_broker_extend_cancelled is tasq_broker_extend that also copies the
// ids that hold tasks of a cancelled job to cancelled (room for n), their
// number in *ncancelled (ExtendReply.cancelled, PROTOCOL.md 9.15).
void tasq_broker_extend_cancelled(tasq_broker *b, uint64_t worker_id, size_t n,
    const uint64_t *ids, uint64_t now_ms, uint64_t *unknown, size_t *nunknown,
    uint64_t *cancelled, size_t *ncancelled, uint32_t *lease_ms);

// tasq_broker_release hands leases back without results; the tasks are
// ready again at once and the attempt does not count.
uint32_t tasq_broker_release(tasq_broker *b, uint64_t worker_id, size_t n,
    const uint64_t *ids, uint64_t now_ms);

typedef struct tasq_fetch_out {
	uint64_t     seq;
	size_t       n;
	uint64_t    *ids;
	tasq_blobs   results; // n items
	uint32_t    *codes;   // NULL when all OK
	const char **errors;  // NULL when none has a message
	uint64_t     submitted;
	uint64_t     completed;
	bool         legacy;    // the job was submitted legacy
	bool         no_worker; // tasks wait, no worker serves their type
	uint32_t     workers;   // with no_worker: workers connected
	void        *mem_;
} tasq_fetch_out;

// tasq_broker_fetch returns results of job_id. ack_seq acknowledges the
// previous delivery (whose results are then forgotten); an unacknowledged
// delivery is returned again. When there is nothing and w is not NULL, w
// is parked on the job. Errors: TASQ_ENOT_FOUND, NNG_ENOMEM.
int  tasq_broker_fetch(tasq_broker *b, uint64_t job_id, uint64_t ack_seq,
     uint32_t max, uint64_t now_ms, tasq_fetch_out *out, tasq_waiter *w,
     bool *parked);
void tasq_broker_fetch_fini(tasq_fetch_out *out);

// tasq_broker_close_job_ack ends a job: its tasks and results are
// dropped. ack_seq, when it is the job's current delivery, acknowledges
// it first (CloseJob.ack_seq, docs/PROTOCOL.md 9.7), so that *dropped
// counts only what the client never had. Errors: TASQ_ENOT_FOUND, the
// journal's.
int tasq_broker_close_job_ack(tasq_broker *b, uint64_t job_id,
    uint64_t ack_seq, uint64_t now_ms, uint64_t *dropped);

// tasq_broker_close_job is tasq_broker_close_job_ack with no ack_seq.
int tasq_broker_close_job(
    tasq_broker *b, uint64_t job_id, uint64_t now_ms, uint64_t *dropped);

// tasq_broker_unpark unlinks w if it is still parked; returns whether it
// had been woken.
bool tasq_broker_unpark(tasq_broker *b, tasq_waiter *w);

// tasq_broker_pipe_gone returns the leases held over pipe_id to their
// queues (the worker's connection closed).
void tasq_broker_pipe_gone(tasq_broker *b, uint32_t pipe_id, uint64_t now_ms);

// tasq_broker_tick expires leases and idle jobs and forgets old workers.
void tasq_broker_tick(tasq_broker *b, uint64_t now_ms);

// tasq_broker_recover replays the journal's snapshot and records into
// an empty broker, then attaches the journal: from then on every state
// change is recorded before it is made. On failure err says which file
// and offset, and how to proceed.
int tasq_broker_recover(tasq_broker *b, tasq_journal *j, char *err,
    size_t errlen, uint64_t *records, uint64_t *bytes);

// tasq_broker_compact writes a snapshot and starts a new journal
// generation when the journal asks for it (see journal.h).
int tasq_broker_compact(tasq_broker *b);

// tasq_broker_dead_list fills rep (method TASQ_M_DEAD_LIST) with the dead
// letters of queue (NULL or "": all) with id > after_id, oldest first, at
// most max (0: 1000), with their payloads when payloads is set (within
// the reply's room: a payload that does not fit is left out, its
// payload_len says how long it is). Release with tasq_broker_stats_fini.
// Errors: NNG_ENOMEM.
int tasq_broker_dead_list(tasq_broker *b, const char *queue, uint64_t after_id,
    uint32_t max, bool payloads, tasq_rep *rep);

// tasq_broker_dead_purge forgets the dead letters listed in ids (n), or
// with all, every one of queue (NULL or "": all queues); *purged counts
// them. Errors: the journal's.
int tasq_broker_dead_purge(tasq_broker *b, const uint64_t *ids, size_t n,
    bool all, const char *queue, uint64_t *purged);

// tasq_broker_queue_age_ms returns the latency of queue: the age, at
// now_ms, of the oldest task at the head of its ready lanes (the next to
// be leased; a task waiting out a retry's backoff is not ready), 0 when
// none is ready or there is no such queue. A task's age counts from its
// submit (from the server's start for tasks replayed from the journal).
uint64_t tasq_broker_queue_age_ms(
    tasq_broker *b, const char *queue, uint64_t now_ms);

// A job's JobInfo with room for its strings.
typedef struct tasq_job_info_buf {
	tasq_job_info info;
	char          queue[TASQ_WIRE_MAX_NAME + 1];
	char          type[TASQ_WIRE_MAX_NAME + 1];
	char          host[TASQ_WIRE_MAX_HOST + 1];
} tasq_job_info_buf;

// tasq_broker_job_status describes job_id in *out. Errors, with *why:
// TASQ_ENOT_FOUND (unknown, closed or expired: *why says which it can).
int tasq_broker_job_status(tasq_broker *b, uint64_t job_id, uint64_t now_ms,
    tasq_job_info_buf *out, const char **why);

// tasq_broker_job_list fills rep (TASQ_M_JOB_LIST) with the open jobs of
// queue (NULL or "": all), at most max (0: 1000); release with
// tasq_broker_stats_fini. Errors: NNG_ENOMEM.
int tasq_broker_job_list(tasq_broker *b, const char *queue, uint32_t max,
    uint64_t now_ms, tasq_rep *rep);

// tasq_broker_cancel cancels job_id (PROTOCOL.md 9.15): its queued
// tasks are dropped (*dropped), the workers holding leases on its
// unfinished tasks (*running) are told on their next Lease or Extend,
// results that come for it later are refused, and it stays (JobList,
// JobStatus, Results of what it has) in state CANCELLED until its result
// TTL (detached) or idle TTL (attached) ends it. A CANCEL record is
// journaled first. *out describes it after the cancel. Cancelling a
// cancelled job is a no-op (0; *dropped 0, *running its tasks still
// out). Errors, with *why: TASQ_ENOT_FOUND (unknown or expired),
// TASQ_EFAILED_PRECONDITION (done: every task has its result), the
// journal's.
int tasq_broker_cancel(tasq_broker *b, uint64_t job_id, uint64_t now_ms,
    uint64_t *dropped, uint32_t *running, tasq_job_info_buf *out,
    const char **why);

// Results of a detached job in task id order (PROTOCOL.md 9.14),
// pointing into mem_ (release with tasq_broker_results_fini).
typedef struct tasq_results_out {
	size_t            n;
	uint64_t         *ids;
	uint32_t         *codes;  // NULL: all OK
	const char      **errors; // NULL: none
	tasq_blobs        results;
	uint64_t          next_index;
	tasq_job_info_buf job;
	void             *mem_;
} tasq_results_out;

// tasq_broker_results returns the results of detached job job_id with
// ids from from on, in id order, up to the first task without one, at
// most max (0 or over max_fetch: max_fetch). When there is none and the
// job is not done, w (if not NULL) is parked on the job. Errors, with
// *why: TASQ_ENOT_FOUND (unknown or expired), TASQ_EFAILED_PRECONDITION
// (not detached), NNG_ENOMEM.
int  tasq_broker_results(tasq_broker *b, uint64_t job_id, uint64_t from,
     uint32_t max, uint64_t now_ms, tasq_results_out *out, tasq_waiter *w,
     bool *parked, const char **why);
void tasq_broker_results_fini(tasq_results_out *out);

// tasq_broker_stats fills rep (method TASQ_M_STATS) with a snapshot of
// the queues, workers and dead letters, and of every counter of the
// broker's registry (tasq_stats_snapshot), taken with the broker's lock
// held so that the counters the broker increments agree with its queues'
// totals; release with tasq_broker_stats_fini. Errors: NNG_ENOMEM.
int  tasq_broker_stats(tasq_broker *b, uint64_t now_ms, tasq_rep *rep);
void tasq_broker_stats_fini(tasq_rep *rep);

#endif
