/*
 * evict.h - documents whose content lives in the cloud only (store/evict.c).
 *
 * An evicted document keeps its node: id, name, metadata, seq, backup
 * bookkeeping and the size its content had; its entries are freed.  Its
 * content at seq is the cloud's confirmed copy, which the caller fetches
 * and hands back to store_doc_refill.  Both are logged changes (an EVICT
 * record, an APPEND at the document's own seq: wal/record.h), replayed
 * like any other, so a crash at any point leaves either the document as
 * it was or evicted, never a half.
 *
 * While evicted, store_read, appends, renames and metadata changes of the
 * document get -ENODATA and change nothing (store.h's callers refill and
 * retry); deleting it works as for any document.
 *
 * Threads: as store.h.
 */
#ifndef STORE_EVICT_H
#define STORE_EVICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* Evict document id, whose content has size_bytes (what a reader of it
 * sees: kept as its size), while its seq is still expect_seq.  Refused,
 * nothing changed: -EAGAIN when its seq moved, -EBUSY when that seq is
 * not confirmed in the cloud (backup_seq below it, or no confirmed copy:
 * backup_time_ns <= 0), -EALREADY when it is evicted already or holds no
 * entries (nothing to free), -ENOENT, -EISDIR.  The freed space is reused
 * once the record is durable (as for any delete).  No change hook runs:
 * nothing is to upload. */
int store_doc_evict(struct store *s, uint64_t id, uint64_t expect_seq,
		    uint64_t size_bytes, uint64_t *lsn);

/* Give evicted document id its content back: one entry (buf, len: a
 * whole document, doc.h's snapshot kind) at its own seq, which must be
 * seq.  -EAGAIN (nothing changed) when it is not evicted or its seq is
 * another; -ENOSPC, -EFBIG, -ENOENT as for an append.  No change hook
 * runs: the cloud holds this content already. */
int store_doc_refill(struct store *s, uint64_t id, uint64_t seq,
		     const void *buf, size_t len, uint64_t *lsn);

/* Create (space, key) as an evicted document that never held content
 * here: metadata m, seq (1..STORE_SEQ_MAX), size_bytes (the size of its
 * content at seq: what a stat shows until it is refilled), recorded as
 * confirmed in the cloud at seq (its content is the cloud's copy at seq,
 * fetched back by the caller and handed to store_doc_refill).  The space
 * is created when missing; a tombstone at the name is dropped (the cloud
 * copy under the name is this document's).  One frame: MKSPACE (when
 * missing), TOMB_DEL (when one), MAPKEY, an empty APPEND at seq (the
 * document's seq), BACKUP seq, EVICT seq: replay applies it whole or not
 * at all.  -EEXIST when the key exists; -EINVAL for a bad name or seq.
 * No change hook runs: nothing is to upload.  *id: the new document. */
int store_doc_create_evicted(struct store *s, const char *space,
			     const char *key, const struct store_meta *m,
			     uint64_t seq, uint64_t size_bytes, uint64_t *id,
			     uint64_t *lsn);

/* Up to max documents that could be evicted now (entries held, seq
 * confirmed in the cloud, not evicted), least recently used first: by the
 * later of their last use (a store_read, a change or a store_doc_touch;
 * kept across a clean close) and the time of their newest entry, then id
 * (evict.c, use.c).  *n receives how many were written to ids. */
int store_evict_candidates(struct store *s, uint64_t *ids, size_t max,
			   size_t *n);

/* Note a use of document id (an open through the mount, which may be
 * served from a materialized copy without reading the store): it moves
 * to the end of the eviction order.  Unknown ids are ignored. */
void store_doc_touch(struct store *s, uint64_t id);

/* How much the store may hold: max_capacity_bytes when set (at least the
 * capacity), else the capacity plus what growth can still take from the
 * disk (keeping min_free_bytes).  *used_bytes: data bytes held (or
 * waiting to be freed). */
void store_evict_room(struct store *s, uint64_t *bound_bytes,
		      uint64_t *used_bytes);

struct store_evict_stats {
	uint64_t docs_local, docs_evicted;
	uint64_t bytes_local; /* data bytes held by documents */
	uint64_t bytes_evicted; /* sizes the evicted documents had */
	uint64_t evictions, refills; /* since open */
};
void store_evict_stats(struct store *s, struct store_evict_stats *out);

#endif
