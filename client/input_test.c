// input_test: the stream reader of tasq submit's input.
#include <string.h>
#include <unistd.h>

#include "input.h"
#include "tasq_test.h"

// A pipe holding s (n bytes); closed for writing when close_w.
static int
pipe_with(const char *s, size_t n, bool close_w, int *wfd)
{
	int fds[2];

	ASSERT_EQ(pipe(fds), 0);
	ASSERT_EQ(write(fds[1], s, n), (ssize_t) n);
	if (close_w) {
		close(fds[1]);
		*wfd = -1;
	} else {
		*wfd = fds[1];
	}
	return (fds[0]);
}

static void
want_item(tasq_input *in, const char *want, uint64_t no)
{
	const char *item;
	size_t      len;
	uint64_t    itemno;

	ASSERT_EQ(
	    tasq_input_next(in, 1000, &item, &len, &itemno), TASQ_INPUT_ITEM);
	ASSERT_EQ(len, strlen(want));
	ASSERT_MEM_EQ(item, want, len);
	ASSERT_EQ(itemno, no);
}

TEST(lines_and_last_line_without_newline)
{
	int         w;
	int         fd = pipe_with("a\n\nbc\nlast", 10, true, &w);
	tasq_input *in = tasq_input_alloc(fd, '\n', 16);
	const char *item;
	size_t      len;
	uint64_t    no;

	ASSERT_NOT_NULL(in);
	want_item(in, "a", 1);
	want_item(in, "", 2);
	want_item(in, "bc", 3);
	want_item(in, "last", 4);
	ASSERT_EQ(tasq_input_next(in, 1000, &item, &len, &no), TASQ_INPUT_EOF);
	tasq_input_free(in);
	close(fd);
}

TEST(nul_separated)
{
	int         w;
	int         fd = pipe_with("x\ny\0z\0", 6, true, &w);
	tasq_input *in = tasq_input_alloc(fd, '\0', 16);
	const char *item;
	size_t      len;
	uint64_t    no;

	want_item(in, "x\ny", 1);
	want_item(in, "z", 2);
	ASSERT_EQ(tasq_input_next(in, 1000, &item, &len, &no), TASQ_INPUT_EOF);
	tasq_input_free(in);
	close(fd);
}

TEST(too_long_items_are_skipped_alone)
{
	char        buf[300];
	int         w;
	size_t      n = 0;
	const char *item;
	size_t      len;
	uint64_t    no;

	memcpy(buf, "ok\n", 3);
	n = 3;
	memset(buf + n, 'x', 200); // over max_item (16), and over a read
	n += 200;
	memcpy(buf + n, "\nnext\n", 6);
	n += 6;
	memset(buf + n, 'y', 40); // the last item, too long, no newline
	n += 40;
	int         fd = pipe_with(buf, n, true, &w);
	tasq_input *in = tasq_input_alloc(fd, '\n', 16);
	want_item(in, "ok", 1);
	ASSERT_EQ(
	    tasq_input_next(in, 1000, &item, &len, &no), TASQ_INPUT_TOOLONG);
	ASSERT_EQ(no, 2);
	want_item(in, "next", 3);
	ASSERT_EQ(
	    tasq_input_next(in, 1000, &item, &len, &no), TASQ_INPUT_TOOLONG);
	ASSERT_EQ(no, 4);
	ASSERT_EQ(tasq_input_next(in, 1000, &item, &len, &no), TASQ_INPUT_EOF);
	tasq_input_free(in);
	close(fd);
}

TEST(waits_then_times_out_while_the_writer_is_open)
{
	int         w;
	int         fd = pipe_with("1\n2", 3, false, &w);
	tasq_input *in = tasq_input_alloc(fd, '\n', 16);
	const char *item;
	size_t      len;
	uint64_t    no;

	want_item(in, "1", 1);
	// "2" may go on: no item yet, and no end.
	ASSERT_EQ(tasq_input_next(in, 10, &item, &len, &no), TASQ_INPUT_WAIT);
	ASSERT_EQ(write(w, "3\n", 2), 2);
	want_item(in, "23", 2);
	close(w);
	ASSERT_EQ(tasq_input_next(in, 1000, &item, &len, &no), TASQ_INPUT_EOF);
	tasq_input_free(in);
	close(fd);
}

TEST(parse_i64)
{
	int64_t v = 0;

	ASSERT_TRUE(tasq_input_parse_i64(" -42\t", 5, &v));
	ASSERT_EQ(v, -42);
	ASSERT_TRUE(tasq_input_parse_i64("9223372036854775807", 19, &v));
	ASSERT_EQ(v, INT64_MAX);
	ASSERT_FALSE(tasq_input_parse_i64("9223372036854775808", 19, &v));
	ASSERT_FALSE(tasq_input_parse_i64("12x", 3, &v));
	ASSERT_FALSE(tasq_input_parse_i64("1 2", 3, &v));
	ASSERT_FALSE(tasq_input_parse_i64("", 0, &v));
	ASSERT_FALSE(tasq_input_parse_i64("5\0", 2, &v));
	// Only len bytes count: "12" of "123".
	ASSERT_TRUE(tasq_input_parse_i64("123", 2, &v));
	ASSERT_EQ(v, 12);
}

TASQ_TEST_MAIN()
