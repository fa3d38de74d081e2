// wire: tasq's request and reply types and their protobuf encoding.
//
// This is the only module that includes the generated tasq.pb-c.h; the
// rest of the code sees the plain structs below. Decoders validate every
// field (lengths of parallel columns, name lengths and characters, counts
// against TASQ_WIRE_MAX_*) so that handlers can trust what they get.
//
// Encoders return a new nng_msg (free with nng_msg_free, or hand it to
// nng) whose first TASQ_ENV_HDR_LEN bytes are reserved for the envelope
// header; tasq_auth_seal fills them. Decoded structs point into memory
// owned by the struct: release it with the matching _fini. Everything
// here is thread-safe (no shared state).
#ifndef TASQ_WIRE_H
#define TASQ_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>

// Method numbers: the position of each rpc in service tasq.v1.Queue.
enum tasq_method {
	TASQ_M_HEALTH     = 0,
	TASQ_M_SUBMIT     = 1,
	TASQ_M_LEASE      = 2,
	TASQ_M_COMPLETE   = 3,
	TASQ_M_EXTEND     = 4,
	TASQ_M_RELEASE    = 5,
	TASQ_M_FETCH      = 6,
	TASQ_M_CLOSE_JOB  = 7,
	TASQ_M_STATS      = 8,
	TASQ_M_DEAD_LIST  = 9,
	TASQ_M_DEAD_PURGE = 10,
	TASQ_M_JOB_LIST   = 11,
	TASQ_M_JOB_STATUS = 12,
	TASQ_M_RESULTS    = 13,
	TASQ_M_CANCEL     = 14,
	TASQ_M_COUNT      = 15,
};

#include "limits_wire.h" // the limits (TASQ_WIRE_MAX_*)

// Decoding memory (docs/PROTOCOL.md section 8.1). Decoding a body of len
// bytes holding nmsg embedded messages and nstr elements of repeated
// string fields (errors, types) allocates at most
// tasq_wire_decode_budget(len, nmsg, nstr) bytes, counted per block with
// its bookkeeping; a body that would need more is refused. Every embedded
// message and every string element takes at least 2 bytes, and the
// limits above bound how many a body may hold: TASQ_WIRE_MAX_REQ_MSGS
// messages in a request, TASQ_WIRE_MAX_REP_MSGS in a reply,
// TASQ_WIRE_MAX_STRS strings in either.
#define TASQ_WIRE_DECODE_PER_BYTE 8
#define TASQ_WIRE_DECODE_PER_MSG 384
#define TASQ_WIRE_DECODE_PER_STR 96
#define TASQ_WIRE_DECODE_BASE 65536
// A LeaseRequest: its result batches, each with a results column that
// may occur up to 4 times (section 8: a singular field's repeats), and
// its queues.
#define TASQ_WIRE_MAX_REQ_MSGS                                                \
	(5 * TASQ_WIRE_MAX_BATCHES + TASQ_WIRE_MAX_QUEUES)
// A StatsReply: queue, worker and type rows and counters.
#define TASQ_WIRE_MAX_REP_MSGS                                                \
	(3 * TASQ_WIRE_MAX_ROWS + TASQ_WIRE_MAX_COUNTERS)
#define TASQ_WIRE_MAX_STRS (TASQ_WIRE_MAX_IDS + TASQ_WIRE_MAX_TYPES)
// The ids that id_runs stand for (section 8.4) are decoded into columns
// of 8 bytes an id, at most TASQ_WIRE_MAX_IDS in one body, one block per
// batch: the budget grows by what they take, at most this much.
#define TASQ_WIRE_DECODE_RUNS                                                 \
	(8 * (size_t) TASQ_WIRE_MAX_IDS + 16 * (TASQ_WIRE_MAX_BATCHES + 1))
// What all decoded messages of the process may hold at once, by default.
#define TASQ_WIRE_DECODE_TOTAL ((size_t) 256 << 20)

#define TASQ_TYPE_SQUARE "square" // the built-in type; "" on the wire

// A column of n byte strings (Blobs on the wire), n given by its batch.
// width > 0: every item is width bytes, item i at data + i * width, lens
// NULL. width == 0: item i is lens[i] bytes, after the items before it.
// size is the bytes in data (n * width, or the sum of lens). Decoders
// check all of this, and items against TASQ_WIRE_MAX_PAYLOAD.
//
// The type "square" travels as width 8: int64 little-endian, payloads and
// results alike. Legacy peers' sint64 values columns (SubmitRequest 4,
// TaskBatch 5, ResultBatch 4, FetchReply 3) are converted by the decoder
// into such a column, with legacy set on the struct, and encoded back
// into values when legacy is set on what is encoded (PROTOCOL.md 8.3).
//
// The values members are that legacy column as int64s: decoders set them
// (for legacy traffic only, the column then a view of the same bytes);
// encoders send values when they are non-NULL (a client talking to a
// server older than typed tasks), else the column (converted when legacy
// is set). Everything else reads and writes the columns.
//
// What decoders guarantee: a batch's type is a valid name ("" on the wire
// becomes TASQ_TYPE_SQUARE); a square batch's payloads are width 8, even
// an empty batch's; values is non-NULL only when legacy is set, and then
// the column points at the same bytes; errors, when not NULL, has n
// non-NULL entries. Helpers for columns are in blobs.h.
typedef struct tasq_blobs {
	uint32_t  width;
	uint32_t *lens;
	uint8_t  *data;
	size_t    size;
} tasq_blobs;

typedef struct tasq_task_batch {
	uint64_t    lease_id;
	uint64_t    job_id;
	uint32_t    attempt;
	size_t      n;
	uint64_t   *ids;
	int64_t    *values;   // legacy int64 column (see above)
	const char *type;     // never NULL after decode ("square")
	tasq_blobs  payloads; // n items
	bool        legacy;   // values column on the wire (type square)
	// Encode: ids may go as (first, count) runs (the worker asked for
	// them); decode: they came so (the server reads them back).
	bool id_runs;
} tasq_task_batch;

// codes is NULL when every result is OK, else n entries (wire codes).
// errors is NULL when there are no messages, else n entries (NULL or ""
// for none; at most TASQ_WIRE_MAX_TEXT bytes each). A failed task's
// result item may be empty.
typedef struct tasq_result_batch {
	uint64_t     lease_id;
	uint64_t     job_id;
	size_t       n;
	uint64_t    *ids;
	int64_t     *values; // legacy int64 column (see above)
	uint32_t    *codes;
	tasq_blobs   results; // n items
	const char **errors;
	bool         legacy;  // values column on the wire (type square)
	bool         id_runs; // as tasq_task_batch.id_runs
} tasq_result_batch;

// Retry policy of a job (RetryPolicy): zero fields take the defaults.
typedef struct tasq_retry {
	uint32_t max_attempts;
	uint32_t backoff_ms;
	uint32_t backoff_max_ms;
} tasq_retry;

typedef struct tasq_complete_rep {
	uint32_t accepted;
	uint32_t duplicates;
	uint32_t late;
	uint32_t rejected;
} tasq_complete_rep;

typedef struct tasq_queue_stats {
	const char *name;
	uint64_t    ready, leased, results, jobs, dead;
	uint64_t    submitted, completed; // cumulative (QueueStats 7, 8)
	uint64_t    failed, retried;      // cumulative (QueueStats 9, 10)
} tasq_queue_stats;

typedef struct tasq_worker_stats {
	uint64_t    worker_id;
	const char *name;
	const char *queue;
	uint64_t    leases, tasks_in_hand, completed, idle_ms;
	bool        connected;
	uint64_t    failed, retried; // cumulative (WorkerStats 9, 10)
} tasq_worker_stats;

typedef struct tasq_type_stats {
	const char *queue;
	const char *type;
	uint64_t    ready, leased;
	uint32_t    workers;
} tasq_type_stats;

typedef struct tasq_dead_letter {
	uint64_t       id, job_id, task_id;
	const char    *queue;
	const char    *type;
	const uint8_t *payload; // payload_size bytes (0 unless asked for)
	size_t         payload_size;
	uint32_t       payload_len; // the full payload's length
	uint32_t       attempts;
	uint32_t       code;
	const char    *error;
	uint64_t       time_ms;
} tasq_dead_letter;

typedef struct tasq_counter {
	const char *name;
	uint64_t    value;
} tasq_counter;

typedef struct tasq_submit_req {
	const char *queue;
	uint64_t    job_id;
	uint64_t    first_index;
	size_t      n;
	int64_t    *values;   // legacy int64 column (see above)
	const char *type;     // never NULL after decode ("square")
	tasq_blobs  payloads; // n items
	bool        legacy;   // values column on the wire (type square)
	bool        has_retry;
	tasq_retry  retry;
	bool        detach;        // keep results for Results (9.11)
	uint64_t    result_ttl_ms; // 0: the server's --result-ttl
	const char *host;          // NULL or "": not given
	bool        last;          // ends the job's input (n may be 0)
	uint32_t    priority;      // 0..TASQ_WIRE_MAX_PRIORITY, 0: the default
} tasq_submit_req;

// JobState (PROTOCOL.md 9.11).
enum {
	TASQ_JOB_OPEN      = 0,
	TASQ_JOB_RUNNING   = 1,
	TASQ_JOB_DONE      = 2,
	TASQ_JOB_CANCELLED = 3, // PROTOCOL.md 9.15
};

typedef struct tasq_job_info {
	uint64_t    job_id;
	const char *queue;
	const char *type;
	const char *host; // "" when not given
	int         state;
	uint64_t    submitted, completed, failed;
	uint64_t    age_ms;
	uint64_t    result_ttl_ms, expires_in_ms;
	bool        detached, no_worker;
	uint32_t    workers; // with no_worker: workers connected
} tasq_job_info;

// A queue a worker serves and its weight (1..TASQ_WIRE_MAX_PRIORITY;
// decoders turn 0 into 1).
typedef struct tasq_queue_weight {
	const char *name;
	uint32_t    weight;
} tasq_queue_weight;

typedef struct tasq_submit_rep {
	uint32_t accepted;
	bool     duplicate;
} tasq_submit_rep;

typedef struct tasq_req {
	int   method;
	void *pb_;  // private: the decoded protobuf message
	void *mem_; // private: arrays allocated by the decoder (counted)
	union {
		tasq_submit_req submit;
		struct {
			const char        *queue;
			uint64_t           worker_id;
			const char        *worker_name;
			uint32_t           max_tasks;
			uint32_t           wait_ms;
			size_t             nresults;
			tasq_result_batch *results;
			size_t             ntypes; // 0: legacy worker (square)
			const char       **types;
			bool               id_runs; // reads TaskBatch.id_runs
			// 0: queue alone; else the queues served in turn
			// (distinct names; decoders check them).
			size_t            nqueues;
			tasq_queue_weight queues[TASQ_WIRE_MAX_QUEUES];
		} lease;
		struct {
			uint64_t           worker_id;
			size_t             nresults;
			tasq_result_batch *results;
		} complete;
		struct {
			uint64_t  worker_id;
			size_t    n;
			uint64_t *lease_ids;
		} extend, release;
		struct {
			uint64_t        job_id;
			uint64_t        ack_seq;
			uint32_t        max_results;
			uint32_t        wait_ms;
			bool            has_submit; // submit is set
			tasq_submit_req submit;     // same job_id
			bool            id_runs;    // reads FetchReply.id_runs
			// Jobs to close first: nclose (job_id, ack_seq)
			// pairs, at most TASQ_WIRE_MAX_CLOSES.
			size_t          nclose;
			const uint64_t *close_jobs;
		} fetch;
		struct {
			uint64_t job_id;
			uint64_t ack_seq;
		} close_job;
		struct {
			const char *queue;
			uint64_t    after_id;
			uint32_t    max;
			bool        payloads;
		} dead_list;
		struct {
			size_t      n;
			uint64_t   *ids;
			bool        all;
			const char *queue;
		} dead_purge;
		struct {
			const char *queue; // "": all
			uint32_t    max;
		} job_list;
		struct {
			uint64_t job_id;
		} job_status;
		struct {
			uint64_t job_id;
			uint64_t from_index;
			uint32_t max;
			uint32_t wait_ms;
		} results;
		struct {
			uint64_t job_id;
		} cancel;
	} u;
} tasq_req;

typedef struct tasq_rep {
	int   method;
	void *pb_;
	void *mem_;
	union {
		struct {
			bool        serving;
			const char *version;
			uint64_t    server_id;
			uint64_t    uptime_ms;
			uint32_t    heartbeat_port;
			uint64_t    identity; // 0: a server from before
		} health;
		tasq_submit_rep submit;
		struct {
			size_t            nbatches;
			tasq_task_batch  *batches;
			uint32_t          lease_ms;
			tasq_complete_rep completed;
			// Leases held that a cancel reached (9.15): at most
			// TASQ_WIRE_MAX_CANCELLED.
			size_t    ncancelled;
			uint64_t *cancelled;
		} lease;
		tasq_complete_rep complete;
		struct {
			uint32_t  lease_ms;
			size_t    n;
			uint64_t *unknown;
			size_t    ncancelled; // of the request's ids (9.15)
			uint64_t *cancelled;
		} extend;
		struct {
			uint32_t released;
		} release;
		struct {
			uint64_t  seq;
			size_t    n;
			uint64_t *ids;
			int64_t  *values; // legacy int64 column (see above)
			uint32_t *codes;  // NULL: all OK
			uint64_t  submitted;
			uint64_t  completed;
			bool      has_submit; // submit is set
			tasq_submit_rep submit;
			tasq_blobs      results; // n items
			const char    **errors;  // NULL: no messages
			bool            legacy;  // values column (type square)
			bool            no_worker;
			uint32_t        workers; // with no_worker: connected
			bool            id_runs; // ids may go as runs
		} fetch;
		struct {
			uint64_t dropped;
		} close_job;
		struct {
			const char        *version;
			uint64_t           uptime_ms;
			size_t             nqueues;
			tasq_queue_stats  *queues;
			size_t             nworkers;
			tasq_worker_stats *workers;
			size_t             ncounters;
			tasq_counter      *counters;
			size_t             ndead; // pairs: job id, task id
			uint64_t          *dead;
			size_t             ntypes;
			tasq_type_stats   *types;
			uint64_t           dead_total;
			uint64_t           identity; // 0: a server from before
		} stats;
		struct {
			size_t            n;
			tasq_dead_letter *letters;
			uint64_t          total;
		} dead_list;
		struct {
			uint64_t purged;
		} dead_purge;
		struct {
			size_t         n;
			tasq_job_info *jobs;
			uint64_t       total;
		} job_list;
		struct {
			tasq_job_info job;
		} job_status;
		struct {
			size_t        n;
			uint64_t     *ids;
			uint32_t     *codes;   // NULL: all OK
			tasq_blobs    results; // n items
			const char  **errors;  // NULL: no messages
			uint64_t      next_index;
			bool          has_job;
			tasq_job_info job;
		} results;
		struct {
			uint64_t      dropped; // queued tasks removed
			uint32_t      running; // leased tasks told to stop
			bool          has_job;
			tasq_job_info job;
		} cancel;
	} u;
} tasq_rep;

// tasq_wire_method_name returns "Submit", ... or NULL for an unknown
// method number; names come from the generated service descriptor.
const char *tasq_wire_method_name(int method);

// tasq_wire_method_count is the number of methods of the service.
int tasq_wire_method_count(void);

// tasq_wire_decode_req decodes body (len bytes) as the request of method.
// Borrows body. Before anything is allocated the body is scanned: counts
// of repeated fields (all instances together) against TASQ_WIRE_MAX_*,
// every string for length, NUL bytes and valid UTF-8. Then it is
// unpacked within tasq_wire_decode_budget and the process-wide total
// (tasq_wire_set_decode_total). On failure *why gets a static reason.
// Errors: TASQ_EUNIMPLEMENTED (unknown method), TASQ_EINVALID_ARGUMENT
// (malformed, over a limit or over its budget), TASQ_ERESOURCE_EXHAUSTED
// (out of memory, or the process-wide total reached: retry later).
int  tasq_wire_decode_req(int method, const uint8_t *body, size_t len,
     tasq_req *req, const char **why);
void tasq_wire_req_fini(tasq_req *req);

// tasq_wire_decode_rep decodes a reply body of method. Errors as above.
int  tasq_wire_decode_rep(int method, const uint8_t *body, size_t len,
     tasq_rep *rep, const char **why);
void tasq_wire_rep_fini(tasq_rep *rep);

// tasq_wire_encode_req/rep pack req/rep (req->method / rep->method) into a
// new message. Borrows req/rep. A batch (submit, task or result batch,
// fetch reply) goes out as values when values is non-NULL (code not yet
// converted) or legacy is set (made from its column, which must be width
// 8 or hold empty items, sent as 0), else as type and Blobs (none for an
// empty batch). errors go out only when one is non-empty; NULL entries
// as "". Errors: NNG_ENOMEM, TASQ_EINVALID_ARGUMENT (among others a
// column tasq_blobs_check refuses with TASQ_WIRE_MAX_PAYLOAD, or an error
// message over TASQ_WIRE_MAX_TEXT bytes or not UTF-8 without NUL, which
// the peer would refuse).
int tasq_wire_encode_req(const tasq_req *req, nng_msg **msgp);
int tasq_wire_encode_rep(const tasq_rep *rep, nng_msg **msgp);

// tasq_wire_encode_status packs a tasq.v1.Status (code, text).
int tasq_wire_encode_status(int code, const char *text, nng_msg **msgp);

// tasq_wire_decode_status unpacks a Status body (scanned and budgeted as
// replies are; a message over TASQ_WIRE_MAX_TEXT bytes, with NUL bytes or
// not UTF-8 is refused); text (textlen bytes) gets its message, truncated
// at a character boundary and with control characters replaced.
int tasq_wire_decode_status(
    const uint8_t *body, size_t len, int *code, char *text, size_t textlen);

// tasq_wire_decode_budget is the most that decoding a body of len bytes
// with nmsg embedded messages and nstr repeated string elements may
// allocate: PER_BYTE * len + PER_MSG * nmsg + PER_STR * nstr + BASE
// (saturating).
size_t tasq_wire_decode_budget(size_t len, size_t nmsg, size_t nstr);

// tasq_wire_decode_bound is the budget of the worst body of len bytes:
// nmsg at its limit (TASQ_WIRE_MAX_REQ_MSGS or _REP_MSGS) or len / 2,
// and nstr at TASQ_WIRE_MAX_STRS or what is left of len / 2, plus
// TASQ_WIRE_DECODE_RUNS.
size_t tasq_wire_decode_bound(size_t len, bool reply);

// tasq_wire_decode_peak returns the most bytes the calling thread's last
// decode (of a request, reply or Status) held at once, 0 when it was
// refused before allocating anything. For tests and the fuzz targets.
size_t tasq_wire_decode_peak(void);

// tasq_wire_decode_held returns the bytes that decoded messages hold now,
// in the whole process (released by the _fini calls).
size_t tasq_wire_decode_held(void);

// tasq_wire_set_decode_total sets what all decoded messages may hold at
// once (default TASQ_WIRE_DECODE_TOTAL); a decode that would go past it
// fails with TASQ_ERESOURCE_EXHAUSTED, which is worth retrying. Returns
// the previous value. Thread-safe.
size_t tasq_wire_set_decode_total(size_t bytes);

// tasq_wire_valid_name checks a queue name: 1..TASQ_WIRE_MAX_NAME bytes of
// [A-Za-z0-9._-]. Task types are names too.
bool tasq_wire_valid_name(const char *s);

// tasq_wire_code_final says whether a task's result code ends the task:
// OK, or a failure that another attempt cannot fix (INVALID_ARGUMENT,
// NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED, FAILED_PRECONDITION,
// OUT_OF_RANGE, UNIMPLEMENTED, UNAUTHENTICATED). Any other code (and one
// above TASQ_CODE_MAX) is retried under the job's retry policy
// (docs/PROTOCOL.md 8.2). Workers choose their codes by it; the broker
// applies it.
bool tasq_wire_code_final(uint32_t code);

#endif
