/*
 * backup.c - the change queue and the workers of the uploader, its start,
 * flush and stop (see backup.h; backup_internal.h lists the other files).
 *
 * State, all guarded by b->lock:
 *   - a table of entries by document id (util/u64map.h) and a FIFO of the
 *     queued ones; an entry is queued, or in flight (a worker holds it),
 *     never both.  A change is due at the end of its delay window
 *     (window_due: so one window's uploads leave together and its feed
 *     batch follows them at once), which keeps the FIFO in due order; an
 *     entry due already goes first, and short re-queues (busy name,
 *     failure) only wait a little longer;
 *   - the current window: its end and number;
 *   - one slot per worker naming the (space, key) it is uploading to or
 *     deleting, and the names being restored (upload.c: claims);
 *   - the tombstone pass flag: set after every processed entry and at
 *     start; one worker at a time runs the pass (tombstone.c);
 *   - kick: bumped when the catalog sees the target answer again, so
 *     uploads waiting out a backoff try again at once.
 *
 * Late hooks: the store runs the change hook after releasing its lock, so
 * an upload may read, send and mark a change, and its entry leave the
 * table, before that change's hook runs.  The late hook would make a new
 * entry knowing nothing of the upload, and the state would be PUT and fed
 * a second time.  So an entry leaving the table after a marked upload
 * leaves that state (name, seq, metadata) in b->recent, a ring of the
 * last BACKUP_SENT_RECENT such; a new entry starts from the newest one of
 * its document, and its upload sends nothing when the document is still
 * in that state under that name and the store still holds its mark
 * (upload.c: sent_already).  A hook later than that many entries leaving
 * the table after the upload still sends the state twice (harmless).
 *
 * Lock order: b->lock, then the store's lock (store_* calls) — the store
 * calls the change hook with no lock of its own held.  The catalog's lock
 * is a leaf.
 *
 * Invariants:
 *   1. An entry leaves the table only after its upload was confirmed, or
 *      the document is gone; a change during an upload re-queues it.
 *   2. Every worker is joined and the catalog closed before b is freed.
 */
#include "config.h"

#include "cloud/backup_internal.h"

#include "cloud/history.h"
#include "cloud/verify.h"
#include "util/clock.h"
#include "util/log.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

void backup_options_default(struct backup_options *o)
{
	struct doc_options d;

	doc_options_default(&d);
	memset(o, 0, sizeof(*o));
	o->delay_ms = 1000;
	o->uploads = 8;
	o->retry.base_ms = 500;
	o->retry.cap_ms = 60000;
	o->retry.max_attempts = CLOUD_RETRY_FOREVER;
	o->list_cache_ms = 5000;
	o->lease_check_ms = 10000;
	o->max_doc_bytes = d.max_doc_bytes;
	o->max_patch_bytes = d.max_patch_bytes;
}

/* When a change made at mono time t is due (b->lock held): at the end of
 * the current delay window.  A window opens at the first change after
 * the previous one ended and lasts delay_ms, so the first change of a
 * window waits delay_ms, the later ones less, none more; the uploads of
 * one window leave together at its end and the feed batch holding their
 * records follows as soon as they are all handed over
 * (backup_window_done).  No delay: t itself. */
static int64_t window_due(struct backup *b, int64_t t, uint64_t *win)
{
	if (t >= b->win_end) {
		b->win_end = t + (int64_t)b->o.delay_ms * 1000000;
		b->win_no++;
	}
	*win = b->win_no;
	return b->win_end;
}

/* Count e as queued or uploading in window win. */
static void window_join(struct backup *b, struct backup_entry *e, uint64_t win)
{
	if (e->counted)
		return;
	if (b->win_no >= BACKUP_WINDOWS && win <= b->win_no - BACKUP_WINDOWS)
		win = b->win_no - BACKUP_WINDOWS +
		      1; /* the oldest told apart */
	e->win = win;
	e->counted = true;
	b->win_open[win % BACKUP_WINDOWS]++;
	if (win < b->win_lo)
		b->win_lo = win;
}

void backup_window_leave(struct backup *b, struct backup_entry *e)
{
	if (!e->counted)
		return;
	e->counted = false;
	b->win_open[e->win % BACKUP_WINDOWS]--;
}

uint64_t backup_window_done(struct backup *b)
{
	if (b->stopping || b->hist_reconciling ||
	    b->lease != BACKUP_LEASE_HELD || b->tomb_pass || b->tomb_running)
		return 0;
	if (b->win_no >= BACKUP_WINDOWS &&
	    b->win_lo <= b->win_no - BACKUP_WINDOWS)
		b->win_lo = b->win_no - BACKUP_WINDOWS + 1;
	while (b->win_lo < b->win_no &&
	       !b->win_open[b->win_lo % BACKUP_WINDOWS])
		b->win_lo++;
	if (b->win_open[b->win_lo % BACKUP_WINDOWS]) /* the oldest open */
		return b->win_lo ? b->win_lo - 1 : 0;
	/* none: the current window, once ended */
	return clock_mono_ns() >= b->win_end ? b->win_no : b->win_no - 1;
}

/* "space/key" escaped (log_escape_name), safe to log whatever the bytes. */
void backup_log_name(const char *space, const char *key,
		     char out[2 * CLOUD_ENC_MAX])
{
	char es[LOG_NAME_ESC_MAX], ek[LOG_NAME_ESC_MAX];

	snprintf(out, 2 * CLOUD_ENC_MAX, "%s/%s", log_escape_name(space, es),
		 log_escape_name(key, ek));
}

/* ---- the table and the queue (b->lock held) ---- */

struct backup_entry *backup_table_get(struct backup *b, uint64_t id)
{
	return u64map_get(&b->table, id);
}

/* The state e's last upload marked, remembered past e (b->lock held). */
static void recent_put(struct backup *b, const struct backup_entry *e)
{
	struct backup_sent *r = &b->recent[b->recent_next];

	b->recent_next = (b->recent_next + 1) % BACKUP_SENT_RECENT;
	r->id = e->id;
	r->meta = e->sent_meta;
	memcpy(r->space, e->sent_space, sizeof(r->space));
	memcpy(r->key, e->sent_key, sizeof(r->key));
}

/* A new entry e starts from its document's newest remembered state, if
 * any (b->lock held). */
static void recent_seed(struct backup *b, struct backup_entry *e)
{
	for (uint32_t i = 1; i <= BACKUP_SENT_RECENT; i++) {
		const struct backup_sent *r =
			&b->recent[(b->recent_next + BACKUP_SENT_RECENT - i) %
				   BACKUP_SENT_RECENT];

		if (r->id != e->id)
			continue;
		e->sent = true;
		e->sent_meta = r->meta;
		memcpy(e->sent_space, r->space, sizeof(e->sent_space));
		memcpy(e->sent_key, r->key, sizeof(e->sent_key));
		return;
	}
}

static void table_del(struct backup *b, struct backup_entry *e)
{
	if (e->sent)
		recent_put(b, e);
	u64map_del(&b->table, e->id);
	free(e);
}

static void enqueue(struct backup *b, struct backup_entry *e, int64_t due_ns,
		    uint64_t win)
{
	window_join(b, e, win);
	e->due_ns = due_ns;
	e->queued = true;
	e->qnext = NULL;
	if (b->head && due_ns <= clock_mono_ns()) {
		/* due already (a change made during its upload, whose window
		 * has passed): ahead of those waiting for theirs */
		e->qnext = b->head;
		b->head = e;
	} else {
		if (b->tail)
			b->tail->qnext = e;
		else
			b->head = e;
		b->tail = e;
	}
	pthread_cond_signal(&b->work);
}

static struct backup_entry *dequeue(struct backup *b)
{
	struct backup_entry *e = b->head;

	b->head = e->qnext;
	if (!b->head)
		b->tail = NULL;
	e->queued = false;
	e->qnext = NULL;
	return e;
}

/* Queue id (or note a change of an entry in flight): due at the end of
 * the current delay window, or now (pending at start).  -ENOMEM. */
static int note_change(struct backup *b, uint64_t id, bool now)
{
	struct backup_entry *e = backup_table_get(b, id);
	int64_t t = clock_mono_ns();
	uint64_t win;

	if (e) {
		if (e->inflight && !e->dirty) {
			e->dirty = true;
			e->dirty_due = window_due(b, t, &e->dirty_win);
		}
		e->skip_if_clean = false;
		return 0;
	}
	e = calloc(1, sizeof(*e));
	if (!e || u64map_put(&b->table, id, e)) {
		free(e);
		return -ENOMEM;
	}
	e->id = id;
	recent_seed(b, e);
	if (now) {
		enqueue(b, e, t, b->win_no);
	} else {
		int64_t due = window_due(b, t, &win);

		enqueue(b, e, due, win);
	}
	return 0;
}

static void on_change(void *arg, uint64_t id)
{
	struct backup *b = arg;
	int rc = 0;

	pthread_mutex_lock(&b->lock);
	if (!b->stopping)
		rc = note_change(b, id, false);
	pthread_mutex_unlock(&b->lock);
	if (rc)
		log_error("cannot queue the upload of document %" PRIu64
			  ": %s (it stays pending until the next start)",
			  id, strerror(-rc));
}

/* ---- workers ---- */

/* Wait for work; returns with b->lock held: an entry popped into *e, or
 * the tombstone pass to run (*e NULL), or false when stopping. */
static bool next_work(struct backup *b, struct backup_entry **e)
{
	for (;;) {
		struct timespec until;
		int64_t now;

		if (b->stopping)
			return false;
		if (b->lease != BACKUP_LEASE_HELD || /* writer.c */
		    b->hist_reconciling) { /* history_backup.c */
			pthread_cond_wait(&b->work, &b->lock);
			continue;
		}
		if (b->tomb_pass && !b->tomb_running) {
			b->tomb_pass = false;
			b->tomb_running = true;
			*e = NULL;
			return true;
		}
		if (!b->head) {
			pthread_cond_wait(&b->work, &b->lock);
			continue;
		}
		now = clock_mono_ns();
		if (b->flushing || b->head->due_ns <= now) {
			*e = dequeue(b);
			return true;
		}
		clock_deadline_ns(&until, b->head->due_ns - now);
		pthread_cond_timedwait(&b->work, &b->lock, &until);
	}
}

void backup_entry_finish(struct backup *b, struct backup_entry *e, int rc)
{
	int64_t now = clock_mono_ns();

	uint64_t win = e->win;

	e->inflight = false;
	b->inflight--;
	backup_window_leave(b, e);
	/* a retry stays in its window; a change meanwhile is in its own */
	if (rc == -EAGAIN)
		enqueue(b, e, now + (int64_t)BACKUP_BUSY_RETRY_MS * 1000000,
			win);
	else if (rc == -ESTALE) /* changed during an outage: send it now */
		enqueue(b, e, now, win);
	else if (rc)
		enqueue(b, e, now + (int64_t)b->o.delay_ms * 1000000, win);
	else if (e->dirty)
		enqueue(b, e, e->dirty_due, e->dirty_win);
	else
		table_del(b, e);
	b->tomb_pass = true;
	backup_history_kick(b);
	pthread_cond_broadcast(&b->work);
	pthread_cond_broadcast(&b->idle);
}

static void *work(void *arg)
{
	struct backup_worker *w = arg;
	struct backup *b = w->b;
	struct backup_slot *sl = &w->slot;
	struct backup_entry *e;

	pthread_mutex_lock(&b->lock);
	while (next_work(b, &e)) {
		int rc;

		if (!e) {
			pthread_mutex_unlock(&b->lock);
			backup_tomb_pass(b, sl);
			pthread_mutex_lock(&b->lock);
			b->tomb_running = false;
			pthread_cond_broadcast(&b->idle);
			backup_history_kick(b);
			continue;
		}
		e->inflight = true;
		e->dirty = false;
		b->inflight++;
		pthread_mutex_unlock(&b->lock);
		rc = backup_upload_doc(b, sl, e);
		pthread_mutex_lock(&b->lock);
		/* history: -EINPROGRESS, the feed finishes it */
		if (rc != -EINPROGRESS)
			backup_entry_finish(b, e, rc);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

/* ---- start, flush, stop ---- */

static int queue_pending(void *arg, uint64_t id)
{
	return note_change(arg, id, true);
}

static void free_all(struct backup *b)
{
	void *e;

	backup_writer_join(b);
	for (size_t pos = 0; u64map_next(&b->table, &pos, NULL, &e);)
		free(e);
	catalog_close(b->cat);
	u64map_release(&b->table);
	free(b->workers);
	pthread_cond_destroy(&b->work);
	pthread_cond_destroy(&b->idle);
	pthread_cond_destroy(&b->lease_cv);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

static int init(struct backup *b, const struct backup_options *o)
{
	uint32_t n = o->uploads ? o->uploads : 1;

	b->o = *o;
	b->nthreads = n;
	u64map_init(&b->table);
	b->workers = calloc(n, sizeof(*b->workers));
	b->rng = (uint64_t)clock_real_ns() ^ (uintptr_t)b;
	pthread_mutex_init(&b->lock, NULL);
	clock_cond_init(&b->work);
	clock_cond_init(&b->idle);
	clock_cond_init(&b->lease_cv);
	return b->workers && !u64map_reserve(&b->table, 1024) ? 0 : -ENOMEM;
}

static int open_catalog(struct backup *b);

/* ---- the store marker ----
 *
 * A target the store backs up to holds one object of ours beside the
 * documents, (".caravan", "store"), written when the store takes the
 * target (new, changed or adopted).  Found missing at a later start while
 * the store still names that target, it says the target lost what was
 * uploaded (emptied, or a new bucket under the same name): every document
 * is uploaded again (store_backup_forget), each first upload reconciling
 * with whatever the target holds by then (upload.c).  A target that
 * cannot be asked now is not judged.
 *
 * Format version: the marker's seq is the format of the documents the
 * store writes there.  1 (older builds): each document an archive
 * (cloud/archive.h); 2: readable objects (docs/cloud.md).  A marker of
 * format 1 found at start is a target written by an older build: every
 * document the store holds is uploaded again (store_backup_forget), each
 * upload replacing its own archive (upload.c: a legacy archive of the
 * document is its own version), and the marker is rewritten at 2.
 * A store that recorded no target (a build before target identities
 * and markers) and finds no marker migrates the same way.  Documents only
 * the cloud holds stay archives, which restore still reads; one restored
 * from an archive is uploaded again, readable. */
#define MARK_SPACE CLOUD_RESERVED_PREFIX
#define MARK_KEY "store"
#define MARK_FORMAT 2

static void mark_write(struct backup *b)
{
	static const char body[] = "caravanfs store marker\nformat 2\n";
	struct cloud_target *t = b->o.quick ? b->o.quick : b->target;
	int rc;

	if (b->lease != BACKUP_LEASE_HELD) /* read_only, or not ours (yet) */
		return;
	rc = cloud_target_put(t, MARK_SPACE, MARK_KEY, body, sizeof(body) - 1,
			      MARK_FORMAT);
	if (rc)
		log_warn("cannot write the store marker to '%s': %s (checked "
			 "again at the next start)",
			 cloud_target_url(b->target), strerror(-rc));
}

/* Every document becomes pending (uploaded again), then the marker is
 * written anew. */
static int forget_and_mark(struct backup *b)
{
	int rc = store_backup_forget(b->store);

	if (!rc)
		mark_write(b);
	return rc;
}

/* A store that recorded no target meets one another store writes (its
 * marker is there): a follower's store made writer (-o cloud_takeover),
 * or a store new to the target.  Its documents' marks say nothing of
 * this target (a follower's imports are marked as restores), and the
 * target may hold other states under their names: what the old writer
 * uploaded after the follower's position, or deleted.  So every
 * document becomes pending, never uploaded (store_backup_forget), and
 * its upload reconciles (cloud/upload.c): a HEAD finds the states the
 * target holds already, which are adopted without a PUT; the others are
 * uploaded, a newer object of the old writer kept as a conflict copy
 * first (nothing it uploaded is lost). */
static int check_adopted(struct backup *b)
{
	struct store_stats st;

	store_stats(b->store, &st);
	if (!st.documents)
		return 0;
	log_info("backup target '%s' is written by another store: the %" PRIu64
		 " documents here are checked against it (those it holds "
		 "already are adopted, not uploaded)",
		 cloud_target_url(b->target), (uint64_t)st.documents);
	return store_backup_forget(b->store);
}

/* After store_backup_target named the target as before, or adopted it
 * (a store of an older build that recorded none). */
static int mark_check(struct backup *b, bool adopted)
{
	struct cloud_target *t = b->o.quick ? b->o.quick : b->target;
	struct cloud_object_info info;
	int rc = cloud_target_head(t, MARK_SPACE, MARK_KEY, &info);

	if (rc == 0 && info.seq < MARK_FORMAT) {
		log_info("backup target '%s' holds documents in the format of "
			 "an older build: every document is uploaded again, "
			 "readable",
			 cloud_target_url(b->target));
		return forget_and_mark(b);
	}
	if (rc == 0 && adopted)
		return check_adopted(b);
	if (rc == 0)
		return 0;
	if (rc == -ENOENT && adopted) {
		/* A store of a build before target identities and markers:
		 * its uploads there are archives.  (A new, empty store has
		 * nothing to upload again: it only gets its marker.) */
		struct store_stats st;

		store_stats(b->store, &st);
		if (!st.documents) {
			mark_write(b);
			return 0;
		}
		log_info("backup target '%s' was written by an older build: "
			 "every document is uploaded again, readable",
			 cloud_target_url(b->target));
		return forget_and_mark(b);
	}
	if (rc != -ENOENT) {
		log_info("cannot check the store marker in '%s' now (%s): not "
			 "checking whether it lost the uploads",
			 cloud_target_url(b->target), strerror(-rc));
		return 0;
	}
	log_warn("backup target '%s' lacks this store's marker (emptied, or "
		 "another bucket under its name): every document is uploaded "
		 "again",
		 cloud_target_url(b->target));
	return forget_and_mark(b);
}

int backup_start(struct store *store, struct cloud_target *target,
		 const struct backup_options *o, struct backup **out)
{
	struct backup_options defaults;
	struct backup *b;
	uint64_t before;
	bool changed;
	int rc;

	if (!o) {
		backup_options_default(&defaults);
		o = &defaults;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->store = store;
	b->target = target;
	rc = init(b, o);
	if (!rc)
		rc = open_catalog(b);
	if (!rc)
		rc = backup_writer_start(b); /* before anything is written */
	if (rc) {
		free_all(b);
		return rc;
	}
	/* Upload state belongs to a target: another one makes every
	 * document pending (logged in the store, so it survives a crash);
	 * the same one that lost its marker too. */
	before = store_backup_target_id(store);
	rc = store_backup_target(
		store, cloud_target_identity(cloud_target_url(target)),
		&changed);
	if (!rc && changed)
		mark_write(b);
	else if (!rc)
		rc = mark_check(b, before == 0);
	if (rc) {
		log_error("cannot record the backup target '%s': %s",
			  cloud_target_url(target), strerror(-rc));
		free_all(b);
		return rc;
	}
	/* history: the feed writer, before any upload */
	rc = backup_history_start(b);
	if (rc) {
		free_all(b);
		return rc;
	}
	/* Hook first: a change made while the pending documents are listed
	 * is queued by one or the other (the table keeps one entry). */
	store_set_change_hook(store, on_change, b);
	pthread_mutex_lock(&b->lock);
	rc = store_backup_pending(store, queue_pending, b);
	b->tomb_pass = true;
	if (changed)
		log_info("backup target '%s' is new to this store: %zu "
			 "documents to upload to it",
			 cloud_target_url(target), u64map_count(&b->table));
	pthread_mutex_unlock(&b->lock);
	if (rc) {
		log_error("cannot list the documents pending upload: %s",
			  strerror(-rc));
		store_set_change_hook(store, NULL, NULL);
		backup_history_stop(b);
		free_all(b);
		return rc;
	}
	for (uint32_t i = 0; i < b->nthreads; i++) {
		b->workers[i].b = b;
		rc = -pthread_create(&b->workers[i].thread, NULL, work,
				     &b->workers[i]);
		if (rc) {
			log_error("cannot start upload threads: %s",
				  strerror(-rc));
			b->nthreads = i;
			backup_stop(b, 0);
			return rc;
		}
	}
	*out = b;
	return 0;
}

/* The catalog saw the target answer again: retry now, not after the
 * backoff. */
static void on_up(void *arg)
{
	struct backup *b = arg;

	pthread_mutex_lock(&b->lock);
	b->kick++;
	pthread_cond_broadcast(&b->work);
	pthread_cond_broadcast(&b->lease_cv);
	pthread_mutex_unlock(&b->lock);
}

static int open_catalog(struct backup *b)
{
	struct catalog_options co;

	catalog_options_default(&co);
	co.list_cache_ms = b->o.list_cache_ms;
	if (b->o.negative_ms)
		co.negative_ms = b->o.negative_ms;
	co.quick = b->o.quick;
	co.on_up = on_up;
	co.on_up_arg = b;
	return catalog_open(b->store, b->target, &co, &b->cat);
}

struct catalog *backup_catalog(struct backup *b)
{
	return b->cat;
}

int backup_list_space(struct backup *b, const char *space, cloud_name_fn fn,
		      void *arg)
{
	return catalog_list(b->cat, space, fn, arg);
}

int backup_list_spaces(struct backup *b, cloud_name_fn fn, void *arg)
{
	return catalog_list(b->cat, NULL, fn, arg);
}

bool backup_stopping(struct backup *b)
{
	bool v;

	pthread_mutex_lock(&b->lock);
	v = b->stopping;
	pthread_mutex_unlock(&b->lock);
	return v;
}

static bool all_done(struct backup *b)
{
	return u64map_count(&b->table) == 0 && b->inflight == 0 &&
	       !b->tomb_pass && !b->tomb_running && b->feed_wait == 0 &&
	       !b->hist_reconciling;
}

int backup_flush(struct backup *b, uint32_t timeout_ms)
{
	struct timespec until;
	int rc = 0;

	clock_deadline_ns(&until, (int64_t)timeout_ms * 1000000);
	if (b->hist) /* history: batches go without their delay */
		history_urgent(b->hist, 1);
	pthread_mutex_lock(&b->lock);
	b->flushing++;
	pthread_cond_broadcast(&b->work);
	while (!all_done(b) && !b->stopping) {
		if (b->lease == BACKUP_LEASE_LOST ||
		    b->lease == BACKUP_LEASE_OFF) {
			rc = b->lease == BACKUP_LEASE_LOST ? -EBUSY : -EROFS;
			break;
		}
		if (!timeout_ms) {
			pthread_cond_wait(&b->idle, &b->lock);
		} else if (pthread_cond_timedwait(&b->idle, &b->lock, &until) ==
			   ETIMEDOUT) {
			rc = all_done(b) ? 0 : -ETIMEDOUT;
			break;
		}
	}
	b->flushing--;
	pthread_mutex_unlock(&b->lock);
	if (b->hist)
		history_urgent(b->hist, -1);
	/* history: and the snapshot and pruning the last batches asked for */
	if (!rc && b->hist)
		rc = history_upkeep_wait(b->hist, timeout_ms);
	return rc;
}

void backup_stop(struct backup *b, uint32_t drain_ms)
{
	size_t left;

	if (!b)
		return;
	if (drain_ms && backup_flush(b, drain_ms) == -ETIMEDOUT)
		log_warn("stopping backup with uploads pending; they are "
			 "uploaded at the next start");
	store_set_change_hook(b->store, NULL, NULL);
	backup_writer_release(b);
	pthread_mutex_lock(&b->lock);
	b->stopping = true;
	left = u64map_count(&b->table);
	pthread_cond_broadcast(&b->work);
	pthread_cond_broadcast(&b->idle);
	pthread_mutex_unlock(&b->lock);
	cloud_target_interrupt(b->target);
	for (uint32_t i = 0; i < b->nthreads; i++)
		pthread_join(b->workers[i].thread, NULL);
	backup_writer_join(b);
	backup_history_stop(b); /* history: before the entries go */
	if (left)
		log_info("backup stopped with %zu documents pending", left);
	free_all(b);
}

void backup_stats(struct backup *b, struct backup_stats *out)
{
	pthread_mutex_lock(&b->lock);
	*out = b->st;
	out->queue = u64map_count(&b->table);
	pthread_mutex_unlock(&b->lock);
}