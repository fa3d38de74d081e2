// crc32c: CRC-32C (Castagnoli), the checksum of journal records.
// Pure and thread-safe.
#ifndef TASQ_CRC32C_H
#define TASQ_CRC32C_H

#include <stddef.h>
#include <stdint.h>

// tasq_crc32c continues crc (0 to start) over len bytes of p.
uint32_t tasq_crc32c(uint32_t crc, const void *p, size_t len);

#endif
