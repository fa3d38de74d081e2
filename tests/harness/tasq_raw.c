// tasq_raw: hand-made tasq messages for adversarial integration tests.
//
//	tasq_raw URL garbage N [--key-file K] [--seed S]
//	tasq_raw URL method M --key-file K
//	tasq_raw URL health --key-file K
//	tasq_raw URL replay --key-file K
//	tasq_raw URL stale --key-file K
//	tasq_raw URL wrongkey --key-file K
//	tasq_raw URL bigsubmit N --key-file K
//	tasq_raw URL badstring N --key-file K
//	tasq_raw URL leaseflood N --key-file K
//	tasq_raw URL session --key-file K (commands on stdin: cmd_session)
//
// Each request goes out on a REQ socket (nng never re-sends it by itself)
// and each reply is printed as one "status=NAME" line, where NAME is the
// envelope's status (OK, INVALID_ARGUMENT, UNAUTHENTICATED, ...), or
// "status=NONE error=TEXT" when no reply came. The exit status is 0 when
// every request got a reply, 1 when one did not, 2 on a usage error.
//
// garbage sends N messages of several kinds, from a seeded generator so a
// failure can be replayed with --seed: random bytes, a valid header over
// a body of the wrong length, a well-formed envelope with a random tag,
// and (with a key) a correctly signed envelope around a random body (of
// any method but Submit and Lease, whose random bodies could decode into
// real work). Replies may be anything but a crash or silence.
//
// badstring sends one signed request with a string the server must refuse
// on its full length (docs/PROTOCOL.md section 8): N = 0 a Submit to queue
// "a\0zzz", 1 a Lease of worker "w\0\x01\x02", 2 of worker "w\xc3\x28\xff"
// (not UTF-8), 3 of worker "\xc0\x80" (an overlong NUL). leaseflood sends
// one signed Lease carrying N empty result batches (2,000,000: 4 MB).
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "auth.h"
#include "chan.h"
#include "clock.h"
#include "envelope.h"
#include "err.h"
#include "rand.h"
#include "blobs.h"
#include "wire.h"

static int           timeout_ms = 5000;
static tasq_keyring *keys;
static uint64_t      sender_id;
static uint64_t      next_seq;
static uint64_t      rng_state;

static _Noreturn void
usage(void)
{
	fprintf(stderr,
	    "usage: tasq_raw URL garbage N [--key-file K] [--seed S]\n"
	    "       tasq_raw URL method M --key-file K\n"
	    "       tasq_raw URL health|replay|stale|wrongkey --key-file K\n"
	    "       tasq_raw URL bigsubmit|badstring|leaseflood N "
	    "--key-file K\n"
	    "       tasq_raw URL session --key-file K\n"
	    "options: --timeout MS (default 5000)\n");
	exit(2);
}

// splitmix64: small, seedable, good enough for garbage.
static uint64_t
rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (z ^ (z >> 31));
}

static void
rng_fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		p[i] = (uint8_t) rng();
	}
}

static _Noreturn void
die(const char *what, int rv)
{
	fprintf(stderr, "tasq_raw: %s: %s\n", what, tasq_strerror(rv));
	exit(1);
}

static void
open_socket(const char *url, nng_socket *s)
{
	int rv;

	if ((rv = nng_req0_open(s)) != 0) {
		die("nng_req0_open", rv);
	}
	(void) nng_socket_set_ms(
	    *s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	(void) nng_socket_set_ms(*s, NNG_OPT_RECVTIMEO, timeout_ms);
	(void) nng_socket_set_ms(*s, NNG_OPT_SENDTIMEO, timeout_ms);
	(void) nng_socket_set_size(*s, NNG_OPT_RECVMAXSZ, 64u << 20);
	if ((rv = nng_dial(*s, url, NULL, 0)) != 0) {
		die(url, rv);
	}
}

// Prints the status of reply m (or of the error) and frees m.
static bool
report(nng_msg *m, int rv)
{
	tasq_env_hdr h;

	if (rv != 0) {
		printf("status=NONE error=%s\n", nng_strerror(rv));
		fflush(stdout);
		return (false);
	}
	memset(&h, 0, sizeof(h));
	if (tasq_env_parse(nng_msg_body(m), nng_msg_len(m), &h) != 0 ||
	    h.kind != TASQ_ENV_REPLY) {
		printf("status=MALFORMED_REPLY len=%zu\n", nng_msg_len(m));
	} else {
		printf("status=%s\n", tasq_err_name(h.status));
	}
	fflush(stdout);
	nng_msg_free(m);
	return (true);
}

// Sends a copy of buf (len bytes) on ctx and waits for the reply.
static bool
roundtrip(nng_ctx ctx, const void *buf, size_t len)
{
	nng_aio *aio;
	nng_msg *m;
	int      rv;

	if ((rv = nng_aio_alloc(&aio, NULL, NULL)) != 0 ||
	    (rv = nng_msg_alloc(&m, 0)) != 0 ||
	    (rv = nng_msg_append(m, buf, len)) != 0) {
		die("alloc", rv);
	}
	nng_aio_set_timeout(aio, timeout_ms);
	nng_aio_set_msg(aio, m);
	nng_ctx_send(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0) {
		nng_msg_free(m);
		nng_aio_free(aio);
		return (report(NULL, rv));
	}
	nng_ctx_recv(ctx, aio);
	nng_aio_wait(aio);
	rv = nng_aio_result(aio);
	m  = rv == 0 ? nng_aio_get_msg(aio) : NULL;
	nng_aio_free(aio);
	return (report(m, rv));
}

static bool
roundtrip_sock(nng_socket s, const void *buf, size_t len)
{
	nng_ctx ctx;
	bool    ok;
	int     rv;

	if ((rv = nng_ctx_open(&ctx, s)) != 0) {
		die("nng_ctx_open", rv);
	}
	ok = roundtrip(ctx, buf, len);
	nng_ctx_close(ctx);
	return (ok);
}

// Signs m (body after TASQ_ENV_HDR_LEN reserved bytes) as a request of
// method with kr (NULL: unsigned), a fresh seq and the given timestamp.
static void
seal(const tasq_keyring *kr, nng_msg *m, uint16_t method, uint64_t ts_ms)
{
	tasq_env_hdr h;
	int          rv;

	memset(&h, 0, sizeof(h));
	h.version      = TASQ_ENV_VERSION;
	h.kind         = TASQ_ENV_REQUEST;
	h.sender_id    = sender_id;
	h.seq          = ++next_seq;
	h.timestamp_ms = ts_ms;
	h.method       = method;
	h.deadline_ms  = (uint32_t) timeout_ms;
	if ((rv = tasq_auth_seal(kr, &h, m)) != 0) {
		die("tasq_auth_seal", rv);
	}
}

static nng_msg *
empty_request(uint16_t method, const tasq_keyring *kr, uint64_t ts_ms)
{
	nng_msg *m;
	int      rv;

	if ((rv = nng_msg_alloc(&m, TASQ_ENV_HDR_LEN)) != 0) {
		die("nng_msg_alloc", rv);
	}
	memset(nng_msg_body(m), 0, TASQ_ENV_HDR_LEN);
	seal(kr, m, method, ts_ms);
	return (m);
}

static bool
send_msg(nng_socket s, nng_msg *m)
{
	bool ok = roundtrip_sock(s, nng_msg_body(m), nng_msg_len(m));

	nng_msg_free(m);
	return (ok);
}

static int
cmd_garbage(nng_socket s, long n)
{
	long    replies = 0;
	uint8_t buf[1024];

	for (long i = 0; i < n; i++) {
		size_t       len = (size_t) (rng() % sizeof(buf));
		tasq_env_hdr h;
		int          kind = (int) (rng() % (keys != NULL ? 4 : 3));

		rng_fill(buf, len);
		memset(&h, 0, sizeof(h));
		h.version      = TASQ_ENV_VERSION;
		h.kind         = TASQ_ENV_REQUEST;
		h.sender_id    = rng();
		h.seq          = rng();
		h.timestamp_ms = tasq_clock_wall_ms();
		h.method       = (uint16_t) (rng() % 12);
		if (h.method == TASQ_M_SUBMIT || h.method == TASQ_M_LEASE) {
			// A random body that decodes would queue or lease
			// real tasks and disturb the test that follows.
			h.method = TASQ_M_HEALTH;
		}
		if (kind == 1 && len >= TASQ_ENV_HDR_LEN) {
			// A valid header whose body_len does not add up.
			h.body_len = (uint32_t) rng();
			tasq_env_put(&h, buf);
		} else if (kind == 2 && len >= TASQ_ENV_OVERHEAD) {
			// Well formed, but the tag is random.
			h.key_id   = (uint32_t) rng();
			h.body_len = (uint32_t) (len - TASQ_ENV_OVERHEAD);
			tasq_env_put(&h, buf);
		} else if (kind == 3) {
			// Correctly signed random body: must fail decoding
			// (or be a harmless valid request), never crash.
			nng_msg *m;
			size_t   blen = len % 256;
			int      rv;
			if ((rv = nng_msg_alloc(&m, TASQ_ENV_HDR_LEN)) != 0 ||
			    (rv = nng_msg_append(m, buf, blen)) != 0) {
				die("alloc", rv);
			}
			seal(keys, m, h.method, tasq_clock_wall_ms());
			replies += send_msg(s, m);
			continue;
		}
		replies += roundtrip_sock(s, buf, len);
	}
	printf("replies=%ld/%ld\n", replies, n);
	return (replies == n ? 0 : 1);
}

static int
cmd_replay(nng_socket s)
{
	nng_msg *m  = empty_request(TASQ_M_HEALTH, keys, tasq_clock_wall_ms());
	bool     ok = true;

	// The same bytes twice, each on a context of its own.
	ok &= roundtrip_sock(s, nng_msg_body(m), nng_msg_len(m));
	ok &= roundtrip_sock(s, nng_msg_body(m), nng_msg_len(m));
	nng_msg_free(m);
	return (ok ? 0 : 1);
}

static int
cmd_bigsubmit(nng_socket s, long n)
{
	tasq_req req;
	nng_msg *m;
	int64_t *vals;
	int      rv;

	if ((vals = malloc((size_t) n * sizeof(*vals))) == NULL) {
		die("malloc", NNG_ENOMEM);
	}
	for (long i = 0; i < n; i++) {
		vals[i] = i + 1;
	}
	memset(&req, 0, sizeof(req));
	req.method               = TASQ_M_SUBMIT;
	req.u.submit.queue       = "default";
	req.u.submit.job_id      = tasq_random64();
	req.u.submit.first_index = 0;
	req.u.submit.n           = (size_t) n;
	req.u.submit.values      = vals;
	if ((rv = tasq_wire_encode_req(&req, &m)) != 0) {
		die("tasq_wire_encode_req", rv);
	}
	free(vals);
	seal(keys, m, TASQ_M_SUBMIT, tasq_clock_wall_ms());
	fprintf(stderr, "tasq_raw: submit of %ld tasks, %zu bytes\n", n,
	    nng_msg_len(m));
	return (send_msg(s, m) ? 0 : 1);
}

// Sends one request of method with the protobuf body (len bytes), signed
// with the key. Returns the exit status.
static int
send_body(nng_socket s, uint16_t method, const uint8_t *body, size_t len)
{
	nng_msg *m;
	int      rv;

	if ((rv = nng_msg_alloc(&m, TASQ_ENV_HDR_LEN)) != 0 ||
	    (rv = nng_msg_append(m, body, len)) != 0) {
		die("nng_msg_alloc", rv);
	}
	memset(nng_msg_body(m), 0, TASQ_ENV_HDR_LEN);
	seal(keys, m, method, tasq_clock_wall_ms());
	return (send_msg(s, m) ? 0 : 1);
}

static int
cmd_badstring(nng_socket s, long n)
{
	// Submit { queue = 1: "a\0zzz", job_id = 2: 7, values = 4: [1] }
	static const uint8_t submit[] = { 0x0a, 5, 'a', 0, 'z', 'z', 'z', 0x10,
		7, 0x22, 1, 2 };
	// Lease { queue = 1: "q", worker_id = 2: 1, worker_name = 3: ... }
	static const uint8_t lease[][11] = {
		{ 0x0a, 1, 'q', 0x10, 1, 0x1a, 4, 'w', 0, 1, 2 },
		{ 0x0a, 1, 'q', 0x10, 1, 0x1a, 4, 'w', 0xc3, 0x28, 0xff },
		{ 0x0a, 1, 'q', 0x10, 1, 0x1a, 2, 0xc0, 0x80 },
	};
	static const size_t lease_len[] = { 11, 11, 9 };

	if (n == 0) {
		return (send_body(s, TASQ_M_SUBMIT, submit, sizeof(submit)));
	}
	if (n > 3) {
		usage();
	}
	return (send_body(s, TASQ_M_LEASE, lease[n - 1], lease_len[n - 1]));
}

static int
cmd_leaseflood(nng_socket s, long n)
{
	uint8_t *body;
	size_t   len = 5 + 2 * (size_t) n;
	int      rv;

	if ((body = malloc(len)) == NULL) {
		die("malloc", NNG_ENOMEM);
	}
	memcpy(body, "\x0a\x01q\x10\x01", 5); // queue "q", worker_id 1
	for (long i = 0; i < n; i++) {
		body[5 + 2 * i]     = 0x32; // results = 6, empty
		body[5 + 2 * i + 1] = 0;
	}
	fprintf(stderr, "tasq_raw: lease of %ld empty result batches\n", n);
	rv = send_body(s, TASQ_M_LEASE, body, len);
	free(body);
	return (rv);
}

// Sends one empty-bodied request of method signed with kr, its timestamp
// age_ms in the past. Returns the exit status.
static int
send_one(
    nng_socket s, uint16_t method, const tasq_keyring *kr, uint64_t age_ms)
{
	nng_msg *m = empty_request(method, kr, tasq_clock_wall_ms() - age_ms);

	return (send_msg(s, m) ? 0 : 1);
}

// A Health request signed with a random key the server cannot know.
static int
cmd_wrongkey(nng_socket s)
{
	tasq_keyring *other;
	uint8_t       k[32];
	int           rv;

	if ((rv = tasq_keyring_alloc(&other)) != 0) {
		die("keyring", rv);
	}
	rng_fill(k, sizeof(k));
	if ((rv = tasq_keyring_add(other, k, sizeof(k), NULL)) != 0) {
		die("keyring", rv);
	}
	rv = send_one(s, TASQ_M_HEALTH, other, 0);
	tasq_keyring_free(other);
	return (rv);
}

// ---- session: a scripted worker and client on one connection ------------
//
// tasq_raw URL session --key-file K reads one command a line on stdin and
// answers each with zero or more detail lines and a summary line that
// starts with the command's name and carries status=NAME (the reply's
// status) and the reply's fields as key=value, then a line ".". It plays
// a worker that misbehaves on purpose (or a client) over one connection
// held open between commands, so that a test can hold a lease as long as
// it likes, let it expire, or close the connection under it:
//
//	submit QUEUE JOB FIRST V...  Submit values V... as ids FIRST.. of JOB
//	lease QUEUE MAX WAIT_MS      Lease; each task leased prints a line
//	                             "task lease= job= id= value= attempt=";
//	                             the tasks join the hand
//	complete [dup] [skip=V]      Complete every task in hand with its
//	                             square (one ResultBatch per leased batch);
//	                             dup names every id twice in its batch
//	                             ([x, x, y, y]); skip=V leaves out tasks of
//	                             value V (their lease stays live). Empties
//	                             the hand
//	extend                       Extend the leases in hand
//	release                      Release the leases in hand; empties it
//	forget                       Empties the hand, telling the server
//	                             nothing
//	fetch JOB MAX WAIT_MS        Fetch results of JOB (acknowledging this
//	                             session's previous delivery of JOB); each
//	                             prints "result id= value= code="
//	close JOB                    CloseJob
//
// Typed tasks (issue 12), payloads and results as text:
//	tsubmit QUEUE JOB FIRST TYPE MAX_ATTEMPTS BACKOFF_MS P...
//	                             Submit payloads P... of TYPE with that
//	                             retry policy (backoff at most 60 s)
//	tlease QUEUE MAX WAIT_MS TYPE...
//	                             Lease tasks of the TYPEs; prints "task
//	                             lease= job= id= type= payload= attempt="
//	                             per task; the tasks join the hand
//	tcomplete [fail CODE MSG]    Complete every task in hand: result
//	                             "did:PAYLOAD", or every one failing with
//	                             CODE (a number) and message MSG
//	tfetch JOB MAX WAIT_MS       Fetch; prints "result id= code= result=
//	                             error=" and no_worker= on its summary
//	dead QUEUE                   DeadList of QUEUE ("-": all) with
//	                             payloads: "dead id= job= task= type=
//	                             payload= attempts= code= error="
//	purge all QUEUE | purge ID...
//	                             DeadPurge
//	reconnect                    Closes the connection (the server ends
//	                             its leases) and dials a new one; empties
//	                             the hand
//
// It exits 0 at the end of its input, 1 if the connection cannot be made,
// 2 on a command it does not understand.
struct session_batch {
	uint64_t  lease_id, job_id;
	size_t    n;
	uint64_t *ids;
	int64_t  *values;
};

struct session {
	const char           *url;
	tasq_chan            *chan;
	struct session_batch *hand;
	size_t                nhand, caphand;
	uint64_t              fetch_job, fetch_seq;
};

static void
session_forget(struct session *ss)
{
	for (size_t i = 0; i < ss->nhand; i++) {
		free(ss->hand[i].ids);
		free(ss->hand[i].values);
	}
	ss->nhand = 0;
}

static int
session_connect(struct session *ss)
{
	tasq_chan_opts co;
	char           err[512];
	int            rv;

	memset(&co, 0, sizeof(co));
	co.url                = ss->url;
	co.keys               = keys;
	co.connect_timeout_ms = (uint32_t) timeout_ms;
	co.max_msg_bytes      = 64u << 20;
	if ((rv = tasq_chan_open(&ss->chan, &co, err, sizeof(err))) != 0) {
		fprintf(stderr, "tasq_raw: session: %s\n", err);
		ss->chan = NULL;
	}
	return (rv);
}

// Sends req; on failure prints the summary line of cmd with its status.
static int
session_call(struct session *ss, const char *cmd, const tasq_req *req,
    uint32_t wait_ms, tasq_rep *rep)
{
	char err[512];
	int  rv;

	rv = tasq_chan_call(ss->chan, req, (uint32_t) timeout_ms + wait_ms,
	    rep, err, sizeof(err));
	if (rv != 0) {
		printf("%s status=%s error=\"%s\"\n", cmd,
		    tasq_err_name(tasq_err_code(rv)), err);
	}
	return (rv);
}

static bool
session_u64(const char *s, uint64_t *v)
{
	char *end;

	if (s == NULL || *s == '\0' || *s == '-') {
		return (false);
	}
	*v = strtoull(s, &end, 10);
	return (*end == '\0');
}

static bool
session_i64(const char *s, int64_t *v)
{
	char *end;

	if (s == NULL || *s == '\0') {
		return (false);
	}
	*v = strtoll(s, &end, 10);
	return (*end == '\0');
}

static int
session_submit(struct session *ss, char **arg, size_t narg)
{
	tasq_req req;
	tasq_rep rep;
	int64_t *vals;
	uint64_t job, first;

	if (narg < 4 || !session_u64(arg[1], &job) ||
	    !session_u64(arg[2], &first)) {
		return (2);
	}
	if ((vals = calloc(narg - 3, sizeof(*vals))) == NULL) {
		die("calloc", NNG_ENOMEM);
	}
	for (size_t i = 3; i < narg; i++) {
		if (!session_i64(arg[i], &vals[i - 3])) {
			free(vals);
			return (2);
		}
	}
	memset(&req, 0, sizeof(req));
	req.method               = TASQ_M_SUBMIT;
	req.u.submit.queue       = arg[0];
	req.u.submit.job_id      = job;
	req.u.submit.first_index = first;
	req.u.submit.n           = narg - 3;
	req.u.submit.values      = vals;
	if (session_call(ss, "submit", &req, 0, &rep) == 0) {
		printf("submit status=OK accepted=%" PRIu32 " duplicate=%d\n",
		    rep.u.submit.accepted, rep.u.submit.duplicate ? 1 : 0);
		tasq_wire_rep_fini(&rep);
	}
	free(vals);
	return (0);
}

static int
session_lease(struct session *ss, char **arg, size_t narg)
{
	tasq_req req;
	tasq_rep rep;
	uint64_t max, wait;
	size_t   ntasks = 0;

	if (narg != 3 || !session_u64(arg[1], &max) ||
	    !session_u64(arg[2], &wait) || max > UINT32_MAX ||
	    wait > UINT32_MAX / 2) {
		return (2);
	}
	memset(&req, 0, sizeof(req));
	req.method              = TASQ_M_LEASE;
	req.u.lease.queue       = arg[0];
	req.u.lease.worker_id   = sender_id;
	req.u.lease.worker_name = "tasq_raw";
	req.u.lease.max_tasks   = (uint32_t) max;
	req.u.lease.wait_ms     = (uint32_t) wait;
	if (session_call(ss, "lease", &req, (uint32_t) wait, &rep) != 0) {
		return (0);
	}
	for (size_t i = 0; i < rep.u.lease.nbatches; i++) {
		const tasq_task_batch *tb = &rep.u.lease.batches[i];
		struct session_batch  *sb;

		if (ss->nhand == ss->caphand) {
			size_t ncap = ss->caphand ? ss->caphand * 2 : 8;
			void  *p    = realloc(ss->hand, ncap * sizeof(*sb));
			if (p == NULL) {
				die("realloc", NNG_ENOMEM);
			}
			ss->hand    = p;
			ss->caphand = ncap;
		}
		sb           = &ss->hand[ss->nhand++];
		sb->lease_id = tb->lease_id;
		sb->job_id   = tb->job_id;
		sb->n        = tb->n;
		sb->ids      = malloc((tb->n + 1) * sizeof(*sb->ids));
		sb->values   = malloc((tb->n + 1) * sizeof(*sb->values));
		if (sb->ids == NULL || sb->values == NULL) {
			die("malloc", NNG_ENOMEM);
		}
		for (size_t k = 0; k < tb->n; k++) {
			sb->ids[k]    = tb->ids[k];
			sb->values[k] = tb->values[k];
			printf("task lease=%" PRIu64 " job=%" PRIu64
			       " id=%" PRIu64 " value=%" PRId64
			       " attempt=%" PRIu32 "\n",
			    tb->lease_id, tb->job_id, tb->ids[k],
			    tb->values[k], tb->attempt);
		}
		ntasks += tb->n;
	}
	printf("lease status=OK tasks=%zu batches=%zu lease_ms=%" PRIu32 "\n",
	    ntasks, rep.u.lease.nbatches, rep.u.lease.lease_ms);
	tasq_wire_rep_fini(&rep);
	return (0);
}

static int
session_complete(struct session *ss, char **arg, size_t narg)
{
	tasq_req           req;
	tasq_rep           rep;
	tasq_result_batch *rb;
	bool               dup = false, skip = false;
	int64_t            skip_value = 0;

	for (size_t i = 0; i < narg; i++) {
		if (strcmp(arg[i], "dup") == 0) {
			dup = true;
		} else if (strncmp(arg[i], "skip=", 5) == 0 &&
		    session_i64(arg[i] + 5, &skip_value)) {
			skip = true;
		} else {
			return (2);
		}
	}
	if ((rb = calloc(ss->nhand + 1, sizeof(*rb))) == NULL) {
		die("calloc", NNG_ENOMEM);
	}
	for (size_t i = 0; i < ss->nhand; i++) {
		const struct session_batch *sb = &ss->hand[i];
		size_t                      k  = 0;

		rb[i].lease_id = sb->lease_id;
		rb[i].job_id   = sb->job_id;
		rb[i].ids      = malloc((2 * sb->n + 1) * sizeof(uint64_t));
		rb[i].values   = malloc((2 * sb->n + 1) * sizeof(int64_t));
		rb[i].codes    = malloc((2 * sb->n + 1) * sizeof(uint32_t));
		if (rb[i].ids == NULL || rb[i].values == NULL ||
		    rb[i].codes == NULL) {
			die("malloc", NNG_ENOMEM);
		}
		for (size_t t = 0; t < sb->n; t++) {
			int64_t v = sb->values[t], sq = 0;
			bool    ovf;

			if (skip && v == skip_value) {
				continue;
			}
			ovf = __builtin_mul_overflow(v, v, &sq);
			for (int copy = 0; copy < (dup ? 2 : 1); copy++) {
				rb[i].ids[k]    = sb->ids[t];
				rb[i].values[k] = ovf ? 0 : sq;
				rb[i].codes[k]  = ovf
				     ? (uint32_t) tasq_err_code(
				           TASQ_EOUT_OF_RANGE)
				     : 0;
				k++;
			}
		}
		rb[i].n = k;
	}
	memset(&req, 0, sizeof(req));
	req.method               = TASQ_M_COMPLETE;
	req.u.complete.worker_id = sender_id;
	req.u.complete.nresults  = ss->nhand;
	req.u.complete.results   = rb;
	if (session_call(ss, "complete", &req, 0, &rep) == 0) {
		printf("complete status=OK accepted=%" PRIu32
		       " duplicates=%" PRIu32 " late=%" PRIu32
		       " rejected=%" PRIu32 "\n",
		    rep.u.complete.accepted, rep.u.complete.duplicates,
		    rep.u.complete.late, rep.u.complete.rejected);
		tasq_wire_rep_fini(&rep);
	}
	for (size_t i = 0; i < ss->nhand; i++) {
		free(rb[i].ids);
		free(rb[i].values);
		free(rb[i].codes);
	}
	free(rb);
	session_forget(ss);
	return (0);
}

// Extend (release false) or Release (true) the leases in hand.
static int
session_leases(struct session *ss, bool release)
{
	tasq_req  req;
	tasq_rep  rep;
	uint64_t *ids;
	size_t    n = 0;

	if ((ids = calloc(ss->nhand + 1, sizeof(*ids))) == NULL) {
		die("calloc", NNG_ENOMEM);
	}
	for (size_t i = 0; i < ss->nhand; i++) {
		bool seen = false;
		for (size_t k = 0; k < n && !seen; k++) {
			seen = ids[k] == ss->hand[i].lease_id;
		}
		if (!seen) {
			ids[n++] = ss->hand[i].lease_id;
		}
	}
	memset(&req, 0, sizeof(req));
	req.method = release ? TASQ_M_RELEASE : TASQ_M_EXTEND;
	if (release) {
		req.u.release.worker_id = sender_id;
		req.u.release.n         = n;
		req.u.release.lease_ids = ids;
	} else {
		req.u.extend.worker_id = sender_id;
		req.u.extend.n         = n;
		req.u.extend.lease_ids = ids;
	}
	if (session_call(ss, release ? "release" : "extend", &req, 0, &rep) ==
	    0) {
		if (release) {
			printf("release status=OK leases=%zu released=%" PRIu32
			       "\n",
			    n, rep.u.release.released);
		} else {
			printf("extend status=OK leases=%zu lease_ms=%" PRIu32
			       " unknown=%zu\n",
			    n, rep.u.extend.lease_ms, rep.u.extend.n);
		}
		tasq_wire_rep_fini(&rep);
	}
	free(ids);
	if (release) {
		session_forget(ss);
	}
	return (0);
}

static int
session_fetch(struct session *ss, char **arg, size_t narg)
{
	tasq_req req;
	tasq_rep rep;
	uint64_t job, max, wait;

	if (narg != 3 || !session_u64(arg[0], &job) ||
	    !session_u64(arg[1], &max) || !session_u64(arg[2], &wait) ||
	    max > UINT32_MAX || wait > UINT32_MAX / 2) {
		return (2);
	}
	if (job != ss->fetch_job) {
		ss->fetch_job = job;
		ss->fetch_seq = 0;
	}
	memset(&req, 0, sizeof(req));
	req.method              = TASQ_M_FETCH;
	req.u.fetch.job_id      = job;
	req.u.fetch.ack_seq     = ss->fetch_seq;
	req.u.fetch.max_results = (uint32_t) max;
	req.u.fetch.wait_ms     = (uint32_t) wait;
	if (session_call(ss, "fetch", &req, (uint32_t) wait, &rep) != 0) {
		return (0);
	}
	for (size_t i = 0; i < rep.u.fetch.n; i++) {
		uint32_t code = rep.u.fetch.codes ? rep.u.fetch.codes[i] : 0;
		printf("result id=%" PRIu64 " value=%" PRId64 " code=%s\n",
		    rep.u.fetch.ids[i], rep.u.fetch.values[i],
		    tasq_err_name((int) code));
	}
	if (rep.u.fetch.seq != 0) {
		ss->fetch_seq = rep.u.fetch.seq;
	}
	printf("fetch status=OK seq=%" PRIu64 " n=%zu submitted=%" PRIu64
	       " completed=%" PRIu64 "\n",
	    rep.u.fetch.seq, rep.u.fetch.n, rep.u.fetch.submitted,
	    rep.u.fetch.completed);
	tasq_wire_rep_fini(&rep);
	return (0);
}

static int
session_close(struct session *ss, char **arg, size_t narg)
{
	tasq_req req;
	tasq_rep rep;
	uint64_t job;

	if (narg != 1 || !session_u64(arg[0], &job)) {
		return (2);
	}
	memset(&req, 0, sizeof(req));
	req.method              = TASQ_M_CLOSE_JOB;
	req.u.close_job.job_id  = job;
	req.u.close_job.ack_seq = job == ss->fetch_job ? ss->fetch_seq : 0;
	if (session_call(ss, "close", &req, 0, &rep) == 0) {
		printf("close status=OK dropped=%" PRIu64 "\n",
		    rep.u.close_job.dropped);
		tasq_wire_rep_fini(&rep);
	}
	return (0);
}

// ---- typed tasks --------------------------------------------------------

static int
session_tsubmit(struct session *ss, char **arg, size_t narg)
{
	tasq_req  req;
	tasq_rep  rep;
	uint64_t  job, first, att, backoff;
	uint32_t *lens;
	uint8_t  *data;
	size_t    n = narg > 6 ? narg - 6 : 0, size = 0;

	if (narg < 7 || !session_u64(arg[1], &job) ||
	    !session_u64(arg[2], &first) || !session_u64(arg[4], &att) ||
	    !session_u64(arg[5], &backoff)) {
		return (2);
	}
	for (size_t i = 0; i < n; i++) {
		size += strlen(arg[6 + i]);
	}
	if ((lens = calloc(n + 1, sizeof(*lens))) == NULL ||
	    (data = malloc(size + 1)) == NULL) {
		die("malloc", NNG_ENOMEM);
	}
	size = 0;
	for (size_t i = 0; i < n; i++) {
		lens[i] = (uint32_t) strlen(arg[6 + i]);
		memcpy(data + size, arg[6 + i], lens[i]);
		size += lens[i];
	}
	memset(&req, 0, sizeof(req));
	req.method                      = TASQ_M_SUBMIT;
	req.u.submit.queue              = arg[0];
	req.u.submit.job_id             = job;
	req.u.submit.first_index        = first;
	req.u.submit.n                  = n;
	req.u.submit.type               = arg[3];
	req.u.submit.payloads           = (tasq_blobs) { 0, lens, data, size };
	req.u.submit.has_retry          = true;
	req.u.submit.retry.max_attempts = (uint32_t) att;
	req.u.submit.retry.backoff_ms   = (uint32_t) backoff;
	req.u.submit.retry.backoff_max_ms = 60000;
	if (session_call(ss, "tsubmit", &req, 0, &rep) == 0) {
		printf("tsubmit status=OK accepted=%" PRIu32 " duplicate=%d\n",
		    rep.u.submit.accepted, rep.u.submit.duplicate ? 1 : 0);
		tasq_wire_rep_fini(&rep);
	}
	free(lens);
	free(data);
	return (0);
}

// Prints a column item as text (the tests' payloads are text).
static void
print_item(const char *key, const uint8_t *p, size_t len)
{
	printf(" %s=%.*s", key, (int) len, (const char *) p);
}

static int
session_tlease(struct session *ss, char **arg, size_t narg)
{
	tasq_req req;
	tasq_rep rep;
	uint64_t max, wait;
	size_t   ntasks = 0;

	if (narg < 4 || !session_u64(arg[1], &max) ||
	    !session_u64(arg[2], &wait) || max > UINT32_MAX ||
	    wait > UINT32_MAX / 2) {
		return (2);
	}
	memset(&req, 0, sizeof(req));
	req.method              = TASQ_M_LEASE;
	req.u.lease.queue       = arg[0];
	req.u.lease.worker_id   = sender_id;
	req.u.lease.worker_name = "tasq_raw";
	req.u.lease.max_tasks   = (uint32_t) max;
	req.u.lease.wait_ms     = (uint32_t) wait;
	req.u.lease.ntypes      = narg - 3;
	req.u.lease.types       = (const char **) arg + 3;
	if (session_call(ss, "tlease", &req, (uint32_t) wait, &rep) != 0) {
		return (0);
	}
	for (size_t i = 0; i < rep.u.lease.nbatches; i++) {
		const tasq_task_batch *tb = &rep.u.lease.batches[i];
		struct session_batch  *sb;
		tasq_blobs_iter        it;

		if (ss->nhand == ss->caphand) {
			size_t ncap = ss->caphand ? ss->caphand * 2 : 8;
			void  *p    = realloc(ss->hand, ncap * sizeof(*sb));
			if (p == NULL) {
				die("realloc", NNG_ENOMEM);
			}
			ss->hand    = p;
			ss->caphand = ncap;
		}
		sb           = &ss->hand[ss->nhand++];
		sb->lease_id = tb->lease_id;
		sb->job_id   = tb->job_id;
		sb->n        = tb->n;
		sb->ids      = malloc((tb->n + 1) * sizeof(*sb->ids));
		// The payloads, NUL-terminated, one after the other.
		sb->values = malloc(tb->payloads.size + tb->n + 1);
		if (sb->ids == NULL || sb->values == NULL) {
			die("malloc", NNG_ENOMEM);
		}
		tasq_blobs_iter_init(&it, &tb->payloads);
		for (size_t k = 0, at = 0; k < tb->n; k++) {
			const uint8_t *p;
			size_t         len;
			tasq_blobs_next(&it, &p, &len);
			sb->ids[k] = tb->ids[k];
			memcpy((char *) sb->values + at, p, len);
			((char *) sb->values)[at + len] = '\0';
			at += len + 1;
			printf("task lease=%" PRIu64 " job=%" PRIu64
			       " id=%" PRIu64 " type=%s",
			    tb->lease_id, tb->job_id, tb->ids[k], tb->type);
			print_item("payload", p, len);
			printf(" attempt=%" PRIu32 "\n", tb->attempt);
		}
		ntasks += tb->n;
	}
	printf("tlease status=OK tasks=%zu batches=%zu\n", ntasks,
	    rep.u.lease.nbatches);
	tasq_wire_rep_fini(&rep);
	return (0);
}

static int
session_tcomplete(struct session *ss, char **arg, size_t narg)
{
	tasq_req           req;
	tasq_rep           rep;
	tasq_result_batch *rb;
	uint64_t           code = 0;
	const char        *msg  = NULL;

	if (narg == 3 && strcmp(arg[0], "fail") == 0 &&
	    session_u64(arg[1], &code)) {
		msg = arg[2];
	} else if (narg != 0) {
		return (2);
	}
	if ((rb = calloc(ss->nhand + 1, sizeof(*rb))) == NULL) {
		die("calloc", NNG_ENOMEM);
	}
	for (size_t i = 0; i < ss->nhand; i++) {
		const struct session_batch *sb = &ss->hand[i];
		const char                 *p  = (const char *) sb->values;
		uint32_t                   *lens;
		uint8_t                    *data;
		size_t                      size = 0;

		rb[i].lease_id = sb->lease_id;
		rb[i].job_id   = sb->job_id;
		rb[i].n        = sb->n;
		rb[i].ids      = sb->ids;
		lens           = calloc(sb->n + 1, sizeof(*lens));
		data           = malloc(sb->n * 4 + 65536);
		rb[i].codes    = calloc(sb->n + 1, sizeof(uint32_t));
		rb[i].errors   = calloc(sb->n + 1, sizeof(char *));
		if (lens == NULL || data == NULL || rb[i].codes == NULL ||
		    rb[i].errors == NULL) {
			die("malloc", NNG_ENOMEM);
		}
		for (size_t k = 0; k < sb->n; k++, p += strlen(p) + 1) {
			if (msg != NULL) {
				rb[i].codes[k]  = (uint32_t) code;
				rb[i].errors[k] = msg;
				continue;
			}
			lens[k] = (uint32_t) snprintf(
			    (char *) data + size, 65536, "did:%s", p);
			size += lens[k];
		}
		rb[i].results = (tasq_blobs) { 0, lens, data, size };
	}
	memset(&req, 0, sizeof(req));
	req.method               = TASQ_M_COMPLETE;
	req.u.complete.worker_id = sender_id;
	req.u.complete.nresults  = ss->nhand;
	req.u.complete.results   = rb;
	if (session_call(ss, "tcomplete", &req, 0, &rep) == 0) {
		printf("tcomplete status=OK accepted=%" PRIu32
		       " duplicates=%" PRIu32 " late=%" PRIu32 "\n",
		    rep.u.complete.accepted, rep.u.complete.duplicates,
		    rep.u.complete.late);
		tasq_wire_rep_fini(&rep);
	}
	for (size_t i = 0; i < ss->nhand; i++) {
		free(rb[i].results.lens);
		free(rb[i].results.data);
		free(rb[i].codes);
		free(rb[i].errors);
	}
	free(rb);
	session_forget(ss);
	return (0);
}

static int
session_tfetch(struct session *ss, char **arg, size_t narg)
{
	tasq_req        req;
	tasq_rep        rep;
	uint64_t        job, max, wait;
	tasq_blobs_iter it;

	if (narg != 3 || !session_u64(arg[0], &job) ||
	    !session_u64(arg[1], &max) || !session_u64(arg[2], &wait) ||
	    max > UINT32_MAX || wait > UINT32_MAX / 2) {
		return (2);
	}
	if (job != ss->fetch_job) {
		ss->fetch_job = job;
		ss->fetch_seq = 0;
	}
	memset(&req, 0, sizeof(req));
	req.method              = TASQ_M_FETCH;
	req.u.fetch.job_id      = job;
	req.u.fetch.ack_seq     = ss->fetch_seq;
	req.u.fetch.max_results = (uint32_t) max;
	req.u.fetch.wait_ms     = (uint32_t) wait;
	if (session_call(ss, "tfetch", &req, (uint32_t) wait, &rep) != 0) {
		return (0);
	}
	tasq_blobs_iter_init(&it, &rep.u.fetch.results);
	for (size_t i = 0; i < rep.u.fetch.n; i++) {
		uint32_t code = rep.u.fetch.codes ? rep.u.fetch.codes[i] : 0;
		const char *e =
		    rep.u.fetch.errors ? rep.u.fetch.errors[i] : NULL;
		const uint8_t *p;
		size_t         len;
		tasq_blobs_next(&it, &p, &len);
		printf("result id=%" PRIu64 " code=%s", rep.u.fetch.ids[i],
		    tasq_err_name((int) code));
		print_item("result", p, len);
		printf(" error=%s\n", e != NULL ? e : "");
	}
	if (rep.u.fetch.seq != 0) {
		ss->fetch_seq = rep.u.fetch.seq;
	}
	printf("tfetch status=OK n=%zu submitted=%" PRIu64
	       " completed=%" PRIu64 " no_worker=%d\n",
	    rep.u.fetch.n, rep.u.fetch.submitted, rep.u.fetch.completed,
	    rep.u.fetch.no_worker ? 1 : 0);
	tasq_wire_rep_fini(&rep);
	return (0);
}

static int
session_dead(struct session *ss, char **arg, size_t narg)
{
	tasq_req req;
	tasq_rep rep;

	if (narg != 1) {
		return (2);
	}
	memset(&req, 0, sizeof(req));
	req.method               = TASQ_M_DEAD_LIST;
	req.u.dead_list.queue    = strcmp(arg[0], "-") == 0 ? "" : arg[0];
	req.u.dead_list.payloads = true;
	if (session_call(ss, "dead", &req, 0, &rep) != 0) {
		return (0);
	}
	for (size_t i = 0; i < rep.u.dead_list.n; i++) {
		const tasq_dead_letter *d = &rep.u.dead_list.letters[i];
		printf("dead id=%" PRIu64 " job=%" PRIu64 " task=%" PRIu64
		       " type=%s",
		    d->id, d->job_id, d->task_id, d->type);
		print_item("payload", d->payload, d->payload_size);
		printf(" attempts=%" PRIu32 " code=%s error=%s\n", d->attempts,
		    tasq_err_name((int) d->code), d->error ? d->error : "");
	}
	printf("dead status=OK n=%zu total=%" PRIu64 "\n", rep.u.dead_list.n,
	    rep.u.dead_list.total);
	tasq_wire_rep_fini(&rep);
	return (0);
}

static int
session_purge(struct session *ss, char **arg, size_t narg)
{
	tasq_req req;
	tasq_rep rep;
	uint64_t ids[256];
	size_t   n = 0;

	memset(&req, 0, sizeof(req));
	req.method = TASQ_M_DEAD_PURGE;
	if (narg == 2 && strcmp(arg[0], "all") == 0) {
		req.u.dead_purge.all = true;
		req.u.dead_purge.queue =
		    strcmp(arg[1], "-") == 0 ? "" : arg[1];
	} else {
		for (; n < narg && n < 256; n++) {
			if (!session_u64(arg[n], &ids[n])) {
				return (2);
			}
		}
		req.u.dead_purge.n   = n;
		req.u.dead_purge.ids = ids;
	}
	if (session_call(ss, "purge", &req, 0, &rep) == 0) {
		printf("purge status=OK purged=%" PRIu64 "\n",
		    rep.u.dead_purge.purged);
		tasq_wire_rep_fini(&rep);
	}
	return (0);
}

static int
cmd_session(const char *url)
{
	struct session ss;
	char           line[65536];
	int            rv = 0;

	memset(&ss, 0, sizeof(ss));
	ss.url = url;
	if (session_connect(&ss) != 0) {
		return (1);
	}
	while (rv == 0 && fgets(line, sizeof(line), stdin) != NULL) {
		char  *arg[4096], *save = NULL, *tok;
		size_t narg = 0;

		for (tok = strtok_r(line, " \t\r\n", &save);
		     tok != NULL && narg < sizeof(arg) / sizeof(arg[0]);
		     tok = strtok_r(NULL, " \t\r\n", &save)) {
			arg[narg++] = tok;
		}
		if (narg == 0) {
			continue;
		}
		if (strcmp(arg[0], "submit") == 0) {
			rv = session_submit(&ss, arg + 1, narg - 1);
		} else if (strcmp(arg[0], "tsubmit") == 0) {
			rv = session_tsubmit(&ss, arg + 1, narg - 1);
		} else if (strcmp(arg[0], "tlease") == 0) {
			rv = session_tlease(&ss, arg + 1, narg - 1);
		} else if (strcmp(arg[0], "tcomplete") == 0) {
			rv = session_tcomplete(&ss, arg + 1, narg - 1);
		} else if (strcmp(arg[0], "tfetch") == 0) {
			rv = session_tfetch(&ss, arg + 1, narg - 1);
		} else if (strcmp(arg[0], "dead") == 0) {
			rv = session_dead(&ss, arg + 1, narg - 1);
		} else if (strcmp(arg[0], "purge") == 0) {
			rv = session_purge(&ss, arg + 1, narg - 1);
		} else if (strcmp(arg[0], "lease") == 0) {
			rv = session_lease(&ss, arg + 1, narg - 1);
		} else if (strcmp(arg[0], "complete") == 0) {
			rv = session_complete(&ss, arg + 1, narg - 1);
		} else if (strcmp(arg[0], "extend") == 0 && narg == 1) {
			rv = session_leases(&ss, false);
		} else if (strcmp(arg[0], "release") == 0 && narg == 1) {
			rv = session_leases(&ss, true);
		} else if (strcmp(arg[0], "forget") == 0 && narg == 1) {
			session_forget(&ss);
			printf("forget status=OK\n");
		} else if (strcmp(arg[0], "fetch") == 0) {
			rv = session_fetch(&ss, arg + 1, narg - 1);
		} else if (strcmp(arg[0], "close") == 0) {
			rv = session_close(&ss, arg + 1, narg - 1);
		} else if (strcmp(arg[0], "reconnect") == 0 && narg == 1) {
			session_forget(&ss);
			tasq_chan_close(ss.chan);
			ss.chan = NULL;
			if ((rv = session_connect(&ss)) != 0) {
				rv = 1;
				break;
			}
			printf("reconnect status=OK\n");
		} else {
			rv = 2;
		}
		if (rv == 2) {
			fprintf(stderr, "tasq_raw: session: bad command: %s\n",
			    arg[0]);
			break;
		}
		printf(".\n");
		fflush(stdout);
	}
	session_forget(&ss);
	free(ss.hand);
	tasq_chan_close(ss.chan);
	return (rv);
}

static void
load_key(const char *path)
{
	char err[512];
	int  rv;

	if ((rv = tasq_keyring_setup(path, &keys, err, sizeof(err))) != 0) {
		fprintf(stderr, "tasq_raw: %s\n", err);
		exit(2);
	}
}

static long
number(const char *s)
{
	char *end;
	long  v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 0) {
		usage();
	}
	return (v);
}

int
main(int argc, char **argv)
{
	const char *url, *cmd, *key_file = NULL;
	long        arg  = -1;
	uint64_t    seed = 0;
	nng_socket  s;
	int         rv = 2, i;

	if (argc < 3) {
		usage();
	}
	url = argv[1];
	cmd = argv[2];
	i   = 3;
	if (strcmp(cmd, "garbage") == 0 || strcmp(cmd, "method") == 0 ||
	    strcmp(cmd, "bigsubmit") == 0 || strcmp(cmd, "badstring") == 0 ||
	    strcmp(cmd, "leaseflood") == 0) {
		if (argc < 4) {
			usage();
		}
		arg = number(argv[3]);
		i   = 4;
	}
	for (; i < argc; i++) {
		if (strcmp(argv[i], "--key-file") == 0 && i + 1 < argc) {
			key_file = argv[++i];
		} else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
			seed = (uint64_t) number(argv[++i]);
		} else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			timeout_ms = (int) number(argv[++i]);
		} else {
			usage();
		}
	}
	if (key_file != NULL) {
		load_key(key_file);
	} else if (strcmp(cmd, "garbage") != 0) {
		fprintf(stderr, "tasq_raw: %s needs --key-file\n", cmd);
		return (2);
	}
	if (seed == 0) {
		seed = (uint64_t) time(NULL) ^ ((uint64_t) clock() << 20);
	}
	rng_state = seed;
	sender_id = tasq_random64();
	fprintf(
	    stderr, "tasq_raw: %s %s (seed %" PRIu64 ")\n", url, cmd, seed);
	if (strcmp(cmd, "session") == 0) {
		// One connection of its own, held across commands.
		rv = cmd_session(url);
		tasq_keyring_free(keys);
		return (rv);
	}
	open_socket(url, &s);

	if (strcmp(cmd, "garbage") == 0) {
		rv = cmd_garbage(s, arg);
	} else if (strcmp(cmd, "method") == 0) {
		if (arg > 65535) {
			usage();
		}
		rv = send_one(s, (uint16_t) arg, keys, 0);
	} else if (strcmp(cmd, "health") == 0) {
		rv = send_one(s, TASQ_M_HEALTH, keys, 0);
	} else if (strcmp(cmd, "replay") == 0) {
		rv = cmd_replay(s);
	} else if (strcmp(cmd, "stale") == 0) {
		// A day old: outside any sane clock-skew window.
		rv = send_one(s, TASQ_M_HEALTH, keys, 86400000);
	} else if (strcmp(cmd, "wrongkey") == 0) {
		rv = cmd_wrongkey(s);
	} else if (strcmp(cmd, "bigsubmit") == 0) {
		rv = cmd_bigsubmit(s, arg);
	} else if (strcmp(cmd, "badstring") == 0) {
		rv = cmd_badstring(s, arg);
	} else if (strcmp(cmd, "leaseflood") == 0) {
		rv = cmd_leaseflood(s, arg);
	} else {
		nng_close(s);
		usage();
	}
	nng_close(s);
	tasq_keyring_free(keys);
	return (rv);
}
