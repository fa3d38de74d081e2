// statsfmt: a Stats reply as JSON, for `tasq stats --json` and the
// server's /api/stats. Thread-safe (no shared state).
#ifndef TASQ_STATSFMT_H
#define TASQ_STATSFMT_H

#include <stdio.h>

#include "wire.h"

// tasq_stats_json writes rep (method TASQ_M_STATS) to f as one JSON
// object and a newline. Names from the server are escaped.
void tasq_stats_json(const tasq_rep *rep, FILE *f);

#endif
