// Unit tests of lib/envelope: the fixed header, byte by byte.
#include <stdint.h>
#include <string.h>

#include "envelope.h"
#include "err.h"
#include "tasq_test.h"

// A header whose every field has distinct bytes, so that a field written
// at the wrong offset or with the wrong width shows up.
static tasq_env_hdr
sample(uint32_t body_len)
{
	tasq_env_hdr h = {
		.version      = TASQ_ENV_VERSION,
		.kind         = TASQ_ENV_REPLY,
		.key_id       = 0x01020304u,
		.sender_id    = UINT64_C(0x1112131415161718),
		.seq          = UINT64_C(0x2122232425262728),
		.timestamp_ms = UINT64_C(0x3132333435363738),
		.reply_to     = UINT64_C(0x4142434445464748),
		.method       = 0x5152,
		.status       = 0x6162,
		.deadline_ms  = 0x71727374u,
		.body_len     = body_len,
	};
	return (h);
}

TEST(put_layout_is_big_endian_at_documented_offsets)
{
	static const uint8_t want[TASQ_ENV_HDR_LEN] = { 0x54, 0x51, 1, 2, 0x01,
		0x02, 0x03, 0x04, // key_id
		0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x21, 0x22,
		0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x31, 0x32, 0x33, 0x34,
		0x35, 0x36, 0x37, 0x38, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46,
		0x47, 0x48, 0x51, 0x52,   // method
		0x61, 0x62,               // status
		0x71, 0x72, 0x73, 0x74,   // deadline_ms
		0x00, 0x00, 0x01, 0x02 }; // body_len
	tasq_env_hdr         h                      = sample(0x102);
	uint8_t              buf[TASQ_ENV_HDR_LEN];

	tasq_env_put(&h, buf);
	ASSERT_MEM_EQ(buf, want, sizeof(want));
}

TEST(round_trip_every_field)
{
	uint8_t      buf[TASQ_ENV_OVERHEAD + 5];
	tasq_env_hdr h = sample(5), g;

	memset(buf, 0xee, sizeof(buf));
	tasq_env_put(&h, buf);
	ASSERT_OK(tasq_env_parse(buf, sizeof(buf), &g));
	ASSERT_EQ(g.version, h.version);
	ASSERT_EQ(g.kind, h.kind);
	ASSERT_EQ(g.key_id, h.key_id);
	ASSERT_EQ(g.sender_id, h.sender_id);
	ASSERT_EQ(g.seq, h.seq);
	ASSERT_EQ(g.timestamp_ms, h.timestamp_ms);
	ASSERT_EQ(g.reply_to, h.reply_to);
	ASSERT_EQ(g.method, h.method);
	ASSERT_EQ(g.status, h.status);
	ASSERT_EQ(g.deadline_ms, h.deadline_ms);
	ASSERT_EQ(g.body_len, 5);
}

TEST(round_trip_extremes_and_request_kind)
{
	uint8_t      buf[TASQ_ENV_OVERHEAD];
	tasq_env_hdr h = { .version = TASQ_ENV_VERSION,
		.kind               = TASQ_ENV_REQUEST,
		.key_id             = UINT32_MAX,
		.sender_id          = UINT64_MAX,
		.seq                = UINT64_MAX,
		.timestamp_ms       = UINT64_MAX,
		.reply_to           = 0,
		.method             = UINT16_MAX,
		.status             = 0,
		.deadline_ms        = UINT32_MAX,
		.body_len           = 0 };
	tasq_env_hdr g;

	tasq_env_put(&h, buf);
	ASSERT_OK(tasq_env_parse(buf, sizeof(buf), &g));
	ASSERT_EQ(g.kind, TASQ_ENV_REQUEST);
	ASSERT_EQ(g.key_id, UINT32_MAX);
	ASSERT_EQ(g.sender_id, UINT64_MAX);
	ASSERT_EQ(g.seq, UINT64_MAX);
	ASSERT_EQ(g.timestamp_ms, UINT64_MAX);
	ASSERT_EQ(g.reply_to, 0);
	ASSERT_EQ(g.method, UINT16_MAX);
	ASSERT_EQ(g.deadline_ms, UINT32_MAX);
	ASSERT_EQ(g.body_len, 0);
}

TEST(bad_magic)
{
	uint8_t      buf[TASQ_ENV_OVERHEAD + 1];
	tasq_env_hdr h = sample(1), g;

	tasq_env_put(&h, buf);
	buf[0] ^= 0x01;
	ASSERT_RV(
	    tasq_env_parse(buf, sizeof(buf), &g), TASQ_EINVALID_ARGUMENT);
	tasq_env_put(&h, buf);
	buf[1] = 0x00;
	ASSERT_RV(
	    tasq_env_parse(buf, sizeof(buf), &g), TASQ_EINVALID_ARGUMENT);
}

TEST(bad_version)
{
	uint8_t      buf[TASQ_ENV_OVERHEAD];
	tasq_env_hdr h = sample(0), g;

	h.version = 0;
	tasq_env_put(&h, buf);
	ASSERT_RV(
	    tasq_env_parse(buf, sizeof(buf), &g), TASQ_EINVALID_ARGUMENT);
	h.version = TASQ_ENV_VERSION + 1;
	tasq_env_put(&h, buf);
	ASSERT_RV(
	    tasq_env_parse(buf, sizeof(buf), &g), TASQ_EINVALID_ARGUMENT);
}

TEST(bad_kind)
{
	static const uint8_t kinds[] = { 0, 3, 0xff };
	uint8_t              buf[TASQ_ENV_OVERHEAD];
	tasq_env_hdr         h = sample(0), g;

	for (size_t i = 0; i < sizeof(kinds); i++) {
		h.kind = kinds[i];
		tasq_env_put(&h, buf);
		ASSERT_RV(tasq_env_parse(buf, sizeof(buf), &g),
		    TASQ_EINVALID_ARGUMENT);
	}
}

TEST(body_len_mismatch)
{
	uint8_t      buf[TASQ_ENV_OVERHEAD + 8];
	tasq_env_hdr h, g;

	// Claims one byte more, one byte less, and a huge body.
	h = sample(9);
	tasq_env_put(&h, buf);
	ASSERT_RV(
	    tasq_env_parse(buf, sizeof(buf), &g), TASQ_EINVALID_ARGUMENT);
	h = sample(7);
	tasq_env_put(&h, buf);
	ASSERT_RV(
	    tasq_env_parse(buf, sizeof(buf), &g), TASQ_EINVALID_ARGUMENT);
	h = sample(UINT32_MAX);
	tasq_env_put(&h, buf);
	ASSERT_RV(
	    tasq_env_parse(buf, sizeof(buf), &g), TASQ_EINVALID_ARGUMENT);
	h = sample(8);
	tasq_env_put(&h, buf);
	ASSERT_OK(tasq_env_parse(buf, sizeof(buf), &g));
}

TEST(too_short)
{
	uint8_t      buf[TASQ_ENV_OVERHEAD];
	tasq_env_hdr h = sample(0), g;

	tasq_env_put(&h, buf);
	// Every length below the overhead fails, including a whole header
	// without its tag and the empty buffer.
	for (size_t len = 0; len < TASQ_ENV_OVERHEAD; len++) {
		ASSERT_RV(
		    tasq_env_parse(buf, len, &g), TASQ_EINVALID_ARGUMENT);
	}
	ASSERT_OK(tasq_env_parse(buf, TASQ_ENV_OVERHEAD, &g));
}

TASQ_TEST_MAIN()
