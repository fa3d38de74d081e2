// shard: the server set of a session (shard.h). The list's items never
// change after tasq_shard_alloc, so name lookups read them without the
// mutex; the members change only under it.
#include "shard.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "err.h"
#include "rand.h"
#include "url.h"

// The longest item taken: a host name (253) plus scheme, brackets, port.
#define ITEM_MAX 300

typedef struct item {
	char url[ITEM_MAX + 1];         // as given, spaces trimmed
	char scheme[16];                // "tcp", "tls+tcp6", "ipc"
	char host[TASQ_SHARD_HOST_MAX]; // without brackets; ipc: the path
	char port[8];
	int  family;  // AF_UNSPEC, or AF_INET/AF_INET6 for tcp4/tcp6
	bool literal; // an IP address: a member as it is
	bool ipc;
	bool tls;
} item;

typedef struct member {
	tasq_shard_member m;
	size_t            item;   // the item it came from first
	bool              handed; // out by tasq_shard_due, not yet marked
} member;

struct tasq_shard {
	nng_mtx        *mtx;
	tasq_shard_opts o;
	item           *items; // immutable after alloc
	size_t          nitems;
	bool            has_names; // some item needs resolution
	member         *members;   // o.max_members slots, in number order
	size_t          nmembers;
	uint32_t        next_num;
	bool            resolved_once;
	bool            soon;
	bool            resolving;
	uint64_t        last_resolve_ms;
};

// ---- small helpers ---------------------------------------------------

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0) {
		return;
	}
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

// Appends to err at *off, keeping it NUL-terminated and truncated.
static void adderr(char *err, size_t errlen, size_t *off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
adderr(char *err, size_t errlen, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int     k;

	if (err == NULL || errlen == 0 || *off >= errlen - 1) {
		return;
	}
	va_start(ap, fmt);
	k = vsnprintf(err + *off, errlen - *off, fmt, ap);
	va_end(ap);
	if (k > 0) {
		*off += (size_t) k;
		if (*off > errlen - 1) {
			*off = errlen - 1;
		}
	}
}

// Copies src into dst of len bytes, cut to fit (the fields it fills are
// sized for what they hold; a longer value is cut, never overrun).
static void
copy_str(char *dst, size_t len, const char *src)
{
	size_t n = src != NULL ? strlen(src) : 0;

	if (len == 0) {
		return;
	}
	if (n >= len) {
		n = len - 1;
	}
	if (n > 0) {
		memcpy(dst, src, n);
	}
	dst[n] = '\0';
}

// Whether host (no brackets) is an IP address; writes its canonical form
// (inet_ntop's, with any %scope kept) to canon.
static bool
ip_literal(const char *host, char *canon, size_t len)
{
	unsigned char bin[16];
	char          ip[TASQ_SHARD_ADDR_MAX], txt[INET6_ADDRSTRLEN];
	const char   *pct = strchr(host, '%');
	size_t        n   = pct != NULL ? (size_t) (pct - host) : strlen(host);

	if (n >= sizeof(ip)) {
		return (false);
	}
	memcpy(ip, host, n);
	ip[n] = '\0';
	if (pct == NULL && inet_pton(AF_INET, ip, bin) == 1) {
		inet_ntop(AF_INET, bin, txt, sizeof(txt));
	} else if (inet_pton(AF_INET6, ip, bin) == 1) {
		inet_ntop(AF_INET6, bin, txt, sizeof(txt));
	} else {
		return (false);
	}
	snprintf(canon, len, "%s%s", txt, pct != NULL ? pct : "");
	return (true);
}

// The URL to dial for address addr of it.
static void
member_url(char *url, size_t len, const item *it, const char *addr)
{
	bool v6 = strchr(addr, ':') != NULL;

	if (it->ipc) {
		copy_str(url, len, it->url);
		return;
	}
	snprintf(url, len, "%s://%s%s%s:%s", it->scheme, v6 ? "[" : "", addr,
	    v6 ? "]" : "", it->port);
}

// ---- the list --------------------------------------------------------

// Splits an item that tasq_url_check accepted into its parts.
static int
split_item(item *it, char *err, size_t errlen)
{
	const char *sep = strstr(it->url, "://");
	const char *rest, *end, *colon;
	size_t      n;

	n = (size_t) (sep - it->url);
	if (n >= sizeof(it->scheme)) {
		seterr(err, errlen, "'%s' has an unknown scheme", it->url);
		return (TASQ_EINVALID_ARGUMENT);
	}
	memcpy(it->scheme, it->url, n);
	it->scheme[n] = '\0';
	rest          = sep + 3;
	if (strcmp(it->scheme, "ipc") == 0) {
		it->ipc = true;
		copy_str(it->host, sizeof(it->host), rest);
		return (0);
	}
	it->tls    = strncmp(it->scheme, "tls+", 4) == 0;
	n          = strlen(it->scheme);
	it->family = it->scheme[n - 1] == '4' ? AF_INET
	    : it->scheme[n - 1] == '6'        ? AF_INET6
	                                      : AF_UNSPEC;
	end        = rest + strcspn(rest, "/?#");
	if (*rest == '[') {
		const char *rb = memchr(rest, ']', (size_t) (end - rest));
		if (rb == NULL) {
			seterr(err, errlen, "'%s' has no ']'", it->url);
			return (TASQ_EINVALID_ARGUMENT);
		}
		n     = (size_t) (rb - rest - 1);
		colon = rb + 1;
		rest++;
	} else {
		colon = memchr(rest, ':', (size_t) (end - rest));
		n     = colon != NULL ? (size_t) (colon - rest) : 0;
	}
	if (colon == NULL || *colon != ':' || n == 0 ||
	    n >= sizeof(it->host) ||
	    (size_t) (end - colon - 1) >= sizeof(it->port)) {
		seterr(err, errlen, "'%s' is not HOST:PORT", it->url);
		return (TASQ_EINVALID_ARGUMENT);
	}
	memcpy(it->host, rest, n);
	it->host[n] = '\0';
	memcpy(it->port, colon + 1, (size_t) (end - colon - 1));
	it->port[end - colon - 1] = '\0';
	char canon[TASQ_SHARD_ADDR_MAX];
	if ((it->literal = ip_literal(it->host, canon, sizeof(canon)))) {
		copy_str(it->host, sizeof(it->host), canon);
	}
	return (0);
}

static bool
same_server(const item *a, const item *b)
{
	return (strcmp(a->scheme, b->scheme) == 0 &&
	    strcasecmp(a->host, b->host) == 0 &&
	    strcmp(a->port, b->port) == 0);
}

// Parses spec into a new array of items (free with free()).
static int
parse(const char *spec, size_t max, item **itemsp, size_t *np, char *err,
    size_t errlen)
{
	item       *items = NULL;
	size_t      n = 0, cap = 1, k;
	const char *p, *q;
	char        why[512];
	int         rv;

	*itemsp = NULL;
	*np     = 0;
	if (max == 0) {
		max = TASQ_SHARD_MAX_MEMBERS;
	}
	if (spec == NULL) {
		spec = "";
	}
	for (p = spec; *p != '\0'; p++) {
		cap += *p == ',';
	}
	if (cap > max) {
		seterr(err, errlen,
		    "the server list has %zu items, more than the %zu a "
		    "session takes",
		    cap, max);
		return (TASQ_EINVALID_ARGUMENT);
	}
	if ((items = calloc(cap, sizeof(*items))) == NULL) {
		seterr(err, errlen, "out of memory");
		return (TASQ_ERESOURCE_EXHAUSTED);
	}
	for (p = spec;; p = q + 1) {
		item *it = &items[n];
		q        = p + strcspn(p, ",");
		while (p < q && isspace((unsigned char) *p)) {
			p++;
		}
		k = (size_t) (q - p);
		while (k > 0 && isspace((unsigned char) p[k - 1])) {
			k--;
		}
		if (k == 0) {
			if (cap == 1) {
				seterr(err, errlen,
				    "the server list is empty (use %s, "
				    "several separated by commas)",
				    TASQ_URL_FORMS);
			} else {
				seterr(err, errlen,
				    "item %zu of the server list '%.80s' is "
				    "empty (a comma too many?)",
				    n + 1, spec);
			}
			rv = TASQ_EINVALID_ARGUMENT;
			goto fail;
		}
		if (k > ITEM_MAX) {
			seterr(err, errlen,
			    "item %zu of the server list is longer than %d "
			    "characters",
			    n + 1, ITEM_MAX);
			rv = TASQ_EINVALID_ARGUMENT;
			goto fail;
		}
		memcpy(it->url, p, k);
		it->url[k] = '\0';
		if ((rv = tasq_url_check(
		         it->url, TASQ_URL_DIAL, why, sizeof(why))) != 0) {
			if (cap == 1) {
				seterr(err, errlen, "%s", why);
			} else {
				seterr(err, errlen,
				    "item %zu of the server list: %s", n + 1,
				    why);
			}
			goto fail;
		}
		if ((rv = split_item(it, err, errlen)) != 0) {
			goto fail;
		}
		if (it->ipc && cap > 1) {
			seterr(err, errlen,
			    "'%s': an ipc:// server cannot be part of a "
			    "list (one server only)",
			    it->url);
			rv = TASQ_EINVALID_ARGUMENT;
			goto fail;
		}
		for (size_t j = 0; j < n; j++) {
			if (same_server(&items[j], it)) {
				seterr(err, errlen,
				    "the server list names '%s' twice (items "
				    "%zu and %zu)",
				    it->url, j + 1, n + 1);
				rv = TASQ_EINVALID_ARGUMENT;
				goto fail;
			}
			if (items[j].tls != it->tls) {
				seterr(err, errlen,
				    "the server list mixes tls+tcp:// and "
				    "tcp:// ('%s', '%s'): every server of a "
				    "list speaks the same",
				    items[j].url, it->url);
				rv = TASQ_EINVALID_ARGUMENT;
				goto fail;
			}
		}
		n++;
		if (*q == '\0') {
			break;
		}
	}
	*itemsp = items;
	*np     = n;
	return (0);
fail:
	free(items);
	return (rv);
}

int
tasq_shard_check(
    const char *spec, size_t max_members, char *err, size_t errlen)
{
	item  *items;
	size_t n;
	int    rv;

	if ((rv = parse(spec, max_members, &items, &n, err, errlen)) == 0) {
		free(items);
	}
	return (rv);
}

// ---- the set ---------------------------------------------------------

int
tasq_shard_alloc(tasq_shard **sp, const char *spec, const tasq_shard_opts *o,
    char *err, size_t errlen)
{
	tasq_shard *s;
	int         rv;

	*sp = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		seterr(err, errlen, "out of memory");
		return (TASQ_ERESOURCE_EXHAUSTED);
	}
	if (o != NULL) {
		s->o = *o;
	}
	if (s->o.resolve_interval_ms == 0) {
		s->o.resolve_interval_ms = TASQ_SHARD_RESOLVE_MS;
	}
	if (s->o.backoff_min_ms == 0) {
		s->o.backoff_min_ms = TASQ_SHARD_BACKOFF_MIN_MS;
	}
	if (s->o.backoff_max_ms == 0) {
		s->o.backoff_max_ms = TASQ_SHARD_BACKOFF_MAX_MS;
	}
	if (s->o.backoff_max_ms < s->o.backoff_min_ms) {
		s->o.backoff_max_ms = s->o.backoff_min_ms;
	}
	if (s->o.max_members == 0) {
		s->o.max_members = TASQ_SHARD_MAX_MEMBERS;
	}
	if (s->o.resolver == NULL) {
		s->o.resolver = tasq_shard_resolve_system;
	}
	if ((rv = parse(spec, s->o.max_members, &s->items, &s->nitems, err,
	         errlen)) != 0) {
		tasq_shard_free(s);
		return (rv);
	}
	for (size_t i = 0; i < s->nitems; i++) {
		s->has_names |= !s->items[i].literal && !s->items[i].ipc;
	}
	if ((s->members = calloc(s->o.max_members, sizeof(member))) == NULL ||
	    nng_mtx_alloc(&s->mtx) != 0) {
		tasq_shard_free(s);
		seterr(err, errlen, "out of memory");
		return (TASQ_ERESOURCE_EXHAUSTED);
	}
	s->next_num = 1;
	*sp         = s;
	return (0);
}

void
tasq_shard_free(tasq_shard *s)
{
	if (s == NULL) {
		return;
	}
	if (s->mtx != NULL) {
		nng_mtx_free(s->mtx);
	}
	free(s->members);
	free(s->items);
	free(s);
}

// Copies member i with its alias_of. Under the mutex.
static void
copy_member(const tasq_shard *s, size_t i, tasq_shard_member *out)
{
	const tasq_shard_member *m = &s->members[i].m;

	*out          = *m;
	out->alias_of = 0;
	if (!m->probed || m->identity == 0) {
		return;
	}
	for (size_t j = 0; j < i; j++) {
		const tasq_shard_member *o = &s->members[j].m;
		if (o->probed && o->identity == m->identity) {
			out->alias_of = o->num;
			return;
		}
	}
}

static member *
find_num(tasq_shard *s, uint32_t num)
{
	for (size_t i = 0; i < s->nmembers; i++) {
		if (s->members[i].m.num == num) {
			return (&s->members[i]);
		}
	}
	return (NULL);
}

size_t
tasq_shard_count(tasq_shard *s)
{
	size_t n;

	nng_mtx_lock(s->mtx);
	n = s->nmembers;
	nng_mtx_unlock(s->mtx);
	return (n);
}

bool
tasq_shard_has_names(tasq_shard *s)
{
	return (s->has_names); // fixed at alloc
}

size_t
tasq_shard_members(tasq_shard *s, tasq_shard_member *out, size_t max)
{
	size_t n;

	nng_mtx_lock(s->mtx);
	n = s->nmembers;
	for (size_t i = 0; i < n && i < max; i++) {
		copy_member(s, i, &out[i]);
	}
	nng_mtx_unlock(s->mtx);
	return (n);
}

int
tasq_shard_get(tasq_shard *s, uint32_t num, tasq_shard_member *m)
{
	int rv = TASQ_ENOT_FOUND;

	nng_mtx_lock(s->mtx);
	for (size_t i = 0; i < s->nmembers; i++) {
		if (s->members[i].m.num == num) {
			copy_member(s, i, m);
			rv = 0;
			break;
		}
	}
	nng_mtx_unlock(s->mtx);
	return (rv);
}

int
tasq_shard_set_user(tasq_shard *s, uint32_t num, void *user)
{
	member *mb;
	int     rv = TASQ_ENOT_FOUND;

	nng_mtx_lock(s->mtx);
	if ((mb = find_num(s, num)) != NULL) {
		mb->m.user = user;
		rv         = 0;
	}
	nng_mtx_unlock(s->mtx);
	return (rv);
}

int
tasq_shard_mark_up(
    tasq_shard *s, uint32_t num, uint64_t identity, uint64_t now_ms)
{
	member *mb;
	int     rv = TASQ_ENOT_FOUND;

	nng_mtx_lock(s->mtx);
	if ((mb = find_num(s, num)) != NULL) {
		if (mb->m.state != TASQ_SHARD_UP) {
			mb->m.since_ms = now_ms;
		}
		mb->m.state    = TASQ_SHARD_UP;
		mb->m.identity = identity;
		mb->m.probed   = true;
		mb->m.err[0]   = '\0';
		mb->m.fails    = 0;
		mb->m.retry_ms = 0;
		mb->handed     = false;
		rv             = 0;
	}
	nng_mtx_unlock(s->mtx);
	return (rv);
}

// The delay before probe number fails + 1 of a member that is down.
static uint64_t
backoff_ms(const tasq_shard *s, unsigned fails)
{
	uint64_t d = s->o.backoff_min_ms;

	for (unsigned k = 1; k < fails && d < s->o.backoff_max_ms; k++) {
		d *= 2;
	}
	if (d > s->o.backoff_max_ms) {
		d = s->o.backoff_max_ms;
	}
	// Half of it, plus up to the other half at random: members that
	// went down together are not probed in step.
	return (d / 2 + tasq_random64() % (d - d / 2 + 1));
}

int
tasq_shard_mark_down(
    tasq_shard *s, uint32_t num, uint64_t now_ms, const char *why)
{
	member  *mb;
	uint64_t delay;
	int      rv = TASQ_ENOT_FOUND;

	nng_mtx_lock(s->mtx);
	if ((mb = find_num(s, num)) != NULL) {
		if (mb->m.state != TASQ_SHARD_DOWN) {
			mb->m.since_ms = now_ms;
			mb->m.fails    = 0;
		}
		mb->m.state = TASQ_SHARD_DOWN;
		copy_str(mb->m.err, sizeof(mb->m.err),
		    why != NULL && why[0] != '\0' ? why : "unreachable");
		mb->m.fails++;
		delay          = backoff_ms(s, mb->m.fails);
		mb->m.retry_ms = now_ms + delay;
		mb->handed     = false;
		rv             = 0;
	}
	nng_mtx_unlock(s->mtx);
	return (rv);
}

// Whether a resolution is due at now_ms. Under the mutex.
static bool
resolve_due(const tasq_shard *s, uint64_t now_ms)
{
	if (!s->resolved_once || s->soon) {
		return (true);
	}
	return (s->has_names && now_ms >= s->last_resolve_ms &&
	    now_ms - s->last_resolve_ms >= s->o.resolve_interval_ms);
}

size_t
tasq_shard_due(tasq_shard *s, uint64_t now_ms, uint32_t *nums, size_t max,
    uint64_t *next_ms)
{
	uint64_t next = UINT64_MAX;
	size_t   n    = 0;

	nng_mtx_lock(s->mtx);
	for (size_t i = 0; i < s->nmembers; i++) {
		member *mb = &s->members[i];
		bool    due;
		if (mb->handed || mb->m.state == TASQ_SHARD_UP) {
			continue;
		}
		due = mb->m.state == TASQ_SHARD_UNKNOWN ||
		    mb->m.retry_ms <= now_ms;
		if (!due) {
			next = mb->m.retry_ms < next ? mb->m.retry_ms : next;
		} else if (n < max) {
			nums[n++]  = mb->m.num;
			mb->handed = true;
		} else {
			next = now_ms; // more than max due: call again
		}
	}
	if (resolve_due(s, now_ms)) {
		next = now_ms;
	} else if (s->has_names) {
		uint64_t r = s->last_resolve_ms + s->o.resolve_interval_ms;
		next       = r < next ? r : next;
	}
	nng_mtx_unlock(s->mtx);
	if (next_ms != NULL) {
		*next_ms = next;
	}
	return (n);
}

// ---- resolution ------------------------------------------------------

int
tasq_shard_resolve_system(void *arg, const char *host, int family,
    tasq_shard_addr *addrs, size_t max, size_t *n, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL, *ai;
	int             rc;

	(void) arg;
	*n = 0;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family   = family;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(host, NULL, &hints, &res)) != 0) {
		seterr(err, errlen, "%s",
		    rc == EAI_SYSTEM ? "system error" : gai_strerror(rc));
		return (TASQ_EUNAVAILABLE);
	}
	for (ai = res; ai != NULL && *n < max; ai = ai->ai_next) {
		char   text[TASQ_SHARD_ADDR_MAX];
		bool   dup = false;
		size_t k;
		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
		    getnameinfo(ai->ai_addr, ai->ai_addrlen, text,
		        sizeof(text), NULL, 0, NI_NUMERICHOST) != 0) {
			continue;
		}
		for (k = 0; k < *n && !dup; k++) {
			dup = strcmp(addrs[k].text, text) == 0;
		}
		if (!dup) {
			copy_str(addrs[*n].text, sizeof(addrs[*n].text), text);
			(*n)++;
		}
	}
	freeaddrinfo(res);
	if (*n == 0) {
		seterr(err, errlen, "no IPv4 or IPv6 address");
		return (TASQ_EUNAVAILABLE);
	}
	return (0);
}

// What one item resolved to.
typedef struct lookup {
	tasq_shard_addr *addrs;
	size_t           n;
	int              rv;
	char             err[TASQ_SHARD_ERR_MAX];
} lookup;

// A member the set should have after a resolution.
typedef struct want {
	char   url[TASQ_SHARD_URL_MAX];
	char   addr[TASQ_SHARD_ADDR_MAX];
	size_t item;
} want;

// Adds url to wants unless it is there. Returns false when full.
static bool
want_add(want *w, size_t *nw, size_t cap, const item *it, size_t idx,
    const char *addr)
{
	char url[TASQ_SHARD_URL_MAX];

	member_url(url, sizeof(url), it, addr);
	for (size_t k = 0; k < *nw; k++) {
		if (strcmp(w[k].url, url) == 0) {
			return (true);
		}
	}
	if (*nw == cap) {
		return (false);
	}
	copy_str(w[*nw].url, sizeof(w[*nw].url), url);
	copy_str(w[*nw].addr, sizeof(w[*nw].addr), addr);
	w[*nw].item = idx;
	(*nw)++;
	return (true);
}

void
tasq_shard_resolve_soon(tasq_shard *s)
{
	nng_mtx_lock(s->mtx);
	s->soon = true;
	nng_mtx_unlock(s->mtx);
}

int
tasq_shard_resolve(tasq_shard *s, uint64_t now_ms, tasq_shard_change **chp,
    size_t *nch, char *err, size_t errlen)
{
	size_t             max   = s->o.max_members;
	size_t             per   = max + 1; // one more shows an overflow
	lookup            *lk    = NULL;
	tasq_shard_addr   *addrs = NULL;
	want              *w     = NULL;
	tasq_shard_change *ch    = NULL;
	size_t             nw = 0, wcap, n = 0, off = 0;
	bool               full = false;
	int                rv   = 0;

	*chp = NULL;
	*nch = 0;
	seterr(err, errlen, "%s", "");
	nng_mtx_lock(s->mtx);
	if (s->resolving || !resolve_due(s, now_ms)) {
		nng_mtx_unlock(s->mtx);
		return (0);
	}
	s->resolving = true;
	s->soon      = false;
	nng_mtx_unlock(s->mtx);

	wcap = max + s->nitems; // the cap plus one, at least
	if ((lk = calloc(s->nitems, sizeof(*lk))) == NULL ||
	    (addrs = calloc(s->nitems * per, sizeof(*addrs))) == NULL ||
	    (w = calloc(wcap, sizeof(*w))) == NULL) {
		seterr(err, errlen, "out of memory");
		rv = TASQ_ERESOURCE_EXHAUSTED;
		nng_mtx_lock(s->mtx);
		s->resolving = false;
		s->soon      = true;
		nng_mtx_unlock(s->mtx);
		goto out;
	}
	// The lookups, outside the mutex (the items do not change).
	for (size_t i = 0; i < s->nitems; i++) {
		const item *it = &s->items[i];
		lk[i].addrs    = &addrs[i * per];
		if (it->literal || it->ipc) {
			copy_str(lk[i].addrs[0].text,
			    sizeof(lk[i].addrs[0].text),
			    it->ipc ? "" : it->host);
			lk[i].n = 1;
			continue;
		}
		lk[i].rv = s->o.resolver(s->o.resolver_arg, it->host,
		    it->family, lk[i].addrs, per, &lk[i].n, lk[i].err,
		    sizeof(lk[i].err));
		if (lk[i].rv == 0 && lk[i].n == 0) {
			lk[i].rv = TASQ_EUNAVAILABLE;
			copy_str(lk[i].err, sizeof(lk[i].err),
			    "no IPv4 or IPv6 address");
		}
		if (lk[i].n > per) {
			lk[i].n = per;
		}
	}

	nng_mtx_lock(s->mtx);
	// What the set should have: each item's addresses, or, for a name
	// that did not resolve, the members it had.
	for (size_t i = 0; i < s->nitems; i++) {
		const item *it = &s->items[i];
		if (lk[i].rv == 0) {
			for (size_t k = 0; k < lk[i].n; k++) {
				full |= !want_add(
				    w, &nw, wcap, it, i, lk[i].addrs[k].text);
			}
			continue;
		}
		size_t kept = 0;
		for (size_t j = 0; j < s->nmembers; j++) {
			if (s->members[j].item == i) {
				full |= !want_add(
				    w, &nw, wcap, it, i, s->members[j].m.addr);
				kept++;
			}
		}
		if (rv == 0) {
			rv = TASQ_EUNAVAILABLE;
		}
		adderr(err, errlen, &off, "%scannot resolve '%s': %s (%s)",
		    off > 0 ? "; " : "", it->host, lk[i].err,
		    kept == 0 ? "no server from it yet"
		              : "keeping the addresses it had");
	}
	ch = calloc(s->nmembers + nw + 1, sizeof(*ch));
	if (ch == NULL) {
		seterr(err, errlen, "out of memory");
		rv           = TASQ_ERESOURCE_EXHAUSTED;
		s->resolving = false;
		s->soon      = true;
		nng_mtx_unlock(s->mtx);
		goto out;
	}
	// Removed: members no longer wanted (order kept for the rest).
	size_t keep = 0;
	for (size_t j = 0; j < s->nmembers; j++) {
		bool wanted = false;
		for (size_t k = 0; k < nw && !wanted; k++) {
			wanted = strcmp(w[k].url, s->members[j].m.url) == 0;
		}
		if (wanted) {
			s->members[keep++] = s->members[j];
		} else {
			ch[n].added = false;
			copy_member(s, j, &ch[n].m);
			n++;
		}
	}
	s->nmembers = keep;
	// Added: wanted addresses that are not members yet, up to the cap.
	for (size_t k = 0; k < nw; k++) {
		bool    have = false;
		member *mb;
		for (size_t j = 0; j < s->nmembers && !have; j++) {
			have = strcmp(w[k].url, s->members[j].m.url) == 0;
		}
		if (have) {
			continue;
		}
		if (s->nmembers == max) {
			full = true;
			break;
		}
		mb = &s->members[s->nmembers++];
		memset(mb, 0, sizeof(*mb));
		mb->item       = w[k].item;
		mb->m.num      = s->next_num++;
		mb->m.tls      = s->items[w[k].item].tls;
		mb->m.state    = TASQ_SHARD_UNKNOWN;
		mb->m.since_ms = now_ms;
		copy_str(mb->m.url, sizeof(mb->m.url), w[k].url);
		copy_str(mb->m.addr, sizeof(mb->m.addr), w[k].addr);
		copy_str(
		    mb->m.host, sizeof(mb->m.host), s->items[w[k].item].host);
		ch[n].added = true;
		ch[n].m     = mb->m;
		n++;
	}
	if (full) {
		rv = TASQ_ERESOURCE_EXHAUSTED;
		adderr(err, errlen, &off,
		    "%sthe server list resolves to more than %zu addresses; "
		    "using %zu",
		    off > 0 ? "; " : "", max, s->nmembers);
	}
	s->resolved_once   = true;
	s->last_resolve_ms = now_ms;
	s->resolving       = false;
	nng_mtx_unlock(s->mtx);
	if (n > 0) {
		*chp = ch;
		*nch = n;
		ch   = NULL;
	}
out:
	free(ch);
	free(w);
	free(addrs);
	free(lk);
	return (rv);
}

// ---- placement and lookup ----------------------------------------------

uint64_t
tasq_shard_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return (x);
}

uint64_t
tasq_shard_score(uint64_t r, uint64_t identity)
{
	return (tasq_shard_mix64(r ^ tasq_shard_mix64(identity)));
}

// Says why no member is up. Under the mutex.
static void
none_up(const tasq_shard *s, uint64_t now_ms, char *err, size_t errlen)
{
	size_t off = 0;

	if (s->nmembers == 0) {
		seterr(err, errlen,
		    "no server to use: the server list has no address yet");
		return;
	}
	adderr(
	    err, errlen, &off, "no server is up (%zu known): ", s->nmembers);
	for (size_t i = 0; i < s->nmembers; i++) {
		const tasq_shard_member *m = &s->members[i].m;
		adderr(err, errlen, &off, "%s%s", i > 0 ? "; " : "", m->url);
		if (m->addr[0] != '\0' && strcmp(m->host, m->addr) != 0) {
			adderr(err, errlen, &off, " (%s)", m->host);
		}
		if (m->state == TASQ_SHARD_DOWN) {
			uint64_t secs = now_ms >= m->since_ms
			    ? (now_ms - m->since_ms) / 1000
			    : 0;
			adderr(err, errlen, &off, " down for %llu s: %s",
			    (unsigned long long) secs, m->err);
		} else {
			adderr(err, errlen, &off, " not reached yet");
		}
	}
}

int
tasq_shard_place(tasq_shard *s, uint64_t r, uint64_t now_ms, uint64_t *job_id,
    tasq_shard_member *m, char *err, size_t errlen)
{
	uint64_t best_score = 0, best_id = 0;
	size_t   best = SIZE_MAX;

	if (r == 0 || (r & ~TASQ_SHARD_R_MASK) != 0) {
		seterr(err, errlen,
		    "a job id's random part is 48 bits, not 0 (got %#llx)",
		    (unsigned long long) r);
		return (TASQ_EINVALID_ARGUMENT);
	}
	nng_mtx_lock(s->mtx);
	for (size_t i = 0; i < s->nmembers; i++) {
		const tasq_shard_member *c = &s->members[i].m;
		uint64_t                 sc;
		if (c->state != TASQ_SHARD_UP || !c->probed) {
			continue;
		}
		// Aliases have the same score and identity: the first one
		// (the lowest number) stays.
		sc = tasq_shard_score(r, c->identity);
		if (best == SIZE_MAX || sc > best_score ||
		    (sc == best_score && c->identity > best_id)) {
			best       = i;
			best_score = sc;
			best_id    = c->identity;
		}
	}
	if (best == SIZE_MAX) {
		none_up(s, now_ms, err, errlen);
		nng_mtx_unlock(s->mtx);
		return (TASQ_EUNAVAILABLE);
	}
	copy_member(s, best, m);
	nng_mtx_unlock(s->mtx);
	*job_id = ((best_id >> 48) << 48) | r;
	return (0);
}

int
tasq_shard_place_new(tasq_shard *s, uint64_t now_ms, uint64_t *job_id,
    tasq_shard_member *m, char *err, size_t errlen)
{
	uint64_t r;

	do {
		r = tasq_random64() & TASQ_SHARD_R_MASK;
	} while (r == 0);
	return (tasq_shard_place(s, r, now_ms, job_id, m, err, errlen));
}

int
tasq_shard_find(tasq_shard *s, uint64_t job_id, tasq_shard_member *out,
    size_t max, size_t *n, char *err, size_t errlen)
{
	unsigned tag = (unsigned) (job_id >> 48);
	size_t   got = 0, unprobed = 0, off = 0;
	size_t   idx[TASQ_SHARD_MAX_MEMBERS];
	size_t   cap =
            max < TASQ_SHARD_MAX_MEMBERS ? max : TASQ_SHARD_MAX_MEMBERS;
	int rv = 0;

	*n = 0;
	nng_mtx_lock(s->mtx);
	for (size_t i = 0; i < s->nmembers; i++) {
		const tasq_shard_member *c = &s->members[i].m;
		size_t                   k;
		if (!c->probed) {
			unprobed++;
			continue;
		}
		if ((c->identity >> 48) != tag) {
			continue;
		}
		// One per server: an alias replaces an earlier one that is
		// not up when it is.
		for (k = 0; k < got; k++) {
			const tasq_shard_member *o = &s->members[idx[k]].m;
			if (c->identity != 0 && o->identity == c->identity) {
				break;
			}
		}
		if (k < got) {
			if (s->members[idx[k]].m.state != TASQ_SHARD_UP &&
			    c->state == TASQ_SHARD_UP) {
				idx[k] = i;
			}
		} else if (got < cap) {
			idx[got++] = i;
		}
	}
	for (size_t k = 0; k < got; k++) {
		copy_member(s, idx[k], &out[k]);
	}
	*n = got;
	if (got == 0) {
		if (unprobed > 0) {
			// The job's server may be one not reached: name each
			// and why (the user's next question).
			rv = TASQ_EUNAVAILABLE;
			adderr(err, errlen, &off,
			    "no server known with tag %04x (job %016llx) yet: "
			    "%zu of %zu servers not reached yet:",
			    tag, (unsigned long long) job_id, unprobed,
			    s->nmembers);
			for (size_t i = 0; i < s->nmembers; i++) {
				const tasq_shard_member *m = &s->members[i].m;
				if (m->probed) {
					continue;
				}
				adderr(err, errlen, &off, " %s (%s)", m->url,
				    m->err[0] != '\0' ? m->err
				                      : "no answer yet");
			}
		} else {
			rv = TASQ_ENOT_FOUND;
			adderr(err, errlen, &off,
			    "no server has tag %04x (job %016llx); the "
			    "servers' tags:",
			    tag, (unsigned long long) job_id);
			for (size_t i = 0; i < s->nmembers; i++) {
				adderr(err, errlen, &off, " %04x (%s)",
				    (unsigned) (s->members[i].m.identity >>
				        48),
				    s->members[i].m.url);
			}
			if (s->nmembers == 0) {
				adderr(err, errlen, &off, " none");
			}
		}
	}
	nng_mtx_unlock(s->mtx);
	return (rv);
}
