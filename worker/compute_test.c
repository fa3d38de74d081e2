// Unit tests of worker/compute: squares at the edges of int64.
#include <stdint.h>

#include "compute.h"
#include "err.h"
#include "tasq_test.h"

// The largest |x| whose square fits: floor(sqrt(INT64_MAX)).
#define SQRT_MAX INT64_C(3037000499)

// A value the function must not touch on failure.
#define POISON INT64_C(0x5a5a5a5a5a5a5a5a)

TEST(small_values)
{
	int64_t out;

	ASSERT_OK(tasq_compute_square(0, &out));
	ASSERT_EQ(out, 0);
	ASSERT_OK(tasq_compute_square(1, &out));
	ASSERT_EQ(out, 1);
	ASSERT_OK(tasq_compute_square(-1, &out));
	ASSERT_EQ(out, 1);
	ASSERT_OK(tasq_compute_square(-12, &out));
	ASSERT_EQ(out, 144);
}

TEST(largest_square_fits)
{
	int64_t out;

	ASSERT_OK(tasq_compute_square(SQRT_MAX, &out));
	ASSERT_EQ(out, INT64_C(9223372030926249001));
	ASSERT_OK(tasq_compute_square(-SQRT_MAX, &out));
	ASSERT_EQ(out, INT64_C(9223372030926249001));
}

TEST(overflow_is_out_of_range_and_leaves_out)
{
	static const int64_t in[] = { SQRT_MAX + 1, -(SQRT_MAX + 1), INT64_MIN,
		INT64_MAX, INT64_MIN + 1 };

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		int64_t out = POISON;
		ASSERT_RV(
		    tasq_compute_square(in[i], &out), TASQ_EOUT_OF_RANGE);
		ASSERT_EQ(out, POISON);
	}
}

TASQ_TEST_MAIN()
