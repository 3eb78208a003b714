/*
 * namespace.h - names (fs/namespace.c): lookup, forget, mkdir, rmdir,
 * mknod, create, unlink, rename, and the refused link and symlink.
 */
#ifndef FS_NAMESPACE_H
#define FS_NAMESPACE_H

#include <stdbool.h>
#include <stdint.h>

#include "fs/fs.h"

/* The entry of document or space id; for a document one lookup is counted
 * on its node (*counted), which the caller gives back (fs_node_forget)
 * if the entry never reaches the kernel. */
int fs_child_entry(struct fs *fs, uint64_t id, bool is_doc,
		   struct fuse_entry_param *e, bool *counted);

void fs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void fs_op_forget_multi(fuse_req_t req, size_t count,
			struct fuse_forget_data *forgets);
void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		 mode_t mode);
void fs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		 mode_t mode, dev_t rdev);
void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		  mode_t mode, struct fuse_file_info *fi);
void fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		  fuse_ino_t newparent, const char *newname,
		  unsigned int flags);
void fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		const char *newname);
void fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		   const char *name);

#endif
