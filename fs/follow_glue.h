/*
 * follow_glue.h - the mount of a read-only follower (-o follow): the
 * follower of cloud/follow.h fed into the mount's store, and the
 * operations table that serves it (every read under the follower's read
 * side, so no reader sees half a feed batch; every change EROFS).
 */
#ifndef FS_FOLLOW_GLUE_H
#define FS_FOLLOW_GLUE_H

#include <stdio.h>

#include "fs/fuse.h"

struct fs;

/* The root's extended attribute holding the feed position. */
#define FOLLOW_XATTR_POSITION "user.caravan.follow_position"

/* Start following fs->cfg.cloud into fs->s (after the store is open):
 * the namespace is brought to the feed's latest position before this
 * returns (the mount serves only a consistent store), then a thread
 * polls.  0, or a negative errno after logging why. */
int follow_glue_start(struct fs *fs);
/* Before a store is taken over (-o cloud_takeover): a follower's store
 * started from a base snapshot's index holds documents never read (no
 * body); each is read back as a follower reads it (the state it shows,
 * never a newer one), since the new writer's uploads need the bodies.
 * 0 (also for any other store), or a negative errno after logging why
 * (the takeover is refused). */
int follow_glue_fill(struct fs *fs);
/* Stop the thread and free.  Accepts a never started glue. */
void follow_glue_stop(struct fs *fs);

/* The operations table of a follower mount (static). */
const struct fuse_lowlevel_ops *follow_glue_ops(void);

/* Append the follower's metrics (nothing when not following); labels
 * as fs/metrics.c renders them. */
void follow_glue_metrics(struct fs *fs, FILE *out, const char *labels);

#endif
