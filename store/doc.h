/*
 * doc.h - materialized documents over the list store.
 *
 * The list store keeps a document as an ordered list of opaque entries;
 * this module gives those entries a meaning and serves the resulting JSON
 * document.  Every entry is
 *
 *	offset  size  field
 *	0       1     kind: 'P' merge patch (RFC 7386)
 *	                    'R' replacement (a whole document written by a user)
 *	                    'S' snapshot (a whole document written by compaction)
 *	1       n     one JSON text, compact as json_value_emit() writes it but
 *	              without the trailing newline (readers accept any JSON
 *	              text with surrounding whitespace)
 *
 * A document with no entries is {}.  Materialization starts from {} and
 * applies the entries oldest first: 'P' through json_merge_patch(), 'R'
 * and 'S' replace.  An entry that is empty, of another kind, or not JSON
 * makes the document unreadable (-EBADMSG) and is logged; it is never
 * skipped silently.  When the newest entry is an 'R' or 'S' whose text is
 * already exactly what json_value_emit() writes (doc.c, canon_text), a
 * read takes that text as the document without parsing it; the entries
 * before it are then checked for their kind only (their JSON is checked
 * when a version they belong to is read, and by fsck).
 *
 * Compaction: after an append, when the document holds more than
 * compact_entries entries, or its stored bytes exceed compact_min_bytes and
 * compact_ratio times its materialized size, a snapshot of the materialized
 * document is appended and the older entries dropped in one frame
 * (store_append_keep), but for those history needs: the versions
 * seq - history .. seq stay readable (the entries from the newest 'R' or
 * 'S' entry, or the first, at or before seq - history), so do they after
 * a replacement; with history_age_ns, only those of them that are also
 * within the age bound (doc_history_age).  The thresholds count the entries and bytes from the
 * newest 'R' or 'S' entry on (what compaction would drop), not the
 * history kept before it.
 *
 * Cache: the emitted text of a document is kept per document (id), and
 * its parsed value too while it is being patched, valid for the store
 * sequence number they were built from, within a byte budget charged by
 * what each entry holds; eviction is a segmented LRU that a scan larger
 * than the budget does not flush (doc.c has the policy).  Every
 * call checks the store's current sequence number, so a change made around
 * this module (a restore, a delete) is never served stale.
 *
 * Threads: every function is safe from any thread.  Calls on one document
 * are serialized by a per-document lock, so concurrent patches apply in a
 * well-defined order (the order they take the lock) and the text a reader
 * gets is always one of the states the patches passed through.
 */
#ifndef STORE_DOC_H
#define STORE_DOC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "store/store.h"

struct store;
struct doc;
struct doc_snap;

enum doc_entry_kind {
	DOC_PATCH = 'P',
	DOC_REPLACE = 'R',
	DOC_SNAPSHOT = 'S',
};

struct doc_options {
	uint64_t cache_bytes; /* budget of the materialized cache */
	uint64_t max_doc_bytes; /* materialized text (with '\n') above: -EFBIG */
	uint64_t max_patch_bytes; /* compact text of one patch above: -EFBIG */
	uint32_t compact_entries; /* compact when more entries are held */
	uint32_t compact_ratio; /* ... or stored bytes > ratio * size */
	uint64_t compact_min_bytes; /* ... and stored bytes > this */
	/* versions kept readable before the newest when a compaction or a
	 * replacement drops entries (the entries from the newest whole
	 * document at or before the oldest of them stay) */
	uint32_t history;
	/* ... and only while they were the document's current version at
	 * some moment of the last history_age_ns (0: no bound by age; see
	 * doc_history_age) */
	uint64_t history_age_ns;
};

/* Defaults: 256 MiB cache, 8 MiB documents, 8 MiB patches, compaction past
 * 256 entries, or past 4 x the document size once 64 KiB are stored;
 * history 16, no bound by age. */
void doc_options_default(struct doc_options *o);

/* The store is borrowed and must outlive the doc handle.  On success *out
 * owns the handle; free with doc_close(). */
int doc_open(struct store *s, const struct doc_options *o, struct doc **out);
/* Drop the cache and free.  Snapshots still held stay valid.  Accepts NULL. */
void doc_close(struct doc *d);

/* Apply a merge patch (borrowed) to document id: the document size after
 * the patch is checked (-EFBIG) before anything is appended.  *lsn (may
 * be NULL) receives the frame to store_sync() for durability.  Errors:
 * -ENOENT, -EFBIG, -ENOSPC, -EBADMSG (stored entries unreadable), -ENOMEM,
 * the store's sticky error; on error the document is unchanged. */
int doc_patch(struct doc *d, uint64_t id, const json_t *patch, uint64_t *lsn);

/* Apply n merge patches (borrowed) in order, storing as many as possible
 * in one frame (store_append_batch): the result is exactly that of n
 * doc_patch() calls.  *done receives how many were stored, always a
 * prefix; returns 0 when all were, else the error doc_patch() gives for
 * patch *done (patches after it are not tried).  *lsn (may be NULL)
 * receives the frame to store_sync() for the stored ones. */
int doc_patch_batch(struct doc *d, uint64_t id, json_t *const *patches,
		    size_t n, size_t *done, uint64_t *lsn);

/* Replace the whole document by value (borrowed) in one frame that also
 * drops the older entries.  Same errors as doc_patch(). */
int doc_replace(struct doc *d, uint64_t id, const json_t *value, uint64_t *lsn);
/* The same for a value given as its compact text: text[0..len) must be
 * exactly what json_value_emit() writes for it (compact, ending in '\n',
 * with a NUL at text[len]; json_value_compact() makes it from any JSON
 * text), borrowed and stored as it is, with no parse.  -EINVAL when it
 * does not end as it should (its JSON is not checked again). */
int doc_replace_text(struct doc *d, uint64_t id, const char *text, size_t len,
		     uint64_t *lsn);
/* doc_replace(), only while the document's last change is still the frame at
 * expect_lsn: -EAGAIN, nothing stored, when another change came first
 * (its content checked atomically with the replacement). */
int doc_replace_if(struct doc *d, uint64_t id, const json_t *value,
		   uint64_t expect_lsn, uint64_t *lsn);

/* Reset the document to {} (truncate). */
int doc_reset(struct doc *d, uint64_t id, uint64_t *lsn);

/* The current materialized document as an immutable snapshot.  On success
 * *out holds a new reference: release with doc_snap_put().  The snapshot
 * stays valid and unchanged whatever happens to the document. */
int doc_read(struct doc *d, uint64_t id, struct doc_snap **out);

/* The document whose entries read(rarg, fn, farg) delivers (as
 * store_read does: a past state, e.g. store_snapshot_read), materialized
 * like doc_read; nothing is cached.  On success *out holds a new
 * reference: release with doc_snap_put(). */
typedef int (*doc_read_fn)(void *rarg, store_entry_fn fn, void *farg);
int doc_read_from(doc_read_fn read, void *rarg, struct doc_snap **out);

/* Document history.  The versions of document id that can be read are
 * [*first, *last]: its last seq and at most history before it, as far
 * back as the entries it holds go (compaction keeps what doc_options
 * history asks for); -ENOENT with no entries, -EISDIR for a space. */
int doc_history(struct store *s, uint64_t id, uint32_t history, uint64_t *first,
		uint64_t *last);
/* The same bounded by age too: a version v before the last stays readable
 * only while it was current at some moment of the last age_ns (the entry
 * after it, v + 1, was made at most age_ns ago by clock_real_ns(); an
 * entry whose time is unknown, 0, counts as recent); so [*first, *last]
 * is every version within both bounds, the last always.  age_ns 0: no
 * bound by age (doc_history). */
int doc_history_age(struct store *s, uint64_t id, uint32_t history,
		    uint64_t age_ns, uint64_t *first, uint64_t *last);
/* When version seq was made: the time of its entry (store_entry_times;
 * 0 unknown).  -ENOENT when the document no longer holds it. */
int doc_version_time(struct store *s, uint64_t id, uint64_t seq,
		     int64_t *time_ns);
/* The document as of version seq (materialized from its first entry up
 * to seq, like doc_read_from); -ENOENT when the entries it needs are gone.
 * On success *out holds a new reference: release with doc_snap_put(). */
int doc_read_version(struct store *s, uint64_t id, uint64_t seq,
		     struct doc_snap **out);

/* Length of what doc_read() would return now (st_size); for an evicted
 * document (store/evict.h) the size its content had.  doc_read, patches
 * and replacements of an evicted document not cached get -ENODATA. */
int doc_size(struct doc *d, uint64_t id, uint64_t *size);

/* Drop the cached copy of id (after a delete). */
void doc_forget(struct doc *d, uint64_t id);

/* Text of a snapshot: compact JSON followed by '\n' (*len bytes, also
 * NUL-terminated).  Valid until the last doc_snap_put(). */
const char *doc_snap_text(const struct doc_snap *sn, size_t *len);
/* Store sequence number the snapshot reflects (0: no entries). */
uint64_t doc_snap_seq(const struct doc_snap *sn);
struct doc_snap *doc_snap_get(struct doc_snap *sn);
/* Accepts NULL. */
void doc_snap_put(struct doc_snap *sn);

struct doc_stats {
	uint64_t hits; /* served from the cache */
	uint64_t misses; /* materialized from the store */
	uint64_t patches;
	uint64_t replaces;
	uint64_t compactions;
	uint64_t cached_docs;
	uint64_t cached_bytes;
};
void doc_stats(struct doc *d, struct doc_stats *out);

/* Decode one stored entry: *kind receives its kind byte and *value (may be
 * NULL) a new reference to its JSON value.  Returns 0 or -EBADMSG. */
int doc_entry_decode(const void *buf, size_t len, char *kind, json_t **value);

/* Check n entries (borrowed) that did not come through this module (a
 * cloud archive) by the rules of a write through the mount (SPEC 4, see
 * doc_entry.c): each decodes, each patch fits o->max_patch_bytes, each
 * replacement o->max_doc_bytes, and the document they materialize fits
 * o->max_doc_bytes.  Returns 0, -EBADMSG (an entry is not valid), -EFBIG
 * or -ENOMEM. */
struct store_import_entry;
int doc_entries_check(const struct doc_options *o,
		      const struct store_import_entry *e, size_t n);

/* fsck: check that every document of s materializes, writing one line
 * per document that does not to out.  Returns how many do not (0: all
 * do) or a negative errno when the walk could not run. */
int doc_fsck(struct store *s, FILE *out);

#endif
