// sockclose: nng_close with a limit.
//
// nng 1.5.2 can make a socket's close wait forever, and every later close
// in the process with it. Its TLS transport sends a message in rounds on
// one aio (the length, the header, the body: the TLS layer takes one
// buffer at a time), and so does a receive. A round that starts after the
// connection's close (a peer's end racing our send, the usual case when a
// server stops) begins on a stopped aio, which 1.5.2 neither runs nor
// completes (nni_aio_begin). The protocol's pipe_stop then waits for that
// operation in nng's single reaper thread, forever, and every close after
// it, of any socket, waits for the reaper (docs/ARCHITECTURE.md, "nng
// 1.5.2 defects").
//
// tasq_sock_close closes on a thread of its own and waits at most
// TASQ_SOCK_CLOSE_MS (TASQ_SOCK_CLOSE_STUCK_MS once a close was given up:
// the reaper is stuck then, and every close would wait the full limit).
// Past the limit the socket is given up: the caller goes on, the close and
// fini(arg) run if it ever ends, and tasq_sock_abandoned() counts it, so
// that a program can leave with _exit rather than run exit handlers beside
// the stuck threads.
#ifndef TASQ_SOCKCLOSE_H
#define TASQ_SOCKCLOSE_H

#include <stdbool.h>

#include <nng/nng.h>

#define TASQ_SOCK_CLOSE_MS 2000
#define TASQ_SOCK_CLOSE_STUCK_MS 200

// Closes sock, then calls fini(arg) if fini is not NULL (the owner's frees
// that must follow the close), both on a closer thread. Returns true once
// both are done, false when it gave up waiting (fini runs later or never:
// the caller must not free what fini frees, nor what the socket's pipe
// callbacks touch). Without the resources for a thread it closes here,
// without a limit.
bool tasq_sock_close(nng_socket sock, void (*fini)(void *), void *arg);

// How many closes were given up since the start.
unsigned tasq_sock_abandoned(void);

// The limit for a wait that belongs to a close (server/heartbeat.c's drain
// before it): normal_ms, or TASQ_SOCK_CLOSE_STUCK_MS once a close was given
// up, when nng's reaper is stuck and the wait would be in vain.
unsigned tasq_sock_close_ms(unsigned normal_ms);

#endif // TASQ_SOCKCLOSE_H
