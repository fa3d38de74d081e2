// fuzz_exec_frame: the parser of what an exec: child writes back
// (worker/exec_frame.c). The child is peer input: any bytes must end as
// a complete answer or a framing error, never a crash, an over-long
// result or more results than tasks.
//
// Input: byte 0: n (tasks, 0..31); byte 1: how the rest is cut into
// reads (chunk size 1..256, 0 = one read); bytes 2..9: seq (little
// endian); the rest: the child's output.
#include <string.h>

#include "err.h"
#include "exec_frame.h"
#include "fuzz.h"
#include "handler.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tasq_frame_parser p;
	tasq_hres         out;
	tasq_blobs        col;
	uint32_t         *codes;
	const char      **errs;
	size_t            n, chunk, off = 10;
	uint64_t          seq = 0;
	int               rv  = 0;

	if (size < 10) {
		return (0);
	}
	n     = data[0] % 32;
	chunk = data[1] == 0 ? size : data[1];
	for (int i = 0; i < 8; i++) {
		seq |= (uint64_t) data[2 + i] << (8 * i);
	}
	tasq_hres_init(&out);
	FUZZ_CHECK(tasq_hres_begin(&out, n) == 0);
	tasq_frame_parser_init(&p, n, seq);
	while (off < size && rv == 0) {
		size_t take = size - off < chunk ? size - off : chunk;
		rv          = tasq_frame_feed(&p, data + off, take, &out);
		off += take;
		FUZZ_CHECK(out.k <= n);
	}
	FUZZ_CHECK(rv == 0 || rv == TASQ_EDATA_LOSS);
	FUZZ_CHECK((rv == TASQ_EDATA_LOSS) == (p.state == TASQ_FRAME_BROKEN));
	if (p.state == TASQ_FRAME_DONE) {
		FUZZ_CHECK(out.k == n);
	}
	// What the worker does next: fail the rest, then send the column.
	tasq_hres_fail_rest(&out, 14, "broken");
	FUZZ_CHECK(out.k == n);
	tasq_hres_view(&out, &col, &codes, &errs);
	size_t sum = 0;
	for (size_t i = 0; i < n; i++) {
		size_t len = col.width != 0 ? col.width : col.lens[i];
		FUZZ_CHECK(len <= TASQ_WIRE_MAX_PAYLOAD);
		sum += len;
		if (codes != NULL) {
			FUZZ_CHECK(codes[i] <= 16);
			FUZZ_CHECK(errs[i] != NULL);
			fuzz_check_text(errs[i], false);
		}
	}
	FUZZ_CHECK(sum == col.size);
	tasq_hres_fini(&out);
	return (0);
}
