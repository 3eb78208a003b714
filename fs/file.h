/*
 * file.h - open files (fs/file.c): read snapshots and write streams.
 */
#ifndef FS_FILE_H
#define FS_FILE_H

#include <stdbool.h>
#include <stdint.h>

#include "fs/fs.h"

struct fs_handle;

void fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi);
void fs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
		 off_t off, struct fuse_file_info *fi);
void fs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		 struct fuse_file_info *fi);

/* The handle of an open(O_CREAT) (fs_op_create, fs/namespace.c): open
 * node nodeid, on which a writer is registered (fs_node_create), with
 * flags; created_lsn is the frame of the create when the document was
 * just made for this open (0: it existed): if the handle then fails
 * before it stored anything, the document is deleted at close.  On
 * failure the writer is unregistered.  0 or -errno; *out is freed by
 * fs_file_free unless fs_file_reply sent it. */
int fs_file_new(struct fs *fs, uint64_t nodeid, int flags, uint64_t created_lsn,
		struct fs_handle **out);
/* Send the open (e NULL) or create (entry e) reply of h; h is then the
 * kernel's (fi->fh), or freed when the open was interrupted. */
void fs_file_reply(fuse_req_t req, struct fs *fs, struct fs_handle *h,
		   struct fuse_file_info *fi, const struct fuse_entry_param *e);
/* Free a handle no reply carried (NULL is fine). */
void fs_file_free(struct fs_handle *h);
/* ftruncate(fd, 0) through handle fi: its stream starts again at offset
 * 0 and its next value replaces the document. */
void fs_handle_truncated(struct fuse_file_info *fi);
/* Free every file handle still open (after the session ended). */
void fs_files_free(struct fs *fs);

#endif
