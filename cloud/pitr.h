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

#endif
