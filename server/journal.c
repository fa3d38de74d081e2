#include "journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>

#include "crc32c.h"
#include "err.h"
#include "log.h"

#define HDR_LEN 16
#define REC_HDR 9 // len, crc, type
#define REC_MAX (1u << 30)
static const char journal_magic[8]  = "TQJOURN1";
static const char snapshot_magic[8] = "TQSNAPS1";

struct waiter {
	struct waiter  *next;
	uint64_t        lsn;
	tasq_journal_cb cb;
	void           *arg;
};

struct buf {
	uint8_t *p;
	size_t   len, cap;
};

struct tasq_journal {
	tasq_journal_conf conf;
	char             *dir;
	int               lockfd;
	int               fd;          // current journal, append
	char              jpath[4096]; // its path
	uint64_t          gen;         // its generation
	pthread_mutex_t   mtx;
	pthread_cond_t    cv;
	pthread_t         thread;
	bool              running;
	bool              closing;
	struct buf        pend;      // appended, not yet written
	uint64_t          pend_base; // lsn of pend.p[0]
	uint64_t          appended;  // lsn after the last record
	uint64_t          written;   // lsn up to which write(2) succeeded
	uint64_t          durable;   // lsn up to which it is synced
	size_t         writing; // bytes taken by the writer, not counted yet
	struct waiter *waiters;
	// 0; TASQ_ERESOURCE_EXHAUSTED or TASQ_EUNAVAILABLE while a write
	// finds no room (retried); TASQ_EUNAVAILABLE for good once failed.
	int  error;
	bool failed; // an I/O error: fail closed (see tasq_journal_error)
	// A compaction asked for by tasq_journal_rotate.
	bool               rotate_req;
	bool               rotating;
	size_t             rotate_at; // offset in pend where G+1 begins
	uint8_t           *snap;
	size_t             snap_len;
	tasq_journal_stats st;
	// The reserve file: fd and bytes are the writer thread's; the rest
	// is under mtx.
	int      reserve_fd;
	uint64_t reserve_bytes;
	uint64_t covered;    // the state the reserve has room for
	uint64_t reserved;   // reserve_bytes, for appends
	uint64_t avail;      // bytes free at the last check
	uint64_t want_state; // a refused SUBMIT's state, for the writer
	uint64_t reserve_want;
	bool     low_space;    // the reserve could not grow
	uint64_t compacted_us; // when the last compaction began
};

// ---- record framing ---------------------------------------------------

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) (v >> 24);
	p[1] = (uint8_t) (v >> 16);
	p[2] = (uint8_t) (v >> 8);
	p[3] = (uint8_t) v;
}

static uint32_t
get32(const uint8_t *p)
{
	return ((uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 |
	    (uint32_t) p[2] << 8 | p[3]);
}

static void
put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t) (v >> 32));
	put32(p + 4, (uint32_t) v);
}

static uint64_t
get64(const uint8_t *p)
{
	return ((uint64_t) get32(p) << 32 | get32(p + 4));
}

// Whether a whole, checksummed record starts anywhere in buf[from, len).
// Only used on damage, so a byte-by-byte scan is fine.
static bool
valid_record_after(const uint8_t *buf, size_t len, size_t from)
{
	for (size_t o = from; o + REC_HDR <= len; o++) {
		uint32_t rlen = get32(buf + o);
		uint8_t  type = buf[o + 8];
		if (rlen == 0 || rlen > len - o - 8 || type == 0 ||
		    type > TASQ_REC_MAX) {
			continue;
		}
		if (tasq_crc32c(0, buf + o + 8, rlen) == get32(buf + o + 4)) {
			return (true);
		}
	}
	return (false);
}

int
tasq_journal_parse(const uint8_t *buf, size_t len, size_t *off, int *type,
    const uint8_t **payload, size_t *plen, bool *torn)
{
	size_t   o = *off;
	uint32_t rlen, crc;

	*torn = false;
	if (o == len) {
		return (1);
	}
	if (len - o < REC_HDR) {
		*torn = true;
		return (TASQ_EDATA_LOSS);
	}
	rlen = get32(buf + o);
	crc  = get32(buf + o + 4);
	if (rlen == 0 || rlen > REC_MAX || rlen > len - o - 8 ||
	    tasq_crc32c(0, buf + o + 8, rlen) != crc) {
		// A torn write damages only the end: it is torn if no valid
		// record follows (a zero-filled tail included). A valid
		// record after the damage means corruption in the middle.
		*torn = !valid_record_after(buf, len, o + 1);
		return (TASQ_EDATA_LOSS);
	}
	*type    = buf[o + 8];
	*payload = buf + o + 9;
	*plen    = rlen - 1;
	*off     = o + 8 + rlen;
	return (0);
}

static int
buf_reserve(struct buf *b, size_t more)
{
	if (b->len + more > b->cap) {
		size_t   ncap = (b->len + more) * 2;
		uint8_t *np   = realloc(b->p, ncap);
		if (np == NULL) {
			return (NNG_ENOMEM);
		}
		b->p   = np;
		b->cap = ncap;
	}
	return (0);
}

// ---- files ------------------------------------------------------------

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
j_unlink(const char *path)
{
	int e;

	if ((e = fault(TASQ_JOURNAL_OP_UNLINK, path)) != 0) {
		errno = e;
		return (-1);
	}
	return (unlink(path));
}

static int
j_rename(const char *from, const char *to)
{
	int e;

	if ((e = fault(TASQ_JOURNAL_OP_RENAME, to)) != 0) {
		errno = e;
		return (-1);
	}
	return (rename(from, to));
}

static int
j_open(const char *path, int flags, mode_t mode)
{
	int e;

	if ((e = fault(TASQ_JOURNAL_OP_OPEN, path)) != 0) {
		errno = e;
		return (-1);
	}
	return (open(path, flags, mode));
}

// fdatasync (or fsync for a directory) of fd, the file path: an errno.
static int
j_sync(int fd, const char *path, bool dir)
{
	int e;

	if ((e = fault(TASQ_JOURNAL_OP_SYNC, path)) != 0) {
		return (e);
	}
	return ((dir ? fsync(fd) : fdatasync(fd)) != 0 ? errno : 0);
}

static void
file_name(const tasq_journal *j, char *out, size_t n, bool snap, uint64_t gen,
    const char *suffix)
{
	snprintf(out, n, "%s/%s-%016" PRIx64 "%s%s", j->dir,
	    snap ? "snapshot" : "journal", gen, snap ? ".snap" : ".log",
	    suffix);
}

static int
write_all(int fd, const char *path, const uint8_t *p, size_t n, size_t *done)
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
	rv = j_sync(fd, j->dir, true);
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
static int
open_journal(tasq_journal *j, uint64_t gen, int *fdp, bool *doubt)
{
	char    path[4096], tmp[4096];
	uint8_t hdr[HDR_LEN];
	size_t  done;
	int     fd, rv;

	*doubt = false;
	file_name(j, path, sizeof(path), false, gen, "");
	file_name(j, tmp, sizeof(tmp), false, gen, ".tmp");
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)) >= 0) {
		*fdp = fd;
		return (0);
	}
	if (errno != ENOENT) {
		return (errno);
	}
	fd = j_open(
	    tmp, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		return (errno);
	}
	memcpy(hdr, journal_magic, 8);
	put64(hdr + 8, gen);
	if ((rv = write_all(fd, tmp, hdr, HDR_LEN, &done)) == 0 &&
	    (rv = j_sync(fd, tmp, false)) == 0 && j_rename(tmp, path) != 0) {
		rv = errno;
	}
	if (rv != 0) {
		close(fd);
		(void) j_unlink(tmp);
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
static void
use_journal(tasq_journal *j, int fd, uint64_t gen)
{
	// The writer thread swaps files while stats read the generation.
	pthread_mutex_lock(&j->mtx);
	j->fd  = fd;
	j->gen = gen;
	file_name(j, j->jpath, sizeof(j->jpath), false, gen, "");
	pthread_mutex_unlock(&j->mtx);
}

int
tasq_journal_open(
    tasq_journal **jp, const tasq_journal_conf *conf, char *err, size_t errlen)
{
	tasq_journal *j;
	char          path[4096];

	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (j->dir = strdup(conf->dir)) == NULL) {
		free(j);
		snprintf(err, errlen, "out of memory");
		return (NNG_ENOMEM);
	}
	j->conf       = *conf;
	j->conf.dir   = j->dir;
	j->fd         = -1;
	j->lockfd     = -1;
	j->reserve_fd = -1;
	pthread_mutex_init(&j->mtx, NULL);
	pthread_cond_init(&j->cv, NULL);
	if (mkdir(j->dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create data directory %s: %s",
		    j->dir, strerror(errno));
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/lock", j->dir);
	if ((j->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		snprintf(
		    err, errlen, "cannot open %s: %s", path, strerror(errno));
		goto fail;
	}
	if (flock(j->lockfd, LOCK_EX | LOCK_NB) != 0) {
		snprintf(err, errlen,
		    "data directory %s is in use by another tasq-server",
		    j->dir);
		goto fail;
	}
	*jp = j;
	return (0);
fail:
	tasq_journal_close(j);
	return (TASQ_EFAILED_PRECONDITION);
}

// ---- recovery ----------------------------------------------------------

static int
read_file(const char *path, uint8_t **bufp, size_t *lenp)
{
	struct stat st;
	uint8_t    *buf;
	size_t      done = 0;
	int         fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		return (errno);
	}
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		return (e);
	}
	if ((buf = malloc((size_t) st.st_size + 1)) == NULL) {
		close(fd);
		return (ENOMEM);
	}
	while (done < (size_t) st.st_size) {
		ssize_t k = read(fd, buf + done, (size_t) st.st_size - done);
		if (k <= 0) {
			if (k < 0 && errno == EINTR) {
				continue;
			}
			int e = k < 0 ? errno : EIO;
			free(buf);
			close(fd);
			return (e);
		}
		done += (size_t) k;
	}
	close(fd);
	*bufp = buf;
	*lenp = done;
	return (0);
}

// Cuts path to len bytes, durably: new records are appended after the
// cut, and a torn record that came back after a crash would then sit in
// the middle of the journal (corruption, not a torn tail).
static int
truncate_synced(const char *path, off_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int rv = 0;

	if (fd < 0) {
		return (-1);
	}
	if (ftruncate(fd, len) != 0 || (rv = j_sync(fd, path, false)) != 0) {
		rv = rv != 0 ? rv : errno;
	}
	close(fd);
	if (rv != 0) {
		errno = rv;
		return (-1);
	}
	return (0);
}

// Replays one file. last: the newest journal, whose torn tail is cut.
static int
replay_file(tasq_journal *j, const char *path, bool snap, uint64_t gen,
    bool last, int (*apply)(void *, int, const uint8_t *, size_t), void *arg,
    uint64_t *records, uint64_t *bytes, char *err, size_t errlen)
{
	uint8_t       *buf = NULL;
	size_t         len = 0, off = HDR_LEN;
	int            rv;
	const uint8_t *p;
	size_t         plen;
	int            type;
	bool           torn;

	if ((rv = read_file(path, &buf, &len)) != 0) {
		snprintf(
		    err, errlen, "cannot read %s: %s", path, strerror(rv));
		return (TASQ_EDATA_LOSS);
	}
	if (len < HDR_LEN) {
		free(buf);
		if (last && !snap) {
			// A crash right after the file was created.
			tasq_warn(
			    "journal %s: %zu-byte file without a complete "
			    "header; starting it again",
			    path, len);
			if (truncate_synced(path, 0) != 0) {
				snprintf(err, errlen, "cannot truncate %s: %s",
				    path, strerror(errno));
				return (TASQ_EDATA_LOSS);
			}
			return (0);
		}
		snprintf(
		    err, errlen, "%s: file too short for its header", path);
		return (TASQ_EDATA_LOSS);
	}
	if (memcmp(buf, snap ? snapshot_magic : journal_magic, 8) != 0 ||
	    get64(buf + 8) != gen) {
		free(buf);
		snprintf(err, errlen,
		    "%s: not a tasq %s of generation %016" PRIx64
		    " (bad header)",
		    path, snap ? "snapshot" : "journal", gen);
		return (TASQ_EDATA_LOSS);
	}
	for (;;) {
		size_t at = off;
		rv        = tasq_journal_parse(
		           buf, len, &off, &type, &p, &plen, &torn);
		if (rv == 1) {
			break;
		}
		if (rv == 0) {
			if ((rv = apply(arg, type, p, plen)) != 0) {
				snprintf(err, errlen,
				    "%s: record at offset %zu (type %d) is "
				    "invalid: %s; the file is damaged. Move "
				    "it aside to start without it",
				    path, at, type, tasq_strerror(rv));
				free(buf);
				return (TASQ_EDATA_LOSS);
			}
			(*records)++;
			*bytes += off - at;
			continue;
		}
		if ((torn && last && !snap) || j->conf.truncate_corrupt) {
			tasq_warn(
			    "%s: %s record at offset %zu (%zu bytes lost); "
			    "truncating there",
			    path, torn ? "torn" : "corrupt", at, len - at);
			if (truncate_synced(path, (off_t) at) != 0) {
				snprintf(err, errlen, "cannot truncate %s: %s",
				    path, strerror(errno));
				free(buf);
				return (TASQ_EDATA_LOSS);
			}
			break;
		}
		snprintf(err, errlen,
		    "%s is corrupt at offset %zu (checksum or length "
		    "mismatch, %zu bytes follow). Records after it cannot be "
		    "trusted. To keep the %zu bytes before it and drop the "
		    "rest, restart with --recover-truncate; or move the data "
		    "directory aside",
		    path, at, len - at, at);
		free(buf);
		return (TASQ_EDATA_LOSS);
	}
	free(buf);
	return (0);
}

struct gen_file {
	uint64_t gen;
	bool     snap;
	bool     whole; // a journal with at least its header
};

static int
cmp_gen(const void *a, const void *b)
{
	const struct gen_file *x = a, *y = b;
	return (x->gen < y->gen ? -1 : x->gen > y->gen);
}

// Which files make the state: a generation G is committed once its
// journal exists with a whole header (compaction renames it into place
// after snapshot G is durable). So the newest such journal, J, names the
// generation; the newest snapshot up to J is the base, and the journals
// from it to J follow. A snapshot newer than J belongs to a compaction
// that never committed (a crash, or a failure whose cleanup failed too);
// it is ignored and removed, as is a newer journal without a whole header
// (a crash while it was made). Older files are leftovers of a compaction
// whose cleanup did not finish.
int
tasq_journal_recover(tasq_journal *j,
    int (*apply)(void *arg, int type, const uint8_t *p, size_t len), void *arg,
    uint64_t *records, uint64_t *bytes, char *err, size_t errlen)
{
	DIR             *d;
	struct dirent   *e;
	struct gen_file *files = NULL;
	size_t           nf = 0, capf = 0;
	uint64_t         snapgen = 0, last = 0;
	bool             have_snap = false, have_journal = false;
	char             path[4096];
	int              rv = 0;

	*records = 0;
	*bytes   = 0;
	if ((d = opendir(j->dir)) == NULL) {
		snprintf(err, errlen, "cannot read %s: %s", j->dir,
		    strerror(errno));
		return (TASQ_EDATA_LOSS);
	}
	while ((e = readdir(d)) != NULL) {
		unsigned long long g;
		char               tail[16];
		struct gen_file    f = { 0 };
		if (sscanf(e->d_name, "snapshot-%16llx.sna%1s", &g, tail) ==
		        2 &&
		    strlen(e->d_name) == 9 + 16 + 5) {
			f.snap = true;
		} else if (sscanf(e->d_name, "journal-%16llx.lo%1s", &g,
		               tail) == 2 &&
		    strlen(e->d_name) == 8 + 16 + 4) {
			struct stat st;
			snprintf(
			    path, sizeof(path), "%s/%s", j->dir, e->d_name);
			f.whole =
			    stat(path, &st) == 0 && st.st_size >= HDR_LEN;
		} else {
			if (strstr(e->d_name, ".tmp") != NULL) {
				// Unfinished, never renamed, never used.
				snprintf(path, sizeof(path), "%s/%s", j->dir,
				    e->d_name);
				(void) unlink(path);
			}
			continue;
		}
		f.gen = g;
		if (nf == capf) {
			capf               = capf ? capf * 2 : 8;
			struct gen_file *n = realloc(files, capf * sizeof(*n));
			if (n == NULL) {
				closedir(d);
				free(files);
				snprintf(err, errlen, "out of memory");
				return (TASQ_EDATA_LOSS);
			}
			files = n;
		}
		files[nf++] = f;
	}
	closedir(d);
	if (nf > 1) {
		qsort(files, nf, sizeof(*files), cmp_gen);
	}
	for (size_t i = 0; i < nf; i++) {
		if (!files[i].snap && files[i].whole) {
			have_journal = true;
			last         = files[i].gen;
		}
	}
	for (size_t i = 0; i < nf; i++) {
		if (files[i].snap && (!have_journal || files[i].gen <= last)) {
			have_snap = true;
			snapgen   = files[i].gen;
		}
	}
	for (size_t i = 0; i < nf; i++) {
		struct gen_file *f = &files[i];
		file_name(j, path, sizeof(path), f->snap, f->gen, "");
		if ((have_journal && f->gen > last) ||
		    (!f->snap && !f->whole && !have_journal)) {
			tasq_warn("%s: never committed (left by a crash or "
			          "a failed compaction); removing it",
			    path);
			(void) unlink(path);
			f->gen = UINT64_MAX; // skipped below
		} else if (have_snap && f->gen < snapgen) {
			// Compacted into the snapshot; left by a crash.
			(void) unlink(path);
			f->gen = UINT64_MAX;
		}
	}
	if (have_snap) {
		file_name(j, path, sizeof(path), true, snapgen, "");
		if ((rv = replay_file(j, path, true, snapgen, false, apply,
		         arg, records, bytes, err, errlen)) != 0) {
			goto out;
		}
		j->st.snapshot_bytes = *bytes;
	}
	j->gen = have_snap ? snapgen : 0;
	*bytes = 0;
	for (size_t i = 0; i < nf; i++) {
		if (files[i].snap || files[i].gen == UINT64_MAX) {
			continue;
		}
		file_name(j, path, sizeof(path), false, files[i].gen, "");
		if ((rv = replay_file(j, path, false, files[i].gen,
		         files[i].gen == last, apply, arg, records, bytes, err,
		         errlen)) != 0) {
			goto out;
		}
		j->gen = files[i].gen;
	}
	j->st.bytes = *bytes;
out:
	free(files);
	return (rv);
}

// ---- writer -------------------------------------------------------------

static uint64_t
now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000);
}

static int
do_sync(tasq_journal *j, int fd)
{
	uint64_t t0 = now_us(), dt;
	int      rv = j_sync(fd, j->jpath, false);

	dt = now_us() - t0;
	pthread_mutex_lock(&j->mtx);
	j->st.syncs++;
	j->st.sync_us_total += dt;
	if (dt > j->st.sync_us_max) {
		j->st.sync_us_max = dt;
	}
	pthread_mutex_unlock(&j->mtx);
	return (rv);
}

// A write that found no room (the disk or a quota is full, or a file size
// limit): nothing in doubt, it can be retried. Any other error of a write,
// and every failed sync, may have lost data the kernel already had.
static bool
no_room(int e)
{
	return (e == ENOSPC || e == EDQUOT || e == EFBIG);
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
static uint64_t
reserve_target(uint64_t state)
{
	uint64_t t = state + state / 8 + 8192;
	return (t > TASQ_JOURNAL_RESERVE_MIN ? t : TASQ_JOURNAL_RESERVE_MIN);
}

// The state the reserve has room for (the inverse of reserve_target).
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
static int
reserve_grow(tasq_journal *j, uint64_t want, uint64_t ahead)
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
static uint64_t
free_bytes(const tasq_journal *j)
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
static uint64_t
journal_room(uint64_t state)
{
	return (state / 4 > TASQ_JOURNAL_ROOM_MIN ? state / 4
	                                          : TASQ_JOURNAL_ROOM_MIN);
}

// Keeps the reserve as large as a snapshot of state bytes may need, and
// new tasks (SUBMIT) refused while it cannot grow or the journal has not
// room enough left to finish the tasks it has; says when that starts and
// ends, and how many bytes are missing.
static void
reserve_check(tasq_journal *j, uint64_t state)
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
	want = reserve_target(state);
	// Grown ahead of the state, so that new tasks seldom wait for it.
	e    = reserve_grow(j, want, reserve_target(state + state / 4));
	room = journal_room(state);
	if (e != 0) {
		missing = want - j->reserve_bytes;
	} else if ((avail = free_bytes(j)) < room) {
		missing = room - avail;
	}
	low = e != 0 || avail < room;
	pthread_mutex_lock(&j->mtx);
	was             = j->low_space;
	j->low_space    = low;
	j->reserve_want = want;
	j->covered      = low ? 0 : reserve_covers(j->reserve_bytes);
	j->reserved     = j->reserve_bytes;
	j->avail        = avail == UINT64_MAX ? free_bytes(j) : avail;
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

	file_name(j, tmp, sizeof(tmp), true, gen, ".tmp");
	file_name(j, path, sizeof(path), true, gen, "");
	reserve_path(j, rpath, sizeof(rpath));
	if (j->reserve_fd >= 0 && j_rename(rpath, tmp) == 0) {
		fd               = j->reserve_fd;
		j->reserve_fd    = -1;
		j->reserve_bytes = 0;
	} else if ((fd = j_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	                0600)) < 0) {
		return (errno);
	}
	memcpy(hdr, snapshot_magic, 8);
	put64(hdr + 8, gen);
	if (lseek(fd, 0, SEEK_SET) != 0) {
		rv = errno;
	} else if ((rv = write_all(fd, tmp, hdr, HDR_LEN, &done)) == 0 &&
	    (rv = write_all(fd, tmp, snap, len, &done)) == 0) {
		if (ftruncate(fd, (off_t) (HDR_LEN + len)) != 0) {
			rv = errno;
		} else {
			rv = j_sync(fd, tmp, false);
		}
	}
	close(fd);
	if (rv == 0 && j_rename(tmp, path) != 0) {
		rv = errno;
	}
	if (rv == 0 && (rv = sync_dir(j)) != 0) {
		// Not known to be durable: it must not be committed. Without
		// its journal it is ignored, removed or not.
		(void) j_unlink(path);
	}
	if (rv != 0) {
		(void) j_unlink(tmp);
	}
	return (rv);
}

enum { ROT_DONE, ROT_KEPT, ROT_FATAL };

// Runs a compaction's file work: snapshot G+1, then journal G+1 (the
// commit), then the old generation goes. Returns ROT_DONE with the new
// journal in use; ROT_KEPT when it did not commit (the old generation
// goes on: appending there is equally correct, and what is left of the
// attempt is ignored by recovery); ROT_FATAL with *errp when the commit
// itself is in doubt.
static int
rotate_files(tasq_journal *j, const uint8_t *snap, size_t snap_len, int *errp)
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
	if ((rv = open_journal(j, ng, &fd, &doubt)) != 0) {
		if (doubt) {
			*errp = rv;
			return (ROT_FATAL);
		}
		tasq_warn("compaction: cannot start journal %016" PRIx64
		          ": %s; keeping journal %016" PRIx64,
		    ng, strerror(rv), old_gen);
		file_name(j, path, sizeof(path), true, ng, "");
		if (j_unlink(path) != 0) {
			tasq_warn("compaction: cannot remove %s (%s); "
			          "recovery ignores it without its journal",
			    path, strerror(errno));
		}
		return (ROT_KEPT);
	}
	use_journal(j, fd, ng);
	close(old_fd);
	// Committed. What follows only saves room: recovery removes what is
	// left of an older generation.
	file_name(j, path, sizeof(path), false, old_gen, "");
	if (j_unlink(path) != 0 && errno != ENOENT) {
		tasq_warn(
		    "compaction: cannot remove %s: %s", path, strerror(errno));
	}
	file_name(j, path, sizeof(path), true, old_gen, "");
	if (j_unlink(path) != 0 && errno != ENOENT) {
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

// Takes the waiters done at lsn off the list (under the lock).
static struct waiter *
take_waiters(tasq_journal *j, uint64_t lsn, bool all)
{
	struct waiter *ready = NULL, **pp = &j->waiters;

	while (*pp != NULL) {
		struct waiter *x = *pp;
		if (all || x->lsn <= lsn) {
			*pp     = x->next;
			x->next = ready;
			ready   = x;
		} else {
			pp = &x->next;
		}
	}
	return (ready);
}

// Runs the callbacks of list with rv (without the lock).
static void
run_waiters(struct waiter *list, int rv)
{
	while (list != NULL) {
		struct waiter *x = list;
		list             = x->next;
		x->cb(x->arg, rv);
		free(x);
	}
}

// The position a wait completes at: synced (always) or written.
static uint64_t
done_lsn(const tasq_journal *j)
{
	return (j->conf.mode == TASQ_FSYNC_ALWAYS ? j->durable : j->written);
}

// Fails the journal closed (under the lock): after an I/O error nothing
// that was not yet acknowledged ever is, and nothing new is taken. A
// restart recovers what is on disk; clients send again what was not
// acknowledged.
static struct waiter *
fail_closed(tasq_journal *j, const char *what, int e)
{
	if (!j->failed) {
		tasq_err("journal: %s failed: %s. The journal fails closed: "
		         "no request is acknowledged and new work is refused "
		         "(UNAVAILABLE) until tasq-server is restarted, which "
		         "recovers what is on disk. Check the disk (dmesg) "
		         "first",
		    what, strerror(e));
	}
	j->failed   = true;
	j->error    = TASQ_EUNAVAILABLE;
	j->pend.len = 0;
	j->rotating = false;
	j->writing  = 0;
	return (take_waiters(j, 0, true));
}

static void
wait_until(tasq_journal *j, uint64_t us)
{
	struct timespec ts;
	uint64_t        now = now_us();
	uint64_t        d   = us > now ? us - now : 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t) (d / 1000000);
	ts.tv_nsec += (long) (d % 1000000) * 1000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	(void) pthread_cond_timedwait(&j->cv, &j->mtx, &ts);
}

static void *
writer(void *arg)
{
	tasq_journal *j         = arg;
	struct buf    spare     = { 0 };
	uint64_t      last_sync = now_us(), retry_at = 0;
	bool          dirty = false; // written, not synced

	pthread_mutex_lock(&j->mtx);
	for (;;) {
		// Wait for work: records, a compaction, the close, a batch
		// sync due, or the retry of a write that found no room.
		if (j->failed) {
			if (j->closing) {
				break;
			}
			pthread_cond_wait(&j->cv, &j->mtx);
			continue;
		}
		if (j->error != 0) {
			if (j->closing) {
				// Still failing at close: give up; waiters are
				// told.
				tasq_err("journal: %zu bytes could not be "
				         "written before shutdown; they were "
				         "never acknowledged",
				    j->pend.len);
				break;
			}
			if (!j->rotate_req && now_us() < retry_at) {
				wait_until(j, retry_at);
				continue;
			}
		} else if (j->pend.len == 0 && !j->rotate_req) {
			uint64_t now = now_us();
			uint64_t sync_at =
			    dirty && j->conf.mode == TASQ_FSYNC_BATCH
			    ? last_sync + j->conf.batch_ms * 1000ULL
			    : UINT64_MAX;
			// Short of room, the reserve is tried again every
			// second even with nothing to write: appends of new
			// tasks wait for it.
			uint64_t room_at = j->low_space ? retry_at
			    : j->want_state > 0         ? now
			                                : UINT64_MAX;
			uint64_t next = sync_at < room_at ? sync_at : room_at;
			if (j->closing && !dirty) {
				break; // all written and synced
			}
			if (!j->closing && now < next) {
				if (next != UINT64_MAX) {
					wait_until(j, next);
				} else {
					pthread_cond_wait(&j->cv, &j->mtx);
				}
				continue;
			}
		}
		struct buf w     = j->pend;
		uint64_t   base  = j->pend_base;
		bool       rot   = j->rotate_req;
		size_t     at    = rot ? j->rotate_at : w.len;
		uint8_t   *snap  = j->snap;
		size_t     slen  = j->snap_len;
		uint64_t   state = j->st.snapshot_bytes + j->st.bytes + w.len;
		j->pend          = spare;
		j->pend.len      = 0;
		// New records go after these, whatever happens to the write.
		j->pend_base  = base + w.len;
		j->writing    = w.len;
		j->rotate_req = false;
		j->snap       = NULL;
		bool sync     = j->conf.mode == TASQ_FSYNC_ALWAYS || rot ||
		    j->closing ||
		    (j->conf.mode == TASQ_FSYNC_BATCH &&
		        now_us() - last_sync >= j->conf.batch_ms * 1000ULL);
		pthread_mutex_unlock(&j->mtx);

		size_t      done = 0, done2 = 0;
		int         rv, ferr = 0, rs = ROT_KEPT;
		const char *what = NULL; // set: an I/O error, fail closed

		reserve_check(j, state);
		if (j->low_space) {
			retry_at = now_us() + 1000000;
		}
		rv = write_all(j->fd, j->jpath, w.p, at, &done);
		if (rv != 0 && !no_room(rv)) {
			what = "a write";
			ferr = rv;
		} else if (rv == 0 && sync && (dirty || at > 0) &&
		    (ferr = do_sync(j, j->fd)) != 0) {
			what = "a sync (fdatasync)";
		}
		if (rot && what == NULL) {
			// Also when the write found no room: the snapshot
			// holds what could not be written, and its room is
			// the reserve's.
			rs = rotate_files(j, snap, slen, &ferr);
			// Its snapshot took the reserve's room.
			reserve_check(j, j->st.snapshot_bytes + w.len - at);
			if (rs == ROT_FATAL) {
				what =
				    "syncing the directory of a new journal";
			} else if (rs == ROT_DONE) {
				rv    = 0;
				done  = at;
				dirty = false;
			}
		}
		if (what == NULL && rv == 0 && at < w.len) {
			rv = write_all(
			    j->fd, j->jpath, w.p + at, w.len - at, &done2);
			if (rv != 0 && !no_room(rv)) {
				what = "a write";
				ferr = rv;
			} else if (rv == 0 && sync &&
			    (ferr = do_sync(j, j->fd)) != 0) {
				what = "a sync (fdatasync)";
			}
		}
		free(snap);
		pthread_mutex_lock(&j->mtx);
		if (what != NULL) {
			struct waiter *failed = fail_closed(j, what, ferr);
			spare                 = w;
			spare.len             = 0;
			pthread_mutex_unlock(&j->mtx);
			run_waiters(failed, TASQ_EUNAVAILABLE);
			pthread_mutex_lock(&j->mtx);
			continue;
		}
		if (rv != 0) {
			// No room. Keep what was not written, ahead of newer
			// records, and try again (at once when a compaction
			// asks). Records written whole are acknowledged in
			// batch and never; the rest of the waiters hear now
			// rather than at their deadline: not acknowledged,
			// try again. Their records stay queued and are
			// written when there is room, which a retry (a
			// duplicate) then finds.
			size_t     wrote = done + done2;
			struct buf rest  = { 0 };
			if (j->error == 0) {
				tasq_err("journal write failed: %s; refusing "
				         "new work until it succeeds",
				    strerror(rv));
			}
			j->error = rv == ENOSPC ? TASQ_ERESOURCE_EXHAUSTED
			                        : TASQ_EUNAVAILABLE;
			if (buf_reserve(&rest, w.len - wrote + j->pend.len) ==
			    0) {
				if (w.len > wrote) {
					memcpy(rest.p, w.p + wrote,
					    w.len - wrote);
				}
				if (j->pend.len > 0) {
					memcpy(rest.p + w.len - wrote,
					    j->pend.p, j->pend.len);
				}
				rest.len = w.len - wrote + j->pend.len;
				free(j->pend.p);
				j->pend = rest;
			}
			j->pend_base = base + wrote;
			j->written   = base + wrote;
			j->st.bytes += rs == ROT_DONE ? done2 : wrote;
			j->rotating       = false;
			j->writing        = 0;
			spare             = w;
			spare.len         = 0;
			dirty             = dirty || wrote > 0;
			retry_at          = now_us() + 1000000;
			struct waiter *ok = j->conf.mode == TASQ_FSYNC_ALWAYS
			    ? NULL
			    : take_waiters(j, j->written, false);
			struct waiter *failed = take_waiters(j, 0, true);
			int            err    = j->error;
			pthread_mutex_unlock(&j->mtx);
			run_waiters(ok, 0);
			run_waiters(failed, err);
			pthread_mutex_lock(&j->mtx);
			continue;
		}
		if (j->error != 0) {
			tasq_info("journal writes succeed again");
			j->error = 0;
		}
		j->pend_base = base + w.len;
		j->written   = base + w.len;
		j->st.bytes += w.len;
		j->writing = 0;
		if (rot) {
			j->rotating = false;
			if (rs == ROT_DONE) {
				j->st.bytes = w.len - at;
			}
		}
		if (sync) {
			last_sync  = now_us();
			j->durable = j->written;
			dirty      = false;
		} else {
			dirty = dirty || w.len > 0;
		}
		struct waiter *ready = take_waiters(j, done_lsn(j), false);
		spare                = w;
		spare.len            = 0;
		pthread_mutex_unlock(&j->mtx);
		run_waiters(ready, 0);
		pthread_mutex_lock(&j->mtx);
	}
	pthread_mutex_unlock(&j->mtx);
	free(spare.p);
	return (NULL);
}

int
tasq_journal_start(tasq_journal *j, char *err, size_t errlen)
{
	uint64_t state = j->st.snapshot_bytes + j->st.bytes;
	bool     doubt;
	int      rv, fd;

	if ((rv = open_journal(j, j->gen, &fd, &doubt)) != 0) {
		snprintf(err, errlen, "cannot open journal in %s: %s", j->dir,
		    strerror(rv));
		return (TASQ_EUNAVAILABLE);
	}
	use_journal(j, fd, j->gen);
	// A new data directory must have room for the smallest reserve and
	// journal, or it could never compact its way out of a full disk:
	// say how much is missing. A directory with state starts anyway (a
	// compaction may make room; new tasks wait for it).
	if (state == 0 &&
	    ((rv = reserve_grow(j, TASQ_JOURNAL_RESERVE_MIN, 0)) != 0 ||
	        free_bytes(j) < TASQ_JOURNAL_ROOM_MIN + 8192)) {
		uint64_t avail = free_bytes(j);
		uint64_t need  = TASQ_JOURNAL_RESERVE_MIN +
		    TASQ_JOURNAL_ROOM_MIN + 8192 - j->reserve_bytes;
		snprintf(err, errlen,
		    "%s is too small: the data directory needs %" PRIu64
		    " bytes free (a reserve of %u bytes for compaction, %u "
		    "for the journal and two pages for a snapshot), %" PRIu64
		    " are (%" PRIu64 " more bytes needed)",
		    j->dir, need, TASQ_JOURNAL_RESERVE_MIN,
		    TASQ_JOURNAL_ROOM_MIN, avail == UINT64_MAX ? 0 : avail,
		    avail < need ? need - avail : 0);
		return (TASQ_ERESOURCE_EXHAUSTED);
	}
	reserve_check(j, state);
	if ((rv = pthread_create(&j->thread, NULL, writer, j)) != 0) {
		snprintf(err, errlen, "cannot start journal writer: %s",
		    strerror(rv));
		return (TASQ_EINTERNAL);
	}
	j->running = true;
	return (0);
}

int
tasq_journal_frame(uint8_t **bufp, size_t *lenp, size_t *capp, int type,
    const struct iovec *iov, int iovcnt)
{
	struct buf b    = { *bufp, *lenp, *capp };
	size_t     plen = 1, o = 9;
	uint8_t   *p;

	for (int i = 0; i < iovcnt; i++) {
		plen += iov[i].iov_len;
	}
	if (plen > REC_MAX) {
		return (TASQ_EINVALID_ARGUMENT);
	}
	if (buf_reserve(&b, 8 + plen) != 0) {
		return (NNG_ENOMEM);
	}
	p    = b.p + b.len;
	p[8] = (uint8_t) type;
	for (int i = 0; i < iovcnt; i++) {
		memcpy(p + o, iov[i].iov_base, iov[i].iov_len);
		o += iov[i].iov_len;
	}
	put32(p, (uint32_t) plen);
	put32(p + 4, tasq_crc32c(0, p + 8, plen));
	*bufp = b.p;
	*lenp = b.len + 8 + plen;
	*capp = b.cap;
	return (0);
}

int
tasq_journal_append(tasq_journal *j, int type, const struct iovec *iov,
    int iovcnt, uint64_t *lsnp)
{
	int rv;

	pthread_mutex_lock(&j->mtx);
	if ((rv = j->error) == 0 && type == TASQ_REC_SUBMIT) {
		// New tasks only while the reserve has room for a snapshot
		// with them; else the writer is asked to make it.
		uint64_t state = j->st.snapshot_bytes + j->st.bytes +
		    j->writing + j->pend.len;
		for (int i = 0; i < iovcnt; i++) {
			state += iov[i].iov_len;
		}
		// Beyond what the reserve covers, it is taken if there was
		// room to grow the reserve at the last look (the writer grows
		// it before it writes the record).
		uint64_t grow = reserve_target(state) > j->reserved
		    ? reserve_target(state) - j->reserved
		    : 0;
		if (state > j->covered &&
		    (j->low_space || grow + journal_room(state) > j->avail)) {
			rv = TASQ_ERESOURCE_EXHAUSTED;
			if (state > j->want_state) {
				j->want_state = state;
			}
			pthread_cond_signal(&j->cv);
		}
	}
	if (rv == 0) {
		rv = tasq_journal_frame(
		    &j->pend.p, &j->pend.len, &j->pend.cap, type, iov, iovcnt);
	}
	if (rv == 0) {
		j->appended = j->pend_base + j->pend.len;
		*lsnp       = j->appended;
		pthread_cond_signal(&j->cv);
	}
	pthread_mutex_unlock(&j->mtx);
	return (rv);
}

uint64_t
tasq_journal_lsn(tasq_journal *j)
{
	uint64_t lsn;

	pthread_mutex_lock(&j->mtx);
	lsn = j->appended;
	pthread_mutex_unlock(&j->mtx);
	return (lsn);
}

int
tasq_journal_wait(tasq_journal *j, uint64_t lsn, tasq_journal_cb cb, void *arg)
{
	struct waiter *w;

	pthread_mutex_lock(&j->mtx);
	if (lsn <= done_lsn(j)) {
		pthread_mutex_unlock(&j->mtx);
		return (1);
	}
	if (j->failed) {
		pthread_mutex_unlock(&j->mtx);
		return (TASQ_EUNAVAILABLE);
	}
	if ((w = malloc(sizeof(*w))) == NULL) {
		pthread_mutex_unlock(&j->mtx);
		return (NNG_ENOMEM);
	}
	w->lsn     = lsn;
	w->cb      = cb;
	w->arg     = arg;
	w->next    = j->waiters;
	j->waiters = w;
	pthread_mutex_unlock(&j->mtx);
	return (0);
}

int
tasq_journal_error(tasq_journal *j)
{
	int rv;

	pthread_mutex_lock(&j->mtx);
	rv = j->error;
	pthread_mutex_unlock(&j->mtx);
	return (rv);
}

bool
tasq_journal_failed(tasq_journal *j)
{
	bool yes;

	pthread_mutex_lock(&j->mtx);
	yes = j->failed;
	pthread_mutex_unlock(&j->mtx);
	return (yes);
}

bool
tasq_journal_needs_compact(tasq_journal *j)
{
	bool     yes;
	uint64_t jb;

	pthread_mutex_lock(&j->mtx);
	jb  = j->st.bytes + j->writing + j->pend.len;
	yes = !j->rotating && !j->failed &&
	    ((j->error == 0 && jb > j->conf.compact_bytes &&
	         jb > 2 * j->st.snapshot_bytes) ||
	        // Short of room: compacting may give some back, once the
	        // journal holds enough that it can.
	        // A full journal: a compaction is the only way out.
	        (j->error != 0 && jb > 0 &&
	            (jb >= 4096 || now_us() >= j->compacted_us + 10000000)) ||
	        // Short of room: once the journal holds a quarter of the
	        // state, or anything at all ten seconds after the last
	        // compaction (a closed job may have shrunk the state).
	        (j->low_space && jb > 0 &&
	            (jb >= j->st.snapshot_bytes / 4 ||
	                now_us() >= j->compacted_us + 10000000)));
	pthread_mutex_unlock(&j->mtx);
	return (yes);
}

int
tasq_journal_rotate(tasq_journal *j, uint8_t *snap, size_t len)
{
	pthread_mutex_lock(&j->mtx);
	if (j->rotating || j->failed) {
		pthread_mutex_unlock(&j->mtx);
		free(snap);
		return (TASQ_EFAILED_PRECONDITION);
	}
	j->rotating     = true;
	j->rotate_req   = true;
	j->compacted_us = now_us();
	j->rotate_at    = j->pend.len;
	j->snap         = snap;
	j->snap_len     = len;
	pthread_cond_signal(&j->cv);
	pthread_mutex_unlock(&j->mtx);
	return (0);
}

void
tasq_journal_get_stats(tasq_journal *j, tasq_journal_stats *s)
{
	pthread_mutex_lock(&j->mtx);
	*s               = j->st;
	s->generation    = j->gen;
	s->failed        = j->failed;
	s->low_space     = j->low_space;
	s->reserve_bytes = j->reserve_want;
	pthread_mutex_unlock(&j->mtx);
}

void
tasq_journal_close(tasq_journal *j)
{
	if (j == NULL) {
		return;
	}
	if (j->running) {
		pthread_mutex_lock(&j->mtx);
		j->closing = true;
		pthread_cond_signal(&j->cv);
		pthread_mutex_unlock(&j->mtx);
		pthread_join(j->thread, NULL);
	}
	// Anyone still waiting (the writer failed) is told.
	run_waiters(take_waiters(j, 0, true), TASQ_EUNAVAILABLE);
	if (j->fd >= 0) {
		close(j->fd);
	}
	if (j->reserve_fd >= 0) {
		close(j->reserve_fd);
	}
	if (j->lockfd >= 0) {
		close(j->lockfd);
	}
	free(j->pend.p);
	free(j->snap);
	pthread_cond_destroy(&j->cv);
	pthread_mutex_destroy(&j->mtx);
	free(j->dir);
	free(j);
}
