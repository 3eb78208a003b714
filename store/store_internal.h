/*
 * store_internal.h - the store's in-memory state, shared by the files of
 * store/ (and by tests).  Never included outside store/ and tests/.
 *
 * Locking: s->lock (rwlock) guards every field below it in struct store
 * and every node.  Readers (read, list, info, lookup) take it shared;
 * mutations take it exclusive, from validation through wal_append() to
 * applying the frame, so the order of frames in the log is the order in
 * which changes became visible.  The WAL has its own mutex; waiting for
 * durability (store_sync) holds no store lock.
 */
#ifndef STORE_STORE_INTERNAL_H
#define STORE_STORE_INTERNAL_H

#include "store/alloc.h"
#include "store/store.h"
#include "util/pmap.h"
#include "util/u64map.h"
#include "wal/record.h"
#include "wal/wal.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Data file layout: a 4096-byte header, then the data area. */
#define DATA_HDR 4096
#define DATA_MAGIC "CRVNDATA"
#define DATA_VERSION 1

struct ent {
	uint64_t seq;
	uint64_t off; /* absolute offset in the data file */
	uint32_t len;
	uint32_t crc; /* CRC-32C of the bytes */
	int64_t time_ns; /* when its Append was made (wall clock; 0 unknown) */
};

/* Ids of a space's documents (or of the root's spaces), ascending.  A
 * removed id stays in its slot with KIDS_GONE set (so removal moves
 * nothing); the array is compacted once the gone slots outnumber the
 * live ones (nodes.c).  n counts slots, live the members. */
struct kids {
	uint64_t *ids;
	uint32_t n, cap, live;
};

#define KIDS_GONE (1ull << 63)
/* Every node id is below this (replay refuses others): the top bit of an
 * id in a listing marks the slot gone. */
#define STORE_ID_LIMIT KIDS_GONE

/* Whether slot i of k holds a member, and its id. */
static inline bool kids_at(const struct kids *k, uint32_t i, uint64_t *id)
{
	*id = k->ids[i] & ~KIDS_GONE;
	return !(k->ids[i] & KIDS_GONE);
}

/*
 * A space or a document of the index: one object of s->node_pool
 * (nodes.c), sized for its name.  Its layout is what the index costs per document in memory
 * (docs/engine.md, "Memory"): keep fields narrow and rare ones out.
 *   - name is the node's last field: a rename to a longer name moves
 *     the node to a new allocation (node_rename), so never keep a node
 *     pointer across a change of the index.
 *   - ents points at one while the document holds at most one entry
 *     (cap 1), else at an allocation of cap entries; NULL with cap 0
 *     before the first entry.  Never copy a node by value.
 *   - kids (spaces) shares its bytes with one (documents): a space has no
 *     entries, a document no kids.
 * Nodes of both kinds are found through s->nodes (by id) and s->names
 * (by space and name, the map holding the nodes themselves).
 */
struct node {
	uint64_t id;
	uint64_t space_id; /* 0 for spaces */
	struct store_meta meta;
	uint64_t seq;
	uint64_t backup_seq;
	int64_t backup_time_ns;
	uint64_t lsn;
	uint64_t stored_bytes;
	struct ent *ents;
	uint32_t nent, cap;
	union {
		struct ent one; /* documents: the entry while cap is 1 */
		struct kids kids; /* spaces: their documents */
	};
	/* Eviction (evict.c): the entries are freed, the content at seq is
	 * the cloud's copy, evicted_bytes the size it had.  A document not
	 * evicted uses the same bytes as size_memo: the length of its
	 * content at seq plus one, 0 while unknown, told by the document
	 * layer once it has materialized it (store_doc_note_size; atomic,
	 * set under the shared lock), cleared whenever seq changes
	 * (replay.c) and by eviction and refill.  used_tick: when last read
	 * or changed: a tick of s->use_clock with STORE_USE_TICK set (since
	 * open), or a wall-clock time loaded from the file "use" (before);
	 * atomic: readers set it under the shared lock (evict.c, use.c). */
	union {
		uint64_t evicted_bytes; /* evicted */
		uint64_t size_memo; /* not evicted */
	};
	uint64_t used_tick;
	/* history: entries before hist_seq (the last Trim's newest entry,
	 * the base) are kept only for past versions; hist_bytes their
	 * length (sum in store.hist_bytes) */
	uint64_t hist_seq, hist_bytes;
	bool evicted;
	char name[]; /* key, or space name (see above) */
};

/* Make room for one more entry of document n (n->ents, n->cap; see
 * struct node).  0 or -ENOMEM. */
int node_ents_reserve(struct node *n);

/* A tombstone (tombs.c): one allocation, its names after it. */
struct tomb {
	uint64_t id;
	char *space, *key; /* in names[] */
	struct tomb *prev, *next; /* s->tombs, newest first */
	struct tomb *older; /* an older tombstone of the same name */
	char names[];
};

/* A map replaced by growth while a checkpoint may still msync it: kept
 * until no checkpoint can (store/grow.c). */
struct old_map {
	void *p;
	uint64_t len;
	struct old_map *next;
};

struct pending_free {
	uint64_t off, len, lsn;
};

struct store {
	char *dir;
	struct store_options opt;
	int lock_fd;
	int data_fd;
	uint8_t *map;
	uint64_t map_len; /* DATA_HDR + capacity */
	uint64_t capacity;
	uint8_t id[16]; /* the store identity (datafile.h), set at open */
	/* The warmer (datafile.h), started by the first space taken, and
	 * the range of the map it was last asked to populate (change.c;
	 * exclusive lock). */
	struct datafile_warm *warm;
	uint64_t warm_from, warm_to;
	bool warm_failed;
	struct wal *wal;
	store_change_fn hook;
	void *hook_arg;

	pthread_rwlock_t lock;
	/* threads waiting for the exclusive lock (store_wrlock): a long
	 * reader that takes the shared lock in steps lets them in between
	 * (store_rdlock_after_writers) */
	atomic_uint wr_waiting;
	uint64_t applied_lsn; /* of the last frame applied (lock held) */
	/* snapshot.c: ids per step of a view's gathering (0: default),
	 * and the test seam run between steps */
	uint32_t view_chunk;
	void (*view_between)(void *);
	void *view_between_arg;
	/* test seam: called as an index snapshot starts to be written, in
	 * the process writing it (a checkpoint's child: checkpoint.c) */
	void (*snap_writing)(void *);
	void *snap_writing_arg;
	struct alloc *alloc;
	/* The nodes by id and by (space, name): maps of the nodes
	 * themselves, objects of node_pool (util/pmap.h, nodes.c); use
	 * node_get, node_by_name, node_next. */
	struct ppool node_pool;
	struct pmap32 nodes, names;
	struct kids spaces; /* the root's children */
	struct store_meta root_meta;
	uint64_t next_id;
	uint64_t next_tomb_id;
	uint64_t ndocs, nspaces, nentries;
	uint64_t hist_bytes; /* sum of the nodes' hist_bytes */
	/* tombstones: list, by id, by name (tombs.c) */
	struct tomb *tombs;
	struct pmap tomb_ids, tomb_names;
	uint64_t ntombs;
	uint64_t backup_target; /* identity of the cloud target; 0 none */
	struct pending_free *pf;
	size_t npf, pf_head, pf_cap;
	uint64_t pf_bytes;
	struct wal_buf scratch;
	/* the change's frame bytes (for wal_throttle), and a frame reserved
	 * in the log and not yet filled, with its payload: set by the
	 * commit, taken by store_change_end, which fills it after letting
	 * go of the lock (lock held from one to the other) */
	size_t change_bytes;
	struct wal_slot fill;
	const void *fill_src;
	int failed; /* sticky in-memory failure (ENOMEM mid-apply) */

	/* replay state */
	bool replaying;
	bool in_snapshot;
	bool snap_done;
	uint32_t snap_crc;
	uint64_t snap_count;
	/* what SNAP_BEGIN announced, and the counts seen since (checked at
	 * SNAP_END) */
	struct wal_snap_begin snap_want, snap_seen;

	uint64_t last_snap_bytes;
	uint64_t appends;
	uint64_t cutovers;
	uint64_t cutover_pause_max_ns; /* under lock */
	int cutover_running; /* atomic flag */
	/* Held for a whole checkpoint (taken before lock): one checkpoint
	 * at a time.  Growth moves the map only when it gets cut_mu with
	 * trylock; else it keeps the old map for the checkpoint that may be
	 * msyncing it (grow.c). */
	pthread_mutex_t cut_mu;
	/* The checkpointer thread (when commit_ms > 0): a change that finds
	 * the log past its cut-over size asks it (cut_wanted) instead of
	 * checkpointing in its own thread.  Under req_mu. */
	pthread_mutex_t req_mu;
	pthread_cond_t req_cv;
	pthread_t cut_thread;
	bool has_cut_thread;
	bool cut_wanted;
	bool cut_stop;
	bool grow_wanted; /* growth ahead asked of the checkpointer */
	/* The map a running checkpoint msyncs (set at its begin; cut_mu). */
	void *cut_map;
	uint64_t cut_len;

	/* Growth (grow.c).  grow_mu serialises the file step of growths
	 * (taken with no store lock held);
	 * file_capacity (atomic; written under grow_mu) is the capacity the
	 * data file's durable header names, >= capacity. */
	pthread_mutex_t grow_mu;
	uint64_t file_capacity;
	/* An inline growth (store_grow_for) runs its file step without the
	 * store lock, with gate_closed set from before it unlocks until it
	 * has the lock again: other changes wait for it (store_change_begin,
	 * on gate_cv), so the state its change checked stays as it was;
	 * readers and checkpoints go on.  gate_closed is written under lock
	 * and gate_mu, read under either; gate_mu is taken after lock, or
	 * alone (grow.c). */
	pthread_mutex_t gate_mu;
	pthread_cond_t gate_cv;
	bool gate_closed;
	/* test seam: run in an inline growth's file step (grow_mu held, the
	 * store lock not) */
	void (*grow_file_seam)(void *);
	void *grow_file_seam_arg;
	/* test seam: run between the two lock holds of a large entry's
	 * append (docs.c, append_large; no lock held) */
	void (*large_seam)(void *);
	void *large_seam_arg;
	/* under lock: */
	struct old_map *old_maps;
	uint64_t grows;
	uint64_t grow_pause_max_ns;
	uint64_t grows_inline;
	uint64_t grow_inline_hold_max_ns;
	int64_t grow_retry_ns; /* no growth ahead before (mono clock) */
	/* the write rate: bytes taken since open, and at the start of the
	 * current window; the runway growth ahead keeps free */
	uint64_t taken_bytes, rate_mark;
	int64_t rate_t0;
	uint64_t runway;
	bool grow_asked; /* a growth ahead is asked and not done */

	/* Eviction (evict.c), under lock: evicted documents and the sizes
	 * their contents had; evictions and refills applied since open (live
	 * and replayed).  use_clock (atomic) numbers uses since open;
	 * use_open_ns: the wall clock at open (use.c). */
	uint64_t ndocs_evicted, evicted_bytes;
	uint64_t evictions, refills;
	uint64_t use_clock;
	int64_t use_open_ns;
	/* Named snapshots and the past states they keep (snapshot.c); NULL
	 * until the first snapshot.  Under lock. */
	struct snapstate *snaps;
};

/* replay.c: applying records (live and at open) and snapshots. */
int store_apply_frame(struct store *s, uint64_t lsn, const uint8_t *p,
		      size_t len, bool live);
/* 0 when the frame p (encoded by us, not yet logged) applies to the
 * current state under the rules of replay plus the bounds of a new change;
 * -EBADMSG (or -E2BIG) when it would be refused.  Changes nothing. */
int store_check_frame(struct store *s, const uint8_t *p, size_t len);
int store_replay_frame(void *arg, uint64_t lsn, const uint8_t *p, size_t len);
int store_write_snapshot(void *arg, struct wal_snap *sn);
int store_rebuild_alloc(struct store *s);

/* Free [off, off + len) once frame lsn is durable (replay.c). */
int store_free_later(struct store *s, uint64_t off, uint64_t len, uint64_t lsn);

/* snapshot.c: hooks of replay, checkpoint and open (s->lock held) */
/* Keep node id's state for the snapshots that see it, before frame lsn
 * changes it. */
int store_snapshot_before_change(struct store *s, uint64_t id, uint64_t lsn);
/* A live document drops the entry at off: true when a snapshot keeps it
 * (it must not be freed). */
bool store_snapshot_keeps(struct store *s, uint64_t off, uint64_t len);
/* rec_check and apply of SNAPSHOT_ADD, SNAPSHOT_DEL, PIN, NODE_LSN. */
int store_snapshot_check(struct store *s, const struct wal_rec *r);
int store_snapshot_apply(struct store *s, const struct wal_rec *r, uint64_t lsn,
			 bool live);
/* Put the snapshots, node LSNs and pinned states after a cut-over's
 * OrganizationSnapshot. */
int store_snapshot_write(struct store *s, struct wal_buf *b);
/* After replay: work out which kept entries no live document holds. */
void store_snapshot_settle(struct store *s);
/* Visit those entries (the allocator rebuild). */
int store_snapshot_orphans(struct store *s,
			   int (*fn)(void *arg, uint64_t off, uint64_t len),
			   void *arg);
uint64_t store_snapshot_orphan_count(struct store *s);
uint64_t store_snapshot_pinned_bytes(struct store *s);
void store_snapshot_free(struct store *s);

/* change.c: the mutation protocol (see there) */
int store_change_begin(struct store *s);
int store_change_commit(struct store *s, uint64_t *lsn);
/* The same, with spans of s->scratch whose CRC-32C the caller computed
 * (the bytes of its Append records: wal_append_spans). */
int store_change_commit_spans(struct store *s, const struct wal_span *sp,
			      size_t nsp, uint64_t *lsn);
/* The same for a frame the caller encoded in its own buffer p (len
 * bytes), which stays valid and unchanged until store_change_end: the
 * log reserves the frame under the lock and store_change_end copies it
 * in after letting go of the lock (wal_append_reserve). */
int store_change_commit_frame(struct store *s, const uint8_t *p, size_t len,
			      const struct wal_span *sp, size_t nsp,
			      uint64_t *lsn);
int store_change_end(struct store *s, int rc, uint64_t id, uint64_t lsn,
		     uint64_t *lsn_out);
/* Let go of the lock between the two steps of a large entry's append
 * (docs.c): space taken, nothing logged; growth ahead asked for if due. */
void store_change_pause(struct store *s);
/* Give back space taken before a pause, when the change does not go on
 * (takes the lock; nothing when the store failed). */
void store_space_giveback(struct store *s, uint64_t off, uint64_t len);
/* Write buf (len bytes) into the data file at off (space taken, not yet
 * published) without the lock, so that the copy into the map under the
 * lock finds the pages in the page cache (change.c). */
void store_space_place(struct store *s, uint64_t off, const void *buf,
		       uint64_t len);
/* Entries this large are appended in two steps (docs.c): space under the
 * lock, its bytes placed without it, then the commit. */
#define STORE_LARGE_ENTRY ((size_t)256 << 10)
int store_take_space(struct store *s, uint64_t len, uint64_t *off);
/* Give freed space whose frames are now durable back to the allocator. */
void store_release_durable(struct store *s);
/* The document id (not a space, not the root): NULL with *rc -ENOENT or
 * -EISDIR.  s->lock held. */
struct node *store_doc_node(struct store *s, uint64_t id, int *rc);

/* checkpoint.c */
int store_checkpointer_start(struct store *s);
void store_checkpointer_stop(struct store *s);
/* After a change: a cut-over when the log is past its size limit. */
void store_maybe_cutover(struct store *s);
/* A whole checkpoint; cut_mu and the exclusive lock held (growth,
 * close). */
int store_checkpoint_locked(struct store *s);

/* grow.c */
/* With the exclusive lock held: grow so that len more bytes fit, within
 * max_capacity and min_free.  0 when grown, -ENOSPC when growth cannot
 * help, or the error (sticky when the file step failed past
 * preallocation).  The lock is released during the file step and held
 * again on return; no other change runs meanwhile (gate_mu), but readers
 * and a checkpoint may, and the map may have moved: the caller's checked
 * state holds, pointers into the map do not. */
int store_grow_for(struct store *s, uint64_t len);
/* Under the lock: is the store short enough of space that growth ahead
 * is due?  Marks it asked. */
bool store_grow_due(struct store *s);
/* Growth ahead (the checkpointer thread, or a changing thread without
 * one), with no store lock held. */
void store_grow_ahead(struct store *s);
/* After a change, with no lock held: have growth ahead done. */
void store_grow_ask(struct store *s);
/* Unmap the maps growth replaced; cut_mu and the exclusive lock held. */
void store_old_maps_free(struct store *s);
/* Bytes the file system holding the store can give to growth while
 * keeping min_free_bytes free (0 when statvfs fails: logged). */
int store_disk_budget(struct store *s, uint64_t *out);

/* evict.c */
/* A used_tick that numbers a use since open (above every wall-clock
 * time) rather than a time loaded from before. */
#define STORE_USE_TICK (UINT64_C(1) << 63)
/* Note a use of n (a read or an append) for least-recently-used order. */
void store_node_used(struct store *s, struct node *n);
/* use.c: the uses kept across a clean close (the file "use"): loaded at
 * open after replay, saved at close; failures are logged, never fatal. */
void store_use_load(struct store *s);
void store_use_save(struct store *s);
/* Apply an EVICT record (checked) / a refilling APPEND to n. */
void store_evict_apply(struct store *s, struct node *n, uint64_t size_bytes);
void store_refill_apply(struct store *s, struct node *n);
/* A node leaves the index: its evicted share goes. */
void store_evict_forget(struct store *s, struct node *n);

/* nodes.c */
/* Empty maps of nodes (s->nodes, s->names) and their pool; release
 * frees every node (and what it owns), the tables and the pool. */
void nodes_init(struct store *s);
void nodes_release(struct store *s);
/* Room in both maps for n nodes (a snapshot's announced count, capped at
 * NODES_EXPECT_MAX: hostile counts cost at most that), so that loading
 * them does not rehash every node at each doubling.  Only a hint. */
#define NODES_EXPECT_MAX (1ull << 24)
void nodes_expect(struct store *s, uint64_t n);
struct node *node_get(struct store *s, uint64_t id);
/* Iterate over every node (start with *pos = 0; the id and the node in
 * *id and *val, either may be NULL): true, or false at the end.  Order is
 * arbitrary; no node added or removed in between. */
bool node_next(struct store *s, size_t *pos, uint64_t *id, void **val);
struct node *node_by_name(struct store *s, uint64_t space_id, const char *name,
			  size_t len);
/* Add a node: 0, -EEXIST (a node of that id, or of that name in that
 * space, is there: nothing changed) or -ENOMEM. */
int node_add(struct store *s, uint64_t id, uint64_t space_id, const char *name,
	     size_t len, const struct wal_meta *m, struct node **out);
/* A hint: node_add of this id and name comes soon (replay of a
 * snapshot), so the slots it will probe are fetched into the cache now. */
void node_prefetch(const struct store *s, uint64_t id, uint64_t space_id,
		   const char *name, size_t len);
void node_remove(struct store *s, struct node *n);
/* Rename *np (it may move: *np is the node after). */
int node_rename(struct store *s, struct node **np, uint64_t space_id,
		const char *name, size_t len);
int kids_insert(struct kids *k, uint64_t id);
void kids_remove(struct kids *k, uint64_t id);
uint32_t kids_lower_bound(const struct kids *k, uint64_t id);
bool kids_has(const struct kids *k, uint64_t id);
/* tombs.c: the tombstones (see there).  tomb_add: 0 or -ENOMEM. */
void tombs_init(struct store *s);
void tombs_release(struct store *s);
struct tomb *tomb_find(struct store *s, const char *space, const char *key);
struct tomb *tomb_by_id(struct store *s, uint64_t id);
int tomb_add(struct store *s, uint64_t id, const char *space, size_t space_len,
	     const char *key, size_t key_len);
void tomb_del(struct store *s, uint64_t id);

/* The name rule of util/name.h with the store's reserved prefix (the
 * option its opener passed): 0, -EINVAL or -ENAMETOOLONG. */
int store_name_check(struct store *s, const char *name);

void meta_to_wal(const struct store_meta *m, struct wal_meta *w);
void meta_from_wal(const struct wal_meta *w, struct store_meta *m);

/* The exclusive lock, counted in wr_waiting while waited for. */
static inline void store_wrlock(struct store *s)
{
	atomic_fetch_add(&s->wr_waiting, 1);
	pthread_rwlock_wrlock(&s->lock);
	atomic_fetch_sub(&s->wr_waiting, 1);
}

/* The shared lock, for a reader that holds it in many short steps: first
 * lets every thread already waiting for the exclusive lock have it (the
 * lock prefers readers: a reader taking it again at once could hold
 * writers off for the whole walk). */
static inline void store_rdlock_after_writers(struct store *s)
{
	while (atomic_load(&s->wr_waiting))
		sched_yield();
	pthread_rwlock_rdlock(&s->lock);
}

#endif
