// input: the task input of tasq submit, read as a stream: items of a file
// descriptor separated by a byte ('\n', or '\0' for -0), in a buffer of
// bounded size, with a wait that can time out (for the batch linger).
#ifndef TASQ_CLIENT_INPUT_H
#define TASQ_CLIENT_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tasq_input tasq_input;

// What tasq_input_next found.
enum {
	TASQ_INPUT_ITEM    = 0, // *itemp, *lenp: the next item
	TASQ_INPUT_TOOLONG = 1, // an item over max_item bytes (skipped)
	TASQ_INPUT_WAIT    = 2, // nothing within timeout_ms
	TASQ_INPUT_EOF     = 3, // no more items
	TASQ_INPUT_ERROR   = 4, // read(2) failed: errno is set
};

// tasq_input_alloc reads items of at most max_item bytes from fd
// (borrowed, not closed), separated by sep. Holds about 2 * max_item
// bytes. Returns NULL when out of memory.
tasq_input *tasq_input_alloc(int fd, char sep, size_t max_item);
void        tasq_input_free(tasq_input *in);

// tasq_input_next returns the next item (without its separator; valid
// until the next call), waiting at most timeout_ms (-1: no limit) for
// data. An item that ends the input without a separator counts. The
// item's number (1 for the first) is *itemnop. Not thread-safe.
int tasq_input_next(tasq_input *in, int timeout_ms, const char **itemp,
    size_t *lenp, uint64_t *itemnop);

// tasq_input_parse_i64 parses a decimal int64 with optional blanks
// around it (len bytes, not NUL-terminated).
bool tasq_input_parse_i64(const char *s, size_t len, int64_t *v);

#endif
