/*
 * store.c - the durable list store: open, recovery, the mutation API,
 * reads, and checkpoints.
 *
 * Files in the store directory (created 0700, its files 0600: a
 * document is private to the store's owner; a directory the admin made
 * looser beforehand keeps its mode):
 *   LOCK   flock'd exclusively by the process that owns the store, which
 *          writes its pid there; a read-only mount holds it shared
 *   data   the data file (datafile.c): entry bytes at allocated regions
 *   wal    the write-ahead log (wal/log.c); it opens with an
 *          OrganizationSnapshot of the whole index (replay.c)
 *
 * A mutation, under the exclusive lock: validate; take space from the
 * allocator; encode the frame into s->scratch; check the frame against the
 * state by the rules replay applies (store_check_frame: a frame that would
 * not apply is refused before it reaches the log); wal_append() it; apply
 * it with the same code that replays it at open (store_apply_frame).  If
 * the check or the append fails nothing was applied and taken space is
 * given back at once.
 * After unlocking: the change hook, the -o sync wait, and a cut-over when
 * the log has grown past max(cutover_bytes, 2 x last snapshot), run by
 * the checkpointer thread (or, with commit_ms 0, by this thread).
 *
 * Why bytes are safe in the map before they are durable in the log: they
 * go only into space that is free in every state a crash could recover
 * (space freed by a Delete or Trim returns to the allocator only once that
 * frame is durable, see replay.c), and replay writes every logged Append
 * into the map again.  A checkpoint msyncs the whole map before the new
 * log (which no longer carries those bytes) replaces the old one; changes
 * go on meanwhile (see checkpoint_begin_locked).
 *
 * Fail-stop: a failed msync or cut-over, or an allocation failure while
 * applying a logged frame, sets s->failed; the WAL keeps its own sticky
 * error.  Either makes every later mutation fail.
 */
#include "store/store.h"

#include "store/datafile.h"
#include "store/store_internal.h"
#include "util/clock.h"
#include "util/crc32c.h"
#include "util/io.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

void store_options_default(struct store_options *o)
{
	memset(o, 0, sizeof(*o));
	o->capacity_bytes = 64ull << 20;
	o->cutover_bytes = 64ull << 20;
	o->commit_ms = 1000;
	o->max_entry_bytes = 16ull << 20;
}

_Static_assert(STORE_NAME_MAX <= WAL_NAME_MAX, "a valid name fits a record");

int store_name_check(struct store *s, const char *name)
{
	return name_check(name, s->opt.reserved_prefix);
}

static char *path_in(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/* ---- pending frees ---- */

static void release_durable(struct store *s)
{
	uint64_t d;

	if (s->pf_head == s->npf)
		return;
	d = wal_durable_lsn(s->wal);
	while (s->pf_head < s->npf && s->pf[s->pf_head].lsn <= d) {
		struct pending_free *p = &s->pf[s->pf_head++];
		if (alloc_release(s->alloc, p->off, p->len) == 0)
			s->pf_bytes -= p->len;
	}
	if (s->pf_head == s->npf)
		s->pf_head = s->npf = 0;
}

static int take_space(struct store *s, uint64_t len, uint64_t *off)
{
	int rc;

	*off = 0;
	if (len == 0)
		return 0;
	rc = alloc_take(s->alloc, len, off);
	if (rc == -ENOSPC && s->pf_head < s->npf) {
		/* Space is waiting for its Delete/Trim to become durable:
		 * make it so (no store state changes meanwhile: we hold the
		 * exclusive lock) and try again. */
		rc = wal_sync(s->wal, s->pf[s->npf - 1].lsn);
		if (rc)
			return rc;
		release_durable(s);
		rc = alloc_take(s->alloc, len, off);
	}
	return rc;
}

/* ---- the mutation protocol ---- */

static int change_begin(struct store *s)
{
	int rc;

	if (s->opt.read_only)
		return -EROFS;
	pthread_rwlock_wrlock(&s->lock);
	rc = s->failed ? s->failed : wal_error(s->wal);
	if (rc) {
		pthread_rwlock_unlock(&s->lock);
		return rc;
	}
	s->scratch.len = 0;
	return 0;
}

/* Check, log and apply s->scratch.  On failure nothing changed, in memory
 * or in the log: the frame is checked against the state by the rules of
 * replay before wal_append(), so a frame that would not apply is never
 * logged (and never replayed). */
static int change_commit(struct store *s, uint64_t *lsn)
{
	int rc = store_check_frame(s, s->scratch.p, s->scratch.len);

	if (rc) {
		log_error("store '%s' refuses a change that does not apply to "
			  "its state: %s",
			  s->dir, strerror(-rc));
		return -EINVAL;
	}
	rc = wal_append(s->wal, s->scratch.p, s->scratch.len, lsn);
	if (rc)
		return rc;
	rc = store_apply_frame(s, *lsn, s->scratch.p, s->scratch.len, true);
	if (rc) {
		s->failed = rc == -ENOMEM ? -ENOMEM : -EIO;
		log_error("store '%s' is failed and refuses changes: frame "
			  "%" PRIu64 " could not be applied: %s",
			  s->dir, *lsn, strerror(-rc));
		return s->failed;
	}
	release_durable(s);
	return 0;
}

static bool cutover_due(struct store *s)
{
	uint64_t limit = s->opt.cutover_bytes;
	uint64_t snap = __atomic_load_n(&s->last_snap_bytes, __ATOMIC_RELAXED);

	if (limit < 2 * snap)
		limit = 2 * snap;
	return wal_size(s->wal) >= limit;
}

/* After a change: past the cut-over size, hand the checkpoint to the
 * checkpointer thread, or without one run it here (once at a time). */
static void maybe_cutover(struct store *s)
{
	if (!cutover_due(s))
		return;
	if (s->has_cut_thread) {
		pthread_mutex_lock(&s->req_mu);
		if (!s->cut_wanted) {
			s->cut_wanted = true;
			pthread_cond_signal(&s->req_cv);
		}
		pthread_mutex_unlock(&s->req_mu);
		return;
	}
	if (__atomic_exchange_n(&s->cutover_running, 1, __ATOMIC_ACQ_REL))
		return;
	store_checkpoint(s);
	__atomic_store_n(&s->cutover_running, 0, __ATOMIC_RELEASE);
}

static void *checkpointer_main(void *arg)
{
	struct store *s = arg;

	pthread_mutex_lock(&s->req_mu);
	for (;;) {
		while (!s->cut_wanted && !s->cut_stop)
			pthread_cond_wait(&s->req_cv, &s->req_mu);
		if (s->cut_stop)
			break;
		s->cut_wanted = false;
		pthread_mutex_unlock(&s->req_mu);
		/* requests made while the last checkpoint ran saw the old
		 * log's size: look again */
		if (cutover_due(s))
			store_checkpoint(s);
		pthread_mutex_lock(&s->req_mu);
	}
	pthread_mutex_unlock(&s->req_mu);
	return NULL;
}

static int checkpointer_start(struct store *s)
{
	if (s->opt.read_only || s->opt.commit_ms == 0)
		return 0;
	if (pthread_create(&s->cut_thread, NULL, checkpointer_main, s) != 0)
		return -EAGAIN;
	s->has_cut_thread = true;
	return 0;
}

static void checkpointer_stop(struct store *s)
{
	if (!s->has_cut_thread)
		return;
	pthread_mutex_lock(&s->req_mu);
	s->cut_stop = true;
	pthread_cond_signal(&s->req_cv);
	pthread_mutex_unlock(&s->req_mu);
	pthread_join(s->cut_thread, NULL);
	s->has_cut_thread = false;
}

/* Unlock, then run what follows a change.  Returns rc, or the sync
 * error. */
static int change_end(struct store *s, int rc, uint64_t id, uint64_t lsn,
		      uint64_t *lsn_out)
{
	pthread_rwlock_unlock(&s->lock);
	if (rc)
		return rc;
	if (lsn_out)
		*lsn_out = lsn;
	if (s->hook && id)
		s->hook(s->hook_arg, id);
	if (s->opt.sync && lsn)
		rc = wal_sync(s->wal, lsn);
	if (!rc)
		maybe_cutover(s);
	return rc;
}

static struct node *doc_get(struct store *s, uint64_t id, int *rc)
{
	struct node *n = node_get(s, id);

	if (!n || id == STORE_ROOT_ID) {
		*rc = -ENOENT;
		return NULL;
	}
	if (!n->space_id) {
		*rc = -EISDIR;
		return NULL;
	}
	return n;
}

/* ---- open and close ---- */

/* Open the lock file: read-write, created 0600, for a writer; for a
 * read-only mount (lock_shared) read-write when the media allows, else
 * read-only.  Returns the descriptor, -ENOENT when a read-only mount
 * finds none it can create (read-only media: no writer can exist there),
 * or -errno. */
static int lock_file_open(struct store *s, const char *path)
{
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0 || !s->opt.read_only)
		return fd < 0 ? -errno : fd;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* A writer holds LOCK exclusively and records its pid there; a read-only
 * mount holds it shared, so no writer opens the store under it (and it
 * opens none under a writer). */
static int take_lock(struct store *s)
{
	char *path = path_in(s->dir, "LOCK");
	bool shared = s->opt.read_only;
	char buf[32];
	int fd, rc = 0, n;

	if (!path)
		return -ENOMEM;
	fd = lock_file_open(s, path);
	if (fd < 0 && shared && (fd == -ENOENT || fd == -EROFS)) {
		log_info("no lock file in '%s' on read-only media: "
			 "opening without one",
			 s->dir);
		goto out;
	}
	if (fd < 0) {
		rc = fd;
		log_error("cannot open lock file '%s': %s", path,
			  strerror(-fd));
		goto out;
	}
	if (flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
		rc = -errno;
		n = (int)pread(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		if (rc == -EWOULDBLOCK) {
			log_error("cannot open store '%s': it is in use by "
				  "process %s",
				  s->dir, buf[0] ? buf : "?");
			rc = -EBUSY;
		}
		close(fd);
		goto out;
	}
	s->lock_fd = fd;
	if (shared)
		goto out;
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n)
		log_warn("cannot record pid in '%s'", path);
out:
	free(path);
	return rc;
}

static void store_free(struct store *s)
{
	void *n;

	if (!s)
		return;
	for (size_t pos = 0; u64map_next(&s->nodes, &pos, NULL, &n);)
		node_free(n);
	u64map_release(&s->nodes);
	u64map_release(&s->names);
	free(s->spaces.ids);
	while (s->tombs) {
		struct tomb *t = s->tombs;
		s->tombs = t->next;
		free(t->space);
		free(t->key);
		free(t);
	}
	free(s->pf);
	wal_buf_release(&s->scratch);
	alloc_free(s->alloc);
	if (s->map)
		munmap(s->map, s->map_len);
	if (s->data_fd >= 0)
		io_close(s->data_fd);
	if (s->lock_fd >= 0)
		close(s->lock_fd); /* releases the flock */
	pthread_rwlock_destroy(&s->lock);
	pthread_mutex_destroy(&s->cut_mu);
	pthread_mutex_destroy(&s->req_mu);
	pthread_cond_destroy(&s->req_cv);
	free(s->dir);
	free(s);
}

/* 1 when dir/name exists, 0 when it does not, else -errno: only a sure
 * "no such file" may lead to creating a store over the directory. */
static int file_exists(const char *dir, const char *name)
{
	char *p = path_in(dir, name);
	struct stat st;
	int rc;

	if (!p)
		return -ENOMEM;
	rc = stat(p, &st) == 0 ? 1 : errno == ENOENT ? 0 : -errno;
	free(p);
	return rc;
}

static int open_files(struct store *s)
{
	struct wal_options wo = { .commit_ms = s->opt.commit_ms,
				  .read_only = s->opt.read_only };
	char *data = path_in(s->dir, "data");
	int rc = file_exists(s->dir, "wal");
	bool fresh = rc == 0;

	if (rc < 0) {
		free(data);
		return rc;
	}
	if (!data)
		return -ENOMEM;
	if (fresh && s->opt.read_only) {
		log_error("cannot open store '%s': no store there", s->dir);
		rc = -ENOENT;
		goto out;
	}
	if (fresh) {
		if (s->opt.capacity_bytes < 4096) {
			rc = -EINVAL;
			goto out;
		}
		rc = datafile_create(data, s->dir, s->opt.capacity_bytes);
		if (rc)
			goto out;
	}
	rc = datafile_open(data, s->opt.read_only, &s->data_fd, &s->map,
			   &s->capacity);
	free(data);
	data = NULL;
	if (rc)
		goto out;
	s->map_len = DATA_HDR + s->capacity;
	if (fresh) {
		s->root_meta.mode = 0755;
		s->root_meta.uid = getuid();
		s->root_meta.gid = getgid();
		s->root_meta.mtime_ns = s->root_meta.ctime_ns = clock_real_ns();
		s->next_id = STORE_ROOT_ID + 1;
		s->next_tomb_id = 1;
		s->snap_done = true;
		rc = wal_create(s->dir, &wo, store_write_snapshot, s, &s->wal);
		if (rc)
			goto out;
	} else {
		s->next_id = STORE_ROOT_ID + 1;
		s->replaying = true;
		rc = wal_open(s->dir, &wo, store_replay_frame, s, &s->wal);
		s->replaying = false;
		if (rc)
			goto out;
		if (!s->snap_done) {
			log_error("cannot open store '%s': the log does not "
				  "start with a complete snapshot",
				  s->dir);
			rc = -EBADMSG;
			goto out;
		}
	}
	rc = store_rebuild_alloc(s);
out:
	free(data);
	return rc;
}

int store_open(const char *dir, const struct store_options *o,
	       struct store **out)
{
	struct store *s;
	int rc;

	/* 0700, files 0600: documents are private to the store's owner.
	 * An existing directory keeps the mode its admin gave it. */
	if (!o->read_only && mkdir(dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		log_error("cannot create store directory '%s': %s", dir,
			  strerror(errno));
		return rc;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->lock_fd = s->data_fd = -1;
	s->opt = *o;
	if (s->opt.max_entry_bytes == 0 || s->opt.max_entry_bytes > UINT32_MAX)
		s->opt.max_entry_bytes = UINT32_MAX;
	pthread_rwlock_init(&s->lock, NULL);
	pthread_mutex_init(&s->cut_mu, NULL);
	pthread_mutex_init(&s->req_mu, NULL);
	pthread_cond_init(&s->req_cv, NULL);
	u64map_init(&s->nodes);
	u64map_init(&s->names);
	wal_buf_init(&s->scratch);
	s->dir = strdup(dir);
	if (!s->dir) {
		rc = -ENOMEM;
		goto fail;
	}
	if (!o->read_only || o->lock_shared) {
		rc = take_lock(s);
		if (rc)
			goto fail;
	}
	rc = open_files(s);
	if (!rc)
		rc = checkpointer_start(s);
	if (rc)
		goto fail;
	*out = s;
	return 0;
fail:
	if (s->wal) {
		wal_close(s->wal);
		s->wal = NULL;
	}
	store_free(s);
	return rc;
}

/*
 * A checkpoint, in three steps (cut_mu held throughout):
 *   begin, under the exclusive lock: the log is flushed and the new log,
 *     opened by a snapshot of the index, written (wal_cutover_begin);
 *   seal, with or without the lock: the whole map msync'd, which covers
 *     every entry the snapshot names, then the new log synced and renamed
 *     into place (wal_cutover_finish);
 *   done, under the lock again: freed space whose frames are now durable
 *     returns to the allocator.
 * Changes made between begin and seal go to the new log after the
 * snapshot and become durable only after the seal; they never touch the
 * space the snapshot's entries occupy (it is not free in the snapshot,
 * and space freed later waits for its frame to be durable).
 */
static int checkpoint_begin_locked(struct store *s)
{
	int rc = s->failed ? s->failed : wal_error(s->wal);

	return rc ? rc : wal_cutover_begin(s->wal, store_write_snapshot, s);
}

/* Returns 0, or the msync error (the caller records it in s->failed
 * under the lock) or the log's. */
static int checkpoint_seal(struct store *s, bool *msync_failed)
{
	int rc = io_msync(s->map, s->map_len, MS_SYNC);

	*msync_failed = rc != 0;
	if (rc)
		log_error("store '%s' is failed and refuses changes: msync of "
			  "the data file: %s",
			  s->dir, strerror(-rc));
	return wal_cutover_finish(s->wal, rc);
}

static void checkpoint_done_locked(struct store *s, int rc, bool msync_failed)
{
	if (msync_failed && !s->failed)
		s->failed = rc;
	if (rc)
		return;
	s->cutovers++;
	release_durable(s);
}

/* The whole checkpoint under the exclusive lock (growth, close). */
static int checkpoint_locked(struct store *s)
{
	bool msync_failed = false;
	int rc = checkpoint_begin_locked(s);

	if (rc)
		return rc;
	rc = checkpoint_seal(s, &msync_failed);
	checkpoint_done_locked(s, rc, msync_failed);
	return rc;
}

int store_checkpoint(struct store *s)
{
	bool msync_failed = false;
	int rc;

	if (s->opt.read_only)
		return -EROFS;
	pthread_mutex_lock(&s->cut_mu);
	/* Flush the log before holding changes back: begin then only has
	 * what came meanwhile. */
	wal_sync(s->wal, 0);
	pthread_rwlock_wrlock(&s->lock);
	rc = checkpoint_begin_locked(s);
	pthread_rwlock_unlock(&s->lock);
	if (!rc) {
		rc = checkpoint_seal(s, &msync_failed);
		pthread_rwlock_wrlock(&s->lock);
		checkpoint_done_locked(s, rc, msync_failed);
		pthread_rwlock_unlock(&s->lock);
	}
	pthread_mutex_unlock(&s->cut_mu);
	return rc;
}

int store_grow(struct store *s, uint64_t capacity)
{
	char *path;
	void *map;
	int rc;

	if (s->opt.read_only)
		return -EROFS;
	path = path_in(s->dir, "data");
	if (!path)
		return -ENOMEM;
	pthread_mutex_lock(&s->cut_mu);
	pthread_rwlock_wrlock(&s->lock);
	rc = s->failed ? s->failed : wal_error(s->wal);
	if (rc || capacity <= s->capacity)
		goto out;
	rc = datafile_grow(s->data_fd, path, capacity, datafile_id(s->map));
	if (rc) {
		/* the header still names the old size: nothing changed */
		if (rc != -ENOSPC)
			s->failed = rc;
		goto out;
	}
	map = mremap(s->map, s->map_len, DATA_HDR + capacity, MREMAP_MAYMOVE);
	if (map == MAP_FAILED) {
		rc = -errno;
		s->failed = rc;
		goto out;
	}
	s->map = map;
	s->map_len = DATA_HDR + capacity;
	rc = alloc_grow(s->alloc, capacity);
	if (rc) {
		s->failed = rc;
		goto out;
	}
	s->capacity = capacity;
	log_info("store '%s' grew to %" PRIu64 " bytes", s->dir, capacity);
	rc = checkpoint_locked(s);
out:
	pthread_rwlock_unlock(&s->lock);
	pthread_mutex_unlock(&s->cut_mu);
	free(path);
	return rc;
}

int store_close(struct store *s)
{
	int rc = 0, rc2;

	if (!s)
		return 0;
	checkpointer_stop(s);
	if (!s->opt.read_only) {
		pthread_mutex_lock(&s->cut_mu);
		pthread_rwlock_wrlock(&s->lock);
		rc = checkpoint_locked(s);
		pthread_rwlock_unlock(&s->lock);
		pthread_mutex_unlock(&s->cut_mu);
	}
	rc2 = wal_close(s->wal);
	if (!rc)
		rc = rc2;
	s->wal = NULL;
	store_free(s);
	return rc;
}

int store_sync(struct store *s, uint64_t lsn)
{
	int rc;

	if (s->opt.read_only)
		return 0;
	rc = wal_sync(s->wal, lsn);
	return rc ? rc : s->failed;
}

struct store_sync_wait {
	struct store *s;
	store_sync_fn fn;
	void *arg;
};

static void store_synced(void *arg, int rc)
{
	struct store_sync_wait *sw = arg;

	sw->fn(sw->arg, rc ? rc : sw->s->failed);
	free(sw);
}

int store_sync_async(struct store *s, uint64_t lsn, store_sync_fn fn, void *arg)
{
	struct store_sync_wait *sw;
	int rc;

	if (s->opt.read_only) {
		fn(arg, 0);
		return 0;
	}
	sw = malloc(sizeof(*sw));
	if (!sw)
		return -ENOMEM;
	*sw = (struct store_sync_wait){ s, fn, arg };
	rc = wal_notify(s->wal, lsn, store_synced, sw);
	if (rc)
		free(sw);
	return rc;
}

void store_set_change_hook(struct store *s, store_change_fn fn, void *arg)
{
	s->hook = fn;
	s->hook_arg = arg;
}

/* ---- spaces ---- */

int store_space_create(struct store *s, const char *name,
		       const struct store_meta *m, uint64_t *id, uint64_t *lsn)
{
	struct wal_meta wm;
	uint64_t nid = 0, l = 0;
	int rc = store_name_check(s, name);

	if (rc)
		return rc;
	rc = change_begin(s);
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
		rc = change_commit(s, &l);
	if (!rc && id)
		*id = nid;
out:
	return change_end(s, rc, nid, l, lsn);
}

int store_space_remove(struct store *s, const char *name, uint64_t *lsn)
{
	struct node *sp;
	uint64_t l = 0, sid = 0;
	int rc = change_begin(s);

	if (rc)
		return rc;
	sp = node_by_name(s, 0, name, strlen(name));
	if (!sp) {
		rc = -ENOENT;
		goto out;
	}
	if (sp->kids.n) {
		rc = -ENOTEMPTY;
		goto out;
	}
	sid = sp->id;
	rc = wal_put_id(&s->scratch, WAL_RMSPACE, sid);
	if (!rc)
		rc = change_commit(s, &l);
out:
	return change_end(s, rc, sid, l, lsn);
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
		struct node *n = node_get(s, k->ids[i]);
		int rc = fn(arg, n->id, n->name);
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
	rc = change_begin(s);
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
		rc = change_commit(s, &l);
	if (!rc && id)
		*id = nid;
out:
	return change_end(s, rc, nid, l, lsn);
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

int store_doc_delete(struct store *s, uint64_t id, uint64_t *lsn)
{
	struct node *n;
	uint64_t l = 0;
	int rc = change_begin(s);

	if (rc)
		return rc;
	n = doc_get(s, id, &rc);
	if (!n)
		goto out;
	rc = put_remove(s, n, true);
	if (!rc)
		rc = change_commit(s, &l);
out:
	return change_end(s, rc, id, l, lsn);
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
	rc = change_begin(s);
	if (rc)
		return rc;
	n = doc_get(s, id, &rc);
	if (!n)
		goto out;
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
		rc = change_commit(s, &l);
out:
	return change_end(s, rc, l ? id : 0, l, lsn);
}

static int append_locked(struct store *s, struct node *n, const void *buf,
			 size_t len, bool replace, uint64_t *seq, uint64_t *lsn)
{
	uint64_t off;
	uint32_t crc;
	int rc;

	if (n->seq >= STORE_SEQ_MAX)
		return -EOVERFLOW;
	rc = take_space(s, len, &off);
	if (rc)
		return rc;
	crc = crc32c(buf, len);
	rc = wal_put_append(&s->scratch, n->id, n->seq + 1, off,
			    clock_real_ns(), buf, (uint32_t)len, crc);
	if (!rc && replace)
		rc = wal_put_trim(&s->scratch, n->id, n->seq + 1);
	if (!rc)
		rc = change_commit(s, lsn);
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

static int append_common(struct store *s, uint64_t id, const void *buf,
			 size_t len, bool replace, uint64_t expect_seq,
			 uint64_t *seq, uint64_t *lsn)
{
	struct node *n;
	uint64_t l = 0;
	int rc;

	if (len > s->opt.max_entry_bytes)
		return -EFBIG;
	rc = change_begin(s);
	if (rc)
		return rc;
	n = doc_get(s, id, &rc);
	if (!n)
		goto out;
	if (replace && n->seq != expect_seq) {
		rc = -EAGAIN;
		goto out;
	}
	rc = append_locked(s, n, buf, len, replace, seq, &l);
out:
	return change_end(s, rc, id, l, lsn);
}

int store_append(struct store *s, uint64_t id, const void *buf, size_t len,
		 uint64_t *seq, uint64_t *lsn)
{
	return append_common(s, id, buf, len, false, 0, seq, lsn);
}

/* Entries of a batch or an import: each checked against the entry limit
 * up front, then given space and an Append record (seq0, seq0 + 1, ...)
 * in the scratch frame.  offs[] (n + 1 slots, caller-owned) records the
 * space taken; *taken how many entries got some, for entries_release when
 * the change does not commit. */
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
		       size_t n, uint64_t *offs, size_t *taken)
{
	int rc = 0;

	for (size_t i = 0; i < n && !rc; i++) {
		rc = take_space(s, e[i].len, &offs[i]);
		if (rc)
			break;
		*taken = i + 1;
		rc = wal_put_append(&s->scratch, id, seq0 + i, offs[i], time_ns,
				    e[i].buf, (uint32_t)e[i].len,
				    crc32c(e[i].buf, e[i].len));
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
	size_t taken = 0;
	int rc;

	rc = entries_check(s, e, n);
	if (rc)
		return rc;
	offs = calloc(n + 1, sizeof(*offs));
	if (!offs)
		return -ENOMEM;
	rc = change_begin(s);
	if (rc) {
		free(offs);
		return rc;
	}
	nd = doc_get(s, id, &rc);
	if (!nd)
		goto out;
	if (n > STORE_SEQ_MAX - nd->seq) {
		rc = -EOVERFLOW;
		goto out;
	}
	rc = entries_put(s, id, nd->seq + 1, clock_real_ns(), e, n, offs,
			 &taken);
	if (!rc && n)
		rc = change_commit(s, &l);
	if (rc)
		entries_release(s, e, offs, taken);
	if (!rc) {
		s->appends += n;
		if (seq)
			*seq = nd->seq;
	}
out:
	free(offs);
	return change_end(s, rc, l ? id : 0, l, lsn);
}

int store_append_replace(struct store *s, uint64_t id, const void *buf,
			 size_t len, uint64_t expect_seq, uint64_t *seq,
			 uint64_t *lsn)
{
	return append_common(s, id, buf, len, true, expect_seq, seq, lsn);
}

int store_trim(struct store *s, uint64_t id, uint32_t keep, uint64_t *lsn)
{
	struct node *n;
	uint64_t l = 0, first;
	int rc = change_begin(s);

	if (rc)
		return rc;
	n = doc_get(s, id, &rc);
	if (!n || n->nent <= keep)
		goto out;
	first = keep ? n->ents[n->nent - keep].seq : n->seq + 1;
	rc = wal_put_trim(&s->scratch, id, first);
	if (!rc)
		rc = change_commit(s, &l);
out:
	return change_end(s, rc, l ? id : 0, l, lsn);
}

int store_read(struct store *s, uint64_t id, store_entry_fn fn, void *arg)
{
	struct node *n;
	int rc = 0;

	pthread_rwlock_rdlock(&s->lock);
	n = doc_get(s, id, &rc);
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
	int rc = change_begin(s);

	if (rc)
		return rc;
	if (!node_get(s, id) && id != STORE_ROOT_ID) {
		rc = -ENOENT;
		goto out;
	}
	meta_to_wal(m, &wm);
	rc = wal_put_meta(&s->scratch, id, &wm);
	if (!rc)
		rc = change_commit(s, &l);
out:
	return change_end(s, rc, id, l, lsn);
}

int store_doc_info(struct store *s, uint64_t id, struct store_doc_info *out)
{
	struct node *n;
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
out:
	pthread_rwlock_unlock(&s->lock);
	return rc;
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
	if (!offs)
		return -ENOMEM;
	rc = change_begin(s);
	if (rc) {
		free(offs);
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
		rc = entries_put(s, nid, last_seq - n + 1, 0, e, n, offs,
				 &taken);
	if (!rc)
		rc = wal_put_backup(&s->scratch, nid, last_seq,
				    clock_real_ns());
	if (!rc)
		rc = change_commit(s, &l);
	if (rc)
		entries_release(s, e, offs, taken);
	if (!rc && id)
		*id = nid;
out:
	free(offs);
	return change_end(s, rc, nid, l, lsn);
}

/* ---- backup bookkeeping ---- */

int store_backup_mark(struct store *s, uint64_t id, uint64_t seq,
		      int64_t time_ns)
{
	struct node *n;
	uint64_t l = 0;
	int rc = change_begin(s);

	if (rc)
		return rc;
	n = doc_get(s, id, &rc);
	if (!n)
		goto out;
	rc = wal_put_backup(&s->scratch, id, seq, time_ns);
	if (!rc)
		rc = change_commit(s, &l);
out:
	/* No change hook: a backup mark is not a change of the document. */
	return change_end(s, rc, 0, l, NULL);
}

int store_backup_mark_named(struct store *s, uint64_t id, const char *space,
			    const char *key, uint64_t seq, int64_t time_ns)
{
	struct node *n;
	uint64_t l = 0;
	int rc = change_begin(s);

	if (rc)
		return rc;
	n = doc_get(s, id, &rc);
	if (!n)
		goto out;
	if (strcmp(n->name, key) != 0 ||
	    strcmp(node_get(s, n->space_id)->name, space) != 0) {
		rc = -ESTALE;
		goto out;
	}
	rc = wal_put_backup(&s->scratch, id, seq, time_ns);
	if (!rc)
		rc = change_commit(s, &l);
out:
	return change_end(s, rc, 0, l, NULL);
}

int store_backup_target(struct store *s, uint64_t target, bool *changed)
{
	uint64_t l = 0, was;
	int rc;

	if (changed)
		*changed = false;
	if (target == 0)
		return -EINVAL;
	rc = change_begin(s);
	if (rc)
		return rc;
	if (s->backup_target == target)
		goto out;
	was = s->backup_target;
	rc = wal_put_id(&s->scratch, WAL_TARGET, target);
	if (!rc)
		rc = change_commit(s, &l);
	if (!rc && changed)
		*changed = was != 0;
out:
	return change_end(s, rc, 0, l, NULL);
}

void store_uuid(struct store *s, uint8_t out[STORE_UUID_LEN])
{
	_Static_assert(STORE_UUID_LEN == DATA_ID_LEN, "one identity size");
	pthread_rwlock_rdlock(&s->lock); /* store_grow may move the map */
	memcpy(out, datafile_id(s->map), STORE_UUID_LEN);
	pthread_rwlock_unlock(&s->lock);
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
	int rc = change_begin(s);

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
		rc = change_commit(s, &l);
out:
	return change_end(s, rc, 0, l, NULL);
}

int store_backup_pending(struct store *s, store_id_fn fn, void *arg)
{
	void *v;
	int rc = 0;

	pthread_rwlock_rdlock(&s->lock);
	for (size_t pos = 0; !rc && u64map_next(&s->nodes, &pos, NULL, &v);) {
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
	bool found = false;
	int rc = change_begin(s);

	if (rc)
		return rc;
	for (struct tomb *t = s->tombs; t; t = t->next)
		found |= t->id == tomb_id;
	if (!found) {
		rc = -ENOENT;
		goto out;
	}
	rc = wal_put_id(&s->scratch, WAL_TOMB_DEL, tomb_id);
	if (!rc)
		rc = change_commit(s, &l);
out:
	return change_end(s, rc, 0, l, NULL);
}

bool store_tombstoned(struct store *s, const char *space, const char *key)
{
	bool yes;

	pthread_rwlock_rdlock(&s->lock);
	yes = tomb_find(s, space, key) != NULL;
	pthread_rwlock_unlock(&s->lock);
	return yes;
}

/* ---- statistics ---- */

void store_stats(struct store *s, struct store_stats *out)
{
	memset(out, 0, sizeof(*out));
	pthread_rwlock_rdlock(&s->lock);
	out->capacity_bytes = s->capacity;
	out->free_bytes = alloc_free_bytes(s->alloc) + s->pf_bytes;
	out->documents = s->ndocs;
	out->spaces = s->nspaces;
	out->entries = s->nentries;
	out->appends = s->appends;
	out->cutovers = s->cutovers;
	out->max_entry_bytes = s->opt.max_entry_bytes;
	pthread_rwlock_unlock(&s->lock);
	out->log_bytes = wal_size(s->wal);
	out->durable_lsn = wal_durable_lsn(s->wal);
	out->flushes = wal_flushes(s->wal);
}
