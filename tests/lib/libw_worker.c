// libw_worker: a worker on libtasq's worker side for the tests of
// tests/lib/libw_*.sh. The server and key come from the environment
// (TASQ_SERVER, TASQ_KEY_FILE), as for the tools.
//
//	libw_worker sha256            serves "sha256" with a batch handler
//	                              (tasq_lease_payloads, tasq_lease_put_all)
//	libw_worker square [DELAY_MS] serves "square" with a task handler,
//	                              DELAY_MS per task (default 0), 2 threads
//	libw_worker hold MS [none]    leases "square" by hand, holds each
//	                              batch MS before completing it (none:
//	                              no heartbeat channel, Extend only)
//	libw_worker async             as hold 0, with the aio forms
//	libw_worker api JOB           checks the calls' errors and a lease's
//	                              accessors (tasq_lease_id, put_column)
//	                              on JOB (hex): tasks 0..4 of
//	                              type square, payloads 1 to 5; puts
//	                              1 and 4, fails the third
//	                              (INVALID_ARGUMENT "three: no"), releases
//	                              the last two twice, puts 16 and 25,
//	                              exits
//
// Options: TASQ_TEST_BATCH (tasks per lease). It prints "serving" once
// its serve handle exists; SIGTERM or SIGINT stop it (exit 0).
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/sha.h>
#include <tasq/tasq.h>

static tasq_serve           *w;
static volatile sig_atomic_t stopped;
static unsigned              delay_ms;
static atomic_size_t         computed; // square tasks computed

static void
on_signal(int sig)
{
	(void) sig;
	stopped = 1;
	tasq_serve_stop(w);
}

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
		.tv_nsec               = (long) (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && !stopped) {
	}
}

static int
square(void *arg, tasq_lease *l, size_t i, const void *p, size_t len)
{
	int64_t v;

	(void) arg;
	if (len != 8) {
		return (TASQ_EINVALID_ARGUMENT);
	}
	if (delay_ms > 0) {
		sleep_ms(delay_ms);
	}
	atomic_fetch_add(&computed, 1);
	memcpy(&v, p, 8);
	if (__builtin_mul_overflow(v, v, &v)) {
		return (tasq_lease_fail(l, i, TASQ_EOUT_OF_RANGE,
		    "the square does not fit in an int64"));
	}
	return (tasq_lease_put(l, i, &v, 8));
}

// sha256 over the whole column, results as one fixed-width column.
static int
sha256(void *arg, tasq_lease *l)
{
	const void     *data;
	const uint32_t *lens;
	size_t          size, n = tasq_lease_count(l), off = 0;
	uint32_t        width = tasq_lease_width(l);
	char           *out;
	int             rv;

	(void) arg;
	if ((rv = tasq_lease_payloads(&data, &size, &lens, l)) != 0) {
		return (rv);
	}
	if ((out = malloc(n * 64 + 1)) == NULL) {
		return (TASQ_ERESOURCE_EXHAUSTED);
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char md[SHA256_DIGEST_LENGTH];
		size_t        len = width != 0 ? width : lens[i];
		SHA256((const unsigned char *) data + off, len, md);
		for (int k = 0; k < SHA256_DIGEST_LENGTH; k++) {
			snprintf(out + i * 64 + 2 * k, 3, "%02x", md[k]);
		}
		off += len;
	}
	rv = tasq_lease_put_all(l, out, n * 64, 64, NULL);
	free(out);
	return (rv);
}

#define CHECK(cond)                                                           \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "libw_worker: line %d: %s: %s\n",     \
			    __LINE__, #cond, tasq_errmsg());                  \
			return (1);                                           \
		}                                                             \
	} while (0)

// api: the errors of the calls, then one lease by hand.
static int
api(uint64_t job)
{
	tasq_lease     *l = NULL;
	char            big[70];
	size_t          len;
	int64_t         v;
	const void     *data;
	size_t          size;
	const uint32_t *lens;

	memset(big, 'x', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	CHECK(tasq_serve_lease(&l, w) == TASQ_EFAILED_PRECONDITION && !l);
	CHECK(tasq_serve_add_type(w, "bad name") == TASQ_EINVALID_ARGUMENT);
	CHECK(tasq_serve_add_type(w, big) == TASQ_EINVALID_ARGUMENT);
	CHECK(tasq_serve_add_type(w, NULL) == TASQ_EINVALID_ARGUMENT);
	CHECK(tasq_serve_add_type(w, "square") == 0);
	CHECK(tasq_serve_add_type(w, "square") == TASQ_EALREADY_EXISTS);
	CHECK(
	    tasq_serve_add_queue(w, "default", 101) == TASQ_EINVALID_ARGUMENT);
	CHECK(tasq_serve_add_queue(w, "q/1", 1) == TASQ_EINVALID_ARGUMENT);
	CHECK(tasq_serve_set_batch(w, 0) == TASQ_EINVALID_ARGUMENT);
	CHECK(tasq_serve_set_batch(w, 65537) == TASQ_EINVALID_ARGUMENT);
	CHECK(tasq_serve_set_wait(w, 60001) == TASQ_EINVALID_ARGUMENT);
	CHECK(tasq_serve_set_name(w, "a\tb") == TASQ_EINVALID_ARGUMENT);
	CHECK(tasq_serve_set_name(w, "libw api") == 0);
	CHECK(tasq_serve_set_batch(w, 3) == 0);
	CHECK(tasq_lease_code_final(TASQ_EINVALID_ARGUMENT));
	CHECK(tasq_lease_code_final(11)); // OUT_OF_RANGE, as a wire code
	CHECK(!tasq_lease_code_final(TASQ_EUNAVAILABLE));
	CHECK(!tasq_lease_code_final(TASQ_EINTERNAL));
	for (int k = 0; k < 100 && l == NULL; k++) {
		CHECK(tasq_serve_lease(&l, w) == 0);
	}
	CHECK(l != NULL);
	CHECK(tasq_serve_set_heartbeat(w, "none") == 0 ||
	    tasq_serve_set_heartbeat(w, "none") == TASQ_EFAILED_PRECONDITION);
	CHECK(tasq_lease_count(l) == 3);
	CHECK(strcmp(tasq_lease_type(l), "square") == 0);
	CHECK(tasq_lease_width(l) == 8);
	for (size_t i = 0; i < 3; i++) {
		CHECK(tasq_lease_job(l, i) == job);
		CHECK(tasq_lease_task(l, i) == i);
		CHECK(tasq_lease_attempt(l, i) == 1);
		CHECK(!tasq_lease_cancelled(l, i));
		CHECK(tasq_lease_payload(l, i, &len) != NULL && len == 8);
		memcpy(&v, tasq_lease_payload(l, i, NULL), 8);
		CHECK(v == (int64_t) i + 1);
	}
	CHECK(tasq_lease_payload(l, 3, &len) == NULL && len == 0);
	CHECK(tasq_lease_job(l, 3) == 0);
	CHECK(tasq_lease_payloads(&data, &size, &lens, l) == 0);
	CHECK(size == 24 && lens == NULL);
	CHECK(tasq_lease_put(l, 3, &v, 8) == TASQ_EINVALID_ARGUMENT);
	CHECK(tasq_lease_put(l, 0, NULL, 8) == TASQ_EINVALID_ARGUMENT);
	CHECK(tasq_lease_fail(l, 0, 0, "no") == TASQ_EINVALID_ARGUMENT);
	CHECK(tasq_lease_fail(l, 0, 17, "no") == TASQ_EINVALID_ARGUMENT);
	CHECK(
	    tasq_lease_put_all(l, big, 10, 0, NULL) == TASQ_EINVALID_ARGUMENT);
	CHECK(
	    tasq_lease_put_all(l, big, 23, 8, NULL) == TASQ_EINVALID_ARGUMENT);
	// A lease's id; results of a range of tasks from a column (bad
	// ranges and short columns refused), replaced below by the puts.
	CHECK(tasq_lease_id(l) != 0 && tasq_lease_id(NULL) == 0);
	CHECK(tasq_lease_put_column(l, 2, 2, big, 16, 8, NULL) ==
	    TASQ_EINVALID_ARGUMENT);
	CHECK(tasq_lease_put_column(l, 0, 2, big, 15, 8, NULL) ==
	    TASQ_EINVALID_ARGUMENT);
	CHECK(tasq_lease_put_column(l, 0, 1, "ab", 2, 0, NULL) ==
	    TASQ_EINVALID_ARGUMENT);
	CHECK(tasq_lease_put_column(l, 1, 2, big, 16, 8, NULL) == 0);
	CHECK(tasq_lease_put_column(
	          l, 0, 1, "ab", 2, 0, (const uint32_t[]) { 2 }) == 0);
	// A failure first, replaced by a result; a result replaced by a
	// failure.
	CHECK(tasq_lease_fail(l, 0, TASQ_EINTERNAL, "replaced") == 0);
	v = 1;
	CHECK(tasq_lease_put(l, 0, &v, 8) == 0);
	v = 4;
	CHECK(tasq_lease_put(l, 1, &v, 8) == 0);
	CHECK(tasq_lease_put(l, 2, &v, 8) == 0);
	// Bytes that are not UTF-8 in a message become '?'.
	CHECK(tasq_lease_fail(l, 2, TASQ_EINVALID_ARGUMENT, "three: no\xff") ==
	    0);
	CHECK(tasq_lease_complete(l) == 0);
	// Tasks 3 and 4: released (now, then by the thread), each time
	// back at once and not counted as an attempt; then done and
	// flushed.
	for (int round = 0; round < 3; round++) {
		l = NULL;
		for (int k = 0; k < 100 && l == NULL; k++) {
			CHECK(tasq_serve_lease(&l, w) == 0);
		}
		CHECK(l != NULL && tasq_lease_count(l) == 2);
		for (size_t i = 0; i < 2; i++) {
			CHECK(tasq_lease_task(l, i) == 3 + i);
			CHECK(tasq_lease_attempt(l, i) == 1);
		}
		if (round == 0) {
			CHECK(tasq_lease_release(l) == 0);
		} else if (round == 1) {
			tasq_lease_free(l);
		} else {
			for (size_t i = 0; i < 2; i++) {
				v = (int64_t) ((4 + i) * (4 + i));
				CHECK(tasq_lease_put(l, i, &v, 8) == 0);
			}
			tasq_lease_done(l);
			CHECK(tasq_serve_flush(w) == 0);
		}
	}
	return (0);
}

// hold: lease by hand, keep each batch ms before its results go.
static int
hold(unsigned ms, bool async)
{
	tasq_aio *aio = NULL;
	int       rv  = 0;

	if ((rv = tasq_serve_add_type(w, "square")) != 0 ||
	    (async && (rv = tasq_aio_alloc(&aio, NULL, NULL)) != 0)) {
		return (rv);
	}
	while (!stopped) {
		tasq_lease *l = NULL;
		if (async) {
			if ((rv = tasq_serve_lease_aio(&l, w, aio)) == 0) {
				tasq_aio_wait(aio);
				rv = tasq_aio_result(aio);
			}
		} else {
			rv = tasq_serve_lease(&l, w);
		}
		if (rv == TASQ_EDEADLINE_EXCEEDED || rv == TASQ_EUNAVAILABLE) {
			continue;
		}
		if (rv != 0) {
			break;
		}
		if (l == NULL) {
			continue;
		}
		fprintf(stderr,
		    "libw_worker: leased %zu tasks (lease %u ms)\n",
		    tasq_lease_count(l), (unsigned) tasq_serve_lease_ms(w));
		sleep_ms(ms);
		for (size_t i = 0; i < tasq_lease_count(l); i++) {
			size_t      len;
			const void *p = tasq_lease_payload(l, i, &len);
			if ((rv = square(NULL, l, i, p, len)) != 0) {
				(void) tasq_lease_fail(l, i, rv, NULL);
			}
		}
		if (async) {
			if ((rv = tasq_lease_complete_aio(l, aio)) == 0) {
				tasq_aio_wait(aio);
				rv = tasq_aio_result(aio);
			}
		} else if ((rv = tasq_lease_complete(l)) != 0) {
			tasq_lease_done(l); // goes again with the next lease
		}
		if (rv != 0) {
			fprintf(stderr, "libw_worker: complete: %s: %s\n",
			    tasq_errname(rv), tasq_errmsg());
		}
		rv = 0;
	}
	tasq_aio_free(aio);
	return (rv);
}

int
main(int argc, char **argv)
{
	tasq_session      *s    = NULL;
	const char        *mode = argc > 1 ? argv[1] : "square";
	const char        *b    = getenv("TASQ_TEST_BATCH");
	tasq_serve_handler h    = { 0 };
	int                rv;

	if ((rv = tasq_session_open(&s, NULL)) != 0 ||
	    (rv = tasq_serve_alloc(&w, s)) != 0 ||
	    (b != NULL &&
	        (rv = tasq_serve_set_batch(w, (uint32_t) atoi(b))) != 0) ||
	    (argc > 3 && strcmp(argv[3], "none") == 0 &&
	        (rv = tasq_serve_set_heartbeat(w, "none")) != 0)) {
		fprintf(stderr, "libw_worker: %s: %s\n", tasq_errname(rv),
		    tasq_errmsg());
		tasq_serve_free(w);
		tasq_session_free(s);
		return (1);
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("serving\n");
	fflush(stdout);
	if (strcmp(mode, "sha256") == 0) {
		h.type     = "sha256";
		h.batch_fn = sha256;
		rv         = tasq_serve_run(w, &h, 1, 2);
	} else if (strcmp(mode, "square") == 0) {
		delay_ms  = argc > 2 ? (unsigned) atoi(argv[2]) : 0;
		h.type    = "square";
		h.task_fn = square;
		rv        = tasq_serve_run(w, &h, 1, 2);
	} else if (strcmp(mode, "hold") == 0 && argc > 2) {
		rv = hold((unsigned) atoi(argv[2]), false);
	} else if (strcmp(mode, "api") == 0 && argc > 2) {
		rv = api(strtoull(argv[2], NULL, 16));
		if (rv != 0) {
			tasq_serve_free(w);
			tasq_session_free(s);
			return (1);
		}
	} else if (strcmp(mode, "async") == 0) {
		rv = hold(0, true);
	} else {
		fprintf(stderr, "libw_worker: unknown mode %s\n", mode);
		rv = TASQ_EINVALID_ARGUMENT;
	}
	if (rv != 0) {
		fprintf(stderr, "libw_worker: %s: %s\n", tasq_errname(rv),
		    tasq_errmsg());
	}
	fprintf(stderr, "libw_worker: computed %zu\n", atomic_load(&computed));
	tasq_serve_free(w);
	tasq_session_free(s);
	return (rv != 0);
}
