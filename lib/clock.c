#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

// The test hook's state: read from the environment once; the file's
// value is cached and read again at most every REREAD_MS.
#define REREAD_MS 10

static pthread_once_t       hook_once = PTHREAD_ONCE_INIT;
static int64_t              env_offset_ms;
static const char          *offset_file;
static atomic_int_fast64_t  file_offset_ms;
static atomic_uint_fast64_t next_read_ms;

// The stamp clock: its last value, the monotonic time it was taken at,
// and the lead over the wall clock last logged.
static pthread_mutex_t stamp_mtx = PTHREAD_MUTEX_INITIALIZER;
static uint64_t        stamp_last_ms;
static uint64_t        stamp_mono_ms;
static uint64_t        stamp_logged_lead_ms;

uint64_t
tasq_clock_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000);
}

static bool
parse_ms(const char *s, int64_t *msp)
{
	char     *end;
	long long v;

	errno = 0;
	v     = strtoll(s, &end, 10);
	while (*end == ' ' || *end == '\n' || *end == '\t' || *end == '\r') {
		end++;
	}
	if (errno != 0 || end == s || *end != '\0') {
		return (false);
	}
	*msp = (int64_t) v;
	return (true);
}

static void
hook_init(void)
{
	const char *s;
	int64_t     v;

	if ((s = getenv("TASQ_TEST_WALL_OFFSET_MS")) != NULL && *s != '\0') {
		if (parse_ms(s, &v)) {
			env_offset_ms = v;
			tasq_warn(
			    "clock: test hook: wall clock offset by %lld "
			    "ms (TASQ_TEST_WALL_OFFSET_MS)",
			    (long long) v);
		} else {
			tasq_warn(
			    "clock: ignoring TASQ_TEST_WALL_OFFSET_MS=%s "
			    "(not a number of milliseconds)",
			    s);
		}
	}
	if ((s = getenv("TASQ_TEST_WALL_OFFSET_FILE")) != NULL && *s != '\0') {
		offset_file = s;
	}
	atomic_init(&file_offset_ms, 0);
	atomic_init(&next_read_ms, 0);
}

// Reads the hook's file; a missing or malformed one counts as 0.
static int64_t
read_offset_file(void)
{
	char    buf[64];
	ssize_t n;
	int     fd;
	int64_t v = 0;

	if ((fd = open(offset_file, O_RDONLY | O_CLOEXEC)) < 0) {
		return (0);
	}
	n = read(fd, buf, sizeof(buf) - 1);
	(void) close(fd);
	if (n <= 0) {
		return (0);
	}
	buf[n] = '\0';
	return (parse_ms(buf, &v) ? v : 0);
}

static int64_t
test_offset_ms(void)
{
	uint64_t now;
	int64_t  v, old;

	(void) pthread_once(&hook_once, hook_init);
	if (offset_file == NULL) {
		return (env_offset_ms);
	}
	now = tasq_clock_mono_ms();
	if (now >= atomic_load(&next_read_ms)) {
		atomic_store(&next_read_ms, now + REREAD_MS);
		v   = read_offset_file();
		old = atomic_exchange(&file_offset_ms, v);
		if (old != v) {
			tasq_warn(
			    "clock: test hook: wall clock offset by %lld "
			    "ms (was %lld ms; %s)",
			    (long long) (env_offset_ms + v),
			    (long long) (env_offset_ms + old), offset_file);
		}
	}
	return (env_offset_ms + atomic_load(&file_offset_ms));
}

uint64_t
tasq_clock_wall_ms(void)
{
	struct timespec ts;
	uint64_t        ms;

	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
	return (ms + (uint64_t) test_offset_ms());
}

uint64_t
tasq_clock_stamp_ms(void)
{
	uint64_t wall = tasq_clock_wall_ms();
	uint64_t mono = tasq_clock_mono_ms();
	uint64_t s, lead = 0;
	bool     say = false;

	pthread_mutex_lock(&stamp_mtx);
	s = stamp_last_ms == 0 ? wall : stamp_last_ms + (mono - stamp_mono_ms);
	if (wall >= s) {
		s                    = wall;
		stamp_logged_lead_ms = 0;
	} else if ((lead = s - wall) > stamp_logged_lead_ms + 1000) {
		stamp_logged_lead_ms = lead;
		say                  = true;
	}
	stamp_last_ms = s;
	stamp_mono_ms = mono;
	pthread_mutex_unlock(&stamp_mtx);
	if (say) {
		tasq_warn(
		    "clock: the system clock went back by %llu ms; message "
		    "stamps carry on from where they were",
		    (unsigned long long) lead);
	}
	return (s);
}
