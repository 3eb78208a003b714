/*
 * u64map.c - see u64map.h.  Invariant: every key sits in the probe run
 * that starts at its home slot, with no empty slot between the home slot
 * and the key; backward-shift deletion keeps it.
 */
#include "util/u64map.h"

#include <errno.h>
#include <stdlib.h>

static size_t home(uint64_t key, size_t cap)
{
	return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 17) & (cap - 1);
}

void u64map_init(struct u64map *m)
{
	m->keys = NULL;
	m->vals = NULL;
	m->cap = m->count = 0;
}

void u64map_release(struct u64map *m)
{
	free(m->keys);
	free(m->vals);
	u64map_init(m);
}

static int rehash(struct u64map *m, size_t cap)
{
	uint64_t *keys = calloc(cap, sizeof(*keys));
	void **vals = calloc(cap, sizeof(*vals));

	if (!keys || !vals) {
		free(keys);
		free(vals);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->cap; i++) {
		size_t j;

		if (!m->keys[i])
			continue;
		j = home(m->keys[i], cap);
		while (keys[j])
			j = (j + 1) & (cap - 1);
		keys[j] = m->keys[i];
		vals[j] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	m->keys = keys;
	m->vals = vals;
	m->cap = cap;
	return 0;
}

int u64map_reserve(struct u64map *m, size_t n)
{
	size_t cap = m->cap ? m->cap : 16;

	while (n * 10 >= cap * 7)
		cap *= 2;
	return cap == m->cap ? 0 : rehash(m, cap);
}

int u64map_put(struct u64map *m, uint64_t key, void *val)
{
	size_t i;
	int rc;

	rc = u64map_reserve(m, m->count + 1);
	if (rc)
		return rc;
	i = home(key, m->cap);
	while (m->keys[i] && m->keys[i] != key)
		i = (i + 1) & (m->cap - 1);
	if (!m->keys[i]) {
		m->keys[i] = key;
		m->count++;
	}
	m->vals[i] = val;
	return 0;
}

void *u64map_get(const struct u64map *m, uint64_t key)
{
	size_t i;

	if (!m->cap)
		return NULL;
	i = home(key, m->cap);
	while (m->keys[i]) {
		if (m->keys[i] == key)
			return m->vals[i];
		i = (i + 1) & (m->cap - 1);
	}
	return NULL;
}

void *u64map_del(struct u64map *m, uint64_t key)
{
	size_t i, j, mask = m->cap - 1;
	void *val;

	if (!m->cap)
		return NULL;
	i = home(key, m->cap);
	while (m->keys[i] && m->keys[i] != key)
		i = (i + 1) & mask;
	if (!m->keys[i])
		return NULL;
	val = m->vals[i];
	/* Backward shift: pull later members of the run into the hole when
	 * the hole lies on their probe path. */
	j = i;
	for (;;) {
		size_t h;

		j = (j + 1) & mask;
		if (!m->keys[j])
			break;
		h = home(m->keys[j], m->cap);
		if (((j - h) & mask) >= ((j - i) & mask)) {
			m->keys[i] = m->keys[j];
			m->vals[i] = m->vals[j];
			i = j;
		}
	}
	m->keys[i] = 0;
	m->vals[i] = NULL;
	m->count--;
	return val;
}
