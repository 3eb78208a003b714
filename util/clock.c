/*
 * clock.c - the kernel's clocks and the dispatch through the seam (see
 * clock.h).  As in io.c, the installed ops pointer is stored with release
 * and read with acquire semantics.
 */
#include "util/clock.h"

static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static int64_t real_now_ns(enum clock_kind kind)
{
	clockid_t id = kind == CLOCK_KIND_REAL ? CLOCK_REALTIME
					       : CLOCK_MONOTONIC;
	struct timespec ts;

	clock_gettime(id, &ts);
	return ts_ns(&ts);
}

static const struct clock_ops real_ops = { .now_ns = real_now_ns };
static const struct clock_ops *ops = &real_ops;

const struct clock_ops *clock_real_ops(void)
{
	return &real_ops;
}

void clock_set_ops(const struct clock_ops *o)
{
	__atomic_store_n(&ops, o ? o : &real_ops, __ATOMIC_RELEASE);
}

static const struct clock_ops *cur(void)
{
	return __atomic_load_n(&ops, __ATOMIC_ACQUIRE);
}

int64_t clock_real_ns(void)
{
	return cur()->now_ns(CLOCK_KIND_REAL);
}

int64_t clock_mono_ns(void)
{
	return cur()->now_ns(CLOCK_KIND_MONO);
}

void clock_deadline_ns(struct timespec *ts, int64_t after_ns)
{
	int64_t end;

	clock_gettime(CLOCK_MONOTONIC, ts);
	end = ts_ns(ts) + (after_ns > 0 ? after_ns : 0);
	ts->tv_sec = (time_t)(end / 1000000000);
	ts->tv_nsec = (long)(end % 1000000000);
}

int clock_cond_init(pthread_cond_t *cv)
{
	pthread_condattr_t ca;
	int rc;

	rc = pthread_condattr_init(&ca);
	if (rc)
		return -rc;
	rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(cv, &ca);
	pthread_condattr_destroy(&ca);
	return -rc;
}
