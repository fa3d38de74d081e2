#include "wire.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "blobs.h"
#include "envelope.h"
#include "err.h"
#include "tasq.pb-c.h"

// A legacy sint64 values column, once protobuf-c has unpacked it into an
// int64_t array, is handed on as a width-8 column of the same bytes
// (PROTOCOL.md 8.3), and a width-8 column is packed as values without a
// copy: both read int64s as their little-endian bytes.
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
    "wire.c views int64 arrays as little-endian byte columns");

#define SVC tasq__v1__queue__descriptor

// ---- decoding memory -----------------------------------------------------
//
// Every block the decoder allocates (protobuf-c's and our own arrays)
// carries its size in front, so that it can be counted against the
// decode's budget while it is made and against the process-wide total
// until the _fini that frees it.

#define BLK_HDR alignof(max_align_t)
_Static_assert(BLK_HDR <= 16, "TASQ_WIRE_DECODE_RUNS counts 16 a block");

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
tasq_wire_decode_budget(size_t len, size_t nmsg, size_t nstr)
{
	size_t b = TASQ_WIRE_DECODE_BASE;

	if (len > (SIZE_MAX - b) / TASQ_WIRE_DECODE_PER_BYTE) {
		return (SIZE_MAX);
	}
	b += len * TASQ_WIRE_DECODE_PER_BYTE;
	if (nmsg > (SIZE_MAX - b) / TASQ_WIRE_DECODE_PER_MSG) {
		return (SIZE_MAX);
	}
	b += nmsg * TASQ_WIRE_DECODE_PER_MSG;
	if (nstr > (SIZE_MAX - b) / TASQ_WIRE_DECODE_PER_STR) {
		return (SIZE_MAX);
	}
	return (b + nstr * TASQ_WIRE_DECODE_PER_STR);
}

size_t
tasq_wire_decode_bound(size_t len, bool reply)
{
	size_t most = reply ? TASQ_WIRE_MAX_REP_MSGS : TASQ_WIRE_MAX_REQ_MSGS;
	size_t nmsg = len / 2 < most ? len / 2 : most;
	size_t nstr = len / 2 - nmsg;

	// Messages and strings take 2 bytes each at least, and a message
	// costs more than a string: the worst body has as many messages
	// as it may, then strings.
	if (nstr > TASQ_WIRE_MAX_STRS) {
		nstr = TASQ_WIRE_MAX_STRS;
	}
	size_t b = tasq_wire_decode_budget(len, nmsg, nstr);
	return (b > SIZE_MAX - TASQ_WIRE_DECODE_RUNS
	        ? SIZE_MAX
	        : b + TASQ_WIRE_DECODE_RUNS);
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
    size_t len, bool reply, struct budget *b, ProtobufCMessage **pbp,
    const char *what, const char **why);
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
	COUNT(extend_reply, 3, TASQ_WIRE_MAX_BATCHES, "too many lease ids"),
	COUNT(lease_reply, 4, TASQ_WIRE_MAX_CANCELLED,
	    "too many cancelled leases"),
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
	COUNT(stats_reply, 7, TASQ_WIRE_MAX_ROWS, "too many type rows"),
	COUNT(blobs, 2, TASQ_WIRE_MAX_IDS,
	    "too many payloads or results in one message"),
	COUNT(result_batch, 7, TASQ_WIRE_MAX_IDS,
	    "too many error messages in one request"),
	COUNT(fetch_reply, 9, TASQ_WIRE_MAX_IDS,
	    "too many error messages in one reply"),
	COUNT(lease_request, 7, TASQ_WIRE_MAX_TYPES, "too many task types"),
	COUNT(lease_request, 8, TASQ_WIRE_MAX_QUEUES, "too many queues"),
	COUNT(dead_list_reply, 1, TASQ_WIRE_MAX_DEAD, "too many dead letters"),
	// id_runs: a pair per run, a run at least one id (PROTOCOL.md 8.4)
	COUNT(result_batch, 8, 2 * TASQ_WIRE_MAX_IDS,
	    "too many id runs in one request"),
	COUNT(task_batch, 8, 2 * TASQ_WIRE_MAX_IDS,
	    "too many id runs in one reply"),
	COUNT(fetch_reply, 13, 2 * TASQ_WIRE_MAX_IDS,
	    "too many id runs in one reply"),
	COUNT(dead_purge_request, 1, TASQ_WIRE_MAX_DEAD,
	    "too many dead letter ids"),
	COUNT(fetch_request, 7, 2 * TASQ_WIRE_MAX_CLOSES,
	    "too many jobs to close in one fetch"),
	TEXT(submit_request, 1, R_TEXT, TASQ_WIRE_MAX_NAME),
	TEXT(lease_request, 1, R_TEXT, TASQ_WIRE_MAX_NAME),
	TEXT(lease_request, 3, R_LABEL, TASQ_WIRE_MAX_NAME),
	TEXT(queue_weight, 1, R_TEXT, TASQ_WIRE_MAX_NAME),
	TEXT(health_reply, 2, R_TEXT, TASQ_WIRE_MAX_NAME),
	TEXT(stats_reply, 1, R_TEXT, TASQ_WIRE_MAX_NAME),
	TEXT(queue_stats, 1, R_TEXT, TASQ_WIRE_MAX_NAME),
	TEXT(worker_stats, 2, R_LABEL, TASQ_WIRE_MAX_NAME),
	TEXT(worker_stats, 3, R_TEXT, TASQ_WIRE_MAX_NAME),
	TEXT(counter, 1, R_TEXT, TASQ_WIRE_MAX_NAME),
	TEXT(status, 2, R_TEXT, TASQ_WIRE_MAX_TEXT),
	TEXT(submit_request, 5, R_TEXT, TASQ_WIRE_MAX_NAME),
	TEXT(task_batch, 6, R_TEXT, TASQ_WIRE_MAX_NAME),
	TEXT(type_stats, 1, R_TEXT, TASQ_WIRE_MAX_NAME),
	TEXT(type_stats, 2, R_TEXT, TASQ_WIRE_MAX_NAME),
	TEXT(dead_letter, 4, R_TEXT, TASQ_WIRE_MAX_NAME),
	TEXT(dead_letter, 5, R_TEXT, TASQ_WIRE_MAX_NAME),
	TEXT(dead_letter, 10, R_TEXT, TASQ_WIRE_MAX_TEXT),
	TEXT(dead_list_request, 1, R_TEXT, TASQ_WIRE_MAX_NAME),
	TEXT(dead_purge_request, 3, R_TEXT, TASQ_WIRE_MAX_NAME),
	TEXT(submit_request, 10, R_LABEL, TASQ_WIRE_MAX_HOST),
	TEXT(job_info, 2, R_TEXT, TASQ_WIRE_MAX_NAME),
	TEXT(job_info, 3, R_TEXT, TASQ_WIRE_MAX_NAME),
	TEXT(job_info, 9, R_LABEL, TASQ_WIRE_MAX_HOST),
	TEXT(job_list_request, 1, R_TEXT, TASQ_WIRE_MAX_NAME),
	COUNT(job_list_reply, 1, TASQ_WIRE_MAX_ROWS, "too many jobs"),
	COUNT(results_reply, 1, TASQ_WIRE_MAX_IDS,
	    "too many results in one reply"),
	COUNT(results_reply, 2, TASQ_WIRE_MAX_IDS,
	    "too many results in one reply"),
	COUNT(results_reply, 4, TASQ_WIRE_MAX_IDS,
	    "too many error messages in one reply"),
};

#define NRULES (sizeof(rules) / sizeof(rules[0]))
#define SCAN_MAX_DEPTH 4    // the schema nests 3 deep
#define SCAN_MAX_FIELDS 16  // fields of one message type (at most 11 now)
#define SCAN_MAX_REPEATS 4  // occurrences of a singular field
#define SCAN_MAX_UNKNOWN 16 // unknown fields in one message

struct scan {
	size_t      count[NRULES]; // elements of each counted field
	size_t      nmsg;          // embedded messages
	size_t      nstr;          // elements of repeated string fields
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
			if (f->type == PROTOBUF_C_TYPE_STRING) {
				s->nstr++;
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
    bool reply, struct budget *b, ProtobufCMessage **pbp, const char *what,
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
	// The singular fields' repeats let a body hold more messages than
	// the limits above suggest; it may hold no more than its bound says.
	if (sc.nmsg >
	    (reply ? TASQ_WIRE_MAX_REP_MSGS : TASQ_WIRE_MAX_REQ_MSGS)) {
		*why = "too many embedded messages";
		return (TASQ_EINVALID_ARGUMENT);
	}
	b->max      = tasq_wire_decode_budget(len, sc.nmsg, sc.nstr);
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

bool
tasq_wire_code_final(uint32_t code)
{
	switch (code) {
	case 0:
	case TASQ_EINVALID_ARGUMENT - TASQ_ERR_BASE:
	case TASQ_ENOT_FOUND - TASQ_ERR_BASE:
	case TASQ_EALREADY_EXISTS - TASQ_ERR_BASE:
	case TASQ_EPERMISSION_DENIED - TASQ_ERR_BASE:
	case TASQ_EFAILED_PRECONDITION - TASQ_ERR_BASE:
	case TASQ_EOUT_OF_RANGE - TASQ_ERR_BASE:
	case TASQ_EUNIMPLEMENTED - TASQ_ERR_BASE:
	case TASQ_EUNAUTHENTICATED - TASQ_ERR_BASE:
		return (true);
	default:
		return (false);
	}
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

// A host name is free text too (SubmitRequest.host, JobInfo.host).
static bool
valid_host(const char *s)
{
	size_t n = 0;
	for (; s[n] != '\0'; n++) {
		if (n >= TASQ_WIRE_MAX_HOST || (unsigned char) s[n] < 0x20 ||
		    s[n] == 0x7f) {
			return (false);
		}
	}
	return (true);
}

// ---- task columns ----------------------------------------------------------

#define WHY_TYPE "a task type must be 1-64 characters of [A-Za-z0-9._-]"
#define WHY_RB "result batch columns differ in length"
#define WHY_FR "fetch reply columns are inconsistent"

// A task type from the wire: "" is the built-in "square".
static int
type_in(const char *t, const char **out, const char **why)
{
	if (t == NULL || t[0] == '\0') {
		*out = TASQ_TYPE_SQUARE;
		return (0);
	}
	if (!tasq_wire_valid_name(t)) {
		*why = WHY_TYPE;
		return (TASQ_EINVALID_ARGUMENT);
	}
	*out = t;
	return (0);
}

static bool
is_square(const char *t)
{
	return (strcmp(t, TASQ_TYPE_SQUARE) == 0);
}

// Points out at a Blobs column of n items after checking it. For the
// type square every item is 8 bytes: a column of lengths all 8 is handed
// on as width 8, so that square's users need only the fixed-width form.
static int
blobs_in(const Tasq__V1__Blobs *b, size_t n, bool square, tasq_blobs *out,
    const char **why)
{
	out->width = b->width;
	out->lens  = b->n_lengths > 0 ? b->lengths : NULL;
	out->data  = b->data.data;
	out->size  = b->data.len;
	if ((b->width == 0 && b->n_lengths != n) ||
	    (b->width != 0 && b->n_lengths != 0)) {
		*why = "a Blobs column needs a width or one length per item";
		return (TASQ_EINVALID_ARGUMENT);
	}
	if (tasq_blobs_check(out, n, TASQ_WIRE_MAX_PAYLOAD) != 0) {
		*why =
		    "a Blobs column's lengths do not add up to its data, or "
		    "an item is over 1 MiB";
		return (TASQ_EINVALID_ARGUMENT);
	}
	if (square) {
		for (size_t i = 0; out->width == 0 && i < n; i++) {
			if (out->lens[i] != TASQ_I64_WIDTH) {
				*why = "a square payload is 8 bytes";
				return (TASQ_EINVALID_ARGUMENT);
			}
		}
		if (out->width != 0 && out->width != TASQ_I64_WIDTH) {
			*why = "a square payload is 8 bytes";
			return (TASQ_EINVALID_ARGUMENT);
		}
		out->width = TASQ_I64_WIDTH;
		out->lens  = NULL;
	}
	if (n == 0) {
		// An empty column has no form of its own: the one an encoder
		// gives it (width 8 for square, else none), so that decoding
		// what was encoded from it gives it back.
		out->width = square ? TASQ_I64_WIDTH : 0;
		out->lens  = NULL;
		out->data  = NULL;
		out->size  = 0;
	}
	return (0);
}

// The column of a batch of n tasks or results: the legacy values (viewed
// as width 8, legacy set) or a Blobs, never both; none only when n is 0.
// differ is the reason given when its values and ids differ in length.
static int
column_in(size_t n, size_t n_values, int64_t *values, const Tasq__V1__Blobs *b,
    bool square, tasq_blobs *out, bool *legacy, const char *differ,
    const char **why)
{
	memset(out, 0, sizeof(*out));
	*legacy = false;
	if (n_values > 0 && b != NULL) {
		*why = "a batch carries values or payloads/results, not both";
		return (TASQ_EINVALID_ARGUMENT);
	}
	if (n_values > 0) {
		if (n_values != n) {
			*why = differ;
			return (TASQ_EINVALID_ARGUMENT);
		}
		out->width = TASQ_I64_WIDTH;
		out->data  = (uint8_t *) values;
		out->size  = n * TASQ_I64_WIDTH;
		*legacy    = true;
		return (0);
	}
	if (b != NULL) {
		return (blobs_in(b, n, square, out, why));
	}
	if (n > 0) {
		*why = "a batch has no values and no payloads/results";
		return (TASQ_EINVALID_ARGUMENT);
	}
	if (square) {
		out->width = TASQ_I64_WIDTH; // square's form, even empty
	}
	return (0);
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

// The results of n tasks: a column (checked by column_in), codes (none,
// or n of them) and errors (none, or n of them: the scan has checked
// each one's length and encoding).
static int
results_in(size_t n, size_t n_codes, const uint32_t *codes, size_t n_errors,
    const char *differ, const char **why)
{
	if (n_codes != 0 && n_codes != n) {
		*why = differ;
		return (TASQ_EINVALID_ARGUMENT);
	}
	if (!codes_ok(n_codes, codes)) {
		*why = "result code out of range";
		return (TASQ_EINVALID_ARGUMENT);
	}
	if (n_errors != 0 && n_errors != n) {
		*why = "result errors must be none or one per id";
		return (TASQ_EINVALID_ARGUMENT);
	}
	return (0);
}

// Checks a batch's id_runs ((first, count) pairs, PROTOCOL.md 8.4) and
// adds the ids they stand for to *total, at most TASQ_WIRE_MAX_IDS in one
// message. A batch has ids or runs, not both.
static int
runs_check(size_t n_ids, size_t n_runs, const uint64_t *runs, size_t *total,
    const char **why)
{
	if (n_runs == 0) {
		*total += n_ids;
		return (0);
	}
	if (n_ids != 0) {
		*why = "a batch has ids or id_runs, not both";
		return (TASQ_EINVALID_ARGUMENT);
	}
	if (n_runs % 2 != 0) {
		*why = "id_runs holds (first, count) pairs";
		return (TASQ_EINVALID_ARGUMENT);
	}
	for (size_t i = 0; i < n_runs; i += 2) {
		uint64_t first = runs[i], count = runs[i + 1];
		if (count == 0) {
			*why = "an id run is empty";
			return (TASQ_EINVALID_ARGUMENT);
		}
		if (first > UINT64_MAX - (count - 1)) {
			*why = "an id run goes past 2^64 - 1";
			return (TASQ_EINVALID_ARGUMENT);
		}
		if (*total > TASQ_WIRE_MAX_IDS ||
		    count > TASQ_WIRE_MAX_IDS - *total) {
			*why = "too many ids in one message";
			return (TASQ_EINVALID_ARGUMENT);
		}
		*total += count;
	}
	return (0);
}

// Turns checked id_runs into the batch's ids column, allocated from the
// decode's budget (which grows by its size: PROTOCOL.md 8.1) and owned
// by the message, whose fini frees it with the rest.
static int
runs_in(struct budget *bud, size_t *n_ids, uint64_t **ids, size_t n_runs,
    const uint64_t *runs, const char **why)
{
	size_t    n = 0;
	uint64_t *out;

	if (n_runs == 0) {
		return (0);
	}
	for (size_t i = 0; i < n_runs; i += 2) {
		n += (size_t) runs[i + 1];
	}
	bud->max += n * sizeof(*out) + BLK_HDR;
	if ((out = budget_alloc(bud, n * sizeof(*out))) == NULL) {
		return (unpack_failed(bud, "out of memory", why));
	}
	n = 0;
	for (size_t i = 0; i < n_runs; i += 2) {
		for (uint64_t k = 0; k < runs[i + 1]; k++) {
			out[n++] = runs[i] + k;
		}
	}
	*ids   = out;
	*n_ids = n;
	return (0);
}

static int
result_batches_in(size_t n, Tasq__V1__ResultBatch **in,
    tasq_result_batch **outp, void **memp, struct budget *bud,
    const char **why)
{
	tasq_result_batch *out;
	size_t             total = 0;
	int                rv;

	*outp = NULL;
	if (n == 0) {
		return (0);
	}
	if (n > TASQ_WIRE_MAX_BATCHES) {
		*why = "too many result batches";
		return (TASQ_EINVALID_ARGUMENT);
	}
	for (size_t i = 0; i < n; i++) {
		if ((rv = runs_check(in[i]->n_ids, in[i]->n_id_runs,
		         in[i]->id_runs, &total, why)) != 0) {
			return (rv);
		}
	}
	if (total > TASQ_WIRE_MAX_IDS) {
		*why = "too many results in one request";
		return (TASQ_EINVALID_ARGUMENT);
	}
	for (size_t i = 0; i < n; i++) {
		if ((rv = runs_in(bud, &in[i]->n_ids, &in[i]->ids,
		         in[i]->n_id_runs, in[i]->id_runs, why)) != 0) {
			return (rv);
		}
	}
	if ((out = budget_calloc(bud, n, sizeof(*out))) == NULL) {
		return (unpack_failed(bud, "out of memory", why));
	}
	*outp = out;
	*memp = out;
	for (size_t i = 0; i < n; i++) {
		Tasq__V1__ResultBatch *b = in[i];
		if ((rv = results_in(b->n_ids, b->n_codes, b->codes,
		         b->n_errors, WHY_RB, why)) != 0 ||
		    (rv = column_in(b->n_ids, b->n_values, b->values,
		         b->results, false, &out[i].results, &out[i].legacy,
		         WHY_RB, why)) != 0) {
			return (rv);
		}
		out[i].lease_id = b->lease_id;
		out[i].job_id   = b->job_id;
		out[i].n        = b->n_ids;
		out[i].ids      = b->ids;
		out[i].values   = out[i].legacy ? b->values : NULL;
		out[i].codes    = b->n_codes ? b->codes : NULL;
		out[i].errors = b->n_errors ? (const char **) b->errors : NULL;
		out[i].id_runs = b->n_id_runs > 0;
	}
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
// points out at its fields. Its tasks are the legacy values (type
// square) or the payloads, never both.
static int
submit_in(Tasq__V1__SubmitRequest *m, tasq_submit_req *out, const char **why)
{
	const Tasq__V1__Blobs *p = m->payloads;
	size_t                 n = m->n_values;
	int                    rv;

	if (!tasq_wire_valid_name(m->queue)) {
		*why = "queue name must be 1-64 characters of [A-Za-z0-9._-]";
		return (TASQ_EINVALID_ARGUMENT);
	}
	if (m->job_id == 0) {
		*why = "job_id must not be 0";
		return (TASQ_EINVALID_ARGUMENT);
	}
	if ((rv = type_in(m->type, &out->type, why)) != 0) {
		return (rv);
	}
	if (n > 0 && p != NULL) {
		*why = "a submit carries values or payloads, not both";
		return (TASQ_EINVALID_ARGUMENT);
	}
	if (n > 0 && !is_square(out->type)) {
		*why = "values are tasks of type square only";
		return (TASQ_EINVALID_ARGUMENT);
	}
	// A submit has no ids: its payloads say how many tasks it holds.
	if (p != NULL) {
		n = p->width > 0 ? p->data.len / p->width : p->n_lengths;
	}
	if (n == 0 && !m->last) {
		*why = "a submit must carry at least one task";
		return (TASQ_EINVALID_ARGUMENT);
	}
	if (m->host[0] != '\0' && !valid_host(m->host)) {
		*why = "host must be at most 255 printable bytes";
		return (TASQ_EINVALID_ARGUMENT);
	}
	if (m->first_index > UINT64_MAX - n) {
		*why = "task ids overflow";
		return (TASQ_EINVALID_ARGUMENT);
	}
	if ((rv = check_ids(n, why)) != 0 ||
	    (rv = column_in(n, m->n_values, m->values, p, is_square(out->type),
	         &out->payloads, &out->legacy, "", why)) != 0) {
		return (rv);
	}
	out->queue         = m->queue;
	out->job_id        = m->job_id;
	out->first_index   = m->first_index;
	out->n             = n;
	out->values        = out->legacy ? m->values : NULL;
	out->detach        = m->detach;
	out->result_ttl_ms = m->result_ttl_ms;
	out->host          = m->host;
	out->last          = m->last;
	if (m->retry != NULL) {
		out->has_retry            = true;
		out->retry.max_attempts   = m->retry->max_attempts;
		out->retry.backoff_ms     = m->retry->backoff_ms;
		out->retry.backoff_max_ms = m->retry->backoff_max_ms;
	}
	if (m->priority > TASQ_WIRE_MAX_PRIORITY) {
		*why = "priority must be 0 (the default) to 100";
		return (TASQ_EINVALID_ARGUMENT);
	}
	out->priority = m->priority;
	return (0);
}

// LeaseRequest.queues: valid, distinct names, weights up to the limit
// (0 taken as 1); the scan has counted them.
static int
lease_queues_in(const Tasq__V1__LeaseRequest *m, size_t *nq,
    tasq_queue_weight *qs, const char **why)
{
	if (m->n_queues > TASQ_WIRE_MAX_QUEUES) {
		*why = "too many queues";
		return (TASQ_EINVALID_ARGUMENT);
	}
	for (size_t i = 0; i < m->n_queues; i++) {
		const Tasq__V1__QueueWeight *qw = m->queues[i];
		if (!tasq_wire_valid_name(qw->name)) {
			*why = "queue name must be 1-64 characters of "
			       "[A-Za-z0-9._-]";
			return (TASQ_EINVALID_ARGUMENT);
		}
		if (qw->weight > TASQ_WIRE_MAX_PRIORITY) {
			*why = "a queue's weight must be 0 to 100";
			return (TASQ_EINVALID_ARGUMENT);
		}
		for (size_t k = 0; k < i; k++) {
			if (strcmp(qs[k].name, qw->name) == 0) {
				*why = "a queue is named twice";
				return (TASQ_EINVALID_ARGUMENT);
			}
		}
		qs[i].name   = qw->name;
		qs[i].weight = qw->weight ? qw->weight : 1;
	}
	*nq = m->n_queues;
	return (0);
}

// A queue name or "" (all queues), as DeadList and DeadPurge take it.
static bool
queue_or_all(const char *q)
{
	return (q[0] == '\0' || tasq_wire_valid_name(q));
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
	if ((rv = unpack(SVC.methods[method].input, body, len, false, &bud,
	         &pb, "request body is not a valid protobuf message", why)) !=
	    0) {
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
		for (size_t i = 0; i < m->n_types; i++) {
			if (!tasq_wire_valid_name(m->types[i])) {
				*why = WHY_TYPE;
				rv   = TASQ_EINVALID_ARGUMENT;
				break;
			}
		}
		if (rv != 0) {
			break;
		}
		req->u.lease.ntypes = m->n_types;
		req->u.lease.types =
		    m->n_types ? (const char **) m->types : NULL;
		req->u.lease.id_runs = m->id_runs;
		if ((rv = lease_queues_in(m, &req->u.lease.nqueues,
		         req->u.lease.queues, why)) != 0) {
			break;
		}
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
		req->u.fetch.id_runs     = m->id_runs;
		if (m->n_close_jobs % 2 != 0) {
			*why = "close_jobs must hold (job_id, ack_seq) pairs";
			rv   = TASQ_EINVALID_ARGUMENT;
			break;
		}
		req->u.fetch.nclose     = m->n_close_jobs / 2;
		req->u.fetch.close_jobs = m->close_jobs;
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
	case TASQ_M_DEAD_LIST: {
		Tasq__V1__DeadListRequest *m = (void *) pb;
		if (!queue_or_all(m->queue)) {
			*why = "queue name must be empty (all queues) or 1-64 "
			       "characters of [A-Za-z0-9._-]";
			rv   = TASQ_EINVALID_ARGUMENT;
			break;
		}
		req->u.dead_list.queue    = m->queue;
		req->u.dead_list.after_id = m->after_id;
		req->u.dead_list.max      = m->max;
		req->u.dead_list.payloads = m->payloads;
		break;
	}
	case TASQ_M_DEAD_PURGE: {
		Tasq__V1__DeadPurgeRequest *m = (void *) pb;
		if (!queue_or_all(m->queue)) {
			*why = "queue name must be empty (all queues) or 1-64 "
			       "characters of [A-Za-z0-9._-]";
			rv   = TASQ_EINVALID_ARGUMENT;
			break;
		}
		if (m->n_ids > TASQ_WIRE_MAX_DEAD) {
			*why = "too many dead letter ids";
			rv   = TASQ_EINVALID_ARGUMENT;
			break;
		}
		req->u.dead_purge.n     = m->n_ids;
		req->u.dead_purge.ids   = m->ids;
		req->u.dead_purge.all   = m->all;
		req->u.dead_purge.queue = m->queue;
		break;
	}
	case TASQ_M_JOB_LIST: {
		Tasq__V1__JobListRequest *m = (void *) pb;
		if (!queue_or_all(m->queue)) {
			*why = "queue name must be empty (all queues) or 1-64 "
			       "characters of [A-Za-z0-9._-]";
			rv   = TASQ_EINVALID_ARGUMENT;
			break;
		}
		req->u.job_list.queue = m->queue;
		req->u.job_list.max   = m->max;
		break;
	}
	case TASQ_M_JOB_STATUS: {
		Tasq__V1__JobStatusRequest *m = (void *) pb;
		req->u.job_status.job_id      = m->job_id;
		break;
	}
	case TASQ_M_RESULTS: {
		Tasq__V1__ResultsRequest *m = (void *) pb;
		req->u.results.job_id       = m->job_id;
		req->u.results.from_index   = m->from_index;
		req->u.results.max          = m->max;
		req->u.results.wait_ms      = m->wait_ms;
		break;
	}
	case TASQ_M_CANCEL: {
		Tasq__V1__CancelRequest *m = (void *) pb;
		req->u.cancel.job_id       = m->job_id;
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

#define WHY_RR "results reply columns are inconsistent"

static int
job_info_in(const Tasq__V1__JobInfo *m, tasq_job_info *out, const char **why)
{
	if ((int) m->state < 0 || (int) m->state > TASQ_JOB_CANCELLED) {
		*why = "unknown job state";
		return (TASQ_EINVALID_ARGUMENT);
	}
	*out = (tasq_job_info) { .job_id = m->job_id,
		.queue                   = m->queue,
		.type                    = m->type,
		.host                    = m->host,
		.state                   = (int) m->state,
		.submitted               = m->submitted,
		.completed               = m->completed,
		.failed                  = m->failed,
		.age_ms                  = m->age_ms,
		.result_ttl_ms           = m->result_ttl_ms,
		.expires_in_ms           = m->expires_in_ms,
		.detached                = m->detached,
		.no_worker               = m->no_worker,
		.workers                 = m->workers };
	return (0);
}

static void
job_info_out(const tasq_job_info *in, Tasq__V1__JobInfo *m)
{
	tasq__v1__job_info__init(m);
	m->job_id        = in->job_id;
	m->queue         = (char *) (in->queue ? in->queue : "");
	m->type          = (char *) (in->type ? in->type : "");
	m->host          = (char *) (in->host ? in->host : "");
	m->state         = (Tasq__V1__JobState) in->state;
	m->submitted     = in->submitted;
	m->completed     = in->completed;
	m->failed        = in->failed;
	m->age_ms        = in->age_ms;
	m->result_ttl_ms = in->result_ttl_ms;
	m->expires_in_ms = in->expires_in_ms;
	m->detached      = in->detached;
	m->no_worker     = in->no_worker;
	m->workers       = in->workers;
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
	if ((rv = unpack(SVC.methods[method].output, body, len, true, &bud,
	         &pb, "reply body is not a valid protobuf message", why)) !=
	    0) {
		return (rv);
	}
	rep->pb_ = pb;
	switch (method) {
	case TASQ_M_HEALTH: {
		Tasq__V1__HealthReply *m     = (void *) pb;
		rep->u.health.serving        = m->serving;
		rep->u.health.version        = m->version;
		rep->u.health.server_id      = m->server_id;
		rep->u.health.uptime_ms      = m->uptime_ms;
		rep->u.health.heartbeat_port = m->heartbeat_port;
		rep->u.health.identity       = m->identity;
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
		rep->mem_    = b;
		size_t total = 0;
		for (size_t i = 0; i < m->n_batches && rv == 0; i++) {
			Tasq__V1__TaskBatch *t = m->batches[i];
			rv                     = runs_check(
			                        t->n_ids, t->n_id_runs, t->id_runs, &total, why);
		}
		for (size_t i = 0; i < m->n_batches && rv == 0; i++) {
			Tasq__V1__TaskBatch *t = m->batches[i];
			if ((rv = runs_in(&bud, &t->n_ids, &t->ids,
			         t->n_id_runs, t->id_runs, why)) != 0) {
				break;
			}
			if ((rv = type_in(t->type, &b[i].type, why)) != 0) {
				break;
			}
			if (t->n_values > 0 && !is_square(b[i].type)) {
				*why = "values are tasks of type square only";
				rv   = TASQ_EINVALID_ARGUMENT;
				break;
			}
			if ((rv = column_in(t->n_ids, t->n_values, t->values,
			         t->payloads, is_square(b[i].type),
			         &b[i].payloads, &b[i].legacy,
			         "task batch columns differ in length",
			         why)) != 0) {
				break;
			}
			b[i].lease_id = t->lease_id;
			b[i].job_id   = t->job_id;
			b[i].attempt  = t->attempt;
			b[i].n        = t->n_ids;
			b[i].ids      = t->ids;
			b[i].values   = b[i].legacy ? t->values : NULL;
			b[i].id_runs  = t->n_id_runs > 0;
		}
		if (rv != 0) {
			break;
		}
		if (m->n_cancelled > TASQ_WIRE_MAX_CANCELLED) {
			*why = "too many cancelled leases";
			rv   = TASQ_EINVALID_ARGUMENT;
			break;
		}
		rep->u.lease.nbatches   = m->n_batches;
		rep->u.lease.batches    = b;
		rep->u.lease.lease_ms   = m->lease_ms;
		rep->u.lease.ncancelled = m->n_cancelled;
		rep->u.lease.cancelled  = m->cancelled;
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
		if (m->n_cancelled > TASQ_WIRE_MAX_BATCHES) {
			*why = "too many lease ids";
			rv   = TASQ_EINVALID_ARGUMENT;
			break;
		}
		rep->u.extend.ncancelled = m->n_cancelled;
		rep->u.extend.cancelled  = m->cancelled;
		break;
	}
	case TASQ_M_RELEASE: {
		Tasq__V1__ReleaseReply *m = (void *) pb;
		rep->u.release.released   = m->released;
		break;
	}
	case TASQ_M_FETCH: {
		Tasq__V1__FetchReply *m     = (void *) pb;
		size_t                total = 0;
		if ((rv = runs_check(m->n_ids, m->n_id_runs, m->id_runs,
		         &total, why)) != 0 ||
		    (rv = runs_in(&bud, &m->n_ids, &m->ids, m->n_id_runs,
		         m->id_runs, why)) != 0) {
			break;
		}
		if ((rv = results_in(m->n_ids, m->n_codes, m->codes,
		         m->n_errors, WHY_FR, why)) != 0 ||
		    (rv = column_in(m->n_ids, m->n_values, m->values,
		         m->results, false, &rep->u.fetch.results,
		         &rep->u.fetch.legacy, WHY_FR, why)) != 0) {
			break;
		}
		rep->u.fetch.seq    = m->seq;
		rep->u.fetch.n      = m->n_ids;
		rep->u.fetch.ids    = m->ids;
		rep->u.fetch.values = rep->u.fetch.legacy ? m->values : NULL;
		rep->u.fetch.codes  = m->n_codes ? m->codes : NULL;
		rep->u.fetch.errors =
		    m->n_errors ? (const char **) m->errors : NULL;
		rep->u.fetch.no_worker = m->no_worker;
		rep->u.fetch.workers   = m->workers;
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
		    m->n_counters * sizeof(tasq_counter) +
		    m->n_types * sizeof(tasq_type_stats);
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
		mem += m->n_counters * sizeof(tasq_counter);
		rep->u.stats.ntypes = m->n_types;
		rep->u.stats.types  = (void *) mem;
		for (size_t i = 0; i < m->n_types; i++) {
			Tasq__V1__TypeStats *t = m->types[i];
			rep->u.stats.types[i] =
			    (tasq_type_stats) { .queue = t->queue,
				    .type              = t->type,
				    .ready             = t->ready,
				    .leased            = t->leased,
				    .workers           = t->workers };
		}
		rep->u.stats.dead_total = m->dead_total;
		rep->u.stats.identity   = m->identity;
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
				    .completed         = q->completed,
				    .failed            = q->failed,
				    .retried           = q->retried };
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
				    .connected     = w->connected,
				    .failed        = w->failed,
				    .retried       = w->retried };
		}
		for (size_t i = 0; i < m->n_counters; i++) {
			rep->u.stats.counters[i].name  = m->counters[i]->name;
			rep->u.stats.counters[i].value = m->counters[i]->value;
		}
		rep->u.stats.ndead = m->n_dead_letters / 2;
		rep->u.stats.dead  = m->dead_letters;
		break;
	}
	case TASQ_M_DEAD_LIST: {
		Tasq__V1__DeadListReply *m = (void *) pb;
		tasq_dead_letter        *d = NULL;
		if (m->n_letters > 0 &&
		    (d = budget_calloc(&bud, m->n_letters, sizeof(*d))) ==
		        NULL) {
			rv = unpack_failed(&bud, "out of memory", why);
			break;
		}
		rep->mem_ = d;
		for (size_t i = 0; i < m->n_letters; i++) {
			Tasq__V1__DeadLetter *l = m->letters[i];
			if ((uint32_t) l->code > TASQ_CODE_MAX ||
			    l->payload.len > TASQ_WIRE_MAX_PAYLOAD ||
			    (l->payload.len != 0 &&
			        l->payload.len != l->payload_len)) {
				*why = "a dead letter's code or payload is "
				       "invalid";
				rv   = TASQ_EINVALID_ARGUMENT;
				break;
			}
			d[i] = (tasq_dead_letter) { .id = l->id,
				.job_id                 = l->job_id,
				.task_id                = l->task_id,
				.queue                  = l->queue,
				.type                   = l->type,
				.payload                = l->payload.data,
				.payload_size           = l->payload.len,
				.payload_len            = l->payload_len,
				.attempts               = l->attempts,
				.code                   = (uint32_t) l->code,
				.error                  = l->error,
				.time_ms                = l->time_ms };
		}
		rep->u.dead_list.n       = m->n_letters;
		rep->u.dead_list.letters = d;
		rep->u.dead_list.total   = m->total;
		break;
	}
	case TASQ_M_DEAD_PURGE: {
		Tasq__V1__DeadPurgeReply *m = (void *) pb;
		rep->u.dead_purge.purged    = m->purged;
		break;
	}
	case TASQ_M_JOB_LIST: {
		Tasq__V1__JobListReply *m  = (void *) pb;
		tasq_job_info          *ji = NULL;
		if (m->n_jobs > 0 &&
		    (ji = budget_calloc(&bud, m->n_jobs, sizeof(*ji))) ==
		        NULL) {
			rv = unpack_failed(&bud, "out of memory", why);
			break;
		}
		rep->mem_ = ji;
		for (size_t i = 0; i < m->n_jobs && rv == 0; i++) {
			rv = job_info_in(m->jobs[i], &ji[i], why);
		}
		rep->u.job_list.n     = m->n_jobs;
		rep->u.job_list.jobs  = ji;
		rep->u.job_list.total = m->total;
		break;
	}
	case TASQ_M_JOB_STATUS: {
		Tasq__V1__JobStatusReply *m = (void *) pb;
		if (m->job == NULL) {
			*why = "a job status reply without its job";
			rv   = TASQ_EINVALID_ARGUMENT;
			break;
		}
		rv = job_info_in(m->job, &rep->u.job_status.job, why);
		break;
	}
	case TASQ_M_RESULTS: {
		Tasq__V1__ResultsReply *m = (void *) pb;
		bool                    legacy;
		if ((rv = results_in(m->n_ids, m->n_codes, m->codes,
		         m->n_errors, WHY_RR, why)) != 0 ||
		    (rv = column_in(m->n_ids, 0, NULL, m->results, false,
		         &rep->u.results.results, &legacy, WHY_RR, why)) !=
		        0) {
			break;
		}
		rep->u.results.n     = m->n_ids;
		rep->u.results.ids   = m->ids;
		rep->u.results.codes = m->n_codes ? m->codes : NULL;
		rep->u.results.errors =
		    m->n_errors ? (const char **) m->errors : NULL;
		rep->u.results.next_index = m->next_index;
		if (m->job != NULL) {
			rep->u.results.has_job = true;
			rv = job_info_in(m->job, &rep->u.results.job, why);
		}
		break;
	}
	case TASQ_M_CANCEL: {
		Tasq__V1__CancelReply *m = (void *) pb;
		rep->u.cancel.dropped    = m->dropped;
		rep->u.cancel.running    = m->running;
		if (m->job != NULL) {
			rep->u.cancel.has_job = true;
			rv = job_info_in(m->job, &rep->u.cancel.job, why);
		}
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

// ---- encoding
// ---------------------------------------------------------------
//
// Encoders point the generated structs at the caller's arrays; what has
// to be made for one message (legacy values out of a width-8 column, the
// generated structs of repeated messages) is scratch memory, freed once
// the message is packed.

struct scratch {
	struct scratch *next;
	alignas(max_align_t) unsigned char mem[];
};

static void *
scratch_alloc(struct scratch **list, size_t n, size_t size)
{
	struct scratch *s;

	if (size != 0 && n > (SIZE_MAX - sizeof(*s)) / size) {
		return (NULL);
	}
	if ((s = calloc(1, sizeof(*s) + n * size)) == NULL) {
		return (NULL);
	}
	s->next = *list;
	*list   = s;
	return (s->mem);
}

static void
scratch_free(struct scratch **list)
{
	while (*list != NULL) {
		struct scratch *s = *list;
		*list             = s->next;
		free(s);
	}
}

static void
blobs_out(const tasq_blobs *in, size_t n, Tasq__V1__Blobs *out)
{
	tasq__v1__blobs__init(out);
	out->width     = in->width;
	out->n_lengths = in->width == 0 ? n : 0;
	out->lengths   = in->lens;
	out->data.len  = in->size;
	out->data.data = in->data;
}

// The legacy values column of n tasks or results: values when the caller
// fills it (a client talking to an old server), else the int64s of col, which
// must be width 8 (an empty item, a failed task's result, is sent as 0). A
// width-8 column at an aligned address is sent as it is.
static int
values_out(size_t n, int64_t *values, const tasq_blobs *col,
    struct scratch **sc, int64_t **out)
{
	tasq_blobs_iter it;
	int64_t        *v;

	*out = values;
	if (values != NULL || n == 0) {
		return (0);
	}
	if (tasq_blobs_check(col, n, TASQ_WIRE_MAX_PAYLOAD) != 0 ||
	    (col->width != 0 && col->width != TASQ_I64_WIDTH)) {
		return (TASQ_EINVALID_ARGUMENT);
	}
	if (col->width == TASQ_I64_WIDTH &&
	    (uintptr_t) col->data % alignof(int64_t) == 0) {
		*out = (int64_t *) (void *) col->data;
		return (0);
	}
	if ((v = scratch_alloc(sc, n, sizeof(*v))) == NULL) {
		return (NNG_ENOMEM);
	}
	tasq_blobs_iter_init(&it, col);
	for (size_t i = 0; i < n; i++) {
		const uint8_t *p;
		size_t         len;
		tasq_blobs_next(&it, &p, &len);
		if (len != 0 && len != TASQ_I64_WIDTH) {
			return (TASQ_EINVALID_ARGUMENT);
		}
		v[i] = len != 0 ? tasq_i64_le_get(p) : 0;
	}
	*out = v;
	return (0);
}

// A batch's column on the wire: values for a legacy peer (legacy set, or
// values filled by code not yet converted), else type and Blobs (left
// out for an empty batch). *blobs is the caller's storage for the Blobs.
static int
column_out(size_t n, int64_t *values, bool legacy, const tasq_blobs *col,
    struct scratch **sc, size_t *n_values, int64_t **vout,
    Tasq__V1__Blobs *blobs, Tasq__V1__Blobs **bout)
{
	int rv;

	*n_values = 0;
	*vout     = NULL;
	*bout     = NULL;
	if (values != NULL || legacy) {
		if ((rv = values_out(n, values, col, sc, vout)) != 0) {
			return (rv);
		}
		*n_values = n;
		return (0);
	}
	if (n == 0) {
		return (0);
	}
	if (tasq_blobs_check(col, n, TASQ_WIRE_MAX_PAYLOAD) != 0) {
		return (TASQ_EINVALID_ARGUMENT);
	}
	blobs_out(col, n, blobs);
	*bout = blobs;
	return (0);
}

// Errors of n results: left out when none has a message; NULL entries
// sent as "". Each must be what a decoder accepts (TASQ_WIRE_MAX_TEXT
// bytes of UTF-8 without NUL).
static int
errors_out(size_t n, const char **errors, struct scratch **sc, size_t *np,
    char ***out)
{
	bool any = false, nulls = false;

	*np  = 0;
	*out = NULL;
	for (size_t i = 0; errors != NULL && i < n; i++) {
		size_t len;
		if (errors[i] == NULL) {
			nulls = true;
			continue;
		}
		len = strlen(errors[i]);
		if (len > TASQ_WIRE_MAX_TEXT ||
		    !text_ok((const uint8_t *) errors[i], len, false)) {
			return (TASQ_EINVALID_ARGUMENT);
		}
		any = any || len > 0;
	}
	if (!any) {
		return (0);
	}
	*out = (char **) errors;
	if (nulls) {
		if ((*out = scratch_alloc(sc, n, sizeof(char *))) == NULL) {
			return (NNG_ENOMEM);
		}
		for (size_t i = 0; i < n; i++) {
			(*out)[i] =
			    (char *) (errors[i] != NULL ? errors[i] : "");
		}
	}
	*np = n;
	return (0);
}

static char *
type_out(const char *t)
{
	return ((char *) (t != NULL ? t : ""));
}

// Sets a batch's ids column, or with runs (the peer reads them, and the
// n ids fall into at most n / 4 runs) its id_runs: (first, count) pairs,
// PROTOCOL.md 8.4. Errors: NNG_ENOMEM.
static int
ids_out(size_t n, uint64_t *ids, bool runs, struct scratch **sc,
    size_t *n_idsp, uint64_t **idsp, size_t *n_runsp, uint64_t **runsp)
{
	size_t    nruns = 0, k = 0;
	uint64_t *out;

	*n_idsp  = n;
	*idsp    = ids;
	*n_runsp = 0;
	*runsp   = NULL;
	if (!runs || n < 4 || n > TASQ_WIRE_MAX_IDS) {
		return (0);
	}
	for (size_t i = 0; i < n; i++) {
		if (i == 0 || ids[i] != ids[i - 1] + 1) {
			if (++nruns > n / 4) {
				return (0); // not worth it
			}
		}
	}
	if ((out = scratch_alloc(sc, 2 * nruns, sizeof(*out))) == NULL) {
		return (NNG_ENOMEM);
	}
	for (size_t i = 0; i < n; i++) {
		if (i == 0 || ids[i] != ids[i - 1] + 1) {
			out[k]     = ids[i];
			out[k + 1] = 0;
			k += 2;
		}
		out[k - 1]++;
	}
	*n_idsp  = 0;
	*idsp    = NULL;
	*n_runsp = 2 * nruns;
	*runsp   = out;
	return (0);
}

// A result batch and its results column.
struct result_out {
	Tasq__V1__ResultBatch rb;
	Tasq__V1__Blobs       blobs;
};

static int
result_batch_out(
    const tasq_result_batch *in, struct result_out *out, struct scratch **sc)
{
	Tasq__V1__ResultBatch *rb = &out->rb;
	int                    rv;

	tasq__v1__result_batch__init(rb);
	rb->lease_id = in->lease_id;
	rb->job_id   = in->job_id;
	rb->n_codes  = in->codes ? in->n : 0;
	rb->codes    = in->codes;
	if ((rv = ids_out(in->n, in->ids, in->id_runs, sc, &rb->n_ids,
	         &rb->ids, &rb->n_id_runs, &rb->id_runs)) != 0 ||
	    (rv = column_out(in->n, in->values, in->legacy, &in->results, sc,
	         &rb->n_values, &rb->values, &out->blobs, &rb->results)) !=
	        0 ||
	    (rv = errors_out(
	         in->n, in->errors, sc, &rb->n_errors, &rb->errors)) != 0) {
		return (rv);
	}
	return (0);
}

// Packs a request that carries an array of result batches.
static int
pack_with_results(ProtobufCMessage *pb, size_t *np,
    Tasq__V1__ResultBatch ***pp, size_t n, const tasq_result_batch *rb,
    nng_msg **msgp)
{
	struct scratch         *sc = NULL;
	struct result_out      *arr;
	Tasq__V1__ResultBatch **ptrs;
	int                     rv = NNG_ENOMEM;

	if ((arr = scratch_alloc(&sc, n, sizeof(*arr))) == NULL ||
	    (ptrs = scratch_alloc(&sc, n, sizeof(*ptrs))) == NULL) {
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if ((rv = result_batch_out(&rb[i], &arr[i], &sc)) != 0) {
			goto out;
		}
		ptrs[i] = &arr[i].rb;
	}
	*np = n;
	*pp = ptrs;
	rv  = pack(pb, msgp);
out:
	scratch_free(&sc);
	return (rv);
}

// A SubmitRequest and what it points to.
struct submit_out {
	Tasq__V1__SubmitRequest m;
	Tasq__V1__Blobs         blobs;
	Tasq__V1__RetryPolicy   retry;
};

static int
submit_out(
    const tasq_submit_req *in, struct submit_out *o, struct scratch **sc)
{
	Tasq__V1__SubmitRequest *m = &o->m;
	int                      rv;

	tasq__v1__submit_request__init(m);
	m->queue       = (char *) in->queue;
	m->job_id      = in->job_id;
	m->first_index = in->first_index;
	if ((rv = column_out(in->n, in->values, in->legacy, &in->payloads, sc,
	         &m->n_values, &m->values, &o->blobs, &m->payloads)) != 0) {
		return (rv);
	}
	if (m->n_values == 0) {
		m->type = type_out(in->type);
	}
	m->detach        = in->detach;
	m->result_ttl_ms = in->result_ttl_ms;
	m->host          = (char *) (in->host != NULL ? in->host : "");
	m->last          = in->last;
	if (in->has_retry) {
		tasq__v1__retry_policy__init(&o->retry);
		o->retry.max_attempts   = in->retry.max_attempts;
		o->retry.backoff_ms     = in->retry.backoff_ms;
		o->retry.backoff_max_ms = in->retry.backoff_max_ms;
		m->retry                = &o->retry;
	}
	m->priority = in->priority;
	return (0);
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
	case TASQ_M_SUBMIT:
	case TASQ_M_FETCH: {
		Tasq__V1__FetchRequest m  = TASQ__V1__FETCH_REQUEST__INIT;
		struct scratch        *sc = NULL;
		struct submit_out      so;
		int                    rv;
		if (req->method == TASQ_M_SUBMIT) {
			rv = submit_out(&req->u.submit, &so, &sc);
			if (rv == 0) {
				rv = pack(&so.m.base, msgp);
			}
			scratch_free(&sc);
			return (rv);
		}
		m.job_id       = req->u.fetch.job_id;
		m.ack_seq      = req->u.fetch.ack_seq;
		m.max_results  = req->u.fetch.max_results;
		m.wait_ms      = req->u.fetch.wait_ms;
		m.id_runs      = req->u.fetch.id_runs;
		m.n_close_jobs = 2 * req->u.fetch.nclose;
		m.close_jobs   = (uint64_t *) req->u.fetch.close_jobs;
		rv             = 0;
		if (req->u.fetch.has_submit) {
			rv       = submit_out(&req->u.fetch.submit, &so, &sc);
			m.submit = &so.m;
		}
		if (rv == 0) {
			rv = pack(&m.base, msgp);
		}
		scratch_free(&sc);
		return (rv);
	}
	case TASQ_M_LEASE: {
		Tasq__V1__LeaseRequest m = TASQ__V1__LEASE_REQUEST__INIT;
		m.queue                  = (char *) req->u.lease.queue;
		m.worker_id              = req->u.lease.worker_id;
		m.worker_name            = (char *) req->u.lease.worker_name;
		m.max_tasks              = req->u.lease.max_tasks;
		m.wait_ms                = req->u.lease.wait_ms;
		m.n_types                = req->u.lease.ntypes;
		m.types                  = (char **) req->u.lease.types;
		m.id_runs                = req->u.lease.id_runs;
		Tasq__V1__QueueWeight  qw[TASQ_WIRE_MAX_QUEUES];
		Tasq__V1__QueueWeight *qwp[TASQ_WIRE_MAX_QUEUES];
		if (req->u.lease.nqueues > TASQ_WIRE_MAX_QUEUES) {
			return (TASQ_EINVALID_ARGUMENT);
		}
		for (size_t i = 0; i < req->u.lease.nqueues; i++) {
			tasq__v1__queue_weight__init(&qw[i]);
			qw[i].name   = (char *) req->u.lease.queues[i].name;
			qw[i].weight = req->u.lease.queues[i].weight;
			qwp[i]       = &qw[i];
		}
		m.n_queues = req->u.lease.nqueues;
		m.queues   = m.n_queues ? qwp : NULL;
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
	case TASQ_M_CLOSE_JOB: {
		Tasq__V1__CloseJobRequest m =
		    TASQ__V1__CLOSE_JOB_REQUEST__INIT;
		m.job_id  = req->u.close_job.job_id;
		m.ack_seq = req->u.close_job.ack_seq;
		return (pack(&m.base, msgp));
	}
	case TASQ_M_DEAD_LIST: {
		Tasq__V1__DeadListRequest m =
		    TASQ__V1__DEAD_LIST_REQUEST__INIT;
		m.queue    = type_out(req->u.dead_list.queue);
		m.after_id = req->u.dead_list.after_id;
		m.max      = req->u.dead_list.max;
		m.payloads = req->u.dead_list.payloads;
		return (pack(&m.base, msgp));
	}
	case TASQ_M_DEAD_PURGE: {
		Tasq__V1__DeadPurgeRequest m =
		    TASQ__V1__DEAD_PURGE_REQUEST__INIT;
		m.n_ids = req->u.dead_purge.n;
		m.ids   = req->u.dead_purge.ids;
		m.all   = req->u.dead_purge.all;
		m.queue = type_out(req->u.dead_purge.queue);
		return (pack(&m.base, msgp));
	}
	case TASQ_M_JOB_LIST: {
		Tasq__V1__JobListRequest m = TASQ__V1__JOB_LIST_REQUEST__INIT;
		m.queue                    = type_out(req->u.job_list.queue);
		m.max                      = req->u.job_list.max;
		return (pack(&m.base, msgp));
	}
	case TASQ_M_JOB_STATUS: {
		Tasq__V1__JobStatusRequest m =
		    TASQ__V1__JOB_STATUS_REQUEST__INIT;
		m.job_id = req->u.job_status.job_id;
		return (pack(&m.base, msgp));
	}
	case TASQ_M_RESULTS: {
		Tasq__V1__ResultsRequest m = TASQ__V1__RESULTS_REQUEST__INIT;
		m.job_id                   = req->u.results.job_id;
		m.from_index               = req->u.results.from_index;
		m.max                      = req->u.results.max;
		m.wait_ms                  = req->u.results.wait_ms;
		return (pack(&m.base, msgp));
	}
	case TASQ_M_CANCEL: {
		Tasq__V1__CancelRequest m = TASQ__V1__CANCEL_REQUEST__INIT;
		m.job_id                  = req->u.cancel.job_id;
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
	Tasq__V1__StatsReply   m  = TASQ__V1__STATS_REPLY__INIT;
	size_t                 nq = rep->u.stats.nqueues;
	size_t                 nw = rep->u.stats.nworkers;
	size_t                 nc = rep->u.stats.ncounters;
	size_t                 nt = rep->u.stats.ntypes;
	struct scratch        *sc = NULL;
	Tasq__V1__QueueStats  *q  = scratch_alloc(&sc, nq, sizeof(*q));
	Tasq__V1__WorkerStats *w  = scratch_alloc(&sc, nw, sizeof(*w));
	Tasq__V1__Counter     *c  = scratch_alloc(&sc, nc, sizeof(*c));
	Tasq__V1__TypeStats   *t  = scratch_alloc(&sc, nt, sizeof(*t));
	void **ptrs = scratch_alloc(&sc, nq + nw + nc + nt, sizeof(void *));
	int    rv   = NNG_ENOMEM;

	if (q == NULL || w == NULL || c == NULL || t == NULL || ptrs == NULL) {
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
		q[i].failed    = s->failed;
		q[i].retried   = s->retried;
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
		w[i].failed        = s->failed;
		w[i].retried       = s->retried;
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
	m.n_types = nt;
	m.types   = (Tasq__V1__TypeStats **) (ptrs + nq + nw + nc);
	for (size_t i = 0; i < nt; i++) {
		const tasq_type_stats *s = &rep->u.stats.types[i];
		tasq__v1__type_stats__init(&t[i]);
		t[i].queue   = type_out(s->queue);
		t[i].type    = type_out(s->type);
		t[i].ready   = s->ready;
		t[i].leased  = s->leased;
		t[i].workers = s->workers;
		m.types[i]   = &t[i];
	}
	m.n_dead_letters = rep->u.stats.ndead * 2;
	m.dead_letters   = rep->u.stats.dead;
	m.dead_total     = rep->u.stats.dead_total;
	m.identity       = rep->u.stats.identity;
	rv               = pack(&m.base, msgp);
out:
	scratch_free(&sc);
	return (rv);
}

static int
encode_dead_list(const tasq_rep *rep, nng_msg **msgp)
{
	Tasq__V1__DeadListReply m    = TASQ__V1__DEAD_LIST_REPLY__INIT;
	size_t                  n    = rep->u.dead_list.n;
	struct scratch         *sc   = NULL;
	Tasq__V1__DeadLetter   *l    = scratch_alloc(&sc, n, sizeof(*l));
	Tasq__V1__DeadLetter  **ptrs = scratch_alloc(&sc, n, sizeof(*ptrs));
	int                     rv   = NNG_ENOMEM;

	if (l == NULL || ptrs == NULL) {
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const tasq_dead_letter *d = &rep->u.dead_list.letters[i];
		tasq__v1__dead_letter__init(&l[i]);
		l[i].id           = d->id;
		l[i].job_id       = d->job_id;
		l[i].task_id      = d->task_id;
		l[i].queue        = type_out(d->queue);
		l[i].type         = type_out(d->type);
		l[i].payload.len  = d->payload_size;
		l[i].payload.data = (uint8_t *) d->payload;
		l[i].payload_len  = d->payload_len;
		l[i].attempts     = d->attempts;
		l[i].code         = (Tasq__V1__Code) d->code;
		l[i].error        = type_out(d->error);
		l[i].time_ms      = d->time_ms;
		ptrs[i]           = &l[i];
	}
	m.n_letters = n;
	m.letters   = ptrs;
	m.total     = rep->u.dead_list.total;
	rv          = pack(&m.base, msgp);
out:
	scratch_free(&sc);
	return (rv);
}

// A task batch and its payloads column.
struct task_out {
	Tasq__V1__TaskBatch tb;
	Tasq__V1__Blobs     blobs;
};

static int
encode_lease(const tasq_rep *rep, nng_msg **msgp)
{
	Tasq__V1__LeaseReply    m = TASQ__V1__LEASE_REPLY__INIT;
	Tasq__V1__CompleteReply c;
	size_t                  n  = rep->u.lease.nbatches;
	struct scratch         *sc = NULL;
	struct task_out        *arr;
	Tasq__V1__TaskBatch   **ptrs;
	int                     rv = NNG_ENOMEM;

	if ((arr = scratch_alloc(&sc, n, sizeof(*arr))) == NULL ||
	    (ptrs = scratch_alloc(&sc, n, sizeof(*ptrs))) == NULL) {
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const tasq_task_batch *b = &rep->u.lease.batches[i];
		Tasq__V1__TaskBatch   *t = &arr[i].tb;
		tasq__v1__task_batch__init(t);
		t->lease_id = b->lease_id;
		t->job_id   = b->job_id;
		t->attempt  = b->attempt;
		if ((rv = ids_out(b->n, b->ids, b->id_runs, &sc, &t->n_ids,
		         &t->ids, &t->n_id_runs, &t->id_runs)) != 0 ||
		    (rv = column_out(b->n, b->values, b->legacy, &b->payloads,
		         &sc, &t->n_values, &t->values, &arr[i].blobs,
		         &t->payloads)) != 0) {
			goto out;
		}
		if (t->n_values == 0) {
			t->type = type_out(b->type);
		}
		ptrs[i] = t;
	}
	complete_out(&rep->u.lease.completed, &c);
	m.n_batches   = n;
	m.batches     = ptrs;
	m.lease_ms    = rep->u.lease.lease_ms;
	m.completed   = &c;
	m.n_cancelled = rep->u.lease.ncancelled;
	m.cancelled   = rep->u.lease.cancelled;
	rv            = pack(&m.base, msgp);
out:
	scratch_free(&sc);
	return (rv);
}

static int
encode_fetch(const tasq_rep *rep, nng_msg **msgp)
{
	Tasq__V1__FetchReply  m  = TASQ__V1__FETCH_REPLY__INIT;
	Tasq__V1__SubmitReply sr = TASQ__V1__SUBMIT_REPLY__INIT;
	Tasq__V1__Blobs       blobs;
	struct scratch       *sc = NULL;
	size_t                n  = rep->u.fetch.n;
	int                   rv;

	m.seq       = rep->u.fetch.seq;
	m.n_codes   = rep->u.fetch.codes ? n : 0;
	m.codes     = rep->u.fetch.codes;
	m.submitted = rep->u.fetch.submitted;
	m.completed = rep->u.fetch.completed;
	m.no_worker = rep->u.fetch.no_worker;
	m.workers   = rep->u.fetch.workers;
	if (rep->u.fetch.has_submit) {
		sr.accepted  = rep->u.fetch.submit.accepted;
		sr.duplicate = rep->u.fetch.submit.duplicate;
		m.submit     = &sr;
	}
	if ((rv = ids_out(n, rep->u.fetch.ids, rep->u.fetch.id_runs, &sc,
	         &m.n_ids, &m.ids, &m.n_id_runs, &m.id_runs)) == 0 &&
	    (rv = column_out(n, rep->u.fetch.values, rep->u.fetch.legacy,
	         &rep->u.fetch.results, &sc, &m.n_values, &m.values, &blobs,
	         &m.results)) == 0 &&
	    (rv = errors_out(
	         n, rep->u.fetch.errors, &sc, &m.n_errors, &m.errors)) == 0) {
		rv = pack(&m.base, msgp);
	}
	scratch_free(&sc);
	return (rv);
}

static int
encode_job_list(const tasq_rep *rep, nng_msg **msgp)
{
	Tasq__V1__JobListReply m  = TASQ__V1__JOB_LIST_REPLY__INIT;
	size_t                 n  = rep->u.job_list.n;
	Tasq__V1__JobInfo     *ji = NULL;
	Tasq__V1__JobInfo    **pp = NULL;
	int                    rv;

	if (n > 0 &&
	    ((ji = calloc(n, sizeof(*ji))) == NULL ||
	        (pp = calloc(n, sizeof(*pp))) == NULL)) {
		free(ji);
		return (NNG_ENOMEM);
	}
	for (size_t i = 0; i < n; i++) {
		job_info_out(&rep->u.job_list.jobs[i], &ji[i]);
		pp[i] = &ji[i];
	}
	m.n_jobs = n;
	m.jobs   = pp;
	m.total  = rep->u.job_list.total;
	rv       = pack(&m.base, msgp);
	free(pp);
	free(ji);
	return (rv);
}

static int
encode_results(const tasq_rep *rep, nng_msg **msgp)
{
	Tasq__V1__ResultsReply m = TASQ__V1__RESULTS_REPLY__INIT;
	Tasq__V1__JobInfo      ji;
	Tasq__V1__Blobs        blobs;
	struct scratch        *sc = NULL;
	size_t                 n  = rep->u.results.n;
	size_t                 nv;
	int64_t               *vals;
	int                    rv;

	m.n_ids      = n;
	m.ids        = rep->u.results.ids;
	m.n_codes    = rep->u.results.codes ? n : 0;
	m.codes      = rep->u.results.codes;
	m.next_index = rep->u.results.next_index;
	if (rep->u.results.has_job) {
		job_info_out(&rep->u.results.job, &ji);
		m.job = &ji;
	}
	if ((rv = column_out(n, NULL, false, &rep->u.results.results, &sc, &nv,
	         &vals, &blobs, &m.results)) == 0 &&
	    (rv = errors_out(n, rep->u.results.errors, &sc, &m.n_errors,
	         &m.errors)) == 0) {
		rv = pack(&m.base, msgp);
	}
	scratch_free(&sc);
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
		m.heartbeat_port        = rep->u.health.heartbeat_port;
		m.identity              = rep->u.health.identity;
		return (pack(&m.base, msgp));
	}
	case TASQ_M_SUBMIT: {
		Tasq__V1__SubmitReply m = TASQ__V1__SUBMIT_REPLY__INIT;
		m.accepted              = rep->u.submit.accepted;
		m.duplicate             = rep->u.submit.duplicate;
		return (pack(&m.base, msgp));
	}
	case TASQ_M_LEASE:
		return (encode_lease(rep, msgp));
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
		m.n_cancelled           = rep->u.extend.ncancelled;
		m.cancelled             = rep->u.extend.cancelled;
		return (pack(&m.base, msgp));
	}
	case TASQ_M_RELEASE: {
		Tasq__V1__ReleaseReply m = TASQ__V1__RELEASE_REPLY__INIT;
		m.released               = rep->u.release.released;
		return (pack(&m.base, msgp));
	}
	case TASQ_M_FETCH:
		return (encode_fetch(rep, msgp));
	case TASQ_M_CLOSE_JOB: {
		Tasq__V1__CloseJobReply m = TASQ__V1__CLOSE_JOB_REPLY__INIT;
		m.dropped                 = rep->u.close_job.dropped;
		return (pack(&m.base, msgp));
	}
	case TASQ_M_STATS:
		return (encode_stats(rep, msgp));
	case TASQ_M_DEAD_LIST:
		return (encode_dead_list(rep, msgp));
	case TASQ_M_DEAD_PURGE: {
		Tasq__V1__DeadPurgeReply m = TASQ__V1__DEAD_PURGE_REPLY__INIT;
		m.purged                   = rep->u.dead_purge.purged;
		return (pack(&m.base, msgp));
	}
	case TASQ_M_JOB_LIST:
		return (encode_job_list(rep, msgp));
	case TASQ_M_JOB_STATUS: {
		Tasq__V1__JobStatusReply m = TASQ__V1__JOB_STATUS_REPLY__INIT;
		Tasq__V1__JobInfo        ji;
		job_info_out(&rep->u.job_status.job, &ji);
		m.job = &ji;
		return (pack(&m.base, msgp));
	}
	case TASQ_M_RESULTS:
		return (encode_results(rep, msgp));
	case TASQ_M_CANCEL: {
		Tasq__V1__CancelReply m = TASQ__V1__CANCEL_REPLY__INIT;
		Tasq__V1__JobInfo     ji;
		m.dropped = rep->u.cancel.dropped;
		m.running = rep->u.cancel.running;
		if (rep->u.cancel.has_job) {
			job_info_out(&rep->u.cancel.job, &ji);
			m.job = &ji;
		}
		return (pack(&m.base, msgp));
	}
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

	if ((rv = unpack(&tasq__v1__status__descriptor, body, len, true, &bud,
	         &pb, "not a Status message", &why)) != 0) {
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
