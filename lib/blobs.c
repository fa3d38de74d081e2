#include "blobs.h"

#include <stdlib.h>

#include "err.h"

int
tasq_blobs_check(const tasq_blobs *b, size_t n, size_t max_item)
{
	size_t sum = 0;

	if (b->size > 0 && b->data == NULL) {
		return (TASQ_EINVALID_ARGUMENT);
	}
	if (b->width > 0) {
		if (b->lens != NULL || b->width > max_item ||
		    n > SIZE_MAX / b->width || n * b->width != b->size) {
			return (TASQ_EINVALID_ARGUMENT);
		}
		return (0);
	}
	if (n > 0 && b->lens == NULL) {
		return (TASQ_EINVALID_ARGUMENT);
	}
	// Each item is at most max_item, so that the sum cannot wrap
	// before it is compared, it is checked item by item.
	for (size_t i = 0; i < n; i++) {
		if (b->lens[i] > max_item || b->lens[i] > b->size - sum) {
			return (TASQ_EINVALID_ARGUMENT);
		}
		sum += b->lens[i];
	}
	return (sum == b->size ? 0 : TASQ_EINVALID_ARGUMENT);
}

void
tasq_blobs_buf_init(tasq_blobs_buf *buf)
{
	memset(buf, 0, sizeof(*buf));
}

void
tasq_blobs_buf_fini(tasq_blobs_buf *buf)
{
	free(buf->data);
	free(buf->lens);
	memset(buf, 0, sizeof(*buf));
}

void
tasq_blobs_buf_reset(tasq_blobs_buf *buf)
{
	buf->n      = 0;
	buf->size   = 0;
	buf->width  = 0;
	buf->varied = false;
}

// Room for more bytes of data.
static int
grow_data(tasq_blobs_buf *buf, size_t more)
{
	size_t   cap;
	uint8_t *p;

	if (buf->cap - buf->size >= more) {
		return (0);
	}
	if (more > SIZE_MAX / 2 - buf->size) {
		return (NNG_ENOMEM);
	}
	cap = buf->cap < 256 ? 256 : buf->cap;
	while (cap - buf->size < more) {
		cap *= 2;
	}
	if ((p = realloc(buf->data, cap)) == NULL) {
		return (NNG_ENOMEM);
	}
	buf->data = p;
	buf->cap  = cap;
	return (0);
}

// Room for more lengths. On the first item whose length differs from
// the others' every item so far gets its length (buf->width) and the
// column becomes varied; the caller sets the new entries.
static int
grow_lens(tasq_blobs_buf *buf, size_t more)
{
	size_t    cap;
	uint32_t *p = buf->lens;

	if (buf->lcap < buf->n || buf->lcap - buf->n < more) {
		if (more > SIZE_MAX / 8 - buf->n) {
			return (NNG_ENOMEM);
		}
		cap = buf->lcap < 64 ? 64 : buf->lcap;
		while (cap - buf->n < more) {
			cap *= 2;
		}
		if ((p = realloc(buf->lens, cap * sizeof(*p))) == NULL) {
			return (NNG_ENOMEM);
		}
		buf->lens = p;
		buf->lcap = cap;
	}
	if (!buf->varied) {
		for (size_t i = 0; i < buf->n; i++) {
			p[i] = buf->width;
		}
		buf->varied = true;
	}
	return (0);
}

// Whether n more items of length len keep buf fixed-width.
static bool
stays_fixed(const tasq_blobs_buf *buf, size_t len)
{
	return (!buf->varied && len > 0 && (buf->n == 0 || len == buf->width));
}

int
tasq_blobs_buf_add(tasq_blobs_buf *buf, const void *p, size_t len)
{
	int rv;

	if (len > UINT32_MAX) {
		return (TASQ_EINVALID_ARGUMENT);
	}
	if ((rv = grow_data(buf, len)) != 0) {
		return (rv);
	}
	if (stays_fixed(buf, len)) {
		buf->width = (uint32_t) len;
	} else {
		if ((rv = grow_lens(buf, 1)) != 0) {
			return (rv);
		}
		buf->lens[buf->n] = (uint32_t) len;
	}
	if (len > 0) {
		memcpy(buf->data + buf->size, p, len);
	}
	buf->size += len;
	buf->n++;
	return (0);
}

uint8_t *
tasq_blobs_buf_add_fixed(tasq_blobs_buf *buf, size_t n, uint32_t width)
{
	uint8_t *p;

	if (width == 0 || n > SIZE_MAX / width ||
	    grow_data(buf, n * width) != 0) {
		return (NULL);
	}
	if (stays_fixed(buf, width)) {
		buf->width = width;
	} else {
		if (grow_lens(buf, n) != 0) {
			return (NULL);
		}
		for (size_t i = 0; i < n; i++) {
			buf->lens[buf->n + i] = width;
		}
	}
	p = buf->data + buf->size;
	buf->size += n * width;
	buf->n += n;
	return (p);
}

void
tasq_blobs_buf_view(const tasq_blobs_buf *buf, tasq_blobs *out)
{
	out->width = buf->varied || buf->n == 0 ? 0 : buf->width;
	out->lens  = buf->varied ? buf->lens : NULL;
	out->data  = buf->data;
	out->size  = buf->size;
}
