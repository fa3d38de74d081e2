// Unit tests of worker/handler: every kind on batches, their failures.
#define _GNU_SOURCE 1
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "err.h"
#include "handler.h"
#include "tasq_test.h"

#define RECORDS 10000
#define RECLEN 64

static const tasq_handler_opts fast_restart = {
	.restart_min_ms = 1,
	.restart_max_ms = 2,
};

// A batch of n records of len bytes each (deterministic content).
static tasq_handler_batch
records(size_t n, size_t len, uint8_t **mem)
{
	tasq_handler_batch b = { 0 };
	uint8_t           *d = malloc(n * len + 1);

	for (size_t i = 0; i < n * len; i++) {
		d[i] = (uint8_t) (i * 2654435761u >> 13);
	}
	b.n     = n;
	b.width = (uint32_t) len;
	b.data  = d;
	b.size  = n * len;
	b.type  = "t";
	*mem    = d;
	return (b);
}

static void
hex_ref(const uint8_t *p, size_t len, char out[65])
{
	unsigned char d[32];

	SHA256(p, len, d);
	for (int i = 0; i < 32; i++) {
		sprintf(out + 2 * i, "%02x", d[i]);
	}
}

// Runs spec over RECORDS records and checks every result against
// OpenSSL's SHA256().
static void
check_sha(const char *spec, size_t n)
{
	tasq_handler      *h;
	tasq_hres          out;
	tasq_blobs         col;
	uint32_t          *codes;
	const char       **errs;
	char               err[512], ref[65];
	uint8_t           *mem;
	tasq_handler_batch b = records(n, RECLEN, &mem);

	tasq_hres_init(&out);
	if (tasq_handler_open(
	        &h, "sha256", spec, &fast_restart, err, sizeof(err)) != 0) {
		fprintf(stderr, "open %s: %s\n", spec, err);
		FAIL("open");
	}
	// Twice: the second batch goes to the same child or state.
	for (int round = 0; round < 2; round++) {
		ASSERT_OK(tasq_handler_run(h, &b, &out));
		ASSERT_EQ(out.k, n);
		tasq_hres_view(&out, &col, &codes, &errs);
		ASSERT_NULL(codes);
		ASSERT_NULL(errs);
		ASSERT_EQ(col.width, 64);
		ASSERT_EQ(col.size, n * 64);
		for (size_t i = 0; i < n; i++) {
			hex_ref(b.data + i * RECLEN, RECLEN, ref);
			ASSERT_MEM_EQ(col.data + i * 64, ref, 64);
		}
	}
	tasq_handler_free(h);
	tasq_hres_fini(&out);
	free(mem);
}

static tasq_handler *
open_ok(const char *spec, const tasq_handler_opts *o)
{
	tasq_handler *h = NULL;
	char          err[512];

	if (tasq_handler_open(&h, "t", spec, o, err, sizeof(err)) != 0) {
		fprintf(stderr, "open %s: %s\n", spec, err);
	}
	return (h);
}

TEST(square_fast_path_and_overflow)
{
	int64_t            in[4] = { 3, -12, INT64_C(3037000500), 0 };
	tasq_handler_batch b     = { .n = 4,
		    .width              = 8,
		    .data               = (const uint8_t *) in,
		    .size               = sizeof(in) };
	tasq_hres          out;
	tasq_blobs         col;
	uint32_t          *codes;
	const char       **errs;
	tasq_handler      *h = open_ok("builtin:square", NULL);
	int64_t            r[4];

	ASSERT_NOT_NULL(h);
	tasq_hres_init(&out);
	ASSERT_OK(tasq_handler_run(h, &b, &out));
	tasq_hres_view(&out, &col, &codes, &errs);
	ASSERT_EQ(col.width, 8);
	ASSERT_EQ(col.size, 32);
	memcpy(r, col.data, sizeof(r));
	ASSERT_EQ(r[0], 9);
	ASSERT_EQ(r[1], 144);
	ASSERT_EQ(r[3], 0);
	ASSERT_NOT_NULL(codes);
	ASSERT_EQ(codes[0], 0);
	ASSERT_EQ(codes[2], tasq_err_code(TASQ_EOUT_OF_RANGE));
	ASSERT_STR_EQ(errs[0], "");
	ASSERT_STR_CONTAINS(errs[2], "does not fit");
	tasq_handler_free(h);
	tasq_hres_fini(&out);
}

// A fixed-width batch zeroes its codes only at its first failure: codes
// left by an earlier batch must not show through.
TEST(square_codes_of_an_earlier_batch_do_not_leak)
{
	uint8_t            d[16]   = { 0 };
	uint32_t           lens[3] = { 8, 0, 8 };
	int64_t            in[3]   = { 2, 3, INT64_MAX };
	tasq_handler_batch b1      = {
		     .n = 3, .lens = lens, .data = d, .size = 16
	};
	tasq_handler_batch b2 = {
		.n = 3, .width = 8, .data = (const uint8_t *) in, .size = 24
	};
	tasq_hres     out;
	tasq_blobs    col;
	uint32_t     *codes;
	const char  **errs;
	tasq_handler *h = open_ok("builtin:square", NULL);

	tasq_hres_init(&out);
	ASSERT_OK(tasq_handler_run(h, &b1, &out)); // task 1 fails
	tasq_hres_view(&out, &col, &codes, &errs);
	ASSERT_EQ(codes[1], tasq_err_code(TASQ_EINVALID_ARGUMENT));
	ASSERT_OK(tasq_handler_run(h, &b2, &out)); // task 2 fails
	tasq_hres_view(&out, &col, &codes, &errs);
	ASSERT_EQ(codes[0], 0);
	ASSERT_EQ(codes[1], 0);
	ASSERT_EQ(codes[2], tasq_err_code(TASQ_EOUT_OF_RANGE));
	ASSERT_STR_EQ(errs[1], "");
	tasq_handler_free(h);
	tasq_hres_fini(&out);
}

TEST(square_variable_width_input)
{
	uint8_t            d[19]   = { 5, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 7 };
	uint32_t           lens[3] = { 8, 3, 8 };
	tasq_handler_batch b = { .n = 3, .lens = lens, .data = d, .size = 19 };
	tasq_hres          out;
	tasq_blobs         col;
	uint32_t          *codes;
	const char       **errs;
	tasq_handler      *h = open_ok("builtin:square", NULL);
	int64_t            v;

	memcpy(d + 11, (int64_t[]) { 7 }, 8);
	tasq_hres_init(&out);
	ASSERT_OK(tasq_handler_run(h, &b, &out));
	tasq_hres_view(&out, &col, &codes, &errs);
	ASSERT_EQ(col.width, 0);
	ASSERT_EQ(col.lens[0], 8);
	ASSERT_EQ(col.lens[1], 0);
	ASSERT_EQ(codes[1], tasq_err_code(TASQ_EINVALID_ARGUMENT));
	ASSERT_STR_CONTAINS(errs[1], "not 3");
	memcpy(&v, col.data + 8, 8);
	ASSERT_EQ(v, 49);
	tasq_handler_free(h);
	tasq_hres_fini(&out);
}

TEST(builtin_sha256_matches_openssl)
{
	check_sha("builtin:sha256", RECORDS);
}

TEST(exec_c_example_sha256_matches_openssl)
{
	check_sha("exec:" HT_EXEC_SHA256, RECORDS);
}

TEST(exec_python_example_sha256_matches_openssl)
{
	check_sha("exec:python3 " HT_EXEC_PY, RECORDS);
}

// exec-each starts three processes per task (sh, sha256sum, head): the
// unit run takes 1,000 records, unit.handler_each_10k (label slow) the
// full 10,000 through TASQ_TEST_EACH_RECORDS.
TEST(exec_each_sha256_matches_openssl)
{
	const char *n = getenv("TASQ_TEST_EACH_RECORDS");

	check_sha("exec-each:sha256sum | head -c 64",
	    n != NULL && atol(n) > 0 ? (size_t) atol(n) : 1000);
}

TEST(plugin_example_sha256_matches_openssl)
{
	check_sha("plugin:" HT_PLUGIN_SHA256, RECORDS);
}

TEST(empty_batches)
{
	static const char *specs[] = { "builtin:square", "builtin:sha256",
		"exec:" HT_CHILD " echo", "exec-each:cat",
		"plugin:" HT_PLUGIN_ECHO };
	tasq_handler_batch b       = { .n = 0, .width = 8 };
	tasq_hres          out;

	tasq_hres_init(&out);
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		tasq_handler *h = open_ok(specs[i], NULL);
		ASSERT_NOT_NULL(h);
		ASSERT_OK(tasq_handler_run(h, &b, &out));
		ASSERT_EQ(out.k, 0);
		tasq_handler_free(h);
	}
	tasq_hres_fini(&out);
}

// Runs one batch of n 16-byte records and returns the view.
static void
run_batch(tasq_handler *h, size_t n, tasq_hres *out, tasq_blobs *col,
    uint32_t **codes, const char ***errs)
{
	uint8_t           *mem;
	tasq_handler_batch b = records(n, 16, &mem);

	ASSERT_OK(tasq_handler_run(h, &b, out));
	ASSERT_EQ(out->k, n);
	tasq_hres_view(out, col, codes, errs);
	free(mem);
}

TEST(exec_echo_per_task_failures)
{
	tasq_handler *h = open_ok("exec:" HT_CHILD " fail-odd", NULL);
	tasq_hres     out;
	tasq_blobs    col;
	uint32_t     *codes;
	const char  **errs;

	tasq_hres_init(&out);
	run_batch(h, 10, &out, &col, &codes, &errs);
	ASSERT_NOT_NULL(codes);
	ASSERT_EQ(codes[0], 0);
	ASSERT_EQ(codes[3], 3);
	ASSERT_STR_EQ(errs[3], "odd task 3");
	ASSERT_EQ(col.width, 0);
	ASSERT_EQ(col.lens[2], 16);
	ASSERT_EQ(col.lens[3], 0);
	tasq_handler_free(h);
	tasq_hres_fini(&out);
}

TEST(exec_batch_header_carries_the_attempt)
{
	char               path[] = "/tmp/tasq-ht-log-XXXXXX", spec[512];
	char               line[64];
	uint8_t            d[3] = { 'a', 'b', 'c' };
	tasq_handler_batch b    = {
		   .n = 1, .width = 3, .data = d, .size = 3, .attempt = 7
	};
	tasq_hres out;
	int       fd = mkstemp(path);
	FILE     *f;

	ASSERT_GE(fd, 0);
	close(fd);
	snprintf(spec, sizeof(spec), "exec:%s echo-log %s", HT_CHILD, path);
	tasq_handler *h = open_ok(spec, NULL);
	tasq_hres_init(&out);
	ASSERT_OK(tasq_handler_run(h, &b, &out));
	ASSERT_EQ(out.k, 1);
	tasq_handler_free(h);
	tasq_hres_fini(&out);
	ASSERT_NOT_NULL(f = fopen(path, "r"));
	ASSERT_NOT_NULL(fgets(line, sizeof(line), f));
	fclose(f);
	unlink(path);
	ASSERT_STR_EQ(line, "7\tabc\n");
}

struct killer {
	char path[256];
	int  killed;
};

// Waits (bounded) for the child's pid file, then kill -9s the child.
static void *
killer_main(void *arg)
{
	struct killer *k = arg;

	for (int i = 0; i < 1000; i++) {
		FILE *f   = fopen(k->path, "r");
		int   pid = 0;
		if (f != NULL) {
			if (fscanf(f, "%d", &pid) != 1) {
				pid = 0;
			}
			fclose(f);
		}
		if (pid > 0) {
			// It answers half the batch, then waits: give the
			// answer a moment to be read (not needed for the
			// test to pass, only to see partial results).
			struct timespec ts = { 0, 50 * 1000000L };
			nanosleep(&ts, NULL);
			k->killed = kill(pid, SIGKILL) == 0;
			return (NULL);
		}
		struct timespec ts = { 0, 10 * 1000000L };
		nanosleep(&ts, NULL);
	}
	return (NULL);
}

TEST(exec_child_killed_mid_batch_is_restarted)
{
	char          dir[] = "/tmp/tasq-ht-XXXXXX", cmd[1024];
	struct killer k     = { 0 };
	pthread_t     thr;
	tasq_hres     out;
	tasq_blobs    col;
	uint32_t     *codes;
	const char  **errs;

	ASSERT_NOT_NULL(mkdtemp(dir));
	snprintf(k.path, sizeof(k.path), "%s/pid", dir);
	// The first child hangs mid-batch; the restarted one echoes.
	snprintf(cmd, sizeof(cmd),
	    "exec:if [ -e %s/mark ]; then exec %s echo; else touch %s/mark; "
	    "exec %s pid-hang %s; fi",
	    dir, HT_CHILD, dir, HT_CHILD, k.path);
	tasq_handler *h = open_ok(cmd, &fast_restart);
	ASSERT_NOT_NULL(h);
	tasq_hres_init(&out);
	ASSERT_EQ(pthread_create(&thr, NULL, killer_main, &k), 0);
	run_batch(h, 100, &out, &col, &codes, &errs);
	pthread_join(thr, NULL);
	ASSERT_TRUE(k.killed);
	ASSERT_NOT_NULL(codes);
	ASSERT_EQ(codes[99], tasq_err_code(TASQ_EUNAVAILABLE));
	ASSERT_STR_CONTAINS(errs[99], "killed by signal 9");
	ASSERT_EQ(codes[0], 0); // answered before the kill: kept
	ASSERT_EQ(codes[50], tasq_err_code(TASQ_EUNAVAILABLE));
	// The next batch goes to a new child.
	run_batch(h, 100, &out, &col, &codes, &errs);
	ASSERT_NULL(codes);
	ASSERT_EQ(col.width, 16);
	tasq_handler_free(h);
	tasq_hres_fini(&out);
	unlink(k.path);
	snprintf(cmd, sizeof(cmd), "%s/mark", dir);
	unlink(cmd);
	rmdir(dir);
}

TEST(exec_child_exit_reports_stderr_tail)
{
	tasq_handler *h =
	    open_ok("exec:" HT_CHILD " die-after 5", &fast_restart);
	tasq_hres    out;
	tasq_blobs   col;
	uint32_t    *codes;
	const char **errs;

	tasq_hres_init(&out);
	run_batch(h, 20, &out, &col, &codes, &errs);
	ASSERT_NOT_NULL(codes);
	for (size_t i = 0; i < 20; i++) {
		ASSERT_EQ(
		    codes[i], i < 5 ? 0 : tasq_err_code(TASQ_EUNAVAILABLE));
	}
	ASSERT_STR_CONTAINS(errs[5], "exit status 3");
	ASSERT_STR_CONTAINS(errs[5], "dying on purpose after 5");
	// Restarted: its first batch dies again at 5, so the count of
	// failures shows a new child each time.
	run_batch(h, 3, &out, &col, &codes, &errs);
	ASSERT_NULL(codes);
	tasq_handler_free(h);
	tasq_hres_fini(&out);
}

TEST(exec_framing_errors_fail_the_batch_retryably)
{
	static const char *modes[] = { "bad-magic", "bad-status", "extra",
		"short" };
	static const char *whys[]  = { "does not begin", "status 99",
		 "after the batch", "exited" };
	tasq_hres          out;
	tasq_blobs         col;
	uint32_t          *codes;
	const char       **errs;
	char               spec[512];

	tasq_hres_init(&out);
	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		snprintf(spec, sizeof(spec), "exec:%s %s", HT_CHILD, modes[m]);
		tasq_handler *h = open_ok(spec, &fast_restart);
		ASSERT_NOT_NULL(h);
		for (int round = 0; round < 2; round++) {
			run_batch(h, 4, &out, &col, &codes, &errs);
			if (strcmp(modes[m], "extra") == 0 && codes == NULL) {
				// The extra byte came after the answer was
				// read: the next batch gets a new child.
				ASSERT_EQ(col.width, 16);
				continue;
			}
			ASSERT_NOT_NULL(codes);
			ASSERT_EQ(codes[3], tasq_err_code(TASQ_EUNAVAILABLE));
			if (strstr(errs[3], whys[m]) == NULL) {
				fprintf(stderr, "mode %s: %s\n", modes[m],
				    errs[3]);
				FAIL("message");
			}
		}
		tasq_handler_free(h);
	}
	tasq_hres_fini(&out);
}

// A result over 1 MiB fails its task at once with a final code (another
// attempt would give the same); the child and the rest of the batch go on.
TEST(exec_oversized_result_fails_its_task_finally)
{
	tasq_hres    out;
	tasq_blobs   col;
	uint32_t    *codes;
	const char **errs;

	tasq_handler *h = open_ok("exec:" HT_CHILD " too-long", &fast_restart);
	ASSERT_NOT_NULL(h);
	tasq_hres_init(&out);
	for (int round = 0; round < 2; round++) {
		run_batch(h, 4, &out, &col, &codes, &errs);
		ASSERT_NOT_NULL(codes);
		ASSERT_EQ(codes[0], 0);
		ASSERT_EQ(codes[1], tasq_err_code(TASQ_EOUT_OF_RANGE));
		ASSERT_TRUE(tasq_wire_code_final(codes[1]));
		ASSERT_STR_CONTAINS(errs[1],
		    "result is 2097152 bytes, more than the 1 MiB limit");
		ASSERT_EQ(codes[2], 0);
		ASSERT_EQ(codes[3], 0);
		ASSERT_EQ(col.lens[1], 0);
		ASSERT_EQ(col.lens[3], 16);
	}
	tasq_handler_free(h);
	tasq_hres_fini(&out);
}

TEST(exec_each_oversized_result_fails_its_task_finally)
{
	tasq_handler *h = open_ok("exec-each:cat >/dev/null; "
	                          "head -c 2097152 /dev/zero",
	    NULL);
	tasq_hres     out;
	tasq_blobs    col;
	uint32_t     *codes;
	const char  **errs;

	tasq_hres_init(&out);
	run_batch(h, 2, &out, &col, &codes, &errs);
	ASSERT_NOT_NULL(codes);
	for (size_t i = 0; i < 2; i++) {
		ASSERT_EQ(codes[i], tasq_err_code(TASQ_EOUT_OF_RANGE));
		ASSERT_TRUE(tasq_wire_code_final(codes[i]));
		ASSERT_STR_CONTAINS(errs[i], "more than the 1 MiB limit");
		ASSERT_EQ(col.lens[i], 0);
	}
	tasq_handler_free(h);
	tasq_hres_fini(&out);
}

TEST(exec_hang_times_out)
{
	tasq_handler_opts o = fast_restart;
	tasq_hres         out;
	tasq_blobs        col;
	uint32_t         *codes;
	const char      **errs;

	o.task_timeout_ms = 200;
	tasq_handler *h   = open_ok("exec:" HT_CHILD " hang", &o);
	tasq_hres_init(&out);
	run_batch(h, 3, &out, &col, &codes, &errs);
	ASSERT_EQ(codes[0], tasq_err_code(TASQ_EDEADLINE_EXCEEDED));
	ASSERT_STR_CONTAINS(errs[0], "--task-timeout");
	ASSERT_EQ(codes[1], tasq_err_code(TASQ_EUNAVAILABLE));
	tasq_handler_free(h);
	tasq_hres_fini(&out);
}

TEST(exec_each_order_and_lengths)
{
	tasq_handler_opts o = { .each_parallel = 3 };
	tasq_handler     *h = open_ok("exec-each:cat", &o);
	uint8_t           d[64 * 65 / 2];
	uint32_t          lens[64];
	size_t            size = 0;
	tasq_hres         out;
	tasq_blobs        col;
	uint32_t         *codes;
	const char      **errs;

	for (uint32_t i = 0; i < 64; i++) {
		lens[i] = i;
		memset(d + size, 'a' + (int) (i % 26), i);
		size += i;
	}
	tasq_handler_batch b = {
		.n = 64, .lens = lens, .data = d, .size = size
	};
	tasq_hres_init(&out);
	ASSERT_OK(tasq_handler_run(h, &b, &out));
	tasq_hres_view(&out, &col, &codes, &errs);
	ASSERT_NULL(codes);
	ASSERT_EQ(col.width, 0);
	ASSERT_EQ(col.size, size);
	ASSERT_MEM_EQ(col.data, d, size);
	for (uint32_t i = 0; i < 64; i++) {
		ASSERT_EQ(col.lens[i], i);
	}
	tasq_handler_free(h);
	tasq_hres_fini(&out);
}

TEST(exec_each_nonzero_exit_has_stderr_tail)
{
	tasq_handler *h = open_ok("exec-each:cat >/dev/null; head -c 3000 "
	                          "/dev/zero | tr '\\0' x >&2; "
	                          "echo ' the end' >&2; exit 7",
	    NULL);
	tasq_hres     out;
	tasq_blobs    col;
	uint32_t     *codes;
	const char  **errs;

	tasq_hres_init(&out);
	run_batch(h, 3, &out, &col, &codes, &errs);
	ASSERT_EQ(codes[2], tasq_err_code(TASQ_EUNKNOWN));
	ASSERT_STR_CONTAINS(errs[2], "exit status 7");
	ASSERT_STR_CONTAINS(errs[2], "x the end");
	// The tail only: 512 bytes of stderr and the status.
	ASSERT_LT(strlen(errs[2]), 600);
	tasq_handler_free(h);
	tasq_hres_fini(&out);
}

TEST(exec_each_timeout_kills)
{
	tasq_handler_opts o = { .task_timeout_ms = 200 };
	tasq_handler     *h = open_ok("exec-each:sleep 30", &o);
	tasq_hres         out;
	tasq_blobs        col;
	uint32_t         *codes;
	const char      **errs;
	time_t            t0 = time(NULL);

	tasq_hres_init(&out);
	run_batch(h, 2, &out, &col, &codes, &errs);
	ASSERT_EQ(codes[0], tasq_err_code(TASQ_EDEADLINE_EXCEEDED));
	ASSERT_EQ(codes[1], tasq_err_code(TASQ_EDEADLINE_EXCEEDED));
	ASSERT_LT(time(NULL) - t0, 20);
	tasq_handler_free(h);
	tasq_hres_fini(&out);
}

static void
open_fails(const char *spec, const char *why)
{
	tasq_handler *h = NULL;
	char          err[512];

	ASSERT_RV(tasq_handler_open(&h, "t", spec, NULL, err, sizeof(err)),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_NULL(h);
	ASSERT_STR_CONTAINS(err, why);
}

TEST(bad_specs_and_plugins_are_refused_clearly)
{
	open_fails("builtin:cube", "unknown built-in");
	open_fails("exec:", "names no command");
	open_fails("python3 x.py", "is not builtin");
	open_fails("plugin:/nonexistent/lib.so", "cannot load");
	open_fails("plugin:" HT_PLUGIN_ABI_NEXT,
	    "handler ABI version 3, this worker speaks versions 1 to 2");
	open_fails("plugin:" HT_PLUGIN_NOSYM, "no symbol tasq_handler_v1");
	open_fails("plugin:" HT_PLUGIN_INITFAIL " some arg",
	    "init failed: refusing arg 'some arg'");
}

TEST(plugin_short_results_fail_the_rest)
{
	tasq_handler *h = open_ok("plugin:" HT_PLUGIN_SHORT, NULL);
	tasq_hres     out;
	tasq_blobs    col;
	uint32_t     *codes;
	const char  **errs;

	tasq_hres_init(&out);
	run_batch(h, 5, &out, &col, &codes, &errs);
	ASSERT_EQ(codes[3], 0);
	ASSERT_EQ(codes[4], tasq_err_code(TASQ_EINTERNAL));
	ASSERT_STR_CONTAINS(errs[4], "fewer results");
	tasq_handler_free(h);
	tasq_hres_fini(&out);
}

TEST(plugin_segfault_kills_only_its_process)
{
	pid_t pid = fork();
	int   st;

	ASSERT_GE(pid, 0);
	if (pid == 0) {
		tasq_hres     out;
		tasq_blobs    col;
		uint32_t     *codes;
		const char  **errs;
		tasq_handler *h = open_ok("plugin:" HT_PLUGIN_SEGV, NULL);
		signal(SIGSEGV, SIG_DFL);
		tasq_hres_init(&out);
		if (h != NULL) {
			run_batch(h, 5, &out, &col, &codes, &errs);
		}
		_exit(0); // not reached when the plugin crashes
	}
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	ASSERT_TRUE(WIFSIGNALED(st));
	ASSERT_EQ(WTERMSIG(st), SIGSEGV);
}

// run.c keeps its results in an array that grows with realloc: a
// tasq_hres may move between _init and _begin, and a plugin's put must
// still reach it.
TEST(results_builder_moved_after_init)
{
	tasq_hres    *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	tasq_blobs    col;
	uint32_t     *codes;
	const char  **errs;
	tasq_handler *h = open_ok("plugin:" HT_PLUGIN_ECHO, NULL);

	tasq_hres_init(a);
	memcpy(b, a, sizeof(*a)); // what realloc does
	memset(a, 0x5a, sizeof(*a));
	free(a);
	run_batch(h, 3, b, &col, &codes, &errs);
	ASSERT_NULL(codes);
	ASSERT_EQ(col.size, 48);
	tasq_handler_free(h);
	tasq_hres_fini(b);
	free(b);
}

TEST(results_builder_rules)
{
	tasq_hres    h;
	tasq_blobs   col;
	uint32_t    *codes;
	const char **errs;
	uint8_t     *p;
	char         buf[16];

	tasq_hres_init(&h);
	ASSERT_OK(tasq_hres_begin(&h, 3));
	ASSERT_OK(tasq_hres_put(&h, "ab", 2));
	ASSERT_RV(tasq_hres_fail(&h, 2, 3, "skips one"), TASQ_EOUT_OF_RANGE);
	ASSERT_NULL(tasq_hres_fixed(&h, 8)); // after a put
	ASSERT_OK(tasq_hres_fail(&h, 0, 5, "late \xff\x01 failure"));
	ASSERT_OK(tasq_hres_put(&h, "cd", 2));
	ASSERT_OK(tasq_hres_put(&h, "ef", 2));
	ASSERT_RV(tasq_hres_put(&h, "gh", 2), TASQ_EOUT_OF_RANGE);
	tasq_hres_view(&h, &col, &codes, &errs);
	ASSERT_EQ(col.width, 2);
	ASSERT_EQ(codes[0], 5);
	ASSERT_STR_EQ(errs[0], "late ?? failure");
	ASSERT_STR_EQ(errs[1], "");
	// A fixed column widened by failures at its end.
	ASSERT_OK(tasq_hres_begin(&h, 4));
	ASSERT_NOT_NULL(p = tasq_hres_fixed(&h, 4));
	h.k = 2; // as if the handler gave up after two
	tasq_hres_fail_rest(&h, 14, NULL);
	tasq_hres_view(&h, &col, &codes, &errs);
	ASSERT_EQ(col.width, 0);
	ASSERT_EQ(col.lens[1], 4);
	ASSERT_EQ(col.lens[2], 0);
	ASSERT_STR_EQ(errs[3], "UNAVAILABLE");
	// A result over 1 MiB (a plugin's put) fails its task, finally,
	// and the batch goes on; so do fixed results over 1 MiB each.
	{
		size_t   big = (size_t) 2 << 20;
		uint8_t *mem = calloc(1, big);
		ASSERT_NOT_NULL(mem);
		ASSERT_OK(tasq_hres_begin(&h, 3));
		ASSERT_OK(tasq_hres_put(&h, "ab", 2));
		ASSERT_OK(tasq_hres_put(&h, mem, big));
		ASSERT_OK(tasq_hres_put(&h, "cd", 2));
		ASSERT_EQ(h.err, 0);
		tasq_hres_view(&h, &col, &codes, &errs);
		ASSERT_EQ(codes[1], tasq_err_code(TASQ_EOUT_OF_RANGE));
		ASSERT_STR_EQ(errs[1],
		    "result is 2097152 bytes, more than the 1 MiB limit");
		ASSERT_EQ(col.size, 4);
		ASSERT_OK(tasq_hres_begin(&h, 2));
		ASSERT_NULL(tasq_hres_fixed(&h, big));
		ASSERT_EQ(h.err, 0);
		ASSERT_EQ(h.k, 2);
		tasq_hres_view(&h, &col, &codes, &errs);
		ASSERT_EQ(codes[0], tasq_err_code(TASQ_EOUT_OF_RANGE));
		ASSERT_STR_CONTAINS(errs[1], "more than the 1 MiB limit");
		free(mem);
	}
	tasq_hres_fini(&h);
	// UTF-8 is cut at a character boundary.
	ASSERT_EQ(tasq_text_clean(buf, 6, "abc\xc3\xa9\xc3\xa9", 7), 5);
	ASSERT_EQ(tasq_text_clean(buf, 5, "abc\xc3\xa9", 5), 3);
	ASSERT_STR_EQ(buf, "abc");
}

TASQ_TEST_MAIN()
