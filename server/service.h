// service: the handlers of tasq.v1.Queue's methods. Each takes a decoded,
// authenticated request, acts on the broker and encodes the reply. The
// RPC layer (rpc.c) owns the transport; this module owns the semantics.
// Thread-safe: handlers run concurrently on nng's threads.
#ifndef TASQ_SERVICE_H
#define TASQ_SERVICE_H

#include <stdbool.h>
#include <stdint.h>

#include <nng/nng.h>

#include "broker.h"
#include "wire.h"

typedef struct tasq_service tasq_service;

typedef struct tasq_service_conf {
	uint32_t max_wait_ms; // longest long-poll
} tasq_service_conf;

// Per-call state that survives a long-poll: results piggy-backed on a
// Lease, or tasks on a Fetch, are applied once, before the first attempt.
typedef struct tasq_service_call {
	const tasq_req   *req;
	uint32_t          pipe_id;
	uint32_t          deadline_ms; // from the envelope, 0 = none
	bool              applied;
	bool              closed;     // a Fetch's close_jobs are done
	tasq_complete_rep completed;  // of a Lease's results
	tasq_submit_rep   submitted;  // of a Fetch's submit
	uint64_t          park_until; // nng_clock() ms; set on first park
} tasq_service_call;

int tasq_service_alloc(
    tasq_service **sp, tasq_broker *b, const tasq_service_conf *conf);
void tasq_service_free(tasq_service *s);

uint64_t tasq_service_server_id(const tasq_service *s);

// tasq_service_set_identity sets HealthReply.identity and
// StatsReply.identity (identity.h). Call before serving: not
// synchronised.
void tasq_service_set_identity(tasq_service *s, uint64_t identity);

// tasq_service_set_heartbeat_port sets HealthReply.heartbeat_port (0:
// none). Thread-safe (server/server.c sets it once the port listens).
void tasq_service_set_heartbeat_port(tasq_service *s, uint32_t port);

// tasq_service_handle runs call. On 0 either *replyp is a new reply body
// message (see wire.h) or, when w was not NULL and there is nothing to
// return yet, *parked is true and w is parked until call->park_until.
// Otherwise returns a TASQ_E* status with *why.
int tasq_service_handle(tasq_service *s, tasq_service_call *call,
    tasq_waiter *w, nng_msg **replyp, bool *parked, const char **why);

#endif
