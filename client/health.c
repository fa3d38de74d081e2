// tasq health: exit 0 when the server answers an authenticated Health
// request and says it is serving. --wait retries until then, which is what
// scripts and tests use as a readiness check.
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "client.h"
#include "err.h"

static struct {
	uint64_t wait_ms;
	bool     quiet;
} hopt;

static const tasq_opt health_opts[] = {
	{ "wait", 'w', TASQ_OPT_MS, NULL, "0", "DURATION",
	    "keep trying this long for the server to be serving",
	    &hopt.wait_ms, 0, 3600000, false },
	{ "quiet", 0, TASQ_OPT_BOOL, NULL, NULL, NULL, "print nothing",
	    &hopt.quiet, 0, 0, false },
	TASQ_OPT_END,
};

static const char usage[] =
    "Usage: tasq [options] health [--wait DURATION] [--quiet]\n"
    "Exits 0 when the server is serving, 1 when not.\n";

int
tasq_cmd_health(tasq_client *c, int argc, char **argv)
{
	const tasq_opt *const tables[] = { health_opts, NULL };
	char                **args     = NULL;
	int                   nargs, rv;
	tasq_req              req;
	tasq_rep              rep;
	char                  err[512] = "";
	nng_time              until;

	if ((rv = tasq_client_parse(
	         health_opts, usage, argc, argv, &args, &nargs)) >= 0) {
		goto out;
	}
	if (nargs > 0) {
		fprintf(stderr, "tasq: health takes no arguments\n");
		rv = TASQ_EXIT_USAGE;
		goto out;
	}
	until = nng_clock() + hopt.wait_ms;
	if (hopt.wait_ms > c->connect_timeout_ms) {
		c->connect_timeout_ms = hopt.wait_ms;
	}
	if ((rv = tasq_client_connect(c)) != 0) {
		goto out;
	}
	memset(&req, 0, sizeof(req));
	req.method = TASQ_M_HEALTH;
	for (;;) {
		uint32_t t = (uint32_t) c->timeout_ms;
		if (hopt.wait_ms > 0 && t > 1000) {
			t = 1000;
		}
		rv = tasq_chan_call(c->chan, &req, t, &rep, err, sizeof(err));
		if (rv == 0) {
			bool serving = rep.u.health.serving;
			if (!hopt.quiet) {
				printf("%s: server %s, up %" PRIu64 " ms\n",
				    serving ? "serving" : "not serving",
				    rep.u.health.version,
				    rep.u.health.uptime_ms);
			}
			tasq_wire_rep_fini(&rep);
			if (serving) {
				rv = 0;
				goto out;
			}
		}
		// An authentication failure will not fix itself.
		if (rv == TASQ_EUNAUTHENTICATED || nng_clock() >= until) {
			break;
		}
		nng_msleep(50);
	}
	if (!hopt.quiet) {
		fprintf(stderr, "tasq: not serving: %s\n",
		    err[0] ? err : "server says it is not serving");
	}
	rv = TASQ_EXIT_FAIL;
out:
	free(args);
	tasq_opt_free(tables);
	return (rv);
}
