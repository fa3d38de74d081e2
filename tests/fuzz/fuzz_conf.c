// fuzz_conf: the configuration file parser (tasq_opt_conf_text) over a
// table with one option of every type, split over two tables as programs
// do (their own table plus a shared one). The file is operator input, but
// it is read by a daemon at start-up: a bad file must be refused with
// file:line, never crash or leave a value outside its range.
#include <stdbool.h>
#include <string.h>

#include "err.h"
#include "fuzz.h"
#include "opt.h"

static char         *listen_url, *log_level, *secret;
static uint64_t      workers, any, lease_ms, max_msg, tiny;
static bool          verbose, daemonize;
static tasq_opt_list types;

static const tasq_opt own[] = {
	{ "listen", 'l', TASQ_OPT_STR, "TASQ_LISTEN", "tcp://127.0.0.1:0",
	    "URL", "where to listen", &listen_url, 0, 0, false },
	{ "workers", 'j', TASQ_OPT_U64, NULL, "4", "N", "processes", &workers,
	    1, 1000, false },
	{ "any", 0, TASQ_OPT_U64, NULL, NULL, "N", "full range", &any, 0,
	    UINT64_MAX, false },
	{ "lease", 0, TASQ_OPT_MS, NULL, "30s", "DURATION", "lease time",
	    &lease_ms, 100, 86400000, false },
	{ "max-message", 0, TASQ_OPT_SIZE, NULL, "16MiB", "SIZE", "largest",
	    &max_msg, 1024, 1073741824, false },
	{ "tiny", 0, TASQ_OPT_SIZE, NULL, NULL, "SIZE", "exactly 1KiB", &tiny,
	    1024, 1024, false },
	{ "type", 't', TASQ_OPT_LIST, "TASQ_TYPE", NULL, "NAME=H",
	    "repeatable", &types, 0, 0, false },
	TASQ_OPT_END,
};

static const tasq_opt common[] = {
	{ "log-level", 0, TASQ_OPT_STR, "TASQ_LOG_LEVEL", "info", "LEVEL",
	    "error, warn, info or debug", &log_level, 0, 0, false },
	{ "verbose", 'v', TASQ_OPT_BOOL, NULL, NULL, NULL, "say more",
	    &verbose, 0, 0, false },
	{ "daemon", 'd', TASQ_OPT_BOOL, NULL, NULL, NULL, "detach", &daemonize,
	    0, 0, false },
	{ "secret", 0, TASQ_OPT_STR, NULL, NULL, "S", "flag only", &secret, 0,
	    0, true },
	TASQ_OPT_END,
};

static const tasq_opt *const tables[] = { own, common, NULL };

static void
check_range(const tasq_opt *o)
{
	uint64_t v;

	if (o->type == TASQ_OPT_U64 || o->type == TASQ_OPT_MS ||
	    o->type == TASQ_OPT_SIZE) {
		v = *(const uint64_t *) o->ptr;
		FUZZ_CHECK(v >= o->min && v <= o->max);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	int  rv;

	// Every run starts from the same state: strings unset, numbers at
	// their minimum (a valid value), flags off.
	workers  = 1;
	any      = 0;
	lease_ms = 100;
	max_msg  = 1024;
	tiny     = 1024;
	verbose = daemonize = false;
	memset(err, 'X', sizeof(err));
	rv = tasq_opt_conf_text(
	    tables, "fuzz.conf", (const char *) data, size, err, sizeof(err));
	if (rv != 0) {
		FUZZ_CHECK(rv == TASQ_EINVALID_ARGUMENT ||
		    rv == TASQ_ERESOURCE_EXHAUSTED);
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
		if (rv == TASQ_EINVALID_ARGUMENT) {
			FUZZ_CHECK(strncmp(err, "fuzz.conf:", 10) == 0);
		}
	}
	// Values set before a bad line stay set; all must be in range.
	for (int t = 0; tables[t] != NULL; t++) {
		for (const tasq_opt *o = tables[t]; o->name != NULL; o++) {
			check_range(o);
		}
	}
	FUZZ_CHECK(secret == NULL); // not settable from a file
	if (listen_url != NULL) {
		FUZZ_CHECK(strlen(listen_url) < 1024);
	}
	for (size_t i = 0; i < types.n; i++) {
		FUZZ_CHECK(types.v[i] != NULL && strlen(types.v[i]) < 1024);
	}
	tasq_opt_free(tables);
	FUZZ_CHECK(listen_url == NULL && log_level == NULL);
	FUZZ_CHECK(types.n == 0 && types.v == NULL);
	return (0);
}
