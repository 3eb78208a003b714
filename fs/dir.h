/*
 * dir.h - directory listing (fs/dir.c).
 */
#ifndef FS_DIR_H
#define FS_DIR_H

#include "fs/fs.h"

void fs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi);
void fs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi);
void fs_op_releasedir(fuse_req_t req, fuse_ino_t ino,
		      struct fuse_file_info *fi);
void fs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
		    struct fuse_file_info *fi);
/* Free every directory handle still open (after the session ended: a
 * directory still open then never gets its releasedir). */
void fs_dirs_free(struct fs *fs);

#endif
