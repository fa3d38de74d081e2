// handler_each: exec-each:CMD runs CMD once per task (like xargs -P): the
// payload on its stdin, the result from its stdout. Up to each_parallel
// children run at once; results go out in task order. A non-zero exit
// (or a signal) fails the task with the tail of its stderr; a child
// running past --task-timeout is killed (DEADLINE_EXCEEDED); a result
// over 1 MiB fails the task (OUT_OF_RANGE: final, not retried). A cancel
// (the batch's tasq_cancel set) sends SIGTERM to every running child's
// process group, SIGKILL to those left after --cancel-grace, and fails
// the tasks without a result CANCELLED; no new child starts.
#define _GNU_SOURCE 1
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "err.h"
#include "handler.h"
#include "log.h"

#define DEFAULT_PARALLEL 4

struct each {
	char             *cmd;
	tasq_handler_opts opts;
};

// One task's outcome, kept until the tasks before it are done.
struct outcome {
	uint8_t *data;
	size_t   len, cap;
	uint32_t code;
	char    *msg;
	bool     done;
};

struct slot {
	tasq_child     c;
	size_t         task; // index in the batch
	const uint8_t *in;   // payload left to write
	size_t         inlen;
	uint64_t       started_ms;
	bool           busy;
	bool           killed; // timeout or too much output
	uint32_t       kill_code;
	int            status;
	bool           reaped;
};

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000);
}

static void
finish(struct slot *s, struct outcome *o, const struct each *x)
{
	char how[64], tail[TASQ_CHILD_TAIL + 1], msg[TASQ_WIRE_MAX_TEXT];
	int  st = s->status;

	if (!s->reaped) {
		tasq_child_kill(&s->c, &st);
	} else {
		tasq_child_kill(&s->c, NULL); // closes what is left
	}
	tasq_child_tail(&s->c, tail, sizeof(tail));
	tasq_child_describe(st, how, sizeof(how));
	o->done = true;
	if (s->killed) {
		o->code = s->kill_code;
		if (s->kill_code ==
		    (uint32_t) tasq_err_code(TASQ_EDEADLINE_EXCEEDED)) {
			snprintf(msg, sizeof(msg),
			    "ran over --task-timeout (%u ms): killed; stderr: "
			    "%s",
			    (unsigned) x->opts.task_timeout_ms, tail);
		} else {
			snprintf(msg, sizeof(msg),
			    "result is over %zu bytes, more than the 1 MiB "
			    "limit: killed; stderr: %s",
			    (size_t) TASQ_WIRE_MAX_PAYLOAD, tail);
		}
		o->msg = strdup(msg);
	} else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		o->code = (uint32_t) tasq_err_code(
		    WIFSIGNALED(st) ? TASQ_EUNAVAILABLE : TASQ_EUNKNOWN);
		snprintf(msg, sizeof(msg), "%s: %s", how, tail);
		o->msg = strdup(msg);
	}
	s->busy = false;
}

static int
start(struct slot *s, const struct each *x, size_t task, const uint8_t *p,
    size_t len, struct outcome *o)
{
	char err[256];
	int  rv;

	memset(s, 0, sizeof(*s));
	if ((rv = tasq_child_spawn(&s->c, x->cmd, 0, err, sizeof(err))) != 0) {
		o->done = true;
		o->code = (uint32_t) tasq_err_code(TASQ_EUNAVAILABLE);
		o->msg  = strdup(err);
		return (rv);
	}
	s->busy       = true;
	s->task       = task;
	s->in         = p;
	s->inlen      = len;
	s->started_ms = now_ms();
	if (len == 0) {
		tasq_child_close_in(&s->c);
	}
	return (0);
}

static void
outcome_add(struct outcome *o, const uint8_t *b, size_t n)
{
	if (o->cap - o->len < n) {
		size_t   cap = o->cap ? o->cap : 4096;
		uint8_t *d;
		while (cap - o->len < n) {
			cap *= 2;
		}
		if ((d = realloc(o->data, cap)) == NULL) {
			return; // the task fails below (len short): see run
		}
		o->data = d;
		o->cap  = cap;
	}
	memcpy(o->data + o->len, b, n);
	o->len += n;
}

// Stops every running child of a cancelled batch: SIGTERM to all, then
// within one grace time for all of them, SIGKILL to what is left.
static void
stop_all(struct slot *slots, size_t par, const struct each *x)
{
	uint32_t grace = x->opts.cancel_grace_ms ? x->opts.cancel_grace_ms
	                                         : TASQ_CANCEL_GRACE_MS;
	uint64_t until = now_ms() + grace;
	size_t   n     = 0;

	for (size_t i = 0; i < par; i++) {
		if (slots[i].busy && slots[i].c.pid > 0) {
			(void) kill(-slots[i].c.pid, SIGTERM);
			n++;
		}
	}
	for (size_t i = 0; i < par; i++) {
		uint64_t now = now_ms();
		if (slots[i].busy) {
			tasq_child_terminate(&slots[i].c,
			    now < until ? (unsigned) (until - now) : 0, NULL);
			slots[i].busy = false;
		}
	}
	if (n > 0) {
		tasq_info("exec-each handler '%s': job cancelled: %zu "
		          "child(ren) stopped",
		    x->cmd, n);
	}
}

static int
each_run(void *impl, const tasq_handler_batch *in, tasq_hres *out)
{
	struct each       *x  = impl;
	const tasq_cancel *cx = tasq_cancel_of(in);
	size_t             par =
            x->opts.each_parallel ? x->opts.each_parallel : DEFAULT_PARALLEL;
	struct slot    *slots;
	struct outcome *res;
	struct pollfd  *fds;
	int            *who; // fds[i] belongs to slot who[i] / 3 (kind % 3)
	const uint8_t  *p    = in->data;
	size_t          next = 0, emitted = 0, running = 0;
	uint8_t         buf[65536];

	if (in->n == 0) {
		return (0);
	}
	if (cx != NULL && tasq_cancel_is_set(cx)) {
		tasq_hres_fail_rest(out,
		    (uint32_t) tasq_err_code(TASQ_ECANCELLED),
		    "the job was cancelled");
		return (0);
	}
	par   = par < in->n ? par : in->n;
	slots = calloc(par, sizeof(*slots));
	res   = calloc(in->n, sizeof(*res));
	fds   = calloc(3 * par + 1, sizeof(*fds));
	who   = calloc(3 * par + 1, sizeof(*who));
	if (slots == NULL || res == NULL || fds == NULL || who == NULL) {
		free(slots);
		free(res);
		free(fds);
		free(who);
		return (NNG_ENOMEM);
	}
	while (emitted < in->n) {
		// Start children for free slots.
		for (size_t i = 0; i < par && next < in->n; i++) {
			if (slots[i].busy) {
				continue;
			}
			size_t len = in->width ? in->width : in->lens[next];
			if (start(&slots[i], x, next, p, len, &res[next]) ==
			    0) {
				running++;
			}
			p += len;
			next++;
		}
		// Hand out, in order, what is done.
		while (emitted < in->n && res[emitted].done) {
			struct outcome *o = &res[emitted];
			if (o->code == 0) {
				(void) tasq_hres_put(out, o->data, o->len);
			} else {
				(void) tasq_hres_fail(out, emitted, o->code,
				    o->msg != NULL ? o->msg : "out of memory");
			}
			free(o->data);
			free(o->msg);
			o->data = NULL;
			o->msg  = NULL;
			emitted++;
		}
		if (running == 0) {
			continue;
		}
		nfds_t   nfds = 0;
		int      wait = -1;
		uint64_t now  = now_ms();
		for (size_t i = 0; i < par; i++) {
			struct slot *s = &slots[i];
			if (!s->busy) {
				continue;
			}
			if (s->c.in >= 0) {
				fds[nfds] =
				    (struct pollfd) { s->c.in, POLLOUT, 0 };
				who[nfds++] = (int) (3 * i);
			}
			if (s->c.out >= 0) {
				fds[nfds] =
				    (struct pollfd) { s->c.out, POLLIN, 0 };
				who[nfds++] = (int) (3 * i + 1);
			}
			if (s->c.err >= 0) {
				fds[nfds] =
				    (struct pollfd) { s->c.err, POLLIN, 0 };
				who[nfds++] = (int) (3 * i + 2);
			}
			int w = -1;
			if (s->c.out < 0 && s->c.err < 0) {
				w = 5; // output closed: wait for its exit
			}
			if (x->opts.task_timeout_ms > 0) {
				uint64_t dl =
				    s->started_ms + x->opts.task_timeout_ms;
				int d = dl > now ? (int) (dl - now) : 0;
				w     = w < 0 || d < w ? d : w;
			}
			if (w >= 0 && (wait < 0 || w < wait)) {
				wait = w;
			}
		}
		if (cx != NULL && cx->fd >= 0) {
			fds[nfds]   = (struct pollfd) { cx->fd, POLLIN, 0 };
			who[nfds++] = -1;
		} else if (cx != NULL &&
		    (wait < 0 || wait > TASQ_CANCEL_TICK_MS)) {
			wait = TASQ_CANCEL_TICK_MS;
		}
		if (poll(fds, nfds, wait) < 0 && errno != EINTR) {
			wait = 5;
		}
		if (cx != NULL && tasq_cancel_is_set(cx)) {
			stop_all(slots, par, x);
			for (size_t i = emitted; i < in->n; i++) {
				free(res[i].data);
				free(res[i].msg);
			}
			tasq_hres_fail_rest(out,
			    (uint32_t) tasq_err_code(TASQ_ECANCELLED),
			    "the job was cancelled");
			break;
		}
		for (nfds_t f = 0; f < nfds; f++) {
			if (fds[f].revents == 0 || who[f] < 0) {
				continue;
			}
			struct slot *s = &slots[who[f] / 3];
			switch (who[f] % 3) {
			case 0: {
				ssize_t n = write(s->c.in, s->in, s->inlen);
				if (n > 0) {
					s->in += n;
					s->inlen -= (size_t) n;
				}
				if (s->inlen == 0 ||
				    (n < 0 && errno != EAGAIN &&
				        errno != EINTR)) {
					// Done, or it does not read its
					// input: fine either way.
					tasq_child_close_in(&s->c);
				}
				break;
			}
			case 1: {
				struct outcome *o = &res[s->task];
				ssize_t n = read(s->c.out, buf, sizeof(buf));
				if (n > 0) {
					outcome_add(o, buf, (size_t) n);
					if (o->len > TASQ_WIRE_MAX_PAYLOAD) {
						s->killed = true;
						// Final: every attempt
						// would print as much.
						s->kill_code =
						    (uint32_t) tasq_err_code(
						        TASQ_EOUT_OF_RANGE);
					}
				} else if (n == 0) {
					close(s->c.out);
					s->c.out = -1;
				}
				break;
			}
			case 2:
				(void) tasq_child_drain_err(&s->c);
				break;
			}
		}
		now = now_ms();
		for (size_t i = 0; i < par; i++) {
			struct slot *s = &slots[i];
			if (!s->busy) {
				continue;
			}
			if (!s->killed && x->opts.task_timeout_ms > 0 &&
			    now >= s->started_ms + x->opts.task_timeout_ms) {
				s->killed    = true;
				s->kill_code = (uint32_t) tasq_err_code(
				    TASQ_EDEADLINE_EXCEEDED);
			}
			if (s->killed) {
				finish(s, &res[s->task], x);
				running--;
				continue;
			}
			if (s->c.out < 0 && s->c.err < 0 &&
			    tasq_child_try_wait(&s->c, &s->status)) {
				s->reaped = true;
				finish(s, &res[s->task], x);
				running--;
			}
		}
	}
	free(slots);
	free(res);
	free(fds);
	free(who);
	return (0);
}

static void
each_free(void *impl)
{
	struct each *x = impl;

	if (x != NULL) {
		free(x->cmd);
		free(x);
	}
}

static const tasq_handler_ops each_ops = {
	.run        = each_run,
	.free       = each_free,
	.in_process = false,
};

int
tasq_handler_each_open(const char *cmd, const tasq_handler_opts *opts,
    const tasq_handler_ops **ops, void **impl, char *err, size_t errlen)
{
	struct each *x = calloc(1, sizeof(*x));

	if (x == NULL || (x->cmd = strdup(cmd)) == NULL) {
		each_free(x);
		snprintf(err, errlen, "out of memory");
		return (NNG_ENOMEM);
	}
	// Writes to a child that is gone must fail with EPIPE, not kill us.
	signal(SIGPIPE, SIG_IGN);
	x->opts = *opts;
	*ops    = &each_ops;
	*impl   = x;
	return (0);
}
