// metrics: the server's HTTP side (--metrics-listen): Prometheus metrics
// at /metrics, a health check at /healthz, the stats as JSON at
// /api/stats, the recent history at /api/history (a ring of samples, one
// a second for 10 minutes, see history.h), rates per queue and worker and
// queue latency at /api/rates, the newest dead letters with reason and
// payload preview at /api/dead, and a live dashboard at / (static files
// compiled in, no external resources). Served by nng's HTTP server on its own
// threads; it only reads the broker, RPC layer and journal.
#ifndef TASQ_METRICS_H
#define TASQ_METRICS_H

#include "broker.h"
#include "journal.h"
#include "peers.h"
#include "replay.h"
#include "rpc.h"
#include "stats.h"

typedef struct tasq_metrics tasq_metrics;

// What the job list's actions (POST /api/jobs/ID/retry and /cancel,
// server/webapi.h) need to check a request (server/webauth.h) and count
// a refusal: all borrowed until tasq_metrics_stop. keys NULL or empty:
// every action is refused (403).
typedef struct tasq_metrics_auth {
	const tasq_keyring *keys;
	tasq_replay        *replay; // the RPCs' table
	tasq_stats         *stats;  // auth_failures, auth_replays
} tasq_metrics_auth;

// tasq_metrics_start serves on url (http://host:port). Borrows b, rpc,
// j (may be NULL) and auth until tasq_metrics_stop. identity is the
// server's (identity.h), shown by /api/stats. err says why not.
int tasq_metrics_start(tasq_metrics **mp, const char *url, tasq_broker *b,
    tasq_rpc *rpc, tasq_journal *j, uint64_t identity,
    const tasq_metrics_auth *auth, char *err, size_t errlen);

// tasq_metrics_peers starts asking the servers of conf->peers
// (server/peers.h) for the cluster's view that /api/stats then carries
// ("cluster") and the dashboard shows. Call once, after
// tasq_metrics_start, before requests can matter. Errors, with err: as
// tasq_peers_start.
int tasq_metrics_peers(
    tasq_metrics *m, const tasq_peers_conf *conf, char *err, size_t errlen);

// tasq_metrics_stop stops serving and frees. Accepts NULL.
void tasq_metrics_stop(tasq_metrics *m);

// tasq_metrics_sample records one sample of the history (the rates since
// the previous sample, gauges, each queue's latency) that /api/history
// and /api/rates serve. Called by the server's timer once a second
// (SAMPLE_MS); now_ms is the monotonic clock. Accepts NULL (no
// --metrics-listen). Thread-safe: it takes the broker's lock, then the
// metrics' own, never both at once.
void tasq_metrics_sample(tasq_metrics *m, uint64_t now_ms);

// tasq_metrics_text writes every metric in Prometheus text format into a
// new buffer (free with free()); *len gets its length.
char *tasq_metrics_text(tasq_metrics *m, size_t *len);

#endif
