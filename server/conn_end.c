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

int
tasq_conn_end(int port, const char *path)
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
		if (conn_fd((int) fd, port, path) &&
		    shutdown((int) fd, SHUT_RD) == 0) {
			n++;
		}
	}
	FD_SCAN_END();
	closedir(d);
	return (n);
}
