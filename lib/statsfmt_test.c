// Unit tests of lib/statsfmt: the one human form of a duration, and the
// Stats reply as JSON with dead letters as a count or also as pairs.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "statsfmt.h"
#include "tasq_test.h"

TEST(duration_two_units_at_most)
{
	static const struct {
		uint64_t    ms;
		const char *want;
	} c[] = { { 0, "0ms" }, { 999, "999ms" }, { 1000, "1s" },
		{ 59999, "59s" }, { 60000, "1m 0s" }, { 514000, "8m 34s" },
		{ 3599999, "59m 59s" }, { 3600000, "1h 0m" },
		{ 7500000, "2h 5m" }, { 86400000, "1d 0h" },
		{ 273600000, "3d 4h" }, { UINT64_MAX, "213503982334d 14h" } };
	char buf[32];

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		ASSERT_STR_EQ(
		    tasq_fmt_duration(buf, sizeof(buf), c[i].ms), c[i].want);
	}
	// A short buffer truncates, NUL-terminated.
	ASSERT_STR_EQ(tasq_fmt_duration(buf, 4, 514000), "8m ");
}

// Writes rep as JSON with flags into a string (free it).
static char *
json_of(const tasq_rep *rep, int flags)
{
	char  *text = NULL;
	size_t len  = 0;
	FILE  *f    = open_memstream(&text, &len);

	ASSERT_NOT_NULL(f);
	tasq_stats_json_write(rep, flags, f);
	ASSERT_OK(fclose(f));
	return (text);
}

TEST(stats_json_dead_letters_counted_or_listed)
{
	tasq_queue_stats q[2]    = { { .name = "a\"b", .dead = 3 },
		   { .name = "c", .dead = 4 } };
	uint64_t         pairs[] = { 0xabc, 1, 0xabc, 2 };
	tasq_rep         rep;
	char            *s;

	memset(&rep, 0, sizeof(rep));
	rep.u.stats.version   = "1.0";
	rep.u.stats.uptime_ms = 514000;
	rep.u.stats.queues    = q;
	rep.u.stats.nqueues   = 2;
	rep.u.stats.dead      = pairs;
	rep.u.stats.ndead     = 2;
	// Without dead_total from the server: the queues' sum.
	ASSERT_EQ(tasq_stats_dead_total(&rep), 7);
	s = json_of(&rep, 0);
	ASSERT_STR_CONTAINS(s, "\"uptime_ms\":514000");
	ASSERT_STR_CONTAINS(s, "\"name\":\"a\\\"b\"");
	ASSERT_STR_CONTAINS(s, "},\"dead_total\":7}\n");
	ASSERT_STR_NOT_CONTAINS(s, "dead_letters");
	free(s);
	rep.u.stats.dead_total = 9;
	ASSERT_EQ(tasq_stats_dead_total(&rep), 9);
	s = json_of(&rep, TASQ_STATS_JSON_DEAD_PAIRS);
	ASSERT_STR_CONTAINS(s,
	    "\"dead_total\":9,\"dead_letters\":[{\"job\":\"0000000000000abc\","
	    "\"task\":1},{\"job\":\"0000000000000abc\",\"task\":2}]}\n");
	free(s);
}

TEST(stats_json_queue_failed_and_retried)
{
	tasq_queue_stats q[2] = {
		{ .name = "a", .completed = 9, .failed = 4, .retried = 2 },
		{ .name = "b", .failed = UINT64_MAX }
	};
	tasq_rep rep;
	char    *s;

	memset(&rep, 0, sizeof(rep));
	rep.u.stats.version = "1.0";
	rep.u.stats.queues  = q;
	rep.u.stats.nqueues = 2;
	s                   = json_of(&rep, 0);
	ASSERT_STR_CONTAINS(s,
	    "{\"name\":\"a\",\"ready\":0,\"leased\":0,\"results\":0,"
	    "\"jobs\":0,\"dead\":0,\"submitted\":0,\"completed\":9,"
	    "\"failed\":4,\"retried\":2}");
	ASSERT_STR_CONTAINS(
	    s, "\"failed\":18446744073709551615,\"retried\":0}");
	free(s);
}

TEST(stats_json_worker_failed_and_retried)
{
	tasq_worker_stats w[2] = { { .worker_id   = 10,
		                       .name      = "a",
		                       .queue     = "q",
		                       .completed = 9,
		                       .connected = true,
		                       .failed    = 4,
		                       .retried   = 2 },
		{ .worker_id = 11,
		    .name    = "b",
		    .queue   = "q",
		    .failed  = UINT64_MAX } };
	tasq_rep          rep;
	char             *s;

	memset(&rep, 0, sizeof(rep));
	rep.u.stats.version  = "1.0";
	rep.u.stats.workers  = w;
	rep.u.stats.nworkers = 2;
	s                    = json_of(&rep, 0);
	ASSERT_STR_CONTAINS(s,
	    "{\"id\":\"000000000000000a\",\"name\":\"a\",\"queue\":\"q\","
	    "\"leases\":0,\"tasks_in_hand\":0,\"completed\":9,"
	    "\"idle_ms\":0,\"connected\":true,\"failed\":4,"
	    "\"retried\":2}");
	ASSERT_STR_CONTAINS(s,
	    "\"connected\":false,\"failed\":18446744073709551615,"
	    "\"retried\":0}");
	free(s);
}

TASQ_TEST_MAIN()
