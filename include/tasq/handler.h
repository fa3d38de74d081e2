// tasq/handler.h: the C ABI of tasq-worker handler plugins.
//
// A plugin is a shared library named on the worker's command line as
// `--type NAME=plugin:/path/libfoo.so` (or `plugin:/path/libfoo.so ARG`:
// what follows the first space is handed to init). The worker loads it
// with dlopen(RTLD_NOW | RTLD_LOCAL) and looks up one symbol,
// TASQ_HANDLER_SYMBOL ("tasq_handler_v1"), a const tasq_handler_table:
//
//	#include <tasq/handler.h>
//
//	static int
//	process(void *state, const tasq_handler_batch *in,
//	    tasq_handler_results *out)
//	{
//		const uint8_t *p = in->data;
//		for (size_t i = 0; i < in->n; i++) {
//			size_t len = in->width ? in->width : in->lens[i];
//			... compute, then out->put(out, result, result_len)
//			... or out->fail(out, i, TASQ_HANDLER_INVALID_ARGUMENT,
//			...     "why")
//			p += len;
//		}
//		return (0);
//	}
//
//	TASQ_HANDLER_EXPORT const tasq_handler_table tasq_handler_v1 = {
//		.abi_version   = TASQ_HANDLER_ABI_VERSION,
//		.name          = "example",
//		.process_batch = process,
//	};
//
// Lifecycle: init (optional) runs once per worker thread that serves the
// type (tasq-worker --pipeline, default 2), each with its own state;
// process_batch is never called concurrently for one state, but the
// states of one process may be used on different threads at once, so
// globals need locking. fini (optional) runs at a clean shutdown only.
// A long batch may be cancelled while it runs (tasq cancel JOB): a
// plugin of ABI version 2 polls in->cancelled(in) now and then and, when
// it returns non-zero, stops (the results it gives are dropped; the tasks
// are never retried); see docs/HANDLERS.md.
// The worker process is a child of the tasq-worker supervisor: a plugin
// that crashes takes that process down, the supervisor starts a new one
// and the server hands the tasks out again (docs/HANDLERS.md).
//
// This header includes only standard headers and may be used from C++.
#ifndef TASQ_HANDLER_H
#define TASQ_HANDLER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// The version of the structures below, in tasq_handler_table.abi_version.
// Versions only append to tasq_handler_batch, so the symbol stays
// "tasq_handler_v1" and a worker loads every version up to its own:
//   1  the first;
//   2  tasq_handler_batch.cancelled and host_ (a worker of version 1 has
//      neither field: it refuses a table of version 2 with a message that
//      says so, instead of running a plugin that would read them).
// A plugin built with this header has version 2. One that must also run
// on workers of version 1 sets .abi_version = 1 and never reads the
// fields of version 2 (it is then not told of a cancel). A worker
// refuses a version newer than its own, and 0.
#define TASQ_HANDLER_ABI_VERSION 2
#define TASQ_HANDLER_ABI_MIN 1 // the oldest version a worker loads
#define TASQ_HANDLER_SYMBOL "tasq_handler_v1"

#if defined(__GNUC__)
#define TASQ_HANDLER_EXPORT __attribute__((visibility("default")))
#else
#define TASQ_HANDLER_EXPORT
#endif

// Status codes of a task (tasq's wire codes, the gRPC canonical codes).
// Any non-zero code fails the task; the server retries it under its
// job's retry policy, then dead-letters it with the message.
#define TASQ_HANDLER_OK 0
#define TASQ_HANDLER_CANCELLED 1 // the job was cancelled (dropped anyway)
#define TASQ_HANDLER_UNKNOWN 2
#define TASQ_HANDLER_INVALID_ARGUMENT 3
#define TASQ_HANDLER_DEADLINE_EXCEEDED 4
#define TASQ_HANDLER_NOT_FOUND 5
#define TASQ_HANDLER_RESOURCE_EXHAUSTED 8
#define TASQ_HANDLER_FAILED_PRECONDITION 9
#define TASQ_HANDLER_OUT_OF_RANGE 11
#define TASQ_HANDLER_UNIMPLEMENTED 12
#define TASQ_HANDLER_INTERNAL 13
#define TASQ_HANDLER_UNAVAILABLE 14

// The largest result of one task and the longest message (bytes); a
// longer result fails its task (OUT_OF_RANGE, final: see put), a longer
// message is cut.
#define TASQ_HANDLER_MAX_RESULT ((size_t) 1 << 20)
#define TASQ_HANDLER_MAX_MESSAGE 1024

// A batch of n tasks of one type. Payload i is width bytes when width >
// 0 (lens is then NULL), else lens[i] bytes; payloads lie back to back in
// data (size bytes in all). Everything is borrowed for the duration of
// process_batch only.
typedef struct tasq_handler_batch {
	size_t          n;
	uint32_t        width;
	const uint32_t *lens;
	const uint8_t  *data;
	size_t          size;
	const char     *type;    // the task type the batch belongs to
	uint32_t        attempt; // 1 on the first delivery of these tasks
	// ABI version 2 (read them only with .abi_version = 2):
	// cancelled(batch) returns non-zero once the batch's job has been
	// cancelled (tasq cancel): stop, and return from process_batch
	// (with or without more results: those of a cancelled job are
	// dropped, its tasks are never retried). It is cheap (an atomic
	// load, thread-safe), so a plugin may call it between tasks or
	// every few milliseconds of a long task; never NULL for a plugin of
	// version 2. The flag of one batch never carries over to the next.
	int (*cancelled)(const struct tasq_handler_batch *batch);
	const void *host_; // the host's, for cancelled; not to be touched
} tasq_handler_batch;

// Where process_batch writes the n results, through the host's functions.
// Results go in task order: each put appends the result of the next task.
// put_fixed, called before any put, gives all n results at once: the host
// returns n * width bytes for the plugin to fill (result i at i * width).
// fail marks task i failed with code and message (copied, cut at
// TASQ_HANDLER_MAX_MESSAGE bytes; NULL for none): i is either a task
// whose result is already there (the result is then ignored) or the next
// one, which it stands in for (no put for it). A put of more than
// TASQ_HANDLER_MAX_RESULT bytes fails its task with
// TASQ_HANDLER_OUT_OF_RANGE (final: not retried) and returns 0; a
// put_fixed of such a width fails every task so and returns NULL. put and
// fail return 0, or -1 when the host is out of memory or a call breaks
// the rules; the host then fails the whole batch, so process_batch may as
// well return. put_fixed returns NULL in those cases.
typedef struct tasq_handler_results tasq_handler_results;
struct tasq_handler_results {
	int (*put)(tasq_handler_results *r, const void *data, size_t len);
	void *(*put_fixed)(tasq_handler_results *r, size_t width);
	int (*fail)(tasq_handler_results *r, size_t i, uint32_t code,
	    const char *message);
	void *host; // the host's, not to be touched
};

typedef struct tasq_handler_table {
	uint32_t    abi_version; // TASQ_HANDLER_ABI_VERSION
	const char *name;        // for log lines
	// Optional. arg: the text after the library path ("" for none).
	// Returns 0, or non-zero with a message in err (errlen bytes): the
	// worker then does not start.
	int (*init)(const char *arg, void **state, char *err, size_t errlen);
	// Required. Computes the results of in into out. Returns 0; a
	// non-zero return fails every task of the batch that has no
	// result yet with TASQ_HANDLER_INTERNAL (retried).
	int (*process_batch)(void *state, const tasq_handler_batch *in,
	    tasq_handler_results *out);
	// Optional: releases state.
	void (*fini)(void *state);
} tasq_handler_table;

#ifdef __cplusplus
}
#endif

#endif
