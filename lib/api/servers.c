// servers: a session's several servers (issue 15; api_int.h's last
// section, docs/LIBRARY.md "Several servers"): the set of lib/api/shard.h,
// one tasq_chan per member, the prober thread that keeps the members'
// states and the names' addresses fresh, and the routing of calls to a
// member. A session with one server (one IP literal or ipc:// URL) never
// comes here (s->servers NULL); a name is a set even with one address.
//
// Lock order: the session's mutex, then sv->mtx, then the shard's own
// (which never blocks). sv->mtx is never held across a chan call, a chan
// open or close (a chan's connection callback takes it), or a name lookup.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "clock.h"
#include "rand.h"

// One member's channel (hung on the shard's member as its user).
struct mem {
	tasq_api_servers *sv;
	uint32_t          num;
	tasq_chan        *chan;      // NULL until a dial succeeded
	unsigned          refs;      // holds (tasq_api_member_hold)
	bool              removed;   // no longer a member: close at refs 0
	bool              connected; // a connection is up (its callback)
	bool              kick;      // it came back: probe it now
	bool              probing;   // a probe of it is running
	// Its last probe was refused: its TLS handshake (NNG_ECRYPTO,
	// NNG_EPEERAUTH: a CA, name or client certificate that does not
	// fit) or Health (UNAUTHENTICATED). Not retried by the open.
	bool        refused;
	nng_thread *opener; // the open's probe of it (joined at free)
	struct mem *next;   // in number order
};

struct tasq_api_servers {
	tasq_session  *s;
	tasq_shard    *shard;
	nng_mtx       *mtx; // guards what follows and every struct mem
	nng_cv        *cv;
	nng_cv        *settled; // a probe ended (a member's state is known)
	struct mem    *mems;
	nng_thread    *prober;
	bool           stop;
	bool           opened;  // the open returned: its retries stop
	uint64_t       open_by; // the open's deadline (connect-timeout)
	unsigned       waiters; // callers waiting for members not probed
	unsigned       opening; // the open's probes still running
	tasq_chan_opts co;      // every member's, but url and server name
	char          *sni;     // tls-server-name, or NULL: each item's host
	uint32_t       pinned;  // s->chan's member (0: none)

	// The members' dials (tasq_chan_opts.cancel): fired at free.
	tasq_chan_cancel *cancel;
};

static uint64_t
now_ms(void)
{
	return (tasq_clock_mono_ms());
}

static bool
transport_err(int rv)
{
	return (rv > 0 && rv < TASQ_ERR_BASE);
}

// ---- members --------------------------------------------------------------

static struct mem *
mem_find(tasq_api_servers *sv, uint32_t num)
{
	for (struct mem *m = sv->mems; m != NULL; m = m->next) {
		if (m->num == num) {
			return (m);
		}
	}
	return (NULL);
}

static void
mem_unlink(tasq_api_servers *sv, struct mem *m)
{
	for (struct mem **pp = &sv->mems; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == m) {
			*pp = m->next;
			return;
		}
	}
}

// Closes and frees m (unlinked, no holds): outside sv->mtx, since the
// chan's callback takes it (and the open's probe of it, joined first).
static void
mem_free(struct mem *m)
{
	if (m->opener != NULL) {
		nng_thread_destroy(m->opener);
	}
	tasq_chan_close(m->chan);
	free(m);
}

// A connection of m's chan came up or went down (an nng thread).
static void
mem_conn_cb(void *arg, bool up)
{
	struct mem       *m  = arg;
	tasq_api_servers *sv = m->sv;

	nng_mtx_lock(sv->mtx);
	m->connected = up;
	if (up) {
		m->kick = true;
		nng_cv_wake(sv->cv);
	}
	nng_mtx_unlock(sv->mtx);
	if (!up) {
		(void) tasq_shard_mark_down(
		    sv->shard, m->num, now_ms(), "connection lost");
	}
}

// Dials member mi (not under sv->mtx); 0 or the chan's error in err.
static int
mem_dial(tasq_api_servers *sv, struct mem *m, const tasq_shard_member *mi,
    uint32_t connect_timeout_ms, tasq_chan **cp, char *err, size_t errlen)
{
	tasq_chan_opts co = sv->co;

	co.url                = mi->url;
	co.tls_server_name    = sv->sni != NULL ? sv->sni : mi->host;
	co.connect_timeout_ms = connect_timeout_ms;
	co.conn_cb            = mem_conn_cb;
	co.conn_arg           = m;
	return (tasq_chan_open(cp, &co, err, errlen));
}

// Probes member num: dials it if it has no chan yet, then asks Health;
// marks it up (with its identity) or down. The dial waits up to
// connect_timeout_ms (0: one attempt), the Health reply up to health_ms
// (at least a second). Called by probe() alone.
static void
probe_once(tasq_api_servers *sv, struct mem *m, uint32_t connect_timeout_ms,
    uint32_t health_ms)
{
	tasq_shard_member mi;
	tasq_chan        *c;
	tasq_req          req;
	tasq_rep          rep;
	char              err[256];
	bool              connected;
	int               rv;

	if (tasq_shard_get(sv->shard, m->num, &mi) != 0) {
		return;
	}
	nng_mtx_lock(sv->mtx);
	c         = m->chan;
	connected = m->connected;
	m->kick   = false;
	nng_mtx_unlock(sv->mtx);
	if (c == NULL) {
		if ((rv = mem_dial(sv, m, &mi, connect_timeout_ms, &c, err,
		         sizeof(err))) != 0) {
			// As with one server (session.c), a TLS failure is
			// a refusal: lib/tls_ossl.c (conn_fail) keeps it from
			// being seen as a connection shut down.
			nng_mtx_lock(sv->mtx);
			m->refused = rv == NNG_ECRYPTO || rv == NNG_EPEERAUTH;
			nng_mtx_unlock(sv->mtx);
			(void) tasq_shard_mark_down(
			    sv->shard, m->num, now_ms(), err);
			return;
		}
		nng_mtx_lock(sv->mtx);
		m->chan = c;
		nng_mtx_unlock(sv->mtx);
		connected = true;
	}
	if (!connected) {
		// Its chan redials in the background; its callback kicks
		// the prober when a connection is back.
		(void) tasq_shard_mark_down(sv->shard, m->num, now_ms(),
		    mi.err[0] != '\0' ? mi.err : "not connected");
		return;
	}
	memset(&req, 0, sizeof(req));
	req.method = TASQ_M_HEALTH;
	rv = tasq_chan_call(c, &req, health_ms > 1000 ? health_ms : 1000, &rep,
	    err, sizeof(err));
	if (rv == 0 && !rep.u.health.serving) {
		tasq_wire_rep_fini(&rep);
		snprintf(err, sizeof(err), "not serving");
		rv = TASQ_EUNAVAILABLE;
	}
	nng_mtx_lock(sv->mtx);
	m->refused = rv == TASQ_EUNAUTHENTICATED;
	nng_mtx_unlock(sv->mtx);
	if (rv != 0) {
		(void) tasq_shard_mark_down(sv->shard, m->num, now_ms(), err);
		return;
	}
	(void) tasq_shard_mark_up(
	    sv->shard, m->num, rep.u.health.identity, now_ms());
	tasq_wire_rep_fini(&rep);
}

// Probes m (probe_once) unless a probe of it is running already (the
// open's and the prober's may meet: the running one marks it), then
// wakes those waiting for a member's state. Only the prober and the
// open's threads probe; members are removed only by the prober, and a
// removed member's open probe is joined before it is freed, so m stays
// valid.
static void
probe(tasq_api_servers *sv, struct mem *m, uint32_t connect_timeout_ms,
    uint32_t health_ms)
{
	nng_mtx_lock(sv->mtx);
	if (m->probing) {
		// Another thread probes it now (the prober, or the open's):
		// that probe is this one; its end is waited for, so that an
		// open's probe ends with the member's state known
		// (tasq_api_members waits for the open's).
		uint64_t until = now_ms() + (uint64_t) connect_timeout_ms +
		    health_ms + 1000;
		uint64_t now;
		while (m->probing && !sv->stop && (now = now_ms()) < until) {
			(void) nng_cv_until(sv->settled,
			    nng_clock() + (nng_time) (until - now));
		}
		nng_mtx_unlock(sv->mtx);
		return;
	}
	m->probing = true;
	nng_mtx_unlock(sv->mtx);
	probe_once(sv, m, connect_timeout_ms, health_ms);
	nng_mtx_lock(sv->mtx);
	m->probing = false;
	nng_cv_wake(sv->settled);
	nng_mtx_unlock(sv->mtx);
}

static tasq_shard_state
state_of(tasq_api_servers *sv, uint32_t num)
{
	tasq_shard_member mi;

	return (tasq_shard_get(sv->shard, num, &mi) == 0 ? mi.state
	                                                 : TASQ_SHARD_DOWN);
}

// Waits (at most until until_ms) while a member is not probed yet
// (state unknown: its first probe is running or due), all of them or
// only member num: such a member is not known to be down, and placement
// needs its identity (rendezvous), a lookup by id its tag. Under sv->mtx.
static void
wait_unknown(tasq_api_servers *sv, uint32_t num, uint64_t until_ms)
{
	for (;;) {
		bool     pending = false;
		uint64_t now;
		for (struct mem *m = sv->mems; m != NULL && !pending;
		     m             = m->next) {
			pending = !m->removed && (num == 0 || m->num == num) &&
			    state_of(sv, m->num) == TASQ_SHARD_UNKNOWN;
		}
		if (!pending || sv->stop || (now = now_ms()) >= until_ms) {
			return;
		}
		// Its first probe is due: the prober takes it at once
		// unless the open's is running.
		nng_cv_wake(sv->cv);
		sv->waiters++;
		(void) nng_cv_until(
		    sv->settled, nng_clock() + (nng_time) (until_ms - now));
		sv->waiters--;
	}
}

static void
await_unknown(tasq_api_servers *sv, uint32_t num)
{
	uint64_t until = now_ms() + sv->s->connect_timeout_ms;

	nng_mtx_lock(sv->mtx);
	wait_unknown(sv, num, until);
	nng_mtx_unlock(sv->mtx);
}

// Applies a resolution's changes: new members get a struct mem (dialed
// by their first probe), removed ones are closed once nobody holds them.
static void
apply_changes(tasq_api_servers *sv, tasq_shard_change *ch, size_t nch)
{
	struct mem *gone = NULL;

	for (size_t i = 0; i < nch; i++) {
		struct mem *m;
		nng_mtx_lock(sv->mtx);
		if (ch[i].added) {
			struct mem **pp = &sv->mems;
			if ((m = calloc(1, sizeof(*m))) != NULL) {
				m->sv  = sv;
				m->num = ch[i].m.num;
				while (*pp != NULL) {
					pp = &(*pp)->next;
				}
				*pp = m;
			}
			nng_mtx_unlock(sv->mtx);
			if (m == NULL) {
				// Out of memory: the member stays unknown
				// and is never dialed.
				continue;
			}
			(void) tasq_shard_set_user(sv->shard, m->num, m);
			continue;
		}
		if ((m = mem_find(sv, ch[i].m.num)) != NULL) {
			m->removed = true;
			if (m->refs == 0) {
				mem_unlink(sv, m);
				m->next = gone;
				gone    = m;
			}
		}
		nng_mtx_unlock(sv->mtx);
	}
	while (gone != NULL) {
		struct mem *m = gone;
		gone          = m->next;
		mem_free(m);
	}
}

static int
resolve(tasq_api_servers *sv, char *err, size_t errlen)
{
	tasq_shard_change *ch  = NULL;
	size_t             nch = 0;
	int                rv;

	rv = tasq_shard_resolve(sv->shard, now_ms(), &ch, &nch, err, errlen);
	apply_changes(sv, ch, nch);
	free(ch);
	return (rv);
}

static bool
any_up_locked(tasq_api_servers *sv)
{
	bool up = false;

	for (struct mem *m = sv->mems; m != NULL && !up; m = m->next) {
		up = state_of(sv, m->num) == TASQ_SHARD_UP;
	}
	return (up);
}

static bool
any_up(tasq_api_servers *sv)
{
	bool up;

	nng_mtx_lock(sv->mtx);
	up = any_up_locked(sv);
	nng_mtx_unlock(sv->mtx);
	return (up);
}

// The prober: resolution when due, probes when due or kicked, then a wait
// until the next thing is due (or a kick, or the stop).
static void
prober(void *arg)
{
	tasq_api_servers *sv = arg;
	uint32_t          nums[TASQ_SHARD_MAX_MEMBERS];
	char              err[256];

	nng_mtx_lock(sv->mtx);
	while (!sv->stop) {
		uint64_t next = UINT64_MAX, now;
		size_t   n, nk = 0;
		uint32_t kicked[TASQ_SHARD_MAX_MEMBERS];

		nng_mtx_unlock(sv->mtx);
		(void) resolve(sv, err, sizeof(err));
		n = tasq_shard_due(
		    sv->shard, now_ms(), nums, TASQ_SHARD_MAX_MEMBERS, &next);
		nng_mtx_lock(sv->mtx);
		for (struct mem *m = sv->mems; m != NULL; m = m->next) {
			tasq_shard_member mi;
			// A connection came up: probe the member unless it
			// is up already (its first connection, at its dial).
			if (m->kick && nk < TASQ_SHARD_MAX_MEMBERS &&
			    tasq_shard_get(sv->shard, m->num, &mi) == 0 &&
			    mi.state != TASQ_SHARD_UP) {
				kicked[nk++] = m->num;
			}
			m->kick = false;
		}
		nng_mtx_unlock(sv->mtx);
		for (size_t i = 0; i < n + nk; i++) {
			uint32_t    num = i < n ? nums[i] : kicked[i - n];
			struct mem *m;
			bool        stop;
			nng_mtx_lock(sv->mtx);
			m    = mem_find(sv, num);
			stop = sv->stop;
			nng_mtx_unlock(sv->mtx);
			if (stop) {
				break; // the session is freed: no more probes
			}
			if (m != NULL) {
				// One dial attempt: the prober must not sit
				// in a dial while others are due.
				probe(sv, m, 0, sv->s->connect_timeout_ms);
			} else if (i < n) {
				(void) tasq_shard_mark_down(
				    sv->shard, num, now_ms(), "no channel");
			}
		}
		if (n + nk > 0 && !any_up(sv)) {
			// Every server down: a replaced pod may have a new
			// address.
			tasq_shard_resolve_soon(sv->shard);
		}
		nng_mtx_lock(sv->mtx);
		if (n + nk > 0 || sv->stop) {
			continue; // probes may have made more due
		}
		now = now_ms();
		if (next == UINT64_MAX || next > now + 60000) {
			next = now + 60000;
		}
		bool kicked_meanwhile = false;
		for (struct mem *m = sv->mems; m != NULL; m = m->next) {
			kicked_meanwhile |= m->kick;
		}
		if (!kicked_meanwhile && next > now) {
			(void) nng_cv_until(
			    sv->cv, nng_clock() + (nng_time) (next - now));
		}
	}
	nng_mtx_unlock(sv->mtx);
}

// ---- open and free --------------------------------------------------------

void
tasq_api_servers_free(tasq_api_servers *sv)
{
	struct mem *m;

	if (sv == NULL) {
		return;
	}
	if (sv->mtx != NULL && sv->cv != NULL && sv->settled != NULL) {
		nng_mtx_lock(sv->mtx);
		sv->stop   = true;
		sv->opened = true;
		nng_cv_wake(sv->cv);
		nng_cv_wake(sv->settled);
		nng_mtx_unlock(sv->mtx);
	}
	// The dials under way (the prober's, the open's probes') end within
	// a second, whatever their address does (lib/chan.h); later ones
	// fail at once.
	tasq_chan_cancel_fire(sv->cancel);
	if (sv->prober != NULL) {
		nng_thread_destroy(sv->prober);
	}
	// The open's probes still running end first (they walk the list):
	// a dial (cancelled) or a Health reply bounded by its own limit.
	for (m = sv->mems; m != NULL; m = m->next) {
		if (m->opener != NULL) {
			nng_thread_destroy(m->opener);
			m->opener = NULL;
		}
	}
	// No call is running (the session's holds are all released).
	while ((m = sv->mems) != NULL) {
		sv->mems = m->next;
		mem_free(m);
	}
	tasq_shard_free(sv->shard);
	tasq_chan_cancel_free(sv->cancel);
	free(sv->sni);
	if (sv->settled != NULL) {
		nng_cv_free(sv->settled);
	}
	if (sv->cv != NULL) {
		nng_cv_free(sv->cv);
	}
	if (sv->mtx != NULL) {
		nng_mtx_free(sv->mtx);
	}
	free(sv);
}

// The open's probe of member m: one dial attempt, so that a refused
// connection (nothing listening: a server killed or not started) is known
// down at once, then Health (up to connect-timeout). While no member is
// up and the open's deadline has not passed, a member whose dial failed
// is dialed again every 100 ms (servers starting together with their
// clients: one server waits connect-timeout for its server the same way),
// unless it was refused (TLS, as one server's dial ends at once on it).
static void
open_one(void *arg)
{
	struct mem       *m  = arg;
	tasq_api_servers *sv = m->sv;

	for (;;) {
		probe(sv, m, 0, sv->s->connect_timeout_ms);
		nng_mtx_lock(sv->mtx);
		if (m->chan != NULL || m->refused || sv->opened ||
		    any_up_locked(sv) || now_ms() >= sv->open_by) {
			sv->opening--;
			nng_cv_wake(sv->settled);
			nng_mtx_unlock(sv->mtx);
			return;
		}
		uint64_t wait = sv->open_by - now_ms();
		(void) nng_cv_until(sv->settled,
		    nng_clock() + (nng_time) (wait < 100 ? wait : 100));
		nng_mtx_unlock(sv->mtx);
	}
}

// Whether the open can return (under sv->mtx): a member is up and every
// member before it in the list is known down (so the default member,
// the first one up, is the one it always was). The members after it may
// still be probed: the calls that need them wait for their probes
// (wait_unknown), the others need not.
static bool
open_ready(tasq_api_servers *sv)
{
	for (struct mem *m = sv->mems; m != NULL; m = m->next) {
		switch (state_of(sv, m->num)) {
		case TASQ_SHARD_UP:
			return (true);
		case TASQ_SHARD_DOWN:
			continue;
		default:
			return (false);
		}
	}
	return (false);
}

// Several servers: the set, its members dialed and probed in parallel
// (each for up to connect-timeout), the prober started. *svp NULL and 0:
// spec is one server (one URL that is an IP literal or ipc://), for the
// caller's single-server path; a list or a name is a set, even of one. An
// error when no member is reachable, err naming each and why.
int
tasq_api_servers_open(tasq_session *s, const char *spec,
    const tasq_chan_opts *co, const tasq_shard_opts *so,
    tasq_api_servers **svp, char *err, size_t errlen)
{
	tasq_api_servers *sv;
	tasq_shard_opts   o;
	size_t            len;
	bool              auth_only = true, ok;
	char              why[256];
	int               rv;

	*svp = NULL;
	if (so != NULL) {
		o = *so;
	} else {
		memset(&o, 0, sizeof(o));
	}
	o.resolve_interval_ms =
	    tasq_api_opts_u64(s->opts, TASQ_API_OPT_RESOLVE_INTERVAL);
	if ((sv = calloc(1, sizeof(*sv))) == NULL ||
	    nng_mtx_alloc(&sv->mtx) != 0 ||
	    nng_cv_alloc(&sv->cv, sv->mtx) != 0 ||
	    nng_cv_alloc(&sv->settled, sv->mtx) != 0 ||
	    tasq_chan_cancel_alloc(&sv->cancel) != 0) {
		tasq_api_servers_free(sv);
		snprintf(err, errlen, "out of memory");
		return (TASQ_ERESOURCE_EXHAUSTED);
	}
	sv->s  = s;
	sv->co = *co;
	// A probe's dial is one attempt (mem_dial): at most connect-timeout
	// (a second at least), and cancelled when the session is freed.
	sv->co.dial_timeout_ms = co->connect_timeout_ms;
	sv->co.cancel          = sv->cancel;
	if (co->tls_server_name != NULL &&
	    (sv->sni = strdup(co->tls_server_name)) == NULL) {
		tasq_api_servers_free(sv);
		snprintf(err, errlen, "out of memory");
		return (TASQ_ERESOURCE_EXHAUSTED);
	}
	sv->co.tls_server_name = NULL;
	if ((rv = tasq_shard_alloc(&sv->shard, spec, &o, err, errlen)) != 0) {
		tasq_api_servers_free(sv);
		return (rv);
	}
	if (strchr(spec, ',') == NULL && !tasq_shard_has_names(sv->shard)) {
		// One server (an IP literal, ipc://): the caller dials spec
		// as it always did. A name is a set even with one address
		// (or none yet): it is looked up again, and a server added
		// behind it (a StatefulSet scaled up, its other pods ready
		// after this one) becomes a member.
		tasq_api_servers_free(sv);
		return (0);
	}
	// A name with no address yet (a headless Service whose pods are
	// not ready): looked up again every 100 ms until connect-timeout,
	// as a refused dial is.
	sv->open_by = now_ms() + s->connect_timeout_ms;
	rv          = resolve(sv, why, sizeof(why));
	while (tasq_shard_count(sv->shard) == 0 && now_ms() < sv->open_by) {
		uint64_t left = sv->open_by - now_ms();
		nng_msleep((nng_duration) (left < 100 ? left : 100));
		tasq_shard_resolve_soon(sv->shard);
		rv = resolve(sv, why, sizeof(why));
	}
	if (tasq_shard_count(sv->shard) == 0) {
		snprintf(err, errlen, "no server address: %s", why);
		tasq_api_servers_free(sv);
		return (rv != 0 ? rv : TASQ_EUNAVAILABLE);
	}
	// Dial and probe every member at once (a thread each, no lock held:
	// only the prober, not started yet, changes the list), and return as
	// soon as the default member is known: a refused member costs
	// nothing, one that does not answer costs at most connect-timeout,
	// and only to the calls that need it.
	for (struct mem *m = sv->mems; m != NULL; m = m->next) {
		nng_mtx_lock(sv->mtx);
		sv->opening++;
		nng_mtx_unlock(sv->mtx);
		if (nng_thread_create(&m->opener, open_one, m) != 0) {
			m->opener = NULL;
			open_one(m);
		}
	}
	nng_mtx_lock(sv->mtx);
	while (!(ok = open_ready(sv)) && sv->opening > 0 &&
	    now_ms() < sv->open_by) {
		(void) nng_cv_until(sv->settled,
		    nng_clock() + (nng_time) (sv->open_by - now_ms()));
	}
	sv->opened = true;
	nng_cv_wake(sv->settled);
	nng_mtx_unlock(sv->mtx);
	if (!ok) {
		// Every probe ends (its retries stop): the states are final.
		for (struct mem *m = sv->mems; m != NULL; m = m->next) {
			if (m->opener != NULL) {
				nng_thread_destroy(m->opener);
				m->opener = NULL;
			}
		}
		ok = any_up(sv);
	}
	if (!ok) {
		tasq_shard_member ms[TASQ_SHARD_MAX_MEMBERS];
		size_t            k =
		    tasq_shard_members(sv->shard, ms, TASQ_SHARD_MAX_MEMBERS);
		k   = k < TASQ_SHARD_MAX_MEMBERS ? k : TASQ_SHARD_MAX_MEMBERS;
		len = (size_t) snprintf(
		    err, errlen, "no server is reachable (%zu known): ", k);
		// Every member refused (TLS, or its key): the code of a
		// refusal, as with one server; else one was not reached.
		nng_mtx_lock(sv->mtx);
		for (struct mem *m = sv->mems; m != NULL; m = m->next) {
			auth_only = auth_only && m->refused;
		}
		nng_mtx_unlock(sv->mtx);
		for (size_t i = 0; i < k && len < errlen; i++) {
			len += (size_t) snprintf(err + len, errlen - len,
			    "%s%s: %s", i > 0 ? "; " : "", ms[i].url,
			    ms[i].err[0] != '\0' ? ms[i].err : "not probed");
		}
		tasq_api_servers_free(sv);
		return (auth_only ? TASQ_EUNAUTHENTICATED : TASQ_EUNAVAILABLE);
	}
	if (nng_thread_create(&sv->prober, prober, sv) != 0) {
		sv->prober = NULL;
		tasq_api_servers_free(sv);
		snprintf(err, errlen, "cannot start a thread");
		return (TASQ_ERESOURCE_EXHAUSTED);
	}
	*svp = sv;
	return (0);
}

// The chan of the first member up (s->chan with several servers: kept
// open until the session is freed, whatever becomes of the member).
tasq_chan *
tasq_api_servers_first_chan(tasq_api_servers *sv)
{
	tasq_shard_member mi;
	tasq_chan        *c = NULL;

	nng_mtx_lock(sv->mtx);
	for (struct mem *m = sv->mems; m != NULL && c == NULL; m = m->next) {
		if (m->chan != NULL &&
		    tasq_shard_get(sv->shard, m->num, &mi) == 0 &&
		    mi.state == TASQ_SHARD_UP) {
			c          = m->chan;
			sv->pinned = m->num;
			m->refs++; // never released: pinned
		}
	}
	nng_mtx_unlock(sv->mtx);
	return (c);
}

// ---- routing
// ----------------------------------------------------------------

static void
down_msg(const tasq_shard_member *mi, char *err, size_t errlen)
{
	uint64_t now   = now_ms();
	uint64_t for_s = now > mi->since_ms ? (now - mi->since_ms) / 1000 : 0;

	snprintf(err, errlen, "server %s down for %llu s: %s", mi->url,
	    (unsigned long long) for_s,
	    mi->err[0] != '\0' ? mi->err : "not probed yet");
}

// Holds member (ANY: the first up) for a call: sv->mtx taken here.
static int
hold(tasq_api_servers *sv, uint32_t member, struct mem **mp,
    tasq_shard_member *mi, char *err, size_t errlen)
{
	struct mem *m;

	nng_mtx_lock(sv->mtx);
	if (member == TASQ_API_MEMBER_ANY) {
		// s->chan's member while it is up (code that uses s->chan
		// directly and code that calls through here then agree),
		// else the first up.
		m = mem_find(sv, sv->pinned);
		if (m != NULL && m->chan != NULL && !m->removed &&
		    tasq_shard_get(sv->shard, m->num, mi) == 0 &&
		    mi->state == TASQ_SHARD_UP) {
			goto found;
		}
		for (m = sv->mems; m != NULL; m = m->next) {
			if (m->chan != NULL && !m->removed &&
			    tasq_shard_get(sv->shard, m->num, mi) == 0 &&
			    mi->state == TASQ_SHARD_UP) {
				break;
			}
		}
		if (m == NULL) {
			uint64_t id;
			nng_mtx_unlock(sv->mtx);
			// The shard's message names each member and why.
			if (tasq_shard_place_new(sv->shard, now_ms(), &id, mi,
			        err, errlen) == 0) {
				snprintf(err, errlen, "no server is up");
			}
			return (TASQ_EUNAVAILABLE);
		}
	} else {
		m = mem_find(sv, member);
		if (m == NULL || m->removed ||
		    tasq_shard_get(sv->shard, member, mi) != 0) {
			nng_mtx_unlock(sv->mtx);
			snprintf(err, errlen,
			    "server #%u is no longer one of the session's",
			    (unsigned) member);
			return (TASQ_EUNAVAILABLE);
		}
		if (m->chan == NULL ||
		    (mi->state == TASQ_SHARD_DOWN && !m->connected)) {
			nng_mtx_unlock(sv->mtx);
			down_msg(mi, err, errlen);
			return (TASQ_EUNAVAILABLE);
		}
	}
found:
	m->refs++;
	nng_mtx_unlock(sv->mtx);
	*mp = m;
	return (0);
}

static void
release(tasq_api_servers *sv, struct mem *m)
{
	bool gone = false;

	nng_mtx_lock(sv->mtx);
	if (--m->refs == 0 && m->removed) {
		mem_unlink(sv, m);
		gone = true;
	}
	nng_mtx_unlock(sv->mtx);
	if (gone) {
		mem_free(m);
	}
}

// After a call on member m: a transport failure marks it down, a success
// marks a member that was not up up.
static void
after_call(tasq_api_servers *sv, struct mem *m, const tasq_shard_member *mi,
    int rv, const char *why)
{
	if (transport_err(rv)) {
		(void) tasq_shard_mark_down(sv->shard, m->num, now_ms(), why);
	} else if (rv == 0 && mi->state != TASQ_SHARD_UP && mi->probed) {
		(void) tasq_shard_mark_up(
		    sv->shard, m->num, mi->identity, now_ms());
	}
}

int
tasq_api_servers_call(tasq_session *s, uint32_t member, const tasq_req *req,
    uint32_t timeout_ms, tasq_rep *rep, char *err, size_t errlen)
{
	tasq_api_servers *sv = s->servers;
	tasq_shard_member mi;
	struct mem       *m;
	int               rv;

	if (sv == NULL) {
		if (member != TASQ_API_MEMBER_ANY && member != 1) {
			snprintf(err, errlen,
			    "server #%u is not the session's (it has one)",
			    (unsigned) member);
			return (TASQ_EUNAVAILABLE);
		}
		return (tasq_api_err(tasq_chan_call(
		    s->chan, req, timeout_ms, rep, err, errlen)));
	}
	if (member != TASQ_API_MEMBER_ANY) {
		await_unknown(sv, member); // its first probe may be running
	}
	if ((rv = hold(sv, member, &m, &mi, err, errlen)) != 0) {
		return (rv);
	}
	rv = tasq_chan_call(m->chan, req, timeout_ms, rep, err, errlen);
	after_call(sv, m, &mi, rv, err);
	if (transport_err(rv)) {
		char why[256];
		snprintf(why, sizeof(why), "%s", err);
		// Cut to errlen if it must be (the server's URL first).
		if (snprintf(err, errlen, "server %s: %s", mi.url, why) < 0) {
			err[0] = '\0';
		}
	}
	release(sv, m);
	return (tasq_api_err(rv));
}

// ---- the internal API (api_int.h)
// -------------------------------------------

bool
tasq_api_sharded(tasq_session *s)
{
	return (s->servers != NULL);
}

int
tasq_api_place_job(tasq_session *s, uint64_t *job_id, uint32_t *member,
    char *err, size_t errlen)
{
	tasq_shard_member mi;
	int               rv;

	if (s->servers == NULL) {
		*job_id = tasq_random64() | 1;
		*member = 1;
		return (0);
	}
	// Rendezvous needs the identity of every member not known down.
	await_unknown(s->servers, 0);
	if ((rv = tasq_shard_place_new(s->servers->shard, now_ms(), job_id,
	         &mi, err, errlen)) != 0) {
		return (rv);
	}
	*member = mi.num;
	return (0);
}

int
tasq_api_place_job_r(tasq_session *s, uint64_t r, uint64_t *job_id,
    uint32_t *member, char *err, size_t errlen)
{
	tasq_shard_member mi;
	int               rv;

	if (s->servers == NULL) {
		*job_id = r;
		*member = 1;
		return (0);
	}
	await_unknown(s->servers, 0);
	if ((rv = tasq_shard_place(s->servers->shard, r, now_ms(), job_id, &mi,
	         err, errlen)) != 0) {
		return (rv);
	}
	*member = mi.num;
	return (0);
}

int
tasq_api_job_member(tasq_session *s, uint64_t job_id, uint32_t *member,
    char *err, size_t errlen)
{
	tasq_shard_member ms[TASQ_SHARD_MAX_MEMBERS];
	size_t            n = 0, len = 0;
	int               rv;

	if (s->servers == NULL) {
		*member = 1;
		return (0);
	}
	rv = tasq_shard_find(s->servers->shard, job_id, ms,
	    TASQ_SHARD_MAX_MEMBERS, &n, err, errlen);
	if (rv == TASQ_EUNAVAILABLE) {
		// Not found among the members probed: the job's may be one
		// whose first probe is running.
		await_unknown(s->servers, 0);
		rv = tasq_shard_find(s->servers->shard, job_id, ms,
		    TASQ_SHARD_MAX_MEMBERS, &n, err, errlen);
	}
	if (rv != 0) {
		return (rv);
	}
	if (n == 1) {
		if (ms[0].state == TASQ_SHARD_DOWN) {
			down_msg(&ms[0], err, errlen);
			return (TASQ_EUNAVAILABLE);
		}
		*member = ms[0].num;
		return (0);
	}
	// A tag collision: the one that knows the job.
	for (size_t i = 0; i < n; i++) {
		tasq_req req;
		tasq_rep rep;
		char     why[256];
		memset(&req, 0, sizeof(req));
		req.method              = TASQ_M_JOB_STATUS;
		req.u.job_status.job_id = job_id;
		rv                      = tasq_api_servers_call(
		                         s, ms[i].num, &req, s->timeout_ms, &rep, why, sizeof(why));
		if (rv == 0) {
			tasq_wire_rep_fini(&rep);
			*member = ms[i].num;
			return (0);
		}
		if (len < errlen) {
			len += (size_t) snprintf(err + len, errlen - len,
			    "%s%s: %s", i > 0 ? "; " : "", ms[i].url, why);
		}
	}
	return (TASQ_ENOT_FOUND);
}

size_t
tasq_api_members(tasq_session *s, tasq_shard_member *out, size_t max)
{
	if (s->servers == NULL) {
		if (max > 0) {
			memset(out, 0, sizeof(*out));
			out->num = 1;
			snprintf(out->url, sizeof(out->url), "%s",
			    s->opts->val[TASQ_API_OPT_SERVER]);
			out->state = TASQ_SHARD_UP;
		}
		return (1);
	}
	// The open's probes first (they end by about the open's deadline):
	// a listing of the members (stats --all, a worker's first rounds)
	// shows each one's state and identity, as it did when the open
	// waited for them all.
	tasq_api_servers *sv = s->servers;
	nng_mtx_lock(sv->mtx);
	uint64_t until = sv->open_by + sv->s->connect_timeout_ms, now;
	while (sv->opening > 0 && !sv->stop && (now = now_ms()) < until) {
		(void) nng_cv_until(
		    sv->settled, nng_clock() + (nng_time) (until - now));
	}
	nng_mtx_unlock(sv->mtx);
	return (tasq_shard_members(sv->shard, out, max));
}

int
tasq_api_member_hold(tasq_session *s, uint32_t member, tasq_chan **chanp,
    uint32_t *nump, char *err, size_t errlen)
{
	tasq_shard_member mi;
	struct mem       *m;
	int               rv;

	if ((rv = tasq_api_session_hold(s)) != 0) {
		snprintf(err, errlen, "the session is closed");
		return (rv);
	}
	if (s->servers == NULL) {
		if (member != TASQ_API_MEMBER_ANY && member != 1) {
			tasq_api_session_release(s);
			snprintf(err, errlen,
			    "server #%u is not the session's (it has one)",
			    (unsigned) member);
			return (TASQ_EUNAVAILABLE);
		}
		*chanp = s->chan;
		if (nump != NULL) {
			*nump = 1;
		}
		return (0);
	}
	if ((rv = hold(s->servers, member, &m, &mi, err, errlen)) != 0) {
		tasq_api_session_release(s);
		return (rv);
	}
	*chanp = m->chan;
	if (nump != NULL) {
		*nump = m->num;
	}
	return (0);
}

void
tasq_api_member_release(tasq_session *s, uint32_t num)
{
	struct mem *m = NULL;

	if (s->servers != NULL) {
		nng_mtx_lock(s->servers->mtx);
		m = mem_find(s->servers, num);
		nng_mtx_unlock(s->servers->mtx);
		if (m != NULL) {
			release(s->servers, m);
		}
	}
	tasq_api_session_release(s);
}

void
tasq_api_member_failed(tasq_session *s, uint32_t num, int rv, const char *why)
{
	if (s->servers != NULL && transport_err(rv)) {
		(void) tasq_shard_mark_down(
		    s->servers->shard, num, now_ms(), why);
	}
}

unsigned
tasq_api_servers_waiters(tasq_session *s)
{
	unsigned n = 0;

	if (s->servers != NULL) {
		nng_mtx_lock(s->servers->mtx);
		n = s->servers->waiters;
		nng_mtx_unlock(s->servers->mtx);
	}
	return (n);
}
