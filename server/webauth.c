#include "webauth.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "err.h"

// The longest request target signed (ours are about 40 bytes).
#define MAX_TARGET 1024
// The canonical string: the scheme, method, target, the header's fields
// and the body's hash, with room to spare.
#define CANON_MAX (MAX_TARGET + 256)

struct cred {
	uint32_t kid;
	uint64_t sender, seq, ts;
	uint8_t  sig[TASQ_ENV_TAG_LEN];
};

// Reads exactly n lowercase hex digits at *p into *v (n <= 16).
static bool
hex_field(const char **p, size_t n, uint64_t *v)
{
	uint64_t x = 0;

	for (size_t i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c >= '0' && c <= '9') {
			x = x << 4 | (uint64_t) (c - '0');
		} else if (c >= 'a' && c <= 'f') {
			x = x << 4 | (uint64_t) (c - 'a' + 10);
		} else {
			return (false);
		}
	}
	*p += n;
	*v = x;
	return (true);
}

// Reads a decimal number without leading zeros (what the canonical string
// prints back) that fits in 64 bits.
static bool
dec_field(const char **p, uint64_t *v)
{
	const char *s = *p;
	uint64_t    x = 0;

	if (!isdigit((unsigned char) *s) || (s[0] == '0' && isdigit(s[1]))) {
		return (false);
	}
	for (; isdigit((unsigned char) *s); s++) {
		if (x > (UINT64_MAX - (uint64_t) (*s - '0')) / 10) {
			return (false);
		}
		x = x * 10 + (uint64_t) (*s - '0');
	}
	*p = s;
	*v = x;
	return (true);
}

// Expects name= at *p (after optional spaces).
static bool
name_field(const char **p, const char *name)
{
	size_t n = strlen(name);

	while (**p == ' ') {
		(*p)++;
	}
	if (strncmp(*p, name, n) != 0 || (*p)[n] != '=') {
		return (false);
	}
	*p += n + 1;
	return (true);
}

// Parses the header's value: the scheme, then key, sender, seq, ts and
// sig in that order, separated by commas.
static bool
parse(const char *h, struct cred *c)
{
	size_t   n = strlen(TASQ_WEBAUTH_SCHEME);
	uint64_t v;

	if (strncasecmp(h, TASQ_WEBAUTH_SCHEME, n) != 0 || h[n] != ' ') {
		return (false);
	}
	h += n + 1;
	if (!name_field(&h, "key") || !hex_field(&h, 8, &v) || *h++ != ',') {
		return (false);
	}
	c->kid = (uint32_t) v;
	if (!name_field(&h, "sender") || !hex_field(&h, 16, &c->sender) ||
	    *h++ != ',' || !name_field(&h, "seq") || !dec_field(&h, &c->seq) ||
	    *h++ != ',' || !name_field(&h, "ts") || !dec_field(&h, &c->ts) ||
	    *h++ != ',' || !name_field(&h, "sig")) {
		return (false);
	}
	for (size_t i = 0; i < TASQ_ENV_TAG_LEN; i++) {
		if (!hex_field(&h, 2, &v)) {
			return (false);
		}
		c->sig[i] = (uint8_t) v;
	}
	while (*h == ' ') {
		h++;
	}
	return (*h == '\0');
}

// Writes the canonical string of req with c's fields into buf; returns
// its length, or 0 when it does not fit or the body cannot be hashed.
static size_t
canon(const tasq_webauth_req *req, const struct cred *c, char *buf, size_t len)
{
	uint8_t      md[32];
	unsigned int mdlen = 0;
	char         hex[65];
	int          n;

	if (EVP_Digest(req->body_len > 0 ? req->body : "", req->body_len, md,
	        &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != sizeof(md)) {
		return (0);
	}
	for (size_t i = 0; i < sizeof(md); i++) {
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	}
	n = snprintf(buf, len,
	    "%s\n%s\n%s\n%08" PRIx32 "\n%016" PRIx64 "\n%" PRIu64 "\n%" PRIu64
	    "\n%s",
	    TASQ_WEBAUTH_SCHEME, req->method, req->target, c->kid, c->sender,
	    c->seq, c->ts, hex);
	return (n > 0 && (size_t) n < len ? (size_t) n : 0);
}

int
tasq_webauth_check(const tasq_keyring *kr, tasq_replay *replay,
    const tasq_webauth_req *req, uint64_t now_ms, bool *replayed,
    const char **why)
{
	struct cred c;
	char        buf[CANON_MAX];
	uint8_t     tag[TASQ_ENV_TAG_LEN];
	size_t      n;
	int         rv;

	*replayed = false;
	if (req->authorization == NULL) {
		*why = "no Authorization header: actions need the shared key "
		       "(the page asks for it)";
		return (TASQ_EUNAUTHENTICATED);
	}
	if (!parse(req->authorization, &c)) {
		*why =
		    "malformed Authorization header (want " TASQ_WEBAUTH_SCHEME
		    " key=,sender=,seq=,ts=,sig=)";
		return (TASQ_EUNAUTHENTICATED);
	}
	if (c.sender == 0) {
		*why = "sender 0 is not allowed";
		return (TASQ_EUNAUTHENTICATED);
	}
	if (strlen(req->target) > MAX_TARGET ||
	    (n = canon(req, &c, buf, sizeof(buf))) == 0) {
		*why = "request target too long";
		return (TASQ_EUNAUTHENTICATED);
	}
	if ((rv = tasq_auth_tag(kr, c.kid, (const uint8_t *) buf, n, tag)) !=
	    0) {
		*why = rv == TASQ_EUNAUTHENTICATED
		    ? "unknown key id: not a key of this server"
		    : "cannot compute the signature";
		return (rv == TASQ_EUNAUTHENTICATED ? rv : TASQ_EINTERNAL);
	}
	if (CRYPTO_memcmp(tag, c.sig, sizeof(tag)) != 0) {
		*why = "bad signature: wrong key, or the request was changed";
		return (TASQ_EUNAUTHENTICATED);
	}
	// Only now, as for the RPCs: unauthenticated peers cannot fill the
	// table.
	if ((rv = tasq_replay_check(
	         replay, c.sender, c.seq, c.ts, now_ms, why)) != 0) {
		*replayed = rv == TASQ_EUNAUTHENTICATED;
		return (rv);
	}
	return (0);
}

int
tasq_webauth_sign(const tasq_keyring *kr, uint32_t key_id,
    const tasq_webauth_req *req, uint64_t sender, uint64_t seq, uint64_t ts_ms,
    char *out, size_t len)
{
	struct cred c = {
		.kid = key_id, .sender = sender, .seq = seq, .ts = ts_ms
	};
	char    buf[CANON_MAX];
	uint8_t tag[TASQ_ENV_TAG_LEN];
	char    hex[2 * TASQ_ENV_TAG_LEN + 1];
	size_t  n;
	int     rv;

	if ((n = canon(req, &c, buf, sizeof(buf))) == 0) {
		return (TASQ_EINVALID_ARGUMENT);
	}
	if ((rv = tasq_auth_tag(kr, key_id, (const uint8_t *) buf, n, tag)) !=
	    0) {
		return (rv);
	}
	for (size_t i = 0; i < sizeof(tag); i++) {
		snprintf(hex + 2 * i, 3, "%02x", tag[i]);
	}
	rv = snprintf(out, len,
	    "%s key=%08" PRIx32 ",sender=%016" PRIx64 ",seq=%" PRIu64
	    ",ts=%" PRIu64 ",sig=%s",
	    TASQ_WEBAUTH_SCHEME, key_id, sender, seq, ts_ms, hex);
	return (rv > 0 && (size_t) rv < len ? 0 : TASQ_EINVALID_ARGUMENT);
}
