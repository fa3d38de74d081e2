// journal_int.h: what the journal's three files share: journal.c
// (records, the writer thread, the API), journal_file.c (file
// operations, the reserve, a compaction's file work) and
// journal_recover.c (recovery). Private to them.
#ifndef TASQ_JOURNAL_INT_H
#define TASQ_JOURNAL_INT_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "journal.h"

#define HDR_LEN 16
#define REC_HDR 9 // len, crc, type
#define REC_MAX (1u << 30)

extern const char tasq_jfile_journal_magic[8];
extern const char tasq_jfile_snapshot_magic[8];

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

static inline void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) (v >> 24);
	p[1] = (uint8_t) (v >> 16);
	p[2] = (uint8_t) (v >> 8);
	p[3] = (uint8_t) v;
}

static inline uint32_t
get32(const uint8_t *p)
{
	return ((uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 |
	    (uint32_t) p[2] << 8 | p[3]);
}

static inline void
put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t) (v >> 32));
	put32(p + 4, (uint32_t) v);
}

static inline uint64_t
get64(const uint8_t *p)
{
	return ((uint64_t) get32(p) << 32 | get32(p + 4));
}

// A write that found no room (the disk or a quota is full, or a file size
// limit): nothing in doubt, it can be retried. Any other error of a write,
// and every failed sync, may have lost data the kernel already had.
static inline bool
no_room(int e)
{
	return (e == ENOSPC || e == EDQUOT || e == EFBIG);
}

// ---- journal_file.c ---------------------------------------------------

// tasq_jfile_sync: fdatasync (fsync for a directory) of fd, the file
// path; 0 or an errno (or the fault hook's).
int tasq_jfile_sync(int fd, const char *path, bool dir);

// tasq_jfile_write_all writes n bytes of p to fd (the file path); *done
// says how many went. 0 or an errno.
int tasq_jfile_write_all(
    int fd, const char *path, const uint8_t *p, size_t n, size_t *done);

// tasq_jfile_name: the path of journal or snapshot gen, plus suffix.
void tasq_jfile_name(const tasq_journal *j, char *out, size_t n, bool snap,
    uint64_t gen, const char *suffix);

// tasq_jfile_open_journal opens journal gen for appending, making it if
// needed (whole, under a .tmp name, renamed into place: the commit).
// 0 with *fdp, or an errno; *doubt: renamed, but the directory sync
// failed.
int tasq_jfile_open_journal(
    tasq_journal *j, uint64_t gen, int *fdp, bool *doubt);

// tasq_jfile_use makes fd (journal gen) the one appended to.
void tasq_jfile_use(tasq_journal *j, int fd, uint64_t gen);

// The reserve (see journal_file.c): the room a snapshot of state bytes
// may need; the room the journal needs free with that state; growing
// the reserve (0 or an errno); the bytes free; keeping it as large as the
// state needs (writer thread).
uint64_t tasq_jfile_reserve_target(uint64_t state);
uint64_t tasq_jfile_journal_room(uint64_t state);
int tasq_jfile_reserve_grow(tasq_journal *j, uint64_t want, uint64_t ahead);
uint64_t tasq_jfile_free_bytes(const tasq_journal *j);
void     tasq_jfile_reserve_check(tasq_journal *j, uint64_t state);

// tasq_jfile_rotate runs a compaction's file work (writer thread).
enum { ROT_DONE, ROT_KEPT, ROT_FATAL };
int tasq_jfile_rotate(
    tasq_journal *j, const uint8_t *snap, size_t snap_len, int *errp);

#endif
