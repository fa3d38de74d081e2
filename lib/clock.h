// clock: the two clocks of tasq, and which one to use.
//
// tasq_clock_mono_ms is for every duration, deadline, timeout and age:
// lease expiry, --job-ttl, idle workers, back-off. It never jumps when
// the system clock is set, and it has an arbitrary origin, so a value of
// it means nothing outside this process: it is never sent, signed,
// shown or written to the journal.
//
// tasq_clock_wall_ms is the Unix time, for a timestamp that is shown.
// tasq_clock_stamp_ms is the Unix time that never goes backwards, for
// stamping a message and checking a peer's stamp (replay protection,
// docs/PROTOCOL.md section 5). Nothing waits on either.
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
// Every function here is thread-safe and cannot fail.
#ifndef TASQ_CLOCK_H
#define TASQ_CLOCK_H

#include <stdint.h>

// tasq_clock_mono_ms returns CLOCK_MONOTONIC in milliseconds.
uint64_t tasq_clock_mono_ms(void);

// tasq_clock_wall_ms returns the Unix time (CLOCK_REALTIME) in
// milliseconds, plus the test offset described above.
uint64_t tasq_clock_wall_ms(void);

// tasq_clock_stamp_ms returns tasq_clock_wall_ms, except that it never
// returns less than it returned before plus the monotonic time elapsed
// since: a step of the system clock forwards is followed at once, but
// after a step backwards the stamp clock carries on at the monotonic
// clock's rate from where it was, ahead of the system clock by the step,
// for the rest of the process's life (a server whose clock went back
// must not accept stamps it has already seen go by, nor refuse every
// peer as "older than this server's start"). The first such step, and
// each one that adds more than a second to the lead, is logged.
uint64_t tasq_clock_stamp_ms(void);

#endif
