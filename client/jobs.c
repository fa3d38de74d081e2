// tasq jobs, status, results, wait and cancel: the jobs a server holds,
// one job's state, a detached job's results (from any host, as often as
// asked until they expire), waiting for a job to finish and cancelling
// one (docs/PROTOCOL.md 9.11-9.15).
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "clock.h"
#include "textfmt.h"

static struct {
	bool     json;
	char    *format;
	char    *queue;
	uint64_t max;
	bool     wait;
	uint64_t timeout_ms;
	uint64_t poll_wait_ms;
} jopt;

static const tasq_opt jobs_opts[] = {
	{ "queue", 'q', TASQ_OPT_STR, NULL, NULL, "NAME",
	    "only the jobs of this queue", &jopt.queue, 0, 0, false },
	{ "max", 0, TASQ_OPT_U64, NULL, "1000", "N", "list at most N jobs",
	    &jopt.max, 1, 65536, false },
	{ "json", 0, TASQ_OPT_BOOL, NULL, NULL, NULL,
	    "print JSON (--format json)", &jopt.json, 0, 0, false },
	{ "format", 0, TASQ_OPT_STR, NULL, NULL, "FMT",
	    "text, json or jsonl (one object a line)", &jopt.format, 0, 0,
	    false },
	TASQ_OPT_END,
};

static const tasq_opt status_opts[] = {
	{ "json", 0, TASQ_OPT_BOOL, NULL, NULL, NULL,
	    "print JSON (--format json)", &jopt.json, 0, 0, false },
	{ "format", 0, TASQ_OPT_STR, NULL, NULL, "FMT",
	    "text, json or jsonl (one object a line: the same here)",
	    &jopt.format, 0, 0, false },
	TASQ_OPT_END,
};

static const tasq_opt results_opts[] = {
	{ "wait", 'w', TASQ_OPT_BOOL, NULL, NULL, NULL,
	    "wait for the job to finish, printing results as they come",
	    &jopt.wait, 0, 0, false },
	{ "timeout", 't', TASQ_OPT_MS, NULL, "0", "DURATION",
	    "give up waiting after this long (0: never)", &jopt.timeout_ms, 0,
	    30 * 86400000ULL, false },
	{ "poll-wait", 0, TASQ_OPT_MS, NULL, "1s", "DURATION",
	    "how long each request may wait at the server for results",
	    &jopt.poll_wait_ms, 10, 60000, false },
	{ "json", 0, TASQ_OPT_BOOL, NULL, NULL, NULL,
	    "one JSON object a line (--format jsonl)", &jopt.json, 0, 0,
	    false },
	{ "format", 0, TASQ_OPT_STR, NULL, NULL, "FMT",
	    "text or jsonl (json: the same)", &jopt.format, 0, 0, false },
	TASQ_OPT_END,
};

static const tasq_opt wait_opts[] = {
	{ "timeout", 't', TASQ_OPT_MS, NULL, "0", "DURATION",
	    "give up after this long (0: never)", &jopt.timeout_ms, 0,
	    30 * 86400000ULL, false },
	{ "json", 0, TASQ_OPT_BOOL, NULL, NULL, NULL,
	    "print the final status as JSON", &jopt.json, 0, 0, false },
	{ "format", 0, TASQ_OPT_STR, NULL, NULL, "FMT",
	    "text, json or jsonl (the same here)", &jopt.format, 0, 0, false },
	TASQ_OPT_END,
};

static const tasq_opt cancel_opts[] = {
	{ "json", 0, TASQ_OPT_BOOL, NULL, NULL, NULL,
	    "print the outcome as JSON (--format json)", &jopt.json, 0, 0,
	    false },
	{ "format", 0, TASQ_OPT_STR, NULL, NULL, "FMT",
	    "text, json or jsonl (the same here)", &jopt.format, 0, 0, false },
	TASQ_OPT_END,
};

static const char jobs_usage[] =
    "Usage: tasq [options] jobs [--queue NAME] [--max N] [--json]\n"
    "Lists the jobs the server holds: id, queue, type, state (open:\n"
    "input still coming; running; done; cancelled), tasks submitted,\n"
    "done and failed, age and the host that submitted it.\n";

static const char status_usage[] =
    "Usage: tasq [options] status JOB [--json]\n"
    "Shows one job (JOB: the id tasq submit --detach printed). Exits 1\n"
    "when the server has no such job (unknown, or its results expired).\n";

static const char results_usage[] =
    "Usage: tasq [options] results JOB [--wait] [--timeout DURATION]\n"
    "                              [--json | --format FMT]\n"
    "Prints the results of a detached job in input order, one a line\n"
    "(square: the integer; 'error: CODE text' for a failed task; jsonl:\n"
    "{\"index\",\"code\",\"error\",\"result\"}). Without --wait, a job not\n"
    "yet done prints the results so far and exits 1. Exit status: 0 all\n"
    "OK, 3 some tasks failed, 1 no such job, its results expired, or it\n"
    "was cancelled (the results it had are printed).\n";

static const char wait_usage[] =
    "Usage: tasq [options] wait JOB [--timeout DURATION] [--json]\n"
    "Waits until the job is done (or cancelled) and prints its status.\n"
    "Exit status: 0 every task OK, 3 some tasks failed, 1 no such job,\n"
    "cancelled, timed out or the server could not be reached.\n";

static const char cancel_usage[] =
    "Usage: tasq [options] cancel JOB [--json]\n"
    "Cancels a job: its queued tasks are dropped, the workers running its\n"
    "tasks are told to stop them (exec children get SIGTERM), none of\n"
    "them is retried. Results that were in stay readable (tasq results)\n"
    "until the job's result TTL. Cancelling a cancelled job does nothing.\n"
    "Exit status: 0 cancelled (or already), 1 no such job, the job is\n"
    "already done, or the server is older than cancel.\n";

static const char *const state_names[] = { "open", "running", "done",
	"cancelled" };

static const char *
state_name(int s)
{
	return (s >= 0 && s <= TASQ_JOB_STATE_CANCELLED ? state_names[s]
	                                                : "unknown");
}

// A job id as users see it: 16 lowercase hex digits (1 to 16 taken).
static bool
parse_job(const char *s, uint64_t *id)
{
	uint64_t v = 0;
	size_t   n = strlen(s);

	if (n == 0 || n > 16) {
		return (false);
	}
	for (size_t i = 0; i < n; i++) {
		int c = s[i], d;
		if (c >= '0' && c <= '9') {
			d = c - '0';
		} else if (c >= 'a' && c <= 'f') {
			d = c - 'a' + 10;
		} else if (c >= 'A' && c <= 'F') {
			d = c - 'A' + 10;
		} else {
			return (false);
		}
		v = v << 4 | (uint64_t) d;
	}
	*id = v;
	return (v != 0);
}

// A job's JSON object, then end ("\n", or "" inside another object).
static void
print_info_json_end(const tasq_job_status *j, const char *end)
{
	printf("{\"job\":\"%016" PRIx64 "\",\"queue\":", j->job_id);
	tasq_json_str(stdout, j->queue);
	printf(",\"type\":");
	tasq_json_str(stdout, j->type);
	printf(",\"state\":\"%s\",\"submitted\":%" PRIu64
	       ",\"completed\":%" PRIu64 ",\"failed\":%" PRIu64
	       ",\"age_ms\":%" PRIu64 ",\"host\":",
	    state_name(j->state), j->submitted, j->completed, j->failed,
	    j->age_ms);
	tasq_json_str(stdout, j->host);
	printf(",\"detached\":%s,\"result_ttl_ms\":%" PRIu64
	       ",\"expires_in_ms\":%" PRIu64
	       ",\"no_worker\":%s,\"workers\":%" PRIu32 "}%s",
	    j->detached ? "true" : "false", j->result_ttl_ms, j->expires_in_ms,
	    j->no_worker ? "true" : "false", j->workers, end);
}

static void
print_info_json(const tasq_job_status *j)
{
	print_info_json_end(j, "\n");
}

static void
print_info_text(const tasq_job_status *j)
{
	char age[32], exp[32];

	printf("job %016" PRIx64 "\n", j->job_id);
	printf("  queue %s, type %s, state %s%s\n", j->queue, j->type,
	    state_name(j->state), j->detached ? ", detached" : "");
	printf("  tasks %" PRIu64 " submitted, %" PRIu64 " done, %" PRIu64
	       " failed\n",
	    j->submitted, j->completed, j->failed);
	printf("  host %s, age %s\n", j->host[0] ? j->host : "-",
	    tasq_fmt_duration(age, sizeof(age), j->age_ms));
	if (j->detached &&
	    (j->state == TASQ_JOB_STATE_DONE ||
	        j->state == TASQ_JOB_STATE_CANCELLED)) {
		printf("  results expire in %s\n",
		    tasq_fmt_duration(exp, sizeof(exp), j->expires_in_ms));
	}
	if (j->no_worker) {
		printf(
		    "  no connected worker serves queue %s, type %s (%" PRIu32
		    " worker%s connected, none for it)\n",
		    j->queue, j->type, j->workers, j->workers == 1 ? "" : "s");
	}
}

// Parses the command line of a command that takes one JOB argument:
// -1 to go on, else the exit code (help shown, or an error printed).
static int
parse_one(const tasq_opt *opts, const char *usage, int argc, char **argv,
    const char *name, uint64_t *id, bool *json)
{
	char **args = NULL;
	int    nargs, rv;

	if ((rv = tasq_client_parse(opts, usage, argc, argv, &args, &nargs)) >=
	    0) {
		return (rv);
	}
	if (nargs != 1 || !parse_job(args[0], id)) {
		fprintf(stderr, "tasq: %s takes one job id (16 hex digits)\n",
		    name);
		free(args);
		return (TASQ_EXIT_USAGE);
	}
	free(args);
	if ((rv = tasq_client_format(jopt.format, jopt.json, json)) != 0) {
		return (rv);
	}
	return (-1);
}

int
tasq_cmd_status(tasq_client *c, int argc, char **argv)
{
	const tasq_opt *const tables[] = { status_opts, NULL };
	tasq_job_status       st       = TASQ_JOB_STATUS_INIT;
	tasq_session         *s;
	uint64_t              id;
	bool                  json;
	int                   rv;

	if ((rv = parse_one(status_opts, status_usage, argc, argv, "status",
	         &id, &json)) >= 0 ||
	    (rv = tasq_client_session(c, &s)) != 0) {
		goto out;
	}
	if (tasq_job_status_id(&st, s, id) != 0) {
		// "job ID: why"
		fprintf(stderr, "tasq: %s\n", tasq_errmsg());
		rv = TASQ_EXIT_FAIL;
		goto out;
	}
	if (json) {
		print_info_json(&st);
	} else {
		print_info_text(&st);
	}
	rv = 0;
out:
	tasq_opt_free(tables);
	return (rv);
}

int
tasq_cmd_jobs(tasq_client *c, int argc, char **argv)
{
	const tasq_opt *const tables[] = { jobs_opts, NULL };
	char                **args     = NULL;
	tasq_session         *s;
	tasq_job_list        *l = NULL;
	bool                  json;
	int                   nargs, rv;

	if ((rv = tasq_client_parse(
	         jobs_opts, jobs_usage, argc, argv, &args, &nargs)) >= 0) {
		goto out;
	}
	if (nargs != 0) {
		fprintf(stderr, "tasq: jobs takes no arguments\n");
		rv = TASQ_EXIT_USAGE;
		goto out;
	}
	if (jopt.queue != NULL && !tasq_client_valid_name(jopt.queue)) {
		fprintf(stderr,
		    "tasq: --queue must be 1-64 characters of "
		    "[A-Za-z0-9._-]\n");
		rv = TASQ_EXIT_USAGE;
		goto out;
	}
	if ((rv = tasq_client_format(jopt.format, jopt.json, &json)) != 0 ||
	    (rv = tasq_client_session(c, &s)) != 0) {
		goto out;
	}
	if (tasq_server_jobs(&l, s, jopt.queue, (uint32_t) jopt.max) != 0) {
		fprintf(stderr, "tasq: jobs: %s\n", tasq_errmsg());
		rv = TASQ_EXIT_FAIL;
		goto out;
	}
	if (!json) {
		printf("%-16s  %-12s  %-10s  %-7s  %10s  %10s  %8s  %8s  %s\n",
		    "JOB", "QUEUE", "TYPE", "STATE", "SUBMITTED", "DONE",
		    "FAILED", "AGE", "HOST");
	}
	for (size_t i = 0; i < l->n; i++) {
		const tasq_job_status *j = &l->jobs[i];
		char                   age[32];
		if (json) {
			print_info_json(j);
			continue;
		}
		printf("%016" PRIx64 "  %-12s  %-10s  %-7s  %10" PRIu64
		       "  %10" PRIu64 "  %8" PRIu64 "  %8s  %s\n",
		    j->job_id, j->queue, j->type, state_name(j->state),
		    j->submitted, j->completed, j->failed,
		    tasq_fmt_duration(age, sizeof(age), j->age_ms),
		    j->host[0] ? j->host : "-");
	}
	if (l->total > l->n) {
		fprintf(stderr, "tasq: %" PRIu64 " more jobs not listed\n",
		    l->total - l->n);
	}
	if (l->missing != NULL) {
		// Several servers, some down: their jobs are not listed.
		fprintf(stderr,
		    "tasq: jobs: warning: not listed, no answer: %s\n",
		    l->missing);
	}
	rv = 0;
out:
	tasq_job_list_free(l);
	free(args);
	tasq_opt_free(tables);
	return (rv);
}

static bool
printable(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] < 0x20 && p[i] != '\t') {
			return (false);
		}
	}
	return (true);
}

static void
json_bytes(const uint8_t *p, size_t n)
{
	// Results that are text with no control characters as a string,
	// others as hex (a plain, unambiguous form).
	if (printable(p, n)) {
		char *s = malloc(n + 1);
		if (s != NULL) {
			if (n > 0) {
				memcpy(s, p, n);
			}
			s[n] = '\0';
			tasq_json_str(stdout, s);
			free(s);
			return;
		}
	}
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		printf("%02x", p[i]);
	}
	printf("\",\"hex\":true");
}

// Prints the results of one page; counts failures in *failed.
static void
print_results(
    const tasq_results *page, bool square, bool json, uint64_t *failed)
{
	for (size_t i = 0; i < page->n; i++) {
		const tasq_result *r    = &page->results[i];
		int                code = r->code;
		const char        *e    = r->error;
		size_t             len  = r->len;
		const uint8_t     *p    = r->data;
		if (code != 0) {
			(*failed)++;
		}
		if (json) {
			printf("{\"index\":%" PRIu64 ",\"code\":\"%s\","
			       "\"error\":",
			    r->index, tasq_errname(code));
			tasq_json_str(stdout, code != 0 ? e : "");
			printf(",\"result\":");
			if (square && len == 8) {
				int64_t v;
				memcpy(&v, p, 8);
				printf("%" PRId64, v);
			} else {
				json_bytes(p, len);
			}
			printf("}\n");
			continue;
		}
		if (code != 0) {
			printf("error: %s %s\n", tasq_errname(code), e);
		} else if (square && len == 8) {
			int64_t v;
			memcpy(&v, p, 8);
			printf("%" PRId64 "\n", v);
		} else {
			size_t n = len;
			if (n > 0 && p[n - 1] == '\n') {
				n--;
			}
			if (n > 0) {
				fwrite(p, 1, n, stdout);
			}
			putchar('\n');
		}
	}
}

int
tasq_cmd_results(tasq_client *c, int argc, char **argv)
{
	const tasq_opt *const tables[] = { results_opts, NULL };
	uint64_t              id, from = 0, failed = 0, deadline = 0;
	tasq_session         *s;
	bool                  json;
	static char           obuf[1 << 16];
	int                   rv;

	if ((rv = parse_one(results_opts, results_usage, argc, argv, "results",
	         &id, &json)) >= 0 ||
	    (rv = tasq_client_session(c, &s)) != 0) {
		goto out;
	}
	setvbuf(stdout, obuf, _IOFBF, sizeof(obuf));
	if (jopt.timeout_ms != 0) {
		deadline = tasq_clock_mono_ms() + jopt.timeout_ms;
	}
	for (;;) {
		tasq_results *page;
		uint32_t wait = jopt.wait ? (uint32_t) jopt.poll_wait_ms : 0;

		rv = tasq_job_results_id(&page, s, id, from, 65536, wait);
		if (rv != 0 && jopt.wait &&
		    (rv == TASQ_EUNAVAILABLE ||
		        rv == TASQ_EDEADLINE_EXCEEDED) &&
		    (deadline == 0 || tasq_clock_mono_ms() < deadline)) {
			// A server restarting: it has the job from its
			// journal (--data-dir), so keep asking (the library
			// dials afresh after such failures).
			tasq_client_sleep_ms(100);
			continue;
		}
		if (rv != 0) {
			fflush(stdout);
			fprintf(stderr,
			    "tasq: results of %016" PRIx64 ": %s\n", id,
			    tasq_errmsg());
			rv = TASQ_EXIT_FAIL;
			goto out;
		}
		bool square = strcmp(page->job.type, "square") == 0;
		print_results(page, square, json, &failed);
		from      = page->next_index;
		int    st = page->job.state;
		size_t n  = page->n;
		tasq_results_free(page);
		if (n > 0) {
			continue;
		}
		if (st == TASQ_JOB_STATE_DONE) {
			break;
		}
		if (st == TASQ_JOB_STATE_CANCELLED) {
			fflush(stdout);
			fprintf(stderr,
			    "tasq: job %016" PRIx64 " was cancelled: the "
			    "results printed are all it has\n",
			    id);
			rv = TASQ_EXIT_FAIL;
			goto out;
		}
		if (!jopt.wait) {
			fflush(stdout);
			fprintf(stderr,
			    "tasq: job %016" PRIx64 " is not done yet "
			    "(results so far printed; --wait waits)\n",
			    id);
			rv = TASQ_EXIT_FAIL;
			goto out;
		}
		if (deadline != 0 && tasq_clock_mono_ms() >= deadline) {
			fflush(stdout);
			fprintf(stderr,
			    "tasq: timed out waiting for job %016" PRIx64 "\n",
			    id);
			rv = TASQ_EXIT_FAIL;
			goto out;
		}
	}
	rv = failed > 0 ? TASQ_EXIT_TASKS : TASQ_EXIT_OK;
out:
	fflush(stdout);
	setvbuf(stdout, NULL, _IOLBF, 0);
	tasq_opt_free(tables);
	return (rv);
}

int
tasq_cmd_wait(tasq_client *c, int argc, char **argv)
{
	const tasq_opt *const tables[] = { wait_opts, NULL };
	tasq_job_status       st       = TASQ_JOB_STATUS_INIT;
	tasq_session         *s;
	tasq_aio             *aio = NULL;
	uint64_t              id, deadline = 0;
	bool                  json;
	int                   rv;

	if ((rv = parse_one(wait_opts, wait_usage, argc, argv, "wait", &id,
	         &json)) >= 0 ||
	    (rv = tasq_client_session(c, &s)) != 0) {
		goto out;
	}
	if (tasq_aio_alloc(&aio, NULL, NULL) != 0) {
		fprintf(stderr, "tasq: %s\n", tasq_errmsg());
		rv = TASQ_EXIT_FAIL;
		goto out;
	}
	if (jopt.timeout_ms != 0) {
		deadline = tasq_clock_mono_ms() + jopt.timeout_ms;
		tasq_aio_set_timeout(aio,
		    jopt.timeout_ms > INT32_MAX ? INT32_MAX
		                                : (int32_t) jopt.timeout_ms);
	}
	if ((rv = tasq_job_wait_id_aio(&st, s, id, aio)) == 0) {
		tasq_aio_wait(aio);
		rv = tasq_aio_result(aio);
	}
	if (rv == 0 || rv == TASQ_ECANCELLED) {
		if (json) {
			print_info_json(&st);
		} else {
			print_info_text(&st);
		}
	}
	if (rv == 0) {
		rv = st.failed > 0 ? TASQ_EXIT_TASKS : TASQ_EXIT_OK;
	} else if (rv == TASQ_ECANCELLED) {
		fprintf(
		    stderr, "tasq: job %016" PRIx64 " was cancelled\n", id);
		rv = TASQ_EXIT_FAIL;
	} else if (rv == TASQ_EDEADLINE_EXCEEDED && deadline != 0 &&
	    tasq_clock_mono_ms() >= deadline) {
		fprintf(stderr,
		    "tasq: timed out waiting for job %016" PRIx64 "\n", id);
		rv = TASQ_EXIT_FAIL;
	} else {
		// "job ID: why"
		fprintf(stderr, "tasq: %s\n",
		    aio != NULL && tasq_aio_errmsg(aio)[0] != '\0'
		        ? tasq_aio_errmsg(aio)
		        : tasq_errmsg());
		rv = TASQ_EXIT_FAIL;
	}
out:
	tasq_aio_free(aio);
	tasq_opt_free(tables);
	return (rv);
}

int
tasq_cmd_cancel(tasq_client *c, int argc, char **argv)
{
	const tasq_opt *const tables[] = { cancel_opts, NULL };
	tasq_job_status       st       = TASQ_JOB_STATUS_INIT;
	tasq_session         *s;
	uint64_t              id, dropped = 0;
	uint32_t              running = 0;
	bool                  json, has_job;
	const char           *err;
	int                   rv;

	if ((rv = parse_one(cancel_opts, cancel_usage, argc, argv, "cancel",
	         &id, &json)) >= 0 ||
	    (rv = tasq_client_session(c, &s)) != 0) {
		goto out;
	}
	if ((rv = tasq_job_cancel_id(&st, &dropped, &running, s, id)) != 0) {
		err = tasq_errmsg();
		if (rv == TASQ_EUNIMPLEMENTED) {
			fprintf(stderr,
			    "tasq: the server is older than cancel (it "
			    "answered: %s); job %016" PRIx64
			    " cannot be cancelled there\n",
			    err, id);
		} else {
			fprintf(stderr, "tasq: cancel %016" PRIx64 ": %s\n",
			    id, err);
		}
		rv = TASQ_EXIT_FAIL;
		goto out;
	}
	has_job = st.job_id != 0;
	if (json) {
		printf("{\"dropped\":%" PRIu64 ",\"running\":%" PRIu32
		       ",\"job\":",
		    dropped, running);
		if (has_job) {
			print_info_json_end(&st, "");
			printf("}\n");
		} else {
			printf("null}\n");
		}
	} else if (dropped == 0 && running == 0) {
		printf("job %016" PRIx64 " is cancelled (nothing queued or "
		       "running was left to stop)\n",
		    id);
	} else {
		printf("job %016" PRIx64 " cancelled: %" PRIu64
		       " queued task%s dropped, %" PRIu32
		       " running task%s told to stop\n",
		    id, dropped, dropped == 1 ? "" : "s", running,
		    running == 1 ? "" : "s");
	}
	if (!json && has_job && st.detached && st.completed > 0) {
		char ttl[32];
		printf("  %" PRIu64 " result%s kept: tasq results %016" PRIx64
		       " (for %s)\n",
		    st.completed, st.completed == 1 ? "" : "s", id,
		    tasq_fmt_duration(ttl, sizeof(ttl), st.expires_in_ms));
	}
	rv = TASQ_EXIT_OK;
out:
	tasq_opt_free(tables);
	return (rv);
}
