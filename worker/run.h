// run: one worker process. It leases batches of the types it serves from
// the server, runs each through the handler of its type (handler.h) and
// hands the results in with its next lease request (one round
// trip per batch), on `pipeline` threads so that the network and the
// computation overlap. A heartbeat thread extends leases of slow batches.
// When *stop becomes non-zero it drains: results of finished tasks are
// sent, unfinished ones are released to the server, then it returns.
#ifndef TASQ_RUN_H
#define TASQ_RUN_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "auth.h"
#include "wire.h"

typedef struct tasq_worker_conf {
	const char         *server;
	const char         *queue;
	const tasq_keyring *keys;
	const char         *tls_ca;
	const char         *tls_server_name;
	const char         *tls_cert;
	const char         *tls_key;
	uint32_t            batch;         // tasks per lease
	uint32_t            pipeline;      // leases in flight
	uint32_t            wait_ms;       // long-poll
	uint32_t            timeout_ms;    // per call
	uint32_t            task_delay_ms; // testing: time per task
	uint32_t            slot; // index among the supervisor's workers
	size_t              max_msg_bytes;
	size_t              max_req_bytes; // results per request: under it
	const char         *tls_engine;
	const char         *tls_min;
	const char         *tls_max;
	// Task types served and their handlers (handler.h): ntypes pairs.
	size_t             ntypes;
	const char *const *types;
	const char *const *handlers;
	uint32_t           task_timeout_ms; // 0: none (--task-timeout)
	// After SIGTERM to the exec children of a cancelled job, how long
	// before SIGKILL (--cancel-grace; 0: TASQ_CANCEL_GRACE_MS).
	uint32_t    cancel_grace_ms;
	uint32_t    each_parallel; // exec-each children at once
	const char *heartbeat;     // --heartbeat (worker/keepalive.h)
	const char *key_file;      // for messages; NULL: TASQ_KEY
	bool exit_on_auth_failure; // exit TASQ_WORKER_EXIT_AUTH if refused
	// Several queues served by weight (--queue a:3,b:1): nqueues 0,
	// queue alone; else queue is the first of them.
	size_t                   nqueues;
	const tasq_queue_weight *queues;
} tasq_worker_conf;

// The exit status of a worker process whose handlers cannot be set up
// (bad plugin, ...): the supervisor stops instead of restarting it.
#define TASQ_WORKER_EXIT_CONFIG 2
// The exit status of a worker process that ended itself because a
// builtin or plugin handler ran past --task-timeout: restarted.
#define TASQ_WORKER_EXIT_TIMEOUT 3
// The exit status of a worker process that the server refused (a wrong
// key, a TLS certificate not trusted) with --exit-on-auth-failure: the
// supervisor stops the others and exits with it too.
#define TASQ_WORKER_EXIT_AUTH 4

// tasq_worker_run returns 0 after a drain, 1 on a fatal error,
// TASQ_WORKER_EXIT_CONFIG when a handler cannot be opened,
// TASQ_WORKER_EXIT_AUTH (conf->exit_on_auth_failure) when the server
// refuses the worker (a lease thread then ends the process with it).
int tasq_worker_run(const tasq_worker_conf *conf, volatile sig_atomic_t *stop);

#endif
