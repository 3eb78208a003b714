/*
 * backup.h - the background uploader and restore: the store mirrored to a
 * cloud target.
 *
 * Uploading: backup_start() installs the store's change hook.  A changed
 * document is queued once however often it changes (coalescing) and its
 * upload starts options.delay_ms after the first change; options.uploads
 * worker threads upload in parallel.  An upload reads the document's
 * entries, waits until they are durable in the store (store_sync), sends
 * the document's JSON with its metadata (a readable object, docs/cloud.md)
 * and
 * only after the target confirmed it records store_backup_mark().  Failed
 * uploads are retried forever with exponential backoff and jitter, logged
 * each time, never dropped; while the target is down the filesystem keeps
 * working and the backlog drains when it returns.  At start every
 * document the store reports pending (store_backup_pending: changed since
 * its last confirmed upload, also across a crash) is queued, and every
 * tombstone (a deleted or renamed-away document whose cloud copy must go)
 * is deleted from the target, then cleared.  Uploads and deletions of the
 * same name never overlap.
 *
 * Restoring: backup_restore_doc() fetches a document missing locally,
 * verifies it (cloud_doc_verify: checksum, seq in range, a regular file's
 * mode, sanitized, valid ids, the body one JSON text within max_doc; an
 * archive of an older build: cloud_archive_verify), imports it
 * (store_import) and returns its id.  A corrupt, truncated or invalid
 * object is -EIO with a log line and nothing is imported.
 *
 * Target: backup_start() records the target's identity in the store
 * (store_backup_target); a target the store did not back up to last
 * makes every document pending, so a new target gets every document.  A name with a tombstone (deleted locally, the
 * cloud copy not yet removed) is -ENOENT: deletes never come back.
 *
 * Reconciling: the first upload of a document created or renamed here
 * whose name the catalog cannot vouch free in the cloud keeps what the
 * cloud holds there under a conflict name first (cloud/upload.c).
 *
 * Listing: what the cloud holds is the catalog's (cloud/catalog.h), which
 * the backup owns and keeps in step with its uploads and deletions;
 * backup_list_space() / backup_list_spaces() are its listings.
 *
 * Threads: every function may be called from any thread.  The change
 * hook runs on the store's mutating threads and only queues.
 */
#ifndef CLOUD_BACKUP_H
#define CLOUD_BACKUP_H

#include <stdbool.h>
#include <stdint.h>

#include "cloud/retry.h"
#include "cloud/target.h"
#include "store/store.h"

struct backup;

struct backup_options {
	uint32_t delay_ms; /* a change waits this long before its upload */
	uint32_t uploads; /* uploads in flight (worker threads) */
	/* Backoff between failed target calls (each of which has its own
	 * retries); max_attempts is ignored: the uploader never gives up. */
	struct cloud_retry_policy retry;
	uint32_t list_cache_ms; /* lifetime of a cached cloud listing */
	/* A restored archive must obey the mount's limits (cloud/verify.h) */
	uint64_t max_doc_bytes, max_patch_bytes;
	uint32_t negative_ms; /* lifetime of a negative entry; 0: default */
	/* Target for the calls a lookup waits for (one try, short timeouts;
	 * see cloud/catalog.h); NULL: target.  Borrowed. */
	struct cloud_target *quick;
	/* The writer lease (cloud/lease.h, cloud/writer.c): take the prefix
	 * over from another store; how often a held lease is checked; never
	 * write to the target at all (restores only: no lease, uploads
	 * and deletions wait for ever). */
	bool lease_takeover;
	uint32_t lease_check_ms;
	bool read_only;
	/* History (cloud/history.h, docs/cloud-history.md): how far back
	 * point-in-time restores reach; 0 keeps no change feed (the current
	 * objects only).  With a feed, a document is marked uploaded only
	 * once the feed batch holding its state is confirmed too.  The
	 * clock (NULL: CLOCK_REALTIME), the snapshot interval in batches and
	 * the pruning interval (0: defaults) are seams for tests and
	 * benches. */
	uint64_t retention_ns;
	/* With a feed, prune nothing (retention_ns only turns the feed on):
	 * an offline backup leaves pruning to the mount's retention=. */
	bool no_prune;
	int64_t (*clock_ns)(void *arg);
	void *clock_arg;
	uint32_t snap_batches;
	uint32_t prune_ms;
	/* NULL, or called by an upload worker once it handed document id's
	 * state to the change feed, before it takes other work: a seam for
	 * tests of what runs meanwhile (the feed may confirm it first). */
	void (*handed_over)(void *arg, uint64_t id);
	void *handed_over_arg;
};

/* Defaults: 1000 ms delay, 8 uploads, backoff 500 ms doubling to 60 s,
 * listings cached 5000 ms, the document limits of doc_options_default,
 * the lease checked every 10 s, no history (retention_ns 0; the mount's
 * default is 7 days). */
void backup_options_default(struct backup_options *o);

/* Start backing store up to target (both borrowed: they must outlive the
 * backup).  Takes the target's writer lease (-EBUSY, logged with the
 * holder, when another store holds it and options.lease_takeover is
 * false; a target that cannot answer now only delays the uploads until
 * it is taken).  Installs the store's change hook (the store has one:
 * nothing else may set it), queues every pending document and the
 * tombstones, starts the workers.  On success *out is owned by the caller
 * (backup_stop). */
int backup_start(struct store *store, struct cloud_target *target,
		 const struct backup_options *o, struct backup **out);

/* Upload everything queued now, ignoring the delay, and wait until the
 * queue is empty and no upload or deletion is in flight (with a
 * history: every record in the feed, and the base snapshot and pruning
 * they asked for written), or timeout_ms passed (0: wait forever).  Returns 0, or -ETIMEDOUT; -EBUSY when
 * another store took the prefix over (nothing more is written), -EROFS
 * for a read_only backup. */
int backup_flush(struct backup *b, uint32_t timeout_ms);

/* Flush for up to drain_ms, release the writer lease, then stop: uploads in flight are abandoned
 * (they stay pending in the store and are uploaded by the next start),
 * the target is interrupted (cloud_target_interrupt: do not use it
 * afterwards), the workers are joined and everything is freed.  The
 * change hook stays installed but does nothing.  Accepts NULL. */
void backup_stop(struct backup *b, uint32_t drain_ms);

/* Restore (space, key) from the cloud into the store: 0 with *id,
 * -ENOENT when the cloud has no such document (or it is tombstoned),
 * -EIO when the target cannot be reached after its retries or the
 * archive is corrupt (logged).  A document that exists locally already
 * (restored meanwhile by another thread) is returned as it is. */
int backup_restore_doc(struct backup *b, const char *space, const char *key,
		       uint64_t *id);

/* Give evicted document id (store/evict.h) its content back from the
 * cloud: the copy at its seq, verified as a restore.  0 (also when it is
 * not evicted, or was refilled meanwhile), -ENOSPC, -ENOMEM, or -EIO
 * when the target cannot be reached or holds no valid copy at that seq
 * (logged; nothing changed). */
int backup_refill_doc(struct backup *b, uint64_t id);

/* The catalog of the target (owned by b: valid until backup_stop). */
struct catalog *backup_catalog(struct backup *b);

/* The names of the documents of space in the cloud (fn as in
 * cloud/target.h; a non-zero return stops and is returned). */
int backup_list_space(struct backup *b, const char *space, cloud_name_fn fn,
		      void *arg);
/* The names of the spaces in the cloud. */
int backup_list_spaces(struct backup *b, cloud_name_fn fn, void *arg);

struct backup_stats {
	uint64_t queue; /* documents waiting or in flight */
	uint64_t uploads; /* confirmed uploads */
	uint64_t upload_failures; /* failed upload attempts (retried) */
	uint64_t deletes; /* cloud copies removed */
	uint64_t restores; /* documents restored */
	uint64_t restore_failures; /* restores that failed (not -ENOENT) */
	uint64_t conflicts; /* cloud copies kept under a conflict name */
	uint64_t adopted; /* documents whose state the cloud held already
			     (no PUT: cloud/upload.c, "Adoption") */
	uint64_t lease_held; /* 1 while this store holds the writer lease */
	uint64_t fenced; /* 1 once another store took the prefix over */
};
void backup_stats(struct backup *b, struct backup_stats *out);

#endif
