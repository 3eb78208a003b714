/*
 * attr.c - what a node is and its attributes: stat of the root, spaces,
 * documents and the metrics file, entry replies, getattr and setattr
 * (chmod, chown, utimens, truncate).
 *
 * The root's attributes are the store's (store_doc_info and store_meta_set
 * of STORE_ROOT_ID), as any node's, so they survive remounts.  A document's
 * size is its current content's, except on a node serving page-cache
 * readers (the version they read, node.c).  Which attributes the kernel
 * may cache, and for how long, is "Kernel caching" 4 in ops.c:
 * fs_attr_timeout() answers it per node; a node whose attributes may not
 * be cached gets entry timeout 0 too (fs_entry).
 *
 * Locks: fs->meta_mu serializes the read-modify-write of metadata in
 * setattr; it is held across store calls and never with fs->nodes' lock.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/attr.h"
#include "fs/cloud_glue.h"
#include "fs/file.h"
#include "fs/metrics.h"

static void ns_to_ts(int64_t ns, struct timespec *ts)
{
	ts->tv_sec = ns / 1000000000;
	ts->tv_nsec = ns % 1000000000;
	if (ts->tv_nsec < 0) {
		ts->tv_sec--;
		ts->tv_nsec += 1000000000;
	}
}

int fs_kind(struct fs *fs, uint64_t ino, enum fs_kind *kind)
{
	struct store_doc_info info;
	int rc;

	if (ino == STORE_ROOT_ID) {
		*kind = FS_KIND_ROOT;
		return 0;
	}
	if (ino == FS_METRICS_INO) {
		*kind = FS_KIND_METRICS;
		return 0;
	}
	rc = store_doc_info(fs->s, ino, &info);
	if (rc < 0)
		return rc;
	*kind = info.is_space ? FS_KIND_SPACE : FS_KIND_DOC;
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

/* The root's attributes are the store's (it persists them like any
 * node's).  A store written before it did holds none (mode 0, no mtime):
 * such a root gets 0755, the mounting user and the mount time, stored. */
int fs_root_init(struct fs *fs)
{
	struct store_doc_info info;
	struct store_meta m;
	int rc;

	fs->start_ns = fs_now_ns();
	rc = store_doc_info(fs->s, STORE_ROOT_ID, &info);
	if (rc < 0 || info.meta.mode || info.meta.mtime_ns || fs->cfg.read_only)
		return rc;
	m.mode = 0755;
	m.uid = getuid();
	m.gid = getgid();
	m.mtime_ns = m.ctime_ns = fs->start_ns;
	return store_meta_set(fs->s, STORE_ROOT_ID, &m, NULL);
}

static int stat_root(struct fs *fs, struct stat *st)
{
	struct store_doc_info info;
	struct store_stats ss;
	int rc;

	rc = store_doc_info(fs->s, STORE_ROOT_ID, &info);
	if (rc < 0)
		return rc;
	store_stats(fs->s, &ss);
	st->st_mode = S_IFDIR;
	st->st_nlink = 2 + ss.spaces;
	stat_meta(st, &info.meta);
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

/* A space or a document.  The size of a document is that of its current
 * content, except on a node serving page-cache readers: there it is the
 * size of the version they read (the same on a current node, invariant 4
 * of node.c; the frozen one on a retired node).  A document deleted while
 * handles are open on the node keeps its last attributes, nlink 0. */
static int stat_node(struct fs *fs, uint64_t ino, uint64_t id, struct stat *st)
{
	struct store_doc_info info;
	uint64_t size;
	int rc;

	rc = store_doc_info(fs->s, id, &info);
	if (rc == 0 && info.is_space) {
		st->st_mode = S_IFDIR;
		st->st_nlink = 2;
		stat_meta(st, &info.meta);
		return 0;
	}
	if (rc == 0 && !fs_node_pinned_size(&fs->nodes, ino, &size))
		rc = doc_size(fs->doc, id, &size);
	st->st_nlink = 1;
	if (rc == 0) {
		fs_node_remember(&fs->nodes, ino, &info.meta, size);
	} else if (rc == -ENOENT) {
		rc = fs_node_last(&fs->nodes, ino, &info.meta, &size);
		st->st_nlink = 0;
	}
	if (rc < 0)
		return rc;
	st->st_mode = S_IFREG;
	st->st_size = (off_t)size;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
	stat_meta(st, &info.meta);
	return 0;
}

int fs_stat(struct fs *fs, uint64_t ino, struct stat *st)
{
	uint64_t id = fs_node_doc(&fs->nodes, ino);

	memset(st, 0, sizeof(*st));
	st->st_ino = id;
	st->st_blksize = 4096;
	if (ino == STORE_ROOT_ID)
		return stat_root(fs, st);
	if (ino == FS_METRICS_INO)
		return stat_metrics(fs, st);
	if (id == 0)
		return -ESTALE;
	return stat_node(fs, ino, id, st);
}

double fs_attr_timeout(struct fs *fs, uint64_t ino)
{
	if (ino == FS_METRICS_INO || fs_node_attr_volatile(&fs->nodes, ino))
		return 0;
	return fs->cfg.attr_timeout_s;
}

int fs_entry(struct fs *fs, uint64_t nodeid, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = nodeid;
	e->generation = 1;
	e->attr_timeout = fs_attr_timeout(fs, nodeid);
	/* a dirty, retired or writer's node: its name is looked up again at
	 * every use, which retires it once its writers are gone (node.c,
	 * invariant 6) */
	e->entry_timeout = fs_node_attr_volatile(&fs->nodes, nodeid)
				   ? 0
				   : fs->cfg.entry_timeout_s;
	return fs_stat(fs, nodeid, &e->attr);
}

/* ---- requests ---- */

void fs_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct stat st;
	int rc;

	rc = fs_stat(fs, ino, &st);
	if (rc < 0)
		fs_reply_err(req, rc);
	else
		fuse_reply_attr(req, &st, fs_attr_timeout(fs, ino));
}

/* Whether the caller of req belongs to group gid (its primary group or
 * one of its supplementary groups). */
static bool caller_in_group(fuse_req_t req, gid_t gid)
{
	gid_t groups[256];
	int n, i;

	if (fuse_req_ctx(req)->gid == gid)
		return true;
	n = fuse_req_getgroups(req, 256, groups);
	for (i = 0; i < n && i < 256; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

/* Who may change what (POSIX chown(2), chmod(2), utimensat(2)): root
 * everything; the owner the mode, the times, and the group to one of its
 * own groups; nobody else any of it.  The kernel checks the same with
 * default_permissions (implied by allow_other) except the group
 * membership of chgrp, which it leaves to the filesystem. */
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
	if ((to_set & FUSE_SET_ATTR_GID) && attr->st_gid != m->gid &&
	    !caller_in_group(req, attr->st_gid))
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
	rc = store_doc_info(fs->s, ino, &info);
	if (rc < 0)
		goto out_unlock;
	m = info.meta;
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
	for (unsigned tries = 0;;) {
		rc = store_meta_set(fs->s, ino, &m, NULL);
		/* an evicted document is brought back first */
		if (rc != -ENODATA)
			break;
		rc = cloud_glue_retry(fs, ino, rc, &tries);
		if (rc)
			break;
	}
out_unlock:
	pthread_mutex_unlock(&fs->meta_mu);
	return rc;
}

/* truncate(2) to size: 0 resets the document; the current size changes
 * nothing (a no-op on every filesystem, which programs do after
 * writing); any other size is EINVAL.  A reset is a change of content, so
 * it is registered as a writer of the node (ESTALE on a node serving
 * page-cache readers, see node.c). */
static int truncate_doc(struct fs *fs, uint64_t ino, uint64_t id,
			enum fs_kind kind, off_t size,
			struct fuse_file_info *fi)
{
	uint64_t cur;
	int rc;

	if (kind != FS_KIND_DOC)
		return -EISDIR;
	if (size != 0) {
		rc = doc_size(fs->doc, id, &cur);
		if (rc == 0 && (uint64_t)size != cur)
			rc = -EINVAL;
		return rc;
	}
	rc = fs_node_open_write(&fs->nodes, ino, id);
	if (rc < 0)
		return rc;
	fs_node_inval_attr(&fs->nodes, ino);
	for (unsigned tries = 0;;) {
		rc = doc_reset(fs->doc, id, NULL);
		if (rc != -ENODATA && rc != -ENOSPC)
			break;
		rc = cloud_glue_retry(fs, id, rc, &tries);
		if (rc)
			break;
	}
	fs_node_close(&fs->nodes, ino, FS_OPEN_WRITE);
	if (rc == 0 && fi)
		fs_handle_truncated(fi);
	if (rc < 0)
		fs_log_failure(fs, id, "truncate", rc);
	return rc;
}

void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		   int to_set, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	const int meta_bits = FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID |
			      FUSE_SET_ATTR_GID | FUSE_SET_ATTR_MTIME |
			      FUSE_SET_ATTR_MTIME_NOW;
	uint64_t id = fs_node_doc(&fs->nodes, ino);
	enum fs_kind kind;
	struct stat st;
	int rc;

	rc = id ? fs_kind(fs, id, &kind) : -ESTALE;
	if (rc == 0 && kind == FS_KIND_METRICS)
		rc = -EPERM;
	if (rc == 0 && (to_set & FUSE_SET_ATTR_SIZE))
		rc = truncate_doc(fs, ino, id, kind, attr->st_size, fi);
	if (rc == 0 && (to_set & meta_bits)) {
		rc = meta_update(req, fs, id, attr, to_set);
		if (rc < 0)
			fs_log_failure(fs, id, "change the attributes of", rc);
	}
	if (rc == 0)
		rc = fs_stat(fs, ino, &st);
	if (rc < 0)
		fs_reply_err(req, rc);
	else
		fuse_reply_attr(req, &st, fs_attr_timeout(fs, ino));
}
