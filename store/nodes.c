/*
 * nodes.c - the in-memory index: nodes by id, nodes by (space, name), and
 * the ordered id lists that directory listings walk.
 *
 * Names are found through a 64-bit hash of (space id, name) in the hash
 * map s->names, whose values are the nodes themselves; nodes sharing a
 * hash are told apart by a match on (space id, name).  A node is one
 * object of s->node_pool (util/pmap.h: no allocation header, 8-byte
 * granules) holding its name and its first entry (struct node); both
 * maps keep its 4-byte handle (pmap32), not its address.  Listings walk a sorted
 * array of ids per space: ids only grow, so a new document is appended at
 * the end; a listing resumed "from id X" sees every name that existed
 * throughout exactly once.  A removed id is marked gone in its slot
 * (KIDS_GONE), not cut out, and the array is squeezed once gone slots
 * outnumber members: creating and removing a document cost the same in a
 * space of ten names as in one of ten million (a move into a space, of an
 * id older than its newest, still inserts in the middle).  All functions
 * need the store lock (exclusive for changes).
 */
#include "store/store_internal.h"
#include "util/grow.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static uint64_t name_hash(uint64_t space_id, const char *name, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull ^ (space_id * 0x9E3779B97F4A7C15ull);

	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)name[i];
		h *= 0x100000001b3ull;
	}
	return h | 1;
}

void meta_to_wal(const struct store_meta *m, struct wal_meta *w)
{
	w->mode = m->mode;
	w->uid = m->uid;
	w->gid = m->gid;
	w->mtime_ns = m->mtime_ns;
	w->ctime_ns = m->ctime_ns;
}

void meta_from_wal(const struct wal_meta *w, struct store_meta *m)
{
	m->mode = w->mode;
	m->uid = w->uid;
	m->gid = w->gid;
	m->mtime_ns = w->mtime_ns;
	m->ctime_ns = w->ctime_ns;
}

static uint64_t node_id_hash(const void *val)
{
	return ((const struct node *)val)->id;
}

static bool id_match(const void *val, const void *key)
{
	return ((const struct node *)val)->id == *(const uint64_t *)key;
}

static uint64_t node_name_hash(const void *val)
{
	const struct node *n = val;

	return name_hash(n->space_id, n->name, strlen(n->name));
}

void nodes_init(struct store *s)
{
	ppool_init(&s->node_pool);
	pmap32_init(&s->nodes, &s->node_pool, node_id_hash);
	pmap32_init(&s->names, &s->node_pool, node_name_hash);
}

/* What a node owns besides its pool object. */
static void node_free_parts(struct node *n)
{
	if (n->ents != &n->one)
		free(n->ents);
	if (!n->space_id)
		free(n->kids.ids);
}

void nodes_expect(struct store *s, uint64_t n)
{
	if (n > NODES_EXPECT_MAX)
		n = NODES_EXPECT_MAX;
	/* a hint: on failure the maps grow as nodes come */
	(void)pmap32_reserve(&s->nodes, (size_t)n);
	(void)pmap32_reserve(&s->names, (size_t)n);
}

void nodes_release(struct store *s)
{
	void *v;

	for (size_t pos = 0; pmap32_next(&s->nodes, &pos, NULL, &v);)
		node_free_parts(v);
	pmap32_release(&s->nodes);
	pmap32_release(&s->names);
	ppool_release(&s->node_pool);
}

struct node *node_get(struct store *s, uint64_t id)
{
	return pmap32_get(&s->nodes, id, id_match, &id);
}

bool node_next(struct store *s, size_t *pos, uint64_t *id, void **val)
{
	void *v;

	if (!pmap32_next(&s->nodes, pos, NULL, &v))
		return false;
	if (id)
		*id = ((struct node *)v)->id;
	if (val)
		*val = v;
	return true;
}

struct name_key {
	uint64_t space_id;
	const char *name;
	size_t len;
};

static bool name_match(const void *val, const void *key)
{
	const struct node *n = val;
	const struct name_key *k = key;

	/* no strlen of every candidate: strncmp stops at the node's end
	 * (a key holds no NUL), then the node's name must end there */
	return n->space_id == k->space_id &&
	       strncmp(n->name, k->name, k->len) == 0 && n->name[k->len] == 0;
}

struct node *node_by_name(struct store *s, uint64_t space_id, const char *name,
			  size_t len)
{
	struct name_key k = { space_id, name, len };

	return pmap32_get(&s->names, name_hash(space_id, name, len), name_match,
			  &k);
}

/* Link node n, of pool handle h, by its name; *old (may be NULL) gets
 * the handle of a node of that name it replaced, or 0. */
static int name_link(struct store *s, struct node *n, uint32_t h, uint32_t *old)
{
	struct name_key k = { n->space_id, n->name, strlen(n->name) };

	return pmap32_put(&s->names, name_hash(k.space_id, k.name, k.len),
			  name_match, &k, h, old);
}

static void name_unlink(struct store *s, struct node *n)
{
	struct name_key k = { n->space_id, n->name, strlen(n->name) };

	pmap32_del(&s->names, name_hash(k.space_id, k.name, k.len), name_match,
		   &k);
}

/* Bytes of a node whose name is len bytes long (at most WAL_NAME_MAX:
 * within PPOOL_MAX_BYTES). */
static size_t node_size(size_t len)
{
	size_t size = offsetof(struct node, name) + len + 1;

	return size > sizeof(struct node) ? size : sizeof(struct node);
}

_Static_assert(offsetof(struct node, name) + WAL_NAME_MAX + 1 <=
		       PPOOL_MAX_BYTES,
	       "a node with the longest name fits the pool");

int node_ents_reserve(struct node *n)
{
	struct ent *ents;
	uint32_t cap;

	if (n->nent < n->cap)
		return 0;
	if (n->cap == 0) {
		n->ents = &n->one;
		n->cap = 1;
		return 0;
	}
	if (n->nent == UINT32_MAX)
		return -ENOMEM;
	if (n->ents != &n->one) {
		ents = grow_array32(n->ents, &n->cap, n->nent + 1, 2,
				    sizeof(*ents));
		if (!ents)
			return -ENOMEM;
		n->ents = ents;
		return 0;
	}
	/* Out of the node into an allocation of its own. */
	cap = 0;
	ents = grow_array32(NULL, &cap, n->nent + 1, 2, sizeof(*ents));
	if (!ents)
		return -ENOMEM;
	memcpy(ents, n->ents, n->nent * sizeof(*ents));
	n->ents = ents;
	n->cap = cap;
	return 0;
}

uint32_t kids_lower_bound(const struct kids *k, uint64_t id)
{
	uint32_t lo = 0, hi = k->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if ((k->ids[mid] & ~KIDS_GONE) < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool kids_has(const struct kids *k, uint64_t id)
{
	uint32_t at = kids_lower_bound(k, id);

	return at < k->n && k->ids[at] == id;
}

int kids_insert(struct kids *k, uint64_t id)
{
	uint32_t at;

	at = (k->n && (k->ids[k->n - 1] & ~KIDS_GONE) < id)
		     ? k->n
		     : kids_lower_bound(k, id);
	if (at < k->n && (k->ids[at] & ~KIDS_GONE) == id) {
		/* gone and back (moved out of the space and in again) */
		if (k->ids[at] & KIDS_GONE) {
			k->ids[at] = id;
			k->live++;
		}
		return 0;
	}
	if (k->n == k->cap) {
		uint64_t *ids;

		if (k->n == UINT32_MAX)
			return -ENOMEM;
		ids = grow_array32(k->ids, &k->cap, k->n + 1, 4, sizeof(*ids));
		if (!ids)
			return -ENOMEM;
		k->ids = ids;
	}
	memmove(k->ids + at + 1, k->ids + at, (k->n - at) * sizeof(*k->ids));
	k->ids[at] = id;
	k->n++;
	k->live++;
	return 0;
}

/* Squeeze the gone slots out (order kept: a listing resumes by id). */
static void kids_compact(struct kids *k)
{
	uint32_t w = 0;

	for (uint32_t r = 0; r < k->n; r++)
		if (!(k->ids[r] & KIDS_GONE))
			k->ids[w++] = k->ids[r];
	k->n = w;
}

void kids_remove(struct kids *k, uint64_t id)
{
	uint32_t at = kids_lower_bound(k, id);

	if (at < k->n && k->ids[at] == id) {
		k->ids[at] |= KIDS_GONE;
		k->live--;
		/* amortized: each compaction follows as many removals as
		 * it keeps members */
		if (k->n - k->live > k->live + 16)
			kids_compact(k);
	}
}

void node_prefetch(const struct store *s, uint64_t id, uint64_t space_id,
		   const char *name, size_t len)
{
	pmap32_prefetch(&s->nodes, id);
	pmap32_prefetch(&s->names, name_hash(space_id, name, len));
}

int node_add(struct store *s, uint64_t id, uint64_t space_id, const char *name,
	     size_t len, const struct wal_meta *m, struct node **out)
{
	struct node *n;
	struct kids *parent;
	uint32_t h, old;
	void *p;
	int rc = -ENOMEM;

	if (len > WAL_NAME_MAX ||
	    ppool_alloc(&s->node_pool, node_size(len), &h, &p))
		return -ENOMEM;
	n = p;
	memcpy(n->name, name, len);
	n->id = id;
	n->space_id = space_id;
	meta_from_wal(m, &n->meta);
	if (space_id) {
		struct node *sp = node_get(s, space_id);
		parent = &sp->kids;
	} else {
		parent = &s->spaces;
	}
	/* A node of that id or name already there is put back and the add
	 * refused: replay need not look both up first. */
	if (pmap32_put(&s->nodes, id, id_match, &id, h, &old))
		goto out_free;
	if (old) {
		pmap32_put(&s->nodes, id, id_match, &id, old, NULL);
		rc = -EEXIST;
		goto out_free;
	}
	if (name_link(s, n, h, &old))
		goto out_unmap;
	if (old) {
		struct node *o = ppool_ptr(&s->node_pool, old);

		name_link(s, o, old, NULL);
		rc = -EEXIST;
		goto out_unmap;
	}
	if (kids_insert(parent, id))
		goto out_unname;
	if (space_id)
		s->ndocs++;
	else
		s->nspaces++;
	if (id >= s->next_id)
		s->next_id = id + 1;
	*out = n;
	return 0;
out_unname:
	name_unlink(s, n);
out_unmap:
	pmap32_del(&s->nodes, id, id_match, &id);
out_free:
	ppool_free(&s->node_pool, h, node_size(len));
	return rc;
}

void node_remove(struct store *s, struct node *n)
{
	uint32_t h;

	name_unlink(s, n);
	h = pmap32_del(&s->nodes, n->id, id_match, &n->id);
	if (n->space_id) {
		kids_remove(&node_get(s, n->space_id)->kids, n->id);
		s->ndocs--;
		s->nentries -= n->nent;
	} else {
		kids_remove(&s->spaces, n->id);
		s->nspaces--;
	}
	node_free_parts(n);
	ppool_free(&s->node_pool, h, node_size(strlen(n->name)));
}

int node_rename(struct store *s, struct node **np, uint64_t space_id,
		const char *name, size_t len)
{
	struct node *n = *np, *m = n;
	struct node *to = node_get(s, space_id);
	uint64_t id = n->id;
	size_t old_len = strlen(n->name);
	uint32_t h = 0, mh = 0;
	void *p;

	/* Everything that can fail comes first: the new object when the
	 * name outgrows the node, room in both maps, the listing. */
	if (len > WAL_NAME_MAX)
		return -ENOMEM;
	/* a pool object is freed at the size of its name: a name of
	 * another size in granules moves the node */
	if (ppool_units(node_size(len)) != ppool_units(node_size(old_len))) {
		if (ppool_alloc(&s->node_pool, node_size(len), &mh, &p))
			return -ENOMEM;
		m = p;
	}
	if (pmap32_reserve(&s->nodes, pmap32_count(&s->nodes) + 1) ||
	    pmap32_reserve(&s->names, pmap32_count(&s->names) + 1) ||
	    (space_id != n->space_id && kids_insert(&to->kids, id))) {
		if (m != n)
			ppool_free(&s->node_pool, mh, node_size(len));
		return -ENOMEM;
	}
	name_unlink(s, n);
	if (space_id != n->space_id)
		kids_remove(&node_get(s, n->space_id)->kids, id);
	if (m != n) {
		memcpy(m, n, offsetof(struct node, name));
		if (n->ents == &n->one)
			m->ents = &m->one;
		pmap32_put(&s->nodes, id, id_match, &id, mh, &h);
		ppool_free(&s->node_pool, h, node_size(old_len));
	} else {
		mh = pmap32_handle(&s->nodes, id, id_match, &id);
	}
	memcpy(m->name, name, len);
	m->name[len] = 0;
	m->space_id = space_id;
	*np = m;
	return name_link(s, m, mh, NULL);
}
