#include "url.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

// At most this much of a bad address is quoted back.
#define SHOW_MAX 80

typedef struct {
	const char *host;
	size_t      hostlen;
	const char *port;
	size_t      portlen;
	bool        colon; // a ':' separates a port (maybe empty)
} hostport;

static bool
host_char(int ch, bool bracketed)
{
	if (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '*') {
		return (true);
	}
	return (bracketed && (ch == ':' || ch == '%'));
}

// Splits s (len bytes) into HOST and PORT; HOST may be an IPv6 address in
// brackets. Returns false when s does not have that shape.
static bool
split_hostport(const char *s, size_t len, hostport *hp)
{
	size_t i = 0;

	memset(hp, 0, sizeof(*hp));
	hp->host = s;
	if (len > 0 && s[0] == '[') {
		for (i = 1; i < len && s[i] != ']'; i++) {
			if (!host_char((unsigned char) s[i], true)) {
				return (false);
			}
		}
		if (i == len || i == 1) {
			return (false);
		}
		i++; // past ']'
	} else {
		while (i < len && s[i] != ':') {
			if (!host_char((unsigned char) s[i], false)) {
				return (false);
			}
			i++;
		}
	}
	hp->hostlen = i;
	if (i == len) {
		return (true);
	}
	if (s[i] != ':') {
		return (false);
	}
	hp->colon   = true;
	hp->port    = s + i + 1;
	hp->portlen = len - i - 1;
	return (true);
}

// The port as a number, or -1 when it is not one in 0..65535.
static long
port_number(const hostport *hp)
{
	long n = 0;

	if (hp->portlen == 0 || hp->portlen > 5) {
		return (-1);
	}
	for (size_t k = 0; k < hp->portlen; k++) {
		if (!isdigit((unsigned char) hp->port[k])) {
			return (-1);
		}
		n = n * 10 + (hp->port[k] - '0');
	}
	return (n > 65535 ? -1 : n);
}

// Writes scheme://HOST:PORT of s (len bytes) to fix when s is a complete
// HOST:PORT; leaves fix empty otherwise.
static void
suggest(
    char *fix, size_t fixlen, const char *scheme, const char *s, size_t len)
{
	hostport hp;

	fix[0] = '\0';
	if (!split_hostport(s, len, &hp) || hp.hostlen == 0 ||
	    port_number(&hp) < 0) {
		return;
	}
	if ((size_t) snprintf(
	        fix, fixlen, "%s://%.*s", scheme, (int) len, s) >= fixlen) {
		fix[0] = '\0'; // a cut suggestion would mislead
	}
}

// Checks the HOST:PORT[/path] after "scheme://". Returns NULL when fine,
// else the reason.
static const char *
check_authority(const char *rest, tasq_url_use use)
{
	size_t      len  = strcspn(rest, "/?#");
	const char *tail = rest + len;
	hostport    hp;
	long        port;

	if (memchr(rest, '@', len) != NULL) {
		return ("has a user name, which tasq does not take");
	}
	if (*tail != '\0' && strcmp(tail, "/") != 0 &&
	    (use != TASQ_URL_HTTP || *tail != '/')) {
		return ("has a path, query or fragment after the port, which "
		        "this scheme does not take");
	}
	if (!split_hostport(rest, len, &hp)) {
		return ("is not HOST:PORT (an IPv6 address goes in brackets: "
		        "[::1]:7070)");
	}
	if (!hp.colon || hp.portlen == 0) {
		return ("has no port (HOST:PORT)");
	}
	if ((port = port_number(&hp)) < 0) {
		return ("has a port that is not a number in 0..65535");
	}
	if (use == TASQ_URL_DIAL) {
		if (hp.hostlen == 0 ||
		    (hp.hostlen == 1 && hp.host[0] == '*')) {
			return ("has no host to connect to");
		}
		if (port == 0) {
			return ("has port 0, which only a listener can take");
		}
	} else if (memchr(hp.host, '*', hp.hostlen) != NULL &&
	    hp.hostlen != 1) {
		return ("has a '*' inside the host name");
	}
	return (NULL);
}

static bool
is_tcp_scheme(const char *s)
{
	static const char *const tcp[] = { "tcp", "tcp4", "tcp6", "tls+tcp",
		"tls+tcp4", "tls+tcp6" };

	for (size_t i = 0; i < sizeof(tcp) / sizeof(tcp[0]); i++) {
		if (strcmp(s, tcp[i]) == 0) {
			return (true);
		}
	}
	return (false);
}

static bool
all_digits(const char *s)
{
	if (*s == '\0') {
		return (false);
	}
	for (; *s != '\0'; s++) {
		if (!isdigit((unsigned char) *s)) {
			return (false);
		}
	}
	return (true);
}

// Finds what is wrong with url; fills why and, when there is an obvious
// fix, fix. Returns true when url is fine.
static bool
diagnose(const char *url, tasq_url_use use, const char **why, char *fix,
    size_t fixlen)
{
	const char *sep   = strstr(url, "://");
	const char *plain = use == TASQ_URL_HTTP ? "http" : "tcp";
	char        scheme[16], lower[16];
	size_t      slen;
	const char *rest;

	fix[0] = '\0';
	if (url[0] == '\0') {
		*why = "is empty";
		return (false);
	}
	if (sep == NULL) {
		const char *colon = strchr(url, ':');
		*why              = "is not a URL (no scheme://)";
		if (colon != NULL && colon[1] == '/' && colon > url &&
		    (size_t) (colon - url) < sizeof(lower)) {
			// "tcp:/host:port": a slash short.
			slen = (size_t) (colon - url);
			for (size_t i = 0; i < slen; i++) {
				lower[i] =
				    (char) tolower((unsigned char) url[i]);
			}
			lower[slen] = '\0';
			rest        = colon + 1;
			while (*rest == '/') {
				rest++;
			}
			if (is_tcp_scheme(lower) ||
			    strcmp(lower, plain) == 0) {
				suggest(
				    fix, fixlen, lower, rest, strlen(rest));
			}
		} else if (url[0] == '/' && use != TASQ_URL_HTTP) {
			if ((size_t) snprintf(fix, fixlen, "ipc://%s", url) >=
			    fixlen) {
				fix[0] = '\0';
			}
		} else if (all_digits(url) && strlen(url) <= 5) {
			char hp[32];
			snprintf(hp, sizeof(hp), "%s:%s",
			    use == TASQ_URL_DIAL ? "127.0.0.1" : "0.0.0.0",
			    url);
			suggest(fix, fixlen, plain, hp, strlen(hp));
		} else {
			suggest(fix, fixlen, plain, url, strlen(url));
		}
		return (false);
	}
	slen = (size_t) (sep - url);
	rest = sep + 3;
	if (slen == 0 || slen >= sizeof(scheme)) {
		*why = "does not start with a known scheme";
		return (false);
	}
	memcpy(scheme, url, slen);
	scheme[slen] = '\0';
	for (size_t i = 0; i <= slen; i++) {
		lower[i] = (char) tolower((unsigned char) scheme[i]);
	}
	size_t alen = strcspn(rest, "/?#");
	if (strcmp(scheme, lower) != 0 &&
	    (is_tcp_scheme(lower) || strcmp(lower, "ipc") == 0 ||
	        strcmp(lower, plain) == 0)) {
		*why = "has an upper-case scheme (schemes are lower case)";
		if ((size_t) snprintf(fix, fixlen, "%s://%s", lower, rest) >=
		    fixlen) {
			fix[0] = '\0';
		}
		return (false);
	}
	if (use == TASQ_URL_HTTP) {
		if (strcmp(scheme, "http") == 0) {
			return ((*why = check_authority(rest, use)) == NULL);
		}
		*why = strcmp(scheme, "https") == 0
		    ? "is https: the metrics server speaks plain HTTP"
		    : "is not an http:// URL";
		suggest(fix, fixlen, "http", rest, alen);
		return (false);
	}
	if (is_tcp_scheme(scheme)) {
		return ((*why = check_authority(rest, use)) == NULL);
	}
	if (strcmp(scheme, "ipc") == 0) {
		if (*rest == '\0') {
			*why = "has no path after ipc://";
			return (false);
		}
		return (true);
	}
	if (strcmp(scheme, "http") == 0 || strcmp(scheme, "ws") == 0) {
		*why = "is not a tasq address: tasq speaks its own protocol, "
		       "not HTTP";
		suggest(fix, fixlen, "tcp", rest, alen);
	} else if (strcmp(scheme, "https") == 0 ||
	    strcmp(scheme, "wss") == 0) {
		*why = "is not a tasq address: tasq speaks its own protocol "
		       "over TLS, not HTTP";
		suggest(fix, fixlen, "tls+tcp", rest, alen);
	} else {
		*why     = "has an unknown scheme";
		bool tls = strstr(lower, "tls") != NULL ||
		    strstr(lower, "ssl") != NULL;
		suggest(fix, fixlen, tls ? "tls+tcp" : "tcp", rest, alen);
	}
	return (false);
}

int
tasq_url_check(const char *url, tasq_url_use use, char *err, size_t errlen)
{
	const char *why = NULL;
	char        fix[256];
	char        scheme[24] = "";
	const char *sep;

	if (diagnose(url, use, &why, fix, sizeof(fix))) {
		return (0);
	}
	// Name an unknown scheme, so that a typo shows.
	if ((sep = strstr(url, "://")) != NULL &&
	    strcmp(why, "has an unknown scheme") == 0 &&
	    (size_t) (sep - url) < 16) {
		snprintf(
		    scheme, sizeof(scheme), " '%.*s'", (int) (sep - url), url);
	}
	snprintf(err, errlen, "'%.*s%s' %s%s%s%s%s (use %s)", SHOW_MAX, url,
	    strlen(url) > SHOW_MAX ? "..." : "", why, scheme,
	    fix[0] ? "; did you mean " : "", fix, fix[0] ? "?" : "",
	    use == TASQ_URL_HTTP ? "http://HOST:PORT" : TASQ_URL_FORMS);
	return (TASQ_EINVALID_ARGUMENT);
}
