/*
 * ops.c - the caravanfs filesystem: nodes, names and directories.
 *
 * This is the FUSE low-level operations table; the file operations are in
 * file.c, extended attributes in xattr.c.  The design:
 *
 * Nodes.  st_ino of every node is its store id (STORE_ROOT_ID is
 * FUSE_ROOT_ID, 1), so it is stable for a document's lifetime and across
 * remounts.  The FUSE node id of the root and of a space is its store id;
 * a document's node id is its store id too until that node is retired for
 * the kernel's caches (below), after which lookups give the document node
 * ids from FS_NODE_BASE up, never reused, so the generation is constant.
 * node.c keeps the lookup count and the open handles of every document
 * node (forget counts down there); the root and spaces hold no state.
 * The root lists spaces, a space lists documents; nothing else exists
 * except the hidden metrics file FS_METRICS_NAME at the root (node
 * FS_METRICS_INO, above any store id).  The root's attributes are the
 * store's (store_doc_info and store_meta_set of STORE_ROOT_ID), as any
 * node's, so they survive remounts.
 *
 * Directory offsets.  The store lists a directory in id order from a given
 * id; the offset cookie of an entry is its id + 1 (0 and 1 are "." and
 * "..", store ids of spaces and documents start at 2), so a listing that
 * continues after concurrent creates and deletes resumes exactly after the
 * last name returned: every name present throughout is returned once.
 * A listing covers the ids present when it began (opendir, or a rewind to
 * offset 0: struct dir_handle in fi->fh keeps the limit): a name deleted
 * and created again meanwhile has a new, larger id and is not returned a
 * second time (POSIX leaves names added after opendir unspecified).
 * With cloud backup, opendir also takes a sorted snapshot of the names the
 * cloud holds and the store does not (cloud_glue_dir, in the handle); they
 * follow the local names with cookies FS_CLOUD_BASE + index + 1, and the
 * local phase skips any name of the snapshot (one restored meanwhile), so
 * each name is still listed once.  A lookup of such a name restores it.
 *
 * Kernel caching.  The contract (SPEC 4): a read-only handle sees one
 * version from open to close, st_size is what a read returns, and no
 * reader sees stale or torn content after a change made through the
 * mount.  The kernel keeps one page cache and one i_size per node id, and
 * it sets i_size itself around writes; the design follows from that.
 *
 *   1. A node id is a view of a document, not the document (node.c).
 *      Lookups give a document its current node; a node can be retired,
 *      after which it only serves the handles already open on it and the
 *      document gets a fresh node id.  st_ino is always the store id.
 *   2. Read-only opens use the page cache when that is safe, everything
 *      else is direct_io.  A read-only open is cached only when its node
 *      has no writer and no direct_io handle, is not retired, and the
 *      snapshot it took is still the document's content (checked under
 *      nodes_mu, where no change can start); all cached handles of a node
 *      then read one snapshot, pinned, so whatever any of them brings into
 *      the page cache is that version.  keep_cache is set when the pages
 *      are known to hold it, otherwise the kernel drops them at open.
 *      Writers, O_RDWR, readers that find a writer or a direct_io handle,
 *      and the metrics file are direct_io, each reading its own snapshot.
 *      (A direct_io handle is kept off cached nodes because a private mmap
 *      of it fills the page cache with its own version.)
 *   3. A change never reaches a node with page-cache readers.  Every
 *      change of content goes through a registered writer: a write open,
 *      an O_TRUNC open, a truncate.  A writer arriving on a node with
 *      cached readers gets ESTALE: the node is retired with its readers,
 *      who keep their version, their i_size and their pages, and a fresh
 *      node is made.  The kernel answers ESTALE from open and truncate by
 *      looking the name up again (LOOKUP_REVAL), which replaces the dentry
 *      with the fresh node, and repeats the call there; the application
 *      sees nothing.  So an old reader's READ can only refill its own
 *      node's cache with its own version, and no reader opened after the
 *      change can reach that node (its name leads to the fresh one).
 *   4. Attributes are cached (attr_timeout, default 30 s); the kernel
 *      itself drops them after every write and truncate it sends, and
 *      discards a reply computed before a change (attr_version).  Two
 *      holes are closed here:
 *      a. The kernel sets i_size itself after a write (old size + bytes
 *         written) and at an O_TRUNC open (0), and a stat that runs while
 *         a later reply is applied can see the reply's validity before its
 *         size.  So a node that has ever had a writer is dirty: every
 *         reply about it carries attribute timeout 0 (the kernel never
 *         holds them valid, every stat asks us), and the first lookup or
 *         readdirplus after its writers left retires it for a fresh node
 *         whose attributes may be cached again.  (A thread drops the
 *         name's dentry when the last writer closes, so that lookup comes
 *         soon; never from a request, as that takes the directory lock.)
 *         A retired node gets timeout 0 as well: its document changes, or
 *         is deleted, through other nodes.
 *      b. A writer's registration drops what the kernel cached before it
 *         came (fuse_lowlevel_notify_inval_inode, attributes only, which
 *         never blocks and is safe from within any request), and so does
 *         a value completed at close (flush).
 *   5. Cached reads refresh i_size first when the attributes are not valid
 *      (FUSE_CAP_AUTO_INVAL_DATA), so no cached reader reads against a
 *      size the kernel computed itself.  Without that capability, or with
 *      -o direct_io, every open is direct_io.
 *   6. readdirplus (always, not the kernel's heuristic) returns a node and
 *      attributes with every name, so `ls -l`, tar and rsync need no
 *      LOOKUP or GETATTR per file.  Names are cached for entry_timeout
 *      (default 30 s), positive ones only: names change only through this
 *      mount (the kernel updates its dentries for create, unlink, rename)
 *      or by a cloud restore, which only adds names.
 *   7. Read-only handles are opened noflush: their close sends no FLUSH.
 * The price: fstat on a direct_io descriptor shows the current size (the
 * kernel answers fstat per inode, not per descriptor); writing descriptors
 * never use the page cache, so shared writable mmap is not available.
 *
 * Locks.  The store and the doc module are thread-safe and serialize per
 * document.  fs->meta_mu serializes the read-modify-write of metadata in
 * setattr; fs->nodes_mu guards node.c's tables; each open handle has its
 * own mutex (file.c); counters are atomics.  meta_mu and nodes_mu are
 * held across store calls (never both at once) and no store callback
 * takes either.  Kernel notifications are sent with no lock held.
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
	e->entry_timeout = fs->cfg.entry_timeout_s;
	return fs_stat(fs, nodeid, &e->attr);
}

/* Send an entry reply whose node had a lookup counted (counted): when
 * the reply fails or never reaches the kernel, the count is taken back. */
static void reply_entry(fuse_req_t req, struct fs *fs, int rc,
			const struct fuse_entry_param *e, bool counted)
{
	if (rc < 0) {
		if (counted)
			fs_node_forget(&fs->nodes, e->ino, 1);
		reply_err(req, rc);
		return;
	}
	if (fuse_reply_entry(req, e) < 0 && counted)
		fs_node_forget(&fs->nodes, e->ino, 1);
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

/* The entry of document or space id (a document's node counted). */
static int child_entry(struct fs *fs, uint64_t id, bool is_doc,
		       struct fuse_entry_param *e, bool *counted)
{
	uint64_t nodeid = id;
	int rc;

	*counted = false;
	if (is_doc) {
		rc = fs_node_lookup(&fs->nodes, id, &nodeid);
		if (rc < 0)
			return rc;
		*counted = true;
	}
	return fs_entry(fs, nodeid, e);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fuse_entry_param e;
	bool counted = false;
	uint64_t id;
	int rc;

	atomic_fetch_add(&fs->c.lookups, 1);
	rc = child_lookup(fs, parent, name, &id);
	if (rc == 0)
		rc = child_entry(fs, id, parent != STORE_ROOT_ID, &e, &counted);
	reply_entry(req, fs, rc, &e, counted);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct fs *fs = fuse_req_userdata(req);

	fs_node_forget(&fs->nodes, ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	struct fs *fs = fuse_req_userdata(req);
	size_t i;

	for (i = 0; i < count; i++)
		fs_node_forget(&fs->nodes, forgets[i].ino, forgets[i].nlookup);
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
	rc = store_meta_set(fs->s, ino, &m, NULL);
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
			enum node_kind kind, off_t size,
			struct fuse_file_info *fi)
{
	uint64_t cur;
	int rc;

	if (kind != NODE_DOC)
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
	rc = doc_reset(fs->doc, id, NULL);
	fs_node_close(&fs->nodes, ino, FS_OPEN_WRITE);
	if (rc == 0 && fi)
		fs_handle_truncated(fi);
	if (rc < 0)
		fs_log_failure(fs, id, "truncate", rc);
	return rc;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	const int meta_bits = FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID |
			      FUSE_SET_ATTR_GID | FUSE_SET_ATTR_MTIME |
			      FUSE_SET_ATTR_MTIME_NOW;
	uint64_t id = fs_node_doc(&fs->nodes, ino);
	enum node_kind kind;
	struct stat st;
	int rc;

	rc = id ? node_kind(fs, id, &kind) : -ESTALE;
	if (rc == 0 && kind == NODE_METRICS)
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
		reply_err(req, rc);
	else
		fuse_reply_attr(req, &st, fs_attr_timeout(fs, ino));
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
	if (rc == 0)
		cloud_glue_removed(fs, STORE_ROOT_ID, name);
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
	bool counted = false;
	uint64_t id;
	int rc = -EPERM;

	if (S_ISREG(mode))
		rc = fs_doc_create(req, fs, parent, name, mode, &id);
	if (rc == 0)
		rc = child_entry(fs, id, true, &e, &counted);
	reply_entry(req, fs, rc, &e, counted);
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
		fs_node_deleted(&fs->nodes, id);
		atomic_fetch_add(&fs->c.unlinks, 1);
		cloud_glue_removed(fs, parent, name);
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
		cloud_glue_removed(fs, parent, name);
		if (target) {
			doc_forget(fs->doc, target);
			fs_node_deleted(&fs->nodes, target);
		}
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

/* An open directory (fi->fh). */
struct dir_handle {
	uint64_t limit; /* list ids below this (0: not known yet) */
	struct cloud_glue_dir *cloud; /* cloud-only names, or NULL */
	struct dir_handle *prev, *next; /* fs->dirs, under handles_mu */
};

static void dir_handle_link(struct fs *fs, struct dir_handle *dh)
{
	pthread_mutex_lock(&fs->handles_mu);
	dh->next = fs->dirs;
	if (dh->next)
		dh->next->prev = dh;
	fs->dirs = dh;
	pthread_mutex_unlock(&fs->handles_mu);
}

static void dir_handle_free(struct fs *fs, struct dir_handle *dh)
{
	if (!dh)
		return;
	pthread_mutex_lock(&fs->handles_mu);
	if (dh->prev)
		dh->prev->next = dh->next;
	else if (fs->dirs == dh)
		fs->dirs = dh->next;
	if (dh->next)
		dh->next->prev = dh->prev;
	pthread_mutex_unlock(&fs->handles_mu);
	cloud_glue_dir_free(dh->cloud);
	free(dh);
}

void fs_dir_handles_free(struct fs *fs)
{
	while (fs->dirs)
		dir_handle_free(fs, fs->dirs);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct cloud_glue_dir *cd = NULL;
	struct dir_handle *dh = NULL;
	enum node_kind kind;
	int rc;

	rc = node_kind(fs, fs_node_doc(&fs->nodes, ino), &kind);
	if (rc == 0 && kind != NODE_ROOT && kind != NODE_SPACE)
		rc = -ENOTDIR;
	if (rc == 0)
		rc = cloud_glue_dir_open(fs, ino, &cd);
	if (rc == 0) {
		dh = calloc(1, sizeof(*dh));
		if (!dh)
			rc = -ENOMEM;
	}
	if (rc < 0) {
		cloud_glue_dir_free(cd);
		reply_err(req, rc);
		return;
	}
	dh->cloud = cd;
	dir_handle_link(fs, dh);
	fi->fh = (uintptr_t)dh;
	fi->cache_readdir = 0;
	if (fuse_reply_open(req, fi) == -ENOENT)
		dir_handle_free(fs, dh); /* interrupted: no releasedir */
}

/* Store callback: the largest id listed. */
static int max_id(void *arg, uint64_t id, const char *name)
{
	uint64_t *max = arg;

	if (id > *max)
		*max = id;
	return 0;
}

/* The listing of a directory handle covers ids below dh->limit: the names
 * present when it began (opendir, or a rewind to offset 0). */
static void dir_begin(struct fs *fs, uint64_t ino, struct dir_handle *dh,
		      off_t off)
{
	uint64_t max = 0;

	if (off != 0 && dh->limit)
		return;
	if (ino == STORE_ROOT_ID)
		store_space_list(fs->s, 2, max_id, &max);
	else
		store_doc_list(fs->s, ino, 2, max_id, &max);
	dh->limit = max + 1 > 2 ? max + 1 : 2;
}

struct dir_fill {
	fuse_req_t req;
	char *buf;
	size_t size;
	size_t pos;
	mode_t mode;
	uint64_t limit;
	const struct cloud_glue_dir *cloud;
};

/* Store callback results: the reply is full, or the listing reached the
 * handle's limit (it is complete). */
enum {
	LIST_FULL = 1,
	LIST_END = 2
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

	if (id >= df->limit)
		return LIST_END;
	if (fs_name_reserved(name) || cloud_glue_dir_has(df->cloud, name))
		return 0;
	return dir_put(df, name, id, df->mode, (off_t)id + 1) ? 0 : LIST_FULL;
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
	struct dir_handle *dh;
	uint64_t from;
	int rc = 0;

	df.buf = malloc(size);
	if (!df.buf) {
		reply_err(req, -ENOMEM);
		return;
	}
	dh = (struct dir_handle *)(uintptr_t)fi->fh;
	dir_begin(fs, ino, dh, off);
	df.cloud = dh->cloud;
	df.limit = dh->limit;
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
	if (rc == 0 || rc == LIST_END)
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

/* readdirplus: every entry carries its node and attributes, so `ls -l`,
 * tar and rsync need no LOOKUP per name.  The store lists names under its
 * lock, where it cannot be asked for attributes, so the names that fit
 * are collected first and formatted after. */
struct plus_ent {
	uint64_t id;
	char *name;
	uint64_t nodeid; /* a lookup counted for it, or 0 */
};

struct plus_list {
	fuse_req_t req;
	size_t room; /* bytes of the reply left for entries */
	uint64_t limit;
	const struct cloud_glue_dir *cloud;
	struct plus_ent *ents;
	size_t n, cap;
	int rc;
};

/* Store callback: runs under the store's lock, only copies names. */
static int plus_collect(void *arg, uint64_t id, const char *name)
{
	struct plus_list *pl = arg;
	size_t need;
	char *copy;

	if (id >= pl->limit)
		return LIST_END;
	if (fs_name_reserved(name) || cloud_glue_dir_has(pl->cloud, name))
		return 0;
	need = fuse_add_direntry_plus(pl->req, NULL, 0, name, NULL, 0);
	if (need > pl->room)
		return LIST_FULL;
	if (pl->n == pl->cap) {
		size_t cap = pl->cap ? 2 * pl->cap : 64;
		struct plus_ent *grown =
			realloc(pl->ents, cap * sizeof(*grown));

		if (!grown) {
			pl->rc = -ENOMEM;
			return LIST_FULL;
		}
		pl->ents = grown;
		pl->cap = cap;
	}
	copy = strdup(name);
	if (!copy) {
		pl->rc = -ENOMEM;
		return LIST_FULL;
	}
	pl->ents[pl->n++] = (struct plus_ent){ id, copy, 0 };
	pl->room -= need;
	return 0;
}

static bool plus_put(struct dir_fill *df, const char *name,
		     const struct fuse_entry_param *e, off_t next)
{
	size_t n;

	n = fuse_add_direntry_plus(df->req, df->buf + df->pos,
				   df->size - df->pos, name, e, next);
	if (n > df->size - df->pos)
		return false;
	df->pos += n;
	return true;
}

/* An entry without a node ("." and "..", cloud-only names): the kernel
 * takes only its name, type and inode number. */
static bool plus_put_bare(struct dir_fill *df, const char *name, uint64_t ino,
			  mode_t mode, off_t next)
{
	struct fuse_entry_param e;

	memset(&e, 0, sizeof(e));
	e.attr.st_ino = ino;
	e.attr.st_mode = mode;
	return plus_put(df, name, &e, next);
}

static void plus_put_cloud(struct dir_fill *df, uint64_t i)
{
	for (; df->cloud && i < df->cloud->n; i++)
		if (!plus_put_bare(df, df->cloud->names[i], FS_CLOUD_BASE + i,
				   df->mode, (off_t)(FS_CLOUD_BASE + i + 1)))
			return;
}

/* Format the collected entries; an entry whose node vanished meanwhile
 * (deleted) is left out. */
static void plus_put_local(struct fs *fs, struct dir_fill *df,
			   struct plus_list *pl, bool docs)
{
	struct fuse_entry_param e;
	struct plus_ent *pe;
	bool counted;
	size_t i;

	for (i = 0; i < pl->n; i++) {
		pe = &pl->ents[i];
		if (child_entry(fs, pe->id, docs, &e, &counted) < 0) {
			if (counted)
				fs_node_forget(&fs->nodes, e.ino, 1);
			continue;
		}
		if (counted)
			pe->nodeid = e.ino;
		if (!plus_put(df, pe->name, &e, (off_t)pe->id + 1)) {
			if (counted)
				fs_node_forget(&fs->nodes, e.ino, 1);
			pe->nodeid = 0;
			break;
		}
	}
}

static void plus_release(struct fs *fs, struct plus_list *pl, bool sent)
{
	size_t i;

	for (i = 0; i < pl->n; i++) {
		if (!sent && pl->ents[i].nodeid)
			fs_node_forget(&fs->nodes, pl->ents[i].nodeid, 1);
		free(pl->ents[i].name);
	}
	free(pl->ents);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct dir_fill df = { .req = req, .size = size };
	struct plus_list pl = { .req = req };
	bool docs = ino != STORE_ROOT_ID, sent;
	struct dir_handle *dh;
	uint64_t from;
	int rc = 0;

	df.buf = malloc(size);
	if (!df.buf) {
		reply_err(req, -ENOMEM);
		return;
	}
	dh = (struct dir_handle *)(uintptr_t)fi->fh;
	dir_begin(fs, ino, dh, off);
	df.cloud = dh->cloud;
	pl.limit = dh->limit;
	df.mode = docs ? S_IFREG : S_IFDIR;
	if (off == 0 && !plus_put_bare(&df, ".", ino, S_IFDIR, 1))
		goto out_reply;
	if (off <= 1 && !plus_put_bare(&df, "..", STORE_ROOT_ID, S_IFDIR, 2))
		goto out_reply;
	if ((uint64_t)off >= FS_CLOUD_BASE) {
		plus_put_cloud(&df, (uint64_t)off - FS_CLOUD_BASE);
		goto out_reply;
	}
	from = off < 2 ? 2 : (uint64_t)off;
	pl.room = size - df.pos;
	pl.cloud = df.cloud;
	if (docs)
		rc = store_doc_list(fs->s, ino, from, plus_collect, &pl);
	else
		rc = store_space_list(fs->s, from, plus_collect, &pl);
	if (pl.rc < 0)
		rc = pl.rc;
	plus_put_local(fs, &df, &pl, docs);
	if (rc == 0 || rc == LIST_END)
		plus_put_cloud(&df, 0);
	if (rc > 0)
		rc = 0;
out_reply:
	if (rc < 0 && df.pos == 0) {
		reply_err(req, rc);
		sent = false;
	} else {
		sent = fuse_reply_buf(req, df.buf, df.pos) == 0;
	}
	plus_release(fs, &pl, sent);
	free(df.buf);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	dir_handle_free(fuse_req_userdata(req),
			(struct dir_handle *)(uintptr_t)fi->fh);
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

/* Capabilities (see "Kernel caching" above): readdirplus always (not the
 * kernel's heuristic), attributes refreshed on read when invalid
 * (AUTO_INVAL_DATA), which the page cache of read-only handles relies on;
 * without it every open stays direct_io. */
static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fs *fs = userdata;

	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &=
		~(unsigned)(FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_SPLICE_READ |
			    FUSE_CAP_SPLICE_MOVE | FUSE_CAP_READDIRPLUS_AUTO |
			    FUSE_CAP_EXPLICIT_INVAL_DATA);
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	fs->page_cache = false;
	if (!fs->cfg.direct_io && (conn->capable & FUSE_CAP_AUTO_INVAL_DATA)) {
		conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
		fs->page_cache = true;
	}
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
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.fsyncdir = op_fsyncdir,
	.statfs = op_statfs,
	.setxattr = fs_setxattr,
	.getxattr = fs_getxattr,
	.listxattr = fs_listxattr,
	.removexattr = fs_removexattr,
	.create = fs_create,
};
