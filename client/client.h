// client: what the subcommands of the tasq tool share: the global options
// and the libtasq session (tasq_client_session). The subcommands talk to
// the server through the public library only.
#ifndef TASQ_CLIENT_H
#define TASQ_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "opt.h"

struct tasq_commonopt_cfg;

#include <tasq/tasq.h>

typedef struct tasq_client {
	char         *server;
	uint64_t      timeout_ms; // one request
	uint64_t      connect_timeout_ms;
	uint64_t      resolve_ms; // --resolve-interval (several servers)
	uint64_t      max_msg;
	tasq_session *session; // tasq_client_session: the library's

	// Key, TLS, log (lib/commonopt.h: main.c's, which fills the option
	// table with it).
	struct tasq_commonopt_cfg *common;
} tasq_client;

// Exit codes of the tool.
enum {
	TASQ_EXIT_OK    = 0,
	TASQ_EXIT_FAIL  = 1, // runtime failure (server unreachable, ...)
	TASQ_EXIT_USAGE = 2, // bad flags, input or configuration
	TASQ_EXIT_TASKS = 3, // ran, but some tasks have error results
};

extern const tasq_opt tasq_client_opts[];

// tasq_client_session opens (once) a libtasq session from the global
// options the command parsed (the tool's flags, environment and their
// defaults), so that the command talks to the server through the public
// library; prints why not to stderr and returns an exit code (0: *sp is
// the session, closed by main).
int tasq_client_session(tasq_client *c, tasq_session **sp);

// tasq_client_parse parses a command's options (sub, then the global ones)
// from argv. Returns -1 to go on, with *argsp (free it) holding *nargsp
// positional arguments; otherwise the exit code to return (help shown or
// an error printed).
int tasq_client_parse(const tasq_opt *sub, const char *usage, int argc,
    char **argv, char ***argsp, int *nargsp);

// tasq_client_format decides between text and JSON for a command that
// takes --json and --format FMT (NULL: not given): text, or json and
// jsonl (one object a line: the same for a command that prints one).
// Returns 0, or prints why not and returns TASQ_EXIT_USAGE.
int tasq_client_format(const char *format, bool json, bool *jsonp);

// tasq_client_valid_name says whether s is a queue name the server takes
// (1-64 characters of [A-Za-z0-9._-]), so that a bad --queue is a usage
// error before anything is sent.
bool tasq_client_valid_name(const char *s);

// tasq_client_sleep_ms pauses the calling thread (between retries).
void tasq_client_sleep_ms(uint32_t ms);

// Subcommands: argv[0] is the subcommand's first argument.
int tasq_cmd_submit(tasq_client *c, int argc, char **argv);
int tasq_cmd_stats(tasq_client *c, int argc, char **argv);
int tasq_cmd_health(tasq_client *c, int argc, char **argv);
int tasq_cmd_dead(tasq_client *c, int argc, char **argv);
int tasq_cmd_jobs(tasq_client *c, int argc, char **argv);
int tasq_cmd_status(tasq_client *c, int argc, char **argv);
int tasq_cmd_results(tasq_client *c, int argc, char **argv);
int tasq_cmd_wait(tasq_client *c, int argc, char **argv);
int tasq_cmd_cancel(tasq_client *c, int argc, char **argv);

#endif
