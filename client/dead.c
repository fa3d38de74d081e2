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

#include "client.h"
#include "clock.h"

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

// One page of dead letters (free it with tasq_dead_list_free).
static int
dead_list(tasq_session *s, uint64_t after, uint32_t max, bool payloads,
    tasq_dead_list **lp)
{
	static bool warned;
	int         rv;

	if ((rv = tasq_dead_get(lp, s, dopt.queue, after, max, payloads)) !=
	    0) {
		fprintf(stderr, "tasq: dead list: %s\n", tasq_errmsg());
	} else if ((*lp)->missing != NULL && !warned) {
		// Several servers, some down: their letters are not listed.
		fprintf(stderr,
		    "tasq: dead: warning: not listed, no answer: %s\n",
		    (*lp)->missing);
		warned = true;
	}
	return (rv);
}

static int
dead_purge(
    tasq_session *s, const uint64_t *ids, size_t n, bool all, uint64_t *purged)
{
	uint64_t k = 0;
	int      rv;

	if ((rv = tasq_dead_purge(&k, s, dopt.queue, ids, n, all)) != 0) {
		fprintf(stderr, "tasq: dead purge: %s\n", tasq_errmsg());
		return (rv);
	}
	*purged += k;
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

static void
print_letter(const tasq_dead_entry *d, bool payload)
{
	const uint8_t *pl = d->payload;
	char           age[32];

	fmt_age(age, sizeof(age), d->time_ms);
	if (dopt.json) {
		printf("{\"id\":%" PRIu64 ",\"job_id\":\"%016" PRIx64
		       "\",\"task_id\":%" PRIu64 ",\"queue\":",
		    d->id, d->job_id, d->task_id);
		json_str(stdout, d->queue, strlen(d->queue));
		printf(",\"type\":");
		json_str(stdout, d->type, strlen(d->type));
		printf(",\"attempts\":%" PRIu32 ",\"code\":\"%s\",\"error\":",
		    d->attempts, tasq_errname(d->code));
		json_str(stdout, d->error, strlen(d->error));
		printf(",\"time_ms\":%" PRIu64 ",\"age\":\"%s\""
		       ",\"payload_len\":%" PRIu32,
		    d->time_ms, age, d->payload_len);
		if (payload && is_text(pl, d->payload_size)) {
			printf(",\"payload\":");
			json_str(stdout, (const char *) d->payload,
			    d->payload_size);
		} else if (payload) {
			printf(",\"payload_hex\":\"");
			for (size_t i = 0; i < d->payload_size; i++) {
				printf("%02x", pl[i]);
			}
			printf("\"");
		}
		printf("}\n");
		return;
	}
	if (!payload) {
		printf("%-8" PRIu64 " %6s %-16s %-16s %8" PRIu32 " %-18s %s\n",
		    d->id, age, d->queue, d->type, d->attempts,
		    tasq_errname(d->code), d->error);
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
	    tasq_errname(d->code), d->error, age, d->time_ms, d->payload_len,
	    d->payload_size == 0               ? ""
	        : is_text(pl, d->payload_size) ? ", text:"
	                                       : ", hex:");
	if (d->payload_size == 0) {
		return;
	}
	if (is_text(pl, d->payload_size)) {
		fwrite(pl, 1, d->payload_size, stdout);
		if (pl[d->payload_size - 1] != '\n') {
			putchar('\n');
		}
		return;
	}
	for (size_t i = 0; i < d->payload_size; i += 16) {
		printf("%08zx ", i);
		for (size_t j = i; j < i + 16 && j < d->payload_size; j++) {
			printf(" %02x", pl[j]);
		}
		putchar('\n');
	}
}

static int
cmd_list(tasq_session *s)
{
	uint64_t after = 0;
	size_t   shown = 0;

	if (!dopt.json) {
		printf("%-8s %6s %-16s %-16s %8s %-18s %s\n", "ID", "AGE",
		    "QUEUE", "TYPE", "ATTEMPTS", "CODE", "ERROR");
	}
	for (;;) {
		tasq_dead_list *l;
		if (dead_list(s, after, PAGE_PLAIN, false, &l) != 0) {
			return (TASQ_EXIT_FAIL);
		}
		size_t n = l->n;
		for (size_t i = 0; i < n; i++) {
			print_letter(&l->letters[i], false);
			after = l->letters[i].id;
		}
		shown += n;
		tasq_dead_list_free(l);
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

// Fetches letter id with its payload into *lp; 1 when there is none.
static int
get_letter(tasq_session *s, uint64_t id, tasq_dead_list **lp)
{
	if (dead_list(s, id - 1, 1, true, lp) != 0) {
		return (-1);
	}
	if ((*lp)->n != 1 || (*lp)->letters[0].id != id) {
		tasq_dead_list_free(*lp);
		*lp = NULL;
		return (1);
	}
	return (0);
}

static int
cmd_show(tasq_session *s, uint64_t id)
{
	tasq_dead_list *l;
	int             rv;

	if ((rv = get_letter(s, id, &l)) != 0) {
		if (rv > 0) {
			fprintf(
			    stderr, "tasq: no dead letter %" PRIu64 "\n", id);
		}
		return (TASQ_EXIT_FAIL);
	}
	print_letter(&l->letters[0], true);
	tasq_dead_list_free(l);
	return (TASQ_EXIT_OK);
}

struct group {
	const tasq_dead_entry **d; // the letters, in id order
	size_t                  n;
	// Results by task index.
	int    *code; // 0 or TASQ_ERR_BASE + code
	char  **res;  // result bytes (NUL-terminated copies)
	size_t *rlen;
	char  **error;
};

static void
group_fini(struct group *g)
{
	for (size_t i = 0; i < g->n && g->res != NULL; i++) {
		free(g->res[i]);
		free(g->error[i]);
	}
	free(g->d);
	free(g->code);
	free(g->res);
	free(g->rlen);
	free(g->error);
}

static int64_t
le64(const void *p)
{
	const uint8_t *b = p;
	uint64_t       u = 0;

	for (int k = 7; k >= 0; k--) {
		u = (u << 8) | b[k];
	}
	return ((int64_t) u);
}

// Prints a letter's new result: "ID result" (square: "ID input result"),
// or "ID error: CODE message".
static void
print_retried(const struct group *g, size_t i)
{
	const tasq_dead_entry *d      = g->d[i];
	bool                   square = strcmp(d->type, "square") == 0;

	printf("%" PRIu64 " ", d->id);
	if (square && d->payload_size == 8) {
		printf("%" PRId64 " ", le64(d->payload));
	}
	if (g->code[i] != 0) {
		printf("error: %s %s\n", tasq_errname(g->code[i]),
		    g->error[i] != NULL ? g->error[i]
		                        : tasq_errstr(g->code[i]));
		return;
	}
	if (square && g->rlen[i] == 8) {
		printf("%" PRId64 "\n", le64(g->res[i]));
		return;
	}
	size_t n = g->rlen[i];
	if (n > 0 && g->res[i][n - 1] == '\n') {
		n--;
	}
	fwrite(g->res[i], 1, n, stdout);
	putchar('\n');
}

// Submits the group's payloads as a new job of their queue and type
// and collects the results (in input order: the letters' order).
// Returns an exit code.
static int
run_group(tasq_session *s, struct group *g, uint64_t deadline, bool *failed)
{
	const tasq_dead_entry *d0       = g->d[0];
	tasq_job_opts          o        = TASQ_JOB_OPTS_INIT;
	const void           **payloads = calloc(g->n, sizeof(*payloads));
	size_t                *lens     = calloc(g->n, sizeof(*lens));
	tasq_job              *job      = NULL;
	tasq_aio              *aio      = NULL;
	size_t                 got      = 0;
	int                    rv       = TASQ_EXIT_FAIL, k;

	g->code  = calloc(g->n, sizeof(*g->code));
	g->res   = calloc(g->n, sizeof(*g->res));
	g->rlen  = calloc(g->n, sizeof(*g->rlen));
	g->error = calloc(g->n, sizeof(*g->error));
	if (payloads == NULL || lens == NULL || g->code == NULL ||
	    g->res == NULL || g->rlen == NULL || g->error == NULL) {
		fprintf(stderr, "tasq: out of memory\n");
		goto out;
	}
	for (size_t i = 0; i < g->n; i++) {
		const tasq_dead_entry *d = g->d[i];
		if (strcmp(d0->type, "square") == 0 && d->payload_size != 8) {
			fprintf(stderr,
			    "tasq: dead letter %" PRIu64
			    ": a square payload of %zu bytes\n",
			    d->id, d->payload_size);
			goto out;
		}
		payloads[i] = d->payload != NULL ? d->payload : "";
		lens[i]     = d->payload_size;
	}
	o.queue = d0->queue;
	o.type  = d0->type;
	if (tasq_aio_alloc(&aio, NULL, NULL) != 0 ||
	    tasq_job_submit(&job, s, &o, payloads, lens, g->n) != 0) {
		fprintf(stderr, "tasq: submit: %s\n", tasq_errmsg());
		goto out;
	}
	// The library retries a server that cannot be reached for ever:
	// the deadline bounds each wait.
	while (got < g->n) {
		tasq_result r;
		uint64_t    now = tasq_clock_mono_ms();
		if (deadline != 0 && now >= deadline) {
			k = TASQ_EDEADLINE_EXCEEDED;
		} else {
			uint64_t left = deadline != 0 ? deadline - now : 0;
			tasq_aio_set_timeout(aio,
			    deadline == 0          ? -1
			        : left > INT32_MAX ? INT32_MAX
			                           : (int32_t) left);
			if ((k = tasq_job_next_aio(job, &r, aio)) == 0) {
				tasq_aio_wait(aio);
				k = tasq_aio_result(aio);
			}
		}
		if (k == TASQ_EDEADLINE_EXCEEDED && deadline != 0 &&
		    tasq_clock_mono_ms() >= deadline) {
			fprintf(stderr,
			    "tasq: timed out with %zu of %zu results\n", got,
			    g->n);
			goto out;
		}
		if (k != 0) {
			fprintf(stderr, "tasq: fetch: %s\n",
			    tasq_aio_errmsg(aio)[0] != '\0'
			        ? tasq_aio_errmsg(aio)
			        : tasq_errstr(k));
			goto out;
		}
		size_t id = (size_t) r.index;
		if (id >= g->n) {
			continue;
		}
		got++;
		g->code[id] = r.code;
		if (r.code != 0 && r.error != NULL && r.error[0] != '\0') {
			g->error[id] = strdup(r.error);
		}
		if ((g->res[id] = malloc(r.len + 1)) != NULL && r.len > 0) {
			memcpy(g->res[id], r.data, r.len);
		}
		g->rlen[id] = g->res[id] != NULL ? r.len : 0;
	}
	for (size_t i = 0; i < g->n; i++) {
		print_retried(g, i);
		if (g->code[i] != 0) {
			*failed = true;
		}
	}
	rv = 0;
out:
	tasq_aio_free(aio);
	tasq_job_free(job);
	free(payloads);
	free(lens);
	return (rv);
}

// Retries one page of letters: a job per (queue, type), then purges the
// page's letters that have their new results.
static int
retry_page(tasq_session *s, const tasq_dead_entry *ls, size_t n,
    uint64_t deadline, bool *failed, uint64_t *purged)
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
		if ((rv = run_group(s, &g, deadline, failed)) == 0) {
			for (size_t k = 0; k < g.n; k++) {
				ids[nids++] = g.d[k]->id;
			}
		}
		group_fini(&g);
	}
	fflush(stdout);
	if (nids > 0 && dead_purge(s, ids, nids, false, purged) != 0) {
		rv = TASQ_EXIT_FAIL;
	}
	free(done);
	free(ids);
	return (rv);
}

static int
cmd_retry(tasq_session *s, char **args, int nargs)
{
	uint64_t deadline =
	    dopt.timeout_ms ? tasq_clock_mono_ms() + dopt.timeout_ms : 0;
	bool     failed = false;
	uint64_t purged = 0;
	int      rv     = 0;

	if (dopt.all) {
		uint64_t after = 0;
		for (;;) {
			tasq_dead_list *l;
			if (dead_list(s, after, PAGE_PAYLOADS, true, &l) !=
			    0) {
				return (TASQ_EXIT_FAIL);
			}
			size_t n = l->n;
			if (n > 0) {
				after = l->letters[n - 1].id;
				rv    = retry_page(s, l->letters, n, deadline,
				       &failed, &purged);
			}
			tasq_dead_list_free(l);
			if (n == 0 || rv != 0) {
				break;
			}
		}
	} else {
		for (int i = 0; i < nargs && rv == 0; i++) {
			tasq_dead_list *l;
			uint64_t        id;
			int             k;
			if (!parse_id(args[i], &id)) {
				fprintf(stderr,
				    "tasq: '%.40s' is not a dead "
				    "letter id\n",
				    args[i]);
				return (TASQ_EXIT_USAGE);
			}
			if ((k = get_letter(s, id, &l)) != 0) {
				if (k > 0) {
					fprintf(stderr,
					    "tasq: no dead letter %" PRIu64
					    "\n",
					    id);
				}
				rv = TASQ_EXIT_FAIL;
				break;
			}
			rv = retry_page(
			    s, l->letters, 1, deadline, &failed, &purged);
			tasq_dead_list_free(l);
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
cmd_purge(tasq_session *s, char **args, int nargs)
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
	rv = dead_purge(s, ids, (size_t) nargs, dopt.all, &purged);
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
	tasq_session         *s;

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
	if (dopt.queue != NULL && !tasq_client_valid_name(dopt.queue)) {
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
	if ((rv = tasq_client_session(c, &s)) != 0) {
		goto out;
	}
	if (strcmp(sub, "list") == 0) {
		rv = cmd_list(s);
	} else if (strcmp(sub, "show") == 0) {
		rv = cmd_show(s, id);
	} else if (strcmp(sub, "retry") == 0) {
		rv = cmd_retry(s, args + 1, nargs - 1);
	} else {
		rv = cmd_purge(s, args + 1, nargs - 1);
	}
out:
	fflush(stdout);
	free(args);
	tasq_opt_free(tables);
	return (rv);
}
