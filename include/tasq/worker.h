// tasq/worker.h: the worker side of libtasq, included by <tasq/tasq.h>
// (include that one). A program serves task types: it leases batches of
// tasks of those types from a tasq-server, computes a result for each
// task and hands the results back, while the library keeps its leases
// alive. docs/LIBRARY.md, "The worker side", is the tour.
//
//	static int
//	square(void *arg, tasq_lease *l, size_t i, const void *p, size_t n)
//	{
//		int64_t v;
//		memcpy(&v, p, 8); // "square": 8 bytes, int64 little-endian
//		if (__builtin_mul_overflow(v, v, &v))
//			return (TASQ_EOUT_OF_RANGE); // final: not retried
//		return (tasq_lease_put(l, i, &v, 8));
//	}
//	...
//	tasq_serve_handler h[] = { { "square", square, NULL, NULL } };
//	tasq_serve_alloc(&w, session);
//	tasq_serve_run(w, h, 1, 2); // until tasq_serve_stop(w)
//	tasq_serve_free(w);
//
// Or by hand: tasq_serve_add_type, then tasq_serve_lease gives a
// tasq_lease (a batch of tasks of one type, of one or more jobs), whose
// tasks the caller reads (tasq_lease_payload) and answers
// (tasq_lease_put, tasq_lease_fail), then hands back: tasq_lease_done
// (the results ride on the next Lease, one round trip per batch, as the
// tasq-worker tool does), tasq_lease_complete (sent now), or
// tasq_lease_release (given back without results, for another worker).
//
// Leases: the server takes a lease back when it has not heard of it for
// its lease time (tasq-server --lease, default 30 s) or when the session's
// connection closes; its tasks then go to another worker. While the
// caller holds a lease (from tasq_serve_lease until it is handed back),
// a thread of the serve handle renews it: heartbeats to the server's
// heartbeat port several times per lease time, or the Extend request
// when there is no heartbeat port (docs/PROTOCOL.md 9.4). A handler may
// so take longer than the lease time. A process that dies holds nothing:
// its connection closes and its tasks go to another worker.
//
// Codes: a task fails with a status code, TASQ_E* (or the bare wire code,
// 1 to 16). Codes that another attempt cannot fix are final
// (tasq_lease_code_final: INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS,
// PERMISSION_DENIED, FAILED_PRECONDITION, OUT_OF_RANGE, UNIMPLEMENTED,
// UNAUTHENTICATED): the job's client gets that failure. Any other code
// (UNKNOWN, INTERNAL, UNAVAILABLE, RESOURCE_EXHAUSTED, ...) makes the
// server run the task again, up to the job's attempts
// (docs/PROTOCOL.md 8.2).
//
// Threads: a tasq_serve is thread-safe: any number of threads may lease
// from one serve handle at once, each holding its own leases. A
// tasq_lease is used by one thread at a time (the one that holds it),
// except tasq_lease_cancelled, which any thread may call.
//
// This header is included by <tasq/tasq.h> and includes nothing itself.
#ifndef TASQ_WORKER_H
#define TASQ_WORKER_H

#ifndef TASQ_TASQ_H
#error "include <tasq/tasq.h>, which includes <tasq/worker.h>"
#endif

#ifdef __cplusplus
extern "C" {
#endif

// ---- The serve handle ------------------------------------------------------
//
// A worker on a session: the task types and queues it serves, its worker
// id (random, one per handle: tasq stats lists it), the results it has
// to send and the leases it keeps alive.
typedef struct tasq_serve tasq_serve;

// A batch of leased tasks (see tasq_serve_lease).
typedef struct tasq_lease tasq_lease;

// tasq_serve_alloc returns a new serve handle on session s (*wp: free
// with tasq_serve_free, before s is freed). It serves no type yet, from
// the queue "default", up to 16384 tasks a lease, waiting up to 1 s for
// tasks. It starts the handle's thread (heartbeats). s may be NULL: w
// then has no session until tasq_serve_dial gives it one of its own
// (set it up in between). Errors: TASQ_EINVALID_ARGUMENT (wp NULL),
// TASQ_EUNAVAILABLE (s is closed), TASQ_ERESOURCE_EXHAUSTED.
TASQ_API int tasq_serve_alloc(tasq_serve **wp, tasq_session *s);

// tasq_serve_free hands back what w still holds and frees it: results
// handed back with tasq_lease_done are sent (one try of at most 2 s:
// tasq_serve_flush first where they must not be lost), leases not
// handed back are released (their tasks go to other workers) and their
// handles freed. Not from a callback of the library, and not while
// another call on w runs.
TASQ_API void tasq_serve_free(tasq_serve *w);

// tasq_serve_add_type adds a task type to those w serves (at most 64): a
// name of 1 to 64 bytes of [A-Za-z0-9._-]. The built-in types of
// tasq-worker, "square" and "sha256", are names like any other here.
// Takes effect at the next lease. Errors: TASQ_EINVALID_ARGUMENT (bad
// name), TASQ_EALREADY_EXISTS, TASQ_EOUT_OF_RANGE (64 already).
TASQ_API int tasq_serve_add_type(tasq_serve *w, const char *type);

// tasq_serve_add_queue adds a queue to serve with a weight (1 to 100; 0
// is 1): with several, the server takes them in turn by weight (queues
// a:3 and b:1 that both have tasks give this worker 75:25). At most 16.
// Without any, w serves the queue "default". Errors:
// TASQ_EINVALID_ARGUMENT (bad name or weight), TASQ_EALREADY_EXISTS,
// TASQ_EOUT_OF_RANGE.
TASQ_API int tasq_serve_add_queue(
    tasq_serve *w, const char *queue, uint32_t weight);

// tasq_serve_set_batch sets the most tasks one lease may hold (1 to
// 65536; default 16384). Errors: TASQ_EINVALID_ARGUMENT.
TASQ_API int tasq_serve_set_batch(tasq_serve *w, uint32_t max_tasks);

// tasq_serve_set_wait sets how long a lease waits at the server for
// tasks when there are none (0 to 60000 ms; default 1000; the server
// caps it at its --max-wait). Errors: TASQ_EINVALID_ARGUMENT.
TASQ_API int tasq_serve_set_wait(tasq_serve *w, uint32_t wait_ms);

// tasq_serve_set_name sets the name tasq stats shows for w (at most 64
// bytes, no control characters; default "HOST/PID/lib"). Errors:
// TASQ_EINVALID_ARGUMENT.
TASQ_API int tasq_serve_set_name(tasq_serve *w, const char *name);

// tasq_serve_set_heartbeat chooses where heartbeats go: NULL (the
// default) the port the server names (its Health reply), "none" no
// heartbeat channel (leases are renewed by Extend requests), or a URL,
// as tasq-worker --heartbeat. Call it before the first lease. Errors:
// TASQ_EFAILED_PRECONDITION (heartbeats started already),
// TASQ_EINVALID_ARGUMENT, TASQ_ERESOURCE_EXHAUSTED.
TASQ_API int tasq_serve_set_heartbeat(tasq_serve *w, const char *url);

// tasq_serve_set_max_request sets the size of the largest request w's
// results go in (2 MiB to 1 GiB; default 4 MiB, the server's default
// --max-message): more results go in several requests, as tasq-worker
// --max-request. Errors: TASQ_EINVALID_ARGUMENT.
TASQ_API int tasq_serve_set_max_request(tasq_serve *w, size_t max_bytes);

// tasq_serve_lease_ms returns the server's lease time as w last learned
// it from a lease (30000 before the first).
TASQ_API uint32_t tasq_serve_lease_ms(tasq_serve *w);

// tasq_serve_lease asks the server for a batch of tasks of w's types,
// waiting up to w's wait time for one; results handed back with
// tasq_lease_done go with the request. On success *lp is a new lease
// (hand it back with tasq_lease_done, _complete, _release or _free), or
// NULL when no task came in time. The library renews the lease until it
// is handed back. Errors: TASQ_EFAILED_PRECONDITION (w serves no type),
// TASQ_EINVALID_ARGUMENT (the server refused the request as such),
// TASQ_EUNAVAILABLE, TASQ_EDEADLINE_EXCEEDED (no answer: try again;
// the results that went with it are kept and go with the next one),
// TASQ_ERESOURCE_EXHAUSTED (the server is full: back off and retry),
// TASQ_EUNAUTHENTICATED.
//
// On a session with several servers (docs/LIBRARY.md, "Several servers:
// leasing from each"), each call is a round over the servers up, from
// one further than the last call's: each asked with no wait, the first
// batch taken; when none has a task, one long poll of at most 200 ms (or
// w's wait) on one that answered, so that tasks on any server wait that
// long at most for an idle worker. A lease's results, Release, Extend
// and heartbeats go to the server it came from. A server down is
// skipped; TASQ_EUNAVAILABLE only when none answered.
TASQ_API int tasq_serve_lease(tasq_lease **lp, tasq_serve *w);

// tasq_serve_lease_aio starts tasq_serve_lease on aio: when it completes
// with 0, *lp holds the lease or NULL. A lease that comes after the aio
// was cancelled or timed out is released by the library. Errors (not
// started): TASQ_EINVALID_ARGUMENT (NULL, or aio busy),
// TASQ_EFAILED_PRECONDITION, TASQ_EUNAVAILABLE. With several servers
// each call asks one, the next up in turn, waiting at most 200 ms.
TASQ_API int tasq_serve_lease_aio(
    tasq_lease **lp, tasq_serve *w, tasq_aio *aio);

// tasq_serve_flush sends the results handed back with tasq_lease_done
// now, by Complete requests, and waits for the server to take them
// (without it they go with the next lease, or within 100 ms by the
// handle's thread). Errors: TASQ_EUNAVAILABLE, TASQ_EDEADLINE_EXCEEDED
// (the results are kept, to go again later), TASQ_ERESOURCE_EXHAUSTED.
TASQ_API int tasq_serve_flush(tasq_serve *w);

// ---- A long-running worker -------------------------------------------------
//
// What a worker program needs besides (tasq-worker is built on these): to
// wait for a server that is not up yet, to say what becomes of its link,
// to choose what a refusal of its credentials means, and to hear of a
// cancel at once.

// The levels of the lines of a tasq_serve_log_fn.
#define TASQ_SERVE_LOG_ERROR 0
#define TASQ_SERVE_LOG_WARN 1
#define TASQ_SERVE_LOG_INFO 2
#define TASQ_SERVE_LOG_DEBUG 3

// A line about w's link to the server (line: text without a newline,
// borrowed until fn returns). One per change, with the reason: "server
// URL unreachable: ...", "connected to URL (server id ...) after N s",
// "lost the server URL: ...", "regained the server URL after N s (...)",
// a refusal with what to check (the key file, the CA file and server
// name), a status the server answered leases with; each retry only at
// TASQ_SERVE_LOG_DEBUG. Called on the threads that call into w and on
// nng's threads; it must not block or call into the library.
typedef void (*tasq_serve_log_fn)(void *arg, int level, const char *line);

// tasq_serve_set_log sets where w's link lines go (fn NULL, the default:
// nowhere). Call it before tasq_serve_dial or the first lease. Errors:
// TASQ_EINVALID_ARGUMENT (w NULL).
TASQ_API int tasq_serve_set_log(
    tasq_serve *w, tasq_serve_log_fn fn, void *arg);

// tasq_serve_set_refusal chooses what a refusal of w's credentials does
// (the server answers UNAUTHENTICATED or PERMISSION_DENIED, or the TLS
// handshake fails verification). retry false (the default): the call
// that meets it fails with TASQ_EUNAUTHENTICATED (tasq_serve_lease,
// tasq_serve_dial; tasq_serve_run returns it), only once the refusal's
// line went to the log function, from whichever thread told it (so a
// program may exit on it: tasq-worker --exit-on-auth-failure). retry
// true: the refusal is told once and w backs off, 1 s doubling to 60 s,
// one thread at a time making the next attempt: until then
// tasq_serve_lease fails with TASQ_EUNAUTHENTICATED after a pause of at
// most 200 ms, without asking the server; call it again (tasq_serve_run
// does); tasq_serve_dial retries by itself. Errors:
// TASQ_EINVALID_ARGUMENT.
TASQ_API int tasq_serve_set_refusal(tasq_serve *w, bool retry);

// Told that held lease l holds tasks of a cancelled job.
typedef void (*tasq_serve_cancel_fn)(void *arg, tasq_lease *l);

// tasq_serve_set_cancel_fn sets fn to be called when the server tells w
// that a lease it holds holds tasks of a cancelled job
// (tasq_lease_cancelled then says which tasks), so that a long handler
// can be stopped at once instead of polling. fn runs on w's thread or a
// leasing thread, while l cannot be freed: it must not block and may call
// only tasq_lease_cancelled, tasq_lease_count, tasq_lease_job and
// tasq_lease_task on l. Errors: TASQ_EINVALID_ARGUMENT (w NULL).
TASQ_API int tasq_serve_set_cancel_fn(
    tasq_serve *w, tasq_serve_cancel_fn fn, void *arg);

// tasq_serve_dial gives w, allocated without a session, a session of its
// own opened with opts (copied; NULL: the defaults and the environment,
// as tasq_session_open), freed with w. It dials until the server answers:
// an unreachable server (retried every 100 ms to 2 s), an address that
// does not resolve yet and a refused TLS handshake (retried with a
// backoff of 1 s to 60 s) are told once each through the log function;
// connect-timeout is not used. From then on w's session reconnects by
// itself (a server that restarts) and the log function hears of it.
// Errors: TASQ_ECANCELLED (tasq_serve_stop came first),
// TASQ_EUNAUTHENTICATED (the TLS handshake was refused and
// tasq_serve_set_refusal is not retry), TASQ_EINVALID_ARGUMENT (w NULL,
// or w has a session), and at once, not retried, tasq_session_open's
// errors for options it refuses (no key, a key file that cannot be
// read: TASQ_EINVALID_ARGUMENT, TASQ_ENOT_FOUND),
// TASQ_ERESOURCE_EXHAUSTED.
TASQ_API int tasq_serve_dial(tasq_serve *w, const tasq_opts *opts);

// ---- The serve loop --------------------------------------------------------

// A handler of one task: computes the result of task i of l (payload p,
// len bytes, borrowed until it returns) and puts it (tasq_lease_put) or
// fails the task (tasq_lease_fail). Returns 0, or a code (TASQ_E* or 1 to
// 16) that fails the task with it, unless the handler failed it itself.
// A task the handler gave no result gets an empty one.
typedef int (*tasq_serve_task_fn)(
    void *arg, tasq_lease *l, size_t i, const void *p, size_t len);

// A handler of a whole batch: puts or fails the results of l's tasks
// (tasq_lease_count, tasq_lease_payloads, tasq_lease_put_all, ...).
// Returns 0, or a code that fails every task left without a result.
// After 0, tasks left without a result are released (to another
// worker). It must not hand l back itself.
typedef int (*tasq_serve_batch_fn)(void *arg, tasq_lease *l);

// The handler of one type: task_fn or batch_fn (the other NULL), called
// with arg.
typedef struct tasq_serve_handler {
	const char         *type;
	tasq_serve_task_fn  task_fn;
	tasq_serve_batch_fn batch_fn;
	void               *arg;
} tasq_serve_handler;

// tasq_serve_run serves the n handlers' types (added to w's types) on
// nthreads threads (1 to 256; the calling thread is one of them), until
// tasq_serve_stop: each thread leases a batch, runs the handler of its
// type and hands the results back with its next lease, so that with 2 or
// more threads the network and the computation overlap. Handlers run
// concurrently on those threads (one batch per thread at a time). A
// task_fn is not called for tasks of a job cancelled while its batch
// runs (tasq_lease_cancelled): they are given back without a result.
// Transient errors (no server, server full) are retried with a backoff
// of 50 ms to 2 s. Returns 0 once stopped and the last results were sent
// (up to 10 s), or the first error that is not transient
// (TASQ_EINVALID_ARGUMENT, TASQ_EUNAUTHENTICATED,
// TASQ_EFAILED_PRECONDITION: every thread stops). Errors before it
// starts: TASQ_EINVALID_ARGUMENT (no handler, a handler with both or
// neither function, a bad type).
TASQ_API int tasq_serve_run(tasq_serve *w, const tasq_serve_handler *handlers,
    size_t n, uint32_t nthreads);

// tasq_serve_stop makes tasq_serve_run return: threads finish the batch
// in hand (a per-task handler stops between tasks and the rest is given
// back), within about the wait time. Final: a stopped w stays stopped.
// Async-signal-safe: it may be called from a signal handler.
TASQ_API void tasq_serve_stop(tasq_serve *w);

// ---- Leases ----------------------------------------------------------------
//
// A lease is one batch of tasks of one type, tasks 0 to count - 1, of
// one or more jobs. Everything it returns belongs to it and is valid
// until it is handed back (or freed).

// tasq_lease_count returns the number of tasks (at least 1).
TASQ_API size_t tasq_lease_count(const tasq_lease *l);

// tasq_lease_id returns the lease's id, as the server names it (its
// log, tasq stats): for a program's own log lines. 0 for NULL.
TASQ_API uint64_t tasq_lease_id(const tasq_lease *l);

// tasq_lease_type returns the task type.
TASQ_API const char *tasq_lease_type(const tasq_lease *l);

// tasq_lease_payload returns task i's payload and its length in *len
// (len may be NULL); NULL for i out of range.
TASQ_API const void *tasq_lease_payload(
    const tasq_lease *l, size_t i, size_t *len);

// tasq_lease_width returns the payloads' length when all have the same
// one above 0 (8 for "square"), else 0.
TASQ_API uint32_t tasq_lease_width(const tasq_lease *l);

// tasq_lease_payloads returns all payloads as one column: *datap (size
// bytes in *sizep), task i at i * width with a width (tasq_lease_width),
// else after the tasks before it, its length lens[i] (*lensp; NULL when
// there is a width; lensp may be NULL). Errors: TASQ_EINVALID_ARGUMENT,
// TASQ_ERESOURCE_EXHAUSTED (a lease of several jobs is joined once).
TASQ_API int tasq_lease_payloads(
    const void **datap, size_t *sizep, const uint32_t **lensp, tasq_lease *l);

// tasq_lease_job returns the id of task i's job (0 out of range).
TASQ_API uint64_t tasq_lease_job(const tasq_lease *l, size_t i);

// tasq_lease_task returns task i's id: its index in its job's input
// (what the job's client submitted it as).
TASQ_API uint64_t tasq_lease_task(const tasq_lease *l, size_t i);

// tasq_lease_attempt returns how many times task i has been delivered,
// this time included (1 the first time; more after a failure with a
// code that is not final, or a lease that expired).
TASQ_API uint32_t tasq_lease_attempt(const tasq_lease *l, size_t i);

// tasq_lease_cancelled says whether the server told that task i's job
// was cancelled (tasq cancel, tasq_job_cancel): its result is no longer
// wanted (the server would refuse it), so the handler may skip it, or
// stop and hand the lease back. The serve handle's thread learns it
// from the replies to lease requests and to an Extend request it makes
// once per heartbeat interval for leases held longer than that; with a
// lease of several jobs, it asks which of them (JobStatus). Any thread
// may call it, at any time while l is held.
TASQ_API bool tasq_lease_cancelled(const tasq_lease *l, size_t i);

// tasq_lease_put sets task i's result: len bytes at data (copied; at
// most 1 MiB: a larger result fails the task with OUT_OF_RANGE, a final
// code, and returns 0). Replaces an earlier result or failure of task i.
// Errors: TASQ_EINVALID_ARGUMENT (i out of range, data NULL with len),
// TASQ_ERESOURCE_EXHAUSTED.
TASQ_API int tasq_lease_put(
    tasq_lease *l, size_t i, const void *data, size_t len);

// tasq_lease_put_all sets every task's result at once from a column:
// size bytes at data (copied), task i's at i * width when width > 0,
// else lens[i] bytes after the tasks before it. Replaces all earlier
// results and failures. Errors: TASQ_EINVALID_ARGUMENT (the column does
// not hold count items, or an item over 1 MiB), TASQ_ERESOURCE_EXHAUSTED.
TASQ_API int tasq_lease_put_all(tasq_lease *l, const void *data, size_t size,
    uint32_t width, const uint32_t *lens);

// tasq_lease_put_column sets the results of tasks first to first + n - 1
// from a column, as tasq_lease_put_all does for all of them: size bytes
// at data (copied), task first + i's at i * width when width > 0, else
// lens[i] bytes after the ones before it. Replaces earlier results and
// failures of those tasks. Errors: TASQ_EINVALID_ARGUMENT (the range is
// not in the lease, or the column does not hold n items, or one is over
// 1 MiB), TASQ_ERESOURCE_EXHAUSTED.
TASQ_API int tasq_lease_put_column(tasq_lease *l, size_t first, size_t n,
    const void *data, size_t size, uint32_t width, const uint32_t *lens);

// tasq_lease_fail fails task i with code (TASQ_E*, or the wire code 1 to
// 16) and msg (copied; at most 1024 bytes are kept, bytes that are not
// UTF-8 become '?'; NULL: the code's name). Replaces an earlier result.
// Errors: TASQ_EINVALID_ARGUMENT (i or code out of range),
// TASQ_ERESOURCE_EXHAUSTED.
TASQ_API int tasq_lease_fail(
    tasq_lease *l, size_t i, int code, const char *msg);

// tasq_lease_code_final says whether a failure code is final (the job's
// client gets it) or makes the server try the task again (see the top).
TASQ_API bool tasq_lease_code_final(int code);

// tasq_lease_done hands l back with its results (tasks without one are
// released, for another worker): they go with w's next lease request
// from any thread, or within 100 ms by Complete when none comes, and
// again after an error, until the server has them. Takes l; never
// fails.
TASQ_API void tasq_lease_done(tasq_lease *l);

// tasq_lease_complete sends l's results now (Complete requests) and
// waits for the server to take them; tasks without a result are then
// released. On success l is freed. Errors: TASQ_EUNAVAILABLE,
// TASQ_EDEADLINE_EXCEEDED, TASQ_ERESOURCE_EXHAUSTED: l is still the
// caller's (try again, or tasq_lease_done).
TASQ_API int tasq_lease_complete(tasq_lease *l);

// tasq_lease_complete_aio starts tasq_lease_complete on aio and takes l:
// when it completes with 0 the server has the results; with an error
// (also a cancel) they were handed over as by tasq_lease_done, to go
// again. Errors (not started, l still the caller's):
// TASQ_EINVALID_ARGUMENT (NULL, or aio busy), TASQ_EUNAVAILABLE.
TASQ_API int tasq_lease_complete_aio(tasq_lease *l, tasq_aio *aio);

// tasq_lease_release gives l back without results, now: its tasks go to
// the head of their queue for another worker, and this delivery does not
// count as an attempt. On success l is freed. Errors: TASQ_EUNAVAILABLE,
// TASQ_EDEADLINE_EXCEEDED: l is still the caller's.
TASQ_API int tasq_lease_release(tasq_lease *l);

// tasq_lease_free frees l; a lease not handed back is released by w's
// thread (as tasq_lease_release, without waiting). NULL is fine.
TASQ_API void tasq_lease_free(tasq_lease *l);

#ifdef __cplusplus
}
#endif

#endif // TASQ_WORKER_H
