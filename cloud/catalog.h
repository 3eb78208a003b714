/*
 * catalog.h - what the cloud holds: the one owner of cloud listings, of
 * the negative cache and of their invalidation.  fs/ asks it; the
 * uploader, the tombstone pass and restore tell it what they changed.
 *
 * Answers come from, in this order: the store's tombstones (a name
 * deleted or renamed away here is absent, whatever the cloud still
 * holds); the spaces removed here (never brought back from the cloud
 * while their copies are being deleted); the negative cache (a name
 * found absent, or whose object was refused as bogus, for negative_ms);
 * a fresh listing (fetched less than list_cache_ms ago and not
 * invalidated since); else one HEAD (a key) or a listing of the spaces
 * (a space) on the quick target.  A lookup never lists a whole space.
 * When the target cannot be asked (down: then no call is made at all) a
 * name the last listing held is present (its restore fails: EIO), any
 * other is "unknown", which the filesystem treats as absent, so every
 * local operation works from the first second of an outage.  The
 * uploader reconciles such names when the target returns
 * (catalog_vouches_absent, cloud/upload.c).
 *
 * Down and up: the target is down after a failed catalog call, a failed
 * upload or a failed probe (catalog_note_down); a thread of the catalog
 * then tries one page of the spaces every down_retry_ms, and on success
 * marks it up and calls the on_up callback (the uploader retries at once).
 *
 * Threads: every function may be called from any thread.
 */
#ifndef CLOUD_CATALOG_H
#define CLOUD_CATALOG_H

#include <stdbool.h>
#include <stdint.h>

#include "cloud/target.h"
#include "store/store.h"

struct catalog;

struct catalog_options {
	uint32_t list_cache_ms; /* a listing older than this is fetched again */
	uint32_t negative_ms; /* lifetime of a negative-cache entry */
	uint32_t down_retry_ms; /* while down: how often to try the target */
	/* Target for the calls a lookup waits for (one try, short timeouts);
	 * NULL: the main target.  Borrowed: must outlive the catalog. */
	struct cloud_target *quick;
	void (*on_up)(void *arg); /* the target answers again */
	void *on_up_arg;
};

/* Defaults: listings 5000 ms, negative entries 30000 ms, down retry
 * 1000 ms, no quick target, no callback. */
void catalog_options_default(struct catalog_options *o);

/* A catalog of target for store (both borrowed).  Spaces that are not
 * local but have tombstones count as removed here.  *out is owned by the
 * caller (catalog_close). */
int catalog_open(struct store *s, struct cloud_target *t,
		 const struct catalog_options *o, struct catalog **out);
/* Stop the down thread and free everything.  Accepts NULL. */
void catalog_close(struct catalog *c);

enum catalog_answer {
	CATALOG_ABSENT, /* the cloud does not hold it */
	CATALOG_PRESENT, /* the cloud holds it: restore it */
	CATALOG_REFUSED, /* its object was refused as bogus: EIO */
	CATALOG_UNKNOWN /* the target cannot be asked now */
};

/* Does the cloud hold (space, key)?  key NULL: does it hold the space? */
enum catalog_answer catalog_lookup(struct catalog *c, const char *space,
				   const char *key);

/* The names the cloud holds: the spaces (space NULL) or the keys of
 * space, each once, sorted (strcmp), without tombstoned keys or removed
 * spaces.  A stale listing is fetched first; when that fails (or the
 * target is down) the last listing stands, and with none the error is
 * returned.  fn as in cloud/target.h. */
int catalog_list(struct catalog *c, const char *space, cloud_name_fn fn,
		 void *arg);

/* Whether the catalog knows that the cloud holds no (space, key): a fresh
 * listing without it, or a negative-cache entry. */
bool catalog_vouches_absent(struct catalog *c, const char *space,
			    const char *key);

/* What this store changed in the cloud (confirmed by the target). */
void catalog_note_put(struct catalog *c, const char *space, const char *key);
void catalog_note_delete(struct catalog *c, const char *space, const char *key);
/* The object of (space, key) was refused as bogus: lookups answer
 * CATALOG_REFUSED until the entry expires or the name is uploaded. */
void catalog_note_refused(struct catalog *c, const char *space,
			  const char *key);
/* A local removal or rename away of (space, key), or of the space (key
 * NULL): every cached listing and negative entry is invalidated at once,
 * and a removed space is not shown from the cloud any more. */
void catalog_note_removed(struct catalog *c, const char *space,
			  const char *key);
/* A call to the target failed for want of the target. */
void catalog_note_down(struct catalog *c);
bool catalog_is_down(struct catalog *c);

#endif
