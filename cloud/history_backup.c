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
 * The start of a generation: a kill -9 can leave the history behind the
 * namespace (a feed record confirmed whose mark was lost, then the
 * document deleted with no tombstone; a stale copy removed or a conflict
 * copy written whose record was never confirmed).  So before any upload
 * backup_history_start compares the history's latest state with the
 * namespace and feeds the differences (reconcile_history): a local
 * document the history lacks or holds with another seq, mode or mtime
 * (its state now); a name the history holds that is neither local, nor
 * tombstoned (its tombstone feeds the delete), nor a cloud object (a
 * delete); a cloud object neither local nor in the history (a conflict
 * copy, or an object uploaded before the history existed: its state from
 * its archive).  A target that cannot be read now is not judged.
 *
 * Invariants:
 *   1. A document is marked uploaded at seq S only after both its object
 *      and a feed record of a state at or after S were confirmed.
 *   2. A tombstone is cleared only after its delete record is in the
 *      feed.
 *   3. b->feed_wait counts the holds; backup_flush waits for it.
 *   4. The worker's claim on a name passes to its hold in one critical
 *      section, before the record is handed to the writer (hold_new):
 *      once the writer may finish the record, the name is held by the
 *      hold alone, and its release (hold_drop) asks for a tombstone
 *      pass, so a pass that found the name busy is always followed by
 *      another.
 */
#include "config.h"

#include "cloud/backup_internal.h"

#include "cloud/archive.h"
#include "cloud/history.h"
#include "cloud/pitr.h"
#include "json/json.h"
#include "store/doc.h"
#include "util/clock.h"
#include "util/grow.h"
#include "util/log.h"
#include "util/strlist.h"

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
	uint64_t id; /* the document ... */
	struct cloud_doc_meta meta; /* ... in the state fed */
	uint64_t tomb_id; /* a delete */
};

static void reconcile_history(struct backup *b);

static void *reconcile_main(void *arg)
{
	struct backup *b = arg;

	reconcile_history(b);
	pthread_mutex_lock(&b->lock);
	b->hist_reconciling = false;
	pthread_cond_broadcast(&b->work);
	pthread_cond_broadcast(&b->idle);
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

/* The feed is written only while the writer lease is ours (writer.c). */
static bool lease_ours(void *arg)
{
	struct backup *b = arg;
	bool v;

	pthread_mutex_lock(&b->lock);
	v = b->lease == BACKUP_LEASE_HELD;
	pthread_mutex_unlock(&b->lock);
	return v;
}

/* options.quiet: backup_window_done under b->lock. */
static uint64_t window_done(void *arg)
{
	struct backup *b = arg;
	uint64_t v;

	pthread_mutex_lock(&b->lock);
	v = backup_window_done(b);
	pthread_mutex_unlock(&b->lock);
	return v;
}

void backup_history_kick(struct backup *b)
{
	if (b->hist)
		history_kick(b->hist);
}

int backup_history_start(struct backup *b)
{
	struct history_options ho;
	uint8_t id[STORE_UUID_LEN];
	int rc;

	if (!b->o.retention_ns)
		return 0;
	history_options_default(&ho);
	ho.delay_ms = b->o.delay_ms;
	ho.retention_ns = b->o.no_prune ? 0 : b->o.retention_ns;
	ho.retry = b->o.retry;
	ho.quick = b->o.quick;
	ho.clock_ns = b->o.clock_ns;
	ho.clock_arg = b->o.clock_arg;
	ho.may_write = lease_ours;
	ho.may_write_arg = b;
	ho.quiet = window_done;
	ho.quiet_arg = b;
	if (b->o.snap_batches)
		ho.snap_batches = b->o.snap_batches;
	if (b->o.prune_ms)
		ho.prune_ms = b->o.prune_ms;
	store_uuid(b->store, id);
	rc = history_open(b->target, id, &ho, &b->hist);
	if (rc) {
		log_error("cannot start the history of '%s': %s",
			  cloud_target_url(b->target), strerror(-rc));
		return rc;
	}
	/* The comparison reads the history and may fetch cloud objects: a
	 * mount never waits for it; uploads do (backup.c next_work). */
	b->hist_reconciling = true;
	if (pthread_create(&b->hist_thread, NULL, reconcile_main, b) == 0) {
		b->hist_thread_started = true;
		return 0;
	}
	reconcile_main(b);
	return 0;
}

void backup_history_stop(struct backup *b)
{
	if (b->hist_thread_started)
		pthread_join(b->hist_thread, NULL);
	b->hist_thread_started = false;
	history_close(b->hist);
	b->hist = NULL;
}

/* ---- holds ---- */

/* Hold (space, key) for a record about to be handed to the feed.  The
 * caller's claim on the name (sl, or NULL) passes to the hold in the same
 * critical section: from history_add on, the writer's thread may finish
 * the record (drop the hold, finish e, let a flush return) before the
 * caller runs again, so a claim released only then would outlive
 * everything that waits for it (a tombstone pass finding the name busy
 * would skip its delete with no pass due after). */
static struct feed_hold *hold_new(struct backup *b, const char *space,
				  const char *key, struct backup_entry *e,
				  struct backup_slot *sl)
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
	h->e = e;
	h->name.next = b->restoring;
	b->restoring = &h->name;
	if (sl)
		sl->busy = false;
	b->feed_wait++;
	b->feed_docs += e != NULL;
	if (e) /* handed over: no longer holds its window back */
		backup_window_leave(b, e);
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
	b->feed_docs -= h->e != NULL;
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
		rc = backup_upload_confirm(b, h->e, h->id, h->space, h->key,
					   &h->meta);
	pthread_mutex_lock(&b->lock);
	hold_drop(b, h);
	backup_entry_finish(b, h->e, rc);
	pthread_mutex_unlock(&b->lock);
	free(h);
}

/* Hand record r of document id (uploaded in state meta) to the feed; the mark
 * follows its confirmation (doc_fed). */
static int feed_held(struct backup *b, struct backup_slot *sl,
		     struct backup_entry *e, uint64_t id, const char *space,
		     const char *key, const struct cloud_doc_meta *meta,
		     const struct feed_record *r)
{
	struct feed_hold *h = hold_new(b, space, key, e, sl);
	int rc;

	if (!h)
		return -ENOMEM;
	h->id = id;
	h->meta = *meta;
	rc = history_add(b->hist, r, doc_fed, h);
	if (rc) {
		pthread_mutex_lock(&b->lock);
		hold_drop(b, h);
		pthread_mutex_unlock(&b->lock);
		free(h);
		return rc;
	}
	return -EINPROGRESS;
}

int backup_feed_uploaded(struct backup *b, struct backup_slot *sl,
			 struct backup_entry *e, uint64_t id, const char *space,
			 const char *key, const char *body, size_t len,
			 const struct cloud_doc_meta *meta)
{
	struct feed_record r;

	memset(&r, 0, sizeof(r));
	r.kind = FEED_REC_DOC;
	snprintf(r.space, sizeof(r.space), "%s", space);
	snprintf(r.key, sizeof(r.key), "%s", key);
	r.seq = meta->seq;
	r.mode = meta->mode & 07777;
	r.uid = meta->uid;
	r.gid = meta->gid;
	r.mtime_ns = meta->mtime_ns;
	r.ctime_ns = meta->ctime_ns;
	r.body = (const uint8_t *)body;
	r.body_len = len;
	return feed_held(b, sl, e, id, space, key, meta, &r);
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

int backup_feed_delete(struct backup *b, struct backup_slot *sl,
		       uint64_t tomb_id, const char *space, const char *key)
{
	struct feed_record r;
	struct feed_hold *h;
	int rc;

	del_record(&r, space, key);
	h = hold_new(b, space, key, NULL, sl);
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

/* ---- the start of a generation ---- */

struct local_doc {
	uint64_t id;
	char *name; /* "space/key" */
};

struct walk_local {
	struct strlist spaces; /* names */
	struct local_doc *v;
	size_t n, cap;
	const char *space; /* being listed */
	int err;
};

static int collect_space(void *arg, uint64_t id, const char *name)
{
	(void)id;
	return strlist_add(&((struct walk_local *)arg)->spaces, name);
}

static int collect_doc(void *arg, uint64_t id, const char *key)
{
	struct walk_local *w = arg;
	size_t n = strlen(w->space) + strlen(key) + 2;

	if (w->n == w->cap) {
		struct local_doc *nv =
			grow_array(w->v, &w->cap, w->n + 1, 256, sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		w->v = nv;
	}
	w->v[w->n].name = malloc(n);
	if (!w->v[w->n].name)
		return -ENOMEM;
	snprintf(w->v[w->n].name, n, "%s/%s", w->space, key);
	w->v[w->n++].id = id;
	return 0;
}

static int cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_local(const void *a, const void *b)
{
	return strcmp(((const struct local_doc *)a)->name,
		      ((const struct local_doc *)b)->name);
}

static bool in_sorted(char **v, size_t n, const char *name)
{
	return n && bsearch(&name, v, n, sizeof(*v), cmp_cstr);
}

static bool is_local(struct walk_local *w, const char *name)
{
	struct local_doc k = { 0, (char *)name };

	return w->n && bsearch(&k, w->v, w->n, sizeof(*w->v), cmp_local);
}

/* "space/key" into its parts (names never hold '/'). */
static void split(const char *name, char *space, char *key)
{
	const char *slash = strchr(name, '/');

	snprintf(space, STORE_NAME_MAX + 1, "%.*s", (int)(slash - name), name);
	snprintf(key, STORE_NAME_MAX + 1, "%s", slash + 1);
}

static void feed_now(struct backup *b, const struct feed_record *r)
{
	int rc = history_add(b->hist, r, NULL, NULL);

	if (rc)
		log_error("cannot add to the change feed: %s", strerror(-rc));
}

static void feed_local(struct backup *b, uint64_t id, const char *space,
		       const char *key)
{
	struct store_doc_info info;
	struct feed_record r;
	char *text = NULL;
	size_t len = 0;

	if (materialize(b, id, &text, &len, &info))
		return; /* gone meanwhile, or unreadable: logged by its upload */
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
	feed_now(b, &r);
	free(text);
}

/* A cloud object the history lacks: its state from the object (a
 * readable document, its body checked against its checksum; or an archive
 * of the old format, materialized). */
void backup_feed_cloud(struct backup *b, const char *space, const char *key)
{
	struct mat m = { NULL, 0, 0 };
	struct cloud_doc_meta meta;
	struct feed_record r;
	struct archive a;
	char name[2 * CLOUD_ENC_MAX], sum[65];
	void *buf = NULL;
	size_t len = 0, tlen = 0;
	char *text = NULL;
	const void *body;
	int rc;

	memset(&a, 0, sizeof(a));
	if (!b->hist)
		return;
	rc = cloud_target_get_doc(b->target, space, key, &buf, &len, &meta);
	if (rc)
		return;
	if (meta.legacy) {
		rc = archive_decode(buf, len, &a);
		if (!rc) {
			m.doc = json_object();
			rc = m.doc ? 0 : -ENOMEM;
			for (size_t i = 0; !rc && i < a.n; i++)
				rc = mat_entry(&m, a.entries[i].seq,
					       a.entries[i].buf,
					       a.entries[i].len);
			if (!rc)
				rc = json_value_emit(m.doc, &text, &tlen);
			json_decref(m.doc);
		}
		if (!rc) {
			meta.seq = a.seq;
			meta.mode = a.meta.mode;
			meta.uid = a.meta.uid;
			meta.gid = a.meta.gid;
			meta.mtime_ns = a.meta.mtime_ns;
			meta.ctime_ns = a.meta.ctime_ns;
		}
		body = text;
	} else {
		cloud_doc_checksum(buf, len, sum);
		rc = strcmp(sum, meta.sha256) ? -EBADMSG : 0;
		body = buf;
		tlen = len;
	}
	if (rc) {
		backup_log_name(space, key, name);
		log_warn("cloud object '%s' cannot be read (%s): not in the "
			 "change feed",
			 name, strerror(-rc));
	} else {
		memset(&r, 0, sizeof(r));
		r.kind = FEED_REC_DOC;
		snprintf(r.space, sizeof(r.space), "%s", space);
		snprintf(r.key, sizeof(r.key), "%s", key);
		r.seq = meta.seq;
		r.mode = meta.mode & 07777;
		r.uid = meta.uid;
		r.gid = meta.gid;
		r.mtime_ns = meta.mtime_ns;
		r.ctime_ns = meta.ctime_ns;
		r.body = (const uint8_t *)body;
		r.body_len = tlen;
		feed_now(b, &r);
	}
	archive_release(&a);
	free(text);
	free(buf);
}

struct cloud_names {
	struct cloud_target *t;
	struct strlist names; /* "space/key" */
	const char *space;
};

static int collect_cloud_key(void *arg, const char *key)
{
	struct cloud_names *c = arg;
	char buf[2 * STORE_NAME_MAX + 2];

	snprintf(buf, sizeof(buf), "%s/%s", c->space, key);
	return strlist_add(&c->names, buf);
}

static int collect_cloud_space(void *arg, const char *space)
{
	struct cloud_names *c = arg;

	if (cloud_name_reserved(space))
		return 0;
	return strlist_add(&c->names, space); /* keys listed below */
}

struct hist_names {
	struct strlist names;
};

static int collect_hist(void *arg, const struct feed_record *r)
{
	char buf[2 * STORE_NAME_MAX + 2];

	snprintf(buf, sizeof(buf), "%s/%s", r->space, r->key);
	return strlist_add(&((struct hist_names *)arg)->names, buf);
}

static void reconcile_history(struct backup *b)
{
	struct pitr_limit lim = { INT64_MAX, false, 0, 0, NULL, NULL };
	struct cloud_target *t = b->o.quick ? b->o.quick : b->target;
	struct walk_local w;
	struct cloud_names c;
	struct hist_names h = { STRLIST_INIT };
	struct strlist spaces = STRLIST_INIT;
	struct pitr_state *st = NULL;
	char space[STORE_NAME_MAX + 1], key[STORE_NAME_MAX + 1];
	size_t fed = 0;
	int rc;

	memset(&w, 0, sizeof(w));
	memset(&c, 0, sizeof(c));
	rc = pitr_build(t, &lim, &st, NULL);
	if (rc) {
		log_warn("cannot read the history of '%s' (%s): not checking "
			 "it against the namespace now",
			 cloud_target_url(b->target), strerror(-rc));
		return;
	}
	/* the cloud's names */
	c.t = t;
	rc = cloud_target_list_all(t, NULL, collect_cloud_space, &c);
	if (!rc) {
		spaces = c.names;
		memset(&c.names, 0, sizeof(c.names));
	}
	for (size_t i = 0; !rc && i < spaces.n; i++) {
		c.space = spaces.v[i];
		rc = cloud_target_list_all(t, spaces.v[i], collect_cloud_key,
					   &c);
	}
	/* the local ones */
	if (!rc)
		rc = store_space_list(b->store, 0, collect_space, &w);
	for (size_t i = 0; !rc && i < w.spaces.n; i++) {
		uint64_t sid;

		w.space = w.spaces.v[i];
		if (store_space_lookup(b->store, w.space, &sid))
			continue;
		rc = store_doc_list(b->store, sid, 0, collect_doc, &w);
	}
	if (!rc)
		rc = pitr_each(st, collect_hist, &h);
	if (rc) {
		log_warn("cannot list the namespace of '%s' (%s): not checking "
			 "the history against it now",
			 cloud_target_url(b->target), strerror(-rc));
		goto out;
	}
	if (c.names.n)
		qsort(c.names.v, c.names.n, sizeof(*c.names.v), cmp_cstr);
	if (w.n)
		qsort(w.v, w.n, sizeof(*w.v), cmp_local);
	for (size_t i = 0; i < w.n; i++) {
		const struct feed_record *r;
		struct store_doc_info info;

		split(w.v[i].name, space, key);
		r = pitr_find(st, space, key);
		if (store_doc_info(b->store, w.v[i].id, &info))
			continue;
		if (info.backup_seq < info.seq || info.backup_time_ns <= 0)
			continue; /* pending: its upload feeds it */
		if (r && r->seq == info.seq && r->mode == info.meta.mode &&
		    r->mtime_ns == info.meta.mtime_ns)
			continue;
		feed_local(b, w.v[i].id, space, key);
		fed++;
	}
	for (size_t i = 0; i < h.names.n; i++) {
		struct feed_record r;

		if (is_local(&w, h.names.v[i]) ||
		    in_sorted(c.names.v, c.names.n, h.names.v[i]))
			continue;
		split(h.names.v[i], space, key);
		if (store_tombstoned(b->store, space, key))
			continue;
		memset(&r, 0, sizeof(r));
		r.kind = FEED_REC_DEL;
		snprintf(r.space, sizeof(r.space), "%s", space);
		snprintf(r.key, sizeof(r.key), "%s", key);
		feed_now(b, &r);
		fed++;
	}
	if (h.names.n)
		qsort(h.names.v, h.names.n, sizeof(*h.names.v), cmp_cstr);
	for (size_t i = 0; i < c.names.n; i++) {
		if (is_local(&w, c.names.v[i]) ||
		    in_sorted(h.names.v, h.names.n, c.names.v[i]))
			continue;
		split(c.names.v[i], space, key);
		if (store_tombstoned(b->store, space, key))
			continue;
		backup_feed_cloud(b, space, key);
		fed++;
	}
	if (fed)
		log_info("change feed of '%s': %zu changes the history lacked "
			 "fed at the start",
			 cloud_target_url(b->target), fed);
out:
	for (size_t i = 0; i < w.n; i++)
		free(w.v[i].name);
	free(w.v);
	strlist_release(&w.spaces);
	strlist_release(&c.names);
	strlist_release(&spaces);
	strlist_release(&h.names);
	pitr_free(st);
}
