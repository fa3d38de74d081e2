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
#include "journal_int.h"
#include "log.h"

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
	{
		// Timed waits (the batch sync, the retry of a write) run on
		// the monotonic clock: a step of the wall clock must neither
		// stretch nor skip them.
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&j->cv, &ca);
		pthread_condattr_destroy(&ca);
	}
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
	int      rv = tasq_jfile_sync(fd, j->jpath, false);

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

	clock_gettime(CLOCK_MONOTONIC, &ts);
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

		tasq_jfile_reserve_check(j, state);
		if (j->low_space) {
			retry_at = now_us() + 1000000;
		}
		rv = tasq_jfile_write_all(j->fd, j->jpath, w.p, at, &done);
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
			rs = tasq_jfile_rotate(j, snap, slen, &ferr);
			// Its snapshot took the reserve's room.
			tasq_jfile_reserve_check(
			    j, j->st.snapshot_bytes + w.len - at);
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
			rv = tasq_jfile_write_all(
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

	if ((rv = tasq_jfile_open_journal(j, j->gen, &fd, &doubt)) != 0) {
		snprintf(err, errlen, "cannot open journal in %s: %s", j->dir,
		    strerror(rv));
		return (TASQ_EUNAVAILABLE);
	}
	tasq_jfile_use(j, fd, j->gen);
	// A new data directory must have room for the smallest reserve and
	// journal, or it could never compact its way out of a full disk:
	// say how much is missing. A directory with state starts anyway (a
	// compaction may make room; new tasks wait for it).
	if (state == 0 &&
	    ((rv = tasq_jfile_reserve_grow(j, TASQ_JOURNAL_RESERVE_MIN, 0)) !=
	            0 ||
	        tasq_jfile_free_bytes(j) < TASQ_JOURNAL_ROOM_MIN + 8192)) {
		uint64_t avail = tasq_jfile_free_bytes(j);
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
	tasq_jfile_reserve_check(j, state);
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
		if (iov[i].iov_len > 0) { // an empty column may be NULL
			memcpy(p + o, iov[i].iov_base, iov[i].iov_len);
		}
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
	if ((rv = j->error) == 0 &&
	    (type == TASQ_REC_SUBMIT || type == TASQ_REC_SUBMIT2)) {
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
		uint64_t grow = tasq_jfile_reserve_target(state) > j->reserved
		    ? tasq_jfile_reserve_target(state) - j->reserved
		    : 0;
		if (state > j->covered &&
		    (j->low_space ||
		        grow + tasq_jfile_journal_room(state) > j->avail)) {
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
