// shard_loop: one closed client loop of shard.lan_aggregate (issue 15) on
// the public library: one session, then NJOBS jobs one after the other,
// each of the payloads (one a line of PAYLOADS) with type sha256, every
// result checked against the digest on the same line of WANT and in input
// order (exactly once: each index once, in order, none missing).
//   tasq-bench-shard-loop SERVER KEYFILE PAYLOADS WANT NJOBS
// SERVER is one URL or a list. What `tasq submit` does per job, minus
// the process start and the session open that a `tasq` process pays per
// job (with a list: a dial and a Health probe of every server, across
// their loaded links), so that the loop's rate is the servers'. Exit 0:
// every job complete and right; 1: the first failure, on stderr.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tasq/tasq.h>

enum { MAX_LINES = 4096 };

struct check {
	char **want; // the digests, hex, one per payload
	size_t n;
	size_t next; // the index expected next
	int    bad;  // results out of order, wrong or failed
	char   why[256];
};

static void
on_result(void *arg, const tasq_result *r)
{
	struct check *c = arg;

	if (c->bad) {
		return;
	}
	if (r->index != c->next || r->index >= c->n || r->code != 0 ||
	    r->len != strlen(c->want[r->index]) ||
	    memcmp(r->data, c->want[r->index], r->len) != 0) {
		snprintf(c->why, sizeof(c->why),
		    "result %llu (expected %zu next): code %d, %zu bytes, "
		    "%s",
		    (unsigned long long) r->index, c->next, r->code, r->len,
		    r->code != 0 ? r->error : "not the payload's digest");
		c->bad = 1;
		return;
	}
	c->next++;
}

// Reads up to MAX_LINES lines of path (newline dropped) into *lines.
static size_t
read_lines(const char *path, char ***lines)
{
	FILE  *f    = fopen(path, "r");
	char  *line = NULL;
	size_t cap = 0, n = 0;
	long   len;

	*lines = calloc(MAX_LINES, sizeof(**lines));
	if (f == NULL || *lines == NULL) {
		fprintf(stderr, "shard_loop: cannot read %s\n", path);
		exit(1);
	}
	while (n < MAX_LINES && (len = (long) getline(&line, &cap, f)) > 0) {
		if (line[len - 1] == '\n') {
			line[--len] = '\0';
		}
		if (((*lines)[n++] = strdup(line)) == NULL) {
			exit(1);
		}
	}
	free(line);
	fclose(f);
	return (n);
}

int
main(int argc, char **argv)
{
	tasq_opts    *o = NULL;
	tasq_session *s = NULL;
	char        **payloads;
	struct check  c;
	size_t        np;
	long          njobs;
	int           rv;

	if (argc != 6 || (njobs = atol(argv[5])) < 1) {
		fprintf(stderr,
		    "usage: tasq-bench-shard-loop SERVER KEYFILE "
		    "PAYLOADS WANT NJOBS\n");
		return (2);
	}
	memset(&c, 0, sizeof(c));
	np  = read_lines(argv[3], &payloads);
	c.n = read_lines(argv[4], &c.want);
	if (np == 0 || np != c.n) {
		fprintf(stderr, "shard_loop: %zu payloads, %zu digests\n", np,
		    c.n);
		return (1);
	}
	if ((rv = tasq_opts_alloc(&o)) != 0 ||
	    (rv = tasq_opts_set(o, "server", argv[1])) != 0 ||
	    (rv = tasq_opts_set(o, "key-file", argv[2])) != 0 ||
	    (rv = tasq_session_open(&s, o)) != 0) {
		fprintf(stderr, "shard_loop: session: %s: %s\n",
		    tasq_errname(rv), tasq_errmsg());
		return (1);
	}
	tasq_opts_free(o);
	for (long j = 1; j <= njobs; j++) {
		tasq_job     *job = NULL;
		tasq_job_opts jo  = TASQ_JOB_OPTS_INIT;
		jo.type           = "sha256";
		jo.result_cb      = on_result;
		jo.result_arg     = &c;
		c.next            = 0;
		if ((rv = tasq_job_open(&job, s, &jo)) == 0) {
			for (size_t i = 0; i < np && rv == 0; i++) {
				rv = tasq_job_add(
				    job, payloads[i], strlen(payloads[i]));
			}
			if (rv == 0 && (rv = tasq_job_finish(job)) == 0) {
				rv = tasq_job_wait(job);
			}
		}
		if (rv != 0) {
			fprintf(stderr, "shard_loop: job %ld: %s: %s\n", j,
			    tasq_errname(rv), tasq_errmsg());
		} else if (c.bad || c.next != c.n) {
			fprintf(stderr, "shard_loop: job %ld: %s\n", j,
			    c.bad ? c.why : "results missing");
			rv = 1;
		}
		tasq_job_free(job);
		if (rv != 0) {
			tasq_session_free(s);
			return (1);
		}
	}
	tasq_session_free(s);
	return (0);
}
