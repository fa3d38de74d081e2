// client: the client side of the public API (tasq_job_*), a job's life
// as `tasq submit` lives it (client/submit.c is a program over it), on
// two threads per job, a sender (Submit) and a receiver (Fetch, Results,
// CloseJob), started only when the job needs them: a job of this
// process that fits in one batch and is finished before it goes out
// makes its one Fetch on the thread of the caller's tasq_job_next, with
// no thread of its own (lazy_ok, need_threads):
//
// - tasq_job_add appends payloads to the batch being filled; a batch is
//   cut when it is full (batch_size, or 1 MiB of payloads), when the
//   oldest payload in it waited linger_ms, or at tasq_job_finish. The
//   pump sends cut batches in order with Submit, each again with the
//   same boundaries until the server takes it (Submit is idempotent per
//   batch), after a pause for a full server or a lost connection.
// - A job of this process that is not detached collects its results
//   with Fetch: every delivery is acknowledged by the next Fetch (or the
//   CloseJob at the end), and a per-task done flag drops repeats, so
//   each result reaches the program exactly once. A batch is kept until
//   all its results are in: when the replies start coming from another
//   server (a restart), every such batch is sent again.
// - A detached or attached job reads its results in input order with
//   Results (from_index), only while someone wants them.
// - Results go into a ring of slots, one per task, in input order; the
//   program takes them with tasq_job_next (or result_cb), and the window
//   (tasks added whose results are not taken) bounds the memory. The
//   ring's segments are allocated as tasks reach them: a job of one task
//   with the default window of 262144 costs one segment, not 16 MiB.
//
// - A job that fits in one batch goes in the first Fetch (one round
//   trip); a server from before typed tasks gets square as values.
//
// Lock: the job's mutex guards everything below; the threads drop it for
// every request, and callbacks (result_cb, event_cb) run without it.
// Order: a job's mutex, then an aio's (tasq_api_aio_finish); emtx (one
// event_cb at a time) is never taken with the job's mutex held.
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_int.h"
#include "rand.h"

#define DEF_BATCH 16384
#define DEF_LINGER_MS 20
#define DEF_WINDOW 262144
#define BATCH_BYTES ((size_t) 1 << 20)
#define POLL_MS 1000
// call_retry's "the job is stopping": not a code the server can send.
#define STOPPED (-1)

// A batch: tasks first .. first + n - 1, their payloads one after the
// other in data (size bytes; lens[i] each, or 8 each for square).
struct batch {
	uint64_t      first;
	uint32_t      n, answered;
	uint32_t     *lens;
	uint8_t      *data;
	size_t        size, cap_n, cap_size;
	nng_time      deadline; // linger: cut by then
	struct batch *next;
};

// A task's result, at position pos in ring[pos & mask].
struct slot {
	uint64_t index;
	char    *msg; // NULL: none
	union {
		uint8_t  small[8];
		uint8_t *big;
	};
	uint32_t len;
	uint16_t code; // wire code
	bool     done;
};

enum mode {
	MODE_FETCH,   // this process's job, not detached
	MODE_RESULTS, // detached, or attached by id
};

struct waiter {
	tasq_aio      *aio;
	tasq_result   *r;   // next: where the result goes
	size_t         max; // next_many: most results (0: next)
	size_t        *np;  // next_many: how many were taken
	struct waiter *next;
};

// An event for event_cb, kept until the job's thread can call it without
// the lock.
#define MAX_EVENTS 8
struct event {
	int  kind;
	char msg[300];
};

struct tasq_job {
	tasq_session *s;
	// The job's server (several servers: the member its id's tag names,
	// PROTOCOL.md 16; one server: the server): its channel, held from
	// job_alloc to tasq_job_free, carries every request of the job.
	tasq_chan      *chan;
	uint32_t        member; // its number; 0 until held
	tasq_api_closer closer;
	nng_mtx        *mtx;
	nng_mtx        *emtx; // one event_cb at a time
	nng_cv         *cv;
	nng_thread     *thr;  // receives: Fetch, Results, CloseJob
	nng_thread     *sthr; // sends: Submit
	// A job of this process starts without threads (lazy): a job of
	// one batch, finished before it went out, makes its one-trip Fetch
	// on the caller's thread in tasq_job_next(_many), and the threads
	// start only once the job needs them (need_threads; the linger
	// timer, when the caller does not come for the trip in time).
	bool          threads; // thr and sthr run
	tasq_api_tick linger;  // lazy: starts the threads at the linger
	bool          linger_armed;
	uint64_t      id;
	enum mode     mode;
	char          queue[TASQ_WIRE_MAX_NAME + 1];
	char          type[TASQ_WIRE_MAX_NAME + 1];
	char          host[TASQ_WIRE_MAX_HOST + 1];
	bool          square;
	tasq_job_opts o;
	// Input.
	struct batch *fill;                // being filled (NULL: none)
	struct batch *sendq, *sendq_tail;  // cut, to send
	struct batch *unans, *unans_tail;  // sent, results missing
	uint64_t      nadded, nsent;       // tasks added, accepted
	bool          finished, last_sent; // input ended; server knows
	bool          sending;             // the sender has sendq's head out
	bool          carrying;            // a Fetch carries sendq's head
	bool          carry_off;     // no one-trip Fetch (an older server)
	bool          one_trip;      // the job went in one Fetch
	bool          legacy;        // square as values (an older server)
	bool          legacy_seen;   // ... and the server took a batch so
	bool          detachable;    // detached at the server, read as ours
	bool          leaving, left; // tasq_job_leave
	uint64_t      gone_at;       // restarted server lost it: fetch from
	// Results: a ring of mask + 1 slots, in segments of 1 << seg_shift
	// allocated when first used (slot_need), so that a small job of a
	// large window costs little.
	struct slot **segs;
	uint32_t      seg_shift;
	uint64_t      mask, win;
	uint64_t      nrecv;   // MODE_FETCH: results in; RESULTS: slots filled
	uint64_t      ntaken;  // results handed out
	uint64_t      cleared; // taken results whose slots were cleared
	uint64_t      nheavy;  // slots holding memory (unload)
	uint64_t      from;    // MODE_RESULTS: next from_index
	bool          want;    // MODE_RESULTS: someone reads results
	bool          results_done; // MODE_RESULTS: all read (job done)
	bool          server_done;  // the server says the job is done
	uint64_t      ack;          // MODE_FETCH: last delivery's seq
	uint64_t      ack_sent;     // the ack the server last got
	uint64_t      server_id;    // of the replies so far
	bool          closed_job;   // CloseJob sent (or not needed)
	bool          close_done;   // and answered (or failed)
	// End.
	int            err; // the error that ended the job (public code)
	char           errmsg[512];
	bool           stop;     // tasq_job_free, session closed
	bool           s_closed; // the session was closed
	bool           cancelled;
	unsigned       ops; // requests in flight that write to the job
	struct waiter *nexts, *waits, *flushes;
	// Progress and events (tasq_job_get_progress, event_cb).
	uint32_t     retries, restarts;
	bool         no_worker, nw_known;
	uint32_t     workers;
	uint64_t     cancel_dropped;
	uint32_t     cancel_running;
	bool         cancel_closed_only;
	char         last_retry[256];
	struct event events[MAX_EVENTS];
	unsigned     nevents;
};

// ---- small helpers -------------------------------------------------------

// The slots of a ring segment (at most).
#define SEG_SLOTS 512

// What slot_at shows for a slot of a segment not allocated yet: no
// result. Never written (slot_need comes first where a slot is
// written).
static const struct slot empty_slot = { .index = UINT64_MAX };

static struct slot *
slot_at(tasq_job *j, uint64_t pos)
{
	uint64_t     p   = pos & j->mask;
	struct slot *seg = j->segs[p >> j->seg_shift];

	if (seg == NULL) {
		return ((struct slot *) &empty_slot);
	}
	return (&seg[p & ((1u << j->seg_shift) - 1)]);
}

// Allocates the segment of the slot at pos, if it is not yet: 0, or
// TASQ_ERESOURCE_EXHAUSTED. j->mtx held.
static int
slot_need(tasq_job *j, uint64_t pos)
{
	struct slot **sp = &j->segs[(pos & j->mask) >> j->seg_shift];

	if (*sp == NULL &&
	    (*sp = calloc((size_t) 1 << j->seg_shift, sizeof(**sp))) == NULL) {
		return (TASQ_ERESOURCE_EXHAUSTED);
	}
	return (0);
}

static void
slot_clear(struct slot *sl)
{
	if (sl->len > sizeof(sl->small)) {
		free(sl->big);
	}
	free(sl->msg);
	memset(sl, 0, sizeof(*sl));
}

static const uint8_t *
slot_data(const struct slot *sl)
{
	return (sl->len > sizeof(sl->small) ? sl->big : sl->small);
}

static void
batch_free(struct batch *b)
{
	if (b != NULL) {
		free(b->lens);
		free(b->data);
		free(b);
	}
}

static void
batch_list_free(struct batch *b)
{
	while (b != NULL) {
		struct batch *n = b->next;
		batch_free(b);
		b = n;
	}
}

// Whether a refusal is transient (docs/PROTOCOL.md 12), as
// client/submit.c decides: a full server, a journal that failed, no
// answer, a lost connection. rv is tasq_chan_call's.
static bool
retryable(int rv, const char *err)
{
	if (rv == TASQ_ERESOURCE_EXHAUSTED) {
		return (strstr(err, "too many queues") == NULL);
	}
	return (rv == TASQ_EDEADLINE_EXCEEDED || rv == TASQ_EUNAVAILABLE ||
	    rv == NNG_ECLOSED || rv == NNG_ECONNREFUSED ||
	    rv == NNG_ECONNSHUT || rv == NNG_ECONNRESET || rv == NNG_EAGAIN ||
	    rv == NNG_ETIMEDOUT);
}

static uint32_t
backoff_next(uint32_t *backoff)
{
	*backoff = *backoff ? *backoff * 2 : 5;
	if (*backoff > 500) {
		*backoff = 500;
	}
	return (*backoff);
}

// Ends the job with an error: every waiter completes with it. j->mtx
// held.
static void job_fail(tasq_job *j, int rv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
job_fail(tasq_job *j, int rv, const char *fmt, ...)
{
	va_list ap;

	if (j->err != 0) {
		return;
	}
	j->err = tasq_api_err(rv);
	va_start(ap, fmt);
	vsnprintf(j->errmsg, sizeof(j->errmsg), fmt, ap);
	va_end(ap);
	nng_cv_wake(j->cv);
}

// Queues an event for event_cb (the job's threads call it without the
// lock: flush_events). j->mtx held.
static void emit(tasq_job *j, int kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
emit(tasq_job *j, int kind, const char *fmt, ...)
{
	va_list ap;

	if (j->o.event_cb == NULL || j->nevents == MAX_EVENTS) {
		return;
	}
	struct event *ev = &j->events[j->nevents++];
	ev->kind         = kind;
	va_start(ap, fmt);
	vsnprintf(ev->msg, sizeof(ev->msg), fmt, ap);
	va_end(ap);
}

// Calls event_cb for the events queued. j->mtx held, dropped meanwhile:
// returns whether it was, so that the caller looks again before it waits.
static bool
flush_events(tasq_job *j)
{
	bool dropped = false;

	while (j->nevents > 0) {
		struct event ev = j->events[0];
		memmove(&j->events[0], &j->events[1],
		    (j->nevents - 1) * sizeof(j->events[0]));
		j->nevents--;
		nng_mtx_unlock(j->mtx);
		nng_mtx_lock(j->emtx);
		j->o.event_cb(j->o.event_arg, ev.kind, ev.msg);
		nng_mtx_unlock(j->emtx);
		nng_mtx_lock(j->mtx);
		dropped = true;
	}
	return (dropped);
}

// ---- delivery to the program ---------------------------------------------

// Whether the job's results are this process's: every task added has a
// result to hand out (a job not detached, or a detachable one).
static bool
fetch_like(const tasq_job *j)
{
	return (j->mode == MODE_FETCH || j->detachable);
}

// Whether every result has been handed out. j->mtx held.
static bool
all_taken(tasq_job *j)
{
	if (fetch_like(j)) {
		return (j->finished && j->ntaken == j->nadded);
	}
	return (j->results_done && j->ntaken == j->nrecv);
}

// Whether the job is done (wait). j->mtx held.
static bool
job_done(tasq_job *j)
{
	if (fetch_like(j)) {
		return (j->finished && j->nrecv == j->nadded);
	}
	return (j->server_done || j->results_done);
}

// The most results one tasq_job_next_many takes: those it hands out stay
// the caller's until the next call, so the ring must not reuse their
// slots for tasks added meanwhile (at most window ahead of ntaken).
static size_t
many_max(const tasq_job *j)
{
	return ((size_t) (j->mask + 1 - j->win));
}

// Frees what a slot holds (a result over 8 bytes, a message), if
// anything. A slot's other fields are overwritten by put, and a slot is
// a result of position pos only while done and index == pos, so nothing
// else needs clearing. j->mtx held.
static void
unload(tasq_job *j, struct slot *sl)
{
	if (sl->len > sizeof(sl->small) || sl->msg != NULL) {
		slot_clear(sl);
		j->nheavy--;
	}
}

// Stores a result in slot sl (put), counting what it holds. j->mtx held.
static void put(struct slot *sl, uint64_t index, uint32_t code,
    const uint8_t *data, size_t len, const char *msg);

static void
put_counted(tasq_job *j, struct slot *sl, uint64_t index, uint32_t code,
    const uint8_t *data, size_t len, const char *msg)
{
	put(sl, index, code, data, len, msg);
	if (sl->len > sizeof(sl->small) || sl->msg != NULL) {
		j->nheavy++;
	}
}

// Clears the slots of the results taken before (their buffers were the
// caller's until now). j->mtx held.
static void
release(tasq_job *j)
{
	if (j->nheavy == 0) {
		j->cleared = j->ntaken; // nothing to free: put overwrites
		return;
	}
	for (; j->cleared < j->ntaken; j->cleared++) {
		unload(j, slot_at(j, j->cleared));
	}
}

// Takes the next result into *r if there is one: 0, or
// TASQ_EAGAIN-like 1 when none is ready, or an end code. The slot taken
// before this one is cleared now (its buffers were the caller's until
// this call). j->mtx held.
static int
take_one(tasq_job *j, tasq_result *r)
{
	struct slot *sl;

	if (all_taken(j)) {
		return (TASQ_EOUT_OF_RANGE);
	}
	sl = slot_at(j, j->ntaken);
	if (j->mode == MODE_RESULTS ? j->ntaken < j->nrecv
	                            : sl->done && sl->index == j->ntaken) {
		r->index = sl->index;
		r->code  = sl->code == 0 ? 0 : tasq_err_from_code(sl->code);
		r->data  = slot_data(sl);
		r->len   = sl->len;
		r->error = sl->msg != NULL ? sl->msg : "";
		j->ntaken++;
		return (0); // the caller wakes the adders (room in the window)
	}
	if (j->cancelled) {
		return (TASQ_ECANCELLED);
	}
	if (j->err != 0) {
		return (j->err);
	}
	if (j->stop) {
		return (TASQ_ECANCELLED);
	}
	return (1);
}

static int
take(tasq_job *j, tasq_result *r)
{
	int rv;

	release(j);
	if ((rv = take_one(j, r)) == 0) {
		nng_cv_wake(j->cv); // room in the window
	}
	return (rv);
}

// Takes up to max ready results (at least one, or take's other answers).
// j->mtx held.
static int
take_many(tasq_job *j, tasq_result *rs, size_t max, size_t *np)
{
	size_t n = 1, lim = many_max(j);
	int    rv;

	release(j);
	if ((rv = take_one(j, &rs[0])) != 0) {
		return (rv);
	}
	while (n < max && n < lim && take_one(j, &rs[n]) == 0) {
		n++;
	}
	nng_cv_wake(j->cv); // room in the window
	*np = n;
	return (0);
}

static const char *
end_msg(tasq_job *j, int rv)
{
	if (rv == TASQ_EOUT_OF_RANGE) {
		return ("every result was taken");
	}
	if (rv == TASQ_ECANCELLED) {
		return (j->cancelled ? "the job was cancelled"
		                     : "the job or its session was closed");
	}
	return (j->errmsg);
}

// Finishes the waiters that can be: nexts with results (or the end),
// waits once the job is done, flushes once the input is at the server.
// Collected under the lock, finished after it (a finish may run a
// cancel's work... no: it only dispatches; but keep the lock short).
static void
serve_waiters(tasq_job *j)
{
	struct waiter *w;
	int            rv;

	while ((w = j->nexts) != NULL) {
		rv = w->np != NULL ? take_many(j, w->r, w->max, w->np)
		                   : take(j, w->r);
		if (rv == 1) {
			break;
		}
		j->nexts = w->next;
		(void) tasq_api_aio_finish(
		    w->aio, rv, rv ? end_msg(j, rv) : "");
		free(w);
	}
	bool end = j->err != 0 || j->cancelled || j->stop;
	rv       = j->cancelled || (j->stop && j->err == 0) ? TASQ_ECANCELLED
	                                                    : j->err;
	// A job of this process is done once the server was told so too
	// (CloseJob), so that a status asked after a wait sees it done.
	bool done = job_done(j) &&
	    (j->mode != MODE_FETCH || j->nsent == 0 || j->close_done);
	if (done || end) {
		while ((w = j->waits) != NULL) {
			j->waits = w->next;
			(void) tasq_api_aio_finish(
			    w->aio, done ? 0 : rv, done ? "" : end_msg(j, rv));
			free(w);
		}
	}
	bool flushed = j->fill == NULL && j->sendq == NULL &&
	    (!j->finished || j->mode == MODE_FETCH || j->last_sent);
	if (flushed || end) {
		while ((w = j->flushes) != NULL) {
			j->flushes = w->next;
			(void) tasq_api_aio_finish(w->aio, flushed ? 0 : rv,
			    flushed ? "" : end_msg(j, rv));
			free(w);
		}
	}
}

// result_cb: hands out every ready result, without the lock. j->mtx
// held on entry and exit; returns whether it was dropped (flush_events).
static bool
run_result_cb(tasq_job *j)
{
	tasq_result r;
	bool        dropped = false;

	while (take(j, &r) == 0) {
		nng_mtx_unlock(j->mtx);
		j->o.result_cb(j->o.result_arg, &r);
		nng_mtx_lock(j->mtx);
		dropped = true;
	}
	return (dropped);
}

// ---- requests
// ----------------------------------------------------------------

// Whether the replies come from another server than before (a restart,
// which may have lost what the old one acknowledged). j->mtx held.
static bool
server_changed(tasq_job *j)
{
	uint64_t now = tasq_chan_server_id(j->chan);

	if (now == 0 || now == j->server_id) {
		return (false);
	}
	bool changed = j->server_id != 0;
	if (changed) {
		j->restarts++;
		emit(j, TASQ_JOB_EVENT_RESTART,
		    "the server restarted (id %016" PRIx64 " after %016" PRIx64
		    "); sending again every batch whose results are not all "
		    "in",
		    now, j->server_id);
	}
	j->server_id = now;
	return (changed);
}

// Every batch without all its results goes again, before those not sent
// yet. j->mtx held.
static void
resend_batches(tasq_job *j)
{
	if (j->unans == NULL) {
		return;
	}
	j->unans_tail->next = j->sendq;
	if (j->sendq == NULL) {
		j->sendq_tail = j->unans_tail;
	}
	j->sendq = j->unans;
	j->unans = j->unans_tail = NULL;
}

// After a restart: resend_batches, but not for a job that went in one
// trip: a server that has the job has its only batch (they came in one
// request), so it goes again only when the server says it has not the
// job (fetch). j->mtx held.
static void
resend_all(tasq_job *j)
{
	if (!j->one_trip) {
		resend_batches(j);
	}
}

static void
fill_submit(tasq_job *j, tasq_submit_req *sub)
{
	sub->queue         = j->queue;
	sub->job_id        = j->id;
	sub->type          = j->type;
	sub->host          = j->host;
	sub->detach        = j->o.detach;
	sub->result_ttl_ms = j->o.detach ? j->o.result_ttl_ms : 0;
	// The default goes as 0 (absent): the same for every server.
	sub->priority =
	    j->o.priority == TASQ_PRIORITY_DEFAULT ? 0 : j->o.priority;
	if (j->o.max_attempts != 0) {
		sub->has_retry          = true;
		sub->retry.max_attempts = j->o.max_attempts;
	}
	sub->payloads.width = j->square ? 8 : 0;
}

// Sends req until the server answers it, or the job must stop. Returns
// tasq_chan_call's rv (0 with rep), or STOPPED.
// j->mtx not held.
static int
call_retry(tasq_job *j, const tasq_req *req, uint32_t timeout_ms,
    tasq_rep *rep, char *err, size_t errlen, const char *what)
{
	uint32_t backoff = 0, fails = 0;
	int      rv;

	for (;;) {
		rv =
		    tasq_chan_call(j->chan, req, timeout_ms, rep, err, errlen);
		if (rv == 0 || !retryable(rv, err)) {
			return (rv);
		}
		// Several servers: the session marks the job's server down (a
		// transport error; the error names it), and its prober
		// redials it.
		tasq_api_member_failed(j->s, j->member, rv, err);
		nng_mtx_lock(j->mtx);
		snprintf(j->errmsg, sizeof(j->errmsg), "%s: %s; retrying",
		    what, err);
		snprintf(
		    j->last_retry, sizeof(j->last_retry), "%s: %s", what, err);
		j->retries++;
		bool stop = j->stop || j->cancelled;
		nng_mtx_unlock(j->mtx);
		if (stop) {
			return (STOPPED);
		}
		if (j->o.event_cb != NULL) {
			char msg[300];
			snprintf(msg, sizeof(msg), "%s: %s", what, err);
			nng_mtx_lock(j->emtx);
			j->o.event_cb(
			    j->o.event_arg, TASQ_JOB_EVENT_RETRY, msg);
			nng_mtx_unlock(j->emtx);
		}
		if (rv != TASQ_ERESOURCE_EXHAUSTED && ++fails % 3 == 0) {
			(void) tasq_chan_redial(j->chan);
		}
		nng_msleep(backoff_next(&backoff));
	}
}

// Fills sub with batch b (the square column as legacy values too, for a
// server from before typed tasks).
static void
fill_batch(tasq_job *j, const struct batch *b, tasq_submit_req *sub)
{
	fill_submit(j, sub);
	sub->first_index   = b->first;
	sub->n             = b->n;
	sub->payloads.lens = j->square ? NULL : b->lens;
	sub->payloads.data = b->data;
	sub->payloads.size = b->size;
	if (j->square && j->legacy) {
		// A little-endian host's int64 array as it is (malloc'd, so
		// aligned).
		sub->values = (int64_t *) (void *) b->data;
	}
}

// Whether a refusal of a square batch may be an older server's, one that
// knows only the legacy values column (it refuses a batch without values
// as INVALID_ARGUMENT): then square goes as values from now on, and the
// batch is sent again so. A newer server never refuses a valid width-8
// column, so this cannot hide a real error: the batch sent again as
// values gets the same answer. Only a batch taken so tells that the
// server is an old one (accepted: TASQ_JOB_EVENT_LEGACY); a refusal for
// another reason (a batch over --max-tasks) is not reported as one.
// j->mtx held.
static bool
legacy_fallback(tasq_job *j, int rv)
{
	if (rv != TASQ_EINVALID_ARGUMENT || !j->square || j->legacy) {
		return (false);
	}
	j->legacy = true;
	return (true);
}

// The server took batch b (sendq's head): it leaves the send queue, and
// waits for its results if they come to this process. j->mtx held.
static void
accepted(tasq_job *j, struct batch *b)
{
	if (j->legacy && !j->legacy_seen) {
		j->legacy_seen = true;
		emit(j, TASQ_JOB_EVENT_LEGACY,
		    "the server refused square tasks as payloads and took "
		    "them as values: an old server");
	}
	if ((j->sendq = b->next) == NULL) {
		j->sendq_tail = NULL;
	}
	b->next = NULL;
	if (b->first + b->n > j->nsent) {
		j->nsent = b->first + b->n;
	}
	if (fetch_like(j) && b->answered < b->n) {
		if (j->unans_tail != NULL) {
			j->unans_tail->next = b;
		} else {
			j->unans = b;
		}
		j->unans_tail = b;
	} else {
		batch_free(b);
	}
	nng_cv_wake(j->cv);
}

// Sends the first batch of the queue. j->mtx held (dropped meanwhile).
static void
send_batch(tasq_job *j)
{
	struct batch *b = j->sendq;
	tasq_req      req;
	tasq_rep      rep;
	char          err[512];
	int           rv;

	memset(&req, 0, sizeof(req));
	req.method = TASQ_M_SUBMIT;
	fill_batch(j, b, &req.u.submit);
	// The last batch of a detached job ends its input (a duplicate with
	// last ends it too, so retrying is safe).
	req.u.submit.last =
	    j->o.detach && j->finished && b->next == NULL && j->fill == NULL;
	j->sending = true;
	nng_mtx_unlock(j->mtx);
	rv = call_retry(
	    j, &req, j->s->timeout_ms, &rep, err, sizeof(err), "submit");
	nng_mtx_lock(j->mtx);
	j->sending = false;
	nng_cv_wake(j->cv);
	if (rv == STOPPED) {
		return;
	}
	if (server_changed(j)) {
		resend_all(j);
	}
	if (rv == TASQ_EFAILED_PRECONDITION && strstr(err, "cancel") != NULL) {
		j->cancelled = true; // cancelled by another client
		return;
	}
	if (legacy_fallback(j, rv)) {
		return; // the same batch again, as values
	}
	if (rv != 0) {
		job_fail(j, rv, "submit failed: %s", err);
		return;
	}
	tasq_wire_rep_fini(&rep);
	if (j->sendq != b) {
		return; // moved by resend_all: it goes again in order
	}
	if (req.u.submit.last) {
		j->last_sent = true;
	}
	accepted(j, b);
}

// A detached job whose input ended after its last batch went (or that
// had none), or one that tasq_job_leave leaves: a Submit with last and
// no task. j->mtx held.
static void
send_last(tasq_job *j)
{
	tasq_req req;
	tasq_rep rep;
	char     err[512];
	int      rv;

	memset(&req, 0, sizeof(req));
	req.method = TASQ_M_SUBMIT;
	fill_submit(j, &req.u.submit);
	req.u.submit.first_index = j->leaving ? j->nsent : j->nadded;
	req.u.submit.last        = true;
	j->sending               = true;
	nng_mtx_unlock(j->mtx);
	rv = call_retry(j, &req, j->s->timeout_ms, &rep, err, sizeof(err),
	    "ending the job's input");
	nng_mtx_lock(j->mtx);
	j->sending = false;
	nng_cv_wake(j->cv);
	if (rv == STOPPED) {
		return;
	}
	if (rv != 0) {
		job_fail(j, rv, "ending the job's input failed: %s%s", err,
		    rv == TASQ_EINVALID_ARGUMENT
		        ? " (a server older than --detach?)"
		        : "");
		return;
	}
	tasq_wire_rep_fini(&rep);
	j->last_sent = true;
	if (j->leaving) {
		j->left = true;
	}
}

// Counts a new result of task id against its batch; batches with all
// their results are let go. j->mtx held.
static void
answered(tasq_job *j, uint64_t id, struct batch **hint)
{
	struct batch *h = *hint;

	// Results come mostly in batch order: the batch of the last one
	// first (hint: valid while j->mtx is held and no batch is freed).
	if (h != NULL && id >= h->first && id < h->first + h->n) {
		h->answered++;
		return;
	}
	// In the send queue too: the sender may not have seen the reply to
	// the Submit of a batch whose results are in already.
	for (int l = 0; l < 2; l++) {
		struct batch *b = l == 0 ? j->unans : j->sendq;
		for (; b != NULL; b = b->next) {
			if (id >= b->first && id < b->first + b->n) {
				b->answered++;
				*hint = b;
				l     = 2;
				break;
			}
		}
	}
}

// Lets go the batches at the head of unans that have all their results.
// j->mtx held.
static void
let_go(tasq_job *j)
{
	while (j->unans != NULL && j->unans->answered == j->unans->n) {
		struct batch *b = j->unans;
		if ((j->unans = b->next) == NULL) {
			j->unans_tail = NULL;
		}
		batch_free(b);
	}
}

// Stores a result in sl. j->mtx held.
static void
put(struct slot *sl, uint64_t index, uint32_t code, const uint8_t *data,
    size_t len, const char *msg)
{
	sl->index = index;
	sl->code  = (uint16_t) code;
	sl->len   = 0;
	if (len > sizeof(sl->small)) {
		if ((sl->big = malloc(len)) != NULL) {
			memcpy(sl->big, data, len);
			sl->len = (uint32_t) len;
		} else {
			sl->code = TASQ_ERESOURCE_EXHAUSTED - TASQ_ERR_BASE;
		}
	} else if (len > 0) {
		memcpy(sl->small, data, len);
		sl->len = (uint32_t) len;
	}
	if (msg != NULL && msg[0] != '\0') {
		sl->msg = strdup(msg);
	}
	sl->done = true;
}

// Notes what a reply says about the workers of the job's queue and type
// (event_cb hears of every reply that says none serves it, and of the
// first that says one does again). j->mtx held.
static void
note_workers(tasq_job *j, bool no_worker, uint32_t workers)
{
	bool was = j->nw_known && j->no_worker;

	j->no_worker = no_worker;
	j->workers   = workers;
	j->nw_known  = true;
	if (no_worker) {
		emit(j, TASQ_JOB_EVENT_NO_WORKER,
		    "no worker serves queue %s, type %s (%" PRIu32
		    " worker%s connected, none for it)",
		    j->queue, j->type, workers, workers == 1 ? "" : "s");
	} else if (was) {
		emit(j, TASQ_JOB_EVENT_WORKER,
		    "a worker for queue %s, type %s has come", j->queue,
		    j->type);
	}
}

// Whether the job may go in one round trip: a Fetch that carries its
// only batch (FetchRequest.submit), the input having ended before it
// went out. j->mtx held.
static bool
one_trip_ok(tasq_job *j)
{
	return (j->mode == MODE_FETCH && !j->carry_off && !j->sending &&
	    !j->carrying && j->nsent == 0 && j->finished && j->fill == NULL &&
	    j->sendq != NULL && j->sendq->next == NULL &&
	    j->sendq->first == 0 && j->unans == NULL);
}

// The wait between polls after a restarted server answered NOT_FOUND
// (the batches sent again make the job again). j->mtx held.
static void
pause_locked(tasq_job *j, uint32_t ms)
{
	nng_time until = nng_clock() + ms;
	while (!j->stop && nng_clock() < until) {
		(void) nng_cv_until(j->cv, until);
	}
}

// ---- closes: CloseJob deferred to the next Fetch ---------------------------
//
// A job of this process whose every result is in is over at the server
// but for the acknowledgement of its last delivery. Its CloseJob is not a
// round trip of its own at tasq_job_free: it waits in the session's list
// and the next Fetch to its server carries it (FetchRequest.close_jobs,
// up to TASQ_WIRE_MAX_CLOSES of them), so that a stream of small jobs
// costs one request a job, as one long job does. With no such Fetch
// within TASQ_API_CLOSE_DELAY_MS, the closer's thread sends the CloseJob;
// tasq_session_free sends what is left. A server from before close_jobs
// ignores them, and ends those jobs after its --job-ttl.

static void close_tick_cb(void *arg);
static void linger_cb(void *arg);

// Queues a CloseJob (the job's lock may be held: only s->mtx is taken).
static void
close_defer(tasq_session *s, uint32_t member, uint64_t job_id, uint64_t ack)
{
	nng_mtx_lock(s->mtx);
	if (s->nclose == s->cap_close) {
		size_t nc = s->cap_close ? 2 * s->cap_close : 16;
		struct tasq_api_close *n = realloc(s->closes, nc * sizeof(*n));
		if (n == NULL) {
			nng_mtx_unlock(s->mtx);
			return; // the server ends it after --job-ttl
		}
		s->closes    = n;
		s->cap_close = nc;
	}
	s->closes[s->nclose].member  = member;
	s->closes[s->nclose].job_id  = job_id;
	s->closes[s->nclose].ack_seq = ack;
	s->nclose++;
	if (!s->close_armed) {
		s->close_armed = tasq_api_tick_at(&s->closer, &s->close_tick,
		                     nng_clock() + TASQ_API_CLOSE_DELAY_MS,
		                     close_tick_cb, s) == 0;
	}
	nng_mtx_unlock(s->mtx);
}

// Takes up to TASQ_WIRE_MAX_CLOSES of the closes of member into pairs
// (job_id, ack_seq); returns how many.
static size_t
closes_take(tasq_session *s, uint32_t member, uint64_t *pairs)
{
	size_t n = 0, k = 0;

	nng_mtx_lock(s->mtx);
	for (size_t i = 0; i < s->nclose; i++) {
		const struct tasq_api_close *c = &s->closes[i];
		if (c->member == member && n < TASQ_WIRE_MAX_CLOSES) {
			pairs[2 * n]     = c->job_id;
			pairs[2 * n + 1] = c->ack_seq;
			n++;
		} else {
			s->closes[k++] = *c;
		}
	}
	s->nclose = k;
	nng_mtx_unlock(s->mtx);
	return (n);
}

void
tasq_api_closes_flush(tasq_session *s, bool at_free)
{
	struct tasq_api_close c;

	for (;;) {
		tasq_req req;
		tasq_rep rep;
		char     err[512];
		int      rv;

		nng_mtx_lock(s->mtx);
		if (s->nclose == 0) {
			nng_mtx_unlock(s->mtx);
			return;
		}
		c = s->closes[--s->nclose];
		nng_mtx_unlock(s->mtx);
		memset(&req, 0, sizeof(req));
		req.method              = TASQ_M_CLOSE_JOB;
		req.u.close_job.job_id  = c.job_id;
		req.u.close_job.ack_seq = c.ack_seq;
		rv = tasq_api_call_member(s, c.member, &req,
		    at_free && s->timeout_ms > 1000 ? 1000 : s->timeout_ms,
		    &rep, err, sizeof(err));
		if (rv == 0) {
			tasq_wire_rep_fini(&rep);
		} else if (rv != TASQ_ENOT_FOUND) {
			// The server is not answering: its other closes are
			// dropped rather than tried one timeout after another
			// (its --job-ttl ends those jobs).
			nng_mtx_lock(s->mtx);
			size_t k = 0;
			for (size_t i = 0; i < s->nclose; i++) {
				if (s->closes[i].member != c.member) {
					s->closes[k++] = s->closes[i];
				}
			}
			s->nclose = k;
			nng_mtx_unlock(s->mtx);
		}
	}
}

// The closer's tick: the closes no Fetch took go now.
static void
close_tick_cb(void *arg)
{
	tasq_session *s = arg;

	nng_mtx_lock(s->mtx);
	s->close_armed = false;
	nng_mtx_unlock(s->mtx);
	tasq_api_closes_flush(s, false);
}

// One Fetch: acknowledges the last delivery, takes the new results. With
// carry, it also carries the job's only batch (one_trip_ok). j->mtx held
// (dropped meanwhile).
static void
fetch(tasq_job *j, bool carry)
{
	struct batch *b = carry ? j->sendq : NULL;
	tasq_req      req;
	tasq_rep      rep;
	char          err[512];
	int           rv;

	uint64_t closes[2 * TASQ_WIRE_MAX_CLOSES];

	memset(&req, 0, sizeof(req));
	req.method              = TASQ_M_FETCH;
	req.u.fetch.job_id      = j->id;
	req.u.fetch.ack_seq     = j->ack;
	req.u.fetch.max_results = 65536;
	req.u.fetch.wait_ms     = j->o.poll_wait_ms;
	req.u.fetch.id_runs     = true;
	req.u.fetch.close_jobs  = closes;
	req.u.fetch.nclose      = closes_take(j->s, j->member, closes);
	if (carry) {
		req.u.fetch.has_submit = true;
		fill_batch(j, b, &req.u.fetch.submit);
		j->carrying = true;
	}
	nng_mtx_unlock(j->mtx);
	rv = call_retry(j, &req, j->s->timeout_ms + req.u.fetch.wait_ms, &rep,
	    err, sizeof(err), carry ? "submit" : "fetch");
	nng_mtx_lock(j->mtx);
	j->carrying    = false;
	bool restarted = server_changed(j);
	if (restarted) {
		resend_all(j);
	}
	nng_cv_wake(j->cv);
	if (rv == STOPPED) {
		return;
	}
	if (carry &&
	    (rv == TASQ_ENOT_FOUND || (rv == 0 && !rep.u.fetch.has_submit))) {
		// An older server ignored the batch: it goes with Submit.
		if (rv == 0) {
			tasq_wire_rep_fini(&rep);
		}
		j->carry_off = true;
		return;
	}
	if (carry && legacy_fallback(j, rv)) {
		return; // carried again, as values
	}
	if (!carry && rv == TASQ_ENOT_FOUND && j->restarts > 0) {
		if (j->one_trip) {
			resend_batches(j); // the job's only batch, again
		}
		if (j->sendq == NULL && !j->sending && j->nrecv == j->nsent) {
			// A restarted server without the job, and every
			// result of what was sent is in: nothing is to be
			// sent again, and the job comes back with the next
			// batch.
			if (j->gone_at != j->nsent) {
				emit(j, TASQ_JOB_EVENT_GONE,
				    "the restarted server does not have the "
				    "job; none of its results is missing: the "
				    "next batch makes it again");
			}
			j->gone_at = j->nsent;
		} else {
			// The batches sent again make it again.
			pause_locked(j, 20);
		}
		j->ack = j->ack_sent = 0;
		return;
	}
	if (rv == TASQ_ECANCELLED) {
		// Cancelled (by anyone): every result it had was delivered.
		j->cancelled = true;
		return;
	}
	if (rv != 0) {
		job_fail(
		    j, rv, "%s failed: %s", carry ? "submit" : "fetch", err);
		return;
	}
	if (carry) {
		j->one_trip = true;
		if (j->sendq == b) {
			accepted(j, b);
		}
	}
	const tasq_blobs *bl   = &rep.u.fetch.results;
	size_t            off  = 0;
	struct batch     *hint = NULL;
	for (size_t i = 0; i < rep.u.fetch.n; i++) {
		uint64_t       id   = rep.u.fetch.ids[i];
		size_t         len  = 0;
		const uint8_t *item = NULL;
		if (rep.u.fetch.values == NULL) {
			len  = bl->width ? bl->width
			                 : (bl->lens ? bl->lens[i] : 0);
			item = bl->data != NULL ? bl->data + off : NULL;
			off += len;
		} else {
			item = (const uint8_t *) &rep.u.fetch.values[i];
			len  = 8;
		}
		// Not ours, taken already, or seen already: dropped. (A
		// task may have its result before the sender has the reply
		// to its Submit: nsent is not a bound.)
		struct slot *sl = slot_at(j, id);
		if (id >= j->nadded || id < j->ntaken ||
		    (sl->done && sl->index == id)) {
			continue;
		}
		put_counted(j, sl, id,
		    rep.u.fetch.codes ? rep.u.fetch.codes[i] : 0, item, len,
		    rep.u.fetch.errors ? rep.u.fetch.errors[i] : NULL);
		j->nrecv++;
		answered(j, id, &hint);
	}
	let_go(j);
	j->ack_sent = req.u.fetch.ack_seq;
	if (rep.u.fetch.seq != 0) {
		j->ack = rep.u.fetch.seq;
	}
	note_workers(j, rep.u.fetch.no_worker, rep.u.fetch.workers);
	tasq_wire_rep_fini(&rep);
	nng_cv_wake(j->cv); // readers in tasq_job_next
}

// One Results request for as many results as the window has room for.
// j->mtx held (dropped meanwhile).
static void
results(tasq_job *j)
{
	tasq_req req;
	tasq_rep rep;
	char     err[512];
	int      rv;
	uint64_t room = j->win - (j->nrecv - j->ntaken);

	memset(&req, 0, sizeof(req));
	req.method               = TASQ_M_RESULTS;
	req.u.results.job_id     = j->id;
	req.u.results.from_index = j->from;
	req.u.results.max        = room > 65536 ? 65536 : (uint32_t) room;
	req.u.results.wait_ms    = j->o.poll_wait_ms;
	nng_mtx_unlock(j->mtx);
	rv = call_retry(j, &req, j->s->timeout_ms + req.u.results.wait_ms,
	    &rep, err, sizeof(err), "results");
	nng_mtx_lock(j->mtx);
	if (rv == STOPPED) {
		return;
	}
	if (j->detachable && server_changed(j)) {
		resend_all(j);
		nng_cv_wake(j->cv); // the sender: its queue has them again
	}
	if (rv == TASQ_ENOT_FOUND && j->detachable && j->restarts > 0) {
		// A restarted server without the job, while its batches go
		// again.
		pause_locked(j, 20);
		return;
	}
	if (rv != 0) {
		job_fail(j, rv, "results failed: %s", err);
		return;
	}
	const tasq_blobs *bl   = &rep.u.results.results;
	size_t            off  = 0;
	struct batch     *hint = NULL;
	for (size_t i = 0; i < rep.u.results.n && i < room; i++) {
		size_t len =
		    bl->width ? bl->width : (bl->lens ? bl->lens[i] : 0);
		if (slot_need(j, j->nrecv) != 0) {
			job_fail(j, TASQ_ERESOURCE_EXHAUSTED, "out of memory");
			break;
		}
		struct slot *sl = slot_at(j, j->nrecv);
		unload(j, sl);
		put_counted(j, sl, rep.u.results.ids[i],
		    rep.u.results.codes ? rep.u.results.codes[i] : 0,
		    bl->data != NULL ? bl->data + off : NULL, len,
		    rep.u.results.errors ? rep.u.results.errors[i] : NULL);
		off += len;
		j->nrecv++;
		if (j->detachable) {
			answered(j, rep.u.results.ids[i], &hint);
		}
	}
	let_go(j);
	if (rep.u.results.next_index > j->from) {
		j->from = rep.u.results.next_index;
	}
	if (rep.u.results.has_job) {
		if (rep.u.results.job.state == TASQ_JOB_DONE) {
			j->server_done = true;
			if (rep.u.results.n == 0) {
				j->results_done = true;
			}
		} else if (rep.u.results.job.state ==
		    TASQ_JOB_STATE_CANCELLED) {
			j->cancelled = true;
		}
		note_workers(
		    j, rep.u.results.job.no_worker, rep.u.results.job.workers);
	}
	tasq_wire_rep_fini(&rep);
	nng_cv_wake(j->cv); // readers in tasq_job_next
}

// Asks the server whether the job is done (someone waits and nobody
// reads its results). j->mtx held (dropped meanwhile).
static void
poll_status(tasq_job *j)
{
	tasq_req req;
	tasq_rep rep;
	char     err[512];
	int      rv;

	memset(&req, 0, sizeof(req));
	req.method              = TASQ_M_JOB_STATUS;
	req.u.job_status.job_id = j->id;
	nng_mtx_unlock(j->mtx);
	rv = call_retry(
	    j, &req, j->s->timeout_ms, &rep, err, sizeof(err), "job status");
	nng_mtx_lock(j->mtx);
	if (rv == STOPPED) {
		return;
	}
	if (rv != 0) {
		job_fail(j, rv, "job status failed: %s", err);
		return;
	}
	if (rep.u.job_status.job.state == TASQ_JOB_DONE) {
		j->server_done = true;
	} else if (rep.u.job_status.job.state == TASQ_JOB_STATE_CANCELLED) {
		j->cancelled = true;
	}
	tasq_wire_rep_fini(&rep);
	nng_cv_wake(j->cv); // the sender: the job may have ended
	if (!j->server_done && !j->cancelled) {
		// Not done: ask again in a while (woken early by a stop).
		nng_time until = nng_clock() + 200;
		while (!j->stop && nng_clock() < until) {
			(void) nng_cv_until(j->cv, until);
		}
	}
}

// CloseJob with the last delivery's seq: the job is over at the server.
// j->mtx held (dropped meanwhile).
static void
close_job(tasq_job *j)
{
	tasq_req req;
	tasq_rep rep;
	char     err[512];

	memset(&req, 0, sizeof(req));
	req.method              = TASQ_M_CLOSE_JOB;
	req.u.close_job.job_id  = j->id;
	req.u.close_job.ack_seq = j->ack;
	j->closed_job           = true;
	nng_mtx_unlock(j->mtx);
	// The server drops it after --job-ttl anyway: one try.
	if (tasq_chan_call(j->chan, &req, j->s->timeout_ms, &rep, err,
	        sizeof(err)) == 0) {
		tasq_wire_rep_fini(&rep);
	}
	nng_mtx_lock(j->mtx);
	j->close_done = true;
	nng_cv_wake(j->cv); // tasq_job_wait
}

// ---- the job's threads: a sender and a receiver
// --------------------------------

// Cuts the batch being filled: it goes to the send queue. j->mtx held.
static void
cut(tasq_job *j)
{
	struct batch *b = j->fill;

	if (b == NULL || b->n == 0) {
		return;
	}
	j->fill = NULL;
	if (j->sendq_tail != NULL) {
		j->sendq_tail->next = b;
	} else {
		j->sendq = b;
	}
	j->sendq_tail = b;
	nng_cv_wake(j->cv);
}

// The sender: cuts batches (linger) and sends them in order with Submit,
// and ends a detached job's input.
static void
sender(void *arg)
{
	tasq_job *j = arg;

	nng_mtx_lock(j->mtx);
	while (!j->stop) {
		nng_time now   = nng_clock();
		bool     ended = j->err != 0 || j->cancelled;

		if (j->fill != NULL &&
		    (j->finished || now >= j->fill->deadline)) {
			cut(j);
		}
		if (flush_events(j)) {
			// The lock was dropped: what was looked at is stale,
			// and a wake-up meanwhile (a stop) would be lost.
			continue;
		}
		serve_waiters(j);
		if (ended || j->left) {
			(void) nng_cv_wait(j->cv);
			continue;
		}
		if (j->leaving) {
			// tasq_job_leave: what is not sent yet is dropped, and
			// the input ends with what the server has.
			batch_free(j->fill);
			j->fill = NULL;
			batch_list_free(j->sendq);
			j->sendq = j->sendq_tail = NULL;
			if (j->last_sent) {
				j->left = true;
				nng_cv_wake(j->cv);
			} else {
				send_last(j);
			}
			continue;
		}
		if (j->sendq != NULL && !j->carrying && !one_trip_ok(j)) {
			send_batch(j);
			continue;
		}
		if (j->o.detach && j->finished && j->fill == NULL &&
		    j->sendq == NULL && !j->last_sent) {
			send_last(j);
			continue;
		}
		// Nothing to do until more input or the linger.
		if (j->fill != NULL) {
			(void) nng_cv_until(j->cv, j->fill->deadline);
		} else {
			(void) nng_cv_wait(j->cv);
		}
	}
	serve_waiters(j);
	nng_mtx_unlock(j->mtx);
}

// The receiver: the one-trip Fetch, then Fetch (this process's job) or
// Results (detached, detachable or attached), result_cb, and CloseJob
// at the end.
static void
receiver(void *arg)
{
	tasq_job *j = arg;

	nng_mtx_lock(j->mtx);
	while (!j->stop) {
		bool ended = j->err != 0 || j->cancelled;

		// Either drops the lock: then ended is looked at again, and
		// the waits below look at stop, whose wake-up may have come
		// meanwhile. (Not from the top, as the sender does: a job
		// whose last results came goes on to its CloseJob even when
		// tasq_job_free is waiting, as before.)
		bool dropped = false;
		if (j->o.result_cb != NULL) {
			dropped = run_result_cb(j);
		}
		dropped = flush_events(j) || dropped;
		if (dropped) {
			ended = j->err != 0 || j->cancelled;
		}
		serve_waiters(j);
		if (ended) {
			if (!j->stop) {
				(void) nng_cv_wait(j->cv);
			}
			continue;
		}
		if (one_trip_ok(j)) {
			fetch(j, true);
			continue;
		}
		// While the job lives the long-poll goes on, even with every
		// result sent so far in: it acknowledges the last delivery
		// (which the server holds against its --max-tasks until
		// then), waits for the next batch's results and notices a
		// restart. Not before the first batch is in (the job does not
		// exist yet), nor after a restarted server lost it with
		// nothing missing, until the next batch makes it again.
		if (j->mode == MODE_FETCH && j->nsent > j->gone_at &&
		    !job_done(j)) {
			fetch(j, false);
			continue;
		}
		if (j->mode == MODE_FETCH && job_done(j) && !j->closed_job &&
		    j->nsent > 0) {
			close_job(j);
			continue;
		}
		bool readable = j->detachable
		    ? j->nsent > 0 && !job_done(j) && !j->leaving
		    : (j->o.detach ? j->last_sent : true);
		if (j->mode == MODE_RESULTS && !j->results_done && readable &&
		    (j->want || j->o.result_cb != NULL) &&
		    j->nrecv - j->ntaken < j->win) {
			results(j);
			continue;
		}
		if (j->mode == MODE_RESULTS && !j->detachable &&
		    j->waits != NULL && !j->server_done && readable) {
			poll_status(j);
			continue;
		}
		if (!j->stop) {
			(void) nng_cv_wait(j->cv);
		}
	}
	serve_waiters(j);
	nng_mtx_unlock(j->mtx);
}

static void
job_closer(void *arg)
{
	tasq_job *j = arg;

	nng_mtx_lock(j->mtx);
	j->stop     = true;
	j->s_closed = true; // nothing more goes to the server
	nng_cv_wake(j->cv);
	nng_mtx_unlock(j->mtx);
}

// ---- starting the threads late -------------------------------------------

// Starts the job's threads. j->mtx held (they wait for it).
static void
start_threads(tasq_job *j)
{
	int rv;

	if (j->threads || j->stop) {
		return;
	}
	if ((rv = nng_thread_create(&j->thr, receiver, j)) != 0) {
		j->thr = NULL;
		job_fail(j, TASQ_ERESOURCE_EXHAUSTED,
		    "cannot start the job's thread: %s", nng_strerror(rv));
		return;
	}
	j->threads = true; // tasq_job_free joins what runs
	if ((rv = nng_thread_create(&j->sthr, sender, j)) != 0) {
		j->sthr = NULL;
		job_fail(j, TASQ_ERESOURCE_EXHAUSTED,
		    "cannot start the job's thread: %s", nng_strerror(rv));
	}
}

// Whether a lazy job can go on without its threads for now: nothing of
// it is at the server yet and either nothing is to be sent (a batch
// filling, whose linger the timer keeps) or its only batch waits for the
// one-trip Fetch (a caller's tasq_job_next makes it, or the timer starts
// the threads), or is out in one; or every result is in (CloseJob goes
// with tasq_job_free); or it has ended. j->mtx held.
static bool
lazy_ok(tasq_job *j)
{
	if (j->err != 0 || j->cancelled || j->stop) {
		return (true);
	}
	if (j->nsent == 0 && !j->sending && j->unans == NULL) {
		return (j->sendq == NULL || j->carrying || one_trip_ok(j));
	}
	return (job_done(j));
}

// Wakes the job's threads, starting them first if the job needs them
// now (lazy_ok); a lazy job's linger timer is armed with its first
// batch. j->mtx held.
static void
need_threads(tasq_job *j)
{
	if (!j->threads) {
		if (!lazy_ok(j)) {
			start_threads(j);
		} else if (j->fill != NULL && !j->linger_armed) {
			// On the session's ticker: no wake-up of its thread
			// for a job freed before the linger (api_int.h).
			j->linger_armed =
			    tasq_api_tick_at(&j->s->lingers, &j->linger,
			        j->fill->deadline, linger_cb, j) == 0;
			if (!j->linger_armed) {
				start_threads(j);
			}
		}
	}
	nng_cv_wake(j->cv);
}

// The linger of a lazy job's first batch is over: the batch goes, and
// so does a finished job's one trip that no caller came for. The
// threads start unless a caller's Fetch is out or made every result
// come.
static void
linger_cb(void *arg)
{
	tasq_job *j = arg;

	nng_mtx_lock(j->mtx);
	if (!j->threads && !j->carrying && !(j->nsent > 0 && job_done(j))) {
		start_threads(j);
	}
	nng_cv_wake(j->cv);
	nng_mtx_unlock(j->mtx);
}

// A lazy job's one-trip Fetch on the caller's thread (tasq_job_next,
// tasq_job_next_many), when it may go: returns whether it went (the lock
// was dropped meanwhile; the threads start if the job needs more).
// j->mtx held.
static bool
trip_here(tasq_job *j)
{
	if (j->threads || !one_trip_ok(j)) {
		return (false);
	}
	fetch(j, true);
	need_threads(j);
	return (true);
}

// ---- making and freeing jobs
// ---------------------------------------------------

static int
job_alloc(tasq_job **jp, tasq_session *s, const tasq_job_opts *o,
    enum mode mode, uint64_t id, uint32_t member)
{
	tasq_job *j;
	char      err[512];
	int       rv;

	if ((j = calloc(1, sizeof(*j))) == NULL) {
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	j->s    = s;
	j->mode = mode;
	j->id   = id;
	// Only the fields the caller's version of the struct has.
	j->o.size = sizeof(j->o);
	if (o != NULL) {
		memcpy(
		    &j->o, o, o->size < sizeof(j->o) ? o->size : sizeof(j->o));
		j->o.size = sizeof(j->o);
	}
	snprintf(j->queue, sizeof(j->queue), "%s",
	    j->o.queue != NULL ? j->o.queue : "default");
	snprintf(j->type, sizeof(j->type), "%s",
	    j->o.type != NULL ? j->o.type : TASQ_TYPE_SQUARE);
	j->o.queue = j->o.type = NULL; // borrowed: not kept
	j->square              = strcmp(j->type, TASQ_TYPE_SQUARE) == 0;
	if (j->o.batch_size == 0) {
		j->o.batch_size = DEF_BATCH;
	}
	if (j->o.linger_ms == 0) {
		j->o.linger_ms = DEF_LINGER_MS;
	}
	if (j->o.batch_bytes == 0) {
		j->o.batch_bytes = BATCH_BYTES;
	}
	if (j->o.poll_wait_ms == 0) {
		j->o.poll_wait_ms = POLL_MS;
	}
	// detach_on_leave: detached at the server from the first batch
	// (so that tasq_job_leave can leave it there), read as ours.
	if (mode == MODE_RESULTS && j->o.detach && j->o.detach_on_leave) {
		j->detachable = true;
	}
	j->win = j->o.window ? j->o.window : DEF_WINDOW;
	// One slot more than the window: a taken result's buffers stay
	// the caller's until the next take.
	uint64_t cap = 1;
	while (cap < j->win + 1) {
		cap <<= 1;
	}
	j->mask      = cap - 1;
	j->seg_shift = 0;
	while (((uint64_t) 1 << j->seg_shift) < SEG_SLOTS &&
	    ((uint64_t) 1 << j->seg_shift) < cap) {
		j->seg_shift++;
	}
	if (gethostname(j->host, sizeof(j->host) - 1) != 0) {
		j->host[0] = '\0';
	}
	for (char *h = j->host; *h != '\0'; h++) {
		if ((unsigned char) *h < 0x20 || *h == 0x7f) {
			*h = '?';
		}
	}
	if ((j->segs = calloc(
	         (size_t) (cap >> j->seg_shift), sizeof(*j->segs))) == NULL ||
	    nng_mtx_alloc(&j->mtx) != 0 || nng_mtx_alloc(&j->emtx) != 0 ||
	    nng_cv_alloc(&j->cv, j->mtx) != 0) {
		tasq_job_free(j);
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	if ((rv = tasq_api_session_hold(s)) != 0) {
		j->s = NULL;
		tasq_job_free(j);
		return (rv);
	}
	if ((rv = tasq_api_member_hold(
	         s, member, &j->chan, &j->member, err, sizeof(err))) != 0) {
		tasq_job_free(j);
		return (tasq_api_fail(rv, "%s", err));
	}
	// This process's job starts without threads (lazy: need_threads starts
	// them); a result_cb or event_cb is called from them, and a detached
	// or attached job reads results from the start.
	bool lazy = mode == MODE_FETCH && j->o.result_cb == NULL &&
	    j->o.event_cb == NULL;
	j->closer.fn  = job_closer;
	j->closer.arg = j;
	tasq_api_session_add_closer(s, &j->closer);
	if (!lazy) {
		nng_mtx_lock(j->mtx);
		start_threads(j);
		rv = j->err;
		nng_mtx_unlock(j->mtx);
		if (rv != 0) {
			tasq_job_free(j);
			return (tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED,
			    "cannot start the job's thread"));
		}
	}
	*jp = j;
	return (0);
}

TASQ_API int
tasq_job_open(tasq_job **jobp, tasq_session *s, const tasq_job_opts *o)
{
	tasq_job_opts d = TASQ_JOB_OPTS_INIT;

	tasq_api_clear();
	if (jobp == NULL || s == NULL) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_job_open: jobp or s is NULL"));
	}
	if (o == NULL) {
		o = &d;
	}
	if (o->size < offsetof(tasq_job_opts, result_cb)) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_job_opts.size is %zu: initialise the options with "
		    "TASQ_JOB_OPTS_INIT",
		    o->size));
	}
	if (o->queue != NULL && !tasq_wire_valid_name(o->queue)) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "queue '%.80s': 1-64 characters of [A-Za-z0-9._-]",
		    o->queue));
	}
	if (o->type != NULL && !tasq_wire_valid_name(o->type)) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "type '%.80s': 1-64 characters of [A-Za-z0-9._-]",
		    o->type));
	}
	if (o->priority > TASQ_WIRE_MAX_PRIORITY) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "priority %u: at most %d", (unsigned) o->priority,
		    TASQ_WIRE_MAX_PRIORITY));
	}
	if (o->batch_size > TASQ_WIRE_MAX_IDS) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "batch_size %u: at most %d", (unsigned) o->batch_size,
		    TASQ_WIRE_MAX_IDS));
	}
	// The job's id and server: with several servers, rendezvous
	// placement among those up (the id's tag names the server).
	uint64_t id;
	uint32_t member;
	char     err[512];
	int      rv;
	if ((rv = tasq_api_place_job(s, &id, &member, err, sizeof(err))) !=
	    0) {
		return (tasq_api_fail(rv, "%s", err));
	}
	return (job_alloc(
	    jobp, s, o, o->detach ? MODE_RESULTS : MODE_FETCH, id, member));
}

TASQ_API uint64_t
tasq_job_id(const tasq_job *job)
{
	return (job != NULL ? job->id : 0);
}

static int
batch_new(tasq_job *j)
{
	struct batch *b;

	if ((b = calloc(1, sizeof(*b))) == NULL) {
		return (TASQ_ERESOURCE_EXHAUSTED);
	}
	b->first    = j->nadded;
	b->deadline = nng_clock() + j->o.linger_ms;
	j->fill     = b;
	return (0);
}

// Appends one payload to the batch being filled. j->mtx held.
static int
append(tasq_job *j, const void *p, size_t len)
{
	struct batch *b;

	if (slot_need(j, j->nadded) != 0 ||
	    (j->fill == NULL && batch_new(j) != 0)) {
		return (TASQ_ERESOURCE_EXHAUSTED);
	}
	b = j->fill;
	if (!j->square && b->n == b->cap_n) {
		size_t    nc = b->cap_n ? b->cap_n * 2 : 256;
		uint32_t *nl = realloc(b->lens, nc * sizeof(*nl));
		if (nl == NULL) {
			return (TASQ_ERESOURCE_EXHAUSTED);
		}
		b->lens  = nl;
		b->cap_n = nc;
	}
	if (b->size + len > b->cap_size) {
		size_t   nc = b->cap_size ? b->cap_size * 2 : 4096;
		uint8_t *nd;
		while (nc < b->size + len) {
			nc *= 2;
		}
		if ((nd = realloc(b->data, nc)) == NULL) {
			return (TASQ_ERESOURCE_EXHAUSTED);
		}
		b->data     = nd;
		b->cap_size = nc;
	}
	if (len > 0) {
		memcpy(b->data + b->size, p, len);
	}
	if (!j->square) {
		b->lens[b->n] = (uint32_t) len;
	}
	b->size += len;
	b->n++;
	// The task's slot: a result is expected there (a slot is clear
	// once its result was taken: release).
	struct slot *sl = slot_at(j, j->nadded);
	unload(j, sl);
	j->nadded++;
	if (b->n >= j->o.batch_size || b->size >= j->o.batch_bytes) {
		cut(j);
	}
	return (0);
}

TASQ_API int
tasq_job_add(tasq_job *j, const void *payload, size_t len)
{
	int rv;

	tasq_api_clear();
	if (j == NULL || (payload == NULL && len > 0)) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_job_add: job or payload is NULL"));
	}
	if (j->mode == MODE_RESULTS && !j->o.detach) {
		return (tasq_api_fail(
		    TASQ_EINVALID_ARGUMENT, "an attached job takes no input"));
	}
	if (len > TASQ_WIRE_MAX_PAYLOAD) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "a payload of %zu bytes: at most %zu", len,
		    TASQ_WIRE_MAX_PAYLOAD));
	}
	if (j->square && len != 8) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "a payload of type square is an 8-byte int64, not %zu "
		    "bytes",
		    len));
	}
	nng_mtx_lock(j->mtx);
	for (;;) {
		if (j->finished) {
			nng_mtx_unlock(j->mtx);
			return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
			    "the job's input was finished"));
		}
		if (j->cancelled || j->stop || j->err != 0 || j->leaving) {
			rv = j->err != 0 && !j->cancelled ? j->err
			                                  : TASQ_ECANCELLED;
			nng_mtx_unlock(j->mtx);
			return (tasq_api_fail(rv, "%s", end_msg(j, rv)));
		}
		// The window: results not yet taken (this process's job), or
		// tasks not yet at the server (a detached one).
		uint64_t held = fetch_like(j) ? j->nadded - j->ntaken
		                              : j->nadded - j->nsent;
		if (held < j->win) {
			break;
		}
		cut(j);
		need_threads(j);
		nng_cv_wait(j->cv);
	}
	if ((rv = append(j, payload, len)) != 0) {
		nng_mtx_unlock(j->mtx);
		return (tasq_api_fail(rv, "out of memory"));
	}
	if (!j->threads || (j->fill != NULL && j->fill->n == 1)) {
		need_threads(j); // the pump's linger starts (cut wakes it too)
	}
	nng_mtx_unlock(j->mtx);
	return (0);
}

TASQ_API int
tasq_job_finish(tasq_job *j)
{
	tasq_api_clear();
	if (j == NULL) {
		return (tasq_api_fail(
		    TASQ_EINVALID_ARGUMENT, "tasq_job_finish: job is NULL"));
	}
	nng_mtx_lock(j->mtx);
	if (j->mode == MODE_FETCH || j->o.detach) {
		j->finished = true;
		cut(j);
		need_threads(j);
	}
	nng_mtx_unlock(j->mtx);
	return (0);
}

TASQ_API int
tasq_job_submit(tasq_job **jobp, tasq_session *s, const tasq_job_opts *o,
    const void *const *payloads, const size_t *lens, size_t n)
{
	tasq_job *j;
	int       rv;

	tasq_api_clear();
	if (n > 0 && (payloads == NULL || lens == NULL)) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_job_submit: payloads or lens is NULL"));
	}
	// The whole batch fits in the window, so that adding it never
	// waits for a reader (the caller reads once this returns).
	tasq_job_opts bo = TASQ_JOB_OPTS_INIT;
	if (o != NULL && o->size >= offsetof(tasq_job_opts, result_cb)) {
		memcpy(&bo, o, o->size < sizeof(bo) ? o->size : sizeof(bo));
		bo.size = sizeof(bo);
		if (bo.window < n) {
			bo.window = n;
		}
		o = &bo;
	} else if (o == NULL) {
		bo.window = n;
		o         = &bo;
	}
	if ((rv = tasq_job_open(&j, s, o)) != 0) {
		return (rv);
	}
	for (size_t i = 0; i < n; i++) {
		if ((rv = tasq_job_add(j, payloads[i], lens[i])) != 0) {
			char msg[600];
			snprintf(msg, sizeof(msg), "payload %zu: %s", i,
			    tasq_errmsg());
			tasq_job_free(j);
			tasq_api_set_msg(msg);
			return (rv);
		}
	}
	(void) tasq_job_finish(j);
	*jobp = j;
	return (0);
}

TASQ_API int
tasq_job_attach(
    tasq_job **jobp, tasq_session *s, uint64_t job_id, const tasq_job_opts *o)
{
	tasq_job_opts d = TASQ_JOB_OPTS_INIT;
	tasq_req      req;
	tasq_rep      rep;
	char          err[512];
	uint32_t      member;
	int           rv;

	tasq_api_clear();
	if (jobp == NULL || s == NULL || job_id == 0) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_job_attach: jobp or s is NULL, or job_id 0"));
	}
	if (o != NULL && o->size < offsetof(tasq_job_opts, result_cb)) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_job_opts.size is %zu: initialise the options with "
		    "TASQ_JOB_OPTS_INIT",
		    o->size));
	}
	if (o != NULL) {
		d.window     = o->window;
		d.result_cb  = o->result_cb;
		d.result_arg = o->result_arg;
	}
	memset(&req, 0, sizeof(req));
	req.method              = TASQ_M_JOB_STATUS;
	req.u.job_status.job_id = job_id;
	if ((rv = tasq_api_job_member(s, job_id, &member, err, sizeof(err))) !=
	        0 ||
	    (rv = tasq_api_call_member(s, member, &req, s->timeout_ms, &rep,
	         err, sizeof(err))) != 0) {
		return (
		    tasq_api_fail(rv, "job %016" PRIx64 ": %s", job_id, err));
	}
	bool detached = rep.u.job_status.job.detached;
	tasq_wire_rep_fini(&rep);
	if (!detached) {
		return (tasq_api_fail(TASQ_EFAILED_PRECONDITION,
		    "job %016" PRIx64 " is not detached: its results go to "
		    "the program that submitted it",
		    job_id));
	}
	return (job_alloc(jobp, s, &d, MODE_RESULTS, job_id, member));
}

TASQ_API void
tasq_job_free(tasq_job *j)
{
	if (j == NULL) {
		return;
	}
	if (j->mtx != NULL && j->cv != NULL) {
		nng_mtx_lock(j->mtx);
		while (j->ops > 0) {
			nng_cv_wait(j->cv);
		}
		nng_mtx_unlock(j->mtx);
	}
	if (j->s != NULL) {
		// Its callback may start the threads: stopped first.
		tasq_api_tick_stop(&j->s->lingers, &j->linger);
	}
	if (j->mtx != NULL && j->cv != NULL && j->s != NULL &&
	    j->chan != NULL) {
		nng_mtx_lock(j->mtx);
		j->stop = true;
		nng_cv_wake(j->cv);
		nng_mtx_unlock(j->mtx);
		if (j->thr != NULL) {
			nng_thread_destroy(j->thr);
		}
		if (j->sthr != NULL) {
			nng_thread_destroy(j->sthr);
		}
		// Abandoned before all its results came: the server drops
		// the rest now rather than after --job-ttl (a detachable job
		// too, unless tasq_job_leave left it).
		nng_mtx_lock(j->mtx);
		if (j->mode == MODE_FETCH && j->nsent > 0 && !j->closed_job &&
		    !j->s_closed && j->err == 0 && !j->cancelled &&
		    job_done(j)) {
			// Every result is in: the CloseJob only acknowledges
			// the last delivery, and rides on the next Fetch to
			// the server (or goes in TASQ_API_CLOSE_DELAY_MS).
			j->closed_job = true;
			close_defer(j->s, j->member, j->id, j->ack);
		} else if ((j->mode == MODE_FETCH ||
		               (j->detachable && !j->left)) &&
		    j->nsent > 0 && !j->closed_job && !j->s_closed) {
			close_job(j);
		}
		nng_mtx_unlock(j->mtx);
	}
	if (j->s != NULL && j->closer.fn != NULL) {
		tasq_api_session_remove_closer(j->s, &j->closer);
	}
	if (j->s != NULL && j->chan != NULL) {
		tasq_api_member_release(j->s, j->member);
	}
	if (j->s != NULL && j->mtx != NULL && j->cv != NULL) {
		tasq_api_session_release(j->s);
	}
	for (uint64_t i = 0; j->segs != NULL && i <= j->mask >> j->seg_shift;
	     i++) {
		for (size_t k = 0;
		     j->segs[i] != NULL && k < ((size_t) 1 << j->seg_shift);
		     k++) {
			slot_clear(&j->segs[i][k]);
		}
		free(j->segs[i]);
	}
	free(j->segs);
	batch_free(j->fill);
	batch_list_free(j->sendq);
	batch_list_free(j->unans);
	if (j->cv != NULL) {
		nng_cv_free(j->cv);
	}
	if (j->mtx != NULL) {
		nng_mtx_free(j->mtx);
	}
	if (j->emtx != NULL) {
		nng_mtx_free(j->emtx);
	}
	free(j);
}

// ---- results, waits and flushes
// -----------------------------------------------

TASQ_API int
tasq_job_next(tasq_job *j, tasq_result *r)
{
	int rv;

	tasq_api_clear();
	if (j == NULL || r == NULL) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_job_next: job or r is NULL"));
	}
	if (j->o.result_cb != NULL) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "the job's results go to its result_cb"));
	}
	nng_mtx_lock(j->mtx);
	if (!j->want) {
		j->want = true;
		nng_cv_wake(j->cv);
	}
	while ((rv = take(j, r)) == 1) {
		if (!trip_here(j)) {
			nng_cv_wait(j->cv);
		}
	}
	nng_mtx_unlock(j->mtx);
	return (rv == 0 ? 0 : tasq_api_fail(rv, "%s", end_msg(j, rv)));
}

// Removes aio's waiter from list and finishes it with rv. j->mtx not
// held; the waiter may be gone (finished meanwhile).
static void
waiter_cancel(tasq_job *j, struct waiter **list, tasq_aio *aio, int rv)
{
	struct waiter *w = NULL;

	nng_mtx_lock(j->mtx);
	for (struct waiter **pp = list; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->aio == aio) {
			w   = *pp;
			*pp = w->next;
			break;
		}
	}
	nng_mtx_unlock(j->mtx);
	if (w != NULL) {
		(void) tasq_api_aio_finish(aio, rv,
		    rv == TASQ_EDEADLINE_EXCEEDED ? "the aio's timeout expired"
		                                  : "cancelled");
		free(w);
	}
}

static void
next_cancel(tasq_aio *aio, void *arg, int rv)
{
	tasq_job *j = arg;
	waiter_cancel(j, &j->nexts, aio, rv);
}

static void
wait_cancel(tasq_aio *aio, void *arg, int rv)
{
	tasq_job *j = arg;
	waiter_cancel(j, &j->waits, aio, rv);
}

static void
flush_cancel(tasq_aio *aio, void *arg, int rv)
{
	tasq_job *j = arg;
	waiter_cancel(j, &j->flushes, aio, rv);
}

// Starts a waiting operation: queued on *list, served by the pump (or at
// once, if it can be).
static int
waiter_start(tasq_job *j, struct waiter **list, tasq_aio *aio, tasq_result *r,
    tasq_api_cancel_fn cancel)
{
	struct waiter *w;
	int            rv;

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	w->aio = aio;
	w->r   = r;
	if ((rv = tasq_api_aio_begin(aio)) != 0) {
		free(w);
		return (rv);
	}
	nng_mtx_lock(j->mtx);
	// At the tail: operations complete in the order they started.
	struct waiter **pp = list;
	while (*pp != NULL) {
		pp = &(*pp)->next;
	}
	*pp = w;
	if (list == &j->nexts) {
		j->want = true;
	}
	tasq_api_aio_defer(aio, cancel, j);
	serve_waiters(j);
	if (j->nexts != NULL || j->waits != NULL || j->flushes != NULL) {
		start_threads(j); // they serve the waiters
	}
	nng_cv_wake(j->cv);
	nng_mtx_unlock(j->mtx);
	return (0);
}

TASQ_API int
tasq_job_next_aio(tasq_job *j, tasq_result *r, tasq_aio *aio)
{
	tasq_api_clear();
	if (j == NULL || r == NULL || aio == NULL) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_job_next_aio: job, r or aio is NULL"));
	}
	if (j->o.result_cb != NULL) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "the job's results go to its result_cb"));
	}
	return (waiter_start(j, &j->nexts, aio, r, next_cancel));
}

TASQ_API int
tasq_job_wait_aio(tasq_job *j, tasq_aio *aio)
{
	tasq_api_clear();
	if (j == NULL || aio == NULL) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_job_wait_aio: job or aio is NULL"));
	}
	return (waiter_start(j, &j->waits, aio, NULL, wait_cancel));
}

TASQ_API int
tasq_job_flush_aio(tasq_job *j, tasq_aio *aio)
{
	tasq_api_clear();
	if (j == NULL || aio == NULL) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_job_flush_aio: job or aio is NULL"));
	}
	nng_mtx_lock(j->mtx);
	cut(j); // no linger for what is to be flushed
	nng_mtx_unlock(j->mtx);
	return (waiter_start(j, &j->flushes, aio, NULL, flush_cancel));
}

static int
wait_start(tasq_aio *aio, void *arg)
{
	return (tasq_job_wait_aio(arg, aio));
}

static int
flush_start(tasq_aio *aio, void *arg)
{
	return (tasq_job_flush_aio(arg, aio));
}

TASQ_API int
tasq_job_wait(tasq_job *j)
{
	tasq_api_clear();
	if (j == NULL) {
		return (tasq_api_fail(
		    TASQ_EINVALID_ARGUMENT, "tasq_job_wait: job is NULL"));
	}
	return (tasq_api_aio_run(wait_start, j));
}

TASQ_API int
tasq_job_flush(tasq_job *j)
{
	tasq_api_clear();
	if (j == NULL) {
		return (tasq_api_fail(
		    TASQ_EINVALID_ARGUMENT, "tasq_job_flush: job is NULL"));
	}
	return (tasq_api_aio_run(flush_start, j));
}

// ---- status
// ---------------------------------------------------------------------

struct status_op {
	tasq_req         req;
	tasq_job_status *st;
	uint64_t         id;
};

static int
status_done(
    void *arg, int rv, tasq_rep *rep, char *err, size_t errlen, bool deliver)
{
	struct status_op *op = arg;

	if (rv == 0) {
		const tasq_job_info *ji = &rep->u.job_status.job;
		if (deliver) {
			tasq_api_status_from_info(op->st, ji);
		}
		tasq_wire_rep_fini(rep);
	} else if (err != NULL) {
		char why[400];
		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "job %016" PRIx64 ": %s", op->id, why);
	}
	free(op);
	return (rv);
}

TASQ_API int
tasq_job_get_status_aio(tasq_job_status *st, tasq_job *j, tasq_aio *aio)
{
	struct status_op *op;
	int               rv;

	tasq_api_clear();
	if (st == NULL || j == NULL || aio == NULL) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_job_get_status: st, job or aio is NULL"));
	}
	// A newer caller's bigger struct gets the fields this version
	// knows (status_done writes sizeof(*st) bytes, keeping size).
	if (st->size < sizeof(*st)) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_job_status.size is %zu, not %zu: initialise it "
		    "with TASQ_JOB_STATUS_INIT",
		    st->size, sizeof(*st)));
	}
	if ((op = calloc(1, sizeof(*op))) == NULL) {
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	op->st                      = st;
	op->id                      = j->id;
	op->req.method              = TASQ_M_JOB_STATUS;
	op->req.u.job_status.job_id = j->id;
	if ((rv = tasq_api_call_member_aio(j->s, j->member, &op->req,
	         j->s->timeout_ms, aio, status_done, op)) != 0) {
		free(op);
	}
	return (rv);
}

struct status_args {
	tasq_job_status *st;
	tasq_job        *j;
};

static int
status_start(tasq_aio *aio, void *arg)
{
	struct status_args *a = arg;
	return (tasq_job_get_status_aio(a->st, a->j, aio));
}

TASQ_API int
tasq_job_get_status(tasq_job_status *st, tasq_job *j)
{
	struct status_args a = { st, j };
	tasq_api_clear();
	if (st == NULL || j == NULL) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_job_get_status: st or job is NULL"));
	}
	return (tasq_api_aio_run(status_start, &a));
}

// ---- cancel
// ----------------------------------------------------------------------

struct cancel_op {
	tasq_req  req;
	tasq_job *j;
};

// Cancel's reply (docs/PROTOCOL.md 9.15); a server older than Cancel
// answers UNIMPLEMENTED, and then CloseJob drops the job (but cannot
// stop the work already running). On a runner thread.
static int
cancel_done(
    void *arg, int rv, tasq_rep *rep, char *err, size_t errlen, bool deliver)
{
	struct cancel_op *op      = arg;
	tasq_job         *j       = op->j;
	bool              closed  = false;
	uint64_t          dropped = 0;
	uint32_t          running = 0;

	(void) deliver;
	if (rv == 0) {
		dropped = rep->u.cancel.dropped;
		running = rep->u.cancel.running;
		tasq_wire_rep_fini(rep);
	} else if (rv == TASQ_EUNIMPLEMENTED) {
		tasq_req req;
		tasq_rep crep;
		memset(&req, 0, sizeof(req));
		req.method             = TASQ_M_CLOSE_JOB;
		req.u.close_job.job_id = j->id;
		req.u.close_job.ack_seq =
		    op->req.u.cancel.job_id == j->id ? j->ack : 0;
		rv = tasq_api_err(tasq_chan_call(
		    j->chan, &req, j->s->timeout_ms, &crep, err, errlen));
		if (rv == 0) {
			dropped = crep.u.close_job.dropped;
			tasq_wire_rep_fini(&crep);
		}
		closed = rv == 0 || rv == TASQ_ENOT_FOUND;
		rv     = rv == TASQ_ENOT_FOUND ? 0 : rv;
	}
	nng_mtx_lock(j->mtx);
	if (rv == 0) {
		// Whoever waits on the job is told.
		j->cancelled          = true;
		j->closed_job         = j->closed_job || closed;
		j->close_done         = j->close_done || closed;
		j->cancel_dropped     = dropped;
		j->cancel_running     = running;
		j->cancel_closed_only = closed;
	}
	j->ops--;
	nng_cv_wake(j->cv);
	nng_mtx_unlock(j->mtx);
	free(op);
	return (rv);
}

TASQ_API int
tasq_job_cancel_aio(tasq_job *j, tasq_aio *aio)
{
	struct cancel_op *op;
	int               rv;

	tasq_api_clear();
	if (j == NULL || aio == NULL) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_job_cancel: job or aio is NULL"));
	}
	if ((op = calloc(1, sizeof(*op))) == NULL) {
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	nng_mtx_lock(j->mtx);
	if (j->mode == MODE_FETCH && job_done(j)) {
		// Every result is in (and the server may have forgotten the
		// job already): as the server answers for a done job.
		nng_mtx_unlock(j->mtx);
		free(op);
		return (tasq_api_fail(TASQ_EFAILED_PRECONDITION,
		    "job %016" PRIx64 " is done: nothing to cancel", j->id));
	}
	nng_mtx_unlock(j->mtx);
	op->j                   = j;
	op->req.method          = TASQ_M_CANCEL;
	op->req.u.cancel.job_id = j->id;
	// The job must outlive the request (cancel_done writes to it):
	// tasq_job_free waits for ops.
	nng_mtx_lock(j->mtx);
	j->ops++;
	nng_mtx_unlock(j->mtx);
	if ((rv = tasq_api_call_member_aio(j->s, j->member, &op->req,
	         j->s->timeout_ms, aio, cancel_done, op)) != 0) {
		nng_mtx_lock(j->mtx);
		j->ops--;
		nng_cv_wake(j->cv); // a tasq_job_free waiting for ops
		nng_mtx_unlock(j->mtx);
		free(op);
	}
	return (rv);
}

static int
cancel_start(tasq_aio *aio, void *arg)
{
	return (tasq_job_cancel_aio(arg, aio));
}

TASQ_API int
tasq_job_cancel(tasq_job *j)
{
	tasq_api_clear();
	if (j == NULL) {
		return (tasq_api_fail(
		    TASQ_EINVALID_ARGUMENT, "tasq_job_cancel: job is NULL"));
	}
	return (tasq_api_aio_run(cancel_start, j));
}

// ---- bulk calls, progress, leaving
// ------------------------------------------

// Checks n payloads before any is added, so that a bad one adds none.
static int
check_payloads(tasq_job *j, const void *const *payloads, const size_t *lens,
    size_t width, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t len = payloads != NULL ? lens[i] : width;
		if (payloads != NULL && payloads[i] == NULL && len > 0) {
			return (tasq_api_fail(
			    TASQ_EINVALID_ARGUMENT, "payload %zu is NULL", i));
		}
		if (len > TASQ_WIRE_MAX_PAYLOAD) {
			return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
			    "payload %zu: %zu bytes, at most %zu", i, len,
			    TASQ_WIRE_MAX_PAYLOAD));
		}
		if (j->square && len != 8) {
			return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
			    "payload %zu: a payload of type square is an "
			    "8-byte int64, not %zu bytes",
			    i, len));
		}
		if (payloads == NULL) {
			break; // all the same width
		}
	}
	return (0);
}

// Appends k payloads of width bytes at p, as k appends would, a batch's
// worth at a time (one copy). j->mtx held.
static int
append_column(tasq_job *j, const uint8_t *p, size_t width, size_t k)
{
	while (k > 0) {
		struct batch *b;
		if (j->fill == NULL && batch_new(j) != 0) {
			return (TASQ_ERESOURCE_EXHAUSTED);
		}
		b        = j->fill;
		size_t m = j->o.batch_size - b->n;
		if (width > 0 && b->size < j->o.batch_bytes) {
			size_t mb =
			    (j->o.batch_bytes - b->size + width - 1) / width;
			m = mb < m ? mb : m;
		}
		m = m < k ? m : k;
		if (m == 0) {
			m = 1;
		}
		for (size_t i = 0; i < m; i++) {
			if (slot_need(j, j->nadded + i) != 0) {
				return (TASQ_ERESOURCE_EXHAUSTED);
			}
		}
		if (!j->square && b->n + m > b->cap_n) {
			size_t nc = b->cap_n ? b->cap_n : 256;
			while (nc < b->n + m) {
				nc *= 2;
			}
			uint32_t *nl = realloc(b->lens, nc * sizeof(*nl));
			if (nl == NULL) {
				return (TASQ_ERESOURCE_EXHAUSTED);
			}
			b->lens  = nl;
			b->cap_n = nc;
		}
		if (b->size + m * width > b->cap_size) {
			size_t nc = b->cap_size ? b->cap_size : 4096;
			while (nc < b->size + m * width) {
				nc *= 2;
			}
			uint8_t *nd = realloc(b->data, nc);
			if (nd == NULL) {
				return (TASQ_ERESOURCE_EXHAUSTED);
			}
			b->data     = nd;
			b->cap_size = nc;
		}
		if (m * width > 0) {
			memcpy(b->data + b->size, p, m * width);
		}
		for (size_t i = 0; i < m; i++) {
			struct slot *sl = slot_at(j, j->nadded + i);
			unload(j, sl);
			if (!j->square) {
				b->lens[b->n + i] = (uint32_t) width;
			}
		}
		b->size += m * width;
		b->n += (uint32_t) m;
		j->nadded += m;
		p += m * width;
		k -= m;
		if (b->n >= j->o.batch_size || b->size >= j->o.batch_bytes) {
			cut(j);
		}
	}
	return (0);
}

// Adds n payloads (payloads[i], lens[i] bytes; or, payloads NULL, n of
// width bytes one after the other at data), taking the lock once for as
// many as the window lets in at a time.
static int
add_bulk(tasq_job *j, const void *const *payloads, const size_t *lens,
    const uint8_t *data, size_t width, size_t n)
{
	size_t i = 0;
	int    rv;

	if (j->mode == MODE_RESULTS && !j->o.detach) {
		return (tasq_api_fail(
		    TASQ_EINVALID_ARGUMENT, "an attached job takes no input"));
	}
	if ((rv = check_payloads(j, payloads, lens, width, n)) != 0) {
		return (rv);
	}
	nng_mtx_lock(j->mtx);
	while (i < n) {
		if (j->finished) {
			nng_mtx_unlock(j->mtx);
			return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
			    "the job's input was finished"));
		}
		if (j->cancelled || j->stop || j->err != 0 || j->leaving) {
			rv = j->err != 0 && !j->cancelled ? j->err
			                                  : TASQ_ECANCELLED;
			nng_mtx_unlock(j->mtx);
			return (tasq_api_fail(rv, "%s", end_msg(j, rv)));
		}
		uint64_t held = fetch_like(j) ? j->nadded - j->ntaken
		                              : j->nadded - j->nsent;
		if (held >= j->win) {
			cut(j);
			need_threads(j);
			nng_cv_wait(j->cv);
			continue;
		}
		bool   wake = j->fill == NULL;
		size_t k    = n - i;
		if (k > j->win - held) {
			k = (size_t) (j->win - held);
		}
		if (payloads == NULL) {
			if ((rv = append_column(
			         j, data + i * width, width, k)) != 0) {
				nng_mtx_unlock(j->mtx);
				return (tasq_api_fail(rv,
				    "out of memory (%zu payloads added)", i));
			}
			i += k;
		}
		for (size_t e = i + k; payloads != NULL && i < e; i++) {
			const void *p = payloads[i];
			if ((rv = append(j, p, lens[i])) != 0) {
				nng_mtx_unlock(j->mtx);
				return (tasq_api_fail(rv,
				    "out of memory (%zu payloads added)", i));
			}
		}
		if (wake || j->sendq != NULL || !j->threads) {
			need_threads(j); // a linger starts, or a batch goes
		}
	}
	nng_mtx_unlock(j->mtx);
	return (0);
}

TASQ_API int
tasq_job_add_many(
    tasq_job *j, const void *const *payloads, const size_t *lens, size_t n)
{
	tasq_api_clear();
	if (j == NULL || (n > 0 && (payloads == NULL || lens == NULL))) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_job_add_many: job, payloads or lens is NULL"));
	}
	return (add_bulk(j, payloads, lens, NULL, 0, n));
}

TASQ_API int
tasq_job_add_column(tasq_job *j, const void *data, size_t width, size_t n)
{
	tasq_api_clear();
	if (j == NULL || (n > 0 && width > 0 && data == NULL)) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_job_add_column: job or data is NULL"));
	}
	return (add_bulk(j, NULL, NULL, data, width, n));
}

TASQ_API int
tasq_job_next_many(tasq_job *j, tasq_result *results, size_t max, size_t *np)
{
	int rv;

	tasq_api_clear();
	if (j == NULL || results == NULL || np == NULL || max == 0) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_job_next_many: job, results or np is NULL, or max "
		    "is 0"));
	}
	if (j->o.result_cb != NULL) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "the job's results go to its result_cb"));
	}
	nng_mtx_lock(j->mtx);
	if (!j->want) {
		j->want = true;
		nng_cv_wake(j->cv);
	}
	while ((rv = take_many(j, results, max, np)) == 1) {
		if (!trip_here(j)) {
			nng_cv_wait(j->cv);
		}
	}
	nng_mtx_unlock(j->mtx);
	return (rv == 0 ? 0 : tasq_api_fail(rv, "%s", end_msg(j, rv)));
}

TASQ_API int
tasq_job_next_many_aio(
    tasq_job *j, tasq_result *results, size_t max, size_t *np, tasq_aio *aio)
{
	struct waiter *w;
	int            rv;

	tasq_api_clear();
	if (j == NULL || results == NULL || np == NULL || max == 0 ||
	    aio == NULL) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_job_next_many_aio: job, results, np or aio is "
		    "NULL, or max is 0"));
	}
	if (j->o.result_cb != NULL) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "the job's results go to its result_cb"));
	}
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	w->aio = aio;
	w->r   = results;
	w->max = max;
	w->np  = np;
	if ((rv = tasq_api_aio_begin(aio)) != 0) {
		free(w);
		return (rv);
	}
	nng_mtx_lock(j->mtx);
	struct waiter **pp = &j->nexts;
	while (*pp != NULL) {
		pp = &(*pp)->next;
	}
	*pp     = w;
	j->want = true;
	tasq_api_aio_defer(aio, next_cancel, j);
	serve_waiters(j);
	if (j->nexts != NULL) {
		start_threads(j); // they serve the waiters
	}
	nng_cv_wake(j->cv);
	nng_mtx_unlock(j->mtx);
	return (0);
}

TASQ_API int
tasq_job_get_progress(tasq_job_progress *p, tasq_job *j)
{
	tasq_api_clear();
	if (p == NULL || j == NULL) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_job_get_progress: p or job is NULL"));
	}
	if (p->size < sizeof(*p)) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_job_progress.size is %zu, not %zu: initialise it "
		    "with TASQ_JOB_PROGRESS_INIT",
		    p->size, sizeof(*p)));
	}
	size_t size = p->size;
	memset(p, 0, sizeof(*p));
	p->size = size;
	nng_mtx_lock(j->mtx);
	p->added              = j->nadded;
	p->sent               = j->nsent;
	p->received           = j->nrecv;
	p->taken              = j->ntaken;
	p->retries            = j->retries;
	p->restarts           = j->restarts;
	p->one_trip           = j->one_trip;
	p->carrying           = j->carrying;
	p->legacy             = j->legacy_seen;
	p->no_worker          = j->no_worker;
	p->workers            = j->workers;
	p->cancel_dropped     = j->cancel_dropped;
	p->cancel_running     = j->cancel_running;
	p->cancel_closed_only = j->cancel_closed_only;
	snprintf(p->last_retry, sizeof(p->last_retry), "%s", j->last_retry);
	nng_mtx_unlock(j->mtx);
	return (0);
}

TASQ_API int
tasq_job_leave(tasq_job *j, uint64_t *ntasksp)
{
	int rv = 0;

	tasq_api_clear();
	if (j == NULL) {
		return (tasq_api_fail(
		    TASQ_EINVALID_ARGUMENT, "tasq_job_leave: job is NULL"));
	}
	if (!j->detachable) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "only a job opened with detach and detach_on_leave can "
		    "be left"));
	}
	nng_mtx_lock(j->mtx);
	j->leaving = true;
	nng_cv_wake(j->cv);
	while (!j->left && j->err == 0 && !j->cancelled && !j->stop) {
		nng_cv_wait(j->cv);
	}
	if (!j->left) {
		rv = j->err != 0 && !j->cancelled ? j->err : TASQ_ECANCELLED;
	} else if (ntasksp != NULL) {
		*ntasksp = j->nsent;
	}
	nng_mtx_unlock(j->mtx);
	return (rv == 0 ? 0 : tasq_api_fail(rv, "%s", end_msg(j, rv)));
}
