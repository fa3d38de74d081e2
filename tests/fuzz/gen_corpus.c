// gen_corpus: writes the seed corpora of the fuzz targets into
// DIR/<target>/ (run once by hand; the files are committed):
//
//   fuzz_gen_corpus tests/fuzz/corpus
//
// Valid messages come from tasq's own encoders, so they follow the schema
// as it is; invalid ones (columns of different lengths, lies about
// lengths, out-of-range codes) are written with the small protobuf writer
// below, since the encoders cannot produce them. Existing files of the
// same name are replaced; others (crash regressions) are left alone.
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <nng/nng.h>

#include "auth.h"
#include "envelope.h"
#include "err.h"
#include "fuzz.h"
#include "wire.h"

static const char *outdir;
static int         nfiles;

// ---- output ----------------------------------------------------------------

typedef struct buf {
	uint8_t *p;
	size_t   len, cap;
} buf;

static void
die(const char *what)
{
	fprintf(stderr, "gen_corpus: %s\n", what);
	exit(1);
}

static void
put(buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t   ncap = (b->len + n) * 2 + 64;
		uint8_t *np   = realloc(b->p, ncap);
		if (np == NULL) {
			die("out of memory");
		}
		b->p   = np;
		b->cap = ncap;
	}
	if (n > 0) {
		memcpy(b->p + b->len, p, n);
	}
	b->len += n;
}

static void
put8(buf *b, uint8_t v)
{
	put(b, &v, 1);
}

static void
put16(buf *b, uint16_t v)
{
	put8(b, (uint8_t) (v >> 8));
	put8(b, (uint8_t) v);
}

static void
reset(buf *b)
{
	b->len = 0;
}

static void
write_seed(const char *target, const char *name, const void *p, size_t n)
{
	char  path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", outdir, target);
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		die(path);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, target, name);
	if ((f = fopen(path, "wb")) == NULL ||
	    (n > 0 && fwrite(p, 1, n, f) != n) || fclose(f) != 0) {
		die(path);
	}
	nfiles++;
}

// ---- a minimal protobuf writer
// -------------------------------------------------

static void
pb_varint(buf *b, uint64_t v)
{
	while (v >= 0x80) {
		put8(b, (uint8_t) (v | 0x80));
		v >>= 7;
	}
	put8(b, (uint8_t) v);
}

static void
pb_key(buf *b, unsigned field, unsigned wt)
{
	pb_varint(b, ((uint64_t) field << 3) | wt);
}

static void
pb_u64(buf *b, unsigned field, uint64_t v)
{
	pb_key(b, field, 0);
	pb_varint(b, v);
}

static void
pb_bytes(buf *b, unsigned field, const void *p, size_t n)
{
	pb_key(b, field, 2);
	pb_varint(b, n);
	put(b, p, n);
}

static void
pb_str(buf *b, unsigned field, const char *s)
{
	pb_bytes(b, field, s, strlen(s));
}

static uint64_t
zigzag(int64_t v)
{
	return (((uint64_t) v << 1) ^ (uint64_t) (v >> 63));
}

// A packed repeated field of n varints from vals (zigzag for sint64).
static void
pb_packed(buf *b, unsigned field, const uint64_t *vals, size_t n, bool zz)
{
	buf in = { 0 };
	for (size_t i = 0; i < n; i++) {
		pb_varint(&in, zz ? zigzag((int64_t) vals[i]) : vals[i]);
	}
	pb_bytes(b, field, in.p, in.len);
	free(in.p);
}

// ---- encoders of tasq
// ------------------------------------------------------------

static void
req_body(const tasq_req *req, buf *out)
{
	nng_msg *m;

	reset(out);
	if (tasq_wire_encode_req(req, &m) != 0) {
		die("encode request");
	}
	put(out, (uint8_t *) nng_msg_body(m) + TASQ_ENV_HDR_LEN,
	    nng_msg_len(m) - TASQ_ENV_HDR_LEN);
	nng_msg_free(m);
}

static void
rep_body(const tasq_rep *rep, buf *out)
{
	nng_msg *m;

	reset(out);
	if (tasq_wire_encode_rep(rep, &m) != 0) {
		die("encode reply");
	}
	put(out, (uint8_t *) nng_msg_body(m) + TASQ_ENV_HDR_LEN,
	    nng_msg_len(m) - TASQ_ENV_HDR_LEN);
	nng_msg_free(m);
}

static void
status_body(int code, const char *text, buf *out)
{
	nng_msg *m;

	reset(out);
	if (tasq_wire_encode_status(code, text, &m) != 0) {
		die("encode status");
	}
	put(out, (uint8_t *) nng_msg_body(m) + TASQ_ENV_HDR_LEN,
	    nng_msg_len(m) - TASQ_ENV_HDR_LEN);
	nng_msg_free(m);
}

// A seed of a wire target: the method byte, then the body.
static void
write_wire(
    const char *target, const char *name, uint8_t first, const buf *body)
{
	buf s = { 0 };
	put8(&s, first);
	put(&s, body->p, body->len);
	write_seed(target, name, s.p, s.len);
	free(s.p);
}

// ---- sample messages
// ----------------------------------------------------------------

static int64_t  vals4[]  = { 1, 2, 3, -4 };
static uint64_t ids4[]   = { 0, 1, 2, 3 };
static int64_t  rvals4[] = { 10, 20, -30, 40 };
static uint32_t codes4[] = { 0, 0, 13, 0 };

static tasq_result_batch results2[] = {
	{ .lease_id = 1, .job_id = 7, .n = 2, .ids = ids4, .values = rvals4 },
	{ .lease_id = 2,
	    .job_id = 7,
	    .n      = 2,
	    .ids    = ids4 + 2,
	    .values = rvals4 + 2,
	    .codes  = codes4 + 2 },
};

static uint64_t lease_ids3[] = { 1, 2, 99 };

// Typed tasks (issue 12): payloads of mixed lengths, square's 8-byte
// little-endian ints, results with codes and error messages.
static uint32_t    plens3[] = { 3, 0, 5 };
static uint8_t     sq16[16] = { 9, 0, 0, 0, 0, 0, 0, 0, 0xfd, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff };
static uint32_t    rlens4[] = { 64, 0, 2, 1 };
static uint8_t     rdata[67] = { 'a', 'b', 'c' };
static const char *errs4[]   = { "", "exit status 1: no such file", NULL,
	  "\xe2\x9c\x97 failed" };
static uint32_t    codes4b[] = { 0, 13, 0, 4 };
static const char *types3[]  = { "square", "sha256", "my.type-1_x" };

static tasq_result_batch results_typed[] = {
	{ .lease_id  = 3,
	    .job_id  = 9,
	    .n       = 4,
	    .ids     = ids4,
	    .codes   = codes4b,
	    .results = { 0, rlens4, rdata, 67 },
	    .errors  = errs4 },
	{ .lease_id  = 4,
	    .job_id  = 10,
	    .n       = 2,
	    .ids     = ids4,
	    .results = { 8, NULL, sq16, 16 } },
};

// Fills req with a valid request of method.
static void
sample_req(int method, tasq_req *req)
{
	memset(req, 0, sizeof(*req));
	req->method = method;
	switch (method) {
	case TASQ_M_SUBMIT:
		req->u.submit.queue       = "default";
		req->u.submit.job_id      = 7;
		req->u.submit.first_index = 0;
		req->u.submit.n           = 4;
		req->u.submit.values      = vals4;
		break;
	case TASQ_M_LEASE:
		req->u.lease.queue       = "default";
		req->u.lease.worker_id   = 100;
		req->u.lease.worker_name = "host-1/pid 42";
		req->u.lease.max_tasks   = 2;
		req->u.lease.wait_ms     = 500;
		req->u.lease.id_runs     = true;
		break;
	case TASQ_M_COMPLETE:
		req->u.complete.worker_id = 100;
		req->u.complete.nresults  = 2;
		req->u.complete.results   = results2;
		break;
	case TASQ_M_EXTEND:
	case TASQ_M_RELEASE:
		req->u.extend.worker_id = 100;
		req->u.extend.n         = 3;
		req->u.extend.lease_ids = lease_ids3;
		break;
	case TASQ_M_FETCH:
		req->u.fetch.job_id      = 7;
		req->u.fetch.ack_seq     = 1;
		req->u.fetch.max_results = 3;
		req->u.fetch.wait_ms     = 100;
		req->u.fetch.id_runs     = true;
		break;
	case TASQ_M_CLOSE_JOB:
		req->u.close_job.job_id  = 7;
		req->u.close_job.ack_seq = 2;
		break;
	case TASQ_M_DEAD_LIST:
		req->u.dead_list.queue    = "default";
		req->u.dead_list.after_id = 3;
		req->u.dead_list.max      = 10;
		req->u.dead_list.payloads = true;
		break;
	case TASQ_M_DEAD_PURGE:
		req->u.dead_purge.n     = 3;
		req->u.dead_purge.ids   = lease_ids3;
		req->u.dead_purge.queue = "";
		break;
	case TASQ_M_JOB_LIST:
		req->u.job_list.queue = "default";
		req->u.job_list.max   = 100;
		break;
	case TASQ_M_JOB_STATUS:
		req->u.job_status.job_id = 7;
		break;
	case TASQ_M_RESULTS:
		req->u.results.job_id     = 7;
		req->u.results.from_index = 2;
		req->u.results.max        = 65536;
		req->u.results.wait_ms    = 1000;
		break;
	case TASQ_M_CANCEL:
		req->u.cancel.job_id = 7;
		break;
	default:
		break;
	}
}

static tasq_task_batch tbatches[] = {
	{ .lease_id  = 1,
	    .job_id  = 7,
	    .attempt = 1,
	    .n       = 2,
	    .ids     = ids4,
	    .values  = vals4 },
	{ .lease_id  = 1,
	    .job_id  = 8,
	    .attempt = 3,
	    .n       = 2,
	    .ids     = ids4 + 2,
	    .values  = vals4 + 2 },
};
static tasq_queue_stats qstats[] = {
	{ "default", 5, 2, 1, 1, 0, 20, 12 },
	{ "other.q-1", 0, 0, 0, 0, 9, 9, 9 },
};
static tasq_worker_stats wstats[] = {
	{ 100, "host-1/pid 42", "default", 1, 2, 30, 5, true },
	{ 101, "", "other.q-1", 0, 0, 0, 400000, false },
};
static tasq_counter counters[] = {
	{ "tasks_submitted", 10 },
	{ "requests_total", 99 },
	{ "auth_failures", 0 },
};
static uint64_t        dead2[]  = { 7, 3, 8, 0 };
static tasq_type_stats tstats[] = {
	{ "default", "square", 5, 2, 1 },
	{ "default", "sha256", 7, 0, 0 },
};
static tasq_job_info jinfos[] = {
	{ .job_id          = 7,
	    .queue         = "default",
	    .type          = "square",
	    .host          = "host-1",
	    .state         = TASQ_JOB_RUNNING,
	    .submitted     = 1000000,
	    .completed     = 5,
	    .failed        = 1,
	    .age_ms        = 3000,
	    .result_ttl_ms = 3600000,
	    .detached      = true },
	{ .job_id          = 8,
	    .queue         = "q",
	    .type          = "sha256",
	    .host          = "",
	    .state         = TASQ_JOB_DONE,
	    .expires_in_ms = 2000,
	    .no_worker     = true },
};
static tasq_dead_letter dletters[] = {
	{ .id             = 1,
	    .job_id       = 7,
	    .task_id      = 3,
	    .queue        = "default",
	    .type         = "sha256",
	    .payload      = (const uint8_t *) "abc",
	    .payload_size = 3,
	    .payload_len  = 3,
	    .attempts     = 3,
	    .code         = 13,
	    .error        = "exit status 2",
	    .time_ms      = 1700000000000ULL },
	{ .id = 2, .queue = "q", .type = "t", .payload_len = 70000 },
};

static void
sample_rep(int method, tasq_rep *rep)
{
	memset(rep, 0, sizeof(*rep));
	rep->method = method;
	switch (method) {
	case TASQ_M_HEALTH:
		rep->u.health.serving        = true;
		rep->u.health.version        = "0.1.0";
		rep->u.health.server_id      = 0x1234567890abcdefULL;
		rep->u.health.uptime_ms      = 12345;
		rep->u.health.heartbeat_port = 7001;
		break;
	case TASQ_M_SUBMIT:
		rep->u.submit.accepted  = 4;
		rep->u.submit.duplicate = false;
		break;
	case TASQ_M_LEASE:
		rep->u.lease.nbatches           = 2;
		rep->u.lease.batches            = tbatches;
		rep->u.lease.lease_ms           = 30000;
		rep->u.lease.completed.accepted = 2;
		rep->u.lease.completed.late     = 1;
		rep->u.lease.ncancelled         = 2;
		rep->u.lease.cancelled          = lease_ids3;
		break;
	case TASQ_M_COMPLETE:
		rep->u.complete.accepted   = 3;
		rep->u.complete.duplicates = 1;
		rep->u.complete.late       = 2;
		rep->u.complete.rejected   = 4;
		break;
	case TASQ_M_EXTEND:
		rep->u.extend.lease_ms   = 30000;
		rep->u.extend.n          = 1;
		rep->u.extend.unknown    = lease_ids3 + 2;
		rep->u.extend.ncancelled = 1;
		rep->u.extend.cancelled  = lease_ids3;
		break;
	case TASQ_M_RELEASE:
		rep->u.release.released = 2;
		break;
	case TASQ_M_FETCH:
		rep->u.fetch.seq       = 1;
		rep->u.fetch.n         = 4;
		rep->u.fetch.ids       = ids4;
		rep->u.fetch.values    = rvals4;
		rep->u.fetch.codes     = codes4;
		rep->u.fetch.id_runs   = true; // ids 0..3: one run (8.4)
		rep->u.fetch.submitted = 10;
		rep->u.fetch.completed = 4;
		break;
	case TASQ_M_CLOSE_JOB:
		rep->u.close_job.dropped = 6;
		break;
	case TASQ_M_STATS:
		rep->u.stats.version    = "0.1.0";
		rep->u.stats.uptime_ms  = 1000;
		rep->u.stats.nqueues    = 2;
		rep->u.stats.queues     = qstats;
		rep->u.stats.nworkers   = 2;
		rep->u.stats.workers    = wstats;
		rep->u.stats.ncounters  = 3;
		rep->u.stats.counters   = counters;
		rep->u.stats.ndead      = 2;
		rep->u.stats.dead       = dead2;
		rep->u.stats.ntypes     = 2;
		rep->u.stats.types      = tstats;
		rep->u.stats.dead_total = 2;
		break;
	case TASQ_M_DEAD_LIST:
		rep->u.dead_list.n       = 2;
		rep->u.dead_list.letters = dletters;
		rep->u.dead_list.total   = 5;
		break;
	case TASQ_M_DEAD_PURGE:
		rep->u.dead_purge.purged = 2;
		break;
	case TASQ_M_JOB_LIST:
		rep->u.job_list.n     = 2;
		rep->u.job_list.jobs  = jinfos;
		rep->u.job_list.total = 3;
		break;
	case TASQ_M_JOB_STATUS:
		rep->u.job_status.job = jinfos[0];
		break;
	case TASQ_M_RESULTS:
		rep->u.results.n       = 4;
		rep->u.results.ids     = ids4;
		rep->u.results.codes   = codes4b;
		rep->u.results.errors  = errs4;
		rep->u.results.results = (tasq_blobs) { 0, rlens4, rdata, 67 };
		rep->u.results.next_index = 9;
		rep->u.results.has_job    = true;
		rep->u.results.job        = jinfos[1];
		break;
	case TASQ_M_CANCEL:
		rep->u.cancel.dropped   = 9992;
		rep->u.cancel.running   = 8;
		rep->u.cancel.has_job   = true;
		rep->u.cancel.job       = jinfos[0];
		rep->u.cancel.job.state = TASQ_JOB_CANCELLED;
		break;
	default:
		break;
	}
}

static const char *const mnames[] = { "health", "submit", "lease", "complete",
	"extend", "release", "fetch", "close_job", "stats", "dead_list",
	"dead_purge", "job_list", "job_status", "results", "cancel" };

// ---- fuzz_wire_req
// ---------------------------------------------------------------------

// A ResultBatch as raw protobuf: ids and values columns of the given
// lengths, codes only when ncodes > 0.
static void
raw_result_batch(buf *b, unsigned field, uint64_t lease, uint64_t job,
    size_t nids, size_t nvals, const uint64_t *codes, size_t ncodes)
{
	buf      in = { 0 };
	uint64_t v[8];

	for (size_t i = 0; i < 8; i++) {
		v[i] = i;
	}
	pb_u64(&in, 1, lease);
	pb_u64(&in, 2, job);
	if (nids > 0) {
		pb_packed(&in, 3, v, nids, false);
	}
	if (nvals > 0) {
		pb_packed(&in, 4, v, nvals, true);
	}
	if (ncodes > 0) {
		pb_packed(&in, 5, codes, ncodes, false);
	}
	pb_bytes(b, field, in.p, in.len);
	free(in.p);
}

static void
gen_wire_req(void)
{
	static const char *T = "fuzz_wire_req";
	tasq_req           req;
	buf                b = { 0 };
	char               name[64];
	uint64_t           many[1025];

	write_seed(T, "empty", "", 0);
	for (int m = 0; m < TASQ_M_COUNT; m++) {
		sample_req(m, &req);
		req_body(&req, &b);
		snprintf(name, sizeof(name), "%s", mnames[m]);
		write_wire(T, name, (uint8_t) m, &b);
	}
	// A lease that hands in results, and a batch with a code for each.
	sample_req(TASQ_M_LEASE, &req);
	req.u.lease.nresults = 2;
	req.u.lease.results  = results2;
	req_body(&req, &b);
	write_wire(T, "lease-with-results", TASQ_M_LEASE, &b);
	// Boundaries the decoder must accept.
	sample_req(TASQ_M_SUBMIT, &req);
	req.u.submit.first_index = UINT64_MAX - 4;
	req.u.submit.queue =
	    "q234567890123456789012345678901234567890123456789012345678901234";
	req_body(&req, &b);
	write_wire(T, "submit-max-index-max-name", TASQ_M_SUBMIT, &b);
	// Typed tasks: payloads, retry, types, results with errors.
	sample_req(TASQ_M_SUBMIT, &req);
	req.u.submit.values    = NULL;
	req.u.submit.n         = 3;
	req.u.submit.type      = "sha256";
	req.u.submit.payloads  = (tasq_blobs) { 0, plens3, rdata, 8 };
	req.u.submit.has_retry = true;
	req.u.submit.retry     = (tasq_retry) { 3, 100, 5000 };
	req_body(&req, &b);
	write_wire(T, "submit-typed", TASQ_M_SUBMIT, &b);
	// A detached job's batch, and the request that ends its input.
	req.u.submit.detach        = true;
	req.u.submit.result_ttl_ms = 2000;
	req.u.submit.host          = "host-a.example";
	req.u.submit.last          = true;
	req_body(&req, &b);
	write_wire(T, "submit-detach-last", TASQ_M_SUBMIT, &b);
	req.u.submit.n        = 0;
	req.u.submit.payloads = (tasq_blobs) { 8, NULL, NULL, 0 };
	req_body(&req, &b);
	write_wire(T, "submit-last-no-tasks", TASQ_M_SUBMIT, &b);
	sample_req(TASQ_M_SUBMIT, &req);
	req.u.submit.values    = NULL;
	req.u.submit.n         = 3;
	req.u.submit.type      = "sha256";
	req.u.submit.payloads  = (tasq_blobs) { 0, plens3, rdata, 8 };
	req.u.submit.has_retry = true;
	req.u.submit.retry     = (tasq_retry) { 3, 100, 5000 };
	req.u.submit.n         = 2;
	req.u.submit.type      = "square";
	req.u.submit.payloads  = (tasq_blobs) { 8, NULL, sq16, 16 };
	req.u.submit.has_retry = false;
	req_body(&req, &b);
	write_wire(T, "submit-square-payloads", TASQ_M_SUBMIT, &b);
	{
		tasq_submit_req s = req.u.submit;
		sample_req(TASQ_M_FETCH, &req);
		req.u.fetch.job_id     = s.job_id;
		req.u.fetch.has_submit = true;
		req.u.fetch.submit     = s;
		req_body(&req, &b);
		write_wire(T, "fetch-with-typed-submit", TASQ_M_FETCH, &b);
	}
	sample_req(TASQ_M_LEASE, &req);
	req.u.lease.ntypes   = 3;
	req.u.lease.types    = types3;
	req.u.lease.nresults = 2;
	req.u.lease.results  = results_typed;
	req_body(&req, &b);
	write_wire(T, "lease-typed-results", TASQ_M_LEASE, &b);
	sample_req(TASQ_M_COMPLETE, &req);
	req.u.complete.results = results_typed;
	req_body(&req, &b);
	write_wire(T, "complete-typed-results", TASQ_M_COMPLETE, &b);
	// ... and what the decoder must refuse of them.
	{
		uint64_t l8[] = { 8, 7 }, l2[] = { 2, 2 };
		buf      bl = { 0 };
		reset(&b);
		pb_str(&b, 1, "default");
		pb_u64(&b, 2, 7);
		pb_packed(&b, 4, ids4, 2, true);
		pb_u64(&bl, 1, 8);
		pb_bytes(&bl, 3, sq16, 16);
		pb_bytes(&b, 6, bl.p, bl.len);
		write_wire(T, "submit-values-and-payloads", TASQ_M_SUBMIT, &b);
		reset(&b);
		pb_str(&b, 1, "default");
		pb_u64(&b, 2, 7);
		pb_str(&b, 5, "no such/type");
		pb_bytes(&b, 6, bl.p, bl.len);
		write_wire(T, "submit-bad-type", TASQ_M_SUBMIT, &b);
		reset(&bl);
		pb_packed(&bl, 2, l8, 2, false);
		pb_bytes(&bl, 3, sq16, 15);
		reset(&b);
		pb_str(&b, 1, "default");
		pb_u64(&b, 2, 7);
		pb_bytes(&b, 6, bl.p, bl.len);
		write_wire(T, "submit-square-7-bytes", TASQ_M_SUBMIT, &b);
		reset(&bl);
		pb_packed(&bl, 2, l2, 2, false);
		pb_bytes(&bl, 3, sq16, 5);
		reset(&b);
		pb_str(&b, 1, "default");
		pb_u64(&b, 2, 7);
		pb_str(&b, 5, "t");
		pb_bytes(&b, 6, bl.p, bl.len);
		write_wire(T, "submit-lengths-differ", TASQ_M_SUBMIT, &b);
		reset(&b);
		pb_str(&b, 1, "default");
		pb_u64(&b, 2, 1);
		for (int i = 0; i < 65; i++) {
			pb_str(&b, 7, "t");
		}
		write_wire(T, "lease-65-types", TASQ_M_LEASE, &b);
		reset(&bl);
		pb_packed(&bl, 3, ids4, 2, false);
		pb_str(&bl, 7, "only one error");
		reset(&b);
		pb_bytes(&b, 2, bl.p, bl.len);
		write_wire(T, "complete-errors-short", TASQ_M_COMPLETE, &b);
		free(bl.p);
	}
	// Unknown methods: 11 is one past the last, 255 picks a negative
	// one.
	sample_req(TASQ_M_SUBMIT, &req);
	req_body(&req, &b);
	write_wire(T, "method-11", TASQ_M_COUNT, &b);
	write_wire(T, "method-negative", 255, &b);
	reset(&b);
	write_wire(T, "health-only-byte", TASQ_M_HEALTH, &b);

	// Submits the decoder must refuse.
	reset(&b);
	pb_str(&b, 1, "default");
	pb_u64(&b, 2, 7);
	pb_u64(&b, 3, UINT64_MAX - 2);
	pb_packed(&b, 4, ids4, 4, true);
	write_wire(T, "submit-index-overflow", TASQ_M_SUBMIT, &b);
	reset(&b);
	pb_str(&b, 1, "bad name!");
	pb_u64(&b, 2, 7);
	pb_packed(&b, 4, ids4, 4, true);
	write_wire(T, "submit-bad-queue", TASQ_M_SUBMIT, &b);
	reset(&b);
	pb_str(&b, 1,
	    "q234567890123456789012345678901234567890123456789012345678901234"
	    "5");
	pb_u64(&b, 2, 7);
	pb_packed(&b, 4, ids4, 4, true);
	write_wire(T, "submit-long-queue", TASQ_M_SUBMIT, &b);
	reset(&b);
	pb_str(&b, 1, "default");
	pb_packed(&b, 4, ids4, 4, true);
	write_wire(T, "submit-job-0", TASQ_M_SUBMIT, &b);
	reset(&b);
	pb_str(&b, 1, "default");
	pb_u64(&b, 2, 7);
	write_wire(T, "submit-no-values", TASQ_M_SUBMIT, &b);
	// values not packed (proto2 style): decoders must accept it too.
	reset(&b);
	pb_str(&b, 1, "default");
	pb_u64(&b, 2, 7);
	for (int i = 0; i < 4; i++) {
		pb_u64(&b, 4, zigzag(vals4[i]));
	}
	write_wire(T, "submit-unpacked", TASQ_M_SUBMIT, &b);
	// Length prefixes that lie: a packed field claiming 2 GiB, a string
	// claiming 2^35 bytes (a five-byte varint), a truncated varint.
	reset(&b);
	pb_str(&b, 1, "default");
	pb_u64(&b, 2, 7);
	pb_key(&b, 4, 2);
	pb_varint(&b, 0x7fffffff);
	put(&b, "\x02\x04\x06", 3);
	write_wire(T, "submit-huge-packed-len", TASQ_M_SUBMIT, &b);
	reset(&b);
	pb_key(&b, 1, 2);
	pb_varint(&b, 1ULL << 35);
	put(&b, "default", 7);
	write_wire(T, "submit-huge-string-len", TASQ_M_SUBMIT, &b);
	reset(&b);
	pb_str(&b, 1, "default");
	pb_key(&b, 2, 0);
	put(&b, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);
	write_wire(T, "submit-varint-11-bytes", TASQ_M_SUBMIT, &b);
	reset(&b);
	pb_str(&b, 1, "default");
	pb_key(&b, 2, 0);
	put(&b, "\x80\x80", 2);
	write_wire(T, "submit-truncated-varint", TASQ_M_SUBMIT, &b);
	reset(&b);
	pb_str(&b, 1, "default");
	pb_u64(&b, 2, 7);
	pb_packed(&b, 4, ids4, 4, true);
	pb_u64(&b, 99, 5);           // unknown field
	pb_bytes(&b, 100, "xyz", 3); // unknown length-delimited
	write_wire(T, "submit-unknown-fields", TASQ_M_SUBMIT, &b);
	reset(&b);
	pb_key(&b, 1, 0); // queue with the wrong wire type
	pb_varint(&b, 5);
	write_wire(T, "submit-wrong-wiretype", TASQ_M_SUBMIT, &b);
	reset(&b);
	put(&b, "\x00\x01", 2); // field number 0
	write_wire(T, "field-zero", TASQ_M_SUBMIT, &b);

	// Leases the decoder must refuse.
	reset(&b);
	pb_str(&b, 1, "default");
	pb_str(&b, 3, "w");
	write_wire(T, "lease-worker-0", TASQ_M_LEASE, &b);
	reset(&b);
	pb_str(&b, 1, "default");
	pb_u64(&b, 2, 100);
	pb_str(&b, 3, "tab\there");
	write_wire(T, "lease-name-control", TASQ_M_LEASE, &b);
	reset(&b);
	pb_str(&b, 1, "default");
	pb_u64(&b, 2, 100);
	raw_result_batch(&b, 6, 1, 7, 3, 2, NULL, 0);
	write_wire(T, "lease-columns-differ", TASQ_M_LEASE, &b);
	{
		uint64_t c17[] = { 0, 17 };
		uint64_t c1[]  = { 0 };
		reset(&b);
		pb_str(&b, 1, "default");
		pb_u64(&b, 2, 100);
		raw_result_batch(&b, 6, 1, 7, 2, 2, c17, 2);
		write_wire(T, "lease-code-17", TASQ_M_LEASE, &b);
		reset(&b);
		pb_u64(&b, 1, 100);
		raw_result_batch(&b, 2, 1, 7, 2, 2, c1, 1);
		write_wire(T, "complete-codes-short", TASQ_M_COMPLETE, &b);
	}
	reset(&b);
	pb_u64(&b, 1, 100);
	for (int i = 0; i < 1025; i++) {
		pb_bytes(&b, 2, "", 0);
	}
	write_wire(T, "complete-1025-batches", TASQ_M_COMPLETE, &b);
	// The attack of issue 11 (item 3): a 4 MB Lease of 2,000,000 empty
	// result batches, which protobuf-c once unpacked at 35 times its
	// size before the count was checked. And its cousins: numbers sent
	// unpacked, a singular field sent again and again.
	reset(&b);
	pb_str(&b, 1, "q");
	pb_u64(&b, 2, 1);
	for (int i = 0; i < 2000000; i++) {
		pb_bytes(&b, 6, "", 0);
	}
	write_wire(T, "lease-2m-empty-results", TASQ_M_LEASE, &b);
	reset(&b);
	pb_str(&b, 1, "q");
	pb_u64(&b, 2, 1);
	for (int i = 0; i < 100000; i++) {
		pb_u64(&b, 4, 2);
	}
	write_wire(T, "submit-100k-unpacked", TASQ_M_SUBMIT, &b);
	reset(&b);
	pb_str(&b, 1, "q");
	for (int i = 0; i < 100000; i++) {
		pb_u64(&b, 2, 1);
	}
	write_wire(T, "lease-worker-id-100k-times", TASQ_M_LEASE, &b);
	// Strings checked on their full length (item 4): a NUL inside made
	// queue "a\0zzz" queue "a"; bytes that are not UTF-8 went back out
	// in every StatsReply.
	reset(&b);
	pb_bytes(&b, 1, "a\0zzz", 5);
	pb_u64(&b, 2, 7);
	pb_packed(&b, 4, ids4, 4, true);
	write_wire(T, "submit-queue-nul", TASQ_M_SUBMIT, &b);
	{
		static const struct {
			const char *name, *s;
			size_t      n;
		} names[] = {
			{ "lease-worker-nul", "w\0\x01\x02", 4 },
			{ "lease-worker-not-utf8", "w\xc3\x28\xff", 4 },
			{ "lease-worker-surrogate", "w\xed\xa0\x80", 4 },
			{ "lease-worker-overlong", "w\xc0\xaf", 3 },
			{ "lease-worker-c1-control", "w\xc2\x9b", 3 },
			{ "lease-worker-utf8", "caf\xc3\xa9 \xf0\x9d\x84\x9e",
			    10 },
		};
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			reset(&b);
			pb_str(&b, 1, "q");
			pb_u64(&b, 2, 100);
			pb_bytes(&b, 3, names[i].s, names[i].n);
			write_wire(T, names[i].name, TASQ_M_LEASE, &b);
		}
	}
	reset(&b);
	pb_u64(&b, 1, 100);
	pb_key(&b, 2, 2);
	pb_varint(&b, 0xffffffffULL); // a sub-message claiming 4 GiB
	put(&b, "\x08\x01", 2);
	write_wire(T, "complete-huge-submessage", TASQ_M_COMPLETE, &b);
	for (size_t i = 0; i < 1025; i++) {
		many[i] = i + 1;
	}
	reset(&b);
	pb_u64(&b, 1, 100);
	pb_packed(&b, 2, many, 1024, false);
	write_wire(T, "extend-1024-ids", TASQ_M_EXTEND, &b);
	reset(&b);
	pb_u64(&b, 1, 100);
	pb_packed(&b, 2, many, 1025, false);
	write_wire(T, "release-1025-ids", TASQ_M_RELEASE, &b);
	reset(&b);
	pb_u64(&b, 2, 1);
	write_wire(T, "fetch-job-0", TASQ_M_FETCH, &b);
	// A Fetch carrying a Submit, for its job and for another one.
	{
		int64_t v[3] = { 1, -2, 3 };
		sample_req(TASQ_M_FETCH, &req);
		req.u.fetch.has_submit         = true;
		req.u.fetch.submit.queue       = "default";
		req.u.fetch.submit.job_id      = req.u.fetch.job_id;
		req.u.fetch.submit.first_index = 4;
		req.u.fetch.submit.n           = 3;
		req.u.fetch.submit.values      = v;
		req_body(&req, &b);
		write_wire(T, "fetch-with-submit", TASQ_M_FETCH, &b);
		req.u.fetch.submit.job_id++;
		req_body(&req, &b);
		write_wire(T, "fetch-submit-other-job", TASQ_M_FETCH, &b);
	}
	free(b.p);
}

// ---- fuzz_wire_rep
// ---------------------------------------------------------------------

// The first byte of a fuzz_wire_rep input also picks the Status text
// buffer: textlens[(byte / TASQ_FUZZ_METHODS) % 6] = 256, 0, 1, 2, 17,
// 4096.
static uint8_t
rep_byte(int method, int textlen_index)
{
	return ((uint8_t) (textlen_index * TASQ_FUZZ_METHODS + method));
}

static void
gen_wire_rep(void)
{
	static const char *T = "fuzz_wire_rep";
	tasq_rep           rep;
	buf                b = { 0 };
	char               name[64];

	write_seed(T, "empty", "", 0);
	for (int m = 0; m < TASQ_M_COUNT; m++) {
		sample_rep(m, &rep);
		rep_body(&rep, &b);
		snprintf(name, sizeof(name), "%s", mnames[m]);
		write_wire(T, name, (uint8_t) m, &b);
	}
	sample_rep(TASQ_M_FETCH, &rep);
	rep.u.fetch.codes = NULL;
	rep_body(&rep, &b);
	write_wire(T, "fetch-all-ok", TASQ_M_FETCH, &b);
	sample_rep(TASQ_M_LEASE, &rep);
	rep.u.lease.nbatches = 0;
	rep_body(&rep, &b);
	write_wire(T, "lease-empty", TASQ_M_LEASE, &b);
	// Typed tasks: batches with payloads, one for a legacy worker made
	// from a width-8 column; results with errors; no_worker.
	{
		tasq_task_batch tb[2] = {
			{ .lease_id   = 5,
			    .job_id   = 9,
			    .attempt  = 2,
			    .n        = 3,
			    .ids      = ids4,
			    .type     = "sha256",
			    .payloads = { 0, plens3, rdata, 8 } },
			{ .lease_id   = 6,
			    .job_id   = 10,
			    .attempt  = 1,
			    .n        = 2,
			    .ids      = ids4,
			    .type     = "square",
			    .payloads = { 8, NULL, sq16, 16 },
			    .legacy   = true },
		};
		sample_rep(TASQ_M_LEASE, &rep);
		rep.u.lease.batches = tb;
		rep_body(&rep, &b);
		write_wire(T, "lease-typed", TASQ_M_LEASE, &b);
		tb[1].legacy = false;
		rep_body(&rep, &b);
		write_wire(T, "lease-square-payloads", TASQ_M_LEASE, &b);
	}
	sample_rep(TASQ_M_FETCH, &rep);
	rep.u.fetch.values    = NULL;
	rep.u.fetch.codes     = codes4b;
	rep.u.fetch.results   = (tasq_blobs) { 0, rlens4, rdata, 67 };
	rep.u.fetch.errors    = errs4;
	rep.u.fetch.no_worker = true;
	rep_body(&rep, &b);
	write_wire(T, "fetch-typed", TASQ_M_FETCH, &b);
	rep.u.fetch.n       = 2;
	rep.u.fetch.codes   = NULL;
	rep.u.fetch.errors  = NULL;
	rep.u.fetch.results = (tasq_blobs) { 8, NULL, sq16, 16 };
	rep.u.fetch.legacy  = true;
	rep_body(&rep, &b);
	write_wire(T, "fetch-legacy-from-column", TASQ_M_FETCH, &b);
	{
		buf l = { 0 };
		reset(&b);
		pb_u64(&l, 9, 17);
		pb_bytes(&b, 1, l.p, l.len);
		write_wire(T, "dead-list-code-17", TASQ_M_DEAD_LIST, &b);
		reset(&l);
		pb_bytes(&l, 6, "abc", 3);
		pb_u64(&l, 7, 4);
		reset(&b);
		pb_bytes(&b, 1, l.p, l.len);
		write_wire(T, "dead-list-short-payload", TASQ_M_DEAD_LIST, &b);
		reset(&b);
		pb_packed(&b, 2, ids4, 2, false);
		reset(&l);
		pb_u64(&l, 1, 1);
		pb_bytes(&l, 3, "ab", 2);
		pb_bytes(&b, 8, l.p, l.len);
		pb_str(&b, 9, "one error for two ids");
		write_wire(T, "fetch-errors-short", TASQ_M_FETCH, &b);
		free(l.p);
	}
	// Replies a client must refuse.
	reset(&b);
	pb_u64(&b, 1, 1);
	pb_packed(&b, 2, ids4, 3, false);
	pb_packed(&b, 3, ids4, 2, true);
	write_wire(T, "fetch-columns-differ", TASQ_M_FETCH, &b);
	{
		uint64_t c[] = { 0, 99 };
		reset(&b);
		pb_u64(&b, 1, 1);
		pb_packed(&b, 2, ids4, 2, false);
		pb_packed(&b, 3, ids4, 2, true);
		pb_packed(&b, 4, c, 2, false);
		write_wire(T, "fetch-code-99", TASQ_M_FETCH, &b);
	}
	reset(&b);
	{
		buf tb = { 0 };
		pb_u64(&tb, 1, 1);
		pb_packed(&tb, 4, ids4, 3, false);
		pb_packed(&tb, 5, ids4, 1, true);
		pb_bytes(&b, 1, tb.p, tb.len);
		free(tb.p);
	}
	write_wire(T, "lease-columns-differ", TASQ_M_LEASE, &b);
	reset(&b);
	for (int i = 0; i < 1025; i++) {
		pb_bytes(&b, 1, "", 0);
	}
	write_wire(T, "lease-1025-batches", TASQ_M_LEASE, &b);
	// A server that would blow its clients up (issue 11 item 3).
	reset(&b);
	for (int i = 0; i < 70000; i++) {
		pb_bytes(&b, 3, "", 0);
	}
	write_wire(T, "stats-70000-empty-queues", TASQ_M_STATS, &b);
	reset(&b);
	for (int i = 0; i < 100000; i++) {
		pb_u64(&b, 2, 1);
	}
	write_wire(T, "fetch-100k-unpacked-ids", TASQ_M_FETCH, &b);
	// Strings a client must refuse (item 4).
	{
		buf w = { 0 };
		pb_u64(&w, 1, 5);
		pb_bytes(&w, 2, "w\xc3\x28\xff", 4);
		pb_str(&w, 3, "q");
		reset(&b);
		pb_bytes(&b, 4, w.p, w.len);
		write_wire(T, "stats-worker-not-utf8", TASQ_M_STATS, &b);
		free(w.p);
	}
	reset(&b);
	pb_bytes(&b, 2, "0.1\0.0", 6);
	write_wire(T, "health-version-nul", TASQ_M_HEALTH, &b);
	reset(&b);
	pb_u64(&b, 1, 3);
	pb_bytes(&b, 2, "bad \xed\xbf\xbf", 7);
	write_wire(T, "status-surrogate", rep_byte(TASQ_M_HEALTH, 0), &b);
	reset(&b);
	pb_str(&b, 1, "0.1.0");
	pb_packed(&b, 6, dead2, 3, false); // odd: half a pair
	for (int i = 0; i < 3; i++) {
		buf q = { 0 };
		pb_str(&q, 1, i == 1 ? "" : "q");
		pb_u64(&q, 2, (uint64_t) i);
		pb_bytes(&b, 3 + i, q.p, q.len);
		free(q.p);
	}
	write_wire(T, "stats-odd-dead", TASQ_M_STATS, &b);
	reset(&b);
	pb_key(&b, 3, 2);
	pb_varint(&b, 0x7ffffff0); // a queue sub-message claiming 2 GiB
	write_wire(T, "stats-huge-queue-len", TASQ_M_STATS, &b);
	reset(&b);
	pb_key(&b, 6, 2);
	pb_varint(&b, 1ULL << 40);
	write_wire(T, "stats-huge-dead-len", TASQ_M_STATS, &b);

	// Status bodies (every input is also decoded as one).
	status_body(5, "no such job (finished, closed or expired)", &b);
	write_wire(T, "status-not-found", rep_byte(TASQ_M_FETCH, 0), &b);
	status_body(3, "bad\x01\x1b[31mred\x7f\n", &b);
	write_wire(T, "status-control-chars", rep_byte(TASQ_M_SUBMIT, 4), &b);
	status_body(-1, "negative code", &b);
	write_wire(T, "status-negative-code", rep_byte(TASQ_M_HEALTH, 3), &b);
	status_body(99, "", &b);
	write_wire(
	    T, "status-code-99-textlen-0", rep_byte(TASQ_M_LEASE, 1), &b);
	{
		char long_text[301];
		memset(long_text, 'x', 300);
		long_text[300] = '\0';
		status_body(8, long_text, &b);
		write_wire(T, "status-long-text-textlen-17",
		    rep_byte(TASQ_M_STATS, 4), &b);
		write_wire(T, "status-long-text-textlen-1",
		    rep_byte(TASQ_M_STATS, 2), &b);
		write_wire(T, "status-long-text-textlen-4096",
		    rep_byte(TASQ_M_STATS, 5), &b);
	}
	reset(&b);
	pb_u64(&b, 1, 16);
	pb_key(&b, 2, 2);
	pb_varint(&b, 1000); // a message claiming more than there is
	put(&b, "short", 5);
	write_wire(T, "status-truncated", rep_byte(TASQ_M_HEALTH, 0), &b);
	free(b.p);
}

// ---- fuzz_envelope
// ---------------------------------------------------------------------

// Seals body as an envelope (signed with the fuzz key when kr is not NULL)
// into out.
static void
envelope(const tasq_keyring *kr, uint8_t kind, uint16_t method,
    uint16_t status, const buf *body, buf *out)
{
	tasq_env_hdr h;
	nng_msg     *m;

	memset(&h, 0, sizeof(h));
	h.kind         = kind;
	h.sender_id    = 0x0102030405060708ULL;
	h.seq          = 42;
	h.timestamp_ms = 1700000000000ULL;
	h.reply_to     = kind == TASQ_ENV_REPLY ? 41 : 0;
	h.method       = method;
	h.status       = status;
	h.deadline_ms  = kind == TASQ_ENV_REQUEST ? 5000 : 0;
	if (nng_msg_alloc(&m, TASQ_ENV_HDR_LEN) != 0 ||
	    nng_msg_append(m, body->p, body->len) != 0 ||
	    tasq_auth_seal(kr, &h, m) != 0) {
		die("seal");
	}
	reset(out);
	put(out, nng_msg_body(m), nng_msg_len(m));
	nng_msg_free(m);
}

static void
be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) (v >> 24);
	p[1] = (uint8_t) (v >> 16);
	p[2] = (uint8_t) (v >> 8);
	p[3] = (uint8_t) v;
}

static void
gen_envelope(const tasq_keyring *kr)
{
	static const char *T = "fuzz_envelope";
	tasq_req           req;
	tasq_rep           rep;
	buf                body = { 0 }, e = { 0 }, t = { 0 };
	char               name[64];

	write_seed(T, "empty", "", 0);
	for (int m = 0; m < TASQ_M_COUNT; m++) {
		sample_req(m, &req);
		req_body(&req, &body);
		envelope(kr, TASQ_ENV_REQUEST, (uint16_t) m, 0, &body, &e);
		snprintf(name, sizeof(name), "req-%s", mnames[m]);
		write_seed(T, name, e.p, e.len);
	}
	for (int m = 0; m < TASQ_M_COUNT; m += 2) {
		sample_rep(m, &rep);
		rep_body(&rep, &body);
		envelope(kr, TASQ_ENV_REPLY, (uint16_t) m, 0, &body, &e);
		snprintf(name, sizeof(name), "rep-%s", mnames[m]);
		write_seed(T, name, e.p, e.len);
	}
	// The unsigned error reply a server sends to a peer with a bad key.
	status_body(16, "authentication failed", &body);
	envelope(NULL, TASQ_ENV_REPLY, 1, 16, &body, &e);
	write_seed(T, "rep-unsigned-error", e.p, e.len);
	// A signed empty body (the smallest valid envelope).
	reset(&body);
	envelope(kr, TASQ_ENV_REQUEST, TASQ_M_HEALTH, 0, &body, &e);
	write_seed(T, "req-empty-body", e.p, e.len);

	// Take a signed Submit and break it in every way the parser checks.
	sample_req(TASQ_M_SUBMIT, &req);
	req_body(&req, &body);
	envelope(kr, TASQ_ENV_REQUEST, TASQ_M_SUBMIT, 0, &body, &e);
	write_seed(T, "truncated-header", e.p, TASQ_ENV_HDR_LEN - 1);
	write_seed(T, "header-only", e.p, TASQ_ENV_HDR_LEN);
	write_seed(T, "overhead-minus-1", e.p, TASQ_ENV_OVERHEAD - 1);
	write_seed(T, "truncated-tag", e.p, e.len - 1);
#define MUTATE(nm, stmt)                                                      \
	do {                                                                  \
		reset(&t);                                                    \
		put(&t, e.p, e.len);                                          \
		stmt;                                                         \
		write_seed(T, nm, t.p, t.len);                                \
	} while (0)
	MUTATE("bad-magic", t.p[1] = 'X');
	MUTATE("version-2", t.p[2] = 2);
	MUTATE("kind-0", t.p[3] = 0);
	MUTATE("kind-3", t.p[3] = 3);
	MUTATE("unknown-key-id", be32(t.p + 4, 0xdeadbeef));
	MUTATE("key-id-0", be32(t.p + 4, 0));
	MUTATE("body-len-plus-1", be32(t.p + 48, (uint32_t) body.len + 1));
	MUTATE("body-len-minus-1", be32(t.p + 48, (uint32_t) body.len - 1));
	MUTATE("body-len-huge", be32(t.p + 48, 0xffffffff));
	MUTATE("body-len-overhead-wrap",
	    be32(t.p + 48, (uint32_t) (0 - TASQ_ENV_OVERHEAD)));
	MUTATE("bad-tag", t.p[t.len - 1] ^= 1);
	MUTATE("bad-body", t.p[TASQ_ENV_HDR_LEN] ^= 0x80);
	MUTATE("trailing-byte", put8(&t, 0));
	MUTATE("method-unknown", (t.p[40] = 0xff, t.p[41] = 0xff));
#undef MUTATE
	free(body.p);
	free(e.p);
	free(t.p);
}

// ---- fuzz_conf
// ---------------------------------------------------------------------------

static void
conf(const char *name, const char *text)
{
	write_seed("fuzz_conf", name, text, strlen(text));
}

static void
gen_conf(void)
{
	char long_line[1200];

	write_seed("fuzz_conf", "empty", "", 0);
	conf("full",
	    "# tasq test configuration\n"
	    "listen tcp://0.0.0.0:7419\n"
	    "workers 8\n"
	    "any 18446744073709551615\n"
	    "lease 30s\n"
	    "max-message 16MiB\n"
	    "tiny 1KiB\n"
	    "log-level debug\n"
	    "verbose\n"
	    "daemon no\n");
	conf("equals-and-spaces",
	    "  workers = 16   # trailing comment\n"
	    "\tlease=250ms\n"
	    "max-message\t=\t64kib\n"
	    "verbose = yes\r\n"
	    "daemon=off");
	conf("crlf", "workers 2\r\nlease 5m\r\nlog-level info\r\n");
	conf("suffixes",
	    "lease 1h\nlease 100\nlease 2S\nmax-message 1g\n"
	    "max-message 1000kb\nmax-message 2mb\n"
	    "max-message 1024b\nmax-message 1gb\n"
	    "max-message 1GiB\n");
	conf("out-of-range", "workers 1001\n");
	conf("zero", "workers 0\n");
	conf("overflow", "any 18446744073709551616\n");
	conf("overflow-suffix", "max-message 18446744073709551615GiB\n");
	conf("lease-overflow", "lease 5124095576030431h\n");
	conf("bad-suffix", "lease 10parsecs\n");
	conf("long-suffix", "max-message 1kibibytes\n");
	conf("negative", "workers -1\n");
	conf("hex", "workers 0x10\n");
	conf("unknown", "frobnicate 1\n");
	conf("no-file-option", "secret hunter2\n");
	conf("needs-value", "workers\n");
	conf("bool-bad", "verbose maybe\n");
	conf("bool-forms",
	    "verbose true\nverbose 0\nverbose on\ndaemon 1\n"
	    "daemon false\n");
	conf("only-comments", "# a\n#b\n   # c\n\n\n");
	conf("equals-only", "= 5\n");
	conf("key-equals-nothing", "listen =\n");
	conf("string-with-spaces", "log-level  warn  and more \n");
	write_seed("fuzz_conf", "nul-byte", "workers 4\nlisten a\0b\n", 21);
	memset(long_line, 'a', sizeof(long_line));
	memcpy(long_line, "listen ", 7);
	write_seed("fuzz_conf", "line-1200", long_line, sizeof(long_line));
	write_seed("fuzz_conf", "line-1023", long_line, 1023);
	write_seed("fuzz_conf", "line-1024", long_line, 1024);
	conf("no-newline-at-end", "workers 3");
	conf("hash-in-value", "listen tcp://host#7419\n");
}

// ---- fuzz_service
// ----------------------------------------------------------------------

static void
rec(buf *s, uint8_t op, const buf *body)
{
	put8(s, op);
	put16(s, (uint16_t) body->len);
	put(s, body->p, body->len);
}

static void
rec_req(buf *s, uint8_t pipe_nibble, const tasq_req *req)
{
	buf b = { 0 };
	req_body(req, &b);
	rec(s, (uint8_t) ((pipe_nibble << 4) | req->method), &b);
	free(b.p);
}

static void
rec_submit(buf *s, const char *queue, uint64_t job, uint64_t first, size_t n)
{
	tasq_req req;
	int64_t *v = calloc(n, sizeof(*v));

	if (v == NULL) {
		die("out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		v[i] = (int64_t) ((first + i) % 50) - 25; // one byte each
	}
	sample_req(TASQ_M_SUBMIT, &req);
	req.u.submit.queue       = queue;
	req.u.submit.job_id      = job;
	req.u.submit.first_index = first;
	req.u.submit.n           = n;
	req.u.submit.values      = v;
	rec_req(s, 0, &req);
	free(v);
}

static void
rec_lease(buf *s, uint8_t pipe, const char *queue, uint64_t worker,
    uint32_t max, size_t nres, const tasq_result_batch *res)
{
	tasq_req req;

	sample_req(TASQ_M_LEASE, &req);
	req.u.lease.queue     = queue;
	req.u.lease.worker_id = worker;
	req.u.lease.max_tasks = max;
	req.u.lease.nresults  = nres;
	req.u.lease.results   = (tasq_result_batch *) res;
	rec_req(s, pipe, &req);
}

static void
rec_complete(
    buf *s, uint64_t worker, size_t nres, const tasq_result_batch *res)
{
	tasq_req req;

	sample_req(TASQ_M_COMPLETE, &req);
	req.u.complete.worker_id = worker;
	req.u.complete.nresults  = nres;
	req.u.complete.results   = (tasq_result_batch *) res;
	rec_req(s, 0, &req);
}

static void
rec_ids(
    buf *s, int method, uint8_t pipe, uint64_t worker, size_t n, uint64_t *ids)
{
	tasq_req req;

	sample_req(method, &req);
	req.u.extend.worker_id = worker;
	req.u.extend.n         = n;
	req.u.extend.lease_ids = ids;
	rec_req(s, pipe, &req);
}

static void
rec_fetch(buf *s, uint64_t job, uint64_t ack, uint32_t max)
{
	tasq_req req;

	sample_req(TASQ_M_FETCH, &req);
	req.u.fetch.job_id      = job;
	req.u.fetch.ack_seq     = ack;
	req.u.fetch.max_results = max;
	rec_req(s, 0, &req);
}

// A Fetch carrying a Submit of n tasks (FetchRequest.submit); sub_job
// other than job makes it one the decoder refuses.
static void
rec_fetch_submit(buf *s, const char *queue, uint64_t job, uint64_t sub_job,
    uint64_t first, size_t n)
{
	tasq_req req;
	int64_t  v[64];

	if (n > 64) {
		die("rec_fetch_submit: at most 64 tasks");
	}
	for (size_t i = 0; i < n; i++) {
		v[i] = (int64_t) ((first + i) % 50) - 25;
	}
	sample_req(TASQ_M_FETCH, &req);
	req.u.fetch.job_id             = job;
	req.u.fetch.ack_seq            = 0;
	req.u.fetch.has_submit         = true;
	req.u.fetch.submit.queue       = queue;
	req.u.fetch.submit.job_id      = sub_job;
	req.u.fetch.submit.first_index = first;
	req.u.fetch.submit.n           = n;
	req.u.fetch.submit.values      = v;
	rec_req(s, 0, &req);
}

static void
rec_close(buf *s, uint64_t job)
{
	tasq_req req;

	sample_req(TASQ_M_CLOSE_JOB, &req);
	req.u.close_job.job_id = job;
	rec_req(s, 0, &req);
}

// A request of a method numbered 9 or more: the op byte's low nibble is
// TASQ_FUZZ_OP_BADMETHOD, its high nibble the method less 9.
static void
rec_high(buf *s, const tasq_req *req)
{
	buf b = { 0 };
	req_body(req, &b);
	rec(s, (uint8_t) (((req->method - 9) << 4) | TASQ_FUZZ_OP_BADMETHOD),
	    &b);
	free(b.p);
}

static void
rec_simple(buf *s, int method)
{
	tasq_req req;

	sample_req(method, &req);
	rec_req(s, 0, &req);
}

static void
rec_tick(buf *s, uint32_t ms)
{
	buf b = { 0 };
	put16(&b, (uint16_t) (ms >> 16));
	put16(&b, (uint16_t) ms);
	rec(s, TASQ_FUZZ_OP_TICK, &b);
	free(b.p);
}

static void
rec_op(buf *s, uint8_t pipe, uint8_t op)
{
	buf b = { 0 };
	rec(s, (uint8_t) ((pipe << 4) | op), &b);
}

static void
rec_helper(buf *s, uint8_t op, const char *args, size_t n)
{
	buf b = { 0 };
	put(&b, args, n);
	rec(s, op, &b);
	free(b.p);
}

// Results for ids first..first+n-1 of job under lease.
static void
results_for(tasq_result_batch *rb, uint64_t lease, uint64_t job, uint64_t *ids,
    int64_t *vals, uint32_t *codes, uint64_t first, size_t n, bool fail)
{
	for (size_t i = 0; i < n; i++) {
		ids[i]   = first + i;
		vals[i]  = (int64_t) (first + i) * 2;
		codes[i] = fail && i % 2 ? 13 : 0;
	}
	memset(rb, 0, sizeof(*rb));
	rb->lease_id = lease;
	rb->job_id   = job;
	rb->n        = n;
	rb->ids      = ids;
	rb->values   = vals;
	rb->codes    = fail ? codes : NULL;
}

static void
gen_service(void)
{
	static const char *T = "fuzz_service";
	buf                s = { 0 };
	tasq_result_batch  rb[2];
	uint64_t           ids[2][16];
	int64_t            vals[2][16];
	uint32_t           codes[2][16];
	uint64_t           lids[4];

	write_seed(T, "empty", "", 0);
	// Health and stats of an empty server.
	reset(&s);
	rec_simple(&s, TASQ_M_HEALTH);
	rec_simple(&s, TASQ_M_STATS);
	rec_op(&s, 0, TASQ_FUZZ_OP_CHECK);
	write_seed(T, "health-stats", s.p, s.len);

	// The happy path: submit, lease, complete, fetch, ack, close.
	reset(&s);
	rec_submit(&s, "default", 7, 0, 10);
	rec_lease(&s, 1, "default", 100, 4, 0, NULL);
	results_for(&rb[0], 1, 7, ids[0], vals[0], codes[0], 0, 4, false);
	rec_complete(&s, 100, 1, rb);
	rec_fetch(&s, 7, 0, 0);
	rec_fetch(&s, 7, 1, 2);
	rec_simple(&s, TASQ_M_STATS);
	rec_close(&s, 7);
	rec_fetch(&s, 7, 0, 0);
	write_seed(T, "happy-path", s.p, s.len);

	// A worker loop: lease with the previous batch's results piggy-backed,
	// some of them failures.
	reset(&s);
	rec_submit(&s, "work", 8, 100, 12);
	rec_lease(&s, 2, "work", 101, 5, 0, NULL);
	results_for(&rb[0], 1, 8, ids[0], vals[0], codes[0], 100, 5, true);
	rec_lease(&s, 2, "work", 101, 5, 1, rb);
	results_for(&rb[0], 2, 8, ids[0], vals[0], codes[0], 105, 5, false);
	rec_lease(&s, 2, "work", 101, 5, 1, rb);
	rec_fetch(&s, 8, 0, 100);
	rec_fetch(&s, 8, 1, 100);
	rec_op(&s, 0, TASQ_FUZZ_OP_CHECK);
	write_seed(T, "worker-loop", s.p, s.len);

	// A job of one batch in its first Fetch: carried again (a
	// duplicate), done by a worker, fetched; one for another job and one
	// with a refused batch (over max-batch).
	reset(&s);
	rec_fetch_submit(&s, "default", 21, 21, 0, 6);
	rec_fetch_submit(&s, "default", 21, 21, 0, 6);
	rec_fetch_submit(&s, "default", 22, 21, 6, 2);
	rec_lease(&s, 1, "default", 100, 6, 0, NULL);
	results_for(&rb[0], 1, 21, ids[0], vals[0], codes[0], 0, 6, false);
	rec_complete(&s, 100, 1, rb);
	rec_fetch_submit(&s, "default", 21, 21, 0, 6);
	rec_fetch(&s, 21, 1, 0);
	rec_op(&s, 0, TASQ_FUZZ_OP_CHECK);
	write_seed(T, "fetch-carries-submit", s.p, s.len);

	// A detached job: its input ended by a request without tasks; its
	// results read by index (twice), its status, the job list.
	reset(&s);
	{
		tasq_req req;
		int64_t  v[6] = { 1, 2, 3, 4, 5, 6 };
		sample_req(TASQ_M_SUBMIT, &req);
		req.u.submit.job_id        = 31;
		req.u.submit.n             = 6;
		req.u.submit.values        = v;
		req.u.submit.detach        = true;
		req.u.submit.result_ttl_ms = 60000;
		req.u.submit.host          = "fuzz-host";
		rec_req(&s, 0, &req);
		req.u.submit.first_index = 6;
		req.u.submit.n           = 0;
		req.u.submit.values      = NULL;
		req.u.submit.payloads    = (tasq_blobs) { 8, NULL, NULL, 0 };
		req.u.submit.last        = true;
		rec_req(&s, 0, &req);
		rec_lease(&s, 1, "default", 100, 6, 0, NULL);
		results_for(
		    &rb[0], 1, 31, ids[0], vals[0], codes[0], 0, 6, false);
		rec_complete(&s, 100, 1, rb);
		sample_req(TASQ_M_RESULTS, &req);
		req.u.results.job_id     = 31;
		req.u.results.from_index = 0;
		req.u.results.wait_ms    = 0;
		rec_high(&s, &req);
		rec_high(&s, &req);
		req.u.results.from_index = 4;
		req.u.results.max        = 1;
		rec_high(&s, &req);
		sample_req(TASQ_M_JOB_STATUS, &req);
		req.u.job_status.job_id = 31;
		rec_high(&s, &req);
		sample_req(TASQ_M_JOB_LIST, &req);
		req.u.job_list.queue = "";
		rec_high(&s, &req);
		rec_fetch(&s, 31, 0, 0);
		rec_tick(&s, 61000);
		sample_req(TASQ_M_RESULTS, &req);
		req.u.results.job_id = 31;
		rec_high(&s, &req);
		rec_op(&s, 0, TASQ_FUZZ_OP_CHECK);
	}
	write_seed(T, "detached-job", s.p, s.len);

	// A job cancelled while a worker holds part of it: the next Lease
	// hears of it, the late results are refused, a second cancel is a
	// no-op, the lease expires without a redelivery; Results and Fetch
	// of what it had.
	reset(&s);
	{
		tasq_req req;
		rec_submit(&s, "default", 41, 0, 12);
		rec_lease(&s, 1, "default", 100, 6, 0, NULL);
		sample_req(TASQ_M_CANCEL, &req);
		req.u.cancel.job_id = 41;
		rec_high(&s, &req);
		rec_lease(&s, 1, "default", 100, 6, 0, NULL);
		results_for(
		    &rb[0], 1, 41, ids[0], vals[0], codes[0], 0, 6, false);
		rec_complete(&s, 100, 1, rb);
		rec_high(&s, &req);
		rec_tick(&s, 61000);
		rec_fetch(&s, 41, 0, 0);
		rec_op(&s, 0, TASQ_FUZZ_OP_CHECK);
	}
	write_seed(T, "cancel-job", s.p, s.len);

	// Leases that expire until the tasks are dead-lettered, then late
	// and duplicate results.
	reset(&s);
	rec_submit(&s, "default", 9, 0, 6);
	for (int i = 0; i < 4; i++) {
		rec_lease(&s, 1, "default", 100, 6, 0, NULL);
		rec_tick(&s, 2000);
	}
	results_for(&rb[0], 1, 9, ids[0], vals[0], codes[0], 0, 6, false);
	rec_complete(&s, 100, 1, rb);
	rec_complete(&s, 100, 1, rb);
	rec_simple(&s, TASQ_M_STATS);
	rec_fetch(&s, 9, 0, 3);
	rec_fetch(&s, 9, 1, 3);
	rec_fetch(&s, 9, 2, 3);
	write_seed(T, "expire-dead-letter", s.p, s.len);

	// A worker's connection closes while it holds leases; another one
	// takes them; extend and release.
	reset(&s);
	rec_submit(&s, "default", 10, 0, 8);
	rec_lease(&s, 3, "default", 102, 3, 0, NULL);
	rec_lease(&s, 3, "default", 102, 3, 0, NULL);
	rec_op(&s, 3, TASQ_FUZZ_OP_PIPE_GONE);
	rec_lease(&s, 4, "default", 103, 8, 0, NULL);
	lids[0] = 3, lids[1] = 1, lids[2] = 77;
	rec_ids(&s, TASQ_M_EXTEND, 4, 103, 3, lids);
	rec_ids(&s, TASQ_M_RELEASE, 4, 103, 1, lids);
	rec_lease(&s, 4, "default", 103, 8, 0, NULL);
	rec_ids(&s, TASQ_M_EXTEND, 4, 102, 1, lids);
	rec_op(&s, 0, TASQ_FUZZ_OP_CHECK);
	write_seed(T, "pipe-gone-extend-release", s.p, s.len);

	// Submits: duplicate, overlapping, other queue, adjacent batches
	// that merge, a batch past max-batch, a closed job.
	reset(&s);
	rec_submit(&s, "a", 11, 0, 10);
	rec_submit(&s, "a", 11, 0, 10);
	rec_submit(&s, "a", 11, 5, 10);
	rec_submit(&s, "b", 11, 20, 10);
	rec_submit(&s, "a", 11, 20, 10);
	rec_submit(&s, "a", 11, 10, 10);
	rec_submit(&s, "a", 11, 30, 1001);
	rec_simple(&s, TASQ_M_STATS);
	rec_close(&s, 11);
	rec_submit(&s, "a", 11, 40, 1);
	rec_close(&s, 11);
	write_seed(T, "submit-edges", s.p, s.len);

	// Limits: more queues, jobs, workers and tasks than allowed.
	reset(&s);
	for (int i = 0; i < 5; i++) {
		char q[8];
		snprintf(q, sizeof(q), "q%d", i);
		rec_submit(&s, q, (uint64_t) (100 + i), 0, 1);
	}
	for (int i = 0; i < 17; i++) {
		rec_submit(&s, "q0", (uint64_t) (200 + i), 0, 1);
	}
	for (int i = 0; i < 9; i++) {
		rec_lease(&s, (uint8_t) (i % 8), "q0", (uint64_t) (300 + i), 1,
		    0, NULL);
	}
	for (int i = 0; i < 11; i++) {
		rec_submit(&s, "q1", 101, (uint64_t) (1 + i * 1000), 1000);
	}
	rec_simple(&s, TASQ_M_STATS);
	write_seed(T, "limits", s.p, s.len);

	// A job closed while its tasks are leased; results come after.
	reset(&s);
	rec_submit(&s, "default", 12, 0, 4);
	rec_lease(&s, 1, "default", 100, 2, 0, NULL);
	rec_close(&s, 12);
	rec_submit(&s, "default", 12, 4, 4); // to the closed job
	rec_fetch(&s, 12, 0, 0);
	results_for(&rb[0], 1, 12, ids[0], vals[0], codes[0], 0, 2, false);
	rec_complete(&s, 100, 1, rb);
	rec_lease(&s, 1, "default", 100, 2, 0, NULL);
	rec_tick(&s, 5000);
	rec_op(&s, 1, TASQ_FUZZ_OP_PIPE_GONE);
	rec_simple(&s, TASQ_M_STATS);
	write_seed(T, "close-while-leased", s.p, s.len);

	// Results for the wrong job, ids outside the job, another worker's
	// lease; a job that expires (job-ttl) before its client fetches.
	reset(&s);
	rec_submit(&s, "default", 13, 50, 4);
	rec_lease(&s, 1, "default", 100, 4, 0, NULL);
	results_for(&rb[0], 1, 99, ids[0], vals[0], codes[0], 50, 2, false);
	results_for(&rb[1], 1, 13, ids[1], vals[1], codes[1], 52, 4, true);
	rec_complete(&s, 104, 2, rb);
	rec_tick(&s, 20000);
	rec_fetch(&s, 13, 0, 0);
	rec_tick(&s, 400000);
	rec_simple(&s, TASQ_M_STATS);
	write_seed(T, "wrong-results-ttl", s.p, s.len);

	// The helper ops (fuzz.h): results for the last lease, then fetches
	// that acknowledge, interleaved, so that results arrive while part
	// of the list is delivered; some late, some failing, some handed in
	// with the next lease.
	reset(&s);
	rec_submit(&s, "default", 20, 0, 40);
	rec_lease(&s, 1, "default", 100, 15, 0, NULL);
	rec_helper(&s, TASQ_FUZZ_OP_COMPLETE_LAST, "\x0e\x00\x00\x00", 4);
	rec_helper(&s, TASQ_FUZZ_OP_FETCH_ACK, "\x08\x00", 2);
	rec_helper(&s, TASQ_FUZZ_OP_FETCH_ACK, "\x05\x00", 2);
	rec_helper(&s, TASQ_FUZZ_OP_COMPLETE_LAST, "\x00\x05\x00\x00", 4);
	rec_helper(&s, TASQ_FUZZ_OP_FETCH_ACK, "\x03\x00", 2);
	rec_lease(&s, 1, "default", 100, 20, 0, NULL);
	rec_helper(&s, TASQ_FUZZ_OP_COMPLETE_LAST, "\x0a\x00\x00\x01\x0a", 5);
	rec_helper(&s, TASQ_FUZZ_OP_COMPLETE_LAST, "\x00\x00\x01\x00", 4);
	rec_helper(&s, TASQ_FUZZ_OP_FETCH_ACK, "\x00\x01", 2);
	rec_helper(&s, TASQ_FUZZ_OP_FETCH_ACK, "\x00\x00", 2);
	rec_tick(&s, 2000);
	rec_op(&s, 0, TASQ_FUZZ_OP_CHECK);
	write_seed(T, "helper-ops", s.p, s.len);

	// Records the decoder refuses, and a record whose length runs past
	// the end of the input.
	reset(&s);
	rec_op(&s, 0, TASQ_FUZZ_OP_BADMETHOD);
	rec_op(&s, 8, TASQ_FUZZ_OP_BADMETHOD);
	rec_op(&s, 0, TASQ_M_SUBMIT); // empty body: no queue
	rec_op(&s, 0, 15);            // ignored op
	put8(&s, TASQ_M_HEALTH);
	put16(&s, 500);
	put8(&s, 0);
	write_seed(T, "bad-records", s.p, s.len);
	free(s.p);
}

int
main(int argc, char **argv)
{
	tasq_keyring *kr;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return (2);
	}
	outdir = argv[1];
	if (mkdir(outdir, 0755) != 0 && errno != EEXIST) {
		die(outdir);
	}
	if (tasq_keyring_alloc(&kr) != 0 ||
	    tasq_keyring_add(kr, (const uint8_t *) TASQ_FUZZ_KEY,
	        TASQ_FUZZ_KEY_LEN, NULL) != 0) {
		die("keyring");
	}
	gen_envelope(kr);
	gen_wire_req();
	gen_wire_rep();
	gen_conf();
	gen_service();
	tasq_keyring_free(kr);
	printf("%d seed files written under %s\n", nfiles, outdir);
	return (0);
}
