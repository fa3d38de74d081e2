// handler_test_plugin: plugins that misbehave, for handler_test. One
// source, built as several modules (worker/CMakeLists.txt):
//   -DTEST_ABI=N      declares ABI version N
//   -DTEST_NOSYM      exports no table
//   -DTEST_SEGV       process_batch dereferences NULL
//   -DTEST_INITFAIL   init fails with a message
//   -DTEST_SHORT      process_batch puts fewer results than tasks
//   (none)            echo: every result is its payload
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <tasq/handler.h>

#ifndef TEST_ABI
#define TEST_ABI TASQ_HANDLER_ABI_VERSION
#endif

static int
init(const char *arg, void **state, char *err, size_t errlen)
{
	*state = NULL;
#ifdef TEST_INITFAIL
	snprintf(err, errlen, "refusing arg '%s'", arg);
	return (-1);
#else
	(void) arg;
	(void) err;
	(void) errlen;
	return (0);
#endif
}

static int
process(void *state, const tasq_handler_batch *in, tasq_handler_results *out)
{
	const uint8_t *p = in->data;

	(void) state;
#ifdef TEST_SEGV
	if (in->n > 0) {
		volatile int *volatile nowhere = NULL;
		*nowhere                       = 1;
	}
#endif
	for (size_t i = 0; i < in->n; i++) {
		size_t len = in->width ? in->width : in->lens[i];
#ifdef TEST_SHORT
		if (i + 1 == in->n) {
			break;
		}
#endif
		if (out->put(out, p, len) != 0) {
			return (-1);
		}
		p += len;
	}
	return (0);
}

#ifndef TEST_NOSYM
TASQ_HANDLER_EXPORT const tasq_handler_table tasq_handler_v1 = {
	.abi_version   = TEST_ABI,
	.name          = "test",
	.init          = init,
	.process_batch = process,
};
#else
TASQ_HANDLER_EXPORT const tasq_handler_table tasq_handler_v0 = {
	.abi_version = TEST_ABI,
	.name = "test",
	.init = init,
	.process_batch = process,
};
#endif
