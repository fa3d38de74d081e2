// tls: builds nng TLS configurations from file names.
//
// The server presents --tls-cert/--tls-key; peers verify it against
// --tls-ca and check the server name (the URL's host unless overridden).
// Functions are thread-safe; each returns a new nng_tls_config (release
// with nng_tls_config_free once handed to a dialer or listener, which keep
// their own reference). On failure err (errlen bytes) says which file and
// why.
#ifndef TASQ_TLS_H
#define TASQ_TLS_H

#include <stddef.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

int tasq_tls_server_config(const char *cert_file, const char *key_file,
    const char *client_ca_file, nng_tls_config **cfgp, char *err,
    size_t errlen);

int tasq_tls_client_config(const char *ca_file, const char *server_name,
    const char *cert_file, const char *key_file, nng_tls_config **cfgp,
    char *err, size_t errlen);

// tasq_tls_insecure_config: a client configuration that verifies
// nothing; only for a server probing its own listener.
int tasq_tls_insecure_config(nng_tls_config **cfgp, char *err, size_t errlen);

// tasq_tls_setup selects the TLS engine ("openssl" or "builtin") and the
// protocol versions every later configuration allows ("1.2" or "1.3" for
// min and max). Call once, before any configuration is made and after
// the process's signal mask for nng's threads is in place (it starts
// nng). err says what is wrong.
int tasq_tls_setup(const char *engine, const char *min_version,
    const char *max_version, char *err, size_t errlen);

// tasq_url_is_tls says whether url uses the tls+tcp scheme.
int tasq_url_is_tls(const char *url);

#endif
