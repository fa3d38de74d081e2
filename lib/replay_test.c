// Unit tests of lib/replay: the per-sender sliding window and the clock
// skew test, driven by explicit times.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "replay.h"
#include "tasq_test.h"

#define SKEW 1000
#define NOW UINT64_C(1700000000000)

static tasq_replay *
replay_new(uint32_t max_senders)
{
	tasq_replay *r = NULL;

	ASSERT_OK(tasq_replay_alloc(&r, max_senders, SKEW, 0, 0));
	ASSERT_NOT_NULL(r);
	return (r);
}

static int
check(tasq_replay *r, uint64_t sender, uint64_t seq, const char **why)
{
	return (tasq_replay_check(r, sender, seq, NOW, NOW, why));
}

TEST(fresh_then_exact_replay)
{
	tasq_replay *r   = replay_new(16);
	const char  *why = "unset";

	ASSERT_EQ(tasq_replay_count(r), 0);
	ASSERT_OK(check(r, 1, 1, &why));
	ASSERT_NULL(why);
	ASSERT_EQ(tasq_replay_count(r), 1);
	ASSERT_RV(check(r, 1, 1, &why), TASQ_EUNAUTHENTICATED);
	ASSERT_STR_EQ(why, "replayed message");
	ASSERT_OK(check(r, 1, 2, &why));
	ASSERT_RV(check(r, 1, 2, NULL), TASQ_EUNAUTHENTICATED);
	ASSERT_RV(check(r, 1, 1, NULL), TASQ_EUNAUTHENTICATED);
	// Another sender has its own numbers.
	ASSERT_OK(check(r, 2, 1, NULL));
	ASSERT_OK(check(r, 2, 2, NULL));
	ASSERT_EQ(tasq_replay_count(r), 2);
	tasq_replay_free(r);
	tasq_replay_free(NULL);
}

TEST(out_of_order_within_window_once)
{
	tasq_replay *r = replay_new(16);
	const char  *why;

	ASSERT_OK(check(r, 7, 300, NULL));
	ASSERT_OK(check(r, 7, 299, NULL));
	ASSERT_OK(check(r, 7, 200, NULL));
	// The oldest seq still inside the window.
	ASSERT_OK(check(r, 7, 300 - (TASQ_REPLAY_WINDOW - 1), NULL));
	ASSERT_RV(check(r, 7, 299, NULL), TASQ_EUNAUTHENTICATED);
	ASSERT_RV(check(r, 7, 200, NULL), TASQ_EUNAUTHENTICATED);
	ASSERT_RV(check(r, 7, 300 - (TASQ_REPLAY_WINDOW - 1), &why),
	    TASQ_EUNAUTHENTICATED);
	ASSERT_STR_EQ(why, "replayed message");
	ASSERT_RV(check(r, 7, 300 - TASQ_REPLAY_WINDOW, &why),
	    TASQ_EUNAUTHENTICATED);
	ASSERT_STR_EQ(why, "sequence number too old");
	ASSERT_RV(check(r, 7, 0, NULL), TASQ_EUNAUTHENTICATED);
	tasq_replay_free(r);
}

TEST(window_slides_across_word_boundaries)
{
	tasq_replay *r = replay_new(16);

	// Shifts by 70 (one word and six bits), 64, 1 and a whole window:
	// seqs seen before each shift stay seen at their new position.
	ASSERT_OK(check(r, 9, 100, NULL));
	ASSERT_OK(check(r, 9, 90, NULL));
	ASSERT_OK(check(r, 9, 170, NULL));
	ASSERT_RV(check(r, 9, 100, NULL), TASQ_EUNAUTHENTICATED);
	ASSERT_RV(check(r, 9, 90, NULL), TASQ_EUNAUTHENTICATED);
	ASSERT_OK(check(r, 9, 101, NULL));
	ASSERT_OK(check(r, 9, 234, NULL));
	ASSERT_RV(check(r, 9, 170, NULL), TASQ_EUNAUTHENTICATED);
	ASSERT_RV(check(r, 9, 101, NULL), TASQ_EUNAUTHENTICATED);
	ASSERT_RV(check(r, 9, 90, NULL), TASQ_EUNAUTHENTICATED);
	ASSERT_OK(check(r, 9, 235, NULL));
	ASSERT_RV(check(r, 9, 234, NULL), TASQ_EUNAUTHENTICATED);
	ASSERT_OK(check(r, 9, 1000, NULL));
	ASSERT_RV(check(r, 9, 235, NULL), TASQ_EUNAUTHENTICATED); // too old
	ASSERT_OK(check(r, 9, 999, NULL));
	ASSERT_OK(check(r, 9, 1000 - (TASQ_REPLAY_WINDOW - 1), NULL));
	tasq_replay_free(r);
}

// Random arrival order against a plain model: a seq is accepted iff it
// was never accepted and is less than a window behind the highest.
TEST(random_order_matches_model)
{
	enum { N = 4000 };
	tasq_replay *r        = replay_new(16);
	uint8_t     *seen     = calloc(N + 1, 1);
	uint64_t     max      = 0;
	unsigned     seed     = 12345;
	int          accepted = 0;

	ASSERT_NOT_NULL(seen);
	for (int i = 0; i < 40000; i++) {
		uint64_t seq;
		bool     want;
		seed = seed * 1103515245u + 12345u;
		// Mostly near the front, sometimes far behind or ahead.
		seq = max + 40 - (seed >> 16) % 300;
		if ((seed >> 8) % 50 == 0) {
			seq = max + 1 + (seed >> 16) % 200;
		}
		if (seq < 1 || seq > N) {
			continue;
		}
		want = !seen[seq] &&
		    (seq > max || max - seq < TASQ_REPLAY_WINDOW);
		ASSERT_RV(
		    check(r, 3, seq, NULL), want ? 0 : TASQ_EUNAUTHENTICATED);
		if (want) {
			seen[seq] = 1;
			max       = seq > max ? seq : max;
			accepted++;
		}
	}
	ASSERT_GT(accepted, 500);
	ASSERT_GT(max, N - 300);
	free(seen);
	tasq_replay_free(r);
}

TEST(timestamp_outside_skew_either_side)
{
	tasq_replay *r = replay_new(16);
	const char  *why;

	ASSERT_RV(tasq_replay_check(r, 1, 1, NOW - SKEW - 1, NOW, &why),
	    TASQ_EUNAUTHENTICATED);
	ASSERT_STR_EQ(why, "timestamp outside the accepted clock skew");
	ASSERT_RV(tasq_replay_check(r, 1, 2, NOW + SKEW + 1, NOW, &why),
	    TASQ_EUNAUTHENTICATED);
	ASSERT_STR_EQ(why, "timestamp outside the accepted clock skew");
	ASSERT_RV(
	    tasq_replay_check(r, 1, 3, 0, NOW, NULL), TASQ_EUNAUTHENTICATED);
	ASSERT_RV(tasq_replay_check(r, 1, 4, UINT64_MAX, NOW, NULL),
	    TASQ_EUNAUTHENTICATED);
	// Refused messages are not remembered.
	ASSERT_EQ(tasq_replay_count(r), 0);
	// The edges themselves are inside.
	ASSERT_OK(tasq_replay_check(r, 1, 1, NOW - SKEW, NOW, NULL));
	ASSERT_OK(tasq_replay_check(r, 1, 2, NOW + SKEW, NOW, NULL));
	ASSERT_EQ(tasq_replay_count(r), 1);
	tasq_replay_free(r);
}

TEST(gc_forgets_idle_senders)
{
	tasq_replay *r = replay_new(16);
	uint64_t     t = NOW;
	const char  *why;

	ASSERT_OK(tasq_replay_check(r, 1, 5, t + SKEW, t, NULL));
	ASSERT_OK(tasq_replay_check(r, 2, 5, t, t, NULL));
	// Sender 2 stays active.
	ASSERT_OK(tasq_replay_check(r, 2, 6, t + SKEW, t + SKEW, NULL));
	tasq_replay_gc(r, t + 2 * SKEW);
	ASSERT_EQ(tasq_replay_count(r), 2);
	tasq_replay_gc(r, t + 2 * SKEW + 1);
	ASSERT_EQ(tasq_replay_count(r), 1);
	// Sender 1's newest possible message, replayed now that it is
	// forgotten, is too old by its timestamp.
	ASSERT_RV(tasq_replay_check(r, 1, 5, t + SKEW, t + 2 * SKEW + 1, &why),
	    TASQ_EUNAUTHENTICATED);
	ASSERT_STR_EQ(why, "timestamp outside the accepted clock skew");
	ASSERT_EQ(tasq_replay_count(r), 1);
	// Sender 2 is still known: its replay is caught by the window.
	ASSERT_RV(
	    tasq_replay_check(r, 2, 6, t + 2 * SKEW, t + 2 * SKEW + 1, &why),
	    TASQ_EUNAUTHENTICATED);
	ASSERT_STR_EQ(why, "replayed message");
	tasq_replay_gc(r, t + 10 * SKEW);
	ASSERT_EQ(tasq_replay_count(r), 0);
	tasq_replay_free(r);
}

TEST(max_senders_exhausted_until_idle)
{
	tasq_replay *r = replay_new(3);
	const char  *why;

	ASSERT_OK(check(r, 1, 1, NULL));
	ASSERT_OK(check(r, 2, 1, NULL));
	ASSERT_OK(check(r, 3, 1, NULL));
	ASSERT_RV(check(r, 4, 1, &why), TASQ_ERESOURCE_EXHAUSTED);
	ASSERT_STR_EQ(why, "too many active senders");
	ASSERT_EQ(tasq_replay_count(r), 3);
	// Known senders carry on.
	ASSERT_OK(check(r, 2, 2, NULL));
	// Once the others are idle, a new sender makes room for itself.
	ASSERT_OK(tasq_replay_check(r, 1, 2, NOW + SKEW, NOW + SKEW, NULL));
	ASSERT_OK(tasq_replay_check(
	    r, 4, 1, NOW + 2 * SKEW + 1, NOW + 2 * SKEW + 1, NULL));
	ASSERT_EQ(tasq_replay_count(r), 2); // senders 1 and 4
	ASSERT_RV(tasq_replay_check(
	              r, 1, 2, NOW + 2 * SKEW + 1, NOW + 2 * SKEW + 1, NULL),
	    TASQ_EUNAUTHENTICATED);
	tasq_replay_free(r);
}

TEST(max_senders_zero_refuses_all)
{
	tasq_replay *r = replay_new(0);

	ASSERT_RV(check(r, 1, 1, NULL), TASQ_ERESOURCE_EXHAUSTED);
	ASSERT_EQ(tasq_replay_count(r), 0);
	tasq_replay_free(r);
}

TEST(many_senders_hash_buckets)
{
	enum { N = 10000 };
	tasq_replay *r = replay_new(N);

	// Ids that differ only in high bits must not collide into one
	// sender.
	for (uint64_t i = 1; i <= N; i++) {
		ASSERT_OK(check(r, i << 40, 1, NULL));
	}
	ASSERT_EQ(tasq_replay_count(r), N);
	ASSERT_RV(check(r, UINT64_C(12345) << 40, 1, NULL),
	    TASQ_ERESOURCE_EXHAUSTED);
	for (uint64_t i = 1; i <= N; i++) {
		ASSERT_RV(check(r, i << 40, 1, NULL), TASQ_EUNAUTHENTICATED);
		ASSERT_OK(check(r, i << 40, 2, NULL));
	}
	tasq_replay_free(r);
}

TEST(unknown_sender_older_than_start_refused)
{
	tasq_replay *r;
	const char  *why;
	uint64_t     start = 10000000;

	// The table began at start; 2 s of slack for clocks a little behind.
	ASSERT_OK(tasq_replay_alloc(&r, 16, 300000, start, 2000));
	ASSERT_RV(tasq_replay_check(r, 7, 1, start - 60000, start, &why),
	    TASQ_EUNAUTHENTICATED);
	ASSERT_TRUE(strstr(why, "start") != NULL);
	ASSERT_OK(tasq_replay_check(r, 8, 1, start - 1000, start, &why));
	// Once known, a sender is judged by its window, not the floor.
	ASSERT_OK(tasq_replay_check(r, 8, 2, start - 1500, start, &why));
	tasq_replay_free(r);
}

TASQ_TEST_MAIN()
