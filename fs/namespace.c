/*
 * namespace.c - names: lookup and forget, spaces (mkdir, rmdir),
 * documents (mknod, create, unlink), rename of documents and of spaces,
 * and the refusal of links.
 *
 * The root lists spaces, a space lists documents; nothing else exists
 * except the hidden metrics file FS_METRICS_NAME at the root.  A name the
 * store does not hold is asked of the cloud (cloud_glue_space,
 * cloud_glue_restore), which restores it.  Every entry reply of a
 * document counts one lookup on its node (node.c); a reply that never
 * reaches the kernel takes it back.  Names are checked by fs_name_check
 * (fs.c) before anything is created.
 *
 * Locks: none of its own.  The store serializes each change; node.c's
 * table is told of deletions after the store made them.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "fs/attr.h"
#include "fs/cloud_glue.h"
#include "fs/counters.h"
#include "fs/file.h"
#include "fs/namespace.h"

/* Send an entry reply whose node had a lookup counted (counted): when
 * the reply fails or never reaches the kernel, the count is taken back. */
static void reply_entry(fuse_req_t req, struct fs *fs, int rc,
			const struct fuse_entry_param *e, bool counted)
{
	if (rc < 0) {
		if (counted)
			fs_node_forget(&fs->nodes, e->ino, 1);
		fs_reply_err(req, rc);
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
int fs_child_entry(struct fs *fs, uint64_t id, bool is_doc,
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

void fs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fuse_entry_param e;
	bool counted = false;
	uint64_t id;
	int rc;

	atomic_fetch_add(&fs->c.lookups, 1);
	rc = child_lookup(fs, parent, name, &id);
	if (rc == 0)
		rc = fs_child_entry(fs, id, parent != STORE_ROOT_ID, &e,
				    &counted);
	reply_entry(req, fs, rc, &e, counted);
}

void fs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct fs *fs = fuse_req_userdata(req);

	fs_node_forget(&fs->nodes, ino, nlookup);
	fuse_reply_none(req);
}

void fs_op_forget_multi(fuse_req_t req, size_t count,
			struct fuse_forget_data *forgets)
{
	struct fs *fs = fuse_req_userdata(req);
	size_t i;

	for (i = 0; i < count; i++)
		fs_node_forget(&fs->nodes, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

/* ---- spaces ---- */

static int parent_is_space(struct fs *fs, uint64_t parent)
{
	enum fs_kind kind;
	int rc;

	rc = fs_kind(fs, parent, &kind);
	if (rc < 0)
		return rc;
	if (kind == FS_KIND_SPACE)
		return 0;
	if (kind == FS_KIND_ROOT)
		return -EPERM;
	return -ENOTDIR;
}

void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		 mode_t mode)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fuse_entry_param e;
	struct store_meta m;
	uint64_t id;
	int rc;

	if (parent != STORE_ROOT_ID) {
		rc = parent_is_space(fs, parent);
		fs_reply_err(req, rc == 0 ? -EPERM : rc);
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
		fs_reply_err(req, rc);
	else
		fuse_reply_entry(req, &e);
}

/* Store callback: the space holds a document. */
static int any_doc(void *arg, uint64_t id, const char *name)
{
	(void)id;
	(void)name;
	*(bool *)arg = true;
	return 1;
}

void fs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fuse_req_userdata(req);
	bool local = false;
	uint64_t id;
	int rc;

	if (parent != STORE_ROOT_ID) {
		rc = store_doc_lookup(fs->s, parent, name, &id);
		fs_reply_err(req, rc == 0 ? -ENOTDIR : rc);
		return;
	}
	if (!strcmp(name, FS_METRICS_NAME))
		rc = -ENOTDIR;
	else if (fs_name_reserved(name))
		rc = -ENOENT;
	else
		rc = store_space_lookup(fs->s, name, &id);
	/* Documents only in the cloud are documents of the space (asked
	 * only when it is empty here). */
	if (rc == 0 && store_doc_list(fs->s, id, 2, any_doc, &local) >= 0 &&
	    !local)
		rc = cloud_glue_space_empty(fs, name);
	if (rc == 0)
		rc = store_space_remove(fs->s, name, NULL);
	if (rc == 0)
		cloud_glue_removed(fs, STORE_ROOT_ID, name);
	fs_reply_err(req, rc);
}

/* ---- documents: create (mknod, open-create), unlink, rename ---- */

/* Whether name is an editor's scratch file: vim's swap files
 * (".NAME.swp", ".swo", ... ".swpx", the probe vim makes) and emacs's
 * auto-save ("#NAME#") and lock (".#NAME") names.  Their bytes are not
 * JSON, so they cannot be documents; their creation is refused (EPERM),
 * and each editor then goes on without them (vim puts its swap file in
 * the next 'directory', emacs skips the auto-save or the lock).  See
 * docs/semantics.md, "Editors". */
static bool name_is_scratch(const char *name)
{
	size_t n = strlen(name);

	if (n >= 2 && name[0] == '#' && name[n - 1] == '#')
		return true;
	if (name[0] != '.')
		return false;
	if (name[1] == '#')
		return true;
	if (n >= 6 && !strcmp(name + n - 5, ".swpx"))
		return true;
	return n >= 6 && name[n - 4] == '.' && name[n - 3] == 's' &&
	       name[n - 2] >= 'a' && name[n - 2] <= 'w' && name[n - 1] >= 'a' &&
	       name[n - 1] <= 'z';
}

static int fs_doc_create(fuse_req_t req, struct fs *fs, uint64_t parent,
			 const char *name, mode_t mode, uint64_t *id,
			 uint64_t *lsn)
{
	struct store_meta m;
	int rc;

	rc = parent_is_space(fs, parent);
	if (rc == 0)
		rc = fs_name_check(name);
	if (rc == 0 && name_is_scratch(name))
		rc = -EPERM;
	if (rc < 0)
		return rc;
	meta_new(req, mode, &m);
	rc = store_doc_create(fs->s, parent, name, &m, id, lsn);
	if (rc == 0)
		atomic_fetch_add(&fs->c.creates, 1);
	return rc;
}

void fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		 mode_t mode, dev_t rdev)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fuse_entry_param e;
	bool counted = false;
	uint64_t id;
	int rc = -EPERM;

	if (S_ISREG(mode))
		rc = fs_doc_create(req, fs, parent, name, mode, &id, NULL);
	if (rc == 0)
		rc = fs_child_entry(fs, id, true, &e, &counted);
	reply_entry(req, fs, rc, &e, counted);
}

/* open(O_CREAT): the document is created (or, without O_EXCL, found) and
 * opened in one reply, on a node made for a writer (node.c). */
void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		  mode_t mode, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fuse_entry_param e;
	struct fs_handle *h = NULL;
	uint64_t id, nodeid = 0, created_lsn = 0;
	int rc;

	rc = fs_doc_create(req, fs, parent, name, mode, &id, &created_lsn);
	if (rc == -EEXIST && !(fi->flags & O_EXCL)) {
		created_lsn = 0;
		rc = store_doc_lookup(fs->s, parent, name, &id);
	}
	if (rc == 0)
		rc = fs_node_create(&fs->nodes, id, &nodeid);
	if (rc == 0) {
		rc = fs_file_new(fs, nodeid, fi->flags, created_lsn, &h);
		if (rc < 0)
			fs_node_forget(&fs->nodes, nodeid, 1);
	}
	if (rc == 0) {
		rc = fs_entry(fs, nodeid, &e);
		if (rc < 0) {
			fs_file_free(h);
			fs_node_forget(&fs->nodes, nodeid, 1);
		}
	}
	if (rc < 0)
		fs_reply_err(req, rc);
	else
		fs_file_reply(req, fs, h, fi, &e);
}

void fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
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
		fs_reply_err(req, rc);
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
	fs_reply_err(req, rc);
}

/* Rename of a space, in one store frame (store_space_rename): it keeps
 * its id (the kernel moves its dentry to the new name, with its
 * documents' below it), an empty space at the new name is replaced like
 * rename(2) replaces an empty directory (ENOTEMPTY otherwise, EEXIST
 * with RENAME_NOREPLACE), and the documents' cloud copies move in the
 * background: each is uploaded under the new name, the old copies are
 * tombstoned and deleted by the uploader.  A space has no place inside
 * another (EPERM). */
static int rename_space(struct fs *fs, const char *name, uint64_t newparent,
			const char *newname, unsigned int flags)
{
	uint64_t *ids = NULL;
	size_t nids = 0;
	int rc;

	if (!strcmp(name, FS_METRICS_NAME) || !strcmp(newname, FS_METRICS_NAME))
		return -EPERM;
	if (fs_name_reserved(name))
		return -ENOENT;
	if (newparent != STORE_ROOT_ID) {
		rc = parent_is_space(fs, newparent);
		return rc == 0 ? -EPERM : rc;
	}
	rc = fs_name_check(newname);
	if (rc < 0)
		return rc;
	for (unsigned tries = 0;;) {
		uint64_t sid;

		rc = store_space_rename(
			fs->s, name, newname,
			(flags & RENAME_NOREPLACE) ? STORE_RENAME_NOREPLACE : 0,
			&ids, &nids, NULL);
		free(ids);
		ids = NULL;
		/* -ENODATA: evicted documents, brought back first */
		if (rc != -ENODATA || store_space_lookup(fs->s, name, &sid) ||
		    cloud_glue_retry(fs, sid, rc, &tries))
			break;
	}
	if (rc == 0) {
		atomic_fetch_add(&fs->c.renames, 1);
		cloud_glue_removed(fs, STORE_ROOT_ID, name);
	}
	return rc;
}

void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		  fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct fs *fs = fuse_req_userdata(req);
	uint64_t id, target = 0;
	int rc;

	if (flags & ~(unsigned int)RENAME_NOREPLACE) {
		fs_reply_err(req, -EINVAL);
		return;
	}
	if (parent == STORE_ROOT_ID) {
		fs_reply_err(req,
			     rename_space(fs, name, newparent, newname, flags));
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
	for (unsigned tries = 0;;) {
		rc = store_doc_rename(
			fs->s, id, newparent, newname,
			(flags & RENAME_NOREPLACE) ? STORE_RENAME_NOREPLACE : 0,
			NULL);
		/* an evicted document is brought back first */
		if (rc != -ENODATA || cloud_glue_retry(fs, id, rc, &tries))
			break;
	}
	if (rc == -ENODATA)
		rc = -EIO;
	if (rc == 0) {
		atomic_fetch_add(&fs->c.renames, 1);
		cloud_glue_removed(fs, parent, name);
		if (target) {
			doc_forget(fs->doc, target);
			fs_node_deleted(&fs->nodes, target);
		}
	}
out:
	fs_reply_err(req, rc);
}

void fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		const char *newname)
{
	fs_reply_err(req, -EPERM);
}

void fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		   const char *name)
{
	fs_reply_err(req, -EPERM);
}
