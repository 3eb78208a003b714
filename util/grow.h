/*
 * grow.h - the growth rule of every growable array: double the capacity
 * (from a minimum) until it holds what is needed, refusing sizes whose
 * byte count would overflow.  Amortized O(1) per appended element.
 */
#ifndef UTIL_GROW_H
#define UTIL_GROW_H

#include <stddef.h>
#include <stdint.h>

/* The capacity to grow cap to so it holds need elements: cap itself when
 * it does, else the first doubling of cap (or of min when cap is 0) that
 * does; 0 when that many elements of elem_size bytes overflow size_t. */
size_t grow_cap(size_t cap, size_t need, size_t min, size_t elem_size);
/* Make the array p of *cap elements of elem_size bytes hold need (>= 1)
 * elements: realloc by grow_cap, the contents kept.  Returns the array
 * (p, or where it moved; *cap updated), or NULL when out of memory (p and
 * *cap unchanged, p still owned by the caller). */
void *grow_array(void *p, size_t *cap, size_t need, size_t min,
		 size_t elem_size);

/* grow_array for an array counted in uint32_t (the store's index): the
 * doubling stops at UINT32_MAX elements. */
void *grow_array32(void *p, uint32_t *cap, uint32_t need, uint32_t min,
		   size_t elem_size);

#endif
