/*
 * strset.c - see strset.h.  Invariant (as in u64map.c): every string sits
 * in the probe run that starts at its home slot, with no empty slot
 * between the home slot and the string; backward-shift deletion keeps it.
 */
#include "util/strset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	return h ^ (h >> 29);
}

static size_t home(const char *s, size_t cap)
{
	return (size_t)hash(s) & (cap - 1);
}

void strset_init(struct strset *m)
{
	m->keys = NULL;
	m->vals = NULL;
	m->cap = m->count = 0;
}

void strset_clear(struct strset *m)
{
	for (size_t i = 0; i < m->cap; i++) {
		free(m->keys[i]);
		m->keys[i] = NULL;
	}
	m->count = 0;
}

void strset_release(struct strset *m)
{
	strset_clear(m);
	free(m->keys);
	free(m->vals);
	strset_init(m);
}

static int rehash(struct strset *m, size_t cap)
{
	char **keys = calloc(cap, sizeof(*keys));
	int64_t *vals = calloc(cap, sizeof(*vals));

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

int strset_reserve(struct strset *m, size_t n)
{
	size_t cap = m->cap ? m->cap : 16;

	while (n * 10 >= cap * 7)
		cap *= 2;
	return cap == m->cap ? 0 : rehash(m, cap);
}

/* The slot of s, or of the empty slot that ends its run. */
static size_t find(const struct strset *m, const char *s)
{
	size_t i = home(s, m->cap);

	while (m->keys[i] && strcmp(m->keys[i], s))
		i = (i + 1) & (m->cap - 1);
	return i;
}

int strset_put(struct strset *m, const char *s, int64_t val)
{
	size_t i;
	char *copy;
	int rc;

	rc = strset_reserve(m, m->count + 1);
	if (rc)
		return rc;
	i = find(m, s);
	if (!m->keys[i]) {
		copy = strdup(s);
		if (!copy)
			return -ENOMEM;
		m->keys[i] = copy;
		m->count++;
	}
	m->vals[i] = val;
	return 0;
}

bool strset_get(const struct strset *m, const char *s, int64_t *val)
{
	size_t i;

	if (!m->cap)
		return false;
	i = find(m, s);
	if (!m->keys[i])
		return false;
	if (val)
		*val = m->vals[i];
	return true;
}

bool strset_del(struct strset *m, const char *s)
{
	size_t i, j, mask = m->cap - 1;

	if (!m->cap)
		return false;
	i = find(m, s);
	if (!m->keys[i])
		return false;
	free(m->keys[i]);
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
	m->keys[i] = NULL;
	m->vals[i] = 0;
	m->count--;
	return true;
}

const char *strset_next(const struct strset *m, size_t *pos, int64_t *val)
{
	for (; *pos < m->cap; (*pos)++) {
		if (m->keys[*pos]) {
			if (val)
				*val = m->vals[*pos];
			return m->keys[(*pos)++];
		}
	}
	return NULL;
}

int strset_collect(void *arg, const char *name)
{
	return strset_put(arg, name, 0);
}
