// tasq_raw: hand-made tasq messages for adversarial integration tests.
//
//	tasq_raw URL garbage N [--key-file K] [--seed S]
//	tasq_raw URL method M --key-file K
//	tasq_raw URL health --key-file K
//	tasq_raw URL replay --key-file K
//	tasq_raw URL stale --key-file K
//	tasq_raw URL wrongkey --key-file K
//	tasq_raw URL bigsubmit N --key-file K
//
// Each request goes out on a REQ socket (nng never re-sends it by itself)
// and each reply is printed as one "status=NAME" line, where NAME is the
// envelope's status (OK, INVALID_ARGUMENT, UNAUTHENTICATED, ...), or
// "status=NONE error=TEXT" when no reply came. The exit status is 0 when
// every request got a reply, 1 when one did not, 2 on a usage error.
//
// garbage sends N messages of several kinds, from a seeded generator so a
// failure can be replayed with --seed: random bytes, a valid header over
// a body of the wrong length, a well-formed envelope with a random tag,
// and (with a key) a correctly signed envelope around a random body (of
// any method but Submit and Lease, whose random bodies could decode into
// real work). Replies may be anything but a crash or silence.
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "auth.h"
#include "chan.h"
#include "clock.h"
#include "envelope.h"
#include "err.h"
#include "wire.h"

static int           timeout_ms = 5000;
static tasq_keyring *keys;
static uint64_t      sender_id;
static uint64_t      next_seq;
static uint64_t      rng_state;

static _Noreturn void
usage(void)
{
	fprintf(stderr,
	    "usage: tasq_raw URL garbage N [--key-file K] [--seed S]\n"
	    "       tasq_raw URL method M --key-file K\n"
	    "       tasq_raw URL health|replay|stale|wrongkey --key-file K\n"
	    "       tasq_raw URL bigsubmit N --key-file K\n"
	    "options: --timeout MS (default 5000)\n");
	exit(2);
}

// splitmix64: small, seedable, good enough for garbage.
static uint64_t
rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (z ^ (z >> 31));
}

static void
rng_fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		p[i] = (uint8_t) rng();
	}
}

static _Noreturn void
die(const char *what, int rv)
{
	fprintf(stderr, "tasq_raw: %s: %s\n", what, tasq_strerror(rv));
	exit(1);
}

static void
open_socket(const char *url, nng_socket *s)
{
	int rv;

	if ((rv = nng_req0_open(s)) != 0) {
		die("nng_req0_open", rv);
	}
	(void) nng_socket_set_ms(
	    *s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	(void) nng_socket_set_ms(*s, NNG_OPT_RECVTIMEO, timeout_ms);
	(void) nng_socket_set_ms(*s, NNG_OPT_SENDTIMEO, timeout_ms);
	(void) nng_socket_set_size(*s, NNG_OPT_RECVMAXSZ, 64u << 20);
	if ((rv = nng_dial(*s, url, NULL, 0)) != 0) {
		die(url, rv);
	}
}

// Prints the status of reply m (or of the error) and frees m.
static bool
report(nng_msg *m, int rv)
{
	tasq_env_hdr h;

	if (rv != 0) {
		printf("status=NONE error=%s\n", nng_strerror(rv));
		fflush(stdout);
		return (false);
	}
	memset(&h, 0, sizeof(h));
	if (tasq_env_parse(nng_msg_body(m), nng_msg_len(m), &h) != 0 ||
	    h.kind != TASQ_ENV_REPLY) {
		printf("status=MALFORMED_REPLY len=%zu\n", nng_msg_len(m));
	} else {
		printf("status=%s\n", tasq_err_name(h.status));
	}
	fflush(stdout);
	nng_msg_free(m);
	return (true);
}

// Sends a copy of buf (len bytes) on ctx and waits for the reply.
static bool
roundtrip(nng_ctx ctx, const void *buf, size_t len)
{
	nng_aio *aio;
	nng_msg *m;
	int      rv;

	if ((rv = nng_aio_alloc(&aio, NULL, NULL)) != 0 ||
	    (rv = nng_msg_alloc(&m, 0)) != 0 ||
	    (rv = nng_msg_append(m, buf, len)) != 0) {
		die("alloc", rv);
	}
	nng_aio_set_timeout(aio, timeout_ms);
	nng_aio_set_msg(aio, m);
	nng_ctx_send(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0) {
		nng_msg_free(m);
		nng_aio_free(aio);
		return (report(NULL, rv));
	}
	nng_ctx_recv(ctx, aio);
	nng_aio_wait(aio);
	rv = nng_aio_result(aio);
	m  = rv == 0 ? nng_aio_get_msg(aio) : NULL;
	nng_aio_free(aio);
	return (report(m, rv));
}

static bool
roundtrip_sock(nng_socket s, const void *buf, size_t len)
{
	nng_ctx ctx;
	bool    ok;
	int     rv;

	if ((rv = nng_ctx_open(&ctx, s)) != 0) {
		die("nng_ctx_open", rv);
	}
	ok = roundtrip(ctx, buf, len);
	nng_ctx_close(ctx);
	return (ok);
}

// Signs m (body after TASQ_ENV_HDR_LEN reserved bytes) as a request of
// method with kr (NULL: unsigned), a fresh seq and the given timestamp.
static void
seal(const tasq_keyring *kr, nng_msg *m, uint16_t method, uint64_t ts_ms)
{
	tasq_env_hdr h;
	int          rv;

	memset(&h, 0, sizeof(h));
	h.version      = TASQ_ENV_VERSION;
	h.kind         = TASQ_ENV_REQUEST;
	h.sender_id    = sender_id;
	h.seq          = ++next_seq;
	h.timestamp_ms = ts_ms;
	h.method       = method;
	h.deadline_ms  = (uint32_t) timeout_ms;
	if ((rv = tasq_auth_seal(kr, &h, m)) != 0) {
		die("tasq_auth_seal", rv);
	}
}

static nng_msg *
empty_request(uint16_t method, const tasq_keyring *kr, uint64_t ts_ms)
{
	nng_msg *m;
	int      rv;

	if ((rv = nng_msg_alloc(&m, TASQ_ENV_HDR_LEN)) != 0) {
		die("nng_msg_alloc", rv);
	}
	memset(nng_msg_body(m), 0, TASQ_ENV_HDR_LEN);
	seal(kr, m, method, ts_ms);
	return (m);
}

static bool
send_msg(nng_socket s, nng_msg *m)
{
	bool ok = roundtrip_sock(s, nng_msg_body(m), nng_msg_len(m));

	nng_msg_free(m);
	return (ok);
}

static int
cmd_garbage(nng_socket s, long n)
{
	long    replies = 0;
	uint8_t buf[1024];

	for (long i = 0; i < n; i++) {
		size_t       len = (size_t) (rng() % sizeof(buf));
		tasq_env_hdr h;
		int          kind = (int) (rng() % (keys != NULL ? 4 : 3));

		rng_fill(buf, len);
		memset(&h, 0, sizeof(h));
		h.version      = TASQ_ENV_VERSION;
		h.kind         = TASQ_ENV_REQUEST;
		h.sender_id    = rng();
		h.seq          = rng();
		h.timestamp_ms = tasq_clock_wall_ms();
		h.method       = (uint16_t) (rng() % 12);
		if (h.method == TASQ_M_SUBMIT || h.method == TASQ_M_LEASE) {
			// A random body that decodes would queue or lease
			// real tasks and disturb the test that follows.
			h.method = TASQ_M_HEALTH;
		}
		if (kind == 1 && len >= TASQ_ENV_HDR_LEN) {
			// A valid header whose body_len does not add up.
			h.body_len = (uint32_t) rng();
			tasq_env_put(&h, buf);
		} else if (kind == 2 && len >= TASQ_ENV_OVERHEAD) {
			// Well formed, but the tag is random.
			h.key_id   = (uint32_t) rng();
			h.body_len = (uint32_t) (len - TASQ_ENV_OVERHEAD);
			tasq_env_put(&h, buf);
		} else if (kind == 3) {
			// Correctly signed random body: must fail decoding
			// (or be a harmless valid request), never crash.
			nng_msg *m;
			size_t   blen = len % 256;
			int      rv;
			if ((rv = nng_msg_alloc(&m, TASQ_ENV_HDR_LEN)) != 0 ||
			    (rv = nng_msg_append(m, buf, blen)) != 0) {
				die("alloc", rv);
			}
			seal(keys, m, h.method, tasq_clock_wall_ms());
			replies += send_msg(s, m);
			continue;
		}
		replies += roundtrip_sock(s, buf, len);
	}
	printf("replies=%ld/%ld\n", replies, n);
	return (replies == n ? 0 : 1);
}

static int
cmd_replay(nng_socket s)
{
	nng_msg *m  = empty_request(TASQ_M_HEALTH, keys, tasq_clock_wall_ms());
	bool     ok = true;

	// The same bytes twice, each on a context of its own.
	ok &= roundtrip_sock(s, nng_msg_body(m), nng_msg_len(m));
	ok &= roundtrip_sock(s, nng_msg_body(m), nng_msg_len(m));
	nng_msg_free(m);
	return (ok ? 0 : 1);
}

static int
cmd_bigsubmit(nng_socket s, long n)
{
	tasq_req req;
	nng_msg *m;
	int64_t *vals;
	int      rv;

	if ((vals = malloc((size_t) n * sizeof(*vals))) == NULL) {
		die("malloc", NNG_ENOMEM);
	}
	for (long i = 0; i < n; i++) {
		vals[i] = i + 1;
	}
	memset(&req, 0, sizeof(req));
	req.method               = TASQ_M_SUBMIT;
	req.u.submit.queue       = "default";
	req.u.submit.job_id      = tasq_random64();
	req.u.submit.first_index = 0;
	req.u.submit.n           = (size_t) n;
	req.u.submit.values      = vals;
	if ((rv = tasq_wire_encode_req(&req, &m)) != 0) {
		die("tasq_wire_encode_req", rv);
	}
	free(vals);
	seal(keys, m, TASQ_M_SUBMIT, tasq_clock_wall_ms());
	fprintf(stderr, "tasq_raw: submit of %ld tasks, %zu bytes\n", n,
	    nng_msg_len(m));
	return (send_msg(s, m) ? 0 : 1);
}

// Sends one empty-bodied request of method signed with kr, its timestamp
// age_ms in the past. Returns the exit status.
static int
send_one(
    nng_socket s, uint16_t method, const tasq_keyring *kr, uint64_t age_ms)
{
	nng_msg *m = empty_request(method, kr, tasq_clock_wall_ms() - age_ms);

	return (send_msg(s, m) ? 0 : 1);
}

// A Health request signed with a random key the server cannot know.
static int
cmd_wrongkey(nng_socket s)
{
	tasq_keyring *other;
	uint8_t       k[32];
	int           rv;

	if ((rv = tasq_keyring_alloc(&other)) != 0) {
		die("keyring", rv);
	}
	rng_fill(k, sizeof(k));
	if ((rv = tasq_keyring_add(other, k, sizeof(k), NULL)) != 0) {
		die("keyring", rv);
	}
	rv = send_one(s, TASQ_M_HEALTH, other, 0);
	tasq_keyring_free(other);
	return (rv);
}

static void
load_key(const char *path)
{
	char err[512];
	int  rv;

	if ((rv = tasq_keyring_setup(path, &keys, err, sizeof(err))) != 0) {
		fprintf(stderr, "tasq_raw: %s\n", err);
		exit(2);
	}
}

static long
number(const char *s)
{
	char *end;
	long  v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 0) {
		usage();
	}
	return (v);
}

int
main(int argc, char **argv)
{
	const char *url, *cmd, *key_file = NULL;
	long        arg  = -1;
	uint64_t    seed = 0;
	nng_socket  s;
	int         rv = 2, i;

	if (argc < 3) {
		usage();
	}
	url = argv[1];
	cmd = argv[2];
	i   = 3;
	if (strcmp(cmd, "garbage") == 0 || strcmp(cmd, "method") == 0 ||
	    strcmp(cmd, "bigsubmit") == 0) {
		if (argc < 4) {
			usage();
		}
		arg = number(argv[3]);
		i   = 4;
	}
	for (; i < argc; i++) {
		if (strcmp(argv[i], "--key-file") == 0 && i + 1 < argc) {
			key_file = argv[++i];
		} else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
			seed = (uint64_t) number(argv[++i]);
		} else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			timeout_ms = (int) number(argv[++i]);
		} else {
			usage();
		}
	}
	if (key_file != NULL) {
		load_key(key_file);
	} else if (strcmp(cmd, "garbage") != 0) {
		fprintf(stderr, "tasq_raw: %s needs --key-file\n", cmd);
		return (2);
	}
	if (seed == 0) {
		seed = (uint64_t) time(NULL) ^ ((uint64_t) clock() << 20);
	}
	rng_state = seed;
	sender_id = tasq_random64();
	fprintf(
	    stderr, "tasq_raw: %s %s (seed %" PRIu64 ")\n", url, cmd, seed);
	open_socket(url, &s);

	if (strcmp(cmd, "garbage") == 0) {
		rv = cmd_garbage(s, arg);
	} else if (strcmp(cmd, "method") == 0) {
		if (arg > 65535) {
			usage();
		}
		rv = send_one(s, (uint16_t) arg, keys, 0);
	} else if (strcmp(cmd, "health") == 0) {
		rv = send_one(s, TASQ_M_HEALTH, keys, 0);
	} else if (strcmp(cmd, "replay") == 0) {
		rv = cmd_replay(s);
	} else if (strcmp(cmd, "stale") == 0) {
		// A day old: outside any sane clock-skew window.
		rv = send_one(s, TASQ_M_HEALTH, keys, 86400000);
	} else if (strcmp(cmd, "wrongkey") == 0) {
		rv = cmd_wrongkey(s);
	} else if (strcmp(cmd, "bigsubmit") == 0) {
		rv = cmd_bigsubmit(s, arg);
	} else {
		nng_close(s);
		usage();
	}
	nng_close(s);
	tasq_keyring_free(keys);
	return (rv);
}
