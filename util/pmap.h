/*
 * pmap.h - a hash set of pointers whose keys live in the pointed-to
 * values: open addressing with one pointer per slot (8 bytes), half the
 * slot of util/hmap.h, for indexes of millions of objects (the store's
 * nodes by id and by name, docs/engine.md "Memory").
 *
 * The map does not keep the hashes: the owner gives at init a function
 * that computes a value's hash (used when the table grows and when a
 * deletion shifts entries back), and every lookup passes the hash of the
 * key and a match function that tells whether a value has that key.  The
 * low 4 bits of each slot hold 4 bits of the hash (a tag), so most
 * probes that cannot match are told apart without touching the value:
 * values must therefore be 16-byte aligned (what malloc returns).
 *
 * Linear probing, deletion by backward shift (no tombstones), growth at
 * 70% load: get, put and del take constant time on average.  Values are
 * borrowed: the map never frees them.  Iteration order is the slot order:
 * arbitrary, stable only while the map is not changed.  Not thread-safe;
 * the owner locks.
 */
#ifndef UTIL_PMAP_H
#define UTIL_PMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/hmap.h"

/* The hash of value val: the one its lookups pass. */
typedef uint64_t pmap_hash_fn(const void *val);

struct pmap {
	uintptr_t *slots; /* value | tag, or 0: the slot is empty */
	size_t cap; /* power of two, or 0 */
	size_t count;
	pmap_hash_fn *hash;
};

void pmap_init(struct pmap *m, pmap_hash_fn *hash);
/* Free the table (not the values); the map is empty and usable again. */
void pmap_release(struct pmap *m);
/* Make room for n entries without growing later.  0 or -ENOMEM. */
int pmap_reserve(struct pmap *m, size_t n);
/* The value with hash h that match (never NULL) accepts, or NULL. */
void *pmap_get(const struct pmap *m, uint64_t h, hmap_match_fn *match,
	       const void *key);
/* Replace the value get would find by val, or add val (whose hash must be
 * h, val 16-byte aligned and not NULL).  *old (may be NULL) receives the
 * replaced value, or NULL when val was added.  0 or -ENOMEM (the map is
 * unchanged then). */
int pmap_put(struct pmap *m, uint64_t h, hmap_match_fn *match, const void *key,
	     void *val, void **old);
/* Remove the value get would find; returns it or NULL. */
void *pmap_del(struct pmap *m, uint64_t h, hmap_match_fn *match,
	       const void *key);
/* Iterate: start with *pos = 0; each call stores the next value and
 * returns true, or returns false at the end. */
bool pmap_next(const struct pmap *m, size_t *pos, void **val);

static inline size_t pmap_count(const struct pmap *m)
{
	return m->count;
}

/* Bytes of the table (for memory accounting). */
static inline size_t pmap_table_bytes(const struct pmap *m)
{
	return m->cap * sizeof(*m->slots);
}

#endif
