// fuzz_wire_req: request bodies as a peer sends them. data[0] picks the
// method (0..13, or an unknown number), the rest is the body. A body that
// decodes has been validated, so it must encode again, and decoding that
// must give the same request: a difference is a bug in wire.c. Every
// decode, refused or not, must stay within the documented memory bound
// (tasq_wire_decode_bound: 8 bytes per body byte, plus a constant for a
// request), and give back all it held once finished.
#include <string.h>

#include <nng/nng.h>

#include "envelope.h"
#include "err.h"
#include "fuzz.h"
#include "fuzz_wire.h"
#include "wire.h"

static void
same_u64s(const uint64_t *a, const uint64_t *b, size_t n)
{
	if (n > 0) {
		FUZZ_CHECK(memcmp(a, b, n * sizeof(*a)) == 0);
	}
}

static void
same_i64s(const int64_t *a, const int64_t *b, size_t n)
{
	if (n > 0) {
		FUZZ_CHECK(memcmp(a, b, n * sizeof(*a)) == 0);
	}
}

static void
same_results(size_t n, const tasq_result_batch *a, const tasq_result_batch *b)
{
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK_EQ(a[i].lease_id, b[i].lease_id);
		FUZZ_CHECK_EQ(a[i].job_id, b[i].job_id);
		FUZZ_CHECK_EQ(a[i].n, b[i].n);
		same_u64s(a[i].ids, b[i].ids, a[i].n);
		same_i64s(a[i].values, b[i].values, a[i].legacy ? a[i].n : 0);
		FUZZ_CHECK((a[i].codes == NULL) == (b[i].codes == NULL));
		if (a[i].codes != NULL && a[i].n > 0) {
			FUZZ_CHECK(memcmp(a[i].codes, b[i].codes,
			               a[i].n * sizeof(uint32_t)) == 0);
		}
		for (size_t k = 0; a[i].codes != NULL && k < a[i].n; k++) {
			FUZZ_CHECK(a[i].codes[k] <= TASQ_CODE_MAX);
		}
		FUZZ_CHECK_EQ(a[i].legacy, b[i].legacy);
		FUZZ_CHECK((a[i].values != NULL) == a[i].legacy);
		fuzz_same_blobs(&a[i].results, &b[i].results, a[i].n);
		fuzz_same_errors(a[i].errors, b[i].errors, a[i].n);
	}
}

// A decoded submit (a Submit's or a Fetch's) and its round trip.
static void
same_submit(const tasq_submit_req *a, const tasq_submit_req *b)
{
	fuzz_same_str(a->queue, b->queue);
	FUZZ_CHECK(tasq_wire_valid_name(a->queue));
	FUZZ_CHECK(a->job_id != 0);
	FUZZ_CHECK_EQ(a->job_id, b->job_id);
	FUZZ_CHECK_EQ(a->first_index, b->first_index);
	FUZZ_CHECK_EQ(a->n, b->n);
	FUZZ_CHECK((a->n > 0 || a->last) && a->n <= TASQ_WIRE_MAX_IDS);
	FUZZ_CHECK(a->first_index <= UINT64_MAX - a->n);
	fuzz_same_str(a->type, b->type);
	FUZZ_CHECK(tasq_wire_valid_name(a->type));
	FUZZ_CHECK_EQ(a->legacy, b->legacy);
	FUZZ_CHECK((a->values != NULL) == a->legacy);
	if (a->legacy || strcmp(a->type, TASQ_TYPE_SQUARE) == 0) {
		FUZZ_CHECK(strcmp(a->type, TASQ_TYPE_SQUARE) == 0);
		FUZZ_CHECK_EQ(a->payloads.width, TASQ_I64_WIDTH);
	}
	same_i64s(a->values, b->values, a->legacy ? a->n : 0);
	fuzz_same_blobs(&a->payloads, &b->payloads, a->n);
	FUZZ_CHECK_EQ(a->has_retry, b->has_retry);
	FUZZ_CHECK_EQ(a->retry.max_attempts, b->retry.max_attempts);
	FUZZ_CHECK_EQ(a->retry.backoff_ms, b->retry.backoff_ms);
	FUZZ_CHECK_EQ(a->retry.backoff_max_ms, b->retry.backoff_max_ms);
	FUZZ_CHECK_EQ(a->detach, b->detach);
	FUZZ_CHECK_EQ(a->result_ttl_ms, b->result_ttl_ms);
	FUZZ_CHECK_EQ(a->last, b->last);
	fuzz_same_str(a->host, b->host);
	FUZZ_CHECK(strlen(a->host) <= TASQ_WIRE_MAX_HOST);
	fuzz_check_text(a->host, true);
}

static void
same_req(const tasq_req *a, const tasq_req *b)
{
	FUZZ_CHECK_EQ(a->method, b->method);
	switch (a->method) {
	case TASQ_M_HEALTH:
	case TASQ_M_STATS:
		break;
	case TASQ_M_SUBMIT:
		same_submit(&a->u.submit, &b->u.submit);
		break;
	case TASQ_M_LEASE:
		fuzz_same_str(a->u.lease.queue, b->u.lease.queue);
		FUZZ_CHECK(tasq_wire_valid_name(a->u.lease.queue));
		FUZZ_CHECK(a->u.lease.worker_id != 0);
		FUZZ_CHECK_EQ(a->u.lease.worker_id, b->u.lease.worker_id);
		fuzz_same_str(a->u.lease.worker_name, b->u.lease.worker_name);
		FUZZ_CHECK(
		    strlen(a->u.lease.worker_name) <= TASQ_WIRE_MAX_NAME);
		fuzz_check_text(a->u.lease.worker_name, true);
		FUZZ_CHECK_EQ(a->u.lease.max_tasks, b->u.lease.max_tasks);
		FUZZ_CHECK_EQ(a->u.lease.wait_ms, b->u.lease.wait_ms);
		FUZZ_CHECK_EQ(a->u.lease.nresults, b->u.lease.nresults);
		FUZZ_CHECK(a->u.lease.nresults <= TASQ_WIRE_MAX_BATCHES);
		same_results(a->u.lease.nresults, a->u.lease.results,
		    b->u.lease.results);
		FUZZ_CHECK_EQ(a->u.lease.ntypes, b->u.lease.ntypes);
		FUZZ_CHECK(a->u.lease.ntypes <= TASQ_WIRE_MAX_TYPES);
		for (size_t i = 0; i < a->u.lease.ntypes; i++) {
			fuzz_same_str(
			    a->u.lease.types[i], b->u.lease.types[i]);
			FUZZ_CHECK(tasq_wire_valid_name(a->u.lease.types[i]));
		}
		break;
	case TASQ_M_COMPLETE:
		FUZZ_CHECK_EQ(
		    a->u.complete.worker_id, b->u.complete.worker_id);
		FUZZ_CHECK_EQ(a->u.complete.nresults, b->u.complete.nresults);
		FUZZ_CHECK(a->u.complete.nresults <= TASQ_WIRE_MAX_BATCHES);
		same_results(a->u.complete.nresults, a->u.complete.results,
		    b->u.complete.results);
		break;
	case TASQ_M_EXTEND:
	case TASQ_M_RELEASE:
		FUZZ_CHECK_EQ(a->u.extend.worker_id, b->u.extend.worker_id);
		FUZZ_CHECK_EQ(a->u.extend.n, b->u.extend.n);
		FUZZ_CHECK(a->u.extend.n <= TASQ_WIRE_MAX_BATCHES);
		same_u64s(a->u.extend.lease_ids, b->u.extend.lease_ids,
		    a->u.extend.n);
		break;
	case TASQ_M_FETCH:
		FUZZ_CHECK(a->u.fetch.job_id != 0);
		FUZZ_CHECK_EQ(a->u.fetch.job_id, b->u.fetch.job_id);
		FUZZ_CHECK_EQ(a->u.fetch.ack_seq, b->u.fetch.ack_seq);
		FUZZ_CHECK_EQ(a->u.fetch.max_results, b->u.fetch.max_results);
		FUZZ_CHECK_EQ(a->u.fetch.wait_ms, b->u.fetch.wait_ms);
		FUZZ_CHECK_EQ(a->u.fetch.has_submit, b->u.fetch.has_submit);
		if (a->u.fetch.has_submit) {
			same_submit(&a->u.fetch.submit, &b->u.fetch.submit);
			FUZZ_CHECK_EQ(
			    a->u.fetch.submit.job_id, a->u.fetch.job_id);
		}
		break;
	case TASQ_M_CLOSE_JOB:
		FUZZ_CHECK_EQ(a->u.close_job.job_id, b->u.close_job.job_id);
		FUZZ_CHECK_EQ(a->u.close_job.ack_seq, b->u.close_job.ack_seq);
		break;
	case TASQ_M_DEAD_LIST:
		fuzz_same_str(a->u.dead_list.queue, b->u.dead_list.queue);
		FUZZ_CHECK(a->u.dead_list.queue[0] == '\0' ||
		    tasq_wire_valid_name(a->u.dead_list.queue));
		FUZZ_CHECK_EQ(
		    a->u.dead_list.after_id, b->u.dead_list.after_id);
		FUZZ_CHECK_EQ(a->u.dead_list.max, b->u.dead_list.max);
		FUZZ_CHECK_EQ(
		    a->u.dead_list.payloads, b->u.dead_list.payloads);
		break;
	case TASQ_M_DEAD_PURGE:
		fuzz_same_str(a->u.dead_purge.queue, b->u.dead_purge.queue);
		FUZZ_CHECK(a->u.dead_purge.queue[0] == '\0' ||
		    tasq_wire_valid_name(a->u.dead_purge.queue));
		FUZZ_CHECK_EQ(a->u.dead_purge.all, b->u.dead_purge.all);
		FUZZ_CHECK_EQ(a->u.dead_purge.n, b->u.dead_purge.n);
		FUZZ_CHECK(a->u.dead_purge.n <= TASQ_WIRE_MAX_DEAD);
		same_u64s(a->u.dead_purge.ids, b->u.dead_purge.ids,
		    a->u.dead_purge.n);
		break;
	case TASQ_M_JOB_LIST:
		fuzz_same_str(a->u.job_list.queue, b->u.job_list.queue);
		FUZZ_CHECK(a->u.job_list.queue[0] == '\0' ||
		    tasq_wire_valid_name(a->u.job_list.queue));
		FUZZ_CHECK_EQ(a->u.job_list.max, b->u.job_list.max);
		break;
	case TASQ_M_JOB_STATUS:
		FUZZ_CHECK_EQ(a->u.job_status.job_id, b->u.job_status.job_id);
		break;
	case TASQ_M_RESULTS:
		FUZZ_CHECK_EQ(a->u.results.job_id, b->u.results.job_id);
		FUZZ_CHECK_EQ(
		    a->u.results.from_index, b->u.results.from_index);
		FUZZ_CHECK_EQ(a->u.results.max, b->u.results.max);
		FUZZ_CHECK_EQ(a->u.results.wait_ms, b->u.results.wait_ms);
		break;
	case TASQ_M_CANCEL:
		FUZZ_CHECK_EQ(a->u.cancel.job_id, b->u.cancel.job_id);
		break;
	default:
		FUZZ_CHECK(!"decoded a request of an unknown method");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tasq_req    req, again;
	nng_msg    *m;
	const char *why = NULL;
	int         method, rv;

	if (size < 1) {
		return (0);
	}
	method = fuzz_pick_method(data[0]);
	FUZZ_CHECK_EQ(tasq_wire_decode_held(), 0);
	rv = tasq_wire_decode_req(method, data + 1, size - 1, &req, &why);
	FUZZ_CHECK(tasq_wire_decode_peak() <=
	    tasq_wire_decode_bound(size - 1, false));
	if (rv != 0) {
		FUZZ_CHECK_EQ(tasq_wire_decode_held(), 0);
		FUZZ_CHECK(rv == TASQ_EINVALID_ARGUMENT ||
		    rv == TASQ_EUNIMPLEMENTED ||
		    rv == TASQ_ERESOURCE_EXHAUSTED);
		FUZZ_CHECK(why != NULL);
		FUZZ_CHECK(req.pb_ == NULL && req.mem_ == NULL);
		if (method < 0 || method >= tasq_wire_method_count()) {
			FUZZ_CHECK_EQ(rv, TASQ_EUNIMPLEMENTED);
		}
		tasq_wire_req_fini(&req); // harmless after a failed decode
		return (0);
	}
	FUZZ_CHECK(method >= 0 && method < tasq_wire_method_count());
	FUZZ_CHECK(tasq_wire_method_name(method) != NULL);
	rv = tasq_wire_encode_req(&req, &m);
	if (rv == NNG_ENOMEM) {
		tasq_wire_req_fini(&req);
		return (0);
	}
	FUZZ_CHECK_EQ(rv, 0);
	FUZZ_CHECK(nng_msg_len(m) >= TASQ_ENV_HDR_LEN);
	rv = tasq_wire_decode_req(method,
	    (const uint8_t *) nng_msg_body(m) + TASQ_ENV_HDR_LEN,
	    nng_msg_len(m) - TASQ_ENV_HDR_LEN, &again, &why);
	FUZZ_CHECK_EQ(rv, 0);
	FUZZ_CHECK(tasq_wire_decode_peak() <=
	    tasq_wire_decode_bound(nng_msg_len(m) - TASQ_ENV_HDR_LEN, false));
	same_req(&req, &again);
	tasq_wire_req_fini(&again);
	tasq_wire_req_fini(&req);
	FUZZ_CHECK_EQ(tasq_wire_decode_held(), 0);
	nng_msg_free(m);
	return (0);
}
