#include "serve.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

// err.h (by handler.h) before the public header: both declare enum
// tasq_err.
#include "clock.h"
#include "err.h"
#include "handler.h"
#include "log.h"

#include <tasq/tasq.h>

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000
#define DRAIN_MS 10000 // how long the last results may take to go

struct thr;

struct proc {
	const tasq_worker_conf *conf;
	tasq_serve             *w;
	atomic_bool             draining;
	bool                    retry_refusal; // else a refusal ends it
	struct thr             *thr;           // conf->pipeline of them
	char                    name[80];
};

// A lease thread: its handlers (one per type of the configuration), and
// what it runs, for cancels and the --task-timeout watchdog.
struct thr {
	struct proc    *p;
	pthread_t       thread;
	bool            started;
	tasq_handler  **handlers;
	tasq_cancel     cancel;    // the running batch's (handler.h)
	bool            cinit;     // cancel and mtx were made
	pthread_mutex_t mtx;       // guards the fields below
	tasq_lease     *lease;     // the lease in hand, NULL when none
	size_t          first;     // the running batch: tasks first..first+n-1
	size_t          n;         //   of lease (n 0: none)
	bool            cancelled; // the running batch's job was cancelled
	tasq_hres      *busy;      // results being made, NULL when idle
	bool            in_process; // the busy handler is builtin or plugin
	uint64_t        since_ms;   // when busy last made progress
	size_t          seen;       // busy->done at since_ms
};

static void
sleep_ms(uint32_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
		.tv_nsec               = (long) (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void
sleep_drain(struct proc *p, uint32_t ms)
{
	for (uint32_t t = 0; t < ms && !atomic_load(&p->draining); t += 50) {
		sleep_ms(ms - t < 50 ? ms - t : 50);
	}
}

// The library's lines about the link (one per change): process 0 tells
// them, the others only at debug level, so that -j N does not print N
// identical lines. The library set up logging for itself at its first
// session (quiet, named libtasq): the worker's own settings again.
static const tasq_worker_conf *log_conf;

static void
log_again(void)
{
	const tasq_worker_conf *c = log_conf;
	int                     lvl;

	tasq_log_init("tasq-worker");
	lvl = c->log_level != NULL ? tasq_log_level_parse(c->log_level) : -1;
	tasq_log_set_level(lvl >= 0 ? lvl : TASQ_LOG_INFO);
	if (c->log_format != NULL) {
		(void) tasq_log_format_parse(c->log_format);
	}
}

static void
link_log(void *arg, int level, const char *line)
{
	struct proc       *p = arg;
	static atomic_bool again;

	if (!atomic_exchange(&again, true)) {
		log_again(); // the first line comes after the first open
	}
	tasq_log(p->conf->slot != 0 ? TASQ_LOG_DEBUG : level, "%s", line);
}

// The server told that held lease l holds tasks of a cancelled job: the
// thread running a batch of it stops it (tasq_serve_set_cancel_fn: runs
// with the library's lock held; takes the thread's, no library call but
// tasq_lease_cancelled).
static void
cancel_cb(void *arg, tasq_lease *l)
{
	struct proc *p = arg;

	for (uint32_t i = 0; i < p->conf->pipeline; i++) {
		struct thr *t = &p->thr[i];
		if (!t->cinit) {
			continue;
		}
		pthread_mutex_lock(&t->mtx);
		if (t->lease == l && t->n > 0 &&
		    tasq_lease_cancelled(l, t->first)) {
			t->cancelled = true;
			tasq_cancel_set(&t->cancel);
		}
		pthread_mutex_unlock(&t->mtx);
	}
}

// Marks t busy with tasks first..first+n-1 of l (results into h), or
// idle (h NULL). Starting returns whether the batch's job is cancelled
// already (it is then not run); ending, whether it was cancelled while
// it ran.
static bool
thr_busy(struct thr *t, tasq_lease *l, size_t first, size_t n, tasq_hres *h,
    bool inproc)
{
	bool cancelled;

	pthread_mutex_lock(&t->mtx);
	if (h != NULL) {
		cancelled = tasq_lease_cancelled(l, first);
	} else {
		cancelled = t->cancelled;
	}
	t->cancelled = false;
	if (tasq_cancel_is_set(&t->cancel)) {
		tasq_cancel_clear(&t->cancel); // a flag is one batch's
	}
	t->first      = first;
	t->n          = cancelled || h == NULL ? 0 : n;
	t->busy       = cancelled ? NULL : h;
	t->in_process = inproc;
	t->since_ms   = tasq_clock_mono_ms();
	t->seen       = 0;
	pthread_mutex_unlock(&t->mtx);
	return (cancelled);
}

// Hands h's k results to tasks first.. of l: the column, then the
// failures over it.
static void
put_results(tasq_lease *l, size_t first, tasq_hres *h)
{
	tasq_blobs   col;
	uint32_t    *codes;
	const char **errs;
	size_t       k = h->k;

	if (k == 0) {
		return;
	}
	tasq_hres_view(h, &col, &codes, &errs);
	if (tasq_lease_put_column(l, first, k, col.data, col.size, col.width,
	        col.width != 0 ? NULL : col.lens) != 0) {
		tasq_warn("cannot keep results: %s", tasq_errmsg());
		return; // released: another worker computes them
	}
	for (size_t i = 0; codes != NULL && i < k; i++) {
		if (codes[i] != 0) {
			(void) tasq_lease_fail(
			    l, first + i, (int) codes[i], errs[i]);
		}
	}
}

// Runs tasks first..first+n-1 of l (one job's: a batch) through hd into
// h, and puts their results into l. With --task-delay (testing) it goes
// one task at a time and stops when a drain begins. A cancelled job's
// tasks get no result (released with the lease): returns true then.
static bool
run_batch(struct thr *t, tasq_handler *hd, tasq_lease *l, size_t first,
    size_t n, const uint8_t *data, size_t size, const uint32_t *lens,
    tasq_hres *h)
{
	const tasq_worker_conf *conf = t->p->conf;
	tasq_handler_batch      in   = {
		       .n       = n,
		       .width   = tasq_lease_width(l),
		       .lens    = lens,
		       .data    = data,
		       .size    = size,
		       .type    = tasq_lease_type(l),
		       .attempt = tasq_lease_attempt(l, first),
	};

	tasq_cancel_attach(&in, &t->cancel);
	if (tasq_hres_begin(h, n) != 0) {
		return (false); // no memory: released, to be retried
	}
	if (thr_busy(t, l, first, n, h, tasq_handler_in_process(hd))) {
		return (true); // cancelled before it started
	}
	if (conf->task_delay_ms == 0) {
		if (tasq_handler_run(hd, &in, h) != 0) {
			tasq_hres_fail_rest(h,
			    (uint32_t) tasq_err_code(TASQ_ERESOURCE_EXHAUSTED),
			    "out of memory");
		}
		if (thr_busy(t, l, first, n, NULL, false)) {
			return (true);
		}
		put_results(l, first, h);
		return (false);
	}
	// One task at a time (--task-delay): a drain stops between tasks.
	tasq_hres one;
	size_t    off = 0;
	tasq_hres_init(&one);
	for (size_t j = 0; j < n; j++) {
		uint32_t     len = in.width != 0 ? in.width : lens[j];
		tasq_blobs   col;
		uint32_t    *codes;
		const char **errs;
		if (atomic_load(&t->p->draining) ||
		    tasq_cancel_is_set(&t->cancel)) {
			break;
		}
		sleep_ms(conf->task_delay_ms);
		tasq_handler_batch in1 = in;
		in1.n                  = 1;
		in1.data               = data + off;
		in1.size               = len;
		in1.lens               = in.width != 0 ? NULL : &len;
		off += len;
		if (tasq_handler_run(hd, &in1, &one) != 0) {
			break;
		}
		tasq_hres_view(&one, &col, &codes, &errs);
		if (codes != NULL) {
			(void) tasq_hres_fail(h, h->k, codes[0], errs[0]);
		} else {
			(void) tasq_hres_put(h, col.data, col.size);
		}
	}
	tasq_hres_fini(&one);
	if (thr_busy(t, l, first, n, NULL, false)) {
		return (true);
	}
	put_results(l, first, h); // a drain may have cut it short
	return (false);
}

// Runs lease l, batch by batch (the tasks of one job, in a row), through
// the handler of its type.
static void
run_lease(struct thr *t, tasq_lease *l, tasq_hres *h)
{
	const tasq_worker_conf *conf = t->p->conf;
	tasq_handler           *hd   = NULL;
	const char             *type = tasq_lease_type(l);
	size_t                  n = tasq_lease_count(l), size, off = 0;
	uint32_t                width = tasq_lease_width(l);
	const void             *data;
	const uint32_t         *lens;

	for (size_t i = 0; i < conf->ntypes; i++) {
		if (strcmp(conf->types[i], type) == 0) {
			hd = t->handlers[i];
		}
	}
	if (hd == NULL) {
		// Never asked for (a broker bug): failed, to be retried.
		char msg[160];
		snprintf(msg, sizeof(msg),
		    "this worker has no handler for type '%.64s'", type);
		for (size_t i = 0; i < n; i++) {
			(void) tasq_lease_fail(l, i, TASQ_EUNIMPLEMENTED, msg);
		}
		return;
	}
	if (tasq_lease_payloads(&data, &size, &lens, l) != 0) {
		return; // no memory: released, to be retried
	}
	for (size_t i = 0; i < n && !atomic_load(&t->p->draining);) {
		uint64_t job = tasq_lease_job(l, i);
		size_t   j = i, bsize = 0, lo, hi;
		// A job's tasks are in a row: the end of its run by
		// doubling steps, then bisection (one job: one look).
		if (tasq_lease_job(l, n - 1) == job) {
			j = n;
		} else {
			for (lo = i, hi = i + 1;
			     hi < n && tasq_lease_job(l, hi) == job;
			     lo = hi, hi = i + 2 * (hi - i)) {
			}
			hi = hi < n ? hi : n - 1;
			while (hi - lo > 1) { // job(lo) == job != job(hi)
				size_t mid = lo + (hi - lo) / 2;
				if (tasq_lease_job(l, mid) == job) {
					lo = mid;
				} else {
					hi = mid;
				}
			}
			j = hi;
		}
		if (width != 0) {
			bsize = (j - i) * width;
		} else {
			for (size_t k = i; k < j; k++) {
				bsize += lens[k];
			}
		}
		if (run_batch(t, hd, l, i, j - i, (const uint8_t *) data + off,
		        bsize, width != 0 ? NULL : lens + i, h)) {
			tasq_info("lease %llx: 1 job(s) cancelled; stopped "
			          "its tasks",
			    (unsigned long long) tasq_lease_id(l));
		}
		off += bsize;
		i = j;
	}
}

static void *
lease_loop(void *arg)
{
	struct thr  *t = arg;
	struct proc *p = t->p;
	tasq_hres    h;
	uint32_t     backoff = 0;

	tasq_hres_init(&h);
	while (!atomic_load(&p->draining)) {
		tasq_lease *l = NULL;
		int         rv;
		if ((rv = tasq_serve_lease(&l, p->w)) != 0) {
			// Told by the library (link_log); with
			// --exit-on-auth-failure a refusal ends the process
			// here: there is nothing it could hand in.
			if (rv == TASQ_EUNAUTHENTICATED && !p->retry_refusal) {
				_exit(TASQ_WORKER_EXIT_AUTH);
			}
			if (rv == TASQ_EUNAUTHENTICATED) {
				continue; // the library paces the attempts
			}
			backoff = backoff != 0 ? backoff * 2 : BACKOFF_MIN_MS;
			backoff = backoff < BACKOFF_MAX_MS ? backoff
			                                   : BACKOFF_MAX_MS;
			tasq_debug("lease: %s", tasq_errmsg());
			sleep_drain(p, backoff);
			continue;
		}
		backoff = 0;
		if (l == NULL) {
			continue;
		}
		pthread_mutex_lock(&t->mtx);
		t->lease = l;
		pthread_mutex_unlock(&t->mtx);
		run_lease(t, l, &h);
		pthread_mutex_lock(&t->mtx);
		t->lease = NULL;
		t->n     = 0;
		pthread_mutex_unlock(&t->mtx);
		// Results go with the next lease (of any thread); tasks
		// without one are released.
		tasq_lease_done(l);
	}
	tasq_hres_fini(&h);
	return (NULL);
}

// The watchdog of --task-timeout for handlers that run on the lease
// threads (builtin, plugin): a task that makes no progress for that long
// cannot be stopped from outside, so the process ends. First it fails
// that one task with DEADLINE_EXCEEDED (best effort; the rest of the
// lease is released for another worker); the supervisor starts a new
// process. exec and exec-each handlers time their children out
// themselves.
static void
watchdog_fire(struct proc *p, tasq_lease *l, size_t i, bool known)
{
	char msg[200];

	snprintf(msg, sizeof(msg),
	    "ran over --task-timeout (%u ms) in an in-process handler: "
	    "worker process restarted",
	    (unsigned) p->conf->task_timeout_ms);
	tasq_err("task %zu of job %llu: %s", known ? i : 0,
	    (unsigned long long) tasq_lease_job(l, known ? i : 0), msg);
	if (!known) {
		_exit(TASQ_WORKER_EXIT_TIMEOUT); // which task is not known
	}
	// The lease thread is stuck in the handler: l is this thread's now.
	if (tasq_lease_fail(l, i, TASQ_EDEADLINE_EXCEEDED, msg) == 0) {
		(void) tasq_lease_complete(l);
	}
	_exit(TASQ_WORKER_EXIT_TIMEOUT);
}

static void *
watchdog_loop(void *arg)
{
	struct proc *p      = arg;
	uint32_t     period = p->conf->task_timeout_ms / 4;

	period = period < 10 ? 10 : period > 250 ? 250 : period;
	while (!atomic_load(&p->draining)) {
		sleep_ms(period);
		for (uint32_t i = 0; i < p->conf->pipeline; i++) {
			struct thr *t    = &p->thr[i];
			tasq_lease *l    = NULL;
			size_t      k    = 0;
			bool        fire = false, known = false;
			pthread_mutex_lock(&t->mtx);
			if (t->busy != NULL && t->in_process && t->n > 0) {
				size_t done = atomic_load_explicit(
				    &t->busy->done, memory_order_relaxed);
				uint64_t now = tasq_clock_mono_ms();
				if (done != t->seen) {
					t->seen     = done;
					t->since_ms = now;
				} else if (now - t->since_ms >=
				    p->conf->task_timeout_ms) {
					// With put_fixed every result is
					// there from the start: which task
					// hangs is not known (done == n).
					fire  = true;
					l     = t->lease;
					known = done < t->n;
					k     = t->first + done;
				}
			}
			pthread_mutex_unlock(&t->mtx);
			if (fire) {
				watchdog_fire(p, l, k, known);
			}
		}
	}
	return (NULL);
}

// Opens the handlers of every type for one lease thread.
static int
thr_open(struct thr *t, const tasq_worker_conf *conf)
{
	tasq_handler_opts o = {
		.task_timeout_ms = conf->task_timeout_ms,
		.each_parallel   = conf->each_parallel,
		.cancel_grace_ms = conf->cancel_grace_ms,
	};
	char err[512];

	tasq_cancel_init(&t->cancel);
	pthread_mutex_init(&t->mtx, NULL);
	t->cinit = true;
	if ((t->handlers = calloc(conf->ntypes, sizeof(*t->handlers))) ==
	    NULL) {
		tasq_err("out of memory");
		return (1);
	}
	for (size_t i = 0; i < conf->ntypes; i++) {
		if (tasq_handler_open(&t->handlers[i], conf->types[i],
		        conf->handlers[i], &o, err, sizeof(err)) != 0) {
			tasq_err("--type %s=%s: %s", conf->types[i],
			    conf->handlers[i], err);
			return (TASQ_WORKER_EXIT_CONFIG);
		}
	}
	return (0);
}

static void
thr_close_all(struct thr *thr, const tasq_worker_conf *conf)
{
	for (uint32_t i = 0; thr != NULL && i < conf->pipeline; i++) {
		struct thr *t = &thr[i];
		for (size_t k = 0; t->handlers != NULL && k < conf->ntypes;
		     k++) {
			tasq_handler_free(t->handlers[k]);
		}
		free(t->handlers);
		if (t->cinit) {
			pthread_mutex_destroy(&t->mtx);
			tasq_cancel_fini(&t->cancel);
		}
	}
	free(thr);
}

static int
opt(tasq_opts *o, const char *name, const char *value)
{
	return (value == NULL ? 0 : tasq_opts_set(o, name, value));
}

// The session's settings from the tool's parsed options.
static int
opts_make(const tasq_worker_conf *c, tasq_opts **op)
{
	tasq_opts *o = NULL;
	char       tmo[32], msg[32], res[32];
	// An empty key-file (a unit's "--key-file ''", TASQ_KEY_FILE=) is
	// none: the key is then TASQ_KEY's, as lib/auth.c has it.
	const char *kf =
	    c->key_file != NULL && c->key_file[0] != '\0' ? c->key_file : NULL;

	snprintf(tmo, sizeof(tmo), "%ums", (unsigned) c->timeout_ms);
	snprintf(msg, sizeof(msg), "%zu", c->max_msg_bytes);
	snprintf(
	    res, sizeof(res), "%llums", (unsigned long long) c->resolve_ms);
	if (tasq_opts_alloc(&o) != 0 || opt(o, "server", c->server) != 0 ||
	    opt(o, "key-file", kf) != 0 ||
	    opt(o, "key", kf == NULL ? c->key_env : NULL) != 0 ||
	    opt(o, "tls-ca", c->tls_ca) != 0 ||
	    opt(o, "tls-cert", c->tls_cert) != 0 ||
	    opt(o, "tls-key", c->tls_key) != 0 ||
	    opt(o, "tls-server-name", c->tls_server_name) != 0 ||
	    opt(o, "tls-engine", c->tls_engine) != 0 ||
	    opt(o, "tls-min-version", c->tls_min) != 0 ||
	    opt(o, "tls-max-version", c->tls_max) != 0 ||
	    opt(o, "request-timeout", tmo) != 0 ||
	    opt(o, "max-message", msg) != 0 ||
	    opt(o, "resolve-interval", c->resolve_ms != 0 ? res : NULL) != 0) {
		tasq_opts_free(o);
		return (-1);
	}
	*op = o;
	return (0);
}

// The serve handle's settings from the tool's options.
static int
serve_setup(struct proc *p)
{
	const tasq_worker_conf *c = p->conf;
	tasq_serve             *w = p->w;
	char                    host[48];

	if (gethostname(host, sizeof(host)) != 0) {
		strcpy(host, "unknown");
	}
	host[sizeof(host) - 1] = '\0';
	snprintf(p->name, sizeof(p->name), "%s/%d/%u", host, (int) getpid(),
	    (unsigned) c->slot);
	for (size_t i = 0; i < c->ntypes; i++) {
		if (tasq_serve_add_type(w, c->types[i]) != 0) {
			return (-1);
		}
	}
	for (size_t i = 0; i < c->nqueues; i++) {
		if (tasq_serve_add_queue(
		        w, c->queue_names[i], c->queue_weights[i]) != 0) {
			return (-1);
		}
	}
	// Only the first process ends on a refusal: the others are quiet
	// and would exit unheard (the first is refused too: same key,
	// same server).
	p->retry_refusal = !(c->exit_on_auth_failure && c->slot == 0);
	if (tasq_serve_set_name(w, p->name) != 0 ||
	    tasq_serve_set_batch(w, c->batch) != 0 ||
	    tasq_serve_set_wait(w, c->wait_ms) != 0 ||
	    tasq_serve_set_max_request(w, c->max_req_bytes) != 0 ||
	    tasq_serve_set_heartbeat(w, c->heartbeat) != 0 ||
	    tasq_serve_set_log(w, link_log, p) != 0 ||
	    tasq_serve_set_refusal(w, p->retry_refusal) != 0 ||
	    tasq_serve_set_cancel_fn(w, cancel_cb, p) != 0) {
		return (-1);
	}
	return (0);
}

// Dials on a thread of its own, so that the main thread keeps waiting
// for signals (which stop the dialing).
struct dial {
	struct proc *p;
	tasq_opts   *opts;
	atomic_bool  done;
	int          rv;
	char         msg[512];
};

static void *
dial_thread(void *arg)
{
	struct dial *d = arg;

	d->rv = tasq_serve_dial(d->p->w, d->opts);
	snprintf(d->msg, sizeof(d->msg), "%s", tasq_errmsg());
	atomic_store(&d->done, true);
	return (NULL);
}

// Waits up to ms for SIGTERM or SIGINT (blocked: they wait in the
// process's pending set) or *stop: returns true when one came.
static bool
wait_signal(volatile sig_atomic_t *stop, uint32_t ms)
{
	sigset_t        set;
	struct timespec ts = { .tv_sec = ms / 1000,
		.tv_nsec               = (long) (ms % 1000) * 1000000L };
	int             sig;

	if (*stop != 0) {
		return (true);
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if ((sig = sigtimedwait(&set, NULL, &ts)) > 0) {
		*stop = sig;
	}
	return (*stop != 0);
}

int
tasq_worker_run(const tasq_worker_conf *conf, volatile sig_atomic_t *stop)
{
	struct proc p;
	struct dial d;
	tasq_opts  *opts = NULL;
	pthread_t   dial_thr, dog;
	bool        dog_started = false;
	sigset_t    set;
	int         rv, status = 0;

	memset(&p, 0, sizeof(p));
	memset(&d, 0, sizeof(d));
	p.conf   = conf;
	log_conf = conf;
	atomic_init(&p.draining, false);
	// SIGTERM and SIGINT wait in the pending set for this thread's
	// sigtimedwait: every thread started from here (the library's,
	// nng's, ours) has them blocked.
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	// Handlers first: a plugin that cannot load is a configuration
	// error, told before any connection is made.
	if ((p.thr = calloc(conf->pipeline, sizeof(*p.thr))) == NULL) {
		tasq_err("out of memory");
		return (1);
	}
	for (uint32_t i = 0; i < conf->pipeline; i++) {
		p.thr[i].p = &p;
		if ((rv = thr_open(&p.thr[i], conf)) != 0) {
			thr_close_all(p.thr, conf);
			return (rv);
		}
	}
	if (opts_make(conf, &opts) != 0 || tasq_serve_alloc(&p.w, NULL) != 0 ||
	    serve_setup(&p) != 0) {
		tasq_err("cannot set up the worker: %s", tasq_errmsg());
		tasq_serve_free(p.w);
		tasq_opts_free(opts);
		thr_close_all(p.thr, conf);
		return (1);
	}
	// Workers outlive server restarts, an unreachable server and a name
	// that does not resolve yet: the library keeps dialing, with
	// backoff, and tells each kind of failure once.
	d.p    = &p;
	d.opts = opts;
	atomic_init(&d.done, false);
	if (pthread_create(&dial_thr, NULL, dial_thread, &d) != 0) {
		tasq_err("cannot start a thread");
		status = 1;
		goto out;
	}
	while (!atomic_load(&d.done)) {
		if (wait_signal(stop, 100)) {
			tasq_serve_stop(p.w);
		}
	}
	pthread_join(dial_thr, NULL);
	log_again();
	if (d.rv != 0) {
		if (d.rv == TASQ_EUNAUTHENTICATED) {
			status = TASQ_WORKER_EXIT_AUTH; // told by link_log
		} else if (d.rv != TASQ_ECANCELLED) {
			tasq_err("%s", d.msg);
			status = 1;
		}
		goto out;
	}
	tasq_debug("worker %s dialed %s (queue %s)", p.name, conf->server,
	    conf->queue);
	for (uint32_t i = 0; i < conf->pipeline; i++) {
		if (pthread_create(
		        &p.thr[i].thread, NULL, lease_loop, &p.thr[i]) != 0) {
			tasq_err("cannot start a thread");
			atomic_store(&p.draining, true);
			break;
		}
		p.thr[i].started = true;
	}
	if (conf->task_timeout_ms > 0) {
		if (pthread_create(&dog, NULL, watchdog_loop, &p) != 0) {
			tasq_err("cannot start the --task-timeout watchdog");
			atomic_store(&p.draining, true);
		} else {
			dog_started = true;
		}
	}
	while (!atomic_load(&p.draining) && !wait_signal(stop, 1000)) {
	}
	// Drain: batches in hand finish (a --task-delay one stops between
	// tasks), their results go, the rest is released.
	atomic_store(&p.draining, true);
	for (uint32_t i = 0; i < conf->pipeline; i++) {
		if (p.thr[i].started) {
			pthread_join(p.thr[i].thread, NULL);
		}
	}
	if (dog_started) {
		pthread_join(dog, NULL);
	}
	uint64_t until = tasq_clock_mono_ms() + DRAIN_MS;
	while (tasq_serve_flush(p.w) != 0 && tasq_clock_mono_ms() < until) {
		tasq_warn(
		    "cannot hand in results: %s; retrying", tasq_errmsg());
		sleep_ms(200);
	}
	tasq_info("worker %s drained", p.name);
out:
	// Releases what is still held (their tasks go to other workers).
	tasq_serve_free(p.w);
	tasq_opts_free(opts);
	thr_close_all(p.thr, conf);
	return (status);
}
