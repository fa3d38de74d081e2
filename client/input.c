// input: a bounded stream reader of separated items (see input.h).
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "input.h"

struct tasq_input {
	int      fd;
	char     sep;
	size_t   max_item;
	char    *buf;
	size_t   cap, start, end;
	bool     eof;
	bool     skipping; // inside an item over max_item: drop to its end
	uint64_t itemno;
};

tasq_input *
tasq_input_alloc(int fd, char sep, size_t max_item)
{
	tasq_input *in;

	if ((in = calloc(1, sizeof(*in))) == NULL) {
		return (NULL);
	}
	in->fd       = fd;
	in->sep      = sep;
	in->max_item = max_item;
	// Room for the longest item, its separator and a read's worth more.
	in->cap = max_item + 1 + 65536;
	if ((in->buf = malloc(in->cap)) == NULL) {
		free(in);
		return (NULL);
	}
	return (in);
}

void
tasq_input_free(tasq_input *in)
{
	if (in != NULL) {
		free(in->buf);
		free(in);
	}
}

int
tasq_input_next(tasq_input *in, int timeout_ms, const char **itemp,
    size_t *lenp, uint64_t *itemnop)
{
	for (;;) {
		char  *s = in->buf + in->start;
		size_t n = in->end - in->start;
		char  *e = memchr(s, in->sep, n);

		if (in->skipping) {
			// Drop what belongs to the long item; report it once
			// its end is seen.
			if (e != NULL || in->eof) {
				in->start    = e != NULL
				       ? in->start + (size_t) (e - s) + 1
				       : in->end;
				in->skipping = false;
				*itemnop     = ++in->itemno;
				return (TASQ_INPUT_TOOLONG);
			}
			in->start = in->end = 0;
		} else if (e != NULL || (in->eof && n > 0)) {
			size_t len = e != NULL ? (size_t) (e - s) : n;
			in->start += len + (e != NULL);
			*itemnop = ++in->itemno;
			if (len > in->max_item) {
				return (TASQ_INPUT_TOOLONG);
			}
			*itemp = s;
			*lenp  = len;
			return (TASQ_INPUT_ITEM);
		} else if (in->eof) {
			return (TASQ_INPUT_EOF);
		} else if (n > in->max_item) {
			// No separator within max_item bytes.
			in->skipping = true;
			in->start = in->end = 0;
		} else if (in->start > 0) {
			memmove(in->buf, s, n);
			in->start = 0;
			in->end   = n;
		}
		if (timeout_ms >= 0) {
			struct pollfd pfd = { .fd = in->fd, .events = POLLIN };
			int           rv  = poll(&pfd, 1, timeout_ms);
			if (rv == 0) {
				return (TASQ_INPUT_WAIT);
			}
			if (rv < 0 && errno != EINTR) {
				return (TASQ_INPUT_ERROR);
			}
			if (rv < 0) {
				continue;
			}
		}
		size_t  room = in->cap - in->end;
		ssize_t k    = read(in->fd, in->buf + in->end,
                    room > 1048576 ? 1048576 : room);
		if (k < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				continue;
			}
			return (TASQ_INPUT_ERROR);
		}
		if (k == 0) {
			in->eof = true;
		}
		in->end += (size_t) k;
	}
}

bool
tasq_input_parse_i64(const char *s, size_t len, int64_t *v)
{
	char      tmp[32];
	char     *end;
	long long x;

	while (len > 0 && isspace((unsigned char) *s)) {
		s++;
		len--;
	}
	while (len > 0 && isspace((unsigned char) s[len - 1])) {
		len--;
	}
	if (len == 0 || len >= sizeof(tmp) || memchr(s, '\0', len) != NULL) {
		return (false);
	}
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	errno    = 0;
	x        = strtoll(tmp, &end, 10);
	if (errno != 0 || end != tmp + len) {
		return (false);
	}
	*v = (int64_t) x;
	return (true);
}
