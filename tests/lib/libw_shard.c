// libw_shard: the worker side's routing of each lease's traffic to the
// server it came from (docs/LIBRARY.md "Several servers: leasing from
// each"), for tests/lib/libw_shard.sh. The servers (a list) and key come
// from the environment (TASQ_SERVER, TASQ_KEY_FILE).
//
//	libw_shard N
//
// leases "square" by hand (batches of 10) until it has computed N tasks
// (bounded: 60 s), handing each lease back in turn by
// tasq_lease_complete, tasq_lease_complete_aio, tasq_lease_done and,
// once in four, tasq_lease_release without results (its tasks come
// again); one lease in three by tasq_serve_lease_aio. Each of those must
// reach the lease's own server: a Complete sent elsewhere leaves that
// job unfinished, a Release sent elsewhere lets the lease expire. Prints
// "done N"; exits 1 on an error.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tasq/tasq.h>

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000);
}

static int
die(const char *what, int rv)
{
	fprintf(stderr, "libw_shard: %s: %s: %s\n", what, tasq_errname(rv),
	    tasq_errmsg());
	return (1);
}

static int
square_all(tasq_lease *l)
{
	for (size_t i = 0; i < tasq_lease_count(l); i++) {
		size_t      len;
		const void *p = tasq_lease_payload(l, i, &len);
		int64_t     v;
		int         rv;
		if (p == NULL || len != 8) {
			return (TASQ_EINVALID_ARGUMENT);
		}
		memcpy(&v, p, 8);
		v *= v;
		if ((rv = tasq_lease_put(l, i, &v, 8)) != 0) {
			return (rv);
		}
	}
	return (0);
}

int
main(int argc, char **argv)
{
	tasq_session *s = NULL;
	tasq_serve   *w = NULL;
	tasq_aio     *aio;
	size_t        want, done = 0;
	uint64_t      deadline = now_ms() + 60000, k = 0;
	int           rv;

	if (argc != 2 || (want = strtoull(argv[1], NULL, 10)) == 0) {
		fprintf(stderr, "usage: libw_shard N\n");
		return (2);
	}
	if ((rv = tasq_session_open(&s, NULL)) != 0) {
		return (die("session", rv));
	}
	if ((rv = tasq_aio_alloc(&aio, NULL, NULL)) != 0 ||
	    (rv = tasq_serve_alloc(&w, s)) != 0 ||
	    (rv = tasq_serve_add_type(w, "square")) != 0 ||
	    (rv = tasq_serve_set_batch(w, 10)) != 0) {
		return (die("setup", rv));
	}
	while (done < want && now_ms() < deadline) {
		tasq_lease *l = NULL;
		if (k % 3 == 2) {
			if ((rv = tasq_serve_lease_aio(&l, w, aio)) == 0) {
				tasq_aio_wait(aio);
				rv = tasq_aio_result(aio);
			}
		} else {
			rv = tasq_serve_lease(&l, w);
		}
		if (rv != 0) {
			return (die("lease", rv));
		}
		if (l == NULL) {
			continue;
		}
		k++;
		if (k % 4 == 0) {
			// Back to its server without results.
			if ((rv = tasq_lease_release(l)) != 0) {
				return (die("release", rv));
			}
			continue;
		}
		if ((rv = square_all(l)) != 0) {
			return (die("put", rv));
		}
		done += tasq_lease_count(l);
		switch (k % 3) {
		case 0:
			if ((rv = tasq_lease_complete(l)) != 0) {
				return (die("complete", rv));
			}
			break;
		case 1:
			if ((rv = tasq_lease_complete_aio(l, aio)) == 0) {
				tasq_aio_wait(aio);
				rv = tasq_aio_result(aio);
			}
			if (rv != 0) {
				return (die("complete_aio", rv));
			}
			break;
		default:
			tasq_lease_done(l);
			break;
		}
	}
	if ((rv = tasq_serve_flush(w)) != 0) {
		return (die("flush", rv));
	}
	tasq_serve_free(w);
	tasq_aio_free(aio);
	tasq_session_free(s);
	printf("done %zu\n", done);
	return (done >= want ? 0 : 1);
}
