// compute: the task functions a worker runs. Pure and thread-safe.
#ifndef TASQ_COMPUTE_H
#define TASQ_COMPUTE_H

#include <stdint.h>

// tasq_compute_square sets *out = in * in. Returns 0, or
// TASQ_EOUT_OF_RANGE (and leaves *out alone) when the square does not fit
// in an int64 (|in| > 3037000499).
int tasq_compute_square(int64_t in, int64_t *out);

#endif
