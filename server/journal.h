// journal: the server's crash-safe log (--data-dir).
//
// Files in the data directory:
//   journal-G.log   records appended since snapshot G (G: 16 hex digits)
//   snapshot-G.snap the live state when journal G began (no G = 0 file)
// Each file starts with an 16-byte header: 8-byte magic ("TQJOURN1" or
// "TQSNAPS1") and the generation (u64, big-endian). Then records:
//   u32 len (of type + payload), u32 CRC-32C of type + payload, u8 type,
//   payload. All integers big-endian.
// Recovery replays the newest snapshot G and every journal >= G in order.
// Compaction (rotate) writes the state as snapshot G+1 while new records
// go to journal G+1; the older files are deleted only once the snapshot
// is durable, so a crash at any point leaves a replayable set.
//
// Durability: in mode ALWAYS a record is durable once the writer thread
// has written and fdatasync'ed it (many records share one sync: group
// commit); BATCH syncs every batch_ms; NEVER leaves it to the OS. Callers
// wait with tasq_journal_wait, whose callback runs on the writer thread.
//
// Thread-safe. Lock order: broker mutex, then the journal's mutex (records
// are appended under the broker's mutex, so their order is the state's).
#ifndef TASQ_JOURNAL_H
#define TASQ_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

enum tasq_rec_type {
	TASQ_REC_SUBMIT  = 1, // queue, job, first, n, values
	TASQ_REC_RESULTS = 2, // job, n, ids, values, codes: tasks done
	TASQ_REC_ACK     = 3, // job, n: results delivered and acknowledged
	TASQ_REC_CLOSE   = 4, // job: closed or expired
	TASQ_REC_CHUNK   = 5, // snapshot: queue, job, first, n, values, done
	TASQ_REC_PENDING = 6, // snapshot: job, n, ids, values, codes
	TASQ_REC_IVALS   = 7, // snapshot: queue, job, n, [lo, hi)...
	TASQ_REC_RUN     = 8, // job, first, n, values: tasks first.. done, OK
	TASQ_REC_MAX     = TASQ_REC_RUN,
};

typedef enum tasq_fsync_mode {
	TASQ_FSYNC_ALWAYS = 0,
	TASQ_FSYNC_BATCH  = 1,
	TASQ_FSYNC_NEVER  = 2,
} tasq_fsync_mode;

typedef struct tasq_journal tasq_journal;

typedef struct tasq_journal_conf {
	const char     *dir;
	tasq_fsync_mode mode;
	uint32_t        batch_ms;         // BATCH: sync interval
	uint64_t        compact_bytes;    // journal size that asks to compact
	bool            truncate_corrupt; // keep records before corruption
} tasq_journal_conf;

typedef void (*tasq_journal_cb)(void *arg, int rv);

// tasq_journal_parse reads the record at *off of buf (len bytes). Returns
// 0 and advances *off; 1 at the clean end; TASQ_EDATA_LOSS for a torn or
// corrupt record (*torn says whether it can be a torn tail: it reaches
// the end of the buffer, or only zero bytes follow it). Pure.
int tasq_journal_parse(const uint8_t *buf, size_t len, size_t *off, int *type,
    const uint8_t **payload, size_t *plen, bool *torn);

// tasq_journal_frame appends a framed record (type and the iov parts as
// its payload) to the growable buffer *bufp (*lenp used, *capp allocated).
// Pure. Errors: NNG_ENOMEM, TASQ_EINVALID_ARGUMENT (record too large).
int tasq_journal_frame(uint8_t **bufp, size_t *lenp, size_t *capp, int type,
    const struct iovec *iov, int iovcnt);

// tasq_journal_open creates the directory if needed and locks it (one
// server per directory). Errors carry a message in err.
int tasq_journal_open(tasq_journal **jp, const tasq_journal_conf *conf,
    char *err, size_t errlen);

// tasq_journal_recover calls apply for every record of the newest
// snapshot and the journals after it. A torn last record is truncated
// with a warning. Corruption elsewhere returns TASQ_EDATA_LOSS with err
// naming the file and offset (or, with truncate_corrupt, truncates there
// with a warning). *records and *bytes report what was replayed.
int tasq_journal_recover(tasq_journal *j,
    int (*apply)(void *arg, int type, const uint8_t *p, size_t len), void *arg,
    uint64_t *records, uint64_t *bytes, char *err, size_t errlen);

// tasq_journal_start opens the current journal for appending and starts
// the writer thread.
int tasq_journal_start(tasq_journal *j, char *err, size_t errlen);

// tasq_journal_append copies a record (the iov parts make its payload).
// *lsnp gets the position after it. Errors: the writer's last error when
// the journal is failing (no space, I/O error), NNG_ENOMEM.
int tasq_journal_append(tasq_journal *j, int type, const struct iovec *iov,
    int iovcnt, uint64_t *lsnp);

// tasq_journal_lsn returns the position after the last appended record.
uint64_t tasq_journal_lsn(tasq_journal *j);

// tasq_journal_wait: when lsn is durable (per the mode), cb(arg, 0) runs
// on the writer thread; if it is already durable, returns 1 and cb is not
// called. Returns 0 when cb will be called exactly once.
int tasq_journal_wait(
    tasq_journal *j, uint64_t lsn, tasq_journal_cb cb, void *arg);

// tasq_journal_error returns 0 or the error that stops writes now.
int tasq_journal_error(tasq_journal *j);

// tasq_journal_needs_compact says whether the journal has grown past
// compact_bytes and no compaction is running.
bool tasq_journal_needs_compact(tasq_journal *j);

// tasq_journal_rotate begins a compaction: snap (len bytes of records,
// taken over; free()d by the journal) is the state as of now, and every
// record appended from now on belongs to the next generation. Call it
// under the same lock as the appends.
int tasq_journal_rotate(tasq_journal *j, uint8_t *snap, size_t len);

typedef struct tasq_journal_stats {
	uint64_t bytes; // journal bytes since the last snapshot
	uint64_t snapshot_bytes;
	uint64_t syncs;
	uint64_t sync_us_total;
	uint64_t sync_us_max;
	uint64_t compactions;
	uint64_t generation;
} tasq_journal_stats;

void tasq_journal_get_stats(tasq_journal *j, tasq_journal_stats *s);

// Fault injection, for tests: when a hook is set, the journal asks it
// before each of these system calls, with the file's path (the data
// directory's for a directory sync); a nonzero answer is an errno that the
// call then fails with instead of running. Thread-safe.
typedef enum tasq_journal_op {
	TASQ_JOURNAL_OP_WRITE,  // write(2) to a journal or snapshot
	TASQ_JOURNAL_OP_SYNC,   // fdatasync of a file, fsync of the directory
	TASQ_JOURNAL_OP_UNLINK, // unlink(2)
	TASQ_JOURNAL_OP_RENAME, // rename(2); the path is the new name
	TASQ_JOURNAL_OP_OPEN,   // open(2) of a file to write
	TASQ_JOURNAL_OP_ALLOC,  // growing the reserve file
} tasq_journal_op;

typedef int (*tasq_journal_fault_fn)(tasq_journal_op op, const char *path);

// tasq_journal_set_fault sets the hook (NULL: none).
void tasq_journal_set_fault(tasq_journal_fault_fn fn);

// tasq_journal_close flushes, syncs and stops the writer; pending waits
// get their callback. Accepts NULL.
void tasq_journal_close(tasq_journal *j);

#endif
