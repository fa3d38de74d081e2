// Unit tests of lib/api/worker_conn (the serve handle's link state): one log
// line per change of the link's state, the refusal backoff shared by threads,
// and --exit-on-auth-failure.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "worker_conn.h"
#include "err.h"
#include "log.h"
#include "tasq_test.h"

// What conn logs goes to stderr: captured into a file between begin and
// end (assertions only after end, so that their reports are seen).
static int   saved_fd = -1;
static FILE *cap;
static char  logbuf[16384];

static void
capture_begin(void)
{
	fflush(stderr);
	cap      = tmpfile();
	saved_fd = dup(STDERR_FILENO);
	dup2(fileno(cap), STDERR_FILENO);
}

static const char *
capture_end(void)
{
	size_t n;

	fflush(stderr);
	dup2(saved_fd, STDERR_FILENO);
	close(saved_fd);
	rewind(cap);
	n         = fread(logbuf, 1, sizeof(logbuf) - 1, cap);
	logbuf[n] = '\0';
	fclose(cap);
	return (logbuf);
}

static int
count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++) {
		n++;
	}
	return (n);
}

static tasq_conn *
conn_new(bool quiet, bool exit_on_auth)
{
	tasq_conn_conf cc = {
		.url                  = "tcp://127.0.0.1:1",
		.key_file             = "/etc/tasq/key",
		.tls_ca               = "/etc/tasq/ca.pem",
		.quiet                = quiet,
		.exit_on_auth_failure = exit_on_auth,
	};
	tasq_conn *c = NULL;

	tasq_log_init("conn_test");
	tasq_log_set_level(TASQ_LOG_INFO);
	if (tasq_conn_alloc(&c, &cc) != 0) {
		abort();
	}
	return (c);
}

TEST(unreachable_connected_lost_regained_once_each)
{
	tasq_conn  *c = conn_new(false, false);
	uint32_t    w1, w2, w3;
	const char *log;

	capture_begin();
	(void) tasq_conn_dial_failed(
	    c, NNG_ECONNREFUSED, "Connection refused", &w1);
	(void) tasq_conn_dial_failed(
	    c, NNG_ECONNREFUSED, "Connection refused", &w2);
	(void) tasq_conn_dial_failed(
	    c, NNG_ECONNREFUSED, "Connection refused", &w3);
	tasq_conn_pipe_cb(c, true);
	tasq_conn_call_ok(c, 0x11);
	tasq_conn_call_ok(c, 0x11);
	tasq_conn_pipe_cb(c, false);
	tasq_conn_pipe_cb(c, true);
	(void) tasq_conn_call_failed(c, TASQ_EDEADLINE_EXCEEDED, "no reply");
	tasq_conn_call_ok(c, 0x22);
	tasq_conn_call_ok(c, 0x22);
	tasq_conn_close(c);
	tasq_conn_pipe_cb(c, false); // closing: not "lost"
	log = capture_end();
	ASSERT_EQ(count(log, "unreachable: Connection refused; retrying"), 1);
	ASSERT_LT(w1, w2);
	ASSERT_LT(w2, w3);
	ASSERT_EQ(count(log,
	              "info: connected to tcp://127.0.0.1:1 (server id "
	              "0000000000000011)"),
	    1);
	ASSERT_EQ(count(log,
	              "warn: lost the server tcp://127.0.0.1:1: "
	              "connection closed"),
	    1);
	ASSERT_EQ(count(log, "lost the server"), 1);
	ASSERT_EQ(count(log,
	              "info: regained the server tcp://127.0.0.1:1 "
	              "after 0 s (server restarted: new server id "
	              "0000000000000022, was 0000000000000011)"),
	    1);
	tasq_conn_free(c);
}

TEST(a_refusal_is_told_once_and_backs_off_one_thread_at_a_time)
{
	tasq_conn  *c = conn_new(false, false);
	const char *log;
	bool        quit1, quit2;
	uint32_t    first, second, third;

	capture_begin();
	tasq_conn_call_ok(c, 0x11);
	(void) capture_end();
	capture_begin();
	quit1 = tasq_conn_call_failed(
	    c, TASQ_EUNAUTHENTICATED, "UNAUTHENTICATED: no");
	// A second thread's call, in flight already: no new line, and the
	// backoff is not doubled by it.
	quit2 = tasq_conn_call_failed(
	    c, TASQ_EUNAUTHENTICATED, "UNAUTHENTICATED: no");
	first = tasq_conn_wait_ms(c);
	log   = capture_end();
	ASSERT_FALSE(quit1);
	ASSERT_FALSE(quit2);
	ASSERT_EQ(count(log, "error: "), 1);
	ASSERT_STR_CONTAINS(log, "the key file /etc/tasq/key");
	ASSERT_STR_CONTAINS(log, "UNAUTHENTICATED: no");
	ASSERT_STR_NOT_CONTAINS(log, "lost the server");
	ASSERT_GT(first, 500);
	ASSERT_LE(first, 1000);
	nng_msleep(first + 10); // the backoff's own deadline
	// Due: one thread is let through, the others wait for it.
	ASSERT_EQ(tasq_conn_wait_ms(c), 0);
	ASSERT_GT(tasq_conn_wait_ms(c), 0);
	capture_begin();
	(void) tasq_conn_call_failed(c, TASQ_EUNAUTHENTICATED, "again");
	second = tasq_conn_wait_ms(c);
	log    = capture_end();
	ASSERT_EQ(count(log, "error: "), 0);
	ASSERT_GT(second, 1500); // doubled
	ASSERT_LE(second, 2000);
	capture_begin();
	tasq_conn_call_ok(c, 0x11);
	third = tasq_conn_wait_ms(c);
	log   = capture_end();
	ASSERT_EQ(third, 0);
	ASSERT_STR_CONTAINS(log, "the server accepts this worker now");
	tasq_conn_free(c);
}

// Worker processes other than the first (quiet) log their refusals at
// debug level; with --exit-on-auth-failure one of them exiting first
// ended the worker with status 4 and no error line (the supervisor stops
// the others, the first among them). Only the process that tells the
// refusal at error level may end the worker: the first, which is refused
// too, since every process has the same key and server.
TEST(quiet_process_does_not_exit_on_auth_failure)
{
	tasq_conn *c = conn_new(true, true);
	uint32_t   w;

	capture_begin();
	ASSERT_FALSE(tasq_conn_call_failed(c, TASQ_EUNAUTHENTICATED, "no"));
	ASSERT_FALSE(tasq_conn_dial_failed(c, NNG_EPEERAUTH, "TLS bad", &w));
	(void) capture_end();
	tasq_conn_free(c);
}

TEST(exit_on_auth_failure_and_tls)
{
	tasq_conn  *c = conn_new(false, true);
	const char *log;
	uint32_t    w;
	bool        quit;

	capture_begin();
	quit = tasq_conn_call_failed(c, TASQ_EUNAUTHENTICATED, "no");
	log  = capture_end();
	ASSERT_TRUE(quit);
	ASSERT_STR_CONTAINS(log, "exiting (--exit-on-auth-failure)");
	tasq_conn_free(c);

	c = conn_new(false, false);
	capture_begin();
	ASSERT_FALSE(tasq_conn_dial_failed(c, NNG_EPEERAUTH, "TLS bad", &w));
	ASSERT_FALSE(tasq_conn_dial_failed(c, NNG_ECONNSHUT, "shut", &w));
	ASSERT_FALSE(tasq_conn_dial_failed(c, NNG_EPEERAUTH, "TLS bad", &w));
	log = capture_end();
	ASSERT_EQ(count(log, "error: "), 1);
	ASSERT_STR_NOT_CONTAINS(log, "unreachable");
	ASSERT_STR_CONTAINS(log, "CA file: /etc/tasq/ca.pem");
	ASSERT_EQ(w, 4000); // 1 s, 2 s, 4 s: not reset by the shutdown
	tasq_conn_free(c);

	c = conn_new(false, true);
	capture_begin();
	quit = tasq_conn_dial_failed(c, NNG_ECRYPTO, "TLS bad", &w);
	log  = capture_end();
	ASSERT_TRUE(quit);
	tasq_conn_free(c);
}

TEST(an_error_status_is_told_once_and_is_not_a_lost_server)
{
	tasq_conn  *c = conn_new(false, false);
	const char *log;

	capture_begin();
	tasq_conn_call_ok(c, 0x11);
	for (int i = 0; i < 3; i++) {
		ASSERT_FALSE(tasq_conn_call_failed(
		    c, TASQ_EINVALID_ARGUMENT, "INVALID_ARGUMENT: bad"));
	}
	log = capture_end();
	ASSERT_EQ(count(log,
	              "warn: server tcp://127.0.0.1:1 refused a lease "
	              "request: INVALID_ARGUMENT: bad"),
	    1);
	ASSERT_STR_NOT_CONTAINS(log, "lost the server");
	tasq_conn_free(c);
}

TEST(other_processes_log_at_debug_level)
{
	tasq_conn  *c = conn_new(true, false);
	const char *log;
	uint32_t    w;

	capture_begin();
	(void) tasq_conn_dial_failed(c, NNG_ECONNREFUSED, "refused", &w);
	tasq_conn_call_ok(c, 0x11);
	(void) tasq_conn_call_failed(c, TASQ_EUNAUTHENTICATED, "no");
	log = capture_end();
	ASSERT_STR_EQ(log, "");
	tasq_conn_free(c);
}

TEST(an_unresolvable_host_backs_off_to_a_minute)
{
	tasq_conn  *c = conn_new(false, false);
	const char *log;
	uint32_t    w = 0;

	capture_begin();
	for (int i = 0; i < 10; i++) {
		ASSERT_FALSE(
		    tasq_conn_dial_failed(c, NNG_EADDRINVAL, "invalid", &w));
	}
	log = capture_end();
	ASSERT_EQ(count(log, "error: "), 1);
	ASSERT_EQ(w, 60000);
	tasq_conn_free(c);
}

TASQ_TEST_MAIN()
