/*
 * alloc.c - the json module's allocation seam.
 *
 * Design
 *
 * jansson reports an allocation failure during a parse the same way as a
 * syntax error (a NULL result, sometimes with the message of whatever check
 * ran next), so json_value_parse() cannot tell -ENOMEM from -EINVAL by
 * looking at the result.  Instead every allocation of the module goes
 * through json_malloc(), which records a failure in a thread-local flag,
 * and the module installs json_malloc/json_free as jansson's allocator
 * before main() runs (a constructor: no thread can be inside jansson yet,
 * so the switch is race-free).  Callers check the flag around a call.
 *
 * The same seam lets tests fail the Nth allocation of their own thread
 * (json_alloc_fault_arm) and check that every failure path returns
 * -ENOMEM, leaks nothing and leaves values valid: the jansson "torture"
 * discipline.
 *
 * Invariants
 *   1. json_free() releases anything json_malloc()/json_realloc() or the
 *      C library's malloc() returned (the wrappers add no header), so a
 *      value allocated by jansson before the constructor ran, or by a
 *      program that replaces the functions later, is still freed correctly.
 *   2. The fault counter and the failure flag are per thread: a test that
 *      arms a fault never disturbs another thread.
 */
#include "json/json_internal.h"

#include <jansson.h>
#include <stdlib.h>

static _Thread_local bool alloc_failed;
static _Thread_local unsigned long fault_countdown; /* 0: disarmed */
static _Thread_local bool fault_sticky;
static _Thread_local bool fault_fired;

/* True when this allocation must fail because a test armed a fault. */
static bool fault_hits(void)
{
	if (fault_countdown == 0)
		return false;
	if (fault_countdown > 1) {
		fault_countdown--;
		return false;
	}
	if (!fault_sticky)
		fault_countdown = 0;
	fault_fired = true;
	return true;
}

void *json_malloc(size_t size)
{
	void *p = fault_hits() ? NULL : malloc(size ? size : 1);

	if (!p)
		alloc_failed = true;
	return p;
}

void *json_realloc(void *p, size_t size)
{
	void *q = fault_hits() ? NULL : realloc(p, size ? size : 1);

	if (!q)
		alloc_failed = true;
	return q;
}

void json_free(void *p)
{
	free(p);
}

void json_alloc_failed_clear(void)
{
	alloc_failed = false;
}

bool json_alloc_failed(void)
{
	return alloc_failed;
}

void json_alloc_fault_arm(unsigned long nth, bool sticky)
{
	fault_countdown = nth;
	fault_sticky = sticky;
	fault_fired = false;
}

bool json_alloc_fault_fired(void)
{
	return fault_fired;
}

__attribute__((constructor)) static void json_alloc_install(void)
{
	json_set_alloc_funcs(json_malloc, json_free);
}
