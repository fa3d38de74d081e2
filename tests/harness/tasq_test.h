// tasq_test: a header-only unit test harness (one test program per module,
// one translation unit each, so the state below is per program).
//
//	#include "tasq_test.h"
//
//	TEST(envelope_round_trip)
//	{
//		ASSERT_EQ(h.seq, 7);
//		ASSERT_RV(tasq_env_parse(buf, 3, &h), TASQ_EINVALID_ARGUMENT);
//	}
//
//	TASQ_TEST_MAIN()
//
// TEST() registers the function before main runs; tests run in the order
// they appear in the file. A failed assertion prints file:line, the
// expression, both operands (error codes with their names) and ends the
// test, even from inside a helper function; the next test still runs.
// The last line of output is exactly "N passed, N failed"; the exit status
// is non-zero when a test failed or none was selected.
//
// Assertions: ASSERT_EQ, _NE, _LT, _LE, _GT, _GE (integers of any type and
// signedness, compared by value: -1 != UINT64_MAX); ASSERT_TRUE, _FALSE;
// ASSERT_PTR_EQ, _PTR_NE, _NULL, _NOT_NULL; ASSERT_STR_EQ, _STR_CONTAINS,
// _STR_NOT_CONTAINS; ASSERT_MEM_EQ(a, b, n); ASSERT_RV(expr, want) and
// ASSERT_OK(expr) for error codes (0, TASQ_E*, NNG_E*); FAIL(msg).
//
// Each test runs in a child process by default, so that a crash or a
// sanitizer report fails that test alone and the leak checker judges each
// test on its own. TASQ_TEST_NOFORK=1 runs them in-process (for a
// debugger). Arguments select tests whose names contain one of them.
//
// Not thread-safe: assert from the test's own thread only.
#ifndef TASQ_TEST_H
#define TASQ_TEST_H

#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"

#define TASQ_TEST_MAX 256

typedef struct tasq_test_case {
	const char *name;
	void (*fn)(void);
	int line;
} tasq_test_case;

static tasq_test_case tasq_test_cases[TASQ_TEST_MAX];
static int            tasq_test_ncases;
static jmp_buf        tasq_test_jmp;
static const char    *tasq_test_current;

static inline void
tasq_test_register(const char *name, void (*fn)(void), int line)
{
	if (tasq_test_ncases == TASQ_TEST_MAX) {
		fprintf(
		    stderr, "tasq_test: more than %d tests\n", TASQ_TEST_MAX);
		abort();
	}
	tasq_test_cases[tasq_test_ncases].name = name;
	tasq_test_cases[tasq_test_ncases].fn   = fn;
	tasq_test_cases[tasq_test_ncases].line = line;
	tasq_test_ncases++;
}

// Constructors run in an order the toolchain chooses; the line number puts
// the tests back in file order.
// clang-format off
#define TEST(name)                                                           \
	static void tasq_test_fn_##name(void);                               \
	__attribute__((constructor)) static void                             \
	tasq_test_reg_##name(void)                                           \
	{                                                                    \
		tasq_test_register(#name, tasq_test_fn_##name, __LINE__);    \
	}                                                                    \
	static void tasq_test_fn_##name(void)
// clang-format on

// ---- failure reporting ---------------------------------------------------

__attribute__((noreturn)) static inline void
tasq_test_fail_end(void)
{
	fflush(stderr);
	longjmp(tasq_test_jmp, 1);
}

static inline void
tasq_test_fail_head(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: %s: %s failed\n", file, line,
	    tasq_test_current != NULL ? tasq_test_current : "?", what);
}

// ---- numbers: compared by mathematical value, signed or not --------------

typedef struct tasq_test_num {
	bool     neg;  // the value is below zero
	uint64_t bits; // two's complement bits of the value
} tasq_test_num;

static inline tasq_test_num
tasq_test_s(long long v)
{
	tasq_test_num n = { v < 0, (uint64_t) v };
	return (n);
}

static inline tasq_test_num
tasq_test_u(unsigned long long v)
{
	tasq_test_num n = { false, (uint64_t) v };
	return (n);
}

// Evaluates x once; pointers do not convert (use ASSERT_PTR_EQ).
// clang-format off
#define TASQ_TEST_NUM(x)                                                     \
	_Generic((x),                                                        \
	    bool: tasq_test_u,                                               \
	    unsigned char: tasq_test_u,                                      \
	    unsigned short: tasq_test_u,                                     \
	    unsigned int: tasq_test_u,                                       \
	    unsigned long: tasq_test_u,                                      \
	    unsigned long long: tasq_test_u,                                 \
	    default: tasq_test_s)(x)
// clang-format on

// Returns <0, 0, >0 as a < b, a == b, a > b.
static inline int
tasq_test_cmp(tasq_test_num a, tasq_test_num b)
{
	if (a.neg != b.neg) {
		return (a.neg ? -1 : 1);
	}
	// Same sign: two's complement bits order like the values.
	return (a.bits < b.bits ? -1 : a.bits > b.bits);
}

static inline void
tasq_test_print_num(const char *label, const char *expr, tasq_test_num v)
{
	if (v.neg) {
		fprintf(stderr, "  %s = %lld (%s)\n", label,
		    (long long) v.bits, expr);
	} else {
		fprintf(stderr, "  %s = %llu (0x%llx) (%s)\n", label,
		    (unsigned long long) v.bits, (unsigned long long) v.bits,
		    expr);
	}
}

enum tasq_test_op {
	TASQ_TEST_EQ,
	TASQ_TEST_NE,
	TASQ_TEST_LT,
	TASQ_TEST_LE,
	TASQ_TEST_GT,
	TASQ_TEST_GE
};

static inline void
tasq_test_check_num(const char *file, int line, enum tasq_test_op op,
    const char *macro, const char *ea, const char *eb, tasq_test_num a,
    tasq_test_num b)
{
	int  c = tasq_test_cmp(a, b);
	bool ok;

	switch (op) {
	case TASQ_TEST_EQ:
		ok = c == 0;
		break;
	case TASQ_TEST_NE:
		ok = c != 0;
		break;
	case TASQ_TEST_LT:
		ok = c < 0;
		break;
	case TASQ_TEST_LE:
		ok = c <= 0;
		break;
	case TASQ_TEST_GT:
		ok = c > 0;
		break;
	default:
		ok = c >= 0;
		break;
	}
	if (ok) {
		return;
	}
	fprintf(stderr, "%s:%d: %s: %s(%s, %s) failed\n", file, line,
	    tasq_test_current != NULL ? tasq_test_current : "?", macro, ea,
	    eb);
	tasq_test_print_num("a", ea, a);
	tasq_test_print_num("b", eb, b);
	tasq_test_fail_end();
}

// The ASSERT_ macros stringize their own arguments, so that messages show
// the expressions as written rather than with macros expanded.
#define TASQ_TEST_CMP(op, a, b, ea, eb)                                       \
	tasq_test_check_num(__FILE__, __LINE__, TASQ_TEST_##op,               \
	    "ASSERT_" #op, ea, eb, TASQ_TEST_NUM(a), TASQ_TEST_NUM(b))

#define ASSERT_EQ(a, b) TASQ_TEST_CMP(EQ, a, b, #a, #b)
#define ASSERT_NE(a, b) TASQ_TEST_CMP(NE, a, b, #a, #b)
#define ASSERT_LT(a, b) TASQ_TEST_CMP(LT, a, b, #a, #b)
#define ASSERT_LE(a, b) TASQ_TEST_CMP(LE, a, b, #a, #b)
#define ASSERT_GT(a, b) TASQ_TEST_CMP(GT, a, b, #a, #b)
#define ASSERT_GE(a, b) TASQ_TEST_CMP(GE, a, b, #a, #b)

// ---- truth, pointers, strings, memory ------------------------------------

static inline void
tasq_test_check_true(
    const char *file, int line, const char *expr, bool v, bool want)
{
	if (v == want) {
		return;
	}
	tasq_test_fail_head(file, line, want ? "ASSERT_TRUE" : "ASSERT_FALSE");
	fprintf(stderr, "  (%s) is %s\n", expr, v ? "true" : "false");
	tasq_test_fail_end();
}

#define ASSERT_TRUE(x)                                                        \
	tasq_test_check_true(__FILE__, __LINE__, #x, (x) ? true : false, true)
#define ASSERT_FALSE(x)                                                       \
	tasq_test_check_true(__FILE__, __LINE__, #x, (x) ? true : false, false)

static inline void
tasq_test_check_ptr(const char *file, int line, const char *ea, const char *eb,
    const void *a, const void *b, bool want_eq)
{
	if ((a == b) == want_eq) {
		return;
	}
	tasq_test_fail_head(
	    file, line, want_eq ? "ASSERT_PTR_EQ" : "ASSERT_PTR_NE");
	fprintf(stderr, "  a = %p (%s)\n  b = %p (%s)\n", a, ea, b, eb);
	tasq_test_fail_end();
}

#define ASSERT_PTR_EQ(a, b)                                                   \
	tasq_test_check_ptr(__FILE__, __LINE__, #a, #b, (a), (b), true)
#define ASSERT_PTR_NE(a, b)                                                   \
	tasq_test_check_ptr(__FILE__, __LINE__, #a, #b, (a), (b), false)
#define ASSERT_NULL(a)                                                        \
	tasq_test_check_ptr(__FILE__, __LINE__, #a, "NULL", (a), NULL, true)
#define ASSERT_NOT_NULL(a)                                                    \
	tasq_test_check_ptr(__FILE__, __LINE__, #a, "NULL", (a), NULL, false)

// Strings: NULL compares equal only to NULL. kind 0 compares a and b;
// 1 wants needle b in hay a, -1 wants it absent (and a NULL fails both).
static inline void
tasq_test_check_str(const char *file, int line, const char *what,
    const char *ea, const char *eb, const char *a, const char *b, int kind)
{
	bool ok;

	if (kind == 0) {
		ok = (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
	} else {
		ok = a != NULL && b != NULL &&
		    (strstr(a, b) != NULL) == (kind > 0);
	}
	if (ok) {
		return;
	}
	tasq_test_fail_head(file, line, what);
	fprintf(stderr, "  a = \"%s\" (%s)\n  b = \"%s\" (%s)\n",
	    a != NULL ? a : "(null)", ea, b != NULL ? b : "(null)", eb);
	tasq_test_fail_end();
}

#define ASSERT_STR_EQ(a, b)                                                   \
	tasq_test_check_str(                                                  \
	    __FILE__, __LINE__, "ASSERT_STR_EQ", #a, #b, (a), (b), 0)
#define ASSERT_STR_CONTAINS(hay, needle)                                      \
	tasq_test_check_str(__FILE__, __LINE__, "ASSERT_STR_CONTAINS", #hay,  \
	    #needle, (hay), (needle), 1)
#define ASSERT_STR_NOT_CONTAINS(hay, needle)                                  \
	tasq_test_check_str(__FILE__, __LINE__, "ASSERT_STR_NOT_CONTAINS",    \
	    #hay, #needle, (hay), (needle), -1)

static inline void
tasq_test_check_mem(const char *file, int line, const char *ea, const char *eb,
    const void *a, const void *b, size_t n)
{
	const unsigned char *pa = a, *pb = b;
	size_t               i;

	for (i = 0; i < n && pa[i] == pb[i]; i++) {
	}
	if (i == n) {
		return;
	}
	tasq_test_fail_head(file, line, "ASSERT_MEM_EQ");
	fprintf(stderr,
	    "  first difference at byte %zu of %zu:"
	    " a[%zu] = 0x%02x (%s), b[%zu] = 0x%02x (%s)\n",
	    i, n, i, pa[i], ea, i, pb[i], eb);
	tasq_test_fail_end();
}

#define ASSERT_MEM_EQ(a, b, n)                                                \
	tasq_test_check_mem(__FILE__, __LINE__, #a, #b, (a), (b), (n))

// ---- error codes ---------------------------------------------------------

// Writes "TASQ_EINVALID_ARGUMENT", "0" or "NNG error 2" for rv.
static inline void
tasq_test_rv_name(int rv, char *buf, size_t len)
{
	if (rv == 0) {
		snprintf(buf, len, "0");
	} else if (rv > TASQ_ERR_BASE && rv <= TASQ_ERR_BASE + TASQ_CODE_MAX) {
		snprintf(
		    buf, len, "TASQ_E%s", tasq_err_name(rv - TASQ_ERR_BASE));
	} else {
		snprintf(buf, len, "NNG error %d", rv);
	}
}

static inline void
tasq_test_check_rv(
    const char *file, int line, const char *expr, int rv, int want)
{
	char n1[64], n2[64];

	if (rv == want) {
		return;
	}
	tasq_test_rv_name(rv, n1, sizeof(n1));
	tasq_test_rv_name(want, n2, sizeof(n2));
	tasq_test_fail_head(file, line, "ASSERT_RV");
	fprintf(stderr,
	    "  %s\n  returned %s (%d: %s)\n  expected %s (%d: %s)\n", expr, n1,
	    rv, tasq_strerror(rv), n2, want, tasq_strerror(want));
	tasq_test_fail_end();
}

#define ASSERT_RV(expr, want)                                                 \
	tasq_test_check_rv(__FILE__, __LINE__, #expr, (expr), (want))
#define ASSERT_OK(expr)                                                       \
	tasq_test_check_rv(__FILE__, __LINE__, #expr, (expr), 0)

#define FAIL(msg)                                                             \
	do {                                                                  \
		tasq_test_fail_head(__FILE__, __LINE__, "FAIL");              \
		fprintf(stderr, "  %s\n", (msg));                             \
		tasq_test_fail_end();                                         \
	} while (0)

// ---- runner --------------------------------------------------------------

static inline int
tasq_test_by_line(const void *a, const void *b)
{
	return (((const tasq_test_case *) a)->line -
	    ((const tasq_test_case *) b)->line);
}

// Runs t in this process; true if it passed.
static inline bool
tasq_test_run_here(const tasq_test_case *t)
{
	tasq_test_current = t->name;
	if (setjmp(tasq_test_jmp) != 0) {
		return (false);
	}
	t->fn();
	return (true);
}

// Runs t in a child process; true if the child passed and exited 0 (a
// sanitizer's leak or error report makes the exit status non-zero).
static inline bool
tasq_test_run_child(const tasq_test_case *t)
{
	pid_t pid;
	int   status;

	fflush(NULL);
	if ((pid = fork()) < 0) {
		perror("tasq_test: fork");
		return (false);
	}
	if (pid == 0) {
		if (!tasq_test_run_here(t)) {
			// Skip exit handlers: a failed test's leftovers
			// would bury the failure under leak reports.
			fflush(NULL);
			_exit(1);
		}
		exit(0);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			perror("tasq_test: waitpid");
			return (false);
		}
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		return (true);
	}
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "%s: killed by signal %d\n", t->name,
		    WTERMSIG(status));
	} else if (WEXITSTATUS(status) != 1) {
		fprintf(stderr, "%s: exit status %d (sanitizer report?)\n",
		    t->name, WEXITSTATUS(status));
	}
	return (false);
}

static inline bool
tasq_test_selected(const char *name, int argc, char **argv)
{
	if (argc <= 1) {
		return (true);
	}
	for (int i = 1; i < argc; i++) {
		if (strstr(name, argv[i]) != NULL) {
			return (true);
		}
	}
	return (false);
}

static inline int
tasq_test_main(int argc, char **argv)
{
	const char *nf     = getenv("TASQ_TEST_NOFORK");
	bool        nofork = nf != NULL && nf[0] != '\0' && nf[0] != '0';
	int         passed = 0, failed = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	qsort(tasq_test_cases, (size_t) tasq_test_ncases,
	    sizeof(tasq_test_cases[0]), tasq_test_by_line);
	for (int i = 0; i < tasq_test_ncases; i++) {
		const tasq_test_case *t = &tasq_test_cases[i];
		bool                  ok;

		if (!tasq_test_selected(t->name, argc, argv)) {
			continue;
		}
		ok = nofork ? tasq_test_run_here(t) : tasq_test_run_child(t);
		printf("%s %s\n", ok ? "ok  " : "FAIL", t->name);
		if (ok) {
			passed++;
		} else {
			failed++;
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return (failed != 0 || passed == 0);
}

#define TASQ_TEST_MAIN()                                                      \
	int main(int argc, char **argv)                                       \
	{                                                                     \
		return (tasq_test_main(argc, argv));                          \
	}

#endif
