// A tasq worker in C: serves "square" (int64 little-endian) on 2 threads
// until SIGINT or SIGTERM. cc worker.c $(pkg-config --cflags --libs tasq)
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <tasq/tasq.h>

static tasq_serve *w;
static void
stop(int sig)
{
	(void) sig, tasq_serve_stop(w); // async-signal-safe
}
static int
square(void *arg, tasq_lease *l, size_t i, const void *p, size_t len)
{
	int64_t v;
	(void) arg, (void) len; // the server sees to it that len is 8
	memcpy(&v, p, 8);
	return (__builtin_mul_overflow(v, v, &v)
	        ? TASQ_EOUT_OF_RANGE
	        : tasq_lease_put(l, i, &v, 8));
}

int
main(void)
{
	tasq_serve_handler h[] = { { "square", square, NULL, NULL } };
	tasq_session      *s   = NULL;
	int rv = tasq_session_open(&s, NULL); // TASQ_SERVER, TASQ_KEY_FILE
	if (rv == 0 && (rv = tasq_serve_alloc(&w, s)) == 0) {
		signal(SIGINT, stop), signal(SIGTERM, stop);
		rv = tasq_serve_run(w, h, 1, 2);
	}
	if (rv != 0)
		fprintf(stderr, "worker: %s\n", tasq_errmsg());
	tasq_serve_free(w), tasq_session_free(s);
	return (rv != 0);
}
