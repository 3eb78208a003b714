/*
 * node.h - the kernel's inodes of documents (fs/node.c): node ids, lookup
 * counts, the handles open on each node, and which handle may read through
 * the page cache.  One struct fs_nodes per mount; it uses the store and
 * the FUSE session, nothing else of fs/.
 *
 * The node id space (st_ino is always the store id):
 *   1 (STORE_ROOT_ID = FUSE_ROOT_ID)  the root
 *   2 .. FS_NODE_BASE-1               spaces and documents, by store id
 *   FS_NODE_BASE ..                   documents whose store-id node is
 *                                     retired (never reused)
 *   FS_CLOUD_BASE ..                  directory offsets (and listed inode
 *                                     numbers) of cloud-only names
 *   FS_METRICS_INO                    the metrics file
 */
#ifndef FS_NODE_H
#define FS_NODE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "fs/fuse.h"
#include "store/doc.h"
#include "store/store.h"
#include "util/pmap.h"
#include "util/u64map.h"

#define FS_NODE_BASE (UINT64_C(1) << 60)
#define FS_CLOUD_BASE (UINT64_C(1) << 61)
#define FS_METRICS_INO (UINT64_C(1) << 62)

/* The node table of a mount.  Fields are node.c's; mu guards the table. */
struct fs_nodes {
	struct store *s; /* borrowed, set by fs_nodes_start */
	struct fuse_session *se; /* borrowed, set by fs_nodes_start */
	atomic_uint_fast64_t *retirements; /* counter, borrowed */
	pthread_mutex_t mu; /* guards nodes, cur, next_nodeid */
	struct pmap nodes; /* the struct fs_node by node id (node.c) */
	struct u64map cur; /* store id -> its current node, if not its own */
	uint64_t next_nodeid;
};

/* An empty table; each retirement for a writer counts one in *retirements
 * (borrowed, must outlive the table).  Returns 0. */
int fs_nodes_init(struct fs_nodes *nt, atomic_uint_fast64_t *retirements);
/* Free every node (after the session ended). */
void fs_nodes_release(struct fs_nodes *nt);
/* From now on the table asks store s about documents and tells session
 * se's kernel about nodes (both borrowed: they must outlive
 * fs_nodes_stop, which comes before the session is destroyed). */
void fs_nodes_start(struct fs_nodes *nt, struct store *s,
		    struct fuse_session *se);
void fs_nodes_stop(struct fs_nodes *nt);
/* Store id behind a node id the kernel uses (a store id, the root and the
 * metrics file stand for themselves); 0 when unknown. */
uint64_t fs_node_doc(struct fs_nodes *nt, uint64_t nodeid);
/* The node id to give the kernel for document id in an entry reply: the
 * document's current node, one lookup counted.  0 or -ENOMEM. */
int fs_node_lookup(struct fs_nodes *nt, uint64_t id, uint64_t *nodeid);
/* The kernel dropped nlookup lookups of nodeid (FORGET), or an entry
 * reply never reached it. */
void fs_node_forget(struct fs_nodes *nt, uint64_t nodeid, uint64_t nlookup);
/* Document id was deleted: drop a current node nobody holds. */
void fs_node_deleted(struct fs_nodes *nt, uint64_t id);

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
int fs_node_open_write(struct fs_nodes *nt, uint64_t nodeid, uint64_t id);
/* Register a read-only open of nodeid given the document's current
 * snapshot sn (borrowed); *out says how to open (through the page cache
 * only if may_cache) and what to read. */
int fs_node_open_read(struct fs_nodes *nt, uint64_t nodeid, uint64_t id,
		      struct doc_snap *sn, bool may_cache,
		      struct fs_node_open *out);
/* A create reply for document id: a node fit for a new writer, with one
 * lookup counted and the writer registered. */
int fs_node_create(struct fs_nodes *nt, uint64_t id, uint64_t *nodeid);
/* A handle of that kind closed (or a truncate ended: FS_OPEN_WRITE). */
void fs_node_close(struct fs_nodes *nt, uint64_t nodeid,
		   enum fs_open_kind kind);
/* Whether the kernel must not cache the node's attributes: a writer has
 * been registered on it (the kernel's i_size of it may then be one the
 * kernel computed itself) or it is retired (see "Kernel caching" in
 * ops.c). */
bool fs_node_attr_volatile(struct fs_nodes *nt, uint64_t nodeid);
/* The kernel's cached attributes of nodeid are dropped (attributes only:
 * never blocks, safe from any request; nothing before fs_nodes_start). */
void fs_node_inval_attr(struct fs_nodes *nt, uint64_t nodeid);
/* The size the node's page-cache readers read, if it has any. */
bool fs_node_pinned_size(struct fs_nodes *nt, uint64_t nodeid, uint64_t *size);
/* Keep the attributes last reported for nodeid ... */
void fs_node_remember(struct fs_nodes *nt, uint64_t nodeid,
		      const struct store_meta *m, uint64_t size);
/* ... and give them back once the document is gone while handles are
 * still open on the node (the size of its page-cache readers' version if
 * it has any); -ENOENT otherwise. */
int fs_node_last(struct fs_nodes *nt, uint64_t nodeid, struct store_meta *m,
		 uint64_t *size);
/* Whether document id (store id) has handles open on its current node
 * (eviction leaves such a document alone). */
bool fs_node_busy(struct fs_nodes *nt, uint64_t id);

#endif
