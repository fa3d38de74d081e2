// tasq/tasq.h: libtasq, the public C library of tasq.
//
//	#include <tasq/tasq.h>
//	cc prog.c $(pkg-config --cflags --libs tasq)
//
// A program connects to a tasq-server with a session, submits payloads
// of a task type to a queue as a job and reads the job's results in
// input order (the client side, tasq_job_*), or serves tasks of some
// types as a worker (the worker side, <tasq/worker.h>, included at the
// end). docs/LIBRARY.md is the tour; every function has a man page in
// section 3 (tasq_session_open(3), ...).
//
// This header includes only standard headers and may be used from C++.
//
// Conventions (the same for every function of the library):
// - Handles are opaque. What the library hands out is freed with its own
//   _free function; a _close refuses new work and aborts what is in
//   flight, but does not free. Every _free accepts NULL.
// - A call that can fail returns int: 0, or one of the TASQ_E* codes
//   below (never another number). The output parameter comes first. A
//   failed call returns nothing through its output parameters and takes
//   ownership of nothing. tasq_errmsg() then says why in a sentence.
// - Strings and buffers passed in are borrowed for the duration of the
//   call (the library copies what it keeps) unless the function says
//   otherwise. Strings returned as const char * belong to the library.
// - Asynchronous operations take a tasq_aio (below); the blocking form
//   of each behaves as the asynchronous one plus tasq_aio_wait on an aio
//   of the library's own.
//
// Threads (the rules; each type repeats its own in one sentence):
// - tasq_version, tasq_errstr, tasq_errname and tasq_errmsg may be called
//   from any thread at any time. tasq_errmsg is per thread.
// - A tasq_opts is not thread-safe: build it in one thread, then hand it
//   to tasq_session_open, which copies it; it may be freed at once.
// - A tasq_session is thread-safe: any number of threads may use one
//   session at once. tasq_session_close may be called from any thread,
//   also while other calls are in flight (they fail with
//   TASQ_ECANCELLED or TASQ_EUNAVAILABLE); tasq_session_free must be the
//   last call on the session and must not race with any other.
// - A tasq_aio carries one operation at a time; its functions
//   (wait, result, cancel, stop) may be called from any thread. Its
//   callback runs on a library thread, concurrently with other
//   callbacks: it must not block (no tasq_aio_wait, no blocking library
//   call), it may read the result and start the next operation on the
//   same aio, and it must not free its own aio.
// - Handles made from a session (jobs, the worker side's) are
//   thread-safe as each section below says; all of them must be freed
//   before their session is freed.
// - The library starts its own threads (nng's, two per live job, up to
//   eight per session for one-request operations, one for aio
//   timeouts); it never installs signal handlers or changes signal
//   dispositions.
#ifndef TASQ_TASQ_H
#define TASQ_TASQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// TASQ_API marks the exported functions; the library is built with
// hidden visibility, so nothing else is exported (nm -D libtasq.so
// shows only tasq_* symbols).
#if defined(__GNUC__) || defined(__clang__)
#define TASQ_API __attribute__((visibility("default")))
#else
#define TASQ_API
#endif

// ---- Versions -----------------------------------------------------------
//
// The version of tasq this header belongs to. The ABI is versioned by the
// shared library's SONAME (libtasq.so.1): within one SONAME, functions
// and constants are only ever added, never changed or removed, and
// handles stay opaque; structures the caller allocates (tasq_job_status)
// grow only at the end, behind a size field the caller sets. See
// docs/LIBRARY.md, "ABI and versions".
#define TASQ_VERSION_MAJOR 0
#define TASQ_VERSION_MINOR 1
#define TASQ_VERSION_PATCH 0
// One number that compares: 10000 * major + 100 * minor + patch.
#define TASQ_VERSION_NUMBER                                                   \
	(TASQ_VERSION_MAJOR * 10000 + TASQ_VERSION_MINOR * 100 +              \
	    TASQ_VERSION_PATCH)

// tasq_version returns the version of the library loaded at run time,
// "MAJOR.MINOR.PATCH" (a static string), which may be newer than the
// header a program was built with.
TASQ_API const char *tasq_version(void);

// ---- Errors -------------------------------------------------------------
//
// Every error is TASQ_ERR_BASE plus the gRPC-style status code that
// travels on the wire (docs/PROTOCOL.md), so a task's error code as a
// worker set it and a failed call's return value are the same numbers.
// The tasq tools print the same names (tasq submit: "error: NOT_FOUND").
#define TASQ_ERR_BASE 0x4000
#define TASQ_CODE_MAX 16

// Inside the library, lib/err.h declares the same enum (from one table);
// whichever header comes first defines it.
#ifndef TASQ_ERR_ENUM_DEFINED
#define TASQ_ERR_ENUM_DEFINED
enum tasq_err {
	TASQ_ECANCELLED           = TASQ_ERR_BASE + 1,
	TASQ_EUNKNOWN             = TASQ_ERR_BASE + 2,
	TASQ_EINVALID_ARGUMENT    = TASQ_ERR_BASE + 3,
	TASQ_EDEADLINE_EXCEEDED   = TASQ_ERR_BASE + 4,
	TASQ_ENOT_FOUND           = TASQ_ERR_BASE + 5,
	TASQ_EALREADY_EXISTS      = TASQ_ERR_BASE + 6,
	TASQ_EPERMISSION_DENIED   = TASQ_ERR_BASE + 7,
	TASQ_ERESOURCE_EXHAUSTED  = TASQ_ERR_BASE + 8,
	TASQ_EFAILED_PRECONDITION = TASQ_ERR_BASE + 9,
	TASQ_EABORTED             = TASQ_ERR_BASE + 10,
	TASQ_EOUT_OF_RANGE        = TASQ_ERR_BASE + 11,
	TASQ_EUNIMPLEMENTED       = TASQ_ERR_BASE + 12,
	TASQ_EINTERNAL            = TASQ_ERR_BASE + 13,
	TASQ_EUNAVAILABLE         = TASQ_ERR_BASE + 14,
	TASQ_EDATA_LOSS           = TASQ_ERR_BASE + 15,
	TASQ_EUNAUTHENTICATED     = TASQ_ERR_BASE + 16,
};
#endif

// What the library's calls return, in short:
// - TASQ_EINVALID_ARGUMENT: a bad argument or option (NULL handle, bad
//   name, a payload over 1 MiB, an unreadable key or TLS file, a busy
//   aio), or the server refused the request as such.
// - TASQ_EUNAVAILABLE: the server cannot be reached, or the session was
//   closed under the call.
// - TASQ_EUNAUTHENTICATED: the server and this program do not share a key
//   (or the server's certificate does not verify).
// - TASQ_EDEADLINE_EXCEEDED: an aio's timeout, or a request's, expired.
// - TASQ_ECANCELLED: tasq_aio_cancel, or the job was cancelled.
// - TASQ_ENOT_FOUND: no such job (never submitted, or its results
//   expired).
// - TASQ_ERESOURCE_EXHAUSTED: out of memory here, or the server is full
//   for longer than the call was allowed to retry.

// tasq_errstr returns a static message for any value the library returns
// ("ok" for 0, "invalid argument" for TASQ_EINVALID_ARGUMENT, ...), or for
// a task's error code plus TASQ_ERR_BASE. Thread-safe.
TASQ_API const char *tasq_errstr(int rv);

// tasq_errname returns the code's name ("OK", "INVALID_ARGUMENT", ...),
// the one the tools print, for a value the library returns; "UNKNOWN"
// for anything else. Thread-safe.
TASQ_API const char *tasq_errname(int rv);

// tasq_errmsg returns the calling thread's detail of the last call of the
// library that failed on this thread ("connecting to tcp://...: connection
// refused", "/etc/tasq/key: group or others can read it", ...), "" when
// there is none. The string stays valid until the next call of the
// library on this thread. Thread-safe (one message per thread).
TASQ_API const char *tasq_errmsg(void);

// ---- Connection options (tasq_opts) --------------------------------------
//
// The settings a session connects with, by the tools' option names:
//
//   name              environment          default
//   server            TASQ_SERVER          tcp://127.0.0.1:7070
//                                          (or URL,URL,...: several)
//   key-file          TASQ_KEY_FILE        (none) comma-separated files
//   key               TASQ_KEY             (none) the key itself
//   tls-ca            TASQ_TLS_CA          (none) needed for tls+tcp://
//   tls-cert          TASQ_TLS_CERT        (none) client certificate
//   tls-key           TASQ_TLS_KEY         (none) its private key
//   tls-server-name   -                    the server URL's host
//   tls-engine        TASQ_TLS_ENGINE      openssl (or builtin)
//   tls-min-version   -                    1.2
//   tls-max-version   -                    1.3
//   request-timeout   -                    10s   one request's deadline
//   connect-timeout   -                    5s    reaching the server
//   max-message       -                    64MiB largest reply
//   resolve-interval  -                    30s   names of a server list
//                                                looked up again
//
// Values are text as on the tools' command line ("30s", "16MiB"). A key
// must come from key-file or key: a session without one is refused.
// Precedence, whatever the order of the calls, is the tools':
// default < configuration file < environment < tasq_opts_set.
//
// The TLS engine and versions are process-wide (nng's): the first
// session opened in the process chooses them, and a later session that
// asks for others is refused with TASQ_EINVALID_ARGUMENT.
//
// Not thread-safe: one thread builds an options object, then sessions
// copy it.
typedef struct tasq_opts tasq_opts;

// tasq_opts_alloc returns new options holding the defaults (*optsp: free
// with tasq_opts_free). It reads neither the environment nor a file.
// Errors: TASQ_EINVALID_ARGUMENT (optsp NULL), TASQ_ERESOURCE_EXHAUSTED.
TASQ_API int  tasq_opts_alloc(tasq_opts **optsp);
TASQ_API void tasq_opts_free(tasq_opts *opts);

// tasq_opts_set sets the option name (the table above) to value (text,
// copied); value NULL resets it to its default. Errors:
// TASQ_EINVALID_ARGUMENT (unknown name, or a value the tools would refuse:
// a bad URL, duration or size; tasq_errmsg says which),
// TASQ_ERESOURCE_EXHAUSTED.
TASQ_API int tasq_opts_set(
    tasq_opts *opts, const char *name, const char *value);

// tasq_opts_get returns the option's current value as text in *valuep
// (NULL for an option not set and without a default; owned by opts, valid
// until it changes). The key is never returned: for "key" *valuep is
// "(set)" or NULL. Errors: TASQ_EINVALID_ARGUMENT (unknown name).
TASQ_API int tasq_opts_get(
    const tasq_opts *opts, const char *name, const char **valuep);

// tasq_opts_load_env reads the environment variables of the table, and
// first the configuration file that TASQ_CONFIG names, if it is set (as
// the tools do). Errors: those of tasq_opts_load_file, and
// TASQ_EINVALID_ARGUMENT for a bad value in a variable (tasq_errmsg names
// it).
TASQ_API int tasq_opts_load_env(tasq_opts *opts);

// tasq_opts_load_file reads a configuration file in the tools' format
// ("name value" or "name = value" lines with the option names above, '#'
// comments; tasq.conf(5)). Settings the library does not use (a
// tasq-worker's "jobs", a server's "listen", ...) are skipped, so a
// program can read the file its worker or server reads. Errors:
// TASQ_EINVALID_ARGUMENT (cannot be read, or a bad value: tasq_errmsg
// gives file:line), TASQ_ERESOURCE_EXHAUSTED.
TASQ_API int tasq_opts_load_file(tasq_opts *opts, const char *path);

// ---- Sessions ------------------------------------------------------------
//
// A session is a connection to one tasq-server (it reconnects by itself
// when the connection drops), authenticated with the shared key. Many
// jobs and operations share one session. Thread-safe: see the rules at
// the top.
typedef struct tasq_session tasq_session;

// tasq_session_open connects with opts (copied; NULL: the defaults and
// the environment, as tasq_opts_load_env), waiting up to connect-timeout
// for the server (0: one attempt). Returns new (*sp: close and free with
// tasq_session_free). Errors: TASQ_EINVALID_ARGUMENT (options: no key, a
// key or TLS file that cannot be read, a bad URL), TASQ_EUNAVAILABLE (the
// server cannot be reached in time), TASQ_EUNAUTHENTICATED (the TLS
// handshake failed verification), TASQ_ERESOURCE_EXHAUSTED.
TASQ_API int tasq_session_open(tasq_session **sp, const tasq_opts *opts);

// tasq_session_close refuses new operations on the session
// (TASQ_EUNAVAILABLE) and ends its jobs, and aborts the operations in
// flight: each completes with TASQ_ECANCELLED, and so does every later
// call on its jobs (but tasq_job_free). It does not wait for their
// callbacks and does not free. Idempotent; any thread; may be called
// from a callback.
TASQ_API void tasq_session_close(tasq_session *s);

// tasq_session_free closes the session, waits until nothing of it runs
// any more and frees it. Jobs and worker handles of the session must be
// freed before. Not from a callback of the library.
TASQ_API void tasq_session_free(tasq_session *s);

// tasq_session_ping asks the server whether it is serving (the Health
// RPC), as a readiness check: 0 when it is. Errors: TASQ_EUNAVAILABLE
// (not serving or not reached within request-timeout),
// TASQ_EUNAUTHENTICATED.
TASQ_API int tasq_session_ping(tasq_session *s);

// ---- Asynchronous operations (tasq_aio) ----------------------------------
//
// As nng's aio: an asynchronous operation is started with an aio and
// later completes it, which runs the aio's callback once, on a library
// thread; tasq_aio_wait waits for that instead.
//
//	tasq_aio *aio;
//	tasq_aio_alloc(&aio, NULL, NULL);        // no callback: wait
//	if (tasq_job_wait_aio(job, aio) == 0) {   // started
//		tasq_aio_wait(aio);
//		rv = tasq_aio_result(aio);
//	}
//	tasq_aio_free(aio);
//
// A function that starts an operation (the *_aio functions) returns 0
// when it started it: the aio then completes exactly once, with the
// operation's result (which may be an error found later). It returns an
// error (TASQ_EINVALID_ARGUMENT for a bad argument or a busy aio,
// TASQ_EUNAVAILABLE for a closed session) when it did not: the callback
// then does not run, and the aio keeps its previous result.
//
// Output parameters of an operation are written before it completes and
// must stay valid until then.
//
// Threads: one operation at a time per aio; the functions below may be
// called from any thread; the callback must not block or free its aio
// (it may start another operation on it).
typedef struct tasq_aio tasq_aio;

// tasq_aio_alloc returns a new aio (*aiop: free with tasq_aio_free) whose
// completion calls cb(arg) (cb may be NULL). Errors:
// TASQ_EINVALID_ARGUMENT (aiop NULL), TASQ_ERESOURCE_EXHAUSTED.
TASQ_API int tasq_aio_alloc(tasq_aio **aiop, void (*cb)(void *), void *arg);

// tasq_aio_free stops the aio (tasq_aio_stop) and frees it. Not from its
// own callback.
TASQ_API void tasq_aio_free(tasq_aio *aio);

// tasq_aio_stop cancels the operation in flight, if any, and waits until
// its callback has returned; further operations can still be started.
// Not from its own callback.
TASQ_API void tasq_aio_stop(tasq_aio *aio);

// tasq_aio_wait waits until the operation in flight, if any, has
// completed (and its callback, if any, has returned).
TASQ_API void tasq_aio_wait(tasq_aio *aio);

// tasq_aio_busy says whether an operation is in flight (not yet
// completed).
TASQ_API bool tasq_aio_busy(tasq_aio *aio);

// tasq_aio_cancel asks the operation in flight to stop: it completes
// soon with TASQ_ECANCELLED, unless it completed already. Returns at
// once. What a cancelled operation leaves behind is said by each
// operation (a cancelled tasq_job_next_aio loses no result).
TASQ_API void tasq_aio_cancel(tasq_aio *aio);

// tasq_aio_set_timeout sets how long each later operation on the aio may
// take before it completes with TASQ_EDEADLINE_EXCEEDED (as a cancel);
// timeout_ms < 0 (the default) waits for ever.
TASQ_API void tasq_aio_set_timeout(tasq_aio *aio, int32_t timeout_ms);

// tasq_aio_result returns the result of the last completed operation:
// 0 or a TASQ_E* code.
TASQ_API int tasq_aio_result(tasq_aio *aio);

// tasq_aio_errmsg returns the detail of the last completed operation's
// error ("" when it succeeded or has none): owned by the aio, valid
// until its next operation starts.
TASQ_API const char *tasq_aio_errmsg(tasq_aio *aio);

// ---- Client side: jobs (tasq_job_*) ---------------------------------------
//
// A job is payloads of one task type submitted to a queue; workers
// serving that type compute one result per payload. The library sends
// the payloads in batches, collects every result exactly once (it
// acknowledges each delivery and drops repeats; a batch whose reply was
// lost is sent again with the same boundaries, and after a server
// restart every batch not yet answered is sent again) and hands the
// results to the program in input order.
//
//	tasq_job_opts o = TASQ_JOB_OPTS_INIT;
//	o.type = "sha256";
//	tasq_job_submit(&job, s, &o, payloads, lens, n);   // a batch
//	while ((rv = tasq_job_next(job, &r)) == 0) {       // input order
//		use(r.index, r.code, r.data, r.len, r.error);
//	}                          // rv == TASQ_EOUT_OF_RANGE: all taken
//	tasq_job_free(job);
//
// or a stream: tasq_job_open, tasq_job_add for each payload (blocks
// while the window is full of results not yet taken), tasq_job_finish,
// reading results meanwhile from another thread or through result_cb.
//
// A detached job (opts.detach) lives at the server after this process:
// its results are kept there (result_ttl_ms) and any process can read
// them with tasq_job_attach and its id (tasq_job_id). Jobs that are not
// detached end with tasq_job_free: if their results are not all in, the
// job is abandoned at the server (its tasks dropped).
//
// Threads: a job is thread-safe; results go to whoever asks first, so
// one consumer (or result_cb) is the usual shape, and tasq_job_add calls
// from several threads are serialised (in the order they take the job's
// lock). tasq_job_free must not race with other calls on the job.
typedef struct tasq_job tasq_job;

// A result, in input order. data and error belong to the job and stay
// valid until the next tasq_job_next(_aio) on the job, by any thread (so
// several readers must copy them under a lock of their own before the
// next call), or until result_cb returns, or tasq_job_free.
typedef struct tasq_result {
	uint64_t    index; // the task's position in the job's input, from 0
	int         code;  // 0, or TASQ_ERR_BASE + the task's error code
	const void *data;  // the result (len bytes; may be empty on error)
	size_t      len;
	const char *error; // the worker's message, "" when none
} tasq_result;

// A job's settings. Initialise with TASQ_JOB_OPTS_INIT (size is what
// lets later versions add fields at the end); zero fields take defaults.
typedef struct tasq_job_opts {
	size_t      size;       // sizeof(tasq_job_opts)
	const char *queue;      // NULL: "default"
	const char *type;       // NULL: "square" (8-byte int64 LE)
	uint32_t    priority;   // 1..100 (0: 10), the job's share of
	                        // its queue against other jobs
	uint32_t max_attempts;  // deliveries of a failing task before it
	                        // is dead-lettered (0: the server's)
	bool     detach;        // results kept at the server (attach)
	uint64_t result_ttl_ms; // detached: kept so long after done
	                        // (0: the server's --result-ttl)
	uint32_t batch_size;    // most tasks per request (0: 16384)
	uint32_t linger_ms;     // a partial batch waits at most (0: 20)
	uint64_t window;        // most tasks added whose results are not
	                        // yet taken (0: 262144)
	// Optional: every result, in input order, on the job's thread,
	// instead of tasq_job_next. It must not block for long, and must
	// not call tasq_job_add (the window it waits for is freed only when
	// result_cb returns).
	void (*result_cb)(void *arg, const tasq_result *r);
	void *result_arg;
	// Since 0.1 (after result_arg; zero: the defaults):
	uint32_t batch_bytes;  // a batch is cut at so many payload bytes
	                       // (0: 1 MiB)
	uint32_t poll_wait_ms; // how long a Fetch or Results may wait at
	                       // the server for results (0: 1000)
	// With detach: the job is detached at the server from its first
	// batch, but its results are read by this process as they come
	// (as a job not detached), and tasq_job_free ends it, unless
	// tasq_job_leave left it running (tasq submit
	// --detach-on-interrupt).
	bool detach_on_leave;
	// Optional: told of what the job meets (enum tasq_job_event) with
	// a sentence, on one of the job's threads, one call at a time;
	// it must not block for long nor call the job's functions.
	void (*event_cb)(void *arg, int event, const char *msg);
	void *event_arg;
} tasq_job_opts;

#ifdef __cplusplus
#define TASQ_JOB_OPTS_INIT                                                    \
	{                                                                     \
		sizeof(tasq_job_opts)                                         \
	}
#else
#define TASQ_JOB_OPTS_INIT                                                    \
	{                                                                     \
		.size = sizeof(tasq_job_opts)                                 \
	}
#endif

// tasq_job_open starts a job whose payloads come with tasq_job_add, on
// session s (which must outlive it), with settings o (copied; NULL: the
// defaults). Returns new (*jobp: free with tasq_job_free). Errors:
// TASQ_EINVALID_ARGUMENT (a NULL argument, a bad queue or type name:
// 1-64 characters of [A-Za-z0-9._-], a priority over 100),
// TASQ_EUNAVAILABLE (the session is closed), TASQ_ERESOURCE_EXHAUSTED.
TASQ_API int tasq_job_open(
    tasq_job **jobp, tasq_session *s, const tasq_job_opts *o);

// tasq_job_add appends one payload (len bytes, copied; at most 1 MiB;
// exactly 8 for type square) to the job's input, waiting while the
// window is full. Errors: TASQ_EINVALID_ARGUMENT (the payload, or the
// input was finished), TASQ_ECANCELLED (the job was cancelled or the
// session closed), or the error that ended the job (as tasq_job_wait).
TASQ_API int tasq_job_add(tasq_job *job, const void *payload, size_t len);

// tasq_job_finish ends the job's input: no tasq_job_add after it. The
// rest is sent in the background (tasq_job_flush waits for it).
// Errors: TASQ_EINVALID_ARGUMENT (job NULL).
TASQ_API int tasq_job_finish(tasq_job *job);

// tasq_job_submit is tasq_job_open, tasq_job_add of the n payloads
// (payloads[i], lens[i] bytes) and tasq_job_finish, with a window of at
// least n (so that it never waits for a reader). Errors: theirs.
TASQ_API int tasq_job_submit(tasq_job **jobp, tasq_session *s,
    const tasq_job_opts *o, const void *const *payloads, const size_t *lens,
    size_t n);

// tasq_job_id returns the job's id (random, non-zero; shown by the tools
// as 16 hex digits), 0 for NULL.
TASQ_API uint64_t tasq_job_id(const tasq_job *job);

// tasq_job_flush waits until the server has every payload added so far
// and, after tasq_job_finish, knows that the input is complete (for a
// detached job this is when the program may exit). Errors: as
// tasq_job_wait.
TASQ_API int tasq_job_flush(tasq_job *job);
TASQ_API int tasq_job_flush_aio(tasq_job *job, tasq_aio *aio);

// tasq_job_next takes the next result in input order into *r, waiting
// for it. Returns 0; TASQ_EOUT_OF_RANGE once every result was taken
// (the input finished); TASQ_EINVALID_ARGUMENT with result_cb set;
// TASQ_ECANCELLED (the job was cancelled, or the session closed); or the
// error that ended the job (as tasq_job_wait). The asynchronous form
// writes *r before it completes; a cancelled tasq_job_next_aio takes
// nothing (the result stays the next one).
TASQ_API int tasq_job_next(tasq_job *job, tasq_result *r);
TASQ_API int tasq_job_next_aio(tasq_job *job, tasq_result *r, tasq_aio *aio);

// ---- Client side: bulk calls, progress and events -------------------------
//
// What a program that submits a great many tasks (the tasq tool's
// submit) needs beyond one payload and one result per call.

// tasq_job_add_many appends n payloads (payloads[i], lens[i] bytes,
// copied) to the job's input in order, as n calls of tasq_job_add would,
// but taking the job's lock once for as many as the window lets in at a
// time; it waits while the window is full. Every payload is checked
// first (as tasq_job_add does): if one is bad, none is added. Errors:
// TASQ_EINVALID_ARGUMENT (a NULL argument, a bad payload: tasq_errmsg
// names its position, or the input was finished), TASQ_ECANCELLED, or
// the error that ended the job; after an error that came while waiting,
// the payloads before it may have been added. Thread-safe, as
// tasq_job_add.
TASQ_API int tasq_job_add_many(
    tasq_job *job, const void *const *payloads, const size_t *lens, size_t n);

// tasq_job_add_column appends n payloads of width bytes each, found one
// after the other at data (n * width bytes, copied): for type square, an
// array of n int64 (width 8, the host's little-endian order). Otherwise
// as tasq_job_add_many.
TASQ_API int tasq_job_add_column(
    tasq_job *job, const void *data, size_t width, size_t n);

// tasq_job_next_many takes the next results in input order into
// results[0 .. *np - 1]: it waits for the first, then takes those that
// are ready too, at most max (and at most what the ring lets the caller
// hold: at least 1, and all the window's slack; see docs/LIBRARY.md).
// Their data and error stay valid until the next tasq_job_next* call on
// the job. Returns as tasq_job_next (TASQ_EOUT_OF_RANGE once every
// result was taken; TASQ_EINVALID_ARGUMENT also for max 0). The
// asynchronous form writes results and *np before it completes; a
// cancelled one takes nothing.
TASQ_API int tasq_job_next_many(
    tasq_job *job, tasq_result *results, size_t max, size_t *np);
TASQ_API int tasq_job_next_many_aio(tasq_job *job, tasq_result *results,
    size_t max, size_t *np, tasq_aio *aio);

// What a job's event_cb (tasq_job_opts) is told of.
enum tasq_job_event {
	TASQ_JOB_EVENT_RETRY = 1,     // a request failed for a while (a
	                              // full or unreachable server) and is
	                              // sent again: "submit: why"
	TASQ_JOB_EVENT_RESTART = 2,   // the server restarted: every batch
	                              // without all its results goes again
	TASQ_JOB_EVENT_GONE = 3,      // a restarted server lost the job,
	                              // no result missing: the next batch
	                              // makes it again
	TASQ_JOB_EVENT_LEGACY = 4,    // a server from before typed tasks:
	                              // square goes as legacy values
	TASQ_JOB_EVENT_NO_WORKER = 5, // a reply says no connected worker
	                              // serves the job's queue and type
	TASQ_JOB_EVENT_WORKER = 6,    // one does again
};

// A job's progress as this process sees it. Set size (or use
// TASQ_JOB_PROGRESS_INIT) before the call.
typedef struct tasq_job_progress {
	size_t   size;      // sizeof(tasq_job_progress)
	uint64_t added;     // tasks added
	uint64_t sent;      // tasks the server has accepted
	uint64_t received;  // results in (not taken yet, or taken)
	uint64_t taken;     // results handed out
	uint32_t retries;   // requests sent again (TASQ_JOB_EVENT_RETRY)
	uint32_t restarts;  // server restarts noticed
	bool     one_trip;  // the job went in one Fetch with its results
	bool     carrying;  // a Fetch carrying the job's batch is out
	bool     legacy;    // square goes as legacy values (an old server)
	bool     no_worker; // the last reply: no worker serves the job
	uint32_t workers;   // with no_worker: workers connected at all
	// After tasq_job_cancel: what the server dropped (queued tasks, or
	// with cancel_closed_only, a server older than Cancel, what
	// CloseJob dropped) and the running tasks it told to stop.
	uint64_t cancel_dropped;
	uint32_t cancel_running;
	bool     cancel_closed_only;
	char     last_retry[256]; // why the last retry was ("" none)
} tasq_job_progress;

#ifdef __cplusplus
#define TASQ_JOB_PROGRESS_INIT                                                \
	{                                                                     \
		sizeof(tasq_job_progress)                                     \
	}
#else
#define TASQ_JOB_PROGRESS_INIT                                                \
	{                                                                     \
		.size = sizeof(tasq_job_progress)                             \
	}
#endif

// tasq_job_get_progress writes the job's progress into *p (no request:
// what this process knows). Errors: TASQ_EINVALID_ARGUMENT (NULL, or
// p->size too small). Thread-safe.
TASQ_API int tasq_job_get_progress(tasq_job_progress *p, tasq_job *job);

// tasq_job_leave leaves a job opened with detach and detach_on_leave
// running at the server, detached: payloads added but not yet sent are
// dropped, the job's input ends with the tasks the server has (*ntasksp,
// may be NULL), and tasq_job_free will not end it; its results are read
// with tasq_job_attach (or tasq results ID) until they expire. Waits
// until the server has the end of the input. Errors:
// TASQ_EINVALID_ARGUMENT (job NULL, or not opened so), TASQ_ECANCELLED,
// or the error that ended the job. Thread-safe; tasq_job_add waiting
// meanwhile returns TASQ_ECANCELLED.
TASQ_API int tasq_job_leave(tasq_job *job, uint64_t *ntasksp);

// tasq_job_wait waits until the job is done: its input finished and
// every task has a result (held by the library for a job of this
// process; at the server for a detached or attached one). Errors:
// TASQ_ECANCELLED; TASQ_ENOT_FOUND (the server lost or expired the
// job), TASQ_EINVALID_ARGUMENT or TASQ_EFAILED_PRECONDITION (the server
// refused the job's input), TASQ_EUNAUTHENTICATED (the server refused
// the key); the message is in tasq_errmsg (tasq_aio_errmsg). A server
// that cannot be reached or is full is retried for ever, as the tools
// do: bound the wait with tasq_aio_set_timeout.
TASQ_API int tasq_job_wait(tasq_job *job);
TASQ_API int tasq_job_wait_aio(tasq_job *job, tasq_aio *aio);

// A job's state (JobState on the wire, docs/PROTOCOL.md 9.11).
enum tasq_job_state {
	TASQ_JOB_STATE_OPEN      = 0, // input may still come
	TASQ_JOB_STATE_RUNNING   = 1, // input complete, results missing
	TASQ_JOB_STATE_DONE      = 2, // every task has a result
	TASQ_JOB_STATE_CANCELLED = 3,
};

// What the server says about a job (JobInfo). Set size (or use
// TASQ_JOB_STATUS_INIT) before the call.
typedef struct tasq_job_status {
	size_t   size; // sizeof(tasq_job_status)
	uint64_t job_id;
	int      state;     // enum tasq_job_state
	uint64_t submitted; // tasks accepted
	uint64_t completed; // tasks with a result (failed ones included)
	uint64_t failed;    // tasks whose result is an error
	uint64_t age_ms;
	bool     detached;
	uint64_t result_ttl_ms, expires_in_ms;
	bool     no_worker; // no connected worker serves its queue and type
	uint32_t workers;   // with no_worker: workers connected at all
	char     queue[65], type[65], host[256];
} tasq_job_status;

#ifdef __cplusplus
#define TASQ_JOB_STATUS_INIT                                                  \
	{                                                                     \
		sizeof(tasq_job_status)                                       \
	}
#else
#define TASQ_JOB_STATUS_INIT                                                  \
	{                                                                     \
		.size = sizeof(tasq_job_status)                               \
	}
#endif

// tasq_job_get_status asks the server about the job (JobStatus). Errors:
// TASQ_EINVALID_ARGUMENT (NULL, or st->size too small), TASQ_ENOT_FOUND
// (unknown or expired job: tasq_errmsg says which), TASQ_EUNAVAILABLE,
// TASQ_EDEADLINE_EXCEEDED (no reply within request-timeout).
TASQ_API int tasq_job_get_status(tasq_job_status *st, tasq_job *job);
TASQ_API int tasq_job_get_status_aio(
    tasq_job_status *st, tasq_job *job, tasq_aio *aio);

// tasq_job_attach makes a handle for the detached job job_id, submitted
// by this or any other process: tasq_job_next reads its results in
// input order from the server (Results), as often as asked until they
// expire; tasq_job_wait waits until it is done; tasq_job_free leaves it
// at the server. Returns new (*jobp: free with tasq_job_free); o (may be
// NULL) gives window and result_cb only. Errors: TASQ_ENOT_FOUND (no
// such job, or its results expired), TASQ_EFAILED_PRECONDITION (the job
// is not detached: its results go to its own submitter),
// TASQ_EUNAVAILABLE, TASQ_EINVALID_ARGUMENT.
TASQ_API int tasq_job_attach(
    tasq_job **jobp, tasq_session *s, uint64_t job_id, const tasq_job_opts *o);

// tasq_job_cancel cancels the job at the server: queued tasks are
// dropped and workers are told to stop the running ones; calls waiting
// on the job end with TASQ_ECANCELLED; results already in are still
// handed out first. A second cancel is a no-op. A server older than
// Cancel gets CloseJob instead (which cannot stop running work).
// Errors: TASQ_EFAILED_PRECONDITION (the job is done: nothing to
// cancel; returned at once, without starting, when this process holds
// all its results), TASQ_ENOT_FOUND (the server has no such job any
// more), TASQ_EUNAVAILABLE, TASQ_EDEADLINE_EXCEEDED.
TASQ_API int tasq_job_cancel(tasq_job *job);
TASQ_API int tasq_job_cancel_aio(tasq_job *job, tasq_aio *aio);

// tasq_job_free stops the job's threads and frees it: operations still
// waiting on it complete with TASQ_ECANCELLED. A job of this process
// that is not detached and whose results are not all in is abandoned at
// the server (CloseJob: its remaining tasks are dropped), unless its
// session was closed (then the server drops it after its --job-ttl); a
// detached or attached job is left there. Not from a callback of the
// library.
TASQ_API void tasq_job_free(tasq_job *job);

// ---- Operating a server ---------------------------------------------------
//
// What the tasq tool's stats, health, dead, jobs, status, results, wait
// and cancel do, for programs: one request each (wait and dead letters'
// pages excepted), on a session, with the session's request-timeout.
//
//	tasq_health h = TASQ_HEALTH_INIT;
//	if (tasq_server_health(&h, s) == 0 && h.serving) { ... }
//
//	tasq_job_status st = TASQ_JOB_STATUS_INIT;  // any job, by its id
//	rv = tasq_job_wait_id(&st, s, id);          // 0: done
//
// Structures the caller allocates (tasq_health, tasq_job_status) carry
// a size field, as tasq_job_status above; structures the library returns
// (tasq_job_list, tasq_results, tasq_dead_list) are new, each freed with
// its own _free function, and grow only at their end. Strings and
// payloads inside them belong to them.
//
// The by-id calls (tasq_job_*_id) work for any job the server holds, of
// this process or another, detached or not, with or without a tasq_job
// handle; they are what tasq status, wait, results and cancel do.
//
// Threads: as the session (thread-safe); a returned structure is the
// caller's, to read from any one thread at a time.

// What the server says of itself (Health).
typedef struct tasq_health {
	size_t   size; // sizeof(tasq_health)
	bool     serving;
	uint64_t uptime_ms;
	// Random per server process: a change means the server restarted.
	uint64_t server_id;
	// The server's lasting identity (kept in its data directory; the
	// shard tag of its job ids is identity >> 48); 0 from a server
	// that does not send one.
	uint64_t identity;
	char     version[64]; // "0.1.0"
} tasq_health;

#ifdef __cplusplus
#define TASQ_HEALTH_INIT                                                      \
	{                                                                     \
		sizeof(tasq_health)                                           \
	}
#else
#define TASQ_HEALTH_INIT                                                      \
	{                                                                     \
		.size = sizeof(tasq_health)                                   \
	}
#endif

// tasq_server_health asks the server about itself (Health) into *h: 0
// when it answered, serving or not (h->serving says; tasq_session_ping
// is the yes-or-no form). Errors: TASQ_EINVALID_ARGUMENT (NULL, or
// h->size too small), TASQ_EUNAVAILABLE (no answer within
// request-timeout), TASQ_EUNAUTHENTICATED (the server refused the key).
TASQ_API int tasq_server_health(tasq_health *h, tasq_session *s);

// Formats of tasq_server_stats.
enum tasq_stats_format {
	TASQ_STATS_TEXT = 0, // the tables tasq stats prints
	TASQ_STATS_JSON = 1, // one JSON object and a newline (tasq stats
	                     // --json; docs/LIBRARY.md gives its schema)
	// Or-ed with either: every server of the session (several servers:
	// a list or a name with several addresses), each once, and their
	// sum (tasq stats --all); a server that does not answer is shown
	// so; fails only when none answers.
	TASQ_STATS_ALL = 0x100,
};

// tasq_server_stats asks the server for its statistics (Stats: queues,
// workers, task types, counters, dead letters) and returns them as the
// document tasq stats prints, in format (enum tasq_stats_format):
// returns new (*docp, NUL-terminated: free with tasq_free). The report
// is wide and grows with each server version, so it is a document, not
// a structure (docs/LIBRARY.md, "Operating a server"). Errors:
// TASQ_EINVALID_ARGUMENT (NULL, or an unknown format),
// TASQ_EUNAVAILABLE, TASQ_EDEADLINE_EXCEEDED, TASQ_EUNAUTHENTICATED,
// TASQ_ERESOURCE_EXHAUSTED.
TASQ_API int tasq_server_stats(char **docp, tasq_session *s, int format);

// tasq_free frees memory the library returned as plain bytes (the
// document of tasq_server_stats). Accepts NULL.
TASQ_API void tasq_free(void *p);

// The jobs the server holds (JobList).
typedef struct tasq_job_list {
	size_t           n;
	tasq_job_status *jobs;  // n entries, in the server's order
	uint64_t         total; // jobs of the queue: more than n when
	                        // max cut the list
	// Several servers: the servers that did not answer, as one line
	// ("URL: why; URL: why"), whose jobs the list misses; NULL when
	// every server answered (and with one server).
	const char *missing;
} tasq_job_list;

// tasq_server_jobs lists the jobs the server holds, of queue (NULL: all
// queues), at most max (0: 1000; the server caps it at 65536): returns
// new (*lp: free with tasq_job_list_free). With several servers, every
// server's jobs, server after server in tag order (each job's id names
// its server), at most max of each, total their sum; a server that does
// not answer is named in missing and the call fails only when none
// answers (TASQ_EUNAVAILABLE). Errors:
// TASQ_EINVALID_ARGUMENT (NULL, or a bad queue name), TASQ_EUNAVAILABLE,
// TASQ_EDEADLINE_EXCEEDED, TASQ_EUNAUTHENTICATED,
// TASQ_ERESOURCE_EXHAUSTED.
TASQ_API int tasq_server_jobs(
    tasq_job_list **lp, tasq_session *s, const char *queue, uint32_t max);
TASQ_API void tasq_job_list_free(tasq_job_list *l);

// tasq_job_status_id asks the server about the job job_id, any job
// (JobStatus), into *st (set st->size first). Errors:
// TASQ_EINVALID_ARGUMENT (NULL, job_id 0, st->size too small),
// TASQ_ENOT_FOUND (unknown or expired job: tasq_errmsg says which, as
// "job 00c0ffee00c0ffee: NOT_FOUND: ..."), TASQ_EUNAVAILABLE,
// TASQ_EDEADLINE_EXCEEDED.
TASQ_API int tasq_job_status_id(
    tasq_job_status *st, tasq_session *s, uint64_t job_id);

// tasq_job_wait_id waits until the job job_id is done, asking for its
// status (a pause that grows from 20 ms to half a second between
// requests), and writes its last status into *st (may be NULL). Returns
// 0 when it is done (st->failed says whether some tasks failed),
// TASQ_ECANCELLED when it was cancelled (*st written), or the first
// error of a status request (as tasq_job_status_id: the wait does not
// retry). Bound it with tasq_aio_set_timeout (TASQ_EDEADLINE_EXCEEDED)
// in the asynchronous form, whose cancel stops it (TASQ_ECANCELLED, *st
// not written); there *st is the wait's until the aio ends, not to be
// read or written meanwhile. A session closed meanwhile ends it with
// TASQ_EUNAVAILABLE after the pause or the request under way (the wait's
// thread holds the session: tasq_session_free waits for it).
TASQ_API int tasq_job_wait_id(
    tasq_job_status *st, tasq_session *s, uint64_t job_id);
TASQ_API int tasq_job_wait_id_aio(
    tasq_job_status *st, tasq_session *s, uint64_t job_id, tasq_aio *aio);

// tasq_job_cancel_id cancels the job job_id, any job (Cancel): its
// queued tasks are dropped and workers told to stop the running ones;
// *droppedp and *runningp (each may be NULL) get how many; *st (may be
// NULL; size set) the job's status after the cancel (st->job_id 0 when
// the server sent none). Cancelling a cancelled job succeeds and stops
// nothing. Errors: TASQ_EFAILED_PRECONDITION (the job is done),
// TASQ_ENOT_FOUND, TASQ_EUNIMPLEMENTED (a server older than Cancel: by
// id, nothing is done instead; a tasq_job of this process falls back
// with tasq_job_cancel), TASQ_EUNAVAILABLE, TASQ_EDEADLINE_EXCEEDED,
// TASQ_EINVALID_ARGUMENT.
TASQ_API int tasq_job_cancel_id(tasq_job_status *st, uint64_t *droppedp,
    uint32_t *runningp, tasq_session *s, uint64_t job_id);

// A page of a job's results (Results), in input order.
typedef struct tasq_results {
	tasq_job_status job;        // the job as the server answered (when
	bool            has_job;    // has_job; job.size set)
	uint64_t        next_index; // from_index of the next page
	size_t          n;          // results in this page
	tasq_result    *results;    // n, in input order (index set; data and
	                            // error belong to the page)
} tasq_results;

// tasq_job_results_id reads results of the job job_id (Results, any job
// whose results the server keeps: a detached one) from input index
// from_index on, at most max (0: 65536), waiting up to wait_ms at the
// server when none is ready yet: returns new (*rp: free with
// tasq_results_free). A page with n == 0 and job.state done (or
// cancelled) means there are no more. The request may take
// request-timeout plus wait_ms. Errors: TASQ_ENOT_FOUND (no such job,
// or its results expired), TASQ_EFAILED_PRECONDITION (the job is not
// detached), TASQ_EUNAVAILABLE and TASQ_EDEADLINE_EXCEEDED (worth
// retrying: the server may be restarting; the session dials afresh
// after such failures), TASQ_EINVALID_ARGUMENT,
// TASQ_ERESOURCE_EXHAUSTED. The asynchronous form writes *rp before it
// completes; cancelled, it writes nothing.
TASQ_API int  tasq_job_results_id(tasq_results **rp, tasq_session *s,
     uint64_t job_id, uint64_t from_index, uint32_t max, uint32_t wait_ms);
TASQ_API int  tasq_job_results_id_aio(tasq_results **rp, tasq_session *s,
     uint64_t job_id, uint64_t from_index, uint32_t max, uint32_t wait_ms,
     tasq_aio *aio);
TASQ_API void tasq_results_free(tasq_results *r);

// A dead letter: a task given up after its job's last attempt.
typedef struct tasq_dead_entry {
	uint64_t    id; // the letter's, from 1 (tasq dead show ID)
	uint64_t    job_id, task_id;
	const char *queue;
	const char *type;
	uint32_t    attempts;
	int         code;         // TASQ_ERR_BASE + the last error's code
	const char *error;        // the last error's message ("" when none)
	uint64_t    time_ms;      // when it died, ms since 1970 (wall clock)
	uint32_t    payload_len;  // the payload's full length
	const void *payload;      // with payloads: the payload
	size_t      payload_size; // its bytes here (0 without payloads)
} tasq_dead_entry;

// A page of dead letters, in id order.
typedef struct tasq_dead_list {
	size_t           n;
	tasq_dead_entry *letters;
	uint64_t         total; // the server's letters (of the queue)
	// Several servers: the servers that did not answer ("URL: why;
	// ..."), whose letters the page may miss; NULL when every server
	// asked answered (and with one server).
	const char *missing;
} tasq_dead_list;

// tasq_dead_get lists dead letters of queue (NULL: all) with ids above
// after_id, at most max (0 or over 1000: 1000; with payloads the server
// also ends a page before its reply grows too big, and 32 a page is
// wise: a payload may be 1 MiB), with their payloads when payloads:
// returns new (*lp: free with tasq_dead_list_free). An empty page means
// there are no more. Errors: TASQ_EINVALID_ARGUMENT (NULL, a bad queue
// name), TASQ_EUNAVAILABLE, TASQ_EDEADLINE_EXCEEDED,
// TASQ_EUNAUTHENTICATED, TASQ_ERESOURCE_EXHAUSTED.
//
// Several servers: a letter's id is its server's tag << 48 | the
// server's own id (an id names its server, as a job id does), and pages
// follow that order: every server's letters, server after server by
// tag; total counts the servers asked for the page; a server that does
// not answer is named in missing and skipped (TASQ_EUNAVAILABLE when
// none answers); two servers sharing a tag are refused
// (TASQ_EFAILED_PRECONDITION: ask each alone). tasq_dead_purge takes
// those ids (each purged on its server), and with all purges on every
// server; a server that does not answer makes it fail with
// TASQ_EUNAVAILABLE, naming it, after the others are purged (*purgedp
// counts those).
TASQ_API int  tasq_dead_get(tasq_dead_list **lp, tasq_session *s,
     const char *queue, uint64_t after_id, uint32_t max, bool payloads);
TASQ_API void tasq_dead_list_free(tasq_dead_list *l);

// tasq_dead_purge deletes the n dead letters ids (ids the server does
// not have are skipped), or with all every letter of queue (NULL: of
// every queue), and says in *purgedp (may be NULL) how many it deleted.
// (Retrying a letter is submitting its payload again as a job of its
// queue and type, then purging it: tasq dead retry does that.) Errors:
// TASQ_EINVALID_ARGUMENT (NULL ids with n > 0, a bad queue name),
// TASQ_EUNAVAILABLE, TASQ_EDEADLINE_EXCEEDED, TASQ_EUNAUTHENTICATED.
TASQ_API int tasq_dead_purge(uint64_t *purgedp, tasq_session *s,
    const char *queue, const uint64_t *ids, size_t n, bool all);

#ifdef __cplusplus
}
#endif

// The worker side: include/tasq/worker.h is included here.
#include <tasq/worker.h>

#endif // TASQ_TASQ_H
