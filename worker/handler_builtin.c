// handler_builtin: the handlers compiled into the worker, square and
// sha256. Both run on the caller's thread over the whole column.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "err.h"
#include "handler.h"

#define SQUARE_WIDTH 8
#define HEX_WIDTH 64

static int64_t
i64_get(const uint8_t *p)
{
	int64_t v;

	memcpy(&v, p, sizeof(v)); // little-endian hosts (static-asserted)
	return (v);
}

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
    "square payloads are int64 little-endian, read with memcpy");

static int
square_run(void *impl, const tasq_handler_batch *in, tasq_hres *out)
{
	(void) impl;
	if (in->n == 0) {
		return (0);
	}
	if (in->width == SQUARE_WIDTH) {
		// The fast path: a tight loop over the fixed-width column.
		uint8_t *o   = tasq_hres_fixed(out, SQUARE_WIDTH);
		size_t   bad = in->n;
		if (o == NULL) {
			return (out->err);
		}
		for (size_t i = 0; i < in->n; i++) {
			int64_t v = i64_get(in->data + i * SQUARE_WIDTH), r;
			if (__builtin_mul_overflow(v, v, &r)) {
				r   = 0;
				bad = bad < i ? bad : i;
			}
			memcpy(o + i * SQUARE_WIDTH, &r, sizeof(r));
		}
		for (size_t i = bad; i < in->n; i++) {
			int64_t v = i64_get(in->data + i * SQUARE_WIDTH), r;
			if (__builtin_mul_overflow(v, v, &r)) {
				(void) tasq_hres_fail(out, i,
				    (uint32_t) tasq_err_code(
				        TASQ_EOUT_OF_RANGE),
				    "the square does not fit in an int64");
			}
		}
		return (0);
	}
	const uint8_t *p = in->data;
	for (size_t i = 0; i < in->n; i++) {
		size_t  len = in->width != 0 ? in->width : in->lens[i];
		int64_t r;
		if (len != SQUARE_WIDTH) {
			char msg[96];
			snprintf(msg, sizeof(msg),
			    "square takes 8 bytes (int64 little-endian), not "
			    "%zu",
			    len);
			(void) tasq_hres_fail(out, i,
			    (uint32_t) tasq_err_code(TASQ_EINVALID_ARGUMENT),
			    msg);
		} else if (__builtin_mul_overflow(
		               i64_get(p), i64_get(p), &r)) {
			(void) tasq_hres_fail(out, i,
			    (uint32_t) tasq_err_code(TASQ_EOUT_OF_RANGE),
			    "the square does not fit in an int64");
		} else {
			(void) tasq_hres_put(out, &r, sizeof(r));
		}
		p += len;
	}
	return (0);
}

static void
square_free(void *impl)
{
	(void) impl;
}

static const tasq_handler_ops square_ops = {
	.run        = square_run,
	.free       = square_free,
	.in_process = true,
};

struct sha {
	EVP_MD     *md;
	EVP_MD_CTX *ctx;
};

static void
hex(uint8_t *o, const unsigned char *d, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		o[2 * i]     = (uint8_t) digits[d[i] >> 4];
		o[2 * i + 1] = (uint8_t) digits[d[i] & 15];
	}
}

static int
sha_run(void *impl, const tasq_handler_batch *in, tasq_hres *out)
{
	struct sha    *s = impl;
	const uint8_t *p = in->data;
	uint8_t       *o;

	if (in->n == 0) {
		return (0);
	}
	if ((o = tasq_hres_fixed(out, HEX_WIDTH)) == NULL) {
		return (out->err);
	}
	for (size_t i = 0; i < in->n; i++) {
		size_t        len = in->width != 0 ? in->width : in->lens[i];
		unsigned char d[32];
		unsigned int  dlen = 0;
		if (EVP_DigestInit_ex2(s->ctx, s->md, NULL) != 1 ||
		    EVP_DigestUpdate(s->ctx, p, len) != 1 ||
		    EVP_DigestFinal_ex(s->ctx, d, &dlen) != 1 || dlen != 32) {
			memset(o + i * HEX_WIDTH, '0', HEX_WIDTH);
			(void) tasq_hres_fail(out, i,
			    (uint32_t) tasq_err_code(TASQ_EINTERNAL),
			    "SHA-256 failed in libcrypto");
		} else {
			hex(o + i * HEX_WIDTH, d, sizeof(d));
		}
		p += len;
	}
	return (0);
}

static void
sha_free(void *impl)
{
	struct sha *s = impl;

	if (s != NULL) {
		EVP_MD_CTX_free(s->ctx);
		EVP_MD_free(s->md);
		free(s);
	}
}

static const tasq_handler_ops sha_ops = {
	.run        = sha_run,
	.free       = sha_free,
	.in_process = true,
};

int
tasq_handler_builtin_open(const char *name, const tasq_handler_ops **ops,
    void **impl, char *err, size_t errlen)
{
	if (strcmp(name, "square") == 0) {
		*ops  = &square_ops;
		*impl = NULL;
		return (0);
	}
	if (strcmp(name, "sha256") == 0) {
		struct sha *s = calloc(1, sizeof(*s));
		// Fetched once: a one-shot SHA256() would fetch per call.
		if (s == NULL ||
		    (s->md = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL ||
		    (s->ctx = EVP_MD_CTX_new()) == NULL) {
			sha_free(s);
			snprintf(err, errlen, "cannot set up SHA-256");
			return (NNG_ENOMEM);
		}
		*ops  = &sha_ops;
		*impl = s;
		return (0);
	}
	snprintf(err, errlen, "unknown built-in handler '%s'", name);
	return (TASQ_EINVALID_ARGUMENT);
}
