// shard: the set of servers a session talks to when it is given several
// (issue 15; docs/LIBRARY.md "Several servers", docs/PROTOCOL.md
// "Sharding"). It parses the server list, expands each name to all its
// addresses (one member per address, re-resolved every 30 s), keeps what
// the caller learnt of each member (identity, up or down and why,
// reconnect back-off), places a new job on one member by rendezvous
// hashing on the members' identities and finds the member(s) a job id
// names. It does no I/O of its own except name resolution: the caller
// (the session) dials each member (one tasq_chan per member), probes it
// with Health and reports the result with tasq_shard_mark_up/_down.
//
// Internal to libtasq (hidden visibility). Thread-safe: every call takes
// the set's own mutex briefly and never blocks under it; only
// tasq_shard_resolve may block (name lookups), outside the mutex. Members
// are named by a number (tasq_shard_member.num) that a set never reuses;
// the calls hand out copies (tasq_shard_member), never pointers into the
// set. Errors: 0, TASQ_EINVALID_ARGUMENT (a bad list or argument),
// TASQ_ENOT_FOUND (no such member, no server with a tag),
// TASQ_EUNAVAILABLE (no member up, a name that does not resolve),
// TASQ_ERESOURCE_EXHAUSTED (out of memory, too many members); err
// (NUL-terminated, truncated to errlen; may be NULL when errlen is 0)
// says why in words a user can act on.
#ifndef TASQ_SHARD_H
#define TASQ_SHARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// Defaults (tasq_shard_opts fields left 0 take them).
#define TASQ_SHARD_MAX_MEMBERS 64           // members after expansion
#define TASQ_SHARD_RESOLVE_MS 30000         // --resolve-interval
#define TASQ_SHARD_BACKOFF_MIN_MS 100       // first reconnect delay
#define TASQ_SHARD_BACKOFF_MAX_MS 30000     // cap of the delay
#define TASQ_SHARD_R_MASK 0xffffffffffffULL // the 48 random bits of a job id

// Sizes of the strings of a member (NUL included).
#define TASQ_SHARD_URL_MAX 320
#define TASQ_SHARD_HOST_MAX 256
#define TASQ_SHARD_ADDR_MAX 64
#define TASQ_SHARD_ERR_MAX 200

typedef struct tasq_shard tasq_shard;

typedef enum tasq_shard_state {
	TASQ_SHARD_UNKNOWN = 0, // not probed yet
	TASQ_SHARD_UP      = 1, // its last probe or call succeeded
	TASQ_SHARD_DOWN    = 2, // its last probe or call failed (err says)
} tasq_shard_state;

// One address of a name, numeric ("10.0.0.7", "fd00::7", "fe80::1%eth0").
typedef struct tasq_shard_addr {
	char text[TASQ_SHARD_ADDR_MAX];
} tasq_shard_addr;

// A resolver puts the addresses of host (a name, never an IP literal) of
// family (AF_UNSPEC, AF_INET or AF_INET6; tcp4:// and tcp6:// URLs ask for
// one) into addrs (at most max; more are dropped) and their number into
// *n, and returns 0; or returns non-zero with the reason in err. It runs
// on the thread calling tasq_shard_resolve, without the set's mutex, and
// may block. Duplicates are fine (the set drops them).
typedef int (*tasq_shard_resolver)(void *arg, const char *host, int family,
    tasq_shard_addr *addrs, size_t max, size_t *n, char *err, size_t errlen);

// tasq_shard_resolve_system is the default resolver: getaddrinfo (IPv4
// and IPv6 unless family says one), numeric forms, duplicates dropped.
// arg is unused. Thread-safe.
int tasq_shard_resolve_system(void *arg, const char *host, int family,
    tasq_shard_addr *addrs, size_t max, size_t *n, char *err, size_t errlen);

typedef struct tasq_shard_opts {
	uint64_t            resolve_interval_ms; // 0: TASQ_SHARD_RESOLVE_MS
	uint64_t            backoff_min_ms; // 0: TASQ_SHARD_BACKOFF_MIN_MS
	uint64_t            backoff_max_ms; // 0: TASQ_SHARD_BACKOFF_MAX_MS
	size_t              max_members;    // 0: TASQ_SHARD_MAX_MEMBERS
	tasq_shard_resolver resolver;       // NULL: tasq_shard_resolve_system
	void               *resolver_arg;
} tasq_shard_opts;

// A copy of what the set knows of one member.
typedef struct tasq_shard_member {
	uint32_t num; // the member's number in this set (never reused)
	// What to dial: the item's scheme, this address, the item's port
	// ("tls+tcp://10.0.0.7:7070", "tcp://[fd00::7]:7070"); an ipc://
	// item as it was given.
	char url[TASQ_SHARD_URL_MAX];
	// The host of the list's item it came from ("tasq.default.svc"): the
	// name TLS verifies (SNI) unless tls-server-name says otherwise.
	char host[TASQ_SHARD_HOST_MAX];
	char addr[TASQ_SHARD_ADDR_MAX]; // "10.0.0.7"; empty for ipc://
	bool tls;                       // tls+tcp*:// (all members or none)
	// The server's identity (Health's identity) once probed: tag
	// identity >> 48. A server from before identities reports 0 (tag 0;
	// never an alias of another).
	uint64_t         identity;
	bool             probed; // identity is known (mark_up was called)
	tasq_shard_state state;
	char             err[TASQ_SHARD_ERR_MAX]; // why it is down ("")
	uint64_t         since_ms; // when state last changed (caller's clock)
	uint64_t         retry_ms; // when down: the next probe's time
	unsigned         fails;    // failed probes since it was last up
	// Another member with the same non-zero identity (two addresses of
	// one server) has the lowest number, alias_of is that member's
	// number; 0 otherwise. Placement and lookup count a server once.
	uint32_t alias_of;
	void    *user; // the caller's (tasq_shard_set_user), e.g. its chan
} tasq_shard_member;

// A member added or removed by tasq_shard_resolve.
typedef struct tasq_shard_change {
	bool added; // false: removed (m.user is the caller's to
	            // close; the set forgot the member)
	tasq_shard_member m;
} tasq_shard_change;

// tasq_shard_check returns 0 when spec (borrowed) is a valid server list:
// "URL,URL,..." of tcp://, tcp4://, tcp6://, tls+tcp*:// URLs with a host
// and a port (lib/url.h), or one ipc:// URL; spaces around items are
// ignored. Errors (TASQ_EINVALID_ARGUMENT): an empty list or item, a bad
// URL (url.h's message), a server listed twice, TLS and plain TCP mixed,
// ipc:// in a list, more items than max_members (0: the default).
int tasq_shard_check(
    const char *spec, size_t max_members, char *err, size_t errlen);

// tasq_shard_alloc makes a set from spec (borrowed; checked as
// tasq_shard_check does) and o (borrowed; NULL: defaults). The set has no
// members until the first tasq_shard_resolve, which is due at once.
// Returns new (free with tasq_shard_free).
int tasq_shard_alloc(tasq_shard **sp, const char *spec,
    const tasq_shard_opts *o, char *err, size_t errlen);

// tasq_shard_free frees s (NULL is fine). The caller closes what it hung
// on the members (user) first; no call may be running on s.
void tasq_shard_free(tasq_shard *s);

// tasq_shard_resolve brings the members up to date when a resolution is
// due (never done, resolve_interval_ms passed since the last one at now_ms
// on the caller's monotonic clock, or tasq_shard_resolve_soon was
// called); otherwise it returns 0 with no changes at once. Each name is
// looked up (outside the mutex; one resolution at a time: a concurrent
// call returns 0 with no changes); IP literals and ipc:// are members as
// they are. A member whose address is still listed keeps its state,
// identity and user; an address no longer listed is removed; a new one is
// added (state unknown). A name that fails to resolve keeps the members
// it had, and the call returns TASQ_EUNAVAILABLE naming it (the other
// items' changes are still applied). More addresses than max_members:
// the first ones are kept, TASQ_ERESOURCE_EXHAUSTED. *chp is a new array
// of *nch changes (free with free(); NULL when none), set whatever the
// result.
int tasq_shard_resolve(tasq_shard *s, uint64_t now_ms, tasq_shard_change **chp,
    size_t *nch, char *err, size_t errlen);

// tasq_shard_resolve_soon makes the next tasq_shard_resolve due (e.g.
// when every member is down: a replaced pod has a new address).
void tasq_shard_resolve_soon(tasq_shard *s);

// tasq_shard_count returns the number of members.
size_t tasq_shard_count(tasq_shard *s);

// tasq_shard_has_names tells whether an item of the list is a host name
// (looked up again every resolve interval), not an IP literal or ipc://.
bool tasq_shard_has_names(tasq_shard *s);

// tasq_shard_members copies up to max members, in number order, into out
// and returns how many the set has (may exceed max).
size_t tasq_shard_members(tasq_shard *s, tasq_shard_member *out, size_t max);

// tasq_shard_get copies member num into *m; TASQ_ENOT_FOUND if it is
// not (or no longer) a member.
int tasq_shard_get(tasq_shard *s, uint32_t num, tasq_shard_member *m);

// tasq_shard_set_user hangs user (not owned) on member num.
int tasq_shard_set_user(tasq_shard *s, uint32_t num, void *user);

// tasq_shard_mark_up records that member num answered (a Health reply
// with identity): state up since now_ms, error and back-off cleared.
// A member whose server changed (another identity at the same address)
// simply takes the new identity.
int tasq_shard_mark_up(
    tasq_shard *s, uint32_t num, uint64_t identity, uint64_t now_ms);

// tasq_shard_mark_down records that member num failed (why, borrowed,
// e.g. "connection refused"): state down (since_ms kept if it already
// was), fails + 1 and the next probe at now_ms plus an exponential
// back-off (backoff_min_ms doubling per failure, capped at
// backoff_max_ms, between half and all of it at random).
int tasq_shard_mark_down(
    tasq_shard *s, uint32_t num, uint64_t now_ms, const char *why);

// tasq_shard_due puts into nums (at most max) the members to probe now:
// never probed, or down with retry_ms <= now_ms, and not already handed
// out by tasq_shard_due since their last mark_up/_down (each one handed
// out must get one). Returns how many; *next_ms (may be NULL) is the
// earliest time something else becomes due (a retry or the next
// resolution), UINT64_MAX when nothing will.
size_t tasq_shard_due(tasq_shard *s, uint64_t now_ms, uint32_t *nums,
    size_t max, uint64_t *next_ms);

// The placement functions of the sharding design (docs/PROTOCOL.md
// "Sharding"): pure, thread-safe.
uint64_t tasq_shard_mix64(uint64_t x);
uint64_t tasq_shard_score(uint64_t r, uint64_t identity);

// tasq_shard_place places a job whose random part is r (1 ..
// TASQ_SHARD_R_MASK): among the members up (aliases counted once), the
// one with the highest score(r, identity), ties to the larger identity;
// *job_id = (identity >> 48) << 48 | r and *m its member. No member up:
// TASQ_EUNAVAILABLE, err naming each member and why it is not up (now_ms
// gives "down for N s").
int tasq_shard_place(tasq_shard *s, uint64_t r, uint64_t now_ms,
    uint64_t *job_id, tasq_shard_member *m, char *err, size_t errlen);

// tasq_shard_place_new is tasq_shard_place with a fresh r (lib/rand.h).
int tasq_shard_place_new(tasq_shard *s, uint64_t now_ms, uint64_t *job_id,
    tasq_shard_member *m, char *err, size_t errlen);

// tasq_shard_find puts into out (at most max) the members whose tag is
// job_id >> 48, one per server (an alias that is up rather than one that
// is down), in number order, and how many it copied into *n (several on
// a tag collision: ask each; at most TASQ_SHARD_MAX_MEMBERS). None:
// TASQ_ENOT_FOUND naming the tag, or TASQ_EUNAVAILABLE when some members are
// not probed yet (the tag may be theirs: probe, then ask again).
int tasq_shard_find(tasq_shard *s, uint64_t job_id, tasq_shard_member *out,
    size_t max, size_t *n, char *err, size_t errlen);

#endif
