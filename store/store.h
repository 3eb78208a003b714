/*
 * store.h - the durable list store: documents as lists of appends.
 *
 * A store is a directory holding a preallocated, memory-mapped data file,
 * a write-ahead log and a lock file.  It keeps a namespace of spaces and
 * documents; each document is an ordered list of entries (opaque byte
 * strings, numbered by a per-document sequence number that never goes
 * back).  Every mutation is a WAL record; a multi-record mutation (delete,
 * rename over a target, snapshot + trim) is one WAL frame, replayed all or
 * nothing.
 *
 * Nodes: spaces and documents share one id counter; ids are never reused,
 * so they are stable inode numbers (the root directory is STORE_ROOT_ID).
 *
 * Durability: every mutating call returns the LSN of its WAL frame in
 * *lsn (may be NULL).  The change is visible at once; it is durable when
 * store_sync(s, lsn) returned 0.  A background committer makes every
 * change durable within options.commit_ms.  With options.sync each
 * mutation waits for durability before it returns.
 *
 * Names follow util/name.h; the store reserves no prefix of its own, only
 * the one its opener passes in options.reserved_prefix.
 *
 * Errors are negative errnos: -ENOENT, -EEXIST, -ENOTEMPTY, -ENOSPC (data
 * full: nothing changed), -EFBIG (entry too large), -EINVAL (bad name),
 * -ENAMETOOLONG, -EOVERFLOW (a document's seq would pass STORE_SEQ_MAX),
 * -EIO / the failed call's errno once the store is failed
 * (fail-stop: after a failed write, sync, msync or rename nothing more is
 * accepted).  A change the store refuses leaves no trace in its log: every
 * frame is checked against the state, by the rules replay applies, before
 * it is logged.
 *
 * Threads: every function is safe to call from any thread.  Callbacks run
 * with the store's read lock held and must not call back into the store.
 */
#ifndef STORE_STORE_H
#define STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/name.h"

#define STORE_ROOT_ID 1
#define STORE_NAME_MAX NAME_MAX_BYTES
/* The largest sequence number a document may reach (2^62): far below
 * 2^64, so no sum of a sequence number and a count of entries overflows.
 * An append past it fails with -EOVERFLOW; an import or restore that
 * names a larger one is refused with -EINVAL. */
#define STORE_SEQ_MAX (UINT64_C(1) << 62)

struct store;

/* min_free_bytes: min(5% of the file system, 1 GiB) */
#define STORE_MIN_FREE_AUTO UINT64_MAX

struct store_options {
	uint64_t capacity_bytes; /* data capacity of a new store */
	/* Growth (store/grow.c): when space runs short the data file grows
	 * online, up to max_capacity_bytes (0: no bound but the disk), never
	 * leaving less than min_free_bytes free on the file system holding
	 * the store (STORE_MIN_FREE_AUTO: min(5% of its size, 1 GiB)).
	 * max_capacity_bytes at or below the capacity: no growth. */
	uint64_t max_capacity_bytes;
	uint64_t min_free_bytes;
	uint64_t cutover_bytes; /* cut the log over past this size */
	uint32_t commit_ms; /* background commit interval; 0: no
			       background threads (commits and cut-overs
			       run in the callers' threads) */
	bool sync; /* every mutation durable before return */
	uint64_t max_entry_bytes; /* larger entries: -EFBIG */
	bool read_only; /* open without replaying into a writable log
				       (fsck, dump): no lock file, no recovery writes */
	bool lock_shared; /* with read_only: hold the lock file shared (a
			     read-only mount: no writer meanwhile); none on
			     read-only media that lacks one */
	const char *reserved_prefix; /* names starting with it are refused
					(-EINVAL) like any invalid name
					(util/name.h); NULL: none.  Borrowed:
					must outlive the store. */
};

/* Defaults: 64 MiB capacity growing without bound but the disk
 * (min_free STORE_MIN_FREE_AUTO), 64 MiB cut-over, 1000 ms commit, no
 * sync, 16 MiB entries. */
void store_options_default(struct store_options *o);

/* Open (creating a new store when dir holds none) and recover.  Takes the
 * lock file; a second opener gets -EBUSY and a log line naming the
 * holder's pid.  On success *out owns the store; free with store_close(). */
int store_open(const char *dir, const struct store_options *o,
	       struct store **out);

/* Flush everything, cut the log over (checkpoint), release the lock and
 * free.  Returns the first error met; the store is freed regardless.
 * Accepts NULL. */
int store_close(struct store *s);

/* Wait until every frame up to lsn is durable (lsn 0: everything so far).
 * Concurrent callers share one flush.  Returns 0 or the sticky error. */
int store_sync(struct store *s, uint64_t lsn);

/* store_sync without a waiting thread: fn(arg, rc) is called once, with
 * what store_sync(s, lsn) would return, when that is known (see
 * wal_notify: maybe before this returns, after this thread flushed the
 * log itself, or later from the thread that completes the flush; never
 * under a store lock; callbacks never run concurrently).  Shares flushes
 * with store_sync and the committer.  Returns 0, or -ENOMEM: fn is never
 * called. */
typedef void (*store_sync_fn)(void *arg, int rc);
int store_sync_async(struct store *s, uint64_t lsn, store_sync_fn fn,
		     void *arg);

/* Cut the log over now (checkpoint). */
int store_checkpoint(struct store *s);

/* Grow the data capacity to capacity_bytes (a no-op when it is not
 * larger), regardless of max_capacity_bytes and min_free_bytes (they
 * bound automatic growth only): the data file is extended and
 * preallocated and synced, its header rewritten and synced, then the map
 * and the allocator extended (store/grow.c).  Durable on return, with
 * every change made before the call (the log is synced).  Returns
 * 0, -ENOSPC when the disk lacks the room (nothing changed), -EROFS, or
 * the sticky error. */
int store_grow(struct store *s, uint64_t capacity_bytes);

/* ---- metadata of a node (space or document) ---- */

struct store_meta {
	uint32_t mode; /* permission bits only (07777) */
	uint32_t uid, gid;
	int64_t mtime_ns; /* last data change or set by utimens */
	int64_t ctime_ns; /* last change of anything */
};

/* id may be STORE_ROOT_ID: the root's metadata persists too (a new store
 * starts with mode 0755, the creating process's uid and gid, and the
 * creation time); store_doc_info(STORE_ROOT_ID) returns it. */
int store_meta_set(struct store *s, uint64_t id, const struct store_meta *m,
		   uint64_t *lsn);

/* ---- spaces ---- */

/* Create a space; *id receives its id.  -EEXIST, -EINVAL, -ENAMETOOLONG. */
int store_space_create(struct store *s, const char *name,
		       const struct store_meta *m, uint64_t *id, uint64_t *lsn);
/* Remove an empty space: -ENOTEMPTY, -ENOENT. */
int store_space_remove(struct store *s, const char *name, uint64_t *lsn);
int store_space_lookup(struct store *s, const char *name, uint64_t *id);

/* Visit spaces in id order starting at id >= from_id.  fn returns 0 to go
 * on, non-zero to stop (that value is returned).  name is valid during the
 * call only. */
typedef int (*store_name_fn)(void *arg, uint64_t id, const char *name);
int store_space_list(struct store *s, uint64_t from_id, store_name_fn fn,
		     void *arg);

/* Every id given so far (space or document, live or removed) is below
 * this; ids only grow, so a node created later has an id at or above it.
 * A listing that must leave out names created after it began keeps this
 * as its limit (fs/dir.c) without walking the space. */
uint64_t store_next_id(struct store *s);

/* ---- documents ---- */

/* Create an empty document (MapKey).  -EEXIST, -ENOENT (no such space). */
int store_doc_create(struct store *s, uint64_t space_id, const char *key,
		     const struct store_meta *m, uint64_t *id, uint64_t *lsn);
int store_doc_lookup(struct store *s, uint64_t space_id, const char *key,
		     uint64_t *id);
/* Visit a space's documents in id order from from_id (each name exactly
 * once even while documents are created and removed between calls). */
int store_doc_list(struct store *s, uint64_t space_id, uint64_t from_id,
		   store_name_fn fn, void *arg);

/* Delete + DelKey in one frame; frees the document's space. */
int store_doc_delete(struct store *s, uint64_t id, uint64_t *lsn);
/* The same, only while the document's last change is still the frame at
 * expect_lsn (checked under the store's lock with the delete): -EAGAIN,
 * nothing done, when anything changed it since. */
int store_doc_delete_if(struct store *s, uint64_t id, uint64_t expect_lsn,
			uint64_t *lsn);

enum store_rename_flags {
	STORE_RENAME_NOREPLACE = 1 << 0,
};
/* Move a document to (space_id, key), atomically replacing a document
 * already there (unless NOREPLACE: -EEXIST).  The id is kept. */
int store_doc_rename(struct store *s, uint64_t id, uint64_t space_id,
		     const char *key, int flags, uint64_t *lsn);

/* Rename space name to newname in one frame, keeping its id and its
 * documents (each is uploaded again under the new name, the copies under
 * the old one are tombstoned).  An empty space already called newname
 * is replaced (unless NOREPLACE: -EEXIST); a non-empty one: -ENOTEMPTY.
 * -ENOENT, -EINVAL, -ENAMETOOLONG.  On success *ids (owned by the caller,
 * free with free(); NULL when there are none) lists the space's
 * documents, *nids of them. */
int store_space_rename(struct store *s, const char *name, const char *newname,
		       int flags, uint64_t **ids, size_t *nids, uint64_t *lsn);

/* Append one entry; *seq receives its sequence number. */
int store_append(struct store *s, uint64_t id, const void *buf, size_t len,
		 uint64_t *seq, uint64_t *lsn);

/* Append n entries to one document in one frame (all or none); *seq
 * receives the sequence number of the last. */
struct store_import_entry;
int store_append_batch(struct store *s, uint64_t id,
		       const struct store_import_entry *e, size_t n,
		       uint64_t *seq, uint64_t *lsn);

/* Append an entry and drop every older one, in one frame (snapshot +
 * trim).  Fails with -EAGAIN, changing nothing, when the document's last
 * sequence number is not expect_seq. */
int store_append_replace(struct store *s, uint64_t id, const void *buf,
			 size_t len, uint64_t expect_seq, uint64_t *seq,
			 uint64_t *lsn);
/* The same, but dropping only the entries before first_kept (at most
 * expect_seq + 1: then it is store_append_replace).  The new entry is the
 * document's base; the entries kept before it are its history (kept for
 * reading past versions: store_snapshot_stats counts their bytes). */
int store_append_keep(struct store *s, uint64_t id, const void *buf, size_t len,
		      uint64_t expect_seq, uint64_t first_kept, uint64_t *seq,
		      uint64_t *lsn);

/* Keep only the newest keep entries. */
int store_trim(struct store *s, uint64_t id, uint32_t keep, uint64_t *lsn);

/* Visit a document's entries oldest first.  buf is valid during the call
 * only.  fn returns 0 to go on. */
typedef int (*store_entry_fn)(void *arg, uint64_t seq, const void *buf,
			      size_t len);
int store_read(struct store *s, uint64_t id, store_entry_fn fn, void *arg);

struct store_doc_info {
	uint64_t id;
	uint64_t space_id; /* 0 for a space */
	bool is_space;
	uint64_t seq; /* last sequence number (0: none yet) */
	uint32_t entries; /* entries held */
	uint64_t stored_bytes; /* bytes of the entries held */
	uint64_t lsn; /* frame of the last change */
	uint64_t backup_seq; /* last sequence confirmed in the cloud */
	int64_t backup_time_ns; /* when; 0 never uploaded; -1 a cloud copy
				   exists under this name but is stale (a
				   metadata change, or an older document's) */
	struct store_meta meta;
	/* evicted (store/evict.h): no entries here, the content at seq is
	 * the cloud's; evicted_bytes is the size it had (store_doc_evict) */
	bool evicted;
	uint64_t evicted_bytes;
	/* size_known: size is the length of the content at seq, as the
	 * document layer last told it (store_doc_note_size) */
	bool size_known;
	uint64_t size;
};
int store_doc_info(struct store *s, uint64_t id, struct store_doc_info *out);

/* The document layer tells the length of document id's content at seq
 * (its materialized JSON), so that a later stat need not materialize it
 * again.  Kept in memory only, while seq is the document's; ignored when
 * it no longer is (a change came meanwhile) or id is not a document. */
void store_doc_note_size(struct store *s, uint64_t id, uint64_t seq,
			 uint64_t size);

/* Name of a node: copies the space name and (for documents) the key into
 * the caller's buffers of STORE_NAME_MAX + 1 bytes; key may be NULL. */
int store_node_name(struct store *s, uint64_t id, char *space, char *key);

/* Restore: create (space, key) holding exactly these entries, sequence
 * numbers starting so that the last is last_seq, in one frame.  The space
 * is created when missing.  -EEXIST when the key exists; -EINVAL when
 * last_seq exceeds STORE_SEQ_MAX or is below n.  The entries' meaning is
 * not checked here (see doc_entries_check). */
struct store_import_entry {
	const void *buf;
	size_t len;
};
int store_import(struct store *s, const char *space, const char *key,
		 const struct store_meta *m, const struct store_import_entry *e,
		 size_t n, uint64_t last_seq, uint64_t *id, uint64_t *lsn);

/* ---- identity ---- */

#define STORE_UUID_LEN 16
/* The store's identity: 16 random bytes made when it was created (or at
 * the first writable open of a store made before identities existed),
 * kept for its life, never all zero.  It names the store outside its
 * directory (a cloud target's writer lease and change feed).  A store
 * opened read-only that has none yet reads as all zero. */
void store_uuid(struct store *s, uint8_t out[STORE_UUID_LEN]);

/* ---- backup bookkeeping (survives crashes; logged like any change) ---- */

/* Record that the document's entries up to seq are in the cloud. */
int store_backup_mark(struct store *s, uint64_t id, uint64_t seq,
		      int64_t time_ns);
/* The same, only while the document is still named (space, key), checked
 * atomically with the mark: -ESTALE (nothing recorded) when it was renamed,
 * -ENOENT when it is gone. */
int store_backup_mark_named(struct store *s, uint64_t id, const char *space,
			    const char *key, uint64_t seq, int64_t time_ns);
/* Record the identity of the cloud target the store backs up to (any
 * non-zero value naming it, e.g. a hash of its canonical URL).  When it
 * differs from the one recorded, every document becomes pending and
 * never uploaded there (backup seq 0, time 0: its first upload
 * reconciles with whatever the target holds under its name) in the same
 * logged change, and *changed (may be NULL) is set.  A store that had
 * recorded none (made by an older build, or new) adopts target as the
 * one it backed up to: nothing becomes pending.  Tombstones stay: a name
 * deleted locally is deleted from the new target too. */
int store_backup_target(struct store *s, uint64_t target, bool *changed);
/* The identity recorded by store_backup_target (0: none yet). */
uint64_t store_backup_target_id(struct store *s);
/* The recorded target lost what the store uploaded (emptied behind its
 * back): every document becomes pending and never uploaded there, as
 * for a new target, in one logged change.  A no-op without a target. */
int store_backup_forget(struct store *s);
/* Visit documents whose cloud copy is missing or stale: last seq above
 * backup_seq, or backup_time_ns <= 0. */
typedef int (*store_id_fn)(void *arg, uint64_t id);
int store_backup_pending(struct store *s, store_id_fn fn, void *arg);
/* A deleted or renamed-away document that had been uploaded leaves a
 * tombstone (its old space and key) until the cloud copy is removed. */
typedef int (*store_tomb_fn)(void *arg, uint64_t tomb_id, const char *space,
			     const char *key);
int store_tombstone_list(struct store *s, store_tomb_fn fn, void *arg);
int store_tombstone_clear(struct store *s, uint64_t tomb_id);
bool store_tombstoned(struct store *s, const char *space, const char *key);

/* Called after every committed change to a document (id) or space, from
 * the mutating thread with no store lock held.  Set once, before use. */
typedef void (*store_change_fn)(void *arg, uint64_t id);
void store_set_change_hook(struct store *s, store_change_fn fn, void *arg);

/* ---- statistics ---- */

struct store_stats {
	uint64_t capacity_bytes;
	uint64_t free_bytes;
	uint64_t documents;
	uint64_t spaces;
	uint64_t entries;
	uint64_t log_bytes;
	uint64_t durable_lsn;
	uint64_t appends;
	uint64_t flushes;
	uint64_t cutovers;
	uint64_t max_entry_bytes;
	uint64_t grows; /* growths of the data file since open */
	/* the longest a growth held changes and reads back (under the
	 * exclusive lock: the map step of any growth; an inline growth
	 * releases the lock for its file step: grow.c) */
	uint64_t grow_pause_max_ns;
	/* changes that found no room and grew the store themselves (they
	 * waited for the disk: preallocation and two synced header
	 * writes) */
	uint64_t grows_inline;
	/* the longest a checkpoint held changes (a forked one: noting the
	 * log position and the fork; one written under the lock: the whole
	 * snapshot) */
	uint64_t cutover_pause_max_ns;
	/* the longest one of them held the exclusive lock (its map step:
	 * the file step runs without it, grow.c) */
	uint64_t grow_inline_hold_max_ns;
};
void store_stats(struct store *s, struct store_stats *out);

/* Offline integrity check of the store in dir (opened read-only; works
 * while no one holds it): log frames and checksums, snapshot, allocator
 * and index invariants, every entry's checksum in the data file.  Writes a
 * human summary to out, one line per problem.  Returns 0 when clean, the
 * number of problems found (> 0), or a negative errno when it could not
 * run. */
#include <stdio.h>
int store_fsck(const char *dir, FILE *out);

#endif
