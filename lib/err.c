#include "err.h"

#include <nng/nng.h>

static const char *const names[TASQ_CODE_MAX + 1] = { [0] = "OK",
#define TASQ_ERR_NAME(name, code, msg) [code] = #name,
	TASQ_ERR_MAP(TASQ_ERR_NAME)
#undef TASQ_ERR_NAME
};

static const char *const messages[TASQ_CODE_MAX + 1] = { [0] = "ok",
#define TASQ_ERR_MSG(name, code, msg) [code] = msg,
	TASQ_ERR_MAP(TASQ_ERR_MSG)
#undef TASQ_ERR_MSG
};

static int
is_tasq(int rv)
{
	return (rv > TASQ_ERR_BASE && rv <= TASQ_ERR_BASE + TASQ_CODE_MAX);
}

const char *
tasq_strerror(int rv)
{
	if (rv == 0) {
		return (messages[0]);
	}
	if (is_tasq(rv)) {
		return (messages[rv - TASQ_ERR_BASE]);
	}
	return (nng_strerror(rv));
}

int
tasq_err_code(int rv)
{
	if (rv == 0) {
		return (0);
	}
	if (is_tasq(rv)) {
		return (rv - TASQ_ERR_BASE);
	}
	switch (rv) {
	case NNG_ETIMEDOUT:
		return (TASQ_EDEADLINE_EXCEEDED - TASQ_ERR_BASE);
	case NNG_ENOMEM:
	case NNG_EMSGSIZE:
	case NNG_ENOSPC:
		return (TASQ_ERESOURCE_EXHAUSTED - TASQ_ERR_BASE);
	case NNG_EINVAL:
	case NNG_EADDRINVAL:
	case NNG_EBADTYPE:
		return (TASQ_EINVALID_ARGUMENT - TASQ_ERR_BASE);
	case NNG_ECANCELED:
		return (TASQ_ECANCELLED - TASQ_ERR_BASE);
	case NNG_ENOTSUP:
		return (TASQ_EUNIMPLEMENTED - TASQ_ERR_BASE);
	case NNG_ENOENT:
		return (TASQ_ENOT_FOUND - TASQ_ERR_BASE);
	case NNG_EPERM:
		return (TASQ_EPERMISSION_DENIED - TASQ_ERR_BASE);
	case NNG_ECRYPTO:
	case NNG_EPEERAUTH:
		return (TASQ_EUNAUTHENTICATED - TASQ_ERR_BASE);
	case NNG_ECLOSED:
	case NNG_ECONNREFUSED:
	case NNG_ECONNSHUT:
	case NNG_ECONNRESET:
	case NNG_ECONNABORTED:
	case NNG_EUNREACHABLE:
	case NNG_EAGAIN:
	case NNG_ESTATE:
		return (TASQ_EUNAVAILABLE - TASQ_ERR_BASE);
	default:
		return (TASQ_EINTERNAL - TASQ_ERR_BASE);
	}
}

int
tasq_err_from_code(int code)
{
	if (code == 0) {
		return (0);
	}
	if (code < 0 || code > TASQ_CODE_MAX) {
		return (TASQ_EUNKNOWN);
	}
	return (TASQ_ERR_BASE + code);
}

const char *
tasq_err_name(int code)
{
	if (code < 0 || code > TASQ_CODE_MAX) {
		return ("UNKNOWN");
	}
	return (names[code]);
}
