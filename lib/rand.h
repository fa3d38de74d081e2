// rand: random numbers for ids that must not repeat or be guessed (job,
// sender and server ids, sequence starts, fetch delivery numbers).
//
// Thread-safe; cannot fail.
#ifndef TASQ_RAND_H
#define TASQ_RAND_H

#include <stdint.h>

// tasq_random64 returns 64 random bits from OpenSSL's CSPRNG (never 0).
uint64_t tasq_random64(void);

#endif
