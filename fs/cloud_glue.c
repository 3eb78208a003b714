/*
 * cloud_glue.c - cloud backup as the filesystem sees it (cloud/backup.h
 * does the work).
 *
 *   start    open the target named by cloud= (s3_endpoint, s3_region,
 *            s3_path_style), start the uploader with backup_delay_ms; it
 *            installs the store's change hook and queues whatever the
 *            store reports pending (also after a crash);
 *   stop     drain uploads for up to STOP_DRAIN_MS, then stop; what is
 *            left stays pending in the store for the next mount;
 *   lookup   a key missing locally is restored (download, verify, import)
 *            and served; a space missing locally but present in the cloud
 *            is created, so its documents can be looked up;
 *   readdir  a directory opened when the cloud holds names the store does
 *            not gets a sorted snapshot of those names (cloud_glue_dir);
 *            dir.c lists them after the local ones.
 *
 * Which names the cloud holds is the catalog's (cloud/catalog.h): the glue
 * asks it and adapts the answer.  A lookup miss asks catalog_lookup, which
 * answers from tombstones, the negative cache or a fresh listing, else
 * with one HEAD on the quick target (one try, short timeouts), and
 * without any cloud call while the target is down.  Present: restore (EIO
 * when that fails); refused as bogus: EIO; absent or unknown: ENOENT, so a
 * new name can always be created, also with the target down from the
 * first second (the uploader reconciles it when the target returns:
 * cloud/upload.c).  Local removals and renames (cloud_glue_removed) tell
 * the catalog, which invalidates every listing at once and never brings a
 * removed space back.
 *
 * At mount the target is asked once, without retries, for a page of the
 * spaces (probe): refused credentials (HTTP 401/403) and a server
 * certificate that does not verify fail the mount with a message, as a
 * wrong password should; a target that cannot be reached only warns and
 * tells the catalog the target is down, since uploads wait and retry and
 * local documents need no cloud.
 *
 * Downloads are bounded by what the store could hold (object_bound):
 * a larger object is refused from its size before its body is read.
 *
 * Stopping: SIGTERM, SIGINT and SIGHUP also cut cloud listings and
 * downloads in progress (cloud_glue_watch_signals,
 * cloud_target_interrupt_lists), so a target that lists forever or stalls
 * in the middle of a restore never keeps a request, and with it the stop
 * (libfuse joins its workers before its loop returns), waiting: the
 * request fails with EIO and nothing is imported.  Uploads are not cut,
 * the stop drains them as before.  (An unmount cannot begin while a
 * lookup is in flight: the kernel reports the mount busy until the
 * request ends, so it is the signal that must win.)
 *
 * Eviction (evict=on, the default with a target): a thread checks every
 * EVICT_POLL_MS how much of the store's bound (store_evict_room:
 * max_capacity, or the capacity plus what the disk can still give while
 * keeping min_free) is free; under evict_low percent it evicts documents
 * least recently used first (store_evict_candidates: those whose seq is
 * confirmed in the cloud) until evict_low + EVICT_HYSTERESIS percent is
 * free, skipping documents with handles open (fs_node_busy).  A change
 * that finds no room (-ENOSPC at the bound) asks for room
 * (cloud_glue_retry): an eviction pass at once, else the uploads queued
 * are sent without their delay (backup_flush, up to EVICT_FLUSH_MS) and
 * evicted, and the change is tried again.  A call that meets an evicted
 * document (-ENODATA: reading, writing, renaming or chmod of it) has it
 * refilled from the cloud (backup_refill_doc) and is tried again; when the
 * cloud cannot give it back, the call fails with EIO and nothing changed.
 *
 * No lock of its own but the evictor's ev_mu (its wake-up): the catalog
 * and the backup lock themselves.  With cloud=none fs->cloud is NULL and
 * every call is a no-op.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cloud/backup.h"
#include "cloud/catalog.h"
#include "cloud/target.h"
#include "fs/cloud_glue.h"
#include "fs/fs.h"
#include "util/buf.h"
#include "util/grow.h"
#include "store/evict.h"
#include "util/clock.h"
#include "util/log.h"

enum {
	STOP_DRAIN_MS = 5000,
	PROBE_TIMEOUT_MS = 10000,
	QUICK_CONNECT_MS = 2000,
	QUICK_TIMEOUT_MS = 10000,
	EVICT_POLL_MS = 200,
	EVICT_HYSTERESIS = 10, /* percent of the bound above evict_low */
	EVICT_BATCH = 256, /* candidates asked for per round */
	EVICT_FLUSH_MS = 2000,
	RETRY_MAX = 30 /* cloud_glue_retry rounds of one call */
};

struct cloud_glue {
	struct cloud_target *t;
	struct cloud_target *quick; /* one try, short timeouts: lookups */
	struct backup *b;
	struct catalog *cat; /* the backup's */
	bool watching; /* the signal watcher runs */
	pthread_t watcher;
	/* the evictor: ev_mu guards ev_stop */
	bool evicting; /* its thread runs */
	pthread_t evictor;
	pthread_mutex_t ev_mu;
	pthread_cond_t ev_cv;
	bool ev_stop;
};

/* ---- listings ---- */

/* The names of a listing: the strings in one arena (offsets while it
 * grows), as a profile of a 100k-name `ls` asked for. */
struct collect {
	struct cbuf arena; /* the names, each with its NUL */
	size_t *at; /* offset of each name */
	size_t n, cap;
	int rc;
};

static int collect_name(void *arg, const char *name)
{
	struct collect *c = arg;
	size_t off = c->arena.len;
	size_t *grown;

	grown = grow_array(c->at, &c->cap, c->n + 1, 256, sizeof(*grown));
	if (!grown)
		return c->rc = -ENOMEM;
	c->at = grown;
	cbuf_add(&c->arena, name, strlen(name) + 1);
	if (cbuf_failed(&c->arena))
		return c->rc = -ENOMEM;
	c->at[c->n++] = off;
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool names_have(char **names, size_t n, const char *name)
{
	return n && bsearch(&name, names, n, sizeof(*names), cmp_names);
}

static int probe_name(void *arg, const char *name)
{
	(void)arg;
	(void)name;
	return 0;
}

/* See "At mount" above.  0, -EACCES for refused credentials, or
 * -EKEYREJECTED for a certificate that does not verify; *down tells
 * whether the target could not be reached. */
static int probe(struct fs *fs, const struct cloud_options *base, bool *down)
{
	struct cloud_options co = *base;
	struct cloud_target *t;
	char *next = NULL;
	int rc;

	co.retry.max_attempts = 1;
	co.connect_timeout_ms = PROBE_TIMEOUT_MS;
	co.timeout_ms = PROBE_TIMEOUT_MS;
	co.list_page_keys = 1;
	rc = cloud_target_open(fs->cfg.cloud, &co, &t);
	if (rc == 0) {
		rc = cloud_target_list(t, NULL, NULL, &next, probe_name, NULL);
		free(next);
		cloud_target_free(t);
	}
	if (rc == -EACCES) {
		log_error(
			"the cloud target '%s' refused the credentials (HTTP 401/403): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the profile",
			fs->cfg.cloud);
		return rc;
	}
	if (rc == -EKEYREJECTED) {
		log_error(
			"the cloud target '%s' sent a certificate that does not verify (untrusted or for another host): refusing to send it data",
			fs->cfg.cloud);
		return rc;
	}
	*down = rc < 0;
	if (rc < 0)
		log_warn(
			"cannot reach the cloud target '%s' now (%s): uploads wait and retry",
			fs->cfg.cloud, strerror(-rc));
	return 0;
}

/* The largest archive the store could have uploaded: its log holds at
 * most compact_ratio times the largest document (plus compact_min_bytes
 * and the entry that triggers compaction) before compaction, plus names,
 * metadata and entry framing.  Without byte-ratio compaction, the
 * target's own default bound. */
static size_t object_bound(const struct fs_config *c, size_t dflt)
{
	uint64_t big = c->max_doc_bytes > c->max_patch_bytes
			       ? c->max_doc_bytes
			       : c->max_patch_bytes;
	uint64_t b;

	if (!c->compact_ratio || big > ((uint64_t)1 << 40))
		return dflt;
	b = big * (c->compact_ratio + 2) + c->compact_min_bytes + (1u << 20);
	return b < dflt ? (size_t)b : dflt;
}

/* ---- stopping ---- */

static const int watched[] = { SIGTERM, SIGINT, SIGHUP };
#define NWATCHED (sizeof(watched) / sizeof(watched[0]))
static struct sigaction watched_old[NWATCHED];
static int watch_pipe[2] = { -1, -1 };

/* Chains to the handler it replaced (libfuse's: the session exits), then
 * wakes the watcher.  Async-signal-safe. */
static void on_stop_signal(int sig)
{
	int saved = errno;
	ssize_t n;

	for (size_t i = 0; i < NWATCHED; i++)
		if (watched[i] == sig &&
		    !(watched_old[i].sa_flags & SA_SIGINFO) &&
		    watched_old[i].sa_handler != SIG_DFL &&
		    watched_old[i].sa_handler != SIG_IGN)
			watched_old[i].sa_handler(sig);
	n = write(watch_pipe[1], "s", 1); /* a full pipe has woken it */
	(void)n;
	errno = saved;
}

static void *watch_main(void *arg)
{
	struct cloud_glue *g = arg;
	char c;

	while (read(watch_pipe[0], &c, 1) == 1 && c == 's') {
		log_info("stopping: cutting cloud listings and downloads in "
			 "progress");
		cloud_target_interrupt_lists(g->t);
		cloud_target_interrupt_lists(g->quick);
	}
	return NULL;
}

int cloud_glue_watch_signals(struct fs *fs)
{
	struct cloud_glue *g = fs->cloud;
	struct sigaction sa;
	int rc;

	if (!g || g->watching)
		return 0;
	if (pipe2(watch_pipe, O_CLOEXEC) != 0)
		return -errno;
	rc = -pthread_create(&g->watcher, NULL, watch_main, g);
	if (rc) {
		close(watch_pipe[0]);
		close(watch_pipe[1]);
		watch_pipe[0] = watch_pipe[1] = -1;
		return rc;
	}
	g->watching = true;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < NWATCHED; i++)
		sigaction(watched[i], &sa, &watched_old[i]);
	return 0;
}

static void watch_stop(struct cloud_glue *g)
{
	if (!g->watching)
		return;
	for (size_t i = 0; i < NWATCHED; i++)
		sigaction(watched[i], &watched_old[i], NULL);
	if (write(watch_pipe[1], "q", 1) != 1)
		log_warn("cannot stop the signal watcher: %s", strerror(errno));
	pthread_join(g->watcher, NULL);
	close(watch_pipe[0]);
	close(watch_pipe[1]);
	watch_pipe[0] = watch_pipe[1] = -1;
	g->watching = false;
}

/* ---- eviction ---- */

/* One pass: when less than evict_low percent of the bound is free (or
 * urgent: a change found no room), evict until evict_low +
 * EVICT_HYSTERESIS percent is.  Returns how many were evicted, or the
 * store's error. */
static int evict_pass(struct fs *fs, bool urgent)
{
	uint64_t bound, used, free_b, low, high, ids[EVICT_BATCH];
	uint32_t pct = fs->cfg.evict_low_pct;
	size_t n = 0;
	int done = 0, rc;

	store_evict_room(fs->s, &bound, &used);
	free_b = bound > used ? bound - used : 0;
	low = bound / 100 * pct;
	high = bound / 100 * (pct + EVICT_HYSTERESIS);
	if (!urgent && free_b >= low)
		return 0;
	if (urgent && high < free_b + bound / 10)
		high = free_b + bound / 10; /* room for the change, and more */
	rc = store_evict_candidates(fs->s, ids, EVICT_BATCH, &n);
	for (size_t i = 0; !rc && i < n && free_b < high; i++) {
		struct store_doc_info info;
		uint64_t size;

		if (fs_node_busy(&fs->nodes, ids[i]) ||
		    store_doc_info(fs->s, ids[i], &info) ||
		    doc_size(fs->doc, ids[i], &size))
			continue;
		rc = store_doc_evict(fs->s, ids[i], info.seq, size, NULL);
		if (rc == 0) {
			free_b += info.stored_bytes;
			done++;
		} else if (rc != -EAGAIN && rc != -EBUSY && rc != -EALREADY &&
			   rc != -ENOENT) {
			break;
		}
		rc = 0;
	}
	/* the freed space is reused once the evictions are durable */
	if (done && !rc)
		rc = store_sync(fs->s, 0);
	return rc < 0 ? rc : done;
}

static void *evict_main(void *arg)
{
	struct fs *fs = arg;
	struct cloud_glue *g = fs->cloud;
	int rc;

	pthread_mutex_lock(&g->ev_mu);
	while (!g->ev_stop) {
		struct timespec until;

		pthread_mutex_unlock(&g->ev_mu);
		rc = evict_pass(fs, false);
		if (rc < 0)
			log_error("cannot evict: %s", strerror(-rc));
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += EVICT_POLL_MS * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		pthread_mutex_lock(&g->ev_mu);
		if (!g->ev_stop)
			pthread_cond_timedwait(&g->ev_cv, &g->ev_mu, &until);
	}
	pthread_mutex_unlock(&g->ev_mu);
	return NULL;
}

static int evict_start(struct fs *fs, struct cloud_glue *g)
{
	int rc;

	if (fs->cfg.evict_off)
		return 0;
	rc = -pthread_create(&g->evictor, NULL, evict_main, fs);
	if (rc) {
		log_error("cannot start the evictor: %s", strerror(-rc));
		return rc;
	}
	g->evicting = true;
	return 0;
}

static void evict_stop(struct cloud_glue *g)
{
	if (!g->evicting)
		return;
	pthread_mutex_lock(&g->ev_mu);
	g->ev_stop = true;
	pthread_cond_signal(&g->ev_cv);
	pthread_mutex_unlock(&g->ev_mu);
	pthread_join(g->evictor, NULL);
	g->evicting = false;
}

/* Room for a change that found none: evict what can be (after sending the
 * queued uploads without their delay when nothing could be). */
static int make_room(struct fs *fs)
{
	struct cloud_glue *g = fs->cloud;
	int rc;

	if (!g || fs->cfg.evict_off)
		return -ENOSPC;
	rc = evict_pass(fs, true);
	if (rc == 0) {
		backup_flush(g->b, EVICT_FLUSH_MS);
		rc = evict_pass(fs, true);
	}
	if (rc < 0)
		return rc;
	return rc > 0 ? 0 : -ENOSPC;
}

int cloud_glue_local(struct fs *fs, uint64_t id)
{
	struct store_doc_info info;
	int rc = store_doc_info(fs->s, id, &info);

	if (rc || !info.evicted)
		return rc;
	if (!fs->cloud)
		return -EIO; /* evicted, and no target to bring it back from */
	return backup_refill_doc(fs->cloud->b, id);
}

/* The ids of a space's documents (collected under the store's lock,
 * refilled after it). */
struct id_list {
	uint64_t *v;
	size_t n, cap;
};

static int collect_id(void *arg, uint64_t id, const char *name)
{
	struct id_list *l = arg;

	(void)name;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		uint64_t *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = id;
	return 0;
}

static int refill_space(struct fs *fs, uint64_t space_id)
{
	struct id_list l = { NULL, 0, 0 };
	int rc = store_doc_list(fs->s, space_id, 0, collect_id, &l);

	for (size_t i = 0; !rc && i < l.n; i++)
		rc = cloud_glue_local(fs, l.v[i]);
	free(l.v);
	return rc;
}

int cloud_glue_retry(struct fs *fs, uint64_t id, int rc, unsigned *tries)
{
	struct store_doc_info info;

	if (rc != -ENODATA && rc != -ENOSPC)
		return rc;
	if (++*tries > RETRY_MAX)
		return rc == -ENODATA ? -EIO : rc;
	if (rc == -ENOSPC)
		return make_room(fs);
	/* a space: bring back each of its evicted documents */
	rc = store_doc_info(fs->s, id, &info);
	if (!rc && info.is_space)
		rc = refill_space(fs, id);
	else if (!rc)
		rc = cloud_glue_local(fs, id);
	/* no room for the content: make some, the caller tries again */
	if (rc == -ENOSPC)
		rc = make_room(fs);
	return rc == -ENODATA ? -EIO : rc;
}

static void glue_locks_init(struct cloud_glue *g)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&g->ev_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->ev_cv, &ca);
	pthread_condattr_destroy(&ca);
}

static void glue_free(struct cloud_glue *g)
{
	pthread_cond_destroy(&g->ev_cv);
	pthread_mutex_destroy(&g->ev_mu);
	cloud_target_free(g->quick);
	cloud_target_free(g->t);
	free(g);
}

int cloud_glue_start(struct fs *fs)
{
	struct cloud_options co, qo;
	struct backup_options bo;
	struct cloud_glue *g;
	bool down = false;
	int rc;

	if (!strcmp(fs->cfg.cloud, "none"))
		return 0;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	glue_locks_init(g);
	cloud_options_default(&co);
	co.s3_endpoint = fs->cfg.s3_endpoint;
	co.s3_region = fs->cfg.s3_region;
	co.s3_path_style = fs->cfg.s3_path_style;
	co.max_object_bytes = object_bound(&fs->cfg, co.max_object_bytes);
	qo = co;
	qo.retry.max_attempts = 1;
	qo.connect_timeout_ms = QUICK_CONNECT_MS;
	qo.timeout_ms = QUICK_TIMEOUT_MS;
	rc = cloud_target_open(fs->cfg.cloud, &co, &g->t);
	if (rc == 0)
		rc = cloud_target_open(fs->cfg.cloud, &qo, &g->quick);
	if (rc < 0) {
		log_error("cannot open cloud target '%s': %s", fs->cfg.cloud,
			  strerror(-rc));
		goto out_free;
	}
	rc = probe(fs, &co, &down);
	if (rc < 0)
		goto out_free;
	backup_options_default(&bo);
	bo.delay_ms = fs->cfg.backup_delay_ms;
	bo.max_doc_bytes = fs->cfg.max_doc_bytes;
	bo.max_patch_bytes = fs->cfg.max_patch_bytes;
	bo.quick = g->quick;
	bo.lease_takeover = fs->cfg.cloud_takeover;
	bo.lease_check_ms = fs->cfg.cloud_lease_ms;
	bo.retention_ns = fs->cfg.retention_ns; /* history */
	rc = backup_start(fs->s, g->t, &bo, &g->b);
	if (rc < 0) {
		log_error("cannot start backup to '%s': %s", fs->cfg.cloud,
			  strerror(-rc));
		goto out_free;
	}
	g->cat = backup_catalog(g->b);
	if (down)
		catalog_note_down(g->cat);
	fs->cloud = g;
	if (evict_start(fs, g) < 0) {
		fs->cloud = NULL;
		backup_stop(g->b, 0);
		rc = -EIO;
		goto out_free;
	}
	log_info("backing up to '%s'", cloud_target_url(g->t));
	return 0;

out_free:
	glue_free(g);
	return rc;
}

void cloud_glue_stop(struct fs *fs)
{
	struct cloud_glue *g = fs->cloud;

	if (!g)
		return;
	evict_stop(g);
	watch_stop(g);
	cloud_target_interrupt(g->quick);
	backup_stop(g->b, STOP_DRAIN_MS);
	glue_free(g);
	fs->cloud = NULL;
}

int cloud_glue_restore(struct fs *fs, uint64_t space_id, const char *key,
		       uint64_t *id)
{
	char space[STORE_NAME_MAX + 1];
	int rc;

	if (!fs->cloud || !cloud_name_valid(key))
		return -ENOENT;
	rc = store_node_name(fs->s, space_id, space, NULL);
	if (rc < 0)
		return rc == -ENOENT ? rc : -EIO;
	switch (catalog_lookup(fs->cloud->cat, space, key)) {
	case CATALOG_PRESENT:
		return backup_restore_doc(fs->cloud->b, space, key, id);
	case CATALOG_REFUSED:
		return -EIO;
	default:
		return -ENOENT; /* absent, or unknown: the uploader reconciles */
	}
}

int cloud_glue_space(struct fs *fs, const char *name, uint64_t *id)
{
	struct store_doc_info root;
	struct store_meta m;
	int rc;

	if (!fs->cloud || !cloud_name_valid(name))
		return -ENOENT;
	if (catalog_lookup(fs->cloud->cat, name, NULL) != CATALOG_PRESENT)
		return -ENOENT;
	if (store_doc_info(fs->s, STORE_ROOT_ID, &root) < 0)
		root.meta.uid = root.meta.gid = 0;
	m.mode = 0755;
	m.uid = root.meta.uid;
	m.gid = root.meta.gid;
	m.mtime_ns = m.ctime_ns = fs_now_ns();
	rc = store_space_create(fs->s, name, &m, id, NULL);
	if (rc == -EEXIST)
		rc = store_space_lookup(fs->s, name, id);
	return rc;
}

static int first_doc(void *arg, const char *name)
{
	(void)name;
	*(bool *)arg = true;
	return 1; /* one is enough */
}

int cloud_glue_space_empty(struct fs *fs, const char *name)
{
	bool any = false;
	int rc;

	if (!fs->cloud || !cloud_name_valid(name))
		return 0;
	rc = backup_list_space(fs->cloud->b, name, first_doc, &any);
	if (rc < 0 && rc != -ENOMEM)
		return 0; /* logged; nothing known: see cloud_glue.h */
	return any ? -ENOTEMPTY : rc < 0 ? rc : 0;
}

void cloud_glue_removed(struct fs *fs, uint64_t parent, const char *name)
{
	char space[STORE_NAME_MAX + 1];

	if (!fs->cloud)
		return;
	if (parent == STORE_ROOT_ID)
		catalog_note_removed(fs->cloud->cat, name, NULL);
	else if (!store_node_name(fs->s, parent, space, NULL))
		catalog_note_removed(fs->cloud->cat, space, name);
	else
		catalog_note_removed(fs->cloud->cat, "", NULL);
}

/* Keep only names the store does not hold under ino. */
static void drop_local(struct fs *fs, uint64_t ino, struct collect *c)
{
	size_t i, k = 0;
	uint64_t id;

	for (i = 0; i < c->n; i++) {
		const char *name = c->arena.p + c->at[i];
		int rc = ino == STORE_ROOT_ID
				 ? store_space_lookup(fs->s, name, &id)
				 : store_doc_lookup(fs->s, ino, name, &id);

		if (rc == -ENOENT && !fs_name_reserved(name))
			c->at[k++] = c->at[i];
	}
	c->n = k;
}

int cloud_glue_dir_open(struct fs *fs, uint64_t ino,
			struct cloud_glue_dir **out)
{
	char space[STORE_NAME_MAX + 1] = "";
	struct collect c = { CBUF_INIT, NULL, 0, 0, 0 };
	struct cloud_glue_dir *d;
	int rc = 0;

	*out = NULL;
	if (!fs->cloud)
		return 0;
	if (ino != STORE_ROOT_ID)
		rc = store_node_name(fs->s, ino, space, NULL);
	if (rc == 0)
		rc = ino == STORE_ROOT_ID
			     ? backup_list_spaces(fs->cloud->b, collect_name,
						  &c)
			     : backup_list_space(fs->cloud->b, space,
						 collect_name, &c);
	if (c.rc < 0)
		rc = c.rc;
	if (rc < 0 && rc != -ENOMEM)
		rc = 0; /* logged: list what the store holds */
	if (rc == 0)
		drop_local(fs, ino, &c);
	if (rc < 0 || c.n == 0)
		goto out_free;
	/* The names come sorted (catalog_list), and stay so. */
	d = malloc(sizeof(*d) + c.n * sizeof(d->names[0]));
	if (!d) {
		rc = -ENOMEM;
		goto out_free;
	}
	d->n = c.n;
	d->names = (char **)(d + 1);
	for (size_t i = 0; i < c.n; i++)
		d->names[i] = c.arena.p + c.at[i];
	d->arena = cbuf_detach(&c.arena, NULL);
	free(c.at);
	*out = d;
	return 0;

out_free:
	free(c.at);
	cbuf_release(&c.arena);
	return rc;
}

bool cloud_glue_dir_has(const struct cloud_glue_dir *d, const char *name)
{
	return d && names_have(d->names, d->n, name);
}

void cloud_glue_dir_free(struct cloud_glue_dir *d)
{
	if (!d)
		return;
	free(d->arena);
	free(d);
}

void cloud_glue_stats(struct fs *fs, struct cloud_glue_stats *out)
{
	struct backup_stats bs;

	memset(out, 0, sizeof(*out));
	if (!fs->cloud)
		return;
	backup_stats(fs->cloud->b, &bs);
	out->queue = bs.queue;
	out->uploads = bs.uploads;
	out->upload_failures = bs.upload_failures;
	out->deletes = bs.deletes;
	out->restores = bs.restores;
	out->restore_failures = bs.restore_failures;
	out->writer = bs.lease_held;
	out->fenced = bs.fenced;
	out->conflicts = bs.conflicts;
	out->adopted = bs.adopted;
}
