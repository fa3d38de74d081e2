// handler_test_plugin: plugins that misbehave, for handler_test. One
// source, built as several modules (worker/CMakeLists.txt):
//   -DTEST_ABI=N      declares ABI version N
//   -DTEST_NOSYM      exports no table
//   -DTEST_SEGV       process_batch dereferences NULL
//   -DTEST_INITFAIL   init fails with a message
//   -DTEST_SHORT      process_batch puts fewer results than tasks
//   -DTEST_SQUARE_CRASH  square (int64 LE), logging "attempt<TAB>value"
//                     lines to ARG/attempts; once ARG/armed exists, the
//                     first batch to see it crashes (SIGSEGV) after
//                     logging, leaving ARG/crashed (which holds the
//                     batch's first value)
//   -DTEST_SQUARE_HANG   square, but the task 7 never ends on its first
//                     attempt
//   -DTEST_CANCEL     a long task (ABI version 2): writes ARG/started,
//                     then polls in->cancelled every 10 ms for up to 60 s;
//                     once it is set, writes ARG/seen-cancel (appending
//                     the batch's first payload byte) and fails every task
//                     TASQ_HANDLER_CANCELLED; else echoes
//   (none)            echo: every result is its payload
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tasq/handler.h>

// A real invalid store. The default action for SIGSEGV first, so that
// in a sanitizer build the process dies of the signal as in any other
// build (not of the sanitizer's report), and not NULL, which UBSan would
// catch before the store.
#define CRASH_ADDR (signal(SIGSEGV, SIG_DFL), (volatile int *) 16)

#ifndef TEST_ABI
#define TEST_ABI TASQ_HANDLER_ABI_VERSION
#endif

#ifdef TEST_SQUARE_CRASH
static int
square_crash(
    const char *dir, const tasq_handler_batch *in, tasq_handler_results *out)
{
	char   path[4096], *log = malloc(in->n * 32 + 1);
	size_t len = 0;
	int    fd;

	if (log == NULL) {
		return (-1);
	}
	for (size_t i = 0; i < in->n; i++) {
		long long v;
		memcpy(&v, in->data + 8 * i, 8);
		len += (size_t) snprintf(
		    log + len, 32, "%u\t%lld\n", (unsigned) in->attempt, v);
	}
	snprintf(path, sizeof(path), "%s/attempts", dir);
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600)) >= 0) {
		(void) !write(fd, log, len); // one append per batch
		close(fd);
	}
	free(log);
	snprintf(path, sizeof(path), "%s/armed", dir);
	if (access(path, F_OK) == 0) {
		snprintf(path, sizeof(path), "%s/crashed", dir);
		if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) >=
		    0) {
			// The first task of the batch that crashed.
			long long v0 = 0;
			char      b[32];
			if (in->n > 0) {
				memcpy(&v0, in->data, 8);
			}
			(void) !write(fd, b,
			    (size_t) snprintf(b, sizeof(b), "%lld\n", v0));
			close(fd);
			volatile int *volatile nowhere = CRASH_ADDR;
			*nowhere                       = 1;
		}
	}
	for (size_t i = 0; i < in->n; i++) {
		long long v, r;
		memcpy(&v, in->data + 8 * i, 8);
		if (in->width != 8 || __builtin_mul_overflow(v, v, &r)) {
			out->fail(
			    out, i, TASQ_HANDLER_OUT_OF_RANGE, "too big");
		} else if (out->put(out, &r, 8) != 0) {
			return (-1);
		}
	}
	return (0);
}
#endif

#ifdef TEST_CANCEL
static void
touch(const char *dir, const char *name, const tasq_handler_batch *in)
{
	char path[4096];
	int  fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600)) >= 0) {
		char b = in->n > 0 && in->size > 0 ? (char) in->data[0] : '-';
		(void) !write(fd, &b, 1);
		close(fd);
	}
}

static int
long_task(
    const char *dir, const tasq_handler_batch *in, tasq_handler_results *out)
{
	const uint8_t *p = in->data;

	touch(dir, "started", in);
	for (int t = 0; t < 6000; t++) {
		if (in->cancelled(in)) {
			touch(dir, "seen-cancel", in);
			for (size_t i = 0; i < in->n; i++) {
				out->fail(out, i, TASQ_HANDLER_CANCELLED,
				    "cancelled");
			}
			return (0);
		}
		struct timespec ts = { 0, 10 * 1000000L };
		nanosleep(&ts, NULL);
	}
	for (size_t i = 0; i < in->n; i++) {
		size_t len = in->width ? in->width : in->lens[i];
		if (out->put(out, p, len) != 0) {
			return (-1);
		}
		p += len;
	}
	return (0);
}
#endif

#ifdef TEST_SQUARE_HANG
static int
square_hang(const tasq_handler_batch *in, tasq_handler_results *out)
{
	for (size_t i = 0; i < in->n; i++) {
		long long v, r;
		memcpy(&v, in->data + 8 * i, 8);
		while (v == 7 && in->attempt == 1) {
			pause(); // until the worker's watchdog ends the
			         // process
		}
		if (in->width != 8 || __builtin_mul_overflow(v, v, &r)) {
			out->fail(
			    out, i, TASQ_HANDLER_OUT_OF_RANGE, "too big");
		} else if (out->put(out, &r, 8) != 0) {
			return (-1);
		}
	}
	return (0);
}
#endif

static int
init(const char *arg, void **state, char *err, size_t errlen)
{
	*state = NULL;
#if defined(TEST_SQUARE_CRASH) || defined(TEST_CANCEL)
	*state = strdup(arg);
#endif
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

#ifdef TEST_SQUARE_CRASH
	return (square_crash(state, in, out));
#endif
#ifdef TEST_SQUARE_HANG
	return (square_hang(in, out));
#endif
#ifdef TEST_CANCEL
	return (long_task(state, in, out));
#endif
	(void) state;
#ifdef TEST_SEGV
	if (in->n > 0) {
		volatile int *volatile nowhere = CRASH_ADDR;
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

static void
fini(void *state)
{
	free(state);
}

#ifndef TEST_NOSYM
TASQ_HANDLER_EXPORT const tasq_handler_table tasq_handler_v1 = {
	.abi_version   = TEST_ABI,
	.name          = "test",
	.init          = init,
	.process_batch = process,
	.fini          = fini,
};
#else
TASQ_HANDLER_EXPORT const tasq_handler_table tasq_handler_v0 = {
	.abi_version = TEST_ABI,
	.name = "test",
	.init = init,
	.process_batch = process,
	.fini = fini,
};
#endif
