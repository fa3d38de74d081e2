// Unit tests of lib/wire: every request and reply survives encode and
// decode field by field, and the decoders refuse inconsistent input.
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
		"Complete", "Extend", "Release", "Fetch", "CloseJob",
		"Stats" };

	ASSERT_EQ(tasq_wire_method_count(), TASQ_M_COUNT);
	for (int m = TASQ_M_HEALTH; m <= TASQ_M_STATS; m++) {
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
	tasq_queue_stats  qs[2] = { { "default", 1, 2, 3, 4, 5, 60, 50 },
		 { "other", UINT64_MAX, 0, 0, 0, 1, UINT64_MAX, 0 } };
	tasq_worker_stats ws[2] = {
		{ 77, "w1", "default", 1, 100, 5000, 12, true },
		{ 78, "w 2", "other", 0, 0, 0, UINT64_MAX, false },
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
	memcpy(d->b + d->n, p, n);
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

// The case: a signed 4 MB Lease of 2,000,000 empty ResultBatch
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

TASQ_TEST_MAIN()
