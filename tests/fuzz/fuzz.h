// fuzz: what the fuzz targets, the replay runner and the seed generator
// share. Each target is one .c file defining LLVMFuzzerTestOneInput; it is
// linked either with libFuzzer (-DTASQ_FUZZ=ON, clang) or with
// replay_main.c, which feeds it the committed corpus in every build.
//
// Targets must never leak and never abort on any input: peer input is
// answered with an error, so an abort (assert, sanitizer report) is a bug
// in tasq, not in the input.
#ifndef TASQ_FUZZ_H
#define TASQ_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

// Checks of tasq's own invariants (a failure is a bug, reported as a
// crash). Unlike assert they stay on in release builds.
#define FUZZ_CHECK(c)                                                         \
	do {                                                                  \
		if (!(c)) {                                                   \
			fprintf(stderr, "%s:%d: check failed: %s\n",          \
			    __FILE__, __LINE__, #c);                          \
			abort();                                              \
		}                                                             \
	} while (0)

#define FUZZ_CHECK_EQ(a, b)                                                   \
	do {                                                                  \
		unsigned long long a_ = (unsigned long long) (a);             \
		unsigned long long b_ = (unsigned long long) (b);             \
		if (a_ != b_) {                                               \
			fprintf(stderr,                                       \
			    "%s:%d: check failed: %s == %s (%llu != %llu)\n", \
			    __FILE__, __LINE__, #a, #b, a_, b_);              \
			abort();                                              \
		}                                                             \
	} while (0)

// The shared key of fuzz_envelope's keyring: seeds produced by
// gen_corpus.c are signed with it so that the fuzzer starts from
// envelopes that pass authentication.
#define TASQ_FUZZ_KEY "tasq fuzz key: 32 bytes, fixed!!"
#define TASQ_FUZZ_KEY_LEN 32

// A fuzz_service input is a sequence of records: op (1 byte), body length
// (2 bytes, big-endian), body. The low four bits of op select what to do,
// the high four bits the connection (pipe id 1 + (op >> 4) % 8).
enum tasq_fuzz_op {
	// 0 .. 8: a request of method op (enum tasq_method), body as is
	TASQ_FUZZ_OP_BADMETHOD = 9, // decode with an unknown method number
	TASQ_FUZZ_OP_TICK = 10,     // advance the clock by body[0..3] ms, tick
	TASQ_FUZZ_OP_PIPE_GONE = 11, // the op's connection closes
	TASQ_FUZZ_OP_CHECK     = 12, // check the broker's counters (stats)
	// Helpers that build a well-formed request from earlier replies, so
	// that the fuzzer reaches deep states without guessing ids:
	// results for the tasks of the last Lease reply. body[0]: how many
	// (0 = all), body[1]: bit i set = task i fails, body[2]: worker id
	// offset (another worker's results are late), body[3] bit 0: hand
	// them in with a Lease (of body[4] tasks) instead of a Complete.
	TASQ_FUZZ_OP_COMPLETE_LAST = 13,
	// Fetch of the last job submitted or leased, acknowledging its last
	// delivery. body[0]: max_results, body[1] bit 0: do not acknowledge.
	TASQ_FUZZ_OP_FETCH_ACK = 14,
	// 15: ignored (the record is skipped)
};

// The method a decoder target tries, from one input byte: every method,
// and as part of the input space unknown ones, 11 (one past the last) and
// a few negative numbers.
#define TASQ_FUZZ_METHODS 16
static inline int
fuzz_pick_method(uint8_t b)
{
	return (b < 240 ? b % TASQ_FUZZ_METHODS : 239 - (int) b);
}

// Checks that a decoded string came back equal to the one encoded.
static inline void
fuzz_same_str(const char *a, const char *b)
{
	FUZZ_CHECK(a != NULL && b != NULL);
	FUZZ_CHECK(strcmp(a, b) == 0);
}

// Checks that a decoded string is UTF-8 (RFC 3629: no overlong forms,
// surrogates or code points past U+10FFFF), at most TASQ_WIRE_MAX_TEXT
// bytes, and for a label free of control characters (C0, DEL, C1). An
// independent implementation of what the decoders promise.
static inline void
fuzz_check_text(const char *str, bool label)
{
	const unsigned char *s = (const unsigned char *) str;
	size_t               n = strlen(str), i = 0;

	FUZZ_CHECK(n <= 1024);
	while (i < n) {
		unsigned long c = s[i];
		size_t k = c < 0x80 ? 0 : c < 0xe0 ? 1 : c < 0xf0 ? 2 : 3;
		FUZZ_CHECK(c < 0x80 || (c >= 0xc2 && c <= 0xf4));
		FUZZ_CHECK(i + k < n);
		c &= k == 0 ? 0x7f : k == 1 ? 0x1f : k == 2 ? 0x0f : 0x07;
		for (size_t j = 1; j <= k; j++) {
			FUZZ_CHECK((s[i + j] & 0xc0) == 0x80);
			c = c << 6 | (s[i + j] & 0x3f);
		}
		FUZZ_CHECK(k != 1 || c >= 0x80);
		FUZZ_CHECK(k != 2 || c >= 0x800);
		FUZZ_CHECK(k != 3 || (c >= 0x10000 && c <= 0x10ffff));
		FUZZ_CHECK(c < 0xd800 || c > 0xdfff);
		if (label) {
			FUZZ_CHECK(c >= 0x20 && (c < 0x7f || c > 0x9f));
		}
		i += k + 1;
	}
}

#endif
