// rpc: the server's transport. A REP socket listens on the server's URL;
// a fixed set of conversations (nng contexts, one aio each) receive
// requests, verify their envelope (lib/auth.h) and sequence
// (lib/replay.h), decode them (lib/wire.h), hand them to the service and
// send the signed reply. A long-poll parks its conversation on the broker
// without holding a thread: its aio sleeps until the broker wakes it or
// its wait runs out. Pipe events return the leases of a closed
// connection at once.
//
// Lock order: conversation mutex, then broker mutex (the broker calls the
// wake callback with its mutex released).
#ifndef TASQ_RPC_H
#define TASQ_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include "auth.h"
#include "broker.h"
#include "journal.h"
#include "replay.h"
#include "service.h"
#include "stats.h"

typedef struct tasq_rpc tasq_rpc;

typedef struct tasq_rpc_conf {
	const char         *url;
	nng_tls_config     *tls;  // borrowed; NULL unless tls+tcp
	const tasq_keyring *keys; // borrowed
	size_t              max_msg_bytes;
	tasq_journal       *journal;  // NULL without --data-dir
	uint32_t            contexts; // conversations in flight
	uint32_t            max_conns;
	uint32_t            max_inflight; // requests per connection
	// Connections that have not yet sent an authenticated request: at
	// most max_unauth at once (0: max_conns), each closed auth_ms
	// after it was accepted (0: never) unless it has sent one by then.
	// nng buffers a frame whole as soon as its 8-byte length arrives
	// (up to max_msg_bytes), so such peers hold at most max_unauth x
	// max_msg_bytes of frames between them.
	uint32_t max_unauth;
	uint64_t auth_ms;
	// Where requests, refusals and connections are counted
	// (server/stats.h): borrowed, not NULL.
	tasq_stats *stats;
} tasq_rpc_conf;

// tasq_rpc_start listens and starts serving. Borrows everything in conf
// and the other arguments until tasq_rpc_free. On failure err says why.
int tasq_rpc_start(tasq_rpc **rp, const tasq_rpc_conf *conf, tasq_service *svc,
    tasq_broker *b, tasq_replay *replay, char *err, size_t errlen);

// tasq_rpc_bound_port returns the TCP port listened on (0 for ipc).
int tasq_rpc_bound_port(tasq_rpc *r);

// tasq_rpc_metrics writes the RPC layer's metrics (latency histograms per
// method, replies per status, open connections) in Prometheus text format.
void tasq_rpc_metrics(tasq_rpc *r, FILE *f);

// tasq_rpc_reap closes connections that made no progress (no complete
// request) for idle_ms and have no request in flight, and those that
// sent no authenticated request within the conf's auth_ms: nng
// never times out an idle connection or one stalled in the middle of a
// frame, whose buffer it may already have reserved. Returns how many it
// closed.
int tasq_rpc_reap(tasq_rpc *r, uint64_t idle_ms);

// tasq_rpc_local_url writes an address at which this machine reaches
// the server (the bound port, loopback for a wildcard host) into buf.
int tasq_rpc_local_url(tasq_rpc *r, char *buf, size_t len);

// tasq_rpc_receiving returns how many conversations wait for a request
// (none: every one is busy or parked, and a new request must queue).
int tasq_rpc_receiving(tasq_rpc *r);

// tasq_rpc_accepts returns how many connections the listener has handed
// to the socket so far, refused ones included: while it grows, the
// listener is accepting (the watchdog's proof of life).
uint64_t tasq_rpc_accepts(tasq_rpc *r);

// tasq_rpc_listener_events returns how many times nng's listener has
// completed an accept so far (from nng's statistics of the current
// listener; 0 when nng keeps none): a connection handed over, or one
// whose TLS handshake or SP header exchange failed (ECANCELED excepted).
// The transport runs those handshakes whether or not the listener takes
// connections, but reports a failure to the listener only while it
// waits for one: while it grows, the listener is accepting, even when
// every connection fails its handshake (mutual TLS and a peer without a
// certificate, such as the watchdog's probe). It counts from 0 again
// after tasq_rpc_relisten. It takes a snapshot of all of nng's
// statistics (every pipe's too): for the watchdog, not for a hot path.
uint64_t tasq_rpc_listener_events(tasq_rpc *r);

// tasq_rpc_full returns whether a new connection would be refused now
// (--max-connections or --max-unauthenticated reached).
bool tasq_rpc_full(tasq_rpc *r);

// tasq_rpc_relisten replaces the listener with a new one on the same
// address (the watchdog's remedy; see watchdog.h). nng 1.5.2 closes every
// connection a listener accepted when it closes the listener
// (listener_shutdown_impl in src/core/socket.c), so this drops them all:
// call it only for a listener that is really dead.
int tasq_rpc_relisten(tasq_rpc *r);

// tasq_rpc_close begins the shutdown and returns at once: new
// connections are refused, long-polls end, established connections are
// shut down at the socket level (nng then closes each from its own
// receive callback; see rpc.c for the nng 1.5.2 defect this avoids), and
// the conversations drain: what arrives from now on is read and dropped
// unanswered, as are replies still waiting for the journal (their
// callbacks stay harmless until tasq_rpc_free). Idempotent; any thread
// but an nng callback's.
void tasq_rpc_close(tasq_rpc *r);

// tasq_rpc_stop closes (if not yet done), waits up to drain_ms for the
// connections to end (over TLS, or until none has ended for half a
// second), then stops every conversation's aio (waiting for its
// callback), closes the contexts, stops taking pipe events (so nothing
// reaches the broker or the journal from here any more), and last
// closes the socket, waiting for that at most TASQ_SOCK_CLOSE_MS
// (tasq_sock_close, lib/sockclose.h). From
// then on only the journal's callbacks can touch r: close the journal
// after this and before tasq_rpc_free. Returns 0, or
// TASQ_EDEADLINE_EXCEEDED when connections were still open at drain_ms
// (closing them then risks nng's hang) or the socket did not close in
// time (then r is never freed: nng may still use it). Idempotent.
int tasq_rpc_stop(tasq_rpc *r, uint32_t drain_ms);

// tasq_rpc_free stops (without waiting for connections) if that was not
// done, and frees (unless the socket is stuck, see above). Accepts NULL.
void tasq_rpc_free(tasq_rpc *r);

// tasq_rpc_abandoned says whether a stop left a socket nng could not
// close (tasq_rpc_stop's TASQ_EDEADLINE_EXCEEDED): its threads may still
// run, so the process should end with _exit (see server/main.c).
bool tasq_rpc_abandoned(void);

// tasq_rpc_wake is the broker's wake callback for parked conversations.
void tasq_rpc_wake(tasq_waiter *w);

#endif
