// blobs: helpers for tasq_blobs, the column of byte strings that carries
// the payloads of a batch of tasks and their results (lib/wire.h, Blobs
// in proto/tasq.proto, docs/PROTOCOL.md section 6).
//
// A column does not know how many items it holds: n comes from its batch
// (the number of ids). width > 0: every item is width bytes, item i at
// data + i * width, lens NULL. width == 0: item i is lens[i] bytes and
// follows the items before it. size is the bytes in data.
//
// The built-in type "square" and the legacy values columns use width 8,
// each item an int64 in little-endian order: tasq_blobs_i64 and
// tasq_i64_le_put read and write them without a function call.
//
// Nothing here has shared state; a tasq_blobs_buf is used by one thread
// at a time.
#ifndef TASQ_BLOBS_H
#define TASQ_BLOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "wire.h"

#define TASQ_I64_WIDTH 8 // width of a "square" payload or result

// tasq_blobs_check checks that b is a well-formed column of n items, each
// at most max_item bytes: for width > 0, no lens and size == n * width
// (without overflow); for width == 0, lens (unless n is 0) summing to
// size; data not NULL when size > 0. Borrows b. Returns 0 or
// TASQ_EINVALID_ARGUMENT. Costs O(1) for width > 0, O(n) otherwise.
int tasq_blobs_check(const tasq_blobs *b, size_t n, size_t max_item);

// An iterator over the items of a column, in order:
//
//	tasq_blobs_iter it;
//	tasq_blobs_iter_init(&it, &batch->payloads);
//	for (size_t i = 0; i < batch->n; i++) {
//		const uint8_t *p;
//		size_t         len;
//		tasq_blobs_next(&it, &p, &len);
//		...
//	}
//
// The column must have passed tasq_blobs_check (decoded columns have) and
// tasq_blobs_next must be called at most n times: it does not know n.
// The pointers borrow the column's memory.
typedef struct tasq_blobs_iter {
	const tasq_blobs *b;
	size_t            i;   // items returned so far
	size_t            off; // offset of the next item in b->data
} tasq_blobs_iter;

static inline void
tasq_blobs_iter_init(tasq_blobs_iter *it, const tasq_blobs *b)
{
	it->b   = b;
	it->i   = 0;
	it->off = 0;
}

static inline void
tasq_blobs_next(tasq_blobs_iter *it, const uint8_t **ptr, size_t *len)
{
	size_t n = it->b->width != 0 ? it->b->width : it->b->lens[it->i];

	*ptr = it->b->data + it->off;
	*len = n;
	it->off += n;
	it->i++;
}

// tasq_i64_le_get and tasq_i64_le_put read and write an int64 as 8 bytes
// in little-endian order at p (any alignment).
static inline int64_t
tasq_i64_le_get(const uint8_t *p)
{
	uint64_t v;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(&v, p, sizeof(v));
#else
	v = 0;
	for (int k = 7; k >= 0; k--) {
		v = v << 8 | p[k];
	}
#endif
	return ((int64_t) v);
}

static inline void
tasq_i64_le_put(uint8_t *p, int64_t x)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(p, &x, sizeof(x));
#else
	uint64_t v = (uint64_t) x;
	for (int k = 0; k < 8; k++, v >>= 8) {
		p[k] = (uint8_t) v;
	}
#endif
}

// tasq_blobs_i64 returns item i of a width-8 column as an int64 (the
// "square" encoding). The caller has checked width == 8 and i < n.
static inline int64_t
tasq_blobs_i64(const tasq_blobs *b, size_t i)
{
	return (tasq_i64_le_get(b->data + i * TASQ_I64_WIDTH));
}

// A growable column being built, item by item or fixed-width items in
// bulk. As long as every item added has the same length > 0 it stays a
// fixed-width column (no lens kept); the first item of another length
// (or of length 0) turns it into a variable one. n is the items added.
// Lifecycle: _init (cannot fail), any number of adds and _resets, _fini.
typedef struct tasq_blobs_buf {
	size_t    n;    // items
	uint8_t  *data; // size bytes used of cap
	size_t    size;
	size_t    cap;
	uint32_t  width;  // every item's length while !varied (n > 0)
	bool      varied; // lengths differ: lens has n entries
	uint32_t *lens;   // lcap entries (kept across resets)
	size_t    lcap;
} tasq_blobs_buf;

// tasq_blobs_buf_init makes buf an empty column.
void tasq_blobs_buf_init(tasq_blobs_buf *buf);

// tasq_blobs_buf_fini frees what buf holds (a zeroed or finished buf is
// fine) and leaves it empty.
void tasq_blobs_buf_fini(tasq_blobs_buf *buf);

// tasq_blobs_buf_reset empties buf and keeps its memory for reuse.
void tasq_blobs_buf_reset(tasq_blobs_buf *buf);

// tasq_blobs_buf_add appends one item (len bytes copied from p; p may be
// NULL when len is 0). Errors: NNG_ENOMEM (buf unchanged),
// TASQ_EINVALID_ARGUMENT (len over UINT32_MAX). The per-item limit
// (TASQ_WIRE_MAX_PAYLOAD) is the caller's to apply.
int tasq_blobs_buf_add(tasq_blobs_buf *buf, const void *p, size_t len);

// tasq_blobs_buf_add_fixed appends n items of width bytes each (width >
// 0) and returns where their n * width bytes go, for the caller to fill
// (the fast path: one call for a whole batch of "square" results), or
// NULL on overflow or out of memory (buf unchanged). The pointer is valid
// until the next add, reset or fini.
uint8_t *tasq_blobs_buf_add_fixed(
    tasq_blobs_buf *buf, size_t n, uint32_t width);

// tasq_blobs_buf_add_i64 appends one width-8 item, v little-endian.
// Errors as tasq_blobs_buf_add.
static inline int
tasq_blobs_buf_add_i64(tasq_blobs_buf *buf, int64_t v)
{
	uint8_t *p;

	if (!buf->varied && buf->width == TASQ_I64_WIDTH &&
	    buf->cap - buf->size >= TASQ_I64_WIDTH) {
		tasq_i64_le_put(buf->data + buf->size, v);
		buf->size += TASQ_I64_WIDTH;
		buf->n++;
		return (0);
	}
	if ((p = tasq_blobs_buf_add_fixed(buf, 1, TASQ_I64_WIDTH)) == NULL) {
		return (NNG_ENOMEM);
	}
	tasq_i64_le_put(p, v);
	return (0);
}

// tasq_blobs_buf_view points *out at buf's column (borrowed: valid until
// the next add, reset or fini of buf), in fixed-width form when every
// item has the same length > 0.
void tasq_blobs_buf_view(const tasq_blobs_buf *buf, tasq_blobs *out);

#endif
