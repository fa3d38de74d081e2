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

// tasq_tls_last_error copies the reason of the most recent failed
// handshake in this process ("certificate verify failed: hostname
// mismatch", ...) into buf; empty when none. Thread-safe.
void tasq_tls_last_error(char *buf, size_t len);

#endif
