/*
 * fs.h - the state of one mount (struct fs, the session's userdata) and
 * the helpers every file of fs/ uses (fs/fs.c).  Private to fs/.
 *
 * struct fs holds the parts that have their own objects (the node table,
 * fs/node.h; the open handles, fs/handle.h; the options, fs/fs_config.h), the
 * engine (store, doc), the cloud glue, the counters and the fsync queue
 * (fs/sync.c).  Which file does what is in ops.c's opening comment.
 *
 * Locks: meta_mu serializes the read-modify-write of node metadata
 * (fs/attr.c); the node table and the handle lists have their own; the
 * sync queue's are sync_mu and sync_cv; counters are atomics; cfg, s,
 * doc, cloud, se and page_cache are set before the first request and only
 * read while requests run.
 */
#ifndef FS_FS_H
#define FS_FS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "fs/fs_config.h"
#include "fs/fuse.h"
#include "fs/handle.h"
#include "fs/node.h"
#include "store/store.h"
#include "util/u64map.h"

/* The hidden, reserved, read-only metrics file at the root (node
 * FS_METRICS_INO, fs/node.h). */
#define FS_METRICS_NAME ".caravan-metrics"
#include "fs/reserved.h"

/* Counters shown in the metrics (fs/metrics.c renders them). */
enum {
	FS_LAT_BUCKETS = 12
};
struct fs_counters {
	atomic_uint_fast64_t lookups, opens, reads, read_bytes;
	atomic_uint_fast64_t writes, write_bytes, patches, replaces;
	atomic_uint_fast64_t write_errors, flushes, incomplete_closes;
	atomic_uint_fast64_t fsyncs, fsync_ns_sum;
	atomic_uint_fast64_t fsync_le[FS_LAT_BUCKETS]; /* cumulative buckets */
	atomic_uint_fast64_t creates, unlinks, renames, restores;
	atomic_uint_fast64_t cached_opens, retirements;
	atomic_uint_fast64_t restore_failures;
	atomic_int open_handles;
};

struct cloud_glue;

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
	/* fs/sync.c: fsync requests waiting for the store */
	pthread_mutex_t sync_mu; /* guards sync_pending */
	pthread_cond_t sync_cv; /* sync_pending fell to 0 */
	unsigned sync_pending; /* registered, not yet answered */
	bool sync_running; /* set and cleared by the mount's thread */
	/* fs/snapdir.c: nodes of MNT/.caravan-snapshots (made at first
	 * use, freed by fs_op_destroy) */
	struct fs_snapdir *snapdir;
};

/* ---- fs/fs.c ---- */
/* The wall clock in nanoseconds since the epoch. */
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

/* ---- fs/sync.c: fsync requests answered when durable ---- */
/* Start and stop answering fsyncs from the store's durability callbacks
 * (stop before the session is destroyed: it waits until every request
 * was answered).  Before start, fsync waits in the request's thread. */
void fs_sync_start(struct fs *fs);
void fs_sync_stop(struct fs *fs);
/* Answer fsync or fsyncdir request req (of node ino, started at t0) once
 * every frame up to lsn (0: everything logged so far) is durable. */
void fs_sync_wait(struct fs *fs, fuse_req_t req, uint64_t ino, uint64_t lsn,
		  int64_t t0);

#endif
