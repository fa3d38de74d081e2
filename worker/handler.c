// handler: the results builder and the dispatch to a handler's kind.
#include "handler.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "err.h"

struct tasq_handler {
	const tasq_handler_ops *ops;
	void                   *impl;
};

// ---- results -------------------------------------------------------------

static int
pub_put(tasq_handler_results *r, const void *data, size_t len)
{
	return (tasq_hres_put((tasq_hres *) r->host, data, len) == 0 ? 0 : -1);
}

static void *
pub_put_fixed(tasq_handler_results *r, size_t width)
{
	return (tasq_hres_fixed((tasq_hres *) r->host, width));
}

static int
pub_fail(tasq_handler_results *r, size_t i, uint32_t code, const char *msg)
{
	return (
	    tasq_hres_fail((tasq_hres *) r->host, i, code, msg) == 0 ? 0 : -1);
}

void
tasq_hres_init(tasq_hres *h)
{
	memset(h, 0, sizeof(*h));
	atomic_init(&h->done, 0);
	h->pub.put       = pub_put;
	h->pub.put_fixed = pub_put_fixed;
	h->pub.fail      = pub_fail;
	h->pub.host      = h;
}

// What tasq_hres_view puts in errors for OK tasks (never freed).
static char no_error[1];

static void
errors_clear(tasq_hres *h, size_t upto)
{
	// Messages exist only once a task failed (any_code): a batch
	// without failures costs nothing here.
	if (h->errors == NULL || !h->any_code) {
		return;
	}
	for (size_t i = 0; i < upto; i++) {
		if (h->errors[i] != no_error) {
			free(h->errors[i]);
		}
		h->errors[i] = NULL;
	}
}

void
tasq_hres_fini(tasq_hres *h)
{
	errors_clear(h, h->n);
	free(h->data);
	free(h->lens);
	free(h->codes);
	free(h->errors);
	tasq_hres_init(h);
}

int
tasq_hres_begin(tasq_hres *h, size_t n)
{
	errors_clear(h, h->n);
	if (n > h->ncap) {
		uint32_t *lens  = realloc(h->lens, n * sizeof(*lens));
		uint32_t *codes = NULL;
		char    **errs  = NULL;
		if (lens != NULL) {
			h->lens = lens;
			codes   = realloc(h->codes, n * sizeof(*codes));
		}
		if (codes != NULL) {
			h->codes = codes;
			errs     = realloc(h->errors, n * sizeof(*errs));
		}
		if (errs == NULL) {
			h->n = 0;
			return (NNG_ENOMEM);
		}
		h->errors = errs;
		memset(errs + h->ncap, 0, (n - h->ncap) * sizeof(*errs));
		h->ncap = n;
	}
	h->pub.host = h; // h may have moved since _init (an array realloc)
	h->n        = n;
	h->k        = 0;
	h->size     = 0;
	h->width    = 0;
	h->any_code = false;
	h->err      = 0;
	atomic_store_explicit(&h->done, 0, memory_order_relaxed);
	return (0);
}

static int
grow(tasq_hres *h, size_t more)
{
	// Never NULL data, even for empty items: NULL means failure.
	if (h->data != NULL && h->cap - h->size >= more) {
		return (0);
	}
	size_t cap = h->cap ? h->cap : 4096;
	while (cap - h->size < more) {
		if (cap > SIZE_MAX / 2) {
			return (NNG_ENOMEM);
		}
		cap *= 2;
	}
	uint8_t *d = realloc(h->data, cap);
	if (d == NULL) {
		return (NNG_ENOMEM);
	}
	h->data = d;
	h->cap  = cap;
	return (0);
}

static int
note(tasq_hres *h, int rv)
{
	if (h->err == 0) {
		h->err = rv;
	}
	return (rv);
}

uint8_t *
tasq_hres_reserve(tasq_hres *h, size_t len)
{
	uint8_t *p;
	int      rv;

	if (h->width != 0) {
		note(h, TASQ_EFAILED_PRECONDITION);
		return (NULL);
	}
	if (h->k >= h->n || len > TASQ_WIRE_MAX_PAYLOAD) {
		note(h, TASQ_EOUT_OF_RANGE);
		return (NULL);
	}
	if ((rv = grow(h, len)) != 0) {
		note(h, rv);
		return (NULL);
	}
	p = h->data + h->size;
	h->size += len;
	h->lens[h->k]    = (uint32_t) len;
	h->codes[h->k++] = 0;
	atomic_store_explicit(&h->done, h->k, memory_order_relaxed);
	return (p);
}

int
tasq_hres_fail_too_big(tasq_hres *h, size_t len)
{
	char msg[96];

	snprintf(msg, sizeof(msg),
	    "result is %zu bytes, more than the 1 MiB limit", len);
	return (tasq_hres_fail(
	    h, h->k, (uint32_t) tasq_err_code(TASQ_EOUT_OF_RANGE), msg));
}

int
tasq_hres_put(tasq_hres *h, const void *data, size_t len)
{
	uint8_t *p;

	if (len > TASQ_WIRE_MAX_PAYLOAD && h->width == 0 && h->k < h->n) {
		// Another attempt would give the same: final.
		return (tasq_hres_fail_too_big(h, len));
	}
	p = tasq_hres_reserve(h, len);

	if (p == NULL) {
		return (h->err);
	}
	if (len > 0) {
		memcpy(p, data, len);
	}
	return (0);
}

uint8_t *
tasq_hres_fixed(tasq_hres *h, size_t width)
{
	int rv;

	if (h->k == 0 && width > TASQ_WIRE_MAX_PAYLOAD) {
		// Every result too large: each task fails, finally.
		char msg[96];
		snprintf(msg, sizeof(msg),
		    "result is %zu bytes, more than the 1 MiB limit", width);
		tasq_hres_fail_rest(
		    h, (uint32_t) tasq_err_code(TASQ_EOUT_OF_RANGE), msg);
		return (NULL);
	}
	if (h->k != 0 || width == 0) {
		note(h,
		    h->k != 0 ? TASQ_EFAILED_PRECONDITION
		              : TASQ_EOUT_OF_RANGE);
		return (NULL);
	}
	if (h->n > SIZE_MAX / width || (rv = grow(h, h->n * width)) != 0) {
		note(h, NNG_ENOMEM);
		return (NULL);
	}
	h->width = (uint32_t) width;
	h->size  = h->n * width;
	h->k     = h->n;
	// codes are zeroed at the first failure (tasq_hres_fail), not here:
	// the fast path of a batch without failures does not touch them.
	atomic_store_explicit(&h->done, h->k, memory_order_relaxed);
	return (h->data);
}

size_t
tasq_text_clean(char *dst, size_t cap, const char *src, size_t len)
{
	const unsigned char *s = (const unsigned char *) src;
	size_t               i = 0, o = 0;

	if (cap == 0) {
		return (0);
	}
	while (i < len && o + 1 < cap) {
		unsigned c  = s[i];
		size_t   k  = c < 0x80 ? 0
		       : c < 0xc2      ? 9
		       : c < 0xe0      ? 1
		       : c < 0xf0      ? 2
		       : c < 0xf5      ? 3
		                       : 9;
		bool     ok = k != 9 && i + k < len;
		for (size_t j = 1; ok && j <= k; j++) {
			ok = (s[i + j] & 0xc0) == 0x80;
		}
		if (ok && k == 2) {
			// No overlong forms, no surrogates.
			ok = !(c == 0xe0 && s[i + 1] < 0xa0) &&
			    !(c == 0xed && s[i + 1] >= 0xa0);
		} else if (ok && k == 3) {
			ok = !(c == 0xf0 && s[i + 1] < 0x90) &&
			    !(c == 0xf4 && s[i + 1] >= 0x90);
		}
		if (!ok) {
			dst[o++] = '?';
			i++;
			continue;
		}
		if (k == 0) {
			dst[o++] = c == '\t' || c == '\n' || c == '\r' ? ' '
			    : c < 0x20 || c == 0x7f                    ? '?'
			                            : (char) c;
			i++;
			continue;
		}
		if (k == 1 && c == 0xc2 && s[i + 1] < 0xa0) { // C1 controls
			dst[o++] = '?';
			i += 2;
			continue;
		}
		if (o + k + 1 >= cap) {
			break; // the character does not fit whole
		}
		memcpy(dst + o, s + i, k + 1);
		o += k + 1;
		i += k + 1;
	}
	dst[o] = '\0';
	return (o);
}

int
tasq_hres_fail(tasq_hres *h, size_t i, uint32_t code, const char *msg)
{
	char  buf[TASQ_WIRE_MAX_TEXT + 1];
	char *copy;

	if (i > h->k || i >= h->n) {
		return (note(h, TASQ_EOUT_OF_RANGE));
	}
	if (code == 0 || code > TASQ_CODE_MAX) {
		code = (uint32_t) tasq_err_code(TASQ_EUNKNOWN);
	}
	if (msg == NULL) {
		msg = tasq_err_name((int) code);
	}
	tasq_text_clean(buf, sizeof(buf), msg, strlen(msg));
	if ((copy = strdup(buf)) == NULL) {
		return (note(h, NNG_ENOMEM));
	}
	if (i == h->k && tasq_hres_reserve(h, 0) == NULL) {
		free(copy);
		return (h->err);
	}
	if (!h->any_code && h->width != 0) {
		memset(h->codes, 0, h->n * sizeof(*h->codes)); // see _fixed
	}
	if (h->errors[i] != no_error) {
		free(h->errors[i]);
	}
	h->errors[i] = copy;
	h->codes[i]  = code;
	h->any_code  = true;
	return (0);
}

void
tasq_hres_fail_rest(tasq_hres *h, uint32_t code, const char *msg)
{
	// A fixed column cannot take empty items: widen it into lens first.
	if (h->width != 0 && h->k < h->n) {
		for (size_t i = 0; i < h->k; i++) {
			h->lens[i] = h->width;
		}
		if (!h->any_code) {
			memset(h->codes, 0, h->n * sizeof(*h->codes));
		}
		h->width = 0;
	}
	while (h->k < h->n) {
		if (tasq_hres_fail(h, h->k, code, msg) != 0) {
			// Out of memory for the message: the code alone.
			h->lens[h->k]  = 0;
			h->codes[h->k] = code;
			h->any_code    = true;
			h->k++;
		}
	}
	atomic_store_explicit(&h->done, h->k, memory_order_relaxed);
}

void
tasq_hres_view(
    tasq_hres *h, tasq_blobs *col, uint32_t **codes, const char ***errors)
{
	memset(col, 0, sizeof(*col));
	col->data = h->data;
	col->size = h->size;
	if (h->width != 0) {
		col->width = h->width;
	} else if (h->n > 0 && h->lens[0] > 0 &&
	    h->size == h->n * h->lens[0]) {
		// Every item as long as the first (sum check first, then
		// each: equal sum alone does not prove equal items).
		uint32_t w    = h->lens[0];
		bool     same = true;
		for (size_t i = 1; i < h->n && same; i++) {
			same = h->lens[i] == w;
		}
		if (same) {
			col->width = w;
		} else {
			col->lens = h->lens;
		}
	} else {
		col->lens = h->lens;
	}
	*codes  = h->any_code ? h->codes : NULL;
	*errors = NULL;
	if (h->any_code) {
		// errors doubles as the const char * column: "" for none.
		for (size_t i = 0; i < h->n; i++) {
			if (h->errors[i] == NULL) {
				h->errors[i] = no_error;
			}
		}
		*errors = (const char **) h->errors;
	}
}

// ---- dispatch --------------------------------------------------------------

static bool
prefix(const char *s, const char *p, const char **rest)
{
	size_t n = strlen(p);

	if (strncmp(s, p, n) != 0) {
		return (false);
	}
	*rest = s + n;
	return (true);
}

bool
tasq_handler_spec_check(const char *spec, char *err, size_t errlen)
{
	const char *rest;

	if (prefix(spec, "builtin:", &rest)) {
		if (strcmp(rest, "square") == 0 ||
		    strcmp(rest, "sha256") == 0) {
			return (true);
		}
		snprintf(err, errlen,
		    "unknown built-in handler '%s' (square or sha256)", rest);
		return (false);
	}
	if (prefix(spec, "exec:", &rest) ||
	    prefix(spec, "exec-each:", &rest) ||
	    prefix(spec, "plugin:", &rest)) {
		if (*rest != '\0') {
			return (true);
		}
		snprintf(
		    err, errlen, "'%s' names no command or library", spec);
		return (false);
	}
	snprintf(err, errlen,
	    "'%s' is not builtin:NAME, exec:CMD, exec-each:CMD or "
	    "plugin:LIB.so",
	    spec);
	return (false);
}

int
tasq_handler_open(tasq_handler **hp, const char *type, const char *spec,
    const tasq_handler_opts *opts, char *err, size_t errlen)
{
	tasq_handler     *h;
	tasq_handler_opts o    = { 0 };
	const char       *rest = NULL;
	int               rv;

	(void) type;
	if (opts != NULL) {
		o = *opts;
	}
	if (!tasq_handler_spec_check(spec, err, errlen)) {
		return (TASQ_EINVALID_ARGUMENT);
	}
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NNG_ENOMEM);
	}
	if (prefix(spec, "builtin:", &rest)) {
		rv = tasq_handler_builtin_open(
		    rest, &h->ops, &h->impl, err, errlen);
	} else if (prefix(spec, "exec:", &rest)) {
		rv = tasq_handler_exec_open(
		    rest, &o, &h->ops, &h->impl, err, errlen);
	} else if (prefix(spec, "exec-each:", &rest)) {
		rv = tasq_handler_each_open(
		    rest, &o, &h->ops, &h->impl, err, errlen);
	} else {
		prefix(spec, "plugin:", &rest);
		rv = tasq_handler_plugin_open(
		    rest, &h->ops, &h->impl, err, errlen);
	}
	if (rv != 0) {
		free(h);
		return (rv);
	}
	*hp = h;
	return (0);
}

int
tasq_handler_run(tasq_handler *h, const tasq_handler_batch *in, tasq_hres *out)
{
	int rv;

	if ((rv = tasq_hres_begin(out, in->n)) != 0) {
		return (rv);
	}
	rv = h->ops->run(h->impl, in, out);
	if (out->err != 0 || rv != 0 || out->k < out->n) {
		char msg[128];
		int  e = out->err;
		snprintf(msg, sizeof(msg), "handler failed: %s",
		    e != 0        ? tasq_strerror(e)
		        : rv != 0 ? "process_batch returned an error"
		                  : "fewer results than tasks");
		// What is there stays; the rest is failed, to be retried.
		out->err = 0;
		tasq_hres_fail_rest(
		    out, (uint32_t) tasq_err_code(TASQ_EINTERNAL), msg);
		if (out->err != 0) {
			return (out->err);
		}
	}
	return (0);
}

bool
tasq_handler_in_process(const tasq_handler *h)
{
	return (h->ops->in_process);
}

void
tasq_handler_free(tasq_handler *h)
{
	if (h == NULL) {
		return;
	}
	h->ops->free(h->impl);
	free(h);
}

// ---- cancel ----------------------------------------------------------------

void
tasq_cancel_init(tasq_cancel *c)
{
	atomic_init(&c->flag, 0);
	c->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

void
tasq_cancel_fini(tasq_cancel *c)
{
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
}

void
tasq_cancel_set(tasq_cancel *c)
{
	uint64_t one = 1;

	atomic_store(&c->flag, 1);
	if (c->fd >= 0) {
		(void) !write(c->fd, &one, sizeof(one));
	}
}

void
tasq_cancel_clear(tasq_cancel *c)
{
	uint64_t v;

	atomic_store(&c->flag, 0);
	if (c->fd >= 0) {
		while (read(c->fd, &v, sizeof(v)) < 0 && errno == EINTR) {
		}
	}
}

bool
tasq_cancel_is_set(const tasq_cancel *c)
{
	return (atomic_load(&((tasq_cancel *) c)->flag) != 0);
}

// The cancelled function of ABI version 2 (include/tasq/handler.h).
static int
batch_cancelled(const tasq_handler_batch *b)
{
	const tasq_cancel *c = b->host_;

	return (c != NULL && tasq_cancel_is_set(c));
}

void
tasq_cancel_attach(tasq_handler_batch *b, tasq_cancel *c)
{
	b->cancelled = batch_cancelled;
	b->host_     = c;
}

const tasq_cancel *
tasq_cancel_of(const tasq_handler_batch *b)
{
	return (b->cancelled == batch_cancelled ? b->host_ : NULL);
}
