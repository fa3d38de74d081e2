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
	uint64_t          durable;
	size_t         writing; // bytes taken by the writer, not counted yet
	struct waiter *waiters;
	int            error;
	// A compaction asked for by tasq_journal_rotate.
	bool               rotate_req;
	bool               rotating;
	size_t             rotate_at; // offset in pend where G+1 begins
	uint8_t           *snap;
	size_t             snap_len;
	tasq_journal_stats st;
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

static int
open_journal(tasq_journal *j, uint64_t gen, bool create)
{
	char    path[4096];
	uint8_t hdr[HDR_LEN];
	size_t  done;
	int     fd, rv;

	file_name(j, path, sizeof(path), false, gen, "");
	fd = j_open(path,
	    O_WRONLY | O_APPEND | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
	if (fd < 0) {
		return (errno);
	}
	if (lseek(fd, 0, SEEK_END) == 0) {
		memcpy(hdr, journal_magic, 8);
		put64(hdr + 8, gen);
		if ((rv = write_all(fd, path, hdr, HDR_LEN, &done)) != 0 ||
		    (rv = j_sync(fd, path, false)) != 0 ||
		    (rv = sync_dir(j)) != 0) {
			close(fd);
			return (rv);
		}
	}
	// The writer thread swaps files while stats read the generation.
	pthread_mutex_lock(&j->mtx);
	j->fd  = fd;
	j->gen = gen;
	snprintf(j->jpath, sizeof(j->jpath), "%s", path);
	pthread_mutex_unlock(&j->mtx);
	return (0);
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
	j->conf     = *conf;
	j->conf.dir = j->dir;
	j->fd       = -1;
	j->lockfd   = -1;
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

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
	return (x < y ? -1 : x > y);
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
			if (truncate(path, 0) != 0) {
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
			if (truncate(path, (off_t) at) != 0) {
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

int
tasq_journal_recover(tasq_journal *j,
    int (*apply)(void *arg, int type, const uint8_t *p, size_t len), void *arg,
    uint64_t *records, uint64_t *bytes, char *err, size_t errlen)
{
	DIR           *d;
	struct dirent *e;
	uint64_t      *jgens = NULL, snapgen = 0;
	size_t         nj = 0, capj = 0;
	bool           have_snap = false;
	char           path[4096];
	int            rv = 0;

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
		if (sscanf(e->d_name, "snapshot-%16llx.sna%1s", &g, tail) ==
		        2 &&
		    strlen(e->d_name) == 9 + 16 + 5) {
			if (!have_snap || g > snapgen) {
				snapgen = g;
			}
			have_snap = true;
		} else if (sscanf(e->d_name, "journal-%16llx.lo%1s", &g,
		               tail) == 2 &&
		    strlen(e->d_name) == 8 + 16 + 4) {
			if (nj == capj) {
				capj = capj ? capj * 2 : 8;
				uint64_t *n =
				    realloc(jgens, capj * sizeof(*n));
				if (n == NULL) {
					closedir(d);
					free(jgens);
					snprintf(err, errlen, "out of memory");
					return (TASQ_EDATA_LOSS);
				}
				jgens = n;
			}
			jgens[nj++] = g;
		} else if (strstr(e->d_name, ".tmp") != NULL) {
			// An unfinished snapshot: never renamed, never used.
			snprintf(
			    path, sizeof(path), "%s/%s", j->dir, e->d_name);
			(void) unlink(path);
		}
	}
	closedir(d);
	if (nj > 1) {
		qsort(jgens, nj, sizeof(*jgens), cmp_u64);
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
	for (size_t i = 0; i < nj; i++) {
		file_name(j, path, sizeof(path), false, jgens[i], "");
		if (have_snap && jgens[i] < snapgen) {
			// Compacted into the snapshot; left by a crash.
			(void) unlink(path);
			continue;
		}
		if ((rv = replay_file(j, path, false, jgens[i], i == nj - 1,
		         apply, arg, records, bytes, err, errlen)) != 0) {
			goto out;
		}
		j->gen = jgens[i];
	}
	j->st.bytes = *bytes;
out:
	free(jgens);
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

// Writes snap as snapshot gen (through a .tmp file and a rename).
static int
write_snapshot(tasq_journal *j, uint64_t gen, const uint8_t *snap, size_t len)
{
	char    tmp[4096], path[4096];
	uint8_t hdr[HDR_LEN];
	size_t  done;
	int     fd, rv;

	file_name(j, tmp, sizeof(tmp), true, gen, ".tmp");
	file_name(j, path, sizeof(path), true, gen, "");
	if ((fd = j_open(
	         tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
		return (errno);
	}
	memcpy(hdr, snapshot_magic, 8);
	put64(hdr + 8, gen);
	if ((rv = write_all(fd, tmp, hdr, HDR_LEN, &done)) == 0 &&
	    (rv = write_all(fd, tmp, snap, len, &done)) == 0) {
		rv = j_sync(fd, tmp, false);
	}
	close(fd);
	if (rv == 0 && j_rename(tmp, path) != 0) {
		rv = errno;
	}
	if (rv == 0) {
		rv = sync_dir(j);
	}
	if (rv != 0) {
		(void) j_unlink(tmp);
	}
	return (rv);
}

// Runs a compaction's file work: the old generation's last records are in
// w[0, at); the rest belongs to the new one. Returns the fd to write the
// rest to. On any failure it keeps the old generation (appending the rest
// there is equally correct) and says so.
static void
rotate_files(tasq_journal *j, uint8_t *snap, size_t snap_len)
{
	uint64_t ng      = j->gen + 1;
	int      old_fd  = j->fd;
	uint64_t old_gen = j->gen;
	char     path[4096];
	int      rv;

	if ((rv = write_snapshot(j, ng, snap, snap_len)) != 0) {
		tasq_warn("compaction: cannot write snapshot: %s; keeping "
		          "the journal",
		    strerror(rv));
		return;
	}
	if ((rv = open_journal(j, ng, true)) != 0) {
		tasq_warn("compaction: cannot start journal: %s; keeping "
		          "the old one",
		    strerror(rv));
		file_name(j, path, sizeof(path), true, ng, "");
		(void) j_unlink(path);
		(void) sync_dir(j);
		return;
	}
	close(old_fd);
	file_name(j, path, sizeof(path), false, old_gen, "");
	(void) j_unlink(path);
	file_name(j, path, sizeof(path), true, old_gen, "");
	(void) j_unlink(path);
	(void) sync_dir(j);
	pthread_mutex_lock(&j->mtx);
	j->st.compactions++;
	j->st.snapshot_bytes = snap_len;
	j->st.bytes          = 0;
	pthread_mutex_unlock(&j->mtx);
	tasq_info("journal compacted: snapshot %016" PRIx64 " of %zu bytes",
	    ng, snap_len);
}

static void *
writer(void *arg)
{
	tasq_journal *j         = arg;
	struct buf    spare     = { 0 };
	uint64_t      last_sync = now_us();
	bool          dirty     = false;

	pthread_mutex_lock(&j->mtx);
	for (;;) {
		while (j->pend.len == 0 && !j->rotate_req && !j->closing &&
		    !(dirty && j->conf.mode == TASQ_FSYNC_BATCH)) {
			pthread_cond_wait(&j->cv, &j->mtx);
		}
		if (j->pend.len == 0 && !j->rotate_req && !dirty) {
			break; // closing, all written
		}
		if (j->closing && j->error != 0) {
			// Still failing at close: give up; waiters are told.
			tasq_err(
			    "journal: %zu bytes could not be written before "
			    "shutdown; they were never acknowledged",
			    j->pend.len);
			break;
		}
		if (j->error != 0 ||
		    (j->conf.mode == TASQ_FSYNC_BATCH && j->pend.len == 0 &&
		        !j->closing && !j->rotate_req)) {
			// Failing (retry every second) or a batch window.
			struct timespec ts;
			uint32_t ms = j->error ? 1000 : j->conf.batch_ms;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += ms / 1000;
			ts.tv_nsec += (long) (ms % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			if (pthread_cond_timedwait(&j->cv, &j->mtx, &ts) ==
			        0 &&
			    j->error == 0 && !j->closing) {
				continue;
			}
		}
		struct buf w    = j->pend;
		uint64_t   base = j->pend_base;
		bool       rot  = j->rotate_req;
		size_t     at   = rot ? j->rotate_at : w.len;
		uint8_t   *snap = j->snap;
		size_t     slen = j->snap_len;
		j->pend         = spare;
		j->pend.len     = 0;
		// New records go after these, whatever happens to the write.
		j->pend_base  = base + w.len;
		j->writing    = w.len;
		j->rotate_req = false;
		j->snap       = NULL;
		pthread_mutex_unlock(&j->mtx);

		size_t done = 0, done2 = 0;
		int    rv   = write_all(j->fd, j->jpath, w.p, at, &done);
		bool   sync = j->conf.mode == TASQ_FSYNC_ALWAYS || rot ||
		    j->closing ||
		    (j->conf.mode == TASQ_FSYNC_BATCH &&
		        now_us() - last_sync >= j->conf.batch_ms * 1000ULL);
		if (rv == 0 && (sync || rot)) {
			rv = do_sync(j, j->fd);
		}
		if (rv == 0 && rot) {
			rotate_files(j, snap, slen);
		}
		if (rv == 0 && at < w.len) {
			rv = write_all(
			    j->fd, j->jpath, w.p + at, w.len - at, &done2);
			if (rv == 0 && sync) {
				rv = do_sync(j, j->fd);
			}
		}
		free(snap);
		pthread_mutex_lock(&j->mtx);
		if (rv != 0) {
			// Keep what was not written, ahead of newer records,
			// and try again; a rotation is abandoned (the old
			// generation takes every record).
			size_t     wrote = done + done2;
			struct buf rest  = { 0 };
			if (j->error == 0) {
				tasq_err(
				    "journal write failed: %s; refusing new "
				    "work until it succeeds",
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
			j->rotating  = false;
			j->writing   = 0;
			spare        = w;
			spare.len    = 0;
			dirty        = true;
			// Whoever waits is told now rather than at its
			// deadline: not acknowledged, try again. Their records
			// stay queued and are written when space returns,
			// which a retry (a duplicate) then finds.
			struct waiter *failed = j->waiters;
			int            err    = j->error;
			j->waiters            = NULL;
			pthread_mutex_unlock(&j->mtx);
			while (failed != NULL) {
				struct waiter *x = failed;
				failed           = x->next;
				x->cb(x->arg, err);
				free(x);
			}
			pthread_mutex_lock(&j->mtx);
			continue;
		}
		if (j->error != 0) {
			tasq_info("journal writes succeed again");
			j->error = 0;
		}
		j->pend_base = base + w.len;
		j->st.bytes += w.len;
		j->writing = 0;
		if (rot) {
			j->rotating = false;
			j->st.bytes = w.len - at;
		}
		dirty = !sync;
		if (sync) {
			last_sync  = now_us();
			j->durable = base + w.len;
		}
		// Wake the callers whose records are now durable.
		struct waiter *ready = NULL, **pp = &j->waiters;
		while (*pp != NULL) {
			struct waiter *x = *pp;
			if (x->lsn <= j->durable) {
				*pp     = x->next;
				x->next = ready;
				ready   = x;
			} else {
				pp = &x->next;
			}
		}
		spare     = w;
		spare.len = 0;
		pthread_mutex_unlock(&j->mtx);
		while (ready != NULL) {
			struct waiter *x = ready;
			ready            = x->next;
			x->cb(x->arg, 0);
			free(x);
		}
		pthread_mutex_lock(&j->mtx);
	}
	pthread_mutex_unlock(&j->mtx);
	free(spare.p);
	return (NULL);
}

int
tasq_journal_start(tasq_journal *j, char *err, size_t errlen)
{
	int rv;

	if ((rv = open_journal(j, j->gen, true)) != 0) {
		snprintf(err, errlen, "cannot open journal in %s: %s", j->dir,
		    strerror(rv));
		return (TASQ_EUNAVAILABLE);
	}
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
	if ((rv = j->error) == 0) {
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

	if (j->conf.mode != TASQ_FSYNC_ALWAYS) {
		return (1);
	}
	pthread_mutex_lock(&j->mtx);
	if (lsn <= j->durable) {
		pthread_mutex_unlock(&j->mtx);
		return (1);
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
tasq_journal_needs_compact(tasq_journal *j)
{
	bool yes;

	pthread_mutex_lock(&j->mtx);
	yes = !j->rotating && j->error == 0 &&
	    j->st.bytes + j->writing + j->pend.len > j->conf.compact_bytes &&
	    j->st.bytes + j->writing + j->pend.len > 2 * j->st.snapshot_bytes;
	pthread_mutex_unlock(&j->mtx);
	return (yes);
}

int
tasq_journal_rotate(tasq_journal *j, uint8_t *snap, size_t len)
{
	pthread_mutex_lock(&j->mtx);
	if (j->rotating || j->error != 0) {
		pthread_mutex_unlock(&j->mtx);
		free(snap);
		return (TASQ_EFAILED_PRECONDITION);
	}
	j->rotating   = true;
	j->rotate_req = true;
	j->rotate_at  = j->pend.len;
	j->snap       = snap;
	j->snap_len   = len;
	pthread_cond_signal(&j->cv);
	pthread_mutex_unlock(&j->mtx);
	return (0);
}

void
tasq_journal_get_stats(tasq_journal *j, tasq_journal_stats *s)
{
	pthread_mutex_lock(&j->mtx);
	*s            = j->st;
	s->generation = j->gen;
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
	while (j->waiters != NULL) {
		struct waiter *w = j->waiters;
		j->waiters       = w->next;
		w->cb(w->arg, TASQ_EUNAVAILABLE);
		free(w);
	}
	if (j->fd >= 0) {
		close(j->fd);
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
