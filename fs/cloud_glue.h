/*
 * cloud_glue.h - the filesystem's only contact with cloud backup: start
 * and stop the uploader for cfg.cloud, restore a document missing locally
 * on lookup, and report counters for the metrics.  Every call is cheap and
 * safe when backup is off (cloud=none).
 */
#ifndef FS_CLOUD_GLUE_H
#define FS_CLOUD_GLUE_H

#include <stdint.h>

struct fs;

struct cloud_glue_stats {
	uint64_t queue;            /* documents waiting for upload */
	uint64_t uploads;          /* uploads confirmed */
	uint64_t upload_failures;  /* failed attempts (retried) */
	uint64_t restores;         /* documents restored on lookup */
	uint64_t restore_failures;
};

/* Start backup for fs->cfg.cloud (after the store is open).  Returns 0 or
 * a negative errno after logging why. */
int cloud_glue_start(struct fs *fs);
/* Stop the uploader, waiting for uploads in flight.  Accepts a stopped or
 * never started glue. */
void cloud_glue_stop(struct fs *fs);

/* space_id has no document key: restore it from the cloud if it is there.
 * Returns 0 with *id set, -ENOENT when the cloud has none either, -EIO
 * when the cloud cannot be reached or the archive is damaged. */
int cloud_glue_restore(struct fs *fs, uint64_t space_id, const char *key,
		       uint64_t *id);

void cloud_glue_stats(struct fs *fs, struct cloud_glue_stats *out);

#endif
