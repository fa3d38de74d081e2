// fuzz_heartbeat: the check of a message on the heartbeat port
// (tasq_heartbeat_check, server/heartbeat.h), which takes anything a peer
// pushes. The first input byte picks the mode: even, the rest is the
// message as it comes off the socket; odd, the rest is a body that is
// sealed here into a fresh request envelope signed with the fuzz key, of
// method (byte >> 1) % 12, so that the fuzzer reaches the method check
// and the decoder. Invariants: an accepted message is an Extend with at
// most TASQ_WIRE_MAX_BATCHES lease ids and came signed; a refused one
// names a reason and one of the documented counters; a signed message of
// another method is refused as requests_invalid.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>

#include "auth.h"
#include "broker.h"
#include "clock.h"
#include "envelope.h"
#include "err.h"
#include "fuzz.h"
#include "heartbeat.h"
#include "replay.h"
#include "wire.h"

static tasq_keyring *keys; // built once, kept for the process
static uint64_t      sender;

static const tasq_keyring *
keyring(void)
{
	int rv;

	if (keys == NULL &&
	    ((rv = tasq_keyring_alloc(&keys)) != 0 ||
	        (rv = tasq_keyring_add(keys, (const uint8_t *) TASQ_FUZZ_KEY,
	             TASQ_FUZZ_KEY_LEN, NULL)) != 0)) {
		fprintf(stderr, "fuzz_heartbeat: keyring: %s\n",
		    tasq_strerror(rv));
		abort();
	}
	return (keys);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const tasq_keyring *kr  = keyring();
	uint64_t            now = tasq_clock_stamp_ms();
	tasq_replay        *rp;
	tasq_req            req;
	tasq_env_hdr        h;
	nng_msg            *m = NULL;
	const uint8_t      *buf;
	const char         *why = NULL;
	size_t              len;
	int                 method = -1, ctr = -1, rv;

	if (size == 0 || tasq_replay_alloc(&rp, 4, 60000, 0, 0) != 0) {
		return (0);
	}
	if ((data[0] & 1) != 0) {
		method = (data[0] >> 1) % 12;
		if (nng_msg_alloc(&m, TASQ_ENV_HDR_LEN) != 0 ||
		    nng_msg_append(m, data + 1, size - 1) != 0) {
			goto out;
		}
		memset(&h, 0, sizeof(h));
		h.kind         = TASQ_ENV_REQUEST;
		h.sender_id    = ++sender;
		h.seq          = 1;
		h.timestamp_ms = now;
		h.method       = (uint16_t) method;
		if (tasq_auth_seal(kr, &h, m) != 0) {
			goto out;
		}
		buf = nng_msg_body(m);
		len = nng_msg_len(m);
	} else {
		buf = data + 1;
		len = size - 1;
	}
	rv = tasq_heartbeat_check(kr, rp, buf, len, now, &req, &ctr, &why);
	if (rv == 0) {
		FUZZ_CHECK_EQ(req.method, TASQ_M_EXTEND);
		FUZZ_CHECK(req.u.extend.n <= TASQ_WIRE_MAX_BATCHES);
		FUZZ_CHECK(
		    req.u.extend.n == 0 || req.u.extend.lease_ids != NULL);
		// Raw bytes cannot carry a valid tag without the key.
		FUZZ_CHECK(method == TASQ_M_EXTEND || method < 0);
		tasq_wire_req_fini(&req);
		// The same message again is a replay.
		rv = tasq_heartbeat_check(
		    kr, rp, buf, len, now, &req, &ctr, &why);
		FUZZ_CHECK_EQ(rv, TASQ_EUNAUTHENTICATED);
		FUZZ_CHECK_EQ(ctr, TASQ_CTR_REPLAYS);
	} else {
		FUZZ_CHECK(why != NULL);
		FUZZ_CHECK(ctr == TASQ_CTR_MALFORMED ||
		    ctr == TASQ_CTR_AUTH_FAILURES || ctr == TASQ_CTR_REPLAYS ||
		    ctr == TASQ_CTR_BAD_REQUESTS ||
		    ctr == TASQ_CTR_RESOURCE_EXHAUSTED);
		if (method >= 0 && method != TASQ_M_EXTEND) {
			FUZZ_CHECK_EQ(ctr, TASQ_CTR_BAD_REQUESTS);
		}
	}
out:
	if (m != NULL) {
		nng_msg_free(m);
	}
	tasq_replay_free(rp);
	return (0);
}
