/*
 * follow.h - a read-only follower of a store through its cloud target:
 * the local store is kept equal to the writer's namespace as of one
 * position of its change feed (formats in cloud/feed.c, the protocol in
 * docs/cloud.md, "Followers").
 *
 * A follower starts from the newest base snapshot and the feed after it
 * (cloud/pitr.h): from the snapshot's index when it has one, its
 * documents created evicted (store/evict.h) and read on first access
 * (follow_refill), else from the snapshot's parts, every body imported.
 * It then polls for the next feed batch every poll_ms and
 * applies each batch whole: every record of a batch is checked before
 * anything is applied, and the batch is applied between options.lock and
 * options.unlock (the mount's readers are held out meanwhile), so a
 * reader sees the namespace as of one batch, never half of one.  The
 * position applied is kept in a small file beside the store
 * (options.state_path) so a restarted follower resumes; a crash in the
 * middle of a batch is repaired at the next start by rebuilding the
 * namespace at that batch before anything is served.
 *
 * A batch that is missing (pruned by retention while the follower was
 * down, or deleted) or damaged is logged, and the follower falls back to
 * the newest complete base snapshot past its position: the whole
 * namespace is replaced by the snapshot's under the lock.  With no such
 * snapshot it keeps its position (a consistent, older state) and waits.
 *
 * The follower only reads the target: it takes no writer lease and
 * writes no object.
 *
 * Threads: follow_poll from one thread at a time (follow_start's thread,
 * or the owner before it); follow_status from any thread.
 */
#ifndef CLOUD_FOLLOW_H
#define CLOUD_FOLLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cloud/feed.h"
#include "cloud/target.h"
#include "store/store.h"

struct follow;

struct follow_options {
	uint32_t poll_ms; /* look for the next batch this often */
	uint32_t list_every; /* list the feed at most every this many
				idle polls (new generations, gaps) */
	const char *state_path; /* the position file (borrowed) */
	uint64_t max_doc_bytes, max_patch_bytes; /* limits of a body */
	/* Hold readers out while a batch is applied (NULL: nothing). */
	void (*lock)(void *arg);
	void (*unlock)(void *arg);
	void *lock_arg;
	/* Wall clock in ns (NULL: CLOCK_REALTIME). */
	int64_t (*clock_ns)(void *arg);
	void *clock_arg;
};

/* Defaults: poll every 1000 ms, list every 10 idle polls, 16 MiB
 * documents and patches, no lock, the real clock; state_path must be
 * set. */
void follow_options_default(struct follow_options *o);

/* A position of the feed: the last batch applied. */
struct follow_pos {
	bool any; /* false: nothing applied yet (an empty history) */
	uint64_t gen, batch;
	int64_t time_ns; /* its last record's time (snapshot: its time) */
};

/* ---- the position file (cloud/follow_state.c) ---- */

/* Longest position file (the encoding is far shorter). */
#define FOLLOW_STATE_MAX 512
/* Encode position p, the identity of the writer of its batch (all zero:
 * not known) and whether a batch after it is being applied into out;
 * returns the length. */
size_t follow_state_encode(const struct follow_pos *p,
			   const uint8_t id[FEED_ID_LEN], bool applying,
			   char out[FOLLOW_STATE_MAX]);
/* Decode a position file's bytes (hostile: only what follow_state_encode
 * writes is accepted, anything else -EBADMSG). */
int follow_state_parse(const void *buf, size_t len, struct follow_pos *p,
		       uint8_t id[FEED_ID_LEN], bool *applying);

/* Open a follower of target t (borrowed) into store s (borrowed; both
 * must outlive the follower).  Reads the position file: a follower that
 * stopped in the middle of a batch, or whose file is unreadable, needs
 * a rebuild before it may serve (follow_ready is false until a poll did
 * it).  *out is owned by the caller (follow_close). */
int follow_open(struct cloud_target *t, struct store *s,
		const struct follow_options *o, struct follow **out);

/* One round: apply every batch now available after the position (or
 * rebuild, or fall back to a snapshot).  0 when the round ran (whether
 * or not there was anything new), else the target's or the store's
 * error; a store error is sticky (follow_failed). */
int follow_poll(struct follow *f);

/* Poll every poll_ms on a thread of its own until follow_close. */
int follow_start(struct follow *f);

/* Whether the store holds the namespace of one feed position (false
 * before the first rebuild of a follower interrupted in a batch, and
 * after a failed apply: the store may hold half a batch then). */
bool follow_ready(struct follow *f);

struct follow_status {
	struct follow_pos pos;
	int64_t lag_ns; /* since a feed object not yet applied was first
			   seen; 0 when everything seen is applied */
	uint64_t batches; /* batches applied */
	uint64_t records; /* records applied */
	uint64_t fallbacks; /* namespaces rebuilt from a base snapshot */
	uint64_t damaged; /* feed objects found missing or damaged */
	uint64_t read_errors; /* rounds whose GET of the next batch failed
				 (logged once per batch, see follow.c) */
	uint64_t start_bytes; /* bytes read by the last rebuild */
	bool lazy; /* ... from a base snapshot's index */
	uint64_t lazy_docs; /* documents it created evicted */
	uint64_t refills; /* evicted documents read back (follow_refill) */
	uint64_t refill_bytes; /* bytes read for them */
	int error; /* sticky store error (0: none) */
	bool ready;
};
void follow_status(struct follow *f, struct follow_status *out);

/* Give evicted document id of the store its body (a follower's start
 * from a base snapshot's index leaves every document evicted until its
 * first access): the state the document shows, from its current object
 * when that is the state (seq and SHA-256), else from the base snapshot
 * part holding it; never a newer state.  0 (also when it is not
 * evicted), -EIO (logged) when no object holds that state any more,
 * -ENOSPC, -ENOMEM.  Any thread; the caller holds the readers' side of
 * options.lock (no batch is applied meanwhile). */
int follow_refill(struct follow *f, uint64_t id);

/* follow_refill of every evicted document of the store (before the
 * store is taken over as a writer, whose uploads need the bodies): *done
 * read back, *failed whose state no object holds any more (each
 * logged).  0 when none failed, -EIO when some did, else the store's or
 * the target's error. */
int follow_refill_all(struct follow *f, uint64_t *done, uint64_t *failed);

/* Format a position as text ("GGGG...-BBBB..." in hex, or "none"). */
void follow_pos_format(const struct follow_pos *p, char out[40]);

/* Stop the thread (the target must answer or have been interrupted) and
 * free.  Accepts NULL. */
void follow_close(struct follow *f);

#endif
