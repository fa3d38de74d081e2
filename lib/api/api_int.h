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

// tasq_api_log_keep tells the library that the process logs on its own
// (tasq-server, which links the library's objects over its own
// tasq_core to ask its --peers): sessions then leave the program name
// and the log level alone. Call before the first tasq_session_open.
void tasq_api_log_keep(void);

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
	TASQ_API_OPT_RESOLVE_INTERVAL, // several servers (end of file)
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

// ---- tickers (ticker.c) -----------------------------------------------
//
// A ticker runs timed callbacks (ticks) on one thread of its own, started
// with the first tick. Arming a tick wakes that thread only when the
// tick is due before the thread's next wake-up, and stopping one never
// wakes it: a program that arms a tick and stops it again for every job
// of a stream of small jobs costs the thread one wake-up per due time
// (a linger of 20 ms), not two context switches a job (an nng timer aio
// wakes a task queue thread for its cancelled callback at every
// nng_aio_stop).
typedef struct tasq_api_tick {
	nng_time when;
	void (*fn)(void *arg); // on the ticker's thread
	void                 *arg;
	struct tasq_api_tick *prev, *next;
	bool                  queued;
} tasq_api_tick;

typedef struct tasq_api_ticker {
	nng_mtx       *mtx;
	nng_cv        *cv;
	nng_thread    *thr;  // started by the first tick
	tasq_api_tick *head; // queued ticks, by when
	tasq_api_tick *tail;
	tasq_api_tick *firing; // whose fn runs now (the lock dropped)
	nng_time       wake;   // when the thread wakes next (UINT64_MAX:
	                       // it waits for a tick)
	bool stop;
} tasq_api_ticker;

// tasq_api_ticker_init prepares t (no thread yet); _fini stops its
// thread once no tick is queued or firing (the owner stops them first).
int  tasq_api_ticker_init(tasq_api_ticker *t);
void tasq_api_ticker_fini(tasq_api_ticker *t);
// tasq_api_tick_at queues k (again, if it is queued) to run fn(arg) at
// when; fails only when the thread cannot start (k is not queued then).
int tasq_api_tick_at(tasq_api_ticker *t, tasq_api_tick *k, nng_time when,
    void (*fn)(void *), void *arg);
// tasq_api_tick_stop unqueues k and waits while its fn runs; after it, fn
// does not run for this arming. Never called from k's own fn.
void tasq_api_tick_stop(tasq_api_ticker *t, tasq_api_tick *k);

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
	// Jobs of this session done with (every result in) whose CloseJob
	// waits to ride on the next Fetch to their server
	// (FetchRequest.close_jobs), or goes on the closer's thread after
	// TASQ_API_CLOSE_DELAY_MS with no Fetch (client.c, "closes").
	struct tasq_api_close *closes;
	size_t                 nclose, cap_close;
	bool                   close_armed;
	tasq_api_tick          close_tick;
	tasq_api_ticker        closer;  // sends the closes no Fetch took
	tasq_api_ticker        lingers; // lazy jobs' lingers (client.c)
	// Several servers (the end of this file); NULL with one server.
	struct tasq_api_servers *servers;
};

// A CloseJob deferred (client.c): the job's member, id and the seq of
// the delivery it acknowledges.
struct tasq_api_close {
	uint32_t member;
	uint64_t job_id;
	uint64_t ack_seq;
};
// Within this long of a job's free, its CloseJob goes on the closer's
// thread when no Fetch to its server took it.
#define TASQ_API_CLOSE_DELAY_MS 50

// tasq_api_closes_flush sends every deferred CloseJob now, one request
// each (client.c; at_free: at most a second each); a failure but
// NOT_FOUND drops the other closes of that server (it ends those jobs
// after its --job-ttl).
void tasq_api_closes_flush(tasq_session *s, bool at_free);

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

// tasq_api_status_from_info fills st (its size kept) from a JobInfo of a
// reply (admin.c; the job handle's status too).
void tasq_api_status_from_info(tasq_job_status *st, const tasq_job_info *ji);

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

// ---- several servers (issue 15; docs/LIBRARY.md "Several servers") -------
//
// A session's `server` option is one server (one URL: an IP literal,
// ipc://, or a name that resolves to one address when the session opens)
// or several (a list "URL,URL,...", or one name that resolves to several
// addresses). With one server nothing changes: s->servers is NULL, s->chan
// is the server's channel and every call below costs what tasq_api_call
// costs (no probe, no lock of its own). With several, s->servers holds the
// set (lib/api/shard.h) and one tasq_chan per member; s->chan is then the
// channel of the member that answered first at open (kept for the code
// that still uses it directly; it goes to that one server).
//
// Members are named by number (tasq_shard_member.num, never reused); with
// one server the only member is number 1. TASQ_API_MEMBER_ANY (0) names
// "the default member": s->chan's member (the first in list order that
// was up at open) while it is up, else the lowest-numbered member up
// (with one server, the server).
//
// How members are kept fresh (several servers): a session thread (the
// prober) probes every member with Health when tasq_shard_due says so
// (never probed, or down and its back-off elapsed; the Health reply's
// identity keys the member), at once when a member's connection comes
// back (its chan's connection callback), and resolves the names again
// every resolve-interval (and soon after every member went down). A
// member is marked down when its connection drops (the callback) and when
// a call on it fails in transport (tasq_api_call_member, or
// tasq_api_member_failed from code that uses its chan directly). Calls
// never block on probes or lookups: they read the set's state.
//
// Thread-safe, all of them. Errors as tasq_api_call (0 or TASQ_E*, the
// message in err, NUL-terminated; err may be NULL when errlen is 0).
#include "shard.h"

#define TASQ_API_MEMBER_ANY 0u

// tasq_api_sharded returns whether s has several servers (a server list or
// a name with several addresses).
bool tasq_api_sharded(tasq_session *s);

// tasq_api_place_job gives a new job its id and its member: with several
// servers, rendezvous placement among the members up (PROTOCOL.md 16.3),
// after waiting (up to the connect timeout) for the members whose first
// probe has not ended: they are not known down, and a member skipped
// would not get its share of the jobs (a member still unprobed after the
// wait is taken as down). The id's top 16 bits are the member's tag.
// None up: TASQ_EUNAVAILABLE, err naming each member and why. With
// one server: a random non-zero 64-bit id (as before) and member 1.
int tasq_api_place_job(tasq_session *s, uint64_t *job_id, uint32_t *member,
    char *err, size_t errlen);

// tasq_api_place_job_r is tasq_api_place_job with the random part r
// given (1 .. TASQ_SHARD_R_MASK): the same r, the same servers up, the
// same placement, whatever the list's order (tests; with one server the
// id is r).
int tasq_api_place_job_r(tasq_session *s, uint64_t r, uint64_t *job_id,
    uint32_t *member, char *err, size_t errlen);

// tasq_api_job_member finds the member of job_id (by its tag, 16.2). On a
// tag collision (two servers share the tag) each of them that is up is
// asked (JobStatus) and the one that knows the job is the answer
// (TASQ_ENOT_FOUND when none does). Errors: TASQ_ENOT_FOUND (no server
// with the tag: err names it and the tags known), TASQ_EUNAVAILABLE (its
// server is down: err names it, for how long and why; or some members
// are not probed yet). With one server: member 1, no round trip.
int tasq_api_job_member(tasq_session *s, uint64_t job_id, uint32_t *member,
    char *err, size_t errlen);

// tasq_api_call_member is tasq_api_call to one member (TASQ_API_MEMBER_ANY:
// the default member). A member whose first probe is still running is
// waited for (up to the connect timeout). A member down and not
// connected fails at once with
// TASQ_EUNAVAILABLE naming it (no request is sent); a transport failure
// (an NNG error; not a timeout nor a server's refusal) marks it down, a
// success marks it up. Not a member (removed by a later resolution):
// TASQ_EUNAVAILABLE. With one server, member 1 (or ANY) is tasq_api_call.
int tasq_api_call_member(tasq_session *s, uint32_t member, const tasq_req *req,
    uint32_t timeout_ms, tasq_rep *rep, char *err, size_t errlen);

// tasq_api_call_member_aio is tasq_api_call_aio to one member, with
// tasq_api_call_member's routing and errors (delivered to done).
int tasq_api_call_member_aio(tasq_session *s, uint32_t member,
    const tasq_req *req, uint32_t timeout_ms, tasq_aio *aio,
    tasq_api_done_fn done, void *arg);

// tasq_api_members copies up to max members, in number order, into out
// and returns how many there are (may exceed max). Aliases (alias_of !=
// 0: another address of a server listed already) are included: skip them
// to count each server once (stats --all, workers leasing from every
// server). With several servers it first waits for the probes the open
// started (they end by about the connect timeout after the open), so
// that each member's state and identity are known; a member added later
// by a resolution may be listed unprobed (state unknown). With one
// server: one member, number 1, url the option's,
// identity 0 and probed false (it is never probed), state up.
size_t tasq_api_members(tasq_session *s, tasq_shard_member *out, size_t max);

// tasq_api_member_hold pins member's channel (TASQ_API_MEMBER_ANY: the
// default member's) for direct use (tasq_chan_call_start/_finish for a
// long poll, tasq_chan_seal for heartbeats) and puts it in *chanp and the
// member's number in *nump (may be NULL); release it with
// tasq_api_member_release(s, num) (a removed member's channel is closed
// after its last release). Errors: as tasq_api_call_member's before
// sending.
int  tasq_api_member_hold(tasq_session *s, uint32_t member, tasq_chan **chanp,
     uint32_t *nump, char *err, size_t errlen);
void tasq_api_member_release(tasq_session *s, uint32_t num);

// tasq_api_member_failed tells the session that a call on member num's
// channel failed in transport (rv, an NNG error, with why): it is marked
// down (no-op with one server or for other errors).
void tasq_api_member_failed(
    tasq_session *s, uint32_t num, int rv, const char *why);

// The session's side (lib/api/servers.c, used by session.c):
// tasq_api_servers_open makes the set when spec is several servers
// (*svp NULL and 0 when it is one: the session dials it as before), dials
// and probes every member at once (one dial attempt each: a refused one
// is known down at once; Health up to co's connect timeout) and returns
// as soon as a member is up and every one before it in the list is known
// down (the probes of the others go on: the calls that need them wait
// for them); while none is up, failed dials are retried until the
// connect timeout, then it fails, err naming each and why; _free closes
// it all (joining the probes still running)
// (no call running); _first_chan is the chan of the first member up
// (pinned until _free: s->chan); _call is tasq_api_call_member without
// the session's hold.
typedef struct tasq_api_servers tasq_api_servers;
int        tasq_api_servers_open(tasq_session *s, const char *spec,
           const tasq_chan_opts *co, const tasq_shard_opts *so,
           tasq_api_servers **svp, char *err, size_t errlen);
void       tasq_api_servers_free(tasq_api_servers *sv);
tasq_chan *tasq_api_servers_first_chan(tasq_api_servers *sv);
int        tasq_api_servers_call(tasq_session *s, uint32_t member,
           const tasq_req *req, uint32_t timeout_ms, tasq_rep *rep, char *err,
           size_t errlen);
// tasq_api_servers_waiters: how many callers wait for a member's first
// probe (placement, a lookup by id, a call to that member); for tests.
unsigned tasq_api_servers_waiters(tasq_session *s);

// tasq_api_session_open_with is tasq_session_open with the server set's
// options (so, e.g. its resolver: tests simulate names; NULL: defaults;
// resolve-interval comes from opts either way). tasq_session_open calls
// it with NULL.
int tasq_api_session_open_with(
    tasq_session **sp, const tasq_opts *opts, const tasq_shard_opts *so);

#endif
