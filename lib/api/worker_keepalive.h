// keepalive: a worker process's lease heartbeats. While handlers run, the
// leases in hand are renewed by signed Extend requests pushed to the
// server's heartbeat port (an nng PUSH socket: no reply, and a lost
// heartbeat is harmless because several go out per lease), from a
// sender id of their own so that their sequence numbers never interleave
// with the RPC's. Without a heartbeat channel (the server has none,
// --heartbeat none, no connection yet, or a send the socket does not
// take) a beat is the Extend RPC over the worker's channel instead, as
// before the heartbeat port existed. docs/PROTOCOL.md, "Heartbeat
// channel".
//
// The port is learned from the Health reply (heartbeat_port) and dialled
// on the host of the server's URL; it is learned again when the server's
// id changes (a restarted server may listen elsewhere), and every 30 s
// while the server names none (it sets the port just after its RPC port
// starts serving). --heartbeat URL overrides it.
//
// Test hook: the environment variable TASQ_TEST_HB_DROP=N (N >= 2) drops
// one heartbeat in N after it is signed, as a lossy network would
// (tests/integration/heartbeat_drop.sh). Never set outside tests.
//
// Not thread-safe: one thread (the worker's main thread) calls it all.
#ifndef TASQ_KEEPALIVE_H
#define TASQ_KEEPALIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "chan.h"

typedef struct tasq_keepalive tasq_keepalive;

typedef struct tasq_keepalive_conf {
	const char         *server;    // the server's RPC URL
	const char         *heartbeat; // NULL: ask Health; "none"; or a URL
	const tasq_keyring *keys;      // borrowed
	const char         *tls_ca;    // as for the RPC channel
	const char         *tls_server_name;
	const char         *tls_cert;
	const char         *tls_key;
	tasq_chan          *chan; // borrowed: stamps, Health, Extend RPC
	uint64_t            worker_id;
	uint32_t            timeout_ms; // of a Health or Extend call
} tasq_keepalive_conf;

// tasq_keepalive_url writes the heartbeat address of server (its scheme
// and host) with port into buf. Errors: TASQ_EINVALID_ARGUMENT (an
// ipc:// server, no host, buf too small).
int tasq_keepalive_url(
    const char *server, uint32_t port, char *buf, size_t len);

// tasq_keepalive_open makes the heartbeat state and tries a first Health
// call to find the port (a failure there only leaves the RPC in use
// until a later beat finds it). Borrows conf's pointers until close.
// Errors: NNG_ENOMEM, TASQ_EINVALID_ARGUMENT (a --heartbeat URL nng
// refuses, with err saying why).
int tasq_keepalive_open(tasq_keepalive **kp, const tasq_keepalive_conf *conf,
    char *err, size_t errlen);

// tasq_keepalive_period_ms is how often to beat for leases of lease_ms:
// a quarter of it over the heartbeat channel (two lost in a row still
// leave one in time), a third over the RPC.
uint32_t tasq_keepalive_period_ms(tasq_keepalive *k, uint32_t lease_ms);

// tasq_keepalive_beat renews the n leases ids (n <= TASQ_KEEPALIVE_MAX_IDS,
// more are cut): a heartbeat when the channel takes it, else the Extend
// RPC (which may block up to timeout_ms). Returns true when it went as a
// heartbeat.
#define TASQ_KEEPALIVE_MAX_IDS 256
bool tasq_keepalive_beat(tasq_keepalive *k, const uint64_t *ids, size_t n);

// tasq_keepalive_beat_ask is tasq_keepalive_beat that can hear of a
// cancel (docs/PROTOCOL.md 9.15): with ask the Extend RPC is made as
// well as the heartbeat (it renews the leases too; the heartbeat still
// goes, so that the channel's counters and the server's view stay what
// they are), and whenever an Extend RPC was made the reply's
// cancelled lease ids are copied to cancelled (room for n) and counted
// in *ncancelled (0 without a reply). A worker asks while it has held a
// lease for longer than half a beat period, so that short batches never
// cost a round trip.
bool tasq_keepalive_beat_ask(tasq_keepalive *k, const uint64_t *ids, size_t n,
    bool ask, uint64_t *cancelled, size_t *ncancelled);

// tasq_keepalive_close closes the socket and frees. Accepts NULL.
void tasq_keepalive_close(tasq_keepalive *k);

#endif
