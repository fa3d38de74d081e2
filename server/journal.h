// journal: the server's crash-safe log (--data-dir).
//
// Files in the data directory:
//   journal-G.log   records appended since snapshot G (G: 16 hex digits)
//   snapshot-G.snap the live state when journal G began (no G = 0 file)
//   reserve         room kept free for the next snapshot (see below)
//   lock            held (flock) by the server using the directory
// Each file starts with an 16-byte header: 8-byte magic ("TQJOURN1" or
// "TQSNAPS1") and the generation (u64, big-endian). Then records:
//   u32 len (of type + payload), u32 CRC-32C of type + payload, u8 type,
//   payload. All integers big-endian.
// Compaction (rotate) writes the state as snapshot G+1 (synced, renamed
// into place), then creates journal G+1 (header synced, renamed into
// place: this commits G+1), then deletes generation G. Recovery replays
// the newest snapshot up to the newest journal N with a whole header,
// then the journals up to N; files of an uncommitted generation are
// ignored and removed. So a crash or a failed step at any point, and any
// cleanup that fails, leaves a replayable set that holds every record.
//
// Durability: a wait (tasq_journal_wait) completes in mode ALWAYS once
// the writer thread has written and fdatasync'ed the record (many records
// share one sync: group commit); in BATCH and NEVER once write(2) has
// returned, so that killing the process loses nothing acknowledged (the
// page cache survives it); BATCH then syncs every batch_ms, NEVER leaves
// it to the OS. A machine crash can so lose the last batch_ms (BATCH) or
// whatever the kernel had not written back (NEVER; about 30 s by default).
//
// Errors: a write that finds no room (ENOSPC, EDQUOT, EFBIG) is retried
// about once a second and refuses new records meanwhile. Any other failed
// write, and any failed fdatasync, fails the journal closed: after a
// failed sync the kernel may have dropped the pages, so syncing again and
// succeeding would prove nothing. Nothing not yet acknowledged ever is;
// every append and wait fails with TASQ_EUNAVAILABLE until a restart,
// which recovers what is on disk.
//
// Room: the reserve file is kept as large as a snapshot of the state may
// be (last snapshot + journal since, an eighth more, two pages; at least
// TASQ_JOURNAL_RESERVE_MIN). A compaction writes its snapshot into the
// reserve's blocks, so a full disk can always be compacted, and the old
// generation it deletes gives back at least the room of the next reserve.
// SUBMIT records (new tasks: the only records that only add to the state)
// are refused with TASQ_ERESOURCE_EXHAUSTED while the reserve has no room
// for them (the writer grows it; the client retries) or cannot grow, or
// while less than a quarter of the state (at least TASQ_JOURNAL_ROOM_MIN)
// is free for the journal to finish the tasks it has; the log then says
// how many bytes are missing, and tasq_journal_needs_compact asks for a
// compaction.
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
	TASQ_REC_RUN     = 8, // job, first, n, 8-byte results: first.. OK
	// Typed tasks (issue 12): records 1, 2, 5, 6 and 7 are still
	// replayed (as type square, legacy), never written.
	TASQ_REC_SUBMIT2  = 9,  // + type, legacy, retry; payload column
	TASQ_REC_RESULTS2 = 10, // job, n, ids, codes, result column, errors
	TASQ_REC_PENDING2 = 11, // snapshot: as RESULTS2
	TASQ_REC_CHUNK2   = 12, // snapshot: job, first, n, column, done
	TASQ_REC_IVALS2   = 13, // snapshot: IVALS + type, legacy, retry
	TASQ_REC_DEAD     = 14, // a dead letter (also in snapshots)
	TASQ_REC_DPURGE   = 15, // dead letters purged
	TASQ_REC_TRIES    = 16, // job, ranges' attempts (also in snapshots)
	// The job registry (issue 13).
	TASQ_REC_JOB     = 17, // a job's meta: detached, input complete, ...
	TASQ_REC_EXPIRED = 18, // detached jobs whose results expired
	TASQ_REC_PRIO    = 19, // job, priority (after its first SUBMIT2)
	TASQ_REC_CANCEL  = 20, // job, wall time: cancelled (PROTOCOL.md 9.15)
	TASQ_REC_MAX     = TASQ_REC_CANCEL,
};

typedef enum tasq_fsync_mode {
	TASQ_FSYNC_ALWAYS = 0,
	TASQ_FSYNC_BATCH  = 1,
	TASQ_FSYNC_NEVER  = 2,
} tasq_fsync_mode;

typedef struct tasq_journal tasq_journal;

// The smallest reserve, and the least room kept free for the journal to
// grow into: a new data directory needs both free, and two pages more
// (8 KiB) for a snapshot, to start.
#define TASQ_JOURNAL_RESERVE_MIN (64u << 10)
#define TASQ_JOURNAL_ROOM_MIN (32u << 10)

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

// tasq_journal_start opens the current journal for appending, makes the
// reserve file and starts the writer thread. TASQ_ERESOURCE_EXHAUSTED
// (err says how many bytes are missing) when not even
// TASQ_JOURNAL_RESERVE_MIN can be reserved.
int tasq_journal_start(tasq_journal *j, char *err, size_t errlen);

// tasq_journal_append copies a record (the iov parts make its payload).
// *lsnp gets the position after it. Errors: the writer's error while
// writes find no room (TASQ_ERESOURCE_EXHAUSTED for ENOSPC), or for good
// once failed (TASQ_EUNAVAILABLE); TASQ_ERESOURCE_EXHAUSTED for a SUBMIT
// while the reserve cannot grow; NNG_ENOMEM.
int tasq_journal_append(tasq_journal *j, int type, const struct iovec *iov,
    int iovcnt, uint64_t *lsnp);

// tasq_journal_lsn returns the position after the last appended record.
uint64_t tasq_journal_lsn(tasq_journal *j);

// tasq_journal_wait: once lsn is done (ALWAYS: written and synced; BATCH
// and NEVER: written), cb(arg, 0) runs on the writer thread; if it is
// done already, returns 1 and cb is not called. Returns 0 when cb will be
// called exactly once: with 0, or with the error that kept the record
// from being written (then it was not acknowledged). Returns
// TASQ_EUNAVAILABLE at once when the journal has failed, NNG_ENOMEM.
int tasq_journal_wait(
    tasq_journal *j, uint64_t lsn, tasq_journal_cb cb, void *arg);

// tasq_journal_error returns 0 or the error that stops writes now.
int tasq_journal_error(tasq_journal *j);

// tasq_journal_failed says whether the journal failed closed (an I/O
// error: only a restart helps).
bool tasq_journal_failed(tasq_journal *j);

// tasq_journal_needs_compact says whether no compaction is running and
// the journal has grown past compact_bytes (and twice the snapshot), or
// room is short (the reserve cannot grow, or a write found no room) and
// the journal holds enough that compacting may give some back.
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
	uint64_t reserve_bytes; // what the reserve should hold now
	bool     failed;        // failed closed (see tasq_journal_failed)
	bool     low_space;     // the reserve cannot grow: SUBMIT refused
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
