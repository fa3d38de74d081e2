// peers: the servers of this server's cluster (--peers) as its
// dashboard shows them. A thread of its own asks them, over the tasq
// protocol with the server's shared key (and TLS settings), for their
// statistics every refresh_ms: a libtasq session opened with the peers
// list (several URLs, or one name with several addresses, as for the
// clients) and tasq_server_stats(TASQ_STATS_ALL | TASQ_STATS_JSON), the
// document `tasq stats --all --json` prints. The web threads only read
// the last answer (tasq_peers_json): a peer that is down or slow delays
// the refresh (each request bounded by refresh_ms), never a page.
//
// Lock order: the peers' mutex is a leaf (held to swap the cached
// document or copy it into a memory stream; no library call under it).
#ifndef TASQ_PEERS_H
#define TASQ_PEERS_H

#include <stdint.h>
#include <stdio.h>

typedef struct tasq_peers tasq_peers;

typedef struct tasq_peers_conf {
	const char *peers;    // --peers: URL,URL,... or a name (borrowed)
	const char *key_file; // --key-file (NULL: the key in TASQ_KEY)
	const char *key;      // TASQ_KEY (used when key_file is NULL)
	// TLS to tls+tcp:// peers (each NULL when not given): the CA that
	// signed their certificates, the name they carry, our certificate
	// for peers that require one, and the process's engine and versions
	// (the ones the listener chose).
	const char *tls_ca, *tls_server_name, *tls_cert, *tls_key;
	const char *tls_engine, *tls_min, *tls_max;
	uint32_t    refresh_ms; // ask this often; one request's bound too
} tasq_peers_conf;

// tasq_peers_start checks conf (the list, the TLS files) and starts the
// thread; the first answer comes within about refresh_ms. Copies what
// it needs of conf. Returns new (*pp: stop and free with
// tasq_peers_stop). Errors, with err: TASQ_EINVALID_ARGUMENT (a bad
// list or setting), NNG_ENOMEM.
int tasq_peers_start(
    tasq_peers **pp, const tasq_peers_conf *conf, char *err, size_t errlen);

// tasq_peers_stop aborts the request under way, waits for the thread
// and frees. Accepts NULL.
void tasq_peers_stop(tasq_peers *p);

// tasq_peers_json writes the last answer as one JSON object to f:
// {"peers":LIST,"refresh_ms":N,"age_ms":N (since that answer; absent
// before the first),"error":WHY (the last round failed: no peer
// answered; absent otherwise),"servers":[...],"total":{...}} where
// servers and total are those of tasq stats --all --json (each server:
// url, identity, up, and error or stats; the last answer's, kept when a
// later round fails). now_ms is the monotonic clock. Thread-safe;
// never blocks on the network.
void tasq_peers_json(tasq_peers *p, uint64_t now_ms, FILE *f);

#endif
