// tasq submit: send tasks as one job, collect every result exactly once,
// print them in input order; a program over libtasq's job API
// (<tasq/tasq.h>, docs/LIBRARY.md), which does the protocol: batches,
// retries, resending after a server restart, the one-round-trip Fetch
// for a job that fits in one batch, the fallback for servers from before
// typed tasks, exactly-once results in input order.
//
// The input is a stream. A reader thread reads it (arguments, --range,
// --file or stdin, one item per line or NUL-separated), parses it and
// adds the tasks to the job in bursts (tasq_job_add_column for square,
// tasq_job_add_many for other types), waiting while the window is full;
// the library cuts batches by count, bytes and --linger. The main
// thread takes results many at a time (tasq_job_next_many) and prints
// them in input order. So memory is bounded by the window, however long
// the input.
//
// An item that cannot be a task (not an integer for type square, over
// 1 MiB) is not sent: it is printed in its place as an INVALID_ARGUMENT
// error naming its line, and tasq exits 2 at the end.
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "input.h"
#include "log.h"

#include <tasq/tasq.h>

#define TYPE_SQUARE "square"
#define MAX_PAYLOAD ((size_t) 1 << 20) // the library's limit per payload
#define MAX_PRIORITY 100
#define MAX_CHUNK 65536 // tasks added, or results taken, per call

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

static const tasq_opt submit_opts[] = {
	{ "type", 'T', TASQ_OPT_STR, NULL, TYPE_SQUARE, "NAME",
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
	    &sopt.priority, 1, MAX_PRIORITY, false },
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

static const char usage[] =
    "Usage: tasq [options] submit [--type NAME] [-0]\n"
    "                   [--range A:B | --file FILE | - | PAYLOAD...]\n"
    "Submits tasks (for type square: integers) read as a stream; prints\n"
    "one result per task in input order ('input result' or 'input error:\n"
    "CODE text' for square, the result for other types), or one summary\n"
    "line. -0 (--null): items end with NUL instead of newline.\n";

// Square payloads and results are int64 arrays sent as they are: the
// wire's width-8 column is little-endian.
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
    "tasq submit sends int64 arrays as little-endian payloads");

// An input item refused before it became a task: printed in its place,
// before the result of task `before` (the tasks added before it).
struct refusal {
	uint64_t before;
	char    *msg; // "where\0why" (NULL: out of memory)
};

// What the reader and the main thread share. The reader writes a task's
// input (square) or payload length (other types) into the ring before it
// adds the task; the main thread reads it after the task's result came,
// which the job's lock orders.
struct run {
	tasq_session *s;
	tasq_job     *job;
	bool          square;
	uint64_t      deadline; // ms, monotonic; 0: none
	// The input (the reader's).
	tasq_input *in;   // --file or stdin; NULL for range and arguments
	const char *name; // of the input, for messages
	char      **args; // PAYLOAD arguments
	int         nargs, argi;
	bool        is_range;
	int64_t     range_first, range_next;
	uint64_t    range_left;
	int         warned; // refused items reported on stderr
	// The ring: task i's input (square from a file or arguments) or
	// payload length (other types) at [i & mask].
	int64_t  *inputs;
	uint32_t *plens;
	uint64_t  mask;
	size_t    win;
	// Under mu.
	pthread_mutex_t mu;
	pthread_cond_t  cv;
	struct refusal *refq; // refq[rhead .. rlen - 1]: not yet printed
	size_t          rhead, rlen, rcap;
	uint64_t        added;      // tasks added
	uint64_t        refused;    // items refused
	uint64_t        held_bytes; // payload bytes of tasks not printed
	bool            done;       // the reader ended
	int             failed;     // the reader's exit code, 0: none
	char            err[600];
	atomic_bool     stop;
	uint64_t        rprinted; // refusals printed (the main thread's)
	// event_cb's own (one call at a time).
	uint64_t warned_ms, nw_since;
	bool     nw_said;
};

static uint64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000);
}

static bool
valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64) {
		return (false);
	}
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		        c == '-')) {
			return (false);
		}
	}
	return (true);
}

// The name of a task's wire code (0: "OK").
static const char *
errname(int code)
{
	return (code == 0 ? "OK" : tasq_errname(TASQ_ERR_BASE + code));
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
		return (tasq_errstr(TASQ_ERR_BASE + code));
	}
}

// What the library meets, on stderr: retries at most every five seconds
// (a client that waits must say what for), restarts and the fallback for
// an old server as they come, and once that no worker serves the job's
// queue and type when the server has said so for --no-worker-warn.
static void
event_cb(void *arg, int event, const char *msg)
{
	struct run *r   = arg;
	uint64_t    now = now_ms();

	switch (event) {
	case TASQ_JOB_EVENT_RETRY:
		if (r->warned_ms == 0 || now >= r->warned_ms + 5000) {
			r->warned_ms = now;
			tasq_warn("%s; retrying", msg);
		}
		break;
	case TASQ_JOB_EVENT_NO_WORKER:
		if (r->nw_since == 0) {
			r->nw_since = now;
		}
		if (!r->nw_said && now - r->nw_since >= sopt.no_worker_ms) {
			fprintf(stderr, "tasq: %s; waiting for one%s\n", msg,
			    sopt.timeout_ms ? "" : " (--timeout to give up)");
			r->nw_said = true;
		}
		break;
	case TASQ_JOB_EVENT_WORKER:
		if (r->nw_said) {
			tasq_info("%s", msg);
		}
		r->nw_since = 0;
		r->nw_said  = false;
		break;
	default:
		tasq_info("%s", msg);
		break;
	}
}

// Describes a refused item: "where\0why", why being msg, and s (len
// bytes, shown up to 40 characters) in quotes when s is not NULL.
static char *
refusal(
    struct run *r, uint64_t itemno, const char *msg, const char *s, size_t len)
{
	char   where[300], why[300], shown[44];
	size_t k = 0;
	char  *out;

	for (size_t i = 0; s != NULL && i < len && k < 40; i++) {
		unsigned char ch = (unsigned char) s[i];
		shown[k++]       = ch < 0x20 || ch == 0x7f ? '?' : (char) ch;
	}
	shown[k] = '\0';
	if (r->args != NULL) {
		snprintf(where, sizeof(where), "argument %" PRIu64, itemno);
	} else {
		snprintf(where, sizeof(where), "%s:%" PRIu64, r->name, itemno);
	}
	if (s != NULL) {
		snprintf(why, sizeof(why), "'%s' %s", shown, msg);
	} else {
		snprintf(why, sizeof(why), "%s", msg);
	}
	if (r->warned++ < 20) {
		fprintf(stderr, "tasq: %s: %s\n", where, why);
	} else if (r->warned == 21) {
		fprintf(stderr, "tasq: more input refused: see the output\n");
	}
	k = strlen(where);
	if ((out = malloc(k + strlen(why) + 2)) != NULL) {
		memcpy(out, where, k + 1);
		memcpy(out + k + 1, why, strlen(why) + 1);
	}
	return (out);
}

// Queues a refusal before task `before`. r->mu held.
static int
push_refusal(struct run *r, uint64_t before, char *msg)
{
	if (r->rhead > 0 && r->rlen == r->rcap) {
		memmove(r->refq, r->refq + r->rhead,
		    (r->rlen - r->rhead) * sizeof(*r->refq));
		r->rlen -= r->rhead;
		r->rhead = 0;
	}
	if (r->rlen == r->rcap) {
		size_t          nc = r->rcap ? r->rcap * 2 : 16;
		struct refusal *nq = realloc(r->refq, nc * sizeof(*nq));
		if (nq == NULL) {
			free(msg);
			return (-1);
		}
		r->refq = nq;
		r->rcap = nc;
	}
	r->refq[r->rlen].before = before;
	r->refq[r->rlen].msg    = msg;
	r->rlen++;
	r->refused++;
	return (0);
}

// A burst of tasks read, to add at once.
struct chunk {
	int64_t     *vals; // square
	const void **ptrs; // other types: payloads (malloc'd copies)
	size_t      *lens;
	size_t       n, bytes;
};

static void
chunk_clear(struct chunk *ch)
{
	for (size_t i = 0; ch->ptrs != NULL && i < ch->n; i++) {
		free((void *) ch->ptrs[i]);
	}
	ch->n     = 0;
	ch->bytes = 0;
}

// Reads the next item into the chunk. Returns 1 when a task or a
// refusal was read, 0 when nothing came within timeout_ms, -1 at the end
// of the input, -2 on a read error, -3 out of memory.
static int
read_item(struct run *r, struct chunk *ch, int timeout_ms)
{
	const char *item;
	size_t      len;
	uint64_t    itemno;
	int         kind;

	for (;;) {
		if (r->args != NULL) {
			if (r->argi >= r->nargs) {
				return (-1);
			}
			item   = r->args[r->argi++];
			len    = strlen(item);
			itemno = (uint64_t) r->argi;
			kind   = len > MAX_PAYLOAD ? TASQ_INPUT_TOOLONG
			                           : TASQ_INPUT_ITEM;
		} else {
			kind = tasq_input_next(
			    r->in, timeout_ms, &item, &len, &itemno);
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
		char *why = NULL;
		if (kind == TASQ_INPUT_TOOLONG) {
			why = refusal(r, itemno,
			    r->square ? "is longer than any 64-bit integer"
			              : "is longer than 1 MiB",
			    NULL, 0);
		} else if (!r->square) {
			void *p = malloc(len > 0 ? len : 1);
			if (p == NULL) {
				return (-3);
			}
			memcpy(p, item, len);
			ch->ptrs[ch->n] = p;
			ch->lens[ch->n] = len;
			ch->n++;
			ch->bytes += len;
			return (1);
		} else {
			// Square skips blank lines and comments (not
			// arguments).
			if (r->args == NULL) {
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
			if (tasq_input_parse_i64(
			        item, len, &ch->vals[ch->n])) {
				ch->n++;
				ch->bytes += 8;
				return (1);
			}
			why = refusal(
			    r, itemno, "is not a 64-bit integer", item, len);
		}
		pthread_mutex_lock(&r->mu);
		int rv = push_refusal(r, r->added + ch->n, why);
		pthread_cond_broadcast(&r->cv);
		pthread_mutex_unlock(&r->mu);
		return (rv < 0 ? -3 : 1);
	}
}

// Adds the chunk's tasks to the job. Returns 0, or the library's error.
static int
add_chunk(struct run *r, struct chunk *ch)
{
	uint64_t first;
	int      rv;

	if (ch->n == 0) {
		return (0);
	}
	pthread_mutex_lock(&r->mu);
	first = r->added;
	// --window-bytes: payloads held until their results are printed.
	while (!r->square && r->held_bytes > 0 &&
	    r->held_bytes + ch->bytes > sopt.window_bytes &&
	    !atomic_load(&r->stop)) {
		pthread_cond_wait(&r->cv, &r->mu);
	}
	r->held_bytes += r->square ? 0 : ch->bytes;
	pthread_mutex_unlock(&r->mu);
	for (size_t i = 0; i < ch->n; i++) {
		if (r->inputs != NULL) {
			r->inputs[(first + i) & r->mask] = ch->vals[i];
		} else if (r->plens != NULL) {
			r->plens[(first + i) & r->mask] =
			    (uint32_t) ch->lens[i];
		}
	}
	if (r->square) {
		rv = tasq_job_add_column(r->job, ch->vals, 8, ch->n);
	} else {
		rv = tasq_job_add_many(r->job, ch->ptrs, ch->lens, ch->n);
	}
	pthread_mutex_lock(&r->mu);
	if (rv == 0) {
		r->added += ch->n;
	}
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	chunk_clear(ch);
	return (rv);
}

static void
reader_end(struct run *r, int failed, const char *msg)
{
	pthread_mutex_lock(&r->mu);
	if (failed != 0 && r->failed == 0) {
		r->failed = failed;
		snprintf(r->err, sizeof(r->err), "%s", msg);
	}
	r->done = true;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

// The reader: reads bursts of the input and adds them, then finishes the
// job's input.
static void *
reader_main(void *arg)
{
	struct run  *r = arg;
	struct chunk ch;
	int          rv = 0;

	memset(&ch, 0, sizeof(ch));
	ch.vals = malloc(MAX_CHUNK * sizeof(*ch.vals));
	if (!r->square) {
		ch.ptrs = malloc(MAX_CHUNK * sizeof(*ch.ptrs));
		ch.lens = malloc(MAX_CHUNK * sizeof(*ch.lens));
	}
	if (ch.vals == NULL ||
	    (!r->square && (ch.ptrs == NULL || ch.lens == NULL))) {
		reader_end(r, TASQ_EXIT_FAIL, "out of memory");
		goto out;
	}
	while (!atomic_load(&r->stop)) {
		if (r->is_range) {
			// A range fills its chunk in a tight loop: nothing to
			// parse, nothing refused.
			size_t k = r->range_left < MAX_CHUNK ? r->range_left
			                                     : MAX_CHUNK;
			if (k == 0) {
				break;
			}
			for (size_t i = 0; i < k; i++) {
				ch.vals[i] = r->range_next;
				r->range_next =
				    (int64_t) ((uint64_t) r->range_next + 1);
			}
			ch.n = k;
			r->range_left -= k;
			if ((rv = add_chunk(r, &ch)) != 0) {
				break;
			}
			continue;
		}
		// A burst: what the input has ready, up to a chunk (and a
		// batch's bytes), the first item waited for a while.
		int got = 0, ri = 1;
		while (ch.n < MAX_CHUNK && ch.bytes < sopt.batch_bytes &&
		    !atomic_load(&r->stop)) {
			ri = read_item(r, &ch, got == 0 ? 100 : 0);
			if (ri != 1) {
				break;
			}
			got++;
		}
		if (ri < -1) {
			char msg[600];
			snprintf(msg, sizeof(msg), "%s: %s", r->name,
			    ri == -2 ? strerror(errno) : "out of memory");
			reader_end(r, TASQ_EXIT_FAIL, msg);
			chunk_clear(&ch);
			goto out;
		}
		if ((rv = add_chunk(r, &ch)) != 0) {
			break;
		}
		if (ri == -1) {
			break;
		}
	}
	if (rv != 0) {
		// The job ended (its error comes to the main thread from
		// tasq_job_next_many), or was cancelled or left.
		reader_end(r, 0, "");
		goto out;
	}
	if (!atomic_load(&r->stop)) {
		(void) tasq_job_finish(r->job);
	}
	reader_end(r, 0, "");
out:
	chunk_clear(&ch);
	free(ch.vals);
	free(ch.ptrs);
	free(ch.lens);
	return (NULL);
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
			k = snprintf(
			    p, 1200, "error: %s %.1024s", errname(code), msg);
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
			p += snprintf(p, 200, ",%s", errname(code));
		}
		break;
	default:
		memcpy(p, "{\"input\":", 9);
		p = fmt_i64(p + 9, in);
		if (code == 0) {
			memcpy(p, ",\"result\":", 10);
			p = fmt_i64(p + 10, res);
		} else {
			k      = snprintf(p, 200,
			         ",\"error\":\"%s\",\"message\":", errname(code));
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

// An item refused before submission, in its place in the output.
static void
out_refused(struct out *o, uint64_t index, const char *msg, bool square)
{
	const char *where = msg != NULL ? msg : "input";
	const char *why =
	    msg != NULL ? msg + strlen(msg) + 1 : "out of memory";
	char line[800];
	int  k;
	int  code = TASQ_EINVALID_ARGUMENT - TASQ_ERR_BASE;

	if (out_format == FMT_JSONL) {
		char text[700];
		k = snprintf(line, sizeof(line),
		    square ? "{\"input\":" : "{\"index\":%" PRIu64 ",", index);
		if (!square) {
			k += snprintf(line + k, sizeof(line) - (size_t) k,
			    "\"code\":\"%s\",\"error\":", errname(code));
		}
		out_bytes(o, line, (size_t) k);
		snprintf(text, sizeof(text), "%s: %s", where, why);
		if (square) {
			out_json_str(o, where, strlen(where));
			k = snprintf(line, sizeof(line),
			    ",\"error\":\"%s\",\"message\":", errname(code));
			out_bytes(o, line, (size_t) k);
		}
		out_json_str(o, text, strlen(text));
		{
			const char *end =
			    square ? "}\n" : ",\"result\":\"\"}\n";
			out_bytes(o, end, strlen(end));
		}
		return;
	}
	if (out_format == FMT_CSV) {
		k = snprintf(
		    line, sizeof(line), "%s,,%s\n", where, errname(code));
	} else if (square) {
		k = snprintf(line, sizeof(line), "%s error: %s %s\n", where,
		    errname(code), why);
	} else {
		k = snprintf(line, sizeof(line), "error: %s %s: %s\n",
		    errname(code), where, why);
	}
	out_bytes(o, line,
	    (size_t) k < sizeof(line) ? (size_t) k : sizeof(line) - 1);
}

// The result of a task of another type than square.
static void
out_result(struct out *o, uint64_t index, const uint8_t *data, size_t len,
    int code, const char *err)
{
	char line[1200];
	int  k;

	if (out_format == FMT_JSONL) {
		bool text = utf8_valid(data, len);
		k         = snprintf(line, sizeof(line),
		            "{\"index\":%" PRIu64 ",\"code\":\"%s\",\"error\":", index,
		            errname(code));
		out_bytes(o, line, (size_t) k);
		if (code == 0) {
			out_bytes(o, "\"\"", 2);
		} else {
			out_json_str(o, err, strlen(err));
		}
		out_bytes(o, ",\"result\":", 10);
		if (text) {
			out_json_str(o, (const char *) data, len);
			out_bytes(o, "}\n", 2);
		} else {
			out_base64(o, data, len);
			out_bytes(o, ",\"base64\":true}\n", 16);
		}
		return;
	}
	if (code != 0) {
		k = snprintf(
		    line, sizeof(line), "error: %s %s\n", errname(code), err);
		out_bytes(o, line,
		    (size_t) k < sizeof(line) ? (size_t) k : sizeof(line) - 1);
		return;
	}
	// One line: the result without a final newline of its own.
	if (len > 0 && data[len - 1] == '\n') {
		len--;
	}
	if (len > 0) {
		out_bytes(o, data, len);
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

// Sets up the input source; prints why not and returns an exit code.
static int
open_input(struct run *r, char **args, int nargs, int *fdp)
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
		if (!r->square) {
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
		r->is_range    = true;
		r->range_first = a;
		r->range_next  = a;
		r->range_left  = (uint64_t) b - (uint64_t) a + 1;
		r->name        = "--range";
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
		r->name          = "stdin";
		if (strcmp(name, "-") != 0) {
			if ((fd = open(name, O_RDONLY | O_CLOEXEC)) < 0) {
				fprintf(stderr, "tasq: cannot open %s: %s\n",
				    name, strerror(errno));
				return (TASQ_EXIT_USAGE);
			}
			r->name = name;
			*fdp    = fd;
		}
		r->in = tasq_input_alloc(fd, sopt.null ? '\0' : '\n',
		    r->square ? 4096 : MAX_PAYLOAD);
		if (r->in == NULL) {
			fprintf(stderr, "tasq: out of memory\n");
			return (TASQ_EXIT_FAIL);
		}
		return (0);
	}
	r->args  = args;
	r->nargs = nargs;
	r->name  = "arguments";
	return (0);
}

struct tally {
	uint64_t printed_ids, ok, failed, sum;
};

// Prints the refusals due before task `upto` (all of them: UINT64_MAX).
static void
print_refusals(struct run *r, struct out *o, uint64_t upto)
{
	pthread_mutex_lock(&r->mu);
	while (r->rhead < r->rlen && r->refq[r->rhead].before <= upto) {
		struct refusal *f = &r->refq[r->rhead++];
		if (!sopt.summary) {
			out_refused(
			    o, f->before + r->rprinted, f->msg, r->square);
		}
		r->rprinted++;
		free(f->msg);
		f->msg = NULL;
	}
	pthread_mutex_unlock(&r->mu);
}

// Prints n results (task indices in order).
static void
print_results(struct run *r, struct out *o, struct tally *t,
    const tasq_result *rs, size_t n)
{
	uint64_t freed = 0;
	bool     pending;

	// Refusals due before these results were queued before their tasks
	// were added (so before they could have results).
	pthread_mutex_lock(&r->mu);
	pending = r->rhead < r->rlen;
	pthread_mutex_unlock(&r->mu);
	for (size_t k = 0; k < n; k++) {
		const tasq_result *x = &rs[k];
		int     code         = x->code ? x->code - TASQ_ERR_BASE : 0;
		int64_t res          = 0;
		if (pending) {
			print_refusals(r, o, x->index);
		}
		if (r->square) {
			memcpy(&res, x->data, x->len < 8 ? x->len : 8);
		}
		if (code == 0) {
			t->ok++;
			t->sum += (uint64_t) res;
		} else {
			t->failed++;
		}
		if (!sopt.summary) {
			const char *err =
			    x->error[0] != '\0' ? x->error : code_text(code);
			if (r->square) {
				int64_t in = r->is_range
				    ? (int64_t) ((uint64_t) r->range_first +
				          x->index)
				    : r->inputs[x->index & r->mask];
				out_line(o, in, res, (uint8_t) code, err);
			} else {
				out_result(o, x->index + r->rprinted, x->data,
				    x->len, code, err);
			}
		}
		if (r->plens != NULL) {
			freed += r->plens[x->index & r->mask];
		}
		t->printed_ids++;
	}
	if (freed > 0) {
		pthread_mutex_lock(&r->mu);
		r->held_bytes -= freed;
		pthread_cond_broadcast(&r->cv);
		pthread_mutex_unlock(&r->mu);
	}
}

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

// SIGINT or SIGTERM (the main loop looks at it at least every 100 ms).
static volatile sig_atomic_t interrupted;

static void
on_interrupt(int sig)
{
	interrupted = sig;
}

// Waits until the reader ended, at most until deadline_ms (0: no limit).
// Returns whether it did.
static bool
reader_wait(struct run *r, uint64_t deadline_ms)
{
	bool done;

	pthread_mutex_lock(&r->mu);
	while (!r->done && (deadline_ms == 0 || now_ms() < deadline_ms)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		(void) pthread_cond_timedwait(&r->cv, &r->mu, &ts);
	}
	done = r->done;
	pthread_mutex_unlock(&r->mu);
	return (done);
}

// --detach: once the reader has added the whole input and finished it,
// the library sends what is left and ends the job's input at the server
// (SubmitRequest.last: its reply comes after the journal has it); then
// the job id is printed. Returns an exit code.
static int
detach_run(struct run *r)
{
	tasq_aio         *aio;
	tasq_job_progress p = TASQ_JOB_PROGRESS_INIT;
	int               rv;

	if (!reader_wait(r, r->deadline)) {
		fprintf(stderr, "tasq: timed out submitting\n");
		return (TASQ_EXIT_FAIL);
	}
	if (r->failed != 0) {
		fprintf(stderr, "tasq: %s\n", r->err);
		return (r->failed);
	}
	if (tasq_aio_alloc(&aio, NULL, NULL) != 0) {
		fprintf(stderr, "tasq: out of memory\n");
		return (TASQ_EXIT_FAIL);
	}
	if (r->deadline != 0) {
		uint64_t now = now_ms();
		tasq_aio_set_timeout(aio,
		    now >= r->deadline ? 0 : (int32_t) (r->deadline - now));
	}
	if ((rv = tasq_job_flush_aio(r->job, aio)) == 0) {
		tasq_aio_wait(aio);
		rv = tasq_aio_result(aio);
	}
	if (rv == TASQ_EDEADLINE_EXCEEDED) {
		fprintf(stderr, "tasq: timed out submitting\n");
		tasq_aio_free(aio);
		return (TASQ_EXIT_FAIL);
	}
	if (rv != 0) {
		const char *m = tasq_aio_errmsg(aio);
		fprintf(stderr, "tasq: %s\n", m[0] ? m : tasq_errmsg());
		tasq_aio_free(aio);
		return (rv == TASQ_EINVALID_ARGUMENT &&
		            strncmp(m, "submit", 6) == 0
		        ? TASQ_EXIT_USAGE
		        : TASQ_EXIT_FAIL);
	}
	tasq_aio_free(aio);
	(void) tasq_job_get_progress(&p, r->job);
	if (out_format == FMT_JSONL) {
		printf("{\"job\":\"%016" PRIx64 "\",\"submitted\":%" PRIu64
		       "}\n",
		    tasq_job_id(r->job), p.added);
	} else {
		printf("%016" PRIx64 "\n", tasq_job_id(r->job));
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

// After SIGINT or SIGTERM of an attached submit: the job is cancelled
// (Cancel stops its running tasks too; a server older than Cancel gets
// CloseJob), or with --detach-on-interrupt left running, detached.
// Returns 128 + sig.
static int
interrupt_job(struct run *r, int sig)
{
	const char       *how = sig == SIGINT ? "interrupted" : "terminated";
	uint64_t          id = tasq_job_id(r->job), n = 0;
	tasq_job_progress p = TASQ_JOB_PROGRESS_INIT;
	int               rv;

	(void) tasq_job_get_progress(&p, r->job);
	if (p.sent == 0 && !p.one_trip && !p.carrying) {
		fprintf(stderr, "tasq: interrupted before a task was sent\n");
		return (128 + sig);
	}
	if (sopt.detach_on_int) {
		if ((rv = tasq_job_leave(r->job, &n)) != 0) {
			fprintf(stderr,
			    "tasq: %s: job %016" PRIx64 " left running, but "
			    "its input could not be closed (%s): the server "
			    "drops it after its --job-ttl\n",
			    how, id, tasq_errmsg());
			return (128 + sig);
		}
		fprintf(stderr,
		    "tasq: %s: job %016" PRIx64
		    " left running, detached, with %" PRIu64
		    " task%s; its results (all of them, in input order): "
		    "tasq results --wait %016" PRIx64
		    " (kept for the result TTL once it is done)\n",
		    how, id, n, n == 1 ? "" : "s", id);
		return (128 + sig);
	}
	rv = tasq_job_cancel(r->job);
	(void) tasq_job_get_progress(&p, r->job);
	if (rv == 0 && !p.cancel_closed_only) {
		fprintf(stderr,
		    "tasq: %s: job %016" PRIx64 " cancelled (%" PRIu64
		    " queued tasks dropped, %" PRIu32
		    " running tasks told to stop)\n",
		    how, id, p.cancel_dropped, p.cancel_running);
	} else if (rv == 0) {
		fprintf(stderr,
		    "tasq: %s: job %016" PRIx64 " closed (%" PRIu64
		    " tasks or results dropped); the server is older than "
		    "cancel: tasks already running finish\n",
		    how, id, p.cancel_dropped);
	} else if (rv == TASQ_EFAILED_PRECONDITION) {
		fprintf(stderr,
		    "tasq: %s: job %016" PRIx64 " was done; closed (%" PRIu64
		    " results not printed)\n",
		    how, id, p.received - p.taken);
	} else {
		fprintf(stderr,
		    "tasq: %s: job %016" PRIx64 " not cancelled (%s); "
		    "closing it\n",
		    how, id, tasq_errmsg());
	}
	return (128 + sig);
}

int
tasq_cmd_submit(tasq_client *c, int argc, char **argv)
{
	const tasq_opt *const tables[] = { submit_opts, NULL };
	static tasq_result    rs[MAX_CHUNK];
	struct run            r;
	struct out            o    = { 0 };
	struct tally          t    = { 0 };
	tasq_job_opts         jo   = TASQ_JOB_OPTS_INIT;
	tasq_aio             *aio  = NULL;
	char                **args = NULL;
	int                   nargs, rv, fd = -1;
	pthread_t             thr;
	bool                  thr_on = false, sync_on = false;
	bool                  leave = false; // the job stays at the server
	struct timespec       t0, t1;

	memset(&r, 0, sizeof(r));
	argc = take_null_flag(argc, argv);
	if ((rv = tasq_client_parse(
	         submit_opts, usage, argc, argv, &args, &nargs)) >= 0) {
		goto out;
	}
	if (!valid_name(sopt.queue)) {
		fprintf(stderr,
		    "tasq: --queue must be 1-64 characters of "
		    "[A-Za-z0-9._-]\n");
		rv = TASQ_EXIT_USAGE;
		goto out;
	}
	if (!valid_name(sopt.type)) {
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
	r.square = strcmp(sopt.type, TYPE_SQUARE) == 0;
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
	if ((rv = open_input(&r, args, nargs, &fd)) != 0) {
		goto out;
	}
	// The window: no bigger than the input when its size is known.
	r.win = (size_t) sopt.window;
	if (r.is_range && r.range_left < r.win) {
		r.win = (size_t) r.range_left;
	}
	if (r.args != NULL && (size_t) nargs < r.win) {
		r.win = (size_t) nargs;
	}
	// The ring holds the window and a chunk of results being printed.
	r.mask = 1;
	while (r.mask < r.win + MAX_CHUNK) {
		r.mask <<= 1;
	}
	if (r.square && !r.is_range && !sopt.detach) {
		r.inputs = malloc(r.mask * sizeof(*r.inputs));
	} else if (!r.square && !sopt.detach) {
		r.plens = malloc(r.mask * sizeof(*r.plens));
	}
	r.mask--;
	o.cap = 1 << 20;
	o.buf = malloc(o.cap);
	if (o.buf == NULL ||
	    (r.inputs == NULL && r.plens == NULL && !r.is_range &&
	        !sopt.detach)) {
		fprintf(stderr, "tasq: out of memory for a window of %zu\n",
		    r.win);
		rv = TASQ_EXIT_FAIL;
		goto out;
	}
	if (pthread_mutex_init(&r.mu, NULL) != 0 ||
	    pthread_cond_init(&r.cv, NULL) != 0) {
		rv = TASQ_EXIT_FAIL;
		goto out;
	}
	sync_on = true;
	if ((rv = tasq_client_session(c, &r.s)) != 0) {
		goto out;
	}
	jo.queue        = sopt.queue;
	jo.type         = sopt.type;
	jo.priority     = (uint32_t) sopt.priority;
	jo.max_attempts = (uint32_t) sopt.max_attempts;
	// --detach-on-interrupt: detached from the first batch, so that an
	// interrupt can leave it (its results read meanwhile).
	jo.detach          = sopt.detach || sopt.detach_on_int;
	jo.detach_on_leave = sopt.detach_on_int;
	jo.result_ttl_ms   = jo.detach ? sopt.result_ttl_ms : 0;
	jo.batch_size      = (uint32_t) sopt.batch;
	jo.batch_bytes     = (uint32_t) sopt.batch_bytes;
	jo.linger_ms       = (uint32_t) (sopt.linger_ms ? sopt.linger_ms : 1);
	jo.window          = r.win;
	jo.poll_wait_ms    = (uint32_t) sopt.poll_wait_ms;
	jo.event_cb        = event_cb;
	jo.event_arg       = &r;
	if (tasq_job_open(&r.job, r.s, &jo) != 0) {
		fprintf(stderr, "tasq: %s\n", tasq_errmsg());
		rv = TASQ_EXIT_USAGE;
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r.deadline = sopt.timeout_ms ? now_ms() + sopt.timeout_ms : 0;
	// An interrupt ends the job (cancelled, or left running with
	// --detach-on-interrupt); a detached one is left to run.
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_interrupt;
	sigemptyset(&sa.sa_mask);
	if (!sopt.detach) {
		(void) sigaction(SIGINT, &sa, NULL);
		(void) sigaction(SIGTERM, &sa, NULL);
	}
	if (pthread_create(&thr, NULL, reader_main, &r) != 0) {
		fprintf(stderr, "tasq: cannot start thread\n");
		rv = TASQ_EXIT_FAIL;
		goto out;
	}
	thr_on = true;
	if (sopt.detach) {
		rv = detach_run(&r);
		goto out;
	}
	if (out_format == FMT_CSV && !sopt.summary) {
		memcpy(o.buf, "input,result,error\n", 19);
		o.len = 19;
	}
	if (tasq_aio_alloc(&aio, NULL, NULL) != 0) {
		fprintf(stderr, "tasq: out of memory\n");
		rv = TASQ_EXIT_FAIL;
		goto out;
	}
	// Results, many at a time; the wait looks at interrupts, the
	// deadline and the reader every 100 ms.
	tasq_aio_set_timeout(aio, 100);
	size_t n  = 0;
	bool   on = false;
	rv        = 0;
	for (;;) {
		int nrv;
		if (!on) {
			if ((nrv = tasq_job_next_many_aio(
			         r.job, rs, MAX_CHUNK, &n, aio)) != 0) {
				break;
			}
			on = true;
		}
		tasq_aio_wait(aio);
		on  = false;
		nrv = tasq_aio_result(aio);
		if (nrv == 0) {
			print_results(&r, &o, &t, rs, n);
			if (o.len > 0) {
				out_flush(&o);
			}
			if (show) {
				tasq_job_progress p = TASQ_JOB_PROGRESS_INIT;
				(void) tasq_job_get_progress(&p, r.job);
				progress((size_t) t.printed_ids,
				    (size_t) p.added, &t0, false);
			}
			continue;
		}
		if (nrv == TASQ_EOUT_OF_RANGE) {
			break;
		}
		pthread_mutex_lock(&r.mu);
		int failed = r.failed;
		pthread_mutex_unlock(&r.mu);
		if (failed != 0) {
			fprintf(stderr, "tasq: %s\n", r.err);
			rv    = failed;
			leave = true;
			break;
		}
		if (nrv == TASQ_EDEADLINE_EXCEEDED) {
			if (interrupted != 0) {
				rv = -1; // below, once the reader stopped
				break;
			}
			if (r.deadline != 0 && now_ms() >= r.deadline) {
				tasq_job_progress p = TASQ_JOB_PROGRESS_INIT;
				(void) tasq_job_get_progress(&p, r.job);
				fprintf(stderr,
				    "tasq: timed out with %" PRIu64
				    " results printed%s%.600s\n",
				    t.printed_ids,
				    p.last_retry[0] ? "; last error: " : "",
				    p.last_retry);
				rv    = TASQ_EXIT_FAIL;
				leave = true;
				break;
			}
			continue;
		}
		if (nrv == TASQ_ECANCELLED) {
			// Someone ran tasq cancel: every result it had is
			// printed (handed out before the end).
			fprintf(stderr,
			    "tasq: job %016" PRIx64 " was cancelled (tasq "
			    "cancel): %" PRIu64
			    " results printed, the rest never come\n",
			    tasq_job_id(r.job), t.printed_ids);
			rv = TASQ_EXIT_FAIL;
			break;
		}
		const char *m = tasq_aio_errmsg(aio);
		fprintf(stderr, "tasq: %s\n", m);
		rv    = nrv == TASQ_EINVALID_ARGUMENT &&
                        strncmp(m, "submit", 6) == 0
		       ? TASQ_EXIT_USAGE
		       : TASQ_EXIT_FAIL;
		leave = true;
		break;
	}
	if (show) {
		progress(0, 0, &t0, true);
	}
	if (rv == 0) {
		print_refusals(&r, &o, UINT64_MAX);
	}
	out_flush(&o);
	if (rv == -1) {
		rv = interrupt_job(&r, (int) interrupted);
	}
	if (rv == 0) {
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
	if (thr_on) {
		// The reader may wait in tasq_job_add (a full window): once
		// the job ended it returns; otherwise closing the session
		// ends it (the server drops the job after its --job-ttl).
		atomic_store(&r.stop, true);
		pthread_mutex_lock(&r.mu);
		pthread_cond_broadcast(&r.cv);
		pthread_mutex_unlock(&r.mu);
		if (!reader_wait(&r, now_ms() + 1000)) {
			tasq_session_close(r.s);
		}
		pthread_join(thr, NULL);
	}
	tasq_aio_free(aio);
	if (leave && r.s != NULL) {
		// A run that failed or timed out leaves its job as it was
		// (the server drops it after its --job-ttl): tasq_job_free
		// of a closed session's job sends no CloseJob.
		tasq_session_close(r.s);
	}
	tasq_job_free(r.job);
	fflush(stdout);
	for (size_t i = r.rhead; i < r.rlen; i++) {
		free(r.refq[i].msg);
	}
	free(r.refq);
	free(r.inputs);
	free(r.plens);
	tasq_input_free(r.in);
	if (fd >= 0) {
		close(fd);
	}
	if (sync_on) {
		pthread_mutex_destroy(&r.mu);
		pthread_cond_destroy(&r.cv);
	}
	free(o.buf);
	free(args);
	tasq_opt_free(tables);
	return (rv);
}
