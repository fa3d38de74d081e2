#define _GNU_SOURCE // sigaltstack, SA_ONSTACK

#include "crash.h"

#include "log.h"

#include <execinfo.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TASQ_CRASH_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TASQ_CRASH_SANITIZED 1
#endif
#endif

#ifndef TASQ_CRASH_SANITIZED
#define CRASH_FRAMES 64

static const int crash_sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };

// What follows uses only async-signal-safe calls: a line is built in a
// buffer of the handler's own and written with one write(2).
struct line {
	char   buf[256];
	size_t n;
};

static void
put_str(struct line *l, const char *s)
{
	while (*s != '\0' && l->n < sizeof(l->buf) - 1) {
		l->buf[l->n++] = *s++;
	}
}

static void
put_num(struct line *l, uint64_t v, unsigned base)
{
	char     tmp[24];
	unsigned i = 0;

	do {
		tmp[i++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v != 0 && i < sizeof(tmp));
	if (base == 16) {
		put_str(l, "0x");
	}
	while (i > 0 && l->n < sizeof(l->buf) - 1) {
		l->buf[l->n++] = tmp[--i];
	}
}

static void
put_line(struct line *l)
{
	l->buf[l->n++] = '\n';
	(void) !write(STDERR_FILENO, l->buf, l->n);
	l->n = 0;
}

static const char *
sig_name(int sig)
{
	switch (sig) {
	case SIGSEGV:
		return ("SIGSEGV");
	case SIGBUS:
		return ("SIGBUS");
	case SIGILL:
		return ("SIGILL");
	case SIGFPE:
		return ("SIGFPE");
	case SIGABRT:
		return ("SIGABRT");
	default:
		return ("?");
	}
}

// The report's first words, as the log's lines begin ("tasq-server[12]").
static void
put_who(struct line *l)
{
	put_str(l, tasq_log_prog());
	put_str(l, "[");
	put_num(l, (uint64_t) getpid(), 10);
	put_str(l, "] crash: ");
}

static void
crash_handler(int sig, siginfo_t *si, void *uc)
{
	void       *frames[CRASH_FRAMES];
	struct line l = { .n = 0 };
	int         n;

	(void) uc;
	put_who(&l);
	put_str(&l, "signal ");
	put_num(&l, (uint64_t) sig, 10);
	put_str(&l, " (");
	put_str(&l, sig_name(sig));
	put_str(&l, "), address ");
	put_num(
	    &l, (uint64_t) (uintptr_t) (si != NULL ? si->si_addr : NULL), 16);
	put_str(&l, ", thread ");
	put_num(&l, (uint64_t) gettid(), 10);
	put_str(&l, "; its stack (addr2line -f -e BINARY OFFSET):");
	put_line(&l);
	n = backtrace(frames, CRASH_FRAMES);
	backtrace_symbols_fd(frames, n, STDERR_FILENO);
	put_who(&l);
	put_str(&l, "end of the report");
	put_line(&l);
	// SA_RESETHAND put the default action back; the signal, raised
	// again (blocked in here, it comes when the handler returns), ends
	// the process as it would have without the report: also one that
	// was sent (kill -SEGV), which no faulting instruction repeats.
	(void) raise(sig);
}
#endif // TASQ_CRASH_SANITIZED

void
tasq_crash_init(void)
{
#ifndef TASQ_CRASH_SANITIZED
	static char      altstack[64 * 1024];
	struct sigaction sa;
	stack_t          ss;
	void            *warm[1];
	const char      *env = getenv("TASQ_CRASH_REPORT");

	if (env != NULL && strcmp(env, "0") == 0) {
		return;
	}
	// backtrace loads libgcc on its first call, which allocates: done
	// here, not in the handler.
	(void) backtrace(warm, 1);
	ss.ss_sp    = altstack;
	ss.ss_size  = sizeof(altstack);
	ss.ss_flags = 0;
	(void) sigaltstack(&ss, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = crash_handler;
	sa.sa_flags     = SA_SIGINFO | SA_RESETHAND | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(crash_sigs) / sizeof(crash_sigs[0]);
	     i++) {
		(void) sigaction(crash_sigs[i], &sa, NULL);
	}
#endif
}
