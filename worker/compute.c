#include "compute.h"

#include "err.h"

int
tasq_compute_square(int64_t in, int64_t *out)
{
	int64_t r;

	if (__builtin_mul_overflow(in, in, &r)) {
		return (TASQ_EOUT_OF_RANGE);
	}
	*out = r;
	return (0);
}
