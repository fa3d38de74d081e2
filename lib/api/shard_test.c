// Unit tests of lib/api/shard: the server list's checks, resolution
// (through an injected resolver, and "localhost" for real), members'
// state and back-off, and placement and lookup as the sharding design of
// docs/PROTOCOL.md says. No traffic is sent: the module does no I/O
// besides name lookups.
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "err.h"
#include "rand.h"
#include "shard.h"
#include "tasq_test.h"

static char err[2048];

// The design's mixer, written again here from docs/PROTOCOL.md so that
// the module is checked against an independent copy.
static uint64_t
ref_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return (x);
}

static uint64_t
ref_score(uint64_t r, uint64_t id)
{
	return (ref_mix64(r ^ ref_mix64(id)));
}

static uint64_t
rand_r48(void)
{
	uint64_t r;
	do {
		r = tasq_random64() & TASQ_SHARD_R_MASK;
	} while (r == 0);
	return (r);
}

// ---- a resolver the tests control ------------------------------------

#define FAKE_MAX 80

typedef struct fake {
	const char *host;            // the one name it knows
	const char *addrs[FAKE_MAX]; // NULL-terminated
	int         fail;            // non-zero: fail with this
	int         calls;
	int         last_family;
} fake;

static int
fake_resolve(void *arg, const char *host, int family, tasq_shard_addr *out,
    size_t max, size_t *n, char *e, size_t elen)
{
	fake *f = arg;

	f->calls++;
	f->last_family = family;
	*n             = 0;
	if (f->fail != 0 || strcmp(host, f->host) != 0) {
		snprintf(e, elen, "Name or service not known");
		return (f->fail != 0 ? f->fail : TASQ_EUNAVAILABLE);
	}
	for (size_t i = 0; f->addrs[i] != NULL && *n < max; i++) {
		snprintf(
		    out[*n].text, sizeof(out[*n].text), "%s", f->addrs[i]);
		(*n)++;
	}
	return (0);
}

static tasq_shard *
make(const char *spec, fake *f)
{
	tasq_shard        *s;
	tasq_shard_opts    o;
	tasq_shard_change *ch;
	size_t             n;

	memset(&o, 0, sizeof(o));
	if (f != NULL) {
		o.resolver     = fake_resolve;
		o.resolver_arg = f;
	}
	ASSERT_OK(tasq_shard_alloc(&s, spec, &o, err, sizeof(err)));
	ASSERT_OK(tasq_shard_resolve(s, 1000, &ch, &n, err, sizeof(err)));
	ASSERT_EQ(n, tasq_shard_count(s));
	for (size_t i = 0; i < n; i++) {
		ASSERT_TRUE(ch[i].added);
	}
	free(ch);
	return (s);
}

// The member whose address is addr.
static uint32_t
num_of(tasq_shard *s, const char *addr)
{
	tasq_shard_member m[TASQ_SHARD_MAX_MEMBERS];
	size_t            n = tasq_shard_members(s, m, TASQ_SHARD_MAX_MEMBERS);

	for (size_t i = 0; i < n; i++) {
		if (strcmp(m[i].addr, addr) == 0) {
			return (m[i].num);
		}
	}
	FAIL("no member with that address");
	return (0);
}

static void
up(tasq_shard *s, const char *addr, uint64_t identity)
{
	ASSERT_OK(tasq_shard_mark_up(s, num_of(s, addr), identity, 2000));
}

static uint64_t
place_id(tasq_shard *s, uint64_t r)
{
	tasq_shard_member m;
	uint64_t          job;

	ASSERT_OK(tasq_shard_place(s, r, 3000, &job, &m, err, sizeof(err)));
	ASSERT_EQ(job & TASQ_SHARD_R_MASK, r);
	ASSERT_EQ(job >> 48, m.identity >> 48);
	return (m.identity);
}

#define ID1 0x1111111111111111ULL
#define ID2 0x2222222222222222ULL
#define ID3 0x3333333333333333ULL
#define ID4 0x4444444444444444ULL

#define L3 "tcp://10.0.0.1:7070,tcp://10.0.0.2:7070,tcp://10.0.0.3:7070"

static tasq_shard *
three(const char *spec)
{
	tasq_shard *s = make(spec, NULL);
	up(s, "10.0.0.1", ID1);
	up(s, "10.0.0.2", ID2);
	up(s, "10.0.0.3", ID3);
	return (s);
}

// ---- placement -------------------------------------------------------

TEST(shard_worked_example)
{
	const uint64_t r     = 0x0000123456789abcULL;
	const uint64_t ids[] = { ID1, ID2, ID3 };
	// The same three computed by a separate Python program (wrapping
	// 64-bit arithmetic), so that a bug shared by the two C copies shows.
	const uint64_t want[] = { 0x40c4bd29f73e2078ULL, 0xbb88f549c23f074bULL,
		0x79944977ad3ca8d5ULL };
	const uint64_t want_mix[] = { 0xee373073b8c43ae8ULL,
		0xdc6e60e5718875d1ULL, 0x35c8d4d39007eaeeULL };
	uint64_t       best = 0, best_id = 0, job;

	for (int i = 0; i < 3; i++) {
		uint64_t sc = ref_score(r, ids[i]);
		printf("score(0x%016llx, 0x%016llx) = 0x%016llx\n",
		    (unsigned long long) r, (unsigned long long) ids[i],
		    (unsigned long long) sc);
		ASSERT_EQ(ref_mix64(ids[i]), want_mix[i]);
		ASSERT_EQ(sc, want[i]);
		ASSERT_EQ(tasq_shard_score(r, ids[i]), sc);
		ASSERT_EQ(tasq_shard_mix64(ids[i]), ref_mix64(ids[i]));
		if (sc > best) {
			best    = sc;
			best_id = ids[i];
		}
	}
	ASSERT_EQ(best_id, ID2);
	tasq_shard       *s = three(L3);
	tasq_shard_member m;
	ASSERT_OK(tasq_shard_place(s, r, 3000, &job, &m, err, sizeof(err)));
	printf("job id 0x%016llx on %s\n", (unsigned long long) job, m.url);
	ASSERT_EQ(m.identity, ID2);
	ASSERT_STR_EQ(m.url, "tcp://10.0.0.2:7070");
	ASSERT_EQ(job, 0x2222123456789abcULL);
	// Without that server, the next highest: 0x3333333333333333.
	ASSERT_OK(tasq_shard_mark_down(s, m.num, 4000, "refused"));
	ASSERT_OK(tasq_shard_place(s, r, 4000, &job, &m, err, sizeof(err)));
	ASSERT_EQ(m.identity, ID3);
	ASSERT_EQ(job, 0x3333123456789abcULL);
	tasq_shard_free(s);
}

TEST(shard_equal_scores_keep_the_first_member)
{
	// score(r, id) is a bijection of id for a given r (mix64 is one, and
	// so is r ^ x), so two servers tie only if their identities are
	// equal: two addresses of one server. The member with the lower
	// number keeps the job, whatever the order they were probed in.
	tasq_shard *s = make("tcp://10.0.0.1:7070,tcp://10.0.0.2:7070", NULL);
	up(s, "10.0.0.2", ID1);
	up(s, "10.0.0.1", ID1);
	for (int i = 0; i < 100; i++) {
		tasq_shard_member m;
		uint64_t          job;
		ASSERT_OK(tasq_shard_place(
		    s, rand_r48(), 3000, &job, &m, err, sizeof(err)));
		ASSERT_STR_EQ(m.addr, "10.0.0.1");
	}
	tasq_shard_free(s);
}

TEST(shard_reordering_the_list_moves_no_job)
{
	tasq_shard *a = three(L3);
	tasq_shard *b = three("tcp://10.0.0.3:7070, tcp://10.0.0.1:7070 ,"
	                      "tcp://10.0.0.2:7070");
	tasq_shard_member ma, mb;
	uint64_t          ja, jb;

	for (int i = 0; i < 100000; i++) {
		uint64_t r = rand_r48();
		ASSERT_OK(
		    tasq_shard_place(a, r, 3000, &ja, &ma, err, sizeof(err)));
		ASSERT_OK(
		    tasq_shard_place(b, r, 3000, &jb, &mb, err, sizeof(err)));
		ASSERT_EQ(ja, jb);
		ASSERT_STR_EQ(ma.url, mb.url);
	}
	tasq_shard_free(a);
	tasq_shard_free(b);
}

TEST(shard_removing_a_member_moves_only_its_jobs)
{
	tasq_shard *a = three(L3);
	// The same servers without 10.0.0.3, and 10.0.0.3 marked down.
	tasq_shard *b = make("tcp://10.0.0.1:7070,tcp://10.0.0.2:7070", NULL);
	tasq_shard *c = three(L3);
	int         moved = 0;

	up(b, "10.0.0.1", ID1);
	up(b, "10.0.0.2", ID2);
	ASSERT_OK(tasq_shard_mark_down(
	    c, num_of(c, "10.0.0.3"), 2500, "connection refused"));
	for (int i = 0; i < 100000; i++) {
		uint64_t r      = rand_r48();
		uint64_t before = place_id(a, r);
		uint64_t after  = place_id(b, r);
		ASSERT_EQ(place_id(c, r), after);
		if (before != ID3) {
			ASSERT_EQ(after, before);
		} else {
			ASSERT_NE(after, ID3);
			moved++;
		}
	}
	printf("%d of 100000 jobs moved off the removed member\n", moved);
	ASSERT_GT(moved, 30000);
	ASSERT_LT(moved, 36700);
	tasq_shard_free(a);
	tasq_shard_free(b);
	tasq_shard_free(c);
}

TEST(shard_adding_a_fourth_moves_about_a_quarter)
{
	tasq_shard *a     = three(L3);
	tasq_shard *b     = make(L3 ",tcp://10.0.0.4:7070", NULL);
	const int   draws = 100000;
	int         moved = 0;

	up(b, "10.0.0.1", ID1);
	up(b, "10.0.0.2", ID2);
	up(b, "10.0.0.3", ID3);
	up(b, "10.0.0.4", ID4);
	for (int i = 0; i < draws; i++) {
		uint64_t r      = rand_r48();
		uint64_t before = place_id(a, r);
		uint64_t after  = place_id(b, r);
		if (after != before) {
			ASSERT_EQ(after, ID4); // only to the new one
			moved++;
		}
	}
	printf("%d of %d jobs moved to the new member (%.4f)\n", moved, draws,
	    (double) moved / draws);
	ASSERT_GE(moved, draws * 20 / 100);
	ASSERT_LE(moved, draws * 30 / 100);
	tasq_shard_free(a);
	tasq_shard_free(b);
}

static void
check_spread(const uint64_t *ids, size_t nids)
{
	char spec[512] = "";
	char addr[32];
	int  count[8] = { 0 };
	int  draws    = 300000;

	for (size_t i = 0; i < nids; i++) {
		snprintf(spec + strlen(spec), sizeof(spec) - strlen(spec),
		    "%stcp://10.0.1.%zu:7070", i > 0 ? "," : "", i + 1);
	}
	tasq_shard *s = make(spec, NULL);
	for (size_t i = 0; i < nids; i++) {
		snprintf(addr, sizeof(addr), "10.0.1.%zu", i + 1);
		up(s, addr, ids[i]);
	}
	for (int k = 0; k < draws; k++) {
		uint64_t id = place_id(s, rand_r48());
		for (size_t i = 0; i < nids; i++) {
			count[i] += id == ids[i];
		}
	}
	for (size_t i = 0; i < nids; i++) {
		double share = (double) count[i] / draws;
		printf("identity %016llx: %d (%.4f)\n",
		    (unsigned long long) ids[i], count[i], share);
		// Within 3% of an equal share (about 11 standard deviations).
		ASSERT_GT(count[i] * 100, draws / (int) nids * 97);
		ASSERT_LT(count[i] * 100, draws / (int) nids * 103);
	}
	tasq_shard_free(s);
}

TEST(shard_spreads_jobs_evenly)
{
	const uint64_t fixed[] = { ID1, ID2, ID3 };
	uint64_t       random[3];

	check_spread(fixed, 3);
	for (int i = 0; i < 3; i++) {
		random[i] = tasq_random64();
	}
	check_spread(random, 3);
}

TEST(shard_never_places_on_a_member_down)
{
	tasq_shard       *s = three(L3);
	tasq_shard_member m;
	uint64_t          job;
	uint32_t          n3 = num_of(s, "10.0.0.3");

	ASSERT_OK(tasq_shard_mark_down(s, n3, 5000, "connection refused"));
	for (int i = 0; i < 20000; i++) {
		ASSERT_NE(place_id(s, rand_r48()), ID3);
	}
	ASSERT_OK(tasq_shard_mark_down(
	    s, num_of(s, "10.0.0.1"), 6000, "TLS handshake failed"));
	for (int i = 0; i < 2000; i++) {
		ASSERT_EQ(place_id(s, rand_r48()), ID2);
	}
	ASSERT_OK(
	    tasq_shard_mark_down(s, num_of(s, "10.0.0.2"), 7000, "timed out"));
	ASSERT_RV(tasq_shard_place(s, 1, 17500, &job, &m, err, sizeof(err)),
	    TASQ_EUNAVAILABLE);
	printf("%s\n", err);
	ASSERT_STR_CONTAINS(err, "no server is up");
	ASSERT_STR_CONTAINS(
	    err, "tcp://10.0.0.1:7070 down for 11 s: TLS handshake failed");
	ASSERT_STR_CONTAINS(
	    err, "tcp://10.0.0.2:7070 down for 10 s: timed out");
	ASSERT_STR_CONTAINS(
	    err, "tcp://10.0.0.3:7070 down for 12 s: connection refused");
	// Back up: placed on again.
	ASSERT_OK(tasq_shard_mark_up(s, n3, ID3, 20000));
	ASSERT_EQ(place_id(s, 0x0000123456789abcULL), ID3);
	tasq_shard_free(s);
}

TEST(shard_members_not_reached_are_not_placed_on)
{
	tasq_shard       *s = make("tcp://10.0.0.1:7070", NULL);
	tasq_shard_member m;
	uint64_t          job;

	ASSERT_RV(tasq_shard_place(s, 5, 3000, &job, &m, err, sizeof(err)),
	    TASQ_EUNAVAILABLE);
	ASSERT_STR_CONTAINS(err, "tcp://10.0.0.1:7070 not reached yet");
	ASSERT_RV(tasq_shard_place(s, 0, 3000, &job, &m, err, sizeof(err)),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_RV(
	    tasq_shard_place(s, 1ULL << 48, 3000, &job, &m, err, sizeof(err)),
	    TASQ_EINVALID_ARGUMENT);
	// A server from before identities (0) is still usable, tag 0.
	up(s, "10.0.0.1", 0);
	ASSERT_OK(tasq_shard_place_new(s, 3000, &job, &m, err, sizeof(err)));
	ASSERT_EQ(job >> 48, 0);
	ASSERT_NE(job, 0);
	tasq_shard_free(s);
}

TEST(shard_place_new_names_the_server)
{
	tasq_shard       *s = three(L3);
	tasq_shard_member m, f[4];
	uint64_t          job;
	size_t            n;

	for (int i = 0; i < 1000; i++) {
		ASSERT_OK(
		    tasq_shard_place_new(s, 3000, &job, &m, err, sizeof(err)));
		ASSERT_NE(job & TASQ_SHARD_R_MASK, 0);
		ASSERT_EQ(job >> 48, m.identity >> 48);
		ASSERT_OK(tasq_shard_find(s, job, f, 4, &n, err, sizeof(err)));
		ASSERT_EQ(n, 1);
		ASSERT_EQ(f[0].num, m.num);
	}
	tasq_shard_free(s);
}

// ---- lookup ----------------------------------------------------------

TEST(shard_find_returns_every_server_of_a_tag)
{
	tasq_shard       *s = make(L3 ",tcp://[fd00::4]:7070", NULL);
	tasq_shard_member out[4];
	size_t            n;

	ASSERT_RV(tasq_shard_find(
	              s, 0xabcd000000000001ULL, out, 4, &n, err, sizeof(err)),
	    TASQ_EUNAVAILABLE);
	ASSERT_STR_CONTAINS(err, "abcd");
	ASSERT_STR_CONTAINS(err, "4 of 4 servers not reached yet");
	up(s, "10.0.0.1", 0xabcd000000000001ULL);
	up(s, "10.0.0.2", 0x1234000000000000ULL);
	up(s, "10.0.0.3", 0xabcdffff00000000ULL);
	up(s, "fd00::4", 0x0bcd000000000000ULL);
	ASSERT_OK(tasq_shard_find(
	    s, 0xabcd123456789abcULL, out, 4, &n, err, sizeof(err)));
	ASSERT_EQ(n, 2);
	ASSERT_STR_EQ(out[0].addr, "10.0.0.1");
	ASSERT_STR_EQ(out[1].addr, "10.0.0.3");
	// A member down is still where its jobs are.
	ASSERT_OK(tasq_shard_mark_down(s, out[0].num, 4000, "refused"));
	ASSERT_OK(tasq_shard_find(
	    s, 0xabcd000000000005ULL, out, 1, &n, err, sizeof(err)));
	ASSERT_EQ(n, 1);
	ASSERT_EQ(out[0].state, TASQ_SHARD_DOWN);
	ASSERT_STR_EQ(out[0].err, "refused");
	ASSERT_OK(tasq_shard_find(
	    s, 0x0bcd000000000005ULL, out, 4, &n, err, sizeof(err)));
	ASSERT_EQ(n, 1);
	ASSERT_STR_EQ(out[0].url, "tcp://[fd00::4]:7070");
	ASSERT_RV(tasq_shard_find(
	              s, 0x9999000000000001ULL, out, 4, &n, err, sizeof(err)),
	    TASQ_ENOT_FOUND);
	printf("%s\n", err);
	ASSERT_EQ(n, 0);
	ASSERT_STR_CONTAINS(err, "no server has tag 9999");
	ASSERT_STR_CONTAINS(err, "1234 (tcp://10.0.0.2:7070)");
	tasq_shard_free(s);
}

TEST(shard_two_addresses_of_one_server_are_one_member)
{
	tasq_shard       *s = make(L3, NULL);
	tasq_shard_member out[4], m[3];
	size_t            n;
	int               on1 = 0, on2 = 0;

	up(s, "10.0.0.1", ID1);
	up(s, "10.0.0.2", ID2);
	up(s, "10.0.0.3", ID2); // the same server by another address
	ASSERT_EQ(tasq_shard_members(s, m, 3), 3);
	ASSERT_EQ(m[0].alias_of, 0);
	ASSERT_EQ(m[1].alias_of, 0);
	ASSERT_EQ(m[2].alias_of, m[1].num);
	// Counted once: half each, not a third and two thirds.
	for (int i = 0; i < 20000; i++) {
		uint64_t id = place_id(s, rand_r48());
		on1 += id == ID1;
		on2 += id == ID2;
	}
	ASSERT_GT(on1, 9000);
	ASSERT_GT(on2, 9000);
	ASSERT_OK(tasq_shard_find(s, ID2, out, 4, &n, err, sizeof(err)));
	ASSERT_EQ(n, 1);
	ASSERT_STR_EQ(out[0].addr, "10.0.0.2");
	// Its first address down: the other one serves it.
	ASSERT_OK(tasq_shard_mark_down(s, m[1].num, 3000, "refused"));
	ASSERT_OK(tasq_shard_find(s, ID2, out, 4, &n, err, sizeof(err)));
	ASSERT_EQ(n, 1);
	ASSERT_STR_EQ(out[0].addr, "10.0.0.3");
	for (int i = 0; i < 2000; i++) {
		tasq_shard_member pm;
		uint64_t          job;
		ASSERT_OK(tasq_shard_place(
		    s, rand_r48(), 3000, &job, &pm, err, sizeof(err)));
		ASSERT_STR_NOT_CONTAINS(pm.addr, "10.0.0.2");
	}
	tasq_shard_free(s);
}

// ---- state and back-off ----------------------------------------------

TEST(shard_backoff_doubles_with_jitter_and_is_capped)
{
	tasq_shard        *s;
	tasq_shard_opts    o;
	tasq_shard_member  m;
	tasq_shard_change *ch;
	size_t             n;
	uint64_t           d = 100, now = 10000;

	memset(&o, 0, sizeof(o));
	o.backoff_min_ms = 100;
	o.backoff_max_ms = 3000;
	ASSERT_OK(
	    tasq_shard_alloc(&s, "tcp://10.0.0.1:7070", &o, err, sizeof(err)));
	ASSERT_OK(tasq_shard_resolve(s, 0, &ch, &n, err, sizeof(err)));
	free(ch);
	uint32_t num = num_of(s, "10.0.0.1");
	for (unsigned k = 1; k <= 10; k++) {
		ASSERT_OK(tasq_shard_mark_down(s, num, now, "refused"));
		ASSERT_OK(tasq_shard_get(s, num, &m));
		ASSERT_EQ(m.fails, k);
		ASSERT_EQ(m.since_ms, 10000); // down since the first failure
		ASSERT_GE(m.retry_ms - now, d / 2);
		ASSERT_LE(m.retry_ms - now, d);
		d   = d * 2 > 3000 ? 3000 : d * 2;
		now = m.retry_ms;
	}
	ASSERT_OK(tasq_shard_mark_up(s, num, ID1, now));
	ASSERT_OK(tasq_shard_get(s, num, &m));
	ASSERT_EQ(m.fails, 0);
	ASSERT_EQ(m.state, TASQ_SHARD_UP);
	ASSERT_STR_EQ(m.err, "");
	ASSERT_EQ(m.since_ms, now);
	ASSERT_OK(tasq_shard_mark_down(s, num, now + 5, "refused"));
	ASSERT_OK(tasq_shard_get(s, num, &m));
	ASSERT_EQ(m.fails, 1);
	ASSERT_LE(m.retry_ms - (now + 5), 100);
	ASSERT_RV(tasq_shard_mark_down(s, 999, now, "x"), TASQ_ENOT_FOUND);
	ASSERT_RV(tasq_shard_mark_up(s, 999, 1, now), TASQ_ENOT_FOUND);
	tasq_shard_free(s);
}

TEST(shard_due_lists_members_to_probe_once)
{
	tasq_shard *s = make(L3, NULL);
	uint32_t    nums[8];
	uint64_t    next;
	size_t      n;

	// All three never probed: due at once, then not again.
	ASSERT_EQ(tasq_shard_due(s, 1000, nums, 8, &next), 3);
	ASSERT_EQ(next, UINT64_MAX); // literals only: no resolution
	ASSERT_EQ(tasq_shard_due(s, 1000, nums, 8, &next), 0);
	ASSERT_OK(tasq_shard_mark_up(s, nums[0], ID1, 1100));
	ASSERT_OK(tasq_shard_mark_up(s, nums[1], ID2, 1100));
	ASSERT_OK(tasq_shard_mark_down(s, nums[2], 1100, "refused"));
	tasq_shard_member m;
	ASSERT_OK(tasq_shard_get(s, nums[2], &m));
	ASSERT_EQ(tasq_shard_due(s, 1100, nums, 8, &next), 0);
	ASSERT_EQ(next, m.retry_ms);
	n = tasq_shard_due(s, m.retry_ms, nums, 8, &next);
	ASSERT_EQ(n, 1);
	ASSERT_EQ(nums[0], m.num);
	tasq_shard_free(s);
}

// ---- resolution ------------------------------------------------------

static bool
has_change(tasq_shard_change *ch, size_t n, bool added, const char *url)
{
	for (size_t i = 0; i < n; i++) {
		if (ch[i].added == added && strcmp(ch[i].m.url, url) == 0) {
			return (true);
		}
	}
	return (false);
}

TEST(shard_resolution_follows_the_name)
{
	fake               f = { .host = "tasq.default.svc",
		              .addrs = { "10.0.0.1", "10.0.0.2", "10.0.0.1", NULL } };
	tasq_shard        *s;
	tasq_shard_opts    o;
	tasq_shard_change *ch;
	tasq_shard_member  m;
	size_t             n;
	uint64_t           next;
	uint32_t           nums[4];

	memset(&o, 0, sizeof(o));
	o.resolver     = fake_resolve;
	o.resolver_arg = &f;
	ASSERT_OK(tasq_shard_alloc(
	    &s, "tls+tcp://tasq.default.svc:7070", &o, err, sizeof(err)));
	ASSERT_EQ(tasq_shard_count(s), 0);
	ASSERT_OK(tasq_shard_resolve(s, 1000, &ch, &n, err, sizeof(err)));
	ASSERT_EQ(f.calls, 1);
	ASSERT_EQ(f.last_family, AF_UNSPEC);
	ASSERT_EQ(n, 2); // the duplicate dropped
	ASSERT_TRUE(has_change(ch, n, true, "tls+tcp://10.0.0.1:7070"));
	ASSERT_TRUE(has_change(ch, n, true, "tls+tcp://10.0.0.2:7070"));
	ASSERT_STR_EQ(ch[0].m.host, "tasq.default.svc");
	ASSERT_TRUE(ch[0].m.tls);
	ASSERT_EQ(ch[0].m.state, TASQ_SHARD_UNKNOWN);
	free(ch);
	up(s, "10.0.0.1", ID1);
	up(s, "10.0.0.2", ID2);
	ASSERT_OK(tasq_shard_set_user(s, num_of(s, "10.0.0.1"), &f));

	// Not due before the interval.
	f.addrs[0] = "10.0.0.2";
	f.addrs[1] = "10.0.0.3";
	f.addrs[2] = "fd00::3";
	ASSERT_EQ(tasq_shard_due(s, 1000, nums, 4, &next), 0);
	ASSERT_EQ(next, 1000 + TASQ_SHARD_RESOLVE_MS);
	ASSERT_OK(tasq_shard_resolve(s, 30999, &ch, &n, err, sizeof(err)));
	ASSERT_EQ(n, 0);
	ASSERT_NULL(ch);
	ASSERT_EQ(f.calls, 1);

	// Due: 10.0.0.1 goes (with the caller's pointer), two come.
	ASSERT_OK(tasq_shard_resolve(s, 31000, &ch, &n, err, sizeof(err)));
	ASSERT_EQ(f.calls, 2);
	ASSERT_EQ(n, 3);
	ASSERT_TRUE(has_change(ch, n, false, "tls+tcp://10.0.0.1:7070"));
	ASSERT_TRUE(has_change(ch, n, true, "tls+tcp://10.0.0.3:7070"));
	ASSERT_TRUE(has_change(ch, n, true, "tls+tcp://[fd00::3]:7070"));
	for (size_t i = 0; i < n; i++) {
		if (!ch[i].added) {
			ASSERT_PTR_EQ(ch[i].m.user, &f);
			ASSERT_EQ(ch[i].m.identity, ID1);
		}
	}
	free(ch);
	ASSERT_EQ(tasq_shard_count(s), 3);
	// The member that stayed kept its state and identity.
	ASSERT_OK(tasq_shard_get(s, num_of(s, "10.0.0.2"), &m));
	ASSERT_EQ(m.state, TASQ_SHARD_UP);
	ASSERT_EQ(m.identity, ID2);
	ASSERT_EQ(m.since_ms, 2000);
	ASSERT_OK(tasq_shard_get(s, num_of(s, "fd00::3"), &m));
	ASSERT_EQ(m.state, TASQ_SHARD_UNKNOWN);
	ASSERT_STR_EQ(m.host, "tasq.default.svc");

	// The name fails: its members stay, the error names it.
	f.fail = TASQ_EUNAVAILABLE;
	tasq_shard_resolve_soon(s);
	ASSERT_RV(tasq_shard_resolve(s, 32000, &ch, &n, err, sizeof(err)),
	    TASQ_EUNAVAILABLE);
	ASSERT_EQ(n, 0);
	ASSERT_STR_CONTAINS(err, "cannot resolve 'tasq.default.svc'");
	ASSERT_STR_CONTAINS(err, "keeping the addresses it had");
	ASSERT_EQ(tasq_shard_count(s), 3);

	// Back, with one address less; a re-added address is a new member.
	f.fail     = 0;
	f.addrs[0] = "10.0.0.1";
	f.addrs[1] = "10.0.0.2";
	f.addrs[2] = NULL;
	ASSERT_OK(tasq_shard_resolve(s, 62000, &ch, &n, err, sizeof(err)));
	ASSERT_EQ(n, 3);
	ASSERT_TRUE(has_change(ch, n, true, "tls+tcp://10.0.0.1:7070"));
	ASSERT_TRUE(has_change(ch, n, false, "tls+tcp://10.0.0.3:7070"));
	ASSERT_TRUE(has_change(ch, n, false, "tls+tcp://[fd00::3]:7070"));
	free(ch);
	ASSERT_OK(tasq_shard_get(s, num_of(s, "10.0.0.1"), &m));
	ASSERT_EQ(m.state, TASQ_SHARD_UNKNOWN);
	ASSERT_EQ(m.identity, 0);
	ASSERT_NULL(m.user);
	tasq_shard_free(s);
}

TEST(shard_resolution_mixes_names_and_literals)
{
	fake        f = { .host = "tasq.lan", .addrs = { "10.0.0.9", NULL } };
	tasq_shard *s;
	tasq_shard_opts    o;
	tasq_shard_change *ch;
	size_t             n;

	memset(&o, 0, sizeof(o));
	o.resolver     = fake_resolve;
	o.resolver_arg = &f;
	// The name also resolves to the literal's address: one member.
	f.addrs[1] = "10.0.0.1";
	ASSERT_OK(tasq_shard_alloc(&s,
	    "tcp://10.0.0.1:7070,tcp4://tasq.lan:7070,tcp://[0:0::1]:7071", &o,
	    err, sizeof(err)));
	ASSERT_OK(tasq_shard_resolve(s, 0, &ch, &n, err, sizeof(err)));
	ASSERT_EQ(f.last_family, AF_INET);
	ASSERT_EQ(n, 4);
	ASSERT_TRUE(has_change(ch, n, true, "tcp://10.0.0.1:7070"));
	ASSERT_TRUE(has_change(ch, n, true, "tcp4://10.0.0.9:7070"));
	ASSERT_TRUE(has_change(ch, n, true, "tcp4://10.0.0.1:7070"));
	ASSERT_TRUE(has_change(ch, n, true, "tcp://[::1]:7071"));
	free(ch);
	// A failing name at the first resolution: the literals still come.
	tasq_shard_free(s);
	f.fail = TASQ_EUNAVAILABLE;
	ASSERT_OK(tasq_shard_alloc(&s,
	    "tcp://tasq.lan:7070,tcp://10.0.0.1:7070", &o, err, sizeof(err)));
	ASSERT_RV(tasq_shard_resolve(s, 0, &ch, &n, err, sizeof(err)),
	    TASQ_EUNAVAILABLE);
	ASSERT_EQ(n, 1);
	ASSERT_STR_EQ(ch[0].m.url, "tcp://10.0.0.1:7070");
	ASSERT_STR_CONTAINS(err, "no server from it yet");
	free(ch);
	tasq_shard_free(s);
}

TEST(shard_resolution_caps_the_members)
{
	static char        text[FAKE_MAX][20];
	fake               f = { .host = "big.lan" };
	tasq_shard        *s;
	tasq_shard_opts    o;
	tasq_shard_change *ch;
	size_t             n;

	for (int i = 0; i < 70; i++) {
		snprintf(text[i], sizeof(text[i]), "10.0.2.%d", i + 1);
		f.addrs[i] = text[i];
	}
	memset(&o, 0, sizeof(o));
	o.resolver     = fake_resolve;
	o.resolver_arg = &f;
	ASSERT_OK(
	    tasq_shard_alloc(&s, "tcp://big.lan:7070", &o, err, sizeof(err)));
	ASSERT_RV(tasq_shard_resolve(s, 0, &ch, &n, err, sizeof(err)),
	    TASQ_ERESOURCE_EXHAUSTED);
	ASSERT_EQ(n, TASQ_SHARD_MAX_MEMBERS);
	ASSERT_EQ(tasq_shard_count(s), TASQ_SHARD_MAX_MEMBERS);
	ASSERT_STR_CONTAINS(err, "more than 64 addresses; using 64");
	free(ch);
	tasq_shard_free(s);
}

TEST(shard_resolves_localhost_for_real)
{
	tasq_shard        *s;
	tasq_shard_change *ch;
	size_t             n;
	bool               v4 = false;

	ASSERT_OK(tasq_shard_alloc(
	    &s, "tcp://localhost:7070", NULL, err, sizeof(err)));
	ASSERT_OK(tasq_shard_resolve(s, 0, &ch, &n, err, sizeof(err)));
	ASSERT_GE(n, 1);
	ASSERT_LE(n, 2); // 127.0.0.1 and maybe ::1, each once
	for (size_t i = 0; i < n; i++) {
		printf("localhost: %s (%s)\n", ch[i].m.url, ch[i].m.host);
		ASSERT_STR_EQ(ch[i].m.host, "localhost");
		if (strcmp(ch[i].m.url, "tcp://127.0.0.1:7070") == 0) {
			v4 = true;
		} else {
			ASSERT_STR_EQ(ch[i].m.url, "tcp://[::1]:7070");
		}
	}
	ASSERT_TRUE(v4);
	free(ch);
	tasq_shard_free(s);

	tasq_shard_addr a[8];
	ASSERT_RV(tasq_shard_resolve_system(NULL, "no-such-host.invalid",
	              AF_UNSPEC, a, 8, &n, err, sizeof(err)),
	    TASQ_EUNAVAILABLE);
	ASSERT_EQ(n, 0);
}

// ---- threads ---------------------------------------------------------

// A name whose addresses alternate between two sets at each lookup.
static atomic_int flip_calls;

static int
flip_resolve(void *arg, const char *host, int family, tasq_shard_addr *out,
    size_t max, size_t *n, char *e, size_t elen)
{
	static const char *const sets[2][3] = {
		{ "10.0.4.1", "10.0.4.2", "10.0.4.3" },
		{ "10.0.4.2", "10.0.4.3", "10.0.4.4" },
	};
	int k = atomic_fetch_add(&flip_calls, 1) % 2;

	(void) arg;
	(void) host;
	(void) family;
	(void) e;
	(void) elen;
	*n = 0;
	for (size_t i = 0; i < 3 && *n < max; i++) {
		snprintf(out[*n].text, sizeof(out[*n].text), "%s", sets[k][i]);
		(*n)++;
	}
	return (0);
}

typedef struct race {
	tasq_shard *s;
	atomic_int  bad;    // results that break a rule
	atomic_int  placed; // successful placements
	atomic_bool stop;
} race;

static void *
race_resolve(void *arg)
{
	race *rc = arg;

	// At least 300 lookups, and on until the others have placed enough
	// jobs (bounded, should they never manage to).
	for (int i = 0;
	     i < 300 || (atomic_load(&rc->placed) < 20000 && i < 200000);
	     i++) {
		tasq_shard_change *ch;
		size_t             n;
		char               e[256];
		tasq_shard_resolve_soon(rc->s);
		if (tasq_shard_resolve(rc->s, 1000 + (uint64_t) i, &ch, &n, e,
		        sizeof(e)) != 0) {
			atomic_fetch_add(&rc->bad, 1);
		}
		free(ch);
	}
	atomic_store(&rc->stop, true);
	return (NULL);
}

static void *
race_place(void *arg)
{
	race *rc = arg;

	while (!atomic_load(&rc->stop)) {
		tasq_shard_member m, f[4];
		uint64_t          job;
		size_t            n;
		char              e[1024];
		int               rv =
		    tasq_shard_place_new(rc->s, 5000, &job, &m, e, sizeof(e));
		if (rv == TASQ_EUNAVAILABLE) {
			continue;
		}
		if (rv != 0 || m.state != TASQ_SHARD_UP ||
		    (job >> 48) != (m.identity >> 48)) {
			atomic_fetch_add(&rc->bad, 1);
			continue;
		}
		atomic_fetch_add(&rc->placed, 1);
		rv = tasq_shard_find(rc->s, job, f, 4, &n, e, sizeof(e));
		if (rv != 0 && rv != TASQ_ENOT_FOUND &&
		    rv != TASQ_EUNAVAILABLE) {
			atomic_fetch_add(&rc->bad, 1);
		}
	}
	return (NULL);
}

static void *
race_mark(void *arg)
{
	race *rc = arg;

	for (uint64_t k = 0; !atomic_load(&rc->stop); k++) {
		tasq_shard_member m[8];
		uint32_t          nums[8];
		size_t            n = tasq_shard_members(rc->s, m, 8), d;
		for (size_t i = 0; i < n && i < 8; i++) {
			// The identity follows the address, as a server's.
			uint64_t id = ((uint64_t) m[i].addr[7] << 56) | 1;
			int      rv = (k + i) % 3 == 0
			         ? tasq_shard_mark_down(
			               rc->s, m[i].num, 5000, "refused")
			         : tasq_shard_mark_up(rc->s, m[i].num, id, 5000);
			if (rv != 0 && rv != TASQ_ENOT_FOUND) {
				atomic_fetch_add(&rc->bad, 1);
			}
		}
		d = tasq_shard_due(rc->s, 5000 + k, nums, 8, NULL);
		for (size_t i = 0; i < d; i++) {
			(void) tasq_shard_mark_up(rc->s, nums[i], 7, 5000);
		}
	}
	return (NULL);
}

TEST(shard_is_safe_across_threads)
{
	tasq_shard_opts o;
	race            rc;
	pthread_t       t[4];

	memset(&o, 0, sizeof(o));
	o.resolver = flip_resolve;
	memset(&rc, 0, sizeof(rc));
	ASSERT_OK(tasq_shard_alloc(
	    &rc.s, "tcp://tasq.lan:7070", &o, err, sizeof(err)));
	ASSERT_EQ(pthread_create(&t[0], NULL, race_place, &rc), 0);
	ASSERT_EQ(pthread_create(&t[1], NULL, race_place, &rc), 0);
	ASSERT_EQ(pthread_create(&t[2], NULL, race_mark, &rc), 0);
	ASSERT_EQ(pthread_create(&t[3], NULL, race_resolve, &rc), 0);
	for (int i = 0; i < 4; i++) {
		ASSERT_EQ(pthread_join(t[i], NULL), 0);
	}
	printf("%d placements, %d lookups of names\n", atomic_load(&rc.placed),
	    atomic_load(&flip_calls));
	ASSERT_EQ(atomic_load(&rc.bad), 0);
	ASSERT_GE(atomic_load(&flip_calls), 300);
	ASSERT_GE(atomic_load(&rc.placed), 2000);
	ASSERT_EQ(tasq_shard_count(rc.s), 3);
	tasq_shard_free(rc.s);
}

// ---- the list --------------------------------------------------------

static int
check(const char *spec)
{
	memset(err, 0, sizeof(err));
	return (tasq_shard_check(spec, 0, err, sizeof(err)));
}

TEST(shard_list_accepts)
{
	ASSERT_OK(check("tcp://127.0.0.1:7070"));
	ASSERT_OK(check(" tcp://a:1 , tcp://b:1,tcp://[::1]:2 "));
	ASSERT_OK(check("tls+tcp://a.lan:7070,tls+tcp6://b.lan:7070"));
	ASSERT_OK(check("tcp://a:1,tcp://a:2,tcp4://a:1"));
	ASSERT_OK(check("ipc:///run/tasq.sock"));
}

TEST(shard_list_errors)
{
	char many[64 * 24 + 32] = "";

	ASSERT_RV(check(""), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "the server list is empty");
	ASSERT_RV(check("  "), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "the server list is empty");
	ASSERT_RV(check("tcp://a:1,,tcp://b:1"), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "item 2 of the server list");
	ASSERT_STR_CONTAINS(err, "is empty");
	ASSERT_RV(check("tcp://a:1,"), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "item 2 of the server list");
	ASSERT_RV(check("tcp://a:1, tcp://A:1"), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "names 'tcp://A:1' twice (items 1 and 2)");
	ASSERT_RV(
	    check("tcp://[::1]:1,tcp://[0::1]:1"), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "twice");
	ASSERT_RV(check("tcp://a:1,127.0.0.1:7070"), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "item 2 of the server list");
	ASSERT_STR_CONTAINS(err, "did you mean tcp://127.0.0.1:7070?");
	ASSERT_RV(check("tcp://a"), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "has no port");
	ASSERT_RV(check("tcp://a:1,tls+tcp://b:1"), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "mixes tls+tcp:// and tcp://");
	ASSERT_RV(check("tcp://a:1,ipc:///x"), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "ipc://");
	for (int i = 0; i < 65; i++) {
		snprintf(many + strlen(many), sizeof(many) - strlen(many),
		    "%stcp://10.0.3.%d:1", i > 0 ? "," : "", i + 1);
	}
	ASSERT_RV(check(many), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "65 items, more than the 64");
	char *end = strrchr(many, ',');
	*end      = '\0';
	ASSERT_OK(check(many));
	char long_host[400];
	memset(long_host, 'a', sizeof(long_host));
	memcpy(long_host, "tcp://", 6);
	snprintf(long_host + 350, 50, ".lan:1");
	ASSERT_RV(check(long_host), TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "longer than");
	tasq_shard *s = (tasq_shard *) 1;
	ASSERT_RV(tasq_shard_alloc(&s, "tcp://a:1,,", NULL, err, sizeof(err)),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_NULL(s);
}

TASQ_TEST_MAIN()
