// Unit tests of server/heartbeat: the address derivation, the check of
// one message (envelope, tag, key, replay window, method, body), and the
// PULL socket on loopback: valid heartbeats are counted as received,
// refused ones by cause, and close/stop/free are clean.
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/supplemental/util/platform.h>

#include "auth.h"
#include "broker.h"
#include "chan.h"
#include "clock.h"
#include "err.h"
#include "heartbeat.h"
#include "replay.h"
#include "server.h"
#include "tasq_test.h"
#include "wire.h"

static const uint8_t key1[32] = "0123456789abcdef0123456789abcde";
static const uint8_t key2[32] = "fedcba9876543210fedcba987654321";

static tasq_keyring *
ring(const uint8_t *key)
{
	tasq_keyring *kr;

	ASSERT_OK(tasq_keyring_alloc(&kr));
	ASSERT_OK(tasq_keyring_add(kr, key, 32, NULL));
	return (kr);
}

// A heartbeat as a worker sends it: an Extend request of n lease ids,
// sealed by kr (NULL: unsigned) from sender with seq, stamped ts_ms.
static nng_msg *
beat(const tasq_keyring *kr, int method, int kind, uint64_t sender,
    uint64_t seq, uint64_t ts_ms, size_t n)
{
	uint64_t     ids[8] = { 11, 12, 13, 14, 15, 16, 17, 18 };
	tasq_req     req;
	tasq_env_hdr h;
	nng_msg     *m;

	memset(&req, 0, sizeof(req));
	req.method             = method;
	req.u.extend.worker_id = 77;
	req.u.extend.n         = n;
	req.u.extend.lease_ids = ids;
	ASSERT_OK(tasq_wire_encode_req(&req, &m));
	memset(&h, 0, sizeof(h));
	h.kind         = (uint8_t) kind;
	h.sender_id    = sender;
	h.seq          = seq;
	h.timestamp_ms = ts_ms;
	h.method       = (uint16_t) method;
	ASSERT_OK(tasq_auth_seal(kr, &h, m));
	return (m);
}

static int
check(const tasq_keyring *kr, tasq_replay *rp, nng_msg *m, int *ctr)
{
	tasq_req    req;
	const char *why = NULL;
	int         rv;

	*ctr = -1;
	rv   = tasq_heartbeat_check(kr, rp, nng_msg_body(m), nng_msg_len(m),
	      tasq_clock_stamp_ms(), &req, ctr, &why);
	if (rv == 0) {
		ASSERT_EQ(req.method, TASQ_M_EXTEND);
		tasq_wire_req_fini(&req);
	} else {
		ASSERT_NOT_NULL(why);
	}
	nng_msg_free(m);
	return (rv);
}

TEST(default_url_is_the_next_port_or_path_hb)
{
	char buf[128];

	ASSERT_OK(tasq_heartbeat_default_url(
	    "tcp://0.0.0.0:7070", buf, sizeof(buf)));
	ASSERT_STR_EQ(buf, "tcp://0.0.0.0:7071");
	ASSERT_OK(tasq_heartbeat_default_url(
	    "tls+tcp://[::1]:7070", buf, sizeof(buf)));
	ASSERT_STR_EQ(buf, "tls+tcp://[::1]:7071");
	ASSERT_OK(
	    tasq_heartbeat_default_url("tcp://127.0.0.1:0", buf, sizeof(buf)));
	ASSERT_STR_EQ(buf, "tcp://127.0.0.1:0");
	ASSERT_OK(tasq_heartbeat_default_url(
	    "ipc:///tmp/tasq.sock", buf, sizeof(buf)));
	ASSERT_STR_EQ(buf, "ipc:///tmp/tasq.sock.hb");
	ASSERT_RV(tasq_heartbeat_default_url(
	              "tcp://127.0.0.1:65535", buf, sizeof(buf)),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_RV(tasq_heartbeat_default_url("tcp://[::1]", buf, sizeof(buf)),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_RV(tasq_heartbeat_default_url("tcp://h:x1", buf, sizeof(buf)),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_RV(tasq_heartbeat_default_url("nonsense", buf, sizeof(buf)),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_RV(tasq_heartbeat_default_url("tcp://h:7070", buf, 8),
	    TASQ_EINVALID_ARGUMENT);
}

TEST(check_accepts_a_signed_extend_once)
{
	tasq_keyring *kr = ring(key1);
	tasq_replay  *rp;
	uint64_t      now = tasq_clock_stamp_ms();
	tasq_req      req;
	const char   *why;
	int           ctr;
	nng_msg      *m;

	ASSERT_OK(tasq_replay_alloc(&rp, 16, 60000, 0, 0));
	m = beat(kr, TASQ_M_EXTEND, TASQ_ENV_REQUEST, 5, 100, now, 3);
	ASSERT_OK(tasq_heartbeat_check(
	    kr, rp, nng_msg_body(m), nng_msg_len(m), now, &req, &ctr, &why));
	ASSERT_EQ(req.u.extend.worker_id, 77);
	ASSERT_EQ(req.u.extend.n, 3);
	ASSERT_EQ(req.u.extend.lease_ids[2], 13);
	tasq_wire_req_fini(&req);
	// The same bytes again: a replay.
	ASSERT_RV(tasq_heartbeat_check(kr, rp, nng_msg_body(m), nng_msg_len(m),
	              now, &req, &ctr, &why),
	    TASQ_EUNAUTHENTICATED);
	ASSERT_EQ(ctr, TASQ_CTR_REPLAYS);
	nng_msg_free(m);
	// The next seq of the same sender is fresh.
	m = beat(kr, TASQ_M_EXTEND, TASQ_ENV_REQUEST, 5, 101, now, 1);
	ASSERT_OK(check(kr, rp, m, &ctr));
	tasq_replay_free(rp);
	tasq_keyring_free(kr);
}

TEST(check_refuses_and_names_the_counter)
{
	tasq_keyring *kr    = ring(key1);
	tasq_keyring *other = ring(key2);
	tasq_replay  *rp;
	uint64_t      now = tasq_clock_stamp_ms();
	uint8_t       junk[100];
	tasq_req      req;
	const char   *why;
	int           ctr;
	nng_msg      *m;

	ASSERT_OK(tasq_replay_alloc(&rp, 16, 60000, 0, 0));
	// Not an envelope.
	for (size_t i = 0; i < sizeof(junk); i++) {
		junk[i] = (uint8_t) (i * 37 + 1);
	}
	ASSERT_RV(tasq_heartbeat_check(
	              kr, rp, junk, sizeof(junk), now, &req, &ctr, &why),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_EQ(ctr, TASQ_CTR_MALFORMED);
	ASSERT_RV(tasq_heartbeat_check(kr, rp, junk, 0, now, &req, &ctr, &why),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_EQ(ctr, TASQ_CTR_MALFORMED);
	// Unsigned, and signed with a key the server does not hold.
	m = beat(NULL, TASQ_M_EXTEND, TASQ_ENV_REQUEST, 6, 1, now, 1);
	ASSERT_RV(check(kr, rp, m, &ctr), TASQ_EUNAUTHENTICATED);
	ASSERT_EQ(ctr, TASQ_CTR_AUTH_FAILURES);
	m = beat(other, TASQ_M_EXTEND, TASQ_ENV_REQUEST, 6, 2, now, 1);
	ASSERT_RV(check(kr, rp, m, &ctr), TASQ_EUNAUTHENTICATED);
	ASSERT_EQ(ctr, TASQ_CTR_AUTH_FAILURES);
	// A flipped body byte breaks the tag.
	m = beat(kr, TASQ_M_EXTEND, TASQ_ENV_REQUEST, 6, 3, now, 2);
	((uint8_t *) nng_msg_body(m))[TASQ_ENV_HDR_LEN] ^= 1;
	ASSERT_RV(check(kr, rp, m, &ctr), TASQ_EUNAUTHENTICATED);
	ASSERT_EQ(ctr, TASQ_CTR_AUTH_FAILURES);
	// Stamped outside the clock window, either way.
	m = beat(kr, TASQ_M_EXTEND, TASQ_ENV_REQUEST, 6, 4, now - 120000, 1);
	ASSERT_RV(check(kr, rp, m, &ctr), TASQ_EUNAUTHENTICATED);
	ASSERT_EQ(ctr, TASQ_CTR_REPLAYS);
	m = beat(kr, TASQ_M_EXTEND, TASQ_ENV_REQUEST, 6, 5, now + 120000, 1);
	ASSERT_RV(check(kr, rp, m, &ctr), TASQ_EUNAUTHENTICATED);
	ASSERT_EQ(ctr, TASQ_CTR_REPLAYS);
	// Signed, but another method, or a reply.
	m = beat(kr, TASQ_M_RELEASE, TASQ_ENV_REQUEST, 6, 6, now, 1);
	ASSERT_RV(check(kr, rp, m, &ctr), TASQ_EINVALID_ARGUMENT);
	ASSERT_EQ(ctr, TASQ_CTR_BAD_REQUESTS);
	m = beat(kr, TASQ_M_EXTEND, TASQ_ENV_REPLY, 6, 7, now, 1);
	ASSERT_RV(check(kr, rp, m, &ctr), TASQ_EINVALID_ARGUMENT);
	ASSERT_EQ(ctr, TASQ_CTR_BAD_REQUESTS);
	// Signed Extend whose body is not an ExtendRequest.
	{
		tasq_env_hdr h;
		uint8_t      bad[] = { 0xff, 0xff, 0xff, 0xff, 0x0f };
		ASSERT_OK(nng_msg_alloc(&m, TASQ_ENV_HDR_LEN));
		ASSERT_OK(nng_msg_append(m, bad, sizeof(bad)));
		memset(&h, 0, sizeof(h));
		h.kind         = TASQ_ENV_REQUEST;
		h.sender_id    = 6;
		h.seq          = 8;
		h.timestamp_ms = now;
		h.method       = TASQ_M_EXTEND;
		ASSERT_OK(tasq_auth_seal(kr, &h, m));
		ASSERT_RV(check(kr, rp, m, &ctr), TASQ_EINVALID_ARGUMENT);
		ASSERT_EQ(ctr, TASQ_CTR_BAD_REQUESTS);
	}
	// None of the refusals above took a sender's place, or its seq:
	// only the replay check of sender 6 (a valid tag) did.
	m = beat(kr, TASQ_M_EXTEND, TASQ_ENV_REQUEST, 6, 9, now, 1);
	ASSERT_OK(check(kr, rp, m, &ctr));
	tasq_replay_free(rp);
	tasq_keyring_free(other);
	tasq_keyring_free(kr);
}

// Polls counter until it reaches want (5 s at most).
static bool
counter_reaches(tasq_stats *st, int counter, uint64_t want)
{
	nng_time until = nng_clock() + 5000;

	while (tasq_stats_get(st, counter) < want) {
		if (nng_clock() >= until) {
			return (false);
		}
		nng_msleep(10);
	}
	return (true);
}

static atomic_int dropped;

static void
dropped_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void) p;
	(void) ev;
	(void) arg;
	atomic_fetch_add(&dropped, 1);
}

static void
wake_cb(tasq_waiter *w)
{
	(void) w;
}

TEST(pull_socket_counts_received_and_refused)
{
	tasq_keyring       *kr    = ring(key1);
	tasq_keyring       *other = ring(key2);
	tasq_replay        *rp;
	tasq_broker        *b;
	tasq_heartbeat     *hb;
	tasq_broker_conf    bc = { .max_tasks = 100,
		   .max_batch                 = 10,
		   .max_queues                = 2,
		   .max_jobs                  = 2,
		   .max_workers               = 2,
		   .lease_ms                  = 1000,
		   .max_attempts              = 3,
		   .job_ttl_ms                = 60000,
		   .max_fetch                 = 10,
		   .max_lease                 = 10 };
	tasq_stats         *st;
	tasq_heartbeat_conf hc = {
		.url = "tcp://127.0.0.1:0", .keys = kr, .max_conns = 4
	};
	nng_socket push;
	char       err[256], url[128];
	uint8_t    junk[64] = { 0x54, 0x51, 1, 1 };
	uint64_t   now      = tasq_clock_stamp_ms();
	nng_msg   *m;

	ASSERT_OK(tasq_replay_alloc(&rp, 16, 60000, 0, 0));
	// The heartbeat port counts in the server's registry, not the
	// broker's (which has one of its own here, and must stay at 0).
	ASSERT_OK(tasq_stats_alloc(&st));
	hc.stats = st;
	ASSERT_OK(tasq_broker_alloc(&b, &bc, wake_cb));
	ASSERT_OK(tasq_heartbeat_start(&hb, &hc, b, rp, err, sizeof(err)));
	ASSERT_GT(tasq_heartbeat_bound_port(hb), 0);
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%u",
	    tasq_heartbeat_bound_port(hb));
	ASSERT_STR_EQ(tasq_heartbeat_url(hb), url);
	ASSERT_OK(nng_push0_open(&push));
	ASSERT_OK(nng_dial(push, url, NULL, 0));
	// One valid beat, then garbage, a wrong key and a replay; then a
	// valid one again: the socket keeps taking them.
	m = beat(kr, TASQ_M_EXTEND, TASQ_ENV_REQUEST, 9, 1, now, 2);
	ASSERT_OK(nng_sendmsg(push, m, 0));
	ASSERT_TRUE(counter_reaches(st, TASQ_CTR_HEARTBEATS_RECEIVED, 1));
	ASSERT_OK(nng_send(push, junk, sizeof(junk), 0));
	m = beat(other, TASQ_M_EXTEND, TASQ_ENV_REQUEST, 9, 2, now, 2);
	ASSERT_OK(nng_sendmsg(push, m, 0));
	m = beat(kr, TASQ_M_EXTEND, TASQ_ENV_REQUEST, 9, 1, now, 2);
	ASSERT_OK(nng_sendmsg(push, m, 0));
	ASSERT_TRUE(counter_reaches(st, TASQ_CTR_HEARTBEATS_REFUSED, 3));
	ASSERT_EQ(tasq_stats_get(st, TASQ_CTR_MALFORMED), 1);
	ASSERT_EQ(tasq_stats_get(st, TASQ_CTR_AUTH_FAILURES), 1);
	ASSERT_EQ(tasq_stats_get(st, TASQ_CTR_REPLAYS), 1);
	m = beat(kr, TASQ_M_EXTEND, TASQ_ENV_REQUEST, 9, 3, now, 2);
	ASSERT_OK(nng_sendmsg(push, m, 0));
	ASSERT_TRUE(counter_reaches(st, TASQ_CTR_HEARTBEATS_RECEIVED, 2));
	// A message over the size limit ends its connection, not the
	// socket: the other connection is still served. (On a socket of its
	// own, closed unused: nng 1.5.2's PUSH can crash sending again on a
	// socket whose connection the peer closed while a send completed,
	// upstream issue 1653; worker/keepalive.c replaces such a socket.)
	{
		size_t     big = TASQ_HEARTBEAT_MAX_BYTES + 1;
		uint8_t   *p   = calloc(1, big);
		nng_socket push2;
		ASSERT_NOT_NULL(p);
		nng_time until = nng_clock() + 5000;
		ASSERT_OK(nng_push0_open(&push2));
		ASSERT_OK(nng_pipe_notify(
		    push2, NNG_PIPE_EV_REM_POST, dropped_cb, NULL));
		ASSERT_OK(nng_dial(push2, url, NULL, 0));
		ASSERT_OK(nng_send(push2, p, big, 0));
		free(p);
		// The server drops that connection.
		while (atomic_load(&dropped) == 0 && nng_clock() < until) {
			nng_msleep(10);
		}
		ASSERT_EQ(atomic_load(&dropped), 1);
		nng_close(push2);
	}
	// Beats sent while the push socket redials may be lost (that is
	// the channel's contract): send until one arrives, bounded.
	for (uint64_t seq = 4;
	     tasq_stats_get(st, TASQ_CTR_HEARTBEATS_RECEIVED) < 3; seq++) {
		ASSERT_LT(seq, 200);
		m = beat(kr, TASQ_M_EXTEND, TASQ_ENV_REQUEST, 9, seq, now, 2);
		ASSERT_OK(nng_sendmsg(push, m, 0));
		nng_msleep(25);
	}
	tasq_heartbeat_close(hb);
	tasq_heartbeat_close(hb);
	ASSERT_OK(tasq_heartbeat_stop(hb));
	ASSERT_OK(tasq_heartbeat_stop(hb));
	tasq_heartbeat_free(hb);
	tasq_heartbeat_free(NULL);
	nng_close(push);
	ASSERT_EQ(tasq_broker_counter(b, TASQ_CTR_HEARTBEATS_RECEIVED), 0);
	ASSERT_EQ(tasq_broker_counter(b, TASQ_CTR_HEARTBEATS_REFUSED), 0);
	ASSERT_EQ(tasq_broker_counter(b, TASQ_CTR_AUTH_FAILURES), 0);
	tasq_broker_free(b);
	tasq_stats_free(st);
	tasq_replay_free(rp);
	tasq_keyring_free(other);
	tasq_keyring_free(kr);
}

TEST(start_fails_cleanly_on_a_bad_address)
{
	tasq_keyring       *kr = ring(key1);
	tasq_replay        *rp;
	tasq_broker        *b;
	tasq_heartbeat     *hb = NULL;
	tasq_broker_conf    bc = { .max_tasks = 10,
		   .max_batch                 = 10,
		   .max_queues                = 1,
		   .max_jobs                  = 1,
		   .max_workers               = 1,
		   .lease_ms                  = 1000,
		   .max_attempts              = 1,
		   .job_ttl_ms                = 60000,
		   .max_fetch                 = 10,
		   .max_lease                 = 10 };
	tasq_heartbeat_conf hc = { .url = "tcp://127.0.0.1:notaport",
		.keys                   = kr };
	char                err[256];

	ASSERT_OK(tasq_replay_alloc(&rp, 16, 60000, 0, 0));
	ASSERT_OK(tasq_broker_alloc(&b, &bc, wake_cb));
	ASSERT_NE(tasq_heartbeat_start(&hb, &hc, b, rp, err, sizeof(err)), 0);
	ASSERT_STR_CONTAINS(err, "heartbeat");
	ASSERT_NULL(hb);
	tasq_broker_free(b);
	tasq_replay_free(rp);
	tasq_keyring_free(kr);
}

static char ready_path[64];

// A server (no journal) on loopback port 0 with the heartbeat address hb,
// writing its URL to ready_path.
static void
server_conf(
    tasq_server_conf *sc, tasq_keyring *kr, const char *hb, bool derived)
{
	snprintf(ready_path, sizeof(ready_path), "/tmp/tasq-hb-test.%d",
	    (int) getpid());
	*sc = (tasq_server_conf) {
		.broker            = { .max_tasks = 100,
		               .max_batch         = 10,
		               .max_queues        = 2,
		               .max_jobs          = 2,
		               .max_workers       = 2,
		               .lease_ms          = 1000,
		               .max_attempts      = 3,
		               .job_ttl_ms        = 60000,
		               .max_fetch         = 10,
		               .max_lease         = 10 },
		.service           = { .max_wait_ms = 1000 },
		.rpc               = { .url      = "tcp://127.0.0.1:0",
		                  .keys          = kr,
		                  .max_msg_bytes = 1 << 20,
		                  .contexts      = 4,
		                  .max_conns     = 8,
		                  .max_inflight  = 4 },
		.skew_ms           = 60000,
		.idle_ms           = 60000,
		.ready_file        = ready_path,
		.heartbeat_listen  = hb,
		.heartbeat_derived = derived,
	};
}

// HealthReply.heartbeat_port of the server that wrote ready_path.
static uint32_t
health_port(tasq_keyring *kr)
{
	tasq_chan     *c;
	tasq_chan_opts co = { .keys = kr,
		.connect_timeout_ms = 5000,
		.max_msg_bytes      = 1 << 20 };
	tasq_req       req;
	tasq_rep       rep;
	char           url[128], err[256];
	uint32_t       hb;
	FILE          *f = fopen(ready_path, "r");

	ASSERT_NOT_NULL(f);
	ASSERT_NOT_NULL(fgets(url, sizeof(url), f));
	fclose(f);
	unlink(ready_path);
	url[strcspn(url, "\n")] = '\0';
	co.url                  = url;
	memset(&req, 0, sizeof(req));
	req.method = TASQ_M_HEALTH;
	ASSERT_OK(tasq_chan_open(&c, &co, err, sizeof(err)));
	ASSERT_OK(tasq_chan_call(c, &req, 5000, &rep, err, sizeof(err)));
	hb = rep.u.health.heartbeat_port;
	tasq_wire_rep_fini(&rep);
	tasq_chan_close(c);
	return (hb);
}

TEST(health_names_the_port_and_only_an_explicit_address_is_fatal)
{
	tasq_keyring    *kr = ring(key1);
	tasq_server_conf sc;
	tasq_server     *a, *b;
	char             err[512], taken[64];
	uint32_t         port;

	// A server with a heartbeat port names it in Health.
	server_conf(&sc, kr, "tcp://127.0.0.1:0", false);
	ASSERT_OK(tasq_server_alloc(&a, &sc, err, sizeof(err)));
	ASSERT_OK(tasq_server_start(a, err, sizeof(err)));
	port = health_port(kr);
	ASSERT_GT(port, 0);
	snprintf(taken, sizeof(taken), "tcp://127.0.0.1:%u", port);
	// Another on the same heartbeat address: fatal when asked for ...
	server_conf(&sc, kr, taken, false);
	ASSERT_OK(tasq_server_alloc(&b, &sc, err, sizeof(err)));
	ASSERT_NE(tasq_server_start(b, err, sizeof(err)), 0);
	ASSERT_STR_CONTAINS(err, "heartbeat");
	tasq_server_free(b);
	// ... but only a warning when it was the derived default: the
	// server serves, and Health says there is no heartbeat port.
	server_conf(&sc, kr, taken, true);
	ASSERT_OK(tasq_server_alloc(&b, &sc, err, sizeof(err)));
	ASSERT_OK(tasq_server_start(b, err, sizeof(err)));
	ASSERT_EQ(health_port(kr), 0);
	tasq_server_free(b);
	// Without one, Health says 0 too.
	server_conf(&sc, kr, NULL, false);
	ASSERT_OK(tasq_server_alloc(&b, &sc, err, sizeof(err)));
	ASSERT_OK(tasq_server_start(b, err, sizeof(err)));
	ASSERT_EQ(health_port(kr), 0);
	tasq_server_free(b);
	tasq_server_free(a);
	tasq_keyring_free(kr);
}

// What the stress below sends on: plain TCP sockets that speak PUSH's
// SP handshake, then stream frames, from one thread (not nng's PUSH:
// nng 1.5.2's can crash sending on a socket whose connection the peer
// closed while a send completed, upstream issue 1653).
struct stream {
	int         fd[4];
	atomic_bool stop;
};

static void
stream_main(void *arg)
{
	struct stream *st = arg;
	static uint8_t frame[8 + 4096]; // header and body: two reads each
	bool           dead[4] = { false };
	unsigned       i       = 0;

	frame[6] = 4096 >> 8; // the length, big-endian: 4096
	while (!atomic_load(&st->stop)) {
		int k = (int) (i++ % 4);
		if (!dead[k] &&
		    send(st->fd[k], frame, sizeof(frame),
		        MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
		    errno != EAGAIN && errno != EWOULDBLOCK) {
			dead[k] = true;
		}
		if (i % 64 == 0) {
			nng_msleep(1);
		}
	}
}

// A TCP connection to 127.0.0.1:port that has sent PUSH's SP header.
static int
push_peer(int port)
{
	static const uint8_t hdr[8] = { 0, 'S', 'P', 0, 0, 0x50, 0, 0 };
	struct sockaddr_in   sa     = { .sin_family = AF_INET,
		      .sin_port                     = htons((uint16_t) port) };
	int                  fd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT_TRUE((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	ASSERT_EQ(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
	ASSERT_EQ(send(fd, hdr, sizeof(hdr), MSG_NOSIGNAL), 8);
	return (fd);
}

// Stopped while bytes keep arriving on every connection, the heartbeat
// port closes every time, within its bound (nng 1.5.2: a connection
// closed from above while a frame is arriving never finishes its
// receive, and nng_close waits for it: tasq_heartbeat_stop's drain ends
// them from below first). A race: without the drain, this failed 13
// runs of 40 (the stop gave up on nng_close after 2 s).
TEST(stop_under_a_stream_of_bytes_closes)
{
	// unit.heartbeat_stream runs it (with nng's leaks there ignored,
	// heartbeat_test.lsan); unit.heartbeat runs the rest.
	if (getenv("TASQ_TEST_HB_STREAM") == NULL) {
		return;
	}
	tasq_keyring    *kr = ring(key1);
	tasq_replay     *rp;
	tasq_broker     *b;
	tasq_stats      *st;
	tasq_broker_conf bc = { .max_tasks = 100,
		.max_batch                 = 10,
		.max_queues                = 2,
		.max_jobs                  = 2,
		.max_workers               = 2,
		.lease_ms                  = 1000,
		.max_attempts              = 3,
		.job_ttl_ms                = 60000,
		.max_fetch                 = 10,
		.max_lease                 = 10 };

	ASSERT_OK(tasq_replay_alloc(&rp, 16, 60000, 0, 0));
	ASSERT_OK(tasq_stats_alloc(&st));
	ASSERT_OK(tasq_broker_alloc(&b, &bc, wake_cb));
	for (int round = 0; round < 20; round++) {
		tasq_heartbeat     *hb;
		tasq_heartbeat_conf hc = { .url = "tcp://127.0.0.1:0",
			.keys                   = kr,
			.stats                  = st,
			.max_conns              = 8 };
		struct stream       s;
		nng_thread         *t;
		char                err[256];

		ASSERT_OK(
		    tasq_heartbeat_start(&hb, &hc, b, rp, err, sizeof(err)));
		atomic_init(&s.stop, false);
		for (int i = 0; i < 4; i++) {
			s.fd[i] =
			    push_peer((int) tasq_heartbeat_bound_port(hb));
		}
		ASSERT_OK(nng_thread_create(&t, stream_main, &s));
		// Until bytes have been taken (and refused: not envelopes).
		ASSERT_TRUE(counter_reaches(
		    st, TASQ_CTR_HEARTBEATS_REFUSED, (uint64_t) round + 1));
		nng_time t0 = nng_clock();
		ASSERT_OK(tasq_heartbeat_stop(hb));
		ASSERT_LT(
		    nng_clock() - t0, (nng_time) TASQ_HEARTBEAT_CLOSE_MS);
		ASSERT_FALSE(tasq_heartbeat_abandoned());
		tasq_heartbeat_free(hb);
		atomic_store(&s.stop, true);
		nng_thread_destroy(t);
		for (int i = 0; i < 4; i++) {
			close(s.fd[i]);
		}
	}
	tasq_broker_free(b);
	tasq_stats_free(st);
	tasq_replay_free(rp);
	tasq_keyring_free(kr);
}

TASQ_TEST_MAIN()
