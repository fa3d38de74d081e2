// Unit tests of a cancel reaching a running handler (worker/handler.h,
// tasq_cancel; docs/HANDLERS.md): an exec child gets SIGTERM (SIGKILL
// after the grace time when it ignores it) and a new one serves the next
// batch; exec-each children likewise; a plugin of ABI version 2 sees the
// flag; a plugin of version 1 still loads. Each batch runs on a thread of
// its own while this one sets the cancel.
#define _GNU_SOURCE 1
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "handler.h"
#include "tasq_test.h"

// What an unfixed handler would take: the exec and exec-each children
// sleep 30 s, the task timeout ends them after 8.
#define TASK_TIMEOUT_MS 8000
#define GRACE_MS 400

static char dir[] = "/tmp/tasq-cancel-test.XXXXXX";

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000);
}

static void
pause_ms(unsigned ms)
{
	struct timespec ts = { (time_t) (ms / 1000),
		(long) (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

// The bytes of dir/name, waiting (bounded) until it has at least min.
static size_t
file_wait(const char *name, size_t min, char *buf, size_t len)
{
	char   path[512];
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	for (int i = 0; i < 2000; i++) { // 20 s at most
		FILE *f = fopen(path, "r");
		if (f != NULL) {
			n      = fread(buf, 1, len - 1, f);
			buf[n] = '\0';
			fclose(f);
			if (n >= min) {
				return (n);
			}
		}
		pause_ms(10);
	}
	return (n);
}

// A process that is gone (or a zombie nobody reaps: not ours).
static bool
gone(pid_t pid)
{
	return (kill(pid, 0) != 0 && errno == ESRCH);
}

struct run {
	tasq_handler      *h;
	tasq_handler_batch b;
	tasq_hres          out;
	int                rv;
	uint64_t           done_ms;
};

static void *
run_thread(void *arg)
{
	struct run *r = arg;

	r->rv      = tasq_handler_run(r->h, &r->b, &r->out);
	r->done_ms = now_ms();
	return (NULL);
}

// n payloads of one byte each ('a', 'b', ...).
static void
batch_init(struct run *r, size_t n, tasq_cancel *c)
{
	static const uint8_t data[] = "abcdefghijklmnop";

	memset(&r->b, 0, sizeof(r->b));
	r->b.n     = n;
	r->b.width = 1;
	r->b.data  = data;
	r->b.size  = n;
	r->b.type  = "t";
	tasq_cancel_attach(&r->b, c);
	tasq_hres_init(&r->out);
}

// Every task of r failed CANCELLED.
static void
all_cancelled(struct run *r)
{
	tasq_blobs   col;
	uint32_t    *codes;
	const char **errs;

	ASSERT_OK(r->rv);
	ASSERT_EQ(r->out.k, r->b.n);
	tasq_hres_view(&r->out, &col, &codes, &errs);
	ASSERT_NOT_NULL(codes);
	for (size_t i = 0; i < r->b.n; i++) {
		ASSERT_EQ(codes[i], (uint32_t) tasq_err_code(TASQ_ECANCELLED));
	}
}

static tasq_handler *
open_ok(const char *spec)
{
	tasq_handler     *h = NULL;
	tasq_handler_opts o = { .task_timeout_ms = TASK_TIMEOUT_MS,
		.cancel_grace_ms                 = GRACE_MS,
		.restart_min_ms                  = 1,
		.restart_max_ms                  = 2,
		.each_parallel                   = 4 };
	char              err[512];

	if (tasq_handler_open(&h, "t", spec, &o, err, sizeof(err)) != 0) {
		fprintf(stderr, "open %s: %s\n", spec, err);
		FAIL("open");
	}
	return (h);
}

// Runs r on a thread, waits for its child (a pid in dir/file, or the
// plugin's dir/started), cancels, joins; returns how long the handler
// took after the cancel.
static uint64_t
cancel_midway(
    struct run *r, tasq_cancel *c, const char *file, size_t lines, pid_t *pids)
{
	pthread_t t;
	char      buf[256];
	uint64_t  at;

	ASSERT_EQ(pthread_create(&t, NULL, run_thread, r), 0);
	if (lines > 0) {
		size_t      k = 0;
		const char *p = buf;
		// Each child writes "pid\n": wait for lines of them.
		for (int i = 0; i < 100 && k < lines; i++) {
			file_wait(file, 1, buf, sizeof(buf));
			k = 0;
			for (const char *q = buf; *q != '\0'; q++) {
				k += *q == '\n';
			}
			if (k < lines) {
				pause_ms(20);
			}
		}
		ASSERT_EQ(k, lines);
		for (size_t i = 0; i < lines; i++) {
			pids[i] = (pid_t) strtol(p, (char **) &p, 10);
			ASSERT_GT(pids[i], 0);
		}
	} else {
		ASSERT_GT(file_wait(file, 1, buf, sizeof(buf)), 0);
	}
	at = now_ms();
	tasq_cancel_set(c);
	ASSERT_EQ(pthread_join(t, NULL), 0);
	return (r->done_ms - at);
}

TEST(exec_child_gets_sigterm_and_a_new_one_serves_the_next_batch)
{
	char         spec[1024];
	tasq_cancel  c;
	struct run   r;
	pid_t        pid;
	uint64_t     took;
	tasq_blobs   col;
	uint32_t    *codes;
	const char **errs;

	// First child: writes its pid and sleeps; later ones echo.
	snprintf(spec, sizeof(spec),
	    "exec:if [ -e %s/pid1 ]; then exec %s echo; fi; "
	    "echo $$ > %s/pid1.tmp && mv %s/pid1.tmp %s/pid1; exec sleep 30",
	    dir, HT_CHILD, dir, dir, dir);
	tasq_cancel_init(&c);
	r.h = open_ok(spec);
	batch_init(&r, 3, &c);
	took = cancel_midway(&r, &c, "pid1", 1, &pid);
	all_cancelled(&r);
	ASSERT_LT(took, GRACE_MS); // sleep dies of SIGTERM at once
	ASSERT_TRUE(gone(pid));
	// The next batch (the cancel cleared) gets a new child.
	tasq_cancel_clear(&c);
	ASSERT_OK(tasq_handler_run(r.h, &r.b, &r.out));
	tasq_hres_view(&r.out, &col, &codes, &errs);
	ASSERT_NULL(codes);
	ASSERT_MEM_EQ(col.data, "abc", 3);
	tasq_hres_fini(&r.out);
	tasq_handler_free(r.h);
	tasq_cancel_fini(&c);
}

TEST(exec_child_ignoring_sigterm_is_killed_after_the_grace_time)
{
	char        spec[1024];
	tasq_cancel c;
	struct run  r;
	pid_t       pid;
	uint64_t    took;

	snprintf(spec, sizeof(spec),
	    "exec:trap '' TERM; echo $$ > %s/pid2.tmp && "
	    "mv %s/pid2.tmp %s/pid2; exec sleep 30",
	    dir, dir, dir);
	tasq_cancel_init(&c);
	r.h = open_ok(spec);
	batch_init(&r, 2, &c);
	took = cancel_midway(&r, &c, "pid2", 1, &pid);
	all_cancelled(&r);
	ASSERT_GE(took, GRACE_MS - 50);
	ASSERT_LT(took, GRACE_MS + 2000);
	ASSERT_TRUE(gone(pid));
	tasq_hres_fini(&r.out);
	tasq_handler_free(r.h);
	tasq_cancel_fini(&c);
}

TEST(exec_each_children_get_sigterm)
{
	char        spec[1024];
	tasq_cancel c;
	struct run  r;
	pid_t       pids[3];
	uint64_t    took;

	snprintf(spec, sizeof(spec),
	    "exec-each:echo $$ >> %s/pids3; exec sleep 30", dir);
	tasq_cancel_init(&c);
	r.h = open_ok(spec);
	batch_init(&r, 3, &c);
	took = cancel_midway(&r, &c, "pids3", 3, pids);
	all_cancelled(&r);
	ASSERT_LT(took, GRACE_MS);
	for (int i = 0; i < 3; i++) {
		ASSERT_TRUE(gone(pids[i]));
	}
	tasq_hres_fini(&r.out);
	tasq_handler_free(r.h);
	tasq_cancel_fini(&c);
}

TEST(a_batch_cancelled_before_it_starts_runs_nothing)
{
	char        spec[1024];
	tasq_cancel c;
	struct run  r;
	char        buf[64];
	struct stat st;

	snprintf(spec, sizeof(spec), "exec-each:echo $$ >> %s/pids4", dir);
	tasq_cancel_init(&c);
	tasq_cancel_set(&c);
	r.h = open_ok(spec);
	batch_init(&r, 4, &c);
	run_thread(&r);
	all_cancelled(&r);
	snprintf(buf, sizeof(buf), "%s/pids4", dir);
	ASSERT_NE(stat(buf, &st), 0);
	tasq_hres_fini(&r.out);
	tasq_handler_free(r.h);
	tasq_cancel_fini(&c);
}

TEST(plugin_of_abi_2_sees_the_cancel_flag)
{
	char        spec[1024], buf[64];
	tasq_cancel c;
	struct run  r;
	uint64_t    took;

	snprintf(spec, sizeof(spec), "plugin:%s %s", HT_PLUGIN_CANCEL, dir);
	tasq_cancel_init(&c);
	r.h = open_ok(spec);
	batch_init(&r, 2, &c);
	took = cancel_midway(&r, &c, "started", 0, NULL);
	all_cancelled(&r);
	ASSERT_LT(took, 1000);
	ASSERT_EQ(file_wait("seen-cancel", 1, buf, sizeof(buf)), 1);
	ASSERT_STR_EQ(buf, "a");
	tasq_hres_fini(&r.out);
	tasq_handler_free(r.h);
	tasq_cancel_fini(&c);
}

TEST(plugin_of_abi_1_still_loads_and_runs)
{
	char         spec[1024];
	tasq_cancel  c;
	struct run   r;
	tasq_blobs   col;
	uint32_t    *codes;
	const char **errs;

	snprintf(spec, sizeof(spec), "plugin:%s", HT_PLUGIN_ABI1);
	tasq_cancel_init(&c);
	r.h = open_ok(spec);
	batch_init(&r, 3, &c);
	run_thread(&r);
	ASSERT_OK(r.rv);
	tasq_hres_view(&r.out, &col, &codes, &errs);
	ASSERT_NULL(codes);
	ASSERT_MEM_EQ(col.data, "abc", 3);
	tasq_hres_fini(&r.out);
	tasq_handler_free(r.h);
	tasq_cancel_fini(&c);
}

static void
rm_dir(void)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	(void) !system(cmd);
}

int
main(int argc, char **argv)
{
	int rv;

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return (1);
	}
	rv = tasq_test_main(argc, argv);
	rm_dir();
	return (rv);
}
