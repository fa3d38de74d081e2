// tasq_capture: helpers for unit tests of code that prints or reads
// files: run a call with stdout and stderr captured, write a temporary
// file. Include after tasq_test.h.
#ifndef TASQ_CAPTURE_H
#define TASQ_CAPTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// tasq_test_capture runs fn(arg) with stdout and stderr going to a
// temporary file, then puts what it wrote (at most outlen - 1 bytes, NUL
// terminated) in out. Returns what fn returned.
static inline int
tasq_test_capture(int (*fn)(void *), void *arg, char *out, size_t outlen)
{
	FILE  *tmp = tmpfile();
	int    save1, save2, rv;
	size_t n;

	ASSERT_NOT_NULL(tmp);
	fflush(stdout);
	fflush(stderr);
	ASSERT_GE(save1 = dup(1), 0);
	ASSERT_GE(save2 = dup(2), 0);
	ASSERT_GE(dup2(fileno(tmp), 1), 0);
	ASSERT_GE(dup2(fileno(tmp), 2), 0);
	rv = fn(arg);
	fflush(stdout);
	fflush(stderr);
	ASSERT_GE(dup2(save1, 1), 0);
	ASSERT_GE(dup2(save2, 2), 0);
	close(save1);
	close(save2);
	rewind(tmp);
	n      = fread(out, 1, outlen - 1, tmp);
	out[n] = '\0';
	fclose(tmp);
	return (rv);
}

// tasq_test_file writes text to a new file in /tmp whose name starts with
// prefix; returns its path (the caller frees and unlinks it).
static inline char *
tasq_test_file(const char *prefix, const char *text)
{
	size_t len  = strlen(prefix) + sizeof("/tmp/.XXXXXX");
	char  *path = calloc(1, len);
	int    fd;

	ASSERT_NOT_NULL(path);
	snprintf(path, len, "/tmp/%s.XXXXXX", prefix);
	ASSERT_GE(fd = mkstemp(path), 0);
	ASSERT_EQ(write(fd, text, strlen(text)), (ssize_t) strlen(text));
	close(fd);
	return (path);
}

#endif
