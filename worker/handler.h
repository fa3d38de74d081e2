// handler: what a worker runs for a batch of tasks of one type.
//
// A handler turns n payloads into n results, each with a status code and,
// for a failure, a message. It knows nothing of the wire: serve.c hands it
// the payload column of a TaskBatch and sends what it produced back as a
// ResultBatch. Kinds (the HANDLER of --type NAME=HANDLER):
//   builtin:square   int64 LE in, its square out (OUT_OF_RANGE on overflow)
//   builtin:sha256   the 64 lowercase hex digits of SHA-256(payload)
//   exec:CMD         a persistent child, batches framed over its stdin and
//                    stdout (handler_exec.c, docs/HANDLERS.md)
//   exec-each:CMD    CMD once per task, payload on stdin, result stdout
//   plugin:LIB.so    a shared library (include/tasq/handler.h)
//
// One handler serves one thread at a time: a worker process opens one
// per type and per lease thread. Lifecycle: tasq_handler_open, any number
// of tasq_handler_run, tasq_handler_free.
#ifndef TASQ_WORKER_HANDLER_H
#define TASQ_WORKER_HANDLER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tasq/handler.h"
#include "blobs.h"
#include "limits_wire.h"

// ---- results of one batch --------------------------------------------------

// tasq_hres collects the results of one batch: the column, codes and
// messages. It is the tasq_handler_results a plugin sees (pub first).
// Reused from batch to batch: _init once, _begin per batch, _fini.
typedef struct tasq_hres {
	tasq_handler_results pub;
	size_t               n;    // tasks of the batch
	size_t               k;    // results there so far (task order)
	atomic_size_t        done; // k, for a watchdog on another thread
	uint8_t             *data; // size bytes used of cap
	size_t               size;
	size_t               cap;
	uint32_t            *lens; // k entries (unless fixed)
	uint32_t            *codes;
	char               **errors; // per task: NULL or a message (heap)
	size_t               ncap;   // entries of lens, codes, errors
	uint32_t             width;  // put_fixed's width, else 0
	bool                 any_code;
	int                  err; // first misuse or allocation failure
} tasq_hres;

void tasq_hres_init(tasq_hres *h);
void tasq_hres_fini(tasq_hres *h);

// tasq_hres_begin empties h for a batch of n tasks. Errors: NNG_ENOMEM.
int tasq_hres_begin(tasq_hres *h, size_t n);

// tasq_hres_put appends the next task's result (len bytes copied). A
// result over TASQ_WIRE_MAX_PAYLOAD fails its task instead
// (tasq_hres_fail_too_big) and returns 0. Errors: NNG_ENOMEM,
// TASQ_EOUT_OF_RANGE (more than n results), TASQ_EFAILED_PRECONDITION
// (after put_fixed).
int tasq_hres_put(tasq_hres *h, const void *data, size_t len);

// tasq_hres_fail_too_big fails the next task, whose result is len bytes,
// over TASQ_WIRE_MAX_PAYLOAD: OUT_OF_RANGE, a final code (the result
// would be as large on every attempt), "result is N bytes, more than the
// 1 MiB limit". Errors as tasq_hres_fail.
int tasq_hres_fail_too_big(tasq_hres *h, size_t len);

// tasq_hres_reserve appends the next task's result of len bytes and
// returns where to write them (valid until the next call on h), or NULL
// (errors as tasq_hres_put, in h->err).
uint8_t *tasq_hres_reserve(tasq_hres *h, size_t len);

// tasq_hres_fixed gives all n results width bytes each at once (before
// any other result): returns the n * width bytes to fill, or NULL (a
// width over TASQ_WIRE_MAX_PAYLOAD: every task failed as too big).
uint8_t *tasq_hres_fixed(tasq_hres *h, size_t width);

// tasq_hres_fail fails task i (i < k, or i == k: an empty result is
// appended for it) with a wire code (1..16) and message (copied, cut at
// TASQ_WIRE_MAX_TEXT bytes and made valid UTF-8 without control
// characters; NULL: the code's name). Errors as tasq_hres_put.
int tasq_hres_fail(tasq_hres *h, size_t i, uint32_t code, const char *msg);

// tasq_hres_fail_rest fails every task from k on (appending empty
// results) with code and msg: what a handler does when it cannot go on.
// Cannot fail except for memory (then h->err is set).
void tasq_hres_fail_rest(tasq_hres *h, uint32_t code, const char *msg);

// tasq_hres_view points the outputs at h's results (borrowed until the
// next call on h): the column (fixed width when every result has the same
// length > 0), codes (NULL when all are OK) and errors (NULL when none,
// else n entries, "" for OK tasks). h must be complete (k == n).
void tasq_hres_view(
    tasq_hres *h, tasq_blobs *col, uint32_t **codes, const char ***errors);

// tasq_text_clean copies at most cap - 1 bytes of src (len bytes) into dst
// as valid UTF-8 without control characters (others become '?', tabs and
// newlines ' '), cut at a character boundary, NUL-terminated. Returns the
// length written.
size_t tasq_text_clean(char *dst, size_t cap, const char *src, size_t len);

// ---- handlers ------------------------------------------------------------

typedef struct tasq_handler tasq_handler;

typedef struct tasq_handler_opts {
	uint32_t task_timeout_ms; // 0: none (exec, exec-each enforce it)
	uint32_t each_parallel;   // exec-each: children at once (0: 4)
	uint32_t restart_min_ms;  // exec: first restart delay (0: 100)
	uint32_t restart_max_ms;  // exec: longest restart delay (0: 5000)
	// exec, exec-each: after SIGTERM on a cancel, how long a child may
	// take to exit before SIGKILL (0: TASQ_CANCEL_GRACE_MS).
	uint32_t cancel_grace_ms;
} tasq_handler_opts;

// ---- cancel --------------------------------------------------------------

// The default of --cancel-grace.
#define TASQ_CANCEL_GRACE_MS 2000

// tasq_cancel tells a running handler that its batch's job was cancelled
// (docs/PROTOCOL.md 9.15): a flag, and an eventfd that becomes readable
// when it is set, so that exec and exec-each handlers wake from poll at
// once. One per lease thread; set from the heartbeat thread, cleared by
// the lease thread between batches. _set, _is_set and the batch's
// cancelled function are thread-safe; _init, _clear and _fini belong to
// the owner. A batch points at one through tasq_cancel_attach (plugins of
// ABI version 2 see it as tasq_handler_batch.cancelled).
typedef struct tasq_cancel {
	atomic_int flag;
	int        fd; // eventfd, -1 when it could not be made (flag only)
} tasq_cancel;

// tasq_cancel_init makes c, not set. Never fails: without an eventfd the
// handlers notice the flag within their poll tick.
void tasq_cancel_init(tasq_cancel *c);
void tasq_cancel_fini(tasq_cancel *c);
void tasq_cancel_set(tasq_cancel *c);
void tasq_cancel_clear(tasq_cancel *c);
bool tasq_cancel_is_set(const tasq_cancel *c);
// tasq_cancel_attach points b's cancelled function at c (borrowed until
// the batch is done); tasq_cancel_of returns the cancel of b, or NULL.
void               tasq_cancel_attach(tasq_handler_batch *b, tasq_cancel *c);
const tasq_cancel *tasq_cancel_of(const tasq_handler_batch *b);
// How often exec and exec-each handlers look at a cancel without an
// eventfd (ms).
#define TASQ_CANCEL_TICK_MS 50

// tasq_handler_spec_check checks the syntax of a HANDLER text. Returns
// true when it names a known kind with what that kind needs; else false
// with a reason in err.
bool tasq_handler_spec_check(const char *spec, char *err, size_t errlen);

// tasq_handler_open makes a handler from spec for type (both borrowed,
// copied). A plugin is loaded and initialized here; an exec child starts
// at the first batch. Errors: TASQ_EINVALID_ARGUMENT (bad spec, missing
// library or symbol, wrong ABI version, init failed: err says which),
// NNG_ENOMEM.
int tasq_handler_open(tasq_handler **hp, const char *type, const char *spec,
    const tasq_handler_opts *opts, char *err, size_t errlen);

// tasq_handler_run computes the results of in into out (begun here). On
// return out holds exactly in->n results: a task the handler could not
// run is failed with a code (UNAVAILABLE when a child died: retried;
// CANCELLED when in's cancel was set: exec and exec-each children are
// sent SIGTERM, then SIGKILL after cancel_grace_ms, and an exec child is
// started again for the next batch; a plugin of ABI version 2 sees the
// flag; a builtin finishes its batch).
// Returns 0, or NNG_ENOMEM when out could not even hold the failures.
int tasq_handler_run(
    tasq_handler *h, const tasq_handler_batch *in, tasq_hres *out);

// tasq_handler_in_process is true for the builtin and plugin kinds: they
// run on the calling thread, so a task over --task-timeout can only be
// stopped by ending the process (serve.c's watchdog does).
bool tasq_handler_in_process(const tasq_handler *h);

// tasq_handler_free stops a handler's children (SIGKILL after closing
// their stdin, reaped) and unloads it. NULL is fine.
void tasq_handler_free(tasq_handler *h);

// What a kind provides (handler_*.c).
typedef struct tasq_handler_ops {
	int (*run)(void *impl, const tasq_handler_batch *in, tasq_hres *out);
	void (*free)(void *impl);
	bool in_process;
} tasq_handler_ops;

int tasq_handler_builtin_open(const char *name, const tasq_handler_ops **ops,
    void **impl, char *err, size_t errlen);
int tasq_handler_exec_open(const char *cmd, const tasq_handler_opts *opts,
    const tasq_handler_ops **ops, void **impl, char *err, size_t errlen);
int tasq_handler_each_open(const char *cmd, const tasq_handler_opts *opts,
    const tasq_handler_ops **ops, void **impl, char *err, size_t errlen);
int tasq_handler_plugin_open(const char *spec, const tasq_handler_ops **ops,
    void **impl, char *err, size_t errlen);

#endif
