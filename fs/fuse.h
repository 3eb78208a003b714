/*
 * fuse.h - the one place fs/ takes libfuse's low-level API from, at the
 * API version we are written against.
 */
#ifndef FS_FUSE_H
#define FS_FUSE_H

#define FUSE_USE_VERSION 312

#include <fuse_lowlevel.h>

#endif
