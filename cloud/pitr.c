/*
 * pitr.c - replaying a store's history from its cloud target (see
 * pitr.h; formats in feed.c, semantics in docs/cloud-history.md).
 *
 * A walk lists the reserved space once into the feed batches and the
 * snapshot groups (parts of one (generation, batch)), picks a base (a
 * complete snapshot, or the beginning when nothing was ever pruned), then
 * reads the batches after the base in (generation, batch) order and hands
 * each record to its visitor until the limit.  Checks, each -EIO with a
 * log line: every object decodes (feed_decode), is of the kind its name
 * says and carries its name's generation, batch and part; batches of one
 * generation are contiguous from 0 (or from the base's batch + 1) and
 * carry one identity; a snapshot's parts agree on their count and time
 * and name each document once.  A snapshot whose part 0 is missing is
 * incomplete (being written or pruned) and is skipped.
 *
 * The state of a replay is a hash table of the newest record of each
 * name (owned copies); a delete removes the name.
 */
#include "config.h"

#include "cloud/pitr.h"

#include "util/buf.h"
#include "util/crc32c.h"
#include "util/endian.h"
#include "util/grow.h"
#include "util/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- listing ---- */

struct hobj {
	uint64_t gen, batch;
	uint32_t part;
};

struct hlist {
	struct hobj *batches, *snaps, *idx;
	size_t nb, cb, ns, cs, ni, ci;
	bool floor;
};

static int push(struct hobj **v, size_t *n, size_t *cap, struct hobj o)
{
	if (*n == *cap) {
		struct hobj *nv = grow_array(*v, cap, *n + 1, 64, sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		*v = nv;
	}
	(*v)[(*n)++] = o;
	return 0;
}

static int list_one(void *arg, const char *name)
{
	struct hlist *l = arg;
	struct hobj o;
	int kind = feed_key_parse(name, &o.gen, &o.batch, &o.part);

	if (kind == FEED_BATCH)
		return push(&l->batches, &l->nb, &l->cb, o);
	if (kind == FEED_SNAP)
		return push(&l->snaps, &l->ns, &l->cs, o);
	if (!pitr_key_index_parse(name, &o.gen, &o.batch)) {
		o.part = 0;
		return push(&l->idx, &l->ni, &l->ci, o);
	}
	if (!strcmp(name, PITR_FLOOR_KEY))
		l->floor = true;
	return 0;
}

static int cmp_hobj(const void *a, const void *b)
{
	const struct hobj *x = a, *y = b;

	if (x->gen != y->gen)
		return x->gen < y->gen ? -1 : 1;
	if (x->batch != y->batch)
		return x->batch < y->batch ? -1 : 1;
	if (x->part != y->part)
		return x->part < y->part ? -1 : 1;
	return 0;
}

static void hlist_free(struct hlist *l)
{
	free(l->batches);
	free(l->snaps);
	free(l->idx);
	memset(l, 0, sizeof(*l));
}

static int hlist_load(struct cloud_target *t, struct hlist *l)
{
	int rc;

	memset(l, 0, sizeof(*l));
	rc = cloud_target_list_all(t, PITR_SPACE, list_one, l);
	if (rc == -ENOENT)
		rc = 0;
	if (rc) {
		hlist_free(l);
		return rc;
	}
	if (l->nb)
		qsort(l->batches, l->nb, sizeof(*l->batches), cmp_hobj);
	if (l->ns)
		qsort(l->snaps, l->ns, sizeof(*l->snaps), cmp_hobj);
	if (l->ni)
		qsort(l->idx, l->ni, sizeof(*l->idx), cmp_hobj);
	return 0;
}

static bool pos_le(uint64_t g1, uint64_t b1, uint64_t g2, uint64_t b2)
{
	return g1 < g2 || (g1 == g2 && b1 <= b2);
}

/* ---- fetching ---- */

struct fetched {
	void *buf;
	struct feed_object o;
};

static void fetched_release(struct fetched *f)
{
	feed_release(&f->o);
	free(f->buf);
	f->buf = NULL;
}

/* Get and decode the object named by (kind, h): -ENOENT when absent (not
 * logged), -EIO when it is not what its name says (logged). */
static int fetch(struct cloud_target *t, enum feed_kind kind,
		 const struct hobj *h, struct fetched *f, uint64_t *bytes)
{
	char key[FEED_KEY_MAX];
	size_t len = 0;
	uint64_t seq;
	int rc;

	memset(f, 0, sizeof(*f));
	if (kind == FEED_BATCH)
		feed_key_batch(key, h->gen, h->batch);
	else
		feed_key_snap(key, h->gen, h->batch, h->part);
	rc = cloud_target_get(t, PITR_SPACE, key, &f->buf, &len, &seq);
	if (rc == -EBADMSG || rc == -EFBIG) {
		log_error("history object '%s' in '%s' cannot be read (%s): "
			  "refused",
			  key, cloud_target_url(t), strerror(-rc));
		return -EIO;
	}
	if (rc)
		return rc;
	if (bytes)
		*bytes += len;
	rc = feed_decode(f->buf, len, &f->o);
	if (rc == -ENOMEM) {
		free(f->buf);
		f->buf = NULL;
		return rc;
	}
	if (!rc && (f->o.kind != kind || f->o.gen != h->gen ||
		    f->o.batch != h->batch || f->o.part != h->part))
		rc = -EBADMSG;
	if (rc) {
		log_error("history object '%s' in '%s' is corrupt or not what "
			  "its name says: refused",
			  key, cloud_target_url(t));
		fetched_release(f);
		return -EIO;
	}
	return 0;
}

/* ---- the walk ---- */

typedef int (*rec_fn)(void *arg, const struct feed_record *r);

struct walk {
	struct cloud_target *t;
	const struct pitr_limit *lim;
	bool oldest_base; /* versions: the oldest snapshot, not the newest */
	rec_fn snap_fn; /* records of the base snapshot */
	rec_fn fn; /* records of the feed */
	void *arg;
	bool given_base; /* pitr_tail: the base is this snapshot, not read */
	uint64_t base_gen, base_batch;
	int64_t base_time;
	struct pitr_info info;
};

static bool name_wanted(const struct pitr_limit *lim,
			const struct feed_record *r)
{
	return (!lim->space || !strcmp(lim->space, r->space)) &&
	       (!lim->key || !strcmp(lim->key, r->key));
}

/* Apply the snapshot group at l->snaps[i..] (part 0 already in f0). */
static int apply_snapshot(struct walk *w, const struct hlist *l, size_t i,
			  struct fetched *f0)
{
	uint32_t parts = f0->o.parts;
	int64_t time = f0->o.last_ns;
	int rc = 0;

	for (uint32_t p = 0; p < parts && !rc; p++) {
		struct fetched fp, *f = f0;
		struct hobj h = l->snaps[i];

		if (p > 0) {
			h.part = p;
			rc = fetch(w->t, FEED_SNAP, &h, &fp, &w->info.bytes);
			if (rc == -ENOENT) {
				log_error("base snapshot %016" PRIx64
					  "-%016" PRIx64 " in '%s' lacks part "
					  "%" PRIu32 ": refused",
					  h.gen, h.batch,
					  cloud_target_url(w->t), p);
				rc = -EIO;
			}
			if (rc)
				break;
			f = &fp;
			if (fp.o.parts != parts || fp.o.last_ns != time ||
			    memcmp(fp.o.id, f0->o.id, FEED_ID_LEN)) {
				log_error("base snapshot %016" PRIx64
					  "-%016" PRIx64 " in '%s': its parts "
					  "disagree: refused",
					  h.gen, h.batch,
					  cloud_target_url(w->t));
				fetched_release(&fp);
				rc = -EIO;
				break;
			}
		}
		w->info.objects++;
		for (size_t k = 0; k < f->o.n && !rc; k++)
			if (name_wanted(w->lim, &f->o.rec[k]))
				rc = w->snap_fn(w->arg, &f->o.rec[k]);
		if (p > 0)
			fetched_release(&fp);
	}
	if (!rc) {
		w->info.any = true;
		w->info.gen = l->snaps[i].gen;
		w->info.batch = l->snaps[i].batch;
		w->info.time_ns = time;
	}
	return rc;
}

/* Find and apply the base: *found, and its position. */
static int pick_base(struct walk *w, const struct hlist *l, bool *found)
{
	size_t n = l->ns;

	*found = false;
	for (size_t k = 0; k < n; k++) {
		/* newest first, or oldest first for versions */
		size_t i = w->oldest_base ? k : n - 1 - k;
		const struct hobj *h = &l->snaps[i];
		struct fetched f0;
		int rc;

		if (h->part != 0)
			continue;
		if (w->lim->by_position &&
		    !pos_le(h->gen, h->batch, w->lim->gen, w->lim->batch))
			continue;
		rc = fetch(w->t, FEED_SNAP, h, &f0, &w->info.bytes);
		if (rc == -ENOENT)
			continue;
		if (rc)
			return rc;
		if (f0.o.last_ns > w->lim->at_ns) {
			fetched_release(&f0);
			continue;
		}
		rc = apply_snapshot(w, l, i, &f0);
		fetched_release(&f0);
		if (!rc)
			*found = true;
		return rc;
	}
	return 0;
}

static int walk_run(struct walk *w)
{
	struct hlist l;
	bool based = false, have_prev = false, stop = false, have_id = false;
	uint64_t pg = 0, pb = 0;
	uint8_t gen_id[FEED_ID_LEN];
	int rc;

	memset(&w->info, 0, sizeof(w->info));
	rc = hlist_load(w->t, &l);
	if (rc)
		return rc;
	if (w->given_base) {
		based = true;
		w->info.any = true;
		w->info.gen = w->base_gen;
		w->info.batch = w->base_batch;
		w->info.time_ns = w->base_time;
	} else {
		rc = pick_base(w, &l, &based);
	}
	if (rc)
		goto out;
	if (based) {
		pg = w->info.gen;
		pb = w->info.batch;
		have_prev = true;
	} else if (l.floor) {
		log_error("no restore point at or before the time asked for "
			  "is kept in '%s' (pruned by retention)",
			  cloud_target_url(w->t));
		rc = -ERANGE;
		goto out;
	}
	for (size_t i = 0; i < l.nb && !rc && !stop; i++) {
		const struct hobj *h = &l.batches[i];
		struct fetched f;
		bool same_gen;

		if (have_prev && pos_le(h->gen, h->batch, pg, pb))
			continue; /* in the base already */
		if (w->lim->by_position &&
		    !pos_le(h->gen, h->batch, w->lim->gen, w->lim->batch))
			break;
		same_gen = have_prev && h->gen == pg;
		if (h->batch != (same_gen ? pb + 1 : 0)) {
			log_error("feed of '%s': batch %016" PRIx64
				  "-%016" PRIx64 " does not follow %016" PRIx64
				  "-%016" PRIx64
				  " (a batch is missing): refused",
				  cloud_target_url(w->t), h->gen, h->batch, pg,
				  pb);
			rc = -EIO;
			break;
		}
		rc = fetch(w->t, FEED_BATCH, h, &f, &w->info.bytes);
		if (rc == -ENOENT) {
			log_error("feed batch %016" PRIx64 "-%016" PRIx64
				  " of '%s' vanished while read: refused",
				  h->gen, h->batch, cloud_target_url(w->t));
			rc = -EIO;
		}
		if (rc)
			break;
		if (same_gen && have_id &&
		    memcmp(gen_id, f.o.id, FEED_ID_LEN)) {
			log_error("feed batch %016" PRIx64 "-%016" PRIx64
				  " of '%s' was written by another store than "
				  "its generation: refused",
				  h->gen, h->batch, cloud_target_url(w->t));
			fetched_release(&f);
			rc = -EIO;
			break;
		}
		memcpy(gen_id, f.o.id, FEED_ID_LEN);
		have_id = true;
		w->info.objects++;
		for (size_t k = 0; k < f.o.n && !rc; k++) {
			const struct feed_record *r = &f.o.rec[k];

			if (r->time_ns > w->lim->at_ns) {
				stop = true;
				break;
			}
			w->info.any = true;
			w->info.time_ns = r->time_ns;
			if (name_wanted(w->lim, r))
				rc = w->fn(w->arg, r);
		}
		fetched_release(&f);
		if (!stop) {
			w->info.gen = h->gen;
			w->info.batch = h->batch;
		}
		pg = h->gen;
		pb = h->batch;
		have_prev = true;
	}
out:
	hlist_free(&l);
	return rc;
}

/* ---- the state ---- */

struct sdoc {
	struct feed_record r;
	uint8_t *body;
	bool used;
};

struct pitr_state {
	struct sdoc *v;
	size_t cap, n;
	struct pitr_info info;
	bool keep_dels; /* pitr_build_tail: a delete is kept as a record */
};

static uint64_t hash_name(const char *s, const char *k)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	h = (h ^ '/') * 1099511628211ull;
	for (; *k; k++)
		h = (h ^ (uint8_t)*k) * 1099511628211ull;
	return h;
}

static struct sdoc *slot_of(struct pitr_state *st, const char *s, const char *k)
{
	size_t i = hash_name(s, k) & (st->cap - 1);

	while (st->v[i].used &&
	       (strcmp(st->v[i].r.space, s) || strcmp(st->v[i].r.key, k)))
		i = (i + 1) & (st->cap - 1);
	return &st->v[i];
}

static int state_grow(struct pitr_state *st)
{
	struct pitr_state n = {
		NULL, st->cap ? 2 * st->cap : 1024, 0, {}, st->keep_dels
	};

	n.v = calloc(n.cap, sizeof(*n.v));
	if (!n.v)
		return -ENOMEM;
	for (size_t i = 0; i < st->cap; i++)
		if (st->v[i].used)
			*slot_of(&n, st->v[i].r.space, st->v[i].r.key) =
				st->v[i];
	free(st->v);
	st->v = n.v;
	st->cap = n.cap;
	return 0;
}

/* Remove the slot's entry, keeping the probe chains whole. */
static void state_del(struct pitr_state *st, struct sdoc *d)
{
	size_t i = (size_t)(d - st->v);

	free(d->body);
	memset(d, 0, sizeof(*d));
	st->n--;
	for (size_t j = (i + 1) & (st->cap - 1); st->v[j].used;
	     j = (j + 1) & (st->cap - 1)) {
		struct sdoc e = st->v[j];

		memset(&st->v[j], 0, sizeof(st->v[j]));
		*slot_of(st, e.r.space, e.r.key) = e;
	}
}

static int state_apply(void *arg, const struct feed_record *r)
{
	struct pitr_state *st = arg;
	struct sdoc *d;
	uint8_t *body = NULL;

	if ((st->n + 1) * 2 > st->cap && state_grow(st))
		return -ENOMEM;
	d = slot_of(st, r->space, r->key);
	if (r->kind == FEED_REC_DEL && !st->keep_dels) {
		if (d->used)
			state_del(st, d);
		return 0;
	}
	body = malloc(r->body_len ? r->body_len : 1);
	if (!body)
		return -ENOMEM;
	if (r->body_len)
		memcpy(body, r->body, r->body_len);
	if (d->used)
		free(d->body);
	else
		st->n++;
	d->used = true;
	d->r = *r;
	d->body = body;
	d->r.body = body;
	return 0;
}

/* Run walk w into st (its arg): on success *out owns st and *info (may
 * be NULL) tells where it stands; on failure st is freed. */
static int state_walk(struct pitr_state *st, struct walk *w,
		      struct pitr_info *info, struct pitr_state **out)
{
	int rc = state_grow(st);

	if (!rc)
		rc = walk_run(w);
	if (rc) {
		pitr_free(st);
		return rc;
	}
	st->info = w->info;
	if (info)
		*info = w->info;
	*out = st;
	return 0;
}

/* A snapshot names each document once. */
static int state_apply_snap(void *arg, const struct feed_record *r)
{
	struct pitr_state *st = arg;

	if (st->cap && slot_of(st, r->space, r->key)->used) {
		log_error("a base snapshot names a document twice: refused");
		return -EIO;
	}
	return state_apply(arg, r);
}

void pitr_free(struct pitr_state *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->cap; i++)
		if (st->v[i].used)
			free(st->v[i].body);
	free(st->v);
	free(st);
}

int pitr_build(struct cloud_target *t, const struct pitr_limit *limit,
	       struct pitr_state **out, struct pitr_info *info)
{
	struct pitr_state *st = calloc(1, sizeof(*st));
	struct walk w;

	if (!st)
		return -ENOMEM;
	memset(&w, 0, sizeof(w));
	w.t = t;
	w.lim = limit;
	w.snap_fn = state_apply_snap;
	w.fn = state_apply;
	w.arg = st;
	return state_walk(st, &w, info, out);
}

static int cmp_sdoc(const void *a, const void *b)
{
	const struct sdoc *x = *(const struct sdoc *const *)a;
	const struct sdoc *y = *(const struct sdoc *const *)b;
	int c = strcmp(x->r.space, y->r.space);

	return c ? c : strcmp(x->r.key, y->r.key);
}

int pitr_each(struct pitr_state *st, pitr_doc_fn fn, void *arg)
{
	struct sdoc **v = calloc(st->n ? st->n : 1, sizeof(*v));
	size_t n = 0;
	int rc = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < st->cap; i++)
		if (st->v[i].used)
			v[n++] = &st->v[i];
	qsort(v, n, sizeof(*v), cmp_sdoc);
	for (size_t i = 0; i < n && !rc; i++)
		rc = fn(arg, &v[i]->r);
	free(v);
	return rc;
}

size_t pitr_count(const struct pitr_state *st)
{
	return st->n;
}

const struct feed_record *pitr_find(struct pitr_state *st, const char *space,
				    const char *key)
{
	struct sdoc *d = slot_of(st, space, key);

	return d->used ? &d->r : NULL;
}

/* ---- versions ---- */

int pitr_versions(struct cloud_target *t, const char *space, const char *key,
		  pitr_doc_fn fn, void *arg)
{
	struct pitr_limit lim = { INT64_MAX, false, 0, 0, space, key };
	struct walk w;

	memset(&w, 0, sizeof(w));
	w.t = t;
	w.lim = &lim;
	w.oldest_base = true;
	w.snap_fn = fn;
	w.fn = fn;
	w.arg = arg;
	return walk_run(&w);
}

/* ---- snapshots ---- */

static size_t rec_bytes(const struct feed_record *r)
{
	return 52 + strlen(r->space) + strlen(r->key) + r->body_len;
}

struct snapw {
	struct cloud_target *t;
	const uint8_t *id;
	uint64_t gen, batch;
	int64_t time;
	size_t part_bytes;
	uint32_t parts, part;
	size_t cur; /* pass 1: bytes of the current part */
	struct feed_writer w;
	uint64_t bytes;
	struct cbuf ix; /* pass 1: the index's entries */
	uint32_t nix;
};

static int snap_put(struct snapw *s)
{
	char key[FEED_KEY_MAX];
	void *buf;
	size_t len;
	int rc = feed_writer_finish(&s->w, &buf, &len);

	if (rc)
		return rc;
	feed_key_snap(key, s->gen, s->batch, s->part);
	rc = cloud_target_put(s->t, PITR_SPACE, key, buf, len, 1);
	free(buf);
	s->bytes += len;
	return rc;
}

/* One entry of the index (docs/cloud.md, "The base snapshot index"). */
static int index_add(struct snapw *s, const struct feed_record *r,
		     uint32_t part)
{
	uint8_t e[PITR_INDEX_ENTRY];
	size_t sl = strlen(r->space), kl = strlen(r->key);
	char hex[65];

	memset(e, 0, sizeof(e));
	e[0] = (uint8_t)sl;
	e[1] = (uint8_t)kl;
	le32_put(e + 4, part);
	le64_put(e + 8, r->seq);
	le32_put(e + 16, r->mode);
	le32_put(e + 20, r->uid);
	le32_put(e + 24, r->gid);
	le32_put(e + 28, (uint32_t)r->body_len);
	le64_put(e + 32, (uint64_t)r->mtime_ns);
	le64_put(e + 40, (uint64_t)r->ctime_ns);
	cloud_doc_checksum(r->body, r->body_len, hex);
	for (int i = 0; i < 32; i++) {
		unsigned v;

		sscanf(hex + 2 * i, "%2x", &v);
		e[48 + i] = (uint8_t)v;
	}
	cbuf_add(&s->ix, e, sizeof(e));
	cbuf_add(&s->ix, r->space, sl);
	cbuf_add(&s->ix, r->key, kl);
	s->nix++;
	return cbuf_failed(&s->ix) ? -ENOMEM : 0;
}

/* Seal and put the index (before part 0: a complete snapshot has it). */
static int index_put(struct snapw *s)
{
	uint8_t h[PITR_INDEX_HDR];
	char key[FEED_KEY_MAX];
	struct cbuf b = CBUF_INIT;
	size_t len = PITR_INDEX_HDR + s->ix.len + 4;
	uint8_t crc[4];
	int rc;

	memset(h, 0, sizeof(h));
	memcpy(h, PITR_INDEX_MAGIC, 4);
	le16_put(h + 4, 1);
	le64_put(h + 8, len);
	memcpy(h + 16, s->id, FEED_ID_LEN);
	le64_put(h + 32, s->gen);
	le64_put(h + 40, s->batch);
	le64_put(h + 48, (uint64_t)s->time);
	le32_put(h + 56, s->parts);
	le32_put(h + 60, s->nix);
	cbuf_grow(&b, len);
	cbuf_add(&b, h, sizeof(h));
	cbuf_add(&b, s->ix.p, s->ix.len);
	if (cbuf_failed(&b)) {
		cbuf_release(&b);
		return -ENOMEM;
	}
	le32_put(crc, crc32c(b.p, b.len));
	cbuf_add(&b, crc, 4);
	if (cbuf_failed(&b)) {
		cbuf_release(&b);
		return -ENOMEM;
	}
	pitr_key_index(key, s->gen, s->batch);
	rc = cloud_target_put(s->t, PITR_SPACE, key, b.p, b.len, 1);
	if (!rc)
		s->bytes += b.len;
	cbuf_release(&b);
	return rc;
}

/* Pass 1: where the parts end (the same rule as the writing passes). */
static int snap_rec(void *arg, const struct feed_record *r)
{
	struct snapw *s = arg;
	size_t n = rec_bytes(r);

	if (s->cur && s->cur + n > s->part_bytes) {
		s->parts++;
		s->cur = 0;
	}
	s->cur += n;
	return index_add(s, r, s->parts - 1);
}

/* Write parts 1.. (skipping part 0's records), then part 0: a snapshot
 * is complete for readers only once part 0 exists. */
struct snap0 {
	struct snapw *s;
	size_t cur;
	bool first_done;
};

static int snap0_rec(void *arg, const struct feed_record *r)
{
	struct snap0 *z = arg;
	size_t n = rec_bytes(r);

	if (z->first_done)
		return 1;
	if (z->cur && z->cur + n > z->s->part_bytes) {
		z->first_done = true;
		return 1;
	}
	z->cur += n;
	return feed_writer_add(&z->s->w, r);
}

struct snaprest {
	struct snapw *s;
	size_t cur;
	uint32_t part;
};

static int snaprest_rec(void *arg, const struct feed_record *r)
{
	struct snaprest *z = arg;
	struct snapw *s = z->s;
	size_t n = rec_bytes(r);
	int rc;

	if (z->cur && z->cur + n > s->part_bytes) {
		if (z->part > 0) {
			rc = snap_put(s);
			if (rc)
				return rc;
		}
		z->part++;
		z->cur = 0;
		s->part = z->part;
		rc = feed_writer_init(&s->w, FEED_SNAP, s->id, s->gen, s->batch,
				      z->part, s->parts, s->time);
		if (rc)
			return rc;
	}
	z->cur += n;
	return z->part == 0 ? 0 : feed_writer_add(&s->w, r);
}

int pitr_snapshot(struct cloud_target *t, const uint8_t id[FEED_ID_LEN],
		  uint64_t gen, uint64_t batch, size_t part_bytes,
		  uint64_t *bytes)
{
	struct pitr_limit lim = { INT64_MAX, true, gen, batch, NULL, NULL };
	struct pitr_state *st = NULL;
	struct pitr_info info;
	struct snapw s;
	struct snaprest zr;
	struct snap0 z0;
	int rc;

	rc = pitr_build(t, &lim, &st, &info);
	if (rc)
		return rc;
	if (info.gen != gen || info.batch != batch) {
		pitr_free(st);
		return -ENOENT; /* the feed does not reach that batch */
	}
	memset(&s, 0, sizeof(s));
	s.t = t;
	s.id = id;
	s.gen = gen;
	s.batch = batch;
	s.time = info.time_ns;
	s.part_bytes = part_bytes ? part_bytes : 1;
	s.parts = 1;
	s.ix = (struct cbuf)CBUF_INIT;
	/* the snapshot's time: no record in it is later */
	for (size_t i = 0; i < st->cap; i++)
		if (st->v[i].used && st->v[i].r.time_ns > s.time)
			s.time = st->v[i].r.time_ns;
	rc = pitr_each(st, snap_rec, &s); /* pass 1: count parts */
	if (rc)
		goto out;
	/* parts 1.. */
	memset(&zr, 0, sizeof(zr));
	zr.s = &s;
	rc = pitr_each(st, snaprest_rec, &zr);
	if (!rc && zr.part > 0)
		rc = snap_put(&s);
	else if (zr.part > 0)
		feed_writer_release(&s.w);
	if (rc)
		goto out;
	/* the index, then part 0 */
	rc = index_put(&s);
	if (rc)
		goto out;
	rc = feed_writer_init(&s.w, FEED_SNAP, id, gen, batch, 0, s.parts,
			      s.time);
	if (rc)
		goto out;
	memset(&z0, 0, sizeof(z0));
	z0.s = &s;
	rc = pitr_each(st, snap0_rec, &z0);
	if (rc == 1)
		rc = 0;
	if (rc) {
		feed_writer_release(&s.w);
		goto out;
	}
	s.part = 0;
	rc = snap_put(&s);
	if (!rc && bytes)
		*bytes = s.bytes;
out:
	cbuf_release(&s.ix);
	pitr_free(st);
	return rc;
}

/* ---- pruning ---- */

static int floor_read(struct cloud_target *t, int64_t *ns)
{
	void *buf = NULL;
	size_t len = 0;
	uint64_t seq, v = 0;
	int rc = cloud_target_get(t, PITR_SPACE, PITR_FLOOR_KEY, &buf, &len,
				  &seq);
	const char *p = buf;

	if (rc)
		return rc;
	rc = len < 2 || len > 21 || p[len - 1] != '\n' ? -EIO : 0;
	for (size_t i = 0; !rc && i + 1 < len; i++) {
		if (p[i] < '0' || p[i] > '9' || v > (uint64_t)INT64_MAX / 10)
			rc = -EIO;
		else
			v = v * 10 + (uint64_t)(p[i] - '0');
	}
	free(buf);
	if (!rc && v > (uint64_t)INT64_MAX)
		rc = -EIO;
	if (rc)
		log_error("the history floor in '%s' is corrupt",
			  cloud_target_url(t));
	*ns = (int64_t)v;
	return rc;
}

static int floor_write(struct cloud_target *t, int64_t ns)
{
	char b[32];
	int n = snprintf(b, sizeof(b), "%" PRId64 "\n", ns < 0 ? 0 : ns);

	return cloud_target_put(t, PITR_SPACE, PITR_FLOOR_KEY, b, (size_t)n, 1);
}

int pitr_prune(struct cloud_target *t, int64_t horizon_ns, uint64_t *removed)
{
	struct hlist l;
	struct hobj keep;
	int64_t keep_time = 0, old_floor = 0;
	bool found = false;
	uint64_t n = 0;
	char key[FEED_KEY_MAX];
	int rc;

	if (removed)
		*removed = 0;
	rc = hlist_load(t, &l);
	if (rc)
		return rc;
	/* the newest complete snapshot at or before the horizon */
	for (size_t k = l.ns; k-- > 0 && !found;) {
		struct fetched f;
		bool complete = true;

		if (l.snaps[k].part != 0)
			continue;
		rc = fetch(t, FEED_SNAP, &l.snaps[k], &f, NULL);
		if (rc == -ENOENT)
			continue;
		if (rc)
			goto out;
		if (f.o.last_ns <= horizon_ns) {
			for (uint32_t p = 1; p < f.o.parts && complete; p++) {
				struct hobj h = l.snaps[k];
				struct cloud_object_info oi;

				h.part = p;
				feed_key_snap(key, h.gen, h.batch, p);
				complete = !cloud_target_head(t, PITR_SPACE,
							      key, &oi);
			}
			if (complete) {
				found = true;
				keep = l.snaps[k];
				keep_time = f.o.last_ns;
			}
		}
		fetched_release(&f);
	}
	if (!found)
		goto out;
	if (l.floor && !floor_read(t, &old_floor) && old_floor >= keep_time)
		;
	else if ((rc = floor_write(t, keep_time)))
		goto out;
	for (size_t i = 0; i < l.ns && !rc; i++) {
		const struct hobj *h = &l.snaps[i];

		if (pos_le(keep.gen, keep.batch, h->gen, h->batch))
			break;
		feed_key_snap(key, h->gen, h->batch, h->part);
		rc = cloud_target_delete(t, PITR_SPACE, key);
		n += !rc;
	}
	for (size_t i = 0; i < l.ni && !rc; i++) {
		const struct hobj *h = &l.idx[i];

		if (pos_le(keep.gen, keep.batch, h->gen, h->batch))
			break;
		pitr_key_index(key, h->gen, h->batch);
		rc = cloud_target_delete(t, PITR_SPACE, key);
		n += !rc;
	}
	for (size_t i = 0; i < l.nb && !rc; i++) {
		const struct hobj *h = &l.batches[i];

		if (!pos_le(h->gen, h->batch, keep.gen, keep.batch))
			break;
		feed_key_batch(key, h->gen, h->batch);
		rc = cloud_target_delete(t, PITR_SPACE, key);
		n += !rc;
	}
out:
	hlist_free(&l);
	if (removed)
		*removed = n;
	return rc;
}

int pitr_last_gen(struct cloud_target *t, uint64_t *gen)
{
	struct hlist l;
	int rc = hlist_load(t, &l);

	*gen = 0;
	if (rc)
		return rc;
	if (l.nb)
		*gen = l.batches[l.nb - 1].gen;
	if (l.ns && l.snaps[l.ns - 1].gen > *gen)
		*gen = l.snaps[l.ns - 1].gen;
	hlist_free(&l);
	return 0;
}

/* ---- base snapshot indexes (pitr.h; docs/cloud.md; the codec in
 * snap_index.c) ---- */

int pitr_index_get(struct cloud_target *t, uint64_t gen, uint64_t batch,
		   struct pitr_index *out, uint64_t *bytes)
{
	char key[FEED_KEY_MAX];
	const char *why = NULL;
	void *buf = NULL;
	size_t len = 0;
	uint64_t seq;
	int rc;

	memset(out, 0, sizeof(*out));
	pitr_key_index(key, gen, batch);
	rc = cloud_target_get(t, PITR_SPACE, key, &buf, &len, &seq);
	if (rc == -EBADMSG || rc == -EFBIG)
		why = "it cannot be read";
	else if (rc)
		return rc;
	if (bytes)
		*bytes += len;
	if (!why) {
		rc = pitr_index_decode(buf, len, out, &why);
		if (rc == -ENOMEM) {
			free(buf);
			return rc;
		}
		if (!rc && (out->gen != gen || out->batch != batch)) {
			pitr_index_free(out);
			why = "it is another snapshot's";
		}
	}
	free(buf);
	if (why) {
		log_error("base snapshot index '%s' in '%s' is refused: %s",
			  key, cloud_target_url(t), why);
		return -EBADMSG;
	}
	return 0;
}

int pitr_newest_base(struct cloud_target *t, bool by_position, uint64_t gen,
		     uint64_t batch, struct pitr_base *out)
{
	struct hlist l;
	int rc = hlist_load(t, &l);

	memset(out, 0, sizeof(*out));
	if (rc)
		return rc;
	rc = -ENOENT;
	for (size_t k = l.ns; k-- > 0;) {
		const struct hobj *h = &l.snaps[k];

		if (h->part != 0 ||
		    (by_position && !pos_le(h->gen, h->batch, gen, batch)))
			continue;
		out->gen = h->gen;
		out->batch = h->batch;
		for (size_t i = 0; i < l.ni; i++)
			if (l.idx[i].gen == h->gen &&
			    l.idx[i].batch == h->batch)
				out->indexed = true;
		rc = 0;
		break;
	}
	hlist_free(&l);
	return rc;
}

int pitr_indexes(struct cloud_target *t, uint64_t gen, uint64_t batch,
		 struct pitr_base *out, size_t max, size_t *n)
{
	struct hlist l;
	int rc = hlist_load(t, &l);

	*n = 0;
	if (rc)
		return rc;
	for (size_t k = l.ni; k-- > 0 && *n < max;) {
		if (!pos_le(l.idx[k].gen, l.idx[k].batch, gen, batch))
			continue;
		out[*n].gen = l.idx[k].gen;
		out[*n].batch = l.idx[k].batch;
		out[*n].indexed = true;
		(*n)++;
	}
	hlist_free(&l);
	return 0;
}

int pitr_build_tail(struct cloud_target *t, uint64_t gen, uint64_t batch,
		    int64_t snap_time_ns, const struct pitr_limit *limit,
		    struct pitr_state **out, struct pitr_info *info)
{
	struct pitr_state *st = calloc(1, sizeof(*st));
	struct walk w;

	if (!st)
		return -ENOMEM;
	st->keep_dels = true;
	memset(&w, 0, sizeof(w));
	w.t = t;
	w.lim = limit;
	w.fn = state_apply;
	w.snap_fn = state_apply;
	w.arg = st;
	w.given_base = true;
	w.base_gen = gen;
	w.base_batch = batch;
	w.base_time = snap_time_ns;
	return state_walk(st, &w, info, out);
}

/* ---- times ---- */

static bool digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		*v = *v * 10 + (s[i] - '0');
	}
	return true;
}

int pitr_parse_time(const char *s, int64_t *ns)
{
	struct tm tm;
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	int64_t frac = 0, scale = 100000000;
	time_t secs;
	const char *p;

	if (strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' ||
	    !digits(s + 5, 2, &mo) || s[7] != '-' || !digits(s + 8, 2, &d) ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) ||
	    s[16] != ':' || !digits(s + 17, 2, &sec))
		return -EINVAL;
	p = s + 19;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		for (; *p >= '0' && *p <= '9'; p++) {
			frac += scale * (*p - '0');
			scale /= 10;
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '+' ? 1 : -1;
		if (!digits(p + 1, 2, &oh) || p[3] != ':' ||
		    !digits(p + 4, 2, &om))
			return -EINVAL;
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    sec > 60 || oh > 23 || om > 59 || y < 1970)
		return -EINVAL;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	secs = timegm(&tm);
	if (secs == (time_t)-1)
		return -EINVAL;
	secs -= sign * (oh * 3600 + om * 60);
	*ns = (int64_t)secs * 1000000000 + frac;
	return 0;
}

void pitr_format_time(int64_t ns, char out[40])
{
	time_t secs = (time_t)(ns / 1000000000);
	long frac = (long)(ns % 1000000000);
	struct tm tm;

	if (frac < 0) {
		frac += 1000000000;
		secs--;
	}
	gmtime_r(&secs, &tm);
	if (tm.tm_year > 9999 - 1900 || tm.tm_year < -1900)
		tm.tm_year = 0;
	snprintf(out, 40, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ",
		 (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100,
		 tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
		 tm.tm_sec % 100, frac % 1000000000);
}
