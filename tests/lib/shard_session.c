// shard_session: a libtasq session on three real servers through the
// library's internal routing API (lib/api/api_int.h, "several servers"),
// driven by tests/lib/shard_session.sh, which starts the servers on
// 127.0.0.1:P, 127.0.0.2:P and 127.0.0.3:P and passes:
//   shard_session KEYFILE PORT KILLED_URL GATE1 GATE2
// The program opens "URL1,URL2,URL3", checks the identities, places 300
// detached jobs (one task each) and finds each again, checks that the
// list reordered and a name resolving to the three addresses (an injected
// resolver) place alike, then prints "kill" and waits for a line on GATE1
// (the script has killed KILLED_URL's server with SIGKILL): placement
// avoids it, its jobs' lookups fail naming it, the others' still work.
// It prints "restart" and waits on GATE2 (the server is back with its
// data dir): its jobs are found again. Exit 0: all held.
#include <inttypes.h>
#include <sys/resource.h>

#include "tasq_test.h"

#include "api_int.h"
#include "clock.h"
#include "shard_util.h"

enum { NJOBS = 300, NSRV = 3 };

static const char *key_file;
static unsigned    port;

static tasq_session *
open_on(const char *spec, const tasq_shard_opts *so)
{
	static const char *const settings[] = { "connect-timeout", "5s",
		NULL };
	tasq_session            *s;

	ASSERT_OK(shard_util_open(&s, spec, key_file, settings, so));
	ASSERT_TRUE(tasq_api_sharded(s));
	return (s);
}

// The identity of the member with url (0: none).
static uint64_t
identity_of(tasq_session *s, const char *url)
{
	tasq_shard_member m;

	return (shard_util_member(s, url, NULL, 0, &m) ? m.identity : 0);
}

static uint64_t
member_identity(tasq_session *s, uint32_t num)
{
	tasq_shard_member m;

	ASSERT_TRUE(shard_util_member(s, NULL, NULL, num, &m));
	return (m.identity);
}

// Submits detached job id (one square task, input complete) to member.
static void
submit(tasq_session *s, uint32_t member, uint64_t id)
{
	ASSERT_OK(shard_util_submit(s, member, "shard", id));
}

// JobStatus of id on its member (found by id); 0 or the error, err says.
static int
status(tasq_session *s, uint64_t id, char *err, size_t errlen)
{
	tasq_req req;
	tasq_rep rep;
	uint32_t m;
	int      rv;

	if ((rv = tasq_api_job_member(s, id, &m, err, errlen)) != 0) {
		return (rv);
	}
	memset(&req, 0, sizeof(req));
	req.method              = TASQ_M_JOB_STATUS;
	req.u.job_status.job_id = id;
	if ((rv = tasq_api_call_member(s, m, &req, 5000, &rep, err, errlen)) !=
	    0) {
		return (rv);
	}
	rv = rep.u.job_status.job.job_id == id ? 0 : TASQ_EINTERNAL;
	tasq_wire_rep_fini(&rep);
	return (rv);
}

// The injected resolver: "shards.test" is the three loopback addresses.
static int
fake_resolve(void *arg, const char *host, int family, tasq_shard_addr *addrs,
    size_t max, size_t *n, char *err, size_t errlen)
{
	static const char *const list[] = { "127.0.0.3", "127.0.0.1",
		"127.0.0.2" };

	(void) arg;
	(void) family;
	return (shard_util_resolve(host, list, 3, addrs, max, n, err, errlen));
}

static void
wait_gate(const char *path)
{
	FILE *f = fopen(path, "r");
	char  line[16];

	ASSERT_NOT_NULL(f);
	ASSERT_NOT_NULL(fgets(line, sizeof(line), f));
	fclose(f);
}

static uint64_t ids[NJOBS], victim_ids[NJOBS];

static uint64_t
cpu_ms(void)
{
	struct rusage ru;

	ASSERT_EQ(getrusage(RUSAGE_SELF, &ru), 0);
	return ((uint64_t) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
	    (uint64_t) (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000);
}

// An idle session costs no CPU: its prober waits for what is due (a
// measurement over one second, not a synchronisation).
static void
check_idle(void)
{
	uint64_t c0 = cpu_ms(), c1;

	nng_msleep(1000);
	c1 = cpu_ms();
	printf(
	    "idle second: %llu ms of CPU\n", (unsigned long long) (c1 - c0));
	ASSERT_LT(c1 - c0, 300);
}

static void
run(const char *killed, const char *gate1, const char *gate2)
{
	char              u[NSRV][64], spec[256], spec2[256], err[1024];
	tasq_session     *s, *s2, *s3;
	tasq_shard_member ms[8];
	tasq_shard_opts   so;
	uint64_t          idn[NSRV], victim;
	unsigned          count[NSRV] = { 0 };
	size_t            n, nvictim = 0;
	uint64_t          deadline;

	for (int i = 0; i < NSRV; i++) {
		snprintf(
		    u[i], sizeof(u[i]), "tcp://127.0.0.%d:%u", i + 1, port);
	}
	snprintf(spec, sizeof(spec), "%s,%s,%s", u[0], u[1], u[2]);
	s = open_on(spec, NULL);

	// Every member answered and told its identity; three servers.
	n = tasq_api_members(s, ms, 8);
	ASSERT_EQ(n, NSRV);
	for (int i = 0; i < NSRV; i++) {
		ASSERT_TRUE(ms[i].probed);
		ASSERT_EQ(ms[i].state, TASQ_SHARD_UP);
		ASSERT_NE(ms[i].identity, 0);
		ASSERT_EQ(ms[i].alias_of, 0);
		idn[i] = identity_of(s, u[i]);
		ASSERT_NE(idn[i], 0);
	}
	ASSERT_NE(idn[0], idn[1]);
	ASSERT_NE(idn[1], idn[2]);
	ASSERT_NE(idn[0], idn[2]);
	victim = identity_of(s, killed);
	ASSERT_NE(victim, 0);
	check_idle();

	// 300 jobs: each on the member its tag names, all three get some.
	for (int k = 0; k < NJOBS; k++) {
		uint32_t m, m2;
		ASSERT_OK(
		    tasq_api_place_job(s, &ids[k], &m, err, sizeof(err)));
		ASSERT_EQ(ids[k] >> 48, member_identity(s, m) >> 48);
		submit(s, m, ids[k]);
		for (int i = 0; i < NSRV; i++) {
			count[i] += idn[i] >> 48 == ids[k] >> 48;
		}
		ASSERT_OK(
		    tasq_api_job_member(s, ids[k], &m2, err, sizeof(err)));
		ASSERT_EQ(m2, m);
		if (ids[k] >> 48 == victim >> 48) {
			victim_ids[nvictim++] = ids[k];
		}
	}
	printf("per server: %u %u %u\n", count[0], count[1], count[2]);
	for (int i = 0; i < NSRV; i++) {
		ASSERT_GT(count[i], 0);
	}
	for (int k = 0; k < NJOBS; k++) {
		ASSERT_OK(status(s, ids[k], err, sizeof(err)));
	}

	// The list reordered, and one name for the three addresses: the
	// same identities, the same placement of the same r.
	snprintf(spec2, sizeof(spec2), "%s,%s,%s", u[2], u[0], u[1]);
	s2 = open_on(spec2, NULL);
	memset(&so, 0, sizeof(so));
	so.resolver = fake_resolve;
	snprintf(spec2, sizeof(spec2), "tcp://shards.test:%u", port);
	s3 = open_on(spec2, &so);
	ASSERT_EQ(tasq_api_members(s3, ms, 8), NSRV);
	for (int i = 0; i < NSRV; i++) {
		ASSERT_EQ(identity_of(s2, u[i]), idn[i]);
		ASSERT_EQ(identity_of(s3, u[i]), idn[i]);
		ASSERT_STR_EQ(ms[i].host, "shards.test");
	}
	for (int k = 0; k < NJOBS; k++) {
		uint64_t r = ids[k] & TASQ_SHARD_R_MASK, a, b, c;
		uint32_t m;
		ASSERT_OK(
		    tasq_api_place_job_r(s, r, &a, &m, err, sizeof(err)));
		ASSERT_OK(
		    tasq_api_place_job_r(s2, r, &b, &m, err, sizeof(err)));
		ASSERT_OK(
		    tasq_api_place_job_r(s3, r, &c, &m, err, sizeof(err)));
		ASSERT_EQ(a, ids[k]);
		ASSERT_EQ(b, ids[k]);
		ASSERT_EQ(c, ids[k]);
		ASSERT_OK(status(s3, ids[k], err, sizeof(err)));
	}
	tasq_session_free(s2);
	tasq_session_free(s3);

	// One server killed: new jobs avoid it, its jobs fail naming it,
	// the others' are still found.
	printf("kill\n");
	fflush(stdout);
	wait_gate(gate1);
	deadline = tasq_clock_mono_ms() + 30000;
	for (;;) {
		int rv = status(s, victim_ids[0], err, sizeof(err));
		if (rv == TASQ_EUNAVAILABLE && strstr(err, killed) != NULL) {
			break;
		}
		ASSERT_LT(tasq_clock_mono_ms(), deadline);
		nng_msleep(20); // bounded poll for the drop
	}
	printf("lookup while down: %s\n", err);
	for (size_t k = 0; k < nvictim; k++) {
		ASSERT_RV(status(s, victim_ids[k], err, sizeof(err)),
		    TASQ_EUNAVAILABLE);
		ASSERT_STR_CONTAINS(err, killed);
	}
	for (int k = 0; k < NJOBS; k++) {
		uint64_t id;
		uint32_t m;
		ASSERT_OK(tasq_api_place_job(s, &id, &m, err, sizeof(err)));
		ASSERT_NE(id >> 48, victim >> 48);
		if (ids[k] >> 48 != victim >> 48) {
			ASSERT_OK(status(s, ids[k], err, sizeof(err)));
		}
	}

	// Back with its data dir: its jobs are found again.
	printf("restart\n");
	fflush(stdout);
	wait_gate(gate2);
	deadline = tasq_clock_mono_ms() + 60000;
	while (status(s, victim_ids[0], err, sizeof(err)) != 0) {
		ASSERT_LT(tasq_clock_mono_ms(), deadline);
		nng_msleep(20); // bounded poll for the reconnection
	}
	for (size_t k = 0; k < nvictim; k++) {
		ASSERT_OK(status(s, victim_ids[k], err, sizeof(err)));
	}
	ASSERT_EQ(identity_of(s, killed), victim);
	check_idle();
	tasq_session_free(s);
	printf("ok: %zu of %d jobs on the killed server found again\n",
	    nvictim, NJOBS);
}

int
main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr,
		    "usage: shard_session KEYFILE PORT KILLED_URL GATE1 "
		    "GATE2\n");
		return (2);
	}
	key_file          = argv[1];
	port              = (unsigned) atoi(argv[2]);
	tasq_test_current = "shard_session";
	if (setjmp(tasq_test_jmp) != 0) {
		fprintf(stderr, "tasq_errmsg: %s\n", tasq_errmsg());
		return (1);
	}
	run(argv[3], argv[4], argv[5]);
	return (0);
}
