/*
 * history.h - the writer of a store's history in its cloud target: the
 * change feed, base snapshots and retention (formats in cloud/feed.c, the
 * design in docs/cloud-history.md).
 *
 * The uploader hands the writer each confirmed document state and each
 * confirmed delete (history_add); the writer gives the record its change
 * time (the injected clock, never going back), batches records and PUTs
 * one feed batch object (".caravan", "feed-<gen>-<batch>") at most once
 * per options.delay_ms, or at once when the uploader says its delay
 * window is complete (options.quiet; still at most one per window), or
 * at once when larger than max_batch_bytes, retrying forever with
 * backoff.  Once the target confirmed a
 * batch, each of its records' done callback runs (rc 0), in record order,
 * on the writer's thread: that is where the uploader marks the document
 * uploaded or clears the tombstone, so nothing is marked before the feed
 * holds it.  Callers never wait for a batch to fill.
 *
 * Generations: each history_open starts a new generation (its number is
 * the clock at open, in ns, above every generation already in the
 * target), numbering batches from 0; a restore replays generations in
 * order and checks that batches within one are contiguous.
 *
 * Snapshots: after a confirmed batch, when snap_batches batches or more
 * than max(snap_min_bytes, the last snapshot's size) bytes of feed were
 * written since the last snapshot, the writer's upkeep thread rebuilds
 * the namespace at that batch (while later batches go on) from the target's own history (cloud/pitr.h) and writes it
 * as a base snapshot, so a restore replays at most that tail.
 *
 * Retention: with retention_ns > 0, after each snapshot and at most once
 * per prune_ms the writer removes feed batches and snapshots no restore
 * inside the window needs (pitr_prune).
 *
 * Threads: history_add and history_flush from any thread; done callbacks
 * run on the writer's thread with no lock of the writer held and may call
 * history_add.  history_close from the owner only, after the last add.
 */
#ifndef CLOUD_HISTORY_H
#define CLOUD_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cloud/feed.h"
#include "cloud/retry.h"
#include "cloud/target.h"

struct history;

/* rc 0: the record is in the feed; -ECANCELED: the writer closed first. */
typedef void (*history_done_fn)(void *arg, int rc);

struct history_options {
	uint32_t delay_ms; /* at most one feed PUT per this */
	size_t max_batch_bytes; /* a batch this large goes at once */
	uint64_t retention_ns; /* 0: no pruning */
	uint32_t prune_ms; /* pruning at most this often */
	uint32_t snap_batches; /* a snapshot after this many batches ... */
	uint64_t snap_min_bytes; /* ... or this many bytes of feed */
	size_t snap_part_bytes; /* bound of one snapshot part */
	struct cloud_retry_policy retry; /* backoff; max_attempts ignored */
	/* Target for the listing at open (one try, short timeouts, so an
	 * unreachable target does not hold the start); NULL: target. */
	struct cloud_target *quick;
	/* Wall clock in ns since the epoch; NULL: CLOCK_REALTIME. */
	int64_t (*clock_ns)(void *arg);
	void *clock_arg;
	/* NULL, or whether the writer may write to the target now (the
	 * writer lease is ours: cloud/writer.c); while it may not, batches
	 * wait and no snapshot or pruning runs. */
	bool (*may_write)(void *arg);
	void *may_write_arg;
	/* NULL, or the number of the latest of the uploader's delay windows
	 * whose records have all been added (its uploads are confirmed and
	 * handed over: cloud/history_backup.c), 0 while some are not.  When
	 * it names a window later than the last one seen, the batch goes at
	 * once (so at most one PUT per window, windows being delay_ms
	 * long); delay_ms alone then sends only after two of them without a
	 * window (the uploader stalled).  Called on the writer's
	 * thread with no lock of the writer held; the caller calls
	 * history_kick when it may have changed. */
	uint64_t (*quiet)(void *arg);
	void *quiet_arg;
};

/* Defaults: 1000 ms delay, 8 MiB batches, 7 days retention, pruning every
 * 60 s, a snapshot after 256 batches or 1 MiB of feed, 4 MiB parts,
 * backoff 500 ms doubling to 60 s, the real clock. */
void history_options_default(struct history_options *o);

/* Start a generation on target (borrowed: must outlive the writer) for
 * the store of identity id.  Lists the target's history to number the
 * generation (an unreachable target: the clock alone).  *out is owned by
 * the caller (history_close). */
int history_open(struct cloud_target *target, const uint8_t id[FEED_ID_LEN],
		 const struct history_options *o, struct history **out);

/* Queue a record (copied, its time_ns set here): fn(arg, rc) runs once,
 * later, on the writer's thread (fn may be NULL).  -EINVAL for a record
 * the feed cannot hold (fn is not called), -ENOMEM, -ECANCELED after
 * close began. */
int history_add(struct history *h, const struct feed_record *r,
		history_done_fn fn, void *arg);

/* options.quiet may have become true: the writer asks again.  Any
 * thread, any lock of the caller's held. */
void history_kick(struct history *h);

/* While urgent > 0 (history_urgent(h, +1) ... (h, -1)), batches go
 * without waiting for the delay (a backup flush). */
void history_urgent(struct history *h, int delta);

/* Wait until every record added so far is confirmed and the snapshot
 * and pruning their batches asked for are done, or timeout_ms passed
 * (0: forever): 0 or -ETIMEDOUT. */
int history_flush(struct history *h, uint32_t timeout_ms);

/* Wait until the snapshot and pruning asked for so far are done (not
 * the records), or timeout_ms passed (0: forever): 0 or -ETIMEDOUT. */
int history_upkeep_wait(struct history *h, uint32_t timeout_ms);

/* Records waiting or in flight. */
size_t history_pending(struct history *h);

struct history_stats {
	uint64_t puts; /* feed batches confirmed */
	uint64_t records; /* records confirmed */
	uint64_t bytes; /* feed bytes confirmed */
	uint64_t put_failures;
	uint64_t snapshots; /* base snapshots written */
	uint64_t pruned; /* objects removed by retention */
	uint64_t gen, batch; /* this generation, next batch */
	/* confirmed since the last base snapshot: what the next one is
	 * asked for by (options snap_batches, the last snapshot's size) */
	uint64_t since_snap_batches, since_snap_bytes;
};
void history_stats(struct history *h, struct history_stats *out);

/* Stop: the batch in flight is abandoned (cloud_target_interrupt must
 * have been called, or the target must answer), every record not
 * confirmed gets fn(arg, -ECANCELED), the thread is joined, h is freed.
 * Accepts NULL. */
void history_close(struct history *h);

#endif
