// tasq dead: the server's dead letters (tasks given up after their job's
// last attempt): list, show one with its payload, retry (submit the
// payloads again as a new job of the same queue and type, print the
// results, purge the retried letters) and purge (DeadList and DeadPurge,
// docs/PROTOCOL.md).
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "client.h"
#include "clock.h"
#include "err.h"
#include "rand.h"

static struct {
	char    *queue;
	bool     json;
	bool     all;
	uint64_t timeout_ms;
	uint64_t poll_wait_ms;
} dopt;

static const tasq_opt dead_opts[] = {
	{ "queue", 'q', TASQ_OPT_STR, NULL, NULL, "NAME",
	    "only the dead letters of this queue", &dopt.queue, 0, 0, false },
	{ "json", 0, TASQ_OPT_BOOL, NULL, NULL, NULL,
	    "list and show: one JSON object per letter", &dopt.json, 0, 0,
	    false },
	{ "all", 'a', TASQ_OPT_BOOL, NULL, NULL, NULL,
	    "retry and purge: every letter (of --queue)", &dopt.all, 0, 0,
	    false },
	{ "timeout", 't', TASQ_OPT_MS, NULL, "0", "DURATION",
	    "retry: give up after this long (0: never)", &dopt.timeout_ms, 0,
	    30 * 86400000ULL, false },
	{ "poll-wait", 0, TASQ_OPT_MS, NULL, "1s", "DURATION",
	    "retry: how long each fetch may wait at the server",
	    &dopt.poll_wait_ms, 10, 60000, false },
	TASQ_OPT_END,
};

static const char usage[] =
    "Usage: tasq [options] dead list [--queue Q] [--json]\n"
    "       tasq [options] dead show ID [--json]\n"
    "       tasq [options] dead retry ID... | --all [--queue Q]\n"
    "       tasq [options] dead purge ID... | --all [--queue Q]\n"
    "Dead letters: tasks given up after their job's last attempt.\n"
    "retry submits their payloads again as a new job of the same queue\n"
    "and type, prints 'ID result' per letter and purges them.\n";

// Letters fetched with payloads per DeadList request (each payload may be
// up to 1 MiB: a page stays within the reply's size limit).
#define PAGE_PAYLOADS 32
#define PAGE_PLAIN 1000

// One DeadList request; rep is the caller's to release.
static int
dead_list(
    tasq_client *c, uint64_t after, uint32_t max, bool payloads, tasq_rep *rep)
{
	tasq_req req;
	char     err[512];
	int      rv;

	memset(&req, 0, sizeof(req));
	req.method               = TASQ_M_DEAD_LIST;
	req.u.dead_list.queue    = dopt.queue != NULL ? dopt.queue : "";
	req.u.dead_list.after_id = after;
	req.u.dead_list.max      = max;
	req.u.dead_list.payloads = payloads;
	if ((rv = tasq_chan_call(c->chan, &req, (uint32_t) c->timeout_ms, rep,
	         err, sizeof(err))) != 0) {
		fprintf(stderr, "tasq: dead list: %s\n", err);
	}
	return (rv);
}

static int
dead_purge(
    tasq_client *c, const uint64_t *ids, size_t n, bool all, uint64_t *purged)
{
	tasq_req req;
	tasq_rep rep;
	char     err[512];
	int      rv;

	memset(&req, 0, sizeof(req));
	req.method             = TASQ_M_DEAD_PURGE;
	req.u.dead_purge.ids   = (uint64_t *) ids;
	req.u.dead_purge.n     = n;
	req.u.dead_purge.all   = all;
	req.u.dead_purge.queue = dopt.queue != NULL ? dopt.queue : "";
	if ((rv = tasq_chan_call(c->chan, &req, (uint32_t) c->timeout_ms, &rep,
	         err, sizeof(err))) != 0) {
		fprintf(stderr, "tasq: dead purge: %s\n", err);
		return (rv);
	}
	*purged += rep.u.dead_purge.purged;
	tasq_wire_rep_fini(&rep);
	return (0);
}

static void
json_str(FILE *f, const char *s, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char) s[i];
		if (ch == '"' || ch == '\\') {
			fprintf(f, "\\%c", ch);
		} else if (ch == '\n') {
			fputs("\\n", f);
		} else if (ch < 0x20 || ch == 0x7f) {
			fprintf(f, "\\u%04x", ch);
		} else {
			fputc(ch, f);
		}
	}
	fputc('"', f);
}

// Whether p is text worth showing as is: valid UTF-8 without control
// characters other than tab and newline.
static bool
is_text(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = p[i];
		size_t  k = c < 0x80      ? 0
		     : (c & 0xe0) == 0xc0 ? 1
		     : (c & 0xf0) == 0xe0 ? 2
		     : (c & 0xf8) == 0xf0 ? 3
		                          : 4;
		if (k == 4 || n - i <= k ||
		    (c < 0x20 && c != '\t' && c != '\n') || c == 0x7f ||
		    c == 0xc0 || c == 0xc1 || c > 0xf4) {
			return (false);
		}
		for (size_t j = 1; j <= k; j++) {
			if ((p[i + j] & 0xc0) != 0x80) {
				return (false);
			}
		}
		i += k + 1;
	}
	return (true);
}

static void
fmt_age(char *buf, size_t len, uint64_t then_ms)
{
	uint64_t now = tasq_clock_wall_ms();
	uint64_t s   = now > then_ms ? (now - then_ms) / 1000 : 0;

	if (s < 120) {
		snprintf(buf, len, "%" PRIu64 "s", s);
	} else if (s < 7200) {
		snprintf(buf, len, "%" PRIu64 "m", s / 60);
	} else if (s < 172800) {
		snprintf(buf, len, "%" PRIu64 "h", s / 3600);
	} else {
		snprintf(buf, len, "%" PRIu64 "d", s / 86400);
	}
}

static const char *
code_name(uint32_t code)
{
	const char *n = tasq_err_name((int) code);
	return (n != NULL ? n : "UNKNOWN");
}

static void
print_letter(const tasq_dead_letter *d, bool payload)
{
	char age[32];

	fmt_age(age, sizeof(age), d->time_ms);
	if (dopt.json) {
		printf("{\"id\":%" PRIu64 ",\"job_id\":\"%016" PRIx64
		       "\",\"task_id\":%" PRIu64 ",\"queue\":",
		    d->id, d->job_id, d->task_id);
		json_str(stdout, d->queue, strlen(d->queue));
		printf(",\"type\":");
		json_str(stdout, d->type, strlen(d->type));
		printf(",\"attempts\":%" PRIu32 ",\"code\":\"%s\",\"error\":",
		    d->attempts, code_name(d->code));
		json_str(stdout, d->error, strlen(d->error));
		printf(",\"time_ms\":%" PRIu64 ",\"age\":\"%s\""
		       ",\"payload_len\":%" PRIu32,
		    d->time_ms, age, d->payload_len);
		if (payload && is_text(d->payload, d->payload_size)) {
			printf(",\"payload\":");
			json_str(stdout, (const char *) d->payload,
			    d->payload_size);
		} else if (payload) {
			printf(",\"payload_hex\":\"");
			for (size_t i = 0; i < d->payload_size; i++) {
				printf("%02x", d->payload[i]);
			}
			printf("\"");
		}
		printf("}\n");
		return;
	}
	if (!payload) {
		printf("%-8" PRIu64 " %6s %-16s %-16s %8" PRIu32 " %-18s %s\n",
		    d->id, age, d->queue, d->type, d->attempts,
		    code_name(d->code), d->error);
		return;
	}
	printf("id:        %" PRIu64 "\n"
	       "job:       %016" PRIx64 " task %" PRIu64 "\n"
	       "queue:     %s\n"
	       "type:      %s\n"
	       "attempts:  %" PRIu32 "\n"
	       "code:      %s\n"
	       "error:     %s\n"
	       "died:      %s ago (%" PRIu64 " ms since 1970)\n"
	       "payload:   %" PRIu32 " bytes%s\n",
	    d->id, d->job_id, d->task_id, d->queue, d->type, d->attempts,
	    code_name(d->code), d->error, age, d->time_ms, d->payload_len,
	    d->payload_size == 0                       ? ""
	        : is_text(d->payload, d->payload_size) ? ", text:"
	                                               : ", hex:");
	if (d->payload_size == 0) {
		return;
	}
	if (is_text(d->payload, d->payload_size)) {
		fwrite(d->payload, 1, d->payload_size, stdout);
		if (d->payload[d->payload_size - 1] != '\n') {
			putchar('\n');
		}
		return;
	}
	for (size_t i = 0; i < d->payload_size; i += 16) {
		printf("%08zx ", i);
		for (size_t j = i; j < i + 16 && j < d->payload_size; j++) {
			printf(" %02x", d->payload[j]);
		}
		putchar('\n');
	}
}

static int
cmd_list(tasq_client *c)
{
	uint64_t after = 0;
	size_t   shown = 0;

	if (!dopt.json) {
		printf("%-8s %6s %-16s %-16s %8s %-18s %s\n", "ID", "AGE",
		    "QUEUE", "TYPE", "ATTEMPTS", "CODE", "ERROR");
	}
	for (;;) {
		tasq_rep rep;
		if (dead_list(c, after, PAGE_PLAIN, false, &rep) != 0) {
			return (TASQ_EXIT_FAIL);
		}
		size_t n = rep.u.dead_list.n;
		for (size_t i = 0; i < n; i++) {
			print_letter(&rep.u.dead_list.letters[i], false);
			after = rep.u.dead_list.letters[i].id;
		}
		shown += n;
		tasq_wire_rep_fini(&rep);
		if (n == 0) {
			break;
		}
	}
	(void) shown;
	return (TASQ_EXIT_OK);
}

static bool
parse_id(const char *s, uint64_t *id)
{
	char              *end;
	unsigned long long v;

	if (*s < '0' || *s > '9') {
		return (false);
	}
	v = strtoull(s, &end, 10);
	if (*end != '\0' || v == 0) {
		return (false);
	}
	*id = (uint64_t) v;
	return (true);
}

// Fetches letter id with its payload into *rep; 1 when there is none.
static int
get_letter(tasq_client *c, uint64_t id, tasq_rep *rep)
{
	if (dead_list(c, id - 1, 1, true, rep) != 0) {
		return (-1);
	}
	if (rep->u.dead_list.n != 1 || rep->u.dead_list.letters[0].id != id) {
		tasq_wire_rep_fini(rep);
		return (1);
	}
	return (0);
}

static int
cmd_show(tasq_client *c, uint64_t id)
{
	tasq_rep rep;
	int      rv;

	if ((rv = get_letter(c, id, &rep)) != 0) {
		if (rv > 0) {
			fprintf(
			    stderr, "tasq: no dead letter %" PRIu64 "\n", id);
		}
		return (TASQ_EXIT_FAIL);
	}
	print_letter(&rep.u.dead_list.letters[0], true);
	tasq_wire_rep_fini(&rep);
	return (TASQ_EXIT_OK);
}

static bool
retryable(int rv)
{
	return (rv == TASQ_ERESOURCE_EXHAUSTED || rv == TASQ_EUNAVAILABLE ||
	    rv == TASQ_EDEADLINE_EXCEEDED || rv == NNG_ECLOSED ||
	    rv == NNG_ECONNREFUSED || rv == NNG_ECONNSHUT ||
	    rv == NNG_ECONNRESET || rv == NNG_EAGAIN);
}

// A call retried while the failure is transient, until the deadline.
static int
call_retry(tasq_client *c, const tasq_req *req, uint32_t extra_ms,
    nng_time deadline, tasq_rep *rep, const char *what)
{
	char err[512];
	int  rv;

	for (;;) {
		rv = tasq_chan_call(c->chan, req,
		    (uint32_t) c->timeout_ms + extra_ms, rep, err,
		    sizeof(err));
		if (rv == 0) {
			return (0);
		}
		if (!retryable(rv) ||
		    (deadline != 0 && nng_clock() >= deadline)) {
			fprintf(stderr, "tasq: %s: %s\n", what, err);
			return (rv);
		}
		nng_msleep(50);
	}
}

struct group {
	const tasq_dead_letter **d; // the letters, in id order
	size_t                   n;
	// Results by task index.
	bool     *got;
	uint32_t *code;
	char    **res; // result bytes (NUL-terminated copies)
	size_t   *rlen;
	char    **error;
};

static void
group_fini(struct group *g)
{
	for (size_t i = 0; i < g->n && g->res != NULL; i++) {
		free(g->res[i]);
		free(g->error[i]);
	}
	free(g->d);
	free(g->got);
	free(g->code);
	free(g->res);
	free(g->rlen);
	free(g->error);
}

// Prints a letter's new result: "ID result" (square: "ID input result"),
// or "ID error: CODE message".
static void
print_retried(const struct group *g, size_t i)
{
	const tasq_dead_letter *d = g->d[i];
	bool    square            = strcmp(d->type, TASQ_TYPE_SQUARE) == 0;
	int64_t v                 = 0;

	printf("%" PRIu64 " ", d->id);
	if (square && d->payload_size == 8) {
		for (int k = 7; k >= 0; k--) {
			v = (int64_t) (((uint64_t) v << 8) | d->payload[k]);
		}
		printf("%" PRId64 " ", v);
	}
	if (g->code[i] != 0) {
		printf("error: %s %s\n", code_name(g->code[i]),
		    g->error[i] != NULL
		        ? g->error[i]
		        : tasq_strerror(tasq_err_from_code((int) g->code[i])));
		return;
	}
	if (square && g->rlen[i] == 8) {
		const uint8_t *p = (const uint8_t *) g->res[i];
		uint64_t       u = 0;
		for (int k = 7; k >= 0; k--) {
			u = (u << 8) | p[k];
		}
		printf("%" PRId64 "\n", (int64_t) u);
		return;
	}
	size_t n = g->rlen[i];
	if (n > 0 && g->res[i][n - 1] == '\n') {
		n--;
	}
	fwrite(g->res[i], 1, n, stdout);
	putchar('\n');
}

// Submits the group's payloads as a new job (one batch, carried by the
// first Fetch) and collects the results. Returns an exit code.
static int
run_group(tasq_client *c, struct group *g, nng_time deadline, bool *failed)
{
	const tasq_dead_letter *d0 = g->d[0];
	bool      square           = strcmp(d0->type, TASQ_TYPE_SQUARE) == 0;
	uint32_t *lens             = calloc(g->n, sizeof(*lens));
	int64_t  *vals             = calloc(g->n, sizeof(*vals));
	size_t    size = 0, got = 0;
	uint8_t  *data;
	uint64_t  job = tasq_random64(), ack = 0;
	bool      carried = false;
	int       rv      = TASQ_EXIT_FAIL;

	for (size_t i = 0; i < g->n; i++) {
		size += g->d[i]->payload_size;
	}
	data     = malloc(size + 1);
	g->got   = calloc(g->n, sizeof(*g->got));
	g->code  = calloc(g->n, sizeof(*g->code));
	g->res   = calloc(g->n, sizeof(*g->res));
	g->rlen  = calloc(g->n, sizeof(*g->rlen));
	g->error = calloc(g->n, sizeof(*g->error));
	if (lens == NULL || vals == NULL || data == NULL || g->got == NULL ||
	    g->code == NULL || g->res == NULL || g->rlen == NULL ||
	    g->error == NULL) {
		fprintf(stderr, "tasq: out of memory\n");
		goto out;
	}
	size = 0;
	for (size_t i = 0; i < g->n; i++) {
		const tasq_dead_letter *d = g->d[i];
		lens[i]                   = (uint32_t) d->payload_size;
		memcpy(data + size, d->payload, d->payload_size);
		if (square && d->payload_size != 8) {
			fprintf(stderr,
			    "tasq: dead letter %" PRIu64
			    ": a square payload of %zu bytes\n",
			    d->id, d->payload_size);
			goto out;
		}
		if (square) {
			memcpy(&vals[i], d->payload, 8);
		}
		size += d->payload_size;
	}
	while (got < g->n) {
		tasq_req req;
		tasq_rep rep;
		memset(&req, 0, sizeof(req));
		req.method              = TASQ_M_FETCH;
		req.u.fetch.job_id      = job;
		req.u.fetch.ack_seq     = ack;
		req.u.fetch.max_results = 65536;
		req.u.fetch.wait_ms     = (uint32_t) dopt.poll_wait_ms;
		req.u.fetch.id_runs     = true;
		if (!carried) {
			tasq_submit_req *s     = &req.u.fetch.submit;
			req.u.fetch.has_submit = true;
			s->queue               = d0->queue;
			s->job_id              = job;
			s->n                   = g->n;
			s->type                = d0->type;
			if (square) {
				s->payloads.width = 8;
				s->payloads.data  = (uint8_t *) vals;
				s->payloads.size  = g->n * 8;
			} else {
				s->payloads.lens = lens;
				s->payloads.data = data;
				s->payloads.size = size;
			}
		}
		if (deadline != 0 && nng_clock() >= deadline) {
			fprintf(stderr,
			    "tasq: timed out with %zu of %zu results\n", got,
			    g->n);
			goto out;
		}
		if (call_retry(c, &req, (uint32_t) dopt.poll_wait_ms, deadline,
		        &rep, carried ? "fetch" : "submit") != 0) {
			goto out;
		}
		if (!carried && !rep.u.fetch.has_submit) {
			fprintf(stderr,
			    "tasq: the server does not take a job in a "
			    "Fetch: too old for dead retry\n");
			tasq_wire_rep_fini(&rep);
			goto out;
		}
		carried               = true;
		const tasq_blobs *b   = &rep.u.fetch.results;
		size_t            off = 0;
		for (size_t i = 0; i < rep.u.fetch.n; i++) {
			uint64_t       id   = rep.u.fetch.ids[i];
			const uint8_t *item = NULL;
			size_t         len  = 0;
			if (rep.u.fetch.values == NULL) {
				len  = b->width ? b->width
				                : (b->lens ? b->lens[i] : 0);
				item = b->data + off;
				off += len;
			}
			if (id >= g->n || g->got[id]) {
				continue;
			}
			g->got[id] = true;
			got++;
			g->code[id] =
			    rep.u.fetch.codes ? rep.u.fetch.codes[i] : 0;
			if (rep.u.fetch.errors && rep.u.fetch.errors[i] &&
			    rep.u.fetch.errors[i][0] != '\0') {
				g->error[id] = strdup(rep.u.fetch.errors[i]);
			}
			if (rep.u.fetch.values != NULL) {
				uint64_t u = (uint64_t) rep.u.fetch.values[i];
				len        = 8;
				item       = (const uint8_t *) &u;
				g->res[id] = malloc(9);
				if (g->res[id] != NULL) {
					memcpy(g->res[id], item, 8);
				}
			} else if ((g->res[id] = malloc(len + 1)) != NULL &&
			    len > 0) {
				memcpy(g->res[id], item, len);
			}
			g->rlen[id] = g->res[id] != NULL ? len : 0;
		}
		if (rep.u.fetch.seq != 0) {
			ack = rep.u.fetch.seq;
		}
		tasq_wire_rep_fini(&rep);
	}
	for (size_t i = 0; i < g->n; i++) {
		print_retried(g, i);
		if (g->code[i] != 0) {
			*failed = true;
		}
	}
	{
		tasq_req req;
		tasq_rep rep;
		char     err[512];
		memset(&req, 0, sizeof(req));
		req.method              = TASQ_M_CLOSE_JOB;
		req.u.close_job.job_id  = job;
		req.u.close_job.ack_seq = ack;
		if (tasq_chan_call(c->chan, &req, (uint32_t) c->timeout_ms,
		        &rep, err, sizeof(err)) == 0) {
			tasq_wire_rep_fini(&rep);
		}
	}
	rv = 0;
out:
	free(lens);
	free(vals);
	free(data);
	return (rv);
}

// Retries one page of letters: a job per (queue, type), then purges the
// page's letters that have their new results.
static int
retry_page(tasq_client *c, const tasq_dead_letter *ls, size_t n,
    nng_time deadline, bool *failed, uint64_t *purged)
{
	bool     *done = calloc(n, sizeof(*done));
	uint64_t *ids  = calloc(n, sizeof(*ids));
	size_t    nids = 0;
	int       rv   = 0;

	if (done == NULL || ids == NULL) {
		free(done);
		free(ids);
		return (TASQ_EXIT_FAIL);
	}
	for (size_t i = 0; i < n && rv == 0; i++) {
		struct group g = { 0 };
		if (done[i]) {
			continue;
		}
		if ((g.d = calloc(n, sizeof(*g.d))) == NULL) {
			rv = TASQ_EXIT_FAIL;
			break;
		}
		for (size_t j = i; j < n; j++) {
			if (!done[j] &&
			    strcmp(ls[j].queue, ls[i].queue) == 0 &&
			    strcmp(ls[j].type, ls[i].type) == 0) {
				g.d[g.n++] = &ls[j];
				done[j]    = true;
			}
		}
		if ((rv = run_group(c, &g, deadline, failed)) == 0) {
			for (size_t k = 0; k < g.n; k++) {
				ids[nids++] = g.d[k]->id;
			}
		}
		group_fini(&g);
	}
	fflush(stdout);
	if (nids > 0 && dead_purge(c, ids, nids, false, purged) != 0) {
		rv = TASQ_EXIT_FAIL;
	}
	free(done);
	free(ids);
	return (rv);
}

static int
cmd_retry(tasq_client *c, char **args, int nargs)
{
	nng_time deadline =
	    dopt.timeout_ms ? nng_clock() + dopt.timeout_ms : 0;
	bool     failed = false;
	uint64_t purged = 0;
	int      rv     = 0;

	if (dopt.all) {
		uint64_t after = 0;
		for (;;) {
			tasq_rep rep;
			if (dead_list(c, after, PAGE_PAYLOADS, true, &rep) !=
			    0) {
				return (TASQ_EXIT_FAIL);
			}
			size_t n = rep.u.dead_list.n;
			if (n > 0) {
				after = rep.u.dead_list.letters[n - 1].id;
				rv = retry_page(c, rep.u.dead_list.letters, n,
				    deadline, &failed, &purged);
			}
			tasq_wire_rep_fini(&rep);
			if (n == 0 || rv != 0) {
				break;
			}
		}
	} else {
		for (int i = 0; i < nargs && rv == 0; i++) {
			tasq_rep rep;
			uint64_t id;
			int      k;
			if (!parse_id(args[i], &id)) {
				fprintf(stderr,
				    "tasq: '%.40s' is not a dead "
				    "letter id\n",
				    args[i]);
				return (TASQ_EXIT_USAGE);
			}
			if ((k = get_letter(c, id, &rep)) != 0) {
				if (k > 0) {
					fprintf(stderr,
					    "tasq: no dead letter %" PRIu64
					    "\n",
					    id);
				}
				rv = TASQ_EXIT_FAIL;
				break;
			}
			rv = retry_page(c, rep.u.dead_list.letters, 1,
			    deadline, &failed, &purged);
			tasq_wire_rep_fini(&rep);
		}
	}
	fprintf(stderr,
	    "tasq: %" PRIu64 " dead letter(s) retried and purged\n", purged);
	if (rv != 0) {
		return (rv);
	}
	return (failed ? TASQ_EXIT_TASKS : TASQ_EXIT_OK);
}

static int
cmd_purge(tasq_client *c, char **args, int nargs)
{
	uint64_t *ids    = calloc((size_t) nargs + 1, sizeof(*ids));
	uint64_t  purged = 0;
	int       rv;

	if (ids == NULL) {
		return (TASQ_EXIT_FAIL);
	}
	for (int i = 0; i < nargs; i++) {
		if (!parse_id(args[i], &ids[i])) {
			fprintf(stderr,
			    "tasq: '%.40s' is not a dead letter id\n",
			    args[i]);
			free(ids);
			return (TASQ_EXIT_USAGE);
		}
	}
	rv = dead_purge(c, ids, (size_t) nargs, dopt.all, &purged);
	free(ids);
	if (rv != 0) {
		return (TASQ_EXIT_FAIL);
	}
	printf("purged %" PRIu64 "\n", purged);
	return (TASQ_EXIT_OK);
}

int
tasq_cmd_dead(tasq_client *c, int argc, char **argv)
{
	const tasq_opt *const tables[] = { dead_opts, NULL };
	char                **args     = NULL;
	int                   nargs, rv;
	const char           *sub;
	uint64_t              id = 0;

	if ((rv = tasq_client_parse(
	         dead_opts, usage, argc, argv, &args, &nargs)) >= 0) {
		goto out;
	}
	rv = TASQ_EXIT_USAGE;
	if (nargs < 1) {
		fprintf(
		    stderr, "tasq: dead needs list, show, retry or purge\n");
		goto out;
	}
	sub = args[0];
	if (dopt.queue != NULL && !tasq_wire_valid_name(dopt.queue)) {
		fprintf(stderr,
		    "tasq: --queue must be 1-64 characters of "
		    "[A-Za-z0-9._-]\n");
		goto out;
	}
	if (strcmp(sub, "list") == 0 && nargs == 1) {
	} else if (strcmp(sub, "show") == 0 && nargs == 2 &&
	    parse_id(args[1], &id)) {
	} else if ((strcmp(sub, "retry") == 0 || strcmp(sub, "purge") == 0) &&
	    ((dopt.all && nargs == 1) || (!dopt.all && nargs > 1))) {
	} else {
		fprintf(stderr,
		    "tasq: dead list | show ID | retry ID...|--all | "
		    "purge ID...|--all (see tasq dead --help)\n");
		goto out;
	}
	if ((rv = tasq_client_connect(c)) != 0) {
		goto out;
	}
	if (strcmp(sub, "list") == 0) {
		rv = cmd_list(c);
	} else if (strcmp(sub, "show") == 0) {
		rv = cmd_show(c, id);
	} else if (strcmp(sub, "retry") == 0) {
		rv = cmd_retry(c, args + 1, nargs - 1);
	} else {
		rv = cmd_purge(c, args + 1, nargs - 1);
	}
out:
	fflush(stdout);
	free(args);
	tasq_opt_free(tables);
	return (rv);
}
