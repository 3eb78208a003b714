/*
 * ops.h - the FUSE low-level operations table of caravanfs (fs/ops.c).
 * The handlers are declared beside their files: fs/attr.h,
 * fs/namespace.h, fs/dir.h, fs/file.h, fs/xattr.h.
 */
#ifndef FS_OPS_H
#define FS_OPS_H

#include "fs/fuse.h"

/* The operations table; userdata of the session is the struct fs. */
extern const struct fuse_lowlevel_ops fs_ops;

#endif
