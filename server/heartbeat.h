// heartbeat: the server's end of the lease heartbeat channel. A PULL
// socket (nng pipeline) listens on --heartbeat-listen; workers PUSH
// signed Extend requests to it while their handlers run, and nothing is
// ever sent back. Each message is checked like a request on the RPC port
// (lib/auth.h tag and key id, lib/replay.h sequence window and clock
// skew, lib/wire.h decode) and must be method Extend; then the leases it
// names are renewed (tasq_broker_extend). A message that fails a check is
// counted (heartbeats_refused, plus auth_failures, auth_replays,
// messages_malformed or requests_invalid) and dropped; a valid one is
// counted in heartbeats_received, in the server's registry (conf.stats,
// server/stats.h). A lost heartbeat is harmless: a worker beats several
// times per lease (docs/PROTOCOL.md, "Heartbeat channel").
//
// One aio receives, one message at a time, and handles each in its
// callback (the checks and the broker call are short and never block on
// a peer). Lifecycle: start, close (refuse new connections, stop
// receiving), stop (wait for the callback, close the socket, bounded),
// free. Lock order: none of its own is held across a broker call.
#ifndef TASQ_HEARTBEAT_H
#define TASQ_HEARTBEAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include "auth.h"
#include "broker.h"
#include "replay.h"
#include "stats.h"
#include "wire.h"

// The largest heartbeat accepted (the socket's NNG_OPT_RECVMAXSZ): an
// envelope around an ExtendRequest of a few hundred lease ids. Workers
// send at most TASQ_HEARTBEAT_MAX_IDS.
#define TASQ_HEARTBEAT_MAX_BYTES 8192
#define TASQ_HEARTBEAT_MAX_IDS 256
// Messages nng may hold for the receive loop (NNG_OPT_RECVBUF).
#define TASQ_HEARTBEAT_RECVBUF 16

typedef struct tasq_heartbeat tasq_heartbeat;

typedef struct tasq_heartbeat_conf {
	const char         *url;       // where to listen (not NULL)
	nng_tls_config     *tls;       // borrowed; NULL unless tls+tcp
	const tasq_keyring *keys;      // borrowed
	tasq_stats         *stats;     // borrowed, not NULL: the counters
	uint32_t            max_conns; // open connections (0: 1024)
} tasq_heartbeat_conf;

// tasq_heartbeat_default_url writes the heartbeat address that goes with
// the RPC address listen into buf (len bytes): the same scheme and host
// with the port plus one (port 0 stays 0: any free port), or for ipc://
// the path with ".hb" appended. Errors: TASQ_EINVALID_ARGUMENT (no port
// to derive from, port 65535, or buf too small).
int tasq_heartbeat_default_url(const char *listen, char *buf, size_t len);

// tasq_heartbeat_check verifies one heartbeat message (buf, len bytes)
// and decodes it into req (method TASQ_M_EXTEND; release with
// tasq_wire_req_fini) and returns 0. Otherwise returns the refusal and
// sets *counter to the TASQ_CTR_* it belongs to and *why to a static
// reason: TASQ_EINVALID_ARGUMENT (not an envelope: TASQ_CTR_MALFORMED;
// not a request, not Extend, or a body that does not decode:
// TASQ_CTR_BAD_REQUESTS), TASQ_EUNAUTHENTICATED (tag or key:
// TASQ_CTR_AUTH_FAILURES; replayed or out of the clock window:
// TASQ_CTR_REPLAYS), TASQ_ERESOURCE_EXHAUSTED (sender table full, or the
// decoder's budget: TASQ_CTR_RESOURCE_EXHAUSTED). now_ms is on the stamp
// clock (tasq_clock_stamp_ms). The replay table is only consulted once
// the tag verified. Thread-safe as its arguments are.
int tasq_heartbeat_check(const tasq_keyring *keys, tasq_replay *replay,
    const uint8_t *buf, size_t len, uint64_t now_ms, tasq_req *req,
    int *counter, const char **why);

// tasq_heartbeat_start listens on conf->url and starts receiving.
// Borrows conf's pointers, b and replay until tasq_heartbeat_free. On
// failure err says why and nothing is left running.
int tasq_heartbeat_start(tasq_heartbeat **hp, const tasq_heartbeat_conf *conf,
    tasq_broker *b, tasq_replay *replay, char *err, size_t errlen);

// tasq_heartbeat_bound_port returns the TCP port listened on (0 for ipc
// or NULL).
uint32_t tasq_heartbeat_bound_port(tasq_heartbeat *h);

// tasq_heartbeat_url returns the address listened on, with the bound
// port in place of port 0 (for the log and tests). Borrowed from h.
const char *tasq_heartbeat_url(tasq_heartbeat *h);

// tasq_heartbeat_close stops taking heartbeats and returns at once: new
// connections are refused and what arrives is dropped. Idempotent;
// accepts NULL; not from an nng callback.
void tasq_heartbeat_close(tasq_heartbeat *h);

// tasq_heartbeat_stop closes, ends the connections from below and waits
// for them (at most TASQ_HEARTBEAT_CLOSE_MS), waits for the receive
// callback, and closes the socket, waiting at most TASQ_SOCK_CLOSE_MS
// (tasq_sock_close: nng 1.5.2 can hang in nng_close; see
// lib/sockclose.h): then h is left allocated for the stuck thread and
// TASQ_EDEADLINE_EXCEEDED returned. After it, nothing
// reaches the broker from here. Idempotent; accepts NULL.
#define TASQ_HEARTBEAT_CLOSE_MS 2000
int tasq_heartbeat_stop(tasq_heartbeat *h);

// tasq_heartbeat_free stops if needed and frees. Accepts NULL.
void tasq_heartbeat_free(tasq_heartbeat *h);

// tasq_heartbeat_abandoned says whether a stop left a socket nng could
// not close (as tasq_rpc_abandoned).
bool tasq_heartbeat_abandoned(void);

#endif
