// api_int: what the files of libtasq's public API (lib/api/) share and
// the public header does not show: the session's insides, the aio's
// provider side and the per-thread error message.
//
// Names here are tasq_api_*: built with hidden visibility, they are not
// exported (only the TASQ_API functions of include/tasq/tasq.h are).
#ifndef TASQ_API_INT_H
#define TASQ_API_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

// err.h before the public header: both declare enum tasq_err.
#include "err.h"

#include <tasq/tasq.h>

#include "auth.h"
#include "chan.h"

// ---- errors ---------------------------------------------------------------

// tasq_api_err maps any internal result (TASQ_E*, NNG_E*) to what the
// public API returns: 0 or a TASQ_E* code.
int tasq_api_err(int rv);

// tasq_api_fail sets the calling thread's message (tasq_errmsg) and
// returns tasq_api_err(rv): `return (tasq_api_fail(rv, "...", ...));`.
int tasq_api_fail(int rv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

// tasq_api_clear empties the calling thread's message.
void tasq_api_clear(void);

// tasq_api_set_msg copies msg (may be NULL) into the thread's message.
void tasq_api_set_msg(const char *msg);

// ---- options
// ----------------------------------------------------------------

// Option numbers, in the order of the table in include/tasq/tasq.h.
enum tasq_api_opt {
	TASQ_API_OPT_SERVER,
	TASQ_API_OPT_KEY_FILE,
	TASQ_API_OPT_KEY,
	TASQ_API_OPT_TLS_CA,
	TASQ_API_OPT_TLS_CERT,
	TASQ_API_OPT_TLS_KEY,
	TASQ_API_OPT_TLS_SERVER_NAME,
	TASQ_API_OPT_TLS_ENGINE,
	TASQ_API_OPT_TLS_MIN,
	TASQ_API_OPT_TLS_MAX,
	TASQ_API_OPT_REQUEST_TIMEOUT,
	TASQ_API_OPT_CONNECT_TIMEOUT,
	TASQ_API_OPT_MAX_MESSAGE,
	TASQ_API_OPT_COUNT,
};

struct tasq_opts {
	char *val[TASQ_API_OPT_COUNT]; // NULL: not set and no default
	int   src[TASQ_API_OPT_COUNT]; // where val came from (precedence)
};

// tasq_api_opts_copy copies src into a new options object.
int tasq_api_opts_copy(tasq_opts **dstp, const tasq_opts *src);

// tasq_api_opts_u64 returns a duration (ms) or size option's value,
// checked when it was set.
uint64_t tasq_api_opts_u64(const tasq_opts *o, int opt);

// ---- sessions
// ---------------------------------------------------------------

// Something of the session's (a job, a worker handle) that
// tasq_session_close must close too: fn(arg) runs without the session's
// lock, must not block and must not free. Registered with
// tasq_api_session_add_closer, removed (before it is freed) with
// tasq_api_session_remove_closer.
typedef struct tasq_api_closer {
	void (*fn)(void *arg);
	void                   *arg;
	struct tasq_api_closer *next;
} tasq_api_closer;

#define TASQ_API_MAX_RUNNERS 8

struct tasq_session {
	tasq_opts    *opts; // the session's own copy
	tasq_keyring *keys;
	tasq_chan    *chan;
	uint32_t      timeout_ms;         // request-timeout
	uint32_t      connect_timeout_ms; // connect-timeout
	nng_mtx      *mtx;                // guards what follows
	nng_cv       *cv;
	bool          closed;
	unsigned      holds; // tasq_api_session_hold minus release
	// One-shot requests run asynchronously (tasq_api_call_aio): a
	// queue served by threads started as needed.
	struct tasq_api_op *ops_head, *ops_tail, *running;
	nng_thread         *runners[TASQ_API_MAX_RUNNERS];
	unsigned            nrunners, idle_runners;
	tasq_api_closer    *closers;
};

// tasq_api_session_hold counts one more thing of the session that must
// end before it is freed (a job's thread); fails with TASQ_EUNAVAILABLE
// once the session is closed. tasq_api_session_release undoes it;
// tasq_session_free waits until everything is released.
int  tasq_api_session_hold(tasq_session *s);
void tasq_api_session_release(tasq_session *s);

void tasq_api_session_add_closer(tasq_session *s, tasq_api_closer *c);
void tasq_api_session_remove_closer(tasq_session *s, tasq_api_closer *c);

// tasq_api_call_aio runs one request asynchronously on a session thread;
// req (and what it points to) must stay valid until done is called.
// done(arg, rv, rep, err, errlen, deliver) runs on that thread once the
// call returned: rv 0 with the reply in rep (done releases it with
// tasq_wire_rep_fini), or the error with its message in err. deliver
// false: the aio was completed already (cancelled, timed out, the
// session closed): done only cleans up and must not touch the
// operation's output parameters. deliver true: done writes the outputs
// and returns the operation's result, with which (and err) the aio is
// then finished. Returns 0, or an error (nothing started, done never
// runs).
typedef int (*tasq_api_done_fn)(
    void *arg, int rv, tasq_rep *rep, char *err, size_t errlen, bool deliver);
int tasq_api_call_aio(tasq_session *s, const tasq_req *req,
    uint32_t timeout_ms, tasq_aio *aio, tasq_api_done_fn done, void *arg);

// tasq_api_call is the blocking form on the caller's thread: rv as
// tasq_chan_call, mapped with tasq_api_err; err gets the message.
int tasq_api_call(tasq_session *s, const tasq_req *req, uint32_t timeout_ms,
    tasq_rep *rep, char *err, size_t errlen);

// ---- aio, the provider side -----------------------------------------------
//
// An operation: tasq_api_aio_begin (refuses a busy aio), then
// tasq_api_aio_defer with a cancel function, and exactly one
// successful tasq_api_aio_finish (the first call wins; later ones return
// false and do nothing). The cancel function runs on the thread that
// cancels (tasq_aio_cancel, stop, a timeout) with no lock of the aio
// held; it should take the aio off the provider's lists and finish it
// with rv (TASQ_ECANCELLED or TASQ_EDEADLINE_EXCEEDED).
typedef void (*tasq_api_cancel_fn)(tasq_aio *aio, void *arg, int rv);

int  tasq_api_aio_begin(tasq_aio *aio);
void tasq_api_aio_defer(tasq_aio *aio, tasq_api_cancel_fn fn, void *arg);
bool tasq_api_aio_finish(tasq_aio *aio, int rv, const char *msg);

// tasq_api_aio_run runs an operation to its end on the calling thread:
// start(aio, arg) starts it on a private aio, then waits; returns its
// result and sets the thread's message. For the blocking forms.
int tasq_api_aio_run(int (*start)(tasq_aio *, void *), void *arg);

#endif
