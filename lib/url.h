// url: checks an address a program was given before nng sees it, so that a
// mistake gets a message naming the forms tasq accepts and, where the intent
// is obvious, the fix ("did you mean tcp://127.0.0.1:7070?") instead of
// nng's "Not supported" or "Invalid argument". Thread-safe (no state).
#ifndef TASQ_URL_H
#define TASQ_URL_H

#include <stddef.h>

// What the address is for.
typedef enum tasq_url_use {
	// --server: tcp://HOST:PORT, tls+tcp://HOST:PORT, ipc:///path
	// (tcp4, tcp6, tls+tcp4, tls+tcp6 too); HOST and PORT needed.
	TASQ_URL_DIAL = 0,
	// --listen: the same forms; HOST may be empty or * (every address)
	// and PORT may be 0 (the kernel picks one).
	TASQ_URL_LISTEN = 1,
	// --metrics-listen: http://HOST:PORT.
	TASQ_URL_HTTP = 2,
} tasq_url_use;

// TASQ_URL_FORMS names the accepted forms of TASQ_URL_DIAL and _LISTEN.
#define TASQ_URL_FORMS "tcp://HOST:PORT, tls+tcp://HOST:PORT or ipc:///path"

// tasq_url_check returns 0 when url (borrowed) has a form use accepts, else
// TASQ_EINVALID_ARGUMENT with the reason, the accepted forms and, when one is
// obvious, a suggestion in err (NUL-terminated, truncated to errlen). It
// checks the form only: no name is resolved and no file is looked at.
int tasq_url_check(
    const char *url, tasq_url_use use, char *err, size_t errlen);

#endif
