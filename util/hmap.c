/*
 * hmap.c - see hmap.h.
 *
 * Invariants:
 *   1. Every entry sits in the probe run that starts at its home slot
 *      (home(hash)), with no empty slot between the home slot and the
 *      entry; backward-shift deletion keeps it.
 *   2. count is the number of non-zero hashes; count * 10 < cap * 7 after
 *      every put (growth at 70% load), so a run always ends.
 */
#include "util/hmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/debug.h"
#include "util/grow.h"

static size_t home(uint64_t h, size_t cap)
{
	return (size_t)((h * 0x9E3779B97F4A7C15ull) >> 17) & (cap - 1);
}

void hmap_init(struct hmap *m)
{
	m->hashes = NULL;
	m->vals = NULL;
	m->cap = m->count = 0;
}

void hmap_release(struct hmap *m)
{
	free(m->hashes);
	free(m->vals);
	hmap_init(m);
}

void hmap_clear(struct hmap *m)
{
	if (m->cap) {
		memset(m->hashes, 0, m->cap * sizeof(*m->hashes));
		memset(m->vals, 0, m->cap * sizeof(*m->vals));
	}
	m->count = 0;
}

static int rehash(struct hmap *m, size_t cap)
{
	uint64_t *hashes = calloc(cap, sizeof(*hashes));
	void **vals = calloc(cap, sizeof(*vals));

	if (!hashes || !vals) {
		free(hashes);
		free(vals);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->cap; i++) {
		size_t j;

		if (!m->hashes[i])
			continue;
		j = home(m->hashes[i], cap);
		while (hashes[j])
			j = (j + 1) & (cap - 1);
		hashes[j] = m->hashes[i];
		vals[j] = m->vals[i];
	}
	free(m->hashes);
	free(m->vals);
	m->hashes = hashes;
	m->vals = vals;
	m->cap = cap;
	return 0;
}

int hmap_reserve(struct hmap *m, size_t n)
{
	size_t cap;

	/* Room for n at under 70% load: n * 10 < cap * 7. */
	if (n > SIZE_MAX / 10)
		return -ENOMEM;
	cap = grow_cap(m->cap, n * 10 / 7 + 1, 16, sizeof(void *));
	if (!cap)
		return -ENOMEM;
	return cap == m->cap ? 0 : rehash(m, cap);
}

/* The slot of the entry looked for, or the empty slot that ends its
 * run.  m->cap is not 0. */
static size_t find(const struct hmap *m, uint64_t h, hmap_match_fn *match,
		   const void *key)
{
	size_t i = home(h, m->cap);

	while (m->hashes[i] &&
	       (m->hashes[i] != h || (match && !match(m->vals[i], key))))
		i = (i + 1) & (m->cap - 1);
	return i;
}

void *hmap_get(const struct hmap *m, uint64_t h, hmap_match_fn *match,
	       const void *key)
{
	size_t i;

	if (!m->cap)
		return NULL;
	i = find(m, h, match, key);
	return m->hashes[i] ? m->vals[i] : NULL;
}

int hmap_put(struct hmap *m, uint64_t h, hmap_match_fn *match, const void *key,
	     void *val, void **old)
{
	size_t i;
	int rc;

	debug_assert(h != 0);
	rc = hmap_reserve(m, m->count + 1);
	if (rc)
		return rc;
	i = find(m, h, match, key);
	if (old)
		*old = m->hashes[i] ? m->vals[i] : NULL;
	if (!m->hashes[i]) {
		m->hashes[i] = h;
		m->count++;
	}
	m->vals[i] = val;
	return 0;
}

void *hmap_del(struct hmap *m, uint64_t h, hmap_match_fn *match,
	       const void *key)
{
	size_t i, j, mask = m->cap - 1;
	void *val;

	if (!m->cap)
		return NULL;
	i = find(m, h, match, key);
	if (!m->hashes[i])
		return NULL;
	val = m->vals[i];
	/* Backward shift: pull later members of the run into the hole when
	 * the hole lies on their probe path. */
	j = i;
	for (;;) {
		size_t hj;

		j = (j + 1) & mask;
		if (!m->hashes[j])
			break;
		hj = home(m->hashes[j], m->cap);
		if (((j - hj) & mask) >= ((j - i) & mask)) {
			m->hashes[i] = m->hashes[j];
			m->vals[i] = m->vals[j];
			i = j;
		}
	}
	m->hashes[i] = 0;
	m->vals[i] = NULL;
	m->count--;
	return val;
}

bool hmap_next(const struct hmap *m, size_t *pos, uint64_t *h, void **val)
{
	for (; *pos < m->cap; (*pos)++) {
		if (m->hashes[*pos]) {
			if (h)
				*h = m->hashes[*pos];
			if (val)
				*val = m->vals[*pos];
			(*pos)++;
			return true;
		}
	}
	return false;
}

uint64_t hmap_hash_bytes(const void *p, size_t len)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 29;
	return h ? h : 1;
}
