// conn: what one worker process knows of its link to the server, and the
// lines it logs about it: one line per change of state (connecting,
// connected, lost, regained, refused), with the reason, never one per
// retry (those are at debug level). Worker process 0 logs connectivity
// at info level, the others at debug, so that -j N does not print N
// identical lines; refusals are errors in process 0 only, likewise.
//
// A refusal of this worker's credentials (UNAUTHENTICATED or
// PERMISSION_DENIED from the server, a reply that fails verification, a
// TLS handshake refused) is told once with what to check, then retried
// with an exponential backoff (1 s .. 60 s) shared by the process's
// threads; with exit_on_auth_failure the caller ends the process with
// TASQ_WORKER_EXIT_AUTH instead.
//
// Thread-safe: the lease threads, the dialing thread and chan's
// connection callback (an nng thread) call it at once; one mutex, held
// only to change state, never while logging.
#ifndef TASQ_CONN_H
#define TASQ_CONN_H

#include <stdbool.h>
#include <stdint.h>

typedef struct tasq_conn tasq_conn;

typedef struct tasq_conn_conf {
	const char *url;             // borrowed, like the strings below
	const char *key_file;        // NULL: the key came from TASQ_KEY
	const char *tls_ca;          // for tls+tcp:// messages
	const char *tls_server_name; // NULL: the URL's host
	bool        quiet;           // not process 0: info and errors at debug
	bool        exit_on_auth_failure;
	// Optional: where the lines go (a line of text, no newline, with a
	// TASQ_LOG_* level); NULL: lib/log.h.
	void (*log)(void *arg, int level, const char *line);
	void *log_arg;
} tasq_conn_conf;

// tasq_conn_alloc returns a new conn in *cp (free with tasq_conn_free):
// 0 or NNG_ENOMEM. cc's strings are borrowed.
int  tasq_conn_alloc(tasq_conn **cp, const tasq_conn_conf *cc);
void tasq_conn_free(tasq_conn *c);

// tasq_conn_dial_failed records that tasq_chan_open failed (rv, err) and
// sets *wait_ms, the pause before the next attempt. Returns true when the
// process should end with TASQ_WORKER_EXIT_AUTH (a TLS refusal with
// exit_on_auth_failure, in the first process only: see worker_conn.c).
bool tasq_conn_dial_failed(
    tasq_conn *c, int rv, const char *err, uint32_t *wait_ms);

// tasq_conn_pipe_cb is tasq_chan_opts.conn_cb (arg: the conn): a
// connection came up or went down. The last one going down while
// connected is "lost the server".
void tasq_conn_pipe_cb(void *arg, bool up);

// tasq_conn_call_ok records a verified reply from the server whose id is
// server_id (tasq_chan_server_id): connected, or regained.
void tasq_conn_call_ok(tasq_conn *c, uint64_t server_id);

// tasq_conn_call_failed records a failed call (rv and err from
// tasq_chan_call). Returns true when the process should end with
// TASQ_WORKER_EXIT_AUTH (a refusal with exit_on_auth_failure, in the
// first process only: the others are quiet and would exit unheard).
// With exit_on_auth_failure, another thread's refusal returns only once
// the telling call's line is out (within 2 s), so that its caller may end
// the process too.
bool tasq_conn_call_failed(tasq_conn *c, int rv, const char *err);

// tasq_conn_wait_ms returns how long a thread should wait before its
// next call: while refused, until the backoff's next attempt, which one
// thread at a time makes (the one that is told 0 first); else 0.
uint32_t tasq_conn_wait_ms(tasq_conn *c);

// tasq_conn_linked says whether the last connection event was one coming
// up (true before any): false while the server is gone, so that calls
// that would only time out need not be made.
bool tasq_conn_linked(tasq_conn *c);

// tasq_conn_set_exit changes cc's exit_on_auth_failure (before use).
void tasq_conn_set_exit(tasq_conn *c, bool exit_on_auth_failure);

// tasq_conn_close: the process is closing its chan; connections going
// down from now on are not reported.
void tasq_conn_close(tasq_conn *c);

#endif
