// Unit tests of server/identity: the identity file of a data directory is
// made once and read back unchanged; a malformed one is refused, with the
// file named, and left as it was.
#define _GNU_SOURCE
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "identity.h"
#include "tasq_test.h"
#include "tasq_scratch.h"

static void
put(const char *dir, const char *name, const char *data, size_t len)
{
	char  path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ASSERT_NOT_NULL(f = fopen(path, "w"));
	ASSERT_EQ(fwrite(data, 1, len, f), len);
	ASSERT_EQ(fclose(f), 0);
}

// The identity file's contents (at most len-1 bytes, NUL-terminated);
// returns its length.
static size_t
get(const char *dir, char *buf, size_t len)
{
	char   path[512];
	FILE  *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/identity", dir);
	ASSERT_NOT_NULL(f = fopen(path, "r"));
	n      = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
	return (n);
}

TEST(identity_made_once_and_kept)
{
	char     dir[256], buf[64], want[32];
	uint64_t a = 0, b = 0;
	char     err[512];

	tasq_scratch_dir(dir, sizeof(dir));
	ASSERT_OK(tasq_identity_load(dir, &a, err, sizeof(err)));
	ASSERT_NE(a, 0);
	// 16 lowercase hex digits and a newline, the identity itself.
	ASSERT_EQ(get(dir, buf, sizeof(buf)), 17);
	snprintf(want, sizeof(want), "%016llx\n", (unsigned long long) a);
	ASSERT_STR_EQ(buf, want);
	// No temporary file left behind.
	char        tmp[512];
	struct stat st;
	snprintf(tmp, sizeof(tmp), "%s/identity.tmp", dir);
	ASSERT_NE(stat(tmp, &st), 0);
	// A restart reads the same identity.
	ASSERT_OK(tasq_identity_load(dir, &b, err, sizeof(err)));
	ASSERT_EQ(b, a);
	ASSERT_EQ(get(dir, buf, sizeof(buf)), 17);
	ASSERT_STR_EQ(buf, want);
	tasq_scratch_rm(dir);
}

TEST(identity_differs_between_directories)
{
	char     d1[256], d2[256];
	uint64_t a, b, c;
	char     err[512];

	tasq_scratch_dir(d1, sizeof(d1));
	tasq_scratch_dir(d2, sizeof(d2));
	ASSERT_OK(tasq_identity_load(d1, &a, err, sizeof(err)));
	ASSERT_OK(tasq_identity_load(d2, &b, err, sizeof(err)));
	ASSERT_NE(a, b);
	ASSERT_OK(tasq_identity_new(&c, err, sizeof(err)));
	ASSERT_NE(c, 0);
	ASSERT_NE(c, a);
	tasq_scratch_rm(d1);
	tasq_scratch_rm(d2);
}

TEST(identity_file_written_by_hand_is_read)
{
	char     dir[256];
	uint64_t id;
	char     err[512];

	tasq_scratch_dir(dir, sizeof(dir));
	put(dir, "identity", "0123456789abcdef\n", 17);
	ASSERT_OK(tasq_identity_load(dir, &id, err, sizeof(err)));
	ASSERT_EQ(id, 0x0123456789abcdefull);
	// A stale temporary file (a crash before the rename) is not read.
	put(dir, "identity.tmp", "garbage", 7);
	ASSERT_OK(tasq_identity_load(dir, &id, err, sizeof(err)));
	ASSERT_EQ(id, 0x0123456789abcdefull);
	tasq_scratch_rm(dir);
}

TEST(identity_stale_tmp_without_file_is_replaced)
{
	char     dir[256], buf[64];
	uint64_t id, again;
	char     err[512];

	tasq_scratch_dir(dir, sizeof(dir));
	put(dir, "identity.tmp", "00000000000000", 14);
	ASSERT_OK(tasq_identity_load(dir, &id, err, sizeof(err)));
	ASSERT_NE(id, 0);
	ASSERT_EQ(get(dir, buf, sizeof(buf)), 17);
	ASSERT_OK(tasq_identity_load(dir, &again, err, sizeof(err)));
	ASSERT_EQ(again, id);
	tasq_scratch_rm(dir);
}

TEST(identity_malformed_file_refused_and_kept)
{
	static const struct {
		const char *data;
		size_t      len;
	} bad[] = {
		{ "", 0 },
		{ "\n", 1 },
		{ "0123456789abcdef", 16 },     // no newline
		{ "0123456789ABCDEF\n", 17 },   // upper case
		{ "0123456789abcde\n", 16 },    // 15 digits
		{ "0123456789abcdef0\n", 18 },  // 17 digits
		{ "0123456789abcdef\n\n", 18 }, // more after the newline
		{ "0000000000000000\n", 17 },   // zero
		{ " 123456789abcdef\n", 17 },
		{ "0123456789abcdeg\n", 17 },
		{ "0x23456789abcdef\n", 17 },
		{ "01234567\0009abcdef\n", 17 },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char     dir[256], buf[64], err[512] = "";
		uint64_t id = 7;

		tasq_scratch_dir(dir, sizeof(dir));
		put(dir, "identity", bad[i].data, bad[i].len);
		ASSERT_RV(tasq_identity_load(dir, &id, err, sizeof(err)),
		    TASQ_EFAILED_PRECONDITION);
		ASSERT_EQ(id, 7); // untouched
		ASSERT_STR_CONTAINS(err, "/identity is malformed");
		ASSERT_STR_CONTAINS(err, dir);
		// Never replaced: the same bytes are still there.
		ASSERT_EQ(get(dir, buf, sizeof(buf)), bad[i].len);
		ASSERT_MEM_EQ(buf, bad[i].data, bad[i].len);
		// And refused again on the next start.
		ASSERT_RV(tasq_identity_load(dir, &id, err, sizeof(err)),
		    TASQ_EFAILED_PRECONDITION);
		tasq_scratch_rm(dir);
	}
}

TEST(identity_unreadable_or_missing_directory_fails)
{
	char     dir[256], sub[300];
	uint64_t id       = 7;
	char     err[512] = "";

	tasq_scratch_dir(dir, sizeof(dir));
	snprintf(sub, sizeof(sub), "%s/none", dir);
	ASSERT_RV(
	    tasq_identity_load(sub, &id, err, sizeof(err)), TASQ_EINTERNAL);
	ASSERT_STR_CONTAINS(err, sub);
	ASSERT_EQ(id, 7);
	// identity is a directory: cannot be read as a file.
	snprintf(sub, sizeof(sub), "%s/identity", dir);
	ASSERT_EQ(mkdir(sub, 0700), 0);
	ASSERT_NE(tasq_identity_load(dir, &id, err, sizeof(err)), 0);
	ASSERT_STR_CONTAINS(err, "identity");
	ASSERT_EQ(id, 7);
	tasq_scratch_rm(dir);
}

TASQ_TEST_MAIN()
