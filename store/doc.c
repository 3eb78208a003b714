/*
 * doc.c - materialized documents: entry codec, cache, per-document locks,
 * compaction.
 *
 * The entry format and the meaning of the options are in doc.h.  This file
 * holds the mechanics.
 *
 * Structures:
 *   struct doc      one per store: a map of cache entries by id
 *                   (util/u64map.h) and two least-recently-used lists of
 *                   them, probation and protected (below).
 *   struct doc_ent  one per document that was used recently: its lock, the
 *                   current snapshot and, for a document being patched,
 *                   the materialized json_t.
 *   struct doc_snap immutable emitted text; reference-counted so an open
 *                   file keeps its version after the document moved on.
 *
 * What an entry holds.  A read needs only the emitted text (the snapshot),
 * so materialization for a read keeps the text and frees the json_t it
 * built; a replacement keeps the text it stored and builds no json_t at
 * all.  The json_t is built (parsed from the snapshot's text, which is
 * that value emitted) by the first patch that needs it and kept while
 * the document is patched.  An entry is charged what it holds:
 * DOC_ENT_OVERHEAD (the entry, its snapshot's header, the table slot and
 * allocator headers) + the text + twice the text for a json_t.
 *
 * Scan resistance (segmented LRU).  A new entry goes to the protected
 * list while that list is charged at most three quarters of the budget
 * (DOC_PROTECTED_SHARE), else to probation; an entry used again while on probation moves
 * to protected, pushing protected's least recently used entries back to
 * probation when protected passes its share.  Eviction takes probation's
 * least recently used first, protected's only when probation is empty.
 * So a scan of more documents than the budget holds (tar, find -exec cat,
 * a backup) churns probation and leaves what protected holds in place:
 * the documents used twice, or the first ones cached; a repeated scan
 * hits that part every pass where a plain LRU list would hit nothing.
 *
 * Locks (never take a lock of an earlier row while holding a later one):
 *   1. doc_ent.mu   serializes every operation on one document and guards
 *                   value, snap and seq of its entry.
 *   2. doc.mu       guards the hash table, the LRU lists, refs, charge, seg
 *                   and uses of every entry, charged and prot_charged.
 * The store is called with at most one doc_ent.mu held; its callbacks only
 * touch the callback's own state.  Materialization copies the raw entries
 * out (store_read holds the store's lock) and parses them afterwards, so a
 * large document's parse never holds up writers of other documents.
 *
 * Invariants:
 *   1. An entry with refs > 0 is never freed; only an entry with refs == 0
 *      is evicted, and nobody holds the mu of such an entry (a thread takes
 *      a reference before locking mu and drops it after unlocking).
 *   2. value != NULL implies snap != NULL; snap reflects the store's
 *      document at sequence number seq, and so does value when set:
 *      snap->text is value emitted.  base_seq and tail_bytes are valid
 *      while snap is set.
 *   3. charged is the sum of charge over all entries, prot_charged that
 *      over the entries on the protected list; every entry is on the
 *      list its seg names.
 *   4. A failed operation leaves the document unchanged in the store; if it
 *      had already changed value in place, value is dropped (the next call
 *      materializes again), so the cache never holds a state the store
 *      does not.
 * A debug build (configure --enable-debug, util/debug.h) checks 1 and 3
 * and the table's shape with doc_invariants() whenever doc.mu is taken to
 * change them, and 2 (but for "snap->text is value emitted", which would
 * allocate) with ent_invariants() when an operation lets go of an entry.
 *
 * Write path of doc_patch(): emit the patch (size check), lock the
 * document, make sure value is current (compare seq with the store's),
 * merge in place, emit the result (size check), store_append, publish a new
 * snapshot; then compact when the thresholds say so.  A failed compaction
 * is logged and changes nothing: the patch itself succeeded.
 *
 * doc_patch_batch() does the same for n patches with one store call
 * (store_append_batch: one frame, all or none) when it can judge the size
 * limit from the final state alone (see batch_locked()); otherwise, or
 * when the frame fails, it takes the patches one at a time, so its result
 * and its errors are always those of n doc_patch() calls.
 */
#include "store/doc.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "json/json.h"
#include "store/snapshot.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/debug.h"
#include "util/grow.h"
#include "util/log.h"
#include "util/u64map.h"

struct doc_snap {
	atomic_uint refs;
	uint64_t seq;
	size_t len;
	char *text;
};

enum ent_seg {
	SEG_PROBATION,
	SEG_PROTECTED
};

struct doc_ent {
	uint64_t id;
	struct doc_ent *prev, *next;
	unsigned refs;
	unsigned uses; /* ent_get calls that found the entry cached */
	enum ent_seg seg;
	size_t charge;
	pthread_mutex_t mu;
	json_t *value;
	struct doc_snap *snap;
	uint64_t seq;
	/* while snap is set: the newest whole-document entry (or the
	 * first) and the bytes of the entries from it on */
	uint64_t base_seq, tail_bytes;
};

struct doc {
	struct store *s;
	struct doc_options o;
	pthread_mutex_t mu;
	struct u64map tab; /* id -> struct doc_ent */
	/* sentinels: .next is the most recent */
	struct doc_ent lru[2]; /* by enum ent_seg */
	uint64_t charged, prot_charged;
	atomic_uint_fast64_t hits, misses, patches, replaces, compactions;
};

enum {
	DOC_MIN_ENTRIES = 256,
	DOC_ENT_OVERHEAD = 256,
	DOC_PROTECTED_SHARE = 4 /* protected's budget: (share-1)/share */
};

void doc_options_default(struct doc_options *o)
{
	o->cache_bytes = 256u << 20;
	o->max_doc_bytes = 8u << 20;
	o->max_patch_bytes = 8u << 20;
	o->compact_entries = 256;
	o->compact_ratio = 4;
	o->compact_min_bytes = 64u << 10;
	o->history = 16;
	o->history_age_ns = 0;
}

/* ---- snapshots ---- */

static struct doc_snap *snap_new(char *text, size_t len, uint64_t seq)
{
	struct doc_snap *sn = malloc(sizeof(*sn));

	if (!sn)
		return NULL;
	atomic_init(&sn->refs, 1);
	sn->seq = seq;
	sn->len = len;
	sn->text = text;
	return sn;
}

const char *doc_snap_text(const struct doc_snap *sn, size_t *len)
{
	*len = sn->len;
	return sn->text;
}

uint64_t doc_snap_seq(const struct doc_snap *sn)
{
	return sn->seq;
}

struct doc_snap *doc_snap_get(struct doc_snap *sn)
{
	atomic_fetch_add(&sn->refs, 1);
	return sn;
}

void doc_snap_put(struct doc_snap *sn)
{
	if (!sn || atomic_fetch_sub(&sn->refs, 1) != 1)
		return;
	free(sn->text);
	free(sn);
}

/* ---- entry codec (the decoder is in doc_entry.c) ---- */

/* Build kind + text (without its trailing newline) in a new buffer. */
static char *entry_build(char kind, const char *text, size_t text_len,
			 size_t *len)
{
	size_t n = text_len;
	char *buf;

	if (n && text[n - 1] == '\n')
		n--;
	buf = malloc(n + 1);
	if (!buf)
		return NULL;
	buf[0] = kind;
	memcpy(buf + 1, text, n);
	*len = n + 1;
	return buf;
}

/* ---- the cache table ---- */

static void lru_unlink(struct doc_ent *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
}

/* Put e (unlinked: lru_remove) at the head of list seg.  d->mu held. */
static void lru_push(struct doc *d, struct doc_ent *e, enum ent_seg seg)
{
	struct doc_ent *head = &d->lru[seg];

	if (seg == SEG_PROTECTED)
		d->prot_charged += e->charge;
	e->seg = seg;
	e->next = head->next;
	e->prev = head;
	head->next->prev = e;
	head->next = e;
}

/* Unlink e from its list, keeping prot_charged. d->mu held. */
static void lru_remove(struct doc *d, struct doc_ent *e)
{
	lru_unlink(e);
	if (e->seg == SEG_PROTECTED)
		d->prot_charged -= e->charge;
	e->seg = SEG_PROBATION;
}

static uint64_t protected_budget(const struct doc *d)
{
	return d->o.cache_bytes - d->o.cache_bytes / DOC_PROTECTED_SHARE;
}

/* Invariants 1 and 3 and the table's shape: every entry under its id
 * and once in the LRU list, charged their charges, no entry free-able
 * while referenced.  d->mu held.  Allocates nothing. */
static bool doc_invariants(const struct doc *d)
{
	size_t count = u64map_count(&d->tab), n = 0;
	const struct doc_ent *e;
	uint64_t charged = 0, prot = 0, id;
	void *v;

	for (size_t pos = 0; u64map_next(&d->tab, &pos, &id, &v);) {
		e = v;
		if (e->id != id)
			return false;
		charged += e->charge;
	}
	if (charged != d->charged)
		return false;
	for (int seg = SEG_PROBATION; seg <= SEG_PROTECTED; seg++)
		for (e = d->lru[seg].next; e != &d->lru[seg]; e = e->next) {
			if (e->next->prev != e || ++n > count ||
			    e->seg != (enum ent_seg)seg)
				return false;
			if (seg == SEG_PROTECTED)
				prot += e->charge;
		}
	return n == count && prot == d->prot_charged;
}

/* Invariant 2 for an entry whose mu the caller holds: a value has its
 * snapshot; a snapshot is at the entry's sequence number, a text ending
 * in a newline. */
static bool ent_invariants(const struct doc_ent *e)
{
	if (e->value && !e->snap)
		return false;
	if (!e->snap)
		return true;
	return e->snap->seq == e->seq && e->snap->len > 0 &&
	       e->snap->text[e->snap->len - 1] == '\n';
}

static void ent_clear(struct doc_ent *e)
{
	json_decref(e->value);
	e->value = NULL;
	doc_snap_put(e->snap);
	e->snap = NULL;
	e->seq = 0;
}

/* Remove e (refs == 0) from the table and free it.  d->mu held. */
static void ent_evict(struct doc *d, struct doc_ent *e)
{
	debug_assert(e->refs == 0);
	u64map_del(&d->tab, e->id);
	lru_remove(d, e);
	d->charged -= e->charge;
	ent_clear(e);
	pthread_mutex_destroy(&e->mu);
	free(e);
}

/* Probation's least recently used first, then protected's.  d->mu held. */
static void evict_over_budget(struct doc *d)
{
	for (int seg = SEG_PROBATION; seg <= SEG_PROTECTED; seg++) {
		struct doc_ent *e = d->lru[seg].prev, *prev;

		for (; e != &d->lru[seg] && d->charged > d->o.cache_bytes;
		     e = prev) {
			prev = e->prev;
			if (e->refs == 0)
				ent_evict(d, e);
		}
	}
}

/* Where e, which was on list was, goes after a use (the segmented LRU at
 * the top of the file), then protected's overflow back to probation.  e
 * unlinked, d->mu held. */
static void ent_place(struct doc *d, struct doc_ent *e, enum ent_seg was)
{
	uint64_t budget = protected_budget(d);
	enum ent_seg seg = SEG_PROBATION;

	if (was == SEG_PROTECTED || e->uses > 0 ||
	    d->prot_charged + e->charge <= budget)
		seg = SEG_PROTECTED;
	lru_push(d, e, seg);
	while (d->prot_charged > budget) {
		struct doc_ent *old = d->lru[SEG_PROTECTED].prev;

		if (old == e)
			break; /* one entry above the share: it stays */
		lru_remove(d, old);
		old->uses = 0; /* a second chance from probation's head */
		lru_push(d, old, SEG_PROBATION);
	}
}

/* Find or add the entry of id, take a reference and lock it. */
static int ent_get(struct doc *d, uint64_t id, struct doc_ent **out)
{
	struct doc_ent *e;

	if (id == 0)
		return -ENOENT; /* no document has id 0 (the map's empty key) */
	pthread_mutex_lock(&d->mu);
	debug_assert(doc_invariants(d));
	e = u64map_get(&d->tab, id);
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e || u64map_put(&d->tab, id, e)) {
			pthread_mutex_unlock(&d->mu);
			free(e);
			return -ENOMEM;
		}
		e->id = id;
		pthread_mutex_init(&e->mu, NULL);
		e->charge = DOC_ENT_OVERHEAD;
		d->charged += e->charge;
		lru_push(d, e, SEG_PROBATION);
	} else if (e->uses < UINT_MAX) {
		e->uses++;
	}
	e->refs++;
	debug_assert(doc_invariants(d));
	pthread_mutex_unlock(&d->mu);
	pthread_mutex_lock(&e->mu);
	*out = e;
	return 0;
}

/* What e holds (the top of the file).  e->mu held. */
static size_t ent_charge(const struct doc_ent *e)
{
	size_t charge = DOC_ENT_OVERHEAD;

	if (e->snap)
		charge += e->snap->len;
	/* A json_t tree costs about twice its text. */
	if (e->value)
		charge += 2 * e->snap->len;
	return charge;
}

/* Unlock e, account its new size, drop the reference, place, evict. */
static void ent_release(struct doc *d, struct doc_ent *e)
{
	enum ent_seg was;
	size_t charge;

	debug_assert(ent_invariants(e));
	charge = ent_charge(e);
	pthread_mutex_unlock(&e->mu);

	pthread_mutex_lock(&d->mu);
	was = e->seg;
	lru_remove(d, e);
	d->charged += charge;
	d->charged -= e->charge;
	e->charge = charge;
	e->refs--;
	ent_place(d, e, was);
	evict_over_budget(d);
	debug_assert(doc_invariants(d));
	pthread_mutex_unlock(&d->mu);
}

/* ---- materialization ---- */

struct mat {
	json_t *v;
	uint64_t seq;
	uint64_t id;
	int rc;
	uint64_t base_seq, tail_bytes; /* as in struct doc_ent */
};

static int mat_entry(void *arg, uint64_t seq, const void *buf, size_t len)
{
	struct mat *m = arg;
	json_t *v;
	char kind;
	int rc;

	rc = doc_entry_decode(buf, len, &kind, &v);
	if (rc < 0) {
		m->rc = rc;
		return 1;
	}
	m->seq = seq;
	if (kind != DOC_PATCH || !m->base_seq) {
		m->base_seq = seq;
		m->tail_bytes = 0;
	}
	m->tail_bytes += len;
	if (kind == DOC_PATCH) {
		rc = json_merge_patch(&m->v, v);
		json_decref(v);
		if (rc < 0) {
			m->rc = rc;
			return 1;
		}
		return 0;
	}
	json_decref(m->v);
	m->v = v;
	return 0;
}

/* The raw entries of a document, copied out of the store so they are
 * parsed without holding the store's lock (a writer of any document
 * would wait for the parse of a large one).  Records in buf:
 * u64 seq, u64 len, len bytes, padded to 8. */
struct raw_entries {
	char *buf;
	size_t len, cap;
	int rc;
};

static int copy_entry(void *arg, uint64_t seq, const void *p, size_t len)
{
	struct raw_entries *r = arg;
	size_t need = 16 + ((len + 7) & ~(size_t)7);
	uint64_t hdr[2] = { seq, len };

	if (r->cap - r->len < need) {
		char *nb = NULL;

		if (need <= SIZE_MAX - r->len)
			nb = grow_array(r->buf, &r->cap, r->len + need, 4096,
					1);

		if (!nb) {
			r->rc = -ENOMEM;
			return 1;
		}
		r->buf = nb;
	}
	memcpy(r->buf + r->len, hdr, 16);
	if (len)
		memcpy(r->buf + r->len + 16, p, len);
	r->len += need;
	return 0;
}

/* ---- the canonical text of a whole entry ----
 *
 * A replacement or snapshot entry written by this module holds its value
 * as json_value_emit() wrote it; its text is then the document's text
 * as it is, and a read needs no parse and no emit.  canon_value() accepts
 * a text only when it is certainly that form (json/emit.c's rules), over
 * a subset that covers what users write: no whitespace; strings of valid
 * UTF-8 with no control byte, escapes only \" \\ \b \f \n \r \t (no
 * \u, no \/); integers in int64 range with no leading zero, sign of a
 * zero or fraction; no reals; objects of at most CANON_KEYS members with
 * no repeated key; nesting at most CANON_DEPTH.  Anything else (an
 * imported archive's spacing, a real, a \u escape) takes the full path:
 * parse, emit. */
enum {
	CANON_KEYS = 32,
	CANON_DEPTH = 64
};

static const char *canon_value(const char *p, const char *end, int depth);

/* A string from its opening quote; the byte after it, or NULL. */
static const char *canon_string(const char *p, const char *end)
{
	const char *start = ++p;
	bool ascii = true;

	for (; p < end; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '"')
			break;
		if (c < 0x20)
			return NULL;
		if (c >= 0x80)
			ascii = false;
		if (c == '\\') {
			if (++p == end || !*p || !strchr("\"\\bfnrt", *p))
				return NULL;
		}
	}
	if (p == end ||
	    (!ascii && !json_utf8_valid(start, (size_t)(p - start))))
		return NULL;
	return p + 1;
}

static const char *canon_integer(const char *p, const char *end)
{
	static const char max[] = "9223372036854775807";
	const char *digits;
	bool neg = *p == '-';
	size_t n;

	if (neg)
		p++;
	digits = p;
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	n = (size_t)(p - digits);
	if (n == 0 || (digits[0] == '0' && (n > 1 || neg)))
		return NULL; /* empty, leading zero, -0 */
	if (p < end && (*p == '.' || *p == 'e' || *p == 'E'))
		return NULL; /* a real */
	if (n > sizeof(max) - 1)
		return NULL;
	if (n == sizeof(max) - 1 && memcmp(digits, max, n) > 0 &&
	    !(neg && memcmp(digits, "9223372036854775808", n) == 0))
		return NULL;
	return p;
}

static const char *canon_members(const char *p, const char *end, int depth,
				 bool object)
{
	const char *key[CANON_KEYS];
	size_t klen[CANON_KEYS], n = 0;
	char close = object ? '}' : ']';

	p++;
	if (p < end && *p == close)
		return p + 1;
	for (;;) {
		if (object) {
			const char *k = p;

			if (p >= end || *p != '"' || n == CANON_KEYS)
				return NULL;
			p = canon_string(p, end);
			if (!p || p >= end || *p != ':')
				return NULL;
			/* canonical keys are equal exactly when their bytes are */
			for (size_t i = 0; i < n; i++)
				if (klen[i] == (size_t)(p - k) &&
				    memcmp(key[i], k, klen[i]) == 0)
					return NULL;
			key[n] = k;
			klen[n++] = (size_t)(p - k);
			p++;
		}
		p = canon_value(p, end, depth + 1);
		if (!p || p >= end)
			return NULL;
		if (*p == close)
			return p + 1;
		if (*p++ != ',')
			return NULL;
	}
}

static const char *canon_value(const char *p, const char *end, int depth)
{
	size_t left = (size_t)(end - p);

	if (p >= end || depth > CANON_DEPTH)
		return NULL;
	switch (*p) {
	case '{':
		return canon_members(p, end, depth, true);
	case '[':
		return canon_members(p, end, depth, false);
	case '"':
		return canon_string(p, end);
	case 't':
		return left >= 4 && !memcmp(p, "true", 4) ? p + 4 : NULL;
	case 'f':
		return left >= 5 && !memcmp(p, "false", 5) ? p + 5 : NULL;
	case 'n':
		return left >= 4 && !memcmp(p, "null", 4) ? p + 4 : NULL;
	default:
		if (*p == '-' || (*p >= '0' && *p <= '9'))
			return canon_integer(p, end);
		return NULL;
	}
}

/* True when text[0..len) is exactly json_value_emit()'s text (without its
 * newline) of the value it parses to. */
static bool canon_text(const char *text, size_t len)
{
	return canon_value(text, text + len, 0) == text + len;
}

/* The fast path of materialization: when the newest of the raw entries
 * is a whole document in canonical form, that text is the document.
 * Entries before it are history the current version does not depend on
 * (their kind is checked, their JSON when a version before is read).
 * Fills *m (seq, base_seq, tail_bytes) and returns the text with its
 * newline, or NULL: take the full path. */
static char *mat_whole(const struct raw_entries *raw, struct mat *m,
		       size_t *len)
{
	const char *last = NULL;
	uint64_t hdr[2], lseq = 0, llen = 0;
	char kind, *text;

	for (size_t at = 0; at < raw->len;) {
		memcpy(hdr, raw->buf + at, 16);
		if (doc_entry_decode(raw->buf + at + 16, (size_t)hdr[1], &kind,
				     NULL) < 0)
			return NULL; /* the full path reports it */
		last = raw->buf + at + 16;
		lseq = hdr[0];
		llen = hdr[1];
		at += 16 + (((size_t)hdr[1] + 7) & ~(size_t)7);
	}
	if (!last || last[0] == DOC_PATCH || !canon_text(last + 1, llen - 1))
		return NULL;
	text = malloc(llen + 1);
	if (!text)
		return NULL;
	memcpy(text, last + 1, llen - 1);
	text[llen - 1] = '\n';
	text[llen] = '\0';
	*len = llen;
	m->seq = lseq;
	m->base_seq = lseq;
	m->tail_bytes = llen;
	return text;
}

/* Read the entries of e->id and set snap and seq, and value when
 * keep_value (else the json_t built is freed).  e->mu held. */
static int ent_materialize(struct doc *d, struct doc_ent *e, uint64_t cur_seq,
			   bool keep_value)
{
	struct mat m = { .v = json_object(), .seq = cur_seq, .id = e->id };
	struct raw_entries raw = { NULL, 0, 0, 0 };
	struct doc_snap *sn;
	char *text = NULL;
	size_t len, at;
	int rc;

	ent_clear(e);
	if (!m.v)
		return -ENOMEM;
	rc = store_read(d->s, e->id, copy_entry, &raw);
	if (raw.rc < 0)
		rc = raw.rc;
	if (rc == 0 && !keep_value)
		text = mat_whole(&raw, &m, &len);
	if (text) {
		free(raw.buf);
		goto out_text;
	}
	for (at = 0; rc == 0 && at < raw.len;) {
		uint64_t hdr[2];

		memcpy(hdr, raw.buf + at, 16);
		if (mat_entry(&m, hdr[0], raw.buf + at + 16, (size_t)hdr[1]))
			break;
		at += 16 + (((size_t)hdr[1] + 7) & ~(size_t)7);
	}
	free(raw.buf);
	if (m.rc < 0)
		rc = m.rc;
	if (rc == -EBADMSG)
		log_error(
			"cannot materialize document %llu: an entry is not valid",
			(unsigned long long)e->id);
	if (rc < 0)
		goto out_value;
	rc = json_value_emit(m.v, &text, &len);
	if (rc < 0)
		goto out_value;
out_text:
	sn = snap_new(text, len, m.seq);
	if (!sn) {
		free(text);
		rc = -ENOMEM;
		goto out_value;
	}
	if (keep_value)
		e->value = m.v;
	else
		json_decref(m.v);
	e->snap = sn;
	e->seq = m.seq;
	e->base_seq = m.base_seq;
	e->tail_bytes = m.tail_bytes;
	atomic_fetch_add(&d->misses, 1);
	return 0;

out_value:
	json_decref(m.v);
	return rc;
}

int doc_read_from(doc_read_fn read, void *rarg, struct doc_snap **out)
{
	struct mat m = { .v = json_object() };
	struct raw_entries raw = { NULL, 0, 0, 0 };
	struct doc_snap *sn;
	char *text;
	size_t len, at;
	int rc;

	if (!m.v)
		return -ENOMEM;
	rc = read(rarg, copy_entry, &raw);
	if (raw.rc < 0)
		rc = raw.rc;
	for (at = 0; rc == 0 && at < raw.len;) {
		uint64_t hdr[2];

		memcpy(hdr, raw.buf + at, 16);
		if (mat_entry(&m, hdr[0], raw.buf + at + 16, (size_t)hdr[1]))
			break;
		at += 16 + (((size_t)hdr[1] + 7) & ~(size_t)7);
	}
	free(raw.buf);
	if (m.rc < 0)
		rc = m.rc;
	if (rc == 0)
		rc = json_value_emit(m.v, &text, &len);
	json_decref(m.v);
	if (rc < 0)
		return rc;
	sn = snap_new(text, len, m.seq);
	if (!sn) {
		free(text);
		return -ENOMEM;
	}
	*out = sn;
	return 0;
}

/* ---- history ---- */

/* The bound by age: *out receives the oldest version that was current at
 * some moment of the last age_ns, judging by the entries held: version
 * v is out when entry v + 1, which replaced it, is known to be older. */
struct age_scan {
	int64_t now;
	uint64_t age_ns, last_out;
};

static int age_entry(void *arg, uint64_t seq, int64_t time_ns)
{
	struct age_scan *a = arg;

	if (time_ns > 0 && time_ns < a->now &&
	    (uint64_t)(a->now - time_ns) > a->age_ns && seq - 1 > a->last_out)
		a->last_out = seq - 1;
	return 0;
}

static int age_first(struct store *s, uint64_t id, uint64_t age_ns,
		     uint64_t *out)
{
	struct age_scan a = { clock_real_ns(), age_ns, 0 };
	int rc;

	*out = 0;
	if (!age_ns)
		return 0;
	rc = store_entry_times(s, id, age_entry, &a);
	if (rc < 0)
		return rc;
	*out = a.last_out + 1;
	return 0;
}

int doc_history_age(struct store *s, uint64_t id, uint32_t history,
		    uint64_t age_ns, uint64_t *first, uint64_t *last)
{
	struct store_doc_info info;
	uint64_t by_age;
	int rc = store_doc_info(s, id, &info);

	if (rc < 0)
		return rc;
	if (info.is_space)
		return -EISDIR;
	if (!info.entries)
		return -ENOENT;
	rc = age_first(s, id, age_ns, &by_age);
	if (rc < 0)
		return rc;
	/* the entries held have consecutive seqs */
	*first = info.seq - info.entries + 1;
	if (info.seq - *first > history)
		*first = info.seq - history;
	if (by_age > *first)
		*first = by_age < info.seq ? by_age : info.seq;
	*last = info.seq;
	return 0;
}

int doc_history(struct store *s, uint64_t id, uint32_t history, uint64_t *first,
		uint64_t *last)
{
	return doc_history_age(s, id, history, 0, first, last);
}

struct time_scan {
	uint64_t seq;
	int64_t time_ns;
	bool found;
};

static int time_entry(void *arg, uint64_t seq, int64_t time_ns)
{
	struct time_scan *t = arg;

	if (seq != t->seq)
		return seq > t->seq;
	t->time_ns = time_ns;
	t->found = true;
	return 1;
}

int doc_version_time(struct store *s, uint64_t id, uint64_t seq,
		     int64_t *time_ns)
{
	struct time_scan t = { seq, 0, false };
	int rc = store_entry_times(s, id, time_entry, &t);

	if (rc < 0)
		return rc;
	if (!t.found)
		return -ENOENT;
	*time_ns = t.time_ns;
	return 0;
}

struct version_src {
	struct store *s;
	uint64_t id, seq;
	store_entry_fn fn;
	void *farg;
};

static int version_entry(void *arg, uint64_t seq, const void *buf, size_t len)
{
	struct version_src *v = arg;

	return seq <= v->seq ? v->fn(v->farg, seq, buf, len) : 0;
}

static int version_read(void *rarg, store_entry_fn fn, void *farg)
{
	struct version_src *v = rarg;

	v->fn = fn;
	v->farg = farg;
	return store_read(v->s, v->id, version_entry, v);
}

int doc_read_version(struct store *s, uint64_t id, uint64_t seq,
		     struct doc_snap **out)
{
	struct version_src src = { s, id, seq, NULL, NULL };
	struct doc_snap *text;
	int rc = doc_read_from(version_read, &src, &text);

	if (rc < 0)
		return rc;
	if (!seq || text->seq != seq) { /* not held (any more) */
		doc_snap_put(text);
		return -ENOENT;
	}
	*out = text;
	return 0;
}

/* Make e's snapshot current, and its value too when need_value (a patch
 * merges into it).  *info (may be NULL) receives the store's view of the
 * document.  e->mu held. */
static int ent_load(struct doc *d, struct doc_ent *e,
		    struct store_doc_info *info, bool need_value)
{
	struct store_doc_info tmp;
	int rc;

	if (!info)
		info = &tmp;
	rc = store_doc_info(d->s, e->id, info);
	if (rc < 0) {
		ent_clear(e);
		return rc;
	}
	if (info->is_space) {
		ent_clear(e);
		return -EISDIR;
	}
	if (e->snap && e->seq == info->seq) {
		atomic_fetch_add(&d->hits, 1);
		rc = 0;
		/* the snapshot's text is the value emitted: parse it back */
		if (need_value && !e->value &&
		    json_value_parse(e->snap->text, e->snap->len, &e->value) <
			    0) {
			e->value = NULL;
			rc = ent_materialize(d, e, info->seq, true);
		}
	} else {
		rc = ent_materialize(d, e, info->seq, need_value);
	}
	if (rc == 0 && !info->size_known)
		store_doc_note_size(d->s, e->id, e->snap->seq, e->snap->len);
	return rc;
}

/* ---- open / close ---- */

int doc_open(struct store *s, const struct doc_options *o, struct doc **out)
{
	struct doc *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	u64map_init(&d->tab);
	if (u64map_reserve(&d->tab, DOC_MIN_ENTRIES)) {
		free(d);
		return -ENOMEM;
	}
	d->s = s;
	if (o)
		d->o = *o;
	else
		doc_options_default(&d->o);
	pthread_mutex_init(&d->mu, NULL);
	for (int seg = SEG_PROBATION; seg <= SEG_PROTECTED; seg++)
		d->lru[seg].next = d->lru[seg].prev = &d->lru[seg];
	*out = d;
	return 0;
}

void doc_close(struct doc *d)
{
	if (!d)
		return;
	for (int seg = SEG_PROBATION; seg <= SEG_PROTECTED; seg++)
		while (d->lru[seg].next != &d->lru[seg])
			ent_evict(d, d->lru[seg].next);
	pthread_mutex_destroy(&d->mu);
	u64map_release(&d->tab);
	free(d);
}

/* ---- compaction ---- */

static bool needs_compaction(const struct doc_options *o, uint64_t entries,
			     uint64_t stored, size_t len)
{
	if (entries <= 1)
		return false;
	if (o->compact_entries && entries > o->compact_entries)
		return true;
	return o->compact_ratio && stored > o->compact_min_bytes &&
	       stored / o->compact_ratio > len;
}

/* The entries to keep when a whole document follows seq: from the newest
 * whole one (or the first) at or before seq - history + 1, so versions
 * seq - history + 1 .. seq stay readable; seq + 1 (none) without history.
 * With history_age_ns, want is no older than the oldest version still
 * within the age bound (doc_history_age's rule). */
struct keep_scan {
	uint64_t want, first;
};

static int keep_entry(void *arg, uint64_t seq, const void *buf, size_t len)
{
	struct keep_scan *k = arg;
	const char *p = buf;

	if (seq > k->want)
		return 1;
	if (!k->first || (len && p[0] != DOC_PATCH))
		k->first = seq;
	return 0;
}

static int keep_from(struct doc *d, uint64_t id, uint64_t seq, uint64_t *first)
{
	struct keep_scan k = { 0, 0 };
	uint64_t by_age;
	int rc;

	*first = seq + 1;
	if (!d->o.history || !seq)
		return 0;
	k.want = seq >= d->o.history ? seq - d->o.history + 1 : 1;
	/* versions replaced longer than history_age_ns ago (never seq: the
	 * entry about to follow it replaces it now) */
	rc = age_first(d->s, id, d->o.history_age_ns, &by_age);
	if (rc < 0)
		return rc;
	if (by_age > seq)
		return 0;
	if (by_age > k.want)
		k.want = by_age;
	rc = store_read(d->s, id, keep_entry, &k);
	if (rc < 0)
		return rc;
	if (k.first)
		*first = k.first;
	return 0;
}

/* Append a snapshot holding text, the document at sequence number *seq,
 * dropping the entries neither it nor the history needs.  On success
 * *seq (and *lsn) move on.  e->mu held. */
static int compact(struct doc *d, struct doc_ent *e, const char *text,
		   size_t len, uint64_t *seq, uint64_t *lsn)
{
	size_t blen;
	char *buf = entry_build(DOC_SNAPSHOT, text, len, &blen);
	uint64_t nseq, nlsn, first;
	int rc;

	if (!buf)
		return -ENOMEM;
	rc = keep_from(d, e->id, *seq, &first);
	if (rc == 0)
		rc = store_append_keep(d->s, e->id, buf, blen, *seq, first,
				       &nseq, &nlsn);
	free(buf);
	if (rc < 0) {
		log_warn("cannot compact document %llu: %s",
			 (unsigned long long)e->id, strerror(-rc));
		return rc;
	}
	*seq = nseq;
	if (lsn && nlsn > *lsn)
		*lsn = nlsn;
	e->base_seq = nseq;
	e->tail_bytes = blen;
	atomic_fetch_add(&d->compactions, 1);
	return 0;
}

/* ---- mutations ---- */

/* Publish text as the current state at seq.  Takes ownership of text.
 * Without memory for the snapshot the cache entry is dropped instead (the
 * next call materializes again); the store already holds the change. */
static void ent_publish(struct doc_ent *e, char *text, size_t len, uint64_t seq)
{
	struct doc_snap *sn = snap_new(text, len, seq);

	if (!sn) {
		free(text);
		ent_clear(e);
		return;
	}
	doc_snap_put(e->snap);
	e->snap = sn;
	e->seq = seq;
}

static int patch_locked(struct doc *d, struct doc_ent *e, const json_t *patch,
			const char *ptext, size_t plen, uint64_t *lsn)
{
	struct store_doc_info info;
	char *text = NULL, *buf = NULL;
	size_t len, blen;
	uint64_t seq;
	int rc;

	rc = ent_load(d, e, &info, true);
	if (rc < 0)
		return rc;
	rc = json_merge_patch(&e->value, patch);
	if (rc < 0)
		goto out_drop;
	rc = json_value_emit(e->value, &text, &len);
	if (rc < 0)
		goto out_drop;
	rc = -EFBIG;
	if (len > d->o.max_doc_bytes)
		goto out_drop;
	rc = -ENOMEM;
	buf = entry_build(DOC_PATCH, ptext, plen, &blen);
	if (!buf)
		goto out_drop;
	rc = store_append(d->s, e->id, buf, blen, &seq, lsn);
	free(buf);
	if (rc < 0)
		goto out_drop;
	atomic_fetch_add(&d->patches, 1);
	if (!e->base_seq) /* the first entry */
		e->base_seq = seq;
	e->tail_bytes += blen;
	if (needs_compaction(&d->o, seq - e->base_seq + 1, e->tail_bytes, len))
		compact(d, e, text, len, &seq, lsn);
	ent_publish(e, text, len, seq);
	return 0;

out_drop:
	free(text);
	ent_clear(e);
	return rc;
}

int doc_patch(struct doc *d, uint64_t id, const json_t *patch, uint64_t *lsn)
{
	struct doc_ent *e;
	char *ptext;
	size_t plen;
	int rc;

	rc = json_value_emit(patch, &ptext, &plen);
	if (rc < 0)
		return rc;
	if (plen - 1 > d->o.max_patch_bytes) {
		rc = -EFBIG;
		goto out_text;
	}
	rc = ent_get(d, id, &e);
	if (rc < 0)
		goto out_text;
	rc = patch_locked(d, e, patch, ptext, plen, lsn);
	ent_release(d, e);
out_text:
	free(ptext);
	return rc;
}

/* ---- several patches in one frame ---- */

enum {
	BATCH_PER_PATCH = 1 /* batch_locked: take the one-by-one path */
};

/* Append patches[0..n) (texts[i], lens[i]: their compact texts with the
 * newline) in one frame.  Returns 0, BATCH_PER_PATCH when the result
 * cannot be judged without checking every intermediate state against
 * max_doc_bytes, or an error; on anything but 0 the document is unchanged
 * in the store and value dropped.  e->mu held.
 *
 * A merge never grows a document by more than the patch's compact text
 * (each member it adds is written in the patch, whose braces and commas
 * pay for the new commas), so when the document plus all the patch texts
 * fits max_doc_bytes, so does every intermediate state, and only the final
 * one is emitted. */
static int batch_locked(struct doc *d, struct doc_ent *e,
			json_t *const *patches, char **texts,
			const size_t *lens, size_t n, uint64_t *lsn)
{
	struct store_import_entry *ents = calloc(n, sizeof(*ents));
	struct store_doc_info info;
	uint64_t bound, stored = 0, seq;
	char *text = NULL;
	size_t len, i;
	int rc;

	if (!ents)
		return -ENOMEM;
	rc = ent_load(d, e, &info, true);
	if (rc < 0)
		goto out_free;
	bound = e->snap->len;
	for (i = 0; i < n; i++)
		bound += lens[i];
	rc = BATCH_PER_PATCH;
	if (bound > d->o.max_doc_bytes)
		goto out_free;
	for (i = 0; i < n; i++) {
		rc = json_merge_patch(&e->value, patches[i]);
		if (rc < 0)
			goto out_drop;
	}
	rc = json_value_emit(e->value, &text, &len);
	if (rc < 0)
		goto out_drop;
	rc = -ENOMEM;
	for (i = 0; i < n; i++) {
		size_t blen;
		char *buf = entry_build(DOC_PATCH, texts[i], lens[i], &blen);

		if (!buf)
			goto out_drop;
		ents[i].buf = buf;
		ents[i].len = blen;
		stored += blen;
	}
	rc = store_append_batch(d->s, e->id, ents, n, &seq, lsn);
	if (rc < 0)
		goto out_drop;
	atomic_fetch_add(&d->patches, n);
	if (!e->base_seq)
		e->base_seq = seq - n + 1;
	e->tail_bytes += stored;
	if (needs_compaction(&d->o, seq - e->base_seq + 1, e->tail_bytes, len))
		compact(d, e, text, len, &seq, lsn);
	ent_publish(e, text, len, seq);
	text = NULL;
	goto out_free;

out_drop:
	ent_clear(e);
out_free:
	free(text);
	for (i = 0; i < n; i++)
		free((void *)ents[i].buf);
	free(ents);
	return rc;
}

int doc_patch_batch(struct doc *d, uint64_t id, json_t *const *patches,
		    size_t n, size_t *done, uint64_t *lsn)
{
	char **texts = calloc(n ? n : 1, sizeof(*texts));
	size_t *lens = calloc(n ? n : 1, sizeof(*lens));
	size_t m = 0, i;
	struct doc_ent *e;
	int rc = 0, emit_rc = 0;

	*done = 0;
	if (!texts || !lens) {
		rc = -ENOMEM;
		goto out_free;
	}
	/* The patches that pass the patch size check, up to the first that
	 * does not (its error comes after those before it are stored). */
	for (; m < n; m++) {
		emit_rc = json_value_emit(patches[m], &texts[m], &lens[m]);
		if (emit_rc == 0 && lens[m] - 1 > d->o.max_patch_bytes)
			emit_rc = -EFBIG;
		if (emit_rc < 0)
			break;
	}
	if (m == 0)
		goto out_free;
	rc = ent_get(d, id, &e);
	if (rc < 0)
		goto out_free;
	rc = m > 1 ? batch_locked(d, e, patches, texts, lens, m, lsn)
		   : BATCH_PER_PATCH;
	if (rc == 0) {
		*done = m;
	} else {
		/* One by one: exact errors, at the patch that has them. */
		for (i = 0, rc = 0; rc == 0 && i < m; i++) {
			rc = patch_locked(d, e, patches[i], texts[i], lens[i],
					  lsn);
			if (rc == 0)
				*done = i + 1;
		}
	}
	ent_release(d, e);
out_free:
	if (rc == 0 && *done < n)
		rc = emit_rc;
	for (i = 0; texts && i < n; i++)
		free(texts[i]);
	free(texts);
	free(lens);
	return rc;
}

/* expect_lsn: 0, or replace only while the document's last change is
 * that frame (no retry: -EAGAIN). */
static int replace_locked(struct doc *d, struct doc_ent *e, const char *text,
			  size_t len, uint64_t expect_lsn, uint64_t *lsn)
{
	struct store_doc_info info;
	char *buf, *mine;
	size_t blen;
	uint64_t seq, first = 0;
	int rc, tries;

	buf = entry_build(DOC_REPLACE, text, len, &blen);
	if (!buf)
		return -ENOMEM;
	for (tries = 0; tries < 8; tries++) {
		rc = store_doc_info(d->s, e->id, &info);
		if (rc == 0 && info.is_space)
			rc = -EISDIR;
		if (rc < 0)
			break;
		if (expect_lsn && (info.lsn != expect_lsn || !info.entries)) {
			rc = -EAGAIN; /* changed since */
			break;
		}
		/* With no entries there is nothing to drop: a plain append
		 * (no Trim record in the frame). */
		if (info.entries == 0)
			rc = store_append(d->s, e->id, buf, blen, &seq, lsn);
		else
			rc = keep_from(d, e->id, info.seq, &first);
		if (rc == 0 && info.entries)
			rc = store_append_keep(d->s, e->id, buf, blen, info.seq,
					       first, &seq, lsn);
		if (rc != -EAGAIN || expect_lsn)
			break; /* the seq check makes the condition atomic */
	}
	free(buf);
	if (rc < 0)
		return rc;
	ent_clear(e);
	atomic_fetch_add(&d->replaces, 1);
	mine = malloc(len + 1);
	if (!mine)
		return 0; /* stored; the next read materializes */
	memcpy(mine, text, len + 1);
	e->base_seq = seq;
	e->tail_bytes = blen;
	ent_publish(e, mine, len, seq);
	return 0;
}

/* text[0..len): json_value_emit()'s text of the new value, NUL at
 * text[len]. */
static int replace_text(struct doc *d, uint64_t id, const char *text,
			size_t len, uint64_t expect_lsn, uint64_t *lsn)
{
	struct doc_ent *e;
	int rc;

	if (len > d->o.max_doc_bytes)
		return -EFBIG;
	rc = ent_get(d, id, &e);
	if (rc == 0) {
		rc = replace_locked(d, e, text, len, expect_lsn, lsn);
		ent_release(d, e);
	}
	return rc;
}

static int replace(struct doc *d, uint64_t id, const json_t *value,
		   uint64_t expect_lsn, uint64_t *lsn)
{
	char *text;
	size_t len;
	int rc;

	/* Only the text is cached: a patch that follows parses it back,
	 * which costs what a deep copy of value would, and only then. */
	rc = json_value_emit(value, &text, &len);
	if (rc < 0)
		return rc;
	rc = replace_text(d, id, text, len, expect_lsn, lsn);
	free(text);
	return rc;
}

int doc_replace(struct doc *d, uint64_t id, const json_t *value, uint64_t *lsn)
{
	return replace(d, id, value, 0, lsn);
}

int doc_replace_text(struct doc *d, uint64_t id, const char *text, size_t len,
		     uint64_t *lsn)
{
	if (len == 0 || text[len - 1] != '\n' || text[len] != '\0')
		return -EINVAL;
	return replace_text(d, id, text, len, 0, lsn);
}

int doc_replace_if(struct doc *d, uint64_t id, const json_t *value,
		   uint64_t expect_lsn, uint64_t *lsn)
{
	return expect_lsn ? replace(d, id, value, expect_lsn, lsn) : -EINVAL;
}

int doc_reset(struct doc *d, uint64_t id, uint64_t *lsn)
{
	json_t *empty = json_object();
	int rc;

	if (!empty)
		return -ENOMEM;
	rc = doc_replace(d, id, empty, lsn);
	json_decref(empty);
	return rc;
}

/* ---- reads ---- */

int doc_read(struct doc *d, uint64_t id, struct doc_snap **out)
{
	struct doc_ent *e;
	int rc;

	rc = ent_get(d, id, &e);
	if (rc < 0)
		return rc;
	rc = ent_load(d, e, NULL, false);
	if (rc == 0)
		*out = doc_snap_get(e->snap);
	ent_release(d, e);
	return rc;
}

int doc_size(struct doc *d, uint64_t id, uint64_t *size)
{
	struct store_doc_info info;
	struct doc_ent *e;
	int rc;

	/* An evicted document keeps the size its content had (evict.h);
	 * a copy still cached is that content. */
	rc = store_doc_info(d->s, id, &info);
	if (rc == 0 && !info.is_space && info.evicted) {
		*size = info.evicted_bytes;
		return 0;
	}
	/* Its size at seq is known once it was materialized: a stat of a
	 * document that left the cache costs no materialization. */
	if (rc == 0 && !info.is_space && info.size_known) {
		*size = info.size;
		return 0;
	}
	rc = ent_get(d, id, &e);
	if (rc < 0)
		return rc;
	rc = ent_load(d, e, NULL, false);
	if (rc == 0)
		*size = e->snap->len;
	ent_release(d, e);
	return rc;
}

void doc_forget(struct doc *d, uint64_t id)
{
	struct doc_ent *e;

	pthread_mutex_lock(&d->mu);
	e = u64map_get(&d->tab, id);
	if (e && e->refs == 0)
		ent_evict(d, e);
	debug_assert(doc_invariants(d));
	pthread_mutex_unlock(&d->mu);
}

void doc_stats(struct doc *d, struct doc_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->hits = atomic_load(&d->hits);
	out->misses = atomic_load(&d->misses);
	out->patches = atomic_load(&d->patches);
	out->replaces = atomic_load(&d->replaces);
	out->compactions = atomic_load(&d->compactions);
	pthread_mutex_lock(&d->mu);
	out->cached_docs = u64map_count(&d->tab);
	out->cached_bytes = d->charged;
	pthread_mutex_unlock(&d->mu);
}
