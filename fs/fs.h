/*
 * fs.h - the state of one mount (struct fs, the session's userdata) and
 * the helpers every file of fs/ uses (fs/fs.c).  Private to fs/.
 *
 * struct fs holds the parts that have their own objects (the node table,
 * fs/node.h; the open handles, fs/handle.h; the counters, fs/counters.h;
 * the fsyncs waiting for the store, fs/sync.h; the options,
 * fs/fs_config.h), the engine (store, doc) and the cloud glue.  Which
 * file does what is in ops.c's opening comment.
 *
 * Locks: meta_mu serializes the read-modify-write of node metadata
 * (fs/attr.c); the node table, the handle lists and the fsync count have
 * their own; counters are atomics; cfg, s, doc, cloud, se and page_cache
 * are set before the first request and only read while requests run.
 */
#ifndef FS_FS_H
#define FS_FS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "fs/counters.h"
#include "fs/fs_config.h"
#include "fs/fuse.h"
#include "fs/handle.h"
#include "fs/node.h"
#include "fs/sync.h"
#include "store/store.h"
#include "util/u64map.h"

/* The hidden, reserved, read-only metrics file at the root (node
 * FS_METRICS_INO, fs/node.h). */
#define FS_METRICS_NAME ".caravan-metrics"
#include "fs/reserved.h"

struct cloud_glue;
struct follow_glue;

struct fs {
	struct fs_config cfg;
	struct store *s;
	struct doc *doc;
	struct cloud_glue *cloud;
	struct fs_counters c;
	int64_t start_ns; /* mount time */
	pthread_mutex_t meta_mu; /* read-modify-write of node metadata */
	struct fs_handles handles; /* open files and directories */
	struct fuse_session *se; /* set before the first request */
	bool page_cache; /* read-only opens may use it (fs_op_init) */
	struct fs_nodes nodes; /* the kernel's inodes of documents */
	struct fs_sync sync; /* fsync requests waiting for the store */
	struct follow_glue *follow; /* -o follow (fs/follow_glue.c), or NULL */
	/* fs/snapdir.c: nodes of MNT/.caravan-snapshots (made at first
	 * use, freed by fs_op_destroy) */
	struct fs_snapdir *snapdir;
};

/* ---- fs/fs.c ---- */
/* The wall clock in nanoseconds since the epoch (clock_real_ns()). */
int64_t fs_now_ns(void);
/* Reply rc (0 or a negative errno) to req; -EBADMSG (a damaged entry)
 * goes to the kernel as EIO. */
void fs_reply_err(fuse_req_t req, int rc);
/* Log a failed operation on a node with its name: user errors (EINVAL,
 * EFBIG, ENOENT, ...) at debug level, store trouble (ENOSPC, EIO,
 * EBADMSG, ENOMEM, ...) as warnings. */
void fs_log_failure(struct fs *fs, uint64_t id, const char *what, int rc);
/* Name rules of SPEC 3 for a new name: 0, -EINVAL, -ENAMETOOLONG. */
int fs_name_check(const char *name);
/* Whether name starts with FS_RESERVED_PREFIX (never created, listed or
 * looked up, except FS_METRICS_NAME). */
bool fs_name_reserved(const char *name);

#endif
