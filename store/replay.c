/*
 * replay.c - applying WAL frames to the in-memory index, and the
 * OrganizationSnapshot that opens every log.
 *
 * One function applies a frame both live (right after wal_append) and at
 * open (replay), so the state after recovery is by construction the state
 * the running store had.  A frame is first decoded completely (any
 * malformed record rejects the whole frame), then applied record by
 * record.  At open, a record that does not fit the state (an append to an
 * unknown document, a name already taken) means the log is not ours to
 * trust: the open fails with -EBADMSG.  Live, the same rules (rec_check)
 * ran over the whole frame before it was logged (store_check_frame), so
 * only -ENOMEM can fail, and that fails the store (s->failed) because
 * memory and log would disagree.  A frame the rules refuse is never
 * logged: a change the store refuses leaves no trace in its log.
 *
 * Space freed live (Delete, Trim) is not given back to the allocator at
 * once: it goes to a FIFO of pending frees tagged with the frame's LSN and
 * is released only when that LSN is durable (change.c), so a crash can
 * never leave a durable record pointing at bytes already reused.  At open
 * the allocator is rebuilt from the index (store_rebuild_alloc), after all
 * frames were applied.
 *
 * Snapshot: SNAP_BEGIN opens it, announcing how many spaces, documents,
 * entries and tombs it holds; SNAP_END closes it with the CRC-32C of
 * every snapshot record body in order and their count.  At SNAP_END the
 * checksum, the record count and the announced counts must all match
 * what was read (else -EBADMSG); a log must start with a complete
 * snapshot before any other record.
 *
 * Eviction (evict.c): EVICT frees a document's entries (as DELETE does,
 * through the pending frees) and marks it evicted; it fits only a
 * document whose seq is confirmed in the cloud (backup_seq = seq, time
 * > 0) and that is not evicted.  An evicted document takes no APPEND
 * but one at its own seq, which refills it (the content fetched back
 * from the cloud).  A snapshot writes an evicted document as its
 * SNAP_DOC (no entries) followed by SNAP_EVICT.
 */
#include "store/store_internal.h"

#include "util/crc32c.h"
#include "util/grow.h"
#include "util/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define SNAP_FRAME_BYTES (1u << 20)

static int pending_free(struct store *s, uint64_t off, uint64_t len,
			uint64_t lsn)
{
	if (len == 0)
		return 0;
	if (s->npf == s->pf_cap) {
		struct pending_free *pf;

		/* Compact the consumed head before growing. */
		if (s->pf_head) {
			memmove(s->pf, s->pf + s->pf_head,
				(s->npf - s->pf_head) * sizeof(*s->pf));
			s->npf -= s->pf_head;
			s->pf_head = 0;
			if (s->npf < s->pf_cap)
				goto add;
		}
		pf = grow_array(s->pf, &s->pf_cap, s->npf + 1, 64, sizeof(*pf));
		if (!pf)
			return -ENOMEM;
		s->pf = pf;
	}
add:
	s->pf[s->npf].off = off;
	s->pf[s->npf].len = len;
	s->pf[s->npf].lsn = lsn;
	s->npf++;
	s->pf_bytes += len;
	return 0;
}

int store_free_later(struct store *s, uint64_t off, uint64_t len, uint64_t lsn)
{
	return pending_free(s, off, len, lsn);
}

/* The entries of n before seq are its history (hist_seq, hist_bytes). */
static void hist_set(struct store *s, struct node *n, uint64_t seq)
{
	uint64_t hb = 0;

	for (uint32_t i = 0; i < n->nent && n->ents[i].seq < seq; i++)
		hb += n->ents[i].len;
	n->hist_seq = seq;
	s->hist_bytes += hb - n->hist_bytes;
	n->hist_bytes = hb;
}

/* Drop entries [0, k) of a document, freeing their space (but for those
 * a snapshot keeps). */
static int drop_front(struct store *s, struct node *n, uint32_t k, uint64_t lsn,
		      bool live)
{
	int rc = 0;

	for (uint32_t i = 0; i < k; i++) {
		if (live && !rc &&
		    !store_snapshot_keeps(s, n->ents[i].off, n->ents[i].len))
			rc = pending_free(s, n->ents[i].off, n->ents[i].len,
					  lsn);
		else if (!live)
			store_snapshot_keeps(s, n->ents[i].off, n->ents[i].len);
		n->stored_bytes -= n->ents[i].len;
		if (n->ents[i].seq < n->hist_seq) {
			n->hist_bytes -= n->ents[i].len;
			s->hist_bytes -= n->ents[i].len;
		}
	}
	if (k == 0)
		return 0;
	memmove(n->ents, n->ents + k, (n->nent - k) * sizeof(*n->ents));
	n->nent -= k;
	s->nentries -= k;
	return rc;
}

static int ent_push(struct store *s, struct node *n, const struct ent *e)
{
	if (node_ents_reserve(n))
		return -ENOMEM;
	n->ents[n->nent++] = *e;
	n->stored_bytes += e->len;
	s->nentries++;
	return 0;
}

static struct node *doc_of(struct store *s, uint64_t id)
{
	struct node *n = node_get(s, id);
	return n && n->space_id ? n : NULL;
}

static struct node *space_of(struct store *s, uint64_t id)
{
	struct node *n = node_get(s, id);
	return n && !n->space_id ? n : NULL;
}

/* Does [off, off + len) lie in the data area?  An empty entry is written
 * at offset 0; any other offset must still point into the map, since
 * readers are handed s->map + off. */
static bool region_ok(struct store *s, uint64_t off, uint32_t len)
{
	if (len == 0 && off == 0)
		return true;
	return off >= DATA_HDR && off <= s->map_len && len <= s->map_len - off;
}

static int tomb_add_rec(struct store *s, uint64_t id, const struct wal_tomb *r)
{
	return tomb_add(s, id, r->space.p, r->space.len, r->key.p, r->key.len);
}

/* Does the snapshot just closed hold what its SNAP_BEGIN announced? */
static bool snap_counts_ok(const struct store *s)
{
	const struct wal_snap_begin *w = &s->snap_want, *g = &s->snap_seen;

	return w->spaces == g->spaces && w->docs == g->docs &&
	       w->entries == g->entries && w->tombs == g->tombs;
}

static int snap_end(struct store *s, const struct wal_snap_end *e)
{
	if (!s->in_snapshot || e->crc != s->snap_crc ||
	    e->count != s->snap_count)
		return -EBADMSG;
	if (!snap_counts_ok(s)) {
		log_error("cannot open store '%s': the snapshot holds %" PRIu64
			  " spaces, %" PRIu64 " documents, %" PRIu64
			  " entries, %" PRIu64 " tombs but announced %" PRIu64
			  ", %" PRIu64 ", %" PRIu64 ", %" PRIu64,
			  s->dir, s->snap_seen.spaces, s->snap_seen.docs,
			  s->snap_seen.entries, s->snap_seen.tombs,
			  s->snap_want.spaces, s->snap_want.docs,
			  s->snap_want.entries, s->snap_want.tombs);
		return -EBADMSG;
	}
	s->in_snapshot = false;
	s->snap_done = true;
	return 0;
}

static int snap_begin(struct store *s, const struct wal_snap_begin *sb)
{
	if (s->in_snapshot || s->snap_done)
		return -EBADMSG;
	if (sb->capacity_bytes > s->capacity) {
		log_error("cannot open store '%s': the log describes "
			  "capacity %" PRIu64 " but the data file holds "
			  "%" PRIu64,
			  s->dir, sb->capacity_bytes, s->capacity);
		return -EBADMSG;
	}
	if (sb->next_id > STORE_ID_LIMIT)
		return -EBADMSG;
	s->in_snapshot = true;
	s->next_id = sb->next_id > s->next_id ? sb->next_id : s->next_id;
	s->next_tomb_id = sb->next_tomb_id ? sb->next_tomb_id : 1;
	s->snap_want = *sb;
	memset(&s->snap_seen, 0, sizeof(s->snap_seen));
	if (sb->spaces <= NODES_EXPECT_MAX && sb->docs <= NODES_EXPECT_MAX)
		nodes_expect(s, sb->spaces + sb->docs);
	return 0;
}

static int snap_space(struct store *s, const struct wal_space *r)
{
	struct node *n;
	int rc;

	/* an id or a name already there: node_add refuses it (-EEXIST) */
	if (r->id <= STORE_ROOT_ID || r->id >= STORE_ID_LIMIT)
		return -EBADMSG;
	s->snap_seen.spaces++;
	rc = node_add(s, r->id, 0, r->name.p, r->name.len, &r->meta, &n);
	return rc == -EEXIST ? -EBADMSG : rc;
}

static int snap_doc(struct store *s, const struct wal_snap_doc *r)
{
	struct node *n;
	int rc;

	/* an id or a name already there: node_add refuses it (-EEXIST) */
	if (r->id <= STORE_ROOT_ID || r->id >= STORE_ID_LIMIT ||
	    !space_of(s, r->space_id))
		return -EBADMSG;
	rc = node_add(s, r->id, r->space_id, r->key.p, r->key.len, &r->meta,
		      &n);
	if (rc)
		return rc == -EEXIST ? -EBADMSG : rc;
	s->snap_seen.docs++;
	s->snap_seen.entries += r->n;
	n->seq = r->seq;
	n->size_memo = 0;
	n->backup_seq = r->backup_seq;
	n->backup_time_ns = r->backup_time_ns;
	for (uint32_t i = 0; i < r->n; i++) {
		struct wal_ent we;
		struct ent e;

		wal_rec_ent(r, i, &we);
		if (!region_ok(s, we.offset, we.len) || we.seq > n->seq ||
		    (n->nent && we.seq <= n->ents[n->nent - 1].seq))
			return -EBADMSG;
		e.seq = we.seq;
		e.off = we.offset;
		e.len = we.len;
		e.crc = we.crc;
		e.time_ns = wal_rec_ent_time(r, i);
		rc = ent_push(s, n, &e);
		if (rc)
			return rc;
	}
	return 0;
}

/* SNAP_EVICT: the document of the SNAP_DOC before, without entries. */
static int snap_evict(struct store *s, const struct wal_evict *r)
{
	struct node *n = doc_of(s, r->id);

	if (!n || n->evicted || n->nent || n->seq != r->seq)
		return -EBADMSG;
	store_evict_apply(s, n, r->size_bytes);
	return 0;
}

static int apply_snap(struct store *s, const struct wal_rec *r)
{
	int rc;

	if (r->type == WAL_SNAP_END)
		return snap_end(s, &r->u.snap_end);
	if (r->type == WAL_SNAP_BEGIN) {
		rc = snap_begin(s, &r->u.snap_begin);
		if (rc)
			return rc;
	} else if (!s->in_snapshot) {
		return -EBADMSG;
	}
	s->snap_crc = crc32c_extend(s->snap_crc, r->body, r->body_len);
	s->snap_count++;

	switch (r->type) {
	case WAL_SNAP_BEGIN:
		return 0;
	case WAL_SNAP_SPACE:
		return snap_space(s, &r->u.space);
	case WAL_SNAP_DOC:
	case WAL_SNAP_DOC_T:
		return snap_doc(s, &r->u.snap_doc);
	case WAL_SNAP_TOMB:
		s->snap_seen.tombs++;
		return tomb_add_rec(s, r->u.tomb.tomb_id, &r->u.tomb);
	case WAL_SNAP_TARGET:
		s->backup_target = r->u.target.target;
		return 0;
	case WAL_SNAP_EVICT:
		return snap_evict(s, &r->u.evict);
	default:
		return -EBADMSG;
	}
}

/*
 * ---- the rules a record obeys, shared by apply and check ----
 *
 * rec_check() is the single statement of when a record fits the state.
 * apply_rec() runs it on the live state before each record it applies
 * (view not tracking: the state itself moves on between records).
 * store_check_frame() runs it over a whole frame before the frame is
 * logged, with the view tracking what the frame's earlier records would
 * have done (a frame may create a space and then a document in it), so
 * that a frame the store would refuse is never written to the log.
 */

#define VIEW_MAX 8

/* A node as a frame's earlier records left it. */
struct vnode {
	uint64_t id, space_id;
	const char *name;
	size_t name_len;
	uint64_t seq;
	uint64_t kids; /* spaces: documents */
	bool gone;
	bool evicted;
	uint64_t backup_seq; /* what BACKUP records of the frame set */
	int64_t backup_time_ns;
};

struct view {
	struct store *s;
	bool track; /* record effects in v[] (check) or not (apply) */
	size_t n;
	struct vnode v[VIEW_MAX];
};

static struct vnode *view_find(struct view *w, uint64_t id)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->v[i].id == id)
			return &w->v[i];
	return NULL;
}

/* Does node id exist in the view?  *out receives it. */
static bool view_get(struct view *w, uint64_t id, struct vnode *out)
{
	struct vnode *vn = view_find(w, id);
	struct node *n;

	if (vn) {
		*out = *vn;
		return !vn->gone;
	}
	n = node_get(w->s, id);
	if (!n)
		return false;
	out->id = n->id;
	out->space_id = n->space_id;
	out->name = n->name;
	out->name_len = strlen(n->name);
	out->seq = n->seq;
	out->kids = n->space_id ? 0 : n->kids.live;
	out->gone = false;
	out->evicted = n->evicted;
	out->backup_seq = n->backup_seq;
	out->backup_time_ns = n->backup_time_ns;
	return true;
}

static int view_put(struct view *w, const struct vnode *vn)
{
	struct vnode *at;

	if (!w->track)
		return 0;
	at = view_find(w, vn->id);
	if (!at) {
		if (w->n == VIEW_MAX)
			return -E2BIG; /* no frame of ours touches so many */
		at = &w->v[w->n++];
	}
	*at = *vn;
	return 0;
}

static bool view_doc(struct view *w, uint64_t id, struct vnode *out)
{
	return view_get(w, id, out) && out->space_id;
}

static bool view_space(struct view *w, uint64_t id, struct vnode *out)
{
	return id != STORE_ROOT_ID && view_get(w, id, out) && !out->space_id;
}

static bool view_name_taken(struct view *w, uint64_t space_id, const char *name,
			    size_t len)
{
	struct node *n;

	for (size_t i = 0; i < w->n; i++)
		if (!w->v[i].gone && w->v[i].space_id == space_id &&
		    w->v[i].name_len == len && !memcmp(w->v[i].name, name, len))
			return true;
	n = node_by_name(w->s, space_id, name, len);
	return n && !view_find(w, n->id);
}

/* Move the document count of space id by delta (+1 or -1). */
static int view_kids(struct view *w, uint64_t id, int delta)
{
	struct vnode sp;

	if (!w->track || !view_get(w, id, &sp))
		return 0;
	sp.kids += (uint64_t)(int64_t)delta;
	return view_put(w, &sp);
}

static int check_new_node(struct view *w, uint64_t id, uint64_t space_id,
			  const struct wal_name *name)
{
	struct vnode vn, sp;
	int rc;

	if (id <= STORE_ROOT_ID || id >= STORE_ID_LIMIT ||
	    view_get(w, id, &vn) ||
	    (space_id && !view_space(w, space_id, &sp)) ||
	    view_name_taken(w, space_id, name->p, name->len))
		return -EBADMSG;
	vn = (struct vnode){ .id = id,
			     .space_id = space_id,
			     .name = name->p,
			     .name_len = name->len };
	rc = view_put(w, &vn);
	return rc ? rc : space_id ? view_kids(w, space_id, 1) : 0;
}

static int check_rename(struct view *w, const struct wal_rename *r)
{
	struct vnode n, sp;
	uint64_t from;
	int rc;

	if (!view_doc(w, r->id, &n) || !view_space(w, r->space_id, &sp) ||
	    view_name_taken(w, r->space_id, r->key.p, r->key.len))
		return -EBADMSG;
	from = n.space_id;
	n.space_id = r->space_id;
	n.name = r->key.p;
	n.name_len = r->key.len;
	rc = view_put(w, &n);
	if (!rc)
		rc = view_kids(w, from, -1);
	return rc ? rc : view_kids(w, r->space_id, 1);
}

/* RENAME with space_id 0 renames a space (store_space_rename): it keeps
 * its id and its documents; the new name must be free at the root. */
static int check_space_rename(struct view *w, const struct wal_rename *r)
{
	struct vnode n;

	if (!view_space(w, r->id, &n) ||
	    view_name_taken(w, 0, r->key.p, r->key.len))
		return -EBADMSG;
	n.name = r->key.p;
	n.name_len = r->key.len;
	return view_put(w, &n);
}

/* EVICT: a document not evicted whose seq is the record's and is
 * confirmed in the cloud. */
static int check_evict(struct view *w, const struct wal_evict *r)
{
	struct vnode n;

	if (!view_doc(w, r->id, &n) || n.evicted || n.seq != r->seq ||
	    n.backup_seq < r->seq || n.backup_time_ns <= 0)
		return -EBADMSG;
	n.evicted = true;
	return view_put(w, &n);
}

/* 0 when record r fits the view's state (and, tracking, its effect is
 * noted), else -EBADMSG (-E2BIG: a frame too large to check).  live adds
 * the bounds a new change must keep (sequence numbers up to
 * STORE_SEQ_MAX); replay accepts what an older build logged. */
static int rec_check(struct view *w, const struct wal_rec *r, bool live)
{
	const struct wal_append *ap = &r->u.append;
	struct vnode n;
	int rc;

	switch (r->type) {
	case WAL_APPEND:
		if (!view_doc(w, ap->id, &n) ||
		    (n.evicted ? ap->seq != n.seq : ap->seq <= n.seq) ||
		    (live && ap->seq > STORE_SEQ_MAX) ||
		    !region_ok(w->s, ap->offset, ap->len))
			return -EBADMSG;
		n.seq = ap->seq;
		n.evicted = false; /* a refill */
		return view_put(w, &n);
	case WAL_EVICT:
		return check_evict(w, &r->u.evict);
	case WAL_DELETE:
		return view_doc(w, r->u.node.id, &n) ? 0 : -EBADMSG;
	case WAL_TRIM:
		return view_doc(w, r->u.trim.id, &n) ? 0 : -EBADMSG;
	case WAL_BACKUP:
		if (!view_doc(w, r->u.backup.id, &n))
			return -EBADMSG;
		if (!view_find(w, n.id))
			return 0; /* a node the frame did not touch before */
		n.backup_seq = r->u.backup.seq; /* a document created evicted */
		n.backup_time_ns = r->u.backup.time_ns;
		return view_put(w, &n);
	case WAL_MAPKEY:
		return check_new_node(w, r->u.mapkey.id, r->u.mapkey.space_id,
				      &r->u.mapkey.key);
	case WAL_MKSPACE:
		return check_new_node(w, r->u.space.id, 0, &r->u.space.name);
	case WAL_DELKEY:
		if (!view_doc(w, r->u.node.id, &n))
			return -EBADMSG;
		n.gone = true;
		rc = view_put(w, &n);
		return rc ? rc : view_kids(w, n.space_id, -1);
	case WAL_META:
		return r->u.meta.id == STORE_ROOT_ID ||
				       view_get(w, r->u.meta.id, &n)
			       ? 0
			       : -EBADMSG;
	case WAL_RMSPACE:
		if (!view_space(w, r->u.node.id, &n) || n.kids)
			return -EBADMSG;
		n.gone = true;
		return view_put(w, &n);
	case WAL_RENAME:
		if (r->u.rename.space_id == 0)
			return check_space_rename(w, &r->u.rename);
		return check_rename(w, &r->u.rename);
	case WAL_TOMB_ADD:
	case WAL_TOMB_DEL:
	case WAL_TARGET:
		return 0;
	case WAL_SNAPSHOT_ADD:
	case WAL_SNAPSHOT_DEL:
	case WAL_PIN:
	case WAL_NODE_LSN:
		return store_snapshot_check(w->s, r);
	case WAL_HIST_BASE: {
		struct node *d = node_get(w->s, r->u.node_lsn.id);

		return d && d->space_id ? 0 : -EBADMSG;
	}
	default:
		return -EBADMSG;
	}
}

/* The node whose state a reader sees that record r changes (0: none):
 * its state is kept first for the snapshots that see it. */
static uint64_t changed_node(const struct wal_rec *r)
{
	switch (r->type) {
	case WAL_APPEND:
		return r->u.append.id;
	case WAL_DELETE:
	case WAL_DELKEY:
	case WAL_RMSPACE:
		return r->u.node.id;
	case WAL_TRIM:
		return r->u.trim.id;
	case WAL_META:
		return r->u.meta.id;
	case WAL_RENAME:
		return r->u.rename.id;
	case WAL_EVICT: /* frees the entries a snapshot may still see */
		return r->u.evict.id;
	default:
		return 0;
	}
}

int store_check_frame(struct store *s, const uint8_t *p, size_t len)
{
	struct view w = { .s = s, .track = true };
	struct wal_rec r;
	size_t pos = 0;
	int rc;

	if (!s->snap_done)
		return -EBADMSG;
	while ((rc = wal_rec_next(p, len, &pos, &r)) > 0) {
		rc = rec_check(&w, &r, true);
		if (rc)
			return rc;
	}
	return rc;
}

/* The cloud target changed: every document's copy there is unknown, so
 * each is pending again (time -1: a copy may exist under its name, so
 * that deleting it still removes that copy). */
static void target_set(struct store *s, uint64_t target)
{
	uint64_t old = s->backup_target;

	if (target == old)
		return;
	s->backup_target = target;
	/* A store that never named its target (made before targets were
	 * recorded) adopts the first one as the target it backed up to. */
	if (old == 0)
		return;
	size_t pos = 0;
	void *v;

	while (node_next(s, &pos, NULL, &v)) {
		struct node *n = v;

		if (!n->space_id)
			continue;
		n->backup_seq = 0;
		n->backup_time_ns = 0; /* never uploaded there */
	}
}

static int apply_append(struct store *s, const struct wal_append *r,
			uint64_t lsn)
{
	struct node *n = doc_of(s, r->id);
	struct ent e = { .seq = r->seq,
			 .off = r->offset,
			 .len = r->len,
			 .crc = r->crc,
			 .time_ns = r->mtime_ns };
	int rc = ent_push(s, n, &e);

	if (rc)
		return rc;
	if (r->len)
		memcpy(s->map + r->offset, r->bytes, r->len);
	if (n->evicted)
		store_refill_apply(s, n);
	store_node_used(s, n);
	if (n->seq != r->seq)
		n->size_memo = 0;
	n->seq = r->seq;
	n->lsn = lsn;
	if (r->mtime_ns)
		n->meta.mtime_ns = n->meta.ctime_ns = r->mtime_ns;
	return 0;
}

static int apply_trim(struct store *s, const struct wal_trim *r, uint64_t lsn,
		      bool live)
{
	struct node *n = doc_of(s, r->id);
	uint32_t k;

	int rc;

	for (k = 0; k < n->nent && n->ents[k].seq < r->first_kept_seq; k++)
		;
	n->lsn = lsn;
	rc = drop_front(s, n, k, lsn, live);
	/* the newest entry is the base (a Trim follows the Append of a
	 * whole document in its frame); what stays before it is history */
	hist_set(s, n, n->seq);
	return rc;
}

static void apply_meta(struct store *s, const struct wal_setmeta *r,
		       uint64_t lsn)
{
	struct node *n;

	if (r->id == STORE_ROOT_ID) {
		meta_from_wal(&r->meta, &s->root_meta);
		return;
	}
	n = node_get(s, r->id);
	meta_from_wal(&r->meta, &n->meta);
	n->lsn = lsn;
	/* the cloud copy carries the metadata: it is stale now */
	if (n->space_id && n->backup_time_ns > 0)
		n->backup_time_ns = -1;
}

static int apply_rename(struct store *s, const struct wal_rename *r,
			uint64_t lsn)
{
	struct node *n;
	int rc;

	if (r->space_id == 0) { /* a space (check_space_rename) */
		n = space_of(s, r->id);
		rc = node_rename(s, &n, 0, r->key.p, r->key.len);
		n->lsn = lsn;
		return rc;
	}
	n = doc_of(s, r->id);
	rc = node_rename(s, &n, r->space_id, r->key.p, r->key.len);

	n->backup_seq = 0;
	n->backup_time_ns = 0;
	n->lsn = lsn;
	return rc;
}

static int apply_rec(struct store *s, const struct wal_rec *r, uint64_t lsn,
		     bool live)
{
	struct view w = { .s = s, .track = false };
	struct node *n;
	int rc;

	if (r->type >= WAL_SNAP_BEGIN)
		return apply_snap(s, r);
	if (!s->snap_done)
		return -EBADMSG;
	rc = rec_check(&w, r, false);
	if (!rc && changed_node(r))
		rc = store_snapshot_before_change(s, changed_node(r), lsn);
	if (rc)
		return rc;

	switch (r->type) {
	case WAL_APPEND:
		return apply_append(s, &r->u.append, lsn);
	case WAL_DELETE:
		n = doc_of(s, r->u.node.id);
		n->lsn = lsn;
		return drop_front(s, n, n->nent, lsn, live);
	case WAL_TRIM:
		return apply_trim(s, &r->u.trim, lsn, live);
	case WAL_MAPKEY:
		rc = node_add(s, r->u.mapkey.id, r->u.mapkey.space_id,
			      r->u.mapkey.key.p, r->u.mapkey.key.len,
			      &r->u.mapkey.meta, &n);
		if (!rc)
			n->lsn = lsn;
		return rc;
	case WAL_DELKEY:
		n = doc_of(s, r->u.node.id);
		rc = drop_front(s, n, n->nent, lsn, live);
		store_evict_forget(s, n);
		node_remove(s, n);
		return rc;
	case WAL_EVICT:
		n = doc_of(s, r->u.evict.id);
		n->lsn = lsn;
		rc = drop_front(s, n, n->nent, lsn, live);
		store_evict_apply(s, n, r->u.evict.size_bytes);
		return rc;
	case WAL_META:
		apply_meta(s, &r->u.meta, lsn);
		return 0;
	case WAL_MKSPACE:
		rc = node_add(s, r->u.space.id, 0, r->u.space.name.p,
			      r->u.space.name.len, &r->u.space.meta, &n);
		if (!rc)
			n->lsn = lsn;
		return rc;
	case WAL_RMSPACE:
		node_remove(s, space_of(s, r->u.node.id));
		return 0;
	case WAL_RENAME:
		return apply_rename(s, &r->u.rename, lsn);
	case WAL_BACKUP:
		n = doc_of(s, r->u.backup.id);
		n->backup_seq = r->u.backup.seq;
		n->backup_time_ns = r->u.backup.time_ns;
		return 0;
	case WAL_TOMB_ADD:
		return tomb_add_rec(s, r->u.tomb.tomb_id, &r->u.tomb);
	case WAL_TOMB_DEL:
		tomb_del(s, r->u.tomb.tomb_id);
		return 0;
	case WAL_TARGET:
		target_set(s, r->u.target.target);
		return 0;
	case WAL_SNAPSHOT_ADD:
	case WAL_SNAPSHOT_DEL:
	case WAL_PIN:
	case WAL_NODE_LSN:
		return store_snapshot_apply(s, r, lsn, live);
	case WAL_HIST_BASE:
		hist_set(s, doc_of(s, r->u.node_lsn.id), r->u.node_lsn.lsn);
		return 0;
	default:
		return -EBADMSG;
	}
}

/* A snapshot's document, PREFETCH_AHEAD records before it is applied:
 * the two map slots its node_add probes are fetched meanwhile (each is a
 * cache miss in tables of tens of MB: most of an open's time without). */
#define PREFETCH_AHEAD 8

static void prefetch_rec(struct store *s, const uint8_t *p, size_t len,
			 size_t *ahead)
{
	struct wal_rec r;

	if (wal_rec_next(p, len, ahead, &r) > 0 &&
	    (r.type == WAL_SNAP_DOC || r.type == WAL_SNAP_DOC_T))
		node_prefetch(s, r.u.snap_doc.id, r.u.snap_doc.space_id,
			      r.u.snap_doc.key.p, r.u.snap_doc.key.len);
}

int store_apply_frame(struct store *s, uint64_t lsn, const uint8_t *p,
		      size_t len, bool live)
{
	struct wal_rec r;
	size_t pos = 0, ahead = 0;
	int rc = 0;

	/* Decode everything first: a frame is applied whole or not at all.
	 * A live frame was encoded a moment ago by us: no need. */
	while (!live && (rc = wal_rec_next(p, len, &pos, &r)) > 0)
		;
	if (rc < 0)
		return rc;
	s->applied_lsn = lsn;
	pos = 0;
	for (int i = 0; !live && i < PREFETCH_AHEAD; i++)
		prefetch_rec(s, p, len, &ahead);
	while ((rc = wal_rec_next(p, len, &pos, &r)) > 0) {
		if (!live)
			prefetch_rec(s, p, len, &ahead);
		rc = apply_rec(s, &r, lsn, live);
		if (rc)
			return rc;
	}
	return rc;
}

int store_replay_frame(void *arg, uint64_t lsn, const uint8_t *p, size_t len)
{
	struct store *s = arg;
	bool in = s->in_snapshot, done = s->snap_done;
	int rc = store_apply_frame(s, lsn, p, len, false);

	/* The snapshot's bytes, as store_write_snapshot counts them: the
	 * cut-over rule (checkpoint.c) waits for twice that, so the first
	 * change after opening a big store does not rewrite its index. */
	if (!rc && (in || s->in_snapshot || s->snap_done != done))
		s->last_snap_bytes += len;
	if (rc == -EBADMSG)
		log_error("cannot open store '%s': frame %" PRIu64
			  " does not apply to the state before it",
			  s->dir, lsn);
	return rc;
}

/* ---- writing the snapshot ---- */

struct snap_writer {
	struct store *s;
	struct wal_snap *sn;
	struct wal_buf buf;
	uint32_t crc;
	uint64_t count;
	uint64_t bytes;
};

/* Account the record just put at [start, buf.len) and flush full frames. */
static int snap_put_done(struct snap_writer *w, size_t start, int rc)
{
	if (rc)
		return rc;
	w->crc = crc32c_extend(w->crc, w->buf.p + start + WAL_REC_HDR,
			       w->buf.len - start - WAL_REC_HDR);
	w->count++;
	if (w->buf.len < SNAP_FRAME_BYTES)
		return 0;
	rc = wal_snap_frame(w->sn, w->buf.p, w->buf.len);
	w->bytes += w->buf.len;
	w->buf.len = 0;
	return rc;
}

int store_write_snapshot(void *arg, struct wal_snap *sn)
{
	struct snap_writer w = { .s = arg, .sn = sn };
	struct store *s = w.s;
	struct wal_snap_begin sb;
	struct wal_ent *ents = NULL;
	int64_t *times = NULL;
	uint32_t ents_cap = 0;
	struct wal_meta m;
	size_t start;
	int rc;

	if (s->snap_writing)
		s->snap_writing(s->snap_writing_arg);
	wal_buf_init(&w.buf);
	start = w.buf.len;
	sb = (struct wal_snap_begin){ .next_id = s->next_id,
				      .next_tomb_id = s->next_tomb_id,
				      .capacity_bytes = s->capacity,
				      .spaces = s->nspaces,
				      .docs = s->ndocs,
				      .entries = s->nentries,
				      .tombs = s->ntombs };
	rc = snap_put_done(&w, start, wal_put_snap_begin(&w.buf, &sb));
	if (!rc && s->backup_target) {
		start = w.buf.len;
		rc = snap_put_done(&w, start,
				   wal_put_id(&w.buf, WAL_SNAP_TARGET,
					      s->backup_target));
	}
	for (uint32_t i = 0; !rc && i < s->spaces.n; i++) {
		uint64_t id;
		struct node *sp;

		if (!kids_at(&s->spaces, i, &id))
			continue;
		sp = node_get(s, id);
		meta_to_wal(&sp->meta, &m);
		start = w.buf.len;
		rc = snap_put_done(&w, start,
				   wal_put_snap_space(&w.buf, sp->id, &m,
						      sp->name));
	}
	for (uint32_t i = 0; !rc && i < s->spaces.n; i++) {
		uint64_t id;
		struct node *sp;

		if (!kids_at(&s->spaces, i, &id))
			continue;
		sp = node_get(s, id);
		for (uint32_t j = 0; !rc && j < sp->kids.n; j++) {
			struct node *n;

			if (!kids_at(&sp->kids, j, &id))
				continue;
			n = node_get(s, id);

			if (n->nent > ents_cap) {
				struct wal_ent *e;
				int64_t *t;

				e = realloc(ents, n->nent * sizeof(*e));
				if (e)
					ents = e;
				t = realloc(times, n->nent * sizeof(*t));
				if (t)
					times = t;
				if (!e || !t) {
					rc = -ENOMEM;
					break;
				}
				ents_cap = n->nent;
			}
			for (uint32_t k = 0; k < n->nent; k++) {
				ents[k].seq = n->ents[k].seq;
				ents[k].offset = n->ents[k].off;
				ents[k].len = n->ents[k].len;
				ents[k].crc = n->ents[k].crc;
				times[k] = n->ents[k].time_ns;
			}
			meta_to_wal(&n->meta, &m);
			start = w.buf.len;
			rc = snap_put_done(
				&w, start,
				wal_put_snap_doc_t(
					&w.buf, n->id, n->space_id, n->seq,
					n->backup_seq, n->backup_time_ns, &m,
					n->name, ents, times, n->nent));
			if (!rc && n->evicted) {
				start = w.buf.len;
				rc = snap_put_done(
					&w, start,
					wal_put_evict(&w.buf, WAL_SNAP_EVICT,
						      n->id, n->seq,
						      n->evicted_bytes));
			}
		}
	}
	for (struct tomb *t = s->tombs; !rc && t; t = t->next) {
		start = w.buf.len;
		rc = snap_put_done(&w, start,
				   wal_put_tomb_add(&w.buf, WAL_SNAP_TOMB,
						    t->id, t->space, t->key));
	}
	if (!rc)
		rc = wal_put_snap_end(&w.buf, w.crc, w.count);
	/* The root has no node: its metadata follows the snapshot as an
	 * ordinary record in the same frame. */
	if (!rc) {
		meta_to_wal(&s->root_meta, &m);
		rc = wal_put_meta(&w.buf, STORE_ROOT_ID, &m);
	}
	/* The named snapshots and what they keep follow, as records of the
	 * log (snapshot.c). */
	if (!rc)
		rc = store_snapshot_write(s, &w.buf);
	/* Where each document's history ends (the snapshot does not say). */
	for (size_t pos = 0; !rc;) {
		void *v;
		struct node *n;

		if (!node_next(s, &pos, NULL, &v))
			break;
		n = v;
		if (n->hist_bytes)
			rc = wal_put_hist_base(&w.buf, n->id, n->hist_seq);
	}
	if (!rc) {
		rc = wal_snap_frame(sn, w.buf.p, w.buf.len);
		w.bytes += w.buf.len;
	}
	if (!rc)
		/* read without the lock by cutover_due() */
		__atomic_store_n(&s->last_snap_bytes, w.bytes,
				 __ATOMIC_RELAXED);
	free(ents);
	free(times);
	wal_buf_release(&w.buf);
	return rc;
}

/* ---- allocator rebuild ---- */

struct span {
	uint64_t off, len;
};

static int cmp_span(const void *a, const void *b)
{
	const struct span *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* The spans v[0 .. n) in order of offset (*vp may move to the scratch
 * array): a least-significant-digit radix sort, RADIX_BITS a pass over
 * as many bits as the largest offset has (3 passes below 8 GiB), O(n) a
 * pass; qsort's comparisons through a pointer took 8% of the open of a
 * store of 3M documents.  Without memory for the scratch, qsort. */
#define RADIX_BITS 11

static void spans_sort(struct span **vp, uint64_t n)
{
	static const size_t nd = (size_t)1 << RADIX_BITS;
	struct span *v = *vp, *t, *sw;
	uint64_t max = 0;
	size_t *at;

	for (uint64_t i = 0; i < n; i++)
		max |= v[i].off;
	if (n < 2 || max == 0)
		return;
	t = malloc(n * sizeof(*t));
	at = malloc(nd * sizeof(*at));
	if (!t || !at) {
		free(t);
		free(at);
		qsort(v, n, sizeof(*v), cmp_span);
		return;
	}
	for (unsigned shift = 0; shift < 64 && max >> shift;
	     shift += RADIX_BITS) {
		size_t sum = 0;

		memset(at, 0, nd * sizeof(*at));
		for (uint64_t i = 0; i < n; i++)
			at[(v[i].off >> shift) & (nd - 1)]++;
		for (size_t d = 0; d < nd; d++) {
			size_t c = at[d];

			at[d] = sum;
			sum += c;
		}
		for (uint64_t i = 0; i < n; i++)
			t[at[(v[i].off >> shift) & (nd - 1)]++] = v[i];
		sw = v;
		v = t;
		t = sw;
	}
	free(t);
	free(at);
	*vp = v;
}

struct spans {
	struct span *v;
	uint64_t n;
};

static int span_add(void *arg, uint64_t off, uint64_t len)
{
	struct spans *sp = arg;

	sp->v[sp->n].off = off;
	sp->v[sp->n].len = len;
	sp->n++;
	return 0;
}

int store_rebuild_alloc(struct store *s)
{
	uint64_t kept = store_snapshot_orphan_count(s);
	struct span *v = malloc((s->nentries + kept + 1) * sizeof(*v));
	uint64_t n = 0, at = DATA_HDR, end = DATA_HDR + s->capacity;
	struct spans sp;
	struct alloc *a;
	void *nv;
	int rc = 0;

	if (!v)
		return -ENOMEM;
	/* entries only snapshots keep are taken too */
	store_snapshot_settle(s);
	sp.v = v;
	sp.n = 0;
	store_snapshot_orphans(s, span_add, &sp);
	n = sp.n;
	for (size_t pos = 0; node_next(s, &pos, NULL, &nv);) {
		struct node *nd = nv;

		for (uint32_t k = 0; k < nd->nent; k++) {
			if (nd->ents[k].len == 0)
				continue;
			v[n].off = nd->ents[k].off;
			v[n].len = nd->ents[k].len;
			n++;
		}
	}
	spans_sort(&v, n);
	a = alloc_new_empty(DATA_HDR, s->capacity);
	if (!a) {
		free(v);
		return -ENOMEM;
	}
	for (uint64_t i = 0; i < n && !rc; i++) {
		if (v[i].off < at) {
			log_error("cannot open store '%s': entries overlap at "
				  "offset %" PRIu64,
				  s->dir, v[i].off);
			rc = -EBADMSG;
			break;
		}
		if (v[i].off > at)
			rc = alloc_release(a, at, v[i].off - at);
		at = v[i].off + v[i].len;
	}
	if (!rc && at < end)
		rc = alloc_release(a, at, end - at);
	free(v);
	if (rc) {
		alloc_free(a);
		return rc;
	}
	alloc_free(s->alloc);
	s->alloc = a;
	return 0;
}
