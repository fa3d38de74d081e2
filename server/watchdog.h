// watchdog: guards against nng 1.5.2's listener bug (upstream issue 1518:
// a peer that drops its connection during the SP handshake can leave a
// listener that no longer accepts). Every interval it opens a new
// connection to the server's own address and makes an authenticated
// Health call; after two failures in a row it has the RPC layer replace
// its listener (established connections are not touched) and counts it.
#ifndef TASQ_WATCHDOG_H
#define TASQ_WATCHDOG_H

#include <stdint.h>

#include "auth.h"
#include "rpc.h"

typedef struct tasq_watchdog tasq_watchdog;

// tasq_watchdog_start probes url (the server's address as a client
// reaches it, e.g. with the bound port) every interval_ms. Borrows keys,
// rpc and b until tasq_watchdog_stop.
int tasq_watchdog_start(tasq_watchdog **wp, const char *url,
    const tasq_keyring *keys, tasq_rpc *rpc, tasq_broker *b,
    uint32_t interval_ms);

// tasq_watchdog_stop stops and frees it. Accepts NULL.
void tasq_watchdog_stop(tasq_watchdog *w);

#endif
