/*
 * strset.h - a hash set of owned C strings, each with an int64_t value (0
 * when unused): the hash map of util/hmap.h keyed by the string's hash,
 * so strset_put, strset_get and strset_del take constant time on average
 * whatever the count: a listing of n names is gathered in O(n).
 *
 * The set owns the strings it holds (strset_put copies) and frees them in
 * strset_del, strset_clear and strset_release.  Iteration order is the
 * slot order: arbitrary, stable only while the set is not changed.  Not
 * thread-safe; the owner locks.
 */
#ifndef UTIL_STRSET_H
#define UTIL_STRSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/hmap.h"

struct strset {
	struct hmap h; /* hash of the string -> struct strset_ent */
};

#define STRSET_INIT                                                            \
	{                                                                      \
		HMAP_INIT                                                      \
	}

void strset_init(struct strset *m);
/* Free every string and the table; the set is empty and usable again. */
void strset_release(struct strset *m);
/* Free every string, keeping the table for reuse. */
void strset_clear(struct strset *m);
/* Insert a copy of s with val, or replace the value of s.  0 or -ENOMEM
 * (the set is unchanged then). */
int strset_put(struct strset *m, const char *s, int64_t val);
/* Is s in the set?  *val (may be NULL) receives its value. */
bool strset_get(const struct strset *m, const char *s, int64_t *val);
/* Remove s; returns whether it was there. */
bool strset_del(struct strset *m, const char *s);
/* Make room for n strings without growing later.  0 or -ENOMEM. */
int strset_reserve(struct strset *m, size_t n);
/* Iterate: start with *pos = 0; each call returns the next string
 * (borrowed, valid until the set changes) and its value, or NULL at the
 * end. */
const char *strset_next(const struct strset *m, size_t *pos, int64_t *val);
static inline size_t strset_count(const struct strset *m)
{
	return hmap_count(&m->h);
}
/* strset_put(arg, name, 0): a listing callback (cloud_name_fn's shape). */
int strset_collect(void *arg, const char *name);

#endif
