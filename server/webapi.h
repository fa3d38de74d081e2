// webapi: the metrics listener's job list and actions on jobs
// (docs/PROTOCOL.md 15): /api/jobs as JSON, and what the dashboard's
// buttons do once server/webauth.h has let the request through: retry a
// job's dead letters, cancel a job. metrics.c serves them over HTTP;
// this module only calls the broker (thread-safe, like it).
#ifndef TASQ_WEBAPI_H
#define TASQ_WEBAPI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "broker.h"

// The most jobs /api/jobs lists (the newest are not preferred: the
// registry has no order; total says how many there are).
#define TASQ_WEBAPI_MAX_JOBS 1000

// tasq_webapi_jobs_json writes the open jobs of b as one JSON object
// {"now_ms","total","jobs":[...]} to f; each job has the fields of `tasq
// jobs --json` (job, queue, type, state, submitted, completed, failed,
// age_ms, host, detached, result_ttl_ms, expires_in_ms, no_worker,
// workers) and dead, the dead letters the server holds of it. now_ms is
// the broker's (monotonic) clock; stamp_ms the stamp clock
// (tasq_clock_stamp_ms), which the reply shows as now_ms: what the page
// signs its timestamps against. Errors: NNG_ENOMEM.
int tasq_webapi_jobs_json(
    tasq_broker *b, uint64_t now_ms, uint64_t stamp_ms, FILE *f);

// The actions on a job, by the path's last component.
enum {
	TASQ_WEBAPI_RETRY  = 1, // POST /api/jobs/ID/retry
	TASQ_WEBAPI_CANCEL = 2, // POST /api/jobs/ID/cancel
};

// tasq_webapi_parse_action reads "/api/jobs/ID/ACTION" (ID 16 hex digits,
// not 0; no query) into *job_id and *action. Returns false for anything
// else.
bool tasq_webapi_parse_action(
    const char *target, uint64_t *job_id, int *action);

// tasq_webapi_retry re-queues the dead letters of job_id, as `tasq dead
// retry` does with letters: their payloads become a new detached job of
// the same queue and type (*new_job), submitted with `last`, whose
// results `tasq results` reads; then the letters are purged (*retried
// counts them). Call it with the caller's lock that serialises actions,
// so that two clicks do not submit the letters twice. Errors, with *why:
// TASQ_ENOT_FOUND (the server holds no dead letter of job_id), the
// broker's submit errors (nothing purged then), NNG_ENOMEM.
int tasq_webapi_retry(tasq_broker *b, uint64_t job_id, uint64_t now_ms,
    uint64_t *new_job, uint64_t *retried, const char **why);

// tasq_webapi_cancel cancels job_id as the Cancel RPC does (the same
// broker call, PROTOCOL.md 9.15): *dropped queued tasks dropped,
// *running tasks under lease whose workers are told to stop, *state the
// job's state after it (static). Errors, with *why: TASQ_ENOT_FOUND,
// TASQ_EFAILED_PRECONDITION (the job is done), the journal's.
int tasq_webapi_cancel(tasq_broker *b, uint64_t job_id, uint64_t now_ms,
    uint64_t *dropped, uint32_t *running, const char **state,
    const char **why);

#endif
