// history: the server's recent history for the dashboard: a ring of
// samples (one a second, taken by the server's timer through
// tasq_metrics_sample), so that a page loaded now can draw the last
// minutes. Each sample is a wall-clock time and TASQ_HISTORY_NFIELDS
// numbers (rates per second and gauges, see TASQ_HISTORY_FIELDS).
//
// Threads: every function is thread-safe (one mutex per ring, held only
// to copy a sample in or out); the timer writes, HTTP handlers read.
#ifndef TASQ_HISTORY_H
#define TASQ_HISTORY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

// The fields of a sample: id, JSON name, what it is.
#define TASQ_HISTORY_FIELDS(X)                                                \
	X(COMPLETED, "completed", "tasks completed per second")               \
	X(FAILED, "failed", "tasks completed with an error per second")       \
	X(RETRIED, "retried",                                                 \
	    "failed results set aside for a retry per "                       \
	    "second")                                                         \
	X(DEAD, "dead", "tasks dead-lettered per second")                     \
	X(SUBMITTED, "submitted", "tasks submitted per second")               \
	X(READY, "ready", "tasks ready, all queues")                          \
	X(LEASED, "leased", "tasks leased, all queues")                       \
	X(LATENCY, "latency_ms", "the highest queue latency, ms")             \
	X(WORKERS, "workers", "connected worker processes")

enum tasq_history_field {
#define TASQ_HIST_ENUM(id, name, help) TASQ_HIST_##id,
	TASQ_HISTORY_FIELDS(TASQ_HIST_ENUM)
#undef TASQ_HIST_ENUM
	    TASQ_HISTORY_NFIELDS
};

typedef struct tasq_history_sample {
	uint64_t wall_ms; // when it was taken (Unix ms)
	double   v[TASQ_HISTORY_NFIELDS];
} tasq_history_sample;

typedef struct tasq_history tasq_history;

// tasq_history_alloc returns a new ring of cap samples (cap > 0; free
// with tasq_history_free). Errors: NNG_ENOMEM, NNG_EINVAL (cap 0).
int  tasq_history_alloc(tasq_history **hp, size_t cap);
void tasq_history_free(tasq_history *h); // accepts NULL

// tasq_history_add appends a copy of s, forgetting the oldest sample
// when the ring is full.
void tasq_history_add(tasq_history *h, const tasq_history_sample *s);

// tasq_history_copy copies the newest min(max, count) samples into out,
// oldest first, and returns how many.
size_t tasq_history_copy(
    tasq_history *h, tasq_history_sample *out, size_t max);

// tasq_history_cap returns the ring's capacity.
size_t tasq_history_cap(const tasq_history *h);

// tasq_history_field_name returns the JSON name of field f (NULL when f
// is out of range).
const char *tasq_history_field_name(int f);

// tasq_history_json writes the newest samples (at most cap) as a JSON
// object to f: {"interval_ms":..,"fields":[names],"samples":[[wall_ms,
// v0, v1, ...], ...]}, oldest first. Errors: NNG_ENOMEM.
int tasq_history_json(tasq_history *h, uint64_t interval_ms, FILE *f);

#endif
