// Unit tests of lib/commonopt: the shared key, TLS and log options parse
// from flags, the environment and a configuration file in a listener's and
// a dialer's table, each appears only where it applies, and the check
// refuses every bad combination with a message that names the flag.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "commonopt.h"
#include "err.h"
#include "log.h"
#include "opt.h"
#include "tasq_test.h"
#include "tasq_capture.h"
#include "opt_test_util.h"

static struct {
	char              *listen;
	tasq_commonopt_cfg common;
} srv;

static struct {
	char              *server;
	tasq_commonopt_cfg common;
} cli;

static const tasq_opt srv_opts[] = {
	{ "listen", 'l', TASQ_OPT_STR, NULL, "tcp://127.0.0.1:0", "URL",
	    "address", &srv.listen, 0, 0, false },
	TASQ_COMMONOPT_KEY(&srv.common),
	TASQ_COMMONOPT_TLS_LISTENER(&srv.common),
	TASQ_COMMONOPT_LOG(&srv.common, "info"),
	TASQ_OPT_END,
};

static const tasq_opt cli_opts[] = {
	{ "server", 's', TASQ_OPT_STR, NULL, "tcp://127.0.0.1:7070", "URL",
	    "address", &cli.server, 0, 0, false },
	TASQ_COMMONOPT_KEY(&cli.common),
	TASQ_COMMONOPT_TLS_DIALER(&cli.common),
	TASQ_COMMONOPT_LOG_LEVEL(&cli.common, "warn"),
	TASQ_OPT_END,
};

static const tasq_opt *const srv_tables[] = { srv_opts, NULL };
static const tasq_opt *const cli_tables[] = { cli_opts, NULL };

static const char *const env_names[] = { "TASQ_KEY_FILE", "TASQ_KEY",
	"TASQ_TLS_CERT", "TASQ_TLS_KEY", "TASQ_TLS_CLIENT_CA", "TASQ_TLS_CA",
	"TASQ_TLS_ENGINE", "TASQ_LOG_LEVEL", "TASQ_LOG_FORMAT",
	"TASQ_CONFIG" };

static char *args[32];

static tasq_opt_ctx
ctx(const tasq_opt *const *tables)
{
	tasq_opt_ctx c = { .prog = "commonopt_test",
		.usage           = "usage: commonopt_test [options]\n",
		.version         = "9.9",
		.tables          = tables,
		.args            = args,
		.allow_config    = true };

	for (size_t i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++) {
		ASSERT_OK(unsetenv(env_names[i]));
	}
	return (c);
}

// Writes text to a new file; returns its path (free, unlink).
static char *
write_file(const char *text)
{
	return (tasq_test_file("tasq_commonopt_test", text));
}

#define ARGC(a) ((int) (sizeof(a) / sizeof((a)[0])))

TEST(defaults)
{
	tasq_opt_ctx c = ctx(srv_tables);
	char         out[8192];

	ASSERT_EQ(parse_capture(&c, 0, NULL, out, sizeof(out)), TASQ_OPT_OK);
	ASSERT_NULL(srv.common.key_file);
	ASSERT_NULL(srv.common.tls_cert);
	ASSERT_STR_EQ(srv.common.tls_engine, "openssl");
	ASSERT_STR_EQ(srv.common.tls_min, "1.2");
	ASSERT_STR_EQ(srv.common.tls_max, "1.3");
	ASSERT_STR_EQ(srv.common.log_level, "info");
	ASSERT_STR_EQ(srv.common.log_format, "text");
	tasq_opt_free(srv_tables);

	c = ctx(cli_tables);
	ASSERT_EQ(parse_capture(&c, 0, NULL, out, sizeof(out)), TASQ_OPT_OK);
	ASSERT_STR_EQ(cli.common.log_level, "warn");
	ASSERT_NULL(cli.common.log_format); // the tool has no --log-format
	ASSERT_STR_EQ(cli.common.tls_engine, "openssl");
	tasq_opt_free(cli_tables);
}

// Each role's table has its own options and not the other's.
TEST(help_lists_what_applies)
{
	tasq_opt_ctx c      = ctx(srv_tables);
	char        *help[] = { "--help" };
	char         out[8192];

	ASSERT_EQ(
	    parse_capture(&c, 1, help, out, sizeof(out)), TASQ_OPT_EXIT_OK);
	ASSERT_STR_CONTAINS(out, "-k, --key-file FILE");
	ASSERT_STR_CONTAINS(out, "[env TASQ_KEY_FILE]");
	ASSERT_STR_CONTAINS(out, "--tls-cert FILE");
	ASSERT_STR_CONTAINS(out, "server certificate (PEM) for tls+tcp://");
	ASSERT_STR_CONTAINS(out, "--tls-client-ca FILE");
	ASSERT_STR_CONTAINS(out, "(default: openssl) [env TASQ_TLS_ENGINE]");
	ASSERT_STR_CONTAINS(out, "--log-format FMT");
	ASSERT_STR_CONTAINS(out, "(default: info) [env TASQ_LOG_LEVEL]");
	ASSERT_STR_NOT_CONTAINS(out, "--tls-ca ");
	ASSERT_STR_NOT_CONTAINS(out, "--tls-server-name");
	tasq_opt_free(srv_tables);

	c = ctx(cli_tables);
	ASSERT_EQ(
	    parse_capture(&c, 1, help, out, sizeof(out)), TASQ_OPT_EXIT_OK);
	ASSERT_STR_CONTAINS(out, "--tls-ca FILE");
	ASSERT_STR_CONTAINS(out, "--tls-server-name NAME");
	ASSERT_STR_CONTAINS(
	    out, "client certificate (PEM) for servers that require one");
	ASSERT_STR_CONTAINS(out, "--tls-max-version V");
	ASSERT_STR_CONTAINS(out, "(default: warn) [env TASQ_LOG_LEVEL]");
	ASSERT_STR_NOT_CONTAINS(out, "--tls-client-ca");
	ASSERT_STR_NOT_CONTAINS(out, "--log-format");
	tasq_opt_free(cli_tables);
}

TEST(flags_env_and_file)
{
	tasq_opt_ctx c       = ctx(srv_tables);
	char        *path    = write_file("key-file /etc/k\n"
	                                            "tls-cert /c.pem\n"
	                                            "tls-key = /c.key\n"
	                                            "tls-client-ca /ca.pem\n"
	                                            "tls-engine builtin\n"
	                                            "tls-min-version 1.3\n"
	                                            "log-format json\n"
	                                            "log-level debug\n");
	char        *argv1[] = { "--config", path };
	char        *argv2[] = { "--config", path, "-k", "/flag/k",
		       "--tls-cert=/flag.pem", "--log-level", "error",
		       "--tls-max-version", "1.2" };
	char         out[4096];

	ASSERT_EQ(parse_capture(&c, ARGC(argv1), argv1, out, sizeof(out)), 0);
	ASSERT_STR_EQ(srv.common.key_file, "/etc/k");
	ASSERT_STR_EQ(srv.common.tls_cert, "/c.pem");
	ASSERT_STR_EQ(srv.common.tls_key, "/c.key");
	ASSERT_STR_EQ(srv.common.tls_client_ca, "/ca.pem");
	ASSERT_STR_EQ(srv.common.tls_engine, "builtin");
	ASSERT_STR_EQ(srv.common.tls_min, "1.3");
	ASSERT_STR_EQ(srv.common.tls_max, "1.3");
	ASSERT_STR_EQ(srv.common.log_format, "json");
	ASSERT_STR_EQ(srv.common.log_level, "debug");

	// The environment over the file, flags over both.
	ASSERT_OK(setenv("TASQ_KEY_FILE", "/env/k", 1));
	ASSERT_OK(setenv("TASQ_TLS_CERT", "/env.pem", 1));
	ASSERT_OK(setenv("TASQ_TLS_KEY", "/env.key", 1));
	ASSERT_OK(setenv("TASQ_TLS_CLIENT_CA", "/envca.pem", 1));
	ASSERT_OK(setenv("TASQ_TLS_ENGINE", "openssl", 1));
	ASSERT_OK(setenv("TASQ_LOG_FORMAT", "text", 1));
	ASSERT_OK(setenv("TASQ_LOG_LEVEL", "warn", 1));
	ASSERT_EQ(parse_capture(&c, ARGC(argv1), argv1, out, sizeof(out)), 0);
	ASSERT_STR_EQ(srv.common.key_file, "/env/k");
	ASSERT_STR_EQ(srv.common.tls_cert, "/env.pem");
	ASSERT_STR_EQ(srv.common.tls_key, "/env.key");
	ASSERT_STR_EQ(srv.common.tls_client_ca, "/envca.pem");
	ASSERT_STR_EQ(srv.common.tls_engine, "openssl");
	ASSERT_STR_EQ(srv.common.log_format, "text");
	ASSERT_STR_EQ(srv.common.log_level, "warn");
	ASSERT_EQ(parse_capture(&c, ARGC(argv2), argv2, out, sizeof(out)), 0);
	ASSERT_STR_EQ(srv.common.key_file, "/flag/k");
	ASSERT_STR_EQ(srv.common.tls_cert, "/flag.pem");
	ASSERT_STR_EQ(srv.common.log_level, "error");
	ASSERT_STR_EQ(srv.common.tls_max, "1.2");
	tasq_opt_free(srv_tables);
	unlink(path);
	free(path);

	// A dialer's options: from a file, then TASQ_TLS_CA, then flags.
	c             = ctx(cli_tables);
	path          = write_file("tls-ca /file-ca.pem\n"
	                                    "tls-server-name tasq.lan\n"
	                                    "tls-cert /cli.pem\n"
	                                    "tls-key /cli.key\n");
	char *argv3[] = { "--config", path, "--tls-server-name", "other",
		"--log-level=debug" };
	argv1[1]      = path;
	ASSERT_EQ(parse_capture(&c, ARGC(argv1), argv1, out, sizeof(out)), 0);
	ASSERT_STR_EQ(cli.common.tls_ca, "/file-ca.pem");
	ASSERT_STR_EQ(cli.common.tls_server_name, "tasq.lan");
	ASSERT_STR_EQ(cli.common.tls_cert, "/cli.pem");
	ASSERT_STR_EQ(cli.common.tls_key, "/cli.key");
	ASSERT_OK(setenv("TASQ_TLS_CA", "/env-ca.pem", 1));
	ASSERT_EQ(parse_capture(&c, ARGC(argv3), argv3, out, sizeof(out)), 0);
	ASSERT_STR_EQ(cli.common.tls_ca, "/env-ca.pem");
	ASSERT_STR_EQ(cli.common.tls_server_name, "other");
	ASSERT_STR_EQ(cli.common.log_level, "debug");
	tasq_opt_free(cli_tables);
	unlink(path);
	free(path);

	// A setting the role does not have is unknown in its file.
	c        = ctx(cli_tables);
	path     = write_file("tls-client-ca /ca.pem\n");
	argv1[1] = path;
	ASSERT_EQ(parse_capture(&c, ARGC(argv1), argv1, out, sizeof(out)),
	    TASQ_OPT_EXIT_BAD);
	ASSERT_STR_CONTAINS(out, ":1: unknown setting 'tls-client-ca'");
	tasq_opt_free(cli_tables);
	unlink(path);
	free(path);
}

// Expects tasq_commonopt_check to refuse c with a message containing
// want.
static void
refused(const tasq_commonopt_cfg *c, tasq_commonopt_role role, bool tls,
    const char *want)
{
	char err[512] = "";

	ASSERT_RV(tasq_commonopt_check(c, role, tls, err, sizeof(err)),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_STR_CONTAINS(err, want);
}

static tasq_commonopt_cfg
good(void)
{
	return ((tasq_commonopt_cfg) { .tls_engine = "openssl",
	    .tls_min                               = "1.2",
	    .tls_max                               = "1.3",
	    .log_level                             = "info",
	    .log_format                            = "text" });
}

TEST(check_names_and_versions)
{
	tasq_commonopt_cfg c = good();
	char               err[512];

	ASSERT_OK(tasq_commonopt_check(
	    &c, TASQ_COMMONOPT_LISTENER, false, err, sizeof(err)));
	// What a program does not have is not checked.
	tasq_commonopt_cfg none = { 0 };
	ASSERT_OK(tasq_commonopt_check(
	    &none, TASQ_COMMONOPT_DIALER, false, err, sizeof(err)));

	c.log_level = "loud";
	refused(&c, TASQ_COMMONOPT_DIALER, false,
	    "--log-level: 'loud' is not error, warn, info or debug");
	c            = good();
	c.log_format = "xml";
	refused(&c, TASQ_COMMONOPT_LISTENER, false,
	    "--log-format is text or json");
	c            = good();
	c.tls_engine = "gnutls";
	refused(&c, TASQ_COMMONOPT_DIALER, false,
	    "--tls-engine: 'gnutls' is not openssl or builtin");
	c         = good();
	c.tls_min = "1.1";
	refused(&c, TASQ_COMMONOPT_LISTENER, false,
	    "--tls-min-version: '1.1' is not 1.2 or 1.3");
	c         = good();
	c.tls_max = "1.4";
	refused(&c, TASQ_COMMONOPT_DIALER, false,
	    "--tls-max-version: '1.4' is not 1.2 or 1.3");
	c         = good();
	c.tls_min = "1.3";
	c.tls_max = "1.2";
	refused(&c, TASQ_COMMONOPT_DIALER, false,
	    "--tls-min-version 1.3 is above --tls-max-version 1.2");
	c.tls_max = "1.3";
	ASSERT_OK(tasq_commonopt_check(
	    &c, TASQ_COMMONOPT_DIALER, false, err, sizeof(err)));
}

TEST(check_tls_files)
{
	char              *f    = write_file("not checked for PEM here\n");
	const char        *gone = "/nonexistent/tasq-commonopt.pem";
	tasq_commonopt_cfg c    = good();
	char               err[512];

	// Without a tls+tcp:// address no file is needed or opened.
	c.tls_cert = (char *) gone;
	c.tls_ca   = (char *) gone;
	ASSERT_OK(tasq_commonopt_check(
	    &c, TASQ_COMMONOPT_LISTENER, false, err, sizeof(err)));
	ASSERT_OK(tasq_commonopt_check(
	    &c, TASQ_COMMONOPT_DIALER, false, err, sizeof(err)));

	// A listener: a certificate and its key, each readable.
	c = good();
	refused(&c, TASQ_COMMONOPT_LISTENER, true,
	    "a tls+tcp:// listener needs --tls-cert and --tls-key");
	c.tls_cert = f;
	refused(&c, TASQ_COMMONOPT_LISTENER, true,
	    "a tls+tcp:// listener needs --tls-cert and --tls-key");
	c.tls_key = (char *) gone;
	refused(&c, TASQ_COMMONOPT_LISTENER, true,
	    "--tls-key: cannot open /nonexistent/tasq-commonopt.pem: No such "
	    "file");
	c.tls_key  = f;
	c.tls_cert = (char *) gone;
	refused(&c, TASQ_COMMONOPT_LISTENER, true, "--tls-cert: cannot open");
	c.tls_cert      = f;
	c.tls_client_ca = (char *) gone;
	refused(
	    &c, TASQ_COMMONOPT_LISTENER, true, "--tls-client-ca: cannot open");
	c.tls_client_ca = f;
	ASSERT_OK(tasq_commonopt_check(
	    &c, TASQ_COMMONOPT_LISTENER, true, err, sizeof(err)));
	// A listener does not need a dialer's CA.
	c.tls_ca = NULL;
	ASSERT_OK(tasq_commonopt_check(
	    &c, TASQ_COMMONOPT_LISTENER, true, err, sizeof(err)));

	// A dialer: a readable CA; a client certificate with its key.
	c = good();
	refused(&c, TASQ_COMMONOPT_DIALER, true,
	    "a tls+tcp:// server needs --tls-ca to verify it");
	c.tls_ca = (char *) gone;
	refused(&c, TASQ_COMMONOPT_DIALER, true,
	    "--tls-ca: cannot open /nonexistent/tasq-commonopt.pem");
	c.tls_ca = f;
	ASSERT_OK(tasq_commonopt_check(
	    &c, TASQ_COMMONOPT_DIALER, true, err, sizeof(err)));
	c.tls_cert = f;
	refused(&c, TASQ_COMMONOPT_DIALER, true,
	    "--tls-cert without --tls-key: a client certificate needs both");
	c.tls_cert = NULL;
	c.tls_key  = f;
	refused(
	    &c, TASQ_COMMONOPT_DIALER, true, "--tls-key without --tls-cert");
	c.tls_cert = (char *) gone;
	refused(&c, TASQ_COMMONOPT_DIALER, true, "--tls-cert: cannot open");
	c.tls_cert = f;
	ASSERT_OK(tasq_commonopt_check(
	    &c, TASQ_COMMONOPT_DIALER, true, err, sizeof(err)));
	// Names come before files: the first problem found is told.
	c.tls_engine = "gnutls";
	c.tls_ca     = (char *) gone;
	refused(&c, TASQ_COMMONOPT_DIALER, true, "--tls-engine");
	unlink(f);
	free(f);
}

// Writes a self-signed P-256 certificate and its key; paths in cert and
// key (free, unlink).
static void
make_cert(char **cert, char **key)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	X509     *x  = X509_new();
	FILE     *f;

	ASSERT_NOT_NULL(pk);
	ASSERT_NOT_NULL(x);
	ASSERT_EQ(X509_set_version(x, 2), 1);
	ASSERT_EQ(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
	ASSERT_NOT_NULL(X509_gmtime_adj(X509_getm_notBefore(x), 0));
	ASSERT_NOT_NULL(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	ASSERT_EQ(X509_set_pubkey(x, pk), 1);
	ASSERT_EQ(
	    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
	        MBSTRING_ASC, (const unsigned char *) "localhost", -1, -1, 0),
	    1);
	ASSERT_EQ(X509_set_issuer_name(x, X509_get_subject_name(x)), 1);
	ASSERT_GT(X509_sign(x, pk, EVP_sha256()), 0);
	*cert = write_file("");
	*key  = write_file("");
	ASSERT_NOT_NULL(f = fopen(*cert, "w"));
	ASSERT_EQ(PEM_write_X509(f, x), 1);
	fclose(f);
	ASSERT_NOT_NULL(f = fopen(*key, "w"));
	ASSERT_EQ(PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(pk);
}

TEST(setup_builds_keys_tls_and_log)
{
	tasq_commonopt_cfg c   = good();
	tasq_keyring      *kr  = NULL;
	nng_tls_config    *tls = NULL;
	char *kf   = write_file("0123456789abcdef0123456789abcdef\n");
	char *cert = NULL, *key = NULL;
	char  err[512];

	make_cert(&cert, &key);
	(void) ctx(srv_tables); // clears TASQ_KEY and the rest

	// A failed check sets nothing and builds nothing.
	c.key_file  = kf;
	c.log_level = "debug";
	c.tls_min   = "1.3";
	c.tls_max   = "1.2";
	tasq_log_set_level(TASQ_LOG_WARN);
	ASSERT_RV(tasq_commonopt_setup(&c, TASQ_COMMONOPT_LISTENER, 0, &kr,
	              &tls, err, sizeof(err)),
	    TASQ_EINVALID_ARGUMENT);
	ASSERT_NULL(kr);
	ASSERT_FALSE(tasq_log_enabled(TASQ_LOG_DEBUG));

	// A key file others can read: refused by the keyring, nothing kept.
	c = good();
	ASSERT_OK(chmod(kf, 0644));
	c.key_file = kf;
	ASSERT_NE(tasq_commonopt_setup(&c, TASQ_COMMONOPT_DIALER, 0, &kr, NULL,
	              err, sizeof(err)),
	    0);
	ASSERT_STR_CONTAINS(err, kf);
	ASSERT_NULL(kr);
	ASSERT_OK(chmod(kf, 0600));

	// A dialer: the log level and the keyring; no TLS configuration.
	c.log_level = "debug";
	ASSERT_OK(tasq_commonopt_setup(&c, TASQ_COMMONOPT_DIALER,
	    TASQ_COMMONOPT_NO_ENGINE, &kr, NULL, err, sizeof(err)));
	ASSERT_NOT_NULL(kr);
	ASSERT_EQ(tasq_keyring_count(kr), 1);
	ASSERT_TRUE(tasq_log_enabled(TASQ_LOG_DEBUG));
	tasq_keyring_free(kr);
	kr = NULL;

	// A listener on tls+tcp://: its TLS configuration from the files.
	c.log_level = "warn";
	c.tls_cert  = cert;
	c.tls_key   = key;
	ASSERT_OK(tasq_commonopt_setup(&c, TASQ_COMMONOPT_LISTENER,
	    TASQ_COMMONOPT_TLS, &kr, &tls, err, sizeof(err)));
	ASSERT_NOT_NULL(kr);
	ASSERT_NOT_NULL(tls);
	ASSERT_FALSE(tasq_log_enabled(TASQ_LOG_INFO));
	nng_tls_config_free(tls);
	tasq_keyring_free(kr);
	kr  = NULL;
	tls = NULL;

	// A certificate that is not one: the file is named.
	c.tls_cert = kf;
	ASSERT_NE(tasq_commonopt_setup(&c, TASQ_COMMONOPT_LISTENER,
	              TASQ_COMMONOPT_TLS, &kr, &tls, err, sizeof(err)),
	    0);
	ASSERT_STR_CONTAINS(err, kf);
	ASSERT_NULL(kr);
	ASSERT_NULL(tls);

	unlink(kf);
	unlink(cert);
	unlink(key);
	free(kf);
	free(cert);
	free(key);
	nng_fini();
}

TASQ_TEST_MAIN()
