/*
 * clock.h - the narrow clock seam.
 *
 * Every reading of the time in util/, wal/, store/ and fs/ (and cloud/'s
 * S3 signing and credential expiry) goes through clock_real_ns() or
 * clock_mono_ns(), which ask the installed struct clock_ops.  The
 * default ops read the kernel's clocks; tests install others to set the
 * time (timestamps, delays, retention) and check a time-based behaviour
 * without sleeping.
 *
 * The deadline of a timed wait is not a reading of the time but a promise
 * to the kernel, which times the wait itself: clock_deadline_ns() always
 * reads the kernel's CLOCK_MONOTONIC (the clock of the engine's condition
 * variables, made by clock_cond_init()), whatever ops are installed.  So
 * a test's clock never makes a wait spin or hang.
 */
#ifndef UTIL_CLOCK_H
#define UTIL_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

enum clock_kind {
	CLOCK_KIND_REAL, /* wall time: ns since the epoch (CLOCK_REALTIME) */
	CLOCK_KIND_MONO /* ns since an arbitrary start (CLOCK_MONOTONIC) */
};

struct clock_ops {
	int64_t (*now_ns)(enum clock_kind kind);
};

/* The kernel's clocks.  Borrowed, static. */
const struct clock_ops *clock_real_ops(void);

/* Install ops for every later reading; NULL restores clock_real_ops().
 * The pointer is borrowed and must stay valid while installed.  Readers
 * on other threads see it once they read the time after the call. */
void clock_set_ops(const struct clock_ops *ops);

/* Wall time in ns since the epoch (timestamps stored in the log). */
int64_t clock_real_ns(void);
/* Monotonic time in ns (durations, delays). */
int64_t clock_mono_ns(void);

/* *ts = the kernel's CLOCK_MONOTONIC now + after_ns (>= 0), for
 * pthread_cond_timedwait on a condition variable set to that clock. */
void clock_deadline_ns(struct timespec *ts, int64_t after_ns);
/* Initialize cv for timed waits on clock_deadline_ns() deadlines (its
 * clock set to CLOCK_MONOTONIC); destroy with pthread_cond_destroy.
 * 0 or a negative errno. */
int clock_cond_init(pthread_cond_t *cv);

#endif
