/*
 * alloc.h - the space allocator of the data file.
 *
 * Hands out byte regions [off, off+len) of a data area of fixed capacity
 * and takes them back, merging a freed region with free neighbours at
 * once, so free space never fragments into adjacent pieces.  Sizes are
 * exact (no rounding): free bytes = capacity - sum of live lengths.
 *
 * Free regions are indexed three ways: by start offset and by end offset
 * (hash maps, for O(1) merging) and by size class floor(log2(len)) (64
 * lists).  Allocation takes the first region of the smallest class whose
 * every member fits (O(number of classes)); only when all of those are
 * empty does it search the request's own class for a fit.
 *
 * Not thread-safe: the store's write lock guards it.
 */
#ifndef STORE_ALLOC_H
#define STORE_ALLOC_H

#include <stdbool.h>
#include <stdint.h>

struct alloc;

/* A new allocator over [base, base + capacity), all free.  NULL on
 * allocation failure.  Free with alloc_free(). */
struct alloc *alloc_new(uint64_t base, uint64_t capacity);
/* A new allocator with nothing free: regions are added by alloc_release
 * (rebuilding from an index). */
struct alloc *alloc_new_empty(uint64_t base, uint64_t capacity);
void alloc_free(struct alloc *a);

/* Take len > 0 bytes.  Returns 0 and *off, -ENOSPC when no free region is
 * large enough, -ENOMEM. */
int alloc_take(struct alloc *a, uint64_t len, uint64_t *off);

/* Give back [off, off+len).  The region must be taken (not free, inside
 * the area): violating that is a bug, caught by assert.  Returns 0 or
 * -ENOMEM (the region then stays unusable until the next open). */
int alloc_release(struct alloc *a, uint64_t off, uint64_t len);

/* Extend the area to new_capacity (> current), the new bytes free.
 * Returns 0 or -ENOMEM (nothing changed). */
int alloc_grow(struct alloc *a, uint64_t new_capacity);

uint64_t alloc_free_bytes(const struct alloc *a);
uint64_t alloc_regions(const struct alloc *a);
uint64_t alloc_largest(const struct alloc *a);
/* Length of the free region ending at the end of the area (0: none):
 * what growth adds to. */
uint64_t alloc_tail_free(const struct alloc *a);

/* Check every internal invariant; false (with a message to stderr) when
 * one is broken. */
bool alloc_check(const struct alloc *a);

/* Is any byte of [off, off+len) free? */
bool alloc_overlaps_free(const struct alloc *a, uint64_t off, uint64_t len);

#endif
