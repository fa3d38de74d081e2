// fuzz_journal: the journal reader. The input is the body of a journal
// file (after its header): tasq_journal_parse walks it record by record,
// and the whole file is then recovered into a broker, which applies every
// record that checks out. A damaged or hostile journal must give an error
// naming the place, never a crash or a leak.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "err.h"
#include "fuzz.h"
#include "journal.h"
#include "log.h"

static char dir[64];

static void
wake(tasq_waiter *w)
{
	(void) w;
}

static void
put_header(uint8_t *h)
{
	memcpy(h, "TQJOURN1", 8);
	memset(h + 8, 0, 8); // generation 0
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char              path[128], err[512];
	size_t            off = 0, plen;
	const uint8_t    *p;
	int               type, rv;
	bool              torn;
	uint8_t           hdr[16];
	FILE             *f;
	tasq_journal     *j;
	tasq_broker      *b;
	uint64_t          recs, bytes;
	tasq_broker_conf  bc = { .max_tasks = 100000,
		 .max_batch                 = 4096,
		 .max_queues                = 4,
		 .max_jobs                  = 64,
		 .max_workers               = 8,
		 .lease_ms                  = 1000,
		 .max_attempts              = 3,
		 .job_ttl_ms                = 60000,
		 .max_fetch                 = 1024,
		 .max_lease                 = 1024 };
	tasq_journal_conf jc = { .mode = TASQ_FSYNC_NEVER,
		.batch_ms              = 50,
		.compact_bytes         = 1 << 20 };

	// The pure parser first: it must stop at the end or at damage.
	while ((rv = tasq_journal_parse(
	            data, size, &off, &type, &p, &plen, &torn)) == 0) {
		FUZZ_CHECK(off <= size);
		FUZZ_CHECK(p >= data && p + plen <= data + size);
	}
	FUZZ_CHECK(rv == 1 || rv == TASQ_EDATA_LOSS);

	if (dir[0] == '\0') {
		tasq_log_set_level(TASQ_LOG_ERROR);
		snprintf(dir, sizeof(dir), "/tmp/tasq-fuzz-journal.XXXXXX");
		FUZZ_CHECK(mkdtemp(dir) != NULL);
	}
	snprintf(path, sizeof(path), "%s/journal-0000000000000000.log", dir);
	FUZZ_CHECK((f = fopen(path, "w")) != NULL);
	put_header(hdr);
	FUZZ_CHECK(fwrite(hdr, 1, sizeof(hdr), f) == sizeof(hdr));
	FUZZ_CHECK(size == 0 || fwrite(data, 1, size, f) == size);
	FUZZ_CHECK(fclose(f) == 0);

	jc.dir = dir;
	FUZZ_CHECK(tasq_journal_open(&j, &jc, err, sizeof(err)) == 0);
	FUZZ_CHECK(tasq_broker_alloc(&b, &bc, wake) == 0);
	rv = tasq_broker_recover(b, j, err, sizeof(err), &recs, &bytes);
	FUZZ_CHECK(rv == 0 || rv == TASQ_EDATA_LOSS);
	if (rv != 0) {
		FUZZ_CHECK(strstr(err, "journal-") != NULL);
	} else {
		// Whatever was recovered must be a consistent state.
		tasq_rep st;
		FUZZ_CHECK(tasq_broker_stats(b, 0, &st) == 0);
		tasq_broker_stats_fini(&st);
		tasq_broker_tick(b, 1);
	}
	tasq_broker_free(b);
	tasq_journal_close(j);
	(void) unlink(path);
	snprintf(path, sizeof(path), "%s/lock", dir);
	(void) unlink(path);
	return (0);
}
