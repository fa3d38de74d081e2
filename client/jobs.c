// tasq jobs, status, results, wait and cancel: the jobs a server holds,
// one job's state, a detached job's results (from any host, as often as
// asked until they expire), waiting for a job to finish and cancelling
// one (docs/PROTOCOL.md 9.11-9.15).
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "client.h"
#include "err.h"
#include "statsfmt.h"

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
	return (
	    s >= 0 && s <= TASQ_JOB_CANCELLED ? state_names[s] : "unknown");
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
print_info_json_end(const tasq_job_info *j, const char *end)
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
print_info_json(const tasq_job_info *j)
{
	print_info_json_end(j, "\n");
}

static void
print_info_text(const tasq_job_info *j)
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
	    (j->state == TASQ_JOB_DONE || j->state == TASQ_JOB_CANCELLED)) {
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

// One job's status; returns an exit code (message printed) or -1 with
// *rep filled (release with tasq_wire_rep_fini).
static int
job_status(tasq_client *c, uint64_t id, tasq_rep *rep, bool quiet_gone)
{
	tasq_req req;
	char     err[512];
	int      rv;

	memset(&req, 0, sizeof(req));
	req.method              = TASQ_M_JOB_STATUS;
	req.u.job_status.job_id = id;
	rv                      = tasq_chan_call(
	                         c->chan, &req, (uint32_t) c->timeout_ms, rep, err, sizeof(err));
	if (rv == 0) {
		return (-1);
	}
	if (!quiet_gone || rv != TASQ_ENOT_FOUND) {
		fprintf(stderr, "tasq: job %016" PRIx64 ": %s\n", id, err);
	}
	return (TASQ_EXIT_FAIL);
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
	tasq_rep              rep;
	uint64_t              id;
	bool                  json;
	int                   rv;

	if ((rv = parse_one(status_opts, status_usage, argc, argv, "status",
	         &id, &json)) >= 0 ||
	    (rv = tasq_client_connect(c)) != 0) {
		goto out;
	}
	if ((rv = job_status(c, id, &rep, false)) >= 0) {
		goto out;
	}
	if (json) {
		print_info_json(&rep.u.job_status.job);
	} else {
		print_info_text(&rep.u.job_status.job);
	}
	tasq_wire_rep_fini(&rep);
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
	tasq_req              req;
	tasq_rep              rep;
	char                  err[512];
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
	if (jopt.queue != NULL && !tasq_wire_valid_name(jopt.queue)) {
		fprintf(stderr,
		    "tasq: --queue must be 1-64 characters of "
		    "[A-Za-z0-9._-]\n");
		rv = TASQ_EXIT_USAGE;
		goto out;
	}
	if ((rv = tasq_client_format(jopt.format, jopt.json, &json)) != 0 ||
	    (rv = tasq_client_connect(c)) != 0) {
		goto out;
	}
	memset(&req, 0, sizeof(req));
	req.method           = TASQ_M_JOB_LIST;
	req.u.job_list.queue = jopt.queue != NULL ? jopt.queue : "";
	req.u.job_list.max   = (uint32_t) jopt.max;
	if ((rv = tasq_chan_call(c->chan, &req, (uint32_t) c->timeout_ms, &rep,
	         err, sizeof(err))) != 0) {
		fprintf(stderr, "tasq: jobs: %s\n", err);
		rv = TASQ_EXIT_FAIL;
		goto out;
	}
	if (!json) {
		printf("%-16s  %-12s  %-10s  %-7s  %10s  %10s  %8s  %8s  %s\n",
		    "JOB", "QUEUE", "TYPE", "STATE", "SUBMITTED", "DONE",
		    "FAILED", "AGE", "HOST");
	}
	for (size_t i = 0; i < rep.u.job_list.n; i++) {
		const tasq_job_info *j = &rep.u.job_list.jobs[i];
		char                 age[32];
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
	if (rep.u.job_list.total > rep.u.job_list.n) {
		fprintf(stderr, "tasq: %" PRIu64 " more jobs not listed\n",
		    rep.u.job_list.total - rep.u.job_list.n);
	}
	tasq_wire_rep_fini(&rep);
	rv = 0;
out:
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

// Prints the results of one reply; counts failures in *failed.
static void
print_results(const tasq_rep *rep, bool square, bool json, uint64_t *failed)
{
	const tasq_blobs *col = &rep->u.results.results;
	size_t            off = 0;

	for (size_t i = 0; i < rep->u.results.n; i++) {
		uint32_t code =
		    rep->u.results.codes ? rep->u.results.codes[i] : 0;
		const char *e =
		    rep->u.results.errors ? rep->u.results.errors[i] : "";
		size_t         len = col->width ? col->width : col->lens[i];
		const uint8_t *p   = len > 0 ? col->data + off : NULL;
		off += len;
		if (code != 0) {
			(*failed)++;
		}
		if (json) {
			printf("{\"index\":%" PRIu64 ",\"code\":\"%s\","
			       "\"error\":",
			    rep->u.results.ids[i], tasq_err_name((int) code));
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
			printf("error: %s %s\n", tasq_err_name((int) code), e);
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
	uint64_t              id, from = 0, failed = 0;
	nng_time              deadline = 0;
	unsigned              fails    = 0;
	bool                  json;
	static char           obuf[1 << 16];
	int                   rv;

	if ((rv = parse_one(results_opts, results_usage, argc, argv, "results",
	         &id, &json)) >= 0 ||
	    (rv = tasq_client_connect(c)) != 0) {
		goto out;
	}
	setvbuf(stdout, obuf, _IOFBF, sizeof(obuf));
	if (jopt.timeout_ms != 0) {
		deadline = nng_clock() + jopt.timeout_ms;
	}
	for (;;) {
		tasq_req req;
		tasq_rep rep;
		char     err[512];
		uint32_t wait = jopt.wait ? (uint32_t) jopt.poll_wait_ms : 0;

		memset(&req, 0, sizeof(req));
		req.method               = TASQ_M_RESULTS;
		req.u.results.job_id     = id;
		req.u.results.from_index = from;
		req.u.results.max        = 65536;
		req.u.results.wait_ms    = wait;
		rv                       = tasq_chan_call(c->chan, &req,
		                          (uint32_t) (c->timeout_ms + wait), &rep, err, sizeof(err));
		if (rv != 0 && jopt.wait &&
		    (rv == TASQ_EUNAVAILABLE || rv == NNG_ETIMEDOUT ||
		        rv == TASQ_EDEADLINE_EXCEEDED || rv == NNG_ECLOSED ||
		        rv == NNG_ECONNREFUSED || rv == NNG_ECONNRESET) &&
		    (deadline == 0 || nng_clock() < deadline)) {
			// A server restarting: it has the job from its
			// journal (--data-dir), so keep asking.
			if (++fails % 3 == 0) {
				(void) tasq_chan_redial(c->chan);
			}
			nng_msleep(100);
			continue;
		}
		if (rv != 0) {
			fflush(stdout);
			fprintf(stderr,
			    "tasq: results of %016" PRIx64 ": %s\n", id, err);
			rv = TASQ_EXIT_FAIL;
			goto out;
		}
		fails = 0;
		bool square =
		    strcmp(rep.u.results.job.type, TASQ_TYPE_SQUARE) == 0;
		print_results(&rep, square, json, &failed);
		from      = rep.u.results.next_index;
		int    st = rep.u.results.job.state;
		size_t n  = rep.u.results.n;
		tasq_wire_rep_fini(&rep);
		if (n > 0) {
			continue;
		}
		if (st == TASQ_JOB_DONE) {
			break;
		}
		if (st == TASQ_JOB_CANCELLED) {
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
		if (deadline != 0 && nng_clock() >= deadline) {
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
	uint64_t              id;
	nng_time              deadline = 0;
	nng_duration          pause    = 20;
	bool                  json;
	int                   rv;

	if ((rv = parse_one(wait_opts, wait_usage, argc, argv, "wait", &id,
	         &json)) >= 0 ||
	    (rv = tasq_client_connect(c)) != 0) {
		goto out;
	}
	if (jopt.timeout_ms != 0) {
		deadline = nng_clock() + jopt.timeout_ms;
	}
	for (;;) {
		tasq_rep rep;
		if ((rv = job_status(c, id, &rep, false)) >= 0) {
			goto out;
		}
		if (rep.u.job_status.job.state == TASQ_JOB_CANCELLED) {
			if (json) {
				print_info_json(&rep.u.job_status.job);
			} else {
				print_info_text(&rep.u.job_status.job);
			}
			fprintf(stderr,
			    "tasq: job %016" PRIx64 " was cancelled\n", id);
			tasq_wire_rep_fini(&rep);
			rv = TASQ_EXIT_FAIL;
			goto out;
		}
		if (rep.u.job_status.job.state == TASQ_JOB_DONE) {
			if (json) {
				print_info_json(&rep.u.job_status.job);
			} else {
				print_info_text(&rep.u.job_status.job);
			}
			rv = rep.u.job_status.job.failed > 0 ? TASQ_EXIT_TASKS
			                                     : TASQ_EXIT_OK;
			tasq_wire_rep_fini(&rep);
			goto out;
		}
		tasq_wire_rep_fini(&rep);
		if (deadline != 0 && nng_clock() >= deadline) {
			fprintf(stderr,
			    "tasq: timed out waiting for job %016" PRIx64 "\n",
			    id);
			rv = TASQ_EXIT_FAIL;
			goto out;
		}
		// Status is cheap; the pause grows to half a second.
		nng_msleep(pause);
		pause = pause * 2 > 500 ? 500 : pause * 2;
	}
out:
	tasq_opt_free(tables);
	return (rv);
}

int
tasq_cmd_cancel(tasq_client *c, int argc, char **argv)
{
	const tasq_opt *const tables[] = { cancel_opts, NULL };
	tasq_req              req;
	tasq_rep              rep;
	uint64_t              id;
	bool                  json;
	char                  err[512];
	int                   rv;

	if ((rv = parse_one(cancel_opts, cancel_usage, argc, argv, "cancel",
	         &id, &json)) >= 0 ||
	    (rv = tasq_client_connect(c)) != 0) {
		goto out;
	}
	memset(&req, 0, sizeof(req));
	req.method          = TASQ_M_CANCEL;
	req.u.cancel.job_id = id;
	if ((rv = tasq_chan_call(c->chan, &req, (uint32_t) c->timeout_ms, &rep,
	         err, sizeof(err))) != 0) {
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
	if (json) {
		printf("{\"dropped\":%" PRIu64 ",\"running\":%" PRIu32
		       ",\"job\":",
		    rep.u.cancel.dropped, rep.u.cancel.running);
		if (rep.u.cancel.has_job) {
			print_info_json_end(&rep.u.cancel.job, "");
			printf("}\n");
		} else {
			printf("null}\n");
		}
	} else if (rep.u.cancel.dropped == 0 && rep.u.cancel.running == 0) {
		printf("job %016" PRIx64 " is cancelled (nothing queued or "
		       "running was left to stop)\n",
		    id);
	} else {
		printf("job %016" PRIx64 " cancelled: %" PRIu64
		       " queued task%s dropped, %" PRIu32
		       " running task%s told to stop\n",
		    id, rep.u.cancel.dropped,
		    rep.u.cancel.dropped == 1 ? "" : "s", rep.u.cancel.running,
		    rep.u.cancel.running == 1 ? "" : "s");
	}
	if (!json && rep.u.cancel.has_job && rep.u.cancel.job.detached &&
	    rep.u.cancel.job.completed > 0) {
		char ttl[32];
		printf("  %" PRIu64 " result%s kept: tasq results %016" PRIx64
		       " (for %s)\n",
		    rep.u.cancel.job.completed,
		    rep.u.cancel.job.completed == 1 ? "" : "s", id,
		    tasq_fmt_duration(
		        ttl, sizeof(ttl), rep.u.cancel.job.expires_in_ms));
	}
	tasq_wire_rep_fini(&rep);
	rv = TASQ_EXIT_OK;
out:
	tasq_opt_free(tables);
	return (rv);
}
