// fuzz_envelope: the first code that sees a peer's bytes. The input is a
// whole message as it comes off the socket: tasq_env_parse and
// tasq_auth_open (the authenticator) must classify it without reading
// outside it; an envelope that parses must survive tasq_env_put and
// tasq_auth_seal and open again with the same header. Its sender, seq and
// timestamp then go through the replay check (lib/replay.h), which must
// accept them once and refuse them again.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>

#include "auth.h"
#include "envelope.h"
#include "err.h"
#include "fuzz.h"
#include "replay.h"

static tasq_keyring *keys; // built once, kept for the process
static uint32_t      key_id;

static const tasq_keyring *
keyring(void)
{
	int rv;

	if (keys != NULL) {
		return (keys);
	}
	if ((rv = tasq_keyring_alloc(&keys)) != 0 ||
	    (rv = tasq_keyring_add(keys, (const uint8_t *) TASQ_FUZZ_KEY,
	         TASQ_FUZZ_KEY_LEN, &key_id)) != 0) {
		// Set-up, not input: nothing sensible to fuzz without it.
		fprintf(
		    stderr, "fuzz_envelope: keyring: %s\n", tasq_strerror(rv));
		abort();
	}
	return (keys);
}

static void
same_hdr(const tasq_env_hdr *a, const tasq_env_hdr *b)
{
	FUZZ_CHECK_EQ(a->version, b->version);
	FUZZ_CHECK_EQ(a->kind, b->kind);
	FUZZ_CHECK_EQ(a->key_id, b->key_id);
	FUZZ_CHECK_EQ(a->sender_id, b->sender_id);
	FUZZ_CHECK_EQ(a->seq, b->seq);
	FUZZ_CHECK_EQ(a->timestamp_ms, b->timestamp_ms);
	FUZZ_CHECK_EQ(a->reply_to, b->reply_to);
	FUZZ_CHECK_EQ(a->method, b->method);
	FUZZ_CHECK_EQ(a->status, b->status);
	FUZZ_CHECK_EQ(a->deadline_ms, b->deadline_ms);
	FUZZ_CHECK_EQ(a->body_len, b->body_len);
}

// Re-seals the parsed envelope's body with h (signed when kr is not NULL)
// and opens the result again.
static void
reseal(const tasq_keyring *kr, const tasq_env_hdr *h, const uint8_t *body)
{
	tasq_env_hdr   sh = *h, oh;
	const uint8_t *ob = NULL;
	nng_msg       *m;
	int            rv;

	if (nng_msg_alloc(&m, TASQ_ENV_HDR_LEN) != 0) {
		return;
	}
	if (nng_msg_append(m, body, h->body_len) != 0 ||
	    tasq_auth_seal(kr, &sh, m) != 0) {
		nng_msg_free(m);
		return;
	}
	FUZZ_CHECK(nng_msg_len(m) == TASQ_ENV_OVERHEAD + (size_t) h->body_len);
	rv = tasq_auth_open(
	    keyring(), nng_msg_body(m), nng_msg_len(m), &oh, &ob);
	if (kr != NULL) {
		FUZZ_CHECK_EQ(rv, 0);
		FUZZ_CHECK_EQ(sh.key_id, key_id);
		FUZZ_CHECK(
		    ob == (uint8_t *) nng_msg_body(m) + TASQ_ENV_HDR_LEN);
		FUZZ_CHECK(memcmp(ob, body, h->body_len) == 0);
	} else {
		// Unsigned (key id 0): parses, never authenticates.
		FUZZ_CHECK_EQ(rv, TASQ_EUNAUTHENTICATED);
		FUZZ_CHECK_EQ(oh.key_id, 0);
	}
	same_hdr(&sh, &oh);
	nng_msg_free(m);
}

// The server runs the replay check after authentication; the fuzzer
// cannot forge tags, so it gets every envelope that parses. A fresh table
// per input keeps inputs independent.
static void
replay(const tasq_env_hdr *h)
{
	tasq_replay *r;
	const char  *why;
	uint64_t     now = h->timestamp_ms, later;
	int          rv;

	// since_ms 0: no start-up floor, every fresh timestamp is accepted.
	if (tasq_replay_alloc(&r, 4, 300000, 0, 0) != 0) {
		return;
	}
	rv = tasq_replay_check(
	    r, h->sender_id, h->seq, h->timestamp_ms, now, &why);
	if (now <= UINT64_MAX / 2) {
		// A first message with the server's own time is fresh.
		FUZZ_CHECK_EQ(rv, 0);
	}
	if (rv == 0) {
		FUZZ_CHECK_EQ(tasq_replay_count(r), 1);
		rv = tasq_replay_check(
		    r, h->sender_id, h->seq, h->timestamp_ms, now, &why);
		FUZZ_CHECK_EQ(rv, TASQ_EUNAUTHENTICATED);
		// A later message moves the window (by a peer-chosen
		// distance); the first one stays refused, as a replay or as
		// too old.
		later = h->seq + (h->reply_to % 1024) + 1;
		if (later > h->seq) {
			rv = tasq_replay_check(r, h->sender_id, later,
			    h->timestamp_ms, now, &why);
			FUZZ_CHECK_EQ(rv, 0);
			rv = tasq_replay_check(r, h->sender_id, h->seq,
			    h->timestamp_ms, now, &why);
			FUZZ_CHECK_EQ(rv, TASQ_EUNAUTHENTICATED);
			rv = tasq_replay_check(r, h->sender_id, later,
			    h->timestamp_ms, now, &why);
			FUZZ_CHECK_EQ(rv, TASQ_EUNAUTHENTICATED);
		}
		// Another sender is independent of the first.
		rv = tasq_replay_check(
		    r, ~h->sender_id, h->seq, h->timestamp_ms, now, &why);
		FUZZ_CHECK_EQ(rv, 0);
		FUZZ_CHECK_EQ(tasq_replay_count(r), 2);
		// Long after, both are forgotten.
		if (now <= UINT64_MAX / 4) {
			tasq_replay_gc(r, now + 2 * 300000 + 1);
			FUZZ_CHECK_EQ(tasq_replay_count(r), 0);
		}
	}
	tasq_replay_free(r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const tasq_keyring *kr = keyring();
	tasq_env_hdr        h, oh;
	const uint8_t      *body = NULL;
	uint8_t             hdr[TASQ_ENV_HDR_LEN];
	int                 prv, orv;

	prv = tasq_env_parse(data, size, &h);
	FUZZ_CHECK(prv == 0 || prv == TASQ_EINVALID_ARGUMENT);
	orv = tasq_auth_open(kr, data, size, &oh, &body);
	FUZZ_CHECK(orv == 0 || orv == TASQ_EINVALID_ARGUMENT ||
	    orv == TASQ_EUNAUTHENTICATED);
	if (prv != 0) {
		FUZZ_CHECK_EQ(orv, TASQ_EINVALID_ARGUMENT);
		return (0);
	}
	FUZZ_CHECK_EQ(h.version, TASQ_ENV_VERSION);
	FUZZ_CHECK(h.kind == TASQ_ENV_REQUEST || h.kind == TASQ_ENV_REPLY);
	FUZZ_CHECK((size_t) h.body_len + TASQ_ENV_OVERHEAD == size);
	// The header is a fixed layout: writing it back gives the input.
	tasq_env_put(&h, hdr);
	FUZZ_CHECK(memcmp(hdr, data, TASQ_ENV_HDR_LEN) == 0);
	// A parsed envelope is classified by its tag only.
	FUZZ_CHECK(orv != TASQ_EINVALID_ARGUMENT);
	same_hdr(&h, &oh);
	if (orv == 0) {
		FUZZ_CHECK_EQ(h.key_id, key_id);
		FUZZ_CHECK(body == data + TASQ_ENV_HDR_LEN);
	}
	reseal(kr, &h, data + TASQ_ENV_HDR_LEN);
	reseal(NULL, &h, data + TASQ_ENV_HDR_LEN);
	replay(&h);
	return (0);
}
