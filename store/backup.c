/*
 * backup.c - what the store keeps for the cloud backup (cloud/ drives
 * it): per document the last sequence number confirmed in the cloud and
 * when (store_backup_mark), the identity of the target backed up to
 * (store_backup_target: a new one makes every document pending), the
 * tombstones of names whose cloud copy is still to be deleted, and the
 * list of pending documents.
 *
 * Every change here is a frame of the log like any other (change.c), so
 * the bookkeeping survives a crash exactly as far as the log does: after
 * a crash a document may be uploaded again, never skipped.
 */
#include "store/store.h"

#include "store/store_internal.h"

#include <errno.h>
#include <string.h>

/* ---- backup bookkeeping ---- */

int store_backup_mark(struct store *s, uint64_t id, uint64_t seq,
		      int64_t time_ns)
{
	struct node *n;
	uint64_t l = 0;
	int rc = store_change_begin(s);

	if (rc)
		return rc;
	n = store_doc_node(s, id, &rc);
	if (!n)
		goto out;
	rc = wal_put_backup(&s->scratch, id, seq, time_ns);
	if (!rc)
		rc = store_change_commit(s, &l);
out:
	/* No change hook: a backup mark is not a change of the document. */
	return store_change_end(s, rc, 0, l, NULL);
}

int store_backup_mark_named(struct store *s, uint64_t id, const char *space,
			    const char *key, uint64_t seq, int64_t time_ns)
{
	struct node *n;
	uint64_t l = 0;
	int rc = store_change_begin(s);

	if (rc)
		return rc;
	n = store_doc_node(s, id, &rc);
	if (!n)
		goto out;
	if (strcmp(n->name, key) != 0 ||
	    strcmp(node_get(s, n->space_id)->name, space) != 0) {
		rc = -ESTALE;
		goto out;
	}
	rc = wal_put_backup(&s->scratch, id, seq, time_ns);
	if (!rc)
		rc = store_change_commit(s, &l);
out:
	return store_change_end(s, rc, 0, l, NULL);
}

int store_backup_target(struct store *s, uint64_t target, bool *changed)
{
	uint64_t l = 0, was;
	int rc;

	if (changed)
		*changed = false;
	if (target == 0)
		return -EINVAL;
	rc = store_change_begin(s);
	if (rc)
		return rc;
	if (s->backup_target == target)
		goto out;
	was = s->backup_target;
	rc = wal_put_id(&s->scratch, WAL_TARGET, target);
	if (!rc)
		rc = store_change_commit(s, &l);
	if (!rc && changed)
		*changed = was != 0;
out:
	return store_change_end(s, rc, 0, l, NULL);
}

uint64_t store_backup_target_id(struct store *s)
{
	uint64_t t;

	pthread_rwlock_rdlock(&s->lock);
	t = s->backup_target;
	pthread_rwlock_unlock(&s->lock);
	return t;
}

int store_backup_forget(struct store *s)
{
	uint64_t l = 0, t;
	int rc = store_change_begin(s);

	if (rc)
		return rc;
	t = s->backup_target;
	if (t == 0)
		goto out;
	/* One frame: a Target naming none forgets every upload (replay
	 * resets each document), the next names the target again (adopted,
	 * as a store that had none adopts its first). */
	rc = wal_put_id(&s->scratch, WAL_TARGET, 0);
	if (!rc)
		rc = wal_put_id(&s->scratch, WAL_TARGET, t);
	if (!rc)
		rc = store_change_commit(s, &l);
out:
	return store_change_end(s, rc, 0, l, NULL);
}

int store_backup_pending(struct store *s, store_id_fn fn, void *arg)
{
	void *v;
	int rc = 0;

	pthread_rwlock_rdlock(&s->lock);
	for (size_t pos = 0; !rc && node_next(s, &pos, NULL, &v);) {
		struct node *n = v;

		if (!n->space_id)
			continue;
		if (n->seq > n->backup_seq || n->backup_time_ns <= 0)
			rc = fn(arg, n->id);
	}
	pthread_rwlock_unlock(&s->lock);
	return rc;
}

int store_tombstone_list(struct store *s, store_tomb_fn fn, void *arg)
{
	int rc = 0;

	pthread_rwlock_rdlock(&s->lock);
	for (struct tomb *t = s->tombs; t && !rc; t = t->next)
		rc = fn(arg, t->id, t->space, t->key);
	pthread_rwlock_unlock(&s->lock);
	return rc;
}

int store_tombstone_clear(struct store *s, uint64_t tomb_id)
{
	uint64_t l = 0;
	int rc = store_change_begin(s);

	if (rc)
		return rc;
	if (!tomb_by_id(s, tomb_id)) {
		rc = -ENOENT;
		goto out;
	}
	rc = wal_put_id(&s->scratch, WAL_TOMB_DEL, tomb_id);
	if (!rc)
		rc = store_change_commit(s, &l);
out:
	return store_change_end(s, rc, 0, l, NULL);
}

bool store_tombstoned(struct store *s, const char *space, const char *key)
{
	bool yes;

	pthread_rwlock_rdlock(&s->lock);
	yes = tomb_find(s, space, key) != NULL;
	pthread_rwlock_unlock(&s->lock);
	return yes;
}
