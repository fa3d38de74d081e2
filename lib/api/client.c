// client: the client side of the public API (tasq_job_*), a job's life
// as client/submit.c lives it, on one thread per job (the pump):
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
//   (tasks added whose results are not taken) bounds the memory.
//
// Lock: the job's mutex guards everything below; the pump drops it for
// every request, and callbacks (result_cb) run without it. Order: a
// job's mutex, then an aio's (tasq_api_aio_finish).
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
	tasq_result   *r; // next: where the result goes
	struct waiter *next;
};

struct tasq_job {
	tasq_session   *s;
	tasq_api_closer closer;
	nng_mtx        *mtx;
	nng_cv         *cv;
	nng_thread     *thr;
	uint64_t        id;
	enum mode       mode;
	char            queue[TASQ_WIRE_MAX_NAME + 1];
	char            type[TASQ_WIRE_MAX_NAME + 1];
	char            host[TASQ_WIRE_MAX_HOST + 1];
	bool            square;
	tasq_job_opts   o;
	// Input.
	struct batch *fill;                // being filled (NULL: none)
	struct batch *sendq, *sendq_tail;  // cut, to send
	struct batch *unans, *unans_tail;  // sent, results missing
	uint64_t      nadded, nsent;       // tasks added, accepted
	bool          finished, last_sent; // input ended; server knows
	// Results.
	struct slot *ring;
	uint64_t     mask, win;
	uint64_t     nrecv;  // MODE_FETCH: results in; RESULTS: slots filled
	uint64_t     ntaken; // results handed out
	uint64_t     from;   // MODE_RESULTS: next from_index
	bool         want;   // MODE_RESULTS: someone reads results
	bool         results_done; // MODE_RESULTS: all read (job done)
	bool         server_done;  // the server says the job is done
	uint64_t     ack;          // MODE_FETCH: last delivery's seq
	uint64_t     ack_sent;     // the ack the server last got
	uint64_t     server_id;    // of the replies so far
	bool         closed_job;   // CloseJob sent (or not needed)
	// End.
	int            err; // the error that ended the job (public code)
	char           errmsg[512];
	bool           stop; // tasq_job_free, session closed
	bool           cancelled;
	unsigned       ops; // requests in flight that write to the job
	struct waiter *nexts, *waits, *flushes;
};

// ---- small helpers -------------------------------------------------------

static struct slot *
slot_at(tasq_job *j, uint64_t pos)
{
	return (&j->ring[pos & j->mask]);
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

// ---- delivery to the program ---------------------------------------------

// Whether every result has been handed out. j->mtx held.
static bool
all_taken(tasq_job *j)
{
	if (j->mode == MODE_FETCH) {
		return (j->finished && j->ntaken == j->nadded);
	}
	return (j->results_done && j->ntaken == j->nrecv);
}

// Whether the job is done (wait). j->mtx held.
static bool
job_done(tasq_job *j)
{
	if (j->mode == MODE_FETCH) {
		return (j->finished && j->nrecv == j->nadded);
	}
	return (j->server_done || j->results_done);
}

// Takes the next result into *r if there is one: 0, or
// TASQ_EAGAIN-like 1 when none is ready, or an end code. The slot taken
// before this one is cleared now (its buffers were the caller's until
// this call). j->mtx held.
static int
take(tasq_job *j, tasq_result *r)
{
	struct slot *sl;

	if (j->ntaken > 0) {
		struct slot *prev = slot_at(j, j->ntaken - 1);
		if (prev->done) {
			slot_clear(prev);
		}
	}
	if (all_taken(j)) {
		return (TASQ_EOUT_OF_RANGE);
	}
	sl = slot_at(j, j->ntaken);
	if (j->mode == MODE_RESULTS ? j->ntaken < j->nrecv : sl->done) {
		r->index = sl->index;
		r->code  = sl->code == 0 ? 0 : tasq_err_from_code(sl->code);
		r->data  = slot_data(sl);
		r->len   = sl->len;
		r->error = sl->msg != NULL ? sl->msg : "";
		j->ntaken++;
		nng_cv_wake(j->cv); // room in the window
		return (0);
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
		if ((rv = take(j, w->r)) == 1) {
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
	if (job_done(j) || end) {
		while ((w = j->waits) != NULL) {
			j->waits = w->next;
			(void) tasq_api_aio_finish(w->aio,
			    job_done(j) ? 0 : rv,
			    job_done(j) ? "" : end_msg(j, rv));
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
// held on entry and exit.
static void
run_result_cb(tasq_job *j)
{
	tasq_result r;

	while (take(j, &r) == 0) {
		nng_mtx_unlock(j->mtx);
		j->o.result_cb(j->o.result_arg, &r);
		nng_mtx_lock(j->mtx);
	}
}

// ---- requests
// ----------------------------------------------------------------

// Whether the replies come from another server than before (a restart,
// which may have lost what the old one acknowledged). j->mtx held.
static bool
server_changed(tasq_job *j)
{
	uint64_t now = tasq_chan_server_id(j->s->chan);

	if (now == 0 || now == j->server_id) {
		return (false);
	}
	bool changed = j->server_id != 0;
	j->server_id = now;
	return (changed);
}

// After a restart: every batch without all its results goes again,
// before those not sent yet. j->mtx held.
static void
resend_all(tasq_job *j)
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
		rv = tasq_chan_call(
		    j->s->chan, req, timeout_ms, rep, err, errlen);
		if (rv == 0 || !retryable(rv, err)) {
			return (rv);
		}
		nng_mtx_lock(j->mtx);
		snprintf(j->errmsg, sizeof(j->errmsg), "%s: %s; retrying",
		    what, err);
		bool stop = j->stop || j->cancelled;
		nng_mtx_unlock(j->mtx);
		if (stop) {
			return (STOPPED);
		}
		if (rv != TASQ_ERESOURCE_EXHAUSTED && ++fails % 3 == 0) {
			(void) tasq_chan_redial(j->s->chan);
		}
		nng_msleep(backoff_next(&backoff));
	}
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
	fill_submit(j, &req.u.submit);
	req.u.submit.first_index   = b->first;
	req.u.submit.n             = b->n;
	req.u.submit.payloads.lens = j->square ? NULL : b->lens;
	req.u.submit.payloads.data = b->data;
	req.u.submit.payloads.size = b->size;
	// The last batch of a detached job ends its input (a duplicate with
	// last ends it too, so retrying is safe).
	req.u.submit.last =
	    j->o.detach && j->finished && b->next == NULL && j->fill == NULL;
	nng_mtx_unlock(j->mtx);
	rv = call_retry(
	    j, &req, j->s->timeout_ms, &rep, err, sizeof(err), "submit");
	nng_mtx_lock(j->mtx);
	if (rv == STOPPED) {
		return;
	}
	if (rv == TASQ_EFAILED_PRECONDITION && strstr(err, "cancel") != NULL) {
		j->cancelled = true; // cancelled by another client
		nng_cv_wake(j->cv);
		return;
	}
	if (rv != 0) {
		job_fail(j, rv, "submit failed: %s", err);
		return;
	}
	tasq_wire_rep_fini(&rep);
	if (server_changed(j)) {
		resend_all(j); // this batch is among them if it was
	}
	if (j->sendq != b) {
		return; // moved by resend_all: it goes again in order
	}
	if ((j->sendq = b->next) == NULL) {
		j->sendq_tail = NULL;
	}
	b->next = NULL;
	if (b->first + b->n > j->nsent) {
		j->nsent = b->first + b->n;
	}
	if (req.u.submit.last) {
		j->last_sent = true;
	}
	if (j->mode == MODE_FETCH && b->answered < b->n) {
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

// A detached job whose input ended after its last batch went (or that
// had none): a Submit with last and no task. j->mtx held.
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
	req.u.submit.first_index = j->nadded;
	req.u.submit.last        = true;
	nng_mtx_unlock(j->mtx);
	rv = call_retry(j, &req, j->s->timeout_ms, &rep, err, sizeof(err),
	    "ending the job's input");
	nng_mtx_lock(j->mtx);
	if (rv == STOPPED) {
		return;
	}
	if (rv != 0) {
		job_fail(j, rv, "ending the job's input failed: %s", err);
		return;
	}
	tasq_wire_rep_fini(&rep);
	j->last_sent = true;
}

// Counts a new result of task id against its batch; batches with all
// their results are let go. j->mtx held.
static void
answered(tasq_job *j, uint64_t id)
{
	for (struct batch *b = j->unans; b != NULL; b = b->next) {
		if (id >= b->first && id < b->first + b->n) {
			b->answered++;
			break;
		}
	}
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

// One Fetch: acknowledges the last delivery, takes the new results.
// j->mtx held (dropped meanwhile).
static void
fetch(tasq_job *j)
{
	tasq_req req;
	tasq_rep rep;
	char     err[512];
	int      rv;
	bool     more_input = !j->finished || j->fill != NULL;

	memset(&req, 0, sizeof(req));
	req.method              = TASQ_M_FETCH;
	req.u.fetch.job_id      = j->id;
	req.u.fetch.ack_seq     = j->ack;
	req.u.fetch.max_results = 65536;
	// While input may come, a short wait keeps batches going out.
	req.u.fetch.wait_ms =
	    more_input ? (j->o.linger_ms ? j->o.linger_ms : 1) : POLL_MS;
	req.u.fetch.id_runs = true;
	nng_mtx_unlock(j->mtx);
	rv = call_retry(j, &req, j->s->timeout_ms + req.u.fetch.wait_ms, &rep,
	    err, sizeof(err), "fetch");
	nng_mtx_lock(j->mtx);
	bool restarted = server_changed(j);
	if (restarted) {
		resend_all(j);
	}
	if (rv == STOPPED) {
		return;
	}
	if (rv == TASQ_ENOT_FOUND && (restarted || j->sendq != NULL)) {
		// A restarted server without the job: the batches sent
		// again make it again.
		j->ack = 0;
		return;
	}
	if (rv == TASQ_ECANCELLED) {
		// Cancelled (by anyone): every result it had was delivered.
		j->cancelled = true;
		nng_cv_wake(j->cv);
		return;
	}
	if (rv != 0) {
		job_fail(j, rv, "fetch failed: %s", err);
		return;
	}
	const tasq_blobs *bl  = &rep.u.fetch.results;
	size_t            off = 0;
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
		// Not ours, taken already, or seen already: dropped.
		if (id >= j->nsent || id < j->ntaken || slot_at(j, id)->done) {
			continue;
		}
		put(slot_at(j, id), id,
		    rep.u.fetch.codes ? rep.u.fetch.codes[i] : 0, item, len,
		    rep.u.fetch.errors ? rep.u.fetch.errors[i] : NULL);
		j->nrecv++;
		answered(j, id);
	}
	j->ack_sent = req.u.fetch.ack_seq;
	if (rep.u.fetch.seq != 0) {
		j->ack = rep.u.fetch.seq;
	}
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
	req.u.results.wait_ms    = POLL_MS;
	nng_mtx_unlock(j->mtx);
	rv = call_retry(j, &req, j->s->timeout_ms + POLL_MS, &rep, err,
	    sizeof(err), "results");
	nng_mtx_lock(j->mtx);
	if (rv == STOPPED) {
		return;
	}
	if (rv != 0) {
		job_fail(j, rv, "results failed: %s", err);
		return;
	}
	const tasq_blobs *bl  = &rep.u.results.results;
	size_t            off = 0;
	for (size_t i = 0; i < rep.u.results.n && i < room; i++) {
		size_t len =
		    bl->width ? bl->width : (bl->lens ? bl->lens[i] : 0);
		struct slot *sl = slot_at(j, j->nrecv);
		slot_clear(sl);
		put(sl, rep.u.results.ids[i],
		    rep.u.results.codes ? rep.u.results.codes[i] : 0,
		    bl->data != NULL ? bl->data + off : NULL, len,
		    rep.u.results.errors ? rep.u.results.errors[i] : NULL);
		off += len;
		j->nrecv++;
	}
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
	if (tasq_chan_call(j->s->chan, &req, j->s->timeout_ms, &rep, err,
	        sizeof(err)) == 0) {
		tasq_wire_rep_fini(&rep);
	}
	nng_mtx_lock(j->mtx);
}

// ---- the pump: one thread per job
// --------------------------------------------

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

static void
pump(void *arg)
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
		if (j->o.result_cb != NULL) {
			run_result_cb(j);
		}
		serve_waiters(j);
		if (ended) {
			(void) nng_cv_wait(j->cv);
			continue;
		}
		if (j->sendq != NULL) {
			send_batch(j);
			continue;
		}
		if (j->mode == MODE_RESULTS && j->o.detach && j->finished &&
		    j->fill == NULL && !j->last_sent) {
			send_last(j);
			continue;
		}
		if (j->mode == MODE_FETCH && j->nrecv < j->nsent) {
			fetch(j);
			continue;
		}
		// Every result sent so far is in, but the server holds the
		// last delivery (against its --max-tasks) until it is
		// acknowledged: a Fetch does it while more input may come
		// (at the end, the CloseJob does).
		if (j->mode == MODE_FETCH && !j->finished && j->ack != 0 &&
		    j->ack != j->ack_sent) {
			fetch(j);
			continue;
		}
		if (j->mode == MODE_FETCH && job_done(j) && !j->closed_job) {
			close_job(j);
			continue;
		}
		if (j->mode == MODE_RESULTS && !j->results_done &&
		    (j->o.detach ? j->last_sent : true) &&
		    (j->want || j->o.result_cb != NULL) &&
		    j->nrecv - j->ntaken < j->win) {
			results(j);
			continue;
		}
		if (j->mode == MODE_RESULTS && j->waits != NULL &&
		    !j->server_done && (j->o.detach ? j->last_sent : true)) {
			poll_status(j);
			continue;
		}
		// Nothing to do until more input, a reader or the linger.
		if (j->fill != NULL) {
			(void) nng_cv_until(j->cv, j->fill->deadline);
		} else {
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
	j->stop = true;
	nng_cv_wake(j->cv);
	nng_mtx_unlock(j->mtx);
}

// ---- making and freeing jobs
// ---------------------------------------------------

static int
job_alloc(tasq_job **jp, tasq_session *s, const tasq_job_opts *o,
    enum mode mode, uint64_t id)
{
	tasq_job *j;
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
	j->win = j->o.window ? j->o.window : DEF_WINDOW;
	// One slot more than the window: a taken result's buffers stay
	// the caller's until the next take.
	uint64_t cap = 1;
	while (cap < j->win + 1) {
		cap <<= 1;
	}
	j->mask = cap - 1;
	if (gethostname(j->host, sizeof(j->host) - 1) != 0) {
		j->host[0] = '\0';
	}
	for (char *h = j->host; *h != '\0'; h++) {
		if ((unsigned char) *h < 0x20 || *h == 0x7f) {
			*h = '?';
		}
	}
	if ((j->ring = calloc(cap, sizeof(*j->ring))) == NULL ||
	    nng_mtx_alloc(&j->mtx) != 0 || nng_cv_alloc(&j->cv, j->mtx) != 0) {
		tasq_job_free(j);
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	if ((rv = tasq_api_session_hold(s)) != 0) {
		j->s = NULL;
		tasq_job_free(j);
		return (rv);
	}
	j->closer.fn  = job_closer;
	j->closer.arg = j;
	tasq_api_session_add_closer(s, &j->closer);
	if ((rv = nng_thread_create(&j->thr, pump, j)) != 0) {
		tasq_job_free(j);
		return (tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED,
		    "cannot start the job's thread"));
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
	return (job_alloc(jobp, s, o, o->detach ? MODE_RESULTS : MODE_FETCH,
	    tasq_random64() | 1));
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

	if (j->fill == NULL && batch_new(j) != 0) {
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
	// The task's slot: a result is expected there.
	slot_clear(slot_at(j, j->nadded));
	j->nadded++;
	if (b->n >= j->o.batch_size || b->size >= BATCH_BYTES) {
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
		if (j->cancelled || j->stop || j->err != 0) {
			rv = j->err != 0 && !j->cancelled ? j->err
			                                  : TASQ_ECANCELLED;
			nng_mtx_unlock(j->mtx);
			return (tasq_api_fail(rv, "%s", end_msg(j, rv)));
		}
		// The window: results not yet taken (this process's job), or
		// tasks not yet at the server (a detached one).
		uint64_t held = j->mode == MODE_FETCH ? j->nadded - j->ntaken
		                                      : j->nadded - j->nsent;
		if (held < j->win) {
			break;
		}
		cut(j);
		nng_cv_wait(j->cv);
	}
	if ((rv = append(j, payload, len)) != 0) {
		nng_mtx_unlock(j->mtx);
		return (tasq_api_fail(rv, "out of memory"));
	}
	if (j->fill != NULL && j->fill->n == 1) {
		nng_cv_wake(j->cv); // the pump's linger starts
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
		nng_cv_wake(j->cv);
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
	if ((rv = tasq_api_call(
	         s, &req, s->timeout_ms, &rep, err, sizeof(err))) != 0) {
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
	return (job_alloc(jobp, s, &d, MODE_RESULTS, job_id));
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
	if (j->thr != NULL) {
		nng_mtx_lock(j->mtx);
		j->stop = true;
		nng_cv_wake(j->cv);
		nng_mtx_unlock(j->mtx);
		nng_thread_destroy(j->thr);
		// Abandoned before all its results came: the server drops
		// the rest now rather than after --job-ttl.
		nng_mtx_lock(j->mtx);
		if (j->mode == MODE_FETCH && j->nsent > 0 && !j->closed_job) {
			close_job(j);
		}
		nng_mtx_unlock(j->mtx);
	}
	if (j->s != NULL && j->closer.fn != NULL) {
		tasq_api_session_remove_closer(j->s, &j->closer);
	}
	if (j->s != NULL && j->mtx != NULL && j->cv != NULL) {
		tasq_api_session_release(j->s);
	}
	for (uint64_t i = 0; j->ring != NULL && i <= j->mask; i++) {
		slot_clear(&j->ring[i]);
	}
	free(j->ring);
	batch_free(j->fill);
	batch_list_free(j->sendq);
	batch_list_free(j->unans);
	if (j->cv != NULL) {
		nng_cv_free(j->cv);
	}
	if (j->mtx != NULL) {
		nng_mtx_free(j->mtx);
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
		nng_cv_wait(j->cv);
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
			tasq_job_status *st   = op->st;
			size_t           size = st->size;
			memset(st, 0, sizeof(*st));
			st->size          = size;
			st->job_id        = ji->job_id;
			st->state         = ji->state;
			st->submitted     = ji->submitted;
			st->completed     = ji->completed;
			st->failed        = ji->failed;
			st->age_ms        = ji->age_ms;
			st->detached      = ji->detached;
			st->result_ttl_ms = ji->result_ttl_ms;
			st->expires_in_ms = ji->expires_in_ms;
			st->no_worker     = ji->no_worker;
			st->workers       = ji->workers;
			snprintf(st->queue, sizeof(st->queue), "%s",
			    ji->queue ? ji->queue : "");
			snprintf(st->type, sizeof(st->type), "%s",
			    ji->type ? ji->type : "");
			snprintf(st->host, sizeof(st->host), "%s",
			    ji->host ? ji->host : "");
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
	if ((rv = tasq_api_call_aio(j->s, &op->req, j->s->timeout_ms, aio,
	         status_done, op)) != 0) {
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
	struct cancel_op *op     = arg;
	tasq_job         *j      = op->j;
	bool              closed = false;

	(void) deliver;
	if (rv == 0) {
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
		    j->s->chan, &req, j->s->timeout_ms, &crep, err, errlen));
		if (rv == 0) {
			tasq_wire_rep_fini(&crep);
		}
		closed = rv == 0 || rv == TASQ_ENOT_FOUND;
		rv     = rv == TASQ_ENOT_FOUND ? 0 : rv;
	}
	nng_mtx_lock(j->mtx);
	if (rv == 0) {
		// Whoever waits on the job is told.
		j->cancelled  = true;
		j->closed_job = j->closed_job || closed;
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
	if ((rv = tasq_api_call_aio(j->s, &op->req, j->s->timeout_ms, aio,
	         cancel_done, op)) != 0) {
		nng_mtx_lock(j->mtx);
		j->ops--;
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
