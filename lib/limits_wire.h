// limits_wire: the protocol's limits (docs/PROTOCOL.md), in a header of
// their own so that code that only applies them (the worker's handlers)
// does not see the wire's types and calls (wire.h includes this).
#ifndef TASQ_LIMITS_WIRE_H
#define TASQ_LIMITS_WIRE_H

#include <stddef.h>

#define TASQ_WIRE_MAX_NAME 64       // queue, worker and type names, bytes
#define TASQ_WIRE_MAX_BATCHES 1024  // result batches in one request
#define TASQ_WIRE_MAX_IDS 1048576   // ids in one request (all batches)
#define TASQ_WIRE_MAX_TEXT 1024     // a Status message or task error, bytes
#define TASQ_WIRE_MAX_ROWS 65536    // queues, workers, types in a StatsReply
#define TASQ_WIRE_MAX_COUNTERS 1024 // counters in one StatsReply
#define TASQ_WIRE_MAX_DEAD 65536    // dead letters in a Stats or DeadList
#define TASQ_WIRE_MAX_TYPES 64      // task types in one LeaseRequest
#define TASQ_WIRE_MAX_HOST 255      // SubmitRequest.host, bytes
#define TASQ_WIRE_MAX_QUEUES 16     // queues in one LeaseRequest
#define TASQ_WIRE_MAX_PRIORITY 100  // a job's priority, a queue's weight
#define TASQ_PRIORITY_DEFAULT 10    // a job's priority when it gives none
#define TASQ_WIRE_MAX_CANCELLED 64  // LeaseReply.cancelled lease ids
#define TASQ_WIRE_MAX_CLOSES 64     // FetchRequest.close_jobs pairs
#define TASQ_WIRE_MAX_PAYLOAD ((size_t) 1 << 20) // one task's payload/result

#endif
