#include "service.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <nng/supplemental/util/platform.h>

#include "clock.h"
#include "err.h"
#include "rand.h"

struct tasq_service {
	tasq_broker      *broker;
	tasq_service_conf conf;
	uint64_t          server_id;
	uint64_t          identity; // set before serving (server.c)
	nng_time          started;
	atomic_uint       heartbeat_port; // set while serving (server.c)
};

int
tasq_service_alloc(
    tasq_service **sp, tasq_broker *b, const tasq_service_conf *conf)
{
	tasq_service *s;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		return (NNG_ENOMEM);
	}
	s->broker    = b;
	s->conf      = *conf;
	s->server_id = tasq_random64();
	s->started   = nng_clock();
	*sp          = s;
	return (0);
}

void
tasq_service_free(tasq_service *s)
{
	free(s);
}

uint64_t
tasq_service_server_id(const tasq_service *s)
{
	return (s->server_id);
}

void
tasq_service_set_identity(tasq_service *s, uint64_t identity)
{
	s->identity = identity;
}

void
tasq_service_set_heartbeat_port(tasq_service *s, uint32_t port)
{
	atomic_store(&s->heartbeat_port, port);
}

// How long a long-poll may wait: what the caller asked for, within the
// caller's deadline (less a margin for the reply's trip) and our cap.
static uint64_t
wait_budget(
    const tasq_service *s, const tasq_service_call *call, uint32_t wait_ms)
{
	uint64_t w = wait_ms;

	if (w > s->conf.max_wait_ms) {
		w = s->conf.max_wait_ms;
	}
	if (call->deadline_ms != 0) {
		uint64_t cap = call->deadline_ms - call->deadline_ms / 5;
		if (cap > 50) {
			cap -= 20;
		}
		if (w > cap) {
			w = cap;
		}
	}
	return (w);
}

// Decides whether to park now: only with a waiter, a positive budget, and
// before the call's park deadline.
static tasq_waiter *
maybe_wait(const tasq_service *s, tasq_service_call *call, tasq_waiter *w,
    uint32_t wait_ms)
{
	nng_time now = nng_clock();

	if (w == NULL) {
		return (NULL);
	}
	if (call->park_until == 0) {
		uint64_t budget = wait_budget(s, call, wait_ms);
		if (budget == 0) {
			return (NULL);
		}
		call->park_until = now + budget;
	}
	return (now < call->park_until ? w : NULL);
}

static int
handle_lease(tasq_service *s, tasq_service_call *call, tasq_waiter *w,
    nng_msg **replyp, bool *parked)
{
	const tasq_req *req = call->req;
	tasq_lease_out  out;
	tasq_rep        rep;
	uint64_t        now = tasq_clock_mono_ms();
	int             rv;

	if (!call->applied) {
		if (req->u.lease.nresults > 0 &&
		    (rv = tasq_broker_complete(s->broker,
		         req->u.lease.worker_id, req->u.lease.nresults,
		         req->u.lease.results, now, &call->completed)) != 0) {
			// Not recorded: the worker keeps them and retries.
			return (rv);
		}
		call->applied = true;
	}
	rv = tasq_broker_lease_queues(s->broker, req->u.lease.queue,
	    req->u.lease.queues, req->u.lease.nqueues, req->u.lease.worker_id,
	    req->u.lease.worker_name, (const char *const *) req->u.lease.types,
	    req->u.lease.ntypes, call->pipe_id, req->u.lease.max_tasks, now,
	    &out, maybe_wait(s, call, w, req->u.lease.wait_ms), parked);
	if (rv != 0 || *parked) {
		return (rv);
	}
	memset(&rep, 0, sizeof(rep));
	rep.method           = TASQ_M_LEASE;
	rep.u.lease.nbatches = out.nbatches;
	rep.u.lease.batches  = out.batches;
	for (size_t i = 0; i < out.nbatches; i++) {
		out.batches[i].id_runs = req->u.lease.id_runs;
	}
	rep.u.lease.lease_ms   = out.lease_ms;
	rep.u.lease.completed  = call->completed;
	rep.u.lease.ncancelled = out.ncancelled;
	rep.u.lease.cancelled  = out.cancelled;
	rv                     = tasq_wire_encode_rep(&rep, replyp);
	if (rv != 0 && out.nbatches > 0) {
		// Could not send them: hand the tasks straight back.
		uint64_t id = out.batches[0].lease_id;
		(void) tasq_broker_release(
		    s->broker, req->u.lease.worker_id, 1, &id, now);
	}
	tasq_broker_lease_fini(&out);
	return (rv);
}

static int
handle_fetch(tasq_service *s, tasq_service_call *call, tasq_waiter *w,
    nng_msg **replyp, bool *parked, const char **why)
{
	const tasq_req        *req = call->req;
	const tasq_submit_req *sub = &req->u.fetch.submit;
	tasq_fetch_out         out;
	tasq_rep               rep;
	int                    rv;

	rv = 0;
	if (req->u.fetch.has_submit && !call->applied) {
		rv = tasq_broker_submit(s->broker, sub, tasq_clock_mono_ms(),
		    &call->submitted.accepted, &call->submitted.duplicate,
		    why);
		call->applied = rv == 0;
	}
	// The jobs this client is done with, once (a parked fetch comes
	// back here): as CloseJob, a job already gone skipped, a journal
	// that cannot be written leaving the job to --job-ttl. After the
	// submit: its tasks reach a waiting worker first, and the frees
	// happen while it computes (W2's one-task round).
	for (size_t i = 0; !call->closed && i < req->u.fetch.nclose; i++) {
		uint64_t dropped;
		(void) tasq_broker_close_job_ack(s->broker,
		    req->u.fetch.close_jobs[2 * i],
		    req->u.fetch.close_jobs[2 * i + 1], tasq_clock_mono_ms(),
		    &dropped);
	}
	call->closed = true;
	if (rv != 0) {
		return (rv); // nothing submitted, nothing fetched
	}
	rv = tasq_broker_fetch(s->broker, req->u.fetch.job_id,
	    req->u.fetch.ack_seq, req->u.fetch.max_results,
	    tasq_clock_mono_ms(), &out,
	    maybe_wait(s, call, w, req->u.fetch.wait_ms), parked);
	if (rv != 0 || *parked) {
		return (rv);
	}
	memset(&rep, 0, sizeof(rep));
	rep.method             = TASQ_M_FETCH;
	rep.u.fetch.seq        = out.seq;
	rep.u.fetch.n          = out.n;
	rep.u.fetch.ids        = out.ids;
	rep.u.fetch.id_runs    = req->u.fetch.id_runs;
	rep.u.fetch.results    = out.results;
	rep.u.fetch.codes      = out.codes;
	rep.u.fetch.errors     = out.errors;
	rep.u.fetch.legacy     = out.legacy;
	rep.u.fetch.no_worker  = out.no_worker;
	rep.u.fetch.workers    = out.workers;
	rep.u.fetch.submitted  = out.submitted;
	rep.u.fetch.completed  = out.completed;
	rep.u.fetch.has_submit = req->u.fetch.has_submit;
	rep.u.fetch.submit     = call->submitted;
	rv                     = tasq_wire_encode_rep(&rep, replyp);
	// On failure the delivery stays unacknowledged and is sent again.
	tasq_broker_fetch_fini(&out);
	return (rv);
}

static int
handle_results(tasq_service *s, tasq_service_call *call, tasq_waiter *w,
    nng_msg **replyp, bool *parked, const char **why)
{
	const tasq_req  *req = call->req;
	tasq_results_out out;
	tasq_rep         rep;
	int              rv;

	rv = tasq_broker_results(s->broker, req->u.results.job_id,
	    req->u.results.from_index, req->u.results.max,
	    tasq_clock_mono_ms(), &out,
	    maybe_wait(s, call, w, req->u.results.wait_ms), parked, why);
	if (rv != 0 || *parked) {
		return (rv);
	}
	memset(&rep, 0, sizeof(rep));
	rep.method               = TASQ_M_RESULTS;
	rep.u.results.n          = out.n;
	rep.u.results.ids        = out.ids;
	rep.u.results.codes      = out.codes;
	rep.u.results.errors     = out.errors;
	rep.u.results.results    = out.results;
	rep.u.results.next_index = out.next_index;
	rep.u.results.has_job    = true;
	rep.u.results.job        = out.job.info;
	rv                       = tasq_wire_encode_rep(&rep, replyp);
	tasq_broker_results_fini(&out);
	return (rv);
}

int
tasq_service_handle(tasq_service *s, tasq_service_call *call, tasq_waiter *w,
    nng_msg **replyp, bool *parked, const char **why)
{
	const tasq_req *req = call->req;
	tasq_rep        rep;
	uint64_t        now = tasq_clock_mono_ms();
	int             rv  = 0;

	*parked = false;
	*why    = NULL;
	memset(&rep, 0, sizeof(rep));
	rep.method = req->method;
	switch (req->method) {
	case TASQ_M_HEALTH:
		rep.u.health.serving = !tasq_broker_journal_failed(s->broker);
		rep.u.health.version = TASQ_VERSION;
		rep.u.health.server_id      = s->server_id;
		rep.u.health.uptime_ms      = nng_clock() - s->started;
		rep.u.health.heartbeat_port = atomic_load(&s->heartbeat_port);
		rep.u.health.identity       = s->identity;
		return (tasq_wire_encode_rep(&rep, replyp));
	case TASQ_M_SUBMIT:
		rv = tasq_broker_submit(s->broker, &req->u.submit, now,
		    &rep.u.submit.accepted, &rep.u.submit.duplicate, why);
		if (rv != 0) {
			return (rv);
		}
		return (tasq_wire_encode_rep(&rep, replyp));
	case TASQ_M_LEASE:
		return (handle_lease(s, call, w, replyp, parked));
	case TASQ_M_COMPLETE:
		rv = tasq_broker_complete(s->broker, req->u.complete.worker_id,
		    req->u.complete.nresults, req->u.complete.results, now,
		    &rep.u.complete);
		if (rv != 0) {
			*why = "results not recorded (journal failing); send "
			       "them again later";
			return (rv);
		}
		return (tasq_wire_encode_rep(&rep, replyp));
	case TASQ_M_EXTEND: {
		uint64_t unknown[TASQ_WIRE_MAX_BATCHES];
		uint64_t cancelled[TASQ_WIRE_MAX_BATCHES];
		size_t   nunknown, ncancelled;
		tasq_broker_extend_cancelled(s->broker,
		    req->u.extend.worker_id, req->u.extend.n,
		    req->u.extend.lease_ids, now, unknown, &nunknown,
		    cancelled, &ncancelled, &rep.u.extend.lease_ms);
		rep.u.extend.n          = nunknown;
		rep.u.extend.unknown    = unknown;
		rep.u.extend.ncancelled = ncancelled;
		rep.u.extend.cancelled  = cancelled;
		return (tasq_wire_encode_rep(&rep, replyp));
	}
	case TASQ_M_RELEASE:
		rep.u.release.released =
		    tasq_broker_release(s->broker, req->u.release.worker_id,
		        req->u.release.n, req->u.release.lease_ids, now);
		return (tasq_wire_encode_rep(&rep, replyp));
	case TASQ_M_FETCH:
		rv = handle_fetch(s, call, w, replyp, parked, why);
		if (rv == TASQ_ENOT_FOUND && *why == NULL) {
			*why = "no such job (finished, closed or expired)";
		}
		if (rv == TASQ_ECANCELLED && *why == NULL) {
			*why = "the job was cancelled (tasq cancel): no more "
			       "results will come";
		}
		return (rv);
	case TASQ_M_CLOSE_JOB:
		rv = tasq_broker_close_job_ack(s->broker,
		    req->u.close_job.job_id, req->u.close_job.ack_seq, now,
		    &rep.u.close_job.dropped);
		if (rv != 0) {
			*why = rv == TASQ_ENOT_FOUND
			    ? "no such job"
			    : "the journal cannot be written; retry later";
			return (rv);
		}
		return (tasq_wire_encode_rep(&rep, replyp));
	case TASQ_M_STATS:
		if ((rv = tasq_broker_stats(s->broker, now, &rep)) != 0) {
			return (rv);
		}
		rep.u.stats.version   = TASQ_VERSION;
		rep.u.stats.uptime_ms = nng_clock() - s->started;
		rep.u.stats.identity  = s->identity;
		rv                    = tasq_wire_encode_rep(&rep, replyp);
		tasq_broker_stats_fini(&rep);
		return (rv);
	case TASQ_M_DEAD_LIST:
		if ((rv = tasq_broker_dead_list(s->broker,
		         req->u.dead_list.queue, req->u.dead_list.after_id,
		         req->u.dead_list.max, req->u.dead_list.payloads,
		         &rep)) != 0) {
			return (rv);
		}
		rv = tasq_wire_encode_rep(&rep, replyp);
		tasq_broker_stats_fini(&rep);
		return (rv);
	case TASQ_M_DEAD_PURGE:
		rv = tasq_broker_dead_purge(s->broker, req->u.dead_purge.ids,
		    req->u.dead_purge.n, req->u.dead_purge.all,
		    req->u.dead_purge.queue, &rep.u.dead_purge.purged);
		if (rv != 0) {
			*why = "the journal cannot be written; retry later";
			return (rv);
		}
		return (tasq_wire_encode_rep(&rep, replyp));
	case TASQ_M_JOB_LIST:
		if ((rv = tasq_broker_job_list(s->broker,
		         req->u.job_list.queue, req->u.job_list.max, now,
		         &rep)) != 0) {
			return (rv);
		}
		rv = tasq_wire_encode_rep(&rep, replyp);
		tasq_broker_stats_fini(&rep);
		return (rv);
	case TASQ_M_JOB_STATUS: {
		tasq_job_info_buf ib;
		if ((rv = tasq_broker_job_status(s->broker,
		         req->u.job_status.job_id, now, &ib, why)) != 0) {
			return (rv);
		}
		rep.u.job_status.job = ib.info;
		return (tasq_wire_encode_rep(&rep, replyp));
	}
	case TASQ_M_RESULTS:
		return (handle_results(s, call, w, replyp, parked, why));
	case TASQ_M_CANCEL: {
		tasq_job_info_buf ib;
		if ((rv = tasq_broker_cancel(s->broker, req->u.cancel.job_id,
		         now, &rep.u.cancel.dropped, &rep.u.cancel.running,
		         &ib, why)) != 0) {
			return (rv);
		}
		rep.u.cancel.has_job = true;
		rep.u.cancel.job     = ib.info;
		return (tasq_wire_encode_rep(&rep, replyp));
	}
	default:
		*why = "unknown method";
		return (TASQ_EUNIMPLEMENTED);
	}
}
