// tasq_hbpush: hand-made messages for the server's heartbeat port
// (server/heartbeat.h), pushed on an nng PUSH socket as a worker would.
//
//	tasq_hbpush HBURL SERVERURL KIND N --key-file K [--seed S]
//
// KIND (N messages of it, each counted by the server in
// heartbeats_received or heartbeats_refused):
//   valid     signed Extend requests (worker 1, lease ids that do not
//             exist: the server renews nothing and counts them received)
//   garbage   random bytes of random length, a third of them starting
//             with the envelope's magic and version (seeded: --seed)
//   unsigned  Extend envelopes with key id 0 and an all-zero tag
//   wrongkey  Extend envelopes signed with a key the server does not hold
//   replay    one valid message, then the same bytes N - 1 times more
//   stale     signed, stamped an hour ago
//   method    signed requests of another method (Release)
//   badbody   signed Extend envelopes whose body is not an ExtendRequest
//
// Push has no reply, so after sending it polls the server's Stats (over
// SERVERURL) until heartbeats_received + heartbeats_refused has grown by
// N, at most --timeout ms (default 10000). It prints "received=R
// refused=F" (the growth of each) and exits 0, or 1 when the counts did
// not grow by N in time, 2 on a usage error.
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/supplemental/util/platform.h>

#include "auth.h"
#include "chan.h"
#include "clock.h"
#include "envelope.h"
#include "err.h"
#include "rand.h"
#include "wire.h"

static uint64_t rng_state = 1;

static uint64_t
rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (z ^ (z >> 31));
}

static _Noreturn void
usage(void)
{
	fprintf(stderr,
	    "usage: tasq_hbpush HBURL SERVERURL "
	    "valid|garbage|unsigned|wrongkey|replay|stale|method|badbody N "
	    "--key-file K [--seed S] [--timeout MS]\n");
	exit(2);
}

static _Noreturn void
die(const char *what, int rv)
{
	fprintf(stderr, "tasq_hbpush: %s: %s\n", what, tasq_strerror(rv));
	exit(1);
}

// Reads the two heartbeat counters from Stats.
static void
counts(tasq_chan *c, uint64_t *received, uint64_t *refused)
{
	tasq_req req;
	tasq_rep rep;
	char     err[256];
	int      rv;

	memset(&req, 0, sizeof(req));
	req.method = TASQ_M_STATS;
	if ((rv = tasq_chan_call(c, &req, 5000, &rep, err, sizeof(err))) !=
	    0) {
		fprintf(stderr, "tasq_hbpush: stats: %s\n", err);
		exit(1);
	}
	*received = *refused = 0;
	for (size_t i = 0; i < rep.u.stats.ncounters; i++) {
		const tasq_counter *k = &rep.u.stats.counters[i];
		if (strcmp(k->name, "heartbeats_received") == 0) {
			*received = k->value;
		} else if (strcmp(k->name, "heartbeats_refused") == 0) {
			*refused = k->value;
		}
	}
	tasq_wire_rep_fini(&rep);
}

// An envelope of method around body (or an ExtendRequest when body is
// NULL), sealed by kr (NULL: unsigned).
static nng_msg *
message(const tasq_keyring *kr, int method, uint64_t sender, uint64_t seq,
    uint64_t ts_ms, const uint8_t *body, size_t blen)
{
	uint64_t     ids[2] = { 0x7fff0001, 0x7fff0002 };
	tasq_req     req;
	tasq_env_hdr h;
	nng_msg     *m;
	int          rv;

	if (body != NULL) {
		if ((rv = nng_msg_alloc(&m, TASQ_ENV_HDR_LEN)) != 0 ||
		    (rv = nng_msg_append(m, body, blen)) != 0) {
			die("message", rv);
		}
	} else {
		memset(&req, 0, sizeof(req));
		req.method             = method;
		req.u.extend.worker_id = 1;
		req.u.extend.n         = 2;
		req.u.extend.lease_ids = ids;
		if ((rv = tasq_wire_encode_req(&req, &m)) != 0) {
			die("encode", rv);
		}
	}
	memset(&h, 0, sizeof(h));
	h.kind         = TASQ_ENV_REQUEST;
	h.sender_id    = sender;
	h.seq          = seq;
	h.timestamp_ms = ts_ms;
	h.method       = (uint16_t) method;
	if ((rv = tasq_auth_seal(kr, &h, m)) != 0) {
		die("seal", rv);
	}
	return (m);
}

static nng_msg *
garbage(void)
{
	uint8_t  buf[300];
	size_t   len = (size_t) (rng() % sizeof(buf));
	nng_msg *m;
	int      rv;

	for (size_t i = 0; i < len; i++) {
		buf[i] = (uint8_t) rng();
	}
	if (len >= 4 && rng() % 3 == 0) {
		buf[0] = TASQ_ENV_MAGIC0;
		buf[1] = TASQ_ENV_MAGIC1;
		buf[2] = TASQ_ENV_VERSION;
		buf[3] = TASQ_ENV_REQUEST;
	}
	if ((rv = nng_msg_alloc(&m, 0)) != 0 ||
	    (rv = nng_msg_append(m, buf, len)) != 0) {
		die("message", rv);
	}
	return (m);
}

int
main(int argc, char **argv)
{
	tasq_keyring  *keys = NULL, *other = NULL;
	tasq_chan     *chan;
	tasq_chan_opts co;
	nng_socket     push;
	const char    *key_file = NULL, *kind;
	char           err[512];
	uint64_t       timeout_ms = 10000, n, sender, seq;
	uint64_t       r0, f0, r1, f1;
	nng_msg       *first = NULL;
	int            rv;

	if (argc < 5) {
		usage();
	}
	kind = argv[3];
	n    = strtoull(argv[4], NULL, 10);
	for (int i = 5; i < argc; i++) {
		if (strcmp(argv[i], "--key-file") == 0 && i + 1 < argc) {
			key_file = argv[++i];
		} else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
			rng_state = strtoull(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			timeout_ms = strtoull(argv[++i], NULL, 10);
		} else {
			usage();
		}
	}
	if (key_file == NULL || n == 0 || n > 100000) {
		usage();
	}
	if (tasq_keyring_setup(key_file, &keys, err, sizeof(err)) != 0) {
		fprintf(stderr, "tasq_hbpush: %s\n", err);
		return (2);
	}
	memset(&co, 0, sizeof(co));
	co.url                = argv[2];
	co.keys               = keys;
	co.connect_timeout_ms = 5000;
	co.max_msg_bytes      = 16 << 20;
	if ((rv = tasq_chan_open(&chan, &co, err, sizeof(err))) != 0) {
		fprintf(stderr, "tasq_hbpush: %s\n", err);
		return (1);
	}
	counts(chan, &r0, &f0);
	if ((rv = nng_push0_open(&push)) != 0 ||
	    (rv = nng_dial(push, argv[1], NULL, 0)) != 0) {
		die("dial", rv);
	}
	{
		static const uint8_t k[32] = "not-the-server-key-not-the-key!";
		if ((rv = tasq_keyring_alloc(&other)) != 0 ||
		    (rv = tasq_keyring_add(other, k, sizeof(k), NULL)) != 0) {
			die("keyring", rv);
		}
	}
	sender = tasq_random64();
	seq    = tasq_random64() >> 2;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t now   = tasq_clock_stamp_ms();
		uint8_t  bad[] = { 0xff, 0xff, 0xff, 0xff, 0x0f };
		nng_msg *m;

		if (strcmp(kind, "valid") == 0) {
			m = message(
			    keys, TASQ_M_EXTEND, sender, ++seq, now, NULL, 0);
		} else if (strcmp(kind, "garbage") == 0) {
			m = garbage();
		} else if (strcmp(kind, "unsigned") == 0) {
			m = message(
			    NULL, TASQ_M_EXTEND, sender, ++seq, now, NULL, 0);
		} else if (strcmp(kind, "wrongkey") == 0) {
			m = message(
			    other, TASQ_M_EXTEND, sender, ++seq, now, NULL, 0);
		} else if (strcmp(kind, "replay") == 0) {
			if (first == NULL) {
				first = message(keys, TASQ_M_EXTEND, sender,
				    ++seq, now, NULL, 0);
			}
			if ((rv = nng_msg_dup(&m, first)) != 0) {
				die("dup", rv);
			}
		} else if (strcmp(kind, "stale") == 0) {
			m = message(keys, TASQ_M_EXTEND, sender, ++seq,
			    now - 3600 * 1000, NULL, 0);
		} else if (strcmp(kind, "method") == 0) {
			m = message(
			    keys, TASQ_M_RELEASE, sender, ++seq, now, NULL, 0);
		} else if (strcmp(kind, "badbody") == 0) {
			m = message(keys, TASQ_M_EXTEND, sender, ++seq, now,
			    bad, sizeof(bad));
		} else {
			usage();
		}
		if ((rv = nng_sendmsg(push, m, 0)) != 0) {
			nng_msg_free(m);
			die("send", rv);
		}
	}
	if (first != NULL) {
		nng_msg_free(first);
	}
	// Push has no reply: the server's counters tell what arrived.
	nng_time until = nng_clock() + timeout_ms;
	for (;;) {
		counts(chan, &r1, &f1);
		if ((r1 - r0) + (f1 - f0) >= n || nng_clock() >= until) {
			break;
		}
		nng_msleep(20);
	}
	printf("received=%" PRIu64 " refused=%" PRIu64 "\n", r1 - r0, f1 - f0);
	nng_close(push);
	tasq_chan_close(chan);
	tasq_keyring_free(other);
	tasq_keyring_free(keys);
	return ((r1 - r0) + (f1 - f0) >= n ? 0 : 1);
}
