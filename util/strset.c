/*
 * strset.c - see strset.h.  Each string lives in one allocation with its
 * value (struct strset_ent), stored in the map under the string's hash;
 * strings that share a hash are told apart by strcmp (match()).
 */
#include "util/strset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct strset_ent {
	int64_t val;
	char s[];
};

static uint64_t hash(const char *s)
{
	return hmap_hash_bytes(s, strlen(s));
}

static bool match(const void *val, const void *key)
{
	const struct strset_ent *e = val;

	return strcmp(e->s, key) == 0;
}

void strset_init(struct strset *m)
{
	hmap_init(&m->h);
}

static void free_all(struct strset *m)
{
	void *e;

	for (size_t pos = 0; hmap_next(&m->h, &pos, NULL, &e);)
		free(e);
}

void strset_clear(struct strset *m)
{
	free_all(m);
	hmap_clear(&m->h);
}

void strset_release(struct strset *m)
{
	free_all(m);
	hmap_release(&m->h);
}

int strset_reserve(struct strset *m, size_t n)
{
	return hmap_reserve(&m->h, n);
}

int strset_put(struct strset *m, const char *s, int64_t val)
{
	uint64_t h = hash(s);
	struct strset_ent *e = hmap_get(&m->h, h, match, s);
	size_t len;
	int rc;

	if (e) {
		e->val = val;
		return 0;
	}
	len = strlen(s);
	e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return -ENOMEM;
	e->val = val;
	memcpy(e->s, s, len + 1);
	rc = hmap_put(&m->h, h, match, s, e, NULL);
	if (rc)
		free(e);
	return rc;
}

bool strset_get(const struct strset *m, const char *s, int64_t *val)
{
	const struct strset_ent *e = hmap_get(&m->h, hash(s), match, s);

	if (!e)
		return false;
	if (val)
		*val = e->val;
	return true;
}

bool strset_del(struct strset *m, const char *s)
{
	struct strset_ent *e = hmap_del(&m->h, hash(s), match, s);

	if (!e)
		return false;
	free(e);
	return true;
}

const char *strset_next(const struct strset *m, size_t *pos, int64_t *val)
{
	void *v;
	struct strset_ent *e;

	if (!hmap_next(&m->h, pos, NULL, &v))
		return NULL;
	e = v;
	if (val)
		*val = e->val;
	return e->s;
}

int strset_collect(void *arg, const char *name)
{
	return strset_put(arg, name, 0);
}
