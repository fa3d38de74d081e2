// serve: one worker process over libtasq's worker side (include/tasq/
// worker.h): a serve handle dialed to the server, `pipeline` threads that
// each lease a batch (tasq_serve_lease), run it through the handler of
// its type (handler.h) and hand the results back with their next lease
// (tasq_lease_done), so that the network and the computation overlap.
// The library keeps the leases alive (heartbeats, Extend), tells the
// link's changes (logged here, at debug level in processes other than
// the first) and stops a running handler when its job is cancelled
// (tasq_serve_set_cancel_fn). When *stop becomes non-zero it drains:
// results of finished tasks are sent, unfinished ones are released to
// the server, then it returns. Nothing here talks to the wire.
#ifndef TASQ_SERVE_H
#define TASQ_SERVE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct tasq_worker_conf {
	const char *server;
	const char *queue;
	const char *key_env;   // TASQ_KEY, used without key_file
	const char *log_level; // re-applied after the library's
	const char *log_format;
	const char *tls_ca;
	const char *tls_server_name;
	const char *tls_cert;
	const char *tls_key;
	uint32_t    batch;         // tasks per lease
	uint32_t    pipeline;      // leases in flight
	uint32_t    wait_ms;       // long-poll
	uint32_t    timeout_ms;    // per call
	uint32_t    task_delay_ms; // testing: time per task
	uint32_t    slot;          // index among the supervisor's workers
	size_t      max_msg_bytes;
	size_t      max_req_bytes; // results per request: under it
	const char *tls_engine;
	const char *tls_min;
	const char *tls_max;
	// Task types served and their handlers (handler.h): ntypes pairs.
	size_t             ntypes;
	const char *const *types;
	const char *const *handlers;
	uint32_t           task_timeout_ms; // 0: none (--task-timeout)
	// After SIGTERM to the exec children of a cancelled job, how long
	// before SIGKILL (--cancel-grace; 0: TASQ_CANCEL_GRACE_MS).
	uint32_t    cancel_grace_ms;
	uint32_t    each_parallel; // exec-each children at once
	const char *heartbeat;     // --heartbeat (tasq_serve_set_heartbeat)
	uint64_t    resolve_ms;    // --resolve-interval (0: the session's)
	const char *key_file;      // NULL: the key is key_env
	bool exit_on_auth_failure; // exit TASQ_WORKER_EXIT_AUTH if refused
	// The queues served, by weight (--queue a:3,b:1; one: queue).
	size_t             nqueues;
	const char *const *queue_names;
	const uint32_t    *queue_weights;
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
