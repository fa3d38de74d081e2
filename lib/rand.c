#include "rand.h"

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include <openssl/rand.h>

#include "clock.h"

uint64_t
tasq_random64(void)
{
	uint64_t v = 0;

	while (v == 0) {
		if (RAND_bytes((unsigned char *) &v, sizeof(v)) != 1) {
			// The CSPRNG failing is not recoverable; mix in
			// what we have rather than return a fixed value.
			v = ((uint64_t) nng_random() << 32) ^ nng_random() ^
			    tasq_clock_wall_ms();
		}
	}
	return (v);
}
