// opt: one option table per program drives defaults, the configuration
// file, TASQ_* environment variables, command-line flags and --help.
// Precedence: default < file < environment < flags.
//
// Configuration file lines are "name value" or "name = value" with the
// long option names; '#' starts a comment. A bad line is reported as
// file:line. Not thread-safe: call from main before starting threads.
#ifndef TASQ_OPT_H
#define TASQ_OPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "url.h"

typedef enum tasq_opt_type {
	TASQ_OPT_STR,  // char *: strdup'ed, may stay NULL
	TASQ_OPT_U64,  // uint64_t, within [min, max]
	TASQ_OPT_BOOL, // bool: a flag; "yes/no/true/false/1/0" in files
	TASQ_OPT_MS,   // uint64_t milliseconds: 250ms, 30s, 5m, 1h (bare=ms)
	TASQ_OPT_SIZE, // uint64_t bytes: 512, 64KiB, 16MiB, 1GiB (or K/M/G)
	TASQ_OPT_URL,  // char * as TASQ_OPT_STR, checked by tasq_url_check
	TASQ_OPT_URLS, // char * as TASQ_OPT_URL, but a list "URL,URL,...":
	               // each item (spaces around it ignored) is checked;
	               // an empty item is refused
	TASQ_OPT_LIST, // tasq_opt_list: repeatable, see below
} tasq_opt_type;

// A repeatable option's values (TASQ_OPT_LIST), strdup'ed, in order.
// Every occurrence within one source (the lines of the file, the flags)
// is kept; the first value from a source of higher precedence replaces
// what a lower one gave (file < environment < flags), so that flags
// replace the file's values rather than add to them. The environment
// variable holds one value per line (newline-separated; empty lines are
// skipped), since a value may contain any other character. A parse
// starts the list from its default (split the same way; NULL: empty).
typedef struct tasq_opt_list {
	char **v;
	size_t n;
	int    src_; // private: the source that gave the values
} tasq_opt_list;

typedef struct tasq_opt {
	const char   *name;     // long name, also the config file key
	int           shortopt; // 0 for none
	tasq_opt_type type;
	const char   *env; // environment variable or NULL
	const char   *def; // default as text or NULL
	const char   *metavar;
	const char   *help;
	void         *ptr;
	uint64_t      min, max;
	bool          no_file; // not settable from a configuration file
} tasq_opt;

#define TASQ_OPT_END                                                          \
	{                                                                     \
		NULL, 0, TASQ_OPT_STR, NULL, NULL, NULL, NULL, NULL, 0, 0,    \
		    false                                                     \
	}

enum {
	TASQ_OPT_OK       = 0, // parsed; carry on
	TASQ_OPT_EXIT_OK  = 1, // --help or --version printed; exit 0
	TASQ_OPT_EXIT_BAD = 2, // error printed to stderr; exit 2
};

typedef struct tasq_opt_ctx {
	const char *prog;
	const char *usage; // first line(s) of --help
	const char *version;
	// tables: a NULL-terminated list of TASQ_OPT_END-terminated tables
	const tasq_opt *const *tables;
	// positional arguments are collected here (argv pointers)
	char **args;
	int    nargs;
	bool   check_config; // --check-config was given
	bool   allow_config; // accept --config FILE / TASQ_CONFIG
} tasq_opt_ctx;

// tasq_opt_parse applies defaults, the file, the environment and argv (from
// argv[0], which must not be the program name) in that order. args must
// have room for argc entries. A lone "-" and negative numbers are
// positional; "--" ends options.
int tasq_opt_parse(tasq_opt_ctx *c, int argc, char **argv);

// tasq_opt_set parses text as the value of o. err gets the reason.
int tasq_opt_set(
    const tasq_opt *o, const char *text, char *err, size_t errlen);

// tasq_opt_parse_u64 parses an unsigned number with the suffixes of type.
int tasq_opt_parse_u64(tasq_opt_type type, const char *s, uint64_t *v);

// tasq_opt_conf_file applies a configuration file to the tables.
int tasq_opt_conf_file(
    const tasq_opt *const *tables, const char *path, char *err, size_t errlen);

// tasq_opt_conf_text applies configuration text (buf, len); name is used in
// messages. Exposed for the fuzz target.
int tasq_opt_conf_text(const tasq_opt *const *tables, const char *name,
    const char *buf, size_t len, char *err, size_t errlen);

// tasq_opt_help prints --help text for the tables to stdout.
void tasq_opt_help(const tasq_opt_ctx *c);

// tasq_opt_free frees the strings the tables hold.
void tasq_opt_free(const tasq_opt *const *tables);

#endif
