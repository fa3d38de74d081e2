// Unit tests of lib/wire: every request and reply survives encode and
// decode field by field, and the decoders refuse inconsistent input.
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "blobs.h"
#include "envelope.h"
#include "err.h"
#include "tasq_test.h"
#include "wire.h"

// ---- helpers -------------------------------------------------------------

// Encoders leave TASQ_ENV_HDR_LEN bytes for the envelope in front of the
// protobuf body; decoders take the body alone.
static int
req_round_trip(const tasq_req *in, tasq_req *out, const char **why)
{
	nng_msg *m;
	int      rv;

	ASSERT_OK(tasq_wire_encode_req(in, &m));
	ASSERT_GE(nng_msg_len(m), TASQ_ENV_HDR_LEN);
	rv = tasq_wire_decode_req(in->method,
	    (uint8_t *) nng_msg_body(m) + TASQ_ENV_HDR_LEN,
	    nng_msg_len(m) - TASQ_ENV_HDR_LEN, out, why);
	nng_msg_free(m);
	return (rv);
}

static int
rep_round_trip(const tasq_rep *in, tasq_rep *out, const char **why)
{
	nng_msg *m;
	int      rv;

	ASSERT_OK(tasq_wire_encode_rep(in, &m));
	ASSERT_GE(nng_msg_len(m), TASQ_ENV_HDR_LEN);
	rv = tasq_wire_decode_rep(in->method,
	    (uint8_t *) nng_msg_body(m) + TASQ_ENV_HDR_LEN,
	    nng_msg_len(m) - TASQ_ENV_HDR_LEN, out, why);
	nng_msg_free(m);
	return (rv);
}

static void
same_results(size_t n, const tasq_result_batch *a, const tasq_result_batch *b)
{
	for (size_t i = 0; i < n; i++) {
		ASSERT_EQ(a[i].lease_id, b[i].lease_id);
		ASSERT_EQ(a[i].job_id, b[i].job_id);
		ASSERT_EQ(a[i].n, b[i].n);
		for (size_t k = 0; k < a[i].n; k++) {
			ASSERT_EQ(a[i].ids[k], b[i].ids[k]);
			ASSERT_EQ(a[i].values[k], b[i].values[k]);
		}
		ASSERT_EQ(a[i].codes == NULL, b[i].codes == NULL);
		for (size_t k = 0; a[i].codes != NULL && k < a[i].n; k++) {
			ASSERT_EQ(a[i].codes[k], b[i].codes[k]);
		}
	}
}

// A minimal protobuf writer, to build bodies that our encoders refuse to
// produce (columns of different lengths).
typedef struct pbuf {
	uint8_t b[2048];
	size_t  n;
} pbuf;

static void
pb_varint(pbuf *p, uint64_t v)
{
	while (v >= 0x80) {
		p->b[p->n++] = (uint8_t) (v | 0x80);
		v >>= 7;
	}
	p->b[p->n++] = (uint8_t) v;
}

static void
pb_uint(pbuf *p, unsigned field, uint64_t v)
{
	pb_varint(p, (uint64_t) field << 3);
	pb_varint(p, v);
}

static void
pb_sub(pbuf *p, unsigned field, const pbuf *sub)
{
	pb_varint(p, (uint64_t) field << 3 | 2);
	pb_varint(p, sub->n);
	memcpy(p->b + p->n, sub->b, sub->n);
	p->n += sub->n;
}

// A packed column of n varints; zigzag for sint64 fields.
static void
pb_packed(pbuf *p, unsigned field, size_t n, bool zigzag)
{
	pbuf s = { .n = 0 };

	for (size_t i = 0; i < n; i++) {
		int64_t v = -(int64_t) i;
		pb_varint(&s,
		    zigzag ? ((uint64_t) v << 1) ^ (uint64_t) (v >> 63)
		           : (uint64_t) i + 1);
	}
	pb_sub(p, field, &s);
}

// ResultBatch (and FetchReply's last columns) with the given lengths.
static pbuf
result_batch(size_t nids, size_t nvalues, size_t ncodes)
{
	pbuf p = { .n = 0 };

	pb_uint(&p, 1, 5); // lease_id
	pb_uint(&p, 2, 6); // job_id
	pb_packed(&p, 3, nids, false);
	pb_packed(&p, 4, nvalues, true);
	if (ncodes > 0) {
		pb_packed(&p, 5, ncodes, false);
	}
	return (p);
}

// ---- method table --------------------------------------------------------

TEST(method_names_and_count)
{
	static const char *const names[] = { "Health", "Submit", "Lease",
		"Complete", "Extend", "Release", "Fetch", "CloseJob", "Stats",
		"DeadList", "DeadPurge" };

	ASSERT_EQ(tasq_wire_method_count(), TASQ_M_COUNT);
	for (int m = TASQ_M_HEALTH; m <= TASQ_M_DEAD_PURGE; m++) {
		ASSERT_STR_EQ(tasq_wire_method_name(m), names[m]);
	}
	ASSERT_NULL(tasq_wire_method_name(-1));
	ASSERT_NULL(tasq_wire_method_name(TASQ_M_COUNT));
}

// ---- requests ------------------------------------------------------------

TEST(request_round_trip_empty_methods)
{
	static const int methods[] = { TASQ_M_HEALTH, TASQ_M_STATS };
	const char      *why;

	for (size_t i = 0; i < 2; i++) {
		tasq_req in = { .method = methods[i] }, out;
		ASSERT_OK(req_round_trip(&in, &out, &why));
		ASSERT_EQ(out.method, methods[i]);
		tasq_wire_req_fini(&out);
	}
}

TEST(request_round_trip_submit)
{
	int64_t     values[] = { 0, 1, -1, INT64_MIN, INT64_MAX, 3037000499 };
	tasq_req    in       = { .method = TASQ_M_SUBMIT }, out;
	const char *why      = NULL;

	in.u.submit.queue       = "q.A-z_09";
	in.u.submit.job_id      = UINT64_MAX;
	in.u.submit.first_index = UINT64_C(1) << 40;
	in.u.submit.n           = 6;
	in.u.submit.values      = values;
	ASSERT_OK(req_round_trip(&in, &out, &why));
	ASSERT_EQ(out.method, TASQ_M_SUBMIT);
	ASSERT_STR_EQ(out.u.submit.queue, "q.A-z_09");
	ASSERT_EQ(out.u.submit.job_id, UINT64_MAX);
	ASSERT_EQ(out.u.submit.first_index, UINT64_C(1) << 40);
	ASSERT_EQ(out.u.submit.n, 6);
	for (size_t i = 0; i < 6; i++) {
		ASSERT_EQ(out.u.submit.values[i], values[i]);
	}
	tasq_wire_req_fini(&out);
	tasq_wire_req_fini(&out); // idempotent
}

TEST(request_round_trip_lease_and_complete)
{
	uint64_t          ids1[] = { 10, 11, 12 }, ids2[] = { UINT64_MAX };
	int64_t           v1[] = { 100, -121, 144 }, v2[] = { INT64_MIN };
	uint32_t          c1[]  = { 0, 11, 16 };
	tasq_result_batch rb[3] = {
		{ 1, 2, 3, ids1, v1, c1 },
		{ UINT64_MAX, 3, 1, ids2, v2, NULL },
		{ 4, 5, 0, NULL, NULL, NULL },
	};
	tasq_req    in = { .method = TASQ_M_LEASE }, out;
	const char *why;

	in.u.lease.queue       = "default";
	in.u.lease.worker_id   = 99;
	in.u.lease.worker_name = "host-1 pid 42";
	in.u.lease.max_tasks   = 4096;
	in.u.lease.wait_ms     = 30000;
	in.u.lease.nresults    = 3;
	in.u.lease.results     = rb;
	ASSERT_OK(req_round_trip(&in, &out, &why));
	ASSERT_STR_EQ(out.u.lease.queue, "default");
	ASSERT_EQ(out.u.lease.worker_id, 99);
	ASSERT_STR_EQ(out.u.lease.worker_name, "host-1 pid 42");
	ASSERT_EQ(out.u.lease.max_tasks, 4096);
	ASSERT_EQ(out.u.lease.wait_ms, 30000);
	ASSERT_EQ(out.u.lease.nresults, 3);
	same_results(3, rb, out.u.lease.results);
	tasq_wire_req_fini(&out);

	// A lease without results has a NULL array.
	in.u.lease.nresults = 0;
	in.u.lease.results  = NULL;
	ASSERT_OK(req_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.lease.nresults, 0);
	ASSERT_NULL(out.u.lease.results);
	tasq_wire_req_fini(&out);

	in.method               = TASQ_M_COMPLETE;
	in.u.complete.worker_id = UINT64_MAX;
	in.u.complete.nresults  = 3;
	in.u.complete.results   = rb;
	ASSERT_OK(req_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.complete.worker_id, UINT64_MAX);
	ASSERT_EQ(out.u.complete.nresults, 3);
	same_results(3, rb, out.u.complete.results);
	tasq_wire_req_fini(&out);
}

TEST(request_round_trip_extend_release)
{
	static const int methods[] = { TASQ_M_EXTEND, TASQ_M_RELEASE };
	uint64_t         ids[]     = { 1, 2, UINT64_MAX };
	const char      *why;

	for (size_t i = 0; i < 2; i++) {
		tasq_req in = { .method = methods[i] }, out;
		// extend and release share one layout.
		in.u.extend.worker_id = 7 + i;
		in.u.extend.n         = 3;
		in.u.extend.lease_ids = ids;
		ASSERT_OK(req_round_trip(&in, &out, &why));
		ASSERT_EQ(out.method, methods[i]);
		ASSERT_EQ(out.u.release.worker_id, 7 + i);
		ASSERT_EQ(out.u.release.n, 3);
		for (size_t k = 0; k < 3; k++) {
			ASSERT_EQ(out.u.release.lease_ids[k], ids[k]);
		}
		tasq_wire_req_fini(&out);
	}
}

TEST(request_round_trip_fetch_close_job)
{
	tasq_req    in = { .method = TASQ_M_FETCH }, out;
	const char *why;

	in.u.fetch.job_id      = 123;
	in.u.fetch.ack_seq     = UINT64_MAX;
	in.u.fetch.max_results = 65536;
	in.u.fetch.wait_ms     = UINT32_MAX;
	ASSERT_OK(req_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.fetch.job_id, 123);
	ASSERT_EQ(out.u.fetch.ack_seq, UINT64_MAX);
	ASSERT_EQ(out.u.fetch.max_results, 65536);
	ASSERT_EQ(out.u.fetch.wait_ms, UINT32_MAX);
	tasq_wire_req_fini(&out);

	in.method              = TASQ_M_CLOSE_JOB;
	in.u.close_job.job_id  = 456;
	in.u.close_job.ack_seq = 9;
	ASSERT_OK(req_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.close_job.job_id, 456);
	ASSERT_EQ(out.u.close_job.ack_seq, 9);
	tasq_wire_req_fini(&out);
}

// A Fetch's close_jobs: (job_id, ack_seq) pairs, at most
// TASQ_WIRE_MAX_CLOSES of them; an odd count is not pairs.
TEST(fetch_close_jobs)
{
	uint64_t      pairs[2 * TASQ_WIRE_MAX_CLOSES + 2];
	tasq_req      in = { .method = TASQ_M_FETCH }, out;
	const char   *why;
	const uint8_t odd[] = { 0x08, 0x05, 0x3a, 0x03, 0x01, 0x02, 0x03 };

	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		pairs[i] = 1000 + i;
	}
	in.u.fetch.job_id     = 5;
	in.u.fetch.close_jobs = pairs;
	in.u.fetch.nclose     = TASQ_WIRE_MAX_CLOSES;
	ASSERT_OK(req_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.fetch.nclose, TASQ_WIRE_MAX_CLOSES);
	for (size_t i = 0; i < 2 * TASQ_WIRE_MAX_CLOSES; i++) {
		ASSERT_EQ(out.u.fetch.close_jobs[i], 1000 + i);
	}
	tasq_wire_req_fini(&out);
	in.u.fetch.nclose = 0;
	ASSERT_OK(req_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.fetch.nclose, 0);
	tasq_wire_req_fini(&out);
	in.u.fetch.nclose = TASQ_WIRE_MAX_CLOSES + 1;
	ASSERT_RV(req_round_trip(&in, &out, &why), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_EQ(why, "too many jobs to close in one fetch");
	ASSERT_RV(
	    tasq_wire_decode_req(TASQ_M_FETCH, odd, sizeof(odd), &out, &why),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_EQ(why, "close_jobs must hold (job_id, ack_seq) pairs");
}

// ---- replies -------------------------------------------------------------

TEST(reply_round_trip_health_submit_complete_release_close)
{
	tasq_rep    in, out;
	const char *why;

	in = (tasq_rep) { .method = TASQ_M_HEALTH,
		.u.health = { true, "0.1.0", UINT64_MAX - 1, 86400000 } };
	ASSERT_OK(rep_round_trip(&in, &out, &why));
	ASSERT_TRUE(out.u.health.serving);
	ASSERT_STR_EQ(out.u.health.version, "0.1.0");
	ASSERT_EQ(out.u.health.server_id, UINT64_MAX - 1);
	ASSERT_EQ(out.u.health.uptime_ms, 86400000);
	tasq_wire_rep_fini(&out);

	in =
	    (tasq_rep) { .method = TASQ_M_SUBMIT, .u.submit = { 1000, true } };
	ASSERT_OK(rep_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.submit.accepted, 1000);
	ASSERT_TRUE(out.u.submit.duplicate);
	tasq_wire_rep_fini(&out);

	in = (tasq_rep) { .method = TASQ_M_COMPLETE,
		.u.complete       = { 1, 2, 3, UINT32_MAX } };
	ASSERT_OK(rep_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.complete.accepted, 1);
	ASSERT_EQ(out.u.complete.duplicates, 2);
	ASSERT_EQ(out.u.complete.late, 3);
	ASSERT_EQ(out.u.complete.rejected, UINT32_MAX);
	tasq_wire_rep_fini(&out);

	in = (tasq_rep) { .method = TASQ_M_RELEASE, .u.release = { 77 } };
	ASSERT_OK(rep_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.release.released, 77);
	tasq_wire_rep_fini(&out);

	in = (tasq_rep) { .method = TASQ_M_CLOSE_JOB,
		.u.close_job      = { UINT64_MAX } };
	ASSERT_OK(rep_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.close_job.dropped, UINT64_MAX);
	tasq_wire_rep_fini(&out);
}

TEST(reply_round_trip_lease)
{
	uint64_t        ids1[] = { 1, 2 }, ids2[] = { 1000000 };
	int64_t         v1[] = { -5, 5 }, v2[] = { INT64_MAX };
	tasq_task_batch tb[2] = { { 11, 12, 1, 2, ids1, v1 },
		{ 13, 14, 7, 1, ids2, v2 } };
	tasq_rep        in, out;
	const char     *why;

	in = (tasq_rep) { .method = TASQ_M_LEASE,
		.u.lease          = { 2, tb, 30000, { 4, 3, 2, 1 } } };
	ASSERT_OK(rep_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.lease.nbatches, 2);
	for (size_t i = 0; i < 2; i++) {
		ASSERT_EQ(out.u.lease.batches[i].lease_id, tb[i].lease_id);
		ASSERT_EQ(out.u.lease.batches[i].job_id, tb[i].job_id);
		ASSERT_EQ(out.u.lease.batches[i].attempt, tb[i].attempt);
		ASSERT_EQ(out.u.lease.batches[i].n, tb[i].n);
		for (size_t k = 0; k < tb[i].n; k++) {
			ASSERT_EQ(out.u.lease.batches[i].ids[k], tb[i].ids[k]);
			ASSERT_EQ(
			    out.u.lease.batches[i].values[k], tb[i].values[k]);
		}
	}
	ASSERT_EQ(out.u.lease.lease_ms, 30000);
	ASSERT_EQ(out.u.lease.completed.accepted, 4);
	ASSERT_EQ(out.u.lease.completed.duplicates, 3);
	ASSERT_EQ(out.u.lease.completed.late, 2);
	ASSERT_EQ(out.u.lease.completed.rejected, 1);
	tasq_wire_rep_fini(&out);

	// An empty lease (a long poll that timed out).
	in.u.lease.nbatches = 0;
	in.u.lease.batches  = NULL;
	ASSERT_OK(rep_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.lease.nbatches, 0);
	ASSERT_EQ(out.u.lease.lease_ms, 30000);
	tasq_wire_rep_fini(&out);
}

TEST(reply_round_trip_extend_fetch)
{
	uint64_t    unknown[] = { 5, UINT64_MAX };
	uint64_t    ids[]     = { 7, 8, 9 };
	int64_t     vals[]    = { 49, 0, INT64_MIN };
	uint32_t    codes[]   = { 0, 10, 11 };
	tasq_rep    in, out;
	const char *why;

	in = (tasq_rep) { .method = TASQ_M_EXTEND,
		.u.extend         = { 1500, 2, unknown } };
	ASSERT_OK(rep_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.extend.lease_ms, 1500);
	ASSERT_EQ(out.u.extend.n, 2);
	ASSERT_EQ(out.u.extend.unknown[0], 5);
	ASSERT_EQ(out.u.extend.unknown[1], UINT64_MAX);
	tasq_wire_rep_fini(&out);

	in = (tasq_rep) { .method = TASQ_M_FETCH,
		.u.fetch          = { 3, 3, ids, vals, codes, 1000, 999 } };
	ASSERT_OK(rep_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.fetch.seq, 3);
	ASSERT_EQ(out.u.fetch.n, 3);
	ASSERT_NOT_NULL(out.u.fetch.codes);
	for (size_t i = 0; i < 3; i++) {
		ASSERT_EQ(out.u.fetch.ids[i], ids[i]);
		ASSERT_EQ(out.u.fetch.values[i], vals[i]);
		ASSERT_EQ(out.u.fetch.codes[i], codes[i]);
	}
	ASSERT_EQ(out.u.fetch.submitted, 1000);
	ASSERT_EQ(out.u.fetch.completed, 999);
	tasq_wire_rep_fini(&out);

	// All OK: no codes column.
	in.u.fetch.codes = NULL;
	ASSERT_OK(rep_round_trip(&in, &out, &why));
	ASSERT_NULL(out.u.fetch.codes);
	ASSERT_EQ(out.u.fetch.values[2], INT64_MIN);
	tasq_wire_rep_fini(&out);
}

TEST(reply_round_trip_stats)
{
	tasq_queue_stats  qs[2] = { { "default", 1, 2, 3, 4, 5, 60, 50, 7, 9 },
		 { "other", UINT64_MAX, 0, 0, 0, 1, UINT64_MAX, 0, UINT64_MAX,
		     UINT64_MAX - 1 } };
	tasq_worker_stats ws[2] = {
		{ 77, "w1", "default", 1, 100, 5000, 12, true, 3, 4 },
		{ 78, "w 2", "other", 0, 0, 0, UINT64_MAX, false, UINT64_MAX,
		    UINT64_MAX - 1 },
	};
	tasq_counter cs[3]   = { { "tasks_submitted", 10 },
		  { "tasks_leased", 0 }, { "auth_failures", UINT64_MAX } };
	uint64_t     dead[4] = { 100, 1, 100, UINT64_MAX };
	tasq_rep     in, out;
	const char  *why;

	in = (tasq_rep) { .method = TASQ_M_STATS,
		.u.stats = { "0.1.0", 12345, 2, qs, 2, ws, 3, cs, 2, dead } };
	ASSERT_OK(rep_round_trip(&in, &out, &why));
	ASSERT_STR_EQ(out.u.stats.version, "0.1.0");
	ASSERT_EQ(out.u.stats.uptime_ms, 12345);
	ASSERT_EQ(out.u.stats.nqueues, 2);
	for (size_t i = 0; i < 2; i++) {
		const tasq_queue_stats *q = &out.u.stats.queues[i];
		ASSERT_STR_EQ(q->name, qs[i].name);
		ASSERT_EQ(q->ready, qs[i].ready);
		ASSERT_EQ(q->leased, qs[i].leased);
		ASSERT_EQ(q->results, qs[i].results);
		ASSERT_EQ(q->jobs, qs[i].jobs);
		ASSERT_EQ(q->dead, qs[i].dead);
		ASSERT_EQ(q->submitted, qs[i].submitted);
		ASSERT_EQ(q->completed, qs[i].completed);
		ASSERT_EQ(q->failed, qs[i].failed);
		ASSERT_EQ(q->retried, qs[i].retried);
	}
	ASSERT_EQ(out.u.stats.nworkers, 2);
	for (size_t i = 0; i < 2; i++) {
		const tasq_worker_stats *w = &out.u.stats.workers[i];
		ASSERT_EQ(w->worker_id, ws[i].worker_id);
		ASSERT_STR_EQ(w->name, ws[i].name);
		ASSERT_STR_EQ(w->queue, ws[i].queue);
		ASSERT_EQ(w->leases, ws[i].leases);
		ASSERT_EQ(w->tasks_in_hand, ws[i].tasks_in_hand);
		ASSERT_EQ(w->completed, ws[i].completed);
		ASSERT_EQ(w->idle_ms, ws[i].idle_ms);
		ASSERT_EQ(w->connected, ws[i].connected);
		ASSERT_EQ(w->failed, ws[i].failed);
		ASSERT_EQ(w->retried, ws[i].retried);
	}
	ASSERT_EQ(out.u.stats.ncounters, 3);
	for (size_t i = 0; i < 3; i++) {
		ASSERT_STR_EQ(out.u.stats.counters[i].name, cs[i].name);
		ASSERT_EQ(out.u.stats.counters[i].value, cs[i].value);
	}
	ASSERT_EQ(out.u.stats.ndead, 2);
	for (size_t i = 0; i < 4; i++) {
		ASSERT_EQ(out.u.stats.dead[i], dead[i]);
	}
	tasq_wire_rep_fini(&out);

	// And an empty snapshot.
	in = (tasq_rep) { .method = TASQ_M_STATS, .u.stats.version = "" };
	ASSERT_OK(rep_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.stats.nqueues, 0);
	ASSERT_EQ(out.u.stats.nworkers, 0);
	ASSERT_EQ(out.u.stats.ncounters, 0);
	ASSERT_EQ(out.u.stats.ndead, 0);
	tasq_wire_rep_fini(&out);
}

// QueueStats from a server older than submitted (7) and completed (8)
// decodes with both 0; fields newer than ours are skipped.
TEST(stats_queue_fields_old_and_new)
{
	pbuf        body = { .n = 0 }, q = { .n = 0 };
	tasq_rep    out;
	const char *why;

	q.b[q.n++] = 1 << 3 | 2; // name = "old"
	q.b[q.n++] = 3;
	memcpy(q.b + q.n, "old", 3);
	q.n += 3;
	pb_uint(&q, 2, 4); // ready
	pb_uint(&q, 6, 1); // dead
	pb_sub(&body, 3, &q);
	q.n = 5; // name = "old" again, then the new fields and a newer one
	pb_uint(&q, 7, 1000);
	pb_uint(&q, 8, 999);
	pb_uint(&q, 9, 12345);
	pb_sub(&body, 3, &q);
	ASSERT_OK(
	    tasq_wire_decode_rep(TASQ_M_STATS, body.b, body.n, &out, &why));
	ASSERT_EQ(out.u.stats.nqueues, 2);
	ASSERT_STR_EQ(out.u.stats.queues[0].name, "old");
	ASSERT_EQ(out.u.stats.queues[0].ready, 4);
	ASSERT_EQ(out.u.stats.queues[0].dead, 1);
	ASSERT_EQ(out.u.stats.queues[0].submitted, 0);
	ASSERT_EQ(out.u.stats.queues[0].completed, 0);
	ASSERT_STR_EQ(out.u.stats.queues[1].name, "old");
	ASSERT_EQ(out.u.stats.queues[1].ready, 0);
	ASSERT_EQ(out.u.stats.queues[1].submitted, 1000);
	ASSERT_EQ(out.u.stats.queues[1].completed, 999);
	tasq_wire_rep_fini(&out);
}

TEST(status_round_trip_sanitises_text)
{
	nng_msg *m;
	int      code = -1;
	char     text[16];

	ASSERT_OK(tasq_wire_encode_status(5, "job\n\x1b[31mgone", &m));
	ASSERT_OK(tasq_wire_decode_status(
	    (uint8_t *) nng_msg_body(m) + TASQ_ENV_HDR_LEN,
	    nng_msg_len(m) - TASQ_ENV_HDR_LEN, &code, text, sizeof(text)));
	ASSERT_EQ(code, 5);
	ASSERT_STR_EQ(text, "job??[31mgone");
	// Truncated to the buffer.
	ASSERT_OK(tasq_wire_decode_status(
	    (uint8_t *) nng_msg_body(m) + TASQ_ENV_HDR_LEN,
	    nng_msg_len(m) - TASQ_ENV_HDR_LEN, &code, text, 4));
	ASSERT_STR_EQ(text, "job");
	nng_msg_free(m);
	ASSERT_RV(tasq_wire_decode_status((const uint8_t *) "\xff\xff", 2,
	              &code, text, sizeof(text)),
	    TASQ_EINVALID_ARGUMENT);
}

// ---- decoding errors -----------------------------------------------------

TEST(unknown_method)
{
	static const int bad[] = { -1, TASQ_M_COUNT, 100, 0x7fffffff };
	tasq_req         req;
	tasq_rep         rep;
	const char      *why;
	nng_msg         *m;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		ASSERT_RV(tasq_wire_decode_req(bad[i], NULL, 0, &req, &why),
		    TASQ_EUNIMPLEMENTED);
		ASSERT_NOT_NULL(why);
		why = NULL;
		ASSERT_RV(tasq_wire_decode_rep(bad[i], NULL, 0, &rep, &why),
		    TASQ_EUNIMPLEMENTED);
		ASSERT_NOT_NULL(why);
		req.method = bad[i];
		ASSERT_RV(
		    tasq_wire_encode_req(&req, &m), TASQ_EINVALID_ARGUMENT);
		rep.method = bad[i];
		ASSERT_RV(
		    tasq_wire_encode_rep(&rep, &m), TASQ_EINVALID_ARGUMENT);
	}
}

TEST(garbage_bytes)
{
	// A truncated varint, a field with wire type 7, a length past the
	// end, and a string that is not UTF-8.
	static const uint8_t trunc[] = { 0x10, 0xff };
	static const uint8_t wt7[]   = { 0x0f, 0x00 };
	static const uint8_t past[]  = { 0x0a, 0x40, 'a' };
	static const uint8_t utf[]   = { 0x0a, 0x02, 0xc3, 0x28, 0x10, 0x01,
		  0x22, 0x01, 0x02 };
	static const struct {
		const uint8_t *b;
		size_t         n;
	} bodies[] = { { trunc, sizeof(trunc) }, { wt7, sizeof(wt7) },
		{ past, sizeof(past) }, { utf, sizeof(utf) } };
	tasq_req    req;
	tasq_rep    rep;
	const char *why;

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		for (int m = TASQ_M_SUBMIT; m <= TASQ_M_CLOSE_JOB; m++) {
			why = NULL;
			ASSERT_RV(tasq_wire_decode_req(
			              m, bodies[i].b, bodies[i].n, &req, &why),
			    TASQ_EINVALID_ARGUMENT);
			ASSERT_NOT_NULL(why);
		}
	}
	ASSERT_RV(tasq_wire_decode_rep(
	              TASQ_M_FETCH, trunc, sizeof(trunc), &rep, &why),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_RV(
	    tasq_wire_decode_rep(TASQ_M_STATS, past, sizeof(past), &rep, &why),
	    TASQ_EINVALID_ARGUMENT);
}

// Decodes a CompleteRequest holding one hand-built ResultBatch.
static int
complete_with(pbuf batch, const char **why)
{
	pbuf     p = { .n = 0 };
	tasq_req req;
	int      rv;

	pb_uint(&p, 1, 1); // worker_id
	pb_sub(&p, 2, &batch);
	rv = tasq_wire_decode_req(TASQ_M_COMPLETE, p.b, p.n, &req, why);
	if (rv == 0) {
		tasq_wire_req_fini(&req);
	}
	return (rv);
}

TEST(result_batch_columns_must_match)
{
	const char *why;

	// The writer is right: consistent columns decode.
	ASSERT_OK(complete_with(result_batch(3, 3, 0), &why));
	ASSERT_OK(complete_with(result_batch(3, 3, 3), &why));
	why = NULL;
	ASSERT_RV(complete_with(result_batch(3, 2, 0), &why),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_EQ(why, "result batch columns differ in length");
	ASSERT_RV(complete_with(result_batch(2, 3, 0), &why),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_RV(complete_with(result_batch(3, 3, 2), &why),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_RV(complete_with(result_batch(3, 3, 4), &why),
	    TASQ_EINVALID_ARGUMENT);
}

TEST(result_code_above_16)
{
	uint64_t          ids[] = { 1, 2 };
	int64_t           v[]   = { 1, 4 };
	uint32_t          c[]   = { 16, 17 };
	tasq_result_batch rb    = { 1, 2, 2, ids, v, c };
	tasq_req          in    = { .method = TASQ_M_COMPLETE }, out;
	const char       *why   = NULL;

	in.u.complete.worker_id = 1;
	in.u.complete.nresults  = 1;
	in.u.complete.results   = &rb;
	ASSERT_RV(req_round_trip(&in, &out, &why), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_EQ(why, "result code out of range");
	c[1] = UINT32_MAX;
	ASSERT_RV(req_round_trip(&in, &out, &why), TASQ_EINVALID_ARGUMENT);
	c[1] = 0;
	ASSERT_OK(req_round_trip(&in, &out, &why));
	tasq_wire_req_fini(&out);

	// The same check guards a lease's piggy-backed results.
	c[0]                   = 99;
	in.method              = TASQ_M_LEASE;
	in.u.lease.queue       = "q";
	in.u.lease.worker_id   = 1;
	in.u.lease.worker_name = "w";
	in.u.lease.nresults    = 1;
	in.u.lease.results     = &rb;
	ASSERT_RV(req_round_trip(&in, &out, &why), TASQ_EINVALID_ARGUMENT);
}

TEST(fetch_reply_columns_and_codes)
{
	uint64_t            ids[] = { 1, 2 };
	int64_t             v[]   = { 1, 4 };
	uint32_t            c[]   = { 0, 17 };
	tasq_rep            in, out;
	const char         *why;
	pbuf                p;
	static const size_t lens[][3] = { { 2, 1, 0 }, { 1, 2, 0 },
		{ 2, 2, 1 }, { 2, 2, 3 } };

	memset(&in, 0, sizeof(in));
	in.method         = TASQ_M_FETCH;
	in.u.fetch.seq    = 1;
	in.u.fetch.n      = 2;
	in.u.fetch.ids    = ids;
	in.u.fetch.values = v;
	in.u.fetch.codes  = c;
	ASSERT_RV(rep_round_trip(&in, &out, &why), TASQ_EINVALID_ARGUMENT);
	// FetchReply numbers its columns 2, 3, 4 where ResultBatch has 3,
	// 4, 5; build them directly.
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		p.n = 0;
		pb_uint(&p, 1, 1);
		pb_packed(&p, 2, lens[i][0], false);
		pb_packed(&p, 3, lens[i][1], true);
		if (lens[i][2] > 0) {
			pb_packed(&p, 4, lens[i][2], false);
		}
		ASSERT_RV(
		    tasq_wire_decode_rep(TASQ_M_FETCH, p.b, p.n, &out, &why),
		    TASQ_EINVALID_ARGUMENT);
	}
	p.n = 0;
	pb_packed(&p, 2, 2, false);
	pb_packed(&p, 3, 2, true);
	pb_packed(&p, 4, 2, false);
	ASSERT_OK(tasq_wire_decode_rep(TASQ_M_FETCH, p.b, p.n, &out, &why));
	ASSERT_EQ(out.u.fetch.n, 2);
	ASSERT_EQ(out.u.fetch.codes[1], 2);
	ASSERT_EQ(out.u.fetch.values[1], -1);
	tasq_wire_rep_fini(&out);
}

TEST(lease_reply_task_batch_columns_must_match)
{
	pbuf        batch = { .n = 0 }, p = { .n = 0 };
	tasq_rep    rep;
	const char *why;

	pb_uint(&batch, 1, 1);
	pb_uint(&batch, 2, 2);
	pb_uint(&batch, 3, 1);
	pb_packed(&batch, 4, 3, false);
	pb_packed(&batch, 5, 2, true);
	pb_sub(&p, 1, &batch);
	ASSERT_RV(tasq_wire_decode_rep(TASQ_M_LEASE, p.b, p.n, &rep, &why),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_EQ(why, "task batch columns differ in length");
}

static int
submit_with(const char *queue, uint64_t job_id, uint64_t first, size_t n,
    const char **why)
{
	static int64_t values[3] = { 1, 2, 3 };
	tasq_req       in        = { .method = TASQ_M_SUBMIT }, out;
	int            rv;

	in.u.submit.queue       = queue;
	in.u.submit.job_id      = job_id;
	in.u.submit.first_index = first;
	in.u.submit.n           = n;
	in.u.submit.values      = values;
	rv                      = req_round_trip(&in, &out, why);
	if (rv == 0) {
		tasq_wire_req_fini(&out);
	}
	return (rv);
}

TEST(queue_names)
{
	char        name[TASQ_WIRE_MAX_NAME + 2];
	const char *why;

	memset(name, 'q', sizeof(name));
	name[TASQ_WIRE_MAX_NAME] = '\0';
	ASSERT_TRUE(tasq_wire_valid_name(name));
	ASSERT_OK(submit_with(name, 1, 0, 3, &why));
	name[TASQ_WIRE_MAX_NAME]     = 'q';
	name[TASQ_WIRE_MAX_NAME + 1] = '\0';
	ASSERT_FALSE(tasq_wire_valid_name(name));
	ASSERT_RV(submit_with(name, 1, 0, 3, &why), TASQ_EINVALID_ARGUMENT);
	ASSERT_RV(submit_with("", 1, 0, 3, &why), TASQ_EINVALID_ARGUMENT);
	ASSERT_RV(submit_with("a b", 1, 0, 3, &why), TASQ_EINVALID_ARGUMENT);
	ASSERT_RV(submit_with("a/b", 1, 0, 3, &why), TASQ_EINVALID_ARGUMENT);
	ASSERT_RV(submit_with("../x", 1, 0, 3, &why), TASQ_EINVALID_ARGUMENT);
	ASSERT_RV(
	    submit_with("caf\xc3\xa9", 1, 0, 3, &why), TASQ_EINVALID_ARGUMENT);
	ASSERT_FALSE(tasq_wire_valid_name(""));
	ASSERT_FALSE(tasq_wire_valid_name("tab\t"));
	ASSERT_TRUE(tasq_wire_valid_name("A.b_c-9"));
}

TEST(submit_job_zero_empty_and_overflow)
{
	const char *why;

	why = NULL;
	ASSERT_RV(submit_with("q", 0, 0, 3, &why), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_EQ(why, "job_id must not be 0");
	ASSERT_RV(submit_with("q", 1, 0, 0, &why), TASQ_EINVALID_ARGUMENT);
	ASSERT_RV(
	    submit_with("q", 1, UINT64_MAX, 1, &why), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_EQ(why, "task ids overflow");
	ASSERT_RV(submit_with("q", 1, UINT64_MAX - 2, 3, &why),
	    TASQ_EINVALID_ARGUMENT);
	// The end of the range, first + n, must fit: the broker keeps
	// half-open intervals.
	ASSERT_OK(submit_with("q", 1, UINT64_MAX - 3, 3, &why));
}

TEST(lease_request_checks_queue_and_worker)
{
	char        longname[TASQ_WIRE_MAX_NAME + 2];
	tasq_req    in = { .method = TASQ_M_LEASE }, out;
	const char *why;

	in.u.lease.queue       = "q";
	in.u.lease.worker_id   = 1;
	in.u.lease.worker_name = "any text, even spaces";
	ASSERT_OK(req_round_trip(&in, &out, &why));
	tasq_wire_req_fini(&out);
	in.u.lease.queue = "no spaces";
	ASSERT_RV(req_round_trip(&in, &out, &why), TASQ_EINVALID_ARGUMENT);
	in.u.lease.queue     = "q";
	in.u.lease.worker_id = 0;
	ASSERT_RV(req_round_trip(&in, &out, &why), TASQ_EINVALID_ARGUMENT);
	in.u.lease.worker_id   = 1;
	in.u.lease.worker_name = "bell\a";
	ASSERT_RV(req_round_trip(&in, &out, &why), TASQ_EINVALID_ARGUMENT);
	memset(longname, 'w', sizeof(longname));
	longname[TASQ_WIRE_MAX_NAME + 1] = '\0';
	in.u.lease.worker_name           = longname;
	ASSERT_RV(req_round_trip(&in, &out, &why), TASQ_EINVALID_ARGUMENT);
}

TEST(fetch_job_zero_and_list_limits)
{
	uint64_t          *ids = calloc(TASQ_WIRE_MAX_BATCHES + 1, 8);
	tasq_result_batch *rb = calloc(TASQ_WIRE_MAX_BATCHES + 1, sizeof(*rb));
	tasq_req           in = { .method = TASQ_M_FETCH }, out;
	const char        *why;

	ASSERT_NOT_NULL(ids);
	ASSERT_NOT_NULL(rb);
	in.u.fetch.job_id = 0;
	ASSERT_RV(req_round_trip(&in, &out, &why), TASQ_EINVALID_ARGUMENT);

	in.method             = TASQ_M_EXTEND;
	in.u.extend.worker_id = 1;
	in.u.extend.lease_ids = ids;
	in.u.extend.n         = TASQ_WIRE_MAX_BATCHES;
	ASSERT_OK(req_round_trip(&in, &out, &why));
	tasq_wire_req_fini(&out);
	in.u.extend.n = TASQ_WIRE_MAX_BATCHES + 1;
	ASSERT_RV(req_round_trip(&in, &out, &why), TASQ_EINVALID_ARGUMENT);
	in.method = TASQ_M_RELEASE;
	ASSERT_RV(req_round_trip(&in, &out, &why), TASQ_EINVALID_ARGUMENT);

	in.method               = TASQ_M_COMPLETE;
	in.u.complete.worker_id = 1;
	in.u.complete.results   = rb;
	in.u.complete.nresults  = TASQ_WIRE_MAX_BATCHES;
	ASSERT_OK(req_round_trip(&in, &out, &why));
	tasq_wire_req_fini(&out);
	in.u.complete.nresults = TASQ_WIRE_MAX_BATCHES + 1;
	ASSERT_RV(req_round_trip(&in, &out, &why), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_EQ(why, "too many result batches");
	free(ids);
	free(rb);
}

TEST(fetch_carries_a_submit)
{
	int64_t     vals[] = { 3, -4, INT64_MAX };
	tasq_req    in     = { .method = TASQ_M_FETCH }, out;
	tasq_rep    rin, rout;
	const char *why;

	in.u.fetch.job_id             = 77;
	in.u.fetch.ack_seq            = 5;
	in.u.fetch.wait_ms            = 1000;
	in.u.fetch.has_submit         = true;
	in.u.fetch.submit.queue       = "q1";
	in.u.fetch.submit.job_id      = 77;
	in.u.fetch.submit.first_index = 10;
	in.u.fetch.submit.n           = 3;
	in.u.fetch.submit.values      = vals;
	ASSERT_OK(req_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.fetch.job_id, 77);
	ASSERT_EQ(out.u.fetch.ack_seq, 5);
	ASSERT_TRUE(out.u.fetch.has_submit);
	ASSERT_STR_EQ(out.u.fetch.submit.queue, "q1");
	ASSERT_EQ(out.u.fetch.submit.job_id, 77);
	ASSERT_EQ(out.u.fetch.submit.first_index, 10);
	ASSERT_EQ(out.u.fetch.submit.n, 3);
	for (size_t i = 0; i < 3; i++) {
		ASSERT_EQ(out.u.fetch.submit.values[i], vals[i]);
	}
	tasq_wire_req_fini(&out);

	// The batch is checked as a Submit's is, and must be for the job.
	in.u.fetch.submit.job_id = 78;
	ASSERT_RV(req_round_trip(&in, &out, &why), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_EQ(why, "a fetch's submit must be for the same job");
	in.u.fetch.submit.job_id = 77;
	in.u.fetch.submit.queue  = "no spaces";
	ASSERT_RV(req_round_trip(&in, &out, &why), TASQ_EINVALID_ARGUMENT);
	in.u.fetch.submit.queue = "q1";
	in.u.fetch.submit.n     = 0;
	ASSERT_RV(req_round_trip(&in, &out, &why), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_EQ(why, "a submit must carry at least one task");
	in.u.fetch.submit.n           = 3;
	in.u.fetch.submit.first_index = UINT64_MAX - 1;
	ASSERT_RV(req_round_trip(&in, &out, &why), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_EQ(why, "task ids overflow");

	// Without one, nothing is set.
	in.u.fetch.has_submit = false;
	ASSERT_OK(req_round_trip(&in, &out, &why));
	ASSERT_FALSE(out.u.fetch.has_submit);
	tasq_wire_req_fini(&out);

	// The reply's outcome (field 7) only when set.
	rin                          = (tasq_rep) { .method = TASQ_M_FETCH };
	rin.u.fetch.has_submit       = true;
	rin.u.fetch.submit.accepted  = 0;
	rin.u.fetch.submit.duplicate = true;
	ASSERT_OK(rep_round_trip(&rin, &rout, &why));
	ASSERT_TRUE(rout.u.fetch.has_submit);
	ASSERT_EQ(rout.u.fetch.submit.accepted, 0);
	ASSERT_TRUE(rout.u.fetch.submit.duplicate);
	tasq_wire_rep_fini(&rout);
	rin.u.fetch.has_submit = false;
	ASSERT_OK(rep_round_trip(&rin, &rout, &why));
	ASSERT_FALSE(rout.u.fetch.has_submit);
	tasq_wire_rep_fini(&rout);
}

// ---- decoding limits: memory (issue 11 item 3) ----------------------------

// A growable protobuf writer for bodies of megabytes.
typedef struct dbuf {
	uint8_t *b;
	size_t   n, cap;
} dbuf;

static void
db_bytes(dbuf *d, const void *p, size_t n)
{
	if (d->n + n > d->cap) {
		size_t cap = d->cap ? d->cap : 256;
		while (cap < d->n + n) {
			cap *= 2;
		}
		d->b = realloc(d->b, cap);
		ASSERT_NOT_NULL(d->b);
		d->cap = cap;
	}
	if (n > 0) {
		memcpy(d->b + d->n, p, n); // p may be NULL when n is 0
	}
	d->n += n;
}

static void
db_varint(dbuf *d, uint64_t v)
{
	uint8_t b[10];
	size_t  n = 0;

	while (v >= 0x80) {
		b[n++] = (uint8_t) (v | 0x80);
		v >>= 7;
	}
	b[n++] = (uint8_t) v;
	db_bytes(d, b, n);
}

static void
db_uint(dbuf *d, unsigned field, uint64_t v)
{
	db_varint(d, (uint64_t) field << 3);
	db_varint(d, v);
}

static void
db_str(dbuf *d, unsigned field, const char *s, size_t n)
{
	db_varint(d, (uint64_t) field << 3 | 2);
	db_varint(d, n);
	db_bytes(d, s, n);
}

static void
db_sub(dbuf *d, unsigned field, const dbuf *sub)
{
	db_str(d, field, (const char *) sub->b, sub->n);
}

// Decodes body as the request (reply) of method, or as a Status when
// method is -1; returns the error and checks the decode's peak allocation
// against the documented bound, and that nothing stays held.
static int
decode_bounded(bool reply, int method, const dbuf *body)
{
	size_t      before = tasq_wire_decode_held(), peak, bound;
	const char *why    = NULL;
	int         rv;

	if (method < 0) {
		int  code;
		char text[64];
		rv = tasq_wire_decode_status(
		    body->b, body->n, &code, text, sizeof(text));
	} else if (reply) {
		tasq_rep rep;
		rv =
		    tasq_wire_decode_rep(method, body->b, body->n, &rep, &why);
		if (rv == 0) {
			tasq_wire_rep_fini(&rep);
		}
	} else {
		tasq_req req;
		rv =
		    tasq_wire_decode_req(method, body->b, body->n, &req, &why);
		if (rv == 0) {
			tasq_wire_req_fini(&req);
		}
	}
	peak  = tasq_wire_decode_peak();
	bound = tasq_wire_decode_bound(body->n, reply || method < 0);
	if (peak > bound) {
		fprintf(stderr,
		    "  %s of method %d, %zu bytes: peak %zu > bound %zu "
		    "(%.1fx "
		    "the body)\n",
		    reply ? "reply" : "request", method, body->n, peak, bound,
		    (double) peak / (double) body->n);
	}
	ASSERT_LE(peak, bound);
	ASSERT_EQ(tasq_wire_decode_held(), before);
	return (rv);
}

// The attack of the issue, generalised: 2,000,000 occurrences of one field
// (empty messages, or the varint 1), either at the top of the body or in
// one occurrence of an embedded message field. Each must be refused before
// it costs more than the bound.
static const struct attack {
	bool     reply;
	int      method; // -1: a Status
	unsigned outer;  // 0: none
	unsigned field;
	bool     msg; // the field holds messages
} attacks[] = {
	// requests: every repeated field, embedded or not
	{ false, TASQ_M_SUBMIT, 0, 4, false },
	{ false, TASQ_M_LEASE, 0, 6, true },
	{ false, TASQ_M_LEASE, 6, 3, false },
	{ false, TASQ_M_LEASE, 6, 4, false },
	{ false, TASQ_M_LEASE, 6, 5, false },
	{ false, TASQ_M_COMPLETE, 0, 2, true },
	{ false, TASQ_M_COMPLETE, 2, 3, false },
	{ false, TASQ_M_COMPLETE, 2, 4, false },
	{ false, TASQ_M_COMPLETE, 2, 5, false },
	{ false, TASQ_M_EXTEND, 0, 2, false },
	{ false, TASQ_M_RELEASE, 0, 2, false },
	{ false, TASQ_M_FETCH, 5, 4, false },
	// singular fields sent again and again (protobuf-c keeps each
	// occurrence until the end of the message), embedded messages too
	{ false, TASQ_M_LEASE, 0, 2, false },
	{ false, TASQ_M_LEASE, 6, 1, false },
	{ false, TASQ_M_FETCH, 0, 5, true },
	{ false, TASQ_M_CLOSE_JOB, 0, 1, false },
	{ false, TASQ_M_HEALTH, 0, 1, false }, // unknown fields
	// replies
	{ true, TASQ_M_LEASE, 0, 1, true },
	{ true, TASQ_M_LEASE, 1, 4, false },
	{ true, TASQ_M_LEASE, 1, 5, false },
	{ true, TASQ_M_LEASE, 0, 3, true },
	{ true, TASQ_M_EXTEND, 0, 2, false },
	{ true, TASQ_M_FETCH, 0, 2, false },
	{ true, TASQ_M_FETCH, 0, 3, false },
	{ true, TASQ_M_FETCH, 0, 4, false },
	{ true, TASQ_M_FETCH, 0, 7, true },
	{ true, TASQ_M_STATS, 0, 3, true },
	{ true, TASQ_M_STATS, 0, 4, true },
	{ true, TASQ_M_STATS, 0, 5, true },
	{ true, TASQ_M_STATS, 0, 6, false },
	{ true, TASQ_M_STATS, 3, 2, false },
	{ true, TASQ_M_HEALTH, 0, 3, false },
	{ true, TASQ_M_SUBMIT, 0, 1, false },
	{ true, -1, 0, 1, false },
};

// The issue's case: a signed 4 MB Lease of 2,000,000 empty ResultBatch
// entries was refused ("too many result batches") only once protobuf-c had
// unpacked it, at some 35 times its size.
TEST(decode_lease_of_2m_empty_result_batches)
{
	dbuf body = { 0 };

	db_str(&body, 1, "q", 1);
	db_uint(&body, 2, 1);
	for (size_t k = 0; k < 2000000; k++) {
		db_bytes(&body, "\x32\x00", 2);
	}
	ASSERT_RV(decode_bounded(false, TASQ_M_LEASE, &body),
	    TASQ_EINVALID_ARGUMENT);
	free(body.b);
}

TEST(decode_refuses_2m_entries_within_bound)
{
	enum { N = 2000000 };

	for (size_t i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++) {
		const struct attack *a     = &attacks[i];
		dbuf                 inner = { 0 }, body = { 0 };
		uint8_t              two[2];

		if (a->method == TASQ_M_LEASE && !a->reply) {
			db_str(&body, 1, "q", 1);
			db_uint(&body, 2, 1);
		}
		two[0] = (uint8_t) (a->field << 3 | (a->msg ? 2 : 0));
		two[1] = a->msg ? 0 : 1;
		for (size_t k = 0; k < N; k++) {
			db_bytes(a->outer ? &inner : &body, two, 2);
		}
		if (a->outer) {
			db_sub(&body, a->outer, &inner);
		}
		ASSERT_RV(decode_bounded(a->reply, a->method, &body),
		    TASQ_EINVALID_ARGUMENT);
		free(inner.b);
		free(body.b);
	}
}

// The same fields packed: 4,000,000 one-byte varints in 4 MB.
TEST(decode_refuses_4m_packed_numbers)
{
	static const struct attack packed[] = {
		{ false, TASQ_M_SUBMIT, 0, 4, false },
		{ false, TASQ_M_COMPLETE, 2, 3, false },
		{ false, TASQ_M_EXTEND, 0, 2, false },
		{ true, TASQ_M_LEASE, 1, 4, false },
		{ true, TASQ_M_FETCH, 0, 4, false },
		{ true, TASQ_M_EXTEND, 0, 2, false },
		{ true, TASQ_M_STATS, 0, 6, false },
	};
	dbuf ones = { 0 };

	for (size_t k = 0; k < 4000000; k++) {
		db_bytes(&ones, "\x01", 1);
	}
	for (size_t i = 0; i < sizeof(packed) / sizeof(packed[0]); i++) {
		const struct attack *a     = &packed[i];
		dbuf                 inner = { 0 }, body = { 0 };

		db_sub(a->outer ? &inner : &body, a->field, &ones);
		if (a->outer) {
			db_sub(&body, a->outer, &inner);
		}
		ASSERT_RV(decode_bounded(a->reply, a->method, &body),
		    TASQ_EINVALID_ARGUMENT);
		free(inner.b);
		free(body.b);
	}
	free(ones.b);
}

// Numbers sent unpacked are legal protobuf, but cost protobuf-c some 40
// bytes each: within the count limit, they are refused by the budget.
TEST(decode_refuses_unpacked_numbers_over_budget)
{
	dbuf body = { 0 };

	db_str(&body, 1, "q", 1);
	db_uint(&body, 2, 1);
	for (size_t k = 0; k < 500000; k++) {
		db_uint(&body, 4, 1);
	}
	ASSERT_RV(decode_bounded(false, TASQ_M_SUBMIT, &body),
	    TASQ_EINVALID_ARGUMENT);
	free(body.b);
	// A few thousand are fine.
	body = (dbuf) { 0 };
	db_str(&body, 1, "q", 1);
	db_uint(&body, 2, 1);
	for (size_t k = 0; k < 2000; k++) {
		db_uint(&body, 4, 1);
	}
	ASSERT_OK(decode_bounded(false, TASQ_M_SUBMIT, &body));
	free(body.b);
}

// The largest honest messages decode within the bound.
TEST(decode_largest_messages_within_bound)
{
	dbuf body = { 0 }, col = { 0 }, batch = { 0 }, row = { 0 };

	// Submit: 1,048,576 values.
	db_str(&body, 1, "q", 1);
	db_uint(&body, 2, 1);
	for (size_t k = 0; k < TASQ_WIRE_MAX_IDS; k++) {
		db_bytes(&col, "\x02", 1);
	}
	db_sub(&body, 4, &col);
	ASSERT_OK(decode_bounded(false, TASQ_M_SUBMIT, &body));
	free(body.b);
	free(col.b);

	// Lease: 1,024 batches of 1,024 results with codes.
	body = (dbuf) { 0 }, col = (dbuf) { 0 };
	for (size_t k = 0; k < 1024; k++) {
		db_bytes(&col, "\x00", 1);
	}
	db_uint(&batch, 1, 1);
	db_uint(&batch, 2, 1);
	db_sub(&batch, 3, &col);
	db_sub(&batch, 4, &col);
	db_sub(&batch, 5, &col);
	db_str(&body, 1, "q", 1);
	db_uint(&body, 2, 1);
	for (size_t k = 0; k < TASQ_WIRE_MAX_BATCHES; k++) {
		db_sub(&body, 6, &batch);
	}
	ASSERT_OK(decode_bounded(false, TASQ_M_LEASE, &body));
	// And as many empty ones.
	body.n = 0;
	db_str(&body, 1, "q", 1);
	db_uint(&body, 2, 1);
	for (size_t k = 0; k < TASQ_WIRE_MAX_BATCHES; k++) {
		db_str(&body, 6, "", 0);
	}
	ASSERT_OK(decode_bounded(false, TASQ_M_LEASE, &body));
	free(body.b);
	free(col.b);
	free(batch.b);

	// Stats: 65,536 queues, 65,536 workers, 1,024 counters, all small.
	body = (dbuf) { 0 };
	db_str(&row, 1, "q", 1);
	for (size_t k = 0; k < TASQ_WIRE_MAX_ROWS; k++) {
		db_sub(&body, 3, &row);
	}
	row.n = 0;
	db_uint(&row, 1, 1);
	db_str(&row, 3, "q", 1);
	for (size_t k = 0; k < TASQ_WIRE_MAX_ROWS; k++) {
		db_sub(&body, 4, &row);
	}
	row.n = 0;
	db_str(&row, 1, "c", 1);
	for (size_t k = 0; k < TASQ_WIRE_MAX_COUNTERS; k++) {
		db_sub(&body, 5, &row);
	}
	ASSERT_OK(decode_bounded(true, TASQ_M_STATS, &body));
	free(body.b);
	free(row.b);
}

// What all decoded messages hold at once is bounded: past the total, a
// decode fails with RESOURCE_EXHAUSTED (retryable) until others finish.
TEST(decode_total_is_bounded)
{
	dbuf        body = { 0 }, col = { 0 };
	tasq_req    a, b;
	const char *why;

	db_str(&body, 1, "q", 1);
	db_uint(&body, 2, 1);
	for (size_t k = 0; k < 65536; k++) {
		db_bytes(&col, "\x02", 1);
	}
	db_sub(&body, 4, &col);
	ASSERT_EQ(tasq_wire_decode_held(), 0);
	tasq_wire_set_decode_total(800 * 1024);
	ASSERT_OK(
	    tasq_wire_decode_req(TASQ_M_SUBMIT, body.b, body.n, &a, &why));
	ASSERT_GE(tasq_wire_decode_held(), 65536 * 8);
	why = NULL;
	ASSERT_RV(
	    tasq_wire_decode_req(TASQ_M_SUBMIT, body.b, body.n, &b, &why),
	    TASQ_ERESOURCE_EXHAUSTED);
	ASSERT_STR_CONTAINS(why, "retry");
	tasq_wire_req_fini(&a);
	ASSERT_EQ(tasq_wire_decode_held(), 0);
	ASSERT_OK(
	    tasq_wire_decode_req(TASQ_M_SUBMIT, body.b, body.n, &b, &why));
	tasq_wire_req_fini(&b);
	ASSERT_EQ(
	    tasq_wire_set_decode_total(TASQ_WIRE_DECODE_TOTAL), 800 * 1024);
	ASSERT_EQ(tasq_wire_decode_held(), 0);
	free(body.b);
	free(col.b);
}

// Threads decoding at once share the total: each decode either fits or is
// refused with RESOURCE_EXHAUSTED, and everything comes back.
struct decoder_arg {
	const dbuf *body;
	int         ok, busy, other;
};

static void *
decoder_thread(void *arg)
{
	struct decoder_arg *a = arg;

	for (int i = 0; i < 200; i++) {
		tasq_req    req;
		const char *why;
		int         rv = tasq_wire_decode_req(
		            TASQ_M_SUBMIT, a->body->b, a->body->n, &req, &why);
		if (rv == 0) {
			a->ok++;
			tasq_wire_req_fini(&req);
		} else if (rv == TASQ_ERESOURCE_EXHAUSTED) {
			a->busy++;
		} else {
			a->other++;
		}
	}
	return (NULL);
}

TEST(decode_total_shared_by_threads)
{
	dbuf               body = { 0 }, col = { 0 };
	pthread_t          t[4];
	struct decoder_arg a[4];
	int                ok = 0;

	db_str(&body, 1, "q", 1);
	db_uint(&body, 2, 1);
	for (size_t k = 0; k < 65536; k++) {
		db_bytes(&col, "\x02", 1);
	}
	db_sub(&body, 4, &col);
	tasq_wire_set_decode_total(1200 * 1024); // two at once, not three
	for (int i = 0; i < 4; i++) {
		a[i] = (struct decoder_arg) { .body = &body };
		ASSERT_EQ(
		    pthread_create(&t[i], NULL, decoder_thread, &a[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		ASSERT_EQ(pthread_join(t[i], NULL), 0);
		ASSERT_EQ(a[i].other, 0);
		ASSERT_EQ(a[i].ok + a[i].busy, 200);
		ok += a[i].ok;
	}
	ASSERT_GT(ok, 0);
	ASSERT_EQ(tasq_wire_decode_held(), 0);
	tasq_wire_set_decode_total(TASQ_WIRE_DECODE_TOTAL);
	free(body.b);
	free(col.b);
}

// ---- decoding limits: strings (issue 11 item 4) ----------------------------

// Where a string goes: the body of a request or reply (method, or -1 for
// a Status) with the string s in field (of the embedded message in field
// outer), other fields filled so that only the string can be wrong.
enum str_where {
	S_SUBMIT_QUEUE,
	S_LEASE_QUEUE,
	S_LEASE_WORKER,
	S_FETCH_SUBMIT_QUEUE,
	S_HEALTH_VERSION,
	S_STATS_VERSION,
	S_STATS_QUEUE_NAME,
	S_STATS_WORKER_NAME,
	S_STATS_WORKER_QUEUE,
	S_STATS_COUNTER_NAME,
	S_STATUS_MESSAGE,
	S_COUNT
};

static int
decode_with_str(enum str_where w, const char *s, size_t n)
{
	dbuf body = { 0 }, sub = { 0 };
	int  rv;
	bool reply  = w >= S_HEALTH_VERSION;
	int  method = -1;

	switch (w) {
	case S_SUBMIT_QUEUE:
	case S_FETCH_SUBMIT_QUEUE:
		db_str(&sub, 1, s, n);
		db_uint(&sub, 2, 1);
		db_str(&sub, 4, "\x02", 1);
		if (w == S_SUBMIT_QUEUE) {
			method = TASQ_M_SUBMIT;
			body   = sub;
			sub    = (dbuf) { 0 };
		} else {
			method = TASQ_M_FETCH;
			db_uint(&body, 1, 1);
			db_sub(&body, 5, &sub);
		}
		break;
	case S_LEASE_QUEUE:
	case S_LEASE_WORKER:
		method = TASQ_M_LEASE;
		if (w == S_LEASE_QUEUE) {
			db_str(&body, 1, s, n);
		} else {
			db_str(&body, 1, "q", 1);
			db_str(&body, 3, s, n);
		}
		db_uint(&body, 2, 1);
		break;
	case S_HEALTH_VERSION:
		method = TASQ_M_HEALTH;
		db_str(&body, 2, s, n);
		break;
	case S_STATS_VERSION:
		method = TASQ_M_STATS;
		db_str(&body, 1, s, n);
		break;
	case S_STATS_QUEUE_NAME:
		method = TASQ_M_STATS;
		db_str(&sub, 1, s, n);
		db_sub(&body, 3, &sub);
		break;
	case S_STATS_WORKER_NAME:
	case S_STATS_WORKER_QUEUE:
		method = TASQ_M_STATS;
		db_uint(&sub, 1, 1);
		db_str(&sub, 2, w == S_STATS_WORKER_NAME ? s : "w",
		    w == S_STATS_WORKER_NAME ? n : 1);
		db_str(&sub, 3, w == S_STATS_WORKER_QUEUE ? s : "q",
		    w == S_STATS_WORKER_QUEUE ? n : 1);
		db_sub(&body, 4, &sub);
		break;
	case S_STATS_COUNTER_NAME:
		method = TASQ_M_STATS;
		db_str(&sub, 1, s, n);
		db_uint(&sub, 2, 7);
		db_sub(&body, 5, &sub);
		break;
	case S_STATUS_MESSAGE:
		db_uint(&body, 1, 3);
		db_str(&body, 2, s, n);
		break;
	default:
		FAIL("no such place");
	}
	if (body.b == NULL) {
		db_bytes(&body, "", 0);
	}
	rv = decode_bounded(reply, method, &body);
	free(body.b);
	free(sub.b);
	return (rv);
}

#define STR(lit) lit, sizeof(lit) - 1

TEST(strings_refused_on_their_full_length)
{
	static const struct {
		const char *s;
		size_t      n;
	} bad[] = {
		{ STR("a\0zzz") },               // NUL inside: was read as "a"
		{ STR("w\0\x01\x02") },          // was read as "w"
		{ STR("a\0") },                  // NUL at the end
		{ STR("w\xc3\x28\xff") },        // not UTF-8
		{ STR("\xc0\x80") },             // overlong NUL
		{ STR("\xc1\xbf") },             // overlong
		{ STR("\xe0\x80\xaf") },         // overlong '/'
		{ STR("\xf0\x80\x80\xaf") },     // overlong, 4 bytes
		{ STR("\xed\xa0\x80") },         // surrogate U+D800
		{ STR("\xed\xbf\xbf") },         // surrogate U+DFFF
		{ STR("\xf4\x90\x80\x80") },     // U+110000
		{ STR("\xf5\x80\x80\x80") },     // past U+10FFFF
		{ STR("\xf8\x88\x80\x80\x80") }, // 5 bytes
		{ STR("a\xe2\x82") },            // cut short
		{ STR("\x80") },                 // lone continuation byte
		{ STR("\xe2\x82\xac\x80") },     // one continuation too many
		{ STR("\xff") },
	};

	for (int w = 0; w < S_COUNT; w++) {
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			if (decode_with_str(w, bad[i].s, bad[i].n) !=
			    TASQ_EINVALID_ARGUMENT) {
				fprintf(stderr,
				    "  place %d accepted bad %zu\n", w, i);
				FAIL("a bad string was accepted");
			}
		}
		// A plain name is fine everywhere.
		ASSERT_OK(decode_with_str(w, STR("q")));
	}
}

TEST(string_lengths)
{
	char long_[TASQ_WIRE_MAX_TEXT + 2];

	memset(long_, 'a', sizeof(long_));
	for (int w = 0; w < S_COUNT; w++) {
		size_t max = w == S_STATUS_MESSAGE ? TASQ_WIRE_MAX_TEXT
		                                   : TASQ_WIRE_MAX_NAME;
		ASSERT_OK(decode_with_str(w, long_, max));
		ASSERT_RV(decode_with_str(w, long_, max + 1),
		    TASQ_EINVALID_ARGUMENT);
	}
}

// Worker names and the names a StatsReply carries are free text: any
// UTF-8 (2, 3 and 4 byte characters, up to U+10FFFF) without control
// characters, C1 included.
TEST(worker_names_utf8)
{
	static const enum str_where free_text[] = { S_LEASE_WORKER,
		S_STATS_WORKER_NAME, S_HEALTH_VERSION, S_STATUS_MESSAGE };

	for (size_t i = 0; i < sizeof(free_text) / sizeof(free_text[0]); i++) {
		ASSERT_OK(decode_with_str(free_text[i],
		    STR("caf\xc3\xa9 \xe2\x98\x83 \xf0\x9d\x84\x9e "
		        "\xf4\x8f\xbf\xbf")));
	}
	ASSERT_RV(decode_with_str(S_LEASE_WORKER, STR("bell\a")),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_RV(decode_with_str(S_LEASE_WORKER, STR("del\x7f")),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_RV(decode_with_str(S_LEASE_WORKER, STR("csi\xc2\x9b")),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_RV(decode_with_str(S_STATS_WORKER_NAME, STR("csi\xc2\x9b")),
	    TASQ_EINVALID_ARGUMENT);
	// Queue names stay [A-Za-z0-9._-].
	ASSERT_RV(decode_with_str(S_LEASE_QUEUE, STR("caf\xc3\xa9")),
	    TASQ_EINVALID_ARGUMENT);
}

// A worker name the server accepted goes back in every StatsReply: the
// reply must decode, at the longest name too.
TEST(accepted_worker_name_survives_stats_reply)
{
	char              name[TASQ_WIRE_MAX_NAME + 1];
	dbuf              body = { 0 };
	tasq_req          req;
	tasq_rep          in, out;
	tasq_worker_stats ws;
	tasq_queue_stats  qs = { .name = "q" };
	const char       *why;

	// 21 euro signs (63 bytes) and one more byte.
	for (size_t i = 0; i < 21; i++) {
		memcpy(name + 3 * i, "\xe2\x82\xac", 3);
	}
	name[63] = 'x';
	name[64] = '\0';
	db_str(&body, 1, "q", 1);
	db_uint(&body, 2, 9);
	db_str(&body, 3, name, 64);
	ASSERT_OK(
	    tasq_wire_decode_req(TASQ_M_LEASE, body.b, body.n, &req, &why));
	ws = (tasq_worker_stats) { .worker_id = 9,
		.name                         = req.u.lease.worker_name,
		.queue                        = req.u.lease.queue };
	in = (tasq_rep) { .method = TASQ_M_STATS,
		.u.stats = { "0.1.0", 1, 1, &qs, 1, &ws, 0, NULL, 0, NULL } };
	ASSERT_OK(rep_round_trip(&in, &out, &why));
	ASSERT_STR_EQ(out.u.stats.workers[0].name, name);
	tasq_wire_rep_fini(&out);
	tasq_wire_req_fini(&req);
	free(body.b);
}

// ---- typed tasks (issue 12) ------------------------------------------------

static int
decode_req_body(int method, const dbuf *d, tasq_req *req, const char **why)
{
	return (tasq_wire_decode_req(method, d->b, d->n, req, why));
}

static int
decode_rep_body(int method, const dbuf *d, tasq_rep *rep, const char **why)
{
	return (tasq_wire_decode_rep(method, d->b, d->n, rep, why));
}

// A packed column of 32-bit or 64-bit varints.
static void
db_packed(dbuf *d, unsigned field, const uint64_t *v, size_t n)
{
	dbuf s = { 0 };

	for (size_t i = 0; i < n; i++) {
		db_varint(&s, v[i]);
	}
	db_sub(d, field, &s);
	free(s.b);
}

// A Blobs message: width, lengths (nlens of them), data.
static void
db_blobs(dbuf *d, unsigned field, uint32_t width, const uint64_t *lens,
    size_t nlens, const void *data, size_t size)
{
	dbuf b = { 0 };

	if (width != 0) {
		db_uint(&b, 1, width);
	}
	if (nlens > 0) {
		db_packed(&b, 2, lens, nlens);
	}
	if (size > 0) {
		db_str(&b, 3, data, size);
	}
	db_sub(d, field, &b);
	free(b.b);
}

static void
same_blobs(const tasq_blobs *a, const tasq_blobs *b, size_t n)
{
	ASSERT_OK(tasq_blobs_check(b, n, TASQ_WIRE_MAX_PAYLOAD));
	ASSERT_EQ(a->width, b->width);
	ASSERT_EQ(a->size, b->size);
	ASSERT_MEM_EQ(a->data, b->data, a->size);
	ASSERT_EQ(a->lens == NULL, b->lens == NULL);
	for (size_t i = 0; a->lens != NULL && i < n; i++) {
		ASSERT_EQ(a->lens[i], b->lens[i]);
	}
}

TEST(submit_typed_payloads_and_retry_round_trip)
{
	uint32_t    lens[] = { 3, 0, 5 };
	tasq_req    in     = { .method = TASQ_M_SUBMIT }, out;
	const char *why;

	in.u.submit = (tasq_submit_req) { .queue = "q",
		.job_id                          = 9,
		.first_index                     = 100,
		.n                               = 3,
		.type                            = "sha256",
		.payloads  = { 0, lens, (uint8_t *) "abcdefgh", 8 },
		.has_retry = true,
		.retry     = { 5, 250, 8000 } };
	ASSERT_OK(req_round_trip(&in, &out, &why));
	ASSERT_STR_EQ(out.u.submit.type, "sha256");
	ASSERT_EQ(out.u.submit.n, 3);
	ASSERT_EQ(out.u.submit.first_index, 100);
	ASSERT_FALSE(out.u.submit.legacy);
	ASSERT_NULL(out.u.submit.values);
	same_blobs(&in.u.submit.payloads, &out.u.submit.payloads, 3);
	ASSERT_TRUE(out.u.submit.has_retry);
	ASSERT_EQ(out.u.submit.retry.max_attempts, 5);
	ASSERT_EQ(out.u.submit.retry.backoff_ms, 250);
	ASSERT_EQ(out.u.submit.retry.backoff_max_ms, 8000);
	tasq_wire_req_fini(&out);

	// Fixed width, no retry policy; and the same carried by a Fetch.
	in.u.submit.payloads =
	    (tasq_blobs) { 4, NULL, (uint8_t *) "abcdefgh", 8 };
	in.u.submit.n         = 2;
	in.u.submit.has_retry = false;
	ASSERT_OK(req_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.submit.n, 2);
	same_blobs(&in.u.submit.payloads, &out.u.submit.payloads, 2);
	ASSERT_FALSE(out.u.submit.has_retry);
	tasq_wire_req_fini(&out);

	tasq_req f           = { .method = TASQ_M_FETCH };
	f.u.fetch.job_id     = 9;
	f.u.fetch.has_submit = true;
	f.u.fetch.submit     = in.u.submit;
	ASSERT_OK(req_round_trip(&f, &out, &why));
	ASSERT_TRUE(out.u.fetch.has_submit);
	ASSERT_STR_EQ(out.u.fetch.submit.type, "sha256");
	same_blobs(&in.u.submit.payloads, &out.u.fetch.submit.payloads, 2);
	tasq_wire_req_fini(&out);
}

// Legacy -> new: a Submit of values is type square, its payloads the
// values' own bytes (little-endian int64s, no copy), values still set.
TEST(submit_legacy_values_are_a_width_8_column)
{
	int64_t     v[] = { 3, -1, INT64_MIN, INT64_MAX };
	tasq_req    in  = { .method = TASQ_M_SUBMIT }, out;
	const char *why;

	in.u.submit = (tasq_submit_req) {
		.queue = "q", .job_id = 1, .n = 4, .values = v
	};
	ASSERT_OK(req_round_trip(&in, &out, &why));
	ASSERT_TRUE(out.u.submit.legacy);
	ASSERT_STR_EQ(out.u.submit.type, TASQ_TYPE_SQUARE);
	ASSERT_NOT_NULL(out.u.submit.values);
	ASSERT_EQ(out.u.submit.payloads.width, 8);
	ASSERT_NULL(out.u.submit.payloads.lens);
	ASSERT_EQ(out.u.submit.payloads.size, 32);
	ASSERT_PTR_EQ(
	    out.u.submit.payloads.data, (uint8_t *) out.u.submit.values);
	for (size_t i = 0; i < 4; i++) {
		ASSERT_EQ(out.u.submit.values[i], v[i]);
		ASSERT_EQ(tasq_blobs_i64(&out.u.submit.payloads, i), v[i]);
	}
	tasq_wire_req_fini(&out);
}

// New -> legacy: with legacy set and values NULL, the encoder writes the
// width-8 column as values (a converted client talking to an old
// server); without legacy it writes type and payloads.
TEST(submit_encoder_writes_values_from_a_legacy_column)
{
	tasq_blobs_buf b;
	tasq_blobs     col;
	tasq_req       in = { .method = TASQ_M_SUBMIT }, out;
	const char    *why;

	tasq_blobs_buf_init(&b);
	for (int64_t i = -2; i < 3; i++) {
		ASSERT_OK(tasq_blobs_buf_add_i64(&b, i * 1000000007));
	}
	tasq_blobs_buf_view(&b, &col);
	in.u.submit = (tasq_submit_req) { .queue = "q",
		.job_id                          = 1,
		.n                               = 5,
		.type                            = TASQ_TYPE_SQUARE,
		.payloads                        = col,
		.legacy                          = true };
	ASSERT_OK(req_round_trip(&in, &out, &why));
	ASSERT_TRUE(out.u.submit.legacy);
	for (size_t i = 0; i < 5; i++) {
		ASSERT_EQ(
		    out.u.submit.values[i], ((int64_t) i - 2) * 1000000007);
	}
	tasq_wire_req_fini(&out);

	in.u.submit.legacy = false;
	ASSERT_OK(req_round_trip(&in, &out, &why));
	ASSERT_FALSE(out.u.submit.legacy);
	ASSERT_NULL(out.u.submit.values);
	ASSERT_STR_EQ(out.u.submit.type, TASQ_TYPE_SQUARE);
	same_blobs(&col, &out.u.submit.payloads, 5);
	tasq_wire_req_fini(&out);
	tasq_blobs_buf_fini(&b);
}

// Square payloads are 8 bytes: "" on the wire is square, and lengths of
// all 8 come out as width 8.
TEST(submit_square_payloads_are_8_bytes)
{
	uint64_t    eights[] = { 8, 8 }, mixed[] = { 8, 7 };
	uint8_t     d[16] = { 5 };
	dbuf        body  = { 0 };
	tasq_req    out;
	const char *why;

	db_str(&body, 1, "q", 1);
	db_uint(&body, 2, 1);
	db_blobs(&body, 6, 0, eights, 2, d, 16);
	ASSERT_OK(decode_req_body(TASQ_M_SUBMIT, &body, &out, &why));
	ASSERT_STR_EQ(out.u.submit.type, TASQ_TYPE_SQUARE);
	ASSERT_FALSE(out.u.submit.legacy);
	ASSERT_EQ(out.u.submit.n, 2);
	ASSERT_EQ(out.u.submit.payloads.width, 8);
	ASSERT_NULL(out.u.submit.payloads.lens);
	ASSERT_EQ(tasq_blobs_i64(&out.u.submit.payloads, 0), 5);
	tasq_wire_req_fini(&out);

	body.n = 0;
	db_str(&body, 1, "q", 1);
	db_uint(&body, 2, 1);
	db_blobs(&body, 6, 0, mixed, 2, d, 15);
	ASSERT_RV(decode_req_body(TASQ_M_SUBMIT, &body, &out, &why),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_EQ(why, "a square payload is 8 bytes");

	body.n = 0;
	db_str(&body, 1, "q", 1);
	db_uint(&body, 2, 1);
	db_str(&body, 5, "square", 6);
	db_blobs(&body, 6, 4, NULL, 0, d, 16);
	ASSERT_RV(decode_req_body(TASQ_M_SUBMIT, &body, &out, &why),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_EQ(why, "a square payload is 8 bytes");
	free(body.b);
}

static void
submit_head(dbuf *body, const char *type)
{
	body->n = 0;
	db_str(body, 1, "q", 1);
	db_uint(body, 2, 1);
	if (type != NULL) {
		db_str(body, 5, type, strlen(type));
	}
}

TEST(submit_refusals)
{
	uint64_t    one[] = { 1 }, two[] = { 2, 3 };
	uint8_t     d[8] = { 0 };
	dbuf        body = { 0 };
	tasq_req    out;
	const char *why;

#define SUBMIT_HEAD(t) submit_head(&body, (t))
#define SUBMIT_REFUSED(w)                                                     \
	do {                                                                  \
		why = NULL;                                                   \
		ASSERT_RV(decode_req_body(TASQ_M_SUBMIT, &body, &out, &why),  \
		    TASQ_EINVALID_ARGUMENT);                                  \
		ASSERT_STR_CONTAINS(why, (w));                                \
	} while (0)

	// values and payloads at once
	SUBMIT_HEAD(NULL);
	db_packed(&body, 4, one, 1);
	db_blobs(&body, 6, 8, NULL, 0, d, 8);
	SUBMIT_REFUSED("not both");
	// values of a type other than square
	SUBMIT_HEAD("sha256");
	db_packed(&body, 4, one, 1);
	SUBMIT_REFUSED("square only");
	// type names
	SUBMIT_HEAD("a b");
	db_blobs(&body, 6, 1, NULL, 0, d, 1);
	SUBMIT_REFUSED("task type");
	SUBMIT_HEAD("x123456789x123456789x123456789x123456789x123456789"
	            "x123456789x12345");
	db_blobs(&body, 6, 1, NULL, 0, d, 1);
	SUBMIT_REFUSED("");
	// no tasks: empty payloads, or none at all
	SUBMIT_HEAD("t");
	db_blobs(&body, 6, 4, NULL, 0, NULL, 0);
	SUBMIT_REFUSED("at least one task");
	SUBMIT_HEAD("t");
	SUBMIT_REFUSED("at least one task");
	// width and lengths at once; data not a multiple of the width
	SUBMIT_HEAD("t");
	db_blobs(&body, 6, 4, two, 2, d, 8);
	SUBMIT_REFUSED("a width or one length per item");
	SUBMIT_HEAD("t");
	db_blobs(&body, 6, 3, NULL, 0, d, 8);
	SUBMIT_REFUSED("do not add up");
	// lengths that do not add up to the data, either way
	SUBMIT_HEAD("t");
	db_blobs(&body, 6, 0, two, 2, d, 4);
	SUBMIT_REFUSED("do not add up");
	SUBMIT_HEAD("t");
	db_blobs(&body, 6, 0, two, 2, d, 6);
	SUBMIT_REFUSED("do not add up");
	// task ids past 2^64 - 1
	body.n = 0;
	db_str(&body, 1, "q", 1);
	db_uint(&body, 2, 1);
	db_uint(&body, 3, UINT64_MAX - 1);
	db_str(&body, 5, "t", 1);
	db_blobs(&body, 6, 1, NULL, 0, d, 2);
	SUBMIT_REFUSED("overflow");
#undef SUBMIT_HEAD
#undef SUBMIT_REFUSED
	free(body.b);
}

// One payload over TASQ_WIRE_MAX_PAYLOAD (1 MiB) refuses the message,
// fixed width or not; exactly 1 MiB is fine.
TEST(payload_over_1_mib_refused)
{
	size_t      big  = TASQ_WIRE_MAX_PAYLOAD + 1;
	uint8_t    *d    = calloc(1, big);
	uint64_t    l[1] = { big };
	dbuf        body = { 0 };
	tasq_req    out;
	const char *why;

	ASSERT_NOT_NULL(d);
	for (int fixed = 0; fixed < 2; fixed++) {
		body.n = 0;
		db_str(&body, 1, "q", 1);
		db_uint(&body, 2, 1);
		db_str(&body, 5, "t", 1);
		db_blobs(&body, 6, fixed ? (uint32_t) big : 0, l,
		    fixed ? 0 : 1, d, big);
		ASSERT_RV(decode_req_body(TASQ_M_SUBMIT, &body, &out, &why),
		    TASQ_EINVALID_ARGUMENT);
		ASSERT_STR_CONTAINS(why, "1 MiB");
	}
	l[0]   = big - 1;
	body.n = 0;
	db_str(&body, 1, "q", 1);
	db_uint(&body, 2, 1);
	db_str(&body, 5, "t", 1);
	db_blobs(&body, 6, 0, l, 1, d, big - 1);
	ASSERT_OK(decode_req_body(TASQ_M_SUBMIT, &body, &out, &why));
	ASSERT_EQ(out.u.submit.n, 1);
	ASSERT_EQ(out.u.submit.payloads.size, TASQ_WIRE_MAX_PAYLOAD);
	tasq_wire_req_fini(&out);
	free(body.b);
	free(d);
}

TEST(result_batches_typed_round_trip)
{
	uint64_t          ids[]  = { 1, 2, 3 };
	uint32_t          lens[] = { 2, 0, 64 }, codes[] = { 0, 13, 0 };
	uint8_t           data[66];
	const char       *errs[] = { NULL, "handler exited 1: boom", "" };
	tasq_result_batch rb[2]  = { { .lease_id  = 1,
		                         .job_id  = 2,
		                         .n       = 3,
		                         .ids     = ids,
		                         .codes   = codes,
		                         .results = { 0, lens, data, 66 },
		                         .errors  = errs },
		 { .lease_id = 3, .job_id = 4 } }; // an empty batch
	tasq_req          in     = { .method = TASQ_M_COMPLETE }, out;
	const char       *why;

	for (size_t i = 0; i < sizeof(data); i++) {
		data[i] = (uint8_t) (i * 7);
	}
	in.u.complete = (typeof(in.u.complete)) { 5, 2, rb };
	ASSERT_OK(req_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.complete.nresults, 2);
	const tasq_result_batch *o = &out.u.complete.results[0];
	ASSERT_FALSE(o->legacy);
	ASSERT_NULL(o->values);
	ASSERT_EQ(o->n, 3);
	same_blobs(&rb[0].results, &o->results, 3);
	ASSERT_NOT_NULL(o->codes);
	ASSERT_EQ(o->codes[1], 13);
	ASSERT_NOT_NULL(o->errors);
	ASSERT_STR_EQ(o->errors[0], ""); // NULL travels as ""
	ASSERT_STR_EQ(o->errors[1], "handler exited 1: boom");
	ASSERT_STR_EQ(o->errors[2], "");
	ASSERT_EQ(out.u.complete.results[1].n, 0);
	ASSERT_NULL(out.u.complete.results[1].errors);
	tasq_wire_req_fini(&out);

	// Errors that are all empty are not sent at all.
	errs[1] = NULL;
	ASSERT_OK(req_round_trip(&in, &out, &why));
	ASSERT_NULL(out.u.complete.results[0].errors);
	tasq_wire_req_fini(&out);
}

// New -> legacy for a worker's results: a width-8 column with legacy set
// goes out as values; a failed task's empty result is 0. Legacy -> new:
// values come back as a width-8 column.
TEST(result_batch_legacy_both_ways)
{
	uint64_t          ids[]  = { 1, 2, 3 };
	uint32_t          lens[] = { 8, 0, 8 }, codes[] = { 0, 11, 0 };
	uint8_t           data[16];
	tasq_result_batch rb = { .lease_id = 1,
		.job_id                    = 2,
		.n                         = 3,
		.ids                       = ids,
		.codes                     = codes,
		.results                   = { 0, lens, data, 16 },
		.legacy                    = true };
	tasq_req          in = { .method = TASQ_M_COMPLETE }, out;
	const char       *why;

	tasq_i64_le_put(data, 49);
	tasq_i64_le_put(data + 8, -64);
	in.u.complete = (typeof(in.u.complete)) { 5, 1, &rb };
	ASSERT_OK(req_round_trip(&in, &out, &why));
	const tasq_result_batch *o = &out.u.complete.results[0];
	ASSERT_TRUE(o->legacy);
	ASSERT_EQ(o->values[0], 49);
	ASSERT_EQ(o->values[1], 0);
	ASSERT_EQ(o->values[2], -64);
	ASSERT_EQ(o->results.width, 8);
	ASSERT_EQ(tasq_blobs_i64(&o->results, 2), -64);
	ASSERT_PTR_EQ(o->results.data, (uint8_t *) o->values);
	tasq_wire_req_fini(&out);

	// A legacy column must be width 8 (or empty items).
	lens[1]         = 4;
	rb.results      = (tasq_blobs) { 0, lens, data, 20 };
	uint8_t d2[20]  = { 0 };
	rb.results.data = d2;
	nng_msg *m;
	ASSERT_RV(tasq_wire_encode_req(&in, &m), TASQ_EINVALID_ARGUMENT);
}

TEST(result_batch_refusals)
{
	uint64_t    ids[] = { 1, 2 }, lens[] = { 1, 1 }, vals[] = { 2, 4 };
	dbuf        body = { 0 }, rb = { 0 };
	tasq_req    out;
	const char *why;

#define RB_REFUSED(w)                                                         \
	do {                                                                  \
		body.n = 0;                                                   \
		db_uint(&body, 1, 7);                                         \
		db_sub(&body, 2, &rb);                                        \
		why = NULL;                                                   \
		ASSERT_RV(                                                    \
		    decode_req_body(TASQ_M_COMPLETE, &body, &out, &why),      \
		    TASQ_EINVALID_ARGUMENT);                                  \
		ASSERT_STR_CONTAINS(why, (w));                                \
		rb.n = 0;                                                     \
	} while (0)

	// values and results at once
	db_packed(&rb, 3, ids, 2);
	db_packed(&rb, 4, vals, 2);
	db_blobs(&rb, 6, 1, NULL, 0, "ab", 2);
	RB_REFUSED("not both");
	// ids without any results column
	db_packed(&rb, 3, ids, 2);
	RB_REFUSED("no values");
	// lengths count differs from the ids
	db_packed(&rb, 3, ids, 2);
	db_blobs(&rb, 6, 0, lens, 1, "a", 1);
	RB_REFUSED("one length per item");
	// width * ids differs from the data
	db_packed(&rb, 3, ids, 2);
	db_blobs(&rb, 6, 2, NULL, 0, "abc", 3);
	RB_REFUSED("do not add up");
	// errors: not one per id
	db_packed(&rb, 3, ids, 2);
	db_blobs(&rb, 6, 1, NULL, 0, "ab", 2);
	db_str(&rb, 7, "x", 1);
	RB_REFUSED("errors must be none or one per id");
	// an error that is too long, not UTF-8, or holds a NUL byte
	static char long_err[TASQ_WIRE_MAX_TEXT + 1];
	memset(long_err, 'e', sizeof(long_err));
	const struct {
		const char *s;
		size_t      n;
	} bad[] = { { long_err, sizeof(long_err) }, { "\xc3\x28", 2 },
		{ "a\0b", 3 } };
	for (size_t i = 0; i < 3; i++) {
		db_packed(&rb, 3, ids, 2);
		db_blobs(&rb, 6, 1, NULL, 0, "ab", 2);
		db_str(&rb, 7, "", 0);
		db_str(&rb, 7, bad[i].s, bad[i].n);
		RB_REFUSED("a string is too long");
	}
	// ...and exactly TASQ_WIRE_MAX_TEXT bytes is fine.
	db_packed(&rb, 3, ids, 2);
	db_blobs(&rb, 6, 1, NULL, 0, "ab", 2);
	db_str(&rb, 7, long_err, TASQ_WIRE_MAX_TEXT);
	db_str(&rb, 7, "", 0);
	body.n = 0;
	db_uint(&body, 1, 7);
	db_sub(&body, 2, &rb);
	ASSERT_OK(decode_req_body(TASQ_M_COMPLETE, &body, &out, &why));
	ASSERT_EQ(
	    strlen(out.u.complete.results[0].errors[0]), TASQ_WIRE_MAX_TEXT);
	tasq_wire_req_fini(&out);
#undef RB_REFUSED
	free(rb.b);
	free(body.b);
}

TEST(result_encoder_refusals)
{
	uint64_t          ids[]  = { 1 };
	uint32_t          lens[] = { 3 };
	static char       long_err[TASQ_WIRE_MAX_TEXT + 2];
	const char       *errs[1];
	tasq_result_batch rb = {
		.n = 1, .ids = ids, .results = { 0, lens, (uint8_t *) "ab", 2 }
	};
	tasq_req in = { .method = TASQ_M_COMPLETE };
	nng_msg *m;

	in.u.complete = (typeof(in.u.complete)) { 5, 1, &rb };
	// lengths that do not add up
	ASSERT_RV(tasq_wire_encode_req(&in, &m), TASQ_EINVALID_ARGUMENT);
	lens[0] = 2;
	ASSERT_OK(tasq_wire_encode_req(&in, &m));
	nng_msg_free(m);
	// errors a decoder would refuse
	memset(long_err, 'e', TASQ_WIRE_MAX_TEXT + 1);
	errs[0]   = long_err;
	rb.errors = errs;
	ASSERT_RV(tasq_wire_encode_req(&in, &m), TASQ_EINVALID_ARGUMENT);
	errs[0] = "\xff";
	ASSERT_RV(tasq_wire_encode_req(&in, &m), TASQ_EINVALID_ARGUMENT);
}

TEST(lease_request_types)
{
	const char *types[] = { "square", "sha256", "my.type-1_x" };
	tasq_req    in      = { .method = TASQ_M_LEASE }, out;
	const char *why;
	dbuf        body = { 0 };

	in.u.lease.queue       = "q";
	in.u.lease.worker_id   = 1;
	in.u.lease.worker_name = "w";
	in.u.lease.ntypes      = 3;
	in.u.lease.types       = types;
	ASSERT_OK(req_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.lease.ntypes, 3);
	for (size_t i = 0; i < 3; i++) {
		ASSERT_STR_EQ(out.u.lease.types[i], types[i]);
	}
	tasq_wire_req_fini(&out);
	// None: a legacy worker.
	in.u.lease.ntypes = 0;
	in.u.lease.types  = NULL;
	ASSERT_OK(req_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.lease.ntypes, 0);
	ASSERT_NULL(out.u.lease.types);
	tasq_wire_req_fini(&out);

	// An invalid name, an empty one, or more than TASQ_WIRE_MAX_TYPES.
	const char *bad[] = { "a/b", "" };
	for (size_t i = 0; i < 2; i++) {
		body.n = 0;
		db_str(&body, 1, "q", 1);
		db_uint(&body, 2, 1);
		db_str(&body, 7, "ok", 2);
		db_str(&body, 7, bad[i], strlen(bad[i]));
		ASSERT_RV(decode_req_body(TASQ_M_LEASE, &body, &out, &why),
		    TASQ_EINVALID_ARGUMENT);
		ASSERT_STR_CONTAINS(why, "task type");
	}
	body.n = 0;
	db_str(&body, 1, "q", 1);
	db_uint(&body, 2, 1);
	for (int i = 0; i < TASQ_WIRE_MAX_TYPES; i++) {
		db_str(&body, 7, "t", 1);
	}
	ASSERT_OK(decode_req_body(TASQ_M_LEASE, &body, &out, &why));
	ASSERT_EQ(out.u.lease.ntypes, TASQ_WIRE_MAX_TYPES);
	tasq_wire_req_fini(&out);
	db_str(&body, 7, "t", 1);
	ASSERT_RV(decode_req_body(TASQ_M_LEASE, &body, &out, &why),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_EQ(why, "too many task types");
	free(body.b);
}

// Issue 13 (sharing a queue): LeaseRequest.queues with weights (0 is 1),
// valid distinct names, at most TASQ_WIRE_MAX_QUEUES, weights up to 100;
// SubmitRequest.priority up to 100, in a Submit and in a Fetch.
TEST(lease_request_queues_and_submit_priority)
{
	tasq_req    in = { .method = TASQ_M_LEASE }, out;
	const char *why;
	dbuf        body = { 0 }, sub = { 0 };

	in.u.lease.queue       = "a";
	in.u.lease.worker_id   = 1;
	in.u.lease.worker_name = "w";
	in.u.lease.nqueues     = 2;
	in.u.lease.queues[0]   = (tasq_queue_weight) { "a", 3 };
	in.u.lease.queues[1]   = (tasq_queue_weight) { "b", 0 };
	ASSERT_OK(req_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.lease.nqueues, 2);
	ASSERT_STR_EQ(out.u.lease.queues[0].name, "a");
	ASSERT_EQ(out.u.lease.queues[0].weight, 3);
	ASSERT_STR_EQ(out.u.lease.queues[1].name, "b");
	ASSERT_EQ(out.u.lease.queues[1].weight, 1);
	tasq_wire_req_fini(&out);
	in.u.lease.nqueues = 0;
	ASSERT_OK(req_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.lease.nqueues, 0);
	tasq_wire_req_fini(&out);

	// Refused: a bad name, a name twice, a weight over 100, too many.
	struct {
		const char *names[2];
		uint64_t    weights[2];
		const char *why;
	} bad[] = {
		{ { "a", "b/c" }, { 1, 1 }, "queue name" },
		{ { "a", "a" }, { 1, 2 }, "named twice" },
		{ { "a", "b" }, { 1, 101 }, "weight" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		body.n = 0;
		db_str(&body, 1, "a", 1);
		db_uint(&body, 2, 1);
		for (int k = 0; k < 2; k++) {
			sub.n = 0;
			db_str(
			    &sub, 1, bad[i].names[k], strlen(bad[i].names[k]));
			db_uint(&sub, 2, bad[i].weights[k]);
			db_sub(&body, 8, &sub);
		}
		ASSERT_RV(decode_req_body(TASQ_M_LEASE, &body, &out, &why),
		    TASQ_EINVALID_ARGUMENT);
		ASSERT_STR_CONTAINS(why, bad[i].why);
	}
	body.n = 0;
	db_str(&body, 1, "a", 1);
	db_uint(&body, 2, 1);
	for (int k = 0; k <= TASQ_WIRE_MAX_QUEUES; k++) {
		char name[8];
		snprintf(name, sizeof(name), "q%d", k);
		sub.n = 0;
		db_str(&sub, 1, name, strlen(name));
		db_sub(&body, 8, &sub);
	}
	ASSERT_RV(decode_req_body(TASQ_M_LEASE, &body, &out, &why),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_EQ(why, "too many queues");
	free(body.b);
	free(sub.b);

	// Priority: carried in a Submit and a Fetch's Submit; over 100
	// refused.
	uint32_t lens[] = { 1 };
	tasq_req s      = { .method = TASQ_M_SUBMIT };
	s.u.submit      = (tasq_submit_req) { .queue = "q",
		     .job_id                         = 9,
		     .n                              = 1,
		     .type                           = "t",
		     .payloads = { 0, lens, (uint8_t *) "x", 1 },
		     .priority = 7 };
	ASSERT_OK(req_round_trip(&s, &out, &why));
	ASSERT_EQ(out.u.submit.priority, 7);
	tasq_wire_req_fini(&out);
	tasq_req f           = { .method = TASQ_M_FETCH };
	f.u.fetch.job_id     = 9;
	f.u.fetch.has_submit = true;
	f.u.fetch.submit     = s.u.submit;
	ASSERT_OK(req_round_trip(&f, &out, &why));
	ASSERT_EQ(out.u.fetch.submit.priority, 7);
	tasq_wire_req_fini(&out);
	s.u.submit.priority = 0;
	ASSERT_OK(req_round_trip(&s, &out, &why));
	ASSERT_EQ(out.u.submit.priority, 0);
	tasq_wire_req_fini(&out);
	s.u.submit.priority = 101;
	ASSERT_RV(req_round_trip(&s, &out, &why), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(why, "priority");
}

TEST(task_batches_typed_and_legacy)
{
	uint64_t        ids[] = { 4, 5 };
	int64_t         v[]   = { 6, -7 };
	uint8_t         d8[16];
	uint32_t        lens[] = { 1, 3 };
	tasq_task_batch tb[3]  = {
		 // typed
                { .lease_id   = 1,
		     .job_id   = 2,
		     .attempt  = 1,
		     .n        = 2,
		     .ids      = ids,
		     .type     = "sha256",
		     .payloads = { 0, lens, (uint8_t *) "abcd", 4 } },
                // for a legacy worker, from the width-8 column
                { .lease_id   = 3,
		     .job_id   = 4,
		     .attempt  = 2,
		     .n        = 2,
		     .ids      = ids,
		     .type     = TASQ_TYPE_SQUARE,
		     .payloads = { 8, NULL, d8, 16 },
		     .legacy   = true },
                // as code not yet converted builds it: values alone
                { .lease_id = 5,
		     .job_id = 6,
		     .n      = 2,
		     .ids    = ids,
		     .values = v },
	};
	tasq_rep    in = { .method = TASQ_M_LEASE }, out;
	const char *why;

	tasq_i64_le_put(d8, 6);
	tasq_i64_le_put(d8 + 8, -7);
	in.u.lease.nbatches = 3;
	in.u.lease.batches  = tb;
	ASSERT_OK(rep_round_trip(&in, &out, &why));
	const tasq_task_batch *o = out.u.lease.batches;
	ASSERT_STR_EQ(o[0].type, "sha256");
	ASSERT_FALSE(o[0].legacy);
	ASSERT_NULL(o[0].values);
	same_blobs(&tb[0].payloads, &o[0].payloads, 2);
	for (size_t i = 1; i < 3; i++) {
		ASSERT_STR_EQ(o[i].type, TASQ_TYPE_SQUARE);
		ASSERT_TRUE(o[i].legacy);
		ASSERT_EQ(o[i].values[0], 6);
		ASSERT_EQ(o[i].values[1], -7);
		ASSERT_EQ(o[i].payloads.width, 8);
		ASSERT_EQ(tasq_blobs_i64(&o[i].payloads, 1), -7);
	}
	ASSERT_EQ(o[1].attempt, 2);
	tasq_wire_rep_fini(&out);
}

TEST(task_batch_refusals)
{
	uint64_t    ids[] = { 1, 2 }, vals[] = { 2, 4 };
	dbuf        body = { 0 }, tb = { 0 };
	tasq_rep    out;
	const char *why;

#define TB_REFUSED(w)                                                         \
	do {                                                                  \
		body.n = 0;                                                   \
		db_sub(&body, 1, &tb);                                        \
		why = NULL;                                                   \
		ASSERT_RV(decode_rep_body(TASQ_M_LEASE, &body, &out, &why),   \
		    TASQ_EINVALID_ARGUMENT);                                  \
		ASSERT_STR_CONTAINS(why, (w));                                \
		tb.n = 0;                                                     \
	} while (0)

	db_packed(&tb, 4, ids, 2);
	db_packed(&tb, 5, vals, 2);
	db_str(&tb, 6, "sha256", 6);
	TB_REFUSED("square only");
	db_packed(&tb, 4, ids, 2);
	db_str(&tb, 6, "no way", 6);
	db_blobs(&tb, 7, 1, NULL, 0, "ab", 2);
	TB_REFUSED("task type");
	db_packed(&tb, 4, ids, 2);
	db_packed(&tb, 5, vals, 2);
	db_blobs(&tb, 7, 8, NULL, 0, "abcdefghabcdefgh", 16);
	TB_REFUSED("not both");
	db_packed(&tb, 4, ids, 2);
	db_str(&tb, 6, "t", 1);
	db_blobs(&tb, 7, 1, NULL, 0, "abc", 3);
	TB_REFUSED("do not add up");
	db_packed(&tb, 4, ids, 2);
	db_blobs(&tb, 7, 4, NULL, 0, "abcdefgh", 8); // square, width 4
	TB_REFUSED("8 bytes");
#undef TB_REFUSED
	free(tb.b);
	free(body.b);
}

TEST(fetch_reply_typed_and_legacy)
{
	uint64_t    ids[]   = { 0, 1, 2 };
	uint32_t    codes[] = { 0, 11, 0 };
	uint8_t     d[16];
	uint32_t    lens[] = { 8, 0, 8 };
	const char *errs[] = { "", "square overflows int64", NULL };
	tasq_rep    in     = { .method = TASQ_M_FETCH }, out;
	const char *why;

	tasq_i64_le_put(d, 9);
	tasq_i64_le_put(d + 8, 16);
	in.u.fetch = (typeof(in.u.fetch)) { .seq = 4,
		.n                               = 3,
		.ids                             = ids,
		.codes                           = codes,
		.submitted                       = 3,
		.completed                       = 3,
		.results                         = { 0, lens, d, 16 },
		.errors                          = errs,
		.no_worker                       = true };
	ASSERT_OK(rep_round_trip(&in, &out, &why));
	ASSERT_FALSE(out.u.fetch.legacy);
	ASSERT_NULL(out.u.fetch.values);
	same_blobs(&in.u.fetch.results, &out.u.fetch.results, 3);
	ASSERT_STR_EQ(out.u.fetch.errors[1], "square overflows int64");
	ASSERT_STR_EQ(out.u.fetch.errors[2], "");
	ASSERT_TRUE(out.u.fetch.no_worker);
	tasq_wire_rep_fini(&out);

	// The same results to a job submitted legacy: values, 0 for the
	// failed task; the errors travel too (old clients ignore them).
	in.u.fetch.legacy = true;
	ASSERT_OK(rep_round_trip(&in, &out, &why));
	ASSERT_TRUE(out.u.fetch.legacy);
	ASSERT_EQ(out.u.fetch.values[0], 9);
	ASSERT_EQ(out.u.fetch.values[1], 0);
	ASSERT_EQ(out.u.fetch.values[2], 16);
	ASSERT_EQ(out.u.fetch.codes[1], 11);
	ASSERT_STR_EQ(out.u.fetch.errors[1], "square overflows int64");
	tasq_wire_rep_fini(&out);

	// A reply with no results at all (seq 0), either way.
	in.u.fetch =
	    (typeof(in.u.fetch)) { .submitted = 3, .no_worker = true };
	ASSERT_OK(rep_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.fetch.n, 0);
	ASSERT_FALSE(out.u.fetch.legacy);
	ASSERT_TRUE(out.u.fetch.no_worker);
	tasq_wire_rep_fini(&out);

	// errors not one per id
	dbuf body = { 0 };
	db_packed(&body, 2, ids, 2);
	db_blobs(&body, 8, 1, NULL, 0, "ab", 2);
	db_str(&body, 9, "e", 1);
	ASSERT_RV(decode_rep_body(TASQ_M_FETCH, &body, &out, &why),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(why, "errors");
	free(body.b);
}

TEST(health_stats_new_fields)
{
	tasq_type_stats ts[2] = { { "default", "square", 10, 2, 3 },
		{ "q2", "sha256", 0, 0, 0 } };
	tasq_rep        in, out;
	const char     *why;

	in = (tasq_rep) { .method = TASQ_M_HEALTH,
		.u.health         = { true, "0.2.0", 1, 2, 65535 } };
	ASSERT_OK(rep_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.health.heartbeat_port, 65535);
	tasq_wire_rep_fini(&out);

	in                    = (tasq_rep) { .method = TASQ_M_STATS };
	in.u.stats.version    = "v";
	in.u.stats.ntypes     = 2;
	in.u.stats.types      = ts;
	in.u.stats.dead_total = UINT64_MAX;
	ASSERT_OK(rep_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.stats.ntypes, 2);
	for (size_t i = 0; i < 2; i++) {
		ASSERT_STR_EQ(out.u.stats.types[i].queue, ts[i].queue);
		ASSERT_STR_EQ(out.u.stats.types[i].type, ts[i].type);
		ASSERT_EQ(out.u.stats.types[i].ready, ts[i].ready);
		ASSERT_EQ(out.u.stats.types[i].leased, ts[i].leased);
		ASSERT_EQ(out.u.stats.types[i].workers, ts[i].workers);
	}
	ASSERT_EQ(out.u.stats.dead_total, UINT64_MAX);
	tasq_wire_rep_fini(&out);
}

// The server identity (issue 15): Health and Stats carry it whole (all
// 64 bits, as a fixed64), and a reply without it (a server from before)
// says 0.
TEST(health_stats_identity)
{
	tasq_rep    in, out;
	const char *why;

	in = (tasq_rep) { .method = TASQ_M_HEALTH,
		.u.health         = { .serving = true,
		            .version           = "v",
		            .server_id         = 1,
		            .identity          = 0xfedcba9876543210ull } };
	ASSERT_OK(rep_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.health.identity, 0xfedcba9876543210ull);
	ASSERT_EQ(out.u.health.server_id, 1);
	tasq_wire_rep_fini(&out);

	in = (tasq_rep) { .method = TASQ_M_HEALTH,
		.u.health         = { .serving = true, .version = "v" } };
	ASSERT_OK(rep_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.health.identity, 0);
	tasq_wire_rep_fini(&out);

	in                  = (tasq_rep) { .method = TASQ_M_STATS };
	in.u.stats.version  = "v";
	in.u.stats.identity = UINT64_MAX;
	ASSERT_OK(rep_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.stats.identity, UINT64_MAX);
	tasq_wire_rep_fini(&out);
}

TEST(dead_list_and_purge_round_trip)
{
	uint64_t         ids[] = { 3, UINT64_MAX };
	tasq_dead_letter dl[2] = {
		{ .id             = 1,
		    .job_id       = 2,
		    .task_id      = 3,
		    .queue        = "default",
		    .type         = "sha256",
		    .payload      = (const uint8_t *) "pay\0load",
		    .payload_size = 8,
		    .payload_len  = 8,
		    .attempts     = 5,
		    .code         = 13,
		    .error        = "exit status 1: \xe2\x9c\x97",
		    .time_ms      = 1700000000000 },
		{ .id = 2, .queue = "q", .type = "t", .payload_len = 1 << 20 },
	};
	tasq_req    rq = { .method = TASQ_M_DEAD_LIST }, ro;
	tasq_rep    in = { .method = TASQ_M_DEAD_LIST }, out;
	const char *why;

	rq.u.dead_list = (typeof(rq.u.dead_list)) { "default", 7, 100, true };
	ASSERT_OK(req_round_trip(&rq, &ro, &why));
	ASSERT_STR_EQ(ro.u.dead_list.queue, "default");
	ASSERT_EQ(ro.u.dead_list.after_id, 7);
	ASSERT_EQ(ro.u.dead_list.max, 100);
	ASSERT_TRUE(ro.u.dead_list.payloads);
	tasq_wire_req_fini(&ro);
	rq.u.dead_list = (typeof(rq.u.dead_list)) { NULL, 0, 0, false };
	ASSERT_OK(req_round_trip(&rq, &ro, &why));
	ASSERT_STR_EQ(ro.u.dead_list.queue, ""); // all queues
	tasq_wire_req_fini(&ro);

	in.u.dead_list = (typeof(in.u.dead_list)) { 2, dl, 12345 };
	ASSERT_OK(rep_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.dead_list.n, 2);
	ASSERT_EQ(out.u.dead_list.total, 12345);
	for (size_t i = 0; i < 2; i++) {
		const tasq_dead_letter *x = &dl[i],
		                       *y = &out.u.dead_list.letters[i];
		ASSERT_EQ(x->id, y->id);
		ASSERT_EQ(x->job_id, y->job_id);
		ASSERT_EQ(x->task_id, y->task_id);
		ASSERT_STR_EQ(x->queue, y->queue);
		ASSERT_STR_EQ(x->type, y->type);
		ASSERT_EQ(x->payload_size, y->payload_size);
		ASSERT_MEM_EQ(x->payload, y->payload, x->payload_size);
		ASSERT_EQ(x->payload_len, y->payload_len);
		ASSERT_EQ(x->attempts, y->attempts);
		ASSERT_EQ(x->code, y->code);
		ASSERT_STR_EQ(x->error ? x->error : "", y->error);
		ASSERT_EQ(x->time_ms, y->time_ms);
	}
	tasq_wire_rep_fini(&out);

	rq              = (tasq_req) { .method = TASQ_M_DEAD_PURGE };
	rq.u.dead_purge = (typeof(rq.u.dead_purge)) { 2, ids, false, "q" };
	ASSERT_OK(req_round_trip(&rq, &ro, &why));
	ASSERT_EQ(ro.u.dead_purge.n, 2);
	ASSERT_EQ(ro.u.dead_purge.ids[1], UINT64_MAX);
	ASSERT_FALSE(ro.u.dead_purge.all);
	ASSERT_STR_EQ(ro.u.dead_purge.queue, "q");
	tasq_wire_req_fini(&ro);
	rq.u.dead_purge = (typeof(rq.u.dead_purge)) { 0, NULL, true, "" };
	ASSERT_OK(req_round_trip(&rq, &ro, &why));
	ASSERT_TRUE(ro.u.dead_purge.all);
	ASSERT_EQ(ro.u.dead_purge.n, 0);
	tasq_wire_req_fini(&ro);

	in =
	    (tasq_rep) { .method = TASQ_M_DEAD_PURGE, .u.dead_purge = { 42 } };
	ASSERT_OK(rep_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.dead_purge.purged, 42);
	tasq_wire_rep_fini(&out);
}

TEST(dead_letter_refusals)
{
	dbuf        body = { 0 }, l = { 0 }, ids = { 0 };
	tasq_req    rq;
	tasq_rep    out;
	const char *why;

	// A queue that is neither "" nor a valid name.
	db_str(&body, 1, "a b", 3);
	ASSERT_RV(decode_req_body(TASQ_M_DEAD_LIST, &body, &rq, &why),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_RV(
	    decode_req_body(TASQ_M_DEAD_PURGE, &(dbuf) { 0 }, &rq, &why), 0);
	tasq_wire_req_fini(&rq);
	body.n = 0;
	db_str(&body, 3, "a b", 3);
	ASSERT_RV(decode_req_body(TASQ_M_DEAD_PURGE, &body, &rq, &why),
	    TASQ_EINVALID_ARGUMENT);
	// More ids than TASQ_WIRE_MAX_DEAD.
	for (size_t i = 0; i <= TASQ_WIRE_MAX_DEAD; i++) {
		db_varint(&ids, 1);
	}
	body.n = 0;
	db_sub(&body, 1, &ids);
	ASSERT_RV(decode_req_body(TASQ_M_DEAD_PURGE, &body, &rq, &why),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_EQ(why, "too many dead letter ids");
	// A letter with code 17, or a payload shorter than payload_len.
	db_uint(&l, 9, 17);
	body.n = 0;
	db_sub(&body, 1, &l);
	ASSERT_RV(decode_rep_body(TASQ_M_DEAD_LIST, &body, &out, &why),
	    TASQ_EINVALID_ARGUMENT);
	l.n = 0;
	db_str(&l, 6, "abc", 3);
	db_uint(&l, 7, 4);
	body.n = 0;
	db_sub(&body, 1, &l);
	ASSERT_RV(decode_rep_body(TASQ_M_DEAD_LIST, &body, &out, &why),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(why, "dead letter");
	free(body.b);
	free(l.b);
	free(ids.b);
}

// Repeated strings cost protobuf-c some 90 bytes each whatever their
// size: the budget charges them (TASQ_WIRE_DECODE_PER_STR), so that the
// largest honest messages with errors decode, and floods of empty ones
// are refused within the bound.
TEST(decode_errors_and_types_within_bound)
{
	dbuf col = { 0 }, ids = { 0 }, rb = { 0 }, body = { 0 };

	// Complete: 1,024 batches of 1,024 results, every one with an
	// empty error but one: 1,048,576 strings.
	for (size_t k = 0; k < 1024; k++) {
		db_varint(&ids, k);
	}
	for (size_t k = 0; k < 1024 * 8; k++) {
		db_bytes(&col, "\x01", 1);
	}
	db_sub(&rb, 3, &ids);
	db_blobs(&rb, 6, 8, NULL, 0, col.b, col.n);
	db_str(&rb, 7, "boom", 4);
	for (size_t k = 1; k < 1024; k++) {
		db_str(&rb, 7, "", 0);
	}
	db_uint(&body, 1, 1);
	for (size_t k = 0; k < TASQ_WIRE_MAX_BATCHES; k++) {
		db_sub(&body, 2, &rb);
	}
	ASSERT_OK(decode_bounded(false, TASQ_M_COMPLETE, &body));
	// FetchReply: 1,048,576 results with errors.
	free(ids.b);
	ids    = (dbuf) { 0 };
	body.n = 0;
	for (size_t k = 0; k < TASQ_WIRE_MAX_IDS; k++) {
		db_varint(&ids, 1);
	}
	db_sub(&body, 2, &ids);
	col.n = 0;
	db_blobs(&body, 8, 1, NULL, 0, ids.b, TASQ_WIRE_MAX_IDS);
	for (size_t k = 0; k < TASQ_WIRE_MAX_IDS; k++) {
		db_str(&body, 9, "", 0);
	}
	ASSERT_OK(decode_bounded(true, TASQ_M_FETCH, &body));
	// One more error string is over the limit.
	db_str(&body, 9, "", 0);
	ASSERT_RV(
	    decode_bounded(true, TASQ_M_FETCH, &body), TASQ_EINVALID_ARGUMENT);
	free(col.b);
	free(ids.b);
	free(rb.b);
	free(body.b);
}

// The attacks of decode_refuses_2m_entries_within_bound on the new
// repeated fields: 2,000,000 empty strings or messages, or varints.
TEST(decode_refuses_2m_new_entries_within_bound)
{
	static const struct attack more[] = {
		{ false, TASQ_M_LEASE, 0, 7, true },    // types
		{ false, TASQ_M_LEASE, 6, 7, true },    // errors
		{ false, TASQ_M_COMPLETE, 2, 7, true }, // errors
		{ false, TASQ_M_SUBMIT, 6, 2, false },  // Blobs lengths
		{ false, TASQ_M_DEAD_PURGE, 0, 1, false },
		{ false, TASQ_M_SUBMIT, 0, 6, true }, // Blobs repeated
		{ false, TASQ_M_SUBMIT, 0, 7, true }, // RetryPolicy repeated
		{ true, TASQ_M_FETCH, 0, 9, true },   // errors
		{ true, TASQ_M_FETCH, 8, 2, false },
		{ true, TASQ_M_LEASE, 1, 7, true },
		{ true, TASQ_M_STATS, 0, 7, true },
		{ true, TASQ_M_DEAD_LIST, 0, 1, true },
		{ true, TASQ_M_DEAD_LIST, 1, 10, true },
	};

	for (size_t i = 0; i < sizeof(more) / sizeof(more[0]); i++) {
		const struct attack *a     = &more[i];
		dbuf                 inner = { 0 }, body = { 0 };
		uint8_t              two[2];

		two[0] = (uint8_t) (a->field << 3 | (a->msg ? 2 : 0));
		two[1] = a->msg ? 0 : 1;
		for (size_t k = 0; k < 2000000; k++) {
			db_bytes(a->outer ? &inner : &body, two, 2);
		}
		if (a->outer) {
			db_sub(&body, a->outer, &inner);
		}
		ASSERT_RV(decode_bounded(a->reply, a->method, &body),
		    TASQ_EINVALID_ARGUMENT);
		free(inner.b);
		free(body.b);
	}
}

TEST(result_codes_final_or_retried)
{
	static const uint32_t final[] = { 0, 3, 5, 6, 7, 9, 11, 12, 16 };
	static const uint32_t again[] = { 1, 2, 4, 8, 10, 13, 14, 15, 17,
		UINT32_MAX };

	for (size_t i = 0; i < sizeof(final) / sizeof(final[0]); i++) {
		ASSERT_TRUE(tasq_wire_code_final(final[i]));
	}
	for (size_t i = 0; i < sizeof(again) / sizeof(again[0]); i++) {
		ASSERT_FALSE(tasq_wire_code_final(again[i]));
	}
}

// A square batch without tasks (a lease whose tasks got results while it
// waited) still has the square column's form: width 8.
TEST(empty_square_batch_is_width_8)
{
	dbuf        body = { 0 };
	tasq_rep    out;
	const char *why;

	db_str(&body, 1, "", 0); // one TaskBatch, every field absent
	ASSERT_OK(decode_rep_body(TASQ_M_LEASE, &body, &out, &why));
	ASSERT_EQ(out.u.lease.nbatches, 1);
	ASSERT_STR_EQ(out.u.lease.batches[0].type, TASQ_TYPE_SQUARE);
	ASSERT_EQ(out.u.lease.batches[0].n, 0);
	ASSERT_EQ(out.u.lease.batches[0].payloads.width, 8);
	ASSERT_EQ(out.u.lease.batches[0].payloads.size, 0);
	tasq_wire_rep_fini(&out);
	free(body.b);
}

// Ids that are contiguous travel as (first, count) runs where the peer
// asked for them (PROTOCOL.md 8.4), and decode to the same ids column.
TEST(id_runs_round_trip)
{
	enum { N = 200 };
	uint64_t        ids[N], scattered[N];
	uint8_t         d[8 * N];
	tasq_task_batch tb = { 0 };
	tasq_rep        in = { .method = TASQ_M_LEASE }, out;
	tasq_req        rin, rout;
	nng_msg        *plain, *runs;
	const char     *why;

	for (size_t i = 0; i < N; i++) {
		ids[i]       = i < N / 2 ? 100 + i : 500 + i; // two runs
		scattered[i] = 2 * i;
		tasq_i64_le_put(d + 8 * i, (int64_t) i);
	}
	tb                  = (tasq_task_batch) { .lease_id = 1,
		                 .job_id                    = 2,
		                 .attempt                   = 1,
		                 .n                         = N,
		                 .ids                       = ids,
		                 .type                      = TASQ_TYPE_SQUARE,
		                 .payloads                  = { 8, NULL, d, sizeof(d) } };
	in.u.lease.nbatches = 1;
	in.u.lease.batches  = &tb;
	ASSERT_OK(tasq_wire_encode_rep(&in, &plain));
	tb.id_runs = true;
	ASSERT_OK(tasq_wire_encode_rep(&in, &runs));
	// 200 ids of 2 bytes each against two (first, count) pairs
	ASSERT_GE(nng_msg_len(plain), nng_msg_len(runs) + 300);
	nng_msg_free(plain);
	nng_msg_free(runs);
	ASSERT_OK(rep_round_trip(&in, &out, &why));
	ASSERT_TRUE(out.u.lease.batches[0].id_runs);
	ASSERT_EQ(out.u.lease.batches[0].n, N);
	for (size_t i = 0; i < N; i++) {
		ASSERT_EQ(out.u.lease.batches[0].ids[i], ids[i]);
	}
	same_blobs(&tb.payloads, &out.u.lease.batches[0].payloads, N);
	tasq_wire_rep_fini(&out);
	// Ids in no order worth runs go as they are, even when allowed.
	tb.ids = scattered;
	ASSERT_OK(rep_round_trip(&in, &out, &why));
	ASSERT_FALSE(out.u.lease.batches[0].id_runs);
	for (size_t i = 0; i < N; i++) {
		ASSERT_EQ(out.u.lease.batches[0].ids[i], scattered[i]);
	}
	tasq_wire_rep_fini(&out);

	// A worker's results, and the flag of its lease request.
	tasq_result_batch rb = { .lease_id = 1,
		.job_id                    = 2,
		.n                         = N,
		.ids                       = ids,
		.results                   = { 8, NULL, d, sizeof(d) },
		.id_runs                   = true };
	rin                  = (tasq_req) { .method = TASQ_M_LEASE,
		                 .u.lease           = { .queue = "q",
		                               .worker_id      = 9,
		                               .worker_name    = "w",
		                               .max_tasks      = 10,
		                               .nresults       = 1,
		                               .results        = &rb,
		                               .id_runs        = true } };
	ASSERT_OK(req_round_trip(&rin, &rout, &why));
	ASSERT_TRUE(rout.u.lease.id_runs);
	ASSERT_TRUE(rout.u.lease.results[0].id_runs);
	ASSERT_EQ(rout.u.lease.results[0].n, N);
	for (size_t i = 0; i < N; i++) {
		ASSERT_EQ(rout.u.lease.results[0].ids[i], ids[i]);
	}
	same_blobs(&rb.results, &rout.u.lease.results[0].results, N);
	tasq_wire_req_fini(&rout);

	// A client's fetch, and the reply.
	rin = (tasq_req) { .method = TASQ_M_FETCH,
		.u.fetch           = { .job_id = 3, .id_runs = true } };
	ASSERT_OK(req_round_trip(&rin, &rout, &why));
	ASSERT_TRUE(rout.u.fetch.id_runs);
	tasq_wire_req_fini(&rout);
	in         = (tasq_rep) { .method = TASQ_M_FETCH };
	in.u.fetch = (typeof(in.u.fetch)) { .seq = 1,
		.n                               = N,
		.ids                             = ids,
		.results                         = { 8, NULL, d, sizeof(d) },
		.id_runs                         = true };
	ASSERT_OK(rep_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.fetch.n, N);
	for (size_t i = 0; i < N; i++) {
		ASSERT_EQ(out.u.fetch.ids[i], ids[i]);
	}
	tasq_wire_rep_fini(&out);
}

TEST(id_runs_refusals)
{
	uint64_t    ids[] = { 1, 2 };
	dbuf        body = { 0 }, rb = { 0 }, rb2 = { 0 };
	tasq_req    out;
	tasq_rep    rout;
	const char *why;

#define RUNS_REFUSED(w)                                                       \
	do {                                                                  \
		body.n = 0;                                                   \
		db_uint(&body, 1, 7);                                         \
		db_sub(&body, 2, &rb);                                        \
		why = NULL;                                                   \
		ASSERT_RV(                                                    \
		    decode_req_body(TASQ_M_COMPLETE, &body, &out, &why),      \
		    TASQ_EINVALID_ARGUMENT);                                  \
		ASSERT_STR_CONTAINS(why, (w));                                \
		ASSERT_EQ(decode_bounded(false, TASQ_M_COMPLETE, &body),      \
		    TASQ_EINVALID_ARGUMENT);                                  \
		rb.n = 0;                                                     \
	} while (0)

	db_packed(&rb, 8, (uint64_t[]) { 1, 2, 3 }, 3);
	db_blobs(&rb, 6, 1, NULL, 0, "ab", 2);
	RUNS_REFUSED("pairs");
	db_packed(&rb, 8, (uint64_t[]) { 1, 2, 9, 0 }, 4);
	db_blobs(&rb, 6, 1, NULL, 0, "ab", 2);
	RUNS_REFUSED("empty");
	db_packed(&rb, 8, (uint64_t[]) { UINT64_MAX, 2 }, 2);
	db_blobs(&rb, 6, 1, NULL, 0, "ab", 2);
	RUNS_REFUSED("2^64");
	db_packed(&rb, 3, ids, 2);
	db_packed(&rb, 8, (uint64_t[]) { 1, 2 }, 2);
	db_blobs(&rb, 6, 1, NULL, 0, "ab", 2);
	RUNS_REFUSED("not both");
	db_packed(&rb, 8, (uint64_t[]) { 1, TASQ_WIRE_MAX_IDS + 1 }, 2);
	db_blobs(&rb, 6, 1, NULL, 0, "ab", 2);
	RUNS_REFUSED("too many ids");
	// runs that do not match the results column
	db_packed(&rb, 8, (uint64_t[]) { 1, 3 }, 2);
	db_blobs(&rb, 6, 1, NULL, 0, "ab", 2);
	RUNS_REFUSED("do not add up");

	// Two batches within the limit each, over it together.
	body.n = 0;
	db_uint(&body, 1, 7);
	for (int k = 0; k < 2; k++) {
		rb2.n = 0;
		db_packed(&rb2, 8,
		    (uint64_t[]) { 1 + (uint64_t) k * TASQ_WIRE_MAX_IDS,
		        TASQ_WIRE_MAX_IDS / 2 + 1 },
		    2);
		db_blobs(&rb2, 6, 0, NULL, 0, "", 0);
		db_sub(&body, 2, &rb2);
	}
	ASSERT_RV(decode_req_body(TASQ_M_COMPLETE, &body, &out, &why),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(why, "too many");

	// The most ids one run may stand for decode within the bound (the
	// payloads of a type of width 1 take one byte each).
	static uint8_t one[TASQ_WIRE_MAX_IDS];
	memset(one, 'x', sizeof(one));
	rb.n = 0;
	db_packed(&rb, 8, (uint64_t[]) { 1, TASQ_WIRE_MAX_IDS }, 2);
	db_str(&rb, 6, "t", 1);
	db_blobs(&rb, 7, 1, NULL, 0, one, sizeof(one));
	body.n = 0;
	db_sub(&body, 1, &rb);
	ASSERT_OK(decode_rep_body(TASQ_M_LEASE, &body, &rout, &why));
	ASSERT_EQ(rout.u.lease.batches[0].n, TASQ_WIRE_MAX_IDS);
	ASSERT_EQ(rout.u.lease.batches[0].ids[TASQ_WIRE_MAX_IDS - 1],
	    TASQ_WIRE_MAX_IDS);
	tasq_wire_rep_fini(&rout);
	ASSERT_OK(decode_bounded(true, TASQ_M_LEASE, &body));

	// A fetch reply's runs are checked the same way.
	body.n = 0;
	db_packed(&body, 13, (uint64_t[]) { 5 }, 1);
	ASSERT_RV(decode_rep_body(TASQ_M_FETCH, &body, &rout, &why),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(why, "pairs");
#undef RUNS_REFUSED
	free(rb.b);
	free(rb2.b);
	free(body.b);
}

// Issue 13: the job registry's requests and replies, and the new
// SubmitRequest fields.
TEST(jobs_round_trip)
{
	tasq_job_info ji[2] = {
		{ .job_id          = UINT64_MAX,
		    .queue         = "default",
		    .type          = "square",
		    .host          = "host-a.example",
		    .state         = TASQ_JOB_DONE,
		    .submitted     = 1000000,
		    .completed     = 1000000,
		    .failed        = 3,
		    .age_ms        = 12345,
		    .result_ttl_ms = 3600000,
		    .expires_in_ms = 99,
		    .detached      = true },
		{ .job_id      = 1,
		    .queue     = "q",
		    .type      = "t",
		    .host      = "",
		    .state     = TASQ_JOB_OPEN,
		    .no_worker = true },
	};
	uint64_t    ids[]   = { 4, 5, 9 };
	uint32_t    codes[] = { 0, 3, 0 };
	const char *errs[]  = { NULL, "bad", NULL };
	uint32_t    lens[]  = { 1, 0, 2 };
	tasq_req    rq      = { .method = TASQ_M_JOB_LIST }, ro;
	tasq_rep    in      = { .method = TASQ_M_JOB_LIST }, out;
	const char *why;

	rq.u.job_list = (typeof(rq.u.job_list)) { "default", 10 };
	ASSERT_OK(req_round_trip(&rq, &ro, &why));
	ASSERT_STR_EQ(ro.u.job_list.queue, "default");
	ASSERT_EQ(ro.u.job_list.max, 10);
	tasq_wire_req_fini(&ro);
	in.u.job_list = (typeof(in.u.job_list)) { 2, ji, 7 };
	ASSERT_OK(rep_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.job_list.n, 2);
	ASSERT_EQ(out.u.job_list.total, 7);
	for (size_t i = 0; i < 2; i++) {
		const tasq_job_info *x = &ji[i], *y = &out.u.job_list.jobs[i];
		ASSERT_EQ(x->job_id, y->job_id);
		ASSERT_STR_EQ(x->queue, y->queue);
		ASSERT_STR_EQ(x->type, y->type);
		ASSERT_STR_EQ(x->host, y->host);
		ASSERT_EQ(x->state, y->state);
		ASSERT_EQ(x->submitted, y->submitted);
		ASSERT_EQ(x->completed, y->completed);
		ASSERT_EQ(x->failed, y->failed);
		ASSERT_EQ(x->age_ms, y->age_ms);
		ASSERT_EQ(x->result_ttl_ms, y->result_ttl_ms);
		ASSERT_EQ(x->expires_in_ms, y->expires_in_ms);
		ASSERT_EQ(x->detached, y->detached);
		ASSERT_EQ(x->no_worker, y->no_worker);
	}
	tasq_wire_rep_fini(&out);

	rq                     = (tasq_req) { .method = TASQ_M_JOB_STATUS };
	rq.u.job_status.job_id = 42;
	ASSERT_OK(req_round_trip(&rq, &ro, &why));
	ASSERT_EQ(ro.u.job_status.job_id, 42);
	tasq_wire_req_fini(&ro);
	in                  = (tasq_rep) { .method = TASQ_M_JOB_STATUS };
	in.u.job_status.job = ji[0];
	ASSERT_OK(rep_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.job_status.job.job_id, UINT64_MAX);
	ASSERT_STR_EQ(out.u.job_status.job.host, "host-a.example");
	tasq_wire_rep_fini(&out);

	rq           = (tasq_req) { .method = TASQ_M_RESULTS };
	rq.u.results = (typeof(rq.u.results)) { 42, 100, 65536, 1000 };
	ASSERT_OK(req_round_trip(&rq, &ro, &why));
	ASSERT_EQ(ro.u.results.job_id, 42);
	ASSERT_EQ(ro.u.results.from_index, 100);
	ASSERT_EQ(ro.u.results.max, 65536);
	ASSERT_EQ(ro.u.results.wait_ms, 1000);
	tasq_wire_req_fini(&ro);
	in                   = (tasq_rep) { .method = TASQ_M_RESULTS };
	in.u.results.n       = 3;
	in.u.results.ids     = ids;
	in.u.results.codes   = codes;
	in.u.results.errors  = errs;
	in.u.results.results = (tasq_blobs) { 0, lens, (uint8_t *) "abc", 3 };
	in.u.results.next_index = 10;
	in.u.results.has_job    = true;
	in.u.results.job        = ji[1];
	ASSERT_OK(rep_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.results.n, 3);
	ASSERT_EQ(out.u.results.ids[2], 9);
	ASSERT_EQ(out.u.results.codes[1], 3);
	ASSERT_STR_EQ(out.u.results.errors[1], "bad");
	ASSERT_STR_EQ(out.u.results.errors[0], "");
	ASSERT_EQ(out.u.results.results.width, 0);
	ASSERT_EQ(out.u.results.results.lens[2], 2);
	ASSERT_MEM_EQ(out.u.results.results.data, "abc", 3);
	ASSERT_EQ(out.u.results.next_index, 10);
	ASSERT_TRUE(out.u.results.has_job);
	ASSERT_EQ(out.u.results.job.state, TASQ_JOB_OPEN);
	tasq_wire_rep_fini(&out);
	// No results: no columns, and no job.
	in                      = (tasq_rep) { .method = TASQ_M_RESULTS };
	in.u.results.next_index = 5;
	ASSERT_OK(rep_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.results.n, 0);
	ASSERT_FALSE(out.u.results.has_job);
	ASSERT_NULL(out.u.results.codes);
	tasq_wire_rep_fini(&out);
}

TEST(submit_detach_fields_and_last)
{
	int64_t     v[] = { 2 };
	tasq_req    rq  = { .method = TASQ_M_SUBMIT }, ro;
	const char *why;
	char        host[300];

	rq.u.submit = (tasq_submit_req) { .queue = "q",
		.job_id                          = 9,
		.first_index                     = 0,
		.n                               = 1,
		.type                            = "square",
		.payloads      = { 8, NULL, (uint8_t *) v, 8 },
		.detach        = true,
		.result_ttl_ms = 2000,
		.host          = "h1",
		.last          = true };
	ASSERT_OK(req_round_trip(&rq, &ro, &why));
	ASSERT_TRUE(ro.u.submit.detach);
	ASSERT_EQ(ro.u.submit.result_ttl_ms, 2000);
	ASSERT_STR_EQ(ro.u.submit.host, "h1");
	ASSERT_TRUE(ro.u.submit.last);
	tasq_wire_req_fini(&ro);
	// With last, a submit may carry no task (it ends the input).
	rq.u.submit.n        = 0;
	rq.u.submit.payloads = (tasq_blobs) { 8, NULL, NULL, 0 };
	ASSERT_OK(req_round_trip(&rq, &ro, &why));
	ASSERT_EQ(ro.u.submit.n, 0);
	ASSERT_TRUE(ro.u.submit.last);
	tasq_wire_req_fini(&ro);
	rq.u.submit.last = false;
	ASSERT_RV(req_round_trip(&rq, &ro, &why), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(why, "at least one task");
	// A host of 255 bytes passes; 256, or a control character, not.
	rq.u.submit.last = true;
	memset(host, 'h', sizeof(host));
	host[255]        = '\0';
	rq.u.submit.host = host;
	ASSERT_OK(req_round_trip(&rq, &ro, &why));
	tasq_wire_req_fini(&ro);
	host[255] = 'h';
	host[256] = '\0';
	ASSERT_RV(req_round_trip(&rq, &ro, &why), TASQ_EINVALID_ARGUMENT);
	rq.u.submit.host = "a\tb";
	ASSERT_RV(req_round_trip(&rq, &ro, &why), TASQ_EINVALID_ARGUMENT);
}

// Issue 13: Cancel (method 14), JobState CANCELLED, and the cancelled
// lease ids of LeaseReply (4) and ExtendReply (3).
TEST(cancel_round_trip)
{
	tasq_job_info ji = { .job_id = 77,
		.queue               = "q",
		.type                = "t",
		.host                = "",
		.state               = TASQ_JOB_CANCELLED,
		.submitted           = 10,
		.completed           = 2 };
	uint64_t      many[TASQ_WIRE_MAX_CANCELLED + 1];
	tasq_req      rq = { .method = TASQ_M_CANCEL }, ro;
	tasq_rep      in = { .method = TASQ_M_CANCEL }, out;
	const char   *why;

	ASSERT_STR_EQ(tasq_wire_method_name(TASQ_M_CANCEL), "Cancel");
	rq.u.cancel.job_id = UINT64_MAX;
	ASSERT_OK(req_round_trip(&rq, &ro, &why));
	ASSERT_EQ(ro.u.cancel.job_id, UINT64_MAX);
	tasq_wire_req_fini(&ro);
	in.u.cancel.dropped = 9998;
	in.u.cancel.running = 8;
	in.u.cancel.has_job = true;
	in.u.cancel.job     = ji;
	ASSERT_OK(rep_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.cancel.dropped, 9998);
	ASSERT_EQ(out.u.cancel.running, 8);
	ASSERT_TRUE(out.u.cancel.has_job);
	ASSERT_EQ(out.u.cancel.job.state, TASQ_JOB_CANCELLED);
	ASSERT_EQ(out.u.cancel.job.completed, 2);
	tasq_wire_rep_fini(&out);
	// A state past CANCELLED is refused.
	in.u.cancel.job.state = TASQ_JOB_CANCELLED + 1;
	ASSERT_RV(rep_round_trip(&in, &out, &why), TASQ_EINVALID_ARGUMENT);

	for (size_t i = 0; i <= TASQ_WIRE_MAX_CANCELLED; i++) {
		many[i] = 1000 + i;
	}
	in                    = (tasq_rep) { .method = TASQ_M_LEASE };
	in.u.lease.lease_ms   = 500;
	in.u.lease.ncancelled = 2;
	in.u.lease.cancelled  = many;
	ASSERT_OK(rep_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.lease.nbatches, 0);
	ASSERT_EQ(out.u.lease.ncancelled, 2);
	ASSERT_EQ(out.u.lease.cancelled[1], 1001);
	tasq_wire_rep_fini(&out);
	in.u.lease.ncancelled = TASQ_WIRE_MAX_CANCELLED + 1;
	ASSERT_RV(rep_round_trip(&in, &out, &why), TASQ_EINVALID_ARGUMENT);
	// Without the field (an older server): none.
	in.u.lease.ncancelled = 0;
	ASSERT_OK(rep_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.lease.ncancelled, 0);
	tasq_wire_rep_fini(&out);

	in                     = (tasq_rep) { .method = TASQ_M_EXTEND };
	in.u.extend.lease_ms   = 500;
	in.u.extend.n          = 1;
	in.u.extend.unknown    = many;
	in.u.extend.ncancelled = 3;
	in.u.extend.cancelled  = many + 1;
	ASSERT_OK(rep_round_trip(&in, &out, &why));
	ASSERT_EQ(out.u.extend.n, 1);
	ASSERT_EQ(out.u.extend.unknown[0], 1000);
	ASSERT_EQ(out.u.extend.ncancelled, 3);
	ASSERT_EQ(out.u.extend.cancelled[2], 1003);
	tasq_wire_rep_fini(&out);
}

TASQ_TEST_MAIN()
