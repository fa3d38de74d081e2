// watchdog: guards against nng 1.5.2's listener bug (upstream issue 1518:
// a peer that drops its connection during the SP handshake can leave a
// listener that no longer accepts). Every interval it opens a new
// connection to the server's own address and makes an authenticated
// Health call; after two failures in a row it has the RPC layer replace
// its listener and counts it (listener_restarts), but only when the
// listener is really dead. It does not probe at all while the server is
// full (tasq_rpc_full: the probe would only be refused, taking a slot a
// peer could use); a listener that dies then is found at the first probe
// after the server has room again. Otherwise it replaces the listener
// only when:
// - no connection at all was handed to the socket during the two probes
//   (tasq_rpc_accepts did not move). A listener that accepts and then
//   refuses (--max-connections, --max-unauthenticated: the probe
//   competes with everyone else for those) is alive, and so is one whose
//   connections wait for a free conversation;
// - over TLS, nng's listener counted no connection and no failed one
//   either (tasq_rpc_listener_events did not move). With --tls-client-ca
//   a live listener refuses the probe at its TLS handshake too (the probe
//   has no client certificate: the server's own is for serving). nng's
//   TLS transport runs handshakes even for a listener that no longer
//   takes connections (bug 1518 stops the listener, not the transport),
//   so the refusal alone would prove nothing; but the transport reports
//   a failed handshake to the listener only while the listener waits for
//   a connection, and nng counts it then. The second probe comes 300 ms
//   after the first, past the 100 ms pause nng's listener makes after
//   most failed connections, in which a refusal is not counted. A failure
//   that stops the listener (ECLOSED) is counted like the others, so such
//   a listener may be taken for alive once, and is replaced a cycle later;
// - some conversation was free to answer;
// - the process is not out of file descriptors (then no listener could
//   accept).
// The trade-off: nng 1.5.2 closes every connection a listener accepted
// when it closes that listener (listener_shutdown_impl), and the new
// listener cannot be opened before the old one is closed (it takes the
// same address). So a replacement drops the established connections too:
// their peers reconnect at once and their leases go back to the queue
// (leases_disconnected). That is the price of recovering from a dead
// listener, paid only when it is dead: never for a full or busy server.
#ifndef TASQ_WATCHDOG_H
#define TASQ_WATCHDOG_H

#include <stdint.h>

#include "auth.h"
#include "rpc.h"
#include "stats.h"

typedef struct tasq_watchdog tasq_watchdog;

// tasq_watchdog_start probes url (the server's address as a client
// reaches it, e.g. with the bound port) every interval_ms, and counts
// the listeners it replaces in stats. Borrows keys, rpc and stats until
// tasq_watchdog_stop.
int tasq_watchdog_start(tasq_watchdog **wp, const char *url,
    const tasq_keyring *keys, tasq_rpc *rpc, tasq_stats *stats,
    uint32_t interval_ms);

// tasq_watchdog_stop stops and frees it. Accepts NULL.
void tasq_watchdog_stop(tasq_watchdog *w);

#endif
