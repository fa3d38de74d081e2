#include "opt.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "url.h"

#define CONF_MAX (1024 * 1024)

// Where values come from, by precedence: what tasq_opt_set is applying
// (a TASQ_OPT_LIST's values from a higher source replace a lower's).
enum { SRC_DEFAULT, SRC_FILE, SRC_ENV, SRC_FLAG };
static int opt_src = SRC_FILE;

static void
list_clear(tasq_opt_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i]);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int
list_add(
    tasq_opt_list *l, const char *text, size_t len, char *err, size_t errlen)
{
	char **v;
	char  *s;

	if (l->src_ != opt_src) {
		list_clear(l);
		l->src_ = opt_src;
	}
	if ((v = realloc(l->v, (l->n + 1) * sizeof(*v))) == NULL ||
	    (s = strndup(text, len)) == NULL) {
		if (v != NULL) {
			l->v = v;
		}
		snprintf(err, errlen, "out of memory");
		return (TASQ_ERESOURCE_EXHAUSTED);
	}
	l->v         = v;
	l->v[l->n++] = s;
	return (0);
}

// Sets a list from text of one value per line (default, environment).
static int
list_set_lines(const tasq_opt *o, const char *text, char *err, size_t errlen)
{
	tasq_opt_list *l = o->ptr;
	int            rv;

	if (l->src_ != opt_src) {
		list_clear(l);
		l->src_ = opt_src;
	}
	while (*text != '\0') {
		size_t len = strcspn(text, "\n");
		if (len > 0 &&
		    (rv = list_add(l, text, len, err, errlen)) != 0) {
			return (rv);
		}
		text += len + (text[len] == '\n');
	}
	return (0);
}

static int
parse_suffix(const char *suf, tasq_opt_type type, uint64_t *mul)
{
	static const struct {
		const char *s;
		uint64_t    m;
	} ms[] = { { "", 1 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 },
		{ "h", 3600000 } },
	  sz[] = { { "", 1 }, { "b", 1 }, { "k", 1024 }, { "kb", 1000 },
		  { "kib", 1024 }, { "m", 1048576 }, { "mb", 1000000 },
		  { "mib", 1048576 }, { "g", 1073741824 },
		  { "gb", 1000000000 }, { "gib", 1073741824 } };
	char   low[8];
	size_t i;

	for (i = 0; suf[i] != '\0'; i++) {
		if (i == sizeof(low) - 1) {
			return (-1);
		}
		low[i] = (char) tolower((unsigned char) suf[i]);
	}
	low[i] = '\0';
	if (type == TASQ_OPT_MS) {
		for (i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
			if (strcmp(low, ms[i].s) == 0) {
				*mul = ms[i].m;
				return (0);
			}
		}
	} else if (type == TASQ_OPT_SIZE) {
		for (i = 0; i < sizeof(sz) / sizeof(sz[0]); i++) {
			if (strcmp(low, sz[i].s) == 0) {
				*mul = sz[i].m;
				return (0);
			}
		}
	} else if (low[0] == '\0') {
		*mul = 1;
		return (0);
	}
	return (-1);
}

int
tasq_opt_parse_u64(tasq_opt_type type, const char *s, uint64_t *v)
{
	unsigned long long n;
	uint64_t           mul;
	char              *end;

	if (!isdigit((unsigned char) s[0])) {
		return (TASQ_EINVALID_ARGUMENT);
	}
	errno = 0;
	n     = strtoull(s, &end, 10);
	if (errno != 0 || parse_suffix(end, type, &mul) != 0) {
		return (TASQ_EINVALID_ARGUMENT);
	}
	if (mul != 0 && n > UINT64_MAX / mul) {
		return (TASQ_EINVALID_ARGUMENT);
	}
	*v = (uint64_t) n * mul;
	return (0);
}

// Checks each item of a list "URL,URL,..." (spaces around items
// ignored): 0, or TASQ_EINVALID_ARGUMENT naming the item in err.
static int
urls_check(const char *text, tasq_url_use use, char *err, size_t errlen)
{
	const char *p = text;

	for (;;) {
		const char *end = strchr(p, ',');
		size_t      len = end != NULL ? (size_t) (end - p) : strlen(p);
		char        item[1024];
		while (len > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t')) {
			len--;
		}
		if (len == 0) {
			snprintf(err, errlen,
			    "'%s' has an empty item (a list is URL,URL,...)",
			    text);
			return (TASQ_EINVALID_ARGUMENT);
		}
		if (len >= sizeof(item)) {
			snprintf(err, errlen,
			    "an item of '%.40s...' is too long", text);
			return (TASQ_EINVALID_ARGUMENT);
		}
		memcpy(item, p, len);
		item[len] = '\0';
		if (tasq_url_check(item, use, err, errlen) != 0) {
			return (TASQ_EINVALID_ARGUMENT);
		}
		if (end == NULL) {
			return (0);
		}
		p = end + 1;
	}
}

int
tasq_opt_set(const tasq_opt *o, const char *text, char *err, size_t errlen)
{
	uint64_t v;

	switch (o->type) {
	case TASQ_OPT_LIST:
		return (list_add(o->ptr, text, strlen(text), err, errlen));
	case TASQ_OPT_URLS:
		if (urls_check(text, (tasq_url_use) o->min, err, errlen) !=
		    0) {
			char why[400];
			snprintf(why, sizeof(why), "%s", err);
			snprintf(err, errlen, "--%s: %s", o->name, why);
			return (TASQ_EINVALID_ARGUMENT);
		}
		goto str;
	case TASQ_OPT_URL:
		if (tasq_url_check(text, (tasq_url_use) o->min, err, errlen) !=
		    0) {
			char why[400];
			snprintf(why, sizeof(why), "%s", err);
			snprintf(err, errlen, "--%s: %s", o->name, why);
			return (TASQ_EINVALID_ARGUMENT);
		}
		// fall through
	case TASQ_OPT_STR:
	str : {
		char *s;
		if ((s = strdup(text)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return (TASQ_ERESOURCE_EXHAUSTED);
		}
		free(*(char **) o->ptr);
		*(char **) o->ptr = s;
		return (0);
	}
	case TASQ_OPT_BOOL:
		if (strcmp(text, "yes") == 0 || strcmp(text, "true") == 0 ||
		    strcmp(text, "1") == 0 || strcmp(text, "on") == 0) {
			*(bool *) o->ptr = true;
		} else if (strcmp(text, "no") == 0 ||
		    strcmp(text, "false") == 0 || strcmp(text, "0") == 0 ||
		    strcmp(text, "off") == 0) {
			*(bool *) o->ptr = false;
		} else {
			snprintf(err, errlen,
			    "--%s takes yes or no, not '%.40s'", o->name,
			    text);
			return (TASQ_EINVALID_ARGUMENT);
		}
		return (0);
	default:
		if (tasq_opt_parse_u64(o->type, text, &v) != 0) {
			snprintf(err, errlen, "--%s: '%.40s' is not %s",
			    o->name, text,
			    o->type == TASQ_OPT_MS
			        ? "a duration (250ms, 30s, 5m, 1h)"
			        : o->type == TASQ_OPT_SIZE
			        ? "a size (65536, 64KiB, 16MiB, 1GiB)"
			        : "an unsigned number");
			return (TASQ_EINVALID_ARGUMENT);
		}
		if (v < o->min || v > o->max) {
			snprintf(err, errlen,
			    "--%s: %llu is outside %llu..%llu", o->name,
			    (unsigned long long) v,
			    (unsigned long long) o->min,
			    (unsigned long long) o->max);
			return (TASQ_EINVALID_ARGUMENT);
		}
		*(uint64_t *) o->ptr = v;
		return (0);
	}
}

static const tasq_opt *
find_long(const tasq_opt *const *tables, const char *name, size_t len)
{
	for (int t = 0; tables[t] != NULL; t++) {
		for (const tasq_opt *o = tables[t]; o->name != NULL; o++) {
			if (strlen(o->name) == len &&
			    strncmp(o->name, name, len) == 0) {
				return (o);
			}
		}
	}
	return (NULL);
}

static const tasq_opt *
find_short(const tasq_opt *const *tables, int c)
{
	for (int t = 0; tables[t] != NULL; t++) {
		for (const tasq_opt *o = tables[t]; o->name != NULL; o++) {
			if (o->shortopt == c) {
				return (o);
			}
		}
	}
	return (NULL);
}

int
tasq_opt_conf_text(const tasq_opt *const *tables, const char *name,
    const char *buf, size_t len, char *err, size_t errlen)
{
	size_t pos    = 0;
	int    lineno = 0;
	char   line[1024];
	char   why[256];

	while (pos < len) {
		size_t n = 0;
		char  *k, *v, *e;

		lineno++;
		while (pos < len && buf[pos] != '\n') {
			if (n == sizeof(line) - 1) {
				snprintf(err, errlen, "%s:%d: line too long",
				    name, lineno);
				return (TASQ_EINVALID_ARGUMENT);
			}
			if (buf[pos] == '\0') {
				snprintf(err, errlen, "%s:%d: NUL byte", name,
				    lineno);
				return (TASQ_EINVALID_ARGUMENT);
			}
			line[n++] = buf[pos++];
		}
		pos++;
		line[n] = '\0';
		if ((e = strchr(line, '#')) != NULL) {
			*e = '\0';
		}
		k = line;
		while (isspace((unsigned char) *k)) {
			k++;
		}
		if (*k == '\0') {
			continue;
		}
		v = k;
		while (
		    *v != '\0' && !isspace((unsigned char) *v) && *v != '=') {
			v++;
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
		const tasq_opt *o = find_long(tables, k, klen);
		if (o == NULL || o->no_file) {
			snprintf(err, errlen, "%s:%d: unknown setting '%.*s'",
			    name, lineno, (int) (klen > 64 ? 64 : klen), k);
			return (TASQ_EINVALID_ARGUMENT);
		}
		if (*v == '\0' && o->type != TASQ_OPT_BOOL) {
			snprintf(err, errlen, "%s:%d: %s needs a value", name,
			    lineno, o->name);
			return (TASQ_EINVALID_ARGUMENT);
		}
		if (tasq_opt_set(o, *v ? v : "yes", why, sizeof(why)) != 0) {
			snprintf(err, errlen, "%s:%d: %s", name, lineno, why);
			return (TASQ_EINVALID_ARGUMENT);
		}
	}
	return (0);
}

int
tasq_opt_conf_file(
    const tasq_opt *const *tables, const char *path, char *err, size_t errlen)
{
	FILE  *f;
	char  *buf;
	size_t n;
	int    rv;

	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "cannot open configuration file %s: %s",
		    path, strerror(errno));
		return (TASQ_EINVALID_ARGUMENT);
	}
	if ((buf = malloc(CONF_MAX)) == NULL) {
		fclose(f);
		snprintf(err, errlen, "out of memory");
		return (TASQ_ERESOURCE_EXHAUSTED);
	}
	n = fread(buf, 1, CONF_MAX, f);
	if (ferror(f) || n == CONF_MAX) {
		snprintf(err, errlen, "cannot read %s (or larger than 1 MiB)",
		    path);
		rv = TASQ_EINVALID_ARGUMENT;
	} else {
		rv = tasq_opt_conf_text(tables, path, buf, n, err, errlen);
	}
	fclose(f);
	free(buf);
	return (rv);
}

static void
print_default(const tasq_opt *o)
{
	if (o->def != NULL) {
		printf(" (default: %s)", o->def);
	}
	if (o->env != NULL) {
		printf(" [env %s]", o->env);
	}
}

void
tasq_opt_help(const tasq_opt_ctx *c)
{
	printf("%s", c->usage);
	printf("\nOptions:\n");
	for (int t = 0; c->tables[t] != NULL; t++) {
		for (const tasq_opt *o = c->tables[t]; o->name != NULL; o++) {
			char lhs[64];
			if (o->shortopt != 0) {
				snprintf(lhs, sizeof(lhs), "-%c, --%s%s%s",
				    o->shortopt, o->name,
				    o->type == TASQ_OPT_BOOL ? "" : " ",
				    o->type == TASQ_OPT_BOOL
				        ? ""
				        : (o->metavar ? o->metavar : "V"));
			} else {
				snprintf(lhs, sizeof(lhs), "    --%s%s%s",
				    o->name,
				    o->type == TASQ_OPT_BOOL ? "" : " ",
				    o->type == TASQ_OPT_BOOL
				        ? ""
				        : (o->metavar ? o->metavar : "V"));
			}
			printf("  %-28s %s", lhs, o->help);
			print_default(o);
			printf("\n");
		}
	}
	if (c->allow_config) {
		printf("  %-28s %s\n", "    --config FILE",
		    "read settings from FILE (\"name value\" lines) "
		    "[env TASQ_CONFIG]");
		printf("  %-28s %s\n", "    --check-config",
		    "check the settings and exit");
	}
	printf("  %-28s %s\n", "-h, --help", "show this help and exit");
	printf("  %-28s %s\n", "    --version", "show the version and exit");
}

void
tasq_opt_free(const tasq_opt *const *tables)
{
	for (int t = 0; tables[t] != NULL; t++) {
		for (const tasq_opt *o = tables[t]; o->name != NULL; o++) {
			if (o->type == TASQ_OPT_STR ||
			    o->type == TASQ_OPT_URL ||
			    o->type == TASQ_OPT_URLS) {
				free(*(char **) o->ptr);
				*(char **) o->ptr = NULL;
			} else if (o->type == TASQ_OPT_LIST) {
				list_clear(o->ptr);
			}
		}
	}
}

static bool
is_negative_number(const char *s)
{
	return (s[0] == '-' && isdigit((unsigned char) s[1]));
}

static int
opt_parse(tasq_opt_ctx *c, int argc, char **argv)
{
	char        err[512];
	const char *conf = NULL;
	int         i;

	c->nargs        = 0;
	c->check_config = false;
	opt_src         = SRC_DEFAULT;
	for (int t = 0; c->tables[t] != NULL; t++) {
		for (const tasq_opt *o = c->tables[t]; o->name != NULL; o++) {
			if (o->type == TASQ_OPT_LIST) {
				list_clear(o->ptr);
				((tasq_opt_list *) o->ptr)->src_ = SRC_DEFAULT;
			}
			if (o->def != NULL &&
			    (o->type == TASQ_OPT_LIST
			            ? list_set_lines(
			                  o, o->def, err, sizeof(err))
			            : tasq_opt_set(
			                  o, o->def, err, sizeof(err))) != 0) {
				fprintf(stderr, "%s: bad default: %s\n",
				    c->prog, err);
				return (TASQ_OPT_EXIT_BAD);
			}
		}
	}
	// The file comes before the environment and flags, so find it first.
	if (c->allow_config) {
		conf = getenv("TASQ_CONFIG");
		for (i = 0; i < argc; i++) {
			if (strcmp(argv[i], "--") == 0) {
				break;
			}
			if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
				conf = argv[++i];
			} else if (strncmp(argv[i], "--config=", 9) == 0) {
				conf = argv[i] + 9;
			}
		}
		opt_src = SRC_FILE;
		if (conf != NULL && conf[0] != '\0' &&
		    tasq_opt_conf_file(c->tables, conf, err, sizeof(err)) !=
		        0) {
			fprintf(stderr, "%s: %s\n", c->prog, err);
			return (TASQ_OPT_EXIT_BAD);
		}
	}
	opt_src = SRC_ENV;
	for (int t = 0; c->tables[t] != NULL; t++) {
		for (const tasq_opt *o = c->tables[t]; o->name != NULL; o++) {
			const char *v;
			if (o->env == NULL || (v = getenv(o->env)) == NULL ||
			    v[0] == '\0') {
				continue;
			}
			if ((o->type == TASQ_OPT_LIST
			            ? list_set_lines(o, v, err, sizeof(err))
			            : tasq_opt_set(o, v, err, sizeof(err))) !=
			    0) {
				fprintf(stderr, "%s: %s: %s\n", c->prog,
				    o->env, err);
				return (TASQ_OPT_EXIT_BAD);
			}
		}
	}
	opt_src = SRC_FLAG;
	for (i = 0; i < argc; i++) {
		const char     *a   = argv[i];
		const char     *val = NULL;
		const tasq_opt *o;

		if (strcmp(a, "--") == 0) {
			while (++i < argc) {
				c->args[c->nargs++] = argv[i];
			}
			break;
		}
		if (a[0] != '-' || a[1] == '\0' || is_negative_number(a)) {
			c->args[c->nargs++] = argv[i];
			continue;
		}
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			tasq_opt_help(c);
			return (TASQ_OPT_EXIT_OK);
		}
		if (strcmp(a, "--version") == 0) {
			printf("%s %s\n", c->prog, c->version);
			return (TASQ_OPT_EXIT_OK);
		}
		if (c->allow_config && strcmp(a, "--check-config") == 0) {
			c->check_config = true;
			continue;
		}
		if (c->allow_config && strcmp(a, "--config") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "%s: --config needs a value\n",
				    c->prog);
				return (TASQ_OPT_EXIT_BAD);
			}
			i++; // read above
			continue;
		}
		if (c->allow_config && strncmp(a, "--config=", 9) == 0) {
			continue;
		}
		if (a[1] == '-') {
			const char *eq = strchr(a + 2, '=');
			size_t n = eq ? (size_t) (eq - a - 2) : strlen(a + 2);
			o        = find_long(c->tables, a + 2, n);
			if (eq != NULL) {
				val = eq + 1;
			}
		} else {
			o = (a[2] == '\0') ? find_short(c->tables, a[1])
			                   : NULL;
			if (o == NULL && a[2] != '\0') {
				// -j8 style
				o = find_short(c->tables, a[1]);
				if (o != NULL && o->type != TASQ_OPT_BOOL) {
					val = a + 2;
				} else {
					o = NULL;
				}
			}
		}
		if (o == NULL) {
			fprintf(stderr,
			    "%s: unknown option '%.60s' (see --help)\n",
			    c->prog, a);
			return (TASQ_OPT_EXIT_BAD);
		}
		if (o->type == TASQ_OPT_BOOL && val == NULL) {
			val = "yes";
		} else if (val == NULL) {
			if (i + 1 >= argc) {
				fprintf(stderr, "%s: --%s needs a value\n",
				    c->prog, o->name);
				return (TASQ_OPT_EXIT_BAD);
			}
			val = argv[++i];
		}
		if (tasq_opt_set(o, val, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s: %s\n", c->prog, err);
			return (TASQ_OPT_EXIT_BAD);
		}
	}
	return (TASQ_OPT_OK);
}

int
tasq_opt_parse(tasq_opt_ctx *c, int argc, char **argv)
{
	int rv = opt_parse(c, argc, argv);

	// tasq_opt_conf_text called on its own adds to a list.
	opt_src = SRC_FILE;
	return (rv);
}
