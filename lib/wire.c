#include "wire.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "err.h"
#include "tasq.pb-c.h"

#define SVC tasq__v1__queue__descriptor

// ---- decoding memory -----------------------------------------------------
//
// Every block the decoder allocates (protobuf-c's and our own arrays)
// carries its size in front, so that it can be counted against the
// decode's budget while it is made and against the process-wide total
// until the _fini that frees it.

#define BLK_HDR alignof(max_align_t)

static atomic_size_t        decode_held;
static atomic_size_t        decode_total = TASQ_WIRE_DECODE_TOTAL;
static _Thread_local size_t decode_peak;

enum budget_fail {
	BUDGET_OK,
	BUDGET_NOMEM, // malloc failed
	BUDGET_OVER,  // this decode's budget
	BUDGET_TOTAL, // the process-wide total
};

struct budget {
	size_t           max, used, peak;
	enum budget_fail fail;
};

static void *
budget_alloc(void *arg, size_t size)
{
	struct budget *b = arg;
	size_t         n, total;
	char          *p;

	if (size > b->max || b->max - size < BLK_HDR ||
	    b->used > b->max - size - BLK_HDR) {
		b->fail = BUDGET_OVER;
		return (NULL);
	}
	n     = size + BLK_HDR;
	total = atomic_load(&decode_total);
	if (n > total || atomic_fetch_add(&decode_held, n) > total - n) {
		atomic_fetch_sub(&decode_held, n);
		b->fail = BUDGET_TOTAL;
		return (NULL);
	}
	if ((p = malloc(n)) == NULL) {
		atomic_fetch_sub(&decode_held, n);
		b->fail = BUDGET_NOMEM;
		return (NULL);
	}
	memcpy(p, &n, sizeof(n));
	b->used += n;
	if (b->used > b->peak) {
		b->peak = b->used;
	}
	return (p + BLK_HDR);
}

// arg is the decode's budget while it runs, NULL from the _fini calls.
static void
budget_free(void *arg, void *ptr)
{
	struct budget *b = arg;
	char          *p;
	size_t         n;

	if (ptr == NULL) {
		return;
	}
	p = (char *) ptr - BLK_HDR;
	memcpy(&n, p, sizeof(n));
	atomic_fetch_sub(&decode_held, n);
	if (b != NULL) {
		b->used -= n;
	}
	free(p);
}

static void *
budget_calloc(struct budget *b, size_t n, size_t size)
{
	void *p;

	if (size != 0 && n > SIZE_MAX / size) {
		b->fail = BUDGET_OVER;
		return (NULL);
	}
	if ((p = budget_alloc(b, n * size)) != NULL) {
		memset(p, 0, n * size);
	}
	return (p);
}

static ProtobufCAllocator fini_allocator = {
	.alloc = budget_alloc, .free = budget_free, .allocator_data = NULL
};

size_t
tasq_wire_decode_budget(size_t len, size_t nmsg)
{
	size_t b = TASQ_WIRE_DECODE_BASE;

	if (len > (SIZE_MAX - b) / TASQ_WIRE_DECODE_PER_BYTE) {
		return (SIZE_MAX);
	}
	b += len * TASQ_WIRE_DECODE_PER_BYTE;
	if (nmsg > (SIZE_MAX - b) / TASQ_WIRE_DECODE_PER_MSG) {
		return (SIZE_MAX);
	}
	return (b + nmsg * TASQ_WIRE_DECODE_PER_MSG);
}

size_t
tasq_wire_decode_bound(size_t len, bool reply)
{
	size_t most = reply ? TASQ_WIRE_MAX_REP_MSGS : TASQ_WIRE_MAX_REQ_MSGS;

	return (tasq_wire_decode_budget(len, len / 2 < most ? len / 2 : most));
}

size_t
tasq_wire_decode_peak(void)
{
	return (decode_peak);
}

size_t
tasq_wire_decode_held(void)
{
	return (atomic_load(&decode_held));
}

size_t
tasq_wire_set_decode_total(size_t bytes)
{
	return (atomic_exchange(&decode_total, bytes));
}

// Unpacks body as a message of d within a budget (b, which the decoder
// keeps using for its own arrays).
static int unpack(const ProtobufCMessageDescriptor *d, const uint8_t *body,
    size_t len, struct budget *b, ProtobufCMessage **pbp, const char *what,
    const char **why);
// ---- the scan before the unpack ------------------------------------------
//
// protobuf-c allocates as it parses: a 2-byte empty message in a repeated
// field costs it some 170 bytes, every occurrence of any field a 32-byte
// record until the message ends, and string fields come out as C strings
// that end at their first NUL byte. So a body is first walked as it is on
// the wire, allocating nothing: each repeated field's elements are counted
// over all its instances together against the limits below, a singular
// field may occur only a few times, unknown fields a few per message, and
// every string is checked on its full length. What passes is unpacked
// within a budget proportional to its size (unpack, budget_alloc).

// Limits of repeated fields (elements, over the whole body) and strings
// (bytes). A repeated field without an entry may hold 0 elements; a
// string without one TASQ_WIRE_MAX_TEXT bytes of text.
enum rule_kind {
	R_COUNT,
	R_TEXT,  // UTF-8 without NUL
	R_LABEL, // and without control characters (C0, DEL, C1)
};

struct rule {
	const ProtobufCMessageDescriptor *msg;
	unsigned                          id;
	enum rule_kind                    kind;
	size_t                            max;
	const char                       *why;
};

#define COUNT(m, f, n, w)                                                     \
	{                                                                     \
		&tasq__v1__##m##__descriptor, f, R_COUNT, n, w                \
	}
#define TEXT(m, f, kind, n)                                                   \
	{                                                                     \
		&tasq__v1__##m##__descriptor, f, kind, n,                     \
		    "a string is too long, holds a NUL byte or is not UTF-8"  \
	}

static const struct rule rules[] = {
	COUNT(submit_request, 4, TASQ_WIRE_MAX_IDS,
	    "too many ids in one request"),
	COUNT(lease_request, 6, TASQ_WIRE_MAX_BATCHES,
	    "too many result batches"),
	COUNT(complete_request, 2, TASQ_WIRE_MAX_BATCHES,
	    "too many result batches"),
	COUNT(result_batch, 3, TASQ_WIRE_MAX_IDS,
	    "too many results in one request"),
	COUNT(result_batch, 4, TASQ_WIRE_MAX_IDS,
	    "too many results in one request"),
	COUNT(result_batch, 5, TASQ_WIRE_MAX_IDS,
	    "too many results in one request"),
	COUNT(extend_request, 2, TASQ_WIRE_MAX_BATCHES, "too many lease ids"),
	COUNT(release_request, 2, TASQ_WIRE_MAX_BATCHES, "too many lease ids"),
	COUNT(lease_reply, 1, TASQ_WIRE_MAX_BATCHES, "too many task batches"),
	COUNT(task_batch, 4, TASQ_WIRE_MAX_IDS, "too many tasks in one reply"),
	COUNT(task_batch, 5, TASQ_WIRE_MAX_IDS, "too many tasks in one reply"),
	COUNT(extend_reply, 2, TASQ_WIRE_MAX_BATCHES, "too many lease ids"),
	COUNT(fetch_reply, 2, TASQ_WIRE_MAX_IDS,
	    "too many results in one reply"),
	COUNT(fetch_reply, 3, TASQ_WIRE_MAX_IDS,
	    "too many results in one reply"),
	COUNT(fetch_reply, 4, TASQ_WIRE_MAX_IDS,
	    "too many results in one reply"),
	COUNT(stats_reply, 3, TASQ_WIRE_MAX_ROWS, "too many queues"),
	COUNT(stats_reply, 4, TASQ_WIRE_MAX_ROWS, "too many workers"),
	COUNT(stats_reply, 5, TASQ_WIRE_MAX_COUNTERS, "too many counters"),
	COUNT(stats_reply, 6, 2 * TASQ_WIRE_MAX_DEAD, "too many dead letters"),
	TEXT(submit_request, 1, R_TEXT, TASQ_WIRE_MAX_NAME),
	TEXT(lease_request, 1, R_TEXT, TASQ_WIRE_MAX_NAME),
	TEXT(lease_request, 3, R_LABEL, TASQ_WIRE_MAX_NAME),
	TEXT(health_reply, 2, R_TEXT, TASQ_WIRE_MAX_NAME),
	TEXT(stats_reply, 1, R_TEXT, TASQ_WIRE_MAX_NAME),
	TEXT(queue_stats, 1, R_TEXT, TASQ_WIRE_MAX_NAME),
	TEXT(worker_stats, 2, R_LABEL, TASQ_WIRE_MAX_NAME),
	TEXT(worker_stats, 3, R_TEXT, TASQ_WIRE_MAX_NAME),
	TEXT(counter, 1, R_TEXT, TASQ_WIRE_MAX_NAME),
	TEXT(status, 2, R_TEXT, TASQ_WIRE_MAX_TEXT),
};

#define NRULES (sizeof(rules) / sizeof(rules[0]))
#define SCAN_MAX_DEPTH 4    // the schema nests 3 deep
#define SCAN_MAX_FIELDS 16  // fields of one message type (at most 8 now)
#define SCAN_MAX_REPEATS 4  // occurrences of a singular field
#define SCAN_MAX_UNKNOWN 16 // unknown fields in one message

struct scan {
	size_t      count[NRULES]; // elements of each counted field
	size_t      nmsg;          // embedded messages
	const char *why;
};

static const struct rule *
rule_of(const ProtobufCMessageDescriptor *d, unsigned id)
{
	for (size_t i = 0; i < NRULES; i++) {
		if (rules[i].msg == d && rules[i].id == id) {
			return (&rules[i]);
		}
	}
	return (NULL);
}

// Whether s (n bytes) is UTF-8 as RFC 3629 has it (no overlong forms, no
// surrogates, nothing past U+10FFFF), without NUL, and for a label
// without control characters.
static bool
text_ok(const uint8_t *s, size_t n, bool label)
{
	size_t i = 0;

	while (i < n) {
		uint32_t c = s[i], min;
		size_t   k;

		if (c < 0x80) {
			if (c == 0 || (label && (c < 0x20 || c == 0x7f))) {
				return (false);
			}
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			k = 1, c &= 0x1f, min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2, c &= 0x0f, min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3, c &= 0x07, min = 0x10000;
		} else {
			return (false);
		}
		if (n - i - 1 < k) {
			return (false);
		}
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80) {
				return (false);
			}
			c = c << 6 | (s[i + j] & 0x3f);
		}
		if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff) ||
		    (label && c <= 0x9f)) {
			return (false);
		}
		i += k + 1;
	}
	return (true);
}

static bool
scan_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *v)
{
	uint64_t r = 0;

	for (unsigned i = 0; i < 10 && *pos < len; i++) {
		uint8_t b = p[(*pos)++];
		r |= (uint64_t) (b & 0x7f) << (7 * i);
		if ((b & 0x80) == 0) {
			*v = r;
			return (true);
		}
	}
	return (false);
}

// The wire type of a field of type t when not packed.
static unsigned
wire_type(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
		return (5);
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return (1);
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_BYTES:
	case PROTOBUF_C_TYPE_MESSAGE:
		return (2);
	default:
		return (0);
	}
}

// Elements in a packed field of wire type wt, or false if malformed.
static bool
packed_count(unsigned wt, const uint8_t *p, size_t len, size_t *np)
{
	size_t n = 0, run = 0;

	switch (wt) {
	case 0:
		// One element ends at each byte without the continuation bit,
		// counted eight bytes at a time: this scan runs over every
		// column of every batch, so it must cost little beside the
		// unpack. A varint longer than 10 bytes is protobuf-c's to
		// refuse; the count (and so the memory budget) holds anyway.
		if (len > 0 && (p[len - 1] & 0x80) != 0) {
			return (false); // the last varint is cut short
		}
		for (; run + 8 <= len; run += 8) {
			uint64_t w;
			memcpy(&w, p + run, sizeof(w));
			w = (~w & 0x8080808080808080ULL) >> 7;
			n += (size_t) ((w * 0x0101010101010101ULL) >> 56);
		}
		for (; run < len; run++) {
			n += (p[run] & 0x80) == 0;
		}
		break;
	case 1:
	case 5:
		if (len % (wt == 1 ? 8 : 4) != 0) {
			return (false);
		}
		n = len / (wt == 1 ? 8 : 4);
		break;
	default:
		return (false);
	}
	*np = n;
	return (true);
}

static int
scan_fail(struct scan *s, const char *why)
{
	s->why = why;
	return (TASQ_EINVALID_ARGUMENT);
}

static int
scan_msg(struct scan *s, const ProtobufCMessageDescriptor *d, const uint8_t *p,
    size_t len, unsigned depth)
{
	uint8_t  seen[SCAN_MAX_FIELDS] = { 0 };
	unsigned unknown               = 0;
	size_t   pos                   = 0;

	if (depth > SCAN_MAX_DEPTH || d->n_fields > SCAN_MAX_FIELDS) {
		return (scan_fail(s, "messages nested too deeply"));
	}
	while (pos < len) {
		const ProtobufCFieldDescriptor *f;
		const struct rule              *r;
		const uint8_t                  *data = NULL;
		uint64_t                        tag, v;
		size_t                          dlen = 0, n = 1;
		unsigned                        wt, want;
		int                             rv;

		if (!scan_varint(p, len, &pos, &tag) || tag > UINT32_MAX ||
		    (tag >> 3) == 0) {
			return (scan_fail(s, "malformed field tag"));
		}
		wt = (unsigned) (tag & 7);
		switch (wt) {
		case 0:
			if (!scan_varint(p, len, &pos, &v)) {
				return (scan_fail(s, "malformed varint"));
			}
			break;
		case 1:
		case 5:
			if (len - pos < (wt == 1 ? 8u : 4u)) {
				return (scan_fail(s, "truncated field"));
			}
			pos += wt == 1 ? 8 : 4;
			break;
		case 2:
			if (!scan_varint(p, len, &pos, &v) || v > len - pos) {
				return (scan_fail(s, "truncated field"));
			}
			data = p + pos, dlen = (size_t) v;
			pos += dlen;
			break;
		default:
			return (scan_fail(s, "unsupported wire type"));
		}
		f = protobuf_c_message_descriptor_get_field(
		    d, (unsigned) (tag >> 3));
		if (f == NULL) {
			if (++unknown > SCAN_MAX_UNKNOWN) {
				return (
				    scan_fail(s, "too many unknown fields"));
			}
			continue;
		}
		want = wire_type(f->type);
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			if (wt != want &&
			    (wt != 2 || want == 2 ||
			        !packed_count(want, data, dlen, &n))) {
				return (
				    scan_fail(s, "malformed repeated field"));
			}
			r = rule_of(d, f->id);
			if (r == NULL || r->kind != R_COUNT) {
				return (
				    scan_fail(s, "unexpected repeated field"));
			}
			s->count[r - rules] += n;
			if (s->count[r - rules] > r->max) {
				return (scan_fail(s, r->why));
			}
		} else {
			if (wt != want) {
				return (
				    scan_fail(s, "field of the wrong type"));
			}
			if (++seen[f - d->fields] > SCAN_MAX_REPEATS) {
				return (
				    scan_fail(s, "a field occurs too often"));
			}
		}
		if (f->type == PROTOBUF_C_TYPE_STRING) {
			r = rule_of(d, f->id);
			if (r != NULL && r->kind == R_COUNT) {
				r = NULL;
			}
			if (dlen > (r ? r->max : TASQ_WIRE_MAX_TEXT) ||
			    !text_ok(data, dlen, r && r->kind == R_LABEL)) {
				return (scan_fail(s,
				    r ? r->why
				      : "a string is too "
				        "long, holds a NUL "
				        "byte or is not UTF-8"));
			}
		} else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
			s->nmsg++;
			if ((rv = scan_msg(s, f->descriptor, data, dlen,
			         depth + 1)) != 0) {
				return (rv);
			}
		}
	}
	return (0);
}

// Why an unpack that returned NULL failed.
static int
unpack_failed(const struct budget *b, const char *what, const char **why)
{
	switch (b->fail) {
	case BUDGET_NOMEM:
		*why = "out of memory";
		return (TASQ_ERESOURCE_EXHAUSTED);
	case BUDGET_TOTAL:
		*why = "too many large messages being decoded; retry later";
		return (TASQ_ERESOURCE_EXHAUSTED);
	case BUDGET_OVER:
		*why = "message needs more memory to decode than its size "
		       "allows (send repeated numbers packed)";
		return (TASQ_EINVALID_ARGUMENT);
	default:
		*why = what;
		return (TASQ_EINVALID_ARGUMENT);
	}
}

static int
unpack(const ProtobufCMessageDescriptor *d, const uint8_t *body, size_t len,
    struct budget *b, ProtobufCMessage **pbp, const char *what,
    const char **why)
{
	ProtobufCAllocator a = {
		.alloc = budget_alloc, .free = budget_free, .allocator_data = b
	};

	struct scan sc;
	int         rv;

	memset(b, 0, sizeof(*b));
	memset(&sc, 0, sizeof(sc));
	decode_peak = 0;
	*pbp        = NULL;
	if ((rv = scan_msg(&sc, d, body, len, 0)) != 0) {
		*why = sc.why;
		return (rv);
	}
	b->max      = tasq_wire_decode_budget(len, sc.nmsg);
	*pbp        = protobuf_c_message_unpack(d, &a, len, body);
	decode_peak = b->peak;
	if (*pbp == NULL) {
		return (unpack_failed(b, what, why));
	}
	return (0);
}

const char *
tasq_wire_method_name(int method)
{
	if (method < 0 || (unsigned) method >= SVC.n_methods) {
		return (NULL);
	}
	return (SVC.methods[method].name);
}

int
tasq_wire_method_count(void)
{
	return ((int) SVC.n_methods);
}

bool
tasq_wire_valid_name(const char *s)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++) {
		char c = s[n];
		if (n >= TASQ_WIRE_MAX_NAME) {
			return (false);
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		        c == '-')) {
			return (false);
		}
	}
	return (n > 0);
}

// A worker name is free text for humans: bounded and printable.
static bool
valid_label(const char *s)
{
	size_t n = 0;
	for (; s[n] != '\0'; n++) {
		if (n >= TASQ_WIRE_MAX_NAME || (unsigned char) s[n] < 0x20 ||
		    s[n] == 0x7f) {
			return (false);
		}
	}
	return (true);
}

static int
result_batches_in(size_t n, Tasq__V1__ResultBatch **in,
    tasq_result_batch **outp, void **memp, struct budget *bud,
    const char **why)
{
	tasq_result_batch *out;
	size_t             total = 0;

	*outp = NULL;
	if (n == 0) {
		return (0);
	}
	if (n > TASQ_WIRE_MAX_BATCHES) {
		*why = "too many result batches";
		return (TASQ_EINVALID_ARGUMENT);
	}
	for (size_t i = 0; i < n; i++) {
		Tasq__V1__ResultBatch *b = in[i];
		if (b->n_values != b->n_ids ||
		    (b->n_codes != 0 && b->n_codes != b->n_ids)) {
			*why = "result batch columns differ in length";
			return (TASQ_EINVALID_ARGUMENT);
		}
		for (size_t j = 0; j < b->n_codes; j++) {
			if (b->codes[j] > TASQ_CODE_MAX) {
				*why = "result code out of range";
				return (TASQ_EINVALID_ARGUMENT);
			}
		}
		total += b->n_ids;
	}
	if (total > TASQ_WIRE_MAX_IDS) {
		*why = "too many results in one request";
		return (TASQ_EINVALID_ARGUMENT);
	}
	if ((out = budget_calloc(bud, n, sizeof(*out))) == NULL) {
		return (unpack_failed(bud, "out of memory", why));
	}
	for (size_t i = 0; i < n; i++) {
		out[i].lease_id = in[i]->lease_id;
		out[i].job_id   = in[i]->job_id;
		out[i].n        = in[i]->n_ids;
		out[i].ids      = in[i]->ids;
		out[i].values   = in[i]->values;
		out[i].codes    = in[i]->n_codes ? in[i]->codes : NULL;
	}
	*outp = out;
	*memp = out;
	return (0);
}

static int
check_ids(size_t n, const char **why)
{
	if (n > TASQ_WIRE_MAX_IDS) {
		*why = "too many ids in one request";
		return (TASQ_EINVALID_ARGUMENT);
	}
	return (0);
}

// Checks a SubmitRequest (a Submit's, or one carried by a Fetch) and
// points out at its fields.
static int
submit_in(Tasq__V1__SubmitRequest *m, tasq_submit_req *out, const char **why)
{
	int rv;

	if (!tasq_wire_valid_name(m->queue)) {
		*why = "queue name must be 1-64 characters of [A-Za-z0-9._-]";
		return (TASQ_EINVALID_ARGUMENT);
	}
	if (m->job_id == 0) {
		*why = "job_id must not be 0";
		return (TASQ_EINVALID_ARGUMENT);
	}
	if (m->n_values == 0) {
		*why = "a submit must carry at least one task";
		return (TASQ_EINVALID_ARGUMENT);
	}
	if (m->first_index > UINT64_MAX - m->n_values) {
		*why = "task ids overflow";
		return (TASQ_EINVALID_ARGUMENT);
	}
	if ((rv = check_ids(m->n_values, why)) != 0) {
		return (rv);
	}
	out->queue       = m->queue;
	out->job_id      = m->job_id;
	out->first_index = m->first_index;
	out->n           = m->n_values;
	out->values      = m->values;
	return (0);
}

int
tasq_wire_decode_req(int method, const uint8_t *body, size_t len,
    tasq_req *req, const char **why)
{
	ProtobufCMessage *pb;
	struct budget     bud;
	int               rv = 0;

	memset(req, 0, sizeof(*req));
	req->method = method;
	decode_peak = 0;
	if (method < 0 || (unsigned) method >= SVC.n_methods) {
		*why = "unknown method";
		return (TASQ_EUNIMPLEMENTED);
	}
	if ((rv = unpack(SVC.methods[method].input, body, len, &bud, &pb,
	         "request body is not a valid protobuf message", why)) != 0) {
		return (rv);
	}
	req->pb_ = pb;
	switch (method) {
	case TASQ_M_HEALTH:
	case TASQ_M_STATS:
		break;
	case TASQ_M_SUBMIT:
		rv = submit_in((void *) pb, &req->u.submit, why);
		break;
	case TASQ_M_LEASE: {
		Tasq__V1__LeaseRequest *m = (void *) pb;
		if (!tasq_wire_valid_name(m->queue)) {
			*why = "queue name must be 1-64 characters of "
			       "[A-Za-z0-9._-]";
			rv   = TASQ_EINVALID_ARGUMENT;
			break;
		}
		if (m->worker_id == 0 || !valid_label(m->worker_name)) {
			*why = "worker_id must not be 0 and worker_name must "
			       "be at most 64 printable bytes";
			rv   = TASQ_EINVALID_ARGUMENT;
			break;
		}
		req->u.lease.queue       = m->queue;
		req->u.lease.worker_id   = m->worker_id;
		req->u.lease.worker_name = m->worker_name;
		req->u.lease.max_tasks   = m->max_tasks;
		req->u.lease.wait_ms     = m->wait_ms;
		req->u.lease.nresults    = m->n_results;
		rv = result_batches_in(m->n_results, m->results,
		    &req->u.lease.results, &req->mem_, &bud, why);
		break;
	}
	case TASQ_M_COMPLETE: {
		Tasq__V1__CompleteRequest *m = (void *) pb;
		req->u.complete.worker_id    = m->worker_id;
		req->u.complete.nresults     = m->n_results;
		rv = result_batches_in(m->n_results, m->results,
		    &req->u.complete.results, &req->mem_, &bud, why);
		break;
	}
	case TASQ_M_EXTEND:
	case TASQ_M_RELEASE: {
		// Same shape: worker_id and a packed list of lease ids.
		uint64_t  wid;
		size_t    n;
		uint64_t *ids;
		if (method == TASQ_M_EXTEND) {
			Tasq__V1__ExtendRequest *m = (void *) pb;
			wid = m->worker_id, n = m->n_lease_ids,
			ids = m->lease_ids;
		} else {
			Tasq__V1__ReleaseRequest *m = (void *) pb;
			wid = m->worker_id, n = m->n_lease_ids,
			ids = m->lease_ids;
		}
		if (n > TASQ_WIRE_MAX_BATCHES) {
			*why = "too many lease ids";
			rv   = TASQ_EINVALID_ARGUMENT;
			break;
		}
		req->u.extend.worker_id = wid;
		req->u.extend.n         = n;
		req->u.extend.lease_ids = ids;
		break;
	}
	case TASQ_M_FETCH: {
		Tasq__V1__FetchRequest *m = (void *) pb;
		if (m->job_id == 0) {
			*why = "job_id must not be 0";
			rv   = TASQ_EINVALID_ARGUMENT;
			break;
		}
		req->u.fetch.job_id      = m->job_id;
		req->u.fetch.ack_seq     = m->ack_seq;
		req->u.fetch.max_results = m->max_results;
		req->u.fetch.wait_ms     = m->wait_ms;
		if (m->submit == NULL) {
			break;
		}
		if ((rv = submit_in(m->submit, &req->u.fetch.submit, why)) !=
		    0) {
			break;
		}
		if (m->submit->job_id != m->job_id) {
			*why = "a fetch's submit must be for the same job";
			rv   = TASQ_EINVALID_ARGUMENT;
			break;
		}
		req->u.fetch.has_submit = true;
		break;
	}
	case TASQ_M_CLOSE_JOB: {
		Tasq__V1__CloseJobRequest *m = (void *) pb;
		req->u.close_job.job_id      = m->job_id;
		req->u.close_job.ack_seq     = m->ack_seq;
		break;
	}
	default:
		*why = "unknown method";
		rv   = TASQ_EUNIMPLEMENTED;
		break;
	}
	decode_peak = bud.peak;
	if (rv != 0) {
		tasq_wire_req_fini(req);
	}
	return (rv);
}

// Blocks of a decoded message (pb_ set) are counted; mem_ alone may be a
// plain malloc of a reply the broker built.
static void
decoded_free(void **pb, void **mem)
{
	if (*pb != NULL) {
		protobuf_c_message_free_unpacked(*pb, &fini_allocator);
		budget_free(NULL, *mem);
	} else {
		free(*mem);
	}
	*pb  = NULL;
	*mem = NULL;
}

void
tasq_wire_req_fini(tasq_req *req)
{
	decoded_free(&req->pb_, &req->mem_);
}

static bool
codes_ok(size_t n, const uint32_t *codes)
{
	for (size_t i = 0; i < n; i++) {
		if (codes[i] > TASQ_CODE_MAX) {
			return (false);
		}
	}
	return (true);
}

int
tasq_wire_decode_rep(int method, const uint8_t *body, size_t len,
    tasq_rep *rep, const char **why)
{
	ProtobufCMessage *pb;
	struct budget     bud;
	int               rv = 0;

	memset(rep, 0, sizeof(*rep));
	rep->method = method;
	decode_peak = 0;
	if (method < 0 || (unsigned) method >= SVC.n_methods) {
		*why = "unknown method";
		return (TASQ_EUNIMPLEMENTED);
	}
	if ((rv = unpack(SVC.methods[method].output, body, len, &bud, &pb,
	         "reply body is not a valid protobuf message", why)) != 0) {
		return (rv);
	}
	rep->pb_ = pb;
	switch (method) {
	case TASQ_M_HEALTH: {
		Tasq__V1__HealthReply *m = (void *) pb;
		rep->u.health.serving    = m->serving;
		rep->u.health.version    = m->version;
		rep->u.health.server_id  = m->server_id;
		rep->u.health.uptime_ms  = m->uptime_ms;
		break;
	}
	case TASQ_M_SUBMIT: {
		Tasq__V1__SubmitReply *m = (void *) pb;
		rep->u.submit.accepted   = m->accepted;
		rep->u.submit.duplicate  = m->duplicate;
		break;
	}
	case TASQ_M_LEASE: {
		Tasq__V1__LeaseReply *m = (void *) pb;
		tasq_task_batch      *b = NULL;
		if (m->n_batches > TASQ_WIRE_MAX_BATCHES) {
			*why = "too many task batches";
			rv   = TASQ_EINVALID_ARGUMENT;
			break;
		}
		if (m->n_batches > 0 &&
		    (b = budget_calloc(&bud, m->n_batches, sizeof(*b))) ==
		        NULL) {
			rv = unpack_failed(&bud, "out of memory", why);
			break;
		}
		rep->mem_ = b;
		for (size_t i = 0; i < m->n_batches; i++) {
			Tasq__V1__TaskBatch *t = m->batches[i];
			if (t->n_ids != t->n_values) {
				*why = "task batch columns differ in length";
				rv   = TASQ_EINVALID_ARGUMENT;
				break;
			}
			b[i].lease_id = t->lease_id;
			b[i].job_id   = t->job_id;
			b[i].attempt  = t->attempt;
			b[i].n        = t->n_ids;
			b[i].ids      = t->ids;
			b[i].values   = t->values;
		}
		rep->u.lease.nbatches = m->n_batches;
		rep->u.lease.batches  = b;
		rep->u.lease.lease_ms = m->lease_ms;
		if (m->completed != NULL) {
			rep->u.lease.completed.accepted =
			    m->completed->accepted;
			rep->u.lease.completed.duplicates =
			    m->completed->duplicates;
			rep->u.lease.completed.late = m->completed->late;
			rep->u.lease.completed.rejected =
			    m->completed->rejected;
		}
		break;
	}
	case TASQ_M_COMPLETE: {
		Tasq__V1__CompleteReply *m = (void *) pb;
		rep->u.complete.accepted   = m->accepted;
		rep->u.complete.duplicates = m->duplicates;
		rep->u.complete.late       = m->late;
		rep->u.complete.rejected   = m->rejected;
		break;
	}
	case TASQ_M_EXTEND: {
		Tasq__V1__ExtendReply *m = (void *) pb;
		rep->u.extend.lease_ms   = m->lease_ms;
		rep->u.extend.n          = m->n_unknown;
		rep->u.extend.unknown    = m->unknown;
		break;
	}
	case TASQ_M_RELEASE: {
		Tasq__V1__ReleaseReply *m = (void *) pb;
		rep->u.release.released   = m->released;
		break;
	}
	case TASQ_M_FETCH: {
		Tasq__V1__FetchReply *m = (void *) pb;
		if (m->n_values != m->n_ids ||
		    (m->n_codes != 0 && m->n_codes != m->n_ids) ||
		    !codes_ok(m->n_codes, m->codes)) {
			*why = "fetch reply columns are inconsistent";
			rv   = TASQ_EINVALID_ARGUMENT;
			break;
		}
		rep->u.fetch.seq       = m->seq;
		rep->u.fetch.n         = m->n_ids;
		rep->u.fetch.ids       = m->ids;
		rep->u.fetch.values    = m->values;
		rep->u.fetch.codes     = m->n_codes ? m->codes : NULL;
		rep->u.fetch.submitted = m->submitted;
		rep->u.fetch.completed = m->completed;
		if (m->submit != NULL) {
			rep->u.fetch.has_submit       = true;
			rep->u.fetch.submit.accepted  = m->submit->accepted;
			rep->u.fetch.submit.duplicate = m->submit->duplicate;
		}
		break;
	}
	case TASQ_M_CLOSE_JOB: {
		Tasq__V1__CloseJobReply *m = (void *) pb;
		rep->u.close_job.dropped   = m->dropped;
		break;
	}
	case TASQ_M_STATS: {
		Tasq__V1__StatsReply *m = (void *) pb;
		size_t sz = m->n_queues * sizeof(tasq_queue_stats) +
		    m->n_workers * sizeof(tasq_worker_stats) +
		    m->n_counters * sizeof(tasq_counter);
		char *mem;
		if ((mem = budget_calloc(&bud, 1, sz + 1)) == NULL) {
			rv = unpack_failed(&bud, "out of memory", why);
			break;
		}
		rep->mem_              = mem;
		rep->u.stats.version   = m->version;
		rep->u.stats.uptime_ms = m->uptime_ms;
		rep->u.stats.nqueues   = m->n_queues;
		rep->u.stats.queues    = (void *) mem;
		mem += m->n_queues * sizeof(tasq_queue_stats);
		rep->u.stats.nworkers = m->n_workers;
		rep->u.stats.workers  = (void *) mem;
		mem += m->n_workers * sizeof(tasq_worker_stats);
		rep->u.stats.ncounters = m->n_counters;
		rep->u.stats.counters  = (void *) mem;
		for (size_t i = 0; i < m->n_queues; i++) {
			Tasq__V1__QueueStats *q = m->queues[i];
			rep->u.stats.queues[i] =
			    (tasq_queue_stats) { .name = q->name,
				    .ready             = q->ready,
				    .leased            = q->leased,
				    .results           = q->results,
				    .jobs              = q->jobs,
				    .dead              = q->dead,
				    .submitted         = q->submitted,
				    .completed         = q->completed };
		}
		for (size_t i = 0; i < m->n_workers; i++) {
			Tasq__V1__WorkerStats *w = m->workers[i];
			rep->u.stats.workers[i] =
			    (tasq_worker_stats) { .worker_id = w->worker_id,
				    .name                    = w->name,
				    .queue                   = w->queue,
				    .leases                  = w->leases,
				    .tasks_in_hand = w->tasks_in_hand,
				    .completed     = w->completed,
				    .idle_ms       = w->idle_ms,
				    .connected     = w->connected };
		}
		for (size_t i = 0; i < m->n_counters; i++) {
			rep->u.stats.counters[i].name  = m->counters[i]->name;
			rep->u.stats.counters[i].value = m->counters[i]->value;
		}
		rep->u.stats.ndead = m->n_dead_letters / 2;
		rep->u.stats.dead  = m->dead_letters;
		break;
	}
	default:
		*why = "unknown method";
		rv   = TASQ_EUNIMPLEMENTED;
		break;
	}
	decode_peak = bud.peak;
	if (rv != 0) {
		tasq_wire_rep_fini(rep);
	}
	return (rv);
}

void
tasq_wire_rep_fini(tasq_rep *rep)
{
	decoded_free(&rep->pb_, &rep->mem_);
}

static int
pack(const ProtobufCMessage *pb, nng_msg **msgp)
{
	nng_msg *m;
	size_t   sz = protobuf_c_message_get_packed_size(pb);
	int      rv;

	if (sz > UINT32_MAX - TASQ_ENV_OVERHEAD) {
		return (TASQ_EINVALID_ARGUMENT);
	}
	// Room for the tag too, so that sealing does not reallocate.
	if ((rv = nng_msg_alloc(&m, TASQ_ENV_HDR_LEN + sz)) != 0) {
		return (rv);
	}
	if (nng_msg_realloc(m, TASQ_ENV_HDR_LEN + sz + TASQ_ENV_TAG_LEN) !=
	    0) {
		nng_msg_free(m);
		return (NNG_ENOMEM);
	}
	(void) nng_msg_chop(m, TASQ_ENV_TAG_LEN);
	memset(nng_msg_body(m), 0, TASQ_ENV_HDR_LEN);
	if (protobuf_c_message_pack(
	        pb, (uint8_t *) nng_msg_body(m) + TASQ_ENV_HDR_LEN) != sz) {
		nng_msg_free(m);
		return (TASQ_EINTERNAL);
	}
	*msgp = m;
	return (0);
}

static void
result_batch_out(const tasq_result_batch *in, Tasq__V1__ResultBatch *out)
{
	tasq__v1__result_batch__init(out);
	out->lease_id = in->lease_id;
	out->job_id   = in->job_id;
	out->n_ids    = in->n;
	out->ids      = in->ids;
	out->n_values = in->n;
	out->values   = in->values;
	out->n_codes  = in->codes ? in->n : 0;
	out->codes    = in->codes;
}

// Packs a request or reply that carries an array of result batches.
static int
pack_with_results(ProtobufCMessage *pb, size_t *np,
    Tasq__V1__ResultBatch ***pp, size_t n, const tasq_result_batch *rb,
    nng_msg **msgp)
{
	Tasq__V1__ResultBatch  *arr  = NULL;
	Tasq__V1__ResultBatch **ptrs = NULL;
	int                     rv;

	if (n > 0) {
		arr  = calloc(n, sizeof(*arr));
		ptrs = calloc(n, sizeof(*ptrs));
		if (arr == NULL || ptrs == NULL) {
			free(arr);
			free(ptrs);
			return (NNG_ENOMEM);
		}
		for (size_t i = 0; i < n; i++) {
			result_batch_out(&rb[i], &arr[i]);
			ptrs[i] = &arr[i];
		}
	}
	*np = n;
	*pp = ptrs;
	rv  = pack(pb, msgp);
	free(arr);
	free(ptrs);
	return (rv);
}

static void
submit_out(const tasq_submit_req *in, Tasq__V1__SubmitRequest *m)
{
	tasq__v1__submit_request__init(m);
	m->queue       = (char *) in->queue;
	m->job_id      = in->job_id;
	m->first_index = in->first_index;
	m->n_values    = in->n;
	m->values      = in->values;
}

int
tasq_wire_encode_req(const tasq_req *req, nng_msg **msgp)
{
	switch (req->method) {
	case TASQ_M_HEALTH: {
		Tasq__V1__HealthRequest m = TASQ__V1__HEALTH_REQUEST__INIT;
		return (pack(&m.base, msgp));
	}
	case TASQ_M_STATS: {
		Tasq__V1__StatsRequest m = TASQ__V1__STATS_REQUEST__INIT;
		return (pack(&m.base, msgp));
	}
	case TASQ_M_SUBMIT: {
		Tasq__V1__SubmitRequest m;
		submit_out(&req->u.submit, &m);
		return (pack(&m.base, msgp));
	}
	case TASQ_M_LEASE: {
		Tasq__V1__LeaseRequest m = TASQ__V1__LEASE_REQUEST__INIT;
		m.queue                  = (char *) req->u.lease.queue;
		m.worker_id              = req->u.lease.worker_id;
		m.worker_name            = (char *) req->u.lease.worker_name;
		m.max_tasks              = req->u.lease.max_tasks;
		m.wait_ms                = req->u.lease.wait_ms;
		return (pack_with_results(&m.base, &m.n_results, &m.results,
		    req->u.lease.nresults, req->u.lease.results, msgp));
	}
	case TASQ_M_COMPLETE: {
		Tasq__V1__CompleteRequest m = TASQ__V1__COMPLETE_REQUEST__INIT;
		m.worker_id                 = req->u.complete.worker_id;
		return (pack_with_results(&m.base, &m.n_results, &m.results,
		    req->u.complete.nresults, req->u.complete.results, msgp));
	}
	case TASQ_M_EXTEND: {
		Tasq__V1__ExtendRequest m = TASQ__V1__EXTEND_REQUEST__INIT;
		m.worker_id               = req->u.extend.worker_id;
		m.n_lease_ids             = req->u.extend.n;
		m.lease_ids               = req->u.extend.lease_ids;
		return (pack(&m.base, msgp));
	}
	case TASQ_M_RELEASE: {
		Tasq__V1__ReleaseRequest m = TASQ__V1__RELEASE_REQUEST__INIT;
		m.worker_id                = req->u.release.worker_id;
		m.n_lease_ids              = req->u.release.n;
		m.lease_ids                = req->u.release.lease_ids;
		return (pack(&m.base, msgp));
	}
	case TASQ_M_FETCH: {
		Tasq__V1__FetchRequest  m = TASQ__V1__FETCH_REQUEST__INIT;
		Tasq__V1__SubmitRequest sm;
		m.job_id      = req->u.fetch.job_id;
		m.ack_seq     = req->u.fetch.ack_seq;
		m.max_results = req->u.fetch.max_results;
		m.wait_ms     = req->u.fetch.wait_ms;
		if (req->u.fetch.has_submit) {
			submit_out(&req->u.fetch.submit, &sm);
			m.submit = &sm;
		}
		return (pack(&m.base, msgp));
	}
	case TASQ_M_CLOSE_JOB: {
		Tasq__V1__CloseJobRequest m =
		    TASQ__V1__CLOSE_JOB_REQUEST__INIT;
		m.job_id  = req->u.close_job.job_id;
		m.ack_seq = req->u.close_job.ack_seq;
		return (pack(&m.base, msgp));
	}
	default:
		return (TASQ_EINVALID_ARGUMENT);
	}
}

static void
complete_out(const tasq_complete_rep *in, Tasq__V1__CompleteReply *out)
{
	tasq__v1__complete_reply__init(out);
	out->accepted   = in->accepted;
	out->duplicates = in->duplicates;
	out->late       = in->late;
	out->rejected   = in->rejected;
}

static int
encode_stats(const tasq_rep *rep, nng_msg **msgp)
{
	Tasq__V1__StatsReply   m    = TASQ__V1__STATS_REPLY__INIT;
	size_t                 nq   = rep->u.stats.nqueues;
	size_t                 nw   = rep->u.stats.nworkers;
	size_t                 nc   = rep->u.stats.ncounters;
	Tasq__V1__QueueStats  *q    = calloc(nq + 1, sizeof(*q));
	Tasq__V1__WorkerStats *w    = calloc(nw + 1, sizeof(*w));
	Tasq__V1__Counter     *c    = calloc(nc + 1, sizeof(*c));
	void                 **ptrs = calloc(nq + nw + nc + 1, sizeof(void *));
	int                    rv   = NNG_ENOMEM;

	if (q == NULL || w == NULL || c == NULL || ptrs == NULL) {
		goto out;
	}
	m.version   = (char *) rep->u.stats.version;
	m.uptime_ms = rep->u.stats.uptime_ms;
	m.n_queues  = nq;
	m.queues    = (Tasq__V1__QueueStats **) ptrs;
	for (size_t i = 0; i < nq; i++) {
		const tasq_queue_stats *s = &rep->u.stats.queues[i];
		tasq__v1__queue_stats__init(&q[i]);
		q[i].name      = (char *) s->name;
		q[i].ready     = s->ready;
		q[i].leased    = s->leased;
		q[i].results   = s->results;
		q[i].jobs      = s->jobs;
		q[i].dead      = s->dead;
		q[i].submitted = s->submitted;
		q[i].completed = s->completed;
		m.queues[i]    = &q[i];
	}
	m.n_workers = nw;
	m.workers   = (Tasq__V1__WorkerStats **) (ptrs + nq);
	for (size_t i = 0; i < nw; i++) {
		const tasq_worker_stats *s = &rep->u.stats.workers[i];
		tasq__v1__worker_stats__init(&w[i]);
		w[i].worker_id     = s->worker_id;
		w[i].name          = (char *) s->name;
		w[i].queue         = (char *) s->queue;
		w[i].leases        = s->leases;
		w[i].tasks_in_hand = s->tasks_in_hand;
		w[i].completed     = s->completed;
		w[i].idle_ms       = s->idle_ms;
		w[i].connected     = s->connected;
		m.workers[i]       = &w[i];
	}
	m.n_counters = nc;
	m.counters   = (Tasq__V1__Counter **) (ptrs + nq + nw);
	for (size_t i = 0; i < nc; i++) {
		tasq__v1__counter__init(&c[i]);
		c[i].name     = (char *) rep->u.stats.counters[i].name;
		c[i].value    = rep->u.stats.counters[i].value;
		m.counters[i] = &c[i];
	}
	m.n_dead_letters = rep->u.stats.ndead * 2;
	m.dead_letters   = rep->u.stats.dead;
	rv               = pack(&m.base, msgp);
out:
	free(q);
	free(w);
	free(c);
	free(ptrs);
	return (rv);
}

int
tasq_wire_encode_rep(const tasq_rep *rep, nng_msg **msgp)
{
	switch (rep->method) {
	case TASQ_M_HEALTH: {
		Tasq__V1__HealthReply m = TASQ__V1__HEALTH_REPLY__INIT;
		m.serving               = rep->u.health.serving;
		m.version               = (char *) rep->u.health.version;
		m.server_id             = rep->u.health.server_id;
		m.uptime_ms             = rep->u.health.uptime_ms;
		return (pack(&m.base, msgp));
	}
	case TASQ_M_SUBMIT: {
		Tasq__V1__SubmitReply m = TASQ__V1__SUBMIT_REPLY__INIT;
		m.accepted              = rep->u.submit.accepted;
		m.duplicate             = rep->u.submit.duplicate;
		return (pack(&m.base, msgp));
	}
	case TASQ_M_LEASE: {
		Tasq__V1__LeaseReply    m = TASQ__V1__LEASE_REPLY__INIT;
		Tasq__V1__CompleteReply c;
		size_t                  n = rep->u.lease.nbatches;
		Tasq__V1__TaskBatch    *arr;
		Tasq__V1__TaskBatch   **ptrs;
		int                     rv;

		arr  = calloc(n + 1, sizeof(*arr));
		ptrs = calloc(n + 1, sizeof(*ptrs));
		if (arr == NULL || ptrs == NULL) {
			free(arr);
			free(ptrs);
			return (NNG_ENOMEM);
		}
		for (size_t i = 0; i < n; i++) {
			const tasq_task_batch *b = &rep->u.lease.batches[i];
			tasq__v1__task_batch__init(&arr[i]);
			arr[i].lease_id = b->lease_id;
			arr[i].job_id   = b->job_id;
			arr[i].attempt  = b->attempt;
			arr[i].n_ids    = b->n;
			arr[i].ids      = b->ids;
			arr[i].n_values = b->n;
			arr[i].values   = b->values;
			ptrs[i]         = &arr[i];
		}
		complete_out(&rep->u.lease.completed, &c);
		m.n_batches = n;
		m.batches   = ptrs;
		m.lease_ms  = rep->u.lease.lease_ms;
		m.completed = &c;
		rv          = pack(&m.base, msgp);
		free(arr);
		free(ptrs);
		return (rv);
	}
	case TASQ_M_COMPLETE: {
		Tasq__V1__CompleteReply m;
		complete_out(&rep->u.complete, &m);
		return (pack(&m.base, msgp));
	}
	case TASQ_M_EXTEND: {
		Tasq__V1__ExtendReply m = TASQ__V1__EXTEND_REPLY__INIT;
		m.lease_ms              = rep->u.extend.lease_ms;
		m.n_unknown             = rep->u.extend.n;
		m.unknown               = rep->u.extend.unknown;
		return (pack(&m.base, msgp));
	}
	case TASQ_M_RELEASE: {
		Tasq__V1__ReleaseReply m = TASQ__V1__RELEASE_REPLY__INIT;
		m.released               = rep->u.release.released;
		return (pack(&m.base, msgp));
	}
	case TASQ_M_FETCH: {
		Tasq__V1__FetchReply m = TASQ__V1__FETCH_REPLY__INIT;
		m.seq                  = rep->u.fetch.seq;
		m.n_ids                = rep->u.fetch.n;
		m.ids                  = rep->u.fetch.ids;
		m.n_values             = rep->u.fetch.n;
		m.values               = rep->u.fetch.values;
		m.n_codes   = rep->u.fetch.codes ? rep->u.fetch.n : 0;
		m.codes     = rep->u.fetch.codes;
		m.submitted = rep->u.fetch.submitted;
		m.completed = rep->u.fetch.completed;
		Tasq__V1__SubmitReply sr = TASQ__V1__SUBMIT_REPLY__INIT;
		if (rep->u.fetch.has_submit) {
			sr.accepted  = rep->u.fetch.submit.accepted;
			sr.duplicate = rep->u.fetch.submit.duplicate;
			m.submit     = &sr;
		}
		return (pack(&m.base, msgp));
	}
	case TASQ_M_CLOSE_JOB: {
		Tasq__V1__CloseJobReply m = TASQ__V1__CLOSE_JOB_REPLY__INIT;
		m.dropped                 = rep->u.close_job.dropped;
		return (pack(&m.base, msgp));
	}
	case TASQ_M_STATS:
		return (encode_stats(rep, msgp));
	default:
		return (TASQ_EINVALID_ARGUMENT);
	}
}

int
tasq_wire_encode_status(int code, const char *text, nng_msg **msgp)
{
	Tasq__V1__Status m = TASQ__V1__STATUS__INIT;

	m.code    = (Tasq__V1__Code) code;
	m.message = (char *) (text != NULL ? text : "");
	return (pack(&m.base, msgp));
}

int
tasq_wire_decode_status(
    const uint8_t *body, size_t len, int *code, char *text, size_t textlen)
{
	Tasq__V1__Status *m;
	ProtobufCMessage *pb;
	struct budget     bud;
	const char       *why;
	size_t            i, o;
	int               rv;

	if ((rv = unpack(&tasq__v1__status__descriptor, body, len, &bud, &pb,
	         "not a Status message", &why)) != 0) {
		return (rv);
	}
	m     = (Tasq__V1__Status *) pb;
	*code = (int) m->code;
	// The scan let through UTF-8 only: copy whole characters, each
	// control character (C0, DEL, C1) as one '?'.
	o = 0;
	for (i = 0; textlen > 0 && m->message[i] != '\0';) {
		const uint8_t *u   = (const uint8_t *) m->message + i;
		size_t         k   = u[0] < 0x80 ? 1
		              : u[0] < 0xe0      ? 2
		              : u[0] < 0xf0      ? 3
		                                 : 4;
		bool           ctl = u[0] < 0x20 || u[0] == 0x7f ||
		    (u[0] == 0xc2 && u[1] <= 0x9f);
		if (o + (ctl ? 1 : k) > textlen - 1) {
			break;
		}
		if (ctl) {
			text[o++] = '?';
		} else {
			memcpy(text + o, u, k);
			o += k;
		}
		i += k;
	}
	if (textlen > 0) {
		text[o] = '\0';
	}
	protobuf_c_message_free_unpacked(pb, &fini_allocator);
	return (0);
}
