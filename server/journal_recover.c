// journal_recover: which files make the state, and their replay at
// start-up (see journal.h).
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "journal_int.h"
#include "log.h"

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
	if (ftruncate(fd, len) != 0 ||
	    (rv = tasq_jfile_sync(fd, path, false)) != 0) {
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
	if (memcmp(buf,
	        snap ? tasq_jfile_snapshot_magic : tasq_jfile_journal_magic,
	        8) != 0 ||
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
		tasq_jfile_name(j, path, sizeof(path), f->snap, f->gen, "");
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
		tasq_jfile_name(j, path, sizeof(path), true, snapgen, "");
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
		tasq_jfile_name(
		    j, path, sizeof(path), false, files[i].gen, "");
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
