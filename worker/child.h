// child: a command run by /bin/sh -c with its stdin, stdout and stderr on
// pipes to us (exec: and exec-each: handlers). The child gets its own
// process group (so a kill reaches what the shell started), default
// signal dispositions and an empty signal mask. Our ends of the pipes
// are non-blocking and close-on-exec. Not thread-safe: one owner.
#ifndef TASQ_WORKER_CHILD_H
#define TASQ_WORKER_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define TASQ_CHILD_TAIL 512 // bytes of stderr kept

typedef struct tasq_child {
	pid_t  pid; // 0: none
	int    in;  // its stdin (-1: closed)
	int    out; // its stdout
	int    err; // its stderr
	char   tail[TASQ_CHILD_TAIL];
	size_t tail_len;
} tasq_child;

// tasq_child_spawn starts cmd. pipe_bytes > 0 asks the kernel for pipes
// that large (best effort). Returns 0, or an errno with a sentence in
// err.
int tasq_child_spawn(tasq_child *c, const char *cmd, size_t pipe_bytes,
    char *err, size_t errlen);

// tasq_child_drain_err reads what stderr holds now into the tail. Returns
// false at end of file (then c->err is closed).
bool tasq_child_drain_err(tasq_child *c);

// tasq_child_close_in closes the child's stdin (end of its input).
void tasq_child_close_in(tasq_child *c);

// tasq_child_try_wait reaps the child if it has exited: true with its
// wait status in *status. Never blocks.
bool tasq_child_try_wait(tasq_child *c, int *status);

// tasq_child_kill sends SIGKILL to the child's process group, reaps the
// child (its wait status in *status, if not NULL), reads what is left of
// its stderr and closes every pipe. c->pid is 0 afterwards; a stopped
// child (pid 0) is fine.
void tasq_child_kill(tasq_child *c, int *status);

// tasq_child_stop closes the child's stdin, gives it grace_ms to exit
// (reaped), then kills what is left as tasq_child_kill does.
void tasq_child_stop(tasq_child *c, unsigned grace_ms);

// tasq_child_terminate sends SIGTERM to the child's process group, gives
// it grace_ms to exit (reading and dropping its stdout, keeping the tail
// of its stderr, so that a full pipe does not hold it), then sends
// SIGKILL to the group (also to what is left of it after the child
// exited), reaps the child and closes every pipe, as tasq_child_kill.
// *status (if not NULL) gets the child's wait status.
void tasq_child_terminate(tasq_child *c, unsigned grace_ms, int *status);

// tasq_child_describe writes "exit status N" or "killed by signal N".
void tasq_child_describe(int status, char *buf, size_t len);

// tasq_child_tail copies the stderr tail, made printable, into buf.
void tasq_child_tail(const tasq_child *c, char *buf, size_t len);

#endif
