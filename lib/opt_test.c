// Unit tests of lib/opt: precedence of defaults, file, environment and
// flags; number, duration and size parsing; error messages.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "opt.h"
#include "tasq_test.h"
#include "tasq_capture.h"
#include "opt_test_util.h"

static char    *o_name;
static char    *o_secret;
static uint64_t o_jobs, o_lease, o_max;
static bool     o_verbose;

static const tasq_opt table[] = {
	{ "name", 'n', TASQ_OPT_STR, "TASQ_T_NAME", "alpha", "NAME", "a name",
	    &o_name, 0, 0, false },
	{ "jobs", 'j', TASQ_OPT_U64, "TASQ_T_JOBS", "4", "N", "workers",
	    &o_jobs, 1, 64, false },
	{ "lease", 0, TASQ_OPT_MS, "TASQ_T_LEASE", "30s", "DURATION",
	    "lease time", &o_lease, 100, 3600000, false },
	{ "max-message", 0, TASQ_OPT_SIZE, "TASQ_T_MAX", "16MiB", "SIZE",
	    "largest message", &o_max, 1024, UINT64_C(1) << 30, false },
	{ "verbose", 'v', TASQ_OPT_BOOL, "TASQ_T_VERBOSE", NULL, NULL,
	    "say more", &o_verbose, 0, 0, false },
	{ "secret", 0, TASQ_OPT_STR, NULL, NULL, "TEXT", "never in a file",
	    &o_secret, 0, 0, true },
	TASQ_OPT_END,
};

static const tasq_opt *const tables[] = { table, NULL };

static const char *const env_names[] = { "TASQ_T_NAME", "TASQ_T_JOBS",
	"TASQ_T_LEASE", "TASQ_T_MAX", "TASQ_T_VERBOSE", "TASQ_CONFIG" };

static char *args[32];

static tasq_opt_ctx
ctx(void)
{
	tasq_opt_ctx c = { .prog = "opt_test",
		.usage           = "usage: opt_test [options] FILE...\n",
		.version         = "9.9",
		.tables          = tables,
		.args            = args,
		.allow_config    = true };

	// Settings the test runner may have inherited would skew results.
	for (size_t i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++) {
		ASSERT_OK(unsetenv(env_names[i]));
	}
	o_verbose = false;
	return (c);
}

static int
parse(tasq_opt_ctx *c, int argc, char **argv)
{
	char out[4096];

	return (parse_capture(c, argc, argv, out, sizeof(out)));
}

// Writes a configuration file; returns its path (free, unlink).
static char *
conf_file(const char *text)
{
	return (tasq_test_file("tasq_opt_test", text));
}

#define ARGC(a) ((int) (sizeof(a) / sizeof((a)[0])))

TEST(defaults)
{
	tasq_opt_ctx c = ctx();

	ASSERT_EQ(parse(&c, 0, NULL), TASQ_OPT_OK);
	ASSERT_STR_EQ(o_name, "alpha");
	ASSERT_EQ(o_jobs, 4);
	ASSERT_EQ(o_lease, 30000);
	ASSERT_EQ(o_max, 16 * 1024 * 1024);
	ASSERT_FALSE(o_verbose);
	ASSERT_NULL(o_secret);
	ASSERT_EQ(c.nargs, 0);
	ASSERT_FALSE(c.check_config);
	tasq_opt_free(tables);
	ASSERT_NULL(o_name);
}

TEST(env_overrides_default_flag_overrides_env)
{
	tasq_opt_ctx c       = ctx();
	char        *argv1[] = { "--jobs", "16", "--name=gamma" };

	ASSERT_OK(setenv("TASQ_T_JOBS", "8", 1));
	ASSERT_OK(setenv("TASQ_T_NAME", "beta", 1));
	ASSERT_OK(setenv("TASQ_T_LEASE", "2m", 1));
	ASSERT_OK(setenv("TASQ_T_VERBOSE", "yes", 1));
	ASSERT_OK(setenv("TASQ_T_MAX", "", 1)); // empty: ignored
	ASSERT_EQ(parse(&c, 0, NULL), TASQ_OPT_OK);
	ASSERT_EQ(o_jobs, 8);
	ASSERT_STR_EQ(o_name, "beta");
	ASSERT_EQ(o_lease, 120000);
	ASSERT_TRUE(o_verbose);
	ASSERT_EQ(o_max, 16 * 1024 * 1024);

	ASSERT_EQ(parse(&c, ARGC(argv1), argv1), TASQ_OPT_OK);
	ASSERT_EQ(o_jobs, 16);
	ASSERT_STR_EQ(o_name, "gamma");
	ASSERT_EQ(o_lease, 120000);
	tasq_opt_free(tables);

	// A bad environment value is a configuration error.
	ASSERT_OK(setenv("TASQ_T_JOBS", "many", 1));
	ASSERT_EQ(parse(&c, 0, NULL), TASQ_OPT_EXIT_BAD);
	tasq_opt_free(tables);
}

static const char conf_text[] = "# tasq test\n"
                                "jobs 8\n"
                                "lease = 5m\n"
                                "  name   beta   # trailing comment\n"
                                "max-message=64KiB\n"
                                "verbose\n";

TEST(config_file_between_default_and_env)
{
	tasq_opt_ctx c       = ctx();
	char        *path    = conf_file(conf_text);
	char        *argv1[] = { "--config", path };
	char         eq[256];
	char        *argv2[] = { eq, "--name", "gamma" };

	ASSERT_EQ(parse(&c, ARGC(argv1), argv1), TASQ_OPT_OK);
	ASSERT_EQ(o_jobs, 8);
	ASSERT_EQ(o_lease, 300000);
	ASSERT_STR_EQ(o_name, "beta");
	ASSERT_EQ(o_max, 65536);
	ASSERT_TRUE(o_verbose);
	ASSERT_EQ(c.nargs, 0);

	// Environment and flags win over the file; --config= works too.
	snprintf(eq, sizeof(eq), "--config=%s", path);
	ASSERT_OK(setenv("TASQ_T_JOBS", "12", 1));
	ASSERT_EQ(parse(&c, ARGC(argv2), argv2), TASQ_OPT_OK);
	ASSERT_EQ(o_jobs, 12);
	ASSERT_STR_EQ(o_name, "gamma");
	ASSERT_EQ(o_lease, 300000);

	// TASQ_CONFIG names the file when no flag does.
	ASSERT_OK(unsetenv("TASQ_T_JOBS"));
	ASSERT_OK(setenv("TASQ_CONFIG", path, 1));
	ASSERT_EQ(parse(&c, 0, NULL), TASQ_OPT_OK);
	ASSERT_EQ(o_jobs, 8);
	tasq_opt_free(tables);
	unlink(path);
	free(path);
}

TEST(config_file_missing_or_bad)
{
	tasq_opt_ctx c       = ctx();
	char        *path    = conf_file("jobs 8\nbogus 1\n");
	char        *argv1[] = { "--config", path };
	char        *argv2[] = { "--config", "/nonexistent/tasq.conf" };
	char         out[4096], want[512];

	ASSERT_EQ(parse_capture(&c, ARGC(argv1), argv1, out, sizeof(out)),
	    TASQ_OPT_EXIT_BAD);
	snprintf(want, sizeof(want), "%s:2: unknown setting 'bogus'", path);
	ASSERT_STR_CONTAINS(out, want);
	ASSERT_EQ(parse_capture(&c, ARGC(argv2), argv2, out, sizeof(out)),
	    TASQ_OPT_EXIT_BAD);
	ASSERT_STR_CONTAINS(out, "/nonexistent/tasq.conf");
	tasq_opt_free(tables);
	unlink(path);
	free(path);
}

// "--config" with nothing after it is a usage error like any other
// option without its value, not a silent run on defaults.
TEST(config_flag_without_file)
{
	tasq_opt_ctx c      = ctx();
	char        *argv[] = { "--jobs", "2", "--config" };
	char         out[4096];

	ASSERT_EQ(parse_capture(&c, ARGC(argv), argv, out, sizeof(out)),
	    TASQ_OPT_EXIT_BAD);
	ASSERT_STR_CONTAINS(out, "--config");
	tasq_opt_free(tables);
}

TEST(conf_text_errors_name_file_and_line)
{
	static const struct {
		const char *text;
		const char *want;
	} cases[] = {
		{ "jobs 2\n\n  bogus 1\n",
		    "my.conf:3: unknown setting 'bogus'" },
		{ "# c\njobs x\n", "my.conf:2: --jobs: 'x' is not" },
		{ "jobs 65\n", "my.conf:1: --jobs: 65 is outside 1..64" },
		{ "lease\n", "my.conf:1: lease needs a value" },
		{ "verbose maybe\n", "my.conf:1: --verbose takes yes or no" },
		{ "secret s3cr3t\n", "my.conf:1: unknown setting 'secret'" },
		{ "jobs 2\njobs\0 3\n", "my.conf:2: NUL byte" },
	};
	size_t lens[sizeof(cases) / sizeof(cases[0])];
	char   err[512];

	(void) ctx();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		lens[i] = strlen(cases[i].text);
	}
	lens[6] = 13; // past the NUL
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		ASSERT_RV(tasq_opt_conf_text(tables, "my.conf", cases[i].text,
		              lens[i], err, sizeof(err)),
		    TASQ_EINVALID_ARGUMENT);
		ASSERT_STR_CONTAINS(err, cases[i].want);
	}
	ASSERT_STR_NOT_CONTAINS(err, "s3cr3t");
	tasq_opt_free(tables);
}

TEST(conf_text_long_line_and_no_final_newline)
{
	char *text     = malloc(2000);
	char  err[512] = "";

	(void) ctx();
	ASSERT_NOT_NULL(text);
	memset(text, '#', 2000);
	ASSERT_RV(
	    tasq_opt_conf_text(tables, "long", text, 2000, err, sizeof(err)),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "long:1: line too long");
	free(text);
	ASSERT_OK(
	    tasq_opt_conf_text(tables, "x", "jobs 9", 6, err, sizeof(err)));
	ASSERT_EQ(o_jobs, 9);
	ASSERT_OK(tasq_opt_conf_text(tables, "x", "", 0, err, sizeof(err)));
	tasq_opt_free(tables);
}

TEST(durations)
{
	static const struct {
		const char *s;
		uint64_t    v;
	} ok[] = { { "250ms", 250 }, { "30s", 30000 }, { "5m", 300000 },
		{ "1h", 3600000 }, { "250", 250 }, { "0", 0 },
		{ "30S", 30000 }, { "10MS", 10 } };
	static const char *const bad[] = { "", "s", "5x", "5 s", " 5", "-5",
		"+5", "5mm", "1.5s", "5KiB", "18446744073709551615h",
		"18446744073709551616" };
	uint64_t                 v;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v = 12345;
		ASSERT_OK(tasq_opt_parse_u64(TASQ_OPT_MS, ok[i].s, &v));
		ASSERT_EQ(v, ok[i].v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 12345;
		ASSERT_RV(tasq_opt_parse_u64(TASQ_OPT_MS, bad[i], &v),
		    TASQ_EINVALID_ARGUMENT);
		ASSERT_EQ(v, 12345);
	}
}

TEST(sizes)
{
	static const struct {
		const char *s;
		uint64_t    v;
	} ok[] = { { "64KiB", 65536 }, { "16MiB", 16777216 },
		{ "1GiB", 1073741824 }, { "64k", 65536 }, { "1kb", 1000 },
		{ "2MB", 2000000 }, { "5m", 5242880 }, { "512", 512 },
		{ "512b", 512 },
		{ "17179869183GiB", UINT64_C(17179869183) << 30 } };
	static const char *const bad[] = { "", "KiB", "64ms", "1TiB", "1e3",
		"64 KiB", "17179869184GiB", "-1" };
	uint64_t                 v;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ASSERT_OK(tasq_opt_parse_u64(TASQ_OPT_SIZE, ok[i].s, &v));
		ASSERT_EQ(v, ok[i].v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ASSERT_RV(tasq_opt_parse_u64(TASQ_OPT_SIZE, bad[i], &v),
		    TASQ_EINVALID_ARGUMENT);
	}
	// Plain numbers take no suffix.
	ASSERT_OK(
	    tasq_opt_parse_u64(TASQ_OPT_U64, "18446744073709551615", &v));
	ASSERT_EQ(v, UINT64_MAX);
	ASSERT_RV(tasq_opt_parse_u64(TASQ_OPT_U64, "5k", &v),
	    TASQ_EINVALID_ARGUMENT);
}

TEST(range_errors)
{
	char err[256];

	(void) ctx();
	o_jobs = 7;
	ASSERT_RV(tasq_opt_set(&table[1], "0", err, sizeof(err)),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "--jobs: 0 is outside 1..64");
	ASSERT_RV(tasq_opt_set(&table[1], "65", err, sizeof(err)),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_EQ(o_jobs, 7);
	ASSERT_OK(tasq_opt_set(&table[1], "64", err, sizeof(err)));
	ASSERT_EQ(o_jobs, 64);
	ASSERT_OK(tasq_opt_set(&table[1], "1", err, sizeof(err)));
	ASSERT_EQ(o_jobs, 1);
	// Suffixes apply before the range: 99ms is below 100ms, 2h above 1h.
	ASSERT_RV(tasq_opt_set(&table[2], "99ms", err, sizeof(err)),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_RV(tasq_opt_set(&table[2], "2h", err, sizeof(err)),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_OK(tasq_opt_set(&table[2], "1h", err, sizeof(err)));
	ASSERT_EQ(o_lease, 3600000);
	ASSERT_RV(tasq_opt_set(&table[3], "2GiB", err, sizeof(err)),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "--max-message: 2147483648 is outside");
	ASSERT_RV(tasq_opt_set(&table[3], "lots", err, sizeof(err)),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "is not a size");
	ASSERT_RV(tasq_opt_set(&table[4], "maybe", err, sizeof(err)),
	    TASQ_EINVALID_ARGUMENT);
}

TEST(flag_errors)
{
	tasq_opt_ctx c         = ctx();
	char        *unknown[] = { "--nope" };
	char        *shortu[]  = { "-x" };
	char        *range[]   = { "-j", "65" };
	char        *novalue[] = { "file", "--jobs" };
	char        *boolarg[] = { "-vfoo" };
	char         out[4096];

	ASSERT_EQ(parse_capture(&c, 1, unknown, out, sizeof(out)),
	    TASQ_OPT_EXIT_BAD);
	ASSERT_STR_CONTAINS(out, "unknown option '--nope'");
	ASSERT_EQ(
	    parse_capture(&c, 1, shortu, out, sizeof(out)), TASQ_OPT_EXIT_BAD);
	ASSERT_STR_CONTAINS(out, "unknown option '-x'");
	ASSERT_EQ(
	    parse_capture(&c, 2, range, out, sizeof(out)), TASQ_OPT_EXIT_BAD);
	ASSERT_STR_CONTAINS(out, "outside 1..64");
	ASSERT_EQ(parse_capture(&c, 2, novalue, out, sizeof(out)),
	    TASQ_OPT_EXIT_BAD);
	ASSERT_STR_CONTAINS(out, "--jobs needs a value");
	// A flag takes no attached value.
	ASSERT_EQ(parse_capture(&c, 1, boolarg, out, sizeof(out)),
	    TASQ_OPT_EXIT_BAD);
	tasq_opt_free(tables);
}

TEST(positional_negative_numbers_and_dash)
{
	tasq_opt_ctx c      = ctx();
	char        *argv[] = { "-5", "-", "file", "-j", "3", "-12x" };

	ASSERT_EQ(parse(&c, ARGC(argv), argv), TASQ_OPT_OK);
	ASSERT_EQ(o_jobs, 3);
	ASSERT_EQ(c.nargs, 4);
	ASSERT_STR_EQ(c.args[0], "-5");
	ASSERT_STR_EQ(c.args[1], "-");
	ASSERT_STR_EQ(c.args[2], "file");
	ASSERT_STR_EQ(c.args[3], "-12x");
	tasq_opt_free(tables);
}

TEST(double_dash_ends_options)
{
	tasq_opt_ctx c = ctx();
	char *argv[]   = { "-j", "2", "--", "--jobs", "9", "-v", "--config",
		  "/nonexistent" };

	ASSERT_EQ(parse(&c, ARGC(argv), argv), TASQ_OPT_OK);
	ASSERT_EQ(o_jobs, 2);
	ASSERT_FALSE(o_verbose);
	ASSERT_EQ(c.nargs, 5);
	ASSERT_STR_EQ(c.args[0], "--jobs");
	ASSERT_STR_EQ(c.args[4], "/nonexistent");
	tasq_opt_free(tables);
}

TEST(short_forms_and_booleans)
{
	tasq_opt_ctx c       = ctx();
	char        *argv1[] = { "-j8", "-v", "-n", "delta" };
	char *argv2[] = { "-v", "--verbose=no", "--jobs=5", "--lease=250ms",
		"--max-message", "1MiB" };

	ASSERT_EQ(parse(&c, ARGC(argv1), argv1), TASQ_OPT_OK);
	ASSERT_EQ(o_jobs, 8);
	ASSERT_TRUE(o_verbose);
	ASSERT_STR_EQ(o_name, "delta");
	ASSERT_EQ(c.nargs, 0);
	ASSERT_EQ(parse(&c, ARGC(argv2), argv2), TASQ_OPT_OK);
	ASSERT_FALSE(o_verbose);
	ASSERT_EQ(o_jobs, 5);
	ASSERT_EQ(o_lease, 250);
	ASSERT_EQ(o_max, 1048576);
	tasq_opt_free(tables);
}

TEST(secret_flag_not_file)
{
	tasq_opt_ctx c      = ctx();
	char        *argv[] = { "--secret", "s" };

	ASSERT_EQ(parse(&c, ARGC(argv), argv), TASQ_OPT_OK);
	ASSERT_STR_EQ(o_secret, "s");
	tasq_opt_free(tables);
	ASSERT_NULL(o_secret);
}

TEST(help_version_check_config)
{
	tasq_opt_ctx c       = ctx();
	char        *help[]  = { "-j", "3", "--help" };
	char        *vers[]  = { "--version" };
	char        *check[] = { "--check-config" };
	char         out[8192];

	ASSERT_EQ(parse_capture(&c, ARGC(help), help, out, sizeof(out)),
	    TASQ_OPT_EXIT_OK);
	ASSERT_STR_CONTAINS(out, "usage: opt_test");
	ASSERT_STR_CONTAINS(out, "-j, --jobs N");
	ASSERT_STR_CONTAINS(out, "(default: 30s) [env TASQ_T_LEASE]");
	ASSERT_STR_CONTAINS(out, "--config FILE");
	ASSERT_EQ(
	    parse_capture(&c, 1, vers, out, sizeof(out)), TASQ_OPT_EXIT_OK);
	ASSERT_STR_EQ(out, "opt_test 9.9\n");
	ASSERT_EQ(parse(&c, 1, check), TASQ_OPT_OK);
	ASSERT_TRUE(c.check_config);
	// Without allow_config, --config and --check-config are unknown.
	c.allow_config = false;
	ASSERT_EQ(parse(&c, 1, check), TASQ_OPT_EXIT_BAD);
	tasq_opt_free(tables);
}

// A URL option is checked by tasq_url_check for its use, from flags, the
// environment and files alike, and freed like a string.
TEST(url_options)
{
	static char          *u_server, *u_listen;
	static const tasq_opt utable[] = {
		{ "server", 's', TASQ_OPT_URL, "TASQ_T_SERVER",
		    "tcp://127.0.0.1:7070", "URL", "dial", &u_server,
		    TASQ_URL_DIAL, 0, false },
		{ "listen", 0, TASQ_OPT_URL, NULL, NULL, "URL", "listen",
		    &u_listen, TASQ_URL_LISTEN, 0, false },
		TASQ_OPT_END,
	};
	static const tasq_opt *const utables[] = { utable, NULL };
	tasq_opt_ctx                 c         = ctx();
	char *good[]  = { "--server", "ipc:///x", "--listen", "tcp://:0" };
	char *bad[]   = { "-s", "127.0.0.1:22001" };
	char *port0[] = { "--listen", "tcp://127.0.0.1:0", "-s",
		"tcp://127.0.0.1:0" };
	char  out[4096];
	char  err[512];

	c.tables = utables;
	ASSERT_OK(unsetenv("TASQ_T_SERVER"));
	ASSERT_EQ(parse(&c, 4, good), TASQ_OPT_OK);
	ASSERT_STR_EQ(u_server, "ipc:///x");
	ASSERT_STR_EQ(u_listen, "tcp://:0");
	ASSERT_EQ(
	    parse_capture(&c, 2, bad, out, sizeof(out)), TASQ_OPT_EXIT_BAD);
	ASSERT_STR_CONTAINS(
	    out, "opt_test: --server: '127.0.0.1:22001' is not a URL");
	ASSERT_STR_CONTAINS(out, "did you mean tcp://127.0.0.1:22001?");
	ASSERT_EQ(
	    parse_capture(&c, 4, port0, out, sizeof(out)), TASQ_OPT_EXIT_BAD);
	ASSERT_STR_CONTAINS(out, "--server: 'tcp://127.0.0.1:0' has port 0");
	ASSERT_OK(setenv("TASQ_T_SERVER", "http://h:1", 1));
	ASSERT_EQ(
	    parse_capture(&c, 0, NULL, out, sizeof(out)), TASQ_OPT_EXIT_BAD);
	ASSERT_STR_CONTAINS(out, "TASQ_T_SERVER: --server:");
	ASSERT_STR_CONTAINS(out, "did you mean tcp://h:1?");
	ASSERT_OK(unsetenv("TASQ_T_SERVER"));
	ASSERT_RV(tasq_opt_conf_text(utables, "f.conf", "listen 7070\n", 12,
	              err, sizeof(err)),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, "f.conf:1: --listen: '7070'");
	ASSERT_STR_CONTAINS(err, "did you mean tcp://0.0.0.0:7070?");
	tasq_opt_free(utables);
	ASSERT_NULL(u_server);
	ASSERT_NULL(u_listen);
}

// A repeatable option (tasq-worker --type): every occurrence of one
// source is kept, in order; a source of higher precedence replaces the
// lower one's (file < environment < flags); the environment's value is
// one item per line.
TEST(list_option_appends_and_sources_replace)
{
	static tasq_opt_list  l_types;
	static const tasq_opt ltable[] = {
		{ "type", 't', TASQ_OPT_LIST, "TASQ_T_TYPE", NULL, "NAME=H",
		    "types", &l_types, 0, 0, false },
		TASQ_OPT_END,
	};
	static const tasq_opt *const ltables[] = { ltable, NULL };
	tasq_opt_ctx                 c         = ctx();
	char                        *path = conf_file("type a=builtin:square\n"
	                                                                     "# a comment\n"
	                                                                     "type = b=exec:echo x; false\n");
	char                        *argv1[] = { "--config", path };
	char *argv2[] = { "--config", path, "-t", "e=builtin:square",
		"--type=f=exec:cat" };
	char  err[512];

	c.tables = ltables;
	ASSERT_OK(unsetenv("TASQ_T_TYPE"));
	// The file's lines, all of them, in order.
	ASSERT_EQ(parse(&c, ARGC(argv1), argv1), TASQ_OPT_OK);
	ASSERT_EQ(l_types.n, 2);
	ASSERT_STR_EQ(l_types.v[0], "a=builtin:square");
	ASSERT_STR_EQ(l_types.v[1], "b=exec:echo x; false");
	// The environment replaces them: one per line, empty lines skipped.
	ASSERT_OK(
	    setenv("TASQ_T_TYPE", "c=builtin:sha256\n\nd=exec:cat\n", 1));
	ASSERT_EQ(parse(&c, ARGC(argv1), argv1), TASQ_OPT_OK);
	ASSERT_EQ(l_types.n, 2);
	ASSERT_STR_EQ(l_types.v[0], "c=builtin:sha256");
	ASSERT_STR_EQ(l_types.v[1], "d=exec:cat");
	// Flags replace both; each one adds.
	ASSERT_EQ(parse(&c, ARGC(argv2), argv2), TASQ_OPT_OK);
	ASSERT_EQ(l_types.n, 2);
	ASSERT_STR_EQ(l_types.v[0], "e=builtin:square");
	ASSERT_STR_EQ(l_types.v[1], "f=exec:cat");
	// Nothing given: empty (a parse starts from the default).
	ASSERT_OK(unsetenv("TASQ_T_TYPE"));
	ASSERT_EQ(parse(&c, 0, NULL), TASQ_OPT_OK);
	ASSERT_EQ(l_types.n, 0);
	// A configuration text adds to what the list holds.
	ASSERT_OK(tasq_opt_conf_text(
	    ltables, "f.conf", "type x=a\ntype y=b\n", 18, err, sizeof(err)));
	ASSERT_EQ(l_types.n, 2);
	ASSERT_STR_EQ(l_types.v[1], "y=b");
	tasq_opt_free(ltables);
	ASSERT_EQ(l_types.n, 0);
	ASSERT_NULL(l_types.v);
	unlink(path);
	free(path);
}

// A URL list option (TASQ_OPT_URLS) checks every item with
// tasq_url_check and keeps the text as it was given.
TEST(url_list_option)
{
	static char          *u_servers;
	static const tasq_opt utable[] = {
		{ "server", 's', TASQ_OPT_URLS, NULL, "tcp://127.0.0.1:7070",
		    "URL,...", "dial", &u_servers, TASQ_URL_DIAL, 0, false },
		TASQ_OPT_END,
	};
	static const tasq_opt *const utables[] = { utable, NULL };
	tasq_opt_ctx                 c         = ctx();
	char                        *one[]     = { "-s", "ipc:///x" };
	char *three[] = { "-s", "tcp://127.0.0.1:1, tcp://h:2,tls+tcp://h:3" };
	char *bad[]   = { "-s", "tcp://127.0.0.1:1,127.0.0.1:2" };
	char *empty[] = { "-s", "tcp://127.0.0.1:1,,tcp://h:2" };
	char *trail[] = { "-s", "tcp://127.0.0.1:1," };
	char  out[4096];

	c.tables = utables;
	ASSERT_EQ(parse(&c, 0, NULL), TASQ_OPT_OK);
	ASSERT_STR_EQ(u_servers, "tcp://127.0.0.1:7070");
	ASSERT_EQ(parse(&c, 2, one), TASQ_OPT_OK);
	ASSERT_STR_EQ(u_servers, "ipc:///x");
	ASSERT_EQ(parse(&c, 2, three), TASQ_OPT_OK);
	ASSERT_STR_EQ(u_servers, "tcp://127.0.0.1:1, tcp://h:2,tls+tcp://h:3");
	ASSERT_EQ(
	    parse_capture(&c, 2, bad, out, sizeof(out)), TASQ_OPT_EXIT_BAD);
	ASSERT_STR_CONTAINS(out, "--server: '127.0.0.1:2' is not a URL");
	ASSERT_STR_CONTAINS(out, "did you mean tcp://127.0.0.1:2?");
	ASSERT_EQ(
	    parse_capture(&c, 2, empty, out, sizeof(out)), TASQ_OPT_EXIT_BAD);
	ASSERT_STR_CONTAINS(out, "has an empty item");
	ASSERT_EQ(
	    parse_capture(&c, 2, trail, out, sizeof(out)), TASQ_OPT_EXIT_BAD);
	ASSERT_STR_CONTAINS(out, "has an empty item");
	tasq_opt_free(utables);
	ASSERT_NULL(u_servers);
}

TASQ_TEST_MAIN()
