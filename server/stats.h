// stats: the server's counters, one registry owned by the server
// (server/server.c) and shared by the parts that count events:
//
//   broker (server/broker*.c)     tasks, results, leases, jobs and dead
//                                 letters, and the limits it refuses
//                                 work for (requests_resource_exhausted)
//   RPC layer (server/rpc.c)      requests, envelopes (auth_*,
//                                 messages_malformed), decoding and the
//                                 connections of the RPC port
//   watchdog (server/watchdog.c)  listener_restarts
//   heartbeat (server/heartbeat.c) heartbeats_*, and the refusals of the
//                                 heartbeat port under the causes above
//
// Each part counts only its own events. The Stats RPC reply and
// /metrics list every counter, in the order of TASQ_COUNTER_MAP, with
// its name and help text from here (tasq_broker_stats takes the snapshot,
// with the broker's lock held, so that the counters the broker
// increments under that lock agree with its queues' totals).
//
// Threads: every counter is an atomic; tasq_stats_add and the readers
// may run on any thread at once, with or without any other lock held
// (the registry has no lock of its own, so it takes part in no lock
// order).
#ifndef TASQ_STATS_H
#define TASQ_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

// Counters: id, name (Stats RPC; Prometheus tasq_<name>, with _total
// added unless the name has it), and what they count. The order is the
// order of the Stats reply and of /metrics: append new counters at the
// end of their group, never reorder or rename one.
#define TASQ_COUNTER_MAP(X)                                                   \
	X(SUBMITTED, "tasks_submitted", "Tasks newly enqueued.")              \
	X(LEASED, "tasks_leased",                                             \
	    "Tasks handed to workers, redeliveries "                          \
	    "included.")                                                      \
	X(COMPLETED, "tasks_completed",                                       \
	    "Tasks given their first result, errors and dead letters "        \
	    "included.")                                                      \
	X(FAILED, "tasks_failed",                                             \
	    "Tasks completed with an error code, dead letters included.")     \
	X(REDELIVERED, "tasks_redelivered",                                   \
	    "Tasks made ready again after a lease expired, was released or "  \
	    "lost its connection.")                                           \
	X(DEAD_LETTERED, "tasks_dead_lettered",                               \
	    "Tasks given up after their job's last attempt.")                 \
	X(DEAD_DROPPED, "dead_letters_dropped",                               \
	    "Dead letters forgotten past --max-dead (the oldest first).")     \
	X(RETRIED, "tasks_retried",                                           \
	    "Failed results set aside for a retry of their task.")            \
	X(DUPLICATE_RESULTS, "results_duplicate",                             \
	    "Results for tasks that already had one (dropped).")              \
	X(LATE_RESULTS, "results_late",                                       \
	    "Results accepted from an expired or released lease.")            \
	X(REJECTED_RESULTS, "results_rejected",                               \
	    "Results for unknown jobs or ids outside them.")                  \
	X(DUPLICATE_SUBMITS, "submits_duplicate",                             \
	    "Batches submitted again (a retry), accepted as no-ops.")         \
	X(LEASES_EXPIRED, "leases_expired",                                   \
	    "Leases that ran out before their results came.")                 \
	X(LEASES_DISCONNECTED, "leases_disconnected",                         \
	    "Leases returned because their connection closed.")               \
	X(JOBS_EXPIRED, "jobs_expired",                                       \
	    "Jobs dropped after --job-ttl without activity.")                 \
	X(RESOURCE_EXHAUSTED, "requests_resource_exhausted",                  \
	    "Requests refused for a server limit (RESOURCE_EXHAUSTED).")      \
	X(REQUESTS, "requests_total", "Requests received.")                   \
	X(BAD_REQUESTS, "requests_invalid",                                   \
	    "Requests refused as INVALID_ARGUMENT after decoding.")           \
	X(UNKNOWN_METHOD, "requests_unknown_method",                          \
	    "Requests for a method the server does not know.")                \
	X(AUTH_FAILURES, "auth_failures",                                     \
	    "Messages whose tag did not verify (wrong key?).")                \
	X(REPLAYS, "auth_replays",                                            \
	    "Messages refused as replayed, too old or out of the clock "      \
	    "window.")                                                        \
	X(MALFORMED, "messages_malformed",                                    \
	    "Messages that are not a tasq "                                   \
	    "envelope.")                                                      \
	X(CONNECTIONS, "connections_accepted", "Connections accepted.")       \
	X(DISCONNECTIONS, "connections_closed", "Connections closed.")        \
	X(LISTENER_RESTARTS, "listener_restarts",                             \
	    "Listeners replaced by the watchdog.")                            \
	X(IDLE_CLOSED, "connections_idle_closed",                             \
	    "Connections closed after --idle-timeout without progress.")      \
	X(REFUSED, "connections_refused",                                     \
	    "Connections refused at --max-connections.")                      \
	X(UNAUTH_REFUSED, "connections_refused_unauthenticated",              \
	    "Connections refused at --max-unauthenticated.")                  \
	X(AUTH_TIMEOUT, "connections_auth_timeout",                           \
	    "Connections closed for sending no authenticated request within " \
	    "--auth-timeout.")                                                \
	X(HEARTBEATS_RECEIVED, "heartbeats_received",                         \
	    "Heartbeats (Extend on the heartbeat port) accepted.")            \
	X(HEARTBEATS_REFUSED, "heartbeats_refused",                           \
	    "Messages on the heartbeat port refused (also counted by "        \
	    "cause).")

enum tasq_counter_id {
#define TASQ_CTR_ENUM(id, name, help) TASQ_CTR_##id,
	TASQ_COUNTER_MAP(TASQ_CTR_ENUM)
#undef TASQ_CTR_ENUM
	    TASQ_CTR_COUNT
};

typedef struct tasq_stats tasq_stats;

// tasq_stats_alloc returns a new registry with every counter at 0 (free
// with tasq_stats_free). Errors: NNG_ENOMEM.
int tasq_stats_alloc(tasq_stats **sp);

// tasq_stats_free frees s. Nothing may count into it any more. Accepts
// NULL.
void tasq_stats_free(tasq_stats *s);

// tasq_stats_add adds n to counter (a TASQ_CTR_* below TASQ_CTR_COUNT).
void tasq_stats_add(tasq_stats *s, int counter, uint64_t n);

// tasq_stats_get returns counter's value.
uint64_t tasq_stats_get(const tasq_stats *s, int counter);

// tasq_stats_name and tasq_stats_help return counter's name and what it
// counts (one sentence), static strings; NULL for an id out of range.
const char *tasq_stats_name(int counter);
const char *tasq_stats_help(int counter);

// tasq_stats_snapshot fills out[0, TASQ_CTR_COUNT) (room for that many,
// the caller's) with every counter's name (static) and value, in the
// order of TASQ_COUNTER_MAP, and returns TASQ_CTR_COUNT. Each value is
// read atomically; the set is as consistent as the caller makes it (see
// tasq_broker_stats).
size_t tasq_stats_snapshot(const tasq_stats *s, tasq_counter *out);

#endif
