/*
 * dir.c - directory listing: opendir, readdir, readdirplus, releasedir,
 * fsyncdir.
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
 * readdirplus returns a node and attributes with every name ("Kernel
 * caching" 6 in ops.c), a lookup counted on each document's node.
 *
 * Locks: the store's callbacks run under the store's lock and only format
 * or copy names; attributes are asked for after the listing returned.
 * Open directory handles are on fs->handles.dirs (its own mutex), only so
 * the mount can free those still open when the session ends.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs/attr.h"
#include "fs/cloud_glue.h"
#include "fs/dir.h"
#include "fs/namespace.h"
#include "fs/sync.h"
#include "util/grow.h"

/* An open directory (fi->fh). */
struct dir_handle {
	uint64_t limit; /* list ids below this (0: not known yet) */
	struct cloud_glue_dir *cloud; /* cloud-only names, or NULL */
	struct fs_handle_link link; /* on fs->handles.dirs */
};

static void dir_handle_free(struct fs *fs, struct dir_handle *dh)
{
	if (!dh)
		return;
	fs_handle_list_remove(&fs->handles.dirs, &dh->link);
	cloud_glue_dir_free(dh->cloud);
	free(dh);
}

void fs_dirs_free(struct fs *fs)
{
	struct fs_handle_link *link = fs_handle_list_pop(&fs->handles.dirs);
	struct dir_handle *dh;

	while (link) {
		dh = fs_handle_container(link, struct dir_handle, link);
		cloud_glue_dir_free(dh->cloud);
		free(dh);
		link = fs_handle_list_pop(&fs->handles.dirs);
	}
}

void fs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct cloud_glue_dir *cd = NULL;
	struct dir_handle *dh = NULL;
	enum fs_kind kind;
	int rc;

	rc = fs_kind(fs, fs_node_doc(&fs->nodes, ino), &kind);
	if (rc == 0 && kind != FS_KIND_ROOT && kind != FS_KIND_SPACE)
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
		fs_reply_err(req, rc);
		return;
	}
	dh->cloud = cd;
	fs_handle_list_add(&fs->handles.dirs, &dh->link);
	fi->fh = (uintptr_t)dh;
	fi->cache_readdir = 0;
	if (fuse_reply_open(req, fi) == -ENOENT)
		dir_handle_free(fs, dh); /* interrupted: no releasedir */
}

/* The listing of a directory handle covers ids below dh->limit: the names
 * present when it began (opendir, or a rewind to offset 0).  The store's
 * next id, not the largest id listed: finding that walked the whole
 * space before the first name (half a second at a million documents). */
static void dir_begin(struct fs *fs, struct dir_handle *dh, off_t off)
{
	if (off != 0 && dh->limit)
		return;
	dh->limit = store_next_id(fs->s);
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

/* Start a readdir or readdirplus reply of up to size bytes at off in the
 * listing of handle fi: 0, or -ENOMEM after replying it. */
static int fill_begin(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		      struct fuse_file_info *fi, struct dir_fill *df)
{
	struct dir_handle *dh = (struct dir_handle *)(uintptr_t)fi->fh;

	*df = (struct dir_fill){ .req = req, .size = size };
	df->buf = malloc(size);
	if (!df->buf) {
		fs_reply_err(req, -ENOMEM);
		return -ENOMEM;
	}
	dir_begin(fuse_req_userdata(req), dh, off);
	df->cloud = dh->cloud;
	df->limit = dh->limit;
	df->mode = ino == STORE_ROOT_ID ? S_IFDIR : S_IFREG;
	return 0;
}

void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct dir_fill df;
	uint64_t from;
	int rc = 0;

	if (fill_begin(req, ino, size, off, fi, &df) < 0)
		return;
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
		fs_reply_err(req, rc);
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
	struct plus_ent *grown;
	size_t need;
	char *copy;

	if (id >= pl->limit)
		return LIST_END;
	if (fs_name_reserved(name) || cloud_glue_dir_has(pl->cloud, name))
		return 0;
	need = fuse_add_direntry_plus(pl->req, NULL, 0, name, NULL, 0);
	if (need > pl->room)
		return LIST_FULL;
	grown = grow_array(pl->ents, &pl->cap, pl->n + 1, 64, sizeof(*grown));
	if (!grown) {
		pl->rc = -ENOMEM;
		return LIST_FULL;
	}
	pl->ents = grown;
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
		if (fs_child_entry(fs, pe->id, docs, &e, &counted) < 0) {
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

void fs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct plus_list pl = { .req = req };
	bool docs = ino != STORE_ROOT_ID, sent;
	struct dir_fill df;
	uint64_t from;
	int rc = 0;

	if (fill_begin(req, ino, size, off, fi, &df) < 0)
		return;
	pl.limit = df.limit;
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
		fs_reply_err(req, rc);
		sent = false;
	} else {
		sent = fuse_reply_buf(req, df.buf, df.pos) == 0;
	}
	plus_release(fs, &pl, sent);
	free(df.buf);
}

void fs_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	dir_handle_free(fuse_req_userdata(req),
			(struct dir_handle *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

void fs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
		    struct fuse_file_info *fi)
{
	/* A directory's changes are frames of the log like a document's:
	 * answered (sync.c) once every frame so far is durable, holding no
	 * request thread while another flush runs. */
	fs_sync_wait(fuse_req_userdata(req), req, ino, 0, fs_now_ns());
}
