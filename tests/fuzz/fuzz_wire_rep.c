// fuzz_wire_rep: reply bodies as a client or worker receives them from a
// server (which may be an impostor with a stolen key, or simply buggy).
// data[0] picks the method (0..10, or an unknown number) and the text
// buffer size for the Status decoder; the rest is the body. It is decoded
// both as the method's reply and as a Status (the body of an error reply).
// What decodes must encode and decode again to the same reply.
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>

#include "envelope.h"
#include "err.h"
#include "fuzz.h"
#include "fuzz_wire.h"
#include "wire.h"

static void
same_mem(const void *a, const void *b, size_t n)
{
	if (n > 0) {
		FUZZ_CHECK(memcmp(a, b, n) == 0);
	}
}

static void
same_job(const tasq_job_info *a, const tasq_job_info *b)
{
	FUZZ_CHECK_EQ(a->job_id, b->job_id);
	fuzz_same_str(a->queue, b->queue);
	fuzz_same_str(a->type, b->type);
	fuzz_same_str(a->host, b->host);
	FUZZ_CHECK(strlen(a->host) <= TASQ_WIRE_MAX_HOST);
	FUZZ_CHECK(a->state >= 0 && a->state <= TASQ_JOB_CANCELLED);
	FUZZ_CHECK_EQ(a->state, b->state);
	FUZZ_CHECK_EQ(a->submitted, b->submitted);
	FUZZ_CHECK_EQ(a->completed, b->completed);
	FUZZ_CHECK_EQ(a->failed, b->failed);
	FUZZ_CHECK_EQ(a->age_ms, b->age_ms);
	FUZZ_CHECK_EQ(a->result_ttl_ms, b->result_ttl_ms);
	FUZZ_CHECK_EQ(a->expires_in_ms, b->expires_in_ms);
	FUZZ_CHECK_EQ(a->detached, b->detached);
	FUZZ_CHECK_EQ(a->no_worker, b->no_worker);
}

static void
same_complete(const tasq_complete_rep *a, const tasq_complete_rep *b)
{
	FUZZ_CHECK_EQ(a->accepted, b->accepted);
	FUZZ_CHECK_EQ(a->duplicates, b->duplicates);
	FUZZ_CHECK_EQ(a->late, b->late);
	FUZZ_CHECK_EQ(a->rejected, b->rejected);
}

static void
same_stats(const tasq_rep *a, const tasq_rep *b)
{
	fuzz_same_str(a->u.stats.version, b->u.stats.version);
	FUZZ_CHECK_EQ(a->u.stats.uptime_ms, b->u.stats.uptime_ms);
	FUZZ_CHECK_EQ(a->u.stats.nqueues, b->u.stats.nqueues);
	for (size_t i = 0; i < a->u.stats.nqueues; i++) {
		const tasq_queue_stats *x = &a->u.stats.queues[i];
		const tasq_queue_stats *y = &b->u.stats.queues[i];
		fuzz_same_str(x->name, y->name);
		fuzz_check_text(x->name, false);
		FUZZ_CHECK_EQ(x->ready, y->ready);
		FUZZ_CHECK_EQ(x->leased, y->leased);
		FUZZ_CHECK_EQ(x->results, y->results);
		FUZZ_CHECK_EQ(x->jobs, y->jobs);
		FUZZ_CHECK_EQ(x->dead, y->dead);
		FUZZ_CHECK_EQ(x->submitted, y->submitted);
		FUZZ_CHECK_EQ(x->completed, y->completed);
	}
	FUZZ_CHECK_EQ(a->u.stats.nworkers, b->u.stats.nworkers);
	for (size_t i = 0; i < a->u.stats.nworkers; i++) {
		const tasq_worker_stats *x = &a->u.stats.workers[i];
		const tasq_worker_stats *y = &b->u.stats.workers[i];
		FUZZ_CHECK_EQ(x->worker_id, y->worker_id);
		fuzz_same_str(x->name, y->name);
		fuzz_same_str(x->queue, y->queue);
		fuzz_check_text(x->name, true);
		fuzz_check_text(x->queue, false);
		FUZZ_CHECK_EQ(x->leases, y->leases);
		FUZZ_CHECK_EQ(x->tasks_in_hand, y->tasks_in_hand);
		FUZZ_CHECK_EQ(x->completed, y->completed);
		FUZZ_CHECK_EQ(x->idle_ms, y->idle_ms);
		FUZZ_CHECK_EQ(x->connected, y->connected);
		FUZZ_CHECK_EQ(x->failed, y->failed);
		FUZZ_CHECK_EQ(x->retried, y->retried);
	}
	FUZZ_CHECK_EQ(a->u.stats.ncounters, b->u.stats.ncounters);
	for (size_t i = 0; i < a->u.stats.ncounters; i++) {
		fuzz_same_str(
		    a->u.stats.counters[i].name, b->u.stats.counters[i].name);
		FUZZ_CHECK_EQ(a->u.stats.counters[i].value,
		    b->u.stats.counters[i].value);
	}
	FUZZ_CHECK_EQ(a->u.stats.ndead, b->u.stats.ndead);
	same_mem(a->u.stats.dead, b->u.stats.dead,
	    a->u.stats.ndead * 2 * sizeof(uint64_t));
	FUZZ_CHECK_EQ(a->u.stats.ntypes, b->u.stats.ntypes);
	for (size_t i = 0; i < a->u.stats.ntypes; i++) {
		const tasq_type_stats *x = &a->u.stats.types[i];
		const tasq_type_stats *y = &b->u.stats.types[i];
		fuzz_same_str(x->queue, y->queue);
		fuzz_same_str(x->type, y->type);
		fuzz_check_text(x->queue, false);
		fuzz_check_text(x->type, false);
		FUZZ_CHECK_EQ(x->ready, y->ready);
		FUZZ_CHECK_EQ(x->leased, y->leased);
		FUZZ_CHECK_EQ(x->workers, y->workers);
	}
	FUZZ_CHECK_EQ(a->u.stats.dead_total, b->u.stats.dead_total);
}

static void
same_dead_list(const tasq_rep *a, const tasq_rep *b)
{
	FUZZ_CHECK_EQ(a->u.dead_list.n, b->u.dead_list.n);
	FUZZ_CHECK(a->u.dead_list.n <= TASQ_WIRE_MAX_DEAD);
	FUZZ_CHECK_EQ(a->u.dead_list.total, b->u.dead_list.total);
	for (size_t i = 0; i < a->u.dead_list.n; i++) {
		const tasq_dead_letter *x = &a->u.dead_list.letters[i];
		const tasq_dead_letter *y = &b->u.dead_list.letters[i];
		FUZZ_CHECK_EQ(x->id, y->id);
		FUZZ_CHECK_EQ(x->job_id, y->job_id);
		FUZZ_CHECK_EQ(x->task_id, y->task_id);
		fuzz_same_str(x->queue, y->queue);
		fuzz_same_str(x->type, y->type);
		fuzz_same_str(x->error, y->error);
		fuzz_check_text(x->error, false);
		FUZZ_CHECK_EQ(x->payload_size, y->payload_size);
		FUZZ_CHECK(x->payload_size <= TASQ_WIRE_MAX_PAYLOAD);
		FUZZ_CHECK(
		    x->payload_size == 0 || x->payload_size == x->payload_len);
		same_mem(x->payload, y->payload, x->payload_size);
		FUZZ_CHECK_EQ(x->payload_len, y->payload_len);
		FUZZ_CHECK_EQ(x->attempts, y->attempts);
		FUZZ_CHECK_EQ(x->code, y->code);
		FUZZ_CHECK(x->code <= TASQ_CODE_MAX);
		FUZZ_CHECK_EQ(x->time_ms, y->time_ms);
	}
}

static void
same_rep(const tasq_rep *a, const tasq_rep *b)
{
	FUZZ_CHECK_EQ(a->method, b->method);
	switch (a->method) {
	case TASQ_M_HEALTH:
		FUZZ_CHECK_EQ(a->u.health.serving, b->u.health.serving);
		fuzz_same_str(a->u.health.version, b->u.health.version);
		FUZZ_CHECK_EQ(a->u.health.server_id, b->u.health.server_id);
		FUZZ_CHECK_EQ(a->u.health.uptime_ms, b->u.health.uptime_ms);
		FUZZ_CHECK_EQ(
		    a->u.health.heartbeat_port, b->u.health.heartbeat_port);
		break;
	case TASQ_M_SUBMIT:
		FUZZ_CHECK_EQ(a->u.submit.accepted, b->u.submit.accepted);
		FUZZ_CHECK_EQ(a->u.submit.duplicate, b->u.submit.duplicate);
		break;
	case TASQ_M_LEASE:
		FUZZ_CHECK_EQ(a->u.lease.nbatches, b->u.lease.nbatches);
		FUZZ_CHECK(a->u.lease.nbatches <= TASQ_WIRE_MAX_BATCHES);
		for (size_t i = 0; i < a->u.lease.nbatches; i++) {
			const tasq_task_batch *x = &a->u.lease.batches[i];
			const tasq_task_batch *y = &b->u.lease.batches[i];
			FUZZ_CHECK_EQ(x->lease_id, y->lease_id);
			FUZZ_CHECK_EQ(x->job_id, y->job_id);
			FUZZ_CHECK_EQ(x->attempt, y->attempt);
			FUZZ_CHECK_EQ(x->n, y->n);
			same_mem(x->ids, y->ids, x->n * sizeof(uint64_t));
			FUZZ_CHECK_EQ(x->legacy, y->legacy);
			FUZZ_CHECK((x->values != NULL) == x->legacy);
			same_mem(x->values, y->values,
			    x->legacy ? x->n * sizeof(int64_t) : 0);
			fuzz_same_str(x->type, y->type);
			FUZZ_CHECK(tasq_wire_valid_name(x->type));
			if (x->legacy ||
			    strcmp(x->type, TASQ_TYPE_SQUARE) == 0) {
				FUZZ_CHECK(
				    strcmp(x->type, TASQ_TYPE_SQUARE) == 0);
				FUZZ_CHECK_EQ(
				    x->payloads.width, TASQ_I64_WIDTH);
			}
			fuzz_same_blobs(&x->payloads, &y->payloads, x->n);
		}
		FUZZ_CHECK_EQ(a->u.lease.lease_ms, b->u.lease.lease_ms);
		same_complete(&a->u.lease.completed, &b->u.lease.completed);
		FUZZ_CHECK_EQ(a->u.lease.ncancelled, b->u.lease.ncancelled);
		FUZZ_CHECK(a->u.lease.ncancelled <= TASQ_WIRE_MAX_CANCELLED);
		same_mem(a->u.lease.cancelled, b->u.lease.cancelled,
		    a->u.lease.ncancelled * sizeof(uint64_t));
		break;
	case TASQ_M_COMPLETE:
		same_complete(&a->u.complete, &b->u.complete);
		break;
	case TASQ_M_EXTEND:
		FUZZ_CHECK_EQ(a->u.extend.lease_ms, b->u.extend.lease_ms);
		FUZZ_CHECK_EQ(a->u.extend.n, b->u.extend.n);
		same_mem(a->u.extend.unknown, b->u.extend.unknown,
		    a->u.extend.n * sizeof(uint64_t));
		FUZZ_CHECK_EQ(a->u.extend.ncancelled, b->u.extend.ncancelled);
		same_mem(a->u.extend.cancelled, b->u.extend.cancelled,
		    a->u.extend.ncancelled * sizeof(uint64_t));
		break;
	case TASQ_M_RELEASE:
		FUZZ_CHECK_EQ(a->u.release.released, b->u.release.released);
		break;
	case TASQ_M_FETCH:
		FUZZ_CHECK_EQ(a->u.fetch.seq, b->u.fetch.seq);
		FUZZ_CHECK_EQ(a->u.fetch.n, b->u.fetch.n);
		same_mem(a->u.fetch.ids, b->u.fetch.ids,
		    a->u.fetch.n * sizeof(uint64_t));
		FUZZ_CHECK_EQ(a->u.fetch.legacy, b->u.fetch.legacy);
		FUZZ_CHECK((a->u.fetch.values != NULL) == a->u.fetch.legacy);
		same_mem(a->u.fetch.values, b->u.fetch.values,
		    a->u.fetch.legacy ? a->u.fetch.n * sizeof(int64_t) : 0);
		fuzz_same_blobs(
		    &a->u.fetch.results, &b->u.fetch.results, a->u.fetch.n);
		fuzz_same_errors(
		    a->u.fetch.errors, b->u.fetch.errors, a->u.fetch.n);
		FUZZ_CHECK_EQ(a->u.fetch.no_worker, b->u.fetch.no_worker);
		FUZZ_CHECK_EQ(a->u.fetch.has_submit, b->u.fetch.has_submit);
		FUZZ_CHECK_EQ(
		    a->u.fetch.submit.accepted, b->u.fetch.submit.accepted);
		FUZZ_CHECK_EQ(
		    a->u.fetch.submit.duplicate, b->u.fetch.submit.duplicate);
		FUZZ_CHECK(
		    (a->u.fetch.codes == NULL) == (b->u.fetch.codes == NULL));
		if (a->u.fetch.codes != NULL) {
			same_mem(a->u.fetch.codes, b->u.fetch.codes,
			    a->u.fetch.n * sizeof(uint32_t));
			for (size_t i = 0; i < a->u.fetch.n; i++) {
				FUZZ_CHECK(
				    a->u.fetch.codes[i] <= TASQ_CODE_MAX);
			}
		}
		FUZZ_CHECK_EQ(a->u.fetch.submitted, b->u.fetch.submitted);
		FUZZ_CHECK_EQ(a->u.fetch.completed, b->u.fetch.completed);
		break;
	case TASQ_M_CLOSE_JOB:
		FUZZ_CHECK_EQ(a->u.close_job.dropped, b->u.close_job.dropped);
		break;
	case TASQ_M_STATS:
		same_stats(a, b);
		break;
	case TASQ_M_DEAD_LIST:
		same_dead_list(a, b);
		break;
	case TASQ_M_DEAD_PURGE:
		FUZZ_CHECK_EQ(a->u.dead_purge.purged, b->u.dead_purge.purged);
		break;
	case TASQ_M_JOB_LIST:
		FUZZ_CHECK_EQ(a->u.job_list.n, b->u.job_list.n);
		FUZZ_CHECK_EQ(a->u.job_list.total, b->u.job_list.total);
		for (size_t i = 0; i < a->u.job_list.n; i++) {
			same_job(
			    &a->u.job_list.jobs[i], &b->u.job_list.jobs[i]);
		}
		break;
	case TASQ_M_JOB_STATUS:
		same_job(&a->u.job_status.job, &b->u.job_status.job);
		break;
	case TASQ_M_RESULTS:
		FUZZ_CHECK_EQ(a->u.results.n, b->u.results.n);
		same_mem(a->u.results.ids, b->u.results.ids,
		    a->u.results.n * sizeof(uint64_t));
		fuzz_same_blobs(&a->u.results.results, &b->u.results.results,
		    a->u.results.n);
		fuzz_same_errors(
		    a->u.results.errors, b->u.results.errors, a->u.results.n);
		FUZZ_CHECK((a->u.results.codes == NULL) ==
		    (b->u.results.codes == NULL));
		if (a->u.results.codes != NULL) {
			same_mem(a->u.results.codes, b->u.results.codes,
			    a->u.results.n * sizeof(uint32_t));
			for (size_t i = 0; i < a->u.results.n; i++) {
				FUZZ_CHECK(
				    a->u.results.codes[i] <= TASQ_CODE_MAX);
			}
		}
		FUZZ_CHECK_EQ(
		    a->u.results.next_index, b->u.results.next_index);
		FUZZ_CHECK_EQ(a->u.results.has_job, b->u.results.has_job);
		if (a->u.results.has_job) {
			same_job(&a->u.results.job, &b->u.results.job);
		}
		break;
	case TASQ_M_CANCEL:
		FUZZ_CHECK_EQ(a->u.cancel.dropped, b->u.cancel.dropped);
		FUZZ_CHECK_EQ(a->u.cancel.running, b->u.cancel.running);
		FUZZ_CHECK_EQ(a->u.cancel.has_job, b->u.cancel.has_job);
		if (a->u.cancel.has_job) {
			same_job(&a->u.cancel.job, &b->u.cancel.job);
		}
		break;
	default:
		FUZZ_CHECK(!"decoded a reply of an unknown method");
	}
}

static void
fuzz_rep(int method, const uint8_t *body, size_t len)
{
	tasq_rep    rep, again;
	nng_msg    *m;
	const char *why = NULL;
	int         rv;

	FUZZ_CHECK_EQ(tasq_wire_decode_held(), 0);
	rv = tasq_wire_decode_rep(method, body, len, &rep, &why);
	FUZZ_CHECK(
	    tasq_wire_decode_peak() <= tasq_wire_decode_bound(len, true));
	if (rv != 0) {
		FUZZ_CHECK_EQ(tasq_wire_decode_held(), 0);
		FUZZ_CHECK(rv == TASQ_EINVALID_ARGUMENT ||
		    rv == TASQ_EUNIMPLEMENTED ||
		    rv == TASQ_ERESOURCE_EXHAUSTED);
		FUZZ_CHECK(why != NULL);
		FUZZ_CHECK(rep.pb_ == NULL && rep.mem_ == NULL);
		if (method < 0 || method >= tasq_wire_method_count()) {
			FUZZ_CHECK_EQ(rv, TASQ_EUNIMPLEMENTED);
		}
		return;
	}
	FUZZ_CHECK(method >= 0 && method < tasq_wire_method_count());
	rv = tasq_wire_encode_rep(&rep, &m);
	if (rv == NNG_ENOMEM) {
		tasq_wire_rep_fini(&rep);
		return;
	}
	FUZZ_CHECK_EQ(rv, 0);
	FUZZ_CHECK(nng_msg_len(m) >= TASQ_ENV_HDR_LEN);
	rv = tasq_wire_decode_rep(method,
	    (const uint8_t *) nng_msg_body(m) + TASQ_ENV_HDR_LEN,
	    nng_msg_len(m) - TASQ_ENV_HDR_LEN, &again, &why);
	FUZZ_CHECK_EQ(rv, 0);
	FUZZ_CHECK(tasq_wire_decode_peak() <=
	    tasq_wire_decode_bound(nng_msg_len(m) - TASQ_ENV_HDR_LEN, true));
	same_rep(&rep, &again);
	tasq_wire_rep_fini(&again);
	tasq_wire_rep_fini(&rep);
	FUZZ_CHECK_EQ(tasq_wire_decode_held(), 0);
	nng_msg_free(m);
}

// Status text is printed by clients: it must come out bounded, terminated
// and free of control characters, and survive a round trip.
static void
fuzz_status(const uint8_t *body, size_t len, size_t textlen)
{
	char    *text, *again;
	nng_msg *m;
	int      code = -1, code2 = -1;
	int      rv;

	// Exact-size heap buffers so that a write past textlen is caught.
	text  = malloc(textlen > 0 ? textlen : 1);
	again = malloc(textlen > 0 ? textlen : 1);
	if (text == NULL || again == NULL) {
		free(text);
		free(again);
		return;
	}
	rv = tasq_wire_decode_status(body, len, &code, text, textlen);
	FUZZ_CHECK(
	    tasq_wire_decode_peak() <= tasq_wire_decode_bound(len, true));
	FUZZ_CHECK_EQ(tasq_wire_decode_held(), 0);
	if (rv != 0) {
		FUZZ_CHECK(rv == TASQ_EINVALID_ARGUMENT ||
		    rv == TASQ_ERESOURCE_EXHAUSTED);
		goto out;
	}
	if (textlen > 0) {
		fuzz_check_text(text, true);
	}
	if (textlen == 0) {
		goto out;
	}
	FUZZ_CHECK(memchr(text, '\0', textlen) != NULL);
	for (size_t i = 0; text[i] != '\0'; i++) {
		FUZZ_CHECK((unsigned char) text[i] >= 0x20 && text[i] != 0x7f);
	}
	if ((rv = tasq_wire_encode_status(code, text, &m)) == NNG_ENOMEM) {
		goto out;
	}
	FUZZ_CHECK_EQ(rv, 0);
	rv = tasq_wire_decode_status(
	    (const uint8_t *) nng_msg_body(m) + TASQ_ENV_HDR_LEN,
	    nng_msg_len(m) - TASQ_ENV_HDR_LEN, &code2, again, textlen);
	nng_msg_free(m);
	FUZZ_CHECK_EQ(rv, 0);
	FUZZ_CHECK_EQ(code, code2);
	FUZZ_CHECK(strcmp(text, again) == 0);
out:
	free(text);
	free(again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t textlens[] = { 256, 0, 1, 2, 17, 4096 };

	if (size < 1) {
		return (0);
	}
	fuzz_rep(fuzz_pick_method(data[0]), data + 1, size - 1);
	fuzz_status(
	    data + 1, size - 1, textlens[(data[0] / TASQ_FUZZ_METHODS) % 6]);
	return (0);
}
