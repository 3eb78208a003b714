/*
 * u64map.h - a map from non-zero uint64_t keys (ids) to pointers: the
 * hash map of util/hmap.h with the key as its own hash.  Values are
 * borrowed: the map never frees them.  Not thread-safe; the owner locks.
 */
#ifndef UTIL_U64MAP_H
#define UTIL_U64MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/hmap.h"

struct u64map {
	struct hmap h;
};

static inline void u64map_init(struct u64map *m)
{
	hmap_init(&m->h);
}

static inline void u64map_release(struct u64map *m)
{
	hmap_release(&m->h);
}

/* Insert or replace.  key must be non-zero.  Returns 0 or -ENOMEM. */
static inline int u64map_put(struct u64map *m, uint64_t key, void *val)
{
	return hmap_put(&m->h, key, NULL, NULL, val, NULL);
}

/* The value for key, or NULL. */
static inline void *u64map_get(const struct u64map *m, uint64_t key)
{
	return hmap_get(&m->h, key, NULL, NULL);
}

/* Remove key; returns its value or NULL. */
static inline void *u64map_del(struct u64map *m, uint64_t key)
{
	return hmap_del(&m->h, key, NULL, NULL);
}

/* Make room for n entries without growing later.  0 or -ENOMEM. */
static inline int u64map_reserve(struct u64map *m, size_t n)
{
	return hmap_reserve(&m->h, n);
}

static inline size_t u64map_count(const struct u64map *m)
{
	return hmap_count(&m->h);
}

/* Iterate: start with *pos = 0; each call stores the next key and value
 * (either pointer may be NULL) and returns true, or false at the end.
 * Order is arbitrary; no change to the map in between. */
static inline bool u64map_next(const struct u64map *m, size_t *pos,
			       uint64_t *key, void **val)
{
	return hmap_next(&m->h, pos, key, val);
}

#endif
