#include "identity.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "err.h"

#define FILE_NAME "identity"
#define FILE_LEN 17 // 16 hex digits and a newline

int
tasq_identity_new(uint64_t *idp, char *err, size_t errlen)
{
	uint64_t v = 0;

	// At most a few draws: 0 comes once in 2^64.
	for (int i = 0; i < 8 && v == 0; i++) {
		if (RAND_bytes((unsigned char *) &v, sizeof(v)) != 1) {
			snprintf(err, errlen,
			    "cannot make a server identity: the random "
			    "generator failed");
			return (TASQ_EINTERNAL);
		}
	}
	if (v == 0) {
		snprintf(err, errlen, "cannot make a server identity");
		return (TASQ_EINTERNAL);
	}
	*idp = v;
	return (0);
}

// Parses exactly 16 lowercase hex digits and a newline, not all zero.
static bool
parse(const char *buf, size_t len, uint64_t *idp)
{
	uint64_t v = 0;

	if (len != FILE_LEN || buf[FILE_LEN - 1] != '\n') {
		return (false);
	}
	for (size_t i = 0; i < FILE_LEN - 1; i++) {
		char c = buf[i];
		int  d;
		if (c >= '0' && c <= '9') {
			d = c - '0';
		} else if (c >= 'a' && c <= 'f') {
			d = c - 'a' + 10;
		} else {
			return (false);
		}
		v = (v << 4) | (uint64_t) d;
	}
	if (v == 0) {
		return (false);
	}
	*idp = v;
	return (true);
}

static int
read_file(const char *path, uint64_t *idp, char *err, size_t errlen)
{
	char    buf[FILE_LEN + 1];
	size_t  len = 0;
	ssize_t n;
	int     fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		return (-1); // errno says why
	}
	// One byte more than a good file holds, to see a longer one.
	while (len < sizeof(buf) &&
	    (n = read(fd, buf + len, sizeof(buf) - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			snprintf(err, errlen, "cannot read %s: %s", path,
			    strerror(errno));
			close(fd);
			return (TASQ_EINTERNAL);
		}
		len += (size_t) n;
	}
	close(fd);
	if (!parse(buf, len, idp)) {
		snprintf(err, errlen,
		    "%s is malformed (want 16 lowercase hex digits, not all "
		    "zero, and a newline): restore it from a backup of this "
		    "server's data directory, or remove it to give this "
		    "server a new identity (its jobs' ids then name no "
		    "server)",
		    path);
		return (TASQ_EFAILED_PRECONDITION);
	}
	return (0);
}

static int
write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			return (-1);
		}
		buf += n;
		len -= (size_t) n;
	}
	return (0);
}

static int
write_file(
    const char *dir, const char *path, uint64_t id, char *err, size_t errlen)
{
	char tmp[4096], line[FILE_LEN + 1];
	int  fd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int) sizeof(tmp)) {
		snprintf(err, errlen, "%.200s...: path too long", path);
		return (TASQ_EINVALID_ARGUMENT);
	}
	snprintf(line, sizeof(line), "%016" PRIx64 "\n", id);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) <
	    0) {
		snprintf(
		    err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		return (TASQ_EINTERNAL);
	}
	if (write_all(fd, line, FILE_LEN) != 0 || fsync(fd) != 0) {
		snprintf(
		    err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		close(fd);
		(void) unlink(tmp);
		return (TASQ_EINTERNAL);
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		snprintf(
		    err, errlen, "cannot write %s: %s", path, strerror(errno));
		(void) unlink(tmp);
		return (TASQ_EINTERNAL);
	}
	// The rename is durable once the directory is.
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    fsync(fd) != 0) {
		snprintf(
		    err, errlen, "cannot sync %s: %s", dir, strerror(errno));
		if (fd >= 0) {
			close(fd);
		}
		return (TASQ_EINTERNAL);
	}
	close(fd);
	return (0);
}

int
tasq_identity_load(const char *dir, uint64_t *idp, char *err, size_t errlen)
{
	char     path[4096];
	uint64_t id;
	int      rv;

	if ((size_t) snprintf(path, sizeof(path), "%s/" FILE_NAME, dir) >=
	    sizeof(path) - 8) {
		snprintf(err, errlen, "data directory name too long");
		return (TASQ_EINVALID_ARGUMENT);
	}
	if ((rv = read_file(path, &id, err, errlen)) == 0) {
		*idp = id;
		return (0);
	}
	if (rv > 0) {
		return (rv);
	}
	if (errno != ENOENT) {
		snprintf(
		    err, errlen, "cannot open %s: %s", path, strerror(errno));
		return (TASQ_EINTERNAL);
	}
	// First start in this directory (a stale .tmp from a crash before
	// the rename is overwritten: it was never the identity).
	if ((rv = tasq_identity_new(&id, err, errlen)) != 0 ||
	    (rv = write_file(dir, path, id, err, errlen)) != 0) {
		return (rv);
	}
	*idp = id;
	return (0);
}
