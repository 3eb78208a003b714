/*
 * follow.c - a read-only follower of a store through its cloud target
 * (see follow.h; the protocol in docs/cloud.md, "Followers").
 *
 * Position file (options.state_path): six lines of text, the format in
 * follow_state.c; anything else is no position (a rebuild).  "empty":
 * nothing applied yet (an empty history).  "applying": a batch after the
 * position, or a rebuild, was being applied when the file was written.
 *
 * Durability ordering of one round (follow_poll):
 *   1. before the first batch (or rebuild) of the round touches the
 *      store, the file says "applying" at the position before it
 *      (mark_applying: written to a temporary, fsynced, renamed,
 *      directory fsynced);
 *   2. each batch is applied to the store (under options.lock), the
 *      store synced (store_sync of its last frame) and the new position
 *      published, batch after batch;
 *   3. at the end of the round the file says "clean" at the last
 *      position (mark_clean).
 * A crash between 1 and 3 leaves "applying": the next start rebuilds the
 * namespace at (gen, batch + 1) of the file's position from the target
 * (pitr_build by position, which replaces the whole namespace, so later
 * batches of the round applied or half-applied do not matter) before the
 * follower is ready, so a half-applied batch is never served.  One mark
 * per round, not per batch: a round that finds several batches pays the
 * two fsyncs of the file once (bench/README.md, "bench_follow").  A
 * batch's records all set a name to a state or delete it, so applying
 * one twice is harmless.
 *
 * Rounds (follow_poll):
 *   - not ready (no position, "applying", unreadable file): rebuild at
 *     the latest state (from the newest snapshot's index, rebuild_lazy,
 *     or pitr_build of everything when it has none), falling back to the
 *     newest complete snapshot;
 *   - else GET the next batch (gen, batch + 1) until it is absent;
 *   - when absent, every list_every rounds (or at once after a damaged
 *     or missing object) list the reserved space: a batch of a newer
 *     generation with the current one ended goes on at (gen', 0), the
 *     smallest newer generation; a gap (a batch after the next one in
 *     the same generation, or a newer generation not starting at 0)
 *     means the next batch is missing.
 *   - missing or damaged: a log line (once per object), then a rebuild
 *     at the newest complete base snapshot past the position (the whole
 *     namespace replaced under the lock), or, with none, the position is
 *     kept and the round ends.
 *
 * Checks of a batch before any record is applied: it decodes
 * (feed_decode, fuzzed), is a batch with the generation and number of its
 * name, carries the identity of the batch before it in the same
 * generation, and every record has names outside the reserved prefix, a
 * seq within STORE_SEQ_MAX and a body that passes doc_entries_check as a
 * snapshot entry.  Anything else is a damaged batch.
 *
 * Invariants:
 *   1. Between options.lock and options.unlock the store moves from the
 *      namespace at one position to the namespace at a later one; outside
 *      them it holds the namespace at f->pos exactly (when ready).
 *   2. f->pos only moves forward, except a rebuild at a snapshot when the
 *      next batch is missing (which only moves it forward too: the
 *      snapshot must be past it).
 *   3. Nothing is written to the target.
 *
 * Locks: f->mu guards the status fields (pos, counters, lag, error,
 * ready) for follow_status; the apply path is single-threaded (the
 * poll thread) and takes f->mu only to publish.  f->refill_mu guards the
 * index held for first reads (f->ix) and the snapshot part kept
 * (f->part); the poll thread replaces f->ix under it (and under
 * options.lock); lock order refill_mu, then mu.
 */
#include "config.h"

#include "cloud/follow.h"

#include "cloud/pitr.h"
#include "cloud/verify.h"
#include "store/doc.h"
#include "store/evict.h"
#include "util/clock.h"
#include "util/grow.h"
#include "util/io.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Rounds a batch may fail to read or decode before it is damaged. */
#define READ_TRIES 3

struct follow {
	struct cloud_target *t;
	struct store *s;
	struct follow_options o;
	char *state_path;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	bool started;
	_Atomic bool stopping;
	/* poll thread only */
	bool need_rebuild; /* at start: no usable position */
	bool marked; /* the position file says "applying" (mark_applying) */
	uint8_t id[FEED_ID_LEN]; /* writer of the batch at pos */
	bool have_id;
	uint32_t idle; /* rounds since the last listing */
	char bad_key[FEED_KEY_MAX]; /* last object logged as bad */
	char retry_key[FEED_KEY_MAX]; /* last object that did not read */
	uint32_t retries; /* ... rounds in a row */
	char fail_key[FEED_KEY_MAX]; /* batch whose GET failed last round */
	uint64_t fail_rounds; /* ... rounds in a row */
	/* refills (follow_refill) and the index they use: under refill_mu;
	 * the poll thread replaces ix under it too */
	pthread_mutex_t refill_mu;
	struct pitr_index ix; /* the base snapshot index of evicted docs */
	bool have_ix;
	struct {
		bool have;
		uint64_t gen, batch;
		uint32_t part;
		void *buf;
		struct feed_object o;
	} part; /* the last snapshot part read by a refill */
	/* under mu */
	struct follow_pos pos;
	bool ready;
	int error;
	int64_t behind_since_ns; /* 0: caught up */
	uint64_t batches, records, fallbacks, damaged, read_errors;
	uint64_t start_bytes, lazy_docs, refills, refill_bytes;
	bool lazy;
};

void follow_options_default(struct follow_options *o)
{
	memset(o, 0, sizeof(*o));
	o->poll_ms = 1000;
	o->list_every = 10;
	o->max_doc_bytes = 16u << 20;
	o->max_patch_bytes = 16u << 20;
}

static int64_t now_ns(struct follow *f)
{
	struct timespec ts;

	if (f->o.clock_ns)
		return f->o.clock_ns(f->o.clock_arg);
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void follow_pos_format(const struct follow_pos *p, char out[40])
{
	if (!p->any)
		snprintf(out, 40, "none");
	else
		snprintf(out, 40, "%016" PRIx64 "-%016" PRIx64, p->gen,
			 p->batch);
}

/* ---- the position file (format: follow_state.c) ---- */

static int state_save(struct follow *f, const struct follow_pos *p,
		      const uint8_t id[FEED_ID_LEN], bool applying)
{
	char buf[FOLLOW_STATE_MAX], tmp[4096], dir[4096], *slash;
	size_t n = follow_state_encode(p, id, applying, buf);
	int fd, rc;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", f->state_path) >=
		    (int)sizeof(tmp) ||
	    snprintf(dir, sizeof(dir), "%s", f->state_path) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	fd = io_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return fd;
	rc = io_pwrite_all(fd, buf, n, 0);
	if (!rc)
		rc = io_fsync(fd);
	io_close(fd);
	if (!rc)
		rc = io_rename(tmp, f->state_path);
	if (rc) {
		io_unlink(tmp);
		return rc;
	}
	slash = strrchr(dir, '/');
	if (slash && slash != dir)
		*slash = 0;
	else
		snprintf(dir, sizeof(dir), "%s", slash ? "/" : ".");
	return io_fsync_dir(dir);
}

/* The file says "applying" (at the position before the first batch of
 * this round) from before the store is touched until mark_clean: a
 * crash in between rebuilds at the batch after the file's position,
 * which replaces the whole namespace (whatever later batches of the
 * round were applied), so one mark covers every batch of a round. */
static int mark_applying(struct follow *f)
{
	int rc;

	if (f->marked)
		return 0;
	rc = state_save(f, &f->pos, f->id, true);
	if (!rc)
		f->marked = true;
	return rc;
}

/* The file says "clean" at the position (once per round). */
static int mark_clean(struct follow *f)
{
	int rc;

	if (!f->marked)
		return 0;
	rc = state_save(f, &f->pos, f->id, false);
	if (!rc)
		f->marked = false;
	return rc;
}

static void state_load(struct follow *f)
{
	char buf[FOLLOW_STATE_MAX];
	bool applying = false;
	ssize_t n;
	int fd = io_open(f->state_path, O_RDONLY | O_CLOEXEC, 0);

	f->need_rebuild = true;
	if (fd < 0) {
		if (fd != -ENOENT)
			log_warn("cannot read follower position '%s': %s: the "
				 "namespace is rebuilt from the cloud",
				 f->state_path, strerror(-fd));
		return;
	}
	n = io_pread(fd, buf, sizeof(buf) - 1, 0);
	io_close(fd);
	if (n < 0 || (size_t)n >= sizeof(buf) - 1) {
		log_warn("follower position '%s' is unreadable: the namespace "
			 "is rebuilt from the cloud",
			 f->state_path);
		return;
	}
	if (follow_state_parse(buf, (size_t)n, &f->pos, f->id, &applying)) {
		memset(&f->pos, 0, sizeof(f->pos));
		log_warn("follower position '%s' is malformed: the namespace "
			 "is rebuilt from the cloud",
			 f->state_path);
		return;
	}
	for (size_t i = 0; i < FEED_ID_LEN; i++)
		if (f->id[i])
			f->have_id = true; /* all zero: not known */
	if (applying) {
		log_info("the follower stopped while applying the feed batch "
			 "after %016" PRIx64 "-%016" PRIx64
			 ": it is rebuilt before anything is shown",
			 f->pos.gen, f->pos.batch);
		return;
	}
	f->need_rebuild = false;
	f->ready = true;
}

/* ---- records: checked, then applied ---- */

struct prepared {
	const struct feed_record *r;
	void *entry; /* 'S' + JSON (DOC) */
	size_t len;
};

/* Check r and make its entry: 0, or -EBADMSG with *why. */
static int prepare_one(struct follow *f, const struct feed_record *r,
		       struct prepared *p, const char **why)
{
	struct doc_options dopt;
	struct store_import_entry e;
	size_t n = r->body_len;
	char *entry;
	int rc;

	memset(p, 0, sizeof(*p));
	p->r = r;
	if (cloud_name_reserved(r->space) || cloud_name_reserved(r->key)) {
		*why = "a reserved name";
		return -EBADMSG;
	}
	if (r->kind != FEED_REC_DOC)
		return 0;
	if (r->seq > STORE_SEQ_MAX) {
		*why = "a seq out of range";
		return -EBADMSG;
	}
	while (n && (r->body[n - 1] == '\n' || r->body[n - 1] == ' '))
		n--;
	if (n == 0) {
		*why = "an empty body";
		return -EBADMSG;
	}
	entry = malloc(n + 1);
	if (!entry)
		return -ENOMEM;
	entry[0] = DOC_SNAPSHOT;
	memcpy(entry + 1, r->body, n);
	e.buf = entry;
	e.len = n + 1;
	doc_options_default(&dopt);
	dopt.max_doc_bytes = f->o.max_doc_bytes;
	dopt.max_patch_bytes = f->o.max_patch_bytes;
	rc = doc_entries_check(&dopt, &e, 1);
	if (rc) {
		free(entry);
		*why = "a body that is no valid document";
		return rc == -ENOMEM ? rc : -EBADMSG;
	}
	p->entry = entry;
	p->len = n + 1;
	return 0;
}

static bool meta_same(const struct store_meta *a, const struct store_meta *b)
{
	return a->mode == b->mode && a->uid == b->uid && a->gid == b->gid &&
	       a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

/* Set (space, key) to the state of p (or delete it).  *lsn: the largest
 * frame written. */
static int apply_one(struct follow *f, const struct prepared *p, uint64_t *lsn)
{
	const struct feed_record *r = p->r;
	struct store_import_entry e = { p->entry, p->len };
	struct store_doc_info info;
	struct store_meta m;
	uint64_t sid, id, l = 0;
	bool have = false;
	int rc;

	rc = store_space_lookup(f->s, r->space, &sid);
	if (!rc)
		rc = store_doc_lookup(f->s, sid, r->key, &id);
	if (!rc)
		rc = store_doc_info(f->s, id, &info);
	if (rc && rc != -ENOENT)
		return rc;
	have = rc == 0;
	if (r->kind == FEED_REC_DEL) {
		if (!have)
			return 0;
		rc = store_doc_delete(f->s, id, &l);
		if (!rc && store_space_remove(f->s, r->space, &l) == 0)
			log_debug("follower: space '%s' is empty: removed",
				  r->space);
		goto out;
	}
	m.mode = cloud_mode_sanitize(r->mode);
	m.uid = r->uid;
	m.gid = r->gid;
	m.mtime_ns = r->mtime_ns;
	m.ctime_ns = r->ctime_ns;
	if (have && info.seq == r->seq && meta_same(&info.meta, &m)) {
		/* this state already (a batch applied again); an evicted
		 * document takes the body in hand as its content */
		if (!info.evicted)
			return 0;
		rc = store_doc_refill(f->s, id, r->seq, p->entry, p->len, &l);
		if (rc == -EAGAIN)
			rc = 0;
		goto out;
	}
	if (have) {
		rc = store_doc_delete(f->s, id, &l);
		if (rc)
			return rc;
	}
	rc = store_import(f->s, r->space, r->key, &m, &e, r->seq ? 1 : 0,
			  r->seq, &id, &l);
out:
	if (l > *lsn)
		*lsn = l;
	return rc;
}

static void prepared_free(struct prepared *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i].entry);
	free(v);
}

static void lock(struct follow *f)
{
	if (f->o.lock)
		f->o.lock(f->o.lock_arg);
}

static void unlock(struct follow *f)
{
	if (f->o.unlock)
		f->o.unlock(f->o.lock_arg);
}

/* A store error while applying: sticky, the follower stops serving. */
static int fail(struct follow *f, int rc)
{
	log_error("follower cannot apply the feed to its store: %s: it "
		  "shows nothing more until it is restarted",
		  strerror(-rc));
	pthread_mutex_lock(&f->mu);
	f->error = rc;
	f->ready = false;
	pthread_mutex_unlock(&f->mu);
	return rc;
}

static void publish(struct follow *f, const struct follow_pos *p,
		    uint64_t records, bool batch)
{
	pthread_mutex_lock(&f->mu);
	f->pos = *p;
	f->ready = true;
	f->records += records;
	if (batch)
		f->batches++;
	pthread_mutex_unlock(&f->mu);
}

/* ---- one batch ---- */

static void log_bad(struct follow *f, const char *key, const char *what)
{
	if (!strcmp(f->bad_key, key))
		return; /* said already */
	snprintf(f->bad_key, sizeof(f->bad_key), "%s", key);
	pthread_mutex_lock(&f->mu);
	f->damaged++;
	pthread_mutex_unlock(&f->mu);
	log_error("follower of '%s': feed batch '%s' %s",
		  cloud_target_url(f->t), key, what);
}

/* A batch that cannot be read or does not decode may be an object read
 * while the server still wrote it (s3rver serves that now and then): it
 * is damaged only when it fails READ_TRIES rounds in a row; before that
 * -EAGAIN (the round ends, the next one reads it again). */
static int unreadable(struct follow *f, const char *key, const char *what)
{
	if (strcmp(f->retry_key, key)) {
		snprintf(f->retry_key, sizeof(f->retry_key), "%s", key);
		f->retries = 0;
	}
	if (++f->retries < READ_TRIES)
		return -EAGAIN;
	log_bad(f, key, what);
	return -EBADMSG;
}

/* GET feed batch key, saying a failure once per batch: the target logs
 * the first failed round of a key (with its detail) and the follower
 * adds one line; the rounds after it that fail the same way are quiet
 * (log_thread_demote) but counted (read_errors); the first round that
 * reads it (or finds it absent) says so once.  Returns the target's. */
static int get_batch(struct follow *f, const char *key, void **buf, size_t *len,
		     uint64_t *seq)
{
	bool again = !strcmp(f->fail_key, key);
	int rc;

	if (!again && f->fail_key[0]) {
		log_info("follower of '%s': feed batch '%s' is not read any "
			 "more (after %" PRIu64 " failed rounds): the position "
			 "moved past it",
			 cloud_target_url(f->t), f->fail_key, f->fail_rounds);
		f->fail_key[0] = 0;
	}
	if (again)
		log_thread_demote(true);
	rc = cloud_target_get(f->t, PITR_SPACE, key, buf, len, seq);
	if (again)
		log_thread_demote(false);
	if (rc == -ECANCELED || rc == -ENOMEM)
		return rc; /* stopping, or this machine: not the object */
	if (rc && rc != -ENOENT) {
		pthread_mutex_lock(&f->mu);
		f->read_errors++;
		pthread_mutex_unlock(&f->mu);
		if (!again) {
			snprintf(f->fail_key, sizeof(f->fail_key), "%s", key);
			f->fail_rounds = 0;
			if (rc != -EBADMSG && rc != -EFBIG)
				log_warn("follower of '%s': cannot read feed "
					 "batch '%s': %s: retried every poll, "
					 "said again only once it reads",
					 cloud_target_url(f->t), key,
					 strerror(-rc));
		}
		f->fail_rounds++;
		return rc;
	}
	if (again) {
		log_info("follower of '%s': feed batch '%s' reads again after "
			 "%" PRIu64 " failed rounds",
			 cloud_target_url(f->t), key, f->fail_rounds);
		f->fail_key[0] = 0;
		f->fail_rounds = 0;
	}
	return rc;
}

/* Fetch, check and apply batch (gen, batch).  0 applied; -ENOENT absent;
 * -EAGAIN unreadable for now; -EBADMSG damaged (logged); else the
 * target's error or a store error (sticky). */
static int apply_batch(struct follow *f, uint64_t gen, uint64_t batch)
{
	char key[FEED_KEY_MAX];
	struct feed_object o;
	struct prepared *pv = NULL;
	struct follow_pos np;
	const char *why = "holds an invalid record";
	void *buf = NULL;
	size_t len = 0;
	uint64_t seq, lsn = 0;
	int rc;

	feed_key_batch(key, gen, batch);
	rc = get_batch(f, key, &buf, &len, &seq);
	if (rc == -EBADMSG)
		return unreadable(f, key, "cannot be read: refused");
	if (rc == -EFBIG) {
		log_bad(f, key, "is too large: refused");
		return -EBADMSG;
	}
	if (rc)
		return rc;
	rc = feed_decode(buf, len, &o);
	if (rc) {
		free(buf);
		if (rc == -ENOMEM)
			return rc;
		return unreadable(f, key, "is corrupt: refused");
	}
	if (o.kind != FEED_BATCH || o.gen != gen || o.batch != batch ||
	    (f->pos.any && f->have_id && f->pos.gen == gen &&
	     memcmp(o.id, f->id, FEED_ID_LEN))) {
		log_bad(f, key,
			"is not what its name says (or was written by another "
			"store than its generation): refused");
		rc = -EBADMSG;
		goto out;
	}
	pv = calloc(o.n, sizeof(*pv));
	if (!pv) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < o.n && !rc; i++)
		rc = prepare_one(f, &o.rec[i], &pv[i], &why);
	if (rc) {
		if (rc != -ENOMEM)
			log_bad(f, key, why);
		goto out;
	}
	np.any = true;
	np.gen = gen;
	np.batch = batch;
	np.time_ns = o.last_ns;
	rc = mark_applying(f);
	if (rc) {
		rc = fail(f, rc);
		goto out;
	}
	lock(f);
	for (size_t i = 0; i < o.n && !rc; i++)
		rc = apply_one(f, &pv[i], &lsn);
	if (!rc && lsn)
		rc = store_sync(f->s, lsn);
	if (!rc)
		publish(f, &np, o.n, true);
	unlock(f);
	if (rc) {
		rc = fail(f, rc);
		goto out;
	}
	memcpy(f->id, o.id, FEED_ID_LEN);
	f->have_id = true;
	f->bad_key[0] = 0;
out:
	prepared_free(pv, o.n);
	feed_release(&o);
	free(buf);
	return rc;
}

/* ---- rebuilding the whole namespace ---- */

struct name {
	char space[STORE_NAME_MAX + 1], key[STORE_NAME_MAX + 1];
};

struct names {
	struct name *v;
	size_t n, cap;
	struct store *s;
	const char *space;
	int err;
};

static int names_add(struct names *l, const char *space, const char *key)
{
	if (l->n == l->cap) {
		struct name *nv =
			grow_array(l->v, &l->cap, l->n + 1, 64, sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		l->v = nv;
	}
	snprintf(l->v[l->n].space, sizeof(l->v[l->n].space), "%s", space);
	snprintf(l->v[l->n].key, sizeof(l->v[l->n].key), "%s", key);
	l->n++;
	return 0;
}

static int one_doc(void *arg, uint64_t id, const char *name)
{
	struct names *l = arg;

	(void)id;
	return names_add(l, l->space, name);
}

static int one_space(void *arg, uint64_t id, const char *name)
{
	struct names *l = arg;

	(void)id;
	return names_add(l, name, "");
}

/* Every local name: spaces (key "") and documents. */
static int local_names(struct store *s, struct names *docs)
{
	struct names sp;
	int rc;

	memset(&sp, 0, sizeof(sp));
	memset(docs, 0, sizeof(*docs));
	rc = store_space_list(s, 0, one_space, &sp);
	for (size_t i = 0; i < sp.n && !rc; i++) {
		uint64_t sid;

		rc = store_space_lookup(s, sp.v[i].space, &sid);
		if (rc == -ENOENT) {
			rc = 0;
			continue;
		}
		if (!rc)
			rc = names_add(docs, sp.v[i].space, "");
		docs->space = sp.v[i].space;
		if (!rc)
			rc = store_doc_list(s, sid, 0, one_doc, docs);
	}
	free(sp.v);
	if (rc) {
		free(docs->v);
		memset(docs, 0, sizeof(*docs));
	}
	return rc;
}

/* Delete the local documents that wanted() does not keep; *lsn follows
 * the newest change. */
static int drop_unwanted(struct follow *f, const struct names *local,
			 bool (*wanted)(void *arg, const char *space,
					const char *key),
			 void *arg, uint64_t *lsn)
{
	int rc = 0;

	for (size_t i = 0; i < local->n && !rc; i++) {
		const struct name *nm = &local->v[i];
		uint64_t sid, id, l = 0;

		if (!nm->key[0] || wanted(arg, nm->space, nm->key))
			continue;
		rc = store_space_lookup(f->s, nm->space, &sid);
		if (!rc)
			rc = store_doc_lookup(f->s, sid, nm->key, &id);
		if (!rc)
			rc = store_doc_delete(f->s, id, &l);
		if (rc == -ENOENT)
			rc = 0;
		if (l > *lsn)
			*lsn = l;
	}
	return rc;
}

struct rebuild {
	struct follow *f;
	struct prepared *pv;
	size_t n;
	const char *why;
	uint64_t lsn;
};

static int prepare_each(void *arg, const struct feed_record *r)
{
	struct rebuild *rb = arg;

	return prepare_one(rb->f, r, &rb->pv[rb->n++], &rb->why);
}

/* Apply the prepared states, remove the spaces the state left empty,
 * and make it durable. */
static int rebuild_apply(struct follow *f, struct rebuild *rb,
			 const struct names *local)
{
	int rc = 0;

	for (size_t i = 0; i < rb->n && !rc; i++)
		rc = apply_one(f, &rb->pv[i], &rb->lsn);
	for (size_t i = 0; i < local->n && !rc; i++) {
		uint64_t l = 0;

		if (local->v[i].key[0])
			continue;
		if (store_space_remove(f->s, local->v[i].space, &l) == 0 &&
		    l > rb->lsn)
			rb->lsn = l;
	}
	if (!rc && rb->lsn)
		rc = store_sync(f->s, rb->lsn);
	return rc;
}

static bool in_state(void *arg, const char *space, const char *key)
{
	return pitr_find(arg, space, key) != NULL;
}

/* After a rebuild: the identity of the writer of the batch at p (the
 * next batch of its generation must carry it), when that batch is still
 * there; else none is known (all zero). */
static void learn_id(struct follow *f, const struct follow_pos *p)
{
	char key[FEED_KEY_MAX];
	struct feed_object o;
	void *buf = NULL;
	size_t len = 0;
	uint64_t seq;

	f->have_id = false;
	memset(f->id, 0, sizeof(f->id));
	if (!p->any)
		return;
	feed_key_batch(key, p->gen, p->batch);
	if (cloud_target_get(f->t, PITR_SPACE, key, &buf, &len, &seq))
		return;
	if (!feed_decode(buf, len, &o)) {
		if (o.kind == FEED_BATCH && o.gen == p->gen &&
		    o.batch == p->batch) {
			memcpy(f->id, o.id, FEED_ID_LEN);
			f->have_id = true;
		}
		feed_release(&o);
	}
	free(buf);
}

/* Replace the namespace by st (checked first) and move to its position. */
static int replace_all(struct follow *f, struct pitr_state *st,
		       const struct pitr_info *info)
{
	struct rebuild rb = { f, NULL, 0, "holds an invalid record", 0 };
	struct follow_pos np;
	struct names local;
	int rc;

	rb.pv = calloc(pitr_count(st) + 1, sizeof(*rb.pv));
	if (!rb.pv)
		return -ENOMEM;
	rc = pitr_each(st, prepare_each, &rb);
	if (rc) {
		if (rc != -ENOMEM)
			log_error("follower of '%s': the history %s: refused",
				  cloud_target_url(f->t), rb.why);
		prepared_free(rb.pv, rb.n);
		return rc == -ENOMEM ? rc : -EBADMSG;
	}
	memset(&np, 0, sizeof(np));
	np.any = info->any;
	np.gen = info->gen;
	np.batch = info->batch;
	np.time_ns = info->time_ns;
	rc = mark_applying(f);
	if (rc)
		goto out_fail;
	lock(f);
	rc = local_names(f->s, &local);
	/* documents the state lacks first, then spaces left empty */
	if (!rc)
		rc = drop_unwanted(f, &local, in_state, st, &rb.lsn);
	if (!rc)
		rc = rebuild_apply(f, &rb, &local);
	free(local.v);
	if (!rc) {
		pthread_mutex_lock(&f->mu);
		f->fallbacks++;
		pthread_mutex_unlock(&f->mu);
		publish(f, &np, rb.n, false);
	}
	unlock(f);
	if (rc)
		goto out_fail;
	learn_id(f, &np);
	f->bad_key[0] = 0;
	rc = mark_clean(f);
	if (rc)
		goto out_fail;
	prepared_free(rb.pv, rb.n);
	return 0;
out_fail:
	prepared_free(rb.pv, rb.n);
	return fail(f, rc);
}

static int rebuild_lazy(struct follow *f, const struct pitr_limit *lim);

/* Rebuild at lim (NULL: the latest state): from the base snapshot's
 * index when it has a usable one (rebuild_lazy), else every body. */
static int rebuild(struct follow *f, const struct pitr_limit *lim)
{
	struct pitr_limit all = { INT64_MAX, false, 0, 0, NULL, NULL };
	struct pitr_state *st = NULL;
	struct pitr_info info;
	int rc;

	size_t n;

	rc = rebuild_lazy(f, lim ? lim : &all);
	if (rc != -ENOTSUP)
		return rc;
	rc = pitr_build(f->t, lim ? lim : &all, &st, &info);
	if (rc)
		return rc == -ERANGE || rc == -EIO ? -EBADMSG : rc;
	n = pitr_count(st);
	rc = replace_all(f, st, &info);
	pitr_free(st);
	if (!rc) {
		char p[40];

		pthread_mutex_lock(&f->mu);
		f->start_bytes = info.bytes;
		f->lazy_docs = 0;
		f->lazy = false;
		pthread_mutex_unlock(&f->mu);
		follow_pos_format(&f->pos, p);
		log_info("follower of '%s' rebuilt its namespace at feed "
			 "position %s (%zu documents)",
			 cloud_target_url(f->t), p, n);
	}
	return rc;
}

/* ---- a lazy rebuild: from a base snapshot's index ----
 *
 * The namespace at lim is the snapshot's (its index: names, seqs,
 * metadata, sizes; no bodies) changed by the feed after it (read whole,
 * as pitr_build reads it).  Under the lock, like replace_all: every local
 * document the namespace lacks is deleted; each name the feed after the
 * snapshot sets or deletes is applied as a batch record; every other
 * name of the index is a document created evicted
 * (store_doc_create_evicted) at the index's seq, metadata and size,
 * unless the store holds that state already; spaces left empty go.  The
 * bodies are read on first access (follow_refill).  -ENOTSUP (logged
 * when there was an index): no usable index, the caller imports every
 * body as before. */

static int lazy_one(struct follow *f, const struct pitr_index_entry *e,
		    uint64_t *lsn)
{
	struct store_doc_info info;
	struct store_meta m;
	uint64_t sid, id, l = 0;
	int rc;

	m.mode = cloud_mode_sanitize(e->mode);
	m.uid = e->uid;
	m.gid = e->gid;
	m.mtime_ns = e->mtime_ns;
	m.ctime_ns = e->ctime_ns;
	rc = store_space_lookup(f->s, e->space, &sid);
	if (!rc)
		rc = store_doc_lookup(f->s, sid, e->key, &id);
	if (!rc)
		rc = store_doc_info(f->s, id, &info);
	if (rc && rc != -ENOENT)
		return rc;
	if (!rc) {
		if (info.seq == e->seq && meta_same(&info.meta, &m))
			return 0; /* this state already */
		rc = store_doc_delete(f->s, id, &l);
		if (rc)
			return rc;
	}
	rc = store_doc_create_evicted(f->s, e->space, e->key, &m, e->seq,
				      e->size, &id, &l);
	if (l > *lsn)
		*lsn = l;
	return rc;
}

static void part_drop(struct follow *f)
{
	if (!f->part.have)
		return;
	feed_release(&f->part.o);
	free(f->part.buf);
	memset(&f->part, 0, sizeof(f->part));
}

/* Is (space, key) in the namespace of the lazy rebuild? */
static bool lazy_wanted(const struct pitr_index *ix, struct pitr_state *tail,
			const char *space, const char *key)
{
	const struct feed_record *r = pitr_find(tail, space, key);

	if (r)
		return r->kind == FEED_REC_DOC;
	return pitr_index_find(ix, space, key) != NULL;
}

struct lazy_keep {
	const struct pitr_index *ix;
	struct pitr_state *tail;
};

static bool in_lazy(void *arg, const char *space, const char *key)
{
	const struct lazy_keep *k = arg;

	return lazy_wanted(k->ix, k->tail, space, key);
}

static int rebuild_lazy(struct follow *f, const struct pitr_limit *lim)
{
	struct lazy_keep lz;
	struct rebuild rb = { f, NULL, 0, "holds an invalid record", 0 };
	struct pitr_state *tail = NULL;
	struct pitr_base base;
	struct pitr_index ix;
	struct pitr_info info;
	struct follow_pos np;
	struct names local;
	uint64_t bytes = 0, made = 0;
	char p[40];
	int rc;

	memset(&ix, 0, sizeof(ix));
	rc = pitr_newest_base(f->t, lim->by_position, lim->gen, lim->batch,
			      &base);
	if (rc == -ENOENT)
		return -ENOTSUP; /* no snapshot: the feed from its start */
	if (rc)
		return rc;
	if (!base.indexed) {
		log_info("follower of '%s': base snapshot %016" PRIx64
			 "-%016" PRIx64 " has no index (an older writer): "
			 "its documents are imported whole",
			 cloud_target_url(f->t), base.gen, base.batch);
		return -ENOTSUP;
	}
	rc = pitr_index_get(f->t, base.gen, base.batch, &ix, &bytes);
	for (size_t i = 0; !rc && i < ix.n; i++)
		if (ix.e[i].size > f->o.max_doc_bytes + 1) {
			log_error("base snapshot index %016" PRIx64
				  "-%016" PRIx64 " in '%s' is refused: a "
				  "document larger than max_doc",
				  base.gen, base.batch, cloud_target_url(f->t));
			pitr_index_free(&ix);
			rc = -EBADMSG;
		}
	if (rc == -EBADMSG || rc == -ENOENT) {
		log_warn("follower of '%s': the index of base snapshot "
			 "%016" PRIx64 "-%016" PRIx64 " cannot be used: its "
			 "documents are imported whole",
			 cloud_target_url(f->t), base.gen, base.batch);
		return -ENOTSUP;
	}
	if (rc)
		return rc;
	rc = pitr_build_tail(f->t, base.gen, base.batch, ix.time_ns, lim, &tail,
			     &info);
	if (rc) {
		pitr_index_free(&ix);
		return rc == -ERANGE || rc == -EIO ? -EBADMSG : rc;
	}
	bytes += info.bytes;
	rb.pv = calloc(pitr_count(tail) + 1, sizeof(*rb.pv));
	if (!rb.pv) {
		rc = -ENOMEM;
		goto out;
	}
	rc = pitr_each(tail, prepare_each, &rb);
	if (rc) {
		if (rc != -ENOMEM)
			log_error("follower of '%s': the history %s: refused",
				  cloud_target_url(f->t), rb.why);
		rc = rc == -ENOMEM ? rc : -EBADMSG;
		goto out;
	}
	memset(&np, 0, sizeof(np));
	np.any = info.any;
	np.gen = info.gen;
	np.batch = info.batch;
	np.time_ns = info.time_ns;
	rc = mark_applying(f);
	if (rc)
		goto out_fail;
	lock(f);
	lz = (struct lazy_keep){ &ix, tail };
	rc = local_names(f->s, &local);
	if (!rc)
		rc = drop_unwanted(f, &local, in_lazy, &lz, &rb.lsn);
	for (size_t i = 0; i < ix.n && !rc; i++) {
		if (pitr_find(tail, ix.e[i].space, ix.e[i].key))
			continue; /* the feed after the snapshot decides */
		rc = lazy_one(f, &ix.e[i], &rb.lsn);
		made++;
	}
	if (!rc)
		rc = rebuild_apply(f, &rb, &local);
	free(local.v);
	if (!rc) {
		pthread_mutex_lock(&f->refill_mu);
		part_drop(f);
		pitr_index_free(&f->ix);
		f->ix = ix;
		f->have_ix = true;
		memset(&ix, 0, sizeof(ix));
		pthread_mutex_unlock(&f->refill_mu);
		pthread_mutex_lock(&f->mu);
		f->fallbacks++;
		f->start_bytes = bytes;
		f->lazy_docs = made;
		f->lazy = true;
		pthread_mutex_unlock(&f->mu);
		publish(f, &np, rb.n, false);
	}
	unlock(f);
	if (rc)
		goto out_fail;
	learn_id(f, &np);
	f->bad_key[0] = 0;
	rc = mark_clean(f);
	if (rc)
		goto out_fail;
	follow_pos_format(&np, p);
	log_info("follower of '%s' rebuilt its namespace at feed position %s "
		 "from the index of base snapshot %016" PRIx64 "-%016" PRIx64
		 " (%" PRIu64 " documents read on first access, %zu from the "
		 "feed after it; %" PRIu64 " bytes read)",
		 cloud_target_url(f->t), p, base.gen, base.batch, made, rb.n,
		 bytes);
	goto out;
out_fail:
	rc = fail(f, rc);
out:
	prepared_free(rb.pv, rb.n);
	pitr_free(tail);
	pitr_index_free(&ix);
	return rc;
}

/* ---- refilling an evicted document (follow_refill) ----
 *
 * An evicted document of a follower holds the state (seq, metadata,
 * size) of the namespace at its position; its body is that state's:
 *   1. the current object when its metadata seq is the document's and
 *      its SHA-256 the index entry's (with no index entry known: its
 *      seq, metadata and size are the document's);
 *   2. else the snapshot part the index names (its record of the name at
 *      that seq, whose body has the index's SHA-256).
 * Never a newer object: the follower shows no state mixed from two
 * positions.  The index entry is the one of the base snapshot the start
 * used (kept in memory), or, after a restart (or once that snapshot was
 * pruned), of the newest index holding the name at the document's seq
 * and metadata: any snapshot holding that state holds the same body
 * (checked against its entry's SHA-256).  The body is checked as any feed record (prepare_one). */

static bool entry_matches(const struct pitr_index_entry *e,
			  const struct store_doc_info *info)
{
	struct store_meta m = { cloud_mode_sanitize(e->mode), e->uid, e->gid,
				e->mtime_ns, e->ctime_ns };

	return e->seq == info->seq && meta_same(&m, &info->meta);
}

static void sha_hex(const uint8_t sha[32], char out[65])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", sha[i]);
}

/* The index entry for the document (copied into *e; its names are the
 * index's, f->ix): 0, or -ENOENT.  other: not in the index held (its
 * part is gone). */
static int refill_entry(struct follow *f, const char *space, const char *key,
			const struct store_doc_info *info, bool other,
			struct pitr_index_entry *e)
{
	struct pitr_base v[16];
	const struct pitr_index_entry *x;
	size_t n = 0;
	int rc;

	if (f->have_ix && !other) {
		x = pitr_index_find(&f->ix, space, key);
		if (x && entry_matches(x, info)) {
			*e = *x;
			return 0;
		}
	}
	/* any index holding the name at that seq and metadata: the state
	 * is the same (a later snapshot of a document unchanged since) */
	rc = pitr_indexes(f->t, UINT64_MAX, UINT64_MAX, v, 16, &n);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		struct pitr_index ix;

		if (f->have_ix && v[i].gen == f->ix.gen &&
		    v[i].batch == f->ix.batch)
			continue; /* looked at already */
		if (pitr_index_get(f->t, v[i].gen, v[i].batch, &ix, NULL))
			continue;
		x = pitr_index_find(&ix, space, key);
		if (x && entry_matches(x, info)) {
			*e = *x;
			part_drop(f);
			pitr_index_free(&f->ix);
			f->ix = ix;
			f->have_ix = true;
			return 0;
		}
		pitr_index_free(&ix);
	}
	return -ENOENT;
}

/* Body into a store entry (prepare_one): *entry owned by the caller. */
static int body_entry(struct follow *f, const char *space, const char *key,
		      uint64_t seq, const void *body, size_t len,
		      struct prepared *out)
{
	struct feed_record r;
	const char *why;

	memset(&r, 0, sizeof(r));
	r.kind = FEED_REC_DOC;
	snprintf(r.space, sizeof(r.space), "%s", space);
	snprintf(r.key, sizeof(r.key), "%s", key);
	r.seq = seq;
	r.body = body;
	r.body_len = len;
	return prepare_one(f, &r, out, &why);
}

/* 1. the current object, when it is the document's state. */
static int from_object(struct follow *f, const char *space, const char *key,
		       const struct store_doc_info *info,
		       const struct pitr_index_entry *e, struct prepared *out,
		       uint64_t *bytes)
{
	struct cloud_doc_meta meta;
	struct store_meta m;
	char sum[65], want[65];
	void *buf = NULL;
	size_t len = 0;
	int rc = cloud_target_get_doc(f->t, space, key, &buf, &len, &meta);

	if (rc)
		return rc == -ENOMEM ? rc : -ENOENT;
	*bytes += len;
	cloud_doc_checksum(buf, len, sum);
	m.mode = cloud_mode_sanitize(meta.mode);
	m.uid = meta.uid;
	m.gid = meta.gid;
	m.mtime_ns = meta.mtime_ns;
	m.ctime_ns = meta.ctime_ns;
	rc = -ENOENT;
	if (e)
		sha_hex(e->sha256, want);
	if (!meta.legacy && meta.seq == info->seq &&
	    !strcmp(sum, meta.sha256) &&
	    (e ? !strcmp(sum, want)
	       : meta_same(&m, &info->meta) && len == info->evicted_bytes))
		rc = body_entry(f, space, key, info->seq, buf, len, out);
	free(buf);
	return rc == -EBADMSG ? -ENOENT : rc;
}

/* The snapshot an index entry is of. */
struct ixsrc {
	uint64_t gen, batch;
	uint32_t parts;
};

/* 2. the snapshot part the index names (refill_mu held: the part kept). */
static int from_part(struct follow *f, const struct ixsrc *ix,
		     const struct pitr_index_entry *e, struct prepared *out,
		     uint64_t *bytes)
{
	char key[FEED_KEY_MAX], sum[65], want[65];
	const struct feed_record *r = NULL;
	int rc;

	if (!f->part.have || f->part.gen != ix->gen ||
	    f->part.batch != ix->batch || f->part.part != e->part) {
		void *buf = NULL;
		size_t len = 0;
		uint64_t seq;

		part_drop(f);
		feed_key_snap(key, ix->gen, ix->batch, e->part);
		rc = cloud_target_get(f->t, PITR_SPACE, key, &buf, &len, &seq);
		if (rc)
			return rc == -ENOMEM ? rc : -ENOENT;
		*bytes += len;
		rc = feed_decode(buf, len, &f->part.o);
		if (rc) {
			free(buf);
			return rc == -ENOMEM ? rc : -ENOENT;
		}
		f->part.buf = buf;
		f->part.have = true;
		f->part.gen = ix->gen;
		f->part.batch = ix->batch;
		f->part.part = e->part;
		if (f->part.o.kind != FEED_SNAP || f->part.o.gen != ix->gen ||
		    f->part.o.batch != ix->batch || f->part.o.part != e->part ||
		    f->part.o.parts != ix->parts) {
			part_drop(f);
			return -ENOENT;
		}
	}
	for (size_t i = 0; i < f->part.o.n && !r; i++)
		if (!strcmp(f->part.o.rec[i].space, e->space) &&
		    !strcmp(f->part.o.rec[i].key, e->key))
			r = &f->part.o.rec[i];
	if (!r || r->kind != FEED_REC_DOC || r->seq != e->seq)
		return -ENOENT;
	cloud_doc_checksum(r->body, r->body_len, sum);
	sha_hex(e->sha256, want);
	if (strcmp(sum, want))
		return -ENOENT;
	rc = body_entry(f, e->space, e->key, e->seq, r->body, r->body_len, out);
	return rc == -EBADMSG ? -ENOENT : rc;
}

/* The entry for the document (refill_entry under refill_mu), its names
 * the caller's and its snapshot in *ix, so it outlives f->ix. */
static int entry_copy(struct follow *f, const char *space, const char *key,
		      const struct store_doc_info *info, bool other,
		      struct pitr_index_entry *e, struct ixsrc *ix)
{
	int rc = refill_entry(f, space, key, info, other, e);

	if (rc)
		return rc;
	e->space = space;
	e->key = key;
	ix->gen = f->ix.gen;
	ix->batch = f->ix.batch;
	ix->parts = f->ix.parts;
	return 0;
}

/* refill_mu guards the index held and the part kept, not the GET of a
 * current object nor the refill itself (store_doc_refill: a document
 * refilled by two readers at once takes the first, -EAGAIN to the
 * other), so first reads of different documents overlap. */
int follow_refill(struct follow *f, uint64_t id)
{
	char space[STORE_NAME_MAX + 1], key[STORE_NAME_MAX + 1];
	struct store_doc_info info;
	struct pitr_index_entry e;
	struct ixsrc ix;
	struct prepared pr;
	uint64_t bytes = 0;
	bool have_e = false;
	int rc;

	memset(&pr, 0, sizeof(pr));
	rc = store_doc_info(f->s, id, &info);
	if (rc || info.is_space || !info.evicted)
		return 0; /* nothing to do (refilled meanwhile, or gone: the
			     caller's own lookup says so) */
	rc = store_node_name(f->s, id, space, key);
	if (rc)
		return 0;
	pthread_mutex_lock(&f->refill_mu);
	rc = entry_copy(f, space, key, &info, false, &e, &ix);
	pthread_mutex_unlock(&f->refill_mu);
	if (rc && rc != -ENOENT)
		goto out_log;
	have_e = rc == 0;
	rc = from_object(f, space, key, &info, have_e ? &e : NULL, &pr, &bytes);
	if (rc == -ENOENT && have_e) {
		pthread_mutex_lock(&f->refill_mu);
		rc = from_part(f, &ix, &e, &pr, &bytes);
		if (rc == -ENOENT) {
			/* its part is gone (pruned): a later snapshot of
			 * the same state, if any */
			rc = entry_copy(f, space, key, &info, true, &e, &ix);
			if (!rc)
				rc = from_part(f, &ix, &e, &pr, &bytes);
		}
		pthread_mutex_unlock(&f->refill_mu);
	}
	if (rc)
		goto out_log;
	rc = store_doc_refill(f->s, id, info.seq, pr.entry, pr.len, NULL);
	if (!rc || rc == -EAGAIN) {
		/* -EAGAIN: refilled by another reader meanwhile */
		pthread_mutex_lock(&f->mu);
		f->refills += !rc;
		f->refill_bytes += bytes;
		pthread_mutex_unlock(&f->mu);
		rc = 0;
		goto out;
	}
out_log:
	if (rc != -ENOMEM && rc != -ENOSPC) {
		log_error(
			"follower of '%s': cannot read '%s/%s' at seq %" PRIu64
			": %s",
			cloud_target_url(f->t), space, key, info.seq,
			rc == -ENOENT ? "the state it shows is in no "
					"object of the cloud any more "
					"(current object newer, snapshot "
					"part pruned or damaged)"
				      : strerror(-rc));
		rc = -EIO;
	}
	pthread_mutex_lock(&f->mu);
	f->refill_bytes += bytes;
	pthread_mutex_unlock(&f->mu);
out:
	free(pr.entry);
	return rc;
}

/* Every evicted document, read back (a takeover of the store). */
int follow_refill_all(struct follow *f, uint64_t *done, uint64_t *failed)
{
	struct names docs;
	int rc = local_names(f->s, &docs), first = 0;

	*done = *failed = 0;
	for (size_t i = 0; i < docs.n && !rc; i++) {
		struct store_doc_info info;
		uint64_t sid, id;

		if (!docs.v[i].key[0])
			continue;
		if (store_space_lookup(f->s, docs.v[i].space, &sid) ||
		    store_doc_lookup(f->s, sid, docs.v[i].key, &id) ||
		    store_doc_info(f->s, id, &info) || !info.evicted)
			continue;
		rc = follow_refill(f, id);
		if (rc == -EIO) {
			(*failed)++;
			if (!first)
				first = rc;
			rc = 0;
		} else if (!rc) {
			(*done)++;
		}
	}
	free(docs.v);
	return rc ? rc : first;
}

/* ---- listing: what the feed holds past the position ---- */

struct fpos {
	uint64_t gen, batch;
};

struct flist {
	struct fpos *b, *s; /* batches; snapshots (part 0) */
	size_t nb, cb, ns, cs;
};

static int fpush(struct fpos **v, size_t *n, size_t *cap, struct fpos p)
{
	if (*n == *cap) {
		struct fpos *nv = grow_array(*v, cap, *n + 1, 64, sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		*v = nv;
	}
	(*v)[(*n)++] = p;
	return 0;
}

static int flist_one(void *arg, const char *name)
{
	struct flist *l = arg;
	struct fpos p;
	uint32_t part;
	int kind = feed_key_parse(name, &p.gen, &p.batch, &part);

	if (kind == FEED_BATCH)
		return fpush(&l->b, &l->nb, &l->cb, p);
	if (kind == FEED_SNAP && part == 0)
		return fpush(&l->s, &l->ns, &l->cs, p);
	return 0;
}

static bool after(uint64_t g1, uint64_t b1, const struct follow_pos *p)
{
	return !p->any || g1 > p->gen || (g1 == p->gen && b1 > p->batch);
}

/* The first batch past pos: *first, *n_after (how many). */
static void flist_scan(const struct flist *l, const struct follow_pos *p,
		       struct fpos *first, size_t *n_after)
{
	*n_after = 0;
	for (size_t i = 0; i < l->nb; i++) {
		const struct fpos *q = &l->b[i];

		if (!after(q->gen, q->batch, p))
			continue;
		if (!*n_after || q->gen < first->gen ||
		    (q->gen == first->gen && q->batch < first->batch))
			*first = *q;
		(*n_after)++;
	}
}

/* Fall back to the newest complete base snapshot past the position:
 * 0 done, -EAGAIN none usable. */
static int fall_back(struct follow *f, const struct flist *l)
{
	bool tried[64] = { false };

	for (size_t k = 0; k < l->ns && k < 64; k++) {
		struct pitr_limit lim = { INT64_MAX, true, 0, 0, NULL, NULL };
		size_t best = l->ns;
		int rc;

		/* the newest not yet tried */
		for (size_t i = 0; i < l->ns && i < 64; i++) {
			const struct fpos *q = &l->s[i];

			if (tried[i] || !after(q->gen, q->batch, &f->pos))
				continue;
			if (best == l->ns || q->gen > l->s[best].gen ||
			    (q->gen == l->s[best].gen &&
			     q->batch > l->s[best].batch))
				best = i;
		}
		if (best == l->ns)
			break;
		tried[best] = true;
		lim.gen = l->s[best].gen;
		lim.batch = l->s[best].batch;
		log_warn("follower of '%s': falling back to the base snapshot "
			 "%016" PRIx64 "-%016" PRIx64,
			 cloud_target_url(f->t), lim.gen, lim.batch);
		rc = rebuild(f, &lim);
		if (rc != -EBADMSG)
			return rc;
	}
	return -EAGAIN;
}

static void set_behind(struct follow *f, bool behind)
{
	pthread_mutex_lock(&f->mu);
	if (!behind)
		f->behind_since_ns = 0;
	else if (!f->behind_since_ns)
		f->behind_since_ns = now_ns(f);
	pthread_mutex_unlock(&f->mu);
}

/* The listing step: 0 with *again when a batch can be applied now. */
static int list_step(struct follow *f, bool damaged, bool *again)
{
	struct flist l;
	struct fpos first = { 0, 0 };
	size_t n_after = 0;
	char key[FEED_KEY_MAX];
	int rc;

	*again = false;
	memset(&l, 0, sizeof(l));
	rc = cloud_target_list_all(f->t, PITR_SPACE, flist_one, &l);
	if (rc == -ENOENT)
		rc = 0;
	if (rc)
		goto out;
	flist_scan(&l, &f->pos, &first, &n_after);
	if (!n_after && !damaged) {
		set_behind(f, false);
		goto out;
	}
	set_behind(f, true);
	if (!damaged && f->pos.any && first.gen == f->pos.gen &&
	    first.batch == f->pos.batch + 1) {
		*again = true; /* it appeared meanwhile */
		goto out;
	}
	if (!damaged && first.batch == 0 &&
	    (!f->pos.any || first.gen > f->pos.gen)) {
		/* a new generation (or the first): the old one ended */
		rc = apply_batch(f, first.gen, 0);
		if (!rc) {
			*again = true;
			goto out;
		}
		if (rc == -ENOENT || rc == -EAGAIN) {
			rc = 0;
			goto out;
		}
		if (rc != -EBADMSG)
			goto out;
	} else if (!damaged) {
		feed_key_batch(key, f->pos.gen, f->pos.batch + 1);
		log_bad(f, key,
			"is missing (pruned by retention, or removed) while "
			"later ones exist");
	}
	rc = fall_back(f, &l);
	if (!rc) {
		*again = true;
	} else if (rc == -EAGAIN) {
		rc = 0;
		log_debug("follower of '%s': no base snapshot past the "
			  "missing or damaged batch yet: waiting",
			  cloud_target_url(f->t));
	}
out:
	free(l.b);
	free(l.s);
	return rc;
}

/* ---- rounds ---- */

static int startup_rebuild(struct follow *f)
{
	struct flist l;
	int rc = rebuild(f, NULL);

	if (rc != -EBADMSG)
		return rc;
	log_warn("follower of '%s': the history cannot be replayed to its "
		 "end: falling back to its newest base snapshot",
		 cloud_target_url(f->t));
	memset(&l, 0, sizeof(l));
	rc = cloud_target_list_all(f->t, PITR_SPACE, flist_one, &l);
	if (!rc) {
		struct follow_pos none = { false, 0, 0, 0 };
		struct follow_pos keep = f->pos;

		pthread_mutex_lock(&f->mu);
		f->pos = none; /* any snapshot will do */
		pthread_mutex_unlock(&f->mu);
		rc = fall_back(f, &l);
		pthread_mutex_lock(&f->mu);
		if (rc)
			f->pos = keep;
		pthread_mutex_unlock(&f->mu);
	}
	free(l.b);
	free(l.s);
	return rc == -EAGAIN ? -EIO : rc;
}

static int poll_round(struct follow *f);

int follow_poll(struct follow *f)
{
	int rc = poll_round(f);

	if (!f->error && f->marked) {
		int crc = mark_clean(f);

		if (crc)
			return fail(f, crc);
	}
	return rc;
}

static int poll_round(struct follow *f)
{
	bool damaged = false, again = true;
	int rc = 0;

	if (f->error)
		return f->error;
	if (f->need_rebuild) {
		rc = startup_rebuild(f);
		if (rc)
			return rc;
		f->need_rebuild = false;
	}
	/* a listing that names a batch its GET does not find (a hostile or
	 * inconsistent server) ends the round after a few tries */
	for (int idle_lists = 0; again && !f->stopping && idle_lists < 3;) {
		struct follow_pos before = f->pos;

		again = false;
		damaged = false;
		while (f->pos.any && !f->stopping) {
			rc = apply_batch(f, f->pos.gen, f->pos.batch + 1);
			if (rc)
				break;
			f->idle = 0;
		}
		if (rc == -EAGAIN)
			return 0; /* read again next round */
		if (rc == -EBADMSG)
			damaged = true;
		else if (rc && rc != -ENOENT)
			return rc;
		rc = 0;
		if (!damaged && f->pos.any && ++f->idle < f->o.list_every)
			break;
		f->idle = 0;
		rc = list_step(f, damaged, &again);
		if (rc)
			return rc;
		if (f->pos.any == before.any && f->pos.gen == before.gen &&
		    f->pos.batch == before.batch)
			idle_lists++;
		else
			idle_lists = 0;
	}
	return f->error ? f->error : rc;
}

static void *follow_main(void *arg)
{
	struct follow *f = arg;

	pthread_mutex_lock(&f->mu);
	while (!f->stopping) {
		struct timespec ts;
		int64_t due;

		pthread_mutex_unlock(&f->mu);
		follow_poll(f);
		pthread_mutex_lock(&f->mu);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		due = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec +
		      (int64_t)f->o.poll_ms * 1000000;
		ts.tv_sec = (time_t)(due / 1000000000);
		ts.tv_nsec = (long)(due % 1000000000);
		while (!f->stopping &&
		       pthread_cond_timedwait(&f->cv, &f->mu, &ts) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

int follow_open(struct cloud_target *t, struct store *s,
		const struct follow_options *o, struct follow **out)
{
	struct follow *f;

	if (!o->state_path || !o->poll_ms)
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->state_path = strdup(o->state_path);
	if (!f->state_path) {
		free(f);
		return -ENOMEM;
	}
	f->t = t;
	f->s = s;
	f->o = *o;
	f->o.state_path = f->state_path;
	if (!f->o.list_every)
		f->o.list_every = 1;
	f->idle = f->o.list_every - 1; /* the first round lists */
	pthread_mutex_init(&f->mu, NULL);
	pthread_mutex_init(&f->refill_mu, NULL);
	clock_cond_init(&f->cv);
	state_load(f);
	*out = f;
	return 0;
}

int follow_start(struct follow *f)
{
	int rc = pthread_create(&f->thread, NULL, follow_main, f);

	if (rc)
		return -rc;
	f->started = true;
	return 0;
}

bool follow_ready(struct follow *f)
{
	bool r;

	pthread_mutex_lock(&f->mu);
	r = f->ready && !f->error;
	pthread_mutex_unlock(&f->mu);
	return r;
}

void follow_status(struct follow *f, struct follow_status *out)
{
	pthread_mutex_lock(&f->mu);
	out->pos = f->pos;
	out->lag_ns = f->behind_since_ns ? now_ns(f) - f->behind_since_ns : 0;
	if (out->lag_ns < 0)
		out->lag_ns = 0;
	out->batches = f->batches;
	out->records = f->records;
	out->fallbacks = f->fallbacks;
	out->damaged = f->damaged;
	out->read_errors = f->read_errors;
	out->start_bytes = f->start_bytes;
	out->lazy_docs = f->lazy_docs;
	out->lazy = f->lazy;
	out->refills = f->refills;
	out->refill_bytes = f->refill_bytes;
	out->error = f->error;
	out->ready = f->ready && !f->error;
	pthread_mutex_unlock(&f->mu);
}

void follow_close(struct follow *f)
{
	if (!f)
		return;
	if (f->started) {
		pthread_mutex_lock(&f->mu);
		f->stopping = true;
		pthread_cond_broadcast(&f->cv);
		pthread_mutex_unlock(&f->mu);
		pthread_join(f->thread, NULL);
	}
	pthread_cond_destroy(&f->cv);
	part_drop(f);
	pitr_index_free(&f->ix);
	pthread_mutex_destroy(&f->refill_mu);
	pthread_mutex_destroy(&f->mu);
	free(f->state_path);
	free(f);
}
