/*
 * fs.h - the caravanfs filesystem: configuration, state and the FUSE
 * operations table (fs/ops.c, fs/file.c, fs/xattr.c), metrics
 * (fs/metrics.c) and the cloud glue (fs/cloud_glue.c).  Private to fs/ and
 * its tests; the program itself is fs/main.c.
 */
#ifndef FS_FS_H
#define FS_FS_H

#define FUSE_USE_VERSION 312

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/doc.h"
#include "store/store.h"
#include "util/u64map.h"

/* The hidden, reserved, read-only metrics file at the root.  Its inode
 * number lies above every id the store can hand out. */
#define FS_METRICS_NAME ".caravan-metrics"
#define FS_METRICS_INO (UINT64_C(1) << 62)
/* Directory offsets (and listed inode numbers) of cloud-only names start
 * here, above every store id. */
#define FS_CLOUD_BASE (UINT64_C(1) << 61)
/* Names starting with this are reserved (never created, never listed). */
#define FS_RESERVED_PREFIX ".caravan"
/* Node ids given to documents whose store-id node is retired (fs/node.c)
 * start here, above every store id and below FS_CLOUD_BASE. */
#define FS_NODE_BASE (UINT64_C(1) << 60)

/* Every option of the program (fs/options.c parses them). */
struct fs_config {
	char *store_dir;
	char *mountpoint;
	/* store */
	uint64_t capacity_bytes;
	uint64_t cutover_bytes;
	uint32_t commit_ms;
	bool sync;
	/* documents */
	uint64_t cache_bytes;
	uint64_t max_doc_bytes;
	uint64_t max_patch_bytes;
	uint32_t compact_entries;
	uint32_t compact_ratio;
	uint64_t compact_min_bytes;
	/* cloud */
	char *cloud; /* "none", "dir:/PATH" or "s3://BUCKET/PREFIX" */
	char *s3_endpoint;
	char *s3_region;
	bool s3_path_style;
	uint32_t backup_delay_ms;
	/* kernel interface */
	double entry_timeout_s;
	double attr_timeout_s;
	bool direct_io; /* every open direct_io: no page cache */
	uint32_t max_threads; /* FUSE worker threads at most */
	bool close_sync;
	bool read_only; /* -o ro: store opened read-only, no cloud */
	bool allow_other; /* -o allow_other (implies default_permissions) */
	/* memory a client can pin (fs/file.c charges it) */
	uint64_t max_pinned_bytes; /* versions held by open read handles */
	uint64_t max_pending_bytes; /* unfinished values of write handles */
	/* operations */
	char *metrics_file;
	uint32_t metrics_ms;
	bool foreground;
	bool debug;
};

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
struct fs_handle;

struct fs {
	struct fs_config cfg;
	struct store *s;
	struct doc *doc;
	struct cloud_glue *cloud;
	struct fs_counters c;
	int64_t start_ns; /* mount time */
	pthread_mutex_t meta_mu; /* read-modify-write of node metadata */
	pthread_mutex_t handles_mu; /* the list of open handles */
	struct fs_handle *handles;
	struct dir_handle *dirs; /* open directory handles, under handles_mu */
	struct fuse_session *se; /* set before the first request */
	bool page_cache; /* read-only opens may use it (op_init) */
	pthread_mutex_t nodes_mu; /* fs/node.c: nodes, cur, next_nodeid */
	struct u64map nodes;
	struct u64map cur;
	uint64_t next_nodeid;
	/* fs/node.c: names whose dentries to drop, and the thread doing it */
	pthread_mutex_t inval_mu; /* guards the four fields below */
	pthread_cond_t inval_cv;
	uint64_t *inval_ids;
	size_t inval_n, inval_cap;
	bool inval_stop;
	bool inval_running; /* set and cleared by the mount's thread */
	pthread_t inval_thread;
	/* fs/sync.c: fsync requests waiting for the store */
	pthread_mutex_t sync_mu; /* guards sync_pending */
	pthread_cond_t sync_cv; /* sync_pending fell to 0 */
	unsigned sync_pending; /* registered, not yet answered */
	bool sync_running; /* set and cleared by the mount's thread */
	/* fs/file.c: memory clients pin (max_pinned, max_pending) */
	pthread_mutex_t pin_mu; /* guards pins and pinned_bytes */
	struct u64map pins; /* snapshot address -> handles holding it */
	uint64_t pinned_bytes; /* text of the snapshots in pins */
	atomic_uint_fast64_t pending_bytes; /* held by write handles' splitters */
};

/* The operations table; userdata of the session is the struct fs. */
extern const struct fuse_lowlevel_ops fs_ops;

/* ---- fs/ops.c ---- */
/* Note the mount time and make sure the store holds the root's
 * attributes (after the store opened).  0 or the store's error. */
int fs_root_init(struct fs *fs);
/* Name rules of SPEC 3 for a new name: 0, -EINVAL, -ENAMETOOLONG. */
int fs_name_check(const char *name);
bool fs_name_reserved(const char *name);
/* Attributes of a node id (root, space, document, metrics file). */
int fs_stat(struct fs *fs, uint64_t ino, struct stat *st);
/* The entry reply for node id nodeid (of store id id). */
int fs_entry(struct fs *fs, uint64_t nodeid, struct fuse_entry_param *e);
/* How long the kernel may keep the attributes of node ino. */
double fs_attr_timeout(struct fs *fs, uint64_t ino);
/* Log a failed operation on a node with its name: user errors (EINVAL,
 * EFBIG, ENOENT, ...) at debug level, store trouble (ENOSPC, EIO,
 * EBADMSG, ENOMEM, ...) as warnings. */
void fs_log_failure(struct fs *fs, uint64_t id, const char *what, int rc);
/* Create an empty document (parent must be a space). */
int fs_doc_create(fuse_req_t req, struct fs *fs, uint64_t parent,
		  const char *name, mode_t mode, uint64_t *id);
int64_t fs_now_ns(void);

/* ---- fs/node.c: the kernel's inodes of documents ---- */
int fs_nodes_init(struct fs *fs);
/* Free every node (after the session ended). */
void fs_nodes_release(struct fs *fs);
/* Start and stop the thread that drops the kernel's dentries of
 * documents whose writers all closed (fs->se must be set; stop before the
 * session is destroyed).  Starting may fail (-errno): the mount then works
 * without it, those documents' attributes just stay uncached longer. */
int fs_nodes_start(struct fs *fs);
void fs_nodes_stop(struct fs *fs);
/* Store id behind a node id the kernel uses (a store id, the root and the
 * metrics file stand for themselves); 0 when unknown. */
uint64_t fs_node_doc(struct fs *fs, uint64_t nodeid);
/* The node id to give the kernel for document id in an entry reply: the
 * document's current node, one lookup counted.  0 or -ENOMEM. */
int fs_node_lookup(struct fs *fs, uint64_t id, uint64_t *nodeid);
/* The kernel dropped nlookup lookups of nodeid (FORGET), or an entry
 * reply never reached it. */
void fs_node_forget(struct fs *fs, uint64_t nodeid, uint64_t nlookup);
/* Document id was deleted: drop a current node nobody holds. */
void fs_node_deleted(struct fs *fs, uint64_t id);

enum fs_open_kind {
	FS_OPEN_WRITE, /* direct_io, registered writer */
	FS_OPEN_DIRECT, /* read-only, direct_io */
	FS_OPEN_CACHED, /* read-only, through the page cache */
};
struct fs_node_open {
	enum fs_open_kind kind;
	bool keep_cache;
	struct doc_snap *snap; /* new reference: what the handle reads */
};
/* Register a writer (a write open, an O_TRUNC open, a truncate) on
 * nodeid of document id.  0, or -ESTALE when the node serves page-cache
 * readers or is retired: the kernel then looks the name up again
 * (LOOKUP_REVAL) and finds a node made for the writer. */
int fs_node_open_write(struct fs *fs, uint64_t nodeid, uint64_t id);
/* Register a read-only open of nodeid given the document's current
 * snapshot sn (borrowed); *out says how to open (through the page cache
 * only if may_cache) and what to read. */
int fs_node_open_read(struct fs *fs, uint64_t nodeid, uint64_t id,
		      struct doc_snap *sn, bool may_cache,
		      struct fs_node_open *out);
/* A create reply for document id: a node fit for a new writer, with one
 * lookup counted and the writer registered. */
int fs_node_create(struct fs *fs, uint64_t id, uint64_t *nodeid);
/* A handle of that kind closed (or a truncate ended: FS_OPEN_WRITE). */
void fs_node_close(struct fs *fs, uint64_t nodeid, enum fs_open_kind kind);
/* Whether the kernel must not cache the node's attributes: a writer has
 * been registered on it (the kernel's i_size of it may then be one the
 * kernel computed itself) or it is retired (see "Kernel caching" in
 * ops.c). */
bool fs_node_attr_volatile(struct fs *fs, uint64_t nodeid);
/* The kernel's cached attributes of nodeid are dropped (attributes only:
 * never blocks, safe from any request). */
void fs_inval_attr(struct fs *fs, uint64_t nodeid);
/* The size the node's page-cache readers read, if it has any. */
bool fs_node_pinned_size(struct fs *fs, uint64_t nodeid, uint64_t *size);
/* Keep the attributes last reported for nodeid ... */
void fs_node_remember(struct fs *fs, uint64_t nodeid,
		      const struct store_meta *m, uint64_t size);
/* ... and give them back once the document is gone while handles are
 * still open on the node (the size of its page-cache readers' version if
 * it has any); -ENOENT otherwise. */
int fs_node_last(struct fs *fs, uint64_t nodeid, struct store_meta *m,
		 uint64_t *size);

/* ---- fs/file.c ---- */
void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	       struct fuse_file_info *fi);
void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	     struct fuse_file_info *fi);
void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
	      off_t off, struct fuse_file_info *fi);
void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
	      struct fuse_file_info *fi);
/* ftruncate(fd, 0) through handle fi: its stream starts again at offset
 * 0 and its next value replaces the document. */
void fs_handle_truncated(struct fuse_file_info *fi);
/* Free every handle still open (after the session ended). */
void fs_handles_free(struct fs *fs);
/* The same for directory handles (fs/ops.c): a directory still open when
 * the session ends never gets its releasedir. */
void fs_dir_handles_free(struct fs *fs);

/* ---- fs/sync.c: fsync requests answered when durable ---- */
/* Start and stop answering fsyncs from the store's durability callbacks
 * (stop before the session is destroyed: it waits until every request
 * was answered).  Before start, fsync waits in the request's thread;
 * start returns 0 (or -errno). */
int fs_sync_start(struct fs *fs);
void fs_sync_stop(struct fs *fs);
/* Answer fsync request req (of node ino, started at t0) once every frame
 * up to lsn (0: everything logged so far) is durable. */
void fs_sync_wait(struct fs *fs, fuse_req_t req, uint64_t ino, uint64_t lsn,
		  int64_t t0);

/* ---- fs/xattr.c ---- */
void fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 const char *value, size_t size, int flags);
void fs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

/* ---- fs/metrics.c ---- */
/* Render every metric in Prometheus text format into a new buffer (free
 * with free()).  Returns 0 or -ENOMEM. */
int fs_metrics_render(struct fs *fs, char **out, size_t *len);
void fs_metrics_fsync(struct fs *fs, int64_t ns);
/* Rewrite cfg.metrics_file every cfg.metrics_ms from a thread. */
int fs_metrics_start(struct fs *fs);
void fs_metrics_stop(struct fs *fs);

#endif
