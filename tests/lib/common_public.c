// common_public: the error codes as a program sees them, through the
// public header alone (no lib/err.h in this file): common_test.c checks
// them against lib/err.h's table.
#include <tasq/tasq.h>

int lib_public_code(const char *name);

#define C(x)                                                                  \
	{                                                                     \
#x, TASQ_E##x                                                 \
	}
static const struct {
	const char *name;
	int         code;
} codes[] = { C(CANCELLED), C(UNKNOWN), C(INVALID_ARGUMENT),
	C(DEADLINE_EXCEEDED), C(NOT_FOUND), C(ALREADY_EXISTS),
	C(PERMISSION_DENIED), C(RESOURCE_EXHAUSTED), C(FAILED_PRECONDITION),
	C(ABORTED), C(OUT_OF_RANGE), C(UNIMPLEMENTED), C(INTERNAL),
	C(UNAVAILABLE), C(DATA_LOSS), C(UNAUTHENTICATED) };

// The public value of TASQ_E<name>, or -1 when the header has none.
int
lib_public_code(const char *name)
{
	for (unsigned i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		const char *a = codes[i].name, *b = name;
		while (*a != '\0' && *a == *b) {
			a++;
			b++;
		}
		if (*a == '\0' && *b == '\0') {
			return (codes[i].code);
		}
	}
	return (-1);
}
