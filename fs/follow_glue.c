/*
 * follow_glue.c - a follower mount (see follow_glue.h; the follower
 * itself is cloud/follow.c, the protocol docs/cloud.md "Followers").
 *
 * Consistency: the follower applies each feed batch (or a whole rebuild)
 * while holding g->rw exclusively; every request that reads the store
 * holds it shared for its whole handling, so a request sees the
 * namespace of one feed position, and a reader that reads the position
 * (FOLLOW_XATTR_POSITION on the root) before and after a series of reads
 * and finds it unchanged read one position throughout.  The lock
 * prefers writers, so a stream of readers never holds a batch back for
 * long.  The kernel is told to cache nothing (entry and attribute
 * timeouts 0, every open direct_io: set in fs/options.c), and the mount
 * is read-only for the kernel too (-o ro, fs/main.c); changes that still
 * reach us are EROFS.
 *
 * A follower started from a base snapshot's index holds its documents
 * evicted (name, seq, metadata, size; no body): an open of one first
 * has the follower read its body (follow_refill), under the read side
 * like the open itself, so the body is the state of the position shown.
 *
 * The follower keeps its position in STORE_DIR/follow.position.  A store
 * that was ever a writer (it recorded a backup target) is refused: a
 * follower needs a store of its own, and a store made a writer by
 * -o cloud_takeover stays one.
 *
 * Lock order: g->rw, then anything of the store or the mount.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/follow.h"
#include "cloud/target.h"
#include "fs/attr.h"
#include "fs/dir.h"
#include "fs/file.h"
#include "fs/follow_glue.h"
#include "fs/fs.h"
#include "fs/namespace.h"
#include "fs/node.h"
#include "fs/ops.h"
#include "fs/xattr.h"
#include "store/evict.h"
#include "util/log.h"

#define STATE_FILE "follow.position"

struct follow_glue {
	pthread_rwlock_t rw;
	struct cloud_target *t;
	struct follow *f;
	char *state_path;
};

static struct follow_glue *glue_of(fuse_req_t req)
{
	struct fs *fs = fuse_req_userdata(req);

	return fs->follow;
}

static void wlock(void *arg)
{
	pthread_rwlock_wrlock(&((struct follow_glue *)arg)->rw);
}

static void wunlock(void *arg)
{
	pthread_rwlock_unlock(&((struct follow_glue *)arg)->rw);
}

static void glue_free(struct follow_glue *g)
{
	if (!g)
		return;
	follow_close(g->f);
	cloud_target_free(g->t);
	pthread_rwlock_destroy(&g->rw);
	free(g->state_path);
	free(g);
}

int follow_glue_start(struct fs *fs)
{
	struct follow_options fo;
	struct cloud_options co;
	pthread_rwlockattr_t ra;
	struct follow_glue *g;
	size_t n;
	int rc;

	if (store_backup_target_id(fs->s) != 0) {
		log_error("store '%s' backs up to a cloud target (it is or was "
			  "a writer): a follower needs a store of its own",
			  fs->cfg.store_dir);
		return -EINVAL;
	}
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(
		&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&g->rw, &ra);
	pthread_rwlockattr_destroy(&ra);
	n = strlen(fs->cfg.store_dir) + sizeof("/" STATE_FILE);
	g->state_path = malloc(n);
	if (!g->state_path) {
		rc = -ENOMEM;
		goto out_free;
	}
	snprintf(g->state_path, n, "%s/" STATE_FILE, fs->cfg.store_dir);
	cloud_options_default(&co);
	co.s3_endpoint = fs->cfg.s3_endpoint;
	co.s3_region = fs->cfg.s3_region;
	co.s3_path_style = fs->cfg.s3_path_style;
	rc = cloud_target_open(fs->cfg.cloud, &co, &g->t);
	if (rc < 0) {
		log_error("cannot open cloud target '%s': %s", fs->cfg.cloud,
			  strerror(-rc));
		goto out_free;
	}
	follow_options_default(&fo);
	fo.poll_ms = fs->cfg.follow_poll_ms;
	fo.state_path = g->state_path;
	fo.max_doc_bytes = fs->cfg.max_doc_bytes;
	fo.max_patch_bytes = fs->cfg.max_patch_bytes;
	fo.lock = wlock;
	fo.unlock = wunlock;
	fo.lock_arg = g;
	rc = follow_open(g->t, fs->s, &fo, &g->f);
	if (rc < 0)
		goto out_free;
	rc = follow_poll(g->f);
	if (rc < 0 && !follow_ready(g->f)) {
		log_error("cannot follow '%s': its history cannot be read (%s) "
			  "and store '%s' holds no consistent state to show",
			  fs->cfg.cloud, strerror(-rc), fs->cfg.store_dir);
		goto out_free;
	}
	if (rc < 0)
		log_warn("follower of '%s': %s: showing the last position "
			 "applied, retrying",
			 fs->cfg.cloud, strerror(-rc));
	rc = follow_start(g->f);
	if (rc < 0)
		goto out_free;
	fs->follow = g;
	log_info("following '%s' (read-only)", cloud_target_url(g->t));
	return 0;
out_free:
	glue_free(g);
	return rc < 0 ? rc : -EIO;
}

int follow_glue_fill(struct fs *fs)
{
	struct store_evict_stats es;
	struct follow_options fo;
	struct cloud_options co;
	struct cloud_target *t = NULL;
	struct follow *f = NULL;
	uint64_t done = 0, failed = 0;
	char *path;
	size_t n;
	int rc;

	store_evict_stats(fs->s, &es);
	if (!es.docs_evicted || store_backup_target_id(fs->s) != 0)
		return 0; /* no follower's documents without their bodies */
	n = strlen(fs->cfg.store_dir) + sizeof("/" STATE_FILE);
	path = malloc(n);
	if (!path)
		return -ENOMEM;
	snprintf(path, n, "%s/" STATE_FILE, fs->cfg.store_dir);
	cloud_options_default(&co);
	co.s3_endpoint = fs->cfg.s3_endpoint;
	co.s3_region = fs->cfg.s3_region;
	co.s3_path_style = fs->cfg.s3_path_style;
	rc = cloud_target_open(fs->cfg.cloud, &co, &t);
	if (rc < 0) {
		log_error("cannot open cloud target '%s': %s", fs->cfg.cloud,
			  strerror(-rc));
		goto out;
	}
	follow_options_default(&fo);
	fo.state_path = path;
	fo.max_doc_bytes = fs->cfg.max_doc_bytes;
	fo.max_patch_bytes = fs->cfg.max_patch_bytes;
	rc = follow_open(t, fs->s, &fo, &f);
	if (rc < 0)
		goto out;
	log_info("taking over '%s': reading the %" PRIu64 " documents this "
		 "follower's store never read",
		 fs->cfg.cloud, es.docs_evicted);
	rc = follow_refill_all(f, &done, &failed);
	if (rc < 0)
		log_error("cannot take '%s' over: %" PRIu64 " documents of "
			  "store '%s' were never read and cannot be read now "
			  "(%s); mount it as a follower again to rebuild it "
			  "from the bucket",
			  fs->cfg.cloud, failed, fs->cfg.store_dir,
			  strerror(-rc));
	else
		log_info("taking over '%s': %" PRIu64 " documents read",
			 fs->cfg.cloud, done);
out:
	follow_close(f);
	cloud_target_free(t);
	free(path);
	return rc;
}

void follow_glue_stop(struct fs *fs)
{
	struct follow_glue *g = fs->follow;

	if (!g)
		return;
	cloud_target_interrupt(g->t);
	fs->follow = NULL;
	glue_free(g);
}

void follow_glue_metrics(struct fs *fs, FILE *out, const char *labels)
{
	struct follow_status st;
	char pos[40];
	const char *c = labels[0] ? "," : "";

	if (!fs->follow)
		return;
	follow_status(fs->follow->f, &st);
	follow_pos_format(&st.pos, pos);
	fprintf(out,
		"# HELP caravanfs_follow_position The last feed batch applied "
		"(label: its generation; none before the first).\n"
		"# TYPE caravanfs_follow_position gauge\n"
		"caravanfs_follow_position{generation=\"%016" PRIx64
		"\"%s%s} %" PRIu64 "\n",
		st.pos.any ? st.pos.gen : 0, c, labels,
		st.pos.any ? st.pos.batch : 0);
	fprintf(out,
		"# HELP caravanfs_follow_lag_seconds How long a feed object "
		"seen has waited to be applied (0: caught up).\n"
		"# TYPE caravanfs_follow_lag_seconds gauge\n"
		"caravanfs_follow_lag_seconds%s%s%s %.3f\n",
		labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
		(double)st.lag_ns / 1e9);
	fprintf(out,
		"# HELP caravanfs_follow_batches_total Feed batches applied.\n"
		"# TYPE caravanfs_follow_batches_total counter\n"
		"caravanfs_follow_batches_total%s%s%s %" PRIu64 "\n"
		"# HELP caravanfs_follow_rebuilds_total Namespaces rebuilt "
		"from the history (start, missing or damaged feed).\n"
		"# TYPE caravanfs_follow_rebuilds_total counter\n"
		"caravanfs_follow_rebuilds_total%s%s%s %" PRIu64 "\n"
		"# HELP caravanfs_follow_damaged_total Feed objects found "
		"missing or damaged.\n"
		"# TYPE caravanfs_follow_damaged_total counter\n"
		"caravanfs_follow_damaged_total%s%s%s %" PRIu64 "\n",
		labels[0] ? "{" : "", labels, labels[0] ? "}" : "", st.batches,
		labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
		st.fallbacks, labels[0] ? "{" : "", labels,
		labels[0] ? "}" : "", st.damaged);
	fprintf(out,
		"# HELP caravanfs_follow_read_errors_total Polls whose read of "
		"the next feed batch failed (logged once per batch).\n"
		"# TYPE caravanfs_follow_read_errors_total counter\n"
		"caravanfs_follow_read_errors_total%s%s%s %" PRIu64 "\n",
		labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
		st.read_errors);
	fprintf(out,
		"# HELP caravanfs_follow_start_bytes Bytes of the cloud read by "
		"the last rebuild of the namespace (a start, a fallback).\n"
		"# TYPE caravanfs_follow_start_bytes gauge\n"
		"caravanfs_follow_start_bytes%s%s%s %" PRIu64 "\n"
		"# HELP caravanfs_follow_start_lazy Whether it started from a "
		"base snapshot's index (bodies read on first access).\n"
		"# TYPE caravanfs_follow_start_lazy gauge\n"
		"caravanfs_follow_start_lazy%s%s%s %d\n"
		"# HELP caravanfs_follow_lazy_documents Documents of that index "
		"(evicted until first read).\n"
		"# TYPE caravanfs_follow_lazy_documents gauge\n"
		"caravanfs_follow_lazy_documents%s%s%s %" PRIu64 "\n"
		"# HELP caravanfs_follow_refills_total Documents read back "
		"on first access.\n"
		"# TYPE caravanfs_follow_refills_total counter\n"
		"caravanfs_follow_refills_total%s%s%s %" PRIu64 "\n"
		"# HELP caravanfs_follow_refill_bytes_total Bytes of the cloud "
		"read for them.\n"
		"# TYPE caravanfs_follow_refill_bytes_total counter\n"
		"caravanfs_follow_refill_bytes_total%s%s%s %" PRIu64 "\n",
		labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
		st.start_bytes, labels[0] ? "{" : "", labels,
		labels[0] ? "}" : "", st.lazy ? 1 : 0, labels[0] ? "{" : "",
		labels, labels[0] ? "}" : "", st.lazy_docs,
		labels[0] ? "{" : "", labels, labels[0] ? "}" : "", st.refills,
		labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
		st.refill_bytes);
}

/* ---- the operations: reads under the read side ---- */

/* Take the read side; false (EIO replied) when the store may hold half
 * a batch (a failed apply). */
static bool rlock(fuse_req_t req)
{
	struct follow_glue *g = glue_of(req);

	pthread_rwlock_rdlock(&g->rw);
	if (follow_ready(g->f))
		return true;
	pthread_rwlock_unlock(&g->rw);
	fuse_reply_err(req, EIO);
	return false;
}

static void runlock(struct follow_glue *g)
{
	pthread_rwlock_unlock(&g->rw);
}

static void f_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct follow_glue *g = glue_of(req);

	if (!rlock(req))
		return;
	fs_op_lookup(req, parent, name);
	runlock(g);
}

static void f_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct follow_glue *g = glue_of(req);

	if (!rlock(req))
		return;
	fs_op_getattr(req, ino, fi);
	runlock(g);
}

static void f_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct follow_glue *g = glue_of(req);

	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (!rlock(req))
		return;
	if (ino != FUSE_ROOT_ID && ino != FS_METRICS_INO) {
		struct fs *fs = fuse_req_userdata(req);
		uint64_t id = fs_node_doc(&fs->nodes, ino);
		int rc = id ? follow_refill(g->f, id) : 0;

		if (rc < 0) {
			runlock(g);
			fuse_reply_err(req, -rc);
			return;
		}
	}
	fs_op_open(req, ino, fi);
	runlock(g);
}

static void f_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	struct follow_glue *g = glue_of(req);

	if (!rlock(req))
		return;
	fs_op_read(req, ino, size, off, fi);
	runlock(g);
}

static void f_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct follow_glue *g = glue_of(req);

	if (!rlock(req))
		return;
	fs_op_opendir(req, ino, fi);
	runlock(g);
}

static void f_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	struct follow_glue *g = glue_of(req);

	if (!rlock(req))
		return;
	fs_op_readdir(req, ino, size, off, fi);
	runlock(g);
}

static void f_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			  off_t off, struct fuse_file_info *fi)
{
	struct follow_glue *g = glue_of(req);

	if (!rlock(req))
		return;
	fs_op_readdirplus(req, ino, size, off, fi);
	runlock(g);
}

static void f_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		       size_t size)
{
	struct follow_glue *g = glue_of(req);
	struct follow_status st;
	char pos[40];
	size_t len;

	if (ino != FUSE_ROOT_ID || strcmp(name, FOLLOW_XATTR_POSITION)) {
		if (!rlock(req))
			return;
		fs_op_getxattr(req, ino, name, size);
		runlock(g);
		return;
	}
	if (!rlock(req))
		return;
	follow_status(g->f, &st);
	runlock(g);
	follow_pos_format(&st.pos, pos);
	len = strlen(pos);
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, pos, len);
}

static void f_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct follow_glue *g = glue_of(req);

	pthread_rwlock_rdlock(&g->rw);
	fs_ops.statfs(req, ino);
	runlock(g);
}

/* ---- changes: EROFS (the kernel refuses them first: -o ro) ---- */

static void r_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		      int to_set, struct fuse_file_info *fi)
{
	fuse_reply_err(req, EROFS);
}

static void r_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		    mode_t mode, dev_t rdev)
{
	fuse_reply_err(req, EROFS);
}

static void r_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		    mode_t mode)
{
	fuse_reply_err(req, EROFS);
}

static void r_name(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, EROFS);
}

static void r_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		      const char *name)
{
	fuse_reply_err(req, EROFS);
}

static void r_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		     fuse_ino_t newparent, const char *newname,
		     unsigned int flags)
{
	fuse_reply_err(req, EROFS);
}

static void r_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		   const char *newname)
{
	fuse_reply_err(req, EROFS);
}

static void r_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		    size_t size, off_t off, struct fuse_file_info *fi)
{
	fuse_reply_err(req, EROFS);
}

static void r_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, struct fuse_file_info *fi)
{
	fuse_reply_err(req, EROFS);
}

static void r_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		       const char *value, size_t size, int flags)
{
	fuse_reply_err(req, EROFS);
}

static void r_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	fuse_reply_err(req, EROFS);
}

static struct fuse_lowlevel_ops ops;
static pthread_once_t ops_once = PTHREAD_ONCE_INIT;

static void ops_make(void)
{
	ops = fs_ops;
	ops.lookup = f_lookup;
	ops.getattr = f_getattr;
	ops.open = f_open;
	ops.read = f_read;
	ops.opendir = f_opendir;
	ops.readdir = f_readdir;
	ops.readdirplus = f_readdirplus;
	ops.getxattr = f_getxattr;
	ops.statfs = f_statfs;
	ops.setattr = r_setattr;
	ops.mknod = r_mknod;
	ops.mkdir = r_mkdir;
	ops.unlink = r_name;
	ops.rmdir = r_name;
	ops.symlink = r_symlink;
	ops.rename = r_rename;
	ops.link = r_link;
	ops.write = r_write;
	ops.create = r_create;
	ops.setxattr = r_setxattr;
	ops.removexattr = r_removexattr;
}

const struct fuse_lowlevel_ops *follow_glue_ops(void)
{
	pthread_once(&ops_once, ops_make);
	return &ops;
}
