// common: versions, error codes and the per-thread error message of the
// public API (include/tasq/tasq.h).
#include <stdio.h>
#include <string.h>

#include "api_int.h"

// The header's version is the project's (CMake checks it at configure
// time); the library says which one it is.
#define STR2(x) #x
#define STR(x) STR2(x)

TASQ_API const char *
tasq_version(void)
{
	return (STR(TASQ_VERSION_MAJOR) "." STR(TASQ_VERSION_MINOR) "." STR(
	    TASQ_VERSION_PATCH));
}

int
tasq_api_err(int rv)
{
	if (rv == 0) {
		return (0);
	}
	return (tasq_err_from_code(tasq_err_code(rv)));
}

TASQ_API const char *
tasq_errstr(int rv)
{
	if (rv == 0 ||
	    (rv > TASQ_ERR_BASE && rv <= TASQ_ERR_BASE + TASQ_CODE_MAX)) {
		return (tasq_strerror(rv));
	}
	return ("unknown error");
}

TASQ_API const char *
tasq_errname(int rv)
{
	if (rv == 0) {
		return ("OK");
	}
	if (rv > TASQ_ERR_BASE && rv <= TASQ_ERR_BASE + TASQ_CODE_MAX) {
		return (tasq_err_name(rv - TASQ_ERR_BASE));
	}
	return ("UNKNOWN");
}

// One message per thread: what the last failed call said.
static _Thread_local char thread_msg[512];

TASQ_API const char *
tasq_errmsg(void)
{
	return (thread_msg);
}

void
tasq_api_clear(void)
{
	thread_msg[0] = '\0';
}

void
tasq_api_set_msg(const char *msg)
{
	snprintf(thread_msg, sizeof(thread_msg), "%s", msg ? msg : "");
}

int
tasq_api_fail(int rv, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(thread_msg, sizeof(thread_msg), fmt, ap);
	va_end(ap);
	return (tasq_api_err(rv));
}
