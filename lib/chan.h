// chan: the client side of tasq's RPC: a REQ socket dialed to the server,
// authenticated envelopes, and a blocking call that many threads may make
// at once (each call uses its own nng context).
//
// Used by the tasq client and by worker processes. Thread-safe after
// tasq_chan_open; tasq_chan_close must not race with calls.
#ifndef TASQ_CHAN_H
#define TASQ_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "wire.h"

typedef struct tasq_chan tasq_chan;

// A canceller of blocking dials (tasq_chan_opts.cancel): its fire aborts
// the dials of tasq_chan_open calls given it, under way or to come.
typedef struct tasq_chan_cancel tasq_chan_cancel;

// The longest one dial attempt takes when tasq_chan_opts gives neither
// connect_timeout_ms nor dial_timeout_ms.
#define TASQ_CHAN_DIAL_MS 5000

typedef struct tasq_chan_opts {
	const char         *url;
	const tasq_keyring *keys;            // borrowed; must outlive chan
	const char         *tls_ca;          // required for tls+tcp://
	const char         *tls_server_name; // default: the URL's host
	const char         *tls_cert;        // optional client certificate
	const char         *tls_key;
	uint32_t            connect_timeout_ms; // 0: one attempt
	// The longest one dial attempt may take (0: what is left of
	// connect_timeout_ms, or TASQ_CHAN_DIAL_MS when that is 0 too); at
	// least a second. nng's own dial has no deadline: toward an
	// address that drops packets it would wait for the kernel's TCP
	// connect timeout (minutes).
	uint32_t          dial_timeout_ms;
	tasq_chan_cancel *cancel; // optional, borrowed: aborts the dial
	// The dial as nng makes it, with no limit of its own and no cut
	// (the server's watchdog probing its own listener over TCP: see
	// server/watchdog.c). Not over TLS, where a refused client
	// certificate can leave that dial waiting for good.
	bool   dial_uncut;
	size_t max_msg_bytes;
	bool   tls_insecure; // no verification (self-probe)
	// Optional: called on an nng thread when a connection to the server
	// comes up (up true) or goes down, including during
	// tasq_chan_close. It must not block or call into the chan.
	void (*conn_cb)(void *arg, bool up);
	void *conn_arg;
} tasq_chan_opts;

// tasq_chan_open dials the server, waiting up to connect_timeout_ms for a
// first connection (TLS verification failures are reported at once), then
// keeps reconnecting in the background. Each dial attempt is bounded
// (dial_timeout_ms): one that runs out fails with NNG_ETIMEDOUT, one
// whose o->cancel fired (before or during the open) with NNG_ECANCELED.
// On failure err says why.
int tasq_chan_open(
    tasq_chan **cp, const tasq_chan_opts *o, char *err, size_t errlen);

// tasq_chan_cancel_alloc makes a canceller (free with
// tasq_chan_cancel_free, once no tasq_chan_open given it runs). Returns 0
// or NNG_ENOMEM.
int tasq_chan_cancel_alloc(tasq_chan_cancel **cnp);

// tasq_chan_cancel_fire aborts the dials of the tasq_chan_open calls
// given cn: those under way end within a second (a dial is never cut in
// its first second: lib/chan.c, "bounded blocking dials"), later ones at
// once. Thread-safe; idempotent; does not wait.
void tasq_chan_cancel_fire(tasq_chan_cancel *cn);

void tasq_chan_cancel_free(tasq_chan_cancel *cn);

void tasq_chan_close(tasq_chan *c);

// tasq_chan_set_conn_cb sets a second connection callback after open
// (as tasq_chan_opts.conn_cb; libtasq's serve handle watches its
// session's chan with it); cb NULL removes it, and once that returns cb
// runs no more. Thread-safe.
void tasq_chan_set_conn_cb(tasq_chan *c, void (*cb)(void *, bool), void *arg);

// tasq_chan_redial replaces the dialer with a new one (at most once every
// two seconds; returns whether it did). nng 1.5.2 has a bug (upstream
// issue 1518) that can leave a dialer no longer retrying after a peer
// dropped a connection during the handshake; callers that see their
// requests keep failing call this. Thread-safe; calls in flight carry on
// over the new connection.
bool tasq_chan_redial(tasq_chan *c);

// tasq_chan_call sends req and waits up to timeout_ms for the reply,
// which it decodes into rep (release with tasq_wire_rep_fini; untouched on
// error). Returns 0; the server's status as TASQ_E* with its text in err;
// TASQ_EDEADLINE_EXCEEDED when no reply came in time; TASQ_EUNAUTHENTICATED
// when the reply fails verification; or an NNG error.
// Requests are stamped with the server's time, learned from every reply
// that verifies and answers the request (never from an unsigned one); a
// signed UNAUTHENTICATED refusal (a stamp off the server's clock, say
// after a restart, or a seq seen) is retried as a new request with the
// time it taught, up to three attempts in all (docs/PROTOCOL.md sec. 5).
int tasq_chan_call(tasq_chan *c, const tasq_req *req, uint32_t timeout_ms,
    tasq_rep *rep, char *err, size_t errlen);

// tasq_chan_call_start sends req and returns at once with *callp, whose
// reply tasq_chan_call_finish waits for (the two make tasq_chan_call, with
// the same results). A failed send is reported by start, with no call to
// finish. req must stay valid until finish.
// A caller can so have a long-poll waiting at the server while it sends
// other requests. Every started call must be finished.
typedef struct tasq_call tasq_call;
int tasq_chan_call_start(tasq_chan *c, const tasq_req *req,
    uint32_t timeout_ms, tasq_call **callp, char *err, size_t errlen);
int tasq_chan_call_finish(
    tasq_call *call, tasq_rep *rep, char *err, size_t errlen);

// tasq_chan_seal encodes req into a new message *msgp (send or free with
// nng_msg_free): a request envelope from sender_id with seq, stamped with
// the server's time as c knows it (see tasq_chan_call) and signed with
// c's key. The worker's heartbeats (lib/api/worker_keepalive.c) use it with a
// sender id of their own. Thread-safe. Errors: as tasq_wire_encode_req
// and tasq_auth_seal.
int tasq_chan_seal(tasq_chan *c, const tasq_req *req, uint64_t sender_id,
    uint64_t seq, uint32_t deadline_ms, nng_msg **msgp);

// tasq_chan_sender_id returns this channel's random sender id.
uint64_t tasq_chan_sender_id(const tasq_chan *c);

// tasq_chan_server_id returns the server id (the envelope's sender_id)
// of the last verified reply, 0 before the first: a new value means a
// restarted server, which may have lost what an older one acknowledged
// without syncing it (--fsync batch or never, and a machine crash).
uint64_t tasq_chan_server_id(tasq_chan *c);

#endif
