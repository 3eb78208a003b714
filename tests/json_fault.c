/*
 * json_fault.c - see json_fault.h.
 */
#include "tests/json_fault.h"

#include "json/json_internal.h"

#include <stdlib.h>

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

static void *fault_malloc(size_t size)
{
	return fault_hits() ? NULL : malloc(size);
}

static void *fault_realloc(void *p, size_t size)
{
	return fault_hits() ? NULL : realloc(p, size);
}

static const struct json_alloc_ops fault_ops = {
	.malloc = fault_malloc,
	.realloc = fault_realloc,
};

void json_alloc_fault_install(void)
{
	json_alloc_set_ops(&fault_ops);
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
