// Unit tests of server/webauth: the dashboard's signed actions. A known
// answer (computed with Python's hmac, the example of docs/PROTOCOL.md
// 15), then every refusal: no header, a malformed one, an unknown key, a
// wrong signature, a changed target or body, a replay and a stale
// timestamp.
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "webauth.h"

#include "tasq_test.h"

#define KEY "tasq-example-key-0123456789"
#define NOW 1765000000000ULL
#define SKEW 300000
#define TARGET "/api/jobs/00000000000000ab/cancel"
#define SIG "e58860706ef891681b6bc0cddb97dcaba6e91f21a9fe411ed67614522d4aa60c"
#define HDR                                                                   \
	"TASQ-HMAC-SHA256 key=aa1011e8,sender=0123456789abcdef,seq=1,"        \
	"ts=1765000000000,sig=" SIG

struct fix {
	tasq_keyring *kr;
	tasq_replay  *rp;
	uint32_t      kid;
};

static void
fix_init(struct fix *f)
{
	memset(f, 0, sizeof(*f));
	ASSERT_OK(tasq_keyring_alloc(&f->kr));
	ASSERT_OK(tasq_keyring_add(
	    f->kr, (const uint8_t *) KEY, strlen(KEY), &f->kid));
	ASSERT_OK(tasq_replay_alloc(&f->rp, 16, SKEW, 0, 0));
}

static void
fix_fini(struct fix *f)
{
	tasq_replay_free(f->rp);
	tasq_keyring_free(f->kr);
}

// Checks a POST of target with header h at NOW; returns the result.
static int
check(struct fix *f, const char *target, const char *body, const char *h,
    bool *replayed, const char **why)
{
	tasq_webauth_req req = { .method = "POST",
		.target                  = target,
		.body                    = body,
		.body_len                = body != NULL ? strlen(body) : 0,
		.authorization           = h };
	*why                 = NULL;
	return (tasq_webauth_check(f->kr, f->rp, &req, NOW, replayed, why));
}

TEST(known_answer)
{
	struct fix       f;
	char             out[256];
	bool             rep;
	const char      *why;
	tasq_webauth_req req = { .method = "POST", .target = TARGET };

	fix_init(&f);
	ASSERT_EQ(f.kid, 0xaa1011e8);
	ASSERT_OK(tasq_webauth_sign(f.kr, f.kid, &req, 0x0123456789abcdefULL,
	    1, NOW, out, sizeof(out)));
	ASSERT_STR_EQ(out, HDR);
	// The scheme is case-insensitive, as HTTP's are; the signed
	// string has it in capitals.
	char lower[256];
	snprintf(lower, sizeof(lower), "tasq-hmac-sha256%s",
	    HDR + strlen(TASQ_WEBAUTH_SCHEME));
	ASSERT_OK(check(&f, TARGET, NULL, lower, &rep, &why));
	ASSERT_FALSE(rep);
	// The same request again: a replay.
	ASSERT_RV(
	    check(&f, TARGET, NULL, HDR, &rep, &why), TASQ_EUNAUTHENTICATED);
	ASSERT_TRUE(rep);
	fix_fini(&f);
}

TEST(missing_and_malformed)
{
	struct fix               f;
	bool                     rep;
	const char              *why;
	static const char *const bad[] = {
		"",
		"Basic dXNlcjpwYXNz",
		"TASQ-HMAC-SHA256",
		"TASQ-HMAC-SHA256 key=AA1011E8,sender=0123456789abcdef,seq=1,"
		"ts=1765000000000,sig=" SIG,
		"TASQ-HMAC-SHA256 key=aa1011e8,sender=0123456789abcdef,seq=01,"
		"ts=1765000000000,sig=" SIG,
		"TASQ-HMAC-SHA256 sender=0123456789abcdef,key=aa1011e8,seq=1,"
		"ts=1765000000000,sig=" SIG,
		"TASQ-HMAC-SHA256 key=aa1011e8,sender=0123456789abcdef,seq=1,"
		"ts=1765000000000,sig=" SIG "00",
		"TASQ-HMAC-SHA256 key=aa1011e8,sender=0123456789abcdef,seq=1,"
		"ts=99999999999999999999999,sig=" SIG,
		"TASQ-HMAC-SHA256 key=aa1011e8,sender=0123456789abcdef,seq=1,"
		"ts=1765000000000,sig=" SIG ",x=1",
	};

	fix_init(&f);
	ASSERT_RV(
	    check(&f, TARGET, NULL, NULL, &rep, &why), TASQ_EUNAUTHENTICATED);
	ASSERT_STR_CONTAINS(why, "no Authorization header");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ASSERT_RV(check(&f, TARGET, NULL, bad[i], &rep, &why),
		    TASQ_EUNAUTHENTICATED);
		ASSERT_STR_CONTAINS(why, "malformed");
		ASSERT_FALSE(rep);
	}
	ASSERT_RV(check(&f, TARGET, NULL,
	              "TASQ-HMAC-SHA256 key=aa1011e8,sender=0000000000000000,"
	              "seq=1,ts=1765000000000,sig=" SIG,
	              &rep, &why),
	    TASQ_EUNAUTHENTICATED);
	ASSERT_STR_CONTAINS(why, "sender 0");
	// Nothing above reached the replay table: the good one still
	// passes.
	ASSERT_OK(check(&f, TARGET, NULL, HDR, &rep, &why));
	fix_fini(&f);
}

TEST(wrong_key_signature_target_body)
{
	struct fix       f;
	bool             rep;
	const char      *why;
	char             h[256];
	tasq_webauth_req req = { .method = "POST", .target = TARGET };
	tasq_keyring    *other;
	uint32_t         oid;

	fix_init(&f);
	// Signed with another key: its id is unknown here.
	ASSERT_OK(tasq_keyring_alloc(&other));
	ASSERT_OK(tasq_keyring_add(other,
	    (const uint8_t *) "another-key-of-16-bytes-or-more", 31, &oid));
	ASSERT_OK(
	    tasq_webauth_sign(other, oid, &req, 7, 1, NOW, h, sizeof(h)));
	ASSERT_RV(
	    check(&f, TARGET, NULL, h, &rep, &why), TASQ_EUNAUTHENTICATED);
	ASSERT_STR_CONTAINS(why, "unknown key id");
	tasq_keyring_free(other);

	// One bit of the signature changed.
	snprintf(h, sizeof(h), "%s", HDR);
	h[strlen(h) - 1] = h[strlen(h) - 1] == '0' ? '1' : '0';
	ASSERT_RV(
	    check(&f, TARGET, NULL, h, &rep, &why), TASQ_EUNAUTHENTICATED);
	ASSERT_STR_CONTAINS(why, "bad signature");
	ASSERT_FALSE(rep);
	// The signature of a cancel, sent for a retry or another job.
	ASSERT_RV(check(&f, "/api/jobs/00000000000000ab/retry", NULL, HDR,
	              &rep, &why),
	    TASQ_EUNAUTHENTICATED);
	ASSERT_STR_CONTAINS(why, "bad signature");
	ASSERT_RV(check(&f, "/api/jobs/00000000000000ac/cancel", NULL, HDR,
	              &rep, &why),
	    TASQ_EUNAUTHENTICATED);
	// With a body it did not cover.
	ASSERT_RV(
	    check(&f, TARGET, "x", HDR, &rep, &why), TASQ_EUNAUTHENTICATED);
	ASSERT_STR_CONTAINS(why, "bad signature");
	// Still fresh: none of those reached the replay table.
	ASSERT_OK(check(&f, TARGET, NULL, HDR, &rep, &why));
	fix_fini(&f);
}

TEST(replay_and_stale)
{
	struct fix       f;
	bool             rep;
	const char      *why;
	char             h[256];
	tasq_webauth_req req = { .method = "POST", .target = TARGET };

	fix_init(&f);
	ASSERT_OK(check(&f, TARGET, NULL, HDR, &rep, &why));
	ASSERT_RV(
	    check(&f, TARGET, NULL, HDR, &rep, &why), TASQ_EUNAUTHENTICATED);
	ASSERT_TRUE(rep);
	ASSERT_NOT_NULL(why);
	// A correctly signed request from before the clock window.
	ASSERT_OK(tasq_webauth_sign(
	    f.kr, f.kid, &req, 99, 1, NOW - SKEW - 1000, h, sizeof(h)));
	ASSERT_RV(
	    check(&f, TARGET, NULL, h, &rep, &why), TASQ_EUNAUTHENTICATED);
	ASSERT_TRUE(rep);
	// And from too far ahead.
	ASSERT_OK(tasq_webauth_sign(
	    f.kr, f.kid, &req, 98, 1, NOW + SKEW + 1000, h, sizeof(h)));
	ASSERT_RV(
	    check(&f, TARGET, NULL, h, &rep, &why), TASQ_EUNAUTHENTICATED);
	ASSERT_TRUE(rep);
	// The next seq of the same sender, and an earlier one within the
	// window sent late, are fresh.
	ASSERT_OK(tasq_webauth_sign(
	    f.kr, f.kid, &req, 0x0123456789abcdefULL, 3, NOW, h, sizeof(h)));
	ASSERT_OK(check(&f, TARGET, NULL, h, &rep, &why));
	ASSERT_OK(tasq_webauth_sign(
	    f.kr, f.kid, &req, 0x0123456789abcdefULL, 2, NOW, h, sizeof(h)));
	ASSERT_OK(check(&f, TARGET, NULL, h, &rep, &why));
	fix_fini(&f);
}

TASQ_TEST_MAIN()
