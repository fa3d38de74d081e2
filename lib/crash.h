// crash: a report on stderr when a program dies of a fault.
//
// A SIGSEGV, SIGBUS, SIGILL, SIGFPE or SIGABRT gets one report before the
// signal's default action ends the process (with a core where the system
// keeps them): which signal, the faulting address, and the stack of the
// thread that took it, one frame a line as glibc's backtrace_symbols_fd
// prints them ("/usr/bin/tasq-server(+0x2a3f1)[0x55d0c2a3f1]"). The
// offsets resolve with addr2line -f -e BINARY OFFSET (tests/harness/lib.sh,
// harness_crash_report, does it for the tests' logs). As Redis's bug
// report, so that a crash in a container or a CI run leaves more than
// "Segmentation fault".
//
// The handler uses only write(2), backtrace(3) (loaded once beforehand,
// so that it does not allocate in the handler) and backtrace_symbols_fd;
// it runs on an alternate stack for the thread that called
// tasq_crash_init, so that a stack overflow there is reported too. Not
// installed in a sanitizer build (ASan and TSan report faults better) or
// with TASQ_CRASH_REPORT=0 in the environment.
#ifndef TASQ_CRASH_H
#define TASQ_CRASH_H

// tasq_crash_init installs the handler, once, from main before threads
// start. The report names the process as its log lines do
// (tasq_log_init).
void tasq_crash_init(void);

#endif // TASQ_CRASH_H
