// clock: the two clocks of tasq, and which one to use.
//
// tasq_clock_mono_ms is for every duration, deadline, timeout and age:
// lease expiry, --job-ttl, idle workers, back-off. It never jumps when
// the system clock is set, and it has an arbitrary origin, so a value of
// it means nothing outside this process: it is never sent, signed,
// shown or written to the journal.
//
// tasq_clock_wall_ms is the Unix time, for a timestamp that is shown,
// signed into an envelope or compared with a peer's stamp (replay
// protection, docs/PROTOCOL.md section 5). Nothing waits on it.
//
// Test hook (never set it in production): the environment variable
// TASQ_TEST_WALL_OFFSET_MS (a signed number of milliseconds) is added to
// every wall-clock reading, and TASQ_TEST_WALL_OFFSET_FILE names a file
// holding one more signed number of milliseconds, read again at most
// every 10 ms (a missing or unreadable file counts as 0), so that a test
// can step a running process's wall clock forwards or backwards. Each
// new value of the file is logged at warn level ("clock: test hook: ...")
// so that a test can see it was taken. The monotonic clock is never
// offset.
//
// Both functions are thread-safe and cannot fail.
#ifndef TASQ_CLOCK_H
#define TASQ_CLOCK_H

#include <stdint.h>

// tasq_clock_mono_ms returns CLOCK_MONOTONIC in milliseconds.
uint64_t tasq_clock_mono_ms(void);

// tasq_clock_wall_ms returns the Unix time (CLOCK_REALTIME) in
// milliseconds, plus the test offset described above.
uint64_t tasq_clock_wall_ms(void);

#endif
