// Unit tests of lib/chan against a scripted fake server (a REP socket on
// inproc, answered by a thread): requests are stamped with the time the
// server's authenticated replies teach, a signed refusal of a stamp is
// retried with the time it taught, and unsigned or misdirected replies
// teach nothing. Also: tasq_chan_open frees everything when the socket
// cannot be opened (nng_req0_open is wrapped at link time, see
// CMakeLists.txt), and its dial toward a port that never answers (a
// listener whose accept queue is full: the kernel drops the SYNs) ends
// at its limit or when its canceller fires.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/util/platform.h>

#include "auth.h"
#include "chan.h"
#include "clock.h"
#include "err.h"
#include "tasq_test.h"
#include "wire.h"

#define KEY "chan-test-key-0123456789abcdef"
#define HOUR UINT64_C(3600000)

// ---- the link-time hooks -------------------------------------------------

int        __real_nng_req0_open(nng_socket *);
int        __wrap_nng_req0_open(nng_socket *);
int        __real_nng_mtx_alloc(nng_mtx **);
int        __wrap_nng_mtx_alloc(nng_mtx **);
void       __real_nng_mtx_free(nng_mtx *);
void       __wrap_nng_mtx_free(nng_mtx *);
static int fail_req0_open; // the next nng_req0_open fails with this
static int mtx_live;       // mutexes allocated and not freed

int
__wrap_nng_req0_open(nng_socket *s)
{
	int rv = fail_req0_open;

	if (rv != 0) {
		fail_req0_open = 0;
		return (rv);
	}
	return (__real_nng_req0_open(s));
}

int
__wrap_nng_mtx_alloc(nng_mtx **mp)
{
	int rv = __real_nng_mtx_alloc(mp);

	if (rv == 0) {
		mtx_live++;
	}
	return (rv);
}

void
__wrap_nng_mtx_free(nng_mtx *m)
{
	if (m != NULL) {
		mtx_live--;
	}
	__real_nng_mtx_free(m);
}

// ---- the fake server -----------------------------------------------------

enum answer {
	A_SIGNED_OK,        // a signed Health reply
	A_SIGNED_REFUSAL,   // a signed UNAUTHENTICATED (stale stamp)
	A_UNSIGNED_REFUSAL, // an unsigned UNAUTHENTICATED
	A_SIGNED_OTHER_SEQ, // a signed Health reply to another seq
};

#define MAXSTEPS 8

struct fake {
	nng_socket    sock;
	tasq_keyring *keys;
	int           nsteps;
	enum answer   answer[MAXSTEPS];
	uint64_t      stamp[MAXSTEPS]; // what each answer says the time is
	uint64_t      got_ts[MAXSTEPS];
	int           ngot;
};

static void
fake_serve(void *arg)
{
	struct fake *f = arg;

	for (int i = 0; i < f->nsteps; i++) {
		nng_msg       *m, *r;
		tasq_env_hdr   h, rh;
		const uint8_t *body;
		bool           sign = true;
		int            code = 0;

		if (nng_recvmsg(f->sock, &m, 0) != 0) {
			return;
		}
		if (tasq_auth_open(f->keys, nng_msg_body(m), nng_msg_len(m),
		        &h, &body) != 0) {
			nng_msg_free(m);
			return;
		}
		nng_msg_free(m);
		f->got_ts[f->ngot++] = h.timestamp_ms;
		memset(&rh, 0, sizeof(rh));
		rh.kind         = TASQ_ENV_REPLY;
		rh.key_id       = h.key_id;
		rh.sender_id    = 42;
		rh.seq          = (uint64_t) i + 1;
		rh.timestamp_ms = f->stamp[i];
		rh.reply_to     = h.seq;
		rh.method       = h.method;
		switch (f->answer[i]) {
		case A_SIGNED_OTHER_SEQ:
			rh.reply_to = h.seq + 1000;
			// FALLTHROUGH
		case A_SIGNED_OK: {
			tasq_rep rep;
			memset(&rep, 0, sizeof(rep));
			rep.method           = TASQ_M_HEALTH;
			rep.u.health.serving = true;
			rep.u.health.version = "test";
			if (tasq_wire_encode_rep(&rep, &r) != 0) {
				return;
			}
			break;
		}
		case A_UNSIGNED_REFUSAL:
			sign      = false;
			rh.key_id = 0;
			// FALLTHROUGH
		case A_SIGNED_REFUSAL:
			code = tasq_err_code(TASQ_EUNAUTHENTICATED);
			if (tasq_wire_encode_status(code,
			        "timestamp outside the accepted clock skew",
			        &r) != 0) {
				return;
			}
			break;
		}
		rh.status = (uint16_t) code;
		if (tasq_auth_seal(sign ? f->keys : NULL, &rh, r) != 0 ||
		    nng_sendmsg(f->sock, r, 0) != 0) {
			nng_msg_free(r);
			return;
		}
	}
}

static tasq_keyring *
keys_new(void)
{
	tasq_keyring *kr = NULL;

	ASSERT_OK(tasq_keyring_alloc(&kr));
	ASSERT_OK(
	    tasq_keyring_add(kr, (const uint8_t *) KEY, strlen(KEY), NULL));
	return (kr);
}

static tasq_chan *
chan_new(struct fake *f, const char *url)
{
	tasq_chan_opts o;
	tasq_chan     *c = NULL;
	char           err[256];

	f->keys = keys_new();
	ASSERT_OK(nng_rep0_open(&f->sock));
	ASSERT_OK(nng_listen(f->sock, url, NULL, 0));
	// A script the chan does not follow to its end fails the test
	// instead of hanging it.
	ASSERT_OK(nng_socket_set_ms(f->sock, NNG_OPT_RECVTIMEO, 3000));
	memset(&o, 0, sizeof(o));
	o.url                = url;
	o.keys               = f->keys;
	o.connect_timeout_ms = 2000;
	o.max_msg_bytes      = 1 << 20;
	ASSERT_OK(tasq_chan_open(&c, &o, err, sizeof(err)));
	return (c);
}

static int
health(tasq_chan *c, char *err, size_t errlen)
{
	tasq_req req;
	tasq_rep rep;
	int      rv;

	memset(&req, 0, sizeof(req));
	req.method = TASQ_M_HEALTH;
	if ((rv = tasq_chan_call(c, &req, 2000, &rep, err, errlen)) == 0) {
		tasq_wire_rep_fini(&rep);
	}
	return (rv);
}

// run: serves the script in a thread while the caller makes one call.
static int
call_scripted(struct fake *f, tasq_chan *c, char *err, size_t errlen)
{
	nng_thread *t;
	int         rv;

	ASSERT_OK(nng_thread_create(&t, fake_serve, f));
	rv = health(c, err, errlen);
	nng_thread_destroy(t);
	return (rv);
}

static void
fake_fini(struct fake *f, tasq_chan *c)
{
	tasq_chan_close(c);
	nng_close(f->sock);
	tasq_keyring_free(f->keys);
}

// ASSERT_NEAR: a stamp at most 2 s behind want, and not ahead of it by
// more than the time the test has run since now (stamps advance with our
// monotonic clock from what they were taught).
#define ASSERT_NEAR(got, want)                                                \
	do {                                                                  \
		ASSERT_LE((got), (want) + (tasq_clock_wall_ms() - now) + 5);  \
		ASSERT_GE((got) + 2000, (want));                              \
	} while (0)

TEST(signed_refusal_teaches_time_and_is_retried)
{
	struct fake f;
	tasq_chan  *c;
	char        err[256];
	uint64_t    now = tasq_clock_wall_ms();

	memset(&f, 0, sizeof(f));
	c        = chan_new(&f, "inproc://chan_test_1");
	f.nsteps = 2;
	// The server's clock is an hour ahead: it refuses our stamp, then
	// accepts the retry, stamped with its time.
	f.answer[0] = A_SIGNED_REFUSAL;
	f.stamp[0]  = now + HOUR;
	f.answer[1] = A_SIGNED_OK;
	f.stamp[1]  = now + HOUR;
	ASSERT_OK(call_scripted(&f, c, err, sizeof(err)));
	ASSERT_EQ(f.ngot, 2);
	ASSERT_NEAR(f.got_ts[0], now);
	ASSERT_NEAR(f.got_ts[1], now + HOUR);
	fake_fini(&f, c);
}

TEST(signed_replies_keep_teaching)
{
	struct fake f;
	tasq_chan  *c;
	char        err[256];
	uint64_t    now = tasq_clock_wall_ms();

	memset(&f, 0, sizeof(f));
	c           = chan_new(&f, "inproc://chan_test_2");
	f.nsteps    = 1;
	f.answer[0] = A_SIGNED_OK;
	f.stamp[0]  = now - 5 * HOUR;
	ASSERT_OK(call_scripted(&f, c, err, sizeof(err)));
	f.ngot     = 0;
	f.stamp[0] = now + 2 * HOUR;
	ASSERT_OK(call_scripted(&f, c, err, sizeof(err)));
	ASSERT_NEAR(f.got_ts[0], now - 5 * HOUR);
	f.ngot = 0;
	ASSERT_OK(call_scripted(&f, c, err, sizeof(err)));
	ASSERT_NEAR(f.got_ts[0], now + 2 * HOUR);
	fake_fini(&f, c);
}

TEST(unsigned_refusal_teaches_nothing)
{
	struct fake f;
	tasq_chan  *c;
	char        err[256];
	uint64_t    now = tasq_clock_wall_ms();

	memset(&f, 0, sizeof(f));
	c           = chan_new(&f, "inproc://chan_test_3");
	f.nsteps    = 1;
	f.answer[0] = A_UNSIGNED_REFUSAL;
	f.stamp[0]  = now + HOUR;
	ASSERT_RV(
	    call_scripted(&f, c, err, sizeof(err)), TASQ_EUNAUTHENTICATED);
	ASSERT_STR_CONTAINS(err, "server refused the request");
	ASSERT_EQ(f.ngot, 1); // not retried
	f.ngot      = 0;
	f.answer[0] = A_SIGNED_OK;
	f.stamp[0]  = now;
	ASSERT_OK(call_scripted(&f, c, err, sizeof(err)));
	ASSERT_NEAR(f.got_ts[0], now);
	fake_fini(&f, c);
}

TEST(reply_to_another_request_teaches_nothing)
{
	struct fake f;
	tasq_chan  *c;
	char        err[256];
	uint64_t    now = tasq_clock_wall_ms();

	memset(&f, 0, sizeof(f));
	c           = chan_new(&f, "inproc://chan_test_4");
	f.nsteps    = 1;
	f.answer[0] = A_SIGNED_OTHER_SEQ;
	f.stamp[0]  = now + HOUR;
	ASSERT_RV(
	    call_scripted(&f, c, err, sizeof(err)), TASQ_EUNAUTHENTICATED);
	ASSERT_STR_CONTAINS(err, "does not match");
	f.ngot      = 0;
	f.answer[0] = A_SIGNED_OK;
	f.stamp[0]  = now;
	ASSERT_OK(call_scripted(&f, c, err, sizeof(err)));
	ASSERT_NEAR(f.got_ts[0], now);
	fake_fini(&f, c);
}

TEST(refusals_are_retried_three_times_at_most)
{
	struct fake f;
	tasq_chan  *c;
	char        err[256];
	uint64_t    now = tasq_clock_wall_ms();

	memset(&f, 0, sizeof(f));
	c        = chan_new(&f, "inproc://chan_test_5");
	f.nsteps = 3;
	for (int i = 0; i < 3; i++) {
		f.answer[i] = A_SIGNED_REFUSAL;
		f.stamp[i]  = now;
	}
	ASSERT_RV(
	    call_scripted(&f, c, err, sizeof(err)), TASQ_EUNAUTHENTICATED);
	ASSERT_STR_CONTAINS(err, "clock skew");
	ASSERT_EQ(f.ngot, 3);
	fake_fini(&f, c);
}

TEST(open_frees_all_when_the_socket_fails)
{
	tasq_keyring  *kr = keys_new();
	tasq_chan_opts o;
	tasq_chan     *c = NULL;
	char           err[256];
	int            live0 = mtx_live;

	memset(&o, 0, sizeof(o));
	o.url           = "inproc://chan_test_6";
	o.keys          = kr;
	o.max_msg_bytes = 1 << 20;
	fail_req0_open  = NNG_ENOMEM;
	ASSERT_RV(tasq_chan_open(&c, &o, err, sizeof(err)), NNG_ENOMEM);
	ASSERT_NULL(c);
	ASSERT_STR_CONTAINS(err, "cannot open socket");
	// The mutex is freed (and the URL: the leak checker of a sanitizer
	// build sees it).
	ASSERT_EQ(mtx_live, live0);
	tasq_keyring_free(kr);
}

// ---- bounded dials ---------------------------------------------------------

// A loopback port that never answers a dial: a listener whose accept
// queue (backlog 0) one connection, never accepted, fills, so that the
// kernel drops every SYN that follows, as a host that drops packets
// does. *lfd and *cfd are closed by silent_close.
static int
silent_port(int *lfd, int *cfd)
{
	struct sockaddr_in sa;
	socklen_t          len = sizeof(sa);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family      = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT_GE(*lfd = socket(AF_INET, SOCK_STREAM, 0), 0);
	ASSERT_EQ(bind(*lfd, (struct sockaddr *) &sa, sizeof(sa)), 0);
	ASSERT_EQ(listen(*lfd, 0), 0);
	ASSERT_EQ(getsockname(*lfd, (struct sockaddr *) &sa, &len), 0);
	ASSERT_GE(*cfd = socket(AF_INET, SOCK_STREAM, 0), 0);
	ASSERT_EQ(connect(*cfd, (struct sockaddr *) &sa, sizeof(sa)), 0);
	return (ntohs(sa.sin_port));
}

static void
silent_close(int lfd, int cfd)
{
	close(cfd);
	close(lfd);
}

// Whether this machine has a connect to 127.0.0.1:port in SYN_SENT (a
// dial under way: its SYNs go unanswered), from /proc/net/tcp.
static bool
syn_sent_to(int port)
{
	FILE    *f = fopen("/proc/net/tcp", "r");
	char     line[512];
	bool     found = false;
	unsigned rport, st;

	if (f == NULL) {
		return (false);
	}
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		// "  N: LOCAL:PORT REMOTE:PORT ST ..."
		if (sscanf(line, "%*s %*x:%*x %*x:%x %x", &rport, &st) == 2 &&
		    rport == (unsigned) port && st == 0x02) {
			found = true;
		}
	}
	fclose(f);
	return (found);
}

struct firer {
	tasq_chan_cancel *cn;
	int               port;
	bool              seen; // the dial was seen under way first
};

// Fires the canceller once the dial is seen under way (at most 20 s).
static void
fire_when_dialing(void *arg)
{
	struct firer *fr    = arg;
	nng_time      until = nng_clock() + 20000;

	while (!(fr->seen = syn_sent_to(fr->port)) && nng_clock() < until) {
		nng_msleep(10);
	}
	tasq_chan_cancel_fire(fr->cn);
}

static void
silent_opts(
    tasq_chan_opts *o, tasq_keyring *kr, char *url, size_t len, int port)
{
	snprintf(url, len, "tcp://127.0.0.1:%d", port);
	memset(o, 0, sizeof(*o));
	o->url           = url;
	o->keys          = kr;
	o->max_msg_bytes = 1 << 20;
}

TEST(a_dial_nobody_answers_ends_at_its_limit)
{
	tasq_keyring  *kr = keys_new();
	tasq_chan_opts o;
	tasq_chan     *c = NULL;
	char           url[64], err[256];
	int            lfd, cfd, port = silent_port(&lfd, &cfd);
	int            live0 = mtx_live;

	// One attempt (no connect timeout), bounded by dial_timeout_ms;
	// nng's own dial would wait minutes (the kernel's SYN retries).
	silent_opts(&o, kr, url, sizeof(url), port);
	o.dial_timeout_ms = 1200;
	ASSERT_RV(tasq_chan_open(&c, &o, err, sizeof(err)), NNG_ETIMEDOUT);
	ASSERT_NULL(c);
	ASSERT_STR_CONTAINS(err, "cannot connect to tcp://127.0.0.1:");
	// With a connect timeout: the attempts end with it.
	o.dial_timeout_ms    = 0;
	o.connect_timeout_ms = 1500;
	ASSERT_RV(tasq_chan_open(&c, &o, err, sizeof(err)), NNG_ETIMEDOUT);
	ASSERT_NULL(c);
	ASSERT_EQ(mtx_live, live0);
	silent_close(lfd, cfd);
	tasq_keyring_free(kr);
}

TEST(a_cancel_ends_a_dial_under_way)
{
	tasq_keyring  *kr = keys_new();
	tasq_chan_opts o;
	tasq_chan     *c = NULL;
	nng_thread    *t;
	struct firer   fr;
	char           url[64], err[256];
	int            lfd, cfd, port = silent_port(&lfd, &cfd);

	silent_opts(&o, kr, url, sizeof(url), port);
	o.connect_timeout_ms = 120000; // longer than the test's timeout
	memset(&fr, 0, sizeof(fr));
	fr.port = port;
	ASSERT_OK(tasq_chan_cancel_alloc(&fr.cn));
	o.cancel = fr.cn;
	ASSERT_OK(nng_thread_create(&t, fire_when_dialing, &fr));
	ASSERT_RV(tasq_chan_open(&c, &o, err, sizeof(err)), NNG_ECANCELED);
	nng_thread_destroy(t);
	ASSERT_TRUE(fr.seen);
	ASSERT_NULL(c);
	ASSERT_STR_CONTAINS(err, "cancelled");
	// Fired: a later open gives up at once.
	ASSERT_RV(tasq_chan_open(&c, &o, err, sizeof(err)), NNG_ECANCELED);
	tasq_chan_cancel_free(fr.cn);
	silent_close(lfd, cfd);
	tasq_keyring_free(kr);
}

TASQ_TEST_MAIN()
