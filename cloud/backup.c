/*
 * backup.c - the uploader, restore and cloud listings (see backup.h).
 *
 * State, all guarded by b->lock:
 *   - a table of entries by document id (hash chains) and a FIFO of the
 *     queued ones; an entry is queued, or in flight (a worker holds it),
 *     never both.  Delays are equal for all, so the FIFO is in due order
 *     (but for short re-queues, which only wait a little longer);
 *   - one slot per worker naming the (space, key) it is uploading to or
 *     deleting: an upload and a deletion of the same name never overlap,
 *     so a late PUT cannot resurrect a deleted copy;
 *   - the tombstone pass flag: set after every processed entry and at
 *     start; one worker at a time walks store_tombstone_list().
 *
 * Lock order: b->lock, then the store's lock (store_* calls) — the store
 * calls the change hook with no lock of its own held.  cache_lock is a
 * leaf.
 *
 * Upload of document id (upload_doc), in this order:
 *   1. read its name, claim the name (or retry the entry shortly);
 *   2. read its entries (store_read, one consistent snapshot) into an
 *      archive, then its info (a later LSN) and store_sync() to that LSN:
 *      everything sent is durable locally before it is sent;
 *   3. PUT, retried forever with backoff (each failure logged);
 *   4. if the document still has that name, store_backup_mark(seq): the
 *      mark follows a confirmed PUT, never precedes it.  If it was
 *      deleted or renamed meanwhile and nothing else owns the name (no
 *      document, no tombstone), DELETE the copy just written.
 *
 * Invariants:
 *   1. A document is marked uploaded at seq S only after the target
 *      confirmed an archive of its entries up to S under its current name.
 *   2. An entry leaves the table only after its upload was confirmed, or
 *      the document is gone; a change during an upload re-queues it.
 *   3. A tombstone is cleared only after its DELETE was confirmed.
 */
#include "config.h"

#include "cloud/backup.h"

#include "cloud/archive.h"
#include "util/log.h"
#include "util/strlist.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BUSY_RETRY_MS 50

struct entry {
	uint64_t id;
	int64_t due_ns;
	bool queued;
	bool inflight;
	bool dirty; /* changed while in flight */
	bool skip_if_clean; /* just restored: no upload unless changed */
	struct entry *hnext;
	struct entry *qnext;
};

struct slot {
	bool busy;
	char space[STORE_NAME_MAX + 1];
	char key[STORE_NAME_MAX + 1];
};

struct worker {
	struct backup *b;
	pthread_t thread;
	struct slot slot; /* the name it works on, under b->lock */
};

/* A name being restored (on the restoring thread's stack). */
struct restoring {
	const char *space, *key;
	struct restoring *next;
};

struct cached {
	char *space; /* "" for the list of spaces */
	int64_t fetched_ns;
	struct strlist names;
	struct cached *next;
};

struct backup {
	struct store *store;
	struct cloud_target *target;
	struct backup_options o;

	pthread_mutex_t lock;
	pthread_cond_t work; /* workers: something to do, or stop */
	pthread_cond_t idle; /* flushers: an entry or pass finished */
	struct entry **buckets;
	size_t nbuckets, nentries;
	struct entry *head, *tail;
	size_t inflight;
	bool tomb_pass, tomb_running;
	int flushing;
	bool stopping;
	struct worker *workers;
	uint32_t nthreads;
	struct restoring *restoring;
	uint64_t rng;
	struct backup_stats st;

	pthread_mutex_t cache_lock; /* guards cache */
	struct cached *cache;
};

void backup_options_default(struct backup_options *o)
{
	memset(o, 0, sizeof(*o));
	o->delay_ms = 1000;
	o->uploads = 4;
	o->retry.base_ms = 500;
	o->retry.cap_ms = 60000;
	o->retry.max_attempts = CLOUD_RETRY_FOREVER;
	o->list_cache_ms = 5000;
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct timespec mono_at(int64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000),
			       (long)(ns % 1000000000) };

	return ts;
}

/* "space/key" escaped (log_escape_name), safe to log whatever the bytes. */
static void log_name(const char *space, const char *key,
		     char out[2 * CLOUD_ENC_MAX])
{
	char es[LOG_NAME_ESC_MAX], ek[LOG_NAME_ESC_MAX];

	snprintf(out, 2 * CLOUD_ENC_MAX, "%s/%s", log_escape_name(space, es),
		 log_escape_name(key, ek));
}

/* ---- the table and the queue (b->lock held) ---- */

static size_t hash_id(uint64_t id, size_t n)
{
	return (size_t)((id * 0x9e3779b97f4a7c15ull) >> 20) & (n - 1);
}

static struct entry *table_get(struct backup *b, uint64_t id)
{
	struct entry *e = b->buckets[hash_id(id, b->nbuckets)];

	while (e && e->id != id)
		e = e->hnext;
	return e;
}

static void table_grow(struct backup *b)
{
	size_t n = b->nbuckets * 2;
	struct entry **nb = calloc(n, sizeof(*nb));

	if (!nb)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < b->nbuckets; i++) {
		struct entry *e = b->buckets[i], *next;

		for (; e; e = next) {
			size_t h = hash_id(e->id, n);

			next = e->hnext;
			e->hnext = nb[h];
			nb[h] = e;
		}
	}
	free(b->buckets);
	b->buckets = nb;
	b->nbuckets = n;
}

static void table_put(struct backup *b, struct entry *e)
{
	size_t h;

	if (b->nentries >= 2 * b->nbuckets)
		table_grow(b);
	h = hash_id(e->id, b->nbuckets);
	e->hnext = b->buckets[h];
	b->buckets[h] = e;
	b->nentries++;
}

static void table_del(struct backup *b, struct entry *e)
{
	struct entry **p = &b->buckets[hash_id(e->id, b->nbuckets)];

	while (*p != e)
		p = &(*p)->hnext;
	*p = e->hnext;
	b->nentries--;
	free(e);
}

static void enqueue(struct backup *b, struct entry *e, int64_t due_ns)
{
	e->due_ns = due_ns;
	e->queued = true;
	e->qnext = NULL;
	if (b->tail)
		b->tail->qnext = e;
	else
		b->head = e;
	b->tail = e;
	pthread_cond_signal(&b->work);
}

static struct entry *dequeue(struct backup *b)
{
	struct entry *e = b->head;

	b->head = e->qnext;
	if (!b->head)
		b->tail = NULL;
	e->queued = false;
	e->qnext = NULL;
	return e;
}

/* Queue id (or note a change of an entry in flight).  -ENOMEM. */
static int note_change(struct backup *b, uint64_t id, int64_t delay_ns)
{
	struct entry *e = table_get(b, id);

	if (e) {
		if (e->inflight)
			e->dirty = true;
		e->skip_if_clean = false;
		return 0;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->id = id;
	table_put(b, e);
	enqueue(b, e, mono_ns() + delay_ns);
	return 0;
}

static void on_change(void *arg, uint64_t id)
{
	struct backup *b = arg;
	int rc = 0;

	pthread_mutex_lock(&b->lock);
	if (!b->stopping)
		rc = note_change(b, id, (int64_t)b->o.delay_ms * 1000000);
	pthread_mutex_unlock(&b->lock);
	if (rc)
		log_error("cannot queue the upload of document %" PRIu64
			  ": %s (it stays pending until the next start)",
			  id, strerror(-rc));
}

/* ---- name claims (b->lock held) ---- */

static bool name_busy(struct backup *b, const char *space, const char *key)
{
	for (uint32_t i = 0; i < b->nthreads; i++) {
		const struct slot *sl = &b->workers[i].slot;

		if (sl->busy && !strcmp(sl->space, space) &&
		    !strcmp(sl->key, key))
			return true;
	}
	for (struct restoring *r = b->restoring; r; r = r->next)
		if (!strcmp(r->space, space) && !strcmp(r->key, key))
			return true;
	return false;
}

/* Claim (space, key) for sl; -EAGAIN when busy.  For an upload (e not
 * NULL), *skip receives and clears the entry's skip_if_clean in the same
 * critical section, so a restore finishing around it is never missed. */
static int claim(struct backup *b, struct slot *sl, const char *space,
		 const char *key, struct entry *e, bool *skip)
{
	int rc = 0;

	pthread_mutex_lock(&b->lock);
	if (name_busy(b, space, key)) {
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

static void unclaim(struct backup *b, struct slot *sl)
{
	pthread_mutex_lock(&b->lock);
	sl->busy = false;
	pthread_mutex_unlock(&b->lock);
}

/* ---- the listing cache ---- */

static void cached_free(struct cached *c)
{
	strlist_release(&c->names);
	free(c->space);
	free(c);
}

static struct cached *cache_find(struct backup *b, const char *space)
{
	struct cached *c = b->cache;

	while (c && strcmp(c->space, space))
		c = c->next;
	return c;
}

static int cached_add(struct cached *c, const char *name)
{
	return strlist_has(&c->names, name) ? 0 : strlist_add(&c->names, name);
}

/* Keep cached listings in step with what we uploaded or deleted. */
static void cache_note(struct backup *b, const char *space, const char *key,
		       bool present)
{
	struct cached *c;

	pthread_mutex_lock(&b->cache_lock);
	c = cache_find(b, space);
	if (c && present)
		cached_add(c, key);
	else if (c)
		strlist_remove(&c->names, key);
	c = cache_find(b, "");
	if (c && present)
		cached_add(c, space);
	pthread_mutex_unlock(&b->cache_lock);
}

static int collect_name(void *arg, const char *name)
{
	return cached_add(arg, name);
}

/* A copy of the cached listing of space ("" for spaces), fetched when
 * missing or stale. */
static int cache_get(struct backup *b, const char *space, struct strlist *out)
{
	int64_t now = mono_ns(), ttl = (int64_t)b->o.list_cache_ms * 1000000;
	struct cached *c, *fresh;
	int rc = 0;

	pthread_mutex_lock(&b->cache_lock);
	c = cache_find(b, space);
	if (!c || now - c->fetched_ns > ttl) {
		pthread_mutex_unlock(&b->cache_lock);
		fresh = calloc(1, sizeof(*fresh));
		if (!fresh)
			return -ENOMEM;
		fresh->space = strdup(space);
		rc = fresh->space
			     ? cloud_target_list_all(b->target,
						     space[0] ? space : NULL,
						     collect_name, fresh)
			     : -ENOMEM;
		if (rc) {
			cached_free(fresh);
			return rc;
		}
		fresh->fetched_ns = now;
		pthread_mutex_lock(&b->cache_lock);
		c = cache_find(b, space);
		if (c) {
			struct cached *next = c->next;
			char *s = c->space;

			/* Replace in place: swap contents. */
			c->space = fresh->space;
			fresh->space = s;
			strlist_release(&c->names);
			c->names = fresh->names;
			c->fetched_ns = fresh->fetched_ns;
			c->next = next;
			fresh->names = (struct strlist)STRLIST_INIT;
			cached_free(fresh);
		} else {
			fresh->next = b->cache;
			b->cache = fresh;
			c = fresh;
		}
	}
	for (size_t i = 0; !rc && i < c->names.n; i++)
		rc = strlist_add(out, c->names.v[i]);
	pthread_mutex_unlock(&b->cache_lock);
	return rc;
}

int backup_list_space(struct backup *b, const char *space, cloud_name_fn fn,
		      void *arg)
{
	struct strlist l = STRLIST_INIT;
	int rc;

	if (!cloud_name_valid(space))
		return -EINVAL;
	rc = cache_get(b, space, &l);
	for (size_t i = 0; !rc && i < l.n; i++)
		if (!store_tombstoned(b->store, space, l.v[i]))
			rc = fn(arg, l.v[i]);
	strlist_release(&l);
	return rc;
}

int backup_list_spaces(struct backup *b, cloud_name_fn fn, void *arg)
{
	struct strlist l = STRLIST_INIT;
	int rc = cache_get(b, "", &l);

	for (size_t i = 0; !rc && i < l.n; i++)
		rc = fn(arg, l.v[i]);
	strlist_release(&l);
	return rc;
}

/* ---- retrying target calls ---- */

/* Sleep ms unless stopping; -ECANCELED when stopping. */
static int backoff_wait(struct backup *b, uint32_t ms)
{
	struct timespec until = mono_at(mono_ns() + (int64_t)ms * 1000000);
	int rc = 0;

	pthread_mutex_lock(&b->lock);
	while (!b->stopping && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&b->work, &b->lock, &until);
	rc = b->stopping ? -ECANCELED : 0;
	pthread_mutex_unlock(&b->lock);
	return rc;
}

static bool stopping(struct backup *b)
{
	bool v;

	pthread_mutex_lock(&b->lock);
	v = b->stopping;
	pthread_mutex_unlock(&b->lock);
	return v;
}

static void count_failure(struct backup *b)
{
	pthread_mutex_lock(&b->lock);
	b->st.upload_failures++;
	pthread_mutex_unlock(&b->lock);
}

/* Whether the entry changed since its upload began (NULL: never). */
static bool superseded(struct backup *b, const struct entry *e)
{
	bool v = false;

	if (e) {
		pthread_mutex_lock(&b->lock);
		v = e->dirty;
		pthread_mutex_unlock(&b->lock);
	}
	return v;
}

/* PUT (buf != NULL) or DELETE until confirmed or stopping.  A PUT for
 * entry e gives up with -ESTALE after a failure when e changed meanwhile:
 * the next attempt should send the newer state. */
static int until_confirmed(struct backup *b, const struct entry *e,
			   const char *space, const char *key, const void *buf,
			   size_t len, uint64_t seq)
{
	char name[2 * CLOUD_ENC_MAX];
	uint32_t attempt;

	for (attempt = 0;; attempt++) {
		uint32_t ms;
		int rc;

		if (stopping(b))
			return -ECANCELED;
		rc = buf ? cloud_target_put(b->target, space, key, buf, len,
					    seq)
			 : cloud_target_delete(b->target, space, key);
		if (!rc)
			return 0;
		if (rc == -ECANCELED)
			return rc;
		count_failure(b);
		pthread_mutex_lock(&b->lock);
		ms = cloud_backoff_ms(&b->o.retry, attempt, &b->rng);
		pthread_mutex_unlock(&b->lock);
		log_name(space, key, name);
		if (buf)
			log_error("cannot upload '%s' (seq %" PRIu64 "): %s, "
				  "retrying in %" PRIu32 " ms",
				  name, seq, strerror(-rc), ms);
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
static int confirm(struct backup *b, uint64_t id, const char *space,
		   const char *key, uint64_t seq)
{
	char now_space[STORE_NAME_MAX + 1], now_key[STORE_NAME_MAX + 1];
	uint64_t sid, other;
	int rc = store_node_name(b->store, id, now_space, now_key);

	if (!rc && !strcmp(now_space, space) && !strcmp(now_key, key)) {
		/* checked again atomically with the mark */
		rc = store_backup_mark_named(b->store, id, space, key, seq,
					     real_ns());
		if (rc == -ESTALE || rc == -ENOENT)
			goto moved;
		if (!rc) {
			pthread_mutex_lock(&b->lock);
			b->st.uploads++;
			pthread_mutex_unlock(&b->lock);
			cache_note(b, space, key, true);
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
	rc = until_confirmed(b, NULL, space, key, NULL, 0, 0);
	if (!rc)
		cache_note(b, space, key, false);
	return rc;
}

/* Upload document id.  0 when done (or nothing to do), -EAGAIN when its
 * name is busy, -ECANCELED when stopping, another errno to retry later. */
static int upload_doc(struct backup *b, struct slot *sl, struct entry *e)
{
	uint64_t id = e->id;
	bool skip = false;
	char space[STORE_NAME_MAX + 1], key[STORE_NAME_MAX + 1];
	char name[2 * CLOUD_ENC_MAX];
	struct store_doc_info info;
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
	rc = claim(b, sl, space, key, e, &skip);
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
		log_name(space, key, name);
		log_error("cannot read '%s' for upload: %s", name,
			  strerror(-rc));
		goto out_unclaim;
	}
	rc = until_confirmed(b, e, space, key, buf, len, seq);
	if (!rc)
		rc = confirm(b, id, space, key, seq);
	free(buf);
out_unclaim:
	unclaim(b, sl);
	return rc;
}

/* ---- tombstones ---- */

struct tomb {
	uint64_t id;
	char *space, *key;
};

struct tombs {
	struct tomb *v;
	size_t n, cap;
};

static int collect_tomb(void *arg, uint64_t tomb_id, const char *space,
			const char *key)
{
	struct tombs *t = arg;

	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 16;
		struct tomb *nv = realloc(t->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		t->v = nv;
		t->cap = cap;
	}
	t->v[t->n].id = tomb_id;
	t->v[t->n].space = strdup(space);
	t->v[t->n].key = strdup(key);
	if (!t->v[t->n].space || !t->v[t->n].key) {
		free(t->v[t->n].space);
		free(t->v[t->n].key);
		return -ENOMEM;
	}
	t->n++;
	return 0;
}

/* Delete the cloud copy of every tombstone whose name is not busy. */
static void tomb_pass(struct backup *b, struct slot *sl)
{
	struct tombs t = { NULL, 0, 0 };
	int rc = store_tombstone_list(b->store, collect_tomb, &t);

	if (rc)
		log_error("cannot list tombstones: %s", strerror(-rc));
	for (size_t i = 0; i < t.n && !stopping(b); i++) {
		if (claim(b, sl, t.v[i].space, t.v[i].key, NULL, NULL))
			continue; /* an upload holds it: the next pass */
		/* Re-created meanwhile: the new document overwrites it. */
		if (store_tombstoned(b->store, t.v[i].space, t.v[i].key) &&
		    !until_confirmed(b, NULL, t.v[i].space, t.v[i].key, NULL, 0,
				     0)) {
			rc = store_tombstone_clear(b->store, t.v[i].id);
			if (rc && rc != -ENOENT)
				log_error("cannot clear tombstone %" PRIu64
					  ": %s",
					  t.v[i].id, strerror(-rc));
			pthread_mutex_lock(&b->lock);
			b->st.deletes++;
			pthread_mutex_unlock(&b->lock);
			cache_note(b, t.v[i].space, t.v[i].key, false);
		}
		unclaim(b, sl);
	}
	for (size_t i = 0; i < t.n; i++) {
		free(t.v[i].space);
		free(t.v[i].key);
	}
	free(t.v);
}

/* ---- workers ---- */

/* Wait for work; returns with b->lock held: an entry popped into *e, or
 * the tombstone pass to run (*e NULL), or false when stopping. */
static bool next_work(struct backup *b, struct entry **e)
{
	for (;;) {
		struct timespec until;

		if (b->stopping)
			return false;
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
		if (b->flushing || b->head->due_ns <= mono_ns()) {
			*e = dequeue(b);
			return true;
		}
		until = mono_at(b->head->due_ns);
		pthread_cond_timedwait(&b->work, &b->lock, &until);
	}
}

static void finish_entry(struct backup *b, struct entry *e, int rc)
{
	int64_t now = mono_ns();

	e->inflight = false;
	b->inflight--;
	if (rc == -EAGAIN)
		enqueue(b, e, now + (int64_t)BUSY_RETRY_MS * 1000000);
	else if (rc == -ESTALE)
		enqueue(b, e, now); /* changed during an outage: send it now */
	else if (rc || e->dirty)
		enqueue(b, e, now + (int64_t)b->o.delay_ms * 1000000);
	else
		table_del(b, e);
	b->tomb_pass = true;
	pthread_cond_broadcast(&b->work);
	pthread_cond_broadcast(&b->idle);
}

static void *work(void *arg)
{
	struct worker *w = arg;
	struct backup *b = w->b;
	struct slot *sl = &w->slot;
	struct entry *e;

	pthread_mutex_lock(&b->lock);
	while (next_work(b, &e)) {
		int rc;

		if (!e) {
			pthread_mutex_unlock(&b->lock);
			tomb_pass(b, sl);
			pthread_mutex_lock(&b->lock);
			b->tomb_running = false;
			pthread_cond_broadcast(&b->idle);
			continue;
		}
		e->inflight = true;
		e->dirty = false;
		b->inflight++;
		pthread_mutex_unlock(&b->lock);
		rc = upload_doc(b, sl, e);
		pthread_mutex_lock(&b->lock);
		finish_entry(b, e, rc);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

/* ---- start, flush, stop ---- */

static int queue_pending(void *arg, uint64_t id)
{
	return note_change(arg, id, 0);
}

static void free_all(struct backup *b)
{
	for (size_t i = 0; b->buckets && i < b->nbuckets; i++) {
		struct entry *e = b->buckets[i], *next;

		for (; e; e = next) {
			next = e->hnext;
			free(e);
		}
	}
	while (b->cache) {
		struct cached *c = b->cache;

		b->cache = c->next;
		cached_free(c);
	}
	free(b->buckets);
	free(b->workers);
	pthread_cond_destroy(&b->work);
	pthread_cond_destroy(&b->idle);
	pthread_mutex_destroy(&b->lock);
	pthread_mutex_destroy(&b->cache_lock);
	free(b);
}

static int init(struct backup *b, const struct backup_options *o)
{
	pthread_condattr_t ca;
	uint32_t n = o->uploads ? o->uploads : 1;

	b->o = *o;
	b->nthreads = n;
	b->nbuckets = 1024;
	b->buckets = calloc(b->nbuckets, sizeof(*b->buckets));
	b->workers = calloc(n, sizeof(*b->workers));
	b->rng = (uint64_t)real_ns() ^ (uintptr_t)b;
	pthread_mutex_init(&b->lock, NULL);
	pthread_mutex_init(&b->cache_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->work, &ca);
	pthread_cond_init(&b->idle, &ca);
	pthread_condattr_destroy(&ca);
	return b->buckets && b->workers ? 0 : -ENOMEM;
}

int backup_start(struct store *store, struct cloud_target *target,
		 const struct backup_options *o, struct backup **out)
{
	struct backup_options defaults;
	struct backup *b;
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
	pthread_mutex_unlock(&b->lock);
	if (rc) {
		log_error("cannot list the documents pending upload: %s",
			  strerror(-rc));
		store_set_change_hook(store, NULL, NULL);
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

static bool all_done(struct backup *b)
{
	return b->nentries == 0 && b->inflight == 0 && !b->tomb_pass &&
	       !b->tomb_running;
}

int backup_flush(struct backup *b, uint32_t timeout_ms)
{
	struct timespec until =
		mono_at(mono_ns() + (int64_t)timeout_ms * 1000000);
	int rc = 0;

	pthread_mutex_lock(&b->lock);
	b->flushing++;
	pthread_cond_broadcast(&b->work);
	while (!all_done(b) && !b->stopping) {
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
	pthread_mutex_lock(&b->lock);
	b->stopping = true;
	left = b->nentries;
	pthread_cond_broadcast(&b->work);
	pthread_cond_broadcast(&b->idle);
	pthread_mutex_unlock(&b->lock);
	cloud_target_interrupt(b->target);
	for (uint32_t i = 0; i < b->nthreads; i++)
		pthread_join(b->workers[i].thread, NULL);
	if (left)
		log_info("backup stopped with %zu documents pending", left);
	free_all(b);
}

/* ---- restore ---- */

static int restore_import(struct backup *b, const char *space, const char *key,
			  const char *name, uint64_t *id);

int backup_restore_doc(struct backup *b, const char *space, const char *key,
		       uint64_t *id)
{
	char name[2 * CLOUD_ENC_MAX];
	struct restoring me;
	uint64_t sid;
	int rc;

	if (!store_space_lookup(b->store, space, &sid) &&
	    !store_doc_lookup(b->store, sid, key, id))
		return 0;
	if (store_tombstoned(b->store, space, key))
		return -ENOENT;
	log_name(space, key, name);
	me.space = space;
	me.key = key;
	pthread_mutex_lock(&b->lock);
	me.next = b->restoring;
	b->restoring = &me;
	pthread_mutex_unlock(&b->lock);
	rc = restore_import(b, space, key, name, id);
	pthread_mutex_lock(&b->lock);
	for (struct restoring **p = &b->restoring; *p; p = &(*p)->next) {
		if (*p == &me) {
			*p = me.next;
			break;
		}
	}
	if (!rc) {
		struct entry *e = table_get(b, *id);

		/* The import queued it: no upload unless it changes. */
		if (e)
			e->skip_if_clean = true;
		b->st.restores++;
	} else if (rc != -ENOENT) {
		b->st.restore_failures++;
	}
	pthread_mutex_unlock(&b->lock);
	return rc;
}

/* Fetch, verify, import.  0, -ENOENT, or the restore's errno. */
static int restore_import(struct backup *b, const char *space, const char *key,
			  const char *name, uint64_t *id)
{
	struct store_import_entry *ents = NULL;
	struct store_meta m;
	struct archive a;
	uint64_t sid, seq = 0;
	void *buf = NULL;
	size_t len = 0;
	int rc;

	rc = cloud_target_get(b->target, space, key, &buf, &len, &seq);
	if (rc == -ENOENT || rc == -EINVAL)
		return -ENOENT;
	if (rc)
		goto out_failed;
	rc = archive_decode(buf, len, &a);
	if (!rc && (strcmp(a.space, space) || strcmp(a.key, key) ||
		    a.seq != seq || a.n > a.seq)) {
		archive_release(&a);
		rc = -EBADMSG;
	}
	if (rc) {
		log_error("cannot restore '%s': corrupt archive (%s), not "
			  "imported",
			  name, strerror(-rc));
		rc = -EIO;
		goto out_failed;
	}
	ents = calloc(a.n ? a.n : 1, sizeof(*ents));
	if (!ents) {
		archive_release(&a);
		rc = -ENOMEM;
		goto out_failed;
	}
	for (size_t i = 0; i < a.n; i++) {
		ents[i].buf = a.entries[i].buf;
		ents[i].len = a.entries[i].len;
	}
	memset(&m, 0, sizeof(m));
	m.mode = a.meta.mode;
	m.uid = a.meta.uid;
	m.gid = a.meta.gid;
	m.mtime_ns = a.meta.mtime_ns;
	m.ctime_ns = a.meta.ctime_ns;
	rc = store_import(b->store, space, key, &m, ents, a.n, a.seq, id, NULL);
	archive_release(&a);
	free(ents);
	if (rc == -EEXIST && !store_space_lookup(b->store, space, &sid) &&
	    !store_doc_lookup(b->store, sid, key, id)) {
		rc = 0; /* restored by someone else meanwhile */
	} else if (!rc) {
		log_info("restored '%s' (seq %" PRIu64 ") from the cloud", name,
			 seq);
	} else {
		log_error("cannot restore '%s': %s", name, strerror(-rc));
		goto out_failed;
	}
	free(buf);
	return 0;
out_failed:
	free(buf);
	if (rc != -ENOSPC && rc != -EFBIG && rc != -ENOMEM)
		rc = -EIO;
	return rc;
}

void backup_stats(struct backup *b, struct backup_stats *out)
{
	pthread_mutex_lock(&b->lock);
	*out = b->st;
	out->queue = b->nentries;
	pthread_mutex_unlock(&b->lock);
}
