// Unit tests of lib/blobs: the column check refuses every malformed
// column, the iterator walks both forms, and the builder stays
// fixed-width while it can and keeps every item's bytes when it cannot.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "blobs.h"
#include "err.h"
#include "tasq_test.h"

TEST(check_fixed_width)
{
	uint8_t    d[24] = { 0 };
	tasq_blobs b     = { .width = 8, .data = d, .size = 24 };
	uint32_t   l[3]  = { 8, 8, 8 };

	ASSERT_OK(tasq_blobs_check(&b, 3, 8));
	ASSERT_RV(tasq_blobs_check(&b, 2, 8), TASQ_EINVALID_ARGUMENT);
	ASSERT_RV(tasq_blobs_check(&b, 4, 8), TASQ_EINVALID_ARGUMENT);
	ASSERT_RV(tasq_blobs_check(&b, 3, 7), TASQ_EINVALID_ARGUMENT);
	b.lens = l; // width and lengths at once
	ASSERT_RV(tasq_blobs_check(&b, 3, 8), TASQ_EINVALID_ARGUMENT);
	b.lens = NULL;
	b.data = NULL; // bytes without memory
	ASSERT_RV(tasq_blobs_check(&b, 3, 8), TASQ_EINVALID_ARGUMENT);
	// n * width wraps around to 0: must not pass as an empty column.
	b = (tasq_blobs) { .width = 1u << 31, .data = d, .size = 0 };
	ASSERT_RV(tasq_blobs_check(&b, SIZE_MAX / (1u << 31) + 1, SIZE_MAX),
	    TASQ_EINVALID_ARGUMENT);
	// An empty column of no items, in any form.
	b = (tasq_blobs) { 0 };
	ASSERT_OK(tasq_blobs_check(&b, 0, 8));
	b.width = 8;
	ASSERT_OK(tasq_blobs_check(&b, 0, 8));
}

TEST(check_variable_width)
{
	uint8_t    d[10] = { 0 };
	uint32_t   l[3]  = { 3, 0, 7 };
	tasq_blobs b     = { .lens = l, .data = d, .size = 10 };

	ASSERT_OK(tasq_blobs_check(&b, 3, 7));
	ASSERT_RV(tasq_blobs_check(&b, 3, 6), TASQ_EINVALID_ARGUMENT);
	ASSERT_RV(tasq_blobs_check(&b, 2, 7), TASQ_EINVALID_ARGUMENT);
	b.size = 11;
	ASSERT_RV(tasq_blobs_check(&b, 3, 7), TASQ_EINVALID_ARGUMENT);
	b.size = 9;
	ASSERT_RV(tasq_blobs_check(&b, 3, 7), TASQ_EINVALID_ARGUMENT);
	b.size = 10;
	b.lens = NULL; // items without lengths
	ASSERT_RV(tasq_blobs_check(&b, 3, 7), TASQ_EINVALID_ARGUMENT);
	// Lengths whose sum wraps a 32-bit or 64-bit counter.
	uint32_t big[5] = { UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX,
		4 };
	b               = (tasq_blobs) { .lens = big, .data = d, .size = 0 };
	ASSERT_RV(tasq_blobs_check(&b, 5, UINT32_MAX), TASQ_EINVALID_ARGUMENT);
	// n items all empty: lengths of 0 and no data.
	uint32_t z[2] = { 0, 0 };
	b             = (tasq_blobs) { .lens = z };
	ASSERT_OK(tasq_blobs_check(&b, 2, 8));
}

TEST(iterate_both_forms)
{
	uint8_t         d[] = "abcdefgh";
	uint32_t        l[] = { 2, 0, 6 };
	tasq_blobs      f   = { .width = 4, .data = d, .size = 8 };
	tasq_blobs      v   = { .lens = l, .data = d, .size = 8 };
	tasq_blobs_iter it;
	const uint8_t  *p;
	size_t          len;

	tasq_blobs_iter_init(&it, &f);
	tasq_blobs_next(&it, &p, &len);
	ASSERT_EQ(len, 4);
	ASSERT_MEM_EQ(p, "abcd", 4);
	tasq_blobs_next(&it, &p, &len);
	ASSERT_EQ(len, 4);
	ASSERT_MEM_EQ(p, "efgh", 4);

	tasq_blobs_iter_init(&it, &v);
	tasq_blobs_next(&it, &p, &len);
	ASSERT_EQ(len, 2);
	ASSERT_MEM_EQ(p, "ab", 2);
	tasq_blobs_next(&it, &p, &len);
	ASSERT_EQ(len, 0);
	tasq_blobs_next(&it, &p, &len);
	ASSERT_EQ(len, 6);
	ASSERT_MEM_EQ(p, "cdefgh", 6);
}

TEST(i64_little_endian)
{
	uint8_t    b[16];
	tasq_blobs c = { .width = 8, .data = b, .size = 16 };

	tasq_i64_le_put(b, 0x0102030405060708);
	ASSERT_EQ(b[0], 0x08);
	ASSERT_EQ(b[7], 0x01);
	tasq_i64_le_put(b + 8, -2);
	ASSERT_EQ(b[8], 0xfe);
	ASSERT_EQ(b[15], 0xff);
	ASSERT_EQ(tasq_blobs_i64(&c, 0), 0x0102030405060708);
	ASSERT_EQ(tasq_blobs_i64(&c, 1), -2);
	ASSERT_EQ(tasq_i64_le_get(b + 8), -2);
}

TEST(builder_stays_fixed_width)
{
	tasq_blobs_buf buf;
	tasq_blobs     v;

	tasq_blobs_buf_init(&buf);
	tasq_blobs_buf_view(&buf, &v);
	ASSERT_EQ(v.width, 0);
	ASSERT_EQ(v.size, 0);
	ASSERT_OK(tasq_blobs_check(&v, 0, 8));
	for (int64_t i = 0; i < 1000; i++) {
		ASSERT_OK(tasq_blobs_buf_add_i64(&buf, i * i - 7));
	}
	uint8_t *p = tasq_blobs_buf_add_fixed(&buf, 24, 8);
	ASSERT_NOT_NULL(p);
	for (int k = 0; k < 24; k++) {
		tasq_i64_le_put(p + 8 * k, INT64_MIN + k);
	}
	ASSERT_EQ(buf.n, 1024);
	tasq_blobs_buf_view(&buf, &v);
	ASSERT_EQ(v.width, 8);
	ASSERT_NULL(v.lens);
	ASSERT_EQ(v.size, 1024 * 8);
	ASSERT_OK(tasq_blobs_check(&v, 1024, 8));
	for (int64_t i = 0; i < 1000; i++) {
		ASSERT_EQ(tasq_blobs_i64(&v, (size_t) i), i * i - 7);
	}
	ASSERT_EQ(tasq_blobs_i64(&v, 1023), INT64_MIN + 23);
	tasq_blobs_buf_fini(&buf);
	tasq_blobs_buf_fini(&buf); // idempotent
}

TEST(builder_turns_variable)
{
	tasq_blobs_buf  buf;
	tasq_blobs      v;
	tasq_blobs_iter it;
	const uint8_t  *p;
	size_t          len;

	tasq_blobs_buf_init(&buf);
	for (int round = 0; round < 2; round++) {
		ASSERT_OK(tasq_blobs_buf_add(&buf, "abc", 3));
		ASSERT_OK(tasq_blobs_buf_add(&buf, "def", 3));
		tasq_blobs_buf_view(&buf, &v);
		ASSERT_EQ(v.width, 3);
		ASSERT_OK(tasq_blobs_buf_add(&buf, NULL, 0));
		ASSERT_OK(tasq_blobs_buf_add(&buf, "longer", 6));
		uint8_t *f = tasq_blobs_buf_add_fixed(&buf, 2, 2);
		ASSERT_NOT_NULL(f);
		memcpy(f, "wxyz", 4);
		for (int k = 0; k < 200; k++) { // lens grow
			ASSERT_OK(tasq_blobs_buf_add(&buf, "q", 1));
		}
		tasq_blobs_buf_view(&buf, &v);
		ASSERT_EQ(v.width, 0);
		ASSERT_NOT_NULL(v.lens);
		ASSERT_EQ(buf.n, 206);
		ASSERT_OK(tasq_blobs_check(&v, 206, 6));
		tasq_blobs_iter_init(&it, &v);
		const char *want[] = { "abc", "def", "", "longer", "wx", "yz",
			"q" };
		for (size_t i = 0; i < 7; i++) {
			tasq_blobs_next(&it, &p, &len);
			ASSERT_EQ(len, strlen(want[i]));
			ASSERT_MEM_EQ(p, want[i], len);
		}
		tasq_blobs_buf_reset(&buf);
		ASSERT_EQ(buf.n, 0);
		tasq_blobs_buf_view(&buf, &v);
		ASSERT_NULL(v.lens);
		ASSERT_EQ(v.size, 0);
	}
	tasq_blobs_buf_fini(&buf);
}

TEST(builder_empty_items_and_refusals)
{
	tasq_blobs_buf buf;
	tasq_blobs     v;

	tasq_blobs_buf_init(&buf);
	// Items of length 0 cannot be width 0 (that means lengths follow).
	ASSERT_OK(tasq_blobs_buf_add(&buf, NULL, 0));
	ASSERT_OK(tasq_blobs_buf_add(&buf, NULL, 0));
	tasq_blobs_buf_view(&buf, &v);
	ASSERT_OK(tasq_blobs_check(&v, 2, 8));
	ASSERT_EQ(v.size, 0);
	ASSERT_NULL(tasq_blobs_buf_add_fixed(&buf, 1, 0));
	ASSERT_NULL(tasq_blobs_buf_add_fixed(&buf, SIZE_MAX / 2, 4));
	ASSERT_EQ(buf.n, 2);
	if (sizeof(size_t) > 4) {
		ASSERT_RV(
		    tasq_blobs_buf_add(&buf, "", (size_t) UINT32_MAX + 1),
		    TASQ_EINVALID_ARGUMENT);
	}
	tasq_blobs_buf_fini(&buf);
}

TASQ_TEST_MAIN()
