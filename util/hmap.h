/*
 * hmap.h - the hash map every module uses: open addressing over non-zero
 * 64-bit hashes, each slot holding one pointer value.  Linear probing,
 * deletion by backward shift (no tombstones), grows at 70% load, so get,
 * put and del take constant time on average whatever the count.
 *
 * The caller hashes its key (hmap_hash_bytes for bytes; the map mixes
 * the hash again to pick a slot).  Two entries may share a hash: a lookup passes a
 * match function that tells whether a value is the one looked for.  A key
 * that is its own hash (a document id) passes NULL: the hash alone
 * decides.  Typed maps sit on top: util/u64map.h (id -> pointer) and
 * util/strset.h (owned strings).
 *
 * Values are borrowed: the map never frees them.  Iteration order is the
 * slot order: arbitrary, stable only while the map is not changed.  Not
 * thread-safe; the owner locks.
 */
#ifndef UTIL_HMAP_H
#define UTIL_HMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hmap {
	uint64_t *hashes; /* 0: the slot is empty */
	void **vals;
	size_t cap; /* power of two, or 0 */
	size_t count;
};

#define HMAP_INIT                                                              \
	{                                                                      \
		NULL, NULL, 0, 0                                               \
	}

/* Is val the entry with the caller's key? */
typedef bool hmap_match_fn(const void *val, const void *key);

void hmap_init(struct hmap *m);
/* Free the table (not the values); the map is empty and usable again. */
void hmap_release(struct hmap *m);
/* Empty the map, keeping its table for reuse. */
void hmap_clear(struct hmap *m);
/* Make room for n entries without growing later.  0 or -ENOMEM. */
int hmap_reserve(struct hmap *m, size_t n);
/* The value of the entry with hash h that match accepts (NULL match: any
 * entry with hash h), or NULL.  h must be non-zero. */
void *hmap_get(const struct hmap *m, uint64_t h, hmap_match_fn *match,
	       const void *key);
/* Replace the value of the entry get would find, or add (h, val).  *old
 * (may be NULL) receives the replaced value, or NULL when val was added.
 * 0 or -ENOMEM (the map is unchanged then). */
int hmap_put(struct hmap *m, uint64_t h, hmap_match_fn *match, const void *key,
	     void *val, void **old);
/* Remove the entry get would find; returns its value or NULL. */
void *hmap_del(struct hmap *m, uint64_t h, hmap_match_fn *match,
	       const void *key);
/* Iterate: start with *pos = 0; each call stores the next entry's hash
 * and value (either pointer may be NULL) and returns true, or returns
 * false at the end. */
bool hmap_next(const struct hmap *m, size_t *pos, uint64_t *h, void **val);

static inline size_t hmap_count(const struct hmap *m)
{
	return m->count;
}

/* A non-zero hash of len bytes (FNV-1a, mixed). */
uint64_t hmap_hash_bytes(const void *p, size_t len);

#endif
