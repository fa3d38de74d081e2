#include "replay.h"

#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "err.h"

#define NBUCKETS 4096
#define NWORDS (TASQ_REPLAY_WINDOW / 64)

struct sender {
	struct sender *next;
	uint64_t       id;
	uint64_t       max_seq;
	uint64_t       last_ms;
	uint64_t       seen[NWORDS]; // bit i: max_seq - i was seen
};

struct tasq_replay {
	nng_mtx       *mtx;
	uint32_t       max_senders;
	uint32_t       count;
	uint64_t       skew_ms;
	uint64_t       floor_ms; // oldest timestamp of a sender not seen
	struct sender *buckets[NBUCKETS];
};

int
tasq_replay_alloc(tasq_replay **rp, uint32_t max_senders, uint64_t skew_ms,
    uint64_t since_ms, uint64_t slack_ms)
{
	tasq_replay *r;
	int          rv;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		return (NNG_ENOMEM);
	}
	if ((rv = nng_mtx_alloc(&r->mtx)) != 0) {
		free(r);
		return (rv);
	}
	r->max_senders = max_senders;
	r->skew_ms     = skew_ms;
	r->floor_ms    = since_ms > slack_ms ? since_ms - slack_ms : 0;
	*rp            = r;
	return (0);
}

void
tasq_replay_free(tasq_replay *r)
{
	if (r == NULL) {
		return;
	}
	for (int i = 0; i < NBUCKETS; i++) {
		struct sender *s;
		while ((s = r->buckets[i]) != NULL) {
			r->buckets[i] = s->next;
			free(s);
		}
	}
	nng_mtx_free(r->mtx);
	free(r);
}

static uint32_t
bucket_of(uint64_t id)
{
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdULL;
	id ^= id >> 33;
	return ((uint32_t) (id & (NBUCKETS - 1)));
}

static void
shift_window(struct sender *s, uint64_t by)
{
	if (by >= TASQ_REPLAY_WINDOW) {
		memset(s->seen, 0, sizeof(s->seen));
		return;
	}
	uint64_t words = by / 64;
	unsigned bits  = (unsigned) (by % 64);
	for (int i = NWORDS - 1; i >= 0; i--) {
		uint64_t v = 0;
		if ((uint64_t) i >= words) {
			int src = i - (int) words;
			v       = s->seen[src] << bits;
			if (bits != 0 && src > 0) {
				v |= s->seen[src - 1] >> (64 - bits);
			}
		}
		s->seen[i] = v;
	}
}

static void
gc_locked(tasq_replay *r, uint64_t now_ms)
{
	for (int i = 0; i < NBUCKETS; i++) {
		struct sender **pp = &r->buckets[i];
		while (*pp != NULL) {
			struct sender *s = *pp;
			if (now_ms > s->last_ms + 2 * r->skew_ms) {
				*pp = s->next;
				free(s);
				r->count--;
			} else {
				pp = &s->next;
			}
		}
	}
}

int
tasq_replay_check(tasq_replay *r, uint64_t sender, uint64_t seq,
    uint64_t ts_ms, uint64_t now_ms, const char **why)
{
	struct sender *s;
	uint32_t       b = bucket_of(sender);
	const char    *dummy;
	int            rv = 0;

	if (why == NULL) {
		why = &dummy;
	}
	*why = NULL;
	if (ts_ms + r->skew_ms < now_ms || ts_ms > now_ms + r->skew_ms) {
		*why = "timestamp outside the accepted clock skew";
		return (TASQ_EUNAUTHENTICATED);
	}
	nng_mtx_lock(r->mtx);
	for (s = r->buckets[b]; s != NULL; s = s->next) {
		if (s->id == sender) {
			break;
		}
	}
	if (s == NULL && ts_ms < r->floor_ms) {
		*why = "message older than this server's start (a replay, or "
		       "a clock far behind)";
		rv   = TASQ_EUNAUTHENTICATED;
		goto out;
	}
	if (s == NULL) {
		if (r->count >= r->max_senders) {
			gc_locked(r, now_ms);
		}
		if (r->count >= r->max_senders) {
			*why = "too many active senders";
			rv   = TASQ_ERESOURCE_EXHAUSTED;
			goto out;
		}
		if ((s = calloc(1, sizeof(*s))) == NULL) {
			*why = "out of memory";
			rv   = TASQ_ERESOURCE_EXHAUSTED;
			goto out;
		}
		s->id         = sender;
		s->max_seq    = seq;
		s->seen[0]    = 1;
		s->last_ms    = now_ms;
		s->next       = r->buckets[b];
		r->buckets[b] = s;
		r->count++;
		goto out;
	}
	if (seq > s->max_seq) {
		shift_window(s, seq - s->max_seq);
		s->max_seq = seq;
		s->seen[0] |= 1;
	} else {
		uint64_t d = s->max_seq - seq;
		if (d >= TASQ_REPLAY_WINDOW) {
			*why = "sequence number too old";
			rv   = TASQ_EUNAUTHENTICATED;
			goto out;
		}
		if (s->seen[d / 64] & (1ULL << (d % 64))) {
			*why = "replayed message";
			rv   = TASQ_EUNAUTHENTICATED;
			goto out;
		}
		s->seen[d / 64] |= 1ULL << (d % 64);
	}
	if (now_ms > s->last_ms) {
		s->last_ms = now_ms;
	}
out:
	nng_mtx_unlock(r->mtx);
	return (rv);
}

void
tasq_replay_gc(tasq_replay *r, uint64_t now_ms)
{
	nng_mtx_lock(r->mtx);
	gc_locked(r, now_ms);
	nng_mtx_unlock(r->mtx);
}

uint32_t
tasq_replay_count(tasq_replay *r)
{
	uint32_t n;

	nng_mtx_lock(r->mtx);
	n = r->count;
	nng_mtx_unlock(r->mtx);
	return (n);
}
