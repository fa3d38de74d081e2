// envelope: the fixed binary header and trailer around every tasq message.
//
// Layout (all integers big-endian; docs/PROTOCOL.md is the contract):
//   0  2  magic 0x54 0x51 ("TQ")
//   2  1  version (1)
//   3  1  kind (1 request, 2 reply)
//   4  4  key_id
//   8  8  sender_id
//  16  8  seq
//  24  8  timestamp_ms (Unix time)
//  32  8  reply_to (the request's seq in a reply, 0 in a request)
//  40  2  method
//  42  2  status (gRPC code; 0 in a request)
//  44  4  deadline_ms (request: the caller's remaining budget; 0 = none)
//  48  4  body_len
//  52  .  body (protobuf), body_len bytes
//  ..  32 tag: HMAC-SHA256(key, bytes 0 .. 52+body_len-1)
//
// The functions here are pure (no allocation, no locks): thread-safe.
#ifndef TASQ_ENVELOPE_H
#define TASQ_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#define TASQ_ENV_MAGIC0 0x54
#define TASQ_ENV_MAGIC1 0x51
#define TASQ_ENV_VERSION 1
#define TASQ_ENV_HDR_LEN 52
#define TASQ_ENV_TAG_LEN 32
#define TASQ_ENV_OVERHEAD (TASQ_ENV_HDR_LEN + TASQ_ENV_TAG_LEN)

enum tasq_env_kind {
	TASQ_ENV_REQUEST = 1,
	TASQ_ENV_REPLY   = 2,
};

typedef struct tasq_env_hdr {
	uint8_t  version;
	uint8_t  kind;
	uint32_t key_id;
	uint64_t sender_id;
	uint64_t seq;
	uint64_t timestamp_ms;
	uint64_t reply_to;
	uint16_t method;
	uint16_t status;
	uint32_t deadline_ms;
	uint32_t body_len;
} tasq_env_hdr;

// tasq_env_put writes h into out (TASQ_ENV_HDR_LEN bytes), with the magic.
void tasq_env_put(const tasq_env_hdr *h, uint8_t *out);

// tasq_env_parse checks that buf (len bytes) is a whole envelope: magic,
// version, a known kind and body_len equal to len minus the overhead. On
// success it fills h and returns 0; otherwise TASQ_EINVALID_ARGUMENT and h
// is unspecified. It does not check the tag (see tasq_auth_open).
int tasq_env_parse(const uint8_t *buf, size_t len, tasq_env_hdr *h);

#endif
