// shard_opts_test: the options of several servers and a session's open
// when none of them answers (no server needed): a server list is checked
// when it is set, resolve-interval is an option, an open on a list of
// servers that refuse names each, and one URL fails as it always did.
// The refusing "servers" are TCP sockets bound to port 0 and never
// listening (a connection to them is refused at once).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "tasq_test.h"

#include "api_int.h"

// A loopback port that refuses connections while fd stays open.
static unsigned
refusing_port(int *fdp)
{
	struct sockaddr_in a;
	socklen_t          len = sizeof(a);
	int                fd  = socket(AF_INET, SOCK_STREAM, 0);

	ASSERT_GE(fd, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family      = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT_EQ(bind(fd, (struct sockaddr *) &a, sizeof(a)), 0);
	ASSERT_EQ(getsockname(fd, (struct sockaddr *) &a, &len), 0);
	*fdp = fd;
	return (ntohs(a.sin_port));
}

TEST(server_list_checked_when_set)
{
	tasq_opts  *o;
	const char *v;

	ASSERT_OK(tasq_opts_alloc(&o));
	ASSERT_OK(tasq_opts_set(
	    o, "server", "tcp://127.0.0.1:7070, tcp://127.0.0.2:7070"));
	ASSERT_RV(tasq_opts_set(o, "server",
	              "tcp://127.0.0.1:7070,,tcp://127.0.0.2:7070"),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(tasq_errmsg(), "empty");
	ASSERT_RV(tasq_opts_set(o, "server",
	              "tcp://127.0.0.1:7070,tcp://127.0.0.1:7070"),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(tasq_errmsg(), "tcp://127.0.0.1:7070");
	ASSERT_RV(tasq_opts_set(o, "server",
	              "tcp://127.0.0.1:7070,tls+tcp://127.0.0.2:7070"),
	    TASQ_EINVALID_ARGUMENT);
	// The last good value stays.
	ASSERT_OK(tasq_opts_get(o, "server", &v));
	ASSERT_STR_EQ(v, "tcp://127.0.0.1:7070, tcp://127.0.0.2:7070");
	tasq_opts_free(o);
}

TEST(resolve_interval_option)
{
	tasq_opts  *o;
	const char *v;

	ASSERT_OK(tasq_opts_alloc(&o));
	ASSERT_OK(tasq_opts_get(o, "resolve-interval", &v));
	ASSERT_STR_EQ(v, "30s");
	ASSERT_EQ(tasq_api_opts_u64(o, TASQ_API_OPT_RESOLVE_INTERVAL), 30000);
	ASSERT_OK(tasq_opts_set(o, "resolve-interval", "5s"));
	ASSERT_EQ(tasq_api_opts_u64(o, TASQ_API_OPT_RESOLVE_INTERVAL), 5000);
	ASSERT_RV(tasq_opts_set(o, "resolve-interval", "10ms"),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(tasq_errmsg(), "resolve-interval");
	ASSERT_RV(tasq_opts_set(o, "resolve-interval", "soon"),
	    TASQ_EINVALID_ARGUMENT);
	tasq_opts_free(o);
}

static tasq_opts *
opts_for(const char *server)
{
	tasq_opts *o;

	ASSERT_OK(tasq_opts_alloc(&o));
	ASSERT_OK(tasq_opts_set(o, "server", server));
	ASSERT_OK(tasq_opts_set(o, "key", "0123456789abcdef0123456789abcdef"));
	ASSERT_OK(tasq_opts_set(o, "connect-timeout", "0"));
	return (o);
}

TEST(open_list_none_reachable_names_each)
{
	int           fd1, fd2;
	unsigned      p1 = refusing_port(&fd1), p2 = refusing_port(&fd2);
	char          spec[128], u1[64], u2[64];
	tasq_opts    *o;
	tasq_session *s = NULL;

	snprintf(u1, sizeof(u1), "tcp://127.0.0.1:%u", p1);
	snprintf(u2, sizeof(u2), "tcp://127.0.0.1:%u", p2);
	snprintf(spec, sizeof(spec), "%s,%s", u1, u2);
	o = opts_for(spec);
	ASSERT_RV(tasq_session_open(&s, o), TASQ_EUNAVAILABLE);
	ASSERT_PTR_EQ(s, NULL);
	ASSERT_STR_CONTAINS(tasq_errmsg(), "no server is reachable (2 known)");
	ASSERT_STR_CONTAINS(tasq_errmsg(), u1);
	ASSERT_STR_CONTAINS(tasq_errmsg(), u2);
	tasq_opts_free(o);
	close(fd1);
	close(fd2);
}

// One server: the message of before (chan.c's), no list wording.
TEST(open_one_unreachable_as_before)
{
	int           fd;
	unsigned      p = refusing_port(&fd);
	char          u[64], want[128];
	tasq_opts    *o;
	tasq_session *s = NULL;

	snprintf(u, sizeof(u), "tcp://127.0.0.1:%u", p);
	snprintf(want, sizeof(want), "cannot connect to %s: ", u);
	o = opts_for(u);
	ASSERT_RV(tasq_session_open(&s, o), TASQ_EUNAVAILABLE);
	ASSERT_STR_CONTAINS(tasq_errmsg(), want);
	ASSERT_STR_NOT_CONTAINS(tasq_errmsg(), "no server is reachable");
	tasq_opts_free(o);
	close(fd);
}

// A name with two addresses (an injected resolver) is several servers;
// with one address it is a set too (looked up again: a server added
// behind the name later becomes a member); an IP literal is one server.
static int
two_addrs(void *arg, const char *host, int family, tasq_shard_addr *addrs,
    size_t max, size_t *n, char *err, size_t errlen)
{
	int nwant = *(int *) arg;

	(void) host;
	(void) family;
	(void) err;
	(void) errlen;
	ASSERT_GE(max, 2);
	snprintf(addrs[0].text, sizeof(addrs[0].text), "127.0.0.1");
	snprintf(addrs[1].text, sizeof(addrs[1].text), "127.0.0.2");
	*n = (size_t) nwant;
	return (0);
}

TEST(name_with_two_addresses_is_several)
{
	int             fd, nwant = 2;
	unsigned        p = refusing_port(&fd);
	char            u[64];
	tasq_opts      *o;
	tasq_session   *s = NULL;
	tasq_shard_opts so;

	snprintf(u, sizeof(u), "tcp://localhost:%u", p);
	o = opts_for(u);
	memset(&so, 0, sizeof(so));
	so.resolver     = two_addrs;
	so.resolver_arg = &nwant;
	ASSERT_RV(tasq_api_session_open_with(&s, o, &so), TASQ_EUNAVAILABLE);
	ASSERT_STR_CONTAINS(tasq_errmsg(), "no server is reachable (2 known)");
	nwant = 1;
	ASSERT_RV(tasq_api_session_open_with(&s, o, &so), TASQ_EUNAVAILABLE);
	ASSERT_STR_CONTAINS(tasq_errmsg(), "no server is reachable (1 known)");
	tasq_opts_free(o);
	snprintf(u, sizeof(u), "tcp://127.0.0.1:%u", p);
	o = opts_for(u);
	ASSERT_RV(tasq_api_session_open_with(&s, o, &so), TASQ_EUNAVAILABLE);
	ASSERT_STR_NOT_CONTAINS(tasq_errmsg(), "no server is reachable");
	tasq_opts_free(o);
	close(fd);
}

// A name with no address yet (a headless Service whose pods are not
// ready) is looked up again until connect-timeout: its third look-up
// finds an address (refused here), so the open fails naming the member,
// not the name; a name that never resolves fails naming the name.
static int
late_addr(void *arg, const char *host, int family, tasq_shard_addr *addrs,
    size_t max, size_t *n, char *err, size_t errlen)
{
	int *calls = arg;

	(void) host;
	(void) family;
	ASSERT_GE(max, 1);
	if (++*calls < 3) {
		snprintf(err, errlen, "no such name yet");
		return (TASQ_EUNAVAILABLE);
	}
	snprintf(addrs[0].text, sizeof(addrs[0].text), "127.0.0.1");
	*n = 1;
	return (0);
}

TEST(name_without_address_looked_up_again)
{
	int             fd, calls = 0;
	unsigned        p = refusing_port(&fd);
	char            u[64];
	tasq_opts      *o;
	tasq_session   *s = NULL;
	tasq_shard_opts so;

	snprintf(u, sizeof(u), "tcp://pods.test:%u", p);
	o = opts_for(u);
	ASSERT_OK(tasq_opts_set(o, "connect-timeout", "1s"));
	memset(&so, 0, sizeof(so));
	so.resolver     = late_addr;
	so.resolver_arg = &calls;
	ASSERT_RV(tasq_api_session_open_with(&s, o, &so), TASQ_EUNAVAILABLE);
	ASSERT_STR_CONTAINS(tasq_errmsg(), "no server is reachable (1 known)");
	ASSERT_GE(calls, 3);
	calls = -1000; // never resolves within the second
	ASSERT_RV(tasq_api_session_open_with(&s, o, &so), TASQ_EUNAVAILABLE);
	ASSERT_STR_CONTAINS(tasq_errmsg(), "cannot resolve 'pods.test'");
	tasq_opts_free(o);
	close(fd);
}

TASQ_TEST_MAIN()
