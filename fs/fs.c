/*
 * fs.c - what every file of the filesystem needs from the mount: the
 * wall clock (util/clock.h, the seam tests can set), the errno of a
 * reply, the log line of a failed operation, and the name rules of SPEC
 * 3.  Nothing here takes a lock (the store locks itself in
 * store_node_name).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fs/fs.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/name.h"

int64_t fs_now_ns(void)
{
	return clock_real_ns();
}

void fs_log_failure(struct fs *fs, uint64_t id, const char *what, int rc)
{
	char space[STORE_NAME_MAX + 1] = "?", key[STORE_NAME_MAX + 1] = "";
	bool user = rc == -EINVAL || rc == -EFBIG || rc == -ENOENT ||
		    rc == -EEXIST || rc == -ENOTEMPTY || rc == -EPERM ||
		    rc == -ENAMETOOLONG || rc == -EISDIR || rc == -ENOTDIR;

	if (user && !log_enabled(LOG_LVL_DEBUG))
		return;
	if (store_node_name(fs->s, id, space, key) < 0)
		snprintf(space, sizeof(space), "#%llu", (unsigned long long)id);
	log_msg(user ? LOG_LVL_DEBUG : LOG_LVL_WARN, "cannot %s '%s%s%s': %s",
		what, space, key[0] ? "/" : "", key, strerror(-rc));
}

void fs_reply_err(fuse_req_t req, int rc)
{
	if (rc == -EBADMSG)
		rc = -EIO;
	fuse_reply_err(req, -rc);
}

bool fs_name_reserved(const char *name)
{
	return name_is_reserved(name, FS_RESERVED_PREFIX);
}

int fs_name_check(const char *name)
{
	return name_check(name, FS_RESERVED_PREFIX);
}
