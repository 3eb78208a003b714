/*
 * snapshot.c - named snapshots: log positions whose namespace stays
 * readable.
 *
 * Design.  A snapshot is a name for the LSN L of the frame that made it
 * (SNAPSHOT_ADD).  The namespace as of L is, per node id: the live node
 * when its last change (node->lsn) is before L; else the kept state
 * (struct pinned) of that id whose life [from, to) holds L; else the id
 * did not exist at L.  Making a snapshot copies nothing.  Instead, when a
 * frame at LSN N changes node n (store_snapshot_before_change, called by
 * replay.c for every record that changes what a reader sees), and the
 * newest snapshot's L is after n->lsn, n's state (name, space, metadata,
 * seq, entry list) is kept as a pinned state of life [n->lsn, N).  A frame
 * changing n twice keeps it once (n->lsn is N after the first record).
 * Deleting a snapshot drops every pinned state no remaining snapshot's L
 * falls in.
 *
 * Entries.  A pinned state names entries of the data file; while any does,
 * the entry's bytes must not be reused.  struct ext counts the pinned
 * states naming an entry (by offset); when a live document drops an
 * entry (Delete, Trim: drop_front in replay.c) that is counted, the entry
 * becomes an orphan (kept, not freed).  When the last pinned state naming
 * an orphan goes, it is freed like any dropped entry: after the dropping
 * frame is durable.  At open the allocator is rebuilt from the live
 * entries plus the orphans (store_snapshot_orphans); which counted
 * entries are orphans is worked out again then (store_snapshot_settle).
 *
 * Log.  Live, SNAPSHOT_ADD / SNAPSHOT_DEL frames; replay applies them and
 * the same before-change rule, so the pinned states after recovery are
 * those the running store had.  A cut-over writes, after the
 * OrganizationSnapshot: every snapshot (SNAPSHOT_ADD with its L), the
 * last-change LSN of every node changed after the oldest snapshot
 * (NODE_LSN: the OrganizationSnapshot does not carry it, and a node read
 * back without one counts as unchanged since before every snapshot, which
 * is exactly true for the others), and every pinned state (PIN).
 *
 * Invariants (s->lock exclusive to change, shared to read):
 *   1. snaps[] is sorted by lsn, names unique.
 *   2. every pinned state's life holds the L of at least one snapshot.
 *   3. an ext's refs is the number of pinned states naming its offset.
 *   4. pinned_bytes is the sum of the lengths of orphan exts.
 * A snapshot's name index (struct sview) is immutable once built; its
 * names are gathered in short holds of the read lock (view_collect),
 * sorted with no lock held, and the index published under view_mu and
 * the read lock (view_ensure).
 */
#include "store/snapshot.h"

#include "store/store_internal.h"
#include "util/clock.h"
#include "util/grow.h"
#include "util/log.h"
#include "util/name.h"
#include "util/u64shards.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct vname {
	uint64_t id, space_id;
	const char *name; /* in the view's arena */
	size_t off; /* of the name in the arena while gathering */
};

/* The names of a snapshot, sorted by (space_id, name); the names are
 * copied into one arena (one allocation, not one per name). */
struct sview {
	struct vname *v;
	size_t n, cap;
	char *arena;
	size_t alen, acap;
};

struct snap {
	char *name;
	uint64_t lsn;
	int64_t time_ns;
	struct sview *view; /* NULL until first read; view_ensure */
};

struct pinned {
	uint64_t id, space_id, from, to, seq;
	char *name;
	struct store_meta meta;
	struct ent *ents;
	uint32_t nent;
	uint64_t stored_bytes;
	struct pinned *next; /* older states of the same id */
};

struct ext {
	uint64_t len;
	uint32_t refs;
	bool orphan;
};

/* The kept states of one name index being gathered (view_collect): a
 * copy of each state that holds its L, those there when the gathering
 * began and those kept while it runs (store_snapshot_before_change adds
 * them, under the exclusive lock). */
struct vpin {
	uint64_t id, space_id, to;
	char *name;
};

/* Kept while the gathering runs in blocks (never moved: adding a state
 * under the lock costs no copy of those before it), then flattened into
 * v with no lock held (vcollect_flatten). */
#define VBLOCK 1024
struct vblock {
	struct vblock *next;
	size_t n;
	struct vpin v[VBLOCK];
};

struct vcollect {
	uint64_t L;
	struct vblock *head, *tail;
	struct vpin *v; /* after vcollect_flatten */
	size_t n;
	int err; /* -ENOMEM: a copy failed; the gathering fails */
};

struct snapstate {
	struct snap *v;
	size_t n, cap;
	/* sharded: no single change rehashes every kept state */
	struct u64shards pins; /* id -> struct pinned chain, newest first */
	uint64_t npinned;
	struct u64shards exts; /* offset -> struct ext */
	uint64_t pinned_bytes;
	pthread_mutex_t view_mu;
	struct vcollect *vc; /* while a name index is gathered; view_mu */
	uint64_t pins_gen; /* +1 each time pins is rebuilt (a sweep) */
};

static void vcollect_add(struct vcollect *c, const struct pinned *p)
{
	struct vblock *b = c->tail;
	struct vpin *v;

	if (c->err || !(p->from < c->L && c->L < p->to))
		return;
	if (!b || b->n == VBLOCK) {
		b = malloc(sizeof(*b));
		if (!b) {
			c->err = -ENOMEM;
			return;
		}
		b->next = NULL;
		b->n = 0;
		if (c->tail)
			c->tail->next = b;
		else
			c->head = b;
		c->tail = b;
	}
	v = &b->v[b->n];
	*v = (struct vpin){ p->id, p->space_id, p->to, strdup(p->name) };
	if (!v->name) {
		c->err = -ENOMEM;
		return;
	}
	b->n++;
	c->n++;
}

/* The blocks into one array (no lock: the gathering has ended). */
static int vcollect_flatten(struct vcollect *c)
{
	size_t at = 0;

	c->v = malloc((c->n ? c->n : 1) * sizeof(*c->v));
	if (!c->v)
		return -ENOMEM;
	while (c->head) {
		struct vblock *b = c->head;

		memcpy(c->v + at, b->v, b->n * sizeof(*b->v));
		at += b->n;
		c->head = b->next;
		free(b);
	}
	c->tail = NULL;
	return 0;
}

static int vpin_cmp(const void *a, const void *b)
{
	const struct vpin *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* Sort by id and drop the copies of a state taken twice (one node has
 * one state holding L: a state kept during the walk of the kept states
 * may be met by the walk too). */
static void vcollect_unique(struct vcollect *c)
{
	size_t w = 0;

	if (c->n)
		qsort(c->v, c->n, sizeof(*c->v), vpin_cmp);
	for (size_t r = 0; r < c->n; r++) {
		if (w && c->v[w - 1].id == c->v[r].id) {
			free(c->v[r].name);
			continue;
		}
		c->v[w++] = c->v[r];
	}
	c->n = w;
}

static void vcollect_release(struct vcollect *c)
{
	if (c->v) {
		for (size_t i = 0; i < c->n; i++)
			free(c->v[i].name);
		free(c->v);
	}
	while (c->head) {
		struct vblock *b = c->head;

		for (size_t i = 0; i < b->n; i++)
			free(b->v[i].name);
		c->head = b->next;
		free(b);
	}
}

static struct snapstate *state(struct store *s, int *rc)
{
	struct snapstate *st = s->snaps;

	if (st)
		return st;
	st = calloc(1, sizeof(*st));
	if (!st) {
		*rc = -ENOMEM;
		return NULL;
	}
	u64shards_init(&st->pins);
	u64shards_init(&st->exts);
	pthread_mutex_init(&st->view_mu, NULL);
	s->snaps = st;
	return st;
}

static void view_free(struct sview *w)
{
	if (!w)
		return;
	free(w->arena);
	free(w->v);
	free(w);
}

static struct snap *snap_find(struct snapstate *st, const char *name,
			      size_t len)
{
	for (size_t i = 0; st && i < st->n; i++)
		if (strlen(st->v[i].name) == len &&
		    !memcmp(st->v[i].name, name, len))
			return &st->v[i];
	return NULL;
}

/* Does some snapshot's L fall in [from, to)? */
static bool covered(const struct snapstate *st, uint64_t from, uint64_t to)
{
	size_t lo = 0, hi = st->n;

	while (lo < hi) { /* first snapshot with lsn > from */
		size_t mid = lo + (hi - lo) / 2;

		if (st->v[mid].lsn > from)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo < st->n && st->v[lo].lsn < to;
}

/* ---- entries pinned ---- */

static int ext_ref(struct snapstate *st, uint64_t off, uint64_t len)
{
	struct ext *e;
	int rc;

	if (len == 0)
		return 0;
	e = u64shards_get(&st->exts, off);
	if (e) {
		/* one entry, one length: two states naming the same offset
		 * with different lengths come from a damaged index */
		if (e->len != len)
			return -EBADMSG;
		e->refs++;
		return 0;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->len = len;
	e->refs = 1;
	rc = u64shards_put(&st->exts, off, e);
	if (rc)
		free(e);
	return rc;
}

/* One pinned state less names off: an orphan nobody names is freed once
 * frame lsn is durable (live) or left to the allocator rebuild (replay). */
static int ext_unref(struct store *s, struct snapstate *st, uint64_t off,
		     uint64_t len, uint64_t lsn, bool live)
{
	struct ext *e;
	int rc = 0;

	if (len == 0)
		return 0;
	e = u64shards_get(&st->exts, off);
	if (!e || --e->refs)
		return 0;
	u64shards_del(&st->exts, off);
	if (e->orphan) {
		st->pinned_bytes -= e->len;
		if (live)
			rc = store_free_later(s, off, e->len, lsn);
	}
	free(e);
	return rc;
}

bool store_snapshot_keeps(struct store *s, uint64_t off, uint64_t len)
{
	struct snapstate *st = s->snaps;
	struct ext *e;

	if (!st || len == 0)
		return false;
	e = u64shards_get(&st->exts, off);
	if (!e)
		return false;
	if (!e->orphan) {
		e->orphan = true;
		st->pinned_bytes += e->len;
	}
	return true;
}

/* ---- pinned states ---- */

static void pinned_free(struct pinned *p)
{
	if (!p)
		return;
	free(p->name);
	free(p->ents);
	free(p);
}

static int pinned_add(struct snapstate *st, struct pinned *p)
{
	struct pinned *head = u64shards_get(&st->pins, p->id);
	int rc;

	for (uint32_t i = 0; i < p->nent; i++) {
		rc = ext_ref(st, p->ents[i].off, p->ents[i].len);
		if (rc)
			return rc; /* the store fails: no undo needed */
	}
	/* newest first: PIN records of a cut-over come newest first too,
	 * but keep the chain sorted whatever the order */
	if (!head || head->from < p->from) {
		p->next = head;
		rc = u64shards_put(&st->pins, p->id, p);
		if (rc)
			return rc;
	} else {
		struct pinned *at = head;

		while (at->next && at->next->from > p->from)
			at = at->next;
		p->next = at->next;
		at->next = p;
	}
	st->npinned++;
	return 0;
}

int store_snapshot_before_change(struct store *s, uint64_t id, uint64_t lsn)
{
	struct snapstate *st = s->snaps;
	struct node *n;
	struct pinned *p;
	int rc;

	if (!st || st->n == 0 || id == STORE_ROOT_ID)
		return 0;
	n = node_get(s, id);
	if (!n || n->lsn >= st->v[st->n - 1].lsn || n->lsn >= lsn)
		return 0;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->id = id;
	p->space_id = n->space_id;
	p->from = n->lsn;
	p->to = lsn;
	p->seq = n->seq;
	p->meta = n->meta;
	p->stored_bytes = n->stored_bytes;
	p->name = strdup(n->name);
	p->nent = n->nent;
	if (n->nent)
		p->ents = malloc((size_t)n->nent * sizeof(*p->ents));
	if (!p->name || (n->nent && !p->ents)) {
		pinned_free(p);
		return -ENOMEM;
	}
	if (n->nent)
		memcpy(p->ents, n->ents, (size_t)n->nent * sizeof(*p->ents));
	rc = pinned_add(st, p);
	if (rc)
		pinned_free(p);
	else if (st->vc)
		vcollect_add(st->vc, p);
	return rc;
}

/* Drop every pinned state no snapshot covers any more (after a delete). */
static int pinned_sweep(struct store *s, struct snapstate *st, uint64_t lsn,
			bool live)
{
	struct u64shards keep;
	size_t pos = 0;
	uint64_t id;
	void *v;
	int rc = 0;

	u64shards_init(&keep);
	while (u64shards_next(&st->pins, &pos, &id, &v)) {
		struct pinned *head = NULL, **tail = &head;

		for (struct pinned *p = v, *next; p; p = next) {
			next = p->next;
			if (covered(st, p->from, p->to)) {
				*tail = p;
				tail = &p->next;
				continue;
			}
			for (uint32_t i = 0; i < p->nent; i++) {
				int r = ext_unref(s, st, p->ents[i].off,
						  p->ents[i].len, lsn, live);
				rc = rc ? rc : r;
			}
			st->npinned--;
			pinned_free(p);
		}
		*tail = NULL;
		if (head && u64shards_put(&keep, id, head) && !rc)
			rc = -ENOMEM;
	}
	u64shards_release(&st->pins);
	st->pins = keep;
	st->pins_gen++;
	return rc;
}

/* ---- records ---- */

int store_snapshot_check(struct store *s, const struct wal_rec *r)
{
	const struct wal_pin *p = &r->u.pin;
	struct snap *sn;

	switch (r->type) {
	case WAL_SNAPSHOT_ADD:
		sn = snap_find(s->snaps, r->u.snapshot.name.p,
			       r->u.snapshot.name.len);
		return sn ? -EBADMSG : 0;
	case WAL_SNAPSHOT_DEL:
		sn = snap_find(s->snaps, r->u.snapshot.name.p,
			       r->u.snapshot.name.len);
		return sn ? 0 : -EBADMSG;
	case WAL_NODE_LSN:
		return node_get(s, r->u.node_lsn.id) ? 0 : -EBADMSG;
	case WAL_PIN:
		if (p->id <= STORE_ROOT_ID || p->from_lsn >= p->to_lsn ||
		    !s->snaps || !covered(s->snaps, p->from_lsn, p->to_lsn))
			return -EBADMSG;
		for (uint32_t i = 0; i < p->n; i++) {
			struct wal_ent e;

			wal_rec_pin_ent(p, i, &e);
			if (e.len == 0)
				continue;
			if (e.offset < DATA_HDR || e.offset > s->map_len ||
			    e.len > s->map_len - e.offset)
				return -EBADMSG;
		}
		return 0;
	default:
		return -EBADMSG;
	}
}

static int apply_add(struct store *s, const struct wal_snapshot *r,
		     uint64_t lsn)
{
	struct snapstate *st;
	struct snap *sn;
	uint64_t at = r->lsn ? r->lsn : lsn;
	size_t i;
	int rc = 0;

	st = state(s, &rc);
	if (!st)
		return rc;
	if (st->n == st->cap) {
		sn = grow_array(st->v, &st->cap, st->n + 1, 4, sizeof(*sn));
		if (!sn)
			return -ENOMEM;
		st->v = sn;
	}
	for (i = st->n; i > 0 && st->v[i - 1].lsn > at; i--)
		;
	if (i > 0 && st->v[i - 1].lsn == at)
		return -EBADMSG; /* one snapshot per frame */
	memmove(st->v + i + 1, st->v + i, (st->n - i) * sizeof(*st->v));
	sn = &st->v[i];
	memset(sn, 0, sizeof(*sn));
	sn->name = strndup(r->name.p, r->name.len);
	if (!sn->name) {
		memmove(st->v + i, st->v + i + 1, (st->n - i) * sizeof(*st->v));
		return -ENOMEM;
	}
	sn->lsn = at;
	sn->time_ns = r->time_ns;
	st->n++;
	return 0;
}

static int apply_del(struct store *s, const struct wal_snapshot *r,
		     uint64_t lsn, bool live)
{
	struct snapstate *st = s->snaps;
	struct snap *sn = snap_find(st, r->name.p, r->name.len);
	size_t i = (size_t)(sn - st->v);

	free(sn->name);
	view_free(sn->view);
	memmove(st->v + i, st->v + i + 1, (st->n - i - 1) * sizeof(*st->v));
	st->n--;
	return pinned_sweep(s, st, lsn, live);
}

static int apply_pin(struct store *s, const struct wal_pin *r)
{
	struct pinned *p = calloc(1, sizeof(*p));
	int rc;

	if (!p)
		return -ENOMEM;
	p->id = r->id;
	p->space_id = r->space_id;
	p->from = r->from_lsn;
	p->to = r->to_lsn;
	p->seq = r->seq;
	meta_from_wal(&r->meta, &p->meta);
	p->name = strndup(r->name.p, r->name.len);
	p->nent = r->n;
	if (r->n)
		p->ents = malloc((size_t)r->n * sizeof(*p->ents));
	if (!p->name || (r->n && !p->ents)) {
		pinned_free(p);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < r->n; i++) {
		struct wal_ent e;

		wal_rec_pin_ent(r, i, &e);
		p->ents[i] = (struct ent){ .seq = e.seq,
					   .off = e.offset,
					   .len = e.len,
					   .crc = e.crc };
		p->stored_bytes += e.len;
	}
	rc = pinned_add(s->snaps, p);
	if (rc)
		pinned_free(p);
	return rc;
}

int store_snapshot_apply(struct store *s, const struct wal_rec *r, uint64_t lsn,
			 bool live)
{
	switch (r->type) {
	case WAL_SNAPSHOT_ADD:
		return apply_add(s, &r->u.snapshot, lsn);
	case WAL_SNAPSHOT_DEL:
		return apply_del(s, &r->u.snapshot, lsn, live);
	case WAL_NODE_LSN:
		node_get(s, r->u.node_lsn.id)->lsn = r->u.node_lsn.lsn;
		return 0;
	case WAL_PIN:
		return apply_pin(s, &r->u.pin);
	default:
		return -EBADMSG;
	}
}

int store_snapshot_write(struct store *s, struct wal_buf *b)
{
	struct snapstate *st = s->snaps;
	struct wal_ent *ents = NULL;
	uint32_t cap = 0;
	size_t pos = 0;
	void *v;
	int rc = 0;

	if (!st || st->n == 0)
		return 0;
	for (size_t i = 0; !rc && i < st->n; i++)
		rc = wal_put_snapshot_add(b, st->v[i].lsn, st->v[i].time_ns,
					  st->v[i].name);
	while (!rc && node_next(s, &pos, NULL, &v)) {
		struct node *n = v;

		if (n->lsn > st->v[0].lsn)
			rc = wal_put_node_lsn(b, n->id, n->lsn);
	}
	pos = 0;
	while (!rc && u64shards_next(&st->pins, &pos, NULL, &v)) {
		for (struct pinned *p = v; !rc && p; p = p->next) {
			struct wal_pin w = { .id = p->id,
					     .space_id = p->space_id,
					     .from_lsn = p->from,
					     .to_lsn = p->to,
					     .seq = p->seq,
					     .n = p->nent };

			if (p->nent > cap) {
				struct wal_ent *e;

				e = realloc(ents, p->nent * sizeof(*e));
				if (!e) {
					rc = -ENOMEM;
					break;
				}
				ents = e;
				cap = p->nent;
			}
			for (uint32_t k = 0; k < p->nent; k++)
				ents[k] = (struct wal_ent){
					.seq = p->ents[k].seq,
					.offset = p->ents[k].off,
					.len = p->ents[k].len,
					.crc = p->ents[k].crc
				};
			meta_to_wal(&p->meta, &w.meta);
			rc = wal_put_pin(b, &w, p->name, ents);
		}
	}
	free(ents);
	return rc;
}

void store_snapshot_settle(struct store *s)
{
	struct snapstate *st = s->snaps;
	size_t pos = 0;
	void *v;

	if (!st)
		return;
	st->pinned_bytes = 0;
	while (u64shards_next(&st->exts, &pos, NULL, &v)) {
		struct ext *e = v;

		e->orphan = true;
		st->pinned_bytes += e->len;
	}
	pos = 0;
	while (node_next(s, &pos, NULL, &v)) {
		struct node *n = v;

		for (uint32_t k = 0; k < n->nent; k++) {
			struct ext *e = n->ents[k].len
						? u64shards_get(&st->exts,
								n->ents[k].off)
						: NULL;

			if (e && e->orphan) {
				e->orphan = false;
				st->pinned_bytes -= e->len;
			}
		}
	}
}

int store_snapshot_orphans(struct store *s,
			   int (*fn)(void *arg, uint64_t off, uint64_t len),
			   void *arg)
{
	struct snapstate *st = s->snaps;
	size_t pos = 0;
	uint64_t off;
	void *v;
	int rc = 0;

	while (!rc && st && u64shards_next(&st->exts, &pos, &off, &v)) {
		struct ext *e = v;

		if (e->orphan)
			rc = fn(arg, off, e->len);
	}
	return rc;
}

uint64_t store_snapshot_orphan_count(struct store *s)
{
	return s->snaps ? u64shards_count(&s->snaps->exts) : 0;
}

uint64_t store_snapshot_pinned_bytes(struct store *s)
{
	return s->snaps ? s->snaps->pinned_bytes : 0;
}

void store_snapshot_free(struct store *s)
{
	struct snapstate *st = s->snaps;
	size_t pos = 0;
	void *v;

	if (!st)
		return;
	for (size_t i = 0; i < st->n; i++) {
		free(st->v[i].name);
		view_free(st->v[i].view);
	}
	free(st->v);
	while (u64shards_next(&st->pins, &pos, NULL, &v)) {
		for (struct pinned *p = v, *next; p; p = next) {
			next = p->next;
			pinned_free(p);
		}
	}
	u64shards_release(&st->pins);
	pos = 0;
	while (u64shards_next(&st->exts, &pos, NULL, &v))
		free(v);
	u64shards_release(&st->exts);
	pthread_mutex_destroy(&st->view_mu);
	free(st);
	s->snaps = NULL;
}

/* ---- the public API: changes ---- */

static int snap_name_check(const char *name)
{
	return name_check(name, NULL);
}

int store_snapshot_create(struct store *s, const char *name, uint64_t *lsn)
{
	uint64_t at = 0;
	int rc = snap_name_check(name);

	if (rc)
		return rc;
	rc = store_change_begin(s);
	if (rc)
		return rc;
	if (snap_find(s->snaps, name, strlen(name)))
		rc = -EEXIST;
	if (!rc)
		rc = wal_put_snapshot_add(&s->scratch, 0, clock_real_ns(),
					  name);
	if (!rc)
		rc = store_change_commit(s, &at);
	rc = store_change_end(s, rc, 0, at, lsn);
	return rc ? rc : store_sync(s, at);
}

int store_snapshot_delete(struct store *s, const char *name)
{
	uint64_t at = 0;
	int rc = snap_name_check(name);

	if (rc)
		return rc == -EINVAL || rc == -ENAMETOOLONG ? -ENOENT : rc;
	rc = store_change_begin(s);
	if (rc)
		return rc;
	if (!snap_find(s->snaps, name, strlen(name)))
		rc = -ENOENT;
	if (!rc)
		rc = wal_put_snapshot_del(&s->scratch, name);
	if (!rc)
		rc = store_change_commit(s, &at);
	rc = store_change_end(s, rc, 0, at, NULL);
	return rc ? rc : store_sync(s, at);
}

int store_snapshot_list(struct store *s, store_snapshot_fn fn, void *arg)
{
	struct snapstate *st;
	int rc = 0;

	pthread_rwlock_rdlock(&s->lock);
	st = s->snaps;
	for (size_t i = 0; !rc && st && i < st->n; i++)
		rc = fn(arg, st->v[i].name, st->v[i].lsn, st->v[i].time_ns);
	pthread_rwlock_unlock(&s->lock);
	return rc;
}

int store_snapshot_get(struct store *s, const char *name, uint64_t *lsn,
		       int64_t *time_ns)
{
	struct snap *sn;
	int rc = -ENOENT;

	pthread_rwlock_rdlock(&s->lock);
	sn = snap_find(s->snaps, name, strlen(name));
	if (sn) {
		if (lsn)
			*lsn = sn->lsn;
		if (time_ns)
			*time_ns = sn->time_ns;
		rc = 0;
	}
	pthread_rwlock_unlock(&s->lock);
	return rc;
}

/* ---- reading as of a snapshot (s->lock shared) ---- */

/* The state of id as of L: exactly one of *live, *pin is set, or
 * neither when id did not exist then. */
static void state_at(struct store *s, uint64_t id, uint64_t L,
		     struct node **live, struct pinned **pin)
{
	struct node *n = node_get(s, id);

	*live = NULL;
	*pin = NULL;
	if (n && n->lsn < L) {
		*live = n;
		return;
	}
	for (struct pinned *p = u64shards_get(&s->snaps->pins, id); p;
	     p = p->next)
		if (p->from < L && L < p->to) {
			*pin = p;
			return;
		}
}

static int vname_cmp(const void *a, const void *b)
{
	const struct vname *x = a, *y = b;

	if (x->space_id != y->space_id)
		return x->space_id < y->space_id ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Room for n more names of up to NAME_MAX_BYTES: made before a step of
 * the gathering takes the read lock, so no step copies the arrays (at a
 * million names a doubling copies tens of MB). */
static int view_reserve(struct sview *w, size_t n)
{
	struct vname *v;
	char *a;

	if (w->cap - w->n < n) {
		v = grow_array(w->v, &w->cap, w->n + n, 64, sizeof(*v));
		if (!v)
			return -ENOMEM;
		w->v = v;
	}
	if (w->acap - w->alen < n * (NAME_MAX_BYTES + 1)) {
		a = grow_array(w->arena, &w->acap,
			       w->alen + n * (NAME_MAX_BYTES + 1), 4096, 1);
		if (!a)
			return -ENOMEM;
		w->arena = a;
	}
	return 0;
}

static int view_push(struct sview *w, uint64_t id, uint64_t space_id,
		     const char *name)
{
	size_t len = strlen(name) + 1;
	struct vname *v;
	char *a;

	if (w->n == w->cap) {
		v = grow_array(w->v, &w->cap, w->n + 1, 64, sizeof(*v));
		if (!v)
			return -ENOMEM;
		w->v = v;
	}
	if (w->alen + len > w->acap) {
		a = grow_array(w->arena, &w->acap, w->alen + len, 4096, 1);
		if (!a)
			return -ENOMEM;
		w->arena = a;
	}
	memcpy(w->arena + w->alen, name, len);
	v = &w->v[w->n];
	v->id = id;
	v->space_id = space_id;
	v->off = w->alen;
	w->alen += len;
	w->n++;
	return 0;
}

/*
 * Gathering a view in steps.  The names as of L are the nodes whose last
 * change is before L (node->lsn < L: unchanged since, so still where
 * they were at L) and, for every node changed since, its kept state that
 * holds L (a change after L keeps the state it replaces before it is
 * made: store_snapshot_before_change).  So the walk may let changes in
 * between its steps: each step holds the shared lock over at most
 * view_chunk ids of one listing (the root's spaces, then each space's
 * documents, resumed by id), and records the range it covered and g, the
 * LSN of the last frame applied when it ran.  The kept states holding L
 * are copied (struct vcollect) at the start, in one pass over the kept
 * states, and as changes keep more while the steps run.  Each is pushed
 * at the end unless a step took it live: the state of node x holding L
 * (to = the LSN of x's first change after L) was taken live when the
 * step that covered x's space and id ran before that change (to > g); it
 * is pushed otherwise
 * (changed before the step: the step skipped it; or in no step: a space
 * the walk never reached, or after its listing vanished).  Every name as
 * of L is pushed exactly once however changes fall between the steps.
 */
struct gstep {
	uint64_t space_id, lo, hi, g; /* ids [lo, hi) of space_id's listing */
};

struct gather {
	struct sview *w;
	struct gstep *steps;
	size_t nsteps, csteps;
	uint64_t *spaces; /* the root's listing, as walked */
	size_t nspaces, cspaces;
};

static int gather_space(struct store *s, struct gather *g, uint64_t space_id,
			uint64_t L, uint32_t chunk)
{
	uint64_t from = 0, id;
	void (*between)(void *);
	void *between_arg;
	int rc = 0;

	for (bool done = false; !done && !rc;) {
		const struct kids *k;
		struct node *sp;
		struct gstep *st;
		uint32_t i, taken = 0;

		st = grow_array(g->steps, &g->csteps, g->nsteps + 1, 64,
				sizeof(*g->steps));
		if (!st)
			return -ENOMEM;
		g->steps = st;
		rc = view_reserve(g->w, chunk);
		if (!space_id && !rc) {
			uint64_t *v = grow_array(g->spaces, &g->cspaces,
						 g->nspaces + chunk, 16,
						 sizeof(*v));

			if (!v)
				return -ENOMEM;
			g->spaces = v;
		}
		if (rc)
			return rc;
		store_rdlock_after_writers(s);
		sp = space_id ? node_get(s, space_id) : NULL;
		if (space_id && (!sp || sp->space_id)) {
			pthread_rwlock_unlock(&s->lock); /* gone meanwhile */
			return 0;
		}
		k = space_id ? &sp->kids : &s->spaces;
		st = &g->steps[g->nsteps++];
		st->space_id = space_id;
		st->lo = from;
		st->g = s->applied_lsn;
		for (i = kids_lower_bound(k, from);
		     !rc && i < k->n && taken < chunk; i++) {
			struct node *n;

			if (!kids_at(k, i, &id))
				continue;
			taken++;
			n = node_get(s, id);
			if (n->lsn < L)
				rc = view_push(g->w, n->id, n->space_id,
					       n->name);
			if (!rc && !space_id) {
				uint64_t *v = grow_array(g->spaces, &g->cspaces,
							 g->nspaces + 1, 16,
							 sizeof(*v));
				if (!v)
					rc = -ENOMEM;
				else
					(g->spaces = v)[g->nspaces++] = id;
			}
		}
		done = i >= k->n;
		if (!done)
			kids_at(k, i, &from); /* the next step starts there */
		st->hi = done ? UINT64_MAX : from;
		between = s->view_between;
		between_arg = s->view_between_arg;
		pthread_rwlock_unlock(&s->lock);
		if (between)
			between(between_arg);
	}
	return rc;
}

/* The step that covered id in space_id's listing, or NULL. */
static const struct gstep *gather_step(const struct gather *g,
				       uint64_t space_id, uint64_t id)
{
	size_t lo = 0, hi = g->nsteps;

	/* sorted by (space_id, lo): the root (0) first, then the spaces in
	 * the root listing's (id) order, each in id order */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct gstep *st = &g->steps[mid];

		if (st->space_id < space_id ||
		    (st->space_id == space_id && st->hi <= id))
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < g->nsteps && g->steps[lo].space_id == space_id &&
	    g->steps[lo].lo <= id && id < g->steps[lo].hi)
		return &g->steps[lo];
	return NULL;
}

/* Gather the names as of L (no lock held on entry; view_mu held), in
 * steps: the kept states holding L are copied when it starts (one pass
 * over the kept states) and as they are kept while it runs (st->vc). */
static int view_collect(struct store *s, struct snapstate *sst, uint64_t L,
			struct sview **out)
{
	struct gather g = { .w = calloc(1, sizeof(*g.w)) };
	struct vcollect vc = { .L = L };
	uint32_t chunk;
	size_t pos = 0, cap = 0;
	uint64_t id, gen = 0;
	void *v;
	int rc = 0;

	if (!g.w)
		return -ENOMEM;
	pthread_rwlock_rdlock(&s->lock);
	chunk = s->view_chunk ? s->view_chunk : 4096;
	sst->vc = &vc; /* no change runs: we hold the read lock */
	pthread_rwlock_unlock(&s->lock);
	/* The kept states there now, in steps too; the walk starts over
	 * when the map was rebuilt or grew between two steps (positions
	 * moved); a state met twice is dropped by vcollect_unique. */
	for (bool more = true; more;) {
		void (*between)(void *);
		void *between_arg;
		store_rdlock_after_writers(s);
		if (u64shards_shape(&sst->pins) != cap || sst->pins_gen != gen)
			pos = 0;
		cap = u64shards_shape(&sst->pins);
		gen = sst->pins_gen;
		for (uint32_t n = 0; n < chunk && more; n++) {
			more = u64shards_next(&sst->pins, &pos, &id, &v);
			for (struct pinned *p = more ? v : NULL; p; p = p->next)
				vcollect_add(&vc, p);
		}
		between = s->view_between;
		between_arg = s->view_between_arg;
		pthread_rwlock_unlock(&s->lock);
		if (between)
			between(between_arg);
	}
	rc = gather_space(s, &g, 0, L, chunk);
	for (size_t i = 0; !rc && i < g.nspaces; i++)
		rc = gather_space(s, &g, g.spaces[i], L, chunk);
	pthread_rwlock_rdlock(&s->lock);
	sst->vc = NULL;
	pthread_rwlock_unlock(&s->lock);
	if (!rc)
		rc = vc.err;
	if (!rc)
		rc = vcollect_flatten(&vc);
	if (!rc)
		vcollect_unique(&vc);
	for (size_t i = 0; !rc && i < vc.n; i++) {
		const struct vpin *p = &vc.v[i];
		const struct gstep *st = gather_step(&g, p->space_id, p->id);

		if (!st || p->to <= st->g)
			rc = view_push(g.w, p->id, p->space_id, p->name);
	}
	vcollect_release(&vc);
	free(g.steps);
	free(g.spaces);
	if (rc) {
		view_free(g.w);
		return rc;
	}
	*out = g.w;
	return 0;
}

void store_snapshot_view_steps(struct store *s, uint32_t ids,
			       void (*between)(void *), void *arg)
{
	pthread_rwlock_wrlock(&s->lock);
	s->view_chunk = ids;
	s->view_between = between;
	s->view_between_arg = arg;
	pthread_rwlock_unlock(&s->lock);
}

/*
 * Build snapshot snap's name index if it has none.  The names are gathered
 * in steps of the read lock (view_collect: changes go on between them),
 * sorted with no lock held (at a million names the sort is most of the
 * cost), and published under the read lock if the snapshot still stands
 * with the same L (one deleted meanwhile may have lost kept states the
 * walk needed; one deleted and made again under the same name has
 * another L: that index is dropped, the caller builds anew).  view_mu
 * serializes builders; lock order: view_mu, then s->lock.  The pointer is
 * published atomically: readers holding the read lock load it.
 */
static int view_ensure(struct store *s, const char *snap)
{
	struct sview *w = NULL;
	struct snapstate *st;
	struct snap *sn;
	uint64_t L = 0;
	bool build = false;
	int rc = 0;

	pthread_rwlock_rdlock(&s->lock);
	st = s->snaps;
	pthread_rwlock_unlock(&s->lock);
	if (!st)
		return -ENOENT;
	pthread_mutex_lock(&st->view_mu);
	pthread_rwlock_rdlock(&s->lock);
	sn = snap_find(st, snap, strlen(snap));
	if (!sn)
		rc = -ENOENT;
	else if (!__atomic_load_n(&sn->view, __ATOMIC_ACQUIRE)) {
		build = true;
		L = sn->lsn;
	}
	pthread_rwlock_unlock(&s->lock);
	if (build)
		rc = view_collect(s, st, L, &w);
	if (rc || !w)
		goto out;
	for (size_t i = 0; i < w->n; i++)
		w->v[i].name = w->arena + w->v[i].off;
	if (w->n)
		qsort(w->v, w->n, sizeof(*w->v), vname_cmp);
	pthread_rwlock_rdlock(&s->lock);
	sn = snap_find(st, snap, strlen(snap));
	if (sn && sn->lsn == L && !sn->view) {
		__atomic_store_n(&sn->view, w, __ATOMIC_RELEASE);
		w = NULL;
	}
	pthread_rwlock_unlock(&s->lock);
out:
	view_free(w);
	pthread_mutex_unlock(&st->view_mu);
	return rc;
}

/* Find the snapshot and its name index, built if need be; returns with
 * the read lock held when it returns 0. */
static int view_hold(struct store *s, const char *snap, struct sview **out)
{
	struct snap *sn;
	int rc;

	for (;;) {
		rc = view_ensure(s, snap);
		if (rc)
			return rc;
		pthread_rwlock_rdlock(&s->lock);
		sn = snap_find(s->snaps, snap, strlen(snap));
		*out = sn ? __atomic_load_n(&sn->view, __ATOMIC_ACQUIRE) : NULL;
		if (*out)
			return 0;
		pthread_rwlock_unlock(&s->lock);
		if (!sn)
			return -ENOENT;
	}
}

/* Index of the first name of space_id not below name ("" : the first). */
static size_t view_lower(const struct sview *w, uint64_t space_id,
			 const char *name)
{
	struct vname key = { .space_id = space_id, .name = name };
	size_t lo = 0, hi = w->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (vname_cmp(&w->v[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int store_snapshot_names(struct store *s, const char *snap, uint64_t space_id,
			 store_name_fn fn, void *arg)
{
	struct sview *w;
	int rc = view_hold(s, snap, &w);

	if (rc)
		return rc;
	for (size_t i = view_lower(w, space_id, "");
	     !rc && i < w->n && w->v[i].space_id == space_id; i++)
		rc = fn(arg, w->v[i].id, w->v[i].name);
	pthread_rwlock_unlock(&s->lock);
	return rc;
}

int store_snapshot_lookup(struct store *s, const char *snap, uint64_t space_id,
			  const char *name, uint64_t *id)
{
	struct sview *w;
	size_t i;
	int rc = view_hold(s, snap, &w);

	if (rc)
		return rc;
	i = view_lower(w, space_id, name);
	if (i < w->n && w->v[i].space_id == space_id &&
	    !strcmp(w->v[i].name, name))
		*id = w->v[i].id;
	else
		rc = -ENOENT;
	pthread_rwlock_unlock(&s->lock);
	return rc;
}

int store_snapshot_info(struct store *s, const char *snap, uint64_t id,
			struct store_doc_info *out)
{
	struct snap *sn;
	struct node *n;
	struct pinned *p;
	int rc = -ENOENT;

	pthread_rwlock_rdlock(&s->lock);
	sn = snap_find(s->snaps, snap, strlen(snap));
	if (sn)
		state_at(s, id, sn->lsn, &n, &p);
	memset(out, 0, sizeof(*out));
	if (sn && n) {
		*out = (struct store_doc_info){ .id = id,
						.space_id = n->space_id,
						.is_space = !n->space_id,
						.seq = n->seq,
						.entries = n->nent,
						.stored_bytes = n->stored_bytes,
						.lsn = n->lsn,
						.meta = n->meta };
		rc = 0;
	} else if (sn && p) {
		*out = (struct store_doc_info){ .id = id,
						.space_id = p->space_id,
						.is_space = !p->space_id,
						.seq = p->seq,
						.entries = p->nent,
						.stored_bytes = p->stored_bytes,
						.lsn = p->from,
						.meta = p->meta };
		rc = 0;
	}
	pthread_rwlock_unlock(&s->lock);
	return rc;
}

int store_snapshot_read(struct store *s, const char *snap, uint64_t id,
			store_entry_fn fn, void *arg)
{
	struct snap *sn;
	struct node *n = NULL;
	struct pinned *p = NULL;
	const struct ent *e = NULL;
	uint32_t ne = 0;
	int rc = 0;

	pthread_rwlock_rdlock(&s->lock);
	sn = snap_find(s->snaps, snap, strlen(snap));
	if (sn)
		state_at(s, id, sn->lsn, &n, &p);
	if (n) {
		e = n->ents;
		ne = n->nent;
	} else if (p) {
		e = p->ents;
		ne = p->nent;
	}
	if (!n && !p)
		rc = -ENOENT;
	else if (!(n ? n->space_id : p->space_id))
		rc = -EISDIR;
	for (uint32_t i = 0; !rc && i < ne; i++)
		rc = fn(arg, e[i].seq, s->map + e[i].off, e[i].len);
	pthread_rwlock_unlock(&s->lock);
	return rc;
}

void store_snapshot_stats(struct store *s, struct store_snapshot_stats *out)
{
	pthread_rwlock_rdlock(&s->lock);
	memset(out, 0, sizeof(*out));
	if (s->snaps) {
		out->snapshots = s->snaps->n;
		out->pinned_states = s->snaps->npinned;
		out->pinned_bytes = s->snaps->pinned_bytes;
	}
	out->history_bytes = s->hist_bytes;
	pthread_rwlock_unlock(&s->lock);
}

int store_entry_times(struct store *s, uint64_t id, store_time_fn fn, void *arg)
{
	struct node *n;
	int rc = 0;

	pthread_rwlock_rdlock(&s->lock);
	n = store_doc_node(s, id, &rc);
	if (n && n->evicted)
		rc = -ENODATA;
	for (uint32_t i = 0; n && i < n->nent && !rc; i++)
		rc = fn(arg, n->ents[i].seq, n->ents[i].time_ns);
	pthread_rwlock_unlock(&s->lock);
	return rc;
}
