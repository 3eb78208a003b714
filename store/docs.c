/*
 * docs.c - spaces and documents: the store API's mutations (create,
 * remove, rename, append, trim, metadata, import) and reads (lookup,
 * list, read, info, names).
 *
 * Every mutation follows the protocol of change.c: store_change_begin,
 * validate against the index, take space, encode the frame into
 * s->scratch, store_change_commit, store_change_end.  An append of a
 * large entry (STORE_LARGE_ENTRY or more) takes the lock twice, with its
 * frame in a buffer of its own (append_large, and change.c on why).  A failed step
 * before the commit changes nothing; space taken for it is given back
 * (entries_release).  Readers take s->lock shared; a pointer into the
 * map handed to a store_read callback is valid only during the call.
 *
 * Names follow store_name_check (util/name.h with the opener's reserved
 * prefix).  Removing a document that was ever uploaded leaves a tombstone
 * of its name (put_remove), so its cloud copy is deleted later
 * (backup.c); a new document under that name drops the tombstone and
 * marks the cloud's copy stale instead (put_untomb).
 *
 * An evicted document (evict.c) has no entries here: reading it, appending
 * to it, renaming it (or its space) or setting its metadata is refused
 * with -ENODATA, changing nothing, until it is refilled from the cloud
 * (store_doc_refill); its upload under a new name or with new metadata
 * would need the content.  Deleting it needs nothing.
 */
#include "store/store.h"

#include "store/store_internal.h"
#include "util/clock.h"
#include "util/crc32c.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- spaces ---- */

int store_space_create(struct store *s, const char *name,
		       const struct store_meta *m, uint64_t *id, uint64_t *lsn)
{
	struct wal_meta wm;
	uint64_t nid = 0, l = 0;
	int rc = store_name_check(s, name);

	if (rc)
		return rc;
	rc = store_change_begin(s);
	if (rc)
		return rc;
	if (node_by_name(s, 0, name, strlen(name))) {
		rc = -EEXIST;
		goto out;
	}
	nid = s->next_id;
	meta_to_wal(m, &wm);
	rc = wal_put_mkspace(&s->scratch, nid, &wm, name);
	if (!rc)
		rc = store_change_commit(s, &l);
	if (!rc && id)
		*id = nid;
out:
	return store_change_end(s, rc, nid, l, lsn);
}

int store_space_remove(struct store *s, const char *name, uint64_t *lsn)
{
	struct node *sp;
	uint64_t l = 0, sid = 0;
	int rc = store_change_begin(s);

	if (rc)
		return rc;
	sp = node_by_name(s, 0, name, strlen(name));
	if (!sp) {
		rc = -ENOENT;
		goto out;
	}
	if (sp->kids.live) {
		rc = -ENOTEMPTY;
		goto out;
	}
	sid = sp->id;
	rc = wal_put_id(&s->scratch, WAL_RMSPACE, sid);
	if (!rc)
		rc = store_change_commit(s, &l);
out:
	return store_change_end(s, rc, sid, l, lsn);
}

int store_space_lookup(struct store *s, const char *name, uint64_t *id)
{
	struct node *sp;
	int rc = 0;

	pthread_rwlock_rdlock(&s->lock);
	sp = node_by_name(s, 0, name, strlen(name));
	if (sp)
		*id = sp->id;
	else
		rc = -ENOENT;
	pthread_rwlock_unlock(&s->lock);
	return rc;
}

static int list_kids(struct store *s, const struct kids *k, uint64_t from,
		     store_name_fn fn, void *arg)
{
	for (uint32_t i = kids_lower_bound(k, from); i < k->n; i++) {
		uint64_t id;
		struct node *n;
		int rc;

		if (!kids_at(k, i, &id))
			continue;
		n = node_get(s, id);
		rc = fn(arg, n->id, n->name);
		if (rc)
			return rc;
	}
	return 0;
}

int store_space_list(struct store *s, uint64_t from_id, store_name_fn fn,
		     void *arg)
{
	int rc;

	pthread_rwlock_rdlock(&s->lock);
	rc = list_kids(s, &s->spaces, from_id, fn, arg);
	pthread_rwlock_unlock(&s->lock);
	return rc;
}

/* ---- documents ---- */

static int space_get(struct store *s, uint64_t id, struct node **out)
{
	struct node *sp = node_get(s, id);

	if (!sp || id == STORE_ROOT_ID)
		return -ENOENT;
	if (sp->space_id)
		return -ENOTDIR;
	*out = sp;
	return 0;
}

/* Add a TOMB_DEL for a tombstone at (space, key), if any: the document
 * that takes the name will overwrite the cloud copy itself.  *stale tells
 * whether a cloud copy exists under the name, so that the new document
 * is marked as owning it (BACKUP seq 0, time -1) and its own delete or
 * rename leaves a tombstone again. */
static int put_untomb(struct store *s, const char *space, const char *key,
		      bool *stale)
{
	struct tomb *t = tomb_find(s, space, key);

	if (!t)
		return 0;
	*stale = true;
	return wal_put_id(&s->scratch, WAL_TOMB_DEL, t->id);
}

int store_doc_create(struct store *s, uint64_t space_id, const char *key,
		     const struct store_meta *m, uint64_t *id, uint64_t *lsn)
{
	struct node *sp;
	struct wal_meta wm;
	uint64_t nid = 0, l = 0;
	bool stale = false;
	int rc = store_name_check(s, key);

	if (rc)
		return rc;
	rc = store_change_begin(s);
	if (rc)
		return rc;
	rc = space_get(s, space_id, &sp);
	if (rc)
		goto out;
	if (node_by_name(s, space_id, key, strlen(key))) {
		rc = -EEXIST;
		goto out;
	}
	nid = s->next_id;
	meta_to_wal(m, &wm);
	rc = put_untomb(s, sp->name, key, &stale);
	if (!rc)
		rc = wal_put_mapkey(&s->scratch, nid, space_id, &wm, key);
	if (!rc && stale)
		rc = wal_put_backup(&s->scratch, nid, 0, -1);
	if (!rc)
		rc = store_change_commit(s, &l);
	if (!rc && id)
		*id = nid;
out:
	return store_change_end(s, rc, nid, l, lsn);
}

int store_doc_lookup(struct store *s, uint64_t space_id, const char *key,
		     uint64_t *id)
{
	struct node *n;
	int rc = 0;

	pthread_rwlock_rdlock(&s->lock);
	n = node_by_name(s, space_id, key, strlen(key));
	if (n)
		*id = n->id;
	else
		rc = -ENOENT;
	pthread_rwlock_unlock(&s->lock);
	return rc;
}

int store_doc_list(struct store *s, uint64_t space_id, uint64_t from_id,
		   store_name_fn fn, void *arg)
{
	struct node *sp;
	int rc;

	pthread_rwlock_rdlock(&s->lock);
	rc = space_get(s, space_id, &sp);
	if (!rc)
		rc = list_kids(s, &sp->kids, from_id, fn, arg);
	pthread_rwlock_unlock(&s->lock);
	return rc;
}

/* Encode the removal of document n (Delete + DelKey, and a tombstone
 * when its cloud copy must go). */
static int put_remove(struct store *s, struct node *n, bool tomb)
{
	int rc = wal_put_id(&s->scratch, WAL_DELETE, n->id);

	if (!rc)
		rc = wal_put_id(&s->scratch, WAL_DELKEY, n->id);
	if (!rc && tomb && n->backup_time_ns) {
		struct node *sp = node_get(s, n->space_id);
		rc = wal_put_tomb_add(&s->scratch, WAL_TOMB_ADD,
				      s->next_tomb_id, sp->name, n->name);
	}
	return rc;
}

static int doc_delete(struct store *s, uint64_t id, bool check,
		      uint64_t expect_lsn, uint64_t *lsn)
{
	struct node *n;
	uint64_t l = 0;
	int rc = store_change_begin(s);

	if (rc)
		return rc;
	n = store_doc_node(s, id, &rc);
	if (!n)
		goto out;
	if (check && n->lsn != expect_lsn) {
		rc = -EAGAIN;
		goto out;
	}
	rc = put_remove(s, n, true);
	if (!rc)
		rc = store_change_commit(s, &l);
out:
	return store_change_end(s, rc, id, l, lsn);
}

int store_doc_delete(struct store *s, uint64_t id, uint64_t *lsn)
{
	return doc_delete(s, id, false, 0, lsn);
}

int store_doc_delete_if(struct store *s, uint64_t id, uint64_t expect_lsn,
			uint64_t *lsn)
{
	return doc_delete(s, id, true, expect_lsn, lsn);
}

int store_doc_rename(struct store *s, uint64_t id, uint64_t space_id,
		     const char *key, int flags, uint64_t *lsn)
{
	struct node *n, *sp, *target, *from;
	uint64_t l = 0;
	bool stale = false;
	int rc = store_name_check(s, key);

	if (rc)
		return rc;
	rc = store_change_begin(s);
	if (rc)
		return rc;
	n = store_doc_node(s, id, &rc);
	if (!n)
		goto out;
	if (n->evicted) {
		rc = -ENODATA;
		goto out;
	}
	rc = space_get(s, space_id, &sp);
	if (rc)
		goto out;
	target = node_by_name(s, space_id, key, strlen(key));
	if (target == n)
		goto out; /* renaming onto itself changes nothing */
	if (target && (flags & STORE_RENAME_NOREPLACE)) {
		rc = -EEXIST;
		goto out;
	}
	if (target) {
		/* the target's cloud copy now belongs to the renamed document,
		 * whose upload will overwrite it */
		stale = target->backup_time_ns != 0;
		rc = put_remove(s, target, false);
	}
	from = node_get(s, n->space_id);
	if (!rc && n->backup_time_ns)
		rc = wal_put_tomb_add(&s->scratch, WAL_TOMB_ADD,
				      s->next_tomb_id, from->name, n->name);
	if (!rc)
		rc = put_untomb(s, sp->name, key, &stale);
	if (!rc)
		rc = wal_put_rename(&s->scratch, id, space_id, key);
	if (!rc && stale)
		rc = wal_put_backup(&s->scratch, id, 0, -1);
	if (!rc)
		rc = store_change_commit(s, &l);
out:
	return store_change_end(s, rc, l ? id : 0, l, lsn);
}

/* first_kept: 0, or drop the entries before it in the same frame.  crc:
 * crc32c of the bytes, computed before the lock was taken (the one CRC
 * pass over them: the record's, which the frame's continues over them,
 * wal_append_spans). */
static int append_locked(struct store *s, struct node *n, const void *buf,
			 size_t len, uint32_t crc, uint64_t first_kept,
			 uint64_t *seq, uint64_t *lsn)
{
	struct wal_span sp = { s->scratch.len + WAL_APPEND_BYTES_AT, len, crc };
	uint64_t off;
	int rc;

	if (n->seq >= STORE_SEQ_MAX)
		return -EOVERFLOW;
	rc = store_take_space(s, len, &off);
	if (rc)
		return rc;
	rc = wal_put_append(&s->scratch, n->id, n->seq + 1, off,
			    clock_real_ns(), buf, (uint32_t)len, sp.crc);
	if (!rc && first_kept)
		rc = wal_put_trim(&s->scratch, n->id, first_kept);
	if (!rc)
		rc = store_change_commit_spans(s, &sp, 1, lsn);
	if (rc) {
		if (len && !s->failed)
			alloc_release(s->alloc, off, len);
		return rc;
	}
	if (seq)
		*seq = n->seq;
	s->appends++;
	return 0;
}

/* The document an append goes to, as it stands (lock held): NULL with
 * *rc when it is not one, is evicted, or (replace) moved past
 * expect_seq. */
static struct node *append_target(struct store *s, uint64_t id, bool replace,
				  uint64_t expect_seq, int *rc)
{
	struct node *n = store_doc_node(s, id, rc);

	if (!n)
		return NULL;
	if (n->evicted) {
		*rc = -ENODATA;
		return NULL;
	}
	if (replace && n->seq != expect_seq) {
		*rc = -EAGAIN;
		return NULL;
	}
	return n;
}

/* A large entry (STORE_LARGE_ENTRY or more), so that no other change
 * waits for its copies or for faulting in its pages:
 *   before the lock: its Append record encoded, bytes and all, into a
 *     buffer of its own (its seq and place still blank);
 *   step 1, under the lock: the document checked, space taken;
 *   no lock: the bytes written into that space through the file
 *     (store_space_place: the space is free in every recoverable state,
 *     as change.c says), so that its pages are in the page cache;
 *   step 2, under the lock: the document checked again (other changes
 *     went on: a replace whose document moved past expect_seq gets
 *     -EAGAIN, an append takes the seq after the latest), the record
 *     placed, the Trim of a replace put after it, committed with the
 *     frame reserved in the log (store_change_commit_frame) and applied
 *     (its one copy under the lock: into the map);
 *   after the lock: the frame copied into the log (store_change_end).
 * A step that fails gives the space back. */
static int append_large(struct store *s, uint64_t id, const void *buf,
			size_t len, uint32_t crc, bool replace,
			uint64_t expect_seq, uint64_t first_kept, uint64_t *seq,
			uint64_t *lsn)
{
	struct wal_span sp = { WAL_APPEND_BYTES_AT, len, crc };
	struct wal_buf fr;
	struct node *n;
	uint64_t off = 0, l = 0;
	int rc;

	wal_buf_init(&fr);
	rc = wal_put_append(&fr, id, 0, 0, clock_real_ns(), buf, (uint32_t)len,
			    crc);
	if (rc)
		goto done;
	rc = store_change_begin(s);
	if (rc)
		goto done;
	n = append_target(s, id, replace, expect_seq, &rc);
	if (n && n->seq >= STORE_SEQ_MAX)
		rc = -EOVERFLOW;
	else if (n)
		rc = store_take_space(s, len, &off);
	if (rc) {
		rc = store_change_end(s, rc, 0, 0, NULL);
		goto done;
	}
	store_change_pause(s);
	if (s->large_seam)
		s->large_seam(s->large_seam_arg);
	store_space_place(s, off, buf, len);
	rc = store_change_begin(s);
	if (rc) {
		store_space_giveback(s, off, len);
		goto done;
	}
	n = append_target(s, id, replace, expect_seq, &rc);
	if (n && n->seq >= STORE_SEQ_MAX)
		rc = -EOVERFLOW;
	if (rc)
		goto out;
	if (replace && (!first_kept || first_kept > n->seq + 1))
		first_kept = n->seq + 1;
	wal_append_place(fr.p, n->seq + 1, off);
	if (replace)
		rc = wal_put_trim(&fr, id, first_kept);
	if (!rc)
		rc = store_change_commit_frame(s, fr.p, fr.len, &sp, 1, &l);
	if (!rc) {
		if (seq)
			*seq = n->seq;
		s->appends++;
	}
out:
	if (rc && !s->failed)
		alloc_release(s->alloc, off, len);
	rc = store_change_end(s, rc, id, l, lsn);
done:
	wal_buf_release(&fr);
	return rc;
}

static int append_common(struct store *s, uint64_t id, const void *buf,
			 size_t len, bool replace, uint64_t expect_seq,
			 uint64_t first_kept, uint64_t *seq, uint64_t *lsn)
{
	struct node *n;
	uint64_t l = 0;
	uint32_t crc;
	int rc;

	if (len > s->opt.max_entry_bytes)
		return -EFBIG;
	crc = crc32c(buf, len); /* not under the lock: a large entry's
				   pass would hold every change */
	if (len >= STORE_LARGE_ENTRY)
		return append_large(s, id, buf, len, crc, replace, expect_seq,
				    first_kept, seq, lsn);
	rc = store_change_begin(s);
	if (rc)
		return rc;
	n = append_target(s, id, replace, expect_seq, &rc);
	if (!n)
		goto out;
	if (replace && (!first_kept || first_kept > n->seq + 1))
		first_kept = n->seq + 1;
	rc = append_locked(s, n, buf, len, crc, replace ? first_kept : 0, seq,
			   &l);
out:
	return store_change_end(s, rc, id, l, lsn);
}

int store_append(struct store *s, uint64_t id, const void *buf, size_t len,
		 uint64_t *seq, uint64_t *lsn)
{
	return append_common(s, id, buf, len, false, 0, 0, seq, lsn);
}

/* Entries of a batch or an import: each checked against the entry limit
 * up front, then given space and an Append record (seq0, seq0 + 1, ...)
 * in the scratch frame.  offs[] (n + 1 slots, caller-owned) records the
 * space taken, sp[] (n slots) the span of each entry's bytes in the frame
 * with their CRC (store_change_commit_spans); *taken how many entries got
 * some, for entries_release when the change does not commit. */
static int entries_check(const struct store *s,
			 const struct store_import_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (e[i].len > s->opt.max_entry_bytes)
			return -EFBIG;
	return 0;
}

static int entries_put(struct store *s, uint64_t id, uint64_t seq0,
		       int64_t time_ns, const struct store_import_entry *e,
		       size_t n, uint64_t *offs, struct wal_span *sp,
		       size_t *taken)
{
	int rc = 0;

	for (size_t i = 0; i < n && !rc; i++) {
		rc = store_take_space(s, e[i].len, &offs[i]);
		if (rc)
			break;
		*taken = i + 1;
		sp[i] = (struct wal_span){ s->scratch.len + WAL_APPEND_BYTES_AT,
					   e[i].len,
					   crc32c(e[i].buf, e[i].len) };
		rc = wal_put_append(&s->scratch, id, seq0 + i, offs[i], time_ns,
				    e[i].buf, (uint32_t)e[i].len, sp[i].crc);
	}
	return rc;
}

static void entries_release(struct store *s, const struct store_import_entry *e,
			    const uint64_t *offs, size_t taken)
{
	if (s->failed)
		return;
	for (size_t i = 0; i < taken; i++)
		if (e[i].len)
			alloc_release(s->alloc, offs[i], e[i].len);
}

int store_append_batch(struct store *s, uint64_t id,
		       const struct store_import_entry *e, size_t n,
		       uint64_t *seq, uint64_t *lsn)
{
	struct node *nd;
	uint64_t *offs, l = 0;
	struct wal_span *spans;
	size_t taken = 0;
	int rc;

	rc = entries_check(s, e, n);
	if (rc)
		return rc;
	offs = calloc(n + 1, sizeof(*offs));
	spans = calloc(n + 1, sizeof(*spans));
	if (!offs || !spans) {
		free(offs);
		free(spans);
		return -ENOMEM;
	}
	rc = store_change_begin(s);
	if (rc) {
		free(offs);
		free(spans);
		return rc;
	}
	nd = store_doc_node(s, id, &rc);
	if (!nd)
		goto out;
	if (nd->evicted) {
		rc = -ENODATA;
		goto out;
	}
	if (n > STORE_SEQ_MAX - nd->seq) {
		rc = -EOVERFLOW;
		goto out;
	}
	rc = entries_put(s, id, nd->seq + 1, clock_real_ns(), e, n, offs, spans,
			 &taken);
	if (!rc && n)
		rc = store_change_commit_spans(s, spans, n, &l);
	if (rc)
		entries_release(s, e, offs, taken);
	if (!rc) {
		s->appends += n;
		if (seq)
			*seq = nd->seq;
	}
out:
	free(offs);
	free(spans);
	return store_change_end(s, rc, l ? id : 0, l, lsn);
}

int store_append_replace(struct store *s, uint64_t id, const void *buf,
			 size_t len, uint64_t expect_seq, uint64_t *seq,
			 uint64_t *lsn)
{
	return append_common(s, id, buf, len, true, expect_seq, 0, seq, lsn);
}

int store_append_keep(struct store *s, uint64_t id, const void *buf, size_t len,
		      uint64_t expect_seq, uint64_t first_kept, uint64_t *seq,
		      uint64_t *lsn)
{
	return append_common(s, id, buf, len, true, expect_seq,
			     first_kept ? first_kept : 1, seq, lsn);
}

int store_trim(struct store *s, uint64_t id, uint32_t keep, uint64_t *lsn)
{
	struct node *n;
	uint64_t l = 0, first;
	int rc = store_change_begin(s);

	if (rc)
		return rc;
	n = store_doc_node(s, id, &rc);
	if (!n || n->nent <= keep)
		goto out;
	first = keep ? n->ents[n->nent - keep].seq : n->seq + 1;
	rc = wal_put_trim(&s->scratch, id, first);
	if (!rc)
		rc = store_change_commit(s, &l);
out:
	return store_change_end(s, rc, l ? id : 0, l, lsn);
}

int store_read(struct store *s, uint64_t id, store_entry_fn fn, void *arg)
{
	struct node *n;
	int rc = 0;

	pthread_rwlock_rdlock(&s->lock);
	n = store_doc_node(s, id, &rc);
	if (n && n->evicted)
		rc = -ENODATA;
	else if (n)
		store_node_used(s, n);
	for (uint32_t i = 0; n && i < n->nent && !rc; i++)
		rc = fn(arg, n->ents[i].seq, s->map + n->ents[i].off,
			n->ents[i].len);
	pthread_rwlock_unlock(&s->lock);
	return rc;
}

int store_meta_set(struct store *s, uint64_t id, const struct store_meta *m,
		   uint64_t *lsn)
{
	struct wal_meta wm;
	uint64_t l = 0;
	int rc = store_change_begin(s);

	if (rc)
		return rc;
	if (!node_get(s, id) && id != STORE_ROOT_ID) {
		rc = -ENOENT;
		goto out;
	}
	if (node_get(s, id) && node_get(s, id)->evicted) {
		rc = -ENODATA;
		goto out;
	}
	meta_to_wal(m, &wm);
	rc = wal_put_meta(&s->scratch, id, &wm);
	if (!rc)
		rc = store_change_commit(s, &l);
out:
	return store_change_end(s, rc, id, l, lsn);
}

int store_doc_info(struct store *s, uint64_t id, struct store_doc_info *out)
{
	struct node *n;
	uint64_t memo;
	int rc = 0;

	pthread_rwlock_rdlock(&s->lock);
	n = node_get(s, id);
	if (!n && id == STORE_ROOT_ID) {
		memset(out, 0, sizeof(*out));
		out->id = id;
		out->is_space = true;
		out->meta = s->root_meta;
		goto out;
	}
	if (!n) {
		rc = -ENOENT;
		goto out;
	}
	memset(out, 0, sizeof(*out));
	out->id = n->id;
	out->space_id = n->space_id;
	out->is_space = n->space_id == 0;
	out->seq = n->seq;
	out->entries = n->nent;
	out->stored_bytes = n->stored_bytes;
	out->lsn = n->lsn;
	out->backup_seq = n->backup_seq;
	out->backup_time_ns = n->backup_time_ns;
	out->meta = n->meta;
	out->evicted = n->evicted;
	out->evicted_bytes = n->evicted ? n->evicted_bytes : 0;
	memo = n->evicted ? 0
			  : __atomic_load_n(&n->size_memo, __ATOMIC_RELAXED);
	out->size_known = memo != 0;
	out->size = memo ? memo - 1 : 0;
out:
	pthread_rwlock_unlock(&s->lock);
	return rc;
}

void store_doc_note_size(struct store *s, uint64_t id, uint64_t seq,
			 uint64_t size)
{
	struct node *n;

	if (size == UINT64_MAX)
		return;
	pthread_rwlock_rdlock(&s->lock);
	n = node_get(s, id);
	/* seq changes only under the exclusive lock: stable here */
	if (n && n->space_id && !n->evicted && n->seq == seq)
		__atomic_store_n(&n->size_memo, size + 1, __ATOMIC_RELAXED);
	pthread_rwlock_unlock(&s->lock);
}

int store_node_name(struct store *s, uint64_t id, char *space, char *key)
{
	struct node *n;
	int rc = 0;

	pthread_rwlock_rdlock(&s->lock);
	n = node_get(s, id);
	if (!n) {
		rc = -ENOENT;
	} else if (n->space_id) {
		snprintf(space, STORE_NAME_MAX + 1, "%s",
			 node_get(s, n->space_id)->name);
		if (key)
			snprintf(key, STORE_NAME_MAX + 1, "%s", n->name);
	} else {
		snprintf(space, STORE_NAME_MAX + 1, "%s", n->name);
		if (key)
			key[0] = '\0';
	}
	pthread_rwlock_unlock(&s->lock);
	return rc;
}

int store_import(struct store *s, const char *space, const char *key,
		 const struct store_meta *m, const struct store_import_entry *e,
		 size_t n, uint64_t last_seq, uint64_t *id, uint64_t *lsn)
{
	struct wal_meta wm;
	struct node *sp;
	uint64_t *offs = NULL, sid, nid = 0, l = 0;
	struct wal_span *spans = NULL;
	size_t taken = 0;
	bool stale = false;
	int rc;

	if (store_name_check(s, space) || store_name_check(s, key))
		return -EINVAL;
	if (n > last_seq || last_seq > STORE_SEQ_MAX)
		return -EINVAL;
	rc = entries_check(s, e, n);
	if (rc)
		return rc;
	offs = calloc(n + 1, sizeof(*offs));
	spans = calloc(n + 1, sizeof(*spans));
	if (!offs || !spans) {
		free(offs);
		free(spans);
		return -ENOMEM;
	}
	rc = store_change_begin(s);
	if (rc) {
		free(offs);
		free(spans);
		return rc;
	}
	meta_to_wal(m, &wm);
	sp = node_by_name(s, 0, space, strlen(space));
	sid = sp ? sp->id : s->next_id;
	nid = sp ? s->next_id : s->next_id + 1;
	if (sp && node_by_name(s, sid, key, strlen(key))) {
		rc = -EEXIST;
		goto out;
	}
	if (!sp) {
		struct wal_meta dm = wm;
		dm.mode = 0755;
		rc = wal_put_mkspace(&s->scratch, sid, &dm, space);
	}
	if (!rc)
		rc = put_untomb(s, space, key, &stale);
	if (!rc)
		rc = wal_put_mapkey(&s->scratch, nid, sid, &wm, key);
	if (!rc)
		rc = entries_put(s, nid, last_seq - n + 1, 0, e, n, offs, spans,
				 &taken);
	if (!rc)
		rc = wal_put_backup(&s->scratch, nid, last_seq,
				    clock_real_ns());
	if (!rc)
		rc = store_change_commit_spans(s, spans, n, &l);
	if (rc)
		entries_release(s, e, offs, taken);
	if (!rc && id)
		*id = nid;
out:
	free(offs);
	free(spans);
	return store_change_end(s, rc, nid, l, lsn);
}

/* ---- renaming a space ----
 *
 * One frame: RMSPACE of an empty space already called newname (unless
 * NOREPLACE), RENAME of the space (space_id 0: a space keeps its id, so
 * its inode, and its documents stay where they are), and for each of its
 * documents what a document rename logs for the cloud: a TOMB_ADD of the
 * old name when a copy may exist there, a TOMB_DEL of a tombstone at the
 * new name, and BACKUP seq 0 (pending: uploaded again under the new
 * name; time -1 when a copy exists at the new name).  Replay applies the
 * frame whole or not at all, so a crash shows the old names or the new
 * ones.  The change hook is told of every document afterwards. */

/* The records of document n of a space renamed from old to name. */
static int put_space_doc(struct store *s, struct node *n, const char *old,
			 const char *name, uint64_t *tomb_id)
{
	bool stale = false;
	int rc = 0;

	if (n->backup_time_ns)
		rc = wal_put_tomb_add(&s->scratch, WAL_TOMB_ADD, (*tomb_id)++,
				      old, n->name);
	if (!rc)
		rc = put_untomb(s, name, n->name, &stale);
	if (!rc && (n->backup_time_ns || n->backup_seq || stale))
		rc = wal_put_backup(&s->scratch, n->id, 0, stale ? -1 : 0);
	return rc;
}

int store_space_rename(struct store *s, const char *name, const char *newname,
		       int flags, uint64_t **ids, size_t *nids, uint64_t *lsn)
{
	struct node *sp, *target;
	uint64_t l = 0, tomb_id, id, *copy = NULL;
	char *old = NULL;
	uint32_t i, j;
	int rc = store_name_check(s, newname);

	*ids = NULL;
	*nids = 0;
	if (rc)
		return rc;
	rc = store_change_begin(s);
	if (rc)
		return rc;
	sp = node_by_name(s, 0, name, strlen(name));
	target = node_by_name(s, 0, newname, strlen(newname));
	if (!sp)
		rc = -ENOENT;
	else if (target == sp)
		goto out; /* onto itself: nothing changes */
	else if (target && (flags & STORE_RENAME_NOREPLACE))
		rc = -EEXIST;
	else if (target && target->kids.live)
		rc = -ENOTEMPTY;
	for (i = 0; !rc && i < sp->kids.n; i++)
		if (kids_at(&sp->kids, i, &id) && node_get(s, id)->evicted)
			rc = -ENODATA; /* store_doc_refill it first */
	if (rc)
		goto out;
	old = strdup(sp->name);
	copy = malloc((sp->kids.live + 1) * sizeof(*copy));
	if (!old || !copy) {
		rc = -ENOMEM;
		goto out;
	}
	if (target)
		rc = wal_put_id(&s->scratch, WAL_RMSPACE, target->id);
	if (!rc)
		rc = wal_put_rename(&s->scratch, sp->id, 0, newname);
	tomb_id = s->next_tomb_id;
	for (j = 0, i = 0; j < sp->kids.n && !rc; j++) {
		if (!kids_at(&sp->kids, j, &id))
			continue;
		copy[i] = id;
		rc = put_space_doc(s, node_get(s, id), old, newname, &tomb_id);
		i++;
	}
	if (!rc)
		rc = store_change_commit(s, &l);
	if (!rc) {
		*ids = copy;
		*nids = i;
		copy = NULL;
	}
out:
	free(old);
	free(copy);
	pthread_rwlock_unlock(&s->lock);
	if (rc)
		return rc;
	if (lsn)
		*lsn = l;
	for (i = 0; s->hook && i < *nids; i++)
		s->hook(s->hook_arg, (*ids)[i]);
	if (s->opt.sync && l)
		rc = wal_sync(s->wal, l);
	if (!rc && l)
		store_maybe_cutover(s);
	return rc;
}
