/*
 * snapdir.h - the read-only trees of snapshots and of document history at
 * the mount (MNT/.caravan-snapshots, MNT/.caravan-history, fs/snapdir.c).
 *
 * The handlers below stand in the operations table (ops.c) for the
 * filesystem's own: each serves the requests about the snapshot tree and
 * passes every other request on unchanged.
 */
#ifndef FS_SNAPDIR_H
#define FS_SNAPDIR_H

#include "fs/fs.h"

/* The directory of snapshots at the root (a reserved name: never listed,
 * never a space, never uploaded). */
#define FS_SNAPDIR_NAME ".caravan-snapshots"
/* The history of every document (reserved the same way):
 * .caravan-history/SPACE/KEY/SEQ, SEQ zero-padded to 20 digits. */
#define FS_HISTDIR_NAME ".caravan-history"

/* Free the tree's node table (the session ended).  Accepts a mount that
 * never used it. */
void fs_snapdir_free(struct fs *fs);

void fs_snap_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_snap_op_getattr(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi);
void fs_snap_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
			int to_set, struct fuse_file_info *fi);
void fs_snap_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, dev_t rdev);
void fs_snap_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode);
void fs_snap_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_snap_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_snap_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
			const char *name);
void fs_snap_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		       fuse_ino_t newparent, const char *newname,
		       unsigned int flags);
void fs_snap_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		     const char *newname);
void fs_snap_op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		       mode_t mode, struct fuse_file_info *fi);
void fs_snap_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_snap_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi);
void fs_snap_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		      size_t size, off_t off, struct fuse_file_info *fi);
void fs_snap_op_flush(fuse_req_t req, fuse_ino_t ino,
		      struct fuse_file_info *fi);
void fs_snap_op_release(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi);
void fs_snap_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		      struct fuse_file_info *fi);
void fs_snap_op_opendir(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi);
void fs_snap_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi);
void fs_snap_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			    off_t off, struct fuse_file_info *fi);
void fs_snap_op_releasedir(fuse_req_t req, fuse_ino_t ino,
			   struct fuse_file_info *fi);
void fs_snap_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			 struct fuse_file_info *fi);
void fs_snap_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			 const char *value, size_t size, int flags);
void fs_snap_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			 size_t size);
void fs_snap_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void fs_snap_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

#endif
