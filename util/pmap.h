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

/*
 * ppool - objects of up to PPOOL_MAX_BYTES in blocks of 1 MiB, each
 * named by a 31-bit handle (never 0) that pmap32 keeps in 4 bytes: the
 * pool of the store's nodes (docs/engine.md, "Memory").  An object costs
 * its size rounded up to 8 bytes, with no header: a freed object goes to
 * the free list of its size (threaded through its first 4 bytes) and is
 * reused by the next object of that size; blocks are given back only by
 * ppool_release.  Handle h is block h >> 17, unit h & (2^17 - 1) of 8
 * bytes; 2^14 blocks at most (16 GiB of objects).  Objects are 8-byte
 * aligned.  Not thread-safe; the owner locks.  The blocks are ordinary
 * pages, not huge ones (util/huge.h says why).
 */
#define PPOOL_UNIT 8
#define PPOOL_BLOCK_SHIFT 17 /* units per block: 2^17 (1 MiB) */
#define PPOOL_MAX_BLOCKS (1u << 14)
#define PPOOL_MAX_BYTES 2048

struct ppool {
	uint8_t **blocks;
	uint32_t nblocks, cap;
	uint32_t used; /* units taken in the last block */
	uint32_t free[PPOOL_MAX_BYTES / PPOOL_UNIT + 1]; /* by units; 0 none */
	size_t bytes; /* of blocks */
};

void ppool_init(struct ppool *p);
/* Free every block (every object): the pool is empty and usable again. */
void ppool_release(struct ppool *p);
/* A zeroed object of size bytes (1 to PPOOL_MAX_BYTES): its handle in *h
 * and address in *ptr.  0 or -ENOMEM (also past 16 GiB, or a size out of
 * range). */
int ppool_alloc(struct ppool *p, size_t size, uint32_t *h, void **ptr);
/* Give object h of size bytes (as allocated) back. */
void ppool_free(struct ppool *p, uint32_t h, size_t size);

/* The granules an object of size bytes takes: objects of sizes with the
 * same count are interchangeable. */
static inline uint32_t ppool_units(size_t size)
{
	return (uint32_t)((size + PPOOL_UNIT - 1) / PPOOL_UNIT);
}

static inline void *ppool_ptr(const struct ppool *p, uint32_t h)
{
	return p->blocks[h >> PPOOL_BLOCK_SHIFT] +
	       (size_t)(h & ((1u << PPOOL_BLOCK_SHIFT) - 1)) * PPOOL_UNIT;
}

/*
 * pmap32 - pmap over the objects of a ppool: a slot is 4 bytes, the
 * object's handle shifted left by tag_bits with that many bits of the
 * hash as its tag, so most probes that cannot match are told apart
 * without touching the object (a random access into the pool).  The tag
 * takes the bits the handles leave free: 8 while the pool is small, one
 * fewer each time a handle needs one more bit (a pass over the slots,
 * no rehash), 1 at the pool's 16 GiB.  The same rules as pmap
 * otherwise; values are handed out as addresses (ppool_ptr) and put in
 * as handles.
 */
#define PMAP32_TAG_BITS_MAX 8

struct pmap32 {
	uint32_t *slots; /* handle << tag_bits | tag, or 0: empty */
	size_t cap; /* power of two, or 0 */
	size_t count;
	unsigned tag_bits; /* 1 to PMAP32_TAG_BITS_MAX; only ever falls */
	pmap_hash_fn *hash;
	const struct ppool *pool;
};

void pmap32_init(struct pmap32 *m, const struct ppool *pool,
		 pmap_hash_fn *hash);
void pmap32_release(struct pmap32 *m);
int pmap32_reserve(struct pmap32 *m, size_t n);
/* The object with hash h that match accepts, or NULL. */
void *pmap32_get(const struct pmap32 *m, uint64_t h, hmap_match_fn *match,
		 const void *key);
/* Replace the object get would find by object handle (hash h), or add
 * it; *old (may be NULL) gets the replaced handle or 0.  0 or -ENOMEM
 * (the map unchanged). */
int pmap32_put(struct pmap32 *m, uint64_t h, hmap_match_fn *match,
	       const void *key, uint32_t handle, uint32_t *old);
/* A hint that a get, put or del of hash h comes soon: its home slot is
 * fetched into the cache (lookups into a big table each miss it). */
void pmap32_prefetch(const struct pmap32 *m, uint64_t h);
/* The handle of the object get would find, or 0. */
uint32_t pmap32_handle(const struct pmap32 *m, uint64_t h, hmap_match_fn *match,
		       const void *key);
/* Remove the object get would find: its handle, or 0. */
uint32_t pmap32_del(struct pmap32 *m, uint64_t h, hmap_match_fn *match,
		    const void *key);
/* Iterate (start with *pos = 0): the next object's handle (h may be
 * NULL) and address, true; false at the end. */
bool pmap32_next(const struct pmap32 *m, size_t *pos, uint32_t *h, void **val);

static inline size_t pmap32_count(const struct pmap32 *m)
{
	return m->count;
}

static inline size_t pmap32_table_bytes(const struct pmap32 *m)
{
	return m->cap * sizeof(*m->slots);
}

#endif
