/*
 * upload.c - one document's upload, and the name claims and retries that
 * uploads and deletions share (see backup_internal.h for the split).
 *
 * Upload of document id (backup_upload_doc), in this order:
 *   1. read its name, claim the name (or retry the entry shortly);
 *   2. read its entries (store_read, one consistent snapshot) and
 *      materialize them: the body is the document's JSON, the bytes `cat`
 *      prints, its metadata seq, mode, owner, times and the body's
 *      SHA-256 (cloud_target_put_doc: a readable object, docs/cloud.md);
 *      then its info (a later LSN) and store_sync() to that LSN:
 *      everything sent is durable locally before it is sent;
 *      (read again, up to 3 times, when the document changed while it
 *      was read, so the body and metadata sent are one state);
 *      if that state is the one the entry's last upload marked (a change
 *      noted during that upload which the upload already carried, or one
 *      that left the state as it was; or the state a finished entry's
 *      upload marked, whose change hook ran late: backup.c, "Late
 *      hooks"), nothing is sent: a state is PUT,
 *      and recorded in the feed, once (sent_already);
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
 * (a readable object of its own, body and metadata as they were; a
 * legacy archive is converted to one, an undecodable archive is kept
 * byte for byte) and logged, and only then replaced.  A copy that is a
 * version of the document being uploaded is this store's own earlier
 * upload and is simply replaced: a readable object whose seq and checksum
 * are those of the upload, or of the upload's entries materialized up to
 * that seq; a legacy archive whose newest entry (same seq and bytes) is
 * in the upload.  The local document is the current one; neither side is
 * lost.  (An object too large to fetch, -EFBIG, or whose metadata or
 * dir: pair is unreadable, -EBADMSG, is no document: it is replaced, with
 * a log line, rather than block the upload for ever.)  (A document whose
 * backup_time_ns is -1 replaces a copy the store knows to be an older
 * document's: no reconcile.)
 *
 * Adoption: before that fetch, one HEAD of the name.  An object whose
 * metadata is exactly the upload's state (seq, checksum, mode, owner,
 * times) is that state already: nothing is PUT, the document is marked
 * uploaded at that seq (backup_upload_confirm) and counted as adopted,
 * not uploaded.  It is fed all the same, and the mark waits for the
 * feed as after a PUT: a pending document's state may be missing from
 * the history (a kill -9 between a PUT and its feed record), and the
 * history's check at the start leaves pending documents to their
 * upload (history_backup.c); a state recorded twice is harmless.
 * This is what a store made writer by -o cloud_takeover meets for every
 * document it followed: the bucket holds its states, and only those the
 * old writer changed after the follower's position are uploaded (its
 * newer copies kept as conflict copies, as for any unknown object).
 *
 * The claim: a document never confirmed under any name (backup_time_ns
 * 0), once reconciled, is marked as owning a cloud copy under its name
 * before its PUT (store_backup_mark_named at seq 0, time -1: still
 * pending, as a document that took over a tombstoned name).  So when it
 * is deleted or renamed before its upload is marked (the mark waits for
 * the feed; a kill -9 may come first), its name gets a tombstone and the
 * copy is deleted, and a new document under the name knows the copy is
 * the store's own: no reconcile, no conflict copy of it.  The claim
 * follows the reconcile, so an object the store never knew was kept as
 * a conflict copy before it.  The claim is made durable before the PUT
 * (store_sync): a kill -9 after the PUT must not take it back while
 * keeping a change made between the snapshot and the claim, whose
 * entries no longer hold the state sent (the first write after an empty
 * create: the empty state, seq 0, is no entry; a rewrite with
 * -o history=0): the restart would find the document never confirmed
 * and the copy no version of it, and keep the store's own upload as a
 * conflict copy.  (A change after the claim is durable only with it.)
 * A claim that finds the document no longer under the name (deleted,
 * renamed away, or replaced by a rename over it since its snapshot:
 * -ENOENT, -ESTALE) ends the upload with nothing PUT: a copy written
 * there would be no one's (no tombstone removes it), and the next
 * document under the name, itself never confirmed, would take it for an
 * unknown object and keep it as a conflict copy (seen after `mv other
 * name` during the upload of name's first state).  A renamed document
 * is uploaded under its new name by the change its rename queued.
 *
 * Invariants:
 *   1. A document is marked uploaded at seq S only after the target
 *      confirmed its JSON as of S under its current name.
 *   2. An upload and a deletion of the same name never overlap (claims),
 *      so a late PUT cannot resurrect a deleted copy.
 *   3. A PUT that may replace an object unknown to this store follows a
 *      confirmed copy of that object to its conflict name.
 *   4. A first upload PUTs only after its claim is durable and only for
 *      a document that still has the name.
 */
#include "config.h"

#include "cloud/backup_internal.h"

#include "cloud/archive.h"
#include "json/json.h"
#include "store/doc.h"
#include "util/clock.h"
#include "util/grow.h"
#include "util/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
	struct timespec until;
	uint64_t kick;
	int rc = 0;

	clock_deadline_ns(&until, (int64_t)ms * 1000000);
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

/* A document as uploaded: its entries as read (for the reconcile's
 * own-version check), the JSON they materialize and its metadata. */
struct doc_copy {
	uint64_t seq;
	void *buf;
	size_t len;
};
struct upload {
	struct doc_copy *v;
	size_t n, cap;
	char *body; /* json_value_emit: ends with '\n' */
	size_t len;
	struct cloud_doc_meta meta;
};

/* One PUT (up != NULL) of document id or DELETE; *reconciled false:
 * reconcile first. */
struct call {
	const char *space, *key;
	const struct upload *up;
	bool reconciled;
	uint64_t id;
	bool adopted; /* the cloud holds up's state already: no PUT */
	bool moved; /* the claim found the name no longer id's: no PUT */
};

static int reconcile(struct backup *b, struct call *c);

/* See "The claim" above: false when the document no longer has the
 * name (nothing may be PUT there for it). */
static bool claim_copy(struct backup *b, const struct call *c)
{
	char name[2 * CLOUD_ENC_MAX];
	int rc = store_backup_mark_named(b->store, c->id, c->space, c->key, 0,
					 -1);

	if (rc == -ESTALE || rc == -ENOENT)
		return false;
	if (!rc)
		rc = store_sync(b->store, 0);
	if (rc) {
		backup_log_name(c->space, c->key, name);
		log_warn("cannot record the upload of '%s' under way: %s (a "
			 "crash before its mark may leave a conflict copy)",
			 name, strerror(-rc));
	}
	return true;
}

static int call_once(struct backup *b, struct call *c)
{
	int rc;

	if (!c->up)
		return cloud_target_delete(b->target, c->space, c->key);
	if (!c->reconciled) {
		rc = reconcile(b, c);
		if (rc)
			return rc;
		c->reconciled = true;
		if (c->adopted)
			return 0;
		if (!claim_copy(b, c)) {
			c->moved = true;
			return 0;
		}
	}
	return cloud_target_put_doc(b->target, c->space, c->key, c->up->body,
				    c->up->len, &c->up->meta);
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
		if (c->up)
			log_error("cannot upload '%s' (seq %" PRIu64 "): %s, "
				  "retrying in %" PRIu32 " ms",
				  name, c->up->meta.seq, strerror(-rc), ms);
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
	struct call c = { space, key, NULL, true, 0, false, false };
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
	time_t now = (time_t)(clock_real_ns() / 1000000000);
	struct tm tm;
	int room;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	room = CLOUD_NAME_MAX - (int)strlen(CONFLICT_TAG) - (int)strlen(stamp);
	snprintf(out, CLOUD_NAME_MAX + 1, "%.*s%s%s", room, key, CONFLICT_TAG,
		 stamp);
}

/* ---- materializing ---- */

/* The JSON that entries v[0..n) materialize (as doc.c does: from {},
 * patches merged, replacements and snapshots replacing), emitted as
 * `cat` prints it.  -EBADMSG for an entry that does not decode. */
static int materialize(const struct doc_copy *v, size_t n, char **out,
		       size_t *len)
{
	json_t *doc = json_object(), *x;
	char kind;
	int rc = doc ? 0 : -ENOMEM;

	for (size_t i = 0; i < n && !rc; i++) {
		rc = doc_entry_decode(v[i].buf, v[i].len, &kind, &x);
		if (rc)
			break;
		if (kind == DOC_PATCH) {
			rc = json_merge_patch(&doc, x);
			json_decref(x);
		} else {
			json_decref(doc);
			doc = x;
		}
	}
	if (!rc)
		rc = json_value_emit(doc, out, len);
	json_decref(doc);
	return rc;
}

/* The metadata of the body of up, as stored in the cloud. */
static void meta_of(const struct store_doc_info *info, uint64_t seq,
		    const char *body, size_t len, struct cloud_doc_meta *m)
{
	memset(m, 0, sizeof(*m));
	m->seq = seq;
	m->mode = S_IFREG | (info->meta.mode & 07777);
	m->uid = info->meta.uid;
	m->gid = info->meta.gid;
	m->mtime_ns = info->meta.mtime_ns;
	m->ctime_ns = info->meta.ctime_ns;
	cloud_doc_checksum(body, len, m->sha256);
}

static void upload_release(struct upload *up)
{
	for (size_t i = 0; i < up->n; i++)
		free(up->v[i].buf);
	free(up->v);
	free(up->body);
	memset(up, 0, sizeof(*up));
}

/* ---- conflicts ---- */

/* A legacy archive (cloud/archive.h) as a readable object: its entries
 * materialized, its metadata kept.  -EBADMSG when it does not decode. */
static int convert_archive(const void *buf, size_t len, char **body,
			   size_t *blen, struct cloud_doc_meta *m)
{
	struct doc_copy *v;
	struct archive a;
	int rc = archive_decode(buf, len, &a);

	if (rc)
		return rc;
	v = calloc(a.n ? a.n : 1, sizeof(*v));
	if (!v) {
		archive_release(&a);
		return -ENOMEM;
	}
	for (size_t i = 0; i < a.n; i++) {
		v[i].seq = a.entries[i].seq;
		v[i].buf = (void *)a.entries[i].buf;
		v[i].len = a.entries[i].len;
	}
	rc = materialize(v, a.n, body, blen);
	free(v);
	if (!rc) {
		struct store_doc_info info;

		memset(&info, 0, sizeof(info));
		info.meta.mode = a.meta.mode;
		info.meta.uid = a.meta.uid;
		info.meta.gid = a.meta.gid;
		info.meta.mtime_ns = a.meta.mtime_ns;
		info.meta.ctime_ns = a.meta.ctime_ns;
		meta_of(&info, a.seq ? a.seq : 1, *body, *blen, m);
	}
	archive_release(&a);
	return rc;
}

/* Whether a legacy archive is a version of the upload: it names (space,
 * key) and has no entries, or its newest entry (same seq, same bytes) is
 * one the upload holds. */
static bool legacy_own(const void *buf, size_t len, const char *space,
		       const char *key, const struct upload *up)
{
	struct archive theirs;
	const struct archive_entry *last;
	bool own = false;

	if (archive_decode(buf, len, &theirs))
		return false;
	if (!strcmp(theirs.space, space) && !strcmp(theirs.key, key)) {
		own = theirs.n == 0;
		last = theirs.n ? &theirs.entries[theirs.n - 1] : NULL;
		for (size_t i = 0; last && i < up->n && !own; i++)
			own = up->v[i].seq == last->seq &&
			      up->v[i].len == last->len &&
			      !memcmp(up->v[i].buf, last->buf, last->len);
	}
	archive_release(&theirs);
	return own;
}

/* Whether the cloud's object (buf, len, meta) is a version of the upload
 * up: this store's own earlier upload (a store that took the target
 * again, a crash between a PUT and its mark, the migration of a legacy
 * target), not a conflict.  A readable object is when its seq and
 * checksum are the upload's, or those of the upload's entries up to its
 * seq. */
static bool is_own_version(const void *buf, size_t len,
			   const struct cloud_doc_meta *meta, const char *space,
			   const char *key, const struct upload *up)
{
	char sum[65], *text = NULL;
	size_t tlen = 0;
	bool own = false;

	if (meta->legacy)
		return legacy_own(buf, len, space, key, up);
	if (meta->seq == up->meta.seq)
		return !strcmp(meta->sha256, up->meta.sha256);
	for (size_t i = 0; i < up->n; i++) {
		if (up->v[i].seq != meta->seq)
			continue;
		if (!materialize(up->v, i + 1, &text, &tlen)) {
			cloud_doc_checksum(text, tlen, sum);
			own = !strcmp(sum, meta->sha256);
			free(text);
		}
		break;
	}
	return own;
}

/* Keep the cloud's object (buf, len, meta) under the conflict name
 * cname: a readable object, a legacy archive converted, or an
 * undecodable archive byte for byte. */
static int keep_conflict(struct backup *b, const char *space, const char *cname,
			 const void *buf, size_t len,
			 const struct cloud_doc_meta *meta)
{
	struct cloud_doc_meta m;
	char *body = NULL;
	size_t blen = 0;
	int rc;

	if (!meta->legacy)
		return cloud_target_put_doc(b->target, space, cname, buf, len,
					    meta);
	rc = convert_archive(buf, len, &body, &blen, &m);
	if (rc == -ENOMEM)
		return rc;
	if (rc) /* not an archive: kept as it is */
		return cloud_target_put(b->target, space, cname, buf, len,
					meta->seq);
	rc = cloud_target_put_doc(b->target, space, cname, body, blen, &m);
	free(body);
	return rc;
}

/* See "Adoption" above: whether the object's metadata m is exactly the
 * state of the upload. */
static bool same_state(const struct cloud_doc_meta *m,
		       const struct cloud_doc_meta *up)
{
	return !m->legacy && m->seq == up->seq && m->mode == up->mode &&
	       m->uid == up->uid && m->gid == up->gid &&
	       m->mtime_ns == up->mtime_ns && m->ctime_ns == up->ctime_ns &&
	       !strcmp(m->sha256, up->sha256);
}

/* See "Reconcile" above.  0 when the name may be written (c->adopted:
 * need not be). */
static int reconcile(struct backup *b, struct call *c)
{
	const char *space = c->space, *key = c->key;
	char cname[CLOUD_NAME_MAX + 1], name[2 * CLOUD_ENC_MAX];
	char cshown[2 * CLOUD_ENC_MAX];
	struct cloud_doc_meta meta;
	void *buf = NULL;
	size_t len = 0;
	int rc;

	if (catalog_vouches_absent(b->cat, space, key))
		return 0;
	rc = cloud_target_head_doc(b->target, space, key, &meta, &len);
	if (rc == -ENOENT)
		return 0;
	if (!rc && same_state(&meta, &c->up->meta)) {
		c->adopted = true;
		return 0;
	}
	len = 0;
	rc = cloud_target_get_doc(b->target, space, key, &buf, &len, &meta);
	if (rc == -ENOENT)
		return 0;
	if (rc == -EFBIG || rc == -EBADMSG) {
		/* larger than any object the target accepts, or unreadable
		 * metadata: no document */
		backup_log_name(space, key, name);
		log_warn("the cloud held '%s' unknown to this store, %s: "
			 "replaced by the local document",
			 name,
			 rc == -EFBIG ? "too large to be a document"
				      : "not a readable document");
		return 0;
	}
	if (rc)
		return rc;
	if (is_own_version(buf, len, &meta, space, key, c->up)) {
		free(buf);
		return 0;
	}
	conflict_name(key, cname);
	rc = keep_conflict(b, space, cname, buf, len, &meta);
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
		 name, meta.seq, cshown);
	return 0;
}

/* ---- uploading ---- */

static int add_entry(void *arg, uint64_t seq, const void *buf, size_t len)
{
	struct upload *up = arg;
	void *copy;

	if (up->n == up->cap) {
		struct doc_copy *v =
			grow_array(up->v, &up->cap, up->n + 1, 8, sizeof(*v));

		if (!v)
			return -ENOMEM;
		up->v = v;
	}
	copy = malloc(len ? len : 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, buf, len);
	up->v[up->n++] = (struct doc_copy){ seq, copy, len };
	return 0;
}

/* Document id as it is now, materialized, durable. */
static int snapshot(struct backup *b, uint64_t id, struct upload *up)
{
	struct store_doc_info before, after;
	int rc;

	for (int tries = 0;; tries++) {
		memset(up, 0, sizeof(*up));
		rc = store_doc_info(b->store, id, &before);
		if (!rc)
			rc = store_read(b->store, id, add_entry, up);
		if (!rc)
			rc = store_doc_info(b->store, id, &after);
		if (!rc && tries < 3 &&
		    (after.seq != before.seq ||
		     memcmp(&after.meta, &before.meta, sizeof(after.meta)))) {
			upload_release(up); /* changed while read: again */
			continue;
		}
		break;
	}
	if (!rc)
		rc = materialize(up->v, up->n, &up->body, &up->len);
	if (rc) {
		upload_release(up);
		return rc;
	}
	/* A metadata change after `before` has its own hook and upload. */
	meta_of(&before, up->n ? up->v[up->n - 1].seq : before.seq, up->body,
		up->len, &up->meta);
	/* Everything read is at or below after.lsn: make it durable. */
	rc = store_sync(b->store, after.lsn);
	if (rc)
		upload_release(up);
	return rc;
}

/* After a PUT of (space, key) for document id in state meta (or after
 * finding the cloud holds that state already: e->adopting). */
int backup_upload_confirm(struct backup *b, struct backup_entry *e, uint64_t id,
			  const char *space, const char *key,
			  const struct cloud_doc_meta *meta)
{
	char now_space[STORE_NAME_MAX + 1], now_key[STORE_NAME_MAX + 1];
	uint64_t sid, other;
	bool adopted;
	int rc = store_node_name(b->store, id, now_space, now_key);

	pthread_mutex_lock(&b->lock);
	adopted = e->adopting;
	e->adopting = false;
	pthread_mutex_unlock(&b->lock);

	catalog_note_put(b->cat, space, key);
	if (!rc && !strcmp(now_space, space) && !strcmp(now_key, key)) {
		/* checked again atomically with the mark */
		rc = store_backup_mark_named(b->store, id, space, key,
					     meta->seq, clock_real_ns());
		if (rc == -ESTALE || rc == -ENOENT)
			goto moved;
		if (!rc) {
			pthread_mutex_lock(&b->lock);
			if (adopted)
				b->st.adopted++;
			else
				b->st.uploads++;
			e->sent = true;
			e->sent_meta = *meta;
			snprintf(e->sent_space, sizeof(e->sent_space), "%s",
				 space);
			snprintf(e->sent_key, sizeof(e->sent_key), "%s", key);
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
	/* the delete or rename that moved it durable first (tombstone.c) */
	rc = store_sync(b->store, 0);
	if (!rc)
		rc = backup_delete_confirmed(b, space, key);
	if (!rc) /* history: the feed learns the copy went */
		backup_feed_deleted(b, space, key);
	return rc;
}

/* Whether the state just read (under its name) is the one e's last upload
 * marked and the store still holds that mark: a change noted while that
 * upload was in flight which it already carried (its snapshot read after
 * the change).  Sent again, the state would be a second feed record.  The
 * store's mark alone does not tell: a metadata change between a snapshot
 * and its mark is overwritten by the mark, so the metadata are compared
 * too. */
static bool sent_already(struct backup *b, struct backup_entry *e, uint64_t id,
			 const char *space, const char *key,
			 const struct cloud_doc_meta *m)
{
	struct store_doc_info info;
	bool same;

	pthread_mutex_lock(&b->lock);
	same = e->sent && !strcmp(e->sent_space, space) &&
	       !strcmp(e->sent_key, key) && e->sent_meta.seq == m->seq &&
	       e->sent_meta.mode == m->mode && e->sent_meta.uid == m->uid &&
	       e->sent_meta.gid == m->gid &&
	       e->sent_meta.mtime_ns == m->mtime_ns &&
	       e->sent_meta.ctime_ns == m->ctime_ns &&
	       !strcmp(e->sent_meta.sha256, m->sha256);
	pthread_mutex_unlock(&b->lock);
	return same && !store_doc_info(b->store, id, &info) &&
	       info.backup_time_ns > 0 && info.backup_seq == m->seq &&
	       !store_tombstoned(b->store, space, key);
}

int backup_upload_doc(struct backup *b, struct backup_slot *sl,
		      struct backup_entry *e)
{
	uint64_t id = e->id;
	bool skip = false;
	char space[STORE_NAME_MAX + 1], key[STORE_NAME_MAX + 1];
	char name[2 * CLOUD_ENC_MAX];
	struct store_doc_info info;
	struct upload up;
	struct call c;
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
	rc = snapshot(b, id, &up);
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
	if (sent_already(b, e, id, space, key, &up.meta)) {
		rc = 0;
		goto out_release;
	}
	memset(&c, 0, sizeof(c));
	c.space = space;
	c.key = key;
	c.up = &up;
	c.reconciled = info.backup_time_ns != 0;
	c.id = id;
	rc = until_confirmed(b, e, &c);
	if (!rc && c.moved) /* see "The claim": nothing was sent */
		goto out_release;
	pthread_mutex_lock(&b->lock);
	e->adopting = !rc && c.adopted; /* backup_upload_confirm counts it */
	pthread_mutex_unlock(&b->lock);
	if (!rc && b->hist) /* history: the mark waits for the feed */
		rc = backup_feed_uploaded(b, sl, e, id, space, key, up.body,
					  up.len, &up.meta);
	else if (!rc)
		rc = backup_upload_confirm(b, e, id, space, key, &up.meta);
	if (rc == -EINPROGRESS) { /* the name's hold took the claim over */
		upload_release(&up);
		if (b->o.handed_over)
			b->o.handed_over(b->o.handed_over_arg, id);
		return rc;
	}
out_release:
	upload_release(&up);
out_unclaim:
	backup_unclaim(b, sl);
	return rc;
}
