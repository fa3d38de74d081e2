// shard_pending: placement waits for a member whose first probe has not
// ended (issue 15: "a new job never goes to a server known to be down";
// a member still being probed is not known down, and rendezvous needs its
// identity). Driven by tests/lib/shard_pending.sh, which starts three
// servers on 127.0.0.1:P, 127.0.0.2:P and 127.0.0.3:P and passes:
//   shard_pending KEYFILE PORT PID3
// The program learns the three identities (a session on the three), picks
// a job's random part r that rendezvous gives to the third server, stops
// that server (SIGSTOP: its kernel still accepts connections, it answers
// nothing), and opens a session on a name that resolves to the first two
// addresses; then the name gains the third (a resolution every 100 ms).
// Once the session lists the third member, still unprobed, it places r
// while a helper thread waits for the placement to wait for the member
// and only then resumes the server (SIGCONT). A placement that skips the
// member places r on another server at once (the defect: the helper has
// not resumed anything yet); one that waits places it on the third. No
// timing decides the outcome: the connect timeout is 60 s, far beyond
// what the test waits.
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "tasq_test.h"

#include "api_int.h"
#include "clock.h"
#include "shard_util.h"

enum { NSRV = 3 };

static const char   *key_file;
static unsigned      port;
static pid_t         pid3;
static atomic_int    with_third; // the name resolves to three addresses
static atomic_int    placed;     // the main thread's placement returned
static atomic_int    resumed;    // the helper sent SIGCONT
static tasq_session *pending_s;

static tasq_session *
open_on(const char *spec, const tasq_shard_opts *so)
{
	static const char *const settings[] = { "connect-timeout", "60s",
		"resolve-interval", "100ms", NULL };
	tasq_session            *s;

	ASSERT_OK(shard_util_open(&s, spec, key_file, settings, so));
	ASSERT_TRUE(tasq_api_sharded(s));
	return (s);
}

// "shards.test": 127.0.0.1 and .2, then also .3 once with_third is set.
static int
fake_resolve(void *arg, const char *host, int family, tasq_shard_addr *addrs,
    size_t max, size_t *n, char *err, size_t errlen)
{
	static const char *const list[] = { "127.0.0.1", "127.0.0.2",
		"127.0.0.3" };

	(void) arg;
	(void) family;
	return (shard_util_resolve(host, list,
	    atomic_load(&with_third) ? 3 : 2, addrs, max, n, err, errlen));
}

// The member of s with address addr, copied to *m; false when none.
static bool
member_at(tasq_session *s, const char *addr, tasq_shard_member *m)
{
	return (shard_util_member(s, NULL, addr, 0, m));
}

// The helper: resumes server 3 once the placement waits (or gives up
// when the placement returned without waiting).
static void
resumer(void *arg)
{
	uint64_t deadline = tasq_clock_mono_ms() + 60000;

	(void) arg;
	while (!atomic_load(&placed) && tasq_clock_mono_ms() < deadline) {
		if (tasq_api_servers_waiters(pending_s) > 0) {
			// (No ASSERT here: it would jump off this thread.)
			atomic_store(&resumed, kill(pid3, SIGCONT) == 0);
			return;
		}
		nng_msleep(2); // bounded poll of the placement's state
	}
}

static void
run(void)
{
	char              u[NSRV][64], spec[256], err[1024];
	tasq_session     *s;
	tasq_shard_member m3, m;
	tasq_shard_opts   so;
	uint64_t          idn[NSRV], r, id, deadline;
	uint32_t          num;
	nng_thread       *thr;

	for (int i = 0; i < NSRV; i++) {
		snprintf(
		    u[i], sizeof(u[i]), "tcp://127.0.0.%d:%u", i + 1, port);
	}
	// The identities, from a session on the three (all running).
	snprintf(spec, sizeof(spec), "%s,%s,%s", u[0], u[1], u[2]);
	s = open_on(spec, NULL);
	for (int i = 0; i < NSRV; i++) {
		char addr[16];
		snprintf(addr, sizeof(addr), "127.0.0.%d", i + 1);
		ASSERT_TRUE(member_at(s, addr, &m));
		ASSERT_EQ(m.state, TASQ_SHARD_UP);
		idn[i] = m.identity;
		ASSERT_NE(idn[i], 0);
	}
	tasq_session_free(s);
	// An r that rendezvous places on the third server.
	for (r = 1;; r++) {
		uint64_t s3 = tasq_shard_score(r, idn[2]);
		if (s3 > tasq_shard_score(r, idn[0]) &&
		    s3 > tasq_shard_score(r, idn[1])) {
			break;
		}
	}

	ASSERT_EQ(kill(pid3, SIGSTOP), 0);
	memset(&so, 0, sizeof(so));
	so.resolver = fake_resolve;
	snprintf(spec, sizeof(spec), "tcp://shards.test:%u", port);
	s         = open_on(spec, &so);
	pending_s = s;
	ASSERT_OK(tasq_api_place_job_r(s, r, &id, &num, err, sizeof(err)));
	ASSERT_NE(id >> 48, idn[2] >> 48); // two servers: not the third's

	// The name gains the third address: the next resolution adds it,
	// unprobed (its server accepts the connection and answers nothing).
	atomic_store(&with_third, 1);
	deadline = tasq_clock_mono_ms() + 30000;
	while (!member_at(s, "127.0.0.3", &m3)) {
		ASSERT_LT(tasq_clock_mono_ms(), deadline);
		nng_msleep(10); // bounded poll for the resolution
	}
	printf("third member %u: state %d, probed %d\n", (unsigned) m3.num,
	    (int) m3.state, (int) m3.probed);
	ASSERT_EQ(m3.state, TASQ_SHARD_UNKNOWN);

	ASSERT_OK(nng_thread_create(&thr, resumer, NULL));
	int rv = tasq_api_place_job_r(s, r, &id, &num, err, sizeof(err));
	atomic_store(&placed, 1);
	nng_thread_destroy(thr);
	if (!atomic_load(&resumed)) {
		(void) kill(pid3, SIGCONT);
	}
	ASSERT_OK(rv);
	printf("placed on member %u (tag %04" PRIx64 "), the third is %u "
	       "(tag %04" PRIx64 "), resumed %d\n",
	    (unsigned) num, id >> 48, (unsigned) m3.num, idn[2] >> 48,
	    atomic_load(&resumed));
	// The defect: the member being probed was skipped.
	ASSERT_EQ(num, m3.num);
	ASSERT_EQ(id >> 48, idn[2] >> 48);
	ASSERT_TRUE(member_at(s, "127.0.0.3", &m));
	ASSERT_EQ(m.state, TASQ_SHARD_UP);
	tasq_session_free(s);
	printf("ok\n");
}

int
main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: shard_pending KEYFILE PORT PID3\n");
		return (2);
	}
	key_file          = argv[1];
	port              = (unsigned) atoi(argv[2]);
	pid3              = (pid_t) atoi(argv[3]);
	tasq_test_current = "shard_pending";
	if (setjmp(tasq_test_jmp) != 0) {
		fprintf(stderr, "tasq_errmsg: %s\n", tasq_errmsg());
		(void) kill(pid3, SIGCONT);
		return (1);
	}
	run();
	return (0);
}
