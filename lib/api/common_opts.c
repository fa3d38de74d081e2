// common_opts: the connection options of the public API (tasq_opts_*):
// the tools' names, environment variables, defaults and checks
// (client/main.c, lib/commonopt.h), with their precedence: default <
// file < environment < tasq_opts_set, whatever the order of the calls.
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "opt.h"
#include "url.h"

enum { SRC_DEFAULT, SRC_FILE, SRC_ENV, SRC_SET };

enum kind { K_STR, K_URL, K_MS, K_SIZE, K_TLSVER, K_ENGINE };

static const struct def {
	const char *name;
	const char *env;
	const char *def;
	enum kind   kind;
	uint64_t    min, max;
} defs[TASQ_API_OPT_COUNT] = {
	[TASQ_API_OPT_SERVER]   = { "server", "TASQ_SERVER",
	      "tcp://127.0.0.1:7070", K_URL, 0, 0 },
	[TASQ_API_OPT_KEY_FILE] = { "key-file", "TASQ_KEY_FILE", NULL, K_STR,
	    0, 0 },
	[TASQ_API_OPT_KEY]      = { "key", "TASQ_KEY", NULL, K_STR, 0, 0 },
	[TASQ_API_OPT_TLS_CA] = { "tls-ca", "TASQ_TLS_CA", NULL, K_STR, 0, 0 },
	[TASQ_API_OPT_TLS_CERT] = { "tls-cert", "TASQ_TLS_CERT", NULL, K_STR,
	    0, 0 },
	[TASQ_API_OPT_TLS_KEY]  = { "tls-key", "TASQ_TLS_KEY", NULL, K_STR, 0,
	     0 },
	[TASQ_API_OPT_TLS_SERVER_NAME] = { "tls-server-name", NULL, NULL,
	    K_STR, 0, 0 },
	[TASQ_API_OPT_TLS_ENGINE]      = { "tls-engine", "TASQ_TLS_ENGINE",
	         "openssl", K_ENGINE, 0, 0 },
	[TASQ_API_OPT_TLS_MIN] = { "tls-min-version", NULL, "1.2", K_TLSVER, 0,
	    0 },
	[TASQ_API_OPT_TLS_MAX] = { "tls-max-version", NULL, "1.3", K_TLSVER, 0,
	    0 },
	[TASQ_API_OPT_REQUEST_TIMEOUT] = { "request-timeout", NULL, "10s",
	    K_MS, 10, 3600000 },
	[TASQ_API_OPT_CONNECT_TIMEOUT] = { "connect-timeout", NULL, "5s", K_MS,
	    0, 3600000 },
	[TASQ_API_OPT_MAX_MESSAGE] = { "max-message", NULL, "64MiB", K_SIZE,
	    1024, 1073741824 },
	// How often the names of the server list are looked up again (issue
	// 15; docs/LIBRARY.md "Several servers").
	[TASQ_API_OPT_RESOLVE_INTERVAL] = { "resolve-interval", NULL, "30s",
	    K_MS, 100, 86400000 },
};

static int
find(const char *name, size_t len)
{
	for (int i = 0; i < TASQ_API_OPT_COUNT; i++) {
		if (strlen(defs[i].name) == len &&
		    strncmp(defs[i].name, name, len) == 0) {
			return (i);
		}
	}
	return (-1);
}

// Checks value for option i; err gets why not.
static int
check(int i, const char *value, char *err, size_t errlen)
{
	const struct def *d = &defs[i];
	uint64_t          v;

	switch (d->kind) {
	case K_URL:
		// One URL is checked as before (the same messages); a list
		// "URL,URL,..." as lib/api/shard.h says.
		if (strchr(value, ',') == NULL) {
			return (
			    tasq_url_check(value, TASQ_URL_DIAL, err, errlen));
		}
		return (tasq_shard_check(value, 0, err, errlen));
	case K_MS:
	case K_SIZE:
		if (tasq_opt_parse_u64(
		        d->kind == K_MS ? TASQ_OPT_MS : TASQ_OPT_SIZE, value,
		        &v) != 0) {
			snprintf(err, errlen, "%s: '%.40s' is not %s", d->name,
			    value,
			    d->kind == K_MS
			        ? "a duration (250ms, 30s, 5m, 1h)"
			        : "a size (65536, 64KiB, 16MiB, 1GiB)");
			return (TASQ_EINVALID_ARGUMENT);
		}
		if (v < d->min || v > d->max) {
			snprintf(err, errlen, "%s: %llu is outside %llu..%llu",
			    d->name, (unsigned long long) v,
			    (unsigned long long) d->min,
			    (unsigned long long) d->max);
			return (TASQ_EINVALID_ARGUMENT);
		}
		return (0);
	case K_TLSVER:
		if (strcmp(value, "1.2") != 0 && strcmp(value, "1.3") != 0) {
			snprintf(err, errlen, "%s: '%.40s' is not 1.2 or 1.3",
			    d->name, value);
			return (TASQ_EINVALID_ARGUMENT);
		}
		return (0);
	case K_ENGINE:
		if (strcmp(value, "openssl") != 0 &&
		    strcmp(value, "builtin") != 0) {
			snprintf(err, errlen,
			    "%s: '%.40s' is not openssl or builtin", d->name,
			    value);
			return (TASQ_EINVALID_ARGUMENT);
		}
		return (0);
	default:
		return (0);
	}
}

// Sets option i from source src unless a source of higher precedence
// set it already. value NULL: the default.
static int
set(tasq_opts *o, int i, const char *value, int src, char *err, size_t errlen)
{
	char *s = NULL;
	int   rv;

	if (o->src[i] > src) {
		return (0);
	}
	if (value == NULL) {
		value = defs[i].def;
		src   = SRC_DEFAULT;
	} else if ((rv = check(i, value, err, errlen)) != 0) {
		return (rv);
	}
	if (value != NULL && (s = strdup(value)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (TASQ_ERESOURCE_EXHAUSTED);
	}
	free(o->val[i]);
	o->val[i] = s;
	o->src[i] = src;
	return (0);
}

TASQ_API int
tasq_opts_alloc(tasq_opts **optsp)
{
	tasq_opts *o;
	char       err[64];

	tasq_api_clear();
	if (optsp == NULL) {
		return (tasq_api_fail(
		    TASQ_EINVALID_ARGUMENT, "tasq_opts_alloc: optsp is NULL"));
	}
	if ((o = calloc(1, sizeof(*o))) == NULL) {
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	for (int i = 0; i < TASQ_API_OPT_COUNT; i++) {
		if (set(o, i, NULL, SRC_DEFAULT, err, sizeof(err)) != 0) {
			tasq_opts_free(o);
			return (tasq_api_fail(
			    TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
		}
	}
	*optsp = o;
	return (0);
}

TASQ_API void
tasq_opts_free(tasq_opts *o)
{
	if (o == NULL) {
		return;
	}
	for (int i = 0; i < TASQ_API_OPT_COUNT; i++) {
		if (o->val[i] != NULL && i == TASQ_API_OPT_KEY) {
			// The key itself: not left in freed memory.
			volatile char *p = o->val[i];
			while (*p != '\0') {
				*p++ = '\0';
			}
		}
		free(o->val[i]);
	}
	free(o);
}

int
tasq_api_opts_copy(tasq_opts **dstp, const tasq_opts *src)
{
	tasq_opts *o;

	if ((o = calloc(1, sizeof(*o))) == NULL) {
		return (TASQ_ERESOURCE_EXHAUSTED);
	}
	for (int i = 0; i < TASQ_API_OPT_COUNT; i++) {
		o->src[i] = src->src[i];
		if (src->val[i] != NULL &&
		    (o->val[i] = strdup(src->val[i])) == NULL) {
			tasq_opts_free(o);
			return (TASQ_ERESOURCE_EXHAUSTED);
		}
	}
	*dstp = o;
	return (0);
}

uint64_t
tasq_api_opts_u64(const tasq_opts *o, int i)
{
	uint64_t v = 0;

	(void) tasq_opt_parse_u64(
	    defs[i].kind == K_MS ? TASQ_OPT_MS : TASQ_OPT_SIZE,
	    o->val[i] != NULL ? o->val[i] : defs[i].def, &v);
	return (v);
}

TASQ_API int
tasq_opts_set(tasq_opts *o, const char *name, const char *value)
{
	char err[512];
	int  i, rv;

	tasq_api_clear();
	if (o == NULL || name == NULL) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_opts_set: opts or name is NULL"));
	}
	if ((i = find(name, strlen(name))) < 0) {
		return (tasq_api_fail(
		    TASQ_EINVALID_ARGUMENT, "unknown option '%.64s'", name));
	}
	if ((rv = set(o, i, value, SRC_SET, err, sizeof(err))) != 0) {
		return (tasq_api_fail(rv, "%s", err));
	}
	return (0);
}

TASQ_API int
tasq_opts_get(const tasq_opts *o, const char *name, const char **valuep)
{
	int i;

	tasq_api_clear();
	if (o == NULL || name == NULL || valuep == NULL) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_opts_get: an argument is NULL"));
	}
	if ((i = find(name, strlen(name))) < 0) {
		return (tasq_api_fail(
		    TASQ_EINVALID_ARGUMENT, "unknown option '%.64s'", name));
	}
	if (i == TASQ_API_OPT_KEY) {
		*valuep = o->val[i] != NULL ? "(set)" : NULL;
	} else {
		*valuep = o->val[i];
	}
	return (0);
}

// The file's lines as lib/opt.c reads them; settings of other programs
// are skipped.
static int
load_text(tasq_opts *o, const char *path, const char *buf, size_t len)
{
	size_t pos    = 0;
	int    lineno = 0;
	char   line[1024], why[512];

	while (pos < len) {
		size_t n = 0;
		char  *k, *v, *e;
		int    i, rv;

		lineno++;
		while (pos < len && buf[pos] != '\n') {
			if (n == sizeof(line) - 1 || buf[pos] == '\0') {
				return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
				    "%s:%d: %s", path, lineno,
				    buf[pos] == '\0' ? "NUL byte"
				                     : "line too long"));
			}
			line[n++] = buf[pos++];
		}
		pos++;
		line[n] = '\0';
		if ((e = strchr(line, '#')) != NULL) {
			*e = '\0';
		}
		for (k = line; isspace((unsigned char) *k); k++) {
		}
		if (*k == '\0') {
			continue;
		}
		for (v = k;
		     *v != '\0' && !isspace((unsigned char) *v) && *v != '=';
		     v++) {
		}
		size_t klen = (size_t) (v - k);
		while (isspace((unsigned char) *v)) {
			v++;
		}
		if (*v == '=') {
			v++;
			while (isspace((unsigned char) *v)) {
				v++;
			}
		}
		e = v + strlen(v);
		while (e > v && isspace((unsigned char) e[-1])) {
			*--e = '\0';
		}
		if ((i = find(k, klen)) < 0) {
			continue; // another program's setting
		}
		if (*v == '\0') {
			return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
			    "%s:%d: %s needs a value", path, lineno,
			    defs[i].name));
		}
		if ((rv = set(o, i, v, SRC_FILE, why, sizeof(why))) != 0) {
			return (
			    tasq_api_fail(rv, "%s:%d: %s", path, lineno, why));
		}
	}
	return (0);
}

TASQ_API int
tasq_opts_load_file(tasq_opts *o, const char *path)
{
	FILE  *f;
	char  *buf;
	size_t n;
	int    rv;

	tasq_api_clear();
	if (o == NULL || path == NULL) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_opts_load_file: opts or path is NULL"));
	}
	if ((f = fopen(path, "re")) == NULL) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "cannot open configuration file %s: %s", path,
		    strerror(errno)));
	}
	if ((buf = malloc(1 << 20)) == NULL) {
		fclose(f);
		return (
		    tasq_api_fail(TASQ_ERESOURCE_EXHAUSTED, "out of memory"));
	}
	n = fread(buf, 1, 1 << 20, f);
	if (ferror(f) || n == 1 << 20) {
		rv = tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "cannot read %s (or larger than 1 MiB)", path);
	} else {
		rv = load_text(o, path, buf, n);
	}
	fclose(f);
	free(buf);
	return (rv);
}

TASQ_API int
tasq_opts_load_env(tasq_opts *o)
{
	const char *conf;
	char        err[512];
	int         rv;

	tasq_api_clear();
	if (o == NULL) {
		return (tasq_api_fail(TASQ_EINVALID_ARGUMENT,
		    "tasq_opts_load_env: opts is NULL"));
	}
	if ((conf = getenv("TASQ_CONFIG")) != NULL && conf[0] != '\0' &&
	    (rv = tasq_opts_load_file(o, conf)) != 0) {
		return (rv);
	}
	for (int i = 0; i < TASQ_API_OPT_COUNT; i++) {
		const char *v;
		if (defs[i].env == NULL || (v = getenv(defs[i].env)) == NULL ||
		    v[0] == '\0') {
			continue;
		}
		if ((rv = set(o, i, v, SRC_ENV, err, sizeof(err))) != 0) {
			return (tasq_api_fail(rv, "%s: %s", defs[i].env, err));
		}
	}
	return (0);
}
