// shard_util: what the tests of a session on several servers through the
// library's internal routing API (shard_session.c, shard_pending.c,
// shard_grow.c)
// share: opening the session, finding a member, a resolver of their own.
// No assertion here (tasq_test.h's jump is each program's own): each
// call returns what went wrong, and the program asserts.
#ifndef TASQ_TEST_SHARD_UTIL_H
#define TASQ_TEST_SHARD_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api_int.h"

// shard_util_open opens *sp, a session on spec (a server list or a name)
// with the key in key_file and settings, pairs of option name and value
// ending in NULL (tasq_opts_set), through tasq_api_session_open_with
// (so: the resolver and the like; NULL for the defaults). Returns 0, or
// the error after printing "open SPEC: why" to stderr. Returns new
// (tasq_session_free).
int shard_util_open(tasq_session **sp, const char *spec, const char *key_file,
    const char *const *settings, const tasq_shard_opts *so);

// shard_util_member copies to *m the member of s whose URL is url (when
// url is not NULL), else whose address is addr (when addr is not NULL),
// else whose number is num; false when there is none.
bool shard_util_member(tasq_session *s, const char *url, const char *addr,
    uint32_t num, tasq_shard_member *m);

// shard_util_resolve is the body of a test's resolver (tasq_shard_opts'
// resolver): the name "shards.test" has the n addresses of list, in that
// order; any other name is unknown (TASQ_EUNAVAILABLE, err says).
int shard_util_resolve(const char *host, const char *const *list, size_t n,
    tasq_shard_addr *addrs, size_t max, size_t *np, char *err, size_t errlen);

// shard_util_submit submits detached job id, one square task (7) with
// its input complete, to queue on member: 0, or the error after printing
// "submit ID: why" to stderr.
int shard_util_submit(
    tasq_session *s, uint32_t member, const char *queue, uint64_t id);

#endif
