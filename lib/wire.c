#include "wire.h"

#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "err.h"
#include "tasq.pb-c.h"

#define SVC tasq__v1__queue__descriptor

const char *
tasq_wire_method_name(int method)
{
	if (method < 0 || (unsigned) method >= SVC.n_methods) {
		return (NULL);
	}
	return (SVC.methods[method].name);
}

int
tasq_wire_method_count(void)
{
	return ((int) SVC.n_methods);
}

bool
tasq_wire_valid_name(const char *s)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++) {
		char c = s[n];
		if (n >= TASQ_WIRE_MAX_NAME) {
			return (false);
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		        c == '-')) {
			return (false);
		}
	}
	return (n > 0);
}

// A worker name is free text for humans: bounded and printable.
static bool
valid_label(const char *s)
{
	size_t n = 0;
	for (; s[n] != '\0'; n++) {
		if (n >= TASQ_WIRE_MAX_NAME || (unsigned char) s[n] < 0x20 ||
		    s[n] == 0x7f) {
			return (false);
		}
	}
	return (true);
}

static int
result_batches_in(size_t n, Tasq__V1__ResultBatch **in,
    tasq_result_batch **outp, void **memp, const char **why)
{
	tasq_result_batch *out;
	size_t             total = 0;

	*outp = NULL;
	if (n == 0) {
		return (0);
	}
	if (n > TASQ_WIRE_MAX_BATCHES) {
		*why = "too many result batches";
		return (TASQ_EINVALID_ARGUMENT);
	}
	for (size_t i = 0; i < n; i++) {
		Tasq__V1__ResultBatch *b = in[i];
		if (b->n_values != b->n_ids ||
		    (b->n_codes != 0 && b->n_codes != b->n_ids)) {
			*why = "result batch columns differ in length";
			return (TASQ_EINVALID_ARGUMENT);
		}
		for (size_t j = 0; j < b->n_codes; j++) {
			if (b->codes[j] > TASQ_CODE_MAX) {
				*why = "result code out of range";
				return (TASQ_EINVALID_ARGUMENT);
			}
		}
		total += b->n_ids;
	}
	if (total > TASQ_WIRE_MAX_IDS) {
		*why = "too many results in one request";
		return (TASQ_EINVALID_ARGUMENT);
	}
	if ((out = calloc(n, sizeof(*out))) == NULL) {
		*why = "out of memory";
		return (TASQ_ERESOURCE_EXHAUSTED);
	}
	for (size_t i = 0; i < n; i++) {
		out[i].lease_id = in[i]->lease_id;
		out[i].job_id   = in[i]->job_id;
		out[i].n        = in[i]->n_ids;
		out[i].ids      = in[i]->ids;
		out[i].values   = in[i]->values;
		out[i].codes    = in[i]->n_codes ? in[i]->codes : NULL;
	}
	*outp = out;
	*memp = out;
	return (0);
}

static int
check_ids(size_t n, const char **why)
{
	if (n > TASQ_WIRE_MAX_IDS) {
		*why = "too many ids in one request";
		return (TASQ_EINVALID_ARGUMENT);
	}
	return (0);
}

// Checks a SubmitRequest (a Submit's, or one carried by a Fetch) and
// points out at its fields.
static int
submit_in(Tasq__V1__SubmitRequest *m, tasq_submit_req *out, const char **why)
{
	int rv;

	if (!tasq_wire_valid_name(m->queue)) {
		*why = "queue name must be 1-64 characters of [A-Za-z0-9._-]";
		return (TASQ_EINVALID_ARGUMENT);
	}
	if (m->job_id == 0) {
		*why = "job_id must not be 0";
		return (TASQ_EINVALID_ARGUMENT);
	}
	if (m->n_values == 0) {
		*why = "a submit must carry at least one task";
		return (TASQ_EINVALID_ARGUMENT);
	}
	if (m->first_index > UINT64_MAX - m->n_values) {
		*why = "task ids overflow";
		return (TASQ_EINVALID_ARGUMENT);
	}
	if ((rv = check_ids(m->n_values, why)) != 0) {
		return (rv);
	}
	out->queue       = m->queue;
	out->job_id      = m->job_id;
	out->first_index = m->first_index;
	out->n           = m->n_values;
	out->values      = m->values;
	return (0);
}

int
tasq_wire_decode_req(int method, const uint8_t *body, size_t len,
    tasq_req *req, const char **why)
{
	ProtobufCMessage *pb;
	int               rv = 0;

	memset(req, 0, sizeof(*req));
	req->method = method;
	if (method < 0 || (unsigned) method >= SVC.n_methods) {
		*why = "unknown method";
		return (TASQ_EUNIMPLEMENTED);
	}
	pb = protobuf_c_message_unpack(
	    SVC.methods[method].input, NULL, len, body);
	if (pb == NULL) {
		*why = "request body is not a valid protobuf message";
		return (TASQ_EINVALID_ARGUMENT);
	}
	req->pb_ = pb;
	switch (method) {
	case TASQ_M_HEALTH:
	case TASQ_M_STATS:
		break;
	case TASQ_M_SUBMIT:
		rv = submit_in((void *) pb, &req->u.submit, why);
		break;
	case TASQ_M_LEASE: {
		Tasq__V1__LeaseRequest *m = (void *) pb;
		if (!tasq_wire_valid_name(m->queue)) {
			*why = "queue name must be 1-64 characters of "
			       "[A-Za-z0-9._-]";
			rv   = TASQ_EINVALID_ARGUMENT;
			break;
		}
		if (m->worker_id == 0 || !valid_label(m->worker_name)) {
			*why = "worker_id must not be 0 and worker_name must "
			       "be at most 64 printable bytes";
			rv   = TASQ_EINVALID_ARGUMENT;
			break;
		}
		req->u.lease.queue       = m->queue;
		req->u.lease.worker_id   = m->worker_id;
		req->u.lease.worker_name = m->worker_name;
		req->u.lease.max_tasks   = m->max_tasks;
		req->u.lease.wait_ms     = m->wait_ms;
		req->u.lease.nresults    = m->n_results;
		rv = result_batches_in(m->n_results, m->results,
		    &req->u.lease.results, &req->mem_, why);
		break;
	}
	case TASQ_M_COMPLETE: {
		Tasq__V1__CompleteRequest *m = (void *) pb;
		req->u.complete.worker_id    = m->worker_id;
		req->u.complete.nresults     = m->n_results;
		rv = result_batches_in(m->n_results, m->results,
		    &req->u.complete.results, &req->mem_, why);
		break;
	}
	case TASQ_M_EXTEND:
	case TASQ_M_RELEASE: {
		// Same shape: worker_id and a packed list of lease ids.
		uint64_t  wid;
		size_t    n;
		uint64_t *ids;
		if (method == TASQ_M_EXTEND) {
			Tasq__V1__ExtendRequest *m = (void *) pb;
			wid = m->worker_id, n = m->n_lease_ids,
			ids = m->lease_ids;
		} else {
			Tasq__V1__ReleaseRequest *m = (void *) pb;
			wid = m->worker_id, n = m->n_lease_ids,
			ids = m->lease_ids;
		}
		if (n > TASQ_WIRE_MAX_BATCHES) {
			*why = "too many lease ids";
			rv   = TASQ_EINVALID_ARGUMENT;
			break;
		}
		req->u.extend.worker_id = wid;
		req->u.extend.n         = n;
		req->u.extend.lease_ids = ids;
		break;
	}
	case TASQ_M_FETCH: {
		Tasq__V1__FetchRequest *m = (void *) pb;
		if (m->job_id == 0) {
			*why = "job_id must not be 0";
			rv   = TASQ_EINVALID_ARGUMENT;
			break;
		}
		req->u.fetch.job_id      = m->job_id;
		req->u.fetch.ack_seq     = m->ack_seq;
		req->u.fetch.max_results = m->max_results;
		req->u.fetch.wait_ms     = m->wait_ms;
		if (m->submit == NULL) {
			break;
		}
		if ((rv = submit_in(m->submit, &req->u.fetch.submit, why)) !=
		    0) {
			break;
		}
		if (m->submit->job_id != m->job_id) {
			*why = "a fetch's submit must be for the same job";
			rv   = TASQ_EINVALID_ARGUMENT;
			break;
		}
		req->u.fetch.has_submit = true;
		break;
	}
	case TASQ_M_CLOSE_JOB: {
		Tasq__V1__CloseJobRequest *m = (void *) pb;
		req->u.close_job.job_id      = m->job_id;
		req->u.close_job.ack_seq     = m->ack_seq;
		break;
	}
	default:
		*why = "unknown method";
		rv   = TASQ_EUNIMPLEMENTED;
		break;
	}
	if (rv != 0) {
		tasq_wire_req_fini(req);
	}
	return (rv);
}

void
tasq_wire_req_fini(tasq_req *req)
{
	if (req->pb_ != NULL) {
		protobuf_c_message_free_unpacked(req->pb_, NULL);
	}
	free(req->mem_);
	req->pb_  = NULL;
	req->mem_ = NULL;
}

static bool
codes_ok(size_t n, const uint32_t *codes)
{
	for (size_t i = 0; i < n; i++) {
		if (codes[i] > TASQ_CODE_MAX) {
			return (false);
		}
	}
	return (true);
}

int
tasq_wire_decode_rep(int method, const uint8_t *body, size_t len,
    tasq_rep *rep, const char **why)
{
	ProtobufCMessage *pb;
	int               rv = 0;

	memset(rep, 0, sizeof(*rep));
	rep->method = method;
	if (method < 0 || (unsigned) method >= SVC.n_methods) {
		*why = "unknown method";
		return (TASQ_EUNIMPLEMENTED);
	}
	pb = protobuf_c_message_unpack(
	    SVC.methods[method].output, NULL, len, body);
	if (pb == NULL) {
		*why = "reply body is not a valid protobuf message";
		return (TASQ_EINVALID_ARGUMENT);
	}
	rep->pb_ = pb;
	switch (method) {
	case TASQ_M_HEALTH: {
		Tasq__V1__HealthReply *m = (void *) pb;
		rep->u.health.serving    = m->serving;
		rep->u.health.version    = m->version;
		rep->u.health.server_id  = m->server_id;
		rep->u.health.uptime_ms  = m->uptime_ms;
		break;
	}
	case TASQ_M_SUBMIT: {
		Tasq__V1__SubmitReply *m = (void *) pb;
		rep->u.submit.accepted   = m->accepted;
		rep->u.submit.duplicate  = m->duplicate;
		break;
	}
	case TASQ_M_LEASE: {
		Tasq__V1__LeaseReply *m = (void *) pb;
		tasq_task_batch      *b = NULL;
		if (m->n_batches > TASQ_WIRE_MAX_BATCHES) {
			*why = "too many task batches";
			rv   = TASQ_EINVALID_ARGUMENT;
			break;
		}
		if (m->n_batches > 0 &&
		    (b = calloc(m->n_batches, sizeof(*b))) == NULL) {
			*why = "out of memory";
			rv   = TASQ_ERESOURCE_EXHAUSTED;
			break;
		}
		rep->mem_ = b;
		for (size_t i = 0; i < m->n_batches; i++) {
			Tasq__V1__TaskBatch *t = m->batches[i];
			if (t->n_ids != t->n_values) {
				*why = "task batch columns differ in length";
				rv   = TASQ_EINVALID_ARGUMENT;
				break;
			}
			b[i].lease_id = t->lease_id;
			b[i].job_id   = t->job_id;
			b[i].attempt  = t->attempt;
			b[i].n        = t->n_ids;
			b[i].ids      = t->ids;
			b[i].values   = t->values;
		}
		rep->u.lease.nbatches = m->n_batches;
		rep->u.lease.batches  = b;
		rep->u.lease.lease_ms = m->lease_ms;
		if (m->completed != NULL) {
			rep->u.lease.completed.accepted =
			    m->completed->accepted;
			rep->u.lease.completed.duplicates =
			    m->completed->duplicates;
			rep->u.lease.completed.late = m->completed->late;
			rep->u.lease.completed.rejected =
			    m->completed->rejected;
		}
		break;
	}
	case TASQ_M_COMPLETE: {
		Tasq__V1__CompleteReply *m = (void *) pb;
		rep->u.complete.accepted   = m->accepted;
		rep->u.complete.duplicates = m->duplicates;
		rep->u.complete.late       = m->late;
		rep->u.complete.rejected   = m->rejected;
		break;
	}
	case TASQ_M_EXTEND: {
		Tasq__V1__ExtendReply *m = (void *) pb;
		rep->u.extend.lease_ms   = m->lease_ms;
		rep->u.extend.n          = m->n_unknown;
		rep->u.extend.unknown    = m->unknown;
		break;
	}
	case TASQ_M_RELEASE: {
		Tasq__V1__ReleaseReply *m = (void *) pb;
		rep->u.release.released   = m->released;
		break;
	}
	case TASQ_M_FETCH: {
		Tasq__V1__FetchReply *m = (void *) pb;
		if (m->n_values != m->n_ids ||
		    (m->n_codes != 0 && m->n_codes != m->n_ids) ||
		    !codes_ok(m->n_codes, m->codes)) {
			*why = "fetch reply columns are inconsistent";
			rv   = TASQ_EINVALID_ARGUMENT;
			break;
		}
		rep->u.fetch.seq       = m->seq;
		rep->u.fetch.n         = m->n_ids;
		rep->u.fetch.ids       = m->ids;
		rep->u.fetch.values    = m->values;
		rep->u.fetch.codes     = m->n_codes ? m->codes : NULL;
		rep->u.fetch.submitted = m->submitted;
		rep->u.fetch.completed = m->completed;
		if (m->submit != NULL) {
			rep->u.fetch.has_submit       = true;
			rep->u.fetch.submit.accepted  = m->submit->accepted;
			rep->u.fetch.submit.duplicate = m->submit->duplicate;
		}
		break;
	}
	case TASQ_M_CLOSE_JOB: {
		Tasq__V1__CloseJobReply *m = (void *) pb;
		rep->u.close_job.dropped   = m->dropped;
		break;
	}
	case TASQ_M_STATS: {
		Tasq__V1__StatsReply *m = (void *) pb;
		size_t sz = m->n_queues * sizeof(tasq_queue_stats) +
		    m->n_workers * sizeof(tasq_worker_stats) +
		    m->n_counters * sizeof(tasq_counter);
		char *mem;
		if ((mem = calloc(1, sz + 1)) == NULL) {
			*why = "out of memory";
			rv   = TASQ_ERESOURCE_EXHAUSTED;
			break;
		}
		rep->mem_              = mem;
		rep->u.stats.version   = m->version;
		rep->u.stats.uptime_ms = m->uptime_ms;
		rep->u.stats.nqueues   = m->n_queues;
		rep->u.stats.queues    = (void *) mem;
		mem += m->n_queues * sizeof(tasq_queue_stats);
		rep->u.stats.nworkers = m->n_workers;
		rep->u.stats.workers  = (void *) mem;
		mem += m->n_workers * sizeof(tasq_worker_stats);
		rep->u.stats.ncounters = m->n_counters;
		rep->u.stats.counters  = (void *) mem;
		for (size_t i = 0; i < m->n_queues; i++) {
			Tasq__V1__QueueStats *q = m->queues[i];
			rep->u.stats.queues[i] =
			    (tasq_queue_stats) { .name = q->name,
				    .ready             = q->ready,
				    .leased            = q->leased,
				    .results           = q->results,
				    .jobs              = q->jobs,
				    .dead              = q->dead,
				    .submitted         = q->submitted,
				    .completed         = q->completed };
		}
		for (size_t i = 0; i < m->n_workers; i++) {
			Tasq__V1__WorkerStats *w = m->workers[i];
			rep->u.stats.workers[i] =
			    (tasq_worker_stats) { .worker_id = w->worker_id,
				    .name                    = w->name,
				    .queue                   = w->queue,
				    .leases                  = w->leases,
				    .tasks_in_hand = w->tasks_in_hand,
				    .completed     = w->completed,
				    .idle_ms       = w->idle_ms,
				    .connected     = w->connected };
		}
		for (size_t i = 0; i < m->n_counters; i++) {
			rep->u.stats.counters[i].name  = m->counters[i]->name;
			rep->u.stats.counters[i].value = m->counters[i]->value;
		}
		rep->u.stats.ndead = m->n_dead_letters / 2;
		rep->u.stats.dead  = m->dead_letters;
		break;
	}
	default:
		*why = "unknown method";
		rv   = TASQ_EUNIMPLEMENTED;
		break;
	}
	if (rv != 0) {
		tasq_wire_rep_fini(rep);
	}
	return (rv);
}

void
tasq_wire_rep_fini(tasq_rep *rep)
{
	if (rep->pb_ != NULL) {
		protobuf_c_message_free_unpacked(rep->pb_, NULL);
	}
	free(rep->mem_);
	rep->pb_  = NULL;
	rep->mem_ = NULL;
}

static int
pack(const ProtobufCMessage *pb, nng_msg **msgp)
{
	nng_msg *m;
	size_t   sz = protobuf_c_message_get_packed_size(pb);
	int      rv;

	if (sz > UINT32_MAX - TASQ_ENV_OVERHEAD) {
		return (TASQ_EINVALID_ARGUMENT);
	}
	// Room for the tag too, so that sealing does not reallocate.
	if ((rv = nng_msg_alloc(&m, TASQ_ENV_HDR_LEN + sz)) != 0) {
		return (rv);
	}
	if (nng_msg_realloc(m, TASQ_ENV_HDR_LEN + sz + TASQ_ENV_TAG_LEN) !=
	    0) {
		nng_msg_free(m);
		return (NNG_ENOMEM);
	}
	(void) nng_msg_chop(m, TASQ_ENV_TAG_LEN);
	memset(nng_msg_body(m), 0, TASQ_ENV_HDR_LEN);
	if (protobuf_c_message_pack(
	        pb, (uint8_t *) nng_msg_body(m) + TASQ_ENV_HDR_LEN) != sz) {
		nng_msg_free(m);
		return (TASQ_EINTERNAL);
	}
	*msgp = m;
	return (0);
}

static void
result_batch_out(const tasq_result_batch *in, Tasq__V1__ResultBatch *out)
{
	tasq__v1__result_batch__init(out);
	out->lease_id = in->lease_id;
	out->job_id   = in->job_id;
	out->n_ids    = in->n;
	out->ids      = in->ids;
	out->n_values = in->n;
	out->values   = in->values;
	out->n_codes  = in->codes ? in->n : 0;
	out->codes    = in->codes;
}

// Packs a request or reply that carries an array of result batches.
static int
pack_with_results(ProtobufCMessage *pb, size_t *np,
    Tasq__V1__ResultBatch ***pp, size_t n, const tasq_result_batch *rb,
    nng_msg **msgp)
{
	Tasq__V1__ResultBatch  *arr  = NULL;
	Tasq__V1__ResultBatch **ptrs = NULL;
	int                     rv;

	if (n > 0) {
		arr  = calloc(n, sizeof(*arr));
		ptrs = calloc(n, sizeof(*ptrs));
		if (arr == NULL || ptrs == NULL) {
			free(arr);
			free(ptrs);
			return (NNG_ENOMEM);
		}
		for (size_t i = 0; i < n; i++) {
			result_batch_out(&rb[i], &arr[i]);
			ptrs[i] = &arr[i];
		}
	}
	*np = n;
	*pp = ptrs;
	rv  = pack(pb, msgp);
	free(arr);
	free(ptrs);
	return (rv);
}

static void
submit_out(const tasq_submit_req *in, Tasq__V1__SubmitRequest *m)
{
	tasq__v1__submit_request__init(m);
	m->queue       = (char *) in->queue;
	m->job_id      = in->job_id;
	m->first_index = in->first_index;
	m->n_values    = in->n;
	m->values      = in->values;
}

int
tasq_wire_encode_req(const tasq_req *req, nng_msg **msgp)
{
	switch (req->method) {
	case TASQ_M_HEALTH: {
		Tasq__V1__HealthRequest m = TASQ__V1__HEALTH_REQUEST__INIT;
		return (pack(&m.base, msgp));
	}
	case TASQ_M_STATS: {
		Tasq__V1__StatsRequest m = TASQ__V1__STATS_REQUEST__INIT;
		return (pack(&m.base, msgp));
	}
	case TASQ_M_SUBMIT: {
		Tasq__V1__SubmitRequest m;
		submit_out(&req->u.submit, &m);
		return (pack(&m.base, msgp));
	}
	case TASQ_M_LEASE: {
		Tasq__V1__LeaseRequest m = TASQ__V1__LEASE_REQUEST__INIT;
		m.queue                  = (char *) req->u.lease.queue;
		m.worker_id              = req->u.lease.worker_id;
		m.worker_name            = (char *) req->u.lease.worker_name;
		m.max_tasks              = req->u.lease.max_tasks;
		m.wait_ms                = req->u.lease.wait_ms;
		return (pack_with_results(&m.base, &m.n_results, &m.results,
		    req->u.lease.nresults, req->u.lease.results, msgp));
	}
	case TASQ_M_COMPLETE: {
		Tasq__V1__CompleteRequest m = TASQ__V1__COMPLETE_REQUEST__INIT;
		m.worker_id                 = req->u.complete.worker_id;
		return (pack_with_results(&m.base, &m.n_results, &m.results,
		    req->u.complete.nresults, req->u.complete.results, msgp));
	}
	case TASQ_M_EXTEND: {
		Tasq__V1__ExtendRequest m = TASQ__V1__EXTEND_REQUEST__INIT;
		m.worker_id               = req->u.extend.worker_id;
		m.n_lease_ids             = req->u.extend.n;
		m.lease_ids               = req->u.extend.lease_ids;
		return (pack(&m.base, msgp));
	}
	case TASQ_M_RELEASE: {
		Tasq__V1__ReleaseRequest m = TASQ__V1__RELEASE_REQUEST__INIT;
		m.worker_id                = req->u.release.worker_id;
		m.n_lease_ids              = req->u.release.n;
		m.lease_ids                = req->u.release.lease_ids;
		return (pack(&m.base, msgp));
	}
	case TASQ_M_FETCH: {
		Tasq__V1__FetchRequest  m = TASQ__V1__FETCH_REQUEST__INIT;
		Tasq__V1__SubmitRequest sm;
		m.job_id      = req->u.fetch.job_id;
		m.ack_seq     = req->u.fetch.ack_seq;
		m.max_results = req->u.fetch.max_results;
		m.wait_ms     = req->u.fetch.wait_ms;
		if (req->u.fetch.has_submit) {
			submit_out(&req->u.fetch.submit, &sm);
			m.submit = &sm;
		}
		return (pack(&m.base, msgp));
	}
	case TASQ_M_CLOSE_JOB: {
		Tasq__V1__CloseJobRequest m =
		    TASQ__V1__CLOSE_JOB_REQUEST__INIT;
		m.job_id  = req->u.close_job.job_id;
		m.ack_seq = req->u.close_job.ack_seq;
		return (pack(&m.base, msgp));
	}
	default:
		return (TASQ_EINVALID_ARGUMENT);
	}
}

static void
complete_out(const tasq_complete_rep *in, Tasq__V1__CompleteReply *out)
{
	tasq__v1__complete_reply__init(out);
	out->accepted   = in->accepted;
	out->duplicates = in->duplicates;
	out->late       = in->late;
	out->rejected   = in->rejected;
}

static int
encode_stats(const tasq_rep *rep, nng_msg **msgp)
{
	Tasq__V1__StatsReply   m    = TASQ__V1__STATS_REPLY__INIT;
	size_t                 nq   = rep->u.stats.nqueues;
	size_t                 nw   = rep->u.stats.nworkers;
	size_t                 nc   = rep->u.stats.ncounters;
	Tasq__V1__QueueStats  *q    = calloc(nq + 1, sizeof(*q));
	Tasq__V1__WorkerStats *w    = calloc(nw + 1, sizeof(*w));
	Tasq__V1__Counter     *c    = calloc(nc + 1, sizeof(*c));
	void                 **ptrs = calloc(nq + nw + nc + 1, sizeof(void *));
	int                    rv   = NNG_ENOMEM;

	if (q == NULL || w == NULL || c == NULL || ptrs == NULL) {
		goto out;
	}
	m.version   = (char *) rep->u.stats.version;
	m.uptime_ms = rep->u.stats.uptime_ms;
	m.n_queues  = nq;
	m.queues    = (Tasq__V1__QueueStats **) ptrs;
	for (size_t i = 0; i < nq; i++) {
		const tasq_queue_stats *s = &rep->u.stats.queues[i];
		tasq__v1__queue_stats__init(&q[i]);
		q[i].name      = (char *) s->name;
		q[i].ready     = s->ready;
		q[i].leased    = s->leased;
		q[i].results   = s->results;
		q[i].jobs      = s->jobs;
		q[i].dead      = s->dead;
		q[i].submitted = s->submitted;
		q[i].completed = s->completed;
		m.queues[i]    = &q[i];
	}
	m.n_workers = nw;
	m.workers   = (Tasq__V1__WorkerStats **) (ptrs + nq);
	for (size_t i = 0; i < nw; i++) {
		const tasq_worker_stats *s = &rep->u.stats.workers[i];
		tasq__v1__worker_stats__init(&w[i]);
		w[i].worker_id     = s->worker_id;
		w[i].name          = (char *) s->name;
		w[i].queue         = (char *) s->queue;
		w[i].leases        = s->leases;
		w[i].tasks_in_hand = s->tasks_in_hand;
		w[i].completed     = s->completed;
		w[i].idle_ms       = s->idle_ms;
		w[i].connected     = s->connected;
		m.workers[i]       = &w[i];
	}
	m.n_counters = nc;
	m.counters   = (Tasq__V1__Counter **) (ptrs + nq + nw);
	for (size_t i = 0; i < nc; i++) {
		tasq__v1__counter__init(&c[i]);
		c[i].name     = (char *) rep->u.stats.counters[i].name;
		c[i].value    = rep->u.stats.counters[i].value;
		m.counters[i] = &c[i];
	}
	m.n_dead_letters = rep->u.stats.ndead * 2;
	m.dead_letters   = rep->u.stats.dead;
	rv               = pack(&m.base, msgp);
out:
	free(q);
	free(w);
	free(c);
	free(ptrs);
	return (rv);
}

int
tasq_wire_encode_rep(const tasq_rep *rep, nng_msg **msgp)
{
	switch (rep->method) {
	case TASQ_M_HEALTH: {
		Tasq__V1__HealthReply m = TASQ__V1__HEALTH_REPLY__INIT;
		m.serving               = rep->u.health.serving;
		m.version               = (char *) rep->u.health.version;
		m.server_id             = rep->u.health.server_id;
		m.uptime_ms             = rep->u.health.uptime_ms;
		return (pack(&m.base, msgp));
	}
	case TASQ_M_SUBMIT: {
		Tasq__V1__SubmitReply m = TASQ__V1__SUBMIT_REPLY__INIT;
		m.accepted              = rep->u.submit.accepted;
		m.duplicate             = rep->u.submit.duplicate;
		return (pack(&m.base, msgp));
	}
	case TASQ_M_LEASE: {
		Tasq__V1__LeaseReply    m = TASQ__V1__LEASE_REPLY__INIT;
		Tasq__V1__CompleteReply c;
		size_t                  n = rep->u.lease.nbatches;
		Tasq__V1__TaskBatch    *arr;
		Tasq__V1__TaskBatch   **ptrs;
		int                     rv;

		arr  = calloc(n + 1, sizeof(*arr));
		ptrs = calloc(n + 1, sizeof(*ptrs));
		if (arr == NULL || ptrs == NULL) {
			free(arr);
			free(ptrs);
			return (NNG_ENOMEM);
		}
		for (size_t i = 0; i < n; i++) {
			const tasq_task_batch *b = &rep->u.lease.batches[i];
			tasq__v1__task_batch__init(&arr[i]);
			arr[i].lease_id = b->lease_id;
			arr[i].job_id   = b->job_id;
			arr[i].attempt  = b->attempt;
			arr[i].n_ids    = b->n;
			arr[i].ids      = b->ids;
			arr[i].n_values = b->n;
			arr[i].values   = b->values;
			ptrs[i]         = &arr[i];
		}
		complete_out(&rep->u.lease.completed, &c);
		m.n_batches = n;
		m.batches   = ptrs;
		m.lease_ms  = rep->u.lease.lease_ms;
		m.completed = &c;
		rv          = pack(&m.base, msgp);
		free(arr);
		free(ptrs);
		return (rv);
	}
	case TASQ_M_COMPLETE: {
		Tasq__V1__CompleteReply m;
		complete_out(&rep->u.complete, &m);
		return (pack(&m.base, msgp));
	}
	case TASQ_M_EXTEND: {
		Tasq__V1__ExtendReply m = TASQ__V1__EXTEND_REPLY__INIT;
		m.lease_ms              = rep->u.extend.lease_ms;
		m.n_unknown             = rep->u.extend.n;
		m.unknown               = rep->u.extend.unknown;
		return (pack(&m.base, msgp));
	}
	case TASQ_M_RELEASE: {
		Tasq__V1__ReleaseReply m = TASQ__V1__RELEASE_REPLY__INIT;
		m.released               = rep->u.release.released;
		return (pack(&m.base, msgp));
	}
	case TASQ_M_FETCH: {
		Tasq__V1__FetchReply m = TASQ__V1__FETCH_REPLY__INIT;
		m.seq                  = rep->u.fetch.seq;
		m.n_ids                = rep->u.fetch.n;
		m.ids                  = rep->u.fetch.ids;
		m.n_values             = rep->u.fetch.n;
		m.values               = rep->u.fetch.values;
		m.n_codes   = rep->u.fetch.codes ? rep->u.fetch.n : 0;
		m.codes     = rep->u.fetch.codes;
		m.submitted = rep->u.fetch.submitted;
		m.completed = rep->u.fetch.completed;
		Tasq__V1__SubmitReply sr = TASQ__V1__SUBMIT_REPLY__INIT;
		if (rep->u.fetch.has_submit) {
			sr.accepted  = rep->u.fetch.submit.accepted;
			sr.duplicate = rep->u.fetch.submit.duplicate;
			m.submit     = &sr;
		}
		return (pack(&m.base, msgp));
	}
	case TASQ_M_CLOSE_JOB: {
		Tasq__V1__CloseJobReply m = TASQ__V1__CLOSE_JOB_REPLY__INIT;
		m.dropped                 = rep->u.close_job.dropped;
		return (pack(&m.base, msgp));
	}
	case TASQ_M_STATS:
		return (encode_stats(rep, msgp));
	default:
		return (TASQ_EINVALID_ARGUMENT);
	}
}

int
tasq_wire_encode_status(int code, const char *text, nng_msg **msgp)
{
	Tasq__V1__Status m = TASQ__V1__STATUS__INIT;

	m.code    = (Tasq__V1__Code) code;
	m.message = (char *) (text != NULL ? text : "");
	return (pack(&m.base, msgp));
}

int
tasq_wire_decode_status(
    const uint8_t *body, size_t len, int *code, char *text, size_t textlen)
{
	Tasq__V1__Status *m;
	size_t            i;

	m = tasq__v1__status__unpack(NULL, len, body);
	if (m == NULL) {
		return (TASQ_EINVALID_ARGUMENT);
	}
	*code = (int) m->code;
	for (i = 0; textlen > 0 && i < textlen - 1 && m->message[i] != '\0';
	     i++) {
		char c  = m->message[i];
		text[i] = ((unsigned char) c < 0x20 || c == 0x7f) ? '?' : c;
	}
	if (textlen > 0) {
		text[i] = '\0';
	}
	tasq__v1__status__free_unpacked(m, NULL);
	return (0);
}
