// tls_ossl: a TLS engine for nng built on OpenSSL 3, so that tasq speaks
// TLS 1.3 (Debian's nng 1.5.2 does TLS through mbedTLS 2.28, which stops
// at 1.2) and verifies peers with OpenSSL's chain, host name and IP
// address checks.
//
// nng calls the engine on its own threads, one connection at a time (its
// TLS layer serialises calls per connection); the engine keeps no global
// mutable state except the last handshake failure, kept for messages.
#ifndef TASQ_TLS_OSSL_H
#define TASQ_TLS_OSSL_H

#include <stddef.h>

// tasq_tls_engine_select makes name ("openssl" or "builtin") nng's TLS
// engine for the whole process. Call it before any TLS configuration is
// made. Errors: TASQ_EINVALID_ARGUMENT (unknown name), NNG errors.
int tasq_tls_engine_select(const char *name);

// tasq_tls_engine_current returns the engine in use ("openssl",
// "mbed", ...), for logs.
const char *tasq_tls_engine_current(void);

// tasq_tls_last_error copies the reason of the most recent failure of a
// dialer's TLS session in this process ("certificate verify failed:
// hostname mismatch", or the server's alert: "tlsv13 alert certificate
// required", ...) into buf; empty when none. A listener's failures are
// not recorded. Thread-safe.
void tasq_tls_last_error(char *buf, size_t len);

// tasq_tls_last_error_gen counts the failures recorded so far: a dial
// that notes it before and finds it changed after failing can take
// tasq_tls_last_error for its own (best effort: another dial of the
// process may have failed meanwhile). Thread-safe.
unsigned tasq_tls_last_error_gen(void);

#endif
