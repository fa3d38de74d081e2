// Unit tests of lib/url: every accepted form passes, and each common
// mistake gets the accepted forms and, where obvious, the fix.
#include <string.h>

#include "err.h"
#include "tasq_test.h"
#include "url.h"

static char err[512];

static int
check(const char *url, tasq_url_use use)
{
	memset(err, 'x', sizeof(err));
	err[sizeof(err) - 1] = '\0';
	int rv               = tasq_url_check(url, use, err, sizeof(err));
	if (rv == 0) {
		err[0] = '\0';
	}
	return (rv);
}

TEST(url_accepts_the_documented_forms)
{
	ASSERT_OK(check("tcp://127.0.0.1:7070", TASQ_URL_DIAL));
	ASSERT_OK(check("tcp://tasq.lan:7070", TASQ_URL_DIAL));
	ASSERT_OK(check("tcp4://127.0.0.1:1", TASQ_URL_DIAL));
	ASSERT_OK(check("tcp6://[::1]:7070", TASQ_URL_DIAL));
	ASSERT_OK(check("tcp://[::1]:7070", TASQ_URL_DIAL));
	ASSERT_OK(check("tls+tcp://tasq.lan:7070", TASQ_URL_DIAL));
	ASSERT_OK(check("tls+tcp4://127.0.0.1:65535", TASQ_URL_DIAL));
	ASSERT_OK(check("tls+tcp6://[::1]:7070", TASQ_URL_DIAL));
	ASSERT_OK(check("ipc:///run/tasq/sock", TASQ_URL_DIAL));
	ASSERT_OK(check("ipc://relative.sock", TASQ_URL_DIAL));
	ASSERT_OK(check("tcp://127.0.0.1:7070/", TASQ_URL_DIAL));
	ASSERT_OK(check("tcp://0.0.0.0:7070", TASQ_URL_LISTEN));
	ASSERT_OK(check("tcp://127.0.0.1:0", TASQ_URL_LISTEN));
	ASSERT_OK(check("tcp://:7070", TASQ_URL_LISTEN));
	ASSERT_OK(check("tcp://*:7070", TASQ_URL_LISTEN));
	ASSERT_OK(check("tls+tcp://0.0.0.0:7070", TASQ_URL_LISTEN));
	ASSERT_OK(check("ipc:///tmp/x.sock", TASQ_URL_LISTEN));
	ASSERT_OK(check("http://0.0.0.0:9090", TASQ_URL_HTTP));
	ASSERT_OK(check("http://127.0.0.1:0", TASQ_URL_HTTP));
	ASSERT_OK(check("http://[::1]:9090/", TASQ_URL_HTTP));
}

TEST(url_host_port_without_scheme_suggests_tcp)
{
	ASSERT_RV(
	    check("127.0.0.1:22001", TASQ_URL_DIAL), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "'127.0.0.1:22001'");
	ASSERT_STR_CONTAINS(err, "did you mean tcp://127.0.0.1:22001?");
	ASSERT_STR_CONTAINS(err, TASQ_URL_FORMS);
	ASSERT_RV(
	    check("tasq.lan:7070", TASQ_URL_LISTEN), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "did you mean tcp://tasq.lan:7070?");
	ASSERT_RV(check("[::1]:7070", TASQ_URL_DIAL), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "did you mean tcp://[::1]:7070?");
	ASSERT_RV(
	    check("localhost:9090", TASQ_URL_HTTP), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "did you mean http://localhost:9090?");
}

TEST(url_bare_port_and_path)
{
	ASSERT_RV(check("7070", TASQ_URL_DIAL), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "did you mean tcp://127.0.0.1:7070?");
	ASSERT_RV(check("7070", TASQ_URL_LISTEN), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "did you mean tcp://0.0.0.0:7070?");
	ASSERT_RV(
	    check("/run/tasq.sock", TASQ_URL_DIAL), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "did you mean ipc:///run/tasq.sock?");
}

TEST(url_http_for_the_queue_suggests_tcp)
{
	ASSERT_RV(check("http://127.0.0.1:22001", TASQ_URL_DIAL),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "not HTTP");
	ASSERT_STR_CONTAINS(err, "did you mean tcp://127.0.0.1:22001?");
	ASSERT_STR_CONTAINS(err, TASQ_URL_FORMS);
	ASSERT_RV(check("https://tasq.lan:7070/", TASQ_URL_DIAL),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "did you mean tls+tcp://tasq.lan:7070?");
	// No port: no obvious fix.
	ASSERT_RV(
	    check("http://tasq.lan", TASQ_URL_DIAL), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_NOT_CONTAINS(err, "did you mean");
	ASSERT_STR_CONTAINS(err, TASQ_URL_FORMS);
}

TEST(url_tcp_for_metrics_suggests_http)
{
	ASSERT_RV(check("tcp://0.0.0.0:9090", TASQ_URL_HTTP),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "did you mean http://0.0.0.0:9090?");
	ASSERT_RV(check("https://0.0.0.0:9090", TASQ_URL_HTTP),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "http://HOST:PORT");
}

TEST(url_scheme_typos)
{
	ASSERT_RV(check("tpc://127.0.0.1:7070", TASQ_URL_DIAL),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "unknown scheme 'tpc'");
	ASSERT_STR_CONTAINS(err, "did you mean tcp://127.0.0.1:7070?");
	ASSERT_RV(check("TCP://127.0.0.1:7070", TASQ_URL_DIAL),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "did you mean tcp://127.0.0.1:7070?");
	ASSERT_RV(check("tls://127.0.0.1:7070", TASQ_URL_DIAL),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "did you mean tls+tcp://127.0.0.1:7070?");
	ASSERT_RV(check("tcp:/127.0.0.1:7070", TASQ_URL_DIAL),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "did you mean tcp://127.0.0.1:7070?");
	ASSERT_RV(check("inproc://x", TASQ_URL_DIAL), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, TASQ_URL_FORMS);
}

TEST(url_host_and_port_are_checked)
{
	ASSERT_RV(
	    check("tcp://127.0.0.1", TASQ_URL_DIAL), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "no port");
	ASSERT_RV(
	    check("tcp://127.0.0.1:", TASQ_URL_DIAL), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "no port");
	ASSERT_RV(check("tcp://127.0.0.1:70x", TASQ_URL_DIAL),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "port");
	ASSERT_RV(check("tcp://127.0.0.1:65536", TASQ_URL_DIAL),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "port");
	ASSERT_RV(
	    check("tcp://127.0.0.1:0", TASQ_URL_DIAL), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "port 0");
	ASSERT_RV(check("tcp://:7070", TASQ_URL_DIAL), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "no host");
	ASSERT_RV(
	    check("tcp://[::1:7070", TASQ_URL_DIAL), TASQ_EINVALID_ARGUMENT);
	ASSERT_RV(
	    check("tcp://a b:7070", TASQ_URL_DIAL), TASQ_EINVALID_ARGUMENT);
	ASSERT_RV(check("tcp://127.0.0.1:7070/x", TASQ_URL_DIAL),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "path");
	ASSERT_RV(
	    check("tcp://user@h:7070", TASQ_URL_DIAL), TASQ_EINVALID_ARGUMENT);
	ASSERT_RV(check("ipc://", TASQ_URL_DIAL), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "ipc:///path");
	ASSERT_RV(check("", TASQ_URL_DIAL), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "empty");
}

TEST(url_err_is_bounded)
{
	char small[16];
	char long_url[600];

	memset(long_url, 'a', sizeof(long_url) - 1);
	long_url[sizeof(long_url) - 1] = '\0';
	ASSERT_RV(
	    tasq_url_check(long_url, TASQ_URL_DIAL, small, sizeof(small)),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_LT(strlen(small), sizeof(small));
	ASSERT_RV(check(long_url, TASQ_URL_DIAL), TASQ_EINVALID_ARGUMENT);
	ASSERT_LT(strlen(err), sizeof(err));
}

TASQ_TEST_MAIN()
