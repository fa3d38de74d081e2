#include "shard_util.h"

#include <inttypes.h>

#include <stdio.h>
#include <string.h>

int
shard_util_open(tasq_session **sp, const char *spec, const char *key_file,
    const char *const *settings, const tasq_shard_opts *so)
{
	tasq_opts *o;
	int        rv;

	*sp = NULL;
	if ((rv = tasq_opts_alloc(&o)) != 0) {
		return (rv);
	}
	if ((rv = tasq_opts_set(o, "server", spec)) == 0 &&
	    (rv = tasq_opts_set(o, "key-file", key_file)) == 0) {
		for (size_t i = 0; settings[i] != NULL && rv == 0; i += 2) {
			rv = tasq_opts_set(o, settings[i], settings[i + 1]);
		}
	}
	if (rv == 0) {
		rv = tasq_api_session_open_with(sp, o, so);
	}
	if (rv != 0) {
		fprintf(stderr, "open %s: %s\n", spec, tasq_errmsg());
	}
	tasq_opts_free(o);
	return (rv);
}

bool
shard_util_member(tasq_session *s, const char *url, const char *addr,
    uint32_t num, tasq_shard_member *m)
{
	tasq_shard_member ms[8];
	size_t            n = tasq_api_members(s, ms, 8);

	for (size_t i = 0; i < n && i < 8; i++) {
		if (url != NULL        ? strcmp(ms[i].url, url) == 0
		        : addr != NULL ? strcmp(ms[i].addr, addr) == 0
		                       : ms[i].num == num) {
			*m = ms[i];
			return (true);
		}
	}
	return (false);
}

int
shard_util_resolve(const char *host, const char *const *list, size_t n,
    tasq_shard_addr *addrs, size_t max, size_t *np, char *err, size_t errlen)
{
	if (strcmp(host, "shards.test") != 0 || max < n) {
		snprintf(err, errlen, "unknown name %s", host);
		return (TASQ_EUNAVAILABLE);
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(addrs[i].text, sizeof(addrs[i].text), "%s", list[i]);
	}
	*np = n;
	return (0);
}

int
shard_util_submit(
    tasq_session *s, uint32_t member, const char *queue, uint64_t id)
{
	tasq_req req;
	tasq_rep rep;
	int64_t  v = 7;
	char     err[512];
	int      rv;

	memset(&req, 0, sizeof(req));
	req.method                  = TASQ_M_SUBMIT;
	req.u.submit.queue          = queue;
	req.u.submit.job_id         = id;
	req.u.submit.type           = "square";
	req.u.submit.n              = 1;
	req.u.submit.payloads.data  = (uint8_t *) &v;
	req.u.submit.payloads.size  = 8;
	req.u.submit.payloads.width = 8;
	req.u.submit.detach         = true;
	req.u.submit.last           = true;
	rv                          = tasq_api_call_member(
	                             s, member, &req, 10000, &rep, err, sizeof(err));
	if (rv != 0) {
		fprintf(stderr, "submit %016" PRIx64 ": %s\n", id, err);
		return (rv);
	}
	tasq_wire_rep_fini(&rep);
	return (0);
}
