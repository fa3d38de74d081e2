// shard_grow: a session and a worker opened on one name that resolves to
// one server, then to two (a Kubernetes headless Service whose other pods
// became ready, a StatefulSet scaled up from one replica): the name is
// looked up again (resolve-interval 100ms) and the second server is used.
// Driven by tests/lib/shard_grow.sh, which starts servers on 127.0.0.1:P
// and 127.0.0.2:P and passes:
//   shard_grow KEYFILE PORT
// "localhost" resolves (an injected resolver, the system's on the
// one-server path of before) to 127.0.0.1 until the program adds
// 127.0.0.2. Checks, after that:
// - the worker (tasq_serve_lease on a session opened on the name while it
//   had one address) leases the jobs submitted to the second server
//   directly;
// - of NJOBS new jobs of a session opened on the name while it had one
//   address, some are on the second server (rendezvous on two servers:
//   each job is there with probability 1/2, so none is 2^-64).
// Exit 0: both held.
#include <inttypes.h>
#include <stdatomic.h>

#include "tasq_test.h"

#include "api_int.h"
#include "clock.h"
#include "shard_util.h"

enum { NJOBS = 64, NDIRECT = 8 };

static const char *key_file;
static unsigned    port;
static atomic_int  naddrs = 1;

// "localhost": 127.0.0.1, and 127.0.0.2 once naddrs is 2.
static int
grow_resolve(void *arg, const char *host, int family, tasq_shard_addr *addrs,
    size_t max, size_t *n, char *err, size_t errlen)
{
	(void) arg;
	(void) family;
	if (strcmp(host, "localhost") != 0 || max < 2) {
		snprintf(err, errlen, "unknown name %s", host);
		return (TASQ_EUNAVAILABLE);
	}
	snprintf(addrs[0].text, sizeof(addrs[0].text), "127.0.0.1");
	snprintf(addrs[1].text, sizeof(addrs[1].text), "127.0.0.2");
	*n = (size_t) atomic_load(&naddrs);
	return (0);
}

static tasq_session *
open_on(const char *spec, bool fake)
{
	tasq_opts      *o;
	tasq_session   *s = NULL;
	tasq_shard_opts so;

	memset(&so, 0, sizeof(so));
	so.resolver = grow_resolve;
	ASSERT_OK(tasq_opts_alloc(&o));
	ASSERT_OK(tasq_opts_set(o, "server", spec));
	ASSERT_OK(tasq_opts_set(o, "key-file", key_file));
	ASSERT_OK(tasq_opts_set(o, "connect-timeout", "5s"));
	ASSERT_OK(tasq_opts_set(o, "resolve-interval", "100ms"));
	if (tasq_api_session_open_with(&s, o, fake ? &so : NULL) != 0) {
		fprintf(stderr, "open %s: %s\n", spec, tasq_errmsg());
		exit(1);
	}
	tasq_opts_free(o);
	return (s);
}

// Submits detached job id (one square task, input complete) to member.
static void
submit(tasq_session *s, uint32_t member, uint64_t id)
{
	ASSERT_OK(shard_util_submit(s, member, "grow", id));
}

// Whether server d (a session on it alone) knows job id.
static bool
knows(tasq_session *d, uint64_t id)
{
	tasq_req req;
	tasq_rep rep;
	char     err[512];
	bool     yes;

	memset(&req, 0, sizeof(req));
	req.method              = TASQ_M_JOB_STATUS;
	req.u.job_status.job_id = id;
	if (tasq_api_call_member(d, TASQ_API_MEMBER_ANY, &req, 5000, &rep, err,
	        sizeof(err)) != 0) {
		return (false);
	}
	yes = rep.u.job_status.job.job_id == id;
	tasq_wire_rep_fini(&rep);
	return (yes);
}

static size_t
members_up(tasq_session *s)
{
	tasq_shard_member ms[8];
	size_t            n = tasq_api_members(s, ms, 8), up = 0;

	for (size_t i = 0; i < n && i < 8; i++) {
		up += ms[i].state == TASQ_SHARD_UP;
	}
	return (up);
}

int
main(int argc, char **argv)
{
	char          spec[128], u2[64], err[512];
	tasq_session *s, *ws, *d2;
	tasq_serve   *w;
	uint64_t      direct[NDIRECT], deadline;
	unsigned      on2 = 0, leased2 = 0;
	bool          ok = true;

	if (argc != 3) {
		fprintf(stderr, "usage: shard_grow KEYFILE PORT\n");
		return (2);
	}
	key_file = argv[1];
	port     = (unsigned) strtoul(argv[2], NULL, 10);
	snprintf(spec, sizeof(spec), "tcp4://localhost:%u", port);
	snprintf(u2, sizeof(u2), "tcp://127.0.0.2:%u", port);

	// Opened while the name has one address.
	s  = open_on(spec, true);
	ws = open_on(spec, true);
	ASSERT_OK(tasq_serve_alloc(&w, ws));
	ASSERT_OK(tasq_serve_add_type(w, "square"));
	ASSERT_OK(tasq_serve_add_queue(w, "grow", 1));
	ASSERT_OK(tasq_serve_set_batch(w, 1));
	d2 = open_on(u2, false);

	// The second server joins the name.
	atomic_store(&naddrs, 2);
	deadline = tasq_clock_mono_ms() + 10000;
	while ((members_up(s) < 2 || members_up(ws) < 2) &&
	    tasq_clock_mono_ms() < deadline) {
		nng_msleep(20); // bounded poll for the re-resolution
	}
	printf("members up: session %zu, worker %zu\n", members_up(s),
	    members_up(ws));

	// The worker leases from the second server.
	for (int k = 0; k < NDIRECT; k++) {
		uint32_t m;
		ASSERT_OK(
		    tasq_api_place_job(d2, &direct[k], &m, err, sizeof(err)));
		submit(d2, m, direct[k]);
	}
	deadline = tasq_clock_mono_ms() + 10000;
	while (leased2 < NDIRECT && tasq_clock_mono_ms() < deadline) {
		tasq_lease *l = NULL;
		ASSERT_OK(tasq_serve_lease(&l, w));
		if (l == NULL) {
			continue;
		}
		for (size_t i = 0; i < tasq_lease_count(l); i++) {
			int64_t v = 49;
			for (int k = 0; k < NDIRECT; k++) {
				leased2 += tasq_lease_job(l, i) == direct[k];
			}
			ASSERT_OK(tasq_lease_put(l, i, &v, 8));
		}
		ASSERT_OK(tasq_lease_complete(l));
	}
	printf("worker: %u of %d tasks of the second server leased\n", leased2,
	    NDIRECT);
	if (leased2 < NDIRECT) {
		fprintf(
		    stderr, "FAIL: the worker did not lease from %s\n", u2);
		ok = false;
	}

	// New jobs of the session reach the second server.
	for (int k = 0; k < NJOBS; k++) {
		uint64_t id;
		uint32_t m;
		ASSERT_OK(tasq_api_place_job(s, &id, &m, err, sizeof(err)));
		submit(s, m, id);
		on2 += knows(d2, id);
	}
	printf(
	    "session: %u of %d new jobs on the second server\n", on2, NJOBS);
	if (on2 == 0) {
		fprintf(stderr, "FAIL: no new job reached %s\n", u2);
		ok = false;
	}
	tasq_serve_free(w);
	tasq_session_free(ws);
	tasq_session_free(s);
	tasq_session_free(d2);
	return (ok ? 0 : 1);
}
