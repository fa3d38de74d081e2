// err: tasq's error codes.
//
// A function that can fail returns int: 0, an NNG_E* code passed through
// unchanged, or a TASQ_E* code below. TASQ_E* codes are TASQ_ERR_BASE plus
// the gRPC canonical code that travels on the wire as the RPC status
// (docs/PROTOCOL.md), so tasq_err_code() and tasq_err_from_code() convert
// between the two without a table. All functions here are thread-safe.
#ifndef TASQ_ERR_H
#define TASQ_ERR_H

#define TASQ_ERR_BASE 0x4000

// X(name, wire code, message)
#define TASQ_ERR_MAP(X)                                                       \
	X(CANCELLED, 1, "operation cancelled")                                \
	X(UNKNOWN, 2, "unknown error")                                        \
	X(INVALID_ARGUMENT, 3, "invalid argument")                            \
	X(DEADLINE_EXCEEDED, 4, "deadline exceeded")                          \
	X(NOT_FOUND, 5, "not found")                                          \
	X(ALREADY_EXISTS, 6, "already exists")                                \
	X(PERMISSION_DENIED, 7, "permission denied")                          \
	X(RESOURCE_EXHAUSTED, 8, "resource exhausted")                        \
	X(FAILED_PRECONDITION, 9, "failed precondition")                      \
	X(ABORTED, 10, "aborted")                                             \
	X(OUT_OF_RANGE, 11, "out of range")                                   \
	X(UNIMPLEMENTED, 12, "unimplemented")                                 \
	X(INTERNAL, 13, "internal error")                                     \
	X(UNAVAILABLE, 14, "unavailable")                                     \
	X(DATA_LOSS, 15, "data loss")                                         \
	X(UNAUTHENTICATED, 16, "unauthenticated")

// The public header (include/tasq/tasq.h) declares the same enum for
// programs using libtasq; whichever of the two comes first defines it
// (tests/lib/errors_test.c checks that they agree).
#ifndef TASQ_ERR_ENUM_DEFINED
#define TASQ_ERR_ENUM_DEFINED
enum tasq_err {
#define TASQ_ERR_ENUM(name, code, msg) TASQ_E##name = TASQ_ERR_BASE + code,
	TASQ_ERR_MAP(TASQ_ERR_ENUM)
#undef TASQ_ERR_ENUM
};
#endif

#define TASQ_CODE_MAX 16

// tasq_strerror returns a static message for any error tasq functions
// return (TASQ_E*, NNG_E*, 0).
const char *tasq_strerror(int rv);

// tasq_err_code maps any error to its wire status code (0..16). NNG errors
// map to the nearest gRPC code (NNG_ETIMEDOUT is DEADLINE_EXCEEDED, ...).
int tasq_err_code(int rv);

// tasq_err_from_code is the inverse for codes received from a peer; codes
// outside 0..16 become TASQ_EUNKNOWN.
int tasq_err_from_code(int code);

// tasq_err_name returns "OK", "INVALID_ARGUMENT", ... for a wire code, or
// "UNKNOWN" for a code outside the table.
const char *tasq_err_name(int code);

#endif
