// tasq submit: send tasks as one job, collect every result exactly once,
// print them in input order.
//
// A job that fits in one batch goes in the first Fetch long-poll
// (FetchRequest.submit): its tasks and, once they are done, its results
// travel in one round trip. A larger job has a submitter thread send
// batches (each identified by its first task id, so a retried batch is
// never enqueued twice) while the main thread long-polls for results. The
// client keeps at most --window tasks outstanding. Results are acknowledged to
// the server one delivery at a time (see FetchRequest in proto/tasq.proto),
// and a bitmap drops any result seen before, so none is printed twice.
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
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
#include "log.h"

static struct {
	char    *range;
	char    *file;
	char    *queue;
	bool     summary;
	bool     no_progress;
	char    *format;
	uint64_t batch;
	uint64_t window;
	uint64_t poll_wait_ms;
	uint64_t timeout_ms;
} sopt;

static const tasq_opt submit_opts[] = {
	{ "range", 'r', TASQ_OPT_STR, NULL, NULL, "A:B",
	    "the integers A to B inclusive", &sopt.range, 0, 0, false },
	{ "file", 'f', TASQ_OPT_STR, NULL, NULL, "FILE",
	    "read integers from FILE, one per line (- for stdin)", &sopt.file,
	    0, 0, false },
	{ "queue", 'q', TASQ_OPT_STR, "TASQ_QUEUE", "default", "NAME",
	    "queue to submit to", &sopt.queue, 0, 0, false },
	{ "summary", 0, TASQ_OPT_BOOL, NULL, NULL, NULL,
	    "print one summary line instead of every result", &sopt.summary, 0,
	    0, false },
	{ "format", 0, TASQ_OPT_STR, NULL, "text", "FMT",
	    "text ('input result'), csv or jsonl", &sopt.format, 0, 0, false },
	{ "no-progress", 0, TASQ_OPT_BOOL, NULL, NULL, NULL,
	    "no progress bar (shown only when stderr is a terminal)",
	    &sopt.no_progress, 0, 0, false },
	{ "batch-size", 'b', TASQ_OPT_U64, NULL, "16384", "N",
	    "tasks per submit request", &sopt.batch, 1, 1048576, false },
	{ "window", 0, TASQ_OPT_U64, NULL, "1000000", "N",
	    "most tasks submitted but not yet answered", &sopt.window, 1,
	    1000000000, false },
	{ "poll-wait", 0, TASQ_OPT_MS, NULL, "1s", "DURATION",
	    "how long each fetch may wait at the server for results",
	    &sopt.poll_wait_ms, 10, 60000, false },
	{ "timeout", 't', TASQ_OPT_MS, NULL, "0", "DURATION",
	    "give up after this long (0: never)", &sopt.timeout_ms, 0,
	    30 * 86400000ULL, false },
	TASQ_OPT_END,
};

static const char usage[] =
    "Usage: tasq [options] submit [--range A:B | --file FILE | - | N...]\n"
    "Submits integers as tasks; prints 'input result' per task in input\n"
    "order (or 'input error: CODE text'), or one summary line.\n";

struct input {
	bool     is_range;
	int64_t  first; // range
	int64_t *vals;  // list
	size_t   n, cap;
};

static int64_t
input_at(const struct input *in, size_t i)
{
	return (
	    in->is_range ? (int64_t) ((uint64_t) in->first + i) : in->vals[i]);
}

static bool
parse_i64(const char *s, int64_t *v)
{
	char     *end;
	long long x;

	while (isspace((unsigned char) *s)) {
		s++;
	}
	if (*s == '\0') {
		return (false);
	}
	errno = 0;
	x     = strtoll(s, &end, 10);
	if (errno != 0 || end == s) {
		return (false);
	}
	while (isspace((unsigned char) *end)) {
		end++;
	}
	if (*end != '\0') {
		return (false);
	}
	*v = (int64_t) x;
	return (true);
}

static int
input_add(struct input *in, int64_t v)
{
	if (in->n == in->cap) {
		size_t   ncap = in->cap ? in->cap * 2 : 4096;
		int64_t *nv   = realloc(in->vals, ncap * sizeof(*nv));
		if (nv == NULL) {
			return (-1);
		}
		in->vals = nv;
		in->cap  = ncap;
	}
	in->vals[in->n++] = v;
	return (0);
}

static int
read_lines(struct input *in, FILE *f, const char *name)
{
	char   *line   = NULL;
	size_t  cap    = 0;
	size_t  lineno = 0;
	ssize_t len;

	while ((len = getline(&line, &cap, f)) >= 0) {
		int64_t v;
		lineno++;
		if (len > 0 && line[len - 1] == '\n') {
			line[--len] = '\0';
		}
		const char *p = line;
		while (isspace((unsigned char) *p)) {
			p++;
		}
		if (*p == '\0' || *p == '#') {
			continue;
		}
		if (!parse_i64(line, &v)) {
			fprintf(stderr,
			    "tasq: %s:%zu: '%.40s' is not a 64-bit integer\n",
			    name, lineno, line);
			free(line);
			return (TASQ_EXIT_USAGE);
		}
		if (input_add(in, v) != 0) {
			fprintf(stderr, "tasq: out of memory\n");
			free(line);
			return (TASQ_EXIT_FAIL);
		}
	}
	free(line);
	if (ferror(f)) {
		fprintf(stderr, "tasq: cannot read %s: %s\n", name,
		    strerror(errno));
		return (TASQ_EXIT_FAIL);
	}
	return (0);
}

static int
gather(struct input *in, char **args, int nargs)
{
	int sources = (sopt.range != NULL) + (sopt.file != NULL) + (nargs > 0);

	if (sources != 1) {
		fprintf(stderr,
		    "tasq: submit needs exactly one of --range A:B, "
		    "--file FILE, - (stdin) or numbers\n");
		return (TASQ_EXIT_USAGE);
	}
	if (sopt.range != NULL) {
		char    buf[64];
		char   *colon;
		int64_t a, b;
		snprintf(buf, sizeof(buf), "%s", sopt.range);
		if ((colon = strchr(buf + 1, ':')) == NULL) {
			goto bad_range;
		}
		*colon = '\0';
		if (!parse_i64(buf, &a) || !parse_i64(colon + 1, &b) ||
		    b < a || (uint64_t) b - (uint64_t) a >= (1ULL << 40)) {
			goto bad_range;
		}
		in->is_range = true;
		in->first    = a;
		in->n        = (size_t) ((uint64_t) b - (uint64_t) a) + 1;
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
		if (strcmp(name, "-") == 0) {
			return (read_lines(in, stdin, "stdin"));
		}
		FILE *f = fopen(name, "re");
		if (f == NULL) {
			fprintf(stderr, "tasq: cannot open %s: %s\n", name,
			    strerror(errno));
			return (TASQ_EXIT_USAGE);
		}
		int rv = read_lines(in, f, name);
		fclose(f);
		return (rv);
	}
	for (int i = 0; i < nargs; i++) {
		int64_t v;
		if (!parse_i64(args[i], &v)) {
			fprintf(stderr,
			    "tasq: argument %d: '%.40s' is not a 64-bit "
			    "integer\n",
			    i + 1, args[i]);
			return (TASQ_EXIT_USAGE);
		}
		if (input_add(in, v) != 0) {
			fprintf(stderr, "tasq: out of memory\n");
			return (TASQ_EXIT_FAIL);
		}
	}
	return (0);
}

struct run {
	tasq_client  *c;
	struct input *in;
	uint64_t      job_id;
	nng_time      deadline; // 0: none
	atomic_size_t submitted;
	atomic_size_t received;
	atomic_int    failed; // a fatal error in the submitter
	atomic_bool   stop;
	char          err[600];
	nng_mtx      *emtx; // guards last_err and warned_ms
	char          last_err[600];
	nng_time      warned_ms;
	// A restarted server may have lost batches the old one acknowledged
	// (--fsync batch or never, and a machine crash): see server_changed.
	atomic_uint_fast64_t server_id; // of the replies seen so far
	atomic_uint          resend;    // restarts seen
	atomic_uint          resent;    // restarts the submitter caught up
	atomic_uint         *got;       // results received, per batch
};

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

// Whether every result of the batch that starts at first is in.
static bool
batch_done(struct run *r, size_t first, size_t bs)
{
	size_t n = r->in->n - first < bs ? r->in->n - first : bs;

	return (atomic_load(&r->got[first / bs]) >= n);
}

static void
submitter(void *arg)
{
	struct run   *r  = arg;
	struct input *in = r->in;
	size_t        bs = (size_t) sopt.batch;
	int64_t      *buf;

	if ((buf = malloc(bs * sizeof(*buf))) == NULL) {
		snprintf(r->err, sizeof(r->err), "out of memory");
		atomic_store(&r->failed, TASQ_EXIT_FAIL);
		return;
	}
	// first: the next batch to send; sent: where new batches begin. The
	// thread lives until the job is done, to send again after a restart.
	size_t   first = 0, sent = 0;
	unsigned restarts = 0;
	while (!atomic_load(&r->stop)) {
		size_t   n;
		uint32_t backoff = 0, fails = 0;
		tasq_req req;
		tasq_rep rep;
		char     err[512];

		if (atomic_load(&r->resend) != restarts) {
			restarts = atomic_load(&r->resend);
			first    = 0;
		}
		while (first < sent && batch_done(r, first, bs)) {
			first += bs;
		}
		if (first >= sent) {
			atomic_store(&r->resent, restarts);
		}
		if (first >= in->n) {
			nng_msleep(5);
			continue;
		}
		n = in->n - first < bs ? in->n - first : bs;
		// Flow control: wait for results before going further ahead.
		while (first >= sent && first > atomic_load(&r->received) &&
		    first + n - atomic_load(&r->received) > sopt.window &&
		    !atomic_load(&r->stop) &&
		    atomic_load(&r->resend) == restarts) {
			nng_msleep(2);
		}
		if (atomic_load(&r->resend) != restarts) {
			continue;
		}
		for (size_t i = 0; i < n; i++) {
			buf[i] = input_at(in, first + i);
		}
		memset(&req, 0, sizeof(req));
		req.method               = TASQ_M_SUBMIT;
		req.u.submit.queue       = sopt.queue;
		req.u.submit.job_id      = r->job_id;
		req.u.submit.first_index = first;
		req.u.submit.n           = n;
		req.u.submit.values      = buf;
		for (;;) {
			int rv = tasq_chan_call(r->c->chan, &req,
			    (uint32_t) r->c->timeout_ms, &rep, err,
			    sizeof(err));
			(void) server_changed(r);
			if (rv == 0) {
				tasq_wire_rep_fini(&rep);
				break;
			}
			if (!retryable(rv, err) || past_deadline(r) ||
			    atomic_load(&r->stop)) {
				snprintf(r->err, sizeof(r->err),
				    "submit failed: %s", err);
				atomic_store(&r->failed,
				    rv == TASQ_EINVALID_ARGUMENT
				        ? TASQ_EXIT_USAGE
				        : TASQ_EXIT_FAIL);
				free(buf);
				return;
			}
			// Full server or lost connection: the same batch
			// again, after a pause that grows to half a second.
			note_retry(r, "submit", err);
			if (rv != TASQ_ERESOURCE_EXHAUSTED &&
			    ++fails % 3 == 0) {
				(void) tasq_chan_redial(r->c->chan);
			}
			nng_msleep(backoff_next(&backoff));
		}
		first += n;
		if (first > sent) {
			sent = first;
			atomic_store(&r->submitted, sent);
		}
	}
	free(buf);
}

static int
submit_by_thread(struct run *r, nng_thread **thr)
{
	int rv;

	if ((rv = nng_thread_create(thr, submitter, r)) != 0) {
		fprintf(stderr, "tasq: cannot start thread: %s\n",
		    nng_strerror(rv));
		return (TASQ_EXIT_FAIL);
	}
	return (0);
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

static void
out_line(struct out *o, int64_t in, int64_t res, uint8_t code)
{
	char *p;

	if (o->cap - o->len < 512) {
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
			p += snprintf(p, 200, "error: %s %s",
			    tasq_err_name(code), code_text(code));
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
			p += snprintf(p, 300,
			    ",\"error\":\"%s\",\"message\":\"%s\"",
			    tasq_err_name(code), code_text(code));
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

int
tasq_cmd_submit(tasq_client *c, int argc, char **argv)
{
	const tasq_opt *const tables[] = { submit_opts, NULL };
	struct input          in       = { 0 };
	struct run            r;
	struct out            o    = { 0 };
	char                **args = NULL;
	int                   nargs, rv;
	int64_t              *res     = NULL;
	uint8_t              *code    = NULL;
	uint64_t             *seen    = NULL;
	nng_thread           *thr     = NULL;
	size_t                printed = 0, ok = 0, failed = 0;
	unsigned              fetch_fails  = 0;
	uint32_t              full_backoff = 0;
	uint64_t              sum = 0, ack = 0;
	struct timespec       t0, t1;

	memset(&r, 0, sizeof(r));
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
	if (strcmp(sopt.format, "text") == 0) {
		out_format = FMT_TEXT;
	} else if (strcmp(sopt.format, "csv") == 0) {
		out_format = FMT_CSV;
	} else if (strcmp(sopt.format, "jsonl") == 0) {
		out_format = FMT_JSONL;
	} else {
		fprintf(stderr, "tasq: --format is text, csv or jsonl\n");
		rv = TASQ_EXIT_USAGE;
		goto out;
	}
	bool show = !sopt.no_progress && isatty(STDERR_FILENO);
	if ((rv = gather(&in, args, nargs)) != 0) {
		goto out;
	}
	if (in.n == 0) {
		if (sopt.summary) {
			printf("tasks=0 ok=0 failed=0 sum=0 seconds=0.000 "
			       "rate=0\n");
		}
		rv = 0;
		goto out;
	}
	res   = malloc(in.n * sizeof(*res));
	code  = calloc(in.n, 1);
	seen  = calloc((in.n + 63) / 64, sizeof(*seen));
	r.got = calloc(in.n / sopt.batch + 1, sizeof(*r.got));
	o.cap = 1 << 20;
	o.buf = malloc(o.cap);
	if (res == NULL || code == NULL || seen == NULL || o.buf == NULL ||
	    r.got == NULL) {
		fprintf(stderr, "tasq: out of memory for %zu tasks\n", in.n);
		rv = TASQ_EXIT_FAIL;
		goto out;
	}
	if ((rv = tasq_client_connect(c)) != 0) {
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r.c        = c;
	r.in       = &in;
	r.job_id   = tasq_random64();
	r.deadline = sopt.timeout_ms ? nng_clock() + sopt.timeout_ms : 0;
	atomic_init(&r.submitted, 0);
	atomic_init(&r.received, 0);
	atomic_init(&r.failed, 0);
	atomic_init(&r.stop, false);
	atomic_init(&r.server_id, 0);
	atomic_init(&r.resend, 0);
	atomic_init(&r.resent, 0);
	if (nng_mtx_alloc(&r.emtx) != 0) {
		rv = TASQ_EXIT_FAIL;
		goto out;
	}
	// One batch: it travels in the first Fetch (sent again as it is
	// until one is answered), and no thread is needed.
	bool     one_trip = in.n <= sopt.batch;
	bool     carried  = false;
	int64_t *tasks    = NULL;
	if (one_trip) {
		if ((tasks = in.is_range ? malloc(in.n * sizeof(*tasks))
		                         : in.vals) == NULL) {
			fprintf(stderr, "tasq: out of memory\n");
			rv = TASQ_EXIT_FAIL;
			goto out;
		}
		for (size_t i = 0; in.is_range && i < in.n; i++) {
			tasks[i] = input_at(&in, i);
		}
	} else if ((rv = submit_by_thread(&r, &thr)) != 0) {
		goto out;
	}
	if (out_format == FMT_CSV && !sopt.summary) {
		memcpy(o.buf, "input,result,error\n", 19);
		o.len = 19;
	}
	rv              = 0;
	size_t received = 0;
	while (received < in.n) {
		tasq_req req;
		tasq_rep rep;
		char     err[512];
		int      frv;

		if (atomic_load(&r.failed) != 0) {
			fprintf(stderr, "tasq: %s\n", r.err);
			rv = atomic_load(&r.failed);
			break;
		}
		if (past_deadline(&r)) {
			nng_mtx_lock(r.emtx);
			fprintf(stderr,
			    "tasq: timed out with %zu of %zu "
			    "results%s%.600s\n",
			    received, in.n,
			    r.last_err[0] ? "; last error: " : "", r.last_err);
			nng_mtx_unlock(r.emtx);
			rv = TASQ_EXIT_FAIL;
			break;
		}
		if (!one_trip && atomic_load(&r.submitted) == 0) {
			// The job does not exist before its first batch.
			nng_msleep(1);
			continue;
		}
		memset(&req, 0, sizeof(req));
		req.method              = TASQ_M_FETCH;
		req.u.fetch.job_id      = r.job_id;
		req.u.fetch.ack_seq     = ack;
		req.u.fetch.max_results = 65536;
		req.u.fetch.wait_ms     = (uint32_t) sopt.poll_wait_ms;
		if (one_trip && !carried) {
			req.u.fetch.has_submit         = true;
			req.u.fetch.submit.queue       = sopt.queue;
			req.u.fetch.submit.job_id      = r.job_id;
			req.u.fetch.submit.first_index = 0;
			req.u.fetch.submit.n           = in.n;
			req.u.fetch.submit.values      = tasks;
		}
		frv              = tasq_chan_call(c->chan, &req,
		                 (uint32_t) (c->timeout_ms + sopt.poll_wait_ms), &rep, err,
		                 sizeof(err));
		const char *what = req.u.fetch.has_submit ? "submit" : "fetch";
		(void) server_changed(&r);
		if (frv == TASQ_ENOT_FOUND && !req.u.fetch.has_submit &&
		    (one_trip ? atomic_load(&r.resend) > 0
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
			// An older server ignored the batch: Submit it.
			if (frv == 0) {
				tasq_wire_rep_fini(&rep);
			}
			if ((rv = submit_by_thread(&r, &thr)) != 0) {
				break;
			}
			one_trip = false;
			continue;
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
		if (frv != 0) {
			fprintf(stderr, "tasq: %s failed: %s\n", what, err);
			rv = frv == TASQ_EINVALID_ARGUMENT &&
			        req.u.fetch.has_submit
			    ? TASQ_EXIT_USAGE
			    : TASQ_EXIT_FAIL;
			break;
		}
		carried = carried || req.u.fetch.has_submit;
		for (size_t i = 0; i < rep.u.fetch.n; i++) {
			uint64_t id = rep.u.fetch.ids[i];
			if (id >= in.n || (seen[id / 64] >> (id % 64)) & 1) {
				continue; // not ours, or seen already
			}
			seen[id / 64] |= 1ULL << (id % 64);
			atomic_fetch_add(&r.got[id / sopt.batch], 1);
			res[id]  = rep.u.fetch.values[i];
			code[id] = rep.u.fetch.codes
			    ? (uint8_t) rep.u.fetch.codes[i]
			    : 0;
			received++;
		}
		fetch_fails  = 0;
		full_backoff = 0;
		if (rep.u.fetch.seq != 0) {
			ack = rep.u.fetch.seq;
		}
		tasq_wire_rep_fini(&rep);
		atomic_store(&r.received, received);
		if (show) {
			progress(received, in.n, &t0, false);
		}
		// Print the prefix that is complete.
		while (printed < in.n &&
		    ((seen[printed / 64] >> (printed % 64)) & 1)) {
			if (code[printed] == 0) {
				ok++;
				sum += (uint64_t) res[printed];
			} else {
				failed++;
			}
			if (!sopt.summary) {
				out_line(&o, input_at(&in, printed),
				    res[printed], code[printed]);
			}
			printed++;
		}
	}
	atomic_store(&r.stop, true);
	if (thr != NULL) {
		nng_thread_destroy(thr);
		thr = NULL;
	}
	if (tasks != in.vals) {
		free(tasks);
	}
	tasks = NULL;
	if (show) {
		progress(received, in.n, &t0, true);
	}
	out_flush(&o);
	if (rv == 0) {
		tasq_req req;
		tasq_rep rep;
		char     err[512];
		memset(&req, 0, sizeof(req));
		req.method              = TASQ_M_CLOSE_JOB;
		req.u.close_job.job_id  = r.job_id;
		req.u.close_job.ack_seq = ack;
		if (tasq_chan_call(c->chan, &req, (uint32_t) c->timeout_ms,
		        &rep, err, sizeof(err)) == 0) {
			tasq_wire_rep_fini(&rep);
		} else {
			// The server drops it after --job-ttl anyway.
			tasq_debug("close job: %s", err);
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double secs = (double) (t1.tv_sec - t0.tv_sec) +
		    (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
		if (sopt.summary) {
			printf("tasks=%zu ok=%zu failed=%zu sum=%" PRIu64
			       " seconds=%.3f rate=%.0f\n",
			    in.n, ok, failed, sum, secs,
			    secs > 0 ? (double) in.n / secs : 0.0);
		}
		rv = failed > 0 ? TASQ_EXIT_TASKS : TASQ_EXIT_OK;
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
	free(o.buf);
	free(res);
	free(code);
	free(seen);
	free(r.got);
	free(in.vals);
	free(args);
	tasq_opt_free(tables);
	return (rv);
}
