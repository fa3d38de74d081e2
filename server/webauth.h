// webauth: proof that an HTTP request to the metrics listener's actions
// (POST /api/jobs/ID/cancel and /retry, server/webapi.h) comes from a
// holder of the shared key, without the key travelling and without a
// captured request being accepted twice (docs/PROTOCOL.md 15,
// docs/SECURITY.md).
//
// The request carries one header
//
//	Authorization: TASQ-HMAC-SHA256 key=KID,sender=SENDER,seq=SEQ,
//	    ts=TS,sig=SIG
//
// (one line; KID the key id in 8 lowercase hex digits, SENDER 16 lowercase
// hex digits, not 0, SEQ and TS decimal, TS in Unix milliseconds, SIG 64
// lowercase hex digits), where SIG is HMAC-SHA256 with the key KID names
// over the canonical string
//
//	"TASQ-HMAC-SHA256\n" METHOD "\n" TARGET "\n" KID "\n" SENDER "\n"
//	SEQ "\n" TS "\n" hex(SHA-256(body))
//
// (TARGET the request target as sent: path and query). (sender, seq, ts)
// then go through the RPCs' replay table (lib/replay.h): the same
// window, the same --clock-skew. Thread-safe (the keyring is read-only,
// the replay table has its own lock).
#ifndef TASQ_WEBAUTH_H
#define TASQ_WEBAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "replay.h"

#define TASQ_WEBAUTH_SCHEME "TASQ-HMAC-SHA256"

// The parts of a request that the signature covers; all borrowed.
typedef struct tasq_webauth_req {
	const char *method;        // "POST"
	const char *target;        // "/api/jobs/00ab.../cancel"
	const void *body;          // may be NULL when body_len is 0
	size_t      body_len;      //
	const char *authorization; // the header's value, NULL: none
} tasq_webauth_req;

// tasq_webauth_check verifies req against the keyring kr and records its
// (sender, seq) in replay (now_ms on the stamp clock,
// tasq_clock_stamp_ms). Returns 0; TASQ_EUNAUTHENTICATED with *why (a
// static sentence for the reply's body) when the header is missing or
// malformed, the key unknown, the signature wrong, the request replayed
// or its timestamp outside --clock-skew; *replayed is set for the last
// two (the server counts them apart). TASQ_ERESOURCE_EXHAUSTED when the
// replay table is full.
int tasq_webauth_check(const tasq_keyring *kr, tasq_replay *replay,
    const tasq_webauth_req *req, uint64_t now_ms, bool *replayed,
    const char **why);

// tasq_webauth_sign writes the Authorization header's value for req (its
// authorization is ignored) signed with key key_id of kr into out (len
// bytes; 200 suffice). For tests and tools; the dashboard signs in
// JavaScript. Errors: TASQ_EUNAUTHENTICATED (unknown key id),
// TASQ_EINVALID_ARGUMENT (out too small).
int tasq_webauth_sign(const tasq_keyring *kr, uint32_t key_id,
    const tasq_webauth_req *req, uint64_t sender, uint64_t seq, uint64_t ts_ms,
    char *out, size_t len);

#endif
