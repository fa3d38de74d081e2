// conn_end: ending a socket's established connections from below, for
// closes under nng 1.5.2 (see server/rpc.c, "Shutdown", lib/chan.c, and
// docs/ARCHITECTURE.md): shutdown(2) of the receiving half of each
// connection makes its outstanding read fail, and nng then closes the
// pipe from its own receive callback, which has no window for nng's
// close hang (upstream issue 1813).
#ifndef TASQ_CONN_END_H
#define TASQ_CONN_END_H

#include <nng/nng.h>

// tasq_conn_end shuts down the receiving half of every connected socket
// of this process whose local address is TCP port `port` (> 0) or the
// IPC path `path` (non-NULL): the connections accepted by the listener
// there. Descriptors are not closed (nng owns them). Returns how many.
int tasq_conn_end(int port, const char *path);

// tasq_conn_end_pipe shuts down the receiving half of the TCP socket
// under pipe p (a dialed connection, TLS or not), found by its local and
// remote address. Returns 1, or 0 when there is none (gone already, or
// IPC, whose client sockets cannot be told apart by address).
int tasq_conn_end_pipe(nng_pipe p);

#endif
