// tasq submit: send tasks as one job, collect every result exactly once,
// print them in input order.
//
// The input is a stream. A submitter thread reads it (arguments, --range,
// --file or stdin, one item per line or NUL-separated), puts each item in
// a slot of a ring of --window slots and sends batches as they fill (by
// count, --batch-size, and by bytes, --batch-bytes) or when the oldest
// item of a partial batch has waited --linger. Each batch is identified
// by its first task id, so a batch sent again is never enqueued twice.
// The main thread long-polls for results and prints, in input order, the
// prefix that is complete; a slot is reused once it is printed and its
// whole batch is answered (a batch is sent again, as it was, after a
// server restart). So memory is bounded by the window, however long the
// input: --window slots and --window-bytes of payloads and results.
//
// A job that fits in one batch and whose input has ended before that
// batch went out goes in the first Fetch long-poll (FetchRequest.submit):
// its tasks and, once they are done, its results travel in one round
// trip. Results are acknowledged to the server one delivery at a time
// (see FetchRequest in proto/tasq.proto), and a per-slot flag drops any
// result seen before, so none is printed twice.
//
// An item that cannot be a task (not an integer for type square, over
// TASQ_WIRE_MAX_PAYLOAD bytes) is not sent: it is printed in its place as
// an INVALID_ARGUMENT error naming its line, and tasq exits 2 at the end.
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "client.h"
#include "err.h"
#include "input.h"
#include "log.h"
#include "rand.h"

static struct {
	char    *range;
	char    *file;
	char    *queue;
	char    *type;
	bool     null;
	bool     summary;
	bool     json;
	bool     no_progress;
	char    *format;
	uint64_t batch;
	uint64_t batch_bytes;
	uint64_t window;
	uint64_t window_bytes;
	uint64_t linger_ms;
	uint64_t poll_wait_ms;
	uint64_t timeout_ms;
	uint64_t max_attempts;
	uint64_t no_worker_ms;
	bool     detach;
	bool     detach_on_int; // --detach-on-interrupt
	uint64_t result_ttl_ms;
	uint64_t priority;
} sopt;

// The submitting host's name, sent with every batch (JobInfo.host).
static char host_name[TASQ_WIRE_MAX_HOST + 1];

static const tasq_opt submit_opts[] = {
	{ "type", 'T', TASQ_OPT_STR, NULL, TASQ_TYPE_SQUARE, "NAME",
	    "task type (square: integer payloads)", &sopt.type, 0, 0, false },
	{ "range", 'r', TASQ_OPT_STR, NULL, NULL, "A:B",
	    "the integers A to B inclusive (type square)", &sopt.range, 0, 0,
	    false },
	{ "file", 'f', TASQ_OPT_STR, NULL, NULL, "FILE",
	    "read payloads from FILE, one per line (- for stdin)", &sopt.file,
	    0, 0, false },
	{ "null", 0, TASQ_OPT_BOOL, NULL, NULL, NULL,
	    "-0: input items end with NUL, not newline (like xargs -0)",
	    &sopt.null, 0, 0, false },
	{ "queue", 'q', TASQ_OPT_STR, "TASQ_QUEUE", "default", "NAME",
	    "queue to submit to", &sopt.queue, 0, 0, false },
	{ "summary", 0, TASQ_OPT_BOOL, NULL, NULL, NULL,
	    "print one summary line instead of every result", &sopt.summary, 0,
	    0, false },
	{ "format", 0, TASQ_OPT_STR, NULL, "text", "FMT",
	    "text, csv (square only) or jsonl (the summary too)", &sopt.format,
	    0, 0, false },
	{ "json", 0, TASQ_OPT_BOOL, NULL, NULL, NULL,
	    "the same as --format jsonl", &sopt.json, 0, 0, false },
	{ "no-progress", 0, TASQ_OPT_BOOL, NULL, NULL, NULL,
	    "no progress bar (shown only when stderr is a terminal)",
	    &sopt.no_progress, 0, 0, false },
	{ "batch-size", 'b', TASQ_OPT_U64, NULL, "16384", "N",
	    "most tasks per submit request", &sopt.batch, 1, 1048576, false },
	{ "batch-bytes", 0, TASQ_OPT_SIZE, NULL, "1MiB", "SIZE",
	    "a batch goes out once its payloads reach SIZE", &sopt.batch_bytes,
	    1, 64 << 20, false },
	{ "linger", 0, TASQ_OPT_MS, NULL, "20ms", "DURATION",
	    "longest a partial batch waits for more input", &sopt.linger_ms, 0,
	    60000, false },
	{ "window", 0, TASQ_OPT_U64, NULL, "1000000", "N",
	    "most tasks read but not yet printed", &sopt.window, 1, 16777216,
	    false },
	{ "window-bytes", 0, TASQ_OPT_SIZE, NULL, "64MiB", "SIZE",
	    "most payload and result bytes held", &sopt.window_bytes, 1,
	    (uint64_t) 1 << 40, false },
	{ "max-attempts", 0, TASQ_OPT_U64, NULL, "0", "N",
	    "deliveries of a failing task before it is dead-lettered "
	    "(0: the server's --max-attempts)",
	    &sopt.max_attempts, 0, 1000000, false },
	{ "priority", 0, TASQ_OPT_U64, "TASQ_PRIORITY", "10", "N",
	    "the job's share of its queue against other jobs (1-100): "
	    "priorities 7 and 3 get 70:30 of the workers",
	    &sopt.priority, 1, TASQ_WIRE_MAX_PRIORITY, false },
	{ "poll-wait", 0, TASQ_OPT_MS, NULL, "1s", "DURATION",
	    "how long each fetch may wait at the server for results",
	    &sopt.poll_wait_ms, 10, 60000, false },
	{ "no-worker-warn", 0, TASQ_OPT_MS, NULL, "2s", "DURATION",
	    "say so on stderr when no worker serves the job's type this long",
	    &sopt.no_worker_ms, 0, 3600000, false },
	{ "timeout", 't', TASQ_OPT_MS, NULL, "0", "DURATION",
	    "give up after this long (0: never)", &sopt.timeout_ms, 0,
	    30 * 86400000ULL, false },
	{ "detach", 'd', TASQ_OPT_BOOL, NULL, NULL, NULL,
	    "print the job id and exit once the server has the whole input; "
	    "tasq results JOB prints the results",
	    &sopt.detach, 0, 0, false },
	{ "result-ttl", 0, TASQ_OPT_MS, NULL, "0", "DURATION",
	    "with --detach or --detach-on-interrupt: keep the results this "
	    "long after the job is done (0: the server's --result-ttl)",
	    &sopt.result_ttl_ms, 0, 30 * 86400000ULL, false },
	{ "detach-on-interrupt", 0, TASQ_OPT_BOOL, NULL, NULL, NULL,
	    "on SIGINT or SIGTERM leave the job running, detached, and print "
	    "its id (tasq results JOB), instead of cancelling it",
	    &sopt.detach_on_int, 0, 0, false },
	TASQ_OPT_END,
};

// Square payloads and results are int64 arrays sent as they are: the
// wire's width-8 column is little-endian.
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
    "tasq submit sends int64 arrays as little-endian payloads");

static const char usage[] =
    "Usage: tasq [options] submit [--type NAME] [-0]\n"
    "                   [--range A:B | --file FILE | - | PAYLOAD...]\n"
    "Submits tasks (for type square: integers) read as a stream; prints\n"
    "one result per task in input order ('input result' or 'input error:\n"
    "CODE text' for square, the result for other types), or one summary\n"
    "line. -0 (--null): items end with NUL instead of newline.\n";

// A task (or an input item refused before it became one) in the window:
// 40 bytes, the client's memory per task in flight. The submitter writes
// a slot before it publishes its position (nread); the main thread writes
// its result and then done; the submitter frees the payload once the slot
// is printed and its batch answered.
struct slot {
	union {
		int64_t  in;      // square: the integer
		uint8_t *payload; // other types (NULL when plen is 0)
	};
	union {
		int64_t  res;    // square: the result
		uint8_t *result; // other types: result bytes (main thread)
	};
	// Refused: "where\0why" (the submitter's, freed when retired); else
	// the failure's message, if any (the main thread's, freed when
	// printed).
	char       *msg;
	uint32_t    plen, rlen;
	uint8_t     code; // wire code of the result
	bool        refused;
	atomic_bool done; // result received
};
_Static_assert(sizeof(struct slot) <= 40, "a slot is the memory per task");

// A batch sent (or to send again after a restart): tasks first_id ..
// first_id + n - 1, in positions first_pos .. end_pos - 1.
struct batch {
	uint64_t first_id, first_pos, end_pos;
	uint32_t n;
	bool     carried; // the one-trip batch: the main thread sends it
};

struct run {
	tasq_client *c;
	uint64_t     job_id;
	nng_time     deadline; // 0: none
	bool         square;
	// The ring has a power of two of slots, mask + 1 >= win, so that a
	// position's slot is a mask, not a division (five per task).
	struct slot *ring;  // position p in ring[p & mask]
	uint64_t    *idpos; // task id i at position idpos[i & mask]
	size_t       mask;
	size_t       win; // --window, or the input's length if smaller
	// Written by the submitter.
	atomic_uint_fast64_t nread;     // positions published
	atomic_uint_fast64_t nids;      // task ids published
	atomic_uint_fast64_t submitted; // task ids the server accepted
	atomic_bool          eof;       // nread is final
	atomic_int           onetrip;   // 1: onereq ready; 2: main gave up
	// A server older than typed tasks refuses square batches without
	// the legacy values column (INVALID_ARGUMENT): from then on, square
	// goes as values (see legacy_fallback).
	atomic_bool     legacy;
	tasq_submit_req onereq;
	int64_t        *one_vals;
	uint32_t       *one_lens;
	uint8_t        *one_data;
	// Written by the main thread.
	atomic_uint_fast64_t printed;    // positions printed
	atomic_uint_fast64_t held_bytes; // payload and result bytes held
	atomic_int           failed;     // a fatal error in the submitter
	atomic_bool          stop;
	char                 err[600];
	nng_mtx             *emtx; // guards last_err and warned_ms
	char                 last_err[600];
	nng_time             warned_ms;
	uint64_t             refused; // items refused (submitter)
	// A restarted server may have lost batches the old one acknowledged
	// (--fsync batch or never, and a machine crash): see server_changed.
	atomic_uint_fast64_t server_id; // of the replies seen so far
	atomic_uint          resend;    // restarts seen
	atomic_uint          resent;    // restarts the submitter caught up
};

static struct slot *
slot_at(struct run *r, uint64_t pos)
{
	return (&r->ring[pos & r->mask]);
}

// Whether a refusal is transient, so that the same request may succeed
// later (docs/PROTOCOL.md 12): the server is full now (RESOURCE_EXHAUSTED:
// max-tasks, too many jobs, in flight or senders, out of memory, disk
// full), its journal failed (UNAVAILABLE), or no answer came. Every other
// status is permanent for this job (INVALID_ARGUMENT, FAILED_PRECONDITION
// such as too many queues, NOT_FOUND, UNIMPLEMENTED, ...): retrying
// cannot help, so the client stops at once with the server's message.
// err is the server's message.
static bool
retryable(int rv, const char *err)
{
	if (rv == TASQ_ERESOURCE_EXHAUSTED) {
		// Servers before the FAILED_PRECONDITION refusal sent this
		// permanent one as RESOURCE_EXHAUSTED.
		return (strstr(err, "too many queues") == NULL);
	}
	return (rv == TASQ_EDEADLINE_EXCEEDED || rv == TASQ_EUNAVAILABLE ||
	    rv == NNG_ECLOSED || rv == NNG_ECONNREFUSED ||
	    rv == NNG_ECONNSHUT || rv == NNG_ECONNRESET || rv == NNG_EAGAIN);
}

// Remembers why a request is being retried, and says so on stderr at
// most every five seconds: a client that waits must say what for.
static void
note_retry(struct run *r, const char *what, const char *err)
{
	nng_time now = nng_clock();
	bool     say;

	nng_mtx_lock(r->emtx);
	snprintf(r->last_err, sizeof(r->last_err), "%s: %s", what, err);
	say = r->warned_ms == 0 || now >= r->warned_ms + 5000;
	if (say) {
		r->warned_ms = now;
	}
	nng_mtx_unlock(r->emtx);
	if (say) {
		tasq_warn("%s: %s; retrying", what, err);
	}
}

// The pause before retrying for a full server or a lost connection:
// 5 ms, doubling to half a second.
static uint32_t
backoff_next(uint32_t *backoff)
{
	*backoff = *backoff ? *backoff * 2 : 5;
	if (*backoff > 500) {
		*backoff = 500;
	}
	return (*backoff);
}

static bool
past_deadline(const struct run *r)
{
	return (r->deadline != 0 && nng_clock() >= r->deadline);
}

// Whether the replies now come from another server than before: a
// restart. A server that was killed, or whose machine crashed, under
// --fsync batch or never may have lost batches it acknowledged; so every
// batch whose results are not all in is sent again (Submit is
// idempotent: a batch the server has is a duplicate), and while the
// client lives nothing is lost.
static bool
server_changed(struct run *r)
{
	uint64_t now  = tasq_chan_server_id(r->c->chan);
	uint64_t seen = atomic_load(&r->server_id);

	if (now == 0 || now == seen ||
	    !atomic_compare_exchange_strong(&r->server_id, &seen, now) ||
	    seen == 0) {
		return (false);
	}
	atomic_fetch_add(&r->resend, 1);
	tasq_info("the server restarted (id %016" PRIx64 " after %016" PRIx64
	          "); sending again every batch whose results are not all "
	          "in",
	    now, seen);
	return (true);
}

// The submitter's own state: the input, the batches not yet answered and
// the request being built.
struct feed {
	struct run   *r;
	tasq_input   *in;   // --file or stdin; NULL for range and arguments
	const char   *name; // of the input, for messages
	char        **args; // PAYLOAD arguments
	int           nargs, argi;
	bool          is_range;
	int64_t       range_next;
	uint64_t      range_left;
	uint64_t      retired; // positions whose slots may be reused
	struct batch *q;       // q[qhead .. qlen-1]: sent, not all answered
	size_t        qhead, qlen, qcap;
	// The batch being filled: tasks of positions bpos .. nread - 1.
	uint64_t bpos, bid;
	uint32_t bn;
	uint64_t bbytes;
	nng_time bdeadline;
	// Buffers of the request.
	int64_t  *vals;
	uint32_t *lens;
	uint8_t  *data;
	size_t    data_cap;
	unsigned  restarts;
	int       warned; // refused items reported on stderr
};

static bool
add_held(struct run *r, int64_t delta)
{
	atomic_fetch_add(&r->held_bytes, (uint64_t) delta);
	return (true);
}

// Fills req with the batch b from the slots (into f's buffers).
static int
build_req(struct feed *f, const struct batch *b, tasq_submit_req *req)
{
	struct run *r = f->r;
	size_t      k = 0, size = 0;

	memset(req, 0, sizeof(*req));
	req->queue       = sopt.queue;
	req->job_id      = r->job_id;
	req->first_index = b->first_id;
	req->n           = b->n;
	if (sopt.max_attempts != 0) {
		req->has_retry          = true;
		req->retry.max_attempts = (uint32_t) sopt.max_attempts;
	}
	req->host = host_name;
	// --detach-on-interrupt: detached from the first batch, so that an
	// interrupt can leave it (its results read with Results meanwhile).
	req->detach        = sopt.detach || sopt.detach_on_int;
	req->result_ttl_ms = req->detach ? sopt.result_ttl_ms : 0;
	// The default goes as 0 (absent): the same for every server.
	if (sopt.priority != TASQ_PRIORITY_DEFAULT) {
		req->priority = (uint32_t) sopt.priority;
	}
	if (r->square) {
		for (uint64_t p = b->first_pos; p < b->end_pos; p++) {
			struct slot *s = slot_at(r, p);
			if (!s->refused) {
				f->vals[k++] = s->in;
			}
		}
		// The fixed-width fast path: int64 little-endian, width 8
		// (a little-endian host's int64 array as it is); the same
		// array as the legacy values column for an old server.
		req->values         = atomic_load(&r->legacy) ? f->vals : NULL;
		req->type           = TASQ_TYPE_SQUARE;
		req->payloads.width = 8;
		req->payloads.data  = (uint8_t *) f->vals;
		req->payloads.size  = (size_t) b->n * 8;
		return (0);
	}
	for (uint64_t p = b->first_pos; p < b->end_pos; p++) {
		struct slot *s = slot_at(r, p);
		if (!s->refused) {
			size += s->plen;
		}
	}
	if (size > f->data_cap) {
		uint8_t *nd = realloc(f->data, size);
		if (nd == NULL) {
			return (NNG_ENOMEM);
		}
		f->data     = nd;
		f->data_cap = size;
	}
	size = 0;
	for (uint64_t p = b->first_pos; p < b->end_pos; p++) {
		struct slot *s = slot_at(r, p);
		if (s->refused) {
			continue;
		}
		f->lens[k++] = s->plen;
		if (s->plen > 0) {
			memcpy(f->data + size, s->payload, s->plen);
		}
		size += s->plen;
	}
	req->type           = sopt.type;
	req->payloads.width = 0;
	req->payloads.lens  = f->lens;
	req->payloads.data  = f->data;
	req->payloads.size  = size;
	return (0);
}

// Whether a refusal of a square batch sent as payloads is an old
// server's (one that knows only the legacy values column: it refuses a
// batch without values as INVALID_ARGUMENT): then square goes as values
// from now on, and the batch is sent again so. A new server never
// refuses a valid width-8 column, so this cannot hide a real error: the
// batch sent again as values gets the same answer.
static bool
legacy_fallback(struct run *r, int rv)
{
	bool no = false;

	if (rv != TASQ_EINVALID_ARGUMENT || !r->square) {
		return (false);
	}
	if (!atomic_compare_exchange_strong(&r->legacy, &no, true)) {
		return (false);
	}
	tasq_info("the server refused square tasks as payloads: an old "
	          "server; sending them as values");
	return (true);
}

// Sends batch b until the server takes it. Returns 0, or -1 after
// recording a fatal error (r->failed), or 1 when a restart was seen
// meanwhile (the caller starts over).
static int
send_batch(struct feed *f, const struct batch *b)
{
	struct run *r       = f->r;
	uint32_t    backoff = 0, fails = 0;
	tasq_req    req;
	tasq_rep    rep;
	char        err[512];
	int         rv;

	memset(&req, 0, sizeof(req));
	req.method = TASQ_M_SUBMIT;
	if ((rv = build_req(f, b, &req.u.submit)) != 0) {
		snprintf(r->err, sizeof(r->err), "out of memory");
		atomic_store(&r->failed, TASQ_EXIT_FAIL);
		return (-1);
	}
	for (;;) {
		rv = tasq_chan_call(r->c->chan, &req,
		    (uint32_t) r->c->timeout_ms, &rep, err, sizeof(err));
		(void) server_changed(r);
		if (rv == 0) {
			tasq_wire_rep_fini(&rep);
			return (0);
		}
		if (legacy_fallback(r, rv)) {
			req.u.submit.values = f->vals;
			continue;
		}
		if (!retryable(rv, err) || past_deadline(r) ||
		    atomic_load(&r->stop)) {
			snprintf(
			    r->err, sizeof(r->err), "submit failed: %s", err);
			atomic_store(&r->failed,
			    rv == TASQ_EINVALID_ARGUMENT ? TASQ_EXIT_USAGE
			                                 : TASQ_EXIT_FAIL);
			return (-1);
		}
		// Full server or lost connection: the same batch again,
		// after a pause that grows to half a second.
		note_retry(r, "submit", err);
		if (rv != TASQ_ERESOURCE_EXHAUSTED && ++fails % 3 == 0) {
			(void) tasq_chan_redial(r->c->chan);
		}
		nng_msleep(backoff_next(&backoff));
		if (atomic_load(&r->resend) != f->restarts) {
			return (1);
		}
	}
}

// Whether every task of batch b has its result.
static bool
batch_answered(struct run *r, const struct batch *b)
{
	for (uint64_t p = b->first_pos; p < b->end_pos; p++) {
		struct slot *s = slot_at(r, p);
		if (!s->refused && !atomic_load(&s->done)) {
			return (false);
		}
	}
	return (true);
}

// Frees the slots that are printed and whose batch is answered, so that
// the reader may reuse them.
static void
retire(struct feed *f)
{
	struct run *r       = f->r;
	uint64_t    printed = atomic_load(&r->printed);
	uint64_t    upto;

	while (f->qhead < f->qlen && f->q[f->qhead].end_pos <= printed) {
		f->qhead++;
	}
	if (f->qhead == f->qlen) {
		f->qhead = f->qlen = 0;
	}
	upto = printed;
	if (f->qhead < f->qlen && f->q[f->qhead].first_pos < upto) {
		upto = f->q[f->qhead].first_pos;
	}
	if (r->square && r->refused == 0) {
		f->retired = upto; // square slots hold nothing to free
		return;
	}
	for (; f->retired < upto; f->retired++) {
		struct slot *s = slot_at(r, f->retired);
		if (s->refused) {
			free(s->msg);
			s->msg = NULL;
		} else if (!r->square && s->payload != NULL) {
			add_held(r, -(int64_t) s->plen);
			free(s->payload);
			s->payload = NULL;
		}
	}
}

static int
queue_batch(struct feed *f, const struct batch *b)
{
	if (f->qhead > 0 && f->qlen == f->qcap) {
		memmove(f->q, f->q + f->qhead,
		    (f->qlen - f->qhead) * sizeof(*f->q));
		f->qlen -= f->qhead;
		f->qhead = 0;
	}
	if (f->qlen == f->qcap) {
		size_t        ncap = f->qcap ? f->qcap * 2 : 64;
		struct batch *nq   = realloc(f->q, ncap * sizeof(*nq));
		if (nq == NULL) {
			return (NNG_ENOMEM);
		}
		f->q    = nq;
		f->qcap = ncap;
	}
	f->q[f->qlen++] = *b;
	return (0);
}

// Hands the first and only batch to the main thread, which sends it in
// its first Fetch (copies, so that the submitter's buffers stay its own).
static int
hand_one_trip(struct feed *f, const struct batch *b)
{
	struct run *r = f->r;
	int         rv;

	if ((rv = build_req(f, b, &r->onereq)) != 0) {
		return (rv);
	}
	if (r->square) {
		r->one_vals = malloc((size_t) b->n * 8);
		if (r->one_vals == NULL) {
			return (NNG_ENOMEM);
		}
		memcpy(r->one_vals, f->vals, (size_t) b->n * 8);
		r->onereq.payloads.data = (uint8_t *) r->one_vals;
	} else {
		r->one_lens = malloc((size_t) b->n * sizeof(uint32_t));
		r->one_data = malloc(r->onereq.payloads.size + 1);
		if (r->one_lens == NULL || r->one_data == NULL) {
			return (NNG_ENOMEM);
		}
		memcpy(r->one_lens, f->lens, (size_t) b->n * sizeof(uint32_t));
		memcpy(r->one_data, f->data, r->onereq.payloads.size);
		r->onereq.payloads.lens = r->one_lens;
		r->onereq.payloads.data = r->one_data;
	}
	atomic_store(&r->onetrip, 1);
	return (0);
}

// Sends the batch being filled (or hands it over as the one trip).
static int
flush_batch(struct feed *f)
{
	struct run  *r = f->r;
	struct batch b = { f->bid, f->bpos, atomic_load(&r->nread), f->bn,
		false };
	int          rv;

	if (f->bn == 0) {
		return (0);
	}
	if (b.first_id == 0 && atomic_load(&r->eof) && !sopt.detach &&
	    !sopt.detach_on_int) {
		b.carried = true;
		if (queue_batch(f, &b) != 0 || hand_one_trip(f, &b) != 0) {
			goto nomem;
		}
	} else {
		if (queue_batch(f, &b) != 0) {
			goto nomem;
		}
		while ((rv = send_batch(f, &b)) == 1) {
			// A restart: this batch goes out with the others.
			return (0);
		}
		if (rv < 0) {
			return (-1);
		}
		atomic_store(&r->submitted, b.first_id + b.n);
	}
	f->bid += f->bn;
	f->bpos   = b.end_pos;
	f->bn     = 0;
	f->bbytes = 0;
	return (0);
nomem:
	snprintf(r->err, sizeof(r->err), "out of memory");
	atomic_store(&r->failed, TASQ_EXIT_FAIL);
	return (-1);
}

// After a restart: every batch whose results are not all in, again.
static int
resend_all(struct feed *f)
{
	struct run *r = f->r;

again:
	f->restarts = atomic_load(&r->resend);
	retire(f);
	for (size_t i = f->qhead; i < f->qlen; i++) {
		struct batch *b = &f->q[i];
		int           rv;
		if (b->carried || batch_answered(r, b)) {
			continue;
		}
		if ((rv = send_batch(f, b)) == 1) {
			goto again;
		}
		if (rv < 0) {
			return (-1);
		}
	}
	// The batch being filled when the restart came (flush_batch gave up
	// on it) goes out as the last one.
	if (f->bn > 0 && f->qlen > 0 && f->q[f->qlen - 1].first_id == f->bid) {
		struct batch *b = &f->q[f->qlen - 1];
		f->bid += b->n;
		f->bpos   = b->end_pos;
		f->bn     = 0;
		f->bbytes = 0;
		atomic_store(&r->submitted, f->bid);
	}
	atomic_store(&r->resent, f->restarts);
	return (0);
}

// Describes a refused item: "where\0why", why being msg, and s (len
// bytes, shown up to 40 characters) in quotes when s is not NULL.
static char *
refusal(struct feed *f, uint64_t itemno, const char *msg, const char *s,
    size_t len)
{
	char   where[300], why[300], shown[44];
	size_t k = 0;
	char  *out;

	for (size_t i = 0; s != NULL && i < len && k < 40; i++) {
		unsigned char ch = (unsigned char) s[i];
		shown[k++]       = ch < 0x20 || ch == 0x7f ? '?' : (char) ch;
	}
	shown[k] = '\0';
	if (f->args != NULL) {
		snprintf(where, sizeof(where), "argument %" PRIu64, itemno);
	} else {
		snprintf(where, sizeof(where), "%s:%" PRIu64, f->name, itemno);
	}
	if (s != NULL) {
		snprintf(why, sizeof(why), "'%s' %s", shown, msg);
	} else {
		snprintf(why, sizeof(why), "%s", msg);
	}
	if (f->warned++ < 20) {
		fprintf(stderr, "tasq: %s: %s\n", where, why);
	} else if (f->warned == 21) {
		fprintf(stderr, "tasq: more input refused: see the output\n");
	}
	k = strlen(where);
	if ((out = malloc(k + strlen(why) + 2)) != NULL) {
		memcpy(out, where, k + 1);
		memcpy(out + k + 1, why, strlen(why) + 1);
	}
	return (out);
}

// Reads the next item into the slot at position pos. Returns 1 when a
// slot was filled, 0 when nothing came within timeout_ms, -1 at the end
// of the input, -2 on a read error.
static int
read_item(struct feed *f, uint64_t pos, int timeout_ms)
{
	struct run  *r = f->r;
	struct slot *s = slot_at(r, pos);
	const char  *item;
	size_t       len;
	uint64_t     itemno;
	int          kind;

	if (f->is_range) {
		if (f->range_left == 0) {
			return (-1);
		}
		memset(s, 0, sizeof(*s));
		s->in         = f->range_next;
		f->range_next = (int64_t) ((uint64_t) f->range_next + 1);
		f->range_left--;
		return (1);
	}
	for (;;) {
		if (f->args != NULL) {
			if (f->argi >= f->nargs) {
				return (-1);
			}
			item   = f->args[f->argi++];
			len    = strlen(item);
			itemno = (uint64_t) f->argi;
			kind = len > TASQ_WIRE_MAX_PAYLOAD ? TASQ_INPUT_TOOLONG
			                                   : TASQ_INPUT_ITEM;
		} else {
			kind = tasq_input_next(
			    f->in, timeout_ms, &item, &len, &itemno);
		}
		if (kind == TASQ_INPUT_WAIT) {
			return (0);
		}
		if (kind == TASQ_INPUT_EOF) {
			return (-1);
		}
		if (kind == TASQ_INPUT_ERROR) {
			return (-2);
		}
		memset(s, 0, sizeof(*s));
		if (kind == TASQ_INPUT_TOOLONG) {
			s->refused = true;
			s->msg     = refusal(f, itemno,
                            r->square ? "is longer than any 64-bit integer"
			                  : "is longer than 1 MiB",
			        NULL, 0);
			return (1);
		}
		if (!r->square) {
			if (len > 0 && (s->payload = malloc(len)) == NULL) {
				return (-3);
			}
			if (len > 0) {
				memcpy(s->payload, item, len);
			}
			s->plen = (uint32_t) len;
			add_held(r, (int64_t) len);
			return (1);
		}
		// Square skips blank lines and comments (not arguments).
		if (f->args == NULL) {
			size_t i = 0;
			while (i < len &&
			    (item[i] == ' ' || item[i] == '\t' ||
			        item[i] == '\r' || item[i] == '\n')) {
				i++;
			}
			if (i == len || item[i] == '#') {
				continue;
			}
		}
		if (!tasq_input_parse_i64(item, len, &s->in)) {
			s->refused = true;
			s->msg     = refusal(
			        f, itemno, "is not a 64-bit integer", item, len);
		}
		return (1);
	}
}

static bool
window_full(struct feed *f)
{
	struct run *r    = f->r;
	uint64_t    held = atomic_load(&r->held_bytes);

	return (atomic_load(&r->nread) >= f->retired + r->win ||
	    (held > 0 && held >= sopt.window_bytes));
}

static void
submitter(void *arg)
{
	struct feed *f = arg;
	struct run  *r = f->r;

	while (!atomic_load(&r->stop)) {
		nng_time now = nng_clock();
		int      rv;

		if (atomic_load(&r->resend) != f->restarts) {
			if (resend_all(f) != 0) {
				return;
			}
			continue;
		}
		if (atomic_load(&r->onetrip) == 2 && f->qlen > f->qhead &&
		    f->q[f->qhead].carried) {
			// An older server ignored the batch carried by Fetch.
			struct batch *b = &f->q[f->qhead];
			b->carried      = false;
			if ((rv = send_batch(f, b)) < 0) {
				return;
			}
			if (rv == 0) {
				atomic_store(&r->submitted, b->n);
			}
			continue;
		}
		retire(f);
		if (f->bn > 0 &&
		    (f->bn >= sopt.batch || f->bbytes >= sopt.batch_bytes ||
		        atomic_load(&r->eof) || now >= f->bdeadline ||
		        window_full(f))) {
			if (flush_batch(f) != 0) {
				return;
			}
			continue;
		}
		if (atomic_load(&r->eof) || window_full(f)) {
			// Wait for results (or a restart to catch up with).
			nng_msleep(atomic_load(&r->eof) ? 5 : 1);
			continue;
		}
		int wait = 100;
		if (f->bn > 0) {
			wait = f->bdeadline > now ? (int) (f->bdeadline - now)
			                          : 0;
		}
		// Read a burst: as much as the batch and the window take
		// and the input has ready, published at once.
		uint64_t pos   = atomic_load(&r->nread);
		uint64_t limit = f->retired + r->win;
		uint64_t nids  = f->bid + f->bn;
		uint64_t held  = atomic_load(&r->held_bytes);
		int      got   = 0;
		rv             = 1;
		if (f->is_range && f->range_left > 0 && pos < limit &&
		    f->bn < sopt.batch) {
			// A range fills its slots in a tight loop: no item to
			// parse, none refused.
			uint64_t k = limit - pos;
			k = k < sopt.batch - f->bn ? k : sopt.batch - f->bn;
			k = k < f->range_left ? k : f->range_left;
			k = k < 65536 ? k : 65536;
			if (f->bn == 0) {
				f->bdeadline = now + sopt.linger_ms;
			}
			for (uint64_t e = pos + k; pos < e; pos++, nids++) {
				struct slot *s = slot_at(r, pos);
				memset(s, 0, sizeof(*s));
				s->in = f->range_next;
				f->range_next =
				    (int64_t) ((uint64_t) f->range_next + 1);
				r->idpos[nids & r->mask] = pos;
			}
			f->range_left -= k;
			f->bn += (uint32_t) k;
			f->bbytes += 8 * k;
			got = (int) k;
		}
		while (pos < limit && f->bn < sopt.batch &&
		    f->bbytes < sopt.batch_bytes && got < 65536 &&
		    (held == 0 || held < sopt.window_bytes)) {
			if ((rv = read_item(f, pos, got == 0 ? wait : 0)) !=
			    1) {
				break;
			}
			struct slot *s = slot_at(r, pos);
			if (s->refused) {
				r->refused++;
			} else {
				r->idpos[nids & r->mask] = pos;
				nids++;
				if (f->bn == 0) {
					f->bdeadline = now + sopt.linger_ms;
				}
				f->bn++;
				f->bbytes += r->square ? 8 : s->plen;
				held += r->square ? 0 : s->plen;
			}
			pos++;
			got++;
		}
		if (got > 0) {
			atomic_store(&r->nids, nids);
			atomic_store(&r->nread, pos);
		}
		if (rv == -1 || (f->is_range && f->range_left == 0) ||
		    (f->args != NULL && f->argi >= f->nargs)) {
			// The end (known at once for a range or arguments,
			// so that a job of one batch makes one trip).
			atomic_store(&r->eof, true);
		} else if (rv < -1) {
			snprintf(r->err, sizeof(r->err), "%s: %s", f->name,
			    rv == -2 ? strerror(errno) : "out of memory");
			atomic_store(&r->failed, TASQ_EXIT_FAIL);
			return;
		}
	}
}

// Output is formatted by hand into one big buffer: printf per line is
// the bottleneck at millions of lines.
struct out {
	char  *buf;
	size_t len, cap;
};

static void
out_flush(struct out *o)
{
	size_t off = 0;
	while (off < o->len) {
		ssize_t k = write(STDOUT_FILENO, o->buf + off, o->len - off);
		if (k < 0) {
			if (errno == EINTR) {
				continue;
			}
			break; // stdout closed: nothing more to do
		}
		off += (size_t) k;
	}
	o->len = 0;
}

static char *
fmt_i64(char *p, int64_t v)
{
	char     tmp[24];
	int      k = 0;
	uint64_t u = v < 0 ? (uint64_t) 0 - (uint64_t) v : (uint64_t) v;

	do {
		tmp[k++] = (char) ('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0) {
		*p++ = '-';
	}
	while (k > 0) {
		*p++ = tmp[--k];
	}
	return (p);
}

static const char *
code_text(int code)
{
	switch (code) {
	case TASQ_EOUT_OF_RANGE - TASQ_ERR_BASE:
		return ("the square does not fit in a signed 64-bit integer");
	case TASQ_EABORTED - TASQ_ERR_BASE:
		return ("task failed on every attempt (dead-lettered)");
	default:
		return (tasq_strerror(tasq_err_from_code(code)));
	}
}

enum { FMT_TEXT, FMT_CSV, FMT_JSONL };
static int out_format = FMT_TEXT;

static void out_json_str(struct out *o, const char *s, size_t n);

static void
out_line(struct out *o, int64_t in, int64_t res, uint8_t code, const char *msg)
{
	char *p;
	int   k;

	if (o->cap - o->len < 2048) {
		out_flush(o);
	}
	p = o->buf + o->len;
	switch (out_format) {
	case FMT_TEXT:
		p    = fmt_i64(p, in);
		*p++ = ' ';
		if (code == 0) {
			p = fmt_i64(p, res);
		} else {
			k = snprintf(p, 1200, "error: %s %.1024s",
			    tasq_err_name(code), msg);
			p += k < 1200 ? k : 1199;
		}
		break;
	case FMT_CSV:
		p    = fmt_i64(p, in);
		*p++ = ',';
		if (code == 0) {
			p    = fmt_i64(p, res);
			*p++ = ',';
		} else {
			p += snprintf(p, 200, ",%s", tasq_err_name(code));
		}
		break;
	default:
		memcpy(p, "{\"input\":", 9);
		p = fmt_i64(p + 9, in);
		if (code == 0) {
			memcpy(p, ",\"result\":", 10);
			p = fmt_i64(p + 10, res);
		} else {
			k = snprintf(p, 200, ",\"error\":\"%s\",\"message\":",
			    tasq_err_name(code));
			o->len = (size_t) (p + k - o->buf);
			out_json_str(o, msg, strlen(msg));
			if (o->cap - o->len < 4) {
				out_flush(o);
			}
			p = o->buf + o->len;
		}
		*p++ = '}';
		break;
	}
	*p++   = '\n';
	o->len = (size_t) (p - o->buf);
}

// A progress line on stderr, redrawn in place, at most five times a
// second; only on a terminal.
static void
progress(size_t done, size_t total, const struct timespec *t0, bool final)
{
	static uint64_t last_ms;
	struct timespec now;
	uint64_t        ms;
	double          secs, rate;
	char            bar[31];
	int             fill;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (uint64_t) now.tv_sec * 1000 + (uint64_t) now.tv_nsec / 1000000;
	if (!final && ms < last_ms + 200) {
		return;
	}
	last_ms = ms;
	secs    = (double) (now.tv_sec - t0->tv_sec) +
	    (double) (now.tv_nsec - t0->tv_nsec) / 1e9;
	rate = secs > 0 ? (double) done / secs : 0;
	fill = total ? (int) (30.0 * (double) done / (double) total) : 30;
	memset(bar, '#', (size_t) fill);
	memset(bar + fill, '.', (size_t) (30 - fill));
	bar[30] = '\0';
	if (final) {
		fprintf(stderr, "\r\033[K");
		return;
	}
	double eta = rate > 0 ? (double) (total - done) / rate : 0;
	fprintf(stderr, "\r[%s] %3d%% %zu/%zu %.0f tasks/s ETA %d:%02d\033[K",
	    bar, total ? (int) (100.0 * (double) done / (double) total) : 100,
	    done, total, rate, (int) eta / 60, (int) eta % 60);
}

// out_bytes appends n bytes, writing through when they exceed the buffer.
static void
out_bytes(struct out *o, const void *p, size_t n)
{
	if (o->cap - o->len < n) {
		out_flush(o);
	}
	if (n > o->cap) {
		struct out big = { (char *) p, n, n };
		out_flush(&big);
		return;
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

// Whether p (n bytes) is valid UTF-8 (no overlongs, surrogates or code
// points past U+10FFFF).
static bool
utf8_valid(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t  c = p[i];
		size_t   k;
		uint32_t cp, min;
		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			k = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			k = 2, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			k = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return (false);
		}
		if (n - i <= k) {
			return (false);
		}
		for (size_t j = 1; j <= k; j++) {
			if ((p[i + j] & 0xc0) != 0x80) {
				return (false);
			}
			cp = (cp << 6) | (p[i + j] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff)) {
			return (false);
		}
		i += k + 1;
	}
	return (true);
}

// A JSON string of valid UTF-8 text.
static void
out_json_str(struct out *o, const char *s, size_t n)
{
	char   chunk[256];
	size_t k = 0;

	chunk[k++] = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char) s[i];
		if (k > sizeof(chunk) - 8) {
			out_bytes(o, chunk, k);
			k = 0;
		}
		if (c == '"' || c == '\\') {
			chunk[k++] = '\\';
			chunk[k++] = (char) c;
		} else if (c == '\n') {
			chunk[k++] = '\\';
			chunk[k++] = 'n';
		} else if (c == '\t') {
			chunk[k++] = '\\';
			chunk[k++] = 't';
		} else if (c < 0x20 || c == 0x7f) {
			k += (size_t) snprintf(chunk + k, 8, "\\u%04x", c);
		} else {
			chunk[k++] = (char) c;
		}
	}
	chunk[k++] = '"';
	out_bytes(o, chunk, k);
}

static void
out_base64(struct out *o, const uint8_t *p, size_t n)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                          "abcdefghijklmnopqrstuvwxyz0123456789+/";
	char              chunk[256];
	size_t            k = 0;

	chunk[k++] = '"';
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t) p[i] << 16;
		if (i + 1 < n) {
			v |= (uint32_t) p[i + 1] << 8;
		}
		if (i + 2 < n) {
			v |= p[i + 2];
		}
		chunk[k++] = b64[(v >> 18) & 63];
		chunk[k++] = b64[(v >> 12) & 63];
		chunk[k++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		chunk[k++] = i + 2 < n ? b64[v & 63] : '=';
		if (k > sizeof(chunk) - 8) {
			out_bytes(o, chunk, k);
			k = 0;
		}
	}
	chunk[k++] = '"';
	out_bytes(o, chunk, k);
}

static const char *
slot_error(const struct slot *s)
{
	return (
	    s->msg != NULL && s->msg[0] != '\0' ? s->msg : code_text(s->code));
}

// An item refused before submission, in its place in the output.
static void
out_refused(struct out *o, uint64_t index, const struct slot *s, bool square)
{
	const char *where = s->msg != NULL ? s->msg : "input";
	const char *why =
	    s->msg != NULL ? s->msg + strlen(s->msg) + 1 : "out of memory";
	char line[800];
	int  k;
	int  code = TASQ_EINVALID_ARGUMENT - TASQ_ERR_BASE;

	if (out_format == FMT_JSONL) {
		char msg[700];
		k = snprintf(line, sizeof(line),
		    square ? "{\"input\":" : "{\"index\":%" PRIu64 ",", index);
		if (!square) {
			k += snprintf(line + k, sizeof(line) - (size_t) k,
			    "\"code\":\"%s\",\"error\":", tasq_err_name(code));
		}
		out_bytes(o, line, (size_t) k);
		snprintf(msg, sizeof(msg), "%s: %s", where, why);
		if (square) {
			out_json_str(o, where, strlen(where));
			k = snprintf(line, sizeof(line),
			    ",\"error\":\"%s\",\"message\":",
			    tasq_err_name(code));
			out_bytes(o, line, (size_t) k);
		}
		out_json_str(o, msg, strlen(msg));
		{
			const char *end =
			    square ? "}\n" : ",\"result\":\"\"}\n";
			out_bytes(o, end, strlen(end));
		}
		return;
	}
	if (out_format == FMT_CSV) {
		k = snprintf(line, sizeof(line), "%s,,%s\n", where,
		    tasq_err_name(code));
	} else if (square) {
		k = snprintf(line, sizeof(line), "%s error: %s %s\n", where,
		    tasq_err_name(code), why);
	} else {
		k = snprintf(line, sizeof(line), "error: %s %s: %s\n",
		    tasq_err_name(code), where, why);
	}
	out_bytes(o, line,
	    (size_t) k < sizeof(line) ? (size_t) k : sizeof(line) - 1);
}

// The result of a task of another type than square.
static void
out_result(struct out *o, uint64_t index, const struct slot *s)
{
	char line[1200];
	int  k;

	if (out_format == FMT_JSONL) {
		bool text = utf8_valid(s->result, s->rlen);
		k         = snprintf(line, sizeof(line),
		            "{\"index\":%" PRIu64 ",\"code\":\"%s\",\"error\":", index,
		            tasq_err_name(s->code));
		out_bytes(o, line, (size_t) k);
		if (s->code == 0) {
			out_bytes(o, "\"\"", 2);
		} else {
			const char *e = slot_error(s);
			out_json_str(o, e, strlen(e));
		}
		out_bytes(o, ",\"result\":", 10);
		if (text) {
			out_json_str(o, (const char *) s->result, s->rlen);
			out_bytes(o, "}\n", 2);
		} else {
			out_base64(o, s->result, s->rlen);
			out_bytes(o, ",\"base64\":true}\n", 16);
		}
		return;
	}
	if (s->code != 0) {
		k = snprintf(line, sizeof(line), "error: %s %s\n",
		    tasq_err_name(s->code), slot_error(s));
		out_bytes(o, line,
		    (size_t) k < sizeof(line) ? (size_t) k : sizeof(line) - 1);
		return;
	}
	// One line: the result without a final newline of its own.
	size_t n = s->rlen;
	if (n > 0 && s->result[n - 1] == '\n') {
		n--;
	}
	if (n > 0) {
		out_bytes(o, s->result, n);
	}
	out_bytes(o, "\n", 1);
}

// Takes "-0" out of argv (before "--", and not as an option's value): the
// option parser reads "-0" as a negative number.
static int
take_null_flag(int argc, char **argv)
{
	int k = 0;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			while (i < argc) {
				argv[k++] = argv[i++];
			}
			break;
		}
		if (strcmp(argv[i], "-0") == 0) {
			sopt.null = true;
			continue;
		}
		argv[k++] = argv[i];
		// An option with a separate value keeps it, even "-0".
		if (argv[i][0] == '-' && strchr(argv[i], '=') == NULL &&
		    i + 1 < argc) {
			const tasq_opt *const tables[] = { submit_opts,
				tasq_client_opts, NULL };
			for (int t = 0; tables[t] != NULL; t++) {
				for (const tasq_opt *o = tables[t]; o->name;
				     o++) {
					if (o->type != TASQ_OPT_BOOL &&
					    ((argv[i][1] == '-' &&
					         strcmp(argv[i] + 2,
					             o->name) == 0) ||
					        (o->shortopt &&
					            argv[i][1] ==
					                o->shortopt &&
					            argv[i][2] == '\0'))) {
						argv[k++] = argv[++i];
						t         = 1;
						break;
					}
				}
			}
		}
	}
	return (k);
}

// Sets up the feed's input source; prints why not and returns an exit
// code.
static int
open_input(struct feed *f, char **args, int nargs, int *fdp)
{
	int sources = (sopt.range != NULL) + (sopt.file != NULL) + (nargs > 0);

	if (sources != 1) {
		fprintf(stderr,
		    "tasq: submit needs exactly one of --range A:B, "
		    "--file FILE, - (stdin) or payloads\n");
		return (TASQ_EXIT_USAGE);
	}
	if (sopt.range != NULL) {
		char    buf[64];
		char   *colon;
		int64_t a, b;
		snprintf(buf, sizeof(buf), "%s", sopt.range);
		if (!f->r->square) {
			fprintf(stderr, "tasq: --range is for type square\n");
			return (TASQ_EXIT_USAGE);
		}
		if ((colon = strchr(buf + 1, ':')) == NULL) {
			goto bad_range;
		}
		*colon = '\0';
		if (!tasq_input_parse_i64(buf, strlen(buf), &a) ||
		    !tasq_input_parse_i64(colon + 1, strlen(colon + 1), &b) ||
		    b < a || (uint64_t) b - (uint64_t) a >= (1ULL << 40)) {
			goto bad_range;
		}
		f->is_range   = true;
		f->range_next = a;
		f->range_left = (uint64_t) b - (uint64_t) a + 1;
		f->name       = "--range";
		return (0);
	bad_range:
		fprintf(stderr,
		    "tasq: --range takes A:B with integers A <= B "
		    "(at most 2^40 tasks), not '%.40s'\n",
		    sopt.range);
		return (TASQ_EXIT_USAGE);
	}
	if (sopt.file != NULL || (nargs == 1 && strcmp(args[0], "-") == 0)) {
		const char *name = sopt.file ? sopt.file : "-";
		int         fd   = STDIN_FILENO;
		f->name          = "stdin";
		if (strcmp(name, "-") != 0) {
			if ((fd = open(name, O_RDONLY | O_CLOEXEC)) < 0) {
				fprintf(stderr, "tasq: cannot open %s: %s\n",
				    name, strerror(errno));
				return (TASQ_EXIT_USAGE);
			}
			f->name = name;
			*fdp    = fd;
		}
		f->in = tasq_input_alloc(fd, sopt.null ? '\0' : '\n',
		    f->r->square ? 4096 : TASQ_WIRE_MAX_PAYLOAD);
		if (f->in == NULL) {
			fprintf(stderr, "tasq: out of memory\n");
			return (TASQ_EXIT_FAIL);
		}
		return (0);
	}
	f->args  = args;
	f->nargs = nargs;
	f->name  = "arguments";
	return (0);
}

// The result for task id of a Fetch reply's entry i; false when the id is
// not one of ours in flight, or was seen already.
static struct slot *
slot_of_id(struct run *r, uint64_t id, uint64_t printed_ids)
{
	struct slot *s;

	if (id < printed_ids || id >= atomic_load(&r->nids)) {
		return (NULL);
	}
	s = slot_at(r, r->idpos[id & r->mask]);
	if (s->refused ||
	    atomic_load_explicit(&s->done, memory_order_relaxed)) {
		return (NULL); // done is this thread's own write
	}
	return (s);
}

// Takes a Fetch reply's results into their slots. Returns how many were
// new.
static size_t
take_results(struct run *r, const tasq_rep *rep, uint64_t printed_ids)
{
	const tasq_blobs *b    = &rep->u.fetch.results;
	size_t            off  = 0;
	size_t            news = 0;

	for (size_t i = 0; i < rep->u.fetch.n; i++) {
		const uint8_t *item = NULL;
		size_t         len  = 0;
		if (rep->u.fetch.values == NULL) {
			len = b->width ? b->width : (b->lens ? b->lens[i] : 0);
			item = b->data != NULL ? b->data + off : NULL;
			off += len;
		}
		struct slot *s =
		    slot_of_id(r, rep->u.fetch.ids[i], printed_ids);
		if (s == NULL) {
			continue; // not ours, or seen already
		}
		s->code =
		    rep->u.fetch.codes ? (uint8_t) rep->u.fetch.codes[i] : 0;
		if (rep->u.fetch.errors != NULL && rep->u.fetch.errors[i] &&
		    rep->u.fetch.errors[i][0] != '\0') {
			s->msg = strdup(rep->u.fetch.errors[i]);
		}
		if (rep->u.fetch.values != NULL) {
			s->res = rep->u.fetch.values[i];
		} else if (r->square) {
			int64_t v = 0; // little-endian, as the host
			if (len == 8) {
				memcpy(&v, item, 8); // the width-8 column
			} else if (item != NULL) {
				memcpy(&v, item, len < 8 ? len : 8);
			}
			s->res = v;
		} else if (len > 0 && (s->result = malloc(len)) != NULL) {
			memcpy(s->result, item, len);
			s->rlen = (uint32_t) len;
			add_held(r, (int64_t) len);
		}
		// Release: the submitter reads done (batch_answered) and
		// then the slot; this thread is the only writer.
		atomic_store_explicit(&s->done, true, memory_order_release);
		news++;
	}
	return (news);
}

struct tally {
	uint64_t printed, printed_ids, ok, failed, sum;
	uint64_t received; // results taken (each task's first)
};

// print_summary prints --summary's one line in the output format: text
// (key=value pairs), csv (a header line and a row) or jsonl (an object).
static void
print_summary(const struct tally *t, uint64_t refused, double secs)
{
	double rate = secs > 0 ? (double) t->printed_ids / secs : 0.0;

	switch (out_format) {
	case FMT_JSONL:
		printf("{\"tasks\":%" PRIu64 ",\"ok\":%" PRIu64
		       ",\"failed\":%" PRIu64 ",\"refused\":%" PRIu64
		       ",\"sum\":%" PRIu64
		       ",\"seconds\":%.3f,\"rate\":%.0f}\n",
		    t->printed_ids, t->ok, t->failed, refused, t->sum, secs,
		    rate);
		return;
	case FMT_CSV:
		printf("tasks,ok,failed,refused,sum,seconds,rate\n%" PRIu64
		       ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
		       ",%.3f,%.0f\n",
		    t->printed_ids, t->ok, t->failed, refused, t->sum, secs,
		    rate);
		return;
	default:
		printf("tasks=%" PRIu64 " ok=%" PRIu64 " failed=%" PRIu64
		       " sum=%" PRIu64 " seconds=%.3f rate=%.0f",
		    t->printed_ids, t->ok, t->failed, t->sum, secs, rate);
		if (refused > 0) {
			printf(" refused=%" PRIu64, refused);
		}
		printf("\n");
	}
}

// Prints the complete prefix of the window.
static void
print_ready(struct run *r, struct out *o, struct tally *t)
{
	uint64_t nread = atomic_load(&r->nread);

	while (t->printed < nread) {
		struct slot *s = slot_at(r, t->printed);
		if (s->refused) {
			if (!sopt.summary) {
				out_refused(o, t->printed, s, r->square);
			}
		} else if (!atomic_load_explicit(
		               &s->done, memory_order_relaxed)) {
			break; // done is this thread's own write
		} else {
			if (s->code == 0) {
				t->ok++;
				t->sum += (uint64_t) s->res;
			} else {
				t->failed++;
			}
			if (sopt.summary) {
				// counted only
			} else if (r->square) {
				out_line(
				    o, s->in, s->res, s->code, slot_error(s));
			} else {
				out_result(o, t->printed, s);
			}
			if (!r->square && s->result != NULL) {
				add_held(r, -(int64_t) s->rlen);
				free(s->result);
				s->result = NULL;
			}
			if (s->msg != NULL) {
				free(s->msg);
				s->msg = NULL;
			}
			t->printed_ids++;
		}
		t->printed++;
	}
	atomic_store(&r->printed, t->printed);
}

// Says once on stderr that no worker serves the job's queue and type,
// when the server has said so for --no-worker-warn.
static void
no_worker_note(bool no_worker, uint32_t workers, nng_time *since, bool *said)
{
	nng_time now = nng_clock();

	if (!no_worker) {
		*since = 0;
		if (*said) {
			tasq_info("a worker for queue %s, type %s has come",
			    sopt.queue, sopt.type);
		}
		*said = false;
		return;
	}
	if (*since == 0) {
		*since = now;
	}
	if (!*said && now - *since >= sopt.no_worker_ms) {
		fprintf(stderr,
		    "tasq: no worker serves queue %s, type %s (%" PRIu32
		    " worker%s connected, none for it); waiting for one%s\n",
		    sopt.queue, sopt.type, workers, workers == 1 ? "" : "s",
		    sopt.timeout_ms ? "" : " (--timeout to give up)");
		*said = true;
	}
}

// SIGINT or SIGTERM of an attached submit (the main loop looks at it
// between fetches, at most --poll-wait apart): the job is cancelled.
static volatile sig_atomic_t interrupted;

static void
on_interrupt(int sig)
{
	interrupted = sig;
}

// Ends job_id at the server with CloseJob (its queued tasks and results
// dropped). Returns the call's error (0: closed or already gone), with
// *dropped.
static int
close_job(tasq_client *c, uint64_t job_id, uint64_t ack, uint64_t *dropped,
    char *err, size_t errlen)
{
	tasq_req req;
	tasq_rep rep;
	int      rv;

	*dropped = 0;
	memset(&req, 0, sizeof(req));
	req.method              = TASQ_M_CLOSE_JOB;
	req.u.close_job.job_id  = job_id;
	req.u.close_job.ack_seq = ack;
	if ((rv = tasq_chan_call(c->chan, &req, (uint32_t) c->timeout_ms, &rep,
	         err, errlen)) == 0) {
		*dropped = rep.u.close_job.dropped;
		tasq_wire_rep_fini(&rep);
	}
	return (rv == TASQ_ENOT_FOUND ? 0 : rv);
}

// Cancels job_id at the server and says so: Cancel (PROTOCOL.md 9.15)
// drops its queued tasks and stops the workers running its tasks, then
// CloseJob drops the job (nothing of it stays behind). A server older
// than Cancel (UNIMPLEMENTED) gets CloseJob alone: its queued tasks and
// results go, tasks on lease run to their end (their results are
// refused). Returns the exit code of a signal's death, 128 + sig.
static int
cancel_job(tasq_client *c, uint64_t job_id, uint64_t ack, int sig)
{
	const char *how = sig == SIGINT ? "interrupted" : "terminated";
	tasq_req    req;
	tasq_rep    rep;
	char        err[512], err2[512];
	uint64_t    dropped;
	int         rv;

	memset(&req, 0, sizeof(req));
	req.method          = TASQ_M_CANCEL;
	req.u.cancel.job_id = job_id;
	rv                  = tasq_chan_call(
	                     c->chan, &req, (uint32_t) c->timeout_ms, &rep, err, sizeof(err));
	if (rv == 0) {
		fprintf(stderr,
		    "tasq: %s: job %016" PRIx64 " cancelled (%" PRIu64
		    " queued tasks dropped, %" PRIu32
		    " running tasks told to stop)\n",
		    how, job_id, rep.u.cancel.dropped, rep.u.cancel.running);
		tasq_wire_rep_fini(&rep);
	} else if (rv != TASQ_EUNIMPLEMENTED &&
	    rv != TASQ_EFAILED_PRECONDITION) {
		fprintf(stderr,
		    "tasq: %s: job %016" PRIx64 " not cancelled (%s); "
		    "closing it\n",
		    how, job_id, err);
	}
	if (close_job(c, job_id, ack, &dropped, err2, sizeof(err2)) != 0) {
		fprintf(stderr,
		    "tasq: %s: job %016" PRIx64 " not closed (%s): the "
		    "server drops it after its --job-ttl\n",
		    how, job_id, err2);
	} else if (rv == TASQ_EUNIMPLEMENTED) {
		fprintf(stderr,
		    "tasq: %s: job %016" PRIx64 " closed (%" PRIu64
		    " tasks or results dropped); the server is older than "
		    "cancel: tasks already running finish\n",
		    how, job_id, dropped);
	} else if (rv == TASQ_EFAILED_PRECONDITION) {
		fprintf(stderr,
		    "tasq: %s: job %016" PRIx64 " was done; closed (%" PRIu64
		    " results not printed)\n",
		    how, job_id, dropped);
	}
	return (128 + sig);
}

static int end_input(struct run *r, uint64_t nids);

// --detach: the submitter sends every batch (with Submit); here, slots
// are let go as their batches are accepted, and once the input has ended
// and every batch is in, a request with last ends the job's input
// (SubmitRequest.last: its reply comes after the journal has it). Then
// the job id is printed. Returns an exit code.
static int
detach_run(struct run *r)
{
	uint64_t nids;
	int      rv;

	for (;;) {
		uint64_t sub = atomic_load(&r->submitted);
		nids         = atomic_load(&r->nids);
		bool eof     = atomic_load(&r->eof);
		if (atomic_load(&r->failed) != 0) {
			fprintf(stderr, "tasq: %s\n", r->err);
			return (atomic_load(&r->failed));
		}
		if (past_deadline(r)) {
			fprintf(stderr, "tasq: timed out submitting\n");
			return (TASQ_EXIT_FAIL);
		}
		// Positions before the first task not yet accepted are done
		// with: the submitter may reuse their slots.
		atomic_store(&r->printed,
		    sub < nids ? r->idpos[sub & r->mask]
		               : atomic_load(&r->nread));
		if (eof && sub == nids) {
			break;
		}
		nng_msleep(2);
	}
	if ((rv = end_input(r, nids)) != 0) {
		return (rv);
	}
	if (out_format == FMT_JSONL) {
		printf("{\"job\":\"%016" PRIx64 "\",\"submitted\":%" PRIu64
		       "}\n",
		    r->job_id, nids);
	} else {
		printf("%016" PRIx64 "\n", r->job_id);
	}
	fflush(stdout);
	if (r->refused > 0) {
		fprintf(stderr,
		    "tasq: %" PRIu64 " input items were refused and not "
		    "submitted\n",
		    r->refused);
		return (TASQ_EXIT_USAGE);
	}
	return (TASQ_EXIT_OK);
}

// Ends the input of detached job r->job_id at nids tasks: a request with
// last and no task (its reply comes after the journal has it). Returns 0
// or an exit code (the message printed).
static int
end_input(struct run *r, uint64_t nids)
{
	tasq_req req;
	tasq_rep rep;
	char     err[512];
	uint32_t backoff = 0;
	int      rv;

	memset(&req, 0, sizeof(req));
	req.method                  = TASQ_M_SUBMIT;
	req.u.submit.queue          = sopt.queue;
	req.u.submit.job_id         = r->job_id;
	req.u.submit.first_index    = nids;
	req.u.submit.n              = 0;
	req.u.submit.type           = sopt.type;
	req.u.submit.payloads.width = r->square ? 8 : 0;
	req.u.submit.host           = host_name;
	req.u.submit.detach         = true;
	req.u.submit.result_ttl_ms  = sopt.result_ttl_ms;
	req.u.submit.last           = true;
	if (sopt.max_attempts != 0) {
		req.u.submit.has_retry          = true;
		req.u.submit.retry.max_attempts = (uint32_t) sopt.max_attempts;
	}
	for (;;) {
		rv = tasq_chan_call(r->c->chan, &req,
		    (uint32_t) r->c->timeout_ms, &rep, err, sizeof(err));
		if (rv == 0) {
			tasq_wire_rep_fini(&rep);
			break;
		}
		if (!retryable(rv, err) || past_deadline(r)) {
			fprintf(stderr,
			    "tasq: ending the job's input failed: %s%s\n", err,
			    rv == TASQ_EINVALID_ARGUMENT
			        ? " (a server older than --detach?)"
			        : "");
			return (TASQ_EXIT_FAIL);
		}
		note_retry(r, "submit", err);
		(void) tasq_chan_redial(r->c->chan);
		nng_msleep(backoff_next(&backoff));
	}
	return (0);
}

// --detach-on-interrupt, after SIGINT or SIGTERM (the submitter stopped):
// the input ends with what was submitted, the job runs on, detached, and
// its id and how to read its results are printed. Returns 128 + sig.
static int
leave_detached(struct run *r, int sig)
{
	uint64_t n = atomic_load(&r->submitted);

	if (end_input(r, n) != 0) {
		fprintf(stderr,
		    "tasq: %s: job %016" PRIx64 " left running, but its "
		    "input could not be closed: the server drops it after "
		    "its --job-ttl\n",
		    sig == SIGINT ? "interrupted" : "terminated", r->job_id);
		return (128 + sig);
	}
	fprintf(stderr,
	    "tasq: %s: job %016" PRIx64
	    " left running, detached, with %" PRIu64
	    " task%s; its results (all of them, in input order): tasq "
	    "results --wait %016" PRIx64
	    " (kept for the result TTL once it is done)\n",
	    sig == SIGINT ? "interrupted" : "terminated", r->job_id, n,
	    n == 1 ? "" : "s", r->job_id);
	return (128 + sig);
}

int
tasq_cmd_submit(tasq_client *c, int argc, char **argv)
{
	const tasq_opt *const tables[] = { submit_opts, NULL };
	struct run            r;
	struct feed           f;
	struct out            o    = { 0 };
	struct tally          t    = { 0 };
	char                **args = NULL;
	int                   nargs, rv, fd = -1;
	nng_thread           *thr          = NULL;
	unsigned              fetch_fails  = 0;
	uint32_t              full_backoff = 0;
	uint64_t              ack          = 0;
	nng_time              nw_since     = 0;
	bool                  nw_said      = false;
	bool                  carried      = false;
	uint64_t              gone_at      = 0; // see NOT_FOUND below
	uint64_t              rfrom        = 0; // Results: the next id
	struct timespec       t0, t1;

	memset(&r, 0, sizeof(r));
	memset(&f, 0, sizeof(f));
	argc = take_null_flag(argc, argv);
	if ((rv = tasq_client_parse(
	         submit_opts, usage, argc, argv, &args, &nargs)) >= 0) {
		goto out;
	}
	if (!tasq_wire_valid_name(sopt.queue)) {
		fprintf(stderr,
		    "tasq: --queue must be 1-64 characters of "
		    "[A-Za-z0-9._-]\n");
		rv = TASQ_EXIT_USAGE;
		goto out;
	}
	if (!tasq_wire_valid_name(sopt.type)) {
		fprintf(stderr,
		    "tasq: --type must be 1-64 characters of "
		    "[A-Za-z0-9._-]\n");
		rv = TASQ_EXIT_USAGE;
		goto out;
	}
	if (sopt.detach && sopt.detach_on_int) {
		fprintf(stderr,
		    "tasq: --detach-on-interrupt is for an attached submit; "
		    "--detach leaves the job at once\n");
		rv = TASQ_EXIT_USAGE;
		goto out;
	}
	r.square = strcmp(sopt.type, TASQ_TYPE_SQUARE) == 0;
	if (gethostname(host_name, sizeof(host_name) - 1) != 0) {
		host_name[0] = '\0';
	}
	for (char *h = host_name; *h != '\0'; h++) {
		if ((unsigned char) *h < 0x20 || *h == 0x7f) {
			*h = '?';
		}
	}
	if (sopt.json && strcmp(sopt.format, "text") != 0 &&
	    strcmp(sopt.format, "jsonl") != 0) {
		fprintf(stderr, "tasq: --json and --format %s disagree\n",
		    sopt.format);
		rv = TASQ_EXIT_USAGE;
		goto out;
	}
	if (sopt.json) {
		out_format = FMT_JSONL;
	} else if (strcmp(sopt.format, "text") == 0) {
		out_format = FMT_TEXT;
	} else if (strcmp(sopt.format, "csv") == 0 && r.square) {
		out_format = FMT_CSV;
	} else if (strcmp(sopt.format, "jsonl") == 0) {
		out_format = FMT_JSONL;
	} else {
		fprintf(stderr,
		    "tasq: --format is text, jsonl or (type square) csv\n");
		rv = TASQ_EXIT_USAGE;
		goto out;
	}
	bool show = !sopt.no_progress && isatty(STDERR_FILENO);
	f.r       = &r;
	if ((rv = open_input(&f, args, nargs, &fd)) != 0) {
		goto out;
	}
	// The window: no bigger than the input when its size is known.
	r.win = (size_t) sopt.window;
	if (f.is_range && f.range_left < r.win) {
		r.win = (size_t) f.range_left;
	}
	if (f.args != NULL && (size_t) nargs < r.win) {
		r.win = (size_t) nargs;
	}
	r.mask = 1;
	while (r.mask < r.win) {
		r.mask <<= 1;
	}
	r.ring  = calloc(r.mask, sizeof(*r.ring));
	r.idpos = calloc(r.mask, sizeof(*r.idpos));
	r.mask--;
	f.vals = malloc(sopt.batch * sizeof(*f.vals));
	f.lens = malloc(sopt.batch * sizeof(*f.lens));
	o.cap  = 1 << 20;
	o.buf  = malloc(o.cap);
	if (r.ring == NULL || r.idpos == NULL || f.vals == NULL ||
	    f.lens == NULL || o.buf == NULL) {
		fprintf(stderr, "tasq: out of memory for a window of %zu\n",
		    r.win);
		rv = TASQ_EXIT_FAIL;
		goto out;
	}
	if ((rv = tasq_client_connect(c)) != 0) {
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r.c        = c;
	r.job_id   = tasq_random64();
	r.deadline = sopt.timeout_ms ? nng_clock() + sopt.timeout_ms : 0;
	if (nng_mtx_alloc(&r.emtx) != 0) {
		rv = TASQ_EXIT_FAIL;
		goto out;
	}
	if ((rv = nng_thread_create(&thr, submitter, &f)) != 0) {
		fprintf(stderr, "tasq: cannot start thread: %s\n",
		    nng_strerror(rv));
		rv = TASQ_EXIT_FAIL;
		goto out;
	}
	if (sopt.detach) {
		rv = detach_run(&r);
		goto out;
	}
	if (out_format == FMT_CSV && !sopt.summary) {
		memcpy(o.buf, "input,result,error\n", 19);
		o.len = 19;
	}
	// An attached job lives with this command: an interrupt cancels it
	// (a detached one is left to run: see detach_run).
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_interrupt;
	sigemptyset(&sa.sa_mask);
	(void) sigaction(SIGINT, &sa, NULL);
	(void) sigaction(SIGTERM, &sa, NULL);
	rv = 0;
	for (;;) {
		tasq_req req;
		tasq_rep rep;
		char     err[512];
		int      frv;
		int      one = atomic_load(&r.onetrip);

		print_ready(&r, &o, &t);
		if (o.len > 0) {
			out_flush(&o);
		}
		if (atomic_load(&r.eof) &&
		    t.printed == atomic_load(&r.nread)) {
			break;
		}
		if (atomic_load(&r.failed) != 0) {
			fprintf(stderr, "tasq: %s\n", r.err);
			rv = atomic_load(&r.failed);
			break;
		}
		if (interrupted != 0) {
			rv = -1; // cancelled below, once the submitter stopped
			break;
		}
		if (past_deadline(&r)) {
			nng_mtx_lock(r.emtx);
			fprintf(stderr,
			    "tasq: timed out with %" PRIu64
			    " results printed%s%.600s\n",
			    t.printed_ids,
			    r.last_err[0] ? "; last error: " : "", r.last_err);
			nng_mtx_unlock(r.emtx);
			rv = TASQ_EXIT_FAIL;
			break;
		}
		if (one != 1 && atomic_load(&r.submitted) <= gone_at) {
			// The job does not exist before its first batch (or,
			// on a restarted server that lost it, its next one).
			nng_msleep(1);
			continue;
		}
		if (sopt.detach_on_int) {
			// The job is detached (so that an interrupt can leave
			// it): its results come by Results, in id order.
			tasq_rep fr;
			bool     cancelled;
			memset(&req, 0, sizeof(req));
			req.method               = TASQ_M_RESULTS;
			req.u.results.job_id     = r.job_id;
			req.u.results.from_index = rfrom;
			req.u.results.max        = 65536;
			req.u.results.wait_ms = (uint32_t) sopt.poll_wait_ms;
			frv                   = tasq_chan_call(c->chan, &req,
			                      (uint32_t) (c->timeout_ms + sopt.poll_wait_ms),
			                      &rep, err, sizeof(err));
			(void) server_changed(&r);
			if (frv != 0 &&
			    (retryable(frv, err) ||
			        (frv == TASQ_ENOT_FOUND &&
			            atomic_load(&r.resent) !=
			                atomic_load(&r.resend)))) {
				// Transient, or a restarted server without the
				// job while its batches go again.
				note_retry(&r, "results", err);
				if (++fetch_fails % 3 == 0) {
					(void) tasq_chan_redial(c->chan);
				}
				nng_msleep(20);
				continue;
			}
			if (frv != 0) {
				fprintf(
				    stderr, "tasq: results failed: %s\n", err);
				rv = TASQ_EXIT_FAIL;
				break;
			}
			memset(&fr, 0, sizeof(fr));
			fr.method            = TASQ_M_FETCH;
			fr.u.fetch.n         = rep.u.results.n;
			fr.u.fetch.ids       = rep.u.results.ids;
			fr.u.fetch.codes     = rep.u.results.codes;
			fr.u.fetch.errors    = rep.u.results.errors;
			fr.u.fetch.results   = rep.u.results.results;
			fr.u.fetch.no_worker = rep.u.results.job.no_worker;
			fr.u.fetch.workers   = rep.u.results.job.workers;
			t.received += take_results(&r, &fr, t.printed_ids);
			no_worker_note(fr.u.fetch.no_worker,
			    fr.u.fetch.workers, &nw_since, &nw_said);
			rfrom     = rep.u.results.next_index;
			cancelled = rep.u.results.has_job &&
			    rep.u.results.job.state == TASQ_JOB_CANCELLED &&
			    rep.u.results.n == 0;
			tasq_wire_rep_fini(&rep);
			fetch_fails  = 0;
			full_backoff = 0;
			if (show) {
				progress((size_t) t.printed_ids,
				    (size_t) atomic_load(&r.nids), &t0, false);
			}
			if (cancelled) { // and every result it has taken
				print_ready(&r, &o, &t);
				fprintf(stderr,
				    "tasq: job %016" PRIx64 " was cancelled "
				    "(tasq cancel): %" PRIu64
				    " results printed, the rest never come\n",
				    r.job_id, t.printed_ids);
				rv = TASQ_EXIT_FAIL;
				break;
			}
			continue;
		}
		// Even with every result sent so far printed, the long-poll
		// goes on: it acknowledges the last delivery (whose results
		// the server holds, against its --max-tasks, until then) and
		// waits for the next batch's results.
		memset(&req, 0, sizeof(req));
		req.method              = TASQ_M_FETCH;
		req.u.fetch.job_id      = r.job_id;
		req.u.fetch.ack_seq     = ack;
		req.u.fetch.max_results = 65536;
		req.u.fetch.wait_ms     = (uint32_t) sopt.poll_wait_ms;
		req.u.fetch.id_runs     = true;
		if (one == 1 && !carried) {
			req.u.fetch.has_submit = true;
			req.u.fetch.submit     = r.onereq;
			if (r.square && atomic_load(&r.legacy)) {
				req.u.fetch.submit.values = r.one_vals;
			}
		}
		frv              = tasq_chan_call(c->chan, &req,
		                 (uint32_t) (c->timeout_ms + sopt.poll_wait_ms), &rep, err,
		                 sizeof(err));
		const char *what = req.u.fetch.has_submit ? "submit" : "fetch";
		(void) server_changed(&r);
		if (frv == TASQ_ENOT_FOUND && !req.u.fetch.has_submit &&
		    one != 1 && atomic_load(&r.resend) > 0 &&
		    t.received >= atomic_load(&r.submitted)) {
			// A restarted server without the job, and every result
			// of what was sent is in: nothing is to be sent again,
			// and the job comes back with the next batch.
			if (gone_at != atomic_load(&r.submitted)) {
				tasq_info("the restarted server does not have "
				          "the job; none of its results is "
				          "missing: the next batch makes it "
				          "again");
			}
			gone_at = atomic_load(&r.submitted);
			ack     = 0;
			continue;
		}
		if (frv == TASQ_ENOT_FOUND && !req.u.fetch.has_submit &&
		    (one == 1 ? atomic_load(&r.resend) > 0
		              : atomic_load(&r.resent) !=
		                atomic_load(&r.resend))) {
			// A restarted server without the job: it comes back
			// with the batches sent again (a job of one batch
			// has it or nothing, so that one is carried again
			// only now).
			note_retry(&r, what, err);
			carried = false;
			nng_msleep(20);
			continue;
		}
		if (req.u.fetch.has_submit &&
		    (frv == TASQ_ENOT_FOUND ||
		        (frv == 0 && !rep.u.fetch.has_submit))) {
			// An older server ignored the batch: the submitter
			// sends it with Submit.
			if (frv == 0) {
				tasq_wire_rep_fini(&rep);
			}
			atomic_store(&r.onetrip, 2);
			continue;
		}
		if (req.u.fetch.has_submit && legacy_fallback(&r, frv)) {
			continue; // carried again as values
		}
		if (frv == TASQ_ERESOURCE_EXHAUSTED && retryable(frv, err)) {
			// A full server: wait for room as the submitter
			// does, without redialing.
			note_retry(&r, what, err);
			nng_msleep(backoff_next(&full_backoff));
			continue;
		}
		if (frv != 0 && retryable(frv, err)) {
			note_retry(&r, what, err);
			if (++fetch_fails % 3 == 0) {
				(void) tasq_chan_redial(c->chan);
			}
			nng_msleep(20);
			continue;
		}
		if (frv == TASQ_ECANCELLED) {
			// Someone ran tasq cancel: every result it had is
			// printed (delivered before the status); it goes.
			uint64_t dropped;
			print_ready(&r, &o, &t);
			out_flush(&o);
			fprintf(stderr,
			    "tasq: job %016" PRIx64 " was cancelled (tasq "
			    "cancel): %" PRIu64
			    " results printed, the rest never come\n",
			    r.job_id, t.printed_ids);
			(void) close_job(
			    c, r.job_id, ack, &dropped, err, sizeof(err));
			rv = TASQ_EXIT_FAIL;
			break;
		}
		if (frv != 0) {
			fprintf(stderr, "tasq: %s failed: %s\n", what, err);
			rv = frv == TASQ_EINVALID_ARGUMENT &&
			        req.u.fetch.has_submit
			    ? TASQ_EXIT_USAGE
			    : TASQ_EXIT_FAIL;
			break;
		}
		carried = carried || req.u.fetch.has_submit;
		t.received += take_results(&r, &rep, t.printed_ids);
		no_worker_note(rep.u.fetch.no_worker, rep.u.fetch.workers,
		    &nw_since, &nw_said);
		fetch_fails  = 0;
		full_backoff = 0;
		if (rep.u.fetch.seq != 0) {
			ack = rep.u.fetch.seq;
		}
		tasq_wire_rep_fini(&rep);
		if (show) {
			progress((size_t) t.printed_ids,
			    (size_t) atomic_load(&r.nids), &t0, false);
		}
	}
	atomic_store(&r.stop, true);
	nng_thread_destroy(thr);
	thr = NULL;
	if (show) {
		progress(0, 0, &t0, true);
	}
	out_flush(&o);
	if (rv == -1 && atomic_load(&r.submitted) == 0 &&
	    atomic_load(&r.onetrip) == 0) {
		fprintf(stderr, "tasq: interrupted before a task was sent\n");
		rv = 128 + (int) interrupted;
	} else if (rv == -1 && sopt.detach_on_int) {
		rv = leave_detached(&r, (int) interrupted);
	} else if (rv == -1) {
		rv = cancel_job(c, r.job_id, ack, (int) interrupted);
	}
	if (rv == 0) {
		tasq_req req;
		tasq_rep rep;
		char     err[512];
		if (atomic_load(&r.nids) > 0) {
			memset(&req, 0, sizeof(req));
			req.method              = TASQ_M_CLOSE_JOB;
			req.u.close_job.job_id  = r.job_id;
			req.u.close_job.ack_seq = ack;
			if (tasq_chan_call(c->chan, &req,
			        (uint32_t) c->timeout_ms, &rep, err,
			        sizeof(err)) == 0) {
				tasq_wire_rep_fini(&rep);
			} else {
				// The server drops it after --job-ttl anyway.
				tasq_debug("close job: %s", err);
			}
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double secs = (double) (t1.tv_sec - t0.tv_sec) +
		    (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
		if (sopt.summary) {
			print_summary(&t, r.refused, secs);
		}
		rv = r.refused > 0 ? TASQ_EXIT_USAGE
		    : t.failed > 0 ? TASQ_EXIT_TASKS
		                   : TASQ_EXIT_OK;
	}
out:
	if (thr != NULL) {
		atomic_store(&r.stop, true);
		nng_thread_destroy(thr);
	}
	fflush(stdout);
	if (r.emtx != NULL) {
		nng_mtx_free(r.emtx);
	}
	for (size_t i = 0; r.ring != NULL && i <= r.mask; i++) {
		if (!r.square) {
			free(r.ring[i].payload);
			free(r.ring[i].result);
		}
		free(r.ring[i].msg);
	}
	free(r.ring);
	free(r.idpos);
	free(r.one_vals);
	free(r.one_lens);
	free(r.one_data);
	free(f.q);
	free(f.vals);
	free(f.lens);
	free(f.data);
	tasq_input_free(f.in);
	if (fd >= 0) {
		close(fd);
	}
	free(o.buf);
	free(args);
	tasq_opt_free(tables);
	return (rv);
}
