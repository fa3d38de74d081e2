// broker_result: results coming in (Complete, Lease with results): which
// are news, which are failures to retry or to bury, and what those need,
// allocated before anything is journaled. tasq_broker_complete (broker.c)
// applies them.
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "blobs.h"
#include "broker_state.h"
#include "err.h"

// The range of lease l that holds task off of c, or NULL.
static struct range *
lease_range_of(const struct lease *l, const struct chunk *c, uint32_t off)
{
	for (struct range *r = l->ranges; r != NULL; r = r->next) {
		if (r->chunk == c && off >= r->off && off < r->off + r->len) {
			return (r);
		}
	}
	return (NULL);
}

// Sorts the results of one batch (locked, changing nothing): those that
// are news go to s (s->n of them; a failure on its last attempt marked to
// bury), failures to retry to s's retry list, the rest (duplicates,
// rejected, late failures) are counted in out.
void
tasq_broker_result_sort(tasq_broker *b, struct job *j,
    const tasq_result_batch *rb, const struct lease *live, char **owned,
    struct spare *spares, struct rscratch *s, tasq_complete_rep *out)
{
	struct chunk   *hint = NULL;
	tasq_blobs_iter it;
	size_t          size    = 0;
	bool            compact = false;

	s->n      = 0;
	s->nretry = 0;
	s->anyerr = false;
	tasq_blobs_iter_init(&it, &rb->results);
	for (size_t i = 0; i < rb->n; i++) {
		uint64_t       id   = rb->ids[i];
		struct chunk  *c    = tasq_broker_chunk_of_hint(j, id, &hint);
		uint32_t       code = rb->codes ? rb->codes[i] : 0;
		const char    *err  = rb->errors ? rb->errors[i] : NULL;
		const uint8_t *p;
		size_t         len;

		tasq_blobs_next(&it, &p, &len);
		if (c == NULL) {
			// Finished and freed, or never submitted.
			if (tasq_broker_ivals_contains(j, id)) {
				out->duplicates++;
				tasq_broker_count(
				    b, TASQ_CTR_DUPLICATE_RESULTS, 1);
			} else {
				out->rejected++;
				tasq_broker_count(
				    b, TASQ_CTR_REJECTED_RESULTS, 1);
			}
			continue;
		}
		if (tasq_broker_task_done(c, (uint32_t) (id - c->first))) {
			out->duplicates++;
			tasq_broker_count(b, TASQ_CTR_DUPLICATE_RESULTS, 1);
			continue;
		}
		if (j->legacy && code == 0 && len != TASQ_I64_WIDTH) {
			// Its client takes values: this could not be sent.
			out->rejected++;
			tasq_broker_count(b, TASQ_CTR_REJECTED_RESULTS, 1);
			goto skip;
		}
		s->bury[s->n] = false;
		if (!tasq_wire_code_final(code)) {
			// A failure to try again, unless it was the last
			// attempt. Only the lease's holder can say: a late
			// failure is dropped (the task is out again).
			const struct range *r = live == NULL
			    ? NULL
			    : lease_range_of(
			          live, c, (uint32_t) (id - c->first));
			if (r == NULL || spares == NULL ||
			    spares[i].r1 == NULL) {
				out->late++;
				tasq_broker_count(b, TASQ_CTR_LATE_RESULTS, 1);
				goto skip;
			}
			if (r->attempt < tasq_broker_max_attempts(b, j)) {
				s->rtries[s->nretry] =
				    (tasq_tries) { id, 1, r->attempt,
					    tasq_broker_retry_not_before(
					        b, j, r->attempt) };
				s->rids[s->nretry]  = id;
				s->rsp[s->nretry++] = &spares[i];
				goto skip;
			}
			s->bury[s->n]  = true;
			s->tries[s->n] = r->attempt;
			s->sp[s->n]    = &spares[i];
		}
		if (s->n < i && !compact) {
			// Not every result is news: compact their bytes,
			// starting with those before (all news).
			if (size > 0) {
				memcpy(s->data, rb->results.data, size);
			}
			compact = true;
		}
		if (compact && len > 0) {
			memcpy(s->data + size, p, len);
		}
		s->ids[s->n]   = id;
		s->codes[s->n] = (uint8_t) code;
		s->lens[s->n]  = (uint32_t) len;
		s->errs[s->n]  = err != NULL && err[0] != '\0' ? err : NULL;
		// The message's copy goes with the result (NULL: none).
		s->owned[s->n] = owned != NULL ? owned[i] : NULL;
		if (owned != NULL) {
			owned[i] = NULL;
		}
		s->anyerr |= s->errs[s->n] != NULL;
		size += len;
		s->n++;
		continue;
	skip:
		// Not news: its bytes are left out.
		if (!compact) {
			if (size > 0) {
				memcpy(s->data, rb->results.data, size);
			}
			compact = true;
		}
	}
	s->bytes = compact ? s->data : rb->results.data;
}

// Prepares the spares of the failures in res that may be retried or
// buried (their tasks unfinished): spares[k] for result k of the
// request. Errors: NNG_ENOMEM.
int
tasq_broker_spare_prepare(tasq_broker *b, size_t nres,
    const tasq_result_batch *res, struct spare *spares)
{
	size_t k = 0, nd = 0;

	for (size_t bi = 0; bi < nres; bi++) {
		const tasq_result_batch *rb = &res[bi];
		struct job   *j    = tasq_broker_job_find(b, rb->job_id);
		struct chunk *hint = NULL;
		for (size_t i = 0; i < rb->n; i++, k++) {
			uint32_t      code = rb->codes ? rb->codes[i] : 0;
			struct chunk *c;
			uint32_t      off;
			if (tasq_wire_code_final(code) || j == NULL ||
			    (c = tasq_broker_chunk_of_hint(
			         j, rb->ids[i], &hint)) == NULL ||
			    tasq_broker_task_done(
			        c, off = (uint32_t) (rb->ids[i] - c->first))) {
				continue;
			}
			if ((spares[k].r1 = tasq_calloc(
			         1, sizeof(struct range))) == NULL ||
			    (spares[k].r2 = tasq_calloc(
			         1, sizeof(struct range))) == NULL ||
			    (spares[k].d = tasq_broker_dead_of(b, c, off, 0,
			         code, rb->errors ? rb->errors[i] : NULL, NULL,
			         0)) == NULL) {
				return (NNG_ENOMEM);
			}
			nd++;
		}
	}
	return (tasq_broker_dead_reserve(b, nd));
}

void
tasq_broker_spare_fini(struct spare *spares, size_t n)
{
	for (size_t i = 0; spares != NULL && i < n; i++) {
		free(spares[i].r1);
		free(spares[i].r2);
		tasq_broker_dead_free(spares[i].d);
	}
	free(spares);
}
