// exec_frame: the framing between a worker and its exec: child
// (docs/HANDLERS.md section 2, byte by byte). All integers little-endian.
//
// Worker -> child, one batch:
//   "TQB1"  u32 n  u64 seq  u32 attempt  u32 flags (0)   (24 bytes)
//   n times: u32 len, len payload bytes
// Child -> worker, its answer:
//   "TQR1"  u32 n  u64 seq            (16 bytes; n and seq echoed)
//   n times, in task order: u32 status, u32 len, len bytes: the result
//   when status is 0, else the error message (status: a code 1..16)
//
// The parser below reads what the child writes: peer input, checked
// field by field (fuzzed by tests/fuzz/fuzz_exec_frame.c). Pure, no
// shared state.
#ifndef TASQ_EXEC_FRAME_H
#define TASQ_EXEC_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "handler.h"

#define TASQ_FRAME_IN_HDR 24 // batch header
#define TASQ_FRAME_HDR 16    // answer header
#define TASQ_FRAME_IN_MAGIC "TQB1"
#define TASQ_FRAME_OUT_MAGIC "TQR1"

// tasq_frame_in_size returns the bytes tasq_frame_in_encode writes for
// in, or 0 when that does not fit in a size_t.
size_t tasq_frame_in_size(const tasq_handler_batch *in);

// tasq_frame_in_encode writes the batch frame of in (with seq and
// in->attempt) into buf,
// which holds tasq_frame_in_size(in) bytes.
void tasq_frame_in_encode(
    uint8_t *buf, uint64_t seq, const tasq_handler_batch *in);

enum tasq_frame_state {
	TASQ_FRAME_HEAD,   // reading the 16-byte header
	TASQ_FRAME_ITEM,   // reading an item's status and length
	TASQ_FRAME_BODY,   // reading an item's bytes
	TASQ_FRAME_DONE,   // all n results read
	TASQ_FRAME_BROKEN, // the child broke the framing (why says how)
};

typedef struct tasq_frame_parser {
	enum tasq_frame_state state;
	size_t                n;
	uint64_t              seq;
	uint8_t               head[TASQ_FRAME_HDR];
	size_t                have; // bytes of head (or item header) read
	uint32_t              status;
	uint32_t              len;
	size_t                got; // bytes of the body read
	uint8_t              *dst; // where a result's body goes
	char                  msg[TASQ_WIRE_MAX_TEXT + 1];
	size_t                msglen;
	bool                  discard; // a result too big: its bytes skipped
	char                  why[160];
} tasq_frame_parser;

// tasq_frame_parser_init readies p for the answer to batch seq of n tasks.
void tasq_frame_parser_init(tasq_frame_parser *p, size_t n, uint64_t seq);

// tasq_frame_feed consumes len bytes of the child's output, appending
// results (and failures) to out, which tasq_hres_begin readied for n
// tasks. Returns 0 (p->state tells whether the answer is complete), or
// TASQ_EDATA_LOSS when the bytes break the framing (p->why: a static-free
// sentence; bytes after the last result count as breaking it), or
// NNG_ENOMEM. After an error p and out stay as they are (out->k results).
int tasq_frame_feed(
    tasq_frame_parser *p, const uint8_t *buf, size_t len, tasq_hres *out);

#endif
