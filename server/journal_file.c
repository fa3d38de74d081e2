// journal_file: the journal's files: the fault hook around the system
// calls that change them, journals made and committed, the reserve, and a
// compaction's file work (see journal.h).
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "journal_int.h"
#include "log.h"

const char tasq_jfile_journal_magic[8]  = "TQJOURN1";
const char tasq_jfile_snapshot_magic[8] = "TQSNAPS1";

static _Atomic(tasq_journal_fault_fn) fault_fn;

void
tasq_journal_set_fault(tasq_journal_fault_fn fn)
{
	atomic_store(&fault_fn, fn);
}

// The injected failure of op on path, if a test asked for one (an errno).
static int
fault(tasq_journal_op op, const char *path)
{
	tasq_journal_fault_fn fn = atomic_load(&fault_fn);

	return (fn != NULL ? fn(op, path) : 0);
}

static int
jfile_unlink(const char *path)
{
	int e;

	if ((e = fault(TASQ_JOURNAL_OP_UNLINK, path)) != 0) {
		errno = e;
		return (-1);
	}
	return (unlink(path));
}

static int
jfile_rename(const char *from, const char *to)
{
	int e;

	if ((e = fault(TASQ_JOURNAL_OP_RENAME, to)) != 0) {
		errno = e;
		return (-1);
	}
	return (rename(from, to));
}

static int
jfile_open(const char *path, int flags, mode_t mode)
{
	int e;

	if ((e = fault(TASQ_JOURNAL_OP_OPEN, path)) != 0) {
		errno = e;
		return (-1);
	}
	return (open(path, flags, mode));
}

// fdatasync (or fsync for a directory) of fd, the file path: an errno.
int
tasq_jfile_sync(int fd, const char *path, bool dir)
{
	int e;

	if ((e = fault(TASQ_JOURNAL_OP_SYNC, path)) != 0) {
		return (e);
	}
	return ((dir ? fsync(fd) : fdatasync(fd)) != 0 ? errno : 0);
}

void
tasq_jfile_name(const tasq_journal *j, char *out, size_t n, bool snap,
    uint64_t gen, const char *suffix)
{
	snprintf(out, n, "%s/%s-%016" PRIx64 "%s%s", j->dir,
	    snap ? "snapshot" : "journal", gen, snap ? ".snap" : ".log",
	    suffix);
}

int
tasq_jfile_write_all(
    int fd, const char *path, const uint8_t *p, size_t n, size_t *done)
{
	*done = 0;
	while (*done < n) {
		int e = fault(TASQ_JOURNAL_OP_WRITE, path);
		if (e != 0) {
			return (e);
		}
		ssize_t k = write(fd, p + *done, n - *done);
		if (k < 0) {
			if (errno == EINTR) {
				continue;
			}
			return (errno);
		}
		*done += (size_t) k;
	}
	return (0);
}

static int
sync_dir(const tasq_journal *j)
{
	int fd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rv = 0;

	if (fd < 0) {
		return (errno);
	}
	rv = tasq_jfile_sync(fd, j->dir, true);
	close(fd);
	return (rv);
}

static void
reserve_path(const tasq_journal *j, char *out, size_t n)
{
	snprintf(out, n, "%s/reserve", j->dir);
}

// Opens journal gen for appending, making it if it does not exist: a new
// journal is written whole (header, synced) under a .tmp name and renamed
// into place, because its name appearing is what commits a generation
// (see tasq_journal_recover). Returns 0 with *fdp, or an errno; *doubt
// then says whether the rename happened but the directory could not be
// synced (a crash may or may not keep the new name).
int
tasq_jfile_open_journal(tasq_journal *j, uint64_t gen, int *fdp, bool *doubt)
{
	char    path[4096], tmp[4096];
	uint8_t hdr[HDR_LEN];
	size_t  done;
	int     fd, rv;

	*doubt = false;
	tasq_jfile_name(j, path, sizeof(path), false, gen, "");
	tasq_jfile_name(j, tmp, sizeof(tmp), false, gen, ".tmp");
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)) >= 0) {
		*fdp = fd;
		return (0);
	}
	if (errno != ENOENT) {
		return (errno);
	}
	fd = jfile_open(
	    tmp, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		return (errno);
	}
	memcpy(hdr, tasq_jfile_journal_magic, 8);
	put64(hdr + 8, gen);
	if ((rv = tasq_jfile_write_all(fd, tmp, hdr, HDR_LEN, &done)) == 0 &&
	    (rv = tasq_jfile_sync(fd, tmp, false)) == 0 &&
	    jfile_rename(tmp, path) != 0) {
		rv = errno;
	}
	if (rv != 0) {
		close(fd);
		(void) jfile_unlink(tmp);
		return (rv);
	}
	if ((rv = sync_dir(j)) != 0) {
		*doubt = true;
		close(fd);
		return (rv);
	}
	*fdp = fd;
	return (0);
}

// Makes fd (journal gen, at path) the one appended to.
void
tasq_jfile_use(tasq_journal *j, int fd, uint64_t gen)
{
	// The writer thread swaps files while stats read the generation.
	pthread_mutex_lock(&j->mtx);
	j->fd  = fd;
	j->gen = gen;
	tasq_jfile_name(j, j->jpath, sizeof(j->jpath), false, gen, "");
	pthread_mutex_unlock(&j->mtx);
}

// ---- the reserve ---------------------------------------------------------
//
// The data directory keeps a file, "reserve", as large as a snapshot of
// the state may be. A compaction writes its snapshot into the reserve's
// blocks (the file is renamed to the snapshot's .tmp name), so that a disk
// the journal (or anyone else) filled can always be compacted; once the
// old generation is deleted, a new reserve is made. While the reserve
// cannot grow as the state grows, SUBMIT records are refused (new tasks
// are the only records that only add to the state) and a compaction is
// asked for.

// The room a snapshot of this much state (the last snapshot and the
// journal since) may need: an eighth more (a result waiting to be fetched
// takes more room in a snapshot than in a RUN record), two pages (the
// snapshot's last, freed only by the page, and the new journal's first,
// which the snapshot's room must leave free), and never less than
// TASQ_JOURNAL_RESERVE_MIN.
uint64_t
tasq_jfile_reserve_target(uint64_t state)
{
	uint64_t t = state + state / 8 + 8192;
	return (t > TASQ_JOURNAL_RESERVE_MIN ? t : TASQ_JOURNAL_RESERVE_MIN);
}

// The state the reserve has room for (the inverse of
// tasq_jfile_reserve_target).
static uint64_t
reserve_covers(uint64_t bytes)
{
	return (bytes > 8192 ? (bytes - 8192) / 9 * 8 : 0);
}

static int
reserve_open(tasq_journal *j)
{
	char        path[4096];
	struct stat st;

	if (j->reserve_fd >= 0) {
		return (0);
	}
	reserve_path(j, path, sizeof(path));
	if ((j->reserve_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) <
	    0) {
		return (errno);
	}
	j->reserve_bytes =
	    fstat(j->reserve_fd, &st) == 0 ? (uint64_t) st.st_size : 0;
	return (0);
}

// Grows the reserve to at least want bytes, to ahead if there is room
// (so that it is not grown at every write). Returns 0 or an errno.
int
tasq_jfile_reserve_grow(tasq_journal *j, uint64_t want, uint64_t ahead)
{
	char path[4096];
	int  e;

	if ((e = reserve_open(j)) != 0 || j->reserve_bytes >= want) {
		return (e);
	}
	reserve_path(j, path, sizeof(path));
	if ((e = fault(TASQ_JOURNAL_OP_ALLOC, path)) != 0) {
		return (e);
	}
	if (ahead > want &&
	    posix_fallocate(j->reserve_fd, 0, (off_t) ahead) == 0) {
		j->reserve_bytes = ahead;
		return (0);
	}
	if ((e = posix_fallocate(j->reserve_fd, 0, (off_t) want)) == 0) {
		j->reserve_bytes = want;
	}
	return (e);
}

// The bytes free for the journal to grow into, or UINT64_MAX if unknown.
uint64_t
tasq_jfile_free_bytes(const tasq_journal *j)
{
	struct statvfs vfs;

	if (statvfs(j->dir, &vfs) != 0) {
		return (UINT64_MAX);
	}
	return ((uint64_t) vfs.f_bavail * vfs.f_frsize);
}

// The room the journal needs to grow into with this much state: enough
// for the records that finish the state's tasks, up to the point where
// a compaction gives room back.
uint64_t
tasq_jfile_journal_room(uint64_t state)
{
	return (state / 4 > TASQ_JOURNAL_ROOM_MIN ? state / 4
	                                          : TASQ_JOURNAL_ROOM_MIN);
}

// Keeps the reserve as large as a snapshot of state bytes may need, and
// new tasks (SUBMIT) refused while it cannot grow or the journal has not
// room enough left to finish the tasks it has; says when that starts and
// ends, and how many bytes are missing.
void
tasq_jfile_reserve_check(tasq_journal *j, uint64_t state)
{
	uint64_t want, room, avail = UINT64_MAX, missing = 0;
	int      e;
	bool     was, low;

	pthread_mutex_lock(&j->mtx);
	if (j->want_state > state) {
		state = j->want_state;
	}
	j->want_state = 0;
	pthread_mutex_unlock(&j->mtx);
	want = tasq_jfile_reserve_target(state);
	// Grown ahead of the state, so that new tasks seldom wait for it.
	e = tasq_jfile_reserve_grow(
	    j, want, tasq_jfile_reserve_target(state + state / 4));
	room = tasq_jfile_journal_room(state);
	if (e != 0) {
		missing = want - j->reserve_bytes;
	} else if ((avail = tasq_jfile_free_bytes(j)) < room) {
		missing = room - avail;
	}
	low = e != 0 || avail < room;
	pthread_mutex_lock(&j->mtx);
	was             = j->low_space;
	j->low_space    = low;
	j->reserve_want = want;
	j->covered      = low ? 0 : reserve_covers(j->reserve_bytes);
	j->reserved     = j->reserve_bytes;
	j->avail = avail == UINT64_MAX ? tasq_jfile_free_bytes(j) : avail;
	pthread_mutex_unlock(&j->mtx);
	if (low && !was) {
		tasq_warn("journal: %s is nearly full: the state (%" PRIu64
		          " bytes) needs a reserve of %" PRIu64
		          " bytes for its snapshot (%" PRIu64
		          " reserved) and %" PRIu64
		          " bytes free for the journal (%" PRIu64
		          " free); refusing new tasks until %" PRIu64
		          " more bytes are free or compaction makes room",
		    j->dir, state, want, j->reserve_bytes, room,
		    avail == UINT64_MAX ? 0 : avail, missing);
	} else if (!low && was) {
		tasq_info("journal: room for a snapshot again (%" PRIu64
		          " bytes reserved); accepting new tasks",
		    j->reserve_bytes);
	}
}

// Writes snap as snapshot gen: into the reserve's blocks when there is a
// reserve, through a .tmp name, synced, renamed into place, the directory
// synced. Returns 0 or an errno; nothing of a failed attempt is used.
static int
write_snapshot(tasq_journal *j, uint64_t gen, const uint8_t *snap, size_t len)
{
	char    tmp[4096], path[4096], rpath[4096];
	uint8_t hdr[HDR_LEN];
	size_t  done;
	int     fd = -1, rv;

	tasq_jfile_name(j, tmp, sizeof(tmp), true, gen, ".tmp");
	tasq_jfile_name(j, path, sizeof(path), true, gen, "");
	reserve_path(j, rpath, sizeof(rpath));
	if (j->reserve_fd >= 0 && jfile_rename(rpath, tmp) == 0) {
		fd               = j->reserve_fd;
		j->reserve_fd    = -1;
		j->reserve_bytes = 0;
	} else if ((fd = jfile_open(tmp,
	                O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
		return (errno);
	}
	memcpy(hdr, tasq_jfile_snapshot_magic, 8);
	put64(hdr + 8, gen);
	if (lseek(fd, 0, SEEK_SET) != 0) {
		rv = errno;
	} else if ((rv = tasq_jfile_write_all(fd, tmp, hdr, HDR_LEN, &done)) ==
	        0 &&
	    (rv = tasq_jfile_write_all(fd, tmp, snap, len, &done)) == 0) {
		if (ftruncate(fd, (off_t) (HDR_LEN + len)) != 0) {
			rv = errno;
		} else {
			rv = tasq_jfile_sync(fd, tmp, false);
		}
	}
	close(fd);
	if (rv == 0 && jfile_rename(tmp, path) != 0) {
		rv = errno;
	}
	if (rv == 0 && (rv = sync_dir(j)) != 0) {
		// Not known to be durable: it must not be committed. Without
		// its journal it is ignored, removed or not.
		(void) jfile_unlink(path);
	}
	if (rv != 0) {
		(void) jfile_unlink(tmp);
	}
	return (rv);
}

// Runs a compaction's file work: snapshot G+1, then journal G+1 (the
// commit), then the old generation goes. Returns ROT_DONE with the new
// journal in use; ROT_KEPT when it did not commit (the old generation
// goes on: appending there is equally correct, and what is left of the
// attempt is ignored by recovery); ROT_FATAL with *errp when the commit
// itself is in doubt.
int
tasq_jfile_rotate(
    tasq_journal *j, const uint8_t *snap, size_t snap_len, int *errp)
{
	uint64_t ng      = j->gen + 1;
	int      old_fd  = j->fd;
	uint64_t old_gen = j->gen;
	char     path[4096];
	bool     doubt;
	int      rv, fd;

	if ((rv = write_snapshot(j, ng, snap, snap_len)) != 0) {
		tasq_warn("compaction: cannot write snapshot %016" PRIx64
		          " (%zu bytes): %s; keeping journal %016" PRIx64,
		    ng, snap_len + HDR_LEN, strerror(rv), old_gen);
		return (ROT_KEPT);
	}
	if ((rv = tasq_jfile_open_journal(j, ng, &fd, &doubt)) != 0) {
		if (doubt) {
			*errp = rv;
			return (ROT_FATAL);
		}
		tasq_warn("compaction: cannot start journal %016" PRIx64
		          ": %s; keeping journal %016" PRIx64,
		    ng, strerror(rv), old_gen);
		tasq_jfile_name(j, path, sizeof(path), true, ng, "");
		if (jfile_unlink(path) != 0) {
			tasq_warn("compaction: cannot remove %s (%s); "
			          "recovery ignores it without its journal",
			    path, strerror(errno));
		}
		return (ROT_KEPT);
	}
	tasq_jfile_use(j, fd, ng);
	close(old_fd);
	// Committed. What follows only saves room: recovery removes what is
	// left of an older generation.
	tasq_jfile_name(j, path, sizeof(path), false, old_gen, "");
	if (jfile_unlink(path) != 0 && errno != ENOENT) {
		tasq_warn(
		    "compaction: cannot remove %s: %s", path, strerror(errno));
	}
	tasq_jfile_name(j, path, sizeof(path), true, old_gen, "");
	if (jfile_unlink(path) != 0 && errno != ENOENT) {
		tasq_warn(
		    "compaction: cannot remove %s: %s", path, strerror(errno));
	}
	(void) sync_dir(j);
	pthread_mutex_lock(&j->mtx);
	j->st.compactions++;
	j->st.snapshot_bytes = snap_len;
	j->st.bytes          = 0;
	pthread_mutex_unlock(&j->mtx);
	tasq_info("journal compacted: snapshot %016" PRIx64 " of %zu bytes",
	    ng, snap_len);
	return (ROT_DONE);
}
