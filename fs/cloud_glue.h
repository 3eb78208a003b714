/*
 * cloud_glue.h - the filesystem's only contact with cloud backup: start
 * and stop the uploader for cfg.cloud, restore a document missing locally
 * on lookup, list what only the cloud holds, and report counters for the
 * metrics.  Every call is cheap and safe when backup is off (cloud=none).
 */
#ifndef FS_CLOUD_GLUE_H
#define FS_CLOUD_GLUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fs;

struct cloud_glue_stats {
	uint64_t queue; /* documents waiting for upload */
	uint64_t uploads; /* uploads confirmed */
	uint64_t upload_failures; /* failed attempts (retried) */
	uint64_t deletes; /* cloud copies removed */
	uint64_t restores; /* documents restored on lookup */
	uint64_t restore_failures;
	uint64_t writer; /* 1 while this store holds the writer lease */
	uint64_t fenced; /* 1 once another store took the prefix over */
	uint64_t conflicts; /* cloud copies kept under a conflict name */
	uint64_t adopted; /* states the cloud held already: no upload */
};

/* Start backup for fs->cfg.cloud (after the store is open).  Returns 0 or
 * a negative errno after logging why (a malformed target, no S3
 * credentials). */
int cloud_glue_start(struct fs *fs);
/* Upload what is pending for a short while, then stop the uploader.
 * Accepts a stopped or never started glue. */
void cloud_glue_stop(struct fs *fs);
/* After libfuse's signal handlers are set: SIGTERM, SIGINT and SIGHUP
 * also cut cloud listings in progress (the handlers chain).  Undone by
 * cloud_glue_stop.  0 or -errno. */
int cloud_glue_watch_signals(struct fs *fs);

/* The key is not in space_id locally: restore it from the cloud if it is
 * there.  Returns 0 with *id set, -ENOENT when the cloud has none either,
 * cannot be asked now (the target is down: the name is free to create) or
 * backup is off, -EIO when the restore fails or the object was refused. */
int cloud_glue_restore(struct fs *fs, uint64_t space_id, const char *key,
		       uint64_t *id);
/* The space is not local: create it when the cloud holds it.  0 with *id,
 * -ENOENT otherwise. */
int cloud_glue_space(struct fs *fs, const char *name, uint64_t *id);

/* Before a space is removed: -ENOTEMPTY when the cloud holds documents of
 * it (its listing shows any: a space is empty only when it is empty here
 * and there), else 0.  When the cloud cannot be asked and never listed
 * the space, 0: a local operation works with the target down, and the
 * space shows again once the cloud answers (docs/semantics.md). */
int cloud_glue_space_empty(struct fs *fs, const char *name);

/* A local removal or rename away of name under parent (a space when
 * parent is the root): cached cloud listings are invalidated at once and
 * a removed space is not brought back from the cloud. */
void cloud_glue_removed(struct fs *fs, uint64_t parent, const char *name);

/* What a directory listing shows of the cloud: the names the cloud held
 * and the store did not when the directory was opened, sorted. */
struct cloud_glue_dir {
	size_t n;
	char **names; /* into arena */
	char *arena;
};
/* *out is NULL when backup is off or the cloud holds nothing more.  A
 * cloud that cannot be reached lists nothing (logged), it does not fail
 * the listing.  Free with cloud_glue_dir_free(). */
int cloud_glue_dir_open(struct fs *fs, uint64_t ino,
			struct cloud_glue_dir **out);
bool cloud_glue_dir_has(const struct cloud_glue_dir *d, const char *name);
void cloud_glue_dir_free(struct cloud_glue_dir *d);

void cloud_glue_stats(struct fs *fs, struct cloud_glue_stats *out);

/* Eviction (store/evict.h; see cloud_glue.c).  After a call on node id (a
 * document, or a space for its rename) failed with rc: 0 when it is worth
 * calling again (-ENODATA: the evicted document, or the space's evicted
 * documents, refilled from the cloud; -ENOSPC: room made by evicting),
 * else the error to return (-ENODATA becomes -EIO: the cloud could not
 * give the content back).  *tries (0 at the first failure of the call)
 * bounds the rounds.  Any other rc is returned as it is. */
int cloud_glue_retry(struct fs *fs, uint64_t id, int rc, unsigned *tries);
/* Document id is local (refilled from the cloud if it was evicted): 0,
 * -EIO when it cannot be, -ENOENT. */
int cloud_glue_local(struct fs *fs, uint64_t id);

#endif
