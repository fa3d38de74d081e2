// Unit tests of server/server: the lifecycle of the server object (alloc,
// start, close, stop, free) on loopback with port 0, with a journal in a
// private directory, and a shutdown with a client's long-poll parked.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "auth.h"
#include "chan.h"
#include "err.h"
#include "server.h"
#include "tasq_test.h"
#include "wire.h"

static char          dir[64];
static char          ready[128];
static tasq_keyring *keys;

static void
setup(tasq_server_conf *sc, const char *url)
{
	static const uint8_t key[32] = "0123456789abcdef0123456789abcde";

	snprintf(dir, sizeof(dir), "/tmp/tasq-server-test.XXXXXX");
	ASSERT_NOT_NULL(mkdtemp(dir));
	snprintf(ready, sizeof(ready), "%s/ready", dir);
	ASSERT_OK(tasq_keyring_alloc(&keys));
	ASSERT_OK(tasq_keyring_add(keys, key, sizeof(key), NULL));
	*sc = (tasq_server_conf) {
		.broker            = { .max_tasks = 1000,
		               .max_batch         = 100,
		               .max_queues        = 4,
		               .max_jobs          = 8,
		               .max_workers       = 4,
		               .lease_ms          = 30000,
		               .max_attempts      = 3,
		               .job_ttl_ms        = 600000,
		               .max_fetch         = 50,
		               .max_lease         = 20 },
		.service           = { .max_wait_ms = 60000 },
		.rpc               = { .url      = url,
		                  .keys          = keys,
		                  .max_msg_bytes = 1 << 20,
		                  .contexts      = 8,
		                  .max_conns     = 16,
		                  .max_inflight  = 8 },
		.skew_ms           = 60000,
		.data_dir          = dir,
		.fsync             = TASQ_FSYNC_ALWAYS,
		.fsync_name        = "always",
		.fsync_interval_ms = 50,
		.compact_bytes     = 1 << 20,
		.idle_ms           = 60000,
		.ready_file        = ready,
	};
}

static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ASSERT_EQ(system(cmd), 0);
	tasq_keyring_free(keys);
}

// The URL in the ready file, without its newline.
static void
read_ready(char *url, size_t len)
{
	FILE *f = fopen(ready, "r");

	ASSERT_NOT_NULL(f);
	ASSERT_NOT_NULL(fgets(url, (int) len, f));
	fclose(f);
	url[strcspn(url, "\n")] = '\0';
}

TEST(server_close_and_stop_are_idempotent)
{
	tasq_server_conf sc;
	tasq_server     *s;
	char             err[512];

	setup(&sc, "tcp://127.0.0.1:0");
	ASSERT_OK(tasq_server_alloc(&s, &sc, err, sizeof(err)));
	ASSERT_OK(tasq_server_start(s, err, sizeof(err)));
	tasq_server_close(s);
	tasq_server_close(s);
	ASSERT_OK(tasq_server_stop(s));
	ASSERT_OK(tasq_server_stop(s));
	tasq_server_free(s);
	// The journal was closed: its directory can be opened (locked)
	// again at once.
	ASSERT_OK(tasq_server_alloc(&s, &sc, err, sizeof(err)));
	tasq_server_free(s);
	teardown();
}

TEST(server_free_without_start_or_stop)
{
	tasq_server_conf sc;
	tasq_server     *s;
	char             err[512];

	setup(&sc, "tcp://127.0.0.1:0");
	ASSERT_OK(tasq_server_alloc(&s, &sc, err, sizeof(err)));
	tasq_server_free(s);
	ASSERT_OK(tasq_server_alloc(&s, &sc, err, sizeof(err)));
	ASSERT_OK(tasq_server_start(s, err, sizeof(err)));
	tasq_server_free(s); // stops on its own
	tasq_server_free(NULL);
	teardown();
}

TEST(server_failed_start_still_stops_and_frees)
{
	tasq_server_conf sc;
	tasq_server     *s;
	char             err[512];

	setup(&sc, "tcp://127.0.0.1:notaport");
	ASSERT_OK(tasq_server_alloc(&s, &sc, err, sizeof(err)));
	ASSERT_NE(tasq_server_start(s, err, sizeof(err)), 0);
	ASSERT_STR_CONTAINS(err, "listen");
	tasq_server_close(s);
	ASSERT_OK(tasq_server_stop(s));
	tasq_server_free(s);
	teardown();
}

// Whether Stats lists worker_id, asked for up to 5 s.
static bool
worker_known(tasq_chan *chan, uint64_t worker_id)
{
	tasq_req req  = { .method = TASQ_M_STATS };
	nng_time stop = nng_clock() + 5000;
	char     err[512];

	while (nng_clock() < stop) {
		tasq_rep rep;
		bool     found = false;
		if (tasq_chan_call(chan, &req, 1000, &rep, err, sizeof(err)) !=
		    0) {
			continue;
		}
		for (size_t i = 0; i < rep.u.stats.nworkers; i++) {
			found |= rep.u.stats.workers[i].worker_id == worker_id;
		}
		tasq_wire_rep_fini(&rep);
		if (found) {
			return (true);
		}
	}
	return (false);
}

// A worker's long-poll is parked at the server (no tasks) when the server
// shuts down: close ends it at once and stop does not wait for the poll
// (30 s) nor for the connection drain's bound.
TEST(server_stop_ends_a_parked_long_poll)
{
	tasq_server_conf sc;
	tasq_server     *s;
	tasq_chan       *chan;
	tasq_call       *call;
	tasq_req         req;
	tasq_rep         rep;
	char             err[512], url[128];

	// unit.server_parked_stop runs it (with nng's leaks there ignored,
	// server_test.lsan); unit.server runs the rest.
	if (getenv("TASQ_TEST_PARKED_STOP") == NULL) {
		return;
	}
	setup(&sc, "tcp://127.0.0.1:0");
	ASSERT_OK(tasq_server_alloc(&s, &sc, err, sizeof(err)));
	ASSERT_OK(tasq_server_start(s, err, sizeof(err)));
	read_ready(url, sizeof(url));
	tasq_chan_opts co = { .url  = url,
		.keys               = keys,
		.connect_timeout_ms = 5000,
		.max_msg_bytes      = 1 << 20 };
	ASSERT_OK(tasq_chan_open(&chan, &co, err, sizeof(err)));
	memset(&req, 0, sizeof(req));
	req.method              = TASQ_M_LEASE;
	req.u.lease.queue       = "default";
	req.u.lease.worker_id   = 42;
	req.u.lease.worker_name = "test";
	req.u.lease.max_tasks   = 10;
	req.u.lease.wait_ms     = 30000;
	ASSERT_OK(
	    tasq_chan_call_start(chan, &req, 5000, &call, err, sizeof(err)));
	// The broker knows the worker once it has parked its Lease (both
	// under one lock): wait for that, bounded.
	ASSERT_TRUE(worker_known(chan, 42));
	nng_time t0 = nng_clock();
	tasq_server_close(s);
	ASSERT_OK(tasq_server_stop(s)); // 0: every connection ended
	ASSERT_LT(nng_clock() - t0, (nng_time) TASQ_SERVER_DRAIN_MS);
	tasq_server_free(s);
	// The poll got no tasks: an error (its connection ended), never a
	// reply from a server that has stopped.
	int rv = tasq_chan_call_finish(call, &rep, err, sizeof(err));
	if (rv == 0) {
		tasq_wire_rep_fini(&rep);
	}
	ASSERT_NE(rv, 0);
	tasq_chan_close(chan);
	teardown();
}

// Health's identity and server_id from the server at the ready file's URL.
static void
health_of(uint64_t *identity, uint64_t *server_id)
{
	tasq_chan *chan;
	tasq_req   req = { .method = TASQ_M_HEALTH };
	tasq_rep   rep;
	char       err[512], url[128];

	read_ready(url, sizeof(url));
	tasq_chan_opts co = { .url  = url,
		.keys               = keys,
		.connect_timeout_ms = 5000,
		.max_msg_bytes      = 1 << 20 };
	ASSERT_OK(tasq_chan_open(&chan, &co, err, sizeof(err)));
	ASSERT_OK(tasq_chan_call(chan, &req, 5000, &rep, err, sizeof(err)));
	ASSERT_EQ(rep.method, TASQ_M_HEALTH);
	*identity  = rep.u.health.identity;
	*server_id = rep.u.health.server_id;
	tasq_wire_rep_fini(&rep);
	req = (tasq_req) { .method = TASQ_M_STATS };
	ASSERT_OK(tasq_chan_call(chan, &req, 5000, &rep, err, sizeof(err)));
	ASSERT_EQ(rep.u.stats.identity, *identity);
	tasq_wire_rep_fini(&rep);
	tasq_chan_close(chan);
}

// The identity (issue 15) is in Health and Stats, is the one in
// <data-dir>/identity, and survives a restart with the same directory,
// while server_id is new in every process.
TEST(server_identity_survives_restart)
{
	tasq_server_conf sc;
	tasq_server     *s;
	char             err[512], path[128], line[64], want[64];
	uint64_t         id1, sid1, id2, sid2;

	setup(&sc, "tcp://127.0.0.1:0");
	ASSERT_OK(tasq_server_alloc(&s, &sc, err, sizeof(err)));
	ASSERT_OK(tasq_server_start(s, err, sizeof(err)));
	health_of(&id1, &sid1);
	tasq_server_free(s);
	ASSERT_NE(id1, 0);
	snprintf(path, sizeof(path), "%s/identity", dir);
	FILE *f = fopen(path, "r");
	ASSERT_NOT_NULL(f);
	ASSERT_NOT_NULL(fgets(line, sizeof(line), f));
	fclose(f);
	snprintf(want, sizeof(want), "%016llx\n", (unsigned long long) id1);
	ASSERT_STR_EQ(line, want);

	ASSERT_EQ(unlink(ready), 0);
	ASSERT_OK(tasq_server_alloc(&s, &sc, err, sizeof(err)));
	ASSERT_OK(tasq_server_start(s, err, sizeof(err)));
	health_of(&id2, &sid2);
	tasq_server_free(s);
	ASSERT_EQ(id2, id1);
	ASSERT_NE(sid2, sid1);
	teardown();
}

// Without --data-dir every process has an identity of its own.
TEST(server_identity_random_without_data_dir)
{
	tasq_server_conf sc;
	tasq_server     *s;
	char             err[512];
	uint64_t         id1, sid1, id2, sid2;

	setup(&sc, "tcp://127.0.0.1:0");
	sc.data_dir = NULL;
	ASSERT_OK(tasq_server_alloc(&s, &sc, err, sizeof(err)));
	ASSERT_OK(tasq_server_start(s, err, sizeof(err)));
	health_of(&id1, &sid1);
	tasq_server_free(s);
	ASSERT_EQ(unlink(ready), 0);
	ASSERT_OK(tasq_server_alloc(&s, &sc, err, sizeof(err)));
	ASSERT_OK(tasq_server_start(s, err, sizeof(err)));
	health_of(&id2, &sid2);
	tasq_server_free(s);
	ASSERT_NE(id1, 0);
	ASSERT_NE(id2, 0);
	ASSERT_NE(id2, id1);
	teardown();
}

// A malformed identity file stops the start with a message naming it,
// and is left as it was.
TEST(server_bad_identity_file_refused)
{
	tasq_server_conf sc;
	tasq_server     *s        = NULL;
	char             err[512] = "", path[128], line[64];

	setup(&sc, "tcp://127.0.0.1:0");
	snprintf(path, sizeof(path), "%s/identity", dir);
	FILE *f = fopen(path, "w");
	ASSERT_NOT_NULL(f);
	fputs("not an identity\n", f);
	ASSERT_EQ(fclose(f), 0);
	ASSERT_RV(tasq_server_alloc(&s, &sc, err, sizeof(err)),
	    TASQ_EFAILED_PRECONDITION);
	ASSERT_STR_CONTAINS(err, path);
	ASSERT_STR_CONTAINS(err, "malformed");
	f = fopen(path, "r");
	ASSERT_NOT_NULL(f);
	ASSERT_NOT_NULL(fgets(line, sizeof(line), f));
	fclose(f);
	ASSERT_STR_EQ(line, "not an identity\n");
	// The directory's lock was let go: a fixed file starts.
	ASSERT_EQ(unlink(path), 0);
	ASSERT_OK(tasq_server_alloc(&s, &sc, err, sizeof(err)));
	tasq_server_free(s);
	teardown();
}

// GET path from 127.0.0.1:port over a plain socket: the status line.
static void
http_status(int port, const char *path, char *status, size_t len)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
		.sin_port                     = htons((uint16_t) port) };
	char               req[256];
	ssize_t            n;
	int                fd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT_TRUE((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	ASSERT_EQ(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\n\r\n", path);
	ASSERT_EQ(write(fd, req, strlen(req)), (ssize_t) strlen(req));
	ASSERT_TRUE((n = read(fd, status, len - 1)) > 0);
	status[n]                       = '\0';
	status[strcspn(status, "\r\n")] = '\0';
	close(fd);
}

// --metrics-listen with port 0: the kernel picks the port and the ready
// file's second line names it (tests use it instead of a port picked
// beforehand, which another process could take first).
TEST(server_ready_file_names_the_metrics_port)
{
	tasq_server_conf sc;
	tasq_server     *s;
	char             err[512], line[2][128], status[128];
	int              port = 0, mport = 0;

	setup(&sc, "tcp://127.0.0.1:0");
	sc.metrics_listen = "http://127.0.0.1:0";
	ASSERT_OK(tasq_server_alloc(&s, &sc, err, sizeof(err)));
	ASSERT_OK(tasq_server_start(s, err, sizeof(err)));
	FILE *f = fopen(ready, "r");
	ASSERT_NOT_NULL(f);
	ASSERT_NOT_NULL(fgets(line[0], sizeof(line[0]), f));
	ASSERT_NOT_NULL(fgets(line[1], sizeof(line[1]), f));
	ASSERT_NULL(fgets(status, sizeof(status), f));
	fclose(f);
	ASSERT_EQ(sscanf(line[0], "tcp://127.0.0.1:%d\n", &port), 1);
	ASSERT_EQ(sscanf(line[1], "http://127.0.0.1:%d\n", &mport), 1);
	ASSERT_GT(port, 0);
	ASSERT_GT(mport, 0);
	ASSERT_NE(mport, port);
	http_status(mport, "/healthz", status, sizeof(status));
	ASSERT_STR_CONTAINS(status, " 200");
	tasq_server_free(s);
	teardown();
}

TASQ_TEST_MAIN()
