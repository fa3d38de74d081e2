// Unit tests of lib/auth: key ids, sealing and opening envelopes, key
// files and the TASQ_KEY environment variable.
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth.h"
#include "envelope.h"
#include "err.h"
#include "tasq_test.h"
#include "wire.h"

static const char key1[] = "0123456789abcdef-first-key";
static const char key2[] = "fedcba9876543210-second-key";

// The id as docs/PROTOCOL.md defines it, computed here independently.
static uint32_t
spec_key_id(const void *key, size_t len)
{
	static const char label[] = "tasq-key-id"; // with its NUL
	uint8_t           md[32];
	unsigned int      mdlen = 0;
	EVP_MD_CTX       *c     = EVP_MD_CTX_new();

	ASSERT_NOT_NULL(c);
	ASSERT_EQ(EVP_DigestInit_ex(c, EVP_sha256(), NULL), 1);
	ASSERT_EQ(EVP_DigestUpdate(c, label, sizeof(label)), 1);
	ASSERT_EQ(EVP_DigestUpdate(c, key, len), 1);
	ASSERT_EQ(EVP_DigestFinal_ex(c, md, &mdlen), 1);
	EVP_MD_CTX_free(c);
	return (((uint32_t) md[0] << 24) | ((uint32_t) md[1] << 16) |
	    ((uint32_t) md[2] << 8) | md[3]);
}

static tasq_keyring *
ring_of(const char *a, const char *b)
{
	tasq_keyring *kr;

	ASSERT_OK(tasq_keyring_alloc(&kr));
	ASSERT_OK(tasq_keyring_add(kr, (const uint8_t *) a, strlen(a), NULL));
	if (b != NULL) {
		ASSERT_OK(tasq_keyring_add(
		    kr, (const uint8_t *) b, strlen(b), NULL));
	}
	return (kr);
}

// A sealed Submit request, the way a client builds one.
static nng_msg *
sealed_submit(const tasq_keyring *kr, tasq_env_hdr *h)
{
	static int64_t values[] = { 3, -4, 5 };
	tasq_req       req      = { .method = TASQ_M_SUBMIT };
	nng_msg       *m;

	req.u.submit.queue       = "squares";
	req.u.submit.job_id      = 77;
	req.u.submit.first_index = 10;
	req.u.submit.n           = 3;
	req.u.submit.values      = values;
	ASSERT_OK(tasq_wire_encode_req(&req, &m));
	memset(h, 0, sizeof(*h));
	h->kind         = TASQ_ENV_REQUEST;
	h->sender_id    = UINT64_C(0xabcdef0123456789);
	h->seq          = 42;
	h->timestamp_ms = UINT64_C(1700000000000);
	h->method       = TASQ_M_SUBMIT;
	h->deadline_ms  = 5000;
	ASSERT_OK(tasq_auth_seal(kr, h, m));
	return (m);
}

static int
open_msg(const tasq_keyring *kr, nng_msg *m, tasq_env_hdr *h)
{
	const uint8_t *body = NULL;

	return (tasq_auth_open(kr, nng_msg_body(m), nng_msg_len(m), h, &body));
}

// Writes text to a new file in /tmp with the given mode; returns its path
// (free it, unlink it).
static char *
temp_file(const void *text, size_t len, mode_t mode)
{
	char *path = strdup("/tmp/tasq_auth_test.XXXXXX");
	int   fd;

	ASSERT_NOT_NULL(path);
	ASSERT_GE(fd = mkstemp(path), 0);
	ASSERT_EQ(write(fd, text, len), (ssize_t) len);
	ASSERT_EQ(fchmod(fd, mode), 0);
	ASSERT_EQ(close(fd), 0);
	return (path);
}

TEST(key_id_follows_spec_and_is_stable)
{
	tasq_keyring *a, *b;
	uint32_t      id1, id1b, id2;

	ASSERT_OK(tasq_keyring_alloc(&a));
	ASSERT_OK(tasq_keyring_alloc(&b));
	ASSERT_OK(
	    tasq_keyring_add(a, (const uint8_t *) key1, strlen(key1), &id1));
	ASSERT_OK(
	    tasq_keyring_add(b, (const uint8_t *) key1, strlen(key1), &id1b));
	ASSERT_OK(
	    tasq_keyring_add(b, (const uint8_t *) key2, strlen(key2), &id2));
	ASSERT_NE(id1, 0);
	ASSERT_NE(id2, 0);
	ASSERT_EQ(id1, id1b);
	ASSERT_NE(id1, id2);
	ASSERT_EQ(id1, spec_key_id(key1, strlen(key1)));
	ASSERT_EQ(id2, spec_key_id(key2, strlen(key2)));
	ASSERT_EQ(tasq_keyring_count(a), 1);
	ASSERT_EQ(tasq_keyring_count(b), 2);
	tasq_keyring_free(a);
	tasq_keyring_free(b);
	tasq_keyring_free(NULL);
}

TEST(tag_is_hmac_sha256_of_header_and_body)
{
	tasq_keyring *kr = ring_of(key1, NULL);
	tasq_env_hdr  h;
	nng_msg      *m   = sealed_submit(kr, &h);
	uint8_t      *buf = nng_msg_body(m);
	size_t        len = nng_msg_len(m);
	uint8_t       want[32], got[TASQ_ENV_TAG_LEN];
	unsigned int  wlen = 0;

	ASSERT_NOT_NULL(HMAC(EVP_sha256(), key1, (int) strlen(key1), buf,
	    len - TASQ_ENV_TAG_LEN, want, &wlen));
	ASSERT_EQ(wlen, 32);
	ASSERT_MEM_EQ(buf + len - TASQ_ENV_TAG_LEN, want, 32);
	ASSERT_OK(
	    tasq_auth_tag(kr, h.key_id, buf, len - TASQ_ENV_TAG_LEN, got));
	ASSERT_MEM_EQ(got, want, 32);
	ASSERT_RV(tasq_auth_tag(kr, h.key_id ^ 1, buf, 10, got),
	    TASQ_EUNAUTHENTICATED);
	ASSERT_RV(tasq_auth_tag(kr, 0, buf, 10, got), TASQ_EUNAUTHENTICATED);
	nng_msg_free(m);
	tasq_keyring_free(kr);
}

TEST(seal_open_round_trip)
{
	tasq_keyring  *kr = ring_of(key1, NULL);
	tasq_env_hdr   h, g;
	nng_msg       *m    = sealed_submit(kr, &h);
	const uint8_t *body = NULL;
	const char    *why  = NULL;
	tasq_req       req;

	ASSERT_EQ(h.version, TASQ_ENV_VERSION);
	ASSERT_EQ(h.key_id, spec_key_id(key1, strlen(key1)));
	ASSERT_EQ(h.body_len + TASQ_ENV_OVERHEAD, nng_msg_len(m));
	ASSERT_OK(
	    tasq_auth_open(kr, nng_msg_body(m), nng_msg_len(m), &g, &body));
	ASSERT_PTR_EQ(body, (uint8_t *) nng_msg_body(m) + TASQ_ENV_HDR_LEN);
	ASSERT_EQ(g.kind, TASQ_ENV_REQUEST);
	ASSERT_EQ(g.key_id, h.key_id);
	ASSERT_EQ(g.sender_id, h.sender_id);
	ASSERT_EQ(g.seq, 42);
	ASSERT_EQ(g.timestamp_ms, h.timestamp_ms);
	ASSERT_EQ(g.reply_to, 0);
	ASSERT_EQ(g.method, TASQ_M_SUBMIT);
	ASSERT_EQ(g.status, 0);
	ASSERT_EQ(g.deadline_ms, 5000);
	ASSERT_EQ(g.body_len, h.body_len);
	ASSERT_OK(
	    tasq_wire_decode_req(g.method, body, g.body_len, &req, &why));
	ASSERT_STR_EQ(req.u.submit.queue, "squares");
	ASSERT_EQ(req.u.submit.job_id, 77);
	ASSERT_EQ(req.u.submit.first_index, 10);
	ASSERT_EQ(req.u.submit.n, 3);
	ASSERT_EQ(req.u.submit.values[1], -4);
	tasq_wire_req_fini(&req);
	nng_msg_free(m);
	tasq_keyring_free(kr);
}

TEST(any_single_byte_change_fails)
{
	static const uint8_t masks[] = { 0x01, 0x80, 0xff };
	tasq_keyring        *kr      = ring_of(key1, NULL);
	tasq_env_hdr         h, g;
	nng_msg             *m   = sealed_submit(kr, &h);
	size_t               len = nng_msg_len(m);
	uint8_t             *buf = malloc(len);
	const uint8_t       *body;

	ASSERT_NOT_NULL(buf);
	for (size_t i = 0; i < len; i++) {
		for (size_t k = 0; k < sizeof(masks); k++) {
			int want;
			memcpy(buf, nng_msg_body(m), len);
			buf[i] ^= masks[k];
			// Damage to magic, version, kind or length is a
			// malformed envelope; any other change is caught by
			// the key id or the tag.
			want = tasq_env_parse(buf, len, &g) != 0
			    ? TASQ_EINVALID_ARGUMENT
			    : TASQ_EUNAUTHENTICATED;
			if (i >= 4 && i < 48) {
				ASSERT_EQ(want, TASQ_EUNAUTHENTICATED);
			}
			ASSERT_RV(
			    tasq_auth_open(kr, buf, len, &g, &body), want);
		}
	}
	// A truncated tag or an extra byte is malformed too.
	memcpy(buf, nng_msg_body(m), len);
	ASSERT_RV(tasq_auth_open(kr, buf, len - 1, &g, &body),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_OK(tasq_auth_open(kr, buf, len, &g, &body));
	free(buf);
	nng_msg_free(m);
	tasq_keyring_free(kr);
}

TEST(unknown_key_id_and_unsigned_messages)
{
	tasq_keyring *a = ring_of(key1, NULL), *b = ring_of(key2, NULL);
	tasq_env_hdr  h, g;
	nng_msg      *m                      = sealed_submit(a, &h);
	uint8_t       zero[TASQ_ENV_TAG_LEN] = { 0 };

	memset(&g, 0, sizeof(g));
	ASSERT_RV(open_msg(b, m, &g), TASQ_EUNAUTHENTICATED);
	ASSERT_EQ(g.key_id, h.key_id); // filled even on failure
	nng_msg_free(m);

	// Without a ring, seal makes an unsigned message: key id 0 and an
	// all-zero tag that no ring accepts.
	m = sealed_submit(NULL, &h);
	ASSERT_EQ(h.key_id, 0);
	ASSERT_MEM_EQ(
	    (uint8_t *) nng_msg_body(m) + nng_msg_len(m) - TASQ_ENV_TAG_LEN,
	    zero, TASQ_ENV_TAG_LEN);
	g.key_id = 99;
	ASSERT_RV(open_msg(a, m, &g), TASQ_EUNAUTHENTICATED);
	ASSERT_EQ(g.key_id, 0);
	nng_msg_free(m);
	tasq_keyring_free(a);
	tasq_keyring_free(b);
}

TEST(ring_of_two_keys_verifies_both_signs_with_first)
{
	tasq_keyring *a    = ring_of(key1, NULL);
	tasq_keyring *b    = ring_of(key2, NULL);
	tasq_keyring *both = ring_of(key1, key2);
	tasq_keyring *rev  = ring_of(key2, key1);
	tasq_env_hdr  h, g;
	nng_msg      *m;

	m = sealed_submit(a, &h);
	ASSERT_OK(open_msg(both, m, &g));
	ASSERT_OK(open_msg(rev, m, &g));
	ASSERT_RV(open_msg(b, m, &g), TASQ_EUNAUTHENTICATED);
	nng_msg_free(m);

	m = sealed_submit(b, &h);
	ASSERT_OK(open_msg(both, m, &g));
	ASSERT_OK(open_msg(rev, m, &g));
	ASSERT_RV(open_msg(a, m, &g), TASQ_EUNAUTHENTICATED);
	nng_msg_free(m);

	// The first key signs: a ring rotated to key2 first is read by a
	// peer that only has key2.
	m = sealed_submit(rev, &h);
	ASSERT_EQ(h.key_id, spec_key_id(key2, strlen(key2)));
	ASSERT_OK(open_msg(b, m, &g));
	ASSERT_RV(open_msg(a, m, &g), TASQ_EUNAUTHENTICATED);
	nng_msg_free(m);
	m = sealed_submit(both, &h);
	ASSERT_EQ(h.key_id, spec_key_id(key1, strlen(key1)));
	ASSERT_OK(open_msg(a, m, &g));
	nng_msg_free(m);

	tasq_keyring_free(a);
	tasq_keyring_free(b);
	tasq_keyring_free(both);
	tasq_keyring_free(rev);
}

TEST(key_length_duplicates_and_ring_size)
{
	uint8_t       key[TASQ_KEY_MAX + 1];
	tasq_keyring *kr;
	uint32_t      id = 0;

	memset(key, 'k', sizeof(key));
	ASSERT_OK(tasq_keyring_alloc(&kr));
	ASSERT_RV(tasq_keyring_add(kr, key, 0, &id), TASQ_EINVALID_ARGUMENT);
	ASSERT_RV(tasq_keyring_add(kr, key, TASQ_KEY_MIN - 1, &id),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_RV(tasq_keyring_add(kr, key, TASQ_KEY_MAX + 1, &id),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_EQ(id, 0);
	ASSERT_EQ(tasq_keyring_count(kr), 0);
	ASSERT_OK(tasq_keyring_add(kr, key, TASQ_KEY_MIN, &id));
	ASSERT_NE(id, 0);
	ASSERT_OK(tasq_keyring_add(kr, key, TASQ_KEY_MAX, NULL));
	// The same key again has the same id: refused.
	ASSERT_RV(tasq_keyring_add(kr, key, TASQ_KEY_MIN, NULL),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_EQ(tasq_keyring_count(kr), 2);
	for (size_t len = TASQ_KEY_MIN + 1;
	     tasq_keyring_count(kr) < TASQ_MAX_KEYS; len++) {
		ASSERT_OK(tasq_keyring_add(kr, key, len, NULL));
	}
	ASSERT_RV(
	    tasq_keyring_add(kr, key, 100, NULL), TASQ_EINVALID_ARGUMENT);
	ASSERT_EQ(tasq_keyring_count(kr), TASQ_MAX_KEYS);
	tasq_keyring_free(kr);
}

TEST(key_file_readable_by_others_is_refused)
{
	static const mode_t modes[] = { 0644, 0640, 0604, 0660, 0602 };
	char                err[512];

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		tasq_keyring *kr;
		char         *path = temp_file(key1, strlen(key1), modes[i]);

		ASSERT_OK(tasq_keyring_alloc(&kr));
		memset(err, 0, sizeof(err));
		ASSERT_RV(tasq_keyring_load_file(kr, path, err, sizeof(err)),
		    TASQ_EPERMISSION_DENIED);
		ASSERT_STR_CONTAINS(err, path);
		ASSERT_STR_NOT_CONTAINS(err, key1);
		ASSERT_STR_NOT_CONTAINS(err, "0123456789abcdef");
		ASSERT_EQ(tasq_keyring_count(kr), 0);
		tasq_keyring_free(kr);
		unlink(path);
		free(path);
	}
}

TEST(key_file_0600_is_loaded_and_trimmed)
{
	static const char *const suffixes[] = { "", "\n", "\r\n", " \t\n\n" };
	uint32_t                 want       = spec_key_id(key1, strlen(key1));

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		char          text[128], err[256] = "";
		tasq_keyring *kr;
		tasq_env_hdr  h;
		nng_msg      *m;
		char         *path;

		snprintf(text, sizeof(text), "%s%s", key1, suffixes[i]);
		path = temp_file(text, strlen(text), 0600);
		ASSERT_OK(tasq_keyring_alloc(&kr));
		ASSERT_OK(tasq_keyring_load_file(kr, path, err, sizeof(err)));
		ASSERT_EQ(tasq_keyring_count(kr), 1);
		// Signing reveals which id the trimmed key has.
		m = sealed_submit(kr, &h);
		ASSERT_EQ(h.key_id, want);
		nng_msg_free(m);
		tasq_keyring_free(kr);
		unlink(path);
		free(path);
	}
}

TEST(key_file_too_short_too_long_missing)
{
	static const char short_key[] = "tooshort-secret\n"; // 15 bytes
	uint8_t           big[TASQ_KEY_MAX + 1];
	char              err[512];
	tasq_keyring     *kr;
	char             *path;

	ASSERT_OK(tasq_keyring_alloc(&kr));

	path = temp_file(short_key, strlen(short_key), 0600);
	ASSERT_RV(tasq_keyring_load_file(kr, path, err, sizeof(err)),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, path);
	ASSERT_STR_NOT_CONTAINS(err, "tooshort-secret");
	unlink(path);
	free(path);

	memset(big, 'z', sizeof(big));
	path = temp_file(big, sizeof(big), 0600);
	ASSERT_RV(tasq_keyring_load_file(kr, path, err, sizeof(err)),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, path);
	ASSERT_STR_NOT_CONTAINS(err, "zzzzzzzz");
	unlink(path);
	// The longest key, with a newline, is fine.
	big[TASQ_KEY_MAX] = '\n';
	free(path);
	path = temp_file(big, sizeof(big), 0600);
	ASSERT_OK(tasq_keyring_load_file(kr, path, err, sizeof(err)));
	unlink(path);

	ASSERT_RV(tasq_keyring_load_file(kr, path, err, sizeof(err)),
	    TASQ_ENOT_FOUND);
	ASSERT_STR_CONTAINS(err, path);
	free(path);

	ASSERT_RV(tasq_keyring_load_file(kr, "/tmp", err, sizeof(err)),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_EQ(tasq_keyring_count(kr), 1);
	tasq_keyring_free(kr);
}

TEST(setup_prefers_file_then_env)
{
	static const char env_key[] = "environment-key-0123456789";
	tasq_keyring     *kr        = NULL;
	tasq_env_hdr      h;
	nng_msg          *m;
	char              err[512] = "";
	char             *path;

	ASSERT_OK(setenv("TASQ_KEY", env_key, 1));
	ASSERT_OK(tasq_keyring_setup(NULL, &kr, err, sizeof(err)));
	m = sealed_submit(kr, &h);
	ASSERT_EQ(h.key_id, spec_key_id(env_key, strlen(env_key)));
	nng_msg_free(m);
	tasq_keyring_free(kr);

	// An empty file name means none.
	ASSERT_OK(tasq_keyring_setup("", &kr, err, sizeof(err)));
	ASSERT_EQ(tasq_keyring_count(kr), 1);
	tasq_keyring_free(kr);

	path = temp_file(key1, strlen(key1), 0600);
	ASSERT_OK(tasq_keyring_setup(path, &kr, err, sizeof(err)));
	m = sealed_submit(kr, &h);
	ASSERT_EQ(h.key_id, spec_key_id(key1, strlen(key1)));
	nng_msg_free(m);
	tasq_keyring_free(kr);

	// A bad file is an error, not a fall back to the environment.
	ASSERT_OK(chmod(path, 0644));
	kr = NULL;
	ASSERT_RV(tasq_keyring_setup(path, &kr, err, sizeof(err)),
	    TASQ_EPERMISSION_DENIED);
	ASSERT_NULL(kr);
	ASSERT_STR_NOT_CONTAINS(err, key1);
	unlink(path);
	free(path);
	ASSERT_OK(unsetenv("TASQ_KEY"));
}

TEST(setup_env_errors)
{
	tasq_keyring *kr = NULL;
	char          err[512];

	ASSERT_OK(setenv("TASQ_KEY", "short-secret", 1));
	err[0] = '\0';
	ASSERT_RV(tasq_keyring_setup(NULL, &kr, err, sizeof(err)),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_NULL(kr);
	ASSERT_STR_CONTAINS(err, "TASQ_KEY");
	ASSERT_STR_NOT_CONTAINS(err, "short-secret");

	ASSERT_OK(setenv("TASQ_KEY", "", 1));
	err[0] = '\0';
	ASSERT_RV(tasq_keyring_setup(NULL, &kr, err, sizeof(err)),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_NULL(kr);
	ASSERT_STR_CONTAINS(err, "no shared key");

	ASSERT_OK(unsetenv("TASQ_KEY"));
	err[0] = '\0';
	ASSERT_RV(tasq_keyring_setup(NULL, &kr, err, sizeof(err)),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_NULL(kr);
	ASSERT_STR_CONTAINS(err, "no shared key");
}

TASQ_TEST_MAIN()
