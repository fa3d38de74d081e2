#include "log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

// Atomic: a library's first session and a program's own set-up may name
// the process while another thread logs (TSan saw tasq-worker do so).
static _Atomic(const char *) prog      = "tasq";
static atomic_int            cur_level = TASQ_LOG_INFO;
static atomic_int            json_fmt  = 0;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void
tasq_log_init(const char *name)
{
	atomic_store(&prog, name);
}

const char *
tasq_log_prog(void)
{
	return (atomic_load(&prog));
}

void
tasq_log_set_level(int level)
{
	atomic_store(&cur_level, level);
}

void
tasq_log_set_json(int on)
{
	atomic_store(&json_fmt, on);
}

int
tasq_log_format_parse(const char *s)
{
	if (strcmp(s, "text") == 0 || strcmp(s, "json") == 0) {
		tasq_log_set_json(s[0] == 'j');
		return (0);
	}
	return (-1);
}

// Appends s to line as a JSON string body (quotes excluded).
static size_t
json_escape(char *out, size_t cap, const char *s)
{
	size_t n = 0;
	for (; *s != '\0' && n + 7 < cap; s++) {
		unsigned char c = (unsigned char) *s;
		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char) c;
		} else if (c < 0x20) {
			n += (size_t) snprintf(out + n, cap - n, "\\u%04x", c);
		} else {
			out[n++] = (char) c;
		}
	}
	return (n);
}

int
tasq_log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			return (i);
		}
	}
	return (-1);
}

int
tasq_log_enabled(int level)
{
	return (level <= atomic_load(&cur_level));
}

static void
vlog(int level, int errnum, const char *fmt, va_list ap)
{
	char           line[1024];
	struct timeval tv;
	struct tm      tm;
	size_t         n;
	int            k;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	if (atomic_load(&json_fmt)) {
		char   msg[768], ts[40];
		char   esc[900];
		size_t m;
		vsnprintf(msg, sizeof(msg), fmt, ap);
		if (errnum != 0) {
			m = strlen(msg);
			snprintf(msg + m, sizeof(msg) - m, ": %s",
			    strerror(errnum));
		}
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
		m      = json_escape(esc, sizeof(esc), msg);
		esc[m] = '\0';
		k      = snprintf(line, sizeof(line),
		         "{\"ts\":\"%s.%03ldZ\",\"prog\":\"%s\",\"pid\":%d,"
		              "\"level\":\"%s\",\"msg\":\"%s\"}\n",
		         ts, (long) tv.tv_usec / 1000, atomic_load(&prog),
		         (int) getpid(), level_names[level], esc);
		n      = k > 0 && (size_t) k < sizeof(line) ? (size_t) k
		                                            : sizeof(line) - 1;
		if (line[n - 1] != '\n') {
			line[n - 1] = '\n';
		}
		(void) !write(STDERR_FILENO, line, n);
		return;
	}
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	k = snprintf(line + n, sizeof(line) - n,
	    ".%03ldZ %s[%d] %s: ", (long) tv.tv_usec / 1000,
	    atomic_load(&prog), (int) getpid(), level_names[level]);
	n += (k > 0) ? (size_t) k : 0;
	if (n < sizeof(line)) {
		k = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		n += (k > 0) ? (size_t) k : 0;
	}
	if (errnum != 0 && n < sizeof(line)) {
		k = snprintf(
		    line + n, sizeof(line) - n, ": %s", strerror(errnum));
		n += (k > 0) ? (size_t) k : 0;
	}
	if (n >= sizeof(line) - 1) {
		n = sizeof(line) - 2;
	}
	line[n++] = '\n';
	// One write per line; a short write to stderr is not worth retrying.
	(void) !write(STDERR_FILENO, line, n);
}

void
tasq_log(int level, const char *fmt, ...)
{
	va_list ap;

	if (!tasq_log_enabled(level)) {
		return;
	}
	va_start(ap, fmt);
	vlog(level, 0, fmt, ap);
	va_end(ap);
}

void
tasq_log_errno(int level, const char *fmt, ...)
{
	va_list ap;
	int     errnum = errno;

	if (!tasq_log_enabled(level)) {
		return;
	}
	va_start(ap, fmt);
	vlog(level, errnum, fmt, ap);
	va_end(ap);
}
