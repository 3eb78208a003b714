/*
 * xattr.c - read-only extended attributes of documents.
 *
 *   user.caravan.seq           last sequence number of the document's log
 *   user.caravan.entries       log entries held (bounded by compaction)
 *   user.caravan.stored_bytes  bytes of those entries
 *   user.caravan.backup        "off" (cloud=none), "uploaded seq=N at=TIME"
 *                              or "pending" plus the last upload if any
 *   user.caravan.backup_seq    last sequence number confirmed in the cloud
 *   user.caravan.backup_time   when (RFC 3339, UTC; empty: never)
 *   user.caravan.local         1 when the content is held here, 0 when it
 *                              is evicted (in the cloud only: the next
 *                              open brings it back)
 *
 * Values are ASCII without a trailing newline.  Spaces and the root have
 * none.  They are read by name (getfattr -n user.caravan.seq) and never
 * listed: listxattr of every node is empty.  Copy tools (cp -a, mv
 * across filesystems, rsync -X, tar --xattrs) copy what listxattr
 * names, so they neither carry these values (which describe this store's
 * log, not the document) to another filesystem nor try to set them on a
 * copy in the mount, which would fail.  Setting or removing one of these
 * is EPERM; any other name is ENOTSUP (the filesystem stores no extended
 * attributes), which copy and archive tools treat as "not supported
 * here" and carry on.  Reading a
 * name outside the user namespace (security.selinux, system.posix_acl_*)
 * is ENOTSUP too: `ls -l` then stops asking for every file of the mount.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fs/fs.h"
#include "fs/xattr.h"

#define XPFX "user.caravan."

static void time_str(int64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;

	if (ns <= 0 || !gmtime_r(&t, &tm)) {
		buf[0] = 0;
		return;
	}
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void backup_str(struct fs *fs, const struct store_doc_info *in,
		       char *buf, size_t len)
{
	char when[64];

	time_str(in->backup_time_ns, when, sizeof(when));
	if (!strcmp(fs->cfg.cloud, "none"))
		snprintf(buf, len, "off");
	else if (in->backup_time_ns > 0 && in->backup_seq >= in->seq)
		snprintf(buf, len, "uploaded seq=%" PRIu64 " at=%s",
			 in->backup_seq, when);
	else if (in->backup_time_ns > 0)
		snprintf(buf, len,
			 "pending (last uploaded seq=%" PRIu64 " at=%s)",
			 in->backup_seq, when);
	else
		snprintf(buf, len, "pending");
}

/* The value of xattr name of document info, or -ENODATA. */
static int xattr_value(struct fs *fs, const struct store_doc_info *in,
		       const char *name, char *buf, size_t len)
{
	if (!strcmp(name, XPFX "seq"))
		snprintf(buf, len, "%" PRIu64, in->seq);
	else if (!strcmp(name, XPFX "entries"))
		snprintf(buf, len, "%" PRIu32, in->entries);
	else if (!strcmp(name, XPFX "stored_bytes"))
		snprintf(buf, len, "%" PRIu64, in->stored_bytes);
	else if (!strcmp(name, XPFX "backup"))
		backup_str(fs, in, buf, len);
	else if (!strcmp(name, XPFX "backup_seq"))
		snprintf(buf, len, "%" PRIu64, in->backup_seq);
	else if (!strcmp(name, XPFX "backup_time"))
		time_str(in->backup_time_ns, buf, len);
	else if (!strcmp(name, XPFX "local"))
		snprintf(buf, len, "%d", in->evicted ? 0 : 1);
	else
		return -ENODATA;
	return 0;
}

/* Document info of ino, or -ENODATA for nodes without attributes. */
static int doc_info(struct fs *fs, fuse_ino_t ino, struct store_doc_info *in)
{
	int rc;

	if (ino == STORE_ROOT_ID || ino == FS_METRICS_INO)
		return -ENODATA;
	rc = store_doc_info(fs->s, fs_node_doc(&fs->nodes, ino), in);
	if (rc == 0 && in->is_space)
		return -ENODATA;
	return rc;
}

static void reply_sized(fuse_req_t req, const char *buf, size_t len,
			size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, buf, len);
}

void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    size_t size)
{
	struct fs *fs = fuse_req_userdata(req);
	struct store_doc_info in;
	char buf[256];
	int rc;

	if (strncmp(name, "user.", 5)) {
		fuse_reply_err(req, ENOTSUP);
		return;
	}
	rc = doc_info(fs, ino, &in);
	if (rc == 0)
		rc = xattr_value(fs, &in, name, buf, sizeof(buf));
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		reply_sized(req, buf, strlen(buf), size);
}

/* Nothing is listed (see the top of the file); a missing node is still
 * reported. */
void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fs *fs = fuse_req_userdata(req);
	struct store_doc_info in;
	int rc;

	rc = doc_info(fs, ino, &in);
	if (rc < 0 && rc != -ENODATA) {
		fuse_reply_err(req, -rc);
		return;
	}
	reply_sized(req, "", 0, size);
}

static int xattr_write_errno(const char *name)
{
	return strncmp(name, XPFX, strlen(XPFX)) ? ENOTSUP : EPERM;
}

void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    const char *value, size_t size, int flags)
{
	fuse_reply_err(req, xattr_write_errno(name));
}

void fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	fuse_reply_err(req, xattr_write_errno(name));
}
