// Unit tests of server/journal: record framing and parsing (torn tail
// versus corruption), recovery from a directory (torn tails cut, damage
// in the middle refused with file and offset, --recover-truncate), empty
// files, compaction and its leftovers, the directory lock, positions
// (lsn) and durability waits, and write failures (a file size limit
// stands in for a full disk). Then the broker's use of it
// (server/persist.c): state built through the broker, the journal closed
// as by a crash after the last durable record, recovered into a new
// broker, and compared, with and without compaction.
// Every test works in a fresh temporary directory of its own.
#define _GNU_SOURCE
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "broker.h"
#include "broker_test_util.h"
#include "clock.h"
#include "crc32c.h"
#include "err.h"
#include "journal.h"
#include "rand.h"
#include "tasq_test.h"
#include "tasq_scratch.h"

#define HDR_LEN 16 // file header: magic, generation
#define JOURNAL0 "journal-0000000000000000.log"
#define JOURNAL1 "journal-0000000000000001.log"
#define JOURNAL2 "journal-0000000000000002.log"
#define SNAP1 "snapshot-0000000000000001.snap"
#define SNAP2 "snapshot-0000000000000002.snap"

// ---- helpers: files ----------------------------------------------------

static char tmpdir[256];

static const char *
make_tmpdir(void)
{
	tasq_scratch_dir(tmpdir, sizeof(tmpdir));
	return (tmpdir);
}

// Removes the test's directory at once when it passed.
static void
rm_tmpdir(void)
{
	tasq_scratch_rm(tmpdir);
}

static char *
path_of(const char *name)
{
	static char p[4][512];
	static int  k;

	k = (k + 1) % 4;
	snprintf(p[k], sizeof(p[k]), "%s/%s", tmpdir, name);
	return (p[k]);
}

static bool
exists(const char *name)
{
	struct stat st;
	return (stat(path_of(name), &st) == 0);
}

static long long
file_size(const char *name)
{
	struct stat st;

	ASSERT_OK(stat(path_of(name), &st));
	return ((long long) st.st_size);
}

static void
cut_file(const char *name, long long size)
{
	ASSERT_OK(truncate(path_of(name), (off_t) size));
}

static void
flip_byte(const char *name, long long off)
{
	int     fd = open(path_of(name), O_RDWR);
	uint8_t b;

	ASSERT_GE(fd, 0);
	ASSERT_EQ(pread(fd, &b, 1, (off_t) off), 1);
	b ^= 0xff;
	ASSERT_EQ(pwrite(fd, &b, 1, (off_t) off), 1);
	close(fd);
}

static void
write_bytes(const char *name, const void *p, size_t n)
{
	int fd = open(path_of(name), O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ASSERT_GE(fd, 0);
	ASSERT_EQ(write(fd, p, n), (ssize_t) n);
	close(fd);
}

// ---- helpers: records ----------------------------------------------------

// Frames a record whose payload is the string s into *buf.
static void
frame_str(uint8_t **buf, size_t *len, size_t *cap, int type, const char *s)
{
	struct iovec iov = { (void *) s, strlen(s) };
	ASSERT_OK(tasq_journal_frame(buf, len, cap, type, &iov, 1));
}

static void
put32be(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) (v >> 24);
	p[1] = (uint8_t) (v >> 16);
	p[2] = (uint8_t) (v >> 8);
	p[3] = (uint8_t) v;
}

// A file: the 16-byte header and then records.
static void
write_file(const char *name, const char *magic, uint64_t gen,
    const uint8_t *recs, size_t len)
{
	uint8_t *buf = calloc(1, HDR_LEN + len + 1);

	ASSERT_NOT_NULL(buf);
	memcpy(buf, magic, 8);
	put32be(buf + 8, (uint32_t) (gen >> 32));
	put32be(buf + 12, (uint32_t) gen);
	if (len > 0) {
		memcpy(buf + HDR_LEN, recs, len);
	}
	write_bytes(name, buf, HDR_LEN + len);
	free(buf);
}

#define MAX_RECS 64

// What recovery handed to apply, in order.
struct seen {
	int    n;
	int    type[MAX_RECS];
	char   payload[MAX_RECS][256];
	size_t len[MAX_RECS];
};

static int
collect_cb(void *arg, int type, const uint8_t *p, size_t len)
{
	struct seen *s = arg;

	if (s->n == MAX_RECS || len >= sizeof(s->payload[0])) {
		return (TASQ_EINTERNAL);
	}
	s->type[s->n] = type;
	s->len[s->n]  = len;
	memcpy(s->payload[s->n], p, len);
	s->payload[s->n][len] = '\0';
	s->n++;
	return (0);
}

static tasq_journal_conf
conf_of(bool truncate_corrupt)
{
	tasq_journal_conf c = {
		.dir              = tmpdir,
		.mode             = TASQ_FSYNC_ALWAYS,
		.batch_ms         = 10,
		.compact_bytes    = 1ULL << 30,
		.truncate_corrupt = truncate_corrupt,
	};
	return (c);
}

// Opens the journal of tmpdir and recovers it into *s; returns
// recover's result (the journal is open either way; err gets the
// message).
static int
open_recover(tasq_journal **jp, const tasq_journal_conf *c, struct seen *s,
    char *err, size_t errlen)
{
	uint64_t recs = 99, bytes = 99;
	int      rv;

	memset(s, 0, sizeof(*s));
	err[0] = '\0';
	ASSERT_OK(tasq_journal_open(jp, c, err, errlen));
	rv = tasq_journal_recover(
	    *jp, collect_cb, s, &recs, &bytes, err, errlen);
	if (rv == 0) {
		ASSERT_EQ(recs, (uint64_t) s->n);
	}
	return (rv);
}

// Opens, recovers (must succeed) and starts.
static tasq_journal *
open_start(const tasq_journal_conf *c, struct seen *s)
{
	tasq_journal *j = NULL;
	char          err[512];

	ASSERT_OK(open_recover(&j, c, s, err, sizeof(err)));
	ASSERT_OK(tasq_journal_start(j, err, sizeof(err)));
	return (j);
}

static uint64_t
append_str(tasq_journal *j, int type, const char *s)
{
	struct iovec iov = { (void *) s, strlen(s) };
	uint64_t     lsn = 0;

	ASSERT_OK(tasq_journal_append(j, type, &iov, 1, &lsn));
	return (lsn);
}

static void
expect_rec(const struct seen *s, int i, int type, const char *payload)
{
	ASSERT_LT(i, s->n);
	ASSERT_EQ(s->type[i], type);
	ASSERT_STR_EQ(s->payload[i], payload);
}

// The offset of each record of a journal file (up to max), from the
// lengths in it; returns how many.
static int
record_offsets(const char *name, long long *offs, int max)
{
	FILE     *f   = fopen(path_of(name), "rb");
	long long off = HDR_LEN, size = file_size(name);
	int       n = 0;

	ASSERT_NOT_NULL(f);
	while (off + 8 <= size && n < max) {
		uint8_t b[4];
		ASSERT_OK(fseek(f, (long) off, SEEK_SET));
		ASSERT_EQ(fread(b, 1, 4, f), 4);
		offs[n++] = off;
		off += 8 +
		    (((long long) b[0] << 24) | (b[1] << 16) | (b[2] << 8) |
		        b[3]);
	}
	fclose(f);
	return (n);
}

// ---- tasq_journal_parse -------------------------------------------------

TEST(parse_good_records)
{
	uint8_t       *buf = NULL;
	size_t         len = 0, cap = 0, off = 0, plen;
	const uint8_t *p;
	int            type;
	bool           torn = true;

	frame_str(&buf, &len, &cap, TASQ_REC_SUBMIT, "first");
	frame_str(&buf, &len, &cap, TASQ_REC_RESULTS, "");
	frame_str(&buf, &len, &cap, TASQ_REC_CLOSE, "third record");
	ASSERT_EQ(len, (8 + 1 + 5) + (8 + 1) + (8 + 1 + 12));
	// The length field counts type and payload; the CRC covers them.
	ASSERT_EQ(buf[3], 6);
	ASSERT_EQ(((uint32_t) buf[4] << 24 | (uint32_t) buf[5] << 16 |
	              (uint32_t) buf[6] << 8 | buf[7]),
	    tasq_crc32c(0, buf + 8, 6));

	ASSERT_OK(tasq_journal_parse(buf, len, &off, &type, &p, &plen, &torn));
	ASSERT_EQ(type, TASQ_REC_SUBMIT);
	ASSERT_EQ(plen, 5);
	ASSERT_MEM_EQ(p, "first", 5);
	ASSERT_EQ(off, 14);
	ASSERT_FALSE(torn);
	ASSERT_OK(tasq_journal_parse(buf, len, &off, &type, &p, &plen, &torn));
	ASSERT_EQ(type, TASQ_REC_RESULTS);
	ASSERT_EQ(plen, 0);
	ASSERT_OK(tasq_journal_parse(buf, len, &off, &type, &p, &plen, &torn));
	ASSERT_EQ(type, TASQ_REC_CLOSE);
	ASSERT_MEM_EQ(p, "third record", 12);
	ASSERT_EQ(off, len);
	// The clean end, again and again.
	ASSERT_EQ(
	    tasq_journal_parse(buf, len, &off, &type, &p, &plen, &torn), 1);
	ASSERT_EQ(
	    tasq_journal_parse(buf, len, &off, &type, &p, &plen, &torn), 1);
	ASSERT_FALSE(torn);
	free(buf);
}

TEST(parse_truncated_header_is_torn)
{
	uint8_t       *buf = NULL;
	size_t         len = 0, cap = 0, off = 0, plen;
	const uint8_t *p;
	int            type;
	bool           torn;

	frame_str(&buf, &len, &cap, TASQ_REC_ACK, "one");
	frame_str(&buf, &len, &cap, TASQ_REC_ACK, "two");
	for (size_t cut = 1; cut < 9; cut++) {
		// The second record's header is only cut bytes long.
		off = 0;
		ASSERT_OK(tasq_journal_parse(
		    buf, 12 + cut, &off, &type, &p, &plen, &torn));
		ASSERT_RV(tasq_journal_parse(
		              buf, 12 + cut, &off, &type, &p, &plen, &torn),
		    TASQ_EDATA_LOSS);
		ASSERT_TRUE(torn);
		ASSERT_EQ(off, 12); // not advanced
	}
	free(buf);
}

TEST(parse_length_past_end_is_torn)
{
	uint8_t       *buf = NULL;
	size_t         len = 0, cap = 0, off, plen;
	const uint8_t *p;
	int            type;
	bool           torn;

	frame_str(&buf, &len, &cap, TASQ_REC_SUBMIT, "complete");
	frame_str(&buf, &len, &cap, TASQ_REC_SUBMIT, "cut short by a crash");
	// Every cut inside the second record's body.
	for (size_t end = 17 + 9; end < len; end++) {
		off = 17;
		ASSERT_RV(tasq_journal_parse(
		              buf, end, &off, &type, &p, &plen, &torn),
		    TASQ_EDATA_LOSS);
		ASSERT_TRUE(torn);
		ASSERT_EQ(off, 17);
	}
	free(buf);
}

TEST(parse_crc_mismatch_at_end_is_torn)
{
	uint8_t       *buf = NULL;
	size_t         len = 0, cap = 0, off = 0, plen;
	const uint8_t *p;
	int            type;
	bool           torn;

	frame_str(&buf, &len, &cap, TASQ_REC_SUBMIT, "good");
	frame_str(&buf, &len, &cap, TASQ_REC_SUBMIT, "last, half written");
	buf[len - 3] ^= 0x40; // the payload, not the length
	ASSERT_OK(tasq_journal_parse(buf, len, &off, &type, &p, &plen, &torn));
	ASSERT_RV(tasq_journal_parse(buf, len, &off, &type, &p, &plen, &torn),
	    TASQ_EDATA_LOSS);
	ASSERT_TRUE(torn);
	free(buf);
}

TEST(parse_crc_mismatch_in_middle_is_corrupt)
{
	uint8_t       *buf = NULL;
	size_t         len = 0, cap = 0, off = 0, plen;
	const uint8_t *p;
	int            type;
	bool           torn = true;

	frame_str(&buf, &len, &cap, TASQ_REC_SUBMIT, "good");
	frame_str(&buf, &len, &cap, TASQ_REC_SUBMIT, "damaged");
	frame_str(&buf, &len, &cap, TASQ_REC_SUBMIT, "after it");
	buf[13 + 9 + 3] ^= 0x01; // a bit of "damaged"
	ASSERT_OK(tasq_journal_parse(buf, len, &off, &type, &p, &plen, &torn));
	ASSERT_RV(tasq_journal_parse(buf, len, &off, &type, &p, &plen, &torn),
	    TASQ_EDATA_LOSS);
	ASSERT_FALSE(torn);
	ASSERT_EQ(off, 13);
	// A CRC field damaged in the middle: corrupt as well.
	buf[13 + 9 + 3] ^= 0x01;
	buf[13 + 5] ^= 0x80;
	torn = true;
	ASSERT_RV(tasq_journal_parse(buf, len, &off, &type, &p, &plen, &torn),
	    TASQ_EDATA_LOSS);
	ASSERT_FALSE(torn);
	free(buf);
}

TEST(parse_zero_filled_tail_is_torn)
{
	uint8_t       *buf = NULL;
	size_t         len = 0, cap = 0, off = 0, plen;
	const uint8_t *p;
	int            type;
	bool           torn;

	frame_str(&buf, &len, &cap, TASQ_REC_SUBMIT, "written");
	buf = realloc(buf, len + 4096);
	ASSERT_NOT_NULL(buf);
	memset(buf + len, 0, 4096);
	ASSERT_OK(tasq_journal_parse(
	    buf, len + 4096, &off, &type, &p, &plen, &torn));
	ASSERT_RV(
	    tasq_journal_parse(buf, len + 4096, &off, &type, &p, &plen, &torn),
	    TASQ_EDATA_LOSS);
	ASSERT_TRUE(torn);
	ASSERT_EQ(off, len);
	// Garbage in the tail is still a torn write: nothing valid follows.
	buf[len + 100] = 1;
	ASSERT_RV(
	    tasq_journal_parse(buf, len + 4096, &off, &type, &p, &plen, &torn),
	    TASQ_EDATA_LOSS);
	ASSERT_TRUE(torn);
	// A whole record after the damage means the middle is corrupt.
	memcpy(buf + len + 200, buf, len);
	ASSERT_RV(
	    tasq_journal_parse(buf, len + 4096, &off, &type, &p, &plen, &torn),
	    TASQ_EDATA_LOSS);
	ASSERT_FALSE(torn);
	free(buf);
}

// ---- a journal in a directory ---------------------------------------------

TEST(cycle_append_close_recover_in_order)
{
	tasq_journal_conf  c = conf_of(false);
	tasq_journal      *j;
	struct seen        s;
	tasq_journal_stats st;
	char               p[32];
	uint64_t           lsn = 0, last;

	make_tmpdir();
	j = open_start(&c, &s);
	ASSERT_EQ(s.n, 0); // empty directory
	ASSERT_TRUE(exists(JOURNAL0));
	for (int i = 0; i < 20; i++) {
		snprintf(p, sizeof(p), "record %d", i);
		last = append_str(j, 1 + i % 7, p);
		ASSERT_GT(last, lsn);
		lsn = last;
	}
	ASSERT_EQ(tasq_journal_lsn(j), lsn);
	tasq_journal_close(j);
	// Everything was written, after the header, and nothing else.
	ASSERT_EQ(file_size(JOURNAL0), HDR_LEN + (long long) lsn);

	j = open_start(&c, &s);
	ASSERT_EQ(s.n, 20);
	for (int i = 0; i < 20; i++) {
		snprintf(p, sizeof(p), "record %d", i);
		expect_rec(&s, i, 1 + i % 7, p);
	}
	tasq_journal_get_stats(j, &st);
	ASSERT_EQ(st.generation, 0);
	ASSERT_EQ(st.bytes, lsn);
	// More records go after the recovered ones.
	append_str(j, TASQ_REC_CLOSE, "after a restart");
	tasq_journal_close(j);
	tasq_journal_close(open_start(&c, &s));
	ASSERT_EQ(s.n, 21);
	expect_rec(&s, 20, TASQ_REC_CLOSE, "after a restart");
	rm_tmpdir();
}

static atomic_int synced_rv = -1;

static void
synced_cb(void *arg, int rv)
{
	(void) arg;
	atomic_store(&synced_rv, rv);
}

// Polls cond for up to ms milliseconds.
static bool
eventually(bool (*cond)(void *), void *arg, int ms)
{
	for (int i = 0; i < ms / 5; i++) {
		if (cond(arg)) {
			return (true);
		}
		nng_msleep(5);
	}
	return (cond(arg));
}

static bool
synced(void *arg)
{
	(void) arg;
	return (atomic_load(&synced_rv) != -1);
}

TEST(wait_reports_durability_once)
{
	tasq_journal_conf c = conf_of(false);
	tasq_journal     *j;
	struct seen       s;
	uint64_t          lsn;
	int               rv;

	make_tmpdir();
	j   = open_start(&c, &s);
	lsn = append_str(j, TASQ_REC_SUBMIT, "wait for me");
	atomic_store(&synced_rv, -1);
	rv = tasq_journal_wait(j, lsn, synced_cb, NULL);
	ASSERT_TRUE(rv == 0 || rv == 1);
	if (rv == 0) {
		ASSERT_TRUE(eventually(synced, NULL, 5000));
		ASSERT_EQ(atomic_load(&synced_rv), 0);
	}
	// Durable now: no callback, 1.
	atomic_store(&synced_rv, -1);
	ASSERT_EQ(tasq_journal_wait(j, lsn, synced_cb, NULL), 1);
	ASSERT_EQ(atomic_load(&synced_rv), -1);
	tasq_journal_close(j);
	rm_tmpdir();
}

// Appends a record of n bytes (its payload all c); returns its lsn.
static uint64_t
append_n(tasq_journal *j, size_t n, char c)
{
	static char  *buf;
	static size_t cap;
	struct iovec  iov;
	uint64_t      lsn = 0;

	if (n > cap) {
		free(buf);
		ASSERT_NOT_NULL(buf = malloc(n));
		cap = n;
	}
	memset(buf, c, n);
	iov.iov_base = buf;
	iov.iov_len  = n;
	// Not SUBMIT: those wait for the reserve (see the reserve tests).
	ASSERT_OK(tasq_journal_append(j, TASQ_REC_RESULTS, &iov, 1, &lsn));
	return (lsn);
}

#define BIG (4u << 20)
#define SMALL 100u
#define FRAMED(n) (8u + 1u + (n)) // length, CRC, type, payload

// The lsn of a record is the journal position after it, also when it is
// appended while the writer is busy writing earlier records (the server
// holds a reply until tasq_journal_wait says that lsn is durable).
TEST(lsn_is_the_position_after_the_record)
{
	tasq_journal_conf c = conf_of(false);
	tasq_journal     *j;
	struct seen       s;
	uint64_t          want = 0;

	make_tmpdir();
	j = open_start(&c, &s);
	for (int round = 0; round < 10; round++) {
		// A big record keeps the writer busy for a while; small ones
		// arrive meanwhile.
		want += FRAMED(BIG);
		ASSERT_EQ(append_n(j, BIG, 'b'), want);
		for (int k = 0; k < 200; k++) {
			want += FRAMED(SMALL);
			ASSERT_EQ(append_n(j, SMALL, 's'), want);
			if (k % 20 == 0) {
				nng_msleep(1);
			}
		}
	}
	tasq_journal_close(j);
	ASSERT_EQ(file_size(JOURNAL0), HDR_LEN + (long long) want);
	rm_tmpdir();
}

// What a wait callback saw: the record's real end and the file's size.
struct durable_check {
	uint64_t  end;  // journal position after the record
	long long size; // the file's size when the callback ran
	int       rv;
};

static void
durable_check_cb(void *arg, int rv)
{
	struct durable_check *d = arg;
	struct stat           st;

	d->size =
	    stat(path_of(JOURNAL0), &st) == 0 ? (long long) st.st_size : -1;
	d->rv = rv;
}

// tasq_journal_wait's callback (the server's reply to a Submit or a
// Complete under --fsync always) runs only once the record is in the
// file (and synced), never while it still waits in memory.
TEST(wait_callback_only_after_the_record_is_written)
{
	tasq_journal_conf           c = conf_of(false);
	tasq_journal               *j;
	struct seen                 s;
	static struct durable_check d[2000];
	int                         nd  = 0;
	uint64_t                    end = 0, lsn;

	make_tmpdir();
	j = open_start(&c, &s);
	for (int round = 0; round < 10; round++) {
		end += FRAMED(BIG);
		(void) append_n(j, BIG, 'b');
		for (int k = 0; k < 200; k++) {
			end += FRAMED(SMALL);
			lsn        = append_n(j, SMALL, 's');
			d[nd].end  = end;
			d[nd].size = -2;
			d[nd].rv   = -1;
			if (tasq_journal_wait(
			        j, lsn, durable_check_cb, &d[nd]) == 1) {
				// Said durable already: it must be in the
				// file.
				d[nd].size = file_size(JOURNAL0);
				d[nd].rv   = 0;
			}
			nd++;
			if (k % 20 == 0) {
				nng_msleep(1);
			}
		}
	}
	tasq_journal_close(j); // every callback has run
	for (int i = 0; i < nd; i++) {
		ASSERT_EQ(d[i].rv, 0);
		// The record was in the file when its wait was answered.
		ASSERT_GE(d[i].size, HDR_LEN + (long long) d[i].end);
	}
	rm_tmpdir();
}

TEST(torn_tail_is_truncated_on_recover)
{
	tasq_journal_conf c = conf_of(false);
	tasq_journal     *j;
	struct seen       s;
	long long         offs[8], full;

	make_tmpdir();
	j = open_start(&c, &s);
	append_str(j, TASQ_REC_SUBMIT, "one");
	append_str(j, TASQ_REC_SUBMIT, "two");
	append_str(j, TASQ_REC_SUBMIT, "three, torn by the crash");
	tasq_journal_close(j);
	ASSERT_EQ(record_offsets(JOURNAL0, offs, 8), 3);
	full = file_size(JOURNAL0);
	cut_file(JOURNAL0, offs[2] + (full - offs[2]) / 2);

	j = open_start(&c, &s);
	ASSERT_EQ(s.n, 2);
	expect_rec(&s, 0, TASQ_REC_SUBMIT, "one");
	expect_rec(&s, 1, TASQ_REC_SUBMIT, "two");
	// Cut where the torn record began, so that new records follow the
	// last good one directly.
	ASSERT_EQ(file_size(JOURNAL0), offs[2]);
	append_str(j, TASQ_REC_ACK, "after the cut");
	tasq_journal_close(j);
	tasq_journal_close(open_start(&c, &s));
	ASSERT_EQ(s.n, 3);
	expect_rec(&s, 2, TASQ_REC_ACK, "after the cut");
	rm_tmpdir();
}

TEST(torn_header_of_last_record_is_truncated)
{
	tasq_journal_conf c = conf_of(false);
	tasq_journal     *j;
	struct seen       s;
	long long         offs[8];

	make_tmpdir();
	j = open_start(&c, &s);
	append_str(j, TASQ_REC_SUBMIT, "kept");
	append_str(j, TASQ_REC_SUBMIT, "lost");
	tasq_journal_close(j);
	ASSERT_EQ(record_offsets(JOURNAL0, offs, 8), 2);
	cut_file(JOURNAL0, offs[1] + 5); // inside the record's header
	tasq_journal_close(open_start(&c, &s));
	ASSERT_EQ(s.n, 1);
	ASSERT_EQ(file_size(JOURNAL0), offs[1]);
	rm_tmpdir();
}

static void
write_three(long long *offs)
{
	tasq_journal_conf c = conf_of(false);
	tasq_journal     *j;
	struct seen       s;

	j = open_start(&c, &s);
	append_str(j, TASQ_REC_SUBMIT, "before the damage");
	append_str(j, TASQ_REC_SUBMIT, "damaged in the middle");
	append_str(j, TASQ_REC_SUBMIT, "after the damage");
	tasq_journal_close(j);
	ASSERT_EQ(record_offsets(JOURNAL0, offs, 8), 3);
}

TEST(corrupt_middle_record_stops_recovery)
{
	tasq_journal_conf c = conf_of(false);
	tasq_journal     *j;
	struct seen       s;
	long long         offs[8], size;
	char              err[1024], want[64];

	make_tmpdir();
	write_three(offs);
	size = file_size(JOURNAL0);
	flip_byte(JOURNAL0, offs[1] + 12);
	ASSERT_RV(open_recover(&j, &c, &s, err, sizeof(err)), TASQ_EDATA_LOSS);
	tasq_journal_close(j);
	// The message names the file and the offset, and the way out.
	ASSERT_STR_CONTAINS(err, path_of(JOURNAL0));
	snprintf(want, sizeof(want), "offset %lld", offs[1]);
	ASSERT_STR_CONTAINS(err, want);
	ASSERT_STR_CONTAINS(err, "--recover-truncate");
	// Nothing was changed on disk.
	ASSERT_EQ(file_size(JOURNAL0), size);
	rm_tmpdir();
}

TEST(corrupt_length_in_middle_stops_recovery)
{
	tasq_journal_conf c = conf_of(false);
	tasq_journal     *j;
	struct seen       s;
	long long         offs[8];
	char              err[1024], want[64];

	make_tmpdir();
	write_three(offs);
	// A length that points past the end, with records after it: not a
	// torn write.
	flip_byte(JOURNAL0, offs[1]);
	ASSERT_RV(open_recover(&j, &c, &s, err, sizeof(err)), TASQ_EDATA_LOSS);
	tasq_journal_close(j);
	snprintf(want, sizeof(want), "offset %lld", offs[1]);
	ASSERT_STR_CONTAINS(err, want);
	rm_tmpdir();
}

TEST(corrupt_middle_with_truncate_keeps_records_before)
{
	tasq_journal_conf c = conf_of(true);
	tasq_journal     *j;
	struct seen       s;
	long long         offs[8];

	make_tmpdir();
	write_three(offs);
	flip_byte(JOURNAL0, offs[1] + 12);
	j = open_start(&c, &s);
	ASSERT_EQ(s.n, 1);
	expect_rec(&s, 0, TASQ_REC_SUBMIT, "before the damage");
	ASSERT_EQ(file_size(JOURNAL0), offs[1]);
	append_str(j, TASQ_REC_CLOSE, "new");
	tasq_journal_close(j);
	// The next start needs no flag.
	c = conf_of(false);
	tasq_journal_close(open_start(&c, &s));
	ASSERT_EQ(s.n, 2);
	expect_rec(&s, 1, TASQ_REC_CLOSE, "new");
	rm_tmpdir();
}

TEST(empty_journal_file_is_an_empty_journal)
{
	tasq_journal_conf c = conf_of(false);
	tasq_journal     *j;
	struct seen       s;

	make_tmpdir();
	write_bytes(JOURNAL0, "", 0);
	j = open_start(&c, &s);
	ASSERT_EQ(s.n, 0);
	append_str(j, TASQ_REC_SUBMIT, "first");
	tasq_journal_close(j);
	ASSERT_GT(file_size(JOURNAL0), HDR_LEN);
	tasq_journal_close(open_start(&c, &s));
	ASSERT_EQ(s.n, 1);
	// A half-written header (a crash right after creating the file).
	write_bytes(JOURNAL0, "TQJOUR", 6);
	tasq_journal_close(open_start(&c, &s));
	ASSERT_EQ(s.n, 0);
	// A header and no records.
	write_file(JOURNAL0, "TQJOURN1", 0, NULL, 0);
	tasq_journal_close(open_start(&c, &s));
	ASSERT_EQ(s.n, 0);
	rm_tmpdir();
}

TEST(bad_header_is_refused)
{
	tasq_journal_conf c = conf_of(false);
	tasq_journal     *j;
	struct seen       s;
	char              err[1024];

	make_tmpdir();
	// journal-0 claiming to be generation 5.
	write_file(JOURNAL0, "TQJOURN1", 5, NULL, 0);
	ASSERT_RV(open_recover(&j, &c, &s, err, sizeof(err)), TASQ_EDATA_LOSS);
	tasq_journal_close(j);
	ASSERT_STR_CONTAINS(err, path_of(JOURNAL0));
	rm_tmpdir();
}

// ---- compaction -----------------------------------------------------------

TEST(rotate_replays_snapshot_then_later_records)
{
	tasq_journal_conf  c = conf_of(false);
	tasq_journal      *j;
	struct seen        s;
	tasq_journal_stats st;
	uint8_t           *snap = NULL;
	size_t             len = 0, cap = 0;

	make_tmpdir();
	j = open_start(&c, &s);
	append_str(j, TASQ_REC_SUBMIT, "old 1");
	append_str(j, TASQ_REC_RESULTS, "old 2");
	frame_str(&snap, &len, &cap, TASQ_REC_IVALS, "state a");
	frame_str(&snap, &len, &cap, TASQ_REC_CHUNK, "state b");
	ASSERT_OK(tasq_journal_rotate(j, snap, len)); // takes snap
	append_str(j, TASQ_REC_ACK, "new 1");
	append_str(j, TASQ_REC_CLOSE, "new 2");
	tasq_journal_close(j);

	ASSERT_TRUE(exists(SNAP1));
	ASSERT_TRUE(exists(JOURNAL1));
	ASSERT_FALSE(exists(JOURNAL0));
	j = open_start(&c, &s);
	ASSERT_EQ(s.n, 4);
	expect_rec(&s, 0, TASQ_REC_IVALS, "state a");
	expect_rec(&s, 1, TASQ_REC_CHUNK, "state b");
	expect_rec(&s, 2, TASQ_REC_ACK, "new 1");
	expect_rec(&s, 3, TASQ_REC_CLOSE, "new 2");
	tasq_journal_get_stats(j, &st);
	ASSERT_EQ(st.generation, 1);

	// Once more: generation 2, and generation 1 goes.
	snap = NULL, len = 0, cap = 0;
	frame_str(&snap, &len, &cap, TASQ_REC_IVALS, "state c");
	ASSERT_OK(tasq_journal_rotate(j, snap, len));
	append_str(j, TASQ_REC_SUBMIT, "newer");
	tasq_journal_close(j);
	ASSERT_FALSE(exists(SNAP1));
	ASSERT_FALSE(exists(JOURNAL1));
	ASSERT_TRUE(exists(SNAP2));
	ASSERT_TRUE(exists(JOURNAL2));
	j = open_start(&c, &s);
	ASSERT_EQ(s.n, 2);
	expect_rec(&s, 0, TASQ_REC_IVALS, "state c");
	expect_rec(&s, 1, TASQ_REC_SUBMIT, "newer");
	tasq_journal_get_stats(j, &st);
	ASSERT_EQ(st.generation, 2);
	tasq_journal_close(j);
	rm_tmpdir();
}

TEST(rotate_with_nothing_pending)
{
	tasq_journal_conf c = conf_of(false);
	tasq_journal     *j;
	struct seen       s;
	uint8_t          *snap = NULL;
	size_t            len = 0, cap = 0;
	uint64_t          lsn;

	make_tmpdir();
	j   = open_start(&c, &s);
	lsn = append_str(j, TASQ_REC_SUBMIT, "written before");
	atomic_store(&synced_rv, -1);
	if (tasq_journal_wait(j, lsn, synced_cb, NULL) == 0) {
		ASSERT_TRUE(eventually(synced, NULL, 5000));
	}
	frame_str(&snap, &len, &cap, TASQ_REC_IVALS, "the state");
	ASSERT_OK(tasq_journal_rotate(j, snap, len));
	tasq_journal_close(j);
	tasq_journal_close(open_start(&c, &s));
	ASSERT_EQ(s.n, 1);
	expect_rec(&s, 0, TASQ_REC_IVALS, "the state");
	rm_tmpdir();
}

TEST(leftovers_of_a_crash_during_compaction)
{
	tasq_journal_conf c = conf_of(false);
	struct seen       s;
	uint8_t          *r0 = NULL, *r1 = NULL, *rs = NULL;
	size_t            l0 = 0, c0 = 0, l1 = 0, c1 = 0, ls = 0, cs = 0;

	make_tmpdir();
	// The crash came after snapshot 1 was renamed into place but
	// before journal 0 was removed; snapshot 2 was being written.
	frame_str(&r0, &l0, &c0, TASQ_REC_SUBMIT, "compacted away");
	frame_str(&rs, &ls, &cs, TASQ_REC_IVALS, "snapshot 1");
	frame_str(&r1, &l1, &c1, TASQ_REC_ACK, "journal 1");
	write_file(JOURNAL0, "TQJOURN1", 0, r0, l0);
	write_file(SNAP1, "TQSNAPS1", 1, rs, ls);
	write_file(JOURNAL1, "TQJOURN1", 1, r1, l1);
	write_file(SNAP2 ".tmp", "TQSNAPS1", 2, r0, l0 / 2);
	tasq_journal_close(open_start(&c, &s));
	ASSERT_EQ(s.n, 2);
	expect_rec(&s, 0, TASQ_REC_IVALS, "snapshot 1");
	expect_rec(&s, 1, TASQ_REC_ACK, "journal 1");
	ASSERT_FALSE(exists(JOURNAL0));
	ASSERT_FALSE(exists(SNAP2 ".tmp"));
	free(r0);
	free(r1);
	free(rs);
	rm_tmpdir();
}

TEST(second_open_of_a_directory_fails)
{
	tasq_journal_conf c = conf_of(false);
	tasq_journal     *j, *j2 = NULL;
	struct seen       s;
	char              err[512];

	make_tmpdir();
	j = open_start(&c, &s);
	ASSERT_RV(tasq_journal_open(&j2, &c, err, sizeof(err)),
	    TASQ_EFAILED_PRECONDITION);
	ASSERT_NULL(j2);
	ASSERT_STR_CONTAINS(err, tmpdir);
	ASSERT_STR_CONTAINS(err, "in use");
	tasq_journal_close(j);
	// Free again once the first is closed.
	ASSERT_OK(tasq_journal_open(&j2, &c, err, sizeof(err)));
	tasq_journal_close(j2);
	rm_tmpdir();
}

// ---- write failures
// ---------------------------------------------------------

static bool
failing(void *arg)
{
	return (tasq_journal_error(arg) != 0);
}

static bool
healthy(void *arg)
{
	return (tasq_journal_error(arg) == 0 && synced(NULL));
}

// Limits the size of files this process writes to bytes (writes past it
// fail with EFBIG, and SIGXFSZ is ignored); returns the old limit.
static struct rlimit
limit_file_size(rlim_t bytes)
{
	struct rlimit old, lim;

	signal(SIGXFSZ, SIG_IGN);
	ASSERT_OK(getrlimit(RLIMIT_FSIZE, &old));
	lim          = old;
	lim.rlim_cur = bytes;
	ASSERT_OK(setrlimit(RLIMIT_FSIZE, &lim));
	return (old);
}

TEST(write_failure_refuses_work_then_recovers)
{
	tasq_journal_conf c = conf_of(false);
	tasq_journal     *j;
	struct seen       s;
	struct rlimit     old;
	struct iovec      iov = { "refused", 7 };
	char              big[100];
	uint64_t          lsn;

	make_tmpdir();
	j   = open_start(&c, &s);
	lsn = append_str(j, TASQ_REC_SUBMIT, "durable");
	atomic_store(&synced_rv, -1);
	if (tasq_journal_wait(j, lsn, synced_cb, NULL) == 0) {
		ASSERT_TRUE(eventually(synced, NULL, 5000));
	}
	// The next record can only be written in part.
	old = limit_file_size((rlim_t) file_size(JOURNAL0) + 30);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	lsn                  = append_str(j, TASQ_REC_SUBMIT, big);
	ASSERT_TRUE(eventually(failing, j, 5000));
	ASSERT_EQ(tasq_journal_error(j), TASQ_EUNAVAILABLE);
	ASSERT_RV(tasq_journal_append(j, TASQ_REC_SUBMIT, &iov, 1, &lsn),
	    TASQ_EUNAVAILABLE);
	// A compaction is a way out (its snapshot goes to the reserve).
	ASSERT_TRUE(tasq_journal_needs_compact(j));
	// A caller waiting for the record hears nothing until it is durable.
	atomic_store(&synced_rv, -1);
	ASSERT_EQ(tasq_journal_wait(j, lsn, synced_cb, NULL), 0);
	nng_msleep(50);
	ASSERT_EQ(atomic_load(&synced_rv), -1);
	// Room again: the writer retries by itself (about once a second).
	ASSERT_OK(setrlimit(RLIMIT_FSIZE, &old));
	ASSERT_TRUE(eventually(healthy, j, 10000));
	ASSERT_EQ(atomic_load(&synced_rv), 0);
	append_str(j, TASQ_REC_CLOSE, "after");
	tasq_journal_close(j);
	// Every record once: the part written before the failure was not
	// written again.
	tasq_journal_close(open_start(&c, &s));
	ASSERT_EQ(s.n, 3);
	expect_rec(&s, 0, TASQ_REC_SUBMIT, "durable");
	expect_rec(&s, 1, TASQ_REC_SUBMIT, big);
	expect_rec(&s, 2, TASQ_REC_CLOSE, "after");
	rm_tmpdir();
}

struct closer {
	tasq_journal *j;
	atomic_bool   done;
};

static void *
close_thread(void *arg)
{
	struct closer *cl = arg;
	tasq_journal_close(cl->j);
	atomic_store(&cl->done, true);
	return (NULL);
}

static bool
closed(void *arg)
{
	return (atomic_load(&((struct closer *) arg)->done));
}

// tasq_journal_close says it stops the writer and tells anyone still
// waiting; a server must be able to stop (SIGTERM) while its disk is full.
TEST(close_returns_while_writes_fail)
{
	tasq_journal_conf c = conf_of(false);
	struct seen       s;
	struct closer     cl;
	pthread_t         t;
	uint64_t          lsn;

	make_tmpdir();
	cl.j = open_start(&c, &s);
	atomic_init(&cl.done, false);
	limit_file_size((rlim_t) file_size(JOURNAL0));
	lsn = append_str(cl.j, TASQ_REC_SUBMIT, "cannot be written");
	ASSERT_TRUE(eventually(failing, cl.j, 5000));
	atomic_store(&synced_rv, -1);
	ASSERT_EQ(tasq_journal_wait(cl.j, lsn, synced_cb, NULL), 0);
	ASSERT_OK(pthread_create(&t, NULL, close_thread, &cl));
	if (!eventually(closed, &cl, 3000)) {
		FAIL("tasq_journal_close has not returned after 3 s: the "
		     "writer retries its failed write for ever while closing");
	}
	pthread_join(t, NULL);
	ASSERT_EQ(atomic_load(&synced_rv), TASQ_EUNAVAILABLE);
	rm_tmpdir();
}

// ---- injected I/O errors ---------------------------------------------------

// A rule of the fault hook: the next `times` calls of op on a path that
// contains `part` fail with err.
struct fault_rule {
	tasq_journal_op op;
	const char     *part;
	int             err;
	atomic_int      times;
};

static struct fault_rule rules[4];
static atomic_int        nrules;
static atomic_int        faults_hit;
static atomic_bool       hold_writes; // journal writes wait while set
static atomic_int        writes_held;

static int
fault_cb(tasq_journal_op op, const char *path)
{
	if (op == TASQ_JOURNAL_OP_WRITE && strstr(path, "journal-") != NULL) {
		// Bounded: a test that forgets to let go fails, not hangs.
		for (int i = 0; i < 2000 && atomic_load(&hold_writes); i++) {
			atomic_store(&writes_held, 1);
			nng_msleep(5);
		}
	}
	for (int i = 0; i < atomic_load(&nrules); i++) {
		struct fault_rule *r = &rules[i];
		// The directory (tmpdir) by its whole name, files by a part.
		bool match = r->part == tmpdir ? strcmp(path, tmpdir) == 0
		                               : strstr(path, r->part) != NULL;
		if (r->op == op && match &&
		    atomic_fetch_sub(&r->times, 1) > 0) {
			atomic_fetch_add(&faults_hit, 1);
			return (r->err);
		}
	}
	return (0);
}

static void
fault_add(tasq_journal_op op, const char *part, int err, int times)
{
	int i = atomic_load(&nrules);

	ASSERT_LT(i, 4);
	rules[i].op   = op;
	rules[i].part = part;
	rules[i].err  = err;
	atomic_store(&rules[i].times, times);
	atomic_store(&nrules, i + 1);
	tasq_journal_set_fault(fault_cb);
}

static void
fault_clear(void)
{
	atomic_store(&nrules, 0);
	atomic_store(&faults_hit, 0);
	atomic_store(&hold_writes, false);
	atomic_store(&writes_held, 0);
	tasq_journal_set_fault(NULL);
}

static bool
faults_were_hit(void *arg)
{
	return (atomic_load(&faults_hit) >= *(int *) arg);
}

// After a failed fsync the kernel may have dropped the dirty pages
// ("fsyncgate"): syncing again and succeeding proves nothing. The journal
// fails closed: the waiter is told, nothing appended before or after is
// ever acknowledged, new records are refused, and no compaction starts,
// even once the disk works again.
static void
io_error_fails_closed(tasq_journal_op op, int err)
{
	tasq_journal_conf c = conf_of(false);
	tasq_journal     *j;
	struct seen       s;
	struct iovec      iov = { "refused", 7 };
	uint64_t          lsn, lsn2;
	uint8_t          *snap = NULL;
	size_t            len = 0, cap = 0;
	int               one = 1, rv;

	make_tmpdir();
	j = open_start(&c, &s);
	fault_add(op, "journal-", err, 1);
	lsn = append_str(j, TASQ_REC_SUBMIT, "never acknowledged");
	atomic_store(&synced_rv, -1);
	// The wait fails at once if the writer failed first, else later.
	if ((rv = tasq_journal_wait(j, lsn, synced_cb, NULL)) == 0) {
		ASSERT_TRUE(eventually(synced, NULL, 5000));
		rv = atomic_load(&synced_rv);
	}
	ASSERT_TRUE(faults_were_hit(&one));
	ASSERT_NE(rv, 0);
	ASSERT_NE(rv, 1);
	fault_clear(); // the disk works again: it must not matter
	ASSERT_EQ(tasq_journal_error(j), TASQ_EUNAVAILABLE);
	// Not acknowledged later either: a wait fails at once.
	atomic_store(&synced_rv, -1);
	ASSERT_RV(
	    tasq_journal_wait(j, lsn, synced_cb, NULL), TASQ_EUNAVAILABLE);
	ASSERT_RV(tasq_journal_append(j, TASQ_REC_SUBMIT, &iov, 1, &lsn2),
	    TASQ_EUNAVAILABLE);
	ASSERT_FALSE(tasq_journal_needs_compact(j));
	frame_str(&snap, &len, &cap, TASQ_REC_IVALS, "state");
	ASSERT_RV(
	    tasq_journal_rotate(j, snap, len), TASQ_EFAILED_PRECONDITION);
	nng_msleep(1200); // longer than the writer's retry interval
	ASSERT_EQ(tasq_journal_error(j), TASQ_EUNAVAILABLE);
	ASSERT_EQ(atomic_load(&synced_rv), -1);
	tasq_journal_close(j);
	ASSERT_EQ(atomic_load(&synced_rv), -1);
	rm_tmpdir();
}

TEST(fsync_eio_fails_closed)
{
	io_error_fails_closed(TASQ_JOURNAL_OP_SYNC, EIO);
}

TEST(fsync_enospc_fails_closed)
{
	io_error_fails_closed(TASQ_JOURNAL_OP_SYNC, ENOSPC);
}

TEST(write_eio_fails_closed)
{
	io_error_fails_closed(TASQ_JOURNAL_OP_WRITE, EIO);
}

// --fsync batch and never: a wait completes once the record is written
// (a killed process leaves the page cache, so nothing acknowledged is
// lost to a process crash), never while it is only in memory.
static void
wait_until_written(tasq_fsync_mode mode)
{
	tasq_journal_conf    c = conf_of(false);
	tasq_journal        *j;
	struct seen          s;
	struct durable_check d = { .size = -2, .rv = -1 };
	uint64_t             lsn;
	int                  rv;

	make_tmpdir();
	c.mode     = mode;
	c.batch_ms = 60000; // no sync during the test
	j          = open_start(&c, &s);
	atomic_store(&hold_writes, true);
	tasq_journal_set_fault(fault_cb);
	lsn   = append_str(j, TASQ_REC_SUBMIT, "written before the reply");
	d.end = lsn;
	rv    = tasq_journal_wait(j, lsn, durable_check_cb, &d);
	if (rv == 1) {
		FAIL("tasq_journal_wait said a record that is only in memory "
		     "is done (its reply would go out before write(2))");
	}
	ASSERT_EQ(rv, 0);
	nng_msleep(20);
	ASSERT_EQ(d.rv, -1); // still held
	atomic_store(&hold_writes, false);
	tasq_journal_close(j);
	fault_clear();
	ASSERT_EQ(d.rv, 0);
	ASSERT_GE(d.size, HDR_LEN + (long long) d.end);
	rm_tmpdir();
}

TEST(batch_wait_completes_once_written)
{
	wait_until_written(TASQ_FSYNC_BATCH);
}

TEST(never_wait_completes_once_written)
{
	wait_until_written(TASQ_FSYNC_NEVER);
}

// A compaction whose new journal cannot be started and whose snapshot
// cannot then be removed goes on in the old journal; recovery must not
// prefer the orphaned snapshot and delete the journal that holds the
// records after it.
static void
compaction_cleanup_fails(void (*arm)(void))
{
	tasq_journal_conf c = conf_of(false);
	tasq_journal     *j;
	struct seen       s;
	uint8_t          *snap = NULL;
	size_t            len = 0, cap = 0;
	uint64_t          lsn;
	int               rv;

	make_tmpdir();
	j = open_start(&c, &s);
	append_str(j, TASQ_REC_SUBMIT, "old");
	arm();
	frame_str(&snap, &len, &cap, TASQ_REC_IVALS, "state");
	ASSERT_OK(tasq_journal_rotate(j, snap, len));
	append_str(j, TASQ_REC_ACK, "after 1");
	lsn = append_str(j, TASQ_REC_CLOSE, "after 2");
	atomic_store(&synced_rv, -1);
	// 1: acknowledged (at once, or by the callback).
	if ((rv = tasq_journal_wait(j, lsn, synced_cb, NULL)) == 0) {
		ASSERT_TRUE(eventually(synced, NULL, 5000));
		rv =
		    atomic_load(&synced_rv) == 0 ? 1 : atomic_load(&synced_rv);
	}
	tasq_journal_close(j);
	fault_clear();
	if (rv != 1) {
		rm_tmpdir();
		return; // failed closed: nothing after was acknowledged
	}
	// Acknowledged: it must come back.
	j = open_start(&c, &s);
	tasq_journal_close(j);
	ASSERT_GE(s.n, 2);
	expect_rec(&s, s.n - 2, TASQ_REC_ACK, "after 1");
	expect_rec(&s, s.n - 1, TASQ_REC_CLOSE, "after 2");
	rm_tmpdir();
}

static void
arm_open_and_unlink(void)
{
	fault_add(
	    TASQ_JOURNAL_OP_OPEN, "journal-0000000000000001", ENOSPC, 100);
	fault_add(
	    TASQ_JOURNAL_OP_UNLINK, "snapshot-0000000000000001", EIO, 100);
}

static void
arm_dir_sync(void)
{
	fault_add(TASQ_JOURNAL_OP_SYNC, tmpdir, EIO, 1);
}

static void
arm_journal_rename(void)
{
	fault_add(
	    TASQ_JOURNAL_OP_RENAME, "journal-0000000000000001", EIO, 100);
	fault_add(
	    TASQ_JOURNAL_OP_OPEN, "journal-0000000000000001", ENOSPC, 100);
	fault_add(
	    TASQ_JOURNAL_OP_UNLINK, "snapshot-0000000000000001", EIO, 100);
}

TEST(compaction_new_journal_and_unlink_fail)
{
	compaction_cleanup_fails(arm_open_and_unlink);
}

TEST(compaction_directory_sync_fails)
{
	compaction_cleanup_fails(arm_dir_sync);
}

TEST(compaction_journal_rename_fails)
{
	compaction_cleanup_fails(arm_journal_rename);
}

// Recovery cuts a torn tail durably: if the cut could not be synced, a
// crash could bring the torn bytes back in front of newer records.
TEST(torn_tail_cut_is_synced)
{
	tasq_journal_conf c = conf_of(false);
	tasq_journal     *j;
	struct seen       s;
	long long         offs[8];
	char              err[1024];
	int               one = 1;

	make_tmpdir();
	j = open_start(&c, &s);
	append_str(j, TASQ_REC_SUBMIT, "kept");
	append_str(j, TASQ_REC_SUBMIT, "torn");
	tasq_journal_close(j);
	ASSERT_EQ(record_offsets(JOURNAL0, offs, 8), 2);
	cut_file(JOURNAL0, offs[1] + 12);
	fault_add(TASQ_JOURNAL_OP_SYNC, "journal-", EIO, 1);
	ASSERT_RV(open_recover(&j, &c, &s, err, sizeof(err)), TASQ_EDATA_LOSS);
	tasq_journal_close(j);
	ASSERT_TRUE(faults_were_hit(&one));
	fault_clear();
	ASSERT_STR_CONTAINS(err, "cannot truncate");
	tasq_journal_close(open_start(&c, &s));
	ASSERT_EQ(s.n, 1);
	ASSERT_EQ(file_size(JOURNAL0), offs[1]);
	rm_tmpdir();
}

// ---- the reserve
// -------------------------------------------------------------

static tasq_journal *res_j;
static struct iovec  res_iov;

static bool
submit_taken(void *arg)
{
	uint64_t lsn;

	(void) arg;
	return (tasq_journal_append(
	            res_j, TASQ_REC_SUBMIT, &res_iov, 1, &lsn) == 0);
}

// New tasks (SUBMIT) are taken only while the reserve file has room for
// a snapshot with them, or there was room to grow it (the writer grows it
// before it writes them). While the reserve cannot grow (no room), only
// SUBMIT is refused (RESOURCE_EXHAUSTED, the client retries), and a
// compaction is asked for; once it can, SUBMIT is taken again.
TEST(reserve_grows_before_new_tasks_are_taken)
{
	tasq_journal_conf  c = conf_of(false);
	struct seen        s;
	tasq_journal_stats st = { 0 };
	static char        big[1 << 20];
	struct stat        sb;
	int                one = 1;
	uint64_t           lsn;

	make_tmpdir();
	res_j = open_start(&c, &s);
	ASSERT_OK(stat(path_of("reserve"), &sb));
	ASSERT_GE(sb.st_size, TASQ_JOURNAL_RESERVE_MIN);
	memset(big, 'v', sizeof(big));
	res_iov.iov_base = big;
	res_iov.iov_len  = sizeof(big);
	ASSERT_OK(tasq_journal_append(res_j, TASQ_REC_SUBMIT, &res_iov, 1,
	    &lsn)); // more than the reserve covers, but there is room
	atomic_store(&synced_rv, -1);
	if (tasq_journal_wait(res_j, lsn, synced_cb, NULL) == 0) {
		ASSERT_TRUE(eventually(synced, NULL, 5000));
	}
	ASSERT_OK(stat(path_of("reserve"), &sb));
	ASSERT_GE(sb.st_size, (long long) (sizeof(big) + sizeof(big) / 8));
	// No room to grow any more: SUBMIT refused, other records taken.
	fault_add(TASQ_JOURNAL_OP_ALLOC, "reserve", ENOSPC, 1000000);
	for (int i = 0; i < 4 && !st.low_space; i++) {
		(void) submit_taken(NULL);
		(void) eventually(faults_were_hit, &one, 1000);
		nng_msleep(20);
		tasq_journal_get_stats(res_j, &st);
	}
	ASSERT_TRUE(st.low_space);
	ASSERT_FALSE(submit_taken(NULL));
	(void) append_n(res_j, 1 << 20, 'r'); // results: taken
	ASSERT_TRUE(tasq_journal_needs_compact(res_j));
	// Room again: taken again.
	fault_clear();
	ASSERT_TRUE(eventually(submit_taken, NULL, 5000));
	tasq_journal_get_stats(res_j, &st);
	ASSERT_FALSE(st.low_space);
	tasq_journal_close(res_j);
	rm_tmpdir();
}

// A compaction writes its snapshot into the reserve's blocks, and makes a
// new reserve once the old generation is gone.
TEST(compaction_uses_the_reserve)
{
	tasq_journal_conf c = conf_of(false);
	struct seen       s;
	uint8_t          *snap = NULL;
	size_t            len = 0, cap = 0;
	struct stat       sb;
	ino_t             ino;

	make_tmpdir();
	res_j = open_start(&c, &s);
	append_str(res_j, TASQ_REC_SUBMIT, "old");
	ASSERT_OK(stat(path_of("reserve"), &sb));
	ino = sb.st_ino;
	frame_str(&snap, &len, &cap, TASQ_REC_IVALS, "state");
	ASSERT_OK(tasq_journal_rotate(res_j, snap, len));
	append_str(res_j, TASQ_REC_ACK, "new");
	tasq_journal_close(res_j);
	ASSERT_OK(stat(path_of(SNAP1), &sb));
	ASSERT_EQ(sb.st_ino, ino); // the reserve's file, renamed
	ASSERT_EQ(sb.st_size, HDR_LEN + (long long) len);
	ASSERT_OK(stat(path_of("reserve"), &sb));
	ASSERT_NE(sb.st_ino, ino);
	ASSERT_GE(sb.st_size, TASQ_JOURNAL_RESERVE_MIN);
	tasq_journal_close(open_start(&c, &s));
	ASSERT_EQ(s.n, 2);
	expect_rec(&s, 0, TASQ_REC_IVALS, "state");
	expect_rec(&s, 1, TASQ_REC_ACK, "new");
	rm_tmpdir();
}

// ---- the broker on a journal ----------------------------------------------

#define QA "alpha"
#define QB "beta"
#define JOB_A 101 // 100 tasks on QA, in batches of 40, 40, 20
#define JOB_B 202 // 30 tasks on QA
#define JOB_C 303 // 10 tasks on QB, closed
#define WORKER 7

static uint64_t now0;

static void
wake_cb(tasq_waiter *w)
{
	(void) w;
}

static tasq_broker *
broker_new(void)
{
	tasq_broker_conf bc = {
		.max_tasks    = 100000,
		.max_batch    = 100,
		.max_queues   = 4,
		.max_jobs     = 16,
		.max_workers  = 4,
		.lease_ms     = 60000,
		.max_attempts = 5,
		.job_ttl_ms   = 600000,
		.max_fetch    = 50,
		.max_lease    = 50,
		.seq_base     = tasq_random64() & 0xffffffff00000000ULL,
	};
	tasq_broker *b = NULL;

	ASSERT_OK(tasq_broker_alloc(&b, &bc, wake_cb));
	return (b);
}

// A broker recovered from tmpdir's journal, which it keeps.
static tasq_broker *
broker_recovered(tasq_journal **jp, uint64_t compact_bytes, uint64_t *recs)
{
	tasq_journal_conf c = conf_of(false);
	tasq_broker      *b = broker_new();
	uint64_t          bytes;
	char              err[512];

	c.compact_bytes = compact_bytes;
	ASSERT_OK(tasq_journal_open(jp, &c, err, sizeof(err)));
	ASSERT_OK(tasq_broker_recover(b, *jp, err, sizeof(err), recs, &bytes));
	ASSERT_OK(tasq_journal_start(*jp, err, sizeof(err)));
	return (b);
}

static int64_t
value_of(uint64_t job, uint64_t id)
{
	return ((int64_t) (job * 1000 + id) * (id % 2 ? -1 : 1));
}

static void
submit(tasq_broker *b, const char *q, uint64_t job, uint64_t first, size_t n)
{
	int64_t     v[100];
	uint32_t    acc;
	bool        dup;
	const char *why;

	ASSERT_LE(n, 100);
	for (size_t i = 0; i < n; i++) {
		v[i] = value_of(job, first + i);
	}
	ASSERT_OK(
	    test_submit_i64(b, q, job, first, n, v, now0, &acc, &dup, &why));
	ASSERT_EQ(acc, n);
	ASSERT_FALSE(dup);
}

struct task {
	uint64_t lease, job, id;
};

// Leases up to max tasks of q for WORKER into t; returns how many.
static size_t
lease(tasq_broker *b, const char *q, uint32_t max, struct task *t)
{
	tasq_lease_out o;
	bool           parked;
	size_t         n = 0;

	ASSERT_OK(tasq_broker_lease(
	    b, q, WORKER, "w", NULL, 0, 1, max, now0, &o, NULL, &parked));
	for (size_t i = 0; i < o.nbatches; i++) {
		for (size_t k = 0; k < o.batches[i].n; k++) {
			ASSERT_EQ(test_i64(&o.batches[i].payloads, k),
			    value_of(
			        o.batches[i].job_id, o.batches[i].ids[k]));
			t[n].lease = o.batches[i].lease_id;
			t[n].job   = o.batches[i].job_id;
			t[n].id    = o.batches[i].ids[k];
			n++;
		}
	}
	tasq_broker_lease_fini(&o);
	return (n);
}

// Completes t[0..n) (one lease, one job) with the squares.
static void
complete(tasq_broker *b, const struct task *t, size_t n)
{
	uint64_t          ids[64];
	int64_t           vals[64];
	tasq_result_batch rb;
	tasq_complete_rep r;

	ASSERT_LE(n, 64);
	for (size_t i = 0; i < n; i++) {
		ASSERT_EQ(t[i].lease, t[0].lease);
		ASSERT_EQ(t[i].job, t[0].job);
		ids[i] = t[i].id;
		vals[i] =
		    value_of(t[i].job, t[i].id) * value_of(t[i].job, t[i].id);
	}
	rb = test_rb(t[0].lease, t[0].job, n, ids, vals, NULL);
	ASSERT_OK(tasq_broker_complete(b, WORKER, 1, &rb, now0, &r));
	ASSERT_EQ(r.accepted, n);
}

// Fetches job (acknowledging ack) and marks what came in got[]; a result
// seen before fails the test unless redelivery is allowed (an
// unacknowledged delivery comes again). Returns the delivery's seq.
static uint64_t
fetch(tasq_broker *b, uint64_t job, uint64_t ack, int *got, size_t ngot,
    size_t *n, bool again_ok)
{
	tasq_fetch_out o;
	bool           parked;
	uint64_t       seq;

	ASSERT_OK(tasq_broker_fetch(b, job, ack, 50, now0, &o, NULL, &parked));
	for (size_t i = 0; i < o.n; i++) {
		int64_t v = value_of(job, o.ids[i]);
		ASSERT_LT(o.ids[i], ngot);
		ASSERT_EQ(test_i64(&o.results, i), v * v);
		if (!again_ok) {
			ASSERT_EQ(got[o.ids[i]], 0);
		}
		got[o.ids[i]]++;
	}
	*n  = o.n;
	seq = o.seq;
	tasq_broker_fetch_fini(&o);
	return (seq);
}

struct qstat {
	uint64_t ready, leased, results, jobs;
};

static struct qstat
qstat(tasq_broker *b, const char *q)
{
	tasq_rep     rep;
	struct qstat s = { 0, 0, 0, 0 };

	ASSERT_OK(tasq_broker_stats(b, now0, &rep));
	for (size_t i = 0; i < rep.u.stats.nqueues; i++) {
		const tasq_queue_stats *x = &rep.u.stats.queues[i];
		if (strcmp(x->name, q) == 0) {
			s.ready   = x->ready;
			s.leased  = x->leased;
			s.results = x->results;
			s.jobs    = x->jobs;
		}
	}
	tasq_broker_stats_fini(&rep);
	return (s);
}

// Where the scenario leaves things, as the client of job A saw them.
struct before {
	int      acked[100];    // results of A delivered and acknowledged
	uint64_t undone_leased; // leased tasks without a result at the crash
	struct qstat qa, qb;
};

// Compaction points of the scenario (a mask): a snapshot taken there
// holds the state so far, and the records after it go to the next
// generation.
#define AT_START 1u // after the first submissions
#define AT_ACK 2u   // after a delivery was acknowledged
#define AT_MID 4u   // with results waiting
#define AT_END 8u   // with an unacknowledged delivery and a closed job

static tasq_journal *cur_j; // the scenario's journal
static uint64_t      want_compactions;

static bool
compacted(void *arg)
{
	tasq_journal_stats st;

	(void) arg;
	tasq_journal_get_stats(cur_j, &st);
	return (st.compactions >= want_compactions);
}

// Compacts at this point if the mask says so, and waits until the
// snapshot is written (compaction runs on the journal's writer).
static void
compact_if(tasq_broker *b, unsigned mask, unsigned at)
{
	tasq_journal_stats st;

	if ((mask & at) == 0) {
		return;
	}
	tasq_journal_get_stats(cur_j, &st);
	want_compactions = st.compactions + 1;
	ASSERT_TRUE(tasq_journal_needs_compact(cur_j));
	ASSERT_OK(tasq_broker_compact(b));
	ASSERT_TRUE(eventually(compacted, NULL, 5000));
}

// Builds the state: submissions, leases, completions, one delivery
// acknowledged and one not, a closed job; compacting at the points in
// compact.
static void
scenario(tasq_broker *b, unsigned compact, struct before *bf)
{
	struct task t[64];
	size_t      n;
	uint64_t    seq;
	uint64_t    dropped;

	memset(bf, 0, sizeof(*bf));
	submit(b, QA, JOB_A, 0, 40);
	submit(b, QA, JOB_A, 40, 40);
	submit(b, QB, JOB_C, 0, 10);
	compact_if(b, compact, AT_START);
	submit(b, QA, JOB_A, 80, 20);
	// A lease of 50 of A: 30 done, acknowledged; 20 done later.
	ASSERT_EQ(lease(b, QA, 50, t), 50);
	ASSERT_EQ(t[0].id, 0);
	complete(b, t, 30);
	seq = fetch(b, JOB_A, 0, bf->acked, 100, &n, false);
	ASSERT_EQ(n, 30);
	ASSERT_NE(seq, 0);
	{
		int    again[100] = { 0 };
		size_t n2;
		// The acknowledgement; nothing new to deliver yet.
		ASSERT_EQ(fetch(b, JOB_A, seq, again, 100, &n2, false), 0);
		ASSERT_EQ(n2, 0);
	}
	compact_if(b, compact, AT_ACK);
	complete(b, t + 30, 20);
	compact_if(b, compact, AT_MID);
	// Another lease of 30: 10 done; 20 still leased at the crash.
	ASSERT_EQ(lease(b, QA, 30, t), 30);
	ASSERT_EQ(t[0].id, 50);
	// B only now: before A's leases, the rotation would have served
	// B first (a job not served yet goes first).
	submit(b, QA, JOB_B, 0, 30);
	complete(b, t, 10);
	// A delivery of those 30 results that is never acknowledged.
	{
		int    pending[100] = { 0 };
		size_t n3;
		ASSERT_NE(fetch(b, JOB_A, 0, pending, 100, &n3, false), 0);
		ASSERT_EQ(n3, 30);
		for (int i = 30; i < 60; i++) {
			ASSERT_EQ(pending[i], 1);
		}
	}
	ASSERT_OK(tasq_broker_close_job(b, JOB_C, now0, &dropped));
	ASSERT_EQ(dropped, 10);
	compact_if(b, compact, AT_END);
	bf->undone_leased = 20;
	bf->qa            = qstat(b, QA);
	bf->qb            = qstat(b, QB);
	// What the broker said before the crash ("leased" counts a lease's
	// tasks until the lease ends, done or not).
	ASSERT_EQ(bf->qa.ready, 20 + 30);
	ASSERT_EQ(bf->qa.leased, 30);
	ASSERT_EQ(bf->qa.results, 30);
	ASSERT_EQ(bf->qa.jobs, 2);
	ASSERT_EQ(bf->qb.jobs, 0);
}

// After recovery: the unacknowledged delivery comes again, acknowledged
// results never do, every unfinished task is leased and done once, and
// each job's results add up to all of its tasks exactly once.
static void
check_after(tasq_broker *b, const struct before *bf)
{
	int         a[100] = { 0 }, bres[30] = { 0 };
	struct task t[64];
	size_t      n, k;
	uint64_t    seq;

	ASSERT_EQ(qstat(b, QA).results, 30);
	ASSERT_EQ(qstat(b, QA).leased, 0);
	ASSERT_EQ(qstat(b, QA).jobs, 2);
	ASSERT_EQ(qstat(b, QB).jobs, 0);
	{
		tasq_fetch_out o;
		bool           parked;
		ASSERT_RV(tasq_broker_fetch(
		              b, JOB_C, 0, 10, now0, &o, NULL, &parked),
		    TASQ_ENOT_FOUND);
	}
	// The delivery that was not acknowledged: 30..59, and no more.
	seq = fetch(b, JOB_A, 0, a, 100, &n, false);
	ASSERT_EQ(n, 30);
	for (int i = 0; i < 100; i++) {
		ASSERT_EQ(a[i], i >= 30 && i < 60);
	}
	ASSERT_EQ(fetch(b, JOB_A, seq, a, 100, &n, false), 0);
	// Lease and complete what is left of both jobs.
	while ((n = lease(b, QA, 50, t)) > 0) {
		for (size_t i = 0; i < n; i = k) {
			for (k = i; k < n && t[k].job == t[i].job &&
			     t[k].lease == t[i].lease;
			     k++) {
			}
			complete(b, t + i, k - i);
		}
	}
	seq = 0;
	do {
		seq = fetch(b, JOB_A, seq, a, 100, &n, false);
	} while (n > 0);
	seq = 0;
	do {
		seq = fetch(b, JOB_B, seq, bres, 30, &n, false);
	} while (n > 0);
	// Exactly once over the crash: what was acknowledged before plus
	// what came after.
	for (int i = 0; i < 100; i++) {
		ASSERT_EQ(bf->acked[i] + a[i], 1);
	}
	for (int i = 0; i < 30; i++) {
		ASSERT_EQ(bres[i], 1);
	}
	ASSERT_EQ(qstat(b, QA).ready, 0);
	ASSERT_EQ(qstat(b, QA).results, 0);
}

static void
crash_and_recover(unsigned compact)
{
	tasq_journal *j;
	tasq_broker  *b;
	struct before bf;
	uint64_t      recs;

	now0 = tasq_clock_mono_ms();
	make_tmpdir();
	b     = broker_recovered(&j, compact ? 1 : 1ULL << 30, &recs);
	cur_j = j;
	ASSERT_EQ(recs, 0);
	scenario(b, compact, &bf);
	// The "crash": every record written so far is on disk (close
	// flushes), the broker's memory is gone.
	tasq_journal_close(j);
	tasq_broker_free(b);
	if (compact) {
		ASSERT_FALSE(exists(JOURNAL0));
		ASSERT_TRUE(exists(SNAP1));
		ASSERT_TRUE(exists(JOURNAL1));
	}
	b = broker_recovered(&j, 1ULL << 30, &recs);
	ASSERT_GT(recs, 0);
	check_after(b, &bf);
	tasq_journal_close(j);
	tasq_broker_free(b);
	rm_tmpdir();
}

TEST(broker_state_survives_a_restart_exactly_once)
{
	crash_and_recover(0);
}

TEST(broker_state_survives_compaction_at_start)
{
	crash_and_recover(AT_START);
}

TEST(broker_state_survives_compaction_after_an_ack)
{
	crash_and_recover(AT_ACK);
}

TEST(broker_state_survives_compaction_with_results_waiting)
{
	crash_and_recover(AT_MID);
}

TEST(broker_state_survives_compaction_at_end)
{
	crash_and_recover(AT_END);
}

// A second recovery of the same directory (no work in between) gives the
// same state again: recovery itself writes nothing that changes it.
TEST(broker_recovery_is_repeatable)
{
	tasq_journal *j;
	tasq_broker  *b;
	struct before bf;
	uint64_t      recs, recs2;

	now0 = tasq_clock_mono_ms();
	make_tmpdir();
	b     = broker_recovered(&j, 1ULL << 30, &recs);
	cur_j = j;
	scenario(b, 0, &bf);
	tasq_journal_close(j);
	tasq_broker_free(b);
	b = broker_recovered(&j, 1ULL << 30, &recs);
	tasq_journal_close(j);
	tasq_broker_free(b);
	b = broker_recovered(&j, 1ULL << 30, &recs2);
	ASSERT_EQ(recs2, recs);
	check_after(b, &bf);
	tasq_journal_close(j);
	tasq_broker_free(b);
	rm_tmpdir();
}

// Recovered jobs belong to clients that are still waiting: the first
// timer tick after a restart, at the current Unix time as the server
// passes it, must not expire them.
TEST(broker_recovered_jobs_survive_the_first_tick)
{
	tasq_journal *j;
	tasq_broker  *b;
	struct before bf;
	uint64_t      recs;

	now0 = tasq_clock_mono_ms();
	make_tmpdir();
	b     = broker_recovered(&j, 1ULL << 30, &recs);
	cur_j = j;
	scenario(b, 0, &bf);
	tasq_journal_close(j);
	tasq_broker_free(b);
	b = broker_recovered(&j, 1ULL << 30, &recs);
	tasq_broker_tick(b, tasq_clock_mono_ms() + 1000);
	ASSERT_EQ(tasq_broker_counter(b, TASQ_CTR_JOBS_EXPIRED), 0);
	ASSERT_EQ(qstat(b, QA).jobs, 2);
	tasq_journal_close(j);
	tasq_broker_free(b);
	rm_tmpdir();
}

// Stats after a restart: the leases are gone, so every unfinished task
// is ready, and only those (ready + leased + results is what the broker
// holds). Done tasks must not count as ready.
static void
ready_after_restart(unsigned compact)
{
	tasq_journal *j;
	tasq_broker  *b;
	struct before bf;
	uint64_t      recs;
	struct qstat  qa;

	now0 = tasq_clock_mono_ms();
	make_tmpdir();
	b     = broker_recovered(&j, compact ? 1 : 1ULL << 30, &recs);
	cur_j = j;
	scenario(b, compact, &bf);
	tasq_journal_close(j);
	tasq_broker_free(b);
	b  = broker_recovered(&j, 1ULL << 30, &recs);
	qa = qstat(b, QA);
	// Before: ready 50, and 20 of the 30 leased tasks without a result
	// -> after: ready 70 (A 60..99 and B 0..29).
	ASSERT_EQ(qa.ready, bf.qa.ready + bf.undone_leased);
	ASSERT_EQ(qa.leased, 0);
	tasq_journal_close(j);
	tasq_broker_free(b);
	rm_tmpdir();
}

// Results of consecutive tasks, all OK, are journaled as one RUN record;
// others (gaps, error codes) as RESULTS records. Both replay: results
// come back with their values and codes, the rest is leased again.
TEST(broker_results_journaled_as_runs_and_lists)
{
	tasq_journal     *j;
	tasq_broker      *b;
	struct task       t[64];
	uint64_t          recs, ids[2];
	int64_t           vals[2];
	uint32_t          codes[1] = { TASQ_EOUT_OF_RANGE - TASQ_ERR_BASE };
	tasq_result_batch rb;
	tasq_complete_rep r;
	struct seen       s;
	char              err[512];
	int               got[10] = { 0 };
	size_t            n;
	tasq_journal_conf c = conf_of(false);

	now0 = tasq_clock_mono_ms();
	make_tmpdir();
	b = broker_recovered(&j, 1ULL << 30, &recs);
	submit(b, QA, JOB_A, 0, 10);
	ASSERT_EQ(lease(b, QA, 10, t), 10);
	complete(b, t, 4); // 0..3: a run
	ids[0] = t[5].id, ids[1] = t[7].id;
	vals[0] = value_of(JOB_A, 5) * value_of(JOB_A, 5);
	vals[1] = value_of(JOB_A, 7) * value_of(JOB_A, 7);
	rb      = test_rb(t[0].lease, JOB_A, 2, ids, vals, NULL);
	ASSERT_OK(tasq_broker_complete(b, WORKER, 1, &rb, now0, &r));
	ASSERT_EQ(r.accepted, 2); // 5 and 7: a list
	ids[0] = t[8].id, vals[0] = 0;
	rb = test_rb(t[0].lease, JOB_A, 1, ids, vals, codes);
	ASSERT_OK(tasq_broker_complete(b, WORKER, 1, &rb, now0, &r));
	ASSERT_EQ(r.accepted, 1); // 8, failed: a list
	tasq_journal_close(j);
	tasq_broker_free(b);

	ASSERT_OK(open_recover(&j, &c, &s, err, sizeof(err)));
	tasq_journal_close(j);
	ASSERT_EQ(s.n, 4);
	ASSERT_EQ(s.type[0], TASQ_REC_SUBMIT2);
	ASSERT_EQ(s.type[1], TASQ_REC_RUN);
	ASSERT_EQ(s.len[1], 8 + 8 + 4 + 4 * 8);
	// job, n, ids, codes, width 8, the bytes, no errors
	ASSERT_EQ(s.type[2], TASQ_REC_RESULTS2);
	ASSERT_EQ(s.len[2], 8 + 4 + 2 * 9 + 4 + 2 * 8 + 1);
	ASSERT_EQ(s.type[3], TASQ_REC_RESULTS2);

	b = broker_recovered(&j, 1ULL << 30, &recs);
	ASSERT_EQ(recs, 4);
	{
		tasq_fetch_out o;
		bool           parked;
		ASSERT_OK(tasq_broker_fetch(
		    b, JOB_A, 0, 50, now0, &o, NULL, &parked));
		ASSERT_EQ(o.n, 7);
		for (size_t i = 0; i < o.n; i++) {
			uint64_t id = o.ids[i];
			int64_t  v  = value_of(JOB_A, id);
			ASSERT_LT(id, 10);
			got[id]++;
			if (id == 8) {
				ASSERT_NOT_NULL(o.codes);
				ASSERT_EQ(o.codes[i], codes[0]);
			} else {
				ASSERT_EQ(test_i64(&o.results, i), v * v);
				ASSERT_TRUE(
				    o.codes == NULL || o.codes[i] == 0);
			}
		}
		tasq_broker_fetch_fini(&o);
	}
	// What had no result is leased again: 4, 6 and 9.
	n = lease(b, QA, 10, t);
	ASSERT_EQ(n, 3);
	for (size_t i = 0; i < n; i++) {
		got[t[i].id]++;
	}
	for (int i = 0; i < 10; i++) {
		ASSERT_EQ(got[i], 1);
	}
	tasq_journal_close(j);
	tasq_broker_free(b);
	rm_tmpdir();
}

// ---- typed tasks (issue 12) ----------------------------------------------

// Job JOB_T: 4 sha256 tasks with payloads of 1..4 bytes, a retry policy;
// results of tasks 0 ("ok", OK) and 2 ("", OUT_OF_RANGE, "it broke"), so that
// 1 and 3 are left. With compact, a snapshot holds it all.
#define JOB_T 404

static void
typed_scenario(tasq_broker *b, bool compact)
{
	static const char *const types[] = { "sha256" };
	uint32_t                 lens[4] = { 1, 2, 3, 4 };
	tasq_submit_req          req;
	tasq_lease_out           o;
	tasq_result_batch        rb;
	tasq_complete_rep        r;
	uint64_t                 ids[2]   = { 0, 2 };
	uint32_t                 rlens[2] = { 2, 0 };
	uint32_t    codes[2] = { 0, TASQ_EOUT_OF_RANGE - TASQ_ERR_BASE };
	const char *errs[2]  = { NULL, "it broke" };
	uint32_t    acc;
	bool        dup, parked;
	const char *why;

	memset(&req, 0, sizeof(req));
	req.queue     = QA;
	req.type      = "sha256";
	req.job_id    = JOB_T;
	req.n         = 4;
	req.payloads  = (tasq_blobs) { 0, lens, (uint8_t *) "abbcccdddd", 10 };
	req.has_retry = true;
	req.retry     = (tasq_retry) { 7, 100, 1000 };
	ASSERT_OK(tasq_broker_submit(b, &req, now0, &acc, &dup, &why));
	ASSERT_OK(tasq_broker_lease(
	    b, QA, WORKER, "w", types, 1, 1, 10, now0, &o, NULL, &parked));
	ASSERT_EQ(o.nbatches, 1);
	memset(&rb, 0, sizeof(rb));
	rb.lease_id = o.batches[0].lease_id;
	rb.job_id   = JOB_T;
	rb.n        = 2;
	rb.ids      = ids;
	rb.codes    = codes;
	rb.errors   = errs;
	rb.results  = (tasq_blobs) { 0, rlens, (uint8_t *) "ok", 2 };
	ASSERT_OK(tasq_broker_complete(b, WORKER, 1, &rb, now0, &r));
	ASSERT_EQ(r.accepted, 2);
	tasq_broker_lease_fini(&o);
	if (compact) {
		compact_if(b, 1, 1);
	}
}

// What a restart must give back of typed_scenario.
static void
typed_expect(tasq_broker *b)
{
	static const char *const types[] = { "sha256" };
	tasq_fetch_out           fo;
	tasq_lease_out           o;
	bool                     parked;

	ASSERT_OK(tasq_broker_fetch(b, JOB_T, 0, 0, now0, &fo, NULL, &parked));
	ASSERT_EQ(fo.n, 2);
	ASSERT_FALSE(fo.legacy);
	ASSERT_EQ(fo.ids[0], 0);
	ASSERT_EQ(fo.ids[1], 2);
	ASSERT_EQ(fo.results.size, 2);
	ASSERT_EQ(memcmp(fo.results.data, "ok", 2), 0);
	ASSERT_NOT_NULL(fo.codes);
	ASSERT_EQ(fo.codes[1], TASQ_EOUT_OF_RANGE - TASQ_ERR_BASE);
	ASSERT_NOT_NULL(fo.errors);
	ASSERT_NULL(fo.errors[0]);
	ASSERT_STR_EQ(fo.errors[1], "it broke");
	tasq_broker_fetch_fini(&fo);
	// The unfinished tasks, with their payloads, for sha256 only.
	ASSERT_OK(tasq_broker_lease(
	    b, QA, WORKER, "w", NULL, 0, 1, 10, now0, &o, NULL, &parked));
	ASSERT_EQ(o.nbatches, 0);
	tasq_broker_lease_fini(&o);
	ASSERT_OK(tasq_broker_lease(
	    b, QA, WORKER, "w", types, 1, 1, 10, now0, &o, NULL, &parked));
	// After a restart a range is a run of unfinished tasks: 1, then 3.
	ASSERT_EQ(o.nbatches, 2);
	for (size_t i = 0; i < 2; i++) {
		ASSERT_STR_EQ(o.batches[i].type, "sha256");
		ASSERT_FALSE(o.batches[i].legacy);
		ASSERT_EQ(o.batches[i].n, 1);
		ASSERT_EQ(o.batches[i].ids[0], 1 + 2 * i);
		ASSERT_EQ(o.batches[i].payloads.size, 2 + 2 * i);
	}
	ASSERT_EQ(memcmp(o.batches[0].payloads.data, "bb", 2), 0);
	ASSERT_EQ(memcmp(o.batches[1].payloads.data, "dddd", 4), 0);
	tasq_broker_lease_fini(&o);
}

static void
typed_restart(bool compact)
{
	tasq_journal *j;
	tasq_broker  *b;
	uint64_t      recs;

	now0 = tasq_clock_mono_ms();
	make_tmpdir();
	b     = broker_recovered(&j, compact ? 1 : 1ULL << 30, &recs);
	cur_j = j;
	typed_scenario(b, compact);
	tasq_journal_close(j);
	tasq_broker_free(b);
	b = broker_recovered(&j, 1ULL << 30, &recs);
	typed_expect(b);
	tasq_journal_close(j);
	tasq_broker_free(b);
	rm_tmpdir();
}

TEST(broker_typed_payloads_results_and_errors_survive_a_restart)
{
	typed_restart(false);
}

TEST(broker_typed_state_survives_compaction)
{
	typed_restart(true);
}

// A data directory written before typed tasks: its SUBMIT and RESULTS
// records replay as a legacy square job.
TEST(broker_recovers_records_of_the_old_format)
{
	tasq_journal  *j;
	tasq_broker   *b;
	uint64_t       recs, lsn, job = JOB_A, first = 0, ids[1] = { 1 };
	uint32_t       n = 3, n1 = 1;
	int64_t        vals[3] = { 5, 6, 7 }, res[1] = { 36 };
	uint8_t        qlen = 5, code = 0;
	tasq_fetch_out fo;
	tasq_lease_out o;
	bool           parked;
	struct iovec   sub[] = { { &qlen, 1 }, { (void *) QA, 5 }, { &job, 8 },
		  { &first, 8 }, { &n, 4 }, { vals, 24 } };
	struct iovec rec[] = { { &job, 8 }, { &n1, 4 }, { ids, 8 }, { res, 8 },
		{ &code, 1 } };

	ASSERT_EQ(strlen(QA), 5);
	now0 = tasq_clock_mono_ms();
	make_tmpdir();
	b = broker_recovered(&j, 1ULL << 30, &recs);
	ASSERT_OK(tasq_journal_append(j, TASQ_REC_SUBMIT, sub, 6, &lsn));
	ASSERT_OK(tasq_journal_append(j, TASQ_REC_RESULTS, rec, 5, &lsn));
	tasq_journal_close(j);
	tasq_broker_free(b);
	b = broker_recovered(&j, 1ULL << 30, &recs);
	ASSERT_EQ(recs, 2);
	ASSERT_OK(tasq_broker_fetch(b, JOB_A, 0, 0, now0, &fo, NULL, &parked));
	ASSERT_EQ(fo.n, 1);
	ASSERT_TRUE(fo.legacy);
	ASSERT_EQ(test_i64(&fo.results, 0), 36);
	tasq_broker_fetch_fini(&fo);
	ASSERT_OK(tasq_broker_lease(
	    b, QA, WORKER, "w", NULL, 0, 1, 10, now0, &o, NULL, &parked));
	ASSERT_EQ(o.nbatches, 2); // tasks 0 and 2
	ASSERT_TRUE(o.batches[0].legacy);
	ASSERT_STR_EQ(o.batches[1].type, "square");
	ASSERT_EQ(o.batches[1].ids[0], 2);
	ASSERT_EQ(test_i64(&o.batches[1].payloads, 0), 7);
	tasq_broker_lease_fini(&o);
	tasq_journal_close(j);
	tasq_broker_free(b);
	rm_tmpdir();
}

// Dead letters: made by expiries, purged, and kept across restarts and
// compactions (their records, then their snapshot).
static void
expect_dead(tasq_broker *b, size_t n, uint64_t first_id)
{
	tasq_rep rep;

	ASSERT_OK(tasq_broker_dead_list(b, NULL, 0, 0, true, &rep));
	ASSERT_EQ(rep.u.dead_list.n, n);
	for (size_t k = 0; k < n; k++) {
		const tasq_dead_letter *d = &rep.u.dead_list.letters[k];
		ASSERT_EQ(d->id, first_id + k);
		ASSERT_EQ(d->job_id, JOB_A);
		ASSERT_EQ(d->task_id, first_id + k - 1);
		ASSERT_STR_EQ(d->queue, QA);
		ASSERT_EQ(d->attempts, 5);
		ASSERT_EQ(d->payload_size, 8);
		ASSERT_EQ(
		    tasq_i64_le_get(d->payload), value_of(JOB_A, d->task_id));
		ASSERT_STR_CONTAINS(d->error, "lease expired");
	}
	tasq_broker_stats_fini(&rep);
}

TEST(broker_dead_letters_survive_restarts_purges_and_compaction)
{
	tasq_journal *j;
	tasq_broker  *b;
	uint64_t      recs, purged, t;
	struct task   tk[64];

	now0 = tasq_clock_mono_ms();
	make_tmpdir();
	b     = broker_recovered(&j, 1ULL << 30, &recs);
	cur_j = j;
	submit(b, QA, JOB_A, 0, 3);
	t = now0;
	for (int a = 0; a < 5; a++) {
		ASSERT_EQ(lease(b, QA, 10, tk), 3);
		t += 60001;
		tasq_broker_tick(b, t);
	}
	expect_dead(b, 3, 1);
	tasq_journal_close(j);
	tasq_broker_free(b);
	b = broker_recovered(&j, 1ULL << 30, &recs);
	expect_dead(b, 3, 1);
	ASSERT_OK(tasq_broker_dead_purge(
	    b, (uint64_t[]) { 1 }, 1, false, NULL, &purged));
	ASSERT_EQ(purged, 1);
	tasq_journal_close(j);
	tasq_broker_free(b);
	b     = broker_recovered(&j, 1, &recs);
	cur_j = j;
	expect_dead(b, 2, 2);
	compact_if(b, 1, 1);
	tasq_journal_close(j);
	tasq_broker_free(b);
	b = broker_recovered(&j, 1ULL << 30, &recs);
	expect_dead(b, 2, 2);
	tasq_journal_close(j);
	tasq_broker_free(b);
	rm_tmpdir();
}

TEST(broker_ready_count_after_restart)
{
	ready_after_restart(0);
}

TEST(broker_ready_count_after_compaction_and_restart)
{
	ready_after_restart(AT_END);
}

// Attempts (issue 12): a task that failed attempts 1 and 2 is delivered
// as attempt 3 after a restart (and a compaction), and dead-lettered when
// that one fails too (max_attempts 3); a retry's backoff survives the
// restart; an attempt counted by an expired lease does too.
#define JOB_R 505
#define JOB_E 606

// Leases the tasks of QA for sha256 at t: one batch, whose attempt and
// first id are returned (0 batches: attempt 0).
static uint32_t
lease_attempt(tasq_broker *b, uint64_t t, uint64_t *lease_id, uint64_t *id)
{
	static const char *const types[] = { "sha256" };
	tasq_lease_out           o;
	bool                     parked;
	uint32_t                 a = 0;

	ASSERT_OK(tasq_broker_lease(
	    b, QA, WORKER, "w", types, 1, 1, 10, t, &o, NULL, &parked));
	ASSERT_LE(o.nbatches, 1);
	if (o.nbatches == 1) {
		a         = o.batches[0].attempt;
		*lease_id = o.batches[0].lease_id;
		*id       = o.batches[0].ids[0];
	}
	tasq_broker_lease_fini(&o);
	return (a);
}

// Fails task id of job (a non-final code) at t.
static void
fail_task(tasq_broker *b, uint64_t job, uint64_t lease_id, uint64_t id,
    uint64_t t, const char *msg)
{
	tasq_result_batch rb;
	tasq_complete_rep r;
	uint32_t          rlens[1] = { 0 };
	uint32_t          codes[1] = { TASQ_EUNAVAILABLE - TASQ_ERR_BASE };
	const char       *errs[1]  = { msg };

	memset(&rb, 0, sizeof(rb));
	rb.lease_id = lease_id;
	rb.job_id   = job;
	rb.n        = 1;
	rb.ids      = &id;
	rb.codes    = codes;
	rb.errors   = errs;
	rb.results  = (tasq_blobs) { 0, rlens, (uint8_t *) "", 0 };
	ASSERT_OK(tasq_broker_complete(b, WORKER, 1, &rb, t, &r));
	ASSERT_EQ(r.accepted, 1);
}

static void
submit_r(tasq_broker *b, uint64_t job, uint32_t backoff_ms)
{
	tasq_submit_req req;
	uint32_t        lens[1] = { 1 }, acc;
	bool            dup;
	const char     *why;

	memset(&req, 0, sizeof(req));
	req.queue     = QA;
	req.type      = "sha256";
	req.job_id    = job;
	req.n         = 1;
	req.payloads  = (tasq_blobs) { 0, lens, (uint8_t *) "x", 1 };
	req.has_retry = true;
	req.retry     = (tasq_retry) { 3, backoff_ms, backoff_ms };
	ASSERT_OK(tasq_broker_submit(b, &req, now0, &acc, &dup, &why));
	ASSERT_EQ(acc, 1);
}

static void
attempts_restart(bool compact, uint32_t backoff_ms)
{
	tasq_journal *j;
	tasq_broker  *b;
	uint64_t      recs, lid = 0, id = 0, t;
	tasq_rep      rep;

	now0 = tasq_clock_mono_ms();
	make_tmpdir();
	b     = broker_recovered(&j, compact ? 1 : 1ULL << 30, &recs);
	cur_j = j;
	submit_r(b, JOB_R, backoff_ms);
	t = now0;
	for (uint32_t a = 1; a <= 2; a++) {
		ASSERT_EQ(lease_attempt(b, t, &lid, &id), a);
		ASSERT_EQ(id, 0);
		fail_task(b, JOB_R, lid, id, t, "try again");
		t += backoff_ms + 1;
		tasq_broker_tick(b, t);
	}
	if (compact) {
		compact_if(b, 1, 1);
	}
	tasq_journal_close(j);
	tasq_broker_free(b);
	b     = broker_recovered(&j, 1ULL << 30, &recs);
	cur_j = j;
	now0  = tasq_clock_mono_ms();
	t     = now0;
	if (backoff_ms > 0) {
		// Still waiting out its backoff: not leased yet.
		ASSERT_EQ(lease_attempt(b, t, &lid, &id), 0);
		t += backoff_ms + 1;
		tasq_broker_tick(b, t);
	}
	ASSERT_EQ(lease_attempt(b, t, &lid, &id), 3);
	fail_task(b, JOB_R, lid, id, t, "third time");
	ASSERT_OK(tasq_broker_dead_list(b, NULL, 0, 0, false, &rep));
	ASSERT_EQ(rep.u.dead_list.n, 1);
	ASSERT_EQ(rep.u.dead_list.letters[0].task_id, 0);
	ASSERT_EQ(rep.u.dead_list.letters[0].attempts, 3);
	ASSERT_STR_EQ(rep.u.dead_list.letters[0].error, "third time");
	tasq_broker_stats_fini(&rep);
	// An expired lease counts an attempt, which survives as well.
	submit_r(b, JOB_E, 0);
	ASSERT_EQ(lease_attempt(b, t, &lid, &id), 1);
	t += 60001;
	tasq_broker_tick(b, t);
	tasq_journal_close(j);
	tasq_broker_free(b);
	b    = broker_recovered(&j, 1ULL << 30, &recs);
	now0 = tasq_clock_mono_ms();
	ASSERT_EQ(lease_attempt(b, now0, &lid, &id), 2);
	tasq_journal_close(j);
	tasq_broker_free(b);
	rm_tmpdir();
}

// ---- detached jobs (issue 13: JOB and EXPIRED records) --------------------

#define JOB_D 301 // detached, results kept an hour
#define JOB_X 302 // detached, results kept 1 ms
#define JOB_F 303 // detached, made after a restart

static void
submit_detached(tasq_broker *b, uint64_t job, size_t n, uint64_t ttl_ms)
{
	int64_t         v[16];
	tasq_submit_req req;
	uint32_t        acc;
	bool            dup;
	const char     *why;

	ASSERT_LE(n, 16);
	for (size_t i = 0; i < n; i++) {
		v[i] = value_of(job, i);
	}
	memset(&req, 0, sizeof(req));
	req.queue         = QA;
	req.job_id        = job;
	req.n             = n;
	req.type          = TASQ_TYPE_SQUARE;
	req.payloads      = test_col_i64(v, n);
	req.detach        = true;
	req.result_ttl_ms = ttl_ms;
	req.host          = "host-d";
	req.last          = true;
	ASSERT_OK(tasq_broker_submit(b, &req, now0, &acc, &dup, &why));
	ASSERT_EQ(acc, n);
}

// Job's results are the squares of its n tasks, in order.
static void
expect_kept(tasq_broker *b, uint64_t job, size_t n)
{
	tasq_results_out  o;
	tasq_job_info_buf ib;
	bool              parked;
	const char       *why;

	ASSERT_OK(
	    tasq_broker_results(b, job, 0, 0, now0, &o, NULL, &parked, &why));
	ASSERT_EQ(o.n, n);
	for (size_t i = 0; i < n; i++) {
		int64_t v = value_of(job, i);
		ASSERT_EQ(o.ids[i], i);
		ASSERT_EQ(test_i64(&o.results, i), v * v);
	}
	ASSERT_EQ(o.job.info.state, TASQ_JOB_DONE);
	tasq_broker_results_fini(&o);
	ASSERT_OK(tasq_broker_job_status(b, job, now0, &ib, &why));
	ASSERT_TRUE(ib.info.detached);
	ASSERT_STR_EQ(ib.info.host, "host-d");
	ASSERT_EQ(ib.info.completed, n);
}

static void
expect_expired(tasq_broker *b, uint64_t job)
{
	tasq_results_out o;
	bool             parked;
	const char      *why = NULL;

	ASSERT_RV(
	    tasq_broker_results(b, job, 0, 0, now0, &o, NULL, &parked, &why),
	    TASQ_ENOT_FOUND);
	ASSERT_STR_CONTAINS(why, "job expired");
}

static bool
expired_after_tick(void *arg)
{
	tasq_job_info_buf ib;
	const char       *why;

	tasq_broker_tick(arg, now0);
	return (tasq_broker_job_status(arg, JOB_X, now0, &ib, &why) ==
	    TASQ_ENOT_FOUND);
}

TEST(broker_detached_results_survive_restarts_compaction_and_expiry)
{
	tasq_journal *j;
	tasq_broker  *b;
	uint64_t      recs;
	struct task   tk[64];

	now0 = tasq_clock_mono_ms();
	make_tmpdir();
	b     = broker_recovered(&j, 1ULL << 30, &recs);
	cur_j = j;
	submit_detached(b, JOB_D, 6, 3600000);
	ASSERT_EQ(lease(b, QA, 10, tk), 6);
	complete(b, tk, 6);
	expect_kept(b, JOB_D, 6);
	// A job whose results expire at once: gone, known as expired.
	submit_detached(b, JOB_X, 2, 1);
	ASSERT_EQ(lease(b, QA, 10, tk), 2);
	complete(b, tk, 2);
	ASSERT_TRUE(eventually(expired_after_tick, b, 5000));
	expect_expired(b, JOB_X);
	tasq_journal_close(j);
	tasq_broker_free(b);
	// Replayed from the records: JOB after SUBMIT2, the results, EXPIRED.
	b     = broker_recovered(&j, 1, &recs);
	cur_j = j;
	expect_kept(b, JOB_D, 6);
	expect_expired(b, JOB_X);
	submit_detached(b, JOB_F, 3, 3600000);
	ASSERT_EQ(lease(b, QA, 10, tk), 3);
	complete(b, tk, 3);
	// Through a snapshot: JOB after IVALS2, results as PENDING2, the
	// expired ids as one EXPIRED.
	compact_if(b, 1, 1);
	tasq_journal_close(j);
	tasq_broker_free(b);
	b = broker_recovered(&j, 1ULL << 30, &recs);
	expect_kept(b, JOB_D, 6);
	expect_kept(b, JOB_F, 3);
	expect_expired(b, JOB_X);
	tasq_journal_close(j);
	tasq_broker_free(b);
	rm_tmpdir();
}

TEST(broker_attempts_survive_a_restart)
{
	attempts_restart(false, 0);
}

TEST(broker_attempts_survive_compaction)
{
	attempts_restart(true, 0);
}

TEST(broker_retry_backoff_survives_a_restart)
{
	attempts_restart(false, 100000);
}

TEST(broker_retry_backoff_survives_compaction)
{
	attempts_restart(true, 100000);
}

// A job's priority (issue 13: the PRIO record, and in snapshots) survives
// a restart: after it, jobs of priorities 7 and 3 still get 70:30 of what
// is leased. Without the record both would come back at the default.
static void
priority_restart(bool compact)
{
	tasq_journal   *j;
	tasq_broker    *b;
	uint64_t        recs;
	int64_t         v[100];
	uint32_t        acc;
	bool            dup;
	const char     *why;
	struct task     t[64];
	size_t          per[2] = { 0, 0 };
	tasq_submit_req req;

	now0 = tasq_clock_mono_ms();
	make_tmpdir();
	b     = broker_recovered(&j, compact ? 1 : 1ULL << 30, &recs);
	cur_j = j;
	for (int k = 0; k < 2; k++) {
		uint64_t job = k == 0 ? JOB_A : JOB_B;
		for (size_t i = 0; i < 100; i++) {
			v[i] = value_of(job, i);
		}
		memset(&req, 0, sizeof(req));
		req.queue    = QA;
		req.job_id   = job;
		req.n        = 100;
		req.type     = TASQ_TYPE_SQUARE;
		req.payloads = test_col_i64(v, 100);
		req.legacy   = true;
		req.priority = k == 0 ? 7 : 3;
		ASSERT_OK(tasq_broker_submit(b, &req, now0, &acc, &dup, &why));
		ASSERT_EQ(acc, 100);
	}
	compact_if(b, compact ? AT_END : 0, AT_END);
	tasq_journal_close(j);
	tasq_broker_free(b);
	b = broker_recovered(&j, 1ULL << 30, &recs);
	for (int i = 0; i < 10; i++) {
		size_t n = lease(b, QA, 10, t);
		ASSERT_EQ(n, 10);
		for (size_t k = 0; k < n; k++) {
			per[t[k].job == JOB_B]++;
		}
	}
	ASSERT_EQ(per[0], 70);
	ASSERT_EQ(per[1], 30);
	tasq_journal_close(j);
	tasq_broker_free(b);
	rm_tmpdir();
}

TEST(broker_job_priority_survives_a_restart)
{
	priority_restart(false);
}

TEST(broker_job_priority_survives_compaction_and_restart)
{
	priority_restart(true);
}

// ---- cancel (issue 13: the CANCEL record, and in snapshots) ---------------

#define JOB_K 505 // detached, 10 tasks on QA, 2 done, then cancelled

// A cancelled job survives a restart (and compaction): still CANCELLED
// with the results it had, none of its tasks ready again, a cancel again
// a no-op; the other job of its queue is leased as before. Without the
// record its eight unfinished tasks would be ready again.
static void
cancel_restart(bool compact)
{
	tasq_journal     *j;
	tasq_broker      *b;
	uint64_t          recs, dropped;
	uint32_t          running;
	struct task       tk[64];
	tasq_job_info_buf ib;
	tasq_results_out  o;
	bool              parked;
	const char       *why = NULL;

	now0 = tasq_clock_mono_ms();
	make_tmpdir();
	b     = broker_recovered(&j, compact ? 1 : 1ULL << 30, &recs);
	cur_j = j;
	submit_detached(b, JOB_K, 10, 3600000);
	ASSERT_EQ(lease(b, QA, 4, tk), 4);
	complete(b, tk, 2);
	ASSERT_OK(
	    tasq_broker_cancel(b, JOB_K, now0, &dropped, &running, &ib, &why));
	ASSERT_EQ(dropped, 6);
	ASSERT_EQ(running, 2);
	submit(b, QA, JOB_B, 0, 30);
	compact_if(b, compact ? AT_END : 0, AT_END);
	tasq_journal_close(j);
	tasq_broker_free(b);
	for (int round = 0; round < 2; round++) {
		b = broker_recovered(&j, round == 0 ? 1 : 1ULL << 30, &recs);
		cur_j = j;
		ASSERT_OK(tasq_broker_job_status(b, JOB_K, now0, &ib, &why));
		ASSERT_EQ(ib.info.state, TASQ_JOB_CANCELLED);
		ASSERT_EQ(ib.info.completed, 2);
		ASSERT_EQ(ib.info.submitted, 10);
		ASSERT_GT(ib.info.expires_in_ms, 0);
		ASSERT_OK(tasq_broker_results(
		    b, JOB_K, 0, 0, now0, &o, NULL, &parked, &why));
		ASSERT_EQ(o.n, 2);
		ASSERT_EQ(o.ids[0], tk[0].id);
		ASSERT_EQ(o.ids[1], tk[1].id);
		ASSERT_EQ(o.next_index, 10);
		tasq_broker_results_fini(&o);
		ASSERT_OK(tasq_broker_cancel(
		    b, JOB_K, now0, &dropped, &running, &ib, &why));
		ASSERT_EQ(dropped, 0);
		ASSERT_EQ(running, 0);
		// Only JOB_B's tasks are ready.
		ASSERT_EQ(lease(b, QA, 64, tk), 30);
		for (size_t i = 0; i < 30; i++) {
			ASSERT_EQ(tk[i].job, JOB_B);
		}
		ASSERT_EQ(lease(b, QA, 64, tk), 0);
		// A snapshot of the replayed records, for the second round
		// (with compact, the first round came from one).
		if (round == 0 && !compact) {
			compact_if(b, AT_END, AT_END);
		}
		tasq_journal_close(j);
		tasq_broker_free(b);
	}
	rm_tmpdir();
}

TEST(broker_cancel_survives_a_restart)
{
	cancel_restart(false);
}

TEST(broker_cancel_survives_compaction_and_restart)
{
	cancel_restart(true);
}

TASQ_TEST_MAIN()
