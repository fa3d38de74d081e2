// commonopt: the options every program shares (the shared key, TLS and
// logging), declared once, and the one function that checks them and
// puts them to use.
//
// Each program embeds a tasq_commonopt_cfg in its own configuration and
// splices the entries it has into its option table (lib/opt.h) with the
// TASQ_COMMONOPT_* macros below, each a list of table entries that point
// into that struct:
//
//     static struct { char *listen; tasq_commonopt_cfg common; ... } cfg;
//     static const tasq_opt opts[] = {
//             { "listen", ... },
//             TASQ_COMMONOPT_KEY(&cfg.common),
//             TASQ_COMMONOPT_TLS_LISTENER(&cfg.common),
//             ...
//             TASQ_OPT_END,
//     };
//
// A listener (tasq-server) has its own certificate and may require peer
// certificates; a dialer (tasq-worker, tasq) verifies the server against
// --tls-ca and may present a certificate. The names, environment
// variables, defaults and help texts are the same in every program.
// Not thread-safe: call from main before starting threads.
#ifndef TASQ_COMMONOPT_H
#define TASQ_COMMONOPT_H

#include <stdbool.h>
#include <stddef.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include "auth.h"
#include "opt.h"

// The shared settings. Strings are owned by the option table
// (tasq_opt_free); NULL is a setting not given, or one the program does
// not have (then tasq_commonopt_check skips it).
typedef struct tasq_commonopt_cfg {
	char *key_file;        // --key-file (else TASQ_KEY)
	char *tls_cert;        // --tls-cert: own certificate (PEM)
	char *tls_key;         // --tls-key: its private key (PEM)
	char *tls_client_ca;   // --tls-client-ca (listener)
	char *tls_ca;          // --tls-ca (dialer)
	char *tls_server_name; // --tls-server-name (dialer)
	char *tls_engine;      // --tls-engine: openssl or builtin
	char *tls_min;         // --tls-min-version: 1.2 or 1.3
	char *tls_max;         // --tls-max-version: 1.2 or 1.3
	char *log_level;       // --log-level: error, warn, info or debug
	char *log_format;      // --log-format: text or json
} tasq_commonopt_cfg;

// --key-file FILE.
#define TASQ_COMMONOPT_KEY(c)                                                 \
	{                                                                     \
		"key-file", 'k', TASQ_OPT_STR, "TASQ_KEY_FILE", NULL, "FILE", \
		    "shared key file, mode 0600 (or the key in TASQ_KEY)",    \
		    &(c)->key_file, 0, 0, false                               \
	}

// --tls-engine, --tls-min-version, --tls-max-version.
#define TASQ_COMMONOPT_TLS_ENGINE(c)                                          \
	{ "tls-engine", 0, TASQ_OPT_STR, "TASQ_TLS_ENGINE", "openssl",        \
		"NAME",                                                       \
		"TLS engine: openssl (TLS 1.3) or builtin (nng's mbedTLS)",   \
		&(c)->tls_engine, 0, 0, false },                              \
	    { "tls-min-version", 0, TASQ_OPT_STR, NULL, "1.2", "V",           \
		    "lowest TLS version: 1.2 or 1.3", &(c)->tls_min, 0, 0,    \
		    false },                                                  \
	{                                                                     \
		"tls-max-version", 0, TASQ_OPT_STR, NULL, "1.3", "V",         \
		    "highest TLS version: 1.2 or 1.3", &(c)->tls_max, 0, 0,   \
		    false                                                     \
	}

// The listener's TLS options: --tls-cert, --tls-key, --tls-client-ca and
// the engine's.
#define TASQ_COMMONOPT_TLS_LISTENER(c)                                        \
	{ "tls-cert", 0, TASQ_OPT_STR, "TASQ_TLS_CERT", NULL, "FILE",         \
		"server certificate (PEM) for tls+tcp://", &(c)->tls_cert, 0, \
		0, false },                                                   \
	    { "tls-key", 0, TASQ_OPT_STR, "TASQ_TLS_KEY", NULL, "FILE",       \
		    "private key of --tls-cert (PEM)", &(c)->tls_key, 0, 0,   \
		    false },                                                  \
	    { "tls-client-ca", 0, TASQ_OPT_STR, "TASQ_TLS_CLIENT_CA", NULL,   \
		    "FILE", "require peer certificates signed by this CA",    \
		    &(c)->tls_client_ca, 0, 0, false },                       \
	    TASQ_COMMONOPT_TLS_ENGINE(c)

// How a dialer verifies the server: --tls-ca, --tls-server-name.
#define TASQ_COMMONOPT_TLS_VERIFY(c)                                          \
	{ "tls-ca", 0, TASQ_OPT_STR, "TASQ_TLS_CA", NULL, "FILE",             \
		"CA that signed the server's certificate (tls+tcp://)",       \
		&(c)->tls_ca, 0, 0, false },                                  \
	{                                                                     \
		"tls-server-name", 0, TASQ_OPT_STR, NULL, NULL, "NAME",       \
		    "name expected in the server certificate (default: URL "  \
		    "host)",                                                  \
		    &(c)->tls_server_name, 0, 0, false                        \
	}

// The dialer's TLS options: the verification, a client certificate
// (--tls-cert, --tls-key) and the engine's.
#define TASQ_COMMONOPT_TLS_DIALER(c)                                          \
	TASQ_COMMONOPT_TLS_VERIFY(c),                                         \
	    { "tls-cert", 0, TASQ_OPT_STR, "TASQ_TLS_CERT", NULL, "FILE",     \
		    "client certificate (PEM) for servers that require one",  \
		    &(c)->tls_cert, 0, 0, false },                            \
	    { "tls-key", 0, TASQ_OPT_STR, "TASQ_TLS_KEY", NULL, "FILE",       \
		    "private key of --tls-cert (PEM)", &(c)->tls_key, 0, 0,   \
		    false },                                                  \
	    TASQ_COMMONOPT_TLS_ENGINE(c)

// --log-level LEVEL with the program's default ("info" for the daemons,
// "warn" for the tasq tool).
#define TASQ_COMMONOPT_LOG_LEVEL(c, def)                                      \
	{                                                                     \
		"log-level", 0, TASQ_OPT_STR, "TASQ_LOG_LEVEL", def, "LEVEL", \
		    "error, warn, info or debug", &(c)->log_level, 0, 0,      \
		    false                                                     \
	}

// --log-format FMT and --log-level LEVEL.
#define TASQ_COMMONOPT_LOG(c, level_def)                                      \
	{ "log-format", 0, TASQ_OPT_STR, "TASQ_LOG_FORMAT", "text", "FMT",    \
		"log lines as text or json", &(c)->log_format, 0, 0, false }, \
	    TASQ_COMMONOPT_LOG_LEVEL(c, level_def)

typedef enum tasq_commonopt_role {
	TASQ_COMMONOPT_LISTENER, // serves: a tls+tcp:// address needs
	                         // --tls-cert and --tls-key
	TASQ_COMMONOPT_DIALER,   // dials: a tls+tcp:// server needs --tls-ca
} tasq_commonopt_role;

// Flags of tasq_commonopt_setup.
enum {
	// An address of the program is tls+tcp://: the TLS files its role
	// needs must be given and readable.
	TASQ_COMMONOPT_TLS = 1 << 0,
	// Check the engine and versions but do not select them: nng must
	// not start in this process (tasq-worker's supervisor forks its
	// workers, which call tasq_tls_setup themselves).
	TASQ_COMMONOPT_NO_ENGINE = 1 << 1,
};

// tasq_commonopt_readable checks that the file path, given for the
// option flag (its name without "--"), opens for reading now; NULL (not
// given) is fine. Returns 0, or TASQ_EINVALID_ARGUMENT with err naming
// the flag, the file and why.
int tasq_commonopt_readable(
    const char *flag, const char *path, char *err, size_t errlen);

// tasq_commonopt_check checks c for a program of role whose addresses use
// TLS (tls) or not, without side effects and without starting nng: the
// log level and format, the TLS engine, the versions (1.2 or 1.3, min <=
// max) and, with tls, that the files the role needs are given (a
// listener's --tls-cert and --tls-key, a dialer's --tls-ca, a dialer's
// --tls-cert and --tls-key together) and that every TLS file given can
// be opened. Fields that are NULL are skipped. Returns 0 or
// TASQ_EINVALID_ARGUMENT, with err (errlen bytes) naming the flag.
int tasq_commonopt_check(const tasq_commonopt_cfg *c, tasq_commonopt_role role,
    bool tls, char *err, size_t errlen);

// tasq_commonopt_setup checks c (tasq_commonopt_check, TLS as flags say),
// then sets the log level and format, builds the keyring (*krp: new,
// free with tasq_keyring_free; tasq_keyring_setup), selects the TLS engine
// and versions (unless TASQ_COMMONOPT_NO_ENGINE; this starts nng: block
// signals first) and, for a listener with TASQ_COMMONOPT_TLS, builds its
// TLS configuration (*tlsp: new, free with nng_tls_config_free; tlsp may
// be NULL otherwise). On failure nothing is returned and err (errlen
// bytes) says why; the program exits 2 (a configuration error).
int tasq_commonopt_setup(const tasq_commonopt_cfg *c, tasq_commonopt_role role,
    int flags, tasq_keyring **krp, nng_tls_config **tlsp, char *err,
    size_t errlen);

#endif
