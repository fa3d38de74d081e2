// handler_exec: exec:CMD, a persistent child that gets whole batches on
// its stdin and answers on its stdout (exec_frame.h has the framing).
//
// The batch is written while the answer is read (poll on both pipes and
// on stderr), so neither side blocks on a full pipe. A child that exits,
// breaks the framing or gives no result for --task-timeout is killed
// (SIGKILL to its process group) and reaped; the results read before
// stay, the task it was on fails (DEADLINE_EXCEEDED after a timeout,
// else UNAVAILABLE) and the rest fail UNAVAILABLE with the tail of its
// stderr, so the server retries them. The next batch starts a new child,
// after a delay that doubles with each failure in a row.
//
// A cancel (the batch's tasq_cancel set: its job was cancelled) wakes the
// poll through the cancel's eventfd: the child's process group gets
// SIGTERM, SIGKILL after --cancel-grace, the tasks without a result fail
// CANCELLED (dropped by the server anyway), and the next batch starts a
// new child at once (a cancel is no failure of the child).
#define _GNU_SOURCE 1
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "err.h"
#include "exec_frame.h"
#include "handler.h"
#include "log.h"

#define PIPE_BYTES (1u << 20)
#define READ_CHUNK (256u << 10)

struct exec {
	char             *cmd;
	tasq_handler_opts opts;
	tasq_child        child;
	uint64_t          seq;
	uint32_t          fails;         // failures in a row
	uint64_t          not_before_ms; // earliest restart
	uint8_t          *inbuf;
	size_t            incap;
	uint8_t          *rbuf;
};

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000);
}

static void
sleep_until(uint64_t t)
{
	uint64_t now;

	while ((now = now_ms()) < t) {
		struct timespec ts = { .tv_sec = (time_t) ((t - now) / 1000),
			.tv_nsec = (long) ((t - now) % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
}

// Kills the child after a failure, fails the tasks without a result and
// schedules the restart.
static void
give_up(struct exec *x, tasq_hres *out, bool timeout, const char *why)
{
	char     how[64], tail[TASQ_CHILD_TAIL + 1];
	char     msg[TASQ_WIRE_MAX_TEXT];
	int      st = 0;
	uint32_t delay,
	    min = x->opts.restart_min_ms ? x->opts.restart_min_ms : 100,
	    max = x->opts.restart_max_ms ? x->opts.restart_max_ms : 5000;

	tasq_child_kill(&x->child, &st);
	tasq_child_describe(st, how, sizeof(how));
	tasq_child_tail(&x->child, tail, sizeof(tail));
	if (timeout && out->k < out->n) {
		snprintf(msg, sizeof(msg),
		    "no result within --task-timeout (%u ms): exec child "
		    "killed; "
		    "stderr: %s",
		    (unsigned) x->opts.task_timeout_ms, tail);
		(void) tasq_hres_fail(out, out->k,
		    (uint32_t) tasq_err_code(TASQ_EDEADLINE_EXCEEDED), msg);
	}
	snprintf(msg, sizeof(msg), "exec child %s (%s); stderr: %s", why, how,
	    tail);
	tasq_warn("exec handler '%s': %s", x->cmd, msg);
	tasq_hres_fail_rest(
	    out, (uint32_t) tasq_err_code(TASQ_EUNAVAILABLE), msg);
	x->fails++;
	delay = min;
	for (uint32_t i = 1; i < x->fails && delay < max; i++) {
		delay *= 2;
	}
	delay            = delay < max ? delay : max;
	x->not_before_ms = now_ms() + delay;
}

// Stops the child of a cancelled batch and fails its tasks without a
// result.
static void
cancelled(struct exec *x, tasq_hres *out)
{
	char     how[64];
	int      st    = 0;
	uint32_t grace = x->opts.cancel_grace_ms ? x->opts.cancel_grace_ms
	                                         : TASQ_CANCEL_GRACE_MS;

	if (x->child.pid != 0) {
		tasq_child_terminate(&x->child, grace, &st);
		tasq_child_describe(st, how, sizeof(how));
		tasq_info("exec handler '%s': job cancelled: child stopped "
		          "(%s)",
		    x->cmd, how);
	}
	tasq_hres_fail_rest(out, (uint32_t) tasq_err_code(TASQ_ECANCELLED),
	    "the job was cancelled");
}

// True when the child's stdout holds bytes between batches (or it is
// closed: the child is gone).
static bool
stray_output(struct exec *x)
{
	struct pollfd p = { x->child.out, POLLIN, 0 };

	return (poll(&p, 1, 0) > 0 && p.revents != 0);
}

static int
exec_run(void *impl, const tasq_handler_batch *in, tasq_hres *out)
{
	struct exec       *x  = impl;
	const tasq_cancel *cx = tasq_cancel_of(in);
	tasq_frame_parser  p;
	char               err[256];
	size_t             need = tasq_frame_in_size(in), off = 0;
	size_t             seen = 0;
	uint64_t           last;
	int                rv;

	if (cx != NULL && tasq_cancel_is_set(cx)) {
		// Before it started: nothing to stop (an idle child stays).
		tasq_hres_fail_rest(out,
		    (uint32_t) tasq_err_code(TASQ_ECANCELLED),
		    "the job was cancelled");
		return (0);
	}
	if (need == 0 || in->n > UINT32_MAX) {
		tasq_hres_fail_rest(out,
		    (uint32_t) tasq_err_code(TASQ_EINVALID_ARGUMENT),
		    "batch too large for the exec framing");
		return (0);
	}
	if (x->child.pid != 0 && stray_output(x)) {
		// Bytes after its last answer: the child is out of step
		// (the batch they belonged to is done and cannot be failed
		// any more); or end of file: it is gone. A new child gets
		// this batch.
		char    how[64], tail[TASQ_CHILD_TAIL + 1];
		uint8_t b;
		int     st  = 0;
		bool    eof = read(x->child.out, &b, 1) == 0;
		tasq_child_kill(&x->child, &st);
		tasq_child_describe(st, how, sizeof(how));
		tasq_child_tail(&x->child, tail, sizeof(tail));
		tasq_warn("exec handler '%s': exec child %s (%s); stderr: %s; "
		          "restarting it",
		    x->cmd,
		    eof ? "exited between batches"
		        : "wrote after its last result (framing broken)",
		    how, tail);
		x->fails++;
	}
	if (x->child.pid == 0) {
		sleep_until(x->not_before_ms);
		if ((rv = tasq_child_spawn(&x->child, x->cmd, PIPE_BYTES, err,
		         sizeof(err))) != 0) {
			give_up(x, out, false, err);
			return (0);
		}
	}
	if (need > x->incap) {
		uint8_t *b = realloc(x->inbuf, need);
		if (b == NULL) {
			return (NNG_ENOMEM);
		}
		x->inbuf = b;
		x->incap = need;
	}
	tasq_frame_in_encode(x->inbuf, ++x->seq, in);
	tasq_frame_parser_init(&p, in->n, x->seq);
	last = now_ms();
	for (;;) {
		struct pollfd fds[4];
		int nfds = 0, wait = -1, in_i = -1, out_i, err_i = -1;

		if (off < need) {
			in_i = nfds;
			fds[nfds++] =
			    (struct pollfd) { x->child.in, POLLOUT, 0 };
		}
		out_i       = nfds;
		fds[nfds++] = (struct pollfd) { x->child.out, POLLIN, 0 };
		if (x->child.err >= 0) {
			err_i = nfds;
			fds[nfds++] =
			    (struct pollfd) { x->child.err, POLLIN, 0 };
		}
		if (x->opts.task_timeout_ms > 0) {
			uint64_t dl  = last + x->opts.task_timeout_ms,
			         now = now_ms();
			if (now >= dl) {
				give_up(x, out, true, "timed out");
				return (0);
			}
			wait = (int) (dl - now);
		}
		if (cx != NULL && cx->fd >= 0) {
			fds[nfds++] = (struct pollfd) { cx->fd, POLLIN, 0 };
		} else if (cx != NULL &&
		    (wait < 0 || wait > TASQ_CANCEL_TICK_MS)) {
			wait = TASQ_CANCEL_TICK_MS;
		}
		rv = poll(fds, (nfds_t) nfds, wait);
		if (cx != NULL && tasq_cancel_is_set(cx)) {
			cancelled(x, out);
			return (0);
		}
		if (rv < 0 && errno == EINTR) {
			continue;
		}
		if (rv < 0) {
			give_up(x, out, false, "could not be polled");
			return (0);
		}
		if (err_i >= 0 && fds[err_i].revents != 0) {
			(void) tasq_child_drain_err(&x->child);
		}
		if (in_i >= 0 && fds[in_i].revents != 0) {
			ssize_t n =
			    write(x->child.in, x->inbuf + off, need - off);
			if (n > 0) {
				off += (size_t) n;
			} else if (n < 0 && errno != EAGAIN &&
			    errno != EINTR) {
				give_up(x, out, false,
				    "stopped reading its stdin");
				return (0);
			}
		}
		if (fds[out_i].revents != 0) {
			ssize_t n = read(x->child.out, x->rbuf, READ_CHUNK);
			if (n == 0) {
				give_up(x, out, false, "exited");
				return (0);
			}
			if (n < 0 && errno != EAGAIN && errno != EINTR) {
				give_up(x, out, false, "stdout failed");
				return (0);
			}
			if (n > 0) {
				rv = tasq_frame_feed(
				    &p, x->rbuf, (size_t) n, out);
				if (rv == TASQ_EDATA_LOSS) {
					char why[200];
					snprintf(why, sizeof(why),
					    "broke the framing: %s", p.why);
					give_up(x, out, false, why);
					return (0);
				}
				if (rv != 0) {
					give_up(
					    x, out, false, "out of memory");
					return (0);
				}
				if (out->k != seen) {
					seen = out->k;
					last = now_ms();
				}
				if (p.state == TASQ_FRAME_DONE) {
					if (off < need) {
						give_up(x, out, false,
						    "answered before reading "
						    "the "
						    "whole batch");
						return (0);
					}
					x->fails = 0;
					return (0);
				}
			}
		}
	}
}

static void
exec_free(void *impl)
{
	struct exec *x = impl;

	if (x == NULL) {
		return;
	}
	// End of input asks it to exit; SIGKILL after a grace period.
	tasq_child_stop(&x->child, 1000);
	free(x->inbuf);
	free(x->rbuf);
	free(x->cmd);
	free(x);
}

static const tasq_handler_ops exec_ops = {
	.run        = exec_run,
	.free       = exec_free,
	.in_process = false,
};

int
tasq_handler_exec_open(const char *cmd, const tasq_handler_opts *opts,
    const tasq_handler_ops **ops, void **impl, char *err, size_t errlen)
{
	struct exec *x = calloc(1, sizeof(*x));

	if (x == NULL || (x->cmd = strdup(cmd)) == NULL ||
	    (x->rbuf = malloc(READ_CHUNK)) == NULL) {
		exec_free(x);
		snprintf(err, errlen, "out of memory");
		return (NNG_ENOMEM);
	}
	// Writes to a child that is gone must fail with EPIPE, not kill us.
	signal(SIGPIPE, SIG_IGN);
	x->opts      = *opts;
	x->child.in  = -1;
	x->child.out = -1;
	x->child.err = -1;
	*ops         = &exec_ops;
	*impl        = x;
	return (0);
}
