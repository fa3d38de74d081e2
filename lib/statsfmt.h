// statsfmt: a Stats reply as JSON, for `tasq stats --json` and the
// server's /api/stats, and the one human form of a duration that every
// program prints. Thread-safe (no shared state).
#ifndef TASQ_STATSFMT_H
#define TASQ_STATSFMT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "textfmt.h"
#include "wire.h"

// Flags of tasq_stats_json_write.
enum {
	// Also list the (job, task) pairs of the most recent dead letters
	// ("dead_letters"); without it only their count ("dead_total").
	TASQ_STATS_JSON_DEAD_PAIRS = 1,
};

// tasq_stats_json_write writes rep (method TASQ_M_STATS) to f as one JSON
// object and a newline; durations are in raw milliseconds (uptime_ms,
// idle_ms). Names from the server are escaped.
void tasq_stats_json_write(const tasq_rep *rep, int flags, FILE *f);

// tasq_stats_queue_json writes one queue's object ({"name":..,"ready":..,
// ...,"retried":..}) as the stats JSON has it, under name.
void tasq_stats_queue_json(
    const char *name, const tasq_queue_stats *q, FILE *f);

// tasq_stats_json is tasq_stats_json_write with TASQ_STATS_JSON_DEAD_PAIRS
// (the server's /api/stats).
void tasq_stats_json(const tasq_rep *rep, FILE *f);

// tasq_stats_dead_total returns the dead letters the server holds: its
// dead_total, or (from a server that does not send it) the sum of the
// queues' counts.
uint64_t tasq_stats_dead_total(const tasq_rep *rep);

// tasq_json_str and tasq_fmt_duration: lib/textfmt.h.

#endif
