// server: tasq-server's parts and their lifecycle, as one object. It
// owns the counters' registry (server/stats.h, which it hands to the
// broker, the RPC layer, the heartbeat port and the watchdog), the
// broker, the service, the replay table, the journal (with
// --data-dir), the RPC layer, the metrics endpoint, the watchdog and the
// timer thread (lease and job expiry, idle connections, compaction,
// replay-table pruning), and starts and stops them in order:
//
//	tasq_server_alloc   recover the journal, build the state
//	tasq_server_start   listen, ready file, metrics, watchdog, timer
//	tasq_server_close   stop accepting and serving; returns at once
//	tasq_server_stop    wait for everything started to end, the socket
//	                    last of the network, then flush and close the
//	                    journal
//	tasq_server_free
//
// The caller bounds the shutdown (tasq_server_stop can only be as quick
// as nng's close): see server/main.c and tasq-server(8), SIGNALS.
#ifndef TASQ_SERVER_H
#define TASQ_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker.h"
#include "heartbeat.h"
#include "journal.h"
#include "rpc.h"
#include "service.h"

typedef struct tasq_server tasq_server;

typedef struct tasq_server_conf {
	tasq_broker_conf  broker;
	tasq_service_conf service;
	tasq_rpc_conf     rpc; // its journal is filled in by the server
	uint64_t          skew_ms;
	// --data-dir: NULL keeps nothing across restarts.
	const char     *data_dir;
	tasq_fsync_mode fsync;
	const char     *fsync_name; // for the log
	uint32_t        fsync_interval_ms;
	uint64_t        compact_bytes;
	bool            recover_truncate;
	uint32_t        watchdog_ms; // 0: no watchdog
	uint64_t        idle_ms;
	const char     *metrics_listen;   // NULL: no metrics endpoint
	const char     *heartbeat_listen; // NULL: no heartbeat port
	bool heartbeat_derived; // the default: warn, not fail, if it is taken
	const char *ready_file; // NULL: none
	// --peers: the cluster the dashboard shows (server/peers.h), with
	// metrics_listen only; NULL: this server alone.
	const struct tasq_peers_conf *peers;
} tasq_server_conf;

// How long tasq_server_stop gives established connections to end before
// it closes the socket regardless (see tasq_rpc_stop).
#define TASQ_SERVER_DRAIN_MS 3000

// tasq_server_alloc builds the server's state: with a data directory it
// opens (and locks) it, replays the journal and starts its writer.
// Borrows conf's strings, keys and TLS configuration until
// tasq_server_free. On failure err says why (start-up code).
int tasq_server_alloc(
    tasq_server **sp, const tasq_server_conf *conf, char *err, size_t errlen);

// tasq_server_start listens, writes the ready file and starts the
// metrics endpoint, the watchdog and the timer. On failure err says why;
// then close, stop and free as usual.
int tasq_server_start(tasq_server *s, char *err, size_t errlen);

// tasq_server_close ends serving and returns without waiting: the timer
// stops, the watchdog is told to stop, and the RPC layer refuses new
// connections, ends the established ones and drops what is still
// arriving (see tasq_rpc_close). Idempotent. Call it from one thread (the
// one handling signals), never from an nng callback.
void tasq_server_close(tasq_server *s);

// tasq_server_stop closes if needed, then waits for every thread and aio
// it started: the timer, the watchdog, the metrics endpoint, the RPC
// layer (its aios, then its contexts, then its socket: tasq_rpc_stop),
// and only then flushes, syncs and closes the journal, when nothing can
// append to it any more. Returns 0, or an error when connections had to
// be cut (TASQ_EDEADLINE_EXCEEDED). Idempotent.
int tasq_server_stop(tasq_server *s);

// tasq_server_free stops if needed and frees. Accepts NULL.
void tasq_server_free(tasq_server *s);

#endif
