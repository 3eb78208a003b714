/*
 * pmap.c - see pmap.h.
 *
 * Invariants:
 *   1. Every value sits in the probe run that starts at its home slot
 *      (home(hash(value))), with no empty slot between the home slot and
 *      the value; backward-shift deletion keeps it.
 *   2. A non-empty slot is the value's address with tag(hash(value)) in
 *      its low 4 bits; a slot is 0 only when empty.
 *   3. count is the number of non-empty slots; count * 10 < cap * 7 after
 *      every put (growth at 70% load), so a run always ends.
 */
#include "util/pmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/debug.h"
#include "util/grow.h"

#define TAG_MASK ((uintptr_t)15)

static uint64_t mix(uint64_t h)
{
	return h * 0x9E3779B97F4A7C15ull;
}

static size_t home(uint64_t h, size_t cap)
{
	return (size_t)(mix(h) >> 17) & (cap - 1);
}

static uintptr_t tag(uint64_t h)
{
	return (uintptr_t)(mix(h) >> 8) & TAG_MASK;
}

static void *slot_val(uintptr_t slot)
{
	return (void *)(slot & ~TAG_MASK);
}

void pmap_init(struct pmap *m, pmap_hash_fn *hash)
{
	m->slots = NULL;
	m->cap = m->count = 0;
	m->hash = hash;
}

void pmap_release(struct pmap *m)
{
	free(m->slots);
	pmap_init(m, m->hash);
}

static int rehash(struct pmap *m, size_t cap)
{
	uintptr_t *slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++) {
		size_t j;

		if (!m->slots[i])
			continue;
		j = home(m->hash(slot_val(m->slots[i])), cap);
		while (slots[j])
			j = (j + 1) & (cap - 1);
		slots[j] = m->slots[i];
	}
	free(m->slots);
	m->slots = slots;
	m->cap = cap;
	return 0;
}

int pmap_reserve(struct pmap *m, size_t n)
{
	size_t cap;

	/* Room for n at under 70% load: n * 10 < cap * 7. */
	if (n > SIZE_MAX / 10)
		return -ENOMEM;
	cap = grow_cap(m->cap, n * 10 / 7 + 1, 16, sizeof(*m->slots));
	if (!cap)
		return -ENOMEM;
	return cap == m->cap ? 0 : rehash(m, cap);
}

/* The slot of the value looked for, or the empty slot that ends its run.
 * m->cap is not 0. */
static size_t find(const struct pmap *m, uint64_t h, hmap_match_fn *match,
		   const void *key)
{
	size_t i = home(h, m->cap);
	uintptr_t t = tag(h);

	while (m->slots[i] && ((m->slots[i] & TAG_MASK) != t ||
			       !match(slot_val(m->slots[i]), key)))
		i = (i + 1) & (m->cap - 1);
	return i;
}

void *pmap_get(const struct pmap *m, uint64_t h, hmap_match_fn *match,
	       const void *key)
{
	size_t i;

	if (!m->cap)
		return NULL;
	i = find(m, h, match, key);
	return m->slots[i] ? slot_val(m->slots[i]) : NULL;
}

int pmap_put(struct pmap *m, uint64_t h, hmap_match_fn *match, const void *key,
	     void *val, void **old)
{
	size_t i;
	int rc;

	debug_assert(val && ((uintptr_t)val & TAG_MASK) == 0);
	debug_assert(m->hash(val) == h);
	rc = pmap_reserve(m, m->count + 1);
	if (rc)
		return rc;
	i = find(m, h, match, key);
	if (old)
		*old = m->slots[i] ? slot_val(m->slots[i]) : NULL;
	if (!m->slots[i])
		m->count++;
	m->slots[i] = (uintptr_t)val | tag(h);
	return 0;
}

void *pmap_del(struct pmap *m, uint64_t h, hmap_match_fn *match,
	       const void *key)
{
	size_t i, j, mask = m->cap - 1;
	void *val;

	if (!m->cap)
		return NULL;
	i = find(m, h, match, key);
	if (!m->slots[i])
		return NULL;
	val = slot_val(m->slots[i]);
	/* Backward shift: pull later members of the run into the hole when
	 * the hole lies on their probe path. */
	j = i;
	for (;;) {
		size_t hj;

		j = (j + 1) & mask;
		if (!m->slots[j])
			break;
		hj = home(m->hash(slot_val(m->slots[j])), m->cap);
		if (((j - hj) & mask) >= ((j - i) & mask)) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i] = 0;
	m->count--;
	return val;
}

bool pmap_next(const struct pmap *m, size_t *pos, void **val)
{
	for (; *pos < m->cap; (*pos)++) {
		if (m->slots[*pos]) {
			*val = slot_val(m->slots[*pos]);
			(*pos)++;
			return true;
		}
	}
	return false;
}
