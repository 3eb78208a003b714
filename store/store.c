/*
 * store.c - the durable list store: options, open (the lock, the files,
 * recovery), growth, durability waits, close, statistics.
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
 * The store's files, one concept each (store_internal.h holds what they
 * share):
 *   store.c       this file: open and lock, sync, close, stats
 *   change.c      the mutation protocol every change follows, and space
 *                 freed by a change waiting for its frame to be durable
 *   checkpoint.c  checkpoints (log cut-overs) and the checkpointer thread
 *   docs.c        spaces and documents: the API's mutations and reads
 *   backup.c      backup bookkeeping: marks, the target, tombstones
 *   tombs.c       the tombstones themselves, by name and by id
 *   replay.c      frames applied (at open and after each change),
 *                 snapshots written and read
 *   grow.c        online growth of the data file
 *   nodes.c       the in-memory index; alloc.c the space allocator;
 *                 datafile.c the data file; fsck.c the checker
 *
 * Open: take LOCK (a writer exclusively, a read-only mount shared), map
 * the data file, replay the log into the index, rebuild the allocator
 * from it, then start the checkpointer.  Close: stop the checkpointer,
 * checkpoint (a writer), close the log, free.
 *
 * Fail-stop: a failed msync or cut-over, or an allocation failure while
 * applying a logged frame, sets s->failed; the WAL keeps its own sticky
 * error.  Either makes every later mutation fail (change.c).
 */
#include "store/store.h"

#include "store/datafile.h"
#include "store/store_internal.h"
#include "util/clock.h"
#include "util/io.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void store_options_default(struct store_options *o)
{
	memset(o, 0, sizeof(*o));
	o->capacity_bytes = 64ull << 20;
	o->cutover_bytes = 64ull << 20;
	o->commit_ms = 1000;
	o->max_entry_bytes = 16ull << 20;
	o->max_capacity_bytes = 0;
	o->min_free_bytes = STORE_MIN_FREE_AUTO;
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

/* flock LOCK.  The owner's checkpoint child (checkpoint.c) shares the
 * lock's open file while it runs and dies with the owner: when LOCK is
 * held and the pid recorded there is gone, the holder is such a child
 * on its way out, and the lock is tried again until LOCK_WAIT_NS. */
#define LOCK_WAIT_NS (10 * 1000000000LL)

static bool owner_gone(int fd)
{
	char buf[32];
	long pid;
	int n = (int)pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return false;
	buf[n] = '\0';
	pid = strtol(buf, NULL, 10);
	return pid > 0 && pid != (long)getpid() && kill((pid_t)pid, 0) < 0 &&
	       errno == ESRCH;
}

static int lock_take(int fd, bool shared)
{
	int64_t until = clock_mono_ns() + LOCK_WAIT_NS;
	struct timespec ms = { 0, 1000000 };

	for (;;) {
		int rc;

		if (flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0)
			return 0;
		rc = -errno;
		if (rc != -EWOULDBLOCK || clock_mono_ns() > until ||
		    !owner_gone(fd))
			return rc;
		nanosleep(&ms, NULL);
	}
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
	rc = lock_take(fd, shared);
	if (rc) {
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
	if (!s)
		return;
	nodes_release(s);
	free(s->spaces.ids);
	tombs_release(s);
	free(s->pf);
	store_snapshot_free(s);
	wal_buf_release(&s->scratch);
	alloc_free(s->alloc);
	store_old_maps_free(s);
	if (s->map)
		munmap(s->map, s->map_len);
	datafile_warm_free(s->warm);
	if (s->data_fd >= 0)
		io_close(s->data_fd);
	if (s->lock_fd >= 0)
		close(s->lock_fd); /* releases the flock */
	pthread_rwlock_destroy(&s->lock);
	pthread_mutex_destroy(&s->cut_mu);
	pthread_mutex_destroy(&s->grow_mu);
	pthread_mutex_destroy(&s->gate_mu);
	pthread_cond_destroy(&s->gate_cv);
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
				  .read_only = s->opt.read_only,
				  .throttle_apart = true };
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
	s->file_capacity = s->capacity;
	_Static_assert(sizeof(s->id) == DATA_ID_LEN, "one identity size");
	memcpy(s->id, datafile_id(s->map), DATA_ID_LEN);
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
	pthread_mutex_init(&s->grow_mu, NULL);
	pthread_mutex_init(&s->gate_mu, NULL);
	pthread_cond_init(&s->gate_cv, NULL);
	pthread_mutex_init(&s->req_mu, NULL);
	pthread_cond_init(&s->req_cv, NULL);
	nodes_init(s);
	tombs_init(s);
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
		store_use_load(s);
	if (!rc)
		rc = store_checkpointer_start(s);
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

int store_close(struct store *s)
{
	int rc = 0, rc2;

	if (!s)
		return 0;
	store_checkpointer_stop(s);
	store_use_save(s);
	if (!s->opt.read_only) {
		pthread_mutex_lock(&s->cut_mu);
		store_wrlock(s);
		rc = store_checkpoint_locked(s);
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

void store_uuid(struct store *s, uint8_t out[STORE_UUID_LEN])
{
	_Static_assert(STORE_UUID_LEN == DATA_ID_LEN, "one identity size");
	pthread_rwlock_rdlock(&s->lock); /* store_grow may move the map */
	memcpy(out, datafile_id(s->map), STORE_UUID_LEN);
	pthread_rwlock_unlock(&s->lock);
}

uint64_t store_next_id(struct store *s)
{
	uint64_t id;

	pthread_rwlock_rdlock(&s->lock);
	id = s->next_id;
	pthread_rwlock_unlock(&s->lock);
	return id;
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
	out->grows = s->grows;
	out->grow_pause_max_ns = s->grow_pause_max_ns;
	out->cutover_pause_max_ns = s->cutover_pause_max_ns;
	out->grows_inline = s->grows_inline;
	out->grow_inline_hold_max_ns = s->grow_inline_hold_max_ns;
	pthread_rwlock_unlock(&s->lock);
	out->log_bytes = wal_size(s->wal);
	out->durable_lsn = wal_durable_lsn(s->wal);
	out->flushes = wal_flushes(s->wal);
}
