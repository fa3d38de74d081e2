// log: leveled logging to stderr, one write(2) per line so that threads
// never interleave. Thread-safe; the level is checked before formatting.
// Keys and message bodies are never passed here.
#ifndef TASQ_LOG_H
#define TASQ_LOG_H

#include <stdarg.h>

enum tasq_log_level {
	TASQ_LOG_ERROR = 0,
	TASQ_LOG_WARN  = 1,
	TASQ_LOG_INFO  = 2,
	TASQ_LOG_DEBUG = 3,
};

// tasq_log_init sets the program name printed on every line. Borrows name
// (a string literal or argv[0] that outlives logging).
void tasq_log_init(const char *name);

// tasq_log_prog is that name (an atomic load: a signal handler may call
// it; lib/crash.c's report begins its lines with it, as the log does).
const char *tasq_log_prog(void);

// tasq_log_set_level sets the most verbose level printed.
void tasq_log_set_level(int level);

// tasq_log_set_json switches to one JSON object per line
// ({"ts":..., "prog":..., "pid":..., "level":..., "msg":...}) for log
// collectors.
void tasq_log_set_json(int on);

// tasq_log_format_parse sets the format from "text" or "json"; returns -1
// for anything else.
int tasq_log_format_parse(const char *s);

// tasq_log_level_parse turns "error", "warn", "info", "debug" into a level;
// returns -1 for anything else.
int tasq_log_level_parse(const char *s);

int tasq_log_enabled(int level);

void tasq_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

// tasq_log_errno appends ": strerror(errno)".
void tasq_log_errno(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define tasq_err(...) tasq_log(TASQ_LOG_ERROR, __VA_ARGS__)
#define tasq_warn(...) tasq_log(TASQ_LOG_WARN, __VA_ARGS__)
#define tasq_info(...) tasq_log(TASQ_LOG_INFO, __VA_ARGS__)
#define tasq_debug(...)                                                       \
	do {                                                                  \
		if (tasq_log_enabled(TASQ_LOG_DEBUG)) {                       \
			tasq_log(TASQ_LOG_DEBUG, __VA_ARGS__);                \
		}                                                             \
	} while (0)

#endif
