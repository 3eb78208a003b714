/*
 * debug.h - invariant checks of a debug build.
 *
 * debug_assert(e) states an invariant of our own state (STYLE 8: never
 * input from the disk, the network or the kernel).  In a build configured
 * with --enable-debug (CARAVAN_DEBUG defined) it evaluates e and, when e
 * is false, prints the expression and where it failed and aborts.  In
 * every other build e is compiled (so the check functions it names stay
 * type-checked and count as used) but never evaluated: the checks cost
 * nothing there, whatever NDEBUG says.
 *
 * The check functions (alloc_invariants, wal_invariants, doc_invariants)
 * sit beside the invariants they check, in the files whose opening comment
 * numbers them; they take the same locks as the code around the call and
 * allocate nothing (the allocation-failure tests count every malloc).
 * scripts/test.sh runs the unit suites once in a debug build.
 */
#ifndef UTIL_DEBUG_H
#define UTIL_DEBUG_H

#ifdef CARAVAN_DEBUG
#include <stdio.h>
#include <stdlib.h>

static inline void debug_assert_fail(const char *expr, const char *file,
				     int line, const char *func)
{
	fprintf(stderr, "%s:%d: %s: invariant violated: %s\n", file, line, func,
		expr);
	abort();
}

#define debug_assert(e)                                                        \
	((e) ? (void)0 : debug_assert_fail(#e, __FILE__, __LINE__, __func__))
#else
#define debug_assert(e) ((void)(0 && (e)))
#endif

#endif
