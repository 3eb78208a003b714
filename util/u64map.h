/*
 * u64map.h - an open-addressing hash map from non-zero uint64_t keys to
 * pointers.  Linear probing, deletion by backward shift (no tombstones),
 * grows at 70% load.  Values are borrowed: the map never frees them.
 * Not thread-safe; the owner locks.
 */
#ifndef UTIL_U64MAP_H
#define UTIL_U64MAP_H

#include <stddef.h>
#include <stdint.h>

struct u64map {
	uint64_t *keys;
	void **vals;
	size_t cap; /* power of two, or 0 */
	size_t count;
};

void u64map_init(struct u64map *m);
void u64map_release(struct u64map *m);
/* Insert or replace.  key must be non-zero.  Returns 0 or -ENOMEM. */
int u64map_put(struct u64map *m, uint64_t key, void *val);
/* The value for key, or NULL. */
void *u64map_get(const struct u64map *m, uint64_t key);
/* Remove key; returns its value or NULL. */
void *u64map_del(struct u64map *m, uint64_t key);
/* Make room for n entries without growing later.  0 or -ENOMEM. */
int u64map_reserve(struct u64map *m, size_t n);

#endif
