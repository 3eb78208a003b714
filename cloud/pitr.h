/*
 * pitr.h - reading a store's history back from its cloud target: the
 * namespace as it was at a time or feed position, the versions of one
 * document, base snapshots and pruning (formats in cloud/feed.c, the
 * semantics in docs/cloud-history.md).
 *
 * A replay lists the reserved space, takes the newest complete base
 * snapshot at or before the limit (or, with none, the very beginning of
 * the history: allowed only while nothing was pruned), then applies feed
 * batches after it in (generation, batch) order, stopping before the
 * first record past the limit.  Everything read is hostile: an object
 * that does not decode, whose header disagrees with its name, a batch
 * missing inside a generation, a generation whose batches change
 * identity, a snapshot naming a document twice, a body that is not one
 * JSON value, is -EIO with a log line; nothing of it is used.
 *
 * Threads: the functions share nothing; each may run on any thread.
 */
#ifndef CLOUD_PITR_H
#define CLOUD_PITR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cloud/feed.h"
#include "cloud/target.h"

/* The reserved space of the history objects. */
#define PITR_SPACE CLOUD_RESERVED_PREFIX
/* The object that records the oldest time a restore can reach once
 * something was pruned. */
#define PITR_FLOOR_KEY "floor"

struct pitr_state;

struct pitr_limit {
	int64_t at_ns; /* records up to this time (INT64_MAX: all) */
	bool by_position; /* ... and only up to (gen, batch) included */
	uint64_t gen, batch;
	const char *space, *key; /* only these (NULL: every space / key) */
};

struct pitr_info {
	bool any; /* the history held anything at all */
	uint64_t gen, batch; /* last batch applied (or the snapshot's) */
	int64_t time_ns; /* time of the last record applied */
	uint64_t objects; /* objects read */
	uint64_t bytes; /* bytes read */
};

/* Build the namespace at limit.  -ERANGE when limit is before the oldest
 * restore point still kept (logged), -EIO for a history that is not
 * sound (logged), a target's errno.  *out owned by the caller. */
int pitr_build(struct cloud_target *t, const struct pitr_limit *limit,
	       struct pitr_state **out, struct pitr_info *info);
/* Visit the documents in (space, key) order; r and its body are valid
 * during the call.  A non-zero return stops and is returned. */
typedef int (*pitr_doc_fn)(void *arg, const struct feed_record *r);
int pitr_each(struct pitr_state *st, pitr_doc_fn fn, void *arg);
size_t pitr_count(const struct pitr_state *st);
/* The record of (space, key) in the state, or NULL. */
const struct feed_record *pitr_find(struct pitr_state *st, const char *space,
				    const char *key);
void pitr_free(struct pitr_state *st);

/* Every record of (space, key) still in the history, oldest first (a
 * snapshot's copy included): fn(arg, r). */
int pitr_versions(struct cloud_target *t, const char *space, const char *key,
		  pitr_doc_fn fn, void *arg);

/* Write the base snapshot at (gen, batch) for the store of identity id,
 * in parts of about part_bytes: *bytes (may be NULL) gets its size. */
int pitr_snapshot(struct cloud_target *t, const uint8_t id[FEED_ID_LEN],
		  uint64_t gen, uint64_t batch, size_t part_bytes,
		  uint64_t *bytes);

/* Remove what no restore at or after horizon_ns needs: every snapshot
 * and feed batch before the newest complete snapshot at or before
 * horizon_ns (which stays), after recording that snapshot's time as the
 * floor.  *removed (may be NULL) counts the objects removed. */
int pitr_prune(struct cloud_target *t, int64_t horizon_ns, uint64_t *removed);

/* The largest generation in the target's history (0: none). */
int pitr_last_gen(struct cloud_target *t, uint64_t *gen);

/* Parse an RFC 3339 time ("2026-12-06T10:00:00Z", fractions and
 * "+hh:mm" offsets allowed) into ns since the epoch: 0 or -EINVAL. */
int pitr_parse_time(const char *s, int64_t *ns);
/* Format ns as RFC 3339 UTC with nanoseconds into out. */
void pitr_format_time(int64_t ns, char out[40]);

/* ---- base snapshot indexes ----
 *
 * Beside each base snapshot the writer puts its index
 * (`sidx-GGGGGGGGGGGGGGGG-BBBBBBBBBBBBBBBB` in the reserved space,
 * written after the parts 1.. and before part 0): every document's name,
 * seq, metadata, body length, SHA-256 and the part holding its body, no
 * bodies (byte format in docs/cloud.md, "The base snapshot index").  A
 * follower starts from it without reading the parts. */

#define PITR_INDEX_MAGIC "CVSI"
#define PITR_INDEX_HDR 64 /* header bytes */
#define PITR_INDEX_ENTRY 80 /* fixed bytes of an entry (names follow) */
#define PITR_INDEX_MAX (UINT64_C(1) << 30) /* longest index accepted */

struct pitr_index_entry {
	const char *space, *key; /* in the index's names (pitr_index) */
	uint32_t part;
	uint64_t seq;
	uint32_t mode, uid, gid;
	int64_t mtime_ns, ctime_ns;
	uint64_t size; /* body length: what cat prints */
	uint8_t sha256[32]; /* of the body */
};

struct pitr_index {
	uint8_t id[FEED_ID_LEN]; /* the writing store's identity */
	uint64_t gen, batch; /* the snapshot's position */
	int64_t time_ns; /* the snapshot's time */
	uint32_t parts; /* the snapshot's part count */
	size_t n;
	struct pitr_index_entry *e; /* owned, in (space, key) order */
	char *names; /* owned: the entries' names, each with its NUL */
};

/* Object names of indexes: exactly as written, else -EINVAL. */
void pitr_key_index(char out[FEED_KEY_MAX], uint64_t gen, uint64_t batch);
int pitr_key_index_parse(const char *name, uint64_t *gen, uint64_t *batch);

/* Decode an index (hostile bytes): -EBADMSG for anything but what the
 * writer makes (lengths, counts, CRC, names by the rule of any name,
 * parts, seqs, order), with *why saying what; -ENOMEM.  *out owned by the
 * caller (pitr_index_free). */
int pitr_index_decode(const void *buf, size_t len, struct pitr_index *out,
		      const char **why);
void pitr_index_free(struct pitr_index *ix);
/* The entry of (space, key), or NULL (binary search). */
const struct pitr_index_entry *pitr_index_find(const struct pitr_index *ix,
					       const char *space,
					       const char *key);
/* Fetch and decode the index of the snapshot at (gen, batch): -ENOENT
 * when absent (not logged), -EBADMSG when it is not one or not that
 * snapshot's (logged), the target's error.  *bytes (may be NULL) adds
 * the bytes read. */
int pitr_index_get(struct cloud_target *t, uint64_t gen, uint64_t batch,
		   struct pitr_index *out, uint64_t *bytes);

/* The base of a start: the newest complete base snapshot (part 0 listed)
 * at or before (gen, batch) when by_position (else the newest), and
 * whether an index object is listed beside it.  -ENOENT: none. */
struct pitr_base {
	uint64_t gen, batch;
	bool indexed;
};
int pitr_newest_base(struct cloud_target *t, bool by_position, uint64_t gen,
		     uint64_t batch, struct pitr_base *out);

/* The indexes listed at or before (gen, batch), newest first, at most
 * max into out; *n how many. */
int pitr_indexes(struct cloud_target *t, uint64_t gen, uint64_t batch,
		 struct pitr_base *out, size_t max, size_t *n);

/* The feed after the snapshot at (gen, batch) up to limit (by position
 * or everything), with the checks of a replay, as a state of the newest
 * record of each name it touches, deletes kept (kind FEED_REC_DEL, no
 * body): what must change over the snapshot.  *info as pitr_build's
 * (its position the last batch read, or the snapshot's). */
int pitr_build_tail(struct cloud_target *t, uint64_t gen, uint64_t batch,
		    int64_t snap_time_ns, const struct pitr_limit *limit,
		    struct pitr_state **out, struct pitr_info *info);

#endif
