#include "tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "tls_ossl.h"

#define PEM_MAX (1024 * 1024)

static nng_tls_version min_version = NNG_TLS_1_2;
static nng_tls_version max_version = NNG_TLS_1_3;

static int
parse_version(const char *s, nng_tls_version *v)
{
	if (strcmp(s, "1.2") == 0) {
		*v = NNG_TLS_1_2;
	} else if (strcmp(s, "1.3") == 0) {
		*v = NNG_TLS_1_3;
	} else {
		return (TASQ_EINVALID_ARGUMENT);
	}
	return (0);
}

int
tasq_tls_setup(const char *engine, const char *min, const char *max, char *err,
    size_t errlen)
{
	int rv;

	if (parse_version(min, &min_version) != 0 ||
	    parse_version(max, &max_version) != 0 ||
	    min_version > max_version) {
		snprintf(err, errlen,
		    "TLS versions must be 1.2 or 1.3 with min <= max (got %s "
		    "and %s)",
		    min, max);
		return (TASQ_EINVALID_ARGUMENT);
	}
	if ((rv = tasq_tls_engine_select(engine)) != 0) {
		snprintf(err, errlen,
		    "--tls-engine: '%s' is not openssl or builtin (%s)",
		    engine, tasq_strerror(rv));
		return (rv);
	}
	return (0);
}

// Applies the versions; the built-in mbedTLS engine has no 1.3, so a
// range it cannot meet falls back to what it can do.
static int
apply_versions(nng_tls_config *cfg)
{
	int rv = nng_tls_config_version(cfg, min_version, max_version);

	if (rv == NNG_ENOTSUP && max_version == NNG_TLS_1_3 &&
	    min_version <= NNG_TLS_1_2) {
		rv = nng_tls_config_version(cfg, min_version, NNG_TLS_1_2);
	}
	return (rv);
}

static char *
read_pem(const char *path, char *err, size_t errlen)
{
	FILE  *f;
	char  *buf;
	size_t n;

	if ((f = fopen(path, "re")) == NULL) {
		snprintf(
		    err, errlen, "cannot open %s: %s", path, strerror(errno));
		return (NULL);
	}
	if ((buf = malloc(PEM_MAX + 1)) == NULL) {
		fclose(f);
		snprintf(err, errlen, "out of memory reading %s", path);
		return (NULL);
	}
	n = fread(buf, 1, PEM_MAX, f);
	if (ferror(f) || n == PEM_MAX) {
		snprintf(err, errlen, "cannot read %s (or larger than 1 MiB)",
		    path);
		fclose(f);
		free(buf);
		return (NULL);
	}
	fclose(f);
	buf[n] = '\0';
	return (buf);
}

static int
own_cert(nng_tls_config *cfg, const char *cert_file, const char *key_file,
    char *err, size_t errlen)
{
	char *cert = NULL, *key = NULL;
	int   rv = TASQ_EINVALID_ARGUMENT;

	if ((cert = read_pem(cert_file, err, errlen)) == NULL ||
	    (key = read_pem(key_file, err, errlen)) == NULL) {
		goto out;
	}
	if ((rv = nng_tls_config_own_cert(cfg, cert, key, NULL)) != 0) {
		snprintf(err, errlen,
		    "cannot use certificate %s with key %s: %s", cert_file,
		    key_file, nng_strerror(rv));
	}
out:
	free(cert);
	if (key != NULL) {
		memset(key, 0, strlen(key));
		free(key);
	}
	return (rv);
}

int
tasq_tls_server_config(const char *cert_file, const char *key_file,
    const char *client_ca_file, nng_tls_config **cfgp, char *err,
    size_t errlen)
{
	nng_tls_config *cfg;
	int             rv;

	if (cert_file == NULL || key_file == NULL) {
		snprintf(err, errlen,
		    "a tls+tcp:// listener needs --tls-cert and --tls-key");
		return (TASQ_EINVALID_ARGUMENT);
	}
	if ((rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_SERVER)) != 0) {
		snprintf(err, errlen, "TLS: %s", nng_strerror(rv));
		return (rv);
	}
	if ((rv = apply_versions(cfg)) != 0) {
		snprintf(err, errlen, "the TLS engine cannot do TLS %s: %s",
		    max_version == NNG_TLS_1_3 ? "1.3" : "1.2",
		    nng_strerror(rv));
		goto fail;
	}
	if ((rv = own_cert(cfg, cert_file, key_file, err, errlen)) != 0) {
		goto fail;
	}
	if (client_ca_file != NULL) {
		if ((rv = nng_tls_config_ca_file(cfg, client_ca_file)) != 0) {
			snprintf(err, errlen, "cannot use CA file %s: %s",
			    client_ca_file, nng_strerror(rv));
			goto fail;
		}
		rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED);
	} else {
		rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_NONE);
	}
	if (rv != 0) {
		snprintf(err, errlen, "TLS: %s", nng_strerror(rv));
		goto fail;
	}
	*cfgp = cfg;
	return (0);
fail:
	nng_tls_config_free(cfg);
	return (rv);
}

int
tasq_tls_client_config(const char *ca_file, const char *server_name,
    const char *cert_file, const char *key_file, nng_tls_config **cfgp,
    char *err, size_t errlen)
{
	nng_tls_config *cfg;
	int             rv;

	if (ca_file == NULL) {
		snprintf(err, errlen,
		    "a tls+tcp:// server needs --tls-ca to verify it");
		return (TASQ_EINVALID_ARGUMENT);
	}
	if ((rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT)) != 0) {
		snprintf(err, errlen, "TLS: %s", nng_strerror(rv));
		return (rv);
	}
	if ((rv = apply_versions(cfg)) != 0) {
		snprintf(err, errlen, "the TLS engine cannot do TLS %s: %s",
		    max_version == NNG_TLS_1_3 ? "1.3" : "1.2",
		    nng_strerror(rv));
		goto fail;
	}
	if ((rv = nng_tls_config_ca_file(cfg, ca_file)) != 0) {
		snprintf(err, errlen, "cannot use CA file %s: %s", ca_file,
		    nng_strerror(rv));
		goto fail;
	}
	if ((rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED)) !=
	        0 ||
	    (server_name != NULL &&
	        (rv = nng_tls_config_server_name(cfg, server_name)) != 0)) {
		snprintf(err, errlen, "TLS: %s", nng_strerror(rv));
		goto fail;
	}
	if (cert_file != NULL && key_file != NULL &&
	    (rv = own_cert(cfg, cert_file, key_file, err, errlen)) != 0) {
		goto fail;
	}
	*cfgp = cfg;
	return (0);
fail:
	nng_tls_config_free(cfg);
	return (rv);
}

int
tasq_tls_insecure_config(nng_tls_config **cfgp, char *err, size_t errlen)
{
	nng_tls_config *cfg;
	int             rv;

	if ((rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT)) != 0 ||
	    (rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_NONE)) !=
	        0) {
		snprintf(err, errlen, "TLS: %s", nng_strerror(rv));
		return (rv);
	}
	*cfgp = cfg;
	return (0);
}

int
tasq_url_is_tls(const char *url)
{
	return (strncmp(url, "tls+tcp", 7) == 0);
}
