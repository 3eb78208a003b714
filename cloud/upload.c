/*
 * upload.c - one document's upload, and the name claims and retries that
 * uploads and deletions share (see backup_internal.h for the split).
 *
 * Upload of document id (backup_upload_doc), in this order:
 *   1. read its name, claim the name (or retry the entry shortly);
 *   2. read its entries (store_read, one consistent snapshot) into an
 *      archive, then its info (a later LSN) and store_sync() to that LSN:
 *      everything sent is durable locally before it is sent;
 *   3. reconcile (below), then PUT, both retried forever with backoff
 *      (each failure logged);
 *   4. if the document still has that name, store_backup_mark(seq): the
 *      mark follows a confirmed PUT, never precedes it.  If it was
 *      deleted or renamed meanwhile and nothing else owns the name (no
 *      document, no tombstone), DELETE the copy just written.
 *
 * Reconcile: a document never confirmed in the cloud under any name
 * (backup_time_ns 0: created or renamed here) may take a name whose cloud
 * copy this store never knew of, because it was created while the target
 * was down (the catalog answered "unknown": see catalog.h) or before a
 * restart.  Unless the catalog vouches that the cloud holds no such name,
 * the upload first fetches the name; if the cloud holds an object there,
 * it is copied to the conflict name "<key>.caravan-conflict-<UTC time>"
 * (an archive rewritten for that name, so it lists and restores as a
 * document of its own; an undecodable object is kept byte for byte) and
 * logged, and only then replaced.  A copy that is a version of the
 * document being uploaded (its newest entry, same seq and bytes, is in
 * the upload) is this store's own earlier upload and is simply replaced.  The local document is the current one;
 * neither side is lost.  (An object too large to fetch, -EFBIG, is no
 * document: it is replaced, with a log line, rather than block the upload
 * for ever.)  (A document whose backup_time_ns is -1 replaces
 * a copy the store knows to be an older document's: no reconcile.)
 *
 * Invariants:
 *   1. A document is marked uploaded at seq S only after the target
 *      confirmed an archive of its entries up to S under its current name.
 *   2. An upload and a deletion of the same name never overlap (claims),
 *      so a late PUT cannot resurrect a deleted copy.
 *   3. A PUT that may replace an object unknown to this store follows a
 *      confirmed copy of that object to its conflict name.
 */
#include "config.h"

#include "cloud/backup_internal.h"

#include "cloud/archive.h"
#include "util/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CONFLICT_TAG ".caravan-conflict-"

/* ---- name claims ---- */

bool backup_name_busy(struct backup *b, const char *space, const char *key)
{
	for (uint32_t i = 0; i < b->nthreads; i++) {
		const struct backup_slot *sl = &b->workers[i].slot;

		if (sl->busy && !strcmp(sl->space, space) &&
		    !strcmp(sl->key, key))
			return true;
	}
	for (struct backup_restoring *r = b->restoring; r; r = r->next)
		if (!strcmp(r->space, space) && !strcmp(r->key, key))
			return true;
	return false;
}

int backup_claim(struct backup *b, struct backup_slot *sl, const char *space,
		 const char *key, struct backup_entry *e, bool *skip)
{
	int rc = 0;

	pthread_mutex_lock(&b->lock);
	if (backup_name_busy(b, space, key)) {
		rc = -EAGAIN;
	} else {
		sl->busy = true;
		snprintf(sl->space, sizeof(sl->space), "%s", space);
		snprintf(sl->key, sizeof(sl->key), "%s", key);
		if (e) {
			*skip = e->skip_if_clean;
			e->skip_if_clean = false;
		}
	}
	pthread_mutex_unlock(&b->lock);
	return rc;
}

void backup_unclaim(struct backup *b, struct backup_slot *sl)
{
	pthread_mutex_lock(&b->lock);
	sl->busy = false;
	pthread_mutex_unlock(&b->lock);
}

/* ---- retrying target calls ---- */

/* Sleep ms unless stopping or the target answers again (kick);
 * -ECANCELED when stopping. */
static int backoff_wait(struct backup *b, uint32_t ms)
{
	int64_t at = backup_mono_ns() + (int64_t)ms * 1000000;
	struct timespec until = { (time_t)(at / 1000000000),
				  (long)(at % 1000000000) };
	uint64_t kick;
	int rc = 0;

	pthread_mutex_lock(&b->lock);
	kick = b->kick;
	while (!b->stopping && b->kick == kick && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&b->work, &b->lock, &until);
	rc = b->stopping ? -ECANCELED : 0;
	pthread_mutex_unlock(&b->lock);
	return rc;
}

static void count_failure(struct backup *b)
{
	pthread_mutex_lock(&b->lock);
	b->st.upload_failures++;
	pthread_mutex_unlock(&b->lock);
}

/* Whether the entry changed since its upload began (NULL: never). */
static bool superseded(struct backup *b, const struct backup_entry *e)
{
	bool v = false;

	if (e) {
		pthread_mutex_lock(&b->lock);
		v = e->dirty;
		pthread_mutex_unlock(&b->lock);
	}
	return v;
}

/* One PUT (buf != NULL) or DELETE; *reconciled false: reconcile first. */
struct call {
	const char *space, *key;
	const void *buf;
	size_t len;
	uint64_t seq;
	bool reconciled;
};

static int reconcile(struct backup *b, const struct call *c);

static int call_once(struct backup *b, struct call *c)
{
	int rc;

	if (!c->buf)
		return cloud_target_delete(b->target, c->space, c->key);
	if (!c->reconciled) {
		rc = reconcile(b, c);
		if (rc)
			return rc;
		c->reconciled = true;
	}
	return cloud_target_put(b->target, c->space, c->key, c->buf, c->len,
				c->seq);
}

/* The call until confirmed or stopping.  A PUT for entry e gives up with
 * -ESTALE after a failure when e changed meanwhile: the next attempt
 * should send the newer state. */
static int until_confirmed(struct backup *b, const struct backup_entry *e,
			   struct call *c)
{
	char name[2 * CLOUD_ENC_MAX];
	uint32_t attempt;

	for (attempt = 0;; attempt++) {
		uint32_t ms;
		int rc;

		if (backup_stopping(b))
			return -ECANCELED;
		rc = call_once(b, c);
		if (!rc)
			return 0;
		if (rc == -ECANCELED)
			return rc;
		count_failure(b);
		if (rc == -EIO)
			catalog_note_down(b->cat);
		pthread_mutex_lock(&b->lock);
		ms = cloud_backoff_ms(&b->o.retry, attempt, &b->rng);
		pthread_mutex_unlock(&b->lock);
		backup_log_name(c->space, c->key, name);
		if (c->buf)
			log_error("cannot upload '%s' (seq %" PRIu64 "): %s, "
				  "retrying in %" PRIu32 " ms",
				  name, c->seq, strerror(-rc), ms);
		else
			log_error("cannot delete the cloud copy of '%s': %s, "
				  "retrying in %" PRIu32 " ms",
				  name, strerror(-rc), ms);
		rc = backoff_wait(b, ms);
		if (rc)
			return rc;
		if (superseded(b, e))
			return -ESTALE;
	}
}

int backup_delete_confirmed(struct backup *b, const char *space,
			    const char *key)
{
	struct call c = { space, key, NULL, 0, 0, true };
	int rc = until_confirmed(b, NULL, &c);

	if (!rc)
		catalog_note_delete(b->cat, space, key);
	return rc;
}

/* ---- conflicts ---- */

/* "<key>.caravan-conflict-<UTC>", the key cut to fit 255 bytes. */
static void conflict_name(const char *key, char out[CLOUD_NAME_MAX + 1])
{
	char stamp[32];
	time_t now = (time_t)(backup_real_ns() / 1000000000);
	struct tm tm;
	int room;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	room = CLOUD_NAME_MAX - (int)strlen(CONFLICT_TAG) - (int)strlen(stamp);
	snprintf(out, CLOUD_NAME_MAX + 1, "%.*s%s%s", room, key, CONFLICT_TAG,
		 stamp);
}

/* The archive buf rewritten for (space, key); -EBADMSG when it does not
 * decode. */
static int rename_archive(const void *buf, size_t len, const char *space,
			  const char *key, void **out, size_t *out_len)
{
	struct archive_writer w;
	struct archive a;
	int rc = archive_decode(buf, len, &a);

	if (rc)
		return rc;
	rc = archive_writer_init(&w, space, key, &a.meta);
	for (size_t i = 0; !rc && i < a.n; i++)
		rc = archive_writer_add(&w, a.entries[i].seq, a.entries[i].buf,
					a.entries[i].len);
	if (!rc)
		rc = archive_writer_finish(&w, a.seq, out, out_len);
	else
		archive_writer_release(&w);
	archive_release(&a);
	return rc;
}

/* Whether the cloud's object (buf, len) is a version of the archive we
 * are about to write (ours, ours_len): an archive of the same name whose
 * newest entry ours holds too, same seq, same bytes, or one with no
 * entries.  Such a copy is this store's own earlier upload (a store that
 * took the target again, or a crash between a PUT and its mark), not a
 * conflict. */
static bool is_own_version(const void *buf, size_t len, const char *space,
			   const char *key, const void *ours, size_t ours_len)
{
	struct archive theirs, mine;
	const struct archive_entry *last;
	bool own = false;

	if (archive_decode(buf, len, &theirs))
		return false;
	if (strcmp(theirs.space, space) || strcmp(theirs.key, key))
		goto out_theirs;
	if (theirs.n == 0) {
		own = true;
		goto out_theirs;
	}
	if (archive_decode(ours, ours_len, &mine))
		goto out_theirs;
	last = &theirs.entries[theirs.n - 1];
	for (size_t i = 0; i < mine.n && !own; i++)
		own = mine.entries[i].seq == last->seq &&
		      mine.entries[i].len == last->len &&
		      !memcmp(mine.entries[i].buf, last->buf, last->len);
	archive_release(&mine);
out_theirs:
	archive_release(&theirs);
	return own;
}

/* See "Reconcile" above.  0 when the name may be written. */
static int reconcile(struct backup *b, const struct call *c)
{
	const char *space = c->space, *key = c->key;
	char cname[CLOUD_NAME_MAX + 1], name[2 * CLOUD_ENC_MAX];
	char cshown[2 * CLOUD_ENC_MAX];
	void *buf = NULL, *body = NULL;
	size_t len = 0, blen = 0;
	uint64_t seq = 0;
	int rc;

	if (catalog_vouches_absent(b->cat, space, key))
		return 0;
	rc = cloud_target_get(b->target, space, key, &buf, &len, &seq);
	if (rc == -ENOENT)
		return 0;
	if (rc == -EFBIG) {
		/* larger than any object the target accepts: no document */
		backup_log_name(space, key, name);
		log_warn("the cloud held '%s' unknown to this store, too large "
			 "to be a document: replaced by the local document",
			 name);
		return 0;
	}
	if (rc)
		return rc;
	if (is_own_version(buf, len, space, key, c->buf, c->len)) {
		free(buf);
		return 0;
	}
	conflict_name(key, cname);
	if (rename_archive(buf, len, space, cname, &body, &blen)) {
		body = buf; /* not an archive: kept as it is */
		blen = len;
		buf = NULL;
	}
	rc = cloud_target_put(b->target, space, cname, body, blen, seq);
	free(body);
	free(buf);
	if (rc)
		return rc;
	catalog_note_put(b->cat, space, cname);
	backup_feed_cloud(b, space, cname); /* history: the conflict copy */
	pthread_mutex_lock(&b->lock);
	b->st.conflicts++;
	pthread_mutex_unlock(&b->lock);
	backup_log_name(space, key, name);
	backup_log_name(space, cname, cshown);
	log_warn("the cloud held '%s' (seq %" PRIu64 ") unknown to this "
		 "store: kept as '%s', replaced by the local document",
		 name, seq, cshown);
	return 0;
}

/* ---- uploading ---- */

static int add_entry(void *arg, uint64_t seq, const void *buf, size_t len)
{
	return archive_writer_add(arg, seq, buf, len);
}

static void meta_of(const struct store_meta *m, struct archive_meta *a)
{
	a->mode = m->mode;
	a->uid = m->uid;
	a->gid = m->gid;
	a->mtime_ns = m->mtime_ns;
	a->ctime_ns = m->ctime_ns;
}

/* The archive of document id as it is now, durable.  *seq: its seq. */
static int snapshot(struct backup *b, uint64_t id, const char *space,
		    const char *key, void **out, size_t *len, uint64_t *seq)
{
	struct store_doc_info before, after;
	struct archive_writer w;
	struct archive_meta am;
	int rc;

	rc = store_doc_info(b->store, id, &before);
	if (rc)
		return rc;
	meta_of(&before.meta, &am);
	rc = archive_writer_init(&w, space, key, &am);
	if (rc)
		return rc;
	rc = store_read(b->store, id, add_entry, &w);
	if (!rc)
		rc = store_doc_info(b->store, id, &after);
	if (rc) {
		archive_writer_release(&w);
		return rc;
	}
	/* A metadata change after `before` has its own hook and upload. */
	*seq = w.n ? w.last_seq : before.seq;
	rc = archive_writer_finish(&w, *seq, out, len);
	if (rc)
		return rc;
	/* Everything read is at or below after.lsn: make it durable. */
	rc = store_sync(b->store, after.lsn);
	if (rc) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

/* After a PUT of (space, key) for document id at seq. */
int backup_upload_confirm(struct backup *b, uint64_t id, const char *space,
			  const char *key, uint64_t seq)
{
	char now_space[STORE_NAME_MAX + 1], now_key[STORE_NAME_MAX + 1];
	uint64_t sid, other;
	int rc = store_node_name(b->store, id, now_space, now_key);

	catalog_note_put(b->cat, space, key);
	if (!rc && !strcmp(now_space, space) && !strcmp(now_key, key)) {
		/* checked again atomically with the mark */
		rc = store_backup_mark_named(b->store, id, space, key, seq,
					     backup_real_ns());
		if (rc == -ESTALE || rc == -ENOENT)
			goto moved;
		if (!rc) {
			pthread_mutex_lock(&b->lock);
			b->st.uploads++;
			pthread_mutex_unlock(&b->lock);
		}
		return rc;
	}
moved:
	/* Deleted or renamed meanwhile: the copy is stale unless another
	 * document now owns the name (it will overwrite it) or a tombstone
	 * will remove it. */
	if ((!store_space_lookup(b->store, space, &sid) &&
	     !store_doc_lookup(b->store, sid, key, &other)) ||
	    store_tombstoned(b->store, space, key))
		return 0;
	rc = backup_delete_confirmed(b, space, key);
	if (!rc) /* history: the feed learns the copy went */
		backup_feed_deleted(b, space, key);
	return rc;
}

int backup_upload_doc(struct backup *b, struct backup_slot *sl,
		      struct backup_entry *e)
{
	uint64_t id = e->id;
	bool skip = false;
	char space[STORE_NAME_MAX + 1], key[STORE_NAME_MAX + 1];
	char name[2 * CLOUD_ENC_MAX];
	struct store_doc_info info;
	struct call c;
	void *buf = NULL;
	size_t len = 0;
	uint64_t seq = 0;
	int rc;

	rc = store_doc_info(b->store, id, &info);
	if (rc == -ENOENT || (!rc && info.is_space))
		return 0; /* gone (its tombstone, if any, does the rest) */
	if (!rc)
		rc = store_node_name(b->store, id, space, key);
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	rc = backup_claim(b, sl, space, key, e, &skip);
	if (rc)
		return rc;
	if (skip && !store_doc_info(b->store, id, &info) &&
	    info.backup_time_ns && info.seq == info.backup_seq) {
		rc = 0; /* restored from the cloud, unchanged since */
		goto out_unclaim;
	}
	rc = snapshot(b, id, space, key, &buf, &len, &seq);
	if (rc == -ENOENT) {
		rc = 0;
		goto out_unclaim;
	}
	if (rc) {
		backup_log_name(space, key, name);
		log_error("cannot read '%s' for upload: %s", name,
			  strerror(-rc));
		goto out_unclaim;
	}
	c = (struct call){ space, key, buf, len, seq, info.backup_time_ns != 0 };
	rc = until_confirmed(b, e, &c);
	if (!rc && b->hist) /* history: the mark waits for the feed */
		rc = backup_feed_doc(b, e, id, space, key, seq);
	else if (!rc)
		rc = backup_upload_confirm(b, id, space, key, seq);
	free(buf);
out_unclaim:
	backup_unclaim(b, sl);
	return rc;
}
