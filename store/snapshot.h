/*
 * snapshot.h - named snapshots of a store's namespace (store/snapshot.c).
 *
 * A snapshot is a name for one log position L (the LSN of the frame that
 * made it): reading through it shows every space and document as it was
 * after all frames before L, whatever changed since.  Making one copies
 * nothing (O(1) in the size of the namespace); the store keeps the past
 * state of a node (name, metadata, entry list) when a change after a
 * snapshot replaces it, and keeps the entries that state names out of the
 * allocator while any snapshot can see them.
 *
 * Names follow util/name.h (the store's reserved prefix does not apply:
 * snapshot names are not spaces).  Errors are negative errnos: -EEXIST,
 * -ENOENT (no such snapshot, or no such node in it), -EINVAL, -EROFS,
 * -ENAMETOOLONG, or the store's sticky error.
 *
 * Threads: like store.h, every function is safe from any thread; the
 * callbacks run with the store's read lock held and must not call back
 * into the store.
 */
#ifndef STORE_SNAPSHOT_H
#define STORE_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

/* Take a snapshot called name of the namespace as it is now.  Durable on
 * return (the frame is synced, like an fsync); *lsn (may be NULL)
 * receives its log position. */
int store_snapshot_create(struct store *s, const char *name, uint64_t *lsn);

/* Drop the snapshot; what only it kept is freed (the space is handed out
 * again once the dropping frame is durable).  Durable on return. */
int store_snapshot_delete(struct store *s, const char *name);

/* Visit the snapshots, oldest first.  name is valid during the call. */
typedef int (*store_snapshot_fn)(void *arg, const char *name, uint64_t lsn,
				 int64_t time_ns);
int store_snapshot_list(struct store *s, store_snapshot_fn fn, void *arg);

/* The snapshot's log position and creation time: -ENOENT when none. */
int store_snapshot_get(struct store *s, const char *name, uint64_t *lsn,
		       int64_t *time_ns);

/* ---- the namespace as of a snapshot ----
 *
 * Each call names the snapshot; -ENOENT when it does not exist (any
 * more).  The first read of a snapshot indexes its names (O(namespace)
 * once, then kept until it is deleted). */

/* Visit the spaces (space_id 0) or the documents of space space_id as of
 * the snapshot, in name order. */
int store_snapshot_names(struct store *s, const char *snap, uint64_t space_id,
			 store_name_fn fn, void *arg);
/* The id of space name (space_id 0) or of document name in space_id. */
int store_snapshot_lookup(struct store *s, const char *snap, uint64_t space_id,
			  const char *name, uint64_t *id);
/* A node's state as of the snapshot (backup fields are 0; lsn is the
 * frame of its last change before the snapshot, 0 when older than the
 * log). */
int store_snapshot_info(struct store *s, const char *snap, uint64_t id,
			struct store_doc_info *out);
/* A document's entries as of the snapshot, oldest first (like
 * store_read). */
int store_snapshot_read(struct store *s, const char *snap, uint64_t id,
			store_entry_fn fn, void *arg);

/* ---- entry times (document history) ----
 *
 * Every entry carries the wall-clock time (util/clock.h, ns since the
 * epoch) at which the Append that made it was written, durably (the log
 * record, and the index a cut-over writes: SNAP_DOC_T).  0 means unknown:
 * an entry a cut-over wrote before entry times existed (SNAP_DOC), or one
 * that came back from the cloud after eviction. */

/* Visit the seq and time of every entry document id holds, oldest first;
 * fn returns 0 to go on.  -ENOENT, -EISDIR, -ENODATA (evicted). */
typedef int (*store_time_fn)(void *arg, uint64_t seq, int64_t time_ns);
int store_entry_times(struct store *s, uint64_t id, store_time_fn fn,
		      void *arg);

struct store_snapshot_stats {
	uint64_t snapshots;
	uint64_t pinned_states; /* past node states kept */
	/* bytes of entries no live document holds, kept for snapshots */
	uint64_t pinned_bytes;
	/* bytes of entries documents keep only for their history (before
	 * their base: store_append_keep); live documents hold them */
	uint64_t history_bytes;
};
void store_snapshot_stats(struct store *s, struct store_snapshot_stats *out);

/* A snapshot's name index is gathered in steps that hold the store's
 * shared lock over at most ids names each (changes go on between them;
 * default 4096, 0 restores it).  A test seam: between (after) steps,
 * between(arg) runs with no lock of the store held, so that the test
 * can change the store exactly there (NULL: nothing runs); it must not
 * read a snapshot's names (that would wait for the index being built). */
void store_snapshot_view_steps(struct store *s, uint32_t ids,
			       void (*between)(void *), void *arg);

#endif
