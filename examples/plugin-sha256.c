// plugin-sha256: a tasq-worker plugin (include/tasq/handler.h) whose
// result is the 64 lowercase hex digits of SHA-256(payload).
//
//	cc -O2 -shared -fPIC -fvisibility=hidden -o plugin-sha256.so
//	    plugin-sha256.c -lcrypto       (one command line)
//	tasq-worker --type sha256=plugin:/path/to/plugin-sha256.so
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <tasq/handler.h>

struct state {
	EVP_MD     *md;
	EVP_MD_CTX *ctx;
};

static int
init(const char *arg, void **state, char *err, size_t errlen)
{
	struct state *s = calloc(1, sizeof(*s));

	(void) arg;
	if (s == NULL ||
	    (s->md = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL ||
	    (s->ctx = EVP_MD_CTX_new()) == NULL) {
		strncpy(err, "cannot set up SHA-256", errlen - 1);
		err[errlen - 1] = '\0';
		if (s != NULL) {
			EVP_MD_free(s->md);
			free(s);
		}
		return (-1);
	}
	*state = s;
	return (0);
}

static int
process(void *state, const tasq_handler_batch *in, tasq_handler_results *out)
{
	static const char digits[] = "0123456789abcdef";
	struct state     *s        = state;
	const uint8_t    *p        = in->data;
	unsigned char    *o;

	if (in->n == 0) {
		return (0);
	}
	// Every result is 64 bytes: all of them in one buffer.
	if ((o = out->put_fixed(out, 64)) == NULL) {
		return (-1);
	}
	for (size_t i = 0; i < in->n; i++) {
		size_t        len   = in->width ? in->width : in->lens[i];
		unsigned char d[32] = { 0 };
		unsigned int  dlen  = 0;
		if (EVP_DigestInit_ex2(s->ctx, s->md, NULL) != 1 ||
		    EVP_DigestUpdate(s->ctx, p, len) != 1 ||
		    EVP_DigestFinal_ex(s->ctx, d, &dlen) != 1) {
			out->fail(
			    out, i, TASQ_HANDLER_INTERNAL, "SHA-256 failed");
		}
		for (int k = 0; k < 32; k++) {
			o[64 * i + 2 * k] = (unsigned char) digits[d[k] >> 4];
			o[64 * i + 2 * k + 1] =
			    (unsigned char) digits[d[k] & 15];
		}
		p += len;
	}
	return (0);
}

static void
fini(void *state)
{
	struct state *s = state;

	EVP_MD_CTX_free(s->ctx);
	EVP_MD_free(s->md);
	free(s);
}

TASQ_HANDLER_EXPORT const tasq_handler_table tasq_handler_v1 = {
	.abi_version   = TASQ_HANDLER_ABI_VERSION,
	.name          = "sha256",
	.init          = init,
	.process_batch = process,
	.fini          = fini,
};
