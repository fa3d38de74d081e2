// exec-sha256: an exec: handler in C for tasq-worker. It answers every
// task with the 64 lowercase hex digits of SHA-256(payload), speaking the
// batch framing of docs/HANDLERS.md on stdin and stdout:
//
//	tasq-worker --type sha256=exec:/path/to/exec-sha256
//
// Build: cc -O2 -o exec-sha256 exec-sha256.c -lcrypto
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

static uint32_t
u32(const unsigned char *p)
{
	return ((uint32_t) p[0] | (uint32_t) p[1] << 8 |
	    (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24);
}

static void
put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++) {
		p[i] = (unsigned char) (v >> (8 * i));
	}
}

int
main(void)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char     head[16], item[8 + 64], d[32], *buf = NULL;
	size_t            cap = 0;
	EVP_MD_CTX       *ctx = EVP_MD_CTX_new();

	// Full buffers: a batch's answer leaves in a few large writes.
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	while (fread(head, 1, 16, stdin) == 16) {
		uint32_t n = u32(head + 4);
		if (memcmp(head, "TQB1", 4) != 0) {
			fprintf(stderr, "exec-sha256: not a batch header\n");
			return (1);
		}
		memcpy(head, "TQR1", 4); // n and seq are echoed
		fwrite(head, 1, 16, stdout);
		for (uint32_t i = 0; i < n; i++) {
			unsigned char lenb[4];
			unsigned int  dlen;
			if (fread(lenb, 1, 4, stdin) != 4) {
				return (1);
			}
			uint32_t len = u32(lenb);
			if (len > cap) {
				free(buf);
				if ((buf = malloc(len)) == NULL) {
					return (1);
				}
				cap = len;
			}
			if (len > 0 && fread(buf, 1, len, stdin) != len) {
				return (1);
			}
			EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
			EVP_DigestUpdate(ctx, buf, len);
			EVP_DigestFinal_ex(ctx, d, &dlen);
			put32(item, 0);      // status: OK
			put32(item + 4, 64); // result length
			for (int k = 0; k < 32; k++) {
				item[8 + 2 * k] =
				    (unsigned char) hex[d[k] >> 4];
				item[8 + 2 * k + 1] =
				    (unsigned char) hex[d[k] & 15];
			}
			fwrite(item, 1, sizeof(item), stdout);
		}
		// The worker waits for the whole answer: flush it now.
		if (fflush(stdout) != 0) {
			return (1);
		}
	}
	EVP_MD_CTX_free(ctx);
	free(buf);
	return (0); // end of input: the worker closed our stdin
}
