// textfmt: the small formatting helpers every program prints with, in a
// header of their own that needs nothing of the wire (the tool's
// subcommands use it; lib/statsfmt.h, which formats a Stats reply,
// includes it). Implemented in lib/statsfmt.c. Thread-safe (no shared
// state).
#ifndef TASQ_TEXTFMT_H
#define TASQ_TEXTFMT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

// tasq_json_str writes s (borrowed, NUL-terminated) to f as a JSON string.
void tasq_json_str(FILE *f, const char *s);

// tasq_fmt_duration writes ms as people read it, in at most two units:
// "850ms", "34s", "8m 34s", "2h 5m", "3d 4h" (truncated, never rounded
// up). Returns buf (len bytes; 16 always suffice).
char *tasq_fmt_duration(char *buf, size_t len, uint64_t ms);

#endif
