/*
 * snapdir.c - MNT/.caravan-snapshots: the store's snapshots
 * (store/snapshot.h) as a read-only tree.
 *
 *   .caravan-snapshots/             one directory per snapshot
 *   .caravan-snapshots/NAME/        the spaces as of the snapshot
 *   .caravan-snapshots/NAME/SPACE/  its documents, read-only files
 *
 * mkdir NAME in the directory takes a snapshot (durable when mkdir
 * returns), rmdir NAME drops it; anything else that would change the tree
 * is EROFS.  A snapshot's directory has its creation time as mtime; its
 * spaces and documents have the mode, owner, times and content they had
 * (a document is materialized like a live one, doc_read_from).  The
 * directory is reserved: the root never lists it and no space can take
 * its name; it exists only on the local mount (nothing is uploaded).
 *
 * Nodes.  The tree's node ids lie above every other (FS_METRICS_INO + 1
 * is the directory itself; the rest are handed out from
 * FS_METRICS_INO + 2 as the kernel first meets them, one per (snapshot,
 * store id), for the life of the mount).  A node names its snapshot by
 * name and log position, so a snapshot deleted and made again under the
 * same name gets new nodes and no page of the old one is ever served.
 * st_ino of a space or document is its store id, as on the live tree.
 * Content never changes under a node, so read-only opens use the page
 * cache (keep_cache) and attributes and names may be cached as long as
 * the mount's timeouts allow.  The kernel's FORGET is ignored: nodes
 * stay until the mount ends (bounded by what was looked up).
 *
 * History.  MNT/.caravan-history/SPACE/KEY/ lists the versions of a live
 * document that can still be read: one read-only file per entry it holds,
 * the newest and at most history (-o history=N) before it, named by its seq
 * zero-padded to 20 digits, holding the document materialized up to that
 * seq (doc_history, doc_read_version).  Compaction keeps the entries
 * those need (doc.h: history).  Its nodes are (store id, seq) pairs, seq 0
 * for the directories.  Versions come and go as the document changes, so
 * the kernel caches none of the tree's names, attributes or listings
 * (timeouts 0, no readdir cache); a version's content never changes while
 * it can be read (keep_cache).  Its mode is the document's without write
 * bits.  A version's mtime, atime and ctime are all the time its change
 * was made (the entry's time, store_entry_times: a version never changes
 * once made); when the store does not know it (an entry indexed before
 * entry times were recorded, or brought back from the cloud after
 * eviction) they are the document's mtime.  A version stays listed while
 * within history=N and history_age=DURATION (doc_history_age).  The
 * directories of documents have the document's times.
 *
 * Locks: sd->mu guards the node table; it is never held across a store
 * call.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs/attr.h"
#include "fs/dir.h"
#include "fs/file.h"
#include "fs/namespace.h"
#include "fs/snapdir.h"
#include "fs/xattr.h"
#include "store/doc.h"
#include "store/snapshot.h"

#define SNAP_TOP_INO (FS_METRICS_INO + 1)
#define HIST_TOP_INO (FS_METRICS_INO + 2)
#define SNAP_NODE_BASE (FS_METRICS_INO + 3)

struct snode {
	uint64_t ino;
	char *snap; /* owned; NULL: a node of the history tree */
	uint64_t lsn; /* the snapshot's log position */
	uint64_t id; /* store id; 0: the snapshot's own directory */
	uint64_t seq; /* history: the version (0: the directory of id) */
	bool size_known;
	uint64_t size;
};

struct fs_snapdir {
	pthread_mutex_t mu;
	struct u64map by_ino; /* ino -> struct snode */
	/* snapshot log position -> struct u64map of store id -> struct
	 * snode (a position names one snapshot: one per frame) */
	struct u64map by_lsn;
	/* history: store id -> struct u64map of seq -> struct snode */
	struct u64map by_hist;
	uint64_t next_ino;
};

static bool mine(uint64_t ino)
{
	return ino >= SNAP_TOP_INO;
}

static struct fs_snapdir *table(struct fs *fs)
{
	struct fs_snapdir *sd = __atomic_load_n(&fs->snapdir, __ATOMIC_ACQUIRE);
	struct fs_snapdir *want = NULL;

	if (sd)
		return sd;
	sd = calloc(1, sizeof(*sd));
	if (!sd)
		return NULL;
	pthread_mutex_init(&sd->mu, NULL);
	u64map_init(&sd->by_ino);
	u64map_init(&sd->by_lsn);
	u64map_init(&sd->by_hist);
	sd->next_ino = SNAP_NODE_BASE;
	if (__atomic_compare_exchange_n(&fs->snapdir, &want, sd, false,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return sd;
	pthread_mutex_destroy(&sd->mu);
	u64map_release(&sd->by_ino);
	u64map_release(&sd->by_lsn);
	u64map_release(&sd->by_hist);
	free(sd);
	return want;
}

void fs_snapdir_free(struct fs *fs)
{
	struct fs_snapdir *sd = fs->snapdir;

	size_t pos = 0;
	void *v;

	if (!sd)
		return;
	while (u64map_next(&sd->by_ino, &pos, NULL, &v)) {
		free(((struct snode *)v)->snap);
		free(v);
	}
	u64map_release(&sd->by_ino);
	pos = 0;
	while (u64map_next(&sd->by_lsn, &pos, NULL, &v)) {
		u64map_release(v);
		free(v);
	}
	u64map_release(&sd->by_lsn);
	pos = 0;
	while (u64map_next(&sd->by_hist, &pos, NULL, &v)) {
		u64map_release(v);
		free(v);
	}
	u64map_release(&sd->by_hist);
	pthread_mutex_destroy(&sd->mu);
	free(sd);
	fs->snapdir = NULL;
}

/* A copy of node ino (snap owned by the caller: free it). */
static int node_get(struct fs *fs, uint64_t ino, struct snode *out)
{
	struct fs_snapdir *sd = table(fs);
	struct snode *n;
	int rc = -ESTALE;

	if (!sd)
		return -ENOMEM;
	pthread_mutex_lock(&sd->mu);
	n = u64map_get(&sd->by_ino, ino);
	if (n) {
		*out = *n;
		out->snap = n->snap ? strdup(n->snap) : NULL;
		rc = out->snap || !n->snap ? 0 : -ENOMEM;
	}
	pthread_mutex_unlock(&sd->mu);
	return rc;
}

/* The node of (snap at lsn, id), or with snap NULL of version seq of id
 * in the history tree, made when new. */
static int node_make(struct fs *fs, const char *snap, uint64_t lsn, uint64_t id,
		     uint64_t seq, uint64_t *ino)
{
	struct fs_snapdir *sd = table(fs);
	struct u64map *ids, *outer;
	struct snode *n = NULL;
	uint64_t k1, k2;
	int rc = 0;

	if (!sd)
		return -ENOMEM;
	outer = snap ? &sd->by_lsn : &sd->by_hist;
	k1 = snap ? lsn : id;
	k2 = snap ? id : seq;
	pthread_mutex_lock(&sd->mu);
	ids = u64map_get(outer, k1);
	if (!ids) {
		ids = malloc(sizeof(*ids));
		if (!ids) {
			rc = -ENOMEM;
			goto out;
		}
		u64map_init(ids);
		rc = u64map_put(outer, k1, ids);
		if (rc) {
			free(ids);
			goto out;
		}
	}
	n = u64map_get(ids, k2);
	if (n) {
		*ino = n->ino;
		goto out;
	}
	n = calloc(1, sizeof(*n));
	if (n && snap)
		n->snap = strdup(snap);
	if (!n || (snap && !n->snap)) {
		free(n);
		rc = -ENOMEM;
		goto out;
	}
	n->ino = sd->next_ino;
	n->lsn = lsn;
	n->id = id;
	n->seq = seq;
	rc = u64map_put(&sd->by_ino, n->ino, n);
	if (!rc) {
		rc = u64map_put(ids, k2, n);
		if (rc)
			u64map_del(&sd->by_ino, n->ino);
	}
	if (rc) {
		free(n->snap);
		free(n);
		goto out;
	}
	sd->next_ino++;
	*ino = n->ino;
out:
	pthread_mutex_unlock(&sd->mu);
	return rc;
}

static int node_of(struct fs *fs, const char *snap, uint64_t lsn, uint64_t id,
		   uint64_t *ino)
{
	return node_make(fs, snap, lsn, id, 0, ino);
}

/* Is ino a node of the history tree? */
static bool is_hist(struct fs *fs, uint64_t ino)
{
	struct fs_snapdir *sd = table(fs);
	struct snode *n;
	bool hist = false;

	if (!sd)
		return false;
	pthread_mutex_lock(&sd->mu);
	n = u64map_get(&sd->by_ino, ino);
	if (n)
		hist = !n->snap;
	pthread_mutex_unlock(&sd->mu);
	return hist;
}

static void size_remember(struct fs *fs, uint64_t ino, uint64_t size)
{
	struct fs_snapdir *sd = table(fs);
	struct snode *n;

	pthread_mutex_lock(&sd->mu);
	n = u64map_get(&sd->by_ino, ino);
	if (n) {
		n->size = size;
		n->size_known = true;
	}
	pthread_mutex_unlock(&sd->mu);
}

/* Is node n's snapshot still the one it names? */
static int node_check(struct fs *fs, const struct snode *n)
{
	uint64_t lsn;
	int rc = store_snapshot_get(fs->s, n->snap, &lsn, NULL);

	if (rc == 0 && lsn != n->lsn)
		rc = -ENOENT;
	return rc;
}

/* ---- attributes ---- */

static void ns_ts(int64_t ns, struct timespec *ts)
{
	ts->tv_sec = ns / 1000000000;
	ts->tv_nsec = ns % 1000000000;
	if (ts->tv_nsec < 0) {
		ts->tv_sec--;
		ts->tv_nsec += 1000000000;
	}
}

static void stat_times(struct stat *st, int64_t mtime_ns, int64_t ctime_ns)
{
	ns_ts(mtime_ns, &st->st_mtim);
	ns_ts(mtime_ns, &st->st_atim);
	ns_ts(ctime_ns, &st->st_ctim);
}

/* The owner of the tree's own directories: the root's. */
static int stat_dir_of_root(struct fs *fs, struct stat *st, int64_t time_ns)
{
	struct store_doc_info root;
	int rc = store_doc_info(fs->s, STORE_ROOT_ID, &root);

	if (rc < 0)
		return rc;
	st->st_mode = S_IFDIR | 0555;
	st->st_nlink = 2;
	st->st_uid = root.meta.uid;
	st->st_gid = root.meta.gid;
	stat_times(st, time_ns, time_ns);
	return 0;
}

struct doc_src {
	struct fs *fs;
	const char *snap;
	uint64_t id;
};

static int doc_src_read(void *rarg, store_entry_fn fn, void *farg)
{
	struct doc_src *d = rarg;

	return store_snapshot_read(d->fs->s, d->snap, d->id, fn, farg);
}

static int doc_text(struct fs *fs, const struct snode *n, struct doc_snap **out)
{
	struct doc_src src = { fs, n->snap, n->id };

	return doc_read_from(doc_src_read, &src, out);
}

/* ---- the history tree ----
 *
 * A document's versions are the sequence numbers of the entries it holds
 * (consecutive: [seq - entries + 1, seq]); the version seq is the
 * document materialized from its first entry up to seq, as doc_read does
 * for the last one. */

/* Is version seq of document id readable?  info receives the document. */
static int hist_check(struct fs *fs, uint64_t id, uint64_t seq,
		      struct store_doc_info *info)
{
	uint64_t first, last;
	int rc = store_doc_info(fs->s, id, info);

	if (rc == 0)
		rc = doc_history_age(fs->s, id, fs->cfg.history,
				     fs->cfg.history_age_ns, &first, &last);
	if (rc == -EISDIR)
		return -ENOTDIR;
	if (rc == 0 && (seq < first || seq > last))
		rc = -ENOENT;
	return rc;
}

static int hist_text(struct fs *fs, uint64_t id, uint64_t seq,
		     struct doc_snap **out)
{
	return doc_read_version(fs->s, id, seq, out);
}

/* A version's name: its seq, zero-padded to 20 digits. */
static void hist_name(uint64_t seq, char out[21])
{
	snprintf(out, 21, "%020" PRIu64, seq);
}

static int hist_parse(const char *name, uint64_t *seq)
{
	uint64_t v = 0;

	if (strlen(name) != 20)
		return -ENOENT;
	for (int i = 0; i < 20; i++) {
		if (name[i] < '0' || name[i] > '9' || v > (UINT64_MAX - 9) / 10)
			return -ENOENT;
		v = v * 10 + (uint64_t)(name[i] - '0');
	}
	*seq = v;
	return v ? 0 : -ENOENT;
}

static int hist_stat(struct fs *fs, uint64_t ino, const struct snode *n,
		     struct stat *st)
{
	struct store_doc_info info;
	struct doc_snap *text;
	int64_t t = 0;
	size_t len;
	int rc;

	if (n->seq == 0) {
		rc = store_doc_info(fs->s, n->id, &info);
		if (rc < 0)
			return rc;
		st->st_ino = ino;
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		st->st_uid = info.meta.uid;
		st->st_gid = info.meta.gid;
		stat_times(st, info.meta.mtime_ns, info.meta.ctime_ns);
		return 0;
	}
	rc = hist_check(fs, n->id, n->seq, &info);
	if (rc == 0)
		rc = doc_version_time(fs->s, n->id, n->seq, &t);
	if (rc < 0)
		return rc;
	if (t <= 0) /* not recorded (store/snapshot.h): the document's */
		t = info.meta.mtime_ns;
	st->st_ino = ino;
	st->st_mode = S_IFREG | (info.meta.mode & 0444);
	st->st_nlink = 1;
	st->st_uid = info.meta.uid;
	st->st_gid = info.meta.gid;
	stat_times(st, t, t);
	if (!n->size_known) {
		rc = hist_text(fs, n->id, n->seq, &text);
		if (rc < 0)
			return rc;
		doc_snap_text(text, &len);
		doc_snap_put(text);
		size_remember(fs, ino, len);
		st->st_size = (off_t)len;
	} else {
		st->st_size = (off_t)n->size;
	}
	st->st_blocks = (blkcnt_t)((st->st_size + 511) / 512);
	return 0;
}

static int hist_lookup(struct fs *fs, const struct snode *n, const char *name,
		       uint64_t *ino)
{
	struct store_doc_info info;
	uint64_t id, seq;
	int rc;

	if (!n) { /* the top: spaces */
		rc = store_space_lookup(fs->s, name, &id);
		return rc ? rc : node_make(fs, NULL, 0, id, 0, ino);
	}
	if (n->seq)
		return -ENOTDIR;
	rc = store_doc_info(fs->s, n->id, &info);
	if (rc < 0)
		return rc;
	if (info.is_space) {
		rc = store_doc_lookup(fs->s, n->id, name, &id);
		return rc ? rc : node_make(fs, NULL, 0, id, 0, ino);
	}
	rc = hist_parse(name, &seq);
	if (rc == 0)
		rc = hist_check(fs, n->id, seq, &info);
	return rc ? rc : node_make(fs, NULL, 0, n->id, seq, ino);
}

static int snap_stat(struct fs *fs, uint64_t ino, struct stat *st)
{
	struct store_doc_info info;
	struct doc_snap *text;
	struct snode n;
	int64_t t;
	size_t len;
	int rc;

	memset(st, 0, sizeof(*st));
	st->st_blksize = 4096;
	if (ino == SNAP_TOP_INO) {
		st->st_ino = ino;
		return stat_dir_of_root(fs, st, fs->start_ns);
	}
	if (ino == HIST_TOP_INO) {
		st->st_ino = ino;
		return stat_dir_of_root(fs, st, fs->start_ns);
	}
	rc = node_get(fs, ino, &n);
	if (rc < 0)
		return rc;
	if (!n.snap)
		return hist_stat(fs, ino, &n, st);
	rc = node_check(fs, &n);
	if (rc == 0 && n.id == 0) {
		st->st_ino = ino;
		rc = store_snapshot_get(fs->s, n.snap, NULL, &t);
		if (rc == 0)
			rc = stat_dir_of_root(fs, st, t);
		goto out;
	}
	if (rc == 0)
		rc = store_snapshot_info(fs->s, n.snap, n.id, &info);
	if (rc < 0)
		goto out;
	st->st_ino = n.id;
	st->st_mode = (info.is_space ? S_IFDIR : S_IFREG) |
		      (info.meta.mode & 07777);
	st->st_nlink = info.is_space ? 2 : 1;
	st->st_uid = info.meta.uid;
	st->st_gid = info.meta.gid;
	stat_times(st, info.meta.mtime_ns, info.meta.ctime_ns);
	if (info.is_space)
		goto out;
	if (!n.size_known) {
		rc = doc_text(fs, &n, &text);
		if (rc < 0)
			goto out;
		doc_snap_text(text, &len);
		doc_snap_put(text);
		n.size = len;
		size_remember(fs, ino, len);
	}
	st->st_size = (off_t)n.size;
	st->st_blocks = (blkcnt_t)((n.size + 511) / 512);
out:
	free(n.snap);
	return rc;
}

static int snap_entry(struct fs *fs, uint64_t ino, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino;
	e->generation = 1;
	e->attr_timeout = fs->cfg.attr_timeout_s;
	e->entry_timeout = fs->cfg.entry_timeout_s;
	if (ino == HIST_TOP_INO || is_hist(fs, ino)) {
		/* versions come and go as the document changes: the kernel
		 * asks again each time */
		e->attr_timeout = 0;
		e->entry_timeout = 0;
	}
	return snap_stat(fs, ino, &e->attr);
}

/* ---- names ---- */

static int snap_lookup(struct fs *fs, uint64_t parent, const char *name,
		       uint64_t *ino)
{
	struct snode n;
	uint64_t lsn, id;
	int rc;

	if (parent == SNAP_TOP_INO) {
		rc = store_snapshot_get(fs->s, name, &lsn, NULL);
		return rc ? rc : node_of(fs, name, lsn, 0, ino);
	}
	if (parent == HIST_TOP_INO)
		return hist_lookup(fs, NULL, name, ino);
	rc = node_get(fs, parent, &n);
	if (rc < 0)
		return rc;
	if (!n.snap)
		return hist_lookup(fs, &n, name, ino);
	rc = node_check(fs, &n);
	if (rc == 0)
		rc = store_snapshot_lookup(fs->s, n.snap, n.id, name, &id);
	if (rc == -ENOENT && n.id) { /* a document is no directory */
		struct store_doc_info info;

		if (!store_snapshot_info(fs->s, n.snap, n.id, &info) &&
		    !info.is_space)
			rc = -ENOTDIR;
	}
	if (rc == 0)
		rc = node_of(fs, n.snap, n.lsn, id, ino);
	free(n.snap);
	return rc;
}

static void reply_entry_of(fuse_req_t req, struct fs *fs, int rc, uint64_t ino)
{
	struct fuse_entry_param e;

	if (rc == 0)
		rc = snap_entry(fs, ino, &e);
	if (rc < 0)
		fs_reply_err(req, rc);
	else
		fuse_reply_entry(req, &e);
}

void fs_snap_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fuse_req_userdata(req);
	uint64_t ino = 0;
	int rc;

	if (parent == STORE_ROOT_ID && !strcmp(name, FS_SNAPDIR_NAME)) {
		reply_entry_of(req, fs, 0, SNAP_TOP_INO);
		return;
	}
	if (parent == STORE_ROOT_ID && !strcmp(name, FS_HISTDIR_NAME)) {
		reply_entry_of(req, fs, 0, HIST_TOP_INO);
		return;
	}
	if (!mine(parent)) {
		fs_op_lookup(req, parent, name);
		return;
	}
	rc = snap_lookup(fs, parent, name, &ino);
	reply_entry_of(req, fs, rc, ino);
}

void fs_snap_op_getattr(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct stat st;
	int rc;

	if (!mine(ino)) {
		fs_op_getattr(req, ino, fi);
		return;
	}
	rc = snap_stat(fs, ino, &st);
	if (rc < 0)
		fs_reply_err(req, rc);
	else
		fuse_reply_attr(req, &st,
				ino == HIST_TOP_INO || is_hist(fs, ino)
					? 0
					: fs->cfg.attr_timeout_s);
}

/* ---- taking and dropping snapshots ---- */

void fs_snap_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode)
{
	struct fs *fs = fuse_req_userdata(req);
	uint64_t lsn = 0, ino = 0;
	int rc;

	if (!mine(parent)) {
		fs_op_mkdir(req, parent, name, mode);
		return;
	}
	if (parent != SNAP_TOP_INO) {
		fs_reply_err(req, -EROFS);
		return;
	}
	rc = fs->cfg.read_only ? -EROFS : fs_name_check(name);
	if (rc == 0)
		rc = store_snapshot_create(fs->s, name, &lsn);
	if (rc == 0)
		rc = node_of(fs, name, lsn, 0, &ino);
	if (rc < 0)
		fs_log_failure(fs, STORE_ROOT_ID, "snapshot", rc);
	reply_entry_of(req, fs, rc, ino);
}

void fs_snap_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fuse_req_userdata(req);
	int rc;

	if (!mine(parent)) {
		fs_op_rmdir(req, parent, name);
		return;
	}
	if (parent != SNAP_TOP_INO) {
		fs_reply_err(req, -EROFS);
		return;
	}
	rc = fs->cfg.read_only ? -EROFS : store_snapshot_delete(fs->s, name);
	fs_reply_err(req, rc);
}

/* ---- everything else that changes: EROFS ---- */

void fs_snap_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
			int to_set, struct fuse_file_info *fi)
{
	if (!mine(ino))
		fs_op_setattr(req, ino, attr, to_set, fi);
	else
		fs_reply_err(req, -EROFS);
}

void fs_snap_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, dev_t rdev)
{
	if (!mine(parent))
		fs_op_mknod(req, parent, name, mode, rdev);
	else
		fs_reply_err(req, -EROFS);
}

void fs_snap_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	if (!mine(parent))
		fs_op_unlink(req, parent, name);
	else
		fs_reply_err(req, -EROFS);
}

void fs_snap_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
			const char *name)
{
	if (!mine(parent))
		fs_op_symlink(req, link, parent, name);
	else
		fs_reply_err(req, -EROFS);
}

void fs_snap_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		       fuse_ino_t newparent, const char *newname,
		       unsigned int flags)
{
	if (!mine(parent) && !mine(newparent))
		fs_op_rename(req, parent, name, newparent, newname, flags);
	else
		fs_reply_err(req, -EROFS);
}

void fs_snap_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		     const char *newname)
{
	if (!mine(ino) && !mine(newparent))
		fs_op_link(req, ino, newparent, newname);
	else
		fs_reply_err(req, -EROFS);
}

void fs_snap_op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		       mode_t mode, struct fuse_file_info *fi)
{
	if (!mine(parent))
		fs_op_create(req, parent, name, mode, fi);
	else
		fs_reply_err(req, -EROFS);
}

void fs_snap_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		      size_t size, off_t off, struct fuse_file_info *fi)
{
	if (!mine(ino))
		fs_op_write(req, ino, buf, size, off, fi);
	else
		fs_reply_err(req, -EROFS);
}

void fs_snap_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			 const char *value, size_t size, int flags)
{
	if (!mine(ino))
		fs_op_setxattr(req, ino, name, value, size, flags);
	else
		fs_reply_err(req, -EROFS);
}

void fs_snap_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	if (!mine(ino))
		fs_op_removexattr(req, ino, name);
	else
		fs_reply_err(req, -EROFS);
}

void fs_snap_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			 size_t size)
{
	if (!mine(ino))
		fs_op_getxattr(req, ino, name, size);
	else
		fs_reply_err(req, -ENODATA);
}

void fs_snap_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	if (!mine(ino))
		fs_op_listxattr(req, ino, size);
	else if (size == 0)
		fuse_reply_xattr(req, 0);
	else
		fuse_reply_buf(req, NULL, 0);
}

/* ---- files ---- */

void fs_snap_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct doc_snap *text = NULL;
	struct store_doc_info info;
	struct snode n = { 0 };
	int rc;

	if (!mine(ino)) {
		fs_op_open(req, ino, fi);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fs_reply_err(req, -EROFS);
		return;
	}
	rc = ino == SNAP_TOP_INO || ino == HIST_TOP_INO ? -EISDIR
							: node_get(fs, ino, &n);
	if (rc == 0 && !n.snap) {
		rc = n.seq ? hist_text(fs, n.id, n.seq, &text) : -EISDIR;
		goto opened;
	}
	if (rc == 0)
		rc = node_check(fs, &n);
	if (rc == 0)
		rc = n.id ? store_snapshot_info(fs->s, n.snap, n.id, &info)
			  : -EISDIR;
	if (rc == 0 && info.is_space)
		rc = -EISDIR;
	if (rc == 0)
		rc = doc_text(fs, &n, &text);
opened:
	free(n.snap);
	if (rc < 0) {
		fs_reply_err(req, rc);
		return;
	}
	atomic_fetch_add(&fs->c.opens, 1);
	fi->fh = (uintptr_t)text;
	fi->keep_cache = 1; /* the content of a node never changes */
	fi->noflush = 1;
	if (fuse_reply_open(req, fi) == -ENOENT)
		doc_snap_put(text); /* interrupted: no release */
}

/* The reply is built from a reference of our own: once the kernel has
 * the data, the reader may close and release the handle before the
 * sending thread is done with the buffer (as fs_op_read). */
void fs_snap_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct doc_snap *text;
	const char *p;
	size_t len;

	if (!mine(ino)) {
		fs_op_read(req, ino, size, off, fi);
		return;
	}
	text = doc_snap_get((struct doc_snap *)(uintptr_t)fi->fh);
	p = doc_snap_text(text, &len);
	if (off < 0 || (uint64_t)off >= len) {
		size = 0;
		off = 0;
	} else if (size > len - (size_t)off) {
		size = len - (size_t)off;
	}
	atomic_fetch_add(&fs->c.reads, 1);
	atomic_fetch_add(&fs->c.read_bytes, size);
	fuse_reply_buf(req, size ? p + off : NULL, size);
	doc_snap_put(text);
}

void fs_snap_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (!mine(ino))
		fs_op_flush(req, ino, fi);
	else
		fs_reply_err(req, 0);
}

void fs_snap_op_release(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	if (!mine(ino)) {
		fs_op_release(req, ino, fi);
		return;
	}
	doc_snap_put((struct doc_snap *)(uintptr_t)fi->fh);
	fs_reply_err(req, 0);
}

void fs_snap_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		      struct fuse_file_info *fi)
{
	if (!mine(ino))
		fs_op_fsync(req, ino, datasync, fi);
	else
		fs_reply_err(req, 0); /* a snapshot is durable when made */
}

/* ---- directories ---- */

/* A listing taken whole at opendir (fi->fh): names and node ids; the
 * cookie of entry i is i + 1. */
struct slist {
	struct fs *fs;
	struct snode *dir; /* the listed node (NULL: the top) */
	bool changes; /* a listing that may change (not a snapshot's) */
	char **names;
	uint64_t *inos;
	size_t n, cap;
	int rc;
};

static void slist_free(struct slist *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->names[i]);
	free(l->names);
	free(l->inos);
	free(l);
}

static int slist_push(struct slist *l, const char *name, uint64_t ino)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		char **names = realloc(l->names, cap * sizeof(*names));
		uint64_t *inos;

		if (!names)
			return -ENOMEM;
		l->names = names;
		inos = realloc(l->inos, cap * sizeof(*inos));
		if (!inos)
			return -ENOMEM;
		l->inos = inos;
		l->cap = cap;
	}
	l->names[l->n] = strdup(name);
	if (!l->names[l->n])
		return -ENOMEM;
	l->inos[l->n++] = ino; /* the id for now: the node comes later */
	return 0;
}

static int list_snap(void *arg, const char *name, uint64_t lsn, int64_t t)
{
	(void)t;
	return slist_push(arg, name, lsn);
}

static int list_name(void *arg, uint64_t id, const char *name)
{
	return slist_push(arg, name, id);
}

/* The listing of a directory of the history tree (n NULL: the top). */
static int hist_list(struct fs *fs, const struct snode *n, struct slist *l)
{
	struct store_doc_info info;
	uint64_t first, last;
	char name[21];
	int rc;

	l->changes = true;
	if (!n) {
		rc = store_space_list(fs->s, 0, list_name, l);
	} else if (n->seq) {
		return -ENOTDIR;
	} else {
		rc = store_doc_info(fs->s, n->id, &info);
		if (rc == 0 && info.is_space)
			rc = store_doc_list(fs->s, n->id, 0, list_name, l);
		else if (rc == 0 &&
			 !doc_history_age(fs->s, n->id, fs->cfg.history,
					  fs->cfg.history_age_ns, &first,
					  &last))
			for (uint64_t seq = first; rc == 0 && seq <= last;
			     seq++) {
				hist_name(seq, name);
				rc = slist_push(l, name, seq);
			}
		if (rc == 0 && !info.is_space) {
			for (size_t i = 0; rc == 0 && i < l->n; i++)
				rc = node_make(fs, NULL, 0, n->id, l->inos[i],
					       &l->inos[i]);
			return rc;
		}
	}
	for (size_t i = 0; rc == 0 && i < l->n; i++)
		rc = node_make(fs, NULL, 0, l->inos[i], 0, &l->inos[i]);
	return rc;
}

static int slist_build(struct fs *fs, uint64_t ino, struct slist *l)
{
	struct snode n;
	int rc;

	if (ino == SNAP_TOP_INO) {
		rc = store_snapshot_list(fs->s, list_snap, l);
		/* names first, nodes after (node_of takes no store lock) */
		for (size_t i = 0; rc == 0 && i < l->n; i++)
			rc = node_of(fs, l->names[i], l->inos[i], 0,
				     &l->inos[i]);
		return rc;
	}
	if (ino == HIST_TOP_INO)
		return hist_list(fs, NULL, l);
	rc = node_get(fs, ino, &n);
	if (rc < 0)
		return rc;
	if (!n.snap)
		return hist_list(fs, &n, l);
	rc = node_check(fs, &n);
	if (rc == 0 && n.id) {
		struct store_doc_info info;

		rc = store_snapshot_info(fs->s, n.snap, n.id, &info);
		if (rc == 0 && !info.is_space)
			rc = -ENOTDIR;
	}
	if (rc == 0)
		rc = store_snapshot_names(fs->s, n.snap, n.id, list_name, l);
	for (size_t i = 0; rc == 0 && i < l->n; i++)
		rc = node_of(fs, n.snap, n.lsn, l->inos[i], &l->inos[i]);
	free(n.snap);
	return rc;
}

void fs_snap_op_opendir(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct slist *l;
	int rc;

	if (!mine(ino)) {
		fs_op_opendir(req, ino, fi);
		return;
	}
	l = calloc(1, sizeof(*l));
	rc = l ? slist_build(fs, ino, l) : -ENOMEM;
	if (rc < 0) {
		slist_free(l);
		fs_reply_err(req, rc);
		return;
	}
	fi->fh = (uintptr_t)l;
	/* a snapshot's listings never change; the list of snapshots does */
	fi->keep_cache = fi->cache_readdir = ino != SNAP_TOP_INO && !l->changes;
	if (fuse_reply_open(req, fi) == -ENOENT)
		slist_free(l);
}

static void fill(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		 struct fuse_file_info *fi, bool plus)
{
	struct fs *fs = fuse_req_userdata(req);
	struct slist *l = (struct slist *)(uintptr_t)fi->fh;
	char *buf = malloc(size);
	size_t pos = 0;

	if (!buf) {
		fs_reply_err(req, -ENOMEM);
		return;
	}
	for (size_t i = off < 0 ? 0 : (size_t)off; i < l->n; i++) {
		struct fuse_entry_param e;
		size_t need;

		if (plus) {
			if (snap_entry(fs, l->inos[i], &e) < 0)
				continue; /* gone since opendir */
			need = fuse_add_direntry_plus(req, buf + pos,
						      size - pos, l->names[i],
						      &e, (off_t)i + 1);
		} else {
			struct stat st = { .st_ino = l->inos[i] };

			need = fuse_add_direntry(req, buf + pos, size - pos,
						 l->names[i], &st,
						 (off_t)i + 1);
		}
		if (need > size - pos)
			break;
		pos += need;
	}
	(void)ino;
	fuse_reply_buf(req, buf, pos);
	free(buf);
}

void fs_snap_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	if (!mine(ino))
		fs_op_readdir(req, ino, size, off, fi);
	else
		fill(req, ino, size, off, fi, false);
}

void fs_snap_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			    off_t off, struct fuse_file_info *fi)
{
	if (!mine(ino))
		fs_op_readdirplus(req, ino, size, off, fi);
	else
		fill(req, ino, size, off, fi, true);
}

void fs_snap_op_releasedir(fuse_req_t req, fuse_ino_t ino,
			   struct fuse_file_info *fi)
{
	if (!mine(ino)) {
		fs_op_releasedir(req, ino, fi);
		return;
	}
	slist_free((struct slist *)(uintptr_t)fi->fh);
	fs_reply_err(req, 0);
}

void fs_snap_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			 struct fuse_file_info *fi)
{
	if (!mine(ino))
		fs_op_fsyncdir(req, ino, datasync, fi);
	else
		fs_reply_err(req, 0);
}
