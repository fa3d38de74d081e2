// auth: the shared-key keyring and the HMAC-SHA256 authenticator of the
// envelope (lib/envelope.h, docs/PROTOCOL.md).
//
// A key is 16..1024 bytes of secret material. Its key id is the first four
// bytes (big-endian) of SHA-256("tasq-key-id\0" || key); id 0 is reserved
// for unsigned error replies to peers that failed authentication. The
// first key added is the one used to sign; any key in the ring verifies.
//
// A keyring is built once at start-up and then only read: every function
// taking a const keyring is thread-safe.
#ifndef TASQ_AUTH_H
#define TASQ_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>

#include "envelope.h"

#define TASQ_KEY_MIN 16
#define TASQ_KEY_MAX 1024
#define TASQ_MAX_KEYS 8

typedef struct tasq_keyring tasq_keyring;

// tasq_keyring_alloc returns a new empty keyring (free with
// tasq_keyring_free). Errors: NNG_ENOMEM.
int  tasq_keyring_alloc(tasq_keyring **krp);
void tasq_keyring_free(tasq_keyring *kr);

// tasq_keyring_add copies key (len bytes) into the ring; *idp (may be NULL)
// gets its id. Errors: TASQ_EINVALID_ARGUMENT (length, duplicate id, ring
// full), NNG_ENOMEM.
int tasq_keyring_add(
    tasq_keyring *kr, const uint8_t *key, size_t len, uint32_t *idp);

// tasq_keyring_load_file reads a key file: the whole file, trailing
// whitespace removed. A file that group or others can read is refused.
// On failure, err (errlen bytes) says why, naming the file but never the
// key. Errors: TASQ_EPERMISSION_DENIED, TASQ_EINVALID_ARGUMENT,
// TASQ_ENOT_FOUND.
int tasq_keyring_load_file(
    tasq_keyring *kr, const char *path, char *err, size_t errlen);

// tasq_keyring_count returns the number of keys.
int tasq_keyring_count(const tasq_keyring *kr);

// tasq_auth_tag computes HMAC-SHA256 with key key_id over data.
// Errors: TASQ_EUNAUTHENTICATED (unknown key id), TASQ_EINTERNAL.
int tasq_auth_tag(const tasq_keyring *kr, uint32_t key_id, const uint8_t *data,
    size_t len, uint8_t tag[TASQ_ENV_TAG_LEN]);

// tasq_auth_seal finishes message m whose body starts at offset
// TASQ_ENV_HDR_LEN (the first TASQ_ENV_HDR_LEN bytes are reserved): it
// sets h->key_id to the signing key (or 0 when kr is NULL, an unsigned
// message with an all-zero tag; a non-zero h->key_id that the ring holds
// is kept: a reply is signed with its request's key, which is what
// lets peers with only one of the server's keys verify it during a
// rotation), h->body_len, writes the header and
// appends the tag. Borrows m. Errors: NNG_ENOMEM, TASQ_EINTERNAL.
int tasq_auth_seal(const tasq_keyring *kr, tasq_env_hdr *h, nng_msg *m);

// tasq_auth_open parses and verifies buf (len bytes). On success fills h,
// sets *bodyp to the body inside buf and returns 0. Returns
// TASQ_EINVALID_ARGUMENT for a malformed envelope and TASQ_EUNAUTHENTICATED
// for an unknown key id or a bad tag; in the latter case h is filled so
// that a caller can recognise an unsigned error reply (key_id 0).
int tasq_auth_open(const tasq_keyring *kr, const uint8_t *buf, size_t len,
    tasq_env_hdr *h, const uint8_t **bodyp);

// tasq_keyring_setup builds the keyring of a program: from key_file when
// it is not NULL (a comma-separated list of files: the first key signs,
// all of them verify, which is how keys are rotated), else from the TASQ_KEY
// environment variable (the key itself). Returns new (free with
// tasq_keyring_free); err says why not.
int tasq_keyring_setup(
    const char *key_file, tasq_keyring **krp, char *err, size_t errlen);
#endif
