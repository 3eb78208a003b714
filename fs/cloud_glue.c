/*
 * cloud_glue.c - cloud backup as the filesystem sees it.
 *
 * The uploader and restore live in cloud/ (cloud/backup.h).  This version
 * of the program is built without them: the target named by cloud= is
 * checked at start-up (fs/options.c), every change stays pending in the
 * store's backup bookkeeping (store_backup_pending), which a build with
 * backup uploads after its first mount, and a lookup miss is a plain
 * ENOENT.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "fs/cloud_glue.h"
#include "fs/fs.h"
#include "util/log.h"

int cloud_glue_start(struct fs *fs)
{
	if (strcmp(fs->cfg.cloud, "none"))
		log_warn("cloud backup to '%s' is not available in this build; changes stay pending",
			 fs->cfg.cloud);
	return 0;
}

void cloud_glue_stop(struct fs *fs)
{
}

int cloud_glue_restore(struct fs *fs, uint64_t space_id, const char *key,
		       uint64_t *id)
{
	return -ENOENT;
}

void cloud_glue_stats(struct fs *fs, struct cloud_glue_stats *out)
{
	memset(out, 0, sizeof(*out));
}
