#define _GNU_SOURCE 1 // pipe2, F_SETPIPE_SZ
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "handler.h"

extern char **environ;

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000);
}

static void
close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

int
tasq_child_spawn(tasq_child *c, const char *cmd, size_t pipe_bytes, char *err,
    size_t errlen)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, er[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t          at;
	sigset_t                   none, def;
	char *argv[] = { (char *) "sh", (char *) "-c", (char *) cmd, NULL };
	int   rv;

	memset(c, 0, sizeof(*c));
	c->in = c->out = c->err = -1;
	if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 ||
	    pipe2(er, O_CLOEXEC) != 0) {
		rv = errno;
		snprintf(err, errlen, "pipe: %s", strerror(rv));
		goto fail;
	}
	if (pipe_bytes > 0) {
		// Big pipes let a batch stream while the child works.
		(void) fcntl(in[1], F_SETPIPE_SZ, (int) pipe_bytes);
		(void) fcntl(out[1], F_SETPIPE_SZ, (int) pipe_bytes);
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, er[1], 2);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGTERM);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGCHLD);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &def);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at,
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
	        POSIX_SPAWN_SETPGROUP);
	rv = posix_spawn(&c->pid, "/bin/sh", &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (rv != 0) {
		c->pid = 0;
		snprintf(
		    err, errlen, "cannot start /bin/sh: %s", strerror(rv));
		goto fail;
	}
	close(in[0]);
	close(out[1]);
	close(er[1]);
	c->in  = in[1];
	c->out = out[0];
	c->err = er[0];
	fcntl(c->in, F_SETFL, O_NONBLOCK);
	fcntl(c->out, F_SETFL, O_NONBLOCK);
	fcntl(c->err, F_SETFL, O_NONBLOCK);
	return (0);
fail:
	for (int i = 0; i < 2; i++) {
		close_fd(&in[i]);
		close_fd(&out[i]);
		close_fd(&er[i]);
	}
	return (rv);
}

static void
tail_add(tasq_child *c, const char *b, size_t n)
{
	if (n >= TASQ_CHILD_TAIL) {
		memcpy(c->tail, b + n - TASQ_CHILD_TAIL, TASQ_CHILD_TAIL);
		c->tail_len = TASQ_CHILD_TAIL;
		return;
	}
	if (c->tail_len + n > TASQ_CHILD_TAIL) {
		size_t drop = c->tail_len + n - TASQ_CHILD_TAIL;
		memmove(c->tail, c->tail + drop, c->tail_len - drop);
		c->tail_len -= drop;
	}
	memcpy(c->tail + c->tail_len, b, n);
	c->tail_len += n;
}

bool
tasq_child_drain_err(tasq_child *c)
{
	char    buf[4096];
	ssize_t n;

	if (c->err < 0) {
		return (false);
	}
	// Bounded: a child that writes faster than we read is met again
	// at the next poll.
	for (int i = 0; i < 64; i++) {
		n = read(c->err, buf, sizeof(buf));
		if (n > 0) {
			tail_add(c, buf, (size_t) n);
			continue;
		}
		if (n == 0) {
			close_fd(&c->err);
			return (false);
		}
		if (errno != EINTR) {
			break; // EAGAIN
		}
	}
	return (true);
}

void
tasq_child_close_in(tasq_child *c)
{
	close_fd(&c->in);
}

bool
tasq_child_try_wait(tasq_child *c, int *status)
{
	if (c->pid <= 0) {
		return (false);
	}
	if (waitpid(c->pid, status, WNOHANG) == c->pid) {
		c->pid = 0;
		return (true);
	}
	return (false);
}

void
tasq_child_kill(tasq_child *c, int *status)
{
	int st = 0;

	close_fd(&c->in);
	if (c->pid > 0) {
		(void) kill(-c->pid, SIGKILL);
		(void) kill(c->pid, SIGKILL);
		while (waitpid(c->pid, &st, 0) < 0 && errno == EINTR) {
		}
		c->pid = 0;
	}
	if (status != NULL) {
		*status = st;
	}
	// The group is dead: what it wrote to stderr is all there (a
	// grandchild that left the group may keep the pipe open: bounded).
	(void) tasq_child_drain_err(c);
	close_fd(&c->out);
	close_fd(&c->err);
}

void
tasq_child_stop(tasq_child *c, unsigned grace_ms)
{
	int st;

	close_fd(&c->in);
	for (unsigned t = 0; c->pid > 0 && t < grace_ms; t += 10) {
		if (tasq_child_try_wait(c, &st)) {
			break;
		}
		struct timespec ts = { 0, 10 * 1000000L };
		nanosleep(&ts, NULL);
	}
	tasq_child_kill(c, NULL);
}

void
tasq_child_terminate(tasq_child *c, unsigned grace_ms, int *status)
{
	pid_t    pgid = c->pid;
	int      st   = 0;
	bool     done = false;
	uint64_t t0;

	if (pgid <= 0) {
		tasq_child_kill(c, status);
		return;
	}
	close_fd(&c->in);
	(void) kill(-pgid, SIGTERM);
	(void) kill(pgid, SIGTERM);
	t0 = mono_ms();
	while (!done && mono_ms() - t0 < grace_ms) {
		struct pollfd fds[2];
		nfds_t        n = 0;
		uint8_t       drop[4096];
		if (tasq_child_try_wait(c, &st)) {
			done = true;
			break;
		}
		if (c->out >= 0) {
			fds[n++] = (struct pollfd) { c->out, POLLIN, 0 };
		}
		if (c->err >= 0) {
			fds[n++] = (struct pollfd) { c->err, POLLIN, 0 };
		}
		// A short tick: the exit itself wakes no descriptor.
		(void) poll(fds, n, 10);
		if (c->out >= 0 && read(c->out, drop, sizeof(drop)) == 0) {
			close_fd(&c->out);
		}
		if (c->err >= 0) {
			(void) tasq_child_drain_err(c);
		}
	}
	// What is left of the group (the child too, if it held on).
	(void) kill(-pgid, SIGKILL);
	if (done) {
		tasq_child_kill(c, NULL); // closes the pipes
		if (status != NULL) {
			*status = st;
		}
	} else {
		tasq_child_kill(c, status);
	}
}

void
tasq_child_describe(int status, char *buf, size_t len)
{
	if (WIFSIGNALED(status)) {
		snprintf(buf, len, "killed by signal %d", WTERMSIG(status));
	} else {
		snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
	}
}

void
tasq_child_tail(const tasq_child *c, char *buf, size_t len)
{
	tasq_text_clean(buf, len, c->tail, c->tail_len);
}
