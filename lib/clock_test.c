// Unit tests of lib/clock: the monotonic clock never goes back, the wall
// clock is the Unix time, and the test hook offsets the wall clock only.
// Each test runs in a child of its own (tasq_test.h), so each one sees
// the environment it sets before its first reading.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <unistd.h>

#include "clock.h"
#include "tasq_test.h"

static uint64_t
gtod_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return ((uint64_t) tv.tv_sec * 1000 + (uint64_t) tv.tv_usec / 1000);
}

TEST(mono_never_goes_back)
{
	uint64_t prev = tasq_clock_mono_ms();

	for (int i = 0; i < 100000; i++) {
		uint64_t now = tasq_clock_mono_ms();
		ASSERT_GE(now, prev);
		prev = now;
	}
}

TEST(wall_is_unix_time)
{
	uint64_t before, wall, after;

	unsetenv("TASQ_TEST_WALL_OFFSET_MS");
	unsetenv("TASQ_TEST_WALL_OFFSET_FILE");
	before = gtod_ms();
	wall   = tasq_clock_wall_ms();
	after  = gtod_ms();
	ASSERT_GE(wall, before);
	ASSERT_LE(wall, after);
	// 2020-01-01: a wall clock, not time since boot.
	ASSERT_GT(wall, UINT64_C(1577836800000));
}

TEST(env_offset_moves_wall_not_mono)
{
	uint64_t mono0, wall, real;

	ASSERT_EQ(setenv("TASQ_TEST_WALL_OFFSET_MS", "-600000", 1), 0);
	mono0 = tasq_clock_mono_ms();
	wall  = tasq_clock_wall_ms();
	real  = gtod_ms();
	ASSERT_LE(wall + 600000, real);
	ASSERT_GE(wall + 600000 + 1000, real);
	// The monotonic clock is not moved by the hook.
	ASSERT_LT(tasq_clock_mono_ms() - mono0, 1000);
}

TEST(env_offset_malformed_is_ignored)
{
	uint64_t real;

	ASSERT_EQ(setenv("TASQ_TEST_WALL_OFFSET_MS", "5s", 1), 0);
	real = gtod_ms();
	ASSERT_LT(tasq_clock_wall_ms() - real, 1000);
}

// Polls the wall clock until it is about want_ms ahead of the real one
// (the file is read again every 10 ms): at most 2 s.
static int64_t
offset_after_change(int64_t want_ms)
{
	uint64_t until = tasq_clock_mono_ms() + 2000;
	int64_t  off;

	do {
		off = (int64_t) (tasq_clock_wall_ms() - gtod_ms());
		if (off >= want_ms - 500 && off <= want_ms + 500) {
			break;
		}
		usleep(1000);
	} while (tasq_clock_mono_ms() < until);
	return (off);
}

TEST(file_offset_steps_a_running_clock)
{
	char  path[] = "/tmp/tasq-clock-test.XXXXXX";
	int   fd     = mkstemp(path);
	FILE *f;

	ASSERT_GE(fd, 0);
	close(fd);
	ASSERT_EQ(setenv("TASQ_TEST_WALL_OFFSET_FILE", path, 1), 0);
	ASSERT_EQ(setenv("TASQ_TEST_WALL_OFFSET_MS", "1000", 1), 0);
	// An empty file counts as 0: only the environment's offset.
	ASSERT_GE(offset_after_change(1000), 500);
	ASSERT_LE(offset_after_change(1000), 1500);
	ASSERT_NOT_NULL(f = fopen(path, "w"));
	fprintf(f, "3600000\n");
	fclose(f);
	ASSERT_GE(offset_after_change(3601000), 3600500);
	// Backwards, below the real time.
	ASSERT_NOT_NULL(f = fopen(path, "w"));
	fprintf(f, "-7200000\n");
	fclose(f);
	ASSERT_LE(offset_after_change(-7199000), -7198500);
	// Removing the file ends the step.
	unlink(path);
	ASSERT_LE(offset_after_change(1000), 1500);
	ASSERT_GE(offset_after_change(1000), 500);
}

TEST(stamp_follows_forward_steps_and_never_goes_back)
{
	char     path[] = "/tmp/tasq-clock-test.XXXXXX";
	int      fd     = mkstemp(path);
	FILE    *f;
	uint64_t s0, s1, s2, mono0;

	ASSERT_GE(fd, 0);
	close(fd);
	ASSERT_EQ(setenv("TASQ_TEST_WALL_OFFSET_FILE", path, 1), 0);
	unsetenv("TASQ_TEST_WALL_OFFSET_MS");
	s0 = tasq_clock_stamp_ms();
	ASSERT_LT(s0 - gtod_ms() + 1000, 2000); // within 1 s of the time
	// Forwards by an hour: followed.
	ASSERT_NOT_NULL(f = fopen(path, "w"));
	fprintf(f, "3600000\n");
	fclose(f);
	ASSERT_GE(offset_after_change(3600000), 3599500);
	s1 = tasq_clock_stamp_ms();
	ASSERT_GE(s1, s0 + 3600000);
	// Back by two hours: the stamp clock carries on from s1 at the
	// monotonic rate, an hour ahead of the real time.
	ASSERT_NOT_NULL(f = fopen(path, "w"));
	fprintf(f, "-3600000\n");
	fclose(f);
	ASSERT_LE(offset_after_change(-3600000), -3599500);
	mono0 = tasq_clock_mono_ms();
	s2    = tasq_clock_stamp_ms();
	ASSERT_GE(s2, s1);
	ASSERT_GE(s2, gtod_ms() + 3600000 - 1000);
	for (int i = 0; i < 1000; i++) {
		uint64_t s = tasq_clock_stamp_ms();
		ASSERT_GE(s, s2);
		s2 = s;
	}
	ASSERT_LE(s2 - s1, tasq_clock_mono_ms() - mono0 + 1000);
	unlink(path);
}

TASQ_TEST_MAIN()
