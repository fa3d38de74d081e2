// replay: rejects captured messages that are sent again.
//
// Every sender (identified by the random sender_id of its envelope)
// numbers its messages with a strictly increasing seq. The server accepts
// a message if its timestamp is within skew_ms of the server's clock and
// its seq was not seen before: it remembers, per sender, the highest seq
// and a window of TASQ_REPLAY_WINDOW seqs below it (as IPsec does).
// Every time given here is on the server's stamp clock
// (tasq_clock_stamp_ms, lib/clock.h), which never goes back.
// A sender idle for more than 2 * skew_ms is forgotten; any message of
// it old enough to be forgotten fails the timestamp test instead.
//
// Only call tasq_replay_check after the message's tag was verified, so
// that unauthenticated peers cannot fill the table. Thread-safe (one
// internal mutex, never held across a call out).
#ifndef TASQ_REPLAY_H
#define TASQ_REPLAY_H

#include <stdint.h>

#define TASQ_REPLAY_WINDOW 256

typedef struct tasq_replay tasq_replay;

// tasq_replay_alloc: max_senders bounds the memory; skew_ms is the
// accepted clock difference. since_ms (0 for none) is when the table
// began: a sender the table has not seen must send a timestamp no
// older than since_ms - slack_ms, so that a restart of the server does
// not reopen the skew window to messages captured before it. Returns new
// (free with tasq_replay_free). Errors: NNG_ENOMEM.
int tasq_replay_alloc(tasq_replay **rp, uint32_t max_senders, uint64_t skew_ms,
    uint64_t since_ms, uint64_t slack_ms);
void tasq_replay_free(tasq_replay *r);

// tasq_replay_check returns 0 and records (sender, seq) if fresh;
// TASQ_EUNAUTHENTICATED for a replay or a timestamp outside the skew;
// TASQ_ERESOURCE_EXHAUSTED when max_senders are active. *why (may be
// NULL) gets a static reason.
int tasq_replay_check(tasq_replay *r, uint64_t sender, uint64_t seq,
    uint64_t ts_ms, uint64_t now_ms, const char **why);

// tasq_replay_gc forgets senders idle for more than 2 * skew_ms.
void tasq_replay_gc(tasq_replay *r, uint64_t now_ms);

// tasq_replay_count returns the number of senders remembered.
uint32_t tasq_replay_count(tasq_replay *r);

#endif
