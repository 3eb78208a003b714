/*
 * evict.c - evicting documents to the cloud and refilling them
 * (evict.h).
 *
 * Records (wal/record.h, rules in replay.c):
 *   EVICT id, seq, size   frees the document's entries through the pending
 *                         frees (reused only once the record is durable,
 *                         as a Delete's) and marks it evicted with size;
 *   APPEND id, seq        at the evicted document's own seq: its content
 *                         back (one snapshot entry), evicted cleared.
 *   MKSPACE?, TOMB_DEL?, MAPKEY, APPEND id, seq (empty), BACKUP id, seq,
 *   EVICT id, seq     in one frame: a document created evicted
 *                         (store_doc_create_evicted: a follower's start
 *                         from a base snapshot's index); the empty
 *                         append only gives it its seq and is freed by
 *                         the EVICT of the same frame.
 * A checkpoint writes an evicted document as SNAP_DOC (no entries) then
 * SNAP_EVICT.
 *
 * Invariants (under s->lock):
 *   1. An EVICT fits only a document whose seq is confirmed in the cloud
 *      (backup_seq >= seq, backup_time_ns > 0) and is not evicted: a
 *      document is never evicted before its latest change is uploaded.
 *   2. An evicted document holds no entries; its seq does not move until
 *      a refill (appends, renames and metadata changes are refused with
 *      -ENODATA, docs.c), so the cloud's copy at seq stays its content.
 *   3. s->ndocs_evicted and s->evicted_bytes are the count and the sum of
 *      evicted_bytes of the evicted documents in the index.
 *
 * Crash safety: each of the two is one frame; replay reaches the state the
 * running store had.  An eviction lost in a crash (not yet durable)
 * leaves the document local: its entries were not reused (pending frees),
 * so nothing is lost.  A refill lost in a crash leaves it evicted; the
 * next read fetches it again.
 *
 * Order of use: store_node_used stamps a node with a tick of s->use_clock
 * (used_tick with STORE_USE_TICK set; atomic: store_read runs under the
 * shared lock) at each use: a read, an open through the mount
 * (store_doc_touch), a change applied live (replay at open stamps
 * nothing).  A document used since open is placed by its tick, after
 * every other; any other by the later of the time of its last use before
 * (loaded from the file "use") and the time of its newest entry (its
 * Append's wall-clock stamp, kept by the log and every snapshot; when
 * that is unknown, as for a refill's, its mtime): use_key.  A clean close
 * turns ticks into times and keeps those later than the newest entry in
 * "use" (use.c).  So after a clean close the order is the one the store
 * had; after a kill -9, uses since the last clean close are lost and
 * those documents come by their last writes (their entries), or by the
 * uses the older file kept.  No record, no index field.
 */
#include "store/evict.h"

#include "store/store_internal.h"
#include "util/clock.h"
#include "util/crc32c.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void store_node_used(struct store *s, struct node *n)
{
	uint64_t t;

	if (s->replaying)
		return; /* the entry's own time places it (use_key) */
	t = __atomic_add_fetch(&s->use_clock, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&n->used_tick, STORE_USE_TICK | t, __ATOMIC_RELAXED);
}

void store_doc_touch(struct store *s, uint64_t id)
{
	struct node *n;

	pthread_rwlock_rdlock(&s->lock);
	n = node_get(s, id);
	if (n)
		store_node_used(s, n);
	pthread_rwlock_unlock(&s->lock);
}

void store_evict_apply(struct store *s, struct node *n, uint64_t size_bytes)
{
	n->evicted = true;
	n->evicted_bytes = size_bytes;
	s->ndocs_evicted++;
	s->evicted_bytes += size_bytes;
}

void store_refill_apply(struct store *s, struct node *n)
{
	store_evict_forget(s, n);
	n->evicted = false;
	n->evicted_bytes = 0;
}

void store_evict_forget(struct store *s, struct node *n)
{
	if (!n->evicted)
		return;
	s->ndocs_evicted--;
	s->evicted_bytes -= n->evicted_bytes;
}

static bool confirmed(const struct node *n)
{
	return n->backup_time_ns > 0 && n->backup_seq >= n->seq;
}

int store_doc_evict(struct store *s, uint64_t id, uint64_t expect_seq,
		    uint64_t size_bytes, uint64_t *lsn)
{
	struct node *n;
	uint64_t l = 0;
	int rc = store_change_begin(s);

	if (rc)
		return rc;
	n = store_doc_node(s, id, &rc);
	if (!n)
		goto out;
	if (n->evicted || n->nent == 0)
		rc = -EALREADY;
	else if (n->seq != expect_seq)
		rc = -EAGAIN;
	else if (!confirmed(n))
		rc = -EBUSY;
	if (!rc)
		rc = wal_put_evict(&s->scratch, WAL_EVICT, id, n->seq,
				   size_bytes);
	if (!rc)
		rc = store_change_commit(s, &l);
	if (!rc)
		s->evictions++;
out:
	/* id 0: no change hook (nothing to upload) */
	return store_change_end(s, rc, 0, l, lsn);
}

int store_doc_refill(struct store *s, uint64_t id, uint64_t seq,
		     const void *buf, size_t len, uint64_t *lsn)
{
	struct node *n;
	uint64_t l = 0, off = 0;
	int rc;

	if (len > s->opt.max_entry_bytes)
		return -EFBIG;
	rc = store_change_begin(s);
	if (rc)
		return rc;
	n = store_doc_node(s, id, &rc);
	if (!n)
		goto out;
	if (!n->evicted || n->seq != seq) {
		rc = -EAGAIN;
		goto out;
	}
	rc = store_take_space(s, len, &off);
	if (rc)
		goto out;
	rc = wal_put_append(&s->scratch, id, seq, off, 0, buf, (uint32_t)len,
			    crc32c(buf, len));
	if (!rc)
		rc = store_change_commit(s, &l);
	if (rc && len && !s->failed)
		alloc_release(s->alloc, off, len);
	if (!rc)
		s->refills++;
out:
	return store_change_end(s, rc, 0, l, lsn);
}

int store_doc_create_evicted(struct store *s, const char *space,
			     const char *key, const struct store_meta *m,
			     uint64_t seq, uint64_t size_bytes, uint64_t *id,
			     uint64_t *lsn)
{
	struct wal_meta wm;
	struct node *sp;
	struct tomb *t;
	uint64_t sid, nid = 0, l = 0;
	int rc;

	if (store_name_check(s, space) || store_name_check(s, key))
		return -EINVAL;
	if (seq == 0 || seq > STORE_SEQ_MAX)
		return -EINVAL;
	rc = store_change_begin(s);
	if (rc)
		return rc;
	meta_to_wal(m, &wm);
	sp = node_by_name(s, 0, space, strlen(space));
	sid = sp ? sp->id : s->next_id;
	nid = sp ? s->next_id : s->next_id + 1;
	if (sp && sp->space_id) {
		rc = -ENOTDIR;
		goto out;
	}
	if (sp && node_by_name(s, sid, key, strlen(key))) {
		rc = -EEXIST;
		goto out;
	}
	if (!sp) {
		struct wal_meta dm = wm;

		dm.mode = 0755;
		rc = wal_put_mkspace(&s->scratch, sid, &dm, space);
	}
	t = tomb_find(s, space, key);
	if (!rc && t)
		rc = wal_put_id(&s->scratch, WAL_TOMB_DEL, t->id);
	if (!rc)
		rc = wal_put_mapkey(&s->scratch, nid, sid, &wm, key);
	if (!rc)
		rc = wal_put_append(&s->scratch, nid, seq, 0, 0, NULL, 0, 0);
	if (!rc)
		rc = wal_put_backup(&s->scratch, nid, seq, clock_real_ns());
	if (!rc)
		rc = wal_put_evict(&s->scratch, WAL_EVICT, nid, seq,
				   size_bytes);
	if (!rc)
		rc = store_change_commit(s, &l);
	if (!rc && id)
		*id = nid;
out:
	/* no change hook: the cloud holds its content */
	return store_change_end(s, rc, 0, l, lsn);
}

struct cand {
	uint64_t tick, id;
};

/* n's place in the order of use (see the top of the file); shared lock
 * held. */
static uint64_t use_key(const struct node *n)
{
	uint64_t t = __atomic_load_n(&n->used_tick, __ATOMIC_RELAXED);
	int64_t w = n->nent ? n->ents[n->nent - 1].time_ns : 0;

	if (t & STORE_USE_TICK)
		return t; /* used since open: after every earlier time */
	if (w <= 0)
		w = n->meta.mtime_ns;
	return w > 0 && (uint64_t)w > t ? (uint64_t)w : t;
}

static int cmp_cand(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->tick != y->tick)
		return x->tick < y->tick ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

int store_evict_candidates(struct store *s, uint64_t *ids, size_t max,
			   size_t *n)
{
	struct cand *v;
	size_t k = 0, pos = 0;
	void *nv;

	*n = 0;
	pthread_rwlock_rdlock(&s->lock);
	v = malloc((s->ndocs + 1) * sizeof(*v));
	if (!v) {
		pthread_rwlock_unlock(&s->lock);
		return -ENOMEM;
	}
	while (node_next(s, &pos, NULL, &nv)) {
		struct node *nd = nv;

		if (!nd->space_id || nd->evicted || !nd->nent ||
		    !confirmed(nd) || k == s->ndocs)
			continue;
		v[k].tick = use_key(nd);
		v[k].id = nd->id;
		k++;
	}
	pthread_rwlock_unlock(&s->lock);
	qsort(v, k, sizeof(*v), cmp_cand);
	for (size_t i = 0; i < k && i < max; i++)
		ids[(*n)++] = v[i].id;
	free(v);
	return 0;
}

void store_evict_room(struct store *s, uint64_t *bound_bytes,
		      uint64_t *used_bytes)
{
	uint64_t budget = 0, cap, max = s->opt.max_capacity_bytes;

	pthread_rwlock_rdlock(&s->lock);
	cap = s->capacity;
	*used_bytes = cap - alloc_free_bytes(s->alloc);
	pthread_rwlock_unlock(&s->lock);
	if (max) {
		*bound_bytes = max > cap ? max : cap;
		return;
	}
	if (store_disk_budget(s, &budget))
		budget = 0;
	*bound_bytes = cap + budget;
}

void store_evict_stats(struct store *s, struct store_evict_stats *out)
{
	void *nv;

	memset(out, 0, sizeof(*out));
	pthread_rwlock_rdlock(&s->lock);
	out->docs_evicted = s->ndocs_evicted;
	out->docs_local = s->ndocs - s->ndocs_evicted;
	out->bytes_evicted = s->evicted_bytes;
	out->evictions = s->evictions;
	out->refills = s->refills;
	for (size_t pos = 0; node_next(s, &pos, NULL, &nv);)
		out->bytes_local += ((struct node *)nv)->stored_bytes;
	pthread_rwlock_unlock(&s->lock);
}
