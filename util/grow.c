/*
 * grow.c - see grow.h.
 */
#include "util/grow.h"

#include <stdint.h>
#include <stdlib.h>

size_t grow_cap(size_t cap, size_t need, size_t min, size_t elem_size)
{
	size_t max = SIZE_MAX / (elem_size ? elem_size : 1);

	if (need > max)
		return 0;
	if (cap >= need)
		return cap;
	if (!cap)
		cap = min ? min : 1;
	while (cap < need)
		cap = cap > max / 2 ? need : cap * 2;
	return cap > max ? need : cap;
}

/* grow_array with the capacity capped at max elements (need <= max). */
static void *grow_upto(void *p, size_t *cap, size_t need, size_t min,
		       size_t max, size_t elem_size)
{
	size_t n = grow_cap(*cap, need, min, elem_size);
	void *grown;

	if (!n || need > max)
		return NULL;
	if (n == *cap && p)
		return p;
	if (n > max)
		n = max;
	grown = realloc(p, n * elem_size);
	if (!grown)
		return NULL;
	*cap = n;
	return grown;
}

void *grow_array(void *p, size_t *cap, size_t need, size_t min,
		 size_t elem_size)
{
	return grow_upto(p, cap, need, min, SIZE_MAX, elem_size);
}

void *grow_array32(void *p, uint32_t *cap, uint32_t need, uint32_t min,
		   size_t elem_size)
{
	size_t n = *cap;

	p = grow_upto(p, &n, need, min, UINT32_MAX, elem_size);
	if (p)
		*cap = (uint32_t)n;
	return p;
}
