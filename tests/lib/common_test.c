// common_test: libtasq's common part without a server: versions, error
// codes (the public header's against lib/err.h's table), options and
// their precedence, aio and sessions that cannot open.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "tasq_test.h"

#include <tasq/tasq.h>

int lib_public_code(const char *name); // common_public.c

// err.h came first (tasq_test.h): the public header's enum was skipped,
// so the values below are err.h's; the public one is checked against
// them in public_codes_test (which includes only the public header).
TEST(version)
{
	char want[32];

	snprintf(want, sizeof(want), "%d.%d.%d", TASQ_VERSION_MAJOR,
	    TASQ_VERSION_MINOR, TASQ_VERSION_PATCH);
	ASSERT_STR_EQ(tasq_version(), want);
	ASSERT_STR_EQ(tasq_version(), TASQ_VERSION);
	ASSERT_EQ(TASQ_VERSION_NUMBER,
	    TASQ_VERSION_MAJOR * 10000 + TASQ_VERSION_MINOR * 100 +
	        TASQ_VERSION_PATCH);
}

TEST(errors)
{
#define CHECK(name, code, msg)                                                \
	ASSERT_STR_EQ(tasq_errname(TASQ_E##name), #name);                     \
	ASSERT_STR_EQ(tasq_errstr(TASQ_E##name), msg);                        \
	ASSERT_EQ(TASQ_E##name, TASQ_ERR_BASE + code);                        \
	ASSERT_EQ(lib_public_code(#name), TASQ_E##name);
	TASQ_ERR_MAP(CHECK)
#undef CHECK
	ASSERT_STR_EQ(tasq_errname(0), "OK");
	ASSERT_STR_EQ(tasq_errstr(0), "ok");
	ASSERT_STR_EQ(tasq_errname(-1), "UNKNOWN");
	ASSERT_STR_EQ(tasq_errname(TASQ_ERR_BASE + 17), "UNKNOWN");
	ASSERT_STR_EQ(tasq_errstr(12345), "unknown error");
	ASSERT_STR_EQ(tasq_errmsg(), "");
	ASSERT_EQ(TASQ_CODE_MAX, 16);
}

TEST(opts)
{
	tasq_opts  *o;
	const char *v;

	ASSERT_RV(tasq_opts_alloc(NULL), TASQ_EINVALID_ARGUMENT);
	ASSERT_OK(tasq_opts_alloc(&o));
	ASSERT_OK(tasq_opts_get(o, "server", &v));
	ASSERT_STR_EQ(v, "tcp://127.0.0.1:7070");
	ASSERT_OK(tasq_opts_get(o, "request-timeout", &v));
	ASSERT_STR_EQ(v, "10s");
	ASSERT_OK(tasq_opts_get(o, "key", &v));
	ASSERT_NULL(v);
	ASSERT_OK(tasq_opts_set(o, "key", "a secret of twenty bytes"));
	ASSERT_OK(tasq_opts_get(o, "key", &v));
	ASSERT_STR_EQ(v, "(set)");
	ASSERT_RV(tasq_opts_set(o, "no-such", "x"), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(tasq_errmsg(), "no-such");
	ASSERT_RV(tasq_opts_set(o, "server", "127.0.0.1:7070"),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(tasq_errmsg(), "tcp://");
	ASSERT_RV(tasq_opts_set(o, "request-timeout", "soon"),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_RV(
	    tasq_opts_set(o, "request-timeout", "2h"), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(tasq_errmsg(), "outside");
	ASSERT_RV(tasq_opts_set(o, "tls-min-version", "1.1"),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_OK(tasq_opts_set(o, "request-timeout", "30s"));
	ASSERT_OK(tasq_opts_set(o, "request-timeout", NULL)); // default
	ASSERT_OK(tasq_opts_get(o, "request-timeout", &v));
	ASSERT_STR_EQ(v, "10s");
	ASSERT_RV(tasq_opts_get(o, "nope", &v), TASQ_EINVALID_ARGUMENT);
	tasq_opts_free(o);
	tasq_opts_free(NULL);
}

// default < file < environment < tasq_opts_set, whatever the order.
TEST(opts_precedence)
{
	tasq_opts  *o;
	const char *v;
	char        path[] = "/tmp/tasq-lib-conf.XXXXXX";
	int         fd     = mkstemp(path);
	const char  text[] = "# a worker's file\n"
	                     "server = tcp://127.0.0.1:1001\n"
	                     "jobs 4\n" // another program's: skipped
	                    "tls-server-name from-file\n"
	                    "connect-timeout 1s\n";

	ASSERT_GE(fd, 0);
	ASSERT_EQ(
	    write(fd, text, sizeof(text) - 1), (ssize_t) sizeof(text) - 1);
	close(fd);
	ASSERT_OK(tasq_opts_alloc(&o));
	ASSERT_OK(tasq_opts_set(o, "connect-timeout", "2s"));
	setenv("TASQ_SERVER", "tcp://127.0.0.1:1002", 1);
	setenv("TASQ_CONFIG", path, 1);
	ASSERT_OK(tasq_opts_load_env(o));
	ASSERT_OK(tasq_opts_get(o, "server", &v));
	ASSERT_STR_EQ(v, "tcp://127.0.0.1:1002"); // env over file
	ASSERT_OK(tasq_opts_get(o, "tls-server-name", &v));
	ASSERT_STR_EQ(v, "from-file");
	ASSERT_OK(tasq_opts_get(o, "connect-timeout", &v));
	ASSERT_STR_EQ(v, "2s"); // set over file, though set first
	ASSERT_OK(tasq_opts_load_file(o, path));
	ASSERT_OK(tasq_opts_get(o, "server", &v));
	ASSERT_STR_EQ(v, "tcp://127.0.0.1:1002"); // still the env's
	unsetenv("TASQ_CONFIG");
	unsetenv("TASQ_SERVER");
	// A bad value names file:line.
	fd = open(path, O_WRONLY | O_TRUNC);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(write(fd, "\nmax-message lots\n", 18), 18);
	close(fd);
	ASSERT_RV(tasq_opts_load_file(o, path), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(tasq_errmsg(), ":2: max-message");
	unlink(path);
	ASSERT_RV(tasq_opts_load_file(o, path), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(tasq_errmsg(), "cannot open");
	setenv("TASQ_SERVER", "nonsense", 1);
	ASSERT_RV(tasq_opts_load_env(o), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(tasq_errmsg(), "TASQ_SERVER");
	unsetenv("TASQ_SERVER");
	tasq_opts_free(o);
}

// The configuration files the daemons read: the library takes its
// settings from them and skips theirs.
TEST(opts_daemon_files)
{
	tasq_opts  *o;
	const char *v;

	ASSERT_OK(tasq_opts_alloc(&o));
	ASSERT_OK(tasq_opts_load_file(
	    o, TASQ_TEST_SOURCE_DIR "/deploy/tasq-worker.conf.example"));
	ASSERT_OK(tasq_opts_get(o, "server", &v));
	ASSERT_STR_EQ(v, "tcp://127.0.0.1:7070");
	ASSERT_OK(tasq_opts_get(o, "key-file", &v));
	ASSERT_STR_EQ(v, "/etc/tasq/key");
	ASSERT_OK(tasq_opts_load_file(
	    o, TASQ_TEST_SOURCE_DIR "/deploy/tasq-server.conf.example"));
	tasq_opts_free(o);
}

static void
count_cb(void *arg)
{
	(*(int *) arg)++;
}

TEST(aio_idle)
{
	tasq_aio *aio;
	int       n = 0;

	ASSERT_RV(tasq_aio_alloc(NULL, NULL, NULL), TASQ_EINVALID_ARGUMENT);
	ASSERT_OK(tasq_aio_alloc(&aio, count_cb, &n));
	ASSERT_FALSE(tasq_aio_busy(aio));
	tasq_aio_wait(aio); // nothing in flight: returns
	tasq_aio_cancel(aio);
	tasq_aio_stop(aio);
	tasq_aio_set_timeout(aio, 10);
	ASSERT_OK(tasq_aio_result(aio));
	ASSERT_STR_EQ(tasq_aio_errmsg(aio), "");
	tasq_aio_free(aio);
	ASSERT_EQ(n, 0);
}

static tasq_opts *
opts_with(const char *server, const char *key)
{
	tasq_opts *o;

	ASSERT_OK(tasq_opts_alloc(&o));
	ASSERT_OK(tasq_opts_set(o, "server", server));
	if (key != NULL) {
		ASSERT_OK(tasq_opts_set(o, "key", key));
	}
	ASSERT_OK(tasq_opts_set(o, "connect-timeout", "0"));
	return (o);
}

// No server behind the address: UNAVAILABLE with the reason.
TEST(session_server_down)
{
	char          url[128];
	tasq_opts    *o;
	tasq_session *s = (tasq_session *) 1;

	snprintf(url, sizeof(url), "ipc:///tmp/tasq-lib-none-%d.sock",
	    (int) getpid());
	o = opts_with(url, "0123456789abcdef0123");
	ASSERT_RV(tasq_session_open(&s, o), TASQ_EUNAVAILABLE);
	ASSERT_TRUE(tasq_errmsg()[0] != '\0');
	ASSERT_PTR_EQ(s, (tasq_session *) 1); // untouched on failure
	tasq_opts_free(o);
}

TEST(session_bad_options)
{
	tasq_opts    *o;
	tasq_session *s;

	ASSERT_RV(tasq_session_open(NULL, NULL), TASQ_EINVALID_ARGUMENT);
	o = opts_with("ipc:///tmp/tasq-lib-none.sock", NULL);
	ASSERT_RV(tasq_session_open(&s, o), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(tasq_errmsg(), "no shared key");
	ASSERT_OK(tasq_opts_set(o, "key", "short"));
	ASSERT_RV(tasq_session_open(&s, o), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(tasq_errmsg(), "16 to");
	ASSERT_OK(tasq_opts_set(o, "key-file", "/nonexistent/key"));
	ASSERT_TRUE(tasq_session_open(&s, o) != 0);
	ASSERT_STR_CONTAINS(tasq_errmsg(), "/nonexistent/key");
	tasq_opts_free(o);
	// TLS needs a CA to verify the server.
	o = opts_with("tls+tcp://127.0.0.1:1", "0123456789abcdef0123");
	ASSERT_RV(tasq_session_open(&s, o), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(tasq_errmsg(), "--tls-ca");
	tasq_opts_free(o);
	tasq_session_close(NULL);
	tasq_session_free(NULL);
	ASSERT_RV(tasq_session_ping(NULL), TASQ_EINVALID_ARGUMENT);
}

TASQ_TEST_MAIN()
