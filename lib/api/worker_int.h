// worker_int: what the worker side of libtasq (lib/api/worker*.c) shares
// inside the library: the serve handle and the lease handle of
// include/tasq/worker.h, with their layouts.
//
// Lock order: tasq_serve.mtx only; a lease has no lock of its own (its
// caller uses it from one thread at a time; the serve handle's lists and
// the lease's cancelled flag are the shared parts, under serve.mtx or
// atomic). No nng call that can complete and no I/O under serve.mtx.
#ifndef TASQ_API_WORKER_INT_H
#define TASQ_API_WORKER_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "api_int.h"
#include "auth.h"
#include "chan.h"
#include "wire.h"

struct tasq_keepalive;
struct tasq_conn;

// What the worker side needs of a session: borrowed from it, valid while
// the session is open.
typedef struct wk_link {
	tasq_chan          *chan;
	const char         *url;
	const tasq_keyring *keys;
	const char         *tls_ca;
	const char         *tls_server_name;
	const char         *tls_cert;
	const char         *tls_key;
	uint32_t            timeout_ms;    // of one call
	size_t              max_req_bytes; // results per request: under it
} wk_link;

enum wk_lease_state {
	WK_OPEN,     // the caller's
	WK_DEFERRED, // done: results wait for the next Lease (or Complete)
	WK_SENDING,  // its results are in a request in flight
	WK_RELEASE,  // freed unfinished: to be released in the background
};

struct tasq_lease {
	struct tasq_serve *w;
	// The server it came from (api_int.h's member number): its results,
	// Release, Extend and heartbeats go there. 0 (TASQ_API_MEMBER_ANY)
	// with one server: the session's server, by the one-server paths.
	uint32_t          member;
	tasq_rep          rep; // the LeaseReply: owns the payloads
	uint64_t          lease_id;
	const char       *type;
	size_t            n;     // tasks, all batches together
	size_t            nb;    // non-empty batches
	tasq_task_batch **b;     // nb, pointing into rep
	size_t           *first; // nb + 1: first task index of each batch
	const uint8_t   **pptr;  // n: each task's payload
	uint32_t         *plen;
	uint32_t          width; // the payloads' common width, else 0
	uint8_t          *cat;   // the joined column (nb > 1), lazily
	uint32_t         *catlens;
	// Results, set in any order: task i's bytes are rdata[roff[i]..]
	// rlen[i] long; codes and errors allocated at the first failure.
	uint8_t  *rdata;
	size_t    rsize, rcap;
	size_t   *roff;
	uint32_t *rlen;
	uint8_t  *rset;
	uint32_t *codes;
	char    **errors;
	size_t    nset;
	// Tasks 0..colnext-1 have results that are one column in task
	// order at rdata[0..colbytes) (put_all, put_column in order),
	// colwidth wide each (0: lens vary); SIZE_MAX once a put or fail
	// broke it. With colnext == n and no failure, a request points
	// into rdata (no copy).
	size_t   colnext;
	size_t   colbytes;
	uint32_t colwidth;
	// roff and rlen of tasks 0..lazyn-1 are not written (lazy): they
	// are i * colwidth and colwidth (materialize writes them).
	bool   lazy;
	size_t lazyn;
	// What one request built from the results (worker.c) holds.
	void *sendmem;
	// The server told that the lease holds tasks of a cancelled job
	// (told); which of its batches (bcancelled: their jobs are the
	// cancelled ones; with several jobs the serve thread asks JobStatus,
	// then resolved).
	atomic_bool  told;
	atomic_bool *bcancelled;
	bool         resolved; // serve.mtx
	nng_time     taken;    // when it was leased
	// serve.mtx guards the fields below.
	enum wk_lease_state state;
	struct tasq_lease  *prev, *next; // the serve handle's held list
	struct tasq_lease  *dnext;       // its deferred or release list
	nng_time            since;       // deferred at
};

struct tasq_serve {
	wk_link              link;
	struct tasq_session *session; // borrowed (held: see worker.c)
	tasq_api_closer      closer;  // the session's close stops run
	uint64_t             id;
	char                 name[TASQ_WIRE_MAX_NAME + 1];
	nng_mtx             *mtx;
	nng_cv              *cv; // the background thread's wake-up
	// Settings (mtx).
	char    *types[TASQ_WIRE_MAX_TYPES];
	size_t   ntypes;
	char    *qnames[TASQ_WIRE_MAX_QUEUES];
	uint32_t qweights[TASQ_WIRE_MAX_QUEUES];
	size_t   nqueues;
	uint32_t max_tasks;
	uint32_t wait_ms;
	char    *heartbeat;
	uint32_t flush_ms;
	// State (mtx).
	struct tasq_lease     *held;  // every lease not finished
	struct tasq_lease     *dhead; // deferred, oldest first
	struct tasq_lease     *dtail;
	struct tasq_lease     *rhead; // freed unfinished: to release
	size_t                 nheld;
	uint32_t               lease_ms;
	bool                   closing;
	bool                   kick; // wake the thread now (release, close)
	uint64_t               beats, leases, cancels;
	bool                   resolve; // a lease of several jobs was told
	atomic_bool            stop;    // tasq_serve_stop (async-signal-safe)
	nng_thread            *thread;
	struct tasq_keepalive *ka; // the background thread's only
	bool                   ka_opening;
	bool                   ka_want; // open it now (the first lease)
	// The link's state and its lines (worker_conn.h), made when the
	// handle gets its session; the settings below are mtx's.
	struct tasq_conn    *conn;
	tasq_serve_log_fn    log_fn;
	void                *log_arg;
	bool                 refusal_retry; // tasq_serve_set_refusal
	tasq_serve_cancel_fn cancel_fn;     // called under mtx
	void                *cancel_arg;
	atomic_uint          fails;    // lease calls failed in a row (redial)
	struct tasq_session *own;      // tasq_serve_dial's session, or NULL
	tasq_opts           *own_opts; // its options (conn's strings)
	size_t               max_req_bytes; // tasq_serve_set_max_request
	// Several servers (docs/LIBRARY.md "Several servers", the worker
	// side): set when the handle gets its session. Leases rotate over
	// the members up from cursor; hb is the background thread's (one
	// heartbeat channel per member, made at its first beat).
	bool              sharded;
	atomic_uint       cursor;
	struct wk_member *hb; // TASQ_SHARD_MAX_MEMBERS entries, lazily
	size_t            nhb;
};

// A member's heartbeat state (several servers; the background thread's).
struct wk_member {
	uint32_t               num;
	struct tasq_keepalive *ka;
	tasq_chan             *chan; // held (tasq_api_member_hold) while ka
	char                   url[TASQ_SHARD_URL_MAX];
	char                   host[TASQ_SHARD_HOST_MAX];
};

// worker_lease.c
int wk_lease_make(struct tasq_serve *w, tasq_rep *rep, struct tasq_lease **lp);
void wk_lease_destroy(struct tasq_lease *l);
// wk_lease_batches fills out (l->nb entries) with l's results for a
// request, and says whether some tasks have none (partial: the lease is
// released after they are taken). Memory in l->sendmem.
int wk_lease_batches(
    struct tasq_lease *l, tasq_result_batch *out, size_t *nout, bool *partial);

#endif
