#include "conn_end.h"

#include <dirent.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <nng/nng.h>

#include "log.h"

// The scan below reads descriptors that nng's threads may close at the
// same moment (a connection that ends on its own). That is harmless: a
// number reused meanwhile is acted on only if it is again a connection
// accepted on our address, which is what we mean to end anyway. Thread
// Sanitizer tracks descriptors as memory and would report it, so the scan
// is hidden from it.
#if defined(__SANITIZE_THREAD__)
#define CONN_END_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CONN_END_TSAN 1
#endif
#endif
#ifdef CONN_END_TSAN
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
void AnnotateIgnoreWritesBegin(const char *file, int line);
void AnnotateIgnoreWritesEnd(const char *file, int line);
#define FD_SCAN_BEGIN()                                                       \
	do {                                                                  \
		AnnotateIgnoreReadsBegin(__FILE__, __LINE__);                 \
		AnnotateIgnoreWritesBegin(__FILE__, __LINE__);                \
	} while (0)
#define FD_SCAN_END()                                                         \
	do {                                                                  \
		AnnotateIgnoreWritesEnd(__FILE__, __LINE__);                  \
		AnnotateIgnoreReadsEnd(__FILE__, __LINE__);                   \
	} while (0)
#else
#define FD_SCAN_BEGIN()
#define FD_SCAN_END()
#endif

// Matches a socket accepted on the listening address: a connected
// socket whose local address is the TCP port, or the IPC path.
static bool
conn_fd(int fd, int port, const char *path)
{
	struct sockaddr_storage ss;
	socklen_t               len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *) &ss, &len) != 0) {
		return (false);
	}
	if (port > 0 && ss.ss_family == AF_INET) {
		if (ntohs(((struct sockaddr_in *) &ss)->sin_port) != port) {
			return (false);
		}
	} else if (port > 0 && ss.ss_family == AF_INET6) {
		if (ntohs(((struct sockaddr_in6 *) &ss)->sin6_port) != port) {
			return (false);
		}
	} else if (path != NULL && ss.ss_family == AF_UNIX) {
		struct sockaddr_un *un = (struct sockaddr_un *) &ss;
		if (len <= offsetof(struct sockaddr_un, sun_path) ||
		    strncmp(un->sun_path, path, sizeof(un->sun_path)) != 0) {
			return (false);
		}
	} else {
		return (false);
	}
	len = sizeof(ss);
	return (getpeername(fd, (struct sockaddr *) &ss, &len) == 0);
}

// Shuts down the receiving half of every socket of this process that
// match(fd, arg) picks (descriptors are not closed: nng owns them).
// Returns how many.
static int
end_matching(bool (*match)(int, const void *), const void *arg)
{
	DIR           *d;
	struct dirent *e;
	int            n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL) {
		tasq_log_errno(TASQ_LOG_WARN, "shutdown: /proc/self/fd");
		return (0);
	}
	FD_SCAN_BEGIN();
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		char       *end;
		long        fd = strtol(e->d_name, &end, 10);
		if (*end != '\0' || end == e->d_name || fd == dirfd(d) ||
		    fstat((int) fd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
			continue;
		}
		if (match((int) fd, arg) && shutdown((int) fd, SHUT_RD) == 0) {
			n++;
		}
	}
	FD_SCAN_END();
	closedir(d);
	return (n);
}

struct listen_addr {
	int         port;
	const char *path;
};

static bool
listen_match(int fd, const void *arg)
{
	const struct listen_addr *la = arg;

	return (conn_fd(fd, la->port, la->path));
}

int
tasq_conn_end(int port, const char *path)
{
	struct listen_addr la = { .port = port, .path = path };

	return (end_matching(listen_match, &la));
}

// Whether a socket address is the nng one (TCP over IPv4 or IPv6).
static bool
same_addr(const struct sockaddr_storage *ss, const nng_sockaddr *sa)
{
	if (ss->ss_family == AF_INET && sa->s_family == NNG_AF_INET) {
		const struct sockaddr_in *in = (const void *) ss;
		return (in->sin_port == sa->s_in.sa_port &&
		    in->sin_addr.s_addr == sa->s_in.sa_addr);
	}
	if (ss->ss_family == AF_INET6 && sa->s_family == NNG_AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *) ss;
		return (in6->sin6_port == sa->s_in6.sa_port &&
		    memcmp(&in6->sin6_addr, sa->s_in6.sa_addr, 16) == 0);
	}
	return (false);
}

// The local and the remote address of one connection.
struct conn_addrs {
	nng_sockaddr loc, rem;
};

static bool
pipe_match(int fd, const void *arg)
{
	const struct conn_addrs *ca = arg;
	struct sockaddr_storage  ss;
	socklen_t                len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *) &ss, &len) != 0 ||
	    !same_addr(&ss, &ca->loc)) {
		return (false);
	}
	len = sizeof(ss);
	return (getpeername(fd, (struct sockaddr *) &ss, &len) == 0 &&
	    same_addr(&ss, &ca->rem));
}

int
tasq_conn_end_pipe(nng_pipe p)
{
	struct conn_addrs ca;

	if (nng_pipe_get_addr(p, NNG_OPT_LOCADDR, &ca.loc) != 0 ||
	    nng_pipe_get_addr(p, NNG_OPT_REMADDR, &ca.rem) != 0 ||
	    (ca.loc.s_family != NNG_AF_INET &&
	        ca.loc.s_family != NNG_AF_INET6)) {
		return (0);
	}
	return (end_matching(pipe_match, &ca));
}
