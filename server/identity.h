// identity: the server's identity, a non-zero 64-bit number that names it
// among several servers (shards, PROTOCOL.md "Sharding"). With a data
// directory it is made once, at the first start, and kept in
// <dir>/identity (16 lowercase hex digits and a newline, written
// atomically); without one every process draws its own. Distinct from the
// Health reply's server_id, which is new in every process.
#ifndef TASQ_IDENTITY_H
#define TASQ_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

// tasq_identity_new returns 64 random bits from RAND_bytes, never 0, in
// *idp. Fails (TASQ_EINTERNAL, err says why) only if the CSPRNG does.
int tasq_identity_new(uint64_t *idp, char *err, size_t errlen);

// tasq_identity_load reads <dir>/identity into *idp, or, when there is no
// such file, makes a new identity and writes it there (a temporary file,
// fsync, rename, fsync of the directory). dir must exist; the caller
// holds its lock (the journal's). A file that is not exactly 16 lowercase
// hex digits and a newline, or that says 0, is refused
// (TASQ_EFAILED_PRECONDITION, err names the file): never replaced, since
// the identity decides which jobs belong here. I/O errors are
// TASQ_EINTERNAL with err.
int tasq_identity_load(
    const char *dir, uint64_t *idp, char *err, size_t errlen);

#endif
