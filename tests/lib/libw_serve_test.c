// libw_serve_test: the calls of the worker side that a long-running
// worker uses (tasq_serve_dial, set_log, set_refusal, set_cancel_fn,
// set_max_request), without a server: a handle without a session, and
// dialing a loopback port where nothing listens until tasq_serve_stop.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tasq_test.h"

#include <tasq/tasq.h>

// The lines of the log function, kept for the assertions.
static pthread_mutex_t mtx = PTHREAD_MUTEX_INITIALIZER;
static char            lines[16384];
static int             nlines[4];

static void
log_cb(void *arg, int level, const char *line)
{
	(void) arg;
	pthread_mutex_lock(&mtx);
	if (level >= 0 && level < 4) {
		nlines[level]++;
	}
	size_t n = strlen(lines);
	snprintf(lines + n, sizeof(lines) - n, "%d %s\n", level, line);
	pthread_mutex_unlock(&mtx);
}

static int
count(int level)
{
	int n;

	pthread_mutex_lock(&mtx);
	n = nlines[level];
	pthread_mutex_unlock(&mtx);
	return (n);
}

// A loopback port where nothing listens: bound, never listening (the
// kernel refuses connections to it), kept until the test ends.
static int
dead_port(int *fd)
{
	struct sockaddr_in a;
	socklen_t          len = sizeof(a);

	memset(&a, 0, sizeof(a));
	a.sin_family      = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((*fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    bind(*fd, (struct sockaddr *) &a, sizeof(a)) != 0 ||
	    getsockname(*fd, (struct sockaddr *) &a, &len) != 0) {
		return (-1);
	}
	return (ntohs(a.sin_port));
}

static void
cancel_cb(void *arg, tasq_lease *l)
{
	(void) arg;
	(void) l;
}

TEST(settings_of_a_handle_without_a_session)
{
	tasq_serve *w = NULL;
	tasq_lease *l = NULL;

	ASSERT_RV(tasq_serve_alloc(NULL, NULL), TASQ_EINVALID_ARGUMENT);
	ASSERT_OK(tasq_serve_alloc(&w, NULL));
	ASSERT_OK(tasq_serve_add_type(w, "square"));
	ASSERT_RV(
	    tasq_serve_set_log(NULL, log_cb, NULL), TASQ_EINVALID_ARGUMENT);
	ASSERT_OK(tasq_serve_set_log(w, log_cb, NULL));
	ASSERT_OK(tasq_serve_set_log(w, NULL, NULL));
	ASSERT_RV(tasq_serve_set_refusal(NULL, true), TASQ_EINVALID_ARGUMENT);
	ASSERT_OK(tasq_serve_set_refusal(w, true));
	ASSERT_RV(tasq_serve_set_cancel_fn(NULL, cancel_cb, NULL),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_OK(tasq_serve_set_cancel_fn(w, cancel_cb, NULL));
	ASSERT_RV(tasq_serve_set_max_request(w, ((size_t) 2 << 20) - 1),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_RV(tasq_serve_set_max_request(w, ((size_t) 1 << 30) + 1),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_RV(tasq_serve_set_max_request(NULL, (size_t) 4 << 20),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_OK(tasq_serve_set_max_request(w, (size_t) 2 << 20));
	// Nothing to lease from, nothing to flush.
	ASSERT_RV(tasq_serve_lease(&l, w), TASQ_EFAILED_PRECONDITION);
	ASSERT_NULL(l);
	ASSERT_STR_CONTAINS(tasq_errmsg(), "tasq_serve_dial");
	ASSERT_OK(tasq_serve_flush(w));
	ASSERT_RV(tasq_serve_dial(NULL, NULL), TASQ_EINVALID_ARGUMENT);
	tasq_serve_free(w);
}

TEST(dial_refuses_options_at_once)
{
	tasq_serve *w = NULL;
	tasq_opts  *o = NULL;
	int         rv;

	ASSERT_OK(tasq_opts_alloc(&o));
	ASSERT_OK(tasq_opts_set(o, "server", "tcp://127.0.0.1:1"));
	ASSERT_OK(tasq_opts_set(o, "key-file", "/nonexistent/tasq.key"));
	ASSERT_OK(tasq_serve_alloc(&w, NULL));
	// The session's own error, at once (not retried).
	rv = tasq_serve_dial(w, o);
	ASSERT_TRUE(rv == TASQ_EINVALID_ARGUMENT || rv == TASQ_ENOT_FOUND);
	ASSERT_STR_CONTAINS(tasq_errmsg(), "/nonexistent/tasq.key");
	tasq_serve_free(w);
	tasq_opts_free(o);
}

struct stopper {
	tasq_serve *w;
	int         waited_ms;
};

// Stops w once the dial told the server unreachable and retried twice.
static void *
stop_later(void *arg)
{
	struct stopper *s = arg;

	for (s->waited_ms = 0; s->waited_ms < 20000; s->waited_ms += 10) {
		if (count(2) >= 1 && count(3) >= 3) {
			break;
		}
		usleep(10000);
	}
	tasq_serve_stop(s->w);
	return (NULL);
}

TEST(dial_tells_an_unreachable_server_once_and_stops)
{
	tasq_serve    *w = NULL;
	tasq_opts     *o = NULL;
	char           url[64];
	int            fd = -1, port;
	pthread_t      t;
	struct stopper s;

	ASSERT_GT((port = dead_port(&fd)), 0);
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
	ASSERT_OK(tasq_opts_alloc(&o));
	ASSERT_OK(tasq_opts_set(o, "server", url));
	ASSERT_OK(tasq_opts_set(o, "key", "0123456789abcdef0123456789abcdef"));
	ASSERT_OK(tasq_serve_alloc(&w, NULL));
	ASSERT_OK(tasq_serve_set_log(w, log_cb, NULL));
	s.w = w;
	ASSERT_EQ(pthread_create(&t, NULL, stop_later, &s), 0);
	ASSERT_RV(tasq_serve_dial(w, o), TASQ_ECANCELLED);
	pthread_join(t, NULL);
	ASSERT_LT(s.waited_ms, 20000);
	// One line at info level, the retries at debug.
	ASSERT_EQ(count(0), 0);
	ASSERT_EQ(count(2), 1);
	ASSERT_GE(count(3), 3);
	ASSERT_STR_CONTAINS(lines, "unreachable");
	ASSERT_STR_CONTAINS(lines, url);
	tasq_serve_free(w);
	tasq_opts_free(o);
	close(fd);
}

TASQ_TEST_MAIN()
