/*
 * tombs.c - the tombstones: the cloud names of documents deleted or
 * renamed away here whose cloud copies are not yet deleted (the uploader
 * lists them, deletes each copy, then clears the tombstone: store/backup.c
 * and cloud/tombstone.c).
 *
 * Structures (all in struct store, guarded by the store lock: exclusive to
 * change, shared to read):
 *   s->tombs       list of every tombstone, newest first (prev/next), the
 *                  order listings and the cut-over's snapshot walk;
 *   s->tomb_ids    util/pmap.h map of the tombstones by id;
 *   s->tomb_names  util/pmap.h map by (space, key) of the newest
 *                  tombstone of each name; older ones of the same name
 *                  (a log may hold two: a name tombstoned, taken by a
 *                  document replay has not yet seen the untomb of, and
 *                  tombstoned again) hang from it by `older`.
 * So adding, finding by name or id, and clearing take constant time on
 * average, however many tombstones wait (every delete made while the
 * target is unreachable leaves one), where a list walk made each create
 * cost as many string compares as there were tombstones.
 *
 * Invariants:
 *   1. A tombstone is in s->tombs and in s->tomb_ids exactly once, and
 *      s->ntombs counts them.
 *   2. For each name with a tombstone, s->tomb_names holds the newest one
 *      and its `older` chain holds the others of that name, newest first.
 */
#include "store/store_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint64_t tname_hash(const char *space, const char *key)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (const char *p = space; *p; p++) {
		h ^= (uint8_t)*p;
		h *= 0x100000001b3ull;
	}
	h ^= 0xff; /* no byte of a name: (a, bc) and (ab, c) differ */
	h *= 0x100000001b3ull;
	for (const char *p = key; *p; p++) {
		h ^= (uint8_t)*p;
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t tomb_id_hash(const void *val)
{
	return ((const struct tomb *)val)->id;
}

static uint64_t tomb_name_hash(const void *val)
{
	const struct tomb *t = val;

	return tname_hash(t->space, t->key);
}

static bool id_match(const void *val, const void *key)
{
	return ((const struct tomb *)val)->id == *(const uint64_t *)key;
}

struct tname {
	const char *space, *key;
};

static bool name_match(const void *val, const void *key)
{
	const struct tomb *t = val;
	const struct tname *k = key;

	return strcmp(t->space, k->space) == 0 && strcmp(t->key, k->key) == 0;
}

void tombs_init(struct store *s)
{
	s->tombs = NULL;
	s->ntombs = 0;
	pmap_init(&s->tomb_ids, tomb_id_hash);
	pmap_init(&s->tomb_names, tomb_name_hash);
}

void tombs_release(struct store *s)
{
	while (s->tombs) {
		struct tomb *t = s->tombs;

		s->tombs = t->next;
		free(t);
	}
	s->ntombs = 0;
	pmap_release(&s->tomb_ids);
	pmap_release(&s->tomb_names);
}

struct tomb *tomb_find(struct store *s, const char *space, const char *key)
{
	struct tname k = { space, key };

	return pmap_get(&s->tomb_names, tname_hash(space, key), name_match, &k);
}

struct tomb *tomb_by_id(struct store *s, uint64_t id)
{
	return pmap_get(&s->tomb_ids, id, id_match, &id);
}

int tomb_add(struct store *s, uint64_t id, const char *space, size_t space_len,
	     const char *key, size_t key_len)
{
	struct tomb *t = malloc(sizeof(*t) + space_len + 1 + key_len + 1);
	struct tname k;
	void *older = NULL;

	if (!t)
		return -ENOMEM;
	t->id = id;
	t->space = t->names;
	t->key = t->names + space_len + 1;
	memcpy(t->space, space, space_len);
	t->space[space_len] = 0;
	memcpy(t->key, key, key_len);
	t->key[key_len] = 0;
	if (pmap_reserve(&s->tomb_ids, pmap_count(&s->tomb_ids) + 1) ||
	    pmap_reserve(&s->tomb_names, pmap_count(&s->tomb_names) + 1)) {
		free(t);
		return -ENOMEM;
	}
	k = (struct tname){ t->space, t->key };
	pmap_put(&s->tomb_ids, id, id_match, &id, t, NULL);
	pmap_put(&s->tomb_names, tname_hash(t->space, t->key), name_match, &k,
		 t, &older);
	t->older = older;
	t->prev = NULL;
	t->next = s->tombs;
	if (s->tombs)
		s->tombs->prev = t;
	s->tombs = t;
	s->ntombs++;
	if (id >= s->next_tomb_id)
		s->next_tomb_id = id + 1;
	return 0;
}

void tomb_del(struct store *s, uint64_t id)
{
	struct tomb *t = pmap_del(&s->tomb_ids, id, id_match, &id);
	struct tname k;
	uint64_t h;
	struct tomb *head;

	if (!t)
		return;
	k = (struct tname){ t->space, t->key };
	h = tname_hash(t->space, t->key);
	head = pmap_get(&s->tomb_names, h, name_match, &k);
	if (head == t) {
		if (t->older)
			pmap_put(&s->tomb_names, h, name_match, &k, t->older,
				 NULL); /* replaces: no allocation */
		else
			pmap_del(&s->tomb_names, h, name_match, &k);
	} else {
		for (struct tomb *o = head; o; o = o->older)
			if (o->older == t) {
				o->older = t->older;
				break;
			}
	}
	if (t->prev)
		t->prev->next = t->next;
	else
		s->tombs = t->next;
	if (t->next)
		t->next->prev = t->prev;
	s->ntombs--;
	free(t);
}
