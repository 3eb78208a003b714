/*
 * ops.c - the caravanfs filesystem: nodes, names and directories.
 *
 * This is the FUSE low-level operations table; the file operations are in
 * file.c, extended attributes in xattr.c.  The design:
 *
 * Nodes.  The FUSE node id of every node is its store id (STORE_ROOT_ID is
 * FUSE_ROOT_ID, 1), so st_ino is stable for a document's lifetime and
 * across remounts, and since the store never reuses an id, the generation
 * is constant.  The root lists spaces, a space lists documents; nothing
 * else exists except the hidden metrics file FS_METRICS_NAME at the root
 * (node FS_METRICS_INO, above any store id).  No per-node state lives
 * here, so lookup counts need no bookkeeping and forget is a no-op.
 *
 * Directory offsets.  The store lists a directory in id order from a given
 * id; the offset cookie of an entry is its id + 1 (0 and 1 are "." and
 * "..", store ids of spaces and documents start at 2), so a listing that
 * continues after concurrent creates and deletes resumes exactly after the
 * last name returned: every name present throughout is returned once.
 * With cloud backup, opendir also takes a sorted snapshot of the names the
 * cloud holds and the store does not (cloud_glue_dir, in fi->fh); they
 * follow the local names with cookies FS_CLOUD_BASE + index + 1, and the
 * local phase skips any name of the snapshot (one restored meanwhile), so
 * each name is still listed once.  A lookup of such a name restores it.
 *
 * Kernel caching (the rule: a reader never sees stale or torn content after
 * a change made through the mount):
 *   - Every open file is direct_io: reads and writes bypass the page
 *     cache, so each handle reads the snapshot it took at open (one
 *     consistent version from open to close; a page cache is per inode and
 *     would mix versions between handles) and a write is seen by the next
 *     open at once.  Consequence: shared writable mmap is not available.
 *   - attr_timeout is 0: st_size changes with every patch by an amount the
 *     kernel cannot predict (a merge is not an append), so every stat asks
 *     us; the answer comes from the materialized cache (no rematerializing).
 *   - entry_timeout (option, default 1 s) caches positive names only:
 *     names change only through this mount (create, unlink, rename, which
 *     the kernel applies to its own name cache) or by a cloud restore,
 *     which only adds names; negative lookups are never cached.
 *
 * Locks.  The store and the doc module are thread-safe and serialize per
 * document.  fs->meta_mu serializes the read-modify-write of metadata in
 * setattr; each open handle has its own mutex (file.c); counters are
 * atomics.  No lock of this file is held while calling into the store
 * except meta_mu, and no store callback takes one.
 *
 * Errors are the store's negative errnos, sent unchanged except -EBADMSG
 * (a damaged entry), which the kernel gets as EIO after a log line.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs/cloud_glue.h"
#include "fs/fs.h"
#include "util/log.h"

enum node_kind {
	NODE_ROOT,
	NODE_SPACE,
	NODE_DOC,
	NODE_METRICS
};

int64_t fs_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void ns_to_ts(int64_t ns, struct timespec *ts)
{
	ts->tv_sec = ns / 1000000000;
	ts->tv_nsec = ns % 1000000000;
	if (ts->tv_nsec < 0) {
		ts->tv_sec--;
		ts->tv_nsec += 1000000000;
	}
}

void fs_log_failure(struct fs *fs, uint64_t id, const char *what, int rc)
{
	char space[STORE_NAME_MAX + 1] = "?", key[STORE_NAME_MAX + 1] = "";
	bool user = rc == -EINVAL || rc == -EFBIG || rc == -ENOENT ||
		    rc == -EEXIST || rc == -ENOTEMPTY || rc == -EPERM ||
		    rc == -ENAMETOOLONG || rc == -EISDIR || rc == -ENOTDIR;

	if (user && !log_enabled(LOG_LVL_DEBUG))
		return;
	if (store_node_name(fs->s, id, space, key) < 0)
		snprintf(space, sizeof(space), "#%llu", (unsigned long long)id);
	log_msg(user ? LOG_LVL_DEBUG : LOG_LVL_WARN, "cannot %s '%s%s%s': %s",
		what, space, key[0] ? "/" : "", key, strerror(-rc));
}

static void reply_err(fuse_req_t req, int rc)
{
	if (rc == -EBADMSG)
		rc = -EIO;
	fuse_reply_err(req, -rc);
}

bool fs_name_reserved(const char *name)
{
	return !strncmp(name, FS_RESERVED_PREFIX, strlen(FS_RESERVED_PREFIX));
}

int fs_name_check(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || !strcmp(name, ".") || !strcmp(name, "..") ||
	    strchr(name, '/'))
		return -EINVAL;
	if (n > STORE_NAME_MAX)
		return -ENAMETOOLONG;
	if (fs_name_reserved(name))
		return -EINVAL;
	return 0;
}

static int node_kind(struct fs *fs, uint64_t ino, enum node_kind *kind)
{
	struct store_doc_info info;
	int rc;

	if (ino == STORE_ROOT_ID) {
		*kind = NODE_ROOT;
		return 0;
	}
	if (ino == FS_METRICS_INO) {
		*kind = NODE_METRICS;
		return 0;
	}
	rc = store_doc_info(fs->s, ino, &info);
	if (rc < 0)
		return rc;
	*kind = info.is_space ? NODE_SPACE : NODE_DOC;
	return 0;
}

static void stat_meta(struct stat *st, const struct store_meta *m)
{
	st->st_mode |= m->mode & 07777;
	st->st_uid = m->uid;
	st->st_gid = m->gid;
	ns_to_ts(m->mtime_ns, &st->st_mtim);
	ns_to_ts(m->mtime_ns, &st->st_atim);
	ns_to_ts(m->ctime_ns, &st->st_ctim);
}

void fs_root_init(struct fs *fs)
{
	struct store_doc_info info;

	fs->start_ns = fs_now_ns();
	if (store_doc_info(fs->s, STORE_ROOT_ID, &info) == 0 &&
	    info.meta.mode && info.meta.mtime_ns) {
		fs->root_meta = info.meta;
		return;
	}
	fs->root_meta.mode = 0755;
	fs->root_meta.uid = getuid();
	fs->root_meta.gid = getgid();
	fs->root_meta.mtime_ns = fs->root_meta.ctime_ns = fs->start_ns;
}

static int stat_root(struct fs *fs, struct stat *st)
{
	struct store_stats ss;

	store_stats(fs->s, &ss);
	st->st_mode = S_IFDIR;
	st->st_nlink = 2 + ss.spaces;
	pthread_mutex_lock(&fs->meta_mu);
	stat_meta(st, &fs->root_meta);
	pthread_mutex_unlock(&fs->meta_mu);
	return 0;
}

static int stat_metrics(struct fs *fs, struct stat *st)
{
	char *text;
	size_t len;
	int rc;

	rc = fs_metrics_render(fs, &text, &len);
	if (rc < 0)
		return rc;
	free(text);
	st->st_mode = S_IFREG | 0444;
	st->st_nlink = 1;
	st->st_size = (off_t)len;
	st->st_uid = getuid();
	st->st_gid = getgid();
	ns_to_ts(fs_now_ns(), &st->st_mtim);
	st->st_atim = st->st_ctim = st->st_mtim;
	return 0;
}

int fs_stat(struct fs *fs, uint64_t ino, struct stat *st)
{
	struct store_doc_info info;
	uint64_t size;
	int rc;

	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_blksize = 4096;
	if (ino == STORE_ROOT_ID)
		return stat_root(fs, st);
	if (ino == FS_METRICS_INO)
		return stat_metrics(fs, st);
	rc = store_doc_info(fs->s, ino, &info);
	if (rc < 0)
		return rc;
	if (info.is_space) {
		st->st_mode = S_IFDIR;
		st->st_nlink = 2;
		stat_meta(st, &info.meta);
		return 0;
	}
	rc = doc_size(fs->doc, ino, &size);
	if (rc < 0)
		return rc;
	st->st_mode = S_IFREG;
	st->st_nlink = 1;
	st->st_size = (off_t)size;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
	stat_meta(st, &info.meta);
	return 0;
}

int fs_entry(struct fs *fs, uint64_t id, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = id;
	e->generation = 1;
	e->attr_timeout = 0;
	e->entry_timeout = fs->cfg.entry_timeout_s;
	return fs_stat(fs, id, &e->attr);
}

static void meta_new(fuse_req_t req, mode_t mode, struct store_meta *m)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	m->mode = mode & 07777;
	m->uid = ctx->uid;
	m->gid = ctx->gid;
	m->mtime_ns = m->ctime_ns = fs_now_ns();
}

/* ---- lookup ---- */

static int child_lookup(struct fs *fs, uint64_t parent, const char *name,
			uint64_t *id)
{
	int rc;

	if (strlen(name) > STORE_NAME_MAX)
		return -ENAMETOOLONG;
	if (parent == STORE_ROOT_ID) {
		if (!strcmp(name, FS_METRICS_NAME)) {
			*id = FS_METRICS_INO;
			return 0;
		}
		if (fs_name_reserved(name))
			return -ENOENT;
		rc = store_space_lookup(fs->s, name, id);
		if (rc == -ENOENT)
			rc = cloud_glue_space(fs, name, id);
		return rc;
	}
	if (parent == FS_METRICS_INO)
		return -ENOTDIR;
	if (fs_name_reserved(name))
		return -ENOENT;
	rc = store_doc_lookup(fs->s, parent, name, id);
	if (rc == -ENOENT)
		rc = cloud_glue_restore(fs, parent, name, id);
	return rc;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fuse_entry_param e;
	uint64_t id;
	int rc;

	atomic_fetch_add(&fs->c.lookups, 1);
	rc = child_lookup(fs, parent, name, &id);
	if (rc == 0)
		rc = fs_entry(fs, id, &e);
	if (rc < 0)
		reply_err(req, rc);
	else
		fuse_reply_entry(req, &e);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	fuse_reply_none(req);
}

/* ---- attributes ---- */

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct stat st;
	int rc;

	rc = fs_stat(fs, ino, &st);
	if (rc < 0)
		reply_err(req, rc);
	else
		fuse_reply_attr(req, &st, 0);
}

/* Who may change what: the owner the mode and group, root everything. */
static int meta_allowed(fuse_req_t req, const struct store_meta *m,
			const struct stat *attr, int to_set)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	if (ctx->uid == 0)
		return 0;
	if ((to_set & FUSE_SET_ATTR_UID) && attr->st_uid != m->uid)
		return -EPERM;
	if ((to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_GID)) &&
	    ctx->uid != m->uid)
		return -EPERM;
	if ((to_set & FUSE_SET_ATTR_MTIME) && ctx->uid != m->uid)
		return -EPERM;
	return 0;
}

static int meta_update(fuse_req_t req, struct fs *fs, uint64_t ino,
		       const struct stat *attr, int to_set)
{
	struct store_doc_info info;
	struct store_meta m;
	int rc;

	pthread_mutex_lock(&fs->meta_mu);
	if (ino == STORE_ROOT_ID) {
		m = fs->root_meta;
	} else {
		rc = store_doc_info(fs->s, ino, &info);
		if (rc < 0)
			goto out_unlock;
		m = info.meta;
	}
	rc = meta_allowed(req, &m, attr, to_set);
	if (rc < 0)
		goto out_unlock;
	if (to_set & FUSE_SET_ATTR_MODE)
		m.mode = attr->st_mode & 07777;
	if (to_set & FUSE_SET_ATTR_UID)
		m.uid = attr->st_uid;
	if (to_set & FUSE_SET_ATTR_GID)
		m.gid = attr->st_gid;
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		m.mtime_ns = fs_now_ns();
	else if (to_set & FUSE_SET_ATTR_MTIME)
		m.mtime_ns = (int64_t)attr->st_mtim.tv_sec * 1000000000 +
			     attr->st_mtim.tv_nsec;
	m.ctime_ns = fs_now_ns();
	rc = store_meta_set(fs->s, ino, &m, NULL);
	if (ino == STORE_ROOT_ID) {
		/* The store keeps no attributes of the root: they last as
		 * long as the mount. */
		if (rc == -ENOENT)
			rc = 0;
		if (rc == 0)
			fs->root_meta = m;
	}
out_unlock:
	pthread_mutex_unlock(&fs->meta_mu);
	return rc;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	const int meta_bits = FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID |
			      FUSE_SET_ATTR_GID | FUSE_SET_ATTR_MTIME |
			      FUSE_SET_ATTR_MTIME_NOW;
	enum node_kind kind;
	struct stat st;
	int rc;

	rc = node_kind(fs, ino, &kind);
	if (rc == 0 && kind == NODE_METRICS)
		rc = -EPERM;
	if (rc == 0 && (to_set & FUSE_SET_ATTR_SIZE)) {
		if (kind != NODE_DOC)
			rc = -EISDIR;
		else if (attr->st_size != 0)
			rc = -EINVAL;
		else
			rc = doc_reset(fs->doc, ino, NULL);
		if (rc == 0 && fi)
			fs_handle_truncated(fi);
		if (rc < 0)
			fs_log_failure(fs, ino, "truncate", rc);
	}
	if (rc == 0 && (to_set & meta_bits)) {
		rc = meta_update(req, fs, ino, attr, to_set);
		if (rc < 0)
			fs_log_failure(fs, ino, "change the attributes of", rc);
	}
	if (rc == 0)
		rc = fs_stat(fs, ino, &st);
	if (rc < 0)
		reply_err(req, rc);
	else
		fuse_reply_attr(req, &st, 0);
}

/* ---- spaces ---- */

static int parent_is_space(struct fs *fs, uint64_t parent)
{
	enum node_kind kind;
	int rc;

	rc = node_kind(fs, parent, &kind);
	if (rc < 0)
		return rc;
	if (kind == NODE_SPACE)
		return 0;
	if (kind == NODE_ROOT)
		return -EPERM;
	return -ENOTDIR;
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fuse_entry_param e;
	struct store_meta m;
	uint64_t id;
	int rc;

	if (parent != STORE_ROOT_ID) {
		rc = parent_is_space(fs, parent);
		reply_err(req, rc == 0 ? -EPERM : rc);
		return;
	}
	rc = fs_name_check(name);
	if (rc == 0) {
		meta_new(req, mode, &m);
		rc = store_space_create(fs->s, name, &m, &id, NULL);
	}
	if (rc == 0)
		rc = fs_entry(fs, id, &e);
	if (rc < 0)
		reply_err(req, rc);
	else
		fuse_reply_entry(req, &e);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fuse_req_userdata(req);
	uint64_t id;
	int rc;

	if (parent != STORE_ROOT_ID) {
		rc = store_doc_lookup(fs->s, parent, name, &id);
		reply_err(req, rc == 0 ? -ENOTDIR : rc);
		return;
	}
	if (!strcmp(name, FS_METRICS_NAME))
		rc = -ENOTDIR;
	else if (fs_name_reserved(name))
		rc = -ENOENT;
	else
		rc = store_space_remove(fs->s, name, NULL);
	reply_err(req, rc);
}

/* ---- documents: create (mknod; open-create is in file.c), unlink,
 * rename ---- */

int fs_doc_create(fuse_req_t req, struct fs *fs, uint64_t parent,
		  const char *name, mode_t mode, uint64_t *id)
{
	struct store_meta m;
	int rc;

	rc = parent_is_space(fs, parent);
	if (rc == 0)
		rc = fs_name_check(name);
	if (rc < 0)
		return rc;
	meta_new(req, mode, &m);
	rc = store_doc_create(fs->s, parent, name, &m, id, NULL);
	if (rc == 0)
		atomic_fetch_add(&fs->c.creates, 1);
	return rc;
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fuse_entry_param e;
	uint64_t id;
	int rc = -EPERM;

	if (S_ISREG(mode))
		rc = fs_doc_create(req, fs, parent, name, mode, &id);
	if (rc == 0)
		rc = fs_entry(fs, id, &e);
	if (rc < 0)
		reply_err(req, rc);
	else
		fuse_reply_entry(req, &e);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fuse_req_userdata(req);
	uint64_t id;
	int rc;

	if (parent == STORE_ROOT_ID) {
		if (!strcmp(name, FS_METRICS_NAME))
			rc = -EPERM;
		else if (fs_name_reserved(name))
			rc = -ENOENT;
		else
			rc = store_space_lookup(fs->s, name, &id) == 0
				     ? -EISDIR
				     : -ENOENT;
		reply_err(req, rc);
		return;
	}
	rc = fs_name_reserved(name)
		     ? -ENOENT
		     : store_doc_lookup(fs->s, parent, name, &id);
	if (rc == 0)
		rc = store_doc_delete(fs->s, id, NULL);
	if (rc == 0) {
		doc_forget(fs->doc, id);
		atomic_fetch_add(&fs->c.unlinks, 1);
	}
	reply_err(req, rc);
}

/* A space cannot be renamed in place: EXDEV makes mv(1) copy it. */
static int rename_space(struct fs *fs, uint64_t newparent, const char *name)
{
	uint64_t id;
	int rc;

	rc = fs_name_reserved(name) ? -ENOENT
				    : store_space_lookup(fs->s, name, &id);
	if (rc < 0)
		return rc;
	return newparent == STORE_ROOT_ID ? -EXDEV : -EPERM;
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	struct fs *fs = fuse_req_userdata(req);
	uint64_t id, target = 0;
	int rc;

	if (flags & ~(unsigned int)RENAME_NOREPLACE) {
		reply_err(req, -EINVAL);
		return;
	}
	if (parent == STORE_ROOT_ID) {
		reply_err(req, rename_space(fs, newparent, name));
		return;
	}
	rc = parent_is_space(fs, newparent);
	if (rc == 0)
		rc = fs_name_check(newname);
	if (rc == 0)
		rc = fs_name_reserved(name)
			     ? -ENOENT
			     : store_doc_lookup(fs->s, parent, name, &id);
	if (rc < 0)
		goto out;
	if (store_doc_lookup(fs->s, newparent, newname, &target) == 0 &&
	    target == id) {
		rc = (flags & RENAME_NOREPLACE) ? -EEXIST : 0;
		goto out;
	}
	rc = store_doc_rename(
		fs->s, id, newparent, newname,
		(flags & RENAME_NOREPLACE) ? STORE_RENAME_NOREPLACE : 0, NULL);
	if (rc == 0) {
		atomic_fetch_add(&fs->c.renames, 1);
		if (target)
			doc_forget(fs->doc, target);
	}
out:
	reply_err(req, rc);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	reply_err(req, -EPERM);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	reply_err(req, -EPERM);
}

/* ---- directories ---- */

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct cloud_glue_dir *cd = NULL;
	enum node_kind kind;
	int rc;

	rc = node_kind(fs, ino, &kind);
	if (rc == 0 && kind != NODE_ROOT && kind != NODE_SPACE)
		rc = -ENOTDIR;
	if (rc == 0)
		rc = cloud_glue_dir_open(fs, ino, &cd);
	if (rc < 0) {
		reply_err(req, rc);
		return;
	}
	fi->fh = (uintptr_t)cd;
	fi->cache_readdir = 0;
	if (fuse_reply_open(req, fi) == -ENOENT)
		cloud_glue_dir_free(cd); /* interrupted: no releasedir */
}

struct dir_fill {
	fuse_req_t req;
	char *buf;
	size_t size;
	size_t pos;
	mode_t mode;
	const struct cloud_glue_dir *cloud;
};

static bool dir_put(struct dir_fill *df, const char *name, uint64_t ino,
		    mode_t mode, off_t next)
{
	struct stat st = { .st_ino = ino, .st_mode = mode };
	size_t n;

	n = fuse_add_direntry(df->req, df->buf + df->pos, df->size - df->pos,
			      name, &st, next);
	if (n > df->size - df->pos)
		return false;
	df->pos += n;
	return true;
}

/* Store callback: runs under the store's lock, only formats. */
static int dir_add(void *arg, uint64_t id, const char *name)
{
	struct dir_fill *df = arg;

	if (fs_name_reserved(name) || cloud_glue_dir_has(df->cloud, name))
		return 0;
	return dir_put(df, name, id, df->mode, (off_t)id + 1) ? 0 : 1;
}

/* The cloud-only names from index i on. */
static void dir_add_cloud(struct dir_fill *df, uint64_t i)
{
	for (; df->cloud && i < df->cloud->n; i++)
		if (!dir_put(df, df->cloud->names[i], FS_CLOUD_BASE + i,
			     df->mode, (off_t)(FS_CLOUD_BASE + i + 1)))
			return;
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct dir_fill df = { .req = req, .size = size };
	uint64_t from;
	int rc = 0;

	df.buf = malloc(size);
	if (!df.buf) {
		reply_err(req, -ENOMEM);
		return;
	}
	df.cloud = (const struct cloud_glue_dir *)(uintptr_t)fi->fh;
	df.mode = ino == STORE_ROOT_ID ? S_IFDIR : S_IFREG;
	if (off == 0 && !dir_put(&df, ".", ino, S_IFDIR, 1))
		goto out_reply;
	if (off <= 1 && !dir_put(&df, "..", STORE_ROOT_ID, S_IFDIR, 2))
		goto out_reply;
	if ((uint64_t)off >= FS_CLOUD_BASE) {
		dir_add_cloud(&df, (uint64_t)off - FS_CLOUD_BASE);
		goto out_reply;
	}
	from = off < 2 ? 2 : (uint64_t)off;
	if (ino == STORE_ROOT_ID)
		rc = store_space_list(fs->s, from, dir_add, &df);
	else
		rc = store_doc_list(fs->s, ino, from, dir_add, &df);
	if (rc == 0)
		dir_add_cloud(&df, 0);
	if (rc > 0)
		rc = 0;
out_reply:
	if (rc < 0 && df.pos == 0)
		reply_err(req, rc);
	else
		fuse_reply_buf(req, df.buf, df.pos);
	free(df.buf);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	cloud_glue_dir_free((struct cloud_glue_dir *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	int64_t t0 = fs_now_ns();
	int rc;

	rc = store_sync(fs->s, 0);
	fs_metrics_fsync(fs, fs_now_ns() - t0);
	reply_err(req, rc);
}

/* ---- the filesystem ---- */

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fuse_req_userdata(req);
	struct store_stats ss;
	struct statvfs sv;

	store_stats(fs->s, &ss);
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_blocks = ss.capacity_bytes / 4096;
	sv.f_bfree = ss.free_bytes / 4096;
	sv.f_bavail = sv.f_bfree;
	sv.f_files = ss.documents + ss.spaces + 1 + sv.f_bfree;
	sv.f_ffree = sv.f_bfree;
	sv.f_favail = sv.f_bfree;
	sv.f_namemax = STORE_NAME_MAX;
	fuse_reply_statfs(req, &sv);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &= ~(unsigned)(FUSE_CAP_WRITEBACK_CACHE |
				  FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_MOVE);
}

static void op_destroy(void *userdata)
{
}

const struct fuse_lowlevel_ops fs_ops = {
	.init = op_init,
	.destroy = op_destroy,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.open = fs_open,
	.read = fs_read,
	.write = fs_write,
	.flush = fs_flush,
	.release = fs_release,
	.fsync = fs_fsync,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.releasedir = op_releasedir,
	.fsyncdir = op_fsyncdir,
	.statfs = op_statfs,
	.setxattr = fs_setxattr,
	.getxattr = fs_getxattr,
	.listxattr = fs_listxattr,
	.removexattr = fs_removexattr,
	.create = fs_create,
};
