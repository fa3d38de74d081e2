// admin_test: libtasq's "Operating a server" (include/tasq/tasq.h:
// health, stats, the job list, dead letters, and status, wait, results
// and cancel of any job by id) against a real tasq-server and
// tasq-worker on loopback, which tests/lib/admin.sh starts:
// TASQ_TEST_URL is the server, TASQ_TEST_KEY its key file; the workers
// serve square and "fail" (every task fails with "boom") on queues
// adm1 to adm4; nothing serves type "nobody". A test name as argument runs
// that test alone.
#include <inttypes.h>

#include "tasq_test.h"

#include <tasq/tasq.h>

static tasq_session *
open_session(void)
{
	tasq_opts    *o;
	tasq_session *s   = NULL;
	const char   *url = getenv("TASQ_TEST_URL");
	const char   *key = getenv("TASQ_TEST_KEY");

	if (url == NULL || key == NULL) {
		fprintf(
		    stderr, "TASQ_TEST_URL and TASQ_TEST_KEY are needed\n");
		exit(2);
	}
	ASSERT_OK(tasq_opts_alloc(&o));
	ASSERT_OK(tasq_opts_set(o, "server", url));
	ASSERT_OK(tasq_opts_set(o, "key-file", key));
	ASSERT_OK(tasq_session_open(&s, o));
	tasq_opts_free(o);
	ASSERT_NOT_NULL(s);
	return (s);
}

// A job of n squares (0..n-1), of this process; detached or not.
static tasq_job *
submit_squares(tasq_session *s, const char *queue, const char *type, size_t n,
    bool detach)
{
	tasq_job_opts o = TASQ_JOB_OPTS_INIT;
	tasq_job     *job;
	int64_t      *in   = calloc(n, sizeof(*in));
	const void  **p    = calloc(n, sizeof(*p));
	size_t       *lens = calloc(n, sizeof(*lens));

	ASSERT_NOT_NULL(in);
	ASSERT_NOT_NULL(p);
	ASSERT_NOT_NULL(lens);
	for (size_t i = 0; i < n; i++) {
		in[i]   = (int64_t) i;
		p[i]    = &in[i];
		lens[i] = 8;
	}
	o.queue  = queue;
	o.type   = type;
	o.detach = detach;
	ASSERT_OK(tasq_job_submit(&job, s, &o, p, lens, n));
	ASSERT_OK(tasq_job_flush(job));
	free(in);
	free(p);
	free(lens);
	return (job);
}

TEST(health)
{
	tasq_session *s = open_session();
	tasq_health   h = TASQ_HEALTH_INIT, bad = { 0 };

	ASSERT_OK(tasq_server_health(&h, s));
	ASSERT_TRUE(h.serving);
	ASSERT_STR_EQ(h.version, TASQ_VERSION);
	ASSERT_NE(h.server_id, 0);
	ASSERT_EQ(h.size, sizeof(h));
	ASSERT_RV(tasq_server_health(&bad, s), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(tasq_errmsg(), "TASQ_HEALTH_INIT");
	ASSERT_RV(tasq_server_health(NULL, s), TASQ_EINVALID_ARGUMENT);
	tasq_session_free(s);
}

TEST(stats)
{
	tasq_session *s   = open_session();
	char         *doc = NULL;

	ASSERT_OK(tasq_server_stats(&doc, s, TASQ_STATS_TEXT));
	ASSERT_STR_CONTAINS(doc, "server " TASQ_VERSION ", up ");
	ASSERT_STR_CONTAINS(doc, "\nQUEUE ");
	ASSERT_STR_CONTAINS(doc, "\nCOUNTERS\n");
	ASSERT_STR_CONTAINS(doc, "\ndead letters: ");
	tasq_free(doc);
	doc = NULL;
	ASSERT_OK(tasq_server_stats(&doc, s, TASQ_STATS_JSON));
	ASSERT_EQ(doc[0], '{');
	ASSERT_EQ(doc[strlen(doc) - 1], '\n');
	ASSERT_STR_CONTAINS(doc, "\"version\":\"" TASQ_VERSION "\"");
	ASSERT_STR_CONTAINS(doc, "\"queues\":[");
	ASSERT_STR_CONTAINS(doc, "\"dead_total\":");
	tasq_free(doc);
	doc = NULL;
	ASSERT_RV(tasq_server_stats(&doc, s, 7), TASQ_EINVALID_ARGUMENT);
	ASSERT_NULL(doc);
	tasq_free(NULL);
	tasq_session_free(s);
}

// A job of this process, not detached (of a type nobody serves, so that
// it stays at the server): by id, its status, the job list and cancel
// work, where tasq_job_attach refuses it.
TEST(any_job_by_id)
{
	tasq_session   *s   = open_session();
	tasq_job       *job = submit_squares(s, "adm1", "nobody", 25, false);
	uint64_t        id = tasq_job_id(job), dropped = 0;
	tasq_job_status st = TASQ_JOB_STATUS_INIT;
	tasq_job       *other;
	tasq_job_list  *l;
	bool            seen = false;

	ASSERT_RV(
	    tasq_job_attach(&other, s, id, NULL), TASQ_EFAILED_PRECONDITION);
	ASSERT_OK(tasq_job_status_id(&st, s, id));
	ASSERT_EQ(st.size, sizeof(st));
	ASSERT_EQ(st.job_id, id);
	ASSERT_FALSE(st.detached);
	ASSERT_STR_EQ(st.queue, "adm1");
	ASSERT_STR_EQ(st.type, "nobody");
	ASSERT_TRUE(st.state == TASQ_JOB_STATE_OPEN ||
	    st.state == TASQ_JOB_STATE_RUNNING);
	ASSERT_EQ(st.submitted, 25);
	ASSERT_TRUE(st.no_worker);

	ASSERT_OK(tasq_server_jobs(&l, s, "adm1", 0));
	ASSERT_GE(l->total, l->n);
	for (size_t i = 0; i < l->n; i++) {
		ASSERT_EQ(l->jobs[i].size, sizeof(l->jobs[i]));
		ASSERT_STR_EQ(l->jobs[i].queue, "adm1");
		seen = seen || l->jobs[i].job_id == id;
	}
	ASSERT_TRUE(seen);
	tasq_job_list_free(l);
	ASSERT_OK(tasq_server_jobs(&l, s, "adm-none", 5));
	ASSERT_EQ(l->n, 0);
	ASSERT_EQ(l->total, 0);
	tasq_job_list_free(l);
	ASSERT_RV(
	    tasq_server_jobs(&l, s, "bad name", 5), TASQ_EINVALID_ARGUMENT);

	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	ASSERT_OK(tasq_job_cancel_id(&st, &dropped, NULL, s, id));
	ASSERT_EQ(dropped, 25);
	ASSERT_EQ(st.job_id, id);
	ASSERT_EQ(st.state, TASQ_JOB_STATE_CANCELLED);
	ASSERT_RV(tasq_job_wait_id(&st, s, id), TASQ_ECANCELLED);
	tasq_job_free(job);
	tasq_session_free(s);
}

// A wait by id until done; a done job cannot be cancelled.
TEST(wait_done)
{
	tasq_session   *s   = open_session();
	tasq_job       *job = submit_squares(s, "adm1", NULL, 100, true);
	uint64_t        id  = tasq_job_id(job);
	tasq_job_status st  = TASQ_JOB_STATUS_INIT;

	tasq_job_free(job); // detached: it stays at the server
	ASSERT_OK(tasq_job_wait_id(&st, s, id));
	ASSERT_EQ(st.state, TASQ_JOB_STATE_DONE);
	ASSERT_EQ(st.completed, 100);
	ASSERT_EQ(st.failed, 0);
	ASSERT_EQ(st.job_id, id);
	ASSERT_TRUE(st.detached);
	ASSERT_RV(tasq_job_cancel_id(NULL, NULL, NULL, s, id),
	    TASQ_EFAILED_PRECONDITION);
	tasq_session_free(s);
}

TEST(unknown_job)
{
	tasq_session   *s  = open_session();
	tasq_job_status st = TASQ_JOB_STATUS_INIT;
	tasq_results   *r  = NULL;
	uint64_t        id = 0x00adadadadadad01ULL;

	ASSERT_RV(tasq_job_status_id(&st, s, id), TASQ_ENOT_FOUND);
	ASSERT_STR_CONTAINS(tasq_errmsg(), "job 00adadadadadad01: ");
	ASSERT_RV(tasq_job_wait_id(&st, s, id), TASQ_ENOT_FOUND);
	ASSERT_STR_CONTAINS(tasq_errmsg(), "job 00adadadadadad01: ");
	ASSERT_RV(
	    tasq_job_cancel_id(NULL, NULL, NULL, s, id), TASQ_ENOT_FOUND);
	ASSERT_RV(tasq_job_results_id(&r, s, id, 0, 0, 0), TASQ_ENOT_FOUND);
	ASSERT_NULL(r);
	ASSERT_RV(tasq_job_status_id(&st, s, 0), TASQ_EINVALID_ARGUMENT);
	st.size = 8;
	ASSERT_RV(tasq_job_status_id(&st, s, id), TASQ_EINVALID_ARGUMENT);
	tasq_session_free(s);
}

// A detached job's results by id, in pages, blocking and asynchronous.
TEST(results_by_id)
{
	enum { N = 1000 };
	tasq_session *s   = open_session();
	tasq_job     *job = submit_squares(s, "adm2", NULL, N, true);
	uint64_t      id = tasq_job_id(job), from = 0;
	tasq_results *r;
	tasq_aio     *aio;

	tasq_job_free(job); // detached: it stays at the server
	ASSERT_OK(tasq_job_wait_id(NULL, s, id));
	while (from < N) {
		ASSERT_OK(tasq_job_results_id(&r, s, id, from, 300, 0));
		ASSERT_TRUE(r->has_job);
		ASSERT_EQ(r->job.job_id, id);
		ASSERT_STR_EQ(r->job.type, "square");
		ASSERT_GT(r->n, 0);
		ASSERT_LE(r->n, 300);
		for (size_t i = 0; i < r->n; i++) {
			int64_t v;
			ASSERT_EQ(r->results[i].index, from + i);
			ASSERT_EQ(r->results[i].code, 0);
			ASSERT_EQ(r->results[i].len, 8);
			memcpy(&v, r->results[i].data, 8);
			ASSERT_EQ(v, (int64_t) ((from + i) * (from + i)));
		}
		ASSERT_EQ(r->next_index, from + r->n);
		from = r->next_index;
		tasq_results_free(r);
	}
	// The end: nothing more, and the job done.
	ASSERT_OK(tasq_job_results_id(&r, s, id, from, 0, 0));
	ASSERT_EQ(r->n, 0);
	ASSERT_EQ(r->job.state, TASQ_JOB_STATE_DONE);
	tasq_results_free(r);

	// Asynchronous: again from 990, as often as asked.
	r = NULL;
	ASSERT_OK(tasq_aio_alloc(&aio, NULL, NULL));
	ASSERT_OK(tasq_job_results_id_aio(&r, s, id, N - 10, 0, 100, aio));
	tasq_aio_wait(aio);
	ASSERT_OK(tasq_aio_result(aio));
	ASSERT_NOT_NULL(r);
	ASSERT_EQ(r->n, 10);
	ASSERT_EQ(r->results[9].index, N - 1);
	tasq_results_free(r);
	tasq_aio_free(aio);
	tasq_session_free(s);
}

// Cancel by id of a job nobody serves; its wait ends cancelled.
TEST(cancel_by_id)
{
	tasq_session   *s   = open_session();
	tasq_job       *job = submit_squares(s, "adm3", "nobody", 25, true);
	uint64_t        id = tasq_job_id(job), dropped = 99;
	uint32_t        running = 99;
	tasq_job_status st      = TASQ_JOB_STATUS_INIT;
	tasq_aio       *aio;

	tasq_job_free(job);
	// A wait with a timeout expires; one cancelled ends at once.
	ASSERT_OK(tasq_aio_alloc(&aio, NULL, NULL));
	tasq_aio_set_timeout(aio, 300);
	ASSERT_OK(tasq_job_wait_id_aio(&st, s, id, aio));
	tasq_aio_wait(aio);
	ASSERT_RV(tasq_aio_result(aio), TASQ_EDEADLINE_EXCEEDED);
	ASSERT_EQ(st.job_id, 0); // not written
	tasq_aio_set_timeout(aio, -1);
	ASSERT_OK(tasq_job_wait_id_aio(&st, s, id, aio));
	ASSERT_TRUE(tasq_aio_busy(aio));
	tasq_aio_cancel(aio);
	tasq_aio_wait(aio);
	ASSERT_RV(tasq_aio_result(aio), TASQ_ECANCELLED);
	ASSERT_EQ(st.job_id, 0);

	// Waiting in the background while another call cancels it. The
	// cancel gets a status of its own: st is the wait's until its aio
	// ends (TSan saw the two writes race when they shared one).
	tasq_job_status cst = TASQ_JOB_STATUS_INIT;
	ASSERT_OK(tasq_job_wait_id_aio(&st, s, id, aio));
	ASSERT_OK(tasq_job_cancel_id(&cst, &dropped, &running, s, id));
	ASSERT_EQ(dropped, 25);
	ASSERT_EQ(running, 0);
	ASSERT_EQ(cst.job_id, id);
	ASSERT_EQ(cst.state, TASQ_JOB_STATE_CANCELLED);
	tasq_aio_wait(aio);
	ASSERT_RV(tasq_aio_result(aio), TASQ_ECANCELLED);
	ASSERT_EQ(st.job_id, id);
	ASSERT_EQ(st.state, TASQ_JOB_STATE_CANCELLED);
	tasq_aio_free(aio);

	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	ASSERT_OK(tasq_job_status_id(&st, s, id));
	ASSERT_EQ(st.state, TASQ_JOB_STATE_CANCELLED);
	ASSERT_RV(tasq_job_wait_id(&st, s, id), TASQ_ECANCELLED);
	ASSERT_STR_CONTAINS(tasq_errmsg(), "cancelled");
	// Again: a no-op.
	ASSERT_OK(tasq_job_cancel_id(NULL, &dropped, NULL, s, id));
	ASSERT_EQ(dropped, 0);
	tasq_session_free(s);
}

// Dead letters: listed with their payloads, purged by id and all.
TEST(dead_letters)
{
	tasq_session   *s = open_session();
	tasq_job_opts   o = TASQ_JOB_OPTS_INIT;
	tasq_job       *job;
	tasq_result     res;
	tasq_dead_list *l;
	uint64_t        purged = 0, ids[2];
	const char     *in[3]  = { "one", "two", "three" };

	o.queue        = "adm4";
	o.type         = "fail";
	o.max_attempts = 1;
	ASSERT_OK(tasq_job_open(&job, s, &o));
	for (int i = 0; i < 3; i++) {
		ASSERT_OK(tasq_job_add(job, in[i], strlen(in[i])));
	}
	ASSERT_OK(tasq_job_finish(job));
	for (int i = 0; i < 3; i++) {
		ASSERT_OK(tasq_job_next(job, &res));
		ASSERT_NE(res.code, 0);
	}
	uint64_t jid = tasq_job_id(job);
	tasq_job_free(job);

	ASSERT_OK(tasq_dead_get(&l, s, "adm4", 0, 0, true));
	ASSERT_EQ(l->n, 3);
	ASSERT_EQ(l->total, 3);
	for (size_t i = 0; i < 3; i++) {
		const tasq_dead_entry *d = &l->letters[i];
		ASSERT_NE(d->id, 0);
		ASSERT_EQ(d->job_id, jid);
		ASSERT_EQ(d->task_id, i);
		ASSERT_STR_EQ(d->queue, "adm4");
		ASSERT_STR_EQ(d->type, "fail");
		ASSERT_EQ(d->attempts, 1);
		ASSERT_GT(d->code, TASQ_ERR_BASE);
		ASSERT_STR_CONTAINS(d->error, "boom");
		ASSERT_GT(d->time_ms, 0);
		ASSERT_EQ(d->payload_len, strlen(in[i]));
		ASSERT_EQ(d->payload_size, strlen(in[i]));
		ASSERT_MEM_EQ(d->payload, in[i], d->payload_size);
		if (i > 0) {
			ASSERT_GT(d->id, l->letters[i - 1].id);
		}
	}
	ids[0] = l->letters[0].id;
	ids[1] = l->letters[2].id + 1000; // not there: skipped
	tasq_dead_list_free(l);

	// Without payloads, a page after the first.
	ASSERT_OK(tasq_dead_get(&l, s, "adm4", ids[0], 1, false));
	ASSERT_EQ(l->n, 1);
	ASSERT_NULL(l->letters[0].payload);
	ASSERT_EQ(l->letters[0].payload_size, 0);
	ASSERT_EQ(l->letters[0].payload_len, 3);
	tasq_dead_list_free(l);

	ASSERT_OK(tasq_dead_purge(&purged, s, "adm4", ids, 2, false));
	ASSERT_EQ(purged, 1);
	ASSERT_OK(tasq_dead_purge(&purged, s, "adm4", NULL, 0, true));
	ASSERT_EQ(purged, 2);
	ASSERT_OK(tasq_dead_get(&l, s, "adm4", 0, 0, false));
	ASSERT_EQ(l->n, 0);
	tasq_dead_list_free(l);
	ASSERT_RV(
	    tasq_dead_get(&l, s, "", 0, 0, false), TASQ_EINVALID_ARGUMENT);
	ASSERT_RV(tasq_dead_purge(NULL, s, NULL, NULL, 3, false),
	    TASQ_EINVALID_ARGUMENT);
	tasq_session_free(s);
}

// A wait in flight when its session closes ends (the session's free
// waits for its thread).
TEST(wait_then_close)
{
	tasq_session   *s   = open_session();
	tasq_job       *job = submit_squares(s, "adm3", "nobody", 3, true);
	uint64_t        id  = tasq_job_id(job);
	tasq_job_status st  = TASQ_JOB_STATUS_INIT;
	tasq_aio       *aio;

	tasq_job_free(job);
	ASSERT_OK(tasq_aio_alloc(&aio, NULL, NULL));
	tasq_aio_set_timeout(aio, 30000); // a bound for the test only
	ASSERT_OK(tasq_job_wait_id_aio(&st, s, id, aio));
	tasq_session_close(s);
	tasq_aio_wait(aio);
	ASSERT_RV(tasq_aio_result(aio), TASQ_EUNAVAILABLE);
	ASSERT_EQ(st.job_id, 0);
	tasq_session_free(s);
	tasq_aio_free(aio);
	// Cancelled, so that it leaves nothing queued.
	s = open_session();
	ASSERT_OK(tasq_job_cancel_id(NULL, NULL, NULL, s, id));
	tasq_session_free(s);
}

// A closed session: every call says so.
TEST(closed_session)
{
	tasq_session   *s  = open_session();
	tasq_health     h  = TASQ_HEALTH_INIT;
	tasq_job_status st = TASQ_JOB_STATUS_INIT;
	char           *doc;

	tasq_session_close(s);
	ASSERT_RV(tasq_server_health(&h, s), TASQ_EUNAVAILABLE);
	ASSERT_RV(
	    tasq_server_stats(&doc, s, TASQ_STATS_TEXT), TASQ_EUNAVAILABLE);
	ASSERT_RV(tasq_job_wait_id(&st, s, 1), TASQ_EUNAVAILABLE);
	tasq_session_free(s);
}

int
main(int argc, char **argv)
{
	return (tasq_test_main(argc, argv));
}
