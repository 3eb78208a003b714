/*
 * alloc.c - the json module's allocation seam.
 *
 * Design
 *
 * jansson reports an allocation failure during a parse the same way as a
 * syntax error (a NULL result, sometimes with the message of whatever check
 * ran next), so json_value_parse() cannot tell -ENOMEM from -EINVAL by
 * looking at the result.  Instead every allocation of the module goes
 * through json_malloc()/json_realloc(), which record a failure in a
 * thread-local flag, and the module installs json_malloc/json_free as
 * jansson's allocator before main() runs (a constructor: no thread can be
 * inside jansson yet, so the switch is race-free, and no program linking
 * the module can forget it).  Callers check the flag around a call.
 *
 * Where the bytes come from is a seam, like util/io.h: json_malloc and
 * json_realloc take them from the installed struct json_alloc_ops, the C
 * library's unless a test installed others.  The tests' fault countdown
 * (fail the Nth allocation of a thread: the jansson "torture" discipline)
 * lives in tests/json_fault.c and is installed explicitly by the tests
 * that use it; this file holds no test machinery.
 *
 * Invariants
 *   1. json_free() releases anything json_malloc()/json_realloc() or the
 *      C library's malloc() returned (the wrappers add no header, and an
 *      installed source must hand out C library memory), so a value
 *      allocated by jansson before the constructor ran, or by a program
 *      that replaces the functions later, is still freed correctly.
 *   2. The failure flag is per thread: one thread's failure never shows in
 *      another thread's parse.
 */
#include "json/json_internal.h"

#include <jansson.h>
#include <stdlib.h>

static const struct json_alloc_ops libc_ops = {
	.malloc = malloc,
	.realloc = realloc,
};

static const struct json_alloc_ops *ops = &libc_ops;
static _Thread_local bool alloc_failed;

void json_alloc_set_ops(const struct json_alloc_ops *o)
{
	ops = o ? o : &libc_ops;
}

void *json_malloc(size_t size)
{
	void *p = ops->malloc(size ? size : 1);

	if (!p)
		alloc_failed = true;
	return p;
}

void *json_realloc(void *p, size_t size)
{
	void *q = ops->realloc(p, size ? size : 1);

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

__attribute__((constructor)) static void json_alloc_install(void)
{
	json_set_alloc_funcs(json_malloc, json_free);
}
