// tasq_scratch: scratch directories for unit tests that need files.
//
// Each run of a test program gets one root, $TMPDIR/tasq-test.PID, made
// on first use and removed with everything under it when the program
// ends, so that the directories of failed tests (whose child processes
// end with _exit) go too; TASQ_TEST_KEEP=1 keeps it. Include after
// tasq_test.h, in a file that defines _GNU_SOURCE or _XOPEN_SOURCE 700
// before its first include. Single-threaded use, like the tests.
#ifndef TASQ_SCRATCH_H
#define TASQ_SCRATCH_H

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char  tasq_scratch_root[200];
static char  tasq_scratch_mem_root[200]; // tasq_scratch_mem_dir's
static pid_t tasq_scratch_pid;

__attribute__((constructor)) static void
tasq_scratch_init(void)
{
	const char *base = getenv("TMPDIR");
	struct stat st;

	tasq_scratch_pid = getpid();
	snprintf(tasq_scratch_root, sizeof(tasq_scratch_root),
	    "%s/tasq-test.%d", base != NULL && base[0] != '\0' ? base : "/tmp",
	    (int) tasq_scratch_pid);
	// Decided here, before any fork, so that the program's end removes
	// the root that its children made too.
	if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
	    access("/dev/shm", W_OK) == 0) {
		snprintf(tasq_scratch_mem_root, sizeof(tasq_scratch_mem_root),
		    "/dev/shm/tasq-test.%d", (int) tasq_scratch_pid);
	} else {
		memcpy(tasq_scratch_mem_root, tasq_scratch_root,
		    sizeof(tasq_scratch_root));
	}
}

static int
tasq_scratch_rm_cb(
    const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void) st;
	(void) flag;
	(void) ftw;
	return (remove(path));
}

// tasq_scratch_rm removes dir and everything under it.
static inline void
tasq_scratch_rm(const char *dir)
{
	(void) nftw(dir, tasq_scratch_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

__attribute__((destructor)) static void
tasq_scratch_fini(void)
{
	const char *keep = getenv("TASQ_TEST_KEEP");

	if (getpid() == tasq_scratch_pid &&
	    (keep == NULL || strcmp(keep, "1") != 0)) {
		tasq_scratch_rm(tasq_scratch_root);
		if (strcmp(tasq_scratch_mem_root, tasq_scratch_root) != 0) {
			tasq_scratch_rm(tasq_scratch_mem_root);
		}
	}
}

// A new empty directory under root (made first if need be), its path
// into buf (len bytes).
static inline void
tasq_scratch_under(const char *root, char *buf, size_t len)
{
	if (mkdir(root, 0700) != 0) {
		ASSERT_EQ(errno, EEXIST);
	}
	snprintf(buf, len, "%s/XXXXXX", root);
	ASSERT_NOT_NULL(mkdtemp(buf));
}

// tasq_scratch_dir makes a new empty directory under the root and writes
// its path into buf (len bytes).
static inline void
tasq_scratch_dir(char *buf, size_t len)
{
	tasq_scratch_under(tasq_scratch_root, buf, len);
}

// tasq_scratch_mem_dir is tasq_scratch_dir in memory: under
// /dev/shm/tasq-test.PID when /dev/shm is a writable directory (a tmpfs,
// where fsync returns at once), else under the usual root. For tests
// whose subject is not the disk but that fsync thousands of times
// (broker_oom_test replays a journal after every failed allocation): on
// a shared CI disk each fsync can wait on the other lanes' writes.
static inline void
tasq_scratch_mem_dir(char *buf, size_t len)
{
	tasq_scratch_under(tasq_scratch_mem_root, buf, len);
}

#endif
