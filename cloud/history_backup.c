/*
 * history_backup.c - the uploader's side of the history (see
 * backup_internal.h for the split, cloud/history.h for the writer).
 *
 * With a history (options.retention_ns > 0), a confirmed PUT of a
 * document's object is not yet an upload: the worker hands the document's
 * state (materialized JSON, seq, metadata, read from the store and made
 * durable locally first) to the feed writer and returns -EINPROGRESS; its
 * queue entry stays in flight and its name stays held (a hold in
 * b->restoring, so no upload, deletion or restore of that name starts).
 * When the feed batch holding the record is confirmed, the writer's
 * thread runs the completion: the mark (upload.c's
 * backup_upload_confirm), then the entry finishes like any other.  A
 * confirmed DELETE of a tombstone likewise feeds a delete record and the
 * tombstone is cleared only on its completion.  A completion with
 * -ECANCELED (stopping) marks nothing: the document stays pending and
 * the tombstone stays, both sent again at the next start.
 *
 * Invariants:
 *   1. A document is marked uploaded at seq S only after both its object
 *      and a feed record of a state at or after S were confirmed.
 *   2. A tombstone is cleared only after its delete record is in the
 *      feed.
 *   3. b->feed_wait counts the holds; backup_flush waits for it.
 */
#include "config.h"

#include "cloud/backup_internal.h"

#include "cloud/history.h"
#include "json/json.h"
#include "store/doc.h"
#include "util/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct feed_hold {
	struct backup *b;
	struct backup_restoring name; /* in b->restoring while held */
	char space[STORE_NAME_MAX + 1];
	char key[STORE_NAME_MAX + 1];
	struct backup_entry *e; /* a document's entry, or NULL */
	uint64_t id, seq; /* the document */
	uint64_t tomb_id; /* a delete */
};

int backup_history_start(struct backup *b)
{
	struct history_options ho;
	uint8_t id[STORE_UUID_LEN];
	int rc;

	if (!b->o.retention_ns)
		return 0;
	history_options_default(&ho);
	ho.delay_ms = b->o.delay_ms;
	ho.retention_ns = b->o.retention_ns;
	ho.retry = b->o.retry;
	ho.quick = b->o.quick;
	ho.clock_ns = b->o.clock_ns;
	ho.clock_arg = b->o.clock_arg;
	if (b->o.snap_batches)
		ho.snap_batches = b->o.snap_batches;
	if (b->o.prune_ms)
		ho.prune_ms = b->o.prune_ms;
	store_uuid(b->store, id);
	rc = history_open(b->target, id, &ho, &b->hist);
	if (rc)
		log_error("cannot start the history of '%s': %s",
			  cloud_target_url(b->target), strerror(-rc));
	return rc;
}

void backup_history_stop(struct backup *b)
{
	history_close(b->hist);
	b->hist = NULL;
}

/* ---- holds ---- */

static struct feed_hold *hold_new(struct backup *b, const char *space,
				  const char *key)
{
	struct feed_hold *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->b = b;
	snprintf(h->space, sizeof(h->space), "%s", space);
	snprintf(h->key, sizeof(h->key), "%s", key);
	h->name.space = h->space;
	h->name.key = h->key;
	pthread_mutex_lock(&b->lock);
	h->name.next = b->restoring;
	b->restoring = &h->name;
	b->feed_wait++;
	pthread_mutex_unlock(&b->lock);
	return h;
}

/* b->lock held. */
static void hold_drop(struct backup *b, struct feed_hold *h)
{
	for (struct backup_restoring **p = &b->restoring; *p; p = &(*p)->next) {
		if (*p == &h->name) {
			*p = h->name.next;
			break;
		}
	}
	b->feed_wait--;
	b->tomb_pass = true;
	pthread_cond_broadcast(&b->work);
	pthread_cond_broadcast(&b->idle);
}

/* ---- documents ---- */

struct mat {
	json_t *doc;
	uint64_t last_seq;
	int err;
};

static int mat_entry(void *arg, uint64_t seq, const void *buf, size_t len)
{
	struct mat *m = arg;
	json_t *v = NULL;
	char kind;
	int rc = doc_entry_decode(buf, len, &kind, &v);

	if (rc)
		return rc;
	if (kind == DOC_PATCH) {
		rc = json_merge_patch(&m->doc, v);
		json_decref(v);
	} else {
		json_decref(m->doc);
		m->doc = v;
	}
	m->last_seq = seq;
	return rc;
}

/* The materialized text of document id now, durable locally. */
static int materialize(struct backup *b, uint64_t id, char **text, size_t *len,
		       struct store_doc_info *info)
{
	struct store_doc_info after;
	struct mat m = { NULL, 0, 0 };
	int rc;

	for (int tries = 0;; tries++) {
		rc = store_doc_info(b->store, id, info);
		if (rc)
			return rc;
		m.doc = json_object();
		m.last_seq = 0;
		if (!m.doc)
			return -ENOMEM;
		rc = store_read(b->store, id, mat_entry, &m);
		if (!rc)
			rc = store_doc_info(b->store, id, &after);
		if (!rc &&
		    (after.seq != info->seq ||
		     memcmp(&after.meta, &info->meta, sizeof(after.meta))) &&
		    tries < 3) {
			json_decref(m.doc);
			continue; /* changed while read: read again */
		}
		break;
	}
	if (!rc && after.seq != info->seq)
		*info = after; /* still moving: the meta may be a bit newer */
	if (!rc)
		rc = json_value_emit(m.doc, text, len);
	json_decref(m.doc);
	if (!rc)
		rc = store_sync(b->store, after.lsn);
	if (!rc && m.last_seq)
		info->seq = m.last_seq;
	return rc;
}

static void doc_fed(void *arg, int rc)
{
	struct feed_hold *h = arg;
	struct backup *b = h->b;

	if (!rc)
		rc = backup_upload_confirm(b, h->id, h->space, h->key, h->seq);
	pthread_mutex_lock(&b->lock);
	hold_drop(b, h);
	backup_entry_finish(b, h->e, rc);
	pthread_mutex_unlock(&b->lock);
	free(h);
}

int backup_feed_doc(struct backup *b, struct backup_entry *e, uint64_t id,
		    const char *space, const char *key, uint64_t seq)
{
	struct store_doc_info info;
	struct feed_record r;
	struct feed_hold *h;
	char name[2 * CLOUD_ENC_MAX];
	char *text = NULL;
	size_t len = 0;
	int rc;

	rc = materialize(b, id, &text, &len, &info);
	if (rc == -ENOENT) /* gone meanwhile: the mark's own path */
		return backup_upload_confirm(b, id, space, key, seq);
	if (rc) {
		backup_log_name(space, key, name);
		log_error("cannot read '%s' for the change feed: %s", name,
			  strerror(-rc));
		return rc;
	}
	memset(&r, 0, sizeof(r));
	r.kind = FEED_REC_DOC;
	snprintf(r.space, sizeof(r.space), "%s", space);
	snprintf(r.key, sizeof(r.key), "%s", key);
	r.seq = info.seq;
	r.mode = info.meta.mode;
	r.uid = info.meta.uid;
	r.gid = info.meta.gid;
	r.mtime_ns = info.meta.mtime_ns;
	r.ctime_ns = info.meta.ctime_ns;
	r.body = (const uint8_t *)text;
	r.body_len = len;
	h = hold_new(b, space, key);
	if (!h) {
		free(text);
		return -ENOMEM;
	}
	h->e = e;
	h->id = id;
	h->seq = seq;
	rc = history_add(b->hist, &r, doc_fed, h);
	free(text);
	if (rc) {
		pthread_mutex_lock(&b->lock);
		hold_drop(b, h);
		pthread_mutex_unlock(&b->lock);
		free(h);
		return rc;
	}
	return -EINPROGRESS;
}

/* ---- deletes ---- */

static void del_fed(void *arg, int rc)
{
	struct feed_hold *h = arg;
	struct backup *b = h->b;

	if (!rc) {
		rc = store_tombstone_clear(b->store, h->tomb_id);
		if (rc && rc != -ENOENT)
			log_error("cannot clear tombstone %" PRIu64 ": %s",
				  h->tomb_id, strerror(-rc));
	}
	pthread_mutex_lock(&b->lock);
	hold_drop(b, h);
	pthread_mutex_unlock(&b->lock);
	free(h);
}

static void del_record(struct feed_record *r, const char *space,
		       const char *key)
{
	memset(r, 0, sizeof(*r));
	r->kind = FEED_REC_DEL;
	snprintf(r->space, sizeof(r->space), "%s", space);
	snprintf(r->key, sizeof(r->key), "%s", key);
}

int backup_feed_delete(struct backup *b, uint64_t tomb_id, const char *space,
		       const char *key)
{
	struct feed_record r;
	struct feed_hold *h;
	int rc;

	del_record(&r, space, key);
	h = hold_new(b, space, key);
	if (!h)
		return -ENOMEM;
	h->tomb_id = tomb_id;
	rc = history_add(b->hist, &r, del_fed, h);
	if (rc) {
		pthread_mutex_lock(&b->lock);
		hold_drop(b, h);
		pthread_mutex_unlock(&b->lock);
		free(h);
		return rc;
	}
	return -EINPROGRESS;
}

void backup_feed_deleted(struct backup *b, const char *space, const char *key)
{
	struct feed_record r;
	char name[2 * CLOUD_ENC_MAX];
	int rc;

	if (!b->hist)
		return;
	del_record(&r, space, key);
	rc = history_add(b->hist, &r, NULL, NULL);
	if (rc && rc != -ECANCELED) {
		backup_log_name(space, key, name);
		log_error("cannot add the delete of '%s' to the change feed: "
			  "%s",
			  name, strerror(-rc));
	}
}
