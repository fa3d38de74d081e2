#include "commonopt.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "tls.h"

static bool
is_version(const char *v)
{
	return (strcmp(v, "1.2") == 0 || strcmp(v, "1.3") == 0);
}

// A file given for flag must open now: a worker would otherwise find out
// in each of its processes, at every dial, and retry for ever.
int
tasq_commonopt_readable(
    const char *flag, const char *path, char *err, size_t errlen)
{
	FILE *f;

	if (path == NULL) {
		return (0);
	}
	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "--%s: cannot open %s: %s", flag, path,
		    strerror(errno));
		return (TASQ_EINVALID_ARGUMENT);
	}
	fclose(f);
	return (0);
}

static int
check_tls_files(const tasq_commonopt_cfg *c, tasq_commonopt_role role,
    char *err, size_t errlen)
{
	int rv;

	if (role == TASQ_COMMONOPT_LISTENER) {
		if (c->tls_cert == NULL || c->tls_key == NULL) {
			snprintf(err, errlen,
			    "a tls+tcp:// listener needs --tls-cert and "
			    "--tls-key");
			return (TASQ_EINVALID_ARGUMENT);
		}
		if ((rv = tasq_commonopt_readable("tls-client-ca",
		         c->tls_client_ca, err, errlen)) != 0) {
			return (rv);
		}
	} else {
		if (c->tls_ca == NULL) {
			snprintf(err, errlen,
			    "a tls+tcp:// server needs --tls-ca to verify it");
			return (TASQ_EINVALID_ARGUMENT);
		}
		if ((c->tls_cert == NULL) != (c->tls_key == NULL)) {
			snprintf(err, errlen,
			    "--%s without --%s: a client certificate needs "
			    "both",
			    c->tls_cert != NULL ? "tls-cert" : "tls-key",
			    c->tls_cert != NULL ? "tls-key" : "tls-cert");
			return (TASQ_EINVALID_ARGUMENT);
		}
		if ((rv = tasq_commonopt_readable(
		         "tls-ca", c->tls_ca, err, errlen)) != 0) {
			return (rv);
		}
	}
	if ((rv = tasq_commonopt_readable(
	         "tls-cert", c->tls_cert, err, errlen)) != 0 ||
	    (rv = tasq_commonopt_readable(
	         "tls-key", c->tls_key, err, errlen)) != 0) {
		return (rv);
	}
	return (0);
}

int
tasq_commonopt_check(const tasq_commonopt_cfg *c, tasq_commonopt_role role,
    bool tls, char *err, size_t errlen)
{
	if (c->log_level != NULL && tasq_log_level_parse(c->log_level) < 0) {
		snprintf(err, errlen,
		    "--log-level: '%s' is not error, warn, info or debug",
		    c->log_level);
		return (TASQ_EINVALID_ARGUMENT);
	}
	if (c->log_format != NULL && strcmp(c->log_format, "text") != 0 &&
	    strcmp(c->log_format, "json") != 0) {
		snprintf(err, errlen, "--log-format is text or json");
		return (TASQ_EINVALID_ARGUMENT);
	}
	if (c->tls_engine != NULL && strcmp(c->tls_engine, "openssl") != 0 &&
	    strcmp(c->tls_engine, "builtin") != 0) {
		snprintf(err, errlen,
		    "--tls-engine: '%s' is not openssl or builtin",
		    c->tls_engine);
		return (TASQ_EINVALID_ARGUMENT);
	}
	if (c->tls_min != NULL && !is_version(c->tls_min)) {
		snprintf(err, errlen,
		    "--tls-min-version: '%s' is not 1.2 or 1.3", c->tls_min);
		return (TASQ_EINVALID_ARGUMENT);
	}
	if (c->tls_max != NULL && !is_version(c->tls_max)) {
		snprintf(err, errlen,
		    "--tls-max-version: '%s' is not 1.2 or 1.3", c->tls_max);
		return (TASQ_EINVALID_ARGUMENT);
	}
	// "1.2" < "1.3" as strings too.
	if (c->tls_min != NULL && c->tls_max != NULL &&
	    strcmp(c->tls_min, c->tls_max) > 0) {
		snprintf(err, errlen,
		    "--tls-min-version %s is above --tls-max-version %s",
		    c->tls_min, c->tls_max);
		return (TASQ_EINVALID_ARGUMENT);
	}
	return (tls ? check_tls_files(c, role, err, errlen) : 0);
}

int
tasq_commonopt_setup(const tasq_commonopt_cfg *c, tasq_commonopt_role role,
    int flags, tasq_keyring **krp, nng_tls_config **tlsp, char *err,
    size_t errlen)
{
	tasq_keyring   *kr  = NULL;
	nng_tls_config *cfg = NULL;
	int             rv;

	if ((rv = tasq_commonopt_check(c, role,
	         (flags & TASQ_COMMONOPT_TLS) != 0, err, errlen)) != 0) {
		return (rv);
	}
	if (c->log_level != NULL) {
		tasq_log_set_level(tasq_log_level_parse(c->log_level));
	}
	if (c->log_format != NULL) {
		(void) tasq_log_format_parse(c->log_format);
	}
	if ((rv = tasq_keyring_setup(c->key_file, &kr, err, errlen)) != 0) {
		return (rv);
	}
	if ((flags & TASQ_COMMONOPT_NO_ENGINE) == 0 && c->tls_engine != NULL &&
	    (rv = tasq_tls_setup(c->tls_engine,
	         c->tls_min != NULL ? c->tls_min : "1.2",
	         c->tls_max != NULL ? c->tls_max : "1.3", err, errlen)) != 0) {
		goto fail;
	}
	if (role == TASQ_COMMONOPT_LISTENER && (flags & TASQ_COMMONOPT_TLS) &&
	    (rv = tasq_tls_server_config(c->tls_cert, c->tls_key,
	         c->tls_client_ca, &cfg, err, errlen)) != 0) {
		goto fail;
	}
	if (tlsp != NULL) {
		*tlsp = cfg;
	} else if (cfg != NULL) {
		nng_tls_config_free(cfg);
	}
	*krp = kr;
	return (0);
fail:
	tasq_keyring_free(kr);
	return (rv);
}
