#include "auth.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "err.h"

struct key {
	uint32_t     id;
	EVP_MAC_CTX *tmpl; // keyed HMAC context, duplicated per message
};

struct tasq_keyring {
	int        nkeys;
	struct key keys[TASQ_MAX_KEYS];
	EVP_MAC   *mac;
};

int
tasq_keyring_alloc(tasq_keyring **krp)
{
	tasq_keyring *kr;

	// No cleanup of OpenSSL at exit: nng's threads may still be inside
	// TLS code then (TSan saw its locks destroyed under them), and the
	// process is going away anyway.
	(void) OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
	if ((kr = calloc(1, sizeof(*kr))) == NULL) {
		return (NNG_ENOMEM);
	}
	if ((kr->mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL) {
		free(kr);
		return (NNG_ENOMEM);
	}
	*krp = kr;
	return (0);
}

void
tasq_keyring_free(tasq_keyring *kr)
{
	if (kr == NULL) {
		return;
	}
	for (int i = 0; i < kr->nkeys; i++) {
		EVP_MAC_CTX_free(kr->keys[i].tmpl);
	}
	EVP_MAC_free(kr->mac);
	OPENSSL_cleanse(kr, sizeof(*kr));
	free(kr);
}

static uint32_t
key_id_of(const uint8_t *key, size_t len)
{
	static const char label[] = "tasq-key-id"; // hashed with its NUL
	uint8_t           md[32];
	unsigned int      mdlen = 0;
	EVP_MD_CTX       *c;
	uint32_t          id;

	if ((c = EVP_MD_CTX_new()) == NULL) {
		return (0);
	}
	if (EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(c, label, sizeof(label)) != 1 ||
	    EVP_DigestUpdate(c, key, len) != 1 ||
	    EVP_DigestFinal_ex(c, md, &mdlen) != 1) {
		EVP_MD_CTX_free(c);
		return (0);
	}
	EVP_MD_CTX_free(c);
	id = ((uint32_t) md[0] << 24) | ((uint32_t) md[1] << 16) |
	    ((uint32_t) md[2] << 8) | md[3];
	return (id);
}

int
tasq_keyring_add(
    tasq_keyring *kr, const uint8_t *key, size_t len, uint32_t *idp)
{
	OSSL_PARAM   params[2];
	EVP_MAC_CTX *c;
	uint32_t     id;
	char         digest[] = "SHA256";

	if (len < TASQ_KEY_MIN || len > TASQ_KEY_MAX ||
	    kr->nkeys == TASQ_MAX_KEYS) {
		return (TASQ_EINVALID_ARGUMENT);
	}
	if ((id = key_id_of(key, len)) == 0) {
		// One key in four billion hashes to 0; refuse rather than
		// collide with the unsigned marker.
		return (TASQ_EINVALID_ARGUMENT);
	}
	for (int i = 0; i < kr->nkeys; i++) {
		if (kr->keys[i].id == id) {
			return (TASQ_EINVALID_ARGUMENT);
		}
	}
	if ((c = EVP_MAC_CTX_new(kr->mac)) == NULL) {
		return (NNG_ENOMEM);
	}
	params[0] =
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_MAC_init(c, key, len, params) != 1) {
		EVP_MAC_CTX_free(c);
		return (TASQ_EINTERNAL);
	}
	kr->keys[kr->nkeys].id   = id;
	kr->keys[kr->nkeys].tmpl = c;
	kr->nkeys++;
	if (idp != NULL) {
		*idp = id;
	}
	return (0);
}

// A key is its bytes without trailing white space (a newline from an
// editor or echo), the same from a file and from TASQ_KEY.
static size_t
key_trim(const uint8_t *k, size_t len)
{
	while (len > 0 &&
	    (k[len - 1] == '\n' || k[len - 1] == '\r' || k[len - 1] == ' ' ||
	        k[len - 1] == '\t')) {
		len--;
	}
	return (len);
}

int
tasq_keyring_load_file(
    tasq_keyring *kr, const char *path, char *err, size_t errlen)
{
	uint8_t     buf[TASQ_KEY_MAX + 2];
	struct stat st;
	ssize_t     n;
	size_t      len = 0;
	int         fd;
	int         rv;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "cannot open key file %s: %s", path,
		    strerror(errno));
		return (errno == ENOENT ? TASQ_ENOT_FOUND
		                        : TASQ_EPERMISSION_DENIED);
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(
		    err, errlen, "key file %s is not a regular file", path);
		close(fd);
		return (TASQ_EINVALID_ARGUMENT);
	}
	if (st.st_size > TASQ_KEY_MAX + 64) {
		snprintf(err, errlen,
		    "key file %s is too large for a key (%lld bytes; at most "
		    "%d)",
		    path, (long long) st.st_size, TASQ_KEY_MAX);
		close(fd);
		return (TASQ_EINVALID_ARGUMENT);
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		snprintf(err, errlen,
		    "key file %s is accessible by group or others (mode %03o);"
		    " run: chmod 600 %s",
		    path, (unsigned) (st.st_mode & 0777), path);
		close(fd);
		return (TASQ_EPERMISSION_DENIED);
	}
	while (len < sizeof(buf) &&
	    (n = read(fd, buf + len, sizeof(buf) - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			snprintf(err, errlen, "cannot read key file %s: %s",
			    path, strerror(errno));
			close(fd);
			OPENSSL_cleanse(buf, sizeof(buf));
			return (TASQ_EINVALID_ARGUMENT);
		}
		len += (size_t) n;
	}
	close(fd);
	len = key_trim(buf, len);
	if (len < TASQ_KEY_MIN || len > TASQ_KEY_MAX) {
		snprintf(err, errlen,
		    "key file %s: a key must be %d to %d bytes (found %s)",
		    path, TASQ_KEY_MIN, TASQ_KEY_MAX,
		    len < TASQ_KEY_MIN ? "fewer" : "more");
		OPENSSL_cleanse(buf, sizeof(buf));
		return (TASQ_EINVALID_ARGUMENT);
	}
	rv = tasq_keyring_add(kr, buf, len, NULL);
	OPENSSL_cleanse(buf, sizeof(buf));
	if (rv != 0) {
		snprintf(err, errlen, "key file %s: cannot use key: %s", path,
		    tasq_strerror(rv));
	}
	return (rv);
}

int
tasq_keyring_count(const tasq_keyring *kr)
{
	return (kr->nkeys);
}

int
tasq_auth_tag(const tasq_keyring *kr, uint32_t key_id, const uint8_t *data,
    size_t len, uint8_t tag[TASQ_ENV_TAG_LEN])
{
	const struct key *k = NULL;
	EVP_MAC_CTX      *c;
	size_t            out = 0;
	int               ok;

	for (int i = 0; i < kr->nkeys; i++) {
		if (kr->keys[i].id == key_id) {
			k = &kr->keys[i];
			break;
		}
	}
	if (k == NULL || key_id == 0) {
		return (TASQ_EUNAUTHENTICATED);
	}
	// The template is never modified after start-up; dup gives each
	// caller (thread) its own running state.
	if ((c = EVP_MAC_CTX_dup(k->tmpl)) == NULL) {
		return (TASQ_EINTERNAL);
	}
	ok = EVP_MAC_update(c, data, len) == 1 &&
	    EVP_MAC_final(c, tag, &out, TASQ_ENV_TAG_LEN) == 1 &&
	    out == TASQ_ENV_TAG_LEN;
	EVP_MAC_CTX_free(c);
	return (ok ? 0 : TASQ_EINTERNAL);
}

int
tasq_auth_seal(const tasq_keyring *kr, tasq_env_hdr *h, nng_msg *m)
{
	uint8_t  tag[TASQ_ENV_TAG_LEN];
	uint8_t *buf = nng_msg_body(m);
	size_t   len = nng_msg_len(m);
	int      rv;

	if (len < TASQ_ENV_HDR_LEN) {
		return (TASQ_EINTERNAL);
	}
	h->version = TASQ_ENV_VERSION;
	// A key id asked for (the one a request came with) is kept if we
	// hold it, so that a peer that has only that key can verify us.
	bool have = false;
	for (int i = 0; kr != NULL && h->key_id != 0 && i < kr->nkeys; i++) {
		have = have || kr->keys[i].id == h->key_id;
	}
	if (!have) {
		h->key_id = (kr != NULL && kr->nkeys > 0) ? kr->keys[0].id : 0;
	}
	h->body_len = (uint32_t) (len - TASQ_ENV_HDR_LEN);
	tasq_env_put(h, buf);
	if (h->key_id == 0) {
		memset(tag, 0, sizeof(tag));
	} else if ((rv = tasq_auth_tag(kr, h->key_id, buf, len, tag)) != 0) {
		return (rv);
	}
	return (nng_msg_append(m, tag, sizeof(tag)));
}

int
tasq_auth_open(const tasq_keyring *kr, const uint8_t *buf, size_t len,
    tasq_env_hdr *h, const uint8_t **bodyp)
{
	uint8_t tag[TASQ_ENV_TAG_LEN];
	size_t  signed_len;
	int     rv;

	if ((rv = tasq_env_parse(buf, len, h)) != 0) {
		return (rv);
	}
	signed_len = TASQ_ENV_HDR_LEN + (size_t) h->body_len;
	if ((rv = tasq_auth_tag(kr, h->key_id, buf, signed_len, tag)) != 0) {
		return (TASQ_EUNAUTHENTICATED);
	}
	if (CRYPTO_memcmp(tag, buf + signed_len, TASQ_ENV_TAG_LEN) != 0) {
		return (TASQ_EUNAUTHENTICATED);
	}
	*bodyp = buf + TASQ_ENV_HDR_LEN;
	return (0);
}

int
tasq_keyring_setup(
    const char *key_file, tasq_keyring **krp, char *err, size_t errlen)
{
	tasq_keyring *kr;
	const char   *env;
	int           rv;

	if ((rv = tasq_keyring_alloc(&kr)) != 0) {
		snprintf(err, errlen, "out of memory");
		return (rv);
	}
	if (key_file != NULL && key_file[0] != '\0') {
		// A comma-separated list rotates keys without downtime: the
		// first signs, every one verifies.
		char *list = strdup(key_file), *save = NULL, *f;
		if (list == NULL) {
			snprintf(err, errlen, "out of memory");
			tasq_keyring_free(kr);
			return (NNG_ENOMEM);
		}
		rv = 0;
		for (f = strtok_r(list, ",", &save); f != NULL && rv == 0;
		     f = strtok_r(NULL, ",", &save)) {
			rv = tasq_keyring_load_file(kr, f, err, errlen);
		}
		free(list);
	} else if ((env = getenv("TASQ_KEY")) != NULL && env[0] != '\0') {
		// Trimmed like a key file, so both give the same key.
		size_t len = key_trim((const uint8_t *) env, strlen(env));
		rv = tasq_keyring_add(kr, (const uint8_t *) env, len, NULL);
		if (rv != 0) {
			snprintf(err, errlen,
			    "TASQ_KEY must hold %d to %d bytes", TASQ_KEY_MIN,
			    TASQ_KEY_MAX);
		}
	} else {
		snprintf(err, errlen,
		    "no shared key: give --key-file FILE (or TASQ_KEY_FILE, "
		    "or the key itself in TASQ_KEY)");
		rv = TASQ_EINVALID_ARGUMENT;
	}
	if (rv != 0) {
		tasq_keyring_free(kr);
		return (rv);
	}
	*krp = kr;
	return (0);
}
