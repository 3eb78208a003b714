/*
 * attr.h - what a node is and its attributes (fs/attr.c): stat, entry
 * replies, how long the kernel may cache them; getattr and setattr.
 */
#ifndef FS_ATTR_H
#define FS_ATTR_H

#include <stdint.h>
#include <sys/stat.h>

#include "fs/fs.h"

enum fs_kind {
	FS_KIND_ROOT,
	FS_KIND_SPACE,
	FS_KIND_DOC,
	FS_KIND_METRICS
};

/* What store id ino is (the root and the metrics file included).  0 or
 * the store's error (-ENOENT). */
int fs_kind(struct fs *fs, uint64_t ino, enum fs_kind *kind);
/* Note the mount time and make sure the store holds the root's
 * attributes (after the store opened).  0 or the store's error. */
int fs_root_init(struct fs *fs);
/* Attributes of a node id (root, space, document, metrics file). */
int fs_stat(struct fs *fs, uint64_t ino, struct stat *st);
/* The entry reply for node id nodeid. */
int fs_entry(struct fs *fs, uint64_t nodeid, struct fuse_entry_param *e);
/* How long the kernel may keep the attributes of node ino. */
double fs_attr_timeout(struct fs *fs, uint64_t ino);

void fs_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		   int to_set, struct fuse_file_info *fi);

#endif
