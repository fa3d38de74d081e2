// opt_test_util: what the unit tests of lib/opt and lib/commonopt share.
// Include after tasq_test.h and tasq_capture.h.
#ifndef TASQ_OPT_TEST_UTIL_H
#define TASQ_OPT_TEST_UTIL_H

#include "opt.h"

struct parse_args {
	tasq_opt_ctx *c;
	int           argc;
	char        **argv;
};

static inline int
parse_cb(void *arg)
{
	struct parse_args *a = arg;
	return (tasq_opt_parse(a->c, a->argc, a->argv));
}

// Runs tasq_opt_parse with stdout and stderr captured into out.
static inline int
parse_capture(tasq_opt_ctx *c, int argc, char **argv, char *out, size_t outlen)
{
	struct parse_args a = { c, argc, argv };
	return (tasq_test_capture(parse_cb, &a, out, outlen));
}

#endif
