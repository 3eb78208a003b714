/*
 * u64shards.h - a map from non-zero uint64_t keys to pointers, split in
 * U64SHARDS u64maps by a mix of the key: the same API as u64map.h, but a
 * growth rehashes one shard (about 1/64 of the entries) instead of the
 * whole map, so no single put pays for every entry.  Used where a map
 * grows to millions of entries under a lock that changes wait for (the
 * states snapshots keep: store/snapshot.c).
 *
 * Iteration positions encode the shard in their top bits; like a
 * u64map's they hold only while the map is not changed.  u64shards_shape
 * changes whenever any shard's table is replaced (it is the sum of their
 * sizes, which only grow): a caller iterating in steps with changes
 * between them starts over when it moved.  Values are borrowed; not
 * thread-safe.
 */
#ifndef UTIL_U64SHARDS_H
#define UTIL_U64SHARDS_H

#include "util/u64map.h"

#define U64SHARDS 64
#define U64SHARDS_POS_BITS 56 /* positions inside a shard stay below */

struct u64shards {
	struct u64map m[U64SHARDS];
};

static inline struct u64map *u64shards_of(const struct u64shards *s,
					  uint64_t key)
{
	/* Fibonacci hashing: the top 6 bits of key * 2^64 / phi */
	return (struct u64map *)&s->m[(key * 0x9E3779B97F4A7C15ull) >> 58];
}

static inline void u64shards_init(struct u64shards *s)
{
	for (int i = 0; i < U64SHARDS; i++)
		u64map_init(&s->m[i]);
}

static inline void u64shards_release(struct u64shards *s)
{
	for (int i = 0; i < U64SHARDS; i++)
		u64map_release(&s->m[i]);
}

static inline int u64shards_put(struct u64shards *s, uint64_t key, void *val)
{
	return u64map_put(u64shards_of(s, key), key, val);
}

static inline void *u64shards_get(const struct u64shards *s, uint64_t key)
{
	return u64map_get(u64shards_of(s, key), key);
}

static inline void *u64shards_del(struct u64shards *s, uint64_t key)
{
	return u64map_del(u64shards_of(s, key), key);
}

static inline size_t u64shards_count(const struct u64shards *s)
{
	size_t n = 0;

	for (int i = 0; i < U64SHARDS; i++)
		n += u64map_count(&s->m[i]);
	return n;
}

static inline size_t u64shards_shape(const struct u64shards *s)
{
	size_t n = 0;

	for (int i = 0; i < U64SHARDS; i++)
		n += s->m[i].h.cap;
	return n;
}

/* Iterate: start with *pos = 0; each call stores the next key and value
 * (either pointer may be NULL) and returns true, or false at the end. */
static inline bool u64shards_next(const struct u64shards *s, size_t *pos,
				  uint64_t *key, void **val)
{
	size_t shard = *pos >> U64SHARDS_POS_BITS;
	size_t in = *pos & (((size_t)1 << U64SHARDS_POS_BITS) - 1);

	for (; shard < U64SHARDS; shard++, in = 0) {
		if (u64map_next(&s->m[shard], &in, key, val)) {
			*pos = shard << U64SHARDS_POS_BITS | in;
			return true;
		}
	}
	*pos = (size_t)U64SHARDS << U64SHARDS_POS_BITS;
	return false;
}

#endif
